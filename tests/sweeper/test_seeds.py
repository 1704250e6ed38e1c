"""Seed economy: the sequential rule keeps the false-record rate at alpha (by simulation), the outlook's
power, bar and seeds-needed mean what they say."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweeper.seeds import Comparison, SequentialRule, outlook
from sweeper.ttest import one_sample_less

README = Comparison(reference=(2.0,), margin=0.005, alpha=0.01)  # the README rule against a single SOTA mean
SPREAD = 0.0015  # nats: the order of the published records' seed std
NULL_CONFIGS = 3000


class NaiveRule(SequentialRule):
    """Tests after every seed at the full alpha: what the Bonferroni correction is there to prevent."""

    @property
    def look_alpha(self) -> float:
        return self.comparison.alpha


def _run(rule: SequentialRule, draws: np.ndarray) -> tuple[str, int]:
    for n in range(1, len(draws) + 1):
        decision = rule.decide(list(draws[:n]))
        if not decision.another_seed:
            return decision.action, n
    raise AssertionError("the rule asked for more seeds than its budget")


def _false_record_rate(rule: SequentialRule, seed: int) -> float:
    """Configs whose true mean sits exactly at the bar (SOTA - margin): every pass is a false record."""
    rng = np.random.default_rng(seed)
    draws = rng.normal(README.threshold, SPREAD, size=(NULL_CONFIGS, rule.max_seeds))
    return sum(_run(rule, row)[0] == "pass" for row in draws) / NULL_CONFIGS


def test_sequential_rule_keeps_the_false_record_rate_at_alpha_and_the_naive_rule_does_not() -> None:
    alpha = README.alpha
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / NULL_CONFIGS)  # nominal + 3 binomial SE
    corrected = _false_record_rate(SequentialRule(README, max_seeds=8), seed=1)
    naive = _false_record_rate(NaiveRule(README, max_seeds=8), seed=1)
    assert corrected <= bound
    assert naive > bound  # six looks at alpha each: about 2.5x the nominal rate


def test_a_clear_improvement_passes_at_the_first_look() -> None:
    rule = SequentialRule(README, max_seeds=8)
    decision = rule.decide([1.9900, 1.9903, 1.9901])
    assert decision.action == "pass" and decision.n == 3
    assert decision.look_alpha == pytest.approx(0.01 / 6)


def test_seeds_below_the_minimum_always_get_another() -> None:
    assert SequentialRule(README, max_seeds=5).decide([1.0, 1.0]).action == "another"


def test_a_config_worse_than_the_bar_stops_as_futile() -> None:
    decision = SequentialRule(README, max_seeds=8).decide([2.0010, 1.9990, 2.0005])
    assert decision.action == "futile" and "power" in decision.reason


def test_a_borderline_config_gets_another_seed_then_stops_at_the_budget() -> None:
    rule = SequentialRule(README, max_seeds=4)
    borderline = [1.9925, 1.9945, 1.9935]  # 0.0015 below the bar, spread 0.001: p ~ 0.06, power ~ 0.17
    assert rule.decide(borderline).action == "another"
    assert rule.decide([*borderline, 1.9950]).action == "budget"


def test_outlook_power_matches_a_simulation_of_the_test() -> None:
    effect, n = 0.0015, 5
    predicted = float(README.power(effect, SPREAD, n))
    rng = np.random.default_rng(7)
    trials = rng.normal(README.threshold - effect, SPREAD, size=(4000, n))
    simulated = np.mean([one_sample_less(row, README.threshold).p < README.alpha for row in trials])
    assert abs(simulated - predicted) <= 3 * math.sqrt(predicted * (1 - predicted) / 4000)


def test_bar_is_the_mean_at_which_p_equals_alpha() -> None:
    sample = [1.9940, 1.9950, 1.9930]
    bar = README.bar(sample)
    assert bar is not None and bar < README.threshold
    shifted = [v - (np.mean(sample) - bar) for v in sample]
    assert one_sample_less(shifted, README.threshold).p == pytest.approx(README.alpha)


def test_outlook_counts_seeds_needed_and_uses_the_sota_spread_for_one_seed() -> None:
    good = outlook([1.9920, 1.9935, 1.9928], README, max_seeds=8)
    assert good.seeds_needed is not None and 3 <= good.seeds_needed <= 8 and good.p_reach is not None
    noisy = outlook([1.9900, 1.9960, 1.9930], README, max_seeds=8)
    assert noisy.seeds_needed is not None and noisy.seeds_needed > good.seeds_needed
    worse = outlook([2.0, 2.001, 2.002], README, max_seeds=8)
    assert worse.seeds_needed is None and worse.effect < 0 and (worse.p_reach or 0) < 0.01
    welch = Comparison(reference=(2.000, 2.002, 2.001), margin=0.0, alpha=0.25)
    single = outlook([1.990], welch, max_seeds=5)
    assert single.spread_from == "sota" and single.spread == pytest.approx(0.001) and single.p is None
