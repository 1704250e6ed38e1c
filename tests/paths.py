"""Where the repository and the shared reference material live (CI clones shared/ beside the repo)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "pg-records"
TRAINER = REPO / "trainer" / "train_gpt.py"
