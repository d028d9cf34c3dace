"""Run the code blocks of README.md and docs/*.md the way a reader would, in order.

Used by ``tests/test_docs_blocks.py``; ``python tests/docs_runner.py [FILE.md ...]`` runs
documents from a terminal and prints every failure.

The conventions a document follows (they are checked, and a broken one fails the test):

- Every fence has a language. ``python`` blocks run; so do ``bash``, ``sh``, ``shell``
  and ``console`` blocks. ``text`` (and data languages such as ``toml``, ``json``,
  ``yaml``) are not code and are not run: use ``text`` for output, trees, diagrams and
  error messages. A fence without a language is refused, so that a command block cannot
  slip past the runner unnoticed.
- A ``python`` block that IPython syntax (``%magic``, ``x = %magic ...``, ``!cmd``) makes
  invalid Python is a *notebook* block; any other ``python`` block must be plain Python
  (it is parsed with ``ast`` first). Both run in the same real IPython kernel, one per
  document, started fresh in the document's own temporary project folder, so each block
  sees what the blocks before it left (variables, files, the store). A block in doctest
  form (``>>> `` and ``... `` prompts) runs its prompted lines; the lines without a
  prompt are its output and are not compared.
- Shell blocks run with ``bash -e -o pipefail`` in the same folder (a ``console`` block
  runs its ``$ `` lines only). ``nbmodels`` resolves to the one installed beside the
  running Python, and ``PYTHONPATH`` puts this checkout first, so the code under test is
  the checkout's.
- In every process, ``NBMODELS_HOME`` is ``models/`` in the project folder (the same store
  ``./models`` names), and ``IPYTHONDIR`` is a folder of the project, so a reader's own
  profile and store are never touched.
- Marker comments on the line(s) directly above a fence change how it runs:

  ``<!-- nbmodels-docs: skip (REASON) -->``
      the block is not run; the reason is required and says why (for example, CI runs
      it itself).
  ``<!-- nbmodels-docs: setup=NAME -->``
      before the block, the kernel runs the code ``SETUPS[NAME]`` of
      ``tests/docs_setups.py``: for documents whose examples use objects (a torch
      module, a Keras model) that the page does not build itself. Prefer a visible
      setup block in the document, which a reader can copy too; the README has one.
      The test skips a document whose setup needs a module that is not installed
      (``SETUP_REQUIRES``: the ``[all]`` extras).

Python code runs statement by statement (a notebook block: line by line after IPython's
transforms), so a failure names the document's exact line, and every bare expression
(``rec``, ``store.list()``) is displayed, so its repr runs too. After a failure the rest
of that block is not run, like a notebook cell, and the next block runs from the state
left; the failures after the first are marked as possibly following from it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docs_setups import SETUPS

REPO = Path(__file__).resolve().parents[1]

PYTHON_LANGS = {"python", "py", "python3", "ipython", "ipython3"}
SHELL_LANGS = {"bash", "sh", "shell", "console"}
TEXT_LANGS = {
    "text",
    "txt",
    "plain",
    "output",
    "toml",
    "json",
    "yaml",
    "yml",
    "ini",
    "cfg",
    "html",
    "xml",
    "diff",
    "csv",
}

BLOCK_TIMEOUT = 300  # seconds for one statement or one shell block; a hung block fails
OUTPUT_TAIL = 25  # lines of output shown with a failure

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*nbmodels-docs:(?P<body>.*?)-->\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class DocFormatError(ValueError):
    """A document breaks one of the conventions above (the message names file:line)."""


@dataclass
class Block:
    """One fenced block of a document."""

    doc: Path
    line: int  # 1-based line of the opening fence
    lang: str  # the fence's language, lower case
    code: str  # the block's text, indentation of the fence removed
    skip: str | None = None  # the reason, when a marker says not to run it
    setups: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """``python``, ``notebook``, ``shell`` or ``text``."""
        if self.lang in SHELL_LANGS:
            return "shell"
        if self.lang in TEXT_LANGS:
            return "text"
        return "python" if _parses(_python_source(self.code)) else "notebook"

    @property
    def where(self) -> str:
        return f"{_display(self.doc)}:{self.line}"


@dataclass
class Failure:
    """A block that did not run: where, what, and the end of its output."""

    doc: Path
    line: int  # the document's line of the failing statement, else of the fence
    kind: str
    error: str
    output: str = ""
    after_failure: bool = False  # an earlier block of the document failed too

    def __str__(self) -> str:
        head = f"{_display(self.doc)}:{self.line}: {self.kind} block failed: {self.error}"
        if self.after_failure:
            head += "  (an earlier block failed; this may follow from it)"
        tail = "\n".join(self.output.rstrip().splitlines()[-OUTPUT_TAIL:])
        return head + ("\n" + textwrap.indent(tail, "    | ") if tail else "")


def _display(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


# -- parsing ---------------------------------------------------------------------------


def parse_markers(body: str, where: str) -> tuple[str | None, list[str]]:
    """The ``(skip reason, setup names)`` of one marker comment's text."""
    body = body.strip()
    skip = re.fullmatch(r"skip\s*(?:\((?P<reason>.*)\))?", body, re.S)
    if skip:
        reason = (skip.group("reason") or "").strip()
        if not reason:
            raise DocFormatError(
                f"{where}: a skip marker must say why: <!-- nbmodels-docs: skip (REASON) -->"
            )
        return reason, []
    setup = re.fullmatch(r"setup\s*=\s*(?P<names>[\w, ]+)", body)
    if setup:
        names = [n.strip() for n in setup.group("names").split(",") if n.strip()]
        unknown = [n for n in names if n not in SETUPS]
        if unknown or not names:
            raise DocFormatError(
                f"{where}: unknown setup {', '.join(unknown) or '(none)'}; "
                f"tests/docs_runner.py defines: {', '.join(sorted(SETUPS))}"
            )
        return None, names
    raise DocFormatError(
        f"{where}: unknown nbmodels-docs marker {body!r}; use 'skip (REASON)' or 'setup=NAME'"
    )


def parse_document(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown document, with its markers applied.

    Raises :class:`DocFormatError` listing every broken convention, one ``file:line`` each.
    """
    path = Path(path)
    problems: list[str] = []
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    pending: list[tuple[int, str]] = []  # marker lines waiting for their fence
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        if marker:
            pending.append((i + 1, marker.group("body")))
            i += 1
            continue
        opening = _FENCE.match(line)
        if pending and not opening:
            problems.append(
                f"{_display(path)}:{pending[-1][0]}: a nbmodels-docs marker "
                "must be on the line directly above a fence"
            )
            pending = []
        if not opening:
            i += 1
            continue
        indent, fence, info = opening.group("indent", "fence", "info")
        lang = (info.strip().split() or [""])[0].strip("{}.").lower()
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = _FENCE.match(lines[i])
            if (
                closing
                and closing.group("fence")[0] == fence[0]
                and len(closing.group("fence")) >= len(fence)
                and not closing.group("info").strip()
            ):
                break
            body.append(
                lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip()
            )
            i += 1
        else:
            problems.append(f"{_display(path)}:{start}: the fence is never closed")
        i += 1
        where = f"{_display(path)}:{start}"
        markers, pending = pending, []
        if not lang:
            problems.append(
                f"{where}: the fence has no language; write ```python or ```bash for code "
                "(it is run), or ```text for output, trees and messages (not run)"
            )
            continue
        if lang not in PYTHON_LANGS | SHELL_LANGS | TEXT_LANGS:
            problems.append(
                f"{where}: unknown fence language {lang!r}; the docs runner "
                f"knows {', '.join(sorted(PYTHON_LANGS | SHELL_LANGS))} (run) "
                f"and {', '.join(sorted(TEXT_LANGS))} (not run)"
            )
            continue
        block = Block(path, start, lang, "\n".join(body) + "\n")
        for marker_line, marker_body in markers:
            try:
                reason, setups = parse_markers(marker_body, f"{_display(path)}:{marker_line}")
            except DocFormatError as exc:
                problems.append(str(exc))
                continue
            block.skip = reason or block.skip
            block.setups += setups
        if block.kind == "text" and markers:
            problems.append(f"{where}: a {lang} block is never run; drop its marker")
        blocks.append(block)
    if pending:
        problems.append(
            f"{_display(path)}:{pending[-1][0]}: a nbmodels-docs marker must be "
            "on the line directly above a fence"
        )
    if problems:
        raise DocFormatError("\n".join(problems))
    return blocks


def _python_source(code: str) -> str:
    """The code of a block; in doctest form, its prompted lines (others blank)."""
    lines = code.splitlines()
    if not any(line.startswith(">>>") for line in lines):
        return code
    out = []
    for line in lines:
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            out.append(line[4:])
        else:
            out.append("")  # output of the example: not run, line numbers kept
    return "\n".join(out) + "\n"


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def python_chunks(code: str) -> list[tuple[int, str]]:
    """``(first line, source)`` of each top-level statement, 1-based within the block.

    Notebook blocks are split after IPython's transforms, which keep one line per line
    for line magics; a cell magic (``%%``) or a transform that moves lines keeps the
    block whole.
    """
    source = _python_source(code)
    parsed = source
    if not _parses(source):
        if source.lstrip().startswith("%%"):
            return [(1, source)]
        from IPython.core.inputtransformer2 import TransformerManager

        parsed = TransformerManager().transform_cell(source)
        if parsed.count("\n") != source.count("\n") or not _parses(parsed):
            return [(1, source)]
    starts = []
    for node in ast.parse(parsed).body:
        decorators = getattr(node, "decorator_list", [])
        starts.append(min([node.lineno] + [d.lineno for d in decorators]))
    if not starts:
        return []
    lines = source.splitlines()
    starts[0] = 1  # leading comments travel with the first statement
    chunks = []
    for n, first in enumerate(starts):
        last = starts[n + 1] - 1 if n + 1 < len(starts) else len(lines)
        chunks.append((first, "\n".join(lines[first - 1 : last]).rstrip() + "\n"))
    return chunks


# -- running ---------------------------------------------------------------------------


class DocumentRun:
    """One document's project folder, its kernel (started on first use) and its env."""

    def __init__(self, doc: Path, project: Path) -> None:
        self.doc = Path(doc)
        self.project = Path(project)
        self.project.mkdir(parents=True, exist_ok=True)
        self.env = docs_env(self.project)
        self._km: Any = None
        self._kc: Any = None

    def __enter__(self) -> DocumentRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._kc is not None:
            self._kc.stop_channels()
            self._km.shutdown_kernel(now=True)
            self._kc = self._km = None

    def _kernel(self) -> Any:
        if self._kc is None:
            from jupyter_client.manager import start_new_kernel

            # Plain tracebacks: a failure's output tail shows frames, not source context.
            self._km, self._kc = start_new_kernel(
                kernel_name="python3",
                cwd=str(self.project),
                env=self.env,
                startup_timeout=120,
                extra_arguments=["--InteractiveShell.xmode=Plain"],
            )
        return self._kc

    def run_python(self, code: str) -> tuple[str, str | None, int | None]:
        """Run code in the kernel: ``(output, error or None, line of the error in code)``."""
        kc = self._kernel()
        if not self._km.is_alive():
            return "", "the kernel is no longer running (a block above ended it)", None
        texts: list[str] = []
        error: dict[str, Any] = {}

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                texts.append(data.get("text/plain", "") + "\n")
            elif kind == "error":
                error.update(content)

        try:
            reply = kc.execute_interactive(
                code, timeout=BLOCK_TIMEOUT, output_hook=hook, allow_stdin=False
            )
        except TimeoutError:
            self._km.interrupt_kernel()  # so that the next block gets the kernel back
            return "".join(texts), f"timed out after {BLOCK_TIMEOUT} s", None
        content = reply["content"]
        if content["status"] == "ok":
            return "".join(texts), None, None
        error = error or content
        traceback = _ANSI.sub("", "\n".join(t.rstrip("\n") for t in error.get("traceback", [])))
        line = None
        found = re.search(r"Cell In\[\d+\], line (\d+)", traceback)
        if found:
            line = int(found.group(1))
        message = f"{error.get('ename', 'Error')}: {error.get('evalue', '')}"
        shown = "".join(texts) + (traceback if "\n" in traceback.strip() else "")
        return shown, message, line

    def run_block(self, block: Block) -> Failure | None:
        """Run one block; the failure, or ``None`` when it ran (or is not run)."""
        if block.skip or block.kind == "text":
            return None
        for name in block.setups:
            output, error, _ = self.run_python(SETUPS[name])
            if error:
                kind = f"setup {name!r} of the {block.kind}"
                return Failure(block.doc, block.line, kind, error, output)
        if block.kind == "shell":
            return self._run_shell(block)
        return self._run_python_block(block)

    def _run_python_block(self, block: Block) -> Failure | None:
        if block.kind == "notebook" and not _notebook_parses(block.code):
            return Failure(
                block.doc,
                block.line,
                block.kind,
                "not valid Python, even with IPython's syntax (magics, !cmd)",
            )
        for first, chunk in python_chunks(block.code):
            output, error, line = self.run_python(chunk)
            if error:
                at = block.line + first + ((line or 1) - 1)
                return Failure(block.doc, at, block.kind, error, output)
        return None

    def _run_shell(self, block: Block) -> Failure | None:
        code = block.code
        if block.lang == "console":
            lines = code.splitlines()
            if not any(line.startswith("$ ") for line in lines):
                return Failure(
                    block.doc,
                    block.line,
                    "console",
                    "a console block runs its '$ ' lines and has none",
                )
            code = "\n".join(line[2:] if line.startswith("$ ") else "" for line in lines)
        # Line 1 of the script is the preamble, so block line N is $LINENO N + 1.
        script = (
            "set -e -o pipefail; trap 'echo \"nbmodels-docs: exit $? at line "
            "$((LINENO - 1))\" >&2' ERR\n" + code
        )
        try:
            out = subprocess.run(
                ["bash", "-c", script],
                cwd=self.project,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=BLOCK_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            return Failure(
                block.doc,
                block.line,
                "shell",
                f"timed out after {exc.timeout} s",
                _text(exc.stdout),
            )
        if out.returncode == 0:
            return None
        output = out.stdout
        found = re.findall(r"nbmodels-docs: exit (\d+) at line (\d+)", output)
        line = block.line + int(found[-1][1]) if found else block.line
        command = (
            re.sub(r"\s{2,}", " ", code.splitlines()[int(found[-1][1]) - 1].strip())
            if found
            else ""
        )
        error = f"exit {out.returncode}" + (f" from `{command}`" if command else "")
        output = re.sub(r"nbmodels-docs: exit \d+ at line \d+\n?", "", output)
        return Failure(block.doc, line, "shell", error, output)


def _notebook_parses(code: str) -> bool:
    from IPython.core.inputtransformer2 import TransformerManager

    return _parses(TransformerManager().transform_cell(_python_source(code)))


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def docs_env(project: Path) -> dict[str, str]:
    """The environment of a document's kernel and shell blocks (see the module docstring)."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    # The checkout first; the test helpers' folder is no part of a reader's setup.
    tests_dir = str(Path(__file__).resolve().parent)
    extra = [
        p
        for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and Path(p).resolve() != Path(tests_dir)
    ]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *extra])
    env["NBMODELS_HOME"] = str(Path(project) / "models")
    env["IPYTHONDIR"] = str(Path(project) / ".ipython")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    return env


def run_document(doc: Path, project: Path) -> tuple[list[Block], list[Failure]]:
    """Run every block of ``doc`` in order in ``project``; the blocks and the failures."""
    blocks = parse_document(doc)
    failures: list[Failure] = []
    with DocumentRun(doc, project) as run:
        if not shutil.which("nbmodels", path=run.env["PATH"]) and any(
            b.kind == "shell" and not b.skip for b in blocks
        ):
            failures.append(
                Failure(
                    doc,
                    1,
                    "shell",
                    f"no `nbmodels` command beside {sys.executable}; install the package there",
                )
            )
            return blocks, failures
        for block in blocks:
            failure = run.run_block(block)
            if failure:
                failure.after_failure = bool(failures)
                failures.append(failure)
    return blocks, failures


def documents() -> list[Path]:
    """The documents whose blocks run: README.md and every docs/*.md."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    """Run documents (default: all) in temporary folders and print what failed."""
    import tempfile

    docs = [Path(a).resolve() for a in (argv if argv is not None else sys.argv[1:])]
    status = 0
    for doc in docs or documents():
        with tempfile.TemporaryDirectory(prefix="nbmodels-docs-") as tmp:
            try:
                blocks, failures = run_document(doc, Path(tmp))
            except DocFormatError as exc:
                print(exc)
                status = 1
                continue
        ran = sum(1 for b in blocks if b.kind != "text" and not b.skip)
        print(f"{_display(doc)}: {ran} blocks run, {len(failures)} failed")
        for failure in failures:
            print(failure)
        status = status or int(bool(failures))
    return status


if __name__ == "__main__":
    sys.exit(main())
