"""Reading artifacts back checked against their record (size and sha256).

One pass over the bytes: :func:`read_verified` (private bytes), :func:`mapped_verified`
(a :class:`VerifiedBuffer` of private memory, yielded once the hash matched) and
:func:`hashed_stream` (a :class:`HashedStream` handing bytes out as they are hashed, to be
verified before use); the ``*_fd`` forms work on a descriptor already opened (the local
backend opens it through directory descriptors), :func:`open_artifact` opens one by path.
Any mismatch is an :class:`~nbmodels.errors.IntegrityError`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IntegrityError
from .backend import FileDigest
from .hashing import CHUNK, BackgroundHasher

__all__ = [
    "HashedStream",
    "VerifiedBuffer",
    "digest_of",
    "hashed_stream",
    "hashed_stream_fd",
    "mapped_verified",
    "mapped_verified_fd",
    "open_artifact",
    "read_verified",
    "read_verified_fd",
    "sha256_file",
]


def sha256_file(path: Path) -> FileDigest:
    """Size and sha256 of an existing file, read once in chunks."""
    with open(path, "rb", buffering=0) as f:
        return digest_of(f, Path(path).name)


def digest_of(f: Any, name: str) -> FileDigest:
    """Size and sha256 of what is left in the unbuffered binary file ``f``, read in chunks."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := f.readinto(buf):
        h.update(view[:n])
        size += n
    return FileDigest(name, size, h.hexdigest())


def open_artifact(path: Path) -> int:
    """A read-only descriptor of ``path``, refused unless it is a regular file.

    Opened without following a final link and without blocking (a FIFO swapped in
    after a ``stat`` must not hang the reader); the type is checked on the open file.
    """
    import stat as st

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise IntegrityError(f"artifact {path} is missing; run `nbmodels verify` to see "
                             f"what else is damaged") from None
    except OSError as exc:
        raise IntegrityError(f"artifact {path} cannot be opened as a regular file "
                             f"({exc.strerror}); refusing to read it") from None
    if not st.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IntegrityError(f"artifact {path} is not a regular file (a link, FIFO or "
                             f"device); refusing to read it")
    return fd


def _read_exactly(fd: int, path: Path, view: memoryview, hasher: Any) -> None:
    """Fill ``view`` from ``fd`` in chunks, feeding each chunk to ``hasher``; the file
    must end exactly there (it is compared with the record's size)."""
    size = view.nbytes
    done = 0
    with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
        while done < size:
            n = f.readinto(view[done:done + CHUNK])
            if not n:
                raise IntegrityError(f"artifact {path} became shorter while it was read "
                                     f"({done} of {size} bytes); it is being rewritten: "
                                     f"load it again when the writer is done")
            hasher.update(view[done:done + n])
            done += n
        if f.read(1):
            raise IntegrityError(f"artifact {path} grew past the {size} bytes of its record "
                                 f"while it was read; it is being rewritten: load it again "
                                 f"when the writer is done")


def read_verified(path: Path, size: int, sha256: str) -> bytes:
    """The bytes of ``path``, after checking them against ``size`` and ``sha256``.

    Read once into private memory, so the bytes returned are the bytes hashed, whatever
    happens to the file meanwhile. Raises :class:`IntegrityError` naming the file and
    both hashes on any mismatch.
    """
    path = Path(path)
    return read_verified_fd(open_artifact(path), path, size, sha256)


def read_verified_fd(fd: int, path: Path, size: int, sha256: str) -> bytes:
    """:func:`read_verified` of the open regular file ``fd`` (closed here)."""
    try:
        _check_size_fd(fd, path, size)
        data = bytearray(size)
        hasher = hashlib.sha256()
        with memoryview(data) as view:
            _read_exactly(fd, path, view, hasher)
    finally:
        os.close(fd)
    _check_digest(path, sha256, hasher.hexdigest())
    return bytes(data)


def _check_size_fd(fd: int, path: Path, size: int) -> None:
    actual_size = os.fstat(fd).st_size
    if actual_size != size:
        raise IntegrityError(f"artifact {path} has {actual_size} bytes but its record says "
                             f"{size}; the file was changed or truncated after it was saved")


class VerifiedBuffer(mmap.mmap):
    """Private memory holding an artifact's bytes, which were hashed as they were read.

    A read-only view for deserializers in two forms: a buffer (``pickle.loads(buf)``)
    and a forward file (``pickle.load(buf)``, ``joblib.load(buf)``: ``read``,
    ``readinto``, ``peek``, ``seek``, ``tell``). Read as a file, the pages behind the
    reading position are handed back to the system as it goes, so the verified copy
    and the object being built are not both whole in memory at once; reading back
    further than :attr:`KEEP_BEHIND` bytes behind the furthest read is refused.
    """

    KEEP_BEHIND = 1 << 20

    def __new__(cls, size: int) -> VerifiedBuffer:
        return super().__new__(cls, -1, max(size, 1))

    def __init__(self, size: int) -> None:
        self.size = size
        self._released = 0  # bytes [0, _released) were handed back
        self._furthest = 0
        self._can_release = hasattr(mmap, "MADV_DONTNEED") and hasattr(self, "madvise")

    def _consumed(self, end: int) -> None:
        self._furthest = max(self._furthest, end)
        upto = (self._furthest - self.KEEP_BEHIND) // mmap.PAGESIZE * mmap.PAGESIZE
        if self._can_release and upto - self._released >= (16 << 20):
            self.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
            self._released = upto

    def _check_position(self) -> int:
        pos = super().tell()
        if pos < self._released:
            raise OSError(errno.ESPIPE, "a verified artifact is read forward only; this "
                                        "part was already handed back")
        return pos

    def read(self, n: int | None = -1) -> bytes:  # type: ignore[override]
        self._check_position()
        data = super().read(min(n, self.size - super().tell())
                            if n is not None and n >= 0 else self.size - super().tell())
        self._consumed(super().tell())
        return data

    def readinto(self, b: Any) -> int:
        pos = self._check_position()
        with memoryview(b) as view, view.cast("B") as target, memoryview(self) as source:
            n = max(0, min(target.nbytes, self.size - pos))
            target[:n] = source[pos:pos + n]  # one copy, straight from the private pages
        super().seek(pos + n)
        self._consumed(pos + n)
        return n

    def peek(self, n: int = 1) -> bytes:
        pos = self._check_position()
        return self[pos:min(self.size, pos + max(n, 1))]

    def readline(self) -> bytes:  # type: ignore[override]
        self._check_position()
        line = super().readline()
        self._consumed(super().tell())
        return line

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:  # type: ignore[override]
        super().seek(pos, whence)
        return super().tell()

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if min(start, stop) < self._released:
                raise OSError(errno.ESPIPE, "this part of the verified artifact was "
                                            "already handed back")
            return super().__getitem__(slice(start, stop, step))
        return super().__getitem__(key)


@contextlib.contextmanager
def mapped_verified(path: Path, size: int, sha256: str) -> Iterator[VerifiedBuffer]:
    """A :class:`VerifiedBuffer` of ``path``, yielded only once its sha256 matched.

    The file is read once, in chunks, into private anonymous memory (never a shared
    map of the file: a file changed in place or truncated meanwhile would change, or
    fault, the bytes being deserialized); each chunk is hashed in a second thread while
    the next one is read. What the deserializer sees is exactly what was hashed; a file
    rewritten during the read is an :class:`IntegrityError`. The memory is released on
    exit.
    """
    path = Path(path)
    with mapped_verified_fd(open_artifact(path), path, size, sha256) as buffer:
        yield buffer


@contextlib.contextmanager
def mapped_verified_fd(fd: int, path: Path, size: int,
                        sha256: str) -> Iterator[VerifiedBuffer]:
    """:func:`mapped_verified` of the open regular file ``fd`` (closed here)."""
    buffer = None
    try:
        _check_size_fd(fd, path, size)
        buffer = VerifiedBuffer(size)
        hasher = BackgroundHasher()
        try:
            with memoryview(buffer) as whole:
                _read_exactly(fd, path, whole[:size], hasher)
        finally:
            actual = hasher.hexdigest()
    except BaseException:
        if buffer is not None:
            with contextlib.suppress(BufferError):
                buffer.close()
        raise
    finally:
        os.close(fd)
    try:
        _check_digest(path, sha256, actual)
        yield buffer
    finally:
        with contextlib.suppress(BufferError):  # a view still alive: the GC frees it
            buffer.close()


class HashedStream:
    """An artifact read once, forward, with every byte handed out hashed on the way.

    For deserializers that place large parts straight where they belong (numpy arrays
    read into their own memory: one pass, no second copy): :meth:`read`,
    :meth:`readline` and :meth:`readinto` serve the file in order, a large
    ``readinto`` going from the file to the caller's buffer directly. Nothing read
    through it is verified until :meth:`verify` returned: whoever reads it must not
    deserialize anything (run code) before that. Made by :func:`hashed_stream`.
    """

    _FILL = 1 << 20

    def __init__(self, fd: int, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._file = os.fdopen(fd, "rb", buffering=0, closefd=False)
        self._buf = b""
        self._pos = 0          # next byte of _buf to hand out
        self._pulled = 0       # bytes taken from the file so far (all hashed)
        self._hasher = BackgroundHasher()
        self._digest: str | None = None

    @property
    def position(self) -> int:
        """Bytes handed out so far."""
        return self._pulled - (len(self._buf) - self._pos)

    def _pull(self, view: Any, *, owned: bool = True) -> int:
        """Read from the file into ``view`` and queue what came for hashing: ``owned``
        says that ``view``'s memory stays alive and unchanged until :meth:`verify` (else
        the bytes are copied for the hashing thread)."""
        n = self._file.readinto(view)
        if n:
            self._pulled += n
            if self._pulled > self.size:
                raise IntegrityError(f"artifact {self.path} grew past the {self.size} bytes of "
                                     f"its record while it was read; it is being rewritten: "
                                     f"load it again when the writer is done")
            got = view[:n] if n < len(view) else view
            self._hasher.update(got if owned else bytes(got))
        return n or 0

    def _fill(self, want: int) -> None:
        """At least ``want`` bytes in the buffer, unless the file ends first."""
        have = len(self._buf) - self._pos
        if have >= want:
            return
        chunk = bytearray(max(want - have, self._FILL))
        got = 0
        with memoryview(chunk) as view:
            while got < want - have:
                n = self._pull(view[got:])
                if not n:
                    break
                got += n
        # bytes: immutable, so the hashing thread may still be reading the chunk.
        self._buf = self._buf[self._pos:] + bytes(chunk[:got])
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left when ``n`` < 0)."""
        if n is None or n < 0:
            n = self.size - self.position
        self._fill(n)
        data = self._buf[self._pos:self._pos + n]
        self._pos += len(data)
        return data

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes (fewer at the end), without reading past them."""
        self._fill(n)
        return self._buf[self._pos:self._pos + n]

    def readline(self) -> bytes:
        """Bytes up to and including the next newline."""
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                return self.read(end + 1 - self._pos)
            have = len(self._buf) - self._pos
            self._fill(have + 1)
            if len(self._buf) - self._pos == have:
                return self.read(have)

    def readinto(self, b: Any) -> int:
        """Fill ``b`` as far as the file goes; large reads go straight into ``b``."""
        return self._readinto(b, owned=False)

    def readinto_kept(self, b: Any) -> int:
        """:meth:`readinto` for a buffer that the caller keeps alive and unchanged until
        :meth:`verify` (a new numpy array): hashed from ``b`` itself, with no copy."""
        return self._readinto(b, owned=True)

    def _readinto(self, b: Any, *, owned: bool) -> int:
        with memoryview(b) as outer, outer.cast("B") as view:
            have = min(len(self._buf) - self._pos, view.nbytes)
            view[:have] = self._buf[self._pos:self._pos + have]
            self._pos += have
            done = have
            while done < view.nbytes:
                if view.nbytes - done < self._FILL:
                    self._fill(view.nbytes - done)
                    rest = self.read(view.nbytes - done)
                    view[done:done + len(rest)] = rest
                    done += len(rest)
                    break
                n = self._pull(view[done:done + CHUNK], owned=owned)
                if not n:
                    break
                done += n
            return done

    def verify(self, sha256: str) -> None:
        """Hash what is left of the file and compare size and sha256 with the record;
        :class:`IntegrityError` if they differ."""
        self._buf, self._pos = b"", 0
        # A fresh chunk each time: the hashing thread may still be reading the last one.
        while self._pull(memoryview(bytearray(min(CHUNK, self.size - self._pulled + 1)))):
            pass
        if self._pulled != self.size:
            raise IntegrityError(f"artifact {self.path} became shorter while it was read "
                                 f"({self._pulled} of {self.size} bytes); it is being "
                                 f"rewritten: load it again when the writer is done")
        self._digest = self._hasher.hexdigest()
        _check_digest(self.path, sha256, self._digest)

    def close(self) -> None:
        if self._digest is None:
            with contextlib.suppress(BaseException):
                self._digest = self._hasher.hexdigest()  # stop the hashing thread
        self._file.close()


@contextlib.contextmanager
def hashed_stream(path: Path, size: int) -> Iterator[HashedStream]:
    """A :class:`HashedStream` of the regular file ``path`` whose record says ``size``
    bytes (checked first); call its ``verify(sha256)`` before using what was read."""
    path = Path(path)
    with hashed_stream_fd(open_artifact(path), path, size) as stream:
        yield stream


@contextlib.contextmanager
def hashed_stream_fd(fd: int, path: Path, size: int) -> Iterator[HashedStream]:
    """:func:`hashed_stream` of the open regular file ``fd`` (closed here)."""
    try:
        _check_size_fd(fd, path, size)
        stream = HashedStream(fd, path, size)
        try:
            yield stream
        finally:
            stream.close()
    finally:
        os.close(fd)


def _check_digest(path: Path, expected: str, actual: str) -> None:
    if actual != expected:
        raise IntegrityError(f"artifact {path} does not match its record: sha256 is {actual}, "
                             f"expected {expected}; refusing to load it (restore the file or "
                             f"delete this version)")
