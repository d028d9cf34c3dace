"""The local storage backend: a store in a folder on this machine's disk.

Nothing else in nbmodels opens, renames or deletes a file of a store, so the
durability rules live in one place: artifacts are hashed while they are written (one
pass over the bytes), fsynced before they are renamed into place, and read back in one
pass that checks size and sha256 before any byte reaches a deserializer. The
module-level functions work on absolute paths (also for scratch folders outside any
store); :class:`LocalBackend` is the :class:`~nbmodels.storage.backend.StorageBackend`
that the store uses, on store-relative paths that never leave the root.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import mmap
import os
import queue
import shutil
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import IntegrityError
from .backend import FileDigest, FileInfo, StorageBackend

__all__ = [
    "FileDigest",
    "HashedStream",
    "HashingWriter",
    "LocalBackend",
    "VerifiedBuffer",
    "append_line",
    "atomic_write_bytes",
    "atomic_write_json",
    "describe_mode",
    "fsync_dir",
    "hashed_stream",
    "mapped_verified",
    "open_regular",
    "parse_json",
    "read_json",
    "read_regular",
    "read_verified",
    "sha256_file",
    "write_new_file",
]

_CHUNK = 8 << 20


class _BackgroundHasher:
    """sha256 in a second thread, fed with chunks that nobody will mutate.

    hashlib releases the GIL on large updates, so hashing overlaps with the caller's
    serialization and write system calls instead of adding to them.
    """

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="nbmodels-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            try:
                self._hash.update(chunk)
            except BaseException as exc:  # surfaced in hexdigest(); keep draining
                self._error = exc

    def update(self, chunk: Any) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()


_sync_file_range: Any = None


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to begin writing a range of ``fd`` to disk, without waiting.

    Linux's ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which the ``os`` module does not
    wrap; elsewhere (or if it fails) nothing happens and ``fsync`` does all the work.
    """
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = False
        if sys.platform.startswith("linux"):
            import ctypes
            import ctypes.util

            with contextlib.suppress(OSError, AttributeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                                   use_errno=True)
                func = libc.sync_file_range
                func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
                func.restype = ctypes.c_int
                _sync_file_range = func
    if _sync_file_range:
        _sync_file_range(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE; errors: no-op


class HashingWriter(io.RawIOBase):
    """A write-only binary file that computes size and sha256 as bytes go through.

    ``close()`` fsyncs the file (so it survives a power cut before the rename that
    publishes it) and fixes :attr:`digest`.
    """

    def __init__(self, path: Path, name: str, *, dir_fd: int | None = None) -> None:
        """``dir_fd``: create the file named ``path.name`` in that open folder (``path``
        is then only shown in messages); a link in its place is never followed."""
        super().__init__()
        self.path = Path(path)
        self.name_in_version = name
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        self._fd = (os.open(self.path, flags, 0o644) if dir_fd is None
                    else os.open(self.path.name, flags, 0o644, dir_fd=dir_fd))
        self._hasher = _BackgroundHasher()
        self._size = 0
        self._written_back = 0
        self.digest: FileDigest | None = None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:  # type: ignore[override]
        view = memoryview(b)
        n = view.nbytes
        if n == 0:
            return 0
        if not view.c_contiguous:
            # One copy, in memory order (what pickle means by a contiguous buffer's
            # bytes); both the file and the hash get it.
            flat = memoryview(view.tobytes(order="A"))
            self._hasher.update(flat)
        else:
            flat = view.cast("B")
            # bytes are immutable and a PickleBuffer pins its exporter (a numpy array
            # that is not being changed while it is saved); anything else may be reused
            # by the caller once write() returns, so the hasher gets a copy.
            if isinstance(b, bytes) or type(b).__name__ == "PickleBuffer":
                self._hasher.update(flat)
            else:
                self._hasher.update(flat.tobytes())
        written = 0
        while written < n:
            written += os.write(self._fd, flat[written:written + _CHUNK])
        self._size += n
        if self._size - self._written_back >= _CHUNK:
            # Let the disk start on what is written while serialization goes on, so the
            # fsync in close() waits for the last few megabytes, not the whole file.
            _start_writeback(self._fd, self._written_back, self._size - self._written_back)
            self._written_back = self._size
        return n

    def close(self) -> None:
        if self.closed:
            return
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            super().close()  # closed from here on, even if the hash below fails
        self.digest = FileDigest(self.name_in_version, self._size, self._hasher.hexdigest())

    def abort(self) -> None:
        """Close without fsync, for a save that is being abandoned."""
        if not self.closed:
            os.close(self._fd)
            super().close()
            with contextlib.suppress(Exception):  # the save's own error is the one to see
                self._hasher.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # platforms without directory fds (Windows): nothing to do
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    ``durable=False`` skips the fsyncs, for derived files (the index) that can be rebuilt.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def touch(path: Path) -> None:
    """Create an empty marker file durably (no temp file: an empty file cannot be half).

    A link at ``path`` is never followed (it could create or touch a file elsewhere)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_NONBLOCK", 0), 0o644)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(Path(path).parent)


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True) -> None:
    """Write ``obj`` as indented JSON, atomically (see :func:`atomic_write_bytes`)."""
    data = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")
    atomic_write_bytes(path, data + b"\n", durable=durable)


def read_json(path: Path) -> Any:
    """Parse the JSON file at ``path`` (errors propagate: callers decide what is fatal)."""
    with open(path, "rb") as f:
        return json.loads(f.read())


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"holds {name}, which JSON does not allow (the store never writes it)")


def parse_json(data: bytes) -> Any:
    """Parse JSON the way the store writes it: UTF-8, no NaN or Infinity. Nesting too
    deep for the parser is a ``ValueError`` like any other malformed file."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("is nested too deeply to be parsed") from None


def sha256_file(path: Path) -> FileDigest:
    """Size and sha256 of an existing file, read once in chunks."""
    with open(path, "rb", buffering=0) as f:
        return _digest_of(f, Path(path).name)


def _digest_of(f: Any, name: str) -> FileDigest:
    """Size and sha256 of what is left in the unbuffered binary file ``f``, read in chunks."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    while n := f.readinto(buf):
        h.update(view[:n])
        size += n
    return FileDigest(name, size, h.hexdigest())


def _open_regular(path: Path) -> int:
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
            n = f.readinto(view[done:done + _CHUNK])
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
    return _read_verified_fd(_open_regular(path), path, size, sha256)


def _read_verified_fd(fd: int, path: Path, size: int, sha256: str) -> bytes:
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
    with _mapped_verified_fd(_open_regular(path), path, size, sha256) as buffer:
        yield buffer


@contextlib.contextmanager
def _mapped_verified_fd(fd: int, path: Path, size: int,
                        sha256: str) -> Iterator[VerifiedBuffer]:
    """:func:`mapped_verified` of the open regular file ``fd`` (closed here)."""
    buffer = None
    try:
        _check_size_fd(fd, path, size)
        buffer = VerifiedBuffer(size)
        hasher = _BackgroundHasher()
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
        self._hasher = _BackgroundHasher()
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
                n = self._pull(view[done:done + _CHUNK], owned=owned)
                if not n:
                    break
                done += n
            return done

    def verify(self, sha256: str) -> None:
        """Hash what is left of the file and compare size and sha256 with the record;
        :class:`IntegrityError` if they differ."""
        self._buf, self._pos = b"", 0
        # A fresh chunk each time: the hashing thread may still be reading the last one.
        while self._pull(memoryview(bytearray(min(_CHUNK, self.size - self._pulled + 1)))):
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
    with _hashed_stream_fd(_open_regular(path), path, size) as stream:
        yield stream


@contextlib.contextmanager
def _hashed_stream_fd(fd: int, path: Path, size: int) -> Iterator[HashedStream]:
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


# -- directories -----------------------------------------------------------------------------

def make_dirs(path: Path) -> None:
    """Create ``path`` and its parents; an existing folder is fine."""
    Path(path).mkdir(parents=True, exist_ok=True)


def new_temp_dir(parent: Path, prefix: str) -> Path:
    """A fresh, empty directory in ``parent`` (same filesystem, so a rename is atomic)."""
    make_dirs(parent)
    path = Path(parent) / f"{prefix}{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def rename(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (atomic on one filesystem) and make it durable."""
    os.rename(src, dst)
    fsync_dir(Path(dst).parent)


def remove_tree(path: Path) -> None:
    """Remove a file or a directory tree; a missing path is not an error."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        if sys.version_info >= (3, 12):  # onerror is deprecated there
            shutil.rmtree(path, onexc=_ignore_missing_exc)
        else:
            shutil.rmtree(path, onerror=_ignore_missing)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _ignore_missing_exc(func: Any, path: str, exc: BaseException) -> None:
    if not isinstance(exc, FileNotFoundError):
        raise exc


def _ignore_missing(func: Any, path: str, exc_info: Any) -> None:
    _ignore_missing_exc(func, path, exc_info[1])


def tree_size(path: Path) -> int:
    """Total size in bytes of the files under ``path`` (0 if it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def list_dir(path: Path) -> list[str]:
    """Entry names of ``path``; an absent directory is empty."""
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def iter_files(path: Path) -> Iterator[Path]:
    """Files directly inside ``path``, sorted by name."""
    for name in sorted(list_dir(path)):
        p = Path(path) / name
        if p.is_file():
            yield p


def exists(path: Path) -> bool:
    """Whether ``path`` exists (a file or a folder)."""
    return os.path.exists(path)


def is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder."""
    return os.path.isdir(path)


def stamp(path: Path) -> list[int]:
    """A cheap fingerprint of a directory's entries: mtime (ns) and link count (of the
    folder itself: a link in its place is not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return [0, 0]
    return [st.st_mtime_ns, st.st_nlink]


def file_stamp(path: Path) -> list[int] | None:
    """Identity of one file's current content: inode, size, mtime and ctime (ns).

    An atomic rewrite (temp file + ``os.replace``) always gives a new inode, and an
    in-place edit a new mtime; ``None`` when the file is absent.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def file_size(path: Path) -> int:
    """Size of a file in bytes (0 if it is gone)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def mtime_iso(path: Path) -> str:
    """A file's modification time as UTC ISO 8601 (``...Z``)."""
    from datetime import datetime, timezone

    ts = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc).replace(microsecond=0)
    return ts.isoformat().replace("+00:00", "Z")


def read_text(path: Path) -> str:
    """The UTF-8 text of a small file (a model card)."""
    return Path(path).read_text(encoding="utf-8")


def read_bytes(path: Path) -> bytes:
    """The bytes of a scratch file (not an artifact: those go through :func:`read_verified`)."""
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path: Path, data: bytes) -> None:
    """Write a scratch file in one go, without fsync (it lives in a scratch folder)."""
    with open(path, "wb") as f:
        f.write(data)


def walk_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, at any depth, sorted by path."""
    found = [Path(root) / name for root, _dirs, files in os.walk(folder) for name in files]
    return sorted(found)


def make_scratch_dir(prefix: str) -> Path:
    """A new private folder in the system's temporary directory, outside every store;
    the caller removes it with :func:`remove_tree`."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix))


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """:func:`make_scratch_dir`, removed again when the block ends."""
    path = make_scratch_dir(prefix)
    try:
        yield path
    finally:
        remove_tree(path)


def write_new_file(path: Path, chunks: Iterable[Any]) -> None:
    """Create the scratch file ``path`` from ``chunks``, under a temporary name renamed
    into place after the last chunk: if ``chunks`` raises, nothing is left behind."""
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with open(part, "xb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


def remove_file(path: Path) -> None:
    """Remove one file; a missing file is not an error."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def open_for_read(path: Path) -> io.BufferedReader:
    """``path`` opened for binary reading (a derived file such as a plot, served as is)."""
    return open(path, "rb")


REPLACED_PREFIX = ".replaced-"


def publish_files(target: Path | str, files: dict[str, bytes], *,
                  stale: Iterable[str] = (), commit_last: str | None = None,
                  dir_fd: int | None = None, shown: str | None = None) -> None:
    """Write a folder of small derived files (an evaluation) so that readers see the
    old set or the new set, whole, never a mix.

    The new set is written into a fresh temporary sibling of ``target``; files of the
    old folder that this set neither replaces nor lists as ``stale`` are hard-linked in
    beside them. A new ``target`` is then one rename. An existing one is switched by
    two renames (old folder aside as ``.replaced-{name}-S``, new folder in place), and
    the old folder's subfolders (other data sets) are moved over before the old one is
    removed. A crash in between is repaired by :func:`recover_published`, which the
    next publication and ``gc`` run: the old folder comes back whole if the new one is
    not in place yet. ``commit_last`` is kept for callers; the switch is one rename.
    Nothing is fsynced: the files can be recomputed. Every step is made relative to the
    parent folder's descriptor (``dir_fd``: ``target`` is a name in that open folder,
    as the local backend passes it; ``shown`` names it in messages), so a link in
    place of the folder is refused when it is used, never written through.
    """
    if dir_fd is not None:
        _publish_at(dir_fd, str(target), shown or str(target), files, stale)
        return
    target = Path(target)
    make_dirs(target.parent)
    fd = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _publish_at(fd, target.name, str(target), files, stale)
    finally:
        os.close(fd)


def recover_published(target: Path | str, *, dir_fd: int | None = None,
                      shown: str | None = None) -> bool:
    """Finish or undo a switch of ``target`` that a crash interrupted (see
    :func:`publish_files`, also for ``dir_fd`` and ``shown``); ``True`` when something
    was done."""
    if dir_fd is not None:
        return _recover_at(dir_fd, str(target), shown or str(target))
    target = Path(target)
    try:
        fd = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        return _recover_at(fd, target.name, str(target))
    finally:
        os.close(fd)


# -- regular files only ----------------------------------------------------------------------

def describe_mode(mode: int) -> str:
    """What a file of this ``st_mode`` is, for messages (``"a FIFO"``, ...)."""
    import stat as st

    for test, words in ((st.S_ISREG, "a regular file"), (st.S_ISDIR, "a folder"),
                        (st.S_ISLNK, "a symbolic link"), (st.S_ISFIFO, "a FIFO"),
                        (st.S_ISSOCK, "a socket"), (st.S_ISCHR, "a character device"),
                        (st.S_ISBLK, "a block device")):
        if test(mode):
            return words
    return "a special file"


def open_regular(path: str | Path) -> int:
    """A read-only descriptor of ``path`` if it is a regular file, else ``OSError``.

    Opened without following a final symlink and without blocking (a FIFO would
    otherwise hang the reader forever), and checked on the descriptor itself, so
    what is read is what was checked.
    """
    import stat as st

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, f"{path} is a symbolic link, which the store never "
                                       f"follows") from None
        raise
    info = os.fstat(fd)
    if not st.S_ISREG(info.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path} is {describe_mode(info.st_mode)}, not a regular "
                                    f"file; the store reads only regular files")
    return fd


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a link, FIFO or device).

    Opened by :func:`open_regular` (no link followed, never blocking); ``limit`` bounds
    what is read, so a record that is a link to ``/dev/zero`` or a huge file cannot
    exhaust memory.
    """
    return _read_limited(open_regular(path), path, limit)


def _read_limited(fd: int, path: str | Path, limit: int | None) -> bytes:
    """:func:`read_regular` of the open regular file ``fd`` (closed here)."""
    try:
        info = os.fstat(fd)
        if limit is not None and info.st_size > limit:
            raise ValueError(f"{path} is {info.st_size} bytes, more than the {limit} a file "
                             f"of this kind may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1 if limit is not None else -1)
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit:
        raise ValueError(f"{path} grew past {limit} bytes while it was read")
    return data


# A folder opened to be listed or fsynced; folders only walked through are opened with
# O_PATH where there is one (Linux): the same refusal of links, at a lower cost.
_DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))
_WALK_FLAGS = _DIR_FLAGS & ~os.O_RDONLY | getattr(os, "O_PATH", os.O_RDONLY)
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _is_link_at(name: str, dir_fd: int) -> bool:
    """Whether ``name`` in the open folder ``dir_fd`` is a symbolic link (for messages)."""
    import stat as st

    try:
        return st.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _remove_tree_at(dir_fd: int, name: str, shown: str) -> None:
    """Remove ``name`` (a file, a link or a folder tree) from the open folder ``dir_fd``.

    Every folder is opened without following a link and emptied through its own
    descriptor, so a folder swapped for a link during the removal is refused, never
    followed (what ``shutil.rmtree``'s fd-based walk does, on every Python version)."""
    import stat as st

    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not st.S_ISDIR(info.st_mode):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
        return
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _swapped_error(exc, name, dir_fd, shown) from None
    try:
        with os.scandir(fd) as entries:
            names = [entry.name for entry in entries]
        for child in names:
            _remove_tree_at(fd, child, f"{shown}/{child}")
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _swapped_error(exc, name, dir_fd, shown) from None


def _swapped_error(exc: OSError, name: str, dir_fd: int, shown: str) -> OSError:
    """The error for a folder being removed that is no folder any more: a link swapped
    in is named as one (and left alone: never followed)."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link_at(name, dir_fd):
        return OSError(errno.ELOOP, f"{shown} became a symbolic link while it was removed; "
                                    f"the store never follows links out of its root "
                                    f"(remove the link)")
    return OSError(exc.errno, exc.strerror, shown)


def _walk_error(exc: OSError, current: str, part: str, dir_fd: int) -> OSError:
    """The error for a folder ``part`` (shown as ``current``) that could not be opened
    in ``dir_fd``: a link is named as one (``O_NOFOLLOW`` refused it)."""
    if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and _is_link_at(part, dir_fd)):
        return OSError(errno.ELOOP, f"{current} is a symbolic link; the store never "
                                    f"follows links out of its root")
    return OSError(exc.errno, exc.strerror, current)


class LocalBackend(StorageBackend):
    """A store in a local folder: the durability and safety rules of this module, on
    store-relative paths.

    Every operation reaches its file through directory descriptors: the root is opened
    once per operation, each folder on the way is opened relative to the one before
    without following a link (``O_NOFOLLOW``), and the final open, stat, listing,
    removal or rename is made relative to the last folder's descriptor. A component
    that is a symbolic link (``trained/`` pointing elsewhere, a version folder linked to
    ``/etc``) is refused at the moment it is used, not by a check before it, so a
    folder swapped for a link between two steps cannot lead outside the root: nothing
    outside is read, written or deleted through the store.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self._root = self.url.rstrip("/") or "/"
        self._locks: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"LocalBackend({self.url!r})"

    def _parts(self, path: PurePosixPath | str) -> list[str]:
        rel = path if isinstance(path, str) else str(path)
        parts = rel.split("/")
        if (rel.startswith("/") or "\\" in rel or "\0" in rel
                or any(part in ("", ".", "..") for part in parts)):
            raise ValueError(f"{rel!r} is not a path inside the store")
        return parts

    def path(self, path: PurePosixPath | str) -> str:
        """The absolute path of a store-relative one, after checking that it stays in the
        root: no absolute path, no ``..``, and no folder on the way that is a link
        (which could lead outside the root). For messages and for libraries that can
        only take a path (:meth:`local_path`); the backend's own operations go through
        directory descriptors instead (see the class)."""
        parts = self._parts(path)
        current = self._root
        for part in parts[:-1]:
            current = f"{current}/{part}"
            if os.path.islink(current):
                raise OSError(errno.ELOOP, f"{current} is a symbolic link; the store never "
                                           f"follows links out of its root")
        return f"{current}/{parts[-1]}"

    def _open_root(self, flags: int, *, create: bool = False) -> int:
        # The root itself is the user's choice: a link there is followed.
        flags = (flags & ~getattr(os, "O_NOFOLLOW", 0))
        try:
            return os.open(self._root, flags)
        except FileNotFoundError:
            if not create:
                raise
        os.makedirs(self._root, exist_ok=True)
        return os.open(self._root, flags)

    def _open_dirs(self, parts: list[str], *, create: bool = False,
                   readable: bool = False) -> int:
        """A descriptor of the folder ``root/parts...``, each component opened relative
        to the one before and never through a link (``create``: missing folders are
        made on the way; ``readable``: the last one can be listed and fsynced). Errors
        name the absolute path; a link is an ``ELOOP``."""
        last = len(parts) - 1
        fd = self._open_root(_DIR_FLAGS if readable and last < 0 else _WALK_FLAGS,
                             create=create)
        current = self._root
        try:
            for i, part in enumerate(parts):
                current = f"{current}/{part}"
                flags = _DIR_FLAGS if readable and i == last else _WALK_FLAGS
                try:
                    child = os.open(part, flags, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                    child = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = child
        except OSError as exc:
            error = _walk_error(exc, current, part, fd)
            os.close(fd)
            raise error from None
        return fd

    def _parent(self, path: PurePosixPath | str, *, create: bool = False,
                readable: bool = False) -> tuple[int, str, str]:
        """The open folder holding ``path``'s last component (see :meth:`_open_dirs`),
        that component's name, and the absolute path to show in messages."""
        parts = self._parts(path)
        shown = f"{self._root}/{'/'.join(parts)}"
        try:
            fd = self._open_dirs(parts[:-1], create=create, readable=readable)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise
            raise OSError(exc.errno, exc.strerror, shown) from None  # as an open of it
        return fd, parts[-1], shown

    def local_path(self, path: PurePosixPath) -> Path | None:
        return Path(self.path(path))

    def root_exists(self) -> bool:
        return os.path.isdir(self._root)

    def display(self, path: PurePosixPath) -> str:
        return self.path(path)

    # -- reading -----------------------------------------------------------------------------
    def stat(self, path: PurePosixPath) -> FileInfo | None:
        import stat as st

        try:
            fd, name, _shown = self._parent(path)
        except OSError:
            return None
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(fd)
        kind = "file" if st.S_ISREG(info.st_mode) else "dir" if st.S_ISDIR(info.st_mode) \
            else "other"
        return FileInfo(kind, info.st_size, info.st_mtime_ns,
                        (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns),
                        describe_mode(info.st_mode))

    def list_dir(self, path: PurePosixPath) -> list[str]:
        try:
            fd = self._open_dirs(self._parts(path), readable=True)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
                return []  # a link is never listed; an absent folder is empty
            raise
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def _open_file(self, path: PurePosixPath) -> tuple[int, str]:
        """A read-only descriptor of the regular file ``path`` and its absolute path:
        opened relative to its folder's descriptor, without following a link and
        without blocking; ``OSError`` (naming it) for anything else."""
        import stat as st

        dir_fd, name, shown = self._parent(path)
        try:
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR
                                                and _is_link_at(name, dir_fd)):
                    raise OSError(errno.ELOOP, f"{shown} is a symbolic link, which the "
                                               f"store never follows") from None
                raise OSError(exc.errno, exc.strerror, shown) from None
        finally:
            os.close(dir_fd)
        info = os.fstat(fd)
        if not st.S_ISREG(info.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, f"{shown} is {describe_mode(info.st_mode)}, not a "
                                        f"regular file; the store reads only regular files")
        return fd, shown

    def read_bytes(self, path: PurePosixPath, *, limit: int | None = None) -> bytes:
        fd, shown = self._open_file(path)
        return _read_limited(fd, shown, limit)

    def read_json(self, path: PurePosixPath, *, limit: int = 16 << 20) -> Any:
        fd, shown = self._open_file(path)
        return parse_json(_read_limited(fd, shown, limit))

    def _open_artifact(self, path: PurePosixPath) -> tuple[int, Path]:
        """A read-only descriptor of the artifact ``path`` and its absolute path, refused
        (:class:`IntegrityError`) unless it is a regular file (see :meth:`_open_file`);
        a link on the way is an ``OSError``."""
        import stat as st

        try:
            dir_fd, name, shown = self._parent(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise
            raise IntegrityError(f"artifact {self._root}/{path} is missing; run `nbmodels "
                                 f"verify` to see what else is damaged") from None
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                info = None
            if isinstance(exc, FileNotFoundError) or info is None:
                raise IntegrityError(f"artifact {shown} is missing; run `nbmodels verify` "
                                     f"to see what else is damaged") from None
            if not st.S_ISREG(info.st_mode):
                raise IntegrityError(f"artifact {shown} is {describe_mode(info.st_mode)}, "
                                     f"not a regular file; the store never reads it "
                                     f"(replace it with the file)") from None
            raise IntegrityError(f"artifact {shown} cannot be opened as a regular file "
                                 f"({exc.strerror}); refusing to read it") from None
        finally:
            os.close(dir_fd)
        mode = os.fstat(fd).st_mode
        if not st.S_ISREG(mode):
            os.close(fd)
            raise IntegrityError(f"artifact {shown} is {describe_mode(mode)}, not a regular "
                                 f"file; the store never reads it (replace it with the file)")
        return fd, Path(shown)

    @contextlib.contextmanager
    def verified(self, path: PurePosixPath, size: int,
                 sha256: str) -> Iterator[VerifiedBuffer]:
        fd, shown = self._open_artifact(path)  # on entering: no descriptor left open
        with _mapped_verified_fd(fd, shown, size, sha256) as buffer:
            yield buffer

    def read_verified(self, path: PurePosixPath, size: int, sha256: str) -> bytes:
        fd, shown = self._open_artifact(path)
        return _read_verified_fd(fd, shown, size, sha256)

    @contextlib.contextmanager
    def hashed_stream(self, path: PurePosixPath, size: int) -> Iterator[HashedStream]:
        """The artifact as a :class:`HashedStream` (verify before use)."""
        fd, shown = self._open_artifact(path)
        with _hashed_stream_fd(fd, shown, size) as stream:
            yield stream

    def digest(self, path: PurePosixPath) -> FileDigest:
        fd, shown = self._open_artifact(path)
        with os.fdopen(fd, "rb", buffering=0) as f:
            return _digest_of(f, shown.name)

    def open_read(self, path: PurePosixPath) -> Any:
        fd, _shown = self._open_artifact(path)
        return os.fdopen(fd, "rb")

    def stamp(self, path: PurePosixPath) -> list[int]:
        try:
            fd, name, _shown = self._parent(path)
        except FileNotFoundError:
            return [0, 0]
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return [0, 0]
        finally:
            os.close(fd)
        return [info.st_mtime_ns, info.st_nlink]

    # -- writing -----------------------------------------------------------------------------
    def hashing_writer(self, path: PurePosixPath, name: str) -> HashingWriter:
        # O_EXCL | O_NOFOLLOW: a link already at the path is an error, never followed.
        fd, _name, shown = self._parent(path)
        try:
            return HashingWriter(Path(shown), name, dir_fd=fd)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def create_exclusive(self, path: PurePosixPath, data: bytes) -> None:
        fd, name, shown = self._parent(path, readable=True)
        try:
            tmp = f"{name}.{uuid.uuid4().hex[:12]}.tmp"
            try:
                _write_new_at(fd, tmp, data, durable=True)
                try:
                    # fails if the name exists: never replaces a commit
                    os.link(tmp, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
                except OSError as exc:
                    if exc.errno == errno.EEXIST:
                        raise FileExistsError(errno.EEXIST, f"{shown} exists") from None
                    # A filesystem without hard links: the model's lock still serializes
                    # the writers of this store, so check-then-rename is exclusive among them.
                    if _exists_at(name, fd):
                        raise FileExistsError(errno.EEXIST, f"{shown} exists") from None
                    os.rename(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
            _fsync_fd(fd)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def replace(self, path: PurePosixPath, data: bytes, *, durable: bool = True) -> None:
        fd, name, shown = self._parent(path, readable=durable)
        try:
            tmp = f"{name}.{uuid.uuid4().hex[:12]}.tmp"
            try:
                _write_new_at(fd, tmp, data, durable=durable)
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise
            if durable:
                _fsync_fd(fd)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def make_dirs(self, path: PurePosixPath) -> None:
        os.close(self._open_dirs(self._parts(path), create=True))

    def new_temp_dir(self, parent: PurePosixPath, prefix: str) -> PurePosixPath:
        fd = self._open_dirs(self._parts(parent), create=True)
        name = f"{prefix}{uuid.uuid4().hex[:12]}"
        shown = f"{self._root}/{parent}/{name}"
        try:
            os.mkdir(name, dir_fd=fd)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)
        return parent / name

    def rename(self, src: PurePosixPath, dst: PurePosixPath) -> None:
        src_fd, src_name, src_shown = self._parent(src)
        try:
            dst_fd, dst_name, dst_shown = self._parent(dst, readable=True)
            try:
                os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                _fsync_fd(dst_fd)
            except OSError as exc:
                raise _named(exc, src_shown, dst_shown) from None
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)

    def touch(self, path: PurePosixPath) -> None:
        fd, name, shown = self._parent(path, readable=True)
        try:
            flags = (os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
            file_fd = os.open(name, flags, 0o644, dir_fd=fd)
            try:
                os.fsync(file_fd)
            finally:
                os.close(file_fd)
            _fsync_fd(fd)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def remove_file(self, path: PurePosixPath) -> None:
        try:
            fd, name, shown = self._parent(path)
        except FileNotFoundError:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=fd)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def remove_tree(self, path: PurePosixPath) -> None:
        try:
            fd, name, shown = self._parent(path)
        except FileNotFoundError:
            return
        try:
            _remove_tree_at(fd, name, shown)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def sync_dir(self, path: PurePosixPath) -> None:
        try:
            fd = self._open_dirs(self._parts(path), readable=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise
            return  # nothing there to make durable (as fsync_dir)
        try:
            _fsync_fd(fd)
        finally:
            os.close(fd)

    def tree_size(self, path: PurePosixPath) -> int:
        import stat as st

        try:
            fd, name, _shown = self._parent(path)
        except OSError:
            return 0
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not st.S_ISDIR(info.st_mode):
                return 0 if st.S_ISLNK(info.st_mode) else info.st_size
            total = 0
            for _root, _dirs, files, folder_fd in os.fwalk(name, dir_fd=fd):
                for f in files:
                    with contextlib.suppress(OSError):
                        total += os.stat(f, dir_fd=folder_fd, follow_symlinks=False).st_size
            return total
        except OSError:
            return 0
        finally:
            os.close(fd)

    def publish_files(self, target: PurePosixPath, files: dict[str, bytes], *,
                      stale: Iterable[str] = (), commit_last: str | None = None) -> None:
        """:func:`publish_files` of the folder ``target``, every step made relative to
        directory descriptors (a link in place of the folder or of its parent is
        refused when it is used)."""
        info = self.stat(target)
        if info is not None and info.kind != "dir":  # a link would be written through
            raise OSError(errno.ENOTDIR, f"{self._root}/{target} is {info.what}, not a "
                                         f"folder; the store never writes through it "
                                         f"(remove it)")
        fd, name, shown = self._parent(target, create=True, readable=True)
        try:
            publish_files(name, files, stale=stale, commit_last=commit_last, dir_fd=fd,
                          shown=shown)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    def recover_published(self, target: PurePosixPath) -> bool:
        try:
            fd, name, shown = self._parent(target, readable=True)
        except FileNotFoundError:
            return False
        try:
            return recover_published(name, dir_fd=fd, shown=shown)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

    # -- locks -------------------------------------------------------------------------------
    def lock(self, name: str, timeout: float) -> Any:
        lock = self._locks.get(name)
        if lock is None:
            from filelock import FileLock

            self.make_dirs(PurePosixPath("registry/locks"))
            folder = Path(self.path("registry/locks/x")).parent
            lock = FileLock(str(folder / f"{name}.lock"), timeout=timeout)
            self._locks[name] = lock
        # The lock file is opened for writing and truncated: a link in its place would
        # truncate whatever it points to, and a FIFO or device is no lock.
        info = self.stat(PurePosixPath(f"registry/locks/{name}.lock"))
        if info is not None and info.kind != "file":
            raise OSError(errno.EINVAL, f"{lock.lock_file} is {info.what}, not a regular "
                                        f"file; remove it (it only serializes writers)")
        return lock

    def is_locked_elsewhere(self, name: str) -> bool:
        from filelock import Timeout

        lock = self.lock(name, 0)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False


def _named(exc: OSError, shown: str, shown2: str | None = None) -> OSError:
    """``exc`` naming the store's absolute paths instead of the names relative to a
    folder's descriptor that the system call was given."""
    if exc.errno is None or exc.filename is None or os.path.isabs(os.fsdecode(exc.filename)):
        return exc
    return OSError(exc.errno, exc.strerror, shown, None, shown2)


def _fsync_fd(fd: int) -> None:
    """fsync an open folder (a rename or a new entry in it becomes durable)."""
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise


def _exists_at(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _write_new_at(dir_fd: int, name: str, data: bytes, *, durable: bool) -> None:
    """Create the new file ``name`` in the open folder ``dir_fd`` holding ``data``
    (fsynced when ``durable``); a link or anything else at the name is an error."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def _subdir_fd(dir_fd: int, name: str, shown: str) -> int:
    """The folder ``name`` of the open folder ``dir_fd``, opened without following a link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _walk_error(exc, shown, name, dir_fd) from None


def _is_real_dir_at(name: str, dir_fd: int) -> bool:
    import stat as st

    try:
        return st.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _publish_at(parent_fd: int, target: str, shown: str, files: dict[str, bytes],
                stale: Iterable[str]) -> None:
    """:func:`publish_files` of ``target`` in the open folder ``parent_fd``."""
    import stat as st

    _recover_at(parent_fd, target, shown)
    tmp = f".tmp-{target}-{uuid.uuid4().hex[:12]}"
    os.mkdir(tmp, dir_fd=parent_fd)
    try:
        tmp_fd = _subdir_fd(parent_fd, tmp, f"{shown}/../{tmp}")
        try:
            for name, data in files.items():
                _write_new_at(tmp_fd, name, data, durable=False)
            try:
                os.rename(tmp, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
                return
            except OSError:
                if not _is_real_dir_at(target, parent_fd):
                    raise
            dropped = set(files) | set(stale)
            old_fd = _subdir_fd(parent_fd, target, shown)
            try:
                for name in os.listdir(old_fd):
                    if name in dropped:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        mode = os.stat(name, dir_fd=old_fd, follow_symlinks=False).st_mode
                        if st.S_ISREG(mode):
                            os.link(name, name, src_dir_fd=old_fd, dst_dir_fd=tmp_fd,
                                    follow_symlinks=False)
            finally:
                os.close(old_fd)
        finally:
            os.close(tmp_fd)
        aside = f"{REPLACED_PREFIX}{target}-{uuid.uuid4().hex[:8]}"
        os.rename(target, aside, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        os.rename(tmp, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        _finish_switch_at(parent_fd, target, aside, shown)
    finally:
        _remove_tree_at(parent_fd, tmp, f"{shown}/../{tmp}")


def _finish_switch_at(parent_fd: int, target: str, aside: str, shown: str) -> None:
    """Move the subfolders of the old folder ``aside`` into the new ``target`` (both in
    the open folder ``parent_fd``), then drop the old one."""
    aside_fd = _subdir_fd(parent_fd, aside, f"{shown}/../{aside}")
    try:
        target_fd = _subdir_fd(parent_fd, target, shown)
        try:
            for name in os.listdir(aside_fd):
                if _is_real_dir_at(name, aside_fd) and not _exists_at(name, target_fd):
                    os.rename(name, name, src_dir_fd=aside_fd, dst_dir_fd=target_fd)
        finally:
            os.close(target_fd)
    finally:
        os.close(aside_fd)
    _remove_tree_at(parent_fd, aside, f"{shown}/../{aside}")


def _recover_at(parent_fd: int, target: str, shown: str) -> bool:
    """:func:`recover_published` of ``target`` in the open folder ``parent_fd``."""
    prefix = f"{REPLACED_PREFIX}{target}-"
    done = False
    for name in sorted(os.listdir(parent_fd)):
        if not name.startswith(prefix) or "-" in name[len(prefix):]:
            continue
        if not _is_real_dir_at(name, parent_fd):
            continue
        if not _exists_at(target, parent_fd):
            os.rename(name, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        else:
            _finish_switch_at(parent_fd, target, name, shown)
        done = True
    return done


def append_line(path: Path, line: str, *, limit: int = 1 << 20) -> None:
    """Append one line to a small private file (created with its folder, owner-only),
    durably. One ``write`` of a short line with ``O_APPEND``: concurrent appenders never
    interleave their lines. A path that is a link or not a regular file is refused."""
    import stat as st

    path = Path(path)
    if "\n" in line or len(line) > limit:
        raise ValueError("one short line at a time")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o600)
    try:
        if not st.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file")
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
