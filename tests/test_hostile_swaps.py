"""A folder of the layout swapped for a link while the store uses it never leads outside.

The local backend reaches every file through directory descriptors, each folder opened
without following a link, so a link is refused at the moment it is used rather than by
a check before it. These tests attack the moment in between: a folder of the layout
(a version's folder in ``trained/``, ``metadata/`` or ``evaluation/``, ``evaluation/``
itself, ``registry/aliases``) is exchanged, atomically (``renameat2`` with
``RENAME_EXCHANGE``), with a link to an outside folder that holds a plausible copy of
it plus a canary file.

- Deterministic: an audit hook makes the exchange just before the k-th file operation
  of a store operation (the moment the old backend had checked the path and was about
  to open it), for every k, for reads, writes and deletes.
- Concurrent: a second process exchanges the folder back and forth in a tight loop while
  this one loads, lists, verifies, reads evaluation files, saves, evaluates, sets
  aliases, edits records, deletes, prunes and collects garbage, round after round.

Outside, nothing may be read (every file's and folder's atime is set before its mtime,
so the first read or listing moves it: relatime), written, added or deleted (bytes and
entries compared afterwards), and every failure is an :class:`NBModelsError` or an
``OSError`` that names the store's path; nothing hangs (the outside tree holds a FIFO
under a name the store reads) and nothing crashes.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nbmodels import ModelStore, errors

PLACES = {
    "version_trained": "trained/m_v1.1.0",
    "version_metadata": "metadata/m_v1.1.0",
    "version_evaluation": "evaluation/m_v1.1.0",
    "evaluation": "evaluation",
    "aliases": "registry/aliases",
}
_RENAME_EXCHANGE = 2
_LIBC = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    if _LIBC.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


def _can_exchange(tmp: Path) -> bool:
    (tmp / "a").mkdir()
    (tmp / "b").symlink_to(tmp / "a")
    try:
        exchange(tmp / "a", tmp / "b")
    except (OSError, AttributeError):
        return False
    finally:
        shutil.rmtree(tmp)
    return True


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    if not sys.platform.startswith("linux") or not _can_exchange(
            tmp_path_factory.mktemp("probe")):
        pytest.skip("needs renameat2(RENAME_EXCHANGE) to swap a folder for a link atomically")
    root = tmp_path_factory.mktemp("swaps") / "models"
    store = ModelStore(root)
    store.save({"v": 1}, "m", version="1.0.0")
    store.save({"v": 2, "blob": os.urandom(200_000)}, "m", version="1.1.0")
    store.save({"o": 1}, "other")
    store.set_alias("m", "production", "1.1.0")
    for version in ("1.0.0", "1.1.0"):
        store.write_evaluation("m", version, {"metrics.json": b'{"accuracy": 0.75}'})
        store.write_evaluation("m", version, {"metrics.json": b'{"accuracy": 0.5}'},
                               dataset="holdout")
    store.lock("m")
    store.latest("m")
    return root


class Outside:
    """The outside tree a swapped-in link leads to: a plausible copy of the folder, a
    canary, and a FIFO where the store would read a file; watched for reads (atimes),
    writes and removals (entries, bytes, mtimes)."""

    def __init__(self, base: Path, real: Path) -> None:
        self.top = base / "outside"
        self.copy = self.top / real.name
        shutil.copytree(real, self.copy, symlinks=True)
        (self.copy / "canary.txt").write_bytes(b"canary: nothing of the store\n")
        (self.top / "secret.txt").write_bytes(b"secret\n")
        os.mkfifo(self.copy / "zz-fifo")
        self.content = self._content()
        for p in [*sorted(self.top.rglob("*"), reverse=True), self.top]:
            st = os.lstat(p)
            if not p.is_symlink():
                os.utime(p, ns=(st.st_mtime_ns - 86_400 * 10**9, st.st_mtime_ns))
        self.stats = self._stats()

    def _stats(self) -> dict[str, tuple]:
        out = {}
        for p in [self.top, *sorted(self.top.rglob("*"))]:
            st = os.lstat(p)
            out[str(p.relative_to(self.top))] = (st.st_mode, st.st_ino, st.st_size,
                                                 st.st_mtime_ns, st.st_atime_ns)
        return out

    def _content(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for p in sorted(self.top.rglob("*")):
            rel = str(p.relative_to(self.top))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_fifo():
                out[rel] = "fifo"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    def check(self, context: str) -> None:
        after = self._stats()  # first: reading the bytes below moves the atimes
        changed = {k for k in set(after) | set(self.stats) if after.get(k) != self.stats.get(k)}
        assert not changed, f"{context}: outside read, written or changed: {sorted(changed)}"
        assert self._content() == self.content, f"{context}: outside changed"


def _allowed(exc: BaseException, root: Path) -> bool:
    """A clear refusal: the store's own errors, or an OSError naming the store's path."""
    if isinstance(exc, errors.NBModelsError):
        return True
    return isinstance(exc, OSError) and (str(root) in str(exc) or "symbolic link" in str(exc))


def _ops(store: ModelStore) -> dict[str, object]:
    def save_and_delete() -> None:
        rec = store.save({"v": 9}, "m")
        store.delete("m", rec.version, force=True)

    return {
        # reads
        "load": lambda: store.load("m", "1.1.0"),
        "load_alias": lambda: store.load("m@production"),
        "record": lambda: store.record("m", "1.1.0").to_dict(),
        "list": lambda: repr(store.list()),
        "verify": lambda: store.verify(),
        "eval_files": lambda: store.evaluation_files("m", "1.1.0"),
        "eval_read": lambda: store.read_evaluation_file("m", "1.1.0", "metrics.json"),
        "eval_read_dataset": lambda: store.read_evaluation_file("m", "1.1.0", "metrics.json",
                                                                dataset="holdout"),
        # writes
        "save": lambda: store.save({"v": 3}, "m"),
        "save_exact": lambda: store.save({"v": 4}, "m", version="1.1.0", overwrite=True),
        "write_evaluation": lambda: store.write_evaluation(
            "m", "1.1.0", {"metrics.json": b'{"accuracy": 0.1}'}),
        "write_evaluation_dataset": lambda: store.write_evaluation(
            "m", "1.1.0", {"metrics.json": b'{"accuracy": 0.1}'}, dataset="holdout"),
        "set_alias": lambda: store.set_alias("m", "staging", "1.1.0"),
        "update_record": lambda: store.update_record("m", "1.1.0", {"description": "x"}),
        # deletes
        "save_and_delete": save_and_delete,
        "delete": lambda: store.delete("m", "1.1.0", force=True),
        "prune": lambda: store.prune("m", keep_last=1, dry_run=False),
        "gc": lambda: store.gc(),
    }


class SwapAtStep:
    """An audit hook that, while armed, exchanges a folder with its link just before the
    ``at``-th file operation (open, listing, rename, removal, creation)."""

    EVENTS = {"open", "os.listdir", "os.scandir", "os.remove", "os.rmdir", "os.rename",
              "os.mkdir", "os.link", "shutil.rmtree", "os.utime", "os.truncate"}

    def __init__(self) -> None:
        self.pair: tuple[Path, Path] | None = None
        self.at = 0
        self.seen = 0
        sys.addaudithook(self._hook)

    def arm(self, pair: tuple[Path, Path], at: int) -> None:
        self.pair, self.at, self.seen = pair, at, 0

    def disarm(self) -> bool:
        """Disarm; whether the exchange happened."""
        fired = self.pair is None
        self.pair = None
        return fired

    def _hook(self, event: str, args: tuple) -> None:
        if self.pair is None or event not in self.EVENTS:
            return
        self.seen += 1
        if self.seen == self.at:
            pair, self.pair = self.pair, None
            exchange(*pair)


_SWAP = SwapAtStep()


def _prepare(tmp: Path, template: Path, place: str) -> tuple[Path, Outside, Path]:
    """A fresh store, its outside copy of ``place``, and the link waiting beside it."""
    root = tmp / "models"
    shutil.copytree(template, root, symlinks=True)
    outside = Outside(tmp, root / place)
    link = tmp / "link"
    link.symlink_to(outside.copy, target_is_directory=True)
    return root, outside, link


# Operations whose steps are walked one by one (each step a fresh store): the reads that
# go through every kind of open, and a write and a delete of each place.
STEPPED = ["load", "record", "list", "eval_read_dataset", "eval_files", "verify",
           "write_evaluation_dataset", "set_alias", "update_record", "save_exact",
           "delete", "gc"]


@pytest.mark.slow
@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_swap_before_any_step_never_leads_outside(tmp_path, template, place):
    for op in STEPPED:
        at = 1
        while True:
            case = tmp_path / f"{op}-{at}"
            case.mkdir()
            root, outside, link = _prepare(case, template, PLACES[place])
            store = ModelStore(root)
            call = _ops(store)[op]
            _SWAP.arm((root / PLACES[place], link), at)
            try:
                call()
                outcome = None
            except BaseException as exc:
                outcome = exc
            finally:
                fired = _SWAP.disarm()
            context = f"{op} with {PLACES[place]} swapped before step {at}: {outcome!r}"
            assert outcome is None or _allowed(outcome, root), context
            outside.check(context)
            shutil.rmtree(case)
            if not fired:
                break  # the operation ended before step ``at``: every step was tried
            at += 1 if at < 8 else 4  # every early step; the long tail more sparsely
        assert at > 2, f"{op}: no file operation seen"


def test_a_swap_right_before_the_artifact_is_opened_reads_nothing_outside(tmp_path,
                                                                         template):
    """The old window exactly: the version folder exchanged for the link just before
    the artifact's own open (after every look the store took at the path). The open
    goes through the descriptor of the folder it walked, never through the link."""
    root, outside, link = _prepare(tmp_path, template, PLACES["version_trained"])
    store = ModelStore(root)
    armed = [True]

    def swap_at_artifact_open(event: str, args: tuple) -> None:
        if armed[0] and event == "open" and args and str(args[0]).endswith("model.joblib"):
            armed[0] = False
            exchange(root / PLACES["version_trained"], link)

    sys.addaudithook(swap_at_artifact_open)
    try:
        try:
            loaded = store.load("m", "1.1.0")
        except (errors.NBModelsError, OSError) as exc:
            assert _allowed(exc, root), exc
        else:
            assert loaded["v"] == 2
    finally:
        fired, armed[0] = not armed[0], False
    assert fired, "the artifact's open was never reached"
    outside.check("load with the version folder swapped right before the artifact's open")


SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b, stop = (os.fsencode(x) for x in sys.argv[1:4])
n = 0
while not os.path.exists(stop):
    if libc.renameat2(-100, a, -100, b, 2) == 0:
        n += 1
print(n)
"""


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_folder_swapped_in_a_tight_loop_never_leads_outside(tmp_path, template, place):
    root, outside, link = _prepare(tmp_path, template, PLACES[place])
    store = ModelStore(root)
    stop = tmp_path / "stop"
    swapper = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SWAPPER),
                                str(root / PLACES[place]), str(link), str(stop)],
                               stdout=subprocess.PIPE, text=True)
    failures: dict[str, int] = {}
    successes: dict[str, int] = {}
    try:
        for _round in range(12):
            for op, call in _ops(store).items():
                if op == "delete":
                    continue  # at the end: the version is what the swapper moves
                try:
                    call()
                    successes[op] = successes.get(op, 0) + 1
                except BaseException as exc:
                    assert _allowed(exc, root), f"{op}: {exc!r}"
                    failures[op] = failures.get(op, 0) + 1
        try:
            store.delete("m", "1.1.0", force=True)
        except (errors.NBModelsError, OSError) as exc:
            assert _allowed(exc, root), exc
    finally:
        stop.touch()
        out, _ = swapper.communicate(timeout=60)
    assert int(out) > 100, "the swapper barely ran"
    assert failures, "no operation ever met the link: the attack did not happen"
    outside.check(f"{place} swapped in a loop")
    # With the swapping over and the real folder back, the store still works.
    if os.path.islink(root / PLACES[place]):
        exchange(root / PLACES[place], link)
    ModelStore(root).gc()
    assert ModelStore(root).load("other") == {"o": 1}


def test_remove_tree_never_follows_a_subfolder_swapped_during_the_removal(tmp_path):
    """``remove_tree`` empties each folder through its own descriptor: a subfolder
    exchanged for a link at any step of the removal is refused or unlinked, never
    followed."""
    from pathlib import PurePosixPath

    from nbmodels.storage.local import LocalBackend

    root = tmp_path / "models"
    victim = root / "trained" / ".tmp-m_v9.9.9-0123456789ab"
    outside_dir = tmp_path / "outside" / "sub"
    outside_dir.mkdir(parents=True)
    (outside_dir / "inner.bin").write_bytes(b"outside")
    link = tmp_path / "link"
    backend = LocalBackend(root)
    at = 1
    while True:
        for leftover in (victim, link):
            if leftover.is_symlink():
                leftover.unlink()
            elif leftover.exists():
                shutil.rmtree(leftover)
        (victim / "sub" / "deeper").mkdir(parents=True)
        (victim / "sub" / "inner.bin").write_bytes(b"x")
        (victim / "a.bin").write_bytes(b"y")
        link.symlink_to(outside_dir, target_is_directory=True)
        _SWAP.arm((victim / "sub", link), at)
        try:
            backend.remove_tree(PurePosixPath("trained/.tmp-m_v9.9.9-0123456789ab"))
        except OSError as exc:
            assert "symbolic link" in str(exc) or exc.errno == errno.ENOTEMPTY, exc
        finally:
            fired = _SWAP.disarm()
        assert (outside_dir / "inner.bin").read_bytes() == b"outside", f"step {at}"
        assert sorted(p.name for p in tmp_path.joinpath("outside").rglob("*")) == \
            ["inner.bin", "sub"], f"step {at}"
        if not fired:
            break
        at += 1
    assert at > 4
    assert not victim.exists()
