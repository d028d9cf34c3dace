"""ROC, precision-recall and calibration curves, computed once and drawn from few points.

One descending sort of the scores gives the cumulative true and false positives at every
distinct threshold; ROC, PR, their areas and average precision all come from those
counts. The arithmetic mirrors scikit-learn's ``roc_curve``, ``precision_recall_curve``,
``roc_auc_score``, ``average_precision_score`` and ``calibration_curve`` (the tests
compare), without their per-call validation and re-sorting. Curves with more points
than a plot can show are decimated along their length before drawing and saving; the
areas are always computed from every point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_CURVE_POINTS",
    "RankCounts",
    "calibration_points",
    "decimate",
    "pr_points",
    "rank_counts",
    "roc_auc",
    "roc_points",
    "to_json_floats",
]

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 names it trapz

# Enough for a smooth line at any figure size, small enough for a JSON file of ~50 kB.
MAX_CURVE_POINTS = 1000


@dataclass
class RankCounts:
    """Weighted positives and negatives scored at or above each distinct threshold."""

    thresholds: np.ndarray  # distinct scores, descending
    tps: np.ndarray
    fps: np.ndarray

    @property
    def positives(self) -> float:
        return float(self.tps[-1])

    @property
    def negatives(self) -> float:
        return float(self.fps[-1])


def rank_counts(y_pos: np.ndarray, score: np.ndarray,
                sample_weight: np.ndarray | None = None) -> RankCounts:
    """Sort ``score`` once (descending) and count positives/negatives at each threshold."""
    order = np.argsort(score)[::-1]  # ties need no stable order: counts are read per tie group
    s = score[order]
    last = np.flatnonzero(s[1:] != s[:-1])
    idx = np.append(last, len(s) - 1)
    y = y_pos[order]
    if sample_weight is None:
        tps = np.cumsum(y, dtype=np.int64)[idx]
        fps = idx + 1 - tps
    else:
        w = sample_weight[order]
        tps = np.cumsum(y * w)[idx]
        fps = np.cumsum((1 - y) * w)[idx]
    return RankCounts(thresholds=s[idx], tps=tps, fps=fps)


def roc_points(rc: RankCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fpr, tpr, thresholds`` as ``roc_curve(drop_intermediate=True)`` returns them."""
    fps, tps, thr = rc.fps, rc.tps, rc.thresholds
    if len(fps) > 2:
        keep = np.flatnonzero(np.concatenate(
            [[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]]))
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    fps = np.concatenate([[0], fps])
    tps = np.concatenate([[0], tps])
    thr = np.concatenate([[np.inf], thr])
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thr


def roc_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC curve by the trapezoidal rule (``sklearn.metrics.auc``)."""
    return float(_trapezoid(tpr, fpr))


def pr_points(rc: RankCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``precision, recall, thresholds`` as ``precision_recall_curve(drop_intermediate=True)``
    returns them, and the average precision.

    Average precision (``average_precision_score``) is the sum over thresholds of
    (R_n - R_{n-1}) * P_n. Only the first point of each run of equal recall adds to it,
    and dropping intermediate points keeps exactly those, so the kept points suffice.
    """
    fps, tps, thr = rc.fps, rc.tps, rc.thresholds
    if len(tps) > 2:
        keep = np.flatnonzero(np.concatenate(
            [[True], np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), [True]]))
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    ps = tps + fps
    precision = np.divide(tps, ps, out=np.zeros(len(tps)), where=ps != 0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones(len(tps))
    ap = float(max(0.0, np.sum(np.diff(recall, prepend=0.0) * precision)))
    return (np.concatenate([precision[::-1], [1.0]]), np.concatenate([recall[::-1], [0.0]]),
            thr[::-1], ap)


def calibration_points(y_pos: np.ndarray, prob: np.ndarray, n_bins: int = 10,
                       rc: RankCounts | None = None) -> dict[str, Any]:
    """``calibration_curve(strategy="uniform")``: observed vs predicted rate per bin.

    With the unweighted ranking counts ``rc`` of the same scores, the bins are read off
    the sorted thresholds (a few binary searches) instead of another pass per bin edge.
    """
    bins = np.linspace(0.0, 1.0, n_bins + 1)
    inner = bins[1:-1]
    if rc is None:
        binids = np.searchsorted(inner, prob)
        bin_sums = np.bincount(binids, weights=prob, minlength=n_bins)
        bin_true = np.bincount(binids, weights=y_pos.astype(np.float64), minlength=n_bins)
        bin_total = np.bincount(binids, minlength=n_bins)
    else:
        # A sample falls in bin i when exactly i inner edges are below it (searchsorted
        # side="left"): count, per edge, the samples scored strictly above it.
        counts = rc.tps + rc.fps
        sums = np.cumsum(rc.thresholds * np.diff(counts, prepend=0))
        above = np.searchsorted(-rc.thresholds, -inner, side="left")  # thresholds > edge

        def over(cum: np.ndarray, total: float) -> np.ndarray:
            at = np.where(above > 0, cum[np.maximum(above - 1, 0)], 0)
            return np.diff(np.concatenate([[total], at, [0]]) * -1.0)

        # over() gives per-bin amounts from the cumulative amount above each edge
        bin_total = over(counts, counts[-1]).astype(np.int64)
        bin_true = over(rc.tps, rc.tps[-1])
        bin_sums = over(sums, sums[-1])
    nonzero = bin_total != 0
    return {"prob_true": bin_true[nonzero] / bin_total[nonzero],
            "prob_pred": bin_sums[nonzero] / bin_total[nonzero],
            "counts": bin_total[nonzero], "n_bins": n_bins, "strategy": "uniform"}


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` points that keep the shape of the curve ``(x, y)``.

    The curve is cut into equal pieces of its (L1) length; the first and last point of
    each piece are kept, so no drawn segment is longer than ``2 / max_points`` of the
    curve and the end points are exact.
    """
    n = len(x)
    if n <= max_points:
        return np.arange(n)
    with np.errstate(invalid="ignore"):
        step = np.abs(np.diff(x)) + np.abs(np.diff(y))
    step = np.nan_to_num(step)
    length = np.concatenate([[0.0], np.cumsum(step)])
    if length[-1] == 0:
        return np.array([0, n - 1])
    pieces = max(1, max_points // 2 - 1)
    bucket = np.minimum((length / length[-1] * pieces).astype(np.int64), pieces - 1)
    change = bucket[1:] != bucket[:-1]
    first = np.concatenate([[True], change])
    last = np.concatenate([change, [True]])
    return np.flatnonzero(first | last)


def to_json_floats(values: np.ndarray) -> list[float | None]:
    """Floats for JSON: infinities and NaN (not valid JSON) become null."""
    arr = np.asarray(values, dtype=np.float64)
    out = arr.tolist()
    if not np.all(np.isfinite(arr)):
        out = [v if np.isfinite(v) else None for v in out]
    return out
