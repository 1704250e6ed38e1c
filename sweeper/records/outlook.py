"""A sweep's configs against the SOTA from their ledger figures: significance columns and the seed economy.

The ledger's val_loss / val_bpb (not re-read logs: that is `promote`'s job) become seed runs whose
stream is told by their ratio (`tokenizers.identify`, else this sweep's own data), so the units
rule of `significance.frame` applies unchanged. `candidate_significance` fills the `candidates`
columns; `SeedPlanner` answers the driver's sequential replicate stage: another seed for this config?
"""

from __future__ import annotations

from collections.abc import Sequence

from sweeper.candidates import Candidate, CandidateReport, CandidateSignificance
from sweeper.ledger import AttemptRow
from sweeper.records import tokenizers
from sweeper.records.schema import Fingerprint, SeedRun, SignificancePolicy, SotaReference
from sweeper.records.significance import assess, frame
from sweeper.records.sota import resolve_sota
from sweeper.seeds import Decision, SequentialRule


def _fingerprint(val_loss: float, val_bpb: float, data: str) -> Fingerprint:
    ratio = tokenizers.score_ratio(val_loss, val_bpb)
    return tokenizers.identify(ratio) or tokenizers.custom(ratio, data)


def seed_runs(seeds: Sequence[int], val_losses: Sequence[float | None], val_bpbs: Sequence[float],
              data: str) -> list[SeedRun]:
    """Ledger figures as seed runs (seeds without a val_loss are left out: their units are unknown)."""
    return [SeedRun(seed=seed, val_loss=loss, val_bpb=bpb, log_path="", log_sha256="",
                    fingerprint=_fingerprint(loss, bpb, data))
            for seed, loss, bpb in zip(seeds, val_losses, val_bpbs, strict=True) if loss is not None]


def candidate_significance(seeds: Sequence[SeedRun], sota: SotaReference, policy: SignificancePolicy,
                           max_seeds: int) -> CandidateSignificance:
    """Delta (nats and bpb), p, bar to beat and seed outlook of one config's seeds."""
    result = assess(seeds, sota, policy, max_seeds)
    return CandidateSignificance(
        policy=policy.kind, alpha=policy.alpha, units=result.comparable_units or "bpb", sota_source=sota.source,
        delta_nats=result.delta_nats or 0.0, delta_bpb=result.delta_bpb or 0.0, p=result.p,
        passes=bool(result.passes) and len(seeds) >= policy.min_seeds, bar_val_loss=result.bar_val_loss,
        bar_val_bpb=result.bar_val_bpb, p_reach=result.p_reach, seeds_needed=result.seeds_needed,
        more_seeds=result.more_seeds, max_seeds=max_seeds)


def _candidate_seeds(candidate: Candidate, sweep: str) -> list[SeedRun]:
    return seed_runs(candidate.seeds, candidate.val_losses, candidate.val_bpbs, f"sweep {sweep}")


def add_significance(report: CandidateReport, sota_text: str, policy: SignificancePolicy) -> CandidateReport:
    """Fill every candidate's `significance` against `--sota` (a records folder or a value)."""
    runs = {c.config_id: _candidate_seeds(c, report.sweep) for c in report.candidates}
    every_seed = [run for seeds in runs.values() for run in seeds]
    sota = resolve_sota(sota_text, every_seed)
    for candidate in report.candidates:
        if runs[candidate.config_id]:
            candidate.significance = candidate_significance(runs[candidate.config_id], sota, policy,
                                                            report.max_seeds)
    return report


class SeedPlanner:
    """The sequential replicate stage's rule, applied to one config's ledger rows at a time."""

    def __init__(self, sota_text: str, policy: SignificancePolicy, max_seeds: int) -> None:
        self.sota_text, self.policy, self.max_seeds = sota_text, policy, max_seeds
        self._sota: SotaReference | None = None

    def decide(self, rows: Sequence[AttemptRow]) -> Decision:
        """`another`, or why this config stops: every seed run (failed ones too) counts against the budget."""
        done = [r for r in rows if r.status in ("finished", "failed", "skipped")]
        scored = sorted((r for r in done if r.val_loss is not None and r.val_bpb is not None), key=lambda r: r.seed)
        seeds = seed_runs([r.seed for r in scored], [r.val_loss for r in scored], [r.val_bpb or 0.0 for r in scored],
                          f"sweep {rows[0].sweep}" if rows else "sweep")
        if self._sota is None:
            self._sota = resolve_sota(self.sota_text, seeds)
        if seeds:
            framing = frame(seeds, self._sota, self.policy)
            rule = SequentialRule(framing.comparison, max_seeds=self.max_seeds, min_seeds=self.policy.min_seeds)
            decision = rule.decide(framing.sample)
        else:
            decision = Decision(action="another", n=0, p=None, look_alpha=self.policy.alpha, reason="no score yet")
        if decision.another_seed and len(done) >= self.max_seeds:
            return decision.model_copy(update={"action": "budget", "reason": f"{len(done)} seeds run"})
        return decision
