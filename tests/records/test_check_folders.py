"""`pgolf check` on folders built in tmp_path: budget failures, repeated seeds, and unusable input (exit 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from tests.records.helpers import SEQ2048, SEQ2048_LOG, copy_fixture, edit_log, records_folder
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()
SUBMISSION = {"name": "edited", "author": "a", "github_id": "a"}


def _three_seeds(root: Path, **edits: int) -> Path:
    """Three sp1024 seeds from a real log; `edits` apply to seed 2 (artifact=..., train_ms=...)."""
    base = SEQ2048_LOG.read_text()
    logs = {f"train_seed{s}.log": edit_log(base, seed=s, val_bpb=1.2060 + s * 0.0011, **(edits if s == 2 else {}))
            for s in (1, 2, 3)}
    return records_folder(root, logs, SUBMISSION)


def _json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_artifact_over_16_000_000_bytes_fails_with_that_reason(tmp_path: Path) -> None:
    code, report = _json(str(_three_seeds(tmp_path / "rec", artifact=16_000_001)))
    assert code == 1 and report["verdict"] == "fail"
    assert [(v["code"], v["seed"]) for v in report["violations"]] == [("artifact_over_limit", 2)]
    assert "16,000,001 bytes exceeds the 16,000,000-byte cap" in report["violations"][0]["message"]
    seed2 = next(s for s in report["seeds"] if s["seed"] == 2)
    assert seed2["artifact_bytes"] == 16_000_001 and seed2["violations"][0]["code"] == "artifact_over_limit"


def test_forty_minute_training_run_fails_with_that_reason(tmp_path: Path) -> None:
    code, report = _json(str(_three_seeds(tmp_path / "rec", train_ms=2_400_000)))
    assert code == 1
    assert [v["code"] for v in report["violations"]] == ["train_time_over_limit"]
    assert "2,400.0 s (40.0 min)" in report["violations"][0]["message"]


def test_overshooting_the_cap_by_one_step_is_normal(tmp_path: Path) -> None:
    code, report = _json(str(_three_seeds(tmp_path / "rec", train_ms=600_045)))  # step_avg ~51.9 ms
    assert code == 0, report["violations"]


def test_artifact_given_in_megabytes_only_is_checked_up_to_its_rounding(tmp_path: Path) -> None:
    def megabytes_only(total: str) -> str:
        text = "\n".join(line for line in SEQ2048_LOG.read_text().splitlines()
                         if not line.startswith(("Total submission size", "Serialized model")))
        return text + f"\nINT4+fp8+brotli: 15.80MB model + 0.05MB code = {total}/16.00MB FITS\n"

    folder = records_folder(tmp_path / "fits", {"train_seed1338.log": megabytes_only("15.85")}, SUBMISSION)
    code, report = _json(str(folder))
    assert code == 0 and [w["code"] for w in report["warnings"]][:1] == ["artifact_megabytes_only"]
    folder = records_folder(tmp_path / "edge", {"train_seed1338.log": megabytes_only("16.00")}, SUBMISSION)
    code, report = _json(str(folder))
    assert code == 1 and "cannot be verified" in report["violations"][0]["message"]


def test_two_logs_of_one_seed_with_different_scores_are_a_repeated_seed(tmp_path: Path) -> None:
    base = SEQ2048_LOG.read_text()
    logs = {"train_seed1.log": edit_log(base, seed=1, val_bpb=1.2061), "rerun/train.log": edit_log(base, seed=1, val_bpb=1.2050),
            "train_seed2.log": edit_log(base, seed=2, val_bpb=1.2062)}
    code, report = _json(str(records_folder(tmp_path / "rec", logs, SUBMISSION)))
    assert code == 1
    assert sorted(s["seed"] for s in report["seeds"]) == [1, 2]
    repeated = [v for v in report["violations"] if v["code"] == "repeated_seed"]
    assert len(repeated) == 1 and "not independent" in repeated[0]["message"]
    assert "rerun/train.log" in repeated[0]["message"]


def test_same_run_logged_twice_under_other_names_is_one_seed(tmp_path: Path) -> None:
    folder = copy_fixture(SEQ2048, tmp_path / "rec")
    (folder / "logs").mkdir()
    (folder / "logs" / "tee_seed1338.txt").write_text("launcher banner\n" + SEQ2048_LOG.read_text())
    _code, report = _json(str(folder))
    assert sorted(s["seed"] for s in report["seeds"]) == [1337, 1338, 1339]
    assert any("same run" in n and "tee_seed1338.txt" in n for n in report["notes"])


def test_claims_in_a_variant_submission_file_are_checked(tmp_path: Path) -> None:
    folder = _three_seeds(tmp_path / "rec")
    (folder / "submission.json").rename(folder / "submission_variant.json")
    code, report = _json(str(folder))
    assert code == 0 and report["seeds"]


def test_strict_turns_claim_mismatches_into_violations(tmp_path: Path) -> None:
    folder = _three_seeds(tmp_path / "rec")
    (folder / "submission.json").write_text(json.dumps({**SUBMISSION, "val_bpb": 1.2071}))  # best seed, not the mean
    code, report = _json(str(folder))
    assert code == 0 and report["claims"][0]["note"].startswith("is seed 1's score (the best of 3)")
    code, report = _json(str(folder), "--strict")
    assert code == 1 and report["violations"][0]["code"] == "claim_mismatch"


# ---- unusable input: one clear line, exit 2 ------------------------------------------------------

def _error(*args: str) -> str:
    result = runner.invoke(app, ["check", *args])
    assert result.exit_code == 2, result.output
    return one_error_line(result.output)


def test_missing_logs(tmp_path: Path) -> None:
    folder = records_folder(tmp_path / "rec", {"notes.txt": "nothing to see\n"}, SUBMISSION)
    assert "no train logs with a final score" in _error(str(folder))


def test_no_submission_json_is_checked_from_the_logs_with_a_warning(tmp_path: Path) -> None:
    """One official record has no submission.json (shared log-formats notes): its logs are still checked."""
    base = SEQ2048_LOG.read_text()
    logs = {f"train_seed{s}.log": edit_log(base, seed=s, val_bpb=1.2060 + s * 0.0011) for s in (1, 2, 3)}
    folder = records_folder(tmp_path / "rec", logs)
    code, report = _json(str(folder))
    assert code == 0 and [s["seed"] for s in report["seeds"]] == [1, 2, 3]
    assert [w["code"] for w in report["warnings"]] == ["no_submission"] and report["claims"] == []
    assert "checked from its 3 train log(s) alone" in report["warnings"][0]["message"]
    code, report = _json(str(folder), "--strict")
    assert code == 1 and report["violations"][0]["code"] == "no_submission"


def test_malformed_submission_json(tmp_path: Path) -> None:
    folder = records_folder(tmp_path / "rec", {"train_seed1.log": SEQ2048_LOG.read_text()}, '{"name": "x",}')
    message = _error(str(folder))
    assert "submission.json" in message and "not valid JSON" in message and "line 1" in message


def test_several_submission_variants_need_a_choice(tmp_path: Path) -> None:
    folder = records_folder(tmp_path / "rec", {"train_seed1.log": SEQ2048_LOG.read_text()})
    for name in ("submission_a.json", "submission_b.json"):
        (folder / name).write_text("{}")
    assert "--submission" in _error(str(folder))


def test_unknown_tokenizer(tmp_path: Path) -> None:
    log = edit_log(SEQ2048_LOG.read_text(), val_bpb=1.2, ratio=1.9)
    folder = records_folder(tmp_path / "rec", {"train_seed1338.log": log}, SUBMISSION)
    message = _error(str(folder))
    assert "unknown tokenizer in train_seed1338.log" in message and "1.9000" in message and "sp1024 1.6885" in message


def test_folder_that_does_not_exist(tmp_path: Path) -> None:
    assert "does not exist" in _error(str(tmp_path / "nope"))


def test_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _three_seeds(tmp_path / "rec")
    real_listdir = os.listdir

    def deny(path: object) -> list[str]:
        if Path(str(path)) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "listdir", deny)
    assert "cannot read records folder" in _error(str(folder))


def test_sota_value_that_looks_like_bpb_is_refused(tmp_path: Path) -> None:
    message = _error(str(_three_seeds(tmp_path / "rec")), "--sota", "1.2244")
    assert "looks like a val_bpb" in message and "1.2244bpb" in message


def test_sota_that_is_neither_folder_nor_number(tmp_path: Path) -> None:
    assert "neither a records folder nor a number" in _error(str(_three_seeds(tmp_path / "rec")), "--sota", "best")
