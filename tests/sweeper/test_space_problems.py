"""A bad space lists every problem at once, each with its key and its line in the file."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sweeper.cli import app
from tests.sweeper.cli_output import one_error_line

BAD = """\
name: bad
data_path: data
tokenizer_path: tok.model
seedz: [1, 2]
search:
  algorithm: grid
  max_concurrent: 0
params:
  MATRIX_LR:
    type: uniform
    low: 0.1
    high: fast
limits:
  artifact_bytes: -5
"""


def test_every_problem_of_a_bad_space_is_listed_with_its_line(tmp_path: Path) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text(BAD)
    result = CliRunner().invoke(app, ["preflight", str(space), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert line.startswith(f"error: {space}: 4 problems: ")
    problems = line.split(": 4 problems: ", 1)[1].split("; ")
    assert [p.rsplit(" (line ", 1)[1] for p in problems] == ["4)", "7)", "12)", "14)"]
    assert problems[0].startswith("seedz: unknown key (did you mean 'seeds'?)")
    assert problems[1].startswith("search.max_concurrent: ")
    assert problems[2].startswith("params.MATRIX_LR.high: ")
    assert problems[3].startswith("limits.artifact_bytes: ")
    assert not (tmp_path / "runs").exists()  # nothing written
