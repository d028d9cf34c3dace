"""The remote benchmark in quick mode, so the script cannot rot (no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_remote.py"


def test_bench_remote_quick():
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = {line.split("  ")[0].strip(): line.split() for line in out.stdout.splitlines()}
    assert "load, cached" in lines and "latest among 30 versions" in lines
    # latest reads the head index object and stats the latest record: 2 requests
    assert lines["latest among 30 versions"][4] == "2", out.stdout
