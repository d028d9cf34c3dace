"""The model card: a human-readable ``model_card.md`` written beside each record."""

from __future__ import annotations

import json
from typing import Any

from .records import format_size

__all__ = ["model_card"]


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"## {title}", "", *lines, ""] if lines else []


def model_card(record: dict[str, Any]) -> str:
    """Markdown documentation of one version, filled only from what the record knows."""
    name, version = record.get("model_name", "?"), record.get("version", "?")
    out = [f"# {name} {version}", ""]
    if record.get("description"):
        out += [str(record["description"]), ""]
    facts = [
        ("Created", record.get("created_at")),
        ("Author", record.get("author")),
        ("Framework", " ".join(str(x) for x in (record.get("framework"),
                                                 record.get("framework_version")) if x)),
        ("Model class", record.get("model_class")),
        ("Format", record.get("format")),
        ("Size", format_size(record.get("size_bytes")) if record.get("size_bytes") else None),
        ("Python", record.get("python_version")),
        ("Training data", record.get("training_dataset")),
        ("Target", record.get("target")),
        ("Tags", ", ".join(record.get("tags") or [])),
        ("Why this version", record.get("version_reason")),
    ]
    out += _section("Summary", [f"- **{k}**: {v}" for k, v in facts if v])
    metrics = record.get("metrics") or {}
    out += _section("Metrics", [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                                for k, v in metrics.items() if not isinstance(v, (dict, list))])
    if metrics:
        idx = out.index("## Metrics") + 2
        out[idx:idx] = ["| metric | value |", "|---|---|"]
    feats = record.get("features") or []
    out += _section("Features", [f"{len(feats)} features: " + ", ".join(map(str, feats))]
                    if feats else [])
    params = record.get("hyperparameters") or {}
    out += _section("Hyper-parameters", ["```json", json.dumps(params, indent=2,
                                                                 sort_keys=True), "```"]
                    if params else [])
    files = record.get("files") or []
    out += _section("Files", [f"- `{f['name']}`: {format_size(f['size'])}, sha256 `{f['sha256']}`"
                              for f in files])
    return "\n".join(out).rstrip() + "\n"
