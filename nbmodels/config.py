"""Which store a process uses when it is not told: one store per project.

Every face (the magics in a kernel started in ``notebooks/sub/``, the CLI in the project
root, the Jupyter server) asks :func:`resolve_store_root` and so finds the same store:

1. ``$NBMODELS_HOME`` when it is set;
2. else, looking upward from the working folder, the first folder that has either a
   ``pyproject.toml`` with a ``[tool.nbmodels]`` table (``store = "path"``, relative to
   that file; ``models`` when the table names none) or a ``models/`` folder laid out like
   a store (it has ``metadata/`` or ``registry/``). The look stops at the repository root
   (a folder with ``.git``), so a stray ``~/models`` never captures another project;
3. else ``./models`` in the working folder (created by the first save).

Shared layer: imports nothing but :mod:`nbmodels.errors`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import NBModelsError

__all__ = ["PYPROJECT_TABLE", "STORE_MARKERS", "is_store", "resolve_store_root"]

#: Sub-folders whose presence makes a folder a store (the record folder, the index, and
#: the artifacts of a store made by hand, which rebuild-index adopts).
STORE_MARKERS = ("metadata", "registry", "trained")
#: The ``pyproject.toml`` table that names a project's store.
PYPROJECT_TABLE = "tool.nbmodels"
_DEFAULT = "models"
_PYPROJECT_MAX_BYTES = 1 << 20


def is_store(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder laid out like a store (has ``metadata/``, ``registry/``
    or ``trained/``)."""
    folder = Path(path)
    return folder.is_dir() and any((folder / m).is_dir() for m in STORE_MARKERS)


def _pyproject_store(pyproject: Path) -> Path | None:
    """The store a ``pyproject.toml`` names in ``[tool.nbmodels]``, or None without the table."""
    try:
        if pyproject.stat().st_size > _PYPROJECT_MAX_BYTES:
            return None
        raw = pyproject.read_bytes()
    except OSError:
        return None
    if b"nbmodels" not in raw:  # most projects: no need to parse
        return None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        table = tomllib.loads(raw.decode("utf-8")).get("tool", {}).get("nbmodels")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NBModelsError(f"cannot read {pyproject}: {exc}; fix the file, or set "
                            f"$NBMODELS_HOME to choose the store") from None
    if table is None:
        return None
    store = table.get("store", _DEFAULT) if isinstance(table, dict) else None
    if not isinstance(store, str) or not store.strip():
        raise NBModelsError(f"[{PYPROJECT_TABLE}] store in {pyproject} must be a folder path "
                            f"as a string, e.g. store = \"models\"")
    return (pyproject.parent / Path(store).expanduser()).absolute()


def resolve_store_root(start: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The default store root and why it was chosen, looking upward from ``start``.

    ``start`` defaults to the working folder. Returns ``(root, reason)``; ``reason`` is
    one line a face can show (``%nbmodels_store``, ``nbmodels store``, the server log).
    """
    home = os.environ.get("NBMODELS_HOME")
    if home:
        if "://" in home:  # a remote store (s3://bucket/prefix): kept as the URL it is
            return home, "from $NBMODELS_HOME"  # type: ignore[return-value]
        return Path(home).expanduser().absolute(), "from $NBMODELS_HOME"
    begin = Path(start if start is not None else os.getcwd()).expanduser().absolute()
    for folder in (begin, *begin.parents):
        named = _pyproject_store(folder / "pyproject.toml")
        if named is not None:
            return named, f"[{PYPROJECT_TABLE}] store in {folder / 'pyproject.toml'}"
        if is_store(folder / _DEFAULT):
            where = "in the working folder" if folder == begin else f"found upward from {begin}"
            return folder / _DEFAULT, f"the project's store, {where}"
        if (folder / ".git").exists():
            break
    return begin / _DEFAULT, f"default ./models: no store found from {begin} upward"
