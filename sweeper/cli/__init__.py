"""The `pgolf` command line. Thin typer wrappers over the core; nothing imports this package.

Each command group lives in its own module and registers itself on `app`.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="pgolf",
    help="Sweep, track and validate OpenAI Parameter Golf runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version() -> str:
    try:
        return metadata.version("pgolf")
    except metadata.PackageNotFoundError:  # run from a checkout (PYTHONPATH) without installing
        project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
        return str(project["project"]["version"])


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pgolf {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the pgolf version and exit.")] = False,
) -> None:
    """Sweep, track and validate OpenAI Parameter Golf runs."""


# Command modules register themselves on `app` (import order sets the help order).
from sweeper.cli import data_cmd, log_cmd, space_cmd, sweep_cmd, record_cmd, dashboard_cmd, pack_cmd  # noqa: F401, I001


def main() -> None:
    """Console-script entry point. A mistyped command line (unknown option, bad choice, missing argument)
    is one `error:` line on stderr with exit code 2, like every other pgolf error, not a drawn box."""
    try:
        from typer._click.exceptions import UsageError  # this typer carries its own click
    except ImportError:  # older typer: plain click
        from click import UsageError

    try:
        code = app(standalone_mode=False, prog_name="pgolf")
    except UsageError as exc:
        message = " ".join(exc.format_message().split())
        if message:  # empty: a bare group call that already printed its help
            where = f"{exc.ctx.command_path}: " if exc.ctx else ""
            sys.stderr.write(f"error: {where}{message} (see --help)\n")
        code = exc.exit_code
    except typer.Abort:
        sys.stderr.write("error: aborted\n")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
