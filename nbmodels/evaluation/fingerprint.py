"""A fingerprint of the evaluation data: shape, columns, target balance and a content hash.

Two evaluations with the same ``sha256`` saw the same rows in the same order, so their
metrics are comparable; :func:`nbmodels.compare` warns when they differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["data_fingerprint"]

_MAX_COLUMNS_LISTED = 200


def _update_with_array(h: Any, arr: np.ndarray) -> None:
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    if arr.dtype.kind in "biufcmM":
        h.update(np.ascontiguousarray(arr).data)
    else:  # objects and strings: their text, one value per line
        h.update("\n".join(map(str, arr.ravel().tolist())).encode("utf-8", "surrogatepass"))


def _update_with_table(h: Any, X: Any) -> None:
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame, column by column
        for i, col in enumerate(X.columns):
            h.update(f"|{col}|".encode())
            values = X.iloc[:, i]
            arr = values.to_numpy()
            if arr.dtype.kind not in "biufcmM":  # strings, categories, mixed objects
                from pandas.util import hash_pandas_object

                # pandas' row hash uses a fixed key: the same values give the same
                # hash in every process, and it runs in C rather than per value.
                arr = hash_pandas_object(values, index=False).to_numpy()
            _update_with_array(h, arr)
        return
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy sparse
        coo = X.tocoo()
        for part in (coo.row, coo.col, coo.data):
            _update_with_array(h, np.asarray(part))
        h.update(str(X.shape).encode())
        return
    _update_with_array(h, np.asarray(X))


def data_fingerprint(X: Any, y: np.ndarray, *, task: str,
                     labels: list[Any] | None = None,
                     class_counts: np.ndarray | None = None,
                     sample_weight: np.ndarray | None = None) -> dict[str, Any]:
    """Rows, columns, target summary and the sha256 of ``X`` and ``y`` together.

    ``X`` may be None (predictions evaluated without features): the hash then covers
    the targets only, and says so.
    """
    h = hashlib.sha256()
    info: dict[str, Any] = {"rows": len(y)}
    if X is not None:
        columns = getattr(X, "columns", None)
        shape = getattr(X, "shape", None)
        n_cols = int(shape[1]) if shape is not None and len(shape) > 1 else None
        info["columns"] = n_cols
        if columns is not None:
            info["column_names"] = [str(c) for c in list(columns)[:_MAX_COLUMNS_LISTED]]
        _update_with_table(h, X)
    h.update(b"|y|")
    _update_with_array(h, y if y.dtype.kind != "O" else y.astype(str))
    if sample_weight is not None:
        h.update(b"|w|")
        _update_with_array(h, sample_weight)
        info["weighted"] = True
    if class_counts is not None and labels is not None:
        total = float(np.sum(class_counts)) or 1.0
        info["class_balance"] = {str(label): {"count": int(c), "fraction": float(c) / total}
                                 for label, c in zip(labels, class_counts)}
    elif task == "regression":
        yf = y.astype(np.float64, copy=False)
        info["target"] = {"mean": float(yf.mean()), "std": float(yf.std()),
                          "min": float(yf.min()), "max": float(yf.max())}
    info["hashed"] = "X and y" if X is not None else "y only"
    info["sha256"] = h.hexdigest()
    return info
