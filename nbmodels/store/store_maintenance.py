"""Maintenance and retention: the part of
:class:`~nbmodels.store.model_store.ModelStore` that checks and repairs a store
(``verify``, ``gc``, ``rebuild_index``: :mod:`nbmodels.store.verify`,
:mod:`nbmodels.store.cleanup`, :mod:`nbmodels.store.adopt`) and keeps its size in hand
(``prune``, ``du``: :mod:`nbmodels.store.retention`).
"""

from __future__ import annotations

from typing import Any

from ..storage.layout import validate_name
from .reports import GCReport, RebuildReport, VerifyReport
from .tree import StoreTree

__all__ = ["MaintenanceMixin"]


class MaintenanceMixin:
    """``verify``, ``gc``, ``rebuild_index``, ``prune`` and ``du`` of a
    :class:`~nbmodels.store.model_store.ModelStore` (which it is a base of: ``prune``
    deletes through the store's ``delete``)."""

    _tree: StoreTree

    def verify(self, *, deep: bool = True) -> VerifyReport:
        """Check every version: records readable, files present, sizes and hashes right.

        Also reports what a crash left behind (orphans, for :meth:`gc`), folders made by
        hand that are not adopted yet, and a stale index. ``deep=False`` checks sizes
        only, not hashes.
        """
        from .verify import verify

        return verify(self._tree, deep=deep)

    def gc(self, *, dry_run: bool = False) -> GCReport:
        """Remove what interrupted saves left behind; report the bytes reclaimed.

        Only leftovers of nbmodels' own saves are removed (temp folders, uncommitted
        artifacts, half-written record folders); folders made by hand are never touched.
        A model whose save is in progress in another process is skipped.
        """
        from .cleanup import gc

        return gc(self._tree, dry_run=dry_run)

    def rebuild_index(self) -> RebuildReport:
        """Recreate ``registry/index`` from ``metadata/`` and adopt hand-made folders.

        A folder in the seed convention (``trained/{name}_v{version}/model.joblib``, with
        a ``metadata.json`` of the seed's keys or with none) gets a full record with file
        hashes, so it is listed, verified and loaded like any saved version.
        """
        from .adopt import rebuild_index

        return rebuild_index(self._tree)

    def prune(self, name: str | None = None, *, keep_last: int | None = None,
              older_than: Any = None, dry_run: bool = True) -> Any:
        """Delete old versions, by default only reporting what would go (``dry_run``).

        A version goes when it is past the ``keep_last`` highest of its model and/or
        was created before ``older_than`` (``"90d"``, a timedelta, an ISO date); never
        one an alias points to, one tagged ``keep``, or a model's latest. Returns a
        :class:`~nbmodels.store.retention.PruneReport` with the bytes reclaimed.
        """
        from .retention import prune

        if name is not None:
            validate_name(name)
        return prune(self._tree, lambda n, v: self.delete(n, v), name=name,
                     keep_last=keep_last, older_than=older_than, dry_run=dry_run)

    def du(self, name: str | None = None) -> Any:
        """Bytes per version (artifacts, record, evaluation), per model and in the whole
        store (:class:`~nbmodels.store.retention.DiskUsage`)."""
        from .retention import disk_usage

        if name is not None:
            validate_name(name)
        return disk_usage(self._tree, name)

