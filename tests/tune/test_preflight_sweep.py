"""Preflight in real sweeps (local Ray): a config that may not fit runs with a warning (ledger, output,
W&B), an exact prediction over the cap is skipped without a trial, `preflight: off` and the
`--preflight` flag run everything, and a sweep that ran nothing fails with one clear line."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.ledger import AttemptRow, Ledger
from sweeper.preflight import Preflight
from sweeper.space import SearchSpace
from sweeper.tune.driver import run_sweep
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.sweeper.cli_output import one_error_line
from tests.tune.spaces import standin_space, tiny_trainer_space

pytestmark = pytest.mark.slow

ONE_CONFIG = {"NUM_LAYERS": {"type": "grid", "values": [9]}}


def with_limit(space: SearchSpace, limit: int, **fields: Any) -> SearchSpace:
    limits = space.limits.model_copy(update={"artifact_bytes": limit})
    return space.model_copy(update={"limits": limits, **fields})


def rows_of(path: Path) -> list[AttemptRow]:
    with Ledger(path / "ledger.sqlite", create=False) as ledger:
        return ledger.attempts()


def sweep_cli(space: SearchSpace, tmp_path: Path, *flags: str) -> Any:
    space_file = tmp_path / f"{space.name}.yaml"
    space_file.write_text(space.to_yaml())
    return CliRunner().invoke(app, ["sweep", str(space_file), "--out", str(tmp_path / "runs"), *flags])


def test_an_estimate_near_the_cap_runs_with_a_warning_everywhere(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = standin_space(demo_data, "near", params=ONE_CONFIG)
    point = Preflight(space).predict({"NUM_LAYERS": 9})
    assert not point.exact and point.low_bytes < point.artifact_bytes < point.high_bytes
    space = with_limit(space, point.artifact_bytes)  # the estimate sits on the cap: it may or may not fit
    out = io.StringIO()
    report = run_sweep(space, tmp_path / "runs", console=Console(file=out, width=200))
    (row,) = rows_of(report.path)
    assert row.status == "finished" and row.failure_reason is None
    assert row.preflight_warning == Preflight(space).predict({"NUM_LAYERS": 9}).warning
    assert row.preflight_warning and "may exceed limit" in row.preflight_warning
    printed = " ".join(out.getvalue().split())
    assert f"{row.config_id} {row.preflight_warning}" in printed and "⚠ preflight" in printed
    (run,) = map(read_offline_run, find_offline_runs(report.path / "wandb"))
    assert run.config["preflight_warning"] == row.preflight_warning


def test_an_exact_prediction_over_the_cap_is_skipped_and_a_sweep_that_ran_nothing_fails(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = tiny_trainer_space(demo_data, "exact", env={"QUANT": "int8", "COMPRESSOR": "zlib"},
                               params={"MODEL_DIM": {"type": "grid", "values": [64]}})
    point = Preflight(space).predict({"MODEL_DIM": 64})
    assert point.exact and point.method == "trainer"
    result = sweep_cli(with_limit(space, point.artifact_bytes - 1), tmp_path)  # one byte over: exact, so skipped
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert line.startswith("error: sweep exact ran nothing: all 1 attempt(s) were skipped (preflight: predicted "
                           f"artifact {point.artifact_bytes:,} bytes > limit {point.artifact_bytes - 1:,}")
    assert "--preflight warn" in line
    (row,) = rows_of(tmp_path / "runs" / "exact")
    assert row.status == "skipped" and row.failure_reason and row.failure_reason in line
    assert not (tmp_path / "runs" / "exact" / "trials" / row.attempt_id).exists()


def test_preflight_off_runs_a_config_far_over_the_cap(ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = with_limit(standin_space(demo_data, "off", params=ONE_CONFIG), 1000, preflight="off")
    report = run_sweep(space, tmp_path / "runs", console=Console(file=io.StringIO()))
    (row,) = rows_of(report.path)
    assert (row.status, row.failure_reason, row.preflight_warning) == ("finished", None, None)


def test_the_preflight_flag_overrides_the_space(ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = with_limit(standin_space(demo_data, "flag", params=ONE_CONFIG), 1000)  # skip: surely over
    result = sweep_cli(space, tmp_path, "--preflight", "warn")
    assert result.exit_code == 0, result.output
    (row,) = rows_of(tmp_path / "runs" / "flag")
    assert row.status == "finished"
    assert row.preflight_warning and row.preflight_warning.endswith("running it anyway (preflight: warn)")
    assert "even the low end" in row.preflight_warning


def test_an_optuna_trial_decides_in_the_trial_and_records_its_warning(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = standin_space(demo_data, "optuna-near", search={"algorithm": "optuna", "samples": 1},
                          params={"NUM_LAYERS": {"type": "choice", "values": [9]}})
    space = with_limit(space, Preflight(space).predict({"NUM_LAYERS": 9}).artifact_bytes)
    report = run_sweep(space, tmp_path / "runs", console=Console(file=io.StringIO()))
    (row,) = rows_of(report.path)
    assert row.status == "finished" and row.preflight_warning and "may exceed limit" in row.preflight_warning
    (run,) = map(read_offline_run, find_offline_runs(report.path / "wandb"))
    assert run.config["preflight_warning"] == row.preflight_warning
