"""Run the CLI on one bad input the way a user does and check what a user must get back: a non-zero
exit, exactly one `error: ...` line on stderr naming the input and what is wrong, nothing shaped like
a traceback, and not one file or folder created, changed or removed."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app

TRACEBACK_SHAPE = re.compile(r'Traceback \(most recent call last\)|File ".*", line \d+')


@dataclass(frozen=True)
class Case:
    """`build(tmp)` writes the bad input under tmp and returns the pgolf arguments; the error line must
    contain every string of `expect` (the input's name, then what is wrong)."""

    id: str
    build: Callable[[Path], Sequence[str]]
    expect: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def param(self) -> object:
        return pytest.param(self, id=self.id)


def snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under root: kind, mtime (ns) and, for files, a sha256 of the content."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                entries[str(path.relative_to(root))] = ("file", info.st_mtime_ns,
                                                        hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                entries[str(path.relative_to(root))] = (stat.filemode(info.st_mode)[0], info.st_mtime_ns, "")
    return entries


def assert_one_line_error(exit_code: int | None, stdout: str, stderr: str, expect: Sequence[str]) -> str:
    """The checks every bad input must pass; returns the error line."""
    assert exit_code not in (0, None), (stdout, stderr)
    assert not TRACEBACK_SHAPE.search(stdout + stderr), stdout + stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for part in expect:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def run_case(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Build the input in tmp_path (also the cwd), run pgolf in-process, check the outcome."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PGOLF_HOME", raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    args = [str(a) for a in case.build(tmp_path)]
    before = snapshot(tmp_path)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    line = assert_one_line_error(result.exit_code, result.stdout, result.stderr, case.expect)
    assert snapshot(tmp_path) == before, "files were written or changed"
    return line
