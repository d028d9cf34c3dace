"""Evaluation: metrics, plots, reports and comparisons saved beside each version.

``evaluate(model, X_test, y_test)`` predicts once and computes every metric and plot
from those predictions; ``evaluate_predictions`` is the same core for predictions made
elsewhere; ``evaluate_model`` is the drop-in for the hand-written function; ``compare``
puts versions side by side. scikit-learn, matplotlib and pandas are imported only when
one of these runs.
"""

from __future__ import annotations

from .compare import Comparison, compare
from .core import evaluate, evaluate_model, evaluate_predictions, load_result
from .result import EvaluationResult
from .tasks import EvaluationError

__all__ = [
    "Comparison",
    "EvaluationError",
    "EvaluationResult",
    "compare",
    "evaluate",
    "evaluate_model",
    "evaluate_predictions",
    "load_result",
]
