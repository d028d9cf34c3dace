"""The registry of one store: what the store asks about its models by name.

:class:`Registry` is the one object the store holds for this: the per-model locks,
the committed records (read through :mod:`nbmodels.store.record_file`), the index of
heads that makes ``latest``, ``versions`` and listings fast (inherited from
:class:`~nbmodels.store.index.ModelIndex`, a cache of ``metadata/``), the aliases
(:mod:`nbmodels.store.aliases`, the one registry file that is not derived: a damaged
one is never silently treated as empty) and the names that one folder would hold on a
case-insensitive disk.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ..storage.layout import METADATA, TRAINED, parse_version_dir, validate_name
from . import aliases as alias_file
from .index import ModelIndex
from .record_file import DamagedRecord, load_record, record_path

__all__ = ["Registry"]

_LOCK_TIMEOUT_S = 300.0


class Registry(ModelIndex):
    """Index, records, aliases and locks of one store, through its storage backend."""

    # -- locks ---------------------------------------------------------------------------
    def lock(self, name: str, timeout: float = _LOCK_TIMEOUT_S) -> Any:
        """The lock that serializes writers of ``name`` (a context manager)."""
        validate_name(name)  # the lock is named after it: never outside registry/
        return self.fs.lock(name, timeout)

    def is_locked_elsewhere(self, name: str) -> bool:
        """Whether another process holds ``name``'s lock right now."""
        validate_name(name)
        return self.fs.is_locked_elsewhere(name)

    # -- records -------------------------------------------------------------------------
    def record_path(self, name: str, version: str) -> str:
        """Where the record (the commit point) of a version lives."""
        return record_path(name, version)

    def load_record(self, name: str, version: str) -> dict[str, Any] | None:
        """The record of a version, checked once for every reader above: ``None`` when
        there is no ``metadata.json``, :class:`~nbmodels.store.record_file.DamagedRecord`
        when there is one that cannot be used (see
        :func:`~nbmodels.store.record_file.load_record`)."""
        return load_record(self.fs, name, version)

    def read_record(self, name: str, version: str) -> dict[str, Any] | None:
        """The committed record of a version, or ``None`` if absent or damaged."""
        try:
            return load_record(self.fs, name, version)
        except DamagedRecord:
            return None

    def is_committed(self, name: str, version: str) -> bool:
        """Whether the version's ``metadata.json`` exists as a regular file."""
        return self.fs.is_file(record_path(name, version))

    # -- aliases -------------------------------------------------------------------------
    def aliases_path(self, name: str) -> str:
        """Where ``name``'s aliases are kept."""
        return alias_file.aliases_path(name)

    def aliases(self, name: str) -> dict[str, str]:
        """``alias -> version`` for ``name`` (empty if it has none).

        Raises :class:`~nbmodels.store.aliases.AliasFileError` when the file exists but
        is not a readable ``{alias: version}`` object: its aliases are unknown, not absent.
        """
        return alias_file.read_aliases(self.fs, name)[0]

    def aliases_for_update(self, name: str) -> tuple[dict[str, str], str | None]:
        """:meth:`aliases` and a token of the file read (``None``: no file), to hand
        back to :meth:`write_aliases` so that a change made meanwhile by another
        writer is never overwritten."""
        return alias_file.read_aliases(self.fs, name)

    def write_aliases(self, name: str, aliases: dict[str, str],
                      expected: Any = alias_file.UNCONDITIONAL) -> None:
        """Replace ``name``'s aliases (durably: they are not derived from anything).

        Call with the model's lock held, after :meth:`aliases_for_update` succeeded,
        passing its token as ``expected``: the write is a compare-and-swap (see
        :func:`~nbmodels.store.aliases.write_aliases`).
        """
        alias_file.write_aliases(self.fs, name, aliases, expected)

    def aliased_names(self) -> list[str]:
        """Names that have an aliases file."""
        return alias_file.aliased_names(self.fs)

    # -- names that one folder would hold on a case-insensitive disk ------------------------
    def name_twin(self, name: str) -> str | None:
        """An existing model name that differs from ``name`` only by case, if any.

        On macOS and Windows defaults ``Churn_v1.0.0`` and ``churn_v1.0.0`` are one
        folder, so such a second name must never be created. One listing of
        ``metadata/`` and ``trained/``: callers ask only for a model that is new.
        """
        folded = name.casefold()
        for top in (METADATA, TRAINED):
            for entry in self.fs.list_dir(PurePosixPath(top)):
                if entry.casefold().startswith(folded) and not entry.startswith(name):
                    parsed = parse_version_dir(entry)
                    if parsed and parsed[0] != name and parsed[0].casefold() == folded:
                        return parsed[0]
        return None

    def version_twin(self, name: str, version: str) -> str | None:
        """An existing version of ``name`` that differs from ``version`` only by case
        (``1.0.0-RC.1`` beside ``1.0.0-rc.1``), if any. Only pre-releases hold letters,
        so plain versions cost nothing."""
        if version.lower() == version.upper():
            return None
        folded = version.casefold()
        prefix = f"{name}_v".casefold()
        for top in (METADATA, TRAINED):
            for entry in self.fs.list_dir(PurePosixPath(top)):
                if entry.casefold() != prefix + folded:
                    continue
                parsed = parse_version_dir(entry)
                if parsed and parsed[0] == name and parsed[1] != version:
                    return parsed[1]
        return None
