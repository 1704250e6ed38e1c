"""Guards around a sweep: one driver per sweep (lock), plain --name only, no folder left by a sweep that
never started (`--address auto` without a cluster), and user strings never read as rich markup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.errors import UsageError
from sweeper.ledger import Ledger
from sweeper.sweepdir import SweepDir, SweepLock
from tests.paths import REPO
from tests.sweeper.cli_output import one_error_line
from tests.tune.spaces import standin_space

CLI = [sys.executable, "-c", "from sweeper.cli import main; main()"]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _space_file(data: Any, tmp_path: Path, name: str, **fields: Any) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(standin_space(data, name, **fields).to_yaml())
    return path


@pytest.mark.parametrize("bad", ["../../x", "/tmp/pgolf-abs", "[red]x", "a/b", ".hidden", "x" * 81])
def test_a_name_that_is_not_a_plain_name_is_refused_before_anything_is_written(
        bad: str, demo_data: Any, tmp_path: Path) -> None:
    space_file = _space_file(demo_data, tmp_path, "named")
    before = _files(tmp_path)
    result = CliRunner().invoke(app, ["sweep", str(space_file), "--name", bad, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert line.startswith(f"error: --name {bad!r} must be 1-80 letters")  # shown as typed, markup and all
    assert _files(tmp_path) == before and not (tmp_path / "runs").exists() and not Path("/tmp/pgolf-abs").exists()


def _without_other_ray_clusters() -> list[str]:
    """A command prefix under which no Ray cluster of this machine is visible. `--address auto` joins ANY
    running cluster it can see (Ray's legacy rule: it scans the process table for a GCS server), and this
    test session's own local Ray is one: a private PID namespace hides it (root, as in CI). Without one,
    the test can only run when no cluster is running."""
    isolate = ["unshare", "--pid", "--fork", "--mount-proc"]
    try:
        if subprocess.run([*isolate, "true"], capture_output=True, timeout=30, check=False).returncode == 0:
            return isolate
    except (OSError, subprocess.TimeoutExpired):
        pass
    running = [p for p in Path("/proc").glob("[0-9]*") if b"gcs_server" in _cmdline(p)]
    if running:
        pytest.skip("a Ray cluster runs on this machine and no PID namespace can hide it from --address auto")
    return []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_address_auto_without_a_cluster_is_one_line_and_leaves_no_folder(demo_data: Any, tmp_path: Path) -> None:
    space_file = _space_file(demo_data, tmp_path, "nocluster")
    ray_tmp = tmp_path / "ray"  # no cluster was ever started here
    ray_tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = [*_without_other_ray_clusters(), *CLI, "sweep", str(space_file), "--address", "auto",
           "--out", str(tmp_path / "runs")]
    for _ in range(2):  # the second try must not become nocluster-2
        done = subprocess.run(run, cwd=REPO, env={**env, "RAY_TMPDIR": str(ray_tmp)}, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 2
        line = one_error_line(done.stderr)
        assert line.startswith("error: --address auto: cannot join a Ray cluster there")
        assert not (tmp_path / "runs" / "nocluster").exists() and not (tmp_path / "runs" / "nocluster-2").exists()


HOLD_LOCK = """
import sys
from pathlib import Path
from sweeper.sweepdir import SweepDir, SweepLock
with SweepLock(SweepDir(Path(sys.argv[1]))):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


def test_a_second_driver_is_refused_while_the_first_holds_the_sweep(
        ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    space_file = _space_file(demo_data, tmp_path, "busy")
    root = tmp_path / "runs"
    first = CliRunner().invoke(app, ["sweep", str(space_file), "--out", str(root)])
    assert first.exit_code == 0, first.output
    sweep = SweepDir(root / "busy")
    before = _files(sweep.path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(sweep.path)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        second = CliRunner().invoke(app, ["sweep", str(space_file), "--resume", "--name", "busy", "--out", str(root)])
        assert second.exit_code == 2
        line = one_error_line(second.output)
        assert f"sweep busy is already being run by another driver (pid {holder.pid} on host" in line
        after = _files(sweep.path)
        assert after.keys() == before.keys() and after["ledger.sqlite"] == before["ledger.sqlite"]
    finally:
        holder.communicate(input="", timeout=60)
    resumed = CliRunner().invoke(app, ["sweep", str(space_file), "--resume", "--name", "busy", "--out", str(root)])
    assert resumed.exit_code == 0, resumed.output  # the owner ended: its lock is stale and taken over


def test_a_stale_lock_of_a_dead_owner_is_taken_over(tmp_path: Path) -> None:
    sweep = SweepDir(tmp_path / "stale").create()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sweep.lock_path.write_text(json.dumps({"pid": dead.pid, "host": "elsewhere", "started_at": 0}))
    with SweepLock(sweep):
        assert json.loads(sweep.lock_path.read_text())["pid"] == os.getpid()
        with pytest.raises(UsageError, match=rf"already being run by another driver \(pid {os.getpid()} on host"):
            SweepLock(sweep).acquire()
    with SweepLock(sweep):  # released on exit, so the next driver gets it
        pass


def test_markup_in_param_values_is_printed_as_text_everywhere(ray_local: None, demo_data: Any, tmp_path: Path) -> None:
    values = ["[/]", "[red]", "[bold"]  # `[/]` crashed the end of screening, candidates and resume
    space_file = _space_file(demo_data, tmp_path, "markup", params={"TAG": {"type": "grid", "values": values}})
    root = tmp_path / "runs"
    swept = CliRunner().invoke(app, ["sweep", str(space_file), "--out", str(root)])
    assert swept.exit_code == 0, swept.output  # end of screening: progress table and candidates
    assert all(f"TAG={v}" in swept.output for v in values)
    ranked = CliRunner().invoke(app, ["candidates", "markup", "--out", str(root)])
    assert ranked.exit_code == 0 and "TAG=[/]" in ranked.output, ranked.output  # (narrow columns elide the rest)
    resumed = CliRunner().invoke(app, ["sweep", str(space_file), "--resume", "--name", "markup", "--out", str(root)])
    assert resumed.exit_code == 0 and "TAG=[/]" in resumed.output, resumed.output
    with Ledger(root / "markup" / "ledger.sqlite", create=False) as ledger:
        assert sorted(r.params["TAG"] for r in ledger.attempts()) == sorted(values)
    error = CliRunner().invoke(app, ["seeds", "markup", "--config", "[red]nope[/]", "--out", str(root)])
    assert error.exit_code == 2 and "--config [red]nope[/]: no such config" in one_error_line(error.output)
