"""The live progress table: attempt counts, and per config the best post-quant bpb over its seeds.

Rendered from the ledger (the driver's source of truth), so a resumed sweep shows what earlier
drivers finished too. `ProgressCallback` refreshes it on every trial event.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ray import tune
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sweeper.ledger import AttemptRow, Ledger

STATUS_ORDER = ("running", "finished", "failed", "skipped", "pending")
MARK = {"running": "▶", "finished": "✓", "failed": "✗", "skipped": "-", "pending": "…"}


def _params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def progress_table(rows: Sequence[AttemptRow], title: str) -> Table:
    """Counts in the caption; one line per config, best (lowest) post-quant val_bpb first.

    Status: attempts per state, ▶ running, ✓ finished, ✗ failed, - skipped, … pending; ⚠ preflight:
    it runs although preflight could not promise it fits (the ledger's `preflight_warning`)."""
    counts: Counter[str] = Counter(row.status for row in rows)
    caption = " · ".join(f"{status} {counts[status]}" for status in STATUS_ORDER if counts[status] or status in
                         ("running", "finished", "failed"))
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    table.add_column("config", no_wrap=True, min_width=12)
    table.add_column("params", overflow="ellipsis", no_wrap=True, max_width=28)
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
        table.add_row(
            config_id, _params_text(config_rows[0].params), str(len(done)),
            f"{min(done):.4f}" if done else "-", f"{statistics.fmean(done):.4f}" if done else "-",
            f"{max(sizes):,}" if sizes else "-",
            " ".join(f"{n}{MARK[s]}" for s, n in sorted(states.items(), key=lambda kv: STATUS_ORDER.index(kv[0])))
            + (" ⚠ preflight" if any(r.preflight_warning for r in config_rows) else ""))
    return table


class ProgressCallback(tune.Callback):
    """Keeps a rich Live table of the sweep up to date while Tune runs."""

    def __init__(self, ledger: Ledger, sweep: str, stage: str, console: Console) -> None:
        self.ledger, self.sweep, self.stage = ledger, sweep, stage
        self.live = Live(console=console, auto_refresh=False, transient=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "ledger": None, "live": None}  # see AttemptRecorder.__getstate__

    def _refresh(self) -> None:
        table = progress_table(self.ledger.attempts(sweep=self.sweep), f"sweep {self.sweep} · stage {self.stage}")
        self.live.update(table, refresh=True)

    def setup(self, **info: Any) -> None:  # type: ignore[override]  # Tune passes keywords only
        self.live.start()
        self._refresh()

    def on_trial_start(self, **info: Any) -> None:  # type: ignore[override]
        self._refresh()

    def on_trial_complete(self, **info: Any) -> None:  # type: ignore[override]
        self._refresh()

    def on_trial_error(self, **info: Any) -> None:  # type: ignore[override]
        self._refresh()

    def on_experiment_end(self, **info: Any) -> None:  # type: ignore[override]
        self._refresh()
        self.close()

    def close(self) -> None:
        """Stop the live display (idempotent); off a terminal, end its last line too."""
        if self.live.is_started:
            self.live.stop()
            if not self.live.console.is_terminal:
                self.live.console.line()
