"""Candidates against a SOTA from ledger figures: deltas in both units, p, bar, seed outlook; the planner
that tells the sequential replicate stage whether a config gets another seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from sweeper.candidates import sweep_candidates
from sweeper.cli import app
from sweeper.errors import RecordError, SpaceError
from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.records.outlook import SeedPlanner, add_significance
from sweeper.records.schema import SignificancePolicy
from sweeper.space import parse_space
from sweeper.sweepdir import SweepDir
from tests.paths import FIXTURES
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()

SP1024 = 1.6885
README = SignificancePolicy.named("readme")
SOTA_DIR = FIXTURES / "track_10min_16mb" / "2026-03-21_11L_XSA4_EMA_PartialRoPE_LateQAT_1.1248"  # sp1024, 3 seeds


def row(config: str, seed: int, loss: float | None, status: str = "finished", ratio: float = SP1024) -> AttemptRow:
    return AttemptRow(attempt_id=f"{config}-s{seed}", sweep="s", config_id=config, params={"LR": 0.02}, seed=seed,
                      status=status, val_loss=loss, val_bpb=None if loss is None else loss / ratio,
                      artifact_bytes=15_000_000, train_time_ms=590_000.0, eval_time_ms=90_000.0)


def _sweep(tmp_path: Path, rows: list[AttemptRow], space: str = "") -> SweepDir:
    sweep = SweepDir(tmp_path / "s").create()
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name="s", space_yaml=space))
        for r in rows:
            ledger.upsert_attempt(r)
    return sweep


def test_candidates_show_delta_in_nats_and_bpb_p_bar_and_seeds_needed(tmp_path: Path) -> None:
    losses = [2.0600, 2.0610, 2.0605]
    sweep = _sweep(tmp_path, [row("A", s, v) for s, v in zip((1, 2, 3), losses, strict=True)] + [row("B", 1, 2.09)])
    report = add_significance(sweep_candidates(sweep), "2.0727", README)
    a, b = report.candidates
    sig = a.significance
    assert sig is not None and sig.units == "nats" and sig.policy == "readme"
    assert sig.delta_nats == pytest.approx(2.0605 - 2.0727)
    assert sig.delta_bpb == pytest.approx(sig.delta_nats / SP1024)
    assert sig.p == pytest.approx(stats.ttest_1samp(losses, 2.0727 - 0.005, alternative="less").pvalue)
    assert sig.passes is True
    assert sig.bar_val_loss is not None and sig.bar_val_bpb == pytest.approx(sig.bar_val_loss / SP1024)
    assert 2.0605 < sig.bar_val_loss < 2.0677  # the mean passes, and the bar sits below SOTA - margin
    assert sig.seeds_needed == 3 and sig.more_seeds == 0 and sig.max_seeds == 8
    assert b.significance is not None and b.significance.p is None and b.significance.passes is False
    assert b.significance.seeds_needed is None  # one seed, worse than the SOTA: not reachable


def test_a_sota_on_another_stream_is_compared_in_bpb(tmp_path: Path) -> None:
    ratio = 2.5831  # sp8192
    sweep = _sweep(tmp_path, [row("A", s, v * ratio / SP1024, ratio=ratio) for s, v in ((1, 1.88), (2, 1.881))])
    sig = add_significance(sweep_candidates(sweep), str(SOTA_DIR), SignificancePolicy.named("frontier"))
    result = sig.candidates[0].significance
    assert result is not None and result.units == "bpb" and result.sota_source == str(SOTA_DIR)
    assert result.delta_nats == pytest.approx(result.delta_bpb * ratio)
    assert result.more_seeds is not None and result.seeds_needed is not None
    assert result.more_seeds == result.seeds_needed - 2


def test_a_bad_sota_is_one_clear_error(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, [row("A", 1, 2.06)])
    with pytest.raises(RecordError, match="--sota 'fast' is neither a records folder nor a number"):
        add_significance(sweep_candidates(sweep), "fast", README)


def test_the_max_seeds_of_the_space_sets_the_outlook_budget(tmp_path: Path) -> None:
    space = "name: s\ndata_path: d\ntokenizer_path: t.model\nmax_seeds: 5\n"
    report = add_significance(sweep_candidates(_sweep(tmp_path, [row("A", 1, 2.06), row("A", 2, 2.062)], space)),
                              "2.0727", README)
    assert report.max_seeds == 5 and report.candidates[0].significance is not None
    assert report.candidates[0].significance.max_seeds == 5


def test_planner_asks_for_seeds_until_the_rule_decides() -> None:
    planner = SeedPlanner("2.0727", README, max_seeds=6)
    assert planner.decide([]).action == "another"
    assert planner.decide([row("A", 1, 2.060), row("A", 2, 2.061)]).action == "another"  # 2 < 3 seeds
    assert planner.decide([row("A", 1, 2.060), row("A", 2, 2.0601), row("A", 3, 2.0602)]).action == "pass"
    assert planner.decide([row("A", 1, 2.080), row("A", 2, 2.079), row("A", 3, 2.081)]).action == "futile"


def test_failed_seeds_count_against_the_budget() -> None:
    planner = SeedPlanner("2.0727", README, max_seeds=3)
    rows = [row("A", 1, 2.060), row("A", 2, None, status="failed"), row("A", 3, None, status="failed")]
    decision = planner.decide(rows)
    assert decision.action == "budget" and "3 seeds run" in decision.reason


def test_a_sequential_space_without_a_sota_is_refused_in_one_line() -> None:
    text = "name: s\ndata_path: d\ntokenizer_path: t.model\nreplicate: sequential\n"
    with pytest.raises(SpaceError) as caught:
        parse_space(text, source="space.yaml")
    message = str(caught.value)
    assert "\n" not in message and "sota: replicate: sequential tests each config against the SOTA" in message
    space = parse_space(text + "sota: 1.2244bpb\nmax_seeds: 6\n", source="space.yaml")
    assert (space.replicate, space.max_seeds, space.sota) == ("sequential", 6, "1.2244bpb")


def test_candidates_cli_shows_significance_columns_and_json(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, [row("A", s, v) for s, v in ((1, 2.060), (2, 2.061), (3, 2.0605))])
    result = runner.invoke(app, ["candidates", str(sweep.path), "--sota", "2.0727", "--json"])
    assert result.exit_code == 0, result.output
    sig = json.loads(result.stdout)["candidates"][0]["significance"]
    assert sig["passes"] is True and sig["units"] == "nats" and sig["more_seeds"] == 0
    assert {"delta_nats", "delta_bpb", "p", "bar_val_loss", "bar_val_bpb", "seeds_needed", "p_reach"} <= set(sig)
    table = runner.invoke(app, ["candidates", str(sweep.path), "--sota", "2.0727", "--policy", "frontier"],
                          env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert "Δ nats" in table.stdout and "bar val_bpb" in table.stdout and "-0.01220" in table.stdout
    assert "frontier policy, alpha 0.25" in table.stdout


def test_candidates_cli_with_a_bad_sota_is_one_error_line(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, [row("A", 1, 2.06)])
    result = runner.invoke(app, ["candidates", str(sweep.path), "--sota", "1.2244"])
    assert result.exit_code != 0
    assert "looks like a val_bpb" in one_error_line(result.stderr)
