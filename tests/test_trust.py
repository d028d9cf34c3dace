"""Trust: a pickle this user neither saved nor trusted is refused before it runs.

The canary is a pickle whose unpickling creates a folder (``os.mkdir``): if the folder
appears, code from the artifact ran. Trust is kept per artifact hash in the user's own
config folder (``NBMODELS_CONFIG_DIR``, a temporary folder per test), never in a store.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbmodels import ModelStore
from nbmodels.errors import IntegrityError, UntrustedArtifactError
from nbmodels.store import trust


class _Canary:
    """Unpickling this calls ``os.mkdir(path)``: proof that the pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _hand_made(root: Path, name: str, canary: Path) -> None:
    """A folder made by hand (as a colleague's store or an archive holds it), adopted."""
    folder = root / "trained" / f"{name}_v1.0.0"
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(pickle.dumps(_Canary(canary)))
    assert ModelStore(root).rebuild_index().adopted == [f"{name}@1.0.0"]


def _other_user(monkeypatch, tmp_path: Path) -> Path:
    config = tmp_path / "other_user_config"
    monkeypatch.setenv(trust.CONFIG_ENV, str(config))
    return config


def test_own_saves_load_without_ceremony_and_trust_lives_outside_the_store(store, tmp_path):
    store.save({"w": [1, 2]}, "mine")
    assert store.load("mine") == {"w": [1, 2]}
    sha = store.record("mine").files[0]["sha256"]
    assert sha in trust.trust_file().read_text()
    assert trust.trust_file().parent == Path(os.environ[trust.CONFIG_ENV])
    # Nothing in the store says what this user trusts.
    for path in store.root.rglob("*"):
        if path.is_file():
            assert "trusted" not in path.name
            assert b"saved\tmine@1.0.0" not in path.read_bytes()


def test_adopted_pickle_is_refused_before_it_runs(store, tmp_path, monkeypatch):
    canary = tmp_path / "ran"
    _hand_made(store.root, "hand", canary)
    with pytest.raises(UntrustedArtifactError) as caught:
        store.load("hand")
    assert not canary.exists(), "the pickle ran before the trust check"
    message = str(caught.value)
    for needed in ("hand@1.0.0", str(store.root), "origin adopted", "created_at",
                   "can run any code", "python -m pickletools", "model.joblib",
                   "skops.io.get_untrusted_types", "trust=True", "%load_model hand@1.0.0 "
                   "--trust", "nbmodels trust hand@1.0.0", str(trust.trust_file())):
        assert needed in message, (needed, message)
    assert "\n" not in message
    assert caught.value.ref == "hand@1.0.0"
    # The drop-in function refuses the same way.
    import nbmodels

    monkeypatch.setenv("NBMODELS_HOME", str(store.root))
    with pytest.raises(UntrustedArtifactError):
        nbmodels.load_model("hand")
    assert not canary.exists()
    store.load("hand", trust=True)
    assert canary.is_dir(), "trust=True loads it"
    canary.rmdir()
    store.load("hand")  # remembered
    assert canary.is_dir()


def test_a_forged_record_does_not_make_a_pickle_trusted(store, tmp_path):
    """The record is written by whoever can write the store: origin, author and
    content_hash in it decide nothing."""
    canary = tmp_path / "ran"
    _hand_made(store.root, "forged", canary)
    meta = store.root / "metadata" / "forged_v1.0.0" / "metadata.json"
    record = json.loads(meta.read_text())
    record.update(origin="saved", author="you", content_hash="0" * 64)
    meta.write_text(json.dumps(record))
    with pytest.raises(UntrustedArtifactError, match="origin saved, author you"):
        store.load("forged")
    assert not canary.exists()


def test_a_copied_store_is_untrusted_for_another_user(store, tmp_path, monkeypatch):
    store.save({"w": 1}, "shared")
    copy = tmp_path / "received"
    shutil.copytree(store.root, copy)
    other = _other_user(monkeypatch, tmp_path)
    received = ModelStore(copy)
    with pytest.raises(UntrustedArtifactError, match="origin saved"):
        received.load("shared")
    assert received.trust("shared@1.0.0") == "1.0.0"
    assert received.load("shared") == {"w": 1}
    assert (other / trust.TRUST_FILE).is_file()
    # Trust follows the bytes, not the store: the original store loads too now.
    assert ModelStore(store.root).load("shared") == {"w": 1}


def test_trust_never_skips_the_hash_check(store, tmp_path):
    canary = tmp_path / "ran"
    _hand_made(store.root, "hand", canary)
    store.trust("hand", "1.0.0")
    artifact = store.root / "trained" / "hand_v1.0.0" / "model.joblib"
    other = tmp_path / "other"
    artifact.write_bytes(pickle.dumps(_Canary(other)))  # same size? checked either way
    with pytest.raises(IntegrityError):
        store.load("hand")
    assert not other.exists() and not canary.exists()


def test_other_users_own_trust_does_not_leak(store, tmp_path, monkeypatch):
    canary = tmp_path / "ran"
    _hand_made(store.root, "hand", canary)
    store.trust("hand", "1.0.0")
    _other_user(monkeypatch, tmp_path)
    with pytest.raises(UntrustedArtifactError):
        store.load("hand")
    assert not canary.exists()


def test_safe_formats_and_weights_only_loads_are_not_asked(store, tmp_path, monkeypatch):
    skops = pytest.importorskip("skops")
    assert skops
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0], [1], [2], [3]], [0, 0, 1, 1])
    store.save(model, "safe", format="skops")
    _other_user(monkeypatch, tmp_path)
    assert ModelStore(store.root).load("safe").predict([[3]])[0] == 1
    fmt = type("F", (), {"executes_code_on_load": True})()
    assert trust.code_runs_on_load(fmt, {}) is True
    assert trust.code_runs_on_load(fmt, {"weights_only": True}) is False
    assert trust.code_runs_on_load(fmt, {"into": object()}) is False


def test_config_folder_defaults_to_the_user_config_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv(trust.CONFIG_ENV)
    assert trust.config_dir() == Path(platformdirs.user_config_dir("nbmodels",
                                                                   appauthor=False))


def test_a_trust_file_that_is_not_a_regular_file_is_an_error_not_a_hang(store):
    trust.trust_file().parent.mkdir(parents=True, exist_ok=True)
    trust.trust_file().unlink(missing_ok=True)  # what the session's fixtures trusted
    os.mkfifo(trust.trust_file())
    with pytest.raises(UntrustedArtifactError, match="cannot be read"):
        trust.trusted_hashes()


def test_cli_trust_and_magic_trust(store, tmp_path):
    canary = tmp_path / "ran"
    _hand_made(store.root, "hand", canary)
    bad = subprocess.run([sys.executable, "-m", "nbmodels.cli", "trust", "hand",
                          "--store", str(store.root)], capture_output=True, text=True)
    assert bad.returncode != 0 and "NAME@VERSION" in bad.stderr
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nbmodels")
    ip.run_line_magic("config", f"ModelMagics.store_dir = {str(store.root)!r}")
    try:
        with pytest.raises(UsageError, match="--trust"):
            ip.run_line_magic("load_model", "hand")
        assert not canary.exists()
        ip.run_line_magic("load_model", "hand --trust")
        assert canary.is_dir()
    finally:
        ip.run_line_magic("unload_ext", "nbmodels")
        ip.run_line_magic("config", "ModelMagics.store_dir = ''")
    canary.rmdir()
    done = subprocess.run([sys.executable, "-m", "nbmodels.cli", "trust", "hand@1.0.0",
                           "--store", str(store.root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "trusted hand@1.0.0" in done.stdout
