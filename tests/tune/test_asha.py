"""ASHA on the screen stage: in-training validations reach Tune, and a pruned trial is cleaned up."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.tune.processes import alive
from tests.tune.spaces import standin_space

pytestmark = pytest.mark.slow


def _synthetic_log(path: Path, val_bpbs: list[float], pause_s: float = 0) -> Path:
    """A log whose in-training val_bpb at steps 100, 200, ... is `val_bpbs`, then a final score;
    the stand-in pauses `pause_s` after the first validation."""
    lines = []
    for i, bpb in enumerate(val_bpbs, start=1):
        step = 100 * i
        lines.append(f"step:{step}/300 train_loss:{bpb * 1.7:.4f} train_time:{step}ms step_avg:1.00ms")
        lines.append(f"step:{step}/300 val_loss:{bpb * 1.69:.4f} val_bpb:{bpb:.4f} train_time:{step}ms step_avg:1.00ms")
        if i == 1 and pause_s:
            lines.append(f"standin:sleep:{pause_s}")
    lines += ["Code size: 1000 bytes", "Total submission size int8+zlib: 5000 bytes",
              f"final_int8_zlib_roundtrip_exact val_loss:{val_bpbs[-1] * 1.69:.8f} val_bpb:{val_bpbs[-1]:.8f}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_asha_prunes_the_worst_config_and_its_trainer_is_stopped(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    good = _synthetic_log(tmp_path / "good.log", [1.50, 1.40, 1.30])
    better = _synthetic_log(tmp_path / "better.log", [1.49, 1.39, 1.29])  # never below the rung cutoff
    bad = _synthetic_log(tmp_path / "bad.log", [2.50, 2.40, 2.30], pause_s=600)
    # One at a time, the bad config last: it pauses for 10 minutes after its first validation,
    # so the sweep ends in time only if ASHA stops it and its trainer is killed.
    space = standin_space(
        demo_data, "asha", search={"max_concurrent": 1}, env={"STANDIN_SLEEP": 0.05},
        asha={"time_attr": "step", "grace_period": 100, "max_t": 300, "reduction_factor": 2},
        limits={"trial_timeout_s": 120},
        params={"STANDIN_LOG": {"type": "grid", "values": [str(good), str(better), str(bad)]}})
    report = run_sweep(space, tmp_path / "runs", console=Console(file=io.StringIO()))

    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        rows = {Path(r.params["STANDIN_LOG"]).stem: r for r in ledger.attempts()}
    pruned = rows["bad"]
    assert pruned.status == "skipped" and pruned.failure_reason == "pruned: stopped by ASHA at step 100"
    trial_dir = report.path / "trials" / pruned.attempt_id
    assert "final_int8_zlib_roundtrip_exact" not in (trial_dir / "trial.log").read_text()
    launch = json.loads((trial_dir / "standin.jsonl").read_text().splitlines()[0])
    assert not alive(launch["pid"])
    runs = {r.group.rpartition("/")[2]: r for r in map(read_offline_run, find_offline_runs(report.path / "wandb"))}
    stopped = runs[pruned.config_id]
    assert stopped.exit_code == 1 and stopped.summary["status"] == "stopped"
    assert [h["val_bpb"] for h in stopped.history if "val_bpb" in h] == [2.5]
    assert rows["good"].status == rows["better"].status == "finished"
    assert report.candidates[0].config_id == rows["better"].config_id
