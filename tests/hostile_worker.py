"""Runs store operations against a (damaged) store in a process of its own.

``python hostile_worker.py CASES_JSON`` takes ``[[root, place, [op, ...]], ...]`` and
runs each named operation on each store in a thread with a deadline; it prints one JSON
list per case of ``[op, outcome, message, place_still_there]``: ``outcome`` is ``ok``,
the exception's class name, or ``hang``. A hang ends the process at once (its thread is blocked for
good), so a regression fails the test in seconds instead of blocking the suite; the
parent also caps the process's memory, so a read of ``/dev/zero`` fails instead of
exhausting the machine.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

OP_TIMEOUT_S = 15.0


def _ops(store: Any) -> dict[str, Any]:
    return {
        "list": lambda: (repr(store.list()), store.list()._repr_html_(),
                         json.dumps(store.list().to_dict())),
        "names": lambda: store.names(),
        "latest": lambda: store.latest("m"),
        "versions": lambda: store.versions("m"),
        "record_latest": lambda: repr(store.record("m")) + store.record("m")._repr_html_(),
        "record_old": lambda: repr(store.record("m", "1.0.0")),
        "card": lambda: store.card("m").html + store.card("m").markdown,
        "load_latest": lambda: store.load("m"),
        "load_old": lambda: store.load("m", "1.0.0"),
        "load_alias": lambda: store.load("m@production"),
        "aliases": lambda: store.aliases("m"),
        "summary": lambda: store.summary("m"),
        "eval_files": lambda: store.evaluation_files("m", "1.1.0"),
        "eval_datasets": lambda: store.evaluation_datasets("m", "1.1.0"),
        "eval_read": lambda: store.read_evaluation_file("m", "1.1.0", "metrics.json"),
        "eval_read_dataset": lambda: store.read_evaluation_file("m", "1.1.0", "metrics.json",
                                                                dataset="holdout"),
        "saved_metrics": lambda: store.saved_metrics("m", "1.1.0"),
        "best": lambda: store.best("m", "accuracy"),
        "other_load": lambda: store.load("other"),
        "other_record": lambda: store.record("other").to_dict(),
        "verify": lambda: store.verify().to_dict(),
        "verify_shallow": lambda: store.verify(deep=False).to_dict(),
        "gc_dry": lambda: store.gc(dry_run=True).to_dict(),
        "gc": lambda: store.gc().to_dict(),
        "rebuild": lambda: store.rebuild_index().to_dict(),
        "set_alias": lambda: store.set_alias("m", "staging", "1.0.0"),
        "update_record": lambda: store.update_record("m", "1.0.0", {"description": "x"}),
        "save": lambda: store.save({"new": 1}, "m").version,
        "save_new_model": lambda: store.save({"n": 1}, "fresh").version,
        "write_evaluation": lambda: store.write_evaluation(
            "m", "1.0.0", {"metrics.json": b'{"accuracy": 0.5}'}),
        "delete": lambda: store.delete("m", "1.0.0", force=True),
        "other_after": lambda: store.load("other"),
    }


def main() -> None:
    out = []
    for root, place, wanted in json.loads(sys.argv[1]):
        out.append(run_case(root, place, wanted, out))
    print(json.dumps(out), flush=True)


def run_case(root: str, place: str, wanted: list[str], done: list[Any]) -> list[list[Any]]:
    """The outcomes of ``wanted`` on the store at ``root``."""
    from nbmodels import ModelStore

    results: list[list[Any]] = []
    try:
        store = ModelStore(root)
    except Exception as exc:
        return [["open", type(exc).__name__, str(exc), os.path.lexists(place)]]
    ops = _ops(store)
    for name in wanted:
        outcome: list[Any] = []

        def run(name: str = name, outcome: list[Any] = outcome) -> None:
            try:
                value = ops[name]()
                outcome.append(["ok", json.dumps(value, default=str)[:2000]])
            except BaseException as exc:
                outcome.append([type(exc).__name__, str(exc)])

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(OP_TIMEOUT_S)
        if thread.is_alive():
            results.append([name, "hang", f"did not finish in {OP_TIMEOUT_S:.0f} s", True])
            print(json.dumps([*done, results]), flush=True)
            os._exit(3)
        results.append([name, *outcome[0], os.path.lexists(place)])
    return results


if __name__ == "__main__":
    main()
