"""The index: a derived cache of ``metadata/`` that makes ``latest``, ``versions`` and
listings fast, one head per model.

``registry/index/{name}/head.json`` holds one model's committed versions in semver
order, its latest version and that version's summary. It is a cache of ``metadata/``,
checked before use at a cost that follows the model, not the store:

- ``stamp``: the state of ``metadata/`` when the head was computed. While it is
  unchanged no version folder was added or removed anywhere, and the head stands.
- When it changed (any model was saved since), one listing of ``metadata/`` is
  filtered down to this model's folders; the head still stands if they are the same
  set of versions (and no pending one got its record).
- ``pending``: version folders without a ``metadata.json`` when the head was
  computed (a save in progress, a crash): each is looked at again, since its commit
  point may appear without ``metadata/`` itself changing.
- ``damaged``: versions above the latest whose ``metadata.json`` is there but unusable
  (not JSON, wrong types, a FIFO...: see :mod:`nbmodels.record.validate`), with the
  identity of that file and the reason; a repaired file has a new identity and is
  read again.
- ``record_stamp``: the identity of the latest version's ``metadata.json``, so an
  edited record is noticed.

Nothing in a head is trusted to build a path: every entry must be a version, the
versions sorted and the latest the last of them; a head that is not is recomputed.
A head forged together with a copy of the current stamps can still make ``latest``
name an older committed version of the same model (``verify`` reports it and any
read after the next change of ``metadata/`` repairs it); see docs/guarantees.md.

A save needs only ``head.json``: it appends its version to the ``versions.json`` that
``head.json`` counts (length, last entry, ``versions_digest``) without checking its
entries one by one, since it builds no path from them; whoever reads the list checks it.

Anything else is recomputed from ``metadata/`` and written back, so hand edits,
deletions and crashes between commit and index update are repaired on the next read.
(Aliases are not derived, and live apart: :mod:`nbmodels.store.aliases`.)
"""

from __future__ import annotations

import bisect
import contextlib
import json
import operator
from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

from ..record.validate import check_record
from ..storage.backend import StorageBackend, json_bytes
from ..storage.layout import METADATA, REGISTRY, parse_version_dir
from ..storage.versions import all_look_like_versions, looks_like_version, sort_key, sort_versions
from .record_file import (
    MAX_RECORD_BYTES,
    DamagedRecord,
    checked_summary,
    load_record,
    record_path,
    summarize,
)

__all__ = ["ModelIndex"]

_META = PurePosixPath(METADATA)
_REG = PurePosixPath(REGISTRY)


class ModelIndex:
    """The heads of one store's models (``registry/index/``), through its backend."""

    def __init__(self, fs: StorageBackend) -> None:
        self.fs = fs
        # name -> token of the head last read, for compare-and-swap writes where the
        # lock does not keep out other machines (a remote store)
        self._head_tokens: dict[str, str | None] = {}

    # -- scanning the truth ---------------------------------------------------------------
    def scan(self, entries: list[str] | None = None) -> dict[str, list[str]]:
        """Every ``name -> [versions]`` with a folder under ``metadata/`` (unordered)."""
        found: dict[str, list[str]] = defaultdict(list)
        for entry in self.fs.list_dir(_META) if entries is None else entries:
            parsed = parse_version_dir(entry)
            if parsed:
                found[parsed[0]].append(parsed[1])
        return dict(found)

    def scan_stamped(self) -> tuple[list[int], list[str]]:
        """The stamp of ``metadata/`` and its entries, the stamp taken first.

        A head computed from this listing is fresh only while the stamp is unchanged: a
        folder added or removed after the stamp was taken shows as a new stamp.
        """
        stamp = self.fs.stamp(_META)
        return stamp, self.fs.list_dir(_META)

    def versions_in(self, name: str, entries: list[str]) -> list[str]:
        """The version folders of ``name`` among ``metadata/``'s entries (unordered)."""
        prefix = f"{name}_v"
        out = []
        for entry in entries:
            if entry.startswith(prefix):
                parsed = parse_version_dir(entry)
                if parsed and parsed[0] == name:
                    out.append(parsed[1])
        return out


    # -- heads ---------------------------------------------------------------------------
    def _head_path(self, name: str) -> PurePosixPath:
        return PurePosixPath(f"{REGISTRY}/index/{name}/head.json")

    def _versions_path(self, name: str) -> PurePosixPath:
        return PurePosixPath(f"{REGISTRY}/index/{name}/versions.json")

    def read_head(self, name: str, *, versions: bool = True) -> dict[str, Any] | None:
        """The stored head of ``name`` as it is on disk (fresh or not), or ``None``.

        The head is two files: ``head.json`` (latest, summary, stamps: what ``latest``
        and ``list()`` need, small whatever the number of versions) and
        ``versions.json`` (the sorted versions, read only when ``versions``).
        """
        try:
            if self.fs.lock_is_global:
                head = self.fs.read_json(self._head_path(name), limit=MAX_RECORD_BYTES)
            else:
                got = self.fs.read_versioned(self._head_path(name))
                self._head_tokens[name] = None if got is None else got[1]
                head = None if got is None else json.loads(got[0])
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(head, dict) or head.get("name") != name:
            return None
        head.pop("versions", None)  # only versions.json says which versions there are
        pending, latest, count = head.get("pending"), head.get("latest"), head.get("count")
        damaged = head.setdefault("damaged", {})
        # A forged or damaged head must never put a path together: every entry must be
        # a version, the versions in order, and the latest the last of them.
        if not (isinstance(pending, list) and isinstance(damaged, dict)
                and isinstance(count, int) and count >= (1 if latest else 0)
                and (latest is None or looks_like_version(latest))
                and all(looks_like_version(v) for v in pending + list(damaged))
                and all(isinstance(d, dict) and isinstance(d.get("identity"), list)
                        and isinstance(d.get("problem"), str) for d in damaged.values())
                and (latest or damaged)):
            return None
        aside = set(pending) | set(damaged)
        if len(aside) != len(pending) + len(damaged) or latest in aside:
            return None
        problems = head.setdefault("problems", [])
        if not (isinstance(problems, list) and all(isinstance(p, str) for p in problems)):
            return None
        summary = head.get("summary")
        head["summary"] = (checked_summary(summary) if isinstance(summary, dict) and latest
                           else {})
        if versions:
            listed = self._read_versions(name, head)
            if listed is None:
                return None
            head["versions"] = listed
        return head

    def _versions_file(self, name: str, head: dict[str, Any]) -> list[Any] | None:
        """The list of ``versions.json`` if it has ``head``'s count and latest (its
        entries not checked)."""
        try:
            data = self.fs.read_json(self._versions_path(name), limit=MAX_RECORD_BYTES)
        except (OSError, ValueError, RecursionError):
            return None
        listed = data.get("versions") if isinstance(data, dict) else None
        if not (isinstance(listed, list) and data.get("name") == name
                and len(listed) == head["count"]
                and (listed[-1] if listed else None) == head["latest"]):
            return None
        return listed

    def _read_versions(self, name: str, head: dict[str, Any]) -> list[str] | None:
        """The sorted versions of ``versions.json``, if they agree with ``head``."""
        listed = self._versions_file(name, head)
        if listed is None or not all_look_like_versions(listed):
            return None
        keys = list(map(sort_key, listed))
        if not all(map(operator.lt, keys, keys[1:])):  # sorted, so also no duplicates
            return None
        if not (set(head["pending"]) | set(head["damaged"])).isdisjoint(listed):
            return None
        return listed

    def fresh_head(self, name: str, stamp: list[int] | None = None,
                   found: dict[str, list[str]] | None = None, *,
                   versions: bool = True) -> dict[str, Any] | None:
        """The head of ``name`` if it still describes ``metadata/``, else ``None``.

        ``stamp`` and ``found`` are a listing of ``metadata/`` the caller already made
        and grouped by name (:meth:`scan_stamped`, then :meth:`scan`); without them, one
        listing is made only if the stamp changed. ``versions=False`` leaves the list
        of versions out unless the check needs it (``latest`` and listings do not).
        """
        head = self.read_head(name, versions=False)
        if head is None:
            return None
        current = self.fs.stamp(_META) if stamp is None else stamp
        damaged = head["damaged"]
        if head.get("stamp") != current:
            if damaged:
                return None  # re-read what was damaged: it may be repaired, or a lie
            on_disk = (self.versions_in(name, self.fs.list_dir(_META)) if found is None
                       else found.get(name, []))
            rest = set(on_disk) - set(head["pending"])
            if (len(rest) != head["count"] or len(on_disk) != len(rest) + len(head["pending"])
                    or _set_digest(rest) != head.get("versions_digest")
                    or (rest and max(rest, key=sort_key) != head["latest"])):
                return None  # a version folder came or went, or the head lies: recompute
        if any(self.fs.exists(record_path(name, v)) for v in head["pending"]):
            return None  # a save in progress has committed since
        for version, entry in damaged.items():
            info = self.fs.stat(record_path(name, version))
            if info is None or list(info.identity) != entry["identity"]:
                return None  # repaired, replaced or deleted
        if head["latest"] is not None:
            latest_stamp = self.fs.stat(record_path(name, head["latest"]))
            if latest_stamp is None or list(latest_stamp.identity) != head.get("record_stamp"):
                return None
        if versions and "versions" not in head:
            listed = self._read_versions(name, head)
            if listed is None:
                return None
            head["versions"] = listed
        return head

    def versions_of(self, head: dict[str, Any]) -> list[str]:
        """The sorted versions of a head that may have come without them
        (``versions=False``): read from ``versions.json`` and checked, or, when that
        file does not agree with the head, the head recomputed."""
        if "versions" in head:
            return head["versions"]
        listed = self._read_versions(head["name"], head)
        if listed is None:
            # (``head`` is left without them: its other fields are not the new head's.)
            fresh = self.refresh(head["name"])
            return fresh["versions"] if fresh is not None else []
        head["versions"] = listed
        return listed

    def versions_digest(self, versions: Any) -> str:
        """The fingerprint of a set of versions that a head keeps as
        ``versions_digest`` (order-free): a cache of per-version facts can tell with it
        whether it covers exactly the versions of a head, without their list."""
        return _set_digest(versions)

    def entry(self, name: str, stamp: list[int] | None = None,
              found: dict[str, list[str]] | None = None, *,
              versions: bool = True) -> dict[str, Any] | None:
        """The up-to-date head of ``name`` (recomputed and rewritten when stale), also
        for a model none of whose versions is readable (``latest`` is ``None`` and
        ``damaged`` says why); ``None`` when the model has no version folder at all.
        With ``versions=False`` the head may come without its ``versions`` list (it
        always has ``count``)."""
        head = self.fresh_head(name, stamp, found, versions=versions)
        if head is not None:
            return head
        return self.refresh(name, stamp, found)

    def head(self, name: str, stamp: list[int] | None = None,
             found: dict[str, list[str]] | None = None, *,
             versions: bool = True) -> dict[str, Any] | None:
        """The up-to-date head of ``name`` (recomputed and rewritten when stale), or
        ``None`` when the model has no readable version."""
        head = self.entry(name, stamp, found, versions=versions)
        return head if head is not None and head["latest"] is not None else None

    def refresh(self, name: str, stamp: list[int] | None = None,
                found: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
        """Recompute ``name``'s head from ``metadata/`` and store it.

        The stamp is taken before the listing (or given with the listing ``found`` the
        caller made), so a folder added meanwhile makes the head look stale rather
        than letting it miss that folder. Version folders without a record are kept
        as ``pending``, and versions above the latest whose record is damaged as
        ``damaged``; both are looked at again on every read. Returns what
        :meth:`entry` returns.
        """
        if not self.fs.lock_is_global:
            return self._refresh_shared(name)
        return self._compute_head(name, stamp, found, write=True)

    def _refresh_shared(self, name: str) -> dict[str, Any] | None:
        """:meth:`refresh` where other machines write too: the head is replaced only if
        nobody replaced it since it was read, else recomputed from a newer listing, so
        a head computed before another save committed never overwrites a newer one."""
        head = None
        for _attempt in range(8):
            got = None
            with contextlib.suppress(OSError, ValueError):
                got = self.fs.read_versioned(self._head_path(name))
            token = None if got is None else got[1]
            head = self._compute_head(name, None, None, write=False)
            if head is None:
                return None
            if self._write_head(head, token):
                return head
        return head

    def _compute_head(self, name: str, stamp: list[int] | None,
                      found: dict[str, list[str]] | None, *,
                      write: bool) -> dict[str, Any] | None:
        if stamp is None or found is None:
            stamp, entries = self.scan_stamped()
            candidates = sort_versions(self.versions_in(name, entries))
        else:
            candidates = sort_versions(found.get(name, []))
        committed, pending = [], []
        damaged: dict[str, dict[str, Any]] = {}
        for v in candidates:
            info = self.fs.stat(record_path(name, v))
            if info is None:
                pending.append(v)
            elif info.kind != "file":
                damaged[v] = {"identity": list(info.identity), "kind": "special_file",
                              "problem": f"is {info.what}, not a regular file; the store "
                                         f"never reads it"}
            else:
                committed.append(v)
        record = None
        record_stamp = None
        # The latest is the highest version with a readable record; a higher one whose
        # record is damaged is kept aside with the reason (verify reports it).
        while committed:
            version = committed[-1]
            info = self.fs.stat(record_path(name, version))  # before reading
            try:
                record = load_record(self.fs, name, version)
            except DamagedRecord as exc:
                if info is not None:
                    damaged[version] = {"identity": list(info.identity), "kind": exc.kind,
                                        "problem": exc.reason}
                    committed.pop()
                    continue
                record = None
            if record is not None and info is not None:
                record_stamp = list(info.identity)
                break
            pending.append(committed.pop())
        if not committed and not damaged:
            with contextlib.suppress(OSError):
                self.fs.remove_tree(self._head_path(name).parent)
            return None
        head = {"name": name, "latest": committed[-1] if committed else None,
                "versions": committed, "count": len(committed),
                "pending": sorted(pending, key=sort_key),
                "damaged": dict(sorted(damaged.items(), key=lambda kv: sort_key(kv[0]))),
                "stamp": stamp, "record_stamp": record_stamp,
                "summary": summarize(record) if record is not None else {},
                "problems": (check_record(record, name, committed[-1])[:3]
                             if record is not None else [])}
        if write and self.fs.stamp(_META) == stamp:
            # Written only while the listing is still current: a head computed before a
            # save committed elsewhere never replaces the newer head that save wrote.
            self._write_head(head)
        return head

    _UNCONDITIONAL: Any = object()

    def _write_head(self, head: dict[str, Any], expected: Any = _UNCONDITIONAL) -> bool:
        """Store a head; with ``expected`` (a token, or ``None`` for absent) only if the
        stored ``head.json`` is still that. ``False`` when another writer came first.

        The versions go to ``versions.json`` first: a ``head.json`` is only used with
        the ``versions.json`` it counts, so a head whose list lost a race is recomputed.
        """
        name, listed = head["name"], head["versions"]
        path = self._head_path(name)
        small = {k: v for k, v in head.items() if k != "versions"}
        small["count"] = len(listed)
        small["versions_digest"] = _set_digest(listed)
        # The head is a cache: a store that readers cannot write to (shared, read-only)
        # still answers, and a write that fails (gc took its temp file) is just skipped.
        try:
            self.fs.make_dirs(path.parent)
            self.fs.replace(self._versions_path(name),
                            json.dumps({"name": name, "versions": listed},
                                       separators=(",", ":")).encode("utf-8"),
                            durable=False)
            if expected is self._UNCONDITIONAL:
                self.fs.write_json(path, small, durable=False)
                return True
            return self.fs.replace_if(path, json_bytes(small), expected)
        except OSError:
            return True

    def committed(self, name: str, version: str, record: dict[str, Any],
                  before: dict[str, Any] | None) -> dict[str, Any] | None:
        """Update ``name``'s head after ``version`` was committed with ``record``.

        ``before`` is the fresh head the writer read under the model's lock before it
        committed; the new head is that one with the version added (no listing and no
        reading of other records, so a save among 10,000 versions costs what a save
        among ten does). Without it the head is recomputed.
        """
        if before is None or before.get("name") != name:
            return self.refresh(name)
        shared = not self.fs.lock_is_global
        versions = self._versions_after(name, version, before)
        if versions is None:
            return self.refresh(name)
        head = {**before, "versions": versions,
                "pending": [v for v in before["pending"] if v != version],
                "damaged": {v: d for v, d in before.get("damaged", {}).items()
                            if v != version},
                "stamp": self.fs.stamp(_META), "latest": versions[-1],
                "count": len(versions)}
        if versions[-1] == version:
            info = self.fs.stat(record_path(name, version))
            if info is None:
                return self.refresh(name)
            head["record_stamp"] = list(info.identity)
            head["summary"] = summarize(record)
            head["problems"] = check_record(record, name, version)[:3]
        if shared:
            # Another machine may have saved since ``before`` was read: swap only if
            # the head is still that one, else recompute from a listing.
            if not self._write_head(head, self._head_tokens.get(name)):
                return self.refresh(name)
            return head
        self._write_head(head)
        return head

    def _versions_after(self, name: str, version: str,
                        before: dict[str, Any]) -> list[str] | None:
        """``before``'s versions with ``version`` added in order, or ``None`` if they
        cannot be had without a listing.

        A save of a new highest version (the common case) appends it to the list of
        ``versions.json`` as it is on disk, once that list is the one ``before``
        counts (its length, last entry and ``versions_digest``): no entry is checked or
        compared one by one, since nothing here builds a path from them and every
        reader checks the list it reads (:meth:`_read_versions`). Anything else goes
        through that check first.
        """
        listed = before.get("versions")
        if listed is None:
            listed = self._raw_versions(name, before)
            if listed is not None and (not listed or sort_key(version) > sort_key(listed[-1])):
                return [*listed, version]
            listed = self._read_versions(name, before)
            if listed is None:
                return None
        versions = list(listed)  # sorted: insert in place, no re-sort
        if version not in versions:
            bisect.insort(versions, version, key=sort_key)
        return versions

    def _raw_versions(self, name: str, head: dict[str, Any]) -> list[str] | None:
        """The list of ``versions.json`` if it is the one ``head`` describes (same
        count, last entry and set digest), its entries unchecked."""
        listed = self._versions_file(name, head)
        if listed is None or not (all(type(v) is str for v in listed)
                                  and _set_digest(listed) == head.get("versions_digest")):
            return None
        return listed

    def drop_index(self) -> None:
        """Remove every head (``registry/index``); reads recompute them."""
        self.fs.remove_tree(_REG / "index")

    def indexed_names(self) -> list[str]:
        """Names that have a head in the index."""
        return sorted(self.fs.list_dir(_REG / "index"))


def _set_digest(versions: Any) -> str:
    """A fingerprint of a set of versions (order-free): lets a read check its head
    against a listing of ``metadata/`` without reading the head's list of versions."""
    import hashlib

    return hashlib.sha1("\n".join(sorted(versions)).encode("utf-8"),
                        usedforsecurity=False).hexdigest()
