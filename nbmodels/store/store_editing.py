"""Editing a saved version's record: the part of
:class:`~nbmodels.store.model_store.ModelStore` that ``edit`` and ``update_record`` are
(the rewrite itself, a compare-and-swap on a remote store, is
:mod:`nbmodels.store.rewrite`).
"""

from __future__ import annotations

from typing import Any

from ..errors import IntegrityError, ModelNotFoundError, NBModelsError
from ..record.capture import current_author, utc_now
from ..record.record import ModelRecord, record_tags
from ..storage.layout import validate_name
from .record_file import DamagedRecord
from .registry import Registry
from .tree import StoreTree

__all__ = ["EditingMixin"]


def _tag_list(tags: Any) -> list[str]:
    """Tags given as ``"a,b"`` or as a list, as a list of distinct non-empty strings."""
    if isinstance(tags, str):
        tags = tags.split(",")
    return list(dict.fromkeys(str(t).strip() for t in tags or () if str(t).strip()))


class EditingMixin:
    """``edit`` and ``update_record`` of a :class:`~nbmodels.store.model_store.ModelStore`
    (which it is a base of: it resolves versions through the store)."""

    _tree: StoreTree
    _registry: Registry

    def edit(self, name: str, version: str, *, description: str | None = None,
             tags: Any = None, add_tags: Any = (), remove_tags: Any = ()) -> ModelRecord:
        """Change the description or tags of a saved version, recorded as an edit.

        ``tags`` replaces the tags; ``add_tags`` and ``remove_tags`` change them one by
        one (after ``tags``). The record gains an entry in its ``edits`` list (``at``,
        ``author`` and each change as ``{"from": ..., "to": ...}``) and the model card is
        rewritten; the artifacts, their hashes and every other key are left as they are.
        An edit that changes nothing records nothing. ``name@version`` works too.
        """
        name, version = self._split_ref(name, version)
        validate_name(name)
        if description is not None and not isinstance(description, str):
            raise NBModelsError(f"description must be a string, got "
                                f"{type(description).__name__}")
        new, added, removed = (None if tags is None else _tag_list(tags)), \
            _tag_list(add_tags), _tag_list(remove_tags)
        if description is None and new is None and not added and not removed:
            raise NBModelsError("nothing to edit: give description=, tags=, add_tags= or "
                                "remove_tags=")

        def change(data: dict[str, Any]) -> dict[str, Any] | None:
            # Applied to the record as read, again on a fresh one if another machine
            # rewrote it meanwhile (a remote store): "from" is what this edit replaced.
            before = record_tags(data.get("tags"))
            after = [t for t in (before if new is None else new) if t not in removed]
            after += [t for t in dict.fromkeys(added) if t not in after]
            changes: dict[str, Any] = {}
            if description is not None and description != (data.get("description") or ""):
                changes["description"] = {"from": data.get("description"), "to": description}
                data["description"] = description
            if after != before:
                changes["tags"] = {"from": before, "to": after}
                data["tags"] = after
            if not changes:
                return None
            edits = data.get("edits") if isinstance(data.get("edits"), list) else []
            data["edits"] = [*edits, {"at": utc_now(), "author": current_author(),
                                      "changes": changes}]
            data["updated_at"] = data["edits"][-1]["at"]
            return data

        return self._rewrite_record(name, version, change)

    def update_record(self, name: str, version: str, updates: dict[str, Any]) -> ModelRecord:
        """Merge ``updates`` into a version's record atomically and return the new record.

        Only descriptive keys may change (metrics, evaluations, description, tags, ...);
        what identifies the artifacts (name, version, format, files) is immutable.
        """
        name, version = self._split_ref(name, version)
        validate_name(name)
        protected = {"model_name", "version", "format", "format_info", "format_extra",
                     "format_module", "files", "size_bytes", "schema_version", "origin",
                     "content_hash", "load_check"}
        touched = protected & set(updates)
        if touched:
            raise NBModelsError(f"cannot change {', '.join(sorted(touched))} of a saved "
                                f"version; save a new version instead")

        def change(data: dict[str, Any]) -> dict[str, Any]:
            for key, value in updates.items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key] = {**data[key], **value}
                else:
                    data[key] = value
            data["updated_at"] = utc_now()
            return data

        return self._rewrite_record(name, version, change)

    def _rewrite_record(self, name: str, version: str, change: Any) -> ModelRecord:
        """Apply ``change`` to a version's record and write it with its card, under the
        model's lock (on a remote store a compare-and-swap on the record, applied again
        to a fresh record when another machine rewrote it first:
        :mod:`nbmodels.store.rewrite`)."""
        from .rewrite import rewrite_record

        with self._registry.lock(name):
            exact = self.resolve(name, version)
            try:
                data = rewrite_record(self._tree, name, exact, change)
            except DamagedRecord:
                self._damaged(name, exact)  # raises the IntegrityError that names it
                raise IntegrityError(f"the record of {name}@{exact} changed while it was "
                                     f"read; repeat the change") from None
            if data is None:
                raise ModelNotFoundError(f"{name}@{exact} was deleted while this change was "
                                         f"being made; nothing was written")
            self._registry.refresh(name)
        return ModelRecord(data)

