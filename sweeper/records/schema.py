"""The nouns of record validation: a seed's run, a record candidate, the budgets and the significance rule.

Units are part of the names: `val_loss` is nats per token, `val_bpb` bits per byte, and their ratio
(ln 2 * bytes per token) identifies the tokenizer and validation stream a run was scored on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sweeper.space import Limits  # the budgets: one model for sweeps and records


class Fingerprint(BaseModel):
    """Which tokenizer and validation stream produced a score (nats compare only within one)."""

    model_config = ConfigDict(frozen=True)

    tokenizer: str = Field(description="sp1024, sp8192, sp8192-caseops, bytes, ... or custom")
    stream: str = Field(description="validation stream: an official export name or a data fingerprint")
    ratio: float = Field(gt=0, description="val_loss / val_bpb = ln2 * bytes per token")
    val_tokens: int | None = Field(default=None, description="validation tokens the log reports")

    @property
    def name(self) -> str:
        """Human label, e.g. `sp1024 (fineweb-val)`."""
        return f"{self.tokenizer} ({self.stream})"

    def same_stream(self, other: Fingerprint) -> bool:
        """True when nats per token of the two runs are directly comparable."""
        tokens_agree = self.val_tokens is None or other.val_tokens is None or self.val_tokens == other.val_tokens
        return self.tokenizer == other.tokenizer and self.stream == other.stream and tokens_agree


class SeedRun(BaseModel):
    """One seed's official figures, as read from its own train log (never from claims)."""

    seed: int
    val_loss: float = Field(description="official score, nats per token")
    val_bpb: float = Field(description="official score, bits per byte")
    label: str | None = Field(default=None, description="the log's label for the official score line")
    artifact_bytes: int | None = Field(default=None, description="code + compressed model, as logged")
    artifact_megabytes: float | None = Field(default=None, description="when a log gives the size in MB only")
    code_bytes: int | None = None
    train_seconds: float | None = Field(default=None, description="wallclock of the timed training loop")
    eval_seconds: float | None = Field(default=None, description="wallclock of every evaluation after training")
    steps: int | None = None
    step_avg_ms: float | None = None
    log_path: str = Field(description="log file, relative to the records folder when it lives in one")
    log_sha256: str
    fingerprint: Fingerprint


class RecordCandidate(BaseModel):
    """A set of seeds submitted together as one record (or non-record) entry."""

    name: str = ""
    author: str = ""
    github_id: str = ""
    track: str = "10min_16mb"
    script_sha256: str | None = Field(default=None, description="sha256 of the train_gpt.py that ran")
    seeds: list[SeedRun]

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[SeedRun]) -> list[SeedRun]:
        numbers = [run.seed for run in seeds]
        repeated = sorted({s for s in numbers if numbers.count(s) > 1})
        if repeated:
            raise ValueError(f"seeds must be distinct; repeated: {repeated}")
        return seeds


def train_allowance(limits: Limits, step_avg_ms: float | None) -> float:
    """Seconds of training accepted: the cap checks after each step, so one step (or the tolerance) over is normal."""
    one_step = (step_avg_ms or 0.0) / 1000.0
    return limits.train_s + max(limits.train_tolerance_s, one_step)


class SignificancePolicy(BaseModel):
    """How a candidate must beat the state of the art.

    `readme` is the written rule (one-sided one-sample t-test against SOTA mean - 0.005 nats,
    p < 0.01); `frontier` is the maintainers' practice (one-sided Welch test against the previous
    record's seeds, no margin, alpha configurable).
    """

    kind: Literal["readme", "frontier"] = "readme"
    alpha: float = Field(default=0.01, gt=0, lt=1)
    margin_nats: float = Field(default=0.005, ge=0, description="required improvement, nats per token")
    min_seeds: int = Field(default=3, ge=1, description="distinct seeds a record needs")

    @classmethod
    def named(cls, kind: str, alpha: float | None = None) -> SignificancePolicy:
        """The policy called `kind`, with its customary alpha and margin unless `alpha` is given."""
        if kind == "readme":
            return cls(kind="readme", alpha=0.01 if alpha is None else alpha, margin_nats=0.005)
        if kind == "frontier":
            return cls(kind="frontier", alpha=0.25 if alpha is None else alpha, margin_nats=0.0)
        raise ValueError(f"unknown significance policy {kind!r}; use readme or frontier")


class SotaReference(BaseModel):
    """The state of the art a candidate is tested against: a folder's seeds, or one number."""

    source: str = Field(description="where it came from: a records folder or the value as given")
    units: Literal["nats", "bpb", "seeds"] = Field(description="a bare value's units, or `seeds` for a folder")
    val_losses: list[float] = Field(default_factory=list, description="nats per token, one per seed")
    val_bpbs: list[float] = Field(default_factory=list, description="bits per byte, one per seed")
    fingerprint: Fingerprint | None = Field(default=None, description="unknown for a bare value")
