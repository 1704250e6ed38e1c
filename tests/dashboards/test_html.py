"""The HTML page: self-contained, escaped, and sensible for failed, single-config and empty sweeps."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from dashboards.html import plotly_js, render_html, script_json, write_html
from dashboards.views import load_sweep_view
from tests.dashboards.sweeps import HOSTILE, Trial, hostile_trials, three_config_sweep, write_sweep


def test_script_json_cannot_close_the_script_tag() -> None:
    original = json.dumps({"name": "</script><script>alert(1)</script> & <!--"})
    safe = script_json(original)
    assert not set("<>&") & set(safe)
    assert json.loads(safe) == json.loads(original)


def test_page_is_self_contained(tmp_path: Path) -> None:
    page = render_html(load_sweep_view(three_config_sweep(tmp_path)))
    assert plotly_js() in page  # plotly.js itself is embedded
    ours = page.replace(plotly_js(), "")
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:|//)""", ours, re.IGNORECASE)
    assert "<link" not in ours
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'', page)
    assert page.count('class="chart"') == 6


def test_hostile_ledger_text_is_escaped_everywhere(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, HOSTILE.replace("/", "|"), hostile_trials())  # the sweep name too
    page = render_html(load_sweep_view(sweep))
    assert "<script>window" not in page and "<img" not in page and "<b>x1" not in page
    assert html.escape(HOSTILE) in page  # shown as text in the tables
    blocks = re.findall(r'<script type="application/json" data-plot="chart-\d+">(.*?)</script>', page, re.DOTALL)
    assert blocks and all("<" not in b for b in blocks)
    assert any(html.escape(HOSTILE, quote=False) in json.dumps(json.loads(b)) for b in blocks)


def test_a_sweep_with_no_finished_trial_shows_a_clear_empty_state(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "cold", [Trial("c1", 1, {"LR": 0.1}, None, failure_reason="CUDA out of memory")])
    page = render_html(load_sweep_view(sweep))
    assert 'id="empty-state"' in page and "No finished trial yet in sweep cold" in page
    assert 'class="chart"' not in page
    assert "CUDA out of memory" in page and "No config has 3 finished seeds yet" in page


def test_a_single_config_sweep_gets_every_chart(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path, "solo", [Trial("only", 1, {"LR": 0.1}, 1.25)])
    out = write_html(load_sweep_view(sweep), tmp_path / "sub" / "solo.html")
    page = out.read_text()
    assert page.count('class="chart"') == 6
    assert "<th>only</th>" in page  # the run comparer's single column
