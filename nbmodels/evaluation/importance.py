"""Feature importance: the model's own, else permutation importance on a bounded sample.

Own importances are ``feature_importances_`` (trees, boosting) or the size of ``coef_``
(linear models) of the final estimator, named after the features that reach it. Models
without either get scikit-learn's ``permutation_importance`` on at most 2,000 rows.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from .tasks import REGRESSION

__all__ = ["importance_png"]

_IMPORTANCE_ROWS = 2000  # permutation importance runs on at most this many rows
_IMPORTANCE_TOP = 20  # features shown in the plot (the JSON keeps all)


def _feature_names(model: Any, X: Any, n: int) -> list[str]:
    candidates = []
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        with contextlib.suppress(Exception):  # a step without feature names
            candidates.append(list(model[:-1].get_feature_names_out()))
    final = steps[-1][1] if steps else model
    for source in (getattr(final, "feature_names_in_", None), getattr(X, "columns", None)):
        if source is not None:
            candidates.append(list(source))
    for names in candidates:
        if len(names) == n:
            return [str(v) for v in names]
    return [f"x{i}" for i in range(n)]


def _own_importance(model: Any, X: Any) -> tuple[np.ndarray, list[str], str] | None:
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    values = getattr(final, "feature_importances_", None)
    kind = "impurity-based importance (the model's feature_importances_)"
    if values is None and getattr(final, "coef_", None) is not None:
        coef = np.asarray(final.coef_, dtype=np.float64)
        values = np.abs(coef).mean(axis=0) if coef.ndim == 2 else np.abs(coef)
        kind = "|coefficient| (depends on feature scale)"
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64).ravel()
    return values, _feature_names(model, X, len(values)), kind


def importance_png(model: Any, X: Any, y: np.ndarray, task: str, curves: dict[str, Any],
                   notes: list[str]) -> bytes | None:
    """The importance plot (top features), its data stored in ``curves``; None with a
    note when it cannot be computed."""
    from . import plots as P

    own = _own_importance(model, X)
    errors = None
    if own is not None:
        values, names, kind = own
    else:
        from sklearn.inspection import permutation_importance

        n = len(y)
        idx = np.arange(n)
        if n > _IMPORTANCE_ROWS:
            idx = np.sort(np.random.default_rng(0).choice(n, _IMPORTANCE_ROWS, replace=False))
        try:
            Xs = X.iloc[idx] if hasattr(X, "iloc") else (
                X[idx] if hasattr(X, "shape") else np.asarray(X)[idx])
            r = permutation_importance(model, Xs, y[idx], n_repeats=5, random_state=0,
                                       scoring="r2" if task == REGRESSION else "accuracy")
        except Exception as exc:  # a model that cannot predict on a subset, odd inputs
            notes.append(f"feature importance skipped: permutation importance failed "
                         f"({type(exc).__name__}: {exc})")
            return None
        values, errors = r.importances_mean, r.importances_std
        names = _feature_names(None, X, len(values))
        kind = f"permutation importance (drop in score, 5 repeats on {len(idx)} rows)"
    curves["feature_importance"] = {"kind": kind, "names": names, "values": values.tolist(),
                                    "std": errors.tolist() if errors is not None else None}
    top = np.argsort(-values, kind="stable")[:_IMPORTANCE_TOP]
    return P.importance_png([names[i] for i in top], values[top],
                            errors[top] if errors is not None else None, xlabel=kind)
