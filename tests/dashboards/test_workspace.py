"""The W&B workspace is built and serialised offline; saving never waits past its deadline."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws

from dashboards.views import CandidateView, SweepView, load_sweep_view
from dashboards.workspace import (
    SCORE,
    WandbUnavailable,
    build_workspace,
    candidates_markdown,
    load_spec,
    push_view,
    to_view,
    write_spec,
)
from sweeper.errors import UsageError
from tests.dashboards.sweeps import HOSTILE, three_config_sweep


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the workspace tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _panels(section: ws.Section, kind: type) -> list:
    return [p for p in section.panels if isinstance(p, kind)]


def test_workspace_has_seeds_sweep_and_candidates_sections_grouped_by_config(tmp_path: Path, no_network: None) -> None:
    workspace = build_workspace(load_sweep_view(three_config_sweep(tmp_path)), entity="me")
    assert [s.name for s in workspace.sections] == ["Seeds", "Sweep", "Candidates"]
    assert workspace.entity == "me" and workspace.project == "pgolf"
    assert [g.name for g in workspace.runset_settings.groupby] == ["Group"]

    seeds, sweep, candidates = workspace.sections
    mean_std, artifact = _panels(seeds, wr.BarPlot)
    assert (mean_std.groupby, mean_std.groupby_aggfunc, mean_std.groupby_rangefunc) == ("Group", "mean", "stddev")
    assert [m.name for m in mean_std.metrics] == [SCORE]
    assert [m.name for m in artifact.metrics] == ["artifact_bytes"] and artifact.range_x == (0, 16_000_000)
    per_seed = _panels(seeds, wr.ScatterPlot)[0]
    assert (per_seed.x.name, per_seed.y.name) == ("seed", SCORE)
    curves = _panels(seeds, wr.LinePlot)
    assert [c.y for c in curves] == [["train_loss"], ["val_bpb"]]
    assert all((c.x, c.groupby, c.groupby_aggfunc, c.groupby_rangefunc) == ("step", "Group", "mean", "stddev")
               for c in curves)

    parallel = _panels(sweep, wr.ParallelCoordinatesPlot)[0]
    assert [col.metric.name for col in parallel.columns] == ["MATRIX_LR", "NUM_LAYERS", SCORE]
    size = _panels(sweep, wr.ScatterPlot)[0]
    assert (size.x.name, size.y.name) == ("artifact_bytes", SCORE)
    assert len(_panels(sweep, wr.RunComparer)) == 1
    (importance,) = _panels(sweep, wr.ParameterImportancePlot)
    assert importance.with_respect_to == SCORE == "final/val_bpb"  # the post-quant score, not the history's

    table = _panels(candidates, wr.MarkdownPanel)[0].markdown
    assert "| cfgA | 3 |" in table and "| pass |" in table and "| fail |" in table
    assert "cfgC" not in table  # one finished seed: not a candidate


def test_workspace_filters_to_the_sweep_tag_and_round_trips_as_a_spec(tmp_path: Path, no_network: None) -> None:
    view = to_view(build_workspace(load_sweep_view(three_config_sweep(tmp_path))))
    spec = write_spec(view, tmp_path / "spec.json")
    data = json.loads(spec.read_text())
    assert data["spec"]["section"]["runSets"][0]["filters"]["filters"] == [
        {"key": {"section": "run", "name": "tags"}, "op": "IN", "value": ["sweep:demo"], "disabled": False}]
    assert load_spec(spec) == view


def test_candidates_markdown_renders_hostile_text_inert() -> None:
    view = SweepView(name="s", candidates=[CandidateView(
        config_id=HOSTILE, n_seeds=3, mean_bpb=1.2, std_bpb=0.01, verdict="fail", reasons=["a | b", HOSTILE])])
    table = candidates_markdown(view)
    assert "<" not in table and ">" not in table
    assert "a \\| b" in table  # a pipe cannot open a new column


def test_a_sweep_name_unusable_in_a_tag_filter_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="sweep name \"it's\""):
        build_workspace(SweepView(name="it's"))


def test_load_spec_names_a_file_that_is_not_a_spec(tmp_path: Path) -> None:
    bad = tmp_path / "other.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(UsageError, match="other.json: not a W&B workspace spec"):
        load_spec(bad)


def test_push_gives_up_after_its_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws.Workspace, "save", lambda self: time.sleep(30))
    view = to_view(build_workspace(SweepView(name="s"), entity="me"))
    started = time.monotonic()
    with pytest.raises(WandbUnavailable, match="did not answer within 0 s"):
        push_view(view, timeout_s=0.3)
    assert time.monotonic() - started < 5


def test_push_reports_a_refusal_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ws.Workspace) -> None:
        raise RuntimeError("permission denied for entity me\ntraceback noise")

    monkeypatch.setattr(ws.Workspace, "save", refuse)
    with pytest.raises(WandbUnavailable, match=r"refused the workspace: permission denied for entity me$"):
        push_view(to_view(build_workspace(SweepView(name="s"), entity="me")))


def test_push_needs_an_entity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    with pytest.raises(UsageError, match="--entity"):
        push_view(to_view(build_workspace(SweepView(name="s"))))
