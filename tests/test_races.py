"""Races with real processes: loads against in-place rewrites, maintenance against
savers, evaluations against deletes; and what maintenance must never touch.

Each test runs real concurrent processes on a real store (no mocks) and checks the
outcome, not the timing: a rewrite during a load is an IntegrityError or the right
object, never a crash; rebuild-index never fails while a saver runs; gc leaves folders
made by hand alone and only reads in dry-run mode.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from nbm_helpers import loads_beside_rewrites

from nbmodels import ModelStore, evaluate
from nbmodels.errors import ModelNotFoundError
from nbmodels.evaluation.tasks import EvaluationError


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- class 7: the bytes unpickled are the bytes verified --------------------------------

def test_a_file_changed_after_the_check_is_not_what_is_unpickled(store):
    store.save({"token": "saved", "w": np.arange(100_000)}, "m")
    artifact = store.version_path("trained", "m", "1.0.0") / "model.joblib"
    rec = store.record("m").files[0]
    from pathlib import PurePosixPath

    with store.fs.verified(PurePosixPath("trained/m_v1.0.0/model.joblib"), rec["size"],
                           rec["sha256"]) as data:
        # Rewritten in place (same size) after the hash was checked.
        forged = pickle.dumps({"token": "forged", "w": np.arange(100_000)}, protocol=5)
        with open(artifact, "r+b") as f:
            f.write(forged[: rec["size"]])
        assert pickle.load(data)["token"] == "saved"


def test_a_rewrite_in_place_during_loads_never_crashes_the_loader(store, tmp_path):
    """``joblib.dump`` over the store path while another process loads in a loop: every
    load returns the saved model or raises IntegrityError; the loader is never killed
    (SIGBUS was the failure of a shared map)."""
    arrays = {"token": "saved", "w": np.random.default_rng(0).standard_normal(3_000_000)}
    store.save(arrays, "big")
    artifact = store.version_path("trained", "big", "1.0.0") / "model.joblib"
    store.trust("big", "1.0.0")
    loader = _spawn("""
        import sys, time
        from nbmodels import ModelStore
        from nbmodels.errors import IntegrityError
        store = ModelStore(sys.argv[1])
        ok = refused = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline or ok + refused < 5:
            try:
                obj = store.load("big")
                assert obj["token"] == "saved" and obj["w"].shape == (3_000_000,)
                ok += 1
            except IntegrityError:
                refused += 1
        print(ok, refused, flush=True)
    """, str(store.root))
    writer = _spawn("""
        import sys, joblib, numpy as np
        rng = np.random.default_rng(1)
        while True:
            for n in (3_000_000, 1_000, 5_000_000):
                joblib.dump({"token": "rewritten", "w": rng.standard_normal(n)}, sys.argv[1])
    """, str(artifact))
    loads_beside_rewrites(loader, writer)


# -- class 6: maintenance against writers -----------------------------------------------

def test_rebuild_index_never_fails_while_savers_run(store):
    store.save({"i": 0}, "busy")
    saver = _spawn("""
        import sys
        from nbmodels import ModelStore
        store = ModelStore(sys.argv[1])
        for i in range(1, 60):
            store.save({"i": i}, "busy", bump="patch")
            store.save({"i": i}, f"other{i % 3}", bump="patch")
        print("done", flush=True)
    """, str(store.root))
    rebuilds = 0
    try:
        while saver.poll() is None:
            store.rebuild_index()  # an OSError (ENOTEMPTY) here was the failure
            store.gc()
            rebuilds += 1
    finally:
        _out, err = saver.communicate(timeout=300)
    assert saver.returncode == 0, err[-2000:]
    assert rebuilds >= 1
    assert store.versions("busy")[-1] == "1.0.59"
    assert store.verify().ok, store.verify()


def test_gc_never_touches_a_hand_made_folder_or_its_card(store):
    store.save({"a": 1}, "saved")
    hand = store.root / "trained" / "hand_v1.0.0"
    hand.mkdir(parents=True)
    (hand / "model.joblib").write_bytes(pickle.dumps({"h": 1}))
    card = store.root / "metadata" / "hand_v1.0.0" / "model_card.md"
    card.parent.mkdir(parents=True)
    card.write_text("# my own notes\n")
    lone = store.root / "metadata" / "notes_v2.0.0" / "model_card.md"
    lone.parent.mkdir(parents=True)
    lone.write_text("# written by hand, no artifacts yet\n")
    before = {p: p.read_bytes() for p in (hand / "model.joblib", card, lone)}
    for dry in (True, False):
        report = store.gc(dry_run=dry)
        assert report.removed == [], report
    assert {p: p.read_bytes() for p in before} == before
    assert {p.kind for p in store.verify().problems} == {"unadopted"}


def test_gc_dry_run_only_reads(store, tmp_path):
    """A read-only store (as a shared mount): gc --dry-run reports, writes nothing. The
    tests run as root, so read-only is an audit hook that refuses every write."""
    store.save({"a": 1}, "m")
    store.save({"a": 2}, "m", version="1.1.0", overwrite=False)
    (store.root / "trained" / ".tmp-m_v9.0.0-0123456789ab").mkdir()
    # A killed overwrite: hidden record and artifacts.
    meta = store.root / "metadata" / "m_v1.1.0"
    os.rename(meta / "metadata.json", meta / "metadata.json.abcd0123.replaced.tmp")
    os.rename(store.root / "trained" / "m_v1.1.0",
              store.root / "trained" / ".trash-m_v1.1.0-abcd0123")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os, sys
        root = os.fsencode(os.path.realpath(sys.argv[1]))
        WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        DIR_FD = {"os.remove": 1, "os.rmdir": 1, "shutil.rmtree": 1, "os.mkdir": 2,
                  "os.rename": 2, "os.link": 2, "os.symlink": 2}
        def in_store(event, args):
            # The local backend works relative to folder descriptors: resolve them. A
            # relative open names none, and only the backend opens relative paths here.
            path = os.fsencode(args[0])
            if not path.startswith(b"/"):
                i = DIR_FD.get(event)
                fd = args[i] if i is not None and len(args) > i else None
                if not isinstance(fd, int) or fd < 0:
                    return event == "open"
                path = os.fsencode(os.readlink(f"/proc/self/fd/{fd}")) + b"/" + path
            return path.startswith(root)
        def hook(event, args):
            if event in ("os.rename", "os.replace", "os.remove", "os.unlink", "os.rmdir",
                         "os.mkdir", "shutil.rmtree", "os.link", "os.symlink"):
                if args and isinstance(args[0], (str, bytes, os.PathLike)) and \\
                        in_store(event, args):
                    raise PermissionError(30, "Read-only file system", args[0])
            if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
                mode, flags = args[1], args[2]
                writing = (any(c in mode for c in "wax+") if isinstance(mode, str)
                           else bool((flags or 0) & WRITES))
                if writing and in_store(event, args):
                    raise PermissionError(30, "Read-only file system", args[0])
        from nbmodels import ModelStore
        sys.addaudithook(hook)
        report = ModelStore(sys.argv[1]).gc(dry_run=True)
        print(report.to_dict()["removed"], report.restored)
    """), str(store.root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ".tmp-m_v9.0.0-0123456789ab" in done.stdout
    assert "restored m@1.1.0" in done.stdout
    # A real gc puts the hidden version back: it never deletes the last whole copy.
    report = store.gc()
    assert report.restored == ["restored m@1.1.0"]
    assert store.load("m", "1.1.0") == {"a": 2}
    assert store.verify().ok


# -- class 5: an evaluation is bound to the artifacts it measured -------------------------

@pytest.fixture
def clf():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] > 0).astype(int)
    return LogisticRegression().fit(X, y), X, y


def test_evaluating_an_object_whose_version_was_deleted_or_replaced_fails(store, clf):
    model, X, y = clf
    store.save(model, "clf")
    loaded = store.load("clf")
    store.delete("clf", "1.0.0")
    with pytest.raises((EvaluationError, ModelNotFoundError), match="deleted"):
        evaluate(loaded, X, y, store=store)
    # Saved again under the same number: another model, which must not get the results.
    from sklearn.dummy import DummyClassifier

    store.save(DummyClassifier().fit(X, y), "clf", version="1.0.0")
    with pytest.raises((EvaluationError, ModelNotFoundError), match="no longer"):
        evaluate(loaded, X, y, store=store)
    assert store.evaluation_files("clf", "1.0.0") == []
    assert store.record("clf").get("evaluations") in (None, {})


def test_results_are_never_shown_for_other_artifacts(store, clf):
    model, X, y = clf
    store.save(model, "clf")
    evaluate(store.load("clf"), X, y)
    files = store.evaluation_files("clf", "1.0.0")
    assert "metrics.json" in files and "artifacts.json" in files
    bound = json.loads(store.read_evaluation_file("clf", "1.0.0", "artifacts.json"))
    assert bound["artifacts_sha256"] == [f["sha256"] for f in store.record("clf").files]
    assert store.verify().ok
    # Files that say they measured other artifacts (copied from elsewhere, or left by a
    # replaced version) are reported and never shown.
    folder = store.version_path("evaluation", "clf", "1.0.0")
    (folder / "artifacts.json").write_text(json.dumps({"artifacts_sha256": ["0" * 64]}))
    assert store.evaluation_files("clf", "1.0.0") == []
    with pytest.raises(ModelNotFoundError):
        store.read_evaluation_file("clf", "1.0.0", "metrics.json")
    _metrics, _curves, _sha, _task = store.saved_metrics("clf", "1.0.0")
    assert [p.kind for p in store.verify().problems] == ["stale_evaluation"]


def test_an_overwrite_never_inherits_the_old_results(store, clf):
    model, X, y = clf
    store.save(model, "clf")
    evaluate(store.load("clf"), X, y)
    from sklearn.dummy import DummyClassifier

    store.save(DummyClassifier().fit(X, y), "clf", version="1.0.0", overwrite=True)
    assert store.evaluation_files("clf", "1.0.0") == []
    assert not store.record("clf").get("evaluations")


def _read_at(dfd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def test_a_reader_sees_one_whole_evaluation_while_another_process_rewrites_it(store):
    """Files are switched as a set: a reader in another process never sees the new
    metrics.json beside the old report (or the reverse), nor an empty folder."""
    store.save({"a": 1}, "m")
    store.write_evaluation("m", "1.0.0", {"report.html": b"run 0",
                                          "metrics.json": b'{"run": 0}\n'})
    writer = _spawn("""
        import sys
        from nbmodels import ModelStore
        store = ModelStore(sys.argv[1])
        for run in range(1, 150):
            store.write_evaluation("m", "1.0.0", {"report.html": f"run {run}".encode(),
                                                  "metrics.json": f'{{"run": {run}}}'.encode()})
        print("done", flush=True)
    """, str(store.root))
    reader = ModelStore(store.root)
    folder = store.version_path("evaluation", "m", "1.0.0")
    pairs = 0
    try:
        while writer.poll() is None:
            # One folder, opened once: both files come from the same publication.
            try:
                dfd = os.open(folder, os.O_RDONLY)
            except FileNotFoundError:
                # The instant between the two renames: the store reads the old folder,
                # set aside whole.
                metrics = json.loads(reader.read_evaluation_file("m", "1.0.0",
                                                                 "metrics.json"))
                assert "run" in metrics
                continue
            try:
                metrics = json.loads(_read_at(dfd, "metrics.json"))
                report = _read_at(dfd, "report.html").decode()
            except FileNotFoundError:
                continue  # that folder was replaced and removed meanwhile
            finally:
                os.close(dfd)
            assert report == f"run {metrics['run']}", (report, metrics)
            pairs += 1
    finally:
        _out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err[-2000:]
    assert pairs > 0
    assert json.loads(reader.read_evaluation_file("m", "1.0.0", "metrics.json")) == {"run": 149}
    assert reader.verify().ok


def test_a_killed_evaluation_leaves_the_old_run_readable(store):
    store.save({"a": 1}, "m")
    store.write_evaluation("m", "1.0.0", {"report.html": b"old", "metrics.json": b"{}\n"})
    folder = store.version_path("evaluation", "m", "1.0.0")
    # The state between the two renames of a switch, as a kill leaves it.
    aside = folder.parent / ".replaced-m_v1.0.0-0badc0de"
    os.rename(folder, aside)
    assert store.read_evaluation_file("m", "1.0.0", "report.html") == b"old"
    assert [p.kind for p in store.verify().problems] == ["orphan"]
    assert store.gc().restored == ["the evaluation in evaluation/m_v1.0.0"]
    assert (folder / "report.html").read_bytes() == b"old"
    assert store.verify().ok
