"""The store's everyday operations on a real folder with real scikit-learn models."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from nbm_helpers import tree_snapshot, visible_files

import nbmodels
from nbmodels import (
    IntegrityError,
    ModelNotFoundError,
    ModelRecord,
    ModelStore,
    NBModelsError,
    VersionExistsError,
)

SEED_KEYS = ["model_name", "version", "description", "created_at", "author", "framework",
             "framework_version", "python_version", "training_dataset", "features", "target",
             "hyperparameters", "metrics", "tags"]


def seed_load_model(model_name, version="latest"):
    """The hand-written loader from the seed document, verbatim apart from this docstring."""
    if version == "latest":
        # Find the latest version
        model_dir = Path("models/trained")
        versions = [d for d in model_dir.glob(f"{model_name}_v*") if d.is_dir()]
        if not versions:
            raise FileNotFoundError(f"No versions found for model {model_name}")
        latest_version = sorted(versions)[-1]
        model_path = latest_version / "model.joblib"
    else:
        # Use the specified version
        model_path = Path(f"models/trained/{model_name}_v{version}/model.joblib")

    if not model_path.exists():
        raise FileNotFoundError(f"Model file not found: {model_path}")

    return joblib.load(model_path)


# -- save and load -------------------------------------------------------------------------

def test_round_trip_predictions_equal(store, small_model):
    model, X, y = small_model
    rec = store.save(model, "iris_clf", X=X, y=y, description="baseline",
                     metrics={"accuracy": 0.97}, tags=["iris", "baseline"],
                     training_dataset="sklearn.datasets.load_iris")
    assert isinstance(rec, ModelRecord)
    assert rec.version == "1.0.0"
    loaded = store.load("iris_clf")
    assert loaded is not model
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_random_forest_round_trip(store, forest, iris):
    X, _ = iris
    store.save(forest, "forest")
    np.testing.assert_array_equal(store.load("forest").predict_proba(X),
                                  forest.predict_proba(X))


def test_layout_on_disk(store, small_model):
    model, X, y = small_model
    store.save(model, "iris_clf", X=X, y=y)
    files = visible_files(store.root)
    assert "trained/iris_clf_v1.0.0/model.joblib" in files
    assert "metadata/iris_clf_v1.0.0/metadata.json" in files
    assert "metadata/iris_clf_v1.0.0/model_card.md" in files
    assert "registry/index/iris_clf/head.json" in files
    # No temporary or marker file survives a successful save.
    assert not [f for f in files if ".tmp" in f or "incomplete" in f or ".trash" in f]
    assert os.listdir(store.root / "trained" / "iris_clf_v1.0.0") == ["model.joblib"]


def test_record_captures_what_the_machine_knows(store, small_model):
    import sklearn

    model, X, y = small_model
    rec = store.save(model, "iris_clf", X=X, y=y, description="baseline", tags="iris, lr",
                     metrics={"accuracy": 0.97}, training_dataset="iris.csv", author="ada")
    data = json.loads((store.root / "metadata/iris_clf_v1.0.0/metadata.json").read_text())
    assert data == rec.to_dict() == store.record("iris_clf").to_dict()
    for key in SEED_KEYS:
        assert key in data, key
    assert data["model_name"] == "iris_clf"
    assert data["framework"] == "scikit-learn"
    assert data["framework_version"] == sklearn.__version__
    assert data["features"] == list(X.columns)
    assert data["target"] == "target"
    assert data["hyperparameters"]["max_iter"] == 1000
    assert data["tags"] == ["iris", "lr"]
    assert data["author"] == "ada"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["created_at"])
    artifact = store.root / "trained/iris_clf_v1.0.0/model.joblib"
    import hashlib

    assert data["files"] == [{"name": "model.joblib", "size": artifact.stat().st_size,
                              "sha256": hashlib.sha256(artifact.read_bytes()).hexdigest()}]
    assert data["size_bytes"] == artifact.stat().st_size
    assert data["format"] == "joblib"
    assert rec.metrics == {"accuracy": 0.97}


def test_awkward_objects_round_trip(store):
    """Arrays in every memory layout, bytes, bytearrays and big buffers survive intact."""
    rng = np.random.default_rng(0)
    obj = {
        "c": rng.normal(size=(50, 7)),
        "f": np.asfortranarray(rng.normal(size=(40, 9))),
        "strided": rng.normal(size=(30, 30))[::2, ::3],
        "big": rng.integers(0, 255, size=3_000_000, dtype=np.uint8),  # several pickle frames
        "bytes": bytes(range(256)) * 1000,
        "bytearray": bytearray(b"xyz" * 100_000),
        "empty": np.empty((0, 3)),
        "text": "h\u00e9llo",
    }
    store.save(obj, "blob")
    back = store.load("blob")
    assert back.keys() == obj.keys()
    for key, value in obj.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back[key], value)
        else:
            assert back[key] == value
    assert back["f"].flags.f_contiguous
    assert store.verify().ok


def test_pickle_format(store, small_model):
    model, X, _ = small_model
    rec = store.save(model, "p", format="pickle")
    assert rec.format == "pickle"
    assert os.listdir(store.root / "trained/p_v1.0.0") == ["model.pkl"]
    with open(store.root / "trained/p_v1.0.0/model.pkl", "rb") as f:
        np.testing.assert_array_equal(pickle.load(f).predict(X), model.predict(X))
    np.testing.assert_array_equal(store.load("p").predict(X), model.predict(X))


def test_unknown_format_named(store):
    with pytest.raises(NBModelsError, match=r"format 'nope'; known formats: .*joblib"):
        store.save({"a": 1}, "m", format="nope")


def test_unpicklable_model_leaves_nothing_visible(store):
    import threading

    with pytest.raises(TypeError, match="pickle"):
        store.save({"lock": threading.Lock()}, "fn")
    with pytest.raises(ModelNotFoundError):
        store.load("fn")
    assert [f for f in visible_files(store.root) if "fn_v" in f] == []
    assert store.verify().ok
    assert store.save({"ok": 1}, "fn").version == "1.0.0"


# -- versions ------------------------------------------------------------------------------

def test_first_version_and_auto_bump(store, iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    models = [LogisticRegression(C=c, max_iter=1000).fit(X, y) for c in (1.0, 0.5, 0.1)]
    assert store.save(models[0], "m", X=X, y=y).version == "1.0.0"
    # New hyper-parameters: the next minor version.
    assert store.save(models[1], "m", X=X, y=y).version == "1.1.0"
    assert store.save(models[2], "m", X=X, y=y).version == "1.2.0"
    assert store.versions("m") == ["1.0.0", "1.1.0", "1.2.0"]
    assert store.latest("m") == "1.2.0"
    assert store.record("m")["version_reason"].startswith("minor bump from 1.1.0")
    assert store.record("m", "1.0.0")["version_reason"] == "first version"
    for version, model in zip(store.versions("m"), models):
        np.testing.assert_array_equal(store.load("m", version).predict_proba(X),
                                      model.predict_proba(X))


def test_explicit_version(store, small_model):
    model, _, _ = small_model
    assert store.save(model, "m", version="0.3.1").version == "0.3.1"
    assert store.save({"other": 1}, "m", bump="minor").version == "0.4.0"
    assert store.save({"old": True}, "m", version="0.1.0").version == "0.1.0"
    assert store.versions("m") == ["0.1.0", "0.3.1", "0.4.0"]
    assert store.latest("m") == "0.4.0"
    assert store.load("m", "0.1.0") == {"old": True}
    assert store.record("m", "0.1.0")["version_reason"] == "given"


def test_existing_version_refused_and_nothing_changes(store, small_model):
    model, X, y = small_model
    store.save(model, "m", X=X, y=y, description="first")
    store.set_alias("m", "production", "1.0.0")
    before = tree_snapshot(store.root)
    with pytest.raises(VersionExistsError, match="immutable") as info:
        store.save({"other": 1}, "m", version="1.0.0", description="second")
    assert isinstance(info.value, FileExistsError)
    assert "overwrite=True" in str(info.value)
    assert tree_snapshot(store.root) == before
    assert store.record("m")["description"] == "first"
    np.testing.assert_array_equal(store.load("m").predict(X), model.predict(X))


def test_overwrite_replaces(store, small_model):
    model, _, _ = small_model
    store.save(model, "m", description="first")
    store.save({"keep": 1}, "m", version="0.9.0")
    evaluation = store.version_path("evaluation", "m", "1.0.0")
    evaluation.mkdir(parents=True)
    (evaluation / "metrics.json").write_text('{"accuracy": 0.5}')
    rec = store.save({"replaced": True}, "m", version="1.0.0", overwrite=True,
                     description="second")
    assert rec.version == "1.0.0"
    assert store.load("m", "1.0.0") == {"replaced": True}
    assert store.record("m", "1.0.0")["description"] == "second"
    assert store.list()[0]["description"] == "second"
    assert store.versions("m") == ["0.9.0", "1.0.0"]
    assert not evaluation.exists(), "evaluation of the replaced artifacts is removed"
    assert store.load("m", "0.9.0") == {"keep": 1}
    assert store.verify().ok, store.verify()
    leftovers = [f for f in visible_files(store.root) if ".trash" in f or ".tmp" in f]
    assert leftovers == []


def test_overwrite_of_a_new_version_is_a_plain_save(store):
    assert store.save(1, "m", version="2.0.0", overwrite=True).version == "2.0.0"
    assert store.load("m") == 1


# -- loading by reference --------------------------------------------------------------------

def test_load_by_latest_exact_alias_and_ref(store):
    for i in range(3):
        store.save({"i": i}, "m")
    store.set_alias("m", "production", "1.1.0")
    assert store.load("m") == {"i": 2}
    assert store.load("m", "latest") == {"i": 2}
    assert store.load("m", "1.0.0") == {"i": 0}
    assert store.load("m", "production") == {"i": 1}
    assert store.load("m@1.0.0") == {"i": 0}
    assert store.load("m@production") == {"i": 1}
    assert store.load("m@latest") == {"i": 2}
    assert store.record("m@production").version == "1.1.0"
    assert store.resolve("m", "production") == "1.1.0"
    with pytest.raises(ValueError, match="version given twice"):
        store.load("m@1.0.0", "1.1.0")


def test_missing_version_and_alias_messages(store):
    store.save(1, "m")
    store.save(2, "m")
    with pytest.raises(ModelNotFoundError, match=r"m has no version 3\.0\.0; latest versions: "
                                                 r"1\.0\.0, 1\.1\.0"):
        store.load("m", "3.0.0")
    with pytest.raises(ModelNotFoundError, match="neither a version nor an alias"):
        store.load("m", "prod")


def test_unknown_model_suggests_close_names(store):
    store.save(1, "iris_classifier")
    store.save(2, "churn_model")
    with pytest.raises(ModelNotFoundError, match="did you mean iris_classifier") as info:
        store.load("iris_clasifier")
    assert isinstance(info.value, LookupError)
    assert str(info.value).startswith("no model named 'iris_clasifier'")
    with pytest.raises(ModelNotFoundError, match="models here: churn_model, iris_classifier"):
        store.load("zzz")
    with pytest.raises(ModelNotFoundError, match="did you mean churn_model"):
        store.load("churn_modl", "production")
    with pytest.raises(ModelNotFoundError, match="did you mean"):
        store.versions("churn_mode")


def test_unknown_model_on_empty_store_writes_nothing(tmp_path, store):
    with pytest.raises(ModelNotFoundError, match="is empty"):
        store.load("anything")
    with pytest.raises(ModelNotFoundError):
        store.load("anything", "1.0.0")
    assert tree_snapshot(tmp_path) == {}


# -- aliases -------------------------------------------------------------------------------

def test_set_and_remove_alias(store):
    store.save(1, "m")
    store.save(2, "m")
    assert store.set_alias("m", "production", "latest") == "1.1.0"
    assert store.set_alias("m", "staging", "1.0.0") == "1.0.0"
    assert store.aliases("m") == {"production": "1.1.0", "staging": "1.0.0"}
    assert store.set_alias("m", "production", "staging") == "1.0.0"  # an alias of an alias
    assert store.aliases("m")["production"] == "1.0.0"
    store.remove_alias("m", "staging")
    assert store.aliases("m") == {"production": "1.0.0"}
    with pytest.raises(ModelNotFoundError, match=r"no alias 'staging' \(aliases: production\)"):
        store.remove_alias("m", "staging")
    store.remove_alias("m", "production")
    assert store.aliases("m") == {}
    assert not (store.root / "registry/aliases/m.json").exists()


def test_alias_to_missing_version_refused(store):
    store.save(1, "m")
    with pytest.raises(ModelNotFoundError, match=r"no version 9\.0\.0"):
        store.set_alias("m", "production", "9.0.0")
    assert store.aliases("m") == {}


def test_aliases_survive_a_fresh_store_object(store):
    store.save(1, "m")
    store.set_alias("m", "production", "1.0.0")
    assert ModelStore(store.root).load("m@production") == 1


# -- delete --------------------------------------------------------------------------------

def test_delete(store):
    for i in range(3):
        store.save({"i": i}, "m")
    assert store.delete("m", "1.2.0") == "1.2.0"
    assert store.latest("m") == "1.1.0"
    assert store.versions("m") == ["1.0.0", "1.1.0"]
    assert store.load("m") == {"i": 1}
    assert not any("m_v1.2.0" in f for f in visible_files(store.root))
    assert store.delete("m", "latest") == "1.1.0"
    assert store.delete("m@1.0.0", "latest") == "1.0.0"
    with pytest.raises(ModelNotFoundError):
        store.load("m")
    assert [m["name"] for m in store.list()] == []
    assert store.verify().ok, store.verify()


def test_delete_refuses_an_aliased_version_unless_forced(store):
    store.save(1, "m")
    store.save(2, "m")
    store.set_alias("m", "production", "1.0.0")
    before = tree_snapshot(store.root)
    with pytest.raises(NBModelsError, match="aliased as production"):
        store.delete("m", "1.0.0")
    assert tree_snapshot(store.root) == before
    with pytest.raises(NBModelsError, match="aliased"):
        store.delete("m", "production")
    assert store.delete("m", "production", force=True) == "1.0.0"
    assert store.aliases("m") == {}
    assert store.versions("m") == ["1.1.0"]
    assert store.verify().ok, store.verify()


# -- listing -------------------------------------------------------------------------------

def test_list_contents(store, small_model, forest):
    model, X, y = small_model
    store.save(model, "lr", X=X, y=y, metrics={"accuracy": 0.9, "f1_score": 0.8, "x": "y"},
               description="logistic")
    store.save(model, "lr", X=X, y=y, metrics={"accuracy": 0.95}, bump="minor",
               force_new=True)
    store.save(forest, "rf", metrics={"accuracy": 0.99}, tags=["trees"])
    store.set_alias("lr", "production", "1.0.0")
    table = store.list()
    assert [m["name"] for m in table] == ["lr", "rf"]
    lr, rf = table
    assert lr["latest"] == "1.1.0"
    assert lr["aliases"] == {"production": "1.0.0"}
    assert lr["metrics"] == {"accuracy": 0.95}
    assert lr["size_bytes"] == store.record("lr").size_bytes > 0
    assert lr["created_at"] == store.record("lr").created_at
    assert lr["format"] == "joblib"
    assert rf["latest"] == "1.0.0"
    assert rf["aliases"] == {}
    assert rf["tags"] == ["trees"]
    assert rf["size_bytes"] == (store.root / "trained/rf_v1.0.0/model.joblib").stat().st_size
    text = repr(table)
    assert text.splitlines()[0].split() == ["name", "latest", "aliases", "created", "size",
                                           "metrics"]
    assert "production=1.0.0" in text and "accuracy=0.95" in text
    assert "<table" in table._repr_html_()
    assert json.loads(json.dumps(table.to_dict()))[0]["name"] == "lr"
    assert store.summary("lr")["latest"] == "1.1.0"


def test_list_of_an_empty_store(store):
    assert list(store.list()) == []
    assert repr(store.list()) == "(no models)"
    assert store.names() == []


def test_list_and_latest_from_a_fresh_store_object(store):
    store.save(1, "a")
    store.save(2, "a")
    store.save(3, "b")
    fresh = ModelStore(store.root)
    assert [(m["name"], m["latest"]) for m in fresh.list()] == [("a", "1.1.0"), ("b", "1.0.0")]


def test_versions_in_semver_order(store):
    for v in ("1.10.0", "1.2.0", "0.1.0", "1.9.0", "1.10.0-rc.1", "10.0.0"):
        store.save(v, "m", version=v)
    assert store.versions("m") == ["0.1.0", "1.2.0", "1.9.0", "1.10.0-rc.1", "1.10.0",
                                   "10.0.0"]


# -- records -------------------------------------------------------------------------------

def test_record_and_update_record(store):
    store.save(1, "m", metrics={"accuracy": 0.5})
    rec = store.record("m", "1.0.0")
    assert rec.ref == "m@1.0.0"
    assert rec["model_name"] == "m"
    assert dict(rec)["version"] == "1.0.0"
    new = store.update_record("m", "1.0.0", {"metrics": {"f1_score": 0.4},
                                             "description": "now documented"})
    assert new.metrics == {"accuracy": 0.5, "f1_score": 0.4}
    assert store.record("m").metrics == {"accuracy": 0.5, "f1_score": 0.4}
    assert store.list()[0]["metrics"] == {"accuracy": 0.5, "f1_score": 0.4}
    assert store.list()[0]["description"] == "now documented"
    with pytest.raises(NBModelsError, match="cannot change files"):
        store.update_record("m", "1.0.0", {"files": []})
    assert store.verify().ok


def test_record_repr_is_deterministic_and_readable(store, small_model):
    model, X, y = small_model
    store.save(model, "iris_clf", X=X, y=y, metrics={"accuracy": 0.9733333, "f1_score": 0.97,
                                                     "recall": 0.96, "auc_roc": 0.99})
    rec = store.record("iris_clf")
    size = rec.size_bytes
    assert size > 100
    text = repr(rec)
    assert text == repr(store.record("iris_clf")) == repr(ModelStore(store.root).record(
        "iris_clf"))
    assert text.startswith("ModelRecord(iris_clf@1.0.0, joblib, ")
    # The seed's headline metrics, in the seed's order, at most three of them.
    assert text.endswith(", accuracy=0.9733, recall=0.96, f1_score=0.97)")
    assert "\n" not in text


def test_record_html_card(store, small_model):
    model, X, y = small_model
    store.save(model, "iris_clf", X=X, y=y, description="<b>bold</b> & more",
               metrics={"accuracy": 0.97}, tags=["iris"])
    html = store.record("iris_clf")._repr_html_()
    assert html.startswith("<div class='nbmodels-record'")
    assert "iris_clf" in html and "1.0.0" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
    assert "<b>bold</b>" not in html
    assert "accuracy=0.97" in html
    assert "sepal length (cm)" in html
    assert html == store.record("iris_clf")._repr_html_()


# -- the seed convention -------------------------------------------------------------------

def test_seed_code_loads_what_nbmodels_saved(tmp_path, store, small_model, monkeypatch):
    model, X, y = small_model
    store.save(model, "iris_clf", X=X, y=y)
    store.save(model, "iris_clf", version="1.5.0", X=X, y=y, force_new=True)
    monkeypatch.chdir(tmp_path)  # the seed's paths are relative to the project folder
    for version in ("1.0.0", "1.5.0"):
        loaded = joblib.load(f"models/trained/iris_clf_v{version}/model.joblib")
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(seed_load_model("iris_clf").predict(X), model.predict(X))
    np.testing.assert_array_equal(seed_load_model("iris_clf", "1.0.0").predict(X),
                                  model.predict(X))
    with open("models/metadata/iris_clf_v1.0.0/metadata.json") as f:
        assert set(SEED_KEYS) <= set(json.load(f))


def _hand_made(root: Path, name: str, version: str, model, *, metadata: dict | None) -> None:
    trained = root / "trained" / f"{name}_v{version}"
    trained.mkdir(parents=True)
    joblib.dump(model, trained / "model.joblib")
    if metadata is not None:
        meta = root / "metadata" / f"{name}_v{version}"
        meta.mkdir(parents=True)
        (meta / "metadata.json").write_text(json.dumps(metadata, indent=2))


def _seed_metadata(name: str, version: str) -> dict:
    return {
        "model_name": name, "version": version,
        "description": "Random Forest model for customer churn prediction",
        "created_at": "2025-06-07T10:00:00Z", "author": "Your Name",
        "framework": "scikit-learn", "framework_version": "1.3.0", "python_version": "3.10.0",
        "training_dataset": "data/processed/customer_data_2025_06_01.parquet",
        "features": ["feature1", "feature2", "feature3", "feature4"], "target": "churn",
        "hyperparameters": {"n_estimators": 5, "max_depth": 3, "min_samples_split": 2,
                            "random_state": 42},
        "metrics": {"accuracy": 0.85, "precision": 0.82, "recall": 0.79, "f1_score": 0.80,
                    "auc_roc": 0.88},
        "tags": ["classification", "churn", "customer"],
    }


@pytest.mark.parametrize("with_metadata", [True, False], ids=["seed-metadata", "no-metadata"])
def test_hand_made_seed_folder_is_adopted(store, forest, iris, with_metadata):
    X, _ = iris
    meta = _seed_metadata("churn_rf", "1.0.0") if with_metadata else None
    _hand_made(store.root, "churn_rf", "1.0.0", forest, metadata=meta)
    compressed = store.root / "trained" / "churn_rf_v1.1.0"
    compressed.mkdir()
    joblib.dump({"compressed": np.arange(1000)}, compressed / "model.joblib", compress=3)

    report = store.verify()
    kinds = {p.kind for p in report.problems}
    assert "unadopted" in kinds and kinds <= {"unadopted", "stale_index"}, report
    if with_metadata:  # listed already, but it cannot be loaded without hashes
        with pytest.raises(IntegrityError, match="rebuild-index"):
            store.load("churn_rf", "1.0.0")

    rebuilt = store.rebuild_index()
    assert rebuilt.adopted == ["churn_rf@1.0.0", "churn_rf@1.1.0"]
    assert (rebuilt.models, rebuilt.versions) == (1, 2)
    assert store.verify().ok, store.verify()
    assert store.versions("churn_rf") == ["1.0.0", "1.1.0"]
    assert store.list()[0]["latest"] == "1.1.0"
    # Pickles this user did not save are refused until trusted (remembered by hash).
    from nbmodels.errors import UntrustedArtifactError

    with pytest.raises(UntrustedArtifactError, match=r"churn_rf@1\.0\.0 --trust"):
        store.load("churn_rf", "1.0.0")
    if with_metadata:  # the seed record says scikit-learn 1.3.0 and Python 3.10.0
        with pytest.warns(UserWarning, match="different environment"):
            loaded = store.load("churn_rf", "1.0.0", trust=True)
    else:
        loaded = store.load("churn_rf", "1.0.0", trust=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), forest.predict_proba(X))
    assert store.trust("churn_rf", "1.1.0") == "1.1.0"
    np.testing.assert_array_equal(store.load("churn_rf")["compressed"], np.arange(1000))

    rec = store.record("churn_rf", "1.0.0")
    assert rec["origin"] == "adopted"
    assert rec.format == "joblib"
    assert rec.files[0]["name"] == "model.joblib"
    if with_metadata:
        for key, value in meta.items():
            assert rec[key] == value, key
    else:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec.created_at)
    # Adopting is idempotent, and the hand-made files are not rewritten.
    artifact = store.root / "trained/churn_rf_v1.0.0/model.joblib"
    data = artifact.read_bytes()
    assert store.rebuild_index().adopted == []
    assert artifact.read_bytes() == data
    # The store goes on from the adopted versions.
    assert store.save({"next": 1}, "churn_rf").version == "1.2.0"


def test_adoption_of_a_seed_record_with_another_name(store, forest):
    meta = _seed_metadata("random_forest_classifier", "1.0.0")
    _hand_made(store.root, "churn", "2.0.0", forest, metadata=meta)
    store.rebuild_index()
    rec = store.record("churn")
    assert (rec.name, rec.version) == ("churn", "2.0.0")
    assert rec["original_model_name"] == "random_forest_classifier"
    assert rec["original_version"] == "1.0.0"


def test_a_hand_written_record_with_odd_value_types_lists_and_shows(store, forest):
    # Hand-written code keeps whatever it likes: a timestamp, numbers as tags, ...
    meta = {**_seed_metadata("odd", "1.0.0"), "created_at": 1700000000, "tags": [1, 2],
            "description": 5, "metrics": {"accuracy": "0.9"}}
    _hand_made(store.root, "odd", "1.0.0", forest, metadata=meta)
    store.rebuild_index()
    table = store.list()
    assert "1700000000" in repr(table) and table._repr_html_()
    assert table[0]["tags"] == ["1", "2"]
    rec = store.record("odd")
    assert rec.tags == ["1", "2"] and "1, 2" in rec._repr_html_()
    assert "- **Tags**: 1, 2" in rec.card().markdown


def test_rebuild_index_reports_what_it_cannot_adopt(store):
    odd = store.root / "trained" / "odd_v1.0.0"
    odd.mkdir(parents=True)
    (odd / "weights.bin").write_bytes(b"\0" * 10)
    broken = store.root / "metadata" / "broken_v1.0.0"
    broken.mkdir(parents=True)
    (broken / "metadata.json").write_text("{not json")
    report = store.rebuild_index()
    assert report.adopted == []
    reasons = dict(report.skipped)
    assert "no artifact in a known format (found: weights.bin)" in reasons["trained/odd_v1.0.0"]
    assert "invalid JSON" in reasons["metadata/broken_v1.0.0/metadata.json"]
    assert (odd / "weights.bin").read_bytes() == b"\0" * 10


def test_save_refuses_to_clobber_an_unadopted_hand_made_folder(store, forest):
    _hand_made(store.root, "rf", "1.0.0", forest, metadata=None)
    trained = store.root / "trained"
    before = tree_snapshot(trained)
    for version in ("1.0.0", None):  # an explicit version, and the first automatic one
        with pytest.raises(VersionExistsError, match="rebuild-index"):
            store.save({"new": 1}, "rf", version=version)
    assert tree_snapshot(trained) == before
    assert not (store.root / "metadata").exists()


# -- drop-in functions and the default store ------------------------------------------------

def test_drop_in_functions_use_nbmodels_home(tmp_path, small_model, _isolated_home):
    model, X, _ = small_model
    rec = nbmodels.save_model(model, model_name="iris_clf")
    assert rec.version == "1.0.0"
    assert (_isolated_home / "trained/iris_clf_v1.0.0/model.joblib").is_file()
    nbmodels.save_model(model, "iris_clf", version="2.0.0", description="v2", force_new=True)
    np.testing.assert_array_equal(nbmodels.load_model("iris_clf").predict(X), model.predict(X))
    np.testing.assert_array_equal(
        nbmodels.load_model(model_name="iris_clf", version="1.0.0").predict(X),
        model.predict(X))
    assert ModelStore().root == _isolated_home
    assert ModelStore().record("iris_clf")["description"] == "v2"
    with pytest.raises(ModelNotFoundError):
        nbmodels.load_model("nope")


def test_default_root_is_models_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NBMODELS_HOME")
    monkeypatch.chdir(tmp_path)
    assert ModelStore().root == tmp_path / "models"
    nbmodels.save_model({"a": 1}, "m")
    assert (tmp_path / "models/trained/m_v1.0.0/model.joblib").is_file()
    assert nbmodels.load_model("m") == {"a": 1}


def test_provenance_of_loaded_models(store, small_model):
    from nbmodels import provenance

    model, _, _ = small_model
    store.save(model, "m")
    loaded = store.load("m")
    assert provenance(loaded) == (str(store.root), "m", "1.0.0")
    assert provenance(model) is None
    store.save({"plain": "dict"}, "d")
    first = store.load("d")
    assert provenance(first) == (str(store.root), "d", "1.0.0")


def test_copying_a_store_keeps_it_usable(tmp_path, store):
    store.save(1, "m")
    store.save(2, "m")
    store.set_alias("m", "production", "1.0.0")
    copy = tmp_path / "copy"
    shutil.copytree(store.root, copy)
    other = ModelStore(copy)
    assert other.load("m") == 2
    assert other.load("m@production") == 1
    assert other.verify().ok, other.verify()


def test_fortran_ordered_pickle_buffers(store):
    """A non-C-contiguous buffer handed to the writer is written (and hashed) in memory order."""
    from nbm_helpers import FortranBuffer

    array = np.asfortranarray(np.arange(300_000, dtype=np.float64).reshape(600, 500))
    store.save({"buf": FortranBuffer(array)}, "fortran")
    assert store.load("fortran")["buf"] == array.tobytes(order="A")
    assert store.verify().ok


def test_loading_many_plain_objects_keeps_them_from_piling_up(store):
    import gc
    import weakref

    from nbm_helpers import Token

    from nbmodels import provenance

    store.save({"token": Token(1)}, "plain")
    refs = []
    for _ in range(100):
        loaded = store.load("plain")  # a dict: provenance cannot hold it weakly
        assert provenance(loaded) == (str(store.root), "plain", "1.0.0")
        refs.append(weakref.ref(loaded["token"]))
        del loaded
    gc.collect()
    assert sum(r() is not None for r in refs) <= 32
