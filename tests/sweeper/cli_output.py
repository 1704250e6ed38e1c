"""What every CLI error must look like: exactly one line `error: ...`, never a traceback."""

from __future__ import annotations


def one_error_line(output: str) -> str:
    """The single non-blank line of `output`, asserted to be an `error: ` line without a traceback."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output, output
    return lines[0]
