"""Hot spots found by the performance QA pass, each against its former form.

Ratios measured in one process, the two forms interleaved, median of ``--repeat``:

- ``take``: a column subset of the F-ordered design matrix (the Newton Hessian's
  rows above ``HESSIAN_ROWS``, every SGD mini-batch) by ``np.take(axis=1)``,
  which copies the whole design first, against ``take_last`` (indexing);
- ``hess_vec``: the truncated-Newton Hessian-vector product of the logistic
  experts, plain (B, m, n) temporaries against ``_hess_vec_blocks``;
- ``ppf``: ``PredictiveMixture.ppf`` for three quantiles in one pass against row
  chunks of ``PPF_ROWS`` (seconds and traced peak memory);
- ``sgd``: a whole ``solver="sgd"`` fit with ``np.take`` patched back in (its
  mini-batches and the gate's Newton Hessian rows).

    python benchmarks/bench_hotspots.py [--repeat 5] [--n 1000000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np

import skmoe._distribution as distribution
import skmoe._multinomial as multinomial_module
import skmoe._sgd as sgd_module
from skmoe import MoERegressor
from skmoe._math import design_matrix, take_last
from skmoe._multinomial import _hess_vec_blocks


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(old, new, repeat):
    pairs = [(timed(old), timed(new)) for _ in range(repeat)]
    old_s, new_s = np.median(np.array(pairs), axis=0)
    return old_s, new_s


def plain_hess_vec(design, sample_weight, prob, v, alpha, mask):
    moved = np.swapaxes(v, 1, 2) @ design
    mean = np.sum(prob * moved, axis=1, keepdims=True)
    curv = sample_weight[:, None, :] * prob * (moved - mean)
    return design @ np.swapaxes(curv, 1, 2) + alpha * mask * v


def numpy_take(xp, a, index):
    return np.take(a, index, axis=a.ndim - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the short SGD fits stop at max_iter
    rng = np.random.RandomState(0)
    rows = []

    design = design_matrix(np, rng.randn(args.n, 20))
    index = np.sort(rng.choice(args.n, 16384, replace=False))
    old, new = interleaved(
        lambda: np.take(design, index, axis=1),
        lambda: take_last(np, design, index),
        args.repeat,
    )
    rows.append((f"take 16384 of {args.n} columns, d=21", old, new, ""))

    n, B, m, d = 100_000, 8, 10, 65
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    prob = rng.dirichlet(np.ones(m), size=(B, n)).transpose(0, 2, 1).copy()
    weight, v = rng.rand(B, n), rng.randn(B, d, m)
    mask = np.ones((d, 1))
    mask[0] = 0
    args_hv = (design, weight, prob, v, 1e-3, mask)
    reference = plain_hess_vec(*args_hv)
    same = np.abs(reference - _hess_vec_blocks(*args_hv)[0]).max()
    same /= np.abs(reference).max()
    old, new = interleaved(
        lambda: plain_hess_vec(*args_hv),
        lambda: _hess_vec_blocks(*args_hv),
        args.repeat,
    )
    name = f"hess_vec B={B} m={m} d={d} n={n}"
    rows.append((name, old, new, f"max rel. diff {same:.1e}"))

    n, K = 200_000, 16
    weights = rng.dirichlet(np.ones(K), size=n)
    scales = rng.uniform(0.2, 1, (n, K))
    dist = distribution.PredictiveMixture(weights, 3 * rng.randn(n, K), scales)
    q = np.array([[0.1], [0.5], [0.9]])
    peaks = {}

    def ppf(chunk):
        def run():
            distribution.PPF_ROWS = chunk
            tracemalloc.start()
            dist.ppf(q)
            peaks[chunk] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()

        return run

    chunk = distribution.PPF_ROWS
    old, new = interleaved(ppf(10**12), ppf(chunk), max(1, args.repeat // 2))
    distribution.PPF_ROWS = chunk
    rows.append(
        (
            f"ppf 3 quantiles, {n} rows, K={K}",
            old,
            new,
            f"peak {peaks[10**12]:.0f} -> {peaks[chunk]:.0f} MiB",
        )
    )

    X = rng.uniform(-3, 3, size=(100_000, 5))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.3 * rng.randn(100_000)

    def sgd_fit(take):
        def run():
            sgd_module.take_last = take
            multinomial_module.take_last = take  # the Hessian's rows above 16384
            model = MoERegressor(4, solver="sgd", n_init=1, max_iter=3, random_state=0)
            model.fit(X, y)

        return run

    half = max(1, args.repeat // 2)
    old, new = interleaved(sgd_fit(numpy_take), sgd_fit(take_last), half)
    sgd_module.take_last = multinomial_module.take_last = take_last
    rows.append(("sgd fit, 3 epochs, 1e5 x 5, K=4", old, new, ""))

    print("| case | former s | now s | speed-up | note |")
    print("|---|---|---|---|---|")
    for name, old, new, note in rows:
        print(f"| {name} | {old:.4f} | {new:.4f} | {old / new:.2f}x | {note} |")


if __name__ == "__main__":
    main()
