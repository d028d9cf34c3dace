"""The format interface: how one kind of model becomes artifact files and back."""

from __future__ import annotations

import importlib.util
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar

from ..errors import FormatUnavailableError, IntegrityError, NBModelsError
from ..progress import Progress
from ..storage.backend import FileDigest, StorageBackend

__all__ = ["ArtifactSink", "ArtifactSource", "ModelFormat", "VerifyingStream", "class_path",
           "import_optional"]


class _CountingWriter:
    """A writer that tells its sink how many bytes went through it (for progress)."""

    def __init__(self, writer: Any, on_write: Callable[[int], None]) -> None:
        self._writer = writer
        self._on_write = on_write

    def write(self, data: Any) -> int:
        n = self._writer.write(data)
        self._on_write(memoryview(data).nbytes if n is None else n)
        return n

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._writer, attr)

    def __enter__(self) -> _CountingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.__exit__(*exc)


class ArtifactSink:
    """Where a format writes one version's files; every file is hashed as it is written."""

    def __init__(self, fs: StorageBackend, directory: PurePosixPath, *,
                 progress: Progress | None = None) -> None:
        self.fs = fs
        self.directory = PurePosixPath(directory)
        self.progress = progress
        self.written = 0  # bytes written through open(), reported as stage "write"
        self._writers: dict[str, Any] = {}
        self._digests: dict[str, FileDigest] = {}

    def open(self, name: str) -> BinaryIO:
        """A new binary file ``name`` in the version folder, hashed while written."""
        if name in self._writers or name in self._digests or "/" in name or name.startswith("."):
            raise ValueError(f"artifact name {name!r} is reused or not a plain file name")
        writer = self.fs.hashing_writer(self.directory / name, name)
        self._writers[name] = writer
        if self.progress is not None:
            return _CountingWriter(writer, self._wrote)  # type: ignore[return-value]
        return writer  # type: ignore[return-value]

    def _wrote(self, n: int) -> None:
        self.written += n
        assert self.progress is not None
        self.progress("write", self.written, None)

    def path(self, name: str) -> Path:
        """A path for libraries that can only write to a path; call :meth:`add` afterwards."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"artifact name {name!r} is not a plain file name")
        local = self.fs.local_path(self.directory / name)
        if local is None:
            raise NBModelsError(f"this format writes through a file path, which the store "
                                f"at {self.fs.url} does not offer")
        return local

    def add(self, name: str) -> None:
        """Record a file that a library wrote to :meth:`path` (hashed by reading it once)."""
        self._digests[name] = self.fs.digest(self.directory / name)

    def digests(self) -> list[FileDigest]:
        """Close every open writer (fsyncing it) and return all files, sorted by name."""
        for name, writer in self._writers.items():
            writer.close()
            assert writer.digest is not None
            self._digests[name] = writer.digest
        self._writers.clear()
        return [self._digests[n] for n in sorted(self._digests)]

    def abort(self) -> None:
        """Close every open writer without fsync, for a save that failed."""
        for writer in self._writers.values():
            writer.abort()
        self._writers.clear()


class VerifyingStream:
    """An artifact's bytes in file order (``read``, ``readline``, ``readinto``), hashed
    as they are read; :meth:`verify` checks the whole file against the record."""

    def __init__(self, stream: Any, sha256: str) -> None:
        self.read = stream.read
        self.readline = stream.readline
        self.readinto = stream.readinto
        self.readinto_kept = stream.readinto_kept
        self.peek = stream.peek
        self._stream = stream
        self._sha256 = sha256

    @property
    def remaining(self) -> int:
        """Bytes of the file not read yet."""
        return int(self._stream.size - self._stream.position)

    def verify(self) -> None:
        """Read the rest and compare size and sha256 with the record."""
        self._stream.verify(self._sha256)


class ArtifactSource:
    """Read access to one version's files that verifies each against the record first."""

    def __init__(self, fs: StorageBackend, directory: PurePosixPath,
                 files: list[dict[str, Any]]) -> None:
        self.fs = fs
        self.directory = PurePosixPath(directory)
        self._files = {f["name"]: f for f in files}
        self._scratch: Path | None = None

    def names(self) -> list[str]:
        """The artifact names the record lists, sorted."""
        return sorted(self._files)

    def _entry(self, name: str) -> dict[str, Any]:
        try:
            return self._files[name]
        except KeyError:
            raise IntegrityError(f"the record of {self.directory.name} lists no sha256 for "
                                 f"{name!r}, so it cannot be verified; run `nbmodels "
                                 f"rebuild-index` to adopt the folder") from None

    def read_bytes(self, name: str) -> bytes:
        """The bytes of ``name``, after its size and sha256 were checked."""
        entry = self._entry(name)
        return self.fs.read_verified(self.directory / name, entry["size"], entry["sha256"])

    def open_verified(self, name: str) -> AbstractContextManager[Any]:
        """A context manager yielding the verified bytes of ``name`` (a buffer that is also a
        forward file, for ``pickle.load``), once their size and sha256 matched.

        Cheaper than :meth:`read_bytes` for large artifacts: read as a file, its memory is
        handed back as the model is built.
        """
        entry = self._entry(name)
        return self.fs.verified(self.directory / name, entry["size"], entry["sha256"])

    @contextmanager
    def open_stream(self, name: str) -> Iterator[VerifyingStream | None]:
        """``name`` read once, forward, hashed as it goes (``None`` where the backend
        offers no such stream: use :meth:`open_verified`). Nothing read from it may be
        deserialized before its ``verify()`` returned: it raises
        :class:`IntegrityError` if size or sha256 differ from the record."""
        entry = self._entry(name)
        make = getattr(self.fs, "hashed_stream", None)
        if make is None:
            yield None
            return
        with make(self.directory / name, entry["size"]) as stream:
            yield VerifyingStream(stream, entry["sha256"])

    def path(self, name: str) -> Path:
        """The path of a private copy of ``name``, written from its bytes as they were
        hashed and returned once size and sha256 matched the record, for libraries that
        read only from a path. The store's own file is never handed out: a file or
        folder swapped between the check and the library's open cannot change what is
        loaded. The copy lives in a scratch folder outside the store, removed when this
        source is garbage-collected."""
        from ..storage import local

        self._entry(name)
        if "/" in name or name.startswith("."):
            raise IntegrityError(f"artifact name {name!r} is not a plain file name")
        if self._scratch is None:
            self._scratch = local.make_scratch_dir("nbmodels-load-")
            weakref.finalize(self, local.remove_tree, self._scratch)
        target = self._scratch / name
        if not local.exists(target):
            local.write_new_file(target, self._verified_chunks(name))
        return target

    def _verified_chunks(self, name: str) -> Iterator[Any]:
        """The bytes of ``name`` in chunks; the last one only after they all matched."""
        with self.open_stream(name) as stream:
            if stream is None:  # a remote store: its verified private buffer
                with self.open_verified(name) as data, memoryview(data) as view:
                    yield view[:self._files[name]["size"]]
                return
            held = b""
            while chunk := stream.read(8 << 20):
                if held:
                    yield held
                held = chunk
            stream.verify()
            yield held


def import_optional(module: str, extra: str, purpose: str) -> Any:
    """Import ``module``, or say which ``pip install nbmodels[extra]`` provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FormatUnavailableError(f"{purpose} needs {module.split('.')[0]}, which is not "
                                     f"installed; run: pip install nbmodels[{extra}]") from exc


def class_path(obj: Any) -> str:
    """``module.QualName`` of ``obj``'s class."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


class ModelFormat:
    """One way of storing a model. Subclass it and register it to add a format.

    Attributes
    ----------
    name : str
        What users pass as ``format=``, and what the record stores.
    artifacts : tuple of str
        The file names the format writes (the main one first).
    extra : str or None
        The ``pip install nbmodels[EXTRA]`` that provides :attr:`requires`.
    requires : tuple of str
        Importable modules the format needs.
    executes_code_on_load : bool
        Whether loading can run code from the file (pickle does); such formats are only
        loaded from versions this store wrote or that the user chose to trust.
    save_options, load_options : frozenset of str
        Keyword arguments that :meth:`ModelStore.save` / :meth:`ModelStore.load` pass
        through to :meth:`save` / :meth:`load`. Anything else is refused before a file is
        touched, so a misspelt option never goes unnoticed. ``X`` (the training data) is
        always passed to :meth:`save`, as ``None`` when the caller gave none.
    """

    name: ClassVar[str] = ""
    artifacts: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    executes_code_on_load: ClassVar[bool] = True
    description: ClassVar[str] = ""
    save_options: ClassVar[frozenset[str]] = frozenset()
    load_options: ClassVar[frozenset[str]] = frozenset()
    # Whether save() takes ``by_value=True``: store notebook-defined (``__main__``)
    # classes and functions inside the artifact (cloudpickle) instead of by name.
    supports_by_value: ClassVar[bool] = False

    def claims(self, model: Any) -> int:
        """How strongly this format wants ``model``: 0 not at all, higher wins."""
        return 0

    def available(self) -> bool:
        """Whether the libraries the format needs can be imported."""
        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)

    def check_available(self) -> None:
        """Raise :class:`FormatUnavailableError` naming the extra to install."""
        if not self.available():
            missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
            hint = f"pip install nbmodels[{self.extra}]" if self.extra else \
                f"pip install {' '.join(missing)}"
            raise FormatUnavailableError(f"format {self.name!r} needs {', '.join(missing)}, "
                                         f"which is not installed; run: {hint}")

    def check_options(self, action: str, options: dict[str, Any]) -> None:
        """Refuse ``options`` that this format does not take for ``action`` (save or load)."""
        allowed = self.save_options if action == "save" else self.load_options
        given = {k for k, v in options.items() if not (k == "weights_only" and not v)}
        unknown = sorted(given - set(allowed) - ({"X"} if action == "save" else set()))
        if not unknown:
            return
        if action == "load" and options.get("weights_only") and "weights_only" not in allowed:
            why = "; it runs code when loaded" if self.executes_code_on_load else ""
            raise NBModelsError(f"weights_only=True: format {self.name!r} has no weights-only "
                                f"form{why}; load it without weights_only")
        takes = ", ".join(sorted(allowed)) or "no options"
        raise NBModelsError(f"format {self.name!r} does not take {', '.join(unknown)} when "
                            f"{'saving' if action == 'save' else 'loading'} (it takes: {takes})")

    def save(self, model: Any, sink: ArtifactSink, **options: Any) -> dict[str, Any]:
        """Write ``model`` into ``sink``; return format details to keep in the record."""
        raise NotImplementedError

    def load(self, source: ArtifactSource, info: dict[str, Any], **options: Any) -> Any:
        """Rebuild the model from verified artifacts; ``info`` is what :meth:`save` returned."""
        raise NotImplementedError

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        """For a hand-made folder holding ``files``: the ``info`` to load it, or ``None``."""
        return None

    def __repr__(self) -> str:
        return f"<ModelFormat {self.name}>"
