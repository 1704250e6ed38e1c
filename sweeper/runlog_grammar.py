"""The Parameter Golf log grammar: what one line of a train log says, as events and facts.

Measured over all official records (shared/docs/log-formats.md). Pure and stateless:
`strip_timestamp` drops the optional unix-timestamp prefix, `classify` turns one line into its `LineMeaning`
(events: a training step, an in-training validation, a score line, byte counts, an early stop;
or a header fact: seed, validation tokens, total eval time). Which run a line belongs to and which
score is official is `sweeper.runlog.LogParser`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field


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


@dataclass(frozen=True)
class LineMeaning:
    """What one line says: events it records, or one header fact (all empty: nothing we read)."""

    events: tuple[TrainEvent | ValEvent | ScoreEvent | SizeEvent | StopEvent, ...] = ()
    seed: int | None = None
    val_tokens: int | None = None
    total_eval_s: float | None = None


NOTHING = LineMeaning()

_NUM = r"[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|(?i:nan|inf))"
_POS = r"\d+(?:\.\d*)?|\.\d+"  # a non-negative decimal (never `1.2.3`, which float() refuses)
_TIMESTAMP = re.compile(r"^\d{10}(?:\.\d+)?[ \t]")
_STEP = re.compile(r"^(?:step:\s*)?(\d+)/(\d+)\s+(.*)$")
_STEP_VAL = re.compile(rf"^val_loss[:=]\s*({_NUM})\s+val_bpb[:=]\s*({_NUM})")
_STEP_TRAIN = re.compile(rf"(?:^|\s)(?:train_)?loss[:=]\s*({_NUM})")
_TRAIN_TIME = re.compile(rf"\b(?:train_time|t):\s*({_POS})(ms|m|s)\b")
_STEP_AVG = re.compile(rf"\b(?:step_avg|avg):\s*({_POS})ms")
_METRIC = re.compile(
    rf"^([A-Za-z]\S*(?:\s+\S+)*?)\s+val_loss[:=]\s*({_NUM})\s+(?:[A-Za-z_]+\s+)?val_bpb[:=]\s*({_NUM})(.*)$"
)
_EVAL_TIME = re.compile(rf"(?<![A-Za-z])(?:eval_)?time[:=]\s*({_POS})ms")
_ELAPSED = re.compile(rf"\belapsed[:=]\s*({_POS})s\b")
_DIAGNOSTIC = re.compile(
    r"^(?:diagnostic|pre[-_]?quant)|post[-_](?:ema|swa)|prequant|\bT1\.0$", re.IGNORECASE
)
_STOP = re.compile(rf"^stopping_early:\s*([A-Za-z_]+)?\s*train_time:\s*({_POS})ms(?:\s+step:\s*(\d+)/(\d+))?")
_TOTAL = re.compile(r"^Total submission size(?: ([^:]+?))?:\s*(\d+) bytes")
_PIPE_TOTAL = re.compile(r"^(?:(\S+) model:\s*(\d+) bytes)?.*\|\s*Total submission:\s*(\d+) bytes")
_BUDGET = re.compile(r"^budget:\s*(\d+)/\d+")
_MB_ONLY = re.compile(rf"^(\S+):\s*[\d.]+MB model \+ [\d.]+MB code = ({_POS})/[\d.]+MB")
_CODE = re.compile(r"^Code(?: size)?(?: \((uncompressed|compressed)\))?:\s*(\d+) bytes")
_ARTIFACT_CODE = re.compile(r"^artifact:.*\bcode:(\d+)")
_MODEL = re.compile(r"^Serialized model(?: ([^:]+?))?:\s*(\d+) bytes")
_SEED = re.compile(r"^seed:\s*(\d+)\b")
_SEED_DUMP = re.compile(r"^\s+seed:\s*(\d+)\s*$")
_SEED_KV = re.compile(r"(?:^|\s)seed=(\d+)(?=\s|$)")
_SEED_SHORT = re.compile(r"\ss:(\d+)\s*$")
_SEED_FILE = re.compile(r"(?:seed[_-]?|_s|log_)(\d+)", re.IGNORECASE)
_VAL_TOKENS = re.compile(r"^(?:val_loader:.*\btokens:|val_tokens:)\s*(\d+)")
_TOTAL_EVAL = re.compile(rf"^total_eval_time:\s*({_POS})s")


def strip_timestamp(line: str) -> str:
    """The line without the optional unix-timestamp prefix some records print."""
    return _TIMESTAMP.sub("", line, count=1)


def classify(line: str) -> LineMeaning:
    """What one non-blank line (timestamp stripped) says. Only column-0 lines count (a copy of the training
    script often precedes the log), except a hyper-parameter dump's indented `  seed: N`."""
    if line[0].isspace():
        m = _SEED_DUMP.match(line)
        return LineMeaning(seed=int(m.group(1))) if m else NOTHING
    if m := _STEP.match(line):
        event = _step_event(int(m.group(1)), int(m.group(2)), m.group(3))
        return LineMeaning(events=(event,)) if event else NOTHING
    if "val_loss" in line and (m := _METRIC.match(line)):
        return LineMeaning(events=(_score_event(m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)),))
    if m := _STOP.match(line):
        step = int(m.group(3)) if m.group(3) else None
        total = int(m.group(4)) if m.group(4) else None
        return LineMeaning(events=(StopEvent(reason=m.group(1), train_time_ms=float(m.group(2)), step=step,
                                             total=total),))
    sizes = _size_events(line)
    if sizes:
        return LineMeaning(events=tuple(sizes))
    if m := _SEED.match(line) or _SEED_KV.search(line) or _SEED_SHORT.search(line):
        return LineMeaning(seed=int(m.group(1)))
    if m := _VAL_TOKENS.match(line):
        return LineMeaning(val_tokens=int(m.group(1)))
    if m := _TOTAL_EVAL.match(line):
        return LineMeaning(total_eval_s=float(m.group(1)))
    return NOTHING


def file_seed(file: str | None) -> int | None:
    """The seed a log's file name carries (`train_seed42.log`, `log_1337.txt`, ...)."""
    m = _SEED_FILE.search(Path(file).stem) if file else None
    return int(m.group(1)) if m else None


def _ms(value: str, unit: str) -> float:
    return float(value) * {"ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _step_event(step: int, total: int, body: str) -> TrainEvent | ValEvent | None:
    time = _TRAIN_TIME.search(body)
    avg = _STEP_AVG.search(body)
    time_ms = _ms(*time.groups()) if time else None
    avg_ms = float(avg.group(1)) if avg else None
    if m := _STEP_VAL.match(body):
        return ValEvent(step=step, total=total, val_loss=float(m.group(1)), val_bpb=float(m.group(2)),
                        train_time_ms=time_ms, step_avg_ms=avg_ms)
    if m := _STEP_TRAIN.search(body):
        return TrainEvent(step=step, total=total, train_loss=float(m.group(1)), train_time_ms=time_ms,
                          step_avg_ms=avg_ms)
    return None


def _score_event(label: str, loss: float, bpb: float, rest: str) -> ScoreEvent:
    label = " ".join(label.split())
    time = _EVAL_TIME.search(rest)
    elapsed = _ELAPSED.search(rest)
    eval_ms = float(time.group(1)) if time else (float(elapsed.group(1)) * 1000 if elapsed else None)
    return ScoreEvent(label=label, val_loss=loss, val_bpb=bpb, eval_time_ms=eval_ms,
                      diagnostic=bool(_DIAGNOSTIC.search(label)))


def _size_events(line: str) -> list[SizeEvent]:
    if m := _TOTAL.match(line):
        return [SizeEvent(what="artifact", bytes=int(m.group(2)), label=m.group(1), raw=m.group(1) is None)]
    if m := _MODEL.match(line):
        return [SizeEvent(what="model", bytes=int(m.group(2)), label=m.group(1), raw=m.group(1) is None)]
    if m := _CODE.match(line):
        kind = m.group(1)
        compressed = None if kind is None else kind == "compressed"
        return [SizeEvent(what="code", bytes=int(m.group(2)), compressed=compressed)]
    if m := _PIPE_TOTAL.match(line):
        total = SizeEvent(what="artifact", bytes=int(m.group(3)), label=m.group(1))
        model = [SizeEvent(what="model", bytes=int(m.group(2)), label=m.group(1))] if m.group(2) else []
        return [*model, total]
    if m := _BUDGET.match(line):
        return [SizeEvent(what="artifact", bytes=int(m.group(1)), label="budget")]
    if m := _MB_ONLY.match(line):
        return [SizeEvent(what="artifact", bytes=None, label=m.group(1), megabytes=float(m.group(2)))]
    if m := _ARTIFACT_CODE.match(line):
        return [SizeEvent(what="code", bytes=int(m.group(1)))]
    return []
