"""Moving versions between stores, archives and backups: the part of
:class:`~nbmodels.store.model_store.ModelStore` that ``export``, ``import_``, ``backup``
and ``copy_to`` are (through :mod:`nbmodels.store.archive` and
:mod:`nbmodels.store.transfer`, which publish through the same write order as a save).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import NBModelsError
from ..storage import StorageBackend, open_backend
from .registry import Registry
from .tree import StoreTree

__all__ = ["MovingMixin"]


class MovingMixin:
    """``export``, ``import_``, ``backup`` and ``copy_to`` of a
    :class:`~nbmodels.store.model_store.ModelStore` (which it is a base of: it uses the
    store's ``resolve``, ``versions``, ``names`` and ``aliases``)."""

    root: Any
    fs: StorageBackend
    _tree: StoreTree
    _registry: Registry

    def _refs(self, refs: Any) -> list[tuple[str, str]]:
        """Exact ``(name, version)`` pairs: ``"all"``/``None`` is every committed version;
        ``name`` alone every version of it; ``name@ref`` one version (alias, latest)."""
        if refs is None or refs == "all":
            return [(n, v) for n in self.names() for v in self._all_versions(n)]
        if isinstance(refs, str):
            refs = [refs]
        out: list[tuple[str, str]] = []
        for ref in refs:
            name, sep, version = str(ref).partition("@")
            pairs = ([(name, self.resolve(name, version))] if sep
                     else [(name, v) for v in self.versions(name)])
            out += [p for p in pairs if p not in out]
        return out

    def _all_versions(self, name: str) -> list[str]:
        head = self._registry.head(name)
        return list(head["versions"]) if head else []

    def export(self, refs: Any, path: str | os.PathLike[str], *,
               overwrite: bool = False) -> Any:
        """Write versions to one archive (``.zip`` or ``.tar.gz``, by ``path``'s suffix).

        ``refs``: ``"all"``, a name (every version), ``name@version``/``name@alias``, or a
        list of those. The archive holds each version's artifacts, record, card,
        evaluations and a ``requirements.txt``, the aliases of those versions, and a
        ``MANIFEST.sha256`` that ``sha256sum -c`` checks. Returns an
        :class:`~nbmodels.store.archive.ExportReport`.
        """
        from .archive.export import export_archive

        pairs = self._refs(refs)
        aliases = {n: self.aliases(n) for n in sorted({n for n, _ in pairs})}
        return export_archive(self._tree, pairs, path, overwrite=overwrite, aliases=aliases)

    def import_(self, path: str | os.PathLike[str]) -> Any:
        """Import an archive made by :meth:`export` or :meth:`backup`.

        Every member and hash is verified before anything is registered; a damaged,
        tampered or hostile archive imports nothing. Versions keep their numbers,
        identical ones are skipped, and one that exists here with other artifacts makes
        the whole import refused. Imported records get ``origin: imported``. Returns a
        :class:`~nbmodels.store.transfer.TransferReport`.
        """
        from .archive.import_ import import_archive

        return import_archive(self._tree, path)

    def backup(self, folder: str | os.PathLike[str], *, kind: str = "tar.gz") -> Any:
        """Export the whole store to ``folder/nbmodels-backup-{store}-{UTC time}.{kind}``;
        restore it with :meth:`import_` into an empty store."""
        from .archive.export import backup_name

        if kind not in ("tar.gz", "zip"):
            raise NBModelsError(f"kind must be 'tar.gz' or 'zip', got {kind!r}")
        dest = Path(folder).expanduser().absolute()
        parent = open_backend(dest.parent)
        parent.make_dirs(PurePosixPath(dest.name))
        return self.export("all", dest / backup_name(str(self.root), kind))

    def copy_to(self, other: ModelStore,  # noqa: F821 (the class this is a base of)
                *refs: str, move_aliases: bool = False) -> Any:
        """Copy versions (``"name@version"``, an alias, or a name for all its versions) to
        the store ``other`` with their records, cards and evaluations, keeping version
        numbers. Every artifact is hashed on the way; identical versions are skipped and
        one that exists there with other artifacts refuses the copy.

        The aliases that point at a copied version go along (``"churn_rf@production"``
        copies that version and sets ``production`` in ``other``) where ``other`` has no
        such alias; one that ``other`` has at another version is kept there and
        reported, unless ``move_aliases=True``. Returns a
        :class:`~nbmodels.store.transfer.TransferReport`."""
        from .transfer import copy_versions

        if not refs:
            raise NBModelsError("copy_to needs at least one NAME@VERSION")
        return copy_versions(self._tree, StoreTree(other.fs), self._refs(list(refs)),
                             move_aliases=move_aliases)

