"""`pgolf data demo` and `pgolf data check` through the real command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.data.check import check_dataset, dataset_fingerprint
from sweeper.data.demo import DemoDataset, load_demo_dataset
from sweeper.data.shards import read_shard, shard_paths, write_shard
from tests.data.conftest import DatasetCopy, overwrite_magic
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()


def test_demo_reuses_a_complete_build_and_prints_the_trainer_env(demo_data: DemoDataset) -> None:
    result = runner.invoke(app, ["data", "demo", "--out", str(demo_data.root)])
    assert result.exit_code == 0, result.output
    assert "reused existing build" in result.stdout
    assert f"DATA_PATH={demo_data.data_dir} TOKENIZER_PATH={demo_data.tokenizer_path} VOCAB_SIZE=1024" in (
        result.stdout
    )


def test_demo_builds_a_new_dataset(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    result = runner.invoke(app, ["data", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    built = load_demo_dataset(out)
    assert built is not None
    assert "built" in result.stdout and f"{built.val_tokens:,} tokens" in result.stdout


def test_check_passes_on_the_demo_and_shows_the_fingerprint(demo_data: DemoDataset) -> None:
    result = runner.invoke(
        app, ["data", "check", str(demo_data.data_dir), "--tokenizer", str(demo_data.tokenizer_path)]
    )
    assert result.exit_code == 0, result.output
    report = check_dataset(demo_data.data_dir, demo_data.tokenizer_path)
    assert "Dataset OK" in result.stdout
    assert report.fingerprint_short in result.stdout
    assert f"{report.val.tokens:,} tokens" in result.stdout


@pytest.mark.parametrize("quick", [False, True])
def test_check_json_is_the_full_report(demo_data: DemoDataset, quick: bool) -> None:
    args = ["data", "check", str(demo_data.data_dir), "--tokenizer", str(demo_data.tokenizer_path), "--json"]
    result = runner.invoke(app, args + (["--quick"] if quick else []))
    assert result.exit_code == 0, result.output
    expected = check_dataset(demo_data.data_dir, demo_data.tokenizer_path, quick=quick)
    assert json.loads(result.stdout) == expected.model_dump(mode="json")


def test_the_sweep_fingerprint_is_the_one_data_check_prints(demo_data: DemoDataset) -> None:
    args = ["data", "check", str(demo_data.data_dir), "--tokenizer", str(demo_data.tokenizer_path)]
    fingerprint = dataset_fingerprint(demo_data.data_dir, demo_data.tokenizer_path)
    printed = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert printed.exit_code == 0, printed.output
    assert fingerprint in printed.stdout and fingerprint[:16] in printed.stdout
    assert json.loads(runner.invoke(app, [*args, "--json"]).stdout)["fingerprint"] == fingerprint


def _truncate_val(copy: DatasetCopy) -> Path:
    shard = shard_paths(copy.data_dir, "val")[0]
    shard.write_bytes(shard.read_bytes()[:-2])
    return shard


def _wrong_magic(copy: DatasetCopy) -> Path:
    shard = shard_paths(copy.data_dir, "train")[0]
    overwrite_magic(shard, 7)
    return shard


def _out_of_range_id(copy: DatasetCopy) -> Path:
    shard = shard_paths(copy.data_dir, "val")[0]
    tokens = read_shard(shard)
    tokens[5] = 4000
    write_shard(shard, tokens)
    return shard


def _missing_val(copy: DatasetCopy) -> Path:
    for shard in shard_paths(copy.data_dir, "val"):
        shard.unlink()
    return copy.data_dir


def _missing_tokenizer(copy: DatasetCopy) -> Path:
    copy.tokenizer.unlink()
    return copy.tokenizer


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_truncate_val, "truncated"),
        (_wrong_magic, "bad magic number 7"),
        (_out_of_range_id, "token id 4000"),
        (_missing_val, "no val shards"),
        (_missing_tokenizer, "tokenizer model not found"),
    ],
)
def test_check_failure_is_one_line_and_exit_1(
    demo_copy: DatasetCopy, damage: Callable[[DatasetCopy], Path], problem: str
) -> None:
    culprit = damage(demo_copy)
    result = runner.invoke(
        app, ["data", "check", str(demo_copy.data_dir), "--tokenizer", str(demo_copy.tokenizer)]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert str(culprit) in line and problem in line
    assert "Traceback" not in result.output
