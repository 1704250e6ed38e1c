"""Parallel coordinates drawn with SVG scatter lines: swept params -> post-quant val_bpb.

plotly's own `parcoords` trace needs WebGL, which is missing on GPU-less machines and in
headless browsers (it then shows "WebGL is not supported"). Here each axis is a vertical line,
values are scaled to [0, 1] per axis (categories spread evenly), and every finished attempt is
one polyline coloured by its score (lower is better, brighter), with the raw values on hover.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from dashboards.views import AttemptView, SweepView
from sweeper.charts.figures import label, styled, text

COLORSCALE = "Viridis_r"


class Axis:
    """One vertical axis: how to place a value on it, and its tick labels."""

    def __init__(self, label: str, values: list[Any]) -> None:
        self.label = label
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        self.categories: list[str] | None = None if numeric else sorted({str(v) for v in values})
        self.low = min(values) if numeric else 0
        self.high = max(values) if numeric else 0

    def position(self, value: Any) -> float:
        if self.categories is not None:
            span = max(len(self.categories) - 1, 1)
            return self.categories.index(str(value)) / span if len(self.categories) > 1 else 0.5
        if self.high == self.low:
            return 0.5
        return float((value - self.low) / (self.high - self.low))

    def ticks(self) -> list[tuple[float, str]]:
        if self.categories is not None:
            return [(self.position(c), c) for c in self.categories]
        if self.high == self.low:
            return [(0.5, f"{self.low:g}")]
        return [(0.0, f"{self.low:g}"), (1.0, f"{self.high:g}")]


def _row(attempt: AttemptView, params: list[str]) -> list[Any]:
    return [attempt.params.get(p, "-") for p in params] + [attempt.val_bpb]


def parallel_coordinates(view: SweepView) -> go.Figure:
    """One polyline per finished attempt across the swept params and the post-quant score."""
    finished = view.finished
    labels = [*view.swept_params, "post-quant val_bpb"]
    rows = [_row(a, view.swept_params) for a in finished]
    axes = [Axis(label, [row[i] for row in rows]) for i, label in enumerate(labels)]
    scores = [a.val_bpb or 0.0 for a in finished]
    score_axis = axes[-1]
    colors = sample_colorscale(COLORSCALE, [score_axis.position(s) for s in scores])
    fig = go.Figure()
    for attempt, row, line_color in zip(finished, rows, colors, strict=True):
        title = f"attempt {text(attempt.attempt_id)} (config {text(attempt.config_id)}, seed {attempt.seed})"
        hover = "<br>".join([title] + [f"{text(k)} = {text(v)}" for k, v in zip(labels, row, strict=True)])
        fig.add_trace(go.Scatter(x=list(range(len(axes))), y=[ax.position(v) for ax, v in zip(axes, row)],
                                 mode="lines+markers", line={"color": line_color, "width": 2},
                                 marker={"size": 5, "color": line_color}, hovertext=hover, hoverinfo="text",
                                 showlegend=False, name=text(attempt.attempt_id)))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                             marker={"colorscale": COLORSCALE, "cmin": score_axis.low, "cmax": score_axis.high,
                                     "color": [score_axis.low], "showscale": True,
                                     "colorbar": {"title": {"text": "val_bpb"}}}))
    for i, axis in enumerate(axes):
        fig.add_shape(type="line", x0=i, x1=i, y0=0, y1=1, line={"color": "#444", "width": 1})
        for y, tick in axis.ticks():
            fig.add_annotation(x=i, y=y, text=label(tick), showarrow=False, xanchor="left", xshift=4,
                               font={"size": 10}, bgcolor="rgba(255,255,255,0.7)")
    fig.update_xaxes(tickvals=list(range(len(axes))), ticktext=[label(a.label) for a in axes],
                     range=[-0.5, len(axes) - 0.5], showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False, range=[-0.08, 1.08])
    return styled(fig, "swept params -> post-quant val_bpb (one line per finished attempt)", "", "")
