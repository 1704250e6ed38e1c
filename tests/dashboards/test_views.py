"""The sweep view model: ranking, statistics, candidates and curves, computed from a real ledger."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

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
