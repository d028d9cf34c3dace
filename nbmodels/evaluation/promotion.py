"""Promotion behind a gate: point an alias at a version only if its saved evaluation
passes ``require`` (``nbmodels alias NAME production VERSION --require "auc_roc>=0.85"``)."""

from __future__ import annotations

from typing import Any

from ..errors import GateFailedError, NBModelsError
from .core import load_result
from .gates import GateCheck, check_gates, parse_requirements
from .tasks import EvaluationError

__all__ = ["check_saved", "promote"]


def check_saved(store: Any, name: str, version: str, require: Any, *,
                dataset: str | None = None) -> tuple[str, list[GateCheck]]:
    """Check the saved evaluation of ``name@version`` against ``require``.

    Returns ``(exact_version, checks)``. A version that was never evaluated (on
    ``dataset``, when given) is an :class:`NBModelsError` saying how to evaluate it.
    """
    reqs = parse_requirements(require)
    exact = store.resolve(name, version)
    try:
        result = load_result(name, exact, store=store, dataset=dataset)
    except EvaluationError as exc:
        where = f" on {dataset!r}" if dataset else ""
        raise NBModelsError(f"{name}@{exact} has no saved evaluation{where} to check the gate "
                            f"against; evaluate it first: "
                            f"nbmodels.evaluate(model, X_test, y_test)",
                            options=("evaluate",)) from exc
    return exact, check_gates(reqs, result.metrics, result.per_class or {})


def promote(store: Any, name: str, alias: str, version: str, require: Any, *,
            dataset: str | None = None) -> tuple[str, list[GateCheck]]:
    """Point ``alias`` at ``version`` only if its saved evaluation passes ``require``.

    Returns ``(exact_version, checks)``; a failed gate raises :class:`GateFailedError`
    (with the checks) and leaves the alias where it was.
    """
    exact, checks = check_saved(store, name, version, require, dataset=dataset)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise GateFailedError(f"{name}@{exact} was not promoted to {alias!r}: "
                              f"{'; '.join(c.reason for c in failed)}", checks)
    return store.set_alias(name, alias, exact), checks
