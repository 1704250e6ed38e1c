"""`pgolf preflight SPACE` and `pgolf candidates [SWEEP]`: before and after a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from sweeper.candidates import Budget, CandidateReport, CandidateSignificance, sweep_candidates
from sweeper.cli import app
from sweeper.cli.common import (
    JsonOption,
    OutOption,
    compact_table,
    console,
    fail,
    friendly_errors,
    print_json,
    progress_bars,
)
from sweeper.cli.record_cmd import AlphaOption, PolicyName, PolicyOption, SotaOption
from sweeper.preflight import Prediction, preflight_configs, space_data_fingerprint, sweep_preflight
from sweeper.records.outlook import add_significance
from sweeper.records.schema import SignificancePolicy
from sweeper.space import load_space
from sweeper.sweepdir import resolve_sweep, sweeps_root


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
        tables = _prediction_tables(space.name, predictions, console.width)
        if space.search.algorithm != "grid":
            tables[-1].caption = (f"{space.search.algorithm} draws are not known in advance: rows are the ends of "
                                  "every axis that can change the size (learning rates and the like cannot)")
        for table in tables:
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
    sota: SotaOption = None,
    policy: PolicyOption = PolicyName.readme,
    alpha: AlphaOption = None,
    cost_per_gpu_hour: Annotated[float | None, typer.Option(
        "--cost-per-gpu-hour", min=0, help="Show the cost at this rate per GPU-hour (default: the space's "
                                           "cost_per_gpu_hour, else no cost).", show_default=False)] = None,
) -> None:
    """Rank a sweep's configs by mean post-quant val_bpb, with seed count, std, budget verdicts and GPU-hours.

    Against a SOTA (--sota, else the space's `sota:`) each config also gets its delta in nats and bpb, p under
    --policy, the bar its mean must reach, and how many more seeds it needs (80% power at the observed spread)."""
    report = sweep_candidates(resolve_sweep(sweep, sweeps_root(out)), cost_per_gpu_hour)
    if sota or report.sota:
        add_significance(report, sota or report.sota or "", SignificancePolicy.named(policy.value, alpha))
    if top is not None:
        report.candidates = report.candidates[:top]
    if as_json:
        print_json(report.model_dump(mode="json"))
    elif not report.candidates:
        console.print(f"No finished, scored attempts in sweep {report.sweep} yet.", highlight=False)
    else:
        for table in _candidate_tables(report, console.width):
            console.print(table)


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "-"


# `near`: the band reaches over the limit, so a sweep runs it with a warning; `over`: it skips it.
VERDICT_TEXT = {"fits": Text("yes", "green"), "near": Text("maybe (warned)", "yellow"), "over": Text("NO", "red")}


def _prediction_tables(name: str, predictions: list[Prediction], width: int) -> list[Table]:
    """One row per config; ids and numbers are never cut. The text columns (params, format, basis) sit
    beside the numbers when `width` allows, else in a second table keyed by config id."""
    numbers = compact_table(f"Preflight: {name}")
    rows = [[p.config_id, f"{p.model_params:,}" + ("" if p.params_exact else " ~"), f"{p.artifact_bytes:,}",
             f"+-{p.band:.0%}" + (" (exact)" if p.exact else "") + f"\n{p.low_bytes:,}..\n{p.high_bytes:,}",
             f"{p.limit_bytes - p.artifact_bytes:,}"] for p in predictions]
    headers = [("config", "left"), ("params", "right"), ("artifact B", "right"), ("band B", "right"),
               ("headroom B", "right")]
    widths = [max([len(line) for row in rows for line in row[i].splitlines()] + [len(headers[i][0])])
              for i in range(len(headers))]
    numbers.add_column("config", no_wrap=True, min_width=widths[0])
    numbers.add_column("fits", no_wrap=True, min_width=max(len(t.plain) for t in VERDICT_TEXT.values()))
    for (column, justify), widest in list(zip(headers, widths, strict=True))[1:]:
        numbers.add_column(column, justify=justify, no_wrap=True, min_width=widest)  # type: ignore[arg-type]
    texts = [[_params(p.params), p.format_label, f"{p.basis} ({p.method})"] for p in predictions]
    inline = width - (sum(widths) + 14 + 2 * len(widths)) >= 60
    details = numbers if inline else compact_table("configs")
    if not inline:
        details.add_column("config", no_wrap=True, min_width=widths[0])
    for column in ("params", "format", "basis (method)"):
        details.add_column(column, overflow="fold", ratio=1)
    for row, text, p in zip(rows, texts, predictions, strict=True):
        cells = [Text(row[0]), VERDICT_TEXT[p.verdict], *(Text(cell) for cell in row[1:])]
        described = [Text(t) for t in text]
        if inline:
            numbers.add_row(*cells, *described)
        else:
            numbers.add_row(*cells)
            details.add_row(Text(p.config_id), *described)
    return [numbers] if inline else [numbers, details]


def _mark(budget: Budget, fmt: str) -> str:
    if budget.ok is None:
        return "[dim]?[/]"
    value = fmt.format(budget.value)
    return f"[green]{value}[/]" if budget.ok else f"[red]{value} ✗[/]"


def _candidate_tables(report: CandidateReport, width: int) -> list[Table]:
    """The ranking; every value keeps its width (config ids whole), long headers fold. When the
    params do not fit beside the figures in `width` columns, they get a table of their own."""
    limits = report.limits
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"Candidates: {report.sweep} (limits {limits.artifact_bytes:,} B, "
                  f"train {limits.train_s:g}+{limits.train_tolerance_s:g} s, eval {limits.eval_s:g} s)")
    spent = f"{report.gpu_hours:.3f} GPU-hours" + ("" if report.cost is None else
                                                 f" = {report.cost:,.2f} at {report.cost_per_gpu_hour:g}/GPU-hour")
    table.caption, table.caption_justify = f"sweep total: {spent}", "left"
    header = ["#", "config", "n", "mean\nbpb", "std", "max\nbytes", "train\ns", "eval\ns", "GPU-h"]  # cost: caption
    significant = any(c.significance for c in report.candidates)
    if significant:
        header += SIGNIFICANCE_COLUMNS
        first = next(c.significance for c in report.candidates if c.significance)
        table.caption += (f"\nvs SOTA {first.sota_source}, {first.policy} policy, alpha {first.alpha:g}; delta = mean "
                          f"- SOTA; bar = the mean val_loss/val_bpb these seeds must reach for p < alpha; more seeds: to "
                          f"80% power at the observed spread (P = chance that {report.max_seeds} seeds pass)")
    rows = []
    for c in report.candidates:
        std = "-" if c.std_val_bpb is None else f"{c.std_val_bpb:.5f}"
        rows.append([str(c.rank), c.config_id, str(c.n_seeds), f"{c.mean_val_bpb:.5f}", std,
                     _mark(c.budgets["artifact_bytes"], "{:,.0f}"), _mark(c.budgets["train_s"], "{:.1f}"),
                     _mark(c.budgets["eval_s"], "{:.1f}"), f"{c.gpu_hours:.3f}",
                     *(_significance_cells(c.significance) if significant else [])])
    widths = [max([Text.from_markup(row[i]).cell_len for row in rows] + [max(map(len, name.splitlines()))])
              for i, name in enumerate(header)]
    for name, widest in zip(header, widths, strict=True):
        table.add_column(name, justify="left" if name == "config" else "right", overflow="fold", min_width=widest)
    params = [_params(c.params) for c in report.candidates]
    inline = width - (sum(widths) + 2 * len(widths)) >= 24
    if inline:
        table.add_column("params", overflow="fold", ratio=1)
    for row, text in zip(rows, params, strict=True):
        table.add_row(*row, *([Text(text)] if inline else []))
    if inline:
        return [table]
    swept = Table(box=box.SIMPLE_HEAD, title="params")
    swept.add_column("#", justify="right")
    swept.add_column("config", min_width=widths[1])
    swept.add_column("params", overflow="fold")
    for c, text in zip(report.candidates, params, strict=True):
        swept.add_row(str(c.rank), c.config_id, Text(text))
    return [table, swept]


SIGNIFICANCE_COLUMNS = ["Δ nats", "Δ bpb", "p", "bar val_loss", "bar val_bpb", "more seeds"]


def _significance_cells(sig: CandidateSignificance | None) -> list[str]:
    if sig is None:
        return ["-"] * len(SIGNIFICANCE_COLUMNS)
    p = "-" if sig.p is None else (f"[green]{sig.p:.3g}[/]" if sig.passes else f"{sig.p:.3g}")
    more = "-" if sig.more_seeds is None else f"+{sig.more_seeds}"
    if sig.p_reach is not None:
        more += f" (P {sig.p_reach:.0%})"
    return [f"{sig.delta_nats:+.5f}", f"{sig.delta_bpb:+.5f}", p, _num(sig.bar_val_loss), _num(sig.bar_val_bpb), more]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"
