"""Writing a file while hashing it, in one pass over the bytes.

:class:`HashingWriter` writes an artifact and computes its size and sha256 as the bytes go
through (the hash in a background thread, :class:`BackgroundHasher`, with the kernel's
writeback started as it goes), then fsyncs it on ``close()``. :data:`CHUNK` is the unit
of reads and writes that the verified reads share.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any

from .backend import FileDigest

__all__ = [
    "CHUNK",
    "BackgroundHasher",
    "HashingWriter",
]


CHUNK = 8 << 20


class BackgroundHasher:
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
        self._hasher = BackgroundHasher()
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
            written += os.write(self._fd, flat[written:written + CHUNK])
        self._size += n
        if self._size - self._written_back >= CHUNK:
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
