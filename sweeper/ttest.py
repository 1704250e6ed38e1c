"""The one-sided t-tests a record is judged by, from scipy.stats (H1: the candidate scores lower)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats


class TTest(NamedTuple):
    t: float
    p: float
    df: float


def one_sample_less(sample: Sequence[float], popmean: float) -> TTest:
    """One-sided one-sample t-test, H1: mean(sample) < popmean."""
    with warnings.catch_warnings():  # identical seeds: scipy warns; the result is still +-inf or nan
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_1samp(np.asarray(sample, dtype=float), popmean, alternative="less")
    return TTest(t=float(result.statistic), p=float(result.pvalue), df=float(len(sample) - 1))


def welch_less(sample: Sequence[float], reference: Sequence[float]) -> TTest:
    """One-sided Welch two-sample t-test, H1: mean(sample) < mean(reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(np.asarray(sample, dtype=float), np.asarray(reference, dtype=float),
                                 equal_var=False, alternative="less")
    return TTest(t=float(result.statistic), p=float(result.pvalue), df=float(result.df))
