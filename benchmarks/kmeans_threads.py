"""k-means starts with one OpenMP thread against scikit-learn's default threads.

The starts cluster [X, y] with scikit-learn's KMeans, whose loop runs OpenMP
threads; skmoe runs it with one, as its NumPy fits run BLAS. Times, in one
process and interleaved (medians of ``--repeats``): the clustering alone
(``skmoe._init._kmeans_labels``), and whole default fits, with the limit and
with ``openmp_threads`` replaced by a null context. Labels and fitted
coefficients are compared. The machine's load average is printed: on a
shared machine the default threads wait for busy cores.

    python benchmarks/kmeans_threads.py [--repeats 5]
"""

import argparse
import contextlib
import os
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits

import skmoe._init
from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor

LIMITED = skmoe._init.openmp_threads


def regimes(n, d, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = np.where(X[:, 0] > 0, X @ rng.randn(d), X @ rng.randn(d)) + rng.randn(n)
    return X, y


def timed(call, repeats):
    """Median seconds of ``call`` with the limit and without it, interleaved
    (the order flipped each repeat), and the two results."""
    times = {True: [], False: []}
    results = {}
    for repeat in range(repeats):
        for limited in (True, False) if repeat % 2 == 0 else (False, True):
            skmoe._init.openmp_threads = LIMITED if limited else contextlib.nullcontext
            try:
                start = time.perf_counter()
                results[limited] = call()
                times[limited].append(time.perf_counter() - start)
            finally:
                skmoe._init.openmp_threads = LIMITED
    return statistics.median(times[True]), statistics.median(times[False]), results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    X, y = regimes(20000, 10)
    digits = load_digits()
    weight = np.ones(len(y))
    cases = {
        "k-means alone, 20000 x 10, K=4": lambda: skmoe._init._kmeans_labels(
            X, y, weight, 4, 0
        ),
        "k-means alone, digits, K=4": lambda: skmoe._init._kmeans_labels(
            digits.data, digits.target, np.ones(len(digits.target)), 4, 0
        ),
        "MoERegressor(4) fit, 20000 x 10": lambda: (
            MoERegressor(4, random_state=0).fit(X, y).expert_coef_
        ),
        "MoERegressor('auto') fit, 2000 x 10": lambda: (
            MoERegressor("auto", random_state=0).fit(X[:2000], y[:2000]).expert_coef_
        ),
        "MoEPoissonRegressor(3) fit, 20000 x 10": lambda: (
            MoEPoissonRegressor(3, random_state=0)
            .fit(X / 4, np.random.RandomState(0).poisson(np.exp(np.abs(y) / 4)))
            .expert_coef_
        ),
        "MoEClassifier(4) fit, digits": lambda: (
            MoEClassifier(4, random_state=0)
            .fit(digits.data / 16, digits.target)
            .expert_coef_
        ),
    }
    for name, call in cases.items():
        one, default, results = timed(call, args.repeats)
        same = np.array_equal(results[True], results[False])
        print(
            f"{name}: one thread {one:.3f} s, default threads {default:.3f} s, "
            f"ratio {default / one:.2f}, results identical: {same}",
            flush=True,
        )


if __name__ == "__main__":
    main()
