"""Will a saved model load somewhere else? Notebook-defined objects and the load check.

A model that refers to a class or function defined in the notebook itself is pickled
by name (``__main__.MyTransformer``) and fails months later, in another process, with
"Can't get attribute ... on <module '__main__'>". :func:`plan_notebook_objects` decides
at save time: such objects are saved by value with cloudpickle, or the save is refused
with a message naming them and the fix.

``save(..., check_load=True)`` goes further: a notebook can hold state that no other
process has (classes defined in a cell, imports from a working directory, patches).
The check runs a new interpreter (``python -m nbmodels.store.portability``), loads the
artifacts from the not-yet-published folder through the same verified path as
:meth:`ModelStore.load`, calls ``predict`` on a few rows of the training data and
compares the answers with the live model's. Only then is the version published.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import LoadCheckError, NotebookObjectsError
from ..record.lineage import row_count
from ..storage import local as _io
from ..storage.backend import StorageBackend

__all__ = ["plan_notebook_objects", "run_load_check"]

_TIMEOUT_S = 300


def plan_notebook_objects(objects: dict[str, str], fmt: Any, name: str,
                          options: dict[str, Any] | None = None) -> bool:
    """Whether ``objects`` (qualified name -> kind, found by
    :func:`nbmodels.record.capture.scan_object`) must be saved by value.

    Returns ``False`` when there are none; raises :class:`NotebookObjectsError` naming
    them when ``fmt`` cannot store them by value or cloudpickle is not installed.
    """
    if not objects:
        return False
    if not getattr(fmt, "executes_code_on_load", True) or (options or {}).get("weights_only"):
        # No pickle in the artifact: a converted graph (onnx), weights alone, or a format
        # that names classes itself and refuses notebook ones in its save (skops).
        return False
    import importlib.util

    shown = ", ".join(f"{q.removeprefix('__main__.')} ({kind})"
                      for q, kind in sorted(objects.items())[:8])
    if len(objects) > 8:
        shown += f" and {len(objects) - 8} more"
    if getattr(fmt, "supports_by_value", False) and importlib.util.find_spec("cloudpickle"):
        return True
    why = ("cloudpickle is not installed" if getattr(fmt, "supports_by_value", False)
           else f"format {getattr(fmt, 'name', fmt)!r} stores them by name only")
    if "weights_only" in getattr(fmt, "save_options", ()):
        why += " (save with weights_only=True to store the weights alone)"
    raise NotebookObjectsError(
        f"{name} refers to objects defined in the notebook or script itself (__main__) or "
        f"inside a function, which another process cannot import: {shown}. Saving it "
        f"would give \"Can't get attribute ... on <module '__main__'>\" when it is loaded "
        f"later, and {why}. Fix: move them into a module (e.g. features.py next to the "
        f"notebook), import them from there and refit; or pip install cloudpickle, and "
        f"nbmodels saves them by value inside the artifact.", sorted(objects))


def _predict(model: Any, rows: Any) -> Any:
    predict = getattr(model, "predict", None)
    return predict(rows) if callable(predict) and rows is not None else None


def _same(expected: Any, got: Any) -> bool:
    import numpy as np

    a, b = np.asarray(expected), np.asarray(got)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return bool(np.allclose(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def run_load_check(fs: StorageBackend, directory: PurePosixPath, fmt_name: str,
                   info: dict[str, Any], files: list[dict[str, Any]], model: Any, rows: Any,
                   ref: str) -> dict[str, Any]:
    """Load ``directory``'s artifacts in a new interpreter and predict ``rows`` there.

    Returns what the record keeps; raises :class:`LoadCheckError` with the other
    process's error when it cannot load the model or predicts differently.
    """
    started = time.perf_counter()
    try:
        expected = _predict(model, rows)
    except Exception:
        expected, rows = None, None  # the rows do not fit the model: check loading only
    with _io.scratch_dir("nbmodels-loadcheck-") as work:
        spec = {"store": fs.url, "directory": str(directory), "format": fmt_name, "info": info,
                "files": files, "rows": None, "out": str(work / "predictions.pkl")}
        if expected is not None:
            spec["rows"] = str(work / "rows.pkl")
            _io.write_bytes(Path(spec["rows"]), pickle.dumps(rows, protocol=5))
        spec_path = work / "spec.json"
        _io.write_bytes(spec_path, json.dumps(spec).encode("utf-8"))
        try:
            proc = subprocess.run([sys.executable, "-m", "nbmodels.store.portability",
                                   str(spec_path)],
                                  capture_output=True, text=True, timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise LoadCheckError(f"check_load: {ref} did not load within {_TIMEOUT_S} s in a "
                                 f"fresh Python process; nothing was saved") from None
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit status {proc.returncode}"
            hint = ""
            if "__main__" in why or "Can't get attribute" in why:
                hint = (" (it refers to something defined only in the notebook: move it into "
                        "a module and import it, or install cloudpickle to save it by value)")
            raise LoadCheckError(f"check_load: {ref} does not load in a fresh Python process: "
                                 f"{why}{hint}; nothing was saved")
        if expected is not None:
            got = pickle.loads(_io.read_bytes(Path(spec["out"])))
            if not _same(expected, got):
                raise LoadCheckError(f"check_load: {ref} loads in a fresh Python process but "
                                     f"predicts differently on {row_count(rows)} training rows; "
                                     f"nothing was saved")
    return {"passed": True, "rows": 0 if expected is None else row_count(rows),
            "seconds": round(time.perf_counter() - started, 2)}


def _main(spec_path: str) -> None:
    from ..formats import ArtifactSource, get_format
    from ..storage import open_backend

    spec = _io.read_json(Path(spec_path))
    fmt = get_format(spec["format"])
    source = ArtifactSource(open_backend(spec["store"]), PurePosixPath(spec["directory"]),
                            spec["files"])
    model = fmt.load(source, spec["info"])
    if spec["rows"]:
        rows = pickle.loads(_io.read_bytes(Path(spec["rows"])))
        _io.write_bytes(Path(spec["out"]), pickle.dumps(_predict(model, rows), protocol=5))


if __name__ == "__main__":
    _main(sys.argv[1])
