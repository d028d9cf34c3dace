"""The compare page: what :func:`nbmodels.evaluation.compare` returns, as HTML.

Like :mod:`nbmodels.server.views`, it only turns data into HTML, every value escaped.
"""

from __future__ import annotations

from typing import Any

from ..display import split_ref
from .views import Frame, as_dict, e, fmt, q, size, value_html

__all__ = ["compare_page"]


def _compare_tables(comparison: Any) -> str:
    from ..evaluation.metrics import higher_is_better

    entries = comparison.entries
    cols = "".join(f"<th>{e(x.short)}</th>" for x in entries)
    rows = []
    for r in comparison.rows:
        up = higher_is_better(r.metric)
        cells = []
        for i in range(len(entries)):
            text = e(fmt(r.values[i]))
            d = r.deltas[i]
            if d:
                good = (d > 0) == up
                text += f" <small class='{'better' if good else 'worse'}'>({d:+.4g})</small>"
            cls = " class='best' title='best value'" if i in r.best else ""
            star = " \u2605" if i in r.best else ""
            cells.append(f"<td{cls}>{text}{star}</td>")
        rows.append(f"<tr><th>{e(r.metric)}</th>{''.join(cells)}</tr>")
    rows.append("<tr><th><i>size</i></th>" + "".join(
        f"<td>{e(size(x.record.get('size_bytes')))}</td>" for x in entries) + "</tr>")
    where = f" on data set <code>{e(comparison.dataset)}</code>" if comparison.dataset else ""
    parts = [f"<section><h2>Metrics{where}</h2><div class='scroll'><table class='compare'>"
             f"<thead><tr><th>metric</th>{cols}</tr></thead><tbody>{''.join(rows)}</tbody>"
             "</table></div><p class='note'>\u2605 best value; (delta) against the previous "
             "column</p></section>"]
    label = " that differ" if comparison.only_differences else ""
    for title, table in (("Hyper-parameters", comparison.parameters),
                         ("Environment", comparison.environment)):
        trs = "".join(f"<tr><th>{e(k)}</th>"
                      + "".join(f"<td>{value_html(v)}</td>" for v in values) + "</tr>"
                      for k, values in table)
        inner = (f"<div class='scroll'><table class='compare'><thead><tr><th></th>{cols}</tr>"
                 f"</thead><tbody>{trs}</tbody></table></div>" if trs
                 else "<p class='none'>none differ</p>")
        parts.append(f"<section><h2>{title}{label}</h2>{inner}</section>")
    if comparison.notes:
        parts.append("<ul class='notes'>" + "".join(f"<li>{e(n)}</li>" for n in comparison.notes)
                     + "</ul>")
    return "".join(parts)


def compare_page(frame: Frame, comparison: Any, figures: dict[str, str]) -> str:
    """What :func:`nbmodels.evaluation.compare` returns, as a page: metrics with deltas and
    the best marked, sizes, differing hyper-parameters and environment, notes, figures.

    ``figures`` maps a title to a ``data:`` URL of a PNG drawn by the comparison."""
    refs = comparison.refs
    dot = " \u00b7 "
    labels: list[str] = []
    for entry in comparison.entries:
        for label in as_dict(entry.record.get("evaluations")):
            if label not in labels:
                labels.append(label)
    choose = ""
    if len(labels) > 1:
        links = " ".join(
            f"<b>{e(label)}</b>" if label == (comparison.dataset or "default") else
            f"<a href='{frame.compare_url(refs)}"
            f"{'' if label == 'default' else '&amp;dataset=' + q(label)}'>{e(label)}</a>"
            for label in labels)
        choose = f"<p class='datasets'>evaluation data set: {links}</p>"
    body = (f"<h1>Compare {dot.join(e(r) for r in refs)}</h1>{choose}"
            + _compare_tables(comparison)
            + ("<section><h2>Figures</h2><div class='plots'>"
               + "".join(f"<figure class='plot'><img alt='{e(t)}' src='{e(url)}'>"
                         f"<figcaption>{e(t)}</figcaption></figure>"
                         for t, url in figures.items()) + "</div></section>" if figures else ""))
    names = {split_ref(r)[0] for r in refs}
    crumbs: list[tuple[str, str | None]] = []
    if len(names) == 1:
        (only,) = names
        crumbs.append((only, frame.model_url(only)))
    crumbs.append(("compare", None))
    return frame.page("Compare", crumbs, body)
