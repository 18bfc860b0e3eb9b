"""Random starts near a saddle point: does EM stop before it leaves?

Two regimes (y = 5x and y = 15 + 10x - x^2, noise 3, x uniform on [0, 10],
features [x, x^2], half the rows each), ``MoERegressor(2, gate="constant",
alpha=0, init_params="random", n_init=1)`` over 12 seeds at each size. Random
responsibilities over many rows start both experts near the pooled fit; the
script counts the runs that stop more than 0.01 nats per sample below the
k-means start's optimum. Run it on another tree with ``PYTHONPATH=<tree>``::

    python benchmarks/bench_saddle.py
"""

import warnings

import numpy as np

from skmoe import MoERegressor


def regimes(n_per_regime, seed=1802):
    rng = np.random.RandomState(seed)
    x = rng.uniform(0, 10, 2 * n_per_regime)
    second = np.arange(2 * n_per_regime) >= n_per_regime
    y = np.where(second, 15 + 10 * x - x**2, 5 * x) + rng.normal(0, 3, x.shape)
    return np.c_[x, x**2], y


def main():
    warnings.simplefilter("ignore")
    kwargs = dict(gate="constant", alpha=0.0, n_init=1)
    for n_per_regime in (10_000, 50_000):
        X, y = regimes(n_per_regime)
        best = MoERegressor(2, init_params="kmeans", tol=1e-8, **kwargs).fit(X, y)
        runs = []
        for seed in range(12):
            model = MoERegressor(2, init_params="random", random_state=seed, **kwargs)
            model.fit(X, y)
            gap = (best.log_likelihood_ - model.log_likelihood_) / len(y)
            runs.append((model.n_iter_, gap))
        stalled = [(n_iter, round(gap, 3)) for n_iter, gap in runs if gap > 0.01]
        print(
            f"n={len(y)}: {len(stalled)} of 12 random starts stopped short "
            f"(n_iter, nats per sample below the optimum): {stalled}; "
            f"iterations of the others: {[n for n, g in runs if g <= 0.01]}"
        )


if __name__ == "__main__":
    main()
