"""Several processes (not threads) saving one model at once get distinct versions."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest
from nbm_helpers import concurrent_gc, concurrent_reader, concurrent_saver

from nbmodels import ModelStore
from nbmodels.storage.versions import sort_versions

pytestmark = pytest.mark.slow

SAVERS, SAVES = 4, 5


def _run(root, *, name="shared", with_reader=False, with_gc=False, sklearn=True,
         saves=SAVES):
    ctx = mp.get_context("spawn")
    parties = SAVERS + int(with_reader) + int(with_gc)
    barrier, results, stop = ctx.Barrier(parties), ctx.Queue(), ctx.Event()
    savers = [ctx.Process(target=concurrent_saver,
                          args=(str(root), name, w, saves, barrier, results, sklearn))
              for w in range(SAVERS)]
    others = []
    if with_reader:
        others.append(ctx.Process(target=concurrent_reader, args=(str(root), name, barrier,
                                                                    stop)))
    if with_gc:
        others.append(ctx.Process(target=concurrent_gc, args=(str(root), barrier, stop,
                                                                results)))
    for p in savers + others:
        p.start()
    try:
        outcome = dict(results.get(timeout=120) for _ in savers)
        stop.set()
        if with_gc:
            outcome.update([results.get(timeout=60)])
    finally:
        stop.set()
        for p in savers + others:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in savers + others] == [0] * len(savers + others)
    return outcome


def _check(root, outcome, name="shared", saves=SAVES):
    saved = [item for w in range(SAVERS) for item in outcome[w]]
    versions = [v for v, _, _ in saved]
    assert len(versions) == SAVERS * saves
    assert len(set(versions)) == len(versions), f"two savers got one version: {versions}"

    store = ModelStore(root)
    assert store.versions(name) == sort_versions(versions)
    for version, token, c in saved:
        assert store.record(name, version)["description"] == token
        model = store.load(name, version)  # verified against its sha256 first
        assert (model.C if hasattr(model, "C") else model["C"]) == c

    truth = sort_versions(versions)[-1]
    assert store.latest(name) == truth
    assert ModelStore(root).latest(name) == truth
    assert [m["latest"] for m in ModelStore(root).list()] == [truth]
    head = json.loads((root / "registry" / "index" / name / "head.json").read_text())
    assert head["latest"] == truth
    report = store.verify()
    assert not report.by_kind("stale_index"), report
    assert report.ok, report
    # Each saver's own versions increase in the order it saved them.
    for w in range(SAVERS):
        own = [v for v, _, _ in outcome[w]]
        assert own == sort_versions(own)
    return store


def test_concurrent_savers_get_distinct_versions(tmp_path):
    root = tmp_path / "models"
    outcome = _run(root)
    store = _check(root, outcome)
    from sklearn.datasets import load_iris

    X, _ = load_iris(return_X_y=True)
    assert store.load("shared").predict(X).shape == (150,)
    assert store.save({"after": 1}, "shared", bump="minor").version == \
        sort_versions(store.versions("shared"))[-1]


def test_concurrent_savers_with_a_reader_and_gc(tmp_path):
    """Readers refreshing the index and gc running meanwhile break nothing."""
    root = tmp_path / "models"
    outcome = _run(root, with_reader=True, with_gc=True, sklearn=False, saves=15)
    _check(root, outcome, saves=15)
    # gc may take the temp file of an index write by a reader (the index is a cache and
    # that write is then skipped), but nothing of a save.
    removed = [path for path, _ in outcome["gc"]]
    assert all(p.startswith("registry/index/") and p.endswith(".tmp") for p in removed), \
        f"gc removed parts of saves in progress: {removed}"
