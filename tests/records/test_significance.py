"""Significance: scipy.stats' one-sided tests on the right units, chosen by the tokenizer fingerprints."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from sweeper.records.schema import Fingerprint, SeedRun, SignificancePolicy, SotaReference
from sweeper.records.significance import assess, one_sample_less, welch_less

scores = st.lists(st.floats(min_value=0.5, max_value=4.0, allow_nan=False), min_size=2, max_size=12)


def _spread(values: list[float]) -> bool:
    return float(np.std(values)) > 1e-6


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(sample=scores, shift=st.floats(min_value=1e-3, max_value=0.5))
def test_a_lower_sample_is_more_significant(sample: list[float], shift: float) -> None:
    assume(_spread(sample))
    popmean = float(np.mean(sample))
    lower = one_sample_less([v - shift for v in sample], popmean)
    assert lower.p < one_sample_less(sample, popmean).p and lower.t < 0 and lower.df == len(sample) - 1
    welch = welch_less([v - shift for v in sample], sample)
    assert welch.p < 0.5 and welch.df == pytest.approx(2 * len(sample) - 2)  # equal variances: pooled df


def test_identical_seeds_below_the_bar_pass_with_p_zero_and_at_it_are_untestable() -> None:
    assert one_sample_less([2.0, 2.0, 2.0], 2.1).p == 0.0
    assert math.isnan(one_sample_less([2.0, 2.0, 2.0], 2.0).p)


SP1024 = Fingerprint(tokenizer="sp1024", stream="fineweb-val", ratio=1.6885, val_tokens=62021632)
SP8192 = Fingerprint(tokenizer="sp8192", stream="fineweb-val", ratio=2.5831, val_tokens=40540160)


def _seeds(losses: list[float], fp: Fingerprint) -> list[SeedRun]:
    return [
        SeedRun(seed=i, val_loss=v, val_bpb=v / fp.ratio, log_path=f"s{i}.log", log_sha256="0" * 64, fingerprint=fp)
        for i, v in enumerate(losses)
    ]


def _sota(losses: list[float], fp: Fingerprint) -> SotaReference:
    return SotaReference(
        source="sota", units="seeds", val_losses=losses, val_bpbs=[v / fp.ratio for v in losses], fingerprint=fp
    )


def test_readme_policy_tests_against_sota_minus_margin_in_nats() -> None:
    mine = [2.0000, 2.0004, 2.0008]
    sota = _sota([2.0100, 2.0110, 2.0090], SP1024)
    result = assess(_seeds(mine, SP1024), sota, SignificancePolicy.named("readme"))
    expected = stats.ttest_1samp(mine, 2.0100 - 0.005, alternative="less")
    assert result.comparable_units == "nats"
    assert _close(result.t, float(expected.statistic)) and _close(result.p, float(expected.pvalue))
    assert result.passes is True
    assert result.delta_nats == pytest.approx(-0.0096)


def test_improvement_smaller_than_the_margin_does_not_pass_readme_policy() -> None:
    seeds = _seeds([2.0070, 2.0071, 2.0069], SP1024)  # 0.003 nats better: below the 0.005 bar
    result = assess(seeds, _sota([2.0100, 2.0101, 2.0099], SP1024), SignificancePolicy.named("readme"))
    assert result.passes is False
    assert "does not pass" in result.statement


def test_different_tokenizers_compare_through_bpb_with_each_runs_ratio() -> None:
    seeds = _seeds([2.79, 2.791, 2.792], SP8192)  # ~1.0803 bpb
    sota_losses = [1.8398, 1.8400, 1.8402]  # sp1024, ~1.0897 bpb
    result = assess(seeds, _sota(sota_losses, SP1024), SignificancePolicy.named("readme"))
    assert result.comparable_units == "bpb"
    bpbs = [v / SP8192.ratio for v in [2.79, 2.791, 2.792]]
    threshold = np.mean([v / SP1024.ratio for v in sota_losses]) - 0.005 / SP8192.ratio
    expected = stats.ttest_1samp(bpbs, threshold, alternative="less")
    assert _close(result.t, float(expected.statistic))
    assert result.margin_bpb == pytest.approx(0.005 / SP8192.ratio)
    assert "not comparable" in result.statement and "bpb" in result.statement
    # A naive nats comparison would claim a 0.95-nat improvement; the bpb one is about 0.009 bpb.
    assert result.delta_bpb == pytest.approx(-0.0094, abs=3e-4)


def test_frontier_policy_uses_welch_against_previous_seeds_without_margin() -> None:
    mine, theirs = [2.000, 2.002, 2.001], [2.003, 2.004, 2.0025]
    result = assess(_seeds(mine, SP1024), _sota(theirs, SP1024), SignificancePolicy.named("frontier"))
    expected = stats.ttest_ind(mine, theirs, equal_var=False, alternative="less")
    assert result.test is not None and "Welch" in result.test
    assert _close(result.p, float(expected.pvalue))
    assert result.alpha == 0.25 and result.margin_nats == 0.0


def test_a_single_seed_cannot_be_tested() -> None:
    result = assess(_seeds([2.0], SP1024), _sota([2.1, 2.2], SP1024), SignificancePolicy.named("readme"))
    assert result.passes is False and result.p is None
    assert "at least 2" in result.statement


def test_sota_given_in_bpb_is_compared_in_bpb() -> None:
    seeds = _seeds([2.000, 2.001, 2.002], SP1024)
    sota = SotaReference(source="1.2244bpb", units="bpb", val_bpbs=[1.2244])
    result = assess(seeds, sota, SignificancePolicy.named("readme"))
    assert result.comparable_units == "bpb"
    assert result.sota_val_bpb == 1.2244 and result.sota_val_loss is None
