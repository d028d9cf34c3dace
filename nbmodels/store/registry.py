"""The registry: a derived index that makes ``latest`` and listings fast, plus aliases.

``registry/index/{name}/head.json`` holds a model's latest version and its summary,
stamped with the state of ``metadata/`` it was computed from. A read trusts the head
only while that stamp still matches and the latest version's ``metadata.json`` is
there, so hand edits, deletions and crashes between commit and index update are
noticed and repaired on the next read. ``registry/aliases/{name}.json`` is not
derived: it is the source of truth for aliases. ``registry/locks/`` serializes writers
per model name across processes.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..record.record import HEADLINE_METRICS, record_tags
from ..storage import local as _io
from ..storage.layout import (
    METADATA,
    METADATA_FILE,
    REGISTRY,
    parse_version_dir,
    validate_name,
    version_dir,
)

__all__ = ["Registry"]

_LOCK_TIMEOUT_S = 300.0


class Registry:
    """Index, aliases and locks of one store root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.metadata_dir = self.root / METADATA
        self.dir = self.root / REGISTRY
        self._locks: dict[str, Any] = {}

    # -- locks ---------------------------------------------------------------------------
    def lock(self, name: str, timeout: float = _LOCK_TIMEOUT_S) -> Any:
        """The cross-process lock that serializes writers of ``name`` (a context manager)."""
        lock = self._locks.get(name)
        if lock is None:
            from filelock import FileLock

            validate_name(name)  # the lock file is named after it: never outside registry/

            _io.make_dirs(self.dir / "locks")
            lock = FileLock(str(self.dir / "locks" / f"{name}.lock"), timeout=timeout)
            self._locks[name] = lock
        return lock

    def is_locked_elsewhere(self, name: str) -> bool:
        """Whether another process holds ``name``'s lock right now."""
        from filelock import Timeout

        lock = self.lock(name)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    # -- scanning the truth ---------------------------------------------------------------
    def scan(self) -> dict[str, list[str]]:
        """Every ``name -> [versions]`` with a folder under ``metadata/`` (unordered)."""
        found: dict[str, list[str]] = defaultdict(list)
        for entry in _io.list_dir(self.metadata_dir):
            parsed = parse_version_dir(entry)
            if parsed:
                found[parsed[0]].append(parsed[1])
        return dict(found)

    def scan_stamped(self) -> tuple[list[int], dict[str, list[str]]]:
        """:meth:`scan`, with the stamp of ``metadata/`` taken just before it.

        A head computed from this scan is fresh only while the stamp is unchanged: a
        folder added or removed after the stamp was taken shows as a new stamp.
        """
        stamp = _io.stamp(self.metadata_dir)
        return stamp, self.scan()

    def read_record(self, name: str, version: str) -> dict[str, Any] | None:
        """The committed record of a version, or ``None`` if absent or unreadable."""
        try:
            data = _io.read_json(self.metadata_dir / version_dir(name, version) / METADATA_FILE)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def committed_versions(self, name: str, candidates: Iterable[str]) -> list[str]:
        """The ``candidates`` whose ``metadata.json`` exists, in ascending semver order."""
        from ..storage.versions import sort_versions

        return [v for v in sort_versions(candidates)
                if _io.exists(self.metadata_dir / version_dir(name, v) / METADATA_FILE)]

    # -- heads ---------------------------------------------------------------------------
    def _head_path(self, name: str) -> Path:
        return self.dir / "index" / name / "head.json"

    def read_head(self, name: str) -> dict[str, Any] | None:
        """The stored head of ``name`` as it is on disk (fresh or not), or ``None``."""
        try:
            head = _io.read_json(self._head_path(name))
        except (OSError, ValueError):
            return None
        return head if isinstance(head, dict) and head.get("name") == name else None

    def _record_path(self, name: str, version: str) -> Path:
        return self.metadata_dir / version_dir(name, version) / METADATA_FILE

    def fresh_head(self, name: str) -> dict[str, Any] | None:
        """The head of ``name`` if it still describes ``metadata/``, else ``None``.

        Two ``stat`` calls: ``metadata/`` must be as it was when the head was computed
        (no version folder added or removed) and the latest version's ``metadata.json``
        must be the very file the head was computed from (a rewrite makes a new file).
        """
        head = self.read_head(name)
        if head is None or not head.get("certain", True) \
                or head.get("stamp") != _io.stamp(self.metadata_dir):
            return None
        latest = head.get("latest")
        if not isinstance(latest, str) or not latest:
            return None
        record_stamp = _io.file_stamp(self._record_path(name, latest))
        if record_stamp is None or head.get("record_stamp") != record_stamp:
            return None
        return head

    def head(self, name: str, versions: list[str] | None = None,
             stamp: list[int] | None = None) -> dict[str, Any] | None:
        """The up-to-date head of ``name`` (recomputed and rewritten when stale).

        ``versions`` are the version folders of ``name`` if the caller already scanned
        them, and ``stamp`` the :func:`_io.stamp` of ``metadata/`` taken before that scan
        (see :meth:`scan_stamped`). Returns ``None`` when the model has no readable version.
        """
        head = self.fresh_head(name)
        if head is not None:
            return head
        return self.refresh(name, versions, stamp)

    def refresh(self, name: str, versions: list[str] | None = None,
                stamp: list[int] | None = None) -> dict[str, Any] | None:
        """Recompute ``name``'s head from ``metadata/`` and store it.

        The head is trusted by later reads only when it is certain: when the scan it
        comes from is stamped, and when no version above the one found has a folder
        without a readable record. Such a folder is a save in progress (its
        ``metadata.json``, the commit point, may appear at any moment without changing
        ``metadata/`` itself), a crashed save or a damaged record; until it is committed,
        removed or repaired, every read recomputes the head rather than trusting one that
        could go stale unnoticed. An uncertain head is still written (marked so), so that
        the index on disk says what reads currently answer.
        """
        certain = True
        if versions is None:
            stamp, found = self.scan_stamped()
            versions = found.get(name, [])
        elif stamp is None:
            certain = False
        from ..storage.versions import sort_versions

        record = record_stamp = None
        for v in reversed(sort_versions(versions)):
            record_stamp = _io.file_stamp(self._record_path(name, v))  # before reading it
            record = self.read_record(name, v) if record_stamp is not None else None
            if record is not None:
                break
            certain = False
        if record is None:
            with contextlib.suppress(OSError):
                _io.remove_tree(self._head_path(name).parent)
            return None
        head = {"name": name, "latest": v, "stamp": stamp, "record_stamp": record_stamp,
                "certain": certain, "summary": summarize(record)}
        path = self._head_path(name)
        # The head is a cache: a store that readers cannot write to (shared, read-only)
        # still answers, and a write that fails (gc took its temp file) is just skipped.
        with contextlib.suppress(OSError):
            _io.make_dirs(path.parent)
            _io.atomic_write_json(path, head, durable=False)
        return head

    def drop_index(self) -> None:
        """Remove every head (``registry/index``); reads recompute them."""
        _io.remove_tree(self.dir / "index")

    def indexed_names(self) -> list[str]:
        """Names that have a head in the index."""
        return sorted(_io.list_dir(self.dir / "index"))

    # -- aliases -------------------------------------------------------------------------
    def _aliases_path(self, name: str) -> Path:
        return self.dir / "aliases" / f"{name}.json"

    def aliases(self, name: str) -> dict[str, str]:
        """``alias -> version`` for ``name`` (empty if none)."""
        try:
            data = _io.read_json(self._aliases_path(name))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        from ..storage.versions import is_version

        # Only entries that name a version: a hand-edited target such as "../../x" must
        # never become part of a path.
        return {str(k): v for k, v in data.items() if isinstance(v, str) and is_version(v)}

    def write_aliases(self, name: str, aliases: dict[str, str]) -> None:
        """Replace ``name``'s aliases (durably: they are not derived from anything)."""
        path = self._aliases_path(name)
        if not aliases:
            _io.remove_file(path)
            return
        _io.make_dirs(path.parent)
        _io.atomic_write_json(path, dict(sorted(aliases.items())))

    def aliased_names(self) -> list[str]:
        """Names that have an aliases file."""
        return sorted(n[:-5] for n in _io.list_dir(self.dir / "aliases") if n.endswith(".json"))


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a record that listings show."""
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    headline = {k: metrics[k] for k in HEADLINE_METRICS if k in metrics}
    summary = {
        "version": record.get("version"),
        "created_at": record.get("created_at"),
        "size_bytes": record.get("size_bytes"),
        "format": record.get("format"),
        "framework": record.get("framework"),
        "description": record.get("description"),
        "tags": record_tags(record.get("tags")),
        "metrics": headline,
    }
    json.dumps(summary)
    return summary
