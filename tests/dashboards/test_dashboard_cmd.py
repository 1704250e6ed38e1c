"""`pgolf dashboard`: HTML for the most recent or a named sweep; the W&B workspace saved, or its spec kept."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import wandb_workspaces.workspaces as ws
from typer.testing import CliRunner

from dashboards.workspace import load_spec
from sweeper.cli import app
from tests.dashboards.sweeps import Trial, three_config_sweep, write_sweep
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()
FAKE_KEY = "k" * 40


@pytest.fixture(autouse=True)
def no_wandb_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key from the environment or ~/.netrc unless a test sets one."""
    for name in ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_BASE_URL", "PGOLF_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_html_defaults_to_the_most_recent_sweep(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_sweep(root, "older", [Trial("c1", 1, {"LR": 0.1}, 1.5)], created_at=1_000.0)
    three_config_sweep(root, "newer")
    out = tmp_path / "dash.html"
    result = runner.invoke(app, ["dashboard", "--html", str(out), "--out", str(root)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: sweep newer, 3 configs, 8 attempts" in " ".join(result.output.split())
    assert "pgolf sweep newer" in out.read_text()


def test_html_for_a_named_sweep(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    write_sweep(root, "older", [Trial("c1", 1, {"LR": 0.1}, 1.5)], created_at=1_000.0)
    three_config_sweep(root, "newer")
    out = tmp_path / "older.html"
    result = runner.invoke(app, ["dashboard", "older", "--html", str(out), "--out", str(root)])
    assert result.exit_code == 0, result.output
    assert "pgolf sweep older" in out.read_text()


def test_wandb_without_a_key_writes_the_spec_and_says_how_to_push_it(tmp_path: Path) -> None:
    sweep = three_config_sweep(tmp_path)
    result = runner.invoke(app, ["dashboard", str(sweep.path), "--wandb"])
    assert result.exit_code == 0, result.output
    spec = sweep.path / "wandb-workspace.json"
    text = " ".join(result.output.split())
    assert "no W&B API key" in text and f"pgolf dashboard --push-spec {spec}" in text
    assert [s.name for s in load_spec(spec).spec.section.panel_bank_config.sections] == ["Seeds", "Sweep", "Candidates"]


def test_wandb_with_a_key_but_no_answer_gives_up_and_keeps_the_spec(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setattr(ws.Workspace, "save", lambda self: time.sleep(30))
    sweep = three_config_sweep(tmp_path)
    spec = tmp_path / "spec.json"
    started = time.monotonic()
    result = runner.invoke(app, ["dashboard", str(sweep.path), "--wandb", "--entity", "me", "--spec", str(spec),
                                 "--timeout", "1"])
    assert time.monotonic() - started < 20
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "W&B did not answer within 1 s" in line and f"--push-spec {spec}" in line
    assert load_spec(spec).entity == "me"


def test_push_spec_uploads_a_spec_written_earlier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = three_config_sweep(tmp_path)
    assert runner.invoke(app, ["dashboard", str(sweep.path), "--wandb"]).exit_code == 0
    saved: list[ws.Workspace] = []

    class Saved:
        url = "https://wandb.example/me/pgolf?nw=abc"

    def save(self: ws.Workspace) -> Saved:
        saved.append(self)
        return Saved()

    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setattr(ws.Workspace, "save", save)
    spec = sweep.path / "wandb-workspace.json"
    result = runner.invoke(app, ["dashboard", "--push-spec", str(spec), "--entity", "me", "--project", "golf"])
    assert result.exit_code == 0, result.output
    assert "W&B workspace saved: https://wandb.example/me/pgolf?nw=abc" in result.output
    assert (saved[0].entity, saved[0].project) == ("me", "golf")
    assert [s.name for s in saved[0].sections] == ["Seeds", "Sweep", "Candidates"]


@pytest.mark.parametrize("args, message", [
    (["dashboard"], "nothing to do: pass --html OUT.html and/or --wandb"),
    (["dashboard", "nope", "--html", "x.html"], "sweep 'nope': no ledger at"),
    (["dashboard", "--push-spec", "missing.json"], "missing.json: not a W&B workspace spec"),
])
def test_usage_errors_are_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                         message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "missing.json").write_text("[]")
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in one_error_line(result.output)


def test_push_spec_without_a_key_says_what_to_set(tmp_path: Path) -> None:
    sweep = three_config_sweep(tmp_path)
    assert runner.invoke(app, ["dashboard", str(sweep.path), "--wandb"]).exit_code == 0
    result = runner.invoke(app, ["dashboard", "--push-spec", str(sweep.path / "wandb-workspace.json")])
    assert result.exit_code == 2
    assert "no W&B API key: set WANDB_API_KEY" in one_error_line(result.output)


def test_no_sweeps_at_all_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dashboard", "--html", "x.html", "--out", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "no sweeps under" in one_error_line(result.output)


def test_html_against_a_sota_and_a_bad_sota(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    three_config_sweep(root, "demo")
    out = tmp_path / "dash.html"
    result = runner.invoke(app, ["dashboard", "--html", str(out), "--out", str(root), "--sota", "1.33bpb"])
    assert result.exit_code == 0, result.output
    assert "vs SOTA 1.33 bpb (given)" in out.read_text()
    bad = tmp_path / "bad.html"
    result = runner.invoke(app, ["dashboard", "--html", str(bad), "--out", str(root), "--sota", "soon"])
    assert result.exit_code != 0 and not bad.exists()
    assert "--sota 'soon' is neither a records folder nor a number" in one_error_line(result.stderr)
