"""Store maintenance: verify, gc and rebuild-index (the repair side of :class:`ModelStore`).

They work on a :class:`~nbmodels.store.tree.StoreTree` (the store's layout on its
storage backend, with its registry) and are reached through :meth:`ModelStore.verify`,
:meth:`ModelStore.gc` and :meth:`ModelStore.rebuild_index`.
"""

from __future__ import annotations

import contextlib
from pathlib import PurePosixPath
from typing import Any

from ..formats import list_formats
from ..record.capture import utc_now
from ..record.record import SCHEMA_VERSION, bad_file_entry
from ..record.validate import check_record, text_fields_as_text, unusable_record
from ..storage.backend import StorageBackend
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    ORIGINAL_LABEL_MARKER,
    REGISTRY,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    parse_loose_version_dir,
    parse_version_dir,
    validate_name,
    version_dir,
)
from ..storage.versions import sort_versions
from . import evaluations
from .publish import REPLACED, recover
from .registry import AliasFileError, DamagedRecord
from .reports import GCReport, Problem, RebuildReport, VerifyReport
from .tree import StoreTree

__all__ = ["gc", "loose_fix", "loose_folders", "rebuild_index", "verify"]


def verify(tree: StoreTree, *, deep: bool = True) -> VerifyReport:
    """Check every version: records readable, files present, sizes and hashes right.

    Also reports what a crash left behind (orphans, for :meth:`gc`), folders made by
    hand that are not adopted yet, and a stale index. ``deep=False`` checks sizes
    only, not hashes.
    """
    fs = tree.fs
    report = VerifyReport(tree.fs.url)
    problems = report.problems
    meta_root, trained_root = PurePosixPath(METADATA), PurePosixPath(TRAINED)
    for top in (TRAINED, METADATA, EVALUATION, REGISTRY, *_REGISTRY_DIRS):
        _special(fs, PurePosixPath(top), "dir", problems)
    committed: dict[str, list[str]] = {}
    recorded: set[str] = set()  # models with a metadata.json, readable or not
    names: dict[str, set[str]] = {}
    for entry in sorted(fs.list_dir(meta_root)):
        parsed = parse_version_dir(entry)
        path = meta_root / entry
        if parsed is None:
            if entry.endswith(".tmp"):
                problems.append(Problem("orphan", str(path), "temporary file"))
            _note_loose(tree, METADATA, entry, problems)
            continue
        name, version = parsed
        names.setdefault(name.casefold(), set()).add(name)
        if _special(fs, path, "dir", problems, name, version):
            continue
        _special(fs, path / MODEL_CARD, "file", problems, name, version)
        if not fs.exists(path / METADATA_FILE):
            if tree.is_crash_leftover_meta(name, version):
                problems.append(Problem("orphan", str(path), "record folder of an "
                                        "interrupted save (no metadata.json)", name, version))
            continue
        for stray in sorted(fs.list_dir(path)):
            if stray.endswith(".tmp"):
                problems.append(Problem("orphan", str(path / stray),
                                        "temporary file of an interrupted write", name,
                                        version))
        recorded.add(name)
        try:
            data = tree.registry.load_record(name, version)
        except DamagedRecord as exc:
            problems.append(Problem(exc.kind, str(path / METADATA_FILE), exc.reason, name,
                                    version))
            continue
        if data is None:  # deleted while verify ran
            continue
        committed.setdefault(name, []).append(version)
        report.versions_checked += 1
        typed = check_record(data, name, version)
        if typed:  # readable, but not what nbmodels writes: reported, still checked
            problems.append(Problem("invalid_metadata", str(path / METADATA_FILE),
                                    "; ".join(typed[:3]), name, version))
        files = data.get("files")
        if files and bad_file_entry(files):
            continue  # reported with the other field problems just above
        if not files:
            problems.append(Problem("unadopted", str(path), "record has no file "
                                    "hashes; run rebuild-index to adopt it", name, version))
            continue
        _verify_files(tree, name, version, files, deep, report)
    for entry in sorted(fs.list_dir(trained_root)):
        path = trained_root / entry
        if entry.startswith((TMP_PREFIX, TRASH_PREFIX)):
            problems.append(Problem("orphan", str(path), "temporary folder of an "
                                    "interrupted save"))
            continue
        parsed = parse_version_dir(entry)
        if parsed is None:
            _note_loose(tree, TRAINED, entry, problems)
        if parsed is None or _special(fs, path, "dir", problems, *parsed):
            continue
        names.setdefault(parsed[0].casefold(), set()).add(parsed[0])
        if fs.exists(tree.meta_file(*parsed)):
            if fs.exists(path / INCOMPLETE_MARKER):
                problems.append(Problem("orphan", str(path / INCOMPLETE_MARKER),
                                        "marker of a save or delete that was interrupted "
                                        "(the version itself is whole)", *parsed))
            continue
        if fs.exists(path / INCOMPLETE_MARKER):
            problems.append(Problem("orphan", str(path), "artifacts of an "
                                    "interrupted save (never committed)", *parsed))
        else:
            problems.append(Problem("unadopted", str(path), "artifacts without a "
                                    "record; run rebuild-index to adopt them", *parsed))
    for twins in names.values():
        if len(twins) > 1:
            shown = ", ".join(sorted(twins))
            problems.append(Problem("case_conflict", METADATA, f"models {shown} differ only "
                                    f"by case: on macOS and Windows they are one folder; "
                                    f"rename all but one", sorted(twins)[0]))
    _verify_evaluations(tree, problems)
    _verify_registry_temps(tree, problems)
    _verify_index(tree, committed, recorded, problems)
    return report


# Folders of the registry that must be real folders when they exist.
_REGISTRY_DIRS = (f"{REGISTRY}/index", f"{REGISTRY}/aliases", f"{REGISTRY}/locks")


def _special(fs: StorageBackend, path: PurePosixPath, expected: str,
             problems: list[Problem], name: str | None = None,
             version: str | None = None) -> bool:
    """Report ``path`` when something other than a real ``expected`` ("file" or "dir")
    is there: a link, FIFO, socket or device is never read, followed or removed."""
    info = fs.stat(path)
    if info is None or info.kind == expected:
        return False
    wanted = "a regular file" if expected == "file" else "a folder"
    problems.append(Problem("special_file", str(path), f"is {info.what or 'a special file'}, "
                            f"not {wanted}; the store never reads, follows or removes it: "
                            f"replace it with {wanted} or remove it", name, version))
    return True


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


def _note_loose(tree: StoreTree, top: str, entry: str, problems: list[Problem]) -> None:
    parsed = parse_loose_version_dir(entry)
    if parsed is None or not tree.fs.is_dir(PurePosixPath(top, entry)):
        return
    problems.append(Problem("unadopted", f"{top}/{entry}", loose_fix(tree, top, entry),
                            parsed[0], parsed[1]))


def _verify_evaluations(tree: StoreTree, problems: list[Problem]) -> None:
    """Evaluations of versions that are gone, and what interrupted evaluations left."""
    fs = tree.fs
    evaluation = PurePosixPath(EVALUATION)
    for entry in sorted(fs.list_dir(evaluation)):
        path = evaluation / entry
        if entry.startswith(TRASH_PREFIX):
            problems.append(Problem("orphan", str(path), "evaluation of a version "
                                    "replaced by an interrupted save"))
            continue
        if entry.startswith(TMP_PREFIX):
            problems.append(Problem("orphan", str(path), "temporary folder of an "
                                    "interrupted evaluation", _name_of_temp(entry)))
            continue
        if entry.startswith(".replaced-"):
            parsed = parse_version_dir(entry[len(".replaced-"):].rsplit("-", 1)[0])
            problems.append(Problem("orphan", str(path), "evaluation set aside by an "
                                    "interrupted publication; gc puts it back",
                                    *(parsed or (None,))))
            continue
        parsed = parse_version_dir(entry)
        if parsed is None or _special(fs, path, "dir", problems, *parsed):
            continue
        for sub in sorted(fs.list_dir(path)):  # a named data set's temporary folder
            if sub.startswith(".replaced-"):
                problems.append(Problem("orphan", str(path / sub), "evaluation set aside "
                                        "by an interrupted publication; gc puts it back",
                                        *parsed))
            if sub.startswith(TMP_PREFIX):
                problems.append(Problem("orphan", str(path / sub), "temporary folder "
                                        "of an interrupted evaluation", *parsed))
                continue
            info = fs.stat(path / sub)
            if info is not None and info.kind == "dir":  # a named data set's files
                for inner in sorted(fs.list_dir(path / sub)):
                    _special(fs, path / sub / inner, "file", problems, *parsed)
            elif info is not None and info.kind == "other":
                _special(fs, path / sub, "file", problems, *parsed)
        if not fs.exists(tree.meta_file(*parsed)) and not fs.exists(tree.trained(*parsed)):
            problems.append(Problem("dangling", str(path),
                                    "evaluation of a version that does not exist", *parsed))
            continue
        record = tree.registry.read_record(*parsed)
        current = evaluations.artifact_hashes(record)
        for folder in [path] + [path / d for d in evaluations.list_datasets(tree, *parsed)]:
            bound = evaluations.bound_to(tree, folder)
            if bound is not None and record is not None and bound != current:
                problems.append(Problem("stale_evaluation", str(folder), "results measured "
                                        "on other artifacts than the record's (they are "
                                        "not shown); evaluate the version again", *parsed))


def _verify_registry_temps(tree: StoreTree, problems: list[Problem]) -> None:
    """Temporary files of index or alias writes that a crash interrupted."""
    fs = tree.fs
    registry = PurePosixPath(REGISTRY)
    index_names = sorted(fs.list_dir(registry / "index"))
    for name in index_names:
        _special(fs, registry / "index" / name, "dir", problems, _valid_name(name))
    found = [(registry / "index" / name / entry, name) for name in index_names
             for entry in sorted(fs.list_dir(registry / "index" / name))]
    found += [(registry / "aliases" / entry, entry.partition(".json")[0])
              for entry in sorted(fs.list_dir(registry / "aliases"))]
    found += [(registry / "locks" / entry, entry.partition(".lock")[0])
              for entry in sorted(fs.list_dir(registry / "locks"))]
    for path, name in found:
        if path.name.endswith(".tmp") and path.parent.name != "locks":
            problems.append(Problem("orphan", str(path), "temporary file of an "
                                    "interrupted index or alias write", _valid_name(name)))
        else:
            _special(fs, path, "file", problems, _valid_name(name))


def _valid_name(name: str) -> str | None:
    try:
        return validate_name(name)
    except ValueError:
        return None


def _verify_files(tree: StoreTree, name: str, version: str, files: list[dict[str, Any]],
                  deep: bool, report: VerifyReport) -> None:
    fs = tree.fs
    trained = tree.trained(name, version)
    bad = bad_file_entry(files)
    if bad:
        report.problems.append(Problem("invalid_metadata", str(
            tree.meta_file(name, version)), bad, name, version))
        return
    for f in files:
        path = trained / f["name"]
        report.files_checked += 1
        if not fs.exists(path):
            report.problems.append(Problem("missing", str(path), "listed in the "
                                           "record but not on disk", name, version))
            continue
        if _special(fs, path, "file", report.problems, name, version):
            continue
        digest = fs.digest(path) if deep else None
        size = digest.size if digest else _size_of(fs, path)
        if size != f["size"]:
            report.problems.append(Problem("corrupt", str(path), f"{size} bytes, "
                                           f"record says {f['size']}", name, version))
        elif digest and digest.sha256 != f["sha256"]:
            report.problems.append(Problem("corrupt", str(path), f"sha256 "
                                           f"{digest.sha256}, record says {f['sha256']}",
                                           name, version))

def _verify_index(tree: StoreTree, committed: dict[str, list[str]], recorded: set[str],
                  problems: list[Problem]) -> None:
    for name, versions in sorted(committed.items()):
        # A head whose stamp is old is only re-checked on the next read; it is stale
        # when what it says is wrong, not when something else changed metadata/.
        head = tree.registry.read_head(name)
        truth = sort_versions(versions)[-1]
        if head is None or head.get("latest") != truth:
            problems.append(Problem("stale_index", f"registry/index/{name}", "index does not "
                                    f"match metadata/ (latest is {truth}); it is repaired on "
                                    f"the next read or by rebuild-index", name))
    for name in tree.registry.indexed_names():
        if name not in recorded:
            problems.append(Problem("stale_index", f"registry/index/{name}", "index entry for "
                                    "a model with no versions", name))
    for name in tree.registry.aliased_names():
        try:
            aliases = tree.registry.aliases(name)
        except AliasFileError as exc:
            problems.append(Problem("damaged_aliases", str(tree.registry.aliases_path(name)),
                                    str(exc), name))
            continue
        for alias, target in aliases.items():
            # (an alias of a version whose record is damaged: that record is reported)
            if target not in committed.get(name, []) and not tree.fs.exists(
                    tree.meta_file(name, target)):
                problems.append(Problem("stale_index", f"registry/aliases/{name}.json",
                                        f"alias {alias} points to missing version {target}",
                                        name, target))

def gc(tree: StoreTree, *, dry_run: bool = False) -> GCReport:
    """Remove what interrupted saves left behind; report the bytes reclaimed.

    Only leftovers of nbmodels' own saves are removed (temp folders, uncommitted
    artifacts, half-written record folders); folders made by hand are never touched.
    What a killed overwrite hid is put back first (the old version, whole) unless the
    new record was committed: gc never deletes the last whole copy of a version. A
    model whose save is in progress in another process is skipped. ``dry_run`` only
    reads (it works on a read-only store).
    """
    from filelock import Timeout

    fs = tree.fs
    report = GCReport(tree.fs.url, dry_run)
    for name, version in _replaced_versions(tree):
        if dry_run:
            report.restored += recover(tree, name, version, dry_run=True)
            continue
        try:
            with tree.registry.lock(name).acquire(timeout=0):
                report.restored += recover(tree, name, version)
                tree.registry.refresh(name)  # under the lock: never older than a save
        except Timeout:
            report.skipped.append((str(tree.meta_dir(name, version)),
                                   "a save of this model is in progress"))
    _finish_evaluation_switches(tree, report, dry_run)
    if not dry_run:
        _refresh_stale_cards(tree, report)
    hidden = {str(p) for p in _hidden_pieces(tree)} if dry_run else set()
    for problem in verify(tree, deep=False).by_kind("orphan"):
        path = PurePosixPath(problem.path)
        if problem.path in hidden:
            continue  # what the restore above would put back or drop
        name = problem.name or _name_of_temp(path.name)
        held: Any = contextlib.nullcontext()
        if name and not dry_run:
            # Holding the model's lock while removing: a save cannot start, and one
            # that finished since verify() ran is seen by the re-check below.
            try:
                held = tree.registry.lock(name).acquire(timeout=0)
            except Timeout:
                report.skipped.append((problem.path, "a save of this model is in "
                                       "progress"))
                continue
            except OSError as exc:  # the lock itself is damaged (a link, a FIFO...)
                report.skipped.append((problem.path, f"cannot take the model's lock: {exc}"))
                continue
        elif name and _locked_elsewhere(tree, name):
            report.skipped.append((problem.path, "a save of this model is in progress"))
            continue
        with held:
            if not _still_orphan(tree, path):
                continue
            if fs.may_be_in_progress(path):
                report.skipped.append((problem.path, "recent: a save on another machine "
                                       "may still be writing it"))
                continue
            size = fs.tree_size(path) if fs.is_dir(path) else _size_of(fs, path)
            if not dry_run:
                try:
                    if path.parent == PurePosixPath(TRAINED) and parse_version_dir(path.name):
                        tree.remove_artifacts(path)
                    else:
                        fs.remove_tree(path)
                except OSError as exc:  # one leftover that cannot go never stops the rest
                    report.skipped.append((problem.path, f"cannot be removed: {exc}"))
                    continue
            report.removed.append((problem.path, size))
    return report


def _finish_evaluation_switches(tree: StoreTree, report: GCReport, dry_run: bool) -> None:
    """Finish (or undo) evaluation publications that a crash interrupted."""
    from filelock import Timeout

    fs = tree.fs
    evaluation = PurePosixPath(EVALUATION)
    targets: set[PurePosixPath] = set()
    for entry in fs.list_dir(evaluation):
        if entry.startswith(".replaced-"):
            vdir = entry[len(".replaced-"):].rsplit("-", 1)[0]
            if parse_version_dir(vdir):
                targets.add(evaluation / vdir)
        elif parse_version_dir(entry) and fs.is_dir(evaluation / entry):
            for sub in fs.list_dir(evaluation / entry):
                if sub.startswith(".replaced-"):
                    targets.add(evaluation / entry / sub[len(".replaced-"):].rsplit("-", 1)[0])
    for target in sorted(targets):
        parsed = parse_version_dir(target.parts[1])
        if parsed is None:
            continue
        if dry_run:
            report.restored.append(f"the evaluation in {target}")
            continue
        try:
            with tree.registry.lock(parsed[0]).acquire(timeout=0):
                if fs.recover_published(target):
                    report.restored.append(f"the evaluation in {target}")
        except Timeout:
            report.skipped.append((str(target), "a save of this model is in progress"))


def _refresh_stale_cards(tree: StoreTree, report: GCReport) -> None:
    """Rewrite the card of a saved version when it no longer says what the record says
    (an edit of the record that a crash stopped before the card). Cards of folders
    made by hand or adopted are the user's own text and are never touched."""
    from filelock import Timeout

    from ..record.card import model_card

    fs = tree.fs
    for entry in sorted(fs.list_dir(PurePosixPath(METADATA))):
        parsed = parse_version_dir(entry)
        if parsed is None:
            continue
        record = tree.registry.read_record(*parsed)
        if not isinstance(record, dict) or record.get("origin") != "saved":
            continue
        meta_dir = tree.meta_dir(*parsed)
        try:
            current = fs.read_bytes(meta_dir / MODEL_CARD, limit=16 << 20).decode("utf-8")
        except (OSError, ValueError, UnicodeDecodeError):
            current = None
        try:
            expected = model_card(record, tree.read_card_diagram(meta_dir))
        except Exception:  # a damaged record: verify reports it
            continue
        if current == expected:
            continue
        try:
            with tree.registry.lock(parsed[0]).acquire(timeout=0):
                if tree.registry.read_record(*parsed) == record:
                    tree.write_card(meta_dir, record)
                    report.restored.append(f"the card of {parsed[0]}@{parsed[1]} "
                                           f"(rewritten from its record)")
        except (Timeout, OSError):
            continue


def _locked_elsewhere(tree: StoreTree, name: str) -> bool:
    """Whether a writer holds ``name``'s lock (``False`` where the lock cannot even be
    created, as on a read-only store: nobody is writing there either)."""
    try:
        return tree.registry.is_locked_elsewhere(name)
    except OSError:
        return False


def _replaced_versions(tree: StoreTree) -> list[tuple[str, str]]:
    """Versions with pieces that a killed overwrite or delete moved aside."""
    found = set()
    for top in (TRAINED, EVALUATION):
        for entry in tree.fs.list_dir(PurePosixPath(top)):
            if entry.startswith(TRASH_PREFIX):
                parsed = parse_version_dir(entry[len(TRASH_PREFIX):].rsplit("-", 1)[0])
                if parsed:
                    found.add(parsed)
    for entry in tree.fs.list_dir(PurePosixPath(METADATA)):
        parsed = parse_version_dir(entry)
        if parsed and any(e.endswith(f".{REPLACED}")
                          for e in tree.fs.list_dir(PurePosixPath(METADATA, entry))):
            found.add(parsed)
    return sorted(found)


def _hidden_pieces(tree: StoreTree) -> list[PurePosixPath]:
    """Paths that the restore of :func:`_replaced_versions` handles."""
    out = []
    for name, version in _replaced_versions(tree):
        vdir = f"{name}_v{version}"
        for top in (TRAINED, EVALUATION):
            out += [PurePosixPath(top, e) for e in tree.fs.list_dir(PurePosixPath(top))
                    if e.startswith(f"{TRASH_PREFIX}{vdir}-")]
        meta_dir = tree.meta_dir(name, version)
        out += [meta_dir / e for e in tree.fs.list_dir(meta_dir)
                if e.endswith(f".{REPLACED}")]
    return out

def _still_orphan(tree: StoreTree, path: PurePosixPath) -> bool:
    """Re-check, under the model's lock, that ``path`` is a leftover of a dead save."""
    fs = tree.fs
    if not fs.exists(path):
        return False
    entry, parent = path.name, path.parent
    if (entry.endswith(".tmp") or entry.startswith((TMP_PREFIX, TRASH_PREFIX))
            or entry == INCOMPLETE_MARKER):
        return True  # these exist only while their writer holds the lock
    parsed = parse_version_dir(entry)
    if parsed is None or fs.exists(tree.meta_file(*parsed)):
        return False
    if parent == PurePosixPath(TRAINED):
        return fs.exists(path / INCOMPLETE_MARKER)
    if parent == PurePosixPath(METADATA):
        return tree.is_crash_leftover_meta(*parsed)
    return False

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


def _name_of_temp(entry: str) -> str | None:
    for prefix in (TMP_PREFIX, TRASH_PREFIX):
        if entry.startswith(prefix):
            parsed = parse_version_dir(entry[len(prefix):].rsplit("-", 1)[0])
            return parsed[0] if parsed else None
    return None


def _size_of(fs: StorageBackend, path: PurePosixPath) -> int:
    info = fs.stat(path)
    return info.size if info is not None else 0


def _iso_time(fs: StorageBackend, path: PurePosixPath) -> str | None:
    """A file's modification time as UTC ISO 8601 (``...Z``)."""
    from datetime import datetime, timezone

    info = fs.stat(path)
    if info is None:
        return None
    ts = datetime.fromtimestamp(info.mtime_ns / 1e9, timezone.utc).replace(microsecond=0)
    return ts.isoformat().replace("+00:00", "Z")
