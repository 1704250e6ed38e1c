"""Compressed bytes of an exported model: each tensor's numel x its kind's codec rate, times one fitted factor.

model bytes = trained x sum over tensors of numel x rate(kind, compressor)
            + per-row fp16 scales + container overhead per tensor

`rate` is measured, not assumed: a fixed sample of N(0,1) weights stored as the tensor's kind
(rounded to a `bits`-bit grid clipped at the script's own clip in sigmas for sigma-clipped/GPTQ
exports, else at a row-max clip `amax_sigmas`; ternary; fp16/fp8 passthrough) is compressed with
the script's own compressor and level. Two numbers are fitted on published records' logs by least
squares of the relative error (`fit`): `amax_sigmas` (trained rows have heavy tails) and `trained`
(how much better trained weights compress than Gaussians). Both are shared by every format, so a
format or compressor without a record is still predicted from first principles.
"""

from __future__ import annotations

import bz2
import functools
import lzma
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sweeper.script.format import ExportFormat, TensorKind

SCALE_BYTES = 2  # one fp16 scale per row (per group of `group_size` weights for ternary)
TENSOR_OVERHEAD = 120  # torch.save container: name, storage record, meta per stored tensor
SAMPLE = 1 << 16  # synthetic weights compressed per (kind, compressor)
CLIP_GRID = (2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 16.0, 20.0, 28.0, 40.0)  # sigmas
TERNARY_THRESHOLD = 0.5  # |w| / mean|w| below this rounds to 0 (absmean ternary: round(w / mean|w|))
DEFAULT_LEVELS = {"brotli": 11, "zstd": 22, "lzma": 9, "zlib": 9}
MIN_BAND = 0.02
# A quantiser family without records: trained weights taken to compress like the Gaussian sample
# (the fitted sigma-clip and ternary factors are 0.995 and 0.999; row-max clips are the exception).
UNSEEN_FAMILY_FACTOR = 1.0


@dataclass(frozen=True)
class Census:
    """A model's tensors by kind: the inputs of the byte model."""

    groups: tuple[tuple[int, TensorKind], ...]  # (numel, kind) per stored tensor
    raw_bytes: int  # scales + container overhead, taken as incompressible
    compressor: str
    level: int | None
    family: str  # ExportFormat.family

    def coded_bytes(self, amax_sigmas: float, floor_sigmas: float) -> float:
        """Bytes of Gaussian weights in this census's formats, rows clipped at `amax_sigmas` (or at
        `floor_sigmas` where a 1/levels scale floor binds harder)."""
        total = 0.0
        for numel, kind in self.groups:
            clip = kind.clip_sigmas if kind.clip_sigmas is not None else (
                max(amax_sigmas, floor_sigmas) if kind.floored else amax_sigmas)
            total += numel * codec_rate(kind.kind, kind.bits, clip, self.compressor, self.level)
        return total


@dataclass(frozen=True)
class Rates:
    trained: dict[str, float]  # quantiser family -> trained bytes / Gaussian bytes at that format
    amax_sigmas: float
    floor_sigmas: float  # 1 / a trained row's std: where a 1/levels scale floor puts the clip
    residuals: dict[str, float]  # record -> relative model-bytes error under this fit
    counts: dict[str, int]  # family -> records it was fitted on

    def factor(self, family: str) -> float:
        return self.trained.get(family, UNSEEN_FAMILY_FACTOR)

    def predict(self, census: Census) -> float:
        coded = census.coded_bytes(self.amax_sigmas, self.floor_sigmas)
        return self.factor(census.family) * coded + census.raw_bytes



def census(fmt: ExportFormat, shapes: dict[str, tuple[tuple[int, ...], str]]) -> Census:
    groups: list[tuple[int, TensorKind]] = []
    raw = 0
    for name, (shape, dtype) in shapes.items():
        if not fmt.exported(name):
            continue
        kind = fmt.kind_of(name, shape, dtype)
        numel = math.prod(shape)
        raw += TENSOR_OVERHEAD * math.prod(shape[:-2])  # banked (3-D) weights are exported per layer
        groups.append((numel, kind))
        if kind.kind == "int":
            raw += SCALE_BYTES * (numel // shape[-1])
        elif kind.kind == "ternary":
            raw += SCALE_BYTES * max(1, numel // fmt.group_size)
    return Census(groups=tuple(groups), raw_bytes=raw, compressor=fmt.compressor, level=fmt.level, family=fmt.family)


@functools.lru_cache(maxsize=1024)
def codec_rate(kind: str, bits: float, clip: float, compressor: str, level: int | None) -> float:
    """Compressed bytes per element of N(0,1) weights stored as `kind` (measured on a fixed sample)."""
    import numpy as np

    values = np.random.default_rng(0).standard_normal(SAMPLE).astype(np.float32)
    if kind == "float":
        dtype = {16: np.float16, 32: np.float32, 64: np.float64}.get(int(bits), np.float32)
        payload = _fp8(values) if bits == 8 else values.astype(dtype).tobytes()
    elif kind == "ternary":
        threshold = TERNARY_THRESHOLD * float(np.abs(values).mean())
        trits = np.sign(values) * (np.abs(values) > threshold)
        payload = _pack_trits(trits.astype(np.int8) + 1)
    else:
        levels = 2 ** (int(bits) - 1) - 1
        payload = np.clip(np.round(values * levels / clip), -levels, levels).astype(np.int8).tobytes()
    return len(compress(payload, compressor, level)) / SAMPLE


def _fp8(values: object) -> bytes:
    import torch

    return torch.from_numpy(values).to(torch.float8_e4m3fn).view(torch.uint8).numpy().tobytes()  # type: ignore[arg-type]


def _pack_trits(trits: object) -> bytes:
    """Five trits per byte (base 3), as ternary exports pack them."""
    import numpy as np

    t = np.asarray(trits, dtype=np.uint8)
    t = np.pad(t, (0, (-len(t)) % 5)).reshape(-1, 5)
    return (t * np.array([1, 3, 9, 27, 81], dtype=np.uint8)).sum(axis=1).astype(np.uint8).tobytes()


def compress(data: bytes, compressor: str, level: int | None) -> bytes:
    level = level if level is not None else DEFAULT_LEVELS.get(compressor)
    if compressor == "brotli":
        import brotli

        return brotli.compress(data, quality=level if level is not None else 11)
    if compressor == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=level or 22).compress(data)
    if compressor == "lzma":
        return lzma.compress(data, preset=level if level is not None else 9)
    if compressor == "bz2":
        return bz2.compress(data)
    return zlib.compress(data, level if level is not None else 9)  # zlib, and the default for unknown codecs


Sample = tuple[str, Census, int]  # (record name, census, measured model bytes)


def fit(samples: Sequence[Sample]) -> Rates:
    """Per-family `trained` factors and a shared `amax_sigmas` minimising squared relative errors."""
    best: tuple[float, Rates] | None = None
    families = sorted({c.family for _, c, _ in samples})
    counts = {family: sum(1 for s in samples if s[1].family == family) for family in families}
    for amax, floor in ((a, f) for a in CLIP_GRID[:10] for f in CLIP_GRID if f >= a):
        trained = {family: _factor([s for s in samples if s[1].family == family], amax, floor) for family in families}
        rates = Rates(trained=trained, amax_sigmas=amax, floor_sigmas=floor, residuals={}, counts=counts)
        residuals = {name: rates.predict(c) / measured - 1 for name, c, measured in samples}
        err = sum(r * r for r in residuals.values())
        if best is None or err < best[0]:
            best = (err, replace(rates, residuals=residuals))
    assert best is not None, "fit needs at least one sample"
    return best[1]


def _factor(samples: Sequence[Sample], amax: float, floor: float) -> float:
    """Least-squares (relative) ratio of measured to Gaussian-predicted coded bytes."""
    xs = [(c.coded_bytes(amax, floor), measured - c.raw_bytes, measured) for _, c, measured in samples]
    return sum(x * y / m**2 for x, y, m in xs) / sum(x * x / m**2 for x, _, m in xs)


def leave_one_out(samples: Sequence[Sample]) -> dict[str, float]:
    """Each record's relative model-bytes error when the rates are fitted without it."""
    return {name: fit([s for j, s in enumerate(samples) if j != i]).predict(cen) / measured - 1
            for i, (name, cen, measured) in enumerate(samples) if len(samples) > 1}
