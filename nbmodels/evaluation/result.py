"""EvaluationResult: the numbers, curves and plots of one evaluation, and its files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .gates import GateCheck
from .plots import Plot
from .tasks import EvaluationError

__all__ = ["CURVES_FILE", "DATA_FILES", "FINGERPRINT_FILE", "METRICS_FILE", "RESERVED_NAMES",
           "SCORES_FILE", "EvaluationResult"]

METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.json"
FINGERPRINT_FILE = "fingerprint.json"
REPORT_FILE = "report.html"
SCORES_FILE = "scores.npz"  # labels and positive-class scores, for other thresholds
DATA_FILES = (METRICS_FILE, CURVES_FILE, FINGERPRINT_FILE, REPORT_FILE)
_PLOT_NAMES = ("confusion_matrix", "confusion_matrix_normalized", "roc_curve",
               "precision_recall_curve", "calibration_curve", "feature_importance",
               "predicted_vs_actual", "residuals")
# Every file an evaluation may write: a re-evaluation removes the ones it no longer has,
# and no dataset label may take one of these names.
RESERVED_NAMES = frozenset(DATA_FILES) | {SCORES_FILE} | {f"{n}.png" for n in _PLOT_NAMES}


# Keys of metrics.json that are not metrics.
_NESTED = frozenset({"details", "per_class", "confusion_matrix", "gates", "evaluation",
                     "headline_metrics", "positive_class", "decision"})


def _finite(value: Any) -> Any:
    """JSON data with NaN and infinities (not valid JSON) replaced by null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_bytes(obj: Any) -> bytes:
    text = json.dumps(_finite(obj), indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


class EvaluationResult:
    """The outcome of :func:`nbmodels.evaluate` or :func:`nbmodels.evaluate_predictions`.

    Attributes
    ----------
    metrics : dict
        Every scalar metric, flat; the headline keys first (for classification the
        seed's ``accuracy, precision, recall, f1_score, auc_roc``). For a binary task
        precision, recall and f1_score are those of the positive class
        (:attr:`pos_label`); for a multiclass task they are weighted averages. The
        averages are always there too: ``precision_weighted``, ``recall_macro``, ...
    pos_label : label or None
        The positive class of a binary task; ``pos_label_chosen`` says how it was
        chosen (``given``, ``the greater label``, ``the second class``).
    threshold : float or None
        The decision threshold on the positive class's score, or None for the model's
        own labels; ``labels_from`` says where the labels came from.
    dataset : str or None
        The evaluation dataset (None: the version's first, ``default``);
        ``is_headline`` whether the record's headline metrics are this dataset's.
    per_class : dict
        ``label -> {precision, recall, f1_score, support, auc_roc, average_precision}``.
    confusion_matrix : numpy.ndarray or None
        Rows are true labels, columns predictions, in the order of ``labels``.
    figures : dict
        ``name -> Plot`` (PNG bytes that display inline).
    curves : dict
        The curve data saved as ``curves.json`` (ROC, PR, calibration, ...).
    gates : list of GateCheck
        The requirements checked, with the value found and the reason.
    passed : bool or None
        Whether every requirement held; None when none was given.
    notes : list of str
        What was skipped and why (e.g. curves for a model without scores).
    path : Path or None
        The folder the files were saved in.
    """

    def __init__(self, *, task: str, metrics: dict[str, Any], headline: tuple[str, ...],
                 n_samples: int, labels: list[Any] | None = None,
                 per_class: dict[str, dict[str, Any]] | None = None,
                 confusion_matrix: np.ndarray | None = None,
                 curves: dict[str, Any] | None = None,
                 figures: dict[str, Plot] | None = None,
                 fingerprint: dict[str, Any] | None = None,
                 gates: list[GateCheck] | None = None, notes: list[str] | None = None,
                 name: str | None = None, version: str | None = None,
                 dataset: str | None = None, score_source: str | None = None,
                 pos_label: Any = None, pos_label_chosen: str | None = None,
                 threshold: float | None = None, labels_from: str | None = None,
                 evaluated_at: str | None = None,
                 timings: dict[str, float] | None = None) -> None:
        self.task = task
        self.metrics = metrics
        self._headline = headline
        self.n_samples = n_samples
        self.labels = list(labels or [])
        self.per_class = per_class or {}
        self.confusion_matrix = confusion_matrix
        self.curves = curves or {}
        self.figures = figures or {}
        self.fingerprint = fingerprint or {}
        self.gates = list(gates or [])
        self.notes = list(notes or [])
        self.name = name
        self.version = version
        self.dataset = dataset
        self.score_source = score_source
        self.pos_label = pos_label
        self.pos_label_chosen = pos_label_chosen
        self.threshold = threshold
        self.labels_from = labels_from
        self.is_headline: bool | None = None
        self.evaluated_at = evaluated_at
        #: Labels (codes) and the positive class's scores of a binary evaluation, kept so
        #: :meth:`at_threshold` needs no model and no data (``None`` otherwise).
        self.kept_scores: dict[str, Any] | None = None
        #: How to re-evaluate at another threshold: set by the evaluation core that made
        #: or loaded this result (``(result, threshold) -> EvaluationResult``).
        self.recompute: Any = None
        self.timings = timings if timings is not None else {}
        self.path: Path | None = None

    # -- summaries --------------------------------------------------------------------------
    @property
    def passed(self) -> bool | None:
        """True when every requirement held, False if one failed, None without requirements."""
        return all(g.passed for g in self.gates) if self.gates else None

    @property
    def headline(self) -> dict[str, Any]:
        """The headline metrics (the seed's keys for classification; r2, rmse, mae otherwise)."""
        return {k: self.metrics.get(k) for k in self._headline}

    @property
    def label(self) -> str:
        """``name@version`` (and ``[dataset]``), or ``unsaved model`` when neither is known."""
        base = f"{self.name}@{self.version}" if self.name and self.version else (
            self.name or "unsaved model")
        return f"{base} [{self.dataset}]" if self.dataset else base

    def _average_of(self, key: str) -> str | None:
        """What a headline precision/recall/f1 averages: ``class 1``, ``weighted avg``."""
        if key in ("precision", "recall", "f1_score") or (
                key == "average_precision" and self.task == "binary"):
            if self.task == "binary":
                return f"class {self.pos_label}"
            if self.task == "multiclass" and key != "average_precision":
                return "weighted avg"
        return None

    def metric_label(self, key: str) -> str:
        """How a metric is shown: ``precision (class 1)``, ``recall (weighted avg)``."""
        average = self._average_of(key)
        if average is not None:
            return f"{key} ({average})"
        base, _, avg = key.rpartition("_")
        if base and avg in ("weighted", "macro"):
            return f"{'f1_score' if base == 'f1' else base} ({avg} avg)"
        return key

    def _short_label(self, key: str) -> str:
        if key == "average_precision":
            return key
        average = self._average_of(key)
        if average is None:
            return key
        return f"{key}[{self.pos_label if self.task == 'binary' else 'weighted'}]"

    def at_threshold(self, threshold: float, pos_label: Any = None) -> EvaluationResult:
        """The metrics at another decision threshold, from the kept scores.

        Equal to a fresh ``evaluate(model, X, y, threshold=threshold)`` on the same
        data, without predicting again; nothing is drawn or written (call
        :meth:`save` to keep it). ``pos_label`` makes the other class of the binary
        task the positive one (its scores are the complement of the kept ones).
        Binary classifiers with scores only.
        """
        if self.recompute is None or self.kept_scores is None:
            raise EvaluationError("this evaluation kept no scores to re-threshold (only "
                                  "binary classifiers with predict_proba or "
                                  "decision_function have them); evaluate again")
        return self.recompute(self, threshold, pos_label)

    def __getitem__(self, key: str) -> Any:
        """``result["auc_roc"]``: a metric by name."""
        return self.metrics[key]

    def to_dict(self) -> dict[str, Any]:
        """The content of ``metrics.json``: headline keys at the top level, the rest nested."""
        head = self.headline
        out: dict[str, Any] = dict(head)
        if self.task != "regression":
            # What the headline numbers are, in the file itself (nested, so a reader of
            # the top-level numbers never takes these for metrics).
            out["headline_metrics"] = {k: self.metric_label(k) for k in head}
        if self.task == "binary":
            out["positive_class"] = {"label": self.pos_label,
                                     "chosen": self.pos_label_chosen,
                                     "applies_to": ["precision", "recall", "f1_score",
                                                    "auc_roc", "average_precision"]}
            out["decision"] = {"threshold": self.threshold, "labels_from": self.labels_from,
                               "score_source": self.score_source}
        out["details"] = {k: v for k, v in self.metrics.items() if k not in head}
        if self.per_class:
            out["per_class"] = self.per_class
        if self.confusion_matrix is not None:
            out["confusion_matrix"] = {"labels": self.labels,
                                       "counts": self.confusion_matrix.tolist()}
        if self.gates:
            out["gates"] = {"passed": self.passed, "checks": [g.to_dict() for g in self.gates]}
        out["evaluation"] = {
            "task": self.task, "model": self.name, "version": self.version,
            "dataset": self.dataset, "n_samples": self.n_samples,
            "score_source": self.score_source, "pos_label": self.pos_label,
            "threshold": self.threshold, "labels_from": self.labels_from,
            "evaluated_at": self.evaluated_at,
            "data_sha256": self.fingerprint.get("sha256"), "notes": self.notes,
            "files": sorted(self.files_to_write()),
        }
        return out

    def to_frame(self) -> Any:
        """The scalar metrics as a one-column pandas DataFrame (column: :attr:`label`).

        Frames of several results line up with ``pandas.concat([...], axis=1)``.
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas ships with the test extra
            raise ImportError("to_frame() needs pandas: pip install pandas") from None
        return pd.DataFrame({self.label: pd.Series(self.metrics, dtype="float64")})

    # -- files ------------------------------------------------------------------------------
    def files_to_write(self) -> list[str]:
        """Names of the files :meth:`save` writes: the data files, then the plots."""
        scores = [SCORES_FILE] if self.kept_scores is not None else []
        return [*DATA_FILES, *scores, *(p.filename for p in self.figures.values())]

    def files(self) -> dict[str, bytes]:
        """Every file of the evaluation folder, by name, as bytes."""
        from .report import report_html

        out = {METRICS_FILE: _json_bytes(self.to_dict()),
               CURVES_FILE: _json_bytes(self.curves),
               FINGERPRINT_FILE: _json_bytes(self.fingerprint),
               REPORT_FILE: report_html(self).encode("utf-8")}
        if self.kept_scores is not None:
            out[SCORES_FILE] = _scores_bytes(self.kept_scores)
        out.update({p.filename: p.png for p in self.figures.values()})
        return out

    def save(self, directory: str | Path) -> Path:
        """Write ``metrics.json``, the PNGs, ``curves.json``, ``fingerprint.json`` and
        ``report.html`` into ``directory`` and return it.

        The files are written to a temporary folder next to it first and then renamed
        into place (``metrics.json`` last), so a failure leaves the previous files; files
        of an earlier evaluation that this one does not have are removed, anything else
        in the folder is left alone.
        """
        from ..storage import local as _io

        directory = Path(directory).expanduser().absolute()
        _io.publish_files(directory, self.files(), stale=sorted(RESERVED_NAMES),
                          commit_last=METRICS_FILE)
        self.path = directory
        return directory

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> EvaluationResult:
        """An evaluation rebuilt from its saved files (``metrics.json`` and, when present,
        ``curves.json``, ``fingerprint.json``, ``scores.npz``): numbers, curves, gates and
        the kept scores. Plots are not read back. Use
        :func:`nbmodels.evaluation.load_result` to read them from a store or a folder."""
        import json

        def parsed(name: str) -> Any:
            data = files.get(name)
            if data is None:
                return None
            try:
                return json.loads(data)
            except ValueError:
                return None

        saved = parsed(METRICS_FILE)
        if not isinstance(saved, dict) or not isinstance(saved.get("evaluation"), dict):
            raise EvaluationError(f"{METRICS_FILE} is not an nbmodels evaluation; evaluate "
                                  f"again to write one")
        info = saved["evaluation"]
        curves = parsed(CURVES_FILE)
        curves = curves if isinstance(curves, dict) else {}
        fingerprint = parsed(FINGERPRINT_FILE)
        fingerprint = fingerprint if isinstance(fingerprint, dict) else {}
        task = info.get("task")
        headline = tuple(k for k in saved if k not in _NESTED and not isinstance(
            saved[k], (dict, list)))
        metrics = {k: saved[k] for k in headline}
        metrics.update(saved.get("details") or {})
        cm = saved.get("confusion_matrix")
        gates = [GateCheck(g["metric"], g["op"], g["threshold"], g["value"], g["passed"])
                 for g in (saved.get("gates") or {}).get("checks", [])]
        positive = saved.get("positive_class") or {}
        decision = saved.get("decision") or {}
        out = cls(task=task, metrics=metrics, headline=headline,
                  n_samples=info.get("n_samples"), labels=(cm or {}).get("labels"),
                  per_class=saved.get("per_class"),
                  confusion_matrix=np.asarray(cm["counts"]) if cm else None,
                  curves=curves, fingerprint=fingerprint, gates=gates,
                  notes=info.get("notes"), name=info.get("model"),
                  version=info.get("version"), dataset=info.get("dataset"),
                  score_source=info.get("score_source"), pos_label=info.get("pos_label"),
                  pos_label_chosen=positive.get("chosen"),
                  threshold=decision.get("threshold", info.get("threshold")),
                  labels_from=info.get("labels_from"), evaluated_at=info.get("evaluated_at"))
        if SCORES_FILE in files:
            out.kept_scores = read_scores(files[SCORES_FILE], curves)
        return out

    # -- display ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        from .report import fmt

        parts = [self.label, self.task, f"n={self.n_samples}"]
        if self.task == "binary":
            parts.append(f"positive={self.pos_label!r}")
            if self.threshold is not None:
                parts.append(f"threshold={self.threshold:g}")
        parts += [f"{self._short_label(k)}={fmt(v)}" for k, v in self.headline.items()]
        if self.gates:
            parts.append(f"passed={self.passed}")
        return f"EvaluationResult({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from .report import result_html

        return result_html(self)


def _scores_bytes(kept: dict[str, Any]) -> bytes:
    """``scores.npz``: label codes, positive-class scores and weights (no pickles)."""
    import io

    arrays = {"y": kept["y"], "score": kept["score"]}
    if kept.get("weight") is not None:
        arrays["weight"] = kept["weight"]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def read_scores(data: bytes, curves: dict[str, Any]) -> dict[str, Any] | None:
    """The kept scores from ``scores.npz`` bytes and the ``curves.json`` beside them."""
    import io

    labels = curves.get("labels")
    pos_label = curves.get("pos_label")
    if not isinstance(labels, list) or len(labels) != 2 or pos_label not in labels:
        return None
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        kept = {"y": npz["y"], "score": npz["score"],
                "weight": npz["weight"] if "weight" in npz.files else None}
    kept.update({"classes": np.asarray(labels), "pos": labels.index(pos_label),
                 "source": curves.get("score_source")})
    return kept
