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
