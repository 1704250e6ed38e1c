"""A driver SIGKILLed mid-sweep resumes: finished trials are not re-run, no ledger row or W&B run is
duplicated, and no process the dead driver's trainers left survives the resume."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.paths import REPO
from tests.tune.processes import alive
from tests.tune.spaces import standin_space

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from sweeper.cli import main; main()"]


def _finished_rows(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'finished'").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def _launches(trial_dir: Path) -> int:
    path = trial_dir / "standin.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _kill_driver_when(space_file: Path, root: Path, ready: Callable[[], bool], log: Path) -> None:
    """Run `pgolf sweep` in its own process (its own local Ray) and SIGKILL it once `ready()`."""
    ray_tmp = tempfile.mkdtemp(prefix="pgk-", dir="/tmp")  # short: Ray's socket paths are length-limited
    with log.open("wb") as sink:
        driver = subprocess.Popen([*CLI, "sweep", str(space_file), "--out", str(root)], cwd=REPO,
                                  env={**os.environ, "RAY_TMPDIR": ray_tmp}, stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not ready():
            assert driver.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the driver never got there"
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # Ray processes the driver started, if still there
        except ProcessLookupError:
            pass
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_killed_driver_resumes_without_rerunning_finished_trials(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    # One quick config and two slow ones, two at a time: the kill lands while a slow one runs.
    space = standin_space(demo_data, "resume", search={"max_concurrent": 2},
                          params={"STANDIN_SLEEP": {"type": "grid", "values": [0.0, 0.01, 0.011]}})
    space_file = tmp_path / "resume.yaml"
    space_file.write_text(space.to_yaml())
    root = tmp_path / "runs"
    _kill_driver_when(space_file, root, lambda: _finished_rows(root / "resume" / "ledger.sqlite") > 0,
                      tmp_path / "driver.out")

    ledger_path = root / "resume" / "ledger.sqlite"
    with Ledger(ledger_path, create=False) as ledger:
        before = {r.attempt_id: r for r in ledger.attempts()}
    done_before = {a for a, r in before.items() if r.status == "finished"}
    assert done_before and len(done_before) < 3  # killed mid-sweep
    trials = root / "resume" / "trials"
    ended_before = {p.parent.name for p in trials.glob("*/outcome.json")}  # finished, ledger or not
    assert done_before <= ended_before and {_launches(trials / a) for a in ended_before} == {1}

    report = run_sweep(space, root, name="resume", resume=True, console=Console(file=io.StringIO()))

    assert report.complete and report.counts["finished"] == 3
    with Ledger(ledger_path, create=False) as ledger:
        after = ledger.attempts()
    assert len(after) == 3 and len({(r.config_id, r.seed) for r in after}) == 3
    for attempt in ended_before:
        assert _launches(trials / attempt) == 1  # not re-run
    for attempt in done_before:
        (row,) = [r for r in after if r.attempt_id == attempt]
        assert row.val_bpb == before[attempt].val_bpb and row.ended_at == before[attempt].ended_at
    for row in after:
        outcome = json.loads((trials / row.attempt_id / "outcome.json").read_text())
        assert row.status == "finished" and outcome["val_bpb"] == row.val_bpb


def _sweep_processes(root: Path) -> list[int]:
    """Live processes (ours) whose environment points into the sweeps under `root` (trainers, ranks, helpers)."""
    needle = f"OUTPUT_DIR={root}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                if any(var.startswith(needle) for var in (entry / "environ").read_bytes().split(b"\0")):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_resume_reaps_ranks_a_killed_driver_left_and_keeps_one_wandb_run_per_attempt(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    # The trainer starts a rank-like helper in its own session that ignores SIGTERM, then replays slowly.
    space = standin_space(demo_data, "orphans", params={"STANDIN_FAULT": {"type": "grid", "values": ["orphan:600"]}},
                          env={"STANDIN_SLEEP": 0.01})
    space_file = tmp_path / "orphans.yaml"
    space_file.write_text(space.to_yaml())
    root = tmp_path / "runs"
    trials = root / "orphans" / "trials"
    try:
        _kill_driver_when(space_file, root, lambda: any(trials.glob("*/orphan.pid")) and any(
            (root / "orphans" / "wandb").glob("offline-run-*")), tmp_path / "driver.out")
        (pid_file,) = trials.glob("*/orphan.pid")
        orphan = int(pid_file.read_text())
        run_id = (pid_file.parent / "wandb_run_id").read_text()
        assert alive(orphan)  # the killed driver's trainer tree left it behind

        report = run_sweep(space, root, name="orphans", resume=True, console=Console(file=io.StringIO()))

        assert report.complete and report.counts["finished"] == 1
        assert not alive(orphan) and _sweep_processes(root) == []
        runs = [read_offline_run(p) for p in find_offline_runs(root / "orphans" / "wandb")]
        assert [run.run_id for run in runs] == [run_id]  # the relaunch replaced its run, no extra one
        assert runs[0].exit_code == 0 and runs[0].summary["status"] == "finished"
    finally:
        for pid in _sweep_processes(root):
            os.kill(pid, signal.SIGKILL)
