"""Rewriting a committed version's record (an edit, merged metrics) without losing a
change made at the same moment elsewhere.

Locally the model's file lock keeps every other writer out, so the record is read,
changed and replaced under it, as before. On a remote store the lock keeps out this
process's writers only: another machine may rewrite or delete the same record at the
same moment. There the rewrite is a compare-and-swap on the record object: read it with
its token (the ETag), apply the caller's change to what was read, and write only if the
token is still that one (``If-Match``). When another writer came first the change is
applied again to the fresh record, a bounded number of times, so two edits of different
fields both land and, of two edits of one field, the later one wins. A record deleted
meanwhile is never written again (a conditional PUT of an absent key fails), so an edit
cannot bring a deleted version back.

The card is derived from the record and written after it; on a remote store it is then
checked against the record as it now stands (rewritten from it when another writer's
record came last, removed when the version was deleted meanwhile).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from ..errors import ConcurrentUpdateError
from ..record.validate import unusable_record
from ..storage.backend import json_bytes
from ..storage.layout import MODEL_CARD
from ..storage.local import parse_json
from .record_file import MAX_RECORD_BYTES, DamagedRecord
from .tree import StoreTree

__all__ = ["REWRITE_ATTEMPTS", "rewrite_record"]

#: How many times a remote rewrite reads the record again after another writer changed
#: it first, before it gives up with :class:`~nbmodels.errors.ConcurrentUpdateError`.
REWRITE_ATTEMPTS = 10

Change = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def rewrite_record(tree: StoreTree, name: str, version: str,
                   change: Change) -> dict[str, Any] | None:
    """Apply ``change`` to the record of ``name@version`` and write what it returns, then
    the card. Call with the model's lock held.

    ``change`` gets the record as read (a fresh copy on every attempt) and returns the
    new record, or ``None`` when there is nothing to write. Returns the record written
    (or read, when nothing changed), ``None`` when the version has no record (deleted).
    A damaged record raises :class:`~nbmodels.store.record_file.DamagedRecord`.
    """
    if tree.fs.lock_is_global:
        data = tree.registry.load_record(name, version)
        if data is None:
            return None
        new = change(data)
        if new is None:
            return data
        # The record is the truth and is written first; the card is derived from it (a
        # crash in between leaves a stale card, which gc rewrites).
        tree.fs.write_json(tree.meta_file(name, version), new)
        tree.write_card(tree.meta_dir(name, version), new)
        return new
    return _rewrite_shared(tree, name, version, change)


def _rewrite_shared(tree: StoreTree, name: str, version: str,
                    change: Change) -> dict[str, Any] | None:
    fs = tree.fs
    path = tree.meta_file(name, version)
    for attempt in range(REWRITE_ATTEMPTS):
        got = _read_for_update(tree, name, version)
        if got is None:
            return None
        data, token = got
        new = change(data)
        if new is None:
            return data
        written = json_bytes(new)
        if fs.replace_if(path, written, token):
            _settle_card(tree, name, version, new, written)
            return new
        # Another writer came first (or the version is gone): read again. The pause
        # grows and is random, so two writers that collided do not collide again.
        time.sleep(random.uniform(0.0, 0.02 * (attempt + 1)))
    raise ConcurrentUpdateError(
        f"the record of {name}@{version} was changed by other writers "
        f"{REWRITE_ATTEMPTS} times while this change was being made; its last attempt "
        f"was not written. Look at the record again and repeat the change if it still "
        f"applies")


def _read_for_update(tree: StoreTree, name: str,
                     version: str) -> tuple[dict[str, Any], str] | None:
    """The record and its token in one read; anything unusable is left to the registry's
    reader, which says what is wrong with it (:class:`DamagedRecord`)."""
    for _ in range(3):
        try:
            got = tree.fs.read_versioned(tree.meta_file(name, version), limit=MAX_RECORD_BYTES)
            if got is None:
                return None
            data = parse_json(got[0])
            if isinstance(data, dict) and not unusable_record(data, name, version):
                return data, got[1]
        except (OSError, ValueError):
            pass
        # Raises DamagedRecord, or finds the record gone; a record rewritten whole
        # meanwhile is read again.
        if tree.registry.load_record(name, version) is None:
            return None
    raise DamagedRecord("invalid_metadata", "cannot be read as a record (it is not "
                        "strict JSON: NaN or Infinity?)")


def _settle_card(tree: StoreTree, name: str, version: str, record: dict[str, Any],
                 written: bytes) -> None:
    """Write the card of ``record``, then make it agree with the record as it stands:
    another writer's record written after ours gets its own card, and a version deleted
    meanwhile loses the card it was just given (a lone card is never a leftover that gc
    would remove)."""
    meta_dir = tree.meta_dir(name, version)
    tree.write_card(meta_dir, record)
    now = tree.fs.read_versioned(tree.meta_file(name, version), limit=MAX_RECORD_BYTES)
    if now is None:
        tree.fs.remove_file(meta_dir / MODEL_CARD)
    elif now[0] != written:
        try:
            fresh = parse_json(now[0])
        except ValueError:
            return
        if isinstance(fresh, dict):
            tree.write_card(meta_dir, fresh)
