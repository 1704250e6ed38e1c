"""Opening a train log safely: only a regular file that looks like text, read block by block.

`pgolf log` is pointed at whatever a user types: a FIFO or `/dev/zero` would block or never end, and
a model artifact is not a log. Each is refused in one line (LogParseError) before any reading.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from sweeper.errors import LogParseError

BINARY_SNIFF_BYTES = 8192  # a file whose first bytes hold NULs or mostly control bytes is not a text log


def read_log_blocks(path: Path, block_size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes of a regular, text-looking file, block by block (see `parse_log` for the errors)."""
    try:
        kind = stat.S_IFMT(os.stat(path).st_mode)
        if kind != stat.S_IFREG:
            raise LogParseError(f"cannot read log {path}: {_FILE_KINDS.get(kind, 'not a regular file')}")
        with path.open("rb") as handle:
            block = handle.read(block_size)
            if looks_binary(block[:BINARY_SNIFF_BYTES]):
                raise LogParseError(f"cannot read log {path}: a binary file, not a text log")
            while block:
                yield block
                block = handle.read(block_size)
    except FileNotFoundError:
        raise LogParseError(f"cannot read log {path}: no such file") from None
    except OSError as exc:
        raise LogParseError(f"cannot read log {path}: {exc.strerror or exc}") from None


_FILE_KINDS = {stat.S_IFDIR: "it is a directory", stat.S_IFIFO: "it is a FIFO (named pipe), not a file",
               stat.S_IFCHR: "it is a character device, not a file", stat.S_IFBLK: "it is a block device, not a file",
               stat.S_IFSOCK: "it is a socket, not a file"}


def looks_binary(head: bytes) -> bool:
    """A NUL byte, or more than 30% control bytes other than tab/CR/LF/FF/ESC, in the first bytes."""
    if b"\x00" in head:
        return True
    control = sum(1 for byte in head if byte < 32 and byte not in b"\t\r\n\x0c\x1b")
    return control > 0.3 * len(head)
