"""Store maintenance: verify, gc and rebuild-index (the repair side of :class:`ModelStore`).

These read the store's layout directly and use its private helpers; they are reached
through :meth:`ModelStore.verify`, :meth:`ModelStore.gc` and
:meth:`ModelStore.rebuild_index`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..formats import list_formats
from ..record.capture import utc_now
from ..record.record import SCHEMA_VERSION, bad_file_entry
from ..storage import local as _io
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    REGISTRY,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    parse_version_dir,
    validate_name,
)
from ..storage.versions import sort_versions
from .reports import GCReport, Problem, RebuildReport, VerifyReport

if TYPE_CHECKING:
    from .model_store import ModelStore

__all__ = ["gc", "rebuild_index", "verify"]


def verify(store: ModelStore, *, deep: bool = True) -> VerifyReport:
    """Check every version: records readable, files present, sizes and hashes right.

    Also reports what a crash left behind (orphans, for :meth:`gc`), folders made by
    hand that are not adopted yet, and a stale index. ``deep=False`` checks sizes
    only, not hashes.
    """
    report = VerifyReport(str(store.root))
    problems = report.problems
    meta_root, trained_root = store.root / METADATA, store.root / TRAINED
    committed: dict[str, list[str]] = {}
    for entry in sorted(_io.list_dir(meta_root)):
        parsed = parse_version_dir(entry)
        path = meta_root / entry
        if parsed is None:
            if entry.endswith(".tmp"):
                problems.append(Problem("orphan", store._rel(path), "temporary file"))
            continue
        name, version = parsed
        if not _io.exists(path / METADATA_FILE):
            if store._crash_leftover_meta(name, version):
                problems.append(Problem("orphan", store._rel(path), "record folder of an "
                                        "interrupted save (no metadata.json)", name, version))
            continue
        for stray in sorted(_io.list_dir(path)):
            if stray.endswith(".tmp"):
                problems.append(Problem("orphan", store._rel(path / stray),
                                        "temporary file of an interrupted write", name,
                                        version))
        data = store._registry.read_record(name, version)
        if data is None:
            problems.append(Problem("invalid_metadata", store._rel(path / METADATA_FILE),
                                    "unreadable or invalid JSON", name, version))
            continue
        committed.setdefault(name, []).append(version)
        report.versions_checked += 1
        files = data.get("files")
        if not files:
            problems.append(Problem("unadopted", store._rel(path), "record has no file "
                                    "hashes; run rebuild-index to adopt it", name, version))
            continue
        _verify_files(store, name, version, files, deep, report)
    for entry in sorted(_io.list_dir(trained_root)):
        path = trained_root / entry
        if entry.startswith((TMP_PREFIX, TRASH_PREFIX)):
            problems.append(Problem("orphan", store._rel(path), "temporary folder of an "
                                    "interrupted save"))
            continue
        parsed = parse_version_dir(entry)
        if parsed is None or not _io.is_dir(path):
            continue
        if _io.exists(store._meta_file(*parsed)):
            if _io.exists(path / INCOMPLETE_MARKER):
                problems.append(Problem("orphan", store._rel(path / INCOMPLETE_MARKER),
                                        "marker of a save or delete that was interrupted "
                                        "(the version itself is whole)", *parsed))
            continue
        if _io.exists(path / INCOMPLETE_MARKER):
            problems.append(Problem("orphan", store._rel(path), "artifacts of an "
                                    "interrupted save (never committed)", *parsed))
        else:
            problems.append(Problem("unadopted", store._rel(path), "artifacts without a "
                                    "record; run rebuild-index to adopt them", *parsed))
    _verify_evaluations(store, problems)
    _verify_registry_temps(store, problems)
    _verify_index(store, committed, problems)
    return report

def _verify_evaluations(store: ModelStore, problems: list[Problem]) -> None:
    """Evaluations of versions that are gone, and what interrupted evaluations left."""
    evaluation = store.root / EVALUATION
    for entry in sorted(_io.list_dir(evaluation)):
        path = evaluation / entry
        if entry.startswith(TRASH_PREFIX):
            problems.append(Problem("orphan", store._rel(path), "evaluation of a version "
                                    "replaced by an interrupted save"))
            continue
        if entry.startswith(TMP_PREFIX):
            problems.append(Problem("orphan", store._rel(path), "temporary folder of an "
                                    "interrupted evaluation", _name_of_temp(entry)))
            continue
        parsed = parse_version_dir(entry)
        if parsed is None:
            continue
        for sub in sorted(_io.list_dir(path)):  # a named data set's temporary folder
            if sub.startswith(TMP_PREFIX):
                problems.append(Problem("orphan", store._rel(path / sub), "temporary folder "
                                        "of an interrupted evaluation", *parsed))
        if not _io.exists(store._meta_file(*parsed)) and not _io.exists(store._trained(*parsed)):
            problems.append(Problem("dangling", store._rel(path),
                                    "evaluation of a version that does not exist", *parsed))


def _verify_registry_temps(store: ModelStore, problems: list[Problem]) -> None:
    """Temporary files of index or alias writes that a crash interrupted."""
    registry = store.root / REGISTRY
    found = [(registry / "index" / name / entry, name)
             for name in sorted(_io.list_dir(registry / "index"))
             for entry in sorted(_io.list_dir(registry / "index" / name))]
    found += [(registry / "aliases" / entry, entry.partition(".json.")[0])
              for entry in sorted(_io.list_dir(registry / "aliases"))]
    for path, name in found:
        if path.name.endswith(".tmp"):
            try:
                validate_name(name)
            except ValueError:
                name = None
            problems.append(Problem("orphan", store._rel(path), "temporary file of an "
                                    "interrupted index or alias write", name))


def _verify_files(store: ModelStore, name: str, version: str, files: list[dict[str, Any]],
                  deep: bool, report: VerifyReport) -> None:
    trained = store._trained(name, version)
    bad = bad_file_entry(files)
    if bad:
        report.problems.append(Problem("invalid_metadata", store._rel(
            store._meta_file(name, version)), bad, name, version))
        return
    for f in files:
        path = trained / f["name"]
        report.files_checked += 1
        if not _io.exists(path):
            report.problems.append(Problem("missing", store._rel(path), "listed in the "
                                           "record but not on disk", name, version))
            continue
        digest = _io.sha256_file(path) if deep else None
        size = digest.size if digest else _io.file_size(path)
        if size != f["size"]:
            report.problems.append(Problem("corrupt", store._rel(path), f"{size} bytes, "
                                           f"record says {f['size']}", name, version))
        elif digest and digest.sha256 != f["sha256"]:
            report.problems.append(Problem("corrupt", store._rel(path), f"sha256 "
                                           f"{digest.sha256}, record says {f['sha256']}",
                                           name, version))

def _verify_index(store: ModelStore, committed: dict[str, list[str]],
                  problems: list[Problem]) -> None:
    for name, versions in sorted(committed.items()):
        # A head whose stamp is old is only re-checked on the next read; it is stale
        # when what it says is wrong, not when something else changed metadata/.
        head = store._registry.read_head(name)
        truth = sort_versions(versions)[-1]
        if head is None or head.get("latest") != truth:
            problems.append(Problem("stale_index", f"registry/index/{name}", "index does not "
                                    f"match metadata/ (latest is {truth}); it is repaired on "
                                    f"the next read or by rebuild-index", name))
    for name in store._registry.indexed_names():
        if name not in committed:
            problems.append(Problem("stale_index", f"registry/index/{name}", "index entry for "
                                    "a model with no versions", name))
    for name in store._registry.aliased_names():
        for alias, target in store._registry.aliases(name).items():
            if target not in committed.get(name, []):
                problems.append(Problem("stale_index", f"registry/aliases/{name}.json",
                                        f"alias {alias} points to missing version {target}",
                                        name, target))

def gc(store: ModelStore, *, dry_run: bool = False) -> GCReport:
    """Remove what interrupted saves left behind; report the bytes reclaimed.

    Only leftovers of nbmodels' own saves are removed (temp folders, uncommitted
    artifacts, half-written record folders); folders made by hand are never touched.
    A model whose save is in progress in another process is skipped.
    """
    from filelock import Timeout

    report = GCReport(str(store.root), dry_run)
    for problem in verify(store, deep=False).by_kind("orphan"):
        path = store.root / problem.path
        name = problem.name or _name_of_temp(Path(problem.path).name)
        held: Any = contextlib.nullcontext()
        if name:
            # Holding the model's lock while removing: a save cannot start, and one
            # that finished since verify() ran is seen by the re-check below.
            try:
                held = store._registry.lock(name).acquire(timeout=0)
            except Timeout:
                report.skipped.append((problem.path, "a save of this model is in "
                                       "progress"))
                continue
        with held:
            if not _still_orphan(store, path):
                continue
            size = _io.tree_size(path) if _io.is_dir(path) else _io.file_size(path)
            if not dry_run:
                if path.parent == store.root / TRAINED and parse_version_dir(path.name):
                    store._remove_artifacts(path)
                else:
                    _io.remove_tree(path)
            report.removed.append((problem.path, size))
    return report

def _still_orphan(store: ModelStore, path: Path) -> bool:
    """Re-check, under the model's lock, that ``path`` is a leftover of a dead save."""
    if not _io.exists(path):
        return False
    entry, parent = path.name, path.parent
    if (entry.endswith(".tmp") or entry.startswith((TMP_PREFIX, TRASH_PREFIX))
            or entry == INCOMPLETE_MARKER):
        return True  # these exist only while their writer holds the lock
    parsed = parse_version_dir(entry)
    if parsed is None or _io.exists(store._meta_file(*parsed)):
        return False
    if parent == store.root / TRAINED:
        return _io.exists(path / INCOMPLETE_MARKER)
    if parent == store.root / METADATA:
        return store._crash_leftover_meta(*parsed)
    return False

def rebuild_index(store: ModelStore) -> RebuildReport:
    """Recreate ``registry/index`` from ``metadata/`` and adopt hand-made folders.

    A folder in the seed convention (``trained/{name}_v{version}/model.joblib``, with
    a ``metadata.json`` of the seed's keys or with none) gets a full record with file
    hashes, so it is listed, verified and loaded like any saved version.
    """
    report = RebuildReport(str(store.root))
    candidates = set()
    for top in (TRAINED, METADATA):
        for entry in _io.list_dir(store.root / top):
            parsed = parse_version_dir(entry)
            if parsed:
                candidates.add(parsed)
    for name, version in sorted(candidates):
        with store._registry.lock(name):
            _adopt(store, name, version, report)
    store._registry.drop_index()
    stamp, found = store._registry.scan_stamped()
    for name, versions in sorted(found.items()):
        committed = store._registry.committed_versions(name, versions)
        if committed and store._registry.refresh(name, versions, stamp) is not None:
            report.models += 1
            report.versions += len(committed)
    for name in store._registry.aliased_names():
        with store._registry.lock(name):
            aliases = store._registry.aliases(name)
            kept = {a: v for a, v in aliases.items() if _io.exists(store._meta_file(name, v))}
            report.dropped_aliases += [f"{name}@{a}" for a in sorted(set(aliases) - set(kept))]
            if kept != aliases:
                store._registry.write_aliases(name, kept)
    return report

def _adopt(store: ModelStore, name: str, version: str, report: RebuildReport) -> None:
    trained, meta_file = store._trained(name, version), store._meta_file(name, version)
    existing = store._registry.read_record(name, version) if _io.exists(meta_file) else None
    if _io.exists(meta_file) and existing is None:
        report.skipped.append((store._rel(meta_file), "invalid JSON; fix or delete it"))
        return
    if existing is not None and existing.get("files"):
        return  # a complete record already
    if not _io.is_dir(trained) or _io.exists(trained / INCOMPLETE_MARKER):
        if existing is not None:
            report.skipped.append((store._rel(meta_file), "record without artifacts"))
        return
    present = [p.name for p in _io.iter_files(trained)]
    for fmt in list_formats():
        info = fmt.adopt(present)
        if info is not None:
            break
    else:
        report.skipped.append((store._rel(trained), "no artifact in a known format "
                               f"(found: {', '.join(present) or 'nothing'})"))
        return
    digests = [_io.sha256_file(trained / f) for f in present]
    record: dict[str, Any] = dict(existing or {})
    for key in ("model_name", "version"):
        if record.get(key) not in (None, name if key == "model_name" else version):
            record[f"original_{key}"] = record[key]
    created = record.get("created_at") or _io.mtime_iso(trained / present[0])
    record.update({"schema_version": SCHEMA_VERSION, "model_name": name, "version": version,
                   "created_at": created, "format": fmt.name, "format_info": info,
                   "files": [d.to_dict() for d in digests],
                   "size_bytes": sum(d.size for d in digests), "origin": "adopted",
                   "adopted_at": utc_now()})
    for key, default in (("description", ""), ("tags", []), ("metrics", {}),
                         ("hyperparameters", {})):
        record.setdefault(key, default)
    meta_dir = meta_file.parent
    _io.make_dirs(meta_dir)
    if not _io.exists(meta_dir / MODEL_CARD):
        store._write_card(meta_dir, record)
    _io.atomic_write_json(meta_file, record)
    report.adopted.append(f"{name}@{version}")


def _name_of_temp(entry: str) -> str | None:
    for prefix in (TMP_PREFIX, TRASH_PREFIX):
        if entry.startswith(prefix):
            parsed = parse_version_dir(entry[len(prefix):].rsplit("-", 1)[0])
            return parsed[0] if parsed else None
    return None
