"""Read a records folder in the official layout: its train logs, submission JSON and README.

Logs are found anywhere below the folder under any name (`*.log`, `*.txt`); a file counts as a
train log when the parser finds a final score in it. Copies are counted once: byte-identical
files (`train.log` = `train_seed2025.log`), and two logs of one seed with the same score (a raw
tee and the trainer's own log). Two logs of one seed with different scores are a repeated seed,
which is an error: repeated runs of one seed are not independent samples.
"""

from __future__ import annotations

import codecs
import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.errors import RecordError
from sweeper.records import tokenizers
from sweeper.records.legality import LogScan, scan_lines
from sweeper.records.repeats import deduplicate
from sweeper.records.schema import Fingerprint, RecordCandidate, SeedRun
from sweeper.records.submission_file import choose_submission, read_submission
from sweeper.records.verdict import Finding
from sweeper.runlog import MAX_LINE_CHARS, RunResult
from sweeper.runlog_file import BINARY_SNIFF_BYTES, looks_binary

LOG_SUFFIXES = (".log", ".txt")
NOT_LOGS = {"requirements.txt"}
SCRIPT_NAME = "train_gpt.py"


@dataclass
class LoadedLog:
    """One train log: where it is, its content hash, and what the scan read from it."""

    path: str
    sha256: str
    scan: LogScan

    @classmethod
    def read(cls, file: Path, path: str) -> LoadedLog:
        """Scan a log file in bounded memory (undecodable bytes replaced); `path` is how findings name it.
        Raises OSError if it cannot be read."""
        digest = hashlib.sha256()
        scan = scan_lines(_lines(file, digest), path)
        return cls(path=path, sha256=digest.hexdigest(), scan=scan)

    @property
    def seed(self) -> int | None:
        return self.scan.result.seed


@dataclass
class RecordFolder:
    """Everything `pgolf check` reads from a records folder."""

    path: Path
    logs: list[LoadedLog]
    repeats: list[LoadedLog]  # other runs of a counted seed: not counted, but their budgets are checked
    submission: dict[str, Any]
    submission_name: str
    readme: str | None = None
    script_sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def track(self) -> str:
        declared = self.submission.get("track")
        return str(declared) if declared else self.path.resolve().parent.name.removeprefix("track_")

    @property
    def non_record(self) -> bool:
        return "non" in self.track.replace("-", "_").split("_")

    def candidate(self) -> RecordCandidate:
        """The seeds this folder submits, with their fingerprints."""
        info = self.submission
        return RecordCandidate(
            name=str(info.get("name", "")), author=str(info.get("author", "")),
            github_id=str(info.get("github_id", "")), track=self.track, script_sha256=self.script_sha256,
            seeds=[seed_run(log, dataset_fingerprint(info)) for log in self.logs],
        )


def read_record_folder(path: Path | str, submission_file: str | None = None, *, need_submission: bool = True
                       ) -> RecordFolder:
    """Load a records folder; unusable input raises RecordError (exit 2) with a one-line reason.
    A SOTA folder is read with `need_submission=False` (only its logs matter)."""
    root = Path(path)
    if not root.exists():
        raise RecordError(f"records folder {root} does not exist")
    if not root.is_dir():
        raise RecordError(f"{root} is not a folder (give the records folder, not a file in it)")
    try:
        os.listdir(root)  # rglob skips unreadable folders silently; the top one must be readable
        files = sorted(p for p in root.rglob("*") if p.is_file())
    except OSError as exc:
        raise RecordError(f"cannot read records folder {root}: {exc.strerror or exc}") from None
    chosen = choose_submission(root, files, submission_file)
    submission = read_submission(chosen, root) if chosen is not None else {}
    notes: list[str] = []
    logs = [log for p in files if (log := _load_log(root, p, notes)) is not None]
    if not logs:
        looked = sum(1 for p in files if p.suffix in LOG_SUFFIXES)
        raise RecordError(f"no train logs with a final score in {root} (looked at {looked} .log/.txt files)")
    kept, repeats, findings = deduplicate(logs, notes, submission)
    if chosen is None and need_submission:
        findings.append(Finding(
            code="no_submission", severity="warning",
            message=f"no submission.json in {root}: checked from its {len(kept)} train log(s) alone (no claims to "
                    "compare); a records PR adds one (shared rules: README.md, submission.json, logs, train_gpt.py)"))
    script = root / SCRIPT_NAME
    readme = next((p for p in files if p.parent == root and p.name.lower() == "readme.md"), None)
    return RecordFolder(
        path=root, logs=kept, repeats=repeats, submission=submission,
        submission_name=chosen.name if chosen is not None else "",
        readme=_read_text(readme, root) if readme else None,
        script_sha256=hashlib.sha256(_read_bytes(script, root)).hexdigest() if script.is_file() else None,
        notes=notes, findings=findings,
    )


def _lines(file: Path, digest: Any) -> Iterator[str]:
    """The lines of a file, read block by block (each line with its end), hashing every byte read;
    a line is held to MAX_LINE_CHARS characters until its end arrives."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial = ""
    with file.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            lines = (partial + decoder.decode(block)).splitlines(keepends=True)
            partial = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
            yield from lines
            partial = partial[: MAX_LINE_CHARS + 1]
    partial += decoder.decode(b"", final=True)
    if partial:
        yield partial


def _read_bytes(path: Path, root: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot read {path.relative_to(root)} in {root}: {exc.strerror or exc}") from None


def _read_text(path: Path, root: Path) -> str:
    return _read_bytes(path, root).decode("utf-8", errors="replace")


def _load_log(root: Path, path: Path, notes: list[str]) -> LoadedLog | None:
    if path.suffix not in LOG_SUFFIXES or path.name in NOT_LOGS:
        return None
    rel = path.relative_to(root).as_posix()
    try:
        with path.open("rb") as handle:
            if looks_binary(handle.read(BINARY_SNIFF_BYTES)):
                notes.append(f"{rel}: a binary file, not counted as a train log")
                return None
        log = LoadedLog.read(path, rel)
    except OSError as exc:
        raise RecordError(f"cannot read {rel} in {root}: {exc.strerror or exc}") from None
    result = log.scan.result
    if result.val_loss is None or result.val_bpb is None:
        if path.suffix == ".log":
            notes.append(f"{rel}: no final score line, not counted as a train log")
        return None
    if result.train_time_ms is None and result.steps is None:
        notes.append(f"{rel}: evaluation-only log (no training lines), not counted as a seed")
        return None
    if result.seed is None:
        raise RecordError(f"cannot tell the seed of {rel} in {root}: no seed line and no seed in the file name")
    return log


def dataset_fingerprint(submission: dict[str, Any]) -> tuple[str, float] | None:
    """(data fingerprint, score ratio) recorded by `pgolf promote` for a stream outside the known ones."""
    block = submission.get("dataset")
    if isinstance(block, dict) and isinstance(block.get("fingerprint"), str):
        ratio = block.get("score_ratio")
        return block["fingerprint"], float(ratio) if isinstance(ratio, int | float) else 0.0
    return None


def fingerprint_of(val_loss: float, val_bpb: float, val_tokens: int | None, where: str,
                   dataset: tuple[str, float] | None) -> Fingerprint:
    """Identify the tokenizer and stream from the score ratio, or from a recorded dataset fingerprint."""
    ratio = tokenizers.score_ratio(val_loss, val_bpb)
    known = tokenizers.identify(ratio, val_tokens)
    if known is not None:
        return known
    if dataset is not None and abs(dataset[1] - ratio) <= tokenizers.RATIO_TOLERANCE:
        return tokenizers.custom(ratio, dataset[0], val_tokens)
    recorded = "" if dataset is None else f" (the dataset fingerprint records ratio {dataset[1]:.4f})"
    raise RecordError(f"unknown tokenizer in {where}: val_loss/val_bpb = {ratio:.4f} matches no known tokenizer "
                      f"({tokenizers.known_list()}) and no dataset fingerprint{recorded}")


def _refuse_impossible(result: RunResult, where: str) -> None:
    """Scores are positive and finite; byte counts and times are not negative (a log that says
    otherwise is corrupt or forged, and a validator must not pass it)."""
    for name in ("val_loss", "val_bpb"):
        value = getattr(result, name)
        if not (math.isfinite(value) and value > 0):
            raise RecordError(f"impossible score in {where}: {name} {value} (a score is a positive, finite number)")
    for name in ("artifact_bytes", "code_bytes", "model_bytes", "train_time_ms", "eval_time_ms", "step_avg_ms"):
        value = getattr(result, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise RecordError(f"impossible value in {where}: {name} {value} (never negative)")


def seed_run(log: LoadedLog, dataset: tuple[str, float] | None, seed: int | None = None,
             where: str | None = None) -> SeedRun:
    """A SeedRun from a log with a final score; `seed` (default: the log's) and `where` (default: its
    path, for error messages) come from the ledger when a sweep promotes it."""
    r = log.scan.result
    seed = r.seed if seed is None else seed
    assert r.val_loss is not None and r.val_bpb is not None and seed is not None
    _refuse_impossible(r, where or log.path)
    return SeedRun(
        seed=seed, val_loss=r.val_loss, val_bpb=r.val_bpb, label=r.label, artifact_bytes=r.artifact_bytes,
        artifact_megabytes=log.scan.artifact_megabytes,
        code_bytes=r.code_bytes, train_seconds=None if r.train_time_ms is None else r.train_time_ms / 1000.0,
        eval_seconds=None if log.scan.eval_ms is None else log.scan.eval_ms / 1000.0, steps=r.steps,
        step_avg_ms=r.step_avg_ms, log_path=log.path, log_sha256=log.sha256,
        fingerprint=fingerprint_of(r.val_loss, r.val_bpb, r.val_tokens, where or log.path, dataset),
    )
