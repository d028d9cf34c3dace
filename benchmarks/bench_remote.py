"""The store on S3 (moto's server on loopback): requests and time per operation.

- save and load of a model of ~100 MB (one float64 array in a dict, joblib): the save,
  the first load (downloaded into the artifact cache) and a cached load, against s3fs
  reading the same artifact's bytes directly (``cat_file``);
- ``latest``, ``versions`` and ``list`` among 1,000 versions, each from a fresh
  ``ModelStore`` (nothing cached in the process).

Requests are counted by the endpoint itself (``tests/s3_endpoint.py`` counts every
request it serves, by operation). The endpoint runs in a child process on 127.0.0.1
with fake credentials; no cloud account is used. Times include moto, which is much
slower than S3 per request, so the request counts are the figures that carry over.

Run ``python benchmarks/bench_remote.py`` (``--quick``: 5 MB and 30 versions, which the
test suite runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from s3_endpoint import S3Endpoint


def _requests(endpoint: S3Endpoint) -> tuple[int, str]:
    counts = endpoint.counts(reset=True)
    total = sum(counts.values())
    return total, " ".join(f"{k}={v}" for k, v in sorted(counts.items()))


def _measure(endpoint: S3Endpoint, label: str, func, rows: list) -> object:
    endpoint.counts(reset=True)
    t = time.perf_counter()
    out = func()
    seconds = time.perf_counter() - t
    total, detail = _requests(endpoint)
    rows.append((label, total, seconds, detail))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 MB and 30 versions")
    args = parser.parse_args(argv)
    size_mb = 5 if args.quick else 100
    n_versions = 30 if args.quick else 1000

    import numpy as np

    with S3Endpoint() as endpoint, tempfile.TemporaryDirectory() as cache:
        os.environ.update(endpoint.env())
        os.environ["NBMODELS_CACHE_DIR"] = cache
        endpoint.make_bucket("bench")
        import nbmodels

        url = "s3://bench/models"
        rows: list = []
        model = {"weights": np.random.default_rng(0).random(size_mb * 131072)}
        store = nbmodels.ModelStore(url)
        store.save({"warm": 1}, "warmup")  # the one-time conditional-write probe
        rec = _measure(endpoint, f"save {size_mb} MB model", lambda: store.save(model, "big"),
                       rows)
        reader = nbmodels.ModelStore(url)
        _measure(endpoint, "load, first (download)", lambda: reader.load("big"), rows)
        _measure(endpoint, "load, cached", lambda: reader.load("big"), rows)
        artifact = reader.fs.key(f"trained/big_v{rec.version}/model.joblib")
        _measure(endpoint, "s3fs cat_file, same bytes", lambda: reader.fs.fs.cat_file(artifact),
                 rows)

        t = time.perf_counter()
        for i in range(n_versions):
            store.save({"i": i}, "many", force_new=True)
        fill = time.perf_counter() - t
        _requests(endpoint)
        _measure(endpoint, f"latest among {n_versions} versions",
                 lambda: nbmodels.ModelStore(url).latest("many"), rows)
        _measure(endpoint, f"versions among {n_versions} versions",
                 lambda: nbmodels.ModelStore(url).versions("many"), rows)
        _measure(endpoint, f"list ({n_versions + 2} versions, 3 models)",
                 lambda: nbmodels.ModelStore(url).list(), rows)
        _measure(endpoint, "save one more small version",
                 lambda: store.save({"i": -1}, "many", force_new=True), rows)

    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  requests  seconds  by kind")
    for label, total, seconds, detail in rows:
        print(f"{label:<{width}}  {total:>8}  {seconds:>7.3f}  {detail}")
    print(f"(saving {n_versions} small versions took {fill:.1f} s, "
          f"{fill / n_versions * 1e3:.0f} ms each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
