"""Reaching files relative to directory descriptors, never through a link.

The open flags of a folder walked through (:data:`WALK_FLAGS`, ``O_PATH`` where there is
one), listed or fsynced (:data:`DIR_FLAGS`) and of a file read (:data:`READ_FLAGS`), all
with ``O_NOFOLLOW``; operations on a name in an open folder (:func:`exists_at`,
:func:`write_new_at`, :func:`subdir_fd`, :func:`remove_tree_at`, ...), and the errors
that name the absolute path (:func:`named`) or a link met on the way
(:func:`walk_error`).
"""

from __future__ import annotations

import contextlib
import errno
import os

__all__ = [
    "DIR_FLAGS",
    "READ_FLAGS",
    "WALK_FLAGS",
    "exists_at",
    "fsync_fd",
    "is_link_at",
    "is_real_dir_at",
    "named",
    "remove_tree_at",
    "subdir_fd",
    "walk_error",
    "write_new_at",
]


# A folder opened to be listed or fsynced; folders only walked through are opened with
# O_PATH where there is one (Linux): the same refusal of links, at a lower cost.
DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))
WALK_FLAGS = DIR_FLAGS & ~os.O_RDONLY | getattr(os, "O_PATH", os.O_RDONLY)
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def is_link_at(name: str, dir_fd: int) -> bool:
    """Whether ``name`` in the open folder ``dir_fd`` is a symbolic link (for messages)."""
    import stat as st

    try:
        return st.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def remove_tree_at(dir_fd: int, name: str, shown: str) -> None:
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
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _swapped_error(exc, name, dir_fd, shown) from None
    try:
        with os.scandir(fd) as entries:
            names = [entry.name for entry in entries]
        for child in names:
            remove_tree_at(fd, child, f"{shown}/{child}")
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
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and is_link_at(name, dir_fd):
        return OSError(errno.ELOOP, f"{shown} became a symbolic link while it was removed; "
                                    f"the store never follows links out of its root "
                                    f"(remove the link)")
    return OSError(exc.errno, exc.strerror, shown)


def walk_error(exc: OSError, current: str, part: str, dir_fd: int) -> OSError:
    """The error for a folder ``part`` (shown as ``current``) that could not be opened
    in ``dir_fd``: a link is named as one (``O_NOFOLLOW`` refused it)."""
    if exc.errno == errno.ELOOP or (exc.errno == errno.ENOTDIR and is_link_at(part, dir_fd)):
        return OSError(errno.ELOOP, f"{current} is a symbolic link; the store never "
                                    f"follows links out of its root")
    return OSError(exc.errno, exc.strerror, current)


def named(exc: OSError, shown: str, shown2: str | None = None) -> OSError:
    """``exc`` naming the store's absolute paths instead of the names relative to a
    folder's descriptor that the system call was given."""
    if exc.errno is None or exc.filename is None or os.path.isabs(os.fsdecode(exc.filename)):
        return exc
    return OSError(exc.errno, exc.strerror, shown, None, shown2)


def fsync_fd(fd: int) -> None:
    """fsync an open folder (a rename or a new entry in it becomes durable)."""
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise


def exists_at(name: str, dir_fd: int) -> bool:
    """Whether ``name`` exists in the open folder ``dir_fd`` (a link counts, unfollowed)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def write_new_at(dir_fd: int, name: str, data: bytes, *, durable: bool) -> None:
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


def subdir_fd(dir_fd: int, name: str, shown: str) -> int:
    """The folder ``name`` of the open folder ``dir_fd``, opened without following a link."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise walk_error(exc, shown, name, dir_fd) from None


def is_real_dir_at(name: str, dir_fd: int) -> bool:
    """Whether ``name`` in the open folder ``dir_fd`` is a folder (not a link to one)."""
    import stat as st

    try:
        return st.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
