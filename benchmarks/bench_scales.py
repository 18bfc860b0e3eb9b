"""Does a fit depend on the units of the features or of the target?

Fits ``MoERegressor(3)`` with each solver on regime data (3 regimes over the
first feature, 2000 samples, 0.3 noise) whose features and target are
multiplied by the factors below, and prints the test R^2 (the same for every
unit if the fit does not depend on them), the iterations and ``converged_``.
Also fits a 2-expert regressor in float32 on one feature of scale 1e6 (the
normal equations' jitter once shrank its intercept). Run it on another tree with
``PYTHONPATH=<tree>`` to compare:

    python benchmarks/bench_scales.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from skmoe import MoERegressor

UNITS = [(1.0, 1.0), (1e3, 1.0), (1e-2, 1.0), (1.0, 30.0), (1.0, 1e3), (1.0, 1e-2)]


def regimes(seed, n=2000):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, (n, 3))
    y = np.where(
        X[:, 0] < -1,
        2 * X[:, 1],
        np.where(X[:, 0] < 1, -X[:, 1] + X[:, 2], 3 + X[:, 2]),
    )
    return X, y + 0.3 * rng.randn(n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| solver | X units | y units | test R^2 | iterations | converged |")
    print("|---|---|---|---|---|---|")
    for solver in ("em", "gradient", "sgd"):
        for x_unit, y_unit in UNITS:
            scores, iterations, converged = [], [], []
            for seed in range(args.seeds):
                X, y = regimes(seed)
                X_train, X_test, y_train, y_test = train_test_split(
                    X * x_unit, y * y_unit, random_state=seed
                )
                model = MoERegressor(3, solver=solver, random_state=seed)
                model.fit(X_train, y_train)
                scores.append(model.score(X_test, y_test))
                iterations.append(model.n_iter_)
                converged.append(model.converged_)
            print(
                f"| {solver} | {x_unit:g} | {y_unit:g} | {np.mean(scores):.4f} | "
                f"{np.mean(iterations):.1f} | {np.mean(converged):.0%} |",
                flush=True,
            )
    rng = np.random.RandomState(1)
    x = rng.uniform(-3, 3, (500, 1))
    y = np.where(x[:, 0] < 0, -2 * x[:, 0], 3 * x[:, 0]) + 0.1 * rng.randn(500)
    for scale in (1.0, 1e6):
        X = (x * scale).astype(np.float32)
        model = MoERegressor(2, random_state=0).fit(X, y.astype(np.float32))
        history = np.asarray(model.objective_history_)
        falls = int(np.sum(np.diff(history) < -1e-6 * np.abs(history[1:])))
        print(
            f"float32, one feature of scale {scale:g}: R^2 "
            f"{model.score(X, y.astype(np.float32)):.4f}, log-likelihood "
            f"{model.log_likelihood_:.1f}, EM objective fell on {falls} iterations"
        )


if __name__ == "__main__":
    main()
