"""`pgolf check` never passes impossible numbers, reports unusable claims, reads submission.json
strictly, and judges repeated-seed logs by the submission's claims (issue 10, items 2, 8, 11, 12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from tests.records.helpers import SEQ2048_LOG, edit_log, records_folder
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()
SUBMISSION = {"name": "edited", "author": "a", "github_id": "a"}
BASE = SEQ2048_LOG.read_text()


def _logs(**edits: dict) -> dict[str, str]:
    """Three sp1024 seeds (1, 2, 3); `edits["s2"]` etc. edit one seed's log."""
    return {f"train_seed{s}.log": edit_log(BASE, seed=s, val_bpb=1.2060 + s * 0.0011, **edits.get(f"s{s}", {}))
            for s in (1, 2, 3)}


def _json(folder: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", str(folder), "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def _error(folder: Path, *args: str) -> str:
    result = runner.invoke(app, ["check", str(folder), *args])
    assert result.exit_code == 2, result.output
    return one_error_line(result.stderr)


def _final_lines(text: str, loss: str, bpb: str) -> str:
    return re.sub(r"(?m)^(final_\w+) val_loss:\S+ val_bpb:\S+", rf"\1 val_loss:{loss} val_bpb:{bpb}", text)


# ---- item 2: impossible scores -------------------------------------------------------------------
@pytest.mark.parametrize(("loss", "bpb", "expected"), [
    ("-2.03657529", "-1.20617460", "val_loss -2.03657529"),
    ("0", "0", "val_loss 0.0"),
    ("nan", "nan", "val_loss nan"),
    ("inf", "inf", "val_loss inf"),
    ("2.03657529", "-1.20617460", "val_bpb -1.2061746"),
])
def test_an_impossible_score_is_refused_naming_the_file_and_value(tmp_path: Path, loss: str, bpb: str,
                                                                  expected: str) -> None:
    logs = _logs()
    logs["train_seed2.log"] = _final_lines(logs["train_seed2.log"], loss, bpb)
    message = _error(records_folder(tmp_path / "rec", logs, SUBMISSION))
    assert f"impossible score in train_seed2.log: {expected}" in message


def test_a_score_ratio_impossible_for_any_tokenizer_is_refused(tmp_path: Path) -> None:
    logs = _logs()
    logs["train_seed2.log"] = _final_lines(logs["train_seed2.log"], "0.5", "1.2")
    assert "unknown tokenizer in train_seed2.log: val_loss/val_bpb = 0.4167" in _error(
        records_folder(tmp_path / "rec", logs, SUBMISSION))


def test_an_impossible_sota_folder_is_refused_too(tmp_path: Path) -> None:
    folder = records_folder(tmp_path / "rec", _logs(), SUBMISSION)
    sota_logs = _logs()
    sota_logs["train_seed1.log"] = _final_lines(sota_logs["train_seed1.log"], "-2.0", "-1.2")
    sota = records_folder(tmp_path / "sota", sota_logs, SUBMISSION)
    assert "impossible score in train_seed1.log: val_loss -2.0" in _error(folder, "--sota", str(sota))


# ---- item 11: unusable claims are reported, naming the field ------------------------------------
@pytest.mark.parametrize(("claims", "field", "note"), [
    ({"val_bpb": "abc"}, "val_bpb", "a string ('abc'), not a number"),
    ({"val_bpb": None}, "val_bpb", "null, not a number"),
    ({"val_loss": True}, "val_loss", "a boolean, not a number"),
    ({"val_bpb": -1.2}, "val_bpb", "impossible: a score is a positive number"),
    ({"bytes_total": "15,990,006"}, "bytes_total", "a string ('15,990,006'), not a number: write 15990006"),
    ({"bytes_code": -5}, "bytes_code", "impossible: negative byte count -5"),
    ({"seed_results": "1, 2, 3"}, "seed_results", "a string: expected a table of per-seed results"),
    ({"seed_results": {"one": {"val_bpb": 1.2}}}, "seed_results.one", "not a seed number"),
    ({"seed_results": {"1": [1.2071]}}, "seed_results.1", "a list: expected an object"),
    ({"seed_results": [{"val_bpb": 1.2071}]}, "seed_results[0]", "no integer `seed` in this entry"),
    ({"seed_results": {"1": {"val_bpb": "1.2071"}}}, "seed_results.1.val_bpb", "a string ('1.2071')"),
    ({"seed_results": {"1": {"train_time_s": -3}}}, "seed_results.1.train_time_s", "impossible: negative time -3"),
])
def test_an_unusable_claim_is_a_failed_claim_naming_its_field(tmp_path: Path, claims: dict, field: str,
                                                              note: str) -> None:
    folder = records_folder(tmp_path / "rec", _logs(), {**SUBMISSION, **claims})
    code, report = _json(folder)
    failed = [c for c in report["claims"] if not c["ok"]]
    assert [c["field"] for c in failed] == [field] and note in failed[0]["note"], failed
    code, report = _json(folder, "--strict")
    assert code == 1 and any(field in v["message"] for v in report["violations"])


# ---- item 8/11: submission.json is read strictly -------------------------------------------------
@pytest.mark.parametrize(("raw", "expected"), [
    ('{"val_bpb": Infinity}', "not standard JSON: Infinity is not a JSON number"),
    ('{"val_bpb": NaN}', "not standard JSON: NaN is not a JSON number"),
    ('{"val_bpb": -Infinity}', "not standard JSON: -Infinity is not a JSON number"),
    ('{"val_bpb": 1e999}', "not standard JSON: 1e999 overflows a float"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    ('{"a": ' * 200 + "1" + "}" * 200, "nested more than 64 levels deep"),
    ('[1, 2]', "must hold a JSON object, not list"),
])
def test_non_standard_or_hostile_json_is_one_line(tmp_path: Path, raw: str, expected: str) -> None:
    folder = records_folder(tmp_path / "rec", _logs(), raw)
    message = _error(folder)
    assert "submission.json in" in message and expected in message


def test_non_utf8_submission_is_one_line(tmp_path: Path) -> None:
    folder = records_folder(tmp_path / "rec", _logs())
    (folder / "submission.json").write_bytes(b'{"name": "\xff\xfe"}')
    assert "submission.json in" in (message := _error(folder)) and "not UTF-8 text (byte 0xff at offset 10)" in message


@pytest.mark.parametrize("chosen", ["../other.json", "/etc/hostname", "sub/../../other.json"])
def test_a_submission_outside_the_folder_is_refused(tmp_path: Path, chosen: str) -> None:
    folder = records_folder(tmp_path / "rec", _logs(), SUBMISSION)
    (tmp_path / "other.json").write_text(json.dumps(SUBMISSION))
    assert f"--submission {chosen}: outside the records folder" in _error(folder, "--submission", chosen)


# ---- item 12: repeated seeds -----------------------------------------------------------------------
def _repeated(tmp_path: Path, submission: dict, **rerun: int) -> Path:
    """Seeds 1-3, plus a second run of seed 2 (`train_seed2_rerun.log`, val_bpb 1.2200) with `rerun` edits."""
    logs = _logs()
    logs["rerun/train_seed2_rerun.log"] = edit_log(BASE, seed=2, val_bpb=1.2200, **rerun)
    return records_folder(tmp_path / "rec", logs, {**SUBMISSION, **submission})


def test_a_budget_violation_in_a_repeated_seed_log_is_still_reported(tmp_path: Path) -> None:
    code, report = _json(_repeated(tmp_path, {}, train_ms=2_400_000))
    assert code == 1
    codes = {(v["code"], v["file"]) for v in report["violations"]}
    assert ("train_time_over_limit", "rerun/train_seed2_rerun.log") in codes
    assert ("repeated_seed", "rerun/train_seed2_rerun.log") in codes
    over = next(v for v in report["violations"] if v["code"] == "train_time_over_limit")
    assert over["message"].startswith("rerun/train_seed2_rerun.log (a repeated run of seed 2, not counted): ")


def test_the_counted_repeat_is_the_one_the_per_seed_claim_describes(tmp_path: Path) -> None:
    folder = _repeated(tmp_path, {"seed_results": {"2": {"val_bpb": 1.22}}})
    _, report = _json(folder)
    assert [s["file"] for s in report["seeds"]] == ["rerun/train_seed2_rerun.log", "train_seed1.log",
                                                    "train_seed3.log"]
    repeated = next(v for v in report["violations"] if v["code"] == "repeated_seed")
    assert repeated["file"] == "train_seed2.log" and "the run submission.json claims for this seed" in repeated["message"]


def test_the_counted_repeat_is_the_one_that_gives_the_claimed_mean(tmp_path: Path) -> None:
    mean = round((1.2071 + 1.2200 + 1.2093) / 3, 4)
    _, report = _json(_repeated(tmp_path, {"val_bpb": mean}))
    assert "rerun/train_seed2_rerun.log" in [s["file"] for s in report["seeds"]]
    assert next(c for c in report["claims"] if c["field"] == "val_bpb")["ok"]


def test_without_claims_the_log_named_for_the_seed_is_counted(tmp_path: Path) -> None:
    _, report = _json(_repeated(tmp_path, {}))
    assert "train_seed2.log" in [s["file"] for s in report["seeds"]]


def test_a_binary_file_named_like_a_log_is_skipped_with_a_note(tmp_path: Path) -> None:
    folder = records_folder(tmp_path / "rec", _logs(), SUBMISSION)
    (folder / "model.log").write_bytes(b"\x00\x01\x02" * 1_000_000)
    code, report = _json(folder)
    assert code == 0 and "model.log: a binary file, not counted as a train log" in report["notes"]
