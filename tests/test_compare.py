"""nbmodels.compare and ModelStore.best on a real store with evaluated versions."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, roc_auc_score

import nbmodels
from nbmodels import ModelStore, compare, evaluate
from nbmodels.errors import InvalidNameError, ModelNotFoundError
from nbmodels.evaluation import Comparison, EvaluationError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=360, n_features=6, n_informative=3,
                               random_state=3)
    return X[:200], y[:200], X[200:], y[200:]


@pytest.fixture
def evaluated(tmp_path, data):
    """Three versions of 'churn', each evaluated on the same test set, plus a holdout."""
    Xtr, ytr, Xte, yte = data
    store = ModelStore(tmp_path / "models")
    models = [LogisticRegression(C=0.001), LogisticRegression(C=1.0),
              RandomForestClassifier(n_estimators=15, random_state=0)]
    results = {}
    for model, version in zip(models, ("1.0.0", "1.1.0", "1.2.0")):
        model.fit(Xtr, ytr)
        store.save(model, "churn", version=version)
        results[version] = evaluate(model, Xte, yte, name="churn", version=version,
                                    store=store, plots="seed")
        evaluate(model, Xte[:80], yte[:80], name="churn", version=version, store=store,
                 dataset="holdout", plots=None)
    return store, models, results


def test_compare_table_deltas_and_best(evaluated):
    store, _, results = evaluated
    comparison = compare("churn", store=store)
    assert isinstance(comparison, Comparison)
    assert comparison.refs == ["churn@1.0.0", "churn@1.1.0", "churn@1.2.0"]
    rows = {r.metric: r for r in comparison.rows}
    assert [r.metric for r in comparison.rows][:5] == ["accuracy", "precision", "recall",
                                                       "f1_score", "auc_roc"]
    auc = [results[v]["auc_roc"] for v in ("1.0.0", "1.1.0", "1.2.0")]
    assert rows["auc_roc"].values == pytest.approx(auc)
    assert rows["auc_roc"].deltas[0] is None
    assert rows["auc_roc"].deltas[1:] == pytest.approx([auc[1] - auc[0], auc[2] - auc[1]])
    assert rows["auc_roc"].best == {int(np.argmax(auc))}
    losses = [results[v]["log_loss"] for v in ("1.0.0", "1.1.0", "1.2.0")]
    assert rows["log_loss"].best == {int(np.argmin(losses))}  # lower is better
    best_auc = f"churn@{['1.0.0', '1.1.0', '1.2.0'][int(np.argmax(auc))]}"
    assert comparison.best("auc_roc") == best_auc
    frame = comparison.to_frame(deltas=True)
    assert list(frame.columns) == ["1.0.0", "1.1.0", "delta 1.1.0", "1.2.0", "delta 1.2.0"]
    assert frame.loc["auc_roc", "1.1.0"] == pytest.approx(auc[1])
    assert comparison.sizes == {f"churn@{v}": store.record("churn", v).size_bytes
                                for v in ("1.0.0", "1.1.0", "1.2.0")}
    assert comparison.notes == []  # same test data everywhere


def test_only_differing_parameters_by_default(evaluated):
    store, _, _ = evaluated
    two = compare("churn", ["1.0.0", "1.1.0"], store=store)
    params = dict(two.parameters)
    assert params == {"C": [0.001, 1.0]}  # max_iter, penalty, ... are equal
    everything = dict(compare("churn", ["1.0.0", "1.1.0"], store=store,
                              only_differences=False).parameters)
    assert everything["C"] == [0.001, 1.0] and everything["max_iter"] == [100, 100]
    env = dict(compare("churn", store=store).environment)
    assert env["model_class"][2].endswith("RandomForestClassifier")


def test_figures_come_from_saved_curves(evaluated, data):
    store, models, _ = evaluated
    _, _, Xte, yte = data
    comparison = compare(["churn@1.0.0", "churn@1.2.0"], store=store)
    assert set(comparison.figures) == {"metrics_over_versions", "roc_overlay", "pr_overlay",
                                       "confusion_matrix_difference"}
    assert all(p.png.startswith(PNG) for p in comparison.figures.values())
    last = comparison.entries[-1]
    saved = json.loads((store.version_path("evaluation", "churn", "1.2.0")
                        / "curves.json").read_text())
    assert last.curves == saved
    roc = saved["roc"]["curves"]["1"]
    assert roc["auc"] == pytest.approx(roc_auc_score(yte, models[2].predict_proba(Xte)[:, 1]))
    matrix, names, title, _ = comparison._confusion_difference()
    expected = (confusion_matrix(yte, models[2].predict(Xte))
                - confusion_matrix(yte, models[0].predict(Xte)))
    np.testing.assert_array_equal(matrix, expected)
    assert names == ["0", "1"] and title.startswith("1.2.0 minus 1.0.0 (counts)")


def test_display_is_deterministic(evaluated):
    store, _, _ = evaluated
    text = repr(compare("churn", store=store))
    assert text == repr(compare("churn", store=store))
    assert text.splitlines()[0] == "Comparison(churn@1.0.0, churn@1.1.0, churn@1.2.0)"
    assert "auc_roc" in text and " *" in text and "size" in text
    html = compare("churn", store=store)._repr_html_()
    assert "&#9733;" in html and html.count("data:image/png;base64,") == 4


def test_store_best(evaluated):
    store, _, results = evaluated
    by_auc = max(results, key=lambda v: (results[v]["auc_roc"], v))
    assert store.best("churn", "auc_roc") == by_auc
    by_loss = min(results, key=lambda v: results[v]["log_loss"])
    assert store.best("churn", "log_loss") == by_loss
    assert store.best("churn", "log_loss", higher_is_better=True) == max(
        results, key=lambda v: results[v]["log_loss"])
    holdout = {v: store.record("churn", v)["evaluations"]["holdout"]["metrics"]["accuracy"]
               for v in results}
    best_holdout = max(sorted(holdout), key=lambda v: holdout[v])
    tied = [v for v in sorted(holdout) if holdout[v] == holdout[best_holdout]]
    assert store.best("churn", "accuracy", dataset="holdout") == tied[-1]  # later wins ties
    with pytest.raises(ModelNotFoundError, match="saved metrics"):
        store.best("churn", "no_such_metric")


def test_compare_other_datasets_missing_evaluations_and_errors(evaluated, data):
    store, models, _ = evaluated
    _, _, Xte, yte = data
    holdout = compare("churn", store=store, dataset="holdout", metrics=["accuracy"])
    assert [r.metric for r in holdout.rows] == ["accuracy"]
    assert "on holdout" in repr(holdout).splitlines()[0]
    store.save(models[0], "churn", version="1.3.0", force_new=True)  # never evaluated
    evaluate(models[1], Xte[:50], yte[:50], name="churn", version="1.1.0", store=store,
             plots=None, dataset="test")  # different data, made the headline
    comparison = compare("churn", ["1.1.0", "1.2.0", "1.3.0"], store=store)
    assert any("no saved metrics for 1.3.0" in n for n in comparison.notes)
    assert any("different data" in n for n in comparison.notes)
    assert comparison.rows[0].values[2] is None
    with pytest.raises(EvaluationError, match="no version has"):
        compare("churn", store=store, metrics=["nope"])
    with pytest.raises(ModelNotFoundError):
        compare("nobody", store=store)


def test_a_dataset_label_never_reads_outside_the_store(evaluated, tmp_path):
    store, _, _ = evaluated
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "metrics.json").write_text('{"accuracy": 1.5}')
    label = os.path.relpath(elsewhere, store.version_path("evaluation", "churn", "1.0.0"))
    with pytest.raises(InvalidNameError, match="dataset label"):
        compare("churn", store=store, dataset=label)
    with pytest.raises(InvalidNameError, match="dataset label"):
        store.best("churn", "accuracy", dataset=label)


def test_compare_uses_default_store(tmp_path, monkeypatch, data):
    Xtr, ytr, Xte, yte = data
    monkeypatch.setenv("NBMODELS_HOME", str(tmp_path / "home"))
    model = LogisticRegression().fit(Xtr, ytr)
    nbmodels.save_model(model, "solo")
    nbmodels.evaluate_model(model, Xte, yte, "solo", "1.0.0")
    comparison = nbmodels.compare("solo")
    assert comparison.refs == ["solo@1.0.0"] and "metrics_over_versions" not in \
        comparison.figures


# -- what the comparison shows ------------------------------------------------------------

def test_one_axis_per_metric_in_the_chart():
    from matplotlib.figure import Figure

    from nbmodels.evaluation import plots as P

    series = {"r2": [0.81, 0.86, 0.9], "rmse": [1520.0, 1310.0, 1200.0], "mae": [900.0, 850.0,
                                                                               700.0]}
    fig = Figure(figsize=P.metric_panels_size(len(series)))
    P.draw_metric_panels(fig, ["1.0.0", "1.1.0", "1.2.0"], series, title="Metrics by version")
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["r2", "rmse", "mae"]
    for ax, values in zip(axes, series.values()):
        low, high = ax.get_ylim()  # each axis is scaled to its own metric
        assert low < min(values) and max(values) < high and high - low < 2 * max(values)
    assert P.metric_panels_png(["a", "b", "c"], series, title="t").startswith(PNG)


def test_deltas_are_formatted_like_their_values():
    from nbmodels.evaluation.report import fmt, fmt_delta

    assert (fmt(0.9123), fmt_delta(0.0123456, 0.9123)) == ("0.9123", "+0.0123")
    assert (fmt(1234.5678), fmt_delta(-12.345, 1234.5678)) == ("1235", "-12")
    assert (fmt(12.3456), fmt_delta(0.5, 12.3456)) == ("12.35", "+0.50")
    assert fmt_delta(3, 10) == "+3"


def test_parameters_grouped_by_estimator_and_tables_that_fit(evaluated):
    store, _, _ = evaluated
    comparison = compare("churn", store=store)  # two LogisticRegression, one forest
    groups = {cls: (members, dict(rows)) for cls, members, rows in
              comparison.parameter_groups}
    assert set(groups) == {"LogisticRegression", "RandomForestClassifier"}
    assert groups["LogisticRegression"][1] == {"C": [0.001, 1.0, None]}
    assert groups["RandomForestClassifier"][1] == {}  # nothing to compare it with
    assert dict(comparison.parameters) == {"LogisticRegression: C": [0.001, 1.0, None]}
    html = comparison._repr_html_()
    assert "Hyper-parameters of LogisticRegression that differ" in html
    assert "n_estimators" not in html and "max_iter" not in html
    assert "hyper-parameters are compared within one estimator" in html
    assert "overflow-wrap:anywhere" in html and "overflow-x:auto" in html
    text = repr(comparison)
    row = next(line for line in text.splitlines() if line.startswith("auc_roc"))
    assert "precision (class 1)" in text and "precision (class 1)" in html
    value = comparison.rows[[r.metric for r in comparison.rows].index("auc_roc")].values[1]
    from nbmodels.evaluation.report import fmt

    decimals = len(fmt(value).split(".")[1])
    delta = row.split("(")[1].split(")")[0]
    assert len(delta.split(".")[1]) == decimals


def test_different_kinds_of_task_are_refused(evaluated, data):
    from sklearn.linear_model import Ridge

    store, _, _ = evaluated
    Xtr, ytr, Xte, yte = data
    store.save(Ridge().fit(Xtr, ytr * 3.0), "house")
    evaluate(store.load("house"), Xte, yte * 3.0, plots=None)
    with pytest.raises(EvaluationError, match="different kinds of task") as info:
        compare(["churn@1.0.0", "house@1.0.0"], store=store)
    assert "binary: churn@1.0.0" in str(info.value)
    assert "regression: house@1.0.0" in str(info.value)
    store.save(Ridge().fit(Xtr, ytr * 3.0), "house2")  # never evaluated: its type decides
    with pytest.raises(EvaluationError, match=r"classification: churn@1\.2\.0"):
        compare(["churn@1.2.0", "house2@1.0.0"], store=store)


def test_compare_with_data_evaluates_every_version_on_it(evaluated, data):
    store, models, _ = evaluated
    Xtr, ytr, _, _ = data
    store.save(models[0], "churn", version="1.3.0", force_new=True)  # never evaluated
    comparison = compare("churn", ["1.1.0", "1.3.0"], store=store, X=Xtr, y=ytr)
    assert all(v is not None for r in comparison.rows[:5] for v in r.values)
    assert comparison.notes == []  # same data everywhere
    assert len({e.data_sha256 for e in comparison.entries}) == 1
    acc = comparison.rows[0]
    assert acc.metric == "accuracy"
    assert acc.values == pytest.approx([models[1].score(Xtr, ytr), models[0].score(Xtr, ytr)])
    record = store.record("churn", "1.3.0")
    assert record["evaluations"]["default"]["rows"] == len(ytr)
    with pytest.raises(EvaluationError, match="pass both X= and y="):
        compare("churn", store=store, X=Xtr)
