"""The `pgolf` command line. Thin typer wrappers over the core; nothing imports this package.

Each command group lives in its own module and registers itself on `app`.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pgolf",
    help="Sweep, track and validate OpenAI Parameter Golf runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Sweep, track and validate OpenAI Parameter Golf runs."""


# Command modules register themselves on `app` (import order sets the help order).
from sweeper.cli import data_cmd, log_cmd, space_cmd, sweep_cmd, record_cmd, dashboard_cmd, pack_cmd  # noqa: F401, I001


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
