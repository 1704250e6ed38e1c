"""Parameter Golf datasets: the official shard format, an offline demo dataset, and verification.

Submodules: `shards` (read/write `fineweb_*.bin`), `demo` (build the offline demo dataset),
`check` (verify a dataset and fingerprint it).
"""

from collections.abc import Callable

# Progress callback shared by long data jobs: (stage, done, total); total 0 means "unknown".
ProgressFn = Callable[[str, int, int], None]

__all__ = ["ProgressFn"]
