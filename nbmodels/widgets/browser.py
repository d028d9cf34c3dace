"""ModelBrowser: every model in a store, its versions, one version's record and plots.

Actions: load a version into the notebook, set or move an alias, edit description and
tags (when the store offers ``edit``), delete a version behind a confirmation step.
"""

from __future__ import annotations

import fnmatch
import html
import re
from collections.abc import MutableMapping
from typing import Any

import ipywidgets as W

from ..display import format_size, parse_tags
from .common import (
    PANEL_CSS,
    error_html,
    html_table,
    message_html,
    set_images,
    store_of,
    user_namespace,
)

__all__ = ["ModelBrowser"]

def _identifier(name: str) -> str:
    """A Python variable name made from a model name (``churn-rf.v2`` -> ``churn_rf_v2``)."""
    text = re.sub(r"\W", "_", name)
    return text if text.isidentifier() else f"model_{text}"


def _matches(entry: dict[str, Any], query: str) -> bool:
    """Search on name, tags and description: a glob on names when the query has one."""
    query = query.strip()
    if not query:
        return True
    if any(c in query for c in "*?["):
        return fnmatch.fnmatchcase(entry["name"], query)
    q = query.lower()
    haystack = [entry["name"], entry.get("description") or "", *map(str, entry.get("tags") or [])]
    return any(q in text.lower() for text in haystack)


def _saved_plots(store: Any, name: str, version: str) -> list[tuple[str, bytes]]:
    """The PNG plots of a version's saved evaluations (every data set), via the store."""
    plots = []
    for dataset in [None, *store.evaluation_datasets(name, version)]:
        for filename in store.evaluation_files(name, version, dataset=dataset):
            if filename.endswith(".png"):
                label = filename[:-4].replace("_", " ")
                plots.append((label if dataset is None else f"{label} [{dataset}]",
                              store.read_evaluation_file(name, version, filename,
                                                         dataset=dataset)))
    return plots


class ModelBrowser(W.VBox):
    """Browse a store: models (searchable), versions as a table, a version's record.

    Parameters
    ----------
    store : ModelStore or path, optional
        The store; ``$NBMODELS_HOME`` or ``./models`` by default.
    namespace : dict, optional
        Where *Load* binds the model (the notebook's namespace by default).
    search : str
        Initial search text: a substring of a name, tag or description, or a glob
        (``churn*``) on names.

    Every control is an attribute, so the panel can be driven from Python::

        browser.search.value = "churn"
        browser.model_list.value = "churn_rf"
        browser.version_picker.value = "1.1.0"
        browser.var_name.value = "m"; browser.load_button.click()
    """

    def __init__(self, store: Any = None, *, namespace: MutableMapping[str, Any] | None = None,
                 search: str = "") -> None:
        self.store = store_of(store)
        self.namespace = namespace if namespace is not None else user_namespace()
        self._entries: list[dict[str, Any]] = []
        self._records: dict[str, Any] = {}
        self._table_rows: tuple[list[str], list[Any], list[int], list[str]] = ([], [], [], [])

        self.title = W.HTML()
        self.search = W.Text(value=search, placeholder="search name, tag, description or glob",
                             description="Search", layout=W.Layout(width="100%"))
        self.model_list = W.Select(options=[], rows=10, layout=W.Layout(width="100%"))
        self.refresh_button = W.Button(description="Refresh", icon="refresh",
                                       tooltip="read the store again")
        self.versions_table = W.HTML(layout=W.Layout(width="100%", min_width="0"))
        self.version_picker = W.Dropdown(options=[], description="Version",
                                         layout=W.Layout(width="260px"))
        self.details = W.HTML(layout=W.Layout(width="100%"))
        self.plots = W.Output(layout=W.Layout(width="100%"))
        self.status = W.HTML()

        self.var_name = W.Text(description="as", placeholder="variable",
                               layout=W.Layout(width="220px"))
        self.load_button = W.Button(description="Load", icon="download",
                                    button_style="primary",
                                    tooltip="load this version into the notebook")
        self.alias_name = W.Text(description="alias", placeholder="production",
                                 layout=W.Layout(width="220px"))
        self.alias_button = W.Button(description="Set alias", icon="tag",
                                     tooltip="point the alias at this version")
        self.edit_description = W.Textarea(description="description",
                                           layout=W.Layout(width="460px", height="60px"))
        self.edit_tags = W.Text(description="tags", placeholder="comma, separated",
                                layout=W.Layout(width="460px"))
        self.edit_button = W.Button(description="Save edits", icon="pencil")
        self.delete_button = W.Button(description="Delete...", icon="trash",
                                      button_style="danger",
                                      tooltip="delete this version (asks first)")
        self.confirm_delete = W.Button(description="Yes, delete", button_style="danger")
        self.cancel_delete = W.Button(description="Cancel")
        self.force_delete = W.Checkbox(value=False, description="also remove its aliases",
                                       indent=False)
        self.confirm_box = W.HBox([W.HTML(), self.force_delete, self.confirm_delete,
                                   self.cancel_delete],
                                  layout=W.Layout(display="none"))
        self.can_edit = callable(getattr(self.store, "edit", None))

        self._quiet = False  # set while the panel itself changes options and values
        self.search.observe(lambda _: self._show_models(), names="value")
        self.model_list.observe(lambda _: self._quiet or self._show_versions(), names="value")
        self.version_picker.observe(lambda _: self._quiet or self._show_version(),
                                    names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.load_button.on_click(lambda _: self._act("load", self._load))
        self.alias_button.on_click(lambda _: self._act("set alias", self._set_alias))
        self.edit_button.on_click(lambda _: self._act("edit", self._edit))
        self.delete_button.on_click(lambda _: self._ask_delete())
        self.confirm_delete.on_click(lambda _: self._act("delete", self._delete))
        self.cancel_delete.on_click(lambda _: self._hide_confirm())

        actions = [W.HBox([self.var_name, self.load_button]),
                   W.HBox([self.alias_name, self.alias_button]),
                   W.HBox([self.delete_button, self.confirm_box])]
        if self.can_edit:
            actions.append(W.VBox([self.edit_description,
                                   W.HBox([self.edit_tags, self.edit_button])]))
        tabs = W.Tab(children=[self.details, self.plots, W.VBox(actions)])
        tabs.titles = ("Record", "Evaluation plots", "Actions")
        self.tabs = tabs
        left = W.VBox([self.search, self.model_list],
                      layout=W.Layout(width="30%", min_width="200px"))
        right = W.VBox([self.versions_table, W.HBox([self.version_picker, self.refresh_button])],
                       layout=W.Layout(width="70%", min_width="0"))
        super().__init__([W.HTML(PANEL_CSS), self.title,
                          W.HBox([left, right], layout=W.Layout(width="100%")),
                          self.status, tabs], layout=W.Layout(width="100%"))
        self.add_class("nbm-w")
        self.add_class("nbm-panel-browser")
        self.refresh()

    # -- reading --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the store again, keeping the selected model and version when they exist."""
        try:
            self._entries = list(self.store.list())
        except Exception as exc:
            self._entries = []
            self.status.value = error_html(exc, "reading the store")
        n = len(self._entries)
        self.title.value = (f"<h3>Models <span class='nbm-muted'>in "
                            f"<code>{html.escape(str(self.store.root))}</code> "
                            f"({n} model{'s' if n != 1 else ''})</span></h3>")
        self._show_models()

    def _show_models(self) -> None:
        keep = self.model_list.value
        names = [e["name"] for e in self._entries if _matches(e, self.search.value)]
        self._quiet = True
        try:
            self.model_list.options = names
            self.model_list.value = keep if keep in names else (names[0] if names else None)
        finally:
            self._quiet = False
        self._show_versions()

    def _show_versions(self) -> None:
        name = self.model_list.value
        keep = self.version_picker.value
        self._records = {}
        if name is None:
            self.versions_table.value = message_html("no model matches" if self._entries else
                                                     "the store is empty: save a model first",
                                                     "muted")
            self._table_rows = ([], [], [], [])
            self._set_versions([], None)
            return
        try:
            versions = self.store.versions(name)
            aliases = self.store.aliases(name)
            for v in versions:
                try:
                    self._records[v] = self.store.record(name, v)
                except Exception:  # one damaged record is one damaged row
                    self._records[v] = None
        except Exception as exc:
            self.versions_table.value = error_html(exc, f"reading {name}")
            self._table_rows = ([], [], [], [])
            self._set_versions([], None)
            return
        by_version: dict[str, list[str]] = {}
        for alias, target in sorted(aliases.items()):
            by_version.setdefault(target, []).append(alias)
        newest_first = list(reversed(versions))
        metric_names: list[str] = []
        for v in newest_first:
            rec = self._records[v]
            for k in (rec.headline_metrics(3) if rec is not None else {}):
                if k not in metric_names:
                    metric_names.append(k)
        metric_names = metric_names[:4]
        rows = []
        for v in newest_first:
            rec = self._records[v]
            if rec is None:
                rows.append([v, "unreadable record", "", "", "", *[""] * len(metric_names), ""])
                continue
            metrics = rec.metrics
            evaluations = rec.get("evaluations") or {}
            data = ", ".join(
                f"{k} (n={s.get('n_samples')}, {str(s.get('data_sha256') or '')[:8]})"
                for k, s in sorted(evaluations.items()) if isinstance(s, dict))
            rows.append([v, str(rec.created_at or "")[:19].replace("T", " "),
                         format_size(rec.size_bytes), ", ".join(by_version.get(v, [])),
                         ", ".join(rec.tags), *[metrics.get(m) for m in metric_names],
                         data or "not evaluated"])
        headers = ["version", "created", "size", "aliases", "tags", *metric_names, "evaluated on"]
        numeric = list(range(5, 5 + len(metric_names)))
        self._table_rows = (headers, rows, numeric, newest_first)
        self._set_versions(newest_first, keep)

    def _set_versions(self, versions: list[str], keep: str | None) -> None:
        self._quiet = True
        try:
            self.version_picker.options = versions
            self.version_picker.value = keep if keep in versions else (
                versions[0] if versions else None)
        finally:
            self._quiet = False
        self._show_version()

    def _render_table(self) -> None:
        headers, rows, numeric, order = self._table_rows
        selected = self.version_picker.value
        classes = ["nbm-sel" if v == selected else "" for v in order]
        title = (f"<h4>{html.escape(str(self.model_list.value))} <span class='nbm-muted'>"
                 f"({len(rows)} version{'s' if len(rows) != 1 else ''}, newest first)</span></h4>")
        self.versions_table.value = (f"<div class='nbm-w'>{title}"
                                     + html_table(headers, rows, numeric=numeric,
                                                  row_classes=classes) + "</div>")

    def _show_version(self) -> None:
        name, version = self.model_list.value, self.version_picker.value
        self._hide_confirm()
        if name is None or version is None:
            self.details.value = ""
            set_images(self.plots, [])
            return
        self._render_table()
        rec = self._records.get(version)
        if rec is None:
            self.details.value = message_html(f"the record of {name}@{version} is unreadable; "
                                              f"run `nbmodels verify`", "err")
            set_images(self.plots, [])
            return
        try:
            card = self.store.card(name, version).html
        except Exception as exc:
            card = error_html(exc, "reading the model card")
        aliases = sorted(a for a, v in self.store.aliases(name).items() if v == version)
        extra = (f"<p>Aliases: {html.escape(', '.join(aliases))}</p>" if aliases else "")
        self.details.value = f"<div class='nbm-w'>{card}{extra}</div>"
        self.var_name.value = _identifier(name)
        self.edit_description.value = str(rec.get("description") or "")
        self.edit_tags.value = ", ".join(rec.tags)
        try:
            plots = _saved_plots(self.store, name, version)
        except Exception as exc:
            plots = []
            self.status.value = error_html(exc, "reading the evaluation plots")
        set_images(self.plots, plots)
        if not plots:
            self.plots.outputs = ({"output_type": "display_data", "metadata": {},
                                   "data": {"text/plain": "no saved evaluation plots: run "
                                            "nbmodels.evaluate(...) on this version"}},)

    # -- actions --------------------------------------------------------------------------
    @property
    def selected(self) -> str | None:
        """``name@version`` of the selected version, or None."""
        if self.model_list.value is None or self.version_picker.value is None:
            return None
        return f"{self.model_list.value}@{self.version_picker.value}"

    def _act(self, what: str, action: Any) -> None:
        if self.selected is None:
            self.status.value = message_html(f"{what}: select a version first", "warn")
            return
        try:
            text = action()
        except Exception as exc:
            self.status.value = error_html(exc, what)
            return
        self.status.value = message_html(text, "ok")

    def _load(self) -> str:
        var = self.var_name.value.strip()
        if not var.isidentifier():
            raise ValueError(f"{var!r} is not a Python variable name; type one such as "
                             f"{_identifier(self.model_list.value)}")
        ref = self.selected
        model = self.store.load(self.model_list.value, self.version_picker.value)
        self.namespace[var] = model
        return f"loaded {ref} as `{var}` ({type(model).__name__})"

    def _set_alias(self) -> str:
        alias = self.alias_name.value.strip()
        if not alias:
            raise ValueError("type an alias name first, e.g. production")
        exact = self.store.set_alias(self.model_list.value, alias, self.version_picker.value)
        self._show_versions()
        return f"{self.model_list.value}@{alias} -> {exact}"

    def _edit(self) -> str:
        tags = parse_tags(self.edit_tags.value)
        ref = self.selected
        self.store.edit(self.model_list.value, self.version_picker.value,
                        description=self.edit_description.value, tags=tags)
        self.refresh()
        return f"saved the description and tags of {ref}"

    def _ask_delete(self) -> None:
        if self.selected is None:
            self.status.value = message_html("delete: select a version first", "warn")
            return
        self.confirm_box.children[0].value = (f"<span class='nbm-warn'>Delete "
                                              f"<b>{html.escape(self.selected)}</b> and its "
                                              f"evaluations? This cannot be undone.</span>")
        self.force_delete.value = False
        self.confirm_box.layout.display = "flex"

    def _hide_confirm(self) -> None:
        self.confirm_box.layout.display = "none"

    def _delete(self) -> str:
        ref = self.selected
        self._hide_confirm()
        self.store.delete(self.model_list.value, self.version_picker.value,
                          force=self.force_delete.value)
        self.refresh()
        return f"deleted {ref}"
