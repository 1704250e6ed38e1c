"""The sweep view model: ranking, statistics, candidates and curves, computed from a real ledger."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from dashboards.curves import band, config_curves
from dashboards.views import load_sweep_view
from tests.dashboards.sweeps import Trial, three_config_sweep, write_sweep


def test_configs_are_ranked_by_mean_post_quant_bpb_with_sample_std(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path))
    assert [c.config_id for c in view.configs] == ["cfgA", "cfgB", "cfgC"]
    a_scores = [1.30 + s * 0.004 for s in (1, 2, 3)]
    a = view.configs[0]
    assert a.seeds == [1, 2, 3]
    assert math.isclose(a.mean_bpb or 0, statistics.fmean(a_scores))
    assert math.isclose(a.std_bpb or 0, statistics.stdev(a_scores))
    c = view.configs[2]
    assert [x.seed for x in c.finished] == [1] and c.std_bpb is None
    assert view.status_counts() == {"finished": 7, "failed": 1}
    assert view.swept_params == ["MATRIX_LR", "NUM_LAYERS"]


def test_failed_attempts_keep_their_reason_and_log_tail(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path))
    failed = [a for a in view.attempts if a.status == "failed"]
    assert len(failed) == 1
    assert failed[0].failure_reason == "nan loss at step 30"
    assert any("RuntimeError: boom" in line for line in failed[0].log_tail)
    assert all(not a.log_tail for a in view.attempts if a.status == "finished")


def test_candidates_are_configs_with_three_seeds_and_carry_record_verdicts(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path))
    by_id = {c.config_id: c for c in view.candidates}
    assert set(by_id) == {"cfgA", "cfgB"}  # cfgC has one finished seed
    assert by_id["cfgA"].verdict == "pass"
    assert by_id["cfgB"].verdict == "fail"
    assert any("16,200,000" in reason for reason in by_id["cfgB"].reasons)
    assert all(any("significance not tested" in r for r in c.reasons) for c in view.candidates)


def test_a_candidate_whose_logs_cannot_be_verified_is_unchecked_and_says_why(tmp_path: Path) -> None:
    sweep = three_config_sweep(tmp_path)
    missing = sweep.trial_log("cfgA-s2-1")
    missing.unlink()
    view = load_sweep_view(sweep)
    a = next(c for c in view.candidates if c.config_id == "cfgA")
    assert a.verdict == "unchecked"
    assert any(str(missing) in reason for reason in a.reasons)
    train = next(b for b in view.curves if b.config_id == "cfgA" and b.metric == "train_loss")
    assert set(train.n) == {2}  # the two seeds whose logs remain


def test_curves_average_the_seeds_at_each_step(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path))
    train = next(b for b in view.curves if b.config_id == "cfgA" and b.metric == "train_loss")
    assert train.step == [10, 20, 30, 40]
    first = [round(6.0 - 0.5 + s * 0.01, 4) for s in (1, 2, 3)]  # the logs' step-10 losses
    assert math.isclose(train.mean[0], statistics.fmean(first))
    assert math.isclose(train.std[0], statistics.stdev(first))
    val = next(b for b in view.curves if b.config_id == "cfgA" and b.metric == "val_bpb")
    assert val.step == [20, 40] and val.n == [3, 3]


def test_curves_skip_missing_logs_and_non_finite_losses(tmp_path: Path) -> None:
    log = tmp_path / "nan.log"
    log.write_text("step:10/20 train_loss:5.0000 train_time:10ms step_avg:1.00ms\n"
                   "step:20/20 train_loss:nan train_time:20ms step_avg:1.00ms\n")
    bands = config_curves("cfg", [log, tmp_path / "missing.log"])
    assert [(b.metric, b.step, b.mean) for b in bands] == [("train_loss", [10], [5.0])]
    assert config_curves("cfg", [tmp_path / "missing.log"]) == []
    assert band("cfg", "val_bpb", [{}, {}]) is None


def test_without_a_space_the_swept_params_are_those_that_differ(tmp_path: Path) -> None:
    trials = [Trial("c1", 1, {"LR": 0.1, "FIXED": 3}, 1.3), Trial("c2", 1, {"LR": 0.2, "FIXED": 3}, 1.4)]
    sweep = write_sweep(tmp_path, "no space here", trials)  # not a space name: no space.yaml
    assert load_sweep_view(sweep).swept_params == ["LR"]


def test_a_sweep_with_no_finished_trial_has_no_statistics(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "cold", [Trial("c1", 1, {"LR": 0.1}, None, failure_reason="OOM")])
    view = load_sweep_view(sweep)
    assert view.finished == [] and view.candidates == []
    assert view.configs[0].mean_bpb is None and view.configs[0].ranking is None


def test_configs_are_named_by_their_swept_values(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path))
    assert view.config_labels() == {"cfgA": "MATRIX_LR=0.04 NUM_LAYERS=4", "cfgB": "MATRIX_LR=0.08 NUM_LAYERS=2",
                                    "cfgC": "MATRIX_LR=0.02 NUM_LAYERS=2"}
    twins = [Trial("c1", 1, {"LR": 0.1, "X": 1}, 1.3), Trial("c2", 1, {"LR": 0.1, "X": 2}, 1.4)]
    clash = load_sweep_view(write_sweep(tmp_path / "clash", "no space here", twins))
    clash.swept_params = ["LR"]  # two configs that differ only outside the swept names keep their ids
    assert clash.config_labels() == {"c1": "LR=0.1 (c1)", "c2": "LR=0.1 (c2)"}


def test_a_sota_gives_every_ranked_config_its_significance(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path), sota="1.2bpb")
    assert view.sota == "1.2bpb" and view.sota_val_bpb == pytest.approx(1.2)
    a = view.configs[0].ranking
    assert a is not None and a.significance is not None
    assert a.significance.units == "bpb" and a.significance.delta_bpb == pytest.approx(a.mean_val_bpb - 1.2)
    assert a.significance.passes is False and a.significance.seeds_needed is None  # worse than the SOTA
    assert all(any("does not pass" in r for r in c.reasons) for c in view.candidates if c.verdict != "unchecked")
    assert load_sweep_view(three_config_sweep(tmp_path / "b")).sota is None


def test_per_seed_curves_cover_the_best_configs(tmp_path: Path) -> None:
    view = load_sweep_view(three_config_sweep(tmp_path))
    train = [(s.config_id, s.seed) for s in view.seed_curves if s.metric == "train_loss"]
    assert train == [("cfgA", 1), ("cfgA", 2), ("cfgA", 3), ("cfgB", 1), ("cfgB", 2), ("cfgB", 3), ("cfgC", 1)]
    first = next(s for s in view.seed_curves if s.config_id == "cfgA" and s.seed == 2 and s.metric == "val_bpb")
    assert first.step == [20, 40] and first.value == [round(3.0 - 0.4 + 0.02, 4), round(3.0 - 0.8 + 0.02, 4)]
