"""evaluate, evaluate_predictions and the drop-in evaluate_model.

One pipeline serves all three: check the input, predict once (for a model), compute
metrics and curves from those predictions, check the requirements, draw the plots,
and only then write anything (:mod:`.saving`: the files of each evaluation dataset, and
the record's summary).

A binary task has an explicit positive class (``pos_label``; the greater of numeric or
boolean labels by default) whose precision, recall and f1 are the headline; a decision
threshold on its score (``threshold``) replaces the model's own labels when given.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from ..record.capture import utc_now
from . import metrics as M
from .gates import Requirement, check_gates, parse_requirements
from .plots import CLASSIFICATION_PLOTS, REGRESSION_PLOTS, SEED_PLOTS, Plot
from .result import METRICS_FILE, EvaluationResult
from .saving import Target, resolve_target, save_evaluation
from .tasks import (
    BINARY,
    REGRESSION,
    EvaluationError,
    Predictions,
    Progress,
    as_1d,
    check_features,
    check_fitted,
    check_missing,
    check_same_length,
    class_list,
    classification_task,
    encode_labels,
    is_classification,
    label_to_json,
    model_is_classifier,
    predict,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["EvaluateOptions", "evaluate", "evaluate_model", "evaluate_predictions"]

_SCATTER_POINTS = 1000  # points drawn in regression scatter plots
_CLASSIFICATION_METRICS = frozenset({
    *M.CLASSIFICATION_HEADLINE, "balanced_accuracy", "precision_macro", "recall_macro",
    "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted",
    "matthews_corrcoef", "auc_roc_macro", "average_precision",
    "average_precision_weighted", "log_loss", "brier_score"})


class _Timer:
    """Seconds per step, for ``result.timings`` and the benchmark's breakdown."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = self.steps.get(step, 0.0) + now - self._last
        self._last = now


def _plot_request(plots: Any) -> tuple[str, tuple[str, ...]]:
    """``("default"|"seed"|"list", names)`` from the ``plots=`` argument."""
    if plots is None or plots is False or plots == "none":
        return "list", ()
    if plots is True or plots == "default" or plots == "all":
        return "default", ()
    if plots == "seed":
        return "seed", ()
    names = tuple(p.strip() for p in plots.split(",")) if isinstance(plots, str) else \
        tuple(plots)
    known = set(CLASSIFICATION_PLOTS) | set(REGRESSION_PLOTS)
    unknown = [p for p in names if p not in known]
    if unknown:
        raise EvaluationError(f"unknown plot(s) {', '.join(map(repr, unknown))}; plots= takes "
                              f"'default', 'seed', None or names from: "
                              f"{', '.join(sorted(known))}")
    return "list", names


def _weights(sample_weight: Any) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = as_1d(sample_weight, "sample_weight").astype(np.float64)
    check_missing(w, "sample_weight")
    if np.any(w < 0):
        raise EvaluationError("sample_weight holds negative values; weights must be >= 0")
    if w.size and not w.sum() > 0:
        raise EvaluationError("sample_weight is 0 for every row; give some rows a weight")
    return w


def _score(y_score: Any) -> tuple[np.ndarray | None, str | None]:
    if y_score is None:
        return None, None
    score = np.asarray(y_score.to_numpy() if hasattr(y_score, "to_numpy") else y_score,
                       dtype=np.float64)
    if score.ndim == 2 and score.shape[1] == 1:
        score = score[:, 0]
    if score.ndim not in (1, 2):
        raise EvaluationError(f"y_score has shape {score.shape}; pass one score per row "
                              f"(binary) or one column per class")
    in_unit = score.size and float(score.min()) >= 0 and float(score.max()) <= 1
    if in_unit and score.ndim == 2:
        in_unit = bool(np.allclose(score.sum(axis=1), 1.0, rtol=1e-6))
    return score, "y_score (probabilities)" if in_unit else "y_score"


# -- the pipeline --------------------------------------------------------------------------

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


def _check_threshold(threshold: Any) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise EvaluationError(f"threshold must be a number such as 0.3, got "
                                  f"{threshold!r}") from None
    value = float(threshold)
    if not np.isfinite(value):
        raise EvaluationError(f"threshold must be a finite number, got {value!r}")
    return value


@dataclass(frozen=True)
class _Options:
    """The options every evaluation shares (where to save, gates, plots, threshold),
    checked once: what :func:`evaluate` and :func:`evaluate_predictions` hand to
    :func:`_run` beside the data."""

    timer: _Timer
    target: Target | None
    reqs: list[Requirement]
    plot_request: tuple[str, tuple[str, ...]]
    save: bool
    pos_label: Any = None
    threshold: float | None = None
    progress: Progress | None = None


class EvaluateOptions(TypedDict, total=False):
    """The keyword options :func:`evaluate_predictions` shares with :func:`evaluate`
    (documented there, with their defaults)."""

    name: str | None
    version: str | None
    store: Any
    dataset: str | None
    plots: Any
    sample_weight: Any
    require: Any
    save: bool
    pos_label: Any
    threshold: float | None
    progress: Progress | None


def _options(model: Any, *, name: str | None = None, version: str | None = None,
             store: Any = None, dataset: str | None = None, plots: Any = "default",
             require: Any = None, save: bool = True, pos_label: Any = None,
             threshold: Any = None, progress: Progress | None = None) -> _Options:
    """The public functions' shared keyword parameters, resolved and checked (the
    clock starts here, so the timings include these checks)."""
    timer = _Timer()
    target = resolve_target(model, name, version, store, dataset)
    reqs = parse_requirements(require)
    request = _plot_request(plots)
    return _Options(timer=timer, target=target, reqs=reqs, plot_request=request, save=save,
                    pos_label=pos_label, threshold=_check_threshold(threshold),
                    progress=progress)


def _run(y_true: np.ndarray, pred: Predictions, *, X: Any, model: Any, task: str | None,
         labels: Any, sample_weight: np.ndarray | None, what: str,
         options: _Options) -> EvaluationResult:
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
    figures = _draw(task, computed, plot_request, curves, y_true=y_true, y_pred=y_pred,
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


def _wanted(task: str, request: tuple[str, tuple[str, ...]], model: Any) -> list[str]:
    mode, names = request
    family = "regression" if task == REGRESSION else "classification"
    available = REGRESSION_PLOTS if task == REGRESSION else CLASSIFICATION_PLOTS
    if mode == "default":
        return [p for p in available if p != "feature_importance" or model is not None]
    if mode == "seed":
        return list(SEED_PLOTS[family])
    return list(names)


def _draw(task: str, computed: M.Computed, request: tuple[str, tuple[str, ...]],
          curves: dict[str, Any], *, y_true: np.ndarray, y_pred: np.ndarray,
          score: np.ndarray | None, score_source: str | None, model: Any, X: Any,
          notes: list[str], name: str | None, timer: _Timer,
          progress: Progress | None = None) -> dict[str, Plot]:
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


# -- public functions ----------------------------------------------------------------------

def _lineage_dtypes(record: dict[str, Any] | None) -> dict[str, Any] | None:
    lineage = (record or {}).get("lineage")
    data = lineage.get("data") if isinstance(lineage, dict) else None
    X = data.get("X") if isinstance(data, dict) else None
    dtypes = X.get("dtypes") if isinstance(X, dict) else None
    return dtypes if isinstance(dtypes, dict) else None


def evaluate(model: Any, X_test: Any, y_test: Any, *, name: str | None = None,
             version: str | None = None, store: Any = None, dataset: str | None = None,
             plots: Any = "default", sample_weight: Any = None,
             require: Any = None, save: bool = True, pos_label: Any = None,
             threshold: float | None = None,
             progress: Progress | None = None) -> EvaluationResult:
    """Evaluate a fitted model on a test set: metrics, plots, files and the record.

    Parameters
    ----------
    model : estimator
        A fitted model with ``predict`` (scikit-learn estimators and Pipelines, or
        anything shaped like them). Scores come from ``predict_proba``, else
        ``decision_function``; without either the curves are skipped (see ``notes``).
        The data is read once: a classifier's labels are the arg-max of its scores (or
        the sign of its decision function), checked against ``predict`` on a sample of
        rows; ``predict`` is called on every row when they differ.
    X_test, y_test : array-like, DataFrame, Series
        The test set. String labels and pandas inputs work. Columns that are not the
        model's features (names, count, numeric or not) are refused before predicting.
    name, version : str, optional
        Which stored version this is (``version`` may be ``latest`` or an alias). By
        default taken from the model when it was loaded with ``ModelStore.load`` (the
        results then go to that store); a model loaded as another version of ``name``
        is refused. When known, the files are saved under
        ``evaluation/{name}_v{version}/`` and the metrics merged into the version's
        record; otherwise nothing is written and ``notes`` says so.
    store : ModelStore or path, optional
        The store; ``$NBMODELS_HOME`` or ``./models`` by default.
    dataset : str, optional
        A label for the evaluation data (``"holdout"``), saved under
        ``evaluation/{name}_v{version}/{dataset}/``. Results are kept per dataset:
        unlabelled data other than the first is added as ``data-<sha256[:8]>`` (and
        ``notes`` says so). The record's headline ``metrics`` come from the first
        dataset evaluated, or from the one labelled ``"test"``; ``metrics_source`` in
        the record names it (rows, fingerprint, positive class, threshold).
    plots : "default", "seed", None or list of str
        Which plots to draw: every applicable one, only the seed's two
        (``confusion_matrix``, ``roc_curve``), none, or the named ones.
    sample_weight : array-like, optional
        Weights for every metric (the calibration curve stays unweighted, as in
        scikit-learn).
    require : dict or str, optional
        Gates such as ``{"auc_roc": ">=0.85"}`` or ``"auc_roc>=0.85,recall>=0.7"``; the
        result's ``passed`` and ``gates`` say how they went, and they are saved with it.
    save : bool
        ``False`` computes and shows everything but writes nothing, even for a stored
        version.
    pos_label : label, optional
        The positive class of a binary task: its precision, recall and f1_score are the
        headline ``precision``, ``recall`` and ``f1_score`` (and the gates' values); the
        averages over classes are ``*_weighted`` and ``*_macro``. By default the greater
        of numeric or boolean labels (``1``, ``True``); for text labels the second of
        the sorted classes, and ``notes`` says which and how to change it.
    threshold : float, optional
        Binary classifiers with scores: predict the positive class where its score
        (probability, or decision value) is ``>= threshold``. By default the labels are
        the model's own ``predict``. Recorded with the results; the scores are kept so
        that :meth:`EvaluationResult.at_threshold` gives any other threshold's metrics
        without predicting again.
    progress : callable, optional
        ``progress(stage: str, done: int, total: int | None) -> None``, called as the
        evaluation advances: ``"predict"`` with rows done of ``total`` rows (large ``X``
        is predicted in chunks of 100,000 rows when a callback is given), ``"plots"``
        with plots drawn of ``total``, and ``"save"`` (0 then 1 of 1). ``total`` is
        None when unknown. The panels render it with tqdm.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    EvaluationError
        For input that cannot be evaluated (lengths differ, empty test set, one class
        only, NaN in ``y_test``, a model that is not fitted, columns that are not the
        model's, a version the model is not); nothing is written then.
    """
    options = _options(model, name=name, version=version, store=store, dataset=dataset,
                       plots=plots, require=require, save=save, pos_label=pos_label,
                       threshold=threshold, progress=progress)
    timer, target, threshold = options.timer, options.target, options.threshold
    y = as_1d(y_test, "y_test")
    w = _weights(sample_weight)
    check_same_length(X_test=X_test, y_test=y, sample_weight=w)
    check_missing(y, "y_test")
    check_fitted(model)
    record = target.record if target is not None else None
    check_features(model, X_test, features=(record or {}).get("features"),
                   n_features=(record or {}).get("n_features"),
                   dtypes=_lineage_dtypes(record))
    timer.lap("checks")
    pred = predict(model, X_test, classification=model_is_classifier(model) is not False,
                   labels_needed=threshold is None, progress=progress)
    timer.lap("predict")
    return _run(y, pred, X=X_test, model=model, task=None, labels=None, sample_weight=w,
                what="y_test", options=options)


def evaluate_predictions(y_true: Any, y_pred: Any = None, y_score: Any = None, *,
                         labels: Any = None, task: str | None = None, X: Any = None,
                         **options: Unpack[EvaluateOptions]) -> EvaluationResult:
    """Evaluate predictions made elsewhere: the core of :func:`evaluate`, without a model.

    Parameters
    ----------
    y_true, y_pred : array-like
        True and predicted labels (classification) or values (regression). ``y_pred``
        may be None when ``threshold`` makes the labels from ``y_score``.
    y_score : array-like, optional
        Scores: one per row for binary tasks (of the positive class), or one column per
        class in the order of ``labels``. Probabilities (values in [0, 1], rows summing
        to 1) also give log loss, Brier score and calibration.
    labels : array-like, optional
        The classes in the column order of ``y_score``; sorted distinct values of
        ``y_true`` and ``y_pred`` by default.
    task : {"binary", "multiclass", "regression"}, optional
        Detected from the values when not given (integer-valued targets and predictions
        are read as classes: pass ``task="regression"`` for counts).
    X : array-like, optional
        The features, only for the data fingerprint.

    **options
        The keyword parameters of :func:`evaluate` (``name``, ``version``, ``store``,
        ``dataset``, ``plots``, ``sample_weight``, ``require``, ``save``,
        ``pos_label``, ``threshold``, ``progress``: see :class:`EvaluateOptions`);
        ``name`` and ``version`` must be given to save (``save=False`` writes nothing).
    """
    unknown = sorted(set(options) - set(EvaluateOptions.__annotations__))
    if unknown:
        raise TypeError(f"evaluate_predictions() got an unexpected keyword argument "
                        f"{unknown[0]!r}")
    sample_weight = options.pop("sample_weight", None)
    checked = _options(None, **options)
    timer, threshold = checked.timer, checked.threshold
    yt = as_1d(y_true, "y_true")
    if y_pred is None and threshold is None:
        raise EvaluationError("y_pred is None; pass the predictions, or y_score with "
                              "threshold= to make them")
    yp = as_1d(y_pred, "y_pred") if threshold is None else None
    score, source = _score(y_score)
    classes = None
    if labels is not None:
        classes = as_1d(labels, "labels")
        if len(set(classes.tolist())) != len(classes):
            raise EvaluationError("labels holds duplicates; pass each class once")
    w = _weights(sample_weight)
    if X is not None:
        check_same_length(X=X, y_true=yt)
    timer.lap("checks")
    pred = Predictions(y_pred=yp, y_score=score, score_source=source, classes=classes,
                       labels_from="given" if yp is not None else "threshold")
    return _run(yt, pred, X=X, model=None, task=task, labels=classes, sample_weight=w,
                what="y_true", options=checked)


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
    threshold = _check_threshold(threshold)
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
    options = _Options(timer=_Timer(), target=None, reqs=reqs, plot_request=("list", ()),
                       save=False, pos_label=classes[pos], threshold=threshold)
    out = _run(y_true, pred, X=None, model=None, task=BINARY, labels=classes,
               sample_weight=kept["weight"], what="y_true", options=options)
    out.fingerprint = dict(result.fingerprint)
    out.name, out.version, out.dataset = result.name, result.version, result.dataset
    out.notes = [n for n in out.notes if not n.startswith("not saved")]
    out.notes.append(f"re-evaluated at threshold {threshold:g} from the kept scores of "
                     f"{result.label}; not saved")
    return out


def load_result(source: Any, version: str | None = None, *, store: Any = None,
                dataset: str | None = None) -> EvaluationResult:
    """A saved evaluation read back: numbers, curves, gates and kept scores, so that
    :meth:`EvaluationResult.at_threshold` works without the model or the data.

    ``load_result("churn", "1.2.0")`` (or ``"churn@production"``) reads a version's
    evaluation from the store (``dataset`` picks a named data set);
    ``load_result(folder)`` (a ``Path``, or an existing folder's name) reads a folder
    that :meth:`EvaluationResult.save` wrote.
    """
    from .result import CURVES_FILE, FINGERPRINT_FILE, SCORES_FILE

    names = (METRICS_FILE, CURVES_FILE, FINGERPRINT_FILE, SCORES_FILE)
    files: dict[str, bytes] = {}
    is_folder = isinstance(source, Path) or (
        version is None and store is None and isinstance(source, str) and "@" not in source
        and Path(source).expanduser().is_dir())
    if is_folder:
        # A folder of the user's (not a store): read the files that are there.
        from ..storage.local import read_regular

        folder = Path(source).expanduser().absolute()
        for filename in names:
            with contextlib.suppress(OSError):
                files[filename] = read_regular(folder / filename, 256 << 20)
        if METRICS_FILE not in files:
            raise EvaluationError(f"{folder} holds no {METRICS_FILE}; pass a folder that "
                                  f"EvaluationResult.save wrote, or name and version")
        path = folder
    else:
        from ..errors import ModelNotFoundError
        from ..store.model_store import ModelStore

        store = store if isinstance(store, ModelStore) else ModelStore(store)
        exact = store.resolve(source, version or "latest")
        name = source.partition("@")[0]
        for filename in names:
            with contextlib.suppress(ModelNotFoundError):
                files[filename] = store.read_evaluation_file(name, exact, filename,
                                                             dataset=dataset)
        if METRICS_FILE not in files:
            raise EvaluationError(f"{name}@{exact} has no saved evaluation"
                                  f"{f' on dataset {dataset!r}' if dataset else ''}; "
                                  f"evaluate it with name= and version= first")
        path = store.version_path("evaluation", name, exact)
        path = path / dataset if dataset else path
    result = EvaluationResult.from_files(files)
    result.recompute = rethreshold
    result.path = path
    return result


def evaluate_model(model: Any, X_test: Any, y_test: Any, model_name: str,
                   version: str) -> dict[str, Any]:
    """Compatibility function: the hand-written ``evaluate_model``, same signature.

    Kept so that code written against the seed's function runs unchanged. It evaluates
    ``model`` with :func:`evaluate` into ``models/evaluation/{model_name}_v{version}/``
    of the default store (the seed's ``metrics.json``, ``confusion_matrix.png`` and
    ``roc_curve.png``, plus the other plots, ``curves.json`` and ``report.html``) and
    returns the seed's dict: ``accuracy, precision, recall, f1_score, auc_roc`` for a
    classifier where precision, recall and f1_score are **weighted averages over the
    classes**, as ``classification_report`` gives them (``r2, rmse, mae`` for a
    regressor). The files and the record name their numbers explicitly: for a binary
    task ``precision``, ``recall`` and ``f1_score`` there are the positive class's, and
    the weighted averages are ``precision_weighted``, ``recall_weighted`` and
    ``f1_weighted``. New code should call :func:`evaluate`, which says what it measured.
    A model loaded as another version of ``model_name`` is refused.
    """
    result = evaluate(model, X_test, y_test, name=model_name, version=version)
    if result.task == REGRESSION:
        return dict(result.headline)
    m = result.metrics
    return {"accuracy": m["accuracy"], "precision": m["precision_weighted"],
            "recall": m["recall_weighted"], "f1_score": m["f1_weighted"],
            "auc_roc": m["auc_roc"]}
