"""`pgolf preflight` and `pgolf candidates`: JSON contracts, tables, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.sweepdir import SweepDir
from tests.paths import TRAINER
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()
TINY_ENV = {"NUM_LAYERS": 2, "NUM_HEADS": 4, "NUM_KV_HEADS": 2, "VOCAB_SIZE": 1024, "BIGRAM_VOCAB_SIZE": 256,
            "BIGRAM_DIM": 16, "VE_DIM": 16, "QUANT": "int8", "COMPRESSOR": "zlib"}


def write_space(tmp_path: Path, dims: list[int], limit: int = 16_000_000, env: dict[str, str] | None = None) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({
        "name": "cli", "script": str(TRAINER), "data_path": "d", "tokenizer_path": "t.model",
        "env": {**TINY_ENV, **(env or {})},
        "params": {"MODEL_DIM": {"type": "grid", "values": dims}}, "limits": {"artifact_bytes": limit}}))
    return path


def test_preflight_json_lists_every_config(tmp_path: Path) -> None:
    space = write_space(tmp_path, [64, 96])
    result = runner.invoke(app, ["preflight", str(space), "--json", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["space"] == "cli" and report["limit_bytes"] == 16_000_000
    rows = report["predictions"]
    assert [r["params"] for r in rows] == [{"MODEL_DIM": 64}, {"MODEL_DIM": 96}]
    assert all(r["fits"] and r["method"] == "trainer" and r["basis"] == "trainer export" and r["exact"]
               and r["verdict"] == "fits" for r in rows)
    assert rows[0]["model_params"] < rows[1]["model_params"]
    assert rows[0]["artifact_bytes"] == rows[0]["model_bytes"] + rows[0]["code_bytes"]
    assert rows[0]["low_bytes"] < rows[0]["artifact_bytes"] < rows[0]["high_bytes"] and rows[0]["band"] > 0


def test_preflight_table_and_non_zero_exit_when_a_config_is_over_the_limit(tmp_path: Path) -> None:
    space = write_space(tmp_path, [64, 384], limit=1_000_000)
    result = runner.invoke(app, ["preflight", str(space), "--out", str(tmp_path / "runs")], env={"COLUMNS": "220"})
    assert result.exit_code == 1
    assert "MODEL_DIM=64" in result.stdout and "MODEL_DIM=384" in result.stdout and "NO" in result.stdout
    assert "trainer export (trainer)" in result.stdout and "(exact)" in result.stdout  # basis and band per row
    assert result.stderr.strip() == ("error: 1 of 2 configs are over the 1,000,000-byte limit (exact, or even the "
                                     "low end of the band); a sweep skips them without using a GPU")


def test_preflight_flags_a_config_whose_band_reaches_over_the_limit_and_exits_0(tmp_path: Path) -> None:
    space = write_space(tmp_path, [64], env={"QUANT": "int5_gptq"})
    first = json.loads(runner.invoke(app, ["preflight", str(space), "--json", "--out", str(tmp_path)]).stdout)
    (row,) = first["predictions"]
    assert (row["basis"], row["exact"], row["verdict"]) == ("prior", False, "fits")
    space = write_space(tmp_path, [64], limit=row["artifact_bytes"], env={"QUANT": "int5_gptq"})
    result = runner.invoke(app, ["preflight", str(space), "--out", str(tmp_path)], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    assert "maybe (warned)" in result.stdout
    assert f"{row['low_bytes']:,}.." in result.stdout and f"{row['high_bytes']:,}" in result.stdout


def test_preflight_table_keeps_ids_and_numbers_whole_at_80_columns(tmp_path: Path) -> None:
    space = write_space(tmp_path, [64, 96])
    rows = json.loads(runner.invoke(app, ["preflight", str(space), "--json", "--out", str(tmp_path)]).stdout)
    result = runner.invoke(app, ["preflight", str(space), "--out", str(tmp_path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    for row in rows["predictions"]:
        for whole in (row["config_id"], f"{row['model_params']:,}", f"{row['artifact_bytes']:,}", "yes",
                      f"{row['low_bytes']:,}..", f"{row['high_bytes']:,}",
                      f"{row['limit_bytes'] - row['artifact_bytes']:,}"):
            assert whole in result.stdout


def test_preflight_of_a_malformed_space_is_one_line(tmp_path: Path) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text("name: x\ndata_path: d\ntokenizer_path: t.model\nsearch: {algorithm: bayes}\n")
    result = runner.invoke(app, ["preflight", str(space)])
    assert result.exit_code == 2
    assert one_error_line(result.stderr).startswith(f"error: {space}: search.algorithm:")
    assert "Traceback" not in result.output


def make_sweep(root: Path, name: str, created_at: float, scores: dict[str, list[float]]) -> SweepDir:
    sweep = SweepDir(root / name).create()
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name=name, created_at=created_at,
                                  space_yaml="name: x\ndata_path: d\ntokenizer_path: t.model\n"))
        for config, values in scores.items():
            for seed, bpb in enumerate(values):
                ledger.upsert_attempt(AttemptRow(
                    attempt_id=f"{config}-{seed}", sweep=name, config_id=config, params={"MATRIX_LR": 0.02},
                    seed=seed, status="finished", val_bpb=bpb, artifact_bytes=15_500_000,
                    train_time_ms=600_040.0, eval_time_ms=120_000.0))
    return sweep


def test_candidates_default_to_the_most_recent_sweep(tmp_path: Path) -> None:
    make_sweep(tmp_path, "older", 100.0, {"cfgold": [1.5]})
    make_sweep(tmp_path, "newer", 200.0, {"cfgslow": [1.30, 1.32], "cfgfast": [1.20, 1.22, 1.21]})
    result = runner.invoke(app, ["candidates", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sweep"] == "newer"
    first = report["candidates"][0]
    assert first["config_id"] == "cfgfast" and first["n_seeds"] == 3
    assert first["mean_val_bpb"] == pytest.approx(1.21)
    assert first["budgets"]["artifact_bytes"] == {"limit": 16_000_000, "value": 15_500_000, "ok": True}
    assert [c["config_id"] for c in report["candidates"]] == ["cfgfast", "cfgslow"]


def test_candidates_table_for_a_named_sweep(tmp_path: Path) -> None:
    make_sweep(tmp_path, "older", 100.0, {"cfgold": [1.5, 1.7]})
    make_sweep(tmp_path, "newer", 200.0, {"cfgnew": [1.2]})
    result = runner.invoke(app, ["candidates", "older", "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cfgold" in result.stdout and "1.60000" in result.stdout and "0.14142" in result.stdout
    assert "15,500,000" in result.stdout and "cfgnew" not in result.stdout


def test_candidates_without_any_sweep_is_one_clear_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["candidates", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: no sweeps under {tmp_path} (run `pgolf sweep SPACE` first, or pass --out)"


def test_candidates_of_an_unknown_sweep_names_it(tmp_path: Path) -> None:
    make_sweep(tmp_path, "real", 100.0, {"c": [1.2]})
    result = runner.invoke(app, ["candidates", "ghost", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: sweep 'ghost': no ledger at")


def test_candidates_of_a_sweep_without_results_says_so(tmp_path: Path) -> None:
    make_sweep(tmp_path, "empty", 100.0, {})
    result = runner.invoke(app, ["candidates", "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert "No finished, scored attempts in sweep empty yet." in result.stdout


def test_preflight_of_a_random_space_checks_size_axes_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump({
        "name": "rnd", "script": str(TRAINER), "data_path": "d", "tokenizer_path": "t.model",
        "env": {**{k: v for k, v in TINY_ENV.items() if k != "NUM_LAYERS"}, "MODEL_DIM": 64}, "search": {"algorithm": "random", "samples": 8},
        "params": {"MATRIX_LR": {"type": "loguniform", "low": 0.01, "high": 0.1},
                   "NUM_LAYERS": {"type": "int", "low": 2, "high": 3}}}))
    result = runner.invoke(app, ["preflight", str(path), "--out", str(tmp_path / "runs")], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "NUM_LAYERS=2" in result.stdout and "NUM_LAYERS=3" in result.stdout and "MATRIX_LR" not in result.stdout
    assert "random draws are not known in advance" in result.stdout
    assert list((tmp_path / "runs" / ".preflight").glob("*.json"))  # the sizes are cached for the sweep
