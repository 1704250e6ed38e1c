"""`pgolf sweep/seeds/sync` errors a user can cause: one clear line, a non-zero exit, nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.sweepdir import SweepDir
from tests.sweeper.cli_output import one_error_line
from tests.tune.spaces import standin_space


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _sweep_with_one_config(root: Path, space: Any) -> SweepDir:
    sweep = SweepDir(root / space.name).create()
    sweep.space_yaml.write_text(space.to_yaml())
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name=space.name, space_yaml=space.to_yaml()))
        ledger.upsert_attempt(AttemptRow(attempt_id="abc123abc123-s1", sweep=space.name, config_id="abc123abc123",
                                         seed=1, status="finished", val_bpb=1.2))
    return sweep


@pytest.fixture
def no_wandb_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc either


def test_sweep_of_a_missing_space_file_is_one_line(tmp_path: Path) -> None:
    result = _invoke("sweep", str(tmp_path / "nope.yaml"), "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "nope.yaml" in one_error_line(result.output)


def test_resuming_an_unknown_sweep_names_it(demo_data: Any, tmp_path: Path) -> None:
    space_file = tmp_path / "space.yaml"
    space_file.write_text(standin_space(demo_data, "s").to_yaml())
    result = _invoke("sweep", str(space_file), "--resume", "--name", "ghost", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert "'ghost'" in one_error_line(result.output)


def test_seeds_for_an_unknown_config_lists_the_known_ones(demo_data: Any, tmp_path: Path) -> None:
    sweep = _sweep_with_one_config(tmp_path, standin_space(demo_data, "known"))
    result = _invoke("seeds", str(sweep.path), "--config", "nope", "--n", "2")
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "--config nope" in line and "abc123abc123" in line and "known" in line
    with Ledger(sweep.ledger_path, create=False) as ledger:
        assert len(ledger.attempts()) == 1  # nothing was added


def test_sync_without_a_key_is_one_line_and_keeps_the_runs(demo_data: Any, tmp_path: Path, no_wandb_key: None) -> None:
    sweep = _sweep_with_one_config(tmp_path, standin_space(demo_data, "offline"))
    run_dir = sweep.wandb_dir / "offline-run-20260101_000000-abc123abc123-s1-aaaaaa"
    run_dir.mkdir(parents=True)
    result = _invoke("sync", str(sweep.path))
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "no W&B API key" in line and "1 offline run(s)" in line
    assert run_dir.is_dir()


def test_sync_with_no_offline_runs_says_so(demo_data: Any, tmp_path: Path, no_wandb_key: None) -> None:
    sweep = _sweep_with_one_config(tmp_path, standin_space(demo_data, "empty"))
    result = _invoke("sync", str(sweep.path))
    assert result.exit_code == 0 and "no offline W&B runs" in result.output
