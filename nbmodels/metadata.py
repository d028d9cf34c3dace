"""Metadata capture: what the machine knows about a model, recorded without typing it."""

from __future__ import annotations

import getpass
import json
import platform
import sys
from datetime import datetime, timezone
from typing import Any

from .records import SCHEMA_VERSION

__all__ = ["base_record", "framework_of", "hyperparameters_of", "jsonable", "utc_now"]


def utc_now() -> str:
    """Current time as UTC ISO 8601 with a ``Z`` suffix, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON data; what JSON cannot hold becomes its short ``repr``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if _depth > 6:
        return repr(value)[:200]
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return jsonable(item(), _depth + 1)
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def framework_of(model: Any) -> tuple[str, str | None]:
    """The distribution a model's class comes from, and its installed version."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    module = type(model).__module__.split(".")[0]
    if module in ("builtins", "__main__"):
        return ("python", platform.python_version())
    dists = packages_distributions().get(module) or [module]
    dist = dists[0]
    try:
        return (dist, version(dist))
    except PackageNotFoundError:
        return (dist, None)


def hyperparameters_of(model: Any) -> dict[str, Any]:
    """``get_params()`` as JSON data (nested estimators shown by their class)."""
    get_params = getattr(model, "get_params", None)
    if not callable(get_params):
        return {}
    try:
        params = get_params(deep=True)
    except Exception:
        return {}
    out = {}
    for key, value in sorted(params.items()):
        if hasattr(value, "get_params"):
            value = type(value).__name__
        out[key] = jsonable(value)
    return out


def _features_of(model: Any, X: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None and X is not None:
        names = getattr(X, "columns", None)
    return [str(n) for n in names] if names is not None else None


def _author() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


def base_record(model: Any, *, name: str, version: str, description: str, tags: Any,
                X: Any = None, y: Any = None, training_dataset: str | None = None,
                metrics: dict[str, Any] | None = None, author: str | None = None) -> dict[str, Any]:
    """The record's keys that do not depend on the artifact files, seed keys first."""
    framework, framework_version = framework_of(model)
    target = getattr(y, "name", None)
    record = {
        "schema_version": SCHEMA_VERSION,
        "model_name": name,
        "version": version,
        "description": description,
        "created_at": utc_now(),
        "author": author if author is not None else _author(),
        "framework": framework,
        "framework_version": framework_version,
        "python_version": platform.python_version(),
        "training_dataset": training_dataset,
        "features": _features_of(model, X),
        "target": str(target) if target is not None else None,
        "hyperparameters": hyperparameters_of(model),
        "metrics": jsonable(dict(metrics or {})),
        "tags": [str(t) for t in (tags or ())],
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "platform": f"{platform.system()}-{platform.machine()}",
        "python_implementation": sys.implementation.name,
    }
    json.dumps(record)  # fail here, before any file is written, if something slipped through
    return record
