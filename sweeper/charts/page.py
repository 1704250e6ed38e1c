"""A self-contained HTML page of plotly figures (plotly.js embedded), unable to reach the network.

A Content-Security-Policy allows only the inline scripts we wrote (by hash), inline styles and
data:/blob: images. Figure JSON sits in `<script type="application/json">` blocks with `<`, `>` and
`&` written as `\\u003c`, `\\u003e`, `\\u0026`, so no string can close the script tag.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

# The toolbar shows on hover only; chart titles sit below its strip (see figures.styled).
PLOT_CONFIG = '{"displaylogo": false, "responsive": true, "displayModeBar": "hover"}'
LOADER_JS = """
document.querySelectorAll('script[type="application/json"][data-plot]').forEach(function (el) {
  var spec = JSON.parse(el.textContent);
  Plotly.newPlot(el.getAttribute('data-plot'), spec.data, spec.layout, PLOT_CONFIG);
});
""".replace("PLOT_CONFIG", PLOT_CONFIG)


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


class FigurePage:
    """Collects a page's figures: `chart(fig)` places one, `head()` and `tail()` wrap the page."""

    def __init__(self) -> None:
        self.figures: list[tuple[str, str]] = []

    def chart(self, fig: go.Figure) -> str:
        chart_id = f"chart-{len(self.figures)}"
        self.figures.append((chart_id, pio.to_json(fig, validate=False)))
        return f'<div class="chart" id="{chart_id}"></div>'

    def _scripts(self) -> list[str]:
        return [plotly_js(), LOADER_JS] if self.figures else []  # a page without charts needs no plotly.js

    def csp_meta(self) -> str:
        """The page's `<meta>` Content-Security-Policy (call after every chart was placed)."""
        return f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(self._scripts())}">'

    def tail(self) -> str:
        """The figures' JSON blocks and the scripts that draw them (end of <body>)."""
        data = "".join(f'<script type="application/json" data-plot="{chart_id}">{script_json(spec)}</script>'
                       for chart_id, spec in self.figures)
        return data + "".join(f"<script>{js}</script>" for js in self._scripts())
