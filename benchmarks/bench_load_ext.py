"""Cost of ``%load_ext nbmodels`` in a fresh interpreter, against ``import IPython`` alone.

Each round starts a new Python process that imports IPython, creates a shell and then
loads the extension, timing each step inside the process (so interpreter start-up is
not counted). Run ``python benchmarks/bench_load_ext.py`` (``--quick``: fewer rounds).
Target: under 150 ms extra.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

_CHILD = r"""
import json, time
t0 = time.perf_counter()
import IPython
from IPython.core.interactiveshell import InteractiveShell
t1 = time.perf_counter()
ip = InteractiveShell.instance()
t2 = time.perf_counter()
ip.run_line_magic("load_ext", "nbmodels")
t3 = time.perf_counter()
assert "save_model" in ip.magics_manager.magics["line"]
import sys
print(json.dumps({"import_ipython": t1 - t0, "shell": t2 - t1, "load_ext": t3 - t2,
                  "heavy": [m for m in ("sklearn", "matplotlib", "pandas") if m in sys.modules]}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 11")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 11
    samples = []
    for _ in range(rounds):
        out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                             check=True, timeout=120)
        samples.append(json.loads(out.stdout))
    med = {k: statistics.median(s[k] for s in samples) * 1e3
           for k in ("import_ipython", "shell", "load_ext")}
    heavy = sorted({m for s in samples for m in s["heavy"]})
    print(f"fresh interpreter, median of {rounds} rounds:")
    print(f"  import IPython          {med['import_ipython']:7.1f} ms")
    print(f"  InteractiveShell()      {med['shell']:7.1f} ms")
    print(f"  %load_ext nbmodels      {med['load_ext']:7.1f} ms extra  "
          f"({med['load_ext'] / med['import_ipython']:.2f}x of import IPython; target < 150 ms)")
    print(f"  heavy modules imported by %load_ext: {', '.join(heavy) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
