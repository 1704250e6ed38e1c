"""Damaged sweep ledgers given to read commands (`candidates`, `dashboard`, `promote`, `seeds`):
one line saying the ledger is empty or corrupt, and the file is neither created nor altered."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from sweeper.ledger import MIGRATIONS, AttemptRow, Ledger, SweepRow
from tests.bad_inputs.harness import Case, run_case

LEDGER = "runs/s1/ledger.sqlite"


def good_ledger(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Ledger(path) as ledger:
        ledger.add_sweep(SweepRow(name="s1", space_yaml=""))
        ledger.upsert_attempt(AttemptRow(attempt_id="c1-s1", sweep="s1", config_id="c1", params={"LR": 0.1}, seed=1,
                                         status="finished", val_bpb=1.2, val_loss=2.0))


def sql(*statements: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        good_ledger(path)
        db = sqlite3.connect(path)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()
    return damage


def raw(content: bytes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return damage


def truncated(path: Path) -> None:
    good_ledger(path)
    path.write_bytes(path.read_bytes()[:1024])


DAMAGES = {
    "zero-bytes": (raw(b""), "the ledger is empty (0 bytes, no schema)"),
    "text-file": (raw(b"attempt_id,config\n" * 50), "not a pgolf ledger, or corrupt"),
    "random-bytes": (raw(bytes(range(256)) * 16), "not a pgolf ledger, or corrupt"),
    "truncated": (truncated, "corrupt"),
    "dropped-attempts": (sql("DROP TABLE attempts"), "the ledger is corrupt: table attempts is missing"),
    "dropped-sweeps": (sql("DROP TABLE sweeps"), "the ledger is corrupt: table sweeps is missing"),
    "params-not-json": (sql("UPDATE attempts SET params = '{oops'"), "attempt 'c1-s1': column params is not JSON"),
    "status-unknown": (sql("UPDATE attempts SET status = 'exploded'"), "attempt 'c1-s1': column status"),
    "newer-schema": (sql(f"PRAGMA user_version = {len(MIGRATIONS) + 3}"), "newer than this pgolf"),
    "no-schema-version": (sql("PRAGMA user_version = 0"), "the ledger is empty"),
    "dropped-column": (sql("ALTER TABLE attempts DROP COLUMN wall_s"), "the ledger is corrupt (no such column"),
}
COMMANDS = {
    "candidates": ["candidates", "s1", "--out", "runs"],
    "dashboard": ["dashboard", "s1", "--out", "runs", "--html", "dash.html"],
}


def case(damage: Callable[[Path], None], args: list[str]) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        damage(tmp / LEDGER)
        return args
    return build


CASES = [Case(f"{command}-{name}", case(damage, args), (LEDGER, message))
         for name, (damage, message) in DAMAGES.items() for command, args in COMMANDS.items()]
CASES += [
    Case("promote-zero-bytes", case(raw(b""), ["promote", "s1", "--config", "c1", "--out", "runs", "--record-dir", "rec"]),
         (LEDGER, "the ledger is empty")),
    Case("promote-params-not-json", case(sql("UPDATE attempts SET params = 'x'"),
                                         ["promote", "s1", "--config", "c1", "--out", "runs", "--record-dir", "rec"]),
         (LEDGER, "column params is not JSON")),
    Case("seeds-zero-bytes", case(raw(b""), ["seeds", "s1", "--config", "c1", "--out", "runs"]),
         (LEDGER, "the ledger is empty")),
    Case("latest-sweep-zero-bytes", case(raw(b""), ["candidates", "--out", "runs"]), (LEDGER, "the ledger is empty")),
    Case("no-sweep-there", lambda tmp: ["candidates", "s1", "--out", "runs"], ("sweep 's1'", "no ledger at")),
    Case("ledger-is-a-directory", lambda tmp: (tmp / LEDGER).mkdir(parents=True) or ["candidates", "s1", "--out", "runs"],
         ("sweep 's1'", "no ledger at")),
    Case("html-is-a-directory", lambda tmp: [good_ledger(tmp / LEDGER), (tmp / "out").mkdir()] and
         ["dashboard", "s1", "--out", "runs", "--html", "out"], ("--html out", "is a directory")),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_damaged_ledger(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)
