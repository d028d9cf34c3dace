"""The panels driven from Python, without a browser: set values, click buttons, and check
the store and the widgets' state. Real store in a temp folder, real fitted models."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from nbmodels import ModelStore, evaluate
from nbmodels.errors import ModelNotFoundError
from nbmodels.widgets import CompareVersions, EvaluationPanel, ModelBrowser, SaveModelForm

pytest.importorskip("ipywidgets")


# -- data and a store ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def binary_data():
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=400, n_features=5, n_informative=3, flip_y=0.1,
                               random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    y = pd.Series(y, name="churned")
    return train_test_split(X, y, test_size=0.4, random_state=0)


def _lr(C, data):
    from sklearn.linear_model import LogisticRegression

    X_train, _, y_train, _ = data
    return LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)


@pytest.fixture
def filled(tmp_path, binary_data):
    """A store with churn 1.9.0 and 1.10.0 (semver order matters), both evaluated, and
    one version of another model."""
    X_train, X_test, y_train, y_test = binary_data
    store = ModelStore(tmp_path / "models")
    store.save(_lr(1.0, binary_data), "churn", version="1.9.0", X=X_train, y=y_train,
               description="baseline", tags=["churn", "lr"])
    store.save(_lr(0.01, binary_data), "churn", version="1.10.0", X=X_train, y=y_train,
               description="stronger regularisation", tags=["churn"])
    for v in ("1.9.0", "1.10.0"):
        evaluate(store.load("churn", v), X_test, y_test)
    store.save(_lr(0.5, binary_data), "fraud", X=X_train, y=y_train,
               description="fraud detector", tags=["risk"])
    return store


def _png_outputs(out):
    return [o for o in out.outputs if "image/png" in o.get("data", {})]


# -- ModelBrowser ----------------------------------------------------------------------------

def test_browser_lists_models_and_versions_in_semver_order(filled):
    b = ModelBrowser(filled, namespace={})
    assert b.model_list.options == ("churn", "fraud")
    assert b.model_list.value == "churn"
    # newest first, by semver: 1.10.0 > 1.9.0 (string order would say the opposite)
    assert b.version_picker.options == ("1.10.0", "1.9.0")
    table = b.versions_table.value
    assert table.index(">1.10.0<") < table.index(">1.9.0<")
    assert "accuracy" in table and "default (n=160" in table
    assert "2 models" in b.title.value


def test_browser_search_by_tag_description_and_glob(filled):
    b = ModelBrowser(filled, namespace={})
    b.search.value = "risk"  # a tag
    assert b.model_list.options == ("fraud",)
    b.search.value = "REGULARISATION"  # a description, case-insensitive
    assert b.model_list.options == ("churn",)
    b.search.value = "fr*"  # a glob on names
    assert b.model_list.options == ("fraud",)
    assert b.version_picker.options == ("1.0.0",)
    b.search.value = "nothing-like-this"
    assert b.model_list.options == () and b.version_picker.options == ()
    assert "no model matches" in b.versions_table.value
    b.search.value = ""
    assert b.model_list.options == ("churn", "fraud")


def test_browser_shows_the_record_and_saved_plots(filled):
    b = ModelBrowser(filled, namespace={})
    b.version_picker.value = "1.9.0"
    assert "baseline" in b.details.value
    assert "f0" in b.details.value  # features
    assert "model.joblib" in b.details.value  # files with their hashes
    rec = filled.record("churn", "1.9.0")
    assert rec.files[0]["sha256"] in b.details.value
    plots = _png_outputs(b.plots)
    assert len(plots) >= 3  # confusion matrix, ROC, PR, ... saved by evaluate
    assert any("roc" in o["data"]["text/plain"] for o in plots)
    b.model_list.value = "fraud"  # never evaluated
    assert not _png_outputs(b.plots)
    assert "no saved evaluation plots" in b.plots.outputs[0]["data"]["text/plain"]


def test_browser_load_binds_the_model_in_the_namespace(filled, binary_data):
    ns = {}
    b = ModelBrowser(filled, namespace=ns)
    b.version_picker.value = "1.9.0"
    assert b.var_name.value == "churn"
    b.var_name.value = "m"
    b.load_button.click()
    assert "loaded churn@1.9.0 as `m`" in b.status.value
    X_test = binary_data[1]
    expected = filled.load("churn", "1.9.0").predict_proba(X_test)
    np.testing.assert_array_equal(ns["m"].predict_proba(X_test), expected)
    b.var_name.value = "not a name"
    b.load_button.click()
    assert "nbm-err" in b.status.value and "not a Python variable name" in b.status.value
    assert set(ns) == {"m"}


def test_browser_sets_and_moves_an_alias(filled):
    b = ModelBrowser(filled, namespace={})
    b.version_picker.value = "1.9.0"
    b.alias_name.value = "production"
    b.alias_button.click()
    assert filled.aliases("churn") == {"production": "1.9.0"}
    assert "churn@production -&gt; 1.9.0" in b.status.value
    assert b.version_picker.value == "1.9.0"  # the selection survives the redraw
    b.version_picker.value = "1.10.0"
    b.alias_button.click()
    assert filled.aliases("churn") == {"production": "1.10.0"}
    assert "Aliases: production" in b.details.value
    b.alias_name.value = "bad alias!"
    b.alias_button.click()
    assert "nbm-err" in b.status.value
    assert filled.aliases("churn") == {"production": "1.10.0"}


def test_browser_delete_asks_first(filled):
    b = ModelBrowser(filled, namespace={})
    b.version_picker.value = "1.9.0"
    b.delete_button.click()
    assert b.confirm_box.layout.display == "flex"
    assert "churn@1.9.0" in b.confirm_box.children[0].value
    b.cancel_delete.click()
    assert b.confirm_box.layout.display == "none"
    assert filled.versions("churn") == ["1.9.0", "1.10.0"]
    b.delete_button.click()
    b.confirm_delete.click()
    assert filled.versions("churn") == ["1.10.0"]
    assert b.version_picker.options == ("1.10.0",)
    assert "deleted churn@1.9.0" in b.status.value


def test_browser_delete_of_an_aliased_version_is_refused_in_the_panel(filled):
    filled.set_alias("churn", "production", "1.10.0")
    b = ModelBrowser(filled, namespace={})
    b.delete_button.click()
    b.confirm_delete.click()
    assert "aliased as production" in b.status.value and "nbm-err" in b.status.value
    assert filled.versions("churn") == ["1.9.0", "1.10.0"]
    b.delete_button.click()
    b.force_delete.value = True
    b.confirm_delete.click()
    assert filled.versions("churn") == ["1.9.0"] and filled.aliases("churn") == {}


def test_browser_refresh_sees_new_versions_and_keeps_the_selection(filled, binary_data):
    b = ModelBrowser(filled, namespace={})
    b.version_picker.value = "1.9.0"
    filled.save(_lr(3.0, binary_data), "churn", version="2.0.0")
    filled.save(_lr(3.0, binary_data), "new_model")
    assert "2.0.0" not in b.version_picker.options
    b.refresh_button.click()
    assert b.version_picker.options == ("2.0.0", "1.10.0", "1.9.0")
    assert b.version_picker.value == "1.9.0"
    assert b.model_list.options == ("churn", "fraud", "new_model")


def test_browser_on_an_empty_store(tmp_path):
    b = ModelBrowser(tmp_path / "nothing", namespace={})
    assert b.model_list.options == ()
    assert "the store is empty" in b.versions_table.value
    b.load_button.click()
    assert "select a version first" in b.status.value


@pytest.mark.skipif(not hasattr(ModelStore, "edit"), reason="ModelStore.edit is not in the core "
                    "yet; the browser hides its edit controls until it is")
def test_browser_edits_description_and_tags(filled):
    b = ModelBrowser(filled, namespace={})
    assert b.can_edit
    b.version_picker.value = "1.9.0"
    b.edit_description.value = "the first one"
    b.edit_tags.value = "churn, old"
    b.edit_button.click()
    rec = filled.record("churn", "1.9.0")
    assert rec["description"] == "the first one" and rec.tags == ["churn", "old"]


# -- SaveModelForm ---------------------------------------------------------------------------

def test_save_form_suggests_the_version_the_save_gets(tmp_path, binary_data):
    X_train, _, y_train, _ = binary_data
    store = ModelStore(tmp_path / "models")
    clf = _lr(1.0, binary_data)
    ns = {"clf": clf, "X_train": X_train, "y_train": y_train, "n": 3}
    form = SaveModelForm(clf, store, namespace=ns)
    assert form.name.value == "clf"  # from the variable
    assert form.data_picker.options == ("(none)", "X_train", "y_train")
    assert "1.0.0" in form.suggestion.value and "first version" in form.suggestion.value
    form.data_picker.value = "X_train"
    form.target_picker.value = "y_train"
    form.description.value = "first try"
    form.tags.value = "churn, demo"
    form.save_button.click()
    rec = store.record("clf")
    assert rec.version == "1.0.0" and form.saved.ref == "clf@1.0.0"
    assert rec["description"] == "first try" and rec.tags == ["churn", "demo"]
    assert rec["features"] == list(X_train.columns) and rec["target"] == "churned"
    assert "saved clf@1.0.0" in form.status.value

    other = _lr(0.1, binary_data)
    form2 = SaveModelForm(other, store, name="clf", namespace=ns)
    form2.data_picker.value = "X_train"
    form2.target_picker.value = "y_train"
    assert "1.1.0" in form2.suggestion.value and "hyper-parameters changed" in \
        form2.suggestion.value
    form2.save_button.click()
    assert store.latest("clf") == "1.1.0"
    assert "1.1.1" in form2.suggestion.value  # after the save: same model, a patch
    form3 = SaveModelForm(_lr(0.05, binary_data), store, name="clf", namespace=ns)
    form3.bump.value = "major"
    assert "2.0.0" in form3.suggestion.value
    form3.save_button.click()
    assert store.latest("clf") == "2.0.0" and "saved clf@2.0.0" in form3.status.value


def test_save_form_identical_model_and_bad_name(tmp_path, binary_data):
    store = ModelStore(tmp_path / "models")
    clf = _lr(1.0, binary_data)
    form = SaveModelForm(clf, store, name="m", namespace={})
    form.save_button.click()
    form.save_button.click()
    assert store.versions("m") == ["1.0.0"]
    assert "unchanged: already saved as m@1.0.0" in form.status.value
    assert "nbm-warn" in form.status.value
    form.name.value = "../escape"
    assert "nbm-err" in form.suggestion.value
    form.save_button.click()
    assert "nbm-err" in form.status.value and "save failed" in form.status.value
    assert store.names() == ["m"]


def test_save_form_in_the_background(tmp_path, binary_data):
    store = ModelStore(tmp_path / "models")
    form = SaveModelForm(_lr(1.0, binary_data), store, name="bg", namespace={},
                         background=True)
    form.save_button.click()
    form.wait(60)
    assert store.versions("bg") == ["1.0.0"]
    assert "saved bg@1.0.0" in form.status.value
    assert form.progress.box.layout.display == "none" and not form.save_button.disabled
    # the core's save reported every byte it wrote to the panel's tqdm bar
    assert form.progress.text == f"write {store.record('bg')['size_bytes']}"


# -- CompareVersions -------------------------------------------------------------------------

def test_compare_shows_metrics_best_and_only_differing_parameters(filled):
    c = CompareVersions("churn", filled, namespace={})
    assert c.picker.value == ("churn@1.9.0", "churn@1.10.0")
    assert "fraud@1.0.0" in c.picker.options
    table = c.metrics_table.value
    for row in c.comparison.rows:
        assert f">{c.comparison.metric_label(row.metric)}<" in table
    assert ">precision (class 1)<" in table  # says which class the number is about
    auc = next(r for r in c.comparison.rows if r.metric == "auc_roc")
    assert auc.best and table.count("&#9733;") >= 1
    assert ">1.9.0</th>" in table and ">1.10.0</th>" in table
    diff = c.differences.value
    assert ">C<" in diff and ">max_iter<" not in diff  # only what differs
    c.show_all.value = True
    assert ">max_iter<" in c.differences.value
    titles = [o["data"]["text/plain"] for o in _png_outputs(c.plots)]
    assert titles[0] == "<Metrics by version>"
    assert "<ROC curves>" in titles and "<Precision-recall curves>" in titles


def test_compare_needs_two_versions_and_takes_refs_of_several_models(filled):
    c = CompareVersions(["churn@1.9.0", "fraud@latest"], filled, namespace={})
    assert c.picker.value == ("churn@1.9.0", "fraud@1.0.0")
    assert ">churn@1.9.0</th>" in c.metrics_table.value
    c.picker.value = ("churn@1.9.0",)
    assert c.comparison is None and "pick two or more" in c.metrics_table.value
    with pytest.raises(ModelNotFoundError):
        CompareVersions("no_such_model", filled, namespace={})


def test_compare_evaluates_every_picked_version_on_the_same_data(filled, binary_data):
    _, X_test, _, y_test = binary_data
    X_new, y_new = X_test.iloc[:100], y_test.iloc[:100]
    ns = {"X_new": X_new, "y_new": y_new}
    c = CompareVersions("churn", filled, namespace=ns)
    c.evaluate_button.click()
    assert "pick the notebook variable for X and y" in c.status.value
    c.X_picker.value, c.y_picker.value = "X_new", "y_new"
    c.dataset.value = "recent"
    c.evaluate_button.click()
    assert "evaluated 2 versions" in c.status.value
    assert c.comparison.dataset == "recent"
    for v in ("1.9.0", "1.10.0"):
        saved = filled.record("churn", v)["evaluations"]["recent"]
        assert saved["n_samples"] == 100
        direct = evaluate(filled.load("churn", v), X_new, y_new, save=False)
        col = c.comparison.refs.index(f"churn@{v}")
        row = next(r for r in c.comparison.rows if r.metric == "f1_score")
        assert row.values[col] == pytest.approx(direct["f1_score"])
    assert "different data" not in c.metrics_table.value
    b = ModelBrowser(filled, namespace={})  # the browser shows the new data set's plots
    b.version_picker.value = "1.9.0"
    titles = [o["data"]["text/plain"] for o in _png_outputs(b.plots)]
    assert any(t.endswith("[recent]>") for t in titles) and "<roc curve>" in titles


def test_compare_evaluation_error_is_shown_in_the_panel(filled, binary_data):
    _, X_test, _, y_test = binary_data
    ns = {"X": X_test, "y_short": y_test.iloc[:10]}
    c = CompareVersions("churn", filled, namespace=ns, background=True)
    c.X_picker.value, c.y_picker.value = "X", "y_short"
    c.evaluate_button.click()
    c.wait(120)
    assert "nbm-err" in c.status.value and "evaluate failed" in c.status.value
    assert not c.evaluate_button.disabled


# -- EvaluationPanel -------------------------------------------------------------------------

def test_evaluation_panel_shows_the_core_numbers(filled, binary_data):
    _, X_test, _, y_test = binary_data
    model = filled.load("churn", "1.9.0")
    p = EvaluationPanel(model, X_test, y_test)
    direct = evaluate(model, X_test, y_test, save=False)
    assert p.result.task == "binary"
    for k, v in direct.metrics.items():
        assert p.live_metrics[k] == pytest.approx(v, nan_ok=True)
    assert "churn@1.9.0" in p.title.value and "n=160" in p.title.value
    assert len(_png_outputs(p.confusion)) == 1
    titles = [o["data"]["text/plain"] for o in _png_outputs(p.plots)]
    assert "<ROC curve>" in titles
    assert f"{direct['precision']:.4g}" in p.metrics_table.value
    # the core reported its stages to the panel's bar (the last: the plots)
    assert p.progress.text == f"plots {len(direct.figures)}/{len(direct.figures)}"
    # opening the panel wrote nothing; Save does
    assert "holdout" not in (filled.record("churn", "1.9.0").get("evaluations") or {})
    p.dataset.value = "holdout"
    p.save_button.click()
    assert "saved the evaluation of churn@1.9.0 [holdout]" in p.status.value
    assert p.progress.text == "save 1/1"
    saved = filled.record("churn", "1.9.0")["evaluations"]["holdout"]
    assert saved["metrics"]["f1_score"] == pytest.approx(direct["f1_score"])


def test_threshold_slider_equals_evaluate_at_that_threshold(filled, binary_data):
    _, X_test, _, y_test = binary_data
    model = filled.load("churn", "1.9.0")
    p = EvaluationPanel(model, X_test, y_test)
    assert p.threshold_box.layout.display == "flex"
    before = p.metrics_table.value
    p.threshold.value = 0.3
    at = evaluate(model, X_test, y_test, threshold=0.3, save=False)
    for k in ("accuracy", "precision", "recall", "f1_score"):
        assert p.live_metrics[k] == pytest.approx(at[k])
    assert p.metrics_table.value != before
    np.testing.assert_array_equal(p.view.confusion_matrix, at.confusion_matrix)
    assert "threshold 0.30" in p.confusion.outputs[0]["data"]["text/plain"]
    p.save_button.click()
    saved = filled.record("churn", "1.9.0")["evaluations"]["default"]
    assert saved["metrics"]["recall"] == pytest.approx(at["recall"])


def test_positive_class_picker_evaluates_for_that_class(filled, binary_data):
    _, X_test, _, y_test = binary_data
    model = filled.load("churn", "1.9.0")
    p = EvaluationPanel(model, X_test, y_test)
    assert p.result.pos_label == 1 and p.threshold_box.layout.display == "flex"
    first = p.result
    p.pos_label.value = 0  # class 0 is now the positive one: from the kept scores
    direct = evaluate(model, X_test, y_test, pos_label=0, save=False)
    assert p.result is first, "picking the positive class predicted again"
    assert p.view.pos_label == 0
    assert p.live_metrics["recall"] == pytest.approx(direct["recall"])
    assert p.live_metrics["recall"] != pytest.approx(
        evaluate(model, X_test, y_test, save=False)["recall"])
    p.threshold.value = 0.3  # now on class 0's scores
    at = evaluate(model, X_test, y_test, pos_label=0, threshold=0.3, save=False)
    assert p.live_metrics["precision"] == pytest.approx(at["precision"])
    p.dataset.value = "class0"
    p.save_button.click()
    saved = filled.record("churn", "1.9.0")["evaluations"]["class0"]
    assert saved["metrics"]["precision"] == pytest.approx(at["precision"])


def test_evaluation_panel_for_regression_has_no_threshold(tmp_path):
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=120, n_features=4, noise=5.0, random_state=0)
    model = Ridge().fit(X, y)
    p = EvaluationPanel(model, X, y)
    assert p.result.task == "regression"
    assert p.threshold_box.layout.display == "none"
    assert p.live_metrics["r2"] == pytest.approx(evaluate(model, X, y, save=False)["r2"])
    p.save_button.click()  # a model the store does not know: nothing to save beside
    assert "not saved" in p.status.value


def test_evaluation_panel_error_is_shown_not_raised(binary_data):
    _, X_test, _, y_test = binary_data
    model = _lr(1.0, binary_data)
    p = EvaluationPanel(model, X_test, y_test.iloc[:5], background=True)
    p.wait(120)
    assert p.result is None
    assert "evaluate failed" in p.status.value and "nbm-err" in p.status.value
    assert p.save_button.disabled and not p.rerun_button.disabled


def test_evaluation_panel_in_the_background(filled, binary_data):
    _, X_test, _, y_test = binary_data
    p = EvaluationPanel(filled.load("churn", "1.10.0"), X_test, y_test, background=True)
    p.wait(120)
    assert p.result is not None and p.result.version == "1.10.0"
    assert p.progress.box.layout.display == "none"


# -- the magics' --ui ------------------------------------------------------------------------

@pytest.fixture
def ip(filled, binary_data):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbmodels")
    shell.run_line_magic("config", f"ModelMagics.store_dir = {str(filled.root)!r}")
    shell.user_ns.update({"X_test": binary_data[1], "y_test": binary_data[3]})
    yield shell
    shell.run_line_magic("unload_ext", "nbmodels")
    shell.run_line_magic("config", "ModelMagics.store_dir = ''")
    shell.reset()


def test_magics_open_the_panels(ip, filled):
    from IPython.core.error import UsageError

    browser = ip.run_line_magic("models", "fr* --ui")
    assert isinstance(browser, ModelBrowser) and browser.model_list.options == ("fraud",)
    browser.load_button.click()
    assert "fraud" in ip.user_ns  # loads into the notebook's namespace
    cmp = ip.run_line_magic("compare_models", "churn --ui --all")
    assert isinstance(cmp, CompareVersions) and cmp.show_all.value
    assert cmp.picker.value == ("churn@1.9.0", "churn@1.10.0")
    ip.run_line_magic("load_model", "churn@1.9.0 --as m")
    panel = ip.run_line_magic("evaluate", "m X_test y_test --ui")
    assert isinstance(panel, EvaluationPanel) and panel.result.version == "1.9.0"
    at = ip.run_line_magic("evaluate", "m X_test y_test --ui --threshold 0.3 --pos-label 1")
    assert at.result.threshold == 0.3 and at.threshold.value == 0.3
    assert at.result.pos_label == 1
    for panel_ in (browser, cmp, panel):  # what a notebook shows as text/plain
        assert type(panel_).__name__ in repr(panel_)
    with pytest.raises(UsageError, match="no model named 'nope'"):
        ip.run_line_magic("compare_models", "nope --ui")
    with pytest.raises(UsageError, match="--ui saves only when you press Save"):
        ip.run_line_magic("evaluate", "m X_test y_test --ui --no-save")


def test_panel_figures_are_readable_pngs(filled):
    from PIL import Image

    c = CompareVersions("churn", filled, namespace={})
    png = base64.b64decode(_png_outputs(c.plots)[0]["data"]["image/png"])
    width, height = Image.open(io.BytesIO(png)).size
    assert width >= 700 and height >= 300  # big enough to read the axis labels


def test_panels_do_not_shadow_ipywidgets_names():
    import ipywidgets as W

    inherited = set(dir(W.VBox))
    made_per_class = set(vars(W.VBox))  # traitlets' bookkeeping, which every class gets
    for panel in (ModelBrowser, CompareVersions, EvaluationPanel, SaveModelForm):
        own = {k for k in vars(panel) if not k.startswith("__")} - made_per_class
        assert not own & inherited, (panel.__name__, own & inherited)


def test_a_panel_shows_after_its_progress_bar_closed():
    import gc

    from nbmodels.widgets.common import ProgressBar

    bar = ProgressBar()
    bar.start("evaluating")
    bar("predict", 10, 10)
    bar("plots", 1, 6)  # a new stage: a new tqdm bar in the box
    bar.finish(True)
    gc.collect()
    # the panel's text form reads the tqdm widget's bar: it must still exist
    assert "plots" in repr(bar.box)
