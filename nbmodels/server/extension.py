"""Wiring: the store and every route of the extension, added to a Jupyter server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..store import ModelStore
from .config import API_PREFIX, PAGES_PREFIX, NBModels, store_root
from .routes import API_ROUTES, PAGE_ROUTES

__all__ = ["STATIC_DIR", "load"]

# The pages' stylesheet and script, served by Jupyter's own authenticated file handler.
STATIC_DIR = Path(__file__).resolve().parent / "static"


def load(serverapp: Any) -> None:
    """Serve the store of ``c.NBModels`` with the API under ``{base_url}nbmodels/api/``
    and the pages under ``{base_url}nbmodels/``."""
    config = NBModels(parent=serverapp)
    root, source = store_root(config.store_dir, serverapp.root_dir)
    web_app = serverapp.web_app
    web_app.settings["nbmodels_store"] = ModelStore(root)
    base_url = web_app.settings["base_url"]
    pages = url_path_join(base_url, PAGES_PREFIX)
    web_app.add_handlers(".*$", [
        *[(url_path_join(base_url, API_PREFIX, route.pattern), route.handler)
          for route in API_ROUTES],
        (f"{pages}/static/(registry\\.(?:css|js))", AuthenticatedFileHandler,
         {"path": str(STATIC_DIR)}),
        *[(f"{pages}/{route.pattern}", route.handler) for route in PAGE_ROUTES],
        (pages, web.RedirectHandler, {"url": f"{pages}/"}),
    ])
    serverapp.log.info("nbmodels: serving the model store at %s (%s): pages at %s/, "
                       "JSON API at %s/", root, source, pages,
                       url_path_join(base_url, API_PREFIX))
