"""EM against SQUAREM-accelerated EM (``acceleration="squarem"``).

    python benchmarks/squarem.py [--seeds 3] [--memory | --auto]

For each data set and seed (``random_state``; ``n_init=1``, so both start from
the same responsibilities), four fits: plain and accelerated EM at the default
``tol`` (1e-5) and at ``tol=1e-10, max_iter=5000``. Printed per data set, as
medians over the seeds:

- the gap of each default fit to the higher of the two tight fits, in total
  nats of the penalized objective (``objective_history_[-1]`` times the rows);
- the EM steps (plain: ``n_iter_``; accelerated: at most three per cycle,
  ``3 n_iter_``) and the seconds of the default fits, and their ratio, timed
  in this process one after the other;
- the same for the tight fits, and the difference of their objectives (0
  where both reach one maximum; else the two ended at different ones).

Takes about three minutes on 2 cores. ``--memory`` prints instead the peak
memory (tracemalloc) and seconds of 15 iterations of each on 2e5 rows of two
regimes with eight experts, whose (K, n) arrays take 12.8 MB each. ``--auto``
prints the seconds, chosen number of experts, iterations and log-likelihood of
``n_experts="auto"`` fits of claim counts with exposures (4000 policies: age,
engine power and three regions; young drivers' counts rise with power, a
negative binomial of shape 1.5), negative binomial and Poisson, plain and
accelerated (about two minutes).
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, load_wine, make_friedman1
from sklearn.preprocessing import StandardScaler

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._demo import make_regimes


def _counts(seed, n=1000):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3))
    mean = np.exp(1 + np.where(X[:, 0] > 0, X[:, 1], -0.5 * X[:, 2]))
    return X, mean, rng


def poisson(seed):
    X, mean, rng = _counts(seed)
    return X, rng.poisson(mean)


def negative_binomial(seed):
    X, mean, rng = _counts(seed)
    return X, rng.negative_binomial(2, 2 / (2 + mean))


def gamma(seed):
    X, mean, rng = _counts(seed)
    return X, rng.gamma(2, mean / 2)


def split(seed, n=300):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0] + 1, -X[:, 0]) + 0.3 * rng.randn(n)
    return X, y


def diabetes(seed):
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


def regimes(seed):
    return make_regimes(2000, random_state=seed)


def friedman(seed):
    return make_friedman1(300, random_state=seed)


def wine(seed):
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


STUDENT_T = {"n_experts": 2, "noise": "student_t"}
CASES = [
    ("regimes 2000, K=3", MoERegressor, {"n_experts": 3}, regimes),
    ("split 300, K=2", MoERegressor, {"n_experts": 2}, split),
    ("split 300, K=2, Student t", MoERegressor, STUDENT_T, split),
    ("diabetes, K=3", MoERegressor, {"n_experts": 3}, diabetes),
    ("Friedman 1 300, K=3", MoERegressor, {"n_experts": 3}, friedman),
    (
        "Friedman 1 300, K=3, gaussian gate",
        MoERegressor,
        {"n_experts": 3, "gate": "gaussian"},
        friedman,
    ),
    ("wine, K=2 (classifier)", MoEClassifier, {"n_experts": 2}, wine),
    ("Poisson 1000, K=2", MoEPoissonRegressor, {"n_experts": 2}, poisson),
    (
        "negative binomial 1000, K=2",
        MoENegativeBinomialRegressor,
        {"n_experts": 2},
        negative_binomial,
    ),
    ("Gamma 1000, K=2", MoEGammaRegressor, {"n_experts": 2}, gamma),
]


def _fit(Estimator, options, X, y, **extra):
    model = Estimator(n_init=1, **options, **extra)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    return model.objective_history_[-1] * len(y), model.n_iter_, seconds


def memory():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200_000, 4))
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 2]) + 0.3 * rng.normal(size=len(X))
    for acceleration in (None, "squarem") * 2:
        model = MoERegressor(
            8, acceleration=acceleration, n_init=1, max_iter=15, random_state=0
        )
        tracemalloc.start()
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"acceleration={acceleration}: peak {peak / 1e6:.0f} MB, {seconds:.1f} s")


def claims(n=4000, seed=0):
    """Claim counts of ``n`` policies, their exposures (years) and features
    (standardized age and power, dummies of two of three regions)."""
    rng = np.random.RandomState(seed)
    age, power = rng.uniform(18, 80, n), rng.randint(4, 15, n).astype(float)
    region = rng.choice(3, n, p=[0.4, 0.35, 0.25])
    exposure = np.clip(rng.beta(2, 1, n), 0.05, 1.0)
    young = age < 30
    log_rate = np.where(young, -1.0 + 0.12 * (power - 8), -2.3 + 0.02 * (power - 8))
    mean = exposure * np.exp(log_rate + 0.4 * (region == 2))
    counts = rng.poisson(rng.gamma(1.5, mean / 1.5))
    X = np.column_stack([age, power, region == 1, region == 2]).astype(float)
    X[:, :2] = StandardScaler().fit_transform(X[:, :2])
    return X, counts, exposure


def auto():
    X, counts, exposure = claims()
    for Estimator in (MoENegativeBinomialRegressor, MoEPoissonRegressor):
        for acceleration in (None, "squarem"):
            model = Estimator(random_state=0, acceleration=acceleration)
            start = time.perf_counter()
            model.fit(X, counts, exposure=exposure)
            print(
                f"{Estimator.__name__}(acceleration={acceleration}): "
                f"{time.perf_counter() - start:.1f} s, n_experts_ "
                f"{model.n_experts_}, n_iter_ {model.n_iter_}, converged_ "
                f"{model.converged_}, log-likelihood {model.log_likelihood_:.3f}, "
                f"BIC of 1 to 4 experts {np.round(model.n_experts_bic_, 1)}"
            )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--auto", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.memory or args.auto:
        (memory if args.memory else auto)()
        return
    seeds = range(args.seeds)
    print(
        "| data | default: gap EM / SQUAREM (nats) | steps EM / SQUAREM | "
        "seconds ratio | tight: steps EM / SQUAREM | seconds ratio | "
        "SQUAREM - EM (nats) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, Estimator, options, make in CASES:
        rows = []
        for seed in seeds:
            X, y = make(seed)
            fits = {}
            for tight in (False, True):
                extra = {"tol": 1e-10, "max_iter": 5000} if tight else {}
                for fast in (False, True):
                    fits[tight, fast] = _fit(
                        Estimator,
                        {**options, "random_state": seed},
                        X,
                        y,
                        acceleration="squarem" if fast else None,
                        **extra,
                    )
            top = max(fits[True, False][0], fits[True, True][0])
            rows.append(
                [
                    top - fits[False, False][0],
                    top - fits[False, True][0],
                    fits[False, False][1],
                    3 * fits[False, True][1],
                    fits[False, False][2] / fits[False, True][2],
                    fits[True, False][1],
                    3 * fits[True, True][1],
                    fits[True, False][2] / fits[True, True][2],
                    fits[True, True][0] - fits[True, False][0],
                ]
            )
        m = np.median(np.asarray(rows), axis=0)
        print(
            f"| {name} | {m[0]:.3g} / {m[1]:.2g} | {m[2]:.0f} / {m[3]:.0f} | "
            f"{m[4]:.1f} | {m[5]:.0f} / {m[6]:.0f} | {m[7]:.1f} | {m[8]:+.3g} |"
        )
        spread = np.asarray(rows)[:, 8]
        if np.any(np.abs(spread) > 1e-3):
            print(f"|  (per seed, SQUAREM - EM at tol=1e-10: {np.round(spread, 4)}) |")


if __name__ == "__main__":
    main()
