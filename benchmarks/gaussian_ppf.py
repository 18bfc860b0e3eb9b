"""Quantiles of Gaussian, Student t and Gamma mixtures: Halley's steps against the
root finder alone.

``PredictiveMixture.ppf`` and ``PredictiveStudentTMixture.ppf`` solve the
ordinary rows (a tail of at least 1e-300, finite parameters and df, scales
above 2**-40 of the quantile) by Halley's method on ``log F(y) = log q``, and
leave the rest to the bracketing root finder (scipy's ``find_root``);
``PredictiveGammaMixture.ppf`` takes its steps in ``log y`` (a tail of at least
1e-300, a bracket within the positive floats). For K
experts and n rows (random weights, means N(0, 2), log-normal scales, q ~
U(0.05, 0.95); Student t components of ``--df``; Gamma components of means
exp(N(0, 2)) and shapes exp(N(1, 1))) the table gives the CPU
seconds (best of ``--repeats``, the variants interleaved in one process) of:
``ppf``; ``ppf`` with every row left to the root finder (the method before
Halley's steps); the mixture's ``cdf`` at one value per row; and the floor,
one ``ndtr`` (``stdtr``, ``gammainc``) of the (n, K) standardized values.
``evals`` is the
number of (row, K) component cdf evaluations per row of each ``ppf``. Run
with single-threaded BLAS::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/gaussian_ppf.py
    OMP_NUM_THREADS=1 python benchmarks/gaussian_ppf.py --family student-t
    OMP_NUM_THREADS=1 python benchmarks/gaussian_ppf.py --family gamma
"""

import argparse
import time
from contextlib import contextmanager

import numpy as np
from scipy import special

import skmoe._distribution as distribution_module
import skmoe._gamma_distribution as gamma_module
from skmoe import PredictiveGammaMixture, PredictiveMixture, PredictiveStudentTMixture

_halley = distribution_module._halley_quantiles
_gamma_halley = gamma_module._halley_quantiles
_gamma_tails = gamma_module._gamma_tails
_ndtr = distribution_module._ndtr
_t_cdf = distribution_module._t_cdf


def _root_finder_only(q, weights, means, scales, low, high, done, *_):
    return np.zeros(low.shape, dtype=bool), np.zeros(0)


def _gamma_root_finder_only(upper, *_):
    return np.zeros(upper.shape, dtype=bool), np.zeros(0)


@contextmanager
def _variant(halley):
    distribution_module._halley_quantiles = _halley if halley else _root_finder_only
    gamma_module._halley_quantiles = (
        _gamma_halley if halley else _gamma_root_finder_only
    )
    try:
        yield
    finally:
        distribution_module._halley_quantiles = _halley
        gamma_module._halley_quantiles = _gamma_halley


def _evaluations(dist, q, halley, family):
    """Component cdf evaluations per row of one ``ppf``."""
    rows = []
    module, name = {
        "gaussian": (distribution_module, "_ndtr"),
        "student-t": (distribution_module, "_t_cdf"),
        "gamma": (gamma_module, "_gamma_tails"),
    }[family]
    original = getattr(module, name)

    def counted(*args, **kwargs):
        rows.append(np.broadcast_shapes(*(np.shape(a) for a in args[:2]))[0])
        return original(*args, **kwargs)

    setattr(module, name, counted)
    try:
        with _variant(halley):
            dist.ppf(q)
    finally:
        setattr(module, name, original)
    return sum(rows) / len(q)


def _cpu(function):
    start = time.process_time()
    function()
    return time.process_time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10**4, 10**5])
    parser.add_argument("--experts", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--family", choices=["gaussian", "student-t", "gamma"], default="gaussian"
    )
    parser.add_argument("--df", type=float, default=3.0)
    args = parser.parse_args()
    student_t = args.family == "student-t"
    gamma = args.family == "gamma"
    rng = np.random.default_rng(0)
    print(
        f"{'K':>2} {'n':>7} {'ppf s':>8} {'before s':>8} {'cdf s':>7} {'floor s':>7}"
        f" {'new/old':>7} {'new/floor':>9} {'old/floor':>9} {'evals new/old':>13}"
    )
    for n_experts in args.experts:
        for n_rows in args.rows:
            weights = rng.dirichlet(np.ones(n_experts), n_rows)
            means = rng.normal(0.0, 2.0, (n_rows, n_experts))
            scales = np.exp(rng.normal(0.0, 0.5, (n_rows, n_experts)))
            q = rng.uniform(0.05, 0.95, n_rows)
            y = rng.normal(0.0, 2.0, n_rows)
            if gamma:
                means = np.exp(rng.normal(0.0, 2.0, (n_rows, n_experts)))
                scales = np.exp(rng.normal(1.0, 1.0, (n_rows, n_experts)))  # shapes
                y = np.exp(rng.normal(0.0, 2.0, n_rows))
                dist = PredictiveGammaMixture(weights, means, scales)
            elif student_t:
                dist = PredictiveStudentTMixture(weights, means, scales, args.df)
            else:
                dist = PredictiveMixture(weights, means, scales)

            def new(dist=dist, q=q):
                with _variant(True):
                    dist.ppf(q)

            def old(dist=dist, q=q):
                with _variant(False):
                    dist.ppf(q)

            def floor(y=y, means=means, scales=scales):
                if gamma:  # (scales: the shapes)
                    special.gammainc(scales, scales * y[:, None] / means)
                    return
                z = (y[:, None] - means) / scales
                special.stdtr(args.df, z) if student_t else special.ndtr(z)

            variants = {
                "new": new,
                "old": old,
                "cdf": lambda dist=dist, y=y: dist.cdf(y),
                "floor": floor,
            }
            best = dict.fromkeys(variants, np.inf)
            for _ in range(args.repeats):
                for name, function in variants.items():
                    best[name] = min(best[name], _cpu(function))
            evals = [_evaluations(dist, q, h, args.family) for h in (True, False)]
            print(
                f"{n_experts:2d} {n_rows:7d} {best['new']:8.4f} {best['old']:8.4f}"
                f" {best['cdf']:7.4f} {best['floor']:7.4f}"
                f" {best['new'] / best['old']:7.2f}"
                f" {best['new'] / best['floor']:9.1f}"
                f" {best['old'] / best['floor']:9.1f}"
                f" {evals[0]:6.1f}/{evals[1]:.1f}"
            )


if __name__ == "__main__":
    main()
