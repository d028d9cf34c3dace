"""TensorFlow SavedModel: a graph with its variables, servable without Python code.

A SavedModel is a folder; the store keeps it as one artifact, ``saved_model.zip``
(stored, not compressed), so that it is hashed and verified like any other file.
``tf.Module`` objects are saved with ``tf.saved_model.save``; a Keras model forced to
this format is exported with ``model.export(..., format="tf_saved_model")`` (which
needs the TensorFlow backend). Loading returns :class:`SavedModelPredictor`, whose
``predict`` calls the ``serving_default`` signature.
"""

from __future__ import annotations

import io
import sys
import weakref
import zipfile
from pathlib import Path
from typing import Any

from ..errors import NBModelsError
from ..storage import local as _io
from .base import ArtifactSink, ArtifactSource, ModelFormat, class_path
from .keras_format import describe_keras_model, is_keras_model

__all__ = ["SavedModelFormat", "SavedModelPredictor"]

ARCHIVE = "saved_model.zip"
SERVING = "serving_default"


def _is_tf_module(model: Any) -> bool:
    tf = sys.modules.get("tensorflow")
    module_cls = getattr(tf, "Module", None)
    return module_cls is not None and isinstance(model, module_cls)


class SavedModelPredictor:
    """A loaded SavedModel with a ``predict`` that calls its serving signature.

    Attributes
    ----------
    loaded : object
        What ``tf.saved_model.load`` returned (its ``signatures`` and functions).
    signatures : dict
        Inputs and outputs of each signature, as recorded at save time.
    """

    def __init__(self, loaded: Any, signatures: dict[str, Any], folder: Path) -> None:
        self.loaded = loaded
        self.signatures = signatures
        self.folder = folder
        # Assets (vocabularies, ...) may be read after loading; the folder lives as long
        # as the predictor does.
        self._cleanup = weakref.finalize(self, _io.remove_tree, folder)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.signatures)) or "none"
        return f"SavedModelPredictor(signatures: {names})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.loaded(*args, **kwargs)

    def predict(self, X: Any, signature: str = SERVING) -> Any:
        """Outputs of ``signature`` for ``X`` as numpy (a dict when there are several)."""
        import numpy as np
        import tensorflow as tf

        try:
            fn = self.loaded.signatures[signature]
        except KeyError:
            known = ", ".join(sorted(self.loaded.signatures)) or "none"
            raise NBModelsError(f"this SavedModel has no signature {signature!r} "
                                f"(signatures: {known})") from None
        specs = fn.structured_input_signature[1]
        if isinstance(X, dict):
            feeds = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in X.items()}
        elif len(specs) == 1:
            (key, spec), = specs.items()
            feeds = {key: tf.constant(np.asarray(X), dtype=spec.dtype)}
        else:
            raise NBModelsError(f"signature {signature!r} takes several inputs "
                                f"({', '.join(sorted(specs))}); pass a dict of them")
        out = {k: v.numpy() for k, v in fn(**feeds).items()}
        return next(iter(out.values())) if len(out) == 1 else out


def _signatures_of(folder: Path) -> dict[str, Any]:
    """Inputs and outputs of every signature, read from ``saved_model.pb``."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.dtypes import as_dtype

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(_io.read_bytes(folder / "saved_model.pb"))
    result: dict[str, Any] = {}
    for meta in proto.meta_graphs[:1]:
        for sig_name, sig in sorted(meta.signature_def.items()):
            if sig_name.startswith("__"):
                continue

            def tensors(mapping: Any) -> dict[str, Any]:
                return {k: {"dtype": as_dtype(v.dtype).name,
                            "shape": None if v.tensor_shape.unknown_rank else
                            [d.size if d.size >= 0 else None for d in v.tensor_shape.dim]}
                        for k, v in sorted(mapping.items())}

            result[sig_name] = {"inputs": tensors(sig.inputs), "outputs": tensors(sig.outputs)}
    return result


class SavedModelFormat(ModelFormat):
    """``tf.Module`` objects (and Keras models, when forced) as a zipped SavedModel."""

    name = "tf_saved_model"
    artifacts = (ARCHIVE,)
    extra = "tensorflow"
    requires = ("tensorflow",)
    executes_code_on_load = False
    description = "TensorFlow SavedModel (graph + variables), zipped; no Python on load"
    save_options = frozenset({"signatures"})

    def claims(self, model: Any) -> int:
        return 10 if _is_tf_module(model) and not is_keras_model(model) else 0

    def save(self, model: Any, sink: ArtifactSink, *, signatures: Any = None,
             **options: Any) -> dict[str, Any]:
        import tensorflow as tf

        folder = _io.make_scratch_dir("nbmodels-savedmodel-")
        try:
            info: dict[str, Any] = {"tensorflow_version": tf.__version__}
            if is_keras_model(model):
                self._export_keras(model, folder)
                info.update(describe_keras_model(model))
            elif _is_tf_module(model):
                tf.saved_model.save(model, str(folder), signatures=signatures)
                info["class"] = class_path(model)
                info["parameters"] = int(sum(v.shape.num_elements() or 0
                                             for v in model.trainable_variables))
            else:
                raise NBModelsError(f"format 'tf_saved_model' stores tf.Module objects and "
                                    f"Keras models, not {type(model).__name__}")
            info["signatures"] = _signatures_of(folder)
            with sink.open(ARCHIVE) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
                for path in _io.walk_files(folder):
                    zf.write(path, path.relative_to(folder).as_posix())
        finally:
            _io.remove_tree(folder)
        return info

    @staticmethod
    def _export_keras(model: Any, folder: Path) -> None:
        import keras

        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise NBModelsError(f"exporting a Keras model as a SavedModel needs the "
                                f"TensorFlow backend (KERAS_BACKEND=tensorflow), and this "
                                f"process uses {backend!r}; save it with format='keras' "
                                f"instead")
        try:
            model.export(str(folder), format="tf_saved_model", verbose=False)
        except TypeError:  # Keras before verbose= existed prints the endpoints; harmless
            model.export(str(folder), format="tf_saved_model")

    def load(self, source: ArtifactSource, info: dict[str, Any], **options: Any) -> Any:
        import tensorflow as tf

        data = source.read_bytes(ARCHIVE)
        folder = _io.make_scratch_dir("nbmodels-savedmodel-")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                zf.extractall(folder)  # extractall drops absolute and ".." member paths
            loaded = tf.saved_model.load(str(folder))
            signatures = info.get("signatures") or _signatures_of(folder)
        except BaseException:
            _io.remove_tree(folder)
            raise
        return SavedModelPredictor(loaded, signatures, folder)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {} if ARCHIVE in files else None
