"""Fit time of float32 against float64 on the CPU, in one process.

Sharply separated regimes leave responsibilities and gate values far below 1,
and numbers below the smallest normal one (1.2e-38 in float32, 2.2e-308 in
float64) take the CPU's slow path in every product that uses them. skmoe's
``exp`` flushes such results to 0; what remains is measured here: process time
of each fit, float64 and float32 alternated, the median of ``--repeats``; the
ratio float32 / float64 (below 1: float32 is faster).

    python benchmarks/float32_speed.py [--repeats 5]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits

from skmoe import MoEClassifier, MoERegressor


def regimes(n_rows, n_features, n_regimes, seed=0):
    """Regimes chosen by the largest of random directions of 4 features."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_rows, n_features))
    regime = np.argmax(X[:, :4] @ rng.standard_normal((4, n_regimes)), axis=1)
    slopes = rng.standard_normal((n_regimes, n_features))
    y = np.sum(X * slopes[regime], axis=1) + 0.1 * rng.standard_normal(n_rows)
    return X, y


def cases():
    X, y = regimes(5000, 10, 8)
    yield "MoERegressor(8), 5000 x 10", MoERegressor(8, random_state=0), X, y
    yield (
        "MoERegressor(8, solver='gradient')",
        MoERegressor(8, solver="gradient", random_state=0),
        X,
        y,
    )
    X, y = regimes(20000, 8, 16)
    model = MoERegressor(16, n_init=1, max_iter=30, random_state=0)
    yield "MoERegressor(16), 20000 x 8, 30 its", model, X, y
    X, y = load_digits(return_X_y=True)
    yield "MoEClassifier(8), digits / 16", MoEClassifier(8, random_state=0), X / 16, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'fit':40s} {'float64 s':>10s} {'float32 s':>10s} {'ratio':>6s}")
    for name, model, X, y in cases():
        times = {np.float64: [], np.float32: []}
        for repeat in range(args.repeats):
            order = (np.float64, np.float32)
            for dtype in order if repeat % 2 == 0 else order[::-1]:
                target = y if isinstance(model, MoEClassifier) else y.astype(dtype)
                start = time.process_time()
                model.fit(X.astype(dtype), target)
                times[dtype].append(time.process_time() - start)
        wide, narrow = (np.median(times[d]) for d in (np.float64, np.float32))
        print(f"{name:40s} {wide:10.3f} {narrow:10.3f} {narrow / wide:6.2f}")


if __name__ == "__main__":
    main()
