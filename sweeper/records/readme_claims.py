"""Compare what a record's README states with its logs: the headline score and the per-seed table.

Only unambiguous places are read: the headline (a `#` title or a line starting with `**`) for the
val_bpb it announces, and Markdown tables with a `Seed` column. In such a table a row is consistent
when one of its bpb / val_loss columns equals that seed's logged score; artifact and step columns
must equal the log exactly (approximate cells like `~15.8M` are reported as rounded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from sweeper.records.claims import agrees, decimals_of, explain_score
from sweeper.records.schema import SeedRun
from sweeper.records.verdict import ClaimCheck

SOURCE = "README.md"
_HEADLINE_BPB = (
    re.compile(r"val_bpb\W{0,6}?\s*[:=]?\s*\**\s*([0-9]+\.[0-9]+)", re.IGNORECASE),
    re.compile(r"([0-9]+\.[0-9]{3,})\s*BPB\b"),
)
_NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?$")
_COUNT = re.compile(r"^([0-9][0-9,]*)\s*(?:bytes|B)?$")


def check_readme(text: str, runs: Sequence[SeedRun], source: str = SOURCE) -> list[ClaimCheck]:
    """Claims in the README that the logs confirm or contradict."""
    text = text.replace("\\_", "_")  # Markdown-escaped underscores, as in val\_bpb
    checks = _headline(text, runs, source)
    for header, rows in _tables(text):
        checks += _seed_table(header, rows, runs, source)
    return checks


def _headline(text: str, runs: Sequence[SeedRun], source: str) -> list[ClaimCheck]:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith(("#", "**")):
            continue
        for pattern in _HEADLINE_BPB:
            match = pattern.search(stripped)
            if match:
                claimed = match.group(1)
                ok, note = explain_score(float(claimed), decimals_of(claimed), runs, "val_bpb")
                mean = sum(r.val_bpb for r in runs) / len(runs)
                return [ClaimCheck(source=source, field="headline val_bpb", claimed=float(claimed),
                                   actual=round(mean, 8), ok=ok, note=note)]
    return []


def _cells(line: str) -> list[str]:
    return [c.strip().strip("*`").strip() for c in line.strip().strip("|").split("|")]


def _tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Markdown tables as (header cells, body rows)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and re.match(r"^\s*\|?\s*:?-{1,}", lines[i + 1]):
            header = [h.lower() for h in _cells(lines[i])]
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            yield header, rows
        else:
            i += 1


def _seed_table(header: list[str], rows: list[list[str]], runs: Sequence[SeedRun], source: str
                ) -> list[ClaimCheck]:
    if "seed" not in header:
        return []
    seed_col = header.index("seed")
    score_cols = [i for i, h in enumerate(header) if ("bpb" in h or "val_loss" in h or "nats" in h)
                  and not any(w in h for w in ("gain", "delta", "std"))]
    artifact_cols = [i for i, h in enumerate(header) if "artifact" in h or "total submission" in h]
    step_cols = [i for i, h in enumerate(header) if h == "steps"]
    by_seed = {r.seed: r for r in runs}
    checks: list[ClaimCheck] = []
    for row in rows:
        if len(row) != len(header) or not row[seed_col].isdigit():
            continue
        seed = int(row[seed_col])
        where = f"table seed {seed}"
        run = by_seed.get(seed)
        if run is None:
            checks.append(ClaimCheck(source=source, field=where, claimed=seed, actual=None, ok=False,
                                     note="the README lists results for a seed that has no log"))
            continue
        checks += _score_cells(row, header, score_cols, run, where, source)
        for col in artifact_cols:
            checks.append(_exact_cell(row[col], run.artifact_bytes, f"{where} {header[col]}", source))
        for col in step_cols:
            checks.append(_exact_cell(row[col], run.steps, f"{where} steps", source))
    return checks


def _score_cells(row: list[str], header: list[str], cols: list[int], run: SeedRun, where: str, source: str
                 ) -> list[ClaimCheck]:
    numbers = [(header[c], row[c]) for c in cols if _NUMBER.match(row[c])]
    if not numbers:
        return []
    for _, cell in numbers:
        for field in ("val_bpb", "val_loss"):
            if agrees(float(cell), getattr(run, field), decimals_of(cell)):
                return [ClaimCheck(source=source, field=f"{where} {field}", claimed=float(cell),
                                   actual=getattr(run, field), ok=True)]
    name, cell = numbers[0]
    note = explain_score(float(cell), decimals_of(cell), [run], "val_bpb")[1]
    return [ClaimCheck(source=source, field=f"{where} {name}", claimed=float(cell), actual=run.val_bpb, ok=False,
                       note=note or "no score column of this row matches the log")]


def _exact_cell(cell: str, actual: int | None, where: str, source: str) -> ClaimCheck:
    exact = _COUNT.match(cell)
    if exact:
        count = int(exact.group(1).replace(",", ""))
        return ClaimCheck(source=source, field=where, claimed=count, actual=actual, ok=count == actual)
    return ClaimCheck(source=source, field=where, claimed=cell, actual=actual, ok=False,
                      note="approximate value: rounded, not the logged count")
