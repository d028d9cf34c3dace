"""ModelMagics: ``%save_model``, ``%load_model``, ``%evaluate``, ``%models`` and friends.

Each magic parses its line, looks names up in the user's namespace, calls the core and
returns an object that displays itself (:mod:`.displays`). User errors (unknown variable,
model, version, bad flag) become one-line :class:`UsageError` messages; anything
unexpected keeps its traceback. Completion of the magics' arguments is in
:mod:`.completion`.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import functools
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Float, Unicode

from .completion import MagicCompletion, strip_comment
from .displays import EditedVersion, ModelInfo, SavedModel, StoreInfo, quietly_unchanged

__all__ = ["ModelMagics"]


def _line_magic(method: Callable[[Any, argparse.Namespace], Any]) -> Callable[[Any, str], Any]:
    """IPython's ``@line_magic`` for a magic whose line is parsed by its
    ``magic_arguments`` first: ``method`` gets the parsed arguments (a trailing
    ``# comment`` dropped); ``--help`` shows the help page and returns None; bad
    arguments are one ``UsageError`` line."""
    @functools.wraps(method)
    def magic(self: Any, line: str) -> Any:
        args = self._args(magic, line)
        return None if args is None else method(self, args)

    return line_magic(magic)


def _split(text: str) -> tuple[str, str]:
    name, _, version = text.partition("@")
    return name, version or "latest"


@magics_class
class ModelMagics(Magics, MagicCompletion):
    """``%save_model``, ``%load_model``, ``%evaluate``, ``%models`` and friends."""

    store_dir = Unicode("", help="Folder of the model store; empty means $NBMODELS_HOME, "
                        "else the project's store found upward from the working folder "
                        "(a models/ store or [tool.nbmodels] in pyproject.toml), else "
                        "./models.").tag(config=True)
    progress_delay = Float(1.0, help="Seconds before a progress bar appears for a save or "
                           "an evaluation; quicker work shows none. 0 always shows it, "
                           "a negative value never.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)

    # -- plumbing ------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        from ..store.model_store import ModelStore

        return self._run(lambda: ModelStore(self.store_dir or None))

    def _store_source(self, store: Any) -> str:
        if self.store_dir:
            return "from %config ModelMagics.store_dir"
        return store.root_reason

    def _var(self, name: str, what: str = "variable") -> Any:
        ns = self.shell.user_ns
        if name in ns:
            return ns[name]
        if name.isidentifier():
            public = [k for k in ns if not k.startswith("_")]
            close = difflib.get_close_matches(name, public, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UsageError(f"no {what} named {name!r} in the notebook{hint}")
        try:  # an expression such as df[cols] or X.values
            return self.shell.ev(name)
        except Exception as exc:
            raise UsageError(f"cannot evaluate {what} {name!r}: {exc}") from None

    def _run(self, call: Callable[[], Any]) -> Any:
        """Run ``call``, turning our own user-facing errors into one-line usage errors."""
        from ..errors import NBModelsError, render_error

        try:
            return call()
        except NBModelsError as exc:
            raise UsageError(render_error(exc, "magic")) from None

    def _run_with_progress(self, call: Callable[[Any], Any]) -> Any:
        """:meth:`_run` of ``call(progress)``, the core's progress drawn with tqdm (a
        notebook bar inside Jupyter) once the work takes :attr:`progress_delay` seconds."""
        if self.progress_delay < 0:
            return self._run(lambda: call(None))
        from ..progress import TqdmProgress

        with TqdmProgress("auto", delay=self.progress_delay) as bar:
            return self._run(lambda: call(bar))

    def _args(self, magic: Callable[..., Any], line: str) -> Any:
        """The parsed arguments, or None when ``--help`` showed the help instead."""
        from IPython.utils.process import arg_split

        line = strip_comment(line)
        try:
            # posix=True so that --description 'two words' loses its quotes.
            words = arg_split(line, posix=True)
            if "-h" in words or "--help" in words:  # the same page as %magic?
                self.shell.run_line_magic("pinfo", f"%{magic.__name__}")
                return None
            return magic.parser.parse_args(words)
        except UsageError:
            raise
        except SystemExit:  # argparse on --help or bad input inside magic_arguments
            raise UsageError(f"bad arguments: {line!r}; see %{magic.__name__}?") from None
        except ValueError as exc:  # unbalanced quotes
            raise UsageError(f"cannot parse {line!r}: {exc}") from None

    # -- magics --------------------------------------------------------------------------
    @magic_arguments()
    @argument("var", help="the variable holding the fitted model")
    @argument("--name", help="model name (default: the variable's name)")
    @argument("--version", help="exact semantic version, e.g. 1.2.0")
    @argument("--bump", choices=["major", "minor", "patch"], help="which part to increase")
    @argument("--description", default="", help="what this version is")
    @argument("--tags", default="", help="comma-separated tags")
    @argument("--data", metavar="X_VAR", help="training features: fingerprint, schema, features")
    @argument("--target", metavar="Y_VAR", help="training target: name, classes")
    @argument("--dataset-path", help="where the training data came from")
    @argument("--format", help="force a format: joblib, pickle, skops, onnx, torch, keras")
    @argument("--overwrite", action="store_true", help="replace an existing --version")
    @argument("--allow-unfitted", action="store_true",
              help="save a scikit-learn estimator that was never fitted")
    @argument("--force-new", action="store_true",
              help="save a new version even if these model bytes are saved already")
    @_line_magic
    def save_model(self, args: argparse.Namespace) -> SavedModel:
        """Save a model from the notebook as a new version in the store."""
        if args.version and args.bump:
            raise UsageError("give either --version or --bump, not both")
        model = self._var(args.var, "model variable")
        name = args.name or args.var
        X = self._var(args.data, "data variable") if args.data else None
        y = self._var(args.target, "target variable") if args.target else None
        tags = [t.strip() for t in args.tags.split(",") if t.strip()]
        store = self.store
        import warnings

        from ..store.retention import ModelSizeWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ModelSizeWarning)
            record = self._run_with_progress(lambda bar: quietly_unchanged(
                lambda: store.save(
                    model, name, version=args.version, bump=args.bump,
                    description=args.description, tags=tags, X=X, y=y,
                    training_dataset=args.dataset_path, format=args.format,
                    overwrite=args.overwrite, allow_unfitted=args.allow_unfitted,
                    force_new=args.force_new, progress=bar)))
        for w in caught:  # ours as one line; anything else as Python shows it
            if issubclass(w.category, ModelSizeWarning):
                print(f"ModelSizeWarning: {w.message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        files = record.files
        main = files[0]["name"] if files else ""
        path = store.version_path("trained", record.name, record.version) / main
        return SavedModel(record, path)

    @magic_arguments()
    @argument("ref", metavar="NAME[@VERSION|@ALIAS]", help="what to load (default: latest)")
    @argument("--as", dest="as_var", metavar="VAR", help="also bind the model to VAR")
    @argument("--trust", action="store_true", help="trust this version's pickled artifacts "
              "to run code (remembered for you, by hash)")
    @_line_magic
    def load_model(self, args: argparse.Namespace) -> Any:
        """Load a model (sha256-verified) by latest, exact version or alias."""
        if args.as_var is not None and not args.as_var.isidentifier():
            raise UsageError(f"--as needs a Python variable name, got {args.as_var!r}")
        name, version = _split(args.ref)
        store = self.store
        model = self._run(lambda: store.load(name, version, trust=args.trust))
        if args.as_var:
            self.shell.user_ns[args.as_var] = model
        return model

    @magic_arguments()
    @argument("model", help="the model variable (a loaded model knows its name and version)")
    @argument("X", help="test features variable")
    @argument("y", help="test target variable")
    @argument("--name", help="model name, when the model did not come from the store")
    @argument("--version", help="version to save the results beside")
    @argument("--dataset", help="label of the evaluation data (kept apart from others; "
              "'test' makes it the record's headline)")
    @argument("--require", help='quality gate, e.g. "auc_roc>=0.8,recall>=0.7"')
    @argument("--pos-label", metavar="LABEL", help="positive class of a binary task "
              "(default: the greater label, 1 or True)")
    @argument("--threshold", type=float, help="decision threshold on the positive class's "
              "score (default: the model's own predict)")
    @argument("--no-save", action="store_true", help="show the results, write nothing")
    @argument("--ui", action="store_true",
              help="open the evaluation panel (live threshold, save button) instead")
    @_line_magic
    def evaluate(self, args: argparse.Namespace) -> Any:
        """Evaluate a model: metrics and plots inline, saved beside its version."""
        model = self._var(args.model, "model variable")
        X, y = self._var(args.X, "data variable"), self._var(args.y, "target variable")
        from ..evaluation import evaluate

        store = self.store
        if args.ui:
            if args.require or args.no_save:
                raise UsageError("--ui saves only when you press Save; drop --require and "
                                 "--no-save")
            from ..widgets import EvaluationPanel

            return self._run(lambda: EvaluationPanel(
                model, X, y, store, name=args.name, version=args.version,
                dataset=args.dataset, pos_label=args.pos_label, threshold=args.threshold))
        kwargs: dict[str, Any] = {"name": args.name, "version": args.version, "store": store,
                                  "dataset": args.dataset, "require": args.require,
                                  "pos_label": args.pos_label, "threshold": args.threshold}
        if args.no_save:
            kwargs["save"] = False
        return self._run_with_progress(lambda bar: evaluate(model, X, y, **kwargs,
                                                            progress=bar))

    @magic_arguments()
    @argument("pattern", nargs="?", default="*", help="glob on model names, e.g. churn*")
    @argument("--ui", action="store_true",
              help="open the model browser (versions, records, load, alias, delete)")
    @_line_magic
    def models(self, args: argparse.Namespace) -> Any:
        """The store as a table: name, latest version, aliases, created, size, metric."""
        if args.ui:
            from ..widgets import ModelBrowser

            return self._run(lambda: ModelBrowser(
                self.store, namespace=self.shell.user_ns,
                search="" if args.pattern == "*" else args.pattern))
        from ..store.reports import ModelTable

        table = self._run(self.store.list)
        shown = ModelTable(m for m in table if fnmatch.fnmatchcase(m["name"], args.pattern))
        shown.unadopted = table.unadopted  # hand-made folders that need rebuild-index
        return shown

    @magic_arguments()
    @argument("ref", metavar="NAME[@VERSION|@ALIAS]")
    @_line_magic
    def model_info(self, args: argparse.Namespace) -> ModelInfo:
        """A version's record with its model card."""
        store = self.store
        record = self._run(lambda: store.record(*_split(args.ref)))
        aliases = sorted(a for a, v in store.aliases(record.name).items()
                         if v == record.version)
        return ModelInfo(record, aliases)

    @magic_arguments()
    @argument("refs", nargs="+", metavar="NAME[@VERSION]",
              help="one model (all its versions) or several name@version")
    @argument("--all", action="store_true", help="show every parameter, not only differences")
    @argument("--ui", action="store_true",
              help="open the comparison panel (pick versions, evaluate them on the same data)")
    @_line_magic
    def compare_models(self, args: argparse.Namespace) -> Any:
        """Compare versions: metrics with deltas, what differs, curves."""
        from ..evaluation import compare

        store = self.store
        target: Any = args.refs[0] if len(args.refs) == 1 and "@" not in args.refs[0] \
            else list(args.refs)
        if args.ui:
            from ..widgets import CompareVersions

            panel = self._run(lambda: CompareVersions(target, store,
                                                      namespace=self.shell.user_ns))
            panel.show_all.value = args.all
            return panel
        kwargs: dict[str, Any] = {"store": store}
        if args.all:
            kwargs["only_differences"] = False
        return self._run(lambda: compare(target, **kwargs))

    @magic_arguments()
    @argument("name")
    @argument("alias", help="e.g. production, staging")
    @argument("version", help="version (or alias) to point at")
    @_line_magic
    def model_alias(self, args: argparse.Namespace) -> str:
        """Point an alias at a version: ``%model_alias churn production 1.2.0``."""
        store = self.store
        exact = self._run(lambda: store.set_alias(args.name, args.alias, args.version))
        print(f"{args.name}@{args.alias} -> {exact}")
        return None  # type: ignore[return-value]

    @magic_arguments()
    @argument("ref", metavar="NAME@VERSION", help="the version to edit (or NAME@ALIAS)")
    @argument("--description", help="the new description")
    @argument("--tags", help="comma-separated tags that replace the current ones")
    @argument("--add-tags", default="", help="comma-separated tags to add")
    @argument("--remove-tags", default="", help="comma-separated tags to remove")
    @_line_magic
    def model_edit(self, args: argparse.Namespace) -> EditedVersion:
        """Change a version's description or tags (recorded as an edit; artifacts untouched)."""
        name, sep, version = args.ref.partition("@")
        if not sep or not version:
            raise UsageError(f"%model_edit needs NAME@VERSION (got {args.ref!r}), "
                             f"e.g. %model_edit churn@1.2.0 --description 'retrained'")
        if args.description is None and args.tags is None and not args.add_tags \
                and not args.remove_tags:
            raise UsageError("nothing to edit: give --description, --tags, --add-tags or "
                             "--remove-tags")
        store = self.store
        before = self._run(lambda: store.record(name, version))
        after = self._run(lambda: store.edit(
            name, version, description=args.description, tags=args.tags,
            add_tags=args.add_tags, remove_tags=args.remove_tags))
        return EditedVersion(after, len(after.get("edits") or []) >
                             len(before.get("edits") or []))

    @line_magic
    def nbmodels_store(self, line: str) -> StoreInfo:
        """Which store the magics use, and why."""
        line = strip_comment(line).strip()
        if line in ("-h", "--help"):
            self.shell.run_line_magic("pinfo", "%nbmodels_store")
            return None  # type: ignore[return-value]
        if line:
            raise UsageError("%nbmodels_store takes no arguments; set the store with "
                             "%config ModelMagics.store_dir = '...'")
        store = self.store
        return StoreInfo(store.root, self._store_source(store), len(store.names()))
