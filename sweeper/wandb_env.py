"""The W&B environment pgolf runs in: is an API key available, which mode runs use, quiet settings.

Core (no Ray, no wandb import): the trial's tracker, `pgolf sync`, `pgolf dashboard` and the driver
all decide the same way. Mode rule: `WANDB_MODE` in the environment wins (W&B's own override), then
a space's explicit `wandb.mode`; with neither, runs are online when an API key is available (in
`WANDB_API_KEY` or `~/.netrc` for the W&B host), else offline (`pgolf sync` uploads them later).
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping, MutableMapping
from typing import Literal, get_args
from urllib.parse import urlsplit

Mode = Literal["online", "offline", "disabled"]

# Env for any wandb process we start (`wandb sync`) and defaults for the trial process: no login
# prompt, no git or code capture, no system-stats sampler (it probes a cloud metadata URL), a
# bounded init timeout.
QUIET_ENV = {
    "WANDB_SILENT": "true", "WANDB_CONSOLE": "off", "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true", "WANDB_ERROR_REPORTING": "false", "WANDB_X_DISABLE_STATS": "true",
    "WANDB_X_DISABLE_MACHINE_INFO": "true", "WANDB_INIT_TIMEOUT": "60",
}
DEFAULT_HOST = "api.wandb.ai"
_MODE_ALIASES: dict[str, Mode] = {"dryrun": "offline", "run": "online"}  # W&B's older names


def api_key_available(env: Mapping[str, str]) -> bool:
    """A key in WANDB_API_KEY, or in ~/.netrc for the configured W&B host."""
    if env.get("WANDB_API_KEY"):
        return True
    host = urlsplit(env.get("WANDB_BASE_URL", "")).hostname or DEFAULT_HOST
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(requested: Mode | None, env: Mapping[str, str]) -> Mode:
    """The mode runs use (see the module docstring); `requested` is the space's `wandb.mode`."""
    forced = env.get("WANDB_MODE", "").strip().lower()
    forced = _MODE_ALIASES.get(forced, forced)
    if forced in get_args(Mode):
        return forced  # type: ignore[return-value]
    if requested is not None:
        return requested
    return "online" if api_key_available(env) else "offline"


def quiet_wandb(environ: MutableMapping[str, str] = os.environ) -> None:
    """Apply QUIET_ENV to `environ` wherever the user has not set the variable."""
    for key, value in QUIET_ENV.items():
        environ.setdefault(key, value)
