"""Settings of the server extension: which store it serves and under which URLs."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Unicode
from traitlets.config import Configurable

__all__ = ["API_PREFIX", "PAGES_PREFIX", "NBModels", "store_root"]

API_PREFIX = "nbmodels/api"
PAGES_PREFIX = "nbmodels"


class NBModels(Configurable):
    """Settings of the nbmodels server extension (``c.NBModels.store_dir = ...``)."""

    store_dir = Unicode(
        "",
        help="Folder (or URL) of the model store served under /nbmodels/. Empty means "
             "$NBMODELS_HOME, else the project's store found upward from root_dir (a "
             "models/ store or [tool.nbmodels] in pyproject.toml), else models/ under "
             "root_dir. A relative path is taken relative to root_dir.",
    ).tag(config=True)


def store_root(store_dir: str, root_dir: str | os.PathLike[str]) -> tuple[Path | str, str]:
    """The store folder (or store URL) and where the choice came from (for the server log)."""
    from ..config import resolve_store_root

    root = Path(root_dir).expanduser()
    if "://" in store_dir:
        return store_dir, "from c.NBModels.store_dir"  # a remote store: the core decides
    if store_dir:
        return (root / Path(store_dir).expanduser()).absolute(), "from c.NBModels.store_dir"
    return resolve_store_root(start=root)
