"""Publishing one version: the write order that makes a save all or nothing.

Artifacts go to a temporary folder (marked incomplete), are fsynced and renamed into
``trained/{name}_v{version}/``; the model card follows, and ``metadata.json`` is
written last, atomically: it is the commit point. Replacing a version (``overwrite``)
hides the old record and artifacts first, so that a crash leaves the version absent
(its pieces are orphans for ``gc``) rather than a record paired with artifacts it does
not describe. A save that fails with an exception puts back what it changed.

On a medium without atomic folder renames (an object store), :func:`write_in_place`
is the write order instead: the version is claimed first (its incomplete marker,
created exclusively), artifacts are uploaded to their final keys, then the card, and
the record is created exclusively last. Nothing is visible without its record, and a
crash leaves a marked folder that ``gc`` removes.

Reached through :meth:`ModelStore.save`, which holds the model's lock.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import PurePosixPath
from typing import Any

from ..errors import VersionExistsError
from ..formats import ArtifactSink
from ..record.bumps import save_differences, settle_bump
from ..record.capture import content_hash
from ..record.record import ModelRecord, Unchanged
from ..storage.backend import json_bytes
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA_FILE,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    version_dir,
)
from .dedup import find_identical, forget_identity, remember_identity
from .tree import StoreTree

__all__ = ["VersionClaimedError", "write_in_place", "write_version"]


def write_version(tree: StoreTree, model: Any, fmt: Any, record: dict[str, Any], *,
                  overwrite: bool, save_options: dict[str, Any] | None = None,
                  dedup: bool = True, previous: dict[str, Any] | None = None,
                  explicit_version: bool = False, check_load: bool = False,
                  sample_rows: Any = None, diagram: Any = None,
                  head: dict[str, Any] | None = None) -> ModelRecord:
    """Artifacts to a temp folder, fsync, rename, then the record: the commit point.

    With ``dedup``, when the artifacts are identical (same format and file sha256) to
    those of any version of the name, the temp folder is dropped and that version's
    record returned with :attr:`ModelRecord.unchanged` set: nothing is written.
    ``previous`` is the latest version's record, which the bump reason is settled
    against once the artifact hashes are known; ``explicit_version`` says the caller
    named the version (an unchanged save then says that it was not created).
    ``check_load`` loads the temp folder in a fresh process before publishing.
    ``diagram`` is the card's estimator diagram, or a callable that returns it.
    ``head`` is the model's index entry read under the lock before this save; the index
    is updated from it instead of being recomputed.
    """
    fs = tree.fs
    if not fs.atomic_rename:
        return write_in_place(tree, model, fmt, record, overwrite=overwrite,
                              save_options=save_options, dedup=dedup, previous=previous,
                              explicit_version=explicit_version, check_load=check_load,
                              sample_rows=sample_rows, diagram=diagram, head=head)
    name, version = record["model_name"], record["version"]
    trained, meta_dir = tree.trained(name, version), tree.meta_dir(name, version)
    meta_file = meta_dir / METADATA_FILE
    exists = fs.exists(meta_file)
    if exists and not overwrite:
        raise VersionExistsError(f"{name}@{version} already exists; versions are immutable: "
                                 f"save without version= to get the next one, or pass "
                                 f"overwrite=True to replace it")
    if not exists and fs.exists(trained):
        if fs.exists(trained / INCOMPLETE_MARKER):
            fs.remove_tree(trained)  # left by a crashed save; we hold the lock
        elif not overwrite:
            raise VersionExistsError(f"{trained} exists but was not saved by "
                                     f"nbmodels; run `nbmodels rebuild-index` to adopt it, "
                                     f"or pass overwrite=True to replace it")
    tmp = fs.new_temp_dir(PurePosixPath(TRAINED), f"{TMP_PREFIX}{version_dir(name, version)}-")
    evaluation = tree.evaluation(name, version)
    suffix = os.urandom(4).hex()
    trash = PurePosixPath(TRAINED, f"{TRASH_PREFIX}{version_dir(name, version)}-{suffix}")
    eval_trash = PurePosixPath(EVALUATION, f"{TRASH_PREFIX}{version_dir(name, version)}-"
                               f"{suffix}")
    hidden = meta_dir / f"{METADATA_FILE}.{suffix}.replaced.tmp"
    done: set[str] = set()  # the steps taken, undone in reverse if the save fails
    try:
        fs.touch(tmp / INCOMPLETE_MARKER)
        sink = ArtifactSink(fs, tmp)
        try:
            record["format_info"] = fmt.save(model, sink, **(save_options or {}))
            files = sink.digests()
        except BaseException:
            sink.abort()
            raise
        fs.sync_dir(tmp)
        record["format"] = fmt.name
        # What a reader needs installed: the extra, or the plugin's module.
        record["format_extra"] = fmt.extra
        record["format_module"] = type(fmt).__module__
        record["files"] = [f.to_dict() for f in files]
        record["size_bytes"] = sum(f.size for f in files)
        record["origin"] = "saved"
        record["content_hash"] = content_hash(record)
        if dedup:
            found = find_identical(tree.registry, name, record["content_hash"], head)
            if found is not None:
                fs.remove_tree(tmp)  # the same model saved again (a re-run cell)
                saved_version, saved = found
                return ModelRecord(saved, Unchanged(
                    name, saved_version, save_differences(saved, record),
                    requested=version if explicit_version else None))
        settle_bump(record, previous)
        if check_load:
            from .portability import run_load_check

            record["load_check"] = run_load_check(
                fs, tmp, fmt.name, record["format_info"], record["files"], model, sample_rows,
                f"{name}@{version}")
        forget_identity(tree.registry, name, version)
        if fs.exists(trained):
            # Replacing: mark the old artifacts as uncommitted, then hide the old
            # record, so that a crash from here on leaves the version absent (its
            # pieces are orphans for gc) and never pairs a record with artifacts it
            # does not describe.
            fs.touch(trained / INCOMPLETE_MARKER)
            done.add("marked")
            if fs.exists(evaluation):
                fs.rename(evaluation, eval_trash)  # results of the old artifacts
                done.add("eval_trashed")
            if exists:
                fs.rename(meta_file, hidden)
                done.add("hidden")
            fs.rename(trained, trash)
            done.add("trashed")
        fs.rename(tmp, trained)
        done.add("moved")
        fs.make_dirs(meta_dir)
        tree.write_card(meta_dir, record, diagram() if callable(diagram) else diagram,
                        keep_diagram=False)
        fs.create_exclusive(meta_file, json_bytes(record))  # the commit point
    except BaseException:
        # Committed once the new record is in place: before that, metadata.json is
        # either absent or (until it is hidden) the old version's record.
        committed = fs.exists(meta_file) and (not exists or "hidden" in done)
        if not committed:
            _undo_write(tree, done, name, version, tmp, trash, eval_trash, hidden)
        raise
    fs.remove_file(trained / INCOMPLETE_MARKER)
    fs.remove_tree(trash)
    fs.remove_tree(eval_trash)
    fs.remove_file(hidden)
    tree.registry.committed(name, version, record, head if not exists else None)
    remember_identity(tree.registry, name, version, record["content_hash"])
    return ModelRecord(record)


def _undo_write(tree: StoreTree, done: set[str], name: str, version: str,
                tmp: PurePosixPath, trash: PurePosixPath, eval_trash: PurePosixPath,
                hidden: PurePosixPath) -> None:
    """Put back what a failed (not crashed) save changed, as far as possible."""
    fs = tree.fs
    trained, meta_dir = tree.trained(name, version), tree.meta_dir(name, version)
    evaluation = tree.evaluation(name, version)
    steps = [lambda: fs.remove_tree(tmp)]
    if "moved" in done:
        steps.append(lambda: fs.remove_tree(trained))
    if "trashed" in done:
        steps.append(lambda: fs.rename(trash, trained))
    if "eval_trashed" in done:
        steps.append(lambda: fs.rename(eval_trash, evaluation))
    if "hidden" in done:
        steps.append(lambda: fs.rename(hidden, meta_dir / METADATA_FILE))
        steps.append(lambda: tree.write_card(
            meta_dir, tree.registry.read_record(name, version) or {}))
    else:
        steps.append(lambda: tree.is_crash_leftover_meta(name, version)
                     and fs.remove_tree(meta_dir))
    if "marked" in done:
        steps.append(lambda: fs.remove_file(trained / INCOMPLETE_MARKER))
    for step in steps:
        # What cannot be put back stays as an orphan that verify reports.
        with contextlib.suppress(OSError):
            step()


class VersionClaimedError(VersionExistsError):
    """Another writer claimed this version number first (a save in progress elsewhere,
    or the leftover of one that crashed); a save that chose the number itself takes
    the next one."""


def _finish_record(record: dict[str, Any], fmt: Any, files: list[Any]) -> None:
    record["format"] = fmt.name
    record["format_extra"] = fmt.extra
    record["format_module"] = type(fmt).__module__
    record["files"] = [f.to_dict() for f in files]
    record["size_bytes"] = sum(f.size for f in files)
    record["origin"] = "saved"
    record["content_hash"] = content_hash(record)


def write_in_place(tree: StoreTree, model: Any, fmt: Any, record: dict[str, Any], *,
                   overwrite: bool, save_options: dict[str, Any] | None = None,
                   dedup: bool = True, previous: dict[str, Any] | None = None,
                   explicit_version: bool = False, check_load: bool = False,
                   sample_rows: Any = None, diagram: Any = None,
                   head: dict[str, Any] | None = None) -> ModelRecord:
    """The write order on an object store (see the module docstring); the arguments
    are those of :func:`write_version`.

    Replacing a version (``overwrite``) removes the old one first (record, then
    evaluation and artifacts), so a failure or crash leaves the version absent, never
    a record paired with artifacts it does not describe; unlike on a local disk the old
    version is not put back when the new save fails.
    """
    fs = tree.fs
    name, version = record["model_name"], record["version"]
    trained, meta_dir = tree.trained(name, version), tree.meta_dir(name, version)
    meta_file = meta_dir / METADATA_FILE
    marker = trained / INCOMPLETE_MARKER
    exists = fs.exists(meta_file)
    if exists and not overwrite:
        # (Claimed: when the save chose the number itself, another machine published
        # it since the head was read, and the save takes the next one.)
        raise VersionClaimedError(f"{name}@{version} already exists; versions are immutable: "
                                 f"save without version= to get the next one, or pass "
                                 f"overwrite=True to replace it")
    if exists:
        forget_identity(tree.registry, name, version)
        fs.touch(marker)
        fs.remove_file(meta_file)  # invisible from here on
        fs.remove_tree(tree.evaluation(name, version))
        fs.remove_tree(trained)
        exists = False
    try:
        fs.create_exclusive(marker, b"")  # the claim: one writer per version number
    except FileExistsError:
        raise VersionClaimedError(
            f"{name}@{version} is being saved by another writer, or was left by an "
            f"interrupted save (`nbmodels gc` removes it once it is old enough); save "
            f"without version= to get the next one") from None
    # A writer removes its claim only after its record is in place: a claim won now
    # may follow one that was just published. Nothing but our marker is touched then.
    if fs.is_file(meta_file):
        fs.remove_file(marker)
        raise VersionClaimedError(f"{name}@{version} was published by another writer "
                                  f"meanwhile; save again to get the next version")
    others = [e for e in fs.list_dir(trained) if e != INCOMPLETE_MARKER]
    if others and not overwrite:
        fs.remove_file(marker)
        raise VersionExistsError(f"{fs.display(trained)} exists but was not saved by "
                                 f"nbmodels; run `nbmodels rebuild-index` to adopt it, "
                                 f"or pass overwrite=True to replace it")
    committed = False
    try:
        for entry in others:
            fs.remove_tree(trained / entry)
        sink = ArtifactSink(fs, trained)
        try:
            record["format_info"] = fmt.save(model, sink, **(save_options or {}))
            files = sink.digests()
        except BaseException:
            sink.abort()
            raise
        _finish_record(record, fmt, files)
        if dedup:
            found = find_identical(tree.registry, name, record["content_hash"], head)
            if found is not None:
                fs.remove_tree(trained)  # the same model saved again (a re-run cell)
                committed = True  # nothing of ours is left to put back
                saved_version, saved = found
                return ModelRecord(saved, Unchanged(
                    name, saved_version, save_differences(saved, record),
                    requested=version if explicit_version else None))
        settle_bump(record, previous)
        if check_load:
            from .portability import run_load_check

            record["load_check"] = run_load_check(
                fs, trained, fmt.name, record["format_info"], record["files"], model,
                sample_rows, f"{name}@{version}")
        tree.write_card(meta_dir, record, diagram() if callable(diagram) else diagram,
                        keep_diagram=False)
        try:
            fs.create_exclusive(meta_file, json_bytes(record))  # the commit point
        except FileExistsError:
            committed = True  # not ours, but the folder is the other writer's now: keep it
            raise VersionClaimedError(f"{name}@{version} was published by another writer "
                                      f"meanwhile; save again to get the next version"
                                      ) from None
        committed = True
    finally:
        if not committed:
            # Put back what this save wrote, as far as possible; what cannot be removed
            # stays marked, an orphan for gc.
            with contextlib.suppress(OSError):
                if not fs.exists(meta_file) and tree.is_crash_leftover_meta(name, version):
                    fs.remove_tree(meta_dir)
            with contextlib.suppress(OSError):
                fs.remove_tree(trained)
    fs.remove_file(marker)
    tree.registry.committed(name, version, record, head)
    remember_identity(tree.registry, name, version, record["content_hash"])
    return ModelRecord(record)
