"""A sweep on a simulated 2-node x 8-GPU Ray cluster, run in its own process (it needs its own Ray).

Usage: python -m tests.tune.gang_sweep DATA_DIR TOKENIZER OUT_DIR [--trials N] [--sleep S]
Prints one JSON object: per attempt its ledger times and what the stand-in saw (GPUs, node),
plus the sweep's makespan. `tests/tune/test_gang.py` and `bench/sweep_overhead.py` use it.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from tests.tune.spaces import standin_space

NODES, GPUS_PER_NODE, CPUS_PER_NODE = 2, 8, 2  # CPUs would allow 2 trials per node; GPUs allow 1


def main(data_dir: str, tokenizer: str, out: str, trials: int = 4, sleep_s: float = 0.004) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": CPUS_PER_NODE, "num_gpus": GPUS_PER_NODE})
    for _ in range(NODES - 1):
        cluster.add_node(num_cpus=CPUS_PER_NODE, num_gpus=GPUS_PER_NODE)
    cluster.wait_for_nodes()
    data = SimpleNamespace(data_dir=data_dir, tokenizer_path=tokenizer)
    space = standin_space(data, "gang", resources={"gpus": GPUS_PER_NODE, "cpus": 1}, nproc_per_node=1,
                          search={"max_concurrent": trials},
                          env={"STANDIN_SLEEP": sleep_s}, params={"TRIAL": {"type": "grid", "values": list(range(trials))}})
    start = time.time()
    report = run_sweep(space, Path(out), address=cluster.address, console=Console(file=io.StringIO()))
    makespan = time.time() - start
    attempts = []
    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        for row in ledger.attempts():
            trial_dir = report.path / "trials" / row.attempt_id
            launch = json.loads((trial_dir / "standin.jsonl").read_text().splitlines()[0])
            outcome = json.loads((trial_dir / "outcome.json").read_text())
            attempts.append({"attempt_id": row.attempt_id, "status": row.status, "started_at": row.started_at,
                             "ended_at": row.ended_at, "trainer_wall_s": outcome["trainer_wall_s"],
                             "cuda_visible_devices": launch["cuda_visible_devices"], "node_id": launch["node_id"]})
    print(json.dumps({"makespan_s": makespan, "attempts": attempts}))
    cluster.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("tokenizer")
    parser.add_argument("out")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=0.004, help="stand-in seconds per log line")
    args = parser.parse_args()
    main(args.data_dir, args.tokenizer, args.out, args.trials, args.sleep)
