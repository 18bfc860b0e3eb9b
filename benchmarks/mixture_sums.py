"""Gaussian and Student t mixtures' ``cdf``, ``sf`` and ``logpdf``: their sums
over the components by :func:`skmoe._distribution._component_sums` (pairwise,
in one order whatever the batch and the arrays' layout, as ``ppf`` sums them)
against ``np.sum`` and :func:`scipy.special.logsumexp` (the sums before).

For K experts and n rows (random weights, means N(0, 2), log-normal scales,
one y per row; Student t components of ``--df``) the table gives the median
CPU seconds over ``--repeats`` of each method, the two variants interleaved in
one process, and their ratio new/old. Run with single-threaded BLAS::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/mixture_sums.py
    OMP_NUM_THREADS=1 python benchmarks/mixture_sums.py --family student-t
"""

import argparse
import time
from contextlib import contextmanager

import numpy as np
from scipy import special

import skmoe._distribution as distribution_module
from skmoe import PredictiveMixture, PredictiveStudentTMixture

_sums = distribution_module._component_sums
_log_sums = distribution_module._log_component_sums


def _np_sums(terms):
    return np.sum(terms, axis=-1)


def _scipy_log_sums(log_terms):
    return special.logsumexp(log_terms, axis=-1)


@contextmanager
def _variant(new):
    distribution_module._component_sums = _sums if new else _np_sums
    distribution_module._log_component_sums = _log_sums if new else _scipy_log_sums
    try:
        yield
    finally:
        distribution_module._component_sums = _sums
        distribution_module._log_component_sums = _log_sums


def _cpu(function, new):
    with _variant(new):
        start = time.process_time()
        function()
        return time.process_time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10**5, 10**6])
    parser.add_argument("--experts", type=int, nargs="+", default=[2, 8, 32])
    parser.add_argument("--methods", nargs="+", default=["cdf", "sf", "logpdf"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--family", choices=["gaussian", "student-t"], default="gaussian"
    )
    parser.add_argument("--df", type=float, default=3.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'K':>2} {'n':>7} {'method':>6} {'new s':>8} {'old s':>8} {'new/old':>7}")
    for n_experts in args.experts:
        for n_rows in args.rows:
            weights = rng.dirichlet(np.ones(n_experts), n_rows)
            means = rng.normal(0.0, 2.0, (n_rows, n_experts))
            scales = np.exp(rng.normal(0.0, 0.5, (n_rows, n_experts)))
            y = rng.normal(0.0, 2.0, n_rows)
            if args.family == "student-t":
                dist = PredictiveStudentTMixture(weights, means, scales, args.df)
            else:
                dist = PredictiveMixture(weights, means, scales)
            for method in args.methods:
                function = getattr(dist, method)
                times = {True: [], False: []}
                for repeat in range(args.repeats):
                    # (alternating which goes first)
                    for new in (True, False) if repeat % 2 else (False, True):
                        times[new].append(_cpu(lambda f=function, y=y: f(y), new))
                new, old = np.median(times[True]), np.median(times[False])
                print(
                    f"{n_experts:2d} {n_rows:7d} {method:>6} {new:8.4f} {old:8.4f}"
                    f" {new / old:7.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
