"""ModelStore: save, version, load, list, verify and repair a plain-files model store.

This module is the facade and what it does itself: resolving (``latest``, versions,
aliases), saving, listing, aliases, deleting. The rest of the API is inherited from one
base class per group, each in its own module and working through the store's own
attributes: loading and trust (:mod:`~nbmodels.store.store_loading`, with
:func:`~nbmodels.store.store_loading.provenance`), editing records
(:mod:`~nbmodels.store.store_editing`), evaluation files
(:mod:`~nbmodels.store.store_evaluation_files`), moving versions between stores,
archives and backups (:mod:`~nbmodels.store.store_moving`), and maintenance and
retention (:mod:`~nbmodels.store.store_maintenance`).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from ..config import resolve_store_root
from ..errors import (
    IntegrityError,
    InvalidNameError,
    InvalidVersionError,
    ModelNotFoundError,
    NBModelsError,
    UnfittedModelError,
)
from ..formats import (
    format_for,
    get_format,
)
from ..progress import Progress
from ..record.bumps import choose_bump
from ..record.capture import (
    capture,
    note_saved_by_value,
    unfitted_reason,
)
from ..record.record import ModelRecord
from ..storage import StorageBackend, open_backend
from ..storage.layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    TRAINED,
    TRASH_PREFIX,
    validate_alias,
    validate_name,
)
from ..storage.remote import StoreURL, is_url
from ..storage.versions import (
    BUMPS,
    FIRST_VERSION,
    is_version,
    next_version,
    parse_version,
    sort_versions,
)
from .aliases import AliasFileError
from .publish import SaveJob, VersionClaimedError, needs_restore, recover, write_version
from .record_file import DamagedRecord, summarize
from .reports import ModelTable
from .store_editing import EditingMixin
from .store_evaluation_files import EvaluationFilesMixin
from .store_loading import LoadingMixin
from .store_maintenance import MaintenanceMixin
from .store_moving import MovingMixin
from .tree import StoreTree

__all__ = ["ModelStore", "default_root"]


def default_root() -> Path:
    """``$NBMODELS_HOME`` if set, else the project's store found upward, else ``./models``."""
    return resolve_store_root()[0]


class ModelStore(LoadingMixin, EditingMixin, EvaluationFilesMixin, MovingMixin,
                 MaintenanceMixin):
    """A versioned model store in a plain folder.

    Parameters
    ----------
    root : str or Path, optional
        The store's folder, or a URL (``s3://bucket/prefix``; ``pip install
        nbmodels[s3]``), whose root then stays the URL string. By default
        ``$NBMODELS_HOME``, else the project's store found upward from the working
        folder, else ``./models``
        (:func:`nbmodels.config.resolve_store_root`); :attr:`root_reason` says which.
        It is created on the first save.
    check_load : bool
        The default of ``save(check_load=...)``: load every new version in a fresh
        Python process before publishing it.
    size_warning : int or str, optional
        A save that writes a version larger than this (``"100MB"``, bytes) issues a
        :class:`~nbmodels.store.retention.ModelSizeWarning`; default
        ``$NBMODELS_SIZE_WARNING``, else 100 MB; ``0`` turns it off.
    size_growth : float, optional
        The same warning when a version is more than this many percent larger than the
        previous one; default ``$NBMODELS_SIZE_GROWTH``, else 100 (doubled).
    **storage_options
        For a URL root: fsspec storage options (``endpoint_url=...``, ``key=...``).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 check_load: bool = False, size_warning: int | str | None = None,
                 size_growth: float | str | None = None, **storage_options: Any) -> None:
        given, self.root_reason = ((root, "given") if root is not None
                                   else resolve_store_root())
        self.check_load = check_load
        from .retention import size_settings

        #: ``(bytes, percent)`` above which a save warns (:class:`ModelSizeWarning`).
        self.size_limits = size_settings(size_warning, size_growth)
        if is_url(given):
            # A remote store (s3://bucket/prefix): the root stays its URL.
            self.root: Any = StoreURL(str(given).rstrip("/"))
            #: The storage backend every byte of this store goes through.
            self.fs: StorageBackend = open_backend(self.root, **storage_options)
            self._tree = StoreTree(self.fs)
            self._registry = self._tree.registry
            return
        if storage_options:
            raise NBModelsError(f"{', '.join(sorted(storage_options))}: storage options are "
                                f"for a store at a URL (s3://bucket/prefix), not a folder")
        self.root = Path(given).expanduser().absolute()
        if os.path.lexists(self.root) and not os.path.isdir(self.root):
            raise NBModelsError(f"the store root {self.root} is a file, not a folder; point "
                                f"the store at a folder (it is created on the first save)")
        self.fs = open_backend(self.root)
        self._tree = StoreTree(self.fs)
        self._registry = self._tree.registry

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    def exists(self) -> bool:
        """Whether the store's folder exists yet (the first save creates it)."""
        return self.fs.root_exists()

    @staticmethod
    def _split_ref(name: str, version: str) -> tuple[str, str]:
        """``("churn@1.2.0", "latest")`` -> ``("churn", "1.2.0")``; a version given
        both ways must be the same."""
        if isinstance(name, str) and "@" in name:
            name, _, ref_version = name.partition("@")
            if version not in ("latest", ref_version):
                raise InvalidVersionError(f"version given twice: {name}@{ref_version} and "
                                          f"version={version!r}")
            version = ref_version
        return name, version

    # -- resolving -----------------------------------------------------------------------
    def _not_found(self, name: str) -> NBModelsError:
        found = self._registry.scan()
        entry = self._registry.entry(name) if name in found else None
        if entry is not None and entry["damaged"]:
            # Committed versions exist, but none of them has a readable record.
            version, why = next(reversed(entry["damaged"].items()))
            return IntegrityError(
                f"no version of {name!r} has a readable record ("
                f"{self._tree.meta_file(name, version)} {why['problem']}); fix or delete "
                f"it, then run `nbmodels rebuild-index`; `nbmodels verify` lists every "
                f"damaged version")
        names = sorted(n for n in found if n != name)
        close = difflib.get_close_matches(name, names, n=3)
        hint = (f"; did you mean {' or '.join(close)}?" if close else
                f"; models here: {', '.join(names[:10])}" if names else
                f"; the store at {self.root} is empty")
        return ModelNotFoundError(f"no model named {name!r}{hint}")

    def names(self) -> list[str]:
        """Names of the models that have at least one version folder."""
        return sorted(self._registry.scan())

    def latest(self, name: str) -> str:
        """The highest version of ``name`` in semver order.

        Reads one small index file when the index is fresh, never every record.
        """
        validate_name(name)
        head = self._head(name, versions=False)
        if head is None:
            raise self._not_found(name)
        return head["latest"]

    def versions(self, name: str) -> list[str]:
        """Every committed version of ``name``, in ascending semver order."""
        validate_name(name)
        head = self._head(name)
        if head is None:
            raise self._not_found(name)
        return list(head["versions"])

    def unreadable_versions(self, name: str) -> list[str]:
        """Version folders of ``name`` that :meth:`versions` leaves out because they have
        no readable record: a damaged record, or a save still in progress (``nbmodels
        verify`` tells them apart). Ascending semver order."""
        validate_name(name)
        entry = self._registry.entry(name)
        if entry is None:
            return []
        return sort_versions([*entry["pending"], *entry["damaged"]])

    def _head(self, name: str, stamp: Any = None, found: Any = None, *,
              versions: bool = True, entry: bool = False) -> dict[str, Any] | None:
        """The index head of ``name``, after putting back what a killed overwrite hid
        (a version whose folder has no record is looked at on every read anyway).
        ``entry`` also returns a model none of whose versions is readable."""
        get = self._registry.entry if entry else self._registry.head
        head = get(name, stamp, found, versions=versions)
        pending = head.get("pending") if head is not None else None
        if head is None or pending:
            candidates = pending or (found if found is not None
                                     else self._registry.scan()).get(name, [])
            if self._recover(name, candidates):
                head = get(name, versions=versions)
        return head

    def _recover(self, name: str, versions: Any) -> bool:
        """Run the overwrite recovery for ``versions`` of ``name`` if one was interrupted
        and no writer holds the lock now; ``True`` when something changed."""
        from filelock import Timeout

        todo = [v for v in versions if needs_restore(self._tree, name, v)]
        if not todo:
            return False
        changed = False
        try:
            with self._registry.lock(name).acquire(timeout=0):
                for v in todo:
                    changed |= bool(recover(self._tree, name, v))
        except (Timeout, OSError):
            return changed  # a writer is at work, or the store is read-only
        return changed

    def resolve(self, name: str, version: str = "latest") -> str:
        """The exact version meant by ``version``: ``latest``, a semver or an alias."""
        name, version = self._split_ref(name, version)
        validate_name(name)
        if version == "latest":
            return self.latest(name)
        if not isinstance(version, str) or not version:
            raise InvalidVersionError(f"version must be 'latest', a semantic version or an "
                                      f"alias, got {version!r}")
        if not is_version(version):
            # Aliases are never version-shaped, so an exact version does not depend on
            # the aliases file being readable.
            aliases = self._registry.aliases(name)
            if version in aliases:
                target = aliases[version]
                if not self._registry.is_committed(name, target):
                    raise ModelNotFoundError(f"alias {name}@{version} points to {target}, "
                                             f"which no longer exists; set it again with "
                                             f"set_alias")
                return target
            if not aliases and self._registry.head(name, versions=False) is None:
                raise self._not_found(name)
            known = ", ".join(sorted(aliases)) or "none"
            try:
                parse_version(version)  # says what is wrong with a near-version ("v1.0")
            except InvalidVersionError as exc:
                raise ModelNotFoundError(f"{version!r} is neither a version nor an alias of "
                                         f"{name!r} (aliases: {known}); {exc}") from None
        if not self._registry.is_committed(name, version) and not (
                self._recover(name, [version]) and self._registry.is_committed(name, version)):
            if self.fs.exists(self._tree.meta_file(name, version)):
                self._damaged(name, version)  # a FIFO, a link... where the record should be
            try:
                available = self.versions(name)
            except ModelNotFoundError:
                raise self._not_found(name) from None
            shown = ", ".join(available[-5:])
            raise ModelNotFoundError(f"{name} has no version {version}; latest versions: {shown}")
        return version

    def record(self, name: str, version: str = "latest") -> ModelRecord:
        """The metadata record of one version.

        A damaged record (not JSON, NaN, wrong field types, a FIFO in its place...) is
        an :class:`~nbmodels.errors.IntegrityError` that names the file, the reason
        and the repair; other versions are not affected.
        """
        return self._located_record(name, version)[2]

    def _damaged(self, name: str, version: str) -> dict[str, Any]:
        """The record of ``name@version``, or an IntegrityError saying why it is unusable."""
        path = self._tree.meta_file(name, version)
        try:
            data = self._registry.load_record(name, version)
        except DamagedRecord as exc:
            raise IntegrityError(
                f"the record of {name}@{version} is damaged: {path} {exc.reason}; fix it or "
                f"delete it (nbmodels delete {name}@{version}, or remove the file and run "
                f"`nbmodels rebuild-index` to adopt the artifacts again); `nbmodels verify` "
                f"lists every damaged file") from None
        if data is None:
            raise IntegrityError(f"{path} is missing (deleted meanwhile?); run `nbmodels "
                                 f"verify` for details")
        return data

    def _located_record(self, name: str, version: str) -> tuple[str, str, ModelRecord]:
        """``(name, exact version, record)``. Paths are built from the first two, never
        from what the record says about itself: a hand-edited ``model_name`` must not
        point a load at another folder."""
        name, version = self._split_ref(name, version)
        exact = self.resolve(name, version)
        data = self._damaged(name, exact)
        # A record written by hand may leave out what its folder name already says.
        data.setdefault("model_name", name)
        data.setdefault("version", exact)
        return name, exact, ModelRecord(data)

    def aliases(self, name: str) -> dict[str, str]:
        """``alias -> version`` for one model."""
        return self._registry.aliases(validate_name(name))

    # -- saving --------------------------------------------------------------------------
    def save(self, model: Any, name: str, *, version: str | None = None,
             bump: str | None = None, description: str = "", tags: Any = (),
             X: Any = None, y: Any = None, training_dataset: str | None = None,
             metrics: dict[str, Any] | None = None, author: str | None = None,
             overwrite: bool = False, format: str | None = None, force_new: bool = False,
             check_load: bool | None = None, allow_unfitted: bool = False,
             progress: Progress | None = None, **format_options: Any) -> ModelRecord:
        """Save ``model`` as a new version of ``name`` and return its record.

        A model whose bytes are identical to a version already saved under ``name``
        (any version, not only the latest) is not saved again: that version's record is
        returned, with :attr:`ModelRecord.unchanged` saying so and listing what this
        save described differently (record a new description or tags on it with
        :meth:`edit`).

        Parameters
        ----------
        model : object
            The fitted model (anything the chosen format can store).
        name : str
            Model name: letters, digits, ``_``, ``-``, ``.``.
        version : str, optional
            An exact semantic version. By default the next one is chosen: ``1.0.0`` first,
            then ``bump`` applied to the latest.
        bump : {"major", "minor", "patch"}, optional
            Which part to increase when ``version`` is not given. By default it is
            suggested by comparing with the latest version: ``major`` when the interface
            changed (features, their dtypes, classes, estimator), ``minor`` when the
            hyper-parameters changed, ``patch`` otherwise; the record says which rule.
        X, y : optional
            Training data; feature names, the target name, the data's fingerprint and
            schema are taken from them, and a few rows for ``check_load``.
        training_dataset : str, optional
            Where the training data came from (a path), kept in the lineage.
        overwrite : bool
            Replace an existing ``version`` (its evaluation results are removed too).
        format : str, optional
            Force a format (``joblib``, ``pickle``, ``skops``, ``onnx``, ``torch``,
            ``keras``, ``tf_saved_model`` or a plugin); chosen from the object otherwise
            (torch modules go to ``torch``, Keras models to ``keras``, the rest to
            ``joblib``).
        **format_options
            Passed to the format's ``save`` (``X`` is passed too): e.g. ``weights_only``
            for torch, ``save_format="h5"`` for keras, ``target_opset`` for onnx. An
            option the format does not take is an error.
        force_new : bool
            Write a new version even when the model's bytes are identical to a saved
            version's. By default such a save (a re-run notebook cell, the same model
            with another description) writes nothing and returns that version's record.
        check_load : bool, optional
            Load the new version in a fresh Python process and compare its predictions on
            a few rows of ``X`` before publishing it. Defaults to the store's setting.
        allow_unfitted : bool
            Save a scikit-learn estimator that was never fitted; refused by default
            (:class:`~nbmodels.errors.UnfittedModelError`), since it is almost always a
            mistake.
        progress : callable, optional
            ``progress(stage, done, total)`` (see :mod:`nbmodels.progress`), called with
            ``"capture"`` (the record, incl. the training data's fingerprint),
            ``"write"`` (bytes written so far; ``total`` is ``None``: a pickle's size is
            known only at its end) and ``"check_load"``. The panels and magics draw it
            with tqdm (:class:`nbmodels.progress.TqdmProgress`).

        Notebook-defined classes and functions (``__main__``) in the model are saved by
        value with cloudpickle, or the save is refused with a message naming them.
        """
        validate_name(name)
        if version is not None and bump is not None:
            raise InvalidVersionError("give either version= or bump=, not both")
        if version is not None:
            parse_version(version)
        if bump is not None and bump not in BUMPS:
            raise InvalidVersionError(f"bump must be one of {', '.join(BUMPS)}, got {bump!r}")
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not allow_unfitted:
            unfitted = unfitted_reason(model)
            if unfitted:
                raise UnfittedModelError(
                    f"refusing to save {name!r}: {unfitted}; fit it first, or pass "
                    f"allow_unfitted=True to save it unfitted", type(model).__name__)
        fmt = get_format(format) if format else format_for(model)
        fmt.check_available()
        fmt.check_options("save", format_options)
        from .portability import plan_notebook_objects

        # Everything that does not depend on the version is captured before taking the
        # lock, so concurrent savers of one name wait only for the write itself.
        if progress is not None:
            progress("capture", 0, 1)
        captured = capture(model, name=name, version=version or FIRST_VERSION,
                           description=description, tags=tags, X=X, y=y,
                           training_dataset=training_dataset, metrics=metrics, author=author)
        if progress is not None:
            progress("capture", 1, 1)
        record = captured.record
        by_value = plan_notebook_objects(captured.notebook_objects, fmt, name, format_options)
        if by_value:
            note_saved_by_value(record, captured.notebook_objects)
            format_options = {**format_options, "by_value": True}
        given = version
        with self._registry.lock(name):
            skip: set[str] = set()
            while True:
                latest = None
                head = self._registry.head(name, versions=False)
                if head is not None:
                    latest = head["latest"]
                self._refuse_case_twins(name, given, head)
                previous = None
                if given is None:
                    previous = self._registry.read_record(name, latest) if latest else None
                    chosen_bump, reason = choose_bump(record, previous, latest, bump)
                    version = next_version(latest, chosen_bump)
                    # A newer folder with an unreadable record, or a version another
                    # writer claimed first, still owns its version number.
                    while (version in skip
                           or self.fs.exists(self._tree.meta_file(name, version))):
                        version = next_version(version, chosen_bump)
                else:
                    reason = "given"
                record["version"] = version
                record["version_reason"] = reason
                try:
                    saved = write_version(self._tree, SaveJob(
                        model, fmt, record, overwrite=overwrite, head=head,
                        save_options={"X": X, **format_options},
                        dedup=not (force_new or overwrite), previous=previous,
                        explicit_version=reason == "given",
                        check_load=self.check_load if check_load is None else check_load,
                        sample_rows=captured.sample_rows, diagram=captured.diagram,
                        progress=progress))
                    break
                except VersionClaimedError:
                    # Another writer (another machine) took this number first: take the
                    # next one, unless the caller asked for exactly this version.
                    if given is not None or len(skip) >= 100:
                        raise
                    skip.add(version)
        if saved.unchanged is not None and saved.unchanged.requested:
            import warnings

            # Code that named the version may go on to read its folder: say it is absent.
            warnings.warn(str(saved.unchanged), UserWarning, stacklevel=2)
        elif saved.version == version and saved.unchanged is None:
            # A new version was written (not a re-run cell): is it unusually large?
            from .retention import warn_size

            before = (head or {}).get("summary", {}).get("size_bytes") \
                if head and head.get("latest") != version else None
            warn_size(saved.to_dict(), before, *self.size_limits)
        return saved

    def _refuse_case_twins(self, name: str, version: str | None,
                           head: dict[str, Any] | None) -> None:
        """Refuse a new name or version that a case-insensitive disk (macOS, Windows)
        would put in the folder of an existing one."""
        if head is None and self._registry.entry(name) is None:
            twin = self._registry.name_twin(name)
            if twin is not None:
                raise InvalidNameError(
                    f"model name {name!r} differs only by case from the existing model "
                    f"{twin!r}; on macOS and Windows both would be one folder: save as "
                    f"{twin!r} or choose another name")
        if version is not None:
            twin = self._registry.version_twin(name, version)
            if twin is not None:
                raise InvalidVersionError(
                    f"version {version!r} differs only by case from the existing version "
                    f"{name}@{twin}; on macOS and Windows both would be one folder: use "
                    f"{twin!r} or another version")

    def card(self, name: str, version: str = "latest") -> Any:
        """The model card of a version (:class:`~nbmodels.record.card.ModelCard`), with the
        scikit-learn diagram; it shows itself as HTML in a notebook."""
        from ..record.card import ModelCard

        name, exact, rec = self._located_record(name, version)
        return ModelCard(rec.to_dict(), self._tree.read_card_diagram(
            self._tree.meta_dir(name, exact)))

    def version_path(self, kind: str, name: str, version: str) -> Path:
        """The folder of a version under ``trained``, ``metadata`` or ``evaluation``."""
        if kind not in (TRAINED, METADATA, EVALUATION):
            raise ValueError(f"kind must be one of {TRAINED}, {METADATA}, {EVALUATION}")
        validate_name(name)
        parse_version(version)
        rel = {TRAINED: self._tree.trained, METADATA: self._tree.meta_dir,
               EVALUATION: self._tree.evaluation}[kind](name, version)
        return self.root.joinpath(*rel.parts)

    # -- listing -------------------------------------------------------------------------
    def list(self) -> ModelTable:
        """Every model: latest version, versions count, aliases, size, created_at and
        headline metrics.

        A damaged record never hides the others: a model lists its newest readable
        version, and the damaged records met on the way (unreadable ones above it, a
        listed record with fields of the wrong type, models with no readable version)
        are in the table's ``damaged`` notes, which it shows under the table. ``verify``
        finds every damaged record, also below the latest.
        """
        table = ModelTable()
        stamp, entries = self._registry.scan_stamped()
        found = self._registry.scan(entries)
        for name in sorted(found):
            head = self._head(name, stamp, found, versions=False, entry=True)
            if head is None:
                continue
            for version, why in head["damaged"].items():
                table.damaged.append({
                    "name": name, "version": version, "kind": why.get("kind"),
                    "path": str(self._tree.meta_file(name, version)),
                    "problem": why["problem"]})
            if head["latest"] is None:
                continue
            if head["problems"]:  # readable, listed, but not what nbmodels writes
                table.damaged.append({
                    "name": name, "version": head["latest"], "kind": "invalid_metadata",
                    "path": str(self._tree.meta_file(name, head["latest"])),
                    "problem": "; ".join(head["problems"])})
            try:
                aliases = self._registry.aliases(name)
            except AliasFileError as exc:
                aliases = {}
                table.damaged.append({"name": name, "version": None,
                                      "kind": "damaged_aliases",
                                      "path": self._registry.aliases_path(name),
                                      "problem": str(exc)})
            s = head["summary"]
            table.append({"name": name, "latest": head["latest"],
                          "versions": head["count"], "aliases": aliases,
                          "created_at": s.get("created_at"), "size_bytes": s.get("size_bytes"),
                          "format": s.get("format"), "metrics": s.get("metrics") or {},
                          "measured_on": s.get("measured_on"),
                          "description": s.get("description") or "",
                          "tags": s.get("tags") or []})
        from .adopt import loose_fix, loose_folders

        # Hand-made folders that are not versions yet are said, not skipped silently.
        table.unadopted = [f"{top}/{entry}: {loose_fix(self._tree, top, entry)}"
                           for top, entry, _, _ in loose_folders(self._tree, (TRAINED,))]
        return table

    def summary(self, name: str) -> dict[str, Any]:
        """The listing entry of one model (what :meth:`list` shows for it)."""
        rec = self.record(name)
        return {"name": name, "latest": rec.version, "aliases": self.aliases(name),
                **summarize(rec.to_dict())}

    # -- aliases -------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> str:
        """Point ``alias`` (e.g. ``production``) at a version; returns the exact version."""
        validate_name(name)
        validate_alias(alias)
        with self._registry.lock(name):
            exact = self.resolve(name, version)
            aliases, token = self._registry.aliases_for_update(name)
            aliases[alias] = exact
            self._registry.write_aliases(name, aliases, token)
        return exact

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove an alias; an unknown alias is an error that lists the known ones."""
        validate_name(name)
        validate_alias(alias)
        with self._registry.lock(name):
            aliases, token = self._registry.aliases_for_update(name)
            if alias not in aliases:
                known = ", ".join(sorted(aliases)) or "none"
                raise ModelNotFoundError(f"{name} has no alias {alias!r} (aliases: {known})")
            del aliases[alias]
            self._registry.write_aliases(name, aliases, token)

    # -- deleting ------------------------------------------------------------------------
    def delete(self, name: str, version: str, *, force: bool = False) -> str:
        """Delete one version (record first, so it disappears atomically); returns it.

        A version that an alias points to is kept unless ``force=True``, which also
        removes those aliases.
        """
        name, version = self._split_ref(name, version)
        validate_name(name)
        with self._registry.lock(name):
            # A version whose record is damaged (even a FIFO) can still be deleted.
            exact = (version if is_version(version) and self.fs.exists(
                self._tree.meta_file(name, version)) else self.resolve(name, version))
            aliases, token = self._registry.aliases_for_update(name)
            pointing = sorted(a for a, v in aliases.items() if v == exact)
            if pointing and not force:
                raise NBModelsError(f"{name}@{exact} is aliased as {', '.join(pointing)}; move "
                                    f"the alias first or pass force=True", options=("force",))
            if pointing:
                self._registry.write_aliases(name, {a: v for a, v in aliases.items()
                                                    if v != exact}, token)
            tree, fs = self._tree, self.fs
            trained = tree.trained(name, exact)
            if fs.is_dir(trained):
                # Marked first: if a crash stops the delete half way, the artifacts left
                # behind are an orphan for gc, not a hand-made folder that rebuild-index
                # would bring back to life.
                fs.touch(trained / INCOMPLETE_MARKER)
            # The evaluation is moved aside whole while the version is still whole (a
            # crash before the record goes puts it back), then the record goes.
            suffix = os.urandom(4).hex()
            eval_trash = PurePosixPath(EVALUATION, f"{TRASH_PREFIX}{trained.name}-{suffix}")
            if fs.exists(tree.evaluation(name, exact)):
                fs.rename(tree.evaluation(name, exact), eval_trash)
            fs.remove_file(tree.meta_file(name, exact))  # invisible from here on
            fs.sync_dir(tree.meta_dir(name, exact))
            fs.remove_tree(eval_trash)
            # The card before the artifacts: a card is a leftover of ours only while
            # the artifacts beside it are marked.
            fs.remove_tree(tree.meta_dir(name, exact))
            tree.remove_artifacts(trained)
            self._registry.refresh(name)
        return exact

    # -- the model's lock ------------------------------------------------------------------
    def lock(self, name: str) -> Any:
        """The lock that serializes writers of ``name`` (a context manager, reentrant in
        this process): hold it around a read-modify-write of a version's files."""
        return self._registry.lock(validate_name(name))

    # -- shared with the base classes -------------------------------------------------------
    def _split_resolve(self, name: str, version: str) -> tuple[str, str]:
        name, version = self._split_ref(name, version)
        return name, self.resolve(name, version)
