"""Keep credentials out of everything the sweeper records (trial logs, ledger, W&B, Tune state).

A variable is secret when its name says so (`WANDB_API_KEY`, `WANDB_KEY`, `HF_TOKEN`, `GITHUB_PAT`,
`DB_SECRETS`, `MY_AUTH`, `*_PASSWORD`, `*_PASSPHRASE`, `*_CREDENTIALS`, `*_PRIVATE_KEY`, ...) or its
value looks like a credential (known key prefixes such as `ghp_`, `hf_`, `sk-`, `xoxb-`, `AKIA`, a
W&B key of 40 hex digits or `local-...`, or a long high-entropy token). A space's `secrets_allow`
names the variables that only look secret. Secret variables are dropped from the trainer's env and
their values are masked in any text we write. Secret values are never stored in an object that
could be pickled (Tune pickles callbacks and trainables): `Redactor` refuses to be pickled, so build
one from the environment where it is used.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any, NoReturn

# Whole name parts only: TRAIN_BATCH_TOKENS and TOKENIZER_PATH are hyper-parameters, HF_TOKEN is not.
SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEYS?|KEYS?|TOKEN|SECRETS?|PASSWORDS?|PASSWD|PASS|PASSPHRASE|PWD|CREDENTIALS?|CREDS|AUTH|"
    r"PAT|PRIVATE_?KEY|ACCESS_?KEY|COOKIE|SIGNING_?KEY|DSN)(?:$|_)", re.IGNORECASE)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})  # the shell's working directories
# Known credential shapes: GitHub, Hugging Face, OpenAI/Anthropic, Slack, AWS, GitLab, W&B, JWTs, PEM.
KEY_SHAPES = re.compile(
    r"^(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|(?:AKIA|ASIA)[A-Z0-9]{16}|glpat-[A-Za-z0-9_-]{20,}|[0-9a-f]{40}"
    r"|local-[0-9a-f]{20,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\..*|-----BEGIN [A-Z ]*PRIVATE KEY-----.*)$",
    re.DOTALL)
_TOKEN = re.compile(r"^[A-Za-z0-9+/=_.-]{32,}$")  # one long word of base64/url-safe characters
_MIN_ENTROPY_BITS = 4.0  # per character; English words and ids stay below, random keys above
MASK = "***"
_MIN_SECRET_LEN = 6  # shorter values ("1", "true") would mask innocent text


def is_secret_name(name: str) -> bool:
    return name.upper() not in _NOT_SECRET_NAMES and bool(SECRET_NAME.search(name))


def _entropy_bits(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_shape(value: str) -> str | None:
    """What kind of credential `value` looks like (`a known key prefix`, `a high-entropy token`), else None.

    Paths (starting with `/`, `.` or `~`) are never tokens."""
    text = value.strip()
    if KEY_SHAPES.match(text):
        return "a known API key format"
    if (_TOKEN.match(text) and text[0] not in "/.~" and re.search(r"[g-zG-Z]", text) and re.search(r"\d", text)
            and _entropy_bits(text) >= _MIN_ENTROPY_BITS):  # hex digests (file hashes, ids) are not keys
        return "a long high-entropy token"
    return None


def is_secret(name: str, value: str, allow: Collection[str] = ()) -> bool:
    """Secret by name or by value shape, unless `name` is allow-listed (a space's `secrets_allow`)."""
    if name in allow:
        return False
    return is_secret_name(name) or secret_shape(value) is not None


def secret_values(env: Mapping[str, str], allow: Collection[str] = ()) -> list[str]:
    return [v for k, v in env.items() if is_secret(k, v, allow)]


def without_secrets(env: Mapping[str, str], allow: Collection[str] = ()) -> dict[str, str]:
    """A copy of `env` without the secret variables."""
    return {k: v for k, v in env.items() if not is_secret(k, v, allow)}


class Redactor:
    """Replaces known secret values in text with `***`. Never pickled: it holds the values."""

    def __init__(self, secrets: list[str], allow: Collection[str] = ()) -> None:
        self._allow = frozenset(allow)
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], allow: Collection[str] = ()) -> Redactor:
        return cls(secret_values(env, allow), allow)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Redactor holds secret values and must not be pickled; build one where it is used")

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text

    def scrub(self, value: Any) -> Any:
        """Recursively mask secret values, and values stored under secret-looking keys."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: MASK if isinstance(k, str) and k not in self._allow and is_secret_name(k) else self.scrub(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        return value
