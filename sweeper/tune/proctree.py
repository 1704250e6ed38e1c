"""A trainer's whole process tree: find it, record it, kill it, whatever session its ranks are in.

torchrun starts each rank in its own POSIX session, so killing the trainer's process group misses
them, and a rank whose torchrun died is re-parented away from the tree. So every trainer process
carries a mark in its environment (`PGOLF_TRIAL_MARK=<uuid>`, inherited by every descendant), and
the launcher records the tree (pid, start time, command line) in `<trial>/processes.json`. Killing
a trial signals its descendants plus every process carrying its mark; a resumed driver reaps what a
dead driver left from that file, and kills a recorded pid only if its start time and command line
still match (a recycled pid is never touched). Linux `/proc` only; elsewhere this finds nothing.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ValidationError

MARK_ENV = "PGOLF_TRIAL_MARK"
RECORD_FILE = "processes.json"
PROC = Path("/proc")


class ProcessRecord(BaseModel):
    """One process, identified beyond its (reusable) pid."""

    pid: int
    start_ticks: int
    cmdline: str


class TreeRecord(BaseModel):
    """What `processes.json` holds: the trial's mark and every process seen in its tree."""

    mark: str
    processes: list[ProcessRecord] = []


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time in clock ticks) from /proc/<pid>/stat, None if gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def identify(pid: int) -> ProcessRecord | None:
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        return None
    try:
        cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    return ProcessRecord(pid=pid, start_ticks=stat[2], cmdline=cmdline)


def _pids() -> list[int]:
    try:
        return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]
    except OSError:
        return []


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, grandchildren, ...), by parent links."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def marked(mark: str) -> list[int]:
    """Every live process whose environment carries `PGOLF_TRIAL_MARK=<mark>` (ours only: others' are unreadable)."""
    needle = f"{MARK_ENV}={mark}".encode()
    found = []
    for pid in _pids():
        try:
            env = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(pid)
    return found


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_marked(mark: str, extra: Sequence[int] = (), grace_s: float = 5.0) -> None:
    """SIGTERM every process of the mark (and `extra`), SIGKILL what is left after `grace_s`."""
    targets = sorted({*marked(mark), *extra})
    if not targets:
        return
    signal_all(targets, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(identify(pid) for pid in targets):
        time.sleep(0.05)
    signal_all(sorted({*marked(mark), *(p for p in targets if identify(p))}), signal.SIGKILL)


def write_record(path: Path, record: TreeRecord) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=1))
    tmp.replace(path)


def reap_recorded(trial_dir: Path, grace_s: float = 2.0) -> int:
    """Kill what a dead launcher left of the tree recorded in `trial_dir`; how many processes were left.

    A recorded pid counts only while its start time and command line match the record."""
    try:
        record = TreeRecord.model_validate_json((trial_dir / RECORD_FILE).read_text())
    except (OSError, ValidationError):
        return 0
    same = [p.pid for p in record.processes if identify(p.pid) == p]
    left = sorted({*marked(record.mark), *same})
    kill_marked(record.mark, left, grace_s)
    return len(left)
