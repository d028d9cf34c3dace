"""What a record's metrics mean: which ones are losses (lower is better), and which
evaluation the headline numbers come from.

Kept below the store so that ``ModelStore.best``, listings, cards and the evaluation
core agree on both without the store importing the evaluation layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["LOWER_IS_BETTER", "higher_is_better", "measured_on", "metrics_source_text"]

LOWER_IS_BETTER = frozenset({"log_loss", "brier_score", "mae", "rmse", "mse", "mape",
                             "median_absolute_error", "max_error"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (False for losses and errors)."""
    return metric.rsplit(".", 1)[-1] not in LOWER_IS_BETTER


def metrics_source_text(record: Mapping[str, Any]) -> str | None:
    """Which evaluation a record's headline metrics come from (``metrics_source``, written
    by nbmodels.evaluate): dataset, rows, data fingerprint, positive class, threshold."""
    src = record.get("metrics_source")
    if not isinstance(src, Mapping) or not src.get("dataset"):
        return None
    parts = [f"dataset {src['dataset']}"]
    if src.get("rows") is not None:
        parts.append(f"{src['rows']} rows")
    if src.get("data_sha256"):
        parts.append(f"sha256 {str(src['data_sha256'])[:12]}")
    if src.get("positive_class") is not None:
        parts.append(f"positive class {src['positive_class']}")
        threshold = src.get("threshold")
        parts.append(f"threshold {threshold}" if threshold is not None
                     else "labels from the model's predict")
    return ", ".join(parts)


def measured_on(record: Mapping[str, Any]) -> str | None:
    """The short form of :func:`metrics_source_text` that listings show beside the
    headline metrics: ``default, 240 rows, positive 1, threshold 0.3``."""
    src = record.get("metrics_source")
    if not isinstance(src, Mapping) or not isinstance(src.get("dataset"), str):
        return None
    parts = [src["dataset"]]
    if isinstance(src.get("rows"), int):
        parts.append(f"{src['rows']} rows")
    if src.get("positive_class") is not None:
        parts.append(f"positive {src['positive_class']}")
    if isinstance(src.get("threshold"), (int, float)):
        parts.append(f"threshold {src['threshold']:g}")
    return ", ".join(parts)
