"""Dashboards of a real sweep: Ray Tune runs the stand-in trainer (replaying two official record logs).

The W&B workspace is checked against the offline runs the sweep actually wrote (group, tags,
config keys, history and summary keys), and the HTML dashboard is opened in headless Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wandb_workspaces.reports.v2 as wr

from dashboards.html import write_html
from dashboards.views import SweepView, load_sweep_view
from dashboards.workspace import GROUP, SCORE, build_workspace
from sweeper.sweepdir import SweepDir
from sweeper.wandb_offline import find_offline_runs, read_offline_run
from tests.dashboards.browser import Browser
from tests.dashboards.test_browser import ARTIFACTS
from tests.tune.spaces import BASELINE_LOG, SEQ2048_LOG, standin_space

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_sweep(demo_data, tmp_path_factory: pytest.TempPathFactory) -> SweepDir:
    from rich.console import Console

    from sweeper.tune.driver import run_sweep

    space = standin_space(demo_data, "dash-real", params={
        "STANDIN_LOG": {"type": "grid", "values": [str(BASELINE_LOG), str(SEQ2048_LOG)]}})
    root = tmp_path_factory.mktemp("real-sweep")
    report = run_sweep(space, root, console=Console(quiet=True))
    assert report.complete and report.counts.get("finished") == 2, report
    return SweepDir(report.path)


@pytest.fixture(scope="module")
def real_view(real_sweep: SweepDir) -> SweepView:
    return load_sweep_view(real_sweep)


def test_view_of_a_real_sweep_ranks_its_configs_and_draws_their_curves(real_view: SweepView) -> None:
    assert real_view.swept_params == ["STANDIN_LOG"]
    assert [round(c.mean_bpb or 0, 8) for c in real_view.configs] == [1.20576485, 1.2243657]  # the records' scores
    assert {b.metric for b in real_view.curves} == {"train_loss", "val_bpb"}


def test_workspace_reads_the_keys_the_sweep_wrote_to_wandb(real_sweep: SweepDir, real_view: SweepView) -> None:
    runs = [read_offline_run(path) for path in find_offline_runs(real_sweep.wandb_dir)]
    assert len(runs) == 2
    workspace = build_workspace(real_view, entity="me")
    assert workspace.project == runs[0].project
    tag = f"sweep:{real_view.name}"
    assert f"'{tag}'" in str(workspace.runset_settings.filters)
    assert [g.name for g in workspace.runset_settings.groupby] == [GROUP]  # W&B's Group = the run's group
    assert {r.group for r in runs} == {f"{real_view.name}/{c.config_id}" for c in real_view.configs}
    for run in runs:
        assert tag in run.tags
        assert {SCORE, "artifact_bytes"} <= set(run.summary)
        assert run.summary[SCORE] == next(a.val_bpb for a in real_view.attempts if a.wandb_run_id == run.run_id)
        assert {"seed", *real_view.swept_params} <= set(run.config)
        assert any("train_loss" in row for row in run.history) and all("step" in row for row in run.history)
    parallel = next(p for s in workspace.sections for p in s.panels if isinstance(p, wr.ParallelCoordinatesPlot))
    assert [getattr(c.metric, "name", c.metric) for c in parallel.columns] == ["STANDIN_LOG", SCORE]


def test_html_of_a_real_sweep_opens_cleanly_in_chromium(real_view: SweepView, tmp_path: Path) -> None:
    page = write_html(real_view, tmp_path / "real.html")
    with Browser() as browser:
        report = browser.load(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "real-sweep.png").write_bytes(report.screenshot_png)
    assert report.exceptions == [] and report.console_errors == []
    assert report.charts["charts"] == 8 and report.charts["drawn"] == 8
    assert all(url == page.as_uri() or url.startswith(("data:", "blob:")) for url in report.requests)
