"""The local cache of artifacts downloaded from remote stores, keyed by sha256.

An entry is the bytes whose sha256 is its name, so one cache serves every remote store
and version that holds the same artifact. Bytes are verified on the way in (hashed
while downloaded; a mismatch is never kept) and on every use (hashed again in place,
through a memory map), so a damaged entry is noticed, dropped and fetched again.
The cache is bounded: after each download the least recently used entries beyond
the limit are removed.

Where: ``$NBMODELS_CACHE_DIR``, else the user's cache folder (platformdirs) under
``nbmodels/artifacts``; limit: ``$NBMODELS_CACHE_MAX_BYTES`` (default 10 GB).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IntegrityError
from .backend import FileDigest

__all__ = ["DEFAULT_MAX_BYTES", "ArtifactCache", "CacheInfo", "default_cache_dir"]

DEFAULT_MAX_BYTES = 10 * 10**9
_SHA = re.compile(r"[0-9a-f]{64}")


def default_cache_dir() -> Path:
    """``$NBMODELS_CACHE_DIR``, else ``<user cache dir>/nbmodels/artifacts``."""
    env = os.environ.get("NBMODELS_CACHE_DIR")
    if env:
        return Path(env).expanduser().absolute()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("nbmodels", appauthor=False)) / "artifacts"


@dataclass(frozen=True)
class CacheInfo:
    """What the cache holds: folder, entries, bytes and the size limit."""

    path: str
    entries: int
    size_bytes: int
    max_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "entries": self.entries, "size_bytes": self.size_bytes,
                "max_bytes": self.max_bytes}

    def __repr__(self) -> str:
        from ..display import format_size

        return (f"artifact cache {self.path}: {self.entries} entries, "
                f"{format_size(self.size_bytes)} of {format_size(self.max_bytes)}")


class ArtifactCache:
    """Downloaded artifacts by sha256, verified in and out, least recently used evicted."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        #: Downloads made by this cache object (a test and the benchmark read it).
        self.downloads = 0

    @classmethod
    def default(cls) -> ArtifactCache:
        """The cache the environment names (see the module docstring)."""
        limit = os.environ.get("NBMODELS_CACHE_MAX_BYTES")
        try:
            max_bytes = int(limit) if limit else DEFAULT_MAX_BYTES
        except ValueError:
            raise ValueError(f"$NBMODELS_CACHE_MAX_BYTES must be a number of bytes, got "
                             f"{limit!r}") from None
        return cls(default_cache_dir(), max_bytes)

    def entry(self, sha256: str) -> Path:
        """Where the artifact with this sha256 is kept."""
        if not _SHA.fullmatch(sha256):
            raise IntegrityError(f"{sha256!r} is not a sha256; the record is damaged")
        return self.path / sha256[:2] / sha256

    @contextlib.contextmanager
    def verified(self, sha256: str, size: int, fetch: Callable[[Any], FileDigest], *,
                 where: str) -> Iterator[Any]:
        """A read-only buffer of the artifact, from the cache or fetched into it.

        ``fetch(file)`` writes the artifact's bytes into an open file and returns their
        digest. A cached entry whose bytes no longer match is removed and fetched again.
        """
        from .local import mapped_verified

        entry = self.entry(sha256)
        with contextlib.ExitStack() as stack:
            hit = False
            if entry.is_file():
                try:
                    buf = stack.enter_context(mapped_verified(entry, size, sha256))
                    hit = True
                except IntegrityError:
                    with contextlib.suppress(OSError):
                        entry.unlink()  # damaged: fetch it again
                else:
                    with contextlib.suppress(OSError):
                        os.utime(entry)  # recently used
            if not hit:
                self._fetch(entry, sha256, size, fetch, where)
                buf = stack.enter_context(mapped_verified(entry, size, sha256))
            yield buf

    def _fetch(self, entry: Path, sha256: str, size: int,
               fetch: Callable[[Any], FileDigest], where: str) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{uuid.uuid4().hex[:12]}.part")
        try:
            with open(tmp, "xb") as f:
                got = fetch(f)
            self.downloads += 1
            if got.size != size or got.sha256 != sha256:
                raise IntegrityError(f"artifact {where} does not match its record: "
                                     f"{got.size} bytes with sha256 {got.sha256}, expected "
                                     f"{size} bytes with {sha256}; refusing to load it "
                                     f"(restore the file or delete this version)")
            os.replace(tmp, entry)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        self.evict(keep=entry)

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        if not self.path.is_dir():
            return out
        for sub in self.path.iterdir():
            if not sub.is_dir() or sub.is_symlink():
                continue
            for f in sub.iterdir():
                if _SHA.fullmatch(f.name):
                    with contextlib.suppress(OSError):
                        st = f.stat()
                        out.append((st.st_mtime, st.st_size, f))
        return out

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used entries until the cache fits its limit; returns
        the bytes removed. ``keep`` (the entry just fetched) stays."""
        entries = sorted(self._entries(), key=lambda e: e[0])
        total = sum(e[1] for e in entries)
        removed = 0
        for _mtime, size, path in entries:
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                removed += size
        return removed

    def info(self) -> CacheInfo:
        """Entries and bytes held now."""
        entries = self._entries()
        return CacheInfo(str(self.path), len(entries), sum(e[1] for e in entries),
                         self.max_bytes)

    def clear(self) -> CacheInfo:
        """Remove every entry; returns what was removed."""
        before = self.info()
        for _mtime, _size, path in self._entries():
            with contextlib.suppress(OSError):
                path.unlink()
        return before
