"""Predictive standard deviations of fits with spare experts, by solver.

    python benchmarks/bench_variance_ceiling.py

Two-regime data (400 rows, noise 0.3), K = 4, 5, 6 experts, seeds 0-5: counts the
fits whose largest predictive standard deviation on the training inputs exceeds 10
times the standard deviation of y, and the largest expert variance relative to
the variance of y. An unused expert's variance is held by no data, and the penalty
``alpha ||b_k||^2 / s2_k`` falls as it grows; the ceiling (1e6 times the variance
of y) bounds it.
"""

import warnings

import numpy as np

from skmoe import MoERegressor


def main():
    print("| solver | fits with std > 10 std(y) | largest variance / var(y) |")
    print("|---|---|---|")
    for solver in ("em", "gradient", "sgd"):
        bad, total, largest = 0, 0, 0.0
        for seed in range(6):
            rng = np.random.RandomState(seed)
            X = rng.uniform(-3, 3, (400, 1))
            y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0])
            y = y + 0.3 * rng.randn(400)
            for n_experts in (4, 5, 6):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = MoERegressor(
                        n_experts, solver=solver, random_state=seed
                    ).fit(X, y)
                std = model.predict(X, return_std=True)[1]
                bad += int(std.max() > 10 * y.std())
                total += 1
                largest = max(largest, model.expert_variance_.max() / y.var())
        print(f"| {solver} | {bad} of {total} | {largest:.3g} |")


if __name__ == "__main__":
    main()
