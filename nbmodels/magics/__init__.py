"""IPython magics: the notebook face of the store and the evaluation core.

``%load_ext nbmodels`` (or ``nbmodels.magics``) registers :class:`ModelMagics`. The
package holds one concern a module: ``model_magics.py`` (the magics: parse a line, call
the core, return what displays itself), ``displays.py`` (the objects the magics return),
``completion.py`` (comments in a magic's line, and completing its arguments) and
``extension.py`` (the load and unload hooks).
"""

from __future__ import annotations

from .extension import load_ipython_extension, unload_ipython_extension
from .model_magics import ModelMagics

__all__ = ["ModelMagics", "load_ipython_extension", "unload_ipython_extension"]
