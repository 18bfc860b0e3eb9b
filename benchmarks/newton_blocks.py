"""The classifier's Newton Hessian by blocks of samples of various sizes.

``skmoe._multinomial.newton_direction`` builds a (problems, classes x
coefficients, block) matrix per block of samples, sized by ``NEWTON_BYTES``.
Times (medians of ``--repeats``, interleaved, one BLAS thread as fits run)
of one Newton direction for a classifier's experts and for a gate, at blocks
of 2**26 to 2**20 bytes, with the largest relative difference from the
2**26 steps; then whole ``MoEClassifier`` fits and tracemalloc's peak at the
old and the current size.

    python benchmarks/newton_blocks.py [--repeats 5]
"""

import argparse
import statistics
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

import skmoe._multinomial as multinomial
from skmoe import MoEClassifier

SIZES = (2**26, 2**24, 2**22, 2**20)
CURRENT = multinomial.NEWTON_BYTES


def problem(n_problems, n_classes, d, n, seed=0):
    rng = np.random.default_rng(seed)
    design = np.vstack([np.ones(n), rng.standard_normal((d - 1, n))])
    weight = rng.random((n_problems, n)) / n
    prob = np.exp(rng.standard_normal((n_problems, n_classes, n)))
    prob /= prob.sum(axis=1, keepdims=True)
    grad = rng.standard_normal((n_problems, d, n_classes))
    grad -= grad.mean(axis=2, keepdims=True)
    mask = np.ones((d, 1))
    mask[0] = 0
    return design, weight, prob, grad, mask


def direction(args):
    design, weight, prob, grad, mask = args
    return multinomial.newton_direction(
        np, design, weight, prob, grad, 1e-3, mask, centred=True
    )


def with_bytes(size, call):
    multinomial.NEWTON_BYTES = size
    try:
        return call()
    finally:
        multinomial.NEWTON_BYTES = CURRENT


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "experts of a classifier (4 experts, 5 classes, 21 coefficients)": problem(
            4, 5, 21, 20000
        ),
        "a gate (4 experts, 21 coefficients)": problem(1, 4, 21, 20000),
        "the digits' gate (4 experts, 65 coefficients)": problem(1, 4, 65, 1797),
    }
    with threadpool_limits(1, user_api="blas"):
        for name, case in cases.items():
            reference = with_bytes(SIZES[0], lambda case=case: direction(case))
            times = {size: [] for size in SIZES}
            for repeat in range(args.repeats):
                order = SIZES if repeat % 2 == 0 else SIZES[::-1]
                for size in order:
                    start = time.perf_counter()
                    out = with_bytes(size, lambda case=case: direction(case))
                    times[size].append(time.perf_counter() - start)
                    error = np.max(np.abs(out - reference)) / np.max(np.abs(reference))
                    assert error < 1e-12, error
            base = statistics.median(times[SIZES[0]])
            row = ", ".join(
                f"2**{int(np.log2(s))} {statistics.median(t) * 1e3:.1f} ms "
                f"({base / statistics.median(t):.2f}x)"
                for s, t in times.items()
            )
            print(f"{name}, {case[0].shape[1]} rows: {row}", flush=True)
    X, y = make_classification(20000, 20, n_informative=10, n_classes=5, random_state=0)
    warnings.simplefilter("ignore")

    def fit():
        model = MoEClassifier(4, n_init=1, max_iter=40, random_state=0)
        return model.fit(X, y).expert_coef_

    for size in (SIZES[0], CURRENT):
        tracemalloc.start()
        coef = with_bytes(size, fit)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        fits = []
        for _ in range(max(1, args.repeats // 2)):
            start = time.perf_counter()
            with_bytes(size, fit)
            fits.append(time.perf_counter() - start)
        print(
            "MoEClassifier(4, n_init=1, max_iter=40) on 20000 x 20, 5 classes, "
            f"blocks of 2**{int(np.log2(size))} bytes: "
            f"{statistics.median(fits):.2f} s, "
            f"peak {peak:.1f} MiB, coef[0, 0, 0] {coef.ravel()[0]:.12g}",
            flush=True,
        )


if __name__ == "__main__":
    main()
