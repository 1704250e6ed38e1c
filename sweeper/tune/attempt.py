"""One attempt = one (config, seed) of a sweep: what a trial runs, what it shares, how it ended.

An attempt's id is `<config_id>-s<seed>`: stable across resumes, readable in paths. Its terminal
outcome is persisted as `trials/<attempt_id>/outcome.json` before Tune hears of it, and a lock file
marks an attempt whose trainer is running (Optuna can draw the same config twice).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sweeper.ledger import AttemptFigures, Stage
from sweeper.space import SearchSpace
from sweeper.space_params import Scalar
from sweeper.wandb_env import Mode

OUTCOME_FILE = "outcome.json"
LOCK_FILE = "running.lock"  # held while a trainer runs for the attempt (Optuna can draw a config twice)


class Job(BaseModel):
    """What one Tune trial runs: a config (swept values) and a seed, in a stage."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Scalar]
    seed: int
    stage: Stage = "screen"
    preflight_warning: str | None = None  # the driver's preflight ran it despite this doubt


class TrialContext(BaseModel):
    """What every trial of a sweep shares (sent once through the object store)."""

    model_config = ConfigDict(frozen=True)

    sweep: str
    sweep_dir: Path
    space: SearchSpace  # resolved: absolute script and data paths
    script_sha256: str
    data_fingerprint: str | None = None
    wandb_mode: Mode = "offline"
    preflight_in_trial: bool = False  # Optuna: configs are only known once sampled


class TrialOutcome(AttemptFigures):
    """The terminal state of an attempt: its figures, plus trainer exit, timing and node."""

    attempt_id: str
    status: Literal["finished", "failed", "skipped"]
    trainer_wall_s: float | None = None
    exit_code: int | None = None
    node_id: str | None = None


def attempt_id(config_id: str, seed: int) -> str:
    """One attempt per (config, seed) in a sweep: stable across resumes, readable in paths."""
    return f"{config_id}-s{seed}"


def job_of(config: dict[str, Any]) -> Job:
    return Job.model_validate(config["job"])


def read_outcome(trial_dir: Path) -> TrialOutcome | None:
    """A terminal outcome already written for this attempt (None if absent or torn)."""
    try:
        return TrialOutcome.model_validate_json((trial_dir / OUTCOME_FILE).read_text())
    except (OSError, ValidationError):
        return None


def outcome_metrics(outcome: TrialOutcome) -> dict[str, Any]:
    """The final Tune result: the metric (NaN for failures, which Optuna records as failed) + outcome."""
    score = outcome.val_bpb if outcome.status == "finished" and outcome.val_bpb is not None else math.nan
    return {"val_bpb": score, "step": outcome.steps or 0, "status": outcome.status,
            "outcome": outcome.model_dump(), "done": True}
