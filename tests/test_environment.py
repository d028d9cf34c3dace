"""On load: one structured environment report, and strict=True refuses."""

from __future__ import annotations

import hashlib
import json
import pickle
import platform
import warnings

import numpy as np
import pytest
import sklearn
from nbm_helpers import UnpickleSpy
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import nbmodels
from nbmodels import ModelStore
from nbmodels.errors import EnvironmentMismatchError
from nbmodels.record.environment import EnvironmentReport, EnvironmentWarning


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    return X, (X[:, 0] > 0).astype(int)


def _older(python: str) -> str:
    major, minor = (int(p) for p in python.split(".")[:2])
    return f"{major}.{minor - 1}.4"


def _edit_record(store, name, version, edit):
    path = store.root / f"metadata/{name}_v{version}/metadata.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _load_collecting(load):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load()
    return model, caught


def test_older_environment_in_the_record_loads_with_one_report(store, xy):
    X, y = xy
    store.save(LogisticRegression().fit(X, y), "lr", X=X, y=y)
    old_python = _older(platform.python_version())

    def older_sklearn(data):
        data["environment"]["packages"]["scikit-learn"] = "1.3.0"
        data["environment"]["packages"]["nbmodels-never-installed"] = "0.9"
        data["environment"]["python"] = old_python

    _edit_record(store, "lr", "1.0.0", older_sklearn)
    assert store.verify().ok  # the artifact and its hashes are untouched

    model, caught = _load_collecting(lambda: store.load("lr"))
    assert model.predict(X[:3]).shape == (3,)
    (only,) = caught  # one warning, not one per package or per estimator
    assert only.category is EnvironmentWarning
    assert only.filename == __file__  # points at the caller's line
    report = only.message.report
    assert isinstance(report, EnvironmentReport) and report.differs
    assert report.python_differs and report.python_saved == old_python
    assert [d.to_dict() for d in report.packages] == [
        {"package": "nbmodels-never-installed", "saved": "0.9", "current": None},
        {"package": "scikit-learn", "saved": "1.3.0", "current": sklearn.__version__}]
    assert report.pip_line == "pip install nbmodels-never-installed==0.9 scikit-learn==1.3.0"

    text = str(only.message)
    lines = text.splitlines()
    assert lines[0] == "lr@1.0.0 was saved in a different environment:"
    assert lines[1].split() == ["package", "saved", "current"]
    assert lines[2].split() == ["Python", old_python, platform.python_version()]  # first
    assert lines[3].split() == ["nbmodels-never-installed", "0.9", "not", "installed"]
    assert lines[4].split() == ["scikit-learn", "1.3.0", sklearn.__version__]
    assert f"To match it: {report.pip_line}" in text and "strict=True" in text
    assert repr(report) == (f"EnvironmentReport(lr@1.0.0: Python {old_python} -> "
                            f"{platform.python_version()}, nbmodels-never-installed 0.9 -> "
                            f"not installed, scikit-learn 1.3.0 -> {sklearn.__version__})")
    html = report._repr_html_()
    assert "<table>" in html and "1.3.0" in html and report.pip_line in html
    assert store.record("lr").environment_report().to_dict() == {
        **report.to_dict(), "sklearn_estimators": {}}


def test_strict_refuses_before_unpickling(store, tmp_path, xy):
    X, y = xy
    store.save(LogisticRegression().fit(X, y), "lr", X=X, y=y)
    _edit_record(store, "lr", "1.0.0",
                 lambda d: d["environment"]["packages"].update({"scikit-learn": "1.3.0"}))
    with pytest.raises(EnvironmentMismatchError, match=r"scikit-learn  1\.3\.0") as err:
        store.load("lr", strict=True)
    assert err.value.report.pip_line == "pip install scikit-learn==1.3.0"

    # Nothing is unpickled: a spy in the artifact would leave a marker.
    marker = tmp_path / "unpickled"
    store.save(UnpickleSpy(str(marker)), "spy")
    _edit_record(store, "spy", "1.0.0",
                 lambda d: d["environment"].update(python=_older(platform.python_version())))
    with pytest.raises(EnvironmentMismatchError, match="Python"):
        store.load("spy", strict=True)
    assert not marker.exists()


def test_load_model_strict_uses_the_default_store(xy):
    X, y = xy
    rec = nbmodels.save_model(LogisticRegression().fit(X, y), "lr")  # into $NBMODELS_HOME
    store = ModelStore()
    _edit_record(store, "lr", rec.version,
                 lambda d: d["environment"]["packages"].update({"numpy": "1.24.0"}))
    with pytest.raises(EnvironmentMismatchError):
        nbmodels.load_model("lr", strict=True)
    with pytest.warns(EnvironmentWarning, match="numpy"):
        nbmodels.load_model("lr")


def test_same_environment_loads_silently(store, xy):
    X, y = xy
    store.save(LogisticRegression().fit(X, y), "lr", X=X, y=y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store.load("lr", strict=True)
    assert not store.record("lr").environment_report().differs


def _same_length_older(version: str) -> str:
    older = "1.0." + "0" * max(1, len(version) - 4)
    assert len(older) == len(version) and older != version
    return older


def test_inconsistent_version_warnings_are_folded_into_the_report(store, xy):
    """A forest pickled by an older scikit-learn: seven InconsistentVersionWarnings become
    one line of one report."""
    X, y = xy
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    rec = store.save(forest, "rf", X=X, y=y)
    current = sklearn.__version__.encode()
    older = _same_length_older(sklearn.__version__)
    artifact = store.root / "trained/rf_v1.0.0/model.joblib"
    payload = artifact.read_bytes()
    assert payload.count(current) == 1  # pickled once, then referenced by each tree
    # What an older scikit-learn would have written, with a record that says so.
    artifact.write_bytes(payload.replace(current, older.encode()))
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()

    def saved_by_older(data):
        data["files"][0]["sha256"] = digest
        data["environment"]["packages"]["scikit-learn"] = older

    _edit_record(store, "rf", rec.version, saved_by_older)
    with warnings.catch_warnings(record=True) as direct:
        warnings.simplefilter("always")
        pickle.loads(artifact.read_bytes())
    # One per estimator: the forest, its template tree and the five fitted trees.
    assert [type(w.message).__name__ for w in direct] == ["InconsistentVersionWarning"] * 7
    # The artifact was rewritten here, so it is not the bytes this user saved: trusted
    # explicitly, as a user would after reading the refusal.
    model, caught = _load_collecting(lambda: store.load("rf", trust=True))
    assert [w.category for w in caught] == [EnvironmentWarning]
    report = caught[0].message.report
    assert report.sklearn_estimators == {"RandomForestClassifier": older,
                                         "DecisionTreeClassifier": older}
    assert "scikit-learn warned about DecisionTreeClassifier, RandomForestClassifier" \
        in str(report)
    assert model.predict(X[:2]).shape == (2,)

    # The record alone says nothing (an edited record, say): the warnings still tell.
    _edit_record(store, "rf", rec.version, lambda d: d["environment"]["packages"].update(
        {"scikit-learn": sklearn.__version__}))
    _, caught = _load_collecting(lambda: store.load("rf"))
    assert [w.category for w in caught] == [EnvironmentWarning]
    assert [d.to_dict() for d in caught[0].message.report.packages] == [
        {"package": "scikit-learn", "saved": older, "current": sklearn.__version__}]
    with pytest.raises(EnvironmentMismatchError):
        store.load("rf", strict=True)
