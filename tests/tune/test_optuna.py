"""Optuna screening: adaptive draws, preflight inside the trial, twins of a config never run twice."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from tests.tune.spaces import standin_space

pytestmark = pytest.mark.slow


def test_optuna_screen_skips_over_limit_draws_and_runs_each_config_once(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = standin_space(demo_data, "optuna", search={"algorithm": "optuna", "samples": 6, "max_concurrent": 2},
                          params={"NUM_LAYERS": {"type": "choice", "values": [9, 200]}})
    report = run_sweep(space, tmp_path / "runs", console=Console(file=io.StringIO()))
    assert report.complete

    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        rows = {r.params["NUM_LAYERS"]: r for r in ledger.attempts()}
    assert set(rows) == {9, 200}  # six draws of two configs: one attempt each
    assert rows[9].status == "finished" and rows[9].val_bpb == pytest.approx(1.2243657)
    assert rows[200].status == "skipped" and (rows[200].failure_reason or "").startswith("preflight:")
    trials = report.path / "trials"
    assert len((trials / rows[9].attempt_id / "standin.jsonl").read_text().splitlines()) == 1
    assert not (trials / rows[200].attempt_id / "standin.jsonl").exists()
    assert not list(trials.glob("*/running.lock"))

    # Resuming warm-starts Optuna with the scored configs; a finished config is still not re-run.
    again = run_sweep(space, tmp_path / "runs", name="optuna", resume=True, console=Console(file=io.StringIO()))
    assert again.complete and again.counts == report.counts
    assert len((trials / rows[9].attempt_id / "standin.jsonl").read_text().splitlines()) == 1
