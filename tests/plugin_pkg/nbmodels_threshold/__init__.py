"""An nbmodels format plugin: one-feature threshold rules, stored as readable JSON.

``ThresholdRule(feature=2, threshold=2.5)`` predicts 1 where ``X[:, feature] >
threshold``. The format claims these objects, so ``store.save(rule, "name")`` picks it
without ``format=``, and loading parses JSON: no code runs.
"""

from __future__ import annotations

import json
from typing import Any

from nbmodels.formats import ModelFormat

__all__ = ["ThresholdFormat", "ThresholdRule"]


class ThresholdRule:
    """Predict 1 where one feature exceeds a threshold, else 0."""

    def __init__(self, feature: int, threshold: float) -> None:
        self.feature = feature
        self.threshold = threshold

    def predict(self, X: Any) -> Any:
        import numpy as np

        return (np.asarray(X)[:, self.feature] > self.threshold).astype(int)


class ThresholdFormat(ModelFormat):
    name = "threshold"
    artifacts = ("rule.json",)
    requires = ()
    executes_code_on_load = False
    description = "threshold rule as JSON"

    def claims(self, model: Any) -> int:
        return 10 if isinstance(model, ThresholdRule) else 0

    def save(self, model: Any, sink: Any, **options: Any) -> dict[str, Any]:
        with sink.open("rule.json") as f:
            f.write(json.dumps({"feature": model.feature,
                                "threshold": model.threshold}).encode())
        return {"rule_version": 1}

    def load(self, source: Any, info: dict[str, Any], **options: Any) -> ThresholdRule:
        data = json.loads(bytes(source.read_bytes("rule.json")))
        return ThresholdRule(data["feature"], data["threshold"])
