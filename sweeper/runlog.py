"""Parameter Golf train-log parser: ours and every official record's log -> `RunResult`.

The grammar is the one measured over all official records (shared/docs/log-formats.md): only
column-0 lines count (a copy of the training script often precedes the log), an optional unix
timestamp may prefix each line, and a file can hold several runs of which the last is official.
The official score is the last non-diagnostic `<label> val_loss:X val_bpb:Y` line of that run,
except that a trailing evaluation far worse than an earlier one (a diverged TTT pass) is skipped
with a warning, and an `_exact` (8-decimal) twin replaces its rounded line.

`LogParser` is incremental (`feed` one line, or `feed_chunk` any piece of a growing file) and
gives the same result as `parse_lines`/`parse_log` over the whole text. Content never raises:
whatever looks wrong becomes a line in `RunResult.warnings`.
"""

from __future__ import annotations

import codecs
import copy
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from sweeper.errors import LogParseError

ARTIFACT_CAP_BYTES = 16_000_000
FAILED_EVAL_MARGIN_BPB = 0.05  # a later score this much worse than an earlier one is a failed eval
# The `pgolf log --json` contract: exactly these keys, in this order.
SUMMARY_KEYS = (
    "file",
    "seed",
    "label",
    "val_loss",
    "val_bpb",
    "eval_time_ms",
    "artifact_bytes",
    "code_bytes",
    "model_bytes",
    "train_time_ms",
    "steps",
    "step_avg_ms",
    "runs",
    "warnings",
)


class TrainEvent(BaseModel):
    kind: Literal["train"] = "train"
    step: int
    total: int
    train_loss: float
    train_time_ms: float | None = None
    step_avg_ms: float | None = None


class ValEvent(BaseModel):
    """An in-training validation (`step:N/M val_loss:X val_bpb:Y`): never the official score."""

    kind: Literal["val"] = "val"
    step: int
    total: int
    val_loss: float
    val_bpb: float
    train_time_ms: float | None = None
    step_avg_ms: float | None = None


class ScoreEvent(BaseModel):
    """A post-training `<label> val_loss:X val_bpb:Y` line; diagnostics can never be the score."""

    kind: Literal["score"] = "score"
    label: str
    val_loss: float
    val_bpb: float
    eval_time_ms: float | None = None
    diagnostic: bool = False


class SizeEvent(BaseModel):
    """A byte count. `raw` marks the unlabelled `Total submission size:` / `Serialized model:` lines
    (usually the fp checkpoint); `bytes` is None when the log gives megabytes only."""

    kind: Literal["size"] = "size"
    what: Literal["artifact", "code", "model"]
    bytes: int | None
    label: str | None = None
    raw: bool = False
    compressed: bool | None = None
    megabytes: float | None = None


class StopEvent(BaseModel):
    kind: Literal["stop"] = "stop"
    reason: str | None
    train_time_ms: float
    step: int | None = None
    total: int | None = None


LogEvent = Annotated[TrainEvent | ValEvent | ScoreEvent | SizeEvent | StopEvent, Field(discriminator="kind")]


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


# ---------------------------------------------------------------- line grammar
_NUM = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|(?i:nan|inf))"
_TIMESTAMP = re.compile(r"^\d{10}(?:\.\d+)?[ \t]")
_STEP = re.compile(r"^(?:step:\s*)?(\d+)/(\d+)\s+(.*)$")
_STEP_VAL = re.compile(rf"^val_loss[:=]\s*({_NUM})\s+val_bpb[:=]\s*({_NUM})")
_STEP_TRAIN = re.compile(rf"(?:^|\s)(?:train_)?loss[:=]\s*({_NUM})")
_TRAIN_TIME = re.compile(r"\b(?:train_time|t):\s*([\d.]+)(ms|m|s)\b")
_STEP_AVG = re.compile(r"\b(?:step_avg|avg):\s*([\d.]+)ms")
_METRIC = re.compile(
    rf"^([A-Za-z]\S*(?:\s+\S+)*?)\s+val_loss[:=]\s*({_NUM})\s+(?:[A-Za-z_]+\s+)?val_bpb[:=]\s*({_NUM})(.*)$"
)
_EVAL_TIME = re.compile(r"(?<![A-Za-z])(?:eval_)?time[:=]\s*([\d.]+)ms")
_ELAPSED = re.compile(r"\belapsed[:=]\s*([\d.]+)s\b")
_DIAGNOSTIC = re.compile(
    r"^(?:diagnostic|pre[-_]?quant)|post[-_](?:ema|swa)|prequant|\bT1\.0$", re.IGNORECASE
)
_STOP = re.compile(r"^stopping_early:\s*([A-Za-z_]+)?\s*train_time:\s*([\d.]+)ms(?:\s+step:\s*(\d+)/(\d+))?")
_TOTAL = re.compile(r"^Total submission size(?: ([^:]+?))?:\s*(\d+) bytes")
_PIPE_TOTAL = re.compile(r"^(?:(\S+) model:\s*(\d+) bytes)?.*\|\s*Total submission:\s*(\d+) bytes")
_BUDGET = re.compile(r"^budget:\s*(\d+)/\d+")
_MB_ONLY = re.compile(r"^(\S+):\s*[\d.]+MB model \+ [\d.]+MB code = ([\d.]+)/[\d.]+MB")
_CODE = re.compile(r"^Code(?: size)?(?: \((uncompressed|compressed)\))?:\s*(\d+) bytes")
_ARTIFACT_CODE = re.compile(r"^artifact:.*\bcode:(\d+)")
_MODEL = re.compile(r"^Serialized model(?: ([^:]+?))?:\s*(\d+) bytes")
_SEED = re.compile(r"^seed:\s*(\d+)\b")
_SEED_DUMP = re.compile(r"^\s+seed:\s*(\d+)\s*$")
_SEED_KV = re.compile(r"(?:^|\s)seed=(\d+)(?=\s|$)")
_SEED_SHORT = re.compile(r"\ss:(\d+)\s*$")
_SEED_FILE = re.compile(r"(?:seed[_-]?|_s|log_)(\d+)", re.IGNORECASE)
_VAL_TOKENS = re.compile(r"^(?:val_loader:.*\btokens:|val_tokens:)\s*(\d+)")
_TOTAL_EVAL = re.compile(r"^total_eval_time:\s*([\d.]+)s")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _decimals(number: float) -> int:
    text = repr(number)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


@dataclass
class _Header:
    """Facts printed before training starts (they can arrive after the previous run ended)."""

    seeds: list[int] = field(default_factory=list)
    val_tokens: int | None = None


@dataclass
class _Run:
    header: _Header = field(default_factory=_Header)
    train: list[TrainPoint] = field(default_factory=list)
    val: list[ValPoint] = field(default_factory=list)
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
        return bool(
            self.last_step is not None
            or self.stop
            or self.scores
            or self.sizes
            or self.header.seeds
            or self.header.val_tokens
        )


class LogParser:
    """Incremental parser. `feed(line)` takes complete lines; `feed_chunk(text)` takes any piece
    of a growing file and waits for each newline. `result()` may be called at any time."""

    def __init__(self, file: str | Path | None = None) -> None:
        self.file = None if file is None else str(file)
        self._runs: list[_Run] = [_Run()]
        self._pending = _Header()  # header lines seen after the current run ended
        self._partial = ""
        self._nul_chars = 0
        self._bad_chars = 0

    def feed(self, line: str) -> list[LogEvent]:
        """Parse one complete line (several if it holds newlines); returns what it recorded."""
        events: list[LogEvent] = []
        for part in line.split("\n"):
            events += self._parse(part)
        return events

    def feed_chunk(self, text: str) -> list[LogEvent]:
        """Parse any piece of a log; a line is parsed once its newline arrives (or at `result()`)."""
        *complete, self._partial = (self._partial + text).split("\n")
        events: list[LogEvent] = []
        for line in complete:
            events += self._parse(line)
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
        line = line.rstrip("\r")
        if "\x00" in line:
            self._nul_chars += line.count("\x00")
            line = line.replace("\x00", "")
        self._bad_chars += line.count("\ufffd")
        line = _TIMESTAMP.sub("", line, count=1)
        if not line.strip():
            return []
        run = self._runs[-1]
        if line[0].isspace():  # only a hyper-parameter dump's `  seed: N` is read off column 0
            if m := _SEED_DUMP.match(line):
                self._current_header().seeds.append(int(m.group(1)))
            return []
        if m := _STEP.match(line):
            return self._step(int(m.group(1)), int(m.group(2)), m.group(3))
        if "val_loss" in line and (m := _METRIC.match(line)):
            return [self._score(run, m.group(1), float(m.group(2)), float(m.group(3)), m.group(4))]
        if m := _STOP.match(line):
            step = int(m.group(3)) if m.group(3) else None
            total = int(m.group(4)) if m.group(4) else None
            run.stop = StopEvent(reason=m.group(1), train_time_ms=float(m.group(2)), step=step, total=total)
            return [run.stop]
        sizes = self._sizes(line)
        if sizes:
            run.sizes += sizes
            return list(sizes)
        self._facts(line)
        return []

    def _current_header(self) -> _Header:
        return self._pending if self._runs[-1].ended else self._runs[-1].header

    def _step(self, step: int, total: int, body: str) -> list[LogEvent]:
        time = _TRAIN_TIME.search(body)
        avg = _STEP_AVG.search(body)
        time_ms = _ms(*time.groups()) if time else None
        avg_ms = float(avg.group(1)) if avg else None
        event: TrainEvent | ValEvent
        if m := _STEP_VAL.match(body):
            event = ValEvent(
                step=step,
                total=total,
                val_loss=float(m.group(1)),
                val_bpb=float(m.group(2)),
                train_time_ms=time_ms,
                step_avg_ms=avg_ms,
            )
        elif m := _STEP_TRAIN.search(body):
            event = TrainEvent(
                step=step,
                total=total,
                train_loss=float(m.group(1)),
                train_time_ms=time_ms,
                step_avg_ms=avg_ms,
            )
        else:
            return []
        run = self._runs[-1]
        if run.last_step is not None and step < run.last_step:  # steps restart: a new run
            run = _Run(header=self._pending)
            self._pending = _Header()
            self._runs.append(run)
        if isinstance(event, ValEvent):
            run.val.append(
                ValPoint(step=step, val_loss=event.val_loss, val_bpb=event.val_bpb, train_time_ms=time_ms)
            )
            run.nan_loss |= not (math.isfinite(event.val_loss) and math.isfinite(event.val_bpb))
        else:
            run.train.append(TrainPoint(step=step, train_loss=event.train_loss, train_time_ms=time_ms))
            run.nan_loss |= not math.isfinite(event.train_loss)
        run.last_step, run.total_steps = step, total
        if time_ms is not None:
            run.last_train_time_ms = time_ms
        if avg_ms is not None:
            run.last_step_avg = (step, avg_ms)
        return [event]

    @staticmethod
    def _score(run: _Run, label: str, loss: float, bpb: float, rest: str) -> ScoreEvent:
        label = " ".join(label.split())
        time = _EVAL_TIME.search(rest)
        elapsed = _ELAPSED.search(rest)
        eval_ms = float(time.group(1)) if time else (float(elapsed.group(1)) * 1000 if elapsed else None)
        event = ScoreEvent(
            label=label,
            val_loss=loss,
            val_bpb=bpb,
            eval_time_ms=eval_ms,
            diagnostic=bool(_DIAGNOSTIC.search(label)),
        )
        run.scores.append(event)
        return event

    @staticmethod
    def _sizes(line: str) -> list[SizeEvent]:
        if m := _TOTAL.match(line):
            return [
                SizeEvent(what="artifact", bytes=int(m.group(2)), label=m.group(1), raw=m.group(1) is None)
            ]
        if m := _MODEL.match(line):
            return [SizeEvent(what="model", bytes=int(m.group(2)), label=m.group(1), raw=m.group(1) is None)]
        if m := _CODE.match(line):
            kind = m.group(1)
            return [
                SizeEvent(
                    what="code",
                    bytes=int(m.group(2)),
                    compressed=None if kind is None else kind == "compressed",
                )
            ]
        if m := _PIPE_TOTAL.match(line):
            total = SizeEvent(what="artifact", bytes=int(m.group(3)), label=m.group(1))
            model = [SizeEvent(what="model", bytes=int(m.group(2)), label=m.group(1))] if m.group(2) else []
            return model + [total]
        if m := _BUDGET.match(line):
            return [SizeEvent(what="artifact", bytes=int(m.group(1)), label="budget")]
        if m := _MB_ONLY.match(line):
            return [SizeEvent(what="artifact", bytes=None, label=m.group(1), megabytes=float(m.group(2)))]
        if m := _ARTIFACT_CODE.match(line):
            return [SizeEvent(what="code", bytes=int(m.group(1)))]
        return []

    def _facts(self, line: str) -> None:
        if m := _SEED.match(line) or _SEED_KV.search(line) or _SEED_SHORT.search(line):
            self._current_header().seeds.append(int(m.group(1)))
        elif m := _VAL_TOKENS.match(line):
            self._current_header().val_tokens = int(m.group(1))
        elif m := _TOTAL_EVAL.match(line):
            self._runs[-1].total_eval_time_s = float(m.group(1))

    # ------------------------------------------------------------ assembling the result
    def _build(self) -> RunResult:
        warnings: list[str] = []
        if self._nul_chars:
            warnings.append(f"{self._nul_chars} NUL characters ignored (binary or corrupted file?)")
        if self._bad_chars:
            warnings.append(f"{self._bad_chars} characters were not valid UTF-8 (binary or corrupted file?)")
        runs = [run for run in self._runs if run.has_content]
        if not runs:
            warnings.append("no Parameter Golf log lines found")
            return RunResult(file=self.file, seed=self._file_seed(), warnings=warnings)
        run = runs[-1]
        if len(runs) > 1:
            warnings.append(f"{len(runs)} runs in this file; reporting the last")
        result = RunResult(
            file=self.file,
            runs=len(runs),
            val_tokens=run.header.val_tokens or self._pending.val_tokens,
            stopped_early=run.stop is not None,
            train_curve=run.train,
            val_curve=run.val,
            total_eval_time_s=run.total_eval_time_s,
        )
        result.seed = self._seed(run, warnings)
        self._training(run, result, warnings)
        self._official_score(run, result, warnings)
        self._byte_counts(run, result, warnings)
        result.nan_loss = run.nan_loss or any(not math.isfinite(s.val_bpb) for s in run.scores)
        if result.nan_loss:
            warnings.append("NaN/inf loss in this run")
        result.warnings = warnings
        return result

    def _file_seed(self) -> int | None:
        m = _SEED_FILE.search(Path(self.file).stem) if self.file else None
        return int(m.group(1)) if m else None

    def _seed(self, run: _Run, warnings: list[str]) -> int | None:
        seeds = run.header.seeds or self._pending.seeds
        from_file = self._file_seed()
        if len(set(seeds)) > 1:
            warnings.append(
                f"seed lines disagree ({', '.join(map(str, dict.fromkeys(seeds)))}); using the first"
            )
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
            warnings.append(
                f"training stopped at step {run.last_step}/{run.total_steps} without a "
                "stopping_early line (truncated or still running?)"
            )

    @staticmethod
    def _official_score(run: _Run, result: RunResult, warnings: list[str]) -> None:
        candidates = [s for s in run.scores if not s.diagnostic]
        if not candidates:
            last_val = (
                f" (last in-training val_bpb {run.val[-1].val_bpb} at step {run.val[-1].step})"
                if run.val
                else ""
            )
            warnings.append(f"no final score line{last_val}")
            return
        chosen_at = 0
        for index, score in enumerate(candidates[1:], start=1):
            best_before = min(
                (c.val_bpb for c in candidates[:index] if math.isfinite(c.val_bpb)), default=math.inf
            )
            if math.isfinite(score.val_bpb) and score.val_bpb <= best_before + FAILED_EVAL_MARGIN_BPB:
                chosen_at = index
        chosen = candidates[chosen_at]
        for skipped in candidates[chosen_at + 1 :]:
            warnings.append(
                f"ignored failed evaluation '{skipped.label}' val_bpb:{skipped.val_bpb} "
                f"(worse than '{chosen.label}' val_bpb:{chosen.val_bpb})"
            )
        twin = next((c for c in candidates if c is not chosen and _are_twins(chosen, c)), None)
        exact = twin if twin and "_exact" in twin.label and "_exact" not in chosen.label else chosen
        result.label, result.val_loss, result.val_bpb = exact.label, exact.val_loss, exact.val_bpb
        result.eval_time_ms = chosen.eval_time_ms
        if result.eval_time_ms is None and twin is not None:
            result.eval_time_ms = twin.eval_time_ms

    @staticmethod
    def _byte_counts(run: _Run, result: RunResult, warnings: list[str]) -> None:
        artifacts, models, codes = (
            [s for s in run.sizes if s.what == what] for what in ("artifact", "model", "code")
        )
        result.artifact_bytes = _last_bytes([s for s in artifacts if not s.raw], artifacts)
        result.model_bytes = _last_bytes([s for s in models if not s.raw], models)
        result.code_bytes = _last_bytes([s for s in codes if s.compressed], codes)
        megabytes_only = [s for s in artifacts if s.bytes is None]
        if result.artifact_bytes is None and megabytes_only:
            warnings.append(
                f"artifact size given only in MB ({megabytes_only[-1].megabytes} MB); bytes unknown"
            )
        elif result.artifact_bytes is None and (run.scores or run.stop):
            warnings.append("no artifact size line")
        if result.artifact_bytes is not None and result.artifact_bytes > ARTIFACT_CAP_BYTES:
            warnings.append(
                f"artifact {result.artifact_bytes} bytes exceeds the {ARTIFACT_CAP_BYTES:,}-byte cap"
            )


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


def parse_lines(lines: Iterable[str], file: str | Path | None = None) -> RunResult:
    """Parse complete log lines (with or without their newlines)."""
    parser = LogParser(file)
    for line in lines:
        parser.feed(line.removesuffix("\n"))
    return parser.result()


def parse_log(path: str | Path) -> RunResult:
    """Parse a log file; undecodable bytes become warnings. Raises LogParseError if unreadable."""
    path = Path(path)
    parser = LogParser(path)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                parser.feed_chunk(decoder.decode(block))
    except FileNotFoundError:
        raise LogParseError(f"cannot read log {path}: no such file") from None
    except IsADirectoryError:
        raise LogParseError(f"cannot read log {path}: it is a directory") from None
    except OSError as exc:
        raise LogParseError(f"cannot read log {path}: {exc.strerror or exc}") from None
    parser.feed_chunk(decoder.decode(b"", final=True))
    return parser.result()


__all__ = [
    "LogEvent",
    "LogParser",
    "RunResult",
    "ScoreEvent",
    "SizeEvent",
    "StopEvent",
    "TrainEvent",
    "TrainPoint",
    "ValEvent",
    "ValPoint",
    "parse_lines",
    "parse_log",
]
