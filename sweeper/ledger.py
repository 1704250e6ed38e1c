"""The sweep ledger: one SQLite file per sweep, one row per trial attempt, written by the driver only.

Durability: WAL journal, `synchronous=FULL`, and every write is one `BEGIN IMMEDIATE ... COMMIT`
transaction, so a driver killed with SIGKILL leaves either the whole write or none of it. Writes
are idempotent upserts keyed by `attempt_id`, so a resumed driver never duplicates a row.
Schema changes are numbered migrations `m00N_*` applied in order and tracked in `PRAGMA user_version`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweeper.errors import LedgerError

Stage = Literal["screen", "replicate", "manual"]
Status = Literal["pending", "running", "finished", "failed", "skipped"]


class AttemptFigures(BaseModel):
    """What an attempt's trainer left: why it failed, the score, sizes and times its log gives, its
    files and its W&B run. Shared by the ledger row and the trial's `outcome.json`.

    Byte counts are decimal bytes; `val_bpb` is the official post-quant score (the trainer's last
    metric line) and `pre_quant_val_bpb` the last in-training validation. `preflight_warning` says why
    preflight could not promise the config fits (it ran anyway).
    """

    failure_reason: str | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    pre_quant_val_bpb: float | None = None
    artifact_bytes: int | None = None
    code_bytes: int | None = None
    model_bytes: int | None = None
    train_time_ms: float | None = None
    eval_time_ms: float | None = None
    steps: int | None = None
    log_path: str | None = None
    artifact_path: str | None = None
    artifact_sha256: str | None = None
    wandb_run_id: str | None = None
    preflight_warning: str | None = None


class AttemptRow(AttemptFigures):
    """One trial attempt: who it is, what ran, when, and its figures (`AttemptFigures`). `params`
    holds the swept values; the fixed env lives in the sweep's space. Times are Unix seconds."""

    model_config = ConfigDict(extra="forbid")

    attempt_id: str = Field(min_length=1)
    sweep: str
    config_id: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int
    stage: Stage = "screen"
    status: Status = "pending"
    script_path: str | None = None
    script_sha256: str | None = None
    data_fingerprint: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    wall_s: float | None = None
    gpu_s: float | None = None  # GPU-seconds the attempt held: nproc x wall_s
    retries: int = 0


class SweepRow(BaseModel):
    """One sweep: its name, when its ledger was created, and the space YAML as run."""

    model_config = ConfigDict(extra="forbid")

    name: str
    created_at: float = Field(default_factory=time.time)
    space_yaml: str = ""


class ConfigRow(BaseModel):
    """A distinct config seen in the ledger and how far each of its seeds got."""

    config_id: str
    params: dict[str, Any]
    finished_seeds: list[int]
    attempts: int


ATTEMPT_COLUMNS = list(AttemptRow.model_fields)
_JSON_COLUMNS = {"params"}


def m001_initial(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE sweeps (name TEXT PRIMARY KEY, created_at REAL NOT NULL, space_yaml TEXT NOT NULL)")
    db.execute("""CREATE TABLE attempts (
        attempt_id TEXT PRIMARY KEY, sweep TEXT NOT NULL, config_id TEXT NOT NULL,
        params TEXT NOT NULL, seed INTEGER NOT NULL, stage TEXT NOT NULL, status TEXT NOT NULL,
        failure_reason TEXT, val_loss REAL, val_bpb REAL, pre_quant_val_bpb REAL,
        artifact_bytes INTEGER, code_bytes INTEGER, model_bytes INTEGER,
        train_time_ms REAL, eval_time_ms REAL, steps INTEGER,
        log_path TEXT, artifact_path TEXT, artifact_sha256 TEXT, script_path TEXT, script_sha256 TEXT,
        data_fingerprint TEXT, wandb_run_id TEXT, started_at REAL, ended_at REAL, wall_s REAL,
        retries INTEGER NOT NULL DEFAULT 0)""")
    db.execute("CREATE INDEX attempts_config_seed ON attempts (config_id, seed)")
    db.execute("CREATE INDEX attempts_status ON attempts (status)")


def m002_gpu_seconds(db: sqlite3.Connection) -> None:
    """GPU-seconds per attempt (nproc x wall); rows written before stay NULL (unknown)."""
    db.execute("ALTER TABLE attempts ADD COLUMN gpu_s REAL")


def m003_preflight_warning(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE attempts ADD COLUMN preflight_warning TEXT")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [m001_initial, m002_gpu_seconds, m003_preflight_warning]


class Ledger:
    """A sweep's SQLite ledger. `Ledger(path)` creates it (and migrates); `create=False` opens an
    existing ledger read-only: it never creates, migrates or alters a file (an older schema is migrated in
    a private in-memory copy), and an empty (0-byte, schema-less) or corrupt file is a LedgerError, not
    an empty ledger."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise LedgerError(f"{self.path}: no ledger here (is this a sweep directory?)")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path if create else read_only_uri(self.path), uri=not create,
                                       isolation_level=None, timeout=30.0)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: cannot open ledger ({exc})") from None
        try:
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._migrate()
            else:
                self._check_schema()
        except (sqlite3.DatabaseError, LedgerError) as exc:
            self._db.close()
            if isinstance(exc, LedgerError):
                raise
            raise LedgerError(f"{self.path}: cannot open ledger ({exc}): not a pgolf ledger, or corrupt") from None

    # -- plumbing ------------------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write = one immediate transaction: all of it lands, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _check_schema(self) -> None:
        """A read-only open: the schema must be this pgolf's, complete."""
        version = self.schema_version
        if version == 0:
            size = self.path.stat().st_size
            raise LedgerError(f"{self.path}: the ledger is empty ({size:,} bytes, no schema): not a sweep's "
                              "ledger, or its creation was cut short")
        self._refuse_newer(version)
        if version < len(MIGRATIONS):  # an older pgolf's ledger: migrate a copy in memory, never the file
            memory = sqlite3.connect(":memory:", isolation_level=None)
            self._db.backup(memory)
            self._db.close()
            self._db = memory
            self._migrate()
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted({"sweeps", "attempts"} - tables)
        if missing:
            raise LedgerError(f"{self.path}: the ledger is corrupt: table {', '.join(missing)} is missing")

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise LedgerError(f"{self.path}: ledger schema version {version} is newer than this pgolf "
                              f"({len(MIGRATIONS)}); upgrade pgolf")

    def _migrate(self) -> None:
        version = self.schema_version
        self._refuse_newer(version)
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._write() as db:
                migration(db)
                db.execute(f"PRAGMA user_version = {number}")

    # -- sweeps --------------------------------------------------------------------------------
    def add_sweep(self, sweep: SweepRow) -> SweepRow:
        """Record the sweep once; a resumed driver gets the original row (creation time) back."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO sweeps (name, created_at, space_yaml) VALUES (?, ?, ?)",
                       (sweep.name, sweep.created_at, sweep.space_yaml))
        existing = self.sweep(sweep.name)
        assert existing is not None
        return existing

    def sweep(self, name: str) -> SweepRow | None:
        rows = self._query("SELECT name, created_at, space_yaml FROM sweeps WHERE name = ?", (name,))
        return self._sweep_row(rows[0]) if rows else None

    def sweeps(self) -> list[SweepRow]:
        rows = self._query("SELECT name, created_at, space_yaml FROM sweeps ORDER BY created_at")
        return [self._sweep_row(r) for r in rows]

    def _sweep_row(self, row: tuple[Any, ...]) -> SweepRow:
        try:
            return SweepRow(name=row[0], created_at=row[1], space_yaml=row[2])
        except ValidationError as exc:
            raise LedgerError(f"{self.path}: sweep row {row[0]!r}: {exc.errors()[0]['msg']}") from None

    # -- attempts ------------------------------------------------------------------------------
    def upsert_attempt(self, row: AttemptRow) -> None:
        """Insert the attempt, or replace the row with the same attempt_id (idempotent)."""
        values = [json.dumps(getattr(row, c), sort_keys=True) if c in _JSON_COLUMNS else getattr(row, c)
                  for c in ATTEMPT_COLUMNS]
        columns = ", ".join(ATTEMPT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in ATTEMPT_COLUMNS if c != "attempt_id")
        with self._write() as db:
            db.execute(f"INSERT INTO attempts ({columns}) VALUES ({', '.join('?' * len(values))}) "
                       f"ON CONFLICT (attempt_id) DO UPDATE SET {updates}", values)

    def update_attempt(self, attempt_id: str, **changes: Any) -> AttemptRow:
        """Change some fields of an existing attempt (validated); returns the new row."""
        current = self.attempt(attempt_id)
        if current is None:
            raise LedgerError(f"attempt {attempt_id!r} is not in {self.path}")
        updated = AttemptRow.model_validate({**current.model_dump(), **changes})
        self.upsert_attempt(updated)
        return updated

    def attempt(self, attempt_id: str) -> AttemptRow | None:
        rows = self._select("WHERE attempt_id = ?", (attempt_id,))
        return rows[0] if rows else None

    def attempts(self, config_id: str | None = None, status: Status | None = None, *,
                 sweep: str | None = None, stage: Stage | None = None, seed: int | None = None) -> list[AttemptRow]:
        """Attempts matching every given filter, oldest first."""
        filters = {"config_id": config_id, "status": status, "sweep": sweep, "stage": stage, "seed": seed}
        used = {k: v for k, v in filters.items() if v is not None}
        where = ("WHERE " + " AND ".join(f"{k} = ?" for k in used)) if used else ""
        return self._select(where, tuple(used.values()))

    def is_finished(self, config_id: str, seed: int) -> bool:
        """Has some attempt of (config_id, seed) finished? Resume skips those."""
        query = "SELECT 1 FROM attempts WHERE config_id = ? AND seed = ? AND status = 'finished' LIMIT 1"
        return bool(self._query(query, (config_id, seed)))

    def configs(self) -> list[ConfigRow]:
        """Every config id in first-seen order, with its params and finished seeds."""
        found: dict[str, ConfigRow] = {}
        for row in self.attempts():
            config = found.setdefault(row.config_id, ConfigRow(
                config_id=row.config_id, params=row.params, finished_seeds=[], attempts=0))
            config.attempts += 1
            if row.status == "finished" and row.seed not in config.finished_seeds:
                config.finished_seeds.append(row.seed)
        return list(found.values())

    def _select(self, where: str, args: tuple[Any, ...]) -> list[AttemptRow]:
        query = f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM attempts {where} ORDER BY rowid"
        return [self._row(dict(zip(ATTEMPT_COLUMNS, r, strict=True))) for r in self._query(query, args)]

    def _query(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read; a damaged ledger (dropped table or column, bad page) is one LedgerError line."""
        try:
            return self._db.execute(query, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: the ledger is corrupt ({exc})") from None

    def _row(self, values: dict[str, Any]) -> AttemptRow:
        """A stored row, validated; a value that is not what pgolf writes names the attempt and column."""
        where = f"{self.path}: attempt {values.get('attempt_id')!r}"
        for column in _JSON_COLUMNS:
            try:
                values[column] = json.loads(values[column])
            except (TypeError, ValueError):
                raise LedgerError(f"{where}: column {column} is not JSON ({str(values[column])[:60]!r})") from None
        try:
            return AttemptRow.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            column = ".".join(str(part) for part in error["loc"])
            raise LedgerError(f"{where}: column {column}: {error['msg']} ({str(error.get('input'))[:60]!r})") from None


def read_only_uri(path: Path) -> str:
    """An SQLite URI that reads without writing anything. With no `-wal` file beside it no connection is
    open (a WAL writer keeps one while connected), so the file is opened `immutable` and no `-shm`/`-wal`
    sidecars are created; otherwise `mode=ro` reads through the live writer's WAL."""
    flags = "mode=ro" if path.with_name(path.name + "-wal").exists() else "mode=ro&immutable=1"
    return f"{path.resolve().as_uri()}?{flags}"
