"""Prune, du, size warnings and the joblib compress option, on real stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbmodels import ModelStore
from nbmodels.errors import NBModelsError
from nbmodels.store.retention import GROWTH_FLOOR, ModelSizeWarning, parse_size


def _dummy(X, y, i: int):
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="constant", constant=y.iloc[i % len(y)]).fit(X, y)


def _disk_bytes(*folders: Path) -> int:
    return sum(p.stat().st_size for f in folders if f.exists() for p in f.rglob("*") if p.is_file())


# -- prune: property-based over random stores ------------------------------------------------

_version = st.fixed_dictionaries(
    {"keep": st.booleans(), "alias": st.sampled_from([None, None, "prod", "staging"])}
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    models=st.lists(st.lists(_version, min_size=1, max_size=5), min_size=1, max_size=2),
    keep_last=st.one_of(st.none(), st.integers(0, 4)),
    older_than=st.sampled_from([None, "0s", "3650d"]),
    dry_run=st.booleans(),
)
def test_prune_never_removes_aliased_keep_tagged_or_latest(
    iris, models, keep_last, older_than, dry_run
):
    if keep_last is None and older_than is None:
        keep_last = 1
    X, y = iris
    with tempfile.TemporaryDirectory() as tmp:
        store = ModelStore(Path(tmp) / "m")
        protected, expected_gone = set(), set()
        for m, versions in enumerate(models):
            name = f"model{m}"
            saved = []
            for i, spec in enumerate(versions):
                rec = store.save(
                    _dummy(X, y, i),
                    name,
                    version=f"1.{i}.0",
                    tags=["keep"] if spec["keep"] else [],
                    force_new=True,
                )
                saved.append(rec.version)
                if spec["alias"]:
                    store.set_alias(name, spec["alias"], rec.version)
            aliased = set(store.aliases(name).values())
            recent = set(saved[-keep_last:]) if keep_last else set()
            for i, v in enumerate(saved):
                is_protected = v == saved[-1] or v in aliased or versions[i]["keep"]
                if is_protected:
                    protected.add(f"{name}@{v}")
                elif v not in recent and older_than != "3650d":
                    expected_gone.add(f"{name}@{v}")
        before = {n: store.versions(n) for n in store.names()}
        report = store.prune(keep_last=keep_last, older_than=older_than, dry_run=dry_run)
        listed = {d["ref"] for d in report.deleted}
        assert listed == expected_gone
        assert not listed & protected
        after = {f"{n}@{v}" for n in store.names() for v in store.versions(n)}
        assert protected <= after
        if dry_run:
            assert {n: store.versions(n) for n in store.names()} == before
        else:
            assert not after & expected_gone
            for ref in expected_gone:  # artifacts, record and evaluations went together
                name, version = ref.split("@")
                for kind in ("trained", "metadata", "evaluation"):
                    assert not store.version_path(kind, name, version).exists()
            assert store.verify().ok


def test_prune_reports_bytes_and_deletes_evaluations_too(tmp_path, iris):
    X, y = iris
    store = ModelStore(tmp_path / "m")
    for i in range(4):
        store.save(_dummy(X, y, i), "d", version=f"1.{i}.0", force_new=True)
    store.write_evaluation("d", "1.0.0", {"metrics.json": b'{"accuracy": 1}\n'})
    folders = [store.version_path(k, "d", "1.0.0") for k in ("trained", "metadata", "evaluation")]
    size = _disk_bytes(*folders)
    dry = store.prune("d", keep_last=3)
    assert [d["ref"] for d in dry.deleted] == ["d@1.0.0"]
    assert dry.bytes_reclaimed == size
    assert "would delete 1 version(s)" in repr(dry)
    assert store.versions("d") == ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    done = store.prune("d", keep_last=3, dry_run=False)
    assert done.bytes_reclaimed == size
    assert not any(f.exists() for f in folders)
    assert store.versions("d") == ["1.1.0", "1.2.0", "1.3.0"]
    assert store.verify().ok


def test_prune_older_than_and_bad_input(tmp_path, iris):
    X, y = iris
    store = ModelStore(tmp_path / "m")
    for i in range(3):
        store.save(_dummy(X, y, i), "d", version=f"1.{i}.0", force_new=True)
    assert store.prune(older_than="30d").deleted == []
    assert [d["ref"] for d in store.prune(older_than="0s").deleted] == ["d@1.0.0", "d@1.1.0"]
    with pytest.raises(NBModelsError, match="keep_last"):
        store.prune()
    with pytest.raises(NBModelsError, match="older_than"):
        store.prune(older_than="yesterday")
    with pytest.raises(NBModelsError, match="keep_last"):
        store.prune(keep_last=-1)


# -- du ----------------------------------------------------------------------------------------


def test_du_counts_every_byte(tmp_path, iris, small_model):
    model, X, y = small_model
    store = ModelStore(tmp_path / "m")
    store.save(model, "lr", X=X, y=y)
    store.save(_dummy(X, y, 0), "d")
    store.write_evaluation("lr", "1.0.0", {"metrics.json": b"{}\n"})
    usage = store.du()
    root = store.root
    for row in usage.versions:
        name, version = row["name"], row["version"]
        assert row["artifacts"] == _disk_bytes(store.version_path("trained", name, version))
        assert row["metadata"] == _disk_bytes(store.version_path("metadata", name, version))
        assert row["evaluation"] == _disk_bytes(store.version_path("evaluation", name, version))
    assert usage.models["lr"] == sum(r["total"] for r in usage.versions if r["name"] == "lr")
    assert usage.store_bytes == _disk_bytes(
        *(root / d for d in ("trained", "metadata", "evaluation", "registry"))
    )
    assert "store total" in repr(usage)
    assert [r["name"] for r in store.du("d").versions] == ["d"]


# -- size warnings and compression -------------------------------------------------------------


def test_size_warning_over_threshold_suggests_compression(tmp_path, forest, iris):
    X, y = iris
    store = ModelStore(tmp_path / "m", size_warning="1kB")
    with pytest.warns(ModelSizeWarning, match="compress=3") as caught:
        store.save(forest, "rf", X=X, y=y)
    message = str(caught[0].message)
    assert "over the 1.0 kB threshold" in message and "\n" not in message
    with warnings.catch_warnings():  # the same model again writes nothing: no warning
        warnings.simplefilter("error", ModelSizeWarning)
        store.save(forest, "rf", X=X, y=y)
        ModelStore(tmp_path / "m", size_warning=0, size_growth=0).save(forest, "rf2", X=X, y=y)


def test_size_warning_on_growth_and_from_the_environment(tmp_path, iris, monkeypatch):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    store = ModelStore(tmp_path / "m")
    # Growth of a tiny model is not worth a word: no warning below GROWTH_FLOOR.
    store.save(RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y), "tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelSizeWarning)
        store.save(RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y), "tiny")
    Xb, yb = make_classification(n_samples=4000, n_features=20, random_state=0)
    small = RandomForestClassifier(n_estimators=2, random_state=0).fit(Xb, yb)
    big = RandomForestClassifier(n_estimators=60, random_state=0).fit(Xb, yb)
    store.save(small, "rf", X=Xb, y=yb)
    with pytest.warns(ModelSizeWarning, match=r"larger than the previous version") as caught:
        rec = store.save(big, "rf", X=Xb, y=yb)
    assert rec.size_bytes >= GROWTH_FLOOR
    assert "n_estimators=60" in str(caught[0].message)
    monkeypatch.setenv("NBMODELS_SIZE_GROWTH", "100000")
    monkeypatch.setenv("NBMODELS_SIZE_WARNING", "2kB")
    assert ModelStore(tmp_path / "m").size_limits == (2000, 100000.0)
    with pytest.warns(ModelSizeWarning, match="over the 2.0 kB threshold"):
        ModelStore(tmp_path / "m").save(small, "other", X=X, y=y)
    assert parse_size("1.5 GB") == 1_500_000_000 and parse_size("512MiB") == 512 << 20
    with pytest.raises(NBModelsError, match="as a size"):
        ModelStore(tmp_path / "m", size_warning="lots")


@pytest.mark.parametrize("compress", [3, "lzma", ("gzip", 6), True])
def test_joblib_compress_is_recorded_and_loads(tmp_path, forest, iris, compress):
    X, y = iris
    store = ModelStore(tmp_path / "m")
    plain = store.save(forest, "plain", X=X, y=y)
    rec = store.save(forest, "packed", X=X, y=y, compress=compress)
    method = {3: "zlib", True: "zlib", "lzma": "lzma"}.get(compress, "gzip")
    assert rec.get("format_info")["compress"][0] == method
    assert rec.get("size_bytes") < plain.get("size_bytes") / 2
    np.testing.assert_array_equal(store.load("packed").predict(X), forest.predict(X))
    path = store.version_path("trained", "packed", rec.version) / "model.joblib"
    np.testing.assert_array_equal(joblib.load(path).predict(X), forest.predict(X))
    assert store.verify().ok


def test_bad_compress_values_are_refused(tmp_path, forest):
    store = ModelStore(tmp_path / "m")
    with pytest.raises(NBModelsError, match="compress= takes"):
        store.save(forest, "rf", compress="snappy")
    with pytest.raises(NBModelsError, match="does not take compress"):
        store.save(forest, "rf", format="pickle", compress=3)
    assert not store.exists() or store.names() == []


# -- the CLI -----------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]
        ),
    }
    return subprocess.run(
        [sys.executable, "-m", "nbmodels.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_prune_and_du(tmp_path, iris):
    X, y = iris
    store = ModelStore(tmp_path / "m")
    for i in range(3):
        store.save(_dummy(X, y, i), "d", version=f"1.{i}.0", force_new=True)
    store.set_alias("d", "prod", "1.0.0")
    dry = _cli("--store", "m", "prune", "--keep-last", "1", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would delete 1 version(s)" in dry.stdout and "add --yes" in dry.stdout
    assert "kept d@1.0.0: aliased as prod" in dry.stdout
    done = _cli("--store", "m", "prune", "--keep-last", "1", "--yes", "--json", cwd=tmp_path)
    assert [d["ref"] for d in json.loads(done.stdout)["deleted"]] == ["d@1.1.0"]
    assert store.versions("d") == ["1.0.0", "1.2.0"]
    assert _cli("--store", "m", "prune", cwd=tmp_path).returncode == 2
    du = _cli("--store", "m", "du", "--json", cwd=tmp_path)
    data = json.loads(du.stdout)
    assert [(r["name"], r["version"]) for r in data["versions"]] == [("d", "1.0.0"), ("d", "1.2.0")]
    assert data["store_bytes"] >= data["versions_bytes"] > 0
    human = _cli("--store", "m", "du", cwd=tmp_path)
    assert "store total" in human.stdout


def test_the_save_magic_shows_the_size_warning_as_one_line(tmp_path, monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("NBMODELS_SIZE_WARNING", "1kB")
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbmodels")
    shell.run_line_magic("config", f"ModelMagics.store_dir = {str(tmp_path / 'models')!r}")
    try:
        shell.run_cell(
            "from sklearn.datasets import load_iris\n"
            "from sklearn.ensemble import RandomForestClassifier\n"
            "X, y = load_iris(return_X_y=True, as_frame=True)\n"
            "rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)\n"
        )
        capsys.readouterr()
        saved = shell.run_line_magic("save_model", "rf")
        err = capsys.readouterr().err
    finally:
        shell.run_line_magic("unload_ext", "nbmodels")
        shell.run_line_magic("config", "ModelMagics.store_dir = ''")
        shell.reset()
    assert saved.version == "1.0.0"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ModelSizeWarning: rf@1.0.0 is ") and "compress=3" in lines[0]
