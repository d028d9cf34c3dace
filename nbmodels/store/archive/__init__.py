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

and ends with a seal, the sha256 of its own bytes: import checks it first and refuses an
archive without one, then checks every member before it writes anything.

``layout`` names the members and places a path in that layout; ``seal`` writes and
checks the seal; ``members`` reads the members of a zip or a tar, refusing any that could
harm the machine or write outside the store; ``export`` writes archives (and names
backups); ``import_`` verifies and imports them.
"""

from __future__ import annotations

from .export import ExportReport, backup_name, export_archive, requirements_text
from .import_ import import_archive
from .layout import ARCHIVE_SUFFIXES, MANIFEST, ArchiveError, archive_kind
from .members import ArchiveLimits
from .seal import SEAL_PREFIX, seal_archive

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
