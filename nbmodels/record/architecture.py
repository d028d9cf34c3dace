"""The architecture of a model, as text for the record and as scikit-learn's diagram.

The text is a tree of Pipeline / ColumnTransformer / meta-estimator steps, with the
columns each transformer sees and the fitted sizes that matter (trees, depth, nodes,
coefficient shapes); ``str(module)`` for torch; the class name otherwise. The diagram
is scikit-learn's own HTML, embedded in the model card.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["architecture_of", "diagram_html", "is_estimator"]


def is_estimator(value: Any) -> bool:
    """A scikit-learn-style estimator instance (it has ``get_params``)."""
    return not isinstance(value, type) and callable(getattr(value, "get_params", None))


def _one_line(est: Any, width: int = 110) -> str:
    try:
        text = " ".join(repr(est).split())
    except Exception:  # a repr that fails (scikit-learn's calls get_params) must not stop a save
        text = type(est).__name__
    return text if len(text) <= width else text[:width - 3] + "..."


def _children(est: Any) -> list[tuple[str, Any, Any]]:
    """Named sub-estimators of a composite, with the columns they see (or ``None``)."""
    cls = type(est).__name__
    if hasattr(est, "steps") and isinstance(est.steps, list):
        return [(n, s, None) for n, s in est.steps]
    if cls == "ColumnTransformer":
        rows = getattr(est, "transformers_", None) or est.transformers
        return [(n, t, cols) for n, t, cols in rows]
    if hasattr(est, "transformer_list"):
        return [(n, t, None) for n, t in est.transformer_list]
    params = est.get_params(deep=False) if is_estimator(est) else {}
    kids: list[tuple[str, Any, Any]] = []
    for key in ("estimator", "base_estimator", "final_estimator", "regressor", "classifier"):
        if is_estimator(params.get(key)):
            kids.append((key, params[key], None))
    if isinstance(params.get("estimators"), list):
        kids += [(n, e, None) for n, e in params["estimators"] if isinstance(n, str)]
    return kids


def _fitted_facts(est: Any) -> str:
    parts = []
    fitted = getattr(est, "estimators_", None)
    if isinstance(fitted, list) and fitted:
        trees = [getattr(e, "tree_", None) for e in fitted]
        if all(t is not None for t in trees):
            depth = max(t.max_depth for t in trees)
            nodes = sum(t.node_count for t in trees)
            parts.append(f"{len(trees)} trees, depth <= {depth}, {nodes:,} nodes")
        else:
            parts.append(f"{len(fitted)} fitted estimators")
    tree = getattr(est, "tree_", None)
    if tree is not None and hasattr(tree, "node_count"):
        parts.append(f"depth {tree.max_depth}, {tree.node_count:,} nodes")
    coef = getattr(est, "coef_", None)
    if getattr(coef, "shape", None):
        parts.append(f"coef_ {tuple(coef.shape)}")
    return "; ".join(parts)


def _tree_lines(est: Any, label: str, prefix: str, last: bool, root: bool,
                lines: list[str]) -> None:
    kids = _children(est) if is_estimator(est) else []
    text = type(est).__name__ if kids else (_one_line(est) if is_estimator(est) else repr(est))
    facts = _fitted_facts(est) if is_estimator(est) else ""
    head = f"{label}: {text}" if label else text
    if facts:
        head += f"  [{facts}]"
    lines.append(head if root else f"{prefix}{'└── ' if last else '├── '}{head}")
    inner = "" if root else prefix + ("    " if last else "│   ")
    for i, (name, sub, cols) in enumerate(kids):
        sub_label = name
        if cols is not None and not isinstance(cols, str):
            shown = [str(c) for c in list(cols)[:8]]
            more = f", +{len(cols) - 8}" if len(cols) > 8 else ""
            sub_label = f"{name} {shown}{more}".replace("'", "")
        elif isinstance(cols, str):
            sub_label = f"{name} [{cols}]"
        _tree_lines(sub, sub_label, inner, i == len(kids) - 1, False, lines)


def architecture_of(model: Any) -> dict[str, Any]:
    """The model's structure as text: a tree of Pipeline / ColumnTransformer steps with
    their columns and fitted sizes, ``str(module)`` for torch, the class otherwise."""
    cls = type(model)
    arch: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if is_estimator(model):
        lines: list[str] = []
        try:
            _tree_lines(model, "", "", True, True, lines)
        except Exception:  # an odd third-party estimator must not stop a save
            lines = [_one_line(model)]
        arch["text"] = "\n".join(lines)
    elif cls.__module__.startswith("torch") or any(
            c.__module__.startswith("torch.nn") for c in cls.__mro__[1:]):
        text = str(model).splitlines()
        arch["text"] = "\n".join(text[:200] + (["..."] if len(text) > 200 else []))
        count = getattr(model, "parameters", None)
        if callable(count):
            arch["parameters"] = int(sum(p.numel() for p in count()))
    else:
        arch["text"] = cls.__qualname__
    return arch


def _no_fitted_attributes(doc_link: str = "") -> dict[str, Any]:
    return {}


def _shadow(est: Any, memo: dict[int, Any]) -> Any:
    """A shallow stand-in for ``est`` (and the estimators inside it) for drawing only:
    same class, same attribute values, no fitted-attribute table."""
    if id(est) in memo:
        return memo[id(est)]
    attrs = getattr(est, "__dict__", None)
    if not is_estimator(est) or not isinstance(attrs, dict):
        return est
    copy = object.__new__(type(est))
    memo[id(est)] = copy
    inner = {}
    for key, value in attrs.items():
        if is_estimator(value):
            inner[key] = _shadow(value, memo)
        elif isinstance(value, (list, tuple)) and any(
                is_estimator(v) or isinstance(v, tuple) for v in value[:1000]):
            items = [tuple(_shadow(x, memo) for x in v) if isinstance(v, tuple)
                     else _shadow(v, memo) for v in value]
            inner[key] = items if isinstance(value, list) else tuple(items)
        else:
            inner[key] = value
    copy.__dict__.update(inner)
    copy.__dict__["_get_fitted_attr_html"] = _no_fitted_attributes
    return copy


def diagram_html(model: Any) -> str | None:
    """scikit-learn's interactive HTML diagram of an estimator (``None`` for others).

    The diagram shows structure and parameters. scikit-learn would also list every
    fitted attribute's value, found by evaluating every property of every estimator
    (0.4 s for a 100-tree forest, which recomputes its bootstrap samples); the record
    already holds what matters of those. So the diagram is drawn from shallow stand-ins
    without that table, which also leaves the model itself untouched: it can be drawn
    in a thread while the model is being pickled.
    """
    if "sklearn" not in sys.modules or not is_estimator(model):
        return None
    try:
        from sklearn.utils import estimator_html_repr

        return estimator_html_repr(_shadow(model, {}))
    except Exception:
        return None
