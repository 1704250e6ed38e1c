"""Session-wide fixtures: the demo dataset is built once per test session and shared read-only."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory):  # -> sweeper.data.demo.DemoDataset
    """The offline demo dataset (official shard format + SentencePiece model), built once."""
    from sweeper.data.demo import build_demo_dataset

    return build_demo_dataset(tmp_path_factory.mktemp("demo-data"))
