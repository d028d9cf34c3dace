"""How nbmodels shows and reads small things, in one place for every layer.

Numbers (:func:`format_metric`), sizes (:func:`format_size`), tables as text
(:func:`text_table`) and HTML (:func:`html_table`, :func:`key_value_table`,
:func:`key_value_html`), ``name@version`` references (:func:`split_ref`), tags
(:func:`parse_tags`) and "which one is best, ties to the later" (:func:`best_index`).

Shared layer: it imports nothing of nbmodels but :mod:`nbmodels.errors` and no library
outside the standard one, so any module may use it. Every HTML helper escapes what it
is given unless the caller hands it a ``cell`` function that renders its own markup.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import InvalidVersionError

__all__ = [
    "best_index",
    "escape",
    "format_metric",
    "format_size",
    "html_table",
    "key_value_html",
    "key_value_table",
    "parse_tags",
    "split_ref",
    "text_table",
]

_CARD_STYLE = "border:1px solid #ccc;border-radius:4px;padding:0.5em;display:inline-block"
_KEY_STYLE = "text-align:left;padding-right:1em;vertical-align:top"
_LEFT = " style='text-align:left'"


# -- values -------------------------------------------------------------------------------------


def format_metric(value: Any) -> str:
    """A metric value for people: 4 significant digits for reals, integers and booleans
    as they are, ``n/a`` for a missing one, anything else as ``str``."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, numbers.Integral)):
        return str(value)
    if isinstance(value, numbers.Real):  # float, numpy floats
        return f"{float(value):.4g}"
    return str(value)


def format_size(n: int | None) -> str:
    """``94.1 MB``-style size (decimal units, as file managers show); ``?`` if unknown."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns at GB


def best_index(values: Sequence[float | None], *, higher_is_better: bool) -> int | None:
    """Index of the best value (largest, or smallest when lower is better); a tie goes to
    the later one. ``None`` and NaN are skipped; ``None`` if no value is left."""
    best: int | None = None
    best_value: float | None = None
    for i, value in enumerate(values):
        if value is None or value != value:  # NaN, of any float type
            continue
        if best_value is None or (value >= best_value if higher_is_better else value <= best_value):
            best, best_value = i, value
    return best


# -- what users type ------------------------------------------------------------------------------


def split_ref(ref: str, version: str | None = None, *, default: str = "latest") -> tuple[str, str]:
    """``"churn@1.2.0"`` -> ``("churn", "1.2.0")``; ``"churn"`` -> ``("churn", version)``.

    ``version`` is a version given separately (``load(name, version)``); ``None`` and
    ``"latest"`` count as not given. ``default`` is the version when neither says one
    (``"churn"``, ``"churn@"``). Two different versions raise
    :class:`~nbmodels.errors.InvalidVersionError`.
    """
    if not isinstance(ref, str):  # left for the caller's name check to report
        return ref, version if version is not None else default
    name, _, ref_version = ref.partition("@")
    given = version if version not in (None, "latest") else None
    if ref_version and given is not None and given != ref_version:
        raise InvalidVersionError(
            f"version given twice: {name}@{ref_version} and version={given!r}; give it once"
        )
    return name, ref_version or given or (version if version is not None else default)


def parse_tags(value: Any) -> list[str]:
    """Tags as a list of strings, from whatever a user or a hand-written record holds:
    ``"a, b"`` (comma-separated), a list or tuple (of anything), or nothing."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, (list, tuple)):
        return [str(t) for t in value]
    return []


# -- tables -------------------------------------------------------------------------------------


def escape(value: Any) -> str:
    """``str(value)``, HTML-escaped (quotes too): the default way a cell is rendered."""
    return html.escape(str(value))


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Rows as an aligned plain-text table under ``headers``, two spaces between columns,
    no trailing blanks."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def html_table(
    headers: Sequence[str] | None,
    rows: Iterable[Sequence[Any]],
    *,
    css_class: str | None = "nbmodels-table",
    styled: bool = True,
    bold_first: bool = False,
    cell: Callable[[Any], str] = escape,
) -> str:
    """An HTML table of ``rows`` under ``headers`` (``None``: no header row).

    Cells are rendered by ``cell`` (escaped text by default). ``styled`` aligns cells
    left inline, for notebooks; without it the page's CSS for ``css_class`` lays the
    table out. ``bold_first`` sets the first column in bold.
    """
    style = _LEFT if styled else ""
    attr = f" class='{escape(css_class)}'" if css_class else ""
    head = ""
    if headers is not None:
        head = (
            "<thead><tr>"
            + "".join(f"<th{style}>{escape(h)}</th>" for h in headers)
            + "</tr></thead>"
        )
    body = []
    for row in rows:
        cells = [cell(c) for c in row]
        if bold_first and cells:
            cells[0] = f"<b>{cells[0]}</b>"
        body.append("<tr>" + "".join(f"<td{style}>{c}</td>" for c in cells) + "</tr>")
    return f"<table{attr}>{head}<tbody>{''.join(body)}</tbody></table>"


def key_value_table(
    pairs: Iterable[tuple[str, Any]], *, cell: Callable[[Any], str] = escape
) -> str:
    """A two-column HTML table: each key as a row heading, its value rendered by ``cell``."""
    rows = "".join(
        f"<tr><th style='{_KEY_STYLE}'>{escape(k)}</th><td{_LEFT}>{cell(v)}</td></tr>"
        for k, v in pairs
    )
    return f"<table>{rows}</table>"


def key_value_html(
    pairs: Iterable[tuple[str, Any]],
    *,
    name: str,
    version: str | None = None,
    lead: str = "",
    css_class: str = "nbmodels-card",
) -> str:
    """A small boxed card: ``{lead}<b>name</b> <code>version</code>`` above a
    :func:`key_value_table` of ``pairs``; every value escaped."""
    title = f"{escape(lead)}<b>{escape(name)}</b>"
    if version is not None:
        title += f" <code>{escape(version)}</code>"
    return (
        f"<div class='{escape(css_class)}' style='{_CARD_STYLE}'>{title}"
        f"{key_value_table(pairs)}</div>"
    )
