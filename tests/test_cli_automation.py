"""``nbmodels evaluate``, ``compare`` and ``alias --require``: the store from a CI job,
as real subprocesses on a real store with real models and real CSV/Parquet files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nbmodels import ModelStore


def run(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nbmodels.cli"]
    if prelude:  # run the same main() after the prelude (e.g. making a library unimportable)
        command = [sys.executable, "-c", f"{prelude}; import sys; from nbmodels.cli import "
                   f"main; sys.exit(main(sys.argv[1:]))"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=180,
                          env=os.environ.copy())


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]  # small and quick, still a real problem
    y = y.map({0: "malignant", 1: "benign"}).rename("diagnosis")
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture
def project(tmp_path, cancer):
    """A store with two versions of a classifier (a good one and a weak one) and the
    test split written as CSV and Parquet."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = cancer
    store = ModelStore(tmp_path / "models")
    good = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
    weak = DummyClassifier(strategy="prior").fit(X_train, y_train)
    store.save(good, "tumour", X=X_train, y=y_train)           # 1.0.0
    store.save(weak, "tumour", X=X_train, y=y_train)           # 2.0.0: another estimator
    frame = X_test.assign(diagnosis=y_test)
    frame.to_csv(tmp_path / "test.csv", index=False)
    frame.to_parquet(tmp_path / "test.parquet")
    return store, tmp_path


def test_evaluate_csv_saves_beside_the_version_and_gates_decide_the_exit_code(project):
    store, folder = project
    root, data = str(store.root), str(folder / "test.csv")
    ok = run("evaluate", "tumour@1.0.0", "--data", data, "--target", "diagnosis",
             "--require", "auc_roc>=0.9", "--store", root)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("EvaluationResult(tumour@1.0.0, binary, n=171")
    assert "auc_roc = " in ok.stdout and ": ok" in ok.stdout
    assert (store.root / "evaluation" / "tumour_v1.0.0" / "metrics.json").is_file()
    assert store.record("tumour", "1.0.0")["metrics"]["auc_roc"] >= 0.9

    failed = run("evaluate", "tumour", "--data", data, "--target", "diagnosis",
                 "--require", "auc_roc>=0.9", "--store", root, "--json")
    assert failed.returncode == 1, failed.stderr
    result = json.loads(failed.stdout)
    assert result["evaluation"]["version"] == "2.0.0"  # NAME alone is the latest
    assert result["gates"]["passed"] is False
    assert result["gates"]["checks"][0]["metric"] == "auc_roc"


def test_evaluate_parquet_and_a_dataset_label(project):
    store, folder = project
    out = run("evaluate", "tumour@1.0.0", "--data", str(folder / "test.parquet"), "--target",
              "diagnosis", "--dataset", "holdout", "--store", str(store.root), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["evaluation"]["dataset"] == "holdout"
    assert (store.root / "evaluation" / "tumour_v1.0.0" / "holdout" / "metrics.json").is_file()


def test_parquet_without_pyarrow_names_the_extra(project):
    store, folder = project
    out = run("evaluate", "tumour", "--data", str(folder / "test.parquet"), "--target",
              "diagnosis", "--store", str(store.root),
              prelude="import sys; sys.modules['pyarrow'] = None")  # as if not installed
    assert out.returncode == 1
    assert "pip install nbmodels[parquet]" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args, code, words", [
    (["--target", "diagnosys"], 2, "did you mean 'diagnosis'?"),
    (["--target", "diagnosis", "--data", "nowhere.csv"], 2, "no such file"),
    (["--target", "diagnosis", "--data", "test.xlsx"], 2, "give a .csv or .parquet file"),
    (["--target", "diagnosis", "--require", "auc_roc>>0.9"], 2, "cannot read the requirement"),
])
def test_evaluate_bad_input_is_one_line(project, args, code, words):
    store, folder = project
    argv = ["evaluate", "tumour", "--data", str(folder / "test.csv"), *args]
    argv = [str(folder / a) if a in ("nowhere.csv", "test.xlsx") else a for a in argv]
    if "test.xlsx" in args:
        (folder / "test.xlsx").write_bytes(b"")
    out = run(*argv, "--store", str(store.root))
    assert out.returncode == code, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr
    assert not (store.root / "evaluation").exists()  # nothing written


def test_evaluate_pos_label(project):
    import inspect

    from nbmodels.evaluation import evaluate

    store, folder = project
    out = run("evaluate", "tumour@1.0.0", "--data", str(folder / "test.csv"), "--target",
              "diagnosis", "--pos-label", "malignant", "--no-save", "--store", str(store.root),
              "--json")
    if "pos_label" not in inspect.signature(evaluate).parameters:
        assert out.returncode == 2 and "--pos-label needs a newer" in out.stderr
        return  # the evaluation core without pos_label= (before it lands)
    assert out.returncode == 0, out.stderr
    default = json.loads(out.stdout)
    assert default["evaluation"]["pos_label"] == "malignant"
    assert not (store.root / "evaluation").exists()
    strict = run("evaluate", "tumour@1.0.0", "--data", str(folder / "test.csv"), "--target",
                 "diagnosis", "--pos-label", "malignant", "--threshold", "0.99", "--no-save",
                 "--store", str(store.root), "--json")
    assert strict.returncode == 0, strict.stderr
    # A stricter threshold on the malignant score finds fewer malignant cases.
    assert json.loads(strict.stdout)["recall"] < default["recall"]


def test_compare_versions(project):
    store, folder = project
    for version in ("1.0.0", "2.0.0"):
        assert run("evaluate", f"tumour@{version}", "--data", str(folder / "test.csv"),
                   "--target", "diagnosis", "--store", str(store.root)).returncode == 0
    human = run("compare", "tumour", "--store", str(store.root))
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith("Comparison(tumour@1.0.0, tumour@2.0.0)")
    data = json.loads(run("compare", "tumour@1.0.0", "tumour@2.0.0", "--json", "--store",
                          str(store.root)).stdout)
    assert data["refs"] == ["tumour@1.0.0", "tumour@2.0.0"]
    auc = data["metrics"]["auc_roc"]
    assert auc["tumour@1.0.0"] > 0.9 and auc["tumour@2.0.0"] == pytest.approx(0.5)
    assert data["best"]["auc_roc"] == "tumour@1.0.0"
    missing = run("compare", "tumour@7.0.0", "--store", str(store.root))
    assert missing.returncode == 3 and "has no version 7.0.0" in missing.stderr


def test_alias_require_promotes_only_a_version_whose_evaluation_passes(project):
    store, folder = project
    root = str(store.root)
    never = run("alias", "tumour", "production", "1.0.0", "--require", "auc_roc>=0.85",
                "--store", root)
    assert never.returncode == 1
    assert ("has no saved evaluation to check the gate against; evaluate it first: nbmodels "
            "evaluate NAME@VERSION --data FILE --target COLUMN") in never.stderr
    for version in ("1.0.0", "2.0.0"):
        run("evaluate", f"tumour@{version}", "--data", str(folder / "test.csv"), "--target",
            "diagnosis", "--store", root)

    refused = run("alias", "tumour", "production", "2.0.0", "--require", "auc_roc>=0.85",
                  "--store", root, "--json")
    assert refused.returncode == 1
    assert "tumour@2.0.0 was not promoted to 'production': auc_roc = 0.5 (required " \
           ">=0.85): FAILED" in refused.stderr
    assert json.loads(refused.stdout)["gates"][0]["passed"] is False
    assert store.aliases("tumour") == {}

    promoted = run("alias", "tumour", "production", "1.0.0", "--require", "auc_roc>=0.85",
                   "--store", root)
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("tumour@production -> 1.0.0\n  auc_roc = ")
    assert store.aliases("tumour") == {"production": "1.0.0"}

    per_class = run("alias", "tumour", "staging", "1.0.0", "--require",
                    "per_class.malignant.recall>=0.8", "--store", root)
    assert per_class.returncode == 0, per_class.stderr
    assert "per_class.malignant.recall = " in per_class.stdout
    no_holdout = run("alias", "tumour", "staging", "1.0.0", "--require", "auc_roc>=0.8",
                     "--dataset", "holdout", "--store", root)
    assert no_holdout.returncode == 1
    assert "has no saved evaluation on 'holdout'" in no_holdout.stderr

    unknown = run("alias", "tumour", "canary", "1.0.0", "--require", "aucroc>=0.8",
                  "--store", root)
    assert unknown.returncode == 2 and "not compute" in unknown.stderr
    assert store.aliases("tumour") == {"production": "1.0.0", "staging": "1.0.0"}
