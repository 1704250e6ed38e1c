"""How often a finished two-rank (gloo) trainer run dies at shutdown, under CPU load.

Issue 10 item 13: the two-rank tests sometimes died with `terminate called without an active
exception` on local_rank 1 (exit -6) when the machine was busy. This runs the tiny record stack
(tests/trainer/tiny.py, shortened: one DDP step, int8 export, score-first TTT over 2 chunks, gloo) under
torchrun `--runs` times per trainer version while `--load` busy-loop processes keep every core busy,
and prints failures/runs for the old trainer (a git revision's train_gpt.py) and the current one,
measured in the same process.

    OMP_NUM_THREADS=1 .venv/bin/python bench/distributed_shutdown.py [--runs 20] [--load 3] [--old-rev REV]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console

from sweeper.data.demo import build_demo_dataset
from tests.paths import TRAINER
from tests.trainer.tiny import run_trainer, tiny_env

BASE_REV = "b645315"  # the trainer before the shutdown fix
BUSY_LOOP = "while True: pass"


def trainer_at(rev: str, into: Path) -> Path:
    path = into / f"train_gpt_{rev}.py"
    source = subprocess.run(["git", "show", f"{rev}:trainer/train_gpt.py"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    path.write_text(source, encoding="utf-8")
    return path


def run_many(script: Path, env: dict[str, str], runs: int, work: Path, console: Console) -> tuple[int, int]:
    """(failed runs, runs whose stderr has the terminate message) over `runs` two-rank runs of `script`."""
    failed = terminated = 0
    for i in range(runs):
        cwd = work / f"{script.stem}-{i}"
        cwd.mkdir()
        proc = run_trainer({**env, "OUTPUT_DIR": str(cwd / "out")}, cwd=cwd, nproc=2, script=script)
        failed += proc.returncode != 0
        terminated += "terminate called" in proc.stderr
        console.print(f"  {script.name} run {i + 1}/{runs}: exit {proc.returncode}", highlight=False, markup=False)
    return failed, terminated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--load", type=int, default=max(os.cpu_count() or 1, 2), help="busy-loop processes")
    parser.add_argument("--old-rev", default=BASE_REV, help="git revision of the old trainer")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="pgolf-shutdown-") as tmp:
        work = Path(tmp)
        data = build_demo_dataset(work / "data")
        env = tiny_env(data, "", ITERATIONS=1, VAL_LOSS_EVERY=0, WARMDOWN_ITERS=0, QUANT="int8", COMPRESSOR="zlib",
                       VAL_MAX_TOKENS=2048, VAL_BATCH_SIZE=2048, TTT_CHUNK_TOKENS=1024, EVAL_STRIDE=0)
        scripts = {"old": trainer_at(args.old_rev, work), "fixed": TRAINER}
        load = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.load)]
        try:
            results = {name: run_many(script, env, args.runs, work, console) for name, script in scripts.items()}
        finally:
            for proc in load:
                proc.kill()
                proc.wait()
    for name, (failed, terminated) in results.items():
        console.print(f"{name} ({'git ' + args.old_rev if name == 'old' else 'working tree'}): "
                      f"failures {failed}/{args.runs} (terminate called: {terminated}) under {args.load} busy loops",
                      highlight=False, markup=False)


if __name__ == "__main__":
    main()
