"""Checks shared by the per-format tests (tests/ is on sys.path)."""

from __future__ import annotations

import importlib
from typing import Any


def evaluate_function() -> Any:
    """``nbmodels.evaluation.evaluate``, or ``None`` only while that package does not exist.

    Once ``nbmodels.evaluation`` is importable, the callers' evaluate checks run; an
    import error inside it is raised, not skipped.
    """
    try:
        module = importlib.import_module("nbmodels.evaluation")
    except ModuleNotFoundError as exc:
        if exc.name == "nbmodels.evaluation":
            return None
        raise
    if getattr(module, "__file__", None) is None:
        return None  # a namespace package: the evaluation code is still being written
    return module.evaluate


def metric(result: Any, key: str) -> float:
    """One metric of an evaluation result (an object with ``.metrics`` or a mapping)."""
    metrics = getattr(result, "metrics", result)
    return float(metrics[key])


def check_evaluate_matches(original: Any, loaded: Any, X: Any, y: Any, key: str, *,
                           tolerance: float = 1e-6) -> None:
    """``evaluate`` accepts ``loaded`` and scores it as it scores ``original``."""
    evaluate = evaluate_function()
    if evaluate is None:
        return
    expected = metric(evaluate(original, X, y), key)
    got = metric(evaluate(loaded, X, y), key)
    assert abs(got - expected) <= tolerance, (key, got, expected)
