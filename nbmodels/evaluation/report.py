"""HTML for evaluations: the notebook view of a result and the self-contained report.html.

Pages are plain HTML with inline CSS and base64 PNGs, so ``report.html`` opens anywhere,
offline, and can be mailed or attached as one file.
"""

from __future__ import annotations

import html
from typing import Any

# The result objects these functions render (EvaluationResult) are passed in by
# result.py, which imports this module; they are typed as Any so that the dependency
# points one way only.
EvaluationResult = Any

__all__ = ["fmt", "fmt_delta", "gates_html", "metrics_table_html", "report_html", "result_html"]

# Rules for our own classes only, so the notebook view cannot restyle the notebook.
_CSS = """
table.nbm{border-collapse:collapse;margin:0.4em 0}
table.nbm th,table.nbm td{border-bottom:1px solid #ddd;padding:3px 10px;text-align:right}
table.nbm th:first-child,table.nbm td:first-child{text-align:left}
table.nbm thead th{border-bottom:2px solid #999}
.nbm-meta{color:#555} .nbm-pass{color:#1a7f37;font-weight:bold}
.nbm-fail{color:#c62828;font-weight:bold}
.nbm-plots{display:flex;flex-wrap:wrap;gap:12px} .nbm-plots figure{margin:0}
.nbm-plots figcaption{font-size:0.85em;color:#555;text-align:center}
"""
_PAGE_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222}
h1{font-size:1.5em;margin-bottom:0.2em} h2{font-size:1.15em;margin-top:1.6em}
code{background:#f4f4f4;padding:0 3px}
""" + _CSS


def fmt(value: Any) -> str:
    """A metric value for display: 4 significant digits, integers as they are."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def fmt_delta(delta: float, like: Any) -> str:
    """A difference with as many decimals as :func:`fmt` shows for ``like`` (its value)."""
    import math

    if not isinstance(like, (int, float)) or isinstance(like, bool):
        return f"{delta:+.4g}"
    if isinstance(like, int):
        return f"{delta:+.0f}"
    magnitude = abs(like) if like else abs(delta)
    if not magnitude or not math.isfinite(magnitude):
        return f"{delta:+.4g}"
    exponent = math.floor(math.log10(magnitude))
    if exponent < -4 or exponent >= 4:  # fmt shows these as 1.234e-05 / 1.234e+04
        return f"{delta:+.3e}"
    return f"{delta:+.{max(0, 3 - exponent)}f}"


def _table(headers: list[str], rows: list[list[str]], *, bold_first: bool = False) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = [f"<td>{'<b>' + e(row[0]) + '</b>' if bold_first else e(row[0])}</td>"]
        cells += [f"<td>{e(c)}</td>" for c in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='nbm'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def metrics_table_html(result: EvaluationResult) -> str:
    """Headline metrics first (bold), then the others."""
    e = html.escape
    head = set(result.headline)
    rows = []
    for key, value in result.metrics.items():
        label = result.metric_label(key)
        name = f"<b>{e(label)}</b>" if key in head else e(label)
        rows.append(f"<tr><td>{name}</td><td>{e(fmt(value))}</td></tr>")
    return ("<table class='nbm'><thead><tr><th>metric</th><th>value</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def gates_html(result: EvaluationResult) -> str:
    """The requirements checked and their verdict as HTML (empty without requirements)."""
    if not result.gates:
        return ""
    e = html.escape
    verdict = ("<span class='nbm-pass'>PASSED</span>" if result.passed
               else "<span class='nbm-fail'>FAILED</span>")
    items = "".join(f"<li class='{'nbm-pass' if g.passed else 'nbm-fail'}'>{e(g.reason)}</li>"
                    for g in result.gates)
    return f"<div><b>Requirements:</b> {verdict}<ul>{items}</ul></div>"


def _per_class_html(result: EvaluationResult) -> str:
    if not result.per_class:
        return ""
    keys = ["precision", "recall", "f1_score", "support", "auc_roc", "average_precision"]
    present = [k for k in keys if any(k in v for v in result.per_class.values())]
    rows = [[label] + [fmt(v.get(k)) for k in present] for label, v in result.per_class.items()]
    return _table(["class", *present], rows)


def _confusion_html(result: EvaluationResult) -> str:
    cm = result.confusion_matrix
    if cm is None or len(result.labels) > 30:
        return ""
    labels = [str(label) for label in result.labels]
    rows = [[f"true {label}", *[fmt(v) for v in row]] for label, row in zip(labels,
                                                                          cm.tolist())]
    return _table(["", *[f"pred {label}" for label in labels]], rows)


def _fingerprint_html(result: EvaluationResult) -> str:
    fp = result.fingerprint or {}
    rows = [["rows", fmt(fp.get("rows"))]]
    if fp.get("columns") is not None:
        rows.append(["columns", fmt(fp["columns"])])
    if fp.get("class_balance"):
        balance = ", ".join(f"{label}: {v['count']} ({v['fraction']:.1%})"
                            for label, v in list(fp["class_balance"].items())[:20])
        rows.append(["class balance", balance])
    if fp.get("target"):
        rows.append(["target", ", ".join(f"{k}={fmt(v)}" for k, v in fp["target"].items())])
    rows.append([f"sha256 ({fp.get('hashed', '')})", fp.get("sha256", "")])
    return _table(["data", ""], rows)


def _subtitle(result: EvaluationResult) -> str:
    parts = [result.task, f"{result.n_samples} rows"]
    if result.dataset:
        parts.append(f"dataset {result.dataset}")
    if result.task == "binary":
        parts.append(f"positive class {result.pos_label!r}"
                     + (f" ({result.pos_label_chosen})" if result.pos_label_chosen else ""))
        parts.append(f"threshold {result.threshold:g} on {result.score_source}"
                     if result.threshold is not None else "labels from the model's predict")
    if result.score_source:
        parts.append(f"scores from {result.score_source}")
    return " · ".join(parts)


def result_html(result: EvaluationResult, *, plot_width: int = 320) -> str:
    """The notebook view: a compact table, requirements, notes and the plots inline."""
    e = html.escape
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    plots = "".join(f"<figure>{p.to_html(plot_width)}<figcaption>{e(p.title)}</figcaption>"
                    f"</figure>" for p in result.figures.values())
    saved = (f"<div class='nbm-meta'>saved in <code>{e(str(result.path))}</code></div>"
             if result.path else "")
    return (f"<div class='nbmodels-evaluation'><style>{_CSS}</style>"
            f"<b>{e(result.label)}</b> <span class='nbm-meta'>{e(_subtitle(result))}</span>"
            f"{gates_html(result)}"
            f"<div style='display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start'>"
            f"<div>{metrics_table_html(result)}</div><div>{_per_class_html(result)}</div></div>"
            + (f"<ul class='nbm-meta'>{notes}</ul>" if notes else "")
            + f"<div class='nbm-plots'>{plots}</div>{saved}</div>")


def report_html(result: EvaluationResult) -> str:
    """``report.html``: one self-contained page with every number and plot of the result."""
    e = html.escape
    notes = "".join(f"<li>{e(n)}</li>" for n in result.notes)
    plots = "".join(f"<figure>{p.to_html()}<figcaption>{e(p.title)}</figcaption></figure>"
                    for p in result.figures.values())
    sections = [
        f"<h1>Evaluation of {e(result.label)}</h1>",
        f"<div class='nbm-meta'>{e(_subtitle(result))}"
        + (f" · evaluated {e(result.evaluated_at)}" if result.evaluated_at else "") + "</div>",
        gates_html(result),
        "<h2>Metrics</h2>", metrics_table_html(result),
    ]
    if result.per_class:
        sections += ["<h2>Per class</h2>", _per_class_html(result)]
    confusion = _confusion_html(result)
    if confusion:
        sections += ["<h2>Confusion matrix</h2>", confusion]
    if plots:
        sections += ["<h2>Plots</h2>", f"<div class='nbm-plots'>{plots}</div>"]
    if notes:
        sections += ["<h2>Notes</h2>", f"<ul>{notes}</ul>"]
    sections += ["<h2>Evaluation data</h2>", _fingerprint_html(result)]
    title = e(f"Evaluation of {result.label}")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title><style>{_PAGE_CSS}</style></head><body>"
            + "\n".join(s for s in sections if s) + "</body></html>\n")
