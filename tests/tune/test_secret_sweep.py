"""Acceptance: a sweep run with secrets in the environment (driver and every Ray worker) leaves none of
them in any byte under the sweep directory: Tune's pickles and state, ledger, space.yaml, trial logs,
outcomes, W&B run files and debug logs."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.ledger import Ledger
from sweeper.tune.driver import run_sweep
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.tune.spaces import SECRET_ENV, standin_space

pytestmark = pytest.mark.slow


def _leaks(root: Path, secrets: dict[str, str]) -> list[str]:
    """`grep -a` over every file: each secret as text and as a pickled regex would hold it (escaped)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for name, value in secrets.items():
            if value.encode() in data or re.escape(value).encode() in data:
                found.append(f"{name} in {path.relative_to(root)}")
    return found


def test_no_secret_value_reaches_any_byte_of_the_sweep_dir(ray_local: None, demo_data: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRET_ENV.items():  # the driver holds them too (Ray workers got them at start)
        monkeypatch.setenv(name, value)
    space = standin_space(
        demo_data, "secrets", env={"STANDIN_ECHO": ",".join(SECRET_ENV), "MY_AUTH_MODE": "basic"},
        secrets_allow=["MY_AUTH_MODE"], params={"STANDIN_FAULT": {"type": "grid", "values": ["", "exit:3"]}})
    printed = io.StringIO()
    report = run_sweep(space, tmp_path / "runs", console=Console(file=printed, width=160))

    assert report.complete and report.counts["finished"] == 1 and report.counts["failed"] == 1
    assert list(report.path.glob("tune/*/tuner.pkl")), "Tune state was written (and scanned)"
    runs = [read_offline_run(p) for p in find_offline_runs(report.path / "wandb")]
    assert len(runs) == 2 and all(run.config["MY_AUTH_MODE"] == "basic" for run in runs)  # allow-listed
    with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
        rows = ledger.attempts()
    for row in rows:
        log = (report.path / "trials" / row.attempt_id / "trial.log").read_text()
        assert all(f"echo {name}=None" in log for name in SECRET_ENV)  # the trainer never had them
    assert _leaks(report.path, SECRET_ENV) == []
    assert not any(value in printed.getvalue() for value in SECRET_ENV.values())
