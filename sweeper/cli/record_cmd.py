"""`pgolf check` (validate a records folder) and `pgolf promote` (turn a sweep config into one)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from sweeper.cli import app
from sweeper.cli.common import (
    JsonOption,
    OutOption,
    compact_table,
    config_id_of,
    console,
    err_console,
    friendly_errors,
    print_json,
    whole_column,
)
from sweeper.records.check import check_folder
from sweeper.records.promote import promote
from sweeper.records.schema import SignificancePolicy
from sweeper.records.verdict import Verdict
from sweeper.sweepdir import resolve_sweep, sweeps_root


class PolicyName(str, Enum):
    readme = "readme"
    frontier = "frontier"


SotaOption = Annotated[str | None, typer.Option(
    "--sota", help="State of the art: a records folder (its seeds are used), or its val_loss in nats "
                   "(2.0727, 2.0727nats) or its val_bpb (1.2244bpb).")]
PolicyOption = Annotated[PolicyName, typer.Option(
    "--policy", help="readme: one-sample t-test against SOTA - 0.005 nats, p < 0.01 (the written rule). "
                     "frontier: Welch test against the SOTA's seeds, no margin (maintainers' practice).")]
AlphaOption = Annotated[float | None, typer.Option(
    "--alpha", help="Significance level (default 0.01 for readme, 0.25 for frontier).", min=1e-9, max=0.999)]
NonRecordOption = Annotated[bool, typer.Option(
    "--non-record", help="Non-record track: no time limits and no significance requirement (16 MB cap kept).")]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_verdict(verdict: Verdict, extra: Sequence[str] = ()) -> None:
    """The verdict's table and findings; `extra` adds reasons (promotion refusals) not printed yet.
    The significance sentence is printed once, even when a finding repeats it."""
    table = compact_table(f"{verdict.name or verdict.folder} ({verdict.track})")
    seeds = sorted(verdict.seeds, key=lambda seed: seed.seed)
    rows = [[str(s.seed), f"{s.val_loss:.8f}", f"{s.val_bpb:.8f}", _fmt(s.artifact_bytes, ","),
             _fmt(s.train_time_ms and s.train_time_ms / 1000, ".1f"), _fmt(s.eval_time_ms and s.eval_time_ms / 1000, ".1f")]
            for s in seeds]
    for index, column in enumerate(("seed", "val_loss", "val_bpb", "artifact B", "train s", "eval s")):
        whole_column(table, column, [row[index] for row in rows])
    table.add_column("problems", overflow="fold", min_width=8)
    table.add_column("log", overflow="fold", min_width=8)
    tokenizers = sorted({s.tokenizer for s in seeds})
    if len(tokenizers) == 1:  # the usual case: one caption line instead of a column
        table.caption, table.caption_justify = f"tokenizer: {tokenizers[0]}", "left"
    else:
        table.add_column("tokenizer", overflow="fold", min_width=8)
    for s, row in zip(seeds, rows, strict=True):
        problems = Text(", ".join(f.code for f in s.violations)) if s.violations else Text("ok", "green")
        table.add_row(*row, problems, Text(s.file), *([Text(s.tokenizer)] if len(tokenizers) > 1 else []))
    console.print(table)
    for finding in verdict.violations:
        console.print(f"[red]violation[/] {escape(finding.message)}", highlight=False)
    for finding in verdict.warnings:
        if finding not in verdict.violations:
            console.print(f"[yellow]warning[/] {escape(finding.message)}", highlight=False)
    for claim in verdict.claim_mismatches:
        console.print("[yellow]claim[/] " + escape(f"{claim.source} {claim.field}: claims {claim.claimed}, logs show "
                                                   f"{claim.actual}{'; ' + claim.note if claim.note else ''}"),
                      highlight=False)
    for note in verdict.notes:
        console.print(f"[dim]note[/] {escape(note)}", highlight=False)
    shown = {f.message for f in (*verdict.violations, *verdict.warnings)}
    for reason in dict.fromkeys(extra):
        if reason not in shown:
            console.print(f"[red]refused[/] {escape(reason)}", highlight=False)
    statement = verdict.significance.statement
    if not any(statement in message for message in shown):
        console.print(f"[bold]significance[/] {statement}", highlight=False)
    colour = "green" if verdict.passed else "red"
    console.print(f"[bold {colour}]{verdict.verdict.upper()}[/] ({len(verdict.violations)} violation(s), "
                  f"{len(verdict.claim_mismatches)} claim mismatch(es))")


@app.command("check")
@friendly_errors
def check_command(
    record_dir: Annotated[Path, typer.Argument(help="A records folder in the official layout.")],
    sota: SotaOption = None,
    policy: PolicyOption = PolicyName.readme,
    alpha: AlphaOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON (a stable contract).")] = False,
    non_record: NonRecordOption = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings and claim mismatches too.")] = False,
    submission: Annotated[str | None, typer.Option(
        "--submission", help="Which submission*.json to read when the folder has several.")] = None,
) -> None:
    """Validate a records folder: logs, budgets, legality, claims and significance. Exit 0 pass, 1 fail, 2 unusable."""
    verdict = check_folder(record_dir, sota=sota, policy=SignificancePolicy.named(policy.value, alpha),
                           non_record=non_record, strict=strict, submission_file=submission)
    if as_json:
        print_json(verdict.model_dump(mode="json"))
    else:
        _print_verdict(verdict)
    raise typer.Exit(verdict.exit_code)


@app.command("promote")
@friendly_errors
def promote_command(
    config: Annotated[str, typer.Option(
        "--config", help="The config to promote: its id, its rank as `pgolf candidates` shows it ('#1', "
                         "quoted for the shell), or a unique id prefix.")],
    sweep: Annotated[str | None, typer.Argument(
        help="Sweep name under --out, or a sweep directory (default: the most recent sweep).")] = None,
    sota: SotaOption = None,
    record_dir: Annotated[Path, typer.Option(
        "--record-dir", help="Records folder to write (must not exist or be empty); a refusal writes "
                             "<record-dir>.draft/ instead.")] = Path("record"),
    name: Annotated[str, typer.Option("--name", help="Submission name.")] = "",
    author: Annotated[str, typer.Option("--author", help="Author, as shown on the leaderboard.")] = "",
    github_id: Annotated[str, typer.Option("--github-id", help="GitHub handle.")] = "",
    blurb: Annotated[str, typer.Option("--blurb", help="A paragraph for the README (what the record does).")] = "",
    non_record: NonRecordOption = False,
    policy: PolicyOption = PolicyName.readme,
    alpha: AlphaOption = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    root: Annotated[Path | None, typer.Option("--root", hidden=True, help="Deprecated alias of --out.")] = None,
) -> None:
    """Validate a config's seeds from the ledger; if they pass write a records folder and a report,
    else a draft folder (<record-dir>.draft/) with the reasons. Exit 0 written, 1 refused."""
    if root is not None:
        err_console.print("[yellow]note:[/] --root is deprecated: use --out (the sweeps folder, as everywhere)",
                          highlight=False)
    sweep_dir = resolve_sweep(sweep, sweeps_root(out or root))
    config_id = config_id_of(sweep_dir, config)
    with err_console.status(f"validating config {config_id} of sweep {sweep_dir.name}"):
        result = promote(sweep_dir, config_id=config_id, sota=sota, out_dir=record_dir, name=name, author=author,
                         github_id=github_id, non_record=non_record, blurb=blurb,
                         policy=SignificancePolicy.named(policy.value, alpha))
    if as_json:
        print_json(result.model_dump(mode="json"))
    else:
        _print_verdict(result.verdict, extra=[] if result.written else result.refusals)
    if not result.written:
        err_console.print(f"[bold red]error:[/] not promoted ({len(result.refusals)} reason(s)); draft and report "
                          f"in {escape(str(result.draft_dir))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if not as_json:
        console.print(f"wrote {result.out_dir} (report: {result.report_html})", highlight=False, markup=False,
                      soft_wrap=True)
