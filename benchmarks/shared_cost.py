"""What ``shared_features`` costs per EM iteration, as a ratio to the same fit
without it, in one process.

    python benchmarks/shared_cost.py

Gaussian data with a regime in x0, n x D features, K experts (softmax gate).
Each configuration fits 30 EM iterations (``tol=0``, one start) three times;
the table gives the best time over ``n_iter_`` (the start's k-means and first
M-step included) and its ratio to the model without shared features. With
shared features EM solves the K experts' normal equations jointly (one batched
solve of the K free blocks, then one of the shared block's Schur complement):
the grams it builds are the same.

OBSERVED
"""

import time
import warnings

import numpy as np

from skmoe import MoERegressor


def main():
    rng = np.random.RandomState(0)
    sizes = [(20_000, 5, 4), (100_000, 5, 4), (100_000, 20, 16)]
    print("n, D, K: ms per iteration (ratio to none) for none / 2 / all shared")
    for n, n_features, n_experts in sizes:
        X = rng.randn(n, n_features)
        y = X @ rng.randn(n_features) + np.where(X[:, 0] > 0, 1, -1)
        y = y + 0.3 * rng.randn(n)
        settings = {
            "none": None,
            "2": [1, 2],
            "all": list(range(1, n_features)),
        }
        times = {name: [] for name in settings}
        for _ in range(3):
            for name, shared in settings.items():
                model = MoERegressor(
                    n_experts,
                    shared_features=shared,
                    n_init=1,
                    max_iter=30,
                    tol=0,
                    random_state=0,
                )
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # max_iter reached, as asked
                    model.fit(X, y)
                times[name].append((time.perf_counter() - start) / model.n_iter_)
        base = min(times["none"])
        cells = [f"{min(t) * 1e3:8.2f} ({min(t) / base:.2f})" for t in times.values()]
        print(f"{n:7d} {n_features:3d} {n_experts:3d}: " + " ".join(cells))


if __name__ == "__main__":
    main()
