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


def test_a_type_skops_cannot_store_is_our_error_with_the_fix(store, iris):
    from sklearn.cluster import Birch

    from nbmodels.errors import NBModelsError

    X, _ = iris
    with pytest.raises(NBModelsError, match=r"cannot store this Birch.*format='joblib'") as err:
        store.save(Birch().fit(X), "birch", format="skops")
    assert type(err.value.__cause__).__name__ == "UnsupportedTypeException"
    assert store.names() == []


def test_skops_016_does_not_trust_a_tree_by_default(store, iris):
    # What docs/formats.md says: the estimator classes are trusted, their internal
    # node storage is not. One reviewed step loads it: the list recorded at save time.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    X, y = iris
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    rec = store.save(forest, "forest", format="skops")
    assert rec["format_info"]["untrusted_types"] == ["sklearn.tree._tree.Tree"]
    with pytest.raises(UntrustedTypesError) as err:
        store.load("forest")
    message = str(err.value)
    assert "trusted=['sklearn.tree._tree.Tree']" in message
    assert "format_info.untrusted_types" in message
    assert "out-of-range" in message  # skops' own reason for not trusting it
    recorded = store.record("forest")["format_info"]["untrusted_types"]
    loaded = store.load("forest", trusted=recorded)
    assert np.array_equal(loaded.predict(X), forest.predict(X))

    knn = KNeighborsClassifier().fit(X, y)
    needed = store.save(knn, "knn", format="skops")["format_info"]["untrusted_types"]
    assert "sklearn.neighbors._kd_tree.KDTree" in needed


def test_refusal_names_the_whole_list_not_the_remainder(store, iris):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = iris
    rec = store.save(KNeighborsClassifier().fit(X, y), "knn", format="skops")
    needed = rec["format_info"]["untrusted_types"]
    assert len(needed) == 2
    with pytest.raises(UntrustedTypesError) as err:
        store.load("knn", trusted=needed[:1])
    assert err.value.types == needed[1:]  # what is still missing
    assert f"trusted={needed!r}" in str(err.value)  # what to pass: all of it
    assert store.load("knn", trusted=needed).predict(X[:2]).shape == (2,)


def test_a_damaged_skops_file_is_our_error(store, small_model):
    import json

    from nbmodels.errors import IntegrityError, NBModelsError

    model, _, _ = small_model
    store.save(model, "iris", format="skops")
    artifact = store.root / "trained" / "iris_v1.0.0" / "model.skops"
    artifact.write_bytes(b"not a zip file")
    with pytest.raises(IntegrityError):  # the hash catches it first
        store.load("iris")
    # With a record that matches the damaged bytes, skops itself is what fails.
    import hashlib

    path = store.root / "metadata" / "iris_v1.0.0" / "metadata.json"
    data = json.loads(path.read_text())
    data["files"] = [{**f, "size": 14, "sha256": hashlib.sha256(b"not a zip file").hexdigest()}
                     for f in data["files"]]
    path.write_text(json.dumps(data))
    with pytest.raises(NBModelsError, match="could not be read by skops") as err:
        store.load("iris")
    assert err.value.__cause__ is not None
