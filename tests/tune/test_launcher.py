"""The torchrun launcher: argv, env (no secrets, only owned GPUs), streaming, and process-group kill."""

from __future__ import annotations

import os
import queue
import sys
import time
from pathlib import Path

from sweeper.tune.launcher import LaunchSpec, TrainerProcess, describe_exit, trainer_command, trainer_env
from tests.tune.processes import alive

SECRET = "wandb-key-0123456789abcdef"


def _spec(tmp_path: Path, script: str, **fields: object) -> LaunchSpec:
    path = tmp_path / "script.py"
    path.write_text(script)
    return LaunchSpec(script=path, env={"SEED": "7"}, work_dir=tmp_path / "work", log_path=tmp_path / "trial.log",
                      **fields)  # type: ignore[arg-type]


def _drain(process: TrainerProcess, timeout: float = 120) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while (line := process.next_line(timeout=deadline - time.monotonic())) is not None:
        lines.append(line)
    return lines


def test_trainer_command_is_torchrun_of_this_python(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "", nproc_per_node=8)
    assert trainer_command(spec) == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                     "--nproc_per_node=8", str(spec.script)]


def test_trainer_env_drops_secrets_and_exposes_only_owned_gpus(tmp_path: Path) -> None:
    inherited = {"PATH": "/bin", "WANDB_API_KEY": SECRET, "HF_TOKEN": "hf_abcdefgh", "CUDA_VISIBLE_DEVICES": "0,1,2"}
    no_gpu = trainer_env(_spec(tmp_path, ""), inherited)
    assert no_gpu["CUDA_VISIBLE_DEVICES"] == ""
    assert "WANDB_API_KEY" not in no_gpu and "HF_TOKEN" not in no_gpu
    assert no_gpu["PATH"] == "/bin" and no_gpu["SEED"] == "7"
    two = trainer_env(_spec(tmp_path, "", visible_devices=["4", "5"]), inherited)
    assert two["CUDA_VISIBLE_DEVICES"] == "4,5"


def test_trainer_output_is_streamed_to_queue_and_log_without_secrets(tmp_path: Path) -> None:
    script = "import os\nprint('step:1/2 train_loss:1.5')\nprint('key', os.environ.get('LEAK'))\nprint('seed', os.environ['SEED'])\n"
    spec = _spec(tmp_path, script)
    process = TrainerProcess(spec, inherited={**os.environ, "WANDB_API_KEY": SECRET, "LEAK": SECRET})
    lines = _drain(process)
    assert process.stop() == 0
    assert "step:1/2 train_loss:1.5" in lines and "seed 7" in lines
    assert f"key {'*' * 3}" in lines  # printed through a non-secret variable, masked anyway
    log = spec.log_path.read_text()
    assert "step:1/2 train_loss:1.5" in log and SECRET not in log
    assert process.wall_s > 0


def test_stop_kills_every_process_of_the_trainer_group(tmp_path: Path) -> None:
    # A rank that ignores SIGTERM must still die: stop() escalates to SIGKILL on the whole group.
    script = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    process = TrainerProcess(_spec(tmp_path, script))
    line = process.next_line(timeout=120)
    while line is not None and not line.startswith("child "):
        line = process.next_line(timeout=120)
    assert line is not None
    child = int(line.split()[1])
    assert alive(child)
    code = process.stop(grace_s=1.0)
    assert code != 0
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)
    assert process.stop() == code  # idempotent: no second signal to a possibly reused group id


def test_next_line_times_out_while_the_trainer_is_silent(tmp_path: Path) -> None:
    process = TrainerProcess(_spec(tmp_path, "import time\ntime.sleep(60)\n"))
    try:
        start = time.monotonic()
        try:
            while True:  # torchrun's own banner lines may come first
                process.next_line(timeout=0.2)
        except queue.Empty:
            pass
        assert time.monotonic() - start < 30
    finally:
        process.stop(grace_s=1.0)


TORCHRUN_FAILURE = """hello
Traceback (most recent call last):
  File "/tmp/tr/bad.py", line 3, in <module>
    raise ValueError("MODEL_DIM=7 must be even")
ValueError: MODEL_DIM=7 must be even
E1129 04:00:49.361000 28773 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 1) local_rank: 0 (pid: 28873) of binary: /work/main/.venv/bin/python
Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
bad.py FAILED
  exitcode  : 1 (pid: 28873)
============================================================"""


def test_a_failed_trainer_is_described_by_its_rank_exit_code_and_last_line() -> None:
    assert describe_exit(1, TORCHRUN_FAILURE.splitlines()) == "exit code 1 (rank 0): ValueError: MODEL_DIM=7 must be even"
    torchrun_line = ("E1129 04:00:49.361000 2 torch/distributed/elastic/multiprocessing/api.py:1002] "
                     "failed (exitcode: -9) local_rank: 3 (pid: 7) of binary: python")
    killed = ["step:5/10 train_loss:3.2", "", torchrun_line]
    assert describe_exit(1, killed) == "exit code -9 (rank 3): step:5/10 train_loss:3.2"
    assert describe_exit(2, []) == "exit code 2: no output"
