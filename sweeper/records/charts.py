"""The record-candidate report's charts, drawn with the dashboard's figure builders (`sweeper.charts`).

Per-seed official scores against the SOTA, SOTA - margin and the bar to beat; each seed's training
loss and in-training val_bpb; each seed's artifact bytes in the headroom below the cap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import fmean

import plotly.graph_objects as go

from sweeper.charts import figures as charts
from sweeper.charts.figures import RefLine, SeedCurve, SeedPoint
from sweeper.records.verdict import Verdict
from sweeper.runlog import RunResult


def score_refs(verdict: Verdict) -> list[RefLine]:
    """Mean, SOTA, SOTA - margin and the bar to beat, in bpb (the SOTA converted with the seeds' ratio)."""
    sig = verdict.significance
    mean = fmean(s.val_bpb for s in verdict.seeds)
    refs = [RefLine("mean", mean, color="#333", dash="dash")]
    sota = sig.sota_val_bpb
    if sota is None and sig.sota_val_loss is not None and sig.comparable_units == "nats":
        sota = sig.sota_val_loss * mean / fmean(s.val_loss for s in verdict.seeds)
    if sota is not None:
        refs.append(RefLine("SOTA", sota))
        if sig.margin_bpb:
            refs.append(RefLine("SOTA - margin", sota - sig.margin_bpb, dash="dot"))
    if sig.bar_val_bpb is not None:
        refs.append(RefLine(f"bar to beat with {sig.n} seeds", sig.bar_val_bpb, color=charts.BAR_COLOR, dash="dashdot"))
    return refs


def report_figures(verdict: Verdict, results: Mapping[int, RunResult]) -> list[go.Figure]:
    """The report's four figures: scores, training loss, in-training val_bpb, artifact headroom."""
    seeds = sorted(verdict.seeds, key=lambda s: s.seed)
    scores = charts.seed_strip([SeedPoint(f"seed {s.seed}", s.val_bpb, f"seed {s.seed}<br>val_bpb {s.val_bpb:.8f}<br>"
                                   f"val_loss {s.val_loss:.8f}") for s in seeds],
                        "Official score per seed", "val_bpb (bits per byte, lower is better)", refs=score_refs(verdict))
    ordered = sorted(results.items())
    train = [SeedCurve(f"seed {seed}", seed, [p.step for p in r.train_curve], [p.train_loss for p in r.train_curve])
             for seed, r in ordered]
    val = [SeedCurve(f"seed {seed}", seed, [p.step for p in r.val_curve], [p.val_bpb for p in r.val_curve])
           for seed, r in ordered]
    losses = [v for c in train for v in c.values if math.isfinite(v)]
    sized = [s for s in seeds if s.artifact_bytes is not None]
    return [scores,
            charts.seed_curves(train, "Training loss per seed", "train_loss (nats)",
                               y_range=charts.robust_range(losses)),
            charts.seed_curves(val, "In-training validation per seed (pre-quant)", "val_bpb"),
            charts.headroom([f"seed {s.seed}" for s in sized], [s.artifact_bytes or 0 for s in sized],
                     [charts.text(s.file) for s in sized], verdict.limits.artifact_bytes, "Artifact bytes per seed")]
