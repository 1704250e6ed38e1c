"""Claims in submission.json that cannot be checked at all: a score that is not a number (`"abc"`,
`null`, `true`), a byte count written as text (`"15,990,006"`), an impossible value (a negative
score or byte count), a malformed per-seed table. Each is reported as a failed claim naming its
field, never skipped in silence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from statistics import fmean
from typing import Any

from sweeper.records.claims import MEAN_BPB_KEYS, MEAN_LOSS_KEYS, STD_KEYS
from sweeper.records.schema import SeedRun
from sweeper.records.verdict import ClaimCheck, ClaimValue

SCORE_FIELDS = {**dict.fromkeys(MEAN_BPB_KEYS, "val_bpb"), **dict.fromkeys(MEAN_LOSS_KEYS, "val_loss")}
COUNT_KEYS = ("bytes_total", "bytes_code")
NEGATIVE_WHAT = {"std": "standard deviation", "count": "byte count", "time": "time"}
ENTRY_FIELDS = ("val_bpb", "val_loss", "artifact_bytes", "bytes_total", "steps", "train_time_s", "train_time_ms",
                "eval_time_s", "eval_time_ms")


def unusable_claims(data: Mapping[str, Any], runs: Sequence[SeedRun], source: str) -> list[ClaimCheck]:
    """A failed ClaimCheck for every customary claim whose value cannot be used."""
    def actual(field: str) -> ClaimValue:
        return round(fmean(getattr(r, field) for r in runs), 8) if runs else None

    checks = []
    for key, value in data.items():
        kind = "score" if key in SCORE_FIELDS else "std" if key in STD_KEYS else "count" if key in COUNT_KEYS else None
        problem = _problem(value, kind) if kind else None
        if problem:
            checks.append(ClaimCheck(source=source, field=key, claimed=_shown(value),
                                     actual=actual(SCORE_FIELDS.get(key) or STD_KEYS.get(key) or "val_bpb")
                                     if kind != "count" else None, ok=False, note=problem))
    for field, value, problem in _seed_table_problems(data):
        checks.append(ClaimCheck(source=source, field=field, claimed=_shown(value), actual=None, ok=False,
                                 note=problem))
    return checks


def _problem(value: Any, kind: str) -> str | None:
    """Why a claimed value cannot be checked, or None when it can."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = f"a string ({value!r}), not a number" if isinstance(value, str) else f"{_type(value)}, not a number"
        if isinstance(value, str) and value.replace(",", "").replace("_", "").strip().isdigit():
            text += f": write {value.replace(',', '').replace('_', '').strip()}"
        return f"{text}; this claim cannot be checked"
    if kind == "score" and value <= 0:
        return f"impossible: a score is a positive number, not {value}"
    if kind in ("std", "count", "time") and value < 0:
        return f"impossible: negative {NEGATIVE_WHAT[kind]} {value}"
    if kind == "count" and value != int(value):
        return f"impossible: a byte count is a whole number, not {value}"
    return None


def _seed_table_problems(data: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """(field, value, problem) for malformed `seeds` / `seed_results` tables and their entries."""
    for key in ("seeds", "seed_results"):
        if key not in data:
            continue
        table = data[key]
        if isinstance(table, Mapping):
            entries = [(f"{key}.{name}", name, entry) for name, entry in table.items()]
        elif isinstance(table, list):
            entries = [(f"{key}[{i}]", None, entry) for i, entry in enumerate(table)]
        else:
            yield key, table, f"{_type(table)}: expected a table of per-seed results or a list of seeds"
            continue
        for field, name, entry in entries:
            if name is not None and not str(name).lstrip("-").isdigit():
                yield field, name, "not a seed number: this entry cannot be matched to a log"
            elif name is None and _is_int(entry):
                continue  # a plain list of seeds
            elif not isinstance(entry, Mapping):
                yield field, entry, f"{_type(entry)}: expected an object of this seed's results"
            elif name is None and not _is_int(entry.get("seed")):
                yield field, entry.get("seed"), "no integer `seed` in this entry: it cannot be matched to a log"
            else:
                for item in ENTRY_FIELDS:
                    if item in entry and entry[item] is not None:
                        kind = "score" if item.startswith("val_") else "time" if "_time_" in item else "count"
                        problem = _problem(entry[item], kind)
                        if problem:
                            yield f"{field}.{item}", entry[item], problem


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__)


def _shown(value: Any) -> ClaimValue:
    """A claimed value as ClaimCheck can hold it (objects and lists as short JSON text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else value[:80]
    return json.dumps(value, default=str)[:80]
