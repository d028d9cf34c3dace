"""Every scikit-learn estimator, through every format that stores scikit-learn models.

Each estimator of ``sklearn.utils.all_estimators()`` is built with its defaults (or the
fewest required parameters), fitted on small built-in data suited to its kind, saved
into a real store with ``format=`` joblib, skops and onnx, loaded back through
``ModelStore.load`` and compared with the original: every public prediction method the
original has (``predict``, ``predict_proba``, ``decision_function``, ``transform``...)
gives the same output, exactly for joblib and skops and within float32 tolerance for
ONNX, and the loaded object has exactly the original's prediction methods (an ONNX
graph may lack some of them; the record says which it has, and the wrapper offers no
other).

What does not work is in ``EXPECTED_FAILURES``: (estimator, format) -> the upstream
reason and a pattern of the error it raises. An entry whose case fails with another
error, or starts to pass, fails the test, so the table stays true. The counts per
format are printed at the end of the module's run.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from nbmodels import ModelStore

pytestmark = pytest.mark.filterwarnings("ignore")

FORMATS = ("joblib", "skops", "onnx")
PREDICTION_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
                      "transform", "score_samples")

# Outputs that depend on the memory alignment of the learned arrays (BLAS picks another
# kernel, the last bits of exp(-d) differ): a copy of the original, made in this process,
# differs from it as much as the loaded model does. Compared with rtol=1e-9 instead.
NOT_BIT_REPRODUCIBLE = {"LabelPropagation", "LabelSpreading"}

# Upstream limits, one entry per (estimator, format): (reason, pattern of the error raised).
EXPECTED_FAILURES: dict[tuple[str, str], tuple[str, str]] = {}


def _expect(fmt: str, reason: str, pattern: str, *names: str) -> None:
    for name in names:
        EXPECTED_FAILURES[(name, fmt)] = (reason.format(name=name),
                                          pattern.format(name=re.escape(name)))


def _has_locale(name: str) -> bool:
    import locale

    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, name)
        return True
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


_expect("skops", "skops 0.16 cannot persist Birch (UnsupportedTypeException for Birch)",
        r"NBModelsError: skops .* cannot store this Birch.*UnsupportedTypeException",
        "Birch")
_expect("onnx", "skl2onnx 1.20 has no converter for {name}",
        r"MissingShapeCalculator: Unable to find a shape calculator for type .*\.{name}'",
        "AdditiveChi2Sampler", "AffinityPropagation", "AgglomerativeClustering",
        "BernoulliRBM", "Birch", "BisectingKMeans", "CCA", "ClassicalMDS", "ClassifierChain",
        "DBSCAN", "DictionaryLearning", "DummyClassifier", "DummyRegressor",
        "EllipticEnvelope", "EmpiricalCovariance", "FactorAnalysis", "FastICA",
        "FeatureAgglomeration", "FixedThresholdClassifier", "FrozenEstimator",
        "GraphicalLasso", "GraphicalLassoCV", "HDBSCAN", "HashingVectorizer", "Isomap",
        "IsotonicRegression", "KernelDensity", "KernelRidge", "LabelPropagation",
        "LabelSpreading", "LatentDirichletAllocation", "LedoitWolf", "LocallyLinearEmbedding",
        "MDS", "MeanShift", "MinCovDet", "MiniBatchDictionaryLearning", "MiniBatchNMF",
        "MiniBatchSparsePCA", "MissingIndicator", "NMF", "NearestCentroid", "Nystroem", "OAS",
        "OPTICS", "OutputCodeClassifier", "PLSCanonical", "PLSSVD", "PatchExtractor",
        "PolynomialCountSketch", "RBFSampler", "RadiusNeighborsTransformer",
        "RandomizedSearchCV", "RegressorChain", "SelfTrainingClassifier",
        "SequentialFeatureSelector", "ShrunkCovariance", "SkewedChi2Sampler", "SparseCoder",
        "SparsePCA", "SparseRandomProjection", "SpectralBiclustering", "SpectralClustering",
        "SpectralCoclustering", "SpectralEmbedding", "SplineTransformer", "TSNE",
        "TransformedTargetRegressor")
_expect("onnx", "ONNX inputs are tensors; {name} takes a list of dicts (skl2onnx's "
        "DictVectorizer converter wants a map of one value type, its FeatureHasher converter "
        "strings only)", r"NBModelsError: format 'onnx' converts numeric or text input.*dict",
        "DictVectorizer", "FeatureHasher")
_expect("onnx", "ONNX tensors are rectangular; MultiLabelBinarizer takes label sets of varying "
        "length (and skl2onnx has no converter for it)", r"rows of varying length",
        "MultiLabelBinarizer")
_expect("onnx", "skl2onnx 1.20 converts GaussianProcessClassifier for binary targets only",
        r"Only binary classification", "GaussianProcessClassifier")
_expect("onnx", "skl2onnx 1.20's tree converter hands numpy booleans to onnx 1.23's "
        "make_attribute, which refuses them", r"Unable to create node 'TreeEnsemble",
        "HistGradientBoostingClassifier", "HistGradientBoostingRegressor")
_expect("onnx", "skl2onnx 1.20 cannot output sparse matrices ({name}'s default output)",
        r"onehot encoding not supported|cannot convert the model with sparse outputs",
        "KBinsDiscretizer", "RandomTreesEmbedding")
_expect("onnx", "skl2onnx 1.20 converts LocalOutlierFactor only with novelty=True",
        r"novelty is True", "LocalOutlierFactor")
_expect("onnx", "skl2onnx 1.20 cannot convert NearestNeighbors with both radius and "
        "n_neighbors set (its defaults)", r"defines radius and n_neighbors",
        "NearestNeighbors")
_expect("onnx", "skl2onnx 1.20's OneHotEncoder converter takes int64 and string categories "
        "only; these are floats", r"is not an int64", "OneHotEncoder")
_expect("onnx", "the graph skl2onnx 1.20 makes for RadiusNeighborsClassifier fails in "
        "onnxruntime (ArrayFeatureExtractor index out of range)",
        r"onnxruntime cannot run the graph.*ArrayFeatureExtractor", "RadiusNeighborsClassifier")
_expect("onnx", "skl2onnx 1.20 converts TargetEncoder for binary or continuous targets only",
        r"only support TargetEncoder for binary classification", "TargetEncoder")
_expect("onnx", "skl2onnx 1.20 does not implement VotingClassifier's flatten_transform=True",
        r"flatten_transform==True is not implemented", "VotingClassifier")
if not _has_locale("en_US.UTF-8"):
    _expect("onnx", "onnxruntime's StringNormalizer (in skl2onnx's text converters) needs the "
            "en_US.UTF-8 locale, which this machine lacks",
            r"onnxruntime cannot run the graph.*(locale|StringNormalizer)",
            "CountVectorizer", "TfidfVectorizer")


# --------------------------------------------------------------------------------------
# Building and fitting every estimator on data suited to it
# --------------------------------------------------------------------------------------

@dataclass
class Case:
    """A fitted estimator and the data its prediction methods are called with."""

    estimator: Any
    X: Any                      # what prediction methods are called with
    X_sample: Any = None        # what format="onnx" gets as X= (the input types)
    expected: dict[str, Any] = field(default_factory=dict)


def _data() -> dict[str, Any]:
    from sklearn.datasets import load_diabetes, load_iris

    Xi, yi = load_iris(return_X_y=True)
    # Iris is measured to 0.1 cm, so many distances tie exactly and neighbours, quantiles
    # and ranks are then broken differently in float32 (ONNX) than in float64; a small
    # jitter breaks the ties without changing the data's shape or sign.
    Xi = Xi + np.random.default_rng(0).uniform(0, 1e-3, size=Xi.shape)
    # Contiguous copies: a strided view kept by an estimator (LabelPropagation's X_)
    # comes back contiguous and BLAS then rounds the last bit differently.
    Xc, yc = Xi[::2].copy(), yi[::2].copy()         # 75 rows, 25 of each class
    Xd, yd = load_diabetes(return_X_y=True)
    Xr, yr = Xd[:60, :5].copy(), yd[:60].copy()
    binary = yi != 0
    return {"Xc": Xc, "yc": yc, "Xr": Xr, "yr": yr,
            "Xb": Xi[binary][::2].copy(), "yb": yi[binary][::2].copy(),
            "yr2": np.column_stack([yr, yr / 2 + Xr[:, 0]]),
            "ymultilabel": np.column_stack([yc == 0, yc == 1]).astype(int)}


_DATA: dict[str, Any] = {}
_CASES: dict[str, Case | BaseException] = {}


def _meta(name: str, cls: type) -> Any:
    """Estimators whose constructor needs another estimator (or a list, or a dictionary)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.naive_bayes import GaussianNB
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    lr = LogisticRegression(max_iter=1000)
    needs = {
        "ClassifierChain": lambda: cls(lr),
        "ColumnTransformer": lambda: cls([("scale", StandardScaler(), [0, 1]),
                                          ("keep", "passthrough", [2, 3])]),
        "FeatureUnion": lambda: cls([("scale", StandardScaler()),
                                     ("half", StandardScaler(with_std=False))]),
        "FixedThresholdClassifier": lambda: cls(lr),
        "FrozenEstimator": lambda: cls(lr.fit(_DATA["Xc"], _DATA["yc"])),
        "GridSearchCV": lambda: cls(lr, {"C": [0.1, 1.0]}, cv=3),
        "MultiOutputClassifier": lambda: cls(lr),
        "MultiOutputRegressor": lambda: cls(Ridge()),
        "OneVsOneClassifier": lambda: cls(lr),
        "OneVsRestClassifier": lambda: cls(lr),
        "OutputCodeClassifier": lambda: cls(lr, random_state=0),
        "Pipeline": lambda: cls([("scale", StandardScaler()), ("clf", lr)]),
        "RFE": lambda: cls(lr),
        "RFECV": lambda: cls(lr, cv=3),
        "RandomizedSearchCV": lambda: cls(lr, {"C": [0.1, 1.0]}, n_iter=2, cv=3,
                                          random_state=0),
        "RegressorChain": lambda: cls(Ridge()),
        "SelectFromModel": lambda: cls(lr),
        "SelfTrainingClassifier": lambda: cls(lr),
        "SequentialFeatureSelector": lambda: cls(lr, n_features_to_select=2, cv=3),
        "SparseCoder": lambda: cls(dictionary=np.linalg.qr(
            np.random.default_rng(0).normal(size=(4, 4)))[0][:3]),
        "StackingClassifier": lambda: cls([("lr", lr), ("nb", GaussianNB())], cv=3),
        "StackingRegressor": lambda: cls([("ridge", Ridge()),
                                          ("tree", DecisionTreeRegressor(max_depth=3,
                                                                         random_state=0))],
                                         cv=3),
        "TunedThresholdClassifierCV": lambda: cls(lr, cv=3),
        "VotingClassifier": lambda: cls([("lr", lr), ("nb", GaussianNB())]),
        "VotingRegressor": lambda: cls([("ridge", Ridge()),
                                        ("tree", DecisionTreeRegressor(max_depth=3,
                                                                       random_state=0))]),
    }
    return needs[name]() if name in needs else cls()


def _fit(name: str, est: Any) -> Case:
    """Fit ``est`` on data that suits it; return what its methods are called with."""
    from sklearn.utils import get_tags

    d = _DATA
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=0)
    texts = ["the cat sat", "a dog ran far", "the dog sat on the cat", "cats and dogs",
             "far from the mat", "a cat ran"]
    records = [{"colour": c, "size": float(i)} for i, c in
               enumerate(["red", "green", "blue", "red", "blue", "green"])]
    special = {
        "CountVectorizer": texts, "TfidfVectorizer": texts, "HashingVectorizer": texts,
        "DictVectorizer": records, "FeatureHasher": records,
    }
    if name in ("GaussianRandomProjection", "SparseRandomProjection"):
        est.set_params(n_components=2)  # the default (from eps) needs thousands of features
    if name in special:
        est.fit(special[name])
        return Case(est, special[name], special[name])
    if name in ("LabelEncoder", "LabelBinarizer"):
        est.fit(d["yc"])
        return Case(est, d["yc"], d["yc"])
    if name == "MultiLabelBinarizer":
        labels = [[1, 2], [3], [2, 3], [1]]
        est.fit(labels)
        return Case(est, labels, labels)
    if name == "PatchExtractor":
        images = np.random.default_rng(0).random((3, 8, 8))
        est.set_params(patch_size=(3, 3), max_patches=5)
        est.fit(images)
        return Case(est, images, images)
    if name == "KernelCenterer":
        K = d["Xc"] @ d["Xc"].T
        est.fit(K)
        return Case(est, K, K)
    if name == "IsotonicRegression":
        X1 = d["Xr"][:, 2]
        est.fit(X1, d["yr"])
        return Case(est, X1, X1)
    if name == "CategoricalNB":
        Xint = d["Xc"].astype(np.int64)
        est.fit(Xint, d["yc"])
        return Case(est, Xint, Xint)
    if name == "MissingIndicator":
        Xn = d["Xc"].copy()
        Xn[::4, 1] = np.nan
        est.fit(Xn)
        return Case(est, Xn, Xn)
    tags = get_tags(est)
    kind = tags.estimator_type
    binary_only = tags.classifier_tags is not None and not tags.classifier_tags.multi_class
    if name in ("ClassifierChain", "MultiOutputClassifier"):
        est.fit(d["Xc"], d["ymultilabel"])
        return Case(est, d["Xc"], d["Xc"])
    if (kind == "classifier" and binary_only) or name in ("FixedThresholdClassifier",
                                                        "TunedThresholdClassifierCV"):
        est.fit(d["Xb"], d["yb"])
        return Case(est, d["Xb"], d["Xb"])
    if kind == "classifier" or name == "FrozenEstimator":
        if name == "SelfTrainingClassifier":
            y = d["yc"].copy()
            y[::3] = -1  # unlabelled rows
            est.fit(d["Xc"], y)
        elif name != "FrozenEstimator":
            est.fit(d["Xc"], d["yc"])
        return Case(est, d["Xc"], d["Xc"])
    if kind == "regressor" or name in ("CCA", "PLSCanonical", "PLSSVD"):
        multi = (tags.target_tags.multi_output and not tags.target_tags.single_output) \
            or name in ("MultiOutputRegressor", "RegressorChain", "CCA", "PLSCanonical",
                        "PLSSVD")
        est.fit(d["Xr"], d["yr2"] if multi else d["yr"])
        return Case(est, d["Xr"], d["Xr"])
    # Transformers, clusterers, outlier detectors, density and covariance estimators:
    # iris (positive values, which NMF, chi2 and friends need), with its labels for the
    # supervised transformers (SelectKBest, NeighborhoodComponentsAnalysis...).
    est.fit(d["Xc"], d["yc"])
    return Case(est, d["Xc"], d["Xc"])


def _methods(obj: Any) -> list[str]:
    return [m for m in PREDICTION_METHODS if hasattr(obj, m)]


def _case(name: str, cls: type) -> Case:
    """The fitted case for ``name``, built once for all formats."""
    if not _DATA:
        _DATA.update(_data())
    if name not in _CASES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                case = _fit(name, _meta(name, cls))
                for method in _methods(case.estimator):
                    case.expected[method] = getattr(case.estimator, method)(case.X)
            _CASES[name] = case
        except Exception as exc:
            _CASES[name] = exc
    case = _CASES[name]
    if isinstance(case, BaseException):
        raise AssertionError(f"{name} could not be fitted on the conformance data: "
                             f"{type(case).__name__}: {case}") from case
    return case


# --------------------------------------------------------------------------------------
# Comparing outputs
# --------------------------------------------------------------------------------------

def _dense(value: Any) -> Any:
    if hasattr(value, "toarray"):
        return value.toarray()
    if isinstance(value, list) and value and hasattr(value[0], "shape"):
        return [_dense(v) for v in value]  # MultiOutputClassifier.predict_proba
    return np.asarray(value)


def _same_exactly(got: Any, want: Any, what: str, *, rtol: float = 0.0) -> None:
    got, want = _dense(got), _dense(want)
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), what
        for g, w in zip(got, want, strict=True):
            _same_exactly(g, w, what, rtol=rtol)
        return
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if rtol:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _same_closely(got: Any, want: Any, what: str) -> None:
    got, want = _dense(got), _dense(want)
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), what
        for g, w in zip(got, want, strict=True):
            _same_closely(g, w, what)
        return
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if want.dtype.kind in "fc":
        scale = max(1.0, float(np.nanmax(np.abs(want))) if want.size else 1.0)
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=1e-3,
                                   atol=1e-4 * scale, err_msg=what)
    else:
        # Labels: float32 arithmetic may move a row that sits on a decision boundary.
        differ = np.asarray(got != want).reshape(len(want), -1).any(axis=1).sum()
        assert differ <= max(1, len(want) // 50), \
            f"{what}: {differ} of {len(want)} rows differ ({got[:5]!r} vs {want[:5]!r})"


def _learned_state(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_")}


def _same_state(got: Any, want: Any, what: str) -> None:
    """For estimators without prediction methods: the learned attributes are equal."""
    g, w = _learned_state(got), _learned_state(want)
    assert sorted(g) == sorted(w), what
    for key, value in w.items():
        if isinstance(value, np.ndarray) or np.isscalar(value):
            np.testing.assert_array_equal(g[key], value, err_msg=f"{what}.{key}")


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------

_COUNTS: dict[str, Counter] = {fmt: Counter() for fmt in FORMATS}
_PARTIAL: list[str] = []  # ONNX wrappers that lack a method the original has


@pytest.fixture(scope="module")
def stores(tmp_path_factory, request) -> dict[str, ModelStore]:
    root = tmp_path_factory.mktemp("conformance")
    yield {fmt: ModelStore(root / fmt) for fmt in FORMATS}
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"conformance {fmt}: {c['passed']} passed, {c['expected']} expected failures"
             for fmt, c in _COUNTS.items() if c]
    if _PARTIAL:
        lines.append(f"conformance onnx: {len(_PARTIAL)} pass with fewer methods than the "
                     f"original (the graph has no output for them): {', '.join(_PARTIAL)}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and lines:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


def _all_estimators() -> list[tuple[str, type]]:
    from sklearn.utils import all_estimators

    return all_estimators()


def _round_trip(store: ModelStore, name: str, fmt: str, case: Case) -> None:
    est = case.estimator
    options: dict[str, Any] = {"X": case.X_sample} if fmt == "onnx" else {}
    rec = store.save(est, name.lower(), format=fmt, **options)
    info = rec["format_info"]
    load_options: dict[str, Any] = {}
    if fmt == "skops":
        # The audited list recorded at save time is what the reader reviews and trusts.
        load_options["trusted"] = info["untrusted_types"]
    loaded = store.load(name.lower(), **load_options)
    wanted = _methods(est)
    if fmt == "onnx":
        offered = _methods(loaded)
        assert offered == [m for m in wanted if m in info["methods"]], \
            f"{name}: the ONNX wrapper offers {offered}; the original has {wanted}, the " \
            f"graph provides {sorted(info['methods'])}"
        assert offered, f"{name}: the ONNX graph provides none of {wanted}"
        missing = [m for m in wanted if m not in offered]
        if missing:
            _PARTIAL.append(f"{name} (no {', '.join(missing)})")
        for method in offered:
            _same_closely(getattr(loaded, method)(case.X), case.expected[method],
                          f"{name}.{method} via onnx")
        return
    assert type(loaded) is type(est)
    assert _methods(loaded) == wanted
    for method in wanted:
        _same_exactly(getattr(loaded, method)(case.X), case.expected[method],
                      f"{name}.{method} via {fmt}",
                      rtol=1e-9 if name in NOT_BIT_REPRODUCIBLE else 0.0)
    if not wanted:
        _same_state(loaded, est, f"{name} via {fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name, cls", _all_estimators(), ids=[n for n, _ in _all_estimators()])
def test_estimator_round_trips(stores, name, cls, fmt):
    if fmt != "joblib":
        pytest.importorskip({"skops": "skops", "onnx": "skl2onnx"}[fmt])
        if fmt == "onnx":
            pytest.importorskip("onnxruntime")
    expected = EXPECTED_FAILURES.get((name, fmt))
    case = _case(name, cls)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _round_trip(stores[fmt], name, fmt, case)
    except Exception as exc:
        if expected is None:
            raise
        reason, pattern = expected
        message = f"{type(exc).__name__}: {exc}"
        if not re.search(pattern, message, re.S):
            raise AssertionError(f"{name} via {fmt} is expected to fail because {reason} "
                                 f"(an error matching {pattern!r}), but failed with "
                                 f"{message[:500]}") from exc
        _COUNTS[fmt]["expected"] += 1
        pytest.xfail(reason)
    if expected is not None:
        pytest.fail(f"{name} via {fmt} now works: remove it from EXPECTED_FAILURES "
                    f"({expected[0]})")
    _COUNTS[fmt]["passed"] += 1


def test_an_expected_failure_that_starts_passing_fails(tmp_path, monkeypatch):
    from sklearn.linear_model import Ridge

    monkeypatch.setitem(EXPECTED_FAILURES, ("Ridge", "joblib"), ("a pretend limit", "x"))
    with pytest.raises(pytest.fail.Exception, match="Ridge via joblib now works"):
        test_estimator_round_trips({"joblib": ModelStore(tmp_path)}, "Ridge", Ridge, "joblib")


def test_an_expected_failure_with_another_error_fails(tmp_path, monkeypatch):
    pytest.importorskip("skops")
    from sklearn.cluster import Birch

    monkeypatch.setitem(EXPECTED_FAILURES, ("Birch", "skops"),
                        ("a pretend limit", "an error nobody raises"))
    with pytest.raises(AssertionError, match="expected to fail because a pretend limit"):
        test_estimator_round_trips({"skops": ModelStore(tmp_path)}, "Birch", Birch, "skops")
