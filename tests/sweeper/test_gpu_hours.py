"""GPU-seconds per attempt in the ledger (migration m002 on an existing ledger), and GPU-hours with an
optional cost in the candidates views (rate from the space or --cost-per-gpu-hour)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from sweeper.candidates import sweep_candidates
from sweeper.cli import app
from sweeper.ledger import MIGRATIONS, AttemptRow, Ledger, SweepRow, m001_initial
from sweeper.sweepdir import SweepDir

runner = CliRunner()
SPACE = "name: g\ndata_path: d\ntokenizer_path: t.model\ncost_per_gpu_hour: 2.5\n"


def test_a_ledger_from_before_gpu_seconds_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)
    m001_initial(db)
    db.execute("INSERT INTO attempts (attempt_id, sweep, config_id, params, seed, stage, status, wall_s) "
               "VALUES ('c-s1', 's', 'c', '{}', 1, 'screen', 'finished', 60.0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Ledger(path) as ledger:  # a writer (the driver resuming) migrates it
        assert ledger.schema_version == len(MIGRATIONS)
        (old,) = ledger.attempts()
        assert old.wall_s == 60.0 and old.gpu_s is None  # unknown, not invented
        ledger.update_attempt("c-s1", gpu_s=480.0)
        assert ledger.attempt("c-s1").gpu_s == 480.0  # type: ignore[union-attr]


def _sweep(root: Path) -> SweepDir:
    sweep = SweepDir(root / "g").create()
    with Ledger(sweep.ledger_path) as ledger:
        ledger.add_sweep(SweepRow(name="g", space_yaml=SPACE))
        for seed, (status, gpu_s) in enumerate([("finished", 3600.0), ("finished", 5400.0), ("failed", 3600.0)], 1):
            ledger.upsert_attempt(AttemptRow(attempt_id=f"2e6a38f01b9c-s{seed}", sweep="g", config_id="2e6a38f01b9c",
                                             seed=seed, status=status, val_bpb=1.2 if status == "finished" else None,  # type: ignore[arg-type]
                                             gpu_s=gpu_s, params={"VERY_LONG_PARAMETER_NAME": 0.000125}))
        ledger.upsert_attempt(AttemptRow(attempt_id="ffff0000aaaa-s1", sweep="g", config_id="ffff0000aaaa", seed=1,
                                         status="skipped"))
    return sweep


def test_candidates_count_every_attempt_of_a_config_and_price_them(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    report = sweep_candidates(sweep)
    (best,) = report.candidates
    assert best.gpu_hours == 3.5 and best.cost == 8.75  # failed attempts cost GPU time too
    assert report.gpu_hours == 3.5 and report.cost_per_gpu_hour == 2.5 and report.cost == 8.75
    assert sweep_candidates(sweep, cost_per_gpu_hour=4.0).cost == 14.0  # the flag wins over the space


def test_candidates_table_shows_gpu_hours_cost_and_whole_ids(tmp_path: Path) -> None:
    _sweep(tmp_path)
    args = ["candidates", "--out", str(tmp_path), "--cost-per-gpu-hour", "2"]
    for columns in ("80", "120"):  # narrow: the params move to a table of their own
        result = runner.invoke(app, args, env={"COLUMNS": columns})
        assert result.exit_code == 0 and "…" not in result.output
        assert max(len(line.rstrip()) for line in result.output.splitlines()) <= int(columns)
        rows = [line.split() for line in result.output.splitlines() if "2e6a38f01b9c" in line]
        assert rows[0][:5] == ["1", "2e6a38f01b9c", "2", "1.20000", "0.00000"] and "3.500" in rows[0]
        assert "VERY_LONG_PARAMETER_NAME" in result.output and "-" not in rows[0][1]
        assert "3.500 GPU-hours = 7.00 at 2/GPU-hour" in " ".join(result.output.split())
    report = json.loads(runner.invoke(app, ["candidates", "--out", str(tmp_path), "--json"]).stdout)
    assert report["gpu_hours"] == 3.5 and report["cost"] == 8.75 and report["candidates"][0]["gpu_hours"] == 3.5
