"""Export, import, backup and copy between stores: real stores, real models, real archives."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from nbm_helpers import tree_snapshot

from nbmodels import ModelStore
from nbmodels.errors import IntegrityError, NBModelsError, VersionExistsError
from nbmodels.store.archive import (
    SEAL_PREFIX,
    ArchiveError,
    ArchiveLimits,
    export_archive,
    import_archive,
    seal_archive,
)
from nbmodels.store.tree import StoreTree

KINDS = ["zip", "tar.gz"]


def _populate(root: Path, iris) -> ModelStore:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from nbmodels import evaluate

    X, y = iris
    store = ModelStore(root)
    store.save(LogisticRegression(max_iter=500).fit(X, y), "lr", X=X, y=y)
    store.save(LogisticRegression(C=0.3, max_iter=500).fit(X, y), "lr", X=X, y=y, tags="keep")
    store.save(
        RandomForestClassifier(n_estimators=4, max_depth=2, random_state=0).fit(X, y),
        "rf",
        X=X,
        y=y,
        compress=3,
    )
    evaluate(store.load("lr@1.0.0"), X, y, store=store, plots=["confusion_matrix"])
    store.write_evaluation(
        "lr",
        "1.1.0",
        {"metrics.json": b'{"accuracy": 0.9}\n', "notes.txt": b"holdout\n"},
        dataset="holdout",
    )
    store.set_alias("lr", "production", "1.0.0")
    return store


@pytest.fixture(scope="module")
def source(tmp_path_factory, iris) -> ModelStore:
    return _populate(tmp_path_factory.mktemp("src") / "models", iris)


@pytest.fixture(scope="module")
def archives(source, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("archives")
    return {kind: Path(source.export("all", out / f"all.{kind}").path) for kind in KINDS}


def _store_files(root: Path) -> dict[str, bytes]:
    """The files a version consists of (registry left out: it is derived or aliases)."""
    return {
        k: v
        for k, v in tree_snapshot(root).items()
        if v is not None and k.split("/")[0] in ("trained", "metadata", "evaluation")
    }


def _without_import_keys(data: bytes) -> dict:
    record = json.loads(data)
    record.pop("imported", None)
    record["origin"] = "saved"
    return record


def _assert_same_versions(a: Path, b: Path) -> None:
    fa, fb = _store_files(a), _store_files(b)
    assert sorted(fa) == sorted(fb)
    for path, data in fa.items():
        if path.endswith("/metadata.json"):
            assert _without_import_keys(fb[path]) == json.loads(data), path
        else:
            assert fb[path] == data, path  # artifacts, cards, evaluations: bit for bit


def _visible(store: ModelStore) -> list[str]:
    root = store.root
    return sorted(str(p.relative_to(root)) for p in (root / "metadata").glob("*/metadata.json"))


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_export_import_round_trips_bit_for_bit(source, archives, tmp_path, kind, iris):
    target = ModelStore(tmp_path / "restored")
    report = target.import_(archives[kind])
    assert report.imported == ["lr@1.0.0", "lr@1.1.0", "rf@1.0.0"]
    _assert_same_versions(source.root, target.root)
    rec = target.record("lr@1.1.0")
    assert rec.get("origin") == "imported"
    assert rec.get("imported")["original_origin"] == "saved"
    assert rec.get("imported")["from"] == f"all.{kind}"
    assert target.aliases("lr") == {"production": "1.0.0"}
    assert target.evaluation_files("lr", "1.1.0", dataset="holdout") == [
        "artifacts.json",
        "metrics.json",
        "notes.txt",
    ]
    assert target.verify().ok
    X, _ = iris
    for ref in ("lr@1.0.0", "lr@1.1.0", "rf@1.0.0"):
        np.testing.assert_array_equal(
            target.load(ref, trust=True).predict_proba(X), source.load(ref).predict_proba(X)
        )
    # Importing again: every version is identical, nothing changes.
    before = tree_snapshot(target.root / "metadata")
    again = target.import_(archives[kind])
    assert again.imported == [] and len(again.identical) == 3
    assert tree_snapshot(target.root / "metadata") == before


def _extract(archive: Path, dest: Path) -> None:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_is_checked_by_sha256sum(archives, tmp_path, kind):
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    _extract(archives[kind], tmp_path)
    done = subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trained/rf_v1.0.0/model.joblib: OK" in done.stdout
    req = (tmp_path / "metadata/lr_v1.0.0/requirements.txt").read_text()
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in req.splitlines()
    info = json.loads((tmp_path / "nbmodels-archive.json").read_text())
    assert info["versions"] == ["lr@1.0.0", "lr@1.1.0", "rf@1.0.0"]
    # A changed file is caught by the same check.
    (tmp_path / "metadata/lr_v1.0.0/model_card.md").write_text("changed")
    assert (
        subprocess.run(
            ["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=tmp_path, capture_output=True
        ).returncode
        != 0
    )


# -- tampering -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, iris) -> dict[str, Path]:
    """Sealed archives of a tiny store (a dict, a small LogisticRegression, an evaluation,
    an alias) exported at a fixed time, so that one import costs little."""
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    root = tmp_path_factory.mktemp("tiny")
    store = ModelStore(root / "models")
    store.save({"weights": [1, 2, 3]}, "d")
    store.save(LogisticRegression(max_iter=200).fit(X.iloc[:, :2], y), "lr")
    store.write_evaluation("lr", "1.0.0", {"metrics.json": b'{"accuracy": 0.8}\n'})
    store.set_alias("lr", "production", "1.0.0")
    refs = [("d", "1.0.0"), ("lr", "1.0.0")]
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    out = {}
    for kind in KINDS:
        out[kind] = root / f"tiny.{kind}"
        export_archive(
            StoreTree(store.fs), refs, out[kind], aliases={"lr": store.aliases("lr")}, when=when
        )
        again = root / f"again.{kind}"
        export_archive(
            StoreTree(store.fs), refs, again, aliases={"lr": store.aliases("lr")}, when=when
        )
        assert again.read_bytes() == out[kind].read_bytes()  # deterministic
    return out


def _target(tmp_path: Path) -> tuple[ModelStore, dict]:
    """A store that already holds a model, and the snapshot of every file under its root."""
    target = ModelStore(tmp_path / "target")
    target.save({"kept": True}, "other")
    return target, tree_snapshot(target.root)


def _flip_positions(size: int) -> list[int]:
    middle = range(600, max(600, size - 600), max(1, (size - 1200) // 300))
    return sorted(set(range(min(600, size))) | set(range(max(0, size - 600), size)) | set(middle))


@pytest.mark.parametrize("kind", KINDS)
def test_one_byte_change_anywhere_imports_nothing(tiny, tmp_path, kind):
    """Every byte is covered: member data, local and central headers, timestamps, flags,
    extra fields, the end record and its comment (zip); the gzip headers, the deflate
    stream, tar headers and padding, the trailing seal member (tar.gz)."""
    data = tiny[kind].read_bytes()
    target, before = _target(tmp_path)
    assert target.import_(tiny[kind]).imported == ["d@1.0.0", "lr@1.0.0"]  # the untouched one
    target, before = _target(tmp_path / "t")
    positions = _flip_positions(len(data))
    assert len(positions) >= 1400 and positions[-1] == len(data) - 1
    path = tmp_path / f"tampered.{kind}"
    messages = set()
    for pos in positions:
        for bit in (0x01, 0x80):
            tampered = bytearray(data)
            tampered[pos] ^= bit
            path.write_bytes(bytes(tampered))
            with pytest.raises(ArchiveError) as caught:
                target.import_(path)
            assert "nothing was imported" in str(caught.value), pos
            messages.add(str(caught.value).split(" ", 1)[1][:30])
            assert tree_snapshot(target.root) == before, pos
    assert messages == {"was changed after it was expor", "does not end with an nbmodels "}


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_or_extended_archives_import_nothing(tiny, tmp_path, kind):
    data = tiny[kind].read_bytes()
    target, before = _target(tmp_path)
    path = tmp_path / f"changed.{kind}"
    variants = [data[:n] for n in (0, 1, 22, len(data) // 2, len(data) - 89, len(data) - 64)]
    variants += [data[:-n] for n in (1, 2, 11, 12, 64, 512)]
    variants += [data + extra for extra in (b"\0", bytes(512), b"x", b"\n", data)]
    variants += [data[:100] + data[101:], data[:100] + b"\0" + data[100:]]
    for i, changed in enumerate(variants):
        path.write_bytes(changed)
        with pytest.raises(ArchiveError, match="nothing was imported"):
            target.import_(path)
        assert tree_snapshot(target.root) == before, i


@pytest.mark.parametrize("kind", KINDS)
def test_unsealed_archives_are_refused_with_the_way_out(tiny, tmp_path, kind):
    """A valid archive without the seal: repacked member by member, or the export with its
    seal taken off (the gzip member dropped; the zip comment removed)."""
    target, before = _target(tmp_path)
    repacked = tmp_path / f"repacked.{kind}"
    _rewrite(tiny[kind], repacked, lambda name, data: data, seal=False)
    stripped = tmp_path / f"stripped.{kind}"
    data = tiny[kind].read_bytes()
    if kind == "zip":
        body = data[: -len(SEAL_PREFIX) - 64]
        stripped.write_bytes(body[:-2] + b"\0\0")
        with zipfile.ZipFile(stripped) as z:
            assert z.testzip() is None
    else:
        stripped.write_bytes(data[: data.rindex(b"\x1f\x8b\x08\x10")])
        with tarfile.open(stripped) as t:
            assert "MANIFEST.sha256" in t.getnames()
    for path in (repacked, stripped):
        with pytest.raises(ArchiveError) as caught:
            target.import_(path)
        message = str(caught.value)
        assert "does not end with an nbmodels seal" in message
        assert "nothing was imported" in message and "`nbmodels export`" in message
        assert tree_snapshot(target.root) == before
    # Sealed the way export seals, the same bytes import: only the seal was missing.
    seal_archive(stripped)
    assert stripped.read_bytes() == data
    seal_archive(repacked)
    assert target.import_(repacked).imported == ["d@1.0.0", "lr@1.0.0"]
    with pytest.raises(ArchiveError, match="sealed already"):
        seal_archive(repacked)


@pytest.mark.parametrize("kind", KINDS)
def test_seal_is_readable_by_standard_tools(tiny, kind):
    """The seal is a zip comment or an empty gzip member: other readers see the archive."""
    data = tiny[kind].read_bytes()
    import hashlib

    if kind == "zip":
        with zipfile.ZipFile(tiny[kind]) as z:
            assert z.testzip() is None
            assert z.comment == SEAL_PREFIX + data[-64:]
        assert hashlib.sha256(data[:-64]).hexdigest() == data[-64:].decode()
    else:
        import gzip

        with tarfile.open(tiny[kind]) as t:
            assert "MANIFEST.sha256" in t.getnames()
        assert len(gzip.decompress(data)) % 512 == 0
        seal = data.rindex(SEAL_PREFIX) + len(SEAL_PREFIX)
        assert hashlib.sha256(data[:seal]).hexdigest() == data[seal : seal + 64].decode()
        if shutil.which("gzip"):
            assert subprocess.run(["gzip", "-t", str(tiny[kind])]).returncode == 0


def _rewrite(src: Path, dest: Path, change, *, seal: bool = True) -> None:
    """Copy an archive member by member, letting ``change(name, data)`` return new data
    (or None to drop the member); the manifest is recomputed to match, and the archive is
    sealed as export seals (unless ``seal=False``)."""
    import hashlib

    members: dict[str, bytes] = {}
    if src.name.endswith(".zip"):
        with zipfile.ZipFile(src) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
    else:
        with tarfile.open(src) as t:
            members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    out = {}
    for name, data in members.items():
        if name == "MANIFEST.sha256":
            continue
        new = change(name, data)
        if new is not None:
            out[name] = new
    out["MANIFEST.sha256"] = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(out.items())
    ).encode()
    _write_archive(dest, out, seal=seal)


def _write_archive(dest: Path, members: dict[str, bytes], extra=None, *, seal=True) -> None:
    """An archive written by zipfile or tarfile, sealed through the module's public
    :func:`seal_archive`, so that importing it gets past the seal to the member checks."""
    if dest.name.endswith(".zip"):
        with zipfile.ZipFile(dest, "w") as z:
            for n, d in members.items():
                z.writestr(n, d)
            if extra:
                extra(z)
    else:
        with tarfile.open(dest, "w:gz") as t:
            for n, d in members.items():
                info = tarfile.TarInfo(n)
                info.size = len(d)
                t.addfile(info, io.BytesIO(d))
            if extra:
                extra(t)
    if seal:
        seal_archive(dest)


@pytest.mark.parametrize("kind", KINDS)
def test_artifact_changed_with_a_matching_manifest_is_refused(archives, tmp_path, kind):
    def change(name, data):
        return data[:-1] + bytes([data[-1] ^ 1]) if name.endswith("model.joblib") else data

    bad = tmp_path / f"bad.{kind}"
    _rewrite(archives[kind], bad, change)
    target = ModelStore(tmp_path / "t")
    with pytest.raises(ArchiveError, match="does not match its record"):
        target.import_(bad)
    assert _visible(target) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "case",
    [
        "absolute",
        "dotdot",
        "dotdot_inside",
        "symlink",
        "hardlink",
        "device",
        "fifo",
        "duplicate",
        "unexpected",
        "backslash",
    ],
)
def test_hostile_members_are_refused(archives, tmp_path, kind, case):
    """Each hostile member is listed in a matching manifest, so the refusal comes from the
    member check itself."""
    import hashlib

    if kind == "zip" and case in ("hardlink", "fifo"):
        pytest.skip("zip has no hard links or FIFOs")
    members: dict[str, bytes] = {}
    src = archives[kind]
    if kind == "zip":
        with zipfile.ZipFile(src) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
    else:
        with tarfile.open(src) as t:
            members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    evil = {
        "absolute": "/tmp/nbmodels-evil.txt",
        "dotdot": "../nbmodels-evil.txt",
        "dotdot_inside": "trained/lr_v1.0.0/../../../nbmodels-evil.txt",
        "symlink": "trained/lr_v1.0.0/link",
        "hardlink": "trained/lr_v1.0.0/hard",
        "device": "trained/lr_v1.0.0/dev",
        "fifo": "trained/lr_v1.0.0/fifo",
        "duplicate": "metadata/lr_v1.0.0/model_card.md",
        "unexpected": "evil.txt",
        "backslash": "trained\\..\\..\\nbmodels-evil.txt",
    }[case]
    payload = b"evil\n"
    manifest = (
        members.pop("MANIFEST.sha256") + f"{hashlib.sha256(payload).hexdigest()}  {evil}\n".encode()
    )

    def extra(archive):
        if kind == "zip":
            info = zipfile.ZipInfo(evil)
            if case == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            elif case == "device":
                info.external_attr = (stat.S_IFCHR | 0o600) << 16
            archive.writestr(info, payload)
            archive.writestr("MANIFEST.sha256", manifest)
        else:
            info = tarfile.TarInfo(evil)
            data = payload
            if case == "symlink":
                info.type, info.linkname, data = tarfile.SYMTYPE, "/etc/passwd", b""
            elif case == "hardlink":
                info.type, info.linkname, data = tarfile.LNKTYPE, "/etc/passwd", b""
            elif case == "device":
                info.type, info.devmajor, info.devminor, data = tarfile.CHRTYPE, 1, 3, b""
            elif case == "fifo":
                info.type, data = tarfile.FIFOTYPE, b""
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            minfo = tarfile.TarInfo("MANIFEST.sha256")
            minfo.size = len(manifest)
            archive.addfile(minfo, io.BytesIO(manifest))

    bad = tmp_path / f"bad.{kind}"
    if kind == "zip" and case == "duplicate":
        import warnings

        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
    _write_archive(bad, members, extra)
    target = ModelStore(tmp_path / "t")
    with pytest.raises(ArchiveError) as caught:
        target.import_(bad)
    expected = {
        "absolute": "absolute",
        "dotdot": "'..'",
        "dotdot_inside": "'..'",
        "symlink": "symbolic link",
        "hardlink": "hard link",
        "device": "device",
        "fifo": "regular",
        "duplicate": "twice",
        "unexpected": "not part",
        "backslash": "backslash",
    }[case]
    assert expected in str(caught.value)
    assert _visible(target) == []
    assert not Path("/tmp/nbmodels-evil.txt").exists()
    assert not (tmp_path / "nbmodels-evil.txt").exists()


def test_size_bounds_are_enforced(archives, tmp_path):
    target = ModelStore(tmp_path / "t")
    with pytest.raises(ArchiveError, match="more than"):
        import_archive(
            StoreTree(target.fs), archives["tar.gz"], limits=ArchiveLimits(max_member_bytes=1000)
        )
    with pytest.raises(ArchiveError, match="members, more than 3"):
        import_archive(StoreTree(target.fs), archives["zip"], limits=ArchiveLimits(max_members=3))
    assert _visible(target) == []


def test_gzip_bomb_stops_at_the_bound(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as t:
        info = tarfile.TarInfo("trained/x_v1.0.0/model.joblib")
        info.size = 50 << 20
        t.addfile(info, io.BytesIO(bytes(info.size)))
    seal_archive(bomb)
    target = ModelStore(tmp_path / "t")
    with pytest.raises(ArchiveError):
        import_archive(StoreTree(target.fs), bomb, limits=ArchiveLimits(max_total_bytes=1 << 20))


def test_conflicting_version_refuses_the_whole_import(archives, tmp_path, iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    target = ModelStore(tmp_path / "t")
    target.save(LogisticRegression(C=5.0, max_iter=500).fit(X, y), "lr", version="1.1.0")
    before = tree_snapshot(target.root)
    with pytest.raises(VersionExistsError, match=r"lr@1\.1\.0"):
        target.import_(archives["zip"])
    assert tree_snapshot(target.root) == before  # lr@1.0.0 and rf were not imported either


def test_bad_archive_names_and_missing_files(tmp_path, source):
    with pytest.raises(NBModelsError, match=r"\.zip or \.tar\.gz"):
        source.export("all", tmp_path / "x.rar")
    with pytest.raises(NBModelsError, match="is not a file"):
        source.import_(tmp_path / "missing.zip")
    path = tmp_path / "once.zip"
    source.export("lr@production", path)
    with pytest.raises(NBModelsError, match="overwrite=True"):
        source.export("lr", path)
    assert source.export("lr", path, overwrite=True).versions == ["lr@1.0.0", "lr@1.1.0"]


def test_export_of_a_damaged_version_writes_nothing(tmp_path, iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    store = ModelStore(tmp_path / "m")
    store.save(LogisticRegression(max_iter=500).fit(X, y), "lr")
    artifact = store.version_path("trained", "lr", "1.0.0") / "model.joblib"
    data = bytearray(artifact.read_bytes())
    data[-3] ^= 1
    artifact.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its record"):
        store.export("all", tmp_path / "out.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home_models", "m"] or not any(
        p.suffix in (".zip", ".partial") for p in tmp_path.iterdir()
    )


# -- backup and copy -------------------------------------------------------------------------


def test_backup_restores_into_an_empty_folder(source, tmp_path, iris):
    report = source.backup(tmp_path / "backups")
    path = Path(report.path)
    assert path.parent == tmp_path / "backups"
    assert path.name.startswith("nbmodels-backup-models-") and path.name.endswith("Z.tar.gz")
    restored = ModelStore(tmp_path / "restored")
    restored.import_(path)
    assert restored.verify().ok
    assert restored.list().to_dict() == source.list().to_dict()
    X, _ = iris
    for name in source.names():
        assert restored.versions(name) == source.versions(name)
        for v in source.versions(name):
            np.testing.assert_array_equal(
                restored.load(name, v, trust=True).predict(X),
                source.load(name, v, trust=True).predict(X),
            )
    _assert_same_versions(source.root, restored.root)
    # The backup is sealed: its gzip header's time (a byte no member check reads) counts.
    data = bytearray(path.read_bytes())
    data[4] ^= 1
    changed = tmp_path / "changed.tar.gz"
    changed.write_bytes(bytes(data))
    other = ModelStore(tmp_path / "other")
    with pytest.raises(ArchiveError, match="was changed after it was exported"):
        other.import_(changed)
    assert _visible(other) == []


def test_copy_to_keeps_versions_and_verifies(source, tmp_path):
    target = ModelStore(tmp_path / "team")
    report = source.copy_to(target, "lr@production", "rf")
    assert report.imported == ["lr@1.0.0", "rf@1.0.0"]
    assert target.versions("lr") == ["1.0.0"]
    assert target.record("lr@1.0.0").get("origin") == "imported"
    assert target.record("lr@1.0.0").get("imported")["from"] == str(source.root)
    for part in (
        "trained/lr_v1.0.0/model.joblib",
        "metadata/lr_v1.0.0/model_card.md",
        "evaluation/lr_v1.0.0/metrics.json",
    ):
        assert (target.root / part).read_bytes() == (source.root / part).read_bytes()
    assert target.evaluation_files("lr", "1.0.0") == source.evaluation_files("lr", "1.0.0")
    again = source.copy_to(target, "lr@1.0.0")
    assert again.imported == [] and again.identical == ["lr@1.0.0"]
    assert target.verify().ok


def test_copy_to_refuses_other_bytes_and_damaged_sources(tmp_path, iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    a, b = ModelStore(tmp_path / "a"), ModelStore(tmp_path / "b")
    a.save(LogisticRegression(max_iter=500).fit(X, y), "lr")
    a.save(LogisticRegression(C=0.1, max_iter=500).fit(X, y), "lr")
    b.save(LogisticRegression(C=9.0, max_iter=500).fit(X, y), "lr", version="1.1.0")
    with pytest.raises(VersionExistsError, match=r"lr@1\.1\.0"):
        a.copy_to(b, "lr")
    assert b.versions("lr") == ["1.1.0"]  # 1.0.0 was not copied either
    artifact = a.version_path("trained", "lr", "1.0.0") / "model.joblib"
    data = bytearray(artifact.read_bytes())
    data[10] ^= 1
    artifact.write_bytes(bytes(data))
    c = ModelStore(tmp_path / "c")
    with pytest.raises(IntegrityError, match="does not match its record"):
        a.copy_to(c, "lr@1.0.0")
    assert _visible(c) == []
    assert [p.name for p in (c.root / "trained").iterdir()] == []  # no temp folder left
    assert c.verify().ok


# -- the CLI ---------------------------------------------------------------------------------


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


def test_cli_export_import_backup_push_pull(source, tmp_path):
    src = str(source.root)
    done = _cli(
        "--store", src, "export", "lr@1.1.0", "rf", "--to", "two.zip", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versions"] == ["lr@1.1.0", "rf@1.0.0"]
    again = _cli("--store", src, "export", "--all", "--to", "two.zip", cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr
    done = _cli("--store", "imported", "import", "two.zip", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == ["lr@1.1.0", "rf@1.0.0"]
    data = bytearray((tmp_path / "two.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    bad = _cli("--store", "other", "import", "bad.zip", cwd=tmp_path)
    assert bad.returncode == 4, bad.stderr
    assert "nothing" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "was changed after it was exported" in bad.stderr
    done = _cli("--store", src, "backup", "bk", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "bk").glob("nbmodels-backup-*.tar.gz"))) == 1
    done = _cli("--store", src, "push", "lr@production", "--to", "team", cwd=tmp_path)
    assert done.returncode == 0 and "lr@1.0.0" in done.stdout, done.stderr
    done = _cli("--store", "mine", "pull", "lr", "--from", "team", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["imported"] == ["lr@1.0.0"]
    assert _cli("--store", "mine", "export", "--to", "x.zip", cwd=tmp_path).returncode == 2
