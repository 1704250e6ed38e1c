"""The offline HTML dashboard: one self-contained file (plotly.js embedded), built from the ledger.

Nothing on the page can reach the network: a Content-Security-Policy allows only the two inline
scripts we wrote (by hash), inline styles and data:/blob: images. Ledger text is HTML-escaped in
the tables; figure JSON sits in `<script type="application/json">` blocks with `<`, `>` and `&`
written as `\\u003c`, `\\u003e`, `\\u0026`, so no string can close the script tag.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

from dashboards import figures
from dashboards.parcoords import parallel_coordinates
from dashboards.views import AttemptView, ConfigView, SweepView

COMPARER_MAX_CONFIGS = 12
PLOT_CONFIG = '{"displaylogo": false, "responsive": true}'
LOADER_JS = """
document.querySelectorAll('script[type="application/json"][data-plot]').forEach(function (el) {
  var spec = JSON.parse(el.textContent);
  Plotly.newPlot(el.getAttribute('data-plot'), spec.data, spec.layout, PLOT_CONFIG);
});
""".replace("PLOT_CONFIG", PLOT_CONFIG)
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


def script_json(text: str) -> str:
    """JSON made safe inside a <script> element: no `<`, `>` or `&` survives as itself."""
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@cache
def plotly_js() -> str:
    return str(plotly.offline.get_plotlyjs())


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def content_security_policy(scripts: list[str]) -> str:
    """Only these inline scripts may run (by hash); nothing may be fetched but data:/blob: images."""
    allowed = " ".join(_csp_hash(s) for s in scripts) or "'none'"
    return (f"default-src 'none'; script-src {allowed}; style-src 'unsafe-inline'; "
            "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'")


class _Page:
    """Collects the sections' HTML and the figures they place."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures: list[tuple[str, str]] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def chart(self, fig: go.Figure) -> str:
        chart_id = f"chart-{len(self.figures)}"
        self.figures.append((chart_id, pio.to_json(fig, validate=False)))
        return f'<div class="chart" id="{chart_id}"></div>'


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
    rows += [
        ("finished seeds", [", ".join(map(str, c.seeds)) for c in shown]),
        ("mean val_bpb", [_num(c.mean_bpb) for c in shown]),
        ("std val_bpb", [_num(c.std_bpb) for c in shown]),
        ("max artifact bytes", [_num(c.max_artifact_bytes, "{:,}") for c in shown]),
    ]
    body = [f'<tr class="{"differs" if len(set(values)) > 1 else "same"}"><th>{e(name)}</th>'
            + "".join(f"<td>{e(v)}</td>" for v in values) + "</tr>" for name, values in rows]
    return _table(["", *(c.config_id for c in shown)], body)


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


def _charts(page: _Page, view: SweepView) -> None:
    train, val = figures.curves(view, "train_loss"), figures.curves(view, "val_bpb")
    seeds = [page.chart(figures.scores_by_config(view)), page.chart(figures.artifact_bytes(view))]
    seeds += [page.chart(fig) for fig in (train, val) if fig is not None]
    missing = "" if train or val else '<p class="note">No loss curves: the trial logs are missing or empty.</p>'
    page.add(f'<h2 id="seeds">Seeds</h2><div class="grid">{"".join(seeds)}</div>{missing}')
    page.add('<h2 id="sweep">Sweep</h2><div class="grid">'
             f"{page.chart(parallel_coordinates(view))}{page.chart(figures.size_vs_score(view))}</div>"
             f"<h3>Run comparer</h3>{_comparer(view)}")


def _header(view: SweepView) -> str:
    counts = ", ".join(f"{n} {e(status)}" for status, n in sorted(view.status_counts().items())) or "no attempts"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(view.generated_at))
    return (f"<header><h1>pgolf sweep <span class=\"sweep-name\">{e(view.name)}</span></h1>"
            f"<p class=\"meta\">{e(view.path)} &middot; {len(view.configs)} configs &middot; {counts} &middot; "
            f"artifact cap {view.artifact_cap:,} bytes &middot; generated {stamp}</p></header>")


def render_html(view: SweepView) -> str:
    """The whole dashboard page as one string."""
    page = _Page()
    page.add(_header(view))
    if view.finished:
        _charts(page, view)
    else:
        page.add(f'<div class="empty" id="empty-state">No finished trial yet in sweep {e(view.name)}: '
                 f"{len(view.attempts)} attempt(s) so far. Charts appear once a trial finishes; failures are "
                 "listed below.</div>")
    page.add(f'<h2 id="candidates">Candidates</h2>{_candidates(view)}')
    page.add(f'<h2 id="attempts">Attempts</h2>{_attempts(view)}')
    data = "".join(f'<script type="application/json" data-plot="{chart_id}">{script_json(spec)}</script>'
                   for chart_id, spec in page.figures)
    scripts = [plotly_js(), LOADER_JS] if page.figures else []  # an empty sweep needs no plotly.js
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(scripts)}">'
            f"<title>pgolf sweep {e(view.name)}</title><style>{STYLE}</style></head><body>"
            f"{''.join(page.parts)}{data}{''.join(f'<script>{js}</script>' for js in scripts)}</body></html>\n")


def write_html(view: SweepView, out: Path) -> Path:
    """Write the dashboard to `out` (parents created); returns the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(view), encoding="utf-8")
    return out
