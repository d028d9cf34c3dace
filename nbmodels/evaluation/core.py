"""evaluate, evaluate_predictions, the drop-in evaluate_model, and load_result.

The public entry points. Each checks its own input (a fitted model and its test set, or
predictions made elsewhere), predicts once for a model, and hands the rest to the one
pipeline of :mod:`.pipeline`: metrics and curves from those predictions, the
requirements, the plots, and only then the files (:mod:`.saving`: the files of each
evaluation dataset, and the record's summary). Their shared keyword options are
:class:`~nbmodels.evaluation.options.EvaluateOptions`, checked once in :mod:`.options`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .options import EvaluateOptions, check_options
from .pipeline import rethreshold, run_evaluation
from .result import METRICS_FILE, EvaluationResult
from .tasks import (
    REGRESSION,
    EvaluationError,
    Predictions,
    Progress,
    as_1d,
    check_features,
    check_fitted,
    check_missing,
    check_same_length,
    model_is_classifier,
    predict,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["EvaluateOptions", "evaluate", "evaluate_model", "evaluate_predictions", "load_result"]


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
    options = check_options(model, name=name, version=version, store=store, dataset=dataset,
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
    return run_evaluation(y, pred, X=X_test, model=model, task=None, labels=None,
                          sample_weight=w, what="y_test", options=options)


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
    checked = check_options(None, **options)
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
    return run_evaluation(yt, pred, X=X, model=None, task=task, labels=classes,
                          sample_weight=w, what="y_true", options=checked)


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
