"""Plotly figure builders shared by the dashboard and the record-candidate report.

Callers pass plain data; every string that may come from a ledger or a log (ids, param values,
seed names) must be escaped with `text`/`label` first: plotly renders a subset of HTML in labels
and decodes entities, so escaped text shows literally and can never become markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
OVER_CAP = "#d62728"
UNDER_CAP = "#4c78a8"
SOTA_COLOR = "#6a3d9a"
BAR_COLOR = "#e6550d"
LABEL_CHARS = 40
HEADROOM_WINDOW = 200_000  # bytes below the cap the headroom view shows; smaller artifacts sit at its floor
TOOLBAR_STRIP_PX = 34  # plotly's toolbar is ~28 px high at the top right: titles start below it


def text(value: Any) -> str:
    """Ledger text made literal for plotly labels."""
    return html.escape(str(value), quote=False)


def label(value: Any) -> str:
    """A short axis or legend label (the full text is in the hover)."""
    raw = str(value)
    return text(raw if len(raw) <= LABEL_CHARS else raw[:LABEL_CHARS - 1] + "…")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def styled(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = 440) -> go.Figure:
    """The common look; the title sits in its own strip under the toolbar, so the two never overlap."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "xref": "container", "y": 1, "yanchor": "top",
               "yref": "container", "pad": {"t": TOOLBAR_STRIP_PX}, "font": {"size": 15}},
        xaxis_title=x_title, yaxis_title=y_title, template="plotly_white", height=height, hovermode="closest",
        margin={"l": 80, "r": 20, "t": TOOLBAR_STRIP_PX + 56, "b": 70})
    return fig


@dataclass(frozen=True)
class RefLine:
    """A horizontal reference (SOTA, SOTA - margin) across a chart, named on the chart itself."""

    name: str
    value: float
    color: str = SOTA_COLOR
    dash: str = "solid"


def _ref_lines(fig: go.Figure, refs: Sequence[RefLine]) -> None:
    for ref in refs:
        fig.add_hline(y=ref.value, line={"color": ref.color, "dash": ref.dash, "width": 1.5},
                      annotation={"text": f"{text(ref.name)} {ref.value:.5f}", "font": {"color": ref.color}},
                      annotation_position="top left")


@dataclass(frozen=True)
class SeedPoint:
    """One seed's score in a group (a config, or the report's one config)."""

    group: str  # the x category (escaped by the caller)
    value: float
    hover: str


def seed_strip(points: Sequence[SeedPoint], title: str, y_title: str, *,
               means: dict[str, tuple[float, float | None]] | None = None, refs: Sequence[RefLine] = (),
               bars: dict[str, float] | None = None) -> go.Figure:
    """Every seed as a dot per group, the group's mean ± std as a dash with whiskers, reference lines,
    and each group's bar to beat (the mean its seeds must reach) as a short orange dash."""
    groups = list(dict.fromkeys([*(means or {}), *(p.group for p in points)]))
    fig = go.Figure()
    if means:
        _mean_trace(fig, means)
    fig.add_trace(go.Scatter(
        x=[p.group for p in points], y=[p.value for p in points], mode="markers", name="seeds",
        marker={"size": 9, "color": [color(groups.index(p.group)) for p in points],
                "line": {"width": 1, "color": "#fff"}},
        hovertext=[p.hover for p in points], hoverinfo="text"))
    if bars:
        fig.add_trace(go.Scatter(
            x=list(bars), y=list(bars.values()), mode="markers", name="bar to beat (p = alpha)",
            marker={"symbol": "line-ew", "size": 34, "line": {"width": 2, "color": BAR_COLOR}},
            hovertext=[f"{g}<br>bar to beat {v:.5f}" for g, v in bars.items()], hoverinfo="text"))
    _ref_lines(fig, refs)
    shown = [p.value for p in points] + [r.value for r in refs] + list((bars or {}).values())
    shown += [m + sign * (s or 0.0) for m, s in (means or {}).values() for sign in (-1, 1)]
    pad = (max(shown) - min(shown)) * 0.08 or 0.001
    fig.update_yaxes(range=[min(shown) - pad, max(shown) + pad])
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=groups)
    return styled(fig, title, "", y_title)


def _mean_trace(fig: go.Figure, means: dict[str, tuple[float, float | None]]) -> None:
    groups = list(means)
    fig.add_trace(go.Scatter(
        x=groups, y=[means[g][0] for g in groups], mode="markers", name="mean ± std over seeds",
        marker={"symbol": "line-ew", "size": 34, "line": {"width": 3, "color": "#333"}},
        error_y={"type": "data", "array": [means[g][1] or 0.0 for g in groups], "visible": True, "color": "#333"},
        hovertext=[f"{g}<br>mean {means[g][0]:.5f}<br>std {means[g][1] or 0:.5f}" for g in groups],
        hoverinfo="text"))


@dataclass(frozen=True)
class SeedCurve:
    """One seed's curve; seeds of one group share a colour and a legend entry."""

    group: str
    seed: int
    steps: list[int]
    values: list[float]


def seed_curves(curves: Sequence[SeedCurve], title: str, y_title: str, refs: Sequence[RefLine] = (),
                y_range: tuple[float, float] | None = None) -> go.Figure:
    """One line per seed, coloured by group (first seed of a group carries the legend entry)."""
    groups = list(dict.fromkeys(c.group for c in curves))
    fig = go.Figure()
    seen: set[str] = set()
    for curve in curves:
        fig.add_trace(go.Scatter(
            x=curve.steps, y=curve.values, mode="lines", name=curve.group, legendgroup=curve.group,
            showlegend=curve.group not in seen, line={"color": color(groups.index(curve.group)), "width": 1.5},
            hovertemplate=f"{curve.group} seed {curve.seed}<br>step %{{x}}<br>%{{y:.4f}}<extra></extra>"))
        seen.add(curve.group)
    _ref_lines(fig, refs)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return styled(fig, title, "step", y_title)


def robust_range(values: Sequence[float]) -> tuple[float, float] | None:
    """A y range that keeps the first steps' huge losses (often 10-20% of the logged points) from
    flattening the rest of a curve."""
    ordered = [v for v in sorted(values) if math.isfinite(v)]
    if len(ordered) < 5:
        return None
    q75 = ordered[int(0.75 * (len(ordered) - 1))]
    high = min(ordered[-1], q75 + 3 * (q75 - ordered[0]))
    pad = (high - ordered[0]) * 0.05 or 0.01
    return ordered[0] - pad, high + pad


def headroom(names: Sequence[str], sizes: Sequence[int], hovers: Sequence[str], cap: int, title: str,
             window: int = HEADROOM_WINDOW) -> go.Figure:
    """Artifact bytes in the last `window` bytes below the cap: the headroom that decides a config.

    Sizes below the window are pinned to its floor (a down triangle, the real size in the hover);
    sizes over the cap are red."""
    floor = cap - window
    top = max([cap, *sizes]) + window // 10
    shown = [max(size, floor) for size in sizes]
    fig = go.Figure(go.Scatter(
        x=list(names), y=shown, mode="markers", name="artifact bytes", cliponaxis=False,
        marker={"size": 11, "color": [OVER_CAP if s > cap else UNDER_CAP for s in sizes],
                "symbol": ["triangle-down" if s < floor else "circle" for s in sizes]},
        hovertext=[f"{h}<br>{s:,} bytes<br>headroom {cap - s:,} bytes" for h, s in zip(hovers, sizes, strict=True)],
        hoverinfo="text"))
    fig.add_hline(y=cap, line={"color": OVER_CAP, "dash": "dash"}, annotation_text=f"cap {cap:,} bytes",
                  annotation_position="top left")
    fig.update_yaxes(range=[floor - window // 25, top], tickformat=",d")
    fig.update_xaxes(type="category")
    return styled(fig, f"{title} (last {window // 1000:,} KB below the cap; ▼ = smaller)", "",
                  "artifact bytes (code + compressed model)")
