"""Adoption: rebuild the index and turn folders made by hand into versions.

:func:`rebuild_index` renames loose folders (``churn_v1`` becomes ``churn_v1.0.0``), gives
folders in the seed convention a full record with file hashes, recreates
``registry/index`` from ``metadata/`` and drops aliases of versions that are gone.
:func:`loose_folders` and :func:`loose_fix` find hand-made folders whose version is not
semantic and say what to do about each (verify and ``list`` show it). It is reached
through :meth:`ModelStore.rebuild_index`.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ..formats import list_formats
from ..record.capture import utc_now
from ..record.record import SCHEMA_VERSION
from ..record.validate import text_fields_as_text, unusable_record
from ..storage.backend import StorageBackend
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    MODEL_CARD,
    ORIGINAL_LABEL_MARKER,
    REGISTRY,
    TRAINED,
    parse_loose_version_dir,
    parse_version_dir,
    version_dir,
)
from .aliases import AliasFileError
from .record_file import DamagedRecord
from .reports import RebuildReport
from .tree import StoreTree

__all__ = ["loose_fix", "loose_folders", "rebuild_index"]


def loose_folders(tree: StoreTree, tops: tuple[str, ...] = (TRAINED, METADATA)
                  ) -> list[tuple[str, str, str, str]]:
    """Hand-made version folders whose version is not semantic (``churn_v1``), as
    ``(top, folder, name, version they stand for)``, sorted."""
    found = []
    for top in tops:
        for entry in tree.fs.list_dir(PurePosixPath(top)):
            parsed = parse_loose_version_dir(entry)
            if parsed is not None and tree.fs.is_dir(PurePosixPath(top, entry)):
                found.append((top, entry, parsed[0], parsed[1]))
    return sorted(found)


def loose_fix(tree: StoreTree, top: str, entry: str) -> str:
    """What to do about one loose folder, in a sentence (for verify and list)."""
    name, version, label = parse_loose_version_dir(entry) or ("", "", "")
    target = PurePosixPath(top, version_dir(name, version))
    twins = sorted(other for other in tree.fs.list_dir(PurePosixPath(top))
                   if (parse_loose_version_dir(other) or ("", ""))[:2] == (name, version))
    if len(twins) > 1:
        return (f"version {label!r} is not semantic, and {' and '.join(twins)} all stand "
                f"for {name}@{version}; rename or remove all but one, then run rebuild-index")
    if tree.fs.exists(target):
        return (f"version {label!r} is not semantic and stands for {name}@{version}, which "
                f"{target} already holds; remove or rename one of the two")
    return (f"version {label!r} is not semantic; run rebuild-index to adopt it as "
            f"{name}@{version} (the folder is renamed to {version_dir(name, version)})")


def rebuild_index(tree: StoreTree) -> RebuildReport:
    """Recreate ``registry/index`` from ``metadata/`` and adopt hand-made folders.

    A folder in the seed convention (``trained/{name}_v{version}/model.joblib``, with
    a ``metadata.json`` of the seed's keys or with none) gets a full record with file
    hashes, so it is listed, verified and loaded like any saved version.
    """
    fs = tree.fs
    report = RebuildReport(tree.fs.url)
    _rename_loose_folders(tree, report)
    candidates = set()
    for top in (TRAINED, METADATA):
        for entry in fs.list_dir(PurePosixPath(top)):
            parsed = parse_version_dir(entry)
            if parsed:
                candidates.add(parsed)
    # One folder that cannot be handled (a link, a FIFO, a damaged lock) is reported
    # and skipped: it never stops the rebuild of everything else.
    for name, version in sorted(candidates):
        try:
            with tree.registry.lock(name):
                _adopt(tree, name, version, report)
        except OSError as exc:
            report.skipped.append((str(tree.trained(name, version)), str(exc)))
    _drop_index(tree)
    stamp, entries = tree.registry.scan_stamped()
    found = tree.registry.scan(entries)
    for name in sorted(found):
        try:
            with tree.registry.lock(name):  # not between a saver's commit and its head
                if fs.stamp(PurePosixPath(METADATA)) != stamp:
                    # A saver committed since the listing: a head computed from it
                    # would overwrite the saver's newer one. List again, under the lock.
                    stamp, entries = tree.registry.scan_stamped()
                    found.update(tree.registry.scan(entries))
                head = tree.registry.refresh(name, stamp, found)
        except OSError as exc:
            report.skipped.append((f"{REGISTRY}/index/{name}", str(exc)))
            continue
        if head is not None and head["latest"] is not None:
            report.models += 1
            report.versions += len(head["versions"])
    for name in tree.registry.aliased_names():
        try:
            with tree.registry.lock(name):
                try:
                    aliases = tree.registry.aliases(name)
                except AliasFileError as exc:
                    report.skipped.append((str(tree.registry.aliases_path(name)), str(exc)))
                    continue
                kept = {a: v for a, v in aliases.items()
                        if fs.exists(tree.meta_file(name, v))}
                report.dropped_aliases += [f"{name}@{a}"
                                           for a in sorted(set(aliases) - set(kept))]
                if kept != aliases:
                    tree.registry.write_aliases(name, kept)
        except OSError as exc:
            report.skipped.append((str(tree.registry.aliases_path(name)), str(exc)))
    return report


def _drop_index(tree: StoreTree) -> None:
    """Remove the derived heads, tolerating savers that write a head meanwhile (a
    folder that fills up again while it is removed is ``ENOTEMPTY``): the index is a
    cache, and every head left is re-checked against ``metadata/`` on its next read."""
    for _attempt in range(5):
        try:
            tree.registry.drop_index()
            return
        except OSError:
            continue


def _adopt(tree: StoreTree, name: str, version: str, report: RebuildReport) -> None:
    fs = tree.fs
    trained, meta_file = tree.trained(name, version), tree.meta_file(name, version)
    meta_dir = meta_file.parent
    for folder in (trained, meta_dir):
        info = fs.stat(folder)
        if info is not None and info.kind != "dir":
            report.skipped.append((str(folder), f"is {info.what}, not a folder; the store "
                                   f"never follows it"))
            return
    try:
        existing = tree.registry.load_record(name, version)
    except DamagedRecord as exc:
        # A hand-written record (no file hashes) whose name or version differ from its
        # folder's is adopted below: what it said is kept as original_*.
        existing = None if exc.kind == "special_file" else _loose_record(tree, name, version)
        if existing is None:
            report.skipped.append((str(meta_file), f"{exc.reason}; fix or delete it"))
            return
    marker = trained / ORIGINAL_LABEL_MARKER
    if existing is not None and existing.get("files"):
        if fs.exists(marker):  # left by a crash after the record was written
            _remove_label_markers(fs, trained)
        return  # a complete record already
    if not fs.is_dir(trained) or fs.exists(trained / INCOMPLETE_MARKER):
        if existing is not None:
            report.skipped.append((str(meta_file), "record without artifacts"))
        return
    present = [p.name for p in fs.iter_files(trained) if not _is_label_marker(p.name)]
    for fmt in list_formats():
        info = fmt.adopt(present)
        if info is not None:
            break
    else:
        report.skipped.append((str(trained), "no artifact in a known format "
                               f"(found: {', '.join(present) or 'nothing'})"))
        return
    digests = [fs.digest(trained / f) for f in present]
    record: dict[str, Any] = dict(existing or {})
    for key in ("model_name", "version"):
        if record.get(key) not in (None, name if key == "model_name" else version):
            record[f"original_{key}"] = record[key]
    original = _read_label(fs, marker)
    if original:
        record.setdefault("original_version", original["original_version"])
        record["original_folder"] = original["original_folder"]
    created = record.get("created_at") or _iso_time(fs, trained / present[0])
    record.update({"schema_version": SCHEMA_VERSION, "model_name": name, "version": version,
                   "created_at": created, "format": fmt.name, "format_info": info,
                   "files": [d.to_dict() for d in digests],
                   "size_bytes": sum(d.size for d in digests), "origin": "adopted",
                   "adopted_at": utc_now()})
    for key, default in (("description", ""), ("tags", []), ("metrics", {}),
                         ("hyperparameters", {})):
        record.setdefault(key, default)
    record = text_fields_as_text(record)
    problems = unusable_record(record, name, version)
    if problems:  # never write a record that the store would refuse
        report.skipped.append((str(meta_file), f"{'; '.join(problems[:3])}; fix or "
                               f"delete it"))
        return
    fs.make_dirs(meta_dir)
    if not fs.exists(meta_dir / MODEL_CARD):
        tree.write_card(meta_dir, record)
    fs.write_json(meta_file, record)
    _remove_label_markers(fs, trained)
    report.adopted.append(f"{name}@{version}")


def _loose_record(tree: StoreTree, name: str, version: str) -> dict[str, Any] | None:
    """A hand-written record without file hashes, read without the name and version
    check (adoption keeps what it said as ``original_model_name``/``original_version``),
    or ``None`` if it is no such record."""
    try:
        data = tree.fs.read_json(tree.meta_file(name, version))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("files"):
        return None
    rest = {k: v for k, v in text_fields_as_text(data).items()
            if k not in ("model_name", "version")}
    return data if not unusable_record(rest) else None


def _is_label_marker(filename: str) -> bool:
    """The label marker, or the temp file of a marker write that a crash interrupted."""
    return filename.startswith(ORIGINAL_LABEL_MARKER)


def _remove_label_markers(fs: StorageBackend, trained: PurePosixPath) -> None:
    for path in fs.iter_files(trained):
        if _is_label_marker(path.name):
            fs.remove_file(path)


def _read_label(fs: StorageBackend, marker: PurePosixPath) -> dict[str, str] | None:
    """The original label a renamed hand-made folder left in its marker, if any."""
    if not fs.exists(marker):
        return None
    try:
        data = fs.read_json(marker, limit=1 << 16)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in
                                             ("original_version", "original_folder")):
        return None
    return {k: data[k] for k in ("original_version", "original_folder")}


def _rename_loose_folders(tree: StoreTree, report: RebuildReport) -> None:
    """Give hand-made folders named ``{name}_v1``, ``{name}_v1.2`` their semantic names.

    The store finds a version by its folder name, so ``trained/churn_v1`` becomes
    ``trained/churn_v1.0.0`` (and ``metadata/``, ``evaluation/`` folders of the same
    label follow); the adoption that follows records the original label as
    ``original_version``. Each step is one atomic rename, artifacts first and the
    record folder last: a crash leaves a folder that the next rebuild-index picks up
    where this one stopped, and the label travels inside the artifact folder (a small
    marker file) until the record holds it. Nothing is renamed when a folder of the
    target name exists already, when two labels stand for one version, or when the
    artifact folder holds no file in a known format.
    """
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    for top, entry, name, version in loose_folders(tree, (TRAINED, EVALUATION, METADATA)):
        groups.setdefault((name, version), {}).setdefault(top, []).append(entry)
    for (name, version), tops in sorted(groups.items()):
        with tree.registry.lock(name):
            _rename_loose(tree, name, version, tops, report)


def _rename_loose(tree: StoreTree, name: str, version: str, tops: dict[str, list[str]],
                  report: RebuildReport) -> None:
    fs = tree.fs
    target = version_dir(name, version)
    for top, entries in tops.items():
        if len(entries) > 1:
            entries = sorted(entries)
            report.skipped.append((f"{top}/{entries[0]}", f"{' and '.join(entries)} both "
                                   f"stand for {name}@{version}; rename or remove all but one"))
            return
    for top, (entry,) in tops.items():
        if fs.exists(PurePosixPath(top, target)):
            report.skipped.append((f"{top}/{entry}", loose_fix(tree, top, entry)))
            return
    trained = tops.get(TRAINED, [None])[0]
    if trained is None and not fs.is_dir(tree.trained(name, version)):
        # Nothing to load: a record or results without artifacts stay as they are.
        top, (entry,) = next(iter(tops.items()))
        report.skipped.append((f"{top}/{entry}", f"no trained/{entry} beside it; nothing "
                               f"to adopt"))
        return
    if trained is not None:
        source = PurePosixPath(TRAINED, trained)
        present = [p.name for p in fs.iter_files(source) if not _is_label_marker(p.name)]
        if not any(fmt.adopt(present) is not None for fmt in list_formats()):
            report.skipped.append((f"{TRAINED}/{trained}", "no artifact in a known format "
                                   f"(found: {', '.join(present) or 'nothing'})"))
            return
        label = parse_loose_version_dir(trained)
        assert label is not None
        fs.write_json(source / ORIGINAL_LABEL_MARKER,
                      {"original_version": label[2], "original_folder": trained})
    for top in (TRAINED, EVALUATION, METADATA):  # the record folder last: it commits
        if top in tops:
            entry = tops[top][0]
            fs.rename(PurePosixPath(top, entry), PurePosixPath(top, target))
            report.renamed.append((f"{top}/{entry}", f"{top}/{target}"))


def _iso_time(fs: StorageBackend, path: PurePosixPath) -> str | None:
    """A file's modification time as UTC ISO 8601 (``...Z``)."""
    from datetime import datetime, timezone

    info = fs.stat(path)
    if info is None:
        return None
    ts = datetime.fromtimestamp(info.mtime_ns / 1e9, timezone.utc).replace(microsecond=0)
    return ts.isoformat().replace("+00:00", "Z")
