"""The Jupyter server extension, over a real HTTP server on the loopback interface.

One ``jupyter server`` subprocess per module serves a temporary store filled with real
scikit-learn models; the tests talk to it with a token, as JupyterLab or a script would.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from browser_support import API, NBMODELS_EXTENSION, start_jupyter

from nbmodels import ModelStore

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILE = REPO / "jupyter-config" / "jupyter_server_config.d" / "nbmodels.json"
TOKEN = secrets.token_hex(16)
SECRET = b"nbmodels-test-secret-outside-the-store"


def _png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG, without matplotlib."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


PNG = _png()


def _fill_store(root: Path) -> None:
    """Two real models (three versions), an alias, evaluation files and a broken record."""
    from sklearn.datasets import load_iris, make_regression
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    store = ModelStore(root)
    X, y = load_iris(return_X_y=True)
    # 1.10.0 > 1.2.0 in semver order, not in string order.
    store.save(LogisticRegression(max_iter=300).fit(X, y), "iris_clf", version="1.2.0",
               description="baseline")
    store.save(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y), "iris_clf",
               version="1.10.0")
    Xr, yr = make_regression(n_samples=40, n_features=3, random_state=0)
    store.save(LinearRegression().fit(Xr, yr), "diabetes")
    store.set_alias("iris_clf", "production", "1.2.0")

    evaluation = store.version_path("evaluation", "iris_clf", "1.2.0")
    evaluation.mkdir(parents=True)
    (evaluation / "confusion_matrix.png").write_bytes(PNG)
    (evaluation / "metrics.json").write_text(json.dumps({"accuracy": 0.97}))
    (evaluation / "report.html").write_text("<html><body>report</body></html>")
    (evaluation / "holdout").mkdir()
    (evaluation / "holdout" / "metrics.json").write_text(json.dumps({"accuracy": 0.91}))
    # A link out of the store must not be followed, whatever its name.
    with contextlib.suppress(OSError):
        (evaluation / "leak.png").symlink_to(root.parent / "secret.txt")

    store.save(LogisticRegression(max_iter=300).fit(X, y), "broken")
    store.version_path("metadata", "broken", "1.0.0").joinpath("metadata.json").write_text(
        "{not json")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Any:
    base = tmp_path_factory.mktemp("nbmodels_server")
    store_root = base / "store"
    (base / "secret.txt").write_bytes(SECRET)
    _fill_store(store_root)
    with start_jupyter(base, env={"NBMODELS_HOME": str(store_root)},
                       extra_args=[NBMODELS_EXTENSION], ready_path=f"{API}/store",
                       token=TOKEN) as srv:
        srv.store_root = store_root
        yield srv


# -- reading ---------------------------------------------------------------------------------
def test_store_endpoint_names_the_root_and_counts_models(server):
    status, body = server.json("GET", "/store")
    assert status == 200
    assert body["root"] == str(server.store_root)
    assert body["exists"] is True
    assert body["models"] == 2  # the broken record is not listed


def test_models_lists_latest_versions_and_aliases(server):
    status, body = server.json("GET", "/models")
    assert status == 200
    by_name = {m["name"]: m for m in body["models"]}
    assert set(by_name) == {"iris_clf", "diabetes"}
    assert by_name["iris_clf"]["latest"] == "1.10.0"
    assert by_name["iris_clf"]["aliases"] == {"production": "1.2.0"}
    assert (by_name["iris_clf"]["versions"], by_name["diabetes"]["versions"]) == (2, 1)
    assert by_name["diabetes"]["format"] == "joblib"


def test_model_shows_versions_in_semver_order_and_aliases(server):
    status, body = server.json("GET", "/models/iris_clf")
    assert status == 200
    assert body == {"name": "iris_clf", "latest": "1.10.0", "versions": ["1.2.0", "1.10.0"],
                    "aliases": {"production": "1.2.0"}}


@pytest.mark.parametrize(("ref", "expected"), [("production", "1.2.0"), ("latest", "1.10.0"),
                                               ("1.10.0", "1.10.0")])
def test_record_by_alias_latest_or_version(server, ref, expected):
    status, record = server.json("GET", f"/models/iris_clf/{ref}")
    assert status == 200
    assert record["model_name"] == "iris_clf"
    assert record["version"] == expected
    assert record["framework"] == "scikit-learn"
    assert record["files"] and all("sha256" in f for f in record["files"])


def test_evaluation_png_is_served_with_its_content_type(server):
    status, headers, payload = server.request(
        "GET", f"{API}/models/iris_clf/production/evaluation/confusion_matrix.png")
    assert status == 200
    assert headers["content-type"] == "image/png"
    assert payload == PNG
    assert "sandbox" in headers["content-security-policy"]


@pytest.mark.parametrize(("filename", "expected"), [
    ("metrics.json", "application/json"), ("report.html", "text/html; charset=utf-8")])
def test_evaluation_json_and_html_content_types(server, filename, expected):
    status, headers, _ = server.request(
        "GET", f"{API}/models/iris_clf/1.2.0/evaluation/{filename}")
    assert status == 200
    assert headers["content-type"] == expected


def test_evaluation_listing(server):
    status, body = server.json("GET", "/models/iris_clf/production/evaluation")
    assert status == 200
    assert body["version"] == "1.2.0"
    assert body["files"] == ["confusion_matrix.png", "metrics.json", "report.html"]
    assert body["datasets"] == ["holdout"]


def test_evaluation_file_of_a_named_dataset(server):
    path = f"{API}/models/iris_clf/production/evaluation/metrics.json?dataset=holdout"
    status, headers, payload = server.request("GET", path)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(payload) == {"accuracy": 0.91}
    status, body = server.json("GET", "/models/iris_clf/production/evaluation/x.png"
                                      "?dataset=holdout")
    assert status == 404
    assert "dataset holdout" in body["message"] and "metrics.json" in body["message"]


def test_verify_reports_the_broken_record(server):
    status, body = server.json("GET", "/verify?deep=false")
    assert status == 200
    assert body["ok"] is False
    assert [(p["kind"], p["path"]) for p in body["problems"]] == [
        ("invalid_metadata", "metadata/broken_v1.0.0/metadata.json"),
        ("special_file", "evaluation/iris_clf_v1.2.0/leak.png")]  # reported, not followed
    assert server.json("GET", "/verify")[1]["problems"] == body["problems"]


# -- writing ---------------------------------------------------------------------------------
def test_set_and_delete_alias(server):
    status, body = server.json("PUT", "/models/iris_clf/aliases/staging", {"version": "latest"})
    assert status == 200, body
    assert body["version"] == "1.10.0"
    assert ModelStore(server.store_root).aliases("iris_clf")["staging"] == "1.10.0"
    assert server.json("GET", "/models/iris_clf/aliases/staging")[1]["version"] == "1.10.0"
    assert server.json("GET", "/models/iris_clf/staging")[1]["version"] == "1.10.0"

    status, body = server.json("DELETE", "/models/iris_clf/aliases/staging")
    assert (status, body) == (204, None)
    assert "staging" not in ModelStore(server.store_root).aliases("iris_clf")
    status, body = server.json("GET", "/models/iris_clf/staging")
    assert status == 404
    assert "production" in body["message"]  # names the aliases that do exist

    status, body = server.json("DELETE", "/models/iris_clf/aliases/staging")
    assert status == 404
    assert "no alias 'staging'" in body["message"]


@pytest.mark.parametrize(("alias", "body", "status", "words"), [
    ("staging", {"version": "9.9.9"}, 404, "no version 9.9.9"),
    ("staging", {"version": "not a version"}, 404, "neither a version nor an alias"),
    ("staging", {}, 400, '{"version": "..."}'),
    ("staging", b"{oops", 400, "JSON"),
    ("1.0.0", {"version": "1.0.0"}, 400, "would be read as a version"),
    ("bad%20alias", {"version": "1.0.0"}, 400, "allowed"),
])
def test_bad_alias_requests_are_refused(server, alias, body, status, words):
    got, reply = server.json("PUT", f"/models/iris_clf/aliases/{alias}", body)
    assert got == status, reply
    assert words in reply["message"]
    assert set(ModelStore(server.store_root).aliases("iris_clf")) == {"production"}


# -- errors and safety -----------------------------------------------------------------------
def test_unknown_model_is_404_with_a_suggestion(server):
    status, body = server.json("GET", "/models/iris_cfl")
    assert status == 404
    assert body["error"] == "ModelNotFoundError"
    assert "did you mean iris_clf" in body["message"]
    assert server.json("GET", "/models/iris_cfl/latest")[0] == 404
    assert server.json("GET", "/models/iris_clf/7.0.0")[0] == 404


@pytest.mark.parametrize("name", ["bad%20name", "bad%2Fname", "..", "bad@1.0.0", "x%00y"])
def test_bad_name_is_400_and_says_what_is_allowed(server, name):
    status, body = server.json("GET", f"/models/{name}")
    assert status == 400, body
    assert body["error"] == "InvalidNameError"
    assert "allowed" in body["message"]


def test_bad_version_in_record_path_is_refused(server):
    status, body = server.json("GET", "/models/iris_clf/1.0")
    assert status in (400, 404)
    assert "iris_clf" in body["message"]


def test_integrity_problem_is_409_and_says_how_to_fix_it(server):
    status, body = server.json("GET", "/models/broken/1.0.0")
    assert status == 409
    assert body["error"] == "IntegrityError"
    assert "metadata/broken_v1.0.0/metadata.json" in body["message"]
    assert "nbmodels verify" in body["message"]


@pytest.mark.parametrize("filename", [
    "..%2F..%2F..%2Fsecret.txt", "%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecret.txt", "..", "%2E%2E",
    "..%5C..%5Csecret.txt", "../../../secret.txt", "../../../../secret.txt",
    "%2Fetc%2Fpasswd", "leak.png", ".hidden", "missing.png",
])
def test_evaluation_file_names_cannot_leave_the_folder(server, filename):
    path = f"{API}/models/iris_clf/1.2.0/evaluation/{filename}"
    status, _, payload = server.request("GET", path)
    assert status in (400, 404), payload
    assert SECRET not in payload
    assert b"root:" not in payload


def test_a_link_out_of_the_store_is_neither_listed_nor_served(server):
    if not (server.store_root / "evaluation" / "iris_clf_v1.2.0" / "leak.png").is_symlink():
        pytest.skip("this filesystem has no symbolic links")
    status, body = server.json("GET", "/models/iris_clf/1.2.0/evaluation/leak.png")
    assert status == 404
    assert "leak.png" not in body["message"].split("files:")[1]


def test_dataset_label_cannot_leave_the_folder(server):
    path = f"{API}/models/iris_clf/1.2.0/evaluation/secret.txt?dataset=..%2F..%2F.."
    status, _, payload = server.request("GET", path)
    assert status == 400
    assert SECRET not in payload


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/models"), ("GET", "/store"), ("GET", "/models/iris_clf/production"),
    ("GET", "/models/iris_clf/1.2.0/evaluation/confusion_matrix.png"), ("GET", "/verify"),
    ("PUT", "/models/iris_clf/aliases/sneaky"), ("DELETE", "/models/iris_clf/aliases/production"),
])
@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_requests_without_a_valid_token_are_refused(server, method, path, token):
    body = {"version": "1.0.0"} if method == "PUT" else None
    status, _, payload = server.request(method, API + path, body, token=token)
    assert status in (401, 403)
    assert b"iris_clf" not in payload and PNG not in payload
    assert ModelStore(server.store_root).aliases("iris_clf") == {"production": "1.2.0"}


# -- wiring ----------------------------------------------------------------------------------
def test_serving_a_listing_imports_no_heavy_library(server):
    """What the handlers run for a listing and a record stays clear of sklearn & co."""
    script = (
        "import sys\n"
        "import nbmodels.server, nbmodels.server.handlers\n"
        "from nbmodels import ModelStore\n"
        f"store = ModelStore({str(server.store_root)!r})\n"
        "store.list().to_dict(); store.versions('iris_clf'); store.aliases('iris_clf')\n"
        "store.record('iris_clf', 'production').to_dict()\n"
        "heavy = ('sklearn', 'matplotlib', 'scipy', 'torch', 'tensorflow', 'onnxruntime')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_store_root_resolution(tmp_path, monkeypatch):
    from nbmodels.server import store_root

    monkeypatch.delenv("NBMODELS_HOME", raising=False)
    root, why = store_root("", tmp_path)
    assert root == tmp_path / "models" and why.startswith("default ./models")
    monkeypatch.setenv("NBMODELS_HOME", str(tmp_path / "home"))
    assert store_root("", tmp_path) == (tmp_path / "home", "from $NBMODELS_HOME")
    assert store_root("shared/models", tmp_path) == (tmp_path / "shared" / "models",
                                                      "from c.NBModels.store_dir")
    assert store_root(str(tmp_path / "abs"), "/elsewhere")[0] == tmp_path / "abs"


def test_config_file_enables_the_extension():
    config = json.loads(CONFIG_FILE.read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"nbmodels.server": True}}}
    module = importlib.import_module("nbmodels.server")
    points = module._jupyter_server_extension_points()
    assert points == [{"module": "nbmodels.server"}]
    loader = importlib.import_module(points[0]["module"])
    assert callable(loader._load_jupyter_server_extension)


def test_jupyter_reads_the_config_file(tmp_path):
    """``jupyter server extension list`` with the file as the user's config: enabled, OK."""
    config_dir = tmp_path / "config"
    (config_dir / "jupyter_server_config.d").mkdir(parents=True)
    shutil.copy(CONFIG_FILE, config_dir / "jupyter_server_config.d" / CONFIG_FILE.name)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}
    env.pop("JUPYTER_NO_CONFIG", None)
    out = subprocess.run([sys.executable, "-m", "jupyter_server.extension.serverextension",
                          "list"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # colours
    section = text.split(f"Config dir: {config_dir}", 1)[1].split("Config dir:", 1)[0]
    assert "nbmodels.server enabled" in section
    assert re.search(r"nbmodels\.server\s+OK", section), section


# -- the store methods the evaluation endpoints and pages are built on ------------------------
def test_store_lists_and_reads_only_regular_plain_named_evaluation_files(tmp_path):
    from sklearn.linear_model import LinearRegression

    from nbmodels import InvalidNameError, ModelNotFoundError

    store = ModelStore(tmp_path / "store")
    store.save(LinearRegression().fit([[0], [1]], [0, 1]), "reg")
    assert store.evaluation_files("reg") == []
    folder = store.version_path("evaluation", "reg", "1.0.0")
    (folder / "holdout").mkdir(parents=True)
    (folder / "roc_curve.png").write_bytes(PNG)
    (folder / ".hidden").write_text("x")
    (folder / "holdout" / "metrics.json").write_text("{}")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    specials = []
    with contextlib.suppress(OSError):
        (folder / "link.png").symlink_to(tmp_path / "secret.txt")
        (folder / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
        specials += ["link.png", "linked_dir"]
    with contextlib.suppress(OSError, AttributeError):
        os.mkfifo(folder / "fifo.png")  # reading it would block forever
        specials.append("fifo.png")

    assert store.evaluation_files("reg") == ["roc_curve.png"]
    assert store.evaluation_datasets("reg") == ["holdout"]
    assert store.evaluation_files("reg", dataset="holdout") == ["metrics.json"]
    assert store.evaluation_files("reg@latest") == store.evaluation_files("reg", "1.0.0")
    assert store.read_evaluation_file("reg", "latest", "roc_curve.png") == PNG
    assert store.read_evaluation_file("reg", "1.0.0", "metrics.json", dataset="holdout") == b"{}"
    for bad in ("holdout/metrics.json", "../../secret.txt", "..", "a\\b", ".hidden"):
        with pytest.raises(InvalidNameError):
            store.read_evaluation_file("reg", "1.0.0", bad)
    with pytest.raises(InvalidNameError):
        store.read_evaluation_file("reg", "1.0.0", "secret.txt", dataset="../..")
    for name in ["missing.png", *specials]:
        with pytest.raises(ModelNotFoundError, match=r"files: roc_curve\.png$"):
            store.read_evaluation_file("reg", "1.0.0", name)
    with pytest.raises(ModelNotFoundError, match=r"reg@1\.0\.0 \(dataset holdout\)"):
        store.read_evaluation_file("reg", "1.0.0", "roc_curve.png", dataset="holdout")


def test_a_store_url_is_passed_to_the_core_untouched(tmp_path):
    from nbmodels.server import store_root

    assert store_root("s3://team-bucket/models", tmp_path) == ("s3://team-bucket/models",
                                                                "from c.NBModels.store_dir")
