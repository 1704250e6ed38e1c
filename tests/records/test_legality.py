"""Legality warnings read from a run's own log lines (real fixture logs with lines inserted)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.records.legality import scan_lines
from tests.paths import REPO
from tests.records.helpers import LEAKY_LOG, SEQ2048_LOG, edit_log, insert_after, records_folder

RESCORE = "final_ttt_T0.98 val_loss:1.8800 val_bpb:1.1134 eval_time:5000ms"


def _codes(text: str) -> list[str]:
    return [f.code for f in scan_lines(text.splitlines(), "train.log").findings]


def test_clean_official_logs_raise_no_warning() -> None:
    assert _codes(LEAKY_LOG.read_text()) == []  # TTT score reprinted by `legal_ttt`/`_exact` lines
    assert _codes(SEQ2048_LOG.read_text()) == []


def test_a_score_after_the_ttt_score_is_a_second_scoring_pass() -> None:
    scan = scan_lines((LEAKY_LOG.read_text() + RESCORE + "\n").splitlines(), "train_seed1337.log")
    assert [f.code for f in scan.findings] == ["rescoring_after_ttt"]
    assert "final_ttt_T0.98" in scan.findings[0].message and scan.findings[0].seed == 1337


def test_calibrating_on_training_data_after_the_stop_without_a_reserve() -> None:
    late = insert_after(SEQ2048_LOG.read_text(), "stopping_early:", ["gptq:calibrating with training data..."])
    assert _codes(late) == ["calibration_after_cap"]
    reserved = insert_after(late, "seed:", ["gptq:reserving 12s, effective=588000ms"])
    assert _codes(reserved) == []


def test_choosing_ema_or_swa_by_validation_score() -> None:
    scored = insert_after(SEQ2048_LOG.read_text(), "stopping_early:", [
        "DIAGNOSTIC post_ema val_loss:2.0500 val_bpb:1.2141 eval_time:1000ms",
        "DIAGNOSTIC post_swa val_loss:2.0400 val_bpb:1.2082 eval_time:1000ms"])
    assert _codes(scored) == []
    chosen = insert_after(scored, "DIAGNOSTIC post_swa", ["best_averaging: swa (lower val_bpb)"])
    assert _codes(chosen) == ["averaging_chosen_by_val"]


def test_validation_data_touched_during_training() -> None:
    marked = insert_after(SEQ2048_LOG.read_text(), "seed:", ["data_isolation: validation data read during training"])
    assert _codes(marked) == ["val_data_in_training"]
    calibrated = insert_after(SEQ2048_LOG.read_text(), "stopping_early:", ["gptq:calibrating with validation data"])
    assert _codes(calibrated) == ["val_data_in_training"]
    harmless = insert_after(SEQ2048_LOG.read_text(), "seed:", ["ttt_lora:warming up compile (random tokens, no val data)"])
    assert _codes(harmless) == []


def test_evaluation_time_counts_each_evaluation_once() -> None:
    scan = scan_lines(LEAKY_LOG.read_text().splitlines(), "train_seed1337.log")
    # post_ema 1.971 s + int6 roundtrip 6.562 s + sliding 74.066 s + TTT 409.8 s; the TTT score's
    # `legal_ttt ... eval_time:410268ms` reprint must not count twice.
    assert scan.eval_ms is not None and 490_000 < scan.eval_ms < 495_000


def test_check_reports_legality_as_warnings_and_strict_fails_on_them(tmp_path: Path) -> None:
    base = SEQ2048_LOG.read_text()
    logs = {f"train_seed{s}.log": edit_log(base, seed=s, val_bpb=1.2060 + s * 0.0011) for s in (1, 2, 3)}
    logs["train_seed2.log"] = insert_after(logs["train_seed2.log"], "seed:",
                                           ["data_isolation: validation data read during training"])
    folder = records_folder(tmp_path / "rec", logs, {"name": "x"})
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(folder), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["violations"] == []
    assert [(w["code"], w["seed"]) for w in report["warnings"]] == [("val_data_in_training", 2)]
    result = runner.invoke(app, ["check", str(folder), "--json", "--strict"])
    assert result.exit_code == 1 and json.loads(result.stdout)["violations"][0]["code"] == "val_data_in_training"


def test_the_markers_are_documented_for_trainers() -> None:
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    for marker in ("data_isolation: validation data read during", "gptq:reserving", "gptq:calibrating with training data",
                   "best_averaging", "post_ema", "post_swa"):
        assert marker in doc, marker
