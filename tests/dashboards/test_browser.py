"""The HTML dashboard in headless Chromium: every chart draws, nothing errs, nothing leaves the page.

The main sweep has failed trials and hostile ledger text (`<script>` in ids, params and reasons).

One browser serves every page of this module; screenshots are kept under test-artifacts/dashboards/.
"""

from __future__ import annotations

import pytest

from dashboards.html import write_html
from dashboards.views import load_sweep_view
from tests.dashboards.browser import Browser, PageReport
from tests.dashboards.sweeps import HOSTILE, Trial, hostile_trials, three_config_sweep, write_sweep
from tests.paths import REPO

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


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageReport]:
    root = tmp_path_factory.mktemp("dash-browser")
    sweeps = {
        "sweep": (three_config_sweep(root / "a", extra=hostile_trials()), HOSTILE_PROBES),
        "single": (write_sweep(root / "c", "solo", [Trial("only", 1, {"LR": 0.1}, 1.25)]), {}),
        "empty": (write_sweep(root / "d", "cold", [Trial("c1", 1, {"LR": 0.1}, None, failure_reason="OOM")]),
                  EMPTY_PROBES),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    reports = {}
    with Browser() as browser:
        for name, (sweep, probes) in sweeps.items():
            page = write_html(load_sweep_view(sweep), root / f"{name}.html")
            reports[name] = browser.load(page, probes)
            (ARTIFACTS / f"{name}.png").write_bytes(reports[name].screenshot_png)
    return reports


def _page_url_or_inline(url: str, report_name: str) -> bool:
    return url.startswith(("data:", "blob:")) or (url.startswith("file://") and url.endswith(f"/{report_name}.html"))


@pytest.mark.parametrize("name, charts", [("sweep", 6), ("single", 6), ("empty", 0)])
def test_every_chart_draws_without_errors_or_requests(pages: dict[str, PageReport], name: str, charts: int) -> None:
    report = pages[name]
    assert report.exceptions == []
    assert report.console_errors == []
    assert report.charts["charts"] == charts and report.charts["drawn"] == charts
    assert report.requests and all(_page_url_or_inline(url, name) for url in report.requests), report.requests
    assert report.screenshot_png.startswith(b"\x89PNG") and (ARTIFACTS / f"{name}.png").is_file()


def test_hostile_strings_stay_text(pages: dict[str, PageReport]) -> None:
    probes = pages["sweep"].probes
    assert probes["pwned"] is None
    assert probes["injected"] == 0
    assert probes["scripts"] == probes["json_blocks"] + 2  # plotly.js and the loader, nothing else
    assert HOSTILE in probes["text"]  # config id, param value and failure reason, shown literally
    assert "<script>window.__pwned=1</script>" in probes["chart_text"]  # and inside the plotly charts


def test_a_sweep_with_no_finished_trial_says_so(pages: dict[str, PageReport]) -> None:
    assert "No finished trial yet in sweep cold" in pages["empty"].probes["empty"]
