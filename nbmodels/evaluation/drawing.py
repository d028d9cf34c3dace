"""Which plots an evaluation draws, drawn from what it computed.

:func:`draw_plots` picks the plots asked for (``plots="default"``, ``"seed"``, ``None`` or
names) that apply to the task and draws each from the computed metrics and curves with
the figure functions of :mod:`.plots` (which know nothing of an evaluation); a plot that
cannot be drawn (no scores, no model) is skipped with a note.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics as M
from .options import Timer
from .plots import CLASSIFICATION_PLOTS, REGRESSION_PLOTS, SEED_PLOTS, Plot
from .tasks import BINARY, REGRESSION, Progress

__all__ = ["draw_plots"]


_SCATTER_POINTS = 1000  # points drawn in regression scatter plots


def _wanted(task: str, request: tuple[str, tuple[str, ...]], model: Any) -> list[str]:
    mode, names = request
    family = "regression" if task == REGRESSION else "classification"
    available = REGRESSION_PLOTS if task == REGRESSION else CLASSIFICATION_PLOTS
    if mode == "default":
        return [p for p in available if p != "feature_importance" or model is not None]
    if mode == "seed":
        return list(SEED_PLOTS[family])
    return list(names)


def draw_plots(task: str, computed: M.Computed, request: tuple[str, tuple[str, ...]],
               curves: dict[str, Any], *, y_true: np.ndarray, y_pred: np.ndarray,
               score: np.ndarray | None, score_source: str | None, model: Any, X: Any,
               notes: list[str], name: str | None, timer: Timer,
               progress: Progress | None = None) -> dict[str, Plot]:
    """The plots of ``request`` that apply to ``task``, by name; what is skipped is said
    in ``notes`` (and a regression's scatter sample is added to ``curves``)."""
    from . import plots as P

    wanted = _wanted(task, request, model)
    if progress is not None and wanted:
        progress("plots", 0, len(wanted))
    explicit = request[0] == "list"
    figures: dict[str, Plot] = {}
    available = REGRESSION_PLOTS if task == REGRESSION else CLASSIFICATION_PLOTS
    for done, plot in enumerate(wanted, 1):
        if progress is not None and done > 1:
            progress("plots", done - 1, len(wanted))
        if plot not in available:
            notes.append(f"plot {plot!r} does not apply to {task} and was skipped")
            continue
        png = None
        if plot in ("confusion_matrix", "confusion_matrix_normalized"):
            png = P.confusion_matrix_png(computed.confusion, computed.labels,
                                         normalize=plot.endswith("normalized"))
        elif plot == "roc_curve" and computed.roc:
            png = P.roc_png(_curve_args(computed.roc, task, name, "fpr", "tpr", "auc"))
        elif plot == "precision_recall_curve" and computed.pr:
            png = P.pr_png([(*args, computed.pr[key]["prevalence"]) for key, args in zip(
                computed.pr, _curve_args(computed.pr, task, name, "precision", "recall",
                                         "average_precision"))])
        elif plot == "calibration_curve" and computed.calibration is not None:
            cal = computed.calibration
            png = P.calibration_png(cal["prob_true"], cal["prob_pred"], score,
                                    name=name or "model")
        elif plot == "feature_importance" and model is not None and X is not None:
            from .importance import importance_png

            png = importance_png(model, X, y_true, task, curves, notes)
        elif plot in ("predicted_vs_actual", "residuals"):
            yt, yp = _scatter_sample(y_true, y_pred, curves)
            png = P.prediction_error_png(yt, yp, "actual_vs_predicted"
                                         if plot == "predicted_vs_actual"
                                         else "residual_vs_predicted")
        elif explicit:
            notes.append(f"plot {plot!r} was skipped: it needs "
                         + ("a model and X" if plot == "feature_importance" else
                            "probabilities" if plot == "calibration_curve" else "scores"))
        if png is not None:
            figures[plot] = Plot(plot, png)
            timer.lap(f"plot:{plot}")
    if progress is not None and wanted:
        progress("plots", len(wanted), len(wanted))
    return figures


def _curve_args(curves: dict[str, dict[str, Any]], task: str, name: str | None, x: str,
                y: str, area: str) -> list[tuple[Any, ...]]:
    args = []
    for key, curve in curves.items():
        label = (name or "model") if task == BINARY else f"class {key}"
        args.append((label, curve[x], curve[y], curve[area]))
    return args


def _scatter_sample(y_true: np.ndarray, y_pred: np.ndarray,
                    curves: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    n = len(y_true)
    idx = np.arange(n)
    if n > _SCATTER_POINTS:
        idx = np.sort(np.random.default_rng(0).choice(n, _SCATTER_POINTS, replace=False))
    yt = y_true[idx].astype(np.float64)
    yp = y_pred[idx].astype(np.float64)
    curves["prediction_error"] = {"y_true": yt.tolist(), "y_pred": yp.tolist(),
                                  "sampled": len(idx), "of": int(n)}
    return yt, yp
