"""pgolf preflight / candidates commands (placeholder: filled in by its owner)."""

from __future__ import annotations

from sweeper.cli import app  # noqa: F401
