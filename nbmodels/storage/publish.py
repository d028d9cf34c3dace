"""Publishing a folder of small derived files (an evaluation) whole, and repairing a
switch that a crash interrupted.

:func:`publish_files` and :func:`recover_published`, every step made relative to the
parent folder's descriptor (:mod:`nbmodels.storage.fd_walk`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from .fd_walk import exists_at, is_real_dir_at, remove_tree_at, subdir_fd, write_new_at
from .files import make_dirs

__all__ = [
    "REPLACED_PREFIX",
    "publish_files",
    "recover_published",
]


REPLACED_PREFIX = ".replaced-"


def publish_files(target: Path | str, files: dict[str, bytes], *,
                  stale: Iterable[str] = (), commit_last: str | None = None,
                  dir_fd: int | None = None, shown: str | None = None) -> None:
    """Write a folder of small derived files (an evaluation) so that readers see the
    old set or the new set, whole, never a mix.

    The new set is written into a fresh temporary sibling of ``target``; files of the
    old folder that this set neither replaces nor lists as ``stale`` are hard-linked in
    beside them. A new ``target`` is then one rename. An existing one is switched by
    two renames (old folder aside as ``.replaced-{name}-S``, new folder in place), and
    the old folder's subfolders (other data sets) are moved over before the old one is
    removed. A crash in between is repaired by :func:`recover_published`, which the
    next publication and ``gc`` run: the old folder comes back whole if the new one is
    not in place yet. ``commit_last`` is kept for callers; the switch is one rename.
    Nothing is fsynced: the files can be recomputed. Every step is made relative to the
    parent folder's descriptor (``dir_fd``: ``target`` is a name in that open folder,
    as the local backend passes it; ``shown`` names it in messages), so a link in
    place of the folder is refused when it is used, never written through.
    """
    if dir_fd is not None:
        _publish_at(dir_fd, str(target), shown or str(target), files, stale)
        return
    target = Path(target)
    make_dirs(target.parent)
    fd = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _publish_at(fd, target.name, str(target), files, stale)
    finally:
        os.close(fd)


def recover_published(target: Path | str, *, dir_fd: int | None = None,
                      shown: str | None = None) -> bool:
    """Finish or undo a switch of ``target`` that a crash interrupted (see
    :func:`publish_files`, also for ``dir_fd`` and ``shown``); ``True`` when something
    was done."""
    if dir_fd is not None:
        return _recover_at(dir_fd, str(target), shown or str(target))
    target = Path(target)
    try:
        fd = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        return _recover_at(fd, target.name, str(target))
    finally:
        os.close(fd)


def _publish_at(parent_fd: int, target: str, shown: str, files: dict[str, bytes],
                stale: Iterable[str]) -> None:
    """:func:`publish_files` of ``target`` in the open folder ``parent_fd``."""
    import stat as st

    _recover_at(parent_fd, target, shown)
    tmp = f".tmp-{target}-{uuid.uuid4().hex[:12]}"
    os.mkdir(tmp, dir_fd=parent_fd)
    try:
        tmp_fd = subdir_fd(parent_fd, tmp, f"{shown}/../{tmp}")
        try:
            for name, data in files.items():
                write_new_at(tmp_fd, name, data, durable=False)
            try:
                os.rename(tmp, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
                return
            except OSError:
                if not is_real_dir_at(target, parent_fd):
                    raise
            dropped = set(files) | set(stale)
            old_fd = subdir_fd(parent_fd, target, shown)
            try:
                for name in os.listdir(old_fd):
                    if name in dropped:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        mode = os.stat(name, dir_fd=old_fd, follow_symlinks=False).st_mode
                        if st.S_ISREG(mode):
                            os.link(name, name, src_dir_fd=old_fd, dst_dir_fd=tmp_fd,
                                    follow_symlinks=False)
            finally:
                os.close(old_fd)
        finally:
            os.close(tmp_fd)
        aside = f"{REPLACED_PREFIX}{target}-{uuid.uuid4().hex[:8]}"
        os.rename(target, aside, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        os.rename(tmp, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        _finish_switch_at(parent_fd, target, aside, shown)
    finally:
        remove_tree_at(parent_fd, tmp, f"{shown}/../{tmp}")


def _finish_switch_at(parent_fd: int, target: str, aside: str, shown: str) -> None:
    """Move the subfolders of the old folder ``aside`` into the new ``target`` (both in
    the open folder ``parent_fd``), then drop the old one."""
    aside_fd = subdir_fd(parent_fd, aside, f"{shown}/../{aside}")
    try:
        target_fd = subdir_fd(parent_fd, target, shown)
        try:
            for name in os.listdir(aside_fd):
                if is_real_dir_at(name, aside_fd) and not exists_at(name, target_fd):
                    os.rename(name, name, src_dir_fd=aside_fd, dst_dir_fd=target_fd)
        finally:
            os.close(target_fd)
    finally:
        os.close(aside_fd)
    remove_tree_at(parent_fd, aside, f"{shown}/../{aside}")


def _recover_at(parent_fd: int, target: str, shown: str) -> bool:
    """:func:`recover_published` of ``target`` in the open folder ``parent_fd``."""
    prefix = f"{REPLACED_PREFIX}{target}-"
    done = False
    for name in sorted(os.listdir(parent_fd)):
        if not name.startswith(prefix) or "-" in name[len(prefix):]:
            continue
        if not is_real_dir_at(name, parent_fd):
            continue
        if not exists_at(target, parent_fd):
            os.rename(name, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        else:
            _finish_switch_at(parent_fd, target, name, shown)
        done = True
    return done
