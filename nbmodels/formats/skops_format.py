"""skops: scikit-learn models stored without pickle, loaded after a type audit.

A ``.skops`` file is a zip of JSON and numpy arrays. Loading rebuilds objects only
from types on a trusted list. skops 0.16 trusts by default: Python's primitives and
containers, numpy scalar types, ufuncs and bit generators, scipy ufuncs, the
scikit-learn estimator classes themselves and a few of their internal loss objects;
nothing else (not ``sklearn.tree._tree.Tree``, ``KDTree``, ``numpy.dtype``, scipy
sparse matrices, ``Bunch``, functions). Any other type in the file is refused before
an object is built, with a message naming the exact ``trusted=[...]`` to pass. The
list is audited at save time and kept in the record (``format_info.untrusted_types``),
so the reader can review it before loading. This is the format to share.
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import NBModelsError, NotebookObjectsError, UntrustedTypesError
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

        try:
            data = sio.dumps(model, **({} if compression is None
                                       else {"compression": compression}))
            # What a reader will have to trust beyond skops' defaults, known before sharing.
            untrusted = list(sio.get_untrusted_types(data=data))
        except NBModelsError:
            raise
        except Exception as exc:  # skops' own exceptions and whatever a __reduce__ raises
            raise NBModelsError(
                f"skops {skops.__version__} cannot store this {type(model).__name__}: "
                f"{type(exc).__name__}: {_first_line(exc)}. Fix: save it with "
                f"format='joblib' (loads only where you trust the file), or "
                f"format='onnx' with X=... for a portable graph") from exc
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
        import skops
        import skops.io as sio

        if isinstance(trusted, str):
            trusted = [trusted]
        if trusted is not None and not isinstance(trusted, (list, tuple, set, frozenset)):
            raise TypeError(f"trusted must be a list of type names such as "
                            f"['mymodule.MyTransformer'], got {trusted!r}")
        raw = source.read_bytes(self.artifacts[0])
        saved_with = info.get("skops_version") or "an unknown version"
        try:
            needed = list(sio.get_untrusted_types(data=raw))
        except Exception as exc:
            fix = f". Fix: pip install skops=={saved_with}" \
                if info.get("skops_version") not in (None, skops.__version__) else ""
            raise NBModelsError(
                f"{self.artifacts[0]} could not be read by skops {skops.__version__} (it was "
                f"written by skops {saved_with}): {type(exc).__name__}: "
                f"{_first_line(exc)}{fix}") from exc
        refused = [t for t in needed if t not in set(trusted or ())]
        if refused:
            raise UntrustedTypesError(_refusal(self.artifacts[0], needed, refused, info),
                                      refused)
        try:
            return sio.loads(raw, trusted=needed or None)
        except Exception as exc:
            raise NBModelsError(
                f"{self.artifacts[0]} could not be rebuilt by skops {skops.__version__} "
                f"(written by skops {saved_with}): {type(exc).__name__}: "
                f"{_first_line(exc)}") from exc

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"skops_version": None, "untrusted_types": None} \
            if self.artifacts[0] in files else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _refusal(artifact: str, needed: list[str], refused: list[str],
             info: dict[str, Any]) -> str:
    """The refusal: what is not trusted, why skops does not trust some of it, and the
    exact ``trusted=[...]`` that loads the file (the whole list, not the remainder)."""
    try:
        from skops.io.exceptions import UNTRUSTED_TYPE_REASONS as reasons
    except ImportError:  # older skops: no reasons to show
        reasons = {}
    recorded = info.get("untrusted_types")
    same = " (the list the record keeps as format_info.untrusted_types)" \
        if recorded is not None and sorted(recorded) == sorted(needed) else ""
    why = "".join(f" {_reason(t, reasons[t])}" for t in refused if t in reasons)
    return (f"{artifact} needs types that are not trusted: {', '.join(refused)}. Building "
            f"them could run their code or crash on a crafted file.{why} If you trust the "
            f"file's source, load again with load(..., trusted={needed!r}){same}")


def _reason(type_name: str, reason: str) -> str:
    """skops' reason for not trusting ``type_name``, without its own how-to-load advice
    (the refusal gives the whole list to pass)."""
    text = " ".join(str(reason).split()).split(" If you created")[0].rstrip()
    return text if text.startswith(type_name) else f"{type_name}: {text}"
