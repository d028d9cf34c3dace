"""Which semantic-version part a new save should bump, and why.

The rule compares the new record with the latest version's:

- ``major``: the model's interface changed, so code that calls it may break: its
  estimator class or type, its features (names or count), their dtypes, its classes,
  or its target.
- ``minor``: same interface, different hyper-parameters.
- ``patch``: same interface and hyper-parameters; only the learned weights (or the
  training data) changed.
- ``minor`` too for objects with nothing to compare (no ``get_params``, features or
  classes), where weights cannot be told from settings.

The record keeps the part, the rule that chose it and the changes it saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bump", "choose_bump", "suggest_bump"]

_MAX_SHOWN = 4


@dataclass
class Bump:
    """A suggested bump: the part, the rule that chose it, and what changed."""

    part: str
    rule: str
    changes: list[str] = field(default_factory=list)

    def reason(self, previous_version: str) -> str:
        detail = f" ({'; '.join(self.changes)})" if self.changes else ""
        return f"{self.part} bump from {previous_version}: {self.rule}{detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"part": self.part, "rule": self.rule, "changes": list(self.changes)}


def _shown(items: list[str]) -> str:
    head = ", ".join(items[:_MAX_SHOWN])
    return head + (f", +{len(items) - _MAX_SHOWN} more" if len(items) > _MAX_SHOWN else "")


def _feature_dtypes(record: Mapping[str, Any]) -> dict[str, str] | None:
    data = (record.get("lineage") or {}).get("data") or {}
    x = data.get("X") or {}
    if isinstance(x.get("dtypes"), Mapping):
        return dict(x["dtypes"])
    return None


def _interface_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    changes = []
    if old.get("model_class") and old.get("model_class") != new.get("model_class"):
        changes.append(f"estimator {str(old['model_class']).rsplit('.', 1)[-1]} -> "
                       f"{str(new.get('model_class')).rsplit('.', 1)[-1]}")
    if old.get("estimator_type") != new.get("estimator_type") and old.get("estimator_type"):
        changes.append(f"estimator type {old['estimator_type']} -> {new.get('estimator_type')}")
    old_f, new_f = old.get("features"), new.get("features")
    if old_f is not None and new_f is not None and old_f != new_f:
        added = [f for f in new_f if f not in old_f]
        removed = [f for f in old_f if f not in new_f]
        parts = []
        if added:
            parts.append(f"added {_shown(added)}")
        if removed:
            parts.append(f"removed {_shown(removed)}")
        changes.append("features: " + (", ".join(parts) if parts else "reordered"))
    elif old.get("n_features") is not None and new.get("n_features") is not None \
            and old["n_features"] != new["n_features"]:
        changes.append(f"number of features {old['n_features']} -> {new['n_features']}")
    old_d, new_d = _feature_dtypes(old), _feature_dtypes(new)
    if old_d is not None and new_d is not None:
        retyped = [f"{c}: {old_d[c]} -> {new_d[c]}" for c in new_d
                   if c in old_d and old_d[c] != new_d[c]]
        if retyped:
            changes.append("feature dtypes: " + _shown(retyped))
    if old.get("classes") is not None and new.get("classes") is not None \
            and old["classes"] != new["classes"]:
        changes.append(f"classes {_shown([str(c) for c in old['classes']])} -> "
                       f"{_shown([str(c) for c in new['classes']])}")
    if old.get("target") is not None and new.get("target") is not None \
            and old["target"] != new["target"]:
        changes.append(f"target {old['target']} -> {new['target']}")
    return changes


def _param_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    before, after = dict(old.get("hyperparameters") or {}), dict(new.get("hyperparameters") or {})
    changed = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            changed.append(f"+{key}={after[key]!r}")
        elif key not in after:
            changed.append(f"-{key}")
        elif before[key] != after[key]:
            changed.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    return changed


def _comparable(record: Mapping[str, Any]) -> bool:
    return any(record.get(k) for k in ("hyperparameters", "features", "n_features", "classes",
                                      "estimator_type"))


def suggest_bump(previous: Mapping[str, Any], new: Mapping[str, Any]) -> Bump:
    """The bump that ``new`` deserves after ``previous`` (both records)."""
    if not (_comparable(previous) or _comparable(new)):
        # A plain object (a dict, a function): weights cannot be told from settings.
        return Bump("minor", "no estimator interface or hyper-parameters to compare; "
                    "the default")
    interface = _interface_changes(previous, new)
    if interface:
        return Bump("major", "the model's interface changed", interface)
    params = _param_changes(previous, new)
    if params:
        return Bump("minor", "hyper-parameters changed", [_shown(params)])
    old_fp = ((previous.get("lineage") or {}).get("data") or {}).get("fingerprint")
    new_fp = ((new.get("lineage") or {}).get("data") or {}).get("fingerprint")
    note = ["trained on different data"] if old_fp and new_fp and old_fp != new_fp else []
    return Bump("patch", "same interface and hyper-parameters; only the learned weights "
                "changed", note)


def choose_bump(record: dict[str, Any], previous: dict[str, Any] | None,
                latest: str | None, bump: str | None) -> tuple[str, str]:
    """The part to bump for a save after ``latest``, and the reason the record keeps.

    ``bump`` is the caller's choice, if any; otherwise :func:`suggest_bump` compares
    ``record`` with ``previous`` (the latest record). The comparison is kept in
    ``record["bump"]``.
    """
    if latest is None:
        return bump or "minor", "first version"
    if previous is None:  # the latest record is unreadable: nothing to compare with
        chosen = bump or "minor"
        return chosen, f"{chosen} bump from {latest}"
    suggestion = suggest_bump(previous, record)
    record["bump"] = {**suggestion.to_dict(), "from": latest,
                      "chosen_by": "caller" if bump else "rule"}
    if bump:
        record["bump"]["part"] = bump
        record["bump"]["suggested"] = suggestion.part
        return bump, f"{bump} bump from {latest}"
    return suggestion.part, suggestion.reason(latest)
