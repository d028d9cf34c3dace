"""The format registry as the store uses it: choice, forcing, options, records, extras."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nbmodels import formats
from nbmodels.errors import FormatUnavailableError, NBModelsError
from nbmodels.formats import ModelFormat, format_for, list_formats, register_format


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry: formats registered by a test vanish after it."""
    monkeypatch.setattr(formats, "_FORMATS", dict(formats._FORMATS))
    return formats._FORMATS


class _ReprFormat(ModelFormat):
    """A real format (its files are written and read back) storing ``repr`` text."""

    name = "repr_text"
    artifacts = ("model.txt",)
    requires = ("json",)
    executes_code_on_load = False

    def save(self, model, sink, **options):
        with sink.open("model.txt") as f:
            f.write(repr(model).encode())
        return {"chars": len(repr(model))}

    def load(self, source, info, **options):
        import ast

        return ast.literal_eval(bytes(source.read_bytes("model.txt")).decode())


class _NeedsMissingModule(_ReprFormat):
    """The same format, declaring a module that is not installed anywhere."""

    requires = ("nbmodels_test_no_such_module_7f3a",)
    extra = "nosuchextra"


def test_builtin_formats_are_registered():
    names = [f.name for f in list_formats()]
    for name in ("joblib", "pickle", "skops", "onnx", "torch", "keras", "tf_saved_model"):
        assert name in names
    extras = {f.name: f.extra for f in list_formats()}
    assert extras["skops"] == "skops" and extras["onnx"] == "onnx"
    assert extras["torch"] == "torch" and extras["keras"] == "keras"
    assert extras["tf_saved_model"] == "tensorflow"


def test_looking_up_formats_imports_no_framework():
    # claims() must answer without importing torch, keras, onnx or tensorflow.
    code = textwrap.dedent("""
        import sys
        from sklearn.linear_model import LogisticRegression
        from nbmodels.formats import format_for, list_formats
        print(format_for(LogisticRegression()).name, format_for({"a": 1}).name)
        heavy = [m for m in ("torch", "keras", "onnx", "onnxruntime", "skl2onnx",
                             "tensorflow", "skops") if m in sys.modules]
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "joblib joblib"
    assert out[1] == "[]"


@pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")
def test_automatic_choice_by_object(small_model):
    torch = pytest.importorskip("torch")
    model, _, _ = small_model
    assert format_for(model).name == "joblib"
    assert format_for(torch.nn.Linear(2, 1)).name == "torch"
    assert format_for(torch.jit.script(torch.nn.Linear(2, 1))).name == "torch"


def test_forced_format_and_record(store, small_model):
    pytest.importorskip("skops")
    model, X, y = small_model
    rec = store.save(model, "iris", X=X, y=y, format="skops")
    assert rec["format"] == "skops"
    assert rec["format_extra"] == "skops"
    assert [f["name"] for f in rec["files"]] == ["model.skops"]
    assert rec["format_info"]["untrusted_types"] == []
    on_disk = json.loads((store.root / "metadata" / "iris_v1.0.0" / "metadata.json").read_text())
    assert on_disk["format"] == "skops" and on_disk["format_extra"] == "skops"
    assert on_disk["files"][0]["sha256"] == rec["files"][0]["sha256"]
    listed = {m["name"]: m for m in store.list()}
    assert listed["iris"]["format"] == "skops"


def test_joblib_round_trip(store, small_model):
    from format_checks import check_evaluate_matches

    model, X, y = small_model
    rec = store.save(model, "iris", X=X, y=y)
    assert rec["format"] == "joblib" and rec["format_extra"] is None
    assert "iris" in store.names()
    loaded = store.load("iris")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    check_evaluate_matches(model, loaded, X, y, "accuracy")


def test_unknown_options_are_refused_before_writing(store, small_model):
    model, X, _ = small_model
    with pytest.raises(NBModelsError, match="does not take save_format"):
        store.save(model, "iris", save_format="h5")
    assert store.names() == []
    store.save(model, "iris")
    with pytest.raises(NBModelsError, match="does not take into"):
        store.load("iris", into=object())
    with pytest.raises(NBModelsError, match="no weights-only form; it runs code"):
        store.load("iris", weights_only=True)
    assert np.array_equal(store.load("iris", weights_only=False).predict(X), model.predict(X))


def test_unknown_format_name_lists_known_ones(store, small_model):
    with pytest.raises(NBModelsError, match=r"known formats: .*joblib.*skops"):
        store.save(small_model[0], "iris", format="nope")


def test_missing_extra_on_save_names_the_extra(store, registry):
    register_format(_NeedsMissingModule)
    with pytest.raises(FormatUnavailableError) as err:
        store.save([1, 2], "listy", format="repr_text")
    assert "pip install nbmodels[nosuchextra]" in str(err.value)
    assert "nbmodels_test_no_such_module_7f3a" in str(err.value)
    assert store.names() == []


def test_missing_extra_on_load_names_the_extra(store, registry):
    register_format(_ReprFormat)
    rec = store.save([1, 2, 3], "listy", format="repr_text")
    assert store.load("listy") == [1, 2, 3]
    assert rec["format_module"] == __name__
    # The same format on a machine where its library is missing.
    register_format(_NeedsMissingModule, replace=True)
    with pytest.raises(FormatUnavailableError, match=r"pip install nbmodels\[nosuchextra\]"):
        store.load("listy")


def test_format_not_installed_at_all_says_what_to_install(store, registry):
    register_format(_ReprFormat)
    store.save([1], "listy", format="repr_text")
    del registry["repr_text"]
    with pytest.raises(FormatUnavailableError, match=f"module {__name__.split('.')[0]!r}"):
        store.load("listy")

