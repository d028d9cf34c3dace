"""ONNX: scikit-learn converted with skl2onnx (types from X), or a ModelProto as is."""

from __future__ import annotations

import numpy as np
import pytest

from nbmodels.errors import NBModelsError

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")


def test_converted_classifier_predicts_like_the_original(store, iris):
    from format_checks import check_evaluate_matches
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    rec = store.save(model, "iris", format="onnx", X=X, y=y)
    info = rec["format_info"]
    # The input types came from X and are in the record.
    assert info["inputs"] == [{"name": "X", "type": "float", "shape": [None, 4]}]
    assert info["input_from"] == "X as float32"
    assert info["classes"] == [0, 1, 2]
    assert info["converted_by"].startswith("skl2onnx ")
    assert [f["name"] for f in rec["files"]] == ["model.onnx"]
    assert [m["name"] for m in store.list()] == ["iris"]

    loaded = store.load("iris")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    assert list(loaded.classes_) == [0, 1, 2]
    assert list(loaded.feature_names_in_) == list(X.columns)
    assert np.array_equal(loaded.predict(X.to_numpy()), model.predict(X))
    check_evaluate_matches(model, loaded, X, y, "accuracy")


def test_converted_regressor(store):
    from format_checks import check_evaluate_matches
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge().fit(X, y)
    store.save(model, "diabetes", format="onnx", X=X)
    loaded = store.load("diabetes")
    assert not hasattr(loaded, "predict_proba")
    assert loaded.predict(X).shape == (len(X),)
    assert np.allclose(loaded.predict(X), model.predict(X), rtol=1e-4, atol=1e-2)
    check_evaluate_matches(model, loaded, X, y, "mae", tolerance=1e-2)


def test_mixed_type_frame_gets_one_input_per_column(store):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"size": rng.normal(size=60).astype(np.float32),
                      "colour": rng.choice(["red", "green", "blue"], size=60)})
    y = (X["size"] > 0).astype(int)
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["size"]),
                           ("cat", OneHotEncoder(), ["colour"])]),
        LogisticRegression()).fit(X, y)
    rec = store.save(model, "mixed", format="onnx", X=X)
    assert [i["name"] for i in rec["format_info"]["inputs"]] == ["size", "colour"]
    assert [i["type"] for i in rec["format_info"]["inputs"]] == ["float", "string"]
    loaded = store.load("mixed")
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_mixed_type_frame_with_float64_and_int_columns(store):
    # pandas' default float64: the graph must still run in onnxruntime.
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"size": rng.normal(size=80), "count": rng.integers(0, 9, size=80),
                      "colour": rng.choice(["red", "green", "blue"], size=80)})
    y = np.where(X["size"] + X["count"] / 9 > 0.5, "yes", "no")
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["size", "count"]),
                           ("cat", OneHotEncoder(), ["colour"])]),
        LogisticRegression()).fit(X, y)
    rec = store.save(model, "mixed64", format="onnx", X=X)
    assert [i["type"] for i in rec["format_info"]["inputs"]] == ["float", "int64", "string"]
    loaded = store.load("mixed64")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)


def test_conversion_needs_a_sample_of_x(store, small_model):
    with pytest.raises(NBModelsError, match="pass X=X_train"):
        store.save(small_model[0], "iris", format="onnx")
    assert store.names() == []


def test_model_proto_is_stored_as_is(store, small_model):
    from skl2onnx import to_onnx

    model, X, _ = small_model
    proto = to_onnx(model, X.to_numpy(np.float32)[:1], options={"zipmap": False})
    rec = store.save(proto, "proto")  # chosen automatically
    assert rec["format"] == "onnx" and rec["format_info"]["converted_by"] is None
    stored = (store.root / "trained" / "proto_v1.0.0" / "model.onnx").read_bytes()
    assert stored == proto.SerializeToString()
    loaded = store.load("proto")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    assert sorted(loaded.run(X)) == ["label", "probabilities"]


def test_other_objects_are_refused_with_advice(store):
    with pytest.raises(NBModelsError, match=r"torch\.onnx\.export"):
        store.save({"not": "a model"}, "thing", format="onnx")


# -- the wrapper has the original's methods, and only those ------------------------------

def _blobs(n=90, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, 3)) + y[:, None] * 2.0
    return X, y


def test_linear_svc_converts_and_has_decision_function_not_proba(store):
    # skl2onnx's LinearSVC converter has no zipmap option; forcing it made the save fail.
    from sklearn.svm import LinearSVC

    X, y = _blobs()
    model = LinearSVC().fit(X, y)
    rec = store.save(model, "svc", format="onnx", X=X)
    assert sorted(rec["format_info"]["methods"]) == ["decision_function", "predict"]
    loaded = store.load("svc")
    assert not hasattr(loaded, "predict_proba") and not hasattr(model, "predict_proba")
    assert "predict_proba" not in dir(loaded)
    with pytest.raises(AttributeError, match="no predict_proba"):
        loaded.predict_proba(X)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    scores = loaded.decision_function(X)
    assert scores.shape == model.decision_function(X).shape == (len(X),)  # binary: (n,)
    assert np.allclose(scores, model.decision_function(X), atol=1e-4)


def test_evaluate_does_not_score_decision_values_as_probabilities(store):
    from sklearn.svm import LinearSVC

    from nbmodels.evaluation import evaluate

    X, y = _blobs(classes=3)
    model = LinearSVC().fit(X, y)
    store.save(model, "svc3", format="onnx", X=X)
    loaded = store.load("svc3")
    assert loaded.decision_function(X).shape == (len(X), 3)
    ours, theirs = evaluate(loaded, X, y).metrics, evaluate(model, X, y).metrics
    assert "log_loss" not in ours and "log_loss" not in theirs
    assert ours["accuracy"] == theirs["accuracy"]


def test_kmeans_has_predict_and_transform_only(store):
    from sklearn.cluster import KMeans

    X, _ = _blobs()
    model = KMeans(n_clusters=2, n_init=2, random_state=0).fit(X)
    store.save(model, "km", format="onnx", X=X)
    loaded = store.load("km")
    assert not hasattr(loaded, "predict_proba")
    assert [m for m in ("predict", "predict_proba", "decision_function", "transform")
            if hasattr(loaded, m)] == ["predict", "transform"]
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.transform(X), model.transform(X), atol=1e-4)


def test_quadratic_discriminant_predict_has_the_original_shape(store):
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    X, y = _blobs(classes=3)
    model = QuadraticDiscriminantAnalysis().fit(X, y)
    store.save(model, "qda", format="onnx", X=X)
    loaded = store.load("qda")
    assert loaded.predict(X).shape == (len(X),)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-4)


def test_rfe_is_a_transformer_in_onnx(store):
    # skl2onnx converts RFE's transform (the selected columns), not its predict: the
    # wrapper must not call the selected columns predictions.
    from sklearn.feature_selection import RFE
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs(classes=3)
    model = RFE(LogisticRegression(max_iter=500), n_features_to_select=2).fit(X, y)
    rec = store.save(model, "rfe", format="onnx", X=X)
    assert list(rec["format_info"]["methods"]) == ["transform"]
    assert rec["format_info"]["methods_not_in_graph"] == [
        "predict", "predict_proba", "predict_log_proba", "decision_function"]
    loaded = store.load("rfe")
    assert not hasattr(loaded, "predict")
    assert np.allclose(loaded.transform(X), model.transform(X), atol=1e-5)


def test_integer_input_stays_int64(store):
    from sklearn.preprocessing import LabelBinarizer, LabelEncoder

    y = np.array([3, 1, 2, 3, 1, 2, 2])
    for cls in (LabelEncoder, LabelBinarizer):
        model = cls().fit(y)
        rec = store.save(model, cls.__name__.lower(), format="onnx", X=y)
        assert rec["format_info"]["input_from"] == "X as int64"
        assert rec["format_info"]["inputs"][0]["type"] == "int64"
        loaded = store.load(cls.__name__.lower())
        assert np.array_equal(loaded.transform(y), model.transform(y))


def test_column_transformer_by_name_gets_one_input_per_column(store):
    # A numeric DataFrame whose columns the model selects by name.
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, y = _blobs()
    X = pd.DataFrame(X, columns=["age", "income", "visits"])
    model = make_pipeline(
        ColumnTransformer([("a", StandardScaler(), ["income", "age"]),
                           ("b", MinMaxScaler(), ["visits"])]),
        LogisticRegression()).fit(X, y)
    rec = store.save(model, "ct", format="onnx", X=X)
    info = rec["format_info"]
    assert info["input_from"] == "X, one input per column"
    assert [i["name"] for i in info["inputs"]] == ["age", "income", "visits"]
    loaded = store.load("ct")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)
    # the columns reordered, and a bare array in the training order, both work
    assert np.array_equal(loaded.predict(X[["visits", "age", "income"]]), model.predict(X))
    assert np.array_equal(loaded.predict(X.to_numpy()), model.predict(X))


def test_numeric_frame_without_name_selection_stays_one_tensor(store):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs()
    X = pd.DataFrame(X, columns=["a", "b", "c"])
    rec = store.save(LogisticRegression().fit(X, y), "lr", format="onnx", X=X)
    assert [i["name"] for i in rec["format_info"]["inputs"]] == ["X"]


def test_ragged_input_is_refused_with_the_fix(store):
    from sklearn.preprocessing import MultiLabelBinarizer

    labels = [[1, 2], [3], [1]]
    with pytest.raises(NBModelsError, match=r"varying length.*format=.skops."):
        store.save(MultiLabelBinarizer().fit(labels), "mlb", format="onnx", X=labels)
    assert store.names() == []


def test_record_without_methods_still_loads_as_before(store, small_model):
    # A version saved before the record kept the methods: label + probabilities.
    import json

    model, X, _ = small_model
    store.save(model, "old", format="onnx", X=X)
    path = store.root / "metadata" / "old_v1.0.0" / "metadata.json"
    data = json.loads(path.read_text())
    for key in ("methods", "method_ndim", "methods_checked_on_rows", "methods_not_in_graph"):
        del data["format_info"][key]
    path.write_text(json.dumps(data))
    loaded = store.load("old")
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)


def test_a_graph_that_reproduces_nothing_is_not_saved(store):
    # skl2onnx converts from the fitted attributes; a model whose behaviour lives
    # elsewhere (here a predict replaced on the instance) converts to a graph that
    # answers differently, and that graph must not be published.
    from sklearn.linear_model import LinearRegression

    X, y = _blobs()
    model = LinearRegression().fit(X, y)
    model.predict = lambda data: np.full(len(data), 42.0)
    with pytest.raises(NBModelsError, match=r"reproduces its predict.*format='skops'"):
        store.save(model, "lr", format="onnx", X=X)
    assert store.names() == []
