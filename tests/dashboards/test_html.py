"""The HTML page: self-contained, escaped, and sensible for failed, single-config and empty sweeps."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

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
    assert page.count('class="chart"') == 8


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
    assert page.count('class="chart"') == 8
    assert "<th>only</th>" in page  # the run comparer's single column


def _figures(page: str) -> list[dict[str, Any]]:
    blocks = re.findall(r'<script type="application/json" data-plot="chart-\d+">(.*?)</script>', page, re.DOTALL)
    return [json.loads(b) for b in blocks]


def _titled(page: str, words: str) -> dict[str, Any]:
    return next(f for f in _figures(page) if words in f["layout"]["title"]["text"])


def test_charts_name_configs_by_values_and_show_sota_bar_and_headroom(tmp_path: Path) -> None:
    page = render_html(load_sweep_view(three_config_sweep(tmp_path), sota="1.2bpb"))
    scores = _titled(page, "post-quant val_bpb per config")
    assert scores["layout"]["xaxis"]["categoryarray"] == ["MATRIX_LR=0.04 NUM_LAYERS=4", "MATRIX_LR=0.08 NUM_LAYERS=2",
                                                           "MATRIX_LR=0.02 NUM_LAYERS=2"]
    assert any(shape["y0"] == 1.2 for shape in scores["layout"]["shapes"])  # the SOTA line
    headroom = _titled(page, "artifact bytes per attempt")
    low, high = headroom["layout"]["yaxis"]["range"]
    assert 15_790_000 <= low < 15_800_000 and 16_200_000 < high < 16_300_000  # the last 200 KB, not 0-16 MB
    assert min(headroom["data"][0]["y"]) == 15_800_000  # 9 MB artifacts sit at the floor, real size in the hover
    assert any("9,000,000 bytes" in hover for hover in headroom["data"][0]["hovertext"])
    band = _titled(page, "in-training val_bpb (pre-quant) by config")
    assert all(trace["mode"] == "lines" for trace in band["data"])  # no band vertex markers that look like seeds
    per_seed = _titled(page, "train_loss per seed")
    assert len(per_seed["data"]) == 7 and {t["name"] for t in per_seed["data"]} >= {"MATRIX_LR=0.04 NUM_LAYERS=4"}
    assert 'id="significance"' in page and "Δ nats" in page and "bar val_bpb" in page and "1.2 bpb (given)" in page


def test_without_a_sota_the_significance_section_says_how_to_get_one(tmp_path: Path) -> None:
    page = render_html(load_sweep_view(three_config_sweep(tmp_path)))
    assert "No SOTA given: pass <code>--sota DIR|VALUE</code>" in page
    assert not any(f["layout"].get("shapes") and any(s.get("y0") == 1.2 for s in f["layout"]["shapes"])
                   for f in _figures(page))


def test_every_title_sits_below_the_toolbar_strip(tmp_path: Path) -> None:
    for figure in _figures(render_html(load_sweep_view(three_config_sweep(tmp_path)))):
        title = figure["layout"]["title"]
        assert title["yref"] == "container" and title["pad"]["t"] >= 30 and figure["layout"]["margin"]["t"] >= 80
