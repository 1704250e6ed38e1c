"""The record-candidate report: a self-contained HTML page (the dashboard's plotly charts) and its Markdown twin.

Both are rendered from the same data: a summary, the per-seed table, the significance statement
with its units and the seed outlook (bar to beat, seeds needed), the budgets, every finding and
note. The HTML adds the charts of `sweeper.records.charts`; it loads nothing from the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from statistics import fmean, stdev

from sweeper.charts.page import FigurePage
from sweeper.records.charts import report_figures
from sweeper.records.significance import SignificanceResult
from sweeper.records.verdict import Verdict
from sweeper.runlog import RunResult

Table = tuple[list[str], list[list[str]]]


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_rows(verdict: Verdict, context: Mapping[str, str]) -> list[tuple[str, str]]:
    """Key facts as (label, value) pairs, the config context first."""
    bpbs = [s.val_bpb for s in verdict.seeds]
    losses = [s.val_loss for s in verdict.seeds]
    spread = f" (std {stdev(bpbs):.5f})" if len(bpbs) > 1 else ""
    tokenizers = sorted({s.tokenizer for s in verdict.seeds})
    return [*context.items(),
            ("verdict", verdict.verdict.upper()),
            ("seeds", ", ".join(str(s.seed) for s in verdict.seeds)),
            ("mean val_bpb (bits per byte)", f"{fmean(bpbs):.8f}{spread}"),
            ("mean val_loss (nats per token)", f"{fmean(losses):.8f}"),
            ("tokenizer / validation stream", ", ".join(tokenizers))]


def seed_table(verdict: Verdict) -> Table:
    header = ["seed", "val_loss (nats)", "val_bpb", "artifact bytes", "steps", "train s", "eval s", "problems"]
    rows = [[str(s.seed), f"{s.val_loss:.8f}", f"{s.val_bpb:.8f}", _num(s.artifact_bytes, ","), _num(s.steps, "d"),
             _num(s.train_time_ms and s.train_time_ms / 1000, ".1f"), _num(s.eval_time_ms and s.eval_time_ms / 1000, ".1f"),
             ", ".join(f.code for f in s.violations) or "ok"] for s in verdict.seeds]
    return header, rows


def budget_table(verdict: Verdict) -> Table:
    """Each budget's limit, the worst seed's value and whether every seed is within (from the findings)."""
    limits, seeds = verdict.limits, verdict.seeds
    codes = {f.code for s in seeds for f in s.violations}

    def worst(values: Sequence[float | int | None], spec: str, unit: str) -> str:
        known = [v for v in values if v is not None]
        return f"{max(known):{spec}} {unit}" if known else "-"

    rows = [
        ["artifact (code + compressed model)", f"{limits.artifact_bytes:,} bytes",
         worst([s.artifact_bytes for s in seeds], ",", "bytes"), _within(codes, "artifact")],
        ["training wallclock", f"{limits.train_s:g} s (+ one step)",
         worst([s.train_time_ms and s.train_time_ms / 1000 for s in seeds], ",.1f", "s"), _within(codes, "train_time")],
        ["evaluation wallclock", f"{limits.eval_s:g} s",
         worst([s.eval_time_ms and s.eval_time_ms / 1000 for s in seeds], ",.1f", "s"), _within(codes, "eval_time")],
    ]
    return ["budget (per seed)", "limit", "worst seed", "within"], rows


def _within(codes: set[str], budget: str) -> str:
    if f"{budget}_over_limit" in codes:
        return "NO"
    return "unknown" if f"{budget}_unknown" in codes else "yes"


def findings_lines(verdict: Verdict) -> list[str]:
    lines = [f"violation: {f.message}" for f in verdict.violations]
    lines += [f"warning: {f.message}" for f in verdict.warnings if f not in verdict.violations]
    lines += [f"claim: {c.source} {c.field} claims {c.claimed}, logs show {c.actual}. {c.note}".strip()
              for c in verdict.claim_mismatches]
    return lines + [f"note: {n}" for n in verdict.notes]


def outlook_lines(sig: SignificanceResult) -> list[str]:
    """The seed economy in words: the bar these seeds must reach, and how many more seeds to plan for."""
    if sig.p is None and sig.bar_val_loss is None and sig.seeds_needed is None:
        return []
    lines = []
    if sig.bar_val_loss is not None and sig.bar_val_bpb is not None:
        lines.append(f"Bar to beat with these {sig.n} seeds (mean for p = {sig.alpha:g}): val_loss "
                     f"{sig.bar_val_loss:.5f} nats = val_bpb {sig.bar_val_bpb:.5f}.")
    if sig.seeds_needed is None:
        lines.append("Seeds needed: not reachable at the observed mean and spread (within 30 seeds).")
    else:
        more = "it passes already" if sig.passes else f"{sig.more_seeds} more"
        lines.append(f"Seeds needed for 80% power at the observed mean and spread: {sig.seeds_needed} "
                     f"({more}); chance that {sig.max_seeds} seeds pass: {sig.p_reach:.0%}.")
    return lines


def markdown_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def render_markdown(verdict: Verdict, context: Mapping[str, str], title: str) -> str:
    parts = [f"# {title}", "", *[f"- **{k}**: {v}" for k, v in summary_rows(verdict, context)], "",
             "## Seeds", "", markdown_table(seed_table(verdict)), "",
             "## Significance", "", verdict.significance.statement, "",
             *[f"- {line}" for line in outlook_lines(verdict.significance)], "",
             "## Budgets", "", markdown_table(budget_table(verdict)), ""]
    findings = findings_lines(verdict)
    if findings:
        parts += ["## Findings", "", *[f"- {line}" for line in findings], ""]
    parts += ["Charts (per-seed scores, loss curves, artifact headroom) are in the HTML version of this report.", ""]
    return "\n".join(parts)


def _html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}.pass{color:#1a7f37}.fail{color:#cf222e}li{margin:2px 0}dt{font-weight:bold}
.chart{min-height:440px;border:1px solid #eee;border-radius:6px;margin:1em 0}"""


def render_html(verdict: Verdict, results: Mapping[int, RunResult], context: Mapping[str, str], title: str) -> str:
    summary = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in summary_rows(verdict, context))
    findings = "".join(f"<li>{escape(line)}</li>" for line in findings_lines(verdict))
    outlook = "".join(f"<li>{escape(line)}</li>" for line in outlook_lines(verdict.significance))
    page = FigurePage()
    charts = [page.chart(fig) for fig in report_figures(verdict, results)]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', page.csp_meta(),
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f'<h1>{escape(title)} <span class="{verdict.verdict}">{verdict.verdict.upper()}</span></h1>',
        f"<dl>{summary}</dl>", "<h2>Seeds</h2>", _html_table(seed_table(verdict)),
        '<h2 id="significance">Significance</h2>', f"<p>{escape(verdict.significance.statement)}</p>",
        *([f'<ul id="seed-outlook">{outlook}</ul>'] if outlook else []),
        '<h2 id="charts">Charts</h2>', *charts,
        "<h2>Budgets</h2>", _html_table(budget_table(verdict)),
        *(["<h2>Findings</h2>", f"<ul>{findings}</ul>"] if findings else []),
        page.tail(), "</body></html>", ""])


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    markdown: Path


def write_report(out_dir: Path, verdict: Verdict, results: Mapping[int, RunResult], context: Mapping[str, str],
                 title: str, stem: str = "candidate_report") -> ReportFiles:
    """Write `<stem>.html` and `<stem>.md` into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(html=out_dir / f"{stem}.html", markdown=out_dir / f"{stem}.md")
    files.html.write_text(render_html(verdict, results, context, title), encoding="utf-8")
    files.markdown.write_text(render_markdown(verdict, context, title), encoding="utf-8")
    return files
