"""Which semantic-version part a new save should bump, and why.

The rule compares the new record with the latest version's:

- ``major``: the model's interface changed, so code that calls it may break: its
  estimator class or type, its features (names or count), their dtypes, its classes,
  or its target.
- ``minor``: same interface, different hyper-parameters.
- ``patch``: same interface and hyper-parameters; the reason then says only what is
  known to have changed: "the learned weights changed" when the artifact hashes differ,
  "stored in another format" when the format did, "trained on different data" when a
  training-data fingerprint was recorded on both sides and differs. Identical model
  bytes are not a new version at all (the save returns the existing one), unless the
  caller forces it, and then the reason says so.
- ``minor`` too for objects with nothing to compare (no ``get_params``, features or
  classes), where weights cannot be told from settings.

The artifact hashes are known only once the model is serialized, after the version was
chosen: :func:`choose_bump` picks the part (which the hashes never change) and
:func:`settle_bump` writes the final reason.

The record keeps the part, the rule that chose it and the changes it saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .record import record_tags

__all__ = ["Bump", "choose_bump", "save_differences", "settle_bump", "suggest_bump"]

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


def _data_fingerprints(record: Mapping[str, Any]) -> dict[str, str]:
    """``{"X": ..., "y": ...}``: the fingerprints of the training data parts recorded."""
    data = (record.get("lineage") or {}).get("data") or {}
    if not isinstance(data, Mapping):
        return {}
    out = {}
    for key in ("X", "y"):
        part = data.get(key)
        if isinstance(part, Mapping) and isinstance(part.get("fingerprint"), str):
            out[key] = part["fingerprint"]
    return out


def _trained_on_different_data(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """A part (X or y) recorded on both sides with different fingerprints; a part left
    out on either side says nothing."""
    before, after = _data_fingerprints(old), _data_fingerprints(new)
    return any(before[k] != after[k] for k in before.keys() & after.keys())


def _artifact_hashes(record: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    files = record.get("files")
    if not isinstance(files, list) or not files:
        return None
    return sorted((str(f.get("name")), str(f.get("sha256"))) for f in files
                  if isinstance(f, Mapping))


def _weights_rule(previous: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What is known about the model's bytes, for a patch (same interface and settings)."""
    base = "same interface and hyper-parameters"
    new_files = _artifact_hashes(new)
    if new_files is None:
        return base  # not serialized yet: settle_bump completes the reason
    if previous.get("format") and new.get("format") and previous["format"] != new["format"]:
        return f"{base}; stored in another format ({previous['format']} -> {new['format']})"
    old_files = _artifact_hashes(previous)
    if old_files is None:
        return f"{base}; the previous version records no artifact hashes to compare with"
    if old_files != new_files:
        return f"{base}; the learned weights changed"
    return "same interface, hyper-parameters and model bytes; saved again on request"


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
    note = ["trained on different data"] if _trained_on_different_data(previous, new) else []
    return Bump("patch", _weights_rule(previous, new), note)


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


def settle_bump(record: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Complete the bump reason once ``record`` has its artifact ``files``.

    Only the explanation can change (what is known about the bytes); the part chosen
    before serializing stays, so the version number stays right.
    """
    bump = record.get("bump")
    if previous is None or not isinstance(bump, dict) or "from" not in bump:
        return
    suggestion = suggest_bump(previous, record)
    bump["rule"], bump["changes"] = suggestion.rule, list(suggestion.changes)
    if bump.get("chosen_by") == "rule":
        record["version_reason"] = Bump(bump["part"], suggestion.rule,
                                        suggestion.changes).reason(bump["from"])


def save_differences(saved: Mapping[str, Any], given: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What a save said about a model that differs from the record it already has.

    Only what the save gave counts: an empty description, no tags or no training data
    say nothing (forgetting ``X`` is not a difference). Each entry is ``{"field",
    "given", "saved", "editable"}``; ``editable`` ones can be recorded on the saved
    version with :meth:`ModelStore.edit`.
    """
    out: list[dict[str, Any]] = []

    def note(field_name: str, given_value: Any, saved_value: Any, editable: bool) -> None:
        out.append({"field": field_name, "given": given_value, "saved": saved_value,
                    "editable": editable})

    description = given.get("description")
    if description and description != saved.get("description"):
        note("description", description, saved.get("description") or "", True)
    tags, saved_tags = record_tags(given.get("tags")), record_tags(saved.get("tags"))
    if tags and tags != saved_tags:
        note("tags", tags, saved_tags, True)
    for key in ("training_dataset", "target"):
        if given.get(key) is not None and given.get(key) != saved.get(key):
            note(key, given.get(key), saved.get(key), False)
    recorded = _data_fingerprints(saved)
    for key, fingerprint in _data_fingerprints(given).items():
        if fingerprint != recorded.get(key):
            note(f"training {key} fingerprint", fingerprint, recorded.get(key), False)
    metrics, saved_metrics = given.get("metrics") or {}, saved.get("metrics") or {}
    changed = {k: v for k, v in metrics.items() if saved_metrics.get(k) != v} \
        if isinstance(metrics, Mapping) and isinstance(saved_metrics, Mapping) else {}
    if changed:
        note("metrics", changed, {k: saved_metrics.get(k) for k in changed}, False)
    return out
