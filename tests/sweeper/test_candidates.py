"""Candidates: configs ranked by mean post-quant val_bpb, seed statistics and budget verdicts."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from sweeper.candidates import rank_candidates, sweep_candidates
from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.space import Limits
from sweeper.sweepdir import SweepDir

LIMITS = Limits()


def run(attempt_id: str, config: str, seed: int, bpb: float | None, status: str = "finished",
        artifact: int | None = 15_000_000, train_ms: float | None = 600_038.0, eval_ms: float | None = 90_000.0,
        **params: float) -> AttemptRow:
    return AttemptRow(attempt_id=attempt_id, sweep="s", config_id=config, params=params or {"LR": 0.02}, seed=seed,
                      status=status, val_bpb=bpb, artifact_bytes=artifact, train_time_ms=train_ms,
                      eval_time_ms=eval_ms)


def test_configs_rank_by_mean_score_with_seed_statistics() -> None:
    rows = [run("a1", "A", 1, 1.20), run("a2", "A", 2, 1.22), run("a3", "A", 3, 1.21),
            run("b1", "B", 1, 1.19)]
    ranked = rank_candidates(rows, LIMITS)
    assert [c.config_id for c in ranked] == ["B", "A"]
    b, a = ranked
    assert (b.rank, b.n_seeds, b.std_val_bpb) == (1, 1, None)
    assert a.rank == 2 and a.seeds == [1, 2, 3] and a.n_seeds == 3
    assert a.mean_val_bpb == pytest.approx(1.21)
    assert a.std_val_bpb == pytest.approx(statistics.stdev([1.20, 1.22, 1.21]))
    assert a.attempt_ids == ["a1", "a2", "a3"]


def test_only_finished_scored_attempts_count_and_the_latest_rerun_wins() -> None:
    rows = [run("a1", "A", 1, 1.30), run("a1-retry", "A", 1, 1.25),
            run("a2", "A", 2, None, status="failed"), run("c1", "C", 1, None, status="skipped"),
            run("d1", "D", 1, 1.0, status="running")]
    ranked = rank_candidates(rows, LIMITS)
    assert len(ranked) == 1
    assert ranked[0].val_bpbs == [1.25] and ranked[0].attempt_ids == ["a1-retry"]


def test_budget_verdicts_use_the_worst_seed() -> None:
    rows = [run("a1", "A", 1, 1.2, artifact=15_990_000), run("a2", "A", 2, 1.2, artifact=16_000_001),
            run("b1", "B", 1, 1.3, train_ms=601_500.0, eval_ms=610_000.0),
            run("c1", "C", 1, 1.4, artifact=None, train_ms=600_900.0)]
    by_id = {c.config_id: c for c in rank_candidates(rows, LIMITS)}
    a, b, c = by_id["A"], by_id["B"], by_id["C"]
    assert a.max_artifact_bytes == 16_000_001 and a.budgets["artifact_bytes"].ok is False
    assert a.budgets["train_s"].ok and a.budgets["eval_s"].ok and not a.within_budgets
    assert b.budgets["train_s"].ok is False and b.budgets["train_s"].limit == 601.0  # 600 s + 1 s tolerance
    assert b.budgets["eval_s"].ok is False
    assert c.budgets["artifact_bytes"].ok is None and c.budgets["train_s"].ok  # 600.9 s is within tolerance
    assert not c.within_budgets  # an unknown size cannot be called within budget


def test_limits_come_from_the_space_the_sweep_ran(tmp_path: Path) -> None:
    sweep = SweepDir(tmp_path / "s").create()
    space_yaml = ("name: s\ndata_path: d\ntokenizer_path: t.model\nlimits: {artifact_bytes: 1000, train_s: 60}\n")
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name="s", space_yaml=space_yaml))
        ledger.upsert_attempt(run("a1", "A", 1, 1.5, artifact=2000, train_ms=30_000.0))
    report = sweep_candidates(sweep)
    assert report.sweep == "s" and report.limits.artifact_bytes == 1000
    verdicts = report.candidates[0].budgets
    assert verdicts["artifact_bytes"].ok is False and verdicts["train_s"].ok is True


def test_unreadable_space_falls_back_to_the_official_limits(tmp_path: Path) -> None:
    sweep = SweepDir(tmp_path / "s").create()
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name="s", space_yaml="not: [valid"))
        ledger.upsert_attempt(run("a1", "A", 1, 1.5))
    assert sweep_candidates(sweep).limits == Limits()
