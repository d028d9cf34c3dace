"""Retention and size: prune old versions, report disk usage, warn about large saves.

:func:`prune` never deletes a version that an alias points to, that carries the ``keep``
tag, or that is a model's latest; it plans under each model's lock and deletes through
the store's own delete (record first, then evaluations and artifacts), so a crash leaves
whole versions or orphans that ``gc`` removes. :func:`disk_usage` measures what each
version occupies. :func:`size_warning` tells a save that made a version larger than a
threshold, or much larger than the one before, with the remedy that fits the model.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

from ..display import format_size, parse_tags, text_table
from ..errors import NBModelsError
from ..storage.layout import EVALUATION, METADATA, REGISTRY, TRAINED
from .aliases import AliasFileError
from .tree import StoreTree

__all__ = [
    "DEFAULT_SIZE_GROWTH",
    "DEFAULT_SIZE_WARNING",
    "KEEP_TAG",
    "DiskUsage",
    "ModelSizeWarning",
    "PruneReport",
    "disk_usage",
    "parse_age",
    "parse_size",
    "prune",
    "size_settings",
    "size_warning",
    "warn_size",
]

KEEP_TAG = "keep"
DEFAULT_SIZE_WARNING = 100_000_000
# Growth is only worth a word once a model is big enough for its size to matter.
GROWTH_FLOOR = 1_000_000
DEFAULT_SIZE_GROWTH = 100.0  # more than doubled: a change worth a look, not routine growth
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


class ModelSizeWarning(UserWarning):
    """A saved version is larger than the store's size threshold, or grew much more than
    the previous version; the message says by how much and what would make it smaller."""


# -- settings --------------------------------------------------------------------------------


def parse_size(value: int | float | str) -> int:
    """Bytes from ``100_000_000``, ``"100MB"``, ``"1.5 GB"`` or ``"512MiB"``."""
    if isinstance(value, bool):
        raise NBModelsError(f"a size must be bytes or text such as '100MB', got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise NBModelsError(f"a size cannot be negative, got {value!r}")
        return int(value)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    if m is None or m[2].lower() not in _UNITS:
        raise NBModelsError(
            f"cannot read {value!r} as a size; write e.g. 100MB, 1.5GB or 250000000"
        )
    return int(float(m[1]) * _UNITS[m[2].lower()])


def size_settings(
    size_warning: int | str | None = None, size_growth: float | str | None = None
) -> tuple[int, float]:
    """``(bytes, percent)``: the given values, else ``$NBMODELS_SIZE_WARNING`` and
    ``$NBMODELS_SIZE_GROWTH``, else 100 MB and 100 % (doubled). ``0`` turns a check off."""
    if size_warning is None:
        size_warning = os.environ.get("NBMODELS_SIZE_WARNING") or DEFAULT_SIZE_WARNING
    if size_growth is None:
        size_growth = os.environ.get("NBMODELS_SIZE_GROWTH") or DEFAULT_SIZE_GROWTH
    try:
        growth = float(str(size_growth).strip().rstrip("%"))
    except ValueError:
        raise NBModelsError(
            f"size growth must be a percentage such as 50, got {size_growth!r}"
        ) from None
    if growth < 0:
        raise NBModelsError(f"size growth must not be negative, got {size_growth!r}")
    return parse_size(size_warning), growth


# -- size warnings at save -------------------------------------------------------------------


def _suggestion(record: dict[str, Any]) -> str:
    fmt = record.get("format")
    info = record.get("format_info") if isinstance(record.get("format_info"), dict) else {}
    params = (
        record.get("hyperparameters") if isinstance(record.get("hyperparameters"), dict) else {}
    )
    tips = []
    if fmt == "joblib" and not info.get("compress"):
        tips.append("save with compress=3 (zlib; tree ensembles often shrink 3-10x)")
    elif fmt == "joblib":
        tips.append("a stronger compression, compress=('lzma', 6)")
    elif fmt == "pickle":
        tips.append("save with format='joblib', compress=3")
    trees = [
        v
        for k, v in params.items()
        if str(k).split("__")[-1] == "n_estimators"
        and isinstance(v, int)
        and not isinstance(v, bool)
    ]
    if trees and max(trees) > 50:
        tips.append(
            f"fewer or shallower trees (n_estimators={max(trees)} now; or set "
            f"max_depth / min_samples_leaf)"
        )
    if fmt in ("joblib", "pickle") and str(record.get("framework", "")).lower() in (
        "scikit-learn",
        "sklearn",
    ):
        tips.append(
            "format='skops', compression=8 (a compressed zip that loads without running code)"
        )
    if fmt == "skops" and not info.get("compression"):
        tips.append("compression=8 (zipfile.ZIP_DEFLATED)")
    return (
        "; or ".join(tips)
        if tips
        else "check what the model keeps (training data, caches) before saving"
    )


def size_warning(
    record: dict[str, Any], previous_size: int | None, threshold: int, growth: float
) -> str | None:
    """The one-line warning for a new version of ``record``'s size, or ``None``."""
    size = record.get("size_bytes")
    if not isinstance(size, int):
        return None
    ref = f"{record.get('model_name')}@{record.get('version')}"
    what = None
    if threshold and size > threshold:
        what = f"{ref} is {format_size(size)}, over the {format_size(threshold)} threshold"
    elif (growth and previous_size and size >= GROWTH_FLOOR
          and size > previous_size * (1 + growth / 100)):
        pct = (size / previous_size - 1) * 100
        what = (
            f"{ref} is {format_size(size)}, {pct:.0f}% larger than the previous "
            f"version ({format_size(previous_size)})"
        )
    if what is None:
        return None
    return (
        f"{what}; to make it smaller: {_suggestion(record)} "
        f"(threshold: ModelStore(size_warning=...) or $NBMODELS_SIZE_WARNING)"
    )


def warn_size(
    record: dict[str, Any],
    previous_size: int | None,
    threshold: int,
    growth: float,
    *,
    stacklevel: int = 3,
) -> None:
    """Issue :class:`ModelSizeWarning` when :func:`size_warning` has something to say."""
    message = size_warning(record, previous_size, threshold, growth)
    if message:
        warnings.warn(ModelSizeWarning(message), stacklevel=stacklevel)


# -- disk usage ------------------------------------------------------------------------------


@dataclass
class DiskUsage:
    """``nbmodels du``: bytes per version (artifacts, record and card, evaluation), per
    model, and the whole store (including the registry and any leftovers)."""

    root: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    store_bytes: int = 0

    @property
    def models(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.versions:
            out[row["name"]] = out.get(row["name"], 0) + row["total"]
        return out

    @property
    def versions_bytes(self) -> int:
        return sum(row["total"] for row in self.versions)

    def __repr__(self) -> str:
        if not self.versions:
            return f"(no versions) store total {format_size(self.store_bytes)}"
        rows = []
        models = self.models
        for name in sorted(models):
            for row in (r for r in self.versions if r["name"] == name):
                rows.append(
                    [
                        name,
                        row["version"],
                        format_size(row["artifacts"]),
                        format_size(row["metadata"]),
                        format_size(row["evaluation"]),
                        format_size(row["total"]),
                    ]
                )
            rows.append([name, "(all)", "", "", "", format_size(models[name])])
        rows.append(["store total", "", "", "", "", format_size(self.store_bytes)])
        return text_table(["model", "version", "artifacts", "record", "evaluation", "total"], rows)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "models": self.models, "versions_bytes": self.versions_bytes}


def disk_usage(tree: StoreTree, name: str | None = None) -> DiskUsage:
    """What each committed version of the store (or of ``name``) occupies."""
    fs = tree.fs
    report = DiskUsage(fs.url)
    found = tree.registry.scan()
    for model in sorted([name] if name else found):
        head = tree.registry.head(model)
        for version in (head or {}).get("versions", []):
            row = {
                "name": model,
                "version": version,
                "artifacts": fs.tree_size(tree.trained(model, version)),
                "metadata": fs.tree_size(tree.meta_dir(model, version)),
                "evaluation": fs.tree_size(tree.evaluation(model, version)),
            }
            row["total"] = row["artifacts"] + row["metadata"] + row["evaluation"]
            report.versions.append(row)
    report.store_bytes = sum(
        fs.tree_size(PurePosixPath(top)) for top in (TRAINED, METADATA, EVALUATION, REGISTRY)
    )
    return report


# -- prune -----------------------------------------------------------------------------------


def parse_age(value: timedelta | int | float | str | datetime) -> datetime:
    """The cutoff time for ``older_than``: a timedelta, days as a number, ``"30d"``,
    ``"12h"``, ``"2w"``, or an ISO date (``"2026-01-31"``)."""
    now = datetime.now(timezone.utc)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, timedelta):
        return now - value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return now - timedelta(days=value)
    text = str(value).strip()
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([smhdw])", text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m[2]]
        return now - timedelta(**{unit: float(m[1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NBModelsError(
            f"older_than must be an age such as '30d', '12h', '2w', a "
            f"number of days or an ISO date; got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _created(record: dict[str, Any]) -> datetime | None:
    text = record.get("created_at")
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class PruneReport:
    """What :func:`prune` deleted (or would delete), what it kept and why."""

    dry_run: bool
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bytes_reclaimed(self) -> int:
        return sum(d["bytes"] for d in self.deleted)

    def __repr__(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        lines = [
            f"{verb} {len(self.deleted)} version(s), "
            f"{format_size(self.bytes_reclaimed)}"
            + (" (dry run: pass dry_run=False to delete)" if self.dry_run else "")
        ]
        lines += [f"  - {d['ref']}  {format_size(d['bytes'])}" for d in self.deleted]
        protected = [k for k in self.kept if k["reason"] != "recent"]
        lines += [f"  kept {k['ref']}: {k['reason']}" for k in protected]
        lines += [f"  skipped {s['ref']}: {s['reason']}" for s in self.skipped]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_reclaimed": self.bytes_reclaimed}


def prune(
    tree: StoreTree,
    delete: Callable[[str, str], Any],
    *,
    name: str | None = None,
    keep_last: int | None = None,
    older_than: Any = None,
    dry_run: bool = True,
) -> PruneReport:
    """Delete old versions: those past the ``keep_last`` highest of each model and/or
    created before ``older_than``, never an aliased, ``keep``-tagged or latest one.

    Each model is planned and pruned under its lock, so a version aliased or tagged
    meanwhile is seen; ``delete`` is the store's delete (record first, crash-safe).
    """
    if keep_last is None and older_than is None:
        raise NBModelsError(
            "prune needs keep_last=N and/or older_than=AGE (e.g. keep_last=5 or older_than='90d')"
        )
    if keep_last is not None and (
        isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0
    ):
        raise NBModelsError(f"keep_last must be a whole number >= 0, got {keep_last!r}")
    cutoff = parse_age(older_than) if older_than is not None else None
    report = PruneReport(dry_run)
    names = [name] if name else sorted(tree.registry.scan())
    for model in names:
        with tree.registry.lock(model):
            _prune_model(tree, delete, model, keep_last, cutoff, report)
    return report


def _prune_model(
    tree: StoreTree,
    delete: Callable[[str, str], Any],
    name: str,
    keep_last: int | None,
    cutoff: datetime | None,
    report: PruneReport,
) -> None:
    fs = tree.fs
    head = tree.registry.head(name)
    if head is None:
        return
    versions = list(head["versions"])
    try:
        aliased = tree.registry.aliases(name)
    except AliasFileError as exc:
        report.skipped += [
            {"ref": f"{name}@{v}", "reason": f"aliases unreadable: {exc}"} for v in versions
        ]
        return
    by_version: dict[str, list[str]] = {}
    for alias, target in aliased.items():
        by_version.setdefault(target, []).append(alias)
    recent = set(versions[-keep_last:]) if keep_last else set()
    for version in versions:
        ref = f"{name}@{version}"
        record = tree.registry.read_record(name, version)
        reason = None
        if version == versions[-1]:
            reason = "latest"
        elif version in by_version:
            reason = f"aliased as {', '.join(sorted(by_version[version]))}"
        elif record is None:
            reason = "record unreadable (run nbmodels verify)"
        elif KEEP_TAG in [t.strip().lower() for t in parse_tags(record.get("tags"))]:
            reason = f"tagged {KEEP_TAG}"
        elif version in recent:
            reason = "recent"
        elif cutoff is not None:
            created = _created(record)
            if created is None:
                reason = "no readable created_at"
            elif created >= cutoff:
                reason = "recent"
        if reason is not None:
            report.kept.append({"ref": ref, "reason": reason})
            continue
        size = sum(
            fs.tree_size(p)
            for p in (
                tree.trained(name, version),
                tree.meta_dir(name, version),
                tree.evaluation(name, version),
            )
        )
        if not report.dry_run:
            try:
                delete(name, version)
            except NBModelsError as exc:
                report.skipped.append({"ref": ref, "reason": str(exc)})
                continue
        report.deleted.append({"ref": ref, "bytes": size})
