"""Export: versions into one sealed archive, and the names of backups.

For each version the archive gets its record byte for byte, its card, a
``requirements.txt`` (:func:`requirements_text`), its artifacts (each hashed while it is
copied and compared with its record: a damaged version stops the export) and its
evaluation files; then the aliases of the exported versions, ``nbmodels-archive.json``,
the manifest, and the seal (:mod:`.seal`). The archive is written under a temporary
name through the storage backend and renamed when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from ...errors import IntegrityError, NBModelsError
from ...storage.backend import MAX_SMALL_FILE, json_bytes
from ...storage.layout import (
    EVALUATION,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    TRAINED,
    version_dir,
)
from ..transfer import check_incoming_record, read_evaluation_files
from ..tree import StoreTree
from .layout import (
    ALIASES,
    CHUNK_BYTES,
    FORMAT_VERSION,
    INFO,
    MANIFEST,
    REQUIREMENTS,
    archive_destination,
    archive_kind,
)
from .seal import Sealer, seal_placeholder

__all__ = ["ExportReport", "backup_name", "export_archive", "requirements_text"]

# zlib level 1: most of an archive is artifacts (pickles, weights) that level 6 barely
# shrinks more, at three times the time.
_LEVEL = 1


@dataclass
class ExportReport:
    """What :func:`export_archive` wrote."""

    path: str
    versions: list[str] = field(default_factory=list)
    members: int = 0
    size_bytes: int = 0

    def __repr__(self) -> str:
        from ...display import format_size

        return (
            f"exported {len(self.versions)} version(s) to {self.path} "
            f"({self.members} files, {format_size(self.size_bytes)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


class _Writer:
    """Members into a zip or a gzipped tar, on a write-only stream, sealed at close."""

    def __init__(self, kind: str, stream: BinaryIO, when: datetime) -> None:
        self.kind = kind
        self.when = when
        self.lines: list[str] = []
        self.count = 0
        self.sealer = Sealer(stream, kind)
        if kind == "zip":
            import zipfile

            self.zip = zipfile.ZipFile(
                self.sealer,  # type: ignore[arg-type]
                "w",
                compression=zipfile.ZIP_DEFLATED,
                compresslevel=_LEVEL,
            )
            self.zip.comment = seal_placeholder(kind)
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
                while chunk := reader.read(min(CHUNK_BYTES, size - reader.size)):
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
            self.sealer.write(seal_placeholder(self.kind))
        self.sealer.finish()


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
    dfs, rel, shown = archive_destination(path)
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
        from ... import __version__

        writer.add_bytes(
            INFO,
            json_bytes(
                {
                    "format": "nbmodels-archive",
                    "format_version": FORMAT_VERSION,
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

