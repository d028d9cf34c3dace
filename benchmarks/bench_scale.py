"""Does the cost of one model's operations follow that model, not the whole store?

Two stores are built in the layout directly (hard-linked artifacts and copied records,
then ``rebuild_index``), so that building them takes seconds:

- one model with N versions (10,000 by default);
- M models of 5 versions each (1,000 by default).

Each operation is timed from a fresh ``ModelStore`` (nothing cached in memory), against
the same operation in an empty store (for ``save``) and against the seed-style code
that users write by hand (``glob`` the folders, parse each name, sort with semver), all
in this process. The saves of the three stores are interleaved round by round, so that
they see the same machine. Targets: a tiny save among N versions within 2x of the empty-store
save; ``versions`` of a 5-version model among M models under 5 ms; ``versions`` among N
versions under 50 ms; ``list()`` of M models under 100 ms.

Run ``python benchmarks/bench_scale.py`` (``--quick`` for a small smoke run, which the
test suite uses; ``--json FILE`` to keep the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _median_ms(fn, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1e3


def _seed_versions(root: Path, name: str) -> list[str]:
    """What hand-written code does: glob the version folders, parse, sort by semver."""
    import semver

    found = [p.name[len(name) + 2:] for p in (root / "metadata").glob(f"{name}_v*")
             if (p / "metadata.json").exists()]
    return [str(v) for v in sorted(semver.Version.parse(v) for v in found)]


def _seed_list(root: Path) -> list[tuple[str, str]]:
    """Hand-written listing: every record folder, grouped by name, latest by semver."""
    import semver

    latest: dict[str, semver.Version] = {}
    for p in (root / "metadata").iterdir():
        name, _, version = p.name.rpartition("_v")
        v = semver.Version.parse(version)
        if name not in latest or v > latest[name]:
            latest[name] = v
    return sorted((n, str(v)) for n, v in latest.items())


def build(root: Path, models: dict[str, int]) -> None:
    """A store whose models have the given numbers of versions (1.0.0, 2.0.0, ...)."""
    from nbmodels import ModelStore

    store = ModelStore(root)
    template_name = next(iter(models))
    store.save({"weights": list(range(20))}, template_name, version="1.0.0")
    artifact = root / "trained" / f"{template_name}_v1.0.0" / "model.joblib"
    template = json.loads((root / "metadata" / f"{template_name}_v1.0.0" /
                           "metadata.json").read_text())
    for name, count in models.items():
        for major in range(1, count + 1):
            version = f"{major}.0.0"
            if name == template_name and major == 1:
                continue
            trained = root / "trained" / f"{name}_v{version}"
            meta = root / "metadata" / f"{name}_v{version}"
            trained.mkdir()
            meta.mkdir()
            os.link(artifact, trained / "model.joblib")
            record = {**template, "model_name": name, "version": version}
            (meta / "metadata.json").write_text(json.dumps(record))
    store.rebuild_index()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small stores, few rounds")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    n_versions, n_models, rounds = (300, 60, 3) if args.quick else (10_000, 1_000, 7)

    from nbmodels import ModelStore

    figures: dict[str, float] = {"versions": n_versions, "models": n_models}
    with tempfile.TemporaryDirectory(prefix="nbmodels-bench-scale-") as tmp:
        work = Path(tmp)
        deep, wide, empty = work / "deep", work / "wide", work / "empty"
        t = time.perf_counter()
        build(deep, {"big": n_versions})
        build(wide, {f"model{i:04d}": 5 for i in range(n_models)})
        print(f"built the stores in {time.perf_counter() - t:.1f} s")

        counter = iter(range(10**6))

        def tiny_save(root: Path, name: str) -> None:
            ModelStore(root).save({"tiny": next(counter)}, name, bump="major")

        # The first save after rebuild-index fills the identities cache (rebuild-index
        # drops it) by reading every record once: shown apart, not in the medians.
        figures["first_save_deep_ms"] = _median_ms(lambda: tiny_save(deep, "big"), 1)
        tiny_save(wide, "model0000")
        tiny_save(empty, "fresh")
        # Interleaved, so that the three see the same machine (other load, page cache).
        samples: dict[str, list[float]] = {"empty": [], "deep": [], "wide": []}
        for _ in range(rounds):
            for key, root, name in (("empty", empty, "fresh"), ("deep", deep, "big"),
                                    ("wide", wide, "model0000")):
                samples[key].append(_median_ms(lambda r=root, n=name: tiny_save(r, n), 1))
        for key, values in samples.items():
            figures[f"save_{key}_ms"] = statistics.median(values)
        figures["save_deep_ratio"] = statistics.median(
            d / e for d, e in zip(samples["deep"], samples["empty"], strict=True))

        figures["versions_deep_ms"] = _median_ms(lambda: ModelStore(deep).versions("big"),
                                                 rounds)
        figures["seed_versions_deep_ms"] = _median_ms(lambda: _seed_versions(deep, "big"),
                                                      rounds)
        figures["versions_wide_ms"] = _median_ms(
            lambda: ModelStore(wide).versions("model0500" if n_models > 500 else "model0030"),
            rounds)
        figures["seed_versions_wide_ms"] = _median_ms(
            lambda: _seed_versions(wide, "model0030"), rounds)
        figures["list_wide_ms"] = _median_ms(lambda: ModelStore(wide).list(), rounds)
        figures["seed_list_wide_ms"] = _median_ms(lambda: _seed_list(wide), rounds)
        figures["latest_deep_ms"] = _median_ms(lambda: ModelStore(deep).latest("big"), rounds)
        assert ModelStore(deep).versions("big")[-1] == ModelStore(deep).latest("big")

    print(f"tiny save, empty store:                 {figures['save_empty_ms']:8.2f} ms")
    print(f"tiny save among {n_versions} versions:        {figures['save_deep_ms']:8.2f} ms  "
          f"ratio to empty store {figures['save_deep_ms'] / figures['save_empty_ms']:.2f}x "
          f"(target <= 2x; median of the rounds' ratios "
          f"{figures['save_deep_ratio']:.2f}x)")
    print(f"  the first of them, right after rebuild-index: {figures['first_save_deep_ms']:.0f} "
          f"ms (fills the identities cache, which rebuild-index drops)")
    print(f"tiny save in a {n_models}-model store:       {figures['save_wide_ms']:8.2f} ms  "
          f"ratio to empty store {figures['save_wide_ms'] / figures['save_empty_ms']:.2f}x")
    print(f"versions() among {n_versions} versions:      {figures['versions_deep_ms']:8.2f} ms  "
          f"(seed glob {figures['seed_versions_deep_ms']:.2f} ms, ratio "
          f"{figures['versions_deep_ms'] / figures['seed_versions_deep_ms']:.2f}x; "
          f"target < 50 ms)")
    print(f"versions() of 5 among {n_models} models:     {figures['versions_wide_ms']:8.2f} ms  "
          f"(seed glob {figures['seed_versions_wide_ms']:.2f} ms, ratio "
          f"{figures['versions_wide_ms'] / figures['seed_versions_wide_ms']:.2f}x; "
          f"target < 5 ms)")
    print(f"list() of {n_models} models:                {figures['list_wide_ms']:8.2f} ms  "
          f"(seed listing {figures['seed_list_wide_ms']:.2f} ms, ratio "
          f"{figures['list_wide_ms'] / figures['seed_list_wide_ms']:.2f}x; target < 100 ms)")
    print(f"latest among {n_versions} versions:          {figures['latest_deep_ms']:8.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
