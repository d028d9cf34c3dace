"""Import: an archive's versions into a store, all checked before any is written.

First the seal over every byte (:func:`~.seal.check_seal`). Then pass one reads every
member once through :class:`~.members.ArchiveReader` (names, kinds, sizes), places it in
the layout (:func:`~.layout.classify_member`), hashes it against the manifest and checks
every artifact against its record; nothing is written until all of that passed, so a
tampered archive imports nothing. Pass two publishes each version through
:func:`~nbmodels.store.transfer.publish_incoming` (the write order of a save) and hashes
every byte again on the way in; then the archive's aliases are set where the store has
none of that name. Paths in the target are built from validated names, never from a
member's path.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ...errors import IntegrityError, NBModelsError
from ...storage.layout import METADATA_FILE, MODEL_CARD, validate_alias
from ..transfer import (
    IncomingVersion,
    TransferReport,
    check_incoming_record,
    conflict_error,
    publish_incoming,
    version_state,
)
from ..tree import StoreTree
from .layout import (
    ALIASES,
    CHUNK_BYTES,
    INFO,
    MANIFEST,
    ArchiveError,
    archive_destination,
    archive_kind,
    classify_member,
    member_size_limit,
)
from .members import ArchiveLimits, ArchiveMember, ArchiveReader
from .seal import check_seal

__all__ = ["import_archive"]

_MANIFEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


@dataclass
class _Version:
    name: str
    version: str
    record: dict[str, Any] | None = None
    card: bytes | None = None
    artifacts: dict[str, ArchiveMember] = field(default_factory=dict)
    evaluation: dict[str, ArchiveMember] = field(default_factory=dict)
    first: int = 0

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


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
    sfs, rel, shown = archive_destination(path)
    if not sfs.is_file(rel):
        raise NBModelsError(
            f"{shown} is not a file; give the path of an archive made by "
            f"`nbmodels export` or `nbmodels backup`"
        )
    limits = limits or ArchiveLimits()
    with sfs.open_read(rel) as src:
        check_seal(src, kind, shown)
        src.seek(0)
        try:
            reader = ArchiveReader(kind, src, limits)
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
    reader: ArchiveReader, shown: str
) -> tuple[list[_Version], dict[str, dict[str, str]], dict[str, str]]:
    """Pass one: hash every member, check the manifest and the records. Nothing written."""
    hashes: dict[str, str] = {}
    small: dict[str, bytes] = {}
    versions: dict[tuple[str, str], _Version] = {}
    alias_files: dict[str, bytes] = {}
    for index, member in enumerate(reader.members):
        kind, key, rest = classify_member(member.path)
        limit = member_size_limit(kind)
        if limit is not None and member.size > limit:
            raise ArchiveError(
                f"member {member.path!r} is {member.size} bytes, more than "
                f"the {limit} a file of its kind may have"
            )
        digest = hashlib.sha256()
        keep = kind in (METADATA_FILE, MODEL_CARD, MANIFEST, INFO, "aliases")
        chunks = []
        with reader.open(member) as f:
            while chunk := f.read(CHUNK_BYTES):
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


def _incoming(reader: ArchiveReader, v: _Version, hashes: dict[str, str]) -> IncomingVersion:
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
