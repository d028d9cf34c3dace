"""Versions that tell the truth: identical model bytes are never a new version, bump
reasons name only what changed, unfitted estimators are refused.

Real stores in temp folders and really fitted scikit-learn models throughout.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from nbm_helpers import tree_snapshot
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from nbmodels import ModelStore
from nbmodels.errors import UnfittedModelError
from nbmodels.store.dedup import KEY_LENGTH


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y.rename("progression")


def _committed(root):
    """The versions' own files (artifacts, records, cards): what a save must not touch."""
    return {k: v for k, v in tree_snapshot(root).items()
            if k.startswith(("trained", "metadata", "evaluation"))}


# -- 1. identical bytes are the same version ------------------------------------------------

def test_ridge_with_tags_then_without_data_then_bare_is_one_version(store, diabetes):
    X, y = diabetes
    ridge = Ridge(alpha=1.0).fit(X, y)
    first = store.save(ridge, "ridge", X=X, y=y, tags=["baseline"], description="ridge",
                       metrics={"r2": 0.52})
    assert first.version == "1.0.0" and first.unchanged is None
    before = _committed(store.root)

    without_data = store.save(ridge, "ridge", tags=["baseline"])  # forgot X and y
    bare = store.save(ridge, "ridge")
    refit = store.save(Ridge(alpha=1.0).fit(X, y), "ridge", X=X)  # the cell re-run

    for again in (without_data, bare, refit):
        assert again.version == "1.0.0"
        assert again.unchanged is not None and again.unchanged.ref == "ridge@1.0.0"
        assert "unchanged: already saved as ridge@1.0.0" in repr(again)
        assert "unchanged: already saved as ridge@1.0.0" in again._repr_html_()
        assert again.to_dict() == first.to_dict()  # the saved record, as it was
        # Leaving out data, target, tags or description is not a difference.
        assert again.unchanged.differences == []
    assert store.versions("ridge") == ["1.0.0"]
    assert _committed(store.root) == before  # not a byte of any version written
    # The listing keeps the metrics of the one version (it did not go blank).
    assert store.list()[0]["metrics"] == {"r2": 0.52}
    assert first["content_hash"] == bare["content_hash"]


def test_rerun_after_an_intermediate_model_still_finds_the_old_version(store, diabetes):
    X, y = diabetes
    store.save(Ridge(alpha=1.0).fit(X, y), "ridge", X=X, y=y)
    tried = store.save(Ridge(alpha=10.0).fit(X, y), "ridge", X=X, y=y)
    assert tried.version == "1.1.0"
    # Back to the first settings: the same bytes as 1.0.0, which is not the latest.
    back = store.save(Ridge(alpha=1.0).fit(X, y), "ridge", X=X, y=y)
    assert back.version == "1.0.0" and back.unchanged.ref == "ridge@1.0.0"
    assert store.versions("ridge") == ["1.0.0", "1.1.0"]
    assert store.latest("ridge") == "1.1.0"
    # A fresh store object (another kernel) finds it too, through the cache or without it.
    assert ModelStore(store.root).save(Ridge(alpha=1.0).fit(X, y), "ridge").version == "1.0.0"
    for cache in ("identities.json", "identities-recent.json"):
        (store.root / "registry" / "index" / "ridge" / cache).unlink(missing_ok=True)
    assert store.save(Ridge(alpha=10.0).fit(X, y), "ridge").version == "1.1.0"


def test_a_different_description_is_said_with_the_edit_that_records_it(store, diabetes):
    X, y = diabetes
    ridge = Ridge().fit(X, y)
    store.save(ridge, "ridge", X=X, y=y, description="baseline", tags=["a"],
               training_dataset="data/train.csv", metrics={"r2": 0.5})
    again = store.save(ridge, "ridge", X=X.iloc[:200], y=y.iloc[:200], tags=["a", "b"],
                       description="baseline, checked", training_dataset="data/other.csv",
                       metrics={"r2": 0.5, "mae": 40.0})
    unchanged = again.unchanged
    assert again.version == "1.0.0" and store.versions("ridge") == ["1.0.0"]
    fields = [d["field"] for d in unchanged.differences]
    assert fields == ["description", "tags", "training_dataset", "training X fingerprint",
                      "training y fingerprint", "metrics"]
    assert unchanged.differences[-1]["given"] == {"mae": 40.0}
    assert unchanged.edits == {"description": "baseline, checked", "tags": ["a", "b"]}
    text = str(unchanged)
    assert text.startswith("unchanged: already saved as ridge@1.0.0 (identical model bytes; "
                           "nothing was written)")
    assert "description: 'baseline, checked' given, 'baseline' recorded" in text
    assert ("to record them on ridge@1.0.0: store.edit('ridge', '1.0.0', "
            "description='baseline, checked', tags=['a', 'b'])") in text
    assert ("training_dataset, training X fingerprint, training y fingerprint, metrics stay "
            "as recorded on ridge@1.0.0" in text) and "force_new=True" in text
    # Doing what it says records them on the version, as an edit.
    edited = store.edit(unchanged.name, unchanged.version, **unchanged.edits)
    assert edited["description"] == "baseline, checked" and edited.tags == ["a", "b"]
    assert store.save(ridge, "ridge", description="baseline, checked",
                      tags=["a", "b"]).unchanged.differences == []


def test_an_explicit_version_of_saved_bytes_is_not_created_and_says_so(store, diabetes):
    X, y = diabetes
    ridge = Ridge().fit(X, y)
    store.save(ridge, "ridge")
    with pytest.warns(UserWarning, match="version 2.0.0 was not created"):
        rec = store.save(ridge, "ridge", version="2.0.0")
    assert rec.version == "1.0.0" and rec.unchanged.requested == "2.0.0"
    assert not (store.root / "trained" / "ridge_v2.0.0").exists()
    # force_new is the way to store the same bytes under another version on purpose.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forced = store.save(ridge, "ridge", version="2.0.0", force_new=True)
    assert forced.version == "2.0.0" and forced.unchanged is None
    # With two copies, a re-save names the newest.
    assert store.save(ridge, "ridge").version == "2.0.0"


def test_the_same_bytes_under_another_name_are_another_model(store, diabetes):
    X, y = diabetes
    ridge = Ridge().fit(X, y)
    store.save(ridge, "a")
    rec = store.save(ridge, "b")
    assert (rec.name, rec.version, rec.unchanged) == ("b", "1.0.0", None)


def _cached(cache) -> dict:
    """The identities cache as ``version -> key`` (one KEY_LENGTH-character key per
    version): the whole file, with the file of recent additions over it."""
    found = {}
    for path in (cache, cache.with_name("identities-recent.json")):
        if path.exists():
            data = json.loads(path.read_text())
            keys, n = data["identities"], KEY_LENGTH
            found.update({v: keys[i * n:(i + 1) * n] for i, v in enumerate(data["versions"])})
    return found


def _write_cache(cache, entries: dict) -> None:
    """Replace the identities cache (both files) by ``version -> key``, by hand."""
    cache.with_name("identities-recent.json").unlink(missing_ok=True)
    cache.write_text(json.dumps({"name": cache.parent.name, "versions": list(entries),
                                 "identities": "".join(entries.values())}))


def test_cache_mistakes_are_caught_before_they_are_trusted(store, diabetes):
    X, y = diabetes
    one, ten = Ridge(alpha=1.0).fit(X, y), Ridge(alpha=10.0).fit(X, y)
    store.save(one, "ridge")
    store.save(ten, "ridge")
    cache = store.root / "registry" / "index" / "ridge" / "identities.json"
    keys = _cached(cache)
    assert set(keys) == {"1.0.0", "1.1.0"}
    assert keys["1.0.0"] == store.record("ridge", "1.0.0")["content_hash"][:KEY_LENGTH]
    # A cache that points 1.1.0 at 1.0.0's bytes (a hand edit, a bug) is checked on a hit.
    _write_cache(cache, {"1.0.0": keys["1.0.0"], "1.1.0": keys["1.0.0"]})
    assert store.save(one, "ridge").version == "1.0.0"
    assert _cached(cache) == keys
    # A cache that lacks a version (or holds one that is not committed) is completed
    # from the records, whatever it claims.
    _write_cache(cache, {"1.1.0": keys["1.1.0"], "9.9.9": keys["1.0.0"]})
    assert store.save(one, "ridge").version == "1.0.0"
    assert _cached(cache) == keys
    # A deleted version is never returned: its bytes make a new version again.
    store.delete("ridge", "1.0.0")
    rec = store.save(one, "ridge")
    assert rec.unchanged is None and rec.version == "1.2.0"
    assert store.save(one, "ridge").version == "1.2.0"
    keys = _cached(cache)
    assert set(keys) == {"1.1.0", "1.2.0"}
    # A damaged cache, or one of another shape, is ignored and rebuilt.
    for damaged in ("{not json", json.dumps({"name": "ridge", "identities": {}}),
                    json.dumps({"name": "ridge", "versions": ["../../x"], "identities": "a"})):
        cache.write_text(damaged)
        cache.with_name("identities-recent.json").write_text(damaged)
        assert store.save(ten, "ridge").version == "1.1.0"
        assert _cached(cache) == keys
    # A forged entry that is not a version is never read as a path.
    _write_cache(cache, {"1.1.0": keys["1.1.0"], "../../../x": keys["1.2.0"]})
    assert store.save(ten, "ridge").version == "1.1.0"
    assert _cached(cache) == keys


def test_the_cache_of_recent_additions_is_folded_into_the_whole(store):
    """A save adds its version to a small file; every so many saves that file is folded
    into the whole cache, and both together are what a save consults."""
    cache = store.root / "registry" / "index" / "m" / "identities.json"
    recent = cache.with_name("identities-recent.json")
    saved = [store.save({"n": i}, "m").version for i in range(40)]
    assert cache.exists() and recent.exists()
    assert len(json.loads(recent.read_text())["versions"]) < len(saved)
    assert set(_cached(cache)) == set(saved)
    # Identical bytes are found whichever file holds their version.
    for i in (0, 39):
        assert ModelStore(store.root).save({"n": i}, "m").version == saved[i]
    assert set(_cached(cache)) == set(saved)


def test_overwrite_of_a_version_updates_what_it_holds(store, diabetes):
    X, y = diabetes
    one, ten = Ridge(alpha=1.0).fit(X, y), Ridge(alpha=10.0).fit(X, y)
    store.save(one, "ridge", version="1.0.0")
    store.save(ten, "ridge", version="1.0.0", overwrite=True)
    assert store.save(ten, "ridge").version == "1.0.0"  # its new bytes
    assert store.save(one, "ridge").version == "1.1.0"  # the old bytes are gone


# -- 3. bump reasons name only what happened --------------------------------------------------

def test_bump_reasons_are_true(store, diabetes):
    X, y = diabetes
    store.save(Ridge().fit(X, y), "ridge", X=X, y=y)
    # Other rows, same settings: the weights changed, and so did the data (both recorded).
    part = X.iloc[:300], y.iloc[:300]
    patch = store.save(Ridge().fit(*part), "ridge", X=part[0], y=part[1])
    assert patch["version_reason"] == ("patch bump from 1.0.0: same interface and "
                                       "hyper-parameters; the learned weights changed "
                                       "(trained on different data)")
    assert patch["bump"]["changes"] == ["trained on different data"]
    # Other rows, but no data given this time: nothing said about the data.
    fewer = X.iloc[:200], y.iloc[:200]
    blind = store.save(Ridge().fit(*fewer), "ridge")
    assert blind["version_reason"] == ("patch bump from 1.0.1: same interface and "
                                       "hyper-parameters; the learned weights changed")
    assert blind["bump"]["changes"] == []
    # The same bytes saved again on purpose: no claim that anything was learned anew.
    forced = store.save(Ridge().fit(*fewer), "ridge", X=fewer[0], y=fewer[1], force_new=True)
    assert forced["version_reason"] == ("patch bump from 1.0.2: same interface, "
                                        "hyper-parameters and model bytes; saved again on "
                                        "request")
    assert "weights" not in forced["version_reason"]
    # Another format: the reason says so instead of claiming new weights.
    other = store.save(Ridge().fit(*fewer), "ridge", format="pickle")
    assert other["version_reason"] == ("patch bump from 1.0.3: same interface and "
                                       "hyper-parameters; stored in another format "
                                       "(joblib -> pickle)")
    # Forgetting the target is no interface change.
    wider = store.save(Ridge(alpha=3.0).fit(X, y), "ridge", X=X)
    assert wider["bump"]["part"] == "minor" and "target" not in wider["version_reason"]
    card = (store.root / "metadata" / "ridge_v1.0.1" / "model_card.md").read_text()
    assert "the learned weights changed (trained on different data)" in card


def test_bump_reason_for_a_previous_version_without_hashes(store, diabetes):
    X, y = diabetes
    store.save(Ridge().fit(X, y), "ridge")
    record_file = store.root / "metadata" / "ridge_v1.0.0" / "metadata.json"
    record = json.loads(record_file.read_text())
    del record["files"]  # a hand-written record: the bytes cannot be compared
    record_file.write_text(json.dumps(record))
    rec = store.save(Ridge().fit(X.iloc[:100], y.iloc[:100]), "ridge")
    assert rec["version_reason"].endswith("the previous version records no artifact hashes "
                                          "to compare with")


# -- 4. unfitted estimators -------------------------------------------------------------------

def test_an_unfitted_estimator_is_refused_unless_allowed(store, diabetes):
    X, y = diabetes
    with pytest.raises(UnfittedModelError, match=r"Ridge instance is not fitted yet; fit it "
                       r"first, or pass allow_unfitted=True") as info:
        store.save(Ridge(), "ridge")
    assert info.value.model_class == "Ridge"
    assert not store.root.exists()  # refused before anything was written
    with pytest.raises(UnfittedModelError, match="Pipeline"):
        store.save(make_pipeline(StandardScaler(), Ridge()), "pipe")
    rec = store.save(Ridge(alpha=2.0), "ridge", allow_unfitted=True)
    loaded = store.load("ridge")
    assert rec.version == "1.0.0" and loaded.alpha == 2.0 and not hasattr(loaded, "coef_")
    # What needs no fitting, and what is not an estimator, are saved as they are.
    assert store.save(FunctionTransformer(np.log1p), "log").version == "1.0.0"
    assert store.save({"weights": [1, 2]}, "plain").version == "1.0.0"
    fitted = store.save(Ridge().fit(X, y), "ridge")
    assert fitted.version != "1.0.0"


def test_magic_save_model_words(tmp_path, diabetes):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbmodels")
    shell.run_line_magic("config", f"ModelMagics.store_dir = {str(tmp_path / 'm')!r}")
    try:
        X, y = diabetes
        shell.user_ns.update(X=X, y=y, ridge=Ridge().fit(X, y), raw=Ridge())
        with pytest.raises(UsageError) as info:
            shell.run_line_magic("save_model", "raw")
        assert "--allow-unfitted" in str(info.value) and "allow_unfitted=" not in str(info.value)
        assert shell.run_line_magic("save_model", "raw --allow-unfitted").version == "1.0.0"

        first = shell.run_line_magic("save_model", "ridge --data X --target y --tags a")
        assert repr(first).startswith("Saved ridge@1.0.0 (first version;")
        again = shell.run_line_magic("save_model", "ridge --description 'the baseline'")
        text = repr(again)
        assert text.startswith("unchanged: already saved as ridge@1.0.0 (identical model "
                               "bytes; nothing was written)")
        assert "to record them on ridge@1.0.0: %model_edit ridge@1.0.0 --description " \
               "'the baseline'" in text
        assert "unchanged: already saved as ridge@1.0.0" in again._repr_html_()
        data = shell.run_line_magic("save_model", "ridge --data X.iloc[:50] --target y.iloc[:50]")
        assert "--force-new" in repr(data) and "force_new" not in repr(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said by the display, in the magic's words
            named = shell.run_line_magic("save_model", "ridge --version 3.0.0")
        assert "version 3.0.0 was not created (save with --force-new" in repr(named)
        forced = shell.run_line_magic("save_model", "ridge --force-new")
        assert forced.version == "1.0.1" and "saved again on request" in repr(forced)
    finally:
        shell.run_line_magic("unload_ext", "nbmodels")
        shell.run_line_magic("config", "ModelMagics.store_dir = ''")
        shell.reset()


def test_identity_ignores_everything_but_the_bytes(store, diabetes):
    from nbmodels.record.capture import content_hash

    X, y = diabetes
    rec = store.save(Ridge().fit(X, y), "ridge", X=X, y=y, description="x")
    data = rec.to_dict()
    assert content_hash(data) == rec["content_hash"]
    for key, value in (("description", "y"), ("tags", ["z"]), ("created_at", "2000"),
                       ("metrics", {"r2": 1.0}), ("lineage", None)):
        assert content_hash({**data, key: value}) == rec["content_hash"], key
    flipped = [{**data["files"][0], "sha256": "0" * 64}]
    assert content_hash({**data, "files": flipped}) != rec["content_hash"]
    assert content_hash({**data, "format": "pickle"}) != rec["content_hash"]


COUNT_READS = """
import json, sys
from nbmodels import ModelStore

store = ModelStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.save({"i": i}, "m", bump="patch")
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args
                 and str(args[0]).endswith("metadata.json") else None)
out = {}
for label, obj in (("new", {"i": -1}), ("first", {"i": 0})):
    opened.clear()
    rec = store.save(obj, "m", bump="patch")
    out[label] = [rec.version, rec.unchanged is not None, len(opened)]
print(json.dumps(out))
"""


def test_a_save_reads_a_few_records_not_every_version(tmp_path):
    import subprocess
    import sys

    n = 60
    out = subprocess.run([sys.executable, "-c", COUNT_READS, str(tmp_path / "s"), str(n)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # The latest record (for the bump), and the one matched: never n.
    assert result["new"][:2] == [f"1.0.{n}", False] and result["new"][2] <= 2
    assert result["first"][:2] == ["1.0.0", True] and result["first"][2] <= 2


def test_a_quickstart_run_again_says_it_saved_nothing_new(store):
    from nbmodels.quickstart import run_quickstart

    run_quickstart(store, name="qs", echo=lambda line: None)
    lines: list[str] = []
    run_quickstart(store, name="qs", echo=lines.append)
    steps = {line[:2]: line for line in lines}
    assert steps["2."].startswith("2. Already saved (unchanged): qs@1.0.0")
    assert steps["3."].startswith("3. Already saved (unchanged): qs@1.1.0")
    assert store.versions("qs") == ["1.0.0", "1.1.0"]


def test_a_save_finds_identical_bytes_when_the_index_list_is_damaged(store, diabetes):
    """Without a cache in step with the head, the save reads the list of versions; a
    damaged list is recomputed from metadata/, never trusted or fatal."""
    X, y = diabetes
    one, ten = Ridge(alpha=1.0).fit(X, y), Ridge(alpha=10.0).fit(X, y)
    store.save(one, "ridge")
    store.save(ten, "ridge")
    index = store.root / "registry" / "index" / "ridge"
    for cache in ("identities.json", "identities-recent.json"):
        (index / cache).unlink(missing_ok=True)
    (index / "versions.json").write_text(json.dumps({"name": "ridge",
                                                     "versions": ["../../x", "1.1.0"]}))
    assert ModelStore(store.root).save(one, "ridge").version == "1.0.0"
    assert set(_cached(index / "identities.json")) == {"1.0.0", "1.1.0"}
    rec = ModelStore(store.root).save(Ridge(alpha=3.0).fit(X, y), "ridge")
    assert rec.version == "1.2.0" and rec.unchanged is None
    assert ModelStore(store.root).versions("ridge") == ["1.0.0", "1.1.0", "1.2.0"]
    assert json.loads((index / "versions.json").read_text())["versions"] == \
        ["1.0.0", "1.1.0", "1.2.0"]
