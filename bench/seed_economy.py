"""The sequential replicate rule (sweeper/seeds.py) by simulation: false-record rate and seeds to decision.

1. False-record rate under the null at the bar (true mean = SOTA - margin, normal seed noise), README
   policy (alpha 0.01): the Bonferroni-over-looks rule against the naive rule (a test at alpha after
   every seed), the baseline run in the same process. The t-test is scale-free, so one spread does.
2. Seeds to decision on the seed spreads published in the official record folders
   (tests/fixtures/pg-records, folders with >= 3 seeds, std of val_loss in nats), for a config
   at the bar and for true improvements beyond it; against the fixed design that always runs
   max_seeds seeds (the ratio is sequential / fixed).

    .venv/bin/python bench/seed_economy.py [--configs 4000] [--max-seeds 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweeper.errors import PgolfError
from sweeper.records.folder import read_record_folder
from sweeper.seeds import Comparison, SequentialRule
from tests.paths import FIXTURES

README = Comparison(reference=(2.0,), margin=0.005, alpha=0.01)
EFFECTS_NATS = (0.0, 0.0005, 0.001, 0.002)  # true mean below SOTA - margin by this much


class NaiveRule(SequentialRule):
    """A test at the full alpha after every seed (what Bonferroni over looks corrects)."""

    @property
    def look_alpha(self) -> float:
        return self.comparison.alpha


def published_spreads() -> dict[str, float]:
    """Folder name -> std of its seeds' val_loss (nats), for the record folders with >= 3 seeds."""
    spreads = {}
    for folder in sorted((FIXTURES / "track_10min_16mb").iterdir()):
        try:
            seeds = read_record_folder(folder, need_submission=False).candidate().seeds
        except (PgolfError, ValueError):
            continue
        if len(seeds) >= 3:
            spreads[folder.name] = statistics.stdev(s.val_loss for s in seeds)
    return spreads


def simulate(rule: SequentialRule, true_mean: float, spread: float, configs: int, seed: int) -> tuple[float, float]:
    """(pass rate, mean seeds to decision) over `configs` simulated configs."""
    draws = np.random.default_rng(seed).normal(true_mean, spread, size=(configs, rule.max_seeds))
    passes, seeds = 0, 0
    for row in draws:
        for n in range(1, rule.max_seeds + 1):
            decision = rule.decide(list(row[:n]))
            if not decision.another_seed:
                break
        passes += decision.action == "pass"
        seeds += n
    return passes / configs, seeds / configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=4000)
    parser.add_argument("--max-seeds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rule, naive = SequentialRule(README, args.max_seeds), NaiveRule(README, args.max_seeds)
    se = math.sqrt(README.alpha * (1 - README.alpha) / args.configs)
    print(f"README policy, alpha {README.alpha}, seeds 3..{args.max_seeds} ({rule.looks} looks at "
          f"{rule.look_alpha:.5f}), {args.configs} simulated configs per cell, numpy seed {args.seed}")
    rate, seeds = simulate(rule, README.threshold, 0.001, args.configs, args.seed)
    naive_rate, naive_seeds = simulate(naive, README.threshold, 0.001, args.configs, args.seed)
    print(f"null at the bar: false-record rate sequential {rate:.4f} (binomial SE {se:.4f}), naive "
          f"{naive_rate:.4f}; ratio sequential/naive {rate / naive_rate:.2f}; mean seeds {seeds:.2f} vs "
          f"{naive_seeds:.2f}")
    print(f"{'record folder':58} {'std nats':>9} {'effect':>7} {'pass':>6} {'seeds':>6} {'fixed':>6} {'ratio':>6}")
    for name, spread in published_spreads().items():
        for effect in EFFECTS_NATS:
            passed, seeds = simulate(rule, README.threshold - effect, spread, args.configs // 4, args.seed + 1)
            print(f"{name[:58]:58} {spread:9.5f} {effect:7.4f} {passed:6.3f} {seeds:6.2f} {args.max_seeds:6d} "
                  f"{seeds / args.max_seeds:6.2f}")


if __name__ == "__main__":
    main()
