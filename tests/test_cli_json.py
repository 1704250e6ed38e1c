"""Every `pgolf` command that reports accepts `--json`, and what it prints parses as strict JSON
(no NaN/Infinity), read from the registered typer app so commands added later are covered too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.cli.common import print_json
from tests.paths import FIXTURES
from tests.records.helpers import sweep_with_config
from tests.test_cli_help import COMMANDS
from tests.tune.spaces import STANDIN

runner = CliRunner()
NOT_REPORTING = {  # commands that act rather than report, with what they do instead
    "": "the command group",
    "data": "a command group",
    "data demo": "builds a dataset (its table is a receipt)",
    "dashboard": "writes an HTML file or a W&B workspace",
    "sync": "uploads offline runs",
    "demo": "runs the embedded end-to-end demo",
}
BASELINE = FIXTURES / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
SCORES = {1337: 1.2060, 42: 1.2071, 2025: 1.2066}


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def _sweep(tmp_path: Path) -> list[str]:
    sweep_with_config(tmp_path, SCORES)
    return ["--out", str(tmp_path)]


def _space(tmp_path: Path) -> list[str]:
    space = tmp_path / "space.yaml"
    space.write_text(f"name: j\nscript: {STANDIN}\ndata_path: d\ntokenizer_path: t.model\n")
    return [str(space), "--out", str(tmp_path / "runs")]


# Arguments that make each reporting command report on real inputs; sweep and seeds run trials on Ray,
# so tests/tune/test_sweep_views.py parses their --json output.
RUNS: dict[str, Callable[[Path], list[str]]] = {
    "log": lambda tmp: [str(BASELINE / "train.log")],
    "check": lambda tmp: [str(BASELINE)],
    "candidates": _sweep,
    "promote": lambda tmp: [*_sweep(tmp), "--config", "#1", "--sota", "2.10", "--record-dir", str(tmp / "rec")],
    "preflight": _space,
    "pack": lambda tmp: [str(STANDIN), "--out", str(tmp / "stub.py")],
}
ON_RAY = {"sweep", "seeds"}


def _reporting() -> list[str]:
    return [" ".join(path) for path, _ in COMMANDS if " ".join(path) not in NOT_REPORTING]


@pytest.mark.parametrize("name", _reporting())
def test_every_reporting_command_has_a_json_flag(name: str) -> None:
    command = {" ".join(path): c for path, c in COMMANDS}[name]
    assert "--json" in [opt for p in command.params for opt in getattr(p, "opts", [])], f"pgolf {name} has no --json"


def test_every_reporting_command_is_run_here_or_on_ray() -> None:
    assert set(_reporting()) - {"data check"} == set(RUNS) | ON_RAY  # data check: tests/data/test_data_cli.py


@pytest.mark.parametrize("name", sorted(RUNS))
def test_json_output_parses_strictly(name: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [*name.split(), *RUNS[name](tmp_path), "--json"])
    assert result.exit_code in (0, 1), result.output  # 1: a verdict that fails still reports
    assert _strict(result.stdout) not in (None, [], {})


def test_json_never_holds_nan(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"mean": float("nan"), "seeds": [1.0, float("inf")], "nested": {"p": float("-inf")}})
    assert _strict(capsys.readouterr().out) == {"mean": None, "seeds": [1.0, None], "nested": {"p": None}}


def test_version_flag() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("pgolf ") and result.stdout.split()[1][0].isdigit()
