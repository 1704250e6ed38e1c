"""The torchrun launcher: argv, env (no secrets, only owned GPUs), streaming, and whole-tree kill."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

from sweeper.tune.launcher import LaunchSpec, TrainerProcess, describe_exit, trainer_command, trainer_env
from sweeper.tune.proctree import RECORD_FILE, TreeRecord, identify, reap_recorded
from tests.tune.processes import alive, parent

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


# A rank-like helper in its own POSIX session that ignores SIGTERM (torchrun starts ranks with setsid).
ORPHAN_SCRIPT = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'], start_new_session=True)\n"
    "print('child', child.pid, flush=True)\n"
    "time.sleep(300)\n"
)


def _child_pid(process: TrainerProcess) -> int:
    line = process.next_line(timeout=120)
    while line is not None and not line.startswith("child "):
        line = process.next_line(timeout=120)
    assert line is not None
    return int(line.split()[1])


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_stop_kills_a_rank_in_its_own_session(tmp_path: Path) -> None:
    process = TrainerProcess(_spec(tmp_path, ORPHAN_SCRIPT))
    child = _child_pid(process)
    try:
        assert os.getsid(child) == child  # not in torchrun's session or process group
        process.stop(grace_s=0.5)
        assert _wait_gone(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_dead_launchers_ranks_are_reaped_from_the_recorded_tree(tmp_path: Path) -> None:
    spec = _spec(tmp_path, ORPHAN_SCRIPT)
    process = TrainerProcess(spec)
    child = _child_pid(process)
    try:
        record_path = spec.work_dir / RECORD_FILE
        deadline = time.monotonic() + 30
        while child not in _recorded(record_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child in _recorded(record_path)
        os.kill(process.pid, signal.SIGKILL)  # torchrun dies hard, as with a killed driver: no cleanup
        assert process.returncode() is not None or process._proc.wait(timeout=30) is not None
        assert alive(child) and parent(child) != process.pid  # orphaned, still running
        assert reap_recorded(spec.work_dir, grace_s=0.5) >= 1
        assert _wait_gone(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
        process.stop(grace_s=0.5)


def test_a_recorded_pid_now_used_by_another_process_is_never_killed(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        real = identify(bystander.pid)
        assert real is not None
        recycled = real.model_copy(update={"start_ticks": real.start_ticks + 1})  # same pid, another process
        (tmp_path / RECORD_FILE).write_text(TreeRecord(mark="gone", processes=[recycled]).model_dump_json())
        assert reap_recorded(tmp_path, grace_s=0.1) == 0
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def _recorded(path: Path) -> set[int]:
    try:
        return {p.pid for p in TreeRecord.model_validate_json(path.read_text()).processes}
    except (OSError, ValueError):
        return set()


def test_output_ends_when_the_trainer_exits_even_if_a_helper_holds_the_pipe(tmp_path: Path) -> None:
    script = ("import subprocess, sys\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n"
              "print('child', child.pid, flush=True)\n")
    process = TrainerProcess(_spec(tmp_path, script))
    child = _child_pid(process)
    try:
        _drain(process, timeout=60)  # raises queue.Empty if the output never ends
        assert process.stop() == 0 and _wait_gone(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
