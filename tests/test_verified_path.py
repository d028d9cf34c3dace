"""Formats that load from a path get a private copy written from the verified bytes,
never the store's own file: nothing swapped in the store between the check and the
library's open can change what is loaded (issue 11, classes 3 and 7)."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import PurePosixPath

import pytest

from nbmodels import IntegrityError, ModelStore
from nbmodels.formats.base import ArtifactSource


def _source(store: ModelStore, name: str) -> ArtifactSource:
    return ArtifactSource(store.fs, PurePosixPath(f"trained/{name}_v1.0.0"),
                          store.record(name).files)


@pytest.fixture
def saved(store):
    store.save({"token": "saved", "blob": os.urandom(3 << 20)}, "m")
    folder = store.root / "trained" / "m_v1.0.0"
    return folder, (folder / "model.joblib").read_bytes()


def test_the_path_is_a_private_copy_of_the_verified_bytes(store, saved):
    _, data = saved
    source = _source(store, "m")
    path = source.path("model.joblib")
    assert store.root.resolve() not in path.resolve().parents
    assert path.read_bytes() == data
    assert source.path("model.joblib") == path  # made once per source
    scratch = path.parent
    del source
    gc.collect()
    assert not scratch.exists(), "the copy outlived its source"


def test_a_folder_swapped_for_a_link_after_the_check_changes_nothing(store, saved, tmp_path):
    folder, data = saved
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.joblib").write_bytes(b"not the verified bytes" * 1000)
    source = _source(store, "m")  # alive while the library reads, as in a load
    path = source.path("model.joblib")  # checked (the old check point)
    # Between the check and the library's open: the version folder becomes a link.
    shutil.move(folder, tmp_path / "moved")
    os.symlink(elsewhere, folder)
    assert path.read_bytes() == data  # what the library opens is what was verified


def test_a_file_changed_in_place_after_the_check_changes_nothing(store, saved):
    folder, data = saved
    source = _source(store, "m")
    path = source.path("model.joblib")
    with open(folder / "model.joblib", "r+b") as f:
        f.write(b"\0" * 100)
    assert path.read_bytes() == data


def test_a_changed_file_gives_no_path_and_leaves_no_copy(store, saved, tmp_path, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where scratch folders go
    folder, data = saved
    changed = bytearray(data)
    changed[-100] ^= 0xFF
    (folder / "model.joblib").write_bytes(bytes(changed))
    source = _source(store, "m")
    with pytest.raises(IntegrityError, match="does not match its record"):
        source.path("model.joblib")
    assert [p for p in scratch.rglob("*") if p.is_file()] == []


def test_a_version_folder_that_is_a_link_is_refused(store, saved, tmp_path):
    folder, _ = saved
    shutil.move(folder, tmp_path / "real")
    os.symlink(tmp_path / "real", folder)
    with pytest.raises(OSError, match="symbolic link"):
        _source(store, "m").path("model.joblib")
