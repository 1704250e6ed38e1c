"""Which log of a seed counts when a records folder holds several.

Copies are counted once: byte-identical files (`train.log` = `train_seed2025.log`), and two logs of
one seed with the same score (a raw tee and the trainer's own log). Two logs of one seed with
different scores are a repeated seed, an error: repeated runs of one seed are not independent
samples. The one counted is the run the submission's claims describe (its per-seed score, else the
claimed mean); without a claim that tells them apart, the log whose name carries the seed, then
the shortest path. The others are returned as `repeats`: not counted, but still checked.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING, Any

from sweeper.records.claims import agrees, claim_decimals, claimed_means, claimed_seed_scores
from sweeper.records.verdict import Finding

if TYPE_CHECKING:
    from sweeper.records.folder import LoadedLog

MAX_COMBINATIONS = 256  # choices tried against a claimed mean (repeated seeds are few)


def deduplicate(logs: list[LoadedLog], notes: list[str], submission: Mapping[str, Any]
                ) -> tuple[list[LoadedLog], list[LoadedLog], list[Finding]]:
    """(counted logs, repeated runs not counted, repeated_seed findings)."""
    by_seed: dict[int, list[LoadedLog]] = {}
    for log in sorted(logs, key=_preference):
        by_seed.setdefault(log.seed, []).append(log)  # type: ignore[arg-type]
    distinct: dict[int, list[LoadedLog]] = {}
    for seed, copies in by_seed.items():
        runs: list[LoadedLog] = []
        for log in copies:
            same = next((run for run in runs if _same_run(run, log)), None)
            if same is None:
                runs.append(log)
            elif same.sha256 == log.sha256:
                notes.append(f"{log.path} is a byte-identical copy of {same.path} (seed {seed}): counted once")
            else:
                notes.append(f"{log.path} reports the same run as {same.path} (seed {seed}, same score): counted once")
        distinct[seed] = runs
    chosen = _choose(distinct, submission)
    kept, repeats, findings = [], [], []
    for seed, runs in distinct.items():
        counted = chosen[seed]
        kept.append(counted)
        for other in runs:
            if other is counted:
                continue
            repeats.append(other)
            a, b = counted.scan.result, other.scan.result
            findings.append(Finding(
                code="repeated_seed", severity="error", seed=seed, file=other.path,
                message=f"seed {seed} has two logs with different scores ({counted.path}: val_bpb {a.val_bpb}, "
                        f"{other.path}: val_bpb {b.val_bpb}); repeated runs of one seed are not independent "
                        f"samples, so only {counted.path} is counted{_why(counted, runs, submission)}"))
    return sorted(kept, key=lambda log: log.path), repeats, findings


def _preference(log: LoadedLog) -> tuple[bool, int, str]:
    """Which of several copies to keep: a name that carries the seed, then the shortest path."""
    named = re.search(rf"(?<!\d){log.seed}(?!\d)", Path(log.path).name) is not None
    return (not named, len(log.path), log.path)


def _same_run(a: LoadedLog, b: LoadedLog) -> bool:
    ra, rb = a.scan.result, b.scan.result
    return a.sha256 == b.sha256 or (ra.val_loss, ra.val_bpb) == (rb.val_loss, rb.val_bpb)


def _matches_seed_claim(log: LoadedLog, claim: Mapping[str, float]) -> bool:
    result = log.scan.result
    return any(agrees(value, getattr(result, field), claim_decimals(value)) for field, value in claim.items())


def _choose(distinct: dict[int, list[LoadedLog]], submission: Mapping[str, Any]) -> dict[int, LoadedLog]:
    """Per seed, the run the claims describe (see the module docstring)."""
    per_seed = claimed_seed_scores(submission)
    chosen: dict[int, LoadedLog] = {}
    for seed, runs in distinct.items():
        matching = [run for run in runs if seed in per_seed and _matches_seed_claim(run, per_seed[seed])]
        chosen[seed] = matching[0] if len(matching) == 1 else runs[0]
    undecided = [seed for seed, runs in distinct.items() if len(runs) > 1 and seed not in per_seed]
    means = claimed_means(submission)
    if not undecided or not means:
        return chosen
    options = [distinct[seed] for seed in undecided]
    for combination in itertools.islice(itertools.product(*options), MAX_COMBINATIONS):
        trial = {**chosen, **dict(zip(undecided, combination, strict=True))}
        if _mean_agrees(list(trial.values()), means):
            return trial
    return chosen


def _mean_agrees(logs: Sequence[LoadedLog], means: Mapping[str, float]) -> bool:
    return all(agrees(claimed, fmean(getattr(log.scan.result, field) for log in logs), claim_decimals(claimed))
               for field, claimed in means.items())


def _why(counted: LoadedLog, runs: list[LoadedLog], submission: Mapping[str, Any]) -> str:
    claim = claimed_seed_scores(submission).get(counted.seed)  # type: ignore[arg-type]
    if claim and _matches_seed_claim(counted, claim):
        return " (the run submission.json claims for this seed)"
    if claimed_means(submission) and counted is not runs[0]:
        return " (the run that gives submission.json's claimed mean)"
    return ""
