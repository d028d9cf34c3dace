"""The ``nbmodels`` command, run as a real subprocess against a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbmodels import ModelStore
from nbmodels.errors import UntrustedArtifactError


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbmodels.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, env=os.environ.copy())


@pytest.fixture
def filled(store, forest, iris):
    X, y = iris
    store.save(forest, "iris_rf", X=X, y=y, metrics={"accuracy": 0.95})
    store.save(forest, "iris_rf", version="1.10.0", description="second", force_new=True)
    store.save(forest, "other", tags=["x"])
    store.set_alias("iris_rf", "production", "1.0.0")
    return store


def test_list_human_and_json(filled):
    out = run("--store", str(filled.root), "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["name", "latest", "aliases", "created", "size", "metrics"]
    assert "iris_rf" in lines[1] and "1.10.0" in lines[1] and "production=1.0.0" in lines[1]
    data = json.loads(run("list", "--store", str(filled.root), "--json").stdout)
    assert [m["name"] for m in data] == ["iris_rf", "other"]
    assert data[0]["latest"] == "1.10.0"
    assert data[0]["aliases"] == {"production": "1.0.0"}


def test_show_versions_and_alias(filled):
    root = str(filled.root)
    shown = json.loads(run("show", "iris_rf@production", "--store", root, "--json").stdout)
    assert shown["version"] == "1.0.0" and shown["aliases"] == ["production"]
    assert shown["metrics"] == {"accuracy": 0.95}
    text = run("show", "iris_rf", "--store", root).stdout
    assert text.startswith("# iris_rf 1.10.0") and "second" in text
    assert run("versions", "iris_rf", "--store", root).stdout.split() == \
        ["1.0.0", "(production)", "1.10.0"]
    moved = run("alias", "iris_rf", "production", "1.10.0", "--store", root)
    assert moved.returncode == 0 and "1.10.0" in moved.stdout
    assert filled.aliases("iris_rf") == {"production": "1.10.0"}
    assert run("alias", "iris_rf", "production", "--remove", "--store", root).returncode == 0
    assert filled.aliases("iris_rf") == {}


def test_exit_codes(filled):
    root = str(filled.root)
    missing = run("show", "iris_fr", "--store", root)
    assert missing.returncode == 3
    assert "did you mean iris_rf" in missing.stderr and "Traceback" not in missing.stderr
    assert run("show", "iris_rf@9.9.9", "--store", root).returncode == 3
    bad = run("show", "../etc", "--store", root)
    assert bad.returncode == 2 and "allowed" in bad.stderr
    assert run("delete", "iris_rf", "--store", root).returncode == 2  # no @VERSION
    assert run("frobnicate").returncode == 2
    refused = run("delete", "iris_rf@1.0.0", "--store", root)  # aliased
    assert refused.returncode == 1 and "production" in refused.stderr
    assert "--force" in refused.stderr  # the flag this command takes, not the keyword
    assert filled.versions("iris_rf") == ["1.0.0", "1.10.0"]
    assert run("delete", "iris_rf@1.0.0", "--force", "--store", root).returncode == 0
    assert filled.versions("iris_rf") == ["1.10.0"]


def test_a_store_that_is_a_file_is_one_line_not_a_traceback(tmp_path):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("notes\n")
    for args in (["list"], ["show", "x"], ["alias", "x", "prod", "1.0.0"], ["rebuild-index"]):
        out = run(*args, "--store", str(not_a_folder))
        assert out.returncode == 1, (args, out.stderr)
        assert "is a file, not a folder" in out.stderr and "Traceback" not in out.stderr
    assert not_a_folder.read_text() == "notes\n"


def test_enable_magics_refuses_a_profile_name_that_is_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    for profile in ("../../escape", "a/b", ".."):
        out = run("enable-magics", "--profile", profile)
        assert out.returncode == 2, out.stderr
        assert "not a plain profile name" in out.stderr and "Traceback" not in out.stderr
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_verify_gc_and_integrity_exit_codes(filled):
    root = str(filled.root)
    assert run("verify", "--store", root).returncode == 0
    artifact = filled.root / "trained" / "other_v1.0.0" / "model.joblib"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    report = run("verify", "--store", root, "--json")
    assert report.returncode == 1
    problems = json.loads(report.stdout)["problems"]
    assert [(p["kind"], p["name"]) for p in problems] == [("corrupt", "other")]
    # A shallow verify checks sizes only: the flipped byte keeps the size.
    assert run("verify", "--shallow", "--store", root).returncode == 0
    load = subprocess.run([sys.executable, "-c", "import nbmodels,sys; "
                           f"nbmodels.ModelStore({root!r}).load('other')"],
                          capture_output=True, text=True, timeout=60)
    assert load.returncode != 0 and "IntegrityError" in load.stderr
    leftover = filled.root / "trained" / ".tmp-other_v9.0.0-0123456789ab"
    leftover.mkdir()
    (leftover / "model.joblib").write_bytes(b"x" * 1000)
    dry = json.loads(run("gc", "--dry-run", "--json", "--store", root).stdout)
    assert dry["bytes_reclaimed"] == 1000 and leftover.exists()
    done = json.loads(run("gc", "--json", "--store", root).stdout)
    assert done["removed"] == [{"path": "trained/.tmp-other_v9.0.0-0123456789ab",
                                "bytes": 1000}]
    assert not leftover.exists()


def test_rebuild_index_adopts_hand_made_folder(tmp_path):
    import joblib
    from sklearn.linear_model import LinearRegression

    root = tmp_path / "hand"
    folder = root / "trained" / "prices_v1.0.0"
    folder.mkdir(parents=True)
    joblib.dump(LinearRegression().fit([[0], [1]], [0, 1]), folder / "model.joblib")
    out = run("rebuild-index", "--store", str(root), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["adopted"] == ["prices@1.0.0"]
    with pytest.raises(UntrustedArtifactError):
        ModelStore(root).load("prices")
    trusted = run("trust", "prices@1.0.0", "--store", str(root))
    assert trusted.returncode == 0, trusted.stderr
    assert ModelStore(root).load("prices").predict([[2]])[0] == pytest.approx(2)


def test_default_store_is_nbmodels_home(_isolated_home, forest):
    ModelStore().save(forest, "from_home")
    out = run("list", "--json")
    assert [m["name"] for m in json.loads(out.stdout)] == ["from_home"]
    assert (_isolated_home / "metadata" / "from_home_v1.0.0" / "metadata.json").exists()


def test_quickstart_trains_saves_loads_lists(tmp_path):
    root = tmp_path / "qs"
    out = run("quickstart", "--store", str(root))
    assert out.returncode == 0, out.stderr
    assert "predictions identical: True" in out.stdout
    assert "no problems" in out.stdout
    store = ModelStore(root)
    assert store.aliases("quickstart_rf") == {"production": store.latest("quickstart_rf")}
    assert store.load("quickstart_rf@production").predict_proba is not None
    data = json.loads(run("quickstart", "--store", str(root), "--json").stdout)
    assert data["predictions_identical"] and data["verify_ok"]


# -- messages in the CLI's words ---------------------------------------------------------

@pytest.mark.parametrize("typo, suggestion", [("lst", "list"), ("verfy", "verify"),
                                              ("evalute", "evaluate"), ("alais", "alias")])
def test_a_mistyped_command_suggests_the_closest(tmp_path, typo, suggestion):
    out = run("--store", str(tmp_path), typo, "x")
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (f"nbmodels: error: unknown command {typo!r}; "
                                           f"did you mean {suggestion!r}?")


def test_every_command_has_a_one_line_help():
    out = run("--help")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    start = lines.index("  COMMAND") + 1
    listed = {}
    for line in lines[start:lines.index("options:")]:
        words = line.split(None, 1)
        if line.startswith("    ") and not line.startswith("      "):
            command = words[0]
            listed[command] = words[1] if len(words) > 1 else ""
        elif words:
            listed[command] += (" " if listed[command] else "") + " ".join(words)
    assert sorted(listed) == sorted([
        "list", "show", "versions", "store", "verify", "gc", "alias", "delete", "evaluate",
        "compare", "edit", "rebuild-index", "enable-magics", "disable-magics", "quickstart",
        "export", "import", "backup", "push", "pull", "prune", "du", "trust", "cache"])
    assert all(len(text) > 20 for text in listed.values()), listed
    show = " ".join(run("show", "--help").stdout.split())
    assert "NAME[@VERSION|ALIAS]" in show and "NAME@production an alias" in show


def test_list_and_verify_on_a_folder_that_is_not_a_store(tmp_path):
    empty = tmp_path / "notes"
    (empty / "drafts").mkdir(parents=True)
    for folder, why in ((empty, "is not a store (it has no metadata/, registry/ or "
                                "trained/ folder)"),
                        (tmp_path / "missing", "does not exist")):
        for command in ("list", "verify"):
            out = run(command, "--store", str(folder))
            assert out.returncode == 3, out.stderr
            assert out.stderr == f"nbmodels {command}: {folder} {why}; save a model first, " \
                                 f"or point --store (or $NBMODELS_HOME) at your store\n"
    assert not (tmp_path / "missing").exists() and sorted(empty.iterdir()) == [empty / "drafts"]


def test_plurals_are_right(store, forest):
    store.save(forest, "one")
    out = run("verify", "--store", str(store.root))
    assert f"verify {store.root}: 1 version, 1 file checked, no problems" in out.stdout
    assert "1 model," in run("rebuild-index", "--store", str(store.root)).stdout
    assert "holds: 1 model" in run("store", "--store", str(store.root)).stdout


def test_store_says_which_and_why(tmp_path, _isolated_home, monkeypatch):
    out = run("store", "--json")
    assert json.loads(out.stdout) == {"root": str(_isolated_home), "reason": "from $NBMODELS_HOME",
                                      "exists": False, "models": 0}
    given = json.loads(run("store", "--store", str(tmp_path / "x"), "--json").stdout)
    assert given["reason"] == "from --store" and given["root"] == str(tmp_path / "x")
    human = run("store").stdout
    assert human == (f"{_isolated_home}\n  why: from $NBMODELS_HOME\n  holds: not created yet: "
                     f"the first save creates it\n")


def test_quickstart_in_a_fresh_folder_uses_models_there(tmp_path, monkeypatch):
    monkeypatch.delenv("NBMODELS_HOME")
    project = tmp_path / "fresh"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)  # bounds the look upward
    out = run("quickstart", cwd=project)
    assert out.returncode == 0, out.stderr
    assert f"Store: {project / 'models'}" in out.stdout
    assert ModelStore(project / "models").versions("quickstart_rf") == ["1.0.0", "1.1.0"]


def test_every_error_class_has_one_row_in_the_table():
    import nbmodels.errors as errors
    from nbmodels.evaluation import EvaluationError

    classes = [getattr(errors, n) for n in errors.__all__
               if isinstance(getattr(errors, n), type)
               and issubclass(getattr(errors, n), errors.NBModelsError)]
    rows = [cls for cls, _ in errors.ERROR_KINDS]
    assert set(classes) <= set(rows) and len(rows) == len(set(rows))
    kind = errors.error_kind
    assert kind(errors.ModelNotFoundError("x")).exit_code == 3
    assert kind(errors.ModelNotFoundError("x")).http_status == 404
    assert kind(errors.IntegrityError("x")).exit_code == 4
    assert kind(EvaluationError("x")).exit_code == 2  # bad input, as its ValueError base says
    assert kind(errors.NBModelsError("x")).http_status == 409
    exists = errors.VersionExistsError("a@1.0.0 exists: pass overwrite=True to replace it")
    assert exists.message("cli") == "a@1.0.0 exists: pass --force to replace it"
    assert exists.message("magic") == "a@1.0.0 exists: pass --overwrite to replace it"
    assert exists.message() == str(exists)
    words = errors.NBModelsError("version= without name=; model_name= is other",
                                 options=("version", "name"))
    assert words.message("magic") == "--version without --name; model_name= is other"
    with pytest.raises(KeyError):
        errors.NBModelsError("x", options=("no_such_option",))
