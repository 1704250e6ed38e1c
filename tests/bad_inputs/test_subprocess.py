"""A few bad inputs through the installed `pgolf` executable in a real process, as a user runs it
(the in-process cases cover the rest): the same one line on stderr, non-zero exit, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bad_inputs import test_ledgers, test_logs, test_records, test_spaces
from tests.bad_inputs.harness import Case, assert_one_line_error, snapshot
from tests.paths import REPO

PGOLF = Path(sys.executable).with_name("pgolf")
CASES = {
    "log-fifo": (test_logs.CASES, "fifo"),
    "log-dev-zero": (test_logs.CASES, "dev-zero"),
    "log-binary": (test_logs.CASES, "nul-bytes"),
    "check-infinity": (test_records.SUBMISSION_CASES, "infinity"),
    "check-negative-score": (test_records.FOLDER_CASES, "negative-score"),
    "candidates-zero-byte-ledger": (test_ledgers.CASES, "candidates-zero-bytes"),
    "preflight-latin1-space": (test_spaces.CASES, "latin1-bytes"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_real_pgolf_process(name: str, tmp_path: Path) -> None:
    cases, case_id = CASES[name]
    case: Case = next(c for c in cases if c.id == case_id)
    args = [str(a) for a in case.build(tmp_path)]
    before = snapshot(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PGOLF_HOME"} | {"PYTHONPATH": str(REPO), "COLUMNS": "200"}
    proc = subprocess.run([str(PGOLF), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, case.expect)
    assert snapshot(tmp_path) == before
