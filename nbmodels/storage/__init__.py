"""Storage: the only code that touches bytes.

``backend`` is the interface every store operation goes through, ``local`` its
implementation for a folder on this machine, ``layout`` names the store's folders and
checks names, and ``versions`` holds the semver rules.
"""

from __future__ import annotations

import os as _os
from pathlib import Path as _Path

from .backend import FileDigest, FileInfo, StorageBackend

__all__ = ["FileDigest", "FileInfo", "StorageBackend", "open_backend"]


def open_backend(root: str | _os.PathLike[str]) -> StorageBackend:
    """The storage backend for a store root (a local folder)."""
    from .local import LocalBackend

    return LocalBackend(_Path(root).expanduser().absolute())
