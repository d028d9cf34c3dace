"""Figures drawn with scikit-learn's Display classes onto ``matplotlib.figure.Figure``.

No pyplot state is touched: each figure gets its own Agg canvas, is saved to PNG bytes
at a screen dpi and cleared at once, so nothing accumulates in a long-running kernel.
Curves arrive already decimated (see :mod:`.curves`), which keeps drawing fast at any
test-set size.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CLASSIFICATION_PLOTS",
    "DPI",
    "PLOT_TITLES",
    "REGRESSION_PLOTS",
    "SEED_PLOTS",
    "Plot",
    "calibration_png",
    "confusion_matrix_png",
    "draw_metric_panels",
    "importance_png",
    "metric_panels_png",
    "metric_panels_size",
    "pr_png",
    "prediction_error_png",
    "render",
    "roc_png",
]

DPI = 100  # crisp on screen and in a report; dpi=300 costs 9x the pixels for no gain there
FIGSIZE = (6.0, 4.5)
MAX_CLASS_CURVES = 10  # per-class ROC/PR lines drawn; the JSON keeps every class

CLASSIFICATION_PLOTS = ("confusion_matrix", "confusion_matrix_normalized", "roc_curve",
                        "precision_recall_curve", "calibration_curve", "feature_importance")
REGRESSION_PLOTS = ("predicted_vs_actual", "residuals", "feature_importance")
SEED_PLOTS = {"classification": ("confusion_matrix", "roc_curve"),
              "regression": ("predicted_vs_actual", "residuals")}
PLOT_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "confusion_matrix_normalized": "Normalized confusion matrix (rows sum to 1)",
    "roc_curve": "ROC curve",
    "precision_recall_curve": "Precision-recall curve",
    "calibration_curve": "Calibration curve",
    "feature_importance": "Feature importance",
    "predicted_vs_actual": "Predicted vs actual",
    "residuals": "Residuals vs predicted",
}


class Plot:
    """One rendered figure: its name, title and PNG bytes (shown inline in a notebook)."""

    __slots__ = ("name", "png", "title")

    def __init__(self, name: str, png: bytes, title: str | None = None) -> None:
        self.name = name
        self.png = png
        self.title = title or PLOT_TITLES.get(name, name.replace("_", " "))

    @property
    def filename(self) -> str:
        return f"{self.name}.png"

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return f"Plot({self.name!r})"

    def to_html(self, width: int | None = None) -> str:
        """An ``<img>`` with the PNG inline (base64), for self-contained pages."""
        data = base64.b64encode(self.png).decode("ascii")
        style = f" style='width:{width}px;max-width:100%'" if width else ""
        return (f"<img alt='{html.escape(self.title)}' title='{html.escape(self.title)}'"
                f"{style} src='data:image/png;base64,{data}'>")


def render(draw: Callable[[Any], None], *, figsize: tuple[float, float] = FIGSIZE,
           dpi: int = DPI) -> bytes:
    """Call ``draw(figure)`` on a fresh pyplot-free figure and return it as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    try:
        draw(fig)
        buf = io.BytesIO()
        # No Software key: the bytes then depend on the data, not on the matplotlib version.
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        # Close it: the Figure was never registered with pyplot, so dropping its axes
        # (cheaper than fig.clear(), which rebuilds them) leaves nothing behind.
        for ax in list(fig.axes):
            fig.delaxes(ax)
    return buf.getvalue()


def _title(ax: Any, text: str) -> None:
    # An explicit y skips matplotlib's title auto-positioning, a layout pass per draw.
    ax.set_title(text, y=1.0, pad=6)


def _margins(fig: Any, left: float = 0.12, bottom: float = 0.12, right: float = 0.96,
             top: float = 0.91) -> None:
    # Fixed margins instead of a layout engine or bbox_inches="tight", each of which
    # draws the figure a second time.
    fig.subplots_adjust(left=left, bottom=bottom, right=right, top=top)


def confusion_matrix_png(cm: np.ndarray, labels: Sequence[Any], *, normalize: bool = False,
                         title: str | None = None, cmap: str = "Blues",
                         values_format: str | None = None, symmetric: bool = False) -> bytes:
    """``ConfusionMatrixDisplay`` of counts, or of rates per true label when ``normalize``.

    ``symmetric`` centres the colour scale on zero, for a difference of two matrices.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    matrix = np.asarray(cm)
    if normalize:
        rows = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows != 0)
    if values_format is None:
        values_format = (".2f" if normalize else
                         "d" if matrix.dtype.kind in "iu" else ".3g")
    im_kw = text_kw = None
    if symmetric:
        # Centred on zero, with the darkest colours out of reach so black values stay
        # readable on every cell.
        bound = 1.6 * (float(np.abs(matrix).max()) or 1.0)
        im_kw = {"vmin": -bound, "vmax": bound}
        text_kw = {"color": "black"}
    names = [str(label) for label in labels]
    longest = max((len(n) for n in names), default=1)
    k = len(names)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ConfusionMatrixDisplay(matrix, display_labels=names).plot(
            ax=ax, cmap=cmap, values_format=values_format, include_values=k <= 20,
            xticks_rotation="vertical" if longest > 6 or k > 8 else "horizontal",
            colorbar=True, im_kw=im_kw, text_kw=text_kw)
        _title(ax, title or PLOT_TITLES["confusion_matrix_normalized" if normalize
                                           else "confusion_matrix"])
        # tick labels take about 0.08 inch per character at the default font size
        width, height = size
        rotated = longest > 6 or k > 8
        left = min(0.45, (0.6 + 0.08 * longest) / width)
        bottom = min(0.45, (0.55 + (0.08 * longest if rotated else 0.2)) / height)
        _margins(fig, left=left, bottom=bottom, right=0.98, top=1 - 0.4 / height)

    size = (6.0, 4.8) if k <= 10 else (8.0, 7.0)
    return render(draw, figsize=size)


def _finish_unit_square(fig: Any, ax: Any, title: str, legend_at: str) -> None:
    """Axes of a curve on [0, 1] x [0, 1] (ROC, precision-recall): limits, title, legend."""
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    _title(ax, title)
    ax.legend(loc=legend_at, fontsize="small")
    _margins(fig)


def roc_png(curves: Sequence[tuple[str, Sequence[float], Sequence[float], float | None]],
            *, title: str | None = None) -> bytes:
    """``RocCurveDisplay`` per curve ``(name, fpr, tpr, auc)`` on one axes, chance line once."""
    from sklearn.metrics import RocCurveDisplay

    shown = list(curves)[:MAX_CLASS_CURVES]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for i, (name, fpr, tpr, auc) in enumerate(shown):
            RocCurveDisplay(fpr=np.asarray(fpr, dtype=float), tpr=np.asarray(tpr, dtype=float),
                            roc_auc=auc, name=name).plot(
                ax=ax, plot_chance_level=i == len(shown) - 1, curve_kwargs={"lw": 1.8})
        _finish_unit_square(fig, ax, title or PLOT_TITLES["roc_curve"], "lower right")

    return render(draw, figsize=(5.6, 5.0))


def pr_png(curves: Sequence[tuple[str, Sequence[float], Sequence[float], float | None,
                                  float | None]], *, title: str | None = None) -> bytes:
    """``PrecisionRecallDisplay`` per curve ``(name, precision, recall, ap, prevalence)``."""
    from sklearn.metrics import PrecisionRecallDisplay

    shown = list(curves)[:MAX_CLASS_CURVES]
    chance = len(shown) == 1 and shown[0][4] is not None

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for name, precision, recall, ap, prevalence in shown:
            PrecisionRecallDisplay(precision=np.asarray(precision, dtype=float),
                                   recall=np.asarray(recall, dtype=float),
                                   average_precision=ap, name=name,
                                   prevalence_pos_label=prevalence).plot(
                ax=ax, plot_chance_level=chance, curve_kwargs={"lw": 1.8})
        _finish_unit_square(fig, ax, title or PLOT_TITLES["precision_recall_curve"],
                            "lower left")

    return render(draw, figsize=(5.6, 5.0))


def calibration_png(prob_true: Sequence[float], prob_pred: Sequence[float],
                    y_prob: np.ndarray | None = None, *, name: str = "model") -> bytes:
    """``CalibrationDisplay``: observed positive rate against mean predicted probability."""
    from sklearn.calibration import CalibrationDisplay

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        CalibrationDisplay(np.asarray(prob_true, dtype=float), np.asarray(prob_pred, dtype=float),
                           y_prob if y_prob is not None else np.asarray(prob_pred)).plot(
            ax=ax, name=name)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        _title(ax, PLOT_TITLES["calibration_curve"])
        ax.legend(loc="upper left", fontsize="small")
        _margins(fig)

    return render(draw, figsize=(5.6, 5.0))


def prediction_error_png(y_true: np.ndarray, y_pred: np.ndarray, kind: str) -> bytes:
    """``PredictionErrorDisplay``: ``actual_vs_predicted`` or ``residual_vs_predicted``."""
    from sklearn.metrics import PredictionErrorDisplay

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        PredictionErrorDisplay(y_true=y_true, y_pred=y_pred).plot(
            ax=ax, kind=kind, scatter_kwargs={"alpha": 0.5, "s": 12})
        _title(ax, PLOT_TITLES["predicted_vs_actual" if kind == "actual_vs_predicted"
                                 else "residuals"])
        _margins(fig, left=0.14)

    return render(draw)


def importance_png(names: Sequence[str], values: Sequence[float],
                   errors: Sequence[float] | None, *, xlabel: str) -> bytes:
    """Horizontal bars, largest on top (scikit-learn has no Display for importances)."""
    longest = max((len(n) for n in names), default=1)

    height = max(3.0, 1.1 + 0.28 * len(names))

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        pos = np.arange(len(names))[::-1]
        ax.barh(pos, values, xerr=errors, color="#4c72b0", ecolor="#333333", capsize=2)
        ax.set_yticks(pos, labels=list(names))
        ax.set_xlabel(xlabel)
        _title(ax, PLOT_TITLES["feature_importance"])
        # margins in inches, so titles and labels fit whatever the number of bars
        _margins(fig, left=min(0.45, 0.06 + 0.011 * longest), bottom=0.6 / height,
                 top=1 - 0.4 / height)

    return render(draw, figsize=(6.4, height))


def draw_metric_panels(fig: Any, x_labels: Sequence[str],
                       series: dict[str, Sequence[float | None]], *, title: str) -> None:
    """One small axes per metric over categorical x positions (metrics across versions).

    Each metric keeps its own scale: r2 near 1 and an rmse in the thousands are never
    read off one axis.
    """
    names = list(series)
    cols = min(3, max(1, len(names)))
    rows = -(-len(names) // cols)
    height = fig.get_figheight()
    rotate = len(x_labels) > 4 or max((len(x) for x in x_labels), default=0) > 8
    x = np.arange(len(x_labels))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        y = np.array([np.nan if v is None else v for v in series[name]], dtype=float)
        ax.plot(x, y, marker="o", lw=1.6, color="#4c72b0")
        ax.set_xticks(x, labels=list(x_labels), rotation=45 if rotate else 0,
                      ha="right" if rotate else "center", fontsize="small")
        ax.tick_params(axis="y", labelsize="small")
        ax.margins(x=0.15, y=0.2)
        ax.set_title(name, fontsize="medium", y=1.0, pad=4)
        ax.grid(alpha=0.3)
    fig.suptitle(title, y=1 - 0.12 / height)
    fig.subplots_adjust(left=0.12 / (cols / 2 + 0.5), right=0.98, top=1 - 0.55 / height,
                        bottom=(0.9 if rotate else 0.45) / height, wspace=0.35,
                        hspace=0.9 if rotate else 0.55)


def metric_panels_size(n_metrics: int) -> tuple[float, float]:
    """Figure size for :func:`draw_metric_panels` of ``n_metrics`` panels (3 a row)."""
    cols = min(3, max(1, n_metrics))
    rows = -(-n_metrics // cols)
    return 3.2 * cols, 0.6 + 2.4 * rows


def metric_panels_png(x_labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
                      title: str) -> bytes:
    """:func:`draw_metric_panels` as PNG bytes."""
    return render(lambda fig: draw_metric_panels(fig, x_labels, series, title=title),
                  figsize=metric_panels_size(len(series)))
