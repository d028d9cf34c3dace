"""Finding a version whose model bytes are identical to a new save's.

A version's identity is :func:`~nbmodels.record.capture.content_hash`: its format and
its artifact files' sha256, nothing descriptive. A save compares its identity with every
version of the name, not only the latest, so re-running a notebook after trying another
model still finds the first one.

The versions of a name come from the registry's head. So that a save does not read
every record of a name, their identities are cached in
``registry/index/{name}/identities.json``: ``{"name", "versions": [...], "identities":
"..."}``, the second a string of one :data:`KEY_LENGTH`-character key per version (the
start of its identity, ``-`` when it has none), in the order of ``versions``. That shape
parses and serializes at C speed whatever the number of versions, where an object of
10,000 entries costs more than the save it serves. A save adds its version to
``identities-recent.json`` (same shape, the additions since ``identities.json`` was
written, read over it), folded into ``identities.json`` every few dozen saves, so that a
save rewrites a few lines and not the whole cache. Like the rest of
``registry/index`` it is derived and disposable: versions missing from it are read once
and added, versions no longer committed are dropped, and a hit (a key is only the start
of an identity) is confirmed by reading that one record before it is trusted. When
the cache holds exactly the head's versions (their ``versions_digest``), the head's list
of versions is not read at all. Writers hold the model's lock. A version about to be
(re)written is dropped from the cache first and added after its commit, so a crash in
between leaves it missing (read again next time), never wrong.

This module is the one place that answers "is this model already saved?": a registry
index that keeps each version's identity can replace the cache here without touching
the save.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from pathlib import PurePosixPath
from typing import Any

from ..record.capture import content_hash
from ..storage.layout import REGISTRY
from ..storage.versions import looks_like_version, sort_versions
from .registry import Registry

__all__ = ["KEY_LENGTH", "find_identical", "forget_identity", "identity_of", "remember_identity"]

_CACHE_FILE = "identities.json"
_RECENT_FILE = "identities-recent.json"  # additions since the whole file was written
_RECENT_MAX = 32


def identity_of(record: dict[str, Any] | None) -> str | None:
    """The identity of a record's model, or ``None`` when it lists no artifact files."""
    if not record or not isinstance(record.get("files"), list) or not record["files"]:
        return None
    return content_hash(record)


#: Characters of an identity the cache keeps: enough that a hit is almost always the
#: version (among 10,000 versions a new model's key matches another's about once in
#: 400,000 saves, and a hit is confirmed against the record anyway), few enough that the
#: file a save rewrites stays small (its bytes are flushed with the save's fsyncs).
KEY_LENGTH = 8
_NONE = "-" * KEY_LENGTH  # a version without artifact files has no identity


def _key(identity: str | None) -> str:
    return _NONE if identity is None else identity[:KEY_LENGTH].ljust(KEY_LENGTH, "-")


def _path(name: str) -> PurePosixPath:
    return PurePosixPath(REGISTRY, "index", name, _CACHE_FILE)


class _Cache:
    """The cache of one name in memory: ``versions`` and their keys, in one order."""

    __slots__ = ("keys", "versions")

    def __init__(self, versions: list[str], keys: str) -> None:
        self.versions, self.keys = versions, keys

    def copy(self) -> _Cache:
        return _Cache(list(self.versions), self.keys)

    def key_of(self, version: str) -> str | None:
        try:
            i = self.versions.index(version)
        except ValueError:
            return None
        return self.keys[i * KEY_LENGTH:(i + 1) * KEY_LENGTH]

    def with_key(self, key: str) -> list[str]:
        """The versions whose key is ``key``."""
        found, at = [], self.keys.find(key)
        while at >= 0:
            if at % KEY_LENGTH == 0:
                found.append(self.versions[at // KEY_LENGTH])
            at = self.keys.find(key, at + 1)
        return found

    def put(self, version: str, key: str) -> bool:
        """Set ``version``'s key; whether anything changed."""
        try:
            i = self.versions.index(version)
        except ValueError:
            self.versions.append(version)
            self.keys += key
            return True
        if self.keys[i * KEY_LENGTH:(i + 1) * KEY_LENGTH] == key:
            return False
        self.keys = self.keys[:i * KEY_LENGTH] + key + self.keys[(i + 1) * KEY_LENGTH:]
        return True

    def drop(self, version: str) -> bool:
        """Remove ``version``; whether it was there."""
        try:
            i = self.versions.index(version)
        except ValueError:
            return False
        del self.versions[i]
        self.keys = self.keys[:i * KEY_LENGTH] + self.keys[(i + 1) * KEY_LENGTH:]
        return True

    def keep_only(self, versions: set[str]) -> bool:
        """Drop every version not in ``versions``; whether any was."""
        if all(v in versions for v in self.versions):
            return False
        pairs = [(v, self.keys[i * KEY_LENGTH:(i + 1) * KEY_LENGTH])
                 for i, v in enumerate(self.versions) if v in versions]
        self.versions = [v for v, _ in pairs]
        self.keys = "".join(k for _, k in pairs)
        return True


# What this process last read or wrote of each cache file, with the file's identity: a
# save reads the cache three times (look-up, forget, remember). A file changed by
# another process has another identity and is read again.
_SEEN: weakref.WeakKeyDictionary[Any, dict[str, tuple[Any, _Cache]]] = (
    weakref.WeakKeyDictionary())


def _recent_path(name: str) -> PurePosixPath:
    return PurePosixPath(REGISTRY, "index", name, _RECENT_FILE)


def _read_file(registry: Registry, name: str, path: PurePosixPath) -> _Cache:
    """One cache file as stored (empty when absent or not of its shape). Its versions
    are strings, but become part of a path only after
    :func:`~nbmodels.storage.versions.looks_like_version`."""
    info = registry.fs.stat(path)
    seen = _SEEN.get(registry, {}).get(str(path))
    if info is not None and seen is not None and seen[0] == info.identity:
        return seen[1].copy()
    if info is None:
        return _Cache([], "")
    try:
        data = registry.fs.read_json(path)
    except (OSError, ValueError, RecursionError):
        return _Cache([], "")
    versions = data.get("versions") if isinstance(data, dict) else None
    keys = data.get("identities") if isinstance(data, dict) else None
    if not (isinstance(versions, list) and data.get("name") == name
            and isinstance(keys, str) and len(keys) == KEY_LENGTH * len(versions)
            and all(type(v) is str for v in versions)
            and len(set(versions)) == len(versions)):
        return _Cache([], "")
    found = _Cache(versions, keys)
    _SEEN.setdefault(registry, {})[str(path)] = (info.identity, found.copy())
    return found


def _write_file(registry: Registry, name: str, path: PurePosixPath, cache: _Cache) -> None:
    # A cache: a store that this user cannot write still answers, only more slowly.
    with contextlib.suppress(OSError):
        registry.fs.make_dirs(path.parent)
        data = json.dumps({"name": name, "versions": cache.versions, "identities": cache.keys},
                          separators=(",", ":"))
        registry.fs.replace(path, data.encode("utf-8"), durable=False)
        info = registry.fs.stat(path)
        if info is not None:
            _SEEN.setdefault(registry, {})[str(path)] = (info.identity, cache.copy())


def _load(registry: Registry, name: str) -> tuple[_Cache, _Cache]:
    """``(base, recent)``: the cache is the base with the recent additions over it."""
    return (_read_file(registry, name, _path(name)),
            _read_file(registry, name, _recent_path(name)))


def _merged(base: _Cache, recent: _Cache) -> _Cache:
    merged = base.copy()
    if recent.versions:
        present = set(base.versions)
        for i, version in enumerate(recent.versions):
            key = recent.keys[i * KEY_LENGTH:(i + 1) * KEY_LENGTH]
            if version in present:
                merged.put(version, key)
            else:
                merged.versions.append(version)
                merged.keys += key
    return merged


def _read(registry: Registry, name: str) -> _Cache:
    """The whole cache of ``name``."""
    return _merged(*_load(registry, name))


def _write(registry: Registry, name: str, cache: _Cache) -> None:
    """Replace the whole cache: the recent additions go first (a crash in between
    leaves entries missing, never stale ones over the new base)."""
    with contextlib.suppress(OSError):
        registry.fs.remove_file(_recent_path(name))
    _write_file(registry, name, _path(name), cache)


def find_identical(registry: Registry, name: str, identity: str,
                   head: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]] | None:
    """``(version, record)`` of the newest version of ``name`` whose model has
    ``identity``, or ``None``. Reads the cache, the records it lacks, and the records
    its matches point at; the caller holds the model's lock. ``head`` is the model's
    index entry if the caller read it under that lock already (with or without its
    list of versions)."""
    if head is None or head.get("name") != name:
        head = registry.head(name, versions=False)
    cache = _read(registry, name)
    changed = False
    if head is None:
        changed = cache.keep_only(set())
    elif not ("versions" not in head and len(cache.versions) == head["count"]
              and registry.versions_digest(cache.versions) == head.get("versions_digest")):
        # Not exactly the head's versions: drop the extra ones, read the missing ones.
        versions = set(registry.versions_of(head))
        changed = cache.keep_only(versions)
        for version in versions.difference(cache.versions):
            record = registry.read_record(name, version)
            if record is not None:  # an unreadable record is looked at again next time
                changed |= cache.put(version, _key(identity_of(record)))
    found = None
    matches = [v for v in cache.with_key(_key(identity)) if looks_like_version(v)]
    for version in reversed(sort_versions(matches)):
        record = registry.read_record(name, version)
        actual = identity_of(record)
        if actual == identity and record is not None:
            record.setdefault("model_name", name)
            record.setdefault("version", version)
            found = (version, record)
            break
        changed = True
        if record is None:  # rewritten by hand, or gone, since it was cached
            cache.drop(version)
        else:
            cache.put(version, _key(actual))
    if changed:
        _write(registry, name, cache)
    return found


def forget_identity(registry: Registry, name: str, version: str) -> None:
    """Drop ``version`` from the cache before its record is (re)written."""
    base, recent = _load(registry, name)
    if recent.drop(version):
        _write_file(registry, name, _recent_path(name), recent)
    if base.drop(version):
        _write_file(registry, name, _path(name), base)


def remember_identity(registry: Registry, name: str, version: str,
                      identity: str | None) -> None:
    """Add a just-committed version to the cache: to the small file of recent additions,
    folded into the whole cache once it holds :data:`_RECENT_MAX` of them, so that a
    save among thousands of versions rewrites a few lines, not thousands."""
    base, recent = _load(registry, name)
    key = _key(identity)
    if _merged(base, recent).key_of(version) == key:
        return
    if len(recent.versions) < _RECENT_MAX:
        recent.put(version, key)
        _write_file(registry, name, _recent_path(name), recent)
        return
    merged = _merged(base, recent)
    merged.put(version, key)
    # The whole cache first, then the recent file goes: a crash in between leaves
    # recent additions that the new base holds already, with the same keys.
    _write_file(registry, name, _path(name), merged)
    with contextlib.suppress(OSError):
        registry.fs.remove_file(_recent_path(name))
