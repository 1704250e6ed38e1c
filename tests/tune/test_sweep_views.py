"""What a competitor sees of a running and a finished sweep: piped progress lines from a real
`pgolf sweep` subprocess, W&B runs of two sweeps of one project read back from the offline files,
and `pgolf seeds --json` / `--config #1`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.paths import REPO
from tests.tune.spaces import BASELINE_LOG, standin_space

pytestmark = pytest.mark.slow


def _strict(text: str) -> Any:
    """JSON that parses without NaN/Infinity."""
    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_a_piped_sweep_prints_progress_lines_while_trials_run(ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    import ray

    lines = BASELINE_LOG.read_text().splitlines()
    replay = tmp_path / "replay.log"  # the trainer pauses right after its step-200 validation line
    replay.write_text("\n".join([*lines[:100], "standin:sleep:4", *lines[100:]]) + "\n")
    space_file = tmp_path / "space.yaml"
    space_file.write_text(standin_space(demo_data, "piped", env={"STANDIN_LOG": str(replay)}).to_yaml())
    env = {**os.environ, "PGOLF_PROGRESS_EVERY_S": "0.5", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", "from sweeper.cli import main; main()", "sweep", str(space_file),
         "--out", str(tmp_path / "runs"), "--address", ray.get_runtime_context().gcs_address],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.splitlines()
    assert out[0].startswith("sweep piped: starting Ray")  # before Ray and the preflight
    with Ledger(tmp_path / "runs" / "piped" / "ledger.sqlite", create=False) as ledger:
        (row,) = ledger.attempts()
    prefix = f"[sweep piped · stage screen] {row.attempt_id} "
    running = [line for line in out if line.startswith(prefix + "step 200/20000 ")]
    assert running, done.stdout
    assert "val_bpb 1.6774" in running[0] and f"log {row.log_path}" in running[0]
    assert "wandb " + str(tmp_path / "runs" / "piped" / "wandb") in running[0]
    assert f"{prefix}finished val_bpb 1.2244" in done.stdout
    assert "\x1b[" not in done.stdout  # plain text: no terminal control codes when piped


@pytest.fixture(scope="module")
def two_sweeps(ray_local: None, demo_data: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same one-config space swept twice into one W&B project: `alpha` by the driver, `beta` by
    `pgolf sweep --json` (its output parses strictly; the live view went to stderr)."""
    root = tmp_path_factory.mktemp("runs")
    space = standin_space(demo_data, "views", params={"STANDIN_SLEEP": {"type": "grid", "values": [0]}})
    run_sweep(space, root, name="alpha")
    space_file = root / "views.yaml"
    space_file.write_text(space.to_yaml())
    result = CliRunner().invoke(app, ["sweep", str(space_file), "--name", "beta", "--out", str(root), "--json"])
    assert result.exit_code == 0, result.output
    report = _strict(result.stdout)
    assert report["sweep"] == "beta" and report["candidates"]["candidates"][0]["mean_val_bpb"] == 1.2243657
    return root


def test_two_sweeps_of_one_project_have_distinct_wandb_groups_names_and_final_keys(two_sweeps: Path) -> None:
    runs = {}
    for name in ("alpha", "beta"):
        with Ledger(two_sweeps / name / "ledger.sqlite", create=False) as ledger:
            (row,) = ledger.attempts()
        (path,) = find_offline_runs(two_sweeps / name / "wandb")
        run = runs[name] = read_offline_run(path)
        assert run.group == f"{name}/{row.config_id}" and run.name == f"{name}/{row.attempt_id}"
        assert run.config["pgolf/swept"] == ["STANDIN_SLEEP"]
        assert run.summary["final/val_bpb"] == row.val_bpb == 1.2243657
        assert run.summary["final/val_loss"] == row.val_loss
        assert run.summary["val_bpb"] == row.pre_quant_val_bpb != row.val_bpb  # the history's own key survives
        kinds = {artifact.type: artifact for artifact in run.artifacts}
        assert set(kinds) == {"trainer-log", "model"}
        (log_copy,) = kinds["trainer-log"].files.values()
        assert Path(log_copy).read_bytes() == Path(row.log_path or "").read_bytes()
        assert Path(log_copy).is_relative_to(path)  # inside the offline run directory
        (model_copy,) = kinds["model"].files.values()
        assert Path(model_copy).read_bytes() == Path(row.artifact_path or "").read_bytes()
        assert kinds["model"].name == f"{name}-{row.attempt_id}-model"
    assert runs["alpha"].project == runs["beta"].project
    assert runs["alpha"].config["config_id"] == runs["beta"].config["config_id"]
    assert runs["alpha"].group != runs["beta"].group


def test_seeds_defaults_to_the_latest_sweep_takes_a_rank_and_reports_json(two_sweeps: Path) -> None:
    result = CliRunner().invoke(app, ["seeds", "--config", "#1", "--n", "1", "--out", str(two_sweeps), "--json"])
    assert result.exit_code == 0, result.output
    report = _strict(result.stdout)  # progress went to stderr
    assert report["sweep"] == "beta" and report["counts"]["finished"] == 2 and report["complete"] is True
    assert report["gpu_hours"] > 0 and report["candidates"]["candidates"][0]["n_seeds"] == 2
