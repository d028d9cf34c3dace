"""Exceptions raised by nbmodels.

Every error says what is wrong and what would work, so that a magic or the CLI
can show it as one line without a traceback.
"""

from __future__ import annotations

__all__ = [
    "EnvironmentMismatchError",
    "FormatUnavailableError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidVersionError",
    "LoadCheckError",
    "ModelNotFoundError",
    "NBModelsError",
    "NotebookObjectsError",
    "UntrustedTypesError",
    "VersionExistsError",
]


class NBModelsError(Exception):
    """Base class of every error nbmodels raises on purpose."""


class InvalidNameError(NBModelsError, ValueError):
    """A model or alias name that the store cannot use safely."""


class InvalidVersionError(NBModelsError, ValueError):
    """A version string that is not a semantic version."""


class ModelNotFoundError(NBModelsError, LookupError):
    """A model, version or alias that the store does not hold."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class VersionExistsError(NBModelsError, FileExistsError):
    """Saving to a version that already exists, without ``overwrite=True``."""


class IntegrityError(NBModelsError):
    """An artifact whose bytes do not match its record (size or sha256)."""


class FormatUnavailableError(NBModelsError, ImportError):
    """A model format whose optional dependency is not installed."""


class UntrustedTypesError(NBModelsError):
    """A safe-format artifact that needs types nobody has trusted yet; see :attr:`types`."""

    def __init__(self, message: str, types: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.types = list(types)


class NotebookObjectsError(NBModelsError):
    """A model that refers to classes or functions that only the notebook (``__main__``)
    defines, which no other process could load; see :attr:`objects`."""

    def __init__(self, message: str, objects: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.objects = list(objects)


class LoadCheckError(NBModelsError):
    """``save(..., check_load=True)``: the version did not load or predict the same in a
    fresh Python process, so it was not published."""


class EnvironmentMismatchError(NBModelsError):
    """``load(..., strict=True)`` of a version saved in a different environment; the
    structured :class:`~nbmodels.record.environment.EnvironmentReport` is in :attr:`report`."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
