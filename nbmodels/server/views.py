"""HTML of the registry pages, from plain data the page handlers read through the store.

Nothing here touches the store: each function turns what :class:`nbmodels.ModelStore`
returned into HTML. Every value is escaped (``e()`` for text and attributes, ``q()``
for URL segments), because a record may have been written by anyone with write access
to the store; values of unexpected types (a hand-edited record) are shown as text,
never trusted to be strings, lists or numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from ..display import escape, format_metric, format_size, parse_tags
from .charts import metric_chart

__all__ = [
    "HEADLINE",
    "Frame",
    "ModelRow",
    "VersionRow",
    "as_dict",
    "e",
    "error_page",
    "fmt",
    "matches",
    "model_page",
    "models_page",
    "num",
    "q",
    "size",
    "sort_rows",
    "sort_versions",
    "text_list",
    "value_html",
    "version_page",
]

HEADLINE = ("accuracy", "precision", "recall", "f1_score", "auc_roc", "r2", "rmse", "mae")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif")


def e(value: Any) -> str:
    """Any value as escaped text (quotes included, for attributes)."""
    return escape(value)


def q(segment: Any) -> str:
    """One URL path segment, percent-encoded and then escaped for an attribute."""
    return e(quote(str(segment), safe=""))


def num(value: Any) -> float | None:
    """A finite number, or ``None`` for anything else (bools, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def fmt(value: Any) -> str:
    """A value in a table cell: metrics as :func:`nbmodels.display.format_metric` shows
    them, a missing one blank."""
    return "" if value is None else format_metric(value)


def size(n: Any) -> str:
    """A size in bytes as ``94.1 MB``; blank when the record's value is not a number."""
    return format_size(n) if num(n) is not None else ""


def text_list(value: Any) -> list[str]:
    """Tags and similar: a list of strings, whatever the record holds."""
    return parse_tags(value)


def as_dict(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


# -- the page frame ---------------------------------------------------------------------
@dataclass
class Frame:
    """What every page shares: the server's base URL and where the store is."""

    base_url: str
    store_root: str

    @property
    def home(self) -> str:
        return f"{self.base_url}nbmodels/"

    def model_url(self, name: str) -> str:
        return f"{self.home}models/{q(name)}"

    def version_url(self, name: str, version: str) -> str:
        return f"{self.home}models/{q(name)}/{q(version)}"

    def file_url(self, name: str, version: str, filename: str, dataset: str | None) -> str:
        url = f"{self.base_url}nbmodels/api/models/{q(name)}/{q(version)}/evaluation/{q(filename)}"
        return url + (f"?dataset={q(dataset)}" if dataset else "")

    def compare_url(self, refs: Iterable[str]) -> str:
        return f"{self.home}compare?" + e(urlencode([("ref", r) for r in refs]))

    def page(self, title: str, crumbs: Sequence[tuple[str, str | None]], body: str) -> str:
        trail = "".join(f" <span class='sep'>/</span> <a href='{url}'>{e(text)}</a>" if url
                        else f" <span class='sep'>/</span> <span>{e(text)}</span>"
                        for text, url in crumbs)
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta name='color-scheme' content='light dark'>"
            f"<title>{e(title)} \u00b7 nbmodels</title>"
            f"<link rel='stylesheet' href='{e(self.home)}static/registry.css'>"
            f"<script src='{e(self.home)}static/registry.js' defer></script>"
            f"</head><body data-base-url='{e(self.base_url)}'>"
            f"<header><nav><a class='brand' href='{e(self.home)}'>nbmodels registry</a>{trail}"
            f"</nav><span class='root' title='the store this server serves'>"
            f"{e(self.store_root)}</span></header><main>{body}</main></body></html>")


def error_page(frame: Frame, status: int, message: str) -> str:
    """A page that says what went wrong, in the core's words."""
    body = (f"<h1>{e(status)}</h1><p class='error'>{e(message)}</p>"
            f"<p><a href='{e(frame.home)}'>Back to the registry</a></p>")
    return frame.page(f"error {status}", [], body)


def _tags(tags: Iterable[str]) -> str:
    return "".join(f"<span class='tag'>{e(t)}</span>" for t in tags)


def _aliases(aliases: Iterable[str]) -> str:
    return "".join(f"<span class='alias'>{e(a)}</span>" for a in aliases)


def _damaged(message: str) -> str:
    return f"<span class='damaged' title='{e(message)}'>damaged</span> <small>{e(message)}</small>"


# -- the models table ---------------------------------------------------------------------
@dataclass
class ModelRow:
    """One model of the table (``damaged`` set when none of its versions is readable)."""

    name: str
    latest: str = ""
    versions: int | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    size_bytes: Any = None
    created_at: Any = None
    description: Any = ""
    tags: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    damaged: str | None = None

    def key(self, column: str) -> Any:
        """The sort key of one column; ``None`` (sorted last) when it has no value."""
        if column == "name":
            return self.name.lower()
        if column == "latest":
            return _semver_key(self.latest) if self.latest else None
        if column == "versions":
            return self.versions
        if column == "aliases":
            return len(self.aliases) if self.aliases else None
        if column == "size":
            return num(self.size_bytes)
        if column == "saved":
            return str(self.created_at) if self.created_at else None
        return num(self.metrics.get(column))


def _semver_key(version: str) -> tuple[Any, ...]:
    try:
        import semver

        v = semver.Version.parse(version)
    except (ValueError, TypeError):
        return (1, version)
    # semver.Version compares by semver rules; wrap it so tuples stay comparable.
    return (0, _Cmp(v))


class _Cmp:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Cmp) -> bool:
        return self.v < other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Cmp) and self.v == other.v

    def __hash__(self) -> int:  # pragma: no cover - never hashed, but keep the pair
        return hash(str(self.v))


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Versions in ascending semver order (anything unparsable after them)."""
    return sorted(set(versions), key=_semver_key)


def sort_rows(rows: list[ModelRow], column: str, descending: bool) -> list[ModelRow]:
    """Rows ordered by ``column``; rows without a value go last either way."""
    by_name = sorted(rows, key=lambda r: r.name.lower())  # ties stay in name order
    present = [r for r in by_name if r.key(column) is not None]
    missing = [r for r in by_name if r.key(column) is None]
    present.sort(key=lambda r: r.key(column), reverse=descending)
    return present + missing


def matches(row: ModelRow, query: str) -> bool:
    """Search in the name, tags and description (case-insensitive)."""
    needle = query.lower()
    hay = [row.name, str(row.description or ""), *row.tags]
    return any(needle in h.lower() for h in hay)


def models_page(frame: Frame, rows: list[ModelRow], *, query: str, sort: str,
                descending: bool, total: int) -> str:
    """The registry's front page: every model, searchable and sortable by any column."""
    metric_cols = [m for m in HEADLINE if any(num(r.metrics.get(m)) is not None for r in rows)]
    columns = ["name", "latest", "versions", "aliases", "size", *metric_cols, "saved"]

    def head(col: str) -> str:
        desc = not descending if col == sort else col in (*metric_cols, "saved", "size",
                                                          "versions")
        params = {"sort": col, "order": "desc" if desc else "asc"}
        if query:
            params["q"] = query
        mark = ("\u25bc" if descending else "\u25b2") if col == sort else ""
        aria = (" aria-sort='descending'" if descending else " aria-sort='ascending'"
                ) if col == sort else ""
        return (f"<th{aria}><a href='?{e(urlencode(params))}'>{e(col)}</a>"
                f"<span class='mark'>{mark}</span></th>")

    body_rows = []
    for r in rows:
        name_cell = (f"<a class='model' href='{frame.model_url(r.name)}'>{e(r.name)}</a>"
                     f"<div class='desc'>{e(r.description or '')}</div>{_tags(r.tags)}")
        if r.damaged is not None:
            body_rows.append(f"<tr class='damaged-row'><td>{name_cell}</td>"
                             f"<td colspan='{len(columns) - 1}'>{_damaged(r.damaged)}</td></tr>")
            continue
        aliases = "".join(f"<span class='alias'>{e(a)}\u2192{e(v)}</span>"
                          for a, v in sorted(r.aliases.items()))
        cells = [name_cell,
                 f"<a href='{frame.version_url(r.name, r.latest)}'>{e(r.latest)}</a>",
                 e("" if r.versions is None else r.versions), aliases,
                 e(size(r.size_bytes)),
                 *[e(fmt(r.metrics.get(m))) for m in metric_cols],
                 e(str(r.created_at or "")[:19].replace("T", " "))]
        body_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    shown = f"{len(rows)} of {total} models" if query else f"{total} models"
    empty = ("<p class='empty'>No model matches.</p>" if query else
             "<p class='empty'>The store is empty: save a model with "
             "<code>%save_model</code> or <code>nbmodels.save_model(...)</code>.</p>")
    table = (f"<table class='models sortable'><thead><tr>{''.join(head(c) for c in columns)}"
             f"</tr></thead><tbody>{''.join(body_rows)}</tbody></table>" if rows else empty)
    body = (
        "<h1>Models</h1>"
        "<form class='search' method='get' role='search'>"
        f"<input type='search' name='q' value='{e(query)}' placeholder='name, tag or description'"
        " aria-label='search models'>"
        f"<input type='hidden' name='sort' value='{e(sort)}'>"
        f"<input type='hidden' name='order' value='{'desc' if descending else 'asc'}'>"
        f"<button type='submit'>Search</button> <span class='count'>{e(shown)}</span></form>"
        + table)
    return frame.page("Models", [], body)


# -- one model ------------------------------------------------------------------------------
@dataclass
class VersionRow:
    """One version of a model: its record, or why it could not be read."""

    version: str
    record: dict[str, Any] | None
    aliases: list[str]
    damaged: str | None = None

    def evaluations(self) -> dict[str, dict[str, Any]]:
        """``dataset label -> metrics``; the record's own metrics when nothing was evaluated."""
        rec = self.record or {}
        out: dict[str, dict[str, Any]] = {}
        for label, summary in as_dict(rec.get("evaluations")).items():
            metrics = as_dict(as_dict(summary).get("metrics"))
            if metrics:
                out[label] = metrics
        if not out and as_dict(rec.get("metrics")):
            out["record"] = as_dict(rec.get("metrics"))
        return out


def _metric_names(metric_sets: Iterable[dict[str, Any]], limit: int | None = None) -> list[str]:
    seen: list[str] = []
    for metrics in metric_sets:
        for k, v in metrics.items():
            if num(v) is not None and k not in seen:
                seen.append(k)
    ordered = [m for m in HEADLINE if m in seen] + sorted(m for m in seen if m not in HEADLINE)
    return ordered[:limit] if limit else ordered


def _alias_controls(name: str, versions: Sequence[str], aliases: dict[str, str],
                    fixed_version: str | None = None) -> str:
    rows = "".join(
        f"<li><span class='alias'>{e(a)}</span> \u2192 {e(v)} "
        f"<button type='button' class='alias-remove' data-model='{e(name)}' data-alias='{e(a)}'>"
        "remove</button></li>" for a, v in sorted(aliases.items())
        if fixed_version is None or v == fixed_version)
    if fixed_version is None:
        options = "".join(f"<option value='{e(v)}'>{e(v)}</option>" for v in reversed(versions))
        target = f"<select name='version' aria-label='version'>{options}</select>"
    else:
        target = f"<input type='hidden' name='version' value='{e(fixed_version)}'>"
    return (
        "<section class='aliases'><h2>Aliases</h2>"
        f"<ul class='alias-list'>{rows or '<li class=empty>none</li>'}</ul>"
        f"<form class='alias-set' data-model='{e(name)}'>"
        "<input name='alias' required placeholder='alias, e.g. production' aria-label='alias'>"
        f" {target} <button type='submit'>Set alias</button></form>"
        "<p class='alias-status' role='status'></p></section>")


def model_page(frame: Frame, name: str, rows: list[VersionRow], aliases: dict[str, str]) -> str:
    """Every version (newest first, semver order) with aliases, tags, size, author, metrics
    per evaluation data set, and one metric-over-versions chart per headline metric."""
    readable = [r for r in rows if r.record is not None]
    datasets: list[str] = []
    for r in readable:
        for label in r.evaluations():
            if label not in datasets:
                datasets.append(label)
    headline = _metric_names((m for r in readable for m in r.evaluations().values()), 3)

    trs = []
    for r in reversed(rows):
        check = (f"<input type='checkbox' name='ref' value='{e(f'{name}@{r.version}')}' "
                 f"aria-label='compare {e(r.version)}'>")
        link = f"<a href='{frame.version_url(name, r.version)}'>{e(r.version)}</a>"
        if r.record is None:
            trs.append(f"<tr class='damaged-row'><td>{check}</td><td>{link}</td>"
                       f"<td>{_aliases(r.aliases)}</td>"
                       f"<td colspan='{4 + len(headline)}'>{_damaged(r.damaged or '')}</td></tr>")
            continue
        rec = r.record
        evals = r.evaluations()
        metric_cells = []
        for m in headline:
            values = [(label, evals[label].get(m)) for label in datasets if label in evals]
            metric_cells.append("<br>".join(
                f"{e(fmt(v))}" + (f" <small>{e(label)}</small>" if len(datasets) > 1 else "")
                for label, v in values if num(v) is not None))
        cells = [check, link, _aliases(r.aliases), _tags(text_list(rec.get("tags"))),
                 e(size(rec.get("size_bytes"))), e(rec.get("author") or ""),
                 e(str(rec.get("created_at") or "")[:19].replace("T", " ")), *metric_cells]
        trs.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = ["", "version", "aliases", "tags", "size", "author", "saved", *headline]
    table = (f"<form method='get' action='{e(frame.home)}compare' class='compare-form'>"
             "<div class='scroll'><table class='versions'><thead><tr>"
             + "".join(f"<th>{e(h)}</th>" for h in heads)
             + f"</tr></thead><tbody>{''.join(trs)}</tbody></table></div>"
             "<button type='submit'>Compare selected versions</button>"
             "<small> (choose two or more)</small></form>")

    ordered = [r.version for r in readable]
    charts = []
    for metric in _metric_names((m for r in readable for m in r.evaluations().values()), 8):
        series = {label: [r.evaluations().get(label, {}).get(metric) for r in readable]
                  for label in datasets}
        series = {k: v for k, v in series.items() if any(num(x) is not None for x in v)}
        svg = metric_chart(metric, ordered, series)
        if svg:
            charts.append(f"<figure>{svg}</figure>")
    chart_html = (f"<section><h2>Metrics over versions</h2><div class='charts'>{''.join(charts)}"
                  "</div></section>" if charts else "")

    per_dataset = []
    for label in datasets:
        names = _metric_names(r.evaluations().get(label, {}) for r in readable)
        body = "".join(
            f"<tr><td>{e(r.version)}</td>"
            + "".join(f"<td>{e(fmt(r.evaluations().get(label, {}).get(m)))}</td>" for m in names)
            + "</tr>" for r in reversed(readable) if label in r.evaluations())
        per_dataset.append(
            f"<details open><summary>data set <b>{e(label)}</b></summary>"
            "<div class='scroll'><table class='metrics'><thead><tr><th>version</th>"
            + "".join(f"<th>{e(m)}</th>" for m in names)
            + f"</tr></thead><tbody>{body}</tbody></table></div></details>")
    metrics_html = (f"<section><h2>Metrics per evaluation data set</h2>{''.join(per_dataset)}"
                    "</section>" if per_dataset else "")

    body = (f"<h1>{e(name)}</h1><p class='count'>{len(rows)} versions</p>{table}{chart_html}"
            f"{metrics_html}{_alias_controls(name, [r.version for r in rows], aliases)}")
    return frame.page(name, [(name, None)], body)


# -- one version ------------------------------------------------------------------------------
def value_html(value: Any, depth: int = 0) -> str:
    """Nested record data as nested tables and lists, every leaf escaped."""
    if isinstance(value, dict) and value and depth < 6:
        rows = "".join(f"<tr><th>{e(k)}</th><td>{value_html(v, depth + 1)}</td></tr>"
                       for k, v in value.items())
        table = f"<table class='kv'>{rows}</table>"
        if depth and len(value) > 12:  # e.g. one dtype per column: folded
            return f"<details><summary>{len(value)} entries</summary>{table}</details>"
        return table
    if isinstance(value, (list, tuple)) and value and depth < 6:
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            text = ", ".join(fmt(v) if num(v) is not None else str(v) for v in value)
            return f"<span class='list'>{e(text)}</span>"
        return "<ol>" + "".join(f"<li>{value_html(v, depth + 1)}</li>" for v in value) + "</ol>"
    if value is None or value == {} or value == []:
        return "<span class='none'>\u2013</span>"
    if isinstance(value, (dict, list, tuple)):
        return f"<code>{e(json.dumps(value, default=str))}</code>"
    return e(fmt(value) if num(value) is not None else value)


def _section(title: str, inner: str, *, open_: bool = True) -> str:
    return (f"<details class='section'{' open' if open_ else ''}><summary><h2>{e(title)}</h2>"
            f"</summary>{inner}</details>")


def version_page(frame: Frame, name: str, version: str, record: dict[str, Any],
                 aliases: dict[str, str], versions: Sequence[str], card_html: str | None,
                 files: list[str], damaged: dict[str, str]) -> str:
    """A version's record, model card, saved plots and report, and snippets to load it.

    ``damaged`` maps a part of the page that could not be read (``card``, ``evaluation``)
    to the reason, shown in its place.
    """
    here = sorted(a for a, v in aliases.items() if v == version)
    ref = f"{name}@{version}"
    snippets = [f"%load_model {ref}",
                f"import nbmodels\nmodel = nbmodels.load_model({name!r}, version={version!r})"]
    snippet_html = "".join(
        f"<div class='snippet'><pre><code>{e(s)}</code></pre><button type='button' "
        f"class='copy' data-copy='{e(s)}'>Copy</button></div>" for s in snippets)

    facts = [(k, record.get(k)) for k in ("description", "author", "created_at", "framework",
                                          "framework_version", "format", "model_class",
                                          "python_version", "training_dataset",
                                          "version_reason", "origin")
             if record.get(k) not in (None, "")]
    facts.append(("size", size(record.get("size_bytes"))))
    summary = ("<table class='kv'>" + "".join(f"<tr><th>{e(k)}</th><td>{value_html(v)}</td></tr>"
                                              for k, v in facts) + "</table>")

    evals = VersionRow(version, record, here).evaluations()
    metric_names = _metric_names(evals.values())
    metrics = ("<div class='scroll'><table class='metrics'><thead><tr><th>data set</th>"
               + "".join(f"<th>{e(m)}</th>" for m in metric_names) + "</tr></thead><tbody>"
               + "".join(f"<tr><td>{e(label)}</td>"
                         + "".join(f"<td>{e(fmt(values.get(m)))}</td>" for m in metric_names)
                         + "</tr>" for label, values in evals.items())
               + "</tbody></table></div>") if evals else "<p class='none'>no metrics</p>"

    hyper = record.get("hyperparameters")
    features = text_list(record.get("features"))
    features_html = (f"<p>{len(features)} features; target <code>{e(record.get('target'))}"
                     f"</code></p><ol class='features'>"
                     + "".join(f"<li>{e(f)}</li>" for f in features) + "</ol>"
                     if features else value_html(record.get("features")))
    file_rows = "".join(
        f"<tr><td>{e(as_dict(f).get('name', '?'))}</td><td>{e(size(as_dict(f).get('size')))}"
        f"</td><td><code class='hash'>{e(as_dict(f).get('sha256', ''))}</code></td></tr>"
        for f in (record.get("files") if isinstance(record.get("files"), list) else []))
    files_html = ("<table class='files'><thead><tr><th>file</th><th>size</th><th>sha256</th>"
                  f"</tr></thead><tbody>{file_rows}</tbody></table>" if file_rows
                  else "<p class='none'>no file hashes in this record</p>")

    body = [f"<h1>{e(name)} <code>{e(version)}</code> {_aliases(here)}</h1>",
            f"<div class='desc'>{e(record.get('description') or '')}</div>",
            _tags(text_list(record.get("tags"))),
            f"<section class='snippets'><h2>Load it</h2>{snippet_html}</section>",
            _section("Summary", summary), _section("Metrics", metrics),
            _evaluation_section(frame, name, version, files, damaged.get("evaluation")),
            _section("Hyper-parameters", value_html(hyper)),
            _section("Features", features_html),
            _section("Lineage", value_html(record.get("lineage"))),
            _section("Environment", value_html(record.get("environment"))),
            _section("Files", files_html)]
    if "card" in damaged:
        body.append(_section("Model card", f"<p>{_damaged(damaged['card'])}</p>"))
    elif card_html:
        # The card's HTML is built by nbmodels.cards, which escapes every value.
        body.append(_section("Model card", f"<div class='card'>{card_html}</div>", open_=False))
    body.append(_alias_controls(name, versions, aliases, fixed_version=version))
    others = [v for v in versions if v != version]
    if others:
        links = " ".join(f"<a href='{frame.compare_url([ref, f'{name}@{v}'])}'>{e(v)}</a>"
                         for v in reversed(others[-8:]))
        body.append(f"<section><h2>Compare with</h2><p>{links}</p></section>")
    body.append(_section("Raw record", "<pre class='raw'>"
                         + e(json.dumps(record, indent=1, default=str)) + "</pre>", open_=False))
    return frame.page(ref, [(name, frame.model_url(name)), (version, None)], "".join(body))


def _evaluation_section(frame: Frame, name: str, version: str, files: list[str],
                        damaged: str | None) -> str:
    if damaged:
        return _section("Evaluation", f"<p>{_damaged(damaged)}</p>")
    if not files:
        return _section("Evaluation", "<p class='none'>no evaluation files; run "
                        "<code>nbmodels.evaluate(model, X_test, y_test, name=..., "
                        "version=...)</code></p>")
    groups: dict[str, list[str]] = {}
    for f in files:
        label, _, filename = f.rpartition("/")
        groups.setdefault(label, []).append(filename)
    parts = []
    for label, names in groups.items():
        dataset = label or None
        images = "".join(
            f"<figure class='plot'><a href='{frame.file_url(name, version, f, dataset)}'>"
            f"<img loading='lazy' alt='{e(f)}' src='{frame.file_url(name, version, f, dataset)}'>"
            f"</a><figcaption>{e(f)}</figcaption></figure>"
            for f in names if f.lower().endswith(IMAGE_SUFFIXES))
        others = " ".join(
            f"<a class='file' href='{frame.file_url(name, version, f, dataset)}' "
            f"target='_blank' rel='noopener'>{e(f)}</a>"
            for f in names if not f.lower().endswith(IMAGE_SUFFIXES))
        parts.append(f"<h3>data set {e(label or 'default')}</h3>"
                     f"<p class='files'>{others}</p><div class='plots'>{images}</div>")
    return _section("Evaluation", "".join(parts))
