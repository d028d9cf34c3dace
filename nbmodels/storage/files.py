"""Files and folders on absolute paths (also scratch folders outside any store).

Durable atomic writes (:func:`atomic_write_bytes`, :func:`atomic_write_json`,
:func:`touch`, :func:`fsync_dir`), JSON as the store writes it, folders and trees,
stamps (cheap fingerprints of a folder or a file), scratch files, small reads of regular
files only (bounded, never through a link, never blocking on a FIFO) and
:func:`append_line`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "append_line",
    "atomic_write_bytes",
    "atomic_write_json",
    "describe_mode",
    "exists",
    "file_size",
    "file_stamp",
    "fsync_dir",
    "is_dir",
    "iter_files",
    "list_dir",
    "make_dirs",
    "make_scratch_dir",
    "mtime_iso",
    "new_temp_dir",
    "open_for_read",
    "open_regular",
    "parse_json",
    "read_bytes",
    "read_json",
    "read_limited",
    "read_regular",
    "read_text",
    "remove_file",
    "remove_tree",
    "rename",
    "scratch_dir",
    "stamp",
    "touch",
    "tree_size",
    "walk_files",
    "write_bytes",
    "write_new_file",
]


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
    return read_limited(open_regular(path), path, limit)


def read_limited(fd: int, path: str | Path, limit: int | None) -> bytes:
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
