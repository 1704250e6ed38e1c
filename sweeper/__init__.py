"""pgolf's sweeper: the pure core (data, log parsing, spaces, ledger, records) plus the Ray layer.

Layering (enforced by tests/test_layering.py): `sweeper.tune` is the only package that imports
Ray; `sweeper.cli` is the only one that imports typer and nothing imports it; `trainer/` imports
no project code; `dashboards` reads the core.
"""

from sweeper.errors import PgolfError
from sweeper.runlog import LogParser, RunResult, parse_lines, parse_log

__all__ = ["LogParser", "PgolfError", "RunResult", "parse_lines", "parse_log"]
