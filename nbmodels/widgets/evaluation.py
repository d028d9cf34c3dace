"""EvaluationPanel: a model's evaluation, with a live decision threshold for binary tasks.

The model predicts once (when the panel opens, or on *Re-evaluate*); the threshold
slider and the positive-class picker recompute the confusion matrix, precision, recall
and f1 from the stored scores (:meth:`EvaluationResult.at_threshold`), never by
predicting again. *Save* writes the evaluation at the chosen threshold beside the
version.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as W

from ..display import format_metric
from .common import (
    PANEL_CSS,
    ProgressBar,
    Worker,
    error_html,
    figure_png,
    html_table,
    message_html,
    set_images,
    store_of,
)

__all__ = ["EvaluationPanel", "confusion_figure"]

# The numbers the threshold changes, shown first and updated live.
_LIVE = ("accuracy", "precision", "recall", "f1_score", "balanced_accuracy")


def confusion_figure(matrix: Any, labels: list[Any], *, title: str) -> Any:
    """A confusion matrix as a ``matplotlib.figure.Figure`` (scikit-learn's Display)."""
    import numpy as np
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    k = len(labels)
    side = min(7.5, 3.2 + 0.45 * k)
    fig = Figure(figsize=(side + 0.4, side))
    # fixed margins: a layout engine would draw the figure twice, and this one is
    # redrawn while the threshold slider moves
    fig.subplots_adjust(left=0.2, bottom=0.16, right=0.95, top=0.9)
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(np.asarray(matrix), display_labels=[str(x) for x in labels]).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(title, fontsize=11)
    return fig


class EvaluationPanel(W.VBox):
    """Evaluate ``model`` on ``X, y`` and explore the result.

    Parameters
    ----------
    model, X, y
        A fitted model and its test data.
    store : ModelStore or path, optional
        Where *Save* writes; by default the store the model was loaded from, else
        ``$NBMODELS_HOME`` or ``./models``.
    name, version : str, optional
        Which stored version the model is (taken from a model loaded from the store).
    dataset : str, optional
        The evaluation data's label (kept apart from other data sets when saved).
    pos_label, threshold : optional
        The positive class and the decision threshold to start with (a binary task);
        by default the core's (the greater label; the model's own labels).
    background : bool, optional
        Predict in a worker thread (the default inside a kernel); ``wait()`` blocks
        until the evaluation is shown.

    Drive it from Python: ``panel.threshold.value = 0.3`` (then ``panel.live_metrics``
    holds the numbers shown), ``panel.pos_label.value = 0`` (a class label),
    ``panel.save_button.click()``.
    """

    def __init__(self, model: Any, X: Any, y: Any, store: Any = None, *,
                 name: str | None = None, version: str | None = None,
                 dataset: str | None = None, pos_label: Any = None,
                 threshold: float | None = None, background: bool | None = None) -> None:
        self.model, self.X, self.y = model, X, y
        self.store = store_of(store) if store is not None else None
        self.name, self.version = name, version
        self.result: Any = None  # the EvaluationResult of the last prediction
        self.view: Any = None  # what is shown: ``result`` or ``result.at_threshold(t)``
        self.saved: Any = None
        self.worker = Worker(background)
        self.progress = ProgressBar()

        self.title = W.HTML()
        self.threshold = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01,
                                       description="threshold", continuous_update=True,
                                       readout_format=".2f", layout=W.Layout(width="420px"))
        self.pos_label = W.Dropdown(description="positive", layout=W.Layout(width="220px"))
        self.threshold_box = W.HBox([self.threshold, self.pos_label],
                                    layout=W.Layout(display="none"))
        self.metrics_table = W.HTML(layout=W.Layout(width="360px"))
        self.confusion = W.Output(layout=W.Layout(width="440px"))
        self.confusion.add_class("nbm-confusion")
        self.plots = W.Output(layout=W.Layout(width="100%"))
        self.dataset = W.Text(value=dataset or "", description="data set",
                              placeholder="default", layout=W.Layout(width="260px"))
        self.save_button = W.Button(description="Save evaluation", icon="save",
                                    button_style="primary", disabled=True,
                                    tooltip="save this evaluation (at the chosen threshold) "
                                            "beside the version")
        self.rerun_button = W.Button(description="Re-evaluate", icon="refresh")
        self.status = W.HTML()

        self._drawing = threading.Lock()  # guards the two below
        self._pending: tuple[Any] | None = None  # the latest figure request
        self._drawer: threading.Thread | None = None
        self._quiet = False  # set while the panel itself sets the slider and picker
        self._pos_choice: Any = pos_label  # the positive class picked (None: the core's)
        self._threshold_choice = threshold  # the threshold to evaluate at (None: the model's)
        self.threshold.observe(lambda _: self._quiet or self._threshold_moved(), names="value")
        self.pos_label.observe(lambda _: self._quiet or self._positive_picked(), names="value")
        self.save_button.on_click(lambda _: self._save())
        self.rerun_button.on_click(lambda _: self.refresh())

        self.tabs = W.Tab(children=[W.HBox([self.metrics_table, self.confusion]), self.plots])
        self.tabs.titles = ("Metrics", "Plots")
        super().__init__([W.HTML(PANEL_CSS), self.title, self.progress.box, self.threshold_box,
                          self.tabs,
                          W.HBox([self.dataset, self.save_button, self.rerun_button]),
                          self.status], layout=W.Layout(width="100%"))
        self.add_class("nbm-w")
        self.add_class("nbm-panel-evaluation")
        self.refresh()

    # -- evaluating -----------------------------------------------------------------------
    @property
    def supports_threshold(self) -> bool:
        """Whether the threshold can move: a binary task whose model gave scores
        (``predict_proba`` or ``decision_function``), which the result keeps."""
        return (self.result is not None and self.result.task == "binary"
                and self.result.score_source is not None)

    def refresh(self) -> None:
        """Evaluate again (predicts once); the results are shown when it ends."""
        if self.worker.busy:
            self.status.value = message_html("an evaluation is still running", "warn")
            return
        if self.view is not None and self.view.threshold is not None:
            self._threshold_choice = self.view.threshold  # keep the threshold shown
        self.progress.start("evaluating")
        self._busy(True)
        self.status.value = message_html("evaluating...", "muted")
        self.worker.run(lambda: self._evaluate(save=False), self._shown, self._failed)

    def _busy(self, busy: bool) -> None:
        """While the model predicts or a save runs, the controls that start work or
        draw wait (one figure-drawing thread at a time)."""
        for control in (self.save_button, self.rerun_button, self.threshold, self.pos_label):
            control.disabled = busy

    def wait(self, timeout: float | None = None) -> None:
        """Block until a running evaluation or save, and the figures, have finished."""
        self.worker.wait(timeout)
        drawer = self._drawer
        if drawer is not None:
            drawer.join(timeout)

    def _kwargs(self, *, save: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"name": self.name, "version": self.version,
                                  "store": self.store, "save": save,
                                  "dataset": self.dataset.value.strip() or None,
                                  "progress": self.progress}
        if self._pos_choice is not None:
            kwargs["pos_label"] = self._pos_choice
        if self._threshold_choice is not None:
            kwargs["threshold"] = self._threshold_choice
        return kwargs

    def _evaluate(self, *, save: bool) -> Any:
        from ..evaluation import evaluate

        return evaluate(self.model, self.X, self.y, **self._kwargs(save=save))

    def _shown(self, result: Any) -> None:
        self.result = result
        self.progress.finish(True)
        self._busy(False)
        label = html.escape(result.label)
        self.title.value = (f"<h3>Evaluation of <code>{label}</code> <span class='nbm-muted'>"
                            f"{html.escape(result.task)}, n={result.n_samples}</span></h3>")
        binary = result.task == "binary" and result.confusion_matrix is not None
        if binary:
            self._set_threshold_controls(result)
        # the positive class matters for any binary task, the threshold only with scores
        self.threshold_box.layout.display = "flex" if binary else "none"
        self.threshold.layout.display = "flex" if self.supports_threshold else "none"
        self.view = result
        self._render(result)
        images = [(p.title, p.png) for key, p in result.figures.items()
                  if not key.startswith("confusion_matrix")]
        set_images(self.plots, images)
        notes = "; ".join(result.notes)
        self.status.value = message_html(notes, "muted") if notes else ""
        if binary and not self.supports_threshold:
            self.status.value += message_html(
                "no decision threshold to move: the model gives labels only (no "
                "predict_proba or decision_function)", "muted")

    def _set_threshold_controls(self, result: Any) -> None:
        from ..evaluation.metrics import PROBA_SOURCES

        probabilities = result.score_source in PROBA_SOURCES
        own = result.threshold
        self._quiet = True
        try:
            self.pos_label.options = [(str(x), x) for x in result.labels]
            self.pos_label.value = result.pos_label
            # Scores that are not probabilities (decision_function) centre on 0.
            lo, hi, step, default = (0.0, 1.0, 0.01, 0.5) if probabilities else \
                (-5.0, 5.0, 0.05, 0.0)
            self.threshold.min, self.threshold.max = min(lo, own or lo), max(hi, own or hi)
            self.threshold.step = step
            self.threshold.value = own if own is not None else default
            self.threshold.description = "threshold" if probabilities else "score cut"
        finally:
            self._quiet = False

    def _failed(self, exc: BaseException) -> None:
        self.progress.finish(False)
        self._busy(False)
        self.save_button.disabled = self.result is None
        self.status.value = error_html(exc, "evaluate")

    # -- the threshold --------------------------------------------------------------------
    def _threshold_moved(self) -> None:
        if not self.supports_threshold:
            return
        try:
            self.view = self.result.at_threshold(self.threshold.value, self._pos_choice)
        except Exception as exc:
            self.status.value = error_html(exc, "threshold")
            return
        self._render(self.view)

    def _positive_picked(self) -> None:
        """Another positive class: recomputed from the kept scores (the other class's
        score is their complement), never by predicting again."""
        if self.result is None or self.pos_label.value is None:
            return
        self._pos_choice = self.pos_label.value
        if self.supports_threshold:
            self._threshold_moved()
        elif self._pos_choice != self.result.pos_label:
            self.view, self._threshold_choice = None, None
            self.refresh()  # no kept scores: only a new evaluation can say

    @property
    def live_metrics(self) -> dict[str, Any]:
        """The metrics shown now (at the slider's threshold for a binary task)."""
        return dict(self.view.metrics) if self.view is not None else {}

    def _render(self, view: Any) -> None:
        metrics = view.metrics
        head = [k for k in _LIVE if k in metrics]
        rest = [k for k in metrics if k not in head]
        name = view.metric_label
        value = {k: html.escape(format_metric(v)) for k, v in metrics.items()}
        rows = [[f"<b>{html.escape(name(k))}</b>", value[k]] for k in head]
        rows += [[html.escape(name(k)), value[k]] for k in rest]
        pos = view.pos_label
        caption = ""
        if self.result is not None and self.result.task == "binary":
            caption = (f"<div class='nbm-muted'>positive class <code>{html.escape(str(pos))}"
                       f"</code>; bold: the numbers the threshold moves</div>")
        self.metrics_table.value = ("<div class='nbm-w'>" + html_table(
            ["metric", "value"], rows, raw=True, numeric=[1]) + caption + "</div>")
        self._request_confusion(view)

    def _request_confusion(self, view: Any) -> None:
        """Redraw the confusion matrix for ``view``. In a kernel a drawing thread takes
        only the latest request, so dragging the slider never queues up figures."""
        if not self.worker.background:
            self._draw_confusion(view)
            return
        with self._drawing:
            self._pending = (view,)
            if self._drawer is None or not self._drawer.is_alive():
                self._drawer = threading.Thread(target=self._draw_latest, daemon=True,
                                                name="nbmodels-panel-figure")
                self._drawer.start()

    def _draw_latest(self) -> None:
        while True:
            with self._drawing:
                if self._pending is None:
                    self._drawer = None
                    return
                (view,), self._pending = self._pending, None
            try:
                self._draw_confusion(view)
            except Exception as exc:  # shown, never lost
                self.status.value = error_html(exc, "drawing the confusion matrix")

    def _draw_confusion(self, view: Any) -> None:
        matrix = view.confusion_matrix
        if matrix is None:
            set_images(self.confusion, [])
            return
        t = view.threshold
        title = "Confusion matrix" + (f" at threshold {t:.2f}" if t is not None else "")
        set_images(self.confusion, [(title, figure_png(confusion_figure(
            matrix, list(view.labels), title=title)))])

    # -- saving ---------------------------------------------------------------------------
    def _save(self) -> None:
        if self.worker.busy:
            self.status.value = message_html("an evaluation is still running", "warn")
            return
        if self.view is not None:
            self._threshold_choice = self.view.threshold  # what is shown is what is saved
        self.progress.start("saving")
        self._busy(True)
        self.status.value = message_html("saving...", "muted")

        def done(result: Any) -> None:
            self.saved = result
            self.progress.finish(True)
            self._busy(False)
            if result.path is None:
                self.status.value = message_html(
                    "not saved: " + "; ".join(result.notes[-1:]), "warn")
                return
            at = f" at threshold {result.threshold:.2f}" if result.threshold is not None else ""
            self.status.value = message_html(f"saved the evaluation of {result.label}{at} "
                                             f"in {result.path}", "ok")

        def failed(exc: BaseException) -> None:
            self.progress.finish(False)
            self._busy(False)
            self.status.value = error_html(exc, "save")

        self.worker.run(lambda: self._evaluate(save=True), done, failed)
