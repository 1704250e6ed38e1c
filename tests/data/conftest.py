"""A private, writable copy of the session demo dataset, for tests that damage it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from sweeper.data.demo import DemoDataset


class DatasetCopy(NamedTuple):
    data_dir: Path
    tokenizer: Path


@pytest.fixture
def demo_copy(demo_data: DemoDataset, tmp_path: Path) -> DatasetCopy:
    """The demo shards and tokenizer copied under `tmp_path` (the session copy stays untouched)."""
    data_dir = tmp_path / "dataset"
    shutil.copytree(demo_data.data_dir, data_dir)
    tokenizer = tmp_path / "tokenizer.model"
    shutil.copyfile(demo_data.tokenizer_path, tokenizer)
    return DatasetCopy(data_dir, tokenizer)


def overwrite_magic(shard: Path, magic: int) -> None:
    """Replace a shard's header magic number (the first int32) in place."""
    data = bytearray(shard.read_bytes())
    data[0:4] = magic.to_bytes(4, "little")
    shard.write_bytes(bytes(data))
