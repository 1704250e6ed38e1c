"""`pgolf preflight SPACE` and `pgolf candidates [SWEEP]`: before and after a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sweeper.candidates import Budget, CandidateReport, CandidateSignificance, sweep_candidates
from sweeper.cli import app
from sweeper.cli.common import console, fail, friendly_errors, print_json, progress_bars
from sweeper.cli.record_cmd import AlphaOption, PolicyName, PolicyOption, SotaOption
from sweeper.preflight import Prediction, preflight_configs, sweep_preflight
from sweeper.records.outlook import add_significance
from sweeper.records.schema import SignificancePolicy
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
    """Predict parameters and artifact bytes per config; exit 1 if any is over the byte limit.

    Grid spaces are checked point by point; random/Optuna spaces at both ends of every axis that can
    change the model's size. Measured artifacts in the sweeps under --out correct the prediction.
    """
    space = load_space(space_path)
    checker = sweep_preflight(space, sweeps_root(out))
    configs = preflight_configs(space)
    predictions: list[Prediction] = []
    with progress_bars() as progress:
        for params in configs:
            progress("building + compressing synthetic models", len(predictions), len(configs))
            predictions.append(checker.predict(params))
    over = [p for p in predictions if not p.fits]
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
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    if over:
        raise fail(f"{len(over)} of {len(predictions)} configs predicted over the "
                   f"{space.limits.artifact_bytes:,}-byte limit; a sweep skips them without using a GPU")


@app.command("candidates")
@friendly_errors
def candidates(
    sweep: Annotated[str | None, typer.Argument(
        help="Sweep name under --out, or a sweep directory (default: the most recent sweep).")] = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show only the best N configs.")] = None,
    sota: SotaOption = None,
    policy: PolicyOption = PolicyName.readme,
    alpha: AlphaOption = None,
) -> None:
    """Rank a sweep's configs by mean post-quant val_bpb, with seed count, std and budget verdicts.

    Against a SOTA (--sota, else the space's `sota:`) each config also gets its delta in nats and bpb, p under
    --policy, the bar its mean must reach, and how many more seeds it needs (80% power at the observed spread)."""
    report = sweep_candidates(resolve_sweep(sweep, sweeps_root(out)))
    if sota or report.sota:
        add_significance(report, sota or report.sota or "", SignificancePolicy.named(policy.value, alpha))
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


def _prediction_table(name: str, predictions: list[Prediction]) -> Table:
    table = Table(title=f"Preflight: {name}")
    for column, justify in [("config", "left"), ("params", "left"), ("model params", "right"),
                            ("format", "left"), ("basis", "left"), ("model B", "right"), ("code B", "right"),
                            ("artifact B", "right"), ("headroom B", "right"), ("fits", "center")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for p in predictions:
        basis = p.basis if p.method == "trainer" else f"{p.basis} estimate"
        table.add_row(p.config_id, _params(p.params), f"{p.model_params:,}", p.format_label, basis,
                      f"{p.model_bytes:,}", f"{p.code_bytes:,}", f"{p.artifact_bytes:,}",
                      f"{p.limit_bytes - p.artifact_bytes:,}", "[green]yes[/]" if p.fits else "[red]NO[/]")
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
                            ("train s", "right"), ("eval s", "right"),
                            *((name, "right") for name in SIGNIFICANCE_COLUMNS
                              if any(c.significance for c in report.candidates))]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for c in report.candidates:
        std = "-" if c.std_val_bpb is None else f"{c.std_val_bpb:.5f}"
        table.add_row(str(c.rank), c.config_id, _params(c.params), str(c.n_seeds), f"{c.mean_val_bpb:.5f}", std,
                      _mark(c.budgets["artifact_bytes"], "{:,.0f}"), _mark(c.budgets["train_s"], "{:.1f}"),
                      _mark(c.budgets["eval_s"], "{:.1f}"), *_significance_cells(c.significance))
    if any(c.significance for c in report.candidates):
        first = next(c.significance for c in report.candidates if c.significance)
        table.caption = (f"vs SOTA {first.sota_source}, {first.policy} policy, alpha {first.alpha:g}; delta = mean - "
                         f"SOTA; bar = the mean val_loss/val_bpb these seeds must reach for p < alpha; more seeds: "
                         f"to 80% power at the observed spread (P = chance that {report.max_seeds} seeds pass)")
    return table


SIGNIFICANCE_COLUMNS = ("Δ nats", "Δ bpb", "p", "bar val_loss", "bar val_bpb", "more seeds")


def _significance_cells(sig: CandidateSignificance | None) -> list[str]:
    if sig is None:
        return []
    p = "-" if sig.p is None else (f"[green]{sig.p:.3g}[/]" if sig.passes else f"{sig.p:.3g}")
    more = "-" if sig.more_seeds is None else f"+{sig.more_seeds}"
    if sig.p_reach is not None:
        more += f" (P {sig.p_reach:.0%})"
    return [f"{sig.delta_nats:+.5f}", f"{sig.delta_bpb:+.5f}", p, _num(sig.bar_val_loss), _num(sig.bar_val_bpb), more]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"
