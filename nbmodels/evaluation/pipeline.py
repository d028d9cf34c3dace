"""The evaluation pipeline: from labels and scores to an :class:`EvaluationResult`.

:func:`run_evaluation` is what every evaluation does once its input is checked and
predicted: the task, the positive class of a binary task and a decision threshold on its
score, the metrics (:mod:`.metrics`), the gates, the data fingerprint, the curves and the
plots (:mod:`.drawing`), and only then the files (:mod:`.saving`). :func:`rethreshold`
runs it again at another threshold from the scores a result kept, predicting nothing.

A binary task has an explicit positive class (``pos_label``; the greater of numeric or
boolean labels by default) whose precision, recall and f1 are the headline; a decision
threshold on its score (``threshold``) replaces the model's own labels when given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..record.capture import utc_now
from . import metrics as M
from .drawing import draw_plots
from .gates import Requirement, check_gates
from .options import CheckedOptions, Timer, check_threshold
from .result import EvaluationResult
from .saving import save_evaluation
from .tasks import (
    BINARY,
    REGRESSION,
    EvaluationError,
    Predictions,
    check_missing,
    check_same_length,
    class_list,
    classification_task,
    encode_labels,
    is_classification,
    label_to_json,
)

__all__ = ["rethreshold", "run_evaluation"]


_CLASSIFICATION_METRICS = frozenset({
    *M.CLASSIFICATION_HEADLINE, "balanced_accuracy", "precision_macro", "recall_macro",
    "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted",
    "matthews_corrcoef", "auc_roc_macro", "average_precision",
    "average_precision_weighted", "log_loss", "brier_score"})


def _fit_score(task: str, pred: Predictions, score: np.ndarray | None, classes: np.ndarray,
               pos: int, notes: list[str]) -> np.ndarray | None:
    """The score in the shape the task needs (binary: the positive class's, one per row),
    or None (with a note) when it cannot fit."""
    if score is None:
        return None
    k = len(classes)
    if task == BINARY:
        if score.ndim == 2 and score.shape[1] == 2:
            return score[:, pos]
        if score.ndim == 1:
            # A model's one-column decision function scores classes_[1] (scikit-learn's
            # convention); given scores are the positive class's already.
            flip = (pred.score_source == "decision_function" and pos == 0
                    and not pred.score_is_positive)
            return -score if flip else score
    elif score.ndim == 2 and score.shape[1] == k:
        return score
    notes.append(f"scores of shape {score.shape} do not match the {k} classes "
                 f"({', '.join(map(str, classes.tolist()[:10]))}); curves and AUC are skipped")
    return None


def _same_label(a: Any, b: Any) -> bool:
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _positive(classes: np.ndarray, pos_label: Any) -> tuple[int, str]:
    """The code of the positive class of a binary task and how it was chosen."""
    values = classes.tolist()
    shown = ", ".join(map(repr, values))
    if pos_label is not None:
        hits = [i for i, c in enumerate(values) if _same_label(c, pos_label)]
        if not hits:  # '--pos-label 1' arrives as text: match the label's text
            hits = [i for i, c in enumerate(values) if str(label_to_json(c)) == str(pos_label)]
        if len(hits) != 1:
            raise EvaluationError(f"pos_label={pos_label!r} is not one of the classes "
                                  f"({shown}); pass one of them")
        return hits[0], "given"
    if classes.dtype.kind in "iufb" or all(isinstance(v, (int, float, bool))
                                            for v in values):
        return int(np.argmax(np.asarray(values, dtype=np.float64))), "the greater label"
    return 1, "the second class"


def _positive_note(classes: np.ndarray, pos: int) -> str:
    values = [label_to_json(c) for c in classes.tolist()]
    other = values[1 - pos]
    return (f"positive class {values[pos]!r} was taken (the second of the classes "
            f"{values[0]!r}, {values[1]!r}): precision, recall and f1_score are its; pass "
            f"pos_label={other!r} (magic: --pos-label {other}) to make {other!r} positive")


def run_evaluation(y_true: np.ndarray, pred: Predictions, *, X: Any, model: Any,
                   task: str | None, labels: Any, sample_weight: np.ndarray | None, what: str,
                   options: CheckedOptions) -> EvaluationResult:
    """Evaluate checked labels ``y_true`` against predictions ``pred`` (labels and/or
    scores) with ``options``; ``what`` names ``y_true`` in errors (``y_test`` or
    ``y_true``). Saves the files when ``options`` has a target and ``save``."""
    timer, target, reqs, save = options.timer, options.target, options.reqs, options.save
    plot_request, pos_label = options.plot_request, options.pos_label
    threshold, progress = options.threshold, options.progress
    y_pred, score = pred.y_pred, pred.y_score
    pred_what = "y_pred" if what == "y_true" else "the predictions"
    n = check_same_length(**{what: y_true, pred_what: y_pred, "y_score": score,
                             "sample_weight": sample_weight})
    check_missing(y_true, what)
    if y_pred is not None:
        check_missing(y_pred, pred_what)
    if score is not None and np.isnan(score).any():
        raise EvaluationError("the scores hold NaN values; check the model's "
                              "predict_proba/decision_function output (or y_score)")
    classes = labels if labels is not None else pred.classes
    classification = is_classification(y_true, y_pred, model=model, y_score=score,
                                       classes=classes, task=task)
    timer.lap("checks")
    notes: list[str] = [pred.note] if pred.note else []
    pos_how = labels_from = None
    scores_kept = None
    if not classification:
        for given, option in ((threshold, "threshold"), (pos_label, "pos_label")):
            if given is not None:
                raise EvaluationError(f"{option}= applies to classification; this is a "
                                      f"regression: leave {option} out")
        if y_pred.dtype.kind not in "iufb":
            raise EvaluationError(f"regression needs numeric predictions, got {y_pred.dtype}")
        task = REGRESSION
        computed = M.regression(y_true, y_pred, sample_weight)
        class_counts, headline = None, M.REGRESSION_HEADLINE
        labels_from = pred.labels_from
        timer.lap("metrics")
    else:
        cls = class_list(y_true, y_pred if y_pred is not None else y_true, classes)
        task = classification_task(cls, task)
        pos = 1
        if task == BINARY:
            pos, pos_how = _positive(cls, pos_label)
            if pos_how == "the second class":
                notes.append(_positive_note(cls, pos))
        else:
            for given, option in ((threshold, "threshold"), (pos_label, "pos_label")):
                if given is not None:
                    raise EvaluationError(f"{option}= applies to binary tasks; this one has "
                                          f"{len(cls)} classes: leave {option} out")
        if threshold is not None and score is None:
            raise EvaluationError("threshold= needs scores, but the model has neither "
                                  "predict_proba nor decision_function (or pass y_score); "
                                  "leave threshold out to use its predict")
        score = _fit_score(task, pred, score, cls, pos, notes)
        labels_from = pred.labels_from
        if threshold is not None:
            if score is None:
                raise EvaluationError("threshold= needs one score per row for the positive "
                                      "class; these scores do not fit the two classes")
            if pred.score_source in M.PROBA_SOURCES and not 0.0 <= threshold <= 1.0:
                raise EvaluationError(f"threshold={threshold:g} is outside [0, 1], but the "
                                      f"scores are probabilities; pass e.g. threshold=0.3")
            y_pred = cls[np.where(score >= threshold, pos, 1 - pos)]
            labels_from = f"{pred.score_source} >= {threshold:g}"
        t = encode_labels(y_true, cls, what)
        p = encode_labels(y_pred, cls, pred_what)
        class_counts = np.bincount(t, minlength=len(cls))
        present = np.flatnonzero(class_counts)
        if len(present) < 2:
            only = label_to_json(cls[present[0]])
            raise EvaluationError(f"{what} holds only one class ({only!r}): classification "
                                  f"metrics need at least two; evaluate on a test set with "
                                  f"every class (e.g. train_test_split(..., stratify=y))")
        timer.lap("encode")
        computed = M.classification(task, t, p, cls, score,
                                    pred.score_source if score is not None else None,
                                    sample_weight, lap=timer.lap, pos=pos)
        headline = M.CLASSIFICATION_HEADLINE
        if task == BINARY and score is not None:
            scores_kept = {"y": t.astype(np.int8), "score": score, "weight": sample_weight,
                           "classes": cls, "pos": pos, "source": pred.score_source}
    notes += computed.notes
    gates = check_gates(reqs, computed.metrics, computed.per_class,
                        known_unavailable=_CLASSIFICATION_METRICS if task != REGRESSION
                        else frozenset())
    from .fingerprint import data_fingerprint

    fingerprint = data_fingerprint(X, y_true, task=task, labels=computed.labels or None,
                                   class_counts=class_counts, sample_weight=sample_weight)
    timer.lap("fingerprint")
    curves = _curves_json(computed, pred.score_source if score is not None else None,
                          threshold=threshold, pos_how=pos_how, labels_from=labels_from)
    figures = draw_plots(task, computed, plot_request, curves, y_true=y_true, y_pred=y_pred,
                         score=score, score_source=pred.score_source, model=model, X=X,
                         notes=notes, name=target.name if target else None, timer=timer,
                         progress=progress)
    result = EvaluationResult(
        task=task, metrics=computed.metrics, headline=headline, n_samples=n,
        labels=computed.labels, per_class=computed.per_class,
        confusion_matrix=computed.confusion, curves=curves, figures=figures,
        fingerprint=fingerprint, gates=gates, notes=notes,
        name=target.name if target else None, version=target.version if target else None,
        dataset=target.dataset if target else None,
        score_source=pred.score_source if score is not None else None,
        pos_label=computed.pos_label, pos_label_chosen=pos_how, threshold=threshold,
        labels_from=labels_from, evaluated_at=utc_now(), timings=timer.steps)
    result.kept_scores = scores_kept
    result.recompute = rethreshold
    if target is None:
        result.notes.append("not saved: pass name= and version= (or evaluate a model "
                            "loaded from the store) to keep the results beside a version")
    elif save:
        if progress is not None:
            progress("save", 0, 1)
        save_evaluation(target, result, lap=timer.lap)
        if progress is not None:
            progress("save", 1, 1)
    return result


def _curves_json(computed: M.Computed, score_source: str | None, *,
                 threshold: float | None = None, pos_how: str | None = None,
                 labels_from: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": 1, "task": computed.task}
    if computed.task == REGRESSION:
        return out
    out.update({"labels": computed.labels, "pos_label": computed.pos_label,
                "pos_label_chosen": pos_how, "threshold": threshold,
                "labels_from": labels_from, "score_source": score_source})
    if computed.confusion is not None:
        out["confusion_matrix"] = {"labels": computed.labels,
                                   "counts": computed.confusion.tolist()}
    if computed.roc:
        out["roc"] = {"curves": computed.roc}
        out["precision_recall"] = {"curves": computed.pr}
    if computed.calibration is not None:
        cal = computed.calibration
        out["calibration"] = {"prob_true": cal["prob_true"].tolist(),
                              "prob_pred": cal["prob_pred"].tolist(),
                              "counts": cal["counts"].tolist(), "n_bins": cal["n_bins"],
                              "strategy": cal["strategy"]}
    return out


def rethreshold(result: EvaluationResult, threshold: float,
                pos_label: Any = None) -> EvaluationResult:
    """``result`` re-evaluated at another decision threshold from its kept scores.

    The same pipeline as a fresh evaluation, on the same labels and scores, so the
    numbers equal those of ``evaluate(model, X, y, threshold=threshold)``; nothing is
    predicted, drawn or written. ``pos_label`` names the other class of a binary task
    as the positive one: its score is the complement of the kept probability (or the
    negated decision value), as the model gives it.
    """
    kept = result.kept_scores
    if kept is None:
        raise EvaluationError("this evaluation kept no scores (only binary classifiers "
                              "with predict_proba or decision_function have them)")
    threshold = check_threshold(threshold)
    classes = kept["classes"]
    y_true = classes[kept["y"].astype(np.intp)]
    pos, score = int(kept["pos"]), kept["score"]
    if pos_label is not None and pos_label != classes[pos]:
        others = [i for i, c in enumerate(classes.tolist()) if c == pos_label]
        if not others:
            raise EvaluationError(f"pos_label {pos_label!r} is not one of the classes "
                                  f"{classes.tolist()}")
        pos = others[0]
        score = 1.0 - score if kept["source"] in M.PROBA_SOURCES else -score
    pred = Predictions(y_pred=None, y_score=score, score_source=kept["source"],
                       classes=classes, labels_from="threshold", score_is_positive=True)
    reqs = [Requirement(g.metric, g.op, g.threshold) for g in result.gates]
    options = CheckedOptions(timer=Timer(), target=None, reqs=reqs, plot_request=("list", ()),
                             save=False, pos_label=classes[pos], threshold=threshold)
    out = run_evaluation(y_true, pred, X=None, model=None, task=BINARY, labels=classes,
                         sample_weight=kept["weight"], what="y_true", options=options)
    out.fingerprint = dict(result.fingerprint)
    out.name, out.version, out.dataset = result.name, result.version, result.dataset
    out.notes = [n for n in out.notes if not n.startswith("not saved")]
    out.notes.append(f"re-evaluated at threshold {threshold:g} from the kept scores of "
                     f"{result.label}; not saved")
    return out
