"""Ledger: migrations, idempotent upserts, resume queries, and consistency after SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeper.errors import LedgerError
from sweeper.ledger import MIGRATIONS, AttemptRow, Ledger, SweepRow
from sweeper.sweepdir import SweepDir, claim_sweep_dir, latest_sweep, list_sweeps, resolve_sweep, sweeps_root
from tests.paths import REPO


def attempt(attempt_id: str, config: str = "cfg", seed: int = 1337, **fields: object) -> AttemptRow:
    return AttemptRow(attempt_id=attempt_id, sweep="s", config_id=config, params={"MATRIX_LR": 0.02},
                      seed=seed, **fields)


def test_new_ledger_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {"sweeps", "attempts"}


def test_upsert_is_idempotent_by_attempt_id(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.upsert_attempt(attempt("a1", status="running", started_at=10.0))
        ledger.upsert_attempt(attempt("a1", status="running", started_at=10.0))
        ledger.upsert_attempt(attempt("a2", seed=42))
        ledger.upsert_attempt(attempt("a1", status="finished", val_bpb=1.2345, artifact_bytes=15_000_000))
        rows = ledger.attempts()
    assert [r.attempt_id for r in rows] == ["a1", "a2"]
    assert rows[0].status == "finished" and rows[0].val_bpb == 1.2345 and rows[0].params == {"MATRIX_LR": 0.02}


def test_update_attempt_changes_only_given_fields(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.upsert_attempt(attempt("a1", status="running", log_path="trials/a1/trial.log"))
        updated = ledger.update_attempt("a1", status="failed", failure_reason="exit code 1")
        assert updated.log_path == "trials/a1/trial.log"
        assert ledger.attempt("a1") == updated


def test_update_of_unknown_attempt_names_it(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger, pytest.raises(LedgerError, match="attempt 'nope' is not in"):
        ledger.update_attempt("nope", status="failed")


def test_invalid_row_is_rejected_before_writing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.upsert_attempt(attempt("a1"))
        with pytest.raises(ValueError, match="status"):
            ledger.update_attempt("a1", status="exploded")
        assert ledger.attempt("a1") == attempt("a1")


def test_resume_queries(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.upsert_attempt(attempt("a1", status="failed"))
        ledger.upsert_attempt(attempt("a2", status="finished", retries=1))
        ledger.upsert_attempt(attempt("a3", seed=42, status="running"))
        ledger.upsert_attempt(attempt("b1", config="other", status="skipped", failure_reason="over limit"))
        assert ledger.is_finished("cfg", 1337)
        assert not ledger.is_finished("cfg", 42)
        assert not ledger.is_finished("other", 1337)
        assert [r.attempt_id for r in ledger.attempts(config_id="cfg", status="failed")] == ["a1"]
        assert [r.attempt_id for r in ledger.attempts(seed=42)] == ["a3"]
        configs = {c.config_id: c for c in ledger.configs()}
    assert configs["cfg"].finished_seeds == [1337] and configs["cfg"].attempts == 3
    assert configs["other"].finished_seeds == []


def test_sweep_row_keeps_its_first_creation_time(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        first = ledger.add_sweep(SweepRow(name="s", created_at=100.0, space_yaml="name: s\n"))
        again = ledger.add_sweep(SweepRow(name="s", created_at=200.0, space_yaml="name: s\n"))
        assert first == again and again.created_at == 100.0
        assert [s.name for s in ledger.sweeps()] == ["s"]


def test_opening_a_missing_ledger_without_create_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger here"):
        Ledger(tmp_path / "absent.sqlite", create=False)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(LedgerError, match="newer than this pgolf"):
        Ledger(path)


def test_not_a_database_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="cannot open ledger"):
        Ledger(path)


WRITER = """
import sys
from sweeper.ledger import AttemptRow, Ledger
ledger = Ledger(sys.argv[1])
i = 0
while True:
    row = AttemptRow(attempt_id=f"a{i % 50}", sweep="s", config_id=f"c{i}", params={"i": i, "pad": "x" * 500},
                     seed=i, status="finished", val_bpb=float(i), steps=i, retries=i)
    ledger.upsert_attempt(row)
    i += 1
"""


def test_ledger_stays_consistent_after_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Ledger(path) as reader:
                if len(reader.attempts()) == 50 and reader.attempts()[0].retries >= 500:
                    break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    with Ledger(path) as ledger:
        rows = ledger.attempts()
    assert len(rows) == 50
    for row in rows:  # every column of a row comes from the same write
        assert row.config_id == f"c{row.seed}" and row.params["i"] == row.seed == row.steps == row.retries
        assert row.val_bpb == float(row.seed)


def test_sweeps_root_prefers_out_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PGOLF_HOME", raising=False)
    assert sweeps_root() == Path("pgolf-runs")
    monkeypatch.setenv("PGOLF_HOME", str(tmp_path))
    assert sweeps_root() == tmp_path
    assert sweeps_root(tmp_path / "x") == tmp_path / "x"


def test_latest_sweep_is_the_one_whose_ledger_was_created_last(tmp_path: Path) -> None:
    for name, created in (("b-old", 100.0), ("a-new", 300.0), ("c-mid", 200.0)):
        sweep = SweepDir(tmp_path / name).create()
        with Ledger(sweep.ledger_path) as ledger:
            ledger.add_sweep(SweepRow(name=name, created_at=created))
    (tmp_path / "not-a-sweep").mkdir()
    assert [s.name for s in list_sweeps(tmp_path)] == ["b-old", "c-mid", "a-new"]
    assert latest_sweep(tmp_path).name == "a-new"
    assert resolve_sweep(None, tmp_path).name == "a-new"
    assert resolve_sweep("c-mid", tmp_path).path == tmp_path / "c-mid"
    assert resolve_sweep(tmp_path / "b-old", tmp_path).name == "b-old"


def test_missing_sweeps_are_reported(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no sweeps under"):
        latest_sweep(tmp_path)
    with pytest.raises(Exception, match="sweep 'ghost': no ledger"):
        resolve_sweep("ghost", tmp_path)


def test_sweep_dir_layout_and_unused_names(tmp_path: Path) -> None:
    sweep = SweepDir(tmp_path / "demo").create()
    assert sweep.trial_log("a1") == tmp_path / "demo/trials/a1/trial.log"
    assert sweep.wandb_dir.is_dir() and sweep.tune_dir.is_dir()
    assert claim_sweep_dir(tmp_path, "demo").name == "demo-2"
    assert claim_sweep_dir(tmp_path, "demo").name == "demo-3"  # demo-2 was just claimed (created)
    assert claim_sweep_dir(tmp_path, "fresh").name == "fresh" and (tmp_path / "fresh").is_dir()


# ---------------------------------------------------------------- reads never write; damage is one line
def _files(directory: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(directory.iterdir())}


def test_read_only_open_of_a_wal_ledger_creates_and_changes_no_file(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.upsert_attempt(attempt("a1", status="finished", val_bpb=1.2))
    before = _files(tmp_path)
    assert list(before) == ["l.sqlite"]
    with Ledger(tmp_path / "l.sqlite", create=False) as ledger:
        assert [r.attempt_id for r in ledger.attempts()] == ["a1"]
    assert _files(tmp_path) == before


def test_read_only_open_sees_a_live_writers_uncheckpointed_rows(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as writer:
        writer.upsert_attempt(attempt("a1"))
        with Ledger(tmp_path / "l.sqlite", create=False) as reader:
            assert [r.attempt_id for r in reader.attempts()] == ["a1"]
        writer.upsert_attempt(attempt("a2", seed=42))


@pytest.mark.parametrize(("content", "expected"), [
    (b"", r"l\.sqlite: the ledger is empty \(0 bytes, no schema\)"),
    (b"this is not sqlite" * 100, r"l\.sqlite: cannot open ledger \(file is not a database\)"),
])
def test_an_empty_or_foreign_file_is_not_an_empty_ledger_and_stays_untouched(
        tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "l.sqlite"
    path.write_bytes(content)
    before = _files(tmp_path)
    with pytest.raises(LedgerError, match=expected):
        Ledger(path, create=False)
    assert _files(tmp_path) == before


def test_a_dropped_table_is_reported_as_corruption(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE attempts")
    db.close()
    with pytest.raises(LedgerError, match=r"the ledger is corrupt: table attempts is missing"):
        Ledger(path, create=False)


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("params", "{not json", r"attempt 'a1': column params is not JSON \('\{not json'\)"),
    ("status", "exploded", r"attempt 'a1': column status: Input should be"),
    ("seed", "forty-two", r"attempt 'a1': column seed: Input should be a valid integer"),
])
def test_a_stored_value_pgolf_never_writes_names_the_attempt_and_column(
        tmp_path: Path, column: str, value: str, expected: str) -> None:
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.upsert_attempt(attempt("a1"))
    db = sqlite3.connect(path)
    db.execute(f"UPDATE attempts SET {column} = ?", (value,))
    db.commit()
    db.close()
    with Ledger(path, create=False) as ledger, pytest.raises(LedgerError, match=expected):
        ledger.attempts()


def test_a_read_never_migrates_an_older_ledger(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 0")
    db.execute("CREATE TABLE extra (x)")
    db.close()
    before = _files(tmp_path)
    with pytest.raises(LedgerError, match="the ledger is empty"):
        Ledger(path, create=False)
    assert _files(tmp_path) == before


def test_a_read_only_open_reads_an_older_schema_without_writing_the_file(tmp_path: Path) -> None:
    """A ledger written by an older pgolf (schema version 1) stays readable by read commands such as
    `candidates`; the upgrade happens in a private in-memory copy, so the file is byte-identical after."""
    import sqlite3

    from sweeper.ledger import MIGRATIONS

    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO sweeps (name, created_at, space_yaml) VALUES ('old', 1.0, 'name: old')")
    db.close()
    before = path.read_bytes()
    with Ledger(path, create=False) as ledger:
        assert [s.name for s in ledger.sweeps()] == ["old"]
        assert ledger.attempts() == []
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.sqlite"]
