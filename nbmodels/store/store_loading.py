"""Loading a version, trusting one, and remembering where a loaded object came from:
the part of :class:`~nbmodels.store.model_store.ModelStore` that ``load`` and ``trust``
are, and :func:`provenance` (hashes are checked against the record before anything is
deserialized; pickles load only when trusted: :mod:`nbmodels.store.trust`).
"""

from __future__ import annotations

import weakref
from typing import Any

from ..errors import IntegrityError
from ..formats import ArtifactSource, format_for_record
from ..record.record import bad_file_entry
from ..storage import StorageBackend
from . import trust as trust_store
from .tree import StoreTree

__all__ = ["LoadingMixin", "Provenance", "provenance"]

# Where a loaded object came from, without touching the object itself.
_PROVENANCE: weakref.WeakKeyDictionary[Any, tuple[str, str, str]] = weakref.WeakKeyDictionary()
# Objects that cannot be weakly referenced (dicts, lists, tuples, arrays) are kept by id
# together with the object itself, so only the most recent few: a loop that loads such
# objects must not keep every one of them alive.
_PROVENANCE_BY_ID: dict[int, tuple[Any, tuple[str, str, str]]] = {}
_PROVENANCE_BY_ID_MAX = 32


class Provenance(tuple):
    """``(store_root, name, version)`` of a loaded object; :attr:`artifacts` holds the
    sha256 of each artifact it was loaded from, so that results measured on it are
    never filed under other artifacts saved later as the same version."""

    artifacts: tuple[str, ...] = ()


def provenance(model: Any) -> tuple[str, str, str] | None:
    """``(store_root, name, version)`` of an object returned by :meth:`ModelStore.load`
    (a :class:`Provenance`, whose ``artifacts`` are the hashes it was loaded from)."""
    try:
        return _PROVENANCE.get(model)
    except TypeError:  # not weak-referenceable
        entry = _PROVENANCE_BY_ID.get(id(model))
        return entry[1] if entry and entry[0] is model else None


def _remember(model: Any, where: tuple[str, str, str]) -> None:
    try:
        _PROVENANCE[model] = where
    except TypeError:
        _PROVENANCE_BY_ID.pop(id(model), None)
        _PROVENANCE_BY_ID[id(model)] = (model, where)
        while len(_PROVENANCE_BY_ID) > _PROVENANCE_BY_ID_MAX:
            del _PROVENANCE_BY_ID[next(iter(_PROVENANCE_BY_ID))]


class LoadingMixin:
    """``load`` and ``trust`` of a :class:`~nbmodels.store.model_store.ModelStore`
    (which it is a base of: it resolves versions and reads records through the store)."""

    root: Any
    fs: StorageBackend
    _tree: StoreTree

    def load(self, name: str, version: str = "latest", *, strict: bool = False,
             trust: bool = False, **load_options: Any) -> Any:
        """Load a version: ``latest``, an exact semver, or an alias (``name@ref`` works too).

        Every artifact's size and sha256 are checked against the record before anything
        is deserialized; a mismatch raises :class:`IntegrityError` naming the file.
        ``load_options`` go to the format: ``weights_only=True, into=MyNet()`` (torch,
        no code unpickled), ``trusted=[...]`` (skops), ``custom_objects`` (keras), ...;
        ``weights_only=True`` on a format that has no weights-only form is refused.

        When the saved environment differs from this one (Python major.minor, package
        versions; scikit-learn's ``InconsistentVersionWarning`` is folded in), one
        :class:`~nbmodels.record.environment.EnvironmentWarning` carries a structured report
        with the ``pip install`` line to match; ``strict=True`` raises
        :class:`~nbmodels.errors.EnvironmentMismatchError` instead.

        A version whose loading runs code (a pickle: joblib, pickle, a whole torch
        module) loads only when this user saved it or trusted it: otherwise
        :class:`~nbmodels.errors.UntrustedArtifactError` says where it came from and how
        to inspect it, before anything is unpickled. ``trust=True`` trusts it (and
        remembers that for these exact artifacts, see :meth:`trust`).
        """
        name, exact, rec = self._located_record(name, version)
        fmt = format_for_record(rec)
        fmt.check_available()
        fmt.check_options("load", load_options)
        if not rec.files:
            raise IntegrityError(f"{name}@{exact} has no file hashes in its record (a folder "
                                 f"made by hand); run `nbmodels rebuild-index` to adopt it")
        bad = bad_file_entry(rec.files)
        if bad:
            raise IntegrityError(f"the record of {name}@{exact} is damaged: {bad}; refusing "
                                 f"to load it")
        if trust_store.code_runs_on_load(fmt, load_options) and not trust_store.is_trusted(
                rec.files):
            if not trust:
                raise trust_store.refusal(
                    str(self.root), name, exact, rec.to_dict(), fmt,
                    [self.fs.display(self._tree.trained(name, exact) / f["name"])
                     for f in rec.files])
            trust_store.remember(rec.files, how="trusted", ref=f"{name}@{exact}",
                                 store=str(self.root))
        source = ArtifactSource(self.fs, self._tree.trained(name, exact), rec.files)
        from ..record.environment import load_checked, load_failure

        try:
            model, _ = load_checked(
                lambda: fmt.load(source, dict(rec.get("format_info") or {}), **load_options),
                rec, strict=strict)
        except Exception as exc:
            # Saved elsewhere (an older scikit-learn): say so, with the pip line that loads it.
            wrapped = load_failure(rec, exc)
            if wrapped is None:
                raise
            raise wrapped from exc
        where = Provenance((str(self.root), name, exact))
        where.artifacts = tuple(f["sha256"] for f in rec.files)
        _remember(model, where)
        return model

    def trust(self, name: str, version: str = "latest") -> str:
        """Trust a version's artifacts to run code when loaded, for this user; returns
        the exact version.

        The artifact hashes of its record are remembered in this user's configuration
        folder (never in the store): a later load of these exact bytes, from any store,
        needs no ``trust=True``; changed bytes fail the hash check anyway.
        """
        name, exact, rec = self._located_record(name, version)
        bad = bad_file_entry(rec.files) if rec.files else "no file hashes"
        if bad:
            raise IntegrityError(f"{name}@{exact} cannot be trusted: its record has {bad}; "
                                 f"run `nbmodels verify`")
        trust_store.remember(rec.files, how="trusted", ref=f"{name}@{exact}",
                             store=str(self.root))
        return exact

