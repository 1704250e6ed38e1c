"""The official shard format: byte layout, round trips, and one-line errors for malformed files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from sweeper.data.shards import open_shard, read_header, read_shard, shard_name, shard_paths, write_shard
from sweeper.errors import DataError


def _raw_shard(path: Path, header: tuple[int, ...], tokens: list[int]) -> Path:
    """A shard written by hand, independently of `write_shard`."""
    ints = list(header) + [0] * (256 - len(header))
    path.write_bytes(struct.pack("<256i", *ints) + struct.pack(f"<{len(tokens)}H", *tokens))
    return path


def _assert_one_line_naming(exc: pytest.ExceptionInfo[DataError], path: Path, *words: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message


def test_written_shard_has_the_official_byte_layout(tmp_path: Path) -> None:
    path = tmp_path / "fineweb_val_000000.bin"
    write_shard(path, [1, 65535, 0, 1023])
    data = path.read_bytes()
    header = struct.unpack("<256i", data[:1024])
    assert header[:3] == (20240520, 1, 4)
    assert set(header[3:]) == {0}
    assert struct.unpack("<4H", data[1024:]) == (1, 65535, 0, 1023)
    assert len(data) == 1024 + 2 * 4


def test_reader_accepts_a_hand_written_shard(tmp_path: Path) -> None:
    path = _raw_shard(tmp_path / "s.bin", (20240520, 1, 3), [1, 7, 300])
    assert read_header(path) == 3
    assert read_shard(path).tolist() == [1, 7, 300]
    assert read_shard(path).dtype == np.uint16


def test_memmap_reader_matches_in_memory_reader(tmp_path: Path) -> None:
    tokens = np.arange(5000, dtype=np.uint16) % 1024
    path = tmp_path / "s.bin"
    write_shard(path, tokens)
    mapped = open_shard(path)
    assert isinstance(mapped, np.memmap)
    assert not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, tokens)
    np.testing.assert_array_equal(read_shard(path), tokens)


def test_empty_shard_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    write_shard(path, np.array([], dtype=np.uint16))
    assert read_header(path) == 0
    assert open_shard(path).size == 0


def test_shard_paths_are_sorted_and_split_specific(tmp_path: Path) -> None:
    for name in (
        "fineweb_train_000002.bin",
        "fineweb_train_000000.bin",
        "fineweb_val_000000.bin",
        "fineweb_train_000001.bin",
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in shard_paths(tmp_path, "train")] == [shard_name("train", i) for i in range(3)]
    assert [p.name for p in shard_paths(tmp_path, "val")] == ["fineweb_val_000000.bin"]


def test_short_header_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(struct.pack("<3i", 20240520, 1, 0))
    with pytest.raises(DataError) as exc:
        read_header(path)
    _assert_one_line_naming(exc, path, "header is 12 bytes", "1024")


def test_wrong_magic_is_reported(tmp_path: Path) -> None:
    path = _raw_shard(tmp_path / "magic.bin", (12345, 1, 2), [1, 2])
    with pytest.raises(DataError) as exc:
        read_shard(path)
    _assert_one_line_naming(exc, path, "magic", "12345", "20240520")


def test_wrong_version_is_reported(tmp_path: Path) -> None:
    path = _raw_shard(tmp_path / "version.bin", (20240520, 2, 2), [1, 2])
    with pytest.raises(DataError) as exc:
        open_shard(path)
    _assert_one_line_naming(exc, path, "version 2")


def test_truncated_body_is_reported(tmp_path: Path) -> None:
    path = _raw_shard(tmp_path / "trunc.bin", (20240520, 1, 10), [1, 2, 3])
    with pytest.raises(DataError) as exc:
        read_header(path)
    _assert_one_line_naming(exc, path, "truncated", "10 tokens", "1030 bytes")


def test_trailing_bytes_are_reported(tmp_path: Path) -> None:
    path = _raw_shard(tmp_path / "long.bin", (20240520, 1, 1), [1, 2])
    with pytest.raises(DataError) as exc:
        read_header(path)
    _assert_one_line_naming(exc, path, "trailing bytes")


def test_missing_shard_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "absent.bin"
    with pytest.raises(DataError) as exc:
        read_header(path)
    _assert_one_line_naming(exc, path, "not found")


@pytest.mark.parametrize("bad", [[-1, 5], [70000]])
def test_writer_rejects_ids_that_do_not_fit_uint16(tmp_path: Path, bad: list[int]) -> None:
    with pytest.raises(ValueError, match="65535"):
        write_shard(tmp_path / "s.bin", np.array(bad, dtype=np.int64))
