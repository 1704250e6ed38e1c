"""Plans are bounded: a space that would plan more than `search.max_trials` trials in a stage is refused
at parse time (one line, the bound stated), before anything is listed or allocated."""

from __future__ import annotations

import pytest

from sweeper.errors import SpaceError
from sweeper.space import MAX_TRIALS, parse_space
from tests.sweeper.test_space import space_with

GRID_1M = {f"AXIS_{i}": {"type": "grid", "values": list(range(1000))} for i in range(2)}


@pytest.mark.parametrize(("label", "overrides", "key", "count"), [
    ("a billion random draws", {"search": {"algorithm": "random", "samples": 1_000_000_000},
                                "params": {"MATRIX_LR": {"type": "uniform", "low": 0.01, "high": 0.1}}},
     "search.samples", "1,000,000,000"),
    ("a million-point grid", {"params": GRID_1M}, "params", "1,000,000"),
    ("a billion Optuna draws", {"search": {"algorithm": "optuna", "samples": 10**9},
                                "params": {"MATRIX_LR": {"type": "uniform", "low": 0.01, "high": 0.1}}},
     "search.samples", "1,000,000,000"),
    ("replicas", {"seeds": list(range(20_002)), "replicate_top_k": 1}, "replicate_top_k", "20,001"),
])
def test_an_oversized_plan_is_refused_in_one_line(label: str, overrides: dict, key: str, count: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_space(space_with(**overrides), source="big.yaml")
    message = str(info.value)
    assert message.startswith(f"big.yaml: {key}: ") and count in message and "\n" not in message
    assert f"search.max_trials ({MAX_TRIALS:,})" in message


def test_the_bound_is_configurable() -> None:
    grid = {"params": {"A": {"type": "grid", "values": list(range(4))}, "B": {"type": "grid", "values": [1, 2, 3]}}}
    with pytest.raises(SpaceError, match=r"12 trials, over search.max_trials \(10\)"):
        parse_space(space_with(**grid, search={"max_trials": 10}))
    assert parse_space(space_with(**grid, search={"max_trials": 12})).screen_size() == 12
