"""Reading an archive's members, each checked before any is used.

:class:`ArchiveReader` lists the members of a ``.zip`` or ``.tar.gz`` and refuses the
archive on any member that could harm the machine or write outside the store: an
absolute path, ``..``, a backslash or control characters in a name, a link, a device, a
FIFO, a sparse or encrypted file, a duplicate, more members or bytes than
:class:`ArchiveLimits` allow, a decompressed stream that grows past them (a gzip bomb).
Each member then reads as a stream that stops at its declared size. Where a member
belongs in the store's layout is :func:`~.layout.classify_member`'s question.
"""

from __future__ import annotations

import contextlib
import io
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from .layout import ArchiveError

__all__ = ["ArchiveLimits", "ArchiveMember", "ArchiveReader"]


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds an archive must stay within (a hostile one must not exhaust the machine)."""

    max_members: int = 200_000
    max_member_bytes: int = 64 << 30
    max_total_bytes: int = 256 << 30
    max_name_length: int = 512


@dataclass
class ArchiveMember:
    """One regular file of an archive: its path, its declared size, its zip or tar entry."""

    path: str
    size: int
    handle: Any  # ZipInfo or TarInfo


class _Bounded(io.RawIOBase):
    """A decompressed stream that refuses to grow past ``limit`` bytes (a gzip bomb, a
    huge PAX header), checked before anything is read into memory."""

    def __init__(self, inner: Any, limit: int) -> None:
        super().__init__()
        self.inner = inner
        self.limit = limit

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        pos = self.inner.tell()
        if size is None or size < 0 or pos + size > self.limit + 1:
            size = max(0, self.limit + 1 - pos)
        data = self.inner.read(size)
        if pos + len(data) > self.limit:
            raise ArchiveError(f"the archive expands to more than {self.limit} bytes; refusing it")
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()


class ArchiveReader:
    """The validated members of an archive, each readable as a stream."""

    def __init__(self, kind: str, src: BinaryIO, limits: ArchiveLimits) -> None:
        self.kind = kind
        self.limits = limits
        self.members: list[ArchiveMember] = []
        seen: set[str] = set()
        if kind == "zip":
            import zipfile

            self.zip = zipfile.ZipFile(src)
            entries = self.zip.infolist()
            if len(entries) > limits.max_members:
                raise ArchiveError(
                    f"the archive has {len(entries)} members, more than {limits.max_members}"
                )
            for info in entries:
                mode = info.external_attr >> 16
                if "\0" in info.orig_filename:
                    raise ArchiveError(f"member {info.orig_filename!r} has a NUL in its name")
                if info.flag_bits & 0x1:
                    raise ArchiveError(f"member {info.filename!r} is encrypted")
                if info.is_dir():
                    self._check_name(info.filename.rstrip("/"))
                    continue
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # 0: no type recorded
                    raise ArchiveError(
                        f"member {info.filename!r} is {_kind_of_mode(mode)}; "
                        f"archives may hold regular files only"
                    )
                self._add(info.filename, info.file_size, info, seen)
        else:
            import gzip
            import tarfile

            self.gz = gzip.GzipFile(fileobj=src, mode="rb")
            self.bounded = _Bounded(
                self.gz, limits.max_total_bytes + 4096 * (limits.max_members + 16)
            )
            self.tar = tarfile.open(  # noqa: SIM115 - lives as long as the reader
                fileobj=self.bounded, mode="r:"
            )  # type: ignore[arg-type]
            count = 0
            for info in self.tar:
                count += 1
                if count > limits.max_members:
                    raise ArchiveError(f"the archive has more than {limits.max_members} members")
                if info.isdir():
                    self._check_name(info.name.rstrip("/"))
                    continue
                if not info.isreg():
                    what = (
                        "a symbolic link"
                        if info.issym()
                        else "a hard link"
                        if info.islnk()
                        else "a device"
                        if info.isdev()
                        else "not a regular file"
                    )
                    raise ArchiveError(
                        f"member {info.name!r} is {what}; archives may hold regular files only"
                    )
                if info.sparse is not None:
                    raise ArchiveError(f"member {info.name!r} is a sparse file")
                self._add(info.name, info.size, info, seen)

    def _check_name(self, name: str) -> str:
        limit = self.limits.max_name_length
        problem = None
        if not name or len(name) > limit:
            problem = f"is empty or longer than {limit} characters"
        elif name.startswith("/") or re.match(r"[A-Za-z]:", name):
            problem = "is an absolute path"
        elif "\\" in name:
            problem = "contains a backslash"
        elif any(ord(c) < 32 or ord(c) == 127 for c in name):
            problem = "contains control characters"
        elif any(part in ("", ".", "..") for part in name.split("/")):
            problem = "contains '..', '.' or an empty part"
        if problem:
            raise ArchiveError(f"member {name[:80]!r} {problem}; refusing the archive")
        return name

    def _add(self, name: str, size: int, handle: Any, seen: set[str]) -> None:
        self._check_name(name)
        if name in seen:
            raise ArchiveError(f"member {name!r} appears twice; refusing the archive")
        seen.add(name)
        if size < 0 or size > self.limits.max_member_bytes:
            raise ArchiveError(
                f"member {name!r} is {size} bytes, more than {self.limits.max_member_bytes}"
            )
        total = sum(m.size for m in self.members) + size
        if total > self.limits.max_total_bytes:
            raise ArchiveError(f"the archive holds more than {self.limits.max_total_bytes} bytes")
        self.members.append(ArchiveMember(name, size, handle))

    @contextlib.contextmanager
    def open(self, member: ArchiveMember) -> Iterator[BinaryIO]:
        """``member``'s bytes as a stream that stops at its declared size."""
        if self.kind == "zip":
            with self.zip.open(member.handle) as f:
                yield _Exact(f, member)  # type: ignore[misc]
        else:
            f = self.tar.extractfile(member.handle)
            if f is None:
                raise ArchiveError(f"member {member.path!r} cannot be read")
            with f:
                yield _Exact(f, member)  # type: ignore[misc]


class _Exact:
    """A member's stream that refuses to yield more (or fewer) bytes than declared."""

    def __init__(self, inner: Any, member: ArchiveMember) -> None:
        self.inner, self.member, self.done = inner, member, 0

    def read(self, n: int = -1) -> bytes:
        left = self.member.size - self.done
        data = self.inner.read(left + 1 if n is None or n < 0 else min(n, left + 1))
        self.done += len(data)
        if self.done > self.member.size:
            raise ArchiveError(f"member {self.member.path!r} holds more bytes than declared")
        if not data and self.done < self.member.size:
            raise ArchiveError(f"member {self.member.path!r} is truncated")
        return data

    def __enter__(self) -> _Exact:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _kind_of_mode(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "not a regular file"

