"""The k-means start's count of distinct rows against the clustering itself.

k-means starts take as many clusters as the standardized ``[X, y]`` has
distinct rows (to 4 decimals), up to the number of experts
(``skmoe._init._distinct_rows``: ``np.unique`` of a strided sample of rows;
where the sample has fewer, its rows compared with every row, in blocks);
KMeans warned of fewer clusters than asked for, and the
``warnings.catch_warnings`` that had hidden it is not thread-safe. Times, in
one process (medians of ``--repeats``): the count alone and the whole
clustering (``skmoe._init._kmeans_labels``, the count included), on ordinary
data and on data of a few distinct rows sorted into blocks, where the count
reads every row.

``--collapse``: the collapse rule's count of an expert's distinct design rows
(``skmoe.experts.gaussian._once``, rows sorted as opaque items) against
``np.unique(axis=0)`` (rows sorted as records), on the Fortran-ordered design
``[1, X]^T`` a fit passes it: all rows distinct, one-hot rows, 8 distinct rows.

    python benchmarks/distinct_rows.py [--repeats 5] [--collapse]
"""

import argparse
import statistics
import time

import numpy as np

from skmoe._init import _distinct_rows, _kmeans_labels
from skmoe.experts.gaussian import _once


def data(n, d, distinct, seed=0):
    """``[X, y]`` of n rows: all distinct, or ``distinct`` rows in sorted blocks."""
    rng = np.random.RandomState(seed)
    if distinct is None:
        return rng.randn(n, d), rng.randn(n)
    rows = rng.randn(distinct, d + 1)
    Z = np.repeat(rows, -(-n // distinct), axis=0)[:n]
    return Z[:, :d], Z[:, d]


def seconds(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def by_records(labels):
    """The count as before: ``np.unique(axis=0)``."""
    _, inverse, counts = np.unique(
        labels, axis=0, return_inverse=True, return_counts=True
    )
    return 1.0 / counts[inverse.ravel()]


def collapse(repeats):
    print(
        f"{'n':>8} {'D':>3} {'rows':>8} {'records ms':>11} {'items ms':>9} {'ratio':>6}"
    )
    rng = np.random.RandomState(0)
    for n, d in [(10_000, 20), (100_000, 20), (1_000_000, 20)]:
        for label, X in [
            ("all", rng.randn(n, d)),
            ("one-hot", np.eye(d)[rng.randint(0, d, n)]),
            ("8", rng.randn(8, d)[rng.randint(0, 8, n)]),
        ]:
            design = np.asfortranarray(np.column_stack([np.ones(n), X]).T)
            rows = design.T
            assert np.array_equal(_once(rows), by_records(rows))
            old = seconds(lambda rows=rows: by_records(rows), repeats)
            new = seconds(lambda rows=rows: _once(rows), repeats)
            print(
                f"{n:>8} {d + 1:>3} {label:>8} {1e3 * old:>11.1f} "
                f"{1e3 * new:>9.1f} {new / old:>6.3f}"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--collapse", action="store_true")
    args = parser.parse_args()
    if args.collapse:
        collapse(args.repeats)
        return
    print(
        f"{'n':>8} {'D':>3} {'K':>4} {'rows':>9} {'count ms':>9} "
        f"{'k-means ms':>11} {'share':>6}"
    )
    for n, d, k, distinct in [
        (10_000, 8, 4, None),
        (100_000, 8, 16, None),
        (100_000, 64, 128, None),
        (1_000_000, 20, 16, None),
        (100_000, 8, 16, 8),
        (1_000_000, 20, 16, 8),
    ]:
        X, y = data(n, d, distinct)
        weight = np.ones(n)
        Z = np.column_stack([X, y])
        count = seconds(lambda Z=Z, k=k: _distinct_rows(Z, k), args.repeats)
        clustering = seconds(
            lambda X=X, y=y, k=k, weight=weight: _kmeans_labels(
                X, y, weight, k, np.random.RandomState(0)
            ),
            max(1, args.repeats // 2),
        )
        label = "all" if distinct is None else f"{distinct} sorted"
        print(
            f"{n:>8} {d:>3} {k:>4} {label:>9} {1e3 * count:>9.2f} "
            f"{1e3 * clustering:>11.1f} {count / clustering:>6.1%}"
        )


if __name__ == "__main__":
    main()
