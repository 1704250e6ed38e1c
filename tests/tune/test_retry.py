"""A lost trial actor is transient: the attempt is retried, its orphaned trainer dies, one row is kept."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from tests.tune.processes import alive, parent
from tests.tune.spaces import standin_space

pytestmark = pytest.mark.slow


def _kill_first_actor(trials: Path, killed: dict[str, int]) -> None:
    """Once the first trainer runs, SIGKILL the Ray actor that launched it (stand-in < torchrun < actor)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for launches in trials.glob("*/standin.jsonl"):
            trainer = json.loads(launches.read_text().splitlines()[0])["pid"]
            actor = parent(parent(trainer))
            assert b"ray::" in Path(f"/proc/{actor}/cmdline").read_bytes()
            os.kill(actor, signal.SIGKILL)
            killed.update(trainer=trainer, actor=actor)
            return
        time.sleep(0.1)


def test_a_lost_actor_is_retried_and_its_trainer_does_not_survive(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space = standin_space(demo_data, "retry", env={"STANDIN_SLEEP": 0.01})
    trials = tmp_path / "runs" / "retry" / "trials"
    killed: dict[str, int] = {}
    killer = threading.Thread(target=_kill_first_actor, args=(trials, killed), daemon=True)
    killer.start()
    report = run_sweep(space, tmp_path / "runs", console=Console(file=io.StringIO()))
    killer.join(timeout=5)

    assert killed, "no trainer was seen running"
    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        (row,) = ledger.attempts()
    assert row.status == "finished" and row.retries == 1 and row.val_bpb == pytest.approx(1.2243657)
    assert len((trials / row.attempt_id / "standin.jsonl").read_text().splitlines()) == 2
    deadline = time.monotonic() + 10  # PR_SET_PDEATHSIG: the orphan gets SIGTERM when its actor dies
    while alive(killed["trainer"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(killed["trainer"])
