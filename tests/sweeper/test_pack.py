"""`pgolf pack` and sweeper/pack.py: the stub carries the source byte for byte; bad input is one line."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.errors import UsageError
from sweeper.pack import is_stub, pack_file, pack_source, unpack_stub
from tests.paths import TRAINER
from tests.sweeper.cli_output import one_error_line

runner = CliRunner()


def test_stub_payload_is_the_trainer_source_and_much_smaller(tmp_path: Path) -> None:
    result = pack_file(TRAINER, tmp_path / "sub" / "train_gpt.py")
    stub = result.out.read_bytes()
    assert is_stub(stub) and unpack_stub(stub) == TRAINER.read_bytes()
    assert (result.source_bytes, result.stub_bytes) == (len(TRAINER.read_bytes()), len(stub))
    assert result.stub_bytes < 0.5 * result.source_bytes


def test_stub_runs_with_the_sources_name_and_file(tmp_path: Path) -> None:
    source = b"import sys\nfrom pathlib import Path\nSIZE = len(Path(__file__).read_bytes())\n" \
             b"if __name__ == '__main__':\n    print(__name__, SIZE)\n"
    stub_path = tmp_path / "stub.py"
    stub_path.write_bytes(pack_source(source))
    ran = runpy.run_path(str(stub_path), run_name="__main__")
    imported = runpy.run_path(str(stub_path), run_name="a_module")
    assert ran["SIZE"] == imported["SIZE"] == stub_path.stat().st_size  # __file__ is the stub
    assert ran["__name__"] == "__main__" and imported["__name__"] == "a_module"


def test_cli_prints_both_sizes(tmp_path: Path) -> None:
    out = tmp_path / "train_gpt.py"
    result = runner.invoke(app, ["pack", str(TRAINER), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"({len(TRAINER.read_bytes()):,} bytes)" in text and f"({out.stat().st_size:,} bytes," in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot pack {src}: no such file"),
        (b"# notes\nthis is not python(\n", "{src} is not Python source: SyntaxError (line 2)"),
        (b"\xff\xfe binary", "{src} is not Python source: UnicodeDecodeError"),
        ("stub", "{src} is already a packed stub"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, content, message: str) -> None:
    src, out = tmp_path / "in.py", tmp_path / "out" / "train_gpt.py"
    if content == "stub":
        src.write_bytes(pack_source(b"x = 1\n"))
    elif content is not None:
        src.write_bytes(content)
    result = runner.invoke(app, ["pack", str(src), "--out", str(out)])
    assert result.exit_code == 2
    assert one_error_line(result.stderr) == "error: " + message.format(src=src)
    assert not out.parent.exists()


def test_packing_onto_itself_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "train_gpt.py"
    src.write_bytes(b"x = 1\n")
    with pytest.raises(UsageError, match="onto itself"):
        pack_file(src, src)
    assert src.read_bytes() == b"x = 1\n"


def test_unpack_refuses_what_is_not_a_stub() -> None:
    with pytest.raises(UsageError, match="is not a pgolf packed stub"):
        unpack_stub(b"print(1)\n", "x.py")
