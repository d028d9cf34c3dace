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


NOTEBOOK_SIZE_LIMIT = 1_000_000  # bytes: plots at 100 dpi, not a gallery of screenshots


def _notebooks() -> list[tuple[str, list[dict]]]:
    import json

    return [(nb.name, json.loads(nb.read_text())["cells"])
            for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))]


_SILENT_MAGICS = {"config", "load_ext", "model_alias", "matplotlib", "cd"}


def _displays_something(source: str) -> bool:
    """Whether a cell's last statement is an expression that Jupyter would display."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return True
    if not tree.body or source.rstrip().endswith(";"):
        return False
    last = tree.body[-1]
    if not isinstance(last, ast.Expr):
        return False
    call = last.value
    if not isinstance(call, ast.Call):
        return True
    if isinstance(call.func, ast.Name) and call.func.id == "print":
        return False  # what it prints is checked as an output when there is something
    # get_ipython().run_line_magic("config", ...): magics that return None display nothing.
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "run_line_magic" and call.args:
        magic = call.args[0]
        return not (isinstance(magic, ast.Constant) and magic.value in _SILENT_MAGICS)
    return True


def test_nbval_runs_strict_with_the_sanitize_file():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    addopts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]["addopts"].split()
    assert "--nbval" in addopts and "--nbval-lax" not in addopts, addopts
    sanitize = addopts[addopts.index("--nbval-sanitize-with") + 1]
    assert (ROOT / sanitize).is_file(), sanitize


def test_notebooks_are_committed_with_their_outputs():
    """The stored outputs are what nbval compares against, and what readers see on the web:
    every notebook was run top to bottom in one fresh kernel and saved with its outputs."""
    for name, cells in _notebooks():
        code = [c for c in cells if c["cell_type"] == "code"]
        counts = [c.get("execution_count") for c in code]
        assert counts == list(range(1, len(code) + 1)), \
            f"{name}: run it top to bottom in a fresh kernel and save it (counts {counts})"
        for i, cell in enumerate(code, 1):
            source = "".join(cell["source"])
            outputs = cell.get("outputs") or []
            assert not [o for o in outputs if o["output_type"] == "error"], f"{name} cell {i}"
            if _displays_something(source):
                assert outputs, f"{name} cell {i} ends in an expression but has no output"


def test_notebook_outputs_ignored_only_with_a_reason():
    """``# NBVAL_IGNORE_OUTPUT`` (or a skip) only where the prose just above says why: an
    output that is not compared is an output that can silently go wrong."""
    markers = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION")
    for name, cells in _notebooks():
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            if cell["cell_type"] != "code":
                continue
            prose = "".join(cells[i - 1]["source"]) if i and cells[i - 1]["cell_type"] == \
                "markdown" else ""
            for marker in (m for m in markers if m in source):
                assert marker in prose, f"{name}: say in the markdown above cell {i} why {marker}"


def test_notebook_images_are_present_and_small():
    import base64
    import re

    png = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
    images = 0
    for name, cells in _notebooks():
        path = ROOT / "notebooks" / name
        assert path.stat().st_size < NOTEBOOK_SIZE_LIMIT, \
            f"{name} is {path.stat().st_size} bytes: draw fewer or smaller plots"
        for cell in cells:
            for output in cell.get("outputs") or []:
                data = output.get("data", {})
                found = [data["image/png"]] if "image/png" in data else []
                found += png.findall("".join(data.get("text/html", "")))
                for image in found:
                    raw = base64.b64decode("".join(image))
                    assert raw.startswith(b"\x89PNG") and len(raw) > 1000, name
                    images += 1
    assert images, "the tutorials show plots; none are stored"
