"""Authenticated JSON handlers over :class:`nbmodels.ModelStore`.

Each handler is one call into the core; errors the core raises on purpose become JSON
errors (``{"message", "reason", "error"}``) with a status that says whose fault it is:
a bad name or version is 400, something the store does not hold is 404, and a store
whose files disagree with their records is 409.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.ioloop import IOLoop

from .. import __version__
from ..errors import (
    IntegrityError,
    InvalidNameError,
    InvalidVersionError,
    ModelNotFoundError,
    NBModelsError,
    VersionExistsError,
)
from ..storage.layout import validate_alias, validate_name

__all__ = [
    "AliasHandler",
    "EvaluationFileHandler",
    "EvaluationHandler",
    "ModelHandler",
    "ModelsHandler",
    "NBModelsAPIError",
    "NBModelsHandler",
    "StoreAccess",
    "StoreHandler",
    "VerifyHandler",
    "VersionHandler",
]

# Most specific first: the first class an error is an instance of gives its status.
_STATUS: tuple[tuple[type[NBModelsError], int], ...] = (
    (InvalidNameError, 400),
    (InvalidVersionError, 400),
    (ModelNotFoundError, 404),
    (IntegrityError, 409),
    (VersionExistsError, 409),
    (NBModelsError, 409),  # any other refusal depends on the store's current state
)

_CONTENT_TYPES = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_FALSE = {"0", "false", "no", "off"}


class NBModelsAPIError(web.HTTPError):
    """An HTTP error whose message reaches the client verbatim (``%`` included)."""

    def __init__(self, status_code: int, message: str, error: str) -> None:
        # Tornado %-formats log_message with args when it logs; keep the text in args.
        super().__init__(status_code, "%s", message)
        self.message = message
        self.error = error


@contextlib.contextmanager
def core_errors() -> Iterator[None]:
    """Turn the errors the core raises on purpose into :class:`NBModelsAPIError`; a
    store that cannot be read (a link where a folder should be, a permission) is a 500
    with the reason, never a traceback."""
    try:
        yield
    except NBModelsError as exc:
        status = next(code for kind, code in _STATUS if isinstance(exc, kind))
        raise NBModelsAPIError(status, str(exc), type(exc).__name__) from exc
    except (OSError, ValueError) as exc:
        raise NBModelsAPIError(500, f"the model store could not be read or written: {exc}",
                               "StoreError") from exc


def content_type(filename: str) -> str:
    """The Content-Type of an evaluation file, by its extension."""
    suffix = Path(filename).suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


class StoreAccess:
    """Mixin of every nbmodels handler (API and pages): the store from the app settings
    (a test can inject its own) and the reads the API and the pages share."""

    auth_resource = "nbmodels"
    settings: dict[str, Any]

    @property
    def store(self) -> Any:
        return self.settings["nbmodels_store"]

    def versions_and_aliases(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The versions (ascending semver) and the aliases of model ``name``; store
        errors become HTTP errors."""
        with core_errors():
            return self.store.versions(name), self.store.aliases(name)


class NBModelsHandler(StoreAccess, APIHandler):
    """Base of the API: the store (:class:`StoreAccess`) and JSON errors."""

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, NBModelsAPIError):
            self.finish(json.dumps({"message": exc.message, "reason": exc.reason,
                                    "error": exc.error}))
            return
        super().write_error(status_code, **kwargs)

    def bad_request(self, message: str) -> NBModelsAPIError:
        return NBModelsAPIError(400, message, "BadRequest")


class StoreHandler(NBModelsHandler):
    """``GET store``: where the store is and how many models it holds."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        store = self.store
        with core_errors():
            models = len(store.list())
        self.write_json({"root": str(store.root), "exists": store.exists(),
                         "models": models, "nbmodels_version": __version__})


class ModelsHandler(NBModelsHandler):
    """``GET models``: every model with its latest version, aliases and headline metrics."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        with core_errors():
            table = self.store.list()
        self.write_json({"root": str(self.store.root), "models": table.to_dict(),
                         "damaged": table.damaged})


class ModelHandler(NBModelsHandler):
    """``GET models/{name}``: the versions (ascending semver) and aliases of one model."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:
        versions, aliases = self.versions_and_aliases(name)
        self.write_json({"name": name, "latest": versions[-1], "versions": versions,
                         "aliases": aliases})


class VersionHandler(NBModelsHandler):
    """``GET models/{name}/{version}``: the record; ``latest``, a semver or an alias."""

    @web.authenticated
    @authorized
    def get(self, name: str, version: str) -> None:
        with core_errors():
            validate_name(name)  # before the core reads '@' in a name as name@version
            record = self.store.record(name, version)
        self.write_json(record.to_dict())


class AliasHandler(NBModelsHandler):
    """``GET|PUT|DELETE models/{name}/aliases/{alias}``; PUT takes ``{"version": ...}``."""

    @web.authenticated
    @authorized
    def get(self, name: str, alias: str) -> None:
        with core_errors():
            validate_alias(alias)
            aliases = self.store.aliases(name)
            if alias not in aliases:
                self.store.versions(name)  # an unknown model says so, with suggestions
                known = ", ".join(sorted(aliases)) or "none"
                raise ModelNotFoundError(f"{name} has no alias {alias!r} (aliases: {known})")
        self.write_json({"name": name, "alias": alias, "version": aliases[alias]})

    @web.authenticated
    @authorized
    def put(self, name: str, alias: str) -> None:
        usage = 'send a JSON body {"version": "..."}: an exact version, "latest" or an alias'
        try:
            # Not get_json_body(): a client's bad JSON is a 400, not a logged traceback.
            body = json.loads(self.request.body or b"null")
        except ValueError as exc:
            raise self.bad_request(f"the body is not valid JSON ({exc}); {usage}") from None
        except RecursionError:
            raise self.bad_request(f"the body is nested too deeply; {usage}") from None
        target = body.get("version") if isinstance(body, dict) else None
        if not isinstance(target, str) or not target:
            raise self.bad_request(usage)
        with core_errors():
            exact = self.store.set_alias(name, alias, target)
            aliases = self.store.aliases(name)
        self.write_json({"name": name, "alias": alias, "version": exact, "aliases": aliases})

    @web.authenticated
    @authorized
    def delete(self, name: str, alias: str) -> None:
        with core_errors():
            self.store.remove_alias(name, alias)
        self.set_status(204)
        self.finish()


class EvaluationHandler(NBModelsHandler):
    """``GET models/{name}/{version}/evaluation``: the files of a version's evaluation."""

    @web.authenticated
    @authorized
    def get(self, name: str, version: str) -> None:
        with core_errors():
            validate_name(name)
            exact = self.store.resolve(name, version)
            files = self.store.evaluation_files(name, exact)
            datasets = self.store.evaluation_datasets(name, exact)
        self.write_json({"name": name, "version": exact, "files": files,
                         "datasets": datasets})


class EvaluationFileHandler(NBModelsHandler):
    """``GET models/{name}/{version}/evaluation/{file}[?dataset=label]``: one file.

    Only plain file names of the version's evaluation folder (or of one dataset's
    subfolder) are served; anything that could name another path is refused.
    """

    @property
    def content_security_policy(self) -> str:
        # report.html shows inline CSS and data: images, which APIHandler's
        # "default-src 'none'" would block; a sandbox keeps any script in the page
        # in a unique origin, away from the server's API.
        return super(APIHandler, self).content_security_policy + "; sandbox allow-scripts"

    @web.authenticated
    @authorized
    def get(self, name: str, version: str, filename: str) -> None:
        dataset = self.get_query_argument("dataset", None)
        with core_errors():
            validate_name(name)
            validate_name(filename, "evaluation file name")
            if dataset is not None:
                validate_name(dataset, "dataset label")
            exact = self.store.resolve(name, version)
            data = self.store.read_evaluation_file(name, exact, filename, dataset=dataset)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(data, set_content_type=content_type(filename))


class VerifyHandler(NBModelsHandler):
    """``GET verify[?deep=false]``: check every version's files against its record."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        deep = (self.get_query_argument("deep", "true") or "true").lower() not in _FALSE
        # Hashing every artifact can take a while: keep the event loop serving others.
        with core_errors():
            report = await IOLoop.current().run_in_executor(
                None, partial(self.store.verify, deep=deep))
        self.write_json(report.to_dict())
