"""SaveModelForm: save a model from the notebook, seeing the version it will get and why."""

from __future__ import annotations

import html
from collections.abc import MutableMapping
from typing import Any

import ipywidgets as W

from ..display import parse_tags
from .common import (
    NO_DATA,
    PANEL_CSS,
    ProgressBar,
    Worker,
    error_html,
    message_html,
    refresh_data_pickers,
    store_of,
    user_namespace,
    variable_name_of,
)

__all__ = ["SaveModelForm", "suggest_version"]

_BUMPS = (("suggested", ""), ("major", "major"), ("minor", "minor"), ("patch", "patch"))


def suggest_version(store: Any, model: Any, name: str, *, X: Any = None, y: Any = None,
                    bump: str | None = None) -> tuple[str, str]:
    """``(version, reason)`` that ``store.save(model, name, X=X, y=y, bump=bump)`` would
    choose now, by the same rule (:func:`nbmodels.record.bumps.choose_bump`)."""
    from ..errors import ModelNotFoundError
    from ..record.bumps import choose_bump
    from ..record.capture import capture
    from ..storage.versions import next_version

    try:
        latest: str | None = store.latest(name)
    except ModelNotFoundError:
        latest = None
    previous = store.record(name, latest).to_dict() if latest else None
    record = capture(model, name=name, version=None, description="", tags=(), X=X, y=y,
                     diagram=False).record
    part, reason = choose_bump(record, previous, latest, bump or None)
    return next_version(latest, part), reason


class SaveModelForm(W.VBox):
    """A form that saves ``obj`` as a new version.

    Parameters
    ----------
    obj : object
        The fitted model.
    store : ModelStore or path, optional
        The store; ``$NBMODELS_HOME`` or ``./models`` by default.
    name : str, optional
        The model name; by default the name of the notebook variable holding ``obj``.
    namespace : dict, optional
        Where the training-data pickers look (the notebook's namespace by default).
    background : bool, optional
        Save in a worker thread (the default inside a kernel, so the notebook stays
        responsive); ``wait()`` blocks until it is done.

    Drive it from Python: ``form.name.value = "churn"; form.data_picker.value = "X_train";
    form.save_button.click()``; ``form.saved`` is then the new record.
    """

    def __init__(self, obj: Any, store: Any = None, *, name: str | None = None,
                 namespace: MutableMapping[str, Any] | None = None,
                 background: bool | None = None) -> None:
        self.model = obj
        self.store = store_of(store)
        self.namespace = namespace if namespace is not None else user_namespace()
        self.saved: Any = None
        self.worker = Worker(background)
        self.progress = ProgressBar()
        default = name or variable_name_of(obj, self.namespace) or ""

        style = {"description_width": "110px"}
        wide = W.Layout(width="520px")
        self.title = W.HTML()
        self.name = W.Text(value=default, description="name", placeholder="model name",
                           continuous_update=False, style=style, layout=wide)
        self.bump = W.ToggleButtons(options=_BUMPS, value="", style={"button_width": "90px"},
                                    tooltips=["the rule's choice", "interface changed",
                                              "new hyper-parameters", "new weights only"])
        self.suggestion = W.HTML(layout=W.Layout(margin="0 0 0 118px"))
        self.description = W.Textarea(description="description", style=style,
                                      placeholder="what this version is",
                                      layout=W.Layout(width="520px", height="64px"))
        self.tags = W.Text(description="tags", placeholder="comma, separated", style=style,
                           layout=wide)
        self.data_picker = W.Dropdown(description="training X", style=style,
                                      layout=W.Layout(width="320px"))
        self.target_picker = W.Dropdown(description="training y", style=style,
                                        layout=W.Layout(width="320px"))
        self.save_button = W.Button(description="Save", icon="save", button_style="primary")
        self.refresh_button = W.Button(description="Refresh", icon="refresh",
                                       tooltip="read the notebook's variables and the store again")
        self.status = W.HTML()

        for control in (self.name, self.bump, self.data_picker, self.target_picker):
            control.observe(lambda _: self._suggest(), names="value")
        self.save_button.on_click(lambda _: self._save())
        self.refresh_button.on_click(lambda _: self.refresh())

        label = W.HTML("<div style='text-align:right;padding-right:8px'>version</div>",
                       layout=W.Layout(width="114px"))
        bump_row = W.HBox([label, self.bump])
        bump_row.layout.align_items = "center"
        super().__init__([W.HTML(PANEL_CSS), self.title, self.name, bump_row, self.suggestion,
                          self.description, self.tags,
                          W.HBox([self.data_picker, self.target_picker]),
                          W.HBox([self.save_button, self.refresh_button, self.progress.box]),
                          self.status], layout=W.Layout(width="100%"))
        self.add_class("nbm-w")
        self.add_class("nbm-panel-save")
        self.refresh()

    def refresh(self) -> None:
        """Read the notebook's variables (for the data pickers) and the suggestion again."""
        self.title.value = (f"<h3>Save <code>{html.escape(type(self.model).__name__)}</code> "
                            f"<span class='nbm-muted'>to <code>"
                            f"{html.escape(str(self.store.root))}</code></span></h3>")
        refresh_data_pickers((self.data_picker, self.target_picker), self.namespace)
        self._suggest()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a save started in the background has finished."""
        self.worker.wait(timeout)

    def _data(self, picker: W.Dropdown) -> Any:
        if picker.value in (None, NO_DATA):
            return None
        if picker.value not in self.namespace:
            raise ValueError(f"the notebook has no variable {picker.value!r} any more; "
                             f"press Refresh")
        return self.namespace[picker.value]

    def _suggest(self) -> None:
        name = self.name.value.strip()
        if not name:
            self.suggestion.value = message_html("type a model name", "muted")
            return
        try:
            version, reason = suggest_version(
                self.store, self.model, name, X=self._data(self.data_picker),
                y=self._data(self.target_picker), bump=self.bump.value or None)
        except Exception as exc:
            self.suggestion.value = error_html(exc)
            return
        self.suggestion.value = (f"<div class='nbm-w'>next version <b><code>"
                                 f"{html.escape(version)}</code></b> "
                                 f"<span class='nbm-muted'>({html.escape(reason)})</span></div>")

    def _save(self) -> None:
        if self.worker.busy:
            self.status.value = message_html("a save is still running", "warn")
            return
        try:
            name = self.name.value.strip()
            if not name:
                raise ValueError("type a model name first")
            kwargs: dict[str, Any] = {
                "bump": self.bump.value or None, "description": self.description.value,
                "tags": parse_tags(self.tags.value),
                "X": self._data(self.data_picker), "y": self._data(self.target_picker)}
        except Exception as exc:
            self.status.value = error_html(exc, "save")
            return
        kwargs["progress"] = self.progress  # capture, bytes written, load check
        self.progress.start("saving")
        self.save_button.disabled = True
        self.status.value = message_html(f"saving {name}...", "muted")

        def done(record: Any) -> None:
            self.saved = record
            self.progress.finish(True)
            self.save_button.disabled = False
            unchanged = getattr(record, "unchanged", None)
            if unchanged is not None:  # its bytes were saved already, as this version
                self.status.value = message_html(unchanged.message(None), "warn")
            else:
                why = record.get("version_reason") or ""
                self.status.value = message_html(f"saved {record.ref} ({why})", "ok")
            self._suggest()

        def failed(exc: BaseException) -> None:
            self.progress.finish(False)
            self.save_button.disabled = False
            self.status.value = error_html(exc, "save")

        self.worker.run(lambda: self.store.save(self.model, name, **kwargs), done, failed)
