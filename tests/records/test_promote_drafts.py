"""`pgolf promote` as a competitor uses it: a refusal leaves a marked draft to inspect, the README
reproduces from the repository with relative paths, seeds read in numeric order, the t-test sentence
is said once, `--blurb`, `--json`, `--out`/`--root` for the sweeps folder and `--config #1`/prefixes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from sweeper.cli import app
from tests.records.helpers import sweep_with_config
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()
SCORES = {1337: 1.2060, 42: 1.2071, 2025: 1.2066}
SOTA = "2.10"  # nats; the seeds score ~2.037 nats: a record
CLOSE_SOTA = "2.04"  # not 0.005 nats better than this: refused on significance
T_TEST = "one-sided one-sample t-test"


def _promote(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["promote", "--out", str(tmp_path), "--record-dir", str(tmp_path / "record"),
                                 *args])
    return result.exit_code, " ".join(result.stdout.split()), " ".join(result.output.split())


def test_a_refusal_writes_a_marked_draft_and_nothing_at_the_target(tmp_path: Path) -> None:
    sweep_with_config(tmp_path, {1337: 1.2060, 42: 1.2071})
    code, _, output = _promote(tmp_path, "--config", "#1", "--sota", SOTA)
    assert code == 1 and not (tmp_path / "record").exists()
    draft = tmp_path / "record.draft"
    assert f"not promoted (1 reason(s)); draft and report in {draft}" in output
    readme = (draft / "README.md").read_text()
    assert readme.startswith("# DRAFT (refused): ") and "not a submission" in readme
    assert "2 distinct seed(s); a record needs at least 3" in readme
    assert "a record needs at least 3" in (draft / "REFUSED.txt").read_text()
    assert "DRAFT (refused)" in (draft / "candidate_report.html").read_text()
    assert {"train_seed42.log", "train_seed1337.log", "submission.json"} <= {p.name for p in draft.iterdir()}
    code, _, _ = _promote(tmp_path, "--config", "#1", "--sota", SOTA)  # a rerun replaces its own draft
    assert code == 1 and (draft / "README.md").is_file()


def test_a_refusal_on_significance_says_the_t_test_sentence_once(tmp_path: Path) -> None:
    sweep_with_config(tmp_path, SCORES)
    code, _, output = _promote(tmp_path, "--config", "cfg0000000a", "--sota", CLOSE_SOTA)
    assert code == 1 and output.count(T_TEST) == 1


def test_promoted_readme_has_blurb_relative_paths_and_numeric_seed_order(tmp_path: Path) -> None:
    sweep = sweep_with_config(tmp_path, SCORES)
    (tmp_path / "record.draft").mkdir()
    (tmp_path / "record.draft" / "REFUSED.txt").write_text("an earlier refusal\n")
    code, stdout, _ = _promote(tmp_path, "--config", "cfg0", "--sota", SOTA, "--blurb", "Longer context, same size.")
    assert code == 0, stdout
    assert not (tmp_path / "record.draft").exists()  # the stale draft went with the success
    readme = (tmp_path / "record" / "README.md").read_text()
    assert "Longer context, same size." in readme and "DRAFT" not in readme
    reproduce = readme.split("## Reproduce", 1)[1].split("## Files", 1)[0]
    assert "DATA_PATH=./data/datasets/demo/" in reproduce and "TOKENIZER_PATH=./data/tokenizers/tokenizer.model" in reproduce
    assert "records/track_10min_16mb/record/train_gpt.py" in reproduce
    assert str(tmp_path) not in readme and str(sweep.path) not in reproduce
    assert readme.index("| 42 |") < readme.index("| 1337 |") < readme.index("| 2025 |")
    seed_rows = re.findall(r"(?:^| )(42|1337|2025) \d\.\d{8} ", stdout)  # a verdict row: seed, then val_loss
    assert seed_rows == ["42", "1337", "2025"]  # in numeric order
    assert stdout.count(T_TEST) == 1


def test_promote_json_parses_and_root_is_a_hidden_alias_of_out(tmp_path: Path) -> None:
    sweep_with_config(tmp_path, SCORES)
    result = runner.invoke(app, ["promote", "--root", str(tmp_path), "--config", "#1", "--sota", SOTA, "--json",
                                 "--record-dir", str(tmp_path / "record")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert report["written"] is True and report["out_dir"] == str(tmp_path / "record")
    assert [s["seed"] for s in report["verdict"]["seeds"]] == [42, 1337, 2025]
    assert "--root is deprecated: use --out" in result.output
    assert "--root" not in runner.invoke(app, ["promote", "--help"]).output


def test_an_ambiguous_config_prefix_lists_the_matches_and_writes_nothing(tmp_path: Path) -> None:
    sweep_with_config(tmp_path, SCORES, config_id="cfg0000000a")
    sweep_with_config(tmp_path, SCORES, config_id="cfg0000000b")
    result = runner.invoke(app, ["promote", "--out", str(tmp_path), "--config", "cfg0", "--sota", SOTA,
                                 "--record-dir", str(tmp_path / "record")])
    assert result.exit_code == 2
    assert one_error_line(result.output) == ("error: --config cfg0: ambiguous prefix, matches 2 configs of sweep "
                                             "demo: cfg0000000a, cfg0000000b")
    assert not (tmp_path / "record").exists() and not (tmp_path / "record.draft").exists()


def test_a_folder_in_the_drafts_place_that_pgolf_did_not_write_is_kept(tmp_path: Path) -> None:
    sweep_with_config(tmp_path, {1337: 1.2060})
    (tmp_path / "record.draft").mkdir()
    (tmp_path / "record.draft" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["promote", "--out", str(tmp_path), "--config", "#1", "--sota", SOTA,
                                 "--record-dir", str(tmp_path / "record")])
    assert result.exit_code == 2
    assert one_error_line(result.output) == (f"error: {tmp_path / 'record.draft'} exists and is not a draft pgolf "
                                             "wrote; move it away first")
    assert [p.name for p in (tmp_path / "record.draft").iterdir()] == ["notes.txt"]
    assert not (tmp_path / "record").exists()
