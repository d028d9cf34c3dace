#!/usr/bin/env bash
# CI: README's first command, exactly as README.md writes it, on a clean copy of the
# repository in a temporary folder: a fresh virtualenv, the package without extras
# (what a new user installs), then the quickstart. Exits non-zero when any of it fails.
#
# The command is read from README.md (the first ```bash block), not repeated here, so the
# README cannot drift from what CI runs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

command="$(awk '/^```bash[[:space:]]*$/ {inside=1; next}
                inside && /^```/ {exit}
                inside && NF {print}' "$repo/README.md")"
if [ -z "$command" ] || [ "$(printf '%s\n' "$command" | wc -l)" -ne 1 ]; then
    echo "readme_first_command: README.md's first bash block must hold exactly one command," \
         "found:" >&2
    printf '%s\n' "$command" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/nbmodels-readme.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The files a fresh clone has (tracked and new, not ignored ones such as .venv or models/).
(cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
    | tar --null -T - -cf -) | tar -xf - -C "$work"

cd "$work"
unset NBMODELS_HOME PYTHONPATH VIRTUAL_ENV
export PIP_DISABLE_PIP_VERSION_CHECK=1 MPLBACKEND=Agg
echo "readme_first_command: in $work, running: $command"
bash -euo pipefail -c "$command"

# The quickstart must have left a store that verifies, where the README says (./models).
.venv/bin/nbmodels --store models verify

# Without extras, every optional feature says which extra provides it.
.venv/bin/python - <<'PY'
import contextlib
import io
import sys

import pandas as pd
from sklearn.linear_model import LogisticRegression

import nbmodels
from nbmodels.cli import main

store = nbmodels.ModelStore("models")
clf = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
failed = []
extras = {"skops": "skops", "onnx": "onnx", "torch": "torch", "keras": "keras",
          "tf_saved_model": "tensorflow"}
for fmt, extra in extras.items():
    try:
        store.save(clf, "extras_check", format=fmt)
        failed.append(f"format={fmt!r} saved without the {extra} extra")
    except nbmodels.NBModelsError as exc:
        if f"pip install nbmodels[{extra}]" not in str(exc):
            failed.append(f"format={fmt!r}: {exc}")
pd.DataFrame({"x": [0.0, 1.0], "y": [0, 1]}).to_csv("data.csv", index=False)
store.save(clf, "extras_check")
try:
    pd.DataFrame({"x": [0.0, 1.0], "y": [0, 1]}).to_parquet("data.parquet")
    failed.append("pyarrow is installed without the parquet extra")
except ImportError:
    open("data.parquet", "wb").close()
said = io.StringIO()
with contextlib.redirect_stderr(said):
    code = main(["--store", "models", "evaluate", "extras_check", "--data", "data.parquet",
                 "--target", "y", "--no-save"])
if code != 1 or "pip install nbmodels[parquet]" not in said.getvalue():
    failed.append(f"nbmodels evaluate on Parquet without pyarrow: exit {code}, "
                  f"{said.getvalue()!r}")
print("\n".join(failed) or "every missing extra is named", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
echo "readme_first_command: ok"
