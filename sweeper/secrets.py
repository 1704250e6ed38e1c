"""Keep credentials out of everything the sweeper records (trial logs, ledger, W&B config, reports).

A variable is secret when its name says so (`WANDB_API_KEY`, `HF_TOKEN`, `AWS_SECRET_ACCESS_KEY`,
`*_PASSWORD`, ...). Secret variables are dropped from the trainer's env (the trainer never talks
to W&B; the trial does) and their values are masked in any text we write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Whole name parts only: TRAIN_BATCH_TOKENS and TOKENIZER_PATH are hyper-parameters, HF_TOKEN is not.
SECRET_NAME = re.compile(r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_KEY|ACCESS_KEY)(?:$|_)",
                         re.IGNORECASE)
MASK = "***"
_MIN_SECRET_LEN = 6  # shorter values ("1", "true") would mask innocent text


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without the secret variables."""
    return {k: v for k, v in env.items() if not is_secret_name(k)}


class Redactor:
    """Replaces known secret values in text with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Redactor:
        return cls([v for k, v in env.items() if is_secret_name(k)])

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text

    def scrub(self, value: Any) -> Any:
        """Recursively mask secret values, and values stored under secret-looking keys."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: MASK if isinstance(k, str) and is_secret_name(k) else self.scrub(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        return value
