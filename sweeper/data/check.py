"""Verify a Parameter Golf dataset directory against its tokenizer, and fingerprint it.

Works on the real `fineweb10B_sp1024` export (80 train shards of 1e8 tokens, a 62M-token val
shard): shards are memory-mapped and scanned in chunks, so memory stays at a few hundred MB.
Validation is always scanned in full; `quick=True` checks every train header but scans only the
first `QUICK_SAMPLE_TOKENS` of each train shard.

The fingerprint is sha256 over the validation shard files (sorted by name) followed by the
tokenizer model file: exactly what decides a val_bpb score. Two runs with the same fingerprint
were scored on the same bytes. `dataset_fingerprint` computes it alone (hashing only, no scan),
as a sweep does at start.

Byte counting follows the official `build_sentencepiece_luts` / `eval_val`: a target token is worth
`base_bytes[t] + (has_leading_space[t] and not is_boundary[prev])` bytes, so
`val_bpb = val_loss * bpb_per_loss` with `bpb_per_loss = tokens / (ln 2 * bytes)`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import sentencepiece as spm
from pydantic import BaseModel, ConfigDict

from sweeper.data import ProgressFn
from sweeper.data.shards import open_shard, read_header, shard_paths
from sweeper.digest import sha256_files
from sweeper.errors import DataError

CHUNK_TOKENS = 1 << 24  # 32 MB of uint16 per scan step
QUICK_SAMPLE_TOKENS = 1 << 20
FINGERPRINT_SHORT = 16


class SplitReport(BaseModel):
    """What one split holds. `documents` (BOS count) is None when the split was only sampled."""

    model_config = ConfigDict(frozen=True)

    shards: int
    tokens: int
    scanned_tokens: int
    documents: int | None


class DatasetReport(BaseModel):
    """The result of `check_dataset`; every check passed if you hold one."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    tokenizer_path: Path
    vocab_size: int
    bos_id: int
    quick: bool
    train: SplitReport
    val: SplitReport
    val_bytes: int
    bytes_per_token: float
    bpb_per_loss: float  # val_bpb = val_loss * bpb_per_loss (official sp1024 val: 0.592257)
    fingerprint: str
    fingerprint_short: str


class ByteLuts:
    """The official per-token byte tables of a SentencePiece model (stack-spec 2.3)."""

    def __init__(self, sp: spm.SentencePieceProcessor) -> None:
        size = sp.vocab_size()
        self.base_bytes = np.zeros(size, dtype=np.int64)
        self.has_leading_space = np.zeros(size, dtype=bool)
        self.is_boundary = np.ones(size, dtype=bool)
        for token in range(size):
            if sp.is_control(token) or sp.is_unknown(token) or sp.is_unused(token):
                continue
            self.is_boundary[token] = False
            if sp.is_byte(token):
                self.base_bytes[token] = 1
                continue
            piece = sp.id_to_piece(token)
            if piece.startswith("\u2581"):
                self.has_leading_space[token] = True
                piece = piece[1:]
            self.base_bytes[token] = len(piece.encode("utf-8"))

    def target_bytes(self, prev: npt.NDArray[np.uint16], target: npt.NDArray[np.uint16]) -> int:
        """Total bytes of the `target` tokens, each following the `prev` token at the same index."""
        space = self.has_leading_space[target] & ~self.is_boundary[prev]
        return int(self.base_bytes[target].sum()) + int(np.count_nonzero(space))


def check_dataset(
    data_dir: Path,
    tokenizer_path: Path,
    *,
    quick: bool = False,
    chunk_tokens: int = CHUNK_TOKENS,
    progress: ProgressFn | None = None,
) -> DatasetReport:
    """Check both splits of `data_dir` against `tokenizer_path`; raise DataError on the first problem."""
    data_dir, tokenizer_path = Path(data_dir), Path(tokenizer_path)
    sp = load_tokenizer(tokenizer_path)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: dataset directory not found")
    if sp.bos_id() < 0:
        raise DataError(f"{tokenizer_path}: tokenizer has no BOS token; documents cannot be delimited")
    luts = ByteLuts(sp)
    splits = {split: shard_paths(data_dir, split) for split in ("val", "train")}
    for split, paths in splits.items():
        if not paths:
            raise DataError(f"{data_dir}: no {split} shards (fineweb_{split}_*.bin)")
    scan = _SplitScan(sp.vocab_size(), sp.bos_id(), chunk_tokens, progress)
    val, val_bytes = scan.run("val", splits["val"], luts=luts)
    train, _ = scan.run("train", splits["train"], sample=QUICK_SAMPLE_TOKENS if quick else None)
    fingerprint = dataset_fingerprint(data_dir, tokenizer_path)
    bytes_per_token = val_bytes / max(val.tokens - 1, 1)
    return DatasetReport(
        data_dir=data_dir,
        tokenizer_path=tokenizer_path,
        vocab_size=sp.vocab_size(),
        bos_id=sp.bos_id(),
        quick=quick,
        train=train,
        val=val,
        val_bytes=val_bytes,
        bytes_per_token=bytes_per_token,
        bpb_per_loss=1 / (math.log(2) * bytes_per_token) if val_bytes else 0.0,
        fingerprint=fingerprint,
        fingerprint_short=fingerprint[:FINGERPRINT_SHORT],
    )


def dataset_fingerprint(data_dir: Path, tokenizer_path: Path) -> str:
    """The fingerprint `check_dataset` reports, from hashing alone (no scan, no tokenizer load):
    sha256 over the validation shards (sorted by name), then the tokenizer model file."""
    data_dir, tokenizer_path = Path(data_dir), Path(tokenizer_path)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: dataset directory not found")
    if not tokenizer_path.is_file():
        raise DataError(f"{tokenizer_path}: tokenizer model not found")
    val = shard_paths(data_dir, "val")
    if not val:
        raise DataError(f"{data_dir}: no val shards (fineweb_val_*.bin)")
    try:
        return sha256_files(*val, tokenizer_path)
    except OSError as exc:
        raise DataError(f"{exc.filename or data_dir}: cannot read ({exc.strerror or exc})") from None


def load_tokenizer(path: Path) -> spm.SentencePieceProcessor:
    """Load a SentencePiece model, or raise DataError naming the file."""
    if not Path(path).is_file():
        raise DataError(f"{path}: tokenizer model not found")
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: not a SentencePiece model ({reason})") from None


class _SplitScan:
    """Chunked scan of a split's token stream (documents run across shard boundaries)."""

    def __init__(self, vocab_size: int, bos_id: int, chunk_tokens: int, progress: ProgressFn | None) -> None:
        self.vocab_size, self.bos_id, self.chunk_tokens = vocab_size, bos_id, chunk_tokens
        self.progress = progress

    def run(
        self, split: str, paths: list[Path], *, luts: ByteLuts | None = None, sample: int | None = None
    ) -> tuple[SplitReport, int]:
        """Scan `paths` (the first `sample` tokens of each, if given); returns the report and byte count."""
        assert luts is None or sample is None, "byte counting needs the whole, contiguous stream"
        sizes = [read_header(path) for path in paths]  # every header first: fail fast on a bad shard
        if sum(sizes) == 0:
            raise DataError(f"{paths[0].parent}: the {split} split has no tokens")
        scanned = [size if sample is None else min(size, sample) for size in sizes]
        prev: npt.NDArray[np.uint16] | None = None  # last token so far: documents span shards
        documents = byte_count = done = 0
        for path, count in zip(paths, scanned, strict=True):
            tokens = open_shard(path)
            for start in range(0, count, self.chunk_tokens):
                chunk = tokens[start : min(start + self.chunk_tokens, count)]
                self._check_ids(path, start, chunk)
                if prev is None and chunk[0] != self.bos_id:
                    raise DataError(
                        f"{path}: the {split} split does not start with BOS (id {self.bos_id}); "
                        f"first token is {int(chunk[0])}"
                    )
                documents += int(np.count_nonzero(chunk == self.bos_id))
                if luts is not None:
                    stream = chunk if prev is None else np.concatenate([prev, chunk])
                    byte_count += luts.target_bytes(stream[:-1], stream[1:])
                prev = chunk[-1:]
                done += chunk.size
                if self.progress:
                    self.progress(f"scan {split}", done, sum(scanned))
        report = SplitReport(
            shards=len(paths),
            tokens=sum(sizes),
            scanned_tokens=done,
            documents=None if sample is not None else documents,
        )
        return report, byte_count

    def _check_ids(self, path: Path, start: int, chunk: npt.NDArray[np.uint16]) -> None:
        if int(chunk.max()) < self.vocab_size:
            return
        index = int(np.flatnonzero(chunk >= self.vocab_size)[0])
        raise DataError(
            f"{path}: token id {int(chunk[index])} at position {start + index} is outside the "
            f"tokenizer's vocabulary of {self.vocab_size}"
        )
