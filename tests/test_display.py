"""nbmodels.display: the one place for numbers, sizes, tables, references and tags."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from nbmodels.display import (
    best_index,
    format_metric,
    format_size,
    html_table,
    key_value_html,
    key_value_table,
    parse_tags,
    split_ref,
    text_table,
)
from nbmodels.errors import InvalidVersionError


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "n/a"),
        (0.973333333, "0.9733"),
        (1234567.0, "1.235e+06"),
        (3, "3"),
        (True, "True"),
        (np.float32(0.123456), "0.1235"),
        (np.float64(0.5), "0.5"),
        (np.int64(5), "5"),
        (float("nan"), "nan"),
        ("binary", "binary"),
    ],
)
def test_format_metric(value, shown):
    assert format_metric(value) == shown


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (None, "?"),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (94_100_000, "94.1 MB"),
        (2_500_000_000, "2.5 GB"),
        (5 * 10**12, "5000.0 GB"),
    ],
)
def test_format_size(n, shown):
    assert format_size(n) == shown


def test_best_index_ties_go_to_the_later_value():
    assert best_index([0.8, 0.9, 0.9, 0.7], higher_is_better=True) == 2
    assert best_index([0.5, 0.3, 0.3, None], higher_is_better=False) == 2
    assert best_index([0.5, 0.3, 0.4], higher_is_better=False) == 1
    assert best_index([math.nan, 0.1, None], higher_is_better=True) == 1
    assert best_index([None, math.nan], higher_is_better=True) is None
    assert best_index([np.float32("nan"), np.float32(0.2)], higher_is_better=True) == 1
    assert best_index([], higher_is_better=False) is None


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("churn",), {}, ("churn", "latest")),
        (("churn@1.2.0",), {}, ("churn", "1.2.0")),
        (("churn@production",), {}, ("churn", "production")),
        (("churn@",), {}, ("churn", "latest")),
        (("churn", "1.2.0"), {}, ("churn", "1.2.0")),
        (("churn", "latest"), {}, ("churn", "latest")),
        (("churn@1.2.0", "latest"), {}, ("churn", "1.2.0")),
        (("churn@1.2.0", "1.2.0"), {}, ("churn", "1.2.0")),
        (("churn",), {"default": ""}, ("churn", "")),  # the CLI's delete needs a version
    ],
)
def test_split_ref(args, kwargs, expected):
    assert split_ref(*args, **kwargs) == expected


def test_split_ref_refuses_two_versions():
    with pytest.raises(
        InvalidVersionError,
        match=r"version given twice: churn@1\.2\.0 and "
        r"version='2\.0\.0'",
    ):
        split_ref("churn@1.2.0", "2.0.0")


def test_split_ref_leaves_a_non_string_to_the_callers_check():
    assert split_ref(None) == (None, "latest")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        ("a, b,,c ", ["a", "b", "c"]),
        ("", []),
        (["x", 2], ["x", "2"]),
        (("y",), ["y"]),
        (None, []),
        (5, []),
    ],
)
def test_parse_tags(value, tags):
    assert parse_tags(value) == tags


def test_text_table_aligns_columns_without_trailing_blanks():
    table = text_table(["name", "v"], [["a", "1.0.0"], ["longer", ""]])
    assert table.splitlines() == ["name    v", "a       1.0.0", "longer"]


def test_html_table_escapes_every_cell_and_header():
    out = html_table(["<h>"], [["<script>alert(1)</script>"], ["a & 'b'"]])
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "&lt;h&gt;" in out and "a &amp; &#x27;b&#x27;" in out
    assert out.startswith("<table class='nbmodels-table'><thead><tr><th style='text-align:left'>")


def test_html_table_options():
    plain = html_table(None, [["x", 1]], css_class=None, styled=False, bold_first=True)
    assert plain == "<table><tbody><tr><td><b>x</b></td><td>1</td></tr></tbody></table>"
    styled = html_table(
        ["a"], [["<code>c</code>"]], css_class="nbm", cell=lambda c: str(c)
    )  # the caller renders its own markup
    assert (
        "<table class='nbm'>" in styled and "<td style='text-align:left'><code>c</code>" in styled
    )


def test_key_value_card_escapes_and_titles():
    table = key_value_table([("a<b", "<i>x</i>")])
    assert "a&lt;b" in table and "&lt;i&gt;x&lt;/i&gt;" in table and "<i>" not in table
    card = key_value_html(
        [("why", "first version")],
        name="iris<",
        version="1.0.0",
        lead="Saved ",
        css_class="nbmodels-saved",
    )
    assert card.startswith("<div class='nbmodels-saved' style='border:1px solid #ccc;")
    assert "Saved <b>iris&lt;</b> <code>1.0.0</code><table>" in card
    assert "first version" in card


def test_display_imports_nothing_heavy():
    code = (
        "import sys, nbmodels.display; "
        "heavy = [m for m in ('numpy', 'IPython', 'sklearn', 'nbmodels.store', "
        "'nbmodels.record') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
