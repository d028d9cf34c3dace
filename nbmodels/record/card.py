"""The model card: ``model_card.md`` beside each record, and the same card as HTML.

The card is filled only from what the record knows (plus scikit-learn's diagram of the
estimator, drawn at save time): a section with nothing to say is left out rather than
shown with a placeholder. Both forms come from one list of sections, so the Markdown
file and the notebook view never disagree.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from ..display import format_metric, format_size, html_table, key_value_table, parse_tags
from .metric_names import metrics_source_text

__all__ = ["ModelCard", "diagram_from_markdown", "model_card", "model_card_html"]

DIAGRAM_START = "<!-- nbmodels:diagram -->"
DIAGRAM_END = "<!-- /nbmodels:diagram -->"
_MAX_FEATURES_SHOWN = 50

# A block is ("facts", [(label, value)]), ("table", header, rows), ("code", lang, text),
# ("text", str) or ("diagram", html).
Block = tuple[Any, ...]


# The store hands the card only records it checked (record/validate.py), but a card can
# be made from any dict, and nested parts (lineage, environment, ...) are not checked
# field by field: every value is read through these, so a wrong type shows as absent.
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _summary(r: Mapping[str, Any]) -> list[Block]:
    framework = " ".join(filter(None, (_text(r.get("framework")),
                                       _text(r.get("framework_version")))))
    size = _number(r.get("size_bytes"))
    facts = [
        ("Created", _text(r.get("created_at"))),
        ("Author", _text(r.get("author"))),
        ("Framework", framework),
        ("Model class", _text(r.get("model_class"))),
        ("Estimator type", _text(r.get("estimator_type"))),
        ("Format", _text(r.get("format"))),
        ("Size", format_size(int(size)) if size else None),
        ("Tags", ", ".join(parse_tags(r.get("tags")))),
        ("Why this version", _text(r.get("version_reason"))),
        ("Content hash", _text(r.get("content_hash"))),
    ]
    return [("facts", [(k, v) for k, v in facts if v])]


def _interface(r: Mapping[str, Any]) -> list[Block]:
    facts = []
    feats = _list(r.get("features"))
    data = _dict(_dict(r.get("lineage")).get("data"))
    dtypes = _dict(_dict(data.get("X")).get("dtypes"))
    if feats:
        shown = [f"{f} ({dtypes[f]})" if isinstance(f, str) and f in dtypes else str(f)
                 for f in feats[:_MAX_FEATURES_SHOWN]]
        more = f", ... (+{len(feats) - _MAX_FEATURES_SHOWN})" \
            if len(feats) > _MAX_FEATURES_SHOWN else ""
        facts.append((f"Features ({len(feats)})", ", ".join(shown) + more))
    elif _number(r.get("n_features")):
        facts.append(("Features", f"{r['n_features']} unnamed (trained on an array)"))
    target = r.get("target")
    if target:
        facts.append(("Target", ", ".join(map(str, target)) if isinstance(target, list)
                      else _text(target)))
    if isinstance(r.get("classes"), list):
        facts.append(("Classes", ", ".join(map(str, r["classes"]))))
    return [("facts", facts)] if facts else []


def _metrics(r: Mapping[str, Any]) -> list[Block]:
    metrics = _dict(r.get("metrics"))
    rows = [[str(k), format_metric(v)] for k, v in metrics.items()
            if not isinstance(v, (dict, list))]
    source = metrics_source_text(r)
    measured: list[Block] = [("facts", [("Measured on", source)])] if source and rows else []
    return measured + ([("table", ["metric", "value"], rows)] if rows else [])


def _training_data(r: Mapping[str, Any]) -> list[Block]:
    data = _dict(_dict(r.get("lineage")).get("data"))
    facts: list[tuple[str, Any]] = [("Source", _text(data.get("source"))
                                     or _text(r.get("training_dataset")))]
    fingerprint = _text(data.get("fingerprint"))
    facts.append(("Fingerprint", fingerprint and f"`{fingerprint}`"))
    for key in ("X", "y"):
        part = _dict(data.get(key))
        shape = part.get("shape")
        if not isinstance(shape, list):
            continue
        desc = " x ".join(map(str, shape))
        if _text(part.get("dtype")):
            desc += f", {part['dtype']}"
        if _text(part.get("name")):
            desc += f", named {part['name']}"
        facts.append((key, desc))
    balance = {k: v for k, v in _dict(data.get("class_balance")).items()
               if _number(v) is not None}
    if balance:
        total = sum(balance.values()) or 1
        facts.append(("Class balance", ", ".join(f"{k}: {v} ({v / total:.1%})"
                                                 for k, v in balance.items())))
    facts = [(k, v) for k, v in facts if v]
    return [("facts", facts)] if facts else []


def _lineage(r: Mapping[str, Any]) -> list[Block]:
    lin = _dict(r.get("lineage"))
    facts: list[tuple[str, Any]] = []
    cell = _text(lin.get("execution_count"))
    if _text(lin.get("notebook")):
        facts.append(("Notebook", f"{lin['notebook']}" + (f" (cell [{cell}])" if cell else "")))
    elif cell:
        facts.append(("IPython cell", f"[{cell}]"))
    if _text(lin.get("script")):
        facts.append(("Script", _text(lin["script"])))
    git = _dict(lin.get("git"))
    commit = _text(git.get("commit"))
    if commit:
        dirty = " with uncommitted changes" if git.get("dirty") else ""
        branch = f"{git['branch']} @ " if _text(git.get("branch")) else ""
        facts.append(("Git", f"{branch}{commit[:12]}{dirty}"))
    if _text(lin.get("working_dir")):
        facts.append(("Working directory", _text(lin["working_dir"])))
    return [("facts", facts)] if facts else []


def _architecture(r: Mapping[str, Any], diagram: str | None) -> list[Block]:
    arch = _dict(r.get("architecture"))
    blocks: list[Block] = []
    if _text(arch.get("text")):
        blocks.append(("code", "text", _text(arch["text"])))
    parameters = _number(arch.get("parameters"))
    if parameters:
        blocks.append(("facts", [("Parameters", f"{parameters:,}")]))
    if diagram:
        blocks.append(("diagram", diagram))
    return blocks


def _environment(r: Mapping[str, Any]) -> list[Block]:
    env = _dict(r.get("environment"))
    blocks: list[Block] = []
    python = _text(env.get("python")) or _text(r.get("python_version"))
    implementation = _text(env.get("python_implementation"))
    facts = [("Python", " ".join(filter(None, [python, implementation and
                                               f"({implementation}, "
                                               f"{env.get('platform')})"])))] if python else []
    if _list(env.get("local_modules")):
        facts.append(("Local modules needed", ", ".join(map(str, env["local_modules"]))))
    if _list(env.get("saved_by_value")):
        facts.append(("Saved by value (cloudpickle)", ", ".join(map(str,
                                                                   env["saved_by_value"]))))
    if facts:
        blocks.append(("facts", facts))
    packages = _dict(env.get("packages"))
    if packages:
        blocks.append(("table", ["package", "version"], [[k, v] for k, v in packages.items()]))
    if _text(env.get("pip")):
        blocks.append(("code", "bash", _text(env["pip"])))
    return blocks


def _hyperparameters(r: Mapping[str, Any]) -> list[Block]:
    params = _dict(r.get("hyperparameters"))
    if not params:
        return []
    try:
        text = json.dumps(params, indent=2, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):  # keys of mixed types, cycles, ...
        text = repr(params)[:10_000]
    return [("code", "json", text)]


def _load_check(r: Mapping[str, Any]) -> list[Block]:
    check = r.get("load_check")
    if not check:
        return []
    rows = _number(_dict(check).get("rows")) or 0
    what = (f"predictions on {rows} training rows matched" if rows else "loaded")
    return [("text", f"Loaded in a fresh Python process before it was published; {what}.")]


def _files(r: Mapping[str, Any]) -> list[Block]:
    files = [f for f in _list(r.get("files")) if isinstance(f, dict)]
    rows = [[f"`{f.get('name')}`", format_size(_number(f.get("size"))),
             f"`{f.get('sha256')}`"] for f in files]
    return [("table", ["file", "size", "sha256"], rows)] if rows else []


def _sections(r: Mapping[str, Any], diagram: str | None) -> list[tuple[str, list[Block]]]:
    return [(title, blocks) for title, blocks in (
        ("Summary", _summary(r)),
        ("Interface", _interface(r)),
        ("Metrics", _metrics(r)),
        ("Training data", _training_data(r)),
        ("Lineage", _lineage(r)),
        ("Architecture", _architecture(r, diagram)),
        ("Hyper-parameters", _hyperparameters(r)),
        ("Environment", _environment(r)),
        ("Load check", _load_check(r)),
        ("Files", _files(r)),
    ) if blocks]


# -- Markdown ---------------------------------------------------------------------------------

def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_block(block: Block) -> list[str]:
    kind = block[0]
    if kind == "facts":
        return [f"- **{k}**: {v}" for k, v in block[1]]
    if kind == "table":
        header, rows = block[1], block[2]
        return [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}",
                *[f"| {' | '.join(_md_cell(c) for c in row)} |" for row in rows]]
    if kind == "code":
        return [f"```{block[1]}", block[2], "```"]
    if kind == "diagram":
        # A blank line would end the raw HTML block in CommonMark renderers.
        compact = "\n".join(line for line in block[1].splitlines() if line.strip())
        return ["<details><summary>Diagram (scikit-learn)</summary>", "", DIAGRAM_START,
                compact, DIAGRAM_END, "", "</details>"]
    return [str(block[1])]


def model_card(record: Mapping[str, Any], diagram_html: str | None = None) -> str:
    """Markdown documentation of one version, filled only from what the record knows."""
    name, version = record.get("model_name", "?"), record.get("version", "?")
    out = [f"# {name} {version}", ""]
    if _text(record.get("description")):
        out += [str(record["description"]), ""]
    for title, blocks in _sections(record, diagram_html):
        out += [f"## {title}", ""]
        for block in blocks:
            out += [*_md_block(block), ""]
    return "\n".join(out).rstrip() + "\n"


def diagram_from_markdown(text: str) -> str | None:
    """The scikit-learn diagram embedded in a ``model_card.md``, if any."""
    m = re.search(re.escape(DIAGRAM_START) + r"\n(.*)\n" + re.escape(DIAGRAM_END), text,
                  re.DOTALL)
    return m.group(1) if m else None


# -- HTML ----------------------------------------------------------------------------------------

def _inline(text: Any) -> str:
    """Escape, then render the card's only inline markup: ``code`` spans."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(str(text)))


def _html_block(block: Block) -> str:
    kind = block[0]
    if kind == "facts":
        return key_value_table(block[1], cell=_inline)
    if kind == "table":
        return html_table(block[1], block[2], css_class=None, cell=_inline)
    if kind == "code":
        return f"<pre style='margin:0.3em 0'>{html.escape(block[2])}</pre>"
    if kind == "diagram":
        # The diagram is HTML read back from model_card.md, which may come from a store
        # someone else wrote: it is shown in a sandboxed frame (no scripts, no access to
        # the notebook), where scikit-learn's CSS toggles still work. A long pipeline
        # scrolls inside the frame.
        height = min(600, 120 + 36 * block[1].count("sk-estimator "))
        return (f"<iframe sandbox='' title='estimator diagram' srcdoc=\"{html.escape(block[1])}\""
                f" style='width:100%;height:{height}px;border:0'></iframe>")
    return f"<p>{_inline(block[1])}</p>"


def model_card_html(record: Mapping[str, Any], diagram_html: str | None = None) -> str:
    """The same card as :func:`model_card`, as HTML for a notebook."""
    name, version = record.get("model_name", "?"), record.get("version", "?")
    parts = [f"<h3 style='margin-top:0'>{html.escape(str(name))} "
             f"<code>{html.escape(str(version))}</code></h3>"]
    if _text(record.get("description")):
        parts.append(f"<p>{html.escape(str(record['description']))}</p>")
    for title, blocks in _sections(record, diagram_html):
        inner = "".join(_html_block(b) for b in blocks)
        is_open = " open" if title in ("Summary", "Interface", "Metrics") else ""
        parts.append(f"<details{is_open}><summary><b>{html.escape(title)}</b></summary>"
                     f"<div style='margin-left:1em'>{inner}</div></details>")
    return ("<div class='nbmodels-card' style='border:1px solid #ccc;border-radius:4px;"
            "padding:0.5em 1em'>" + "".join(parts) + "</div>")


class ModelCard:
    """One version's card: ``markdown`` (what ``model_card.md`` holds) and ``html``."""

    def __init__(self, record: Mapping[str, Any], diagram_html: str | None = None) -> None:
        self.record = dict(record)
        self.diagram_html = diagram_html

    @property
    def markdown(self) -> str:
        return model_card(self.record, self.diagram_html)

    @property
    def html(self) -> str:
        return model_card_html(self.record, self.diagram_html)

    def __str__(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return f"ModelCard({self.record.get('model_name')}@{self.record.get('version')})"

    def _repr_html_(self) -> str:
        return self.html
