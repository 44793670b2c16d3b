"""Charts drawn on the server as inline SVG: the Monitor tab's line charts and the functions
list's sparklines.

Drawing on the server keeps the console free of a JavaScript charting library and of a build step,
lets pages that are only charts work without JavaScript, and keeps the strict CSP (presentation
attributes, no inline style or script). Each chart is an image with an accessible name, and its
numbers are also given as a table for assistive technology."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "line_chart", "sparkline"]

WIDTH, HEIGHT = 560, 200
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 12, 28
COLOURS = ("#0b62c4", "#d97706", "#7c3aed", "#b3261e")


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float | None]  # one per timestamp; None where nothing was measured


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.2f}"


def _clock(moment: float, span: float) -> str:
    when = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    return when.strftime("%H:%M" if span <= 86400 else "%m-%d %H:%M")


def line_chart(title: str, timestamps: Sequence[float], series: Sequence[Series], unit: str) -> Markup:
    """An SVG line chart of `series` over `timestamps` (epoch seconds, ascending), with its
    title, axis labels (UTC) and a legend."""
    top = _nice_ceiling(max((v for item in series for v in item.values if v is not None), default=0.0))
    inner_w, inner_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    start, end = (timestamps[0], timestamps[-1]) if timestamps else (0.0, 1.0)
    span = max(end - start, 1.0)

    def x(moment: float) -> float:
        return _LEFT + (moment - start) / span * inner_w

    def y(value: float) -> float:
        return _TOP + inner_h - value / top * inner_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)} ({escape(unit)})</title>",
    ]
    for fraction in (0.0, 0.5, 1.0):  # grid lines and the value axis
        level = y(top * fraction)
        parts.append(
            f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{level:.1f}" y2="{level:.1f}" stroke="#d7dce1"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{level + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6570">'
            f"{_number(top * fraction)}</text>"
        )
    if timestamps:
        for moment, anchor in ((start, "start"), (start + span / 2, "middle"), (end, "end")):
            parts.append(
                f'<text x="{x(moment):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11"'
                f' fill="#5b6570">{_clock(moment, span)}</text>'
            )
    for index, item in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = [
            f"{x(moment):.1f},{y(value):.1f}"
            for moment, value in zip(timestamps, item.values, strict=False)
            if value is not None
        ]
        if len(points) == 1:
            cx, cy = points[0].split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
        elif points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{" ".join(points)}"/>'
            )
        parts.append(
            f'<text x="{_LEFT + 8 + index * 90}" y="{_TOP + 12}" font-size="11" fill="{colour}">'
            f"{escape(item.label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 24) -> Markup:
    """A small line of `values` (oldest first), scaled to its own maximum; flat at the bottom
    when nothing happened."""
    known = [value or 0.0 for value in values]
    top = max(known, default=0.0) or 1.0
    step = width / max(len(known) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{height - 2 - value / top * (height - 4):.1f}"
        for index, value in enumerate(known)
    )
    total = sum(known)
    label = f"{total:,.0f} invocations in the last 24 hours"
    return Markup(
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
        f'<polyline fill="none" stroke="#0b62c4" stroke-width="1.5" points="{points}"/></svg>'
    )
