"""Load time and peak memory of a verified store load against ``joblib.load``.

A model that holds large numpy arrays (a dict of float64 arrays, ``--size-mb`` in all)
is put into a temporary store three times: ``saved`` (``ModelStore.save``: a pickle
stream), ``adopted`` (plain ``joblib.dump(model, path)`` into a hand-made folder in the
seed layout ``trained/{name}_v{version}/model.joblib``, adopted by ``rebuild_index``:
joblib's own layout, arrays outside the pickle stream) and ``adopted_compressed``
(the same with ``joblib.dump(..., compress=3)``, where ``joblib.load`` itself is slow).
Then, for each, in a fresh Python process per run (so one run's memory cannot hide in
another's):

- ``joblib``: ``joblib.load`` of the store's artifact file, as hand-written code does;
- ``store``: ``ModelStore(root).load(name)`` (size and sha256 checked before unpickling;
  the adopted folder is loaded with ``trust=True`` where the store asks for it).

Each child imports everything first, then reports the load's wall time, its CPU time
(user + system, all threads: steadier than wall time on a shared machine), its peak
resident memory above what the process held before the load (``VmHWM`` - ``VmRSS``
from ``/proc/self/status``), and the whole process's peak (``ru_maxrss`` of the child,
from ``resource.getrusage(RUSAGE_CHILDREN)`` in the parent). The artifact is read once
beforehand, so both sides load from the page cache. Runs alternate; medians of time
and of peak are reported, with the store / joblib ratios.

    python benchmarks/bench_load_memory.py                # ~1 GB, 3 runs each
    python benchmarks/bench_load_memory.py --quick        # 20 MB, 1 run (the test suite)
    python benchmarks/bench_load_memory.py --kinds saved adopted   # skip the compressed one
    python benchmarks/bench_load_memory.py --size-mb 500 --runs 5 --json out.json
    python benchmarks/bench_load_memory.py --baseline /path/to/other/checkout
        # also ModelStore.load from another checkout of nbmodels (e.g. main before a
        # change), interleaved with the others so that both see the same machine load
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, sys, time
mode, root, path, name = sys.argv[1:5]
import inspect, joblib, numpy, pickle
import nbmodels
from nbmodels import ModelStore
store = ModelStore(root)
options = {"trust": True} if "trust" in inspect.signature(store.load).parameters else {}

def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out

assert nbmodels.__file__.startswith(sys.argv[5]), (nbmodels.__file__, sys.argv[5])
import resource
before = status()["VmRSS"]
cpu = resource.getrusage(resource.RUSAGE_SELF)
t = time.perf_counter()
if mode == "joblib":
    obj = joblib.load(path)
else:
    obj = store.load(name, **options)
seconds = time.perf_counter() - t
cpu_after = resource.getrusage(resource.RUSAGE_SELF)
cpu_seconds = (cpu_after.ru_utime - cpu.ru_utime) + (cpu_after.ru_stime - cpu.ru_stime)
after = status()
total = sum(a.nbytes for a in obj["arrays"])
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds,
                  "peak_delta": after["VmHWM"] - before,
                  "held_after": after["VmRSS"] - before, "model_bytes": total}))
"""


KINDS = ("saved", "adopted", "adopted_compressed")


def _make_store(root: Path, size_mb: int, kinds: list[str]) -> dict[str, Path]:
    """The artifacts of the same model: ``saved``, ``adopted``, ``adopted_compressed``."""
    import joblib
    import numpy as np

    from nbmodels import ModelStore

    rng = np.random.default_rng(0)
    n_arrays = 8
    per = max(1, size_mb * (1 << 20) // n_arrays // 8)
    model = {"kind": "array-holding model",
             "arrays": [rng.standard_normal(per) for _ in range(n_arrays)]}
    store = ModelStore(root, size_warning=0)  # no size advice in the output
    if "saved" in kinds:
        store.save(model, "saved", format="joblib")
    for kind, compress in (("adopted", 0), ("adopted_compressed", 3)):
        if kind in kinds:
            hand = root / "trained" / f"{kind}_v1.0.0"
            hand.mkdir(parents=True)
            joblib.dump(model, hand / "model.joblib", compress=compress)
    del model
    store.rebuild_index()
    return {kind: store.version_path("trained", kind, "1.0.0") / "model.joblib"
            for kind in kinds}


def _run(mode: str, root: Path, path: Path, name: str,
         checkout: Path | None = None) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    code = checkout or Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(code), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _CHILD, mode.split("@")[0], str(root),
                           str(path), name, str(code)],
                          capture_output=True, text=True, env=env, timeout=1800,
                          cwd=root.parent)  # not a checkout: '' on sys.path must not shadow
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far (KiB on Linux): it only
    # tells this child's peak when it is a new maximum, so /proc figures are the main ones.
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures["process_peak"] = after * 1024 if after > before else None
    return figures


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 MB, one run")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                        help="which artifacts to measure (default: all)")
    parser.add_argument("--baseline", type=Path, help="another nbmodels checkout whose "
                        "ModelStore.load is measured too (as 'store@baseline')")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mb, args.runs = 20, 1
    out: dict[str, object] = {"runs": args.runs, "size_mb": args.size_mb}
    mb = 1 << 20
    with tempfile.TemporaryDirectory(prefix="nbm-bench-load-") as tmp:
        root = Path(tmp) / "store"
        paths = _make_store(root, args.size_mb, args.kinds)
        for kind, path in paths.items():
            with open(path, "rb") as f:  # into the page cache, for both sides alike
                while f.read(64 << 20):
                    pass
            modes = ["joblib", "store"] + (["store@baseline"] if args.baseline else [])
            runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
            for _ in range(args.runs):
                for mode in modes:
                    runs[mode].append(_run(mode, root, path, kind,
                                           args.baseline if "@" in mode else None))
            figures: dict[str, float] = {"artifact_bytes": path.stat().st_size}
            for mode, results in runs.items():
                figures[f"{mode}_seconds"] = statistics.median(r["seconds"] for r in results)
                figures[f"{mode}_cpu_seconds"] = statistics.median(r["cpu_seconds"]
                                                                   for r in results)
                figures[f"{mode}_peak_bytes"] = statistics.median(r["peak_delta"]
                                                                  for r in results)
            figures["time_ratio"] = figures["store_seconds"] / figures["joblib_seconds"]
            figures["cpu_ratio"] = figures["store_cpu_seconds"] / max(
                1e-6, figures["joblib_cpu_seconds"])
            figures["peak_ratio"] = figures["store_peak_bytes"] / max(
                1, figures["joblib_peak_bytes"])
            out[kind] = figures
            print(f"{kind}: artifact {figures['artifact_bytes'] / mb:.0f} MB, "
                  f"{args.runs} run(s) each, medians")
            print(f"  joblib.load     {figures['joblib_seconds']:.3f} s (cpu "
                  f"{figures['joblib_cpu_seconds']:.3f} s)   peak +"
                  f"{figures['joblib_peak_bytes'] / mb:.0f} MB")
            print(f"  ModelStore.load {figures['store_seconds']:.3f} s (cpu "
                  f"{figures['store_cpu_seconds']:.3f} s)   peak +"
                  f"{figures['store_peak_bytes'] / mb:.0f} MB")
            print(f"  ratio store/joblib: time {figures['time_ratio']:.2f}x, peak RSS "
                  f"{figures['peak_ratio']:.2f}x, cpu {figures['cpu_ratio']:.2f}x")
            if args.baseline:
                base_t = figures["store@baseline_seconds"]
                base_m = figures["store@baseline_peak_bytes"]
                figures["baseline_time_ratio"] = base_t / figures["joblib_seconds"]
                figures["baseline_cpu_ratio"] = figures["store@baseline_cpu_seconds"] / max(
                    1e-6, figures["joblib_cpu_seconds"])
                figures["baseline_peak_ratio"] = base_m / max(1, figures["joblib_peak_bytes"])
                print(f"  baseline load   {base_t:.3f} s   peak +{base_m / mb:.0f} MB   "
                      f"(ratio to joblib: time {figures['baseline_time_ratio']:.2f}x, "
                      f"peak RSS {figures['baseline_peak_ratio']:.2f}x, "
                      f"cpu {figures['baseline_cpu_ratio']:.2f}x)")
    print("summary, ModelStore.load / joblib.load (medians):")
    for kind in args.kinds:
        figures = out[kind]  # type: ignore[assignment]
        line = (f"  {kind:<19} time {figures['time_ratio']:.2f}x  "
                f"peak RSS {figures['peak_ratio']:.2f}x  cpu {figures['cpu_ratio']:.2f}x")
        if args.baseline:
            line += (f"   (baseline: time {figures['baseline_time_ratio']:.2f}x, "
                     f"peak RSS {figures['baseline_peak_ratio']:.2f}x, "
                     f"cpu {figures['baseline_cpu_ratio']:.2f}x)")
        print(line)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
