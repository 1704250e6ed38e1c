"""sha256 over files, streamed: artifacts and validation shards are too large to read whole."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK_BYTES = 1 << 24


def sha256_files(*paths: Path) -> str:
    """Hex sha256 over the concatenated bytes of `paths`, in the order given (OSError if unreadable)."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            while block := handle.read(BLOCK_BYTES):
                digest.update(block)
    return digest.hexdigest()
