"""What a saved version records about itself, captured without the user typing it.

Real models, real saves: a plain estimator on a DataFrame, a Pipeline with a
ColumnTransformer, and a model trained on bare numpy arrays. (A model with a
transformer defined in ``__main__`` is in test_notebook_safe.py.)
"""

from __future__ import annotations

import getpass
import json
import platform
import re
import subprocess
from importlib.metadata import version as dist_version

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nbmodels import ModelStore
from nbmodels.record.card import diagram_from_markdown

SEED_KEYS = ["model_name", "version", "description", "created_at", "author", "framework",
             "framework_version", "python_version", "training_dataset", "features", "target",
             "hyperparameters", "metrics", "tags"]
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def churn():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, 300).round(),
                      "income": rng.normal(5, 1, 300),
                      "city": rng.choice(["paris", "lyon", "nice"], 300)})
    y = pd.Series((X["age"] + rng.normal(0, 5, 300) > 40).astype(int), name="churn")
    return X, y


@pytest.fixture(scope="module")
def churn_pipeline(churn):
    X, y = churn
    prep = ColumnTransformer([("num", StandardScaler(), ["age", "income"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])
    return Pipeline([("prep", prep), ("clf", LogisticRegression(C=0.5))]).fit(X, y)


def test_plain_estimator_record_has_every_field(store, churn):
    X, y = churn
    X = X[["age", "income"]]
    model = RandomForestClassifier(n_estimators=7, max_depth=4, random_state=42).fit(X, y)
    rec = store.save(model, "rf", X=X, y=y, description="churn forest", tags="churn,rf",
                     metrics={"accuracy": 0.85}, training_dataset="data/churn.parquet")

    data = json.loads((store.root / "metadata/rf_v1.0.0/metadata.json").read_text())
    assert data == rec.to_dict()
    assert list(data)[1:len(SEED_KEYS) + 1] == SEED_KEYS  # the seed's keys, in its order
    for key in ("schema_version", "format", "files", "size_bytes", "environment", "lineage",
                "architecture", "content_hash"):
        assert key in data
    assert ISO_UTC.fullmatch(data["created_at"])
    assert data["framework"] == "scikit-learn"
    assert data["framework_version"] == sklearn.__version__
    assert data["python_version"] == platform.python_version()
    assert data["features"] == ["age", "income"] and data["n_features"] == 2
    assert data["target"] == "churn"
    assert data["classes"] == [0, 1]
    assert data["estimator_type"] == "classifier"
    assert data["model_class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    hp = data["hyperparameters"]
    assert (hp["n_estimators"], hp["max_depth"], hp["random_state"]) == (7, 4, 42)
    assert data["metrics"] == {"accuracy": 0.85} and data["tags"] == ["churn", "rf"]
    assert data["training_dataset"] == "data/churn.parquet"
    (f,) = data["files"]
    assert f["name"] == "model.joblib" and f["size"] == data["size_bytes"] > 0
    assert len(f["sha256"]) == 64 and len(data["content_hash"]) == 64

    env = data["environment"]
    assert env["python"] == platform.python_version()
    # Only what the model's classes come from, plus numpy and joblib: not a pip freeze.
    assert env["packages"] == {"joblib": dist_version("joblib"),
                               "numpy": dist_version("numpy"),
                               "scikit-learn": sklearn.__version__}
    assert env["pip"] == ("pip install " + " ".join(f"{k}=={v}" for k, v in
                                                     env["packages"].items()))
    arch = data["architecture"]
    assert arch["class"] == data["model_class"]
    assert arch["text"].startswith("RandomForestClassifier(max_depth=4, n_estimators=7")
    assert "7 trees, depth <= 4" in arch["text"]


def test_author_from_git_config_else_os_user(tmp_path, monkeypatch, churn):
    X, y = churn
    model = LogisticRegression().fit(X[["age"]], y)
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "config", "user.name", "Ada Lovelace"], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    assert ModelStore(tmp_path / "a").save(model, "m")["author"] == "Ada Lovelace"

    outside = tmp_path / "no_git_here"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "empty_gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert ModelStore(tmp_path / "b").save(model, "m")["author"] == getpass.getuser()
    assert ModelStore(tmp_path / "c").save(model, "m", author="Grace")["author"] == "Grace"


def test_pipeline_with_column_transformer_on_a_dataframe(store, churn, churn_pipeline):
    X, y = churn
    rec = store.save(churn_pipeline, "churn", X=X, y=y)

    assert rec["features"] == ["age", "income", "city"]
    assert rec["target"] == "churn" and rec["classes"] == [0, 1]
    assert rec["model_class"] == "sklearn.pipeline.Pipeline"
    hp = rec["hyperparameters"]
    # Nested parameters flattened with scikit-learn's own keys, estimators by class name.
    assert hp["clf__C"] == 0.5 and hp["prep__cat__handle_unknown"] == "ignore"
    assert hp["steps"] == [["prep", "ColumnTransformer"], ["clf", "LogisticRegression"]]
    assert hp["prep__transformers"] == [["num", "StandardScaler", ["age", "income"]],
                                        ["cat", "OneHotEncoder", ["city"]]]
    assert hp["prep__cat__dtype"] == "numpy.float64"
    json.dumps(hp)
    assert rec["lineage"]["data"]["X"]["dtypes"] == {"age": "float64", "income": "float64",
                                                     "city": str(X["city"].dtype)}
    assert rec["environment"]["packages"].keys() == {"joblib", "numpy", "scikit-learn"}

    assert rec["architecture"]["text"].splitlines() == [
        "Pipeline",
        "├── prep: ColumnTransformer",
        "│   ├── num [age, income]: StandardScaler()",
        "│   └── cat [city]: OneHotEncoder(handle_unknown='ignore')",
        "└── clf: LogisticRegression(C=0.5)  [coef_ (1, 5)]",
    ]


def test_model_card_is_filled_from_the_record(store, churn, churn_pipeline):
    X, y = churn
    rec = store.save(churn_pipeline, "churn", X=X, y=y, description="Churn model",
                     metrics={"accuracy": 0.9, "auc_roc": 0.93},
                     training_dataset="data/churn.csv")
    card = (store.root / "metadata/churn_v1.0.0/model_card.md").read_text()

    assert "More information needed" not in card and "TODO" not in card
    assert card.startswith("# churn 1.0.0\n\nChurn model\n")
    for text in ("## Interface", "- **Features (3)**: age (float64), income (float64), city (",
                 "- **Target**: churn", "- **Classes**: 0, 1", "| accuracy | 0.9 |",
                 "## Training data", "- **Source**: data/churn.csv",
                 f"`{rec['lineage']['data']['fingerprint']}`", "- **Class balance**: 0: ",
                 "## Lineage", "## Architecture", "└── clf: LogisticRegression(C=0.5)",
                 "## Hyper-parameters", '"clf__C": 0.5', "## Environment",
                 rec["environment"]["pip"], "## Files", rec["files"][0]["sha256"]):
        assert text in card, text
    diagram = diagram_from_markdown(card)
    assert diagram and "sk-" in diagram and "LogisticRegression" in diagram
    assert "\n\n" not in diagram  # a blank line would end the raw HTML block

    shown = store.card("churn")
    assert repr(shown) == "ModelCard(churn@1.0.0)"
    html = shown._repr_html_()
    assert "Churn model" in html and "<pre" in html
    # The diagram comes back from a file another store may have written: it is shown in
    # a sandboxed frame (escaped into srcdoc), never inlined into the notebook's page.
    import html as html_lib

    assert diagram not in html and "<iframe sandbox=''" in html
    assert f'srcdoc="{html_lib.escape(diagram)}"' in html
    assert "Class balance" in html and rec["environment"]["pip"] in html
    assert "Class balance" in rec.card_html()  # the record alone: same card, no diagram

    # Updating the record rewrites the card and keeps the diagram.
    store.update_record("churn", "1.0.0", {"metrics": {"f1_score": 0.7}})
    card = (store.root / "metadata/churn_v1.0.0/model_card.md").read_text()
    assert "| f1_score | 0.7 |" in card and diagram_from_markdown(card) == diagram


def test_numpy_arrays_without_feature_names(store):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] > 0, "yes", "no")
    rec = store.save(LogisticRegression().fit(X, y), "arr", X=X, y=y)

    assert rec["features"] is None and rec["n_features"] == 4
    assert rec["target"] is None
    assert rec["classes"] == ["no", "yes"]
    data = rec["lineage"]["data"]
    assert data["X"]["shape"] == [120, 4] and data["X"]["dtype"] == "float64"
    assert "columns" not in data["X"]
    assert data["y"]["shape"] == [120] and data["y"]["dtype"].startswith("<U")
    assert data["class_balance"] == {"no": int((y == "no").sum()),
                                     "yes": int((y == "yes").sum())}
    card = (store.root / "metadata/arr_v1.0.0/model_card.md").read_text()
    assert "- **Features**: 4 unnamed (trained on an array)" in card
    assert "- **Target**" not in card  # unknown: left out, not a placeholder


def test_objects_without_sklearn_get_a_plain_record(store):
    rec = store.save({"weights": [1, 2, 3]}, "plain")
    assert rec["framework"] == "python" and rec["hyperparameters"] == {}
    assert rec["features"] is None and rec["classes"] is None
    assert rec["architecture"] == {"class": "builtins.dict", "text": "dict"}
    assert rec["lineage"]["data"] is None
    assert rec["environment"]["packages"].keys() == {"joblib", "numpy"}


class _ParamsFail(BaseEstimator):
    """get_params raises, so scikit-learn's own repr of it raises too."""

    def __init__(self, a=1):
        self.a = a

    def get_params(self, deep=True):
        raise RuntimeError("get_params is broken")


class _ReprFails:
    def __repr__(self):
        raise RuntimeError("repr is broken")


class _Holder(BaseEstimator):
    def __init__(self, thing=None):
        self.thing = thing


def test_a_broken_repr_or_get_params_does_not_stop_a_save(store):
    rec = store.save(_ParamsFail(), "odd")
    assert rec["architecture"]["text"] == "_ParamsFail" and rec["hyperparameters"] == {}
    held = store.save(_Holder(_ReprFails()), "held")
    assert held["hyperparameters"] == {"thing": "<test_metadata._ReprFails>"}
    assert type(store.load("odd")) is _ParamsFail and store.verify().ok


def test_a_hostile_diagram_in_a_card_cannot_run_in_the_notebook(store, small_model):
    from nbmodels.record.card import DIAGRAM_END, DIAGRAM_START

    model, X, y = small_model
    store.save(model, "iris", X=X, y=y)
    card_path = store.root / "metadata" / "iris_v1.0.0" / "model_card.md"
    text = card_path.read_text()
    start, end = text.index(DIAGRAM_START), text.index(DIAGRAM_END)
    evil = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
    card_path.write_text(text[:start + len(DIAGRAM_START)] + "\n" + evil + "\n" + text[end:])
    html = store.card("iris")._repr_html_()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in html
    assert "<iframe sandbox=''" in html
