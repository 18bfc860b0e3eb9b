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

Then ``MoEClassifier`` on C classes whose logits have a regime in x0, in the
same way: with 3 classes and 5 features the experts' M-step takes Newton steps
(the joint one solves the same Hessians with the Schur complement), with 10
classes and 64 features (585 coefficients per expert) truncated Newton steps
by conjugate gradients (the joint one projects each Hessian-vector product).

Observed (2026-11-30, two shared cores, while another process ran):

    n, D, K: ms per iteration (ratio to none) for none / 2 / all shared
      20000   5   4:     9.01 (1.00)     8.88 (0.99)     8.96 (0.99)
     100000   5   4:    35.35 (1.00)    34.81 (0.98)    35.09 (0.99)
     100000  20  16:   252.08 (1.00)   251.28 (1.00)   254.48 (1.01)
    classifier n, D, C, K: ms per iteration (ratio) for none / 2 / all shared
      20000   5   3   4:    16.78 (1.00)    14.06 (0.84)    14.85 (0.89)
      20000  64  10   4:   192.42 (1.00)   204.64 (1.06)   177.48 (0.92)

The classifier's ratios below 1 are not explained here (its iterations can differ
in their line searches' trials; those were not counted).
"""

import time
import warnings

import numpy as np

from skmoe import MoEClassifier, MoERegressor


def _time(Estimator, X, y, settings, n_experts):
    times = {name: [] for name in settings}
    for _ in range(3):
        for name, shared in settings.items():
            model = Estimator(
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
    return [f"{min(t) * 1e3:8.2f} ({min(t) / base:.2f})" for t in times.values()]


def classifiers(rng):
    sizes = [(20_000, 5, 3, 4), (20_000, 64, 10, 4)]
    print("classifier n, D, C, K: ms per iteration (ratio) for none / 2 / all shared")
    for n, n_features, n_classes, n_experts in sizes:
        X = rng.randn(n, n_features)
        logits = X @ rng.randn(n_features, n_classes)
        logits = logits + np.where(X[:, :1] > 0, 1, -1) * rng.randn(1, n_classes)
        y = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
        settings = {"none": None, "2": [1, 2], "all": list(range(1, n_features))}
        cells = _time(MoEClassifier, X, y, settings, n_experts)
        sizes = f"{n:7d} {n_features:3d} {n_classes:3d} {n_experts:3d}"
        print(f"{sizes}: " + " ".join(cells))


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
        cells = _time(MoERegressor, X, y, settings, n_experts)
        print(f"{n:7d} {n_features:3d} {n_experts:3d}: " + " ".join(cells))
    classifiers(rng)


if __name__ == "__main__":
    main()
