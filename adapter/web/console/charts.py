"""Series to SVG: the console's charts, drawn on the server, pure (no I/O, no request).

Each chart is an ``<svg role="img">`` whose ``<title>`` and ``<desc>`` say what it shows in
words (the largest value and the total), with a ``<title>`` on every bar for a pointer; the
pages put the same numbers in a table beside it, for screen readers and for copying. Colours
come from CSS classes (``chart-bar``, ``chart-axis``, ``chart-label``), so the stylesheet keeps
them in contrast with the theme; no inline style, which the console's CSP forbids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Point:
    """One bar: its label (a day, a language) and its value."""

    label: str
    value: float


Format = Callable[[float], str]


def _number(value: float) -> str:
    return f"{value:,.1f}"


def _summary(points: Sequence[Point], fmt: Format) -> str:
    """The chart in one sentence: its largest bar and its total."""
    if not points or all(p.value == 0 for p in points):
        return "No data in this period."
    top = max(points, key=lambda p: p.value)
    total = sum(p.value for p in points)
    return f"Highest {fmt(top.value)} ({top.label}); total {fmt(total)} over {len(points)} bars."


def _open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{cid}-title {cid}-desc">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def columns(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    *,
    fmt: Format = _number,
    width: int = 420,
    height: int = 170,
) -> Markup:
    """Vertical bars, one per point in order (a time series): the top value is written at the
    left axis, the first and last labels under the baseline."""
    top_pad, bottom_pad, left_pad = 16, 24, 60
    plot_w, plot_h = width - left_pad - 8, height - top_pad - bottom_pad
    peak = max((p.value for p in points), default=0.0)
    scale = plot_h / peak if peak > 0 else 0.0
    slot = plot_w / max(len(points), 1)
    base_y = top_pad + plot_h
    parts = _open(chart_id, title, _summary(points, fmt), width, height)
    parts.append(
        f'<line class="chart-axis" x1="{left_pad}" y1="{base_y}" x2="{width - 8}" y2="{base_y}"/>'
    )
    parts.append(
        f'<text class="chart-label" x="{left_pad - 6}" y="{top_pad + 4}" text-anchor="end">'
        f"{escape(fmt(peak))}</text>"
    )
    for index, point in enumerate(points):
        bar_h = max(point.value * scale, 1.0 if point.value > 0 else 0.0)
        x = left_pad + index * slot + slot * 0.1
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{base_y - bar_h:.1f}" '
            f'width="{max(slot * 0.8, 1):.1f}" height="{bar_h:.1f}">'
            f"<title>{escape(point.label)}: {escape(fmt(point.value))}</title></rect>"
        )
    if points:
        parts.append(
            f'<text class="chart-label" x="{left_pad}" y="{height - 6}">'
            f"{escape(points[0].label)}</text>"
        )
        parts.append(
            f'<text class="chart-label" x="{width - 8}" y="{height - 6}" text-anchor="end">'
            f"{escape(points[-1].label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def bars(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    *,
    fmt: Format = _number,
    width: int = 640,
    row_height: int = 24,
) -> Markup:
    """Horizontal bars, one row per point, label at the left and value at the bar's end
    (categories: languages, models)."""
    label_w, value_w = 96, 96
    plot_w = width - label_w - value_w
    height = max(len(points), 1) * row_height + 8
    peak = max((p.value for p in points), default=0.0)
    scale = plot_w / peak if peak > 0 else 0.0
    parts = _open(chart_id, title, _summary(points, fmt), width, height)
    for index, point in enumerate(points):
        y = 4 + index * row_height
        bar_w = max(point.value * scale, 1.0 if point.value > 0 else 0.0)
        mid = y + row_height / 2 + 4
        parts.append(
            f'<text class="chart-label" x="{label_w - 8}" y="{mid:.1f}" text-anchor="end">'
            f"{escape(point.label)}</text>"
        )
        parts.append(
            f'<rect class="chart-bar" x="{label_w}" y="{y + 3}" width="{bar_w:.1f}" '
            f'height="{row_height - 6}"><title>{escape(point.label)}: '
            f"{escape(fmt(point.value))}</title></rect>"
        )
        parts.append(
            f'<text class="chart-label" x="{label_w + bar_w + 6:.1f}" y="{mid:.1f}">'
            f"{escape(fmt(point.value))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


__all__ = ["Point", "bars", "columns"]
