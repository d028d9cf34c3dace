"""CompareVersions: pick versions (of one model or several), see them side by side.

Everything shown comes from :func:`nbmodels.compare` (saved metrics, records, curves);
the *Evaluate* button first evaluates every picked version on the same notebook data,
so the comparison is on equal terms.
"""

from __future__ import annotations

import html
from collections.abc import MutableMapping, Sequence
from typing import Any

import ipywidgets as W

from ..display import format_metric, format_size
from .common import (
    NO_DATA,
    PANEL_CSS,
    ProgressBar,
    Worker,
    error_html,
    html_table,
    message_html,
    refresh_data_pickers,
    set_images,
    store_of,
    user_namespace,
)

__all__ = ["CompareVersions"]



class CompareVersions(W.VBox):
    """Versions side by side: metrics with deltas and the best marked, the
    hyper-parameters and environment that differ, ROC/PR overlays, metrics over versions.

    Parameters
    ----------
    name : str or list of str, optional
        The model whose versions are picked at first (all of them), or the
        ``name@version`` references to pick (aliases and ``latest`` work).
    store : ModelStore or path, optional
        The store; ``$NBMODELS_HOME`` or ``./models`` by default.
    namespace : dict, optional
        Where the ``X``/``y`` pickers of *Evaluate* look (the notebook's by default).
    background : bool, optional
        Evaluate in a worker thread (the default inside a kernel); ``wait()`` blocks
        until it is done.

    Drive it from Python: ``panel.picker.value = ("churn@1.0.0", "churn@2.0.0")``;
    ``panel.X_picker.value = "X_test"; panel.y_picker.value = "y_test";
    panel.evaluate_button.click()``. ``panel.comparison`` is the current
    :class:`~nbmodels.evaluation.Comparison`.
    """

    def __init__(self, name: str | Sequence[str] | None = None, store: Any = None, *,
                 namespace: MutableMapping[str, Any] | None = None,
                 background: bool | None = None) -> None:
        self.store = store_of(store)
        self.namespace = namespace if namespace is not None else user_namespace()
        self.worker = Worker(background)
        self.progress = ProgressBar()
        self.comparison: Any = None
        self._initial = self._initial_refs(name)  # an unknown model or version raises here

        self.title = W.HTML()
        self.picker = W.SelectMultiple(options=[], rows=8, description="versions",
                                       layout=W.Layout(width="340px"))
        self.dataset = W.Text(description="data set", placeholder="default",
                              continuous_update=False, layout=W.Layout(width="260px"))
        self.show_all = W.Checkbox(value=False, description="show unchanged parameters",
                                   indent=False)
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.X_picker = W.Dropdown(description="X", layout=W.Layout(width="220px"))
        self.y_picker = W.Dropdown(description="y", layout=W.Layout(width="220px"))
        self.evaluate_button = W.Button(description="Evaluate picked", icon="play",
                                        button_style="primary",
                                        tooltip="evaluate every picked version on X, y and "
                                                "save the results under the data set label")
        self.metrics_table = W.HTML()
        self.differences = W.HTML()
        self.plots = W.Output(layout=W.Layout(width="100%"))
        self.status = W.HTML()

        self._quiet = False  # set while the panel itself changes the picker
        self.picker.observe(lambda _: self._quiet or self._update_comparison(), names="value")
        self.dataset.observe(lambda _: self._update_comparison(), names="value")
        self.show_all.observe(lambda _: self._update_comparison(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.evaluate_button.on_click(lambda _: self._evaluate())

        controls = W.VBox([self.dataset, self.show_all,
                           W.HBox([self.X_picker, self.y_picker]),
                           W.HBox([self.evaluate_button, self.refresh_button]),
                           self.progress.box])
        tabs = W.Tab(children=[W.VBox([self.metrics_table, self.differences]), self.plots])
        tabs.titles = ("Metrics", "Plots")
        self.tabs = tabs
        super().__init__([W.HTML(PANEL_CSS), self.title, W.HBox([self.picker, controls]),
                          self.status, tabs], layout=W.Layout(width="100%"))
        self.add_class("nbm-w")
        self.add_class("nbm-panel-compare")
        self.refresh()

    # -- reading --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the store and the notebook's variables again, keeping the picked versions."""
        refs: list[str] = []
        try:
            for model in self.store.names():
                try:
                    refs += [f"{model}@{v}" for v in self.store.versions(model)]
                except Exception:  # a model with no readable version is not offered
                    continue
        except Exception as exc:
            self.status.value = error_html(exc, "reading the store")
        keep = [r for r in self.picker.value if r in refs]
        if not keep:
            keep = [r for r in self._initial if r in refs]
        self.title.value = (f"<h3>Compare versions <span class='nbm-muted'>in <code>"
                            f"{html.escape(str(self.store.root))}</code></span></h3>")
        refresh_data_pickers((self.X_picker, self.y_picker), self.namespace)
        self._quiet = True
        try:
            self.picker.options = refs
            self.picker.value = tuple(keep)
        finally:
            self._quiet = False
        self._update_comparison()

    def _initial_refs(self, name: str | Sequence[str] | None) -> list[str]:
        if name is None:
            return []
        if isinstance(name, str) and "@" not in name:
            return [f"{name}@{v}" for v in self.store.versions(name)]
        out = []
        for ref in [name] if isinstance(name, str) else name:
            model, _, version = str(ref).partition("@")
            out.append(f"{model}@{self.store.resolve(model, version or 'latest')}")
        return out

    def wait(self, timeout: float | None = None) -> None:
        """Block until an evaluation started in the background has finished."""
        self.worker.wait(timeout)

    def _update_comparison(self) -> None:
        refs = list(self.picker.value)
        self.comparison = None
        if len(refs) < 2:
            self.metrics_table.value = message_html("pick two or more versions (ctrl/shift-"
                                                    "click in the list)", "muted")
            self.differences.value = ""
            set_images(self.plots, [])
            return
        from ..evaluation import compare

        try:
            comparison = compare(refs, store=self.store, dataset=self.dataset.value.strip()
                                 or None, only_differences=not self.show_all.value)
        except Exception as exc:
            self.metrics_table.value = error_html(exc, "compare")
            self.differences.value = ""
            set_images(self.plots, [])
            return
        self.comparison = comparison
        self.metrics_table.value = self._metrics_html(comparison)
        self.differences.value = self._differences_html(comparison)
        self._draw(comparison)

    # -- rendering ------------------------------------------------------------------------
    @staticmethod
    def _columns(comparison: Any) -> list[str]:
        return [e.short for e in comparison.entries]

    def _metrics_html(self, comparison: Any) -> str:
        from ..evaluation.metrics import higher_is_better

        cols = self._columns(comparison)
        rows = []
        for row in comparison.rows:
            cells = [html.escape(comparison.metric_label(row.metric))]
            up = higher_is_better(row.metric)
            for i, value in enumerate(row.values):
                text = html.escape(format_metric(value))
                delta = row.deltas[i]
                if delta:
                    cls = "nbm-up" if (delta > 0) == up else "nbm-down"
                    text += f" <span class='{cls}'>({delta:+.3g})</span>"
                if i in row.best:
                    text = f"<span class='nbm-best'>{text} &#9733;</span>"
                cells.append(text)
            rows.append(cells)
        rows.append(["<i>size</i>", *[html.escape(format_size(e.record.get("size_bytes")))
                                      for e in comparison.entries]])
        where = (f" on <code>{html.escape(comparison.dataset)}</code>"
                 if comparison.dataset else "")
        notes = "".join(f"<li class='nbm-warn'>{html.escape(n)}</li>" for n in comparison.notes)
        return (f"<div class='nbm-w'><h4>Metrics{where}</h4>"
                + html_table(["metric", *cols], rows, raw=True,
                             numeric=list(range(1, len(cols) + 1)))
                + "<div class='nbm-muted'>&#9733; best value per metric; (delta) against the "
                  "column to the left, coloured by whether it improved</div>"
                + (f"<ul>{notes}</ul>" if notes else "") + "</div>")

    def _differences_html(self, comparison: Any) -> str:
        cols = self._columns(comparison)
        parts = []
        label = "" if self.show_all.value else " that differ"
        for title, rows in (("Hyper-parameters", comparison.parameters),
                            ("Environment", comparison.environment)):
            if rows:
                table = html_table(["", *cols], [[k, *["-" if v is None else str(v)
                                                       for v in values]]
                                                 for k, values in rows])
                parts.append(f"<h4>{title}{label}</h4>{table}")
            else:
                parts.append(f"<h4>{title}</h4><span class='nbm-muted'>no differences</span>")
        return "<div class='nbm-w'>" + "".join(parts) + "</div>"

    def _draw(self, comparison: Any) -> None:
        # The core draws them from the saved curves: metrics over versions (one axes per
        # metric), ROC and PR overlays, the change in the confusion matrix.
        images = [(plot.title, plot.png) for plot in comparison.figures.values()]
        set_images(self.plots, images)
        if not images:
            self.plots.outputs = ({"output_type": "display_data", "metadata": {},
                                   "data": {"text/plain": "nothing to plot: evaluate the "
                                            "picked versions first"}},)

    # -- evaluating -----------------------------------------------------------------------
    def _evaluate(self) -> None:
        if self.worker.busy:
            self.status.value = message_html("an evaluation is still running", "warn")
            return
        refs = list(self.picker.value)
        try:
            if not refs:
                raise ValueError("pick the versions to evaluate first")
            missing = [p.description for p in (self.X_picker, self.y_picker)
                       if p.value in (None, NO_DATA)]
            if missing:
                raise ValueError(f"pick the notebook variable for {' and '.join(missing)} "
                                 f"(press Refresh if it is not listed)")
            X = self.namespace[self.X_picker.value]
            y = self.namespace[self.y_picker.value]
        except Exception as exc:
            self.status.value = error_html(exc, "evaluate")
            return
        dataset = self.dataset.value.strip() or None
        self.progress.start("evaluating")
        self.evaluate_button.disabled = True
        self.status.value = message_html(f"evaluating {len(refs)} versions...", "muted")

        def work() -> list[str]:
            from ..evaluation import evaluate

            done = []
            for i, ref in enumerate(refs):
                self.progress(f"evaluating {ref}", i, len(refs))
                name, _, version = ref.partition("@")
                model = self.store.load(name, version)
                evaluate(model, X, y, name=name, version=version, store=self.store,
                         dataset=dataset)
                done.append(ref)
            self.progress("evaluated", len(refs), len(refs))
            return done

        def finished(done: list[str]) -> None:
            self.progress.finish(True)
            self.evaluate_button.disabled = False
            where = f" under data set {dataset!r}" if dataset else ""
            self.status.value = message_html(
                f"evaluated {len(done)} versions on {self.X_picker.value}, "
                f"{self.y_picker.value}{where}", "ok")
            self._update_comparison()

        def failed(exc: BaseException) -> None:
            self.progress.finish(False)
            self.evaluate_button.disabled = False
            self.status.value = error_html(exc, "evaluate")
            self._update_comparison()  # what was evaluated before the error is shown

        self.worker.run(work, finished, failed)
