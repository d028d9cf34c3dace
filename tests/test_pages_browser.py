"""The registry in a real browser: JupyterLab, headless Chromium, and a real kernel.

JupyterLab runs on 127.0.0.1 with a token and a temporary store; Chromium (Debian's,
through playwright-python) logs in with the token, checks what a user sees (the models,
a version's plots, the compare view), sets an alias with the page's own form, and a
kernel on the same store then loads that version with ``%load_model name@alias``.
Screenshots go to the test's temporary folder; with ``NBMODELS_DOC_IMAGES=1`` they also
replace ``docs/images/registry_*.png`` (how the README's pictures are made).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from browser_support import browser_unavailable, chromium_page, start_jupyter
from nbm_helpers import kernel_output

from nbmodels import ModelStore

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
EXTENSION = "--ServerApp.jpserver_extensions=nbmodels.server=True"


def _fill_store(root: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nbmodels import evaluate

    store = ModelStore(root)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000)),
        make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
        make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=2000)),
    ]
    for i, model in enumerate(models):
        model.fit(X_train, y_train)
        record = store.save(model, "cancer_screening", X=X_train, y=y_train,
                            description="Logistic regression on the breast cancer data",
                            tags=["tabular", "binary"])
        evaluate(model, X_test, y_test, name="cancer_screening", version=record.version,
                 store=store)
        if i:
            evaluate(model, X_test[:70], y_test[:70], name="cancer_screening",
                     version=record.version, store=store, dataset="clinic_b")
    store.set_alias("cancer_screening", "production", "1.0.0")
    forest = RandomForestClassifier(n_estimators=30, max_depth=4, random_state=0)
    forest.fit(X_train, y_train)
    record = store.save(forest, "cancer_forest", X=X_train, y=y_train, tags=["tabular"],
                        description="A small random forest")
    evaluate(forest, X_test, y_test, name="cancer_forest", version=record.version, store=store)


def _kernel_run(client, code: str) -> str:
    return kernel_output(client, code, timeout=120)


def _shot(page: Any, folder: Path, name: str, *, max_height: int = 1500) -> None:
    bottom = page.evaluate("document.querySelector('main').getBoundingClientRect().bottom"
                           " + window.scrollY")
    height = int(min(max_height, bottom + 8))
    width = page.viewport_size["width"]
    path = folder / f"registry_{name}.png"
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height})
    if os.environ.get("NBMODELS_DOC_IMAGES") == "1":
        from PIL import Image  # matplotlib's own dependency

        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:  # 256 colours: a third of the bytes, same look
            image.convert("RGB").quantize(256).save(DOCS_IMAGES / path.name, optimize=True)


def _images_loaded(page: Any, selector: str) -> list[int]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.complete ? "
                                               "e.naturalWidth : 0)")


def _wait_for_images(page: Any, selector: str, timeout: float = 60.0) -> None:
    """Until every image of ``selector`` has loaded. Polled from Python: the pages' CSP
    forbids eval, which playwright's wait_for_function needs once it has to poll."""
    deadline = time.monotonic() + timeout
    while not all(_images_loaded(page, selector)):
        assert time.monotonic() < deadline, f"images of {selector} did not load"
        page.wait_for_timeout(100)


def test_registry_in_jupyterlab_with_chromium_and_a_kernel(tmp_path):
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from jupyter_client.manager import start_new_kernel

    store_root = tmp_path / "store"
    _fill_store(store_root)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    env = {"NBMODELS_HOME": str(store_root)}
    with start_jupyter(tmp_path / "lab", app="lab", env=env, extra_args=[EXTENSION],
                       ready_path="/nbmodels/api/store") as lab, \
            chromium_page(width=1200, height=800) as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        # JupyterLab itself is served (the registry lives beside it, not instead of it).
        assert lab.request("GET", "/lab")[0] == 200

        # The models table, after logging in with the token once.
        page.goto(f"{lab.url}nbmodels/?token={lab.token}")
        table = page.locator("table.models")
        table.wait_for()
        assert page.locator("a.model").all_inner_texts() == ["cancer_forest",
                                                             "cancer_screening"]
        assert page.get_by_text("production\u21921.0.0").is_visible()
        page.get_by_role("link", name="accuracy").click()  # sort by a metric
        page.wait_for_url("**/nbmodels/?sort=accuracy&order=desc")
        _shot(page, shots, "models")

        # A model: versions, metric charts.
        page.locator("a.model", has_text="cancer_screening").click()
        page.wait_for_url("**/nbmodels/models/cancer_screening")
        assert page.locator("svg.chart").first.is_visible()
        assert page.locator("table.versions tbody tr").count() == 3
        _shot(page, shots, "model")

        # A version: its saved plots load through the authenticated API.
        page.get_by_role("link", name="1.1.0", exact=True).first.click()
        page.wait_for_url("**/nbmodels/models/cancer_screening/1.1.0")
        plots = page.locator(".plots img")
        plots.first.scroll_into_view_if_needed()
        _wait_for_images(page, ".plots img")
        widths = _images_loaded(page, ".plots img")
        assert len(widths) >= 6 and all(w > 100 for w in widths), widths
        assert page.locator(".plots img[alt='roc_curve.png']").first.is_visible()
        assert page.get_by_text("%load_model cancer_screening@1.1.0").is_visible()

        # Set an alias with the page's form (PUT through the API, with the XSRF header).
        form = page.locator("form.alias-set")
        form.locator("input[name=alias]").fill("champion")
        with page.expect_navigation():
            form.get_by_role("button", name="Set alias").click()
        page.locator(".alias-list").get_by_text("champion").wait_for()
        assert ModelStore(store_root).aliases("cancer_screening")["champion"] == "1.1.0"
        page.evaluate("window.scrollTo(0, 0)")
        _shot(page, shots, "version", max_height=1800)

        # Compare: tick two versions on the model page.
        page.goto(f"{lab.url}nbmodels/models/cancer_screening")
        for version in ("1.0.0", "1.2.0"):
            page.locator(f"input[value='cancer_screening@{version}']").check()
        page.get_by_role("button", name="Compare selected versions").click()
        page.wait_for_url("**/nbmodels/compare?ref=*")
        assert page.locator("table.compare").first.is_visible()
        assert page.locator("td.best").count() >= 1
        _wait_for_images(page, ".plots img")
        assert all(w > 100 for w in _images_loaded(page, ".plots img"))
        assert page.locator(".plots img").count() >= 3
        _shot(page, shots, "compare")

        # A removed alias goes away on the page and in the store.
        page.goto(f"{lab.url}nbmodels/models/cancer_screening")
        with page.expect_navigation():
            page.locator("button.alias-remove[data-alias='production']").click()
        assert "production" not in ModelStore(store_root).aliases("cancer_screening")
        # The card's scikit-learn diagram sits in a sandboxed frame that may not run its
        # script (on purpose: the card may come from someone else's store).
        errors = [m for m in errors if "about:srcdoc" not in m]
        assert not errors, errors

    with chromium_page(width=1200, height=800, color_scheme="dark") as dark, \
            start_jupyter(tmp_path / "lab2", env=env, extra_args=[EXTENSION],
                          ready_path="/nbmodels/api/store") as server:
        dark.goto(f"{server.url}nbmodels/models/cancer_screening?token={server.token}")
        background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # the dark scheme
        _shot(dark, shots, "model_dark", max_height=900)

    # The alias set in the browser is what a kernel on the same store loads.
    km, kc = start_new_kernel(env={**os.environ, **env}, cwd=str(tmp_path))
    try:
        out = _kernel_run(kc, "%load_ext nbmodels\n"
                              "m = %load_model cancer_screening@champion\n"
                              "import nbmodels\n"
                              "print(nbmodels.provenance(m)[1:], m[-1].C)")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "('cancer_screening', '1.1.0') 1.0" in out, out
    assert sorted(p.name for p in shots.iterdir()) == [
        "registry_compare.png", "registry_model.png", "registry_model_dark.png",
        "registry_models.png", "registry_version.png"]
