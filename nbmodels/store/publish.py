"""Publishing one version: the write order that makes a save all or nothing.

Artifacts go to a temporary folder (marked incomplete), are fsynced and renamed into
``trained/{name}_v{version}/``; the model card follows, and ``metadata.json`` is
written last, atomically: it is the commit point. Replacing a version (``overwrite``)
hides the old record and artifacts first, so that a crash leaves the version absent
(its pieces are orphans for ``gc``) rather than a record paired with artifacts it does
not describe. A save that fails with an exception puts back what it changed.

Reached through :meth:`ModelStore.save`, which holds the model's lock.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import VersionExistsError
from ..formats import ArtifactSink
from ..record.capture import content_hash
from ..record.record import ModelRecord
from ..storage import local as _io
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA_FILE,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    version_dir,
)

if TYPE_CHECKING:
    from .model_store import ModelStore

__all__ = ["write_version"]


def write_version(store: ModelStore, model: Any, fmt: Any, record: dict[str, Any], *,
                  overwrite: bool, save_options: dict[str, Any] | None = None,
                  same_as: dict[str, Any] | None = None, check_load: bool = False,
                  sample_rows: Any = None, diagram: Any = None) -> ModelRecord:
    """Artifacts to a temp folder, fsync, rename, then the record: the commit point.

    ``same_as`` is the latest version's record: when the new content hash equals its
    one, the temp folder is dropped and that record returned (nothing is written).
    ``check_load`` loads the temp folder in a fresh process before publishing.
    ``diagram`` is the card's estimator diagram, or a callable that returns it.
    """
    name, version = record["model_name"], record["version"]
    trained, meta_dir = store._trained(name, version), store._meta_dir(name, version)
    meta_file = meta_dir / METADATA_FILE
    exists = _io.exists(meta_file)
    if exists and not overwrite:
        raise VersionExistsError(f"{name}@{version} already exists; versions are immutable: "
                                 f"save without version= to get the next one, or pass "
                                 f"overwrite=True to replace it")
    if not exists and _io.exists(trained):
        if _io.exists(trained / INCOMPLETE_MARKER):
            _io.remove_tree(trained)  # left by a crashed save; we hold the lock
        elif not overwrite:
            raise VersionExistsError(f"{store._rel(trained)} exists but was not saved by "
                                     f"nbmodels; run `nbmodels rebuild-index` to adopt it, "
                                     f"or pass overwrite=True to replace it")
    tmp = _io.new_temp_dir(store.root / TRAINED, f"{TMP_PREFIX}{version_dir(name, version)}-")
    evaluation = store.root / EVALUATION / version_dir(name, version)
    suffix = os.urandom(4).hex()
    trash = store.root / TRAINED / f"{TRASH_PREFIX}{version_dir(name, version)}-{suffix}"
    eval_trash = store.root / EVALUATION / f"{TRASH_PREFIX}{version_dir(name, version)}-" \
        f"{suffix}"
    hidden = meta_dir / f"{METADATA_FILE}.{suffix}.replaced.tmp"
    done: set[str] = set()  # the steps taken, undone in reverse if the save fails
    try:
        _io.touch(tmp / INCOMPLETE_MARKER)
        sink = ArtifactSink(tmp)
        try:
            record["format_info"] = fmt.save(model, sink, **(save_options or {}))
            files = sink.digests()
        except BaseException:
            sink.abort()
            raise
        _io.fsync_dir(tmp)
        record["format"] = fmt.name
        # What a reader needs installed: the extra, or the plugin's module.
        record["format_extra"] = fmt.extra
        record["format_module"] = type(fmt).__module__
        record["files"] = [f.to_dict() for f in files]
        record["size_bytes"] = sum(f.size for f in files)
        record["origin"] = "saved"
        record["content_hash"] = content_hash(record)
        if same_as is not None and same_as.get("content_hash") == record["content_hash"]:
            _io.remove_tree(tmp)  # the same model saved again (a re-run cell)
            return ModelRecord(same_as)
        if check_load:
            from .portability import run_load_check

            record["load_check"] = run_load_check(
                tmp, fmt.name, record["format_info"], record["files"], model, sample_rows,
                f"{name}@{version}")
        if _io.exists(trained):
            # Replacing: mark the old artifacts as uncommitted, then hide the old
            # record, so that a crash from here on leaves the version absent (its
            # pieces are orphans for gc) and never pairs a record with artifacts it
            # does not describe.
            _io.touch(trained / INCOMPLETE_MARKER)
            done.add("marked")
            if _io.exists(evaluation):
                _io.rename(evaluation, eval_trash)  # results of the old artifacts
                done.add("eval_trashed")
            if exists:
                _io.rename(meta_file, hidden)
                done.add("hidden")
            _io.rename(trained, trash)
            done.add("trashed")
        _io.rename(tmp, trained)
        done.add("moved")
        _io.make_dirs(meta_dir)
        store._write_card(meta_dir, record, diagram() if callable(diagram) else diagram,
                          keep_diagram=False)
        _io.atomic_write_json(meta_file, record)  # the commit point
    except BaseException:
        # Committed once the new record is in place: before that, metadata.json is
        # either absent or (until it is hidden) the old version's record.
        committed = _io.exists(meta_file) and (not exists or "hidden" in done)
        if not committed:
            _undo_write(store, done, name, version, tmp, trash, eval_trash, hidden)
        raise
    _io.remove_file(trained / INCOMPLETE_MARKER)
    _io.remove_tree(trash)
    _io.remove_tree(eval_trash)
    _io.remove_file(hidden)
    store._registry.refresh(name)
    return ModelRecord(record)


def _undo_write(store: ModelStore, done: set[str], name: str, version: str, tmp: Path,
                trash: Path, eval_trash: Path, hidden: Path) -> None:
    """Put back what a failed (not crashed) save changed, as far as possible."""
    trained, meta_dir = store._trained(name, version), store._meta_dir(name, version)
    evaluation = store.root / EVALUATION / version_dir(name, version)
    steps = [lambda: _io.remove_tree(tmp)]
    if "moved" in done:
        steps.append(lambda: _io.remove_tree(trained))
    if "trashed" in done:
        steps.append(lambda: _io.rename(trash, trained))
    if "eval_trashed" in done:
        steps.append(lambda: _io.rename(eval_trash, evaluation))
    if "hidden" in done:
        steps.append(lambda: _io.rename(hidden, meta_dir / METADATA_FILE))
        steps.append(lambda: store._write_card(
            meta_dir, store._registry.read_record(name, version) or {}))
    else:
        steps.append(lambda: store._crash_leftover_meta(name, version)
                     and _io.remove_tree(meta_dir))
    if "marked" in done:
        steps.append(lambda: _io.remove_file(trained / INCOMPLETE_MARKER))
    for step in steps:
        # What cannot be put back stays as an orphan that verify reports.
        with contextlib.suppress(OSError):
            step()
