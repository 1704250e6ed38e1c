"""`pgolf dashboard`: the offline HTML dashboard and the W&B workspace of a sweep."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sweeper.cli import app
from sweeper.cli.common import OutOption, console, friendly_errors
from sweeper.cli.record_cmd import AlphaOption, PolicyName, PolicyOption, SotaOption
from sweeper.errors import PgolfError, UsageError
from sweeper.records.schema import SignificancePolicy
from sweeper.sweepdir import resolve_sweep, sweeps_root
from sweeper.wandb_env import api_key_available

if TYPE_CHECKING:  # wandb-workspaces imports wandb (a second): commands import it only when they run
    from wandb_workspaces.workspaces.internal import View

SPEC_NAME = "wandb-workspace.json"


def _push(view: View, spec_path: Path, timeout: float, *, key_required: bool) -> None:
    """Upload when an API key is configured; otherwise say how to push later. Never prompts."""
    from dashboards.workspace import WandbUnavailable, push_view

    later = f"pgolf dashboard --push-spec {spec_path}"
    if not api_key_available(os.environ):
        if key_required:
            raise UsageError("no W&B API key: set WANDB_API_KEY or run `wandb login`, then push again")
        console.print(f"no W&B API key: wrote the workspace spec to {spec_path}; push it later with "
                      f"WANDB_API_KEY=... {later} [--entity ENTITY]", highlight=False, soft_wrap=True)
        return
    try:
        url = push_view(view, timeout_s=timeout)
    except WandbUnavailable as exc:
        raise PgolfError(f"{exc}; the spec is kept at {spec_path}: push it later with {later}") from None
    console.print(f"W&B workspace saved: {url}", highlight=False, soft_wrap=True)


@app.command("dashboard")
@friendly_errors
def dashboard(
    sweep: Annotated[str | None, typer.Argument(
        help="Sweep name under --out, or a sweep directory (default: the most recent sweep).")] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", metavar="OUT.html", help="Write the self-contained offline HTML dashboard here.")] = None,
    wandb: Annotated[bool, typer.Option(
        "--wandb", help="Build the W&B workspace: saved when an API key is set, else written as a spec.")] = False,
    spec: Annotated[Path | None, typer.Option(
        "--spec", help=f"Where --wandb writes the workspace spec (default <sweep>/{SPEC_NAME}).",
        show_default=False)] = None,
    push_spec: Annotated[Path | None, typer.Option(
        "--push-spec", help="Upload a spec written earlier by --wandb (no sweep needed).", show_default=False)] = None,
    entity: Annotated[str | None, typer.Option(
        "--entity", help="W&B entity (default: the space's wandb.entity, else $WANDB_ENTITY).",
        show_default=False)] = None,
    project: Annotated[str | None, typer.Option(
        "--project", help="W&B project (default: the space's wandb.project).", show_default=False)] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=1, help="Give up on W&B after this many seconds.")] = 60.0,
    sota: SotaOption = None,
    policy: PolicyOption = PolicyName.readme,
    alpha: AlphaOption = None,
    out: OutOption = None,
) -> None:
    """Offline HTML dashboard (--html) and/or W&B workspace (--wandb) of a sweep: seeds, sweep, candidates."""
    from dashboards.workspace import build_workspace, load_spec, to_view, write_spec

    if push_spec is not None:
        view = load_spec(push_spec)
        overrides = {k: v for k, v in (("entity", entity or view.entity or os.environ.get("WANDB_ENTITY", "")),
                                       ("project", project)) if v}
        _push(view.model_copy(update=overrides), push_spec, timeout, key_required=True)
        return
    if html_out is None and not wandb:
        raise UsageError("nothing to do: pass --html OUT.html and/or --wandb")
    if html_out is not None and html_out.is_dir():
        raise UsageError(f"--html {html_out}: is a directory; give the file to write, e.g. {html_out / 'dashboard.html'}")
    from dashboards.html import write_html
    from dashboards.views import load_sweep_view

    sweep_dir = resolve_sweep(sweep, sweeps_root(out))
    with console.status(f"reading sweep {sweep_dir.name} (ledger and trial logs)"):
        sweep_view = load_sweep_view(sweep_dir, sota=sota, policy=SignificancePolicy.named(policy.value, alpha),
                                     with_curves=html_out is not None)
    if html_out is not None:
        write_html(sweep_view, html_out)
        console.print(f"wrote {html_out}: sweep {sweep_view.name}, {len(sweep_view.configs)} configs, "
                      f"{len(sweep_view.attempts)} attempts", highlight=False, soft_wrap=True)
    if wandb:
        view = to_view(build_workspace(sweep_view, entity=entity, project=project))
        spec_path = write_spec(view, spec or sweep_dir.path / SPEC_NAME)
        _push(view, spec_path, timeout, key_required=False)
