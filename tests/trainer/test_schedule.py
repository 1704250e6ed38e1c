"""The LR and momentum schedules, and a run that the wall-clock cap stops early."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sweeper.records.legality import scan_lines
from tests.trainer.tiny import load_trainer, tiny_env


def test_lr_decays_linearly_over_the_last_warmdown_steps_without_a_cap() -> None:
    tg = load_trainer()
    hp = tg.Hyperparameters(iterations=100, warmdown_iters=10, max_wallclock_seconds=0)
    scales = [tg.lr_scale(hp, step, elapsed_ms=0.0) for step in (0, 89, 90, 95, 100)]
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.0]


def test_lr_reaches_zero_at_the_wallclock_cap() -> None:
    tg = load_trainer()
    hp = tg.Hyperparameters(iterations=20_000, warmdown_iters=10, max_wallclock_seconds=10, gptq_reserve_ms=0)
    # At 100 ms/step the warmdown lasts 10 steps = 1 s: it starts at 9 s and ends at the 10 s cap.
    assert tg.lr_scale(hp, step=50, elapsed_ms=5_000) == 1.0
    assert tg.lr_scale(hp, step=90, elapsed_ms=9_000) == pytest.approx(1.0)
    assert tg.lr_scale(hp, step=95, elapsed_ms=9_500) == pytest.approx(0.5)
    assert tg.lr_scale(hp, step=100, elapsed_ms=10_000) == 0.0
    assert tg.lr_scale(tg.Hyperparameters(warmdown_iters=0), step=19_999, elapsed_ms=599_999) == 1.0


def test_muon_momentum_warms_up_linearly() -> None:
    tg = load_trainer()
    hp = tg.Hyperparameters(muon_momentum_warmup_start=0.85, muon_momentum=0.95,
                            muon_momentum_warmup_steps=500)
    momenta = [tg.muon_momentum_at(hp, s) for s in (0, 250, 500, 9000)]
    assert momenta == pytest.approx([0.85, 0.90, 0.95, 0.95])


def test_wallclock_cap_stops_the_run_early_leaving_the_gptq_reserve(
        demo_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tg = load_trainer()
    env = tiny_env(demo_data, tmp_path / "out", ITERATIONS=10_000, MAX_WALLCLOCK_SECONDS=2.0, GPTQ_RESERVE_MS=500,
                   WARMDOWN_ITERS=3, VAL_LOSS_EVERY=0, TRAIN_LOG_EVERY=1000, VAL_MAX_TOKENS=1024)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    tg.main()  # in-process: the same code path as the script, without a second torch start-up
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # GPTQ calibration reads training data, so it runs in the last 0.5 s of the 2 s: training stops at 1.5 s.
    reserve = lines.index("gptq:reserving 0.5s, effective=1500ms")
    stop = next(re.match(r"^stopping_early: wallclock_cap train_time:(\d+)ms step:(\d+)/10000$", line)
                for line in lines if line.startswith("stopping_early:"))
    assert stop is not None and reserve < lines.index(stop.group(0))
    assert summary["stopped_early"] is True
    assert 1 <= summary["steps"] == int(stop.group(2)) < 10_000
    assert summary["train_time_ms"] >= 1500 and f"{summary['train_time_ms']:.0f}" == stop.group(1)
    assert summary["budgets"]["train_time_ms"]["value"] > summary["train_time_ms"]  # + the calibration
    # The step that reached the cap is logged even off the TRAIN_LOG_EVERY grid.
    assert any(line.startswith(f"step:{summary['steps']}/10000 train_loss:") for line in lines)
    # The record validator reads the reserve line: calibrating after the stop is then legal.
    log = (tmp_path / "out" / "tiny.txt").read_text().splitlines()
    scan = scan_lines(log, "tiny.txt")
    assert scan.findings == [] and scan.result.label == summary["final"]["label"]
    unreserved = scan_lines([line for line in log if not line.startswith("gptq:reserving")], "tiny.txt")
    assert [f.code for f in unreserved.findings] == ["calibration_after_cap"]  # it sees our calibration line
