"""The store on S3 (moto's server on loopback): the same behaviour as on a local folder.

The store-behaviour tests of ``test_store.py`` that use only the store's API run here a
second time with ``store`` bound to a fresh bucket; the tests below them check what
differs on an object store (request counts, the cache, conditional writes, crashes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

# The API-only cases of test_store.py, collected again here with the S3 ``store`` below.
from test_store import (  # noqa: F401
    test_alias_to_missing_version_refused,
    test_awkward_objects_round_trip,
    test_explicit_version,
    test_first_version_and_auto_bump,
    test_fortran_ordered_pickle_buffers,
    test_list_of_an_empty_store,
    test_load_by_latest_exact_alias_and_ref,
    test_missing_version_and_alias_messages,
    test_overwrite_of_a_new_version_is_a_plain_save,
    test_random_forest_round_trip,
    test_record_and_update_record,
    test_record_html_card,
    test_round_trip_predictions_equal,
    test_unknown_format_named,
    test_unknown_model_suggests_close_names,
    test_versions_in_semver_order,
)

from nbmodels import IntegrityError, ModelNotFoundError, ModelStore, NBModelsError
from nbmodels.errors import VersionExistsError


@pytest.fixture
def store(s3_store) -> ModelStore:
    """Here, ``store`` is a store in a fresh bucket of the loopback S3 endpoint."""
    return s3_store


def keys(store: ModelStore) -> list[str]:
    """Every object key under the store's prefix, relative to it."""
    root = store.fs.key("x").rsplit("/", 1)[0]
    try:
        found = store.fs.fs.find(root)
    except FileNotFoundError:
        return []
    return sorted(k[len(root) + 1:] for k in found)


def test_a_url_root_stays_a_url(store, s3_url):
    assert store.root == s3_url and isinstance(store.root, str)
    assert repr(store) == f"ModelStore({s3_url!r})"
    assert not store.exists()
    store.save({"a": 1}, "m")
    assert store.exists()
    assert str(store.version_path("evaluation", "m", "1.0.0")) == \
        f"{s3_url}/evaluation/m_v1.0.0"


def test_nbmodels_home_may_be_a_url(s3_url, monkeypatch):
    monkeypatch.setenv("NBMODELS_HOME", s3_url)
    store = ModelStore()
    assert store.root == s3_url and store.root_reason == "from $NBMODELS_HOME"
    store.save({"a": 1}, "m")
    assert ModelStore(s3_url).load("m") == {"a": 1}


def test_layout_in_the_bucket(store, small_model):
    model, X, y = small_model
    store.save(model, "iris_clf", X=X, y=y)
    store.set_alias("iris_clf", "production", "1.0.0")
    assert keys(store) == ["metadata/iris_clf_v1.0.0/metadata.json",
                           "metadata/iris_clf_v1.0.0/model_card.md",
                           "registry/aliases/iris_clf.json",
                           "registry/index/iris_clf/head.json",
                           "registry/index/iris_clf/identities-recent.json",
                           "registry/index/iris_clf/versions.json",
                           "trained/iris_clf_v1.0.0/model.joblib"]
    data = json.loads(store.fs.read_bytes("metadata/iris_clf_v1.0.0/metadata.json"))
    assert data == store.record("iris_clf").to_dict()


def test_existing_version_refused_and_nothing_changes(store):
    store.save({"v": 1}, "m", description="first")
    store.set_alias("m", "production", "1.0.0")
    before = keys(store)
    with pytest.raises(VersionExistsError, match="immutable"):
        store.save({"v": 2}, "m", version="1.0.0")
    assert keys(store) == before
    assert store.load("m") == {"v": 1}


def test_overwrite_replaces(store):
    store.save({"first": 1}, "m", description="first")
    store.save({"keep": 1}, "m", version="0.9.0")
    store.write_evaluation("m", "1.0.0", {"metrics.json": b'{"accuracy": 0.5}'})
    rec = store.save({"replaced": True}, "m", version="1.0.0", overwrite=True,
                     description="second")
    assert rec.version == "1.0.0"
    assert store.load("m", "1.0.0") == {"replaced": True}
    assert store.record("m", "1.0.0")["description"] == "second"
    assert store.versions("m") == ["0.9.0", "1.0.0"]
    assert store.evaluation_files("m", "1.0.0") == []
    assert store.verify().ok, store.verify()
    assert not [k for k in keys(store) if "incomplete" in k or ".tmp" in k]


def test_unpicklable_model_leaves_nothing_visible(store):
    import threading

    with pytest.raises(Exception):  # noqa: B017 - pickle's own error
        store.save({"lock": threading.Lock()}, "fn")
    with pytest.raises(ModelNotFoundError):
        store.load("fn")
    assert [k for k in keys(store) if "fn_v" in k] == []
    assert store.save({"ok": 1}, "fn").version == "1.0.0"


def test_aliases_set_remove_and_survive_a_fresh_store(store, s3_url):
    store.save(1, "m")
    store.save(2, "m")
    assert store.set_alias("m", "production", "latest") == "1.1.0"
    assert store.set_alias("m", "staging", "1.0.0") == "1.0.0"
    fresh = ModelStore(s3_url)
    assert fresh.aliases("m") == {"production": "1.1.0", "staging": "1.0.0"}
    assert fresh.load("m@staging") == 1
    fresh.remove_alias("m", "staging")
    fresh.remove_alias("m", "production")
    assert store.aliases("m") == {}
    assert "registry/aliases/m.json" not in keys(store)


def test_delete_and_aliased_delete(store):
    for i in range(3):
        store.save({"i": i}, "m")
    store.set_alias("m", "production", "1.0.0")
    assert store.delete("m", "1.2.0") == "1.2.0"
    assert store.latest("m") == "1.1.0"
    assert store.versions("m") == ["1.0.0", "1.1.0"]
    assert not any("m_v1.2.0" in k for k in keys(store))
    with pytest.raises(NBModelsError, match="aliased as production"):
        store.delete("m", "1.0.0")
    assert store.delete("m", "production", force=True) == "1.0.0"
    assert store.aliases("m") == {}
    assert store.versions("m") == ["1.1.0"]
    assert store.verify().ok, store.verify()


def test_list_contents(store, small_model, forest):
    model, X, y = small_model
    store.save(model, "lr", X=X, y=y, metrics={"accuracy": 0.9}, description="logistic")
    from sklearn.linear_model import LogisticRegression

    other = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)
    store.save(other, "lr", X=X, y=y, metrics={"accuracy": 0.95}, bump="minor")
    store.save(forest, "rf", metrics={"accuracy": 0.99}, tags=["trees"])
    store.set_alias("lr", "production", "1.0.0")
    lr, rf = ModelStore(store.root).list()
    assert (lr["name"], lr["latest"], lr["aliases"]) == ("lr", "1.1.0", {"production": "1.0.0"})
    assert lr["metrics"] == {"accuracy": 0.95}
    assert rf["size_bytes"] == store.fs.stat("trained/rf_v1.0.0/model.joblib").size


def test_evaluate_stores_results_remotely_and_compare_reads_them(store, iris):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    import nbmodels

    X, y = iris
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    for c in (0.1, 10.0):
        store.save(LogisticRegression(C=c, max_iter=500).fit(X_train, y_train), "clf",
                   bump="minor")
    for version in store.versions("clf"):
        result = nbmodels.evaluate(store.load("clf", version), X_test, y_test,
                                   store=store)
        assert str(result.path).startswith(str(store.root))
    files = store.evaluation_files("clf", "1.0.0")
    assert "metrics.json" in files and "confusion_matrix.png" in files
    assert any(k.startswith("evaluation/clf_v1.1.0/") for k in keys(store))
    assert store.record("clf", "1.1.0")["metrics"]["accuracy"] > 0
    table = nbmodels.compare("clf", ["1.0.0", "1.1.0"], store=store)
    assert "accuracy" in repr(table)


def test_verify_finds_a_damaged_artifact_and_load_refuses_it(store):
    store.save({"a": list(range(100))}, "m")
    store.fs.fs.pipe_file(store.fs.key("trained/m_v1.0.0/model.joblib"), b"tampered")
    report = store.verify()
    assert [p.kind for p in report.problems] == ["corrupt"]
    with pytest.raises(IntegrityError, match="does not match its record"):
        ModelStore(store.root).load("m")


def test_gc_and_rebuild_index(store, monkeypatch):
    store.save({"a": 1}, "m")
    # What a crashed save leaves: a claimed version folder without a record.
    store.fs.create_exclusive("trained/m_v1.1.0/.nbmodels-incomplete", b"")
    store.fs.replace("trained/m_v1.1.0/model.joblib", b"partial")
    report = store.verify()
    assert [p.kind for p in report.problems] == ["orphan"]
    assert store.gc().removed == [], "a recent leftover may be a save on another machine"
    monkeypatch.setenv("NBMODELS_GC_GRACE_SECONDS", "0")
    assert [p for p, _ in store.gc().removed] == ["trained/m_v1.1.0"]
    assert store.verify().ok
    store.fs.remove_tree("registry/index")
    rebuilt = store.rebuild_index()
    assert (rebuilt.models, rebuilt.versions) == (1, 1)
    assert store.latest("m") == "1.0.0"


def test_loading_twice_downloads_once_and_a_damaged_cache_entry_is_refetched(store):
    model = {"weights": np.arange(200_000, dtype=np.float64)}
    rec = store.save(model, "big")
    reader = ModelStore(store.root)
    cache = reader.fs.cache
    np.testing.assert_array_equal(reader.load("big")["weights"], model["weights"])
    np.testing.assert_array_equal(reader.load("big")["weights"], model["weights"])
    assert cache.downloads == 1
    entry = cache.entry(rec.files[0]["sha256"])
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0xFF
    entry.write_bytes(bytes(data))
    np.testing.assert_array_equal(reader.load("big")["weights"], model["weights"])
    assert cache.downloads == 2
    assert cache.info().entries == 1


def test_a_save_is_a_constant_number_of_requests(store, s3_endpoint):
    store.save({"i": 0}, "m")
    counts = []
    for i in range(1, 6):
        s3_endpoint.counts(reset=True)
        store.save({"i": i}, "m")
        counts.append(sum(s3_endpoint.counts().values()))
    assert len(set(counts)) == 1, counts
    s3_endpoint.counts(reset=True)
    assert ModelStore(store.root).latest("m") == "1.5.0"
    assert sum(s3_endpoint.counts().values()) <= 2


def test_a_store_url_without_s3fs_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_s3fs(name, *args, **kwargs):
        if name == "s3fs":
            raise ImportError("No module named 's3fs'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_s3fs)
    with pytest.raises(NBModelsError, match=r"pip install nbmodels\[s3\]"):
        ModelStore("s3://bucket/models")


def test_cli_on_a_remote_store_and_cache_info_clear(store, capsys):
    from nbmodels.cli import main

    store.save({"w": list(range(1000))}, "m")
    assert main(["--store", str(store.root), "list"]) == 0
    assert "m " in capsys.readouterr().out
    assert main(["--store", str(store.root), "verify"]) == 0
    capsys.readouterr()
    ModelStore(store.root).load("m")
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 1 and info["size_bytes"] > 0
    assert main(["cache", "clear"]) == 0
    assert "removed 1 cached artifacts" in capsys.readouterr().out
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0
    empty = str(store.root) + "-nothing-here"
    assert main(["--store", empty, "list"]) == 3
    assert "holds no store yet" in capsys.readouterr().err
