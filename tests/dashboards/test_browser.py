"""The HTML dashboard and the record-candidate report in headless Chromium: every chart draws, nothing
errs, nothing leaves the page, and no chart's toolbar covers its title (element boxes).

The main sweep has failed trials and hostile ledger text (`<script>` in ids, params and reasons); the
`sota` sweep is judged against a SOTA (significance table, SOTA line, bars to beat).

One browser serves every page of this module; screenshots (whole pages and the new sections) are kept
under test-artifacts/dashboards/.
"""

from __future__ import annotations

import pytest

from dashboards.html import write_html
from dashboards.views import load_sweep_view
from sweeper.records.promote import report_best_config
from tests.dashboards.browser import Browser, PageReport
from tests.dashboards.sweeps import HOSTILE, Trial, hostile_trials, three_config_sweep, write_sweep
from tests.paths import REPO
from tests.records.helpers import sweep_with_config

ARTIFACTS = REPO / "test-artifacts" / "dashboards"
HOSTILE_PROBES = {
    "pwned": "window.__pwned === undefined ? null : String(window.__pwned)",
    "injected": "document.querySelectorAll('img, b, [onerror], [onload]').length",
    "scripts": "document.scripts.length",
    "json_blocks": "document.querySelectorAll('script[data-plot]').length",
    "text": "document.body.innerText",
    "chart_text": "[...document.querySelectorAll('.js-plotly-plot')].map(c => c.textContent).join(' ')",
}
EMPTY_PROBES = {"empty": "(document.getElementById('empty-state') || {}).innerText || ''"}
SOTA_PROBES = {"significance": "document.querySelector('div.significance').innerText",
               "chart_text": HOSTILE_PROBES["chart_text"]}
REPORT_PROBES = {"outlook": "(document.getElementById('seed-outlook') || {}).innerText || ''",
                 "chart_text": HOSTILE_PROBES["chart_text"]}
SECTIONS = {"sota": ("#significance", "#seeds", "#sweep"), "report": ("#significance", "#charts")}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageReport]:
    root = tmp_path_factory.mktemp("dash-browser")
    files = {
        "sweep": (write_html(load_sweep_view(three_config_sweep(root / "a", extra=hostile_trials())),
                             root / "sweep.html"), HOSTILE_PROBES),
        "sota": (write_html(load_sweep_view(three_config_sweep(root / "b"), sota="1.33bpb"), root / "sota.html"),
                 SOTA_PROBES),
        "single": (write_html(load_sweep_view(write_sweep(root / "c", "solo", [Trial("only", 1, {"LR": 0.1}, 1.25)])),
                              root / "single.html"), {}),
        "empty": (write_html(load_sweep_view(write_sweep(root / "d", "cold", [
            Trial("c1", 1, {"LR": 0.1}, None, failure_reason="OOM")])), root / "empty.html"), EMPTY_PROBES),
        "report": (report_best_config(sweep_with_config(root / "e", {1337: 1.2060, 42: 1.2071, 2025: 1.2066}),
                                      root / "report", sota="2.10").html, REPORT_PROBES),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    reports = {}
    with Browser() as browser:
        for name, (page, probes) in files.items():
            reports[name] = browser.load(page, probes, sections=SECTIONS.get(name, ()))
            (ARTIFACTS / f"{name}.png").write_bytes(reports[name].screenshot_png)
            for selector, png in reports[name].section_pngs.items():
                (ARTIFACTS / f"{name}-{selector.strip('#')}.png").write_bytes(png)
    return reports


def _page_url_or_inline(url: str) -> bool:
    return url.startswith(("data:", "blob:")) or (url.startswith("file://") and url.endswith(".html"))


@pytest.mark.parametrize("name, charts", [("sweep", 8), ("sota", 8), ("single", 8), ("empty", 0), ("report", 4)])
def test_every_chart_draws_without_errors_or_requests(pages: dict[str, PageReport], name: str, charts: int) -> None:
    report = pages[name]
    assert report.exceptions == []
    assert report.console_errors == []
    assert report.charts["charts"] == charts and report.charts["drawn"] == charts
    assert report.requests and all(_page_url_or_inline(url) for url in report.requests), report.requests
    assert len([u for u in report.requests if u.startswith("file://")]) == 1  # the page itself, nothing else
    assert report.screenshot_png.startswith(b"\x89PNG") and (ARTIFACTS / f"{name}.png").is_file()


@pytest.mark.parametrize("name", ["sweep", "sota", "single", "report"])
def test_no_toolbar_covers_a_chart_title(pages: dict[str, PageReport], name: str) -> None:
    boxes = pages[name].toolbar_title_boxes
    assert len(boxes) == pages[name].charts["charts"]
    for chart in boxes:
        assert chart["toolbar"] and chart["title"], chart  # both drawn, so the check below means something
        assert chart["toolbar"]["right"] - chart["toolbar"]["left"] > 50, chart
        assert chart["overlap"] is False, chart
        assert chart["title"]["top"] >= chart["toolbar"]["bottom"], chart


def test_new_sections_are_screenshotted(pages: dict[str, PageReport]) -> None:
    for name, selectors in SECTIONS.items():
        for selector in selectors:
            png = pages[name].section_pngs[selector]
            assert png.startswith(b"\x89PNG") and (ARTIFACTS / f"{name}-{selector.strip('#')}.png").is_file()


def test_the_sota_sweep_shows_significance_and_reference_lines(pages: dict[str, PageReport]) -> None:
    probes = pages["sota"].probes
    assert "1.33 bpb (given)" in probes["significance"] and "bar val_bpb" in probes["significance"]
    assert "MATRIX_LR=0.04 NUM_LAYERS=4" in probes["chart_text"] and "cfgA" not in probes["chart_text"]
    assert "SOTA 1.33000" in probes["chart_text"] and "bar to beat" in probes["chart_text"]


def test_the_report_uses_the_same_charts_and_states_the_seed_outlook(pages: dict[str, PageReport]) -> None:
    probes = pages["report"].probes
    assert "Bar to beat with these 3 seeds" in probes["outlook"] and "Seeds needed" in probes["outlook"]
    assert "Official score per seed" in probes["chart_text"] and "SOTA - margin" in probes["chart_text"]
    assert "Artifact bytes per seed" in probes["chart_text"]


def test_hostile_strings_stay_text(pages: dict[str, PageReport]) -> None:
    probes = pages["sweep"].probes
    assert probes["pwned"] is None
    assert probes["injected"] == 0
    assert probes["scripts"] == probes["json_blocks"] + 2  # plotly.js and the loader, nothing else
    assert HOSTILE in probes["text"]  # config id, param value and failure reason, shown literally
    assert "<script>window.__pwned=1</script>" in probes["chart_text"]  # and inside the plotly charts


def test_a_sweep_with_no_finished_trial_says_so(pages: dict[str, PageReport]) -> None:
    assert "No finished trial yet in sweep cold" in pages["empty"].probes["empty"]
