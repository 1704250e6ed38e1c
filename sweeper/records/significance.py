"""Is a candidate significantly better than the state of the art? One-sided t-tests, units made explicit.

The tests are scipy.stats' (`ttest_1samp` and Welch's `ttest_ind`, alternative='less'); what is
ours is the units logic. Scores compare in nats only when both sides were scored on one tokenizer
and validation stream; otherwise both go through bpb, each run with its own val_loss / val_bpb
ratio, and the margin is converted with the candidate's ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from sweeper.records.schema import SeedRun, SignificancePolicy, SotaReference
from sweeper.seeds import Comparison, Outlook, outlook
from sweeper.ttest import TTest, one_sample_less, welch_less

DEFAULT_MAX_SEEDS = 8  # the seed budget an outlook plans for when no space says (SearchSpace.max_seeds)

__all__ = ["Framing", "SignificanceResult", "TTest", "assess", "frame", "one_sample_less", "untested", "welch_less"]


class SignificanceResult(BaseModel):
    """The outcome of the significance test, with its units spelled out (part of the check JSON)."""

    policy: Literal["readme", "frontier"]
    n: int
    mean_val_loss: float | None = Field(description="candidate mean, nats per token")
    sota_val_loss: float | None = Field(default=None, description="SOTA mean, nats per token (its own)")
    delta_nats: float | None = Field(default=None, description="candidate - SOTA, in the candidate's nats")
    t: float | None = None
    p: float | None = None
    passes: bool | None = Field(default=None, description="None when no SOTA was given")
    comparable_units: Literal["nats", "bpb"] | None = Field(
        default=None, description="the units the test ran in"
    )
    mean_val_bpb: float | None = None
    sota_val_bpb: float | None = None
    delta_bpb: float | None = None
    margin_nats: float = 0.0
    margin_bpb: float | None = None
    alpha: float
    df: float | None = None
    test: str | None = Field(default=None, description="one-sample t-test or Welch two-sample t-test")
    sota_source: str | None = None
    statement: str
    bar_val_loss: float | None = Field(default=None, description="the mean val_loss these seeds must reach for "
                                                                 "p = alpha (their count and spread)")
    bar_val_bpb: float | None = Field(default=None, description="the same bar in bpb (the seeds' own ratio)")
    p_reach: float | None = Field(default=None, description="chance that max_seeds seeds reach p < alpha, "
                                                            "if the observed mean and spread are the truth")
    seeds_needed: int | None = Field(default=None, description="fewest seeds with 80% power; None: not reachable")
    more_seeds: int | None = Field(default=None, description="seeds_needed minus the seeds run")
    max_seeds: int | None = None


def untested(seeds: Sequence[SeedRun], policy: SignificancePolicy) -> SignificanceResult:
    """The result when no SOTA was given: figures only, no test."""
    return SignificanceResult(
        policy=policy.kind,
        n=len(seeds),
        mean_val_loss=fmean(s.val_loss for s in seeds) if seeds else None,
        mean_val_bpb=fmean(s.val_bpb for s in seeds) if seeds else None,
        margin_nats=policy.margin_nats,
        alpha=policy.alpha,
        statement="no SOTA given: significance not tested (pass --sota VALUE|DIR)",
    )


class Framing(NamedTuple):
    """How a seed set is compared with the SOTA: units (and why), the seeds' scores in them, the test."""

    units: Literal["nats", "bpb"]
    why: str
    sample: list[float]
    ratio: float  # the seeds' mean val_loss / val_bpb
    comparison: Comparison


def frame(seeds: Sequence[SeedRun], sota: SotaReference, policy: SignificancePolicy) -> Framing:
    """Choose nats or bpb by the fingerprints; the margin goes to bpb with the seeds' own ratio."""
    ratio = fmean(s.fingerprint.ratio for s in seeds)
    units, why = _units(seeds, sota)
    if units == "nats":
        sample, reference, margin = [s.val_loss for s in seeds], sota.val_losses, policy.margin_nats
    else:
        sample, reference, margin = [s.val_bpb for s in seeds], sota.val_bpbs, policy.margin_nats / ratio
    welch = policy.kind == "frontier" and len(reference) >= 2
    comparison = Comparison(reference=tuple(reference) if welch else (fmean(reference),), margin=margin,
                            alpha=policy.alpha)
    return Framing(units, why, sample, ratio, comparison)


def assess(seeds: Sequence[SeedRun], sota: SotaReference, policy: SignificancePolicy,
           max_seeds: int = DEFAULT_MAX_SEEDS) -> SignificanceResult:
    """Test the seeds' scores against `sota` under `policy`, choosing nats or bpb by the fingerprints,
    with the seed outlook (bar to beat, seeds needed) of `sweeper.seeds` in both units."""
    n = len(seeds)
    units, why, sample, ratio, comparison = frame(seeds, sota, policy)
    reference = sota.val_losses if units == "nats" else sota.val_bpbs
    margin = comparison.margin
    mean, ref_mean = fmean(sample), fmean(reference)
    delta = mean - ref_mean
    result = SignificanceResult(
        policy=policy.kind,
        n=n,
        mean_val_loss=fmean(s.val_loss for s in seeds),
        sota_val_loss=fmean(sota.val_losses) if sota.val_losses else None,
        delta_nats=delta if units == "nats" else delta * ratio,
        comparable_units=units,
        mean_val_bpb=fmean(s.val_bpb for s in seeds),
        sota_val_bpb=fmean(sota.val_bpbs) if sota.val_bpbs else None,
        delta_bpb=delta / ratio if units == "nats" else delta,
        margin_nats=policy.margin_nats,
        margin_bpb=policy.margin_nats / ratio,
        alpha=policy.alpha,
        sota_source=sota.source,
        statement="",
    ).model_copy(update=_outlook(outlook(sample, comparison, max_seeds, policy.min_seeds), units, ratio))
    if n < 2:
        result.passes = False
        result.statement = f"{n} seed(s): a t-test needs at least 2 distinct seeds. {why}"
        return result
    welch = comparison.welch
    if welch:
        test = welch_less(sample, [v - margin for v in reference])
        name = "one-sided Welch two-sample t-test"
    else:
        test = one_sample_less(sample, comparison.threshold)
        name = "one-sided one-sample t-test"
    passes = not math.isnan(test.p) and test.p < policy.alpha
    result.t, result.p, result.df, result.test, result.passes = test.t, test.p, test.df, name, passes
    if passes and n >= policy.min_seeds:
        result.more_seeds = 0  # it passes already; seeds_needed stays the planning figure (80% power)
    result.statement = _statement(result, units, ref_mean, margin, len(reference), welch) + " " + why
    return result


def _outlook(view: Outlook, units: str, ratio: float) -> dict[str, float | int | None]:
    """The outlook's fields of SignificanceResult, the bar in nats and bpb."""
    bar_loss = bar_bpb = None
    if view.bar is not None:
        bar_loss, bar_bpb = (view.bar, view.bar / ratio) if units == "nats" else (view.bar * ratio, view.bar)
    more = None if view.seeds_needed is None else max(view.seeds_needed - view.n, 0)
    return {"bar_val_loss": bar_loss, "bar_val_bpb": bar_bpb, "p_reach": view.p_reach,
            "seeds_needed": view.seeds_needed, "more_seeds": more, "max_seeds": view.max_seeds}


def _units(seeds: Sequence[SeedRun], sota: SotaReference) -> tuple[Literal["nats", "bpb"], str]:
    """Which units the comparison may use, and a sentence saying why."""
    mine = seeds[0].fingerprint
    if sota.units == "bpb":
        return "bpb", "SOTA was given in bpb, so the test ran in bpb (margin converted with the seeds' own ratio)."
    if sota.units == "nats":
        return "nats", f"SOTA was given as a number in nats: assumed scored on {mine.name} like the seeds."
    theirs = sota.fingerprint
    if theirs is not None and mine.same_stream(theirs):
        return "nats", f"Both sides were scored on {mine.name}, so nats compare directly."
    other = theirs.name if theirs is not None else "an unknown stream"
    return "bpb", (
        f"Nats are not comparable ({mine.name} vs SOTA {other}): compared through bpb, each run with "
        f"its own val_loss/val_bpb ratio."
    )


def _statement(
    r: SignificanceResult, units: str, ref_mean: float, margin: float, n_ref: int, welch: bool
) -> str:
    """One sentence a reviewer can check by hand."""
    mean = r.mean_val_loss if units == "nats" else r.mean_val_bpb
    shift = f" - {margin:.5f} {units}" if margin else ""
    if margin and units == "bpb":
        shift += f" (= {r.margin_nats:g} nats at the seeds' ratio {r.margin_nats / margin:.4f})"
    if welch:
        against = f"the SOTA's {n_ref} seeds (mean {ref_mean:.5f} {units}{shift})"
    else:
        against = f"SOTA {ref_mean:.5f} {units}{shift}"
        if r.policy == "frontier":
            against += " (a single SOTA value, so a one-sample test)"
    verdict = "passes" if r.passes else "does not pass"
    return (
        f"{r.policy} policy: {r.test} of {r.n} seeds' val_{'loss' if units == 'nats' else 'bpb'} "
        f"(mean {mean:.5f} {units}) against {against}: t = {r.t:.3f}, df = {r.df:.2f}, "
        f"p = {r.p:.3g} {'<' if r.passes else '>='} alpha {r.alpha:g}: {verdict}; "
        f"delta = {r.delta_nats:+.5f} nats ({r.delta_bpb:+.5f} bpb)."
    )
