"""What is being evaluated: input checks, task detection, label encoding and the one prediction.

Everything here runs before a metric is computed or a file is written, so bad input
fails early with an :class:`EvaluationError` that names the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NBModelsError
from ..progress import Progress

__all__ = [
    "BINARY",
    "MULTICLASS",
    "REGRESSION",
    "TASKS",
    "EvaluationError",
    "Predictions",
    "Progress",
    "as_1d",
    "check_features",
    "check_fitted",
    "check_missing",
    "check_same_length",
    "class_list",
    "classification_task",
    "encode_labels",
    "is_classification",
    "label_to_json",
    "model_is_classifier",
    "n_rows",
    "predict",
    "take_rows",
]

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)


class EvaluationError(NBModelsError, ValueError):
    """Input that cannot be evaluated; the message says what is wrong and what would work."""


@dataclass
class Predictions:
    """The outputs of the single prediction pass over the test set."""

    y_pred: np.ndarray | None  # None until a threshold makes labels from the scores
    y_score: np.ndarray | None  # (n,) for binary, (n, k) for multiclass, None if no score
    score_source: str | None  # "predict_proba", "decision_function", "given" or None
    classes: np.ndarray | None  # the model's classes_ (column order of y_score)
    labels_from: str = "predict"  # how y_pred was obtained
    note: str | None = None  # said in the result (e.g. a fallback to predict)
    score_is_positive: bool = False  # a 1-D score is the positive class's (else classes[1]'s)


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
    except TypeError:  # an estimator-like object without fit: its predict() will tell
        pass


def _not_fitted(model: Any) -> EvaluationError:
    return EvaluationError(f"the {type(model).__name__} model is not fitted; call "
                           f"model.fit(X_train, y_train) before evaluating it")


def model_is_classifier(model: Any) -> bool | None:
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
        classification = model_is_classifier(model)
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


_CHUNK_ROWS = 100_000  # predict in chunks of this many rows when progress is reported
_CHECK_ROWS = 128  # rows of each kind on which score-derived labels are checked


def take_rows(X: Any, idx: np.ndarray) -> Any:
    """The rows ``idx`` of a table-like object (DataFrame, array, sparse matrix, list)."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if hasattr(X, "shape"):
        if hasattr(X, "tocsr") and not hasattr(X, "indptr"):
            X = X.tocsr()  # COO and friends cannot be indexed by rows
        return X[idx]
    return [X[i] for i in idx.tolist()]


def _slice_rows(X: Any, start: int, stop: int) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[start:stop]
    if hasattr(X, "shape") and hasattr(X, "tocsr") and not hasattr(X, "indptr"):
        X = X.tocsr()
    return X[start:stop]


def _in_chunks(fn: Callable[[Any], Any], X: Any, n: int,
               progress: Progress | None) -> Any:
    """``fn(X)``, or ``fn`` per chunk of rows (concatenated) when progress is reported on
    a large ``X``; ``progress("predict", rows_done, n)`` after each chunk."""
    if progress is None:
        return fn(X)
    if n <= _CHUNK_ROWS:
        progress("predict", 0, n)
        out = fn(X)
        progress("predict", n, n)
        return out
    parts = []
    progress("predict", 0, n)
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(n, start + _CHUNK_ROWS)
        parts.append(np.asarray(fn(_slice_rows(X, start, stop))))
        progress("predict", stop, n)
    return np.concatenate(parts, axis=0)


def _call_predict(model: Any, X: Any, n: int, progress: Progress | None) -> np.ndarray:
    from sklearn.exceptions import NotFittedError

    try:
        y_pred = _in_chunks(model.predict, X, n, progress)
    except NotFittedError:
        raise _not_fitted(model) from None
    return as_1d(y_pred, "the model's predictions")


def _labels_from_scores(score: np.ndarray, source: str,
                        classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Labels as scikit-learn classifiers define them from their scores, and each row's
    margin to the decision boundary; None when the scores do not fit the classes."""
    if classes is None:
        return None
    k = len(classes)
    if score.ndim == 1 and source == "decision_function" and k == 2:
        return classes[(score > 0).astype(np.intp)], np.abs(score)
    if score.ndim == 2 and score.shape[1] == k and k >= 2:
        idx = np.argmax(score, axis=1)
        top2 = np.partition(score, k - 2, axis=1)[:, k - 2:]
        return classes[idx], top2[:, 1] - top2[:, 0]
    return None


def _check_rows(margin: np.ndarray) -> np.ndarray:
    """The rows to check labels on: those nearest the decision boundary (where arg-max
    and predict would part, e.g. Platt-scaled probabilities) and some spread evenly."""
    n = len(margin)
    if n <= 2 * _CHECK_ROWS:
        return np.arange(n)
    close = np.argpartition(margin, _CHECK_ROWS)[:_CHECK_ROWS]
    spread = np.linspace(0, n - 1, _CHECK_ROWS).astype(np.intp)
    return np.unique(np.concatenate([close, spread]))


def predict(model: Any, X: Any, *, classification: bool, labels_needed: bool = True,
            progress: Progress | None = None) -> Predictions:
    """One pass over ``X``: the scores of a classifier and labels derived from them.

    The score comes from ``predict_proba`` when the model has it, else from
    ``decision_function``. Labels are the arg-max of the scores (or the sign of a binary
    decision function), as scikit-learn classifiers define ``predict``; they are checked
    against ``predict`` on the rows nearest the boundary and a spread of others, and
    ``predict`` is called on every row instead when they differ (or for models without
    scores). ``labels_needed=False`` (a threshold will make them) skips the labels.
    """
    n = n_rows(X)
    classes = getattr(model, "classes_", None) if classification else None
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1:  # multi-output classifiers keep a list of arrays
            classes = None
    score, source = None, None
    if classification:
        from sklearn.exceptions import NotFittedError

        for method in ("predict_proba", "decision_function"):
            fn = getattr(model, method, None) if _has(model, method) else None
            if fn is None:
                continue
            try:
                score = np.asarray(_in_chunks(fn, X, n, progress), dtype=np.float64)
            except (AttributeError, NotImplementedError):
                continue
            except NotFittedError:
                raise _not_fitted(model) from None
            if score.ndim == 2 and score.shape[1] == 1:
                score = score[:, 0]
            source = method
            break
    if score is not None and not labels_needed:
        return Predictions(y_pred=None, y_score=score, score_source=source, classes=classes,
                           labels_from="threshold")
    if score is not None and not np.isnan(score).any():
        derived = _labels_from_scores(score, source, classes)
        if derived is not None:
            labels, margin = derived
            rows = _check_rows(margin)
            try:
                checked = as_1d(model.predict(take_rows(X, rows)), "the model's predictions")
                agree = checked.shape == labels[rows].shape and bool(
                    np.all(checked == labels[rows]))
            except Exception:  # a model that cannot predict a subset: use predict
                agree = False
            how = ("arg-max" if score.ndim == 2 else "sign") + f" of {source}"
            if agree:
                return Predictions(y_pred=labels, y_score=score, score_source=source,
                                   classes=classes,
                                   labels_from=f"{how} (equal to predict on {len(rows)} "
                                               f"rows checked)")
            y_pred = _call_predict(model, X, n, progress)
            return Predictions(y_pred=y_pred, y_score=score, score_source=source,
                               classes=classes, labels_from="predict",
                               note=f"the model's predict differs from the {how} on rows "
                                    f"checked, so labels come from predict (a second pass "
                                    f"over the data)")
    y_pred = _call_predict(model, X, n, progress)
    return Predictions(y_pred=y_pred, y_score=score, score_source=source, classes=classes,
                       labels_from="predict")


def _has(model: Any, method: str) -> bool:
    # available_if raises AttributeError from hasattr() when the method does not apply
    # (SVC(probability=False).predict_proba), which hasattr turns into False.
    try:
        return hasattr(model, method)
    except Exception:
        return False


def _listed(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _numeric_kind(dtype: str) -> bool | None:
    """Whether a dtype name is numeric (int, float, bool), None when it cannot tell."""
    name = dtype.lower()
    if any(k in name for k in ("int", "float", "bool", "uint")):
        return True
    if any(k in name for k in ("object", "str", "category", "datetime", "timedelta")):
        return False
    return None


def check_features(model: Any, X: Any, *, features: Any = None, n_features: Any = None,
                   dtypes: Any = None) -> None:
    """Refuse ``X`` whose columns are not the model's, before anything is predicted.

    The expected features are the model's ``feature_names_in_`` (else ``features`` from
    its record), their count ``n_features_in_`` (else ``n_features``), and the training
    dtypes ``dtypes`` (``{column: dtype}`` from the record's lineage), when known. The
    error is one line naming the missing and extra columns.
    """
    names = getattr(model, "feature_names_in_", None)
    expected = [str(c) for c in names] if names is not None else (
        [str(c) for c in features] if isinstance(features, (list, tuple)) else None)
    count = getattr(model, "n_features_in_", None)
    if count is None and isinstance(n_features, int) and not isinstance(n_features, bool):
        count = n_features
    if count is None and expected is not None:
        count = len(expected)
    columns = getattr(X, "columns", None)
    shape = getattr(X, "shape", None)
    width = int(shape[1]) if shape is not None and len(shape) == 2 else None
    named = columns is not None and not (type(columns).__name__ == "RangeIndex"
                                         and getattr(columns, "start", None) == 0)
    if expected is not None and named:
        have = [str(c) for c in columns]
        have_set, want_set = set(have), set(expected)
        missing = [c for c in expected if c not in have_set]
        extra = [c for c in have if c not in want_set]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {_listed(missing)}")
            if extra:
                parts.append(f"extra {_listed(extra)}")
            raise EvaluationError(f"X_test does not have the model's {len(expected)} "
                                  f"features: {'; '.join(parts)}; pass the columns the "
                                  f"model was trained on, with the same names")
        if have != expected:
            at = next(i for i, (a, b) in enumerate(zip(have, expected)) if a != b)
            raise EvaluationError(f"X_test has the model's features in another order "
                                  f"(column {at} is {have[at]!r}, the model expects "
                                  f"{expected[at]!r}); reorder them as in training, e.g. "
                                  f"X_test[features]")
        if isinstance(dtypes, dict):
            wrong = []
            for col, dtype in zip(have, getattr(X, "dtypes", [])):
                trained = dtypes.get(col)
                if trained is None:
                    continue
                was, now = _numeric_kind(str(trained)), _numeric_kind(str(dtype))
                if was is not None and now is not None and was != now:
                    wrong.append(f"{col!r} is {dtype} (trained on {trained})")
            if wrong:
                raise EvaluationError(f"X_test has columns of another type than in "
                                      f"training: {', '.join(wrong[:6])}; convert them, "
                                      f"e.g. X_test.astype(...)")
    if count is not None and width is not None and width != count:
        shown = f" ({_listed(expected)})" if expected else ""
        raise EvaluationError(f"X_test has {width} columns but the model expects {count} "
                              f"features{shown}; pass the same columns as in training")
