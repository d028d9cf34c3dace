"""Unsafe model and alias names are refused with a helpful message, and nothing is written."""

from __future__ import annotations

import os

import pytest
from nbm_helpers import tree_snapshot

import nbmodels
from nbmodels import InvalidNameError, ModelStore
from nbmodels.storage.layout import MAX_NAME_LENGTH, validate_alias, validate_name

BAD_NAMES = [
    "../x", "../../x", "../../../escaped", "..", ".", "a/b", "/abs", "a\\b", "..\\x", "",
    "x" * 300, "x" * (MAX_NAME_LENGTH + 1),
    "a\x00b", "a\nb", "a\tb", "a\rb", "\x7f", "a\u200bb",
    "CON", "con", "nul.txt", "NUL", "COM1", "com1.joblib", "LPT9", "AUX", "PRN",
    "a<b", "a>b", "a:b", 'a"b', "a|b", "a?b", "a*b",
    "a b", "a..b", ".hidden", "-flag", "trailing.", "caf\u00e9", "a#b", "a%2e",
]


def _operations(store: ModelStore, name):
    """Every public entry point that takes a model name, as zero-argument callables."""
    return {
        "save": lambda: store.save({"w": 1}, name),
        "save_version": lambda: store.save({"w": 1}, name, version="1.0.0"),
        "save_overwrite": lambda: store.save({"w": 1}, name, version="1.0.0", overwrite=True),
        "load": lambda: store.load(name),
        "load_version": lambda: store.load(name, "1.0.0"),
        "record": lambda: store.record(name),
        "latest": lambda: store.latest(name),
        "versions": lambda: store.versions(name),
        "resolve": lambda: store.resolve(name, "1.0.0"),
        "aliases": lambda: store.aliases(name),
        "set_alias": lambda: store.set_alias(name, "production", "1.0.0"),
        "remove_alias": lambda: store.remove_alias(name, "production"),
        "delete": lambda: store.delete(name, "1.0.0"),
        "delete_force": lambda: store.delete(name, "1.0.0", force=True),
        "update_record": lambda: store.update_record(name, "1.0.0", {"description": "x"}),
        "version_path": lambda: store.version_path("trained", name, "1.0.0"),
        "summary": lambda: store.summary(name),
        "save_model": lambda: nbmodels.save_model({"w": 1}, name),
        "load_model": lambda: nbmodels.load_model(name),
    }


def _check_refused(tmp_path, store, name):
    before = tree_snapshot(tmp_path)
    # A path such as ../../x would land beside tmp_path (in this session's folder).
    around = {p: sorted(os.listdir(p)) for p in (tmp_path.parent,)}
    for op_name, op in _operations(store, name).items():
        with pytest.raises(InvalidNameError) as info:
            op()
        err = info.value
        assert isinstance(err, ValueError), op_name
        assert "allowed: letters, digits, '_', '-' and '.'" in str(err), (op_name, str(err))
        assert tree_snapshot(tmp_path) == before, f"{op_name}({name!r}) wrote something"
    assert {p: sorted(os.listdir(p)) for p in around} == around


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_name_refused_on_an_empty_store(tmp_path, store, name):
    _check_refused(tmp_path, store, name)
    assert not store.root.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "", "x" * 300, "a\x00b", "a\nb",
                                  "CON", "nul.txt", "COM1", "a<b", "a>b", "a:b", 'a"b',
                                  "a|b", "a?b", "a*b"], ids=repr)
def test_bad_name_refused_on_a_populated_store(tmp_path, store, name):
    store.save({"w": 1}, "good", version="1.0.0")
    store.set_alias("good", "production", "1.0.0")
    _check_refused(tmp_path, store, name)
    assert store.names() == ["good"]


def test_message_says_what_is_wrong_and_what_is_allowed():
    cases = {"": "is empty", "a/b": "path separator", "a\\b": "path separator",
             "x" * 300: "300 characters long", "a\x00b": "control characters",
             "CON": "reserved device name on Windows", "nul.txt": "reserved",
             "a:b": "':'", "..": "'..'"}
    for name, why in cases.items():
        with pytest.raises(InvalidNameError) as info:
            validate_name(name)
        msg = str(info.value)
        assert why in msg, (name, msg)
        assert f"at most {MAX_NAME_LENGTH} characters" in msg
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_name(None)


@pytest.mark.parametrize("name", [None, 3, b"bytes", ["a"]], ids=repr)
def test_non_string_names_refused(tmp_path, store, name):
    before = tree_snapshot(tmp_path)
    for op in ("load", "record", "latest", "versions", "delete", "set_alias", "save"):
        with pytest.raises(InvalidNameError):
            _operations(store, name)[op]()
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["a", "A1", "iris_clf", "rf-2024.06", "x" * MAX_NAME_LENGTH,
                                  "my_v2_model", "model.v1", "CONSOLE", "com10", "nul_model"])
def test_good_names_accepted(store, name):
    rec = store.save({"n": name}, name)
    assert rec.name == name
    assert store.load(name) == {"n": name}
    assert (store.root / "trained" / f"{name}_v1.0.0" / "model.joblib").is_file()
    assert store.names() == [name]


@pytest.mark.parametrize("alias", ["../x", "a/b", "", "CON", "a:b", "latest", "1.0.0", "v2",
                                   "2.0.0-rc.1", "a\nb"], ids=repr)
def test_bad_alias_refused_and_nothing_written(tmp_path, store, alias):
    store.save({"w": 1}, "good")
    before = tree_snapshot(tmp_path)
    with pytest.raises(InvalidNameError) as info:
        store.set_alias("good", alias, "1.0.0")
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidNameError):
        store.remove_alias("good", alias)
    assert tree_snapshot(tmp_path) == before
    assert store.aliases("good") == {}


def test_validate_alias_accepts_words():
    for alias in ("production", "staging", "champion-2024", "best_f1"):
        assert validate_alias(alias) == alias


def test_name_at_ref_with_bad_parts(tmp_path, store):
    store.save({"w": 1}, "good")
    before = tree_snapshot(tmp_path)
    with pytest.raises(InvalidNameError, match="'@'"):
        store.save({"w": 1}, "good@1.0.0")
    with pytest.raises(InvalidNameError):
        store.load("../good@1.0.0")
    with pytest.raises(LookupError, match="neither a version nor an alias"):
        store.load("good@../../x")
    assert tree_snapshot(tmp_path) == before


def test_nothing_written_outside_the_root_by_normal_use(tmp_path, small_model):
    model, X, y = small_model
    root = tmp_path / "inner" / "models"
    store = ModelStore(root)
    store.save(model, "clf", X=X, y=y)
    store.set_alias("clf", "production", "1.0.0")
    store.load("clf@production")
    store.verify()
    store.gc()
    store.rebuild_index()
    store.delete("clf", "1.0.0", force=True)
    outside = [p for p in tmp_path.rglob("*") if root not in p.parents and p != root]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in outside) == ["inner"]
