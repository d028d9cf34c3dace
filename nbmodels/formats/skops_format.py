"""skops: scikit-learn models stored without pickle, loaded after a type audit.

A ``.skops`` file is a zip of JSON and numpy arrays. Loading rebuilds objects only
from types on a trusted list (skops trusts scikit-learn, numpy and scipy types by
default); any other type in the file is refused before an object is built, with a
message naming the types and how to trust them. This is the format to share.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import NotebookObjectsError, UntrustedTypesError
from .base import ArtifactSink, ArtifactSource, ModelFormat

__all__ = ["SkopsFormat"]


def _importable_elsewhere(type_name: str) -> bool:
    """Whether another process could import ``type_name`` (``module.Name``) as skops
    will: not from ``__main__``, and found under that name in its module (a class made
    inside a function is not). A module this process has not imported is given the
    benefit of the doubt."""
    parts = type_name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is not None:
            break
    else:
        return True
    if module.__name__ == "__main__":
        return False
    obj: Any = module
    for part in parts[i:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return True


class SkopsFormat(ModelFormat):
    """scikit-learn models in ``model.skops``; no code runs when they are loaded."""

    name = "skops"
    artifacts = ("model.skops",)
    extra = "skops"
    requires = ("skops",)
    executes_code_on_load = False
    description = "skops.io zip of JSON and arrays; types audited before loading"
    save_options = frozenset({"compression"})
    load_options = frozenset({"trusted"})

    def save(self, model: Any, sink: ArtifactSink, *, compression: int | None = None,
             **options: Any) -> dict[str, Any]:
        import skops
        import skops.io as sio

        data = sio.dumps(model, **({} if compression is None else {"compression": compression}))
        # What a reader will have to trust beyond skops' defaults, known before sharing.
        untrusted = list(sio.get_untrusted_types(data=data))
        # skops names classes and functions by import path and imports them on load, so
        # one defined in the notebook (__main__) or inside a function loads nowhere else;
        # unlike pickle, skops cannot carry it by value.
        local = [t for t in untrusted if not _importable_elsewhere(t)]
        if local:
            raise NotebookObjectsError(
                f"skops stores classes and functions by name, and these exist only in this "
                f"notebook or inside a function, so the file would load nowhere else: "
                f"{', '.join(local)}. Fix: move them into a module (e.g. features.py next to "
                f"the notebook), import them from there and refit; or save with "
                f"format='joblib', which stores them by value", local)
        with sink.open(self.artifacts[0]) as f:
            f.write(data)
        return {"skops_version": skops.__version__, "untrusted_types": untrusted}

    def load(self, source: ArtifactSource, info: dict[str, Any], *,
             trusted: list[str] | tuple[str, ...] | None = None, **options: Any) -> Any:
        import skops.io as sio

        if isinstance(trusted, str):
            trusted = [trusted]
        if trusted is not None and not isinstance(trusted, (list, tuple, set, frozenset)):
            raise TypeError(f"trusted must be a list of type names such as "
                            f"['mymodule.MyTransformer'], got {trusted!r}")
        raw = source.read_bytes(self.artifacts[0])
        needed = sio.get_untrusted_types(data=raw)
        refused = [t for t in needed if t not in set(trusted or ())]
        if refused:
            shown = ", ".join(refused)
            raise UntrustedTypesError(
                f"{self.artifacts[0]} needs types that are not trusted: {shown}. Building "
                f"them could run their code; if you trust them, load again with "
                f"load(..., trusted={refused!r})", refused)
        return sio.loads(raw, trusted=needed or None)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"skops_version": None, "untrusted_types": None} \
            if self.artifacts[0] in files else None
