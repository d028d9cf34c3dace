"""Special files in every place the store reads: never a hang, never memory exhaustion.

A FIFO, a socket, a character device, a link to ``/dev/zero``, a link to a file outside
the store, or a folder, put where the layout expects a file (a record, a card, an
artifact, an aliases file, the index head, a lock, evaluation files); and a FIFO, a
device or a link where it expects a folder (every level of the layout). Every store
operation then runs in a process of its own (``hostile_worker.py``) with a deadline per
operation and a memory cap, so a regression fails in seconds and never blocks the suite.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nbmodels import ModelStore, errors

WORKER = Path(__file__).with_name("hostile_worker.py")
READS = ["list", "names", "latest", "versions", "record_latest", "record_old", "card",
         "load_latest", "load_old", "load_alias", "aliases", "summary", "eval_files",
         "eval_datasets", "eval_read", "eval_read_dataset", "saved_metrics", "best",
         "other_load", "other_record"]
MAINTENANCE = ["verify", "verify_shallow", "gc_dry", "gc", "rebuild"]
WRITES = ["set_alias", "update_record", "save", "save_new_model", "write_evaluation",
          "delete", "other_after"]
ALL_OPS = READS + MAINTENANCE + WRITES

# Errors an operation may give on a damaged store: the store's own, or the system's
# refusal to go through something (never a TypeError, a RecursionError, a MemoryError).
ALLOWED = {*errors.__all__, "AliasFileError", "OSError", "FileNotFoundError",
           "NotADirectoryError", "IsADirectoryError", "FileExistsError"}

FILE_PLACES = {
    "record": "metadata/m_v1.1.0/metadata.json",
    "record_old": "metadata/m_v1.0.0/metadata.json",
    "card": "metadata/m_v1.1.0/model_card.md",
    "artifact": "trained/m_v1.1.0/model.joblib",
    "aliases": "registry/aliases/m.json",
    "head": "registry/index/m/head.json",
    "lock": "registry/locks/m.lock",
    "eval_file": "evaluation/m_v1.1.0/metrics.json",
    "eval_dataset_file": "evaluation/m_v1.1.0/holdout/metrics.json",
}
DIR_PLACES = {
    "trained": "trained", "metadata": "metadata", "evaluation": "evaluation",
    "registry": "registry", "registry_index": "registry/index",
    "registry_index_model": "registry/index/m", "registry_aliases": "registry/aliases",
    "registry_locks": "registry/locks", "version_trained": "trained/m_v1.1.0",
    "version_metadata": "metadata/m_v1.1.0", "version_evaluation": "evaluation/m_v1.1.0",
    "dataset": "evaluation/m_v1.1.0/holdout",
}
FILE_KINDS = ["fifo", "socket", "chardev", "link_zero", "link_outside", "folder"]
DIR_KINDS = ["fifo", "chardev", "link_zero", "link_outside"]
# Places that affect every model, not only m.
SHARED = {"trained", "metadata", "registry", "registry_locks"}
# Derived places that reads and rebuild-index may replace with what they should be.
DERIVED = {"head", "registry_index", "registry_index_model"}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile_template") / "models"
    store = ModelStore(root)
    store.save({"v": 1}, "m", version="1.0.0")
    store.save({"v": 2}, "m", version="1.1.0")
    store.save({"o": 1}, "other")
    store.set_alias("m", "production", "1.0.0")
    for version in ("1.0.0", "1.1.0"):
        store.write_evaluation("m", version, {"metrics.json": b'{"accuracy": 0.75}'})
        store.write_evaluation("m", version, {"metrics.json": b'{"accuracy": 0.5}'},
                               dataset="holdout")
    store.lock("m")  # creates registry/locks/m.lock
    store.latest("m")  # and registry/index/m/head.json
    return root


def _make(kind: str, path: Path, outside: Path) -> None:
    """Put a special thing of ``kind`` at ``path`` (whatever was there moves outside)."""
    if os.path.lexists(path):
        keep = outside / path.name
        shutil.move(str(path), keep)
    else:
        keep = None
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        cwd = os.getcwd()
        os.chdir(path.parent)  # AF_UNIX paths are short; bind relative to the folder
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(path.name)
            sock.close()
        finally:
            os.chdir(cwd)
    elif kind == "chardev":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero
        except PermissionError:
            pytest.skip("creating device nodes is not allowed here")
    elif kind == "link_zero":
        os.symlink("/dev/zero", path)
    elif kind == "link_outside":
        if keep is None:
            keep = outside / path.name
            keep.write_text("outside")
        os.symlink(keep, path)
    elif kind == "folder":
        path.mkdir()
        (path / "inside").write_text("x")
    else:  # pragma: no cover
        raise AssertionError(kind)


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p.relative_to(folder))] = "dir" if p.is_dir() else "other"
    return out


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _run(cases: list[list]) -> list[list[list]]:
    proc = subprocess.run([sys.executable, str(WORKER), json.dumps(cases)],
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_memory)
    assert proc.stdout.strip(), f"the worker died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    hung = [(case[0], r) for case, res in zip(cases, results) for r in res if r[1] == "hang"]
    assert not hung, f"an operation hung: {hung}"
    assert proc.returncode == 0, proc.stderr[-3000:]
    return results


def _check(label: str, place: str, kind: str, results: list[list], root: Path) -> list[str]:
    """Everything that is wrong with one case's outcomes (empty when it held)."""
    wrong = []
    outcomes = {op: (outcome, message, there) for op, outcome, message, there in results}
    name = Path(place).name
    for op, (outcome, message, _) in outcomes.items():
        if outcome == "ok":
            continue
        if outcome not in ALLOWED:
            wrong.append(f"{op}: unexpected {outcome}: {message}")
        elif "\n" in message:
            wrong.append(f"{op}: the message is not one line: {message!r}")
    for op in ("verify", "verify_shallow", "gc_dry", "gc", "rebuild", "list"):
        if outcomes[op][0] != "ok":
            wrong.append(f"{op} failed on a store with one damaged place: {outcomes[op]}")
    if label not in SHARED:
        for op in ("other_load", "other_record", "other_after", "list"):
            if outcomes[op][0] != "ok":
                wrong.append(f"{op}: the other model suffered: {outcomes[op]}")
    # The damaged place is reported by verify (a derived head may be rebuilt first).
    if label not in DERIVED and not (label.startswith("eval") and kind == "folder"):
        report = json.loads(outcomes["verify"][1]) if outcomes["verify"][0] == "ok" else {}
        paths = {(p["kind"], p["path"]) for p in report.get("problems", [])}
        if ("special_file", place) not in paths:
            wrong.append(f"verify did not report {place} as a special file: {sorted(paths)}")
    # Nothing that is not derived is removed by reading, verify, gc or rebuild-index.
    if label not in DERIVED:
        for op in READS + MAINTENANCE:
            if not outcomes[op][2]:
                wrong.append(f"{op} removed {place}")
    # Errors name what is damaged when they are about it.
    for op in ("record_latest", "load_latest", "card") if label in ("record",) else ():
        if name not in outcomes[op][1] and outcomes[op][0] != "ok":
            wrong.append(f"{op}: the error does not name {name}: {outcomes[op][1]}")
    return wrong


def _cases(tmp_path: Path, template: Path, label: str, place: str,
           kinds: list[str]) -> tuple[list[list], dict[str, tuple[Path, Path, dict]]]:
    cases, where = [], {}
    for kind in kinds:
        root = tmp_path / kind / "models"
        shutil.copytree(template, root, symlinks=True)
        outside = tmp_path / kind / "outside"
        outside.mkdir()
        _make(kind, root / place, outside)
        cases.append([str(root), str(root / place), ALL_OPS])
        where[kind] = (root, outside, _snapshot(outside))
    return cases, where


def _assert_cases(label: str, place: str, kinds: list[str], cases: list[list],
                  where: dict) -> None:
    results = _run(cases)
    failures = {}
    for kind, res in zip(kinds, results):
        root, outside, before = where[kind]
        wrong = _check(label, place, kind, res, root)
        if _snapshot(outside) != before:
            wrong.append("something outside the store was changed, added or removed")
        if wrong:
            failures[kind] = wrong
    assert not failures, json.dumps(failures, indent=1)


@pytest.mark.parametrize("label", sorted(FILE_PLACES))
def test_a_special_file_in_place_of_a_file(tmp_path, template, label):
    place = FILE_PLACES[label]
    kinds = list(FILE_KINDS)
    cases, where = _cases(tmp_path, template, label, place, kinds)
    _assert_cases(label, place, kinds, cases, where)


@pytest.mark.parametrize("label", sorted(DIR_PLACES))
def test_a_special_file_in_place_of_a_folder(tmp_path, template, label):
    place = DIR_PLACES[label]
    kinds = list(DIR_KINDS)
    cases, where = _cases(tmp_path, template, label, place, kinds)
    _assert_cases(label, place, kinds, cases, where)


# -- what each place gives, precisely ----------------------------------------------------------

def _fifo_store(template: Path, tmp_path: Path, place: str) -> ModelStore:
    root = tmp_path / "models"
    shutil.copytree(template, root, symlinks=True)
    (root / place).unlink()
    os.mkfifo(root / place)
    return ModelStore(root)


def test_a_fifo_record_is_one_damaged_version(template, tmp_path):
    store = _fifo_store(template, tmp_path, FILE_PLACES["record"])
    assert store.latest("m") == "1.0.0"  # the newest readable version
    table = store.list()
    assert [(m["name"], m["latest"]) for m in table] == [("m", "1.0.0"), ("other", "1.0.0")]
    [note] = table.damaged
    assert (note["name"], note["version"], note["kind"]) == ("m", "1.1.0", "special_file")
    assert "a FIFO" in note["problem"] and "metadata/m_v1.1.0/metadata.json" in repr(table)
    with pytest.raises(errors.IntegrityError, match=r"metadata/m_v1\.1\.0/metadata\.json "
                                                    r"is a FIFO"):
        store.record("m", "1.1.0")
    [problem] = store.verify().by_kind("special_file")
    assert problem.path == "metadata/m_v1.1.0/metadata.json" and "FIFO" in problem.detail
    assert store.delete("m", "1.1.0") == "1.1.0"  # the repair: delete the version
    assert not os.path.lexists(store.root / FILE_PLACES["record"])
    assert store.verify().ok, store.verify()


def test_a_fifo_artifact_is_refused_with_its_name(template, tmp_path):
    store = _fifo_store(template, tmp_path, FILE_PLACES["artifact"])
    with pytest.raises(errors.IntegrityError, match=r"model\.joblib is a FIFO, not a regular"):
        store.load("m")
    [problem] = store.verify().problems
    assert (problem.kind, problem.path) == ("special_file", FILE_PLACES["artifact"])
    assert store.load("m", "1.0.0") == {"v": 1}


def test_a_fifo_lock_file_refuses_writers_with_its_name(template, tmp_path):
    store = _fifo_store(template, tmp_path, FILE_PLACES["lock"])
    with pytest.raises(OSError, match=r"m\.lock is a FIFO, not a regular file; remove it"):
        store.save({"v": 3}, "m")
    assert store.load("m") == {"v": 2}  # readers do not need the lock
    assert store.save({"o": 2}, "other").version == "1.1.0"


def test_a_fifo_head_is_replaced_by_the_real_head(template, tmp_path):
    store = _fifo_store(template, tmp_path, FILE_PLACES["head"])
    assert store.latest("m") == "1.1.0"
    assert (store.root / FILE_PLACES["head"]).is_file()


def test_a_fifo_aliases_file_is_reported_never_read(template, tmp_path):
    store = _fifo_store(template, tmp_path, FILE_PLACES["aliases"])
    with pytest.raises(errors.IntegrityError, match=r"aliases/m\.json is not a regular file"):
        store.aliases("m")
    kinds = {p.kind for p in store.verify().problems}
    assert kinds == {"special_file", "damaged_aliases"}
    assert stat.S_ISFIFO(os.lstat(store.root / FILE_PLACES["aliases"]).st_mode)


def test_a_record_that_links_to_dev_zero_is_bounded(template, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(template, root, symlinks=True)
    record = root / FILE_PLACES["record"]
    record.unlink()
    with contextlib.suppress(PermissionError):
        os.mknod(record, stat.S_IFCHR | 0o666, os.makedev(1, 5))
    if not record.exists():
        record.symlink_to("/dev/zero")
    store = ModelStore(root)
    assert store.latest("m") == "1.0.0"
    assert {p.kind for p in store.verify().problems} == {"special_file"}
