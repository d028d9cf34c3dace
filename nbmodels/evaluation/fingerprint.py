"""A fingerprint of the evaluation data: shape, columns, target balance and a content hash.

Two evaluations with the same ``sha256`` saw the same rows in the same order, so their
metrics are comparable; :func:`nbmodels.compare` warns when they differ.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

__all__ = ["data_fingerprint"]

_MAX_COLUMNS_LISTED = 200


def data_fingerprint(X: Any, y: np.ndarray, *, task: str,
                     labels: list[Any] | None = None,
                     class_counts: np.ndarray | None = None,
                     sample_weight: np.ndarray | None = None) -> dict[str, Any]:
    """Rows, columns, target summary and the sha256 of ``X`` and ``y`` together.

    ``X`` may be None (predictions evaluated without features): the hash then covers
    the targets only, and says so.
    """
    from ..record.lineage import fingerprint

    info: dict[str, Any] = {"rows": len(y)}
    # The same layout-independent hash as a training record's lineage, so evaluation and
    # training data can be told apart (or found to be the same) by comparing them.
    parts = {"y": fingerprint(y)}
    if X is not None:
        columns = getattr(X, "columns", None)
        shape = getattr(X, "shape", None)
        n_cols = int(shape[1]) if shape is not None and len(shape) > 1 else None
        info["columns"] = n_cols
        if columns is not None:
            info["column_names"] = [str(c) for c in list(columns)[:_MAX_COLUMNS_LISTED]]
        parts["X"] = info["X_fingerprint"] = fingerprint(X)
    info["y_fingerprint"] = parts["y"]
    if sample_weight is not None:
        parts["w"] = fingerprint(sample_weight)
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
    info["sha256"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return info
