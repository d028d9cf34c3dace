"""Savers that die: the subprocess side of test_crash.py.

``python crash_saver.py loop ROOT NAME SEED``
    Save versions of NAME forever, printing each committed version; the test kills it
    with SIGKILL at a random moment.

``python crash_saver.py inject WORKDIR OP ACTION``
    Fault injection at every file-system step of one store operation. A template store
    is prepared, then for each step ``i`` of OP (``first``, ``save``, ``overwrite``,
    ``delete``, ``evaluate``, ``update_record``, ``rebuild_index`` or ``gc``) a forked
    child copies the template and runs OP with an audit hook that, just before the
    ``i``-th file operation under the store, either kills the child with SIGKILL
    (``kill``) or raises (``raise``, which exercises the clean-up of a failed save).
    The last case lets OP finish. Prints a JSON summary; the test then checks
    every resulting store.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

from nbmodels import ModelStore

NAME = "m"
# File operations a crash can interrupt; "open" only when it may write.
_WATCHED = {"open", "os.rename", "os.replace", "os.link", "os.remove", "os.unlink", "os.rmdir",
            "os.mkdir", "shutil.rmtree", "os.utime", "os.truncate"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class InjectedFault(RuntimeError):
    pass


def payload(token: str, size: int = 300_000) -> dict:
    """A model stand-in whose artifact is big enough to be written in several chunks."""
    return {"token": token, "blob": os.urandom(size)}


def _is_write(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    _path, mode, flags = (*tuple(args), None, None, None)[:3]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


# Where each event names the folder descriptor its path is relative to (the local
# backend works through directory descriptors). An ``open`` event carries none: a
# relative open can only be the backend's (nothing else here opens relative paths).
_DIR_FD_ARG = {"os.remove": 1, "os.unlink": 1, "os.rmdir": 1, "shutil.rmtree": 1, "os.mkdir": 2,
               "os.rename": 2, "os.replace": 2, "os.link": 2, "os.utime": 3}


def _absolute(event: str, args: tuple) -> str | None:
    """The absolute path an audited file operation acts on (``None``: not a path);
    a relative ``open`` is shown as ``{store}/.../name``, counted as the store's."""
    path = args[0]
    if isinstance(path, int) or not isinstance(path, (str, bytes, os.PathLike)):
        return None
    path = os.fsdecode(path)
    if os.path.isabs(path):
        return path
    index = _DIR_FD_ARG.get(event)
    dir_fd = args[index] if index is not None and len(args) > index else None
    if isinstance(dir_fd, int) and dir_fd >= 0:
        return os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    return os.path.join(_ROOT[0], "...", path) if event == "open" else os.path.abspath(path)


_ROOT = [""]


def arm(root: Path, at: int, action: str, events: list[str] | None = None) -> None:
    """Install the audit hook: fault at the ``at``-th write-like operation under ``root``."""
    root = Path(os.path.realpath(root))
    _ROOT[0] = str(root)
    prefix = os.fsencode(str(root))
    count = [0]

    def hook(event: str, args: tuple) -> None:
        if event not in _WATCHED or not args:
            return
        path = _absolute(event, args)
        if path is None or not os.fsencode(path).startswith(prefix) \
                or not _is_write(event, args):
            return
        i = count[0]
        count[0] += 1
        if events is not None:
            rel = os.path.relpath(path, str(root))
            events.append(f"{event} {rel}")
        if i == at:
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise InjectedFault(f"injected fault at step {i}: {event} {path}")

    sys.addaudithook(hook)


def prepare(template: Path, op: str) -> None:
    """The state before OP: empty for ``first``, else 1.0.0 (aliased) and 1.1.0."""
    template.mkdir(parents=True)
    if op == "first":
        return
    store = ModelStore(template)
    store.save(payload("old-1.0.0"), NAME, description="old-1.0.0")
    store.save(payload("old-1.1.0"), NAME, description="old-1.1.0")
    store.set_alias(NAME, "production", "1.0.0")
    evaluation = store.version_path("evaluation", NAME, "1.1.0")
    evaluation.mkdir(parents=True)
    (evaluation / "metrics.json").write_text('{"accuracy": 0.5}\n')
    if op == "gc":  # something for gc to remove: a killed save's temporary folder
        leftover = template / "trained" / ".tmp-m_v1.2.0-deadbeef"
        leftover.mkdir()
        (leftover / "model.joblib").write_bytes(b"partial")


def run_op(root: Path, op: str) -> None:
    store = ModelStore(root)
    if op in ("first", "save"):
        store.save(payload("new"), NAME, description="new")
    elif op == "overwrite":
        store.save(payload("new"), NAME, version="1.1.0", overwrite=True, description="new")
    elif op == "delete":
        store.delete(NAME, "1.1.0")
    elif op == "evaluate":
        # The store's side of nbmodels.evaluate on an evaluated version: the files,
        # then the summary merged into the record.
        store.write_evaluation(NAME, "1.1.0", {"report.html": b"<p>0.9</p>",
                                               "metrics.json": b'{"accuracy": 0.9}\n'},
                               commit_last="metrics.json")
        store.update_record(NAME, "1.1.0", {"metrics": {"accuracy": 0.9}})
    elif op == "update_record":
        store.update_record(NAME, "1.1.0", {"tags": ["updated"]})
    elif op == "rebuild_index":
        store.rebuild_index()
    elif op == "gc":
        store.gc()
    else:
        raise SystemExit(f"unknown op {op}")


def _in_child(fn) -> int:
    """Run ``fn`` in a forked child; return its wait status."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fn()
        except InjectedFault:
            code = 3
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def inject(workdir: Path, op: str, action: str) -> None:
    # Warm the parent's lazy imports and caches once, so each forked child is quick.
    ModelStore(workdir / "warm").save(payload("warm", 10), NAME, description="warm")
    template = workdir / "template"
    prepare(template, op)
    # A dry run records the steps the operation takes.
    probe = workdir / "probe"
    shutil.copytree(template, probe)
    steps_file = workdir / "steps.json"

    def probe_run() -> None:
        events: list[str] = []
        arm(probe, -1, action, events)
        run_op(probe, op)
        steps_file.write_text(json.dumps(events))

    status = _in_child(probe_run)
    if status != 0:
        raise SystemExit(f"the probe run failed with status {status}")
    steps = json.loads(steps_file.read_text())
    cases = []
    for i in range(len(steps) + 1):
        root = workdir / f"case{i:03d}"
        shutil.copytree(template, root)

        def faulty(root: Path = root, i: int = i) -> None:
            arm(root, i, action)
            run_op(root, op)

        status = _in_child(faulty)
        if os.WIFSIGNALED(status):
            outcome = f"signal {os.WTERMSIG(status)}"
        else:
            outcome = {0: "completed", 3: "raised"}.get(os.WEXITSTATUS(status),
                                                        f"exit {os.WEXITSTATUS(status)}")
        twin = workdir / f"twin{i:03d}"  # the same crash, for a gc run before any read
        shutil.copytree(root, twin, symlinks=True)
        cases.append({"root": str(root), "step": steps[i] if i < len(steps) else "(none)",
                      "outcome": outcome, "twin": str(twin)})
    print(json.dumps({"steps": steps, "cases": cases}))


def loop(root: Path, name: str, seed: int) -> None:
    import random

    rng = random.Random(seed)
    store = ModelStore(root)
    i = 0
    while True:
        i += 1
        token = f"{seed}-{i}"
        rec = store.save(payload(token, rng.choice([1_000, 200_000, 2_000_000])), name,
                         description=token, bump=rng.choice(["minor", "patch"]))
        print(rec.version, flush=True)


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "loop":
        loop(Path(argv[1]).absolute(), argv[2], int(argv[3]))
    elif mode == "inject":
        inject(Path(argv[1]).absolute(), argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
