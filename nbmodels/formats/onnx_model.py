"""The object an ONNX version loads as: an onnxruntime session with the original's methods."""

from __future__ import annotations

from typing import Any

from ..errors import NBModelsError

__all__ = ["GRAPH_METHODS", "PREDICTION_METHODS", "OnnxModel", "as_method_output",
           "graph_methods"]

# onnxruntime's element type names -> numpy dtype names.
_ORT_TO_NUMPY = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(string)": "object",
}


# The public prediction methods of a scikit-learn estimator, in a fixed order.
PREDICTION_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
                      "transform", "score_samples")
# What a graph output can stand for. Not predict_log_proba: the log of float32
# probabilities is -inf wherever scikit-learn's float64 gives -90.
GRAPH_METHODS = ("predict", "predict_proba", "decision_function", "transform",
                 "score_samples")


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
            methods = graph_methods(names, [o["type"] for o in self.outputs], info)
        self._methods = {m: o for m, o in methods.items() if m in GRAPH_METHODS and o in names}
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
        hidden = set(PREDICTION_METHODS) - set(self._methods)
        return [n for n in super().__dir__() if n not in hidden]

    def feeds(self, X: Any) -> dict[str, Any]:
        """The graph's inputs for ``X``, by name, in the types the graph takes."""
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
        return dict(zip(names, self.session.run(names, self.feeds(X)), strict=True))

    def _output(self, method: str, X: Any) -> Any:
        out = self.session.run([self._methods[method]], self.feeds(X))[0]
        return as_method_output(out, method, self._ndim.get(method),
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


def graph_methods(names: list[str], types: list[str], info: dict[str, Any]) -> dict[str, str]:
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


def as_method_output(out: Any, method: str, ndim: int | None, classes: Any) -> Any:
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
