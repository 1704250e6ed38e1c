"""The W&B workspace for one sweep, defined in code with wandb-workspaces.

It reads what the sweeper's tracking writes: one run per attempt, group = `<sweep>/<config id>`,
tags `sweep:<name>`, `seed:<n>`, `stage:<s>`, the swept params and `seed` in the config, history
`train_loss` / `val_bpb` (in-training, pre-quant) by `step`; the summary written when the trial
ends (`sweeper.tune.trial`) holds `final/val_bpb` = the post-quant score (beside, not over, the
history's pre-quant `val_bpb`), `final/val_loss`, `pre_quant_val_bpb`, `artifact_bytes`,
`code_bytes`, `train_s`, `eval_s`, `status`.

Building and serialising need no network (`Workspace._to_model()` is offline, unlike a Report's);
only `save_workspace` talks to W&B, in a daemon thread with a deadline so it can never hang.
"""

from __future__ import annotations

import html
import os
import re
import threading
import time
from pathlib import Path

import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws
from wandb_workspaces import expr
from wandb_workspaces.workspaces import internal

from dashboards.views import SweepView
from sweeper.errors import PgolfError, UsageError
from sweeper.wandb_env import quiet_wandb

SAVE_TIMEOUT_S = 60.0
# wandb-workspaces round-trips filters through a Python-like string: quotes break it, < > are rewritten.
TAG_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
GROUP = "Group"  # W&B's run attribute that holds `<sweep>/<config id>`
SCORE = "final/val_bpb"  # the post-quant score (summary); the history's `val_bpb` is in-training (pre-quant)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!~|])")


class WandbUnavailable(PgolfError):
    """W&B could not be reached or refused the workspace; the spec on disk is still valid."""


def _summary(name: str) -> wr.SummaryMetric:
    return wr.SummaryMetric(name)


def seeds_section(view: SweepView) -> ws.Section:
    """Seeds of one config side by side: mean/std per config, per-seed values, sizes, curves."""
    cap = view.artifact_cap
    return ws.Section(name="Seeds", is_open=True, panels=[
        wr.BarPlot(title="post-quant val_bpb per config: mean ± std over seeds",
                   metrics=[_summary(SCORE)], groupby=GROUP,
                   groupby_aggfunc="mean", groupby_rangefunc="stddev"),
        wr.ScatterPlot(title="post-quant val_bpb per seed", x=wr.Config("seed"), y=_summary(SCORE)),
        wr.BarPlot(title=f"artifact bytes per run (axis ends at the {cap:,} cap)",
                   metrics=[_summary("artifact_bytes")], range_x=(0, cap)),
        wr.LinePlot(title="train_loss by config (mean ± std over seeds)", x="step", y=["train_loss"],
                    groupby=GROUP, groupby_aggfunc="mean", groupby_rangefunc="stddev"),
        wr.LinePlot(title="in-training val_bpb by config (pre-quant, mean ± std over seeds)", x="step", y=["val_bpb"],
                    groupby=GROUP, groupby_aggfunc="mean", groupby_rangefunc="stddev"),
    ])


def sweep_section(view: SweepView) -> ws.Section:
    """What the sweep found: params -> score, which params matter, size vs score, a run comparer."""
    columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(p)) for p in view.swept_params]
    columns.append(wr.ParallelCoordinatesPlotColumn(metric=_summary(SCORE), display_name="post-quant val_bpb"))
    return ws.Section(name="Sweep", is_open=True, panels=[
        wr.ParallelCoordinatesPlot(title="swept params -> post-quant val_bpb", columns=columns),
        wr.ParameterImportancePlot(with_respect_to=SCORE),
        wr.ScatterPlot(title="artifact bytes vs post-quant val_bpb", x=_summary("artifact_bytes"),
                       y=_summary(SCORE), range_x=(None, view.artifact_cap)),
        wr.RunComparer(diff_only="split"),
    ])


def markdown_cell(value: object) -> str:
    """Text made inert for a markdown table cell: HTML entities, escaped markdown, one line."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _bpb(value: float | None) -> str:
    return "-" if value is None else f"{value:.5f}"


def candidates_markdown(view: SweepView) -> str:
    """The candidates table (configs with >= 3 seeds and their verdicts), as of the build time."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(view.generated_at))
    head = (f"**Candidates of sweep {markdown_cell(view.name)}** (configs with at least 3 finished seeds; "
            f"snapshot of {stamp}, rerun `pgolf dashboard --wandb` to refresh)\n\n")
    if not view.candidates:
        return head + "No config has 3 finished seeds yet."
    rows = ["| config | seeds | mean val_bpb | std | verdict | reasons |", "|---|---|---|---|---|---|"]
    for c in view.candidates:
        rows.append(" | ".join(["", markdown_cell(c.config_id), str(c.n_seeds), _bpb(c.mean_bpb),
                                _bpb(c.std_bpb), markdown_cell(c.verdict),
                                markdown_cell("; ".join(c.reasons) or "-"), ""]).strip())
    return head + "\n".join(rows)


def candidates_section(view: SweepView) -> ws.Section:
    """Configs with enough seeds to judge, their verdicts, and their scores side by side."""
    return ws.Section(name="Candidates", is_open=True, panels=[
        wr.MarkdownPanel(markdown=candidates_markdown(view)),
        wr.BarPlot(title="post-quant val_bpb per config: mean ± stderr", metrics=[_summary(SCORE)],
                   groupby=GROUP, groupby_aggfunc="mean", groupby_rangefunc="stderr"),
    ])


def build_workspace(view: SweepView, *, entity: str | None = None, project: str | None = None) -> ws.Workspace:
    """The sweep's workspace: runs tagged `sweep:<name>`, grouped by config, in three sections."""
    if not TAG_SAFE_NAME.fullmatch(view.name):
        raise UsageError(f"sweep name {view.name!r}: a W&B tag filter needs letters, digits, '_', '.' or '-' "
                         "(the names `pgolf sweep` gives)")
    return ws.Workspace(
        entity=entity or view.entity or os.environ.get("WANDB_ENTITY", ""),
        project=project or view.project,
        name=f"pgolf sweep {view.name}",
        sections=[seeds_section(view), sweep_section(view), candidates_section(view)],
        settings=ws.WorkspaceSettings(x_axis="step"),
        runset_settings=ws.RunsetSettings(filters=[expr.Tags().isin([f"sweep:{view.name}"])],
                                          groupby=[expr.Metric(GROUP)]),
    )


def to_view(workspace: ws.Workspace) -> internal.View:
    """The workspace as W&B's view model (offline; the one private call we rely on)."""
    return workspace._to_model()


def write_spec(view: internal.View, path: Path) -> Path:
    """Write the view as JSON; `push_view(load_spec(path))` uploads it later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(view.model_dump_json(indent=2, by_alias=True) + "\n")
    return path


def load_spec(path: Path) -> internal.View:
    """A spec written by `write_spec`; UsageError names the file when it is not one."""
    try:
        return internal.View.model_validate_json(path.read_text())
    except ValueError as exc:
        first_line = str(exc).splitlines()[0]
        raise UsageError(f"{path}: not a W&B workspace spec written by `pgolf dashboard --wandb` ({first_line})") from None


def push_view(view: internal.View, timeout_s: float = SAVE_TIMEOUT_S) -> str:
    """Upload a workspace view; returns its URL. Runs in a daemon thread with a deadline."""
    if not view.entity:
        raise UsageError("the workspace has no W&B entity: pass --entity or set WANDB_ENTITY")
    quiet_wandb()
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            workspace = ws.Workspace._from_model(view)
            outcome["url"] = workspace.save().url
        except Exception as exc:  # noqa: BLE001 - any failure is reported on the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=upload, name="pgolf-wandb-save", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise WandbUnavailable(f"W&B did not answer within {timeout_s:.0f} s (no network?)")
    if "error" in outcome:
        first_line = (str(outcome["error"]).strip().splitlines() or [type(outcome["error"]).__name__])[0]
        raise WandbUnavailable(f"W&B refused the workspace: {first_line}")
    return str(outcome["url"])
