"""The panels in a real browser: JupyterLab 4 and Notebook 7 on 127.0.0.1 with a token and
a temp store, a notebook that opens each panel, run in headless Chromium through playwright.

Checks what a user sees (model names, version rows, numbers that move with the
threshold slider) and what the kernel gets (clicking *Load* binds a variable, read back
through a kernel client). Screenshots go to the test's temp folder, in the light and
the dark theme.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from browser_support import start_jupyter

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("NBMODELS_CHROMIUM", "/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None,
                       reason=f"no Chromium at {CHROMIUM} (set NBMODELS_CHROMIUM)"),
    pytest.mark.timeout(900),
]

SETUP = '''\
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
import nbmodels
from nbmodels.widgets import CompareVersions, EvaluationPanel, ModelBrowser, SaveModelForm

X, y = make_classification(n_samples=600, n_features=6, n_informative=3, flip_y=0.1,
                           random_state=0)
X = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
y = pd.Series(y, name="churned")
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=0)
store = nbmodels.ModelStore()  # $NBMODELS_HOME: the test's temp store
for C, v in ((1.0, "1.9.0"), (0.01, "1.10.0")):
    clf = LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)
    store.save(clf, "churn", version=v, X=X_train, y=y_train, tags=["churn"],
               description=f"logistic regression, C={C}")
    nbmodels.evaluate(store.load("churn", v), X_test, y_test)
store.save(LogisticRegression(C=0.3).fit(X_train, y_train), "fraud", X=X_train, y=y_train)
store.set_alias("churn", "production", "1.9.0")
print("store ready", store.versions("churn"))
'''

CELLS = [
    SETUP,
    "ModelBrowser(store)",
    'CompareVersions("churn", store)',
    'EvaluationPanel(store.load("churn@1.9.0"), X_test, y_test)',
    "candidate = LogisticRegression(C=0.2).fit(X_train, y_train)\nSaveModelForm(candidate, store)",
]
PANELS = {"browser": ".nbm-panel-browser", "compare": ".nbm-panel-compare",
          "evaluation": ".nbm-panel-evaluation", "save": ".nbm-panel-save"}


def _notebook(cells: list[str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"cell{i}", "metadata": {},
                       "execution_count": None, "outputs": [], "source": src}
                      for i, src in enumerate(cells)]}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        return response.read()


# The front ends the panels must look right in: the app, its name in options, and where a
# notebook opens.
FRONT_ENDS = {"lab": ("lab", "LabApp", "/lab/tree/panels.ipynb"),
              "notebook7": ("notebook", "JupyterNotebookApp", "/notebooks/panels.ipynb")}


@pytest.fixture(scope="module", params=sorted(FRONT_ENDS))
def lab(tmp_path_factory, request):
    """JupyterLab or Notebook 7 on 127.0.0.1 with a token, its own settings, runtime and
    store folders."""
    front_end = request.param
    app, app_class, path = FRONT_ENDS[front_end]
    pytest.importorskip({"lab": "jupyterlab", "notebook": "notebook"}[app])
    base = tmp_path_factory.mktemp(front_end)
    root, store = base / "root", base / "store"
    root.mkdir()
    (root / "panels.ipynb").write_text(json.dumps(_notebook(CELLS)))
    settings = base / "settings"
    # every cell rendered (no virtual scrolling), so each panel can be found and shot
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    notices = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notices.parent.mkdir(parents=True)
    notices.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {"NBMODELS_HOME": str(store), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    args = [f"--{app_class}.expose_app_in_browser=True",
            f"--{app_class}.user_settings_dir={settings}",
            f"--{app_class}.workspaces_dir={base / 'workspaces'}"]
    if app == "lab":
        args += ["--LabApp.news_url=",
                 "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with start_jupyter(base, app=app, env=env, extra_args=args, root_dir=root) as server:
        yield {"url": server.url.rstrip("/"), "token": server.token, "base": base,
               "store": store, "runtime": base / "runtime", "front_end": front_end,
               "path": path}


@pytest.fixture(scope="module")
def page(lab):
    """The notebook open in headless Chromium, every cell run, every panel rendered."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 1800})
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(f"{lab['url']}{lab['path']}?token={lab['token']}")
        pg.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                             "window.jupyterapp.shell.currentWidget.sessionContext && "
                             "window.jupyterapp.shell.currentWidget.sessionContext.session"
                             " && window.jupyterapp.shell.currentWidget.sessionContext"
                             ".session.kernel")
        pg.wait_for_function("window.jupyterapp.shell.currentWidget.sessionContext.session"
                             ".kernel.status === 'idle'")
        shots = lab["base"] / f"screenshots-{lab['front_end']}"
        shots.mkdir(exist_ok=True)
        # room for the panels (Notebook 7 has no left area open to begin with)
        pg.evaluate("window.jupyterapp.shell.collapseLeft && "
                    "window.jupyterapp.shell.collapseLeft()")
        pg.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            for selector in PANELS.values():
                pg.locator(selector).first.wait_for(state="visible")
            # the evaluation panel predicts in a worker thread: wait for its numbers
            pg.locator(".nbm-panel-evaluation table.nbm-t").first.wait_for(state="visible")
            pg.wait_for_function("window.jupyterapp.shell.currentWidget.sessionContext"
                                 ".session.kernel.status === 'idle'")
        except Exception:
            pg.screenshot(path=str(shots / "failed.png"), full_page=True)
            (shots / "failed.txt").write_text(pg.locator(".jp-Notebook").inner_text())
            raise
        yield pg, shots
        context.close()
        browser.close()


def _shoot(pg, shots: Path, name: str, selector: str) -> Path:
    target = pg.locator(selector).first
    target.scroll_into_view_if_needed()
    path = shots / f"{name}.png"
    target.screenshot(path=str(path))
    return path


def test_panels_render_with_models_and_version_rows(page):
    pg, shots = page
    browser = pg.locator(PANELS["browser"])
    options = browser.locator("select option")
    assert options.all_inner_texts()[:2] == ["churn", "fraud"]
    rows = browser.locator("table.nbm-t tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).inner_text().startswith("1.10.0")  # newest first, semver order
    assert "production" in rows.nth(1).inner_text()
    compare = pg.locator(PANELS["compare"])
    assert "churn@1.10.0" in compare.locator("select[multiple]").inner_text()
    header = compare.locator("table.nbm-t thead").first.inner_text()
    assert "1.9.0" in header and "1.10.0" in header
    assert "auc_roc" in compare.locator("table.nbm-t").first.inner_text()
    evaluation = pg.locator(PANELS["evaluation"])
    assert "churn@1.9.0" in evaluation.inner_text()
    save = pg.locator(PANELS["save"])
    assert save.locator("input").first.input_value() == "candidate"
    assert "next version" in save.inner_text()
    compare.locator(".lm-TabBar-tab", has_text="Plots").click()
    plot = compare.locator(".jp-OutputArea-output img").first
    plot.wait_for(state="visible")
    assert plot.bounding_box()["width"] >= 400  # big enough to read the axis labels
    _shoot(pg, shots, "panel_compare_plots", PANELS["compare"])
    compare.locator(".lm-TabBar-tab", has_text="Metrics").click()
    for name, selector in PANELS.items():
        path = _shoot(pg, shots, f"panel_{name}", selector)
        assert path.stat().st_size > 5000
        # nothing sticks out of a panel: wide tables scroll inside their own box
        sizes = pg.locator(selector).first.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert sizes[0] <= sizes[1] + 1, (name, sizes)


def _live_numbers(pg) -> str:
    return pg.locator(".nbm-panel-evaluation table.nbm-t").first.inner_text()


def test_threshold_slider_changes_the_numbers(page):
    pg, shots = page
    panel = pg.locator(PANELS["evaluation"])
    slider = panel.locator(".widget-slider")
    assert slider.first.is_visible()
    before = _live_numbers(pg)
    image = ".nbm-panel-evaluation .nbm-confusion img"
    image_before = pg.locator(image).first.get_attribute("src")
    readout = slider.locator(".widget-readout").first
    readout.click()
    pg.keyboard.press("Control+A")
    pg.keyboard.type("0.2")
    pg.keyboard.press("Enter")
    pg.wait_for_function("(before) => document.querySelector('.nbm-panel-evaluation "
                         "table.nbm-t').innerText !== before", arg=before)
    after = _live_numbers(pg)
    assert after != before
    # the confusion matrix is redrawn for the new threshold too
    pg.wait_for_function("([sel, src]) => document.querySelector(sel).src !== src",
                         arg=[image, image_before])
    _shoot(pg, shots, "panel_evaluation_threshold", PANELS["evaluation"])


def test_load_button_binds_a_variable_in_the_kernel(page, lab):
    pg, _ = page
    panel = pg.locator(PANELS["browser"])
    panel.locator(".lm-TabBar-tab", has_text="Actions").click()
    name_box = panel.locator("input[placeholder='variable']")
    name_box.fill("loaded_from_panel")
    name_box.press("Enter")
    panel.locator("button", has_text="Load").click()
    panel.get_by_text("loaded churn@1.10.0 as").wait_for()
    # through the kernel itself, not through the page
    from jupyter_client import BlockingKernelClient

    sessions = json.loads(_get(f"{lab['url']}/api/sessions?token={lab['token']}"))
    (session,) = [s for s in sessions if s["path"].endswith("panels.ipynb")]
    kc = BlockingKernelClient(connection_file=str(
        lab["runtime"] / f"kernel-{session['kernel']['id']}.json"))
    kc.load_connection_file()
    kc.start_channels()
    try:
        reply = kc.execute_interactive(
            "import nbmodels\n_where = nbmodels.provenance(loaded_from_panel)",
            user_expressions={"cls": "type(loaded_from_panel).__name__",
                              "where": "_where[1:]"}, timeout=60)
    finally:
        kc.stop_channels()
    expressions = reply["content"]["user_expressions"]
    assert expressions["cls"]["data"]["text/plain"] == "'LogisticRegression'"
    assert expressions["where"]["data"]["text/plain"] == "('churn', '1.10.0')"


def test_dark_theme_screenshots(page):
    pg, shots = page
    pg.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', "
                "{theme: 'JupyterLab Dark'})")
    pg.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    pg.wait_for_timeout(500)  # the theme's stylesheet swaps in after the attribute
    colour = pg.evaluate("getComputedStyle(document.querySelector('.nbm-panel-browser "
                         "table.nbm-t td')).color")
    background = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    assert colour != background
    # light text on the dark page: the table's text follows the theme, not a fixed colour
    rgb = [int(x) for x in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
    assert sum(rgb) > 3 * 128
    for name, selector in PANELS.items():
        _shoot(pg, shots, f"dark_panel_{name}", selector)
    print(f"screenshots in {shots}")
