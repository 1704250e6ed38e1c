"""W&B tracking for one trial attempt: one run, written by the trial (never by every rank).

The mode follows `sweeper.wandb_env.resolve_mode` (online when an API key is available, unless
`WANDB_MODE` or the space says otherwise), never interactive (`QUIET_ENV`). If an online init
fails anyway (no key after all, no network), the attempt falls back to offline rather than stall
the sweep; `pgolf sync` uploads offline runs later.

One run per attempt: its id is chosen once and kept in `trials/<attempt_id>/wandb_run_id`, so a
relaunch after a killed driver continues it (online, `resume="allow"`) or replaces its local files.

Run layout (the contract dashboards read; docs/ARCHITECTURE.md lists it too):
  id = <attempt_id>-<6 hex>, name = <sweep>/<config_id>-s<seed>
  group = <sweep>/<config_id> (one config in two sweeps never averages together),
  job_type = stage, tags = sweep:<name>, seed:<n>, stage:<stage>
  config = the config's env with its YAML types (fixed `env` + swept values; numbers stay numbers
           for parallel coordinates) + seed, config_id, stage, sweep, script, script_sha256,
           data_fingerprint, nproc_per_node, gpus, and `pgolf/swept` (the swept keys)
  history (x = `step`): train_loss; val_loss, val_bpb (in-training, pre-quant)
  summary: final/val_loss, final/val_bpb (the post-quant score, under its own keys so the
           history's pre-quant val_* stay as they are), pre_quant_val_bpb, artifact_bytes,
           code_bytes, model_bytes, train_s, eval_s, steps, status, failure_reason;
           exit code 0 finished, 1 otherwise
  artifacts: the trainer log (type `trainer-log`) and the model artifact (type `model`), named
           `<sweep>-<attempt_id>-<type>`; their files are copied into the run directory first,
           so an offline run carries them and `pgolf sync` uploads them
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sweeper.secrets import Redactor, is_secret
from sweeper.wandb_env import QUIET_ENV, Mode, quiet_wandb
from sweeper.wandb_offline import find_offline_runs


class RunIdentity(BaseModel):
    """Who a W&B run is: ids, grouping and the (already scrubbed) config."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    project: str
    entity: str | None = None
    group: str
    job_type: str
    name: str
    tags: list[str]
    config: dict[str, Any]


def _settings(mode: Mode) -> Any:
    import wandb

    # A fresh Settings per run: wandb.init writes the run's name and tags into the object it gets.
    return wandb.Settings(mode=mode, silent=True, console="off", disable_git=True, disable_code=True,
                          x_disable_stats=True, x_disable_machine_info=True, init_timeout=60)


class TrialTracker:
    """One W&B run for one trial attempt; every method is a no-op when tracking is disabled."""

    def __init__(self, identity: RunIdentity, mode: Mode, directory: Path) -> None:
        self.identity = identity
        self.mode: Mode = mode
        self._run: Any = None
        if mode == "disabled":
            return
        quiet_wandb()
        directory.mkdir(parents=True, exist_ok=True)
        for earlier in find_offline_runs(directory / "wandb"):  # a relaunched attempt replaces its local run
            if earlier.name.endswith(f"-{identity.run_id}"):
                shutil.rmtree(earlier, ignore_errors=True)
        try:
            self._run = self._init(mode, directory)
        except Exception:
            if mode != "online":
                raise
            self.mode = "offline"
            self._run = self._init("offline", directory)

    def _init(self, mode: Mode, directory: Path) -> Any:
        import wandb

        ident = self.identity
        run = wandb.init(project=ident.project, entity=ident.entity, dir=str(directory), id=ident.run_id,
                         group=ident.group, job_type=ident.job_type, name=ident.name, tags=ident.tags,
                         config=ident.config, settings=_settings(mode), reinit="finish_previous",
                         resume="allow" if mode == "online" else None)  # online: continue a killed attempt's run
        run.define_metric("step")
        run.define_metric("*", step_metric="step")
        return run

    @property
    def run_id(self) -> str | None:
        return self.identity.run_id if self._run is not None else None

    @property
    def location(self) -> str | None:
        """Where to look at the run: its URL online, its directory offline (None when disabled)."""
        if self._run is None:
            return None
        return self._run.url if self.mode == "online" and self._run.url else str(Path(self._run.dir).parent)

    def upload(self, path: Path, kind: str) -> None:
        """Log `path` as a W&B artifact of type `kind`, from a copy inside the run directory."""
        if self._run is None or not path.is_file():
            return
        import wandb

        copy = Path(self._run.dir).parent / "artifacts" / kind / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        artifact = wandb.Artifact(f"{self.identity.name.replace('/', '-')}-{kind}", type=kind)
        artifact.add_file(str(copy), name=path.name, policy="immutable")
        self._run.log_artifact(artifact)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if self._run is not None:
            self._run.log({"step": step, **metrics})

    def finish(self, summary: Mapping[str, Any], ok: bool) -> None:
        """Write the summary and close the run (exit code 1 marks failed attempts). Idempotent.

        `run.finish` returns before W&B's service has written the run file (measured: up to ~0.5 s
        later); `wandb.teardown` waits for it (~0.01 s), so the run survives an actor killed right
        after. The next run's init restarts the service (~0.6 s, overlapped with trainer start-up)."""
        if self._run is None:
            return
        import wandb

        run, self._run = self._run, None
        run.summary.update(dict(summary))
        run.finish(exit_code=0 if ok else 1)
        wandb.teardown()


class SyncOutcome(BaseModel):
    ok: bool
    synced: int
    message: str


def sync_offline_runs(run_dirs: Sequence[Path], env: Mapping[str, str], timeout_s: float) -> SyncOutcome:
    """Upload offline runs with `wandb sync`, bounded by `timeout_s` (it can hang with no network)."""
    if not run_dirs:
        return SyncOutcome(ok=True, synced=0, message="no offline runs to sync")
    command = [sys.executable, "-m", "wandb", "sync", *map(str, run_dirs)]
    redact = Redactor.from_env(env)
    try:
        done = subprocess.run(command, env={**env, **QUIET_ENV, "WANDB_MODE": "online"}, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        return SyncOutcome(ok=False, synced=0, message=f"wandb sync gave no answer within {timeout_s:g} s "
                                                      "(network or W&B host unreachable?)")
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines() or [f"exit code {done.returncode}"]
        return SyncOutcome(ok=False, synced=0, message=f"wandb sync failed: {redact(last[-1])}")
    return SyncOutcome(ok=True, synced=len(run_dirs), message=f"synced {len(run_dirs)} run(s)")


def scrubbed_config(config: Mapping[str, Any], env: Mapping[str, str] | None = None,
                    allow: Collection[str] = ()) -> dict[str, Any]:
    """A W&B-safe copy: no secret-named or key-shaped entries, no secret values of `env` (default
    os.environ) anywhere; `allow` is the space's `secrets_allow`."""
    redact = Redactor.from_env(os.environ if env is None else env, allow)
    return {k: redact.scrub(v) for k, v in config.items()
            if k in allow or not is_secret(k, v if isinstance(v, str) else "", allow)}
