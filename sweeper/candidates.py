"""Ranking a sweep's configs by mean post-quant val_bpb, with the record budgets checked per config.

Only finished attempts with a score count; when one (config, seed) finished more than once the
latest attempt wins. A budget verdict is `ok` only if every seed's run is within it: the artifact
(`artifact_bytes <= limits.artifact_bytes`), training (`train_time <= train_s + train_tolerance_s`)
and evaluation (`eval_time <= eval_s`); `None` when no run reported the value.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from sweeper.errors import SpaceError
from sweeper.ledger import AttemptRow, Ledger
from sweeper.space import Limits, SearchSpace, parse_space
from sweeper.space_yaml import read_space_text
from sweeper.sweepdir import SweepDir


class Budget(BaseModel):
    """One budget verdict: the worst value over the config's seeds against its limit."""

    limit: float
    value: float | None
    ok: bool | None


class CandidateSignificance(BaseModel):
    """A config against the SOTA under a policy, and its seed outlook (`sweeper.records.outlook` fills it).

    Deltas are candidate - SOTA means (negative is better); each side's nats and bpb convert with the
    seeds' own val_loss / val_bpb ratio. The bar to beat is the mean val_loss / val_bpb at which these
    seeds, with their count and spread, would give exactly p = alpha."""

    policy: Literal["readme", "frontier"]
    alpha: float
    units: Literal["nats", "bpb"] = Field(description="the units the test ran in")
    sota_source: str
    delta_nats: float
    delta_bpb: float
    p: float | None = Field(description="None with fewer than 2 seeds")
    passes: bool
    bar_val_loss: float | None
    bar_val_bpb: float | None
    p_reach: float | None = Field(description="chance that max_seeds seeds reach p < alpha (observed effect, spread)")
    seeds_needed: int | None = Field(description="fewest seeds with 80% power; None: not reachable")
    more_seeds: int | None = Field(description="seeds_needed minus the seeds run")
    max_seeds: int


class Candidate(BaseModel):
    """One config's aggregate over its finished seeds (a `pgolf candidates --json` row)."""

    rank: int
    config_id: str
    params: dict[str, Any]
    seeds: list[int]
    n_seeds: int
    mean_val_bpb: float
    std_val_bpb: float | None  # sample std (n-1); None with a single seed
    val_bpbs: list[float]
    val_losses: list[float | None] = []  # nats per token, per seed (None when the ledger lacks it)
    max_artifact_bytes: int | None
    budgets: dict[str, Budget]
    within_budgets: bool  # every budget verdict is ok (unknown counts as not ok)
    attempt_ids: list[str]
    significance: CandidateSignificance | None = None  # only against a SOTA
    gpu_hours: float = 0.0  # every attempt of the config, failed ones too (ledger gpu_s)
    cost: float | None = None  # gpu_hours x the report's cost_per_gpu_hour


class CandidateReport(BaseModel):
    sweep: str
    limits: Limits
    candidates: list[Candidate]
    max_seeds: int = Field(default=SearchSpace.model_fields["max_seeds"].default, description="the space's seed budget")
    sota: str | None = Field(default=None, description="the space's `sota:` (the default of --sota)")
    gpu_hours: float = 0.0  # every attempt of the sweep
    cost_per_gpu_hour: float | None = None
    cost: float | None = None


def gpu_hours(attempts: Iterable[AttemptRow]) -> dict[str, float]:
    """GPU-hours per config id over every attempt (nproc x wall; unknown counts 0)."""
    hours: dict[str, float] = {}
    for row in attempts:
        hours[row.config_id] = hours.get(row.config_id, 0.0) + (row.gpu_s or 0.0) / 3600
    return hours


def _cost(hours: float, rate: float | None) -> float | None:
    return None if rate is None else round(hours * rate, 2)


def rank_candidates(attempts: Iterable[AttemptRow], limits: Limits) -> list[Candidate]:
    """Configs with at least one scored seed, best (lowest) mean val_bpb first."""
    latest: dict[tuple[str, int], AttemptRow] = {}
    for row in attempts:
        if row.status == "finished" and row.val_bpb is not None:
            latest[(row.config_id, row.seed)] = row
    by_config: dict[str, list[AttemptRow]] = {}
    for row in latest.values():
        by_config.setdefault(row.config_id, []).append(row)
    summaries = [_summarise(rows, limits) for rows in by_config.values()]
    summaries.sort(key=lambda c: (c.mean_val_bpb, -c.n_seeds, c.config_id))
    for rank, candidate in enumerate(summaries, start=1):
        candidate.rank = rank
    return summaries


def sweep_candidates(sweep: SweepDir, cost_per_gpu_hour: float | None = None) -> CandidateReport:
    """Rank one sweep directory's ledger, with the limits of the space it ran (defaults if unreadable),
    GPU-hours, and their cost at `cost_per_gpu_hour` (default: the space's `cost_per_gpu_hour`)."""
    with Ledger(sweep.ledger_path, create=False) as ledger:
        attempts = ledger.attempts()
        space_yaml = next((s.space_yaml for s in ledger.sweeps() if s.space_yaml), "")
    try:
        if not space_yaml and sweep.space_yaml.is_file():
            space_yaml = read_space_text(sweep.space_yaml)
        space = parse_space(space_yaml, source=str(sweep.space_yaml)) if space_yaml else None
    except SpaceError:
        space = None
    limits = space.limits if space else Limits()
    rate = cost_per_gpu_hour if cost_per_gpu_hour is not None else space.cost_per_gpu_hour if space else None
    hours = gpu_hours(attempts)
    ranked = rank_candidates(attempts, limits)
    for candidate in ranked:
        candidate.gpu_hours = round(hours.get(candidate.config_id, 0.0), 4)
        candidate.cost = _cost(candidate.gpu_hours, rate)
    total = round(sum(hours.values()), 4)
    report = CandidateReport(sweep=sweep.name, limits=limits, candidates=ranked, gpu_hours=total,
                             cost_per_gpu_hour=rate, cost=_cost(total, rate))
    if space is not None:
        report.max_seeds, report.sota = space.max_seeds, space.sota
    return report


def _summarise(rows: list[AttemptRow], limits: Limits) -> Candidate:
    rows.sort(key=lambda r: r.seed)
    scores = [r.val_bpb for r in rows if r.val_bpb is not None]
    artifact = _worst(r.artifact_bytes for r in rows)
    train_s = _worst(None if r.train_time_ms is None else r.train_time_ms / 1000 for r in rows)
    eval_s = _worst(None if r.eval_time_ms is None else r.eval_time_ms / 1000 for r in rows)
    budgets = {
        "artifact_bytes": _verdict(artifact, limits.artifact_bytes),
        "train_s": _verdict(train_s, limits.train_s + limits.train_tolerance_s),
        "eval_s": _verdict(eval_s, limits.eval_s),
    }
    return Candidate(
        rank=0, config_id=rows[0].config_id, params=rows[-1].params, seeds=[r.seed for r in rows],
        n_seeds=len(rows), mean_val_bpb=statistics.fmean(scores),
        std_val_bpb=statistics.stdev(scores) if len(scores) > 1 else None, val_bpbs=scores,
        val_losses=[r.val_loss for r in rows],
        max_artifact_bytes=None if artifact is None else int(artifact), budgets=budgets,
        within_budgets=all(b.ok for b in budgets.values()), attempt_ids=[r.attempt_id for r in rows])


def _worst(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _verdict(value: float | None, limit: float) -> Budget:
    return Budget(limit=limit, value=value, ok=None if value is None else value <= limit)
