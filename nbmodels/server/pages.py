"""The registry in the browser: authenticated, server-rendered pages under ``/nbmodels/``.

Each page handler reads through the public core API only (:class:`nbmodels.ModelStore`
methods and :func:`nbmodels.evaluation.compare`) and hands plain data to
:mod:`nbmodels.server.views`, which renders it with every value escaped. One damaged
version or file shows as damaged in its place; the rest of the page still renders.
Alias changes go through the JSON API (``PUT``/``DELETE``), which enforces Jupyter's
XSRF rules; the page's script sends the ``_xsrf`` cookie back as ``X-XSRFToken``.
"""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.ioloop import IOLoop

from ..errors import ModelNotFoundError, NBModelsError
from . import views
from .compare_view import compare_page
from .handlers import NBModelsAPIError, StoreAccess, core_errors

__all__ = [
    "ComparePage",
    "ModelPage",
    "ModelsPage",
    "PageHandler",
    "VersionPage",
]

# Scripts only from this server (no inline script can run, even if escaping failed
# somewhere); inline styles for the model card; images inline for compare figures.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-src 'self'; frame-ancestors 'self'")
_SORTABLE_FIXED = ("name", "latest", "versions", "aliases", "size", "saved")


class PageHandler(StoreAccess, JupyterHandler):
    """Base of the pages: the store (:class:`StoreAccess`) and HTML error pages."""

    @property
    def content_security_policy(self) -> str:
        return _CSP

    @property
    def frame(self) -> views.Frame:
        return views.Frame(self.base_url, str(self.store.root))

    def render_page(self, html: str) -> None:
        self.xsrf_token  # noqa: B018 - sets the _xsrf cookie the page's script sends back
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.finish(html)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, NBModelsAPIError):
            message = exc.message
        elif isinstance(exc, web.HTTPError) and exc.log_message and status_code < 500:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        else:
            message = self._reason
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(views.error_page(self.frame, status_code, message))


class ModelsPage(PageHandler):
    """``/nbmodels/``: every model; ``?q=`` searches, ``?sort=&order=`` sorts."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        query = (self.get_query_argument("q", "") or "").strip()
        sort = self.get_query_argument("sort", "name") or "name"
        descending = self.get_query_argument("order", "asc") == "desc"
        store = self.store
        with core_errors():
            table = store.list()
            names = store.names()
        rows = []
        listed = set()
        for entry in table:
            listed.add(entry["name"])
            rows.append(views.ModelRow(
                name=entry["name"], latest=entry["latest"], versions=entry.get("versions"),
                aliases=views.as_dict(entry.get("aliases")), size_bytes=entry.get("size_bytes"),
                created_at=entry.get("created_at"), description=entry.get("description") or "",
                tags=views.text_list(entry.get("tags")),
                metrics=views.as_dict(entry.get("metrics"))))
        for name in names:
            if name in listed:
                continue
            try:
                store.record(name)  # the core says what is wrong with it
                message = "not in the listing; run `nbmodels rebuild-index`"
            except NBModelsError as exc:
                message = str(exc)
            rows.append(views.ModelRow(name=name, damaged=message))
        total = len(rows)
        if query:
            rows = [r for r in rows if views.matches(r, query)]
        if sort not in _SORTABLE_FIXED and sort not in views.HEADLINE:
            sort = "name"
        rows = views.sort_rows(rows, sort, descending)
        self.render_page(views.models_page(self.frame, rows, query=query, sort=sort,
                                           descending=descending, total=total))


class ModelPage(PageHandler):
    """``/nbmodels/models/{name}``: every version, metrics per data set, charts, aliases."""

    @web.authenticated
    @authorized
    def get(self, name: str) -> None:
        store = self.store
        versions, aliases = self.versions_and_aliases(name)
        with core_errors():
            # Damaged (or half-saved) versions are shown too, in their place.
            versions = views.sort_versions([*versions, *store.unreadable_versions(name)])
        by_version: dict[str, list[str]] = {}
        for alias, version in sorted(aliases.items()):
            by_version.setdefault(version, []).append(alias)
        rows = []
        for version in versions:
            try:
                record: dict[str, Any] | None = store.record(name, version).to_dict()
                damaged = None
            except ModelNotFoundError:
                record, damaged = None, "no record yet: a save in progress or interrupted"
            except NBModelsError as exc:
                record, damaged = None, str(exc)
            rows.append(views.VersionRow(version, record, by_version.get(version, []), damaged))
        self.render_page(views.model_page(self.frame, name, rows, aliases))


class VersionPage(PageHandler):
    """``/nbmodels/models/{name}/{version}``: one version (``latest``, semver or alias)."""

    @web.authenticated
    @authorized
    def get(self, name: str, version: str) -> None:
        store = self.store
        with core_errors():
            exact = store.resolve(name, version)
            versions = store.versions(name)
            aliases = store.aliases(name)
            record = store.record(name, exact).to_dict()
        damaged: dict[str, str] = {}
        card_html = None
        try:
            card_html = store.card(name, exact).html
        except (NBModelsError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # A hand-edited record can hold values the card cannot lay out.
            damaged["card"] = f"the model card cannot be drawn ({type(exc).__name__}: {exc})"
        files: list[str] = []  # "file" for the default data set, "label/file" for others
        try:
            files = store.evaluation_files(name, exact)
            for label in store.evaluation_datasets(name, exact):
                files += [f"{label}/{f}" for f in store.evaluation_files(name, exact,
                                                                         dataset=label)]
        except (NBModelsError, OSError) as exc:
            damaged["evaluation"] = str(exc)
        self.render_page(views.version_page(self.frame, name, exact, record, aliases, versions,
                                            card_html, files, damaged))


class ComparePage(PageHandler):
    """``/nbmodels/compare?ref=name@1.0.0&ref=name@1.1.0[&dataset=label]``."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        refs = [r for r in self.get_query_arguments("ref") if r]
        dataset = self.get_query_argument("dataset", None) or None
        if len(refs) < 2:
            raise NBModelsAPIError(400, "choose two or more versions to compare (tick them on "
                                        "a model's page), e.g. ?ref=name@1.0.0&ref=name@1.1.0",
                                   "BadRequest")
        bad = [r for r in refs if "@" not in r]
        if bad:
            raise NBModelsAPIError(400, f"{bad[0]!r} is not a reference; write name@version",
                                   "BadRequest")
        # Figures are drawn with matplotlib: off the event loop.
        with core_errors():
            refs = _in_version_order(self.store, refs)
            comparison, figures = await IOLoop.current().run_in_executor(
                None, partial(_compare, self.store, refs, dataset))
        self.render_page(compare_page(self.frame, comparison, figures))


def _in_version_order(store: Any, refs: list[str]) -> list[str]:
    """``name@exact`` references, by name and then in semver order (a model page sends
    the newest first; deltas read against the previous, older column)."""
    keyed = []
    for ref in refs:
        name, _, version = ref.partition("@")
        exact = store.resolve(name, version)
        keyed.append(((name, store.versions(name).index(exact)), f"{name}@{exact}"))
    return [ref for _, ref in sorted(keyed)]


def _compare(store: Any, refs: list[str], dataset: str | None) -> tuple[Any, dict[str, str]]:
    from ..evaluation import compare

    comparison = compare(refs, store=store, dataset=dataset)
    figures = {}
    for plot in comparison.figures.values():
        data = base64.b64encode(plot.png).decode("ascii")
        figures[plot.title] = f"data:image/png;base64,{data}"
    return comparison, figures
