"""Gaussian and Student t mixtures' ``cdf``, ``sf`` and ``logpdf``: their sums
over the components by :func:`skmoe._distribution._component_sums` (pairwise,
in one order whatever the batch and the arrays' layout, as ``ppf`` sums them)
against ``np.sum`` and :func:`scipy.special.logsumexp` (the sums before).
The moments (``--methods mean var std``) sum by
:func:`skmoe._math.expert_sums_in_place` (and ``expert_sums``), against
``np.sum`` over the components in their place (``--old np.sum``) or the
tree of session 70, one NumPy call per pair (``--old tree``);
``--layout F`` hands the parameters over Fortran-ordered, as
``predict_distribution`` does.

For K experts and n rows (random weights, means N(0, 2), log-normal scales,
one y per row; Student t components of ``--df``) the table gives the median
CPU seconds over ``--repeats`` of each method, the two variants interleaved in
one process, and their ratio new/old. Run with single-threaded BLAS::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/mixture_sums.py
    OMP_NUM_THREADS=1 python benchmarks/mixture_sums.py --family student-t
    OMP_NUM_THREADS=1 python benchmarks/mixture_sums.py --methods mean var std \
        --experts 2 4 8 32 128 --rows 1000 100000 --layout C F --repeats 7
"""

import argparse
import time
from contextlib import contextmanager

import numpy as np
from scipy import special

import skmoe._distribution as distribution_module
import skmoe._math as math_module
from skmoe import PredictiveMixture, PredictiveStudentTMixture

_sums = distribution_module._component_sums
_log_sums = distribution_module._log_component_sums
_expert_sums = math_module.expert_sums
_expert_sums_in_place = math_module.expert_sums_in_place


def _np_sums(terms):
    return np.sum(terms, axis=-1)


def _scipy_log_sums(log_terms):
    return special.logsumexp(log_terms, axis=-1)


def _np_expert_sums(terms):
    return np.sum(terms, axis=0)


def _tree_expert_sums(terms):
    """Session 70's moments' sums: the first ``ceil(K / 2)`` experts' sum plus
    the rest's, recursively, one NumPy call per pair, in place."""
    n_terms = terms.shape[0]
    if n_terms > 1:
        half = (n_terms + 1) // 2
        first = _tree_expert_sums(terms[:half])
        np.add(first, _tree_expert_sums(terms[half:]), out=first)
    return terms[0]


def _set_expert_sums(sums, sums_in_place):
    math_module.expert_sums = sums
    math_module.expert_sums_in_place = sums_in_place
    distribution_module.expert_sums_in_place = sums_in_place


@contextmanager
def _variant(new, old="np.sum"):
    distribution_module._component_sums = _sums if new else _np_sums
    distribution_module._log_component_sums = _log_sums if new else _scipy_log_sums
    if not new:
        if old == "np.sum":
            _set_expert_sums(_np_expert_sums, _np_expert_sums)
        else:
            _set_expert_sums(_tree_expert_sums, _tree_expert_sums)
    try:
        yield
    finally:
        distribution_module._component_sums = _sums
        distribution_module._log_component_sums = _log_sums
        _set_expert_sums(_expert_sums, _expert_sums_in_place)


def _cpu(function, new, old="np.sum", number=1):
    with _variant(new, old):
        start = time.process_time()
        for _ in range(number):
            function()
        return (time.process_time() - start) / number


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
    parser.add_argument("--layout", nargs="+", choices=["C", "F"], default=["C"])
    parser.add_argument("--old", choices=["np.sum", "tree"], default="np.sum")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{'K':>3} {'n':>7} {'order':>5} {'method':>6} {'new s':>9} {'old s':>9}"
        f" {'new/old':>7}"
    )
    for n_experts in args.experts:
        for n_rows in args.rows:
            weights = rng.dirichlet(np.ones(n_experts), n_rows)
            means = rng.normal(0.0, 2.0, (n_rows, n_experts))
            scales = np.exp(rng.normal(0.0, 0.5, (n_rows, n_experts)))
            y = rng.normal(0.0, 2.0, n_rows)
            # (calls per timing: about 2e6 terms, so that small ones time)
            number = max(1, 2_000_000 // (n_rows * n_experts))
            for layout in args.layout:
                parameters = [np.asarray(a, order=layout) for a in (weights, means)]
                parameters.append(np.asarray(scales, order=layout))
                if args.family == "student-t":
                    dist = PredictiveStudentTMixture(*parameters, args.df)
                else:
                    dist = PredictiveMixture(*parameters)
                for method in args.methods:
                    function = getattr(dist, method)
                    if method in ("mean", "var", "std"):
                        call = function
                    else:
                        call = lambda f=function, y=y: f(y)  # noqa: E731
                    times = {True: [], False: []}
                    for repeat in range(args.repeats):
                        # (alternating which goes first)
                        for new in (True, False) if repeat % 2 else (False, True):
                            times[new].append(_cpu(call, new, args.old, number))
                    new, old = np.median(times[True]), np.median(times[False])
                    print(
                        f"{n_experts:3d} {n_rows:7d} {layout:>5} {method:>6}"
                        f" {new:9.6f} {old:9.6f} {new / old:7.3f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
