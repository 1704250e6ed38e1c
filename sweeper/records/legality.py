"""Legality warnings read from a run's own log lines, the wallclock of its evaluations, and an
artifact size given in MB only.

One pass over the lines feeds `runlog.LogParser` (so each log is read once) and watches the
official (last) run for what the rules forbid (shared/docs/rules.md); the markers are listed in
docs/ARCHITECTURE.md:
* GPTQ calibration on training data after the wallclock stop, with no reserve line
  (`gptq:calibrating with training data` after `stopping_early`, no `gptq:reserving`);
* a second scoring pass after test-time training (a score after a TTT score that is not a reprint
  of the same numbers, e.g. `final_ttt_T0.98` after `final_ttt`);
* validation data read during training or calibration (`data_isolation: validation data read
  during <phase>`, or a training-phase line saying it trains / calibrates on validation data);
* EMA vs SWA chosen by validation score (`post_ema` and `post_swa` scores, then `best_averaging`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sweeper.records.verdict import Finding
from sweeper.runlog import LogParser, RunResult, ScoreEvent, SizeEvent, StopEvent, TrainEvent, ValEvent

_PREFIX = r"^(?:\d{10}(?:\.\d+)?[ \t])?"  # optional unix timestamp, as in the official logs
_RESERVE = re.compile(_PREFIX + r"(?:gptq:\s*reserv|.*\bgptq_reserve)", re.IGNORECASE)
_CALIBRATE_TRAIN = re.compile(_PREFIX + r"\S*(?:gptq|calib)\S*.*calibrat\w*.*\btrain", re.IGNORECASE)
_BEST_AVERAGING = re.compile(_PREFIX + r"best_averaging\b")
_MARKER = re.compile(_PREFIX + r"data_isolation:\s*validation data read during (\S+)")
_VAL_IN_TRAINING = re.compile(
    _PREFIX + r"(?!.*\bno val).*\b(?:train|calibrat|select|tun)\w*\b.*\b(?:on|with|using|from) (?:the )?"
    r"val(?:idation)?[ _](?:data|tokens|set|split)\b", re.IGNORECASE)


@dataclass
class LogScan:
    """What one log tells beyond its RunResult: legality findings and post-training eval time."""

    result: RunResult
    findings: list[Finding] = field(default_factory=list)
    eval_ms: float | None = None
    artifact_megabytes: float | None = None  # when the log gives the artifact size in MB only


@dataclass
class _Official:
    """State of the run being read; reset when a new run starts."""

    stopped: bool = False
    last_step: int = -1
    scores: list[ScoreEvent] = field(default_factory=list)
    megabytes: float | None = None
    calibrated_after_stop: str | None = None
    averaging_choice: str | None = None


def scan_lines(lines: Iterable[str], file: str) -> LogScan:
    """Parse the log and check the official run's lines for legality problems."""
    parser = LogParser(file)
    run = _Official()
    reserve = False
    early: list[Finding] = []  # findings about training of any run in the file (conservative)
    for raw in lines:
        line = raw.rstrip("\n")
        for event in parser.feed(line):
            run = _track(run, event)
        if not line or line[0].isspace():
            continue
        reserve = reserve or bool(_RESERVE.match(line))
        if run.stopped and _CALIBRATE_TRAIN.match(line):
            run.calibrated_after_stop = run.calibrated_after_stop or line.strip()
        if _BEST_AVERAGING.match(line):
            run.averaging_choice = line.strip()
        if m := _MARKER.match(line):
            early.append(_finding("val_data_in_training", f"validation data read during {m.group(1)}", file, line))
        elif _VAL_IN_TRAINING.match(line) and (not run.stopped or "calibrat" in line.lower()):
            early.append(_finding("val_data_in_training", "validation data used before evaluation", file, line))
    result = parser.result()
    findings = early + _official_findings(run, reserve, file)
    for finding in findings:
        finding.seed = result.seed
    eval_ms = result.total_eval_time_s * 1000.0 if result.total_eval_time_s is not None else _eval_ms(run.scores)
    return LogScan(result=result, findings=findings, eval_ms=eval_ms, artifact_megabytes=run.megabytes)


def _track(run: _Official, event: object) -> _Official:
    if isinstance(event, TrainEvent | ValEvent):
        if event.step < run.last_step:  # steps restarted: a new run, the previous one was not official
            run = _Official()
        run.last_step = event.step
        if event.step == event.total and not run.stopped:
            run.stopped, run.scores = True, []
    elif isinstance(event, StopEvent):
        run.stopped, run.scores = True, []
    elif isinstance(event, ScoreEvent) and run.stopped:
        run.scores.append(event)
    elif isinstance(event, SizeEvent) and event.what == "artifact" and event.megabytes is not None:
        run.megabytes = event.megabytes
    return run


def _official_findings(run: _Official, reserve: bool, file: str) -> list[Finding]:
    findings = []
    if run.calibrated_after_stop and not reserve:
        findings.append(_finding(
            "calibration_after_cap", "GPTQ calibration read training data after the wallclock stop with no "
            "reserved time (it must finish inside the 600 s; issue #677)", file, run.calibrated_after_stop))
    rescored = _rescoring_after_ttt(run.scores)
    if rescored:
        ttt, later = rescored
        findings.append(_finding(
            "rescoring_after_ttt", f"second scoring pass after TTT: '{later.label}' val_bpb:{later.val_bpb} "
            f"follows '{ttt.label}' val_bpb:{ttt.val_bpb} (one scoring pass only; PR #991)", file, None))
    labels = " ".join(s.label.lower() for s in run.scores)
    if run.averaging_choice and "post_ema" in labels and "post_swa" in labels:
        findings.append(_finding(
            "averaging_chosen_by_val", "EMA vs SWA chosen by validation score (post_ema and post_swa scored, "
            "then best_averaging): checkpoint selection must not use validation data", file,
            run.averaging_choice))
    return findings


def _reprint(score: ScoreEvent, earlier: Iterable[ScoreEvent]) -> bool:
    """The same evaluation printed again (an `_exact` twin, a compat line, a `:done` summary)."""
    return any(_same_number(score.val_bpb, e.val_bpb) and _same_number(score.val_loss, e.val_loss) for e in earlier)


def _same_number(a: float, b: float) -> bool:
    digits = min(_decimals(a), _decimals(b))
    return abs(a - b) <= 0.5 * 10.0 ** -digits + 1e-12


def _decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def _rescoring_after_ttt(scores: list[ScoreEvent]) -> tuple[ScoreEvent, ScoreEvent] | None:
    first_ttt = next((i for i, s in enumerate(scores) if "ttt" in s.label.lower()), None)
    if first_ttt is None:
        return None
    for index in range(first_ttt + 1, len(scores)):
        if not _reprint(scores[index], scores[first_ttt:index]):
            return scores[first_ttt], scores[index]
    return None


def _eval_ms(scores: list[ScoreEvent]) -> float | None:
    """Sum of the evaluation times of the official run's distinct score lines."""
    times = [s.eval_time_ms for i, s in enumerate(scores)
             if s.eval_time_ms is not None and not _reprint(s, scores[:i])]
    return sum(times) if times else None


def _finding(code: str, message: str, file: str, line: str | None) -> Finding:
    quoted = f" [{file}: {line[:120]}]" if line else f" [{file}]"
    return Finding(code=code, severity="warning", message=message + quoted, file=file)
