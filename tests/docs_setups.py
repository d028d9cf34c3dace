"""The setups that ``<!-- nbmodels-docs: setup=NAME -->`` markers name (see docs_runner).

Each is the code a document's examples assume has run, built the smallest honest way,
and run in the document's kernel before the marked block. Prefer a visible setup block
in the document itself, which a reader can copy too; use one of these when the objects
would clutter the page (a torch module, a Keras model and a tf.Module for formats.md).
"""

from __future__ import annotations

import textwrap

SETUPS: dict[str, str] = {
    # docs/formats.md: one object of each kind the page saves.
    "formats": textwrap.dedent('''
        import os
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression

        X_train, y_train = load_breast_cancer(return_X_y=True, as_frame=True)
        clf = LogisticRegression(max_iter=5000).fit(X_train, y_train)

        import torch

        def Net():
            """The module's architecture: what weights_only=True loads into."""
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                       torch.nn.Linear(16, 10))

        net = Net()

        import keras
        keras_model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])

        import tensorflow as tf

        class Scorer(tf.Module):
            def __init__(self):
                super().__init__()
                self.w = tf.Variable(tf.ones((4, 1)))

            @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
            def __call__(self, x):
                return tf.matmul(x, self.w)

        tf_module = Scorer()
    ''').strip(),
}

# The modules each setup (and the blocks that use it) needs: the ``[all]`` extras. The
# test skips a document whose setup cannot run here, as the format tests do.
SETUP_REQUIRES: dict[str, tuple[str, ...]] = {
    "formats": ("torch", "keras", "tensorflow", "h5py", "skl2onnx", "onnxruntime", "skops"),
}
