"""One exception root for everything a user can cause; the CLI turns these into one-line errors."""

from __future__ import annotations


class PgolfError(Exception):
    """A problem the user can fix (bad input, missing file, over-limit config). Message is one line."""

    exit_code: int = 1


class UsageError(PgolfError):
    """The input cannot be used at all (missing files, malformed JSON/YAML, unknown tokenizer)."""

    exit_code = 2


class DataError(PgolfError):
    """A shard, tokenizer or dataset directory is missing or malformed."""


class LogParseError(PgolfError):
    """A log file cannot be read (the parser itself never raises on content; see RunResult.warnings)."""


class SpaceError(PgolfError):
    """A search-space YAML is invalid; the message names the offending key."""

    exit_code = 2


class LedgerError(PgolfError):
    """The sweep ledger is missing, locked or from an unknown schema version."""


class RecordError(PgolfError):
    """A records folder or candidate cannot be validated."""

    exit_code = 2
