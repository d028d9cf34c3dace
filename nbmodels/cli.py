"""The ``nbmodels`` command: the store from a terminal or a script.

Human tables by default, ``--json`` for machines. Exit codes scripts can trust (one
table for every face, :data:`nbmodels.errors.ERROR_KINDS`): 0 success, 1 problems found
(``verify``), a failed quality gate or a refused operation, 2 bad usage or bad input,
3 model/version/alias or store not found, 4 integrity error (damaged artifact or record).

The commands and their arguments are declared in :mod:`nbmodels.cli_parser`; here each
command runs (``_cmd_*``) and :func:`main` turns errors into exit codes.
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

from .cli_parser import COMMANDS, build_parser
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


# -- export, import, backup, push/pull, prune, du ---------------------------------------------


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


# What runs each command of nbmodels.cli_parser.COMMANDS.
_HANDLERS = {"list": _cmd_list, "show": _cmd_show, "versions": _cmd_versions,
             "store": _cmd_store, "verify": _cmd_verify, "gc": _cmd_gc, "alias": _cmd_alias,
             "delete": _cmd_delete, "evaluate": _cmd_evaluate, "compare": _cmd_compare,
             "rebuild-index": _cmd_rebuild, "edit": _cmd_edit, "quickstart": _cmd_quickstart,
             "cache": _cmd_cache, "enable-magics": _cmd_magics, "disable-magics": _cmd_magics,
             "trust": _cmd_trust, "export": _cmd_export, "import": _cmd_import,
             "backup": _cmd_backup, "push": _cmd_push_pull, "pull": _cmd_push_pull,
             "prune": _cmd_prune, "du": _cmd_du}
if set(_HANDLERS) != set(COMMANDS):  # a command declared without a handler, or the reverse
    raise RuntimeError(f"nbmodels.cli: commands and handlers differ: "
                       f"{sorted(set(_HANDLERS) ^ set(COMMANDS))}")


def _unknown_command(argv: Sequence[str]) -> str | None:
    """The first word that should be a command but is none (``nbmodels lst``)."""
    words = iter(argv)
    for word in words:
        if word == "--store":
            next(words, None)
        elif word.startswith("-"):
            continue
        else:
            return None if word in COMMANDS else word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` by default); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    typo = _unknown_command(argv)
    if typo is not None:
        close = difflib.get_close_matches(typo, list(COMMANDS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else "; see nbmodels --help"
        parser.print_usage(sys.stderr)
        print(f"nbmodels: error: unknown command {typo!r}{hint}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    from .store import ModelStore

    try:
        return _HANDLERS[args.command](ModelStore(args.store), args)
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
