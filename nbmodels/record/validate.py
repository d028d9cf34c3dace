"""Checking a record once, where it is read: is this ``metadata.json`` usable at all?

A store is plain files that anyone with write access can edit, and stores are passed
around as folders. A record that is not what nbmodels writes must affect *its* version
only, and be reported by ``verify`` with the reason. Two degrees:

- :func:`unusable_record`: the record cannot stand for its version at all (nesting
  no reader expects, text that UTF-8 cannot hold, not an object, another model's name
  or version in a record with file hashes, a format nbmodels could not load by). The
  registry refuses such a record where it reads it: the version is damaged,
  ``latest`` falls back past it, reading it is an error that names the file and the
  reason.
- :func:`check_record`: every problem, also a descriptive field of the wrong type
  (``"tags": {...}``, ``"size_bytes": "big"``, ``"files": {...}``): the version stays
  readable (every reader takes such fields as absent, and ``load`` refuses bad file
  entries itself), ``list`` notes it and ``verify`` reports it.

NaN, Infinity, oversized files and special files are refused before parsing (see
:meth:`nbmodels.store.registry.Registry.load_record`).

Only the fields nbmodels itself reads are checked; keys a user added are kept as
they are. Absent and ``null`` fields are fine (hand-written records leave most out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .record import bad_file_entry

__all__ = ["MAX_DEPTH", "RECORD_FIELDS", "check_record", "text_fields_as_text",
           "unusable_record"]

#: Fields without which a record cannot stand for its version: who it is, and how to
#: load it. A wrong type here makes the version damaged; elsewhere it is reported.
IDENTITY_FIELDS = ("model_name", "version", "format", "format_info")

#: Deeper nesting than any record nbmodels writes (the estimator tree of a pipeline of
#: pipelines is a few levels): beyond it a record is refused before a reader recurses.
MAX_DEPTH = 64

_TEXT = (str,)
_NUMBER = (int, float)
# field -> (what it must be, the words for the message)
RECORD_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    **{key: (_TEXT, "a string") for key in (
        "model_name", "version", "description", "created_at", "updated_at", "author",
        "framework", "framework_version", "python_version", "training_dataset", "format",
        "format_extra", "format_module", "origin", "content_hash", "model_class",
        "estimator_type", "version_reason", "adopted_at", "platform",
        "python_implementation")},
    **{key: ((dict,), "an object") for key in (
        "hyperparameters", "metrics", "lineage", "environment", "architecture",
        "format_info", "evaluations", "metrics_source", "load_check")},
    **{key: ((int,), "a non-negative integer") for key in (
        "size_bytes", "schema_version", "n_features")},
    "files": ((list,), "a list of file entries"),
    "features": ((list,), "a list of feature names"),
    "classes": ((list,), "a list of class labels"),
    "tags": ((list, str), "a list of strings"),
    "target": ((str, list), "a string or a list of strings"),
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _field_problem(key: str, value: Any) -> str | None:
    kinds, words = RECORD_FIELDS[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"{key} is {_shown(value)}, expected {words}"
    if words == "a non-negative integer" and value < 0:
        return f"{key} is {value}, expected {words}"
    if key == "files":
        return bad_file_entry(value)
    if key in ("tags", "target") and isinstance(value, list) and not all(
            isinstance(v, str) for v in value):
        return f"{key} is {_shown(value)}, expected {words}"
    if key in ("features", "classes") and not all(
            isinstance(v, (str, *_NUMBER)) or v is None for v in value):
        return f"{key} is {_shown(value)}, expected {words}"
    return None


def _shape_problem(data: Any) -> str | None:
    """Nesting deeper than :data:`MAX_DEPTH`, or text that is not valid Unicode (a lone
    surrogate, which JSON's ``\\ud800`` escapes can carry but UTF-8 cannot encode).
    Walked without recursion, so a hostile record cannot exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"holds text that is not valid Unicode ({_shown(value)})"
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                return f"is nested more than {MAX_DEPTH} levels deep"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth + 1))
                stack.append((item, depth + 1))
    return None


def _problems(data: Any, name: str | None, version: str | None) -> list[tuple[bool, str]]:
    """``(unusable, words)`` for each problem of ``data`` as ``name@version``'s record."""
    if not isinstance(data, Mapping):
        return [(True, f"is {type(data).__name__}, not a JSON object")]
    shape = _shape_problem(data)
    if shape:
        return [(True, shape)]
    problems = []
    for key in RECORD_FIELDS:
        value = data.get(key)
        if value is not None:
            problem = _field_problem(key, value)
            if problem:
                problems.append((key in IDENTITY_FIELDS, problem))
    # A record with file hashes must be its folder's; a hand-made one without them (not
    # adopted yet: it cannot be loaded) may say what its author called the version, which
    # adoption keeps as original_version.
    adopted = bool(data.get("files"))
    for key, expected in (("model_name", name), ("version", version)):
        value = data.get(key)
        if expected is not None and isinstance(value, str) and value != expected:
            problems.append((adopted, f"{key} is {_shown(value)} but the folder is for "
                                      f"{expected!r}"))
    return problems


def check_record(data: Any, name: str | None = None, version: str | None = None) -> list[str]:
    """Everything wrong with ``data`` as the record of ``name@version`` (empty if sound).

    ``data`` is what JSON parsing gave. Checked: it is an object; its nesting and text
    (:func:`_shape_problem`); the type of every field nbmodels reads
    (:data:`RECORD_FIELDS`; ``files`` entry by entry); and that ``model_name`` and
    ``version``, when present, are the folder's.
    """
    return [words for _, words in _problems(data, name, version)]


def unusable_record(data: Any, name: str | None = None,
                    version: str | None = None) -> list[str]:
    """The problems of :func:`check_record` that make ``data`` unable to stand for its
    version (shape, text, identity and format fields); empty if it is usable."""
    return [words for unusable, words in _problems(data, name, version) if unusable]


def text_fields_as_text(data: dict[str, Any]) -> dict[str, Any]:
    """A hand-written record with numbers where text belongs (``"created_at":
    1700000000``, ``"tags": [1, 2]``, ``"description": 5``) made to hold their text, as
    adoption does once when it writes the full record; anything else is left as it is
    (and :func:`check_record` says what is wrong with it)."""
    out = dict(data)
    for key, (kinds, _) in RECORD_FIELDS.items():
        value = out.get(key)
        if kinds == _TEXT and isinstance(value, _NUMBER) and not isinstance(value, bool):
            out[key] = str(value)
    for key in ("tags", "target"):
        value = out.get(key)
        if isinstance(value, list) and all(isinstance(v, (str, *_NUMBER)) for v in value):
            out[key] = [str(v) for v in value]
    return out
