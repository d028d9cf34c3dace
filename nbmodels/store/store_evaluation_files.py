"""A version's evaluation files and the metrics saved with them: the part of
:class:`~nbmodels.store.model_store.ModelStore` that :func:`nbmodels.evaluate`,
``compare``, ``best`` and the server use (the files themselves are written, listed and
read by :mod:`nbmodels.store.evaluations`, under the model's lock).
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import IntegrityError, ModelNotFoundError
from ..storage.layout import validate_name
from ..storage.versions import parse_version
from . import evaluations
from .registry import Registry
from .tree import StoreTree

__all__ = ["EvaluationFilesMixin"]


class EvaluationFilesMixin:
    """``best``, ``write_evaluation``, ``evaluation_files``, ``evaluation_datasets``,
    ``read_evaluation_file`` and ``saved_metrics`` of a
    :class:`~nbmodels.store.model_store.ModelStore` (which it is a base of: it resolves
    versions and reads records through the store)."""

    _tree: StoreTree
    _registry: Registry

    def best(self, name: str, metric: str, *, dataset: str | None = None,
             higher_is_better: bool | None = None) -> str:
        """The version of ``name`` with the best saved ``metric`` (e.g. ``auc_roc``).

        Metrics are those :func:`nbmodels.evaluate` saved (``dataset`` picks a named
        evaluation data set); losses and errors are minimized, scores maximized unless
        ``higher_is_better`` says otherwise. A tie goes to the later version.
        """
        validate_name(name)
        versions = self.versions(name)
        records = {}
        for v in versions:  # a damaged record below the latest is skipped, not fatal
            with contextlib.suppress(IntegrityError):
                records[v] = self.record(name, v).to_dict()
        versions = [v for v in versions if v in records]
        return evaluations.best_version(self._tree, name, versions, records, metric,
                                        dataset=dataset, higher_is_better=higher_is_better)

    def write_evaluation(self, name: str, version: str, files: dict[str, bytes], *,
                         dataset: str | None = None, stale: Any = (),
                         commit_last: str | None = None,
                         require_version: bool = True,
                         artifacts: Any = None) -> str:
        """Publish a version's evaluation files all at once, under the model's lock.

        ``stale`` names files of an earlier evaluation that this one no longer has
        (they are removed); ``commit_last`` is written last. With ``require_version``
        the version must still exist when the files are published. ``artifacts``, the
        sha256 of each artifact the evaluated object was loaded from, must still be the
        version's: results are never filed under other artifacts (a version deleted and
        saved again meanwhile). The version's artifact hashes are written beside the
        files (``artifacts.json``), binding them to what they measured. Returns the
        folder, relative to the store.
        """
        validate_name(name)
        parse_version(version)
        with self._registry.lock(name):
            if require_version and not self._registry.is_committed(name, version):
                raise ModelNotFoundError(f"{name}@{version} no longer exists (deleted while "
                                         f"it was evaluated); nothing was written")
            record = self._registry.read_record(name, version) if require_version else None
            current = evaluations.artifact_hashes(record)
            if artifacts is not None and list(artifacts) != current:
                raise ModelNotFoundError(
                    f"{name}@{version} is no longer the model that was evaluated (it was "
                    f"deleted or replaced after this object was loaded); nothing was "
                    f"written: load {name}@{version} again and evaluate that")
            if current:
                files = {**files, evaluations.BINDING_FILE: evaluations.binding_bytes(current)}
            folder = evaluations.write_files(self._tree, name, version, files,
                                             dataset=dataset, stale=tuple(stale),
                                             commit_last=commit_last)
        return str(folder)

    def evaluation_files(self, name: str, version: str = "latest", *,
                         dataset: str | None = None) -> list[str]:
        """The files of a version's evaluation (of one named data set), sorted."""
        name, exact = self._split_resolve(name, version)
        return evaluations.list_files(self._tree, name, exact, dataset)

    def evaluation_datasets(self, name: str, version: str = "latest") -> list[str]:
        """The named data sets a version was evaluated on."""
        name, exact = self._split_resolve(name, version)
        return evaluations.list_datasets(self._tree, name, exact)

    def read_evaluation_file(self, name: str, version: str, filename: str, *,
                             dataset: str | None = None) -> bytes:
        """The bytes of one evaluation file (a plot, ``report.html``, ``metrics.json``)."""
        name, exact = self._split_resolve(name, version)
        return evaluations.read_file(self._tree, name, exact, filename, dataset=dataset)

    def saved_metrics(self, name: str, version: str = "latest", *,
                      dataset: str | None = None) -> tuple[dict[str, float],
                                                           dict[str, Any] | None, str | None,
                                                           str | None]:
        """``(metrics, curves, data_sha256, task)`` saved for a version: its evaluation
        files, else what its record says; by default those of the data set its headline
        metrics come from."""
        name, exact, rec = self._located_record(name, version)
        return evaluations.saved_metrics(self._tree, name, exact, rec.to_dict(), dataset)

