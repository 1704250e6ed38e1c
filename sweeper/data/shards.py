"""The official Parameter Golf shard format (`fineweb_{train,val}_NNNNNN.bin`).

A shard is a 1024-byte header of 256 little-endian int32 (magic 20240520, version 1, token
count, then zeros) followed by the tokens as little-endian uint16. Readers apply the same checks
as the official `load_data_shard`: header size, magic, version and
`file_size == 1024 + 2 * num_tokens`; anything else raises `DataError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from sweeper.errors import DataError

SHARD_MAGIC = 20240520
SHARD_VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u2")
MAX_TOKENS = 2**31 - 1  # the header stores the count as int32
SPLITS = ("train", "val")


def shard_name(split: str, index: int) -> str:
    """The official file name of shard `index` of `split`, e.g. `fineweb_val_000000.bin`."""
    return f"fineweb_{split}_{index:06d}.bin"


def shard_paths(data_dir: Path, split: str) -> list[Path]:
    """The shards of one split in the order the trainer reads them (sorted file names)."""
    return sorted(Path(data_dir).glob(f"fineweb_{split}_*.bin"))


def write_shard(path: Path, tokens: npt.ArrayLike) -> None:
    """Write `tokens` (ids in [0, 65535]) as one shard."""
    ids = np.asarray(tokens)
    if ids.ndim != 1:
        raise ValueError(f"{path}: tokens must be a 1-D array, got shape {ids.shape}")
    if ids.size > MAX_TOKENS:
        raise ValueError(f"{path}: {ids.size} tokens do not fit the int32 header")
    if ids.dtype != TOKEN_DTYPE and ids.size and (ids.min() < 0 or ids.max() > np.iinfo(np.uint16).max):
        raise ValueError(f"{path}: token ids must be in [0, 65535], got [{ids.min()}, {ids.max()}]")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = (SHARD_MAGIC, SHARD_VERSION, ids.size)
    with Path(path).open("wb") as f:
        f.write(header.tobytes())
        f.write(ids.astype(TOKEN_DTYPE, copy=False).tobytes())


def read_header(path: Path) -> int:
    """Validate the header and file size of a shard and return its token count."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(HEADER_BYTES)
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: shard not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read shard ({exc.strerror or exc})") from None
    if len(raw) < HEADER_BYTES:
        raise DataError(f"{path}: header is {len(raw)} bytes, expected {HEADER_BYTES}")
    magic, version, num_tokens = (int(v) for v in np.frombuffer(raw, dtype="<i4", count=3))
    if magic != SHARD_MAGIC:
        raise DataError(f"{path}: bad magic number {magic} (expected {SHARD_MAGIC})")
    if version != SHARD_VERSION:
        raise DataError(f"{path}: unsupported shard version {version} (expected {SHARD_VERSION})")
    if num_tokens < 0:
        raise DataError(f"{path}: negative token count {num_tokens} in header")
    expected = HEADER_BYTES + 2 * num_tokens
    if size != expected:
        kind = "truncated" if size < expected else "has trailing bytes"
        raise DataError(
            f"{path}: file is {size} bytes but the header promises {num_tokens} tokens "
            f"({expected} bytes); the shard is {kind}"
        )
    return num_tokens


def open_shard(path: Path) -> npt.NDArray[np.uint16]:
    """Memory-map a validated shard's tokens read-only (no copy; for multi-GB real shards)."""
    num_tokens = read_header(path)
    if num_tokens == 0:  # mmap cannot map an empty region
        return np.empty(0, dtype=TOKEN_DTYPE)
    return np.memmap(path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(num_tokens,))


def read_shard(path: Path) -> npt.NDArray[np.uint16]:
    """Load a validated shard's tokens into memory as uint16."""
    return np.array(open_shard(path), dtype=np.uint16)
