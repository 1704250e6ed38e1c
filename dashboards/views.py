"""The dashboards' view of one sweep, computed from its ledger: what the W&B workspace and the HTML show.

Ranking and per-config statistics are `sweeper.candidates`' (mean post-quant val_bpb over the
latest finished attempt of each seed, sample std); configs with enough seeds for a record get the
record verdict of `sweeper.records` (budgets, legality, seed set; significance only with a SOTA).
Per-step curves come from each attempt's trial.log (see `dashboards.curves`). Against a SOTA (the
`--sota` of `pgolf dashboard`, else the space's `sota:`) every ranked config also carries the
significance columns of `pgolf candidates` (`sweeper.records.outlook`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dashboards.curves import CurveBand, SeedSeries, config_series
from sweeper.candidates import Candidate, CandidateReport, rank_candidates
from sweeper.errors import PgolfError, SpaceError
from sweeper.ledger import AttemptRow, Ledger
from sweeper.records.from_ledger import load_config
from sweeper.records.outlook import add_significance
from sweeper.records.promote import judge_config
from sweeper.records.schema import SignificancePolicy
from sweeper.space import Limits, SearchSpace, parse_space
from sweeper.sweepdir import SweepDir

DEFAULT_PROJECT = "pgolf"
LOG_TAIL_LINES = 12
SEED_CURVE_CONFIGS = 4  # per-seed curves for the best configs only: more would be a tangle


class AttemptView(AttemptRow):
    """A ledger row plus what the dashboards add: the last lines of a failed attempt's log."""

    log_tail: list[str] = Field(default_factory=list)


class ConfigView(BaseModel):
    """One config, all of its attempts, and its ranking row (None until a seed finished)."""

    config_id: str
    params: dict[str, Any]
    attempts: list[AttemptView]
    ranking: Candidate | None = None

    @property
    def finished(self) -> list[AttemptView]:
        """The attempts the statistics count: each seed's latest finished attempt."""
        counted = set(self.ranking.attempt_ids) if self.ranking else set()
        return [a for a in self.attempts if a.attempt_id in counted]

    @property
    def seeds(self) -> list[int]:
        return self.ranking.seeds if self.ranking else []

    @property
    def mean_bpb(self) -> float | None:
        return self.ranking.mean_val_bpb if self.ranking else None

    @property
    def std_bpb(self) -> float | None:
        return self.ranking.std_val_bpb if self.ranking else None

    @property
    def max_artifact_bytes(self) -> int | None:
        sizes = [a.artifact_bytes for a in self.attempts if a.artifact_bytes is not None]
        return max(sizes) if sizes else None


class CandidateView(BaseModel):
    """A config with enough seeds for a record, and the record verdict with every reason."""

    config_id: str
    n_seeds: int
    mean_bpb: float | None
    std_bpb: float | None
    verdict: str  # pass | fail | unchecked (its logs or script could not be verified)
    reasons: list[str] = []


class SweepView(BaseModel):
    """Everything the dashboards draw for one sweep."""

    name: str
    path: str = ""
    generated_at: float = Field(default_factory=time.time)
    project: str = DEFAULT_PROJECT
    entity: str | None = None
    artifact_cap: int = Limits().artifact_bytes
    swept_params: list[str] = []
    configs: list[ConfigView] = []
    candidates: list[CandidateView] = []
    curves: list[CurveBand] = []
    seed_curves: list[SeedSeries] = []
    sota: str | None = None
    sota_val_bpb: float | None = Field(default=None,
                                       description="SOTA mean in bpb (the seeds' ratio when given in nats)")

    @property
    def attempts(self) -> list[AttemptView]:
        return [a for c in self.configs for a in c.attempts]

    @property
    def finished(self) -> list[AttemptView]:
        return [a for c in self.configs for a in c.finished]

    def config_labels(self) -> dict[str, str]:
        """Each config named by its swept values (`LR=0.04 LAYERS=4`), with its id only where two names clash."""
        names = {c.config_id: " ".join(f"{k}={c.params[k]}" for k in self.swept_params if k in c.params)
                 or c.config_id for c in self.configs}
        clashes = {n for n in names.values() if list(names.values()).count(n) > 1}
        return {cid: f"{name} ({cid})" if name in clashes else name for cid, name in names.items()}

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for attempt in self.attempts:
            counts[attempt.status] = counts.get(attempt.status, 0) + 1
        return counts


def group_configs(attempts: list[AttemptView], limits: Limits) -> list[ConfigView]:
    """Configs in `sweeper.candidates`' order (best mean first); configs with no finished seed last."""
    by_id: dict[str, ConfigView] = {}
    for attempt in attempts:
        config = by_id.setdefault(attempt.config_id, ConfigView(
            config_id=attempt.config_id, params=attempt.params, attempts=[]))
        config.attempts.append(attempt)
    ranked = [by_id[c.config_id].model_copy(update={"ranking": c}) for c in rank_candidates(attempts, limits)]
    ranked_ids = {c.config_id for c in ranked}
    return ranked + [c for c in by_id.values() if c.config_id not in ranked_ids]


def swept_params(configs: list[ConfigView], space: SearchSpace | None) -> list[str]:
    """The space's swept names if known, else the param keys whose values differ between configs."""
    if space is not None and space.params:
        return list(space.params)
    keys = list(dict.fromkeys(k for c in configs for k in c.params))
    varying = [k for k in keys if len({repr(c.params.get(k)) for c in configs}) > 1]
    return varying or keys


def judge_candidates(sweep: SweepDir, configs: list[ConfigView], limits: Limits, policy: SignificancePolicy,
                     sota: str | None) -> list[CandidateView]:
    """The record verdict of every config with at least `policy.min_seeds` finished seeds."""
    views = []
    for config in configs:
        if len(config.seeds) < policy.min_seeds:
            continue
        try:
            verdict = judge_config(load_config(sweep, config.config_id), sota=sota, policy=policy, limits=limits,
                                   non_record=False)
        except PgolfError as exc:
            label, reasons = "unchecked", [str(exc)]
        else:
            label = verdict.verdict
            reasons = [f.message for f in verdict.violations + verdict.warnings] + [verdict.significance.statement]
        views.append(CandidateView(config_id=config.config_id, n_seeds=len(config.seeds), mean_bpb=config.mean_bpb,
                                   std_bpb=config.std_bpb, verdict=label, reasons=reasons))
    return views


def attempt_log(sweep: SweepDir, row: AttemptRow) -> Path:
    """The attempt's trial.log: the ledger's `log_path` (relative to the sweep) or the standard place."""
    if row.log_path:
        path = Path(row.log_path)
        return path if path.is_absolute() else sweep.path / path
    return sweep.trial_log(row.attempt_id)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a log, or [] when it cannot be read."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def _space(yaml_text: str, source: str) -> SearchSpace | None:
    if not yaml_text.strip():
        return None
    try:
        return parse_space(yaml_text, source=source)
    except SpaceError:
        return None  # an old or hand-edited space: fall back to what the ledger says


def load_sweep_view(sweep: SweepDir, *, sota: str | None = None, policy: SignificancePolicy | None = None,
                    with_curves: bool = True) -> SweepView:
    """Read the sweep's ledger (and its trial logs, for curves and failures) into a SweepView."""
    with Ledger(sweep.ledger_path, create=False) as ledger:
        rows = ledger.attempts()
        sweep_rows = ledger.sweeps()
    space_text = next((s.space_yaml for s in sweep_rows if s.space_yaml), "")
    if not space_text and sweep.space_yaml.is_file():
        space_text = sweep.space_yaml.read_text(errors="replace")
    space = _space(space_text, str(sweep.space_yaml))
    limits = space.limits if space else Limits()
    attempts = [AttemptView(**row.model_dump(),
                            log_tail=log_tail(attempt_log(sweep, row)) if row.status == "failed" else [])
                for row in rows]
    configs = group_configs(attempts, limits)
    curves: list[CurveBand] = []
    seed_curves: list[SeedSeries] = []
    for rank, config in enumerate(configs if with_curves else []):
        bands, series = config_series(config.config_id, {a.seed: attempt_log(sweep, a) for a in config.finished})
        curves += bands
        seed_curves += series if rank < SEED_CURVE_CONFIGS else []
    sota = sota or (space.sota if space else None)
    policy = policy or SignificancePolicy.named(space.policy if space else "readme")
    sota_bpb = _add_significance(sweep.name, configs, limits, space, sota, policy) if sota else None
    return SweepView(
        name=sweep_rows[0].name if sweep_rows else sweep.name, path=str(sweep.path),
        project=space.wandb.project if space else DEFAULT_PROJECT, entity=space.wandb.entity if space else None,
        artifact_cap=limits.artifact_bytes, swept_params=swept_params(configs, space), configs=configs,
        candidates=judge_candidates(sweep, configs, limits, policy, sota), curves=curves, seed_curves=seed_curves,
        sota=sota, sota_val_bpb=sota_bpb)


def _add_significance(name: str, configs: list[ConfigView], limits: Limits, space: SearchSpace | None, sota: str,
                      policy: SignificancePolicy) -> float | None:
    """Fill each ranked config's significance (in place); returns the SOTA's mean val_bpb."""
    ranked = [c.ranking for c in configs if c.ranking is not None]
    report = CandidateReport(sweep=name, limits=limits, candidates=ranked)
    if space is not None:
        report.max_seeds = space.max_seeds
    add_significance(report, sota, policy)
    tested = [c for c in ranked if c.significance is not None]
    return tested[0].mean_val_bpb - tested[0].significance.delta_bpb if tested and tested[0].significance else None
