"""One-file export and import of versions (``.zip`` or ``.tar.gz``), and backups.

An archive holds, for each version, the store's own layout::

    metadata/{name}_v{version}/metadata.json     the record, byte for byte
    metadata/{name}_v{version}/model_card.md
    metadata/{name}_v{version}/requirements.txt  pip pins from the record's environment
    trained/{name}_v{version}/...                 the artifacts
    evaluation/{name}_v{version}/...              metrics, plots, report (per data set)
    aliases/{name}.json                           aliases of the exported versions
    nbmodels-archive.json                         what the archive is
    MANIFEST.sha256                               every other member: `sha256sum -c` reads it

Export seals the archive with the sha256 of its own bytes, at its very end: a ``.zip``'s
comment (after the end-of-central-directory record, whose comment-length field the hash
covers) reads ``nbmodels-archive-sha256:<hex>``; a ``.tar.gz`` ends with a second, empty
gzip member whose FCOMMENT field carries the same (gzip and tar readers see one stream).
The hash covers every byte before the hex digits and what follows them is fixed, so a
change of any one byte (content or container: a timestamp, a flag, padding), a
truncation or appended bytes makes the archive fail its seal. Import checks the seal
first, streaming the file once, and refuses an archive without one.

Import is then two passes over the archive. The first reads every member once, checks its
name and kind (no absolute path, no ``..``, no link, no device, no duplicate, only the
layout above, bounded sizes) and its sha256 against the manifest, and every artifact
against its record; nothing is written until all of that passed, so a tampered archive
imports nothing. The second publishes each version through
:func:`~nbmodels.store.transfer.publish_incoming` (the write order of a save) and hashes
every byte again on the way in. Paths in the target are built from validated names,
never from a member's path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import IntegrityError, InvalidNameError, NBModelsError
from ..storage import open_backend
from ..storage.backend import MAX_SMALL_FILE, StorageBackend, json_bytes
from ..storage.layout import (
    EVALUATION,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    TRAINED,
    parse_version_dir,
    validate_alias,
    validate_name,
    version_dir,
)
from ..storage.versions import is_version
from .transfer import (
    MAX_EVALUATION_FILE,
    IncomingVersion,
    TransferReport,
    check_incoming_record,
    conflict_error,
    publish_incoming,
    read_evaluation_files,
    version_state,
)
from .tree import StoreTree

__all__ = [
    "ARCHIVE_SUFFIXES",
    "MANIFEST",
    "SEAL_PREFIX",
    "ArchiveError",
    "ArchiveLimits",
    "ExportReport",
    "archive_kind",
    "backup_name",
    "export_archive",
    "import_archive",
    "requirements_text",
    "seal_archive",
]

MANIFEST = "MANIFEST.sha256"
INFO = "nbmodels-archive.json"
REQUIREMENTS = "requirements.txt"
ALIASES = "aliases"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
_FORMAT_VERSION = 1
_CHUNK = 4 << 20
# zlib level 1: most of an archive is artifacts (pickles, weights) that level 6 barely
# shrinks more, at three times the time.
_LEVEL = 1
_MANIFEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
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


class ArchiveError(IntegrityError):
    """An archive that cannot be imported as it is: damaged, tampered with, or holding a
    member that could write outside the store (nothing of it was imported)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds an archive must stay within (a hostile one must not exhaust the machine)."""

    max_members: int = 200_000
    max_member_bytes: int = 64 << 30
    max_total_bytes: int = 256 << 30
    max_name_length: int = 512


@dataclass
class ExportReport:
    """What :func:`export_archive` wrote."""

    path: str
    versions: list[str] = field(default_factory=list)
    members: int = 0
    size_bytes: int = 0

    def __repr__(self) -> str:
        from ..display import format_size

        return (
            f"exported {len(self.versions)} version(s) to {self.path} "
            f"({self.members} files, {format_size(self.size_bytes)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def archive_kind(path: str | os.PathLike[str]) -> str:
    """``"zip"`` or ``"tar.gz"`` from the file name; anything else is refused."""
    lower = str(path).lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    raise InvalidNameError(
        f"archive {str(path)!r} must end in .zip or .tar.gz (the suffix chooses the format)"
    )


def backup_name(store_url: str, kind: str = "tar.gz", when: datetime | None = None) -> str:
    """``nbmodels-backup-{store}-{UTC time}.{kind}``."""
    when = when or datetime.now(timezone.utc)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", PurePosixPath(store_url.rstrip("/")).name) or "store"
    return f"nbmodels-backup-{stem}-{when.strftime('%Y%m%dT%H%M%S')}Z.{kind}"


def requirements_text(record: dict[str, Any]) -> str:
    """A ``requirements.txt`` pinning the packages the record's environment lists."""
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    lines = [
        f"# {record.get('model_name')}@{record.get('version')}: the environment it was saved in"
    ]
    if env.get("python"):
        lines.append(f"# python {' '.join(str(env['python']).split())}")
    plain = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
    for dist, ver in sorted(packages.items(), key=lambda kv: str(kv[0]).lower()):
        if plain.fullmatch(str(dist)) and plain.fullmatch(str(ver)):
            lines.append(f"{dist}=={ver}")
    return "\n".join(lines) + "\n"


# -- writing ---------------------------------------------------------------------------------


class _HashingReader:
    """Reads from ``src`` and hashes what went through."""

    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data


def _seal_placeholder(kind: str) -> bytes:
    """What an archive's last bytes are before :meth:`_Sealer.finish` puts the hash in."""
    if kind == "zip":
        return SEAL_PREFIX + _PLACEHOLDER  # the zip comment
    return _GZIP_SEAL_HEADER + SEAL_PREFIX + _PLACEHOLDER + _SEAL_SUFFIX[kind]


class _Sealer:
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


class _Writer:
    """Members into a zip or a gzipped tar, on a write-only stream, sealed at close."""

    def __init__(self, kind: str, stream: BinaryIO, when: datetime) -> None:
        self.kind = kind
        self.when = when
        self.lines: list[str] = []
        self.count = 0
        self.sealer = _Sealer(stream, kind)
        if kind == "zip":
            import zipfile

            self.zip = zipfile.ZipFile(
                self.sealer,  # type: ignore[arg-type]
                "w",
                compression=zipfile.ZIP_DEFLATED,
                compresslevel=_LEVEL,
            )
            self.zip.comment = _seal_placeholder(kind)
        else:
            import gzip
            import tarfile

            self.gz = gzip.GzipFile(
                fileobj=self.sealer,  # type: ignore[arg-type]
                mode="wb",
                compresslevel=_LEVEL,
                mtime=0,
            )
            self.tar = tarfile.open(  # noqa: SIM115 - closed in close()
                fileobj=self.gz, mode="w", format=tarfile.PAX_FORMAT
            )

    def add(self, path: str, size: int, src: BinaryIO, *, listed: bool = True) -> str:
        """Add ``size`` bytes read from ``src`` as ``path``; returns their sha256."""
        reader = _HashingReader(src)
        if self.kind == "zip":
            import zipfile

            info = zipfile.ZipInfo(path, self.when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.file_size = size
            with self.zip.open(info, "w", force_zip64=size >= (1 << 31)) as out:
                while chunk := reader.read(min(_CHUNK, size - reader.size)):
                    out.write(chunk)
        else:
            import tarfile

            info = tarfile.TarInfo(path)
            info.size, info.mode = size, 0o644
            info.mtime = int(self.when.timestamp())
            self.tar.addfile(info, reader)  # type: ignore[arg-type]
        if reader.size != size:
            raise IntegrityError(f"{path} changed size while it was exported")
        digest = reader.hash.hexdigest()
        if listed:
            self.lines.append(f"{digest}  {path}\n")
        self.count += 1
        return digest

    def add_bytes(self, path: str, data: bytes, *, listed: bool = True) -> str:
        return self.add(path, len(data), io.BytesIO(data), listed=listed)

    def discard(self) -> None:
        """Forget an unfinished archive (its file is removed by the caller)."""
        if self.kind == "zip":
            self.zip.fp = None  # nothing more is written, not even at garbage collection
        else:
            self.tar.closed = True
            self.gz.fileobj = None

    def close(self) -> None:
        manifest = "".join(sorted(self.lines, key=lambda line: line[66:])).encode("utf-8")
        self.add_bytes(MANIFEST, manifest, listed=False)
        if self.kind == "zip":
            self.zip.close()
        else:
            self.tar.close()
            self.gz.close()
            self.sealer.write(_seal_placeholder(self.kind))
        self.sealer.finish()


def _destination(path: str | os.PathLike[str]) -> tuple[StorageBackend, PurePosixPath, str]:
    dest = Path(path).expanduser().absolute()
    return open_backend(dest.parent), PurePosixPath(dest.name), str(dest)


def export_archive(
    tree: StoreTree,
    refs: list[tuple[str, str]],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    aliases: dict[str, dict[str, str]] | None = None,
    when: datetime | None = None,
) -> ExportReport:
    """Write the versions ``refs`` (exact) of ``tree`` to one archive at ``path``.

    Every artifact is hashed while it is copied and compared with its record (a damaged
    version stops the export). The archive is written under a temporary name and renamed
    when complete. ``aliases`` (``{name: {alias: version}}``) are kept for the exported
    versions they point to.
    """
    kind = archive_kind(path)
    dfs, rel, shown = _destination(path)
    if not dfs.root_exists():
        raise NBModelsError(f"the folder of {shown} does not exist; create it first")
    if dfs.exists(rel) and not overwrite:
        raise NBModelsError(
            f"{shown} exists; pass overwrite=True to replace it", options=("overwrite",)
        )
    if not refs:
        raise NBModelsError("nothing to export: the store has no versions")
    when = (when or datetime.now(timezone.utc)).replace(microsecond=0)
    tmp = PurePosixPath(f".{rel.name}.{os.urandom(6).hex()}.partial")
    raw = dfs.hashing_writer(tmp, tmp.name)
    stream = io.BufferedWriter(raw, 1 << 20)
    report = ExportReport(shown)
    writer = None
    try:
        writer = _Writer(kind, stream, when)  # type: ignore[arg-type]
        for name, version in refs:
            _export_version(tree, writer, name, version)
            report.versions.append(f"{name}@{version}")
        exported: dict[str, set[str]] = {}
        for name, version in refs:
            exported.setdefault(name, set()).add(version)
        for name in sorted(exported):
            kept = {
                a: v
                for a, v in sorted((aliases or {}).get(name, {}).items())
                if v in exported[name]
            }
            if kept:
                writer.add_bytes(f"{ALIASES}/{name}.json", json_bytes(kept))
        from .. import __version__

        writer.add_bytes(
            INFO,
            json_bytes(
                {
                    "format": "nbmodels-archive",
                    "format_version": _FORMAT_VERSION,
                    "created_at": when.isoformat().replace("+00:00", "Z"),
                    "nbmodels_version": __version__,
                    "versions": report.versions,
                }
            ),
        )
        writer.close()
        report.members = writer.count
        stream.close()  # fsyncs the file
        report.size_bytes = raw.digest.size
        dfs.rename(tmp, rel)
    except BaseException:
        if writer is not None:
            writer.discard()
        with contextlib.suppress(Exception):
            raw.abort()
        dfs.remove_file(tmp)
        raise
    return report


def _export_version(tree: StoreTree, writer: _Writer, name: str, version: str) -> None:
    fs = tree.fs
    meta_dir, trained = tree.meta_dir(name, version), tree.trained(name, version)
    raw_record = fs.read_bytes(meta_dir / METADATA_FILE, limit=MAX_SMALL_FILE)
    try:
        record = check_incoming_record(name, version, json.loads(raw_record))
    except ValueError as exc:
        raise IntegrityError(
            f"the record of {name}@{version} is not valid JSON ({exc}); run `nbmodels verify`"
        ) from None
    prefix = version_dir(name, version)
    writer.add_bytes(f"{METADATA}/{prefix}/{METADATA_FILE}", raw_record)
    if fs.is_file(meta_dir / MODEL_CARD):
        writer.add_bytes(
            f"{METADATA}/{prefix}/{MODEL_CARD}",
            fs.read_bytes(meta_dir / MODEL_CARD, limit=MAX_SMALL_FILE),
        )
    writer.add_bytes(
        f"{METADATA}/{prefix}/{REQUIREMENTS}", requirements_text(record).encode("utf-8")
    )
    for entry in sorted(record["files"], key=lambda f: f["name"]):
        member = f"{TRAINED}/{prefix}/{entry['name']}"
        with fs.open_read(trained / entry["name"]) as src:
            digest = writer.add(member, entry["size"], src)
        if digest != entry["sha256"]:
            raise IntegrityError(
                f"artifact {fs.display(trained / entry['name'])} does not "
                f"match its record (sha256 {digest}, expected "
                f"{entry['sha256']}); nothing was exported: run `nbmodels "
                f"verify`"
            )
    for rel, data in read_evaluation_files(tree, name, version):
        writer.add_bytes(f"{EVALUATION}/{prefix}/{rel}", data)


# -- reading ---------------------------------------------------------------------------------


@dataclass
class _Member:
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


class _Reader:
    """The validated members of an archive, each readable as a stream."""

    def __init__(self, kind: str, src: BinaryIO, limits: ArchiveLimits) -> None:
        self.kind = kind
        self.limits = limits
        self.members: list[_Member] = []
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
        self.members.append(_Member(name, size, handle))

    @contextlib.contextmanager
    def open(self, member: _Member) -> Iterator[BinaryIO]:
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

    def __init__(self, inner: Any, member: _Member) -> None:
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


@dataclass
class _Version:
    name: str
    version: str
    record: dict[str, Any] | None = None
    card: bytes | None = None
    artifacts: dict[str, _Member] = field(default_factory=dict)
    evaluation: dict[str, _Member] = field(default_factory=dict)
    first: int = 0

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def _split_version_dir(entry: str, path: str) -> tuple[str, str]:
    parsed = parse_version_dir(entry)
    if parsed is None or not is_version(parsed[1]):
        raise ArchiveError(f"member {path!r} is not in a {{name}}_v{{version}} folder")
    return parsed


def _classify(path: str) -> tuple[str, tuple[str, str] | None, str]:
    """``(kind, (name, version) or None, rest)`` of a member path; anything outside the
    archive's layout is refused."""
    parts = path.split("/")
    if path in (MANIFEST, INFO):
        return path, None, ""
    try:
        if parts[0] == ALIASES and len(parts) == 2 and parts[1].endswith(".json"):
            return "aliases", (validate_name(parts[1][:-5]), ""), ""
        if len(parts) >= 3 and parts[0] in (METADATA, TRAINED, EVALUATION):
            key = _split_version_dir(parts[1], path)
            rest = parts[2:]
            if (
                parts[0] == METADATA
                and len(rest) == 1
                and rest[0] in (METADATA_FILE, MODEL_CARD, REQUIREMENTS)
            ):
                return rest[0], key, ""
            if parts[0] == TRAINED and len(rest) == 1 and not rest[0].startswith("."):
                return "artifact", key, rest[0]
            if parts[0] == EVALUATION and len(rest) in (1, 2):
                for piece in rest:
                    validate_name(piece, "evaluation file name")
                return "evaluation", key, "/".join(rest)
    except ValueError as exc:  # an invalid name
        raise ArchiveError(f"member {path!r}: {exc}") from None
    raise ArchiveError(f"member {path!r} is not part of an nbmodels archive; refusing it")


def _small_limit(kind: str) -> int | None:
    if kind in (METADATA_FILE, MODEL_CARD, REQUIREMENTS, MANIFEST, INFO, "aliases"):
        return MAX_SMALL_FILE if kind != MANIFEST else 64 << 20
    if kind == "evaluation":
        return MAX_EVALUATION_FILE
    return None


def _read_seal(src: BinaryIO, kind: str) -> tuple[str | None, str]:
    """Stream ``src`` once: ``(the seal at its end or None, sha256 of the bytes it covers)``."""
    suffix = _SEAL_SUFFIX[kind]
    keep = len(SEAL_PREFIX) + len(_PLACEHOLDER) + len(suffix)
    digest = hashlib.sha256()
    held = bytearray()
    while chunk := src.read(_CHUNK):
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


def _check_seal(src: BinaryIO, kind: str, shown: str) -> None:
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
    """Seal, in place, an archive written by another tool, the way :func:`export_archive`
    seals its own; returns the seal (a sha256). For archives you built and trust (the
    tests' hostile ones): :func:`import_archive` still checks every member behind it.
    A ``.zip`` must end with an end record without comment; a sealed file is refused."""
    kind = archive_kind(path)
    dfs, rel, shown = _destination(path)
    if not dfs.is_file(rel):
        raise NBModelsError(f"{shown} is not a file; give the path of an archive to seal")
    tmp = PurePosixPath(f".{rel.name}.{os.urandom(6).hex()}.partial")
    raw = dfs.hashing_writer(tmp, tmp.name)
    stream = io.BufferedWriter(raw, 1 << 20)
    sealer = _Sealer(stream, kind)
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
            while left and (chunk := src.read(min(_CHUNK, left))):
                sealer.write(chunk)
                left -= len(chunk)
        if kind == "zip":
            sealer.write(struct.pack("<H", len(SEAL_PREFIX) + len(_PLACEHOLDER)))
        sealer.write(_seal_placeholder(kind))
        digest = sealer.finish()
        stream.close()
        dfs.rename(tmp, rel)
    except BaseException:
        with contextlib.suppress(Exception):
            raw.abort()
        dfs.remove_file(tmp)
        raise
    return digest


def import_archive(
    tree: StoreTree, path: str | os.PathLike[str], *, limits: ArchiveLimits | None = None
) -> TransferReport:
    """Import every version of the archive at ``path`` into ``tree``.

    Verifies the whole archive first (its seal over every byte, then names, kinds,
    sizes, every sha256 against the manifest and every artifact against its record) and
    refuses it whole on any
    problem (:class:`ArchiveError`); refuses it whole if a version exists in the store
    with other artifacts (:class:`~nbmodels.errors.VersionExistsError`). Identical
    versions are skipped; aliases are set where the store has none of that name.
    """
    kind = archive_kind(path)
    sfs, rel, shown = _destination(path)
    if not sfs.is_file(rel):
        raise NBModelsError(
            f"{shown} is not a file; give the path of an archive made by "
            f"`nbmodels export` or `nbmodels backup`"
        )
    limits = limits or ArchiveLimits()
    with sfs.open_read(rel) as src:
        _check_seal(src, kind, shown)
        src.seek(0)
        try:
            reader = _Reader(kind, src, limits)
            versions, aliases, hashes = _verify(reader, shown)
        except ArchiveError:
            raise
        except (OSError, EOFError, ValueError, RuntimeError) as exc:
            raise ArchiveError(
                f"{shown} is damaged ({type(exc).__name__}: {exc}); nothing was imported"
            ) from None
        except Exception as exc:  # zlib.error, tarfile.ReadError, zipfile.BadZipFile
            raise ArchiveError(
                f"{shown} is damaged ({type(exc).__name__}: {exc}); nothing was imported"
            ) from None
        conflicts = [
            v.ref
            for v in versions
            if version_state(tree, v.name, v.version, v.record or {}) == "different"
        ]
        if conflicts:
            raise conflict_error(conflicts, tree.fs.url)
        report = TransferReport(tree.fs.url, source=shown)
        provenance = {"from": PurePosixPath(shown).name, "how": "import"}
        for v in versions:
            outcome = publish_incoming(tree, _incoming(reader, v, hashes), provenance)
            (report.imported if outcome == "imported" else report.identical).append(v.ref)
    _apply_aliases(tree, aliases, report)
    return report


def _verify(
    reader: _Reader, shown: str
) -> tuple[list[_Version], dict[str, dict[str, str]], dict[str, str]]:
    """Pass one: hash every member, check the manifest and the records. Nothing written."""
    hashes: dict[str, str] = {}
    small: dict[str, bytes] = {}
    versions: dict[tuple[str, str], _Version] = {}
    alias_files: dict[str, bytes] = {}
    for index, member in enumerate(reader.members):
        kind, key, rest = _classify(member.path)
        limit = _small_limit(kind)
        if limit is not None and member.size > limit:
            raise ArchiveError(
                f"member {member.path!r} is {member.size} bytes, more than "
                f"the {limit} a file of its kind may have"
            )
        digest = hashlib.sha256()
        keep = kind in (METADATA_FILE, MODEL_CARD, MANIFEST, INFO, "aliases")
        chunks = []
        with reader.open(member) as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                if keep:
                    chunks.append(chunk)
        hashes[member.path] = digest.hexdigest()
        if keep:
            small[member.path] = b"".join(chunks)
        if kind == "aliases":
            assert key is not None
            alias_files[key[0]] = small[member.path]
        elif key is not None:
            v = versions.setdefault(key, _Version(*key, first=index))
            if kind == "artifact":
                v.artifacts[rest] = member
            elif kind == "evaluation":
                v.evaluation[rest] = member
            elif kind == METADATA_FILE:
                try:
                    v.record = json.loads(small[member.path])
                except ValueError as exc:
                    raise ArchiveError(
                        f"the record {member.path!r} is not valid JSON ({exc})"
                    ) from None
            elif kind == MODEL_CARD:
                v.card = small[member.path]
    _check_manifest(small.get(MANIFEST), hashes, shown)
    for v in versions.values():
        if v.record is None:
            raise ArchiveError(f"{v.ref} has files in the archive but no metadata.json")
        try:
            check_incoming_record(v.name, v.version, v.record)
        except IntegrityError as exc:
            raise ArchiveError(str(exc)) from None
        listed = {f["name"]: f for f in v.record["files"]}
        if set(listed) != set(v.artifacts):
            raise ArchiveError(
                f"the artifacts of {v.ref} in the archive "
                f"({', '.join(sorted(v.artifacts)) or 'none'}) are not the "
                f"ones its record lists ({', '.join(sorted(listed))})"
            )
        for filename, entry in listed.items():
            member = v.artifacts[filename]
            if member.size != entry["size"] or hashes[member.path] != entry["sha256"]:
                raise ArchiveError(
                    f"artifact {member.path!r} does not match its record "
                    f"(sha256 {hashes[member.path]}, expected "
                    f"{entry['sha256']}); nothing was imported"
                )
    aliases: dict[str, dict[str, str]] = {}
    for name, data in alias_files.items():
        try:
            table = json.loads(data)
            if not isinstance(table, dict):
                raise ValueError("not a JSON object")
            for alias, target in table.items():
                validate_alias(alias)
                if (name, target) not in versions:
                    raise ValueError(
                        f"alias {alias} points to {target!r}, which the archive does not hold"
                    )
        except ValueError as exc:
            raise ArchiveError(f"{ALIASES}/{name}.json: {exc}") from None
        aliases[name] = table
    ordered = sorted(versions.values(), key=lambda v: v.first)
    return ordered, aliases, hashes


def _check_manifest(manifest: bytes | None, hashes: dict[str, str], shown: str) -> None:
    if manifest is None:
        raise ArchiveError(f"{shown} has no {MANIFEST}; it was not made by nbmodels export")
    listed: dict[str, str] = {}
    try:
        text = manifest.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveError(f"{MANIFEST} is not UTF-8 text") from None
    for line in text.splitlines():
        m = _MANIFEST_LINE.fullmatch(line)
        if m is None or m[2] in listed:
            raise ArchiveError(f"{MANIFEST} has a malformed or repeated line: {line[:100]!r}")
        listed[m[2]] = m[1]
    members = {p: h for p, h in hashes.items() if p != MANIFEST}
    missing = sorted(set(listed) - set(members))
    unlisted = sorted(set(members) - set(listed))
    changed = sorted(p for p in set(listed) & set(members) if listed[p] != members[p])
    for problem, paths in (
        ("missing from the archive", missing),
        ("not in the manifest", unlisted),
        ("changed (sha256 differs from the manifest)", changed),
    ):
        if paths:
            raise ArchiveError(
                f"{shown}: {', '.join(paths[:5])} "
                f"{'is' if len(paths) == 1 else 'are'} {problem}; nothing "
                f"was imported"
            )


def _incoming(reader: _Reader, v: _Version, hashes: dict[str, str]) -> IncomingVersion:
    evaluation = {}
    for rel_path, member in v.evaluation.items():
        with reader.open(member) as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != hashes[member.path]:
            raise ArchiveError(f"{member.path!r} changed while it was imported")
        evaluation[rel_path] = data

    def open_artifact(filename: str) -> Any:
        return reader.open(v.artifacts[filename])

    assert v.record is not None
    return IncomingVersion(v.name, v.version, v.record, v.card, evaluation, open_artifact)


def _apply_aliases(
    tree: StoreTree, aliases: dict[str, dict[str, str]], report: TransferReport
) -> None:
    for name, table in sorted(aliases.items()):
        with tree.registry.lock(name):
            current = tree.registry.aliases(name)
            changed = dict(current)
            for alias, target in sorted(table.items()):
                if alias not in current:
                    changed[alias] = target
                    report.aliases_set.append(f"{name}@{alias} -> {target}")
                elif current[alias] != target:
                    report.aliases_kept.append(f"{name}@{alias} -> {current[alias]}")
            if changed != current:
                tree.registry.write_aliases(name, changed)
