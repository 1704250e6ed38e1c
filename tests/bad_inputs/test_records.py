"""Unusable records folders and submission files given to `pgolf check` (exit 2, one line)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.bad_inputs.harness import Case, run_case
from tests.records.helpers import SEQ2048_LOG, edit_log, records_folder

BASE = SEQ2048_LOG.read_text()
SUBMISSION = {"name": "n", "author": "a", "github_id": "a"}


def three_logs() -> dict[str, str]:
    return {f"train_seed{s}.log": edit_log(BASE, seed=s, val_bpb=1.2060 + s * 0.0011) for s in (1, 2, 3)}


def final_score(text: str, loss: str, bpb: str) -> str:
    return re.sub(r"(?m)^(final_\w+) val_loss:\S+ val_bpb:\S+", rf"\1 val_loss:{loss} val_bpb:{bpb}", text)


def folder(logs: dict[str, str] | None = None, submission: dict | str | bytes | None = SUBMISSION,
           *args: str) -> callable:
    def build(tmp: Path) -> list[str]:
        raw = submission.decode("latin-1") if isinstance(submission, bytes) else submission
        root = records_folder(tmp / "rec", three_logs() if logs is None else logs, None)
        if isinstance(submission, bytes):
            (root / "submission.json").write_bytes(submission)
        elif raw is not None:
            (root / "submission.json").write_text(raw if isinstance(raw, str) else json.dumps(raw))
        return ["check", "rec", *args]
    return build


def one_seed_edited(name: str, text: str) -> dict[str, str]:
    logs = three_logs()
    logs[name] = text
    return logs


def scored(loss: str, bpb: str) -> dict[str, str]:
    return one_seed_edited("train_seed2.log", final_score(three_logs()["train_seed2.log"], loss, bpb))


def sota_folder(logs: dict[str, str]) -> callable:
    def build(tmp: Path) -> list[str]:
        folder()(tmp)
        records_folder(tmp / "sota", logs, SUBMISSION)
        return ["check", "rec", "--sota", "sota"]
    return build


FOLDER_CASES = [
    Case("missing-folder", lambda tmp: ["check", "nope"], ("records folder nope", "does not exist")),
    Case("a-file", lambda tmp: (tmp / "x.log").write_text(BASE) and ["check", "x.log"], ("x.log", "is not a folder")),
    Case("dev-null", lambda tmp: ["check", "/dev/null"], ("/dev/null", "is not a folder")),
    Case("fifo", lambda tmp: os.mkfifo(tmp / "p") or ["check", "p"], ("p", "is not a folder")),
    Case("no-logs", folder({"notes.txt": "nothing\n"}), ("no train logs with a final score in rec",)),
    Case("score-less-logs", folder({"train_seed1.log": BASE.split("final_")[0]}), ("no train logs", "rec")),
    Case("binary-log-only", folder({"train_seed1.log": "\x00\x01" * 100}), ("no train logs", "rec")),
    Case("no-seed", folder({"train.log": re.sub(r"(?m)^seed:\d+\n", "", BASE)}),
         ("cannot tell the seed of train.log", "rec")),
    Case("negative-score", folder(scored("-2.03657529", "-1.20617460")),
         ("impossible score in train_seed2.log: val_loss -2.03657529",)),
    Case("zero-score", folder(scored("0", "0")), ("impossible score in train_seed2.log: val_loss 0.0",)),
    Case("nan-score", folder(scored("nan", "nan")), ("impossible score in train_seed2.log: val_loss nan",)),
    Case("inf-score", folder(scored("inf", "inf")), ("impossible score in train_seed2.log: val_loss inf",)),
    Case("negative-bpb", folder(scored("2.03657529", "-1.20617460")),
         ("impossible score in train_seed2.log: val_bpb -1.2061746",)),
    Case("impossible-ratio", folder(scored("0.5", "1.2")), ("unknown tokenizer in train_seed2.log", "0.4167")),
    Case("ratio-of-no-tokenizer", folder(scored("3.5", "1.0")), ("unknown tokenizer in train_seed2.log", "3.5000")),
    Case("two-submission-variants", lambda tmp: [folder(submission=None)(tmp),
                                                 (tmp / "rec" / "submission_a.json").write_text("{}"),
                                                 (tmp / "rec" / "submission_b.json").write_text("{}")] and
         ["check", "rec"], ("several submission files in rec", "--submission")),
    Case("submission-parent", lambda tmp: (tmp / "other.json").write_text("{}") and
         folder(None, SUBMISSION, "--submission", "../other.json")(tmp),
         ("--submission ../other.json", "outside the records folder")),
    Case("submission-absolute", folder(None, SUBMISSION, "--submission", "/etc/hostname"),
         ("--submission /etc/hostname", "outside the records folder")),
    Case("submission-missing", folder(None, SUBMISSION, "--submission", "nope.json"),
         ("--submission nope.json", "not found in rec")),
    Case("sota-word", folder(None, SUBMISSION, "--sota", "best"), ("--sota 'best'", "neither a records folder")),
    Case("sota-bpb-lookalike", folder(None, SUBMISSION, "--sota", "1.2244"), ("--sota 1.2244", "looks like a val_bpb")),
    Case("sota-impossible", sota_folder(scored("-2.0", "-1.2")), ("impossible score in train_seed2.log",)),
    Case("sota-no-logs", sota_folder({"a.txt": "x\n"}), ("no train logs with a final score in sota",)),
]

SUBMISSION_CASES = [
    Case("infinity", folder(submission='{"val_bpb": Infinity}'), ("submission.json in rec", "Infinity is not a JSON")),
    Case("minus-infinity", folder(submission='{"val_bpb": -Infinity}'), ("submission.json", "-Infinity is not")),
    Case("nan", folder(submission='{"val_loss": NaN}'), ("submission.json in rec", "NaN is not a JSON number")),
    Case("overflow", folder(submission='{"val_bpb": 1e999}'), ("submission.json in rec", "1e999 overflows")),
    Case("huge-int", folder(submission='{"bytes_total": ' + "9" * 5000 + "}"), ("submission.json in rec", "standard")),
    Case("deep-100k", folder(submission='{"a": ' * 100_000 + "1" + "}" * 100_000),
         ("submission.json in rec", "nested too deeply")),
    Case("deep-list", folder(submission='{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         ("submission.json in rec", "nested too deeply")),
    Case("deep-200", folder(submission='{"a": ' * 200 + "1" + "}" * 200), ("submission.json in rec", "more than 64")),
    Case("top-level-list", folder(submission="[1, 2]"), ("submission.json in rec", "not list")),
    Case("top-level-string", folder(submission='"x"'), ("submission.json in rec", "not str")),
    Case("top-level-null", folder(submission="null"), ("submission.json in rec", "not NoneType")),
    Case("trailing-comma", folder(submission='{"name": "x",}'), ("submission.json in rec", "not valid JSON", "line 1")),
    Case("empty-file", folder(submission=""), ("submission.json in rec", "not valid JSON")),
    Case("single-quotes", folder(submission="{'name': 'x'}"), ("submission.json in rec", "not valid JSON")),
    Case("latin1", folder(submission=b'{"author": "Jos\xe9"}'), ("submission.json in rec", "not UTF-8", "0xe9")),
    Case("utf16", folder(submission=json.dumps(SUBMISSION).encode("utf-16")), ("submission.json in rec", "not UTF-8")),
    Case("nul-bytes", folder(submission=b"\x00" * 64), ("submission.json in rec", "not valid JSON")),
    Case("oversized", folder(submission='{"pad": "' + "x" * 10_000_001 + '"}'), ("submission.json in rec", "too large")),
]


@pytest.mark.parametrize("case", [c.param() for c in FOLDER_CASES + SUBMISSION_CASES])
def test_unusable_record_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)
