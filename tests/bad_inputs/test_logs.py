"""Files that are not train logs given to `pgolf log`: refused quickly in one line, before reading."""

from __future__ import annotations

import gzip
import os
import socket
import sqlite3
from pathlib import Path

import pytest
import zstandard

from tests.bad_inputs.harness import Case, run_case
from tests.records.helpers import SEQ2048_LOG


def file(name: str, content: bytes, *flags: str) -> callable:
    def build(tmp: Path) -> list[str]:
        (tmp / name).write_bytes(content)
        return ["log", name, *flags]
    return build


def sqlite_file(tmp: Path) -> list[str]:
    db = sqlite3.connect(tmp / "ledger.log")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    return ["log", "ledger.log"]


def fifo(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "pipe.log")  # opening it for reading would block until a writer comes
    return ["log", "pipe.log"]


def unix_socket(tmp: Path) -> list[str]:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp / "sock.log"))
    server.close()
    return ["log", "sock.log"]


def symlink(target: str) -> callable:
    def build(tmp: Path) -> list[str]:
        (tmp / "link.log").symlink_to(target)
        return ["log", "link.log"]
    return build


def good_then(name: str, content: bytes) -> callable:
    def build(tmp: Path) -> list[str]:
        (tmp / "good.log").write_text(SEQ2048_LOG.read_text())
        (tmp / name).write_bytes(content)
        return ["log", "good.log", name, "--json"]
    return build


TEXT = SEQ2048_LOG.read_bytes()
CASES = [
    Case("missing", lambda tmp: ["log", "nope.log"], ("nope.log", "no such file")),
    Case("directory", lambda tmp: ["log", "."], ("cannot read log .", "it is a directory")),
    Case("fifo", fifo, ("pipe.log", "it is a FIFO")),
    Case("dev-zero", lambda tmp: ["log", "/dev/zero"], ("/dev/zero", "character device")),
    Case("dev-null", lambda tmp: ["log", "/dev/null"], ("/dev/null", "character device")),
    Case("dev-urandom-json", lambda tmp: ["log", "/dev/urandom", "--json"], ("/dev/urandom", "character device")),
    Case("socket", unix_socket, ("sock.log", "it is a socket")),
    Case("nul-bytes", file("zeros.log", b"\x00" * 100_000), ("zeros.log", "a binary file")),
    Case("control-bytes", file("ctl.log", bytes(range(1, 32)) * 300), ("ctl.log", "a binary file")),
    Case("png", file("plot.log", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20), ("plot.log", "a binary file")),
    Case("gzip-log", file("train.log.gz", gzip.compress(TEXT)), ("train.log.gz", "a binary file")),
    Case("zstd-artifact", file("final_model.ptz", zstandard.ZstdCompressor().compress(b"\x00" * 5000 + TEXT)),
         ("final_model.ptz", "a binary file")),
    Case("utf16-log", file("utf16.log", TEXT[:5000].decode().encode("utf-16")), ("utf16.log", "a binary file")),
    Case("utf32-log", file("utf32.log", TEXT[:5000].decode().encode("utf-32")), ("utf32.log", "a binary file")),
    Case("sqlite-db", sqlite_file, ("ledger.log", "a binary file")),
    Case("zip-archive", file("logs.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 200), ("logs.zip", "binary")),
    Case("symlink-to-dir", symlink("/"), ("link.log", "it is a directory")),
    Case("broken-symlink", symlink("nowhere.log"), ("link.log", "no such file")),
    Case("symlink-to-dev-zero", symlink("/dev/zero"), ("link.log", "character device")),
    Case("second-file-binary", good_then("bad.log", b"\x00\xff" * 500), ("bad.log", "a binary file")),
    Case("second-file-fifo", lambda tmp: good_then("x", b"")(tmp)[:2] + [fifo(tmp)[1]],
         ("pipe.log", "it is a FIFO")),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_not_a_log(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_case(case, tmp_path, monkeypatch)
