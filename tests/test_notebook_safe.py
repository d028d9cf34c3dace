"""Notebook-safe saves: re-run cells, suggested bumps, ``__main__`` objects, check_load."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from nbm_helpers import tree_snapshot
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nbmodels import ModelStore
from nbmodels.errors import LoadCheckError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"age": rng.normal(40, 10, 200), "income": rng.normal(5, 1, 200),
                      "city": rng.choice(["a", "b", "c"], 200)})
    y = pd.Series((X["age"] > 40).astype(int), name="churn")
    return X, y


def _pipeline(X, y, C=1.0):
    numeric = [c for c in X.columns if c != "city"]
    prep = ColumnTransformer([("num", StandardScaler(), numeric),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])
    return Pipeline([("prep", prep), ("clf", LogisticRegression(C=C))]).fit(X, y)


def test_rerunning_a_save_writes_nothing(store, data):
    X, y = data

    def cell():  # what re-running the notebook cell does: fit afresh, save
        forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[["age"]], y)
        return store.save(forest, "rf", X=X[["age"]], y=y, description="first")

    first = cell()
    before = tree_snapshot(store.root)
    again = cell()
    assert again.version == first.version == "1.0.0"
    assert again.to_dict() == first.to_dict()
    assert tree_snapshot(store.root) == before  # not a byte written, not even a temp folder
    assert store.versions("rf") == ["1.0.0"]

    forced = store.save(RandomForestClassifier(n_estimators=10, random_state=0)
                        .fit(X[["age"]], y), "rf", X=X[["age"]], y=y, description="first",
                        force_new=True)
    assert forced.version == "1.0.1"
    assert forced["content_hash"] == first["content_hash"]
    assert forced["bump"]["part"] == "patch"
    assert "saved again on request" in forced["version_reason"]

    # Only the model's bytes decide: another description is not another model (it can be
    # recorded with store.edit); the newest version holding these bytes is returned.
    other = store.save(RandomForestClassifier(n_estimators=10, random_state=0)
                       .fit(X[["age"]], y), "rf", X=X[["age"]], y=y, description="second")
    assert other.version == "1.0.1" and other.unchanged is not None
    assert store.versions("rf") == ["1.0.0", "1.0.1"]


def test_refit_with_new_hyperparameters_bumps_minor(store, data):
    X, y = data
    store.save(_pipeline(X, y), "churn", X=X, y=y)
    rec = store.save(_pipeline(X, y, C=0.1), "churn", X=X, y=y)
    assert rec.version == "1.1.0"
    assert rec["bump"] == {"part": "minor", "rule": "hyper-parameters changed",
                           "changes": ["clf__C: 1.0 -> 0.1"], "from": "1.0.0",
                           "chosen_by": "rule"}
    assert rec["version_reason"] == ("minor bump from 1.0.0: hyper-parameters changed "
                                     "(clf__C: 1.0 -> 0.1)")
    card = (store.root / "metadata/churn_v1.1.0/model_card.md").read_text()
    assert "- **Why this version**: minor bump from 1.0.0: hyper-parameters changed" in card


def test_new_feature_bumps_major(store, data):
    X, y = data
    store.save(_pipeline(X, y), "churn", X=X, y=y)
    wider = X.assign(ratio=X["age"] / X["income"])
    rec = store.save(_pipeline(wider, y), "churn", X=wider, y=y)
    assert rec.version == "2.0.0"
    assert rec["bump"]["part"] == "major"
    assert rec["bump"]["changes"] == ["features: added ratio"]
    assert rec["version_reason"].startswith("major bump from 1.0.0: the model's interface "
                                            "changed (features: added ratio)")


def test_interface_weights_and_caller_bumps(store, data):
    X, y = data
    base = store.save(_pipeline(X, y), "m", X=X, y=y)
    assert base["version_reason"] == "first version"
    # New rows, same schema and settings: only the learned weights changed.
    more = pd.concat([X, X.iloc[:20]], ignore_index=True)
    more_y = pd.concat([y, y.iloc[:20]], ignore_index=True)
    patch = store.save(_pipeline(more, more_y), "m", X=more, y=more_y)
    assert patch.version == "1.0.1"
    assert patch["bump"]["changes"] == ["trained on different data"]
    # A feature's dtype changed: the interface changed.
    retyped = X.assign(age=X["age"].astype("float32"))
    assert store.save(_pipeline(retyped, y), "m", X=retyped, y=y).version == "2.0.0"
    # Other classes are another interface too.
    three = pd.Series(np.arange(len(y)) % 3, name="churn")
    major = store.save(_pipeline(retyped, three), "m", X=retyped, y=three)
    assert major.version == "3.0.0" and major["bump"]["changes"] == ["classes 0, 1 -> 0, 1, 2"]
    # The caller's bump wins; the rule's suggestion is kept beside it.
    given = store.save(_pipeline(retyped, three, C=3.0), "m", X=retyped, y=three,
                       bump="patch")
    assert given.version == "3.0.1"
    assert given["bump"]["chosen_by"] == "caller" and given["bump"]["suggested"] == "minor"


MAIN_MODEL = textwrap.dedent("""
    import sys
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from nbmodels import ModelStore

    def add_square(X):
        return np.c_[X, X[:, :1] ** 2]

    class Clipper(BaseEstimator, TransformerMixin):
        def fit(self, X, y=None):
            self.high_ = np.percentile(X, 95, axis=0)
            return self

        def transform(self, X):
            return np.minimum(X, self.high_)

    X = np.random.default_rng(0).normal(size=(200, 3))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)
    model = make_pipeline(Clipper(), FunctionTransformer(add_square),
                          LogisticRegression()).fit(X, y)
""")


def _python(script: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_main_objects_are_saved_by_value_and_load_elsewhere(tmp_path):
    root = tmp_path / "models"
    script = tmp_path / "train.py"  # a real script: its classes live in __main__
    script.write_text(MAIN_MODEL + textwrap.dedent("""
        rec = ModelStore(sys.argv[1]).save(model, "clip", X=X, y=y, check_load=True)
        print(rec.version, rec["format_info"]["serializer"])
        print(",".join(rec["environment"]["saved_by_value"]))
        print(rec["load_check"]["rows"])
        np.save(sys.argv[1] + "/expected.npy", model.predict(X))
    """))
    saved = subprocess.run([sys.executable, str(script), str(root)], capture_output=True,
                           text=True, timeout=120)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.split() == ["1.0.0", "cloudpickle-protocol-5",
                                    "__main__.Clipper,__main__.add_square", "5"]
    # Another fresh process, where __main__ has neither Clipper nor add_square.
    loaded = _python(textwrap.dedent("""
        import sys, numpy as np
        from nbmodels import ModelStore
        model = ModelStore(sys.argv[1]).load("clip")
        X = np.random.default_rng(0).normal(size=(200, 3))
        assert (model.predict(X) == np.load(sys.argv[1] + "/expected.npy")).all()
        print(type(model.steps[0][1]).__name__)
    """), str(root), cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "Clipper"
    assert "cloudpickle==" in ModelStore(root).record("clip")["environment"]["pip"]


def test_main_objects_refused_without_cloudpickle(tmp_path):
    root = tmp_path / "models"
    refused = _python(MAIN_MODEL + textwrap.dedent("""
        from nbmodels.errors import NotebookObjectsError
        sys.modules["cloudpickle"] = None  # as if it were not installed
        try:
            ModelStore(sys.argv[1]).save(model, "clip")
        except NotebookObjectsError as exc:
            print(exc)
            print(exc.objects)
    """), str(root))
    assert refused.returncode == 0, refused.stderr
    message = refused.stdout
    assert "Clipper (class), add_square (function)" in message
    assert "Can't get attribute" in message and "move them into a module" in message
    assert "pip install cloudpickle" in message
    assert "['__main__.Clipper', '__main__.add_square']" in message
    assert not root.exists()  # refused before anything was written


def test_main_objects_are_refused_by_skops_which_stores_them_by_name(tmp_path):
    pytest.importorskip("skops")
    root = tmp_path / "models"
    refused = _python(MAIN_MODEL + textwrap.dedent("""
        from nbmodels.errors import NotebookObjectsError
        try:
            ModelStore(sys.argv[1]).save(model, "clip", format="skops")
        except NotebookObjectsError as exc:
            print(exc)
            print(sorted(exc.objects))
    """), str(root))
    assert refused.returncode == 0, refused.stderr
    assert "format='joblib'" in refused.stdout
    assert "['__main__.Clipper', '__main__.add_square']" in refused.stdout
    assert ModelStore(root).names() == [] and ModelStore(root).verify().ok


def test_check_load_refuses_a_model_another_process_cannot_import(store, tmp_path,
                                                                  monkeypatch, data):
    X, y = data
    # A module importable here only because the notebook put its folder on sys.path.
    local = tmp_path / "notebook_dir"
    local.mkdir()
    (local / "my_features.py").write_text(textwrap.dedent("""
        from sklearn.base import BaseEstimator, TransformerMixin
        class Scale(BaseEstimator, TransformerMixin):
            def fit(self, X, y=None):
                return self
            def transform(self, X):
                return X * 2.0
    """))
    monkeypatch.syspath_prepend(str(local))
    from my_features import Scale

    model = Pipeline([("s", Scale()), ("clf", LogisticRegression())]).fit(X[["age"]], y)
    with pytest.raises(LoadCheckError, match="No module named 'my_features'"):
        store.save(model, "local", X=X[["age"]], y=y, check_load=True)
    assert store.names() == [] and list((store.root / "trained").iterdir()) == []

    saved = store.save(model, "local", X=X[["age"]], y=y)  # unchecked: saved, with a hint
    assert saved["environment"]["local_modules"] == ["my_features"]


def test_store_wide_check_load(tmp_path, data):
    X, y = data
    checked = ModelStore(tmp_path / "models", check_load=True)
    rec = checked.save(_pipeline(X, y), "churn", X=X, y=y)
    assert rec["load_check"]["passed"] is True and rec["load_check"]["rows"] == 5
    card = (checked.root / "metadata/churn_v1.0.0/model_card.md").read_text()
    assert "predictions on 5 training rows matched" in card
    off = checked.save(_pipeline(X, y, C=2.0), "churn", X=X, y=y, check_load=False)
    assert "load_check" not in off
