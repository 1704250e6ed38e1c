"""The offline HTML dashboard: one self-contained file (plotly.js embedded), built from the ledger.

The page machinery (embedded plotly.js, the Content-Security-Policy that lets only our two inline
scripts run, figure JSON that cannot close its script tag) is `sweeper.charts.page`, shared with
the record-candidate report. Ledger text is HTML-escaped in the tables.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from pathlib import Path

from dashboards import figures
from dashboards.parcoords import parallel_coordinates
from dashboards.views import AttemptView, ConfigView, SweepView
from sweeper.candidates import CandidateSignificance
from sweeper.charts.page import FigurePage, content_security_policy, plotly_js, script_json

__all__ = ["content_security_policy", "plotly_js", "render_html", "script_json", "write_html"]
COMPARER_MAX_CONFIGS = 12
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 1.5rem 3rem; color: #222; }
header { border-bottom: 1px solid #ddd; margin-bottom: 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #eee; }
.meta { color: #666; font-size: .9rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 1rem; }
.chart { min-height: 420px; border: 1px solid #eee; border-radius: 6px; }
.empty { padding: 1.5rem; background: #fff8e1; border: 1px solid #f0c36d; border-radius: 6px; font-size: 1.1rem; }
.note { color: #666; font-style: italic; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; } tr.differs td { background: #fffbe6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-failed, .verdict-fail { color: #b00020; font-weight: 600; }
.status-finished, .verdict-pass { color: #1b7f3b; }
pre { white-space: pre-wrap; max-height: 16rem; overflow: auto; background: #f7f7f7; padding: .5rem; margin: .3rem 0; }
"""


def e(value: object) -> str:
    """Ledger text as inert HTML."""
    return html.escape(str(value), quote=True)


def _num(value: float | None, fmt: str = "{:.5f}") -> str:
    return "-" if value is None else fmt.format(value)


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}"


def _table(head: Iterable[str], rows: Iterable[str]) -> str:
    header = "".join(f"<th>{e(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _comparer(view: SweepView) -> str:
    """Configs side by side (best first); rows whose values differ are highlighted."""
    shown: list[ConfigView] = [c for c in view.configs if c.finished][:COMPARER_MAX_CONFIGS]
    rows: list[tuple[str, list[str]]] = [(p, [str(c.params.get(p, "-")) for c in shown]) for p in view.swept_params]
    rows.insert(0, ("config id", [c.config_id for c in shown]))
    rows += [
        ("finished seeds", [", ".join(map(str, c.seeds)) for c in shown]),
        ("mean val_bpb", [_num(c.mean_bpb) for c in shown]),
        ("std val_bpb", [_num(c.std_bpb) for c in shown]),
        ("max artifact bytes", [_num(c.max_artifact_bytes, "{:,}") for c in shown]),
    ]
    body = [f'<tr class="{"differs" if len(set(values)) > 1 else "same"}"><th>{e(name)}</th>'
            + "".join(f"<td>{e(v)}</td>" for v in values) + "</tr>" for name, values in rows]
    names = view.config_labels()
    return _table(["", *(names[c.config_id] for c in shown)], body)


def _candidates(view: SweepView) -> str:
    if not view.candidates:
        return '<p class="note">No config has 3 finished seeds yet: candidates appear once one does.</p>'
    rows = [f"<tr><td>{e(c.config_id)}</td><td class=num>{c.n_seeds}</td><td class=num>{_num(c.mean_bpb)}</td>"
            f"<td class=num>{_num(c.std_bpb)}</td><td class=\"verdict-{e(c.verdict)}\">"
            f"{e(c.verdict)}</td><td>{'<br>'.join(e(r) for r in c.reasons) or '-'}</td></tr>"
            for c in view.candidates]
    return _table(["config", "seeds", "mean val_bpb", "std", "verdict", "reasons"], rows)


def _attempt_row(a: AttemptView) -> str:
    reason = e(a.failure_reason or "")
    if a.log_tail:
        reason += f"<details><summary>log tail</summary><pre>{e(chr(10).join(a.log_tail))}</pre></details>"
    params = ", ".join(f"{k}={v}" for k, v in a.params.items())
    return (f"<tr><td>{e(a.attempt_id)}</td><td>{e(a.config_id)}</td><td class=num>{a.seed}</td><td>{e(a.stage)}</td>"
            f"<td class=\"status-{e(a.status)}\">{e(a.status)}</td><td>{e(params)}</td>"
            f"<td class=num>{_num(a.val_bpb)}</td><td class=num>{_num(a.pre_quant_val_bpb)}</td>"
            f"<td class=num>{_num(a.artifact_bytes, '{:,}')}</td><td class=num>{_seconds(a.train_time_ms)}</td>"
            f"<td class=num>{_seconds(a.eval_time_ms)}</td><td>{reason}</td></tr>")


def _attempts(view: SweepView) -> str:
    head = ["attempt", "config", "seed", "stage", "status", "params", "val_bpb", "pre-quant", "artifact bytes",
            "train s", "eval s", "failure"]
    return _table(head, (_attempt_row(a) for a in view.attempts))


def _charts(page: FigurePage, view: SweepView) -> list[str]:
    """The Seeds and Sweep sections."""
    scores = [page.chart(figures.scores_by_config(view)), page.chart(figures.artifact_headroom(view))]
    per_seed = [figures.seed_curves(view, "train_loss"), figures.seed_curves(view, "val_bpb")]
    bands = [figures.curves(view, "train_loss"), figures.curves(view, "val_bpb")]
    lines = [page.chart(fig) for fig in per_seed + bands if fig is not None]
    missing = "" if lines else '<p class="note">No loss curves: the trial logs are missing or empty.</p>'
    return [f'<h2 id="seeds">Seeds</h2><div class="grid">{"".join(scores + lines)}</div>{missing}',
            ('<h2 id="sweep">Sweep</h2><div class="grid">'
             f"{page.chart(parallel_coordinates(view))}{page.chart(figures.size_vs_score(view))}</div>"
             f"<h3>Run comparer</h3>{_comparer(view)}")]


SIGNIFICANCE_HEAD = ["config", "seeds", "mean val_bpb", "Δ nats", "Δ bpb", "p", "bar val_loss", "bar val_bpb",
                     "seeds needed", "P(pass)"]


def _significance_row(name: str, n: int, mean: float | None, sig: CandidateSignificance) -> str:
    p = "-" if sig.p is None else f"{sig.p:.3g}"
    needed = "-" if sig.seeds_needed is None else f"{sig.seeds_needed} (+{sig.more_seeds})"
    cells = [_num(mean), f"{sig.delta_nats:+.5f}", f"{sig.delta_bpb:+.5f}", p, _num(sig.bar_val_loss),
             _num(sig.bar_val_bpb), needed, "-" if sig.p_reach is None else f"{sig.p_reach:.0%}"]
    verdict = "pass" if sig.passes else "fail"
    return (f"<tr><td>{e(name)}</td><td class=num>{n}</td>"
            + "".join(f"<td class=\"num{' verdict-' + verdict if i == 3 else ''}\">{e(c)}</td>"
                      for i, c in enumerate(cells)) + "</tr>")


def _significance(view: SweepView) -> str:
    """Every ranked config against the SOTA: the table `pgolf candidates --sota` prints."""
    if view.sota is None:
        return ('<p class="note">No SOTA given: pass <code>--sota DIR|VALUE</code> (or set <code>sota:</code> in the '
                "space) for delta, p, the bar to beat and the seeds still needed.</p>")
    names = view.config_labels()
    rows = [_significance_row(names[c.config_id], len(c.seeds), c.mean_bpb, c.ranking.significance)
            for c in view.configs if c.ranking is not None and c.ranking.significance is not None]
    first = next((c.ranking.significance for c in view.configs if c.ranking and c.ranking.significance), None)
    caption = "" if first is None else (
        f'<p class="note">vs SOTA {e(first.sota_source)} ({e(first.policy)} policy, alpha {first.alpha:g}, test in '
        f"{e(first.units)}); delta = mean - SOTA; bar = the mean these seeds must reach for p = alpha; seeds needed "
        f"for 80% power at the observed spread; P(pass) = chance that {first.max_seeds} seeds pass.</p>")
    return caption + _table(SIGNIFICANCE_HEAD, rows)


def _header(view: SweepView) -> str:
    counts = ", ".join(f"{n} {e(status)}" for status, n in sorted(view.status_counts().items())) or "no attempts"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(view.generated_at))
    return (f"<header><h1>pgolf sweep <span class=\"sweep-name\">{e(view.name)}</span></h1>"
            f"<p class=\"meta\">{e(view.path)} &middot; {len(view.configs)} configs &middot; {counts} &middot; "
            f"artifact cap {view.artifact_cap:,} bytes &middot; generated {stamp}</p></header>")


def render_html(view: SweepView) -> str:
    """The whole dashboard page as one string."""
    page = FigurePage()
    parts = [_header(view)]
    if view.finished:
        parts += _charts(page, view)
    else:
        parts.append(f'<div class="empty" id="empty-state">No finished trial yet in sweep {e(view.name)}: '
                     f"{len(view.attempts)} attempt(s) so far. Charts appear once a trial finishes; failures are "
                     "listed below.</div>")
    parts.append(f'<h2 id="significance">Significance</h2><div class="significance">{_significance(view)}</div>')
    parts.append(f'<h2 id="candidates">Candidates</h2>{_candidates(view)}')
    parts.append(f'<h2 id="attempts">Attempts</h2>{_attempts(view)}')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"{page.csp_meta()}<title>pgolf sweep {e(view.name)}</title><style>{STYLE}</style></head><body>"
            f"{''.join(parts)}{page.tail()}</body></html>\n")


def write_html(view: SweepView, out: Path) -> Path:
    """Write the dashboard to `out` (parents created); returns the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(view), encoding="utf-8")
    return out
