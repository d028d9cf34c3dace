"""The magics in a real IPython shell on a real temp store, and in a real kernel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from nbm_helpers import kernel_output

from nbmodels import ModelStore


@pytest.fixture
def ip(tmp_path):
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbmodels")
    shell.run_line_magic("config", f"ModelMagics.store_dir = {str(tmp_path / 'models')!r}")
    shell.run_cell("from sklearn.datasets import load_iris\n"
                   "from sklearn.linear_model import LogisticRegression\n"
                   "X, y = load_iris(return_X_y=True, as_frame=True)\n"
                   "clf = LogisticRegression(max_iter=1000).fit(X, y)\n")
    yield shell
    shell.run_line_magic("unload_ext", "nbmodels")
    shell.run_line_magic("config", "ModelMagics.store_dir = ''")
    shell.reset()


def magic(shell, line):
    name, _, rest = line.partition(" ")
    return shell.run_line_magic(name, rest)


def test_save_model_names_from_variable_and_records_data(ip, tmp_path):
    saved = magic(ip, "save_model clf --data X --target y --tags iris,demo "
                      "--description 'first try' --dataset-path data/iris.csv")
    assert repr(saved).startswith("Saved clf@1.0.0 (first version; joblib,")
    assert "trained/clf_v1.0.0/model.joblib" in repr(saved)
    assert "first version" in saved._repr_html_()
    rec = ModelStore(tmp_path / "models").record("clf")
    assert rec["features"] == list(ip.user_ns["X"].columns)
    assert rec["target"] == "target"
    assert rec["tags"] == ["iris", "demo"] and rec["description"] == "first try"
    assert rec["training_dataset"] == "data/iris.csv"
    again = magic(ip, "save_model clf --name iris_lr --version 2.0.0-rc.1")
    assert again.version == "2.0.0-rc.1" and again.name == "iris_lr"
    ip.run_cell("clf2 = LogisticRegression(C=0.5, max_iter=1000).fit(X, y)")
    bumped = magic(ip, "save_model clf2 --name iris_lr --bump patch --description other")
    assert bumped.version == "2.0.0"  # a pre-release is followed by its release


def test_rerunning_a_save_cell_shows_the_same_version(ip, tmp_path):
    first = magic(ip, "save_model clf --data X --target y")
    second = magic(ip, "save_model clf --data X --target y")
    assert second.version == first.version
    assert ModelStore(tmp_path / "models").versions("clf") == [first.version]


def test_load_model_returns_and_binds(ip):
    magic(ip, "save_model clf --name iris_lr")
    magic(ip, "save_model clf --name iris_lr --bump major --description v2 --force-new")
    ip.run_cell("m = %load_model iris_lr@1.0.0")
    assert type(ip.user_ns["m"]).__name__ == "LogisticRegression"
    model = magic(ip, "load_model iris_lr --as best")
    assert ip.user_ns["best"] is model
    from nbmodels import provenance

    assert provenance(model)[1:] == ("iris_lr", "2.0.0")
    magic(ip, "model_alias iris_lr production 1.0.0")
    assert provenance(magic(ip, "load_model iris_lr@production"))[2] == "1.0.0"


def test_models_info_and_store(ip, tmp_path):
    magic(ip, "save_model clf --name iris_lr")
    magic(ip, "save_model clf --name churn_lr")
    table = magic(ip, "models iris*")
    assert [m["name"] for m in table] == ["iris_lr"]
    assert "iris_lr" in repr(table) and "<table" in table._repr_html_()
    assert len(magic(ip, "models")) == 2
    magic(ip, "model_alias iris_lr production 1.0.0")
    info = magic(ip, "model_info iris_lr@1.0.0")
    assert repr(info).startswith("ModelInfo(ModelRecord(iris_lr@1.0.0, joblib,")
    assert repr(info).endswith(", aliases: production)")
    assert str(info).startswith("# iris_lr 1.0.0") and "Aliases: production" in str(info)
    assert "iris_lr" in info._repr_html_()
    where = magic(ip, "nbmodels_store")
    assert repr(where) == (f"nbmodels store: {tmp_path / 'models'} (from %config "
                           f"ModelMagics.store_dir; 2 models)")


@pytest.mark.parametrize("line, message", [
    ("save_model clff", "no model variable named 'clff' in the notebook; did you mean clf?"),
    ("save_model clf --name ../evil", "contains a path separator"),
    ("save_model clf --version 1.0", "is not a semantic version"),
    ("save_model clf --version 1.0.0 --bump minor", "either --version or --bump"),
    ("save_model clf --bump huge", "invalid choice: 'huge'"),
    ("save_model clf --no-such-flag", "unrecognized arguments: --no-such-flag"),
    ("load_model nothere", "no model named 'nothere'"),
    ("load_model iris_lr@9.9.9", "has no version 9.9.9"),
    ("load_model iris_lr@staging", "neither a version nor an alias"),
    ("load_model iris_lr --as 1x", "--as needs a Python variable name"),
    ("load_model iris_rl", "did you mean iris_lr?"),
    ("model_info iris_lr@bad..version", "neither a version nor an alias"),
    ("model_alias iris_lr production 7.0.0", "has no version 7.0.0"),
    ("model_alias iris_lr 1.2.3 1.0.0", "would be read as a version"),
    ("nbmodels_store extra", "takes no arguments"),
])
def test_user_errors_are_one_line_and_change_nothing(ip, tmp_path, line, message):
    magic(ip, "save_model clf --name iris_lr")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")
                    if "locks" not in p.parts and "index" not in p.parts)
    with pytest.raises(UsageError, match=None) as err:
        magic(ip, line)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")
                   if "locks" not in p.parts and "index" not in p.parts)
    assert after == before


def test_errors_print_without_traceback(ip, capsys):
    ip.run_cell("%load_model nothere")
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "UsageError: no model named 'nothere'" in out
    assert "Traceback" not in out


def test_a_store_dir_that_is_a_file_is_a_usage_error(ip, tmp_path):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("notes\n")
    ip.run_line_magic("config", f"ModelMagics.store_dir = {str(not_a_folder)!r}")
    for line in ("models", "save_model clf", "load_model clf", "nbmodels_store"):
        with pytest.raises(UsageError, match="is a file, not a folder"):
            magic(ip, line)
    assert not_a_folder.read_text() == "notes\n"


def test_help_is_real(ip, capsys):
    ip.run_cell("%save_model?")
    # The pager prints the docstring with the argparse usage built by magic_arguments.
    out = capsys.readouterr().out
    assert "--data X_VAR" in out and "--bump {major,minor,patch}" in out


def test_tab_completion(ip):
    magic(ip, "save_model clf --name iris_lr")
    magic(ip, "save_model clf --name iris_lr --bump major --description two --force-new")
    magic(ip, "model_alias iris_lr production 1.0.0")

    def complete(line):
        from IPython.core.completer import provisionalcompleter

        with provisionalcompleter():
            return [c.text for c in ip.Completer.completions(line, len(line))]

    assert "iris_lr" in complete("%load_model ir")
    assert {"2.0.0", "1.0.0", "production", "latest"} <= set(complete("%load_model iris_lr@"))
    after_pro = complete("%model_info iris_lr@pro")
    assert "production" in after_pro and not {"1.0.0", "2.0.0", "latest"} & set(after_pro)
    assert "iris_lr" in complete("%compare_models iris_lr@1.0.0 ir")


def test_unload_really_removes(ip):
    line = ip.magics_manager.magics["line"]
    assert "save_model" in line
    ip.run_line_magic("unload_ext", "nbmodels")
    assert not {"save_model", "load_model", "models", "evaluate"} & set(line)
    assert not any(type(c).__name__ == "ModelMagics" for c in ip.configurables)
    ip.run_line_magic("load_ext", "nbmodels")
    assert "save_model" in line


def test_load_ext_is_light():
    code = ("import sys; from IPython.core.interactiveshell import InteractiveShell; "
            "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'nbmodels'); "
            "print(','.join(m for m in ('sklearn', 'matplotlib', 'pandas', 'joblib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == ""


def _kernel_run(client, code: str) -> str:
    return kernel_output(client, code, timeout=60)


def test_enable_magics_then_a_fresh_kernel_has_them(tmp_path, monkeypatch):
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    profile = tmp_path / "ipython" / "profile_default" / "ipython_config.py"
    profile.parent.mkdir(parents=True)
    profile.write_text("c.InteractiveShell.colors = 'nocolor'\n")
    cli = [sys.executable, "-m", "nbmodels.cli"]
    out = subprocess.run([*cli, "enable-magics"], capture_output=True, text=True, check=True)
    assert "now on" in out.stdout
    assert profile.read_text().startswith("c.InteractiveShell.colors = 'nocolor'\n")
    store = tmp_path / "kernel_models"
    km, kc = start_new_kernel(env={**os.environ, "NBMODELS_HOME": str(store)})
    try:
        kc.execute_interactive("from sklearn.linear_model import LinearRegression\n"
                               "reg = LinearRegression().fit([[0], [1], [2]], [0, 1, 2])",
                               timeout=60)
        assert "Saved reg@1.0.0" in _kernel_run(kc, "%save_model reg")
        assert "reg" in _kernel_run(kc, "%models")
        predicted = _kernel_run(kc, "m = %load_model reg\n"
                                    "print(round(float(m.predict([[2]])[0]), 3))")
        assert "2.0" in predicted
        assert "UsageError: no model named 'nope'" in _kernel_run(kc, "%load_model nope")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert ModelStore(store).versions("reg") == ["1.0.0"]
    subprocess.run([*cli, "disable-magics"], check=True, capture_output=True)
    assert profile.read_text() == "c.InteractiveShell.colors = 'nocolor'\n"


def test_evaluate_a_loaded_model_knows_its_version(ip, tmp_path):
    ip.run_cell("from sklearn.model_selection import train_test_split\n"
                "X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0, stratify=y)\n"
                "clf = LogisticRegression(max_iter=1000).fit(X_tr, y_tr)\n")
    magic(ip, "save_model clf --name iris_lr --data X_tr --target y_tr")
    ip.run_cell("m = %load_model iris_lr")
    result = magic(ip, 'evaluate m X_te y_te --require "accuracy>=0.8"')
    assert repr(result).startswith("EvaluationResult(iris_lr@1.0.0, multiclass, n=38,")
    assert result.passed is True
    folder = tmp_path / "models" / "evaluation" / "iris_lr_v1.0.0"
    assert {"metrics.json", "confusion_matrix.png", "report.html"} <= {
        p.name for p in folder.iterdir()}
    record = ModelStore(tmp_path / "models").record("iris_lr")
    assert record["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])
    failed = magic(ip, 'evaluate m X_te y_te --dataset strict --require "accuracy>=1.01"')
    assert failed.passed is False
    assert (folder / "strict" / "metrics.json").exists()


def test_evaluate_no_save_and_errors(ip, tmp_path):
    result = magic(ip, "evaluate clf X y --no-save")
    assert result.metrics["accuracy"] > 0.9
    assert not (tmp_path / "models").exists()
    with pytest.raises(UsageError, match="no data variable named 'X_test'"):
        magic(ip, "evaluate clf X_test y")
    ip.run_cell("y_short = y[:10]")
    with pytest.raises(UsageError) as err:
        magic(ip, "evaluate clf X y_short --no-save")
    assert "\n" not in str(err.value) and "150" in str(err.value)


def test_compare_models_across_versions(ip):
    magic(ip, "save_model clf --name iris_lr")
    ip.run_cell("clf2 = LogisticRegression(max_iter=1000, C=0.1).fit(X, y)")
    magic(ip, "save_model clf2 --name iris_lr")
    ip.run_cell("for v in ('1.0.0', '1.1.0'):\n"
                "    _m = %load_model iris_lr@$v\n"
                "    %evaluate _m X y")
    comparison = magic(ip, "compare_models iris_lr")
    text = repr(comparison)
    assert text.startswith("Comparison(iris_lr@1.0.0, iris_lr@1.1.0)")
    assert "accuracy" in text and "C " in text  # the hyper-parameter that differs
    assert "<table" in comparison._repr_html_()
    pair = magic(ip, "compare_models iris_lr@1.0.0 iris_lr@1.1.0")
    assert repr(pair) == text


# -- comments, --help, messages in the magic's words, completion ------------------------

def test_a_trailing_comment_is_not_an_argument(ip, tmp_path):
    store = ModelStore(tmp_path / "models")
    saved = magic(ip, "save_model clf --name iris_lr --tags a,b   # first try")
    assert store.record("iris_lr")["tags"] == ["a", "b"]
    # '#' inside quotes, or inside a word, is not a comment.
    magic(ip, "save_model clf --name iris_lr --bump minor --description 'a # b' --force-new # why")
    assert store.record("iris_lr")["description"] == "a # b"
    with pytest.raises(UsageError, match="'x#y'"):
        magic(ip, "save_model clf --name x#y")
    ip.run_cell("m = %load_model iris_lr@1.0.0            # latest, 1.2.0, or an alias\n"
                "%model_alias iris_lr production 1.0.0    # name a version\n"
                "info = %model_info iris_lr@production    # the record\n"
                "table = %models iris*                    # the store as a table\n"
                "where = %nbmodels_store                  # which store\n")
    ns = ip.user_ns
    from nbmodels import provenance

    assert provenance(ns["m"])[1:] == ("iris_lr", saved.version)
    assert store.aliases("iris_lr") == {"production": "1.0.0"}
    assert ns["info"].record.version == "1.0.0"
    assert [row["name"] for row in ns["table"]] == ["iris_lr"]
    assert repr(ns["where"]).endswith("(from %config ModelMagics.store_dir; 1 model)")


def test_a_whole_line_comment_does_nothing(ip, tmp_path, capsys):
    magic(ip, "save_model clf --name iris_lr")
    result = ip.run_cell("# %model_alias iris_lr production 1.0.0\n"
                         "%models   # only a comment after the magic\n")
    assert result.success, result.error_in_exec
    assert ModelStore(tmp_path / "models").aliases("iris_lr") == {}
    assert magic(ip, "models # everything") == magic(ip, "models")


@pytest.mark.parametrize("name", ["models", "load_model", "save_model", "nbmodels_store"])
def test_dash_dash_help_shows_what_question_mark_shows(ip, capsys, name):
    ip.run_cell(f"%{name}?")
    asked = capsys.readouterr().out
    assert magic(ip, f"{name} --help") is None
    helped = capsys.readouterr().out
    assert helped == asked and "Docstring" in helped
    magic(ip, f"{name} -h  # also short")
    assert capsys.readouterr().out == asked


def test_messages_use_the_magics_option_names(ip):
    magic(ip, "save_model clf --name iris_lr --version 1.0.0")
    with pytest.raises(UsageError) as err:
        magic(ip, "save_model clf --name iris_lr --version 1.0.0 --description other")
    assert str(err.value) == ("iris_lr@1.0.0 already exists; versions are immutable: save "
                              "without --version to get the next one, or pass --overwrite to "
                              "replace it")
    magic(ip, "save_model clf --name iris_lr --version 1.0.0 --overwrite --description other")


def test_nbmodels_store_says_why(ip, tmp_path, monkeypatch):
    ip.run_line_magic("config", "ModelMagics.store_dir = ''")
    monkeypatch.setenv("NBMODELS_HOME", str(tmp_path / "home"))
    assert repr(magic(ip, "nbmodels_store")) == (f"nbmodels store: {tmp_path / 'home'} (from "
                                                 f"$NBMODELS_HOME; 0 models)")


def _complete(ip, line):
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        return [c.text for c in ip.Completer.completions(line, len(line))]


def test_completion_offers_versions_and_aliases_first(ip):
    magic(ip, "save_model clf --name iris_lr")
    magic(ip, "save_model clf --name iris_lr --version 1.10.0 --force-new")
    magic(ip, "save_model clf --name iris_lr --version 1.9.0 --force-new")
    magic(ip, "model_alias iris_lr production 1.9.0")
    magic(ip, "model_alias iris_lr staging 1.10.0")
    # Newest version first (semver order), then the aliases, then latest: nothing else.
    expected = ["1.10.0", "1.9.0", "1.0.0", "production", "staging", "latest"]
    assert _complete(ip, "%load_model iris_lr@") == expected
    assert _complete(ip, "m = %load_model iris_lr@") == expected
    assert _complete(ip, "%model_info iris_lr@1.") == ["1.10.0", "1.9.0", "1.0.0"]
    assert _complete(ip, "%load_model iris_lr@s") == ["staging"]
    assert _complete(ip, "%model_alias iris_lr production ") == expected
    assert _complete(ip, "%model_alias iris_lr s") == ["staging"]
    assert _complete(ip, "%load_model ir") == ["iris_lr"]
    assert _complete(ip, "%compare_models iris_lr@1.0.0 iris_lr@p") == ["production"]
    # Not ours: a comment, a value we cannot guess, plain Python.
    assert "iris_lr" not in _complete(ip, "%load_model iris_lr  # ir")
    assert len(_complete(ip, "x = abs")) >= 1
    assert "%models" in _complete(ip, "%models")  # the magic's own name, not model names


def test_completion_offers_notebook_variables_for_evaluate(ip):
    ip.run_cell("import math\n"
                "from sklearn.model_selection import train_test_split\n"
                "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                "model_b = clf\nmx = 3\n")
    got = _complete(ip, "%evaluate m")
    assert got == ["model_b", "mx"]  # the fitted model first; no module (math), no builtins
    assert _complete(ip, "%evaluate ")[:2] == ["clf", "model_b"]
    assert _complete(ip, "%evaluate model_b X_") == ["X_test", "X_train"]
    assert _complete(ip, "%evaluate model_b X_test y_t") == ["y_test", "y_train"]
    assert _complete(ip, "%save_model clf --data X_t") == ["X_test", "X_train"]
    assert _complete(ip, "%save_model clf --target y_") == ["y_test", "y_train"]
    magic(ip, "save_model clf --name iris_lr")
    assert _complete(ip, "%save_model clf --name ir") == ["iris_lr"]
