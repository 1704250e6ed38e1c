"""A plain clone passes on its own: no test reads outside the repository (issue #10).

Users clone pgolf alone, without the reference folder the developers keep beside it, so every
fixture lives under tests/fixtures/ (with its upstream LICENSE) and no test source names a path
above the repository.
"""

from __future__ import annotations

import re

from tests.paths import FIXTURES, REPO

# the sibling reference folder reached by a relative path or by `.parent(s)` arithmetic: out of the clone.
OUTSIDE = re.compile(r"""\.\./shared|parents?(\[\d+\])?\s*/\s*["']shared["']""")


def test_no_test_source_points_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        if "fixtures" not in path.relative_to(REPO).parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_fixtures_are_vendored_inside_the_repository_with_their_licence() -> None:
    assert FIXTURES.is_relative_to(REPO)
    assert "MIT License" in (FIXTURES / "LICENSE").read_text()
    folders = sorted(p.parent.name for p in FIXTURES.glob("track_*/*/submission*.json"))
    assert len(folders) == 12, folders


def test_the_pattern_catches_the_ways_tests_used_to_reach_outside() -> None:
    sibling = "shared"  # spelt apart so that this file itself reads nothing outside the clone
    for line in (f'SHARED = REPO.parent / "{sibling}"', f"open('../{sibling}/x')", f"REPO.parents[1] / '{sibling}'"):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search('FIXTURES = REPO / "tests" / "fixtures"')
