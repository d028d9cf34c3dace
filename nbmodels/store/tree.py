"""Where one store keeps each version, and the file steps that saving, deleting and
maintenance share (the model card, removing artifacts, recognising crash leftovers).

Everything goes through the store's :class:`~nbmodels.storage.backend.StorageBackend`
on store-relative paths.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import PurePosixPath
from typing import Any

from ..record.card import diagram_from_markdown, model_card
from ..storage.backend import StorageBackend
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    TRAINED,
    TRASH_PREFIX,
    version_dir,
)
from .registry import Registry

__all__ = ["StoreTree"]


class StoreTree:
    """The layout of one store on its backend, with its registry."""

    def __init__(self, fs: StorageBackend) -> None:
        self.fs = fs
        self.registry = Registry(fs)

    # -- paths ---------------------------------------------------------------------------
    def trained(self, name: str, version: str) -> PurePosixPath:
        """``trained/{name}_v{version}``: the artifacts."""
        return PurePosixPath(TRAINED, version_dir(name, version))

    def meta_dir(self, name: str, version: str) -> PurePosixPath:
        """``metadata/{name}_v{version}``: the record and the card."""
        return PurePosixPath(METADATA, version_dir(name, version))

    def meta_file(self, name: str, version: str) -> PurePosixPath:
        """The record, whose existence is what makes a version visible."""
        return self.meta_dir(name, version) / METADATA_FILE

    def evaluation(self, name: str, version: str) -> PurePosixPath:
        """``evaluation/{name}_v{version}``: metrics, plots and report."""
        return PurePosixPath(EVALUATION, version_dir(name, version))

    # -- shared steps --------------------------------------------------------------------
    def read_card_diagram(self, meta_dir: PurePosixPath) -> str | None:
        """The estimator diagram kept in a version's ``model_card.md``, if any."""
        with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
            text = self.fs.read_bytes(meta_dir / MODEL_CARD, limit=16 << 20).decode("utf-8")
            return diagram_from_markdown(text)
        return None

    def write_card(self, meta_dir: PurePosixPath, record: dict[str, Any],
                   diagram: str | None = None, *, keep_diagram: bool = True) -> None:
        """Write ``model_card.md``; a rewrite (``keep_diagram``) keeps the estimator
        diagram drawn when the version was saved, which the record does not hold."""
        if diagram is None and keep_diagram:
            diagram = self.read_card_diagram(meta_dir)
        self.fs.replace(meta_dir / MODEL_CARD, model_card(record, diagram).encode("utf-8"))

    def remove_artifacts(self, trained: PurePosixPath) -> None:
        """Remove a version folder under ``trained/`` so that no crash can leave a part
        of it that looks like a hand-made folder: it is renamed to a trash name first."""
        if not self.fs.exists(trained):
            return
        if not self.fs.atomic_rename:
            # No rename on an object store: the backend removes the marker last instead.
            self.fs.remove_tree(trained)
            return
        trash = trained.parent / f"{TRASH_PREFIX}{trained.name}-{os.urandom(4).hex()}"
        self.fs.rename(trained, trash)
        self.fs.remove_tree(trash)

    def is_crash_leftover_meta(self, name: str, version: str) -> bool:
        """A record folder without metadata.json that only a save of ours could have left.

        A ``model_card.md`` counts as ours only while the version's artifacts are
        marked incomplete (a save writes the card after moving them in, and every step
        that removes them removes the card first): a card beside a folder made by hand,
        or alone, is the user's own text and is never a leftover.
        """
        contents = set(self.fs.list_dir(self.meta_dir(name, version)))
        if not all(c == MODEL_CARD or c.endswith(".tmp") for c in contents):
            return False
        if MODEL_CARD not in contents:
            return True
        return self.fs.exists(self.trained(name, version) / INCOMPLETE_MARKER)
