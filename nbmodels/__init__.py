"""nbmodels: a versioned, integrity-checked model store and evaluation toolkit for Jupyter.

Heavy modules load on first use, so ``import nbmodels`` and ``%load_ext nbmodels`` stay
fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

__version__ = "0.1.0"

__all__ = [
    "EnvironmentMismatchError",
    "EnvironmentWarning",
    "EvaluationResult",
    "FormatUnavailableError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidVersionError",
    "LoadCheckError",
    "ModelFormat",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelStore",
    "NBModelsError",
    "NotebookObjectsError",
    "UntrustedArtifactError",
    "UntrustedTypesError",
    "VersionExistsError",
    "__version__",
    "compare",
    "evaluate",
    "evaluate_model",
    "evaluate_predictions",
    "load_ipython_extension",
    "load_model",
    "provenance",
    "register_format",
    "save_model",
    "unload_ipython_extension",
]

_LAZY = {
    "ModelStore": "nbmodels.store",
    "provenance": "nbmodels.store",
    "ModelRecord": "nbmodels.record",
    "ModelFormat": "nbmodels.formats",
    "register_format": "nbmodels.formats",
    **{name: "nbmodels.evaluation" for name in (
        "EvaluationResult", "compare", "evaluate", "evaluate_model", "evaluate_predictions")},
    **{name: "nbmodels.errors" for name in (
        "EnvironmentMismatchError", "FormatUnavailableError", "IntegrityError",
        "InvalidNameError", "InvalidVersionError", "LoadCheckError", "ModelNotFoundError",
        "NBModelsError", "NotebookObjectsError", "UntrustedArtifactError", "UntrustedTypesError",
        "VersionExistsError")},
    "EnvironmentWarning": "nbmodels.record.environment",
}

if _TYPE_CHECKING:
    from .errors import (
        EnvironmentMismatchError,
        FormatUnavailableError,
        IntegrityError,
        InvalidNameError,
        InvalidVersionError,
        LoadCheckError,
        ModelNotFoundError,
        NBModelsError,
        NotebookObjectsError,
        UntrustedArtifactError,
        UntrustedTypesError,
        VersionExistsError,
    )
    from .formats import ModelFormat, register_format
    from .record.environment import EnvironmentWarning
    from .record.record import ModelRecord
    from .store.model_store import ModelStore
    from .store.store_loading import provenance


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbmodels' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def save_model(model: _Any, model_name: str, version: str | None = None, **kwargs: _Any) -> _Any:
    """Save ``model`` as ``model_name`` in the default store (``$NBMODELS_HOME`` or ``./models``).

    Takes the keyword arguments of :meth:`ModelStore.save` and returns the
    :class:`ModelRecord`.
    """
    from .store.model_store import ModelStore

    return ModelStore().save(model, model_name, version=version, **kwargs)


def load_model(model_name: str, version: str = "latest", *, strict: bool = False,
               trust: bool = False) -> _Any:
    """Load ``model_name`` from the default store, like the hand-written function it replaces.

    ``version`` is ``"latest"``, an exact version such as ``"1.2.0"``, or an alias.
    A model saved in a different environment loads with one warning that reports the
    differing packages and the ``pip install`` line to match; ``strict=True`` raises
    :class:`~nbmodels.errors.EnvironmentMismatchError` instead. A pickle that this user
    neither saved nor trusted is refused before it runs; ``trust=True`` trusts it.
    """
    from .store.model_store import ModelStore

    return ModelStore().load(model_name, version, strict=strict, trust=trust)


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext nbmodels``: register the magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: _Any) -> None:
    """``%unload_ext nbmodels``: remove the magics again."""
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
