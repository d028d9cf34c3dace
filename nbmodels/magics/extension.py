"""The IPython extension hooks: ``%load_ext nbmodels`` and ``%unload_ext nbmodels``.

:func:`load_ipython_extension` registers :class:`~nbmodels.magics.ModelMagics`, its config
object and its completer on a shell; :func:`unload_ipython_extension` removes exactly
those again.
"""

from __future__ import annotations

import weakref
from typing import Any

from .completion import completion_matcher
from .model_magics import ModelMagics

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


_MAGIC_NAMES = ("save_model", "load_model", "evaluate", "models", "model_info",
                "compare_models", "model_alias", "nbmodels_store", "model_edit")


# The magics and completer each shell loaded, so that unloading removes exactly those.
_LOADED: weakref.WeakKeyDictionary[Any, tuple[ModelMagics, Any]] = weakref.WeakKeyDictionary()


def load_ipython_extension(ipython: Any) -> None:
    """Register :class:`ModelMagics` and its completer on ``ipython``."""
    magics = ModelMagics(ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    completer = getattr(ipython, "Completer", None)
    matcher = None
    if completer is not None:
        matcher = completion_matcher(magics)
        completer.custom_matchers.append(matcher)
    _LOADED[ipython] = (magics, matcher)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics, their completer and their config object again."""
    magics, matcher = _LOADED.pop(ipython, (None, None))
    line = ipython.magics_manager.magics["line"]
    for name in _MAGIC_NAMES:
        if getattr(line.get(name), "__self__", None) is magics:
            del line[name]
    registry = ipython.magics_manager.registry
    registry.pop(ModelMagics.__name__, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    completer = getattr(ipython, "Completer", None)
    if completer is not None and matcher in completer.custom_matchers:
        completer.custom_matchers.remove(matcher)
