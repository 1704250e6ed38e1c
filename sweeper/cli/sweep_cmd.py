"""`pgolf sweep`, `pgolf seeds`, `pgolf sync` and `pgolf demo`: running sweeps on Ray Tune."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from sweeper.candidates import sweep_candidates
from sweeper.cli import app
from sweeper.cli.common import (
    JsonOption,
    OutOption,
    config_id_of,
    console,
    err_console,
    fail,
    friendly_errors,
    print_json,
    progress_bars,
)
from sweeper.cli.space_cmd import candidates
from sweeper.data.demo import build_demo_dataset
from sweeper.errors import PgolfError, UsageError
from sweeper.ledger import Ledger
from sweeper.records.promote import report_best_config
from sweeper.space import REPO_ROOT, load_space
from sweeper.sweepdir import SweepDir, resolve_sweep, sweeps_root
from sweeper.wandb_env import api_key_available
from sweeper.wandb_offline import find_offline_runs

if TYPE_CHECKING:  # the driver imports Ray (seconds); commands import it only when they run
    from sweeper.tune.driver import SweepReport

DEMO_SPACE = REPO_ROOT / "search_spaces" / "demo.yaml"

class PreflightChoice(str, Enum):
    skip = "skip"
    warn = "warn"
    off = "off"


PreflightOption = Annotated[PreflightChoice | None, typer.Option(
    "--preflight", help="Override the space's `preflight:` for this run: skip configs surely over the byte limit "
                        "(warn on uncertain ones), warn only, or off (predict nothing).", show_default=False)]
AddressOption = Annotated[str | None, typer.Option(
    "--address", help="Ray cluster to join (e.g. auto, ray://head:10001); default $RAY_ADDRESS, else a local Ray.",
    show_default=False)]


CostOption = Annotated[float | None, typer.Option(
    "--cost-per-gpu-hour", min=0, help="Show the cost at this rate per GPU-hour (default: the space's "
                                       "cost_per_gpu_hour, else no cost).", show_default=False)]


def _conclude(report: SweepReport, resume_hint: str, as_json: bool, cost_per_gpu_hour: float | None) -> None:
    """The end of a sweep: counts, GPU-hours and the candidates (or all of it as JSON on stdout)."""
    if as_json:
        ranked = sweep_candidates(SweepDir(report.path), cost_per_gpu_hour)
        print_json({**report.model_dump(mode="json", exclude={"candidates"}), "candidates": ranked.model_dump(mode="json")})
    else:
        counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
        console.print(f"sweep {report.sweep}: {counts or 'no attempts'}, {report.gpu_hours:.3f} GPU-hours "
                      f"({report.path})", highlight=False, markup=False, soft_wrap=True)
    if not report.complete:
        raise fail(f"sweep {report.sweep} was interrupted before every attempt ended; resume with: {resume_hint}", 130)
    if report.counts.get("skipped") and report.counts["skipped"] == sum(report.counts.values()):
        with Ledger(report.path / "ledger.sqlite", create=False) as ledger:
            first = ledger.attempts(status="skipped")[0].failure_reason
        raise fail(f"sweep {report.sweep} ran nothing: all {report.counts['skipped']} attempt(s) were skipped ({first}); "
                   "check sizes with `pgolf preflight SPACE`, or run them anyway with --preflight warn")
    if not as_json:
        candidates(sweep=str(report.path), as_json=False, out=None, top=None, cost_per_gpu_hour=cost_per_gpu_hour)


@app.command("sweep")
@friendly_errors
def sweep(
    space_path: Annotated[Path, typer.Argument(metavar="SPACE", help="Search-space YAML file.")],
    address: AddressOption = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Sweep name (default: the space's name; -2, -3... if taken).", show_default=False)] = None,
    out: OutOption = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the sweep named --name (default: the space's name); finished trials are kept.")]
    = False,
    as_json: JsonOption = False,
    cost_per_gpu_hour: CostOption = None,
    preflight: PreflightOption = None,
) -> None:
    """Screen every config on the first seed, then re-run the best configs on the other seeds.

    Live progress per running trial (a table on a terminal, plain lines when piped; on stderr with --json)."""
    from sweeper.tune.driver import run_sweep

    space = load_space(space_path)
    report = run_sweep(space, sweeps_root(out), name=name, address=address, resume=resume,
                       console=err_console if as_json else console, preflight=preflight.value if preflight else None)
    out_flag = f" --out {out}" if out else ""
    _conclude(report, f"pgolf sweep {space_path} --resume --name {report.sweep}{out_flag}", as_json, cost_per_gpu_hour)


@app.command("seeds")
@friendly_errors
def seeds(
    config: Annotated[str, typer.Option(
        "--config", help="Config id, rank as `pgolf candidates` shows it ('#1', quoted for the shell), or a unique "
                         "id prefix.")],
    sweep: Annotated[str | None, typer.Argument(
        help="Sweep name under --out, or a sweep directory (default: the most recent sweep).")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="How many new seeds to run.")] = 1,
    address: AddressOption = None,
    out: OutOption = None,
    as_json: JsonOption = False,
    cost_per_gpu_hour: CostOption = None,
) -> None:
    """Run N more seeds of one config (the space's unused seeds first, then 1, 2, 3, ...)."""
    from sweeper.tune.driver import add_seeds

    sweep_dir = resolve_sweep(sweep, sweeps_root(out))
    config_id = config_id_of(sweep_dir, config)
    report = add_seeds(str(sweep_dir.path), sweep_dir.path.parent, config_id, n, address=address,
                       console=err_console if as_json else console)
    _conclude(report, f"pgolf seeds {sweep_dir.path} --config {config_id} --n {n} (seeds already run are kept)",
              as_json, cost_per_gpu_hour)


@app.command("sync")
@friendly_errors
def sync(
    sweep: Annotated[str | None, typer.Argument(
        help="Sweep name under --out, or a sweep directory (default: the most recent sweep).")] = None,
    out: OutOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Give up after this many seconds.")] = 300.0,
) -> None:
    """Upload a sweep's offline W&B runs (needs an API key; never waits longer than --timeout)."""
    from sweeper.tune.tracking import sync_offline_runs

    sweep_dir = resolve_sweep(sweep, sweeps_root(out))
    runs = find_offline_runs(sweep_dir.wandb_dir)
    if not runs:
        console.print(escape(f"sweep {sweep_dir.name}: no offline W&B runs in {sweep_dir.wandb_dir}"), highlight=False)
        return
    if not api_key_available(os.environ):
        raise UsageError(f"no W&B API key: set WANDB_API_KEY or run `wandb login`, then `pgolf sync` again "
                         f"({len(runs)} offline run(s) in {sweep_dir.wandb_dir} are kept)")
    outcome = sync_offline_runs(runs, os.environ, timeout)
    if not outcome.ok:
        raise PgolfError(outcome.message)
    console.print(escape(f"sweep {sweep_dir.name}: {outcome.message}"), highlight=False)


@app.command("demo")
@friendly_errors
def demo(
    data: Annotated[Path, typer.Option("--data", help="Where the demo dataset is (built there if missing).")]
    = Path("demo-data"),
    out: OutOption = None,
) -> None:
    """The embedded default end to end: demo data, a tiny CPU sweep on local Ray, the candidates."""
    from sweeper.tune.driver import run_sweep

    with progress_bars() as progress:
        dataset = build_demo_dataset(data, progress=progress)
    space = load_space(DEMO_SPACE).model_copy(
        update={"data_path": dataset.data_dir.resolve(), "tokenizer_path": dataset.tokenizer_path.resolve()})
    report = run_sweep(space, sweeps_root(out), console=console)
    _conclude(report, f"pgolf sweep {DEMO_SPACE} --resume --name {report.sweep}", False, None)
    best = report_best_config(resolve_sweep(str(report.path), sweeps_root(out)), report.path / "record-candidate")
    reasons = [finding.message for finding in best.verdict.violations][:5]
    console.print(escape(f"record-candidate report for config {best.config_id}: verdict {best.verdict.verdict}"
                         + (f" ({'; '.join(reasons)})" if reasons else "")), highlight=False)
    console.print(escape(f"  {best.html}\n  {best.markdown}"), highlight=False)
