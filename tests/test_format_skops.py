"""skops: scikit-learn without pickle, and the refusal of types nobody trusted."""

from __future__ import annotations

import numpy as np
import pytest

from nbmodels.errors import UntrustedTypesError

pytest.importorskip("skops")


class HalfScaler:
    """A custom transformer: a type skops does not trust by default."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) / 2

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self


def test_round_trip(store, small_model):
    from format_checks import check_evaluate_matches

    model, X, y = small_model
    store.save(model, "iris", X=X, y=y, format="skops")
    assert [m["name"] for m in store.list()] == ["iris"]
    loaded = store.load("iris")
    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert np.allclose(loaded.predict_proba(X), model.predict_proba(X))
    check_evaluate_matches(model, loaded, X, y, "accuracy")


def test_untrusted_type_is_refused_with_the_types_and_the_fix(store, iris):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = iris
    model = make_pipeline(HalfScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    rec = store.save(model, "custom", format="skops")
    wanted = f"{__name__}.HalfScaler"
    assert rec["format_info"]["untrusted_types"] == [wanted]
    with pytest.raises(UntrustedTypesError) as err:
        store.load("custom")
    assert err.value.types == [wanted]
    assert wanted in str(err.value) and f"trusted=['{wanted}']" in str(err.value)
    with pytest.raises(UntrustedTypesError):
        store.load("custom", trusted=["some.OtherType"])
    loaded = store.load("custom", trusted=[wanted])
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_a_class_defined_inside_a_function_is_refused_at_save_time(store):
    # skops stores the class by name; another process could never import it.
    from nbmodels.errors import NotebookObjectsError

    class LocalScaler(HalfScaler):
        pass

    with pytest.raises(NotebookObjectsError, match="LocalScaler") as err:
        store.save(LocalScaler(), "local", format="skops")
    assert "format='joblib'" in str(err.value) and err.value.objects
    assert store.names() == [] and store.verify().ok
    assert not [p for p in (store.root / "trained").iterdir()]


def test_trusted_must_be_type_names(store, small_model):
    store.save(small_model[0], "iris", format="skops")
    with pytest.raises(TypeError, match="list of type names"):
        store.load("iris", trusted=True)
