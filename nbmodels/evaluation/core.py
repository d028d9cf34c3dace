"""evaluate, evaluate_predictions and the drop-in evaluate_model.

One pipeline serves all three: check the input, predict once (for a model), compute
metrics and curves from those predictions, check the requirements, draw the plots,
and only then write anything: the files go to a temporary folder that is renamed into
``evaluation/{name}_v{version}/`` (``.../{dataset}/`` for a named data set), and the
headline metrics are merged into the version's record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..record.capture import utc_now
from . import metrics as M
from .gates import Requirement, check_gates, parse_requirements
from .plots import CLASSIFICATION_PLOTS, REGRESSION_PLOTS, SEED_PLOTS, Plot
from .result import METRICS_FILE, RESERVED_NAMES, EvaluationResult
from .tasks import (
    BINARY,
    REGRESSION,
    EvaluationError,
    Predictions,
    as_1d,
    check_fitted,
    check_missing,
    check_same_length,
    class_list,
    classification_task,
    encode_labels,
    is_classification,
    label_to_json,
    predict,
)

__all__ = ["evaluate", "evaluate_model", "evaluate_predictions"]

_SCATTER_POINTS = 1000  # points drawn in regression scatter plots
_CLASSIFICATION_METRICS = frozenset({
    *M.CLASSIFICATION_HEADLINE, "balanced_accuracy", "precision_macro", "recall_macro",
    "f1_macro", "matthews_corrcoef", "auc_roc_macro", "average_precision",
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


@dataclass
class _Target:
    """Where an evaluation is saved, and whether a record exists to merge metrics into."""

    store: Any
    name: str
    version: str
    dataset: str | None
    directory: Path
    in_store: bool


def _check_dataset(dataset: Any) -> str | None:
    if dataset is None:
        return None
    from ..storage.layout import validate_name

    validate_name(dataset, "dataset label")
    if dataset in RESERVED_NAMES:
        raise EvaluationError(f"dataset label {dataset!r} is the name of an evaluation file; "
                              f"choose another label such as 'holdout'")
    return dataset


def _resolve_target(model: Any, name: str | None, version: str | None, store: Any,
                    dataset: str | None) -> _Target | None:
    """Where to save, from name/version, or from where a loaded model came from."""
    from ..errors import ModelNotFoundError
    from ..storage.layout import EVALUATION, validate_name
    from ..storage.versions import is_version
    from ..store.model_store import ModelStore, provenance

    dataset = _check_dataset(dataset)
    if store is not None and not isinstance(store, ModelStore):
        store = ModelStore(store)
    origin = provenance(model) if model is not None else None
    if name is None:
        if version is not None:
            raise EvaluationError("version= was given without name=; pass both, e.g. "
                                  "name='churn', version='1.2.0'")
        if origin is None:
            return None
        # The model knows where it came from: its results go beside it, in that store.
        root, name, version = origin
        store = ModelStore(root)
    validate_name(name)
    if store is None:
        store = ModelStore(origin[0]) if origin and origin[1] == name else ModelStore()
    if version is None:
        if origin is None or origin[1] != name:
            raise EvaluationError(f"which version of {name!r} is this? pass version= (an "
                                  f"exact version such as '1.0.0', 'latest' or an alias)")
        version = origin[2]
    if is_version(version):
        try:
            store.resolve(name, version)
            in_store = True
        except ModelNotFoundError:
            in_store = False  # evaluation files only, as hand-written code keeps them
    else:
        version = store.resolve(name, version)  # 'latest' or an alias must exist
        in_store = True
    directory = store.version_path(EVALUATION, name, version)
    if dataset is not None:
        directory = directory / dataset
    return _Target(store, name, version, dataset, directory, in_store)


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

def _fit_score(task: str, score: np.ndarray | None, classes: np.ndarray,
               notes: list[str]) -> np.ndarray | None:
    """The score in the shape the task needs, or None (with a note) when it cannot fit."""
    if score is None:
        return None
    k = len(classes)
    if task == BINARY:
        if score.ndim == 1 or score.shape[1] == 2:
            return score if score.ndim == 1 else score[:, 1]
    elif score.ndim == 2 and score.shape[1] == k:
        return score
    notes.append(f"scores of shape {score.shape} do not match the {k} classes "
                 f"({', '.join(map(str, classes.tolist()[:10]))}); curves and AUC are skipped")
    return None


def _run(y_true: np.ndarray, pred: Predictions, *, X: Any, model: Any, task: str | None,
         labels: Any, sample_weight: np.ndarray | None, reqs: list[Requirement],
         plot_request: tuple[str, tuple[str, ...]], target: _Target | None, save: bool,
         timer: _Timer, what: str) -> EvaluationResult:
    y_pred, score = pred.y_pred, pred.y_score
    pred_what = "y_pred" if what == "y_true" else "the predictions"
    n = check_same_length(**{what: y_true, pred_what: y_pred, "y_score": score,
                             "sample_weight": sample_weight})
    check_missing(y_true, what)
    check_missing(y_pred, pred_what)
    if score is not None and np.isnan(score).any():
        raise EvaluationError("the scores hold NaN values; check the model's "
                              "predict_proba/decision_function output (or y_score)")
    classes = labels if labels is not None else pred.classes
    classification = is_classification(y_true, y_pred, model=model, y_score=score,
                                       classes=classes, task=task)
    timer.lap("checks")
    notes: list[str] = []
    if not classification:
        if y_pred.dtype.kind not in "iufb":
            raise EvaluationError(f"regression needs numeric predictions, got {y_pred.dtype}")
        task = REGRESSION
        computed = M.regression(y_true, y_pred, sample_weight)
        class_counts, headline = None, M.REGRESSION_HEADLINE
        timer.lap("metrics")
    else:
        cls = class_list(y_true, y_pred, classes)
        task = classification_task(cls, task)
        t = encode_labels(y_true, cls, what)
        p = encode_labels(y_pred, cls, pred_what)
        class_counts = np.bincount(t, minlength=len(cls))
        present = np.flatnonzero(class_counts)
        if len(present) < 2:
            only = label_to_json(cls[present[0]])
            raise EvaluationError(f"{what} holds only one class ({only!r}): classification "
                                  f"metrics need at least two; evaluate on a test set with "
                                  f"every class (e.g. train_test_split(..., stratify=y))")
        score = _fit_score(task, score, cls, notes)
        timer.lap("encode")
        computed = M.classification(task, t, p, cls, score,
                                    pred.score_source if score is not None else None,
                                    sample_weight, lap=timer.lap)
        headline = M.CLASSIFICATION_HEADLINE
    notes += computed.notes
    gates = check_gates(reqs, computed.metrics, computed.per_class,
                        known_unavailable=_CLASSIFICATION_METRICS if task != REGRESSION
                        else frozenset())
    from .fingerprint import data_fingerprint

    fingerprint = data_fingerprint(X, y_true, task=task, labels=computed.labels or None,
                                   class_counts=class_counts, sample_weight=sample_weight)
    timer.lap("fingerprint")
    curves = _curves_json(computed, pred.score_source if score is not None else None)
    figures = _draw(task, computed, plot_request, curves, y_true=y_true, y_pred=y_pred,
                    score=score, score_source=pred.score_source, model=model, X=X,
                    notes=notes, name=target.name if target else None, timer=timer)
    result = EvaluationResult(
        task=task, metrics=computed.metrics, headline=headline, n_samples=n,
        labels=computed.labels, per_class=computed.per_class,
        confusion_matrix=computed.confusion, curves=curves, figures=figures,
        fingerprint=fingerprint, gates=gates, notes=notes,
        name=target.name if target else None, version=target.version if target else None,
        dataset=target.dataset if target else None,
        score_source=pred.score_source if score is not None else None,
        pos_label=computed.pos_label, evaluated_at=utc_now(), timings=timer.steps)
    if target is None:
        result.notes.append("not saved: pass name= and version= (or evaluate a model "
                            "loaded from the store) to keep the results beside a version")
    elif save:
        # Under the model's lock, like every other write of a version: a delete or an
        # overwrite cannot interleave (leaving files beside a version that is gone),
        # and gc leaves the temporary folder of this write alone.
        with target.store.lock(target.name):
            if target.in_store:
                target.store.resolve(target.name, target.version)  # still there?
            target.store.write_evaluation(
                target.name, target.version, result.files(), dataset=target.dataset,
                stale=sorted(RESERVED_NAMES), commit_last=METRICS_FILE,
                require_version=target.in_store)
            result.path = target.directory
            timer.lap("save")
            if target.in_store:
                _merge_into_record(target, result)
                timer.lap("record")
    return result


def _curves_json(computed: M.Computed, score_source: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": 1, "task": computed.task}
    if computed.task == REGRESSION:
        return out
    out.update({"labels": computed.labels, "pos_label": computed.pos_label,
                "score_source": score_source})
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
          notes: list[str], name: str | None, timer: _Timer) -> dict[str, Plot]:
    from . import plots as P

    wanted = _wanted(task, request, model)
    explicit = request[0] == "list"
    figures: dict[str, Plot] = {}
    available = REGRESSION_PLOTS if task == REGRESSION else CLASSIFICATION_PLOTS
    for plot in wanted:
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


# -- the record ----------------------------------------------------------------------------

def _merge_into_record(target: _Target, result: EvaluationResult) -> None:
    """Headline metrics into ``metrics`` (default data set), a summary under ``evaluations``."""
    scalars = {k: v for k, v in result.metrics.items() if v is not None}
    key = target.dataset or "default"
    relative = str(target.directory.relative_to(target.store.root))
    summary = {"metrics": scalars, "task": result.task, "n_samples": result.n_samples,
               "evaluated_at": result.evaluated_at, "path": relative,
               "data_sha256": result.fingerprint.get("sha256"), "passed": result.passed,
               "gates": [g.reason for g in result.gates]}
    updates: dict[str, Any] = {"evaluations": {key: summary}}
    if target.dataset is None:
        updates["metrics"] = scalars
    target.store.update_record(target.name, target.version, updates)


# -- public functions ----------------------------------------------------------------------

def evaluate(model: Any, X_test: Any, y_test: Any, *, name: str | None = None,
             version: str | None = None, store: Any = None, dataset: str | None = None,
             plots: Any = "default", sample_weight: Any = None,
             require: Any = None, save: bool = True) -> EvaluationResult:
    """Evaluate a fitted model on a test set: metrics, plots, files and the record.

    Parameters
    ----------
    model : estimator
        A fitted model with ``predict`` (scikit-learn estimators and Pipelines, or
        anything shaped like them). Scores come from ``predict_proba``, else
        ``decision_function``; without either the curves are skipped (see ``notes``).
    X_test, y_test : array-like, DataFrame, Series
        The test set. String labels and pandas inputs work.
    name, version : str, optional
        Which stored version this is (``version`` may be ``latest`` or an alias). By
        default taken from the model when it was loaded with ``ModelStore.load`` (the
        results then go to that store). When known, the files are saved under
        ``evaluation/{name}_v{version}/`` and the metrics merged into the version's
        record; otherwise nothing is written and ``notes`` says so.
    store : ModelStore or path, optional
        The store; ``$NBMODELS_HOME`` or ``./models`` by default.
    dataset : str, optional
        A label for the evaluation data (``"holdout"``): saved under
        ``evaluation/{name}_v{version}/{dataset}/`` so evaluations on different data are
        kept apart. The default data set's metrics are the record's ``metrics``.
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

    Returns
    -------
    EvaluationResult

    Raises
    ------
    EvaluationError
        For input that cannot be evaluated (lengths differ, empty test set, one class
        only, NaN in ``y_test``, a model that is not fitted); nothing is written then.
    """
    timer = _Timer()
    target = _resolve_target(model, name, version, store, dataset)
    reqs = parse_requirements(require)
    request = _plot_request(plots)
    y = as_1d(y_test, "y_test")
    w = _weights(sample_weight)
    check_same_length(X_test=X_test, y_test=y, sample_weight=w)
    check_missing(y, "y_test")
    check_fitted(model)
    from .tasks import _is_classifier

    timer.lap("checks")
    pred = predict(model, X_test, classification=_is_classifier(model) is not False)
    timer.lap("predict")
    return _run(y, pred, X=X_test, model=model, task=None, labels=None, sample_weight=w,
                reqs=reqs, plot_request=request, target=target, save=save, timer=timer,
                what="y_test")


def evaluate_predictions(y_true: Any, y_pred: Any, y_score: Any = None, *,
                         labels: Any = None, task: str | None = None, X: Any = None,
                         name: str | None = None, version: str | None = None,
                         store: Any = None, dataset: str | None = None,
                         plots: Any = "default", sample_weight: Any = None,
                         require: Any = None, save: bool = True) -> EvaluationResult:
    """Evaluate predictions made elsewhere: the core of :func:`evaluate`, without a model.

    Parameters
    ----------
    y_true, y_pred : array-like
        True and predicted labels (classification) or values (regression).
    y_score : array-like, optional
        Scores: one per row for binary tasks (of the positive class, the second of
        ``labels``), or one column per class. Probabilities (values in [0, 1], rows
        summing to 1) also give log loss, Brier score and calibration.
    labels : array-like, optional
        The classes in the column order of ``y_score``; sorted distinct values of
        ``y_true`` and ``y_pred`` by default.
    task : {"binary", "multiclass", "regression"}, optional
        Detected from the values when not given (integer-valued targets and predictions
        are read as classes: pass ``task="regression"`` for counts).
    X : array-like, optional
        The features, only for the data fingerprint.

    The other parameters are those of :func:`evaluate`; ``name`` and ``version`` must be
    given to save (and ``save=False`` writes nothing).
    """
    timer = _Timer()
    target = _resolve_target(None, name, version, store, dataset)
    reqs = parse_requirements(require)
    request = _plot_request(plots)
    yt = as_1d(y_true, "y_true")
    yp = as_1d(y_pred, "y_pred")
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
    pred = Predictions(y_pred=yp, y_score=score, score_source=source, classes=classes)
    return _run(yt, pred, X=X, model=None, task=task, labels=classes, sample_weight=w,
                reqs=reqs, plot_request=request, target=target, save=save, timer=timer,
                what="y_true")


def evaluate_model(model: Any, X_test: Any, y_test: Any, model_name: str,
                   version: str) -> dict[str, Any]:
    """Drop-in for the hand-written ``evaluate_model``: same signature, same files.

    Evaluates ``model``, writes ``models/evaluation/{model_name}_v{version}/`` (the
    seed's ``metrics.json``, ``confusion_matrix.png`` and ``roc_curve.png``, plus the
    other plots, ``curves.json`` and ``report.html``) in the default store, and returns
    the headline metrics: ``accuracy, precision, recall, f1_score, auc_roc`` for a
    classifier (weighted averages, as ``classification_report`` gives them).
    """
    return dict(evaluate(model, X_test, y_test, name=model_name, version=version).headline)
