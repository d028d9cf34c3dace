"""Save and load time of each model format, against raw joblib on the same model.

One network shape (an MLP: FEATURES -> HIDDEN -> HIDDEN -> CLASSES) is trained as a
scikit-learn MLPClassifier (stored as joblib, pickle, skops and onnx), a torch module
(torch, whole and weights-only) and a Keras model (keras, .keras and .h5), so every
format stores the same architecture. Each row times ``ModelStore.save`` and
``ModelStore.load`` (hashing, fsync, record and index included) and, in the same
process, ``joblib.dump`` / ``joblib.load`` of the same object to a plain file; the
ratios are store time / raw joblib time. Medians over ``--repeat`` runs.

    python benchmarks/bench_formats.py            # hidden=512, 5 repeats
    python benchmarks/bench_formats.py --quick    # tiny model, 1 repeat (a smoke test)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _data(features: int, classes: int, rows: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features)).astype("float32")
    y = (X[:, :classes].argmax(axis=1)).astype("int64")
    return X, y


def _sklearn_mlp(X: Any, y: Any, hidden: int) -> Any:
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence: the weights' values do not matter
        return MLPClassifier(hidden_layer_sizes=(hidden, hidden), max_iter=3,
                             random_state=0).fit(X, y)


def _torch_mlp(features: int, hidden: int, classes: int) -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, classes))


def _keras_mlp(features: int, hidden: int, classes: int) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((features,)),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(classes)])


def _cases(X: Any, y: Any, hidden: int, classes: int) -> list[dict[str, Any]]:
    """(label, model, save options, load options) for every format whose extra is here."""
    have = {m: importlib.util.find_spec(m) is not None
            for m in ("skops", "skl2onnx", "onnxruntime", "torch", "keras", "h5py")}
    cases: list[dict[str, Any]] = []
    mlp = _sklearn_mlp(X, y, hidden)
    cases.append({"format": "joblib", "model": mlp, "family": "sklearn"})
    cases.append({"format": "pickle", "model": mlp, "family": "sklearn"})
    if have["skops"]:
        import skops.io

        # skops does not trust the MLP's optimizer type by default; the benchmark does.
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(mlp))
        cases.append({"format": "skops", "model": mlp, "family": "sklearn",
                      "load": lambda: {"trusted": trusted}})
    if have["skl2onnx"] and have["onnxruntime"]:
        cases.append({"format": "onnx", "model": mlp, "family": "sklearn", "save": {"X": X}})
    if have["torch"]:
        net = _torch_mlp(X.shape[1], hidden, classes)
        cases.append({"format": "torch", "model": net, "family": "torch"})
        cases.append({"format": "torch", "label": "torch weights_only", "model": net,
                      "family": "torch", "save": {"weights_only": True},
                      "load": lambda: {"into": _torch_mlp(X.shape[1], hidden, classes)}})
    if have["keras"]:
        model = _keras_mlp(X.shape[1], hidden, classes)
        cases.append({"format": "keras", "model": model, "family": "keras"})
        if have["h5py"]:
            cases.append({"format": "keras", "label": "keras h5", "model": model,
                          "family": "keras", "save": {"save_format": "h5"}})
    return cases


def run(hidden: int, repeat: int, rows: int = 2000, features: int = 64,
        classes: int = 10) -> list[dict[str, Any]]:
    import logging

    import joblib

    from nbmodels import ModelStore

    logging.getLogger("absl").setLevel(logging.ERROR)  # Keras' legacy-HDF5 notices
    X, y = _data(features, classes, rows)
    cases = _cases(X, y, hidden, classes)
    workdir = Path(tempfile.mkdtemp(prefix="nbmodels-bench-"))
    rows_out = []
    try:
        store = ModelStore(workdir / "models")
        raw = workdir / "raw.joblib"
        for i, case in enumerate(cases):
            model, name = case["model"], f"bench{i}"
            save_opts = dict(case.get("save") or {})
            X_opt = save_opts.pop("X", None)
            load_opts = case.get("load") or (lambda: {})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # legacy-format notices (h5) and the like
                # Warm both paths once (imports, first-call caches) before timing.
                store.save(model, name, format=case["format"], X=X_opt, **save_opts)
                store.load(name, **load_opts())
                joblib.dump(model, raw)
                joblib.load(raw)
                save_s = _median_time(lambda m=model, n=name, c=case, o=save_opts, x=X_opt:
                                      store.save(m, n, format=c["format"], X=x, **o), repeat)
                load_s = _median_time(lambda n=name, lo=load_opts: store.load(n, **lo()), repeat)
                raw_save_s = _median_time(lambda m=model: joblib.dump(m, raw), repeat)
                raw_load_s = _median_time(lambda: joblib.load(raw), repeat)
            record = store.record(name)
            rows_out.append({
                "format": case.get("label", case["format"]),
                "model": case["family"],
                "size_bytes": record.size_bytes,
                "raw_joblib_bytes": raw.stat().st_size,
                "save_s": save_s, "load_s": load_s,
                "raw_joblib_save_s": raw_save_s, "raw_joblib_load_s": raw_load_s,
                "save_ratio": save_s / raw_save_s, "load_ratio": load_s / raw_load_s,
            })
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows_out


def _table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'format':<20}{'model':<9}{'size':>10}{'save ms':>10}{'joblib ms':>11}"
            f"{'x':>7}{'load ms':>10}{'joblib ms':>11}{'x':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['format']:<20}{r['model']:<9}{r['size_bytes'] / 1e3:>8.0f}kB"
                     f"{r['save_s'] * 1e3:>10.1f}{r['raw_joblib_save_s'] * 1e3:>11.1f}"
                     f"{r['save_ratio']:>7.1f}{r['load_s'] * 1e3:>10.1f}"
                     f"{r['raw_joblib_load_s'] * 1e3:>11.1f}{r['load_ratio']:>7.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny model and one repeat: checks that every format runs")
    parser.add_argument("--hidden", type=int, default=512, help="hidden layer width")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    hidden, repeat = (16, 1) if args.quick else (args.hidden, args.repeat)
    rows = run(hidden, repeat, rows=200 if args.quick else 2000)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"nbmodels formats: MLP 64-{hidden}-{hidden}-10, median of {repeat}; "
              f"x = store time / raw joblib time of the same model")
        print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
