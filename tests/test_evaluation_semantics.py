"""What an evaluation measured: positive class, threshold, one pass, datasets, refusals.

Real scikit-learn models on small data in a temp store; every number is checked
against the scikit-learn function a user would call on the same labels.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pytest
from nbm_helpers import kernel_output
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from nbmodels import ModelStore, evaluate, evaluate_model
from nbmodels.evaluation import EvaluationError, load_result


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=600, n_features=5, n_informative=3, random_state=2)
    return X[:300], y[:300], X[300:], y[300:]


@pytest.fixture(scope="module")
def lr(data):
    Xtr, ytr, _, _ = data
    return LogisticRegression().fit(Xtr, ytr)


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "models")


def _positive_class_numbers(y, pred, pos):
    return {
        "precision": skm.precision_score(y, pred, pos_label=pos),
        "recall": skm.recall_score(y, pred, pos_label=pos),
        "f1_score": skm.f1_score(y, pred, pos_label=pos),
    }


# -- the positive class --------------------------------------------------------------------


def test_binary_01_headline_is_class_1_and_labelled_everywhere(data, lr, store):
    _, _, X, y = data
    store.save(lr, "clf")
    result = evaluate(store.load("clf"), X, y)
    pred = lr.predict(X)
    assert result.pos_label == 1 and result.pos_label_chosen == "the greater label"
    for key, value in _positive_class_numbers(y, pred, 1).items():
        assert result[key] == approx(value)
    for avg in ("weighted", "macro"):
        assert result[f"precision_{avg}"] == approx(skm.precision_score(y, pred, average=avg))
        assert result[f"recall_{avg}"] == approx(skm.recall_score(y, pred, average=avg))
        assert result[f"f1_{avg}"] == approx(skm.f1_score(y, pred, average=avg))
    text = repr(result)
    assert "positive=1" in text and "precision[1]=" in text and "f1_score[1]=" in text
    html = result._repr_html_()
    assert "precision (class 1)" in html and "recall (weighted avg)" in html
    assert "positive class 1 (the greater label)" in html
    report = (result.path / "report.html").read_text()
    assert "precision (class 1)" in report and "f1_score (macro avg)" in report
    saved = json.loads((result.path / "metrics.json").read_text())
    assert saved["precision"] == approx(result["precision"])
    assert saved["headline_metrics"]["recall"] == "recall (class 1)"
    assert saved["positive_class"]["label"] == 1
    assert saved["decision"] == {
        "threshold": None,
        "labels_from": result.labels_from,
        "score_source": "predict_proba",
    }
    assert saved["details"]["recall_weighted"] == approx(result["recall_weighted"])
    source = store.record("clf")["metrics_source"]
    assert source["positive_class"] == 1 and source["threshold"] is None
    assert source["rows"] == len(y) and source["data_sha256"] == result.fingerprint["sha256"]


def test_boolean_labels_take_true_as_positive(data):
    Xtr, ytr, X, y = data
    model = LogisticRegression().fit(Xtr, ytr.astype(bool))
    result = evaluate(model, X, y.astype(bool), plots=None)
    pred = model.predict(X)
    assert result.pos_label is True and result.labels == [False, True]
    for key, value in _positive_class_numbers(y.astype(bool), pred, True).items():
        assert result[key] == approx(value)


def test_string_labels_say_which_is_positive_and_pos_label_changes_it(data):
    Xtr, ytr, X, y = data
    names = np.array(["benign", "malignant"], dtype=object)
    model = LogisticRegression().fit(Xtr, names[ytr])
    yt = names[y]
    pred = model.predict(X)
    default = evaluate(model, X, yt, plots=None)
    assert default.pos_label == "malignant" and default.pos_label_chosen == "the second class"
    note = next(n for n in default.notes if n.startswith("positive class"))
    assert "'malignant' was taken" in note and "pos_label='benign'" in note
    assert "--pos-label benign" in note
    for key, value in _positive_class_numbers(yt, pred, "malignant").items():
        assert default[key] == approx(value)
    chosen = evaluate(model, X, yt, pos_label="benign", plots=None)
    assert chosen.pos_label == "benign" and chosen.pos_label_chosen == "given"
    assert not any(n.startswith("positive class") for n in chosen.notes)
    for key, value in _positive_class_numbers(yt, pred, "benign").items():
        assert chosen[key] == approx(value)
    proba_benign = model.predict_proba(X)[:, 0]
    assert chosen["average_precision"] == approx(
        skm.average_precision_score(yt == "benign", proba_benign)
    )
    assert chosen["auc_roc"] == approx(default["auc_roc"])
    assert list(chosen.curves["roc"]["curves"]) == ["benign"]
    with pytest.raises(EvaluationError, match="pos_label='cancer' is not one of the classes"):
        evaluate(model, X, yt, pos_label="cancer", plots=None)


def test_minority_positive_class_fails_the_gate_weighted_recall_would_pass():
    X, y = make_classification(
        n_samples=3000,
        n_features=6,
        n_informative=2,
        weights=[0.9],
        flip_y=0.03,
        class_sep=0.6,
        random_state=4,
    )
    model = LogisticRegression().fit(X[:1500], y[:1500])
    Xt, yt = X[1500:], y[1500:]
    pred = model.predict(Xt)
    weighted = skm.recall_score(yt, pred, average="weighted")
    positive = skm.recall_score(yt, pred)
    assert positive + 0.1 < weighted  # the situation of the issue
    bar = round((positive + weighted) / 2, 3)
    result = evaluate(model, Xt, yt, require=f"recall>={bar}", plots=None)
    assert result.passed is False
    (gate,) = result.gates
    assert gate.value == approx(positive) and "FAILED" in gate.reason
    assert evaluate(model, Xt, yt, require=f"recall_weighted>={bar}", plots=None).passed


def test_pos_label_and_threshold_in_the_magic(data, lr, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    _, _, X, y = data
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbmodels")
    shell.run_line_magic("config", f"ModelMagics.store_dir = {str(tmp_path / 'm')!r}")
    try:
        shell.user_ns.update({"clf": lr, "X_te": X, "y_te": y})
        result = shell.run_line_magic("evaluate", "clf X_te y_te --pos-label 0 --no-save")
        pred = lr.predict(X)
        assert result.pos_label == 0 and result.pos_label_chosen == "given"
        for key, value in _positive_class_numbers(y, pred, 0).items():
            assert result[key] == approx(value)
        at = shell.run_line_magic("evaluate", "clf X_te y_te --threshold 0.3 --no-save")
        thresholded = (lr.predict_proba(X)[:, 1] >= 0.3).astype(int)
        assert at.threshold == 0.3 and at["recall"] == approx(skm.recall_score(y, thresholded))
        from IPython.core.error import UsageError

        with pytest.raises(UsageError, match="pos_label='7' is not one of the classes"):
            shell.run_line_magic("evaluate", "clf X_te y_te --pos-label 7 --no-save")
    finally:
        shell.run_line_magic("unload_ext", "nbmodels")
        shell.run_line_magic("config", "ModelMagics.store_dir = ''")


# -- the decision threshold ------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_threshold_equals_sklearn_on_thresholded_scores(threshold, data, lr, store):
    _, _, X, y = data
    store.save(lr, "clf")
    result = evaluate(
        lr, X, y, threshold=threshold, name="clf", version="1.0.0", store=store, plots="seed"
    )
    proba = lr.predict_proba(X)[:, 1]
    pred = (proba >= threshold).astype(int)
    assert (pred != lr.predict(X)).any()  # the threshold changes some labels
    m = result.metrics
    assert m["accuracy"] == approx(skm.accuracy_score(y, pred))
    for key, value in _positive_class_numbers(y, pred, 1).items():
        assert m[key] == approx(value)
    assert m["f1_weighted"] == approx(skm.f1_score(y, pred, average="weighted"))
    assert m["balanced_accuracy"] == approx(skm.balanced_accuracy_score(y, pred))
    assert m["matthews_corrcoef"] == approx(skm.matthews_corrcoef(y, pred))
    assert m["auc_roc"] == approx(skm.roc_auc_score(y, proba))  # scores, not labels
    np.testing.assert_array_equal(result.confusion_matrix, skm.confusion_matrix(y, pred))
    assert result.threshold == threshold
    assert result.labels_from == f"predict_proba >= {threshold:g}"
    assert f"threshold={threshold:g}" in repr(result)
    saved = json.loads((result.path / "metrics.json").read_text())
    assert saved["decision"]["threshold"] == threshold
    record = store.record("clf")
    assert record["metrics_source"]["threshold"] == threshold
    assert record["evaluations"]["default"]["threshold"] == threshold


def test_threshold_is_refused_where_it_means_nothing(data, lr):
    from sklearn.linear_model import Ridge

    _, _, X, y = data
    with pytest.raises(EvaluationError, match="outside \\[0, 1\\]"):
        evaluate(lr, X, y, threshold=1.5, plots=None)
    with pytest.raises(EvaluationError, match="applies to classification"):
        evaluate(Ridge().fit(X, y.astype(float) * 2.5), X, y * 2.5, threshold=0.5, plots=None)
    with pytest.raises(EvaluationError, match="threshold must be a number"):
        evaluate(lr, X, y, threshold="high", plots=None)


def test_at_threshold_equals_a_fresh_evaluation_in_memory_and_from_files(data, lr, store):
    _, _, X, y = data
    store.save(lr, "clf")
    first = evaluate(store.load("clf"), X, y, require="recall>=0.8")
    for t in (0.3, 0.7):
        again = first.at_threshold(t)
        fresh = evaluate(lr, X, y, threshold=t, require="recall>=0.8", save=False)
        assert again.metrics == fresh.metrics
        assert again.per_class == fresh.per_class
        np.testing.assert_array_equal(again.confusion_matrix, fresh.confusion_matrix)
        assert [g.to_dict() for g in again.gates] == [g.to_dict() for g in fresh.gates]
        assert again.threshold == t and again.path is None
    fresh_at_03 = evaluate(lr, X, y, threshold=0.3, save=False).metrics
    for loaded in (load_result(first.path), load_result("clf", store=store),
                   load_result("clf@1.0.0", store=store)):
        assert loaded.metrics == first.metrics and loaded.pos_label == 1
        assert loaded.at_threshold(0.3).metrics == fresh_at_03
    from sklearn.linear_model import Ridge

    regression = evaluate(Ridge().fit(X, y * 2.5), X, y * 2.5, plots=None)
    with pytest.raises(EvaluationError, match="kept no scores"):
        regression.at_threshold(0.5)


def test_threshold_on_a_decision_function_and_a_flipped_positive_class(data):
    from sklearn.svm import LinearSVC

    Xtr, ytr, X, y = data
    svc = LinearSVC().fit(Xtr, ytr)
    d = svc.decision_function(X)
    result = evaluate(svc, X, y, threshold=-0.2, pos_label=0, plots=None)
    pred0 = -d >= -0.2  # class 0's score is -d
    pred = np.where(pred0, 0, 1)
    for key, value in _positive_class_numbers(y, pred, 0).items():
        assert result[key] == approx(value)
    assert (
        result.at_threshold(0.4).metrics
        == evaluate(svc, X, y, threshold=0.4, pos_label=0, plots=None).metrics
    )


# -- one pass over the data ------------------------------------------------------------------


class Counting(ClassifierMixin, BaseEstimator):
    """A real fitted classifier behind a wrapper that records every call and its rows."""

    def __init__(self, inner=None, predict_threshold=None):
        self.inner = inner
        self.predict_threshold = predict_threshold

    def fit(self, X, y):
        self.inner.fit(X, y)
        return self

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return self.inner.classes_

    @property
    def feature_names_in_(self):
        return self.inner.feature_names_in_

    def predict_proba(self, X):
        self.calls_.append(("predict_proba", len(X)))
        return self.inner.predict_proba(X)

    def predict(self, X):
        self.calls_.append(("predict", len(X)))
        if self.predict_threshold is None:
            return self.inner.predict(X)
        # a model whose labels are not the arg-max of its probabilities
        proba = self.inner.predict_proba(X)[:, 1]
        return self.classes_[(proba >= self.predict_threshold).astype(int)]


def _counting(model, **kwargs):
    wrapped = Counting(model, **kwargs)
    wrapped.calls_ = []
    return wrapped


def test_one_pass_gives_predict_labels_with_one_call_over_the_data():
    X, y = make_classification(n_samples=3000, n_features=6, random_state=5)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[:1000], y[:1000])
    model = _counting(forest)
    result = evaluate(model, X[1000:], y[1000:], plots=None)
    n = 2000
    full = [c for c in model.calls_ if c[1] == n]
    assert full == [("predict_proba", n)]  # the only call that reads every row
    checks = [c for c in model.calls_ if c[0] == "predict"]
    assert len(checks) == 1 and checks[0][1] < n // 5  # a sample, to check the labels
    assert result.labels_from.startswith("arg-max of predict_proba")
    np.testing.assert_array_equal(
        result.confusion_matrix, skm.confusion_matrix(y[1000:], forest.predict(X[1000:]))
    )


def test_a_model_whose_predict_is_not_the_arg_max_falls_back_to_predict(data, lr):
    _, _, X, y = data
    model = _counting(lr, predict_threshold=0.35)
    result = evaluate(model, X, y, plots=None)
    expected = (lr.predict_proba(X)[:, 1] >= 0.35).astype(int)
    assert (expected != lr.predict(X)).any()
    np.testing.assert_array_equal(result.confusion_matrix, skm.confusion_matrix(y, expected))
    assert result.labels_from == "predict"
    assert ("predict", len(y)) in model.calls_  # the second pass
    assert any("differs from the arg-max of predict_proba" in n for n in result.notes)


def test_progress_reports_prediction_in_chunks_and_each_plot():
    rng = np.random.default_rng(0)
    n = 230_000
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + rng.normal(size=n) > 0).astype(int)
    model = LogisticRegression().fit(X[:5000], y[:5000])
    seen = []
    evaluate(
        model,
        X,
        y,
        plots=["confusion_matrix", "roc_curve"],
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    predict = [s for s in seen if s[0] == "predict"]
    assert predict == [
        ("predict", 0, n),
        ("predict", 100_000, n),
        ("predict", 200_000, n),
        ("predict", n, n),
    ]
    assert [s for s in seen if s[0] == "plots"] == [
        ("plots", 0, 2),
        ("plots", 1, 2),
        ("plots", 2, 2),
    ]
    assert "progress(stage: str, done: int, total: int | None)" in evaluate.__doc__


# -- datasets --------------------------------------------------------------------------------


def test_a_second_dataset_keeps_the_first_headline_and_says_so(data, lr, store):
    Xtr, ytr, X, y = data
    store.save(lr, "clf", metrics={"note_metric": 1.0})
    model = store.load("clf")
    first = evaluate(model, X, y, plots=None)
    assert first.dataset is None and first.is_headline is True
    headline = dict(store.record("clf").metrics)
    train = evaluate(model, Xtr, ytr, plots=None)  # other data, no label
    key = f"data-{train.fingerprint['sha256'][:8]}"
    assert train.dataset == key and train.is_headline is False
    assert train.path == store.version_path("evaluation", "clf", "1.0.0") / key
    note = next(n for n in train.notes if n.startswith("new evaluation dataset"))
    assert f"'{key}' ({len(ytr)} rows" in note
    assert "headline metrics still come from 'default'" in note and "dataset='test'" in note
    record = store.record("clf")
    assert dict(record.metrics) == headline and record.metrics["note_metric"] == 1.0
    # The record's displays and the model card say which data the numbers come from.
    measured = (f"dataset default, {len(y)} rows, sha256 {first.fingerprint['sha256'][:12]}, "
                f"positive class 1, labels from the model's predict")
    assert html.escape(measured) in record._repr_html_()
    assert measured in store.card("clf").markdown
    assert record["metrics_source"]["dataset"] == "default"
    assert record["metrics_source"]["rows"] == len(y)
    assert set(record["evaluations"]) == {"default", key}
    assert record["evaluations"][key]["metrics"]["accuracy"] == approx(train["accuracy"])
    # The same data again is the same dataset: replaced, nothing added.
    again = evaluate(model, Xtr, ytr, plots=None)
    assert again.dataset == key and not any("new evaluation" in n for n in again.notes)
    # The test set, marked as such, becomes the headline, and the result says so.
    test = evaluate(model, X[:150], y[:150], dataset="test", plots=None)
    assert test.is_headline and any("now come from 'test'" in n for n in test.notes)
    record = store.record("clf")
    assert record["metrics_source"]["dataset"] == "test"
    assert record.metrics["accuracy"] == approx(test["accuracy"])
    # A labelled dataset afterwards is kept apart and leaves the headline alone.
    evaluate(model, X[150:], y[150:], dataset="holdout", plots=None)
    assert store.record("clf")["metrics_source"]["dataset"] == "test"


# -- refusals --------------------------------------------------------------------------------


def test_evaluate_model_refuses_to_file_a_loaded_model_under_another_version(
    data, tmp_path, monkeypatch
):
    Xtr, ytr, X, y = data
    monkeypatch.setenv("NBMODELS_HOME", str(tmp_path / "home"))
    store = ModelStore(tmp_path / "home")
    store.save(LogisticRegression(C=0.01).fit(Xtr, ytr), "churn_rf", version="1.0.0")
    store.save(LogisticRegression(C=1.0).fit(Xtr, ytr), "churn_rf", version="1.1.0")
    before = store.record("churn_rf", "1.0.0").to_dict()
    loaded = store.load("churn_rf", "1.1.0")
    with pytest.raises(EvaluationError) as info:
        evaluate_model(loaded, X, y, "churn_rf", "1.0.0")
    message = str(info.value)
    assert "loaded as churn_rf@1.1.0, not churn_rf@1.0.0" in message
    assert "evaluate it as version '1.1.0'" in message and "\n" not in message
    with pytest.raises(EvaluationError, match=r"loaded as churn_rf@1\.1\.0"):
        evaluate(loaded, X, y, name="churn_rf", version="1.0.0")
    assert not (tmp_path / "home" / "evaluation").exists()
    assert store.record("churn_rf", "1.0.0").to_dict() == before
    metrics = evaluate_model(loaded, X, y, "churn_rf", "1.1.0")
    assert metrics["precision"] == approx(
        skm.precision_score(y, loaded.predict(X), average="weighted")
    )


def test_feature_mismatch_is_one_line_before_predicting(data, store):
    import pandas as pd

    Xtr, ytr, X, y = data
    cols = ["age", "income", "tenure", "plan", "calls"]
    frame = pd.DataFrame(Xtr, columns=cols)
    model = _counting(LogisticRegression().fit(frame, ytr))
    test = pd.DataFrame(X, columns=cols)

    def refused(X_bad, match):
        with pytest.raises(EvaluationError, match=match) as info:
            evaluate(model, X_bad, y, plots=None)
        assert "\n" not in str(info.value)
        assert model.calls_ == []  # refused before predicting
        return str(info.value)

    msg = refused(test.rename(columns={"income": "Income"}), "missing 'income'; extra 'Income'")
    assert msg.startswith("X_test does not have the model's 5 features")
    refused(test.drop(columns=["calls"]), "missing 'calls'")
    refused(test[cols[::-1]], "another order")
    refused(X[:, :4], "X_test has 4 columns but the model expects 5 features")
    # dtypes from the record's training lineage
    store.save(model.inner, "typed", X=frame, y=ytr)
    as_text = test.astype({"age": str})
    with pytest.raises(EvaluationError, match=r"'age' is (str|object) \(trained on float64\)"):
        evaluate(store.load("typed"), as_text, y, plots=None)
    assert evaluate(model, test, y, plots=None).n_samples == len(y)


def test_feature_mismatch_in_a_real_kernel_is_a_one_line_usage_error(tmp_path):
    import os

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(
        env={
            **os.environ,
            "NBMODELS_HOME": str(tmp_path / "models"),
            "IPYTHONDIR": str(tmp_path / "ipython"),
        }
    )
    try:
        kc.execute_interactive(
            "import pandas as pd\n"
            "from sklearn.datasets import load_iris\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "X, y = load_iris(return_X_y=True, as_frame=True)\n"
            "clf = LogisticRegression(max_iter=500).fit(X, y)\n"
            "X_bad = X.rename(columns={'petal width (cm)': 'petal_width'})\n"
            "%load_ext nbmodels",
            timeout=120,
        )
        out = _kernel_run(kc, "%evaluate clf X_bad y --no-save")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert out.startswith(
        "UsageError: X_test does not have the model's 4 features: "
        "missing 'petal width (cm)'; extra 'petal_width'"
    ), out
    assert "\n" not in out.strip() and "Traceback" not in out


def _kernel_run(client, code: str) -> str:
    return kernel_output(client, code, timeout=120, traceback=True)


@pytest.mark.parametrize("kind", ["proba", "decision"])
def test_at_threshold_for_the_other_class_equals_a_fresh_evaluation(kind):
    from sklearn.datasets import load_breast_cancer
    from sklearn.svm import LinearSVC

    X, y = load_breast_cancer(return_X_y=True)
    model = (LogisticRegression(max_iter=5000) if kind == "proba" else LinearSVC()).fit(X, y)
    first = evaluate(model, X, y, save=False, plots=None)
    assert first.pos_label == 1
    for t in ((0.3, 0.7) if kind == "proba" else (-0.5, 0.4)):
        again = first.at_threshold(t, pos_label=0)
        fresh = evaluate(model, X, y, threshold=t, pos_label=0, save=False, plots=None)
        assert again.pos_label == 0 and again.metrics == fresh.metrics
        np.testing.assert_array_equal(again.confusion_matrix, fresh.confusion_matrix)
    with pytest.raises(EvaluationError, match="not one of the classes"):
        first.at_threshold(0.5, pos_label=7)


def test_listings_say_which_data_the_headline_numbers_come_from(tmp_path):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    store = ModelStore(tmp_path / "models")
    store.save(LogisticRegression(max_iter=5000).fit(X, y), "m")
    assert store.list()[0]["measured_on"] is None  # not evaluated: nothing to say
    evaluate(store.load("m"), X, y, threshold=0.3, plots=None)
    [row] = store.list()
    assert row["measured_on"] == "default, 569 rows, positive 1, threshold 0.3"
    assert "(on default, 569 rows, positive 1, threshold 0.3)" in repr(store.list())
    evaluate(store.load("m"), X[:100], y[:100], plots=None)  # other data: headline stays
    assert store.list()[0]["measured_on"].startswith("default, 569 rows")


def test_evaluate_predictions_takes_evaluate_options_and_names_a_wrong_one():
    import inspect

    from nbmodels.evaluation import evaluate, evaluate_predictions
    from nbmodels.evaluation.core import EvaluateOptions

    y_true = np.array([0, 1, 1, 0, 1, 0])
    y_score = np.array([0.1, 0.8, 0.6, 0.4, 0.9, 0.2])
    # every shared option of evaluate() is an option here, with the same meaning
    shared = set(inspect.signature(evaluate).parameters) - {"model", "X_test", "y_test"}
    assert shared == set(EvaluateOptions.__annotations__)
    r = evaluate_predictions(y_true, y_score=y_score, threshold=0.5, pos_label=1,
                             sample_weight=np.ones(6), plots=None, save=False)
    assert r.threshold == 0.5 and r["recall"] == 1.0
    with pytest.raises(TypeError, match="unexpected keyword argument 'treshold'"):
        evaluate_predictions(y_true, y_score=y_score, treshold=0.5)
