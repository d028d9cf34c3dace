"""Versions side by side: metrics with deltas, what changed, sizes, and overlaid curves.

Everything is read from the store (records, ``metrics.json``, ``curves.json``), never
recomputed, so comparing needs neither the models nor the test data.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import CLASSIFICATION_HEADLINE, REGRESSION_HEADLINE, higher_is_better
from .plots import Plot
from .tasks import EvaluationError

__all__ = ["Comparison", "compare"]

# Record keys that describe the environment a version was made in.
_ENV_KEYS = ("model_class", "framework", "framework_version", "python_version",
             "python_implementation", "platform", "format", "training_dataset")
_ENV_DICTS = ("environment", "packages", "dependencies")


@dataclass
class _Entry:
    """One version being compared, with what the store holds about it."""

    name: str
    version: str
    record: dict[str, Any]
    metrics: dict[str, float]
    curves: dict[str, Any] | None
    data_sha256: str | None
    task: str | None = None
    ref: str = ""
    short: str = ""  # the column heading: the version alone when one model is compared


def _parse_refs(name: Any, versions: Any) -> list[tuple[str, str]]:
    if isinstance(name, str) and versions is None and "@" not in name:
        return [(name, "*")]
    if isinstance(name, str):
        if "@" in name:
            if versions is not None:
                raise EvaluationError(f"give either {name!r} or versions=, not both")
            return [tuple(name.split("@", 1))]  # type: ignore[list-item]
        if isinstance(versions, str):
            versions = [versions]
        return [(name, str(v)) for v in versions]
    if isinstance(name, Sequence):
        refs = []
        for ref in name:
            n, _, v = str(ref).partition("@")
            refs.append((n, v or "latest"))
        return refs
    raise EvaluationError(f"compare() takes a model name or a list of 'name@version', got "
                          f"{type(name).__name__}")


def compare(name: Any, versions: Sequence[str] | None = None, *, store: Any = None,
            dataset: str | None = None, metrics: Sequence[str] | None = None,
            only_differences: bool = True, X: Any = None, y: Any = None,
            progress: Any = None) -> Comparison:
    """Compare versions: metrics with deltas and the best marked, what differs, sizes, curves.

    Parameters
    ----------
    name : str or list of str
        A model name (with ``versions``, or every version by default), or a list of
        ``"name@version"`` references, which may name different models.
    versions : list of str, optional
        Versions of ``name`` (exact, ``latest`` or aliases), in the order to show.
    dataset : str, optional
        Compare the evaluations on this data set label instead of the default one.
    metrics : list of str, optional
        Only these metrics (all that were saved by default).
    only_differences : bool
        List only the hyper-parameters and environment keys that differ (the default);
        ``False`` lists them all.
    X, y : array-like, optional
        Evaluate every picked version on this data first (each is loaded from the store,
        and its results saved as usual), so all columns come from the same rows and
        versions never evaluated do not show ``n/a``.
    progress : callable, optional
        Passed to :func:`evaluate` for each version (see there).

    Versions of different kinds of task (a classifier and a regressor, binary and
    multiclass) are refused: their metrics do not mean the same thing.
    """
    from ..store.model_store import ModelStore

    if store is None:
        store = ModelStore()
    elif not isinstance(store, ModelStore):
        store = ModelStore(store)
    refs = _parse_refs(name, versions)
    if len(refs) == 1 and refs[0][1] == "*":
        refs = [(refs[0][0], v) for v in store.versions(refs[0][0])]
    if (X is None) != (y is None):
        raise EvaluationError("pass both X= and y= to evaluate the versions first, or "
                              "neither to compare their saved results")
    entries = []
    for model_name, ref in refs:
        exact = store.resolve(model_name, ref)
        if X is not None:
            from .core import evaluate

            result = evaluate(store.load(model_name, exact), X, y, name=model_name,
                              version=exact, store=store, dataset=dataset, plots="seed",
                              progress=progress)
            record = store.record(model_name, exact).to_dict()
            scalars = {k: float(v) for k, v in result.metrics.items() if v is not None}
            entries.append(_Entry(model_name, exact, record, scalars, result.curves,
                                  result.fingerprint.get("sha256"), result.task,
                                  ref=f"{model_name}@{exact}"))
            continue
        record = store.record(model_name, exact).to_dict()
        scalars, curves, sha, task = store.saved_metrics(model_name, exact, dataset=dataset)
        entries.append(_Entry(model_name, exact, record, scalars, curves, sha, task,
                              ref=f"{model_name}@{exact}"))
    _check_same_task(entries)
    one_model = len({e.name for e in entries}) == 1
    for e in entries:
        e.short = e.version if one_model else e.ref
    return Comparison(entries, dataset=dataset, only=list(metrics) if metrics else None,
                      only_differences=only_differences)


_COARSE = {"binary": "classification", "multiclass": "classification",
           "regression": "regression", "classifier": "classification",
           "regressor": "regression"}


def _check_same_task(entries: list[_Entry]) -> None:
    """Refuse versions of different kinds of task (the evaluated task, else the
    estimator type in the record)."""
    for level in ("task", "kind"):
        kinds: dict[str, list[str]] = {}
        for e in entries:
            kind = e.task if level == "task" else _COARSE.get(
                e.task or str(e.record.get("estimator_type")))
            if kind:
                kinds.setdefault(kind, []).append(e.short or e.ref)
        if len(kinds) > 1:
            shown = "; ".join(f"{kind}: {', '.join(refs)}" for kind, refs in kinds.items())
            raise EvaluationError(f"cannot compare versions of different kinds of task "
                                  f"({shown}): their metrics do not mean the same thing; "
                                  f"compare one kind at a time")


@dataclass
class _Row:
    metric: str
    values: list[float | None]
    deltas: list[float | None]
    best: set[int] = field(default_factory=set)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in sorted(value.items()):
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


class Comparison:
    """What :func:`compare` returns: tables, figures and the best version per metric."""

    def __init__(self, entries: list[_Entry], *, dataset: str | None = None,
                 only: list[str] | None = None, only_differences: bool = True) -> None:
        if not entries:
            raise EvaluationError("nothing to compare: no versions were found")
        self.entries = entries
        self.dataset = dataset
        self.only_differences = only_differences
        self.notes: list[str] = []
        self.rows = self._metric_rows(only)
        self.parameter_groups = self._parameter_groups()
        self.parameters = [(f"{group}: {k}" if len(self.parameter_groups) > 1 else k,
                            values) for group, _, rows in self.parameter_groups
                           for k, values in rows]
        self.environment = self._environment()
        self._figures: dict[str, Plot] | None = None
        missing = [e.short for e in entries if not e.metrics]
        if missing:
            self.notes.append(f"no saved metrics for {', '.join(missing)}: evaluate them "
                              f"with nbmodels.evaluate(...)")
        hashes = {e.data_sha256 for e in entries if e.data_sha256}
        if len(hashes) > 1:
            self.notes.append("these versions were evaluated on different data (the data "
                              "fingerprints differ): metric differences mix model and data")

    # -- tables -------------------------------------------------------------------------
    @property
    def refs(self) -> list[str]:
        return [e.ref for e in self.entries]

    @property
    def sizes(self) -> dict[str, int | None]:
        """``ref -> size in bytes`` of each version's artifacts."""
        return {e.ref: e.record.get("size_bytes") for e in self.entries}

    def metric_label(self, metric: str) -> str:
        """``precision (class 1)`` for the positive-class metrics of binary evaluations,
        ``precision (weighted avg)`` for multiclass ones, the name otherwise."""
        tasks = {e.task for e in self.entries if e.task}
        if metric in ("precision", "recall", "f1_score") and len(tasks) == 1:
            (task,) = tasks
            if task == "multiclass":
                return f"{metric} (weighted avg)"
            if task == "binary":
                labels = {repr((e.curves or {}).get("pos_label")) for e in self.entries
                          if (e.curves or {}).get("pos_label") is not None}
                return (f"{metric} (class {next(iter(labels)).strip(chr(39))})"
                        if len(labels) == 1 else f"{metric} (positive class)")
        base, _, avg = metric.rpartition("_")
        if base and avg in ("weighted", "macro"):
            return f"{'f1_score' if base == 'f1' else base} ({avg} avg)"
        return metric

    def _metric_rows(self, only: list[str] | None) -> list[_Row]:
        order: list[str] = []
        for e in self.entries:
            for k in e.metrics:
                if k not in order:
                    order.append(k)
        head = [k for k in (*CLASSIFICATION_HEADLINE, *REGRESSION_HEADLINE) if k in order]
        order = head + [k for k in order if k not in head]
        if only is not None:
            unknown = [m for m in only if m not in order]
            if unknown:
                raise EvaluationError(f"no version has the metric(s) {', '.join(unknown)}; "
                                      f"saved: {', '.join(order) or 'none'}")
            order = list(only)
        rows = []
        for metric in order:
            values = [e.metrics.get(metric) for e in self.entries]
            deltas: list[float | None] = [None]
            deltas += [b - a if a is not None and b is not None else None
                       for a, b in itertools.pairwise(values)]
            present = [v for v in values if v is not None]
            best: set[int] = set()
            if len(present) > 1:
                target = max(present) if higher_is_better(metric) else min(present)
                best = {i for i, v in enumerate(values) if v == target}
            rows.append(_Row(metric, values, deltas, best))
        return rows

    def _parameter_groups(self) -> list[tuple[str, list[int], list[tuple[str, list[Any]]]]]:
        """Hyper-parameters per estimator: ``(estimator, entry indices, rows)``.

        Rows hold one value per entry (None for entries of another estimator). Only
        versions of the same estimator are compared, so with ``only_differences`` an
        estimator that a single version uses lists nothing: its parameters differ from
        nothing.
        """
        groups: dict[str, list[int]] = {}
        for i, e in enumerate(self.entries):
            cls = str(e.record.get("model_class") or "unknown estimator").rsplit(".", 1)[-1]
            groups.setdefault(cls, []).append(i)
        out = []
        for cls, members in groups.items():
            flat = []
            for i in members:
                params: dict[str, Any] = {}
                _flatten("", self.entries[i].record.get("hyperparameters") or {}, params)
                flat.append(params)
            if self.only_differences and len(members) < 2:
                rows: list[tuple[str, list[Any]]] = []
            else:
                rows = self._rows_of(flat)
            full = []
            for k, values in rows:
                aligned: list[Any] = [None] * len(self.entries)
                for i, v in zip(members, values):
                    aligned[i] = v
                full.append((k, aligned))
            out.append((cls, members, full))
        return out

    def _environment(self) -> list[tuple[str, list[Any]]]:
        flat = []
        for e in self.entries:
            out = {k: e.record.get(k) for k in _ENV_KEYS if k in e.record}
            for key in _ENV_DICTS:
                if isinstance(e.record.get(key), dict):
                    _flatten(key, e.record[key], out)
            flat.append(out)
        return self._rows_of(flat)

    def _rows_of(self, flat: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
        keys = sorted(set().union(*flat)) if flat else []
        rows = []
        for k in keys:
            values = [f.get(k) for f in flat]
            if not self.only_differences or len({repr(v) for v in values}) > 1:
                rows.append((k, values))
        return rows

    def best(self, metric: str) -> str:
        """The reference (``name@version``) with the best value of ``metric``."""
        for row in self.rows:
            if row.metric != metric:
                continue
            up = higher_is_better(metric)
            index = None
            for i, v in enumerate(row.values):  # a tie goes to the later version
                if v is not None and (index is None or (v >= row.values[index] if up
                                                        else v <= row.values[index])):
                    index = i
            if index is not None:
                return self.entries[index].ref
        raise EvaluationError(f"no compared version has {metric!r}; metrics: "
                              f"{', '.join(r.metric for r in self.rows) or 'none'}")

    def to_frame(self, *, deltas: bool = False) -> Any:
        """Metrics as a pandas DataFrame: one row per metric, one column per version."""
        import pandas as pd

        data: dict[str, list[float | None]] = {}
        for i, e in enumerate(self.entries):
            data[e.short] = [r.values[i] for r in self.rows]
            if deltas and i:
                data[f"delta {e.short}"] = [r.deltas[i] for r in self.rows]
        return pd.DataFrame(data, index=pd.Index([r.metric for r in self.rows],
                                                 name="metric"), dtype="float64")

    # -- figures ------------------------------------------------------------------------
    @property
    def figures(self) -> dict[str, Plot]:
        """Drawn on first use: metrics over versions, ROC and PR overlays, and the
        difference between the confusion matrices of the last two versions."""
        if self._figures is None:
            self._figures = self._draw()
        return self._figures

    def _draw(self) -> dict[str, Plot]:
        from . import plots as P

        figures: dict[str, Plot] = {}
        labels = [e.short for e in self.entries]
        head = [r for r in self.rows if r.metric in (*CLASSIFICATION_HEADLINE,
                                                      *REGRESSION_HEADLINE)]
        series = {self.metric_label(r.metric): r.values for r in (head or self.rows[:5])
                  if any(v is not None for v in r.values)}
        if series and len(self.entries) > 1:
            figures["metrics_over_versions"] = Plot(
                "metrics_over_versions",
                P.metric_panels_png(labels, series, title="Metrics by version"),
                "Metrics by version")
        roc, pr = [], []
        for e in self.entries:
            curves = e.curves or {}
            if curves.get("task") != "binary" or "roc" not in curves:
                continue
            (r,) = curves["roc"]["curves"].values()
            roc.append((e.short, r["fpr"], r["tpr"], r.get("auc")))
            (p,) = curves["precision_recall"]["curves"].values()
            pr.append((e.short, p["precision"], p["recall"], p.get("average_precision"), None))
        if roc:
            figures["roc_overlay"] = Plot("roc_overlay", P.roc_png(roc, title="ROC curves"),
                                          "ROC curves")
            figures["pr_overlay"] = Plot("pr_overlay",
                                         P.pr_png(pr, title="Precision-recall curves"),
                                         "Precision-recall curves")
        elif any(e.curves for e in self.entries):
            self.notes.append("ROC and PR overlays are drawn for binary evaluations only")
        diff = self._confusion_difference()
        if diff is not None:
            matrix, names, title, fmt = diff
            png = P.confusion_matrix_png(matrix, names, title=title, cmap="RdBu",
                                         values_format=fmt, symmetric=True)
            figures["confusion_matrix_difference"] = Plot("confusion_matrix_difference", png,
                                                          title)
        return figures

    def _confusion_difference(self) -> tuple[np.ndarray, list[str], str, str] | None:
        with_cm = [e for e in self.entries if (e.curves or {}).get("confusion_matrix")]
        if len(with_cm) < 2:
            return None
        a, b = with_cm[-2], with_cm[-1]
        ca, cb = a.curves["confusion_matrix"], b.curves["confusion_matrix"]  # type: ignore[index]
        names = [str(x) for x in ca["labels"]]
        names += [str(x) for x in cb["labels"] if str(x) not in names]

        def aligned(cm: dict[str, Any], rates: bool) -> np.ndarray:
            out = np.zeros((len(names), len(names)))
            idx = [names.index(str(x)) for x in cm["labels"]]
            counts = np.asarray(cm["counts"], dtype=np.float64)
            if rates:
                rows = counts.sum(axis=1, keepdims=True)
                counts = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows != 0)
            out[np.ix_(idx, idx)] = counts
            return out

        same_data = a.data_sha256 is not None and a.data_sha256 == b.data_sha256
        matrix = aligned(cb, not same_data) - aligned(ca, not same_data)
        what = "counts" if same_data else "rates per true label"
        if same_data:
            matrix = matrix.astype(np.int64)
        return matrix, names, f"{b.short} minus {a.short} ({what})", "d" if same_data else "+.2f"

    # -- display ------------------------------------------------------------------------
    def _cell(self, row: _Row, i: int) -> str:
        from .report import fmt

        value = row.values[i]
        text = fmt(value)
        delta = row.deltas[i]
        if delta is not None:
            from .report import fmt_delta

            text += f" ({fmt_delta(delta, value)})"
        if i in row.best:
            text += " *"
        return text

    def __repr__(self) -> str:
        from ..record.record import format_size
        from ..store.reports import text_table

        head = [r for r in self.rows if r.metric in (*CLASSIFICATION_HEADLINE,
                                                      *REGRESSION_HEADLINE)] or self.rows[:6]
        rows = [[self.metric_label(r.metric)] + [self._cell(r, i)
                                                  for i in range(len(self.entries))]
                for r in head]
        rows.append(["size"] + [format_size(e.record.get("size_bytes")) for e in self.entries])
        rows += [[k] + [_short(v) for v in values] for k, values in self.parameters[:8]]
        title = f"Comparison({', '.join(self.refs)})"
        if self.dataset:
            title += f" on {self.dataset}"
        table = text_table(["metric", *[e.short for e in self.entries]], rows)
        return f"{title}\n{table}"

    def _repr_html_(self) -> str:
        from ..record.record import format_size

        e = html.escape
        cols = "".join(f"<th>{e(x.short)}</th>" for x in self.entries)
        body = []
        for r in self.rows:
            cells = []
            up = higher_is_better(r.metric)
            for i in range(len(self.entries)):
                from .report import fmt

                text = e(fmt(r.values[i]))
                d = r.deltas[i]
                if d:
                    from .report import fmt_delta

                    good = (d > 0) == up
                    text += (f" <small style='color:{'#1a7f37' if good else '#c62828'}'>"
                             f"({e(fmt_delta(d, r.values[i]))})</small>")
                if i in r.best:
                    text = f"<b>{text} &#9733;</b>"
                cells.append(f"<td>{text}</td>")
            body.append(f"<tr><td>{e(self.metric_label(r.metric))}</td>{''.join(cells)}</tr>")
        body.append("<tr><td><i>size</i></td>" + "".join(
            f"<td>{e(format_size(x.record.get('size_bytes')))}</td>" for x in self.entries)
            + "</tr>")
        parts = ["<div class='nbmodels-comparison'><b>Comparison</b>"
                 + (f" on <code>{e(self.dataset)}</code>" if self.dataset else ""),
                 f"<table class='nbm'><thead><tr><th>metric</th>{cols}</tr></thead>"
                 f"<tbody>{''.join(body)}</tbody></table>",
                 "<div style='font-size:0.85em;color:#555'>&#9733; best value; "
                 "(delta) against the previous column</div>"]
        label = " that differ" if self.only_differences else ""
        for cls, members, rows in self.parameter_groups:
            if not rows:
                continue
            heads = "".join(f"<th>{e(self.entries[i].short)}</th>" for i in members)
            trs = "".join(f"<tr><td>{e(k)}</td>" + "".join(
                f"<td style='{_WRAP}'>{e(_short(vals[i]))}</td>" for i in members) + "</tr>"
                for k, vals in rows)
            parts.append(f"<h4>Hyper-parameters of {e(cls)}{label}</h4>"
                         f"<table class='nbm'><thead><tr><th></th>{heads}</tr></thead>"
                         f"<tbody>{trs}</tbody></table>")
        alone = [cls for cls, members, _ in self.parameter_groups if len(members) == 1]
        if len(self.parameter_groups) > 1 and alone and self.only_differences:
            parts.append(f"<div style='font-size:0.85em;color:#555'>different estimators "
                         f"({e(', '.join(c for c, _, _ in self.parameter_groups))}): "
                         f"hyper-parameters are compared within one estimator</div>")
        if self.environment:
            trs = "".join(f"<tr><td style='{_WRAP}'>{e(k)}</td>" + "".join(
                f"<td style='{_WRAP}'>{e(_short(v))}</td>" for v in vals) + "</tr>"
                for k, vals in self.environment)
            parts.append(f"<h4>Environment{label}</h4><div style='max-width:100%;"
                         f"overflow-x:auto'><table class='nbm' style='table-layout:fixed;"
                         f"max-width:100%'><thead><tr><th></th>{cols}</tr></thead>"
                         f"<tbody>{trs}</tbody></table></div>")
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in self.notes) + "</ul>")
        figures = self.figures
        if figures:
            parts.append("<div style='display:flex;flex-wrap:wrap;gap:12px'>"
                         + "".join(p.to_html(640 if name == "metrics_over_versions" else 360)
                                   for name, p in figures.items()) + "</div>")
        return "".join(parts) + "</div>"


# Long values (platform strings, package lists) wrap inside their cell instead of
# widening the table past the notebook.
_WRAP = "max-width:16em;overflow-wrap:anywhere;word-break:break-word;white-space:normal"


def _short(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
