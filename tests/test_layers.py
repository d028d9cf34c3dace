"""The package's architecture, checked from its source.

The import graph of ``nbmodels/`` is built with :mod:`ast` (every import: module level,
inside functions, under ``if TYPE_CHECKING:``; a cycle that only type checkers see is
still a design cycle) and checked against the layers of ``docs/architecture.md``:

    shared      nbmodels.errors, nbmodels.display, nbmodels.config, nbmodels.progress
    storage     nbmodels.storage.*
    formats     nbmodels.formats.*          } one layer in the docs; inside it the
    record      nbmodels.record.*           } record may import formats, never the reverse
    store       nbmodels.store.*
    evaluation  nbmodels.evaluation.*
    faces       nbmodels.magics.*, cli, server.*, widgets.*, ipython_profile, quickstart
    facade      nbmodels (``__init__.py``: the public API; it may lazily import anything)

An import is an edge to the module it names (``from ..store.reports import x`` is an
edge to ``nbmodels.store.reports``, ``from ..store import x`` to the ``nbmodels.store``
package); the parent packages Python also runs are not counted. Every failure lists
each violation as ``file:line``.
"""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "nbmodels"

# Bottom to top. A module belongs to the first rule whose name or package it matches.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("shared", ("nbmodels.errors", "nbmodels.display", "nbmodels.config", "nbmodels.progress")),
    ("storage", ("nbmodels.storage",)),
    ("formats", ("nbmodels.formats",)),
    ("record", ("nbmodels.record",)),
    ("store", ("nbmodels.store",)),
    ("evaluation", ("nbmodels.evaluation",)),
    (
        "faces",
        (
            "nbmodels.magics",
            "nbmodels.cli",
            "nbmodels.cli_parser",
            "nbmodels.server",
            "nbmodels.widgets",
            "nbmodels.ipython_profile",
            "nbmodels.quickstart",
            "nbmodels.__main__",
        ),
    ),
    ("facade", ("nbmodels",)),
]
FACADE = "nbmodels"
# The libraries of the faces: the core (everything below the faces) never imports them.
FACE_LIBRARIES = frozenset({"IPython", "ipywidgets", "jupyter_server", "tornado"})
# ``_x_`` names are protocols, not private: IPython's ``_repr_html_``, ``_ipython_display_``.
# namedtuple's public API is spelled with one underscore so as not to clash with fields;
# ``_estimator_type`` is how scikit-learn's developer guide (before 1.6) and third-party
# estimators (xgboost, lightgbm) declare a classifier or regressor.
PUBLIC_UNDERSCORE = frozenset(
    {"_asdict", "_replace", "_fields", "_make", "_field_defaults", "_estimator_type"}
)


# -- the graph ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Graph:
    """Modules of a package (dotted name -> file) and the imports between them."""

    root: Path
    modules: dict[str, Path]
    internal: list[Import] = field(default_factory=list)
    external: list[Import] = field(default_factory=list)  # target: top-level library name

    def rel(self, module: str) -> str:
        return str(self.modules[module].relative_to(self.root))


def discover(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``package`` under ``root``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(modules: dict[str, Path], module: str) -> bool:
    return modules[module].name == "__init__.py"


def _base_of(modules: dict[str, Path], module: str, level: int) -> str:
    """The package a relative import of ``level`` dots in ``module`` starts from."""
    package = module if _is_package(modules, module) else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def _known(modules: dict[str, Path], name: str) -> str:
    """``name`` if it is a module of the package, else its nearest ancestor that is."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def _imports_of(
    modules: dict[str, Path], module: str, tree: ast.AST
) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, internal)`` for every import statement in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, alias.name.split(".")[0] == PACKAGE
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base_of(modules, module, node.level)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source.split(".")[0] != PACKAGE:
                yield source, node.lineno, False
                continue
            for alias in node.names:
                if source == PACKAGE and alias.name.startswith("__"):
                    continue  # ``from nbmodels import __version__``: metadata, not the API
                candidate = f"{source}.{alias.name}"
                yield (candidate if candidate in modules else source), node.lineno, True


def build_graph(root: Path = ROOT, package: str = PACKAGE) -> Graph:
    """Parse every module of ``package`` and collect its imports."""
    modules = discover(root, package)
    graph = Graph(root, modules)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = str(path.relative_to(root))
        for target, line, internal in _imports_of(modules, module, tree):
            if internal:
                target = _known(modules, target)
                if target and target != module:
                    graph.internal.append(Import(module, target, rel, line))
            elif target:
                graph.external.append(Import(module, target.split(".")[0], rel, line))
    return graph


# -- the rules ----------------------------------------------------------------------------------


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    """Index of ``module``'s layer (0 is the bottom), or ``None`` if no layer claims it."""
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer index)
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            # The facade is the package's __init__ alone, not everything under it.
            below = prefix != FACADE and module.startswith(prefix + ".")
            if (module == prefix or below) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def unclassified(graph: Graph) -> list[str]:
    return [
        f"{graph.rel(m)}: {m} is in no layer; add it to LAYERS here and to docs/architecture.md"
        for m in graph.modules
        if layer_of(m) is None
    ]


def upward_imports(graph: Graph) -> list[str]:
    """Every import that points up a layer (the facade may import anything)."""
    out = []
    for imp in graph.internal:
        if imp.source == FACADE:
            continue
        src, dst = layer_of(imp.source), layer_of(imp.target)
        if src is not None and dst is not None and dst > src:
            out.append(
                f"{imp.where}: {imp.source} ({LAYERS[src][0]}) imports {imp.target} "
                f"({LAYERS[dst][0]}), which is above it"
            )
    return sorted(out)


def _strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on a large package)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _shortest_cycle(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One shortest cycle through the first module of a strongly connected component."""
    start = component[0]
    members = set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges.get(node, ())):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return component  # pragma: no cover - a component always has a cycle


def import_cycles(graph: Graph) -> list[str]:
    """Each import cycle (the facade left out): one shortest loop, then every import
    between its modules with ``file:line``."""
    edges: dict[str, set[str]] = {}
    for imp in graph.internal:
        if FACADE not in (imp.source, imp.target):
            edges.setdefault(imp.source, set()).add(imp.target)
    out = []
    for component in _strongly_connected(sorted(graph.modules), edges):
        if len(component) < 2:
            continue
        members = set(component)
        loop = " -> ".join(_shortest_cycle(component, edges))
        lines = [f"import cycle among {len(component)} modules, e.g. {loop}:"]
        lines += sorted(
            {
                f"    {imp.where}: {imp.source} -> {imp.target}"
                for imp in graph.internal
                if imp.source in members and imp.target in members
            }
        )
        out.append("\n".join(lines))
    return out


def face_library_imports(graph: Graph) -> list[str]:
    """Imports of IPython, ipywidgets, jupyter_server or tornado below the faces."""
    faces = next(i for i, (name, _) in enumerate(LAYERS) if name == "faces")
    return sorted(
        f"{imp.where}: {imp.source} imports {imp.target}, a face library; the core "
        f"must work without it"
        for imp in graph.external
        if imp.target in FACE_LIBRARIES and (layer_of(imp.source) or 0) < faces
    )


def _private(name: str) -> bool:
    if not name.startswith("_") or name.startswith("__"):
        return False
    return not (name.endswith("_") and len(name) > 2) and name not in PUBLIC_UNDERSCORE


def _is_self(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    # super()._x: the object's own (inherited) private attribute
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def _private_module_outside(importer: str, target: str) -> bool:
    """``target`` is (inside) a private module of a package ``importer`` is not in."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if _private(part):
            owner = ".".join(parts[:i])
            return not (importer == owner or importer.startswith(owner + "."))
    return False


def private_reads(graph: Graph) -> list[str]:
    """Reads of another module's or object's private names.

    Caught: ``from x import _y``; importing a private module from outside its package;
    ``anything._y`` (and ``getattr(anything, "_y")``) unless ``anything`` is ``self``,
    ``cls`` or ``super()``.
    """
    out = []
    for path in graph.modules.values():
        rel = str(path.relative_to(graph.root))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if _private(alias.name):
                        out.append(
                            f"{rel}:{node.lineno}: imports the private name "
                            f"{alias.name} of another module"
                        )
            if isinstance(node, ast.Attribute) and _private(node.attr) and not _is_self(node.value):
                out.append(
                    f"{rel}:{node.lineno}: reads {ast.unparse(node)}, a private "
                    f"attribute of something that is not self/cls"
                )
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
                and not _is_self(node.args[0])
            ):
                out.append(
                    f"{rel}:{node.lineno}: {node.func.id}(..., "
                    f"{node.args[1].value!r}) on something that is not self/cls"
                )
    for imp in graph.internal:
        if _private_module_outside(imp.source, imp.target):
            out.append(f"{imp.where}: imports {imp.target}, a private module of another package")
    return sorted(set(out))


# File operations that only nbmodels/storage/ may perform: everything else reaches bytes
# through the storage backend (or, for scratch files outside any store, storage.local).
_OS_FILE_OPS = {"open", "remove", "rename", "replace", "unlink", "rmdir", "removedirs",
                "makedirs", "mkdir", "listdir", "scandir", "walk", "link", "symlink",
                "truncate", "mkfifo", "utime"}
_PATH_FILE_METHODS = {"read_text", "write_text", "write_bytes", "mkdir", "unlink", "rmdir",
                      "iterdir", "glob", "rglob", "touch", "symlink_to", "hardlink_to"}


_BACKENDS = {"fs", "_io", "local", "sink", "source"}


def _final_name(node: ast.expr) -> str | None:
    """``fs`` for ``fs``, ``self.fs`` or ``tree.fs``; ``None`` for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def direct_file_access(graph: Graph) -> list[str]:
    """File access outside ``nbmodels/storage/``: ``open()``, ``os`` file functions,
    ``shutil``, ``tempfile`` and ``pathlib`` file methods."""
    out = []
    for module, path in graph.modules.items():
        if module == "nbmodels.storage" or module.startswith("nbmodels.storage."):
            continue
        rel = str(path.relative_to(graph.root))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])
                for name in names:
                    if name.split(".")[0] in ("shutil", "tempfile"):
                        out.append(f"{rel}:{node.lineno}: imports {name}")
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if node.args and ast.unparse(node.args[0]) == "os.devnull":
                continue  # silencing output is not file access
            if isinstance(func, ast.Attribute) and _final_name(func.value) in _BACKENDS:
                continue  # the storage backend, an artifact sink/source, or storage.local
            if isinstance(func, ast.Name) and func.id == "open":
                out.append(f"{rel}:{node.lineno}: calls open()")
            elif isinstance(func, ast.Attribute):
                owner = func.value
                if (isinstance(owner, ast.Name) and owner.id == "os"
                        and func.attr in _OS_FILE_OPS):
                    out.append(f"{rel}:{node.lineno}: calls os.{func.attr}()")
                elif func.attr in _PATH_FILE_METHODS:
                    out.append(f"{rel}:{node.lineno}: calls {ast.unparse(func)}()")
    return sorted(out)


def _report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n" + "\n".join(violations)


# -- the package --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph()


# Each rule: a function of the graph that returns its violations, one string each.
RULES = {
    "modules without a layer": unclassified,
    "imports that point up a layer": upward_imports,
    "import cycles": import_cycles,
    "face-library imports in the core": face_library_imports,
    "reads of private names": private_reads,
    "file access outside nbmodels/storage": direct_file_access,
}


def test_the_graph_reads_the_package(graph):
    """Guards the rules below against passing because nothing was read."""
    assert len(graph.modules) > 30 and len(graph.internal) > 100
    assert any(i.source == "nbmodels.store.model_store" for i in graph.internal)


@pytest.mark.parametrize("rule", list(RULES))
def test_architecture(graph, rule):
    violations = RULES[rule](graph)
    assert not violations, _report(rule, violations)


def _packages() -> list[str]:
    """``nbmodels`` and every subpackage, found on disk (nothing imported to list them)."""
    return sorted(m for m, path in discover(ROOT, PACKAGE).items() if path.name == "__init__.py")


_FUTURE_FEATURE = type(__import__("__future__").annotations)


def public_names(module: types.ModuleType) -> set[str]:
    """Names a user sees in ``module``: not ``_x``, not its submodules, not the
    ``from __future__`` flags."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, _FUTURE_FEATURE)
        and not (
            isinstance(value, types.ModuleType) and value.__name__.startswith(module.__name__ + ".")
        )
    }


@pytest.mark.parametrize("name", _packages())
def test_public_names_are_exactly_all(name):
    """httpx-style: what a package shows is what it exports, nothing by accident."""
    module = importlib.import_module(name)
    exported = list(getattr(module, "__all__", []))
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    missing = [n for n in exported if not hasattr(module, n)]  # also loads lazy names
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
    extra = sorted(public_names(module) - set(exported))
    path = discover(ROOT, PACKAGE)[name]
    lines = _bindings(path)
    where = [f"{path.relative_to(ROOT)}:{lines.get(n, '?')}: {n}" for n in extra]
    assert not extra, (
        f"{name} shows public names that are not in its __all__ (export them or bind them "
        f"under a _private name):\n" + "\n".join(where)
    )


def _bindings(path: Path) -> dict[str, int]:
    """Line where each module-level name of ``path`` is first bound."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        for n in names:
            found.setdefault(n, node.lineno)
    return found


# -- the checks themselves can fail -------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Graph:
    for rel, text in files.items():
        path = tmp_path / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return build_graph(tmp_path)


def test_checks_find_cycles_upward_imports_and_private_reads(tmp_path):
    graph = _tree(
        tmp_path,
        {
            "__init__.py": "from .magics import x\n",
            "errors.py": "",
            "magics.py": "from IPython import get_ipython\nx = 1\n",
            "record/__init__.py": "",
            "record/record.py": "def f():\n    from .card import card\n",
            "record/card.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .record import f\n"
            "from .. import errors\n",
            "storage/__init__.py": "",
            "storage/local.py": "from ..store import ModelStore\nimport IPython.display\n",
            "store/__init__.py": "",
            "store/model_store.py": "from ..storage.local import _atomic\n"
            "class ModelStore:\n"
            "    def f(self, store):\n"
            "        self._ok = store._registry\n"
            "        return getattr(store, '_rel'), super()._fine, "
            "self._repr_html_(), store._repr_html_()\n",
            "widgets/__init__.py": "",
            "widgets/panel.py": "from ..formats._private import thing\n",
            "formats/__init__.py": "",
            "formats/_private.py": "from ._sibling import y\n",
            "formats/_sibling.py": "",
            "elsewhere.py": "",
        },
    )
    assert unclassified(graph) == [
        "nbmodels/elsewhere.py: nbmodels.elsewhere is in no layer; add it to LAYERS here "
        "and to docs/architecture.md"
    ]
    up = upward_imports(graph)
    assert up == [
        "nbmodels/storage/local.py:1: nbmodels.storage.local (storage) imports "
        "nbmodels.store (store), which is above it"
    ]
    cycles = import_cycles(graph)
    assert len(cycles) == 1
    assert "nbmodels.record.card -> nbmodels.record.record -> nbmodels.record.card" in cycles[0]
    assert "nbmodels/record/card.py:3: nbmodels.record.card -> nbmodels.record.record" in cycles[0]
    assert (
        "nbmodels/record/record.py:2: nbmodels.record.record -> nbmodels.record.card" in cycles[0]
    )
    assert face_library_imports(graph) == [
        "nbmodels/storage/local.py:2: nbmodels.storage.local imports IPython, a face "
        "library; the core must work without it"
    ]
    private = private_reads(graph)
    assert private == sorted(
        [
            "nbmodels/store/model_store.py:1: imports the private name _atomic of another module",
            "nbmodels/store/model_store.py:4: reads store._registry, a private attribute of "
            "something that is not self/cls",
            "nbmodels/store/model_store.py:5: getattr(..., '_rel') on something that is not "
            "self/cls",
            "nbmodels/widgets/panel.py:1: imports nbmodels.formats._private, a private module "
            "of another package",
        ]
    )


def test_an_acyclic_layered_tree_passes(tmp_path):
    graph = _tree(
        tmp_path,
        {
            "__init__.py": "def f():\n    from .magics import x\n",
            "errors.py": "",
            "display.py": "from .errors import E\n",
            "magics.py": "from IPython import get_ipython\nfrom .store import S\n",
            "store/__init__.py": "from .model_store import S\n",
            "store/model_store.py": "from ..record.record import R\nfrom ..errors import E\n",
            "record/__init__.py": "from .record import R\n",
            "record/record.py": "from ..formats import F\nfrom ..display import x\n",
            "formats/__init__.py": "from ..storage import local\n",
            "storage/__init__.py": "",
            "storage/local.py": "import os\n",
        },
    )
    assert not unclassified(graph)
    assert not upward_imports(graph)
    assert not import_cycles(graph)
    assert not face_library_imports(graph)
    assert not private_reads(graph)


def test_formats_may_not_import_the_record(tmp_path):
    graph = _tree(
        tmp_path,
        {
            "formats/__init__.py": "from ..record import card\n",
            "record/__init__.py": "",
            "record/card.py": "",
        },
    )
    assert upward_imports(graph) == [
        "nbmodels/formats/__init__.py:1: nbmodels.formats (formats) imports "
        "nbmodels.record.card (record), which is above it"
    ]


def test_public_names_leave_out_submodules_and_future_flags():
    module = types.ModuleType("pkg")
    sub = types.ModuleType("pkg.sub")
    exec("from __future__ import annotations\nimport os\nx = 1\n_y = 2\n", vars(module))
    module.sub = sub
    assert public_names(module) == {"os", "x"}


if __name__ == "__main__":  # a quick look at everything: python tests/test_layers.py
    g = build_graph()
    for title, rule in RULES.items():
        print(_report(title, rule(g)), end="\n\n")
    sys.exit(0)


def test_file_access_outside_storage_is_found(tmp_path):
    graph = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "storage/__init__.py": "",
            "storage/local.py": "import shutil\ndef f(p):\n    return open(p).read()\n",
            "store/__init__.py": "",
            "store/model_store.py": "import os\nimport tempfile\n"
            "def f(p, fs, tree):\n"
            "    fs.touch(p); tree.fs.write_bytes(p); open(os.devnull)\n"
            "    os.rename(p, p); p.write_text('x'); return open(p)\n",
        },
    )
    assert direct_file_access(graph) == [
        "nbmodels/store/model_store.py:2: imports tempfile",
        "nbmodels/store/model_store.py:5: calls open()",
        "nbmodels/store/model_store.py:5: calls os.rename()",
        "nbmodels/store/model_store.py:5: calls p.write_text()",
    ]
