"""What EM's default stopping rule leaves on the table.

    python benchmarks/stopping_rule.py

Each model is fitted with its defaults (``tol=1e-5``, the absolute change of the
per-sample penalized objective, ``max_iter=500``), then continued from that fit
by a warm start at ``tol=1e-10`` and ``max_iter=5000``: the per-sample
log-likelihood gained by going on, the extra iterations, and the seconds of
both. Data: the demo's regimes (2000 and 20000 rows, K=3), two regimes split at
x0 = 0 (300 rows, K=2; Gaussian and Student-t noise, and 3000 rows for
Student-t), Poisson counts and Gamma amounts of two regimes (2000 rows), the
diabetes data (K=3) and the digits (``MoEClassifier``, K=4), standardized; five
seeds (two at 20000 rows). Takes about six minutes, most of it the digits'
going on.
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, load_digits
from sklearn.preprocessing import StandardScaler

from skmoe import MoEClassifier, MoEGammaRegressor, MoEPoissonRegressor, MoERegressor
from skmoe._demo import make_regimes


def regimes(n, seed):
    return make_regimes(n, random_state=seed)


def split(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0] + 1, -X[:, 0]) + 0.3 * rng.randn(n)
    return X, y


def _log_mean(X):
    return np.where(X[:, 0] > 0, 0.5 * X[:, 0] + 1, -0.5 * X[:, 0])


def counts(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, rng.poisson(np.exp(_log_mean(X)))


def amounts(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, rng.gamma(2.0, np.exp(_log_mean(X)) / 2.0)


def standardized(load):
    def make(n, seed):
        X, y = load(return_X_y=True)
        return StandardScaler().fit_transform(X), y

    return make


STUDENT_T = {"noise": "student_t"}
CASES = [
    ("regimes, 2000 rows, K=3", MoERegressor, {}, regimes, 2000),
    ("regimes, 20000 rows, K=3", MoERegressor, {}, regimes, 20000),
    ("split, 300 rows, K=2", MoERegressor, {}, split, 300),
    ("split, 300 rows, K=2, Student-t", MoERegressor, STUDENT_T, split, 300),
    ("split, 3000 rows, K=2, Student-t", MoERegressor, STUDENT_T, split, 3000),
    ("counts, 2000 rows, K=2", MoEPoissonRegressor, {}, counts, 2000),
    ("amounts, 2000 rows, K=2", MoEGammaRegressor, {}, amounts, 2000),
    ("diabetes, K=3", MoERegressor, {}, standardized(load_diabetes), None),
    ("digits, K=4", MoEClassifier, {}, standardized(load_digits), None),
]


def main():
    warnings.simplefilter("ignore")  # the fits' own warnings are not measured
    print(
        "| data | seeds | default: mean n_iter | per-sample log-likelihood gained "
        "by going on (mean / max) | extra iterations (mean / max) | seconds "
        "default / going on |"
    )
    print("|---|---|---|---|---|---|")
    for name, Estimator, params, make, n in CASES:
        n_experts = 4 if Estimator is MoEClassifier else (2 if "K=2" in name else 3)
        gains, extra, iterations, first, going_on = [], [], [], 0.0, 0.0
        for seed in range(2 if n is not None and n > 3000 else 5):
            X, y = make(n, seed)
            model = Estimator(n_experts, random_state=seed, **params)
            start = time.perf_counter()
            model.fit(X, y)
            first += time.perf_counter() - start
            before, iterations_before = model.log_likelihood_, model.n_iter_
            model.set_params(warm_start=True, tol=1e-10, max_iter=5000)
            start = time.perf_counter()
            model.fit(X, y)
            going_on += time.perf_counter() - start
            gains.append((model.log_likelihood_ - before) / len(y))
            extra.append(model.n_iter_)
            iterations.append(iterations_before)
        print(
            f"| {name} | {len(gains)} | {np.mean(iterations):.0f} "
            f"| {np.mean(gains):.2e} / {np.max(gains):.2e} "
            f"| {np.mean(extra):.0f} / {np.max(extra)} "
            f"| {first:.1f} / {going_on:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
