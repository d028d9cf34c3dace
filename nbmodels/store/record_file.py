"""A version's ``metadata.json`` as the store reads it.

Where the record (the commit point) of a version lives; reading it, checked once here
for every reader above (:class:`DamagedRecord` when it is there but cannot be used);
and :func:`summarize`, the part of a record that listings and the index show.
"""

from __future__ import annotations

import json
from typing import Any

from ..record.metric_names import measured_on
from ..record.record import HEADLINE_METRICS, record_tags
from ..record.validate import unusable_record
from ..storage.backend import MAX_SMALL_FILE, StorageBackend
from ..storage.layout import METADATA, METADATA_FILE, version_dir

__all__ = [
    "MAX_RECORD_BYTES",
    "DamagedRecord",
    "checked_summary",
    "load_record",
    "record_path",
    "summarize",
]

#: A record larger than this is damaged (or hostile): reading it must stay cheap.
MAX_RECORD_BYTES = MAX_SMALL_FILE


class DamagedRecord(Exception):
    """A version's ``metadata.json`` is there but cannot be used as its record.

    ``kind`` is ``"special_file"`` (a FIFO, socket, device or link in its place) or
    ``"invalid_metadata"`` (too large, not JSON, NaN, too deep, wrong types, a
    ``model_name``/``version`` that is not its folder's); ``reason`` says which, in
    words that follow the file's name.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason



def record_path(name: str, version: str) -> str:
    """Where the record (the commit point) of a version lives."""
    return f"{METADATA}/{version_dir(name, version)}/{METADATA_FILE}"


def load_record(fs: StorageBackend, name: str, version: str) -> dict[str, Any] | None:
    """The record of a version, checked once here for every reader above.

    ``None`` when there is no ``metadata.json``; :class:`DamagedRecord` when there
    is one that cannot be used (only a regular file of at most
    :data:`MAX_RECORD_BYTES` is read, never blocking; then
    :func:`~nbmodels.record.validate.unusable_record`). A record returned may still
    have descriptive fields of the wrong type
    (:func:`~nbmodels.record.validate.check_record` says which).
    """
    path = record_path(name, version)
    info = fs.stat(path)
    if info is None:
        return None
    if info.kind != "file":
        raise DamagedRecord("special_file", f"is {info.what or 'not a regular file'}, "
                            f"not a regular file; the store never reads it")
    if info.size > MAX_RECORD_BYTES:
        raise DamagedRecord("invalid_metadata", f"is {info.size:,} bytes, more than "
                            f"the {MAX_RECORD_BYTES >> 20} MiB a record may have")
    try:
        data = fs.read_json(path, limit=MAX_RECORD_BYTES)
    except FileNotFoundError:
        return None  # deleted since the stat
    except OSError as exc:  # replaced by a special file since the stat
        raise DamagedRecord("special_file", exc.strerror or str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise DamagedRecord("invalid_metadata", _json_problem(exc)) from None
    problems = unusable_record(data, name, version)
    if problems:
        raise DamagedRecord("invalid_metadata", "; ".join(problems[:3]))
    return data  # (other problems: see check_record; verify and list report them)


_SUMMARY_TEXT = ("version", "created_at", "format", "framework", "description", "measured_on")

def checked_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A stored summary as it is when every field has the type :func:`summarize` gives
    it (the common case, checked cheaply: listings read one per model), else rebuilt."""
    size, tags, metrics = summary.get("size_bytes"), summary.get("tags"), summary.get("metrics")
    if (all(isinstance(summary.get(k), (str, type(None))) for k in _SUMMARY_TEXT)
            and (size is None or (type(size) is int))
            and isinstance(tags, list) and all(type(t) is str for t in tags)
            and isinstance(metrics, dict)
            and all(type(v) in (int, float) and v == v and abs(v) != float("inf")
                    for v in metrics.values())):
        return summary
    return summarize(summary)


def _json_problem(exc: BaseException) -> str:
    """Why a file is not usable JSON, in words that follow its name."""
    text = str(exc)
    if isinstance(exc, RecursionError):
        return "is nested too deeply to be parsed"
    if isinstance(exc, UnicodeDecodeError):
        return f"is not UTF-8 text ({text})"
    if text.startswith(("holds ", "is ")):
        return text
    return f"is invalid JSON ({text})"


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a record that listings show (a damaged field shows as absent)."""
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    headline = {k: metrics[k] for k in HEADLINE_METRICS
                if isinstance(metrics.get(k), (int, float)) and not isinstance(metrics[k], bool)
                and metrics[k] == metrics[k] and abs(metrics[k]) != float("inf")}
    size = record.get("size_bytes")

    def text(key: str) -> str | None:
        value = record.get(key)
        return value if isinstance(value, str) else None

    summary = {
        "version": text("version"),
        "created_at": text("created_at") if text("created_at") is not None
        else (str(record["created_at"]) if record.get("created_at") is not None else None),
        "size_bytes": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "format": text("format"),
        "framework": text("framework"),
        "description": text("description"),
        "tags": record_tags(record.get("tags")),
        "metrics": headline,
        # Which data the headline numbers were measured on (evaluate's metrics_source).
        "measured_on": measured_on(record) if headline else None,
    }
    json.dumps(summary, allow_nan=False)
    return summary
