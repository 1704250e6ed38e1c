"""What `pgolf check` reports: findings, claim checks, per-seed figures and the verdict (a JSON contract).

`pgolf check --json` prints `Verdict.model_dump(mode="json")`; the keys `verdict, seeds [file, seed,
val_loss, val_bpb, artifact_bytes, train_time_ms, eval_time_ms, violations], violations, claims,
significance {policy, n, mean_val_loss, sota_val_loss, delta_nats, t, p, passes, comparable_units}`
are stable; the others are additions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from sweeper.records.schema import Limits, SeedRun
from sweeper.records.significance import SignificanceResult

Severity = Literal["error", "warning"]
ClaimValue = float | int | str | bool | list[int] | None


class Finding(BaseModel):
    """One reason: an `error` fails the verdict, a `warning` fails it only under --strict."""

    code: str = Field(description="stable identifier, e.g. artifact_over_limit, rescoring_after_ttt")
    severity: Severity
    message: str
    file: str | None = None
    seed: int | None = None


class ClaimCheck(BaseModel):
    """A number a submission states (submission.json or README) compared with what its logs show."""

    source: str = Field(description="submission.json, README.md, ...")
    field: str = Field(description="where the claim sits, e.g. val_bpb or seed_results.42.val_loss")
    claimed: ClaimValue
    actual: ClaimValue
    ok: bool
    note: str = ""


class SeedReport(BaseModel):
    """A seed's figures from its log, and what is wrong with it."""

    file: str
    seed: int
    val_loss: float
    val_bpb: float
    artifact_bytes: int | None
    train_time_ms: float | None
    eval_time_ms: float | None
    violations: list[Finding]
    code_bytes: int | None = None
    steps: int | None = None
    label: str | None = None
    tokenizer: str = ""
    score_ratio: float = Field(description="val_loss / val_bpb")
    val_tokens: int | None = None

    @classmethod
    def of(cls, run: SeedRun, findings: list[Finding]) -> SeedReport:
        return cls(
            file=run.log_path,
            seed=run.seed,
            val_loss=run.val_loss,
            val_bpb=run.val_bpb,
            artifact_bytes=run.artifact_bytes,
            train_time_ms=None if run.train_seconds is None else round(run.train_seconds * 1000.0, 3),
            eval_time_ms=None if run.eval_seconds is None else round(run.eval_seconds * 1000.0, 3),
            violations=findings,
            code_bytes=run.code_bytes,
            steps=run.steps,
            label=run.label,
            tokenizer=run.fingerprint.name,
            score_ratio=run.fingerprint.ratio,
            val_tokens=run.fingerprint.val_tokens,
        )


class Verdict(BaseModel):
    """Pass or fail, with every reason."""

    verdict: Literal["pass", "fail"]
    folder: str | None = None
    name: str = ""
    track: str = ""
    strict: bool = False
    seeds: list[SeedReport]
    violations: list[Finding] = Field(description="every reason the verdict fails")
    warnings: list[Finding] = Field(default_factory=list, description="reported, failing only under --strict")
    claims: list[ClaimCheck] = Field(default_factory=list)
    significance: SignificanceResult
    notes: list[str] = Field(default_factory=list, description="de-duplicated logs, skipped files, assumptions")
    limits: Limits = Field(default_factory=Limits)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def claim_mismatches(self) -> list[ClaimCheck]:
        return [c for c in self.claims if not c.ok]
