"""10,000 versions: ``latest`` comes from the index, not from reading every record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nbmodels import ModelStore
from nbmodels.storage.local import LocalBackend

N = 10_000
NAME = "big"


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> ModelStore:
    """A store holding versions 1.0.0 ... 10000.0.0 of one model, plus a small second one.

    One version is saved for real; the others are written directly in the layout: a hard
    link to the same artifact (so its sha256 is right) and a copy of the record with the
    version changed. rebuild_index() then indexes them.
    """
    root = tmp_path_factory.mktemp("scale") / "models"
    store = ModelStore(root)
    store.save({"weights": list(range(50))}, NAME, version="1.0.0", description="seed")
    store.save({"other": 1}, "small", version="1.0.0")
    artifact = root / "trained" / f"{NAME}_v1.0.0" / "model.joblib"
    template = json.loads((root / "metadata" / f"{NAME}_v1.0.0" / "metadata.json").read_text())
    for major in range(2, N + 1):
        version = f"{major}.0.0"
        trained = root / "trained" / f"{NAME}_v{version}"
        meta = root / "metadata" / f"{NAME}_v{version}"
        trained.mkdir()
        meta.mkdir()
        os.link(artifact, trained / "model.joblib")
        record = {**template, "version": version, "description": f"v{version}"}
        (meta / "metadata.json").write_text(json.dumps(record))
    report = store.rebuild_index()
    assert (report.models, report.versions, report.adopted) == (2, N + 1, [])
    return store


class _Counter:
    """Counts calls of one method of the storage backend without changing what it does
    (the paths it was called with are kept, without ``self``)."""

    def __init__(self, monkeypatch, module, attr):
        self.calls: list[tuple] = []
        real = getattr(module, attr)

        def counting(*args, **kwargs):
            self.calls.append(args[1:])
            return real(*args, **kwargs)

        monkeypatch.setattr(module, attr, counting)


def test_latest_reads_one_small_file_not_every_record(big_store, monkeypatch):
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    listings = _Counter(monkeypatch, LocalBackend, "list_dir")
    fresh = ModelStore(big_store.root)  # nothing cached in memory
    assert fresh.latest(NAME) == f"{N}.0.0"  # semver: 10000.0.0 > 9999.0.0
    assert len(reads.calls) <= 2, reads.calls
    assert [Path(p).name for (p,) in reads.calls] == ["head.json"]
    assert listings.calls == [], "latest() listed a directory"


def test_load_latest_reads_a_couple_of_files(big_store, monkeypatch):
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    fresh = ModelStore(big_store.root)
    assert fresh.load(NAME, trust=True) == {"weights": list(range(50))}
    assert fresh.record(NAME).version == f"{N}.0.0"
    names = [Path(p).name for (p,) in reads.calls]
    assert len(names) <= 4, names
    assert names.count("metadata.json") <= 2, names


def test_seed_glob_gets_it_wrong(big_store):
    """The hand-written loader's sorted(glob(...))[-1] picks 9999.0.0 over 10000.0.0."""
    found = sorted((big_store.root / "trained").glob(f"{NAME}_v*"))
    assert found[-1].name == f"{NAME}_v9999.0.0"
    assert big_store.latest(NAME) == f"{N}.0.0"


def test_list_and_versions_at_scale(big_store, monkeypatch):
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    table = ModelStore(big_store.root).list()
    assert [(m["name"], m["latest"]) for m in table] == [(NAME, f"{N}.0.0"), ("small", "1.0.0")]
    assert table[0]["description"] == f"v{N}.0.0"
    assert len(reads.calls) <= 6, [Path(p).name for (p,) in reads.calls]
    versions = big_store.versions(NAME)
    assert len(versions) == N
    assert versions[:3] == ["1.0.0", "2.0.0", "3.0.0"]
    assert versions[-2:] == [f"{N - 1}.0.0", f"{N}.0.0"]


def test_stale_index_at_scale_reads_only_the_top_record(big_store, monkeypatch):
    head = big_store.root / "registry" / "index" / NAME / "head.json"
    head.unlink()
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    assert ModelStore(big_store.root).latest(NAME) == f"{N}.0.0"
    records = [p for (p,) in reads.calls if Path(p).name == "metadata.json"]
    assert len(records) == 1, "repairing the index read more than the newest record"
    assert head.exists()


def test_a_new_version_at_scale(big_store, monkeypatch):
    rec = big_store.save({"weights": [1]}, NAME, bump="major")
    assert rec.version == f"{N + 1}.0.0"
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    assert ModelStore(big_store.root).latest(NAME) == f"{N + 1}.0.0"
    assert len(reads.calls) <= 2
    big_store.delete(NAME, f"{N + 1}.0.0")
    assert ModelStore(big_store.root).latest(NAME) == f"{N}.0.0"


def test_a_save_at_scale_reads_the_model_not_its_history(big_store, monkeypatch):
    """With the identities cache in step with the head, a save from a fresh store reads
    the head, the cache, the list of versions once (to append to it) and the latest
    record (the bump is settled against it): no other record."""
    ModelStore(big_store.root).save({"weights": [2]}, NAME, bump="major")  # cache in step
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    rec = ModelStore(big_store.root).save({"weights": [3]}, NAME, bump="major")
    names = [Path(p).name for (p,) in reads.calls]
    assert names.count("metadata.json") == 1, names
    assert names.count("versions.json") == 1 and names.count("identities.json") == 1
    monkeypatch.undo()
    versions = ModelStore(big_store.root).versions(NAME)
    assert versions[-1] == rec.version and len(versions) == len(set(versions))
    assert versions == sorted(versions, key=lambda v: int(v.split(".")[0]))
    # The same bytes again, from another fresh store: found without reading the history.
    reads = _Counter(monkeypatch, LocalBackend, "read_json")
    again = ModelStore(big_store.root).save({"weights": [3]}, NAME, bump="major")
    assert again.unchanged is not None and again.version == rec.version
    assert [Path(p).name for (p,) in reads.calls].count("metadata.json") == 2  # latest, hit


def test_a_save_never_trusts_the_order_of_the_versions_it_appends_to(big_store):
    """The save appends to versions.json without checking its entries one by one; a list
    with the right set in the wrong order is caught by the next reader and recomputed."""
    path = big_store.root / "registry" / "index" / NAME / "versions.json"
    data = json.loads(path.read_text())
    listed = data["versions"]
    data["versions"] = [listed[1], listed[0], *listed[2:]]  # same set, same latest
    path.write_text(json.dumps(data))
    rec = ModelStore(big_store.root).save({"weights": [4]}, NAME, bump="major")
    versions = ModelStore(big_store.root).versions(NAME)
    assert versions[:2] == ["1.0.0", "2.0.0"] and versions[-1] == rec.version
    assert json.loads(path.read_text())["versions"] == versions
