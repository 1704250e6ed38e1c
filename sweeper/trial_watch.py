"""What a running trial is doing now, read from its growing `trial.log` (the live sweep view).

`TrialWatch` follows each running attempt's log from where it last stopped reading (so a refresh
costs only the new bytes) and keeps the last step, train loss and in-training val_bpb. The ETA is
the trainer's own: `step_avg_ms x steps left`, or the time left under the wallclock cap
(`MAX_WALLCLOCK_SECONDS` of the config, the official 600 s by default), whichever is sooner.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sweeper.errors import SpaceError
from sweeper.ledger import AttemptRow
from sweeper.runlog import LogParser, StopEvent, TrainEvent, ValEvent
from sweeper.space import SearchSpace

DEFAULT_CAP_S = 600.0  # the official MAX_WALLCLOCK_SECONDS
LOCATION_FILE = "wandb_run.txt"  # in trials/<attempt_id>/: the W&B run URL (online) or directory (offline)


class LiveTrial(BaseModel):
    """One running attempt as the live view shows it (None: not known yet)."""

    attempt_id: str
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    val_bpb: float | None = None  # last in-training (pre-quant) validation
    elapsed_s: float | None = None
    eta_s: float | None = None  # training time left; None once training ended (evaluating) or unknown
    evaluating: bool = False
    log_path: str | None = None
    wandb: str | None = None


@dataclass
class _Followed:
    parser: LogParser
    offset: int = 0
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    step: int | None = None
    total: int | None = None
    train_loss: float | None = None
    val_bpb: float | None = None
    train_time_ms: float | None = None
    step_avg_ms: float | None = None
    stopped: bool = False


def eta_s(step: int, total: int, step_avg_ms: float | None, train_time_ms: float | None, cap_s: float) -> float | None:
    """Training seconds left: steps left at the trainer's step average, capped by the wallclock cap."""
    estimates = []
    if step_avg_ms is not None:
        estimates.append(max(total - step, 0) * step_avg_ms / 1000)
    if cap_s > 0 and train_time_ms is not None:
        estimates.append(max(cap_s - train_time_ms / 1000, 0.0))
    return min(estimates) if estimates else None


def wallclock_cap_s(space: SearchSpace | None, params: dict[str, Any]) -> float:
    """The config's MAX_WALLCLOCK_SECONDS (0: no cap), the official default when unset or unreadable."""
    try:
        value = space.config_env(params).get("MAX_WALLCLOCK_SECONDS") if space is not None else None
        return float(value) if value is not None else DEFAULT_CAP_S
    except (SpaceError, ValueError):  # a row of another space version, or a value that is not a number
        return DEFAULT_CAP_S


@dataclass
class TrialWatch:
    """Follows the logs of running attempts of a sweep of `space` (None: caps are the default)."""

    space: SearchSpace | None = None
    _followed: dict[str, _Followed] = field(default_factory=dict)

    def live(self, rows: list[AttemptRow], now: float | None = None) -> list[LiveTrial]:
        """The running attempts among `rows`, each with what its log says so far."""
        now = time.time() if now is None else now
        running = [row for row in rows if row.status == "running"]
        for gone in set(self._followed) - {row.attempt_id for row in running}:
            del self._followed[gone]
        return [self._live(row, now) for row in running]

    def _live(self, row: AttemptRow, now: float) -> LiveTrial:
        followed = self._followed.setdefault(row.attempt_id, _Followed(LogParser(row.log_path)))
        log = Path(row.log_path) if row.log_path else None
        if log is not None:
            self._read(log, followed)
        trial = LiveTrial(attempt_id=row.attempt_id, step=followed.step, total_steps=followed.total,
                          train_loss=followed.train_loss, val_bpb=followed.val_bpb, log_path=row.log_path,
                          elapsed_s=None if row.started_at is None else max(now - row.started_at, 0.0),
                          evaluating=followed.stopped or (followed.step is not None and followed.step == followed.total))
        if followed.step is not None and followed.total is not None and not trial.evaluating:
            cap = wallclock_cap_s(self.space, row.params)
            trial.eta_s = eta_s(followed.step, followed.total, followed.step_avg_ms, followed.train_time_ms, cap)
        if log is not None and (log.parent / LOCATION_FILE).is_file():
            trial.wandb = (log.parent / LOCATION_FILE).read_text().strip() or None
        return trial

    @staticmethod
    def _read(log: Path, followed: _Followed) -> None:
        try:
            with log.open("rb") as handle:
                handle.seek(followed.offset)
                chunk = handle.read()
        except OSError:
            return
        followed.offset += len(chunk)
        for event in followed.parser.feed_chunk(followed.decoder.decode(chunk)):
            if isinstance(event, TrainEvent | ValEvent):
                followed.step, followed.total = event.step, event.total
                followed.train_time_ms = event.train_time_ms or followed.train_time_ms
                followed.step_avg_ms = event.step_avg_ms or followed.step_avg_ms
            if isinstance(event, TrainEvent):
                followed.train_loss = event.train_loss
            elif isinstance(event, ValEvent):
                followed.val_bpb = event.val_bpb
            elif isinstance(event, StopEvent):
                followed.stopped = True
