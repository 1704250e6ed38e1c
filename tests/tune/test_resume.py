"""A driver SIGKILLed mid-sweep resumes: finished trials are not re-run and no ledger row is duplicated."""

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
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from tests.paths import REPO
from tests.tune.spaces import standin_space

pytestmark = pytest.mark.slow


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


def test_killed_driver_resumes_without_rerunning_finished_trials(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    # One quick config and two slow ones, two at a time: the kill lands while a slow one runs.
    space = standin_space(demo_data, "resume", search={"max_concurrent": 2},
                          params={"STANDIN_SLEEP": {"type": "grid", "values": [0.0, 0.01, 0.011]}})
    space_file = tmp_path / "resume.yaml"
    space_file.write_text(space.to_yaml())
    root = tmp_path / "runs"
    ray_tmp = tempfile.mkdtemp(prefix="pgk-", dir="/tmp")  # short: Ray's socket paths are length-limited
    output = tmp_path / "driver.out"
    with output.open("wb") as sink:
        driver = subprocess.Popen(
            [sys.executable, "-c", "from sweeper.cli import main; main()", "sweep", str(space_file), "--out", str(root)],
            cwd=REPO, env={**os.environ, "RAY_TMPDIR": ray_tmp}, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while _finished_rows(root / "resume" / "ledger.sqlite") == 0:
            assert driver.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # Ray processes the driver started, if still there
        except ProcessLookupError:
            pass
        shutil.rmtree(ray_tmp, ignore_errors=True)

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
