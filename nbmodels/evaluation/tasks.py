"""What is being evaluated: input checks, task detection, label encoding and the one prediction.

Everything here runs before a metric is computed or a file is written, so bad input
fails early with an :class:`EvaluationError` that names the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NBModelsError

__all__ = [
    "BINARY",
    "MULTICLASS",
    "REGRESSION",
    "TASKS",
    "EvaluationError",
    "Predictions",
    "as_1d",
    "check_fitted",
    "check_missing",
    "check_same_length",
    "class_list",
    "classification_task",
    "encode_labels",
    "is_classification",
    "label_to_json",
    "n_rows",
    "predict",
]

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)


class EvaluationError(NBModelsError, ValueError):
    """Input that cannot be evaluated; the message says what is wrong and what would work."""


@dataclass
class Predictions:
    """The outputs of the single prediction pass over the test set."""

    y_pred: np.ndarray
    y_score: np.ndarray | None  # (n,) for binary, (n, k) for multiclass, None if no score
    score_source: str | None  # "predict_proba", "decision_function", "given" or None
    classes: np.ndarray | None  # the model's classes_ (column order of y_score)


def n_rows(X: Any) -> int:
    """Number of rows of a table-like object (array, DataFrame, list, sparse matrix)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise EvaluationError(f"X_test of type {type(X).__name__} has no length; pass an "
                              f"array, a DataFrame or a list of rows") from None


def as_1d(y: Any, what: str) -> np.ndarray:
    """``y`` (list, array, Series, one-column DataFrame) as a 1-D numpy array."""
    if y is None:
        raise EvaluationError(f"{what} is None; pass the values to evaluate")
    # pandas: to_numpy keeps categoricals and strings as objects
    arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 0:
        raise EvaluationError(f"{what} is a single value; pass one value per test row")
    if arr.ndim != 1:
        raise EvaluationError(f"{what} has shape {arr.shape}; multi-output targets are not "
                              f"supported: evaluate one target column at a time")
    return arr


def _has_missing(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "fc":
        return bool(np.isnan(arr).any())
    if arr.dtype.kind == "O":
        return any(_is_missing_value(v) for v in arr.tolist())
    return False


def _is_missing_value(v: Any) -> bool:
    return (v is None or (isinstance(v, float) and v != v)
            or type(v).__name__ in ("NAType", "NaTType"))


def check_same_length(**arrays: Any) -> int:
    """The common length of the given arrays; a mismatch or an empty set is an error."""
    lengths = {k: n_rows(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise EvaluationError(f"lengths differ: {shown} rows; pass the same rows to each "
                              f"(did you mix up X_test/y_test with the training split?)")
    n = next(iter(lengths.values()))
    if n == 0:
        raise EvaluationError("the test set is empty (0 rows); evaluate on at least a few "
                              "rows held out from training")
    return n


def check_missing(arr: np.ndarray, what: str) -> None:
    """Raise :class:`EvaluationError` if ``arr`` holds NaN, None, pandas' NA or inf."""
    if _has_missing(arr):
        count = int(np.isnan(arr).sum()) if arr.dtype.kind in "fc" else None
        how_many = f"{count} missing (NaN) values" if count is not None else "missing values"
        raise EvaluationError(f"{what} holds {how_many}; drop those rows (e.g. "
                              f"mask = y_test.notna()) or fill them before evaluating")
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        count = int(np.isinf(arr).sum())
        raise EvaluationError(f"{what} holds {count} infinite values; no metric is defined "
                              f"for them: drop or replace those rows before evaluating")


def check_fitted(model: Any) -> None:
    """Raise :class:`EvaluationError` for a model without predict or an unfitted estimator."""
    if not callable(getattr(model, "predict", None)):
        raise EvaluationError(f"{type(model).__name__} has no predict method; pass a fitted "
                              f"model, or use evaluate_predictions(y_true, y_pred, y_score)")
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(model, BaseEstimator):
        return  # not a scikit-learn estimator: its predict() will tell
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise _not_fitted(model) from None


def _not_fitted(model: Any) -> EvaluationError:
    return EvaluationError(f"the {type(model).__name__} model is not fitted; call "
                           f"model.fit(X_train, y_train) before evaluating it")


def _is_classifier(model: Any) -> bool | None:
    """True/False when the model says what it is, None when it does not."""
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(model):
            return True
        if is_regressor(model):
            return False
    except Exception:  # objects that are not estimators at all
        pass
    if getattr(model, "classes_", None) is not None:
        return True
    return None


def _integer_valued(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "iub":
        return True
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        return bool(np.all(finite == np.round(finite)))
    return False


def is_classification(y_true: np.ndarray, y_pred: np.ndarray | None = None, *,
                      model: Any = None, y_score: Any = None, classes: Any = None,
                      task: str | None = None) -> bool:
    """Whether this is a classification task (binary or multiclass) or a regression.

    The model decides when it says what it is (``is_classifier``, ``classes_``); otherwise
    the values do: strings, booleans, a score, or integer-valued targets and predictions
    mean classification, anything else regression. ``task=`` overrides.
    """
    if task is not None and task not in TASKS:
        raise EvaluationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    classification = None
    if task is not None:
        classification = task != REGRESSION
    elif model is not None:
        classification = _is_classifier(model)
    if classification is None:
        labelled = y_true.dtype.kind in "OUSb" or (y_pred is not None
                                                   and y_pred.dtype.kind in "OUSb")
        if y_score is not None or classes is not None or labelled:
            classification = True
        else:
            classification = _integer_valued(y_true) and (y_pred is None or
                                                          _integer_valued(y_pred))
    if not classification and y_true.dtype.kind not in "iufb":
        raise EvaluationError(f"regression needs numeric targets, but the targets hold "
                              f"{y_true.dtype} values; is this a classifier?")
    return bool(classification)


def classification_task(classes: np.ndarray, task: str | None = None) -> str:
    """``binary`` for two classes, ``multiclass`` for more (a given ``task`` must agree)."""
    found = MULTICLASS if len(classes) > 2 else BINARY
    if task == BINARY and found == MULTICLASS:
        shown = ", ".join(map(repr, classes.tolist()[:10]))
        raise EvaluationError(f"task='binary' but there are {len(classes)} classes ({shown}); "
                              f"use task='multiclass' or leave task unset")
    return found


def _unique(arr: np.ndarray) -> np.ndarray:
    """Sorted distinct values; O(n) for small-range integers (the common 0/1 case)."""
    if arr.dtype.kind in "iub" and arr.size:
        a = arr.view(np.int8) if arr.dtype.kind == "b" else arr
        lo, hi = int(a.min()), int(a.max())
        if hi - lo < 1 << 16:
            present = np.flatnonzero(np.bincount(a - lo if lo else a, minlength=hi - lo + 1))
            values = present + lo
            return values.astype(bool) if arr.dtype.kind == "b" else values.astype(arr.dtype)
    try:
        return np.unique(arr)
    except TypeError:  # mixed types, e.g. ints and strings: order by text
        return np.array(sorted(set(arr.tolist()), key=str), dtype=object)


def encode_labels(y: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    """Integer codes of ``y`` in ``classes`` (intp); unknown labels are an error."""
    k = len(classes)
    if (y.dtype.kind in "iu" and classes.dtype.kind in "iu" and y.size
            and np.array_equal(classes, np.arange(k)) and int(y.min()) >= 0
            and int(y.max()) < k):
        # Labels 0..k-1 in that order are their own codes (not [0, 2, 1, 3]: the
        # order of ``labels=`` is the column order of the scores).
        return y.astype(np.intp, copy=False)
    if y.dtype.kind in "iub" and classes.dtype.kind in "iub" and y.size:
        a = y.view(np.int8) if y.dtype.kind == "b" else y
        cls = classes.astype(np.int64)
        lo = min(int(a.min()), int(cls.min()))
        hi = max(int(a.max()), int(cls.max()))
        if hi - lo < 1 << 16:
            lut = np.full(hi - lo + 1, -1, dtype=np.intp)
            lut[cls - lo] = np.arange(len(cls))
            codes = lut[a - lo if lo else a]
            if codes.min() < 0:
                _unknown(y[codes < 0], classes, what)
            return codes
    sorter = np.argsort(classes, kind="stable")
    try:
        idx = np.searchsorted(classes, y, sorter=sorter)
    except TypeError:
        mapping = {c: i for i, c in enumerate(classes.tolist())}
        codes = np.fromiter((mapping.get(v, -1) for v in y.tolist()), dtype=np.intp,
                            count=len(y))
        if len(codes) and codes.min() < 0:
            _unknown(y[codes < 0], classes, what)
        return codes
    idx = np.minimum(idx, len(classes) - 1)
    codes = sorter[idx]
    bad = classes[codes] != y
    if np.any(bad):
        _unknown(y[bad], classes, what)
    return codes.astype(np.intp, copy=False)


def _unknown(values: np.ndarray, classes: np.ndarray, what: str) -> None:
    shown = ", ".join(map(repr, _unique(np.asarray(values, dtype=object))[:5].tolist()))
    known = ", ".join(map(repr, classes.tolist()[:10]))
    raise EvaluationError(f"{what} holds labels the model does not know: {shown} (classes: "
                          f"{known}); evaluate on data with the same labels as training")


def class_list(y_true: np.ndarray, y_pred: np.ndarray, classes: Any = None) -> np.ndarray:
    """The classes of a classification task: the model's, else those seen in either array."""
    if classes is not None:
        return np.asarray(classes)
    seen = [_unique(y_true), _unique(y_pred)]
    if seen[0].dtype.kind != seen[1].dtype.kind:
        seen = [s.astype(object) for s in seen]
    return _unique(np.concatenate(seen))


def label_to_json(label: Any) -> Any:
    """A class label as JSON data (numpy scalars become Python ones)."""
    item = getattr(label, "item", None)
    if callable(item):
        label = item()
    if isinstance(label, (bool, int, float, str)) or label is None:
        return label
    return str(label)


def predict(model: Any, X: Any, *, classification: bool) -> Predictions:
    """``predict`` once, plus one scoring call for classifiers: the only passes over ``X``.

    The score comes from ``predict_proba`` when the model has it, else from
    ``decision_function``; a model with neither gets no score (curves are skipped).
    """
    from sklearn.exceptions import NotFittedError

    try:
        y_pred = model.predict(X)
    except NotFittedError:
        raise _not_fitted(model) from None
    y_pred = as_1d(y_pred, "the model's predictions")
    classes = getattr(model, "classes_", None) if classification else None
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1:  # multi-output classifiers keep a list of arrays
            classes = None
    score, source = None, None
    if classification:
        for method in ("predict_proba", "decision_function"):
            fn = getattr(model, method, None) if _has(model, method) else None
            if fn is None:
                continue
            try:
                score = np.asarray(fn(X), dtype=np.float64)
            except (AttributeError, NotImplementedError):
                continue
            source = method
            break
    return Predictions(y_pred=y_pred, y_score=score, score_source=source, classes=classes)


def _has(model: Any, method: str) -> bool:
    # available_if raises AttributeError from hasattr() when the method does not apply
    # (SVC(probability=False).predict_proba), which hasattr turns into False.
    try:
        return hasattr(model, method)
    except Exception:
        return False
