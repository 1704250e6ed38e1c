"""One real local Ray per test session (2 CPUs, no dashboard, its own temp dir), shared by tune tests."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.tune.spaces import SECRET_ENV

# Before Ray or W&B is imported anywhere in this session.
CI_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "WANDB_MODE": "offline",
    "OMP_NUM_THREADS": "1",
}
for _key, _value in CI_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ.pop("WANDB_API_KEY", None)  # tests never upload; sync tests set their own env


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """`ray.init(num_cpus=2)` once per session; the driver reuses it (it never shuts down a Ray it
    did not start). The temp dir is short (Unix socket paths are limited to 107 bytes) and private."""
    import ray

    temp_dir = tempfile.mkdtemp(prefix="pgray-", dir="/tmp")
    # Every Ray worker (trial actor) holds a fake W&B key and other secrets, as on a real cluster; tests
    # check that they reach neither the trainer nor anything recorded.
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             object_store_memory=200 << 20, _temp_dir=temp_dir, runtime_env={"env_vars": SECRET_ENV})
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)
