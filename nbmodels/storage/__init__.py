"""Storage: the only code that touches bytes.

``backend`` is the interface every store operation goes through, ``local`` its
implementation for a folder on this machine, ``remote`` for a URL (``s3://...``, any
fsspec protocol), ``cache`` the local cache of downloaded artifacts, ``layout`` names the
store's folders and checks names, and ``versions`` holds the semver rules.
"""

from __future__ import annotations

import os as _os
from pathlib import Path as _Path

from .backend import FileDigest, FileInfo, StorageBackend

__all__ = ["FileDigest", "FileInfo", "StorageBackend", "open_backend"]


def open_backend(root: str | _os.PathLike[str], **options: object) -> StorageBackend:
    """The storage backend for a store root: a local folder, or a URL such as
    ``s3://bucket/prefix`` (``options`` are the fsspec storage options; the S3 endpoint
    may also come from ``$NBMODELS_S3_ENDPOINT``)."""
    from .remote import is_url

    if is_url(root):
        from .remote import FsspecBackend

        return FsspecBackend(str(root), **options)
    from .local import LocalBackend

    return LocalBackend(_Path(root).expanduser().absolute())
