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

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import _io
from .layout import METADATA, METADATA_FILE, REGISTRY, parse_version_dir, version_dir
from .records import HEADLINE_METRICS

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

    def read_record(self, name: str, version: str) -> dict[str, Any] | None:
        """The committed record of a version, or ``None`` if absent or unreadable."""
        try:
            data = _io.read_json(self.metadata_dir / version_dir(name, version) / METADATA_FILE)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def committed_versions(self, name: str, candidates: Iterable[str]) -> list[str]:
        """The ``candidates`` whose ``metadata.json`` exists, in ascending semver order."""
        from .versions import sort_versions

        return [v for v in sort_versions(candidates)
                if _io.exists(self.metadata_dir / version_dir(name, v) / METADATA_FILE)]

    # -- heads ---------------------------------------------------------------------------
    def _head_path(self, name: str) -> Path:
        return self.dir / "index" / name / "head.json"

    def read_head(self, name: str) -> dict[str, Any] | None:
        try:
            head = _io.read_json(self._head_path(name))
        except (OSError, ValueError):
            return None
        return head if isinstance(head, dict) and head.get("name") == name else None

    def fresh_head(self, name: str) -> dict[str, Any] | None:
        """The head of ``name`` if it still describes ``metadata/``, else ``None``."""
        head = self.read_head(name)
        if head is None or head.get("stamp") != _io.stamp(self.metadata_dir):
            return None
        latest = head.get("latest")
        if not latest or not _io.exists(self.metadata_dir / version_dir(name, latest)
                                        / METADATA_FILE):
            return None
        return head

    def head(self, name: str, versions: list[str] | None = None) -> dict[str, Any] | None:
        """The up-to-date head of ``name`` (recomputed and rewritten when stale).

        ``versions`` are the version folders of ``name`` if the caller already scanned
        them. Returns ``None`` when the model has no readable version.
        """
        head = self.fresh_head(name)
        if head is not None:
            return head
        return self.refresh(name, versions)

    def refresh(self, name: str, versions: list[str] | None = None) -> dict[str, Any] | None:
        """Recompute ``name``'s head from ``metadata/`` and store it."""
        stamp = _io.stamp(self.metadata_dir)  # taken before the scan: a later change shows
        if versions is None:
            versions = self.scan().get(name, [])
        from .versions import sort_versions

        record = None
        for v in reversed(sort_versions(versions)):
            record = self.read_record(name, v)
            if record is not None:
                break
        if record is None:
            _io.remove_tree(self._head_path(name).parent)
            return None
        head = {"name": name, "latest": v, "stamp": stamp, "summary": summarize(record)}
        path = self._head_path(name)
        _io.make_dirs(path.parent)
        _io.atomic_write_json(path, head, durable=False)
        return head

    def drop_index(self) -> None:
        _io.remove_tree(self.dir / "index")

    def indexed_names(self) -> list[str]:
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
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def write_aliases(self, name: str, aliases: dict[str, str]) -> None:
        """Replace ``name``'s aliases (durably: they are not derived from anything)."""
        path = self._aliases_path(name)
        if not aliases:
            _io.remove_file(path)
            return
        _io.make_dirs(path.parent)
        _io.atomic_write_json(path, dict(sorted(aliases.items())))

    def aliased_names(self) -> list[str]:
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
        "tags": record.get("tags") or [],
        "metrics": headline,
    }
    json.dumps(summary)
    return summary
