"""Metrics of one set of predictions, computed from a confusion matrix and one sort per class.

Classification metrics are read off the confusion matrix (built with ``np.bincount``)
and the ranking counts of :mod:`.curves`; they equal scikit-learn's functions with
their default arguments (``tests/test_evaluation.py`` compares each). Regression
metrics are cheap, so they call scikit-learn directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..record.metric_names import LOWER_IS_BETTER, higher_is_better
from . import curves as C
from .tasks import BINARY, REGRESSION, label_to_json

__all__ = [
    "CLASSIFICATION_HEADLINE",
    "LOWER_IS_BETTER",
    "POSITIVE_CLASS_METRICS",
    "PROBA_SOURCES",
    "REGRESSION_HEADLINE",
    "Computed",
    "classification",
    "confusion_counts",
    "higher_is_better",
    "regression",
]

# The seed's keys, always at the top level of classification metrics. For a binary task
# precision, recall and f1_score are the positive class's; for a multiclass task they
# are weighted averages. ``*_weighted`` and ``*_macro`` are always there, named as such.
CLASSIFICATION_HEADLINE = ("accuracy", "precision", "recall", "f1_score", "auc_roc")
# Metrics that depend on the labels (a threshold changes them); the rest use the scores.
POSITIVE_CLASS_METRICS = ("precision", "recall", "f1_score")
REGRESSION_HEADLINE = ("r2", "rmse", "mae")
# Score sources that are probabilities (log loss, Brier score and calibration need them).
PROBA_SOURCES = ("predict_proba", "y_score (probabilities)")


@dataclass
class Computed:
    """Everything computed from one set of predictions, before plots and files."""

    task: str
    metrics: dict[str, float | None]  # flat scalars, headline keys first
    labels: list[Any] = field(default_factory=list)  # classes, JSON-ready
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    roc: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> decimated curve
    pr: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    pos_label: Any = None
    notes: list[str] = field(default_factory=list)


def _no_lap(step: str) -> None:
    pass


def confusion_counts(t: np.ndarray, p: np.ndarray, k: int,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """``confusion_matrix`` (rows true, columns predicted) in one ``np.bincount``."""
    flat = t * k + p
    cm = np.bincount(flat, weights=sample_weight, minlength=k * k).reshape(k, k)
    return cm if sample_weight is not None else cm.astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division`` result)."""
    num = np.asarray(num, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(num.shape), where=np.asarray(den) != 0)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(np.sum(weights))
    return float(np.dot(values, weights) / total) if total else 0.0


def _from_confusion(cm: np.ndarray, pos: int | None = None
                    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Scalars from a confusion matrix; ``pos`` (binary) picks the positive class."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    total = float(cm.sum())
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)  # scikit-learn's form of 2PR / (P + R)
    present = (support + predicted) > 0  # labels seen in y_true or y_pred
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class_recall = tp / support
    observed = per_class_recall[support > 0]
    t_sum, p_sum = support.astype(np.float64), predicted.astype(np.float64)
    cov_ytyp = float(tp.sum()) * total - float(np.dot(t_sum, p_sum))
    cov_ypyp = total ** 2 - float(np.dot(p_sum, p_sum))
    cov_ytyt = total ** 2 - float(np.dot(t_sum, t_sum))
    mcc = cov_ytyp / np.sqrt(cov_ytyt * cov_ypyp) if cov_ypyp * cov_ytyt else 0.0
    weighted = {"precision": _weighted_mean(precision, support),
                "recall": _weighted_mean(recall, support),
                "f1_score": _weighted_mean(f1, support)}
    if pos is not None:
        head = {"precision": float(precision[pos]), "recall": float(recall[pos]),
                "f1_score": float(f1[pos])}
    else:
        head = weighted
    scalars = {
        "accuracy": float(tp.sum() / total),
        **head,
        "precision_weighted": weighted["precision"],
        "recall_weighted": weighted["recall"],
        "f1_weighted": weighted["f1_score"],
        "balanced_accuracy": float(observed.mean()) if observed.size else 0.0,
        "precision_macro": float(precision[present].mean()),
        "recall_macro": float(recall[present].mean()),
        "f1_macro": float(f1[present].mean()),
        "matthews_corrcoef": float(mcc),
    }
    return scalars, {"precision": precision, "recall": recall, "f1_score": f1,
                     "support": support}


def _curve_json(fpr: np.ndarray, tpr: np.ndarray, thr: np.ndarray, area: float,
                x: str, y: str, area_name: str) -> dict[str, Any]:
    keep = C.decimate(fpr, tpr)
    return {x: C.to_json_floats(fpr[keep]), y: C.to_json_floats(tpr[keep]),
            "thresholds": C.to_json_floats(thr[keep]),
            area_name: area, "points": len(fpr)}


def _ranking(y_pos: np.ndarray, score: np.ndarray, w: np.ndarray | None,
             lap: Callable[[str], None]) -> tuple[float | None, float | None, dict[str, Any] | None,
                        dict[str, Any] | None, C.RankCounts]:
    """AUC, average precision and the decimated ROC and PR curves of one class.

    One sort (:func:`curves.rank_counts`) serves all of them.
    """
    rc = C.rank_counts(y_pos, score, w)
    lap("metrics: sort + counts")
    if rc.positives <= 0 or rc.negatives <= 0:
        return None, None, None, None, rc
    fpr, tpr, thr = C.roc_points(rc)
    auc = C.roc_auc(fpr, tpr)
    precision, recall, pthr, ap = C.pr_points(rc)
    roc = _curve_json(fpr, tpr, thr, auc, "fpr", "tpr", "auc")
    # PR arrays run from high recall to low and end with the point (0, 1), which has no
    # threshold: null in the JSON.
    keep = C.decimate(recall, precision)
    pthr = np.append(pthr, np.nan)
    pr = {"recall": C.to_json_floats(recall[keep]), "precision": C.to_json_floats(precision[keep]),
          "thresholds": C.to_json_floats(pthr[keep]),
          "average_precision": ap, "points": len(recall),
          "prevalence": rc.positives / (rc.positives + rc.negatives)}
    lap("metrics: roc + pr + decimation")
    return auc, ap, roc, pr, rc


def classification(task: str, t: np.ndarray, p: np.ndarray, classes: np.ndarray,
                   score: np.ndarray | None, score_source: str | None,
                   sample_weight: np.ndarray | None = None,
                   lap: Callable[[str], None] | None = None, pos: int = 1) -> Computed:
    """Every classification metric from integer codes ``t``/``p`` into ``classes``.

    For a binary task ``pos`` is the code of the positive class and ``score`` (n,) its
    score. ``lap(step)`` is called after each stage, for the timing breakdown.
    """
    lap = lap or _no_lap
    k = len(classes)
    labels = [label_to_json(c) for c in classes]
    keys = [str(label) for label in labels]
    cm = confusion_counts(t, p, k, sample_weight)
    scalars, per = _from_confusion(cm, pos if task == BINARY else None)
    metrics: dict[str, float | None] = {key: scalars[key] for key in CLASSIFICATION_HEADLINE
                                        if key in scalars}
    metrics["auc_roc"] = None
    metrics.update({key: v for key, v in scalars.items() if key not in metrics})
    per_class = {key: {"precision": float(per["precision"][i]),
                       "recall": float(per["recall"][i]),
                       "f1_score": float(per["f1_score"][i]),
                       "support": (int(per["support"][i]) if sample_weight is None
                                   else float(per["support"][i]))}
                 for i, key in enumerate(keys)}
    out = Computed(task=task, metrics=metrics, labels=labels, per_class=per_class,
                   confusion=cm, pos_label=labels[pos] if task == BINARY else None)
    lap("metrics: confusion matrix")
    if score is None:
        out.notes.append("the model has neither predict_proba nor decision_function: ROC "
                         "AUC, average precision and the ROC, precision-recall and "
                         "calibration curves are skipped")
        return out
    is_proba = score_source in PROBA_SOURCES
    if not is_proba:
        out.notes.append(f"scores come from {score_source}, not probabilities: log loss, "
                         f"Brier score and the calibration curve need probabilities and are "
                         f"skipped")
    if task == BINARY:
        if score.ndim == 2:
            score = score[:, pos]
        y_pos = t == pos
        auc, ap, roc, pr, rc = _ranking(y_pos, score, sample_weight, lap)
        metrics["auc_roc"] = auc
        metrics["average_precision"] = ap
        if roc is not None:
            out.roc[keys[pos]], out.pr[keys[pos]] = roc, pr
            per_class[keys[pos]]["auc_roc"] = auc
            per_class[keys[pos]]["average_precision"] = ap
        if is_proba:
            eps = np.finfo(np.float64).eps
            p_true = np.clip(np.where(y_pos, score, 1.0 - score), eps, 1 - eps)
            metrics["log_loss"] = float(np.average(-np.log(p_true), weights=sample_weight))
            metrics["brier_score"] = float(np.average((y_pos - score) ** 2,
                                                      weights=sample_weight))
            out.calibration = C.calibration_points(
                y_pos, score, rc=rc if sample_weight is None else None)
            lap("metrics: log loss + brier + calibration")
        return out
    aucs, aps, weights = [], [], []
    for i, key in enumerate(keys):
        auc, ap, roc, pr, _ = _ranking(t == i, score[:, i], sample_weight, lap)
        if auc is None:
            continue
        out.roc[key], out.pr[key] = roc, pr
        per_class[key]["auc_roc"] = auc
        per_class[key]["average_precision"] = ap
        aucs.append(auc)
        aps.append(ap)
        weights.append(per["support"][i])
    if aucs:
        metrics["auc_roc"] = _weighted_mean(np.array(aucs), np.array(weights, dtype=float))
        metrics["auc_roc_macro"] = float(np.mean(aucs))
        metrics["average_precision"] = float(np.mean(aps))
        metrics["average_precision_weighted"] = _weighted_mean(np.array(aps),
                                                               np.array(weights, dtype=float))
    if is_proba:
        eps = np.finfo(np.float64).eps
        p_true = np.clip(score, eps, 1 - eps)[np.arange(len(t)), t]
        metrics["log_loss"] = float(np.average(-np.log(p_true), weights=sample_weight))
        lap("metrics: log loss")
    return out


def regression(y_true: np.ndarray, y_pred: np.ndarray,
               sample_weight: np.ndarray | None = None) -> Computed:
    """MAE, RMSE, R2, MSE, MAPE, median absolute error, explained variance, max error."""
    from sklearn import metrics as skm

    w = sample_weight
    y_true = y_true.astype(np.float64, copy=False)
    y_pred = y_pred.astype(np.float64, copy=False)
    mse = float(skm.mean_squared_error(y_true, y_pred, sample_weight=w))
    metrics: dict[str, float | None] = {
        "r2": float(skm.r2_score(y_true, y_pred, sample_weight=w)),
        "rmse": float(np.sqrt(mse)),
        "mae": float(skm.mean_absolute_error(y_true, y_pred, sample_weight=w)),
        "mse": mse,
        "mape": float(skm.mean_absolute_percentage_error(y_true, y_pred, sample_weight=w)),
        "median_absolute_error": float(skm.median_absolute_error(y_true, y_pred,
                                                                 sample_weight=w)),
        "explained_variance": float(skm.explained_variance_score(y_true, y_pred,
                                                                 sample_weight=w)),
        "max_error": float(skm.max_error(y_true, y_pred)),
    }
    return Computed(task=REGRESSION, metrics=metrics)
