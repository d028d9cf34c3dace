"""Lineage: where a model came from.

The training data's fingerprint, shape, schema and class balance; the notebook (or
script) and the cell that saved it; the git commit, branch and dirty flag of the
working directory. Everything is cheap: the fingerprint hashes raw column bytes (no
per-element Python), and git is one ``git status`` call with a short timeout.

The fingerprint is a content hash: equal data gives an equal fingerprint whatever its
memory layout (C or Fortran order, a slice, a DataFrame or the bare array), and any
changed cell gives a different one. Canonical form (version 1), for a table of ``n``
rows and ``m`` columns: one sha256 per column over its little-endian values (columns
that have no fixed-width bytes, such as strings, are hashed through
``pandas.util.hash_pandas_object``), then sha256 of a JSON header (shape, column names
unless they are pandas' default ``0..m-1``, per-column dtypes) followed by those column
digests. Arrays of more than two dimensions are read as ``n`` rows of their flattened
remaining axes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["GitProbe", "fingerprint", "git_state", "lineage_of", "notebook_context",
           "row_count", "sample_rows"]

_FORMAT = 1
_BLOCK_BYTES = 1 << 20
_FIXED_KINDS = "biufcmMSUV"  # dtypes whose values are their bytes
_MAX_CLASSES = 100
_GIT_TIMEOUT_S = 3.0


# -- fingerprints ------------------------------------------------------------------------------

def _dtype_name(dtype: Any) -> str:
    """``float64`` for both byte orders: the bytes are hashed little-endian anyway."""
    if getattr(dtype, "byteorder", "=") in "<>" and hasattr(dtype, "newbyteorder"):
        dtype = dtype.newbyteorder("=")
    return str(dtype)


def _little_endian(a: Any) -> Any:
    return a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a


def _bytes_of(a: Any) -> Any:
    import numpy as np

    a = np.ascontiguousarray(_little_endian(a))
    return a.reshape(-1).view(np.uint8) if a.size else b""


def _object_digest(values: Any) -> bytes:
    """Digest of a column whose values are Python objects (strings, mixed)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is there whenever objects are
        blob = "\x1f".join(repr(v) for v in values).encode("utf-8", "surrogatepass")
        return hashlib.sha256(blob).digest()
    series = values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
    hashed = pd.util.hash_pandas_object(series, index=False).to_numpy()
    return hashlib.sha256(_bytes_of(hashed)).digest()


def _column_digest(values: Any) -> bytes:
    import numpy as np

    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in _FIXED_KINDS:
        arr = values.to_numpy() if hasattr(values, "to_numpy") else values
        return hashlib.sha256(_bytes_of(arr)).digest()
    return _object_digest(values)


def _matrix_digests(a: Any) -> list[bytes]:
    """One digest per column of a 2-D array of fixed-width values, in one pass.

    A C-ordered array is transposed one ~1 MB block of rows at a time into a reused
    buffer, so each column's hasher sees its values contiguously and the result is
    the same as hashing a Fortran-ordered copy, without making one.
    """
    import numpy as np

    a = _little_endian(a)
    n, m = a.shape
    if a.flags.f_contiguous or n <= 1:
        return [hashlib.sha256(_bytes_of(a[:, j])).digest() for j in range(m)]
    hashers = [hashlib.sha256() for _ in range(m)]
    rows = max(1, _BLOCK_BYTES // max(1, m * a.dtype.itemsize))
    buf = np.empty((m, min(rows, n)), dtype=a.dtype)
    for start in range(0, n, rows):
        block = a[start:start + rows]
        dst = buf[:, :block.shape[0]]
        np.copyto(dst, block.T)
        for j in range(m):
            hashers[j].update(dst[j].view(np.uint8))
    return [h.digest() for h in hashers]


def _table(data: Any) -> tuple[dict[str, Any], list[bytes]] | None:
    """``(header, column digests)`` of an array, Series or DataFrame; ``None`` if unknown."""
    import numpy as np

    if hasattr(data, "iloc") and hasattr(data, "dtypes") and getattr(data, "ndim", 0) == 2:
        columns = data.columns
        names = None if _default_columns(columns) else [str(c) for c in columns]
        dtypes = [_dtype_name(d) for d in data.dtypes]
        digests = [_column_digest(data.iloc[:, j]) for j in range(data.shape[1])]
        return {"shape": list(data.shape), "columns": names, "dtypes": dtypes}, digests
    if hasattr(data, "iloc") and getattr(data, "ndim", 0) == 1:
        name = getattr(data, "name", None)
        return ({"shape": [len(data)], "columns": None if name is None else [str(name)],
                 "dtypes": [_dtype_name(data.dtype)]}, [_column_digest(data)])
    if type(data).__module__.startswith("scipy.sparse"):
        csr = data.tocsr(copy=True)
        csr.sum_duplicates()
        csr.sort_indices()
        parts = [hashlib.sha256(_bytes_of(np.asarray(p))).digest()
                 for p in (csr.data, csr.indices.astype(np.int64), csr.indptr.astype(np.int64))]
        return {"shape": list(csr.shape), "sparse": "csr",
                "dtypes": [_dtype_name(csr.dtype)]}, parts
    try:
        arr = np.asarray(data)
    except Exception:
        return None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind == "O" and arr.ndim == 1 and len(arr) and not np.isscalar(arr[0]) \
            and not isinstance(arr[0], str):
        return None  # ragged or opaque objects: no honest content hash
    shape = list(arr.shape)
    if arr.ndim == 1:
        return {"shape": shape, "columns": None, "dtypes": [_dtype_name(arr.dtype)]}, \
            [_column_digest(arr)]
    flat = arr.reshape(arr.shape[0], -1)
    m = flat.shape[1]
    if arr.dtype.kind in _FIXED_KINDS:
        digests = _matrix_digests(flat)
    else:
        digests = [_object_digest(flat[:, j]) for j in range(m)]
    return {"shape": shape, "columns": None, "dtypes": [_dtype_name(arr.dtype)] * m}, digests


def _default_columns(columns: Any) -> bool:
    return type(columns).__name__ == "RangeIndex" and columns.start == 0 and columns.step == 1


def _digest(header: dict[str, Any], digests: list[bytes]) -> str:
    h = hashlib.sha256(json.dumps({"format": _FORMAT, **header}, sort_keys=True,
                                  separators=(",", ":")).encode("utf-8"))
    for d in digests:
        h.update(d)
    return h.hexdigest()


def fingerprint(data: Any) -> str | None:
    """Content hash (hex sha256) of an array, DataFrame, Series or sparse matrix.

    Independent of memory layout; ``None`` for data it cannot hash faithfully.
    """
    table = _table(data)
    return None if table is None else _digest(*table)


def _describe(data: Any, table: tuple[dict[str, Any], list[bytes]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"fingerprint": None if table is None else _digest(*table)}
    shape = getattr(data, "shape", None)
    if shape is None and table is not None:
        shape = table[0]["shape"]
    out["shape"] = [int(s) for s in shape] if shape is not None else None
    columns = getattr(data, "columns", None)
    if columns is not None:
        out["columns"] = [str(c) for c in columns]
        out["dtypes"] = {str(c): str(d) for c, d in zip(columns, data.dtypes)}
    else:
        if getattr(data, "ndim", 0) == 1 and getattr(data, "name", None) is not None:
            out["name"] = str(data.name)
        dtype = getattr(data, "dtype", None)
        if dtype is None and table is not None:
            dtype = table[0]["dtypes"][0] if table[0]["dtypes"] else None
        out["dtype"] = str(dtype) if dtype is not None else None
    return out


def _class_balance(y: Any) -> dict[str, int] | None:
    import numpy as np

    if getattr(y, "ndim", 1) != 1:
        return None
    if hasattr(y, "value_counts"):
        counts = y.value_counts(sort=False, dropna=False)
        pairs = list(zip(counts.index, counts.to_numpy()))
    else:
        try:
            values, n = np.unique(np.asarray(y), return_counts=True)
        except TypeError:
            return None
        pairs = list(zip(values, n))
    if len(pairs) > _MAX_CLASSES:
        return None
    return {str(_plain(k)): int(v) for k, v in sorted(pairs, key=lambda kv: str(_plain(kv[0])))}


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value


def row_count(data: Any) -> int | None:
    """Rows of an array, DataFrame, sparse matrix or list; ``None`` if it has no length."""
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple):
        return int(shape[0]) if shape else None
    try:
        return len(data)
    except TypeError:
        return None


def data_lineage(X: Any = None, y: Any = None, *, training_dataset: str | None = None,
                 classified: bool = False) -> dict[str, Any] | None:
    """Fingerprint, shape and schema of the training data, its class balance and source.

    ``X`` and ``y`` of different lengths are refused (:class:`NBModelsError`): they
    cannot be the same training rows, and the record would describe neither.
    """
    if X is None and y is None and training_dataset is None:
        return None
    if X is not None and y is not None:
        rows_x, rows_y = row_count(X), row_count(y)
        if rows_x is not None and rows_y is not None and rows_x != rows_y:
            from ..errors import NBModelsError

            raise NBModelsError(f"X has {rows_x} rows but y has {rows_y}; pass the training "
                                f"features and target of the same rows (X_train, y_train)")
    out: dict[str, Any] = {"fingerprint": None}
    parts = {}
    for key, data in (("X", X), ("y", y)):
        if data is not None:
            out[key] = _describe(data, _table(data))
            parts[key] = out[key]["fingerprint"]
    if parts and all(parts.values()):
        out["fingerprint"] = hashlib.sha256(json.dumps(parts, sort_keys=True)
                                            .encode("utf-8")).hexdigest()
    if classified and y is not None:
        balance = _class_balance(y)
        if balance is not None:
            out["class_balance"] = balance
    out["source"] = str(training_dataset) if training_dataset is not None else None
    return out


# -- where the code ran -----------------------------------------------------------------------

class GitProbe:
    """``git status`` of a work tree, started now and read later, so that the
    subprocess runs while the rest of the metadata is captured."""

    def __init__(self, cwd: str | None = None) -> None:
        self._state: dict[str, Any] | None = None
        self._done = False
        try:
            self._proc: subprocess.Popen[str] | None = subprocess.Popen(
                ["git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
                cwd=cwd or os.getcwd(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, text=True)
        except OSError:  # no git here
            self._proc = None

    def result(self) -> dict[str, Any] | None:
        """``{"commit", "branch", "dirty"}``, or ``None`` outside a work tree."""
        if not self._done:
            self._done = True
            self._state = self._read()
        return self._state

    def _read(self) -> dict[str, Any] | None:
        if self._proc is None:
            return None
        try:
            out, _ = self._proc.communicate(timeout=_GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            return None
        if self._proc.returncode != 0:
            return None
        state: dict[str, Any] = {"commit": None, "branch": None, "dirty": False}
        for line in out.splitlines():
            if line.startswith("# branch.oid "):
                oid = line.split(" ", 2)[2]
                state["commit"] = None if oid.startswith("(") else oid
            elif line.startswith("# branch.head "):
                head = line.split(" ", 2)[2]
                state["branch"] = None if head.startswith("(") else head
            elif line and not line.startswith("#"):
                state["dirty"] = True
        return state


def git_state(cwd: str | None = None) -> dict[str, Any] | None:
    """``{"commit", "branch", "dirty"}`` of the git work tree at ``cwd``, or ``None``.

    One ``git status`` call with a short timeout. ``dirty`` counts changes to tracked
    files only: listing untracked files means walking the whole tree, which can be slow.
    """
    return GitProbe(cwd).result()


def _ipython() -> Any:
    """The running IPython shell, if any. The core never imports IPython: a shell is
    running only if something else (the kernel, the terminal) has imported it already."""
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


def _current_cell(ip: Any) -> int | None:
    # IPython 9 increments execution_count before running a cell, IPython 8 after; both
    # store the cell's input in the history first, so its length numbers the cell.
    hist = getattr(getattr(ip, "history_manager", None), "input_hist_raw", None)
    if isinstance(hist, list) and len(hist) > 1:
        return len(hist) - 1
    count = getattr(ip, "execution_count", None)
    return int(count) if isinstance(count, int) else None


def notebook_context() -> dict[str, Any]:
    """The notebook path and the saving cell's execution count inside IPython or a
    kernel, or the script path outside one."""
    ip = _ipython()
    if ip is not None:
        ns = getattr(ip, "user_ns", {}) or {}
        path = (ns.get("__vsc_ipynb_file__") or ns.get("__session__")
                or os.environ.get("JPY_SESSION_NAME"))
        return {"notebook": str(path) if path else None,
                "execution_count": _current_cell(ip),
                "shell": type(ip).__name__}
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not isinstance(script, str) or script.startswith("<"):
        script = None
    return {"script": os.path.abspath(script) if script else None}


def lineage_of(X: Any = None, y: Any = None, *, training_dataset: str | None = None,
               classified: bool = False, git: GitProbe | None = None) -> dict[str, Any]:
    """The record's ``lineage``: training data, notebook or script, cell, git state.

    ``git`` is a probe started earlier in the working directory, if any.
    """
    cwd = os.getcwd()
    git = git or GitProbe(cwd)
    return {"data": data_lineage(X, y, training_dataset=training_dataset,
                                 classified=classified),
            **notebook_context(), "working_dir": cwd, "git": git.result()}


def sample_rows(X: Any, n: int = 5) -> Any:
    """The first ``n`` rows of ``X`` (a copy), for checking a saved model in a fresh process."""
    if X is None:
        return None
    try:
        if hasattr(X, "iloc"):
            return X.iloc[:n].copy()
        if type(X).__module__.startswith("scipy.sparse"):
            return X.tocsr()[:n]
        import numpy as np

        return np.array(X[:n], copy=True)
    except Exception:
        return None
