"""Where an evaluation goes: the version it belongs to, its dataset, and the one write.

Every store access of an evaluation is here (and in :meth:`EvaluationResult.save`):
:func:`resolve_target` reads which version a result belongs to, :func:`save_evaluation`
writes the files and merges the summary into the record, under the model's lock.

Results are kept per evaluation dataset, identified by an optional label and the data's
fingerprint. The first dataset without a label is ``default`` (the version's own
evaluation folder, where the seed kept its files); other unlabelled data becomes
``data-<sha256[:8]>``; a label is its own dataset. The record's headline ``metrics``
come from one dataset, named in ``metrics_source``: the first one evaluated, or the one
labelled ``test``, never silently the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .result import METRICS_FILE, RESERVED_NAMES, EvaluationResult
from .tasks import EvaluationError

__all__ = ["HEADLINE_LABEL", "Target", "resolve_target", "save_evaluation"]

DEFAULT = "default"
HEADLINE_LABEL = "test"  # evaluating with this dataset label makes it the headline


@dataclass
class Target:
    """Where an evaluation is saved, and whether a record exists to merge metrics into."""

    store: Any
    name: str
    version: str
    dataset: str | None  # the label given (None: unlabelled)
    directory: Path  # the version's evaluation folder
    in_store: bool
    record: dict[str, Any] | None = None
    #: sha256 of the artifacts the evaluated object was loaded from (when it was)
    artifacts: Any = None


def check_dataset(dataset: Any) -> str | None:
    """A dataset label, validated: a plain name that is not an evaluation file's name."""
    if dataset is None:
        return None
    from ..storage.layout import validate_name

    validate_name(dataset, "dataset label")
    if dataset in RESERVED_NAMES or dataset == DEFAULT or dataset.startswith("data-"):
        raise EvaluationError(
            f"dataset label {dataset!r} is reserved (an evaluation file, "
            f"'default' or 'data-...'); choose another label such as "
            f"'holdout'"
        )
    return dataset


def _same_root(a: Any, b: Any) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError):
        return str(a) == str(b)


def resolve_target(
    model: Any, name: str | None, version: str | None, store: Any, dataset: str | None
) -> Target | None:
    """Where to save, from name/version, or from where a loaded model came from.

    A model loaded from this store as another version of the same name is refused: its
    results would describe one version and be filed under another.
    """
    from ..errors import ModelNotFoundError
    from ..storage.layout import EVALUATION, validate_name
    from ..storage.versions import is_version
    from ..store.model_store import ModelStore
    from ..store.store_loading import provenance

    dataset = check_dataset(dataset)
    if store is not None and not isinstance(store, ModelStore):
        store = ModelStore(store)
    origin = provenance(model) if model is not None else None
    if name is None:
        if version is not None:
            raise EvaluationError(
                "version= was given without name=; pass both, e.g. name='churn', version='1.2.0'"
            )
        if origin is None:
            return None
        # The model knows where it came from: its results go beside it, in that store.
        root, name, version = origin
        store = ModelStore(root)
    validate_name(name)
    if store is None:
        store = ModelStore(origin[0]) if origin and origin[1] == name else ModelStore()
    if version is None:
        if origin is None or origin[1] != name:
            raise EvaluationError(
                f"which version of {name!r} is this? pass version= (an "
                f"exact version such as '1.0.0', 'latest' or an alias)"
            )
        version = origin[2]
    if is_version(version):
        try:
            store.resolve(name, version)
            in_store = True
        except ModelNotFoundError:
            in_store = False  # evaluation files only, as hand-written code keeps them
    else:
        version = store.resolve(name, version)  # 'latest' or an alias must exist
        in_store = True
    if (
        origin is not None
        and origin[1] == name
        and origin[2] != version
        and _same_root(origin[0], store.root)
    ):
        raise EvaluationError(
            f"this model was loaded as {name}@{origin[2]}, not "
            f"{name}@{version}: its results would be filed under the "
            f"wrong version; evaluate it as version '{origin[2]}' (or "
            f"leave name and version out: a loaded model knows them)"
        )
    record = store.record(name, version).to_dict() if in_store else None
    directory = store.version_path(EVALUATION, name, version)
    artifacts = None
    if (origin is not None and origin[1] == name and origin[2] == version
            and _same_root(origin[0], store.root)):
        artifacts = getattr(origin, "artifacts", None) or None
        if not in_store:
            raise EvaluationError(
                f"{name}@{version} was deleted after this model was loaded from it; its "
                f"results would describe a version that is gone (or a new model saved "
                f"under that number later): load the version you mean and evaluate that")
    return Target(store, name, version, dataset, directory, in_store, record, artifacts)


def _label_of(key: str, summary: dict[str, Any]) -> str | None:
    if "label" in summary:
        return summary["label"]
    return None if key == DEFAULT or key.startswith("data-") else key


def _describe(key: str, summary: dict[str, Any]) -> str:
    rows = summary.get("rows", summary.get("n_samples"))
    sha = summary.get("data_sha256") or ""
    return f"{key!r} ({rows} rows, sha256 {sha[:12]})" if sha else f"{key!r} ({rows} rows)"


def _summary(result: EvaluationResult, label: str | None, relative: str) -> dict[str, Any]:
    scalars = {k: v for k, v in result.metrics.items() if v is not None}
    return {
        "label": label,
        "metrics": scalars,
        "task": result.task,
        "rows": result.n_samples,
        "n_samples": result.n_samples,
        "data_sha256": result.fingerprint.get("sha256"),
        "positive_class": result.pos_label,
        "threshold": result.threshold,
        "labels_from": result.labels_from,
        "evaluated_at": result.evaluated_at,
        "path": relative,
        "passed": result.passed,
        "gates": [g.reason for g in result.gates],
    }


def _place(target: Target, sha: str | None) -> tuple[str, dict[str, Any], str | None]:
    """``(dataset key, evaluations in the record, headline key before this one)``."""
    record = target.record or {}
    evaluations = record.get("evaluations") if isinstance(record.get("evaluations"), dict) else {}
    source = record.get("metrics_source")
    current = source.get("dataset") if isinstance(source, dict) else None
    if current is None and DEFAULT in evaluations:
        current = DEFAULT  # records written before metrics_source: the default set's
    if target.dataset is not None:
        return target.dataset, evaluations, current
    for key, summary in evaluations.items():
        if (
            isinstance(summary, dict)
            and _label_of(key, summary) is None
            and summary.get("data_sha256") == sha
        ):
            return key, evaluations, current
    default = evaluations.get(DEFAULT)
    if (
        default is None
        or not isinstance(default, dict)
        or default.get("data_sha256") in (None, sha)
    ):
        return DEFAULT, evaluations, current
    return f"data-{(sha or 'unknown')[:8]}", evaluations, current


def save_evaluation(target: Target, result: EvaluationResult, lap: Any = None) -> None:
    """Write the result's files and merge its summary into the record (when there is one).

    Under the model's lock, like every other write of a version: a delete or an
    overwrite cannot interleave (leaving files beside a version that is gone), and gc
    leaves the temporary folder of this write alone. Sets ``result.dataset``, ``path``
    and ``is_headline``, and adds a note when new data was added or the headline moved.
    """
    store = target.store
    with store.lock(target.name):
        if not target.in_store:
            # Evaluation files only, for a version the store does not hold (as
            # hand-written code keeps them), still written through the store.
            result.dataset = target.dataset
            store.write_evaluation(target.name, target.version, result.files(),
                                   dataset=target.dataset, stale=sorted(RESERVED_NAMES),
                                   commit_last=METRICS_FILE, require_version=False)
            result.path = (target.directory / target.dataset if target.dataset
                           else target.directory)
            return
        store.resolve(target.name, target.version)  # still there?
        target.record = store.record(target.name, target.version).to_dict()
        sha = result.fingerprint.get("sha256")
        key, evaluations, current = _place(target, sha)
        directory = target.directory if key == DEFAULT else target.directory / key
        result.dataset = None if key == DEFAULT else key
        headline = current is None or current == key or target.dataset == HEADLINE_LABEL
        result.is_headline = headline
        summary = _summary(result, target.dataset, str(directory.relative_to(store.root)))
        before = evaluations.get(key)
        if before is None and evaluations:
            where = (
                f"the record's headline metrics still come from "
                f"{_describe(current, evaluations.get(current) or {})}; evaluate with "
                f"dataset='{HEADLINE_LABEL}' to make test data the headline"
                if not headline and current
                else "the record's headline metrics now come from it"
            )
            result.notes.append(
                f"new evaluation dataset {_describe(key, summary)} added "
                f"beside {', '.join(map(repr, evaluations))}; {where}"
            )
        elif isinstance(before, dict) and before.get("data_sha256") not in (None, sha):
            result.notes.append(
                f"dataset {key!r} was evaluated before on other data "
                f"({_describe(key, before)}); its results are replaced"
            )
        if headline and current is not None and current != key:
            result.notes.append(
                f"the record's headline metrics now come from "
                f"{_describe(key, summary)} instead of {current!r}"
            )
        store.write_evaluation(target.name, target.version, result.files(),
                               dataset=result.dataset, stale=sorted(RESERVED_NAMES),
                               commit_last=METRICS_FILE, artifacts=target.artifacts)
        result.path = directory
        if lap is not None:
            lap("save")
        updates: dict[str, Any] = {"evaluations": {key: summary}}
        if headline:
            updates["metrics"] = summary["metrics"]
            updates["metrics_source"] = {
                "dataset": key,
                "label": target.dataset,
                "rows": result.n_samples,
                "data_sha256": sha,
                "positive_class": result.pos_label,
                "threshold": result.threshold,
                "labels_from": result.labels_from,
                "path": summary["path"],
                "evaluated_at": result.evaluated_at,
            }
        store.update_record(target.name, target.version, updates)
        if lap is not None:
            lap("record")
