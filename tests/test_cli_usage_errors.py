"""A mistyped command line, run through the real console-script entry point, is one `error:` line on
stderr naming the command and the problem, exit code 2: no drawn box, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.paths import REPO

ENTRY = [sys.executable, "-c", "from sweeper.cli import main; main()"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["preflight", "search_spaces/demo.yaml", "--preflght", "warn"], "error: pgolf preflight: No such option: --preflght"),
    (["sweep", "x.yaml", "--preflight", "maybe"], "error: pgolf sweep: Invalid value for '--preflight'"),
    (["nosuch"], "error: pgolf: No such command 'nosuch'."),
    (["check"], "error: pgolf check: Missing argument"),
    (["candidates", "--top", "zero"], "error: pgolf candidates: Invalid value for '--top'"),
])
def test_a_mistyped_command_line_is_one_error_line(argv: list[str], expected: str) -> None:
    done = subprocess.run([*ENTRY, *argv], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected) and lines[0].endswith("(see --help)"), done.stderr


def test_help_and_version_still_exit_0() -> None:
    for argv in (["--help"], ["--version"], ["preflight", "--help"]):
        done = subprocess.run([*ENTRY, *argv], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and done.stderr == "" and done.stdout, argv
