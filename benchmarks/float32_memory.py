"""Peak memory of float32 models against float64 ones, in one process.

``predict_distribution`` of a Gaussian and of a Student-t ``MoERegressor``
(``--rows`` rows, 16 experts, 5 features), and a ``gate="gaussian"`` fit (1e5 rows,
20 features, 8 experts, 8 EM iterations). Peaks are tracemalloc's during each call;
the ratio float32 / float64 is what float32 saves (0.5 would halve the memory).

    python benchmarks/float32_memory.py [--rows 1000000]
"""

import argparse
import warnings

import numpy as np
from posterior_memory import peak  # (benchmarks/ is the script's directory)

from skmoe import MoERegressor


def regimes(n_rows, n_features, n_regimes, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n_rows, n_features))
    regime = np.minimum(((X[:, 0] + 3) / 6 * n_regimes).astype(int), n_regimes - 1)
    slopes = rng.normal(0, 2, size=(n_regimes, n_features))
    y = np.sum(X * slopes[regime], axis=1) + 0.3 * rng.randn(n_rows)
    return X.astype(dtype), y.astype(dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    for noise in ("gaussian", "student_t"):
        peaks = {}
        for dtype in (np.float64, np.float32):
            X, y = regimes(20_000, 5, 4, dtype)
            params = dict(n_experts=16, n_init=1, max_iter=5, random_state=0)
            if noise == "student_t":
                params.update(noise="student_t", df=4.0)
            model = MoERegressor(**params).fit(X, y)
            X_new, _ = regimes(args.rows, 5, 4, dtype, seed=1)
            peaks[dtype] = peak(lambda m=model, X=X_new: m.predict_distribution(X))
        rows.append((f"predict_distribution, {noise}, {args.rows} x 16", peaks))
    peaks = {}
    for dtype in (np.float64, np.float32):
        X, y = regimes(100_000, 20, 8, dtype)
        model = MoERegressor(
            8,
            gate="gaussian",
            n_init=1,
            init_params="random",
            tol=0,
            max_iter=8,
            random_state=0,
        )
        peaks[dtype] = peak(lambda m=model, X=X, y=y: m.fit(X, y))
    rows.append(("gate='gaussian' fit, 1e5 x 20, K=8", peaks))
    print(f"{'call':48s} {'float64 MiB':>12s} {'float32 MiB':>12s} {'ratio':>6s}")
    for name, peaks in rows:
        wide, narrow = peaks[np.float64], peaks[np.float32]
        print(f"{name:48s} {wide:12.1f} {narrow:12.1f} {narrow / wide:6.2f}")


if __name__ == "__main__":
    main()
