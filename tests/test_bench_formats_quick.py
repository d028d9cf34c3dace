"""benchmarks/bench_formats.py --quick runs end to end and reports every format."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_formats.py"


def test_quick_benchmark_runs_every_available_format():
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)
    labels = [r["format"] for r in rows]
    assert labels[:2] == ["joblib", "pickle"]
    expected = {"skops": "skops", "onnx": "onnxruntime", "torch": "torch", "keras": "keras"}
    for label, module in expected.items():
        assert (label in labels) == (importlib.util.find_spec(module) is not None), labels
    for row in rows:
        assert row["save_s"] > 0 and row["load_s"] > 0 and row["size_bytes"] > 0
        assert row["save_ratio"] == row["save_s"] / row["raw_joblib_save_s"]
