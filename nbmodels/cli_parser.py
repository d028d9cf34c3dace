"""The ``nbmodels`` command line, declared: every sub-command with its help, its epilog and
its arguments, and the options several of them share, each declared once.

:data:`COMMANDS` is the declaration (also the list the typo suggestion draws from);
:func:`build_parser` turns it into the argparse parser. :mod:`nbmodels.cli` runs what the
parser parsed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMMANDS",
    "EPILOG",
    "REF",
    "Argument",
    "Command",
    "build_parser",
    "dataset",
    "exact_ref",
    "force",
    "gates",
    "model_name",
    "option",
    "positional",
    "refs",
    "switch",
]

EPILOG = """\
exit codes: 0 success; 1 verify found problems, a quality gate failed, or the operation
was refused; 2 bad usage or input; 3 model, version, alias or store not found;
4 integrity error.
The store is --store, else $NBMODELS_HOME, else the project's store found by looking
upward from here (a models/ store, or [tool.nbmodels] store = "..." in pyproject.toml),
else ./models. `nbmodels store` says which one and why."""

#: How a command that takes a model, a version or an alias spells it.
REF = "NAME[@VERSION|ALIAS]"


@dataclass(frozen=True)
class Argument:
    """One argument of a sub-command: the flags (or the name) and the keywords of its
    ``add_argument`` call."""

    flags: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Declare this argument on ``parser``."""
        parser.add_argument(*self.flags, **self.options)


@dataclass(frozen=True)
class Command:
    """A sub-command: its one-line help, its arguments in the order the help lists them,
    and an optional epilog."""

    help: str
    arguments: tuple[Argument, ...] = ()
    epilog: str | None = None

    @property
    def description(self) -> str:
        """The help as a sentence, at the top of ``nbmodels COMMAND --help``."""
        return self.help[0].upper() + self.help[1:] + "."


def positional(name: str, help: str | None = None, **options: Any) -> Argument:
    """A positional argument ``name`` (``metavar``, ``nargs``, ``choices`` in ``options``)."""
    return Argument((name,), {"help": help, **options})


def option(flag: str, help: str, metavar: str | None = None, **options: Any) -> Argument:
    """An option that takes a value, shown as ``metavar`` in the help (argparse's
    default when ``None``: the flag in capitals)."""
    return Argument((flag,), {"metavar": metavar, "help": help, **options})


def switch(flag: str, help: str) -> Argument:
    """An option without a value: present or not."""
    return Argument((flag,), {"action": "store_true", "help": help})


# -- arguments several commands share ----------------------------------------------------------


def exact_ref(help: str | None = None) -> Argument:
    """``ref``: one exact version, ``NAME@VERSION``."""
    return positional("ref", help, metavar="NAME@VERSION")


def refs(nargs: str) -> Argument:
    """``refs``: models, versions or aliases (``NAME``, ``NAME@VERSION``, ``NAME@ALIAS``)."""
    return positional("refs", nargs=nargs, metavar=REF)


def model_name(help: str | None = None, *, optional: bool = False) -> Argument:
    """``name``: a model's name (``optional``: every model when left out)."""
    return positional("name", help, **({"nargs": "?"} if optional else {}))


def gates(help: str) -> Argument:
    """``--require GATES``: a quality gate such as ``auc_roc>=0.85,recall>=0.7``."""
    return option("--require", help, "GATES")


def dataset(help: str) -> Argument:
    """``--dataset LABEL``: which saved evaluation (by its data set label)."""
    return option("--dataset", help, "LABEL")


def force(help: str) -> Argument:
    """``--force``: do what is refused by default (the CLI's word for ``overwrite=True``)."""
    return switch("--force", help)


_REFS_EPILOG = "REF: NAME (every version), NAME@VERSION or NAME@ALIAS."


def _copy(flag: str, help: str) -> Command:
    """``push --to STORE`` and ``pull --from STORE``: the same command, either way."""
    return Command(
        help,
        (
            refs("+"),
            option(flag, "the other store's folder or URL (s3://bucket/prefix)", "STORE",
                   dest="other", required=True),
            switch("--move-aliases", "move an alias the receiving store has at another "
                   "version (default: keep it there and report it)"),
        ),
        epilog=f"{_REFS_EPILOG} The aliases that point at a copied version go along; one "
        "the receiving store has at another version stays there and is reported, unless "
        "--move-aliases.",
    )


def _magics(help: str) -> Command:
    """``enable-magics`` and ``disable-magics``: one IPython profile each time."""
    return Command(help, (option("--profile", "IPython profile (default: default)",
                                 default="default"),))


# Every sub-command, in the order `nbmodels --help` lists them.
COMMANDS: dict[str, Command] = {
    "list": Command("every model with its latest version, aliases, size and metrics"),
    "trust": Command(
        "trust NAME@VERSION's pickled artifacts to run code when loaded (remembered for you, "
        "by hash, outside the store)",
        (exact_ref(),),
    ),
    "show": Command(
        f"the record and model card of {REF} (default: latest)",
        (positional("ref", "what to show, e.g. churn_rf, churn_rf@1.2.0 or "
                    "churn_rf@production", metavar=REF),),
        epilog="NAME alone is the latest version; NAME@1.2.0 an exact version; "
        "NAME@production an alias.",
    ),
    "versions": Command("every version of NAME in semver order, with its aliases",
                        (model_name(),)),
    "store": Command("which store this folder uses, and why"),
    "verify": Command("check records and artifact hashes; exit 1 if anything is wrong",
                      (switch("--shallow", "check sizes only, not sha256"),)),
    "gc": Command("remove what interrupted saves left behind",
                  (switch("--dry-run", "only report what would be removed"),)),
    "alias": Command(
        "point ALIAS at a version (optionally only if it passes --require), or remove it",
        (
            model_name(),
            positional("alias", "e.g. production, staging"),
            positional("version", "version (or alias) to point at; omit with --remove",
                       nargs="?"),
            switch("--remove", "remove the alias"),
            gates("promote only if the version's saved evaluation passes, e.g. "
                  '"auc_roc>=0.85,recall>=0.7"; exit 1 otherwise'),
            dataset("check the evaluation on this data set label (default: the record's "
                    "headline evaluation)"),
        ),
    ),
    "delete": Command(
        "delete one version, NAME@VERSION: its record, artifacts and evaluation",
        (exact_ref(), force("also delete a version that an alias points to (the alias "
                            "goes too)")),
    ),
    "evaluate": Command(
        "evaluate NAME[@VERSION] on a CSV or Parquet file; exit 1 if a gate fails",
        (
            positional("ref", "the stored model (default: latest)", metavar="NAME[@VERSION]"),
            option("--data", "test data, .csv or .parquet (Parquet needs pip install "
                   "nbmodels[parquet])", "FILE", required=True),
            option("--target", "the column to predict; every other column is a feature",
                   "COLUMN", required=True),
            gates('quality gate, e.g. "auc_roc>=0.85,recall>=0.7"; exit 1 when it fails'),
            option("--pos-label", "positive class of a binary task", "LABEL"),
            option("--threshold", "decision threshold on the positive class's score "
                   "(binary tasks)", "T", type=float),
            dataset("label of this evaluation data (kept apart from the default evaluation)"),
            switch("--no-save", "show the results, write nothing"),
        ),
        epilog="The model is loaded from the store (sha256-verified); the metrics, plots and "
        "report.html are saved beside its version unless --no-save.",
    ),
    "compare": Command(
        "compare versions: metrics with deltas and what differs",
        (
            positional("refs", "one model (all its versions) or several NAME@VERSION",
                       nargs="+", metavar="NAME[@VERSION]"),
            dataset("compare the evaluations on this label"),
        ),
    ),
    "edit": Command(
        "change the description or tags of NAME@VERSION (recorded as an edit; artifacts and "
        "hashes untouched)",
        (
            exact_ref("the version to edit (or NAME@ALIAS)"),
            option("--description", "the new description"),
            option("--tags", "comma-separated tags that replace the current ones"),
            option("--add-tags", "comma-separated tags to add", default=""),
            option("--remove-tags", "comma-separated tags to remove", default=""),
        ),
    ),
    "rebuild-index": Command("recreate the index from metadata/ and adopt hand-made folders"),
    "cache": Command(
        "the local cache of artifacts downloaded from remote stores: info or clear",
        (positional("action", "show what the cache holds, or remove every entry",
                    choices=["info", "clear"]),),
        epilog="Where: $NBMODELS_CACHE_DIR, else the user's cache folder; size limit: "
        "$NBMODELS_CACHE_MAX_BYTES (default 10 GB).",
    ),
    "enable-magics": _magics("load the magics in every IPython session and kernel (edits "
                             "the IPython profile)"),
    "disable-magics": _magics("stop loading the magics automatically (edits the IPython "
                              "profile)"),
    "quickstart": Command(
        "train, save, load and list a model to see the store at work",
        (option("--name", "model name to save under", default="quickstart_rf"),),
    ),
    "export": Command(
        "write versions (or --all) to one sealed .zip or .tar.gz with a MANIFEST.sha256",
        (
            refs("*"),
            option("--to", "archive to write (.zip, .tar.gz)", "FILE", required=True),
            switch("--all", "every version of every model"),
            force("replace FILE if it exists"),
        ),
        epilog=f"{_REFS_EPILOG} The suffix of --to picks the format.",
    ),
    "import": Command(
        "import an archive made by export or backup (its seal and every hash checked first)",
        (positional("archive", metavar="FILE"),),
    ),
    "backup": Command(
        "export the whole store to DEST/nbmodels-backup-STORE-TIME.tar.gz",
        (
            positional("dest", "folder for the backup file (created)", metavar="DEST"),
            switch("--zip", "write a .zip instead of .tar.gz"),
        ),
    ),
    "push": _copy("--to", "copy versions from this store to another (--to STORE), keeping "
                  "versions"),
    "pull": _copy("--from", "copy versions from another store (--from STORE) into this one"),
    "prune": Command(
        "delete old versions (never aliased, keep-tagged or latest); dry run unless --yes",
        (
            model_name("only this model (default: every model)", optional=True),
            option("--keep-last", "keep the N highest versions of each model", "N", type=int),
            option("--older-than", "only versions created before AGE ago (30d, 12h, 2w) or "
                   "before an ISO date", "AGE"),
            switch("--yes", "delete (default: dry run)"),
        ),
        epilog="Without --yes nothing is deleted: the report says what would go and the "
        "bytes it would reclaim.",
    ),
    "du": Command("disk usage per model and version, and the store total",
                  (model_name("only this model", optional=True),)),
}


def _common(top: bool) -> argparse.ArgumentParser:
    """``--store`` and ``--json``, which every command takes."""
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


def build_parser() -> argparse.ArgumentParser:
    """The ``nbmodels`` parser: the top-level options and every command of :data:`COMMANDS`."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="nbmodels",
        description="A versioned model store for notebooks: list, inspect, evaluate, verify "
        "and repair it.",
        epilog=EPILOG,
        parents=[_common(top=True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nbmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = _common(top=False)
    for name, command in COMMANDS.items():
        s = sub.add_parser(name, parents=[common], help=command.help,
                           description=command.description, epilog=command.epilog)
        for argument in command.arguments:
            argument.add_to(s)
    return parser
