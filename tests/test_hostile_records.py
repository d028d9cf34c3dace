"""One bad record never takes down the store.

A record that cannot stand for its version (NaN, Infinity, nesting too deep for the
parser or for readers, lone surrogates, a huge record, not an object, another model's
name or version, a format field of the wrong type) makes that one version damaged:
``verify`` reports it with the reason, ``list`` notes it and lists everything else,
``latest`` falls back to the newest readable version, ``gc`` and ``rebuild-index`` work,
and the repair path works. A descriptive field of the wrong type (``tags``,
``size_bytes``, ``files``, ``metrics``, ...) is reported by ``verify`` and noted by
``list``, and the version stays readable. Then the record's fields are fuzzed
(hypothesis) through the whole read path: the store and every reader either show a
record or say it is damaged, never crash.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbmodels import IntegrityError, ModelRecord, ModelStore
from nbmodels.cli import main as cli
from nbmodels.record.card import ModelCard
from nbmodels.record.validate import (
    IDENTITY_FIELDS,
    MAX_DEPTH,
    RECORD_FIELDS,
    check_record,
    unusable_record,
)

DAMAGED = "metadata/b_v1.1.0/metadata.json"
ALONE = "metadata/alone_v1.0.0/metadata.json"


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


# name -> how to turn the good record text into a damaged one
WRONG_TYPES = {
    "size_bytes": ["big", -1, 1.5, True, [1]], "tags": [{"a": 1}, 3, [{"x": 1}]],
    "files": [{"a": 1}, "model.joblib", [1], [{"name": "../x", "size": 1, "sha256": "0"}]],
    "metrics": [[1, 2], "0.9", 3], "created_at": [5, [1], {"t": 1}], "features": [3, "a,b",
                                                                                 [{"f": 1}]],
    "lineage": ["x", [1], 2], "environment": ["env", [1]], "hyperparameters": [[1], "C=1"],
    "format_info": ["x"], "architecture": ["text"], "schema_version": ["1", 1.0],
    "description": [5, {"d": 1}], "model_name": [7], "version": [1.1],
    "classes": ["a", {"c": 1}], "target": [{"t": 1}, [1]], "evaluations": [[1]],
    "metrics_source": ["test"], "n_features": ["4"], "author": [["me"]],
}
WRONG_TYPES.update({"format": [3, ["joblib"]], "format_info": ["x", [1]]})
DAMAGES: dict[str, object] = {
    "nan": lambda t: t.replace('"description": ""', '"description": "", "x": NaN'),
    "infinity": lambda t: t.replace('"description": ""', '"description": "", "x": Infinity'),
    "minus-infinity": lambda t: t.replace('"size_bytes": ', '"size_bytes": -Infinity, "y": '),
    "nested-for-the-parser": lambda t: t[:-2] + ', "deep": ' + _nested(200_000) + "}\n",
    "nested-for-readers": lambda t: t[:-2] + ', "lineage": ' + _nested(MAX_DEPTH + 5) + "}\n",
    "surrogate-value": lambda t: t.replace('"description": ""', '"description": "\\ud800"'),
    "surrogate-key": lambda t: t.replace('"description": ""', '"\\udfff": 1, "description": ""'),
    "huge": lambda t: t[:-2] + ', "pad": "' + "x" * (17 << 20) + '"}\n',
    "not-an-object": lambda t: "[1, 2, 3]",
    "other-model": lambda t: t.replace('"model_name": "b"', '"model_name": "good"'),
    "other-version": lambda t: t.replace('"version": "1.1.0"', '"version": "1.0.0"'),
    **{f"{key}={value!r}"[:40]: (lambda t, key=key, value=value: json.dumps(
        {**json.loads(t), key: value})) for key, values in WRONG_TYPES.items()
       for value in values},
}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("records") / "models"
    store = ModelStore(root)
    store.save({"g": 1}, "good", description="fine", tags=["a"], metrics={"accuracy": 0.9})
    store.save({"b": 1}, "b", description="")
    store.save({"b": 2}, "b", description="")
    store.save({"a": 1}, "alone", description="")
    store.set_alias("b", "production", "1.0.0")
    return root


def _damaged_store(template: Path, tmp_path: Path, damage: str) -> tuple[ModelStore, bytes]:
    root = tmp_path / "models"
    shutil.copytree(template, root)
    good = (root / DAMAGED).read_bytes()
    for rel in (DAMAGED, ALONE):
        text = (root / rel).read_text()
        if damage in ("other-model", "other-version") and rel == ALONE:
            text = text.replace('"model_name": "alone"', '"model_name": "good"')
            text = text.replace('"version": "1.0.0"', '"version": "9.0.0"')
        (root / rel).write_text(DAMAGES[damage](text))
    return ModelStore(root), good


FATAL = sorted(d for d in DAMAGES if d.split("=")[0] not in RECORD_FIELDS
               or d.split("=")[0] in IDENTITY_FIELDS)
TYPED = sorted(set(DAMAGES) - set(FATAL))


@pytest.mark.parametrize("damage", FATAL)
def test_one_damaged_record_is_one_damaged_version(template, tmp_path, capsys, damage):
    store, good = _damaged_store(template, tmp_path, damage)

    table = store.list()
    assert [(m["name"], m["latest"]) for m in table] == [("b", "1.0.0"), ("good", "1.0.0")]
    assert {(d["name"], d["version"], d["kind"]) for d in table.damaged} == {
        ("b", "1.1.0", "invalid_metadata"), ("alone", "1.0.0", "invalid_metadata")}
    assert DAMAGED in repr(table) and "<li>" in table._repr_html_()
    json.dumps(table.to_dict(), allow_nan=False)
    assert store.latest("b") == "1.0.0"
    assert store.load("b") == {"b": 1} and store.load("good") == {"g": 1}
    assert store.record("b@production").version == "1.0.0" and store.card("good").html

    with pytest.raises(IntegrityError, match=rf"{DAMAGED} .+; fix it or delete it") as caught:
        store.record("b", "1.1.0")
    assert "\n" not in str(caught.value)
    with pytest.raises(IntegrityError, match="no version of 'alone' has a readable record"):
        store.load("alone")

    report = store.verify()
    invalid = {p.path: p.detail for p in report.by_kind("invalid_metadata")}
    assert set(invalid) == {DAMAGED, ALONE}, report
    assert all(invalid.values())
    assert [p for p in report.problems if p.kind != "invalid_metadata"] == []
    assert store.gc().removed == []
    rebuilt = store.rebuild_index()
    assert {p for p, _ in rebuilt.skipped} == {DAMAGED, ALONE}
    assert (rebuilt.models, rebuilt.adopted) == (2, [])

    assert cli(["--store", str(store.root), "list"]) == 0
    assert "b@1.1.0" in capsys.readouterr().out
    assert cli(["--store", str(store.root), "show", "b"]) == 0
    assert cli(["--store", str(store.root), "show", "b@1.1.0"]) == 4
    err = capsys.readouterr().err
    assert DAMAGED in err and len(err.strip().splitlines()) == 1
    assert cli(["--store", str(store.root), "verify"]) == 1

    # The repair: put a good record back (no rebuild needed) ...
    (store.root / DAMAGED).write_bytes(good)
    assert store.latest("b") == "1.1.0" and store.load("b") == {"b": 2}
    # ... or delete the damaged record and adopt the artifacts again.
    (store.root / ALONE).unlink()
    assert store.rebuild_index().adopted == ["alone@1.0.0"]
    assert store.load("alone") == {"a": 1}
    assert store.verify().ok, store.verify()


@pytest.mark.parametrize("damage", TYPED)
def test_a_field_of_the_wrong_type_is_reported_and_the_version_stays_readable(
        template, tmp_path, capsys, damage):
    store, good = _damaged_store(template, tmp_path, damage)
    table = store.list()
    assert [(m["name"], m["latest"]) for m in table] == [
        ("alone", "1.0.0"), ("b", "1.1.0"), ("good", "1.0.0")]
    assert {(d["name"], d["version"], d["kind"]) for d in table.damaged} == {
        ("b", "1.1.0", "invalid_metadata"), ("alone", "1.0.0", "invalid_metadata")}
    assert DAMAGED in repr(table) and "<li>" in table._repr_html_()
    json.dumps(table.to_dict(), allow_nan=False)
    rec = store.record("b", "1.1.0")
    repr(rec), rec._repr_html_(), rec.tags, rec.metrics, rec.size_bytes, rec.files
    card = store.card("b")
    assert card.markdown.startswith("# b 1.1.0") and card.html
    json.dumps(store.summary("b"), allow_nan=False)
    try:
        assert store.load("b") == {"b": 2}
    except IntegrityError as exc:  # only a record whose files cannot be trusted
        assert damage.startswith("files"), exc

    report = store.verify()
    assert {(p.kind, p.path) for p in report.problems} == {
        ("invalid_metadata", DAMAGED), ("invalid_metadata", ALONE)}, report
    field = damage.split("=")[0]
    assert all((field if field != "files" else "file") in p.detail for p in report.problems)
    assert store.gc().removed == [] and store.rebuild_index().models == 3
    assert cli(["--store", str(store.root), "list"]) == 0
    assert cli(["--store", str(store.root), "show", "b@1.1.0"]) == 0
    assert cli(["--store", str(store.root), "verify"]) == 1
    capsys.readouterr()

    (store.root / DAMAGED).write_bytes(good)  # the repair: a good record back
    (store.root / ALONE).unlink()  # or none, and the artifacts adopted again
    assert store.rebuild_index().adopted == ["alone@1.0.0"]
    assert store.list().damaged == [] and store.verify().ok, store.verify()


def test_a_damaged_version_can_be_deleted(template, tmp_path):
    store, _ = _damaged_store(template, tmp_path, "nan")
    assert store.delete("b", "1.1.0") == "1.1.0"
    assert store.delete("alone", "1.0.0") == "1.0.0"
    assert store.versions("b") == ["1.0.0"] and store.list().damaged == []
    assert store.verify().ok, store.verify()


def test_a_save_never_overwrites_a_damaged_record(template, tmp_path):
    store, _ = _damaged_store(template, tmp_path, "infinity")
    before = (store.root / DAMAGED).read_bytes()
    assert store.save({"b": 3}, "b").version == "1.2.0"
    assert (store.root / DAMAGED).read_bytes() == before
    assert [d["version"] for d in store.list().damaged if d["name"] == "b"] == ["1.1.0"]


def test_a_damaged_record_below_the_latest_is_found_by_verify(template, tmp_path):
    store, _ = _damaged_store(template, tmp_path, "nan")
    store.save({"b": 3}, "b", version="2.0.0")
    assert store.latest("b") == "2.0.0"
    assert store.versions("b") == ["1.0.0", "2.0.0"]  # known damaged: kept aside
    assert ("b", "1.1.0") in {(d["name"], d["version"]) for d in store.list().damaged}
    assert DAMAGED in {p.path for p in store.verify().by_kind("invalid_metadata")}
    with pytest.raises(IntegrityError, match=DAMAGED):
        store.load("b", "1.1.0")


# -- fuzzing the fields ------------------------------------------------------------------------

_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_TEXT = st.text(max_size=8) | st.text(_SURROGATES, min_size=1, max_size=2)
_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | _TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=12)
_NESTED_KEYS = ["lineage", "environment", "architecture", "metrics", "load_check",
                "metrics_source", "evaluations", "hyperparameters", "format_info"]
_FIELD = st.sampled_from([*sorted(RECORD_FIELDS), "extra"])
_INNER = st.sampled_from(["data", "git", "X", "packages", "text", "parameters", "rows",
                          "dataset", "notebook", "python", "shape", "class_balance",
                          "accuracy", "local_modules", "pip", "dtypes"])


@pytest.fixture(scope="module")
def fuzz_store(template) -> ModelStore:
    root = Path(tempfile.mkdtemp(prefix="nbmodels-fuzz-")) / "models"
    shutil.copytree(template, root)
    yield ModelStore(root)
    shutil.rmtree(root.parent)


def _all_readers(store: ModelStore, data: dict) -> None:
    """Every read of the damaged version either works or says the record is damaged;
    every other read works."""
    path = store.root / DAMAGED
    path.write_text(json.dumps(data, ensure_ascii=True))
    table = store.list()
    repr(table), table._repr_html_(), json.dumps(table.to_dict(), allow_nan=False)
    assert {m["name"] for m in table} == {"alone", "b", "good"}
    written = json.loads(path.read_text())
    expected_ok = unusable_record(written, "b", "1.1.0") == []
    reported = [p.path for p in store.verify(deep=False).by_kind("invalid_metadata")]
    assert reported == ([DAMAGED] if check_record(written, "b", "1.1.0") else [])
    try:
        rec = store.record("b", "1.1.0")
    except IntegrityError as exc:
        assert not expected_ok and DAMAGED in str(exc)
        assert store.latest("b") == "1.0.0"
        return
    assert expected_ok
    repr(rec), rec._repr_html_(), rec.headline_metrics(), rec.tags, rec.files
    card = store.card("b", "1.1.0")
    card.markdown.encode("utf-8"), card.html.encode("utf-8")
    json.dumps(rec.to_dict(), allow_nan=False).encode("utf-8")
    assert store.latest("b") == "1.1.0"
    summary = store.summary("b")
    json.dumps(summary, allow_nan=False)
    store.verify(deep=False)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=_FIELD, value=_JSON)
def test_fuzz_a_top_level_field(fuzz_store, field, value):
    data = json.loads((fuzz_store.root / "metadata/b_v1.0.0/metadata.json").read_text())
    data.update(version="1.1.0")
    data[field] = value
    _all_readers(fuzz_store, data)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(_NESTED_KEYS), inner=_INNER, value=_JSON)
def test_fuzz_a_nested_field(fuzz_store, key, inner, value):
    data = json.loads((fuzz_store.root / "metadata/b_v1.0.0/metadata.json").read_text())
    data.update(version="1.1.0")
    data[key] = {inner: value, "data": {inner: value, "X": {inner: value}}}
    _all_readers(fuzz_store, data)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.sampled_from(sorted(RECORD_FIELDS)) | _TEXT, _JSON,
                            max_size=12))
def test_records_built_by_hand_never_break_a_reader(data):
    """ModelRecord and the card take any dict (a record built in Python, not read from a
    store): showing it never fails, whatever the types."""
    rec = ModelRecord(data)
    repr(rec), rec._repr_html_(), rec.name, rec.version, rec.files, rec.size_bytes
    rec.metrics, rec.created_at, rec.tags, rec.headline_metrics(), rec.format
    card = ModelCard(data)
    card.markdown, card.html, repr(card)
