"""Hand-made folders whose version is not semantic (``churn_v1``, ``churn_v2``,
``churn_v1.2``): reported by verify and list, adopted by rebuild-index with the
documented mapping, crash-safely, keeping the original label."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nbmodels import ModelStore
from nbmodels.storage.layout import loose_version, parse_loose_version_dir


@pytest.fixture(scope="module")
def models(iris):
    X, y = iris
    return {label: LogisticRegression(C=C, max_iter=1000).fit(X, y)
            for label, C in (("v1", 1.0), ("v2", 0.1), ("v1.2", 0.5))}


def _hand_made(root: Path, folder: str, model, metadata: dict | None = None) -> None:
    trained = root / "trained" / folder
    trained.mkdir(parents=True)
    joblib.dump(model, trained / "model.joblib")
    if metadata is not None:
        meta = root / "metadata" / folder
        meta.mkdir(parents=True)
        (meta / "metadata.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize(("label", "version"), [
    ("1", "1.0.0"), ("v1", "1.0.0"), ("v1.2", "1.2.0"), ("2", "2.0.0"), ("01.2.03", "1.2.3"),
    ("1.2.3", "1.2.3"), ("v1.x", None), ("1.2.3.4", None), ("beta", None)])
def test_the_documented_mapping(label, version):
    assert loose_version(label) == version


def test_loose_folder_names():
    assert parse_loose_version_dir("churn_v1") == ("churn", "1.0.0", "v1")
    assert parse_loose_version_dir("my_v2_model_v1.2") == ("my_v2_model", "1.2.0", "v1.2")
    # Proper version folders and other names are not loose.
    for name in ("churn_v1.0.0", "churn_v2.0.0-rc.1", "churn", "churn_vx", "..._v1"):
        assert parse_loose_version_dir(name) is None, name


def test_churn_v1_and_v2_are_reported_then_adopted_in_order(store, models, iris):
    X, _ = iris
    for label in ("v1", "v2", "v1.2"):
        _hand_made(store.root, f"churn_{label}", models[label])
    original = {p: p.read_bytes() for p in (store.root / "trained").rglob("model.joblib")}

    # Reported with the fix, never skipped silently.
    report = store.verify()
    found = {p.path: p.detail for p in report.by_kind("unadopted")}
    assert set(found) == {"trained/churn_v1", "trained/churn_v2", "trained/churn_v1.2"}
    assert found["trained/churn_v1"] == ("version 'v1' is not semantic; run rebuild-index to "
                                         "adopt it as churn@1.0.0 (the folder is renamed to "
                                         "churn_v1.0.0)")
    table = store.list()
    assert len(table) == 0
    assert ("not listed: trained/churn_v2: version 'v2' is not semantic; run rebuild-index "
            "to adopt it as churn@2.0.0") in repr(table)
    assert "trained/churn_v1.2" in table._repr_html_()

    rebuilt = store.rebuild_index()
    assert rebuilt.renamed == [("trained/churn_v1", "trained/churn_v1.0.0"),
                               ("trained/churn_v1.2", "trained/churn_v1.2.0"),
                               ("trained/churn_v2", "trained/churn_v2.0.0")]
    assert rebuilt.adopted == ["churn@1.0.0", "churn@1.2.0", "churn@2.0.0"]
    assert "renamed trained/churn_v1 -> trained/churn_v1.0.0" in repr(rebuilt)
    assert store.versions("churn") == ["1.0.0", "1.2.0", "2.0.0"]
    assert store.latest("churn") == "2.0.0"
    for label, version in (("v1", "1.0.0"), ("v2", "2.0.0"), ("v1.2", "1.2.0")):
        rec = store.record("churn", version)
        assert rec["original_version"] == label
        assert rec["original_folder"] == f"churn_{label}"
        assert rec["origin"] == "adopted"
        np.testing.assert_array_equal(store.load("churn", version, trust=True).predict_proba(X),
                                      models[label].predict_proba(X))
    # The bytes moved but did not change; the marker is gone; all is clean.
    moved = {p.read_bytes() for p in (store.root / "trained").rglob("model.joblib")}
    assert moved == set(original.values())
    assert [p.name for p in (store.root / "trained/churn_v1.0.0").iterdir()] == ["model.joblib"]
    assert store.verify().ok, store.verify()
    assert store.list().unadopted == [] and "not listed" not in repr(store.list())
    again = store.rebuild_index()
    assert (again.adopted, again.renamed) == ([], [])
    # The store goes on from there.
    assert store.save(LogisticRegression(C=3.0, max_iter=1000).fit(X, iris[1]),
                      "churn").version == "2.1.0"


def test_a_hand_written_record_follows_its_folder(store, models):
    seed = {"model_name": "churn", "version": "v1", "description": "first churn model",
            "metrics": {"accuracy": 0.91}, "tags": ["churn"]}
    _hand_made(store.root, "churn_v1", models["v1"], metadata=seed)
    report = store.verify()
    assert {p.path for p in report.by_kind("unadopted")} == {"trained/churn_v1",
                                                             "metadata/churn_v1"}
    rebuilt = store.rebuild_index()
    assert ("metadata/churn_v1", "metadata/churn_v1.0.0") in rebuilt.renamed
    rec = store.record("churn", "1.0.0")
    assert rec["description"] == "first churn model" and rec.metrics == {"accuracy": 0.91}
    assert rec["original_version"] == "v1" and rec.files
    assert not (store.root / "metadata/churn_v1").exists()
    assert store.verify().ok, store.verify()


def test_what_cannot_be_adopted_is_left_alone_and_said(store, models):
    # The label stands for a version that exists already.
    _hand_made(store.root, "churn_v1", models["v1"])
    store.save(models["v2"], "churn")  # churn@1.0.0, by nbmodels
    # Two labels for one version.
    _hand_made(store.root, "fraud_v2", models["v1"])
    _hand_made(store.root, "fraud_v2.0", models["v2"])
    # No artifact in a known format.
    odd = store.root / "trained" / "odd_v1"
    odd.mkdir()
    (odd / "weights.bin").write_bytes(b"\0" * 8)
    before = sorted(p.name for p in (store.root / "trained").iterdir())

    report = store.verify()
    details = {p.path: p.detail for p in report.by_kind("unadopted")}
    assert details["trained/churn_v1"] == ("version 'v1' is not semantic and stands for "
                                           "churn@1.0.0, which trained/churn_v1.0.0 already "
                                           "holds; remove or rename one of the two")
    rebuilt = store.rebuild_index()
    skipped = dict(rebuilt.skipped)
    assert "already holds" in skipped["trained/churn_v1"]
    assert "fraud_v2 and fraud_v2.0 both stand for fraud@2.0.0" in skipped["trained/fraud_v2"]
    assert "fraud_v2 and fraud_v2.0 all stand for fraud@2.0.0" in details["trained/fraud_v2.0"]
    assert "no artifact in a known format (found: weights.bin)" in skipped["trained/odd_v1"]
    assert rebuilt.renamed == [] and rebuilt.adopted == []
    assert sorted(p.name for p in (store.root / "trained").iterdir()) == before
    assert store.versions("churn") == ["1.0.0"]


def test_cli_reports_and_adopts(store, models):
    _hand_made(store.root, "churn_v1", models["v1"])
    run = [sys.executable, "-m", "nbmodels.cli", "--store", str(store.root)]
    listed = subprocess.run([*run, "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "not listed: trained/churn_v1" in listed.stdout
    verify = subprocess.run([*run, "verify"], capture_output=True, text=True, timeout=120)
    assert verify.returncode == 1 and "run rebuild-index to adopt it as churn@1.0.0" in \
        verify.stdout
    out = subprocess.run([*run, "rebuild-index", "--json"], capture_output=True, text=True,
                         timeout=120)
    data = json.loads(out.stdout)
    assert data["renamed"] == [{"from": "trained/churn_v1", "to": "trained/churn_v1.0.0"}]
    assert data["adopted"] == ["churn@1.0.0"]


CRASHER = textwrap.dedent("""
    import json, os, shutil, sys
    from pathlib import Path
    from crash_saver import arm
    from nbmodels import ModelStore

    work = Path(sys.argv[1])
    template = work / "template"
    ModelStore(work / "warm").rebuild_index()  # lazy imports done once, before forking

    def in_child(root, at, events=None):
        pid = os.fork()
        if pid == 0:
            arm(root, at, "kill", events)
            ModelStore(root).rebuild_index()
            if events is not None:
                (work / "steps.json").write_text(json.dumps(events))
            os._exit(0)
        return os.waitpid(pid, 0)[1]

    probe = work / "probe"
    shutil.copytree(template, probe)
    assert in_child(probe, -1, []) == 0
    steps = json.loads((work / "steps.json").read_text())
    cases = []
    for i in range(len(steps)):
        root = work / f"case{i:03d}"
        shutil.copytree(template, root)
        status = in_child(root, i)
        cases.append({"root": str(root), "step": steps[i], "killed": os.WIFSIGNALED(status)})
    print(json.dumps(cases))
""")


@pytest.mark.slow
def test_adoption_killed_at_any_step_is_completed_by_the_next_rebuild(tmp_path, models, iris):
    X, _ = iris
    template = tmp_path / "template"
    seed = {"description": "first churn model", "version": "1"}
    _hand_made(template, "churn_v1", models["v1"], metadata=seed)
    _hand_made(template, "churn_v2", models["v2"])
    out = subprocess.run([sys.executable, "-c", CRASHER, str(tmp_path)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    cases = json.loads(out.stdout)
    assert len(cases) > 8 and all(c["killed"] for c in cases)
    renames = [c["step"] for c in cases if c["step"].startswith("os.rename")]
    assert any("churn_v1.0.0" in s for s in renames), renames
    for case in cases:
        store = ModelStore(case["root"])
        context = f"killed before {case['step']}"
        # Whatever the crash left, every version with hashes loads (hashes checked first).
        visible = store.versions("churn") if "churn" in store.names() else []
        for version in visible:
            if store.record("churn", version).files:
                store.load("churn", version, trust=True)
        store.rebuild_index()
        store.gc()
        assert store.versions("churn") == ["1.0.0", "2.0.0"], context
        assert store.verify().ok, f"{context}: {store.verify()}"
        one, two = store.record("churn", "1.0.0"), store.record("churn", "2.0.0")
        assert one["original_version"] in ("1", "v1"), context  # the seed's own, or the label
        assert two["original_version"] == "v2", context
        assert one["description"] == "first churn model", context
        np.testing.assert_array_equal(store.load("churn", "1.0.0", trust=True).predict_proba(X),
                                      models["v1"].predict_proba(X))
        np.testing.assert_array_equal(store.load("churn", "2.0.0", trust=True).predict_proba(X),
                                      models["v2"].predict_proba(X))
        trained = sorted(p.name for p in (Path(case["root"]) / "trained").iterdir())
        assert trained == ["churn_v1.0.0", "churn_v2.0.0"], context
