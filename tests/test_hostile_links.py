"""Links never lead out of the root, and forged index files are checked before use.

A symbolic link replaces a folder at every level of the layout (the real folder moved
outside the store, so following the link would find plausible files) or a file (a
record, a card, an artifact, an aliases file, the index head, a lock, evaluation
files). Every operation then runs (save, load, list, record, card, verify, gc,
rebuild-index, delete, set_alias, update_record, writing an evaluation, evaluate).
Outside the store a canary tree is watched three ways: its bytes and entries (nothing
written, added or removed), its access times (nothing read: the files' atimes are set
before their mtimes, so the first read moves them), and a Python audit hook on every
open, listing, removal and rename whose target resolves outside the store (nothing
followed). The artifact outside is a pickle that leaves a marker when unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from nbm_helpers import UnpickleSpy

from nbmodels import ModelStore, errors

PLACES = {
    # folders
    "trained": "trained", "metadata": "metadata", "evaluation": "evaluation",
    "registry": "registry", "registry_index": "registry/index",
    "registry_index_model": "registry/index/m", "registry_aliases": "registry/aliases",
    "registry_locks": "registry/locks", "version_trained": "trained/m_v1.1.0",
    "version_metadata": "metadata/m_v1.1.0", "version_evaluation": "evaluation/m_v1.1.0",
    "dataset": "evaluation/m_v1.1.0/holdout",
    # files
    "record": "metadata/m_v1.1.0/metadata.json", "card": "metadata/m_v1.1.0/model_card.md",
    "artifact": "trained/m_v1.1.0/model.joblib", "aliases": "registry/aliases/m.json",
    "head": "registry/index/m/head.json", "lock": "registry/locks/m.lock",
    "eval_file": "evaluation/m_v1.1.0/metrics.json",
    "eval_dataset_file": "evaluation/m_v1.1.0/holdout/metrics.json",
}
ALLOWED = (errors.NBModelsError, OSError)


class Watch:
    """An audit hook that records every file operation whose target is outside the store
    in the watched folder, while :attr:`active`. A final component is followed only by
    an open without ``O_NOFOLLOW``; folders on the way are always followed."""

    PATH_EVENTS = {"os.listdir", "os.scandir", "os.remove", "os.rmdir", "os.rename",
                   "os.replace", "shutil.rmtree", "os.mkdir", "os.truncate", "os.chmod",
                   "os.utime", "os.link", "os.symlink", "shutil.copyfile", "shutil.move"}

    def __init__(self) -> None:
        self.outside: str | None = None
        self.seen: list[tuple[str, str]] = []
        sys.addaudithook(self._hook)

    def _inside(self, path: object, *, follow: bool) -> bool:
        try:
            text = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return False  # a file descriptor: its open was audited already
        text = os.path.abspath(text)
        parent = os.path.realpath(os.path.dirname(text))
        target = os.path.realpath(text) if follow else os.path.join(parent,
                                                                    os.path.basename(text))
        return target == self.outside or target.startswith(self.outside + os.sep)

    def _hook(self, event: str, args: tuple) -> None:
        if self.outside is None:
            return
        if event == "open" and args and args[0] is not None:
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            follow = not flags & getattr(os, "O_NOFOLLOW", 0)
            if self._inside(args[0], follow=follow):
                self.seen.append((event, os.fsdecode(args[0])))
        elif event in self.PATH_EVENTS:
            follow = event in ("os.listdir", "os.scandir", "os.truncate", "os.chmod",
                               "os.utime")
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)) and self._inside(arg,
                                                                              follow=follow):
                    self.seen.append((event, os.fsdecode(arg)))


_WATCH = Watch()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("links")
    root, marker = base / "models", base / "UNPICKLED"
    store = ModelStore(root)
    store.save({"v": 1}, "m", version="1.0.0")
    store.save(UnpickleSpy(marker, b"spy"), "m", version="1.1.0")
    marker.unlink(missing_ok=True)  # saving does not unpickle: a clean slate anyway
    store.save({"o": 1}, "other")
    store.set_alias("m", "production", "1.1.0")
    for version in ("1.0.0", "1.1.0"):
        store.write_evaluation("m", version, {"metrics.json": b'{"accuracy": 0.75}'})
        store.write_evaluation("m", version, {"metrics.json": b'{"accuracy": 0.5}'},
                               dataset="holdout")
    store.lock("m")
    store.latest("m")
    return root, marker


def _ops(store: ModelStore) -> dict[str, object]:
    return {
        "list": lambda: (repr(store.list()), store.list().damaged),
        "latest": lambda: store.latest("m"),
        "versions": lambda: store.versions("m"),
        "record": lambda: store.record("m", "1.1.0").to_dict(),
        "card": lambda: store.card("m", "1.1.0").html,
        "load": lambda: store.load("m", "1.1.0"),
        "load_alias": lambda: store.load("m@production"),
        "eval_files": lambda: store.evaluation_files("m", "1.1.0"),
        "eval_read": lambda: store.read_evaluation_file("m", "1.1.0", "metrics.json"),
        "eval_read_dataset": lambda: store.read_evaluation_file("m", "1.1.0", "metrics.json",
                                                                dataset="holdout"),
        "saved_metrics": lambda: store.saved_metrics("m", "1.1.0"),
        "verify": lambda: store.verify(),
        "gc_dry": lambda: store.gc(dry_run=True),
        "gc": lambda: store.gc(),
        "rebuild": lambda: store.rebuild_index(),
        "set_alias": lambda: store.set_alias("m", "staging", "1.1.0"),
        "update_record": lambda: store.update_record("m", "1.1.0", {"description": "x"}),
        "write_evaluation": lambda: store.write_evaluation(
            "m", "1.1.0", {"metrics.json": b'{"accuracy": 0.1}'}),
        "write_evaluation_dataset": lambda: store.write_evaluation(
            "m", "1.1.0", {"metrics.json": b'{"accuracy": 0.1}'}, dataset="holdout"),
        "save": lambda: store.save({"v": 3}, "m"),
        "save_exact": lambda: store.save({"v": 4}, "m", version="1.1.0", overwrite=True),
        "save_other_model": lambda: store.save({"n": 1}, "fresh"),
        "delete": lambda: store.delete("m", "1.1.0", force=True),
        "other": lambda: store.load("other"),
    }


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Entries and bytes (this reads the files: take :func:`_atimes` first)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir",)
        else:
            out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _atimes(folder: Path) -> dict[str, int]:
    """Access times of the files, without reading them."""
    return {str(p.relative_to(folder)): os.lstat(p).st_atime_ns
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _age_atimes(folder: Path) -> None:
    """Set every file's atime a day before its mtime: the next read moves it (relatime)."""
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = os.stat(p)
            os.utime(p, ns=(st.st_mtime_ns - 86_400 * 10**9, st.st_mtime_ns))


@pytest.mark.parametrize("label", sorted(PLACES))
def test_a_link_at_every_level_is_never_followed(tmp_path, template, label):
    source, marker = template
    root, outside = tmp_path / "models", tmp_path / "outside"
    shutil.copytree(source, root, symlinks=True)
    outside.mkdir()
    place = root / PLACES[label]
    moved = outside / place.name
    shutil.move(str(place), moved)  # the real thing, now outside, linked back
    (outside / "secret.txt").write_text("secret")
    place.symlink_to(moved, target_is_directory=moved.is_dir())
    before = _snapshot(outside)
    _age_atimes(outside)
    read_before = _atimes(outside)

    store = ModelStore(root)
    outcomes = {}
    marker.unlink(missing_ok=True)
    spy_outside = label in ("artifact", "version_trained", "trained")
    _WATCH.seen.clear()
    _WATCH.outside = os.path.realpath(outside)
    try:
        for op, call in _ops(store).items():
            try:
                call()
                outcomes[op] = "ok"
            except ALLOWED as exc:
                outcomes[op] = f"{type(exc).__name__}: {exc}"
    finally:
        _WATCH.outside = None
    assert _WATCH.seen == [], f"followed out of the store: {_WATCH.seen[:5]}"
    assert _atimes(outside) == read_before, "a file outside the store was read"
    assert _snapshot(outside) == before, "something outside was changed, added or removed"
    if spy_outside:  # (elsewhere, loading the real 1.1.0 in the store unpickles it)
        assert not marker.exists(), "the pickle outside the store was unpickled"
    assert outcomes["other"] == "ok" or label in ("trained", "metadata", "registry",
                                                  "registry_locks")
    assert outcomes["verify"] == "ok" and outcomes["gc"] == "ok" and outcomes["list"] == "ok"
    assert outcomes["rebuild"] == "ok", outcomes["rebuild"]


@pytest.mark.parametrize("label", ["version_trained", "version_metadata", "record",
                                   "artifact", "version_evaluation", "trained"])
def test_verify_names_the_link(tmp_path, template, label):
    source, _ = template
    root, outside = tmp_path / "models", tmp_path / "outside"
    shutil.copytree(source, root, symlinks=True)
    outside.mkdir()
    place = root / PLACES[label]
    shutil.move(str(place), outside / place.name)
    place.symlink_to(outside / place.name)
    report = ModelStore(root).verify()
    found = {(p.kind, p.path) for p in report.problems}
    assert ("special_file", PLACES[label]) in found, found
    [problem] = [p for p in report.problems if p.path == PLACES[label]]
    assert "a symbolic link" in problem.detail


def test_evaluate_never_writes_through_a_linked_evaluation_folder(tmp_path, template):
    from nbmodels.evaluation import evaluate_predictions

    source, _ = template
    root, outside = tmp_path / "models", tmp_path / "outside"
    shutil.copytree(source, root, symlinks=True)
    outside.mkdir()
    place = root / PLACES["version_evaluation"]
    shutil.move(str(place), outside / "evaluation")
    place.symlink_to(outside / "evaluation")
    before = _snapshot(outside)
    with pytest.raises(OSError, match="is a symbolic link, not a folder"):
        evaluate_predictions([0, 1, 1, 0], [0, 1, 0, 0], name="m", version="1.1.0",
                             store=ModelStore(root), plots=())
    assert _snapshot(outside) == before


# -- forged index files ------------------------------------------------------------------------

def _head(store: ModelStore) -> Path:
    return store.root / "registry/index/m/head.json"


def _versions_file(store: ModelStore) -> Path:
    return store.root / "registry/index/m/versions.json"


def _forge(store: ModelStore, **changes: object) -> None:
    """Forge the index: ``versions`` goes where the index keeps them (versions.json,
    and head.json too, where a reader must ignore it), the rest into head.json."""
    if "versions" in changes:
        listed = json.loads(_versions_file(store).read_text())
        listed["versions"] = changes["versions"]
        _versions_file(store).write_text(json.dumps(listed))
    path = _head(store)
    head = json.loads(path.read_text())
    head.update(changes)
    path.write_text(json.dumps(head))


@pytest.fixture
def indexed(tmp_path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    for v in ("1.0.0", "1.1.0", "2.0.0"):
        store.save({"v": v}, "m", version=v)
    (tmp_path / "x").write_bytes(b"outside")
    store.latest("m")
    return store


@pytest.mark.parametrize("forged", [
    {"latest": "1.0.0/../../../x"},
    {"latest": "1.0.0/../../../x", "versions": ["1.0.0/../../../x"]},
    {"versions": ["1.0.0", "../../x"], "latest": "../../x"},
    {"pending": ["../../../x"]},
    {"damaged": {"../../x": {"identity": [], "problem": "p"}}},
    {"latest": "9.9.9", "versions": ["1.0.0", "9.9.9"]},  # a latest that does not exist
    {"versions": ["2.0.0", "1.1.0"], "latest": "1.1.0"},  # not sorted
    {"versions": ["1.0.0", "1.0.0", "2.0.0"]},  # a duplicate
    {"summary": "x"}, {"summary": {"metrics": [1], "tags": {"a": 1}, "size_bytes": "big"}},
    {"name": "other"}, {"versions": "1.0.0"}, {"latest": None, "versions": []},
])
def test_a_forged_head_is_checked_before_use(indexed, forged):
    _forge(indexed, **forged)
    fresh = ModelStore(indexed.root)
    assert fresh.latest("m") == "2.0.0"
    assert fresh.versions("m") == ["1.0.0", "1.1.0", "2.0.0"]
    assert fresh.load("m") == {"v": "2.0.0"}
    [row] = fresh.list()
    assert row["latest"] == "2.0.0" and row["tags"] == [] and isinstance(row["metrics"], dict)


def test_a_lying_latest_is_caught_once_metadata_changes(indexed):
    """A head that hides 2.0.0 (with the current stamps copied in) is caught by the
    listing check on the next change of metadata/, and reported by verify at once."""
    head = json.loads(_head(indexed).read_text())
    lower = indexed.root / "metadata/m_v1.1.0/metadata.json"
    _forge(indexed, latest="1.1.0", versions=["1.0.0", "1.1.0"], pending=["2.0.0"],
           record_stamp=head["record_stamp"] and list(
               (lambda s: [s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns])(lower.stat())))
    # A pending version that has a record is noticed at once.
    assert ModelStore(indexed.root).latest("m") == "2.0.0"
    _forge(indexed, latest="1.1.0", versions=["1.0.0", "1.1.0"], pending=[],
           record_stamp=[lower.stat().st_ino, lower.stat().st_size, lower.stat().st_mtime_ns,
                         lower.stat().st_ctime_ns])
    assert [p.kind for p in indexed.verify().problems] == ["stale_index"]
    indexed.save({"o": 1}, "other")  # metadata/ changes
    assert ModelStore(indexed.root).latest("m") == "2.0.0"
    assert indexed.verify().ok


def test_an_index_path_that_escapes_is_never_used(indexed, tmp_path):
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "head.json").write_text(json.dumps(
        {"name": "m", "latest": "1.0.0", "versions": ["1.0.0"], "pending": []}))
    shutil.rmtree(indexed.root / "registry/index/m")
    (indexed.root / "registry/index/m").symlink_to(tmp_path / "evil")
    assert ModelStore(indexed.root).latest("m") == "2.0.0"
    assert {p.kind for p in indexed.verify().problems} == {"special_file", "stale_index"}
