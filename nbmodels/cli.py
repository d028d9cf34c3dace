"""The ``nbmodels`` command: the store from a terminal or a script.

Human tables by default, ``--json`` for machines. Exit codes scripts can trust (one
table for every face, :data:`nbmodels.errors.ERROR_KINDS`): 0 success, 1 problems found
(``verify``), a failed quality gate or a refused operation, 2 bad usage or bad input,
3 model/version/alias or store not found, 4 integrity error (damaged artifact or record).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    NBModelsError,
    StoreNotFoundError,
    error_kind,
    render_error,
)

__all__ = ["main"]

_EPILOG = """\
exit codes: 0 success; 1 verify found problems, a quality gate failed, or the operation
was refused; 2 bad usage or input; 3 model, version, alias or store not found;
4 integrity error.
The store is --store, else $NBMODELS_HOME, else the project's store found by looking
upward from here (a models/ store, or [tool.nbmodels] store = "..." in pyproject.toml),
else ./models. `nbmodels store` says which one and why."""

_REF = "NAME[@VERSION|ALIAS]"


def _common(top: bool) -> argparse.ArgumentParser:
    # The options work before or after the command; only the top level sets defaults, so a
    # subcommand does not reset what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    default: Any = None if top else argparse.SUPPRESS
    common.add_argument("--store", metavar="DIR", default=default,
                        help="store root (default: $NBMODELS_HOME, else the project's store, "
                             "else ./models)")
    common.add_argument("--json", action="store_true", default=False if top else
                        argparse.SUPPRESS, help="print JSON for scripts")
    return common


# Every subcommand with its one-line help (also the list the typo suggestion draws from).
_HELP = {
    "list": "every model with its latest version, aliases, size and metrics",
    "show": f"the record and model card of {_REF} (default: latest)",
    "versions": "every version of NAME in semver order, with its aliases",
    "store": "which store this folder uses, and why",
    "verify": "check records and artifact hashes; exit 1 if anything is wrong",
    "gc": "remove what interrupted saves left behind",
    "alias": "point ALIAS at a version (optionally only if it passes --require), or remove it",
    "delete": "delete one version, NAME@VERSION: its record, artifacts and evaluation",
    "evaluate": "evaluate NAME[@VERSION] on a CSV or Parquet file; exit 1 if a gate fails",
    "compare": "compare versions: metrics with deltas and what differs",
    "edit": "change the description or tags of NAME@VERSION (recorded as an edit; artifacts "
            "and hashes untouched)",
    "rebuild-index": "recreate the index from metadata/ and adopt hand-made folders",
    "trust": "trust NAME@VERSION's pickled artifacts to run code when loaded (remembered "
             "for you, by hash, outside the store)",
    "cache": "the local cache of artifacts downloaded from remote stores: info or clear",
    "quickstart": "train, save, load and list a model to see the store at work",
    "enable-magics": "load the magics in every IPython session and kernel (edits the "
                     "IPython profile)",
    "disable-magics": "stop loading the magics automatically (edits the IPython profile)",
}


def _parser() -> argparse.ArgumentParser:
    common = _common(top=False)
    p = argparse.ArgumentParser(prog="nbmodels", description="A versioned model store for "
                                "notebooks: list, inspect, evaluate, verify and repair it.",
                                epilog=_EPILOG, parents=[_common(top=True)],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    p.add_argument("--version", action="version", version=f"nbmodels {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=_HELP[name],
                              description=_HELP[name][0].upper() + _HELP[name][1:] + ".",
                              **kwargs)

    add("list")
    s = add("trust")
    s.add_argument("ref", metavar="NAME@VERSION")
    s = add("show", epilog="NAME alone is the latest version; NAME@1.2.0 an exact version; "
            "NAME@production an alias.")
    s.add_argument("ref", metavar=_REF, help="what to show, e.g. churn_rf, churn_rf@1.2.0 or "
                   "churn_rf@production")
    s = add("versions")
    s.add_argument("name")
    add("store")
    s = add("verify")
    s.add_argument("--shallow", action="store_true", help="check sizes only, not sha256")
    s = add("gc")
    s.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    s = add("alias")
    s.add_argument("name")
    s.add_argument("alias", help="e.g. production, staging")
    s.add_argument("version", nargs="?", help="version (or alias) to point at; omit with "
                   "--remove")
    s.add_argument("--remove", action="store_true", help="remove the alias")
    s.add_argument("--require", metavar="GATES", help='promote only if the version\'s saved '
                   'evaluation passes, e.g. "auc_roc>=0.85,recall>=0.7"; exit 1 otherwise')
    s.add_argument("--dataset", metavar="LABEL", help="check the evaluation on this data set "
                   "label (default: the record's headline evaluation)")
    s = add("delete")
    s.add_argument("ref", metavar="NAME@VERSION")
    s.add_argument("--force", action="store_true", help="also delete a version that an alias "
                   "points to (the alias goes too)")
    s = add("evaluate", epilog="The model is loaded from the store (sha256-verified); the "
            "metrics, plots and report.html are saved beside its version unless --no-save.")
    s.add_argument("ref", metavar="NAME[@VERSION]", help="the stored model (default: latest)")
    s.add_argument("--data", required=True, metavar="FILE", help="test data, .csv or .parquet "
                   "(Parquet needs pip install nbmodels[parquet])")
    s.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict; "
                   "every other column is a feature")
    s.add_argument("--require", metavar="GATES", help='quality gate, e.g. '
                   '"auc_roc>=0.85,recall>=0.7"; exit 1 when it fails')
    s.add_argument("--pos-label", metavar="LABEL", help="positive class of a binary task")
    s.add_argument("--threshold", type=float, metavar="T", help="decision threshold on the "
                   "positive class's score (binary tasks)")
    s.add_argument("--dataset", metavar="LABEL", help="label of this evaluation data (kept "
                   "apart from the default evaluation)")
    s.add_argument("--no-save", action="store_true", help="show the results, write nothing")
    s = add("compare")
    s.add_argument("refs", nargs="+", metavar="NAME[@VERSION]",
                   help="one model (all its versions) or several NAME@VERSION")
    s.add_argument("--dataset", metavar="LABEL", help="compare the evaluations on this label")
    _add_edit_parser(add("edit"))
    add("rebuild-index")
    s = add("cache", epilog="Where: $NBMODELS_CACHE_DIR, else the user's cache folder; "
            "size limit: $NBMODELS_CACHE_MAX_BYTES (default 10 GB).")
    s.add_argument("action", choices=["info", "clear"], help="show what the cache holds, or "
                   "remove every entry")
    for verb in ("enable-magics", "disable-magics"):
        s = add(verb)
        s.add_argument("--profile", default="default", help="IPython profile (default: default)")
    s = add("quickstart")
    s.add_argument("--name", default="quickstart_rf", help="model name to save under")
    _add_transfer_parsers(add)
    return p


class _Usage(Exception):
    pass


def _emit(args: argparse.Namespace, human: Any, data: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(human if isinstance(human, str) else repr(human))


def _existing_store(store: Any) -> Any:
    """``store``, or :class:`StoreNotFoundError` when its folder holds no store."""
    from .config import is_store

    if not isinstance(store.root, Path):  # a remote store (s3://...)
        if not store.exists():
            raise StoreNotFoundError(f"{store.root} holds no store yet; save a model first, "
                                     f"or point --store (or $NBMODELS_HOME) at your store",
                                     store.root)
        return store
    if not is_store(store.root):
        what = "does not exist" if not store.root.exists() else "is not a store (it has no " \
            "metadata/, registry/ or trained/ folder)"
        raise StoreNotFoundError(f"{store.root} {what}; save a model first, or point "
                                 f"--store (or $NBMODELS_HOME) at your store", store.root)
    return store


def _cmd_list(store: Any, args: argparse.Namespace) -> int:
    table = _existing_store(store).list()
    _emit(args, table, table.to_dict())
    if args.json and table.damaged:  # the human table shows them under it
        print(f"nbmodels list: {len(table.damaged)} damaged file(s); run "
              f"`nbmodels verify`", file=sys.stderr)
    return EXIT_OK


def _cmd_show(store: Any, args: argparse.Namespace) -> int:
    rec = store.record(args.ref)
    data = rec.to_dict()
    data["aliases"] = [a for a, v in store.aliases(rec.name).items() if v == rec.version]
    if args.json:
        _emit(args, "", data)
    else:
        from .record.card import model_card

        print(model_card(rec.to_dict()).rstrip())
        if data["aliases"]:
            print(f"\nAliases: {', '.join(data['aliases'])}")
    return EXIT_OK


def _cmd_versions(store: Any, args: argparse.Namespace) -> int:
    versions = store.versions(args.name)
    aliases = store.aliases(args.name)
    if args.json:
        _emit(args, "", {"name": args.name, "versions": versions, "aliases": aliases})
    else:
        for v in versions:
            tags = [a for a, t in sorted(aliases.items()) if t == v]
            print(v + (f"  ({', '.join(tags)})" if tags else ""))
    return EXIT_OK


def _cmd_store(store: Any, args: argparse.Namespace) -> int:
    from .config import is_store
    from .store.reports import plural

    reason = "from --store" if args.store else store.root_reason
    exists = is_store(store.root) if isinstance(store.root, Path) else store.exists()
    models = len(store.names()) if exists else 0
    state = plural(models, "model") if exists else "not created yet: the first save creates it"
    _emit(args, f"{store.root}\n  why: {reason}\n  holds: {state}",
          {"root": str(store.root), "reason": reason, "exists": exists, "models": models})
    return EXIT_OK


def _cmd_verify(store: Any, args: argparse.Namespace) -> int:
    report = _existing_store(store).verify(deep=not args.shallow)
    _emit(args, report, report.to_dict())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _cmd_gc(store: Any, args: argparse.Namespace) -> int:
    report = store.gc(dry_run=args.dry_run)
    _emit(args, report, report.to_dict())
    return EXIT_OK


def _cmd_alias(store: Any, args: argparse.Namespace) -> int:
    if args.remove:
        if args.version or args.require:
            raise _Usage("give either a VERSION (and --require) or --remove, not both")
        store.remove_alias(args.name, args.alias)
        _emit(args, f"removed alias {args.name}@{args.alias}",
              {"name": args.name, "alias": args.alias, "removed": True})
        return EXIT_OK
    if not args.version:
        raise _Usage("alias needs NAME ALIAS VERSION (or NAME ALIAS --remove)")
    checks: list[Any] = []
    if args.require:
        from .evaluation.promotion import promote

        exact, checks = promote(store, args.name, args.alias, args.version, args.require,
                                dataset=args.dataset)
    elif args.dataset:
        raise _Usage("--dataset only applies with --require")
    else:
        exact = store.set_alias(args.name, args.alias, args.version)
    human = "\n".join([f"{args.name}@{args.alias} -> {exact}",
                       *(f"  {c.reason}" for c in checks)])
    _emit(args, human, {"name": args.name, "alias": args.alias, "version": exact,
                        "gates": [c.to_dict() for c in checks]})
    return EXIT_OK


def _cmd_delete(store: Any, args: argparse.Namespace) -> int:
    name, sep, version = args.ref.partition("@")
    if not sep or not version:
        raise _Usage(f"delete needs NAME@VERSION (got {args.ref!r}); e.g. churn_rf@1.2.0")
    exact = store.delete(name, version, force=args.force)
    _emit(args, f"deleted {name}@{exact}", {"name": name, "version": exact, "deleted": True})
    return EXIT_OK


def _read_table(path: Path) -> Any:
    """A CSV or Parquet file as a DataFrame."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise _Usage(f"--data {path}: give a .csv or .parquet file")
    if not path.is_file():
        raise _Usage(f"--data {path}: no such file")
    if suffix == ".csv":
        return pd.read_csv(path)
    from .formats.base import import_optional

    import_optional("pyarrow", "parquet", f"reading the Parquet file {path.name}")
    return pd.read_parquet(path)


def _cmd_evaluate(store: Any, args: argparse.Namespace) -> int:
    import inspect

    from .evaluation import evaluate

    frame = _read_table(Path(args.data))
    if args.target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        close = difflib.get_close_matches(args.target, list(map(str, frame.columns)), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _Usage(f"--target {args.target!r} is not a column of {args.data} "
                     f"(columns: {columns}){hint}")
    X, y = frame.drop(columns=[args.target]), frame[args.target]
    kwargs: dict[str, Any] = {"store": store, "require": args.require,
                              "dataset": args.dataset}
    if args.no_save:
        kwargs["save"] = False
    accepted = inspect.signature(evaluate).parameters
    for option, key, value in (("--pos-label", "pos_label", args.pos_label),
                               ("--threshold", "threshold", args.threshold)):
        if value is None:
            continue
        if key not in accepted:
            raise _Usage(f"{option} needs a newer nbmodels evaluation core")
        kwargs[key] = _label_like(value, y) if key == "pos_label" else value
    model = store.load(args.ref)
    from .progress import TqdmProgress

    # On a terminal a bar once it takes a moment (stderr: --json output stays clean);
    # none in a pipe or a CI log.
    with TqdmProgress("terminal", delay=0.5, disable=None, file=sys.stderr) as bar:
        result = evaluate(model, X, y, **kwargs, progress=bar)
    data = result.to_dict()
    data["path"] = str(result.path) if result.path else None
    lines = [repr(result)]
    lines += [f"  {g.reason}" for g in result.gates]
    lines += [f"  note: {n}" for n in result.notes]
    if result.path:
        lines.append(f"  saved in {result.path}")
    _emit(args, "\n".join(lines), data)
    return EXIT_PROBLEMS if result.passed is False else EXIT_OK


def _label_like(text: str, y: Any) -> Any:
    """``--pos-label 1`` as the label the target column holds (1, not "1")."""
    for value in y.dropna().unique():
        if str(value) == text:
            return value.item() if hasattr(value, "item") else value
    return text


def _cmd_compare(store: Any, args: argparse.Namespace) -> int:
    from .evaluation import compare

    refs = args.refs
    target: Any = refs[0] if len(refs) == 1 and "@" not in refs[0] else list(refs)
    comparison = compare(target, store=store, dataset=args.dataset)
    metrics = {row.metric: dict(zip(comparison.refs, row.values)) for row in comparison.rows}
    best = {}
    for row in comparison.rows:
        with contextlib.suppress(NBModelsError):  # a metric no version has twice
            best[row.metric] = comparison.best(row.metric)
    _emit(args, "\n".join([repr(comparison), *comparison.notes]),
          {"refs": comparison.refs, "dataset": args.dataset, "metrics": metrics, "best": best,
           "sizes": comparison.sizes, "notes": comparison.notes})
    return EXIT_OK


def _add_edit_parser(s: argparse.ArgumentParser) -> None:
    s.add_argument("ref", metavar="NAME@VERSION", help="the version to edit (or NAME@ALIAS)")
    s.add_argument("--description", help="the new description")
    s.add_argument("--tags", help="comma-separated tags that replace the current ones")
    s.add_argument("--add-tags", default="", help="comma-separated tags to add")
    s.add_argument("--remove-tags", default="", help="comma-separated tags to remove")


def _cmd_edit(store: Any, args: argparse.Namespace) -> int:
    name, sep, version = args.ref.partition("@")
    if not sep or not version:
        raise _Usage(f"edit needs NAME@VERSION (got {args.ref!r}); e.g. churn_rf@1.2.0")
    if args.description is None and args.tags is None and not args.add_tags \
            and not args.remove_tags:
        raise _Usage("nothing to edit: give --description, --tags, --add-tags or "
                     "--remove-tags")
    before = len(store.record(name, version).get("edits") or [])
    rec = store.edit(name, version, description=args.description, tags=args.tags,
                     add_tags=args.add_tags, remove_tags=args.remove_tags)
    edits = rec.get("edits") or []
    edit = edits[-1] if len(edits) > before else None
    if edit is None:
        human = f"nothing to change: {rec.ref} already has that description and tags"
    else:
        shown = [f"{field}: {change['from']!r} -> {change['to']!r}"
                 for field, change in edit["changes"].items()]
        human = f"edited {rec.ref}: {'; '.join(shown)}"
    _emit(args, human, {"name": rec.name, "version": rec.version, "edit": edit})
    return EXIT_OK


def _cmd_trust(store: Any, args: argparse.Namespace) -> int:
    name, sep, version = args.ref.partition("@")
    if not sep or not version:
        raise _Usage(f"trust needs NAME@VERSION (got {args.ref!r}); e.g. churn_rf@1.2.0")
    exact = store.trust(name, version)
    _emit(args, f"trusted {name}@{exact}: it loads without --trust from now on",
          {"name": name, "version": exact, "trusted": True})
    return EXIT_OK


def _cmd_rebuild(store: Any, args: argparse.Namespace) -> int:
    report = store.rebuild_index()
    _emit(args, report, report.to_dict())
    return EXIT_OK


def _cmd_cache(store: Any, args: argparse.Namespace) -> int:
    from .storage.cache import ArtifactCache

    cache = ArtifactCache.default()
    if args.action == "clear":
        removed = cache.clear()
        _emit(args, f"removed {removed.entries} cached artifacts from {removed.path}",
              {"removed": removed.to_dict()})
    else:
        info = cache.info()
        _emit(args, info, info.to_dict())
    return EXIT_OK


def _cmd_quickstart(store: Any, args: argparse.Namespace) -> int:
    from .quickstart import run_quickstart

    result = run_quickstart(store, name=args.name, echo=None if args.json else print)
    if args.json:
        _emit(args, "", result)
    return EXIT_OK


def _cmd_magics(store: Any, args: argparse.Namespace) -> int:
    from .ipython_profile import disable_magics, enable_magics

    enable = args.command == "enable-magics"
    path, changed = (enable_magics if enable else disable_magics)(args.profile)
    state = "on" if enable else "off"
    human = (f"nbmodels magics are now {state} for profile {args.profile!r} ({path})" if changed
             else f"nothing to do: nbmodels magics were already {state} in {path}")
    _emit(args, human, {"profile": args.profile, "config": str(path), "enabled": enable,
                        "changed": changed})
    return EXIT_OK


_COMMANDS = {"list": _cmd_list, "show": _cmd_show, "versions": _cmd_versions,
             "store": _cmd_store, "verify": _cmd_verify, "gc": _cmd_gc, "alias": _cmd_alias,
             "delete": _cmd_delete, "evaluate": _cmd_evaluate, "compare": _cmd_compare,
             "rebuild-index": _cmd_rebuild, "edit": _cmd_edit, "quickstart": _cmd_quickstart,
             "cache": _cmd_cache,
             "enable-magics": _cmd_magics, "disable-magics": _cmd_magics,
             "trust": _cmd_trust}


# -- export, import, backup, push/pull, prune, du (issue 15) ----------------------------------
_HELP.update({
    "export": "write versions (or --all) to one sealed .zip or .tar.gz with a MANIFEST.sha256",
    "import": "import an archive made by export or backup (its seal and every hash checked first)",
    "backup": "export the whole store to DEST/nbmodels-backup-STORE-TIME.tar.gz",
    "push": "copy versions from this store to another (--to STORE), keeping versions",
    "pull": "copy versions from another store (--from STORE) into this one",
    "prune": "delete old versions (never aliased, keep-tagged or latest); dry run unless "
             "--yes",
    "du": "disk usage per model and version, and the store total",
})


def _add_transfer_parsers(add: Any) -> None:
    s = add("export", epilog="REF: NAME (every version), NAME@VERSION or NAME@ALIAS. "
            "The suffix of --to picks the format.")
    s.add_argument("refs", nargs="*", metavar=_REF)
    s.add_argument("--to", required=True, metavar="FILE", help="archive to write (.zip, "
                   ".tar.gz)")
    s.add_argument("--all", action="store_true", help="every version of every model")
    s.add_argument("--force", action="store_true", help="replace FILE if it exists")
    s = add("import")
    s.add_argument("archive", metavar="FILE")
    s = add("backup")
    s.add_argument("dest", metavar="DEST", help="folder for the backup file (created)")
    s.add_argument("--zip", action="store_true", help="write a .zip instead of .tar.gz")
    for verb, flag in (("push", "--to"), ("pull", "--from")):
        s = add(verb, epilog="REF: NAME (every version), NAME@VERSION or NAME@ALIAS. The "
                "aliases that point at a copied version go along; one the receiving store "
                "has at another version stays there and is reported, unless --move-aliases.")
        s.add_argument("refs", nargs="+", metavar=_REF)
        s.add_argument(flag, dest="other", required=True, metavar="STORE",
                       help="the other store's folder or URL (s3://bucket/prefix)")
        s.add_argument("--move-aliases", action="store_true",
                       help="move an alias the receiving store has at another version "
                            "(default: keep it there and report it)")
    s = add("prune", epilog="Without --yes nothing is deleted: the report says what would "
            "go and the bytes it would reclaim.")
    s.add_argument("name", nargs="?", help="only this model (default: every model)")
    s.add_argument("--keep-last", type=int, metavar="N", help="keep the N highest versions "
                   "of each model")
    s.add_argument("--older-than", metavar="AGE", help="only versions created before AGE "
                   "ago (30d, 12h, 2w) or before an ISO date")
    s.add_argument("--yes", action="store_true", help="delete (default: dry run)")
    s = add("du")
    s.add_argument("name", nargs="?", help="only this model")


def _cmd_export(store: Any, args: argparse.Namespace) -> int:
    if bool(args.refs) == bool(args.all):
        raise _Usage("give REF... or --all (not both)")
    report = _existing_store(store).export("all" if args.all else args.refs, args.to,
                                           overwrite=args.force)
    _emit(args, report, report.to_dict())
    return EXIT_OK


def _cmd_import(store: Any, args: argparse.Namespace) -> int:
    report = store.import_(args.archive)
    _emit(args, report, report.to_dict())
    return EXIT_OK


def _cmd_backup(store: Any, args: argparse.Namespace) -> int:
    report = _existing_store(store).backup(args.dest, kind="zip" if args.zip else "tar.gz")
    _emit(args, report, report.to_dict())
    return EXIT_OK


def _cmd_push_pull(store: Any, args: argparse.Namespace) -> int:
    from .store import ModelStore

    other = ModelStore(args.other)
    source, target = (store, other) if args.command == "push" else (other, store)
    report = _existing_store(source).copy_to(target, *args.refs,
                                             move_aliases=args.move_aliases)
    _emit(args, report.text("cli"), report.to_dict())
    return EXIT_OK


def _cmd_prune(store: Any, args: argparse.Namespace) -> int:
    if args.keep_last is None and args.older_than is None:
        raise _Usage("prune needs --keep-last N and/or --older-than AGE")
    report = _existing_store(store).prune(args.name, keep_last=args.keep_last,
                                          older_than=args.older_than, dry_run=not args.yes)
    human = repr(report).replace("pass dry_run=False to delete", "add --yes to delete")
    _emit(args, human, report.to_dict())
    return EXIT_OK


def _cmd_du(store: Any, args: argparse.Namespace) -> int:
    report = _existing_store(store).du(args.name)
    _emit(args, report, report.to_dict())
    return EXIT_OK


_COMMANDS.update({"export": _cmd_export, "import": _cmd_import, "backup": _cmd_backup,
                  "push": _cmd_push_pull, "pull": _cmd_push_pull, "prune": _cmd_prune,
                  "du": _cmd_du})


def _unknown_command(argv: Sequence[str]) -> str | None:
    """The first word that should be a command but is none (``nbmodels lst``)."""
    words = iter(argv)
    for word in words:
        if word == "--store":
            next(words, None)
        elif word.startswith("-"):
            continue
        else:
            return None if word in _COMMANDS else word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` by default); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    typo = _unknown_command(argv)
    if typo is not None:
        close = difflib.get_close_matches(typo, list(_COMMANDS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else "; see nbmodels --help"
        parser.print_usage(sys.stderr)
        print(f"nbmodels: error: unknown command {typo!r}{hint}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    from .store import ModelStore

    try:
        return _COMMANDS[args.command](ModelStore(args.store), args)
    except BrokenPipeError:  # `nbmodels list | head`: the reader left, not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except _Usage as exc:
        parser.print_usage(sys.stderr)
        print(f"nbmodels {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NBModelsError as exc:
        print(f"nbmodels {args.command}: {render_error(exc, 'cli')}", file=sys.stderr)
        checks = getattr(exc, "checks", None)
        if args.json and checks:
            print(json.dumps({"error": error_kind(exc).label, "message": exc.message("cli"),
                              "gates": [c.to_dict() for c in checks]}, indent=2))
        return error_kind(exc).exit_code
    except OSError as exc:  # a store folder that cannot be read or written, a full disk
        print(f"nbmodels {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
