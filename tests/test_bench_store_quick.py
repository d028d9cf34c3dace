"""The store benchmark in quick mode, so the script cannot rot (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_store.py"


def test_bench_store_quick():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ratio" in out.stdout and "latest among" in out.stdout


def test_bench_load_ext_quick():
    script = SCRIPT.with_name("bench_load_ext.py")
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "%load_ext nbmodels" in out.stdout
    assert "heavy modules imported by %load_ext: none" in out.stdout


def test_bench_scale_quick(tmp_path):
    script = SCRIPT.with_name("bench_scale.py")
    figures_file = tmp_path / "figures.json"
    out = subprocess.run([sys.executable, str(script), "--quick", "--json", str(figures_file)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    figures = json.loads(figures_file.read_text())
    for key in ("save_empty_ms", "save_deep_ms", "save_wide_ms", "save_deep_ratio",
                "first_save_deep_ms", "versions_deep_ms", "versions_wide_ms", "list_wide_ms",
                "latest_deep_ms"):
        assert figures[key] > 0, key
    assert "ratio to empty store" in out.stdout and "list() of 60 models" in out.stdout
