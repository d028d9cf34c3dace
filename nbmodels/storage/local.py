"""The local storage backend: a store in a folder on this machine's disk.

Nothing else in nbmodels opens, renames or deletes a file of a store, so the
durability rules live in one place: artifacts are hashed while they are written (one
pass over the bytes), fsynced before they are renamed into place, and read back in one
pass that checks size and sha256 before any byte reaches a deserializer.
:class:`LocalBackend` is the :class:`~nbmodels.storage.backend.StorageBackend` that the
store uses, on store-relative paths that never leave the root, every file reached
through directory descriptors (:mod:`~nbmodels.storage.fd_walk`).

The module-level functions on absolute paths (also for scratch folders outside any
store) live in :mod:`~nbmodels.storage.files`, :mod:`~nbmodels.storage.hashing`,
:mod:`~nbmodels.storage.verified_read` and :mod:`~nbmodels.storage.publish`; they are
re-exported here, where the rest of nbmodels reaches them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from ..errors import IntegrityError
from .backend import FileDigest, FileInfo, StorageBackend
from .fd_walk import DIR_FLAGS as _DIR_FLAGS
from .fd_walk import READ_FLAGS as _READ_FLAGS
from .fd_walk import WALK_FLAGS as _WALK_FLAGS
from .fd_walk import exists_at as _exists_at
from .fd_walk import fsync_fd as _fsync_fd
from .fd_walk import is_link_at as _is_link_at
from .fd_walk import named as _named
from .fd_walk import remove_tree_at as _remove_tree_at
from .fd_walk import walk_error as _walk_error
from .fd_walk import write_new_at as _write_new_at
from .files import (
    append_line,
    atomic_write_bytes,
    atomic_write_json,
    describe_mode,
    exists,
    fsync_dir,
    make_dirs,
    make_scratch_dir,
    open_regular,
    parse_json,
    read_bytes,
    read_json,
    read_regular,
    read_text,
    remove_tree,
    scratch_dir,
    walk_files,
    write_bytes,
    write_new_file,
)
from .files import read_limited as _read_limited
from .hashing import HashingWriter
from .publish import publish_files, recover_published
from .verified_read import (
    HashedStream,
    VerifiedBuffer,
    hashed_stream,
    mapped_verified,
    read_verified,
    sha256_file,
)
from .verified_read import digest_of as _digest_of
from .verified_read import hashed_stream_fd as _hashed_stream_fd
from .verified_read import mapped_verified_fd as _mapped_verified_fd
from .verified_read import read_verified_fd as _read_verified_fd

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
    "exists",
    "fsync_dir",
    "hashed_stream",
    "make_dirs",
    "make_scratch_dir",
    "mapped_verified",
    "open_regular",
    "parse_json",
    "publish_files",
    "read_bytes",
    "read_json",
    "read_regular",
    "read_text",
    "read_verified",
    "recover_published",
    "remove_tree",
    "scratch_dir",
    "sha256_file",
    "walk_files",
    "write_bytes",
    "write_new_file",
]


class _Place(NamedTuple):
    """Where a store path is reached: its open parent folder, its name there, and the
    absolute path that messages show."""

    fd: int
    name: str
    shown: str


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

    @contextlib.contextmanager
    def _at(self, path: PurePosixPath | str, *, missing_ok: bool = False, create: bool = False,
            readable: bool = False) -> Iterator[_Place | None]:
        """The :class:`_Place` of ``path`` (see :meth:`_parent`) for one operation: an
        ``OSError`` of the block names the absolute path, and the folder is closed after.
        ``missing_ok``: ``None`` when a folder on the way is missing."""
        try:
            fd, name, shown = self._parent(path, create=create, readable=readable)
        except FileNotFoundError:
            if not missing_ok:
                raise
            yield None
            return
        try:
            yield _Place(fd, name, shown)
        except OSError as exc:
            raise _named(exc, shown) from None
        finally:
            os.close(fd)

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
        with self._at(path) as at:
            return HashingWriter(Path(at.shown), name, dir_fd=at.fd)

    def create_exclusive(self, path: PurePosixPath, data: bytes) -> None:
        with self._at(path, readable=True) as at:
            fd, name, shown = at
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

    def replace(self, path: PurePosixPath, data: bytes, *, durable: bool = True) -> None:
        with self._at(path, readable=durable) as at:
            fd, name, _shown = at
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
        with self._at(path, readable=True) as at:
            flags = (os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
            file_fd = os.open(at.name, flags, 0o644, dir_fd=at.fd)
            try:
                os.fsync(file_fd)
            finally:
                os.close(file_fd)
            _fsync_fd(at.fd)

    def remove_file(self, path: PurePosixPath) -> None:
        with self._at(path, missing_ok=True) as at, contextlib.suppress(FileNotFoundError):
            if at is not None:
                os.unlink(at.name, dir_fd=at.fd)

    def remove_tree(self, path: PurePosixPath) -> None:
        with self._at(path, missing_ok=True) as at:
            if at is not None:
                _remove_tree_at(at.fd, at.name, at.shown)

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
        with self._at(target, create=True, readable=True) as at:
            publish_files(at.name, files, stale=stale, commit_last=commit_last, dir_fd=at.fd,
                          shown=at.shown)

    def recover_published(self, target: PurePosixPath) -> bool:
        with self._at(target, missing_ok=True, readable=True) as at:
            return at is not None and recover_published(at.name, dir_fd=at.fd, shown=at.shown)

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
