"""Build a record candidate from one config of a sweep: its seeds' own logs, script and dataset.

Every figure comes from the logs the ledger points at (the ledger's numbers are cross-checked,
not trusted). Every seed run for the config counts: a seed whose latest attempt failed is
reported, since promoting only the seeds that went well is seed-picking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sweeper.digest import sha256_files
from sweeper.errors import RecordError, SpaceError
from sweeper.ledger import AttemptRow, Ledger
from sweeper.records.folder import LoadedLog, seed_run
from sweeper.records.schema import RecordCandidate, SeedRun
from sweeper.records.verdict import Finding
from sweeper.space import SearchSpace, parse_space
from sweeper.space_yaml import read_space_text
from sweeper.sweepdir import SweepDir

SCORE_TOLERANCE = 1e-6


@dataclass
class ConfigRuns:
    """A config's finished seeds as a candidate, plus what promotion and the report need."""

    sweep: SweepDir
    config_id: str
    attempts: list[AttemptRow]
    logs: dict[int, LoadedLog]  # by seed
    log_files: dict[int, Path]
    candidate: RecordCandidate
    script_path: Path
    space: SearchSpace | None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def legality(self) -> dict[str, list[Finding]]:
        return {log.path: log.scan.findings for log in self.logs.values()}

    def env(self) -> dict[str, str]:
        """The config's trainer env (fixed + swept values), without SEED and the data paths."""
        params = self.attempts[-1].params
        if self.space is None:
            return {k: str(v) for k, v in params.items()}
        return self.space.config_env(params)


def load_config(sweep: SweepDir, config_id: str) -> ConfigRuns:
    """Read a config's attempts from the sweep's ledger and parse each seed's log."""
    with Ledger(sweep.ledger_path, create=False) as ledger:
        attempts = ledger.attempts(config_id=config_id)
        known = [c.config_id for c in ledger.configs()]
        space_yaml = next((s.space_yaml for s in ledger.sweeps() if s.space_yaml), "")
    if not attempts:
        listed = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
        raise RecordError(f"config {config_id!r} is not in sweep {sweep.name} (configs: {listed or 'none'})")
    latest: dict[int, AttemptRow] = {}
    for row in attempts:
        current = latest.get(row.seed)
        if row.status == "finished" or (row.status == "failed" and (current is None or current.status != "finished")):
            latest[row.seed] = row  # the latest finished attempt wins; a failure only counts if none finished
    findings: list[Finding] = []
    notes: list[str] = []
    logs: dict[int, LoadedLog] = {}
    files: dict[int, Path] = {}
    runs: list[SeedRun] = []
    for seed, row in sorted(latest.items()):
        if row.status == "failed":
            findings.append(Finding(code="failed_seed", severity="warning", seed=seed, message=(
                f"seed {seed} of this config failed ({row.failure_reason or 'no reason recorded'}): every seed "
                "run counts, so rerun it rather than leave it out")))
            continue
        path = _resolve(sweep, row.log_path, f"log of seed {seed} (attempt {row.attempt_id})")
        log = _load(path, f"train_seed{seed}.log")
        run = _seed_run(log, row, notes)
        logs[seed], files[seed] = log, path
        runs.append(run)
    if not runs:
        raise RecordError(f"config {config_id!r} of sweep {sweep.name} has no finished seed with a log")
    finished = [latest[s] for s in logs]
    script_path, script_sha = _script(sweep, finished)
    candidate = RecordCandidate(seeds=runs, script_sha256=script_sha)
    space = _space(space_yaml, sweep, notes)
    return ConfigRuns(sweep=sweep, config_id=config_id, attempts=finished, logs=logs, log_files=files,
                      candidate=candidate, script_path=script_path, space=space, findings=findings, notes=notes)


def _resolve(sweep: SweepDir, recorded: str | None, what: str) -> Path:
    if not recorded:
        raise RecordError(f"the ledger records no path for the {what}")
    path = Path(recorded)
    candidates = [path] if path.is_absolute() else [sweep.path / path, path]  # relative to the sweep, or cwd
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise RecordError(f"{what} is missing: {candidates[0]}")
    return found


def _load(path: Path, name: str) -> LoadedLog:
    try:
        return LoadedLog.read(path, name)
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from None


def _seed_run(log: LoadedLog, row: AttemptRow, notes: list[str]) -> SeedRun:
    r = log.scan.result
    if r.val_loss is None or r.val_bpb is None:
        raise RecordError(f"the log of seed {row.seed} (attempt {row.attempt_id}) has no final score line")
    if r.seed is not None and r.seed != row.seed:
        raise RecordError(f"the log of attempt {row.attempt_id} says seed {r.seed}, the ledger says {row.seed}")
    if row.val_bpb is not None and abs(row.val_bpb - r.val_bpb) > SCORE_TOLERANCE:
        notes.append(f"seed {row.seed}: the ledger says val_bpb {row.val_bpb}, its log {r.val_bpb} (log used)")
    dataset = (row.data_fingerprint, r.val_loss / r.val_bpb) if row.data_fingerprint else None
    return seed_run(log, dataset, seed=row.seed, where=f"the log of seed {row.seed}")


def _script(sweep: SweepDir, rows: list[AttemptRow]) -> tuple[Path, str]:
    """The train_gpt.py that ran, verified against the sha256 the ledger recorded for every seed."""
    recorded = {r.script_sha256 for r in rows}
    if len(recorded) > 1:
        raise RecordError(f"the seeds of this config ran different scripts (sha256 {sorted(map(str, recorded))})")
    expected = recorded.pop()
    if expected is None:
        raise RecordError("the ledger records no script sha256 for this config's seeds")
    path = _resolve(sweep, rows[0].script_path, "train_gpt.py that ran")
    actual = sha256_files(path)
    if actual != expected:
        raise RecordError(f"{path} changed since the sweep ran it (sha256 {actual[:12]}, ledger {expected[:12]})")
    return path, expected


def _space(text: str, sweep: SweepDir, notes: list[str]) -> SearchSpace | None:
    """The space the ledger recorded, else the sweep's space.yaml; unreadable: a note, not an error."""
    try:
        if not text and sweep.space_yaml.is_file():
            text = read_space_text(sweep.space_yaml)
        return parse_space(text) if text else None
    except SpaceError as exc:
        notes.append(f"the sweep's space could not be read ({exc}); the reproduce command lists swept values only")
        return None
