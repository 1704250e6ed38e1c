"""Seed economy: how many seeds a config still needs, and when the replicate stage may stop adding them.

Everything here works in the units the significance test runs in (nats, or bpb across tokenizers;
`sweeper.records.significance` chooses). A `Comparison` is what a config's seeds are tested
against: the SOTA's values, the margin, alpha, and whether the test is Welch's (SOTA seeds) or
one-sample (one SOTA value; the README rule).

* Outlook (`outlook`): if the config's true mean and seed spread are the observed ones, the
  power of the test with N seeds is the noncentral-t probability of p < alpha; `p_reach` is that
  power at the seed budget and `seeds_needed` the smallest N with 80% power. The bar to beat is
  the mean at which the observed seeds would give exactly p = alpha.
* Sequential rule (`SequentialRule`): add seeds one at a time; look from `min_seeds` to `max_seeds`
  seeds, each look at alpha / looks (Bonferroni over looks). Guarantee: when a config's true mean
  sits at (or above) the bar SOTA - margin and its seeds are normal, the probability that any look
  passes is at most the sum of the looks' alphas, i.e. at most alpha, whatever the correlation
  between looks. Stopping for futility (the power at the budget fell below `futility_power`) only
  removes chances to pass, so it keeps the guarantee. A pass at a look also passes the fixed-size
  test at alpha on the same seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from sweeper.ttest import one_sample_less, welch_less

TARGET_POWER = 0.8
MAX_PLANNED_SEEDS = 30  # seeds_needed is None beyond this: the effect is too small to chase
FUTILITY_POWER = 0.05


@dataclass(frozen=True)
class Comparison:
    """What a config's seeds are tested against, in the test's units (lower is better)."""

    reference: tuple[float, ...]  # the SOTA's seeds, or its single value
    margin: float
    alpha: float

    @property
    def welch(self) -> bool:
        return len(self.reference) >= 2

    @property
    def threshold(self) -> float:
        """The SOTA mean minus the margin: a config's true mean must be below it."""
        return statistics.fmean(self.reference) - self.margin

    @property
    def reference_sd(self) -> float | None:
        return statistics.stdev(self.reference) if self.welch else None

    def p_value(self, sample: Sequence[float]) -> float:
        if len(sample) < 2:
            return math.nan
        if self.welch:
            return welch_less(sample, [v - self.margin for v in self.reference]).p
        return one_sample_less(sample, self.threshold).p

    def _se_df(self, sd: float, n: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Standard error of the mean difference and its (Welch-Satterthwaite) degrees of freedom."""
        n = np.asarray(n, dtype=float)
        own = sd**2 / n
        if not self.welch or not self.reference_sd:
            return np.sqrt(own), n - 1
        theirs = (self.reference_sd or 0.0) ** 2 / len(self.reference)
        df = (own + theirs) ** 2 / (own**2 / (n - 1) + theirs**2 / (len(self.reference) - 1))
        return np.sqrt(own + theirs), df

    def power(self, effect: float, sd: float, n: np.ndarray | int, alpha: float | None = None) -> np.ndarray:
        """P(p < alpha) with n seeds when the true mean is `effect` below the threshold (noncentral t)."""
        se, df = self._se_df(sd, n)
        critical, shift = stats.t.ppf(self.alpha if alpha is None else alpha, df), -effect / se
        power = np.asarray(stats.nct.cdf(critical, df, shift), dtype=float)
        return np.where(np.isnan(power), (critical > shift).astype(float), power)  # nan: scipy, far in a tail

    def bar(self, sample: Sequence[float]) -> float | None:
        """The mean at which these seeds (their count and spread) would give exactly p = alpha."""
        if len(sample) < 2 or statistics.stdev(sample) == 0:
            return None
        se, df = self._se_df(statistics.stdev(sample), len(sample))
        return float(self.threshold + stats.t.ppf(self.alpha, df) * se)


class Outlook(BaseModel):
    """Where a config stands against the SOTA, in the test's units."""

    n: int
    p: float | None = Field(description="the test on the seeds so far (None with fewer than 2)")
    effect: float = Field(description="threshold - mean: how far the mean is below SOTA - margin")
    spread: float | None = Field(description="seed std used for the outlook")
    spread_from: Literal["seeds", "sota"] | None = None
    bar: float | None = Field(description="the mean these seeds must reach for p = alpha")
    p_reach: float | None = Field(description="power with max_seeds seeds at the observed effect and spread")
    seeds_needed: int | None = Field(description=f"fewest seeds with {TARGET_POWER:.0%} power; None if over "
                                                 f"{MAX_PLANNED_SEEDS} or the mean is not below the threshold")
    max_seeds: int


def _spread(sample: Sequence[float], comparison: Comparison) -> tuple[float | None, Literal["seeds", "sota"] | None]:
    if len(sample) >= 2 and statistics.stdev(sample) > 0:
        return statistics.stdev(sample), "seeds"
    if comparison.reference_sd:
        return comparison.reference_sd, "sota"  # one seed: assume the SOTA's seed noise
    return None, None


def outlook(sample: Sequence[float], comparison: Comparison, max_seeds: int, min_seeds: int = 3) -> Outlook:
    """The outlook of a config whose seeds scored `sample` (test units)."""
    effect = comparison.threshold - statistics.fmean(sample)
    sd, source = _spread(sample, comparison)
    p = comparison.p_value(sample) if len(sample) >= 2 else None
    reach = needed = None
    if sd is not None:
        reach = float(comparison.power(effect, sd, max(max_seeds, 2)))
        counts = np.arange(max(min_seeds, 2), MAX_PLANNED_SEEDS + 1)
        strong = np.nonzero(comparison.power(effect, sd, counts) >= TARGET_POWER)[0]
        needed = int(counts[strong[0]]) if effect > 0 and strong.size else None
    return Outlook(n=len(sample), p=None if p is None or math.isnan(p) else p, effect=effect, spread=sd,
                   spread_from=source, bar=comparison.bar(sample), p_reach=reach, seeds_needed=needed,
                   max_seeds=max_seeds)


class Decision(BaseModel):
    """The sequential rule's answer for one config after its latest seed."""

    action: Literal["another", "pass", "futile", "budget"]
    n: int
    p: float | None
    look_alpha: float
    reason: str

    @property
    def another_seed(self) -> bool:
        return self.action == "another"


@dataclass(frozen=True)
class SequentialRule:
    """Bonferroni over the looks at min_seeds..max_seeds seeds (see the module docstring)."""

    comparison: Comparison
    max_seeds: int
    min_seeds: int = 3
    futility_power: float = FUTILITY_POWER

    @property
    def looks(self) -> int:
        return max(self.max_seeds - self.min_seeds + 1, 1)

    @property
    def look_alpha(self) -> float:
        return self.comparison.alpha / self.looks

    def decide(self, sample: Sequence[float]) -> Decision:
        """Pass, stop (futile or out of budget), or ask for another seed."""
        n, alpha = len(sample), self.look_alpha
        if n < self.min_seeds:
            return Decision(action="another", n=n, p=None, look_alpha=alpha, reason=f"{n} < {self.min_seeds} seeds")
        p = self.comparison.p_value(sample)
        if p < alpha:
            return Decision(action="pass", n=n, p=p, look_alpha=alpha, reason=f"p = {p:.3g} < {alpha:.3g}")
        if n >= self.max_seeds:
            return Decision(action="budget", n=n, p=p, look_alpha=alpha, reason=f"{n} seeds, p = {p:.3g}")
        effect = self.comparison.threshold - statistics.fmean(sample)
        sd = statistics.stdev(sample) or self.comparison.reference_sd or 0.0
        power = float(self.comparison.power(effect, sd, self.max_seeds, alpha)) if sd else float(effect > 0)
        if power < self.futility_power:
            return Decision(action="futile", n=n, p=p, look_alpha=alpha,
                            reason=f"power {power:.2f} with {self.max_seeds} seeds at the observed effect")
        return Decision(action="another", n=n, p=p, look_alpha=alpha, reason=f"p = {p:.3g}, power {power:.2f}")
