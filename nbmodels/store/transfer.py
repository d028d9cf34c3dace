"""Moving whole versions into a store: the publish step shared by import and copy.

A version that comes from elsewhere (an archive, another store) arrives as an
:class:`IncomingVersion`: its record, card and evaluation files, and a way to stream its
artifacts. :func:`publish_incoming` writes it with the same order as a save: artifacts
into a temporary folder (marked incomplete), each hashed while written and compared with
the record, renamed into place, the card, then ``metadata.json`` created exclusively (the
commit point); the evaluation files follow as one publication. A version that already
exists with the same artifacts is skipped; one that exists with other bytes is refused.
A copy between stores (:func:`copy_versions`) then carries the source's aliases of the
copied versions (:func:`carry_aliases`): set where the target has none of that name,
never moved silently from another version the target gave it.

Everything goes through the target store's backend, so a remote store works the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from ..errors import ConcurrentUpdateError, IntegrityError, VersionExistsError
from ..record.capture import utc_now
from ..record.record import bad_file_entry
from ..storage.backend import StorageBackend, json_bytes
from ..storage.layout import (
    INCOMPLETE_MARKER,
    MODEL_CARD,
    TMP_PREFIX,
    TRAINED,
    validate_name,
    version_dir,
)
from . import evaluations
from .tree import StoreTree

__all__ = [
    "MAX_EVALUATION_FILE",
    "MOVE_ALIASES_WORDS",
    "IncomingVersion",
    "TransferReport",
    "carry_aliases",
    "check_incoming_record",
    "conflict_error",
    "copy_versions",
    "file_set",
    "publish_incoming",
    "read_evaluation_files",
    "same_artifacts",
    "version_state",
]

_CHUNK = 4 << 20
#: One evaluation file (a plot, report.html) is at most this large.
MAX_EVALUATION_FILE = 64 << 20


@dataclass
class IncomingVersion:
    """One version to publish: what it says about itself and where its bytes come from.

    ``evaluation`` maps a path inside the version's evaluation folder (``metrics.json``,
    ``holdout/metrics.json``) to its bytes; ``open_artifact(name)`` streams one artifact.
    """

    name: str
    version: str
    record: dict[str, Any]
    card: bytes | None
    evaluation: dict[str, bytes]
    open_artifact: Callable[[str], BinaryIO]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


#: How each face asks to move an alias the target already has at another version.
MOVE_ALIASES_WORDS = {"python": "move_aliases=True", "cli": "--move-aliases"}


@dataclass
class TransferReport:
    """What an import or a copy did: versions written, skipped as identical, aliases.

    Aliases (each ``name@alias -> version``): ``aliases_set`` were new in the target;
    ``aliases_moved`` were at another version there and moved because the caller asked
    (``move_aliases=True``); ``aliases_kept`` were at another version there and left as
    they were: the move was refused (the version is the target's, ``(source: ...)``
    says where the source points).
    """

    target: str
    imported: list[str] = field(default_factory=list)
    identical: list[str] = field(default_factory=list)
    aliases_set: list[str] = field(default_factory=list)
    aliases_kept: list[str] = field(default_factory=list)
    source: str = ""
    aliases_moved: list[str] = field(default_factory=list)
    #: Whether the aliases kept could have been moved on request (a copy between stores).
    can_move_aliases: bool = False

    def __repr__(self) -> str:
        return self.text()

    def text(self, face: str = "python") -> str:
        """The report for people, naming options in ``face``'s words (``python``, ``cli``)."""
        lines = [
            f"into {self.target}: {len(self.imported)} version(s) written, "
            f"{len(self.identical)} identical skipped"
        ]
        lines += [f"  + {ref}" for ref in self.imported]
        lines += [f"  = {ref} (identical, skipped)" for ref in self.identical]
        lines += [f"  alias {a} set" for a in self.aliases_set]
        lines += [f"  alias {a} moved" for a in self.aliases_moved]
        if self.can_move_aliases:
            option = MOVE_ALIASES_WORDS.get(face, MOVE_ALIASES_WORDS["python"])
            lines += [
                f"  alias {a} refused: kept as it was in the target; pass {option} to move it"
                for a in self.aliases_kept
            ]
        else:
            lines += [
                f"  alias {a} kept as it was in the target (differs in the source)"
                for a in self.aliases_kept
            ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["can_move_aliases"]  # how to word the report, not what happened
        return out


def file_set(record: dict[str, Any]) -> set[tuple[str, int, str]]:
    """The artifacts a record describes, as ``(name, size, sha256)``."""
    return {(f["name"], f["size"], f["sha256"]) for f in record.get("files") or []}


def same_artifacts(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records describe the same artifact bytes."""
    return bool(a.get("files")) and file_set(a) == file_set(b)


def version_state(tree: StoreTree, name: str, version: str, record: dict[str, Any]) -> str:
    """``"absent"``, ``"identical"`` or ``"different"``: ``name@version`` in ``tree``
    compared with ``record``."""
    if not tree.fs.exists(tree.meta_file(name, version)):
        return "absent"
    existing = tree.registry.read_record(name, version)
    if existing is not None and same_artifacts(existing, record):
        return "identical"
    return "different"


def check_incoming_record(name: str, version: str, record: Any) -> dict[str, Any]:
    """The record of an incoming version, refused unless it names this version and lists
    sound artifact entries."""
    if not isinstance(record, dict):
        raise IntegrityError(f"the record of {name}@{version} is not a JSON object")
    for key, expected in (("model_name", name), ("version", version)):
        if record.get(key, expected) != expected:
            raise IntegrityError(
                f"the record of {name}@{version} says {key} is {record.get(key)!r}; refusing it"
            )
    bad = bad_file_entry(record.get("files"))
    if bad or not record.get("files"):
        raise IntegrityError(
            f"the record of {name}@{version} is damaged: {bad or 'it lists no artifact files'}"
        )
    names = [f["name"] for f in record["files"]]
    if len(names) != len(set(names)) or any(n.startswith(".") for n in names):
        raise IntegrityError(
            f"the record of {name}@{version} lists an artifact twice or a hidden file name"
        )
    return record


def conflict_error(refs: list[str], target: str) -> VersionExistsError:
    """The refusal for versions the target holds with other bytes."""
    return VersionExistsError(
        f"{', '.join(refs)} already exist{'s' if len(refs) == 1 else ''} in {target} with "
        f"different artifacts; versions are immutable, so nothing was copied: delete "
        f"{'it' if len(refs) == 1 else 'them'} there first or save under a new version"
    )


def publish_incoming(tree: StoreTree, incoming: IncomingVersion, provenance: dict[str, Any]) -> str:
    """Publish ``incoming`` into ``tree``; returns ``"imported"`` or ``"identical"``.

    The record gets ``origin: imported`` and ``imported`` (``provenance`` plus the
    original origin and the time). Artifacts are hashed while written and compared
    with the record before the commit; a mismatch raises :class:`IntegrityError` and
    leaves nothing behind.
    """
    fs = tree.fs
    name, version = validate_name(incoming.name), incoming.version
    record = check_incoming_record(name, version, dict(incoming.record))
    with tree.registry.lock(name):
        head = tree.registry.head(name)
        state = version_state(tree, name, version, record)
        if state == "identical":
            _fill_evaluation(tree, incoming)
            return "identical"
        if state == "different":
            raise conflict_error([incoming.ref], fs.url)
        trained, meta_dir = tree.trained(name, version), tree.meta_dir(name, version)
        _clear_leftovers(tree, name, version)
        record["origin"] = "imported"
        record["imported"] = {
            **provenance,
            "original_origin": incoming.record.get("origin"),
            "imported_at": utc_now(),
        }
        tmp = fs.new_temp_dir(PurePosixPath(TRAINED), f"{TMP_PREFIX}{version_dir(name, version)}-")
        moved = False
        try:
            fs.touch(tmp / INCOMPLETE_MARKER)
            for entry in record["files"]:
                _copy_artifact(fs, incoming, entry, tmp / entry["name"])
            fs.sync_dir(tmp)
            fs.rename(tmp, trained)
            moved = True
            fs.make_dirs(meta_dir)
            if incoming.card is not None:
                fs.replace(meta_dir / MODEL_CARD, incoming.card)
            else:
                tree.write_card(meta_dir, record)
            fs.create_exclusive(tree.meta_file(name, version), json_bytes(record))
        except BaseException:
            fs.remove_tree(tmp)
            if moved and not fs.exists(tree.meta_file(name, version)):
                tree.remove_artifacts(trained)
                if tree.is_crash_leftover_meta(name, version):
                    fs.remove_tree(meta_dir)
            raise
        fs.remove_file(trained / INCOMPLETE_MARKER)
        _fill_evaluation(tree, incoming)
        tree.registry.committed(name, version, record, head)
    return "imported"


def _clear_leftovers(tree: StoreTree, name: str, version: str) -> None:
    """Under the lock, with no record: remove what a crashed save or import left, refuse a
    hand-made folder."""
    fs = tree.fs
    trained = tree.trained(name, version)
    if fs.exists(trained):
        if not fs.exists(trained / INCOMPLETE_MARKER):
            raise VersionExistsError(
                f"{fs.display(trained)} exists but was not saved by "
                f"nbmodels; run `nbmodels rebuild-index` to adopt it or "
                f"move it away, then import again"
            )
        tree.remove_artifacts(trained)
    meta_dir = tree.meta_dir(name, version)
    if fs.exists(meta_dir) and tree.is_crash_leftover_meta(name, version):
        fs.remove_tree(meta_dir)
    # Results of a version that does not exist belong to nothing.
    fs.remove_tree(tree.evaluation(name, version))


def _copy_artifact(
    fs: StorageBackend, incoming: IncomingVersion, entry: dict[str, Any], dest: PurePosixPath
) -> None:
    """Stream one artifact into ``dest``, hashing it, and compare with the record."""
    writer = fs.hashing_writer(dest, entry["name"])
    try:
        with incoming.open_artifact(entry["name"]) as src:
            copied = 0
            while chunk := src.read(_CHUNK):
                copied += len(chunk)
                if copied > entry["size"]:
                    break
                writer.write(chunk)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    digest = writer.digest
    if digest.size != entry["size"] or digest.sha256 != entry["sha256"]:
        raise IntegrityError(
            f"artifact {entry['name']} of {incoming.ref} does not match its "
            f"record (sha256 {digest.sha256}, {digest.size} bytes; record: "
            f"{entry['sha256']}, {entry['size']} bytes); nothing of this "
            f"version was published"
        )


def _fill_evaluation(tree: StoreTree, incoming: IncomingVersion) -> None:
    """Publish the incoming evaluation files that the target lacks (one folder at a
    time, each all at once)."""
    if not incoming.evaluation:
        return
    groups: dict[str | None, dict[str, bytes]] = {}
    for rel, data in incoming.evaluation.items():
        dataset, _, filename = rel.rpartition("/")
        groups.setdefault(dataset or None, {})[filename] = data
    name, version = incoming.name, incoming.version
    for dataset in sorted(groups, key=lambda d: (d is not None, d or "")):
        present = set(evaluations.list_files(tree, name, version, dataset))
        missing = {f: b for f, b in groups[dataset].items() if f not in present}
        if missing:
            evaluations.write_files(tree, name, version, missing, dataset=dataset)


def read_evaluation_files(tree: StoreTree, name: str, version: str) -> Iterator[tuple[str, bytes]]:
    """``(path inside the evaluation folder, bytes)`` of every evaluation file of a
    version: the default data set's, then each named data set's."""
    for filename in evaluations.list_files(tree, name, version):
        yield (
            filename,
            evaluations.read_file(tree, name, version, filename, limit=MAX_EVALUATION_FILE),
        )
    for dataset in evaluations.list_datasets(tree, name, version):
        for filename in evaluations.list_files(tree, name, version, dataset):
            yield (
                f"{dataset}/{filename}",
                evaluations.read_file(
                    tree, name, version, filename, dataset=dataset, limit=MAX_EVALUATION_FILE
                ),
            )


def _store_version(tree: StoreTree, name: str, version: str) -> IncomingVersion:
    """A committed version of a store, as an incoming version for another store."""
    fs = tree.fs
    data = tree.registry.read_record(name, version)
    if data is None:
        raise IntegrityError(f"the record of {name}@{version} is unreadable; run `nbmodels verify`")
    record = check_incoming_record(name, version, data)
    meta_dir = tree.meta_dir(name, version)
    card = fs.read_bytes(meta_dir / MODEL_CARD) if fs.is_file(meta_dir / MODEL_CARD) else None
    trained = tree.trained(name, version)
    return IncomingVersion(
        name,
        version,
        record,
        card,
        dict(read_evaluation_files(tree, name, version)),
        lambda artifact: fs.open_read(trained / artifact),
    )


def copy_versions(
    source: StoreTree,
    target: StoreTree,
    refs: list[tuple[str, str]],
    *,
    move_aliases: bool = False,
) -> TransferReport:
    """Copy exact versions from ``source`` to ``target``, keeping their numbers, and the
    source's aliases that point at them.

    Every version the target already holds is compared first: identical ones are
    skipped, and if any holds other bytes nothing is copied
    (:class:`~nbmodels.errors.VersionExistsError`). Each artifact is hashed while it is
    written and compared with the record. Then each alias of the source that points at
    a copied version is set in the target where the target has no such alias; one the
    target has at another version is kept there and reported, unless ``move_aliases``
    (see :func:`carry_aliases`).
    """
    report = TransferReport(target.fs.url, source=source.fs.url, can_move_aliases=True)
    records = {}
    for name, version in refs:
        data = source.registry.read_record(name, version)
        if data is None:
            raise IntegrityError(
                f"the record of {name}@{version} is unreadable; run `nbmodels verify`"
            )
        records[(name, version)] = data
    # Read before anything is written: a damaged aliases file stops the copy here.
    copied = set(refs)
    carried = {
        name: {a: v for a, v in source.registry.aliases(name).items() if (name, v) in copied}
        for name in dict.fromkeys(n for n, _ in refs)
    }
    conflicts = [
        f"{n}@{v}"
        for (n, v), rec in records.items()
        if version_state(target, n, v, rec) == "different"
    ]
    if conflicts:
        raise conflict_error(conflicts, target.fs.url)
    for name, version in refs:
        outcome = publish_incoming(
            target, _store_version(source, name, version), {"from": source.fs.url, "how": "copy"}
        )
        (report.imported if outcome == "imported" else report.identical).append(f"{name}@{version}")
    for name, table in carried.items():
        if table:
            carry_aliases(target, name, table, report, move=move_aliases)
    return report


_ALIAS_ATTEMPTS = 5


def carry_aliases(
    tree: StoreTree, name: str, wanted: dict[str, str], report: TransferReport, *, move: bool
) -> None:
    """Set ``wanted`` (``{alias: version}``, versions ``tree`` holds) among ``name``'s
    aliases in ``tree``, and say in ``report`` what was done.

    An alias ``tree`` lacks is set; one it has at another version is moved only with
    ``move``, else kept and listed in ``report.aliases_kept``. The write is the
    registry's compare-and-swap: when another writer changed the aliases meanwhile, they
    are read again and the decision made again, a few times, before
    :class:`~nbmodels.errors.ConcurrentUpdateError` is let through.
    """
    with tree.registry.lock(name):
        for attempt in range(_ALIAS_ATTEMPTS):
            current, token = tree.registry.aliases_for_update(name)
            new, done = dict(current), ([], [], [])
            for alias, version in sorted(wanted.items()):
                there = current.get(alias)
                if there == version:
                    continue
                if there is None:
                    done[0].append(f"{name}@{alias} -> {version}")
                elif move:
                    done[1].append(f"{name}@{alias} -> {version} (was {there})")
                else:
                    done[2].append(f"{name}@{alias} -> {there} (source: {version})")
                    continue
                new[alias] = version
            try:
                if new != current:
                    tree.registry.write_aliases(name, new, token)
            except ConcurrentUpdateError:
                if attempt == _ALIAS_ATTEMPTS - 1:
                    raise
                continue
            report.aliases_set += done[0]
            report.aliases_moved += done[1]
            report.aliases_kept += done[2]
            return
