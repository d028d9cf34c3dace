"""Keras 3 (.keras and HDF5, on the torch backend) and TensorFlow SavedModel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nbmodels.errors import NBModelsError

# Keras picks its backend once, when first imported: torch needs no TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

keras = pytest.importorskip("keras")

# Keras' torch backend trips numpy 2's __array__(copy=) deprecation in its own code.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

needs_tensorflow = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("tensorflow") is None,
    reason="SavedModel needs tensorflow (pip install nbmodels[tensorflow])")


@pytest.fixture(scope="module")
def keras_model():
    keras.utils.set_random_seed(0)
    X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=2, verbose=0)
    return model, X


@keras.saving.register_keras_serializable(package="nbmodels_tests")
class Doubling(keras.layers.Layer):
    """A custom layer: safe-mode loading needs it registered, which it is."""

    def call(self, x):
        return x * 2


def test_native_round_trip_and_record(store, keras_model):
    model, X = keras_model
    rec = store.save(model, "mlp")  # chosen automatically, ahead of torch
    info = rec["format_info"]
    assert rec["format"] == "keras" and rec["format_extra"] == "keras"
    assert [f["name"] for f in rec["files"]] == ["model.keras"]
    assert info["save_format"] == "keras" and info["backend"] == keras.backend.backend()
    assert info["parameters"] == 4 * 8 + 8 + 8 * 2 + 2
    assert [layer["class"] for layer in info["layers"]] == ["Dense", "Dense"]
    assert [m["name"] for m in store.list()] == ["mlp"]
    loaded = store.load("mlp")
    assert isinstance(loaded, keras.Model)
    assert np.allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_hdf5_round_trip(store, keras_model):
    pytest.importorskip("h5py")
    model, X = keras_model
    rec = store.save(model, "mlp_h5", save_format="h5")
    assert [f["name"] for f in rec["files"]] == ["model.h5"]
    loaded = store.load("mlp_h5")
    assert np.allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_hdf5_without_h5py_names_the_extra(store, keras_model, monkeypatch):
    from nbmodels.errors import FormatUnavailableError

    monkeypatch.setitem(sys.modules, "h5py", None)  # as if it were not installed
    with pytest.raises(FormatUnavailableError, match=r"pip install nbmodels\[tensorflow\]"):
        store.save(keras_model[0], "mlp_h5", save_format="h5")
    assert store.names() == []


def test_custom_layer_and_safe_mode(store, keras_model):
    _, X = keras_model
    model = keras.Sequential([keras.Input((4,)), Doubling(), keras.layers.Dense(1)])
    store.save(model, "custom")
    assert np.allclose(store.load("custom").predict(X, verbose=0), model.predict(X, verbose=0))
    lam = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x + 1)])
    store.save(lam, "lambda")
    with pytest.raises(ValueError, match="safe_mode"):  # Keras refuses to run the lambda
        store.load("lambda")
    assert np.allclose(store.load("lambda", safe_mode=False).predict(X, verbose=0), X + 1)


def test_bad_save_format(store, keras_model):
    with pytest.raises(NBModelsError, match="format='tf_saved_model'"):
        store.save(keras_model[0], "mlp", save_format="savedmodel")


@needs_tensorflow
def test_tf_module_saved_model_round_trip(store):
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal((4, 3), seed=(1, 2)))
            self.b = tf.Variable(tf.ones(3))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    module = Affine()
    X = np.random.default_rng(1).normal(size=(10, 4)).astype("float32")
    rec = store.save(module, "affine")  # a tf.Module goes to tf_saved_model
    assert rec["format"] == "tf_saved_model" and rec["format_extra"] == "tensorflow"
    assert [f["name"] for f in rec["files"]] == ["saved_model.zip"]
    sig = rec["format_info"]["signatures"]["serving_default"]
    assert sig["inputs"] == {"x": {"dtype": "float32", "shape": [None, 4]}}
    assert rec["format_info"]["parameters"] == 15
    loaded = store.load("affine")
    assert np.allclose(loaded.predict(X), module(X).numpy())
    assert np.allclose(loaded(X).numpy(), module(X).numpy())


def test_keras_saved_model_needs_the_tensorflow_backend(store, keras_model):
    if keras.backend.backend() == "tensorflow":
        pytest.skip("this process runs the TensorFlow backend")
    pytest.importorskip("tensorflow")
    with pytest.raises(NBModelsError, match="KERAS_BACKEND=tensorflow"):
        store.save(keras_model[0], "mlp", format="tf_saved_model")
    assert store.names() == []


@needs_tensorflow
def test_keras_saved_model_export_on_tensorflow_backend(tmp_path):
    # The backend is fixed per process, so the TensorFlow-backend export runs in its own.
    script = textwrap.dedent(f"""
        import os
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, keras
        from nbmodels import ModelStore
        store = ModelStore({str(tmp_path / "models")!r})
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        X = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
        rec = store.save(model, "exported", format="tf_saved_model")
        assert rec["format"] == "tf_saved_model", rec["format"]
        assert rec["format_info"]["layers"][0]["class"] == "Dense"
        loaded = store.load("exported")
        assert np.allclose(loaded.predict(X), model.predict(X, verbose=0), atol=1e-6)
        print("ok")
    """)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
