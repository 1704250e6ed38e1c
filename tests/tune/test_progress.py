"""The live view: counts and GPU-hours, per config its seeds and best bpb, per running trial its step,
losses, elapsed time, ETA (the trainer's own step timing or the wallclock cap), log and W&B run."""

from __future__ import annotations

import io
import time
from pathlib import Path

from rich.console import Console

from sweeper.ledger import AttemptRow, Ledger, SweepRow
from sweeper.space import SearchSpace
from sweeper.trial_watch import LOCATION_FILE, LiveTrial, TrialWatch, eta_s
from sweeper.tune.progress import ProgressCallback, ended_line, progress_table, running_table, trial_line
from tests.tune.spaces import BASELINE_LOG

LONG_ID = "2e6a38f01b9c"  # a real-length config id (12 hex)


def _row(config: str, seed: int, status: str, bpb: float | None = None, size: int | None = None,
         **extra: object) -> AttemptRow:
    return AttemptRow(attempt_id=f"{config}-s{seed}", sweep="s", config_id=config, params={"MODEL_DIM": 64},
                      seed=seed, status=status, val_bpb=bpb, artifact_bytes=size, **extra)  # type: ignore[arg-type]


def _render(renderable: object, width: int = 200) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def test_configs_are_ranked_by_best_finished_seed_with_counts_and_gpu_hours() -> None:
    lines = _render(progress_table([
        _row("worse", 1, "finished", 1.30, 15_000_000, gpu_s=3600.0),
        _row("better", 1, "finished", 1.25, 14_000_000, gpu_s=1800.0),
        _row("better", 2, "finished", 1.27, 14_500_000, gpu_s=1800.0), _row("better", 3, "running"),
        _row("broken", 1, "failed", gpu_s=900.0), _row("big", 1, "skipped"),
    ], "sweep s"))
    body = [line for line in lines if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in body] == ["better", "worse", "big", "broken"]
    better = body[0]
    assert better.split("│")[3].strip() == "2" and "1.2500" in better and "1.2600" in better and "14,500,000" in better
    assert better.split("│")[7].split() == ["1▶", "2✓"]
    caption = lines[-1]
    assert caption.split() == ["running", "1", "·", "finished", "3", "·", "failed", "1", "·", "skipped", "1", "·",
                               "2.250", "GPU-h"]


def test_config_ids_are_never_truncated_on_a_narrow_terminal() -> None:
    rows = [AttemptRow(attempt_id=f"{LONG_ID}-s1", sweep="s", config_id=LONG_ID, seed=1, status="finished",
                       val_bpb=1.2, params={f"VERY_LONG_PARAMETER_NAME_{i}": 0.000123 * i for i in range(6)})]
    text = "\n".join(_render(progress_table(rows, "sweep s"), width=80))
    assert LONG_ID in text and "…" not in text


def _grow(log: Path, first: int, last: int) -> None:
    lines = BASELINE_LOG.read_text().splitlines()[first:last]
    with log.open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def test_a_running_trial_shows_step_losses_elapsed_eta_log_and_wandb(tmp_path: Path) -> None:
    trial_dir = tmp_path / "trials" / f"{LONG_ID}-s1"
    trial_dir.mkdir(parents=True)
    log = trial_dir / "trial.log"
    (trial_dir / LOCATION_FILE).write_text("/runs/wandb/offline-run-x\n")
    row = AttemptRow(attempt_id=f"{LONG_ID}-s1", sweep="s", config_id=LONG_ID, seed=1, status="running",
                     log_path=str(log), started_at=1000.0, params={})
    watch = TrialWatch()
    log.write_text("")
    (empty,) = watch.live([row], now=1010.0)
    assert empty.step is None and empty.elapsed_s == 10.0 and empty.eta_s is None

    _grow(log, 84, 90)  # val at step 0, train steps 1..5 (step_avg 38.97 ms)
    (early,) = watch.live([row], now=1042.0)
    assert (early.step, early.total_steps, early.train_loss, early.val_bpb) == (5, 20000, 6.6665, 4.0978)
    assert early.eta_s == eta_s(5, 20000, 38.97, 195, 600.0) == 600 - 0.195  # 779 s of steps: the cap is sooner
    assert early.log_path == str(log) and early.wandb == "/runs/wandb/offline-run-x"

    _grow(log, 90, 100)  # ... to the step-200 validation: only the new bytes are read
    (later,) = watch.live([row], now=1050.0)
    assert (later.step, later.val_bpb) == (200, 1.6774) and later.eta_s is not None and later.eta_s < early.eta_s
    line = trial_line(later)
    assert line.startswith(f"{LONG_ID}-s1 step 200/20000 ") and "val_bpb 1.6774" in line and "elapsed 0:50" in line
    assert f"log {log}" in line and "wandb /runs/wandb/offline-run-x" in line
    table = "\n".join(_render(running_table([later]), width=80))
    assert f"{LONG_ID}-s1" in table and "200/20000" in table

    finished = row.model_copy(update={"status": "finished", "val_bpb": 1.2244, "artifact_bytes": 15_861_239})
    assert watch.live([finished]) == []
    assert ended_line(finished) == f"{LONG_ID}-s1 finished val_bpb 1.2244 artifact 15,861,239 B"


def test_eta_is_the_sooner_of_the_step_average_and_the_wallclock_cap(tmp_path: Path) -> None:
    assert eta_s(100, 20000, 40.0, 590_000, 600.0) == 10.0  # the cap ends training first
    assert eta_s(19990, 20000, 40.0, 100_000, 600.0) == 0.4  # the last steps end it first
    assert eta_s(100, 20000, 40.0, 590_000, 0.0) == 19900 * 0.04  # no cap
    space = SearchSpace.model_validate({"name": "s", "data_path": "d", "tokenizer_path": "t",
                                        "env": {"MAX_WALLCLOCK_SECONDS": 60}})
    log = tmp_path / "trial.log"
    _grow(log, 84, 100)  # step 200 at 8,699 ms: 51.3 s left under a 60 s cap, 860 s at the step average
    row = AttemptRow(attempt_id="c-s1", sweep="s", config_id="c", seed=1, status="running", log_path=str(log))
    (trial,) = TrialWatch(space).live([row])
    assert trial.eta_s == 60 - 8.699


def _ledger_with_a_running_trial(tmp_path: Path) -> tuple[Ledger, AttemptRow]:
    log = tmp_path / "trials" / f"{LONG_ID}-s1" / "trial.log"
    log.parent.mkdir(parents=True)
    _grow(log, 84, 100)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add_sweep(SweepRow(name="s", space_yaml="name: s\ndata_path: d\ntokenizer_path: t\n"))
    row = AttemptRow(attempt_id=f"{LONG_ID}-s1", sweep="s", config_id=LONG_ID, seed=1, status="running",
                     log_path=str(log), started_at=time.time(), params={"MODEL_DIM": 64}, gpu_s=None)
    ledger.upsert_attempt(row)
    return ledger, row


def test_piped_callback_prints_a_start_line_trial_lines_and_each_ending(tmp_path: Path) -> None:
    ledger, row = _ledger_with_a_running_trial(tmp_path)
    out = io.StringIO()
    callback = ProgressCallback(ledger, "s", "screen", Console(file=out, width=80))
    callback.setup()
    ledger.update_attempt(row.attempt_id, status="finished", val_bpb=1.2244, gpu_s=7.5)
    callback.on_trial_complete()
    callback.on_experiment_end()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[sweep s · stage screen] starting; progress every 10 s (PGOLF_PROGRESS_EVERY_S)"
    assert lines[1] == "[sweep s · stage screen] running 1 · finished 0 · failed 0 · 0.000 GPU-h"
    assert lines[2].startswith(f"[sweep s · stage screen] {LONG_ID}-s1 step 200/20000 train_loss 2.8041 ")
    assert lines[3] == f"[sweep s · stage screen] {LONG_ID}-s1 finished val_bpb 1.2244"
    assert "finished 1" in out.getvalue() and "\x1b[" not in out.getvalue()
    ledger.close()


def test_terminal_callback_shows_the_running_trial_in_a_live_table(tmp_path: Path) -> None:
    ledger, _ = _ledger_with_a_running_trial(tmp_path)
    out = io.StringIO()
    callback = ProgressCallback(ledger, "s", "screen", Console(file=out, width=100, force_terminal=True))
    callback.setup()
    callback.close()
    text = out.getvalue()
    assert f"{LONG_ID}-s1" in text and "200/20000" in text and "1.6774" in text and "trial.log" in text, text
    ledger.close()


def test_paths_and_params_are_shown_as_typed_never_as_markup() -> None:
    trial = LiveTrial(attempt_id=f"{LONG_ID}-s1", log_path="/runs/[bold]x[/bold]/trial.log", wandb="/w/[red]r")
    text = "\n".join(_render(running_table([trial]), width=200))
    assert "/runs/[bold]x[/bold]/trial.log" in text and "/w/[red]r" in text
    row = AttemptRow(attempt_id="c-s1", sweep="s", config_id="c", seed=1, status="running", params={"TAG": "[b]t"})
    assert "TAG=[b]t" in "\n".join(_render(progress_table([row], "sweep s")))
