"""ONNX: a portable graph, converted from scikit-learn or stored as given.

A scikit-learn model is converted with skl2onnx; its input types come from a sample of
the training data (``X=``) and are kept in the record. An ``onnx.ModelProto`` is stored
as is. At save time the graph runs once on the sample and each prediction method of the
original is matched with the output that reproduces it; loading builds an onnxruntime
session, wrapped in :class:`OnnxModel`, which has exactly those methods. Nothing in an
ONNX file is executable Python, so it can be loaded from anyone.
"""

from __future__ import annotations

from typing import Any

from ..errors import NBModelsError
from .base import ArtifactSink, ArtifactSource, ModelFormat, import_optional
from .onnx_model import (
    GRAPH_METHODS,
    PREDICTION_METHODS,
    OnnxModel,
    as_method_output,
    graph_methods,
)

__all__ = ["OnnxFormat", "OnnxModel"]


def _is_onnx_proto(model: Any) -> bool:
    cls = type(model)
    return cls.__name__ == "ModelProto" and cls.__module__.split(".")[0] == "onnx"


def _is_sklearn(model: Any) -> bool:
    return any(c.__module__.split(".")[0] == "sklearn" for c in type(model).__mro__[:-1])


def _prediction_methods(model: Any) -> list[str]:
    """The public prediction methods ``model`` has (``hasattr``, so ``available_if`` counts)."""
    return [m for m in PREDICTION_METHODS if hasattr(model, m)]


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
            info["methods"] = graph_methods(names, [o["type"] for o in info["outputs"]], {})
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
            info["methods_not_in_graph"] = [m for m in _prediction_methods(model)
                                            if m not in info["methods"]]
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
        results = dict(zip(names, session.run(names, probe.feeds(sample)), strict=True))
    except Exception as exc:
        raise NBModelsError(f"skl2onnx converted this {type(model).__name__}, but onnxruntime "
                            f"cannot run the graph: {type(exc).__name__}: "
                            f"{(str(exc).strip().splitlines() or [''])[0][:300]}. Fix: save it "
                            f"with format='skops' or format='joblib'") from exc
    preferred = _methods_of(model, names)
    classes = info.get("classes")
    methods: dict[str, str] = {}
    ndims: dict[str, int] = {}
    tried = []
    for method in _prediction_methods(model):
        if method not in GRAPH_METHODS:
            continue
        try:
            want = getattr(model, method)(sample)
        except Exception:
            continue
        tried.append(method)
        ndim = None if isinstance(want, list) else int(np.ndim(want))
        order = [preferred[method]] if method in preferred else []
        order += [n for n in names if n not in order]
        for name in order:
            if _agrees(as_method_output(results[name], method, ndim, classes), want):
                methods[method] = name
                if ndim is not None:
                    ndims[method] = ndim
                break
    if tried and not methods:
        # A graph that reproduces nothing the model does would load and answer wrongly.
        raise NBModelsError(f"skl2onnx converted this {type(model).__name__}, but no output "
                            f"of the graph ({', '.join(names)}) reproduces its "
                            f"{', '.join(tried)} on the sample X; not saving it. Fix: save it "
                            f"with format='skops' or format='joblib'")
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
