"""Reading a records folder's submission JSON strictly: inside the folder, UTF-8, standard JSON.

Python's `json` accepts `NaN` and `Infinity`, turns `1e999` into infinity and recurses without
bound; a claim file is untrusted input, so each of those is a one-line RecordError instead.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from sweeper.errors import RecordError
from sweeper.records.claims import JsonNumber

SUBMISSION_NAME = "submission.json"
MAX_DEPTH = 64  # submission.json is a handful of nested tables; deeper is not a submission
MAX_BYTES = 10_000_000


class _NotStandardJson(ValueError):
    """A number JSON does not have (NaN, Infinity, or one that overflows to infinity)."""


def _finite(text: str) -> JsonNumber:
    number = JsonNumber(text)
    if not math.isfinite(number):
        raise _NotStandardJson(f"{text} overflows a float")
    return number


def _refuse_constant(name: str) -> Any:
    raise _NotStandardJson(f"{name} is not a JSON number (write a number, or null)")


def submission_variants(root: Path, files: list[Path]) -> list[Path]:
    """`submission.json` and `submission_<variant>.json` directly in the folder."""
    return [p for p in files if p.parent == root and re.fullmatch(r"submission(_.+)?\.json", p.name)]


def choose_submission(root: Path, files: list[Path], chosen: str | None) -> Path | None:
    """The submission file to read: `--submission NAME` (a file inside the folder), the plain
    submission.json, the only variant, or None when the folder has none."""
    if chosen is not None:
        path = (root / chosen).resolve()
        if not path.is_relative_to(root.resolve()):
            raise RecordError(f"--submission {chosen}: outside the records folder {root}; name a file inside it")
        if not path.is_file():
            raise RecordError(f"--submission {chosen}: not found in {root}")
        return path
    variants = submission_variants(root, files)
    plain = [p for p in variants if p.name == SUBMISSION_NAME]
    if not plain and len(variants) > 1:
        names = ", ".join(p.name for p in variants)
        raise RecordError(f"several submission files in {root} ({names}): choose one with --submission")
    return (plain or variants or [None])[0]


def read_submission(path: Path, root: Path) -> dict[str, Any]:
    """The JSON object in `path`; anything else is a RecordError naming the file and the problem."""
    where = f"{path.name} in {root}"
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RecordError(f"{where}: {path.stat().st_size:,} bytes is too large for a submission file")
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise RecordError(f"{where} is nested too deeply to be a submission file") from None
    except ValueError as exc:  # _NotStandardJson, or an integer beyond Python's digit limit
        raise RecordError(f"{where} is not standard JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError(f"{where} must hold a JSON object, not {type(value).__name__}")
    if _depth(value) > MAX_DEPTH:
        raise RecordError(f"{where} is nested more than {MAX_DEPTH} levels deep: not a submission file")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
    return deepest
