"""Poisson experts in float32 at large counts: log-likelihood error and fit quality,
and the cost of the experts' log-likelihood (one process, ratios to compare).

    python benchmarks/poisson_precision.py

Run it with ``PYTHONPATH`` at an older checkout to compare the two forms of the
log-likelihood (``y log(rate) - rate - log(y!)`` before f2d952a, and
``y (d - expm1(d)) + y log(y) - y - log(y!)`` with ``d = log(rate / y)`` after).
"""

import time
import warnings

import numpy as np
from scipy.stats import poisson

from skmoe import MoEPoissonRegressor
from skmoe._math import design_matrix
from skmoe.experts import PoissonExperts


def log_likelihood_error():
    """Largest error of the experts' log-likelihood against scipy.stats, counts 4e5."""
    rng = np.random.RandomState(0)
    y = rng.poisson(4e5, 1000).astype(float)
    X64 = (np.log(4e5) + rng.normal(0, 1e-3, 1000))[:, None]
    out = {}
    for dtype in (np.float64, np.float32):
        X = X64.astype(dtype)
        Y = MoEPoissonRegressor()._encode_target(y, X, fitting=True)
        params = {"coef": np.array([[0.0], [1.0]], dtype=dtype)}
        ll = PoissonExperts().log_likelihood(np, design_matrix(np, X), Y, params)[0]
        expected = poisson.logpmf(y, np.exp(X[:, 0].astype(np.float64)))
        out[dtype.__name__] = float(np.max(np.abs(ll - expected)))
    return out


def fit_quality():
    """D^2 of each solver on counts of mean 4e5, float32 and float64 X."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (2000, 2))
    log_rate = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2) + 11
    y = rng.poisson(np.exp(log_rate)).astype(float)
    rows = []
    for solver in ("em", "gradient", "sgd"):
        for dtype in (np.float32, np.float64):
            model = MoEPoissonRegressor(2, solver=solver, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X.astype(dtype), y)
            rows.append((solver, dtype.__name__, model.score(X, y), model.n_iter_))
    return rows


def cost(repeats=7):
    """Best-of time of the experts' log-likelihood (2e5 x 8, K=8, float64), and of
    a 20-iteration fit on 5e4 rows."""
    rng = np.random.RandomState(0)
    n, n_features, n_experts = 200_000, 8, 8
    X = 0.3 * rng.randn(n, n_features)
    y = rng.poisson(3.0, n).astype(float)
    Y = MoEPoissonRegressor()._encode_target(y, X, fitting=True)
    design = design_matrix(np, X)
    params = {"coef": 0.1 * rng.randn(n_features + 1, n_experts)}
    experts = PoissonExperts()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        experts.log_likelihood(np, design, Y, params)
        times.append(time.perf_counter() - start)
    model = MoEPoissonRegressor(n_experts, n_init=1, max_iter=20, tol=0, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:50_000], y[:50_000])
    return min(times), time.perf_counter() - start


if __name__ == "__main__":
    for dtype, error in log_likelihood_error().items():
        print(f"log-likelihood at counts of 4e5, {dtype}: largest error {error:.3g}")
    for solver, dtype, score, n_iter in fit_quality():
        print(f"solver={solver:8s} {dtype}: D^2 {score:.6f} in {n_iter} iterations")
    seconds, fit_seconds = cost()
    print(f"experts' log_likelihood, 2e5 x 8, K=8: {seconds:.4f} s (best of 7)")
    print(f"20-iteration fit, 5e4 x 8, K=8: {fit_seconds:.2f} s")
