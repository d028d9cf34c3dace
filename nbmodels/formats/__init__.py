"""Model formats: the interface, the built-in formats and the lookup.

A format is a :class:`ModelFormat` subclass. Built-ins are registered here (joblib,
pickle, skops, onnx, torch, keras, tf_saved_model); plugins register with
:func:`register_format` or through the ``nbmodels.formats`` entry-point group, which is
read the first time a format is looked up. See ``docs/formats.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .. import errors as _errors
from .base import ArtifactSink, ArtifactSource, ModelFormat
from .keras_format import KerasFormat
from .onnx_format import OnnxFormat
from .pickled import JoblibFormat, PickleFormat
from .skops_format import SkopsFormat
from .tensorflow_format import SavedModelFormat
from .torch_format import TorchFormat

if _TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "ArtifactSink",
    "ArtifactSource",
    "JoblibFormat",
    "KerasFormat",
    "ModelFormat",
    "OnnxFormat",
    "PickleFormat",
    "SavedModelFormat",
    "SkopsFormat",
    "TorchFormat",
    "format_for",
    "format_for_record",
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
        raise _errors.NBModelsError(f"unknown model format {name!r}; known formats: "
                                    f"{known}") from None


def format_for_record(record: Mapping[str, Any]) -> ModelFormat:
    """The format a saved version needs, or an error saying what to install for it."""
    name = record.get("format") or "joblib"
    _load_entry_points()
    if name in _FORMATS:
        return _FORMATS[name]
    extra, module = record.get("format_extra"), record.get("format_module")
    if extra:
        hint = f"pip install nbmodels[{extra}]"
    elif module:
        hint = f"install the plugin that provides the module {module.split('.')[0]!r}"
    else:
        hint = "install the plugin that provides it"
    raise _errors.FormatUnavailableError(
        f"{record.get('model_name')}@{record.get('version')} was saved in format {name!r}, "
        f"which is not available here; {hint}")


def format_for(model: Any) -> ModelFormat:
    """The format that claims ``model`` most strongly (joblib for anything picklable)."""
    best, score = None, 0
    for fmt in list_formats():
        s = fmt.claims(model)
        if s > score:
            best, score = fmt, s
    if best is None:
        raise _errors.NBModelsError(f"no format can store a {type(model).__name__}; pass "
                                    f"format=...", options=("format",))
    return best


# Built-ins, in the order rebuild-index tries them on a hand-made folder. Each module
# imports its library inside save/load, so registering them costs nothing.
for _builtin in (JoblibFormat, PickleFormat, SkopsFormat, OnnxFormat, TorchFormat,
                 KerasFormat, SavedModelFormat):
    register_format(_builtin)
del _builtin
