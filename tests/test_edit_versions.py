"""Editing a version's description and tags: recorded as an edit, artifacts untouched.

Through the Python API, the %model_edit magic and the `nbmodels edit` command, on real
stores with really fitted models.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sklearn.linear_model import LogisticRegression

from nbmodels import ModelStore
from nbmodels.errors import ModelNotFoundError, NBModelsError


@pytest.fixture
def saved(store, small_model):
    model, X, y = small_model
    store.save(model, "iris", X=X, y=y, description="first try", tags=["iris", "draft"],
               metrics={"accuracy": 0.97})
    return store


def _artifacts(store):
    return {p.relative_to(store.root).as_posix(): p.read_bytes()
            for p in (store.root / "trained").rglob("*") if p.is_file()}


def test_edit_records_the_change_and_touches_no_artifact_or_hash(saved):
    before = saved.record("iris", "1.0.0")
    artifacts = _artifacts(saved)
    rec = saved.edit("iris", "1.0.0", description="baseline", tags=["iris", "baseline"])
    assert rec["description"] == "baseline" and rec.tags == ["iris", "baseline"]
    (edit,) = rec["edits"]
    assert edit["changes"] == {"description": {"from": "first try", "to": "baseline"},
                               "tags": {"from": ["iris", "draft"], "to": ["iris", "baseline"]}}
    assert edit["at"].endswith("Z") and edit["author"]
    assert rec["updated_at"] == edit["at"]
    for key in ("files", "content_hash", "size_bytes", "format", "created_at", "metrics",
                "hyperparameters", "lineage", "version_reason"):
        assert rec[key] == before[key], key
    assert _artifacts(saved) == artifacts
    # What every reader sees: the record on disk, the card, the listing; all still whole.
    on_disk = json.loads((saved.root / "metadata/iris_v1.0.0/metadata.json").read_text())
    assert on_disk["description"] == "baseline" and on_disk["edits"] == rec["edits"]
    card = (saved.root / "metadata/iris_v1.0.0/model_card.md").read_text()
    assert "baseline" in card and "first try" not in card
    assert ModelStore(saved.root).list()[0]["description"] == "baseline"
    assert saved.verify().ok, saved.verify()
    assert saved.load("iris").__class__ is LogisticRegression
    # The model is still the same model: saving its bytes again finds the edited version.
    model = saved.load("iris")
    again = saved.save(model, "iris", description="baseline")
    assert again.version == "1.0.0" and again.unchanged.differences == []


def test_add_and_remove_tags_and_edit_history(saved):
    saved.edit("iris@1.0.0", "latest", add_tags="reviewed,iris")
    rec = saved.edit("iris", "latest", remove_tags=["draft"], add_tags=["prod"])
    assert rec.tags == ["iris", "reviewed", "prod"]
    assert [e["changes"]["tags"]["to"] for e in rec["edits"]] == [
        ["iris", "draft", "reviewed"], ["iris", "reviewed", "prod"]]
    assert "description" not in rec["edits"][1]["changes"]
    # An edit that changes nothing records nothing (a re-run cell).
    same = saved.edit("iris", "1.0.0", description="first try", remove_tags=["absent"])
    assert len(same["edits"]) == 2 and same.tags == rec.tags
    # Aliases resolve like everywhere else.
    saved.set_alias("iris", "production", "1.0.0")
    assert saved.edit("iris", "production", tags=[])["tags"] == []


def test_edit_refuses_bad_input(saved):
    with pytest.raises(NBModelsError, match="nothing to edit: give description="):
        saved.edit("iris", "1.0.0")
    with pytest.raises(NBModelsError, match="description must be a string"):
        saved.edit("iris", "1.0.0", description=3)
    with pytest.raises(ModelNotFoundError, match=r"no version 9\.9\.9"):
        saved.edit("iris", "9.9.9", description="x")
    with pytest.raises(ModelNotFoundError):
        saved.edit("nope", "1.0.0", description="x")
    assert "edits" not in saved.record("iris")


def test_update_record_cannot_rewrite_hashes_either(saved):
    with pytest.raises(NBModelsError, match="content_hash"):
        saved.update_record("iris", "1.0.0", {"content_hash": "0" * 64})


def test_model_edit_magic(saved, small_model):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbmodels")
    shell.run_line_magic("config", f"ModelMagics.store_dir = {str(saved.root)!r}")
    try:
        out = shell.run_line_magic("model_edit", "iris@1.0.0 --description 'the baseline' "
                                   "--tags iris,baseline")
        assert repr(out) == ("Edited iris@1.0.0: description 'first try' -> 'the baseline'; "
                             "tags 'iris, draft' -> 'iris, baseline' (artifacts and hashes "
                             "untouched)")
        assert "Edited iris@1.0.0" in out._repr_html_()
        again = shell.run_line_magic("model_edit", "iris@1.0.0 --description 'the baseline'")
        assert repr(again).startswith("Nothing to change: iris@1.0.0")
        shell.run_line_magic("model_edit", "iris@1.0.0 --add-tags reviewed --remove-tags iris")
        assert saved.record("iris").tags == ["baseline", "reviewed"]
        for line, expected in (("iris --description x", "needs NAME@VERSION"),
                               ("iris@1.0.0", "nothing to edit"),
                               ("iris@7.0.0 --description x", "no version 7.0.0")):
            with pytest.raises(UsageError, match=expected):
                shell.run_line_magic("model_edit", line)
    finally:
        shell.run_line_magic("unload_ext", "nbmodels")
        shell.run_line_magic("config", "ModelMagics.store_dir = ''")
        shell.reset()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "nbmodels.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_nbmodels_edit_command(saved):
    root = str(saved.root)
    out = _cli("edit", "iris@1.0.0", "--description", "from the terminal", "--tags", "a,b",
               "--store", root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("edited iris@1.0.0: description: 'first try' -> 'from the "
                                  "terminal'; tags: ['iris', 'draft'] -> ['a', 'b']")
    data = json.loads(_cli("edit", "iris@1.0.0", "--add-tags", "c", "--json",
                           "--store", root).stdout)
    assert data["edit"]["changes"] == {"tags": {"from": ["a", "b"], "to": ["a", "b", "c"]}}
    noop = _cli("edit", "iris@1.0.0", "--add-tags", "c", "--store", root)
    assert noop.returncode == 0 and noop.stdout.startswith("nothing to change")
    assert saved.record("iris")["description"] == "from the terminal"
    assert len(saved.record("iris")["edits"]) == 2
    bad = _cli("edit", "iris", "--description", "x", "--store", root)
    assert bad.returncode == 2 and "NAME@VERSION" in bad.stderr
    empty = _cli("edit", "iris@1.0.0", "--store", root)
    assert empty.returncode == 2 and "nothing to edit" in empty.stderr
    missing = _cli("edit", "iris@3.0.0", "--description", "x", "--store", root)
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
