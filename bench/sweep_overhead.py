"""What the sweeper costs on top of the trainer, with the stand-in script (tests/tune/standin_train_gpt.py).

1. Per-trial overhead on a local Ray (this machine): trial wall time (Tune's trial start to trial
   complete, as the ledger records it) minus the trainer process's wall time (torchrun start to
   exit); median over the trials. Target <= 2 s. The baseline, in the same process: the same
   torchrun command run directly with `subprocess`, no Ray.
2. Makespan / ideal on a simulated 2-node x 8-GPU cluster (tests/tune/gang_sweep.py, its own
   process): first trial start to last trial end, over the sum of trainer wall times / 2 nodes.
   Target <= 1.05.

    .venv/bin/python bench/sweep_overhead.py [--trials 12] [--gang-trials 8] [--data demo-data]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console

from sweeper.data.demo import build_demo_dataset
from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from sweeper.tune.launcher import TORCHRUN
from tests.tune.spaces import BASELINE_LOG, STANDIN, standin_space

SLEEP_S = 0.004  # per replayed line: ~1.8 s of "training" for the 448-line baseline log


def direct_runs(n: int, out: Path, parallel: int = 2) -> list[float]:
    """Wall seconds of the stand-in under torchrun, started directly 2 at a time like the sweep's
    trials (the no-Ray baseline)."""
    walls = []
    env = {**os.environ, "STANDIN_LOG": str(BASELINE_LOG), "STANDIN_SLEEP": str(SLEEP_S), "CUDA_VISIBLE_DEVICES": ""}
    for first in range(0, n, parallel):
        started = []
        for i in range(first, min(first + parallel, n)):
            work = out / f"direct-{i}"
            work.mkdir(parents=True)
            process = subprocess.Popen([*TORCHRUN, "--standalone", "--nproc_per_node=1", str(STANDIN)], cwd=work,
                                       env={**env, "OUTPUT_DIR": str(work), "SEED": str(i)}, stdout=subprocess.DEVNULL)
            started.append((time.monotonic(), process))
        for start, process in started:
            assert process.wait() == 0
            walls.append(time.monotonic() - start)
    return walls


def local_sweep(n: int, data: object, out: Path) -> tuple[list[dict[str, float]], float]:
    """Per trial (ledger wall, trainer wall) of an n-config sweep, 2 at a time, and the fit's wall time."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    space = standin_space(data, "overhead", env={"STANDIN_SLEEP": SLEEP_S},
                          params={"TRIAL": {"type": "grid", "values": list(range(n))}})
    start = time.monotonic()
    report = run_sweep(space, out, console=Console(file=io.StringIO()))
    fit_s = time.monotonic() - start
    ray.shutdown()
    trials = []
    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        for row in ledger.attempts():
            outcome = json.loads((report.path / "trials" / row.attempt_id / "outcome.json").read_text())
            trials.append({"trial_s": row.wall_s or 0.0, "trainer_s": outcome["trainer_wall_s"]})
    return trials, fit_s


def gang(n: int, data: object, out: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "tests.tune.gang_sweep", str(data.data_dir),  # type: ignore[attr-defined]
                           str(data.tokenizer_path), str(out), "--trials", str(n), "--sleep", str(SLEEP_S)],  # type: ignore[attr-defined]
                          cwd=REPO, capture_output=True, text=True, check=True)
    attempts = json.loads(done.stdout.strip().splitlines()[-1])["attempts"]
    makespan = max(a["ended_at"] for a in attempts) - min(a["started_at"] for a in attempts)
    ideal = sum(a["trainer_wall_s"] for a in attempts) / 2
    return {"makespan_s": makespan, "ideal_s": ideal, "ratio": makespan / ideal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="local sweep trials (>= 10)")
    parser.add_argument("--gang-trials", type=int, default=8, help="8-GPU trials on the simulated cluster")
    parser.add_argument("--data", type=Path, default=REPO / "demo-data", help="demo dataset (built if missing)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local cluster (also for the gang subprocess)
    data = build_demo_dataset(args.data)
    with tempfile.TemporaryDirectory(prefix="pgbench-") as tmp:
        out = Path(tmp)
        direct = direct_runs(args.trials, out / "direct")
        trials, fit_s = local_sweep(args.trials, data, out / "local")
        cluster = gang(args.gang_trials, data, out / "gang")
    overhead = [t["trial_s"] - t["trainer_s"] for t in trials]
    trial_median = statistics.median(t["trial_s"] for t in trials)
    direct_median = statistics.median(direct)
    amortized = (fit_s - sum(t["trainer_s"] for t in trials) / 2) / len(trials)
    print(f"direct torchrun stand-in (no Ray, 2 at a time), median of {len(direct)}: {direct_median:.2f} s")
    print(f"local sweep, {len(trials)} trials 2 at a time: trial wall median {trial_median:.2f} s "
          f"= {trial_median / direct_median:.2f}x the direct run")
    print(f"per-trial overhead (trial wall - trainer wall): median {statistics.median(overhead):.2f} s, "
          f"max {max(overhead):.2f} s (target <= 2 s)")
    print(f"whole sweep incl. Ray/actor start-up: {fit_s:.1f} s, amortized {amortized:.2f} s per trial")
    print(f"simulated cluster, {args.gang_trials} x 8-GPU trials on 2 nodes: makespan {cluster['makespan_s']:.1f} s, "
          f"ideal {cluster['ideal_s']:.1f} s, ratio {cluster['ratio']:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
