"""Run one trainer as `torchrun --standalone --nproc_per_node=N SCRIPT` in its own process group.

The trainer is an unmodified Parameter Golf script, so it is started exactly as a submission is
(torchrun, env vars) rather than through Ray Train (whose process group clashes with the script's
own `init_process_group`). A pump thread copies its merged stdout/stderr into `trial.log` and a
queue, so a slow consumer never blocks the trainer behind a full pipe. `stop()` ends the whole
process tree (torchrun and every rank, whatever its session; see `proctree`): SIGTERM, then SIGKILL
after a grace period. The tree is recorded in `<work_dir>/processes.json` while it runs.
"""

from __future__ import annotations

import functools
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sweeper.secrets import Redactor, without_secrets
from sweeper.tune.proctree import (
    MARK_ENV,
    RECORD_FILE,
    TreeRecord,
    descendants,
    identify,
    kill_marked,
    write_record,
)

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
_EOF = None
# torchrun's own glog-style lines (`E1129 04:00:49.361000 28773 torch/distributed/...`) and banners.
_TORCHRUN_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S*torch/distributed/|^\*{10,}$|^Setting OMP_NUM")
_RANK_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+)")


class LaunchSpec(BaseModel):
    """Everything needed to start one trainer process tree."""

    model_config = ConfigDict(frozen=True)

    script: Path
    nproc_per_node: int = 1
    env: dict[str, str]  # trainer env: fixed + sampled + SEED + data and output paths
    work_dir: Path  # the trainer's CWD and OUTPUT_DIR
    log_path: Path  # raw merged output (`trial.log`)
    visible_devices: list[str] = []  # GPU ids this trial owns; empty = no GPU at all
    secrets_allow: list[str] = []  # env names that only look secret (the space's `secrets_allow`)


def trainer_command(spec: LaunchSpec) -> list[str]:
    """The torchrun argv, using the torch of the current Python environment."""
    return [*TORCHRUN, "--standalone", f"--nproc_per_node={spec.nproc_per_node}", str(spec.script)]


def trainer_env(spec: LaunchSpec, inherited: Mapping[str, str]) -> dict[str, str]:
    """Inherited env without secrets, plus the trial's env; the GPUs are exactly the owned ones.

    `CUDA_VISIBLE_DEVICES=""` for a 0-GPU trial: since Ray 2.60 a worker without GPUs no longer
    gets it, and an unset value would expose every GPU on the node.
    """
    env = without_secrets(inherited, spec.secrets_allow)
    env.update(spec.env)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.visible_devices)
    env["PYTHONUNBUFFERED"] = "1"  # stream lines as they are printed
    return env


def _die_with_parent() -> Callable[[], object] | None:
    """A pre-exec hook that makes the trainer get SIGTERM when the trial actor dies (Linux only), so
    no trainer outlives a lost actor. libc is loaded here, in the parent: after fork the hook only
    makes one system call (no dlopen, no locks)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    return functools.partial(prctl, 1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


class TrainerProcess:
    """A running trainer: read its lines as they come, stop it (and all its ranks) at any time."""

    def __init__(self, spec: LaunchSpec, inherited: Mapping[str, str] | None = None) -> None:
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        base = os.environ if inherited is None else inherited
        self.spec = spec
        self.started = time.monotonic()
        self.ended: float | None = None
        self._stopped_code: int | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._redact = Redactor.from_env(base, spec.secrets_allow)
        self.mark = uuid.uuid4().hex  # every process of this trainer carries it (see proctree)
        self._record = TreeRecord(mark=self.mark)
        self._exited = threading.Event()
        self._proc = subprocess.Popen(
            trainer_command(spec), cwd=spec.work_dir, env={**trainer_env(spec, base), MARK_ENV: self.mark},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent(),  # noqa: PLW1509 - one syscall, see above
        )
        self._note_tree()
        self._pump = threading.Thread(target=self._copy_output, name="trainer-pump", daemon=True)
        self._pump.start()
        threading.Thread(target=self._watch_tree, name="trainer-tree", daemon=True).start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _copy_output(self) -> None:
        assert self._proc.stdout is not None
        with open(self.spec.log_path, "w", encoding="utf-8", buffering=1) as log:
            for raw in self._proc.stdout:
                line = self._redact(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                log.write(line + "\n")
                self._lines.put(line)
        self._proc.wait()
        self.ended = time.monotonic()
        self._exited.set()
        self._lines.put(_EOF)

    def _note_tree(self) -> None:
        """Add the tree's new processes to `processes.json` (for a resumed driver to reap)."""
        known = {p.pid for p in self._record.processes}
        new = [r for pid in [self._proc.pid, *descendants(self._proc.pid)] if pid not in known
               and (r := identify(pid)) is not None]
        if new:
            self._record = self._record.model_copy(update={"processes": [*self._record.processes, *new]})
            write_record(self.spec.work_dir / RECORD_FILE, self._record)

    def _watch_tree(self, every_s: float = 1.0) -> None:
        """Record the tree while torchrun runs; once it has exited, whatever of the trainer is left (a
        helper or rank holding the output pipe open, so the output never ends) is killed."""
        while not self._exited.wait(every_s):
            if self._proc.poll() is None:
                self._note_tree()
            else:
                kill_marked(self.mark, grace_s=2.0)

    def next_line(self, timeout: float) -> str | None:
        """The next output line; None at end of output. Raises `queue.Empty` after `timeout` s."""
        return self._lines.get(timeout=max(timeout, 0.0))

    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def wall_s(self) -> float:
        """Seconds from launch to exit (or to now, while running)."""
        return (self.ended or time.monotonic()) - self.started

    def stop(self, grace_s: float = 5.0) -> int:
        """End the whole tree (SIGTERM, then SIGKILL after `grace_s`); return torchrun's exit code.

        Idempotent: once stopped, nothing is signalled again (a pid could be reused). Processes are
        found by their mark, so ranks in their own sessions and re-parented orphans die too."""
        if self._stopped_code is not None:
            return self._stopped_code
        tree = [] if self._proc.poll() is not None else [self._proc.pid, *descendants(self._proc.pid)]
        kill_marked(self.mark, tree, grace_s)  # ranks that ignored SIGTERM, or outlived torchrun
        self._stopped_code = self._proc.wait()
        self._pump.join(timeout=grace_s)
        return self._stopped_code


def describe_exit(code: int, output: list[str]) -> str:
    """One line for a failed trainer: the failing rank's exit code (torchrun itself exits 1) and the
    trainer's last line before torchrun's report, e.g. `exit code 3 (rank 0): ValueError: ...`."""
    trainer_lines, failure = [], None
    for line in output:
        if _TORCHRUN_LINE.search(line):
            failure = _RANK_FAILED.search(line)
            if failure:
                break
        elif line.strip():
            trainer_lines.append(line.strip())
    last = trainer_lines[-1][:300] if trainer_lines else "no output"
    if failure:
        return f"exit code {failure.group(1)} (rank {failure.group(2)}): {last}"
    return f"exit code {code}: {last}"
