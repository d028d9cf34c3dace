"""Quality gates: ``require={"auc_roc": ">=0.85"}`` or ``"auc_roc>=0.85,recall>=0.7"``."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .tasks import EvaluationError

__all__ = ["GateCheck", "Requirement", "check_gates", "parse_requirements"]

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
        "==": operator.eq}
_CONDITION = re.compile(r"\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")
_EXPRESSION = re.compile(r"\s*([A-Za-z_][\w.@\-]*)\s*((?:>=|<=|==|>|<).*)")
_HINT = "write requirements like {'auc_roc': '>=0.85'} or 'auc_roc>=0.85,recall>=0.7'"


@dataclass(frozen=True)
class Requirement:
    """One parsed condition: ``metric op threshold``."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


@dataclass(frozen=True)
class GateCheck:
    """A requirement checked against the metrics: the value found and the verdict."""

    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool

    @property
    def reason(self) -> str:
        if self.value is None:
            return f"{self.metric} is not available for this evaluation (required {self.op}" \
                   f"{self.threshold:g})"
        verdict = "ok" if self.passed else "FAILED"
        return f"{self.metric} = {self.value:.4g} (required {self.op}{self.threshold:g}): " \
               f"{verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "threshold": self.threshold,
                "value": self.value, "passed": self.passed, "reason": self.reason}


def _condition(metric: str, text: str) -> Requirement:
    m = _CONDITION.fullmatch(text)
    if not m:
        raise EvaluationError(f"cannot read the requirement {metric!r}: {text!r}; {_HINT}")
    return Requirement(metric, m.group(1), float(m.group(2)))


def parse_requirements(require: Any) -> list[Requirement]:
    """Requirements from a mapping ``{metric: ">=0.85"}`` or a string ``"m>=0.85,m2<0.3"``.

    A bare number in the mapping (``{"auc_roc": 0.85}``) means ``>=`` for a score and
    ``<=`` for a loss or error (``log_loss``, ``rmse``, ...).
    """
    if require is None:
        return []
    reqs: list[Requirement] = []
    if isinstance(require, str):
        for part in filter(None, (p.strip() for p in require.split(","))):
            m = _EXPRESSION.fullmatch(part)
            if not m:
                raise EvaluationError(f"cannot read the requirement {part!r}; {_HINT}")
            reqs.append(_condition(m.group(1), m.group(2)))
    elif isinstance(require, Mapping):
        from .metrics import higher_is_better

        for metric, cond in require.items():
            if isinstance(cond, bool) or not isinstance(cond, (str, int, float)):
                raise EvaluationError(f"requirement for {metric!r} must be a string such as "
                                      f"'>=0.85' or a number, got {cond!r}; {_HINT}")
            if isinstance(cond, str):
                reqs.append(_condition(str(metric), cond))
            else:
                op = ">=" if higher_is_better(str(metric)) else "<="
                reqs.append(Requirement(str(metric), op, float(cond)))
    else:
        raise EvaluationError(f"require must be a dict or a string, got "
                              f"{type(require).__name__}; {_HINT}")
    return reqs


def lookup(metrics: Mapping[str, Any], per_class: Mapping[str, Mapping[str, Any]],
           name: str) -> tuple[bool, float | None]:
    """``(known, value)`` of a metric name: a top-level key or ``per_class.<label>.<metric>``."""
    if name in metrics:
        value = metrics[name]
        return True, None if value is None else float(value)
    if name.startswith("per_class."):
        label, _, key = name[len("per_class."):].rpartition(".")
        entry = per_class.get(label)
        if entry is not None and key in entry:
            return True, float(entry[key])
    return False, None


def check_gates(reqs: list[Requirement], metrics: Mapping[str, Any],
                per_class: Mapping[str, Mapping[str, Any]], *,
                known_unavailable: frozenset[str] = frozenset()) -> list[GateCheck]:
    """Check each requirement; a metric name that does not exist is an error (a typo).

    ``known_unavailable`` names metrics that exist for this kind of task but could not be
    computed here (``auc_roc`` without a score): those fail the gate instead of raising.
    """
    checks = []
    for req in reqs:
        known, value = lookup(metrics, per_class, req.metric)
        if not known and req.metric not in known_unavailable:
            names = ", ".join(k for k, v in metrics.items() if v is not None)
            raise EvaluationError(f"require names {req.metric!r}, which this evaluation does "
                                  f"not compute; available: {names}, or "
                                  f"per_class.<label>.<metric>")
        passed = value is not None and _OPS[req.op](value, req.threshold)
        checks.append(GateCheck(req.metric, req.op, req.threshold, value, bool(passed)))
    return checks
