"""What the magics return: objects that display themselves in a notebook.

:class:`SavedModel` (``%save_model``), :class:`ModelInfo` (``%model_info``),
:class:`StoreInfo` (``%nbmodels_store``) and :class:`EditedVersion` (``%model_edit``), each
with a short deterministic ``__repr__`` and a ``_repr_html_``; an unchanged save is told in
the notebook's words (``%model_edit``, ``--force-new``), and :func:`quietly_unchanged`
runs a save without the warning that this display replaces.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EditedVersion", "ModelInfo", "SavedModel", "StoreInfo", "quietly_unchanged"]


class SavedModel:
    """What ``%save_model`` shows: the saved version, why that version, its size and path."""

    def __init__(self, record: Any, path: Path) -> None:
        self.record = record
        self.path = path

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> str:
        return self.record.version

    @property
    def reason(self) -> str:
        return str(self.record.get("version_reason") or "")

    def _size(self) -> str:
        from ..record.record import format_size

        return format_size(self.record.size_bytes)

    def __repr__(self) -> str:
        if self.record.unchanged is not None:
            return _unchanged_text(self.record.unchanged)
        return (f"Saved {self.record.ref} ({self.reason}; {self.record.format}, "
                f"{self._size()}) in {self.path.parent.parent.name}/{self.path.parent.name}/"
                f"{self.path.name}")

    def _repr_html_(self) -> str:
        e = html.escape
        if self.record.unchanged is not None:
            u = self.record.unchanged
            return (f"<div class='nbmodels-saved' style='border:1px solid #ccc;border-radius:"
                    f"4px;padding:0.5em;display:inline-block'>"
                    f"{u.html(_edit_hint(u), face='magic')}</div>")
        rows = [("version", self.version), ("why", self.reason),
                ("format", self.record.format or ""), ("size", self._size()),
                ("path", str(self.path))]
        body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{e(k)}</th>"
                       f"<td style='text-align:left'>{e(v)}</td></tr>" for k, v in rows)
        return (f"<div class='nbmodels-saved' style='border:1px solid #ccc;border-radius:4px;"
                f"padding:0.5em;display:inline-block'>Saved <b>{e(self.name)}</b> "
                f"<code>{e(self.version)}</code><table>{body}</table></div>")


class ModelInfo:
    """What ``%model_info`` shows: the record's card and the full model card."""

    def __init__(self, record: Any, aliases: list[str]) -> None:
        self.record = record
        self.aliases = aliases

    def __str__(self) -> str:
        """The full model card as Markdown (``print(info)``)."""
        from ..record.card import model_card

        text = model_card(self.record.to_dict()).rstrip()
        if self.aliases:
            text += f"\n\nAliases: {', '.join(self.aliases)}"
        return text

    def __repr__(self) -> str:
        aliases = f", aliases: {', '.join(self.aliases)}" if self.aliases else ""
        return f"ModelInfo({self.record!r}{aliases})"

    def _repr_html_(self) -> str:
        from ..record.card import model_card_html

        aliases = (f"<p>Aliases: {html.escape(', '.join(self.aliases))}</p>"
                   if self.aliases else "")
        return model_card_html(self.record.to_dict()) + aliases


class StoreInfo:
    """What ``%nbmodels_store`` shows: which store is in use and why."""

    def __init__(self, root: Path, source: str, models: int) -> None:
        self.root, self.source, self.models = root, source, models

    def __repr__(self) -> str:
        from ..store.reports import plural

        return f"nbmodels store: {self.root} ({self.source}; {plural(self.models, 'model')})"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>"


def _edit_hint(unchanged: Any) -> str | None:
    """The ``%model_edit`` line that records an unchanged save's description and tags."""
    import shlex

    if not unchanged.edits:
        return None
    hint = f"%model_edit {unchanged.ref}"
    if "description" in unchanged.edits:
        hint += f" --description {shlex.quote(unchanged.edits['description'])}"
    if "tags" in unchanged.edits:
        hint += f" --tags {shlex.quote(','.join(unchanged.edits['tags']))}"
    return hint


def _unchanged_text(unchanged: Any) -> str:
    """An unchanged save, told in the notebook's words (``%model_edit``, ``--force-new``)."""
    return unchanged.message(_edit_hint(unchanged), face="magic")


def quietly_unchanged(call: Callable[[], Any]) -> Any:
    """``call()`` (a save) without the warning of an unchanged save: the display says it,
    with the magic's flags."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unchanged: already saved as",
                                category=UserWarning)
        return call()


class EditedVersion:
    """What ``%model_edit`` shows: the version and what the edit changed."""

    def __init__(self, record: Any, changed: bool) -> None:
        self.record = record
        self.changed = changed

    def _changes(self) -> list[str]:
        edit = (self.record.get("edits") or [{}])[-1] if self.changed else {}
        out = []
        for field, change in (edit.get("changes") or {}).items():
            old, new = change.get("from"), change.get("to")
            if isinstance(new, list):
                old, new = ", ".join(old or []) or "(none)", ", ".join(new) or "(none)"
            out.append(f"{field} {old!r} -> {new!r}")
        return out

    def __repr__(self) -> str:
        if not self.changed:
            return f"Nothing to change: {self.record.ref} already has that description and tags"
        return (f"Edited {self.record.ref}: {'; '.join(self._changes())} (artifacts and "
                f"hashes untouched)")

    def _repr_html_(self) -> str:
        return f"<p class='nbmodels-edited'>{html.escape(repr(self))}</p>"
