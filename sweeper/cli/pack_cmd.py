"""`pgolf pack`: write a submission's train_gpt.py as a small self-extracting stub of the real source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweeper.cli import app
from sweeper.cli.common import JsonOption, console, friendly_errors, print_json
from sweeper.pack import pack_file


@app.command("pack")
@friendly_errors
def pack(
    source: Annotated[Path, typer.Argument(help="The trainer source to pack, e.g. trainer/train_gpt.py.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the stub, e.g. records/x/train_gpt.py.")],
    as_json: JsonOption = False,
) -> None:
    """Pack SOURCE into a self-extracting stub (lzma + base85) that runs as the source; prints both sizes."""
    result = pack_file(source, out)
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    console.print(
        f"packed {result.source} ({result.source_bytes:,} bytes) -> {result.out} ({result.stub_bytes:,} bytes, "
        f"{result.stub_bytes / result.source_bytes:.3f}x; saves {result.source_bytes - result.stub_bytes:,})",
        highlight=False, markup=False, soft_wrap=True,
    )
