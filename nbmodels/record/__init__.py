"""What a version knows: the record, its capture at save time, lineage, environment,
architecture, the version bump rules and the model card."""

from __future__ import annotations

from .record import ModelRecord

__all__ = ["ModelRecord"]
