"""The keyword options every evaluation shares, checked once before any work.

:class:`EvaluateOptions` types what :func:`~nbmodels.evaluation.core.evaluate` and
:func:`~nbmodels.evaluation.core.evaluate_predictions` both take (where to save, plots,
gates, positive class, threshold, progress); :func:`check_options` resolves and checks
them into :class:`CheckedOptions`, which the pipeline takes whole, with the :class:`Timer`
that times each step for ``result.timings``. :func:`check_threshold` is the one check of
a decision threshold (fresh evaluations and :func:`~nbmodels.evaluation.pipeline.rethreshold`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

from .gates import Requirement, parse_requirements
from .plots import CLASSIFICATION_PLOTS, REGRESSION_PLOTS
from .saving import Target, resolve_target
from .tasks import EvaluationError, Progress

__all__ = ["CheckedOptions", "EvaluateOptions", "Timer", "check_options", "check_threshold"]


class Timer:
    """Seconds per step, for ``result.timings`` and the benchmark's breakdown."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = self.steps.get(step, 0.0) + now - self._last
        self._last = now


def _plot_request(plots: Any) -> tuple[str, tuple[str, ...]]:
    """``("default"|"seed"|"list", names)`` from the ``plots=`` argument."""
    if plots is None or plots is False or plots == "none":
        return "list", ()
    if plots is True or plots == "default" or plots == "all":
        return "default", ()
    if plots == "seed":
        return "seed", ()
    names = tuple(p.strip() for p in plots.split(",")) if isinstance(plots, str) else \
        tuple(plots)
    known = set(CLASSIFICATION_PLOTS) | set(REGRESSION_PLOTS)
    unknown = [p for p in names if p not in known]
    if unknown:
        raise EvaluationError(f"unknown plot(s) {', '.join(map(repr, unknown))}; plots= takes "
                              f"'default', 'seed', None or names from: "
                              f"{', '.join(sorted(known))}")
    return "list", names


def check_threshold(threshold: Any) -> float | None:
    """``threshold`` as a finite float (``None`` stays ``None``); text such as ``"0.3"``
    is read as a number."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise EvaluationError(f"threshold must be a number such as 0.3, got "
                                  f"{threshold!r}") from None
    value = float(threshold)
    if not np.isfinite(value):
        raise EvaluationError(f"threshold must be a finite number, got {value!r}")
    return value


@dataclass(frozen=True)
class CheckedOptions:
    """The options every evaluation shares (where to save, gates, plots, threshold),
    checked once: what :func:`evaluate` and :func:`evaluate_predictions` hand to
    :func:`run_evaluation` beside the data."""

    timer: Timer
    target: Target | None
    reqs: list[Requirement]
    plot_request: tuple[str, tuple[str, ...]]
    save: bool
    pos_label: Any = None
    threshold: float | None = None
    progress: Progress | None = None


class EvaluateOptions(TypedDict, total=False):
    """The keyword options :func:`evaluate_predictions` shares with :func:`evaluate`
    (documented there, with their defaults)."""

    name: str | None
    version: str | None
    store: Any
    dataset: str | None
    plots: Any
    sample_weight: Any
    require: Any
    save: bool
    pos_label: Any
    threshold: float | None
    progress: Progress | None


def check_options(model: Any, *, name: str | None = None, version: str | None = None,
                  store: Any = None, dataset: str | None = None, plots: Any = "default",
                  require: Any = None, save: bool = True, pos_label: Any = None,
                  threshold: Any = None, progress: Progress | None = None) -> CheckedOptions:
    """The public functions' shared keyword parameters, resolved and checked (the
    clock starts here, so the timings include these checks)."""
    timer = Timer()
    target = resolve_target(model, name, version, store, dataset)
    reqs = parse_requirements(require)
    request = _plot_request(plots)
    return CheckedOptions(timer=timer, target=target, reqs=reqs, plot_request=request,
                          save=save, pos_label=pos_label,
                          threshold=check_threshold(threshold), progress=progress)
