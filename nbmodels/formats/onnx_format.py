"""ONNX: a portable graph, converted from scikit-learn or stored as given.

A scikit-learn model is converted with skl2onnx; its input types come from a sample of
the training data (``X=``) and are kept in the record. An ``onnx.ModelProto`` is stored
as is. Loading builds an onnxruntime session, wrapped in :class:`OnnxModel` so that
``predict`` / ``predict_proba`` behave like the original estimator. Nothing in an ONNX
file is executable Python, so it can be loaded from anyone.
"""

from __future__ import annotations

from typing import Any

from ..errors import NBModelsError
from .base import ArtifactSink, ArtifactSource, ModelFormat, import_optional

__all__ = ["OnnxFormat", "OnnxModel"]

# onnxruntime's element type names -> numpy dtype names.
_ORT_TO_NUMPY = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(string)": "object",
}


def _is_onnx_proto(model: Any) -> bool:
    cls = type(model)
    return cls.__name__ == "ModelProto" and cls.__module__.split(".")[0] == "onnx"


def _is_sklearn(model: Any) -> bool:
    return any(c.__module__.split(".")[0] == "sklearn" for c in type(model).__mro__[:-1])


_PREDICTION_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
                       "transform", "score_samples")
# What a graph output can stand for. Not predict_log_proba: the log of float32
# probabilities is -inf wherever scikit-learn's float64 gives -90.
_GRAPH_METHODS = ("predict", "predict_proba", "decision_function", "transform",
                  "score_samples")


def _prediction_methods(model: Any) -> list[str]:
    """The public prediction methods ``model`` has (``hasattr``, so ``available_if`` counts)."""
    return [m for m in _PREDICTION_METHODS if hasattr(model, m)]


def _is_numeric_table(X: Any) -> bool:
    import numpy as np

    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "columns"):  # a DataFrame, extension dtypes too
        return all(getattr(d, "kind", "O") in "biuf" for d in list(dtypes))
    return np.asarray(X).dtype.kind in "biuf"


def _selects_columns_by_name(model: Any) -> bool:
    """Whether ``model`` (or a step inside it) picks DataFrame columns by name: a
    ColumnTransformer given column names or a selector. Its ONNX graph then needs one
    input per column, named like the columns."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not hasattr(obj, "get_params"):
            continue
        seen.add(id(obj))
        for spec in getattr(obj, "transformers_", None) or getattr(obj, "transformers", None) \
                or []:
            if isinstance(spec, tuple) and len(spec) >= 3:
                columns = spec[2]
                if callable(columns) or isinstance(columns, str) or (
                        isinstance(columns, (list, tuple)) and columns
                        and isinstance(columns[0], str)):
                    return True
        try:
            params = obj.get_params(deep=False)
        except Exception:
            continue
        for value in params.values():
            if isinstance(value, (list, tuple)):
                stack += [v[1] if isinstance(v, tuple) and len(v) >= 2 else v for v in value]
            else:
                stack.append(value)
        for attr in ("estimator_", "estimators_", "steps", "transformers_"):
            value = getattr(obj, attr, None)
            if isinstance(value, (list, tuple)):
                stack += [v[1] if isinstance(v, tuple) and len(v) >= 2 else v for v in value]
            elif value is not None:
                stack.append(value)
    return False


class OnnxModel:
    """An onnxruntime session that predicts like the estimator it was converted from.

    It has exactly the prediction methods (``predict``, ``predict_proba``,
    ``decision_function``, ``transform``, ``score_samples``) that the original estimator
    had and the graph provides: at save time each method of the original was matched
    with the graph output that gives the same values on the sample ``X``, and the
    record's ``format_info.methods`` keeps which output each one reads.
    ``hasattr(model, "predict_proba")`` is false for a model that had no probabilities
    (KMeans, LinearSVC).

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        The session itself, for anything beyond the prediction methods.
    classes_ : numpy.ndarray
        The class labels, when the model is a classifier and they were recorded.
    inputs, outputs : list of dict
        Name, type and shape of each graph input and output.
    """

    def __init__(self, session: Any, info: dict[str, Any]) -> None:
        import numpy as np

        self.session = session
        self.inputs = [{"name": i.name, "type": i.type, "shape": _shape(i.shape)}
                       for i in session.get_inputs()]
        self.outputs = [{"name": o.name, "type": o.type, "shape": _shape(o.shape)}
                        for o in session.get_outputs()]
        self._info = info
        if info.get("classes") is not None:
            self.classes_ = np.asarray(info["classes"])
        kind = info.get("estimator_type")
        if kind in ("classifier", "regressor"):
            self._estimator_type = kind
        names = [o["name"] for o in self.outputs]
        methods = info.get("methods")
        if not isinstance(methods, dict):
            methods = _graph_methods(names, [o["type"] for o in self.outputs], info)
        self._methods = {m: o for m, o in methods.items() if m in _GRAPH_METHODS and o in names}
        self._ndim = dict(info.get("method_ndim") or {})
        features = info.get("features")
        if features:
            self.feature_names_in_ = np.asarray(features, dtype=object)
            self.n_features_in_ = len(features)

    def __repr__(self) -> str:
        ins = ", ".join(f"{i['name']}: {i['type']}" for i in self.inputs)
        outs = ", ".join(o["name"] for o in self.outputs)
        source = self._info.get("source_class") or "onnx graph"
        return f"OnnxModel({source}; inputs {ins}; outputs {outs})"

    def __dir__(self) -> list[str]:
        hidden = set(_PREDICTION_METHODS) - set(self._methods)
        return [n for n in super().__dir__() if n not in hidden]

    def _feeds(self, X: Any) -> dict[str, Any]:
        import numpy as np

        if len(self.inputs) == 1:
            spec = self.inputs[0]
            dtype = _ORT_TO_NUMPY.get(spec["type"], "float32")
            arr = np.asarray(X, dtype=str if dtype == "object" else dtype)
            if arr.ndim == 1 and len(spec["shape"]) == 2:
                arr = arr.reshape(-1, 1) if spec["shape"][1] in (1, None) else arr.reshape(1, -1)
            return {spec["name"]: arr}
        # One input per column: skl2onnx's layout for DataFrames.
        if not hasattr(X, "columns"):
            arr = np.asarray(X)
            if arr.ndim == 2 and arr.shape[1] == len(self.inputs):
                # Columns by position, in the order of the inputs (the training columns).
                return {spec["name"]: _column(arr[:, j], spec)
                        for j, spec in enumerate(self.inputs)}
            names = ", ".join(i["name"] for i in self.inputs)
            raise NBModelsError(f"this ONNX model takes one input per column ({names}); "
                                f"pass a DataFrame with those columns")
        by_key = {_onnx_name(c): c for c in X.columns}
        feeds = {}
        for spec in self.inputs:
            column = spec["name"] if spec["name"] in X.columns else by_key.get(spec["name"])
            if column is None:
                raise NBModelsError(f"the data has no column for ONNX input {spec['name']!r}")
            feeds[spec["name"]] = _column(X[column].to_numpy(), spec)
        return feeds

    def run(self, X: Any) -> dict[str, Any]:
        """Every output of the graph for ``X``, by name."""
        names = [o["name"] for o in self.outputs]
        return dict(zip(names, self.session.run(names, self._feeds(X)), strict=True))

    def _output(self, method: str, X: Any) -> Any:
        out = self.session.run([self._methods[method]], self._feeds(X))[0]
        return _as_method_output(out, method, self._ndim.get(method),
                                 getattr(self, "classes_", None))

    @property
    def predict(self) -> Any:
        """The label output (classifiers), the prediction (regressors) or the cluster."""
        return self._method("predict")

    @property
    def predict_proba(self) -> Any:
        """Class probabilities for ``X``, columns in the order of :attr:`classes_`.

        Absent (``hasattr`` is false) when the original had no ``predict_proba`` or the
        graph has no probability output.
        """
        return self._method("predict_proba")

    @property
    def decision_function(self) -> Any:
        """The decision scores, where the original had them and the graph outputs them."""
        return self._method("decision_function")

    @property
    def transform(self) -> Any:
        """The transformed data (or KMeans' distances), where the graph outputs them."""
        return self._method("transform")

    @property
    def score_samples(self) -> Any:
        """Per-sample scores, where the original had them and the graph outputs them."""
        return self._method("score_samples")

    def _method(self, method: str) -> Any:
        if method not in self._methods:
            raise AttributeError(f"this ONNX model has no {method}: the original estimator "
                                 f"had none or the graph does not output it (it has: "
                                 f"{', '.join(self._methods) or 'nothing'})")
        def call(X: Any) -> Any:
            return self._output(method, X)

        call.__name__ = method
        call.__doc__ = getattr(type(self), method).__doc__
        return call


def _column(values: Any, spec: dict[str, Any]) -> Any:
    dtype = _ORT_TO_NUMPY.get(spec["type"], "float32")
    if dtype == "object":
        return values.astype(str).reshape(-1, 1)
    return values.astype(dtype).reshape(-1, 1)


def _graph_methods(names: list[str], types: list[str], info: dict[str, Any]) -> dict[str, str]:
    """Methods of a graph whose record says nothing of them (a ModelProto stored as is,
    or a version saved before the record kept them): the first output predicts, a second
    float output gives probabilities."""
    if not names:
        return {}
    methods = {"predict": info.get("label_output") or names[0]}
    proba = info.get("probability_output")
    if proba is None and len(names) > 1 and types[1] in ("tensor(float)", "float"):
        proba = names[1]
    if proba:
        methods["predict_proba"] = proba
    return methods


def _shape(shape: Any) -> list[Any]:
    return [d if isinstance(d, int) else None for d in (shape or [])]


def _onnx_name(column: Any) -> str:
    # skl2onnx turns DataFrame column names into identifiers this way.
    import re

    return re.sub(r"[^a-zA-Z0-9_]", "_", str(column))


class OnnxFormat(ModelFormat):
    """ONNX graphs in ``model.onnx``; scikit-learn models are converted with skl2onnx."""

    name = "onnx"
    artifacts = ("model.onnx",)
    extra = "onnx"
    requires = ("onnx", "onnxruntime")
    executes_code_on_load = False
    description = "ONNX graph run by onnxruntime; portable, no code runs on load"
    save_options = frozenset({"initial_types", "target_opset", "conversion_options"})
    load_options = frozenset({"providers"})

    def claims(self, model: Any) -> int:
        return 10 if _is_onnx_proto(model) else 0

    def save(self, model: Any, sink: ArtifactSink, *, X: Any = None,
             initial_types: Any = None, target_opset: int | dict[str, int] | None = None,
             conversion_options: dict[Any, Any] | None = None,
             **options: Any) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if _is_onnx_proto(model):
            proto = model
            info["converted_by"] = None
        elif _is_sklearn(model):
            proto = self._convert_sklearn(model, X, initial_types, target_opset,
                                          conversion_options, info)
        else:
            raise NBModelsError(f"format 'onnx' stores onnx.ModelProto objects and converts "
                                f"scikit-learn models; a {type(model).__name__} must be "
                                f"exported to ONNX first (e.g. torch.onnx.export) and saved "
                                f"as the resulting ModelProto")
        import onnx

        with sink.open(self.artifacts[0]) as f:
            f.write(proto.SerializeToString())
        info["inputs"] = [_value_info(v) for v in proto.graph.input]
        info["outputs"] = [_value_info(v) for v in proto.graph.output]
        info["opset"] = {(o.domain or "ai.onnx"): o.version for o in proto.opset_import}
        info["ir_version"] = proto.ir_version
        info["onnx_version"] = onnx.__version__
        names = [o["name"] for o in info["outputs"]]
        if "methods" not in info:
            info["methods"] = _graph_methods(names, [o["type"] for o in info["outputs"]], {})
        if "label_output" not in info and "predict" in info["methods"]:
            info["label_output"] = info["methods"]["predict"]
        return info

    def _convert_sklearn(self, model: Any, X: Any, initial_types: Any, target_opset: Any,
                         conversion_options: Any, info: dict[str, Any]) -> Any:
        import numpy as np

        skl2onnx = import_optional("skl2onnx", "onnx", "converting a scikit-learn model to ONNX")
        from sklearn.base import is_classifier, is_regressor

        classifier = is_classifier(model)
        kwargs: dict[str, Any] = {"target_opset": target_opset}
        sample = None
        if initial_types is not None:
            kwargs["initial_types"] = initial_types
            info["input_from"] = "initial_types"
            onx = _to_onnx(skl2onnx, model, None, kwargs, conversion_options, classifier)
        elif X is None:
            raise NBModelsError("converting a scikit-learn model to ONNX needs a sample of "
                                "its input to know the input types: pass X=X_train (or "
                                "initial_types=...)", options=("training_data",))
        else:
            sample = X.iloc[:5] if hasattr(X, "iloc") else _head(X)
            onx = self._convert_sample(skl2onnx, model, sample, kwargs, conversion_options,
                                       classifier, info)
            columns = getattr(X, "columns", None)
            if columns is not None:
                info["features"] = [str(c) for c in columns]
        info["converted_by"] = f"skl2onnx {skl2onnx.__version__}"
        info["source_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        info["estimator_type"] = "classifier" if classifier else \
            "regressor" if is_regressor(model) else None
        classes = getattr(model, "classes_", None)
        if classifier and classes is not None and np.asarray(classes).ndim == 1:
            info["classes"] = np.asarray(classes).tolist()
        outputs = [o.name for o in onx.graph.output]
        if sample is None:
            info["methods"] = _methods_of(model, outputs)
        else:
            info["methods"], info["method_ndim"] = _match_methods(model, onx, sample, info)
            info["methods_checked_on_rows"] = _rows(sample)
        if "predict" in info["methods"]:
            info["label_output"] = info["methods"]["predict"]
        if "predict_proba" in info["methods"]:
            info["probability_output"] = info["methods"]["predict_proba"]
        return onx

    def _convert_sample(self, skl2onnx: Any, model: Any, sample: Any, kwargs: dict[str, Any],
                        conversion_options: Any, classifier: bool, info: dict[str, Any]) -> Any:
        """Convert with input types taken from ``sample``: one input per column for a
        DataFrame whose columns the model selects by name (or that mixes types), one
        tensor otherwise; integers stay int64 where the converters take them."""
        import numpy as np

        frame = hasattr(sample, "columns")
        if frame and (not _is_numeric_table(sample) or _selects_columns_by_name(model)):
            # float64 columns become float32 inputs: a graph with double inputs feeding
            # float-only operators (the classifiers' probability normalizer) converts,
            # but fails in onnxruntime.
            floats = [c for c in sample.columns if getattr(sample[c].dtype, "kind", "") == "f"]
            if floats:
                sample = sample.astype({c: np.float32 for c in floats})
            info["input_from"] = "X, one input per column"
            return _to_onnx(skl2onnx, model, sample, kwargs, conversion_options, classifier)
        arr = np.asarray(sample)
        if arr.dtype.kind in "OUS" and not frame:
            if arr.dtype.kind == "O" and not all(isinstance(v, str) for v in arr.ravel()):
                raise NBModelsError(f"format 'onnx' converts numeric or text input; this "
                                    f"{type(model).__name__} takes "
                                    f"{type(arr.ravel()[0]).__name__} values. Fix: save it "
                                    f"with format='joblib' or format='skops'")
            info["input_from"] = "X as strings"
            return _to_onnx(skl2onnx, model, arr.astype(str), kwargs, conversion_options,
                            classifier)
        if arr.dtype.kind in "iub":
            # Integer input stays integer (label encoders, count features); converters
            # that take only floats get float32, as a caller would expect.
            try:
                onx = _to_onnx(skl2onnx, model, arr.astype(np.int64), kwargs,
                               conversion_options, classifier)
                _check_runs(onx, arr.astype(np.int64))
                info["input_from"] = "X as int64"
                return onx
            except Exception:
                pass
        onx = _to_onnx(skl2onnx, model, arr.astype(np.float32), kwargs, conversion_options,
                       classifier)
        info["input_from"] = "X as float32"
        return onx

    def load(self, source: ArtifactSource, info: dict[str, Any], *,
             providers: list[str] | None = None, **options: Any) -> OnnxModel:
        import onnxruntime as ort

        data = source.read_bytes(self.artifacts[0])
        session = ort.InferenceSession(data, providers=providers or ["CPUExecutionProvider"])
        return OnnxModel(session, info)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"converted_by": None} if self.artifacts[0] in files else None


def _head(X: Any, n: int = 5) -> Any:
    import numpy as np

    if isinstance(X, (list, tuple)):
        rows = list(X[:n])
        if rows and all(isinstance(r, str) for r in rows):
            return np.asarray(rows, dtype=object)
        try:
            return np.asarray(rows)
        except ValueError:  # rows of varying length (MultiLabelBinarizer's label sets)
            raise NBModelsError("format 'onnx' converts rectangular numeric or text input; "
                                "this X has rows of varying length. Fix: save it with "
                                "format='joblib' or format='skops'") from None
    return np.asarray(X)[:n]


def _to_onnx(skl2onnx: Any, model: Any, sample: Any, kwargs: dict[str, Any],
             conversion_options: Any, classifier: bool) -> Any:
    """skl2onnx.to_onnx; a classifier's probabilities come as a plain array (no ZipMap)
    where its converter has that option, and as skl2onnx makes them otherwise."""
    import ast
    import re

    args = (model,) if sample is None else (model, sample)

    def convert(**extra: Any) -> Any:
        try:
            return skl2onnx.to_onnx(*args, **kwargs, **extra)
        except RuntimeError as exc:
            # "...not supported yet by this library. You need to specify
            # target_opset={'ai.onnx.ml': 3}": skl2onnx's own advice, taken when the
            # caller chose no opset (IsolationForest).
            hint = re.search(r"specify target_opset=(\{[^}]*\})", str(exc))
            if hint is None or kwargs.get("target_opset") is not None:
                raise
            opsets = {"": skl2onnx.get_latest_tested_opset_version(),
                      **ast.literal_eval(hint.group(1))}
            return skl2onnx.to_onnx(*args, **{**kwargs, "target_opset": opsets}, **extra)

    if conversion_options is not None or not classifier:
        return convert(options=conversion_options or None)
    try:
        return convert(options={"zipmap": False})
    except NameError as exc:  # "Option 'zipmap' not in [...] for class 'LinearSVC'"
        if "zipmap" not in str(exc):
            raise
    return convert()


def _check_runs(onx: Any, sample: Any) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    if sample.ndim == 1 and len(spec.shape or []) == 2:
        sample = sample.reshape(-1, 1)
    session.run(None, {spec.name: sample})


def _methods_of(model: Any, outputs: list[str]) -> dict[str, str]:
    """Which graph output each prediction method of ``model`` reads.

    skl2onnx names its outputs after what they hold; the first is the prediction (or the
    transformed data), a second is probabilities for a model that has them, else decision
    scores (LinearSVC, SVC, outlier detectors) or distances (KMeans' ``transform``)."""
    has = set(_prediction_methods(model))
    methods: dict[str, str] = {}
    if not outputs:
        return methods
    if "predict" in has:
        methods["predict"] = outputs[0]
        if len(outputs) > 1:
            second = outputs[1]
            if "predict_proba" in has:
                methods["predict_proba"] = second
            elif "decision_function" in has:
                methods["decision_function"] = second
            elif "transform" in has:
                methods["transform"] = second
            elif "score_samples" in has:
                methods["score_samples"] = second
    elif "transform" in has:
        methods["transform"] = outputs[0]
    return methods


def _rows(sample: Any) -> int:
    return len(sample)


def _as_method_output(out: Any, method: str, ndim: int | None, classes: Any) -> Any:
    """A graph output shaped as the original's method returns it: (n,) where the
    estimator gives (n,) (skl2onnx often gives (n, 1), (1, n), or both columns of a
    binary score), a ZipMap's dictionaries as an array in the order of ``classes``."""
    import numpy as np

    if isinstance(out, list):
        if out and isinstance(out[0], dict):  # ZipMap: one {class: probability} per row
            keys = list(classes) if classes is not None else list(out[0])
            return np.array([[row[k] for k in keys] for row in out], dtype=np.float32)
        return [np.asarray(o) for o in out]  # one array per output (MultiOutputClassifier)
    out = np.asarray(out)
    if ndim is None:
        ndim = 1 if method == "predict" and out.ndim == 2 and 1 in out.shape else out.ndim
    if ndim == 1 and out.ndim == 2:
        if 1 in out.shape:
            out = out.ravel()
        elif method == "decision_function" and out.shape[1] == 2:
            out = out[:, 1]  # binary scores: skl2onnx gives both columns
    return out


def _agrees(got: Any, want: Any) -> bool:
    """Whether a graph output gives the original's values (float32 tolerance)."""
    import numpy as np

    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _agrees(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, list):
        return False
    want = want.toarray() if hasattr(want, "toarray") else np.asarray(want)
    got = np.asarray(got)
    if got.shape != want.shape:
        return False
    if want.dtype.kind in "fc" and got.dtype.kind in "fciub":
        scale = max(1.0, float(np.nanmax(np.abs(want))) if want.size else 1.0)
        return bool(np.allclose(got.astype(np.float64), want, rtol=1e-3, atol=1e-4 * scale,
                                equal_nan=True))
    try:
        same = np.asarray(got == want.astype(got.dtype) if got.dtype.kind != "O" else
                          got == want)
    except (TypeError, ValueError):
        return False
    rows = same.reshape(len(same), -1).all(axis=1) if same.ndim else np.array([bool(same)])
    return int((~rows).sum()) <= len(rows) // 5  # a tie on a boundary may move one row


def _match_methods(model: Any, onx: Any, sample: Any,
                   info: dict[str, Any]) -> tuple[dict[str, str], dict[str, int]]:
    """Run the graph on ``sample`` and keep, for each prediction method of ``model``, the
    output that gives the same values; a method no output reproduces is not offered."""
    import numpy as np
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(onx.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        probe = OnnxModel(session, {**info, "methods": {}})
        names = [o["name"] for o in probe.outputs]
        results = dict(zip(names, session.run(names, probe._feeds(sample)), strict=True))
    except Exception as exc:
        raise NBModelsError(f"skl2onnx converted this {type(model).__name__}, but onnxruntime "
                            f"cannot run the graph: {type(exc).__name__}: "
                            f"{(str(exc).strip().splitlines() or [''])[0][:300]}. Fix: save it "
                            f"with format='skops' or format='joblib'") from exc
    preferred = _methods_of(model, names)
    classes = info.get("classes")
    methods: dict[str, str] = {}
    ndims: dict[str, int] = {}
    for method in _prediction_methods(model):
        if method not in _GRAPH_METHODS:
            continue
        try:
            want = getattr(model, method)(sample)
        except Exception:
            continue
        ndim = None if isinstance(want, list) else int(np.ndim(want))
        order = [preferred[method]] if method in preferred else []
        order += [n for n in names if n not in order]
        for name in order:
            if _agrees(_as_method_output(results[name], method, ndim, classes), want):
                methods[method] = name
                if ndim is not None:
                    ndims[method] = ndim
                break
    return methods, ndims


def _value_info(value: Any) -> dict[str, Any]:
    """Name, element type and shape of a graph input or output, as JSON data."""
    from onnx import TensorProto

    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim]
    try:
        elem = TensorProto.DataType.Name(tensor.elem_type).lower()
    except ValueError:
        elem = str(tensor.elem_type)
    kind = value.type.WhichOneof("value")
    return {"name": value.name, "type": elem if kind == "tensor_type" else kind, "shape": dims}

