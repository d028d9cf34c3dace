"""Keras 3: the native ``.keras`` archive, or legacy HDF5 when asked for.

A ``.keras`` file holds the model's configuration as JSON and its weights as arrays;
``keras.saving.load_model(..., safe_mode=True)`` rebuilds it from registered layer
classes only and refuses to deserialize lambdas, so loading runs no code from the file.
Custom layers must be importable and registered (``@keras.saving.register_keras_serializable``)
or passed as ``custom_objects=``. ``save_format="h5"`` writes the legacy HDF5 file that
older Keras and TensorFlow code reads.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import NBModelsError
from .base import ArtifactSink, ArtifactSource, ModelFormat, class_path, import_optional

__all__ = ["KerasFormat"]

KERAS_FILE = "model.keras"
H5_FILE = "model.h5"


def is_keras_model(model: Any) -> bool:
    """Whether ``model`` is a Keras model, without importing Keras to find out."""
    keras = sys.modules.get("keras")
    model_cls = getattr(keras, "Model", None)
    if model_cls is not None and isinstance(model, model_cls):
        return True
    # tf_keras (Keras 2 kept alive for TensorFlow users) has its own Model class.
    return any(c.__module__.split(".")[0] == "tf_keras" and c.__name__ == "Model"
               for c in type(model).__mro__)


def describe_keras_model(model: Any) -> dict[str, Any]:
    """Layer summary, parameter count, dtype and backend of a built Keras model."""
    info: dict[str, Any] = {"class": class_path(model)}
    try:
        info["parameters"] = int(model.count_params())
    except Exception:  # an unbuilt model has no weights yet
        info["parameters"] = None
    layers = []
    for layer in getattr(model, "layers", []):
        try:
            count = int(layer.count_params())
        except Exception:
            count = None
        layers.append({"name": layer.name, "class": type(layer).__name__, "parameters": count})
    info["layers"] = layers
    info["dtype"] = str(getattr(model, "dtype", None) or "") or None
    for key, attr in (("input_shape", "input_shape"), ("output_shape", "output_shape")):
        try:
            shape = getattr(model, attr)
            info[key] = [list(s) if isinstance(s, tuple) else s for s in shape] \
                if isinstance(shape, list) else list(shape)
        except Exception:
            info[key] = None
    return info


class KerasFormat(ModelFormat):
    """Keras 3 models in ``model.keras`` (or ``model.h5`` with ``save_format="h5"``)."""

    name = "keras"
    artifacts = (KERAS_FILE, H5_FILE)
    extra = "keras"
    requires = ("keras",)
    executes_code_on_load = False  # with safe_mode, the default
    description = "native .keras archive (config JSON + weights); safe_mode on load"
    save_options = frozenset({"save_format", "include_optimizer"})
    load_options = frozenset({"custom_objects", "compile", "safe_mode"})

    def claims(self, model: Any) -> int:
        # Above torch's 10: with the torch backend a Keras model is also an nn.Module.
        return 20 if is_keras_model(model) else 0

    def save(self, model: Any, sink: ArtifactSink, *, save_format: str = "keras",
             include_optimizer: bool = True, **options: Any) -> dict[str, Any]:
        if not is_keras_model(model):
            raise NBModelsError(f"format 'keras' stores Keras models, not "
                                f"{type(model).__name__}")
        import keras

        if save_format not in ("keras", "h5"):
            raise NBModelsError(f"save_format must be 'keras' or 'h5', got {save_format!r}; "
                                f"for a TensorFlow SavedModel use format='tf_saved_model'")
        artifact = KERAS_FILE if save_format == "keras" else H5_FILE
        path = sink.path(artifact)
        if save_format == "h5":  # h5py comes with TensorFlow, not with Keras 3: fail early
            import_optional("h5py", "tensorflow", "saving a Keras model as HDF5")
        model.save(str(path), include_optimizer=include_optimizer)
        sink.add(artifact)
        return {"save_format": save_format, "file": artifact,
                "keras_version": keras.__version__, "backend": keras.backend.backend(),
                **describe_keras_model(model)}

    def load(self, source: ArtifactSource, info: dict[str, Any], *,
             custom_objects: dict[str, Any] | None = None, compile: bool = True,
             safe_mode: bool = True, **options: Any) -> Any:
        import keras

        artifact = info.get("file") or next(
            (a for a in self.artifacts if a in source.names()), KERAS_FILE)
        path = source.path(artifact)
        return keras.saving.load_model(str(path), custom_objects=custom_objects,
                                       compile=compile, safe_mode=safe_mode)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        for artifact in self.artifacts:
            if artifact in files:
                return {"save_format": artifact.rsplit(".", 1)[1], "file": artifact}
        return None
