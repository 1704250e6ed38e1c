"""Small inline-SVG charts for the record-candidate report: no scripts, no network, any browser.

`line_chart` draws loss curves (one polyline per seed); `dot_chart` draws one dot per seed with
labelled reference lines (mean, SOTA, the bar to beat).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 640, 300
MARGIN = {"left": 72, "right": 24, "top": 28, "bottom": 40}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")

Point = tuple[float, float]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _span(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.01 or 1.0
    return low - pad, high + pad


class _Frame:
    """Maps data coordinates onto the plotting area and draws the axes."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], y_high: float | None = None) -> None:
        self.x0, self.x1 = _span(xs)
        self.y0, self.y1 = _span([*ys, y_high] if y_high is not None else ys)
        if y_high is not None:
            self.y1 = min(self.y1, y_high)
        self.left, self.right = MARGIN["left"], WIDTH - MARGIN["right"]
        self.top, self.bottom = MARGIN["top"], HEIGHT - MARGIN["bottom"]

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def axes(self, title: str, x_label: str, y_label: str, y_ticks: bool = True) -> list[str]:
        parts = [f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
                 f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}" stroke="#444"/>',
                 f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{self.bottom}" stroke="#444"/>',
                 f'<text x="{WIDTH / 2}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>',
                 f'<text transform="translate(14 {HEIGHT / 2}) rotate(-90)" text-anchor="middle">{escape(y_label)}</text>',
                 (f'<clipPath id="{clip_id(title)}"><rect x="{self.left}" y="{self.top}" '
                  f'width="{self.right - self.left}" height="{self.bottom - self.top}"/></clipPath>')]
        for tick in nice_ticks(self.x0, self.x1):
            parts.append(f'<text x="{self.x(tick):.1f}" y="{self.bottom + 16}" text-anchor="middle">{tick:g}</text>')
        for tick in nice_ticks(self.y0, self.y1) if y_ticks else []:
            y = self.y(tick)
            parts.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        return parts


def clip_id(title: str) -> str:
    """A document-unique id per chart (several SVGs share one HTML page)."""
    return f"clip-{zlib.crc32(title.encode()):08x}"


def robust_high(values: Sequence[float]) -> float:
    """An upper y bound that keeps the first steps' huge losses from flattening the rest of the curve."""
    ordered = sorted(values)
    q90 = ordered[int(0.9 * (len(ordered) - 1))]
    return min(ordered[-1], q90 + 2 * (q90 - ordered[0]))


def _svg(parts: list[str], label: str) -> str:
    body = "\n".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" role="img" aria-label="{escape(label)}" font-family="sans-serif" font-size="11">'
            f"\n{body}\n</svg>")


def line_chart(series: Mapping[str, Sequence[Point]], title: str, x_label: str, y_label: str) -> str:
    """One polyline per named series (e.g. train loss per seed)."""
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return f'<p class="empty">{escape(title)}: no data points in the logs.</p>'
    ys = [p[1] for p in points]
    frame = _Frame([p[0] for p in points], ys, y_high=robust_high(ys))
    parts = frame.axes(title, x_label, y_label)
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in values if math.isfinite(y))
        if coords:
            parts.append(f'<polyline clip-path="url(#{clip_id(title)})" fill="none" stroke="{colour}" stroke-width="1.5" '
                         f'points="{coords}">'
                         f"<title>{escape(name)}</title></polyline>")
        parts.append(f'<text x="{frame.right - 4}" y="{frame.top + 12 + 13 * index}" text-anchor="end" '
                     f'fill="{colour}">{escape(name)}</text>')
    return _svg(parts, title)


def dot_chart(values: Mapping[str, float], references: Mapping[str, float], title: str, x_label: str) -> str:
    """One dot per seed along x, with vertical reference lines (mean, SOTA, threshold)."""
    finite = {k: v for k, v in values.items() if math.isfinite(v)}
    if not finite:
        return f'<p class="empty">{escape(title)}: no scores.</p>'
    xs = list(finite.values()) + [v for v in references.values() if math.isfinite(v)]
    frame = _Frame(xs, [0.0, float(len(finite) + 1)])
    parts = frame.axes(title, x_label, "", y_ticks=False)
    for index, (name, value) in enumerate(finite.items(), start=1):
        y = frame.y(index)
        parts.append(f'<circle cx="{frame.x(value):.1f}" cy="{y:.1f}" r="5" fill="{PALETTE[0]}">'
                     f"<title>{escape(name)}: {value:.8f}</title></circle>")
        parts.append(f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(name)}</text>')
    for index, (name, value) in enumerate(references.items()):
        if not math.isfinite(value):
            continue
        x, colour = frame.x(value), PALETTE[(index + 1) % len(PALETTE)]
        anchor, shift = ("end", -3) if x > (frame.left + frame.right) / 2 else ("start", 3)
        parts.append(f'<line x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" y2="{frame.bottom}" stroke="{colour}" '
                     f'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x + shift:.1f}" y="{frame.top + 10 + 12 * index}" fill="{colour}" '
                     f'text-anchor="{anchor}">{escape(name)} {value:.5f}</text>')
    return _svg(parts, title)
