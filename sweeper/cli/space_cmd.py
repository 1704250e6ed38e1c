"""`pgolf preflight SPACE` and `pgolf candidates [SWEEP]`: before and after a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from sweeper.candidates import Budget, CandidateReport, sweep_candidates
from sweeper.cli import app
from sweeper.cli.common import console, fail, friendly_errors, print_json, progress_bars
from sweeper.preflight import Prediction, preflight_configs, space_data_fingerprint, sweep_preflight
from sweeper.space import load_space
from sweeper.sweepdir import resolve_sweep, sweeps_root

OutOption = Annotated[Path | None, typer.Option(
    "--out", help="Sweeps root (default $PGOLF_HOME or ./pgolf-runs).", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


@app.command("preflight")
@friendly_errors
def preflight(
    space_path: Annotated[Path, typer.Argument(metavar="SPACE", help="Search-space YAML file.")],
    as_json: JsonOption = False,
    out: OutOption = None,
) -> None:
    """Predict parameters and artifact bytes (with an error band) per config; exit 1 if any is surely
    over the byte limit (exact and over, or even the band's low end over): a sweep skips those.

    Grid spaces are checked point by point; random/Optuna spaces at both ends of every axis that can
    change the model's size. Artifacts measured in the sweeps under --out for this script on this
    data correct the prediction, only from comparable runs (same format, params within 2x).
    """
    space = load_space(space_path)
    checker = sweep_preflight(space, sweeps_root(out), space_data_fingerprint(space))
    configs = preflight_configs(space)
    predictions: list[Prediction] = []
    with progress_bars() as progress:
        for params in configs:
            progress("building + compressing synthetic models", len(predictions), len(configs))
            predictions.append(checker.predict(params))
    over = [p for p in predictions if p.verdict == "over"]
    if as_json:
        print_json({"space": space.name, "script": str(space.script), "limit_bytes": space.limits.artifact_bytes,
                    "predictions": [p.model_dump(mode="json") for p in predictions]})
    else:
        table = _prediction_table(space.name, predictions)
        if space.search.algorithm != "grid":
            table.caption = (f"{space.search.algorithm} draws are not known in advance: rows are the ends of every "
                             "axis that can change the size (learning rates and the like cannot)")
        console.print(table)
        for note in sorted({p.note for p in predictions if p.note}):
            console.print(Text.assemble(("note: ", "yellow"), note))
    if over:
        action = {"skip": "a sweep skips them without using a GPU",
                  "warn": "the space's `preflight: warn` runs them anyway",
                  "off": "the space's `preflight: off` runs them anyway"}[space.preflight]
        raise fail(f"{len(over)} of {len(predictions)} configs are over the {space.limits.artifact_bytes:,}-byte "
                   f"limit (exact, or even the low end of the band); {action}")


@app.command("candidates")
@friendly_errors
def candidates(
    sweep: Annotated[str | None, typer.Argument(
        help="Sweep name under --out, or a sweep directory (default: the most recent sweep).")] = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show only the best N configs.")] = None,
) -> None:
    """Rank a sweep's configs by mean post-quant val_bpb, with seed count, std and budget verdicts."""
    report = sweep_candidates(resolve_sweep(sweep, sweeps_root(out)))
    if top is not None:
        report.candidates = report.candidates[:top]
    if as_json:
        print_json(report.model_dump(mode="json"))
    elif not report.candidates:
        console.print(f"No finished, scored attempts in sweep {report.sweep} yet.", highlight=False)
    else:
        console.print(_candidate_table(report))


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "-"


# `near`: the band reaches over the limit, so a sweep runs it with a warning; `over`: it skips it.
VERDICT_TEXT = {"fits": Text("yes", "green"), "near": Text("maybe (warned)", "yellow"), "over": Text("NO", "red")}


def _prediction_table(name: str, predictions: list[Prediction]) -> Table:
    table = Table(title=f"Preflight: {name}")
    for column, justify in [("config", "left"), ("params", "left"), ("model params", "right"), ("format", "left"),
                            ("basis (method)", "left"), ("artifact B", "right"), ("band B", "right"),
                            ("headroom B", "right"), ("fits", "left")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for p in predictions:
        count = f"{p.model_params:,}" + ("" if p.params_exact else " ~")
        band = f"+-{p.band:.0%} {p.low_bytes:,}..{p.high_bytes:,}" + (" (exact)" if p.exact else "")
        table.add_row(p.config_id, Text(_params(p.params)), count, Text(p.format_label), Text(f"{p.basis} ({p.method})"),
                      f"{p.artifact_bytes:,}", band, f"{p.limit_bytes - p.artifact_bytes:,}", VERDICT_TEXT[p.verdict])
    return table


def _mark(budget: Budget, fmt: str) -> str:
    if budget.ok is None:
        return "[dim]?[/]"
    value = fmt.format(budget.value)
    return f"[green]{value}[/]" if budget.ok else f"[red]{value} ✗[/]"


def _candidate_table(report: CandidateReport) -> Table:
    limits = report.limits
    table = Table(title=f"Candidates: {report.sweep} (limits {limits.artifact_bytes:,} B, train "
                        f"{limits.train_s:g}+{limits.train_tolerance_s:g} s, eval {limits.eval_s:g} s)")
    for column, justify in [("#", "right"), ("config", "left"), ("params", "left"), ("seeds", "right"),
                            ("mean val_bpb", "right"), ("std", "right"), ("max artifact B", "right"),
                            ("train s", "right"), ("eval s", "right")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for c in report.candidates:
        std = "-" if c.std_val_bpb is None else f"{c.std_val_bpb:.5f}"
        table.add_row(str(c.rank), c.config_id, _params(c.params), str(c.n_seeds), f"{c.mean_val_bpb:.5f}", std,
                      _mark(c.budgets["artifact_bytes"], "{:,.0f}"), _mark(c.budgets["train_s"], "{:.1f}"),
                      _mark(c.budgets["eval_s"], "{:.1f}"))
    return table
