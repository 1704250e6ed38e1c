"""Loss and val_bpb curves per config: each seed's own, and the mean and std across seeds at each step.

The ledger keeps final figures only, so curves come from each attempt's trial.log through the
run-log parser. Curves are optional: a missing or unreadable log just contributes no points.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from sweeper.errors import PgolfError
from sweeper.runlog import parse_log

CurveMetric = Literal["train_loss", "val_bpb"]


class CurveBand(BaseModel):
    """One config's curve: at each step, the mean over the seeds that logged it, their std and count."""

    config_id: str
    metric: CurveMetric
    step: list[int]
    mean: list[float]
    std: list[float]
    n: list[int]


class SeedSeries(BaseModel):
    """One seed's curve of one metric (the per-seed charts)."""

    config_id: str
    seed: int
    metric: CurveMetric
    step: list[int]
    value: list[float]


def _points(log: Path) -> dict[CurveMetric, dict[int, float]]:
    """{metric: {step: value}} of one log; empty when the log is missing or unreadable."""
    points: dict[CurveMetric, dict[int, float]] = {"train_loss": {}, "val_bpb": {}}
    if not log.is_file():
        return points
    try:
        result = parse_log(log)
    except (OSError, PgolfError):
        return points
    for train in result.train_curve:
        if math.isfinite(train.train_loss):  # a NaN loss is in the ledger's failure reason, not a point
            points["train_loss"][train.step] = train.train_loss
    for val in result.val_curve:
        if math.isfinite(val.val_bpb):
            points["val_bpb"][val.step] = val.val_bpb
    return points


def band(config_id: str, metric: CurveMetric, per_seed: list[dict[int, float]]) -> CurveBand | None:
    """Aggregate the seeds' {step: value} maps; None when no seed logged the metric."""
    steps = sorted({step for seed in per_seed for step in seed})
    if not steps:
        return None
    mean, std, n = [], [], []
    for step in steps:
        values = [seed[step] for seed in per_seed if step in seed]
        mean.append(statistics.fmean(values))
        std.append(statistics.stdev(values) if len(values) >= 2 else 0.0)
        n.append(len(values))
    return CurveBand(config_id=config_id, metric=metric, step=steps, mean=mean, std=std, n=n)


METRICS: tuple[CurveMetric, ...] = ("train_loss", "val_bpb")


def config_series(config_id: str, logs: Mapping[int, Path]) -> tuple[list[CurveBand], list[SeedSeries]]:
    """One config's train_loss and val_bpb bands, and each seed's own curves, from its seeds' logs
    ({seed: log}; missing logs skipped)."""
    parsed = {seed: _points(log) for seed, log in logs.items()}
    bands = [band(config_id, metric, [p[metric] for p in parsed.values()]) for metric in METRICS]
    series = [SeedSeries(config_id=config_id, seed=seed, metric=metric, step=sorted(p[metric]),
                         value=[p[metric][step] for step in sorted(p[metric])])
              for seed, p in parsed.items() for metric in METRICS if p[metric]]
    return [b for b in bands if b is not None], series


def config_curves(config_id: str, logs: Iterable[Path]) -> list[CurveBand]:
    """The train_loss and val_bpb bands of one config from its seeds' logs (missing logs skipped)."""
    return config_series(config_id, dict(enumerate(logs)))[0]
