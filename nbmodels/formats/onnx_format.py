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


def _is_numeric_table(X: Any) -> bool:
    import numpy as np

    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and hasattr(X, "columns"):  # a DataFrame, extension dtypes too
        return all(getattr(d, "kind", "O") in "biuf" for d in list(dtypes))
    return np.asarray(X).dtype.kind in "biuf"


class OnnxModel:
    """An onnxruntime session that predicts like the estimator it was converted from.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
        The session itself, for anything beyond ``predict``.
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
        self._label = info.get("label_output") or names[0]
        self._proba = info.get("probability_output")
        if self._proba is None and len(names) > 1 and self.outputs[1]["type"] == "tensor(float)":
            self._proba = names[1]
        features = info.get("features")
        if features:
            self.feature_names_in_ = np.asarray(features, dtype=object)
            self.n_features_in_ = len(features)

    def __repr__(self) -> str:
        ins = ", ".join(f"{i['name']}: {i['type']}" for i in self.inputs)
        outs = ", ".join(o["name"] for o in self.outputs)
        source = self._info.get("source_class") or "onnx graph"
        return f"OnnxModel({source}; inputs {ins}; outputs {outs})"

    def _feeds(self, X: Any) -> dict[str, Any]:
        import numpy as np

        if len(self.inputs) == 1:
            spec = self.inputs[0]
            dtype = _ORT_TO_NUMPY.get(spec["type"], "float32")
            arr = np.asarray(X, dtype=dtype if dtype != "object" else None)
            if arr.ndim == 1 and len(spec["shape"]) == 2:
                arr = arr.reshape(-1, 1) if spec["shape"][1] == 1 else arr.reshape(1, -1)
            return {spec["name"]: arr}
        # One input per column: skl2onnx's layout for DataFrames of mixed types.
        if not hasattr(X, "columns"):
            names = ", ".join(i["name"] for i in self.inputs)
            raise NBModelsError(f"this ONNX model takes one input per column ({names}); "
                                f"pass a DataFrame with those columns")
        by_key = {_onnx_name(c): c for c in X.columns}
        feeds = {}
        for spec in self.inputs:
            column = spec["name"] if spec["name"] in X.columns else by_key.get(spec["name"])
            if column is None:
                raise NBModelsError(f"the data has no column for ONNX input {spec['name']!r}")
            dtype = _ORT_TO_NUMPY.get(spec["type"], "float32")
            values = X[column].to_numpy()
            feeds[spec["name"]] = values.astype(dtype).reshape(-1, 1) if dtype != "object" \
                else values.astype(str).reshape(-1, 1)
        return feeds

    def run(self, X: Any) -> dict[str, Any]:
        """Every output of the graph for ``X``, by name."""
        names = [o["name"] for o in self.outputs]
        return dict(zip(names, self.session.run(names, self._feeds(X)), strict=True))

    def predict(self, X: Any) -> Any:
        """The label output (classifiers) or the prediction (regressors) for ``X``."""
        out = self.session.run([self._label], self._feeds(X))[0]
        if out.ndim == 2 and out.shape[1] == 1:
            out = out.ravel()
        return out

    @property
    def predict_proba(self) -> Any:
        """Class probabilities for ``X``, columns in the order of :attr:`classes_`.

        Absent (``hasattr`` is false) when the graph has no probability output.
        """
        if self._proba is None:
            raise AttributeError("this ONNX model has no probability output")
        return self._predict_proba

    def _predict_proba(self, X: Any) -> Any:
        return self.session.run([self._proba], self._feeds(X))[0]


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
        if "label_output" not in info and names:
            info["label_output"] = names[0]
        return info

    def _convert_sklearn(self, model: Any, X: Any, initial_types: Any, target_opset: Any,
                         conversion_options: Any, info: dict[str, Any]) -> Any:
        import numpy as np

        skl2onnx = import_optional("skl2onnx", "onnx", "converting a scikit-learn model to ONNX")
        from sklearn.base import is_classifier, is_regressor

        classifier = is_classifier(model)
        opts = dict(conversion_options or {})
        if classifier and not opts:
            opts = {"zipmap": False}  # probabilities as a plain array, as sklearn returns
        kwargs: dict[str, Any] = {"target_opset": target_opset, "options": opts or None}
        if initial_types is not None:
            kwargs["initial_types"] = initial_types
            info["input_from"] = "initial_types"
            onx = skl2onnx.to_onnx(model, **kwargs)
        elif X is None:
            raise NBModelsError("converting a scikit-learn model to ONNX needs a sample of "
                                "its input to know the input types: pass X=X_train (or "
                                "initial_types=...)", options=("training_data",))
        else:
            sample = X.iloc[:5] if hasattr(X, "iloc") else np.asarray(X)[:5]
            if _is_numeric_table(sample):
                # One float tensor: what every converter supports and callers expect.
                onx = skl2onnx.to_onnx(model, np.asarray(sample, dtype=np.float32), **kwargs)
                info["input_from"] = "X as float32"
            else:
                # float64 columns become float32 inputs, as in the numeric case: a graph
                # with double inputs feeding float-only operators (the classifiers'
                # probability normalizer) converts, but fails in onnxruntime.
                floats = [c for c in sample.columns if getattr(sample[c].dtype, "kind", "")
                          == "f"] if hasattr(sample, "columns") else []
                if floats:
                    sample = sample.astype({c: np.float32 for c in floats})
                onx = skl2onnx.to_onnx(model, sample, **kwargs)
                info["input_from"] = "X, one input per column"
            columns = getattr(X, "columns", None)
            if columns is not None:
                info["features"] = [str(c) for c in columns]
        info["converted_by"] = f"skl2onnx {skl2onnx.__version__}"
        info["source_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        info["estimator_type"] = "classifier" if classifier else \
            "regressor" if is_regressor(model) else None
        classes = getattr(model, "classes_", None)
        if classifier and classes is not None:
            info["classes"] = np.asarray(classes).tolist()
        outputs = [o.name for o in onx.graph.output]
        if classifier and len(outputs) > 1:
            info["label_output"], info["probability_output"] = outputs[0], outputs[1]
        return onx

    def load(self, source: ArtifactSource, info: dict[str, Any], *,
             providers: list[str] | None = None, **options: Any) -> OnnxModel:
        import onnxruntime as ort

        data = source.read_bytes(self.artifacts[0])
        session = ort.InferenceSession(data, providers=providers or ["CPUExecutionProvider"])
        return OnnxModel(session, info)

    def adopt(self, files: list[str]) -> dict[str, Any] | None:
        return {"converted_by": None} if self.artifacts[0] in files else None


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

