"""Finding a version whose model bytes are identical to a new save's.

A version's identity is :func:`~nbmodels.record.capture.content_hash`: its format and
its artifact files' sha256, nothing descriptive. A save compares its identity with every
version of the name, not only the latest, so re-running a notebook after trying another
model still finds the first one.

The versions of a name come from the registry's head (its sorted ``versions``). So that
a save does not read every record of a name, their identities are cached in
``registry/index/{name}/identities.json`` (``version -> identity``). Like the rest of
``registry/index`` it is derived and disposable: versions missing from it are read once
and added, versions no longer committed are dropped, and a hit is confirmed by reading
that one record before it is trusted. Writers hold the model's lock. A version
about to be (re)written is dropped from the cache first and added after its commit, so a
crash in between leaves it missing (read again next time), never wrong.

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
from ..storage.versions import sort_versions
from .registry import Registry

__all__ = ["find_identical", "forget_identity", "identity_of", "remember_identity"]

_CACHE_FILE = "identities.json"


def identity_of(record: dict[str, Any] | None) -> str | None:
    """The identity of a record's model, or ``None`` when it lists no artifact files."""
    if not record or not isinstance(record.get("files"), list) or not record["files"]:
        return None
    return content_hash(record)


def _path(name: str) -> PurePosixPath:
    return PurePosixPath(REGISTRY, "index", name, _CACHE_FILE)


# What this process last read or wrote of each cache file, with the file's identity: a
# save reads the cache three times (look-up, forget, remember), and with thousands of
# versions parsing it each time costs more than the save. A file changed by another
# process has another identity and is read again.
_SEEN: weakref.WeakKeyDictionary[Any, dict[str, tuple[Any, dict[str, str | None]]]] = (
    weakref.WeakKeyDictionary())


def _read(registry: Registry, name: str) -> dict[str, str | None]:
    info = registry.fs.stat(_path(name))
    seen = _SEEN.get(registry, {}).get(name)
    if info is not None and seen is not None and seen[0] == info.identity:
        return dict(seen[1])
    try:
        data = registry.fs.read_json(_path(name))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("name") != name \
            or not isinstance(data.get("identities"), dict):
        return {}
    found = {v: i for v, i in data["identities"].items()
             if isinstance(v, str) and (i is None or isinstance(i, str))}
    if info is not None:
        _SEEN.setdefault(registry, {})[name] = (info.identity, found)
    return dict(found)


def _write(registry: Registry, name: str, identities: dict[str, str | None]) -> None:
    path = _path(name)
    # A cache: a store that this user cannot write still answers, only more slowly.
    with contextlib.suppress(OSError):
        registry.fs.make_dirs(path.parent)
        # Compact JSON (the C encoder): with thousands of versions, indenting costs more
        # than the save it serves.
        data = json.dumps({"name": name, "identities": identities}, separators=(",", ":"))
        registry.fs.replace(path, data.encode("utf-8"), durable=False)
        info = registry.fs.stat(path)
        if info is not None:
            _SEEN.setdefault(registry, {})[name] = (info.identity, dict(identities))


def find_identical(registry: Registry, name: str, identity: str,
                   head: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]] | None:
    """``(version, record)`` of the newest version of ``name`` whose model has
    ``identity``, or ``None``. Reads the cache, the records it lacks, and the one record
    it points at; the caller holds the model's lock. ``head`` is the model's index entry
    if the caller read it under that lock already."""
    if head is None or head.get("name") != name:
        head = registry.head(name)
    versions = set(head["versions"]) if head is not None else set()
    cached = _read(registry, name)
    known = {v: i for v, i in cached.items() if v in versions}
    for version in versions - known.keys():
        record = registry.read_record(name, version)
        if record is not None:  # an unreadable record is looked at again next time
            known[version] = identity_of(record)
    found = None
    for version in reversed(sort_versions(v for v, i in known.items() if i == identity)):
        record = registry.read_record(name, version)
        actual = identity_of(record)
        if actual == identity and record is not None:
            record.setdefault("model_name", name)
            record.setdefault("version", version)
            found = (version, record)
            break
        if record is None:  # rewritten by hand, or gone, since it was cached
            known.pop(version, None)
        else:
            known[version] = actual
    if known != cached:
        _write(registry, name, known)
    return found


def forget_identity(registry: Registry, name: str, version: str) -> None:
    """Drop ``version`` from the cache before its record is (re)written."""
    cached = _read(registry, name)
    if version in cached:
        del cached[version]
        _write(registry, name, cached)


def remember_identity(registry: Registry, name: str, version: str,
                      identity: str | None) -> None:
    """Add a just-committed version to the cache."""
    cached = _read(registry, name)
    if cached.get(version, "") != identity:
        cached[version] = identity
        _write(registry, name, cached)
