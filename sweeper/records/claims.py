"""Compare what submission.json claims with what the logs show. Claims are reported, never trusted.

submission.json has no fixed schema (docs/log-formats.md), so keys are matched by their customary
names: the headline mean under val_bpb / mean_val_bpb / mean_bpb and val_loss / mean_val_loss /
val_loss_nats, per-seed results under `seeds` or `seed_results`, byte counts, a compliance block,
and any seed numbers mentioned anywhere under a key that says `seed`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from statistics import fmean, pstdev, stdev
from typing import Any, Self

from sweeper.records.schema import Limits, SeedRun, train_allowance
from sweeper.records.verdict import ClaimCheck

SOURCE = "submission.json"
MEAN_BPB_KEYS = ("val_bpb", "mean_val_bpb", "mean_bpb", "val_bpb_mean")
MEAN_LOSS_KEYS = ("val_loss", "mean_val_loss", "mean_val_loss_nats", "val_loss_nats", "val_loss_mean")
STD_KEYS = {"val_bpb_std": "val_bpb", "std_val_bpb": "val_bpb", "val_loss_std": "val_loss",
            "val_loss_nats_std": "val_loss"}
TIME_TOLERANCE_S = 1.0


class JsonNumber(float):
    """A JSON float that remembers how it was written: `1.1300` claims four decimals, not two."""

    text: str

    def __new__(cls, text: str) -> Self:
        number = super().__new__(cls, text)
        number.text = text
        return number


def claim_decimals(value: float) -> int:
    """Decimals of a claimed number, as written in the JSON when known."""
    return decimals_of(getattr(value, "text", repr(value)))


def decimals_of(text: str) -> int:
    """Digits after the decimal point in a number as written."""
    exponent = Decimal(text).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def agrees(claimed: float, actual: float, decimals: int) -> bool:
    """Equal up to one unit in the claim's last written digit (rounded or truncated)."""
    return abs(claimed - actual) <= 10.0 ** -decimals + 1e-12


def explain_score(claimed: float, decimals: int, runs: Sequence[SeedRun], field: str) -> tuple[bool, str]:
    """Is `claimed` the seeds' mean `field` (val_bpb or val_loss)? If not, say what it is instead."""
    values = {run.seed: float(getattr(run, field)) for run in runs}
    mean = fmean(values.values())
    if agrees(claimed, mean, decimals):
        return True, ""
    if len(runs) > 1:
        for seed, value in values.items():
            if agrees(claimed, value, decimals):
                rank = "the best" if value == min(values.values()) else "one"
                return False, f"is seed {seed}'s score ({rank} of {len(runs)}), not the mean {mean:.8f}"
    other = "val_loss" if field == "val_bpb" else "val_bpb"
    other_mean = fmean(float(getattr(run, other)) for run in runs)
    if agrees(claimed, other_mean, decimals):
        return False, f"is the mean {other} ({other_mean:.8f}): {other} reported in the {field} field"
    return False, f"does not match the logs' mean {mean:.8f}"


def check_submission(data: Mapping[str, Any], runs: Sequence[SeedRun], limits: Limits, source: str = SOURCE
                     ) -> list[ClaimCheck]:
    """Every claim in submission.json that the logs can confirm or contradict."""
    checks: list[ClaimCheck] = []
    for keys, field in ((MEAN_BPB_KEYS, "val_bpb"), (MEAN_LOSS_KEYS, "val_loss")):
        for key in keys:
            if _is_number(data.get(key)):
                ok, note = explain_score(float(data[key]), claim_decimals(data[key]), runs, field)
                checks.append(ClaimCheck(source=source, field=key, claimed=data[key],
                                         actual=round(fmean(getattr(r, field) for r in runs), 8), ok=ok, note=note))
    checks += _std_claims(data, runs, source)
    checks += _byte_claims(data, runs, source)
    checks += _seed_result_claims(data, runs, source)
    checks += _compliance_claims(data, runs, limits, source)
    checks += _mentioned_seed_claims(data, runs, source)
    return checks


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def claimed_means(data: Mapping[str, Any]) -> dict[str, float]:
    """The headline claims: {"val_bpb": mean, "val_loss": mean}, from the first customary key of each."""
    means = {}
    for keys, field in ((MEAN_BPB_KEYS, "val_bpb"), (MEAN_LOSS_KEYS, "val_loss")):
        value = next((data[key] for key in keys if _is_number(data.get(key))), None)
        if value is not None:
            means[field] = value
    return means


def claimed_seed_scores(data: Mapping[str, Any]) -> dict[int, dict[str, float]]:
    """Per-seed claimed scores: {seed: {"val_bpb": x, "val_loss": y}} (numbers only)."""
    scores: dict[int, dict[str, float]] = {}
    for _, seed, entry in _per_seed_tables(data):
        numbers = {field: entry[field] for field in ("val_bpb", "val_loss") if _is_number(entry.get(field))}
        if numbers:
            scores.setdefault(seed, {}).update(numbers)
    return scores


def _std_claims(data: Mapping[str, Any], runs: Sequence[SeedRun], source: str) -> list[ClaimCheck]:
    checks = []
    for key, field in STD_KEYS.items():
        if _is_number(data.get(key)) and len(runs) > 1:
            values = [float(getattr(r, field)) for r in runs]
            sample, population = stdev(values), pstdev(values)
            digits = claim_decimals(data[key])
            ok = agrees(float(data[key]), sample, digits) or agrees(float(data[key]), population, digits)
            checks.append(ClaimCheck(source=source, field=key, claimed=data[key], actual=round(sample, 8), ok=ok,
                                     note="" if ok else f"the logs' sample std of {field} is {sample:.8f}"))
    return checks


def _byte_claims(data: Mapping[str, Any], runs: Sequence[SeedRun], source: str) -> list[ClaimCheck]:
    checks = []
    artifacts = {r.seed: r.artifact_bytes for r in runs if r.artifact_bytes is not None}
    if _is_number(data.get("bytes_total")) and artifacts:
        claimed, largest = int(data["bytes_total"]), max(artifacts.values())
        mean = round(fmean(artifacts.values()))
        ok, note = claimed in (largest, mean), ""
        if claimed != largest:
            owner = [s for s, b in artifacts.items() if b == claimed]
            note = (f"is seed {owner[0]}'s artifact; the largest is {largest}" if owner
                    else "is the mean artifact" if ok
                    else f"matches no seed's artifact (largest {largest}): rounded or wrong bytes")
        checks.append(ClaimCheck(source=source, field="bytes_total", claimed=claimed, actual=largest, ok=ok, note=note))
    codes = {r.code_bytes for r in runs if r.code_bytes is not None}
    if _is_number(data.get("bytes_code")) and codes:
        ok = int(data["bytes_code"]) in codes
        checks.append(ClaimCheck(source=source, field="bytes_code", claimed=data["bytes_code"], actual=max(codes),
                                 ok=ok, note="" if ok else f"logs report code sizes {sorted(codes)}"))
    return checks


def _per_seed_tables(data: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """Per-seed results keyed by seed (`{"42": {...}}`) or listed with a seed (`[{"seed": 42, ...}]`)."""
    for key in ("seeds", "seed_results"):
        table = data.get(key)
        if isinstance(table, Mapping):
            for seed, entry in table.items():
                if str(seed).lstrip("-").isdigit() and isinstance(entry, Mapping):
                    yield key, int(seed), entry
        elif isinstance(table, list):
            for entry in table:
                if isinstance(entry, Mapping) and _is_int(entry.get("seed")):
                    yield key, entry["seed"], entry


def _seed_result_claims(data: Mapping[str, Any], runs: Sequence[SeedRun], source: str) -> list[ClaimCheck]:
    by_seed = {r.seed: r for r in runs}
    checks = []
    for key, seed, entry in _per_seed_tables(data):
        where = f"{key}.{seed}"
        run = by_seed.get(seed)
        if run is None:
            checks.append(ClaimCheck(source=source, field=where, claimed=seed, actual=None, ok=False,
                                     note="claims results for a seed that has no log"))
            continue
        for field in ("val_bpb", "val_loss"):
            if _is_number(entry.get(field)):
                ok, note = explain_score(float(entry[field]), claim_decimals(entry[field]), [run], field)
                checks.append(ClaimCheck(source=source, field=f"{where}.{field}", claimed=entry[field],
                                         actual=getattr(run, field), ok=ok, note=note))
        for name in ("artifact_bytes", "bytes_total"):
            if _is_number(entry.get(name)) and run.artifact_bytes is not None:
                checks.append(ClaimCheck(source=source, field=f"{where}.{name}", claimed=entry[name],
                                         actual=run.artifact_bytes, ok=int(entry[name]) == run.artifact_bytes))
        if _is_number(entry.get("steps")) and run.steps is not None:
            checks.append(ClaimCheck(source=source, field=f"{where}.steps", claimed=entry["steps"], actual=run.steps,
                                     ok=int(entry["steps"]) == run.steps))
        for phase, actual in (("train", run.train_seconds), ("eval", run.eval_seconds)):
            for suffix, scale in (("_time_s", 1.0), ("_time_ms", 1000.0)):
                name = phase + suffix
                if _is_number(entry.get(name)) and actual is not None:
                    ok = abs(float(entry[name]) / scale - actual) <= TIME_TOLERANCE_S
                    checks.append(ClaimCheck(source=source, field=f"{where}.{name}", claimed=entry[name],
                                             actual=round(actual * scale, 3), ok=ok))
    return checks


COMPLIANCE_KEYS = {"artifact": "artifact_under_16mb", "train": "train_under_600s", "eval": "eval_under_600s",
                   "seeds": "three_seeds"}


def compliance_facts(runs: Sequence[SeedRun], limits: Limits) -> dict[str, bool]:
    """What a compliance block may claim, as the logs show it (keyed like COMPLIANCE_KEYS)."""
    return {
        "artifact": all(r.artifact_bytes is not None and r.artifact_bytes <= limits.artifact_bytes for r in runs),
        "train": all(r.train_seconds is not None and r.train_seconds <= train_allowance(limits, r.step_avg_ms)
                     for r in runs),
        "eval": all(r.eval_seconds is None or r.eval_seconds <= limits.eval_s for r in runs),
        "seeds": len(runs) >= 3,
    }


def _compliance_claims(data: Mapping[str, Any], runs: Sequence[SeedRun], limits: Limits, source: str
                       ) -> list[ClaimCheck]:
    """Boolean claims in a compliance block, matched to a fact by a word in the key (artifact, train, ...)."""
    block = data.get("compliance")
    if not isinstance(block, Mapping):
        return []
    facts = compliance_facts(runs, limits)
    checks = []
    for key, claimed in block.items():
        topic = next((t for t in facts if t in key.lower()), None)
        if topic is not None and isinstance(claimed, bool):
            checks.append(ClaimCheck(source=source, field=f"compliance.{key}", claimed=claimed, actual=facts[topic],
                                     ok=claimed == facts[topic] or not claimed))
    return checks


def mentioned_seeds(value: Any, key: str = "") -> set[int]:
    """Seed numbers anywhere in the JSON: ints listed under a key containing `seed`, int-like keys of
    such a mapping, and `seed: N` values."""
    named = "seed" in key.lower()
    found: set[int] = set()
    if isinstance(value, Mapping):
        for name, item in value.items():
            if named and str(name).lstrip("-").isdigit():
                found.add(int(name))
            found |= mentioned_seeds(item, str(name))
    elif isinstance(value, list):
        for item in value:
            if named and _is_int(item):
                found.add(item)
            elif isinstance(item, Mapping | list):
                found |= mentioned_seeds(item, key)
    elif key.lower() == "seed" and _is_int(value):
        found.add(value)
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mentioned_seed_claims(data: Mapping[str, Any], runs: Sequence[SeedRun], source: str) -> list[ClaimCheck]:
    logged = {r.seed for r in runs}
    mentioned = mentioned_seeds(data)
    missing = sorted(mentioned - logged)
    if not mentioned:
        return []
    note = "" if not missing else (
        f"seeds {missing} are mentioned but have no log: significance is computed on every seed run "
        "for a config, and dropping the worst seeds is flagged")
    return [ClaimCheck(source=source, field="seeds", claimed=sorted(mentioned), actual=sorted(logged),
                       ok=not missing, note=note)]
