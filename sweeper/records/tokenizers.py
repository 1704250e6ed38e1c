"""Known tokenizer / validation-stream pairs, told apart by val_loss / val_bpb (= ln2 * bytes per token).

Ratios measured over the official records (docs/log-formats.md). Sliding-window and full-pass
evaluations of one stream differ only in the 6th digit, while the nearest two streams (the two
sp1024 exports) differ by 0.0044, so a tolerance of 0.0015 separates them safely.
"""

from __future__ import annotations

from typing import NamedTuple

from sweeper.records.schema import Fingerprint

RATIO_TOLERANCE = 0.0015


class KnownStream(NamedTuple):
    tokenizer: str
    stream: str
    ratio: float


KNOWN_STREAMS: tuple[KnownStream, ...] = (
    KnownStream("sp1024", "fineweb-val", 1.6885),
    KnownStream("sp1024", "fineweb-val-first-export", 1.6929),
    KnownStream("sp4096", "fineweb-val", 2.301),
    KnownStream("sp8192", "fineweb-val", 2.5831),
    KnownStream("sp8192-caseops", "fineweb-val-caseops", 2.1884),
    KnownStream("bytes", "fineweb-val", 0.693147),
)


def score_ratio(val_loss: float, val_bpb: float) -> float:
    """val_loss / val_bpb: nats per token over bits per byte."""
    return val_loss / val_bpb


def identify(ratio: float, val_tokens: int | None = None) -> Fingerprint | None:
    """The known stream whose ratio matches, or None."""
    for known in KNOWN_STREAMS:
        if abs(ratio - known.ratio) <= RATIO_TOLERANCE:
            return Fingerprint(tokenizer=known.tokenizer, stream=known.stream, ratio=ratio, val_tokens=val_tokens)
    return None


def custom(ratio: float, data_fingerprint: str, val_tokens: int | None = None) -> Fingerprint:
    """A stream outside the official ones, identified by the dataset fingerprint a sweep recorded."""
    return Fingerprint(tokenizer="custom", stream=data_fingerprint, ratio=ratio, val_tokens=val_tokens)


def known_list() -> str:
    """`sp1024 1.6885, ...` for error messages."""
    return ", ".join(f"{k.tokenizer} {k.ratio:g}" for k in KNOWN_STREAMS)
