"""The Jupyter server extension: the model store as registry pages and a JSON API.

Enabled by ``jupyter-config/jupyter_server_config.d/nbmodels.json`` when the package is
installed. The pages are at ``{base_url}nbmodels/``, the API at
``{base_url}nbmodels/api/``. The store it serves is ``c.NBModels.store_dir``, else the
one every face finds (:func:`nbmodels.config.resolve_store_root` from the server's
``root_dir``: ``$NBMODELS_HOME``, else the project's store found upward, else
``root_dir/models``). API handlers live in
:mod:`nbmodels.server.handlers`, pages in :mod:`nbmodels.server.pages` (HTML in
:mod:`~nbmodels.server.views`), the wiring in :mod:`nbmodels.server.extension`; none
holds storage logic: each is a few calls into :class:`nbmodels.ModelStore`.
"""

from __future__ import annotations

from .config import NBModels, store_root

__all__ = ["NBModels", "store_root"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbmodels.server"}]


def _load_jupyter_server_extension(serverapp: object) -> None:
    """Register the pages under ``{base_url}nbmodels/`` and the API under ``.../api/``."""
    from .extension import load

    load(serverapp)
