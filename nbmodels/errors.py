"""Exceptions raised by nbmodels.

Every error says what is wrong and what would work, so that a magic or the CLI
can show it as one line without a traceback.
"""

from __future__ import annotations

__all__ = [
    "FormatUnavailableError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidVersionError",
    "ModelNotFoundError",
    "NBModelsError",
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
