"""joblib and pickle: the formats for scikit-learn and anything picklable.

Both write a plain pickle (protocol 5) stream. ``joblib.load`` reads such a stream,
so hand-written code that calls ``joblib.load("trained/x_v1.0.0/model.joblib")``
keeps working, while nbmodels loads it with the C unpickler straight from the bytes it
has just verified. Files written by ``joblib.dump`` (adopted folders) go through joblib.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from .base import ArtifactSink, ArtifactSource, ModelFormat

__all__ = ["JoblibFormat", "PickleFormat"]

_PICKLE5 = "pickle-protocol-5"


class _PickleStreamFormat(ModelFormat):
    executes_code_on_load = True

    def save(self, model: Any, sink: ArtifactSink, **options: Any) -> dict[str, Any]:
        with sink.open(self.artifacts[0]) as f:
            pickle.dump(model, f, protocol=5)
        return {"serializer": _PICKLE5}

    def load(self, source: ArtifactSource, info: dict[str, Any], **options: Any) -> Any:
        data = source.read_bytes(self.artifacts[0])
        if info.get("serializer") == _PICKLE5:
            if isinstance(data, Path):
                with open(data, "rb") as f:
                    return pickle.load(f)
            return pickle.loads(data)
        return self._load_foreign(data)

    def _load_foreign(self, data: bytearray | Path) -> Any:
        if isinstance(data, Path):
            with open(data, "rb") as f:
                return pickle.load(f)
        return pickle.loads(data)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"serializer": "foreign"} if self.artifacts[0] in files else None


class JoblibFormat(_PickleStreamFormat):
    """scikit-learn models and any picklable object, in ``model.joblib``."""

    name = "joblib"
    artifacts = ("model.joblib",)
    requires = ("joblib",)
    description = "pickle stream readable by joblib.load; runs code on load"

    def claims(self, model: Any) -> int:
        return 1  # the fallback for anything picklable

    def _load_foreign(self, data: bytearray | Path) -> Any:
        import joblib

        # A file written by joblib.dump keeps numpy arrays outside the pickle stream.
        return joblib.load(data if isinstance(data, Path) else io.BytesIO(data))


class PickleFormat(_PickleStreamFormat):
    """Any picklable object, in ``model.pkl`` (only when asked for)."""

    name = "pickle"
    artifacts = ("model.pkl",)
    description = "plain pickle; runs code on load"
