"""Garbage collection (gc): remove what interrupted saves left behind.

:func:`gc` first restores what a killed overwrite or delete moved aside (the old version,
whole, unless the new record was committed), finishes or undoes interrupted evaluation
publications and rewrites cards that no longer say what their record says; then it removes
the orphans that :func:`~nbmodels.store.verify.verify` reports, each re-checked under its
model's lock. It is reached through :meth:`ModelStore.gc`.
"""

from __future__ import annotations

import contextlib
from pathlib import PurePosixPath
from typing import Any

from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    MODEL_CARD,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    parse_version_dir,
)
from .publish import REPLACED, recover
from .reports import GCReport
from .tree import StoreTree
from .verify import name_of_temp, size_of, verify

__all__ = ["gc"]


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
        name = problem.name or name_of_temp(path.name)
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
            size = fs.tree_size(path) if fs.is_dir(path) else size_of(fs, path)
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
