"""Interactive panels for the notebook (ipywidgets 8, no custom JavaScript).

- :class:`ModelBrowser`: every model, its versions, a version's record and plots; load,
  alias, edit, delete.
- :class:`CompareVersions`: versions side by side: metrics with deltas, what differs,
  curves, metrics over versions; evaluate them all on the same data.
- :class:`EvaluationPanel`: a model's evaluation with a live decision threshold.
- :class:`SaveModelForm`: save a model with the suggested version and why.

Each panel is an ``ipywidgets.VBox`` that owns its controls and one store, reads and
writes only through the public API, has ``refresh()``, and can be driven from Python
(``panel.some_control.value = ...``, ``panel.some_button.click()``).
"""

from __future__ import annotations

import typing as _typing

__all__ = ["CompareVersions", "EvaluationPanel", "ModelBrowser", "SaveModelForm"]

_LAZY = {"ModelBrowser": "browser", "CompareVersions": "compare",
         "EvaluationPanel": "evaluation", "SaveModelForm": "save_form"}

if _typing.TYPE_CHECKING:
    from .browser import ModelBrowser
    from .compare import CompareVersions
    from .evaluation import EvaluationPanel
    from .save_form import SaveModelForm


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbmodels.widgets' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
