"""Shared fixtures: a real store in a temporary folder and small, really fitted models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbmodels import ModelStore

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test's default store lives in its own tmp folder, never in ./models."""
    home = tmp_path / "home_models"
    monkeypatch.setenv("NBMODELS_HOME", str(home))
    # Subprocesses started by tests import the helper modules in tests/.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p))
    return home


@pytest.fixture
def store(tmp_path) -> ModelStore:
    """An empty store at ``tmp_path/models`` (created by its first save)."""
    return ModelStore(tmp_path / "models")


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def _fitted(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    return LogisticRegression(max_iter=1000).fit(X, y)


@pytest.fixture
def small_model(_fitted, iris):
    """``(model, X, y)``: a LogisticRegression fitted on iris (a DataFrame with names)."""
    X, y = iris
    return _fitted, X, y


@pytest.fixture(scope="session")
def forest(iris):
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    return RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)


def pytest_configure(config):
    """The session's own config folder, never the real user's: module- and
    session-scoped fixtures (stores built once for many tests) record their trust here."""
    import tempfile

    os.environ["NBMODELS_CONFIG_DIR"] = tempfile.mkdtemp(prefix="nbmodels-test-config-")


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory, monkeypatch):
    """Every test's trust decisions live in its own temporary config folder, never in
    the real user's (subprocesses, kernels and servers inherit it). It starts with what
    the session's shared fixtures saved, so a store built once for a module loads in
    each of its tests as it would for the user who saved it."""
    import shutil

    config = tmp_path_factory.mktemp("nbmodels_config")
    shared = Path(os.environ["NBMODELS_CONFIG_DIR"]) / "trusted_artifacts.txt"
    if shared.is_file():
        shutil.copyfile(shared, config / "trusted_artifacts.txt")
    monkeypatch.setenv("NBMODELS_CONFIG_DIR", str(config))
    return config


# -- a real S3 API on loopback (moto), for the remote store ------------------------------------

@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1 for the whole session, with fake credentials in the
    environment (for the tests only: restored afterwards). Skipped without moto/s3fs."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from s3_endpoint import S3Endpoint

    endpoint = S3Endpoint().start()
    saved = {k: os.environ.get(k) for k in endpoint.env()}
    os.environ.update(endpoint.env())
    try:
        yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        endpoint.stop()


@pytest.fixture
def s3_url(s3_endpoint, tmp_path, monkeypatch) -> str:
    """A fresh bucket's store URL (``s3://nbm-.../models``), with this test's own
    artifact cache."""
    import uuid

    bucket = f"nbm-{uuid.uuid4().hex[:16]}"
    s3_endpoint.make_bucket(bucket)
    monkeypatch.setenv("NBMODELS_CACHE_DIR", str(tmp_path / "artifact-cache"))
    return f"s3://{bucket}/models"


@pytest.fixture
def s3_store(s3_url) -> ModelStore:
    """An empty store in a fresh bucket of the loopback S3 endpoint."""
    return ModelStore(s3_url)
