"""What an archive holds: its member names and layout, its kind, its error.

The names of the members that are not a version's files (``MANIFEST.sha256``,
``nbmodels-archive.json``, ``aliases/{name}.json``), the suffixes that choose ``.zip`` or
``.tar.gz``, and :func:`classify_member`, which places a member path in the layout (and
refuses any path outside it). Export writes these names; import checks them.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ...errors import IntegrityError, InvalidNameError
from ...storage import open_backend
from ...storage.backend import MAX_SMALL_FILE, StorageBackend
from ...storage.layout import (
    EVALUATION,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    TRAINED,
    parse_version_dir,
    validate_name,
)
from ...storage.versions import is_version
from ..transfer import MAX_EVALUATION_FILE

__all__ = [
    "ALIASES",
    "ARCHIVE_SUFFIXES",
    "CHUNK_BYTES",
    "FORMAT_VERSION",
    "INFO",
    "MANIFEST",
    "REQUIREMENTS",
    "ArchiveError",
    "archive_destination",
    "archive_kind",
    "classify_member",
    "member_size_limit",
]

#: Every member but itself, one ``{sha256}  {path}`` line each: ``sha256sum -c`` reads it.
MANIFEST = "MANIFEST.sha256"
#: What the archive is: format, its version, when and by which nbmodels it was written.
INFO = "nbmodels-archive.json"
#: Per version, next to its record: pip pins from the record's environment.
REQUIREMENTS = "requirements.txt"
#: The folder of ``{name}.json`` alias tables (of the exported versions only).
ALIASES = "aliases"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
#: The ``format_version`` export writes into :data:`INFO`.
FORMAT_VERSION = 1
#: How much of a member or an archive is read or written at a time.
CHUNK_BYTES = 4 << 20


class ArchiveError(IntegrityError):
    """An archive that cannot be imported as it is: damaged, tampered with, or holding a
    member that could write outside the store (nothing of it was imported)."""


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


def archive_destination(
    path: str | os.PathLike[str],
) -> tuple[StorageBackend, PurePosixPath, str]:
    """``(backend of the archive's folder, its file name there, its absolute path as
    shown to users)``: every byte of an archive goes through that backend."""
    dest = Path(path).expanduser().absolute()
    return open_backend(dest.parent), PurePosixPath(dest.name), str(dest)


def _split_version_dir(entry: str, path: str) -> tuple[str, str]:
    parsed = parse_version_dir(entry)
    if parsed is None or not is_version(parsed[1]):
        raise ArchiveError(f"member {path!r} is not in a {{name}}_v{{version}} folder")
    return parsed


def classify_member(path: str) -> tuple[str, tuple[str, str] | None, str]:
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


def member_size_limit(kind: str) -> int | None:
    """The most bytes a member of ``kind`` (from :func:`classify_member`) may have, or
    ``None`` for artifacts (bounded by :class:`~.members.ArchiveLimits` alone)."""
    if kind in (METADATA_FILE, MODEL_CARD, REQUIREMENTS, MANIFEST, INFO, "aliases"):
        return MAX_SMALL_FILE if kind != MANIFEST else 64 << 20
    if kind == "evaluation":
        return MAX_EVALUATION_FILE
    return None

