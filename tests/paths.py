"""Where the repository and its vendored test fixtures live; tests never read outside the repository."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "pg-records"
TRAINER = REPO / "trainer" / "train_gpt.py"
