"""What every panel shares: themed HTML, errors and messages, figures, progress, workers.

Nothing here holds state between panels: each panel makes its own :class:`Worker` and
:class:`ProgressBar`. Colours come from JupyterLab's CSS variables (with fallbacks for
other front ends), so the panels read well in light and dark themes.
"""

from __future__ import annotations

import base64
import html
import io
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ipywidgets as W

from ..display import format_metric
from ..progress import TqdmProgress

__all__ = [
    "NO_DATA",
    "PANEL_CSS",
    "ProgressBar",
    "Worker",
    "data_variables",
    "error_html",
    "figure_png",
    "html_table",
    "message_html",
    "png_width",
    "refresh_data_pickers",
    "set_images",
    "store_of",
    "user_namespace",
    "variable_name_of",
]

# Every rule is scoped to .nbm-w so the panels cannot restyle the notebook around them.
PANEL_CSS = """<style>
.nbm-w{color:var(--jp-ui-font-color1,inherit);font-size:var(--jp-ui-font-size1,13px);
  line-height:1.4}
.nbm-w h3,.nbm-w h4{color:var(--jp-ui-font-color0,inherit);margin:0.2em 0 0.3em 0}
.nbm-w .nbm-scroll{overflow:auto;width:fit-content;max-width:100%;max-height:420px;
  box-sizing:border-box;
  border:1px solid var(--jp-border-color2,#ccc);border-radius:3px}
.nbm-w .widget-html-content{white-space:normal;max-width:100%}
.nbm-w .widget-html{min-width:0;max-width:100%}
.nbm-w table.nbm-t{border-collapse:collapse;width:max-content}
.nbm-w table.nbm-t th,.nbm-w table.nbm-t td{padding:3px 10px;text-align:left;
  border-bottom:1px solid var(--jp-border-color2,#ddd);white-space:nowrap;
  color:var(--jp-ui-font-color1,inherit)}
.nbm-w table.nbm-t thead th{position:sticky;top:0;background:var(--jp-layout-color2,#eee);
  color:var(--jp-ui-font-color0,inherit);border-bottom:2px solid var(--jp-border-color1,#999)}
.nbm-w table.nbm-t .num{text-align:right;font-variant-numeric:tabular-nums}
.nbm-w table.nbm-t tr.nbm-sel td{background:var(--jp-layout-color3,#ddd)}
.nbm-w .nbm-best{font-weight:bold;color:var(--jp-brand-color1,#1976d2)}
.nbm-w .nbm-up{color:var(--jp-success-color1,#388e3c)}
.nbm-w .nbm-down{color:var(--jp-error-color1,#d32f2f)}
.nbm-w .nbm-muted{color:var(--jp-ui-font-color2,#777)}
.nbm-w .nbm-ok{color:var(--jp-success-color1,#388e3c)}
.nbm-w .nbm-err{color:var(--jp-error-color1,#d32f2f);white-space:pre-wrap}
.nbm-w .nbm-warn{color:var(--jp-warn-color1,#f57c00)}
.nbm-w code{background:var(--jp-layout-color2,#f4f4f4);color:var(--jp-content-font-color1,inherit);
  padding:0 3px;border-radius:2px}
.nbm-w details summary{cursor:pointer}
.nbm-w pre{white-space:pre-wrap;word-break:break-all}
.nbm-w .nbmodels-card{border-color:var(--jp-border-color2,#ccc)!important;overflow-x:auto}
.nbm-w .nbmodels-card td{word-break:break-all}
</style>"""


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
               numeric: Sequence[int] = (), raw: bool = False,
               row_classes: Sequence[str] | None = None, scroll: bool = True) -> str:
    """A themed table; cells are escaped unless ``raw`` (then the caller escaped them).

    Wide or long tables scroll inside their own box instead of overflowing the panel.
    """
    esc = (lambda c: str(c)) if raw else (lambda c: html.escape(format_metric(c)))
    head = "".join(f"<th class='num'>{html.escape(h)}</th>" if i in numeric else
                   f"<th>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f" class='{row_classes[r]}'" if row_classes and row_classes[r] else ""
        cells = "".join(f"<td class='num'>{esc(c)}</td>" if i in numeric else f"<td>{esc(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    table = (f"<table class='nbm-t'><thead><tr>{head}</tr></thead>"
             f"<tbody>{''.join(body)}</tbody></table>")
    return f"<div class='nbm-scroll'>{table}</div>" if scroll else table


def message_html(text: str, kind: str = "ok") -> str:
    """A one-line status message (``ok``, ``muted``, ``warn`` or ``err``)."""
    return f"<div class='nbm-w'><span class='nbm-{kind}'>{html.escape(text)}</span></div>"


def error_html(exc: BaseException, what: str = "") -> str:
    """An error as the panel shows it: our own errors as their one-line message, anything
    unexpected with its type and the traceback folded away."""
    from ..errors import NBModelsError

    prefix = f"{what} failed: " if what else ""
    expected = isinstance(exc, (NBModelsError, ValueError, KeyError, TypeError))
    text = html.escape(f"{prefix}{exc}" if expected and str(exc) else
                       f"{prefix}{type(exc).__name__}: {exc}")
    details = ""
    if not isinstance(exc, NBModelsError):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        details = (f"<details><summary class='nbm-muted'>traceback</summary>"
                   f"<pre class='nbm-muted'>{html.escape(tb)}</pre></details>")
    return f"<div class='nbm-w'><div class='nbm-err'>&#9888; {text}</div>{details}</div>"


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """PNG bytes of a ``matplotlib.figure.Figure`` (never registered with pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def png_width(png: bytes) -> int | None:
    """The pixel width a PNG's header gives, or None if these are not PNG bytes."""
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(png[16:20], "big")
    return None


def set_images(out: W.Output, images: Sequence[tuple[str, bytes]], *,
               max_width: int = 900) -> None:
    """Show PNG images in ``out`` at their own size (at most ``max_width`` pixels wide),
    replacing what it showed.

    The outputs are set directly (not through ``with out:``), which works from a worker
    thread and without an IPython shell.
    """
    outputs = []
    for title, png in images:
        width = min(png_width(png) or max_width, max_width)
        outputs.append({"output_type": "display_data",
                        "data": {"image/png": base64.b64encode(png).decode("ascii"),
                                 "text/plain": f"<{title}>"},
                        "metadata": {"image/png": {"width": width}}})
    out.outputs = tuple(outputs)


def user_namespace() -> dict[str, Any]:
    """The running IPython's user namespace, or an empty dict outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def in_kernel() -> bool:
    """Whether a Jupyter kernel (with a front end for widgets) runs this code."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def variable_name_of(obj: Any, namespace: Mapping[str, Any]) -> str | None:
    """The first public name bound to ``obj`` in ``namespace`` (e.g. ``clf``)."""
    for key, value in namespace.items():
        if value is obj and not key.startswith("_") and key.isidentifier():
            return key
    return None


def data_variables(namespace: Mapping[str, Any]) -> list[str]:
    """Names of the arrays, frames, series and lists in a namespace (data pickers)."""
    out = []
    for key, value in namespace.items():
        if key.startswith("_") or not key.isidentifier() or isinstance(value, type):
            continue
        if (hasattr(value, "shape") and hasattr(value, "__len__")) or \
                isinstance(value, (list, tuple)):
            out.append(key)
    return sorted(out)


NO_DATA = "(none)"  # the first choice of every data picker: no variable picked


def refresh_data_pickers(pickers: Iterable[Any], namespace: Mapping[str, Any]) -> None:
    """Offer :data:`NO_DATA` and the namespace's data variables in each picker (a
    Dropdown), keeping its choice while that variable is still there."""
    names = [NO_DATA, *data_variables(namespace)]
    for picker in pickers:
        keep = picker.value
        picker.options = names
        picker.value = keep if keep in names else NO_DATA


def store_of(store: Any) -> Any:
    """A :class:`~nbmodels.ModelStore` from a store, a path, or None (the default)."""
    from ..store import ModelStore

    return store if isinstance(store, ModelStore) else ModelStore(store)


class ProgressBar(TqdmProgress):
    """tqdm's notebook bar inside a panel, fed by the core's ``progress(stage, done, total)``.

    Each stage gets a fresh ``tqdm.notebook`` bar (not displayed by tqdm itself but placed
    in :attr:`box`), so a byte stage shows sizes and a rate, a row stage ``rows/total``.
    Updating a bar only sets widget traits, so a worker thread may call it; ``total=None``
    (unknown) shows tqdm's count without a bar length. :attr:`text` says the last report.
    """

    def __init__(self) -> None:
        super().__init__("notebook", embed=True, leave=True, on_bar=self._place)
        self.box = W.HBox([], layout=W.Layout(display="none"))
        self._shown: Any = None

    def _place(self, container: Any) -> None:
        # tqdm's widget holds its bar only weakly (its repr reads the bar): keep the bar
        # of the widget on show alive, or showing the panel fails once a stage ended.
        self._shown = self.bar
        self.box.children = [container]

    def start(self, text: str = "working") -> None:
        """Show the bar for a new piece of work, before the core's first report."""
        self(text, 0, None)
        self.box.layout.display = "flex"

    def finish(self, ok: bool = True) -> None:
        """End the work: the bar turns green (or red) and the row is hidden."""
        container = self.container
        self.close()
        if container is not None and not ok:
            container.children[1].bar_style = "danger"  # tqdm's own colour for a failure
        self.box.layout.display = "none"


class Worker:
    """Runs a panel's long call, in a thread inside a kernel or inline otherwise.

    In a kernel a thread keeps the panel responsive: the kernel goes back to answering
    widget messages while the work runs, and widget state set from the thread is sent
    through ipykernel's thread-safe IOPub channel. One call at a time per panel; a
    second click while one runs is refused with a message. ``on_done(result)`` or
    ``on_error(exc)`` run when the call ends (in the same thread).
    """

    def __init__(self, background: bool | None = None) -> None:
        self.background = in_kernel() if background is None else background
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self, call: Callable[[], Any], on_done: Callable[[Any], None],
            on_error: Callable[[BaseException], None]) -> bool:
        """Start ``call``; False (and nothing started) if a call is still running."""
        if self.busy:
            return False

        def work() -> None:
            try:
                result = call()
            except Exception as exc:  # shown in the panel, never lost in a log
                on_error(exc)
            else:
                try:
                    on_done(result)
                except Exception as exc:
                    on_error(exc)

        if self.background:
            self._thread = threading.Thread(target=work, daemon=True, name="nbmodels-panel")
            self._thread.start()
        else:
            work()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running call (if any) has ended (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)
