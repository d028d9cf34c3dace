"""The ``nbmodels`` command: the store from a terminal or a script.

Human tables by default, ``--json`` for machines. Exit codes scripts can trust:
0 success, 1 problems found (``verify``) or a refused operation, 2 bad usage or bad
input, 3 model/version/alias not found, 4 integrity error (damaged artifact or record).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_INTEGRITY = 0, 1, 2, 3, 4

_EPILOG = """\
exit codes: 0 success; 1 verify found problems, or the operation was refused;
2 bad usage or input; 3 model, version or alias not found; 4 integrity error.
The store is --store, else $NBMODELS_HOME, else ./models."""


def _common(top: bool) -> argparse.ArgumentParser:
    # The options work before or after the command; only the top level sets defaults, so a
    # subcommand does not reset what was given before it.
    common = argparse.ArgumentParser(add_help=False)
    default: Any = None if top else argparse.SUPPRESS
    common.add_argument("--store", metavar="DIR", default=default,
                        help="store root (default: $NBMODELS_HOME or ./models)")
    common.add_argument("--json", action="store_true", default=False if top else
                        argparse.SUPPRESS, help="print JSON for scripts")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common(top=False)
    p = argparse.ArgumentParser(prog="nbmodels", description="A versioned model store for "
                                "notebooks: list, inspect, verify and repair it.",
                                epilog=_EPILOG, parents=[_common(top=True)],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    p.add_argument("--version", action="version", version=f"nbmodels {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("list", parents=[common], help="every model with its latest version")
    s = sub.add_parser("show", parents=[common], help="the record of NAME[@VERSION|@ALIAS]")
    s.add_argument("ref", metavar="NAME[@VERSION]")
    s = sub.add_parser("versions", parents=[common], help="every version of NAME, in order")
    s.add_argument("name")
    s = sub.add_parser("verify", parents=[common], help="check records and artifact hashes; "
                       "exit 1 if anything is wrong")
    s.add_argument("--shallow", action="store_true", help="check sizes only, not sha256")
    s = sub.add_parser("gc", parents=[common], help="remove what interrupted saves left behind")
    s.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    s = sub.add_parser("alias", parents=[common], help="point ALIAS at a version, or remove it")
    s.add_argument("name")
    s.add_argument("alias")
    s.add_argument("version", nargs="?", help="version to point at (omit with --remove)")
    s.add_argument("--remove", action="store_true", help="remove the alias")
    s = sub.add_parser("delete", parents=[common], help="delete NAME@VERSION")
    s.add_argument("ref", metavar="NAME@VERSION")
    s.add_argument("--force", action="store_true", help="also delete a version that an alias "
                   "points to (the alias goes too)")
    sub.add_parser("rebuild-index", parents=[common], help="recreate the index from metadata/ "
                   "and adopt hand-made folders")
    for verb, what in (("enable-magics", "load the magics in every IPython session and "
                         "kernel"), ("disable-magics", "stop loading them automatically")):
        s = sub.add_parser(verb, parents=[common], help=what + " (edits the IPython profile)")
        s.add_argument("--profile", default="default", help="IPython profile (default: default)")
    s = sub.add_parser("quickstart", parents=[common], help="train, save, load and list a model "
                       "to see the store at work")
    s.add_argument("--name", default="quickstart_rf", help="model name to save under")
    return p


def _emit(args: argparse.Namespace, human: Any, data: Any) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(human if isinstance(human, str) else repr(human))


def _cmd_list(store: Any, args: argparse.Namespace) -> int:
    table = store.list()
    _emit(args, table, table.to_dict())
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


def _cmd_verify(store: Any, args: argparse.Namespace) -> int:
    report = store.verify(deep=not args.shallow)
    _emit(args, report, report.to_dict())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _cmd_gc(store: Any, args: argparse.Namespace) -> int:
    report = store.gc(dry_run=args.dry_run)
    _emit(args, report, report.to_dict())
    return EXIT_OK


def _cmd_alias(store: Any, args: argparse.Namespace) -> int:
    if args.remove:
        if args.version:
            raise _Usage("give either a VERSION or --remove, not both")
        store.remove_alias(args.name, args.alias)
        _emit(args, f"removed alias {args.name}@{args.alias}",
              {"name": args.name, "alias": args.alias, "removed": True})
        return EXIT_OK
    if not args.version:
        raise _Usage("alias needs NAME ALIAS VERSION (or NAME ALIAS --remove)")
    exact = store.set_alias(args.name, args.alias, args.version)
    _emit(args, f"{args.name}@{args.alias} -> {exact}",
          {"name": args.name, "alias": args.alias, "version": exact})
    return EXIT_OK


def _cmd_delete(store: Any, args: argparse.Namespace) -> int:
    name, sep, version = args.ref.partition("@")
    if not sep or not version:
        raise _Usage(f"delete needs NAME@VERSION (got {args.ref!r}); e.g. churn_rf@1.2.0")
    exact = store.delete(name, version, force=args.force)
    _emit(args, f"deleted {name}@{exact}", {"name": name, "version": exact, "deleted": True})
    return EXIT_OK


def _cmd_rebuild(store: Any, args: argparse.Namespace) -> int:
    report = store.rebuild_index()
    _emit(args, report, report.to_dict())
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
             "verify": _cmd_verify, "gc": _cmd_gc, "alias": _cmd_alias, "delete": _cmd_delete,
             "rebuild-index": _cmd_rebuild, "quickstart": _cmd_quickstart,
             "enable-magics": _cmd_magics, "disable-magics": _cmd_magics}


class _Usage(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` by default); returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    from .errors import (
        IntegrityError,
        InvalidNameError,
        InvalidVersionError,
        ModelNotFoundError,
        NBModelsError,
    )
    from .store.model_store import ModelStore

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
    except ModelNotFoundError as exc:
        print(f"nbmodels {args.command}: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except IntegrityError as exc:
        print(f"nbmodels {args.command}: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except (InvalidNameError, InvalidVersionError) as exc:
        print(f"nbmodels {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NBModelsError as exc:
        print(f"nbmodels {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as exc:  # a store folder that cannot be read or written, a full disk
        print(f"nbmodels {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
