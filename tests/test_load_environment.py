"""A version saved in another environment: the report travels with every load failure,
framework aliases in hand-written records, and a real save with an older scikit-learn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn

from nbmodels import ModelStore
from nbmodels.errors import EnvironmentMismatchError, NBModelsError
from nbmodels.record.environment import EnvironmentWarning, distribution_name

REPO = Path(__file__).resolve().parent.parent
OLD_SKLEARN = "1.5.2"  # the last 1.5 release; wheels for Python 3.9-3.13


def _edit_record(store: ModelStore, name: str, edit) -> None:
    path = store.root / f"metadata/{name}_v1.0.0/metadata.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _as_hand_written(framework: str, version: str):
    def edit(data):
        data.pop("environment", None)
        data["framework"], data["framework_version"] = framework, version

    return edit


@pytest.fixture
def saved_lr(store):
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    store.save(LogisticRegression().fit(X, y), "lr")
    return store, X


def test_import_names_map_to_distributions():
    assert distribution_name("sklearn") == "scikit-learn"
    assert distribution_name("scikit_learn") == "scikit-learn"
    assert distribution_name("pytorch") == "torch"
    assert distribution_name("cv2") == "opencv-python"
    assert distribution_name("skl") == "skl"  # not an alias anyone means
    assert distribution_name("xgboost") == "xgboost"
    tf = distribution_name("tf")
    assert tf in ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel")
    from importlib.util import find_spec

    if find_spec("tensorflow") is not None:  # the installed variant, whichever it is
        from importlib.metadata import version

        version(tf)


def test_hand_written_sklearn_record_gives_the_right_pip_line(saved_lr):
    store, _ = saved_lr
    _edit_record(store, "lr", _as_hand_written("sklearn", OLD_SKLEARN))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store.load("lr")
    (report,) = [w.message.report for w in caught if w.category is EnvironmentWarning]
    assert [d.to_dict() for d in report.packages] == [
        {"package": "scikit-learn", "saved": OLD_SKLEARN, "current": sklearn.__version__}]
    assert report.pip_line == f"pip install scikit-learn=={OLD_SKLEARN}"


def test_hand_written_sklearn_record_of_this_version_is_recognised(saved_lr):
    store, _ = saved_lr
    _edit_record(store, "lr", _as_hand_written("sklearn", sklearn.__version__))
    with warnings.catch_warnings():
        warnings.simplefilter("error", EnvironmentWarning)
        store.load("lr")  # installed: nothing to report


@pytest.fixture
def vanishing_module(tmp_path, monkeypatch):
    """A module that exists while a model is saved and is gone when it is loaded, like
    scikit-learn 1.5's top-level ``_loss`` extension under 1.9."""
    folder = tmp_path / "gone"
    folder.mkdir()
    (folder / "oldlib_nbm_test.py").write_text(
        "class Scaler:\n    factor = 2.0\n\n    def predict(self, X):\n"
        "        return [x * self.factor for x in X]\n")
    monkeypatch.syspath_prepend(str(folder))
    import oldlib_nbm_test

    yield oldlib_nbm_test.Scaler()
    sys.modules.pop("oldlib_nbm_test", None)


def _save_then_lose_module(store, obj, folder):
    store.save(obj, "legacy", format="joblib")
    sys.modules.pop("oldlib_nbm_test", None)
    sys.path.remove(str(folder))


def test_load_failure_in_another_environment_carries_the_report(store, vanishing_module,
                                                                tmp_path):
    _save_then_lose_module(store, vanishing_module, tmp_path / "gone")

    def older(data):
        data["environment"]["packages"]["scikit-learn"] = OLD_SKLEARN

    _edit_record(store, "legacy", older)
    with pytest.raises(EnvironmentMismatchError) as err:
        store.load("legacy")
    assert isinstance(err.value, NBModelsError)
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    message = str(err.value)
    assert "No module named 'oldlib_nbm_test'" in message
    assert f"pip install scikit-learn=={OLD_SKLEARN}" in message
    assert "legacy@1.0.0 was saved in a different environment" in message
    assert err.value.report.pip_line == f"pip install scikit-learn=={OLD_SKLEARN}"


def test_load_failure_in_the_same_environment_is_not_blamed_on_it(store, vanishing_module,
                                                                  tmp_path):
    _save_then_lose_module(store, vanishing_module, tmp_path / "gone")
    with pytest.raises(ModuleNotFoundError, match="oldlib_nbm_test"):
        store.load("legacy")


# -- a real model saved with an older scikit-learn -------------------------------------------

def _cache_dir() -> Path:
    root = os.environ.get("NBMODELS_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nbmodels-tests")
    return Path(root)


def _old_sklearn_python() -> Path:
    """A virtual environment with scikit-learn OLD_SKLEARN and the few packages the
    nbmodels core imports, made once and reused (under a lock) from the cache folder."""
    from filelock import FileLock

    venv = _cache_dir() / f"sklearn-{OLD_SKLEARN}-py{sys.version_info[0]}{sys.version_info[1]}"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv) + ".lock"):
        if ready.exists():
            return python
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", f"scikit-learn=={OLD_SKLEARN}",
                        "semver", "filelock", "fsspec", "cloudpickle"], check=True)
        ready.write_text(OLD_SKLEARN)
    return python


_OLD_SAVE = """
import json, sys
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from nbmodels import ModelStore
import sklearn
assert sklearn.__version__ == sys.argv[3], sklearn.__version__
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(X, y)
ModelStore(sys.argv[1]).save(model, "hgb")
json.dump({"X": X.tolist(), "pred": model.predict(X).tolist()}, open(sys.argv[2], "w"))
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_histgradientboosting_saved_with_an_older_sklearn(tmp_path):
    python = _old_sklearn_python()
    root, out = tmp_path / "models", tmp_path / "saved.json"
    env = {k: v for k, v in os.environ.items() if k != "NBMODELS_HOME"}
    env["PYTHONPATH"] = str(REPO)  # the old environment gets nbmodels from this checkout
    subprocess.run([str(python), "-c", _OLD_SAVE, str(root), str(out), OLD_SKLEARN],
                   check=True, env=env, cwd=tmp_path)
    saved = json.loads(out.read_text())
    store = ModelStore(root)
    assert store.record("hgb")["environment"]["packages"]["scikit-learn"] == OLD_SKLEARN
    pip = f"pip install scikit-learn=={OLD_SKLEARN}"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = store.load("hgb")
    except EnvironmentMismatchError as err:  # what scikit-learn 1.9 does with 1.5's pickle
        assert pip in str(err) and err.__cause__ is not None
        assert f"scikit-learn  {OLD_SKLEARN}  {sklearn.__version__}" in str(err)
        return
    # It loaded: with the report, and predicting as it did.
    (report,) = [w.message.report for w in caught if w.category is EnvironmentWarning]
    assert report.pip_line and pip in report.pip_line
    assert np.array_equal(model.predict(np.asarray(saved["X"])), saved["pred"])
