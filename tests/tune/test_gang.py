"""Gang scheduling on a simulated cluster: whole-node 8-GPU trials, one per node at a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.slow


def test_eight_gpu_trials_get_one_whole_node_each(demo_data: Any, tmp_path: Path) -> None:
    # Its own process: a Cluster cannot share the session's local Ray.
    done = subprocess.run(
        [sys.executable, "-m", "tests.tune.gang_sweep", str(demo_data.data_dir), str(demo_data.tokenizer_path),
         str(tmp_path / "runs"), "--trials", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=420, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    attempts = json.loads(done.stdout.strip().splitlines()[-1])["attempts"]
    assert len(attempts) == 4 and {a["status"] for a in attempts} == {"finished"}
    for attempt in attempts:
        devices = attempt["cuda_visible_devices"].split(",")
        assert sorted(devices, key=int) == [str(i) for i in range(8)]
    assert len({a["node_id"] for a in attempts}) == 2  # both nodes used
    events = sorted([(a["started_at"], 1) for a in attempts] + [(a["ended_at"], -1) for a in attempts])
    running, most = 0, 0
    for _, delta in events:
        running += delta
        most = max(most, running)
    assert most == 2  # never more than one 8-GPU trial per node, and the two nodes run in parallel
