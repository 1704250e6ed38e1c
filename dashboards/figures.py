"""Plotly figures of a SweepView (the HTML dashboard's charts).

Every string that comes from the ledger (config ids, attempt ids, param names and values) is
HTML-escaped before it goes into a figure: plotly renders a subset of HTML in labels and decodes
entities, so escaped text shows literally and can never become markup.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

from dashboards.curves import CurveBand, CurveMetric
from dashboards.views import AttemptView, ConfigView, SweepView

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
OVER_CAP = "#d62728"
UNDER_CAP = "#4c78a8"
LABEL_CHARS = 40


def text(value: Any) -> str:
    """Ledger text made literal for plotly labels."""
    return html.escape(str(value), quote=False)


def label(value: Any) -> str:
    """A short axis or legend label (the full text is in the hover)."""
    raw = str(value)
    return text(raw if len(raw) <= LABEL_CHARS else raw[:LABEL_CHARS - 1] + "…")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, template="plotly_white",
                      margin={"l": 70, "r": 20, "t": 50, "b": 60}, height=420, hovermode="closest")
    return fig


def _attempt_hover(a: AttemptView) -> str:
    return (f"attempt {text(a.attempt_id)}<br>config {text(a.config_id)}<br>seed {a.seed} ({a.stage})"
            f"<br>val_bpb {a.val_bpb}<br>artifact {a.artifact_bytes} bytes")


def scores_by_config(view: SweepView) -> go.Figure:
    """Post-quant val_bpb: every finished seed as a point, and the config's mean ± std."""
    ranked = [c for c in view.configs if c.finished]
    labels = [label(c.config_id) for c in ranked]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=labels, y=[c.mean_bpb for c in ranked], mode="markers", name="mean ± std",
        marker={"symbol": "line-ew-open", "size": 26, "line": {"width": 3}, "color": "#333"},
        error_y={"type": "data", "array": [c.std_bpb or 0.0 for c in ranked], "visible": True},
        hovertext=[f"config {text(c.config_id)}<br>{len(c.finished)} seeds<br>mean {c.mean_bpb:.5f}"
                   f"<br>std {c.std_bpb if c.std_bpb is not None else '-'}" for c in ranked],
        hoverinfo="text"))
    seeds = [(c, a) for c in ranked for a in c.finished]
    fig.add_trace(go.Scatter(
        x=[label(c.config_id) for c, _ in seeds], y=[a.val_bpb for _, a in seeds], mode="markers",
        name="seeds", marker={"size": 9, "color": [color(i) for i, c in enumerate(ranked) for _ in c.finished]},
        hovertext=[_attempt_hover(a) for _, a in seeds], hoverinfo="text"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    return _layout(fig, "post-quant val_bpb per config (seeds, mean ± std)", "config", "val_bpb")


def _cap_line(fig: go.Figure, cap: int, axis: str) -> None:
    label = f"cap {cap:,} bytes"
    if axis == "y":
        fig.add_hline(y=cap, line={"color": OVER_CAP, "dash": "dash"}, annotation_text=label)
    else:
        fig.add_vline(x=cap, line={"color": OVER_CAP, "dash": "dash"}, annotation_text=label)


def artifact_bytes(view: SweepView) -> go.Figure:
    """Artifact bytes of every attempt that produced one, against the cap line."""
    sized = [a for a in view.attempts if a.artifact_bytes is not None]
    fig = go.Figure(go.Bar(
        x=[f"{label(a.config_id)} s{a.seed}" for a in sized], y=[a.artifact_bytes for a in sized],
        marker={"color": [OVER_CAP if (a.artifact_bytes or 0) > view.artifact_cap else UNDER_CAP for a in sized]},
        hovertext=[_attempt_hover(a) for a in sized], hoverinfo="text", name="artifact bytes"))
    _cap_line(fig, view.artifact_cap, "y")
    top = max([view.artifact_cap, *(a.artifact_bytes or 0 for a in sized)])
    fig.update_yaxes(range=[0, top * 1.08])
    fig.update_xaxes(type="category")
    return _layout(fig, "artifact bytes per attempt (code + compressed model)", "config / seed", "bytes")


def curves(view: SweepView, metric: CurveMetric) -> go.Figure | None:
    """Each config's mean curve over seeds with a ± std band; None when no log had the metric."""
    bands = [b for b in view.curves if b.metric == metric]
    if not bands:
        return None
    index = {c.config_id: i for i, c in enumerate(view.configs)}
    fig = go.Figure()
    for band in bands:
        _add_band(fig, band, color(index.get(band.config_id, 0)))
    title = "train_loss" if metric == "train_loss" else "in-training val_bpb (pre-quant)"
    return _layout(fig, f"{title} by config (mean ± std over seeds)", "step", metric)


def _add_band(fig: go.Figure, band: CurveBand, line_color: str) -> None:
    name = label(band.config_id)
    upper = [m + s for m, s in zip(band.mean, band.std, strict=True)]
    lower = [m - s for m, s in zip(band.mean, band.std, strict=True)]
    fig.add_trace(go.Scatter(x=band.step + band.step[::-1], y=upper + lower[::-1], fill="toself",
                             fillcolor=_rgba(line_color, 0.18), line={"width": 0}, hoverinfo="skip",
                             legendgroup=name, showlegend=False, name=f"{name} ± std"))
    fig.add_trace(go.Scatter(x=band.step, y=band.mean, mode="lines", name=name, legendgroup=name,
                             line={"color": line_color},
                             hovertext=[f"config {name}<br>step {s}<br>mean {m:.4f} ± {d:.4f} ({n} seeds)"
                                        for s, m, d, n in zip(band.step, band.mean, band.std, band.n, strict=True)],
                             hoverinfo="text"))


def size_vs_score(view: SweepView) -> go.Figure:
    """Artifact bytes against post-quant val_bpb for finished attempts, one colour per config."""
    fig = go.Figure()
    for i, config in enumerate(c for c in view.configs if c.finished):
        _add_size_points(fig, config, color(i))
    _cap_line(fig, view.artifact_cap, "x")
    return _layout(fig, "artifact bytes vs post-quant val_bpb", "artifact bytes", "val_bpb")


def _add_size_points(fig: go.Figure, config: ConfigView, point_color: str) -> None:
    attempts = [a for a in config.finished if a.artifact_bytes is not None]
    fig.add_trace(go.Scatter(x=[a.artifact_bytes for a in attempts], y=[a.val_bpb for a in attempts],
                             mode="markers", name=label(config.config_id), marker={"size": 9, "color": point_color},
                             hovertext=[_attempt_hover(a) for a in attempts], hoverinfo="text"))
