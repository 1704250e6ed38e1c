"""The live sweep view: attempt counts and GPU-hours, per config the best post-quant bpb over its
seeds, and per running trial its step, last train loss and val_bpb, elapsed time, ETA, log and W&B run.

Rendered from the ledger (the driver's source of truth; a resumed sweep shows what earlier drivers
finished too) and the running trials' own logs (`sweeper.trial_watch`). On a terminal it is a rich
Live display refreshed every `LIVE_REFRESH_S`; piped (no TTY) it prints plain lines instead: one at
the start, one per running trial every `PGOLF_PROGRESS_EVERY_S` seconds (default 10), one per
attempt as it ends, and the final table. Config and attempt ids are never truncated.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ray import tune
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sweeper.candidates import gpu_hours
from sweeper.errors import SpaceError
from sweeper.ledger import AttemptRow, Ledger
from sweeper.space import parse_space
from sweeper.trial_watch import LiveTrial, TrialWatch

STATUS_ORDER = ("running", "finished", "failed", "skipped", "pending")
MARK = {"running": "▶", "finished": "✓", "failed": "✗", "skipped": "-", "pending": "…"}
TERMINAL = ("finished", "failed", "skipped")
LIVE_REFRESH_S = 1.0
PLAIN_EVERY_ENV = "PGOLF_PROGRESS_EVERY_S"
PLAIN_EVERY_S = 10.0


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _counts(rows: Sequence[AttemptRow]) -> str:
    counts: Counter[str] = Counter(row.status for row in rows)
    shown = [f"{status} {counts[status]}" for status in STATUS_ORDER
             if counts[status] or status in ("running", "finished", "failed")]
    return " · ".join([*shown, f"{sum(gpu_hours(rows).values()):.3f} GPU-h"])


def progress_table(rows: Sequence[AttemptRow], title: str) -> Table:
    """Counts in the caption; one line per config, best (lowest) post-quant val_bpb first.

    Status: attempts per state, ▶ running, ✓ finished, ✗ failed, - skipped, … pending; the caption
    also gives the GPU-hours spent (nproc x wall of every ended attempt). ⚠ preflight: it runs although
    preflight could not promise it fits (the ledger's `preflight_warning`)."""
    table = Table(title=title, caption=_counts(rows), title_justify="left", caption_justify="left")
    table.add_column("config", no_wrap=True, min_width=max((len(r.config_id) for r in rows), default=12))
    table.add_column("params", overflow="fold")
    for column, width in (("seeds", 5), ("best bpb", 8), ("mean bpb", 8), ("max bytes", 10)):
        table.add_column(column, justify="right", no_wrap=True, min_width=width)
    table.add_column("status", no_wrap=True)
    by_config: dict[str, list[AttemptRow]] = {}
    for row in rows:
        by_config.setdefault(row.config_id, []).append(row)

    def scores(config_rows: list[AttemptRow]) -> list[float]:
        return [r.val_bpb for r in config_rows if r.status == "finished" and r.val_bpb is not None]

    ordered = sorted(by_config.items(), key=lambda item: (min(scores(item[1]), default=float("inf")), item[0]))
    for config_id, config_rows in ordered:
        done = scores(config_rows)
        sizes = [r.artifact_bytes for r in config_rows if r.status == "finished" and r.artifact_bytes is not None]
        states = Counter(r.status for r in config_rows)
        table.add_row(  # user text as Text: a param value like `[/]` is never read as markup
            Text(config_id), Text(_params_text(config_rows[0].params)), str(len(done)),
            f"{min(done):.4f}" if done else "-", f"{statistics.fmean(done):.4f}" if done else "-",
            f"{max(sizes):,}" if sizes else "-",
            " ".join(f"{n}{MARK[s]}" for s, n in sorted(states.items(), key=lambda kv: STATUS_ORDER.index(kv[0])))
            + (" ⚠ preflight" if any(r.preflight_warning for r in config_rows) else ""))
    return table


def running_table(trials: Sequence[LiveTrial]) -> Table:
    """One line per running trial: where it is, how long it has run and has left, where to look."""
    table = Table(title="running", title_justify="left")
    table.add_column("attempt", no_wrap=True, min_width=max((len(t.attempt_id) for t in trials), default=8))
    for column in ("step", "train_loss", "val_bpb", "elapsed", "ETA"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("log / W&B", overflow="fold")
    for t in trials:
        step = "-" if t.step is None else f"{t.step}/{t.total_steps}"
        where = "\n".join(x for x in (t.log_path, t.wandb) if x) or "-"
        table.add_row(Text(t.attempt_id), step, _number(t.train_loss, ".4f"), _number(t.val_bpb, ".4f"),
                      _duration(t.elapsed_s), "eval" if t.evaluating else _duration(t.eta_s), Text(where))
    return table


def trial_line(t: LiveTrial) -> str:
    """A running trial as one plain line (piped output)."""
    step = "step -" if t.step is None else f"step {t.step}/{t.total_steps}"
    eta = "evaluating" if t.evaluating else f"eta {_duration(t.eta_s)}"
    return (f"{t.attempt_id} {step} train_loss {_number(t.train_loss, '.4f')} val_bpb {_number(t.val_bpb, '.4f')} "
            f"elapsed {_duration(t.elapsed_s)} {eta} log {t.log_path or '-'} wandb {t.wandb or '-'}")


def ended_line(row: AttemptRow) -> str:
    """An attempt that just ended, as one plain line."""
    if row.status == "finished" and row.val_bpb is not None:
        size = "" if row.artifact_bytes is None else f" artifact {row.artifact_bytes:,} B"
        return f"{row.attempt_id} finished val_bpb {row.val_bpb:.4f}{size}"
    return f"{row.attempt_id} {row.status}: {row.failure_reason or 'no reason recorded'}"


class ProgressCallback(tune.Callback):
    """Keeps the live view of the sweep up to date while Tune runs (see the module docstring)."""

    def __init__(self, ledger: Ledger, sweep: str, stage: str, console: Console) -> None:
        self.ledger, self.sweep, self.stage, self.console = ledger, sweep, stage, console
        self.live = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None
        self.every_s = LIVE_REFRESH_S if self.live else float(os.environ.get(PLAIN_EVERY_ENV) or PLAIN_EVERY_S)
        self.watch = TrialWatch()
        self.last_refresh = -float("inf")
        self.reported: set[str] = set()
        self.started = False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "ledger": None, "live": None, "console": None}  # see AttemptRecorder.__getstate__

    @property
    def title(self) -> str:
        return f"sweep {self.sweep} · stage {self.stage}"

    def _say(self, text: str) -> None:
        self.console.print(f"[{self.title}] {text}", markup=False, highlight=False, soft_wrap=True)

    def _refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_refresh < self.every_s:
            return
        self.last_refresh = time.monotonic()
        rows = self.ledger.attempts(sweep=self.sweep)
        trials = self.watch.live(rows)
        if self.live is not None:
            parts = [progress_table(rows, self.title), *([running_table(trials)] if trials else [])]
            self.live.update(Group(*parts), refresh=True)
            return
        self._say(_counts(rows))
        for trial in trials:
            self._say(trial_line(trial))

    def _report_ended(self) -> None:
        """Piped: one line per attempt that ended since the last call."""
        if self.live is not None:
            self._refresh(force=True)
            return
        for row in self.ledger.attempts(sweep=self.sweep):
            if row.status in TERMINAL and row.attempt_id not in self.reported:
                self.reported.add(row.attempt_id)
                self._say(ended_line(row))

    def setup(self, **info: Any) -> None:  # type: ignore[override]  # Tune passes keywords only
        stored = self.ledger.sweep(self.sweep)
        try:
            self.watch.space = parse_space(stored.space_yaml) if stored and stored.space_yaml else None
        except SpaceError:
            self.watch.space = None
        self.reported = {r.attempt_id for r in self.ledger.attempts(sweep=self.sweep) if r.status in TERMINAL}
        self.started = True
        if self.live is not None:
            self.live.start()
        else:
            self._say(f"starting; progress every {self.every_s:g} s ({PLAIN_EVERY_ENV})")
        self._refresh(force=True)

    def on_step_begin(self, **info: Any) -> None:  # type: ignore[override]
        if self.started:
            self._refresh()

    def on_trial_start(self, **info: Any) -> None:  # type: ignore[override]
        self._refresh(force=self.live is not None)

    def on_trial_complete(self, **info: Any) -> None:  # type: ignore[override]
        self._report_ended()

    def on_trial_error(self, **info: Any) -> None:  # type: ignore[override]
        self._report_ended()

    def on_experiment_end(self, **info: Any) -> None:  # type: ignore[override]
        self._report_ended()
        self.close()

    def close(self) -> None:
        """Stop the live display, or (piped) print the final table once; idempotent."""
        if not self.started:
            return
        self.started = False
        if self.live is not None:
            self._refresh(force=True)
            self.live.stop()
        else:
            self.console.print(progress_table(self.ledger.attempts(sweep=self.sweep), self.title))
