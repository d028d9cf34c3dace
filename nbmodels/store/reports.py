"""Result objects of store-wide operations: listings, verify, gc and rebuild reports.

Each has a short deterministic ``repr`` (a plain table) and an HTML form, and
``to_dict()`` for ``--json``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..display import format_metric, format_size, html_table, text_table

__all__ = [
    "GCReport",
    "ModelTable",
    "Problem",
    "RebuildReport",
    "StoreReport",
    "VerifyReport",
    "plural",
]


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 version``, ``2 versions`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


class ModelTable(list):
    """``ModelStore.list()``: one dict per model, shown as a table.

    :attr:`damaged` holds one note per damaged file the listing met (``name``,
    ``version``, ``kind``, ``path``, ``problem``): a version whose record is unusable,
    a model with no readable version, an unreadable aliases file. They are shown
    under the table, never instead of it.
    ``unadopted`` holds a sentence per hand-made folder that is not a version yet (its
    version is not semantic, e.g. ``trained/churn_v1``), shown under the table.
    """

    headers = ["name", "latest", "aliases", "created", "size", "metrics"]
    unadopted: Sequence[str] = ()

    def _unadopted_lines(self) -> list[str]:
        return [f"not listed: {note}" for note in self.unadopted]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.damaged: list[dict[str, Any]] = []

    def _notes(self) -> list[str]:
        if not self.damaged:
            return []
        lines = [f"{len(self.damaged)} damaged file(s); run `nbmodels verify`:"]
        for d in self.damaged:
            ref = f"{d['name']}@{d['version']}" if d.get("version") else d["name"]
            lines.append(f"  {ref}: {d['path']} {_short(d['problem'])}")
        return lines

    def _rows(self) -> list[list[str]]:
        rows = []
        for m in self:
            aliases = ", ".join(f"{a}={v}" for a, v in sorted(m["aliases"].items()))
            metrics = ", ".join(f"{k}={format_metric(v)}"
                                for k, v in list(m["metrics"].items())[:2])
            if metrics and m.get("measured_on"):
                metrics += f" (on {m['measured_on']})"  # which data they come from
            rows.append([m["name"], m["latest"], aliases, str(m["created_at"] or "")[:10],
                         format_size(m["size_bytes"]), metrics])
        return rows

    def __repr__(self) -> str:
        text = text_table(self.headers, self._rows()) if self else "(no models)"
        return "\n".join([text, *self._unadopted_lines(), *self._notes()])

    def _repr_html_(self) -> str:
        body = html_table(self.headers, self._rows()) if self else "<p>(no models)</p>"
        body += "".join(f"<p class='nbmodels-unadopted'>{html.escape(line)}</p>"
                        for line in self._unadopted_lines())
        notes = self._notes()
        if notes:
            body += ("<p>" + html.escape(notes[0]) + "</p><ul>"
                     + "".join(f"<li>{html.escape(n.strip())}</li>" for n in notes[1:])
                     + "</ul>")
        return body

    def to_dict(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self]


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class Problem:
    """One finding of :meth:`ModelStore.verify`."""

    # missing, corrupt, invalid_metadata, special_file, orphan, unadopted, stale_index,
    # dangling, damaged_aliases, case_conflict
    kind: str
    path: str  # relative to the store root
    detail: str
    name: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


@dataclass
class StoreReport:
    """What a store-wide operation did, for the store at ``root``: a text ``repr``, the
    same text as HTML in a notebook, and ``to_dict()`` for ``--json``."""

    root: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


@dataclass
class VerifyReport(StoreReport):
    """What :meth:`ModelStore.verify` found; ``ok`` when there is nothing to fix."""

    versions_checked: int = 0
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_kind(self, kind: str) -> list[Problem]:
        """The problems of one kind (``orphan``, ``corrupt``, ...)."""
        return [p for p in self.problems if p.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "ok": self.ok, "versions_checked": self.versions_checked,
                "files_checked": self.files_checked,
                "problems": [asdict(p) for p in self.problems]}

    def __repr__(self) -> str:
        head = (f"verify {self.root}: {plural(self.versions_checked, 'version')}, "
                f"{plural(self.files_checked, 'file')} checked, ")
        if self.ok:
            return head + "no problems"
        lines = [head + plural(len(self.problems), "problem")]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        summary = html.escape(repr(self).splitlines()[0])
        if self.ok:
            return f"<p>{summary}</p>"
        rows = [[p.kind, p.path, p.detail] for p in self.problems]
        return f"<p>{summary}</p>" + html_table(["kind", "path", "detail"], rows)


@dataclass
class GCReport(StoreReport):
    """What :meth:`ModelStore.gc` removed (or would remove, with ``dry_run``)."""

    dry_run: bool = False
    removed: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Versions put back whole from what a killed overwrite hid (never deleted).
    restored: list[str] = field(default_factory=list)

    @property
    def bytes_reclaimed(self) -> int:
        return sum(size for _, size in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "dry_run": self.dry_run,
                "bytes_reclaimed": self.bytes_reclaimed,
                "removed": [{"path": p, "bytes": b} for p, b in self.removed],
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "restored": list(self.restored)}

    def __repr__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = [f"gc {self.root}: {verb} {plural(len(self.removed), 'item')}, "
                 f"{format_size(self.bytes_reclaimed)}"]
        lines += [f"  {p} ({format_size(b)})" for p, b in self.removed]
        lines += [f"  skipped {p}: {r}" for p, r in self.skipped]
        lines += [f"  {'would put back' if self.dry_run else 'put back'}: {r}"
                  for r in self.restored]
        return "\n".join(lines)


@dataclass
class RebuildReport(StoreReport):
    """What :meth:`ModelStore.rebuild_index` indexed and adopted."""

    adopted: list[str] = field(default_factory=list)
    models: int = 0
    versions: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dropped_aliases: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "models": self.models, "versions": self.versions,
                "adopted": self.adopted,
                "renamed": [{"from": a, "to": b} for a, b in self.renamed],
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "dropped_aliases": self.dropped_aliases}

    def __repr__(self) -> str:
        lines = [f"rebuild-index {self.root}: {plural(self.models, 'model')}, "
                 f"{plural(self.versions, 'version')}, {len(self.adopted)} adopted"]
        lines += [f"  renamed {a} -> {b} (its version was not semantic)"
                  for a, b in self.renamed]
        lines += [f"  adopted {a}" for a in self.adopted]
        lines += [f"  skipped {p}: {r}" for p, r in self.skipped]
        lines += [f"  dropped alias {a} (its version is gone)" for a in self.dropped_aliases]
        return "\n".join(lines)
