"""The storage backend interface: every byte of a store goes through one of these.

Paths are store-relative POSIX paths, :class:`~pathlib.PurePosixPath` objects or plain
strings (``trained/churn_v1.0.0/model.joblib``); a backend maps them onto its medium (a local
folder, a bucket prefix) and refuses any path that is absolute or climbs out with
``..``. The store above never builds a path on the medium itself, so a new medium is
a new backend, not a second code path.

What must be atomic, and why
----------------------------
- :meth:`StorageBackend.create_exclusive` is the commit point of a save: it creates a
  file only if it is absent, in one step, so that two writers (two kernels, two
  machines) can never both publish the same version. Locally an ``O_EXCL`` create of a
  fully written temp file (hard link); on an object store a conditional PUT
  (``If-None-Match: *``).
- :meth:`StorageBackend.replace` swaps a small file (a record edit, the index, the
  aliases) so that a reader sees the old content or the new one, never a mixture.
  Locally temp file + ``os.replace``; on an object store a single PUT, which is
  atomic per object (with ``if_match`` as a compare-and-swap for aliases).
- :meth:`StorageBackend.rename` moves a whole folder of artifacts into place at once.
  Locally one ``rename`` of a directory; an object store has no such thing, so a remote
  backend uploads artifacts straight to their final keys and relies on the record
  being written last (nothing without a record is visible).
- :meth:`StorageBackend.hashing_writer` computes size and sha256 while bytes are
  written, so an artifact is read once (to write it) and its record holds the hash of
  exactly what was written; the file is durable (fsync) when the writer closes.
- :meth:`StorageBackend.verified` yields bytes only after their size and sha256 match
  the record, and the bytes yielded are the ones that were checked (a private copy,
  never a shared map of a file that someone may rewrite meanwhile).
- :meth:`StorageBackend.lock` serializes writers of one model name (a file lock
  locally; a remote backend uses conditional writes instead and its lock only
  serializes the writers of one process).

Only regular files inside the root are ever read as part of the store: a symlink, a
FIFO or a device where the layout expects a file or a folder is reported as such
(:meth:`StorageBackend.stat` tells what is there) and never followed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

__all__ = ["MAX_SMALL_FILE", "FileDigest", "FileInfo", "StorageBackend", "json_bytes", "rel_path"]

# Records, cards, registry files and evaluation summaries are small: a larger one is
# damaged or hostile, and reading it whole must not exhaust the process.
MAX_SMALL_FILE = 16 << 20


@dataclass(frozen=True)
class FileDigest:
    """Name, size and sha256 of one artifact file."""

    name: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class FileInfo:
    """What :meth:`StorageBackend.stat` found at a path.

    ``kind`` is ``"file"`` (a regular file), ``"dir"``, or ``"other"`` (a symlink, FIFO,
    socket or device: never read as part of the store). ``identity`` changes whenever
    the content is replaced (inode and times locally, the ETag on an object store).
    ``what`` names it for people (``"a FIFO"``, ``"a symbolic link"``, ...).
    """

    kind: str
    size: int
    mtime_ns: int
    identity: tuple[Any, ...]
    what: str = ""


def json_bytes(obj: Any) -> bytes:
    """``obj`` as the store writes JSON: indented UTF-8, and no NaN or Infinity (which
    other JSON readers refuse, so a record must not hold them)."""
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def rel_path(path: str | PurePosixPath) -> PurePosixPath:
    """``path`` as a store-relative path, refusing absolute paths and ``..``."""
    p = PurePosixPath(path)
    if p.is_absolute() or any(part in ("..", "") for part in p.parts) or "\\" in str(p):
        raise ValueError(f"{str(path)!r} is not a path inside the store")
    return p


class StorageBackend(ABC):
    """One store's medium. See the module docstring for what each operation guarantees."""

    #: How the root is shown to users (a folder path or a URL).
    url: str
    #: Whether :meth:`rename` moves a folder at once (a local disk); an object store
    #: copies object by object, so the store writes versions in place behind a claim.
    atomic_rename: bool = True
    #: Whether :meth:`lock` keeps out every writer of the store (a file lock), or only
    #: this process's (a remote store, where conditional writes keep machines apart).
    lock_is_global: bool = True

    # -- reading ---------------------------------------------------------------------------
    @abstractmethod
    def stat(self, path: PurePosixPath) -> FileInfo | None:
        """What is at ``path`` (without following a link), or ``None`` if nothing."""

    @abstractmethod
    def list_dir(self, path: PurePosixPath) -> list[str]:
        """Entry names in a folder; an absent folder (or a non-folder) is empty."""

    @abstractmethod
    def read_bytes(self, path: PurePosixPath, *, limit: int | None = MAX_SMALL_FILE) -> bytes:
        """The bytes of the regular file ``path``; raises ``OSError`` for anything else
        and ``ValueError`` when it is larger than ``limit``."""

    @abstractmethod
    def read_json(self, path: PurePosixPath, *, limit: int = MAX_SMALL_FILE) -> Any:
        """Parse a small JSON file (``OSError``/``ValueError`` propagate to the caller)."""

    @abstractmethod
    def verified(self, path: PurePosixPath, size: int,
                 sha256: str) -> AbstractContextManager[Any]:
        """The bytes of an artifact, yielded only once size and sha256 match: a buffer
        (``pickle.loads``) that is also a forward file (``pickle.load``), holding a
        private copy, so what is deserialized is exactly what was checked."""

    @abstractmethod
    def read_verified(self, path: PurePosixPath, size: int, sha256: str) -> bytes:
        """The bytes of an artifact after their size and sha256 matched."""

    @abstractmethod
    def digest(self, path: PurePosixPath) -> FileDigest:
        """Size and sha256 of an existing regular file, read once in chunks."""

    @abstractmethod
    def open_read(self, path: PurePosixPath) -> BinaryIO:
        """A regular file opened for streamed binary reading."""

    @abstractmethod
    def stamp(self, path: PurePosixPath) -> list[int]:
        """A cheap fingerprint of a folder's entries: changes when one is added or removed."""

    # -- writing ---------------------------------------------------------------------------
    @abstractmethod
    def hashing_writer(self, path: PurePosixPath, name: str) -> Any:
        """A new file opened for binary writing that hashes what goes through; after
        ``close()`` its ``digest`` attribute holds the :class:`FileDigest`."""

    @abstractmethod
    def create_exclusive(self, path: PurePosixPath, data: bytes) -> None:
        """Create ``path`` holding ``data`` only if it does not exist (``FileExistsError``
        otherwise), durably and all at once: the commit point."""

    @abstractmethod
    def replace(self, path: PurePosixPath, data: bytes, *, durable: bool = True) -> None:
        """Atomically replace (or create) a small file."""

    @abstractmethod
    def make_dirs(self, path: PurePosixPath) -> None:
        """Create a folder and its parents (nothing on media without folders)."""

    @abstractmethod
    def new_temp_dir(self, parent: PurePosixPath, prefix: str) -> PurePosixPath:
        """A new, empty folder in ``parent`` whose name starts with ``prefix``."""

    @abstractmethod
    def rename(self, src: PurePosixPath, dst: PurePosixPath) -> None:
        """Move a file or folder (atomically where the medium can), durably."""

    @abstractmethod
    def touch(self, path: PurePosixPath) -> None:
        """Create an empty marker file durably."""

    @abstractmethod
    def remove_file(self, path: PurePosixPath) -> None:
        """Remove one file; a missing one is not an error."""

    @abstractmethod
    def remove_tree(self, path: PurePosixPath) -> None:
        """Remove a folder and everything in it (links are removed, never followed)."""

    @abstractmethod
    def sync_dir(self, path: PurePosixPath) -> None:
        """Make entries added to or removed from a folder durable."""

    @abstractmethod
    def tree_size(self, path: PurePosixPath) -> int:
        """Total bytes of the regular files under ``path``."""

    @abstractmethod
    def publish_files(self, target: PurePosixPath, files: dict[str, bytes], *,
                      stale: Iterable[str] = (), commit_last: str | None = None) -> None:
        """Write a folder of small derived files so that a failure leaves no half."""

    def recover_published(self, target: PurePosixPath) -> bool:
        """Finish or undo a :meth:`publish_files` of ``target`` that a crash interrupted
        (call under the model's lock); ``True`` when something was done. Media whose
        publication is one step have nothing to do."""
        return False

    @abstractmethod
    def lock(self, name: str, timeout: float) -> AbstractContextManager[Any]:
        """The lock that serializes writers of one model name (reentrant in a process)."""

    @abstractmethod
    def is_locked_elsewhere(self, name: str) -> bool:
        """Whether another process holds ``name``'s lock right now."""

    @abstractmethod
    def root_exists(self) -> bool:
        """Whether the store's root exists yet (it is created by the first save)."""

    def local_path(self, path: PurePosixPath) -> Path | None:
        """The path on this machine's disk, for libraries that can only use paths
        (``None`` on a remote medium: stage through a scratch folder instead)."""
        return None

    def display(self, path: PurePosixPath) -> str:
        """How to show ``path`` to a user."""
        return f"{self.url.rstrip('/')}/{path}"

    # -- compare-and-swap (aliases, the index) -------------------------------------------
    def read_versioned(self, path: PurePosixPath, *,
                       limit: int = MAX_SMALL_FILE) -> tuple[bytes, str] | None:
        """The bytes of a small file and a token of this content (``None`` if absent),
        for :meth:`replace_if`. An object store's token is the ETag."""
        info = self.stat(path)
        if info is None:
            return None
        return self.read_bytes(path, limit=limit), repr(info.identity)

    def replace_if(self, path: PurePosixPath, data: bytes, expected: str | None) -> bool:
        """Replace a small file only if its token is still ``expected`` (``None``: only if
        it is still absent); ``False`` when another writer changed it first.

        This default checks, then replaces: exclusive among writers holding the model's
        lock, which is global on a local disk. An object store overrides it with a
        conditional PUT."""
        info = self.stat(path)
        if (None if info is None else repr(info.identity)) != expected:
            return False
        if expected is None:
            return self.create_if_absent(path, data)
        self.replace(path, data)
        return True

    def create_if_absent(self, path: PurePosixPath, data: bytes) -> bool:
        """:meth:`create_exclusive` that answers ``False`` instead of raising when the
        file is already there."""
        try:
            self.create_exclusive(path, data)
        except FileExistsError:
            return False
        return True

    def remove_if(self, path: PurePosixPath, expected: str) -> bool:
        """Remove a file only if its token is still ``expected`` (see :meth:`replace_if`)."""
        info = self.stat(path)
        if info is None or repr(info.identity) != expected:
            return False
        self.remove_file(path)
        return True

    def may_be_in_progress(self, path: PurePosixPath) -> bool:
        """Whether a leftover at ``path`` could still belong to a save running elsewhere
        (where the lock cannot tell: a remote store, within its grace period)."""
        return False

    # -- conveniences built on the operations above ---------------------------------------
    def exists(self, path: PurePosixPath) -> bool:
        """Whether anything is at ``path``."""
        return self.stat(path) is not None

    def is_file(self, path: PurePosixPath) -> bool:
        """Whether ``path`` is a regular file."""
        info = self.stat(path)
        return info is not None and info.kind == "file"

    def is_dir(self, path: PurePosixPath) -> bool:
        """Whether ``path`` is a real folder (not a link to one)."""
        info = self.stat(path)
        return info is not None and info.kind == "dir"

    def write_json(self, path: PurePosixPath, obj: Any, *, durable: bool = True) -> None:
        """Replace ``path`` with ``obj`` as indented JSON (see :func:`json_bytes`)."""
        self.replace(path, json_bytes(obj), durable=durable)

    def iter_files(self, path: PurePosixPath) -> Iterator[PurePosixPath]:
        """Regular files directly inside a folder, sorted by name."""
        for name in sorted(self.list_dir(path)):
            if self.is_file(path / name):
                yield path / name
