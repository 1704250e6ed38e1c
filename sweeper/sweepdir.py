"""Sweep directory layout and "most recent sweep" resolution.

```
<root>/                      default ./pgolf-runs (env PGOLF_HOME; --out overrides)
  .preflight/<key>.json        cached preflight sizes (per script sha + size-relevant env)
  <sweep>/
    space.yaml               the space as run
    ledger.sqlite            written by the driver only
    driver.lock              held (flock) by the one driver running the sweep: pid, host, start time
    trials/<attempt_id>/     trial.log (raw trainer output), work dir = trainer OUTPUT_DIR
    wandb/                   W&B run files (offline-run-*)
    tune/                    Ray Tune storage (resume state)
```
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from sweeper.errors import LedgerError, UsageError
from sweeper.ledger import read_only_uri

DEFAULT_ROOT = "pgolf-runs"
LEDGER_NAME = "ledger.sqlite"
PREFLIGHT_CACHE = ".preflight"  # <root>/.preflight/<key>.json: raw preflight sizes shared by all sweeps
LOCK_NAME = "driver.lock"
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def sweep_name_problem(name: str) -> str | None:
    """Why `name` cannot name a sweep folder (a plain name, never a path or markup), else None."""
    if SWEEP_NAME.fullmatch(name):
        return None
    return f"{name!r} must be 1-80 letters, digits, '_', '.' or '-' (it names the sweep directory)"


def sweeps_root(out: Path | str | None = None) -> Path:
    """`--out` if given, else $PGOLF_HOME, else ./pgolf-runs."""
    if out is not None:
        return Path(out)
    return Path(os.environ.get("PGOLF_HOME") or DEFAULT_ROOT)


@dataclass(frozen=True)
class SweepDir:
    """Paths inside one sweep directory (nothing is created until `create()`)."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def space_yaml(self) -> Path:
        return self.path / "space.yaml"

    @property
    def ledger_path(self) -> Path:
        return self.path / LEDGER_NAME

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def wandb_dir(self) -> Path:
        return self.path / "wandb"

    @property
    def tune_dir(self) -> Path:
        return self.path / "tune"

    def trial_dir(self, attempt_id: str) -> Path:
        return self.trials_dir / attempt_id

    def trial_log(self, attempt_id: str) -> Path:
        return self.trial_dir(attempt_id) / "trial.log"

    def exists(self) -> bool:
        return self.ledger_path.is_file()

    def create(self) -> SweepDir:
        for directory in (self.trials_dir, self.wandb_dir, self.tune_dir):
            directory.mkdir(parents=True, exist_ok=True)
        return self


def ledger_created_at(ledger_path: Path) -> float:
    """When the sweep's ledger was created: its first sweep row, else the file's mtime."""
    try:
        db = sqlite3.connect(read_only_uri(ledger_path), uri=True)
        try:
            row = db.execute("SELECT MIN(created_at) FROM sweeps").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        row = None
    if row and row[0] is not None:
        return float(row[0])
    return ledger_path.stat().st_mtime


def list_sweeps(root: Path) -> list[SweepDir]:
    """Every sweep directory under `root` (one holding a ledger), oldest ledger first."""
    if not root.is_dir():
        return []
    found = [SweepDir(p.parent) for p in root.glob(f"*/{LEDGER_NAME}")]
    return sorted(found, key=lambda s: (ledger_created_at(s.ledger_path), s.name))


def latest_sweep(root: Path) -> SweepDir:
    """The sweep whose ledger was created last."""
    sweeps = list_sweeps(root)
    if not sweeps:
        raise LedgerError(f"no sweeps under {root} (run `pgolf sweep SPACE` first, or pass --out)")
    return sweeps[-1]


def resolve_sweep(sweep: str | Path | None, root: Path) -> SweepDir:
    """A sweep given as a directory path, as a name under `root`, or (None) the most recent one."""
    if sweep is None:
        return latest_sweep(root)
    for candidate in (Path(sweep), root / str(sweep)):
        if (candidate / LEDGER_NAME).is_file():
            return SweepDir(candidate)
    raise UsageError(f"sweep {str(sweep)!r}: no ledger at {Path(sweep) / LEDGER_NAME} or {root / str(sweep) / LEDGER_NAME}")


def claim_sweep_dir(root: Path, name: str) -> SweepDir:
    """Create and return `root/name`, or `root/name-2`, `-3`, ... if that name is taken. The folder is
    created atomically, so two drivers never claim the same one."""
    problem = sweep_name_problem(name)
    if problem:
        raise UsageError(f"--name {problem}")
    root.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = root / (name if n == 1 else f"{name}-{n}")
        try:
            candidate.mkdir()
            return SweepDir(candidate)
        except FileExistsError:
            n += 1


class SweepLock:
    """The one-driver-per-sweep lock: an exclusive `flock` on `<sweep>/driver.lock`, held while the driver
    runs. The kernel drops it when the owner dies, however it dies, so a stale lock file (owner gone) is
    simply taken over; the file says who holds it (pid, host, start time) for the refusal message."""

    def __init__(self, sweep: SweepDir) -> None:
        self.sweep = sweep
        self._handle: IO[str] | None = None

    def acquire(self) -> Self:
        handle = open(self.sweep.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = _owner_text(handle.read())
            handle.close()
            raise UsageError(f"sweep {self.sweep.name} is already being run by another driver ({owner}); "
                             "wait for it to end or stop it, then resume") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock; the file stays as a record of the last owner
            self._handle = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _owner_text(text: str) -> str:
    try:
        owner = json.loads(text)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(owner["started_at"])))
        return f"pid {int(owner['pid'])} on host {str(owner['host'])!r} since {since}"
    except (ValueError, KeyError, TypeError):
        return "owner unknown"
