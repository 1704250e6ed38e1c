"""Shared CLI plumbing: one-line errors instead of tracebacks, the consoles, progress bars."""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TimeElapsedColumn
from rich.table import Table

from sweeper.candidates import sweep_candidates
from sweeper.configref import resolve_config_ref
from sweeper.data import ProgressFn
from sweeper.errors import PgolfError
from sweeper.ledger import Ledger
from sweeper.sweepdir import SweepDir

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

OutOption = Annotated[Path | None, typer.Option(
    "--out", help="Sweeps root (default $PGOLF_HOME or ./pgolf-runs).", show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout (strict: no NaN).")]


def validation_message(exc: ValidationError) -> str:
    """`loc: msg` for the first error (and a count of the rest), as one line."""
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first.get("loc", ())) or "<root>"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first.get('msg', 'invalid')}{more}"


def compact_table(title: str) -> Table:
    """A borderless table whose columns cost two spaces each, so ids and numbers fit 80 columns whole."""
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)


def whole_column(table: Table, name: str, cells: list[str], justify: str = "right") -> None:
    """A column that never cuts or wraps its values (ids, numbers): as wide as its widest cell."""
    widest = max([len(line) for cell in cells for line in cell.splitlines()] + [len(name)])
    table.add_column(name, justify=justify, no_wrap=True, min_width=widest)  # type: ignore[arg-type]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` as one line on stderr and return the Exit to raise."""
    one_line = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(one_line)}", highlight=False, soft_wrap=True)  # text, not markup
    return typer.Exit(code)


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause into one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PgolfError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except ValidationError as exc:
            raise fail(validation_message(exc), 2) from None
        except FileNotFoundError as exc:
            raise fail(f"file not found: {exc.filename or exc}", 2) from None
        except PermissionError as exc:
            raise fail(f"permission denied: {exc.filename or exc}", 2) from None
        except OSError as exc:  # a path of the wrong kind (a directory, a file where a folder should be)
            where = f": {exc.filename}" if exc.filename else ""
            raise fail(f"{(exc.strerror or str(exc)).lower()}{where}", 2) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no rich markup, no wrapping): strict JSON, where a NaN or
    infinite number (a diverged loss) is `null`, since JSON has no such numbers."""
    sys.stdout.write(json.dumps(strict_json(data), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def strict_json(data: Any) -> Any:
    """`data` with every non-finite float replaced by None (containers copied)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [strict_json(value) for value in data]
    return data


@contextmanager
def progress_bars() -> Iterator[ProgressFn]:
    """Rich progress bars on stderr, one per stage a long job reports (`ProgressFn`)."""
    columns = (SpinnerColumn(), "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bars:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total or None)
            bars.update(tasks[stage], completed=done, total=total or None)

        yield update


def config_id_of(sweep: SweepDir, ref: str) -> str:
    """`--config` as typed (full id, rank `#N` as `pgolf candidates` shows it, or a unique prefix)."""
    with Ledger(sweep.ledger_path, create=False) as ledger:
        config_ids = [c.config_id for c in ledger.configs()]
    ranked = [c.config_id for c in sweep_candidates(sweep).candidates]
    return resolve_config_ref(ref, config_ids, ranked, sweep.name)
