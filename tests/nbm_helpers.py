"""Helpers shared by the tests and by the scripts they run in subprocesses.

Importable by name (tests/ is on ``sys.path`` and on ``PYTHONPATH`` for subprocesses),
so objects defined here can be pickled in one process and unpickled in another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path


def tree_snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (relative) with the bytes of files, ``None`` for folders."""
    root = Path(root)
    out: dict[str, bytes | None] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = path.read_bytes() if path.is_file() else None
    return out


def visible_files(root: Path) -> list[str]:
    """Relative paths of the files under ``root``, for assertions on the layout."""
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())


def _record_unpickling(marker: str, payload: bytes) -> UnpickleSpy:
    Path(marker).write_text("unpickled\n")
    return UnpickleSpy(marker, payload)


class UnpickleSpy:
    """An object that leaves ``marker`` on disk when it is unpickled.

    It pickles like any object; rebuilding it calls :func:`_record_unpickling`, which
    writes the marker file. A test that finds no marker knows nothing was unpickled.
    ``payload`` gives the pickle a body whose bytes can be flipped while the stream
    stays a valid pickle.
    """

    def __init__(self, marker: str | os.PathLike[str], payload: bytes = b"") -> None:
        self.marker = str(marker)
        self.payload = payload

    def __reduce__(self):
        return (_record_unpickling, (self.marker, self.payload))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, UnpickleSpy) and other.marker == self.marker
                and other.payload == self.payload)

    __hash__ = None  # type: ignore[assignment]


# -- workers for test_concurrency.py (run in spawned processes) ------------------------------

def concurrent_saver(root: str, name: str, worker: int, saves: int, barrier, results,
                     sklearn: bool = True) -> None:
    """Save ``saves`` models of ``name``; report ``(version, token, C)`` triples.

    The models are small fitted LogisticRegressions, or (``sklearn=False``) plain dicts
    that are cheaper to import and save, for tests that need many quick saves.
    """
    from nbmodels import ModelStore

    if sklearn:
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        X, y = load_iris(return_X_y=True)
    store = ModelStore(root)
    done = []
    barrier.wait()
    for i in range(saves):
        token = f"w{worker}-s{i}"
        c = 1.0 + worker + i / 100  # a different model each time, never a duplicate
        model = (LogisticRegression(C=c, max_iter=300).fit(X, y) if sklearn
                 else {"C": c, "token": token, "weights": os.urandom(20_000)})
        rec = store.save(model, name, description=token, bump="minor")
        done.append((rec.version, token, c))
    results.put((worker, done))


def concurrent_reader(root: str, name: str, barrier, stop) -> None:
    """Read latest/list/load in a loop (refreshing the index) until told to stop."""
    from nbmodels import ModelNotFoundError, ModelStore

    barrier.wait()
    while not stop.wait(0.002):  # a short pause leaves the CPUs to the savers
        store = ModelStore(root)
        try:
            store.latest(name)
            store.list()
            store.load(name)
        except ModelNotFoundError:
            pass  # nothing committed yet


def concurrent_gc(root: str, barrier, stop, results) -> None:
    """Run gc() in a loop while saves go on; report what it removed."""
    from nbmodels import ModelStore

    store = ModelStore(root)
    removed = []
    barrier.wait()
    while not stop.wait(0.002):
        removed += store.gc().removed
    results.put(("gc", removed))


class Token:
    """A plain object that can be weakly referenced (to watch what stays alive)."""

    def __init__(self, value: int = 0) -> None:
        self.value = value


def _bytes_of(buf) -> bytes:
    return bytes(buf)


class FortranBuffer:
    """Pickles a Fortran-ordered array as an in-band ``PickleBuffer`` (memory order)."""

    def __init__(self, array) -> None:
        self.array = array

    def __reduce_ex__(self, protocol):
        import pickle

        return (_bytes_of, (pickle.PickleBuffer(self.array),))


def kernel_output(client, code: str, *, timeout: float = 120,
                  traceback: bool = False) -> str:
    """Run ``code`` in a real kernel (a jupyter_client) and return what it showed: streams,
    results as text, and an error as ``Name: message`` (plus its traceback if asked)."""
    msg_id = client.execute(code)
    texts = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            texts.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            texts.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            texts.append(f"{content['ename']}: {content['evalue']}")
            if traceback:
                texts += content.get("traceback", [])
        elif kind == "status" and content["execution_state"] == "idle":
            return "\n".join(texts)


# -- processes that race each other --------------------------------------------------------

#: Prefix of a script that waits until the file ``sys.argv[2]`` exists, so several
#: processes start their racing part at the same moment.
WAIT_FOR_GO = """
import json, os, sys, time
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
"""


def start_script(code: str, *args: str) -> subprocess.Popen[str]:
    """Run ``code`` (dedented) in a fresh interpreter with ``args``, output captured."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_json(proc: subprocess.Popen[str]) -> object:
    """Wait for a script of :func:`start_script`; the JSON of its last line of output."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def loads_beside_rewrites(loader: subprocess.Popen[str],
                          writer: subprocess.Popen) -> tuple[int, int]:
    """Wait for a loader script that prints ``ok refused`` while ``writer`` rewrites the
    artifact it loads, then stop the writer. The loader must live (no SIGBUS), load a few
    times, and notice at least one rewrite. Returns ``(ok, refused)``."""
    try:
        out, err = loader.communicate(timeout=300)
    finally:
        writer.kill()
        writer.communicate()
    assert loader.returncode == 0, (loader.returncode, err[-2000:])
    ok, refused = map(int, out.split())
    assert ok + refused >= 5
    assert refused > 0, "the rewrites were never noticed"
    return ok, refused
