"""The evaluation files of a version: written, listed and read through the store.

``evaluation/{name}_v{version}/`` holds ``metrics.json``, the plots, ``curves.json``,
``fingerprint.json`` and ``report.html`` of the default data set, and one subfolder
per named data set. Every access goes through the store's backend, with the same name
rules as everything else (a file or data set name is a plain name, never a path), so
the evaluation core, ``compare``, the server and the panels read the same files the
same way.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ..errors import ModelNotFoundError
from ..record.metric_names import higher_is_better as default_direction
from ..storage.layout import validate_name
from .tree import StoreTree

__all__ = [
    "BINDING_FILE",
    "artifact_hashes",
    "best_version",
    "binding_bytes",
    "bound_to",
    "evaluation_dir",
    "list_datasets",
    "list_files",
    "matches_record",
    "read_file",
    "read_json",
    "readable_dir",
    "saved_metrics",
    "write_files",
]


BINDING_FILE = "artifacts.json"  # the artifact hashes an evaluation measured


def artifact_hashes(record: Any) -> list[str]:
    """The sha256 of each artifact a record describes, in its order."""
    files = record.get("files") if isinstance(record, dict) else None
    return [f["sha256"] for f in files or [] if isinstance(f, dict)
            and isinstance(f.get("sha256"), str)]


def binding_bytes(hashes: list[str]) -> bytes:
    """``artifacts.json``: what an evaluation was measured on."""
    from ..storage.backend import json_bytes

    return json_bytes({"artifacts_sha256": list(hashes)})


def bound_to(tree: StoreTree, folder: PurePosixPath) -> list[str] | None:
    """The artifact hashes an evaluation folder says it measured (``None``: it does not
    say, as evaluations written by hand or before this binding)."""
    try:
        data = tree.fs.read_json(folder / BINDING_FILE)
    except (OSError, ValueError, RecursionError):
        return None
    hashes = data.get("artifacts_sha256") if isinstance(data, dict) else None
    return [h for h in hashes if isinstance(h, str)] if isinstance(hashes, list) else []


def matches_record(tree: StoreTree, name: str, version: str,
                   folder: PurePosixPath) -> bool:
    """Whether an evaluation folder may be shown for the version's current artifacts."""
    bound = bound_to(tree, folder)
    if bound is None:
        return True
    return bound == artifact_hashes(tree.registry.read_record(name, version))


def evaluation_dir(tree: StoreTree, name: str, version: str,
                   dataset: str | None = None) -> PurePosixPath:
    """The folder of one version's evaluation (of one named data set)."""
    folder = tree.evaluation(name, version)
    if dataset is not None:
        folder = folder / validate_name(dataset, "dataset label")
    return folder


def write_files(tree: StoreTree, name: str, version: str, files: dict[str, bytes], *,
                dataset: str | None = None, stale: list[str] | tuple[str, ...] = (),
                commit_last: str | None = None) -> PurePosixPath:
    """Publish a set of evaluation files all at once (call with the model's lock held)."""
    for filename in files:
        validate_name(filename, "evaluation file name")
    folder = evaluation_dir(tree, name, version, dataset)
    tree.fs.make_dirs(folder.parent)
    tree.fs.publish_files(folder, files, stale=stale, commit_last=commit_last)
    return folder


def readable_dir(tree: StoreTree, name: str, version: str,
                 dataset: str | None = None) -> PurePosixPath:
    """The folder to read an evaluation from: its own, or, while a publication that a
    crash interrupted has it set aside (until gc or the next evaluation puts it back),
    the old folder, whole."""
    folder = evaluation_dir(tree, name, version, dataset)
    found = folder
    if not tree.fs.exists(folder):
        prefix = f".replaced-{folder.name}-"
        for entry in sorted(tree.fs.list_dir(folder.parent)):
            if entry.startswith(prefix) and tree.fs.is_dir(folder.parent / entry):
                found = folder.parent / entry
                break
    if tree.fs.exists(found) and not matches_record(tree, name, version, found):
        # Results of other artifacts (saved before this version was replaced): never
        # shown for these ones.
        return folder.parent / f".tmp-not-these-artifacts-{folder.name}"
    return found


def list_files(tree: StoreTree, name: str, version: str,
               dataset: str | None = None) -> list[str]:
    """Plain-named regular files of an evaluation folder, sorted (links and special
    files are never listed)."""
    out = []
    for path in tree.fs.iter_files(readable_dir(tree, name, version, dataset)):
        try:
            validate_name(path.name, "evaluation file name")
        except ValueError:
            continue
        out.append(path.name)
    return out


def list_datasets(tree: StoreTree, name: str, version: str) -> list[str]:
    """The named data sets a version was evaluated on (real subfolders with plain names)."""
    folder = evaluation_dir(tree, name, version)
    out = []
    for entry in sorted(tree.fs.list_dir(folder)):
        try:
            validate_name(entry, "dataset label")
        except ValueError:
            continue
        if tree.fs.is_dir(folder / entry):
            out.append(entry)
    return out


def read_file(tree: StoreTree, name: str, version: str, filename: str, *,
              dataset: str | None = None, limit: int = 64 << 20) -> bytes:
    """The bytes of one evaluation file; a missing one is :class:`ModelNotFoundError`
    naming the files there are."""
    validate_name(filename, "evaluation file name")
    for attempt in range(3):
        folder = readable_dir(tree, name, version, dataset)
        path = folder / filename
        if tree.fs.is_file(path):
            try:
                return tree.fs.read_bytes(path, limit=limit)
            except FileNotFoundError:
                continue  # the evaluation was switched while it was read: look again
        if attempt == 2 or tree.fs.exists(folder):
            break
        # Between the two renames of another process's publication: look again.
    available = list_files(tree, name, version, dataset)
    hint = (f"files: {', '.join(available)}" if available else
            "it has no evaluation files; run nbmodels.evaluate(...) with name= and "
            "version= to write them")
    where = f"{name}@{version}" + (f" (dataset {dataset})" if dataset else "")
    raise ModelNotFoundError(f"{where} has no evaluation file {filename!r}; {hint}")


def read_json(tree: StoreTree, name: str, version: str, filename: str, *,
              dataset: str | None = None) -> Any:
    """A small JSON evaluation file, or ``None`` when it is absent or unreadable."""
    validate_name(filename)
    for _attempt in range(3):
        folder = readable_dir(tree, name, version, dataset)
        try:
            return tree.fs.read_json(folder / filename)
        except FileNotFoundError:
            if tree.fs.exists(folder):
                return None
            # another process is switching the evaluation: look again
        except (OSError, ValueError, RecursionError):
            return None
    return None


def _flat_metrics(saved: dict[str, Any]) -> dict[str, float]:
    """Scalar metrics of a ``metrics.json`` (headline at top level, the rest in details)."""
    out = {k: float(v) for k, v in saved.items()
           if isinstance(v, (int, float)) and not isinstance(v, bool)}
    details = saved.get("details")
    for k, v in (details.items() if isinstance(details, dict) else ()):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.setdefault(k, float(v))
    return out


def saved_metrics(tree: StoreTree, name: str, version: str, record: dict[str, Any],
                  dataset: str | None) -> tuple[dict[str, float], dict[str, Any] | None,
                                                str | None, str | None]:
    """Metrics, curves, data hash and task of one version: its evaluation files, else
    its record. Without ``dataset``, the data set the record's headline metrics come
    from (``metrics_source``)."""
    key = dataset
    if key is None:
        source = record.get("metrics_source")
        key = source.get("dataset") if isinstance(source, dict) else None
        key = None if key in (None, "default") or not isinstance(key, str) else key
    saved = read_json(tree, name, version, "metrics.json", dataset=key)
    curves = read_json(tree, name, version, "curves.json", dataset=key)
    if isinstance(saved, dict):
        info = saved.get("evaluation")
        info = info if isinstance(info, dict) else {}
        curves = curves if isinstance(curves, dict) else None
        task = info.get("task") or (curves or {}).get("task")
        return _flat_metrics(saved), curves, info.get("data_sha256"), task
    evaluations = record.get("evaluations")
    summary = evaluations.get(key or "default") if isinstance(evaluations, dict) else None
    summary = summary if isinstance(summary, dict) else {}
    source = summary.get("metrics") if summary else (record.get("metrics") if not dataset
                                                     else None)
    return (_flat_metrics(source if isinstance(source, dict) else {}), None,
            summary.get("data_sha256"), summary.get("task"))


def best_version(tree: StoreTree, name: str, versions: list[str],
                 records: dict[str, dict[str, Any]], metric: str, *,
                 dataset: str | None = None, higher_is_better: bool | None = None) -> str:
    """The version with the best saved ``metric``; a tie goes to the later version."""
    up = default_direction(metric) if higher_is_better is None else higher_is_better
    best: tuple[float, str] | None = None
    seen: set[str] = set()
    for version in versions:
        record = records[version]
        scalars, _, _, _ = saved_metrics(tree, name, version, record, dataset)
        if dataset is None:
            metrics = record.get("metrics")
            for k, v in (metrics.items() if isinstance(metrics, dict) else ()):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    scalars.setdefault(k, float(v))
        seen.update(scalars)
        value = scalars.get(metric)
        if value is None or value != value:
            continue
        if best is None or (value >= best[0] if up else value <= best[0]):
            best = (value, version)
    if best is None:
        where = f" on {dataset!r}" if dataset else ""
        known = ", ".join(sorted(seen)) or "none (evaluate a version first)"
        raise ModelNotFoundError(f"no version of {name!r} has a saved {metric!r}{where}; "
                                 f"saved metrics: {known}")
    return best[1]
