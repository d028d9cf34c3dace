"""ModelStore: save, version, load, list, verify and repair a plain-files model store."""

from __future__ import annotations

import difflib
import os
import weakref
from pathlib import Path
from typing import Any

from . import _io
from .errors import (
    IntegrityError,
    InvalidVersionError,
    ModelNotFoundError,
    NBModelsError,
    VersionExistsError,
)
from .formats import ArtifactSink, ArtifactSource, format_for, get_format, list_formats
from .layout import (
    EVALUATION,
    INCOMPLETE_MARKER,
    METADATA,
    METADATA_FILE,
    MODEL_CARD,
    TMP_PREFIX,
    TRAINED,
    TRASH_PREFIX,
    parse_version_dir,
    validate_alias,
    validate_name,
    version_dir,
)
from .metadata import base_record, utc_now
from .records import SCHEMA_VERSION, ModelRecord
from .registry import Registry, summarize
from .reports import GCReport, ModelTable, Problem, RebuildReport, VerifyReport
from .versions import next_version, parse_version, sort_versions

__all__ = ["ModelStore", "default_root", "provenance"]

# Where a loaded object came from, without touching the object itself.
_PROVENANCE: weakref.WeakKeyDictionary[Any, tuple[str, str, str]] = weakref.WeakKeyDictionary()
_PROVENANCE_BY_ID: dict[int, tuple[Any, tuple[str, str, str]]] = {}


def default_root() -> Path:
    """``$NBMODELS_HOME`` if set, else ``./models``."""
    return Path(os.environ.get("NBMODELS_HOME") or "models")


def provenance(model: Any) -> tuple[str, str, str] | None:
    """``(store_root, name, version)`` of an object returned by :meth:`ModelStore.load`."""
    try:
        return _PROVENANCE.get(model)
    except TypeError:  # not weak-referenceable
        entry = _PROVENANCE_BY_ID.get(id(model))
        return entry[1] if entry and entry[0] is model else None


def _remember(model: Any, where: tuple[str, str, str]) -> None:
    try:
        _PROVENANCE[model] = where
    except TypeError:
        _PROVENANCE_BY_ID[id(model)] = (model, where)


def _split_ref(name: str, version: str) -> tuple[str, str]:
    if "@" in name:
        name, _, ref_version = name.partition("@")
        if version not in ("latest", ref_version):
            raise InvalidVersionError(f"version given twice: {name}@{ref_version} and "
                                      f"version={version!r}")
        version = ref_version
    return name, version


class ModelStore:
    """A versioned model store in a plain folder.

    Parameters
    ----------
    root : str or Path, optional
        The store's folder; ``$NBMODELS_HOME`` or ``./models`` by default. It is created
        on the first save.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.root = self.root.expanduser().absolute()
        self._registry = Registry(self.root)

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------
    def _trained(self, name: str, version: str) -> Path:
        return self.root / TRAINED / version_dir(name, version)

    def _meta_dir(self, name: str, version: str) -> Path:
        return self.root / METADATA / version_dir(name, version)

    def _meta_file(self, name: str, version: str) -> Path:
        return self._meta_dir(name, version) / METADATA_FILE

    def _rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))

    # -- resolving -----------------------------------------------------------------------
    def _not_found(self, name: str) -> ModelNotFoundError:
        names = self.names()
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
        head = self._registry.head(name)
        if head is None:
            raise self._not_found(name)
        return head["latest"]

    def versions(self, name: str) -> list[str]:
        """Every committed version of ``name``, in ascending semver order."""
        validate_name(name)
        found = self._registry.committed_versions(name, self._registry.scan().get(name, []))
        if not found:
            raise self._not_found(name)
        return found

    def resolve(self, name: str, version: str = "latest") -> str:
        """The exact version meant by ``version``: ``latest``, a semver or an alias."""
        name, version = _split_ref(name, version)
        validate_name(name)
        if version == "latest":
            return self.latest(name)
        if not isinstance(version, str) or not version:
            raise InvalidVersionError(f"version must be 'latest', a semantic version or an "
                                      f"alias, got {version!r}")
        aliases = self._registry.aliases(name)
        if version in aliases:
            target = aliases[version]
            if not _io.exists(self._meta_file(name, target)):
                raise ModelNotFoundError(f"alias {name}@{version} points to {target}, which no "
                                         f"longer exists; set it again with set_alias")
            return target
        try:
            parse_version(version)
        except InvalidVersionError:
            known = ", ".join(sorted(aliases)) or "none"
            raise ModelNotFoundError(f"{version!r} is neither a version nor an alias of "
                                     f"{name!r} (aliases: {known})") from None
        if not _io.exists(self._meta_file(name, version)):
            try:
                available = self.versions(name)
            except ModelNotFoundError:
                raise self._not_found(name) from None
            shown = ", ".join(available[-5:])
            raise ModelNotFoundError(f"{name} has no version {version}; latest versions: {shown}")
        return version

    def record(self, name: str, version: str = "latest") -> ModelRecord:
        """The metadata record of one version."""
        name, version = _split_ref(name, version)
        exact = self.resolve(name, version)
        data = self._registry.read_record(name, exact)
        if data is None:
            raise IntegrityError(f"{self._rel(self._meta_file(name, exact))} is unreadable or "
                                 f"not valid JSON; run `nbmodels verify` for details")
        return ModelRecord(data)

    def aliases(self, name: str) -> dict[str, str]:
        """``alias -> version`` for one model."""
        return self._registry.aliases(validate_name(name))

    # -- saving --------------------------------------------------------------------------
    def save(self, model: Any, name: str, *, version: str | None = None,
             bump: str | None = None, description: str = "", tags: Any = (),
             X: Any = None, y: Any = None, training_dataset: str | None = None,
             metrics: dict[str, Any] | None = None, author: str | None = None,
             overwrite: bool = False, format: str | None = None) -> ModelRecord:
        """Save ``model`` as a new version of ``name`` and return its record.

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
            Which part to increase when ``version`` is not given (``minor`` by default).
        X, y : optional
            Training data; feature names and the target name are taken from them.
        overwrite : bool
            Replace an existing ``version`` (its evaluation results are removed too).
        format : str, optional
            Force a format (``joblib``, ``pickle`` or a plugin); chosen from the object
            otherwise.
        """
        validate_name(name)
        if version is not None and bump is not None:
            raise InvalidVersionError("give either version= or bump=, not both")
        if version is not None:
            parse_version(version)
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        fmt = get_format(format) if format else format_for(model)
        fmt.check_available()
        with self._registry.lock(name):
            latest = None
            head = self._registry.head(name)
            if head is not None:
                latest = head["latest"]
            if version is None:
                chosen_bump = bump or "minor"
                version = next_version(latest, chosen_bump)
                # A newer folder with an unreadable record still owns its version number.
                while _io.exists(self._meta_file(name, version)):
                    version = next_version(version, chosen_bump)
                reason = ("first version" if latest is None else
                          f"{chosen_bump} bump from {latest}")
            else:
                reason = "given"
            record = base_record(model, name=name, version=version, description=description,
                                 tags=tags, X=X, y=y, training_dataset=training_dataset,
                                 metrics=metrics, author=author)
            record["version_reason"] = reason
            return self._write_version(model, fmt, record, overwrite=overwrite)

    def _write_version(self, model: Any, fmt: Any, record: dict[str, Any], *,
                       overwrite: bool) -> ModelRecord:
        """Artifacts to a temp folder, fsync, rename, then the record: the commit point."""
        name, version = record["model_name"], record["version"]
        trained, meta_dir = self._trained(name, version), self._meta_dir(name, version)
        meta_file = meta_dir / METADATA_FILE
        exists = _io.exists(meta_file)
        if exists and not overwrite:
            raise VersionExistsError(f"{name}@{version} already exists; versions are immutable: "
                                     f"save without version= to get the next one, or pass "
                                     f"overwrite=True to replace it")
        if not exists and _io.exists(trained):
            if _io.exists(trained / INCOMPLETE_MARKER):
                _io.remove_tree(trained)  # left by a crashed save; we hold the lock
            elif not overwrite:
                raise VersionExistsError(f"{self._rel(trained)} exists but was not saved by "
                                         f"nbmodels; run `nbmodels rebuild-index` to adopt it, "
                                         f"or pass overwrite=True to replace it")
        tmp = _io.new_temp_dir(self.root / TRAINED, f"{TMP_PREFIX}{version_dir(name, version)}-")
        trash = None
        try:
            _io.atomic_write_bytes(tmp / INCOMPLETE_MARKER, b"", durable=False)
            sink = ArtifactSink(tmp)
            try:
                record["format_info"] = fmt.save(model, sink)
                files = sink.digests()
            except BaseException:
                sink.abort()
                raise
            _io.fsync_dir(tmp)
            record["format"] = fmt.name
            record["files"] = [f.to_dict() for f in files]
            record["size_bytes"] = sum(f.size for f in files)
            record["origin"] = "saved"
            if _io.exists(trained):
                trash = self.root / TRAINED / f"{TRASH_PREFIX}{version_dir(name, version)}-" \
                    f"{os.urandom(4).hex()}"
                _io.rename(trained, trash)
            _io.rename(tmp, trained)
        except BaseException:
            _io.remove_tree(tmp)
            raise
        _io.make_dirs(meta_dir)
        self._write_card(meta_dir, record)
        _io.atomic_write_json(meta_file, record)  # the commit point
        _io.remove_file(trained / INCOMPLETE_MARKER)
        if trash is not None:
            _io.remove_tree(trash)
            _io.remove_tree(self.root / EVALUATION / version_dir(name, version))
        self._registry.refresh(name)
        return ModelRecord(record)

    def _write_card(self, meta_dir: Path, record: dict[str, Any]) -> None:
        from .cards import model_card

        _io.atomic_write_bytes(meta_dir / MODEL_CARD, model_card(record).encode("utf-8"))

    def update_record(self, name: str, version: str, updates: dict[str, Any]) -> ModelRecord:
        """Merge ``updates`` into a version's record atomically and return the new record.

        Only descriptive keys may change (metrics, evaluations, description, tags, ...);
        what identifies the artifacts (name, version, format, files) is immutable.
        """
        name, version = _split_ref(name, version)
        protected = {"model_name", "version", "format", "format_info", "files", "size_bytes",
                     "schema_version", "origin"}
        touched = protected & set(updates)
        if touched:
            raise NBModelsError(f"cannot change {', '.join(sorted(touched))} of a saved "
                                f"version; save a new version instead")
        with self._registry.lock(name):
            exact = self.resolve(name, version)
            data = self._registry.read_record(name, exact)
            if data is None:
                raise IntegrityError(f"{self._rel(self._meta_file(name, exact))} is unreadable")
            for key, value in updates.items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key] = {**data[key], **value}
                else:
                    data[key] = value
            data["updated_at"] = utc_now()
            self._write_card(self._meta_dir(name, exact), data)
            _io.atomic_write_json(self._meta_file(name, exact), data)
            self._registry.refresh(name)
        return ModelRecord(data)

    def version_path(self, kind: str, name: str, version: str) -> Path:
        """The folder of a version under ``trained``, ``metadata`` or ``evaluation``."""
        if kind not in (TRAINED, METADATA, EVALUATION):
            raise ValueError(f"kind must be one of {TRAINED}, {METADATA}, {EVALUATION}")
        validate_name(name)
        parse_version(version)
        return self.root / kind / version_dir(name, version)

    # -- loading -------------------------------------------------------------------------
    def load(self, name: str, version: str = "latest") -> Any:
        """Load a version: ``latest``, an exact semver, or an alias (``name@ref`` works too).

        Every artifact's size and sha256 are checked against the record before anything
        is deserialized; a mismatch raises :class:`IntegrityError` naming the file.
        """
        rec = self.record(name, version)
        fmt = get_format(rec.format or "joblib")
        fmt.check_available()
        if not rec.files:
            raise IntegrityError(f"{rec.ref} has no file hashes in its record (a folder made "
                                 f"by hand); run `nbmodels rebuild-index` to adopt it")
        source = ArtifactSource(self._trained(rec.name, rec.version), rec.files)
        model = fmt.load(source, dict(rec.get("format_info") or {}))
        _remember(model, (str(self.root), rec.name, rec.version))
        return model

    # -- listing -------------------------------------------------------------------------
    def list(self) -> ModelTable:
        """Every model: latest version, aliases, size, created_at and headline metrics."""
        table = ModelTable()
        for name, versions in sorted(self._registry.scan().items()):
            head = self._registry.head(name, versions)
            if head is None:
                continue
            s = head["summary"]
            table.append({"name": name, "latest": head["latest"],
                          "aliases": self._registry.aliases(name),
                          "created_at": s.get("created_at"), "size_bytes": s.get("size_bytes"),
                          "format": s.get("format"), "metrics": s.get("metrics") or {},
                          "description": s.get("description") or "",
                          "tags": s.get("tags") or []})
        return table

    # -- aliases -------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> str:
        """Point ``alias`` (e.g. ``production``) at a version; returns the exact version."""
        validate_name(name)
        validate_alias(alias)
        with self._registry.lock(name):
            exact = self.resolve(name, version)
            aliases = self._registry.aliases(name)
            aliases[alias] = exact
            self._registry.write_aliases(name, aliases)
        return exact

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove an alias; an unknown alias is an error that lists the known ones."""
        validate_name(name)
        with self._registry.lock(name):
            aliases = self._registry.aliases(name)
            if alias not in aliases:
                known = ", ".join(sorted(aliases)) or "none"
                raise ModelNotFoundError(f"{name} has no alias {alias!r} (aliases: {known})")
            del aliases[alias]
            self._registry.write_aliases(name, aliases)

    # -- deleting ------------------------------------------------------------------------
    def delete(self, name: str, version: str, *, force: bool = False) -> str:
        """Delete one version (record first, so it disappears atomically); returns it.

        A version that an alias points to is kept unless ``force=True``, which also
        removes those aliases.
        """
        name, version = _split_ref(name, version)
        validate_name(name)
        with self._registry.lock(name):
            exact = self.resolve(name, version)
            aliases = self._registry.aliases(name)
            pointing = sorted(a for a, v in aliases.items() if v == exact)
            if pointing and not force:
                raise NBModelsError(f"{name}@{exact} is aliased as {', '.join(pointing)}; move "
                                    f"the alias first or pass force=True")
            _io.remove_file(self._meta_file(name, exact))  # invisible from here on
            _io.fsync_dir(self._meta_dir(name, exact))
            for top in (METADATA, TRAINED, EVALUATION):
                _io.remove_tree(self.root / top / version_dir(name, exact))
            if pointing:
                self._registry.write_aliases(name, {a: v for a, v in aliases.items()
                                                    if v != exact})
            self._registry.refresh(name)
        return exact

    # -- integrity -----------------------------------------------------------------------
    def verify(self, *, deep: bool = True) -> VerifyReport:
        """Check every version: records readable, files present, sizes and hashes right.

        Also reports what a crash left behind (orphans, for :meth:`gc`), folders made by
        hand that are not adopted yet, and a stale index. ``deep=False`` checks sizes
        only, not hashes.
        """
        report = VerifyReport(str(self.root))
        problems = report.problems
        meta_root, trained_root = self.root / METADATA, self.root / TRAINED
        committed: dict[str, list[str]] = {}
        for entry in sorted(_io.list_dir(meta_root)):
            parsed = parse_version_dir(entry)
            path = meta_root / entry
            if parsed is None:
                if entry.endswith(".tmp"):
                    problems.append(Problem("orphan", self._rel(path), "temporary file"))
                continue
            name, version = parsed
            for stray in _io.list_dir(path):
                if stray.endswith(".tmp"):
                    problems.append(Problem("orphan", self._rel(path / stray),
                                            "temporary file of an interrupted write", name,
                                            version))
            if not _io.exists(path / METADATA_FILE):
                if self._crash_leftover_meta(name, version):
                    problems.append(Problem("orphan", self._rel(path), "record folder of an "
                                            "interrupted save (no metadata.json)", name, version))
                continue
            data = self._registry.read_record(name, version)
            if data is None:
                problems.append(Problem("invalid_metadata", self._rel(path / METADATA_FILE),
                                        "unreadable or invalid JSON", name, version))
                continue
            committed.setdefault(name, []).append(version)
            report.versions_checked += 1
            files = data.get("files")
            if not files:
                problems.append(Problem("unadopted", self._rel(path), "record has no file "
                                        "hashes; run rebuild-index to adopt it", name, version))
                continue
            self._verify_files(name, version, files, deep, report)
        for entry in sorted(_io.list_dir(trained_root)):
            path = trained_root / entry
            if entry.startswith((TMP_PREFIX, TRASH_PREFIX)):
                problems.append(Problem("orphan", self._rel(path), "temporary folder of an "
                                        "interrupted save"))
                continue
            parsed = parse_version_dir(entry)
            if parsed is None or not _io.is_dir(path):
                continue
            if _io.exists(self._meta_file(*parsed)):
                continue
            if _io.exists(path / INCOMPLETE_MARKER):
                problems.append(Problem("orphan", self._rel(path), "artifacts of an "
                                        "interrupted save (never committed)", *parsed))
            else:
                problems.append(Problem("unadopted", self._rel(path), "artifacts without a "
                                        "record; run rebuild-index to adopt them", *parsed))
        for entry in sorted(_io.list_dir(self.root / EVALUATION)):
            parsed = parse_version_dir(entry)
            if parsed and not _io.exists(self._meta_file(*parsed)) \
                    and not _io.exists(self._trained(*parsed)):
                problems.append(Problem("dangling", self._rel(self.root / EVALUATION / entry),
                                        "evaluation of a version that does not exist", *parsed))
        self._verify_index(committed, problems)
        return report

    def _crash_leftover_meta(self, name: str, version: str) -> bool:
        """A record folder without metadata.json that only a save of ours could have left."""
        contents = set(_io.list_dir(self._meta_dir(name, version)))
        return all(c == MODEL_CARD or c.endswith(".tmp") for c in contents)

    def _verify_files(self, name: str, version: str, files: list[dict[str, Any]], deep: bool,
                      report: VerifyReport) -> None:
        trained = self._trained(name, version)
        for f in files:
            path = trained / f["name"]
            report.files_checked += 1
            if not _io.exists(path):
                report.problems.append(Problem("missing", self._rel(path), "listed in the "
                                               "record but not on disk", name, version))
                continue
            digest = _io.sha256_file(path) if deep else None
            size = digest.size if digest else _io.file_size(path)
            if size != f["size"]:
                report.problems.append(Problem("corrupt", self._rel(path), f"{size} bytes, "
                                               f"record says {f['size']}", name, version))
            elif digest and digest.sha256 != f["sha256"]:
                report.problems.append(Problem("corrupt", self._rel(path), f"sha256 "
                                               f"{digest.sha256}, record says {f['sha256']}",
                                               name, version))

    def _verify_index(self, committed: dict[str, list[str]], problems: list[Problem]) -> None:
        for name, versions in sorted(committed.items()):
            head = self._registry.fresh_head(name)
            truth = sort_versions(versions)[-1]
            if head is None or head["latest"] != truth:
                problems.append(Problem("stale_index", f"registry/index/{name}", "index does not "
                                        f"match metadata/ (latest is {truth}); it is repaired on "
                                        f"the next read or by rebuild-index", name))
        for name in self._registry.indexed_names():
            if name not in committed:
                problems.append(Problem("stale_index", f"registry/index/{name}", "index entry for "
                                        "a model with no versions", name))
        for name in self._registry.aliased_names():
            for alias, target in self._registry.aliases(name).items():
                if target not in committed.get(name, []):
                    problems.append(Problem("stale_index", f"registry/aliases/{name}.json",
                                            f"alias {alias} points to missing version {target}",
                                            name, target))

    def gc(self, *, dry_run: bool = False) -> GCReport:
        """Remove what interrupted saves left behind; report the bytes reclaimed.

        Only leftovers of nbmodels' own saves are removed (temp folders, uncommitted
        artifacts, half-written record folders); folders made by hand are never touched.
        A model whose save is in progress in another process is skipped.
        """
        report = GCReport(str(self.root), dry_run)
        for problem in self.verify(deep=False).by_kind("orphan"):
            path = self.root / problem.path
            name = problem.name or _name_of_temp(Path(problem.path).name)
            if name and self._registry.is_locked_elsewhere(name):
                report.skipped.append((problem.path, "a save of this model is in progress"))
                continue
            size = _io.tree_size(path) if _io.is_dir(path) else _io.file_size(path)
            if not dry_run:
                _io.remove_tree(path)
            report.removed.append((problem.path, size))
        return report

    def rebuild_index(self) -> RebuildReport:
        """Recreate ``registry/index`` from ``metadata/`` and adopt hand-made folders.

        A folder in the seed convention (``trained/{name}_v{version}/model.joblib``, with
        a ``metadata.json`` of the seed's keys or with none) gets a full record with file
        hashes, so it is listed, verified and loaded like any saved version.
        """
        report = RebuildReport(str(self.root))
        candidates = set()
        for top in (TRAINED, METADATA):
            for entry in _io.list_dir(self.root / top):
                parsed = parse_version_dir(entry)
                if parsed:
                    candidates.add(parsed)
        for name, version in sorted(candidates):
            with self._registry.lock(name):
                self._adopt(name, version, report)
        self._registry.drop_index()
        found = self._registry.scan()
        for name, versions in sorted(found.items()):
            committed = self._registry.committed_versions(name, versions)
            if committed and self._registry.refresh(name, versions) is not None:
                report.models += 1
                report.versions += len(committed)
        for name in self._registry.aliased_names():
            with self._registry.lock(name):
                aliases = self._registry.aliases(name)
                kept = {a: v for a, v in aliases.items() if _io.exists(self._meta_file(name, v))}
                report.dropped_aliases += [f"{name}@{a}" for a in sorted(set(aliases) - set(kept))]
                if kept != aliases:
                    self._registry.write_aliases(name, kept)
        return report

    def _adopt(self, name: str, version: str, report: RebuildReport) -> None:
        trained, meta_file = self._trained(name, version), self._meta_file(name, version)
        existing = self._registry.read_record(name, version) if _io.exists(meta_file) else None
        if _io.exists(meta_file) and existing is None:
            report.skipped.append((self._rel(meta_file), "invalid JSON; fix or delete it"))
            return
        if existing is not None and existing.get("files"):
            return  # a complete record already
        if not _io.is_dir(trained) or _io.exists(trained / INCOMPLETE_MARKER):
            if existing is not None:
                report.skipped.append((self._rel(meta_file), "record without artifacts"))
            return
        present = [p.name for p in _io.iter_files(trained)]
        for fmt in list_formats():
            info = fmt.adopt(present)
            if info is not None:
                break
        else:
            report.skipped.append((self._rel(trained), "no artifact in a known format "
                                   f"(found: {', '.join(present) or 'nothing'})"))
            return
        digests = [_io.sha256_file(trained / f) for f in present]
        record: dict[str, Any] = dict(existing or {})
        for key in ("model_name", "version"):
            if record.get(key) not in (None, name if key == "model_name" else version):
                record[f"original_{key}"] = record[key]
        created = record.get("created_at") or _io.mtime_iso(trained / present[0])
        record.update({"schema_version": SCHEMA_VERSION, "model_name": name, "version": version,
                       "created_at": created, "format": fmt.name, "format_info": info,
                       "files": [d.to_dict() for d in digests],
                       "size_bytes": sum(d.size for d in digests), "origin": "adopted",
                       "adopted_at": utc_now()})
        for key, default in (("description", ""), ("tags", []), ("metrics", {}),
                             ("hyperparameters", {})):
            record.setdefault(key, default)
        meta_dir = meta_file.parent
        _io.make_dirs(meta_dir)
        if not _io.exists(meta_dir / MODEL_CARD):
            self._write_card(meta_dir, record)
        _io.atomic_write_json(meta_file, record)
        report.adopted.append(f"{name}@{version}")

    def summary(self, name: str) -> dict[str, Any]:
        """The listing entry of one model (what :meth:`list` shows for it)."""
        rec = self.record(name)
        return {"name": name, "latest": rec.version, "aliases": self.aliases(name),
                **summarize(rec.to_dict())}


def _name_of_temp(entry: str) -> str | None:
    for prefix in (TMP_PREFIX, TRASH_PREFIX):
        if entry.startswith(prefix):
            parsed = parse_version_dir(entry[len(prefix):].rsplit("-", 1)[0])
            return parsed[0] if parsed else None
    return None
