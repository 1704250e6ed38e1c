"""The Tune trainable: one trial = one torchrun trainer, streamed, parsed, tracked and cleaned up.

Class API on purpose: Tune calls `cleanup()` on every end (finished, errored, stopped by ASHA,
driver shutdown), which kills the trainer's process group and closes the W&B run; `reset_config`
does the same before an actor is reused. One `step()` reads trainer lines up to the next
in-training validation (reported for ASHA) or to the end (the final result, `done=True`).

Trainer failures (non-zero exit, NaN loss, timeout) are *results*, not exceptions: the attempt ends
with status `failed` and a reason, and Tune does not retry it. Only a lost node or actor (an
exception Tune sees) is retried, through `FailureConfig`.

A terminal outcome is also written to `trials/<attempt_id>/outcome.json` before it is reported,
so a trial whose driver died in between is re-reported on resume instead of re-run.
"""

from __future__ import annotations

import json
import math
import os
import queue
import time
import uuid
from pathlib import Path
from typing import Any

from ray import tune

from sweeper.digest import sha256_files
from sweeper.preflight import Decision, sweep_preflight
from sweeper.runlog import LogParser, RunResult, TrainEvent, ValEvent
from sweeper.sweepdir import SweepDir
from sweeper.trial_watch import LOCATION_FILE
from sweeper.tune.attempt import (
    LOCK_FILE,
    OUTCOME_FILE,
    Job,
    TrialContext,
    TrialOutcome,
    attempt_id,
    job_of,
    outcome_metrics,
    read_outcome,
)
from sweeper.tune.launcher import LaunchSpec, TrainerProcess, describe_exit
from sweeper.tune.proctree import reap_recorded
from sweeper.tune.tracking import RunIdentity, TrialTracker, scrubbed_config

POLL_S = 1.0  # how often a waiting step() re-checks the trial deadline
RUN_ID_FILE = "wandb_run_id"  # the attempt's W&B run id, kept across relaunches


class TrainerTrial(tune.Trainable):
    """See the module docstring. Config: `{"job": Job}`; `context` comes via `tune.with_parameters`."""

    def setup(self, config: dict[str, Any], context: TrialContext) -> None:  # type: ignore[override]
        self.context = context
        self._begin(job_of(config))

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._end(reason="actor reused before the trainer ended")
        self._begin(job_of(new_config))
        return True

    def cleanup(self) -> None:
        self._end(reason="stopped before the trainer ended (scheduler or driver)")

    # -- lifecycle ---------------------------------------------------------------------------------
    def _begin(self, job: Job) -> None:
        space = self.context.space
        self.job = job
        self.config_id = space.config_id(job.params)
        self.attempt_id = attempt_id(self.config_id, job.seed)
        self.trial_dir = SweepDir(self.context.sweep_dir).trial_dir(self.attempt_id)
        self.parser = LogParser(self.trial_dir / "trial.log")
        self.process: TrainerProcess | None = None
        self.tracker: TrialTracker | None = None
        self.deadline = math.inf
        self.owns_lock = False
        self.preflight_warning = job.preflight_warning
        self.outcome = read_outcome(self.trial_dir)  # set: an earlier driver saw it end; re-report

    def _launch(self) -> None:
        space, job = self.context.space, self.job
        env = {**space.trial_env(job.params, job.seed), "RUN_ID": self.attempt_id,
               "OUTPUT_DIR": str(self.trial_dir), "SUMMARY_PATH": str(self.trial_dir / "summary.json"),
               "PGOLF_ATTEMPT_ID": self.attempt_id, "PGOLF_NODE_ID": self._node_id()}
        gpus = [str(i) for i in self._gpu_ids()] if space.resources.gpus > 0 else []
        spec = LaunchSpec(script=space.script, nproc_per_node=space.nproc, env=env, work_dir=self.trial_dir,
                          log_path=self.trial_dir / "trial.log", visible_devices=gpus,
                          secrets_allow=space.secrets_allow)
        reap_recorded(self.trial_dir)  # an earlier launch of this attempt whose driver died (any node)
        self.process = TrainerProcess(spec)  # first, so W&B start-up overlaps the trainer's imports
        self.deadline = time.monotonic() + space.limits.trial_timeout_s
        self.tracker = TrialTracker(self._identity(), self.context.wandb_mode, self.context.sweep_dir)
        if self.tracker.location:  # for the live view
            (self.trial_dir / LOCATION_FILE).write_text(self.tracker.location + "\n")

    def _end(self, reason: str) -> None:
        """Kill a trainer still running and close its W&B run (a no-op after a normal finish)."""
        if self.process is not None:
            self.process.stop()
        if self.tracker is not None:
            self.tracker.finish({"status": "stopped", "failure_reason": reason}, ok=False)
        self._release()

    def _claim(self) -> bool:
        """Take the attempt's lock; False if a twin trial (same config and seed) holds it. The lock
        names its Tune trial, so a retry of this trial (its actor was lost) takes its own lock back."""
        lock = self.trial_dir / LOCK_FILE
        self.trial_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if lock.read_text() != self.trial_id:
                return False
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(self.trial_id)
        self.owns_lock = True
        return True

    def _lock_is_ours(self) -> bool:
        try:
            return (self.trial_dir / LOCK_FILE).read_text() == self.trial_id
        except OSError:
            return False

    def _release(self) -> None:
        if self.owns_lock and self._lock_is_ours():  # a newer driver's trial may hold it now
            (self.trial_dir / LOCK_FILE).unlink(missing_ok=True)
        self.owns_lock = False

    def _twin_outcome(self) -> dict[str, Any]:
        """Report what the twin trial running this very attempt ends with (nothing runs twice)."""
        deadline = time.monotonic() + self.context.space.limits.trial_timeout_s + 60
        while (outcome := read_outcome(self.trial_dir)) is None:
            if time.monotonic() > deadline:
                return outcome_metrics(TrialOutcome(attempt_id=self.attempt_id, status="failed",
                                                    failure_reason="a twin trial of this attempt never ended"))
            time.sleep(POLL_S)
        self.outcome = outcome
        return outcome_metrics(outcome)

    # -- streaming -------------------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        if self.outcome is not None:
            return outcome_metrics(self.outcome)
        if self.process is None:
            if not self._claim():
                return self._twin_outcome()
            decision = self._preflight()
            if decision.skip_reason is not None:
                return self._record(TrialOutcome(attempt_id=self.attempt_id, status="skipped",
                                                 failure_reason=decision.skip_reason))
            self.preflight_warning = decision.warning or self.preflight_warning
            self._launch()
        assert self.process is not None and self.tracker is not None
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                limit = self.context.space.limits.trial_timeout_s
                return self._conclude(failure=f"timeout: no exit after {limit:g} s (limits.trial_timeout_s)")
            try:
                line = self.process.next_line(timeout=min(remaining, POLL_S))
            except queue.Empty:
                continue
            if line is None:
                return self._conclude()
            for event in self.parser.feed(line):
                if isinstance(event, TrainEvent):
                    self.tracker.log({"train_loss": event.train_loss}, step=event.step)
                    if not math.isfinite(event.train_loss):
                        return self._conclude(failure=f"nan_loss: train_loss {event.train_loss} at step {event.step}")
                elif isinstance(event, ValEvent):
                    metrics = {"val_loss": event.val_loss, "val_bpb": event.val_bpb}
                    self.tracker.log(metrics, step=event.step)
                    if not math.isfinite(event.val_loss):
                        return self._conclude(failure=f"nan_loss: val_loss {event.val_loss} at step {event.step}")
                    return {**metrics, "step": event.step, "train_time_ms": event.train_time_ms or 0.0}

    def _conclude(self, failure: str | None = None) -> dict[str, Any]:
        """Stop the trainer, build the outcome, persist it, close W&B, report it (done=True)."""
        assert self.process is not None and self.tracker is not None
        code = self.process.stop()
        result = self.parser.result()
        if failure is None and code != 0:
            failure = describe_exit(code, self._output_tail())
        if failure is None and result.nan_loss:
            failure = "nan_loss: NaN/inf in the log"
        if failure is None and result.val_bpb is None:
            failure = "no final score line in trial.log (the script printed no `<label> val_loss:X val_bpb:Y`)"
        outcome = self._outcome(result, code, failure)
        self.tracker.upload(self.process.spec.log_path, "trainer-log")
        if outcome.artifact_path:
            self.tracker.upload(Path(outcome.artifact_path), "model")
        self.tracker.finish(self._summary(outcome), ok=failure is None)
        return self._record(outcome)

    def _record(self, outcome: TrialOutcome) -> dict[str, Any]:
        """Persist the terminal outcome (atomically) before reporting it; not when a newer driver has taken
        the attempt over (it removed our lock): our trainer was reaped, which is not the attempt's result."""
        self.outcome = outcome
        if self.owns_lock and not self._lock_is_ours():
            self.owns_lock = False
            return outcome_metrics(outcome)
        self.trial_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.trial_dir / (OUTCOME_FILE + ".tmp")
        tmp.write_text(outcome.model_dump_json(indent=2))
        tmp.replace(self.trial_dir / OUTCOME_FILE)
        self._release()
        return outcome_metrics(outcome)

    def _preflight(self) -> Decision:
        """Optuna's configs are drawn here, so their preflight is too (the driver's, for the same answer)."""
        ctx = self.context
        if not ctx.preflight_in_trial or ctx.space.preflight == "off":
            return Decision()
        checker = sweep_preflight(ctx.space, ctx.sweep_dir.parent, ctx.data_fingerprint)
        return checker.decide(self.job.params, ctx.space.preflight)

    def _outcome(self, result: RunResult, code: int, failure: str | None) -> TrialOutcome:
        assert self.process is not None and self.tracker is not None
        artifact = self._artifact_path()
        return TrialOutcome(
            attempt_id=self.attempt_id, status="failed" if failure else "finished", failure_reason=failure,
            val_loss=result.val_loss, val_bpb=result.val_bpb,
            pre_quant_val_bpb=result.val_curve[-1].val_bpb if result.val_curve else None,
            artifact_bytes=result.artifact_bytes, code_bytes=result.code_bytes, model_bytes=result.model_bytes,
            train_time_ms=result.train_time_ms, eval_time_ms=result.eval_time_ms, steps=result.steps,
            log_path=str(self.process.spec.log_path), artifact_path=str(artifact) if artifact else None,
            artifact_sha256=sha256_files(artifact) if artifact else None, wandb_run_id=self.tracker.run_id,
            trainer_wall_s=round(self.process.wall_s, 3), exit_code=code, node_id=self._node_id(),
            preflight_warning=self.preflight_warning)

    # -- helpers ---------------------------------------------------------------------------------
    def _identity(self) -> RunIdentity:
        ctx, job, space = self.context, self.job, self.context.space
        config = {**space.config_values(job.params), "seed": job.seed, "config_id": self.config_id,
                  "stage": job.stage, "sweep": ctx.sweep, "script": str(space.script),
                  "script_sha256": ctx.script_sha256, "data_fingerprint": ctx.data_fingerprint,
                  "nproc_per_node": space.nproc, "gpus": space.resources.gpus, "pgolf/swept": sorted(space.params)}
        if self.preflight_warning:
            config["preflight_warning"] = self.preflight_warning
        return RunIdentity(
            run_id=self._run_id(), project=space.wandb.project,
            entity=space.wandb.entity, group=f"{ctx.sweep}/{self.config_id}", job_type=job.stage,
            name=f"{ctx.sweep}/{self.config_id}-s{job.seed}",
            tags=[f"sweep:{ctx.sweep}", f"seed:{job.seed}", f"stage:{job.stage}"],
            config=scrubbed_config(config, allow=space.secrets_allow))

    def _run_id(self) -> str:
        """The attempt's W&B run id: chosen at its first launch, kept in the trial dir for relaunches."""
        path = self.trial_dir / RUN_ID_FILE
        try:
            return path.read_text().strip()
        except OSError:
            run_id = f"{self.attempt_id}-{uuid.uuid4().hex[:6]}"
            path.write_text(run_id)
            return run_id

    @staticmethod
    def _summary(outcome: TrialOutcome) -> dict[str, Any]:
        seconds = {"train_s": outcome.train_time_ms, "eval_s": outcome.eval_time_ms}
        summary: dict[str, Any] = {k: None if v is None else v / 1000 for k, v in seconds.items()}
        summary |= {"final/val_loss": outcome.val_loss, "final/val_bpb": outcome.val_bpb}  # post-quant
        for key in ("pre_quant_val_bpb", "artifact_bytes", "code_bytes", "model_bytes", "steps", "status",
                    "failure_reason"):
            summary[key] = getattr(outcome, key)
        return {k: v for k, v in summary.items() if v is not None}

    def _artifact_path(self) -> Path | None:
        """The artifact the trainer's summary names, else the newest `*.ptz` in its work dir."""
        try:
            named = json.loads((self.trial_dir / "summary.json").read_text()).get("artifact_path")
        except (OSError, ValueError, AttributeError):
            named = None
        if named and Path(named).is_file():
            return Path(named)
        found = sorted(self.trial_dir.glob("*.ptz"), key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    def _output_tail(self, lines: int = 400) -> list[str]:
        assert self.process is not None
        try:
            return self.process.spec.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return []

    @staticmethod
    def _node_id() -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    @staticmethod
    def _gpu_ids() -> list[Any]:
        import ray

        return list(ray.get_gpu_ids())

