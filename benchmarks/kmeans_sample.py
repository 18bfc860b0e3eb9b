"""The k-means start of many rows: all rows against a sample (``KMEANS_ROWS``).

Above ``skmoe._init.KMEANS_ROWS`` rows the start's k-means runs on a random
sample of that many rows, for at most ``KMEANS_MAX_ITER`` Lloyd iterations, and
labels every row by its nearest center. Times, in one process (best of
``--repeats``), of ``skmoe._init._kmeans_labels`` (standardization included) on
float32 ``X`` and ``y = X0 + noise``, with one OpenMP thread as NumPy fits run
it: every row (the rule off), the sample alone, the cap alone, and both (the
rule).

    OMP_NUM_THREADS=1 python benchmarks/kmeans_sample.py [--repeats 1] [--rows 1e6]
"""

import argparse
import functools
import time

import numpy as np
from sklearn.cluster import KMeans

from skmoe import _init


def seconds(X, y, n_experts, rows, max_iter, repeats):
    """Best time of ``_kmeans_labels`` with ``KMEANS_ROWS=rows`` and the
    sample's cap ``max_iter`` (None: 300, scikit-learn's default)."""
    _init.KMEANS_ROWS = rows
    _init.KMEANS_MAX_ITER = max_iter or 300
    # the cap on all rows too, for "cap alone"
    _init.KMeans = functools.partial(KMeans, max_iter=max_iter or 300)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        _init._kmeans_labels(X, y, np.ones(len(X)), n_experts, np.random.RandomState(0))
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rows", type=float, nargs="+", default=[2e5, 1e6])
    args = parser.parse_args()
    rows, cap = _init.KMEANS_ROWS, _init.KMEANS_MAX_ITER
    variants = {
        "all rows": (np.inf, None),
        "sample": (rows, None),
        "cap": (np.inf, cap),
        "sample+cap": (rows, cap),
    }
    for n in map(int, args.rows):
        for d in (8, 64):
            rng = np.random.RandomState(0)
            X = rng.randn(n, d).astype(np.float32)
            y = (X[:, 0] + 0.1 * rng.randn(n)).astype(np.float32)
            for k in (4, 16):
                times = {
                    name: seconds(X, y, k, r, c, args.repeats)
                    for name, (r, c) in variants.items()
                }
                line = ", ".join(f"{name} {t:.2f} s" for name, t in times.items())
                ratio = times["all rows"] / times["sample+cap"]
                print(f"{n} x {d}, K={k}: {line} ({ratio:.1f}x)", flush=True)


if __name__ == "__main__":
    main()
