"""Progress of long work, reported by the core and drawn by the faces with tqdm.

The core (``ModelStore.save``, ``evaluate``, ``compare``) takes a ``progress`` callable
and calls it as ``progress(stage, done, total)``: ``stage`` names the step
(``"write"``, ``"predict"``, ``"plots"``, ...), ``done`` counts what is finished
(bytes for the byte stages of :data:`BYTE_STAGES`, rows or items otherwise) and
``total`` is the count at the end, or ``None`` when it is not known in advance (the size
of a pickle is known only once it is written). The core never draws anything itself.

:class:`TqdmProgress` is that callable for people: one tqdm bar per stage, in the
notebook (ipywidgets, through ``tqdm.auto``) or on a terminal's stderr. Shared layer:
any face may use it; tqdm is imported only when a bar is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["BYTE_STAGES", "Progress", "TqdmProgress"]

Progress = Callable[[str, int, "int | None"], None]
"""``progress(stage, done, total)``; ``total`` is ``None`` when unknown."""

BYTE_STAGES = frozenset({"write", "upload", "read", "download"})
"""Stages whose ``done`` and ``total`` are bytes (shown as kB/MB with a rate)."""


class TqdmProgress:
    """A ``progress(stage, done, total)`` callable that draws one tqdm bar per stage.

    Parameters
    ----------
    kind : {"auto", "notebook", "terminal"}
        ``auto`` draws an ipywidgets bar inside a Jupyter kernel and text elsewhere
        (``tqdm.auto``); ``notebook`` always a widget (``display=False`` with
        ``embed=True`` leaves placing it to the caller: see :attr:`container`);
        ``terminal`` always text on ``file``.
    delay : float
        Seconds before a bar appears: quick work shows nothing at all.
    leave : bool
        Keep finished bars on screen.
    file : file object, optional
        Where a terminal bar is written (stderr by default).
    disable : bool or None
        ``None`` draws terminal bars only on a terminal (not in CI logs).
    embed : bool
        Notebook bars are not displayed by tqdm but kept in :attr:`container` for a
        panel to show (``on_bar`` is called with each new container).
    on_bar : callable, optional
        Called with each new bar's widget container (``embed=True``).
    """

    def __init__(self, kind: str = "auto", *, delay: float = 0.0, leave: bool = False,
                 file: Any = None, disable: bool | None = False, embed: bool = False,
                 on_bar: Callable[[Any], None] | None = None) -> None:
        if kind not in ("auto", "notebook", "terminal"):
            raise ValueError(f"progress kind must be auto, notebook or terminal, not {kind!r}")
        self.kind, self.delay, self.leave = kind, delay, leave
        self.file, self.disable, self.embed, self.on_bar = file, disable, embed, on_bar
        self.bar: Any = None
        self.stage: str | None = None
        self.total: int | None = None
        self.done = 0

    @property
    def text(self) -> str:
        """The last report in words: ``"plots 3/4"``, ``"write 1024"`` or ``""``."""
        if self.stage is None:
            return ""
        if self.total:
            return f"{self.stage} {self.done}/{self.total}"
        return f"{self.stage} {self.done}" if self.done else self.stage

    @property
    def container(self) -> Any:
        """The notebook bar's widget (``embed=True``), or ``None``."""
        return getattr(self.bar, "container", None)

    def _tqdm_class(self) -> Any:
        if self.kind == "notebook":
            from tqdm.notebook import tqdm
        elif self.kind == "terminal":
            from tqdm.std import tqdm
        else:
            from tqdm.auto import tqdm
        return tqdm

    def _open(self, stage: str, total: int | None) -> None:
        self.close()
        options: dict[str, Any] = {"total": total or None, "desc": stage,
                                   "leave": self.leave, "delay": self.delay,
                                   "disable": self.disable}
        if stage in BYTE_STAGES:
            options.update(unit="B", unit_scale=True, unit_divisor=1024)
        if self.file is not None:
            options["file"] = self.file
        if self.embed:
            options["display"] = False
        self.bar = self._tqdm_class()(**options)
        self.stage, self.total, self.done = stage, total, 0
        if self.embed and self.on_bar is not None and self.container is not None:
            self.on_bar(self.container)

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self.bar is None or stage != self.stage or total != self.total:
            self._open(stage, total)
        step = int(done) - self.done
        self.done = int(done)
        if step > 0:
            self.bar.update(step)
        elif step < 0:  # a stage that starts over: redraw at the new count
            self.bar.n = self.done
            self.bar.refresh()

    def close(self) -> None:
        """Close the current bar (a finished stage stays on screen with ``leave``);
        :attr:`text` still tells the last report."""
        if self.bar is not None:
            self.bar.close()
        self.bar = None

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
