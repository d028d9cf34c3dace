"""Format plugins: a separate distribution found through the nbmodels.formats entry points."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from nbmodels import formats
from nbmodels.errors import FormatUnavailableError
from nbmodels.formats import format_for, get_format, list_formats

PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugin_pkg"


def _install_metadata(site: Path, name: str, entry_points: str) -> None:
    """What ``pip install`` leaves in site-packages for a distribution: its dist-info."""
    dist_info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist_info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def fresh_registry(monkeypatch):
    """The built-ins only, with entry points not read yet; restored after the test."""
    builtins = {k: v for k, v in formats._FORMATS.items()
                if type(v).__module__.startswith("nbmodels.formats.")}
    monkeypatch.setattr(formats, "_FORMATS", builtins)
    monkeypatch.setattr(formats, "_entry_points_loaded", False)
    yield
    for module in ("nbmodels_threshold",):
        sys.modules.pop(module, None)


@pytest.fixture
def plugin_installed(tmp_path, monkeypatch, fresh_registry):
    site = tmp_path / "site"
    _install_metadata(site, "nbmodels-threshold",
                      "[nbmodels.formats]\nthreshold = nbmodels_threshold:ThresholdFormat\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(PLUGIN_SOURCE))  # the package code itself
    importlib.invalidate_caches()
    return site


def test_the_plugin_package_declares_its_entry_point():
    import tomllib

    project = tomllib.loads((PLUGIN_SOURCE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["nbmodels.formats"] == {
        "threshold": "nbmodels_threshold:ThresholdFormat"}


def test_plugin_is_found_through_its_entry_point(plugin_installed, store):
    assert "nbmodels_threshold" not in sys.modules
    assert "threshold" in [f.name for f in list_formats()]
    plugin = importlib.import_module("nbmodels_threshold")
    fmt = get_format("threshold")
    assert type(fmt) is plugin.ThresholdFormat

    rule = plugin.ThresholdRule(feature=2, threshold=2.5)
    assert format_for(rule) is fmt  # claimed automatically
    rec = store.save(rule, "petal_rule")
    assert rec["format"] == "threshold" and rec["format_module"] == "nbmodels_threshold"
    assert [f["name"] for f in rec["files"]] == ["rule.json"]
    X = np.array([[0, 0, 1.0, 0], [0, 0, 4.0, 0]])
    loaded = store.load("petal_rule")
    assert isinstance(loaded, plugin.ThresholdRule)
    assert loaded.predict(X).tolist() == [0, 1]


def test_version_of_an_uninstalled_plugin_says_what_is_missing(plugin_installed, store,
                                                               monkeypatch):
    rule = importlib.import_module("nbmodels_threshold").ThresholdRule(0, 1.0)
    store.save(rule, "rule")
    # Elsewhere: a machine without the plugin.
    monkeypatch.setattr(formats, "_FORMATS", {k: v for k, v in formats._FORMATS.items()
                                              if k != "threshold"})
    with pytest.raises(FormatUnavailableError, match="'nbmodels_threshold'"):
        store.load("rule")


def test_broken_plugin_warns_and_the_store_keeps_working(tmp_path, monkeypatch,
                                                         fresh_registry):
    site = tmp_path / "site"
    _install_metadata(site, "nbmodels-broken",
                      "[nbmodels.formats]\nbroken = nbmodels_no_such_plugin_9c1:Format\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    with pytest.warns(UserWarning, match="'broken' failed to load"):
        names = [f.name for f in list_formats()]
    assert "broken" not in names and "joblib" in names


def test_register_format_directly(fresh_registry, store):
    plugin_dir = str(PLUGIN_SOURCE)
    sys.path.insert(0, plugin_dir)
    try:
        plugin = importlib.import_module("nbmodels_threshold")
    finally:
        sys.path.remove(plugin_dir)
    formats.register_format(plugin.ThresholdFormat)
    rec = store.save(plugin.ThresholdRule(1, 0.5), "rule")
    assert rec["format"] == "threshold"
    with pytest.raises(ValueError, match="already registered"):
        formats.register_format(type("Other", (plugin.ThresholdFormat,), {}))
