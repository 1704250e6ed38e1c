"""`pgolf log`: the JSON contract other tools rely on, the table, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.runlog import SUMMARY_KEYS
from tests.paths import FIXTURES

runner = CliRunner()
BASELINE = FIXTURES / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
MIXED = FIXTURES / "track_10min_16mb" / "2026-03-19_MixedQuant_Int6Int8_SlidingWindow"


def test_json_is_one_object_per_file_with_exactly_the_contract_keys(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    result = runner.invoke(
        app, ["log", "--json", str(BASELINE / "train.log"), str(MIXED / "train.log"), str(empty)]
    )
    assert result.exit_code == 0, result.output
    objects = json.loads(result.stdout)
    assert [list(o) for o in objects] == [list(SUMMARY_KEYS)] * 3  # pinned to the contract in test_runlog
    baseline = json.loads((BASELINE / "submission.json").read_text())
    first = objects[0]
    assert first["file"] == str(BASELINE / "train.log")
    assert (first["val_bpb"], first["val_loss"]) == (baseline["val_bpb"], baseline["val_loss"])
    assert (first["artifact_bytes"], first["code_bytes"]) == (baseline["bytes_total"], baseline["bytes_code"])
    assert first["seed"] == 1337 and first["runs"] == 1 and first["warnings"] == []
    assert objects[1]["runs"] == 3 and objects[1]["warnings"]
    assert objects[2]["val_bpb"] is None and objects[2]["warnings"] == ["no Parameter Golf log lines found"]


def test_table_shows_scores_and_prints_warnings() -> None:
    result = runner.invoke(
        app, ["log", str(BASELINE / "train.log"), str(MIXED / "train.log")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "1.2243657" in result.output and "15,863,489" in result.output
    assert "1.16301431" in result.output
    assert f"warning {MIXED / 'train.log'}: 3 runs in this file; reporting the last" in result.output


def test_a_missing_file_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    result = runner.invoke(app, ["log", str(BASELINE / "train.log"), str(missing)])
    assert result.exit_code != 0
    assert result.stderr.strip() == f"error: cannot read log {missing}: no such file"
    assert "Traceback" not in result.output and result.stdout == ""


def _strict(constant: str) -> None:
    raise AssertionError(f"{constant} in --json output: not JSON")


def test_json_never_prints_nan_or_infinity(tmp_path: Path) -> None:
    log = tmp_path / "diverged.log"
    log.write_text("seed:7\nstep:10/10 train_loss:nan train_time:100ms step_avg:10.00ms\n"
                   "final_int8_zlib_roundtrip val_loss:inf val_bpb:nan eval_time:5ms\n")
    result = runner.invoke(app, ["log", "--json", str(log)])
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.stdout, parse_constant=_strict)
    assert summary["seed"] == 7 and summary["val_bpb"] is None and summary["val_loss"] is None
    assert any("NaN" in w for w in summary["warnings"])


def test_markup_in_a_log_is_printed_as_text(tmp_path: Path) -> None:
    log = tmp_path / "[red]x.log"
    log.write_text("seed:7\nfinal_[bold]x[/] val_loss:2.0 val_bpb:1.2\n")
    result = runner.invoke(app, ["log", str(log)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[red]x.log" in result.stdout and "final_[bold]x[/]" in result.stdout
