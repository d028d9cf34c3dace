"""Exceptions raised by nbmodels, and how each face shows them.

Every error says what is wrong and what would work, so that a magic or the CLI
can show it as one line without a traceback. The fix is written in Python's words
(``overwrite=True``); an error that names an option lists it in :attr:`NBModelsError.options`
and :meth:`NBModelsError.message` renders the same sentence in a face's words (the CLI's
``--force``, the magic's ``--overwrite``). :func:`error_kind` is the one table from an error
class to the CLI's exit code, the HTTP status and the one-line form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ERROR_KINDS",
    "EXIT_INTEGRITY",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "OPTION_WORDS",
    "ConcurrentUpdateError",
    "EnvironmentMismatchError",
    "ErrorKind",
    "Face",
    "FormatUnavailableError",
    "GateFailedError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidVersionError",
    "LoadCheckError",
    "ModelNotFoundError",
    "NBModelsError",
    "NotebookObjectsError",
    "StoreNotFoundError",
    "UnfittedModelError",
    "UntrustedArtifactError",
    "UntrustedTypesError",
    "VersionExistsError",
    "error_kind",
    "render_error",
]

Face = Literal["python", "cli", "magic", "http"]

# How each face spells an option that a fix names. A face without an entry keeps
# Python's words (there is no magic that deletes, so force=True stays force=True there).
OPTION_WORDS: dict[str, dict[str, str]] = {
    "overwrite": {"python": "overwrite=True", "cli": "--force", "magic": "--overwrite"},
    "force": {"python": "force=True", "cli": "--force"},
    "version": {"python": "version=", "magic": "--version"},
    "name": {"python": "name=", "magic": "--name"},
    "format": {"python": "format=...", "magic": "--format ..."},
    "training_data": {"python": "X=X_train", "magic": "--data X_train"},
    "allow_unfitted": {"python": "allow_unfitted=True", "magic": "--allow-unfitted"},
    "force_new": {"python": "force_new=True", "magic": "--force-new"},
    "evaluate": {"python": "nbmodels.evaluate(model, X_test, y_test)",
                 "cli": "nbmodels evaluate NAME@VERSION --data FILE --target COLUMN",
                 "magic": "%evaluate model X_test y_test"},
}


class NBModelsError(Exception):
    """Base class of every error nbmodels raises on purpose.

    ``options`` names the keys of :data:`OPTION_WORDS` whose Python spelling the message
    uses; :meth:`message` swaps them for another face's spelling.
    """

    options: tuple[str, ...] = ()

    def __init__(self, *args: object, options: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(*args)
        if options:
            unknown = [o for o in options if o not in OPTION_WORDS]
            if unknown:  # a programming error of ours, not the user's
                raise KeyError(f"no OPTION_WORDS entry for {unknown}")
            self.options = tuple(options)

    def message(self, face: Face = "python") -> str:
        """The message in ``face``'s words, on one line."""
        text = " ".join(str(self).split())
        for key in self.options:
            words = OPTION_WORDS[key]
            # Whole words only: the option name= is not the end of model_name=.
            text = re.sub(rf"(?<![\w.]){re.escape(words['python'])}",
                          lambda _m, w=words: w.get(face, w["python"]), text)
        return text


class InvalidNameError(NBModelsError, ValueError):
    """A model or alias name that the store cannot use safely."""


class InvalidVersionError(NBModelsError, ValueError):
    """A version string that is not a semantic version."""


class ModelNotFoundError(NBModelsError, LookupError):
    """A model, version or alias that the store does not hold."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class StoreNotFoundError(NBModelsError, LookupError):
    """A folder that holds no store (no ``metadata/`` or ``registry/``) where one was asked
    for; see :attr:`path`."""

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class VersionExistsError(NBModelsError, FileExistsError):
    """Saving to a version that already exists, without ``overwrite=True``."""

    options = ("overwrite", "version")


class ConcurrentUpdateError(NBModelsError):
    """Another writer changed the same thing first (aliases on a shared store): nothing
    was written, and the other writer's change stands."""


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


class UnfittedModelError(NBModelsError, ValueError):
    """Saving a scikit-learn estimator that was never fitted; ``allow_unfitted=True``
    (``--allow-unfitted``) saves it anyway. :attr:`model_class` names its class."""

    options = ("allow_unfitted",)

    def __init__(self, message: str, model_class: str = "") -> None:
        super().__init__(message)
        self.model_class = model_class


class GateFailedError(NBModelsError):
    """A quality gate (``require=``) that a version's evaluation does not pass, where
    passing was the condition (promoting it to an alias); the checks are in :attr:`checks`."""

    def __init__(self, message: str, checks: list[object] | tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.checks = list(checks)


class EnvironmentMismatchError(NBModelsError):
    """``load(..., strict=True)`` of a version saved in a different environment; the
    structured :class:`~nbmodels.record.environment.EnvironmentReport` is in :attr:`report`."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class UntrustedArtifactError(NBModelsError):
    """A version whose loading would run code (a pickle) and whose artifacts this user
    has neither saved nor trusted; the message says where it came from, how to inspect
    it and how to trust it. :attr:`ref` is ``name@version``."""

    def __init__(self, message: str, ref: str = "") -> None:
        super().__init__(message)
        self.ref = ref


# -- the one table: error class -> exit code, HTTP status, one-line form --------------------
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_INTEGRITY = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class ErrorKind:
    """How every face reports one kind of error.

    ``exit_code`` is the CLI's, ``http_status`` the server API's, ``label`` a short name
    for machines (``--json``, the API's ``reason``) and ``form`` the one line a face
    prints, with ``{message}`` standing for :meth:`NBModelsError.message` in its words.
    """

    exit_code: int
    http_status: int
    label: str
    form: str = "{message}"


# Most specific first: the first class an error is an instance of decides. Errors that
# are also ValueErrors (bad input, e.g. the evaluation's) fall to the "bad input" row
# before the catch-all.
ERROR_KINDS: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (InvalidNameError, ErrorKind(EXIT_USAGE, 400, "bad name")),
    (InvalidVersionError, ErrorKind(EXIT_USAGE, 400, "bad version")),
    (ModelNotFoundError, ErrorKind(EXIT_NOT_FOUND, 404, "not found")),
    (StoreNotFoundError, ErrorKind(EXIT_NOT_FOUND, 404, "no store")),
    (IntegrityError, ErrorKind(EXIT_INTEGRITY, 409, "integrity",
                               "integrity error: {message}")),
    (VersionExistsError, ErrorKind(EXIT_PROBLEMS, 409, "exists")),
    (ConcurrentUpdateError, ErrorKind(EXIT_PROBLEMS, 409, "conflict")),
    (FormatUnavailableError, ErrorKind(EXIT_PROBLEMS, 501, "unavailable")),
    (UntrustedTypesError, ErrorKind(EXIT_PROBLEMS, 403, "untrusted")),
    (UntrustedArtifactError, ErrorKind(EXIT_PROBLEMS, 403, "untrusted artifact")),
    (NotebookObjectsError, ErrorKind(EXIT_USAGE, 400, "not portable")),
    (LoadCheckError, ErrorKind(EXIT_PROBLEMS, 422, "load check failed")),
    (EnvironmentMismatchError, ErrorKind(EXIT_PROBLEMS, 409, "environment differs")),
    (GateFailedError, ErrorKind(EXIT_PROBLEMS, 409, "gate failed")),
    (UnfittedModelError, ErrorKind(EXIT_USAGE, 400, "unfitted")),
    (ValueError, ErrorKind(EXIT_USAGE, 400, "bad input")),
    # Any other refusal depends on the store's current state.
    (NBModelsError, ErrorKind(EXIT_PROBLEMS, 409, "refused")),
)


def error_kind(exc: BaseException) -> ErrorKind:
    """The row of :data:`ERROR_KINDS` for ``exc`` (an :class:`NBModelsError`)."""
    for cls, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return kind
    return ERROR_KINDS[-1][1]


def render_error(exc: BaseException, face: Face = "python") -> str:
    """``exc`` as the one line ``face`` shows: its form, in the face's words."""
    text = exc.message(face) if isinstance(exc, NBModelsError) else " ".join(str(exc).split())
    return error_kind(exc).form.format(message=text)
