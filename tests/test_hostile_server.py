"""A real ``jupyter server`` over a hostile store: every answer is JSON, nothing hangs,
nothing outside the store is served, and the server keeps serving.

The store holds damaged records (NaN, nesting too deep, a FIFO in place of a record),
a FIFO in place of an evaluation file and of an aliases file, and links out of the
store in place of an evaluation folder, a data set folder and a version folder. Every
endpoint is asked about every model; then store errors (a link in place of the locks
folder) and hostile bodies (JSON nested too deeply).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from browser_support import API, NBMODELS_EXTENSION, JupyterServer, start_jupyter

from nbmodels import ModelStore

SECRET = b"hostile-server-secret-outside-the-store"
MODELS = ["good", "nanrec", "fiforec", "deep", "fifoeval", "fifoalias", "evlink", "dslink",
          "verlink"]


def _fill(root: Path, outside: Path) -> None:
    store = ModelStore(root)
    for name in MODELS:
        store.save({"n": name}, name, version="1.0.0")
        store.save({"n": name, "v": 2}, name, version="1.1.0")
        store.write_evaluation(name, "1.1.0", {"metrics.json": b'{"accuracy": 0.5}'})
        store.write_evaluation(name, "1.1.0", {"metrics.json": b'{"accuracy": 0.4}'},
                               dataset="holdout")
        store.set_alias(name, "production", "1.0.0")
    meta = root / "metadata"
    text = (meta / "nanrec_v1.1.0/metadata.json").read_text()
    (meta / "nanrec_v1.1.0/metadata.json").write_text(text.replace('"size_bytes": ',
                                                                   '"x": NaN, "size_bytes": '))
    (meta / "deep_v1.1.0/metadata.json").write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    (meta / "deep_v1.0.0/metadata.json").write_text("[" * 100 + "]" * 100)
    (meta / "fiforec_v1.1.0/metadata.json").unlink()
    os.mkfifo(meta / "fiforec_v1.1.0/metadata.json")
    (root / "evaluation/fifoeval_v1.1.0/metrics.json").unlink()
    os.mkfifo(root / "evaluation/fifoeval_v1.1.0/metrics.json")
    (root / "registry/aliases/fifoalias.json").unlink()
    os.mkfifo(root / "registry/aliases/fifoalias.json")
    for rel, name in (("evaluation/evlink_v1.1.0", "evaluation"),
                      ("evaluation/dslink_v1.1.0/holdout", "holdout"),
                      ("metadata/verlink_v1.1.0", "metadata")):
        target = outside / name
        target.mkdir()
        for filename in ("metrics.json", "metadata.json", "report.html"):
            (target / filename).write_bytes(SECRET)
        shutil.rmtree(root / rel)
        (root / rel).symlink_to(target, target_is_directory=True)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Any:
    base = tmp_path_factory.mktemp("hostile_server")
    store_root, outside = base / "store", base / "outside"
    outside.mkdir()
    _fill(store_root, outside)
    with start_jupyter(base, env={"NBMODELS_HOME": str(store_root)},
                       extra_args=[NBMODELS_EXTENSION], ready_path=f"{API}/store") as srv:
        srv.store_root = store_root
        yield srv


def _answer(server: JupyterServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request (20 s timeout: a hang fails); the payload must be JSON or a file."""
    status, headers, payload = server.request(method, API + path, body)
    assert SECRET not in payload, f"{path} served a file from outside the store"
    if status >= 400 or headers.get("content-type", "").startswith("application/json"):
        assert headers["content-type"].startswith("application/json"), (path, status, payload)
        data = json.loads(payload) if payload else None
        if status >= 400:
            assert data["message"] and "Traceback" not in data["message"], (path, data)
            assert "traceback" not in data, (path, data)
        return status, data
    return status, payload


def test_listing_and_verify_answer_with_the_damaged_versions_marked(hostile):
    status, body = _answer(hostile, "GET", "/models")
    assert status == 200
    latest = {m["name"]: m["latest"] for m in body["models"]}
    assert latest["good"] == "1.1.0" and latest["nanrec"] == "1.0.0"
    assert latest["fiforec"] == "1.0.0" and "deep" not in latest
    damaged = {(d["name"], d["version"], d["kind"]) for d in body["damaged"]}
    assert {("nanrec", "1.1.0", "invalid_metadata"), ("fiforec", "1.1.0", "special_file"),
            ("deep", "1.1.0", "invalid_metadata"),
            ("deep", "1.0.0", "invalid_metadata")} <= damaged
    for deep in ("true", "false"):
        status, report = _answer(hostile, "GET", f"/verify?deep={deep}")
        assert status == 200 and report["ok"] is False
        found = {(p["kind"], p["path"]) for p in report["problems"]}
        assert {("invalid_metadata", "metadata/nanrec_v1.1.0/metadata.json"),
                ("special_file", "metadata/fiforec_v1.1.0/metadata.json"),
                ("special_file", "evaluation/fifoeval_v1.1.0/metrics.json"),
                ("special_file", "registry/aliases/fifoalias.json"),
                ("special_file", "evaluation/evlink_v1.1.0"),
                ("special_file", "evaluation/dslink_v1.1.0/holdout"),
                ("special_file", "metadata/verlink_v1.1.0")} <= found


@pytest.mark.parametrize("name", MODELS)
def test_every_endpoint_answers_for_every_model(hostile, name):
    paths = [f"/models/{name}", f"/models/{name}/latest", f"/models/{name}/1.0.0",
             f"/models/{name}/1.1.0", f"/models/{name}/production",
             f"/models/{name}/aliases/production", f"/models/{name}/1.1.0/evaluation",
             f"/models/{name}/1.1.0/evaluation/metrics.json",
             f"/models/{name}/1.1.0/evaluation/report.html",
             f"/models/{name}/1.1.0/evaluation/metrics.json?dataset=holdout"]
    for path in paths:
        status, _ = _answer(hostile, "GET", path)
        assert status in (200, 400, 404, 409), (path, status)
    assert _answer(hostile, "GET", "/store")[0] == 200  # still serving


def test_a_deeply_nested_body_is_a_400(hostile):
    body = b'{"version": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, data = _answer(hostile, "PUT", "/models/good/aliases/staging", body)
    assert status == 400 and "nested too deeply" in data["message"]
    status, data = _answer(hostile, "PUT", "/models/good/aliases/staging", b'{"version": [1]}')
    assert status == 400


def test_a_store_error_is_json_and_the_server_keeps_serving(hostile, tmp_path):
    status, data = _answer(hostile, "PUT", "/models/fifoalias/aliases/staging",
                           {"version": "1.0.0"})
    assert status == 409 and "fifoalias.json" in data["message"]
    locks = hostile.store_root / "registry" / "locks"
    moved = tmp_path / "locks"
    locks.rename(moved)
    locks.symlink_to(moved, target_is_directory=True)
    try:
        status, data = _answer(hostile, "PUT", "/models/good/aliases/staging",
                               {"version": "1.0.0"})
        assert status == 500 and data["error"] == "StoreError"
        assert "registry/locks is a symbolic link" in data["message"]
    finally:
        locks.unlink()
        moved.rename(locks)
    assert _answer(hostile, "GET", "/store")[0] == 200
    status, data = _answer(hostile, "PUT", "/models/good/aliases/staging", {"version": "1.0.0"})
    assert status == 200 and data["version"] == "1.0.0"


@pytest.mark.parametrize("name", MODELS)
def test_the_pages_render_a_hostile_store(hostile, name):
    """The registry pages read the same core: every page answers, nothing outside is
    shown, and the server keeps serving."""
    for path in ("/nbmodels/", f"/nbmodels/models/{name}", f"/nbmodels/models/{name}/1.1.0",
                 f"/nbmodels/models/{name}/latest", f"/nbmodels/compare?refs={name}@1.0.0,"
                 f"{name}@1.1.0"):
        status, _, payload = hostile.request("GET", path)
        assert status < 500, (path, status, payload[-500:])
        assert SECRET not in payload, f"{path} showed a file from outside the store"
    assert _answer(hostile, "GET", "/store")[0] == 200
