"""More of the store on S3 (moto's server on loopback): edit, prune, du, export/import,
copy_to and ``nbmodels push``/``pull``, gc and rebuild-index, and the Jupyter server's
registry pages on a store configured as an ``s3://`` URL (issues 15 and 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nbmodels import ModelStore


def keys(store: ModelStore) -> list[str]:
    """Every object key under the store's prefix, relative to it."""
    root = store.fs.key("x").rsplit("/", 1)[0]
    try:
        found = store.fs.fs.find(root)
    except FileNotFoundError:
        return []
    return sorted(k[len(root) + 1 :] for k in found)


def artifact_bytes(store: ModelStore, name: str, version: str) -> dict[str, bytes]:
    """Each artifact of ``name@version``, read straight from the store's backend."""
    rec = store.record(name, version)
    folder = f"trained/{name}_v{version}"
    return {f["name"]: store.fs.read_bytes(f"{folder}/{f['name']}") for f in rec.files}


def fill(store: ModelStore) -> None:
    """Two models, an alias and an evaluation file, in ``store``."""
    store.save({"w": list(range(500))}, "m", description="first", tags=["a"])
    store.save({"w": list(range(600))}, "m")
    store.save({"k": 1}, "other")
    store.set_alias("m", "production", "1.0.0")
    store.write_evaluation("m", "1.0.0", {"metrics.json": b'{"accuracy": 0.5}'})


# -- edit, prune, du -------------------------------------------------------------------------
def test_edit_description_and_tags_on_s3(s3_store):
    s3_store.save({"a": 1}, "m", description="old", tags=["x", "y"])
    rec = s3_store.edit("m", "1.0.0", description="new words", add_tags=["z"], remove_tags=["x"])
    assert rec["description"] == "new words" and rec["tags"] == ["y", "z"]
    fresh = ModelStore(s3_store.root)
    again = fresh.record("m", "1.0.0")
    assert again["description"] == "new words" and again["tags"] == ["y", "z"]
    assert again["edits"][-1]["changes"]["description"] == {"from": "old", "to": "new words"}
    card = fresh.fs.read_bytes("metadata/m_v1.0.0/model_card.md").decode()
    assert "new words" in card
    assert fresh.list()[0]["tags"] == ["y", "z"]
    assert fresh.load("m") == {"a": 1}
    assert fresh.verify().ok, fresh.verify()


def test_prune_on_s3_dry_run_then_real(s3_store):
    for i in range(5):
        s3_store.save({"i": i}, "m", tags=["keep"] if i == 1 else None)
    s3_store.set_alias("m", "production", "1.0.0")
    before = keys(s3_store)
    plan = s3_store.prune(keep_last=1)
    assert [d["ref"] for d in plan.deleted] == ["m@1.2.0", "m@1.3.0"]
    assert plan.dry_run and plan.bytes_reclaimed > 0
    assert keys(s3_store) == before, "a dry run deletes nothing"
    done = ModelStore(s3_store.root).prune(keep_last=1, dry_run=False)
    assert [d["ref"] for d in done.deleted] == ["m@1.2.0", "m@1.3.0"]
    fresh = ModelStore(s3_store.root)
    assert fresh.versions("m") == ["1.0.0", "1.1.0", "1.4.0"]
    assert fresh.aliases("m") == {"production": "1.0.0"}
    assert not any("m_v1.2.0" in k or "m_v1.3.0" in k for k in keys(fresh))
    assert fresh.verify().ok, fresh.verify()
    # Even "everything older than now" never takes the latest, aliased or keep-tagged.
    last = fresh.prune(older_than="0s", dry_run=False)
    assert last.deleted == []
    assert {k["ref"]: k["reason"] for k in last.kept} == {
        "m@1.0.0": "aliased as production",
        "m@1.1.0": "tagged keep",
        "m@1.4.0": "latest",
    }
    assert ModelStore(s3_store.root).versions("m") == ["1.0.0", "1.1.0", "1.4.0"]


def test_du_on_s3_counts_the_objects(s3_store):
    fill(s3_store)
    usage = ModelStore(s3_store.root).du()
    rows = {(r["name"], r["version"]): r for r in usage.versions}
    assert set(rows) == {("m", "1.0.0"), ("m", "1.1.0"), ("other", "1.0.0")}
    for (name, version), row in rows.items():
        arts = artifact_bytes(s3_store, name, version)
        assert row["artifacts"] == sum(len(b) for b in arts.values())
        assert row["metadata"] > 0
    evaluation = [k for k in keys(s3_store) if k.startswith("evaluation/m_v1.0.0/")]
    assert "evaluation/m_v1.0.0/metrics.json" in evaluation
    assert rows[("m", "1.0.0")]["evaluation"] == sum(s3_store.fs.stat(k).size for k in evaluation)
    assert rows[("m", "1.1.0")]["evaluation"] == 0
    total = sum(s3_store.fs.stat(k).size for k in keys(s3_store))
    assert usage.store_bytes == total
    assert usage.models["m"] == rows[("m", "1.0.0")]["total"] + rows[("m", "1.1.0")]["total"]


# -- export / import -------------------------------------------------------------------------
@pytest.fixture
def second_s3_url(s3_endpoint) -> str:
    import uuid

    bucket = f"nbm-{uuid.uuid4().hex[:16]}"
    s3_endpoint.make_bucket(bucket)
    return f"s3://{bucket}/team"


@pytest.mark.parametrize("suffix", ["zip", "tar.gz"])
def test_export_from_s3_and_import_into_s3_and_local(s3_store, second_s3_url, tmp_path, suffix):
    fill(s3_store)
    archive = tmp_path / f"out.{suffix}"
    report = s3_store.export("all", archive)
    assert sorted(report.versions) == ["m@1.0.0", "m@1.1.0", "other@1.0.0"]
    assert archive.is_file() and archive.stat().st_size == report.size_bytes
    for target in (ModelStore(second_s3_url), ModelStore(tmp_path / "local")):
        result = target.import_(archive)
        assert sorted(result.imported) == ["m@1.0.0", "m@1.1.0", "other@1.0.0"]
        for name, version in (("m", "1.0.0"), ("m", "1.1.0"), ("other", "1.0.0")):
            assert artifact_bytes(target, name, version) == artifact_bytes(s3_store, name, version)
        assert target.aliases("m") == {"production": "1.0.0"}
        assert target.load("m@production") == {"w": list(range(500))}
        assert target.read_evaluation_file("m", "1.0.0", "metrics.json") == b'{"accuracy": 0.5}'
        assert target.verify().ok, target.verify()
        again = target.import_(archive)
        assert again.imported == [] and len(again.identical) == 3


# -- copy_to, push, pull ---------------------------------------------------------------------
def test_copy_to_local_to_s3_and_back(s3_store, tmp_path):
    local = ModelStore(tmp_path / "local")
    fill(local)
    report = local.copy_to(s3_store, "m", "other@1.0.0")
    assert sorted(report.imported) == ["m@1.0.0", "m@1.1.0", "other@1.0.0"]
    remote = ModelStore(s3_store.root)
    for name, version in (("m", "1.0.0"), ("m", "1.1.0"), ("other", "1.0.0")):
        assert artifact_bytes(remote, name, version) == artifact_bytes(local, name, version)
    assert remote.read_evaluation_file("m", "1.0.0", "metrics.json") == b'{"accuracy": 0.5}'
    assert remote.verify().ok, remote.verify()

    # The alias of a copied version goes along (tests/test_transfer_aliases.py has more).
    assert remote.aliases("m") == {"production": "1.0.0"}
    assert report.aliases_set == ["m@production -> 1.0.0"]
    remote.set_alias("m", "staging", "1.1.0")
    back = ModelStore(tmp_path / "back")
    report = remote.copy_to(back, "m@production", "m@1.1.0")
    assert sorted(report.imported) == ["m@1.0.0", "m@1.1.0"]
    assert back.aliases("m") == {"production": "1.0.0", "staging": "1.1.0"}
    assert back.versions("m") == ["1.0.0", "1.1.0"]
    assert artifact_bytes(back, "m", "1.1.0") == artifact_bytes(local, "m", "1.1.0")
    assert back.load("m", "1.0.0") == {"w": list(range(500))}
    assert back.verify().ok, back.verify()
    assert remote.copy_to(back, "m@1.1.0").identical == ["m@1.1.0"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbmodels.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_push_and_pull_cli_with_an_s3_store(s3_endpoint, s3_url, tmp_path):
    local, pulled = tmp_path / "local", tmp_path / "pulled"
    fill(ModelStore(local))
    env = {**os.environ, **s3_endpoint.env()}
    done = run_cli("--store", str(local), "push", "m@1.1.0", "other", "--to", s3_url, env=env)
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in ModelStore(s3_url).list()] == ["m", "other"]
    assert ModelStore(s3_url).versions("m") == ["1.1.0"]
    done = run_cli("--store", str(pulled), "pull", "m", "--from", s3_url, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == ["m@1.1.0"]
    assert artifact_bytes(ModelStore(pulled), "m", "1.1.0") == artifact_bytes(
        ModelStore(local), "m", "1.1.0"
    )
    assert ModelStore(pulled).verify().ok
    # The CLI's du on the S3 store, in the same subprocess setting.
    done = run_cli("--store", s3_url, "du", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["models"]) == {"m", "other"}


# -- gc and rebuild-index --------------------------------------------------------------------
def test_rebuild_index_and_gc_on_s3(s3_store, monkeypatch):
    fill(s3_store)
    s3_store.fs.remove_tree("registry/index")
    rebuilt = ModelStore(s3_store.root).rebuild_index()
    assert (rebuilt.models, rebuilt.versions) == (2, 3)
    fresh = ModelStore(s3_store.root)
    assert fresh.latest("m") == "1.1.0" and fresh.versions("other") == ["1.0.0"]
    assert fresh.aliases("m") == {"production": "1.0.0"}
    # What a crashed save leaves: a claimed version folder without a record.
    fresh.fs.create_exclusive("trained/m_v2.0.0/.nbmodels-incomplete", b"")
    fresh.fs.replace("trained/m_v2.0.0/model.joblib", b"partial")
    monkeypatch.setenv("NBMODELS_GC_GRACE_SECONDS", "0")
    plan = fresh.gc(dry_run=True)
    assert [p for p, _ in plan.removed] == ["trained/m_v2.0.0"]
    assert "trained/m_v2.0.0/model.joblib" in keys(fresh)
    assert [p for p, _ in fresh.gc().removed] == ["trained/m_v2.0.0"]
    assert not any("m_v2.0.0" in k for k in keys(fresh))
    assert fresh.verify().ok, fresh.verify()
    assert fresh.load("m") == {"w": list(range(600))}


# -- the registry pages on an S3 store (issue 16) -------------------------------------------
def test_jupyter_server_pages_on_an_s3_store(s3_endpoint, s3_url, tmp_path):
    from browser_support import start_jupyter

    store = ModelStore(s3_url)
    fill(store)
    store.edit("m", "1.1.0", description="the remote one")
    env = {**s3_endpoint.env(), "NBMODELS_HOME": str(tmp_path / "not-this-one")}
    args = [
        "--ServerApp.jpserver_extensions=nbmodels.server=True",
        f"--NBModels.store_dir={s3_url}",
    ]
    with start_jupyter(
        tmp_path / "srv", env=env, extra_args=args, ready_path="/nbmodels/api/store"
    ) as srv:
        status, _, body = srv.request("GET", "/nbmodels/api/store")
        assert status == 200, srv.log_tail()
        assert json.loads(body)["root"] == s3_url
        status, _, body = srv.request("GET", "/nbmodels/api/models")
        assert status == 200, srv.log_tail()
        models = {m["name"]: m for m in json.loads(body)["models"]}
        assert set(models) == {"m", "other"}
        assert models["m"]["latest"] == "1.1.0"
        assert models["m"]["aliases"] == {"production": "1.0.0"}
        status, _, body = srv.request("GET", "/nbmodels/api/models/m/production")
        assert status == 200 and json.loads(body)["version"] == "1.0.0"
        status, headers, page = srv.request("GET", "/nbmodels/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        html = page.decode()
        assert "other" in html and "the remote one" in html and s3_url in html
        status, _, page = srv.request("GET", "/nbmodels/models/m")
        assert status == 200, srv.log_tail()
        html = page.decode()
        assert "1.0.0" in html and "1.1.0" in html and "production" in html
        status, _, page = srv.request("GET", "/nbmodels/models/m/1.0.0")
        assert status == 200, srv.log_tail()
        assert "metrics.json" in page.decode(), "the evaluation files in the bucket are listed"
        status, headers, body = srv.request(
            "GET", "/nbmodels/api/models/m/1.0.0/evaluation/metrics.json"
        )
        assert status == 200 and body == b'{"accuracy": 0.5}'
        assert srv.request("GET", "/nbmodels/api/models", token=False)[0] in (401, 403)


def test_cli_maintenance_commands_on_s3_stores(s3_endpoint, s3_url, second_s3_url, tmp_path):
    store = ModelStore(s3_url)
    for i in range(4):
        store.save({"i": i}, "m")
    store.set_alias("m", "production", "1.0.0")
    env = {**os.environ, **s3_endpoint.env()}

    done = run_cli(
        "--store", s3_url, "edit", "m@1.3.0", "--description", "cli", "--add-tags", "t1", env=env
    )
    assert done.returncode == 0, done.stderr
    rec = ModelStore(s3_url).record("m", "1.3.0")
    assert (rec["description"], rec["tags"]) == ("cli", ["t1"])

    done = run_cli("--store", s3_url, "--json", "prune", "--keep-last", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert [d["ref"] for d in json.loads(done.stdout)["deleted"]] == ["m@1.1.0", "m@1.2.0"]
    assert ModelStore(s3_url).versions("m") == ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    done = run_cli("--store", s3_url, "prune", "--keep-last", "1", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert ModelStore(s3_url).versions("m") == ["1.0.0", "1.3.0"]

    archive = tmp_path / "m.tar.gz"
    done = run_cli("--store", s3_url, "export", "m", "--to", str(archive), env=env)
    assert done.returncode == 0, done.stderr
    done = run_cli("--store", second_s3_url, "--json", "import", str(archive), env=env)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["imported"]) == ["m@1.0.0", "m@1.3.0"]
    team = ModelStore(second_s3_url)
    assert team.aliases("m") == {"production": "1.0.0"}
    assert artifact_bytes(team, "m", "1.3.0") == artifact_bytes(store, "m", "1.3.0")
    assert team.record("m", "1.3.0")["description"] == "cli"

    team.fs.remove_tree("registry/index")
    for command in (["rebuild-index"], ["gc"], ["verify"]):
        done = run_cli("--store", second_s3_url, *command, env=env)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert ModelStore(second_s3_url).versions("m") == ["1.0.0", "1.3.0"]
