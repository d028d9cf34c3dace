"""Model formats: the interface, the built-in formats and the lookup.

A format is a :class:`ModelFormat` subclass. Built-ins are registered here; plugins
register with :func:`register_format` or through the ``nbmodels.formats`` entry-point
group, which is read the first time a format is looked up.
"""

from __future__ import annotations

from typing import Any

from ..errors import NBModelsError
from .base import ArtifactSink, ArtifactSource, ModelFormat
from .pickled import JoblibFormat, PickleFormat

__all__ = [
    "ArtifactSink",
    "ArtifactSource",
    "ModelFormat",
    "format_for",
    "get_format",
    "list_formats",
    "register_format",
]

_FORMATS: dict[str, ModelFormat] = {}
_entry_points_loaded = False


def register_format(fmt: ModelFormat | type[ModelFormat], *, replace: bool = False) -> ModelFormat:
    """Make ``fmt`` (an instance or a subclass of :class:`ModelFormat`) available by name."""
    if isinstance(fmt, type):
        fmt = fmt()
    if not isinstance(fmt, ModelFormat) or not fmt.name or not fmt.artifacts:
        raise TypeError("a format must be a ModelFormat with a name and its artifact names")
    if fmt.name in _FORMATS and not replace and type(_FORMATS[fmt.name]) is not type(fmt):
        raise ValueError(f"a format named {fmt.name!r} is already registered; "
                         f"pass replace=True to override it")
    _FORMATS[fmt.name] = fmt
    return fmt


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="nbmodels.formats"):
        try:
            register_format(ep.load())
        except Exception as exc:  # a broken plugin must not break the store
            import warnings

            warnings.warn(f"nbmodels format plugin {ep.name!r} failed to load: {exc}",
                          stacklevel=2)


def list_formats() -> list[ModelFormat]:
    """Every registered format, built-ins first."""
    _load_entry_points()
    return list(_FORMATS.values())


def get_format(name: str) -> ModelFormat:
    """The format called ``name``, or an error listing the known ones."""
    _load_entry_points()
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise NBModelsError(f"unknown model format {name!r}; known formats: {known}") from None


def format_for(model: Any) -> ModelFormat:
    """The format that claims ``model`` most strongly (joblib for anything picklable)."""
    best, score = None, 0
    for fmt in list_formats():
        s = fmt.claims(model)
        if s > score:
            best, score = fmt, s
    if best is None:
        raise NBModelsError(f"no format can store a {type(model).__name__}; pass format=...")
    return best


register_format(JoblibFormat)
register_format(PickleFormat)
