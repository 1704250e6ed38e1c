"""Plotly figures of a SweepView (the HTML dashboard's charts), drawn with `sweeper.charts`' builders.

Configs are named by their swept values (`SweepView.config_labels`), never by hash; every string
from the ledger (ids, param names and values) is escaped by `text`/`label` before it goes into a figure.
"""

from __future__ import annotations

import plotly.graph_objects as go

from dashboards.curves import CurveBand, CurveMetric
from dashboards.views import AttemptView, ConfigView, SweepView
from sweeper.charts import figures as charts
from sweeper.charts.figures import RefLine, SeedCurve, SeedPoint, label, text

METRIC_TITLES = {"train_loss": "train_loss", "val_bpb": "in-training val_bpb (pre-quant)"}


def _attempt_hover(a: AttemptView) -> str:
    return (f"attempt {text(a.attempt_id)}<br>config {text(a.config_id)}<br>seed {a.seed} ({a.stage})"
            f"<br>val_bpb {a.val_bpb}<br>artifact {a.artifact_bytes} bytes")


def _names(view: SweepView) -> dict[str, str]:
    return {cid: label(name) for cid, name in view.config_labels().items()}


def scores_by_config(view: SweepView) -> go.Figure:
    """Post-quant val_bpb: every finished seed, the config's mean ± std, its bar to beat, and the SOTA."""
    names = _names(view)
    ranked = [c for c in view.configs if c.finished]
    points = [SeedPoint(names[c.config_id], a.val_bpb or 0.0, _attempt_hover(a)) for c in ranked for a in c.finished]
    means = {names[c.config_id]: (c.mean_bpb or 0.0, c.std_bpb) for c in ranked}
    bars = {names[c.config_id]: c.ranking.significance.bar_val_bpb for c in ranked
            if c.ranking and c.ranking.significance and c.ranking.significance.bar_val_bpb is not None}
    refs = [] if view.sota_val_bpb is None else [RefLine("SOTA", view.sota_val_bpb)]
    return charts.seed_strip(points, "post-quant val_bpb per config (seeds, mean ± std, bar to beat)", "val_bpb",
                             means=means, refs=refs, bars=bars)


def artifact_headroom(view: SweepView) -> go.Figure:
    """Artifact bytes of every attempt that produced one, in the last bytes below the cap."""
    names = _names(view)
    sized = [a for a in view.attempts if a.artifact_bytes is not None]
    return charts.headroom([f"{names.get(a.config_id, label(a.config_id))} s{a.seed}" for a in sized],
                           [a.artifact_bytes or 0 for a in sized], [_attempt_hover(a) for a in sized],
                           view.artifact_cap, "artifact bytes per attempt")


def seed_curves(view: SweepView, metric: CurveMetric) -> go.Figure | None:
    """Each seed's own curve for the best configs; None when no log had the metric."""
    names = _names(view)
    series = [SeedCurve(names[s.config_id], s.seed, s.step, s.value) for s in view.seed_curves if s.metric == metric]
    if not series:
        return None
    values = [v for s in series for v in s.values]
    y_range = charts.robust_range(values) if metric == "train_loss" else None
    return charts.seed_curves(series, f"{METRIC_TITLES[metric]} per seed (best configs)", metric, y_range=y_range)


def curves(view: SweepView, metric: CurveMetric) -> go.Figure | None:
    """Each config's mean curve over seeds with a ± std band; None when no log had the metric."""
    bands = [b for b in view.curves if b.metric == metric]
    if not bands:
        return None
    names = _names(view)
    index = {c.config_id: i for i, c in enumerate(view.configs)}
    fig = go.Figure()
    for band in bands:
        name = names.get(band.config_id, label(band.config_id))
        _add_band(fig, band, name, charts.color(index.get(band.config_id, 0)))
    return charts.styled(fig, f"{METRIC_TITLES[metric]} by config (mean ± std over seeds)", "step", metric)


def _add_band(fig: go.Figure, band: CurveBand, name: str, line_color: str) -> None:
    upper = [m + s for m, s in zip(band.mean, band.std, strict=True)]
    lower = [m - s for m, s in zip(band.mean, band.std, strict=True)]
    # mode "lines": plotly's default for short traces adds markers, which on a band look like seeds
    fig.add_trace(go.Scatter(x=band.step + band.step[::-1], y=upper + lower[::-1], fill="toself", mode="lines",
                             fillcolor=charts.rgba(line_color, 0.18), line={"width": 0}, hoverinfo="skip",
                             legendgroup=name, showlegend=False, name=f"{name} ± std"))
    fig.add_trace(go.Scatter(x=band.step, y=band.mean, mode="lines", name=name, legendgroup=name,
                             line={"color": line_color},
                             hovertext=[f"{name}<br>step {s}<br>mean {m:.4f} ± {d:.4f} ({n} seeds)"
                                        for s, m, d, n in zip(band.step, band.mean, band.std, band.n, strict=True)],
                             hoverinfo="text"))


def size_vs_score(view: SweepView) -> go.Figure:
    """Artifact bytes against post-quant val_bpb for finished attempts, one colour per config."""
    names = _names(view)
    fig = go.Figure()
    for i, config in enumerate(c for c in view.configs if c.finished):
        _add_size_points(fig, config, names[config.config_id], charts.color(i))
    fig.add_vline(x=view.artifact_cap, line={"color": charts.OVER_CAP, "dash": "dash"},
                  annotation_text=f"cap {view.artifact_cap:,} bytes")
    if view.sota_val_bpb is not None:
        fig.add_hline(y=view.sota_val_bpb, line={"color": charts.SOTA_COLOR}, annotation_text="SOTA")
    fig.update_xaxes(tickformat=",d")
    return charts.styled(fig, "artifact bytes vs post-quant val_bpb", "artifact bytes", "val_bpb")


def _add_size_points(fig: go.Figure, config: ConfigView, name: str, point_color: str) -> None:
    attempts = [a for a in config.finished if a.artifact_bytes is not None]
    fig.add_trace(go.Scatter(x=[a.artifact_bytes for a in attempts], y=[a.val_bpb for a in attempts],
                             mode="markers", name=name, marker={"size": 9, "color": point_color},
                             hovertext=[_attempt_hover(a) for a in attempts], hoverinfo="text"))
