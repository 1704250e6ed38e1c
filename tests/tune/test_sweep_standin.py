"""Sweeps of the stand-in script on the session's local Ray: stages, ledger, W&B, secrets, faults."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.data.check import check_dataset
from sweeper.ledger import AttemptRow, Ledger
from sweeper.tune.driver import SweepReport, run_sweep
from sweeper.wandb_offline import OfflineRun, find_offline_runs, read_offline_run
from tests.tune.spaces import BASELINE_LOG, FAKE_WANDB_KEY, SEQ2048_LOG, standin_space

pytestmark = pytest.mark.slow


class Swept:
    """A finished sweep: its report, ledger rows, W&B runs by id, and what the driver printed."""

    def __init__(self, report: SweepReport, printed: str) -> None:
        self.report, self.printed, self.path = report, printed, report.path
        with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
            self.rows = ledger.attempts()
        self.runs = {run.run_id: run for run in map(read_offline_run, find_offline_runs(report.path / "wandb"))}

    def row(self, log: Path, seed: int) -> AttemptRow:
        (row,) = [r for r in self.rows if r.params.get("STANDIN_LOG") == str(log) and r.seed == seed]
        return row

    def launches(self, row: AttemptRow) -> list[dict[str, Any]]:
        path = self.path / "trials" / row.attempt_id / "standin.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def run_of(self, row: AttemptRow) -> OfflineRun:
        assert row.wandb_run_id is not None
        return self.runs[row.wandb_run_id]


def _sweep(space: Any, root: Path) -> Swept:
    out = io.StringIO()
    report = run_sweep(space, root, console=Console(file=out, width=160))
    return Swept(report, out.getvalue())


@pytest.fixture(scope="module")
def two_stage(ray_local: None, demo_data: Any, tmp_path_factory: pytest.TempPathFactory) -> Swept:
    """Two configs screened on seed 1; the better one (Seq2048 log) replicated on seed 2."""
    space = standin_space(demo_data, "two-stage", seeds=[1, 2], replicate_top_k=1,
                          params={"STANDIN_LOG": {"type": "grid", "values": [str(BASELINE_LOG), str(SEQ2048_LOG)]}})
    return _sweep(space, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def faults(ray_local: None, demo_data: Any, tmp_path_factory: pytest.TempPathFactory) -> Swept:
    """A hanging, a crashing and a NaN trainer, each also at an over-limit size (skipped by preflight)."""
    space = standin_space(
        demo_data, "faults", limits={"trial_timeout_s": 45},  # the hang trips it; the others end well before on a busy box
        params={"STANDIN_FAULT": {"type": "grid", "values": ["hang:600", "exit:3", "nan:100"]},
                "NUM_LAYERS": {"type": "grid", "values": [9, 200]}})
    return _sweep(space, tmp_path_factory.mktemp("runs"))


def test_screen_runs_every_config_then_replicates_the_best(two_stage: Swept) -> None:
    assert two_stage.report.complete
    stages = sorted((r.params["STANDIN_LOG"], r.seed, r.stage, r.status) for r in two_stage.rows)
    assert stages == [(str(BASELINE_LOG), 1, "screen", "finished"), (str(SEQ2048_LOG), 1, "screen", "finished"),
                      (str(SEQ2048_LOG), 2, "replicate", "finished")]
    best = two_stage.report.candidates[0]
    assert best.params == {"STANDIN_LOG": str(SEQ2048_LOG)} and best.seeds == [1, 2]


def test_swept_result_equals_pgolf_log_of_the_replayed_file(two_stage: Swept) -> None:
    cli = CliRunner().invoke(app, ["log", "--json", str(SEQ2048_LOG)])
    assert cli.exit_code == 0, cli.output
    (expected,) = json.loads(cli.stdout)
    row = two_stage.row(SEQ2048_LOG, 1)
    for key in ("val_loss", "val_bpb", "artifact_bytes", "code_bytes", "model_bytes", "train_time_ms",
                "eval_time_ms", "steps"):
        assert getattr(row, key) == expected[key], key
    trial_log = CliRunner().invoke(app, ["log", "--json", str(row.log_path)])
    (from_trial,) = json.loads(trial_log.stdout)
    assert {k: v for k, v in from_trial.items() if k != "file"} == {k: v for k, v in expected.items() if k != "file"}


def test_each_ledger_row_is_one_launch_of_its_seed(two_stage: Swept, demo_data: Any) -> None:
    printed_by_data_check = check_dataset(demo_data.data_dir, demo_data.tokenizer_path).fingerprint
    for row in two_stage.rows:
        (launch,) = two_stage.launches(row)
        assert launch["seed"] == str(row.seed)
        assert launch["cuda_visible_devices"] == ""  # a 0-GPU trial sees no GPU at all
        outcome = json.loads((two_stage.path / "trials" / row.attempt_id / "outcome.json").read_text())
        assert outcome["attempt_id"] == row.attempt_id and outcome["val_bpb"] == row.val_bpb
        assert row.attempt_id == f"{row.config_id}-s{row.seed}"
        assert row.artifact_path and Path(row.artifact_path).is_file() and row.artifact_sha256
        assert row.script_sha256 and row.wall_s and row.wall_s > 0
        assert row.data_fingerprint == printed_by_data_check
        assert row.pre_quant_val_bpb is not None and row.pre_quant_val_bpb != row.val_bpb


def test_each_attempt_has_one_offline_wandb_run_with_group_config_and_summary(two_stage: Swept) -> None:
    assert len(two_stage.runs) == len(two_stage.rows)
    for row in two_stage.rows:
        run = two_stage.run_of(row)
        assert run.group == f"two-stage/{row.config_id}" and run.job_type == row.stage
        assert run.name == f"two-stage/{row.attempt_id}" and run.config["pgolf/swept"] == ["STANDIN_LOG"]
        assert {f"seed:{row.seed}", f"stage:{row.stage}", "sweep:two-stage"} <= set(run.tags)
        assert run.config["STANDIN_LOG"] == row.params["STANDIN_LOG"] and run.config["seed"] == row.seed
        assert run.config["script_sha256"] == row.script_sha256 and run.config["data_fingerprint"]
        assert run.config["STANDIN_SLEEP"] == 0  # the space's YAML types: numbers stay numbers
        assert run.summary["final/val_bpb"] == row.val_bpb and run.summary["final/val_loss"] == row.val_loss
        assert run.summary["val_bpb"] == row.pre_quant_val_bpb  # the history's last (pre-quant) value, kept
        assert run.summary["artifact_bytes"] == row.artifact_bytes and run.summary["code_bytes"] == row.code_bytes
        assert run.summary["train_s"] == pytest.approx(row.train_time_ms / 1000)  # type: ignore[operator]
        assert run.summary["status"] == "finished" and run.exit_code == 0
        train = [h for h in run.history if "train_loss" in h]
        val = [h for h in run.history if "val_bpb" in h]
        assert train and val and val[-1]["val_bpb"] == row.pre_quant_val_bpb
        assert [h["step"] for h in train] == sorted(h["step"] for h in train)


def test_api_key_reaches_neither_trainer_nor_any_record(two_stage: Swept) -> None:
    for row in two_stage.rows:
        (launch,) = two_stage.launches(row)
        assert "WANDB_API_KEY" not in launch["env_names"]
    leaks = [p for p in two_stage.path.rglob("*") if p.is_file() and FAKE_WANDB_KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_progress_table_was_shown(two_stage: Swept) -> None:
    best = two_stage.report.candidates[0]
    assert best.config_id in two_stage.printed and "finished" in two_stage.printed
    assert f"{best.mean_val_bpb:.4f}" in two_stage.printed


def test_trainer_failures_are_recorded_with_their_reason_and_the_sweep_finishes(faults: Swept) -> None:
    assert faults.report.complete
    ran = {r.params["STANDIN_FAULT"]: r for r in faults.rows if r.params["NUM_LAYERS"] == 9}
    assert {r.status for r in ran.values()} == {"failed"}
    assert ran["exit:3"].failure_reason == ("exit code 3 (rank 0): final_int8_zlib_roundtrip_exact "
                                            "val_loss:2.07269931 val_bpb:1.22436570")
    assert ran["nan:100"].failure_reason == "nan_loss: train_loss nan at step 100"
    assert ran["hang:600"].failure_reason is not None and ran["hang:600"].failure_reason.startswith("timeout")
    for row in ran.values():
        assert len(faults.launches(row)) == 1  # a trainer failure is never retried
        run = faults.run_of(row)
        assert run.exit_code == 1 and run.summary["status"] == "failed"
        assert run.config["NUM_LAYERS"] == 9 and run.config["STANDIN_FAULT"] == row.params["STANDIN_FAULT"]
    nan_steps = [h["step"] for h in faults.run_of(ran["nan:100"]).history if "train_loss" in h]
    assert max(nan_steps) == 100  # stopped at the first NaN, not at the end of the log


def test_over_limit_configs_are_skipped_by_preflight_without_a_trial(faults: Swept) -> None:
    skipped = [r for r in faults.rows if r.params["NUM_LAYERS"] == 200]
    assert len(skipped) == 3
    for row in skipped:
        assert row.status == "skipped" and row.failure_reason and row.failure_reason.startswith("preflight:")
        assert "> limit 16,000,000" in row.failure_reason
        assert not (faults.path / "trials" / row.attempt_id).exists() and row.wandb_run_id is None


def test_seeds_command_runs_new_seeds_of_a_config(two_stage: Swept, tmp_path: Path) -> None:
    copy = tmp_path / "two-stage"  # a copy, so the module's sweep stays as the other tests saw it
    shutil.copytree(two_stage.path, copy)
    best = two_stage.report.candidates[0]
    result = CliRunner().invoke(app, ["seeds", str(copy), "--config", best.config_id, "--n", "1"])
    assert result.exit_code == 0, result.output
    with Ledger(copy / "ledger.sqlite", create=False) as ledger:
        rows = ledger.attempts(config_id=best.config_id)
    manual = [r for r in rows if r.stage == "manual"]
    assert [(r.seed, r.status) for r in manual] == [(3, "finished")]  # seeds 1 and 2 were taken
    assert len(rows) == 3 and best.config_id in result.output
