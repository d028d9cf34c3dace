"""Lineage: the training data's fingerprint and schema, the notebook cell, the git state."""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nbmodels import ModelStore
from nbmodels.errors import NBModelsError
from nbmodels.record.lineage import fingerprint, git_state


@pytest.fixture(scope="module")
def matrix():
    return np.random.default_rng(0).normal(size=(1000, 6))


def test_fingerprint_ignores_memory_layout(matrix):
    C = np.ascontiguousarray(matrix)
    F = np.asfortranarray(matrix)
    strided = np.hstack([matrix, matrix])[:, :6]  # a non-contiguous view
    big_endian = matrix.astype(">f8")
    expected = fingerprint(C)
    assert len(expected) == 64
    for same in (F, strided, big_endian, matrix.copy(), pd.DataFrame(C), pd.DataFrame(F)):
        assert fingerprint(same) == expected
    # Named columns are part of the data's schema.
    named = pd.DataFrame(F, columns=list("abcdef"))
    assert fingerprint(named) != expected
    assert fingerprint(named) == fingerprint(pd.DataFrame(C, columns=list("abcdef")))
    assert fingerprint(pd.Series(matrix[:, 0])) == fingerprint(matrix[:, 0])
    assert fingerprint(matrix.tolist()) == expected


def test_fingerprint_changes_with_one_cell(matrix):
    changed = matrix.copy()
    changed[517, 3] = np.nextafter(changed[517, 3], 1)  # the smallest possible change
    assert fingerprint(changed) != fingerprint(matrix)
    assert fingerprint(np.asfortranarray(changed)) == fingerprint(changed)
    swapped = matrix[:, [1, 0, 2, 3, 4, 5]]
    assert fingerprint(swapped) != fingerprint(matrix)
    assert fingerprint(matrix.astype(np.float32)) != fingerprint(matrix)

    df = pd.DataFrame({"n": [1, 2, 3], "s": ["a", "b", "c"],
                       "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    one_string = df.copy()
    one_string.loc[1, "s"] = "B"
    assert fingerprint(df) == fingerprint(df.copy()) != fingerprint(one_string)
    assert fingerprint(df) != fingerprint(df.rename(columns={"n": "m"}))


def test_fingerprint_is_fast_on_100k_by_20():
    X = np.random.default_rng(0).normal(size=(100_000, 20))
    fingerprint(X)  # warm up
    for layout in (X, np.asfortranarray(X), pd.DataFrame(X)):
        started = time.perf_counter()
        fingerprint(layout)
        assert time.perf_counter() - started < 0.25  # ~15 ms: the sha256 of 16 MB


def test_record_lineage_of_the_training_data(store):
    X = pd.DataFrame({"x1": np.arange(40.0), "x2": np.arange(40) % 3})
    y = pd.Series(["a"] * 30 + ["b"] * 10, name="label")
    rec = store.save(LogisticRegression().fit(X, y), "m", X=X, y=y,
                     training_dataset="data/train.parquet")
    data = rec["lineage"]["data"]
    assert data["X"] == {"fingerprint": fingerprint(X), "shape": [40, 2],
                         "columns": ["x1", "x2"],
                         "dtypes": {"x1": "float64", "x2": "int64"}}
    assert data["y"]["fingerprint"] == fingerprint(y)
    assert data["y"]["shape"] == [40] and data["y"]["name"] == "label"
    assert data["class_balance"] == {"a": 30, "b": 10}
    assert data["source"] == "data/train.parquet"
    assert len(data["fingerprint"]) == 64
    # The same data in another layout gives the same record fingerprint.
    again = ModelStore(store.root / "other").save(
        LogisticRegression().fit(X, y), "m", X=X.copy(), y=y.copy())
    assert again["lineage"]["data"]["fingerprint"] == data["fingerprint"]
    assert rec["lineage"]["working_dir"] == os.getcwd()


def test_x_and_y_of_different_lengths_are_refused_before_anything_is_written(store):
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 2
    model = LogisticRegression().fit(X, y)
    with pytest.raises(NBModelsError, match="X has 20 rows but y has 5"):
        store.save(model, "m", X=X, y=y[:5])
    assert store.names() == [] and not (store.root / "trained").exists()
    assert store.save(model, "m", X=X.tolist(), y=list(y)).version == "1.0.0"


def _git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com",
                           *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_git_commit_branch_and_dirty_flag(tmp_path, monkeypatch):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "exp")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    monkeypatch.chdir(repo)
    store = ModelStore(tmp_path / "models")  # outside the repo: saving does not dirty it
    model = LogisticRegression().fit([[0], [1]], [0, 1])

    clean = store.save(model, "m")["lineage"]
    assert clean["git"] == {"commit": _git(repo, "rev-parse", "HEAD"), "branch": "exp",
                            "dirty": False}
    assert clean["working_dir"] == str(repo)

    (repo / "train.py").write_text("print('v2')\n")
    (repo / "untracked.txt").write_text("not counted\n")
    dirty = store.save(model, "m", force_new=True)
    assert dirty["lineage"]["git"]["dirty"] is True
    card = (store.root / f"metadata/m_v{dirty.version}/model_card.md").read_text()
    assert f"- **Git**: exp @ {clean['git']['commit'][:12]} with uncommitted changes" in card

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_state() is None


def _run_cell(kc, code: str) -> dict:
    reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]


def test_notebook_path_and_cell_in_a_real_kernel(tmp_path):
    from jupyter_client.manager import start_new_kernel

    notebook = tmp_path / "analysis" / "churn.ipynb"
    env = {**os.environ, "JPY_SESSION_NAME": str(notebook),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    km, kc = start_new_kernel(env=env, cwd=str(tmp_path))
    try:
        _run_cell(kc, "import numpy as np\n"
                      "from sklearn.linear_model import LogisticRegression\n"
                      "from nbmodels import ModelStore\n"
                      f"store = ModelStore({str(tmp_path / 'models')!r})\n"
                      "X = np.arange(20.0).reshape(10, 2); y = np.arange(10) % 2\n"
                      "model = LogisticRegression().fit(X, y)")
        reply = _run_cell(kc, "rec = store.save(model, 'nb', X=X, y=y)")
        cell = reply["execution_count"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    data = json.loads((tmp_path / "models/metadata/nb_v1.0.0/metadata.json").read_text())
    assert data["lineage"]["notebook"] == str(notebook)
    assert data["lineage"]["execution_count"] == cell > 1
    assert data["lineage"]["shell"] == "ZMQInteractiveShell"
    assert "script" not in data["lineage"]
