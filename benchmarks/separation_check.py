"""What the check for separated zero counts costs in an unpenalized count fit.

    python benchmarks/separation_check.py

``MoEPoissonRegressor(alpha=0)`` fits (one expert, and two), timed whole, and the
time spent in :func:`skmoe._separation.separating_direction` within them (the check
runs only at ``alpha=0``), both in this process, with the ratio of the two:

- counts of a log-linear model of normal features (not separated; the positive
  counts determine every direction, the quick exit);
- 30 positive counts among 30000 rows of 100 features (a null space of 71
  directions, not separated: the early exit on 2000 rows; with two experts,
  each holding a few of the positive counts behind a sharp gate, separated
  within their rows: both linear programs over all of them);
- 40 rare categories of zero counts only among 400 (separated: both linear
  programs).

Takes about half a minute on 2 cores.
"""

import time
import warnings

import numpy as np

import skmoe._poisson as poisson
from skmoe import MoEPoissonRegressor

spent = []
_check = poisson.separating_direction


def _timed(*args):
    start = time.perf_counter()
    found = _check(*args)
    spent.append(time.perf_counter() - start)
    return found


def normal_counts(n, p, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(dtype)
    return X, rng.poisson(np.exp(-2 + 0.1 * X[:, 0]))


def few_positives(n=30000, p=100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, 30, replace=False)] = rng.integers(1, 4, 30)
    return X, y


def rare_zero_categories(n=200000, seed=1):
    rng = np.random.default_rng(seed)
    category = rng.integers(0, 400, n)
    onehot = np.zeros((n, 40))
    rare = category < 40
    onehot[rare, category[rare]] = 1
    y = rng.poisson(0.3, n)
    y[rare] = 0
    return np.c_[onehot, rng.normal(size=n)], y


def main():
    poisson.separating_direction = _timed
    cases = [
        ("normal features, 1e5 x 50, float64", *normal_counts(100000, 50, np.float64)),
        (
            "normal features, 2e5 x 100, float32",
            *normal_counts(200000, 100, np.float32),
        ),
        ("30 positive counts, 3e4 x 100", *few_positives()),
        ("40 rare zero categories, 2e5 x 41", *rare_zero_categories()),
    ]
    print(f"{'data':40s} {'experts':>7s} {'fit s':>7s} {'check s':>8s} {'share':>6s}")
    for name, X, y in cases:
        for n_experts in (1, 2):
            spent.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                model = MoEPoissonRegressor(
                    n_experts, alpha=0, n_init=1, random_state=0
                )
                model.fit(X, y)
                total = time.perf_counter() - start
            check = sum(spent)
            print(
                f"{name:40s} {n_experts:7d} {total:7.2f} {check:8.3f} "
                f"{check / total:6.2f}"
            )


if __name__ == "__main__":
    main()
