"""End to end with the real trainer (tiny CPU config): ledger rows, artifacts and W&B runs agree."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.tune.spaces import tiny_trainer_space

pytestmark = pytest.mark.slow


def test_real_trainer_sweep_end_to_end(ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = tiny_trainer_space(demo_data, "tiny", params={"MODEL_DIM": {"type": "grid", "values": [64, 96]}},
                               env={"ITERATIONS": "12", "WARMDOWN_ITERS": "4", "VAL_LOSS_EVERY": "6"})
    report = run_sweep(space, tmp_path / "runs", console=Console(file=io.StringIO()))
    assert report.complete and report.counts["finished"] == 2

    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        rows = ledger.attempts()
    runs = {r.run_id: r for r in map(read_offline_run, find_offline_runs(report.path / "wandb"))}
    assert sorted(r.params["MODEL_DIM"] for r in rows) == [64, 96]
    for row in rows:
        summary = json.loads((report.path / "trials" / row.attempt_id / "summary.json").read_text())
        assert row.status == "finished" and summary["seed"] == row.seed == 1
        assert row.val_bpb == pytest.approx(summary["final"]["val_bpb"], abs=1e-8)
        assert row.artifact_bytes == summary["artifact_bytes"] and row.code_bytes == summary["code_bytes"]
        assert row.steps == summary["steps"] == 12
        assert row.artifact_path == summary["artifact_path"]
        assert row.artifact_sha256 == hashlib.sha256(Path(summary["artifact_path"]).read_bytes()).hexdigest()

        run = runs[row.wandb_run_id or ""]
        assert run.group == f"{row.sweep}/{row.config_id}" and run.config["MODEL_DIM"] == row.params["MODEL_DIM"]
        assert isinstance(run.config["MODEL_DIM"], int)  # YAML types: W&B plots a numeric axis
        assert run.summary["final/val_bpb"] == row.val_bpb and run.summary["artifact_bytes"] == row.artifact_bytes
        assert run.summary["eval_s"] == pytest.approx(row.eval_time_ms / 1000)  # type: ignore[operator]
        assert [h["step"] for h in run.history if "val_bpb" in h] == [0, 6, 12]  # every validation
        assert [h["step"] for h in run.history if "train_loss" in h][-1] == 12
        assert run.exit_code == 0
