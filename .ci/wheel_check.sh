#!/usr/bin/env bash
# Build nbmodels' wheel, install it (not editable) into a fresh virtualenv, and check that
# Jupyter finds the server extension enabled and OK from the installed files alone:
# the config file shipped as wheel shared-data (etc/jupyter/jupyter_server_config.d) and
# the pages' static files inside the package.
#   usage: .ci/wheel_check.sh            (PYTHON=python3.11 .ci/wheel_check.sh to pick one)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1
work=$(mktemp -d "${TMPDIR:-/tmp}/nbmodels-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== building the wheel"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$src"
wheel=$(ls "$work"/dist/nbmodels-*.whl)
echo "$wheel"

echo "== checking its contents"
"$PYTHON" - "$wheel" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = ["nbmodels/server/__init__.py", "nbmodels/server/pages.py",
          "nbmodels/server/static/registry.css", "nbmodels/server/static/registry.js"]
missing = [n for n in needed if n not in names]
config = [n for n in names if n.endswith("etc/jupyter/jupyter_server_config.d/nbmodels.json")]
if missing or not config:
    sys.exit(f"the wheel lacks {missing or 'the jupyter_server_config.d/nbmodels.json data file'}")
print("ok:", *needed, config[0], sep="\n  ")
EOF

echo "== installing it into a fresh virtualenv"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel"

cd "$work"  # away from the source tree: only the installed package can be imported
installed=$("$work/venv/bin/python" -c "import nbmodels.server; print(nbmodels.server.__file__)")
case "$installed" in
  "$work/venv/"*) echo "imported from $installed" ;;
  *) echo "FAIL: nbmodels.server imported from $installed, not from the venv" >&2; exit 1 ;;
esac

# The pages import and find their stylesheet and script in the installed package.
"$work/venv/bin/python" -c "
from nbmodels.server.extension import STATIC_DIR
import nbmodels.server.pages
missing = [f for f in ('registry.css', 'registry.js') if not (STATIC_DIR / f).is_file()]
assert not missing, f'the installed package lacks {missing} in {STATIC_DIR}'
print('pages import; static files in', STATIC_DIR)"

echo "== jupyter server extension list"
mkdir -p "$work/empty-user-config"
# No user config and no inherited JUPYTER_* settings: only what the wheel installed counts.
out=$(env -u JUPYTER_NO_CONFIG -u JUPYTER_PATH -u JUPYTER_PLATFORM_DIRS \
      JUPYTER_CONFIG_DIR="$work/empty-user-config" \
      "$work/venv/bin/jupyter" server extension list 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
echo "$out"
section=$(printf '%s\n' "$out" | awk -v dir="$work/venv/etc/jupyter" '
  /Config dir:/ { inside = index($0, dir) > 0; next } inside { print }')
if printf '%s\n' "$section" | grep -q "nbmodels.server enabled" &&
   printf '%s\n' "$section" | grep -Eq "nbmodels\.server[[:space:]]+OK"; then
  echo "PASS: nbmodels.server is enabled and OK from the installed wheel"
else
  echo "FAIL: nbmodels.server is not enabled and OK in $work/venv/etc/jupyter" >&2
  exit 1
fi
