"""Evaluation speed: nbmodels.evaluate_predictions against the seed's evaluate_model path,
and the whole evaluate(model, X, y) against one bare predict_proba.

The seed path is the hand-written ``evaluate_model`` users have (classification_report,
confusion_matrix, roc_curve + auc, metrics.json, two pyplot figures saved at dpi=300),
minus the model's predict, which both sides would share. nbmodels runs twice on the same
data, in the same process: with the seed's outputs only (headline metrics, the two seed
plots, curve JSON; ``plots="seed"``) and with the full default set (every metric, five
plots, report.html). Each side writes its files into a temporary folder.

The model part fits a RandomForestClassifier (100 trees, on 20,000 rows) and times, on
the same 1,000,000 rows of 20 features, one bare ``model.predict_proba(X)`` against the
whole ``nbmodels.evaluate(model, X, y)`` of that model loaded from a store: input and
feature checks, the one pass over the data (labels from the probabilities, checked
against ``predict`` on a sample), every metric, the default plots, the data fingerprint
and every file and the record written.

    python benchmarks/bench_evaluate.py                # 1,000,000 rows, median of 3
    python benchmarks/bench_evaluate.py --quick        # 20,000 rows, one run (smoke test)
    python benchmarks/bench_evaluate.py --json out.json

Targets (issue 4): seed outputs >= 3x faster than the seed path; the full default set
still faster than the seed path. Issue 10: the whole evaluate path within 1.15x of one
bare predict_proba.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SEED_TARGET = 3.0
FULL_TARGET = 1.0
MODEL_TARGET = 1.15


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary labels (30 % positive), predicted labels and float64 probabilities."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    logit = rng.normal(0.0, 1.0, n) + 1.2 * (2 * y - 1)
    prob = 1.0 / (1.0 + np.exp(-logit))
    pred = (prob >= 0.5).astype(np.int64)
    return y, pred, prob


class Laps:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._t = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = now - self._t
        self._t = now


def seed_path(y_test: np.ndarray, y_pred: np.ndarray, y_prob: np.ndarray,
              root: Path) -> dict[str, float]:
    """The seed document's evaluate_model after predict, step by step."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, classification_report, confusion_matrix, roc_curve

    lap = Laps()
    report = classification_report(y_test, y_pred, output_dict=True)
    lap("classification_report")
    cm = confusion_matrix(y_test, y_pred)
    lap("confusion_matrix")
    fpr, tpr, _ = roc_curve(y_test, y_prob)
    roc_auc = auc(fpr, tpr)
    lap("roc_curve + auc")
    eval_dir = root / "evaluation" / "bench_v1.0.0"
    eval_dir.mkdir(parents=True, exist_ok=True)
    metrics = {
        "accuracy": report["accuracy"],
        "precision": report["weighted avg"]["precision"],
        "recall": report["weighted avg"]["recall"],
        "f1_score": report["weighted avg"]["f1-score"],
        "auc_roc": roc_auc,
    }
    with open(eval_dir / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    lap("metrics.json")
    plt.figure(figsize=(8, 6))
    plt.imshow(cm, interpolation="nearest", cmap=plt.cm.Blues)
    plt.title("Confusion Matrix")
    plt.colorbar()
    plt.xlabel("Predicted Label")
    plt.ylabel("True Label")
    plt.savefig(eval_dir / "confusion_matrix.png", dpi=300, bbox_inches="tight")
    lap("confusion_matrix.png (dpi=300)")
    plt.figure(figsize=(8, 6))
    plt.plot(fpr, tpr, color="darkorange", lw=2, label=f"ROC curve (area = {roc_auc:.2f})")
    plt.plot([0, 1], [0, 1], color="navy", lw=2, linestyle="--")
    plt.xlim([0.0, 1.0])
    plt.ylim([0.0, 1.05])
    plt.xlabel("False Positive Rate")
    plt.ylabel("True Positive Rate")
    plt.title("Receiver Operating Characteristic")
    plt.legend(loc="lower right")
    plt.savefig(eval_dir / "roc_curve.png", dpi=300, bbox_inches="tight")
    lap("roc_curve.png (dpi=300)")
    plt.close("all")  # not timed: the seed never closes its figures
    return lap.steps


def nbmodels_path(y_test: np.ndarray, y_pred: np.ndarray, y_prob: np.ndarray, root: Path,
                  plots: str) -> dict[str, float]:
    """evaluate_predictions + save: the steps it reports, and the writing."""
    from nbmodels import evaluate_predictions

    t0 = time.perf_counter()
    result = evaluate_predictions(y_test, y_pred, y_prob, plots=plots)
    t1 = time.perf_counter()
    result.save(root / "evaluation" / f"bench_v1.0.0-{plots}")
    t2 = time.perf_counter()
    steps = dict(result.timings)
    steps["(other)"] = max(0.0, (t1 - t0) - sum(steps.values()))
    steps["save (all files)"] = t2 - t1
    return steps


def make_model(n: int, trees: int, root: Path) -> tuple[Any, np.ndarray, np.ndarray]:
    """A forest fitted on 20,000 rows (fewer in quick mode), saved and loaded from a store,
    and ``n`` other rows of the same problem to evaluate it on."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from nbmodels import ModelStore

    train = min(20_000, n)
    X, y = make_classification(n_samples=train + n, n_features=20, n_informative=8,
                               weights=[0.7], flip_y=0.02, random_state=0)
    model = RandomForestClassifier(n_estimators=trees, random_state=0)
    model.fit(X[:train], y[:train])
    store = ModelStore(root / "store")
    store.save(model, "bench_rf")
    return store.load("bench_rf"), X[train:], y[train:]


def bare_predict(model: Any, X: np.ndarray) -> dict[str, float]:
    t0 = time.perf_counter()
    model.predict_proba(X)
    return {"predict_proba": time.perf_counter() - t0}


def whole_evaluate(model: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``evaluate(model, X, y)``: the steps it reports, and the rest of the call."""
    from nbmodels import evaluate

    t0 = time.perf_counter()
    result = evaluate(model, X, y)
    total = time.perf_counter() - t0
    steps = dict(result.timings)
    steps["(other)"] = max(0.0, total - sum(steps.values()))
    return steps


def measure(paths: dict[str, Any], repeat: int) -> dict[str, tuple[float, dict[str, float]]]:
    """Median total and per-step medians of each path over ``repeat`` rounds.

    The paths take turns within each round, so a busy machine slows them alike.
    """
    runs: dict[str, list[dict[str, float]]] = {key: [] for key in paths}
    for _ in range(repeat):
        for key, fn in paths.items():
            runs[key].append(fn())
    out = {}
    for key, rs in runs.items():
        steps = {k: statistics.median(r.get(k, 0.0) for r in rs) for k in rs[0]}
        out[key] = (statistics.median(sum(r.values()) for r in rs), steps)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path (median)")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, one run")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--trees", type=int, default=100, help="trees of the forest")
    args = parser.parse_args(argv)
    n, repeat = (20_000, 1) if args.quick else (args.n, args.repeat)
    trees = 10 if args.quick else args.trees

    import matplotlib

    matplotlib.use("Agg")  # the seed's pyplot path, headless
    y, pred, prob = make_data(n)
    with tempfile.TemporaryDirectory(prefix="nbm-bench-") as tmp:
        root = Path(tmp)
        small = make_data(2000, seed=1)  # imports, font cache, first-draw costs: not timed
        seed_path(*small, root / "warm")
        nbmodels_path(*small, root / "warm", "default")
        timed = measure({
            "seed": lambda: seed_path(y, pred, prob, root / "seed"),
            "ours_seed": lambda: nbmodels_path(y, pred, prob, root / "ours", "seed"),
            "ours_full": lambda: nbmodels_path(y, pred, prob, root / "ours", "default"),
        }, repeat)
        model, Xm, ym = make_model(n, trees, root)
        whole_evaluate(model, Xm[:2000], ym[:2000])  # warm: first draws, imports
        model_timed = measure({
            "bare": lambda: bare_predict(model, Xm),
            "whole": lambda: whole_evaluate(model, Xm, ym),
        }, repeat)
    seed_total, seed_steps = timed["seed"]
    ours_seed_total, ours_seed_steps = timed["ours_seed"]
    full_total, full_steps = timed["ours_full"]

    seed_ratio = seed_total / ours_seed_total
    full_ratio = seed_total / full_total
    print(f"evaluation benchmark: {n:,} binary rows, median of {repeat} "
          f"(python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()})")
    for title, total, steps in (("seed path (classification_report + confusion_matrix + "
                                 "roc_curve/auc + 2 figures at dpi=300)", seed_total,
                                 seed_steps),
                                ("nbmodels, seed outputs (plots='seed')", ours_seed_total,
                                 ours_seed_steps),
                                ("nbmodels, full default set (plots='default')", full_total,
                                 full_steps)):
        print(f"\n{title}: {total * 1000:.0f} ms")
        for step, seconds in steps.items():
            share = seconds / total * 100 if total else 0.0
            print(f"  {step:<40} {seconds * 1000:8.1f} ms  {share:5.1f} %")
    bare_total, _ = model_timed["bare"]
    whole_total, whole_steps = model_timed["whole"]
    model_ratio = whole_total / bare_total
    print(f"\nRandomForestClassifier ({trees} trees), {n:,} rows x 20 features, median of "
          f"{repeat}:")
    print(f"  one bare model.predict_proba(X): {bare_total * 1000:.0f} ms")
    print(f"  whole nbmodels.evaluate(model, X, y): {whole_total * 1000:.0f} ms")
    for step, seconds in whole_steps.items():
        share = seconds / whole_total * 100 if whole_total else 0.0
        print(f"    {step:<38} {seconds * 1000:8.1f} ms  {share:5.1f} %")
    seed_ok = seed_ratio >= SEED_TARGET
    full_ok = full_ratio > FULL_TARGET
    print(f"\nspeedup, seed outputs:      {seed_ratio:5.2f}x  (target >= {SEED_TARGET:g}x: "
          f"{'met' if seed_ok else 'NOT met'})")
    print(f"speedup, full default set:  {full_ratio:5.2f}x  (target > {FULL_TARGET:g}x: "
          f"{'met' if full_ok else 'NOT met'})")
    model_ok = model_ratio <= MODEL_TARGET
    print(f"whole evaluate / bare predict_proba: {model_ratio:5.3f}x  (target <= "
          f"{MODEL_TARGET:g}x: {'met' if model_ok else 'NOT met'}"
          f"{'; quick mode: too few rows to judge' if args.quick else ''})")
    if args.json:
        args.json.write_text(json.dumps({
            "n": n, "repeat": repeat, "seed_path_s": seed_total,
            "nbmodels_seed_outputs_s": ours_seed_total, "nbmodels_full_s": full_total,
            "speedup_seed_outputs": seed_ratio, "speedup_full": full_ratio,
            "model": {"trees": trees, "bare_predict_proba_s": bare_total,
                      "evaluate_s": whole_total, "ratio": model_ratio,
                      "steps": whole_steps},
            "steps": {"seed_path": seed_steps, "nbmodels_seed_outputs": ours_seed_steps,
                      "nbmodels_full": full_steps}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
