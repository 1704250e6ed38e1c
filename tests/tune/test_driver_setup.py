"""What the driver decides before any trial runs: the W&B mode (new and resumed sweeps alike)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweeper.tune.driver import Driver, open_sweep
from sweeper.wandb_env import Mode
from tests.tune.spaces import FAKE_WANDB_KEY, standin_space


@pytest.fixture
def wandb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No WANDB_MODE, no key in the environment or ~/.netrc, unless the test sets one."""
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def _mode(space: Any, root: Path, resume: bool) -> tuple[Mode, str]:
    out = io.StringIO()
    console = Console(file=out, width=200)
    sweep, space = open_sweep(space, root, None, resume, console)
    with Driver(sweep, space, console) as driver:
        return driver.context.wandb_mode, out.getvalue()


def test_a_resumed_sweep_follows_the_key_like_a_new_one(demo_data: Any, tmp_path: Path,
                                                         wandb_env: pytest.MonkeyPatch) -> None:
    space = standin_space(demo_data, "modes")
    assert space.wandb.mode is None
    assert _mode(space, tmp_path, resume=False)[0] == "offline"  # no key yet
    wandb_env.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)
    assert _mode(space, tmp_path, resume=True)[0] == "online"  # the stored space.yaml left the mode unset
    wandb_env.setenv("WANDB_MODE", "offline")
    assert _mode(space, tmp_path, resume=True)[0] == "offline"


def test_an_explicit_mode_wins_over_the_key(demo_data: Any, tmp_path: Path, wandb_env: pytest.MonkeyPatch) -> None:
    wandb_env.setenv("WANDB_API_KEY", FAKE_WANDB_KEY)
    space = standin_space(demo_data, "explicit", wandb={"mode": "disabled"})
    assert _mode(space, tmp_path, resume=False)[0] == "disabled"
    assert _mode(space, tmp_path, resume=True)[0] == "disabled"


def test_online_without_a_visible_key_says_runs_may_go_offline(demo_data: Any, tmp_path: Path,
                                                               wandb_env: pytest.MonkeyPatch) -> None:
    mode, printed = _mode(standin_space(demo_data, "online", wandb={"mode": "online"}), tmp_path, resume=False)
    assert mode == "online"
    assert "no API key found" in printed and "fall back to offline" in printed and "pgolf sync" in printed
