"""What metric names mean for ranking: which ones are losses (lower is better).

Kept below the store so that ``ModelStore.best`` and the evaluation core agree on
the direction of every metric without the store importing the evaluation layer.
"""

from __future__ import annotations

__all__ = ["LOWER_IS_BETTER", "higher_is_better"]

LOWER_IS_BETTER = frozenset({"log_loss", "brier_score", "mae", "rmse", "mse", "mape",
                             "median_absolute_error", "max_error"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (False for losses and errors)."""
    return metric.rsplit(".", 1)[-1] not in LOWER_IS_BETTER
