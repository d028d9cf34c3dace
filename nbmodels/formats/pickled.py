"""joblib and pickle: the formats for scikit-learn and anything picklable.

Both write a plain pickle (protocol 5) stream. ``joblib.load`` reads such a stream,
so hand-written code that calls ``joblib.load("trained/x_v1.0.0/model.joblib")``
keeps working, while nbmodels loads it with the C unpickler straight from the bytes it
has just verified. Files written by ``joblib.dump`` (adopted folders, ``compress=``)
go through joblib: uncompressed ones in one pass over the file, arrays read straight
into place and the rest unpickled only once the whole file matched its record (see
:mod:`.joblib_stream`); the others from a verified private copy.
"""

from __future__ import annotations

import pickle
from typing import Any

from ..errors import FormatUnavailableError, NBModelsError
from .base import ArtifactSink, ArtifactSource, ModelFormat

__all__ = ["JoblibFormat", "PickleFormat", "compress_setting"]

_PICKLE5 = "pickle-protocol-5"
_CLOUDPICKLE = "cloudpickle-protocol-5"  # a plain pickle stream that needs cloudpickle to load


def _require_cloudpickle() -> None:
    import importlib.util

    if importlib.util.find_spec("cloudpickle") is None:
        raise FormatUnavailableError("this version holds notebook-defined classes or functions "
                                     "saved by value with cloudpickle, which is not installed; "
                                     "run: pip install cloudpickle")


class _PickleStreamFormat(ModelFormat):
    executes_code_on_load = True
    supports_by_value = True

    def save(self, model: Any, sink: ArtifactSink, **options: Any) -> dict[str, Any]:
        if options.get("by_value"):
            # Classes and functions defined in the notebook (``__main__``) travel inside
            # the file; plain pickle would store only their names.
            import cloudpickle

            with sink.open(self.artifacts[0]) as f:
                cloudpickle.dump(model, f, protocol=5)
            return {"serializer": _CLOUDPICKLE}
        with sink.open(self.artifacts[0]) as f:
            pickle.dump(model, f, protocol=5)
        return {"serializer": _PICKLE5}

    def load(self, source: ArtifactSource, info: dict[str, Any], **options: Any) -> Any:
        if info.get("serializer") == _CLOUDPICKLE:
            _require_cloudpickle()
        with source.open_verified(self.artifacts[0]) as data:
            # Read as a file: the verified copy is handed back as the model is built.
            if info.get("serializer") in (_PICKLE5, _CLOUDPICKLE):
                return pickle.load(data)
            return self._load_foreign(data)

    def _load_foreign(self, data: Any) -> Any:
        return pickle.load(data)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"serializer": "foreign"} if self.artifacts[0] in files else None


_JOBLIB = "joblib-dump"  # written by joblib.dump (compressed); read by joblib.load
_COMPRESSORS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")


def compress_setting(value: Any) -> tuple[str, int] | None:
    """``compress=`` as ``(method, level)`` (``None``: not compressed): ``True``, a level
    0-9 (zlib), a method name (level 3) or ``(method, level)``, as ``joblib.dump`` takes."""
    method, level = "zlib", 3
    if value is None or value is False or value == 0:
        return None
    if value is True:
        pass
    elif isinstance(value, int) and 0 <= value <= 9:
        level = value
    elif isinstance(value, str) and value in _COMPRESSORS:
        method = value
    elif (isinstance(value, (tuple, list)) and len(value) == 2 and value[0] in _COMPRESSORS
          and isinstance(value[1], int) and not isinstance(value[1], bool)
          and 0 <= value[1] <= 9):
        method, level = value[0], value[1]
    else:
        raise NBModelsError(f"compress= takes True, a level 0-9, a method "
                            f"({', '.join(_COMPRESSORS)}) or (method, level); got {value!r}")
    if level == 0:
        return None
    return method, level


class JoblibFormat(_PickleStreamFormat):
    """scikit-learn models and any picklable object, in ``model.joblib``.

    ``compress=`` (a level, a method or ``(method, level)``) writes the file with
    ``joblib.dump(..., compress=...)``; the record keeps the setting in its format info.
    """

    name = "joblib"
    artifacts = ("model.joblib",)
    requires = ("joblib",)
    description = "pickle stream readable by joblib.load; runs code on load"
    save_options = frozenset({"compress"})

    def claims(self, model: Any) -> int:
        return 1  # the fallback for anything picklable

    def save(self, model: Any, sink: ArtifactSink, **options: Any) -> dict[str, Any]:
        compress = compress_setting(options.pop("compress", None))
        if compress is None:
            return super().save(model, sink, **options)
        if options.get("by_value"):
            raise NBModelsError("compress= cannot be combined with notebook-defined classes "
                                "(saved by value with cloudpickle); define them in a module, "
                                "or save without compress=")
        if compress[0] == "lz4":
            from .base import import_optional

            import_optional("lz4", "lz4", "compress='lz4'")
        import joblib

        with sink.open(self.artifacts[0]) as f:
            joblib.dump(model, f, compress=compress)
        return {"serializer": _JOBLIB, "compress": list(compress)}

    def load(self, source: ArtifactSource, info: dict[str, Any], **options: Any) -> Any:
        if info.get("serializer") not in (_PICKLE5, _CLOUDPICKLE):
            # Written by joblib.dump: read in one pass when the layout allows it.
            from .joblib_stream import UNREAD, load_joblib_stream

            model = load_joblib_stream(source, self.artifacts[0])
            if model is not UNREAD:
                return model
        return super().load(source, info, **options)

    def _load_foreign(self, data: Any) -> Any:
        import joblib

        # A file written by joblib.dump keeps numpy arrays outside the pickle stream.
        return joblib.load(data)


class PickleFormat(_PickleStreamFormat):
    """Any picklable object, in ``model.pkl`` (only when asked for)."""

    name = "pickle"
    artifacts = ("model.pkl",)
    description = "plain pickle; runs code on load"
