"""The seal: the sha256 of an archive's own bytes, at its very end.

A ``.zip``'s comment (after the end-of-central-directory record, whose comment-length
field the hash covers) reads ``nbmodels-archive-sha256:<hex>``; a ``.tar.gz`` ends with a
second, empty gzip member whose FCOMMENT field carries the same (gzip and tar readers see
one stream). The hash covers every byte before the hex digits and what follows them is
fixed, so a change of any one byte (content or container: a timestamp, a flag, padding),
a truncation or appended bytes makes the archive fail its seal.

:class:`Sealer` seals while export writes; :func:`check_seal` streams an archive once
before import reads anything of it; :func:`seal_archive` seals an archive another tool
wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from ...errors import NBModelsError
from .layout import CHUNK_BYTES, ArchiveError, archive_destination, archive_kind

__all__ = ["SEAL_PREFIX", "Sealer", "check_seal", "seal_archive", "seal_placeholder"]

#: The seal, at the end of every archive export writes: this prefix, then the sha256 (64
#: lowercase hex digits) of every byte before those digits, then the kind's fixed suffix.
SEAL_PREFIX = b"nbmodels-archive-sha256:"
_HEX = re.compile(rb"[0-9a-f]{64}")
_PLACEHOLDER = b"0" * 64
# A .tar.gz's seal is a second gzip member holding no data: the fixed header with only
# FCOMMENT set (mtime 0, OS unknown), the comment, its NUL, an empty final deflate block,
# CRC32 0 and size 0. A .zip's seal is its comment, the archive's last bytes.
_GZIP_SEAL_HEADER = b"\x1f\x8b\x08\x10\x00\x00\x00\x00\x00\xff"
_SEAL_SUFFIX = {"zip": b"", "tar.gz": b"\x00\x03\x00" + bytes(8)}
_ZIP_END = b"PK\x05\x06"


def seal_placeholder(kind: str) -> bytes:
    """What an archive's last bytes are before :meth:`Sealer.finish` puts the hash in."""
    if kind == "zip":
        return SEAL_PREFIX + _PLACEHOLDER  # the zip comment
    return _GZIP_SEAL_HEADER + SEAL_PREFIX + _PLACEHOLDER + _SEAL_SUFFIX[kind]


class Sealer:
    """A write-only stream that hashes what it forwards to ``out`` and holds back the last
    bytes (the seal's placeholder digits and the fixed suffix); :meth:`finish` writes the
    sha256 of everything forwarded in place of the placeholder. No ``tell``/``seek``:
    zipfile and gzip write it front to back, as they did on the backend's writer."""

    def __init__(self, out: Any, kind: str) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.suffix = _SEAL_SUFFIX[kind]
        self.keep = len(_PLACEHOLDER) + len(self.suffix)
        self.held = bytearray()

    def writable(self) -> bool:
        return True

    def _forward(self, data: Any) -> None:
        if len(data):
            self.hash.update(data)
            self.out.write(data)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if n >= self.keep:
            self._forward(bytes(self.held))
            self._forward(view[: n - self.keep])
            self.held = bytearray(view[n - self.keep :])
        else:
            self.held += view
            extra = len(self.held) - self.keep
            if extra > 0:
                self._forward(bytes(self.held[:extra]))
                del self.held[:extra]
        return n

    def flush(self) -> None:
        self.out.flush()

    def finish(self) -> str:
        """Write the seal over its placeholder; returns it (the sha256, hex)."""
        if bytes(self.held) != _PLACEHOLDER + self.suffix:
            raise RuntimeError("the archive does not end with its seal's placeholder")
        digest = self.hash.hexdigest()
        self.out.write(digest.encode("ascii") + self.suffix)
        self.held = bytearray()
        return digest


def _read_seal(src: BinaryIO, kind: str) -> tuple[str | None, str]:
    """Stream ``src`` once: ``(the seal at its end or None, sha256 of the bytes it covers)``."""
    suffix = _SEAL_SUFFIX[kind]
    keep = len(SEAL_PREFIX) + len(_PLACEHOLDER) + len(suffix)
    digest = hashlib.sha256()
    held = bytearray()
    while chunk := src.read(CHUNK_BYTES):
        if len(chunk) >= keep:
            digest.update(held)
            digest.update(memoryview(chunk)[: len(chunk) - keep])
            held = bytearray(chunk[len(chunk) - keep :])
        else:
            held += chunk
            extra = len(held) - keep
            if extra > 0:
                digest.update(bytes(held[:extra]))
                del held[:extra]
    if len(held) < keep:
        digest.update(held)
        return None, digest.hexdigest()
    prefix = bytes(held[: len(SEAL_PREFIX)])
    sealed = bytes(held[len(SEAL_PREFIX) : len(SEAL_PREFIX) + len(_PLACEHOLDER)])
    digest.update(prefix)
    if prefix != SEAL_PREFIX or held[keep - len(suffix) :] != suffix or not _HEX.fullmatch(sealed):
        return None, digest.hexdigest()
    return sealed.decode("ascii"), digest.hexdigest()


def check_seal(src: BinaryIO, kind: str, shown: str) -> None:
    """Refuse an archive whose bytes are not exactly the ones export sealed."""
    sealed, actual = _read_seal(src, kind)
    if sealed is None:
        raise ArchiveError(
            f"{shown} does not end with an nbmodels seal: it was not written by `nbmodels "
            f"export`/`backup`, or it was repacked, truncated or appended to since; nothing "
            f"was imported. Import the file exactly as export wrote it, or export the "
            f"versions again with `nbmodels export`"
        )
    if sealed != actual:
        raise ArchiveError(
            f"{shown} was changed after it was exported (its bytes hash to sha256 "
            f"{actual}, its seal says {sealed}); nothing was imported. Use an unchanged "
            f"copy, or export the versions again with `nbmodels export`"
        )


def seal_archive(path: str | os.PathLike[str]) -> str:
    """Seal, in place, an archive written by another tool, the way export seals its own;
    returns the seal (a sha256). For archives you built and trust (the tests' hostile
    ones): import still checks every member behind the seal. A ``.zip`` must end with an
    end record without comment; a sealed file is refused."""
    kind = archive_kind(path)
    dfs, rel, shown = archive_destination(path)
    if not dfs.is_file(rel):
        raise NBModelsError(f"{shown} is not a file; give the path of an archive to seal")
    tmp = PurePosixPath(f".{rel.name}.{os.urandom(6).hex()}.partial")
    raw = dfs.hashing_writer(tmp, tmp.name)
    stream = io.BufferedWriter(raw, 1 << 20)
    sealer = Sealer(stream, kind)
    try:
        with dfs.open_read(rel) as src:
            size = src.seek(0, io.SEEK_END)
            tail = len(SEAL_PREFIX) + len(_PLACEHOLDER) + len(_SEAL_SUFFIX[kind])
            src.seek(max(0, size - tail))
            end = src.read()
            if len(end) == tail and end.startswith(SEAL_PREFIX):
                raise ArchiveError(f"{shown} is sealed already")
            if kind == "zip":
                src.seek(max(0, size - 22))
                end = src.read()
                if len(end) != 22 or not end.startswith(_ZIP_END) or end[20:] != b"\0\0":
                    raise ArchiveError(
                        f"{shown} does not end with a zip end record without a comment; "
                        f"cannot seal it"
                    )
                size -= 2  # the comment length, rewritten below
            src.seek(0)
            left = size
            while left and (chunk := src.read(min(CHUNK_BYTES, left))):
                sealer.write(chunk)
                left -= len(chunk)
        if kind == "zip":
            sealer.write(struct.pack("<H", len(SEAL_PREFIX) + len(_PLACEHOLDER)))
        sealer.write(seal_placeholder(kind))
        digest = sealer.finish()
        stream.close()
        dfs.rename(tmp, rel)
    except BaseException:
        with contextlib.suppress(Exception):
            raw.abort()
        dfs.remove_file(tmp)
        raise
    return digest

