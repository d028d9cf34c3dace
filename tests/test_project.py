"""The project's own promises: README commands, CI script, lazy imports, public API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbmodels

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_readme_commands_are_what_ci_runs():
    quickstart, tests = _bash_blocks((ROOT / "README.md").read_text())[:2]
    assert "pip install" in quickstart and quickstart.endswith("nbmodels quickstart")
    assert "pip install" in tests and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv" in ci
    # CI runs README's test command after making the venv (same install, same pytest).
    assert tests.split("&& ", 1)[1] in ci


def test_public_api_is_exactly_all():
    assert sorted(nbmodels.__all__) == nbmodels.__all__
    for name in nbmodels.__all__:
        assert getattr(nbmodels, name) is not None, name
    # No accidental API: in a fresh interpreter, every public name the package defines
    # is in __all__ (apart from the typing helpers its own annotations need).
    code = ("import types, nbmodels; print(' '.join(sorted(n for n, v in vars(nbmodels).items()"
            " if not n.startswith('_') and not isinstance(v, types.ModuleType))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    public = set(out.stdout.split()) - {"annotations", "TYPE_CHECKING", "Any"}
    assert public <= set(nbmodels.__all__), public - set(nbmodels.__all__)
    assert sorted(dir(nbmodels)) == dir(nbmodels) and set(nbmodels.__all__) <= set(dir(nbmodels))


def test_import_is_light():
    code = ("import sys, nbmodels; heavy = [m for m in ('sklearn', 'matplotlib', 'pandas', "
            "'torch', 'IPython', 'ipywidgets', 'semver', 'filelock') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_every_notebook_is_collected_by_nbval():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "the tutorials are the integration tests: notebooks/ must hold some"
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "notebooks"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for nb in notebooks:
        # nbval names items "notebooks/NAME.ipynb::Cell N"; a notebook with none is not run.
        assert f"notebooks/{nb.name}::Cell 0" in out.stdout, f"{nb.name} is not collected"


def test_notebooks_are_committed_without_outputs():
    import json

    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), nb.name
