"""The live progress table: counts per status, and per config its seeds and best post-quant bpb."""

from __future__ import annotations

from rich.console import Console

from sweeper.ledger import AttemptRow
from sweeper.tune.progress import progress_table


def _row(config: str, seed: int, status: str, bpb: float | None = None, size: int | None = None) -> AttemptRow:
    return AttemptRow(attempt_id=f"{config}-s{seed}", sweep="s", config_id=config, params={"MODEL_DIM": 64},
                      seed=seed, status=status, val_bpb=bpb, artifact_bytes=size)  # type: ignore[arg-type]


def _render(rows: list[AttemptRow]) -> list[str]:
    console = Console(width=200, record=True)
    console.print(progress_table(rows, "sweep s"))
    return console.export_text().splitlines()


def test_configs_are_ranked_by_best_finished_seed_with_counts() -> None:
    lines = _render([
        _row("worse", 1, "finished", 1.30, 15_000_000), _row("better", 1, "finished", 1.25, 14_000_000),
        _row("better", 2, "finished", 1.27, 14_500_000), _row("better", 3, "running"),
        _row("broken", 1, "failed"), _row("big", 1, "skipped"),
    ])
    body = [line for line in lines if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in body] == ["better", "worse", "big", "broken"]
    better = body[0]
    assert better.split("│")[3].strip() == "2" and "1.2500" in better and "1.2600" in better and "14,500,000" in better
    assert better.split("│")[7].split() == ["1▶", "2✓"]
    caption = lines[-1]
    assert caption.split() == ["running", "1", "·", "finished", "3", "·", "failed", "1", "·", "skipped", "1"]
