"""The offline `.wandb` reader: records spanning 32 KiB blocks, and a torn tail from a killed writer."""

from __future__ import annotations

from pathlib import Path

from sweeper.tune.tracking import RunIdentity, TrialTracker
from sweeper.wandb_offline import find_offline_runs, read_offline_run


def _write_run(directory: Path, config: dict[str, object], steps: int) -> Path:
    identity = RunIdentity(run_id="big-run", project="p", group="g", job_type="screen", name="big", tags=["t"],
                           config=config)
    tracker = TrialTracker(identity, "offline", directory)
    for step in range(steps):
        tracker.log({"train_loss": 10.0 - step / 100}, step=step)
    tracker.finish({"val_bpb": 1.0}, ok=True)
    (run_dir,) = find_offline_runs(directory)
    return run_dir


def test_records_split_across_blocks_are_reassembled(tmp_path: Path) -> None:
    big_value = "x" * 100_000  # one config record larger than three 32 KiB blocks
    run_dir = _write_run(tmp_path, {"BIG": big_value}, steps=500)
    run = read_offline_run(run_dir)
    assert (run_dir / f"run-{run.run_id}.wandb").stat().st_size > 3 * 32 * 1024
    assert run.config["BIG"] == big_value
    assert [h["step"] for h in run.history] == list(range(500))
    assert run.exit_code == 0


def test_a_torn_file_yields_the_records_before_the_tear(tmp_path: Path) -> None:
    run_dir = _write_run(tmp_path, {"LR": 0.1}, steps=2000)
    wandb_file = next(run_dir.glob("run-*.wandb"))
    data = wandb_file.read_bytes()
    torn = tmp_path / "torn" / wandb_file.name
    torn.parent.mkdir()
    torn.write_bytes(data[: len(data) // 2])
    run = read_offline_run(torn)
    assert run.config["LR"] == 0.1 and run.group == "g"
    assert 0 < len(run.history) < 2000 and run.exit_code is None
