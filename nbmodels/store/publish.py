"""Publishing one version: the write order that makes a save all or nothing.

Artifacts go to a temporary folder (marked incomplete), are fsynced and renamed into
``trained/{name}_v{version}/``; the model card follows, and ``metadata.json`` is
written last, atomically: it is the commit point. Replacing a version (``overwrite``)
hides the old record, card, evaluation and artifacts first, all under one suffix ``S``
(``metadata.json.S.replaced.tmp``, ``model_card.md.S.replaced.tmp``,
``trained/.trash-{name}_v{version}-S``, ``evaluation/.trash-...-S``), so a record is
never paired with artifacts it does not describe. A save that fails with an exception
puts back what it changed; one that was killed is put back by :func:`recover`, which
the next access, the next write under the lock and ``gc`` run: the old version comes
back whole unless the new record was committed, and only then are the hidden pieces
dropped. The hidden record is removed last, so while it exists the rest can be found.

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
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..errors import VersionExistsError
from ..formats import ArtifactSink
from ..progress import Progress
from ..record.bumps import save_differences, settle_bump
from ..record.capture import content_hash
from ..record.record import ModelRecord, Unchanged
from ..storage.backend import json_bytes
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA_FILE,
    MODEL_CARD,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    version_dir,
)
from . import trust
from .dedup import find_identical, forget_identity, remember_identity
from .tree import StoreTree

__all__ = ["REPLACED", "SaveJob", "VersionClaimedError", "interrupted_suffixes",
           "needs_restore", "recover", "write_in_place", "write_version"]

REPLACED = "replaced.tmp"  # the hidden record and card of a version being replaced


@dataclass
class SaveJob:
    """One save, as :meth:`ModelStore.save` hands it to the write order.

    ``record`` is the record being built (its ``model_name`` and ``version`` say where
    it goes). With ``dedup``, when the artifacts are identical (same format and file
    sha256) to those of any version of the name, nothing is written and that version's
    record is returned with :attr:`ModelRecord.unchanged` set. ``previous`` is the
    latest version's record, which the bump reason is settled against once the
    artifact hashes are known; ``explicit_version`` says the caller named the version
    (an unchanged save then says that it was not created). ``check_load`` loads the
    written files in a fresh process before publishing (on ``sample_rows``).
    ``diagram`` is the card's estimator diagram, or a callable that returns it.
    ``head`` is the model's index entry read under the lock before this save; the index
    is updated from it instead of being recomputed. ``progress(stage, done, total)``
    hears the bytes written (stage ``"write"``) and the load check (``"check_load"``).
    """

    model: Any
    fmt: Any
    record: dict[str, Any]
    overwrite: bool = False
    save_options: dict[str, Any] | None = None
    dedup: bool = True
    previous: dict[str, Any] | None = None
    explicit_version: bool = False
    check_load: bool = False
    sample_rows: Any = None
    diagram: Any = None
    head: dict[str, Any] | None = None
    progress: Progress | None = None

    def card_diagram(self) -> Any:
        """The card's diagram, computed now if it was given as a callable."""
        return self.diagram() if callable(self.diagram) else self.diagram


def write_version(tree: StoreTree, job: SaveJob) -> ModelRecord:
    """Artifacts to a temp folder, fsync, rename, then the record: the commit point
    (see :class:`SaveJob` for what the save carries)."""
    fs = tree.fs
    if not fs.atomic_rename:
        return write_in_place(tree, job)
    record, overwrite = job.record, job.overwrite
    name, version = record["model_name"], record["version"]
    trained, meta_dir = tree.trained(name, version), tree.meta_dir(name, version)
    meta_file = meta_dir / METADATA_FILE
    if fs.exists(meta_dir):
        # What a killed overwrite of this version left (a new version number has no
        # record folder yet, and nothing to put back: its save never lists the store).
        recover(tree, name, version)
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
    trash, eval_trash, hidden, hidden_card = _hidden_paths(tree, name, version, suffix)
    done: set[str] = set()  # the steps taken, undone in reverse if the save fails
    try:
        # The marker need not be durable on its own: a temporary folder is an orphan with
        # or without it, and the sync of the folder below, before the rename that makes
        # it ``trained/{name}_v{version}``, makes the marker's entry durable too.
        fs.replace(tmp / INCOMPLETE_MARKER, b"", durable=False)
        _write_artifacts(fs, tmp, job)
        fs.sync_dir(tmp)
        unchanged = _identical_or_checked(tree, tmp, job)
        if unchanged is not None:
            return unchanged
        forget_identity(tree.registry, name, version)
        if fs.exists(trained):
            # Replacing: hide the old version's pieces under one suffix. From the
            # moment the record is hidden until the new one is committed the version
            # is absent, and recover() puts the old one back whole.
            if exists:
                fs.touch(trained / INCOMPLETE_MARKER)
                done.add("marked")
            else:
                # A folder made by hand (no record): an intent note in the record's
                # place says where it went, so that recover() brings it back.
                fs.make_dirs(meta_dir)
                fs.replace(hidden, json_bytes({"replacing_unadopted": True}))
                done.add("hidden")
            if exists:
                # The record first: from here on the next reader restores the old
                # version whole (a crash before this leaves it untouched but a marker).
                fs.rename(meta_file, hidden)
                done.add("hidden")
                if fs.exists(meta_dir / MODEL_CARD):
                    fs.rename(meta_dir / MODEL_CARD, hidden_card)
                    done.add("card_hidden")
            if fs.exists(evaluation):
                fs.rename(evaluation, eval_trash)  # results of the old artifacts
                done.add("eval_trashed")
            fs.rename(trained, trash)
            done.add("trashed")
        fs.rename(tmp, trained)
        done.add("moved")
        fs.make_dirs(meta_dir)
        tree.write_card(meta_dir, record, job.card_diagram(), keep_diagram=False)
        # Bytes this user's process wrote: theirs to load (remembered before the commit,
        # so a crash right after it cannot leave their own version untrusted).
        trust.remember(record["files"], how="saved", ref=f"{name}@{version}", store=fs.url)
        fs.create_exclusive(meta_file, json_bytes(record))  # the commit point
    except BaseException:
        # Committed once the new record is in place: before that, metadata.json is
        # either absent or (until it is hidden) the old version's record.
        committed = fs.exists(meta_file) and (not exists or "hidden" in done)
        if not committed:
            _undo_write(tree, done, name, version, tmp, trash, eval_trash, hidden)
        raise
    fs.remove_file(trained / INCOMPLETE_MARKER)
    _drop_hidden(tree, name, version, suffix)
    tree.registry.committed(name, version, record, job.head if not exists else None)
    remember_identity(tree.registry, name, version, record["content_hash"])
    return ModelRecord(record)


def _undo_write(tree: StoreTree, done: set[str], name: str, version: str,
                tmp: PurePosixPath, trash: PurePosixPath, eval_trash: PurePosixPath,
                hidden: PurePosixPath) -> None:
    """Put back what a failed (not crashed) save changed, as far as possible."""
    fs = tree.fs
    with contextlib.suppress(OSError):
        fs.remove_tree(tmp)
    if done & {"hidden", "trashed", "eval_trashed", "card_hidden"}:
        # The same steps a crash would need: recover() knows them all.
        with contextlib.suppress(OSError):
            recover(tree, name, version)
    else:
        # A new version that never got its record: the card first (it counts as ours
        # only while the artifacts are marked), then the artifacts.
        with contextlib.suppress(OSError):
            if tree.is_crash_leftover_meta(name, version):
                fs.remove_tree(tree.meta_dir(name, version))
        if "moved" in done:
            with contextlib.suppress(OSError):
                tree.remove_artifacts(tree.trained(name, version))
    if "marked" in done:
        with contextlib.suppress(OSError):
            fs.remove_file(tree.trained(name, version) / INCOMPLETE_MARKER)
    with contextlib.suppress(OSError):
        recover(tree, name, version)


def _hidden_paths(tree: StoreTree, name: str, version: str, suffix: str
                  ) -> tuple[PurePosixPath, PurePosixPath, PurePosixPath, PurePosixPath]:
    """``(artifacts trash, evaluation trash, hidden record, hidden card)`` of suffix S."""
    vdir = version_dir(name, version)
    meta_dir = tree.meta_dir(name, version)
    return (PurePosixPath(TRAINED, f"{TRASH_PREFIX}{vdir}-{suffix}"),
            PurePosixPath(EVALUATION, f"{TRASH_PREFIX}{vdir}-{suffix}"),
            meta_dir / f"{METADATA_FILE}.{suffix}.{REPLACED}",
            meta_dir / f"{MODEL_CARD}.{suffix}.{REPLACED}")


def _drop_hidden(tree: StoreTree, name: str, version: str, suffix: str) -> None:
    """Remove the hidden pieces of a replaced version, the hidden record last."""
    trash, eval_trash, hidden, hidden_card = _hidden_paths(tree, name, version, suffix)
    tree.fs.remove_tree(trash)
    tree.fs.remove_tree(eval_trash)
    tree.fs.remove_file(hidden_card)
    tree.fs.remove_file(hidden)


def needs_restore(tree: StoreTree, name: str, version: str) -> bool:
    """Whether a killed overwrite hid this version (its record is hidden, not back):
    one listing of its record folder, cheap enough for the read path."""
    entries = tree.fs.list_dir(tree.meta_dir(name, version))
    return METADATA_FILE not in entries and any(
        e.startswith(f"{METADATA_FILE}.") and e.endswith(f".{REPLACED}") for e in entries)


def interrupted_suffixes(tree: StoreTree, name: str, version: str) -> list[str]:
    """Suffixes of the replacements of a version that were interrupted (by a crash,
    or still running in another process)."""
    fs = tree.fs
    vdir = version_dir(name, version)
    found = set()
    for entry in fs.list_dir(tree.meta_dir(name, version)):
        for stem in (METADATA_FILE, MODEL_CARD):
            if entry.startswith(f"{stem}.") and entry.endswith(f".{REPLACED}"):
                found.add(entry[len(stem) + 1:-len(REPLACED) - 1])
    for top in (TRAINED, EVALUATION):
        for entry in fs.list_dir(PurePosixPath(top)):
            if entry.startswith(f"{TRASH_PREFIX}{vdir}-"):
                rest = entry[len(f"{TRASH_PREFIX}{vdir}-"):]
                if rest and "-" not in rest:
                    found.add(rest)
    return sorted(s for s in found if s and all(c in "0123456789abcdef" for c in s))


def recover(tree: StoreTree, name: str, version: str, *, dry_run: bool = False) -> list[str]:
    """Finish what a killed replacement or delete of ``name@version`` left: the old
    version back whole when the new record was never committed, else the hidden old
    pieces removed. Call with the model's lock held. Returns what was done (or, with
    ``dry_run``, what would be done)."""
    fs = tree.fs
    trained, meta_dir = tree.trained(name, version), tree.meta_dir(name, version)
    meta_file = meta_dir / METADATA_FILE
    evaluation = tree.evaluation(name, version)
    actions: list[str] = []
    for suffix in interrupted_suffixes(tree, name, version):
        trash, eval_trash, hidden, hidden_card = _hidden_paths(tree, name, version, suffix)
        ref = f"{name}@{version}"
        if fs.exists(hidden) and not fs.exists(meta_file):
            stub = _is_intent_note(fs, hidden)
            actions.append(f"restored {ref}" + (" (a folder made by hand)" if stub else ""))
            if dry_run:
                continue
            if fs.exists(trash):
                if fs.exists(trained):  # the new artifacts, never committed
                    tree.remove_artifacts(trained)
                fs.rename(trash, trained)
            if fs.exists(eval_trash):
                if fs.exists(evaluation):
                    fs.remove_tree(evaluation)
                fs.rename(eval_trash, evaluation)
            if stub:
                fs.remove_file(hidden)
                if not fs.list_dir(meta_dir):
                    fs.remove_tree(meta_dir)
                continue
            fs.remove_file(trained / INCOMPLETE_MARKER)
            if fs.exists(hidden_card):
                fs.rename(hidden_card, meta_dir / MODEL_CARD)
            else:
                data = _read_json(fs, hidden)
                if isinstance(data, dict):
                    tree.write_card(meta_dir, data, keep_diagram=False)
            fs.rename(hidden, meta_file)  # visible again: the restore's commit point
        elif fs.exists(hidden):
            # The new record was committed: the hidden pieces are the old version's.
            actions.append(f"dropped the replaced copy of {ref}")
            if not dry_run:
                _drop_hidden(tree, name, version, suffix)
        elif fs.exists(meta_file):
            # Killed before the record was hidden (or a delete before the record
            # went): the version is the old one; put back what had moved aside.
            moved = [(eval_trash, evaluation), (hidden_card, meta_dir / MODEL_CARD)]
            if any(fs.exists(src) for src, _ in moved):
                actions.append(f"put back the evaluation or card of {ref}")
            if dry_run:
                continue
            for src, dst in moved:
                if fs.exists(src):
                    if fs.exists(dst):
                        fs.remove_tree(src)
                    else:
                        fs.rename(src, dst)
            fs.remove_tree(trash)
        else:
            # A delete that was killed after the record went: the rest goes too.
            actions.append(f"removed what a delete of {ref} left")
            if not dry_run:
                _drop_hidden(tree, name, version, suffix)
    return actions


def _is_intent_note(fs: Any, path: PurePosixPath) -> bool:
    data = _read_json(fs, path)
    return isinstance(data, dict) and data.get("replacing_unadopted") is True


def _read_json(fs: Any, path: PurePosixPath) -> Any:
    try:
        return fs.read_json(path)
    except (OSError, ValueError, RecursionError):
        return None


class VersionClaimedError(VersionExistsError):
    """Another writer claimed this version number first (a save in progress elsewhere,
    or the leftover of one that crashed); a save that chose the number itself takes
    the next one."""


def _identical_or_checked(tree: StoreTree, folder: PurePosixPath,
                          job: SaveJob) -> ModelRecord | None:
    """The step both write orders share once the artifacts are written to ``folder``:
    an identical earlier version ends the save (``folder`` removed, that version's
    record returned, marked unchanged); else the bump reason is settled against the
    artifact hashes and, with ``check_load``, the version is loaded in a fresh process.
    Returns ``None`` when the save goes on."""
    fs, record, progress = tree.fs, job.record, job.progress
    name, version = record["model_name"], record["version"]
    if job.dedup:
        found = find_identical(tree.registry, name, record["content_hash"], job.head)
        if found is not None:
            fs.remove_tree(folder)  # the same model saved again (a re-run cell)
            saved_version, saved = found
            # This user's own object, serialized to these very bytes: theirs to load.
            trust.remember(saved.get("files") or [], how="saved",
                           ref=f"{name}@{saved_version}", store=fs.url)
            return ModelRecord(saved, Unchanged(
                name, saved_version, save_differences(saved, record),
                requested=version if job.explicit_version else None))
    settle_bump(record, job.previous)
    if job.check_load:
        from .portability import run_load_check

        if progress is not None:
            progress("check_load", 0, 1)
        record["load_check"] = run_load_check(
            fs, folder, job.fmt.name, record["format_info"], record["files"], job.model,
            job.sample_rows, f"{name}@{version}")
        if progress is not None:
            progress("check_load", 1, 1)
    return None


def _write_artifacts(fs: Any, folder: PurePosixPath, job: SaveJob) -> None:
    """The format writes the model into ``folder`` (hashed as written); the record gets
    the format's details, the files with their sha256 and the content hash."""
    sink = ArtifactSink(fs, folder, progress=job.progress)
    try:
        job.record["format_info"] = job.fmt.save(job.model, sink, **(job.save_options or {}))
        files = sink.digests()
    except BaseException:
        sink.abort()
        raise
    _finish_record(job.record, job.fmt, files)


def _finish_record(record: dict[str, Any], fmt: Any, files: list[Any]) -> None:
    record["format"] = fmt.name
    record["format_extra"] = fmt.extra
    record["format_module"] = type(fmt).__module__
    record["files"] = [f.to_dict() for f in files]
    record["size_bytes"] = sum(f.size for f in files)
    record["origin"] = "saved"
    record["content_hash"] = content_hash(record)


def write_in_place(tree: StoreTree, job: SaveJob) -> ModelRecord:
    """The write order on an object store (see the module docstring and
    :class:`SaveJob`).

    Replacing a version (``overwrite``) removes the old one first (record, then
    evaluation and artifacts), so a failure or crash leaves the version absent, never
    a record paired with artifacts it does not describe; unlike on a local disk the old
    version is not put back when the new save fails.
    """
    fs, record, overwrite = tree.fs, job.record, job.overwrite
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
        _write_artifacts(fs, trained, job)
        unchanged = _identical_or_checked(tree, trained, job)
        if unchanged is not None:
            committed = True  # nothing of ours is left to put back
            return unchanged
        tree.write_card(meta_dir, record, job.card_diagram(), keep_diagram=False)
        trust.remember(record["files"], how="saved", ref=f"{name}@{version}", store=fs.url)
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
    tree.registry.committed(name, version, record, job.head)
    remember_identity(tree.registry, name, version, record["content_hash"])
    return ModelRecord(record)
