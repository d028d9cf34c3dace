"""Checks shared by the per-format tests (tests/ is on sys.path)."""

from __future__ import annotations

from typing import Any

from nbmodels.evaluation import evaluate


def metric(result: Any, key: str) -> float:
    """One metric of an evaluation result (an object with ``.metrics`` or a mapping)."""
    metrics = getattr(result, "metrics", result)
    return float(metrics[key])


def check_evaluate_matches(original: Any, loaded: Any, X: Any, y: Any, key: str, *,
                           tolerance: float = 1e-6) -> None:
    """``evaluate`` accepts ``loaded`` and scores it as it scores ``original``."""
    expected = metric(evaluate(original, X, y), key)
    got = metric(evaluate(loaded, X, y), key)
    assert abs(got - expected) <= tolerance, (key, got, expected)
