"""The packed trainer (`pgolf pack`) is the submission: it runs like the source and its own bytes count."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sweeper.pack import pack_file
from tests.paths import TRAINER
from tests.trainer.tiny import Run, run_trainer, tiny_env

SCORE = re.compile(r"^(final_\S+_exact) val_loss:(\S+) val_bpb:(\S+) ")
SIZE = re.compile(r"^(Code size|Serialized model \S+|Total submission size \S+): (\d+) bytes$")


def figures(lines: list[str]) -> tuple[tuple[str, str, str], dict[str, int]]:
    score = next(m.groups() for line in reversed(lines) if (m := SCORE.match(line)))
    return score, {m.group(1): int(m.group(2)) for line in lines if (m := SIZE.match(line))}


def test_packed_stub_scores_like_the_source_and_counts_its_own_bytes(
        demo_data, tiny_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = pack_file(TRAINER, tmp_path / "submission" / "train_gpt.py")
    monkeypatch.setattr("tests.trainer.tiny.TRAINER", stub.out)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run_trainer(tiny_env(demo_data, tmp_path / "out"), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (score, sizes), (source_score, source_sizes) = figures(proc.stdout.splitlines()), figures(tiny_run.stdout_lines)
    assert score == source_score
    model = next(v for k, v in sizes.items() if k.startswith("Serialized model "))
    assert sizes["Code size"] == stub.stub_bytes and source_sizes["Code size"] == stub.source_bytes
    assert next(v for k, v in sizes.items() if k.startswith("Total")) == model + stub.stub_bytes
