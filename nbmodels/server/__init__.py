"""The Jupyter server extension: the model store as an authenticated JSON API.

Enabled by ``jupyter-config/jupyter_server_config.d/nbmodels.json`` when the package is
installed. The store it serves is ``c.NBModels.store_dir``, else the one every face finds
(:func:`nbmodels.config.resolve_store_root` from the server's ``root_dir``:
``$NBMODELS_HOME``, else the project's store found upward, else ``root_dir/models``).
Handlers live in :mod:`nbmodels.server.handlers` and hold no storage logic: each is one call into
:class:`nbmodels.ModelStore`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets import Unicode
from traitlets.config import Configurable

__all__ = ["NBModels", "store_root"]

API_PREFIX = "nbmodels/api"


class NBModels(Configurable):
    """Settings of the nbmodels server extension (``c.NBModels.store_dir = ...``)."""

    store_dir = Unicode(
        "",
        help="Folder of the model store served under /nbmodels/api. Empty means "
             "$NBMODELS_HOME, else the project's store found upward from root_dir (a "
             "models/ store or [tool.nbmodels] in pyproject.toml), else models/ under "
             "root_dir. A relative path is taken relative to root_dir.",
    ).tag(config=True)


def store_root(store_dir: str, root_dir: str | os.PathLike[str]) -> tuple[Path, str]:
    """The store folder and where the choice came from (for the server log)."""
    from ..config import resolve_store_root

    root = Path(root_dir).expanduser()
    if store_dir:
        return (root / Path(store_dir).expanduser()).absolute(), "from c.NBModels.store_dir"
    return resolve_store_root(start=root)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbmodels.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the handlers under ``{base_url}nbmodels/api/``."""
    from jupyter_server.utils import url_path_join

    from ..store.model_store import ModelStore
    from .handlers import ROUTES

    config = NBModels(parent=serverapp)
    root, source = store_root(config.store_dir, serverapp.root_dir)
    web_app = serverapp.web_app
    web_app.settings["nbmodels_store"] = ModelStore(root)
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [
        (url_path_join(base_url, API_PREFIX, pattern), handler)
        for pattern, handler in ROUTES
    ])
    serverapp.log.info("nbmodels: serving the model store at %s (%s) under %s",
                       root, source, url_path_join(base_url, API_PREFIX))
