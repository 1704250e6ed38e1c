"""`pgolf promote`: a ledger config becomes a records folder that `pgolf check` passes, or is refused."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from sweeper.charts.page import plotly_js
from sweeper.cli import app
from sweeper.records.promote import promote, report_best_config
from tests.records.helpers import sweep_with_config

runner = CliRunner()
SCORES = {1337: 1.2060, 42: 1.2071, 2025: 1.2066}
SOTA = "2.10"  # nats; the seeds score ~2.037 nats


def _promote(sweep_dir: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["promote", str(sweep_dir), "--config", "cfg0000000a", "--record-dir", str(out),
                                 "--name", "Edited Seq2048", "--author", "Ada", "--github-id", "ada", *extra])
    return result.exit_code, " ".join(result.output.split())


def test_promoted_folder_passes_check(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    out = tmp_path / "record"
    code, output = _promote(sweep.path, out, "--sota", SOTA)
    assert code == 0, output
    names = {p.name for p in out.iterdir()}
    assert {"README.md", "submission.json", "train_gpt.py", "requirements.txt", "candidate_report.html",
            "candidate_report.md", "train_seed1337.log", "train_seed42.log", "train_seed2025.log"} == names
    assert (out / "train_gpt.py").read_bytes() == (sweep.path / "train_gpt.py").read_bytes()
    assert (out / "train_seed42.log").read_bytes() == sweep.trial_log("cfg0000000a-s42").read_bytes()
    check = runner.invoke(app, ["check", str(out), "--sota", SOTA, "--json"])
    report = json.loads(check.stdout)
    assert check.exit_code == 0 and report["verdict"] == "pass"
    assert report["claims"] and all(c["ok"] for c in report["claims"])
    assert report["significance"]["passes"] is True and report["significance"]["comparable_units"] == "nats"


def test_submission_json_and_readme_carry_the_customary_facts(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    result = promote(sweep, config_id="cfg0000000a", sota=SOTA, out_dir=tmp_path / "rec", name="N", author="Ada",
                     github_id="ada")
    info = json.loads((tmp_path / "rec" / "submission.json").read_text())
    assert info["name"] == "N" and info["author"] == "Ada" and info["github_id"] == "ada"
    assert sorted(info["seeds"]) == [42, 1337, 2025] and set(info["seed_results"]) == {"42", "1337", "2025"}
    assert abs(info["val_bpb"] - sum(SCORES.values()) / 3) < 1e-8
    assert info["compliance"]["artifact_under_16mb"] is True and info["compliance"]["significance"]["passes"] is True
    assert info["script_sha256"] == hashlib.sha256((sweep.path / "train_gpt.py").read_bytes()).hexdigest()
    readme = (tmp_path / "rec" / "README.md").read_text()
    assert result.verdict.significance.statement in readme
    assert "nats per token" in readme and "0.005 nats = 0.00296 bpb" in readme
    assert "SEED=$SEED" in readme and "MATRIX_LR=0.04" in readme and "torchrun" in readme
    assert "numpy==" in (tmp_path / "rec" / "requirements.txt").read_text()
    html = (tmp_path / "rec" / "candidate_report.html").read_text()
    assert html.count('class="chart"') == 4 and "Content-Security-Policy" in html  # the dashboard's plotly stack


def test_refuses_fewer_than_three_seeds(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, {1337: 1.2060, 42: 1.2071})
    code, output = _promote(sweep.path, tmp_path / "record", "--sota", SOTA)
    assert code == 1
    assert "not promoted" in output and "2 distinct seed(s); a record needs at least 3" in output
    assert not (tmp_path / "record").exists()


def test_refuses_a_seed_over_the_artifact_budget(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES, artifact={42: 16_000_512})
    result = promote(sweep, config_id="cfg0000000a", sota=SOTA, out_dir=tmp_path / "rec")
    assert not result.written and not (tmp_path / "rec").exists()
    assert any("seed 42" in r and "16,000,512 bytes exceeds" in r for r in result.refusals)


def test_refuses_when_a_seed_of_the_config_failed(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES, failed=(7,))
    result = promote(sweep, config_id="cfg0000000a", sota=SOTA, out_dir=tmp_path / "rec")
    assert not result.written
    assert any("seed 7" in r and "NaN loss at step 120" in r for r in result.refusals)


def test_a_record_needs_a_sota_but_a_non_record_does_not(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, {1337: 1.2060})
    code, output = _promote(sweep.path, tmp_path / "record")
    assert code == 1 and "--sota" in output
    code, output = _promote(sweep.path, tmp_path / "record", "--non-record")
    assert code == 0, output
    check = runner.invoke(app, ["check", str(tmp_path / "record"), "--non-record"])
    assert check.exit_code == 0, check.output


def test_a_tokenizer_outside_the_official_ones_is_identified_by_the_dataset_fingerprint(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES, ratio=1.9)  # not an official tokenizer
    code, output = _promote(sweep.path, tmp_path / "record", "--sota", "2.40")
    assert code == 0, output
    info = json.loads((tmp_path / "record" / "submission.json").read_text())
    assert info["dataset"]["tokenizer"] == "custom" and info["dataset"]["fingerprint"] == "demo-fp-1"
    assert runner.invoke(app, ["check", str(tmp_path / "record"), "--sota", "2.40"]).exit_code == 0


def test_script_changed_since_the_sweep_is_an_error(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    (sweep.path / "train_gpt.py").write_text("print('edited')\n")
    code, output = _promote(sweep.path, tmp_path / "record", "--sota", SOTA)
    assert code == 2 and "changed since the sweep ran it" in output and "Traceback" not in output


def test_unknown_config_lists_the_known_ones(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    result = runner.invoke(app, ["promote", str(sweep.path), "--config", "nope", "--sota", SOTA,
                                 "--record-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--config nope: no such config in sweep demo (configs: cfg0000000a)" in result.output


def test_missing_log_is_an_error(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    sweep.trial_log("cfg0000000a-s42").unlink()
    code, output = _promote(sweep.path, tmp_path / "record", "--sota", SOTA)
    assert code == 2 and "log of seed 42" in output and "missing" in output


def test_existing_output_folder_is_not_overwritten(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    (tmp_path / "record").mkdir()
    (tmp_path / "record" / "keep.txt").write_text("mine")
    code, output = _promote(sweep.path, tmp_path / "record", "--sota", SOTA)
    assert code == 2 and "not empty" in output
    assert (tmp_path / "record" / "keep.txt").read_text() == "mine"


def test_report_for_the_best_config_of_a_sweep(tmp_path: Path) -> None:
    sweep_with_config(tmp_path, {1: 1.2100, 2: 1.2111, 3: 1.2122}, config_id="cfgworse0001")
    sweep = sweep_with_config(tmp_path, SCORES, config_id="cfgbetter001")
    report = report_best_config(sweep, tmp_path / "report", sota=SOTA)
    assert report.config_id == "cfgbetter001" and report.verdict.passed
    html = report.html.read_text()
    assert "cfgbetter001" in html and html.count('class="chart"') == 4
    ours = html.replace(plotly_js(), "")
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:|//)""", ours, re.IGNORECASE) and "<link" not in ours
    assert "Bar to beat with these 3 seeds" in html and "Seeds needed for 80% power" in report.markdown.read_text()
    assert "## Significance" in report.markdown.read_text()
