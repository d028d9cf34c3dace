"""Edits and deletes of one version from several writers on an S3 store (moto's server
on loopback): the record is rewritten by compare-and-swap, an edit that lost the race
is applied again to the fresh record, and an edit never brings a deleted version back
(issue 15)."""

from __future__ import annotations

import time

import pytest
from nbm_helpers import WAIT_FOR_GO, finish_json, start_script

from nbmodels import ModelNotFoundError, ModelStore
from nbmodels.store.rewrite import rewrite_record
from nbmodels.store.tree import StoreTree


def version_keys(store: ModelStore, folder: str) -> list[str]:
    """The object keys of ``folder`` (``metadata/m_v1.0.0``) under the store's prefix."""
    root = store.fs.key(folder)
    try:
        return sorted(store.fs.fs.find(root))
    except FileNotFoundError:
        return []


# -- one writer's read, another's write in between: deterministic ------------------------------
def test_a_rewrite_that_lost_the_race_is_applied_again_to_the_fresh_record(s3_store):
    s3_store.save({"a": 1}, "m", description="old", tags=["x"])
    other = ModelStore(s3_store.root)  # another writer of the same bucket
    calls = []

    def change(data):
        calls.append(dict(data))
        if len(calls) == 1:
            # Between this writer's read and its write, another one edits the tags.
            other.edit("m", "1.0.0", add_tags=["theirs"])
        data["description"] = "mine"
        return data

    written = rewrite_record(StoreTree(s3_store.fs), "m", "1.0.0", change)
    assert len(calls) == 2, "the first write must have been refused"
    assert calls[1]["tags"] == ["x", "theirs"], "the second attempt starts from their record"
    assert written["description"] == "mine" and written["tags"] == ["x", "theirs"]
    fresh = ModelStore(s3_store.root).record("m", "1.0.0")
    assert fresh["description"] == "mine" and fresh["tags"] == ["x", "theirs"]
    card = s3_store.fs.read_bytes("metadata/m_v1.0.0/model_card.md").decode()
    assert "mine" in card and "theirs" in card


def test_a_rewrite_of_a_version_deleted_meanwhile_writes_nothing(s3_store):
    s3_store.save({"a": 1}, "m", description="old")
    s3_store.save({"a": 2}, "m")
    other = ModelStore(s3_store.root)

    def change(data):
        other.delete("m", "1.0.0")  # deleted between the read and the write
        data["description"] = "too late"
        return data

    assert rewrite_record(StoreTree(s3_store.fs), "m", "1.0.0", change) is None
    assert version_keys(s3_store, "metadata/m_v1.0.0") == []
    assert version_keys(s3_store, "trained/m_v1.0.0") == []
    fresh = ModelStore(s3_store.root)
    assert fresh.versions("m") == ["1.1.0"]
    with pytest.raises(ModelNotFoundError, match=r"m has no version 1\.0\.0"):
        fresh.edit("m", "1.0.0", description="again")
    assert fresh.verify().ok, fresh.verify()


# -- real processes at once ----------------------------------------------------------------
@pytest.mark.slow
def test_two_processes_editing_different_fields_at_once_both_land(s3_url, tmp_path):
    ModelStore(s3_url).save({"a": 1}, "m", description="start")
    code = WAIT_FOR_GO + """
from nbmodels import ModelStore
store = ModelStore(sys.argv[1])
who = sys.argv[3]
for i in range(8):
    if who == "a":
        store.edit("m", "1.0.0", description=f"a{i}")
    else:
        store.edit("m", "1.0.0", add_tags=[f"b{i}"])
    store.update_record("m", "1.0.0", {"metrics": {f"{who}{i}": float(i)}})
print(json.dumps({"who": who}))
"""
    go = tmp_path / "go"
    procs = [start_script(code, s3_url, str(go), who) for who in ("a", "b")]
    time.sleep(3)  # both imported and waiting
    go.touch()
    for proc in procs:
        finish_json(proc)
    rec = ModelStore(s3_url).record("m", "1.0.0")
    # Every edit of either process is there: none was overwritten by the other's.
    assert rec["description"] == "a7"
    assert rec["tags"] == [f"b{i}" for i in range(8)]
    assert set(rec["metrics"]) == {f"{w}{i}" for w in "ab" for i in range(8)}
    changed = [next(iter(e["changes"])) for e in rec["edits"]]
    assert sorted(changed) == ["description"] * 8 + ["tags"] * 8
    card = ModelStore(s3_url).fs.read_bytes("metadata/m_v1.0.0/model_card.md").decode()
    assert "a7" in card
    assert ModelStore(s3_url).verify().ok


@pytest.mark.slow
def test_an_edit_racing_a_delete_gets_not_found_and_the_version_stays_deleted(s3_url, tmp_path):
    store = ModelStore(s3_url)
    store.save({"a": 1}, "m", description="start")
    store.save({"a": 2}, "m")
    code = """
import json, sys
from nbmodels import ModelStore
store = ModelStore(sys.argv[1])
started = sys.argv[2]
done = 0
try:
    while True:
        store.edit("m", "1.0.0", description=f"edit {done}")
        store.update_record("m", "1.0.0", {"metrics": {"n": float(done)}})
        done += 1
        if done == 3:
            open(started, "w").close()
except Exception as exc:
    print(json.dumps({"edits": done, "error": type(exc).__name__, "message": str(exc)}))
"""
    started = tmp_path / "started"
    proc = start_script(code, s3_url, str(started))
    while not started.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    assert store.delete("m", "1.0.0") == "1.0.0"
    result = finish_json(proc)
    assert result["edits"] >= 3
    # The edit in flight is refused with the store's not-found error, in clear words.
    assert result["error"] == "ModelNotFoundError", result
    assert "1.0.0" in result["message"] and (
        "deleted while this change" in result["message"] or "has no version" in
        result["message"]), result
    fresh = ModelStore(s3_url)
    assert fresh.versions("m") == ["1.1.0"]
    for folder in ("metadata/m_v1.0.0", "trained/m_v1.0.0", "evaluation/m_v1.0.0"):
        assert version_keys(fresh, folder) == [], folder
    with pytest.raises(ModelNotFoundError):
        fresh.record("m", "1.0.0")
    assert fresh.verify().ok, fresh.verify()
