"""The store: resolve, save, load, list, aliases, delete, the publish transaction and
maintenance (verify, gc, rebuild-index)."""

from __future__ import annotations

from .model_store import ModelStore, default_root
from .store_loading import provenance

__all__ = ["ModelStore", "default_root", "provenance"]
