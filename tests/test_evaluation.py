"""nbmodels.evaluate / evaluate_predictions / evaluate_model against scikit-learn's own functions.

Real models on small data, real files in tmp_path: every number is checked against the
scikit-learn function a user would call, and every file against what the seed's
hand-written evaluate_model wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize
from sklearn.svm import LinearSVC

import nbmodels
from nbmodels import ModelStore, evaluate, evaluate_model, evaluate_predictions
from nbmodels.evaluation import EvaluationError, EvaluationResult

PNG = b"\x89PNG\r\n\x1a\n"
SEED_KEYS = ["accuracy", "precision", "recall", "f1_score", "auc_roc"]


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4,
                               random_state=0)
    model = LogisticRegression().fit(X[:250], y[:250])
    return model, X[250:], y[250:]


@pytest.fixture(scope="module")
def iris_strings():
    import pandas as pd

    data = load_iris(as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    y = pd.Series(names[data.target.to_numpy()], name="species")
    X = data.data
    train = np.arange(len(y)) % 3 != 0
    model = LogisticRegression(C=0.05, max_iter=1000).fit(X[train], y[train])
    return model, X[~train], y[~train]


@pytest.fixture
def eval_store(tmp_path):
    return ModelStore(tmp_path / "models")


def _ls(path):
    return sorted(p.name for p in path.iterdir())


# -- metrics equal scikit-learn's ---------------------------------------------------------

def test_binary_metrics_equal_sklearn(binary):
    model, X, y = binary
    result = evaluate(model, X, y)
    m = result.metrics
    pred, proba = model.predict(X), model.predict_proba(X)[:, 1]
    assert list(m)[:5] == SEED_KEYS
    report = skm.classification_report(y, pred, output_dict=True)  # the seed's source
    assert m["accuracy"] == approx(report["accuracy"])
    # The headline is the positive class's (1, the greater label); averages are named.
    assert result.pos_label == 1 and result.pos_label_chosen == "the greater label"
    assert m["precision"] == approx(skm.precision_score(y, pred))
    assert m["recall"] == approx(skm.recall_score(y, pred))
    assert m["f1_score"] == approx(skm.f1_score(y, pred))
    assert m["precision_weighted"] == approx(report["weighted avg"]["precision"])
    assert m["recall_weighted"] == approx(report["weighted avg"]["recall"])
    assert m["f1_weighted"] == approx(report["weighted avg"]["f1-score"])
    fpr, tpr, _ = skm.roc_curve(y, proba)
    assert m["auc_roc"] == approx(skm.auc(fpr, tpr))
    assert m["auc_roc"] == approx(skm.roc_auc_score(y, proba))
    assert m["balanced_accuracy"] == approx(skm.balanced_accuracy_score(y, pred))
    for avg in ("macro",):
        assert m[f"precision_{avg}"] == approx(skm.precision_score(y, pred, average=avg))
        assert m[f"recall_{avg}"] == approx(skm.recall_score(y, pred, average=avg))
        assert m[f"f1_{avg}"] == approx(skm.f1_score(y, pred, average=avg))
    assert m["matthews_corrcoef"] == approx(skm.matthews_corrcoef(y, pred))
    assert m["average_precision"] == approx(skm.average_precision_score(y, proba))
    assert m["log_loss"] == approx(skm.log_loss(y, model.predict_proba(X)))
    assert m["brier_score"] == approx(skm.brier_score_loss(y, proba))
    np.testing.assert_array_equal(result.confusion_matrix, skm.confusion_matrix(y, pred))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred)
    for i, label in enumerate(["0", "1"]):
        row = result.per_class[label]
        assert (row["precision"], row["recall"], row["f1_score"], row["support"]) == (
            approx(p[i]), approx(r[i]), approx(f[i]), s[i])
    assert result.task == "binary" and result.score_source == "predict_proba"
    assert result.passed is None and result.path is None  # unsaved: nothing written


def test_multiclass_string_labels_equal_sklearn(iris_strings):
    model, X, y = iris_strings
    result = evaluate(model, X, y, plots=None)
    m = result.metrics
    pred, proba = model.predict(X), model.predict_proba(X)
    classes = model.classes_
    assert result.task == "multiclass" and result.labels == list(classes)
    assert m["accuracy"] == approx(skm.accuracy_score(y, pred))
    for key, avg in (("precision", "weighted"), ("precision_macro", "macro")):
        assert m[key] == approx(skm.precision_score(y, pred, average=avg))
    assert m["recall"] == approx(skm.recall_score(y, pred, average="weighted"))
    assert m["f1_score"] == approx(skm.f1_score(y, pred, average="weighted"))
    assert m["f1_macro"] == approx(skm.f1_score(y, pred, average="macro"))
    assert m["auc_roc"] == approx(skm.roc_auc_score(y, proba, multi_class="ovr",
                                                    average="weighted"))
    assert m["auc_roc_macro"] == approx(skm.roc_auc_score(y, proba, multi_class="ovr",
                                                          average="macro"))
    onehot = label_binarize(y, classes=classes)
    assert m["average_precision"] == approx(skm.average_precision_score(onehot, proba,
                                                                        average="macro"))
    assert m["average_precision_weighted"] == approx(
        skm.average_precision_score(onehot, proba, average="weighted"))
    assert m["log_loss"] == approx(skm.log_loss(y, proba, labels=classes))
    assert m["balanced_accuracy"] == approx(skm.balanced_accuracy_score(y, pred))
    assert m["matthews_corrcoef"] == approx(skm.matthews_corrcoef(y, pred))
    assert "brier_score" not in m
    np.testing.assert_array_equal(result.confusion_matrix,
                                  skm.confusion_matrix(y, pred, labels=classes))
    for i, label in enumerate(classes):
        assert result.per_class[label]["auc_roc"] == approx(
            skm.roc_auc_score(y == label, proba[:, i]))


def test_regression_metrics_equal_sklearn(tmp_path):
    X, y = make_regression(n_samples=300, n_features=5, noise=10.0, random_state=0)
    y = y + 500.0  # away from zero, so MAPE is meaningful
    model = Ridge().fit(X[:200], y[:200])
    Xt, yt = X[200:], y[200:]
    pred = model.predict(Xt)
    result = evaluate(model, Xt, yt, plots=None)
    m = result.metrics
    assert result.task == "regression" and list(m)[:3] == ["r2", "rmse", "mae"]
    assert m["r2"] == approx(skm.r2_score(yt, pred))
    assert m["rmse"] == approx(skm.root_mean_squared_error(yt, pred))
    assert m["mae"] == approx(skm.mean_absolute_error(yt, pred))
    assert m["mse"] == approx(skm.mean_squared_error(yt, pred))
    assert m["mape"] == approx(skm.mean_absolute_percentage_error(yt, pred))
    assert m["median_absolute_error"] == approx(skm.median_absolute_error(yt, pred))
    assert m["explained_variance"] == approx(skm.explained_variance_score(yt, pred))
    assert m["max_error"] == approx(skm.max_error(yt, pred))
    saved = result.save(tmp_path / "out")
    data = json.loads((saved / "metrics.json").read_text())
    assert list(data)[:3] == ["r2", "rmse", "mae"] and data["details"]["mape"] == approx(
        m["mape"])


def test_sample_weights_equal_sklearn(binary):
    model, X, y = binary
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(y))
    pred, proba = model.predict(X), model.predict_proba(X)[:, 1]
    m = evaluate(model, X, y, sample_weight=w, plots=None).metrics
    assert m["accuracy"] == approx(skm.accuracy_score(y, pred, sample_weight=w))
    assert m["precision"] == approx(skm.precision_score(y, pred, sample_weight=w))
    assert m["precision_weighted"] == approx(skm.precision_score(y, pred, average="weighted",
                                                                 sample_weight=w))
    assert m["f1_macro"] == approx(skm.f1_score(y, pred, average="macro", sample_weight=w))
    assert m["auc_roc"] == approx(skm.roc_auc_score(y, proba, sample_weight=w))
    assert m["average_precision"] == approx(skm.average_precision_score(y, proba,
                                                                        sample_weight=w))
    assert m["log_loss"] == approx(skm.log_loss(y, proba, sample_weight=w))
    assert m["brier_score"] == approx(skm.brier_score_loss(y, proba, sample_weight=w))
    assert m["matthews_corrcoef"] == approx(skm.matthews_corrcoef(y, pred, sample_weight=w))
    assert m["balanced_accuracy"] == approx(skm.balanced_accuracy_score(y, pred,
                                                                        sample_weight=w))


# -- curve data ------------------------------------------------------------------------------

def test_curve_json_redraws_the_same_curves(binary, eval_store):
    from matplotlib.figure import Figure

    model, X, y = binary
    eval_store.save(model, "clf")
    result = evaluate(eval_store.load("clf"), X, y)
    folder = eval_store.version_path("evaluation", "clf", "1.0.0")
    curves = json.loads((folder / "curves.json").read_text())
    proba = model.predict_proba(X)[:, 1]

    roc = curves["roc"]["curves"]["1"]
    fpr, tpr, thr = skm.roc_curve(y, proba)
    np.testing.assert_allclose(roc["fpr"], fpr)
    np.testing.assert_allclose(roc["tpr"], tpr)
    assert roc["thresholds"][0] is None  # inf is not JSON
    np.testing.assert_allclose(roc["thresholds"][1:], thr[1:])
    assert skm.auc(roc["fpr"], roc["tpr"]) == approx(result["auc_roc"])

    pr = curves["precision_recall"]["curves"]["1"]
    precision, recall, _ = skm.precision_recall_curve(y, proba, drop_intermediate=True)
    np.testing.assert_allclose(pr["precision"], precision)
    np.testing.assert_allclose(pr["recall"], recall)

    prob_true, prob_pred = calibration_curve(y, proba, n_bins=10)
    np.testing.assert_allclose(curves["calibration"]["prob_true"], prob_true)
    np.testing.assert_allclose(curves["calibration"]["prob_pred"], prob_pred)
    assert curves["confusion_matrix"]["counts"] == skm.confusion_matrix(
        y, model.predict(X)).tolist()

    # Redrawn later, without the model: the same line as scikit-learn's own display.
    fig = Figure()
    ax = fig.add_subplot()
    skm.RocCurveDisplay(fpr=np.array(roc["fpr"]), tpr=np.array(roc["tpr"])).plot(ax=ax)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), fpr)
    np.testing.assert_allclose(line.get_ydata(), tpr)


def test_large_curves_are_decimated_but_exact_where_it_matters():
    rng = np.random.default_rng(1)
    n = 60_000
    y = (rng.random(n) < 0.2).astype(int)
    score = rng.normal(size=n) + 1.3 * y
    result = evaluate_predictions(y, (score > 0.6).astype(int), score, plots=None)
    assert result.score_source == "y_score"  # not probabilities
    assert result["auc_roc"] == approx(skm.roc_auc_score(y, score))
    assert result["average_precision"] == approx(skm.average_precision_score(y, score))
    roc = result.curves["roc"]["curves"]["1"]
    assert roc["points"] > 5000 and len(roc["fpr"]) <= 1000
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)
    fpr, tpr, _ = skm.roc_curve(y, score)
    drawn = np.interp(fpr, roc["fpr"], roc["tpr"])  # the decimated line, at every point
    assert np.max(np.abs(drawn - tpr)) < 0.01
    assert "log_loss" not in result.metrics and "calibration" not in result.curves


# -- models without probabilities, regressors, pipelines ---------------------------------

def test_classifier_without_predict_proba_uses_decision_function(binary):
    _, X, y = binary
    svc = LinearSVC().fit(X, y)
    assert not hasattr(svc, "predict_proba")
    result = evaluate(svc, X, y)
    assert result.score_source == "decision_function"
    assert result["auc_roc"] == approx(skm.roc_auc_score(y, svc.decision_function(X)))
    assert "log_loss" not in result.metrics and "brier_score" not in result.metrics
    assert "roc_curve" in result.figures and "calibration_curve" not in result.figures
    assert any("decision_function" in note for note in result.notes)


class MajorityRule:
    """A classifier with only fit/predict: no scores of any kind."""

    def fit(self, X, y):
        self.threshold_ = float(np.median(X[:, 0]))
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 0] > self.threshold_).astype(int)


def test_classifier_without_any_score_skips_curves_and_says_so(binary):
    _, X, y = binary
    rule = MajorityRule().fit(X, y)
    result = evaluate(rule, X, y, require="auc_roc>=0.5,accuracy>=0.1")
    assert result.task == "binary" and result["auc_roc"] is None
    assert result["accuracy"] == approx(skm.accuracy_score(y, rule.predict(X)))
    assert "roc_curve" not in result.figures and "confusion_matrix" in result.figures
    assert any("neither predict_proba nor decision_function" in n for n in result.notes)
    assert result.passed is False
    assert "not available" in result.gates[0].reason and result.gates[1].passed


def test_regressor_saves_its_plots(eval_store):
    X, y = make_regression(n_samples=200, n_features=4, noise=5.0, random_state=1)
    eval_store.save(Ridge().fit(X, y), "reg")
    result = evaluate(eval_store.load("reg"), X, y)
    assert set(result.figures) == {"predicted_vs_actual", "residuals", "feature_importance"}
    files = _ls(result.path)
    assert {"predicted_vs_actual.png", "residuals.png", "metrics.json", "report.html",
            "curves.json", "fingerprint.json"} <= set(files)
    record = eval_store.record("reg")
    assert record.metrics["r2"] == approx(result["r2"])
    assert result.fingerprint["target"]["max"] == approx(float(y.max()))


def test_pipeline_on_dataframe_with_feature_names(iris_strings):
    _, X, y = iris_strings
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10,
                                                                  random_state=0))
    pipe.fit(X, y)
    result = evaluate(pipe, X, y)
    importance = result.curves["feature_importance"]
    assert importance["names"] == list(X.columns)
    assert importance["values"] == approx(list(pipe[-1].feature_importances_))
    assert result.fingerprint["column_names"] == list(X.columns)
    assert result.fingerprint["class_balance"]["setosa"]["count"] == int((y == "setosa").sum())


def test_permutation_importance_when_the_model_has_none(binary):
    _, X, y = binary
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier().fit(X, y)
    result = evaluate(knn, X, y, plots=["feature_importance"])
    assert list(result.figures) == ["feature_importance"]
    assert result.curves["feature_importance"]["kind"].startswith("permutation importance")
    assert len(result.curves["feature_importance"]["values"]) == X.shape[1]


def test_evaluate_predictions_with_labels_and_integer_regression():
    y_true = np.array(["b", "a", "a", "b", "c", "c", "a"])
    y_pred = np.array(["b", "a", "c", "b", "c", "a", "a"])
    scores = np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.3, 0.1, 0.6], [0.2, 0.7, 0.1],
                       [0.1, 0.1, 0.8], [0.5, 0.1, 0.4], [0.6, 0.3, 0.1]])
    order = [2, 0, 1]  # columns in the order c, a, b
    result = evaluate_predictions(y_true, y_pred, scores[:, order], labels=["c", "a", "b"],
                                  plots=None)
    assert result.score_source == "y_score (probabilities)"
    assert result["auc_roc"] == approx(skm.roc_auc_score(y_true, scores, multi_class="ovr",
                                                         average="weighted"))
    counts = np.array([3, 1, 0, 5, 2])
    guess = np.array([3, 2, 0, 4, 2])
    assert evaluate_predictions(counts, guess, plots=None).task == "multiclass"
    reg = evaluate_predictions(counts, guess, task="regression", plots=None)
    assert reg.task == "regression" and reg["mae"] == approx(0.4)


def test_integer_labels_in_a_given_order_keep_that_order():
    # 0..3 but not in ascending order: codes must follow labels=, not the values.
    y_true = np.array([0, 1, 2, 3, 2, 1, 0, 3, 3, 2])
    y_pred = np.array([0, 1, 2, 3, 1, 1, 0, 3, 2, 2])
    labels = [0, 2, 1, 3]
    result = evaluate_predictions(y_true, y_pred, labels=labels, plots=None, save=False)
    np.testing.assert_array_equal(result.confusion_matrix,
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    recall = skm.recall_score(y_true, y_pred, labels=labels, average=None)
    support = [int(np.sum(y_true == c)) for c in labels]
    for label, r, n in zip(labels, recall, support):
        assert result.per_class[str(label)]["recall"] == approx(r)
        assert result.per_class[str(label)]["support"] == n


# -- bad input: a clear error, nothing written ---------------------------------------------

def _bad_inputs(model, X, y):
    from sklearn.base import clone

    y_nan = y.astype(float)
    y_nan[3] = np.nan
    return {
        "lengths differ": (model, X, y[:-5]),
        "test set is empty": (model, X[:0], y[:0]),
        "only one class": (model, X[y == 1], y[y == 1]),
        "missing (NaN)": (model, X, y_nan),
        "not fitted": (clone(model), X, y),
    }


@pytest.mark.parametrize("problem", ["lengths differ", "test set is empty", "only one class",
                                     "missing (NaN)", "not fitted"])
def test_bad_input_is_a_clear_error_and_writes_nothing(problem, binary, eval_store):
    model, X, y = binary
    eval_store.save(model, "clf")
    before = eval_store.record("clf").to_dict()
    bad_model, bad_X, bad_y = _bad_inputs(model, X, y)[problem]
    with pytest.raises(EvaluationError, match=problem.split()[0]) as info:
        evaluate(bad_model, bad_X, bad_y, name="clf", version="1.0.0", store=eval_store)
    assert problem in str(info.value)
    assert not (eval_store.root / "evaluation").exists()
    assert eval_store.record("clf").to_dict() == before


def test_bad_predictions_input_writes_nothing(eval_store, binary):
    model, _, y = binary
    eval_store.save(model, "clf")
    with pytest.raises(EvaluationError, match="lengths differ"):
        evaluate_predictions(y, y[:-1], name="clf", version="1.0.0", store=eval_store)
    with pytest.raises(EvaluationError, match="NaN"):
        evaluate_predictions(y, y, np.full(len(y), np.nan), name="clf", version="1.0.0",
                             store=eval_store)
    with pytest.raises(EvaluationError, match="unknown plot"):
        evaluate_predictions(y, y, plots=["roc"], name="clf", version="1.0.0",
                             store=eval_store)
    values = np.linspace(0.0, 1.0, 8)
    with pytest.raises(EvaluationError, match="y_true holds 1 infinite values"):
        evaluate_predictions(np.append(values, np.inf), np.append(values, 1.0),
                             task="regression", name="clf", version="1.0.0", store=eval_store)
    with pytest.raises(EvaluationError, match="y_pred holds 1 infinite values"):
        evaluate_predictions(np.append(values, 1.0), np.append(values, -np.inf),
                             task="regression", name="clf", version="1.0.0", store=eval_store)
    with pytest.raises(EvaluationError, match="sample_weight is 0 for every row"):
        evaluate_predictions(y, y, sample_weight=np.zeros(len(y)), name="clf",
                             version="1.0.0", store=eval_store)
    assert not (eval_store.root / "evaluation").exists()


def test_a_failed_write_leaves_no_folder(tmp_path):
    from nbmodels.storage import local as _io

    target = tmp_path / "evaluation" / "m_v1.0.0"
    with pytest.raises(OSError):
        _io.publish_files(target, {"metrics.json": b"{}", "sub/dir.png": b"x"})
    assert not target.exists()
    assert _ls(tmp_path / "evaluation") == []  # no temporary folder left either


def test_interrupted_evaluation_leftovers_are_found_by_verify_and_removed_by_gc(eval_store):
    eval_store.save({"w": 1}, "clf")
    evaluation = eval_store.root / "evaluation"
    top = evaluation / ".tmp-clf_v1.0.0-0123456789ab"  # what publish_files leaves on a crash
    nested = evaluation / "clf_v1.0.0" / ".tmp-holdout-0123456789ab"
    for folder in (top, nested):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_bytes(b"{}")
    found = [(p.kind, p.path, p.name) for p in eval_store.verify().problems]
    assert found == [("orphan", "evaluation/.tmp-clf_v1.0.0-0123456789ab", "clf"),
                     ("orphan", "evaluation/clf_v1.0.0/.tmp-holdout-0123456789ab", "clf")]
    assert sorted(p for p, _ in eval_store.gc().removed) == [
        "evaluation/.tmp-clf_v1.0.0-0123456789ab",
        "evaluation/clf_v1.0.0/.tmp-holdout-0123456789ab"]
    assert eval_store.verify().ok


def test_evaluation_files_are_written_under_the_models_lock(binary, eval_store, monkeypatch):
    from nbmodels.storage import local as _io

    model, X, y = binary
    eval_store.save(model, "clf")
    held = []
    publish = _io.publish_files

    def observed(*args, **kwargs):
        held.append(eval_store.fs.is_locked_elsewhere("clf"))
        return publish(*args, **kwargs)

    monkeypatch.setattr(_io, "publish_files", observed)
    evaluate(eval_store.load("clf"), X, y, plots=None)
    assert held == [True]


# -- gates ---------------------------------------------------------------------------------

def test_gates_pass_and_fail_with_reasons_recorded(binary, eval_store):
    model, X, y = binary
    eval_store.save(model, "clf")
    ok = evaluate(model, X, y, name="clf", version="1.0.0", store=eval_store,
                  require={"auc_roc": ">=0.5", "log_loss": 2.0}, plots=None)
    assert ok.passed is True and [g.op for g in ok.gates] == [">=", "<="]
    bad = evaluate(model, X, y, name="clf", version="1.0.0", store=eval_store,
                   require="auc_roc>=0.5, recall > 0.999,per_class.1.precision>=0.5",
                   plots=None)
    assert bad.passed is False
    assert [g.passed for g in bad.gates] == [True, False, True]
    assert "recall" in bad.gates[1].reason and "FAILED" in bad.gates[1].reason
    saved = json.loads((bad.path / "metrics.json").read_text())
    assert saved["gates"]["passed"] is False and len(saved["gates"]["checks"]) == 3
    summary = eval_store.record("clf")["evaluations"]["default"]
    assert summary["passed"] is False and any("FAILED" in g for g in summary["gates"])
    assert "passed=False" in repr(bad)


@pytest.mark.parametrize("require, message", [
    ("auc_roc=>0.5", "cannot read"), ({"acuracy": ">=0.5"}, "acuracy"),
    ({"auc_roc": [0.5]}, "must be a string"), (42, "dict or a string")])
def test_bad_requirements_are_errors_before_writing(require, message, binary, eval_store):
    model, X, y = binary
    eval_store.save(model, "clf")
    with pytest.raises(EvaluationError, match=message):
        evaluate(model, X, y, name="clf", version="1.0.0", store=eval_store, require=require)
    assert not (eval_store.root / "evaluation").exists()


# -- files, the record, datasets ---------------------------------------------------------

def test_saved_files_record_and_datasets(binary, eval_store):
    model, X, y = binary
    eval_store.save(model, "clf", metrics={"note_metric": 1.0})
    loaded = eval_store.load("clf")
    result = evaluate(loaded, X, y)  # name and version come from the store
    folder = eval_store.version_path("evaluation", "clf", "1.0.0")
    assert result.path == folder
    assert _ls(folder) == sorted(["metrics.json", "artifacts.json", "curves.json",
                                  "fingerprint.json",
                                  "report.html", "confusion_matrix.png",
                                  "confusion_matrix_normalized.png", "roc_curve.png",
                                  "precision_recall_curve.png", "calibration_curve.png",
                                  "feature_importance.png", "scores.npz"])
    assert all((folder / f).read_bytes().startswith(PNG) for f in _ls(folder)
               if f.endswith(".png"))
    saved = json.loads((folder / "metrics.json").read_text())
    assert list(saved)[:5] == SEED_KEYS and saved["details"]["log_loss"] == approx(
        result["log_loss"])
    assert saved["evaluation"]["data_sha256"] == result.fingerprint["sha256"]
    record = eval_store.record("clf")
    assert record.metrics["auc_roc"] == approx(result["auc_roc"])
    assert record.metrics["note_metric"] == 1.0  # merged, not replaced

    holdout = evaluate(loaded, X[:60], y[:60], dataset="holdout", plots="seed")
    assert holdout.path == folder / "holdout"
    assert _ls(folder / "holdout") == sorted(["metrics.json", "artifacts.json", "curves.json",
                                              "fingerprint.json", "report.html",
                                              "confusion_matrix.png", "roc_curve.png",
                                              "scores.npz"])
    record = eval_store.record("clf")
    assert record.metrics["auc_roc"] == approx(result["auc_roc"])  # default set's
    assert record["evaluations"]["holdout"]["metrics"]["auc_roc"] == approx(
        holdout["auc_roc"])
    assert record["evaluations"]["holdout"]["path"] == "evaluation/clf_v1.0.0/holdout"

    # Re-evaluating the default set replaces its files and keeps the holdout folder.
    evaluate(loaded, X, y, plots="seed")
    assert "calibration_curve.png" not in _ls(folder)
    assert "holdout" in _ls(folder) and "metrics.json" in _ls(folder / "holdout")
    with pytest.raises(EvaluationError, match="evaluation file"):
        evaluate(loaded, X, y, dataset="metrics.json")


def test_save_false_and_unsaved_models_write_nothing(binary, eval_store):
    model, X, y = binary
    eval_store.save(model, "clf")
    shown = evaluate(eval_store.load("clf"), X, y, save=False, plots=None)
    assert shown.path is None and shown.label == "clf@1.0.0"
    assert not (eval_store.root / "evaluation").exists()
    assert "auc_roc" not in eval_store.record("clf").metrics
    loose = evaluate(model, X, y, store=eval_store, plots=None)  # not from the store
    assert loose.path is None and any(n.startswith("not saved") for n in loose.notes)
    assert not (eval_store.root / "evaluation").exists()


def test_version_not_in_store_writes_files_only(binary, eval_store):
    model, X, y = binary
    result = evaluate(model, X, y, name="handmade", version="2.0.0", store=eval_store,
                      plots=None)
    assert result.path == eval_store.root / "evaluation" / "handmade_v2.0.0"
    assert (result.path / "metrics.json").exists()
    with pytest.raises(nbmodels.ModelNotFoundError):
        evaluate(model, X, y, name="handmade", version="latest", store=eval_store)
    with pytest.raises(EvaluationError, match="version"):
        evaluate(model, X, y, name="handmade", store=eval_store)


# -- the drop-in ---------------------------------------------------------------------------

def test_evaluate_model_drop_in_returns_seed_keys_and_writes_seed_files(binary, tmp_path,
                                                                         monkeypatch):
    model, X, y = binary
    monkeypatch.delenv("NBMODELS_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    metrics = evaluate_model(model, X, y, "churn", "1.0.0")
    assert list(metrics) == SEED_KEYS
    # What the seed's own code computes:
    report = skm.classification_report(y, model.predict(X), output_dict=True)
    fpr, tpr, _ = skm.roc_curve(y, model.predict_proba(X)[:, 1])
    seed = {"accuracy": report["accuracy"], "precision": report["weighted avg"]["precision"],
            "recall": report["weighted avg"]["recall"],
            "f1_score": report["weighted avg"]["f1-score"], "auc_roc": skm.auc(fpr, tpr)}
    assert metrics == {k: approx(v) for k, v in seed.items()}
    eval_dir = tmp_path / "models" / "evaluation" / "churn_v1.0.0"
    with open(eval_dir / "metrics.json") as f:
        on_disk = json.load(f)
    # The files name their numbers: the positive class's under the seed's keys (labelled
    # so), the weighted averages that the drop-in returns under explicit names.
    assert on_disk["accuracy"] == metrics["accuracy"]
    assert on_disk["auc_roc"] == metrics["auc_roc"]
    assert on_disk["headline_metrics"]["precision"] == "precision (class 1)"
    assert on_disk["positive_class"]["label"] == 1
    for seed_key, explicit in (("precision", "precision_weighted"),
                               ("recall", "recall_weighted"), ("f1_score", "f1_weighted")):
        assert on_disk["details"][explicit] == metrics[seed_key]
    assert "compatibility function" in evaluate_model.__doc__.lower()
    for name in ("confusion_matrix.png", "roc_curve.png"):
        assert (eval_dir / name).read_bytes().startswith(PNG)
    assert nbmodels.evaluate_model is evaluate_model


# -- the result object -----------------------------------------------------------------------

def test_result_display_frame_and_save(binary, tmp_path):
    model, X, y = binary
    result = evaluate(model, X, y, plots="seed")
    again = evaluate(model, X, y, plots="seed")
    assert repr(result) == repr(again)  # deterministic: no timestamps, ids or paths
    assert repr(result).startswith("EvaluationResult(unsaved model, binary, n=150, positive=1, "
                                   "accuracy=")
    assert "precision[1]=" in repr(result) and "recall[1]=" in repr(result)
    html = result._repr_html_()
    assert html.count("data:image/png;base64,") == 2 and "auc_roc" in html
    frame = result.to_frame()
    assert frame.shape == (len(result.metrics), 1)
    assert frame.loc["auc_roc"].iloc[0] == approx(result["auc_roc"])
    assert result.figures["roc_curve"]._repr_png_().startswith(PNG)
    assert isinstance(result, EvaluationResult) and result.timings["metrics: sort + counts"] >= 0
    out = result.save(tmp_path / "custom" / "place")
    (out / "mine.txt").write_text("kept")
    result.save(out)  # into an existing folder: its other files stay
    assert "mine.txt" in _ls(out)
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_importing_evaluation_stays_light():
    code = ("import sys, nbmodels.evaluation, nbmodels; nbmodels.evaluate; "
            "heavy = [m for m in ('sklearn', 'matplotlib', 'pandas') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
