"""Self-extracting code stubs: a submission's train_gpt.py as lzma + base85 of the real source.

Records count the code's bytes in the 16,000,000-byte artifact; a stub of the same program is ~4x smaller.
The stub execs the source in its own module namespace, so `__name__` (`"__main__"` when run, the module
name when imported) and `__file__` (the stub's path: the trainer's `Code size` counts the stub) are the
ones the source would have had. The payload is the source byte for byte (`unpack_stub`).
"""

from __future__ import annotations

import ast
import base64
import lzma
import re
from pathlib import Path

from pydantic import BaseModel

from sweeper.errors import UsageError

STUB_HEADER = "# pgolf packed stub v1 (sweeper/pack.py): runs the lzma+base85 source below\n"
_STUB = STUB_HEADER + 'import lzma as L,base64 as B\nexec(compile(L.decompress(B.b85decode("{payload}")),__file__,"exec"))\n'
_PAYLOAD = re.compile(r'b85decode\("([^"]*)"\)')


class PackResult(BaseModel):
    """What `pack_file` wrote: the stub and both sizes in bytes."""

    source: Path
    out: Path
    source_bytes: int
    stub_bytes: int


def is_stub(text: bytes) -> bool:
    return text.startswith(STUB_HEADER.encode())


def pack_source(source: bytes, name: str = "source") -> bytes:
    """The stub of `source` (UTF-8 Python); UsageError names `name` if it is not Python or already a stub."""
    if is_stub(source):
        raise UsageError(f"{name} is already a packed stub")
    try:
        ast.parse(source.decode("utf-8"), filename=name)
    except (UnicodeDecodeError, SyntaxError, ValueError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        raise UsageError(f"{name} is not Python source: {type(exc).__name__}{where}") from None
    packed = base64.b85encode(lzma.compress(source, preset=9 | lzma.PRESET_EXTREME)).decode("ascii")
    return _STUB.format(payload=packed).encode("ascii")


def unpack_stub(stub: bytes, name: str = "stub") -> bytes:
    """The source a stub carries; UsageError if `stub` is not one of ours."""
    match = _PAYLOAD.search(stub.decode("ascii", errors="replace")) if is_stub(stub) else None
    if match is None:
        raise UsageError(f"{name} is not a pgolf packed stub")
    return lzma.decompress(base64.b85decode(match.group(1)))


def pack_file(source: Path, out: Path) -> PackResult:
    """Write the stub of `source` to `out` (parents created); nothing is written on error."""
    if not source.is_file():
        raise UsageError(f"cannot pack {source}: no such file")
    if out.resolve() == source.resolve():
        raise UsageError(f"cannot pack {source} onto itself: choose another --out")
    text = source.read_bytes()
    stub = pack_source(text, str(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(stub)
    return PackResult(source=source, out=out, source_bytes=len(text), stub_bytes=len(stub))
