"""Metadata capture: what the machine knows about a model, recorded without typing it.

One walk over the model's object graph finds the classes and functions it is built
from. That walk gives the environment (only the distributions those classes come
from, plus numpy, joblib and Python) and the objects that plain pickle would store by
reference to the notebook itself (``__main__``), which cannot be loaded anywhere else.
Everything here is cheap: no second serialization, no ``pip freeze``, one cached
module-to-distribution lookup per package.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .architecture import architecture_of, diagram_html, is_estimator
from .environment import installed_version
from .record import SCHEMA_VERSION

__all__ = [
    "Capture",
    "capture",
    "content_hash",
    "current_author",
    "distribution_of",
    "environment_of",
    "framework_of",
    "hyperparameters_of",
    "jsonable",
    "note_saved_by_value",
    "scan_object",
    "unfitted_reason",
    "utc_now",
]

# Import names whose distribution is named differently; checked before the slow full scan.
_IMPORT_TO_DIST = {
    "sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "Pillow",
    "cv2": "opencv-python", "yaml": "PyYAML", "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil", "google.protobuf": "protobuf",
}
# Always pinned: what every pickle-based artifact needs to load.
_ALWAYS = ("numpy", "joblib")
# Libraries whose objects are data, not code: their class is noted, their insides skipped.
_OPAQUE = frozenset({"numpy", "pandas", "scipy", "torch", "tensorflow", "keras", "jax",
                     "polars", "pyarrow"})
_ATOMS = (type(None), bool, int, float, complex, str, bytes, bytearray)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SCAN_LIMIT = 20_000


def utc_now() -> str:
    """Current time as UTC ISO 8601 with a ``Z`` suffix, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _short_repr(value: Any) -> str:
    try:
        # Memory addresses would make two equal models look different to the dedup hash.
        text = _ADDRESS.sub("", repr(value))
    except Exception:  # a broken __repr__ must not stop a save
        text = f"<{type(value).__module__}.{type(value).__qualname__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON data; what JSON cannot hold becomes its short ``repr``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if _depth > 6:
        return _short_repr(value)[:200]
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1) for v in value]
    shape = getattr(value, "shape", None)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and shape == ():
        return jsonable(item(), _depth + 1)
    tolist = getattr(value, "tolist", None)  # small numpy arrays
    if callable(tolist) and isinstance(shape, tuple) and getattr(value, "size", 1001) <= 1000:
        return jsonable(tolist(), _depth + 1)
    return _short_repr(value)


# -- distributions -------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _all_distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()  # reads every installed RECORD: done at most once


def _in_site_packages(module: str) -> bool:
    import sysconfig

    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None) or ""
    roots = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    return bool(path) and any(r and path.startswith(r) for r in roots)


@functools.cache
def distribution_of(module: str) -> str | None:
    """The installed distribution that provides top-level ``module`` (``sklearn`` ->
    ``scikit-learn``), or ``None`` for the standard library and local modules."""
    from importlib.metadata import PackageNotFoundError, version

    if module in ("__main__", "builtins") or module in sys.stdlib_module_names:
        return None
    for candidate in (_IMPORT_TO_DIST.get(module), module, module.replace("_", "-")):
        if not candidate:
            continue
        try:
            version(candidate)
        except PackageNotFoundError:
            continue
        return candidate
    if not _in_site_packages(module):
        return None  # a module next to the notebook, or an editable checkout
    dists = _all_distributions().get(module)
    return dists[0] if dists else None


# -- walking the object ----------------------------------------------------------------------

def _is_by_reference_trap(module: str | None, qualname: str) -> bool:
    # Pickle stores these by name; the name cannot be resolved in another process.
    return module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname


@dataclass
class ObjectScan:
    """What :func:`scan_object` found: top-level modules, and objects only ``__main__`` has."""

    modules: set[str] = field(default_factory=set)
    notebook_objects: dict[str, str] = field(default_factory=dict)  # qualified name -> kind
    complete: bool = True

    def note(self, module: str | None, qualname: str, kind: str) -> None:
        module = module or "builtins"
        self.modules.add(module.partition(".")[0])
        if _is_by_reference_trap(module, qualname):
            self.notebook_objects.setdefault(f"{module}.{qualname}", kind)


def scan_object(obj: Any, limit: int = _SCAN_LIMIT) -> ObjectScan:
    """Walk ``obj`` (attributes, containers, object arrays) and note what code it uses.

    Data-holding libraries (numpy, pandas, torch, ...) are noted but not entered, so a
    100-tree forest is a few thousand steps. Stops after ``limit`` objects.
    """
    scan = ObjectScan()
    seen: set[int] = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, _ATOMS):
            continue
        seen.add(id(o))
        if len(seen) > limit:
            scan.complete = False
            break
        if isinstance(o, type):
            scan.note(o.__module__, o.__qualname__, "class")
            continue
        if isinstance(o, types.FunctionType):
            scan.note(o.__module__, o.__qualname__, "function")
            continue
        if isinstance(o, types.MethodType):
            stack += [o.__self__, o.__func__]
            continue
        if isinstance(o, functools.partial):
            stack += [o.func, *o.args, *o.keywords.values()]
            continue
        if isinstance(o, (types.BuiltinFunctionType, types.ModuleType)):
            mod = getattr(o, "__module__", None) or getattr(o, "__name__", None)
            scan.note(mod, getattr(o, "__qualname__", ""), "function")
            continue
        t = type(o)
        scan.note(t.__module__, t.__qualname__, "class")
        top = t.__module__.partition(".")[0]
        if isinstance(o, dict):
            stack += itertools.islice(itertools.chain(o.keys(), o.values()), limit)
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack += itertools.islice(o, limit)
        elif top == "numpy":
            if getattr(getattr(o, "dtype", None), "kind", "") == "O" and getattr(o, "ndim", 0):
                stack += list(o.ravel()[:100])
        elif top not in _OPAQUE:
            attrs = getattr(o, "__dict__", None)
            if isinstance(attrs, dict):
                stack += list(attrs.values())
    return scan


# -- framework, environment, author ------------------------------------------------------------

def framework_of(model: Any) -> tuple[str, str | None]:
    """The distribution a model's class comes from, and its installed version."""
    module = type(model).__module__.split(".")[0]
    if module in ("builtins", "__main__"):
        return ("python", platform.python_version())
    dist = distribution_of(module) or module
    return (dist, installed_version(dist))


def environment_of(scan: ObjectScan) -> dict[str, Any]:
    """Pinned versions of the distributions ``scan`` found, plus numpy, joblib and Python."""
    packages: dict[str, str] = {}
    local = []
    for module in sorted(scan.modules | set(_ALWAYS)):
        dist = distribution_of(module)
        if dist is None:
            if module not in ("__main__", "builtins") and module not in sys.stdlib_module_names:
                local.append(module)
            continue
        ver = installed_version(dist)
        if ver is not None:
            packages[dist] = ver
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": sys.implementation.name,
        "platform": f"{platform.system()}-{platform.machine()}",
        **_pinned(packages),
    }
    if local:
        env["local_modules"] = local
    if not scan.complete:
        env["scan_incomplete"] = True
    return env


def _pinned(packages: dict[str, str]) -> dict[str, Any]:
    packages = dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))
    return {"packages": packages,
            "pip": "pip install " + " ".join(f"{d}=={v}" for d, v in packages.items())}


def note_saved_by_value(record: dict[str, Any], objects: dict[str, str]) -> None:
    """Record that ``objects`` (from ``__main__``) were stored by value with cloudpickle,
    which the loading side then needs too."""
    env = record["environment"]
    packages = dict(env.get("packages") or {})
    packages["cloudpickle"] = installed_version("cloudpickle") or "?"
    env.update(_pinned(packages))
    env["saved_by_value"] = sorted(objects)


@functools.lru_cache(maxsize=8)
def _git_user(cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", "config", "user.name"], cwd=cwd, capture_output=True,
                             text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _author() -> str | None:
    """``git config user.name``, else the OS user."""
    name = _git_user(os.getcwd())
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:
        return None


# -- what the model is --------------------------------------------------------------------------

def _param_value(value: Any, depth: int = 0) -> Any:
    if is_estimator(value):
        return type(value).__name__
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        module = getattr(value, "__module__", None) or type(value).__module__
        return f"{module}.{getattr(value, '__qualname__', getattr(value, '__name__', '?'))}"
    if type(value).__name__ == "ufunc":
        return f"numpy.{value.__name__}"
    if depth < 4 and isinstance(value, (list, tuple)):
        return [_param_value(v, depth + 1) for v in value]
    if depth < 4 and isinstance(value, dict):
        return {str(k): _param_value(v, depth + 1) for k, v in value.items()}
    return jsonable(value)


def hyperparameters_of(model: Any) -> dict[str, Any]:
    """``get_params(deep=True)`` as flat JSON data.

    Nested estimators keep scikit-learn's ``step__param`` keys (what ``set_params``
    takes); an estimator value is shown by its class name, so ``steps`` reads
    ``[["prep", "ColumnTransformer"], ["clf", "LogisticRegression"]]``.
    """
    get_params = getattr(model, "get_params", None)
    if not callable(get_params) or isinstance(model, type):
        return {}
    try:
        params = get_params(deep=True)
    except Exception:
        return {}
    return {str(key): _param_value(value) for key, value in sorted(params.items())}


def _features_of(model: Any, X: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    if names is None and X is not None:
        columns = getattr(X, "columns", None)
        if columns is not None and not _is_default_index(columns):
            names = columns
    return [str(n) for n in names] if names is not None else None


def _is_default_index(columns: Any) -> bool:
    return type(columns).__name__ == "RangeIndex" and getattr(columns, "start", None) == 0 \
        and getattr(columns, "step", None) == 1


def _n_features(model: Any, X: Any) -> int | None:
    n = getattr(model, "n_features_in_", None)
    if n is None and X is not None:
        shape = getattr(X, "shape", None)
        n = shape[1] if shape is not None and len(shape) > 1 else None
    return int(n) if n is not None else None


def _target_of(y: Any) -> str | list[str] | None:
    if y is None:
        return None
    columns = getattr(y, "columns", None)
    if columns is not None:
        return [str(c) for c in columns]
    name = getattr(y, "name", None)
    return str(name) if name is not None else None


def estimator_type_of(model: Any) -> str | None:
    """``classifier``, ``regressor``, ``clusterer``, ... as scikit-learn tags it."""
    if "sklearn" in sys.modules and is_estimator(model):
        try:
            from sklearn.utils import get_tags

            return get_tags(model).estimator_type
        except Exception:
            pass
    return getattr(model, "_estimator_type", None)


def _classes_of(model: Any) -> list[Any] | None:
    try:
        classes = getattr(model, "classes_", None)
    except Exception:  # a Pipeline whose last step has no classes_
        return None
    if classes is None:
        return None
    return jsonable(list(classes) if not isinstance(classes, list) else classes)


# -- the record ----------------------------------------------------------------------------------

class _Background:
    """``fn()`` in a daemon thread; :meth:`result` waits for it."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._result: Any = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True,
                                         name="nbmodels-capture")
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        self._result = fn()

    def result(self) -> Any:
        self._thread.join()
        return self._result


@dataclass
class Capture:
    """A record in the making, plus what the save needs but the record does not keep."""

    record: dict[str, Any]
    notebook_objects: dict[str, str]
    sample_rows: Any = None
    _diagram: _Background | None = None

    def diagram(self) -> str | None:
        """scikit-learn's HTML diagram for the card (drawn in the background meanwhile)."""
        return self._diagram.result() if self._diagram is not None else None


def _record(model: Any, *, name: str, version: str | None, description: str, tags: Any,
            X: Any, y: Any, training_dataset: str | None, metrics: dict[str, Any] | None,
            author: str | None) -> dict[str, Any]:
    framework, framework_version = framework_of(model)
    return {
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
        "target": _target_of(y),
        "hyperparameters": hyperparameters_of(model),
        "metrics": jsonable(dict(metrics or {})),
        "tags": [str(t) for t in (tags or ())],
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "estimator_type": estimator_type_of(model),
        "n_features": _n_features(model, X),
        "classes": _classes_of(model),
        "platform": f"{platform.system()}-{platform.machine()}",
        "python_implementation": sys.implementation.name,
        "environment": None,  # filled in by capture(), in this order
        "lineage": None,
        "architecture": architecture_of(model),
    }


def capture(model: Any, *, name: str, version: str | None, description: str, tags: Any,
            X: Any = None, y: Any = None, training_dataset: str | None = None,
            metrics: dict[str, Any] | None = None, author: str | None = None,
            diagram: bool = True) -> Capture:
    """Everything the machine knows about ``model`` (and its training data)."""
    from .lineage import GitProbe, lineage_of, sample_rows

    git = GitProbe()  # runs while the rest is captured
    try:
        record = _record(model, name=name, version=version, description=description,
                         tags=tags, X=X, y=y, training_dataset=training_dataset,
                         metrics=metrics, author=author)
        scan = scan_object(model)
        record["environment"] = environment_of(scan)
        record["lineage"] = lineage_of(X, y, training_dataset=training_dataset,
                                       classified=record["classes"] is not None, git=git)
    finally:
        git.result()  # reaps the subprocess whatever happened
    json.dumps(record)  # fail here, before any file is written, if something slipped through
    # The diagram reads the model but never changes it, so it is drawn while the artifact
    # is written (which waits on the disk without the GIL). Started last: a thread that
    # competes for the GIL would slow the many short hashing calls above.
    drawing = _Background(functools.partial(diagram_html, model)) if diagram and \
        "sklearn" in sys.modules and is_estimator(model) else None
    return Capture(record, dict(scan.notebook_objects), sample_rows(X), drawing)


def content_hash(record: dict[str, Any]) -> str:
    """The identity of a version's model: sha256 over its format and its artifact files'
    names and sha256.

    Only the bytes count: two saves of the same fitted object are the same model whatever
    description, tags or training data they were given, and whenever, wherever and by
    whomever they ran. Computed from the hashes taken while the files were written, so
    nothing is serialized twice; any record with ``files`` (an adopted one, one written
    before this rule) gives its identity the same way.
    """
    files = sorted([str(f.get("name")), str(f.get("sha256"))]
                   for f in record.get("files") or [] if isinstance(f, dict))
    blob = json.dumps({"format": record.get("format"), "files": files}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def current_author() -> str | None:
    """Who is saving or editing: ``git config user.name``, else the OS user."""
    return _author()


def unfitted_reason(model: Any) -> str | None:
    """Why ``model`` is an unfitted scikit-learn estimator, or ``None`` if it is fitted
    (or not a scikit-learn-style estimator at all).

    scikit-learn's own ``check_is_fitted`` decides, so estimators that need no fitting
    (``FunctionTransformer``, stateless transformers) pass.
    """
    if "sklearn" not in sys.modules or not is_estimator(model):
        return None  # an estimator is an instance of a class scikit-learn's module defines
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        return str(exc).split(". Call", 1)[0].strip() or "it is not fitted"
    except Exception:  # not an estimator in scikit-learn's sense: nothing to say
        return None
    return None
