"""ModelRecord: what one version knows about itself (its ``metadata.json``)."""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from typing import Any

from ..display import format_metric, format_size, key_value_html, parse_tags
from ..errors import OPTION_WORDS, Face
from .metric_names import metrics_source_text

__all__ = ["SCHEMA_VERSION", "ModelRecord", "Unchanged", "bad_file_entry", "format_size",
           "record_tags"]

SCHEMA_VERSION = 1
# The headline metrics users already write by hand, in the order they read them.
HEADLINE_METRICS = ("accuracy", "precision", "recall", "f1_score", "auc_roc",
                    "r2", "rmse", "mae")


# Kept for callers not yet moved to :mod:`nbmodels.display`: the same functions.
record_tags = parse_tags


def _shown_value(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef"
                                                           for c in value):
        return value[:12]  # a fingerprint: its head is enough to tell two apart
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Unchanged:
    """Why a save wrote nothing: its model bytes are already saved as ``ref``.

    ``differences`` are what the save said differently from that version's record
    (see :func:`nbmodels.record.bumps.save_differences`); the ``editable`` ones
    (description, tags) can be recorded on it with :meth:`ModelStore.edit`, the others
    describe training data, which identical bytes cannot have changed.
    """

    def __init__(self, name: str, version: str,
                 differences: list[dict[str, Any]] | None = None,
                 requested: str | None = None) -> None:
        self.name, self.version = name, version
        self.differences = list(differences or [])
        self.requested = requested  # the version the caller asked for, not created

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def edits(self) -> dict[str, Any]:
        """``edit()`` keyword arguments that record this save's description and tags."""
        return {d["field"]: d["given"] for d in self.differences if d["editable"]}

    def summary(self) -> str:
        """``unchanged: already saved as NAME@VERSION``."""
        return f"unchanged: already saved as {self.ref}"

    def details(self) -> list[str]:
        """One line per difference: what this save gave and what the version records."""
        return [f"{d['field']}: {_shown_value(d['given'])} given, "
                f"{_shown_value(d['saved'])} recorded" for d in self.differences]

    def kept_note(self, face: Face = "python") -> str | None:
        """What happens to differences that cannot be edited (training data, metrics)."""
        kept = [d["field"] for d in self.differences if not d["editable"]]
        if not kept:
            return None
        return (f"{', '.join(kept)} stay as recorded on {self.ref} (the model bytes are "
                f"identical); save with {_force_new(face)} to keep them as a new version")

    def _parts(self, edit_hint: str | None, face: Face) -> tuple[str, list[str], str | None]:
        force_new = _force_new(face)
        notes = []
        if self.requested and self.requested != self.version:
            notes.append(f"version {self.requested} was not created (save with {force_new} "
                         f"to store the same bytes as {self.requested} too)")
        notes += self.details()
        hint = edit_hint if self.edits else None
        kept = self.kept_note(face)
        return self.summary() + " (identical model bytes; nothing was written)", \
            notes + ([kept] if kept else []), hint

    def message(self, edit_hint: str | None, face: Face = "python") -> str:
        """The whole explanation on one line: ``edit_hint`` is how the caller's face
        records an edit, and ``face`` spells ``force_new`` (``--force-new`` in a magic)."""
        head, notes, hint = self._parts(edit_hint, face)
        if hint:
            # The hint follows the differences it records, before what stays as recorded.
            kept = notes.pop() if self.kept_note(face) else None
            notes += [f"to record them on {self.ref}: {hint}"] + ([kept] if kept else [])
        return "; ".join([head, *notes])

    def html(self, edit_hint: str | None, face: Face = "python") -> str:
        """The explanation as HTML: the headline, then one item per note."""
        e = html.escape
        head, notes, hint = self._parts(edit_hint, face)
        items = [f"<li>{e(n)}</li>" for n in notes]
        if hint:
            items.insert(len(items) - (1 if self.kept_note(face) else 0),
                         f"<li>to record them on {e(self.ref)}: <code>{e(hint)}</code></li>")
        body = f"<ul style='margin:0.2em 0'>{''.join(items)}</ul>" if items else ""
        return f"<div class='nbmodels-unchanged'><b>{e(head)}</b>{body}</div>"

    def python_hint(self) -> str | None:
        """``store.edit(...)`` with this save's description and tags, or ``None``."""
        if not self.edits:
            return None
        args = "".join(f", {k}={v!r}" for k, v in self.edits.items())
        return f"store.edit({self.name!r}, {self.version!r}{args})"

    def __str__(self) -> str:
        return self.message(self.python_hint())

    def __repr__(self) -> str:
        return f"Unchanged({self.ref!r}, {len(self.differences)} difference(s))"


def _force_new(face: Face) -> str:
    words = OPTION_WORDS["force_new"]
    return words.get(face, words["python"])


class ModelRecord(Mapping[str, Any]):
    """The metadata record of one saved version, read-only.

    Behaves as a mapping over the JSON keys (``record["hyperparameters"]``) and offers
    the common ones as attributes. Shows itself as a compact card in a notebook.

    A save that found its model already saved returns that version's record with
    :attr:`unchanged` set (an :class:`Unchanged`); otherwise it is ``None``.
    """

    __slots__ = ("_data", "_unchanged")

    def __init__(self, data: Mapping[str, Any], unchanged: Unchanged | None = None) -> None:
        self._data = dict(data)
        self._unchanged = unchanged

    @property
    def unchanged(self) -> Unchanged | None:
        """Set when the save that returned this record wrote nothing: the model's bytes
        were already saved as this version (see :class:`Unchanged`)."""
        return self._unchanged

    # -- mapping ---------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the record as plain JSON-ready data."""
        import copy

        return copy.deepcopy(self._data)

    # -- common fields -------------------------------------------------------------------
    # The store checks every record it reads (record/validate.py); these accessors still
    # never fail on a field of the wrong type, for records built by hand in Python.
    def _text(self, key: str) -> str | None:
        value = self._data.get(key)
        return value if isinstance(value, str) else None if value is None else str(value)

    @property
    def name(self) -> str:
        return self._text("model_name") or "?"

    @property
    def version(self) -> str:
        return self._text("version") or "?"

    @property
    def ref(self) -> str:
        """``name@version``, the way the CLI and magics name a version."""
        return f"{self.name}@{self.version}"

    @property
    def format(self) -> str | None:
        return self._text("format")

    @property
    def files(self) -> list[dict[str, Any]]:
        files = self._data.get("files")
        return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []

    @property
    def size_bytes(self) -> int | None:
        size = self._data.get("size_bytes")
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = self._data.get("metrics")
        return dict(metrics) if isinstance(metrics, dict) else {}

    @property
    def created_at(self) -> str | None:
        return self._text("created_at")

    @property
    def tags(self) -> list[str]:
        return parse_tags(self._data.get("tags"))

    def headline_metrics(self, limit: int = 3) -> dict[str, Any]:
        """Up to ``limit`` top-level metrics, the seed's headline keys first."""
        metrics = {k: v for k, v in self.metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        ordered = [k for k in HEADLINE_METRICS if k in metrics]
        ordered += [k for k in sorted(metrics) if k not in ordered]
        return {k: metrics[k] for k in ordered[:limit]}

    # -- documentation ------------------------------------------------------------------
    def card(self) -> Any:
        """The model card of this version (:class:`~nbmodels.record.card.ModelCard`); the
        scikit-learn diagram is in :meth:`ModelStore.card`, which reads it from disk."""
        from .card import ModelCard

        return ModelCard(self._data)

    def card_html(self) -> str:
        """The model card as HTML, for a notebook."""
        return self.card().html

    def environment_report(self) -> Any:
        """How the current environment differs from the one this version was saved in
        (:class:`~nbmodels.record.environment.EnvironmentReport`)."""
        from .environment import compare_environment

        return compare_environment(self._data)

    # -- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        parts = [f"{self.ref}", self.format or "unknown format", format_size(self.size_bytes)]
        parts += [f"{k}={format_metric(v)}" for k, v in self.headline_metrics().items()]
        if self._unchanged is not None:
            parts.append(self._unchanged.summary())
        return f"ModelRecord({', '.join(parts)})"

    def _repr_html_(self) -> str:
        rows = [
            ("version", self.version),
            ("format", self.format or "unknown"),
            ("size", format_size(self.size_bytes)),
            ("created", self.created_at or ""),
            ("author", self._text("author") or ""),
            ("framework", " ".join(filter(None, [self._text("framework"),
                                                   self._text("framework_version")]))),
        ]
        if self._text("description"):
            rows.insert(0, ("description", self._text("description")))
        if self.tags:
            rows.append(("tags", ", ".join(self.tags)))
        if self.metrics:
            rows.append(("metrics", ", ".join(f"{k}={format_metric(v)}"
                                               for k, v in self.headline_metrics(6).items())))
            source = metrics_source_text(self._data)
            if source:
                rows.append(("measured on", source))
        if isinstance(self._data.get("features"), list) and self._data["features"]:
            feats = list(self._data["features"])
            shown = ", ".join(map(str, feats[:8])) + (f" ... (+{len(feats) - 8})"
                                                      if len(feats) > 8 else "")
            rows.append(("features", shown))
        card = key_value_html(rows, name=self.name, version=self.version,
                              css_class="nbmodels-record")
        if self._unchanged is not None:
            return f"<div>{self._unchanged.html(self._unchanged.python_hint())}{card}</div>"
        return card


def bad_file_entry(files: Any) -> str | None:
    """What is wrong with a record's ``files`` list, or ``None`` if every entry is sound.

    Each entry must name a plain file inside the version folder (a hand-edited record
    must not make a load or a verify read elsewhere) with an integer size and a sha256.
    """
    if not isinstance(files, list):
        return "'files' is not a list"
    for f in files:
        if not isinstance(f, dict):
            return f"file entry {f!r} is not an object"
        name = f.get("name")
        if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name
                or "\\" in name or "\0" in name):
            return f"file name {name!r} is not a plain file name"
        if not isinstance(f.get("size"), int) or not isinstance(f.get("sha256"), str):
            return f"file entry {name!r} lacks an integer size or a sha256"
    return None
