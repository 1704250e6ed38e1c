"""`--config` references: a full id, a rank `#N` as `pgolf candidates` shows it, or a unique prefix."""

from __future__ import annotations

import pytest

from sweeper.configref import resolve_config_ref
from sweeper.errors import UsageError

IDS = ["2e6a38f01b9c", "2e6a77aa0011", "9b1c00d4e5f6", "unscored0000"]
RANKED = ["9b1c00d4e5f6", "2e6a38f01b9c", "2e6a77aa0011"]  # unscored0000 has no finished seed


@pytest.mark.parametrize(("ref", "expected"), [
    ("2e6a38f01b9c", "2e6a38f01b9c"), ("#1", "9b1c00d4e5f6"), ("#3", "2e6a77aa0011"), ("2e6a3", "2e6a38f01b9c"),
    ("9", "9b1c00d4e5f6"), (" unscored ", "unscored0000"),
])
def test_a_reference_names_one_config(ref: str, expected: str) -> None:
    assert resolve_config_ref(ref, IDS, RANKED, "s") == expected


@pytest.mark.parametrize(("ref", "message"), [
    ("2e6a", "--config 2e6a: ambiguous prefix, matches 2 configs of sweep s: 2e6a38f01b9c, 2e6a77aa0011"),
    ("#4", "--config #4: sweep s has 3 ranked config(s) (finished, scored seeds; see `pgolf candidates`)"),
    ("#0", "--config #0: a rank is # followed by a number from 1 (see `pgolf candidates`)"),
    ("#one", "--config #one: a rank is # followed by a number from 1 (see `pgolf candidates`)"),
    ("ffff", "--config ffff: no such config in sweep s (configs: " + ", ".join(IDS) + ")"),
    ("", "--config : no such config in sweep s (configs: " + ", ".join(IDS) + ")"),
])
def test_a_bad_reference_is_one_clear_line(ref: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve_config_ref(ref, IDS, RANKED, "s")
    assert str(info.value) == message
