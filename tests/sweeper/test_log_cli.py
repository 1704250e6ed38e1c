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
