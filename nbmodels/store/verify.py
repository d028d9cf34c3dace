"""Verify: check every version of a store against its record, changing nothing.

:func:`verify` reads every record, artifact, evaluation folder and registry file of a
:class:`~nbmodels.store.tree.StoreTree` and reports what is wrong: damaged or invalid
records, missing or corrupt files, links, FIFOs or devices where a file or folder belongs,
what a crash left behind (orphans, which :func:`~nbmodels.store.cleanup.gc` removes),
folders made by hand that are not adopted yet, stale evaluations, a stale index and a
damaged aliases file. It is reached through :meth:`ModelStore.verify`. :func:`name_of_temp`
and :func:`size_of` are shared with gc.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ..record.record import bad_file_entry
from ..record.validate import check_record
from ..storage.backend import StorageBackend
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
    parse_loose_version_dir,
    parse_version_dir,
    validate_name,
)
from ..storage.versions import sort_versions
from . import evaluations
from .adopt import loose_fix
from .aliases import AliasFileError
from .record_file import DamagedRecord
from .reports import Problem, VerifyReport
from .tree import StoreTree

__all__ = ["name_of_temp", "size_of", "verify"]


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
                                    "interrupted evaluation", name_of_temp(entry)))
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
        size = digest.size if digest else size_of(fs, path)
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


def name_of_temp(entry: str) -> str | None:
    """The model a temporary or trash folder's name belongs to (``None`` if none)."""
    for prefix in (TMP_PREFIX, TRASH_PREFIX):
        if entry.startswith(prefix):
            parsed = parse_version_dir(entry[len(prefix):].rsplit("-", 1)[0])
            return parsed[0] if parsed else None
    return None


def size_of(fs: StorageBackend, path: PurePosixPath) -> int:
    """The size of the file at ``path`` in bytes (0 if it is gone)."""
    info = fs.stat(path)
    return info.size if info is not None else 0
