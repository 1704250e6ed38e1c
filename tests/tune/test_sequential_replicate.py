"""`replicate: sequential` on the session's local Ray: one seed per round until the seed-economy rule decides."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from tests.tune.spaces import BASELINE_LOG, SEQ2048_LOG, standin_space

pytestmark = pytest.mark.slow


def test_sequential_replicate_adds_seeds_one_at_a_time_and_stops_on_the_rule(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    # Every seed of the stand-in replays one log: Seq2048 (2.0359 nats) beats the baseline (2.0727) by far
    # more than the margin, so it passes at the first look (3 seeds); the baseline itself cannot pass (futile).
    space = standin_space(demo_data, "seq", seeds=[1], replicate_top_k=2, replicate="sequential", max_seeds=6,
                          sota="2.07269931",
                          params={"STANDIN_LOG": {"type": "grid", "values": [str(BASELINE_LOG), str(SEQ2048_LOG)]}})
    report = run_sweep(space, tmp_path, console=Console(file=io.StringIO(), width=160))
    assert report.complete
    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        rows = ledger.attempts()
    seeds = {log: sorted(r.seed for r in rows if r.params["STANDIN_LOG"] == str(log))
             for log in (BASELINE_LOG, SEQ2048_LOG)}
    assert seeds == {BASELINE_LOG: [1, 2, 3], SEQ2048_LOG: [1, 2, 3]}
    assert all(r.status == "finished" for r in rows)
    assert sorted(r.stage for r in rows) == ["replicate"] * 4 + ["screen"] * 2
