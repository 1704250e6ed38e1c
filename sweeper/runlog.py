"""Parameter Golf train-log parser: ours and every official record's log -> `RunResult`.

The grammar is the one measured over all official records (shared/docs/log-formats.md): only
column-0 lines count (a copy of the training script often precedes the log), an optional unix
timestamp may prefix each line, and a file can hold several runs of which the last is official.
The official score is the last non-diagnostic `<label> val_loss:X val_bpb:Y` line of that run,
except that a trailing evaluation far worse than an earlier one (a diverged TTT pass) is skipped
with a warning, and an `_exact` (8-decimal) twin replaces its rounded line.

`LogParser` is incremental (`feed` one line, or `feed_chunk` any piece of a growing file) and
gives the same result as `parse_lines`/`parse_log` over the whole text. Content never raises:
whatever looks wrong becomes a line in `RunResult.warnings`. What a single line means (the
regexes, the event models) lives in `runlog_grammar`; this module keeps runs apart and assembles
the result.
"""

from __future__ import annotations

import codecs
import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sweeper.runlog_file import read_log_blocks
from sweeper.runlog_grammar import (
    LogEvent,
    ScoreEvent,
    SizeEvent,
    StopEvent,
    TrainEvent,
    ValEvent,
    classify,
    file_seed,
    strip_timestamp,
)

ARTIFACT_CAP_BYTES = 16_000_000
FAILED_EVAL_MARGIN_BPB = 0.05  # a later score this much worse than an earlier one is a failed eval
MAX_LINE_CHARS = 64 * 1024  # longer lines are cut: no log line is this long, and memory stays bounded
MAX_CURVE_POINTS = 4096  # a curve longer than this keeps every 2nd, 4th, ... point (bounded memory)
# The `pgolf log --json` contract: exactly these keys, in this order.
SUMMARY_KEYS = ("file", "seed", "label", "val_loss", "val_bpb", "eval_time_ms", "artifact_bytes", "code_bytes",
                "model_bytes", "train_time_ms", "steps", "step_avg_ms", "runs", "warnings")


class TrainPoint(BaseModel):
    step: int
    train_loss: float
    train_time_ms: float | None = None


class ValPoint(BaseModel):
    step: int
    val_loss: float
    val_bpb: float
    train_time_ms: float | None = None


class RunResult(BaseModel):
    """What one log says about its official (last) run. None wherever the log does not say."""

    file: str | None = None
    seed: int | None = None
    label: str | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    eval_time_ms: float | None = None
    artifact_bytes: int | None = None
    code_bytes: int | None = None
    model_bytes: int | None = None
    train_time_ms: float | None = None
    steps: int | None = None
    total_steps: int | None = None
    step_avg_ms: float | None = None
    runs: int = 0
    warnings: list[str] = Field(default_factory=list)
    val_tokens: int | None = None
    stopped_early: bool = False
    train_curve: list[TrainPoint] = Field(default_factory=list)
    val_curve: list[ValPoint] = Field(default_factory=list)
    nan_loss: bool = False
    total_eval_time_s: float | None = None

    def summary(self) -> dict[str, Any]:
        """The `pgolf log --json` object: exactly SUMMARY_KEYS, in that order."""
        return {key: getattr(self, key) for key in SUMMARY_KEYS}


@dataclass
class _Header:
    """Facts printed before training starts (they can arrive after the previous run ended)."""

    seeds: list[int] = field(default_factory=list)
    val_tokens: int | None = None


@dataclass
class _Curve:
    """Points of one curve in bounded memory: past MAX_CURVE_POINTS it keeps every `stride`-th point
    seen (the stride doubles each time it fills), plus always the latest point."""

    points: list[Any] = field(default_factory=list)
    stride: int = 1
    seen: int = 0
    latest: Any = None

    def add(self, point: Any) -> None:
        if self.seen % self.stride == 0:
            self.points.append(point)
            if len(self.points) > MAX_CURVE_POINTS:
                self.points = self.points[::2]
                self.stride *= 2
        self.seen += 1
        self.latest = point

    def all(self) -> list[Any]:
        """The kept points, ending with the latest one."""
        if self.latest is None or (self.points and self.points[-1] is self.latest):
            return list(self.points)
        return [*self.points, self.latest]


@dataclass
class _Run:
    header: _Header = field(default_factory=_Header)
    train: _Curve = field(default_factory=_Curve)
    val: _Curve = field(default_factory=_Curve)
    last_step: int | None = None
    total_steps: int | None = None
    last_train_time_ms: float | None = None
    last_step_avg: tuple[int, float] | None = None
    stop: StopEvent | None = None
    scores: list[ScoreEvent] = field(default_factory=list)
    sizes: list[SizeEvent] = field(default_factory=list)
    total_eval_time_s: float | None = None
    nan_loss: bool = False

    @property
    def ended(self) -> bool:
        return self.stop is not None or (self.last_step is not None and self.last_step == self.total_steps)

    @property
    def has_content(self) -> bool:
        return bool(self.last_step is not None or self.stop or self.scores or self.sizes or self.header.seeds
                    or self.header.val_tokens)


class LogParser:
    """Incremental parser. `feed(line)` takes complete lines; `feed_chunk(text)` takes any piece
    of a growing file and waits for each newline. `result()` may be called at any time."""

    def __init__(self, file: str | Path | None = None) -> None:
        self.file = None if file is None else str(file)
        self._run = _Run()  # the current run; earlier ones are only counted
        self._earlier_runs = 0
        self._pending = _Header()  # header lines seen after the current run ended
        self._partial = ""
        self._nul_chars = 0
        self._bad_chars = 0
        self._cut_lines = 0

    def feed(self, line: str) -> list[LogEvent]:
        """Parse one complete line (several if it holds newlines); returns what it recorded."""
        events: list[LogEvent] = []
        for part in line.split("\n"):
            events += self._parse(part)
        return events

    def feed_chunk(self, text: str) -> list[LogEvent]:
        """Parse any piece of a log; a line is parsed once its newline arrives (or at `result()`).
        At most MAX_LINE_CHARS + 1 characters of an unfinished line are held."""
        *complete, rest = text.split("\n")
        events: list[LogEvent] = []
        for piece in complete:
            events += self._parse(self._partial + piece[: MAX_LINE_CHARS + 1 - len(self._partial)])
            self._partial = ""
        self._partial += rest[: MAX_LINE_CHARS + 1 - len(self._partial)]
        return events

    def result(self) -> RunResult:
        """The run so far; an unfinished last line counts, without being consumed."""
        if not self._partial:
            return self._build()
        snapshot = copy.deepcopy(self)
        snapshot._parse(snapshot._partial)
        snapshot._partial = ""
        return snapshot._build()

    # ------------------------------------------------------------ one line
    def _parse(self, line: str) -> list[LogEvent]:
        if len(line) > MAX_LINE_CHARS:
            self._cut_lines += 1
            line = line[:MAX_LINE_CHARS]
        line = line.rstrip("\r")
        if "\x00" in line:
            self._nul_chars += line.count("\x00")
            line = line.replace("\x00", "")
        self._bad_chars += line.count("\ufffd")
        line = strip_timestamp(line)
        if not line.strip():
            return []
        meaning = classify(line)
        if meaning.seed is not None:
            seeds = self._current_header().seeds
            if meaning.seed not in seeds:  # a repeated seed line adds nothing (and no memory)
                seeds.append(meaning.seed)
        elif meaning.val_tokens is not None:
            self._current_header().val_tokens = meaning.val_tokens
        elif meaning.total_eval_s is not None:
            self._run.total_eval_time_s = meaning.total_eval_s
        for event in meaning.events:
            self._record(event)
        return list(meaning.events)

    def _current_header(self) -> _Header:
        return self._pending if self._run.ended else self._run.header

    def _record(self, event: LogEvent) -> None:
        run = self._run
        if isinstance(event, ScoreEvent):
            run.scores.append(event)
        elif isinstance(event, SizeEvent):
            run.sizes.append(event)
        elif isinstance(event, StopEvent):
            run.stop = event
        else:
            self._step(event)

    def _step(self, event: TrainEvent | ValEvent) -> None:
        run = self._run
        if run.last_step is not None and event.step < run.last_step:  # steps restart: a new run
            run = _Run(header=self._pending)
            self._pending = _Header()
            self._earlier_runs += 1
            self._run = run
        time_ms = event.train_time_ms
        if isinstance(event, ValEvent):
            run.val.add(ValPoint(step=event.step, val_loss=event.val_loss, val_bpb=event.val_bpb,
                                    train_time_ms=time_ms))
            run.nan_loss |= not (math.isfinite(event.val_loss) and math.isfinite(event.val_bpb))
        else:
            run.train.add(TrainPoint(step=event.step, train_loss=event.train_loss, train_time_ms=time_ms))
            run.nan_loss |= not math.isfinite(event.train_loss)
        run.last_step, run.total_steps = event.step, event.total
        if time_ms is not None:
            run.last_train_time_ms = time_ms
        if event.step_avg_ms is not None:
            run.last_step_avg = (event.step, event.step_avg_ms)

    # ------------------------------------------------------------ assembling the result
    def _build(self) -> RunResult:
        warnings: list[str] = []
        if self._nul_chars:
            warnings.append(f"{self._nul_chars} NUL characters ignored (binary or corrupted file?)")
        if self._bad_chars:
            warnings.append(f"{self._bad_chars} characters were not valid UTF-8 (binary or corrupted file?)")
        if self._cut_lines:
            warnings.append(f"{self._cut_lines} line(s) longer than {MAX_LINE_CHARS:,} characters were cut")
        run = self._run
        runs = self._earlier_runs + run.has_content
        if not runs:
            warnings.append("no Parameter Golf log lines found")
            return RunResult(file=self.file, seed=file_seed(self.file), warnings=warnings)
        if runs > 1:
            warnings.append(f"{runs} runs in this file; reporting the last")
        val_tokens = run.header.val_tokens or self._pending.val_tokens
        result = RunResult(file=self.file, runs=runs, val_tokens=val_tokens, stopped_early=run.stop is not None,
                           train_curve=run.train.all(), val_curve=run.val.all(), total_eval_time_s=run.total_eval_time_s)
        result.seed = self._seed(run, warnings)
        self._training(run, result, warnings)
        self._official_score(run, result, warnings)
        self._byte_counts(run, result, warnings)
        result.nan_loss = run.nan_loss or any(not math.isfinite(s.val_bpb) for s in run.scores)
        if result.nan_loss:
            warnings.append("NaN/inf loss in this run")
        result.warnings = warnings
        return result

    def _seed(self, run: _Run, warnings: list[str]) -> int | None:
        seeds = run.header.seeds or self._pending.seeds
        from_file = file_seed(self.file)
        if len(set(seeds)) > 1:
            warnings.append(f"seed lines disagree ({', '.join(map(str, dict.fromkeys(seeds)))}); using the first")
        if seeds and from_file is not None and from_file != seeds[0]:
            warnings.append(f"file name says seed {from_file} but the log says seed {seeds[0]}")
        return seeds[0] if seeds else from_file

    @staticmethod
    def _training(run: _Run, result: RunResult, warnings: list[str]) -> None:
        stop = run.stop
        result.steps = stop.step if stop and stop.step is not None else run.last_step
        result.total_steps = stop.total if stop and stop.total is not None else run.total_steps
        result.train_time_ms = stop.train_time_ms if stop else run.last_train_time_ms
        if run.last_step_avg and run.last_step_avg[0] == result.steps:
            result.step_avg_ms = run.last_step_avg[1]
        elif result.train_time_ms is not None and result.steps:
            result.step_avg_ms = round(result.train_time_ms / result.steps, 2)  # as printed: step_avg:%.2fms
        if run.last_step is not None and not run.ended:
            warnings.append(f"training stopped at step {run.last_step}/{run.total_steps} without a "
                            "stopping_early line (truncated or still running?)")

    @staticmethod
    def _official_score(run: _Run, result: RunResult, warnings: list[str]) -> None:
        candidates = [s for s in run.scores if not s.diagnostic]
        if not candidates:
            last = run.val.latest
            last_val = f" (last in-training val_bpb {last.val_bpb} at step {last.step})" if last else ""
            warnings.append(f"no final score line{last_val}")
            return
        chosen_at = 0
        for index, score in enumerate(candidates[1:], start=1):
            best_before = min((c.val_bpb for c in candidates[:index] if math.isfinite(c.val_bpb)), default=math.inf)
            if math.isfinite(score.val_bpb) and score.val_bpb <= best_before + FAILED_EVAL_MARGIN_BPB:
                chosen_at = index
        chosen = candidates[chosen_at]
        for skipped in candidates[chosen_at + 1 :]:
            warnings.append(f"ignored failed evaluation '{skipped.label}' val_bpb:{skipped.val_bpb} "
                            f"(worse than '{chosen.label}' val_bpb:{chosen.val_bpb})")
        twin = next((c for c in candidates if c is not chosen and _are_twins(chosen, c)), None)
        exact = twin if twin and "_exact" in twin.label and "_exact" not in chosen.label else chosen
        result.label, result.val_loss, result.val_bpb = exact.label, exact.val_loss, exact.val_bpb
        result.eval_time_ms = chosen.eval_time_ms
        if result.eval_time_ms is None and twin is not None:
            result.eval_time_ms = twin.eval_time_ms

    @staticmethod
    def _byte_counts(run: _Run, result: RunResult, warnings: list[str]) -> None:
        artifacts, models, codes = ([s for s in run.sizes if s.what == k] for k in ("artifact", "model", "code"))
        result.artifact_bytes = _last_bytes([s for s in artifacts if not s.raw], artifacts)
        result.model_bytes = _last_bytes([s for s in models if not s.raw], models)
        result.code_bytes = _last_bytes([s for s in codes if s.compressed], codes)
        megabytes_only = [s for s in artifacts if s.bytes is None]
        if result.artifact_bytes is None and megabytes_only:
            warnings.append(f"artifact size given only in MB ({megabytes_only[-1].megabytes} MB); bytes unknown")
        elif result.artifact_bytes is None and (run.scores or run.stop):
            warnings.append("no artifact size line")
        if result.artifact_bytes is not None and result.artifact_bytes > ARTIFACT_CAP_BYTES:
            warnings.append(f"artifact {result.artifact_bytes} bytes exceeds the {ARTIFACT_CAP_BYTES:,}-byte cap")


def _last_bytes(*groups: list[SizeEvent]) -> int | None:
    """The last known byte count in the first group that has one (labelled lines before raw ones)."""
    for group in groups:
        known = [s.bytes for s in group if s.bytes is not None]
        if known:
            return known[-1]
    return None


def _are_twins(a: ScoreEvent, b: ScoreEvent) -> bool:
    """`final_x` and `final_x_exact` (same eval printed at 4 and 8 decimals)."""
    if a.label.replace("_exact", "") != b.label.replace("_exact", ""):
        return False
    coarse = min(_decimals(a.val_bpb), _decimals(b.val_bpb))
    return abs(a.val_bpb - b.val_bpb) <= 0.5 * 10.0**-coarse + 1e-12


def _decimals(number: float) -> int:
    text = repr(number)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def parse_lines(lines: Iterable[str], file: str | Path | None = None) -> RunResult:
    """Parse complete log lines (with or without their newlines)."""
    parser = LogParser(file)
    for line in lines:
        parser.feed(line.removesuffix("\n"))
    return parser.result()


def parse_log(path: str | Path) -> RunResult:
    """Parse a log file in bounded memory; undecodable bytes become warnings. Raises LogParseError
    (one line) for a missing file, anything but a regular file (directory, FIFO, device), or a
    binary file."""
    path = Path(path)
    parser = LogParser(path)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for block in read_log_blocks(path):
        parser.feed_chunk(decoder.decode(block))
    parser.feed_chunk(decoder.decode(b"", final=True))
    return parser.result()


__all__ = ["SUMMARY_KEYS", "LogEvent", "LogParser", "RunResult", "ScoreEvent", "SizeEvent", "StopEvent", "TrainEvent",
           "TrainPoint", "ValEvent", "ValPoint", "parse_lines", "parse_log"]
