"""Every URL the extension serves, declared once.

Each :class:`Route` is a path template (``models/{name}/{version}``), its handler, the
methods it answers and what it is for. Tornado's patterns come from the templates, and
``/nbmodels/api/`` answers with the same table, so the index cannot drift from what is
served. Order matters where patterns overlap: ``models/{name}/aliases/{alias}`` comes
before ``models/{name}/{version}/evaluation``, so ``models/m/aliases/evaluation`` names
an alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .handlers import (
    AliasHandler,
    EvaluationFileHandler,
    EvaluationHandler,
    ModelHandler,
    ModelsHandler,
    StoreHandler,
    VerifyHandler,
    VersionHandler,
)
from .pages import ComparePage, ModelPage, ModelsPage, VersionPage

__all__ = ["API_ROUTES", "PAGE_ROUTES", "ApiIndexHandler", "Route"]


@dataclass(frozen=True)
class Route:
    """One URL: ``path`` relative to ``{base_url}nbmodels/api/`` (API) or
    ``{base_url}nbmodels/`` (pages), ``{segment}`` standing for one path segment."""

    path: str
    handler: type
    description: str
    methods: tuple[str, ...] = ("GET",)
    query: str = ""  # documented only: the query string the handler reads
    listed: bool = True  # shown in the index

    @property
    def pattern(self) -> str:
        """Tornado's pattern: each ``{segment}`` one captured path segment."""
        return re.sub(r"\{\w+\}", "([^/]+)", self.path)

    def index_entry(self, prefix: str) -> dict[str, Any]:
        return {"path": f"{prefix}{self.path}{self.query}", "methods": list(self.methods),
                "description": self.description}


API_ROUTES: list[Route] = [
    Route("store", StoreHandler, "where the store is and how many models it holds"),
    Route("models", ModelsHandler,
          "every model with its latest version, aliases and headline metrics"),
    Route("models/{name}", ModelHandler,
          "the versions (ascending semver) and aliases of one model"),
    Route("models/{name}/aliases/{alias}", AliasHandler,
          'read, set or move (PUT {"version": ...}) or remove an alias; PUT and DELETE '
          "need the X-XSRFToken header when authenticated by cookie",
          methods=("GET", "PUT", "DELETE")),
    Route("models/{name}/{version}", VersionHandler,
          "the record of a version: latest, a semver or an alias"),
    Route("models/{name}/{version}/evaluation", EvaluationHandler,
          "the evaluation files of a version and its named data sets"),
    Route("models/{name}/{version}/evaluation/{file}", EvaluationFileHandler,
          "one evaluation file (plots, metrics.json, report.html)",
          query="[?dataset={label}]"),
    Route("verify", VerifyHandler, "check every version's files against its record",
          query="[?deep=false]"),
]


class ApiIndexHandler(APIHandler):
    """``/nbmodels/api/``: the endpoints of the JSON API and the pages, as JSON."""

    auth_resource = "nbmodels"

    @web.authenticated
    @authorized
    def get(self) -> None:
        base = self.base_url
        self.finish({
            "api": [r.index_entry(f"{base}nbmodels/api/") for r in API_ROUTES if r.listed],
            "pages": [{"path": r.index_entry(f"{base}nbmodels/")["path"],
                       "description": r.description} for r in PAGE_ROUTES if r.listed],
        })


PAGE_ROUTES: list[Route] = [
    Route("", ModelsPage, "the models table (?q= searches name, tag and description; "
          "?sort=&order= sorts)"),
    Route("compare", ComparePage, "two or more versions side by side",
          query="?ref={name}@{version}&ref=..."),
    Route("models/{name}", ModelPage, "a model: versions, aliases, metrics per data set, "
          "charts"),
    Route("models/{name}/{version}", VersionPage,
          "a version (exact, latest or alias): record, card, plots"),
    Route("api/?", ApiIndexHandler, "this index", listed=False),
]
