"""The Ray session a driver runs in: join a cluster, or start a private local Ray.

`RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=1` keeps 0-GPU workers off the GPUs (since Ray 2.60 they no
longer get `CUDA_VISIBLE_DEVICES=""`; the launcher also sets it for the trainer). Token auth is
disabled for a private local cluster only (it otherwise warns); a cluster keeps its own setting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sweeper.errors import UsageError

RAY_ENV = {  # defaults for the Ray processes this driver starts (an explicit env var wins)
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1",  # 0-GPU workers get CUDA_VISIBLE_DEVICES=""
}
TUNE_ENV = {  # defaults for Tune in this (driver) process
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # the ledger and W&B are the record, not CSV/TBX
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_AIR_NEW_OUTPUT": "0",  # the new reporter prints a config box even at verbose=0
}


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Join `address` (or $RAY_ADDRESS), else start a local Ray; reuse one already initialised."""
    import ray

    for key, value in TUNE_ENV.items():
        os.environ.setdefault(key, value)
    # Without the auto loggers the (unused) ResultGrid cannot find per-trial metrics and says so.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    if ray.is_initialized():
        yield
        return
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local cluster; silences the warning
    try:
        ray.init(address=target, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=True)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--address {target}: cannot join a Ray cluster there ({reason[:200]}); start one with "
                         "`ray start --head`, or leave --address out for a local Ray") from None
    try:
        yield
    finally:
        ray.shutdown()
