"""`pgolf log FILE...`: what a Parameter Golf train log says (score, bytes, seed, timing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sweeper.cli import app
from sweeper.cli.common import console, friendly_errors, print_json
from sweeper.runlog import RunResult, parse_log


def _number(value: float | None, fmt: str = "{:,}") -> str:
    return "-" if value is None else fmt.format(value)


def _table(results: list[RunResult]) -> Table:
    table = Table(title="Parameter Golf logs")
    table.add_column("file", overflow="fold")
    table.add_column("seed", justify="right")
    table.add_column("score label", overflow="fold")
    for name in ("val_bpb", "val_loss", "artifact B", "code B", "steps", "train s", "eval s", "runs"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            escape(r.file or "-"),
            _number(r.seed, "{}"),
            escape(r.label) if r.label else "[red]no score[/]",
            _number(r.val_bpb, "{}"),
            _number(r.val_loss, "{}"),
            _number(r.artifact_bytes),
            _number(r.code_bytes),
            _number(r.steps),
            _number(r.train_time_ms and r.train_time_ms / 1000, "{:.1f}"),
            _number(r.eval_time_ms and r.eval_time_ms / 1000, "{:.1f}"),
            str(r.runs),
        )
    return table


@app.command("log")
@friendly_errors
def log_command(
    files: Annotated[list[Path], typer.Argument(help="Train logs to parse (ours or official record logs).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per file.")] = False,
) -> None:
    """Parse train logs: official score, artifact/code/model bytes, seed, steps and timing."""
    results = [parse_log(path) for path in files]
    if as_json:
        print_json([r.summary() for r in results])
        return
    console.print(_table(results))
    for r in results:
        for warning in r.warnings:
            console.print(f"[yellow]warning[/] {escape(f'{r.file}: {warning}')}", highlight=False, soft_wrap=True)
