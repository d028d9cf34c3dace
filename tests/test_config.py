"""One store per project: how the default store is found, and that a kernel in a
subfolder, the CLI in the project root and a real Jupyter server all find the same one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser_support import API, NBMODELS_EXTENSION, start_jupyter
from nbm_helpers import kernel_output

from nbmodels import ModelStore
from nbmodels.config import is_store, resolve_store_root
from nbmodels.errors import NBModelsError


@pytest.fixture
def no_home(monkeypatch):
    monkeypatch.delenv("NBMODELS_HOME", raising=False)


def _make_store(folder: Path) -> Path:
    """A real store with one saved model at ``folder``."""
    ModelStore(folder).save({"weights": [1, 2, 3]}, "seed_model")
    return folder


def _git_init(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True, capture_output=True)


def test_nbmodels_home_wins(tmp_path, monkeypatch):
    _make_store(tmp_path / "proj" / "models")
    monkeypatch.setenv("NBMODELS_HOME", str(tmp_path / "elsewhere"))
    assert resolve_store_root(tmp_path / "proj") == (tmp_path / "elsewhere",
                                                     "from $NBMODELS_HOME")


def test_a_store_upward_is_found_from_a_subfolder(tmp_path, no_home):
    project = tmp_path / "proj"
    _git_init(project)
    _make_store(project / "models")
    sub = project / "notebooks" / "sub"
    sub.mkdir(parents=True)
    root, why = resolve_store_root(sub)
    assert root == project / "models"
    assert why == f"the project's store, found upward from {sub}"
    assert resolve_store_root(project) == (project / "models",
                                           "the project's store, in the working folder")


def test_a_models_folder_that_is_not_a_store_is_passed_over(tmp_path, no_home):
    project = tmp_path / "proj"
    _git_init(project)
    _make_store(project / "models")
    (project / "notebooks" / "models" / "random").mkdir(parents=True)  # not laid out as one
    assert not is_store(project / "notebooks" / "models")
    assert resolve_store_root(project / "notebooks")[0] == project / "models"


def test_pyproject_table_names_the_store_relative_to_itself(tmp_path, no_home):
    project = tmp_path / "proj"
    _git_init(project)
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.nbmodels]\n'
                                            'store = "artifacts/models"\n')
    _make_store(project / "models")  # the table is explicit: it wins in the same folder
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    root, why = resolve_store_root(sub)
    assert root == project / "artifacts" / "models"
    assert why == f"[tool.nbmodels] store in {project / 'pyproject.toml'}"
    # A pyproject.toml without the table is not a marker: the walk goes on.
    (sub / "pyproject.toml").write_text('[project]\nname = "sub"\n')
    assert resolve_store_root(sub)[0] == project / "artifacts" / "models"


def test_an_empty_table_means_models_beside_it(tmp_path, no_home):
    (tmp_path / "pyproject.toml").write_text("[tool.nbmodels]\n")
    assert resolve_store_root(tmp_path / "a")[0] == tmp_path / "models"


@pytest.mark.parametrize("text, words", [
    ("[tool.nbmodels\nstore = 1", "cannot read"),
    ("[tool.nbmodels]\nstore = 3\n", "must be a folder path as a string"),
])
def test_a_broken_table_says_which_file(tmp_path, no_home, text, words):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(NBModelsError, match=words) as err:
        resolve_store_root(tmp_path)
    assert str(tmp_path / "pyproject.toml") in str(err.value)


def test_the_look_stops_at_the_repository_root(tmp_path, no_home):
    _make_store(tmp_path / "models")  # a store outside the repository
    repo = tmp_path / "repo"
    _git_init(repo)
    (repo / "x").mkdir()
    root, why = resolve_store_root(repo / "x")
    assert root == repo / "x" / "models"
    assert why == f"default ./models: no store found from {repo / 'x'} upward"


def test_model_store_without_a_root_uses_the_resolution(tmp_path, no_home, monkeypatch):
    project = tmp_path / "proj"
    _git_init(project)
    _make_store(project / "models")
    (project / "nb").mkdir()
    monkeypatch.chdir(project / "nb")
    store = ModelStore()
    assert store.root == project / "models"
    assert store.root_reason.startswith("the project's store, found upward")
    assert store.names() == ["seed_model"]
    assert ModelStore(tmp_path / "given").root_reason == "given"


# -- the three faces agree --------------------------------------------------------------

def _kernel_output(client, code: str) -> str:
    return kernel_output(client, code, timeout=90)


def test_kernel_in_a_subfolder_cli_and_server_find_the_same_store(tmp_path, no_home):
    from jupyter_client.manager import start_new_kernel

    project = tmp_path / "proj"
    _git_init(project)
    store_root = _make_store(project / "models")
    sub = project / "notebooks" / "sub"
    sub.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "NBMODELS_HOME"}

    # A kernel started in notebooks/sub/ writes into the project's store, not sub/models.
    km, kc = start_new_kernel(cwd=str(sub), env=env, startup_timeout=90)
    try:
        kc.execute_interactive("%load_ext nbmodels", timeout=90)
        where = _kernel_output(kc, "%nbmodels_store  # which store?")
        assert where == (f"nbmodels store: {store_root} (the project's store, found upward "
                         f"from {sub}; 1 model)")
        saved = _kernel_output(kc, "from sklearn.linear_model import LinearRegression\n"
                                   "reg = LinearRegression().fit([[0], [1]], [0, 1])\n"
                                   "%save_model reg --name from_kernel")
        assert "Saved from_kernel@1.0.0" in saved, saved
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not (sub / "models").exists()

    # The CLI in the project root.
    cli = subprocess.run([sys.executable, "-m", "nbmodels.cli", "store", "--json"], cwd=project,
                         env=env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == {"root": str(store_root), "exists": True, "models": 2,
                                      "reason": "the project's store, in the working folder"}
    listed = subprocess.run([sys.executable, "-m", "nbmodels.cli", "list", "--json"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert [m["name"] for m in json.loads(listed.stdout)] == ["from_kernel", "seed_model"]

    # A real Jupyter server started in the project root, and one started in the subfolder
    # (its root_dir): both serve the project's store and their log says why.
    for cwd, why in ((project, "in the working folder"), (sub, f"found upward from {sub}")):
        with start_jupyter(tmp_path / f"server-{cwd.name}", root_dir=cwd,
                           unset=("NBMODELS_HOME",), extra_args=[NBMODELS_EXTENSION],
                           ready_path=f"{API}/store") as server:
            status, data = server.json("GET", "/store")
            assert status == 200
            assert data["root"] == str(store_root) and data["models"] == 2
        assert (f"nbmodels: serving the model store at {store_root} (the project's store, "
                f"{why})") in server.log.read_text(errors="replace")
