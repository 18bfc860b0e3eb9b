"""L-BFGS (``solver="gradient"``) against EM from the same start.

    python benchmarks/solver_gap.py

Three-regime data of 400 rows and 2 features (the generator of
``tests/test_gradient.py``: slopes 2 x0, -x1 and 0.5 x0 + 3 split at x0 = -1 and
1, noise sd 0.3), five seeds. ``MoERegressor(n_experts=3)`` at the default
``alpha``, both solvers from the one k-means start (``init_params="kmeans"``,
``n_init=1``): each fit's penalized objective in total nats below EM's (the
per-sample ``objective_history_[-1]`` times the rows), its iterations and
``converged_``, at the default ``tol`` and at ``tol=1e-8``, ``max_iter=5000``.
Takes about five seconds.
"""

import warnings

import numpy as np

from skmoe import MoERegressor


def regimes(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    regime = (X[:, 0] > -1).astype(int) + (X[:, 0] > 1)
    y = np.choose(regime, [2 * X[:, 0], -X[:, 1], 0.5 * X[:, 0] + 3])
    return X, y + 0.3 * rng.randn(n)


def fit(X, y, solver, **params):
    model = MoERegressor(
        n_experts=3, solver=solver, init_params="kmeans", n_init=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.set_params(**params).fit(X, y)


def main():
    print("seed  tol    EM iter  L-BFGS iter  converged  gap (nats, total)")
    for seed in range(5):
        X, y = regimes(seed=seed)
        for params in ({}, {"tol": 1e-8, "max_iter": 5000}):
            em = fit(X, y, "em", **params)
            lbfgs = fit(X, y, "gradient", **params)
            gap = (em.objective_history_[-1] - lbfgs.objective_history_[-1]) * len(y)
            tol = params.get("tol", 1e-5)
            print(
                f"{seed:4d}  {tol:.0e}  {em.n_iter_:7d}  {lbfgs.n_iter_:11d}  "
                f"{str(lbfgs.converged_):9s}  {gap:.4g}"
            )


if __name__ == "__main__":
    main()
