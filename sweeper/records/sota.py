"""Turn `--sota VALUE|DIR` into a SotaReference: a records folder's seeds, or one number with its units.

A bare number is val_loss in nats (the README rule's unit); `1.2244bpb` or `2.0727nats` say so
explicitly. A bare number that sits at the seeds' bpb rather than at their nats is refused: that
is the unit mix-up many submissions made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

from sweeper.errors import RecordError
from sweeper.records.folder import read_record_folder
from sweeper.records.schema import SeedRun, SotaReference

_VALUE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(nats?|bpb)?\s*$", re.IGNORECASE)


def resolve_sota(text: str, seeds: Sequence[SeedRun]) -> SotaReference:
    """Read `--sota`: a records folder, or a value in nats (default) or bpb."""
    path = Path(text)
    if path.is_dir():
        return sota_from_folder(path)
    match = _VALUE.match(text)
    if match is None:
        raise RecordError(f"--sota {text!r} is neither a records folder nor a number "
                          "(e.g. 2.0727, 2.0727nats or 1.2244bpb)")
    value, unit = float(match.group(1)), (match.group(2) or "nats").lower()
    if unit == "bpb":
        return SotaReference(source=f"{value:g} bpb (given)", units="bpb", val_bpbs=[value])
    if match.group(2) is None and seeds:
        _refuse_bpb_lookalike(value, seeds)
    return SotaReference(source=f"{value:g} nats (given)", units="nats", val_losses=[value])


def _refuse_bpb_lookalike(value: float, seeds: Sequence[SeedRun]) -> None:
    loss, bpb = fmean(s.val_loss for s in seeds), fmean(s.val_bpb for s in seeds)
    if abs(loss - bpb) > 0.2 * bpb and abs(value - bpb) < abs(value - loss):
        raise RecordError(f"--sota {value:g} looks like a val_bpb (the seeds score {bpb:.4f} bpb = {loss:.4f} nats); "
                          f"write {value:g}bpb, or give the SOTA's val_loss in nats")


def sota_from_folder(path: Path) -> SotaReference:
    """The previous record's seeds (the same reading and de-duplication as `pgolf check`)."""
    candidate = read_record_folder(path, need_submission=False).candidate()
    streams = {s.fingerprint.name for s in candidate.seeds}
    if len(streams) > 1:
        raise RecordError(f"SOTA folder {path} mixes tokenizers / validation streams ({', '.join(sorted(streams))})")
    return SotaReference(
        source=str(path), units="seeds", val_losses=[s.val_loss for s in candidate.seeds],
        val_bpbs=[s.val_bpb for s in candidate.seeds], fingerprint=candidate.seeds[0].fingerprint,
    )
