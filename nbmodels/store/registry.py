"""The registry: a derived index that makes ``latest``, ``versions`` and listings fast,
plus aliases.

``registry/index/{name}/head.json`` holds one model's committed versions in semver
order, its latest version and that version's summary. It is a cache of ``metadata/``,
checked before use at a cost that follows the model, not the store:

- ``stamp``: the state of ``metadata/`` when the head was computed. While it is
  unchanged no version folder was added or removed anywhere, and the head stands.
- When it changed (any model was saved since), one listing of ``metadata/`` is
  filtered down to this model's folders; the head still stands if they are the same
  set of versions (and no pending one got its record).
- ``pending``: version folders without a readable ``metadata.json`` when the head was
  computed (a save in progress, a crash, a damaged record): each is looked at again,
  since its commit point may appear without ``metadata/`` itself changing.
- ``record_stamp``: the identity of the latest version's ``metadata.json``, so an
  edited record is noticed.

Anything else is recomputed from ``metadata/`` and written back, so hand edits,
deletions and crashes between commit and index update are repaired on the next read.
``registry/aliases/{name}.json`` is not derived: it is the source of truth for
aliases, and a damaged one is never silently treated as empty (see
:class:`AliasFileError`).
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any

from ..errors import ConcurrentUpdateError, IntegrityError
from ..record.record import HEADLINE_METRICS, record_tags
from ..storage.backend import StorageBackend, json_bytes
from ..storage.layout import (
    METADATA,
    METADATA_FILE,
    REGISTRY,
    parse_version_dir,
    validate_name,
    version_dir,
)
from ..storage.versions import is_version, looks_like_version, sort_key, sort_versions

__all__ = ["AliasFileError", "Registry", "summarize"]

_LOCK_TIMEOUT_S = 300.0
_META = PurePosixPath(METADATA)
_REG = PurePosixPath(REGISTRY)


class AliasFileError(IntegrityError):
    """A model's aliases file exists but cannot be read as ``{alias: version}``.

    Aliases are not derived from anything, so the store neither guesses nor overwrites
    them: reading them raises this error and changing them is refused until the file
    is repaired by hand (or moved away, which drops every alias of the model).
    """


class Registry:
    """Index, aliases and locks of one store, through its storage backend."""

    def __init__(self, fs: StorageBackend) -> None:
        self.fs = fs
        # name -> token of the head last read, for compare-and-swap writes where the
        # lock does not keep out other machines (a remote store)
        self._head_tokens: dict[str, str | None] = {}

    # -- locks ---------------------------------------------------------------------------
    def lock(self, name: str, timeout: float = _LOCK_TIMEOUT_S) -> Any:
        """The lock that serializes writers of ``name`` (a context manager)."""
        validate_name(name)  # the lock is named after it: never outside registry/
        return self.fs.lock(name, timeout)

    def is_locked_elsewhere(self, name: str) -> bool:
        """Whether another process holds ``name``'s lock right now."""
        validate_name(name)
        return self.fs.is_locked_elsewhere(name)

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

    def record_path(self, name: str, version: str) -> str:
        """Where the record (the commit point) of a version lives."""
        return f"{METADATA}/{version_dir(name, version)}/{METADATA_FILE}"

    def read_record(self, name: str, version: str) -> dict[str, Any] | None:
        """The committed record of a version, or ``None`` if absent or unreadable."""
        try:
            data = self.fs.read_json(self.record_path(name, version))
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def is_committed(self, name: str, version: str) -> bool:
        """Whether the version's ``metadata.json`` exists as a regular file."""
        return self.fs.is_file(self.record_path(name, version))

    # -- heads ---------------------------------------------------------------------------
    def _head_path(self, name: str) -> PurePosixPath:
        return PurePosixPath(f"{REGISTRY}/index/{name}/head.json")

    def read_head(self, name: str) -> dict[str, Any] | None:
        """The stored head of ``name`` as it is on disk (fresh or not), or ``None``."""
        try:
            if self.fs.lock_is_global:
                head = self.fs.read_json(self._head_path(name))
            else:
                got = self.fs.read_versioned(self._head_path(name))
                self._head_tokens[name] = None if got is None else got[1]
                head = None if got is None else json.loads(got[0])
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(head, dict) or head.get("name") != name:
            return None
        versions, pending, latest = head.get("versions"), head.get("pending"), head.get("latest")
        # A forged or damaged head must never put a path together: every entry must be
        # a version, and the latest one of the list.
        if not (isinstance(versions, list) and isinstance(pending, list) and versions
                and all(looks_like_version(v) for v in versions + pending)
                and latest == versions[-1]):
            return None
        return head

    def fresh_head(self, name: str, stamp: list[int] | None = None,
                   found: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
        """The head of ``name`` if it still describes ``metadata/``, else ``None``.

        ``stamp`` and ``found`` are a listing of ``metadata/`` the caller already made
        and grouped by name (:meth:`scan_stamped`, then :meth:`scan`); without them, one
        listing is made only if the stamp changed.
        """
        head = self.read_head(name)
        if head is None:
            return None
        current = self.fs.stamp(_META) if stamp is None else stamp
        if head.get("stamp") != current:
            versions = (self.versions_in(name, self.fs.list_dir(_META)) if found is None
                        else found.get(name, []))
            if set(versions) != set(head["versions"]) | set(head["pending"]):
                return None
        if any(self.fs.exists(self.record_path(name, v)) for v in head["pending"]):
            return None  # a save in progress has committed since
        latest_stamp = self.fs.stat(self.record_path(name, head["latest"]))
        if latest_stamp is None or list(latest_stamp.identity) != head.get("record_stamp"):
            return None
        return head

    def head(self, name: str, stamp: list[int] | None = None,
             found: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
        """The up-to-date head of ``name`` (recomputed and rewritten when stale), or
        ``None`` when the model has no readable version."""
        head = self.fresh_head(name, stamp, found)
        if head is not None:
            return head
        return self.refresh(name, stamp, found)

    def refresh(self, name: str, stamp: list[int] | None = None,
                found: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
        """Recompute ``name``'s head from ``metadata/`` and store it.

        The stamp is taken before the listing (or given with the listing ``found`` the
        caller made), so a folder added meanwhile makes the head look stale rather
        than letting it miss that folder. Version folders without a readable record
        are kept as ``pending`` and looked at on every read.
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
        for v in candidates:
            (committed if self.is_committed(name, v) else pending).append(v)
        record = None
        record_stamp = None
        # The latest is the highest version with a readable record; a higher one whose
        # record is damaged stays pending (verify reports it).
        while committed:
            info = self.fs.stat(self.record_path(name, committed[-1]))  # before reading
            record = self.read_record(name, committed[-1])
            if record is not None and info is not None:
                record_stamp = list(info.identity)
                break
            pending.append(committed.pop())
        if record is None:
            with contextlib.suppress(OSError):
                self.fs.remove_tree(self._head_path(name).parent)
            return None
        head = {"name": name, "latest": committed[-1], "versions": committed,
                "pending": sorted(pending, key=sort_key), "stamp": stamp,
                "record_stamp": record_stamp, "summary": summarize(record)}
        if write:
            self._write_head(head)
        return head

    _UNCONDITIONAL: Any = object()

    def _write_head(self, head: dict[str, Any], expected: Any = _UNCONDITIONAL) -> bool:
        """Store a head; with ``expected`` (a token, or ``None`` for absent) only if the
        stored one is still that. ``False`` when another writer came first."""
        path = self._head_path(head["name"])
        # The head is a cache: a store that readers cannot write to (shared, read-only)
        # still answers, and a write that fails (gc took its temp file) is just skipped.
        try:
            self.fs.make_dirs(path.parent)
            if expected is self._UNCONDITIONAL:
                self.fs.write_json(path, head, durable=False)
                return True
            return self.fs.replace_if(path, json_bytes(head), expected)
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
        versions = sorted(set(before["versions"]) | {version}, key=sort_key)
        head = {**before, "versions": versions,
                "pending": [v for v in before["pending"] if v != version],
                "stamp": self.fs.stamp(_META), "latest": versions[-1]}
        if versions[-1] == version:
            info = self.fs.stat(self.record_path(name, version))
            if info is None:
                return self.refresh(name)
            head["record_stamp"] = list(info.identity)
            head["summary"] = summarize(record)
        if shared:
            # Another machine may have saved since ``before`` was read: swap only if
            # the head is still that one, else recompute from a listing.
            if not self._write_head(head, self._head_tokens.get(name)):
                return self.refresh(name)
            return head
        self._write_head(head)
        return head

    def drop_index(self) -> None:
        """Remove every head (``registry/index``); reads recompute them."""
        self.fs.remove_tree(_REG / "index")

    def indexed_names(self) -> list[str]:
        """Names that have a head in the index."""
        return sorted(self.fs.list_dir(_REG / "index"))

    # -- aliases -------------------------------------------------------------------------
    def aliases_path(self, name: str) -> str:
        """Where ``name``'s aliases are kept."""
        return f"{REGISTRY}/aliases/{name}.json"

    def aliases(self, name: str) -> dict[str, str]:
        """``alias -> version`` for ``name`` (empty if it has none).

        Raises :class:`AliasFileError` when the file exists but is not a readable
        ``{alias: version}`` object: its aliases are unknown, not absent.
        """
        return self.aliases_for_update(name)[0]

    def aliases_for_update(self, name: str) -> tuple[dict[str, str], str | None]:
        """:meth:`aliases` and a token of the file read (``None``: no file), to hand
        back to :meth:`write_aliases` so that a change made meanwhile by another
        writer is never overwritten."""
        path = self.aliases_path(name)
        info = self.fs.stat(path)
        if info is None:
            return {}, None
        problem = None
        data: Any = None
        token = None
        if info.kind != "file":
            problem = "is not a regular file"
        else:
            try:
                got = self.fs.read_versioned(path, limit=1 << 20)
                if got is None:
                    return {}, None
                data, token = json.loads(got[0]), got[1]
            except (OSError, ValueError, RecursionError) as exc:
                problem = f"cannot be read ({exc})"
        if problem is None and not isinstance(data, dict):
            problem = "does not hold a JSON object"
        if problem is None:
            # Only entries that name a version: a hand-edited target such as "../../x"
            # must never become part of a path.
            bad = [k for k, v in data.items() if not (isinstance(v, str) and is_version(v))]
            if bad:
                problem = f"has entries that are not versions: {', '.join(map(str, bad[:5]))}"
        if problem is not None:
            raise AliasFileError(
                f"the aliases of {name!r} are unknown: {self.fs.display(path)} {problem}. "
                f"Repair it by hand (a JSON object such as {{\"production\": \"1.2.0\"}}), "
                f"or move it away to drop every alias of {name!r}; aliases are not "
                f"changed until then, so none is lost")
        return {str(k): v for k, v in data.items()}, token

    _ANY: Any = object()

    def write_aliases(self, name: str, aliases: dict[str, str], expected: Any = _ANY) -> None:
        """Replace ``name``'s aliases (durably: they are not derived from anything).

        Call with the model's lock held, after :meth:`aliases_for_update` succeeded
        (which refuses a damaged file, so a write never replaces aliases that could not
        be read), passing its token as ``expected``: the write is a compare-and-swap,
        and :class:`ConcurrentUpdateError` says that another writer changed the aliases
        first (on a shared store the lock does not keep other machines out).
        """
        path = self.aliases_path(name)
        if expected is self._ANY:
            if not aliases:
                self.fs.remove_file(path)
                return
            self.fs.make_dirs(f"{REGISTRY}/aliases")
            self.fs.write_json(path, dict(sorted(aliases.items())))
            return
        if not aliases:
            done = expected is None or self.fs.remove_if(path, expected)
        else:
            self.fs.make_dirs(f"{REGISTRY}/aliases")
            done = self.fs.replace_if(path, json_bytes(dict(sorted(aliases.items()))),
                                      expected)
        if not done:
            raise ConcurrentUpdateError(
                f"the aliases of {name!r} were changed by another writer while this change "
                f"was made; nothing was written and theirs stands. Look at the aliases "
                f"again (`nbmodels versions {name}`) and repeat the change if it still "
                f"applies")

    def aliased_names(self) -> list[str]:
        """Names that have an aliases file."""
        return sorted(n[:-5] for n in self.fs.list_dir(_REG / "aliases") if n.endswith(".json"))


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a record that listings show (a damaged field shows as absent)."""
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    headline = {k: metrics[k] for k in HEADLINE_METRICS
                if isinstance(metrics.get(k), (int, float)) and not isinstance(metrics[k], bool)
                and metrics[k] == metrics[k] and abs(metrics[k]) != float("inf")}
    size = record.get("size_bytes")

    def text(key: str) -> str | None:
        value = record.get(key)
        return value if isinstance(value, str) else None

    summary = {
        "version": text("version"),
        "created_at": text("created_at") if text("created_at") is not None
        else (str(record["created_at"]) if record.get("created_at") is not None else None),
        "size_bytes": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "format": text("format"),
        "framework": text("framework"),
        "description": text("description"),
        "tags": record_tags(record.get("tags")),
        "metrics": headline,
    }
    json.dumps(summary, allow_nan=False)
    return summary
