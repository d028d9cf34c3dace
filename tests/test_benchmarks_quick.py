"""The benchmark scripts run end to end in their --quick form (small data, seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_evaluate_quick(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_evaluate.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "speedup, seed outputs:" in done.stdout and "classification_report" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["n"] == 20_000
    for key in ("seed_path_s", "nbmodels_seed_outputs_s", "nbmodels_full_s"):
        assert figures[key] > 0
    assert figures["speedup_seed_outputs"] == figures["seed_path_s"] / figures[
        "nbmodels_seed_outputs_s"]
    assert set(figures["steps"]["nbmodels_full"]) >= {"metrics: sort + counts", "plot:roc_curve",
                                                      "save (all files)"}
