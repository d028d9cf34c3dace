"""The load-memory benchmark in quick mode, so the script cannot rot (no timing or
memory assertions: the figures go in the notes, measured at full size)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load_memory.py"


def test_bench_load_memory_quick(tmp_path):
    out_json = tmp_path / "figures.json"
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ratio store/joblib" in out.stdout
    figures = json.loads(out_json.read_text())
    assert "summary" in out.stdout
    for kind in ("saved", "adopted", "adopted_compressed"):
        assert figures[kind]["artifact_bytes"] > 19 << 20
        for key in ("joblib_seconds", "store_seconds", "joblib_peak_bytes",
                    "store_peak_bytes"):
            assert figures[kind][key] > 0, (kind, key)
