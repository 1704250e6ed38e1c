"""Every `pgolf` command, at any depth, is documented: help text, option help, and a working `--help`.

The command tree is read from the registered typer app, so commands added later are covered too.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sweeper.cli import app

runner = CliRunner()


def command_tree(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(argv path, command) for a click command and everything registered below it, depth first.

    Typer vendors its own click, so groups are recognised by their `commands` mapping."""
    found = [(path, command)]
    subcommands = getattr(command, "commands", {})
    for name in sorted(subcommands):
        found += command_tree(subcommands[name], (*path, name))
    return found


COMMANDS = command_tree(typer.main.get_command(app))
IDS = [" ".join(("pgolf", *path)) for path, _ in COMMANDS]


def test_tree_includes_nested_sub_commands() -> None:
    assert ("data", "check") in [path for path, _ in COMMANDS]
    assert ("data", "demo") in [path for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_command_has_help_text(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"`pgolf {' '.join(path)}` has no help text"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_and_argument_has_help(path: tuple[str, ...], command: Any) -> None:
    undocumented = [
        param.name
        for param in command.params
        if param.name != "help" and not (getattr(param, "help", None) or "").strip()
    ]
    assert not undocumented, f"`pgolf {' '.join(path)}` parameters without help: {undocumented}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_flag_exits_0_and_shows_usage(path: tuple[str, ...], command: Any) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
