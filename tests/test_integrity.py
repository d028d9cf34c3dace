"""Damaged files are refused before anything is unpickled, and verify() finds them."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest
from nbm_helpers import UnpickleSpy

from nbmodels import IntegrityError, ModelNotFoundError, ModelStore

PAYLOAD = bytes(range(256)) * 64


def _artifact(store, name, version="1.0.0", file="model.joblib"):
    return store.root / "trained" / f"{name}_v{version}" / file


def _flip_payload_byte(path):
    """Flip one byte inside the spy's payload: the stream stays a valid pickle."""
    data = bytearray(path.read_bytes())
    at = data.index(PAYLOAD) + 1000
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.fixture
def spy_saved(tmp_path, store):
    marker = tmp_path / "unpickled.marker"
    store.save(UnpickleSpy(marker, PAYLOAD), "spy")
    # The spy works: loading the intact version unpickles it and leaves the marker.
    assert store.load("spy") == UnpickleSpy(marker, PAYLOAD)
    assert marker.exists()
    marker.unlink()
    return marker


def test_flipped_byte_refused_before_unpickling(tmp_path, store, spy_saved):
    marker = spy_saved
    path = _artifact(store, "spy")
    expected = store.record("spy").files[0]["sha256"]
    corrupted = _flip_payload_byte(path)
    actual = hashlib.sha256(corrupted).hexdigest()

    with pytest.raises(IntegrityError) as info:
        store.load("spy")
    message = str(info.value)
    assert str(path) in message
    assert expected in message and actual in message
    assert not marker.exists(), "the damaged artifact was unpickled before the check"

    # Control: the damaged bytes are still a loadable pickle, so only the check stopped it.
    spy = pickle.loads(corrupted)
    assert marker.exists() and spy.payload != PAYLOAD


def test_flipped_byte_refused_in_every_format(store, small_model):
    model, _, _ = small_model
    for fmt, file in (("joblib", "model.joblib"), ("pickle", "model.pkl")):
        store.save(model, f"m_{fmt}", format=fmt)
        path = _artifact(store, f"m_{fmt}", file=file)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match=f"{file} does not match its record"):
            store.load(f"m_{fmt}")


@pytest.mark.parametrize("damage", ["truncate", "empty", "append"])
def test_resized_artifact_refused_before_unpickling(store, spy_saved, damage):
    marker = spy_saved
    path = _artifact(store, "spy")
    size = path.stat().st_size
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: size // 2], "empty": b"",
                      "append": data + b"\0"}[damage])
    with pytest.raises(IntegrityError, match="record says") as info:
        store.load("spy")
    assert str(path) in str(info.value)
    assert not marker.exists()
    problems = store.verify(deep=False).problems
    assert [(p.kind, p.path) for p in problems] == [("corrupt",
                                                     "trained/spy_v1.0.0/model.joblib")]


def test_missing_artifact_refused(store):
    store.save({"a": 1}, "m")
    _artifact(store, "m").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        store.load("m")
    problems = store.verify().problems
    assert [(p.kind, p.path) for p in problems] == [("missing", "trained/m_v1.0.0/model.joblib")]


def test_adopted_joblib_file_is_checked_too(store, forest, tmp_path):
    import joblib

    folder = store.root / "trained" / "rf_v1.0.0"
    folder.mkdir(parents=True)
    joblib.dump(forest, folder / "model.joblib")
    store.rebuild_index()
    data = bytearray((folder / "model.joblib").read_bytes())
    data[-10] ^= 0xFF
    (folder / "model.joblib").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its record"):
        store.load("rf", trust=True)  # trusting a version never skips its hash check


def test_verify_deep_finds_same_size_corruption(store):
    store.save({"a": np.arange(1000)}, "m")
    store.save({"b": 2}, "other")
    path = _artifact(store, "m")
    data = bytearray(path.read_bytes())
    data[200] ^= 0x10
    path.write_bytes(bytes(data))
    assert store.verify(deep=False).ok  # sizes only: the flip is invisible
    report = store.verify()
    assert not report.ok
    assert report.versions_checked == 2 and report.files_checked == 2
    (problem,) = report.problems
    assert (problem.kind, problem.path, problem.name, problem.version) == \
        ("corrupt", "trained/m_v1.0.0/model.joblib", "m", "1.0.0")
    assert "sha256" in problem.detail
    assert "corrupt: trained/m_v1.0.0/model.joblib" in repr(report)
    assert json.loads(json.dumps(report.to_dict()))["ok"] is False
    assert "<table" in report._repr_html_()
    assert store.load("other") == {"b": 2}


@pytest.mark.parametrize("content", [b"", b'{"model_name": "bad", "vers', b"[1, 2]",
                                     b"\xff\xfe not utf-8", b"null"],
                         ids=["empty", "truncated", "not-a-dict", "binary", "null"])
def test_invalid_metadata_reported_and_others_still_listed(store, content):
    store.save({"a": 1}, "good")
    store.save({"b": 1}, "bad")
    store.save({"b": 2}, "bad")
    store.save({"c": 1}, "alone")
    store.set_alias("bad", "production", "1.0.0")
    (store.root / "metadata/bad_v1.1.0/metadata.json").write_bytes(content)
    (store.root / "metadata/alone_v1.0.0/metadata.json").write_bytes(content)

    fresh = ModelStore(store.root)
    listed = {m["name"]: m["latest"] for m in fresh.list()}
    assert listed == {"good": "1.0.0", "bad": "1.0.0"}  # bad falls back to its readable one
    assert fresh.load("good") == {"a": 1}
    assert fresh.load("bad@production") == {"b": 1}
    with pytest.raises(IntegrityError, match=r"metadata/bad_v1\.1\.0/metadata\.json"):
        fresh.load("bad", "1.1.0")

    report = fresh.verify()
    invalid = sorted(p.path for p in report.by_kind("invalid_metadata"))
    assert invalid == ["metadata/alone_v1.0.0/metadata.json",
                       "metadata/bad_v1.1.0/metadata.json"]
    assert not report.by_kind("corrupt") and not report.by_kind("missing")
    # A new save skips the version whose record is damaged instead of overwriting it.
    assert fresh.save({"b": 3}, "bad").version == "1.2.0"
    assert fresh.load("bad") == {"b": 3}
    assert (store.root / "metadata/bad_v1.1.0/metadata.json").read_bytes() == content


def test_stale_index_deleted_head_is_reported_and_repaired(store):
    store.save(1, "m")
    store.save(2, "m")
    head = store.root / "registry/index/m/head.json"
    head.unlink()
    report = store.verify()
    assert [(p.kind, p.name) for p in report.problems] == [("stale_index", "m")]
    fresh = ModelStore(store.root)
    assert fresh.latest("m") == "1.1.0"  # the read repairs it
    assert head.exists()
    assert store.verify().ok, store.verify()


def test_stale_index_hand_deleted_version_is_reported_and_repaired(store):
    store.save(1, "m")
    store.save(2, "m")
    store.save(3, "m")
    for top in ("metadata", "trained"):
        shutil.rmtree(store.root / top / "m_v1.2.0")
    report = store.verify()
    assert [(p.kind, p.name) for p in report.problems] == [("stale_index", "m")]
    assert "latest is 1.1.0" in report.problems[0].detail
    assert store.latest("m") == "1.1.0"
    assert store.load("m") == 2
    assert store.verify().ok, store.verify()
    assert store.save(4, "m").version == "1.2.0"


def test_stale_index_hand_deleted_model_and_alias(store):
    store.save(1, "m")
    store.save(2, "gone")
    store.set_alias("gone", "production", "1.0.0")
    for top in ("metadata", "trained"):
        shutil.rmtree(store.root / top / "gone_v1.0.0")
    report = store.verify()
    kinds = sorted((p.kind, p.path) for p in report.problems)
    assert kinds == [("stale_index", "registry/aliases/gone.json"),
                     ("stale_index", "registry/index/gone")]
    with pytest.raises(ModelNotFoundError, match="no model named 'gone'"):
        store.load("gone")
    with pytest.raises(ModelNotFoundError, match=r"points to 1\.0\.0, which no longer exists"):
        store.load("gone@production")
    assert [m["name"] for m in store.list()] == ["m"]
    rebuilt = store.rebuild_index()
    assert rebuilt.dropped_aliases == ["gone@production"]
    assert store.verify().ok, store.verify()


def test_stale_index_after_metadata_rewritten_by_hand(store):
    store.save(1, "m", description="old")
    path = store.root / "metadata/m_v1.0.0/metadata.json"
    data = json.loads(path.read_text())
    data["description"] = "edited by hand"
    data["metrics"] = {"accuracy": 0.5}
    path.write_text(json.dumps(data))
    listed = ModelStore(store.root).list()[0]
    assert listed["description"] == "edited by hand"
    assert listed["metrics"] == {"accuracy": 0.5}


def test_rebuild_index_from_nothing(store):
    store.save(1, "a")
    store.save(2, "a")
    store.save(3, "b")
    shutil.rmtree(store.root / "registry" / "index")
    report = store.rebuild_index()
    assert (report.models, report.versions, report.adopted) == (2, 3, [])
    assert store.verify().ok
    assert ModelStore(store.root).latest("a") == "1.1.0"


def test_record_with_an_unsafe_file_name_is_refused(store):
    """A hand-edited record cannot make load read outside the version folder."""
    store.save({"a": 1}, "m")
    store.save({"secret": 1}, "other")
    path = store.root / "metadata/m_v1.0.0/metadata.json"
    data = json.loads(path.read_text())
    target = store.root / "trained/other_v1.0.0/model.joblib"
    data["files"] = [{"name": "../other_v1.0.0/model.joblib", "size": target.stat().st_size,
                      "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}]
    path.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="not a plain file name"):
        store.load("m")
    problems = store.verify().problems
    assert [(p.kind, p.path) for p in problems] == [("invalid_metadata",
                                                     "metadata/m_v1.0.0/metadata.json")]
    assert "not a plain file name" in problems[0].detail


def test_a_record_that_names_another_model_cannot_redirect_load(store):
    """Paths come from the name asked for, not from the record's own model_name."""
    store.save({"a": 1}, "m")
    store.save({"secret": 1}, "other")
    path = store.root / "metadata/m_v1.0.0/metadata.json"
    data = json.loads(path.read_text())
    other = json.loads((store.root / "metadata/other_v1.0.0/metadata.json").read_text())
    for claimed in ("other", "../trained/other"):
        data.update(model_name=claimed, files=other["files"])
        path.write_text(json.dumps(data))
        with pytest.raises(IntegrityError, match=r"m_v1\.0\.0"):  # m's own file, other's hash
            store.load("m")


def test_a_hand_made_record_without_model_name_says_to_adopt_it(store):
    folder = store.root / "trained" / "bare_v1.0.0"
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(pickle.dumps({"w": 1}))
    meta = store.root / "metadata" / "bare_v1.0.0"
    meta.mkdir(parents=True)
    (meta / "metadata.json").write_text(json.dumps({"description": "kept by hand"}))
    with pytest.raises(IntegrityError, match=r"bare@1\.0\.0 has no file hashes.*rebuild-index"):
        store.load("bare", trust=True)
    rec = store.record("bare")  # named by its folder, shown like any other
    assert (rec.ref, rec["description"]) == ("bare@1.0.0", "kept by hand") and repr(rec)
    store.rebuild_index()
    assert store.load("bare", trust=True) == {"w": 1}


def test_index_notices_a_commit_into_an_existing_folder(store):
    """A save in progress: its record folder exists before its metadata.json (the commit
    point) appears, which changes nothing in metadata/ itself. A reader in between must
    not leave an index that hides the new version afterwards."""
    store.save({"v": 1}, "m", version="1.0.0", description="1")
    store.save({"v": 2}, "m", version="2.0.0", description="2")
    committed = (store.root / "metadata/m_v2.0.0/metadata.json").read_bytes()
    (store.root / "metadata/m_v2.0.0/metadata.json").unlink()  # "not committed yet"
    reader = ModelStore(store.root)
    assert reader.latest("m") == "1.0.0"
    assert reader.list()[0]["latest"] == "1.0.0"
    (store.root / "metadata/m_v2.0.0/metadata.json").write_bytes(committed)  # the commit
    assert ModelStore(store.root).latest("m") == "2.0.0"
    assert reader.latest("m") == "2.0.0"
    assert reader.list()[0]["latest"] == "2.0.0"
    assert reader.load("m") == {"v": 2}
    assert store.verify().ok, store.verify()


def test_index_notices_a_record_rewritten_by_another_process(store):
    store.save({"v": 1}, "m", description="before")
    reader = ModelStore(store.root)
    assert reader.list()[0]["description"] == "before"
    ModelStore(store.root).update_record("m", "1.0.0", {"description": "after",
                                                       "metrics": {"accuracy": 0.9}})
    assert reader.list()[0]["description"] == "after"
    assert reader.list()[0]["metrics"] == {"accuracy": 0.9}


def test_hand_edited_alias_cannot_point_outside_the_store(store):
    store.save({"v": 1}, "m")
    aliases = store.root / "registry/aliases/m.json"
    aliases.parent.mkdir(parents=True, exist_ok=True)
    aliases.write_text(json.dumps({"production": "1.0.0", "evil": "../../../etc",
                                   "odd": 3}))
    # A damaged aliases file is never half-trusted: every use names it and the repair.
    for use in (lambda: store.aliases("m"), lambda: store.load("m@production"),
                lambda: store.load("m@evil"), lambda: store.set_alias("m", "staging", "1.0.0")):
        with pytest.raises(IntegrityError, match=r"registry/aliases/m\.json .*not versions: "
                                                 r"evil, odd.*Repair it by hand"):
            use()
    assert store.load("m@1.0.0") == {"v": 1}


def test_verify_reports_interrupted_index_writes_and_gc_removes_them(store):
    store.save({"v": 1}, "m")
    stray = store.root / "registry/index/m/head.json.0123456789ab.tmp"
    stray.write_text("{")
    report = store.verify()
    assert [(p.kind, p.path) for p in report.problems] == [
        ("orphan", "registry/index/m/head.json.0123456789ab.tmp")]
    assert store.gc().removed == [("registry/index/m/head.json.0123456789ab.tmp", 1)]
    assert store.verify().ok


def test_a_model_whose_only_record_is_damaged_is_not_called_missing(store):
    store.save({"w": [1, 2]}, "broken")
    store.save({"w": [1]}, "fine")
    (store.root / "metadata" / "broken_v1.0.0" / "metadata.json").write_text('{"trunc')
    for call in (lambda: store.load("broken"), lambda: store.record("broken")):
        with pytest.raises(IntegrityError, match="no version of 'broken' has a readable record"):
            call()
    with pytest.raises(ModelNotFoundError, match="did you mean broken"):
        store.load("brokn")
    assert [m["name"] for m in store.list()] == ["fine"]
    assert [p.kind for p in store.verify().problems] == ["invalid_metadata"]
