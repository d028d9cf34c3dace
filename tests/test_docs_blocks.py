"""Every code block of README.md and docs/*.md runs, in order, as a reader would run it.

The conventions (fence languages, notebook blocks, ``skip`` and ``setup`` markers) are
described in ``tests/docs_runner.py``; ``python tests/docs_runner.py [FILE.md]`` runs
documents outside pytest.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from docs_runner import (
    DocFormatError,
    documents,
    parse_document,
    python_chunks,
    run_document,
)
from docs_setups import SETUP_REQUIRES, SETUPS

ROOT = Path(__file__).resolve().parents[1]
DOCS = documents()


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_document_blocks_run(doc, tmp_path):
    for block in parse_document(doc):
        for name in block.setups:
            for module in SETUP_REQUIRES[name]:
                pytest.importorskip(module, reason=f"{block.where} needs {module} (setup={name})")
    blocks, failures = run_document(doc, tmp_path / "project")
    assert any(b.kind != "text" and not b.skip for b in blocks) or doc.name == "architecture.md"
    if failures:
        pytest.fail("\n\n".join(str(f) for f in failures), pytrace=False)


def test_documents_follow_the_conventions():
    for doc in DOCS:
        parse_document(doc)  # raises DocFormatError naming every file:line at fault


def test_readme_commands_that_ci_runs_are_skipped_with_a_reason():
    shell = [b for b in parse_document(ROOT / "README.md") if b.kind == "shell"]
    install, tests = shell[:2]
    assert "nbmodels quickstart" in install.code and "pytest" in tests.code
    for block in (install, tests):
        assert block.skip and "CI" in block.skip, block.where
    # Everything else in the README runs, except what needs an S3 bucket (the team-store
    # tutorial and tests/test_remote_*.py run those steps against a local moto server).
    assert all(not b.skip or "S3 bucket" in b.skip for b in shell[2:]), [
        b.where for b in shell[2:] if b.skip]


def _parse(tmp_path: Path, text: str):
    doc = tmp_path / "doc.md"
    doc.write_text(textwrap.dedent(text))
    return parse_document(doc)


@pytest.mark.parametrize("marker", ["skip", "skip ()", "skip (  )"])
def test_a_skip_marker_without_a_reason_is_refused(tmp_path, marker):
    with pytest.raises(DocFormatError, match=r"doc\.md:2: a skip marker must say why"):
        _parse(
            tmp_path,
            f"""
            <!-- nbmodels-docs: {marker} -->
            ```bash
            nbmodels list
            ```
            """,
        )


def test_broken_conventions_are_each_named_with_their_line(tmp_path):
    with pytest.raises(DocFormatError) as err:
        _parse(
            tmp_path,
            """
            ```
            nbmodels list
            ```
            <!-- nbmodels-docs: skip (far from its fence) -->

            ```python
            x = 1
            ```
            <!-- nbmodels-docs: setup=nothing_like_it -->
            ```python
            y = 2
            ```
            ```rust
            fn main() {}
            ```
            <!-- nbmodels-docs: skip (output) -->
            ```text
            ok
            ```
            <!-- nbmodels-docs: run twice -->
            ```bash
            true
            ```
            """,
        )
    message = str(err.value)
    expected = [
        "doc.md:2: the fence has no language",
        "doc.md:5: a nbmodels-docs marker must be on the line directly above a fence",
        "doc.md:10: unknown setup nothing_like_it",
        "doc.md:14: unknown fence language 'rust'",
        "doc.md:18: a text block is never run; drop its marker",
        "doc.md:21: unknown nbmodels-docs marker 'run twice'",
    ]
    for problem in expected:
        assert problem in message, message
    assert len(message.splitlines()) == len(expected), message


def test_blocks_are_classified_and_markers_applied(tmp_path):
    blocks = _parse(
        tmp_path,
        """
        ```python
        import os
        ```
        - in a list item:

          ```python
          %load_ext nbmodels
          m = %load_model churn_rf@production  # a comment
          ```
        <!-- nbmodels-docs: setup=formats -->
        <!-- nbmodels-docs: skip (needs a GPU) -->
        ```console
        $ nbmodels list
        (no models)
        ```
        ```toml
        [tool.nbmodels]
        ```
        """,
    )
    assert [(b.line, b.kind) for b in blocks] == [
        (2, "python"),
        (7, "notebook"),
        (13, "shell"),
        (17, "text"),
    ]
    assert blocks[1].code.startswith("%load_ext nbmodels\nm = %load_model")
    assert blocks[2].skip == "needs a GPU" and blocks[2].setups == ["formats"]
    assert set(SETUPS) == set(SETUP_REQUIRES)


def test_python_is_run_statement_by_statement_with_its_lines():
    code = textwrap.dedent("""\
        # leading comment
        import os

        @staticmethod
        def f():

            return 1
        x = %time f()
        """)
    assert [first for first, _ in python_chunks(code)] == [1, 4, 8]
    doctest = ">>> a = 1\n>>> if a:\n...     a += 1\n>>> a\n2\n"
    chunks = python_chunks(doctest)
    assert [first for first, _ in chunks] == [1, 2, 4]
    assert chunks[1][1] == "if a:\n    a += 1\n"


def test_the_runner_keeps_state_and_reports_each_failure_at_its_line(tmp_path):
    doc = tmp_path / "guide.md"
    doc.write_text(
        textwrap.dedent("""\
        # A guide
        ```python
        import os
        x = 41
        assert os.environ["NBMODELS_HOME"] == os.path.abspath("models")
        ```
        ```bash
        echo "hi" > made.txt
        nbmodels --version
        ```
        ```python
        assert open("made.txt").read() == "hi\\n" and x + 1 == 42
        y = 1
        raise ValueError("boom")
        print("never")
        ```
        <!-- nbmodels-docs: skip (it would stop the kernel) -->
        ```python
        raise SystemExit
        ```
        ```python
        %load_ext nbmodels
        %load_model nope
        ```
        ```bash
        true
        false
        echo never
        ```
        ```python
        >>> x, y
        (41, 1)
        ```
        """)
    )
    blocks, failures = run_document(doc, tmp_path / "project")
    assert len(blocks) == 7
    got = [(f.line, f.kind, f.error.split(";")[0], f.after_failure) for f in failures]
    assert got == [
        (14, "python", "ValueError: boom", False),
        (23, "notebook", "UsageError: no model named 'nope'", True),
        (27, "shell", "exit 1 from `false`", True),
    ], got
    text = str(failures[0])
    assert text.startswith(f"{doc}:14: python block failed: ValueError: boom")
    assert "never" not in "".join(f.output for f in failures)
    assert (tmp_path / "project" / "made.txt").exists()
