"""Small metric-over-versions charts as inline SVG, drawn on the server (no JavaScript).

Every text that reaches the SVG (versions, dataset labels, metric names) is escaped:
the chart sits inside a page whose content may come from someone else's store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["metric_chart"]

WIDTH, HEIGHT = 300, 150
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 10, 22, 34


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def metric_chart(metric: str, versions: Sequence[str],
                 series: dict[str, Sequence[object]]) -> str:
    """One metric over ``versions`` (x, in the given order), one line per data set label.

    ``series`` maps a label to one value per version (``None`` or non-numbers are
    gaps). Returns an ``<svg>`` element, or ``""`` when no value is numeric.
    """
    clean = {label: [_finite(v) for v in values] for label, values in series.items()}
    numbers = [v for values in clean.values() for v in values if v is not None]
    if not numbers or not versions:
        return ""
    low, high = min(numbers), max(numbers)
    if high - low < 1e-12:
        pad = abs(high) * 0.05 or 0.5
        low, high = low - pad, high + pad
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    n = len(versions)

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - (v - low) / (high - low))

    parts = [f"<svg class='chart' role='img' viewBox='0 0 {WIDTH} {HEIGHT}' width='{WIDTH}' "
             f"height='{HEIGHT}' xmlns='http://www.w3.org/2000/svg'>",
             f"<title>{escape(metric)} by version</title>",
             f"<text class='chart-title' x='{_LEFT}' y='14'>{escape(metric)}</text>",
             f"<line class='axis' x1='{_LEFT}' y1='{_TOP + plot_h}' x2='{WIDTH - _RIGHT}' "
             f"y2='{_TOP + plot_h}'/>",
             f"<line class='axis' x1='{_LEFT}' y1='{_TOP}' x2='{_LEFT}' y2='{_TOP + plot_h}'/>",
             f"<text class='tick' x='{_LEFT - 4}' y='{_TOP + 4}' "
             f"text-anchor='end'>{escape(_fmt(high))}</text>",
             f"<text class='tick' x='{_LEFT - 4}' y='{_TOP + plot_h}' "
             f"text-anchor='end'>{escape(_fmt(low))}</text>"]
    step = max(1, math.ceil(n / 6))  # at most ~6 version labels under the axis
    for i, version in enumerate(versions):
        if i % step == 0 or i == n - 1:
            shown = version if len(version) <= 12 else version[:11] + "\u2026"
            anchor = ("middle" if n == 1 else "start" if i == 0 else
                      "end" if i == n - 1 else "middle")
            parts.append(f"<text class='tick' x='{x(i):.1f}' y='{HEIGHT - 19}' "
                         f"text-anchor='{anchor}'>{escape(shown)}</text>")
    for k, (label, values) in enumerate(clean.items()):
        cls = f"series s{k % 6}"
        run: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                if len(run) > 1:
                    parts.append(f"<polyline class='{cls}' points='{' '.join(run)}'/>")
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
        if len(run) > 1:
            parts.append(f"<polyline class='{cls}' points='{' '.join(run)}'/>")
        for i, v in enumerate(values):
            if v is not None:
                tip = f"{label}: {versions[i]} = {_fmt(v)}"
                parts.append(f"<circle class='{cls}' cx='{x(i):.1f}' cy='{y(v):.1f}' r='3'>"
                             f"<title>{escape(tip)}</title></circle>")
    if len(clean) > 1:
        lx = _LEFT + 4
        for k, label in enumerate(clean):
            shown = label if len(label) <= 14 else label[:13] + "\u2026"
            parts.append(f"<text class='legend s{k % 6}' x='{lx}' y='{HEIGHT - 5}'>"
                         f"{escape(shown)}</text>")
            lx += 8 + 6 * len(shown)
    parts.append("</svg>")
    return "".join(parts)
