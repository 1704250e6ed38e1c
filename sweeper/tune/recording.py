"""Turn Tune's trial events into ledger rows, on the driver (trials on other nodes never write it).

Rows are upserted by attempt id, so a re-reported or resumed attempt never duplicates one. A trial
that ends with an `outcome` (finished or failed trainer) gets its figures; one stopped without an
outcome was pruned by ASHA (`skipped`); one that Tune gave up on after retries is `failed`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ray import tune

from sweeper.ledger import AttemptFigures, AttemptRow, Ledger
from sweeper.secrets import Redactor
from sweeper.tune.attempt import Job, TrialContext, TrialOutcome, attempt_id, job_of

_OUTCOME_FIELDS = [*AttemptFigures.model_fields, "status"]


class AttemptRecorder:
    """Builds and writes the ledger rows of one sweep's attempts."""

    def __init__(self, ledger: Ledger, context: TrialContext) -> None:
        self.ledger = ledger
        self.context = context

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into tuner.pkl (for Tuner.restore, which pgolf does not use):
        # the open SQLite connection stays behind. No secret is held, so none is pickled.
        return {**self.__dict__, "ledger": None}

    def _redact(self, text: str) -> str:
        """Mask the environment's secrets (read now: a Redactor is never kept, it would be pickled)."""
        return Redactor.from_env(os.environ, self.context.space.secrets_allow)(text)

    def base_row(self, job: Job) -> AttemptRow:
        """The row as the driver knows it before the trial ends (keeps retries and start time)."""
        ctx = self.context
        config_id = ctx.space.config_id(job.params)
        aid = attempt_id(config_id, job.seed)
        existing = self.ledger.attempt(aid)
        trial_dir = ctx.sweep_dir / "trials" / aid
        return AttemptRow(
            attempt_id=aid, sweep=ctx.sweep, config_id=config_id, params=dict(job.params), seed=job.seed,
            stage=job.stage, status="pending", log_path=str(trial_dir / "trial.log"),
            script_path=str(ctx.space.script), script_sha256=ctx.script_sha256,
            data_fingerprint=ctx.data_fingerprint, preflight_warning=job.preflight_warning,
            retries=existing.retries if existing else 0,
            started_at=existing.started_at if existing else None)

    def started(self, job: Job) -> AttemptRow:
        row = self.base_row(job).model_copy(update={"status": "running", "started_at": time.time()})
        self.ledger.upsert_attempt(row)
        return row

    def retried(self, job: Job) -> None:
        row = self.base_row(job)
        self.ledger.upsert_attempt(row.model_copy(update={"status": "running", "retries": row.retries + 1}))

    def finished(self, job: Job, outcome: TrialOutcome) -> AttemptRow:
        row = self.base_row(job)
        figures = {k: getattr(outcome, k) for k in _OUTCOME_FIELDS}
        figures["failure_reason"] = self._redact(outcome.failure_reason) if outcome.failure_reason else None
        figures["preflight_warning"] = outcome.preflight_warning or row.preflight_warning
        return self._close(row.model_copy(update=figures))

    def ended_without_outcome(self, job: Job, status: str, reason: str) -> AttemptRow:
        row = self.base_row(job)
        return self._close(row.model_copy(update={"status": status, "failure_reason": self._redact(reason)}))

    def skipped(self, job: Job, reason: str) -> AttemptRow:
        """A config that never ran (preflight): one `skipped` row, no trial."""
        row = self.base_row(job).model_copy(update={"status": "skipped", "failure_reason": reason,
                                                    "started_at": None, "log_path": None})
        self.ledger.upsert_attempt(row)
        return row

    def _close(self, row: AttemptRow) -> AttemptRow:
        now = time.time()
        wall = None if row.started_at is None else round(now - row.started_at, 3)
        gpu_s = None if wall is None else round(wall * self.context.space.nproc, 3)
        closed = row.model_copy(update={"ended_at": now, "wall_s": wall, "gpu_s": gpu_s})
        self.ledger.upsert_attempt(AttemptRow.model_validate(closed.model_dump()))
        return closed


class LedgerCallback(tune.Callback):
    """Tune callback (driver side) that keeps the ledger in step with the trials."""

    def __init__(self, recorder: AttemptRecorder) -> None:
        self.recorder = recorder

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.recorder.started(job_of(trial.config))

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.recorder.retried(job_of(trial.config))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        job, result = job_of(trial.config), trial.last_result or {}
        if "outcome" in result:
            self.recorder.finished(job, TrialOutcome.model_validate(result["outcome"]))
        else:
            step = result.get("step")
            where = f" at step {step}" if step is not None else ""
            self.recorder.ended_without_outcome(job, "skipped", f"pruned: stopped by ASHA{where}")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        error = trial.get_error()
        first_line = str(error).strip().splitlines()[0] if error else "unknown error"
        self.recorder.ended_without_outcome(
            job_of(trial.config), "failed", f"trial lost after {trial.num_failures} attempt(s): {first_line[:300]}")
