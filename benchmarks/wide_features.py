"""Gaussian experts with more features than samples: the primal M-step against
the kernel (dual) one.

    python benchmarks/wide_features.py             # n=200, D 150 to 3000 (minutes)
    python benchmarks/wide_features.py --quick     # n=100, D 75 to 600 (seconds)
    python benchmarks/wide_features.py --kernel-cache   # what-if: X X^T once a fit
    python benchmarks/wide_features.py --gate      # gate Newton step: primal / kernel

``GaussianLinearExperts`` solves its M-step in the kernel form (an n x n
system per expert in place of a (D + 1) x (D + 1) one) when ``D >
DUAL_RATIO * n``, ``alpha > 0``, no rows are shared and no feature's sum of
squares is over ``DUAL_SPREAD`` (100) times the others' mean. This script
switches the rule at run time (``DUAL_RATIO`` set to infinity: always primal;
to 0: always dual, for these features of like scales) and, in one process,
for each D:

* fits ``MoERegressor(n_experts=2, n_init=1, random_state=0)`` (default
  ``alpha=1e-6``) on ``n`` samples whose two regimes (the sign of x0) have
  their own line in the first five features (the others are noise), best of
  ``--repeats`` fits of each solve, alternating which goes first: seconds, the
  ratio primal / dual, EM iterations, the difference of ``log_likelihood_``
  per sample, and the largest difference of the two fits' predictions on
  held-out rows over ``std(y)``;
* makes one M-step (K=2, Dirichlet responsibilities, features of scales 0.5
  to 3 and mean 1) in float64 and float32 and gives each solve's largest
  error over the largest coefficient, per expert, against
  ``scipy.linalg.lstsq`` of the augmented weighted ridge system ``[S X~;
  sqrt(alpha) P]`` in float64 (SVD; as
  tests/test_families.py::test_gaussian_m_step_with_more_features_than_samples_is_weighted_ridge).
  Both dtypes see the same numbers (the data are rounded to float32 first).

``--kernel-cache`` times instead whole fits (n=200, D=3000 and n=1000,
D=1500, best of ``--repeats``, alternating) of the dual M-step as skmoe makes
it against a copy of it that computes the kernel ``Z Z^T`` once per design
(X does not change during a fit), after checking that the copy gives the
library's coefficients.

``--gate`` times whole fits (n=200, D 300 to 2000; ``MoERegressor`` with
K=2 and 4, and ``MoEClassifier`` with K=2 on three classes made of y's
tertiles) with the softmax gate's exact Newton step in its primal form (the
K (D + 1) x K (D + 1) Hessian; ``softmax.KERNEL_RATIO`` set to infinity)
against its kernel form (an n K x n K system; the default), best of
``--repeats``, alternating, and gives the fits' differences: EM iterations,
``log_likelihood_`` per sample, predictions on held-out rows (over
``std(y)``; class probabilities for the classifier) and ``gate_coef_`` (over
its largest entry). Where ``K (D + 1) > softmax.NEWTON_MAX_COEF`` the gate takes
truncated Newton (conjugate-gradient) steps either way: the same fit.

Times depend on the BLAS threads (``OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1`` for the numbers in the report); compare the ratios.
"""

from __future__ import annotations

import argparse
import time
import warnings
from functools import partial

import numpy as np
import scipy.linalg

import skmoe.experts.gaussian as gaussian
import skmoe.gates.softmax as softmax
from skmoe import MoEClassifier, MoERegressor
from skmoe._math import design_matrix

Experts = gaussian.GaussianLinearExperts
SOLVES = {"primal": float("inf"), "dual": 0.0}  # DUAL_RATIO for each
DEFAULT_RATIO = Experts.DUAL_RATIO


def with_ratio(ratio, call):
    Experts.DUAL_RATIO = ratio
    try:
        return call()
    finally:
        Experts.DUAL_RATIO = DEFAULT_RATIO


def regimes(n, n_features, seed=0):
    """Two regimes on the sign of x0, each a line in x0..x4 plus noise."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, n_features))
    coef = rng.standard_normal((2, 5))
    regime = (X[:, 0] > 0).astype(int)
    y = (
        np.einsum("ij,ij->i", X[:, :5], coef[regime])
        + np.array([-2.0, 2.0])[regime]
        + 0.3 * rng.standard_normal(n)
    )
    return X, y


def time_fits(n, n_features, repeats):
    X, y = regimes(2 * n, n_features)
    X, X_test, y = X[:n], X[n:], y[:n]
    seconds = {name: [] for name in SOLVES}
    models = {}
    for repeat in range(repeats):
        order = list(SOLVES) if repeat % 2 == 0 else list(SOLVES)[::-1]
        for name in order:
            model = MoERegressor(n_experts=2, n_init=1, random_state=0)
            start = time.perf_counter()
            with_ratio(SOLVES[name], lambda model=model: model.fit(X, y))
            seconds[name].append(time.perf_counter() - start)
            models[name] = model
    primal, dual = models["primal"], models["dual"]
    prediction = np.max(np.abs(primal.predict(X_test) - dual.predict(X_test)))
    return {
        "primal s": min(seconds["primal"]),
        "dual s": min(seconds["dual"]),
        "iterations": f"{primal.n_iter_} / {dual.n_iter_}",
        "dloglik": abs(primal.log_likelihood_ - dual.log_likelihood_) / n,
        "dpred": prediction / np.std(y),
    }


def m_step_problem(n, n_features, seed=0):
    """float32-rounded design, target and responsibilities of one M-step."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features) * rng.uniform(0.5, 3, n_features) + 1.0
    y = X[:, :4] @ rng.randn(4) + 3.0 + rng.randn(n)
    weighted = rng.dirichlet(np.ones(2), size=n).T / n
    X, y, weighted = (a.astype(np.float32) for a in (X, y, weighted))
    design = design_matrix(np, X, X.mean(axis=0))
    return design, y, weighted


def reference(design, y, weighted, alpha):
    """Each expert's weighted ridge coefficients by SVD least squares (float64)."""
    design, y, weighted = (a.astype(np.float64) for a in (design, y, weighted))
    penalty = np.sqrt(alpha) * np.eye(design.shape[0])[1:]
    coefs = []
    for w in weighted:
        root = np.sqrt(w)
        system = np.vstack([design.T * root[:, None], penalty])
        target = np.concatenate([root * y, np.zeros(design.shape[0] - 1)])
        coefs.append(scipy.linalg.lstsq(system, target)[0])
    return np.stack(coefs, axis=1)


def m_step_errors(design, y, weighted, alpha, expected):
    row = {}
    for dtype in (np.float64, np.float32):
        args = [a.astype(dtype) for a in (design, y, weighted)]
        experts = Experts(variance_floor=1e-10)
        start = experts.initial_params(np, args[0], args[1], 2)
        for name, ratio in SOLVES.items():
            params = with_ratio(ratio, partial(experts.m_step, np, *args, start, alpha))
            coef = params["coef"]
            error = np.abs(coef.astype(np.float64) - expected).max(axis=0)
            row[f"{name} {np.dtype(dtype).name}"] = np.max(
                error / np.abs(expected).max(axis=0)
            )
    return row


def cached_dual(cache):
    """``GaussianLinearExperts._dual_coefficients`` with the kernel ``Z Z^T``
    taken from ``cache`` (keyed by the design, computed at its first use)."""

    def dual_coefficients(self, xp, design, Y, fit_weight, ybar, alpha):
        features = design[1:, :]
        n_samples = features.shape[1]
        if cache.get("design") is not design:
            cache["design"], cache["kernel"] = design, features.T @ features
        kernel = cache["kernel"]
        tiny = float(xp.finfo(design.dtype).smallest_normal)
        share = fit_weight / xp.maximum(xp.sum(fit_weight, axis=1), tiny)[:, None]
        u = share @ kernel
        c = xp.sum(u * share, axis=1)
        centred = kernel[None, ...] - u[:, :, None] - u[:, None, :]
        centred = centred + c[:, None, None]
        root = xp.sqrt(fit_weight)
        eye = xp.eye(n_samples, dtype=design.dtype)
        system = root[:, :, None] * centred * root[:, None, :] + alpha * eye
        del centred
        rhs = root * (Y[None, :] - ybar[:, None])
        solve = gaussian.solve_symmetric(xp, system, rhs[:, :, None])
        dual = root * solve[:, :, 0]
        means = features @ share.T
        slopes = features @ dual.T - means * xp.sum(dual, axis=1)[None, :]
        intercept = ybar - xp.sum(means * slopes, axis=0)
        return xp.concat([intercept[None, :], slopes], axis=0)

    return dual_coefficients


def kernel_cache(repeats):
    library = Experts._dual_coefficients
    cache = {}
    design, y, weighted = (a.astype(np.float64) for a in m_step_problem(50, 120))
    experts = Experts(variance_floor=1e-10)
    start = experts.initial_params(np, design, y, 2)
    expected = experts.m_step(np, design, y, weighted, start, 1e-3)["coef"]
    Experts._dual_coefficients = cached_dual(cache)
    try:
        coef = experts.m_step(np, design, y, weighted, start, 1e-3)["coef"]
    finally:
        Experts._dual_coefficients = library
    assert np.array_equal(coef, expected), "the copy differs from the library"
    print("| n | D | per iteration s | once a fit s | ratio | iterations |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, n_features in ((200, 3000), (1000, 1500)):
        X, y = regimes(n, n_features)
        seconds = {"per iteration": [], "once a fit": []}
        iterations = {}
        for repeat in range(repeats):
            order = list(seconds) if repeat % 2 == 0 else list(seconds)[::-1]
            for name in order:
                cache.clear()
                if name == "once a fit":
                    Experts._dual_coefficients = cached_dual(cache)
                model = MoERegressor(n_experts=2, n_init=1, random_state=0)
                begin = time.perf_counter()
                try:
                    model.fit(X, y)
                finally:
                    Experts._dual_coefficients = library
                seconds[name].append(time.perf_counter() - begin)
                iterations[name] = model.n_iter_
        every, once = min(seconds["per iteration"]), min(seconds["once a fit"])
        print(
            f"| {n} | {n_features} | {every:.3f} | {once:.3f} | {every / once:.2f} "
            f"| {iterations['per iteration']} / {iterations['once a fit']} |",
            flush=True,
        )


GATE_SOLVES = {"primal": float("inf"), "kernel": softmax.KERNEL_RATIO}


def gate_fits(estimator, n, n_features, n_experts, repeats):
    """Best-of-``repeats`` fits with the gate's Newton step in each form."""
    X, y = regimes(2 * n, n_features)
    if estimator is MoEClassifier:
        y = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    X, X_test, y = X[:n], X[n:], y[:n]
    default = softmax.KERNEL_RATIO
    seconds = {name: [] for name in GATE_SOLVES}
    models = {}
    for repeat in range(repeats):
        order = list(GATE_SOLVES) if repeat % 2 == 0 else list(GATE_SOLVES)[::-1]
        for name in order:
            model = estimator(n_experts=n_experts, n_init=1, random_state=0)
            softmax.KERNEL_RATIO = GATE_SOLVES[name]
            try:
                start = time.perf_counter()
                model.fit(X, y)
                seconds[name].append(time.perf_counter() - start)
            finally:
                softmax.KERNEL_RATIO = default
            models[name] = model
    primal, kernel = models["primal"], models["kernel"]
    if estimator is MoEClassifier:
        dpred = np.max(
            np.abs(primal.predict_proba(X_test) - kernel.predict_proba(X_test))
        )
    else:
        dpred = np.max(np.abs(primal.predict(X_test) - kernel.predict(X_test)))
        dpred /= np.std(y)
    dcoef = np.max(np.abs(primal.gate_coef_ - kernel.gate_coef_))
    return {
        "primal s": min(seconds["primal"]),
        "kernel s": min(seconds["kernel"]),
        "iterations": f"{primal.n_iter_} / {kernel.n_iter_}",
        "dloglik": abs(primal.log_likelihood_ - kernel.log_likelihood_) / n,
        "dpred": dpred,
        "dcoef": dcoef / np.max(np.abs(primal.gate_coef_)),
    }


def gate_table(repeats):
    n = 200
    print(f"The gate's Newton step, primal / kernel form, n={n}, best of {repeats}\n")
    print(
        "| model | K | D | gate step | primal s | kernel s | primal / kernel "
        "| iterations (p / k) | dloglik / n | max dpred | max dcoef |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    cases = [(MoERegressor, 2), (MoERegressor, 4), (MoEClassifier, 2)]
    for estimator, n_experts in cases:
        for n_features in (300, 500, 1000, 2000):
            newton = n_experts * (n_features + 1) <= softmax.NEWTON_MAX_COEF
            step = "Newton" if newton else "CG"
            row = gate_fits(estimator, n, n_features, n_experts, repeats)
            print(
                f"| {estimator.__name__} | {n_experts} | {n_features} | {step} "
                f"| {row['primal s']:.3f} | {row['kernel s']:.3f} "
                f"| {row['primal s'] / row['kernel s']:.2f} | {row['iterations']} "
                f"| {row['dloglik']:.1e} | {row['dpred']:.1e} | {row['dcoef']:.1e} |",
                flush=True,
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=100, D 75 to 600")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--kernel-cache", action="store_true", help="the what-if of a fit's kernel"
    )
    parser.add_argument(
        "--gate", action="store_true", help="the gate's Newton step, primal / kernel"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.gate:
        gate_table(args.repeats)
        return
    if args.kernel_cache:
        kernel_cache(args.repeats)
        return
    n, sizes = (200, (150, 300, 1500, 3000))
    if args.quick:
        n, sizes = 100, (75, 150, 300, 600)
    print(f"MoERegressor(n_experts=2, n_init=1), n={n}, best of {args.repeats}\n")
    print(
        "| D | default | primal s | dual s | primal / dual | iterations (p / d) "
        "| dloglik / n | max dpred / std(y) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n_features in sizes:
        default = "dual" if n_features > DEFAULT_RATIO * n else "primal"
        row = time_fits(n, n_features, args.repeats)
        print(
            f"| {n_features} | {default} | {row['primal s']:.3f} | {row['dual s']:.3f} "
            f"| {row['primal s'] / row['dual s']:.2f} | {row['iterations']} "
            f"| {row['dloglik']:.1e} | {row['dpred']:.1e} |",
            flush=True,
        )
    print(f"\nOne M-step, K=2, n={n}: max_k max_j |b - b_lstsq| / max_j |b_lstsq|\n")
    print(
        "| D | alpha | primal float64 | dual float64 | primal float32 | dual float32 |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for n_features in sizes:
        problem = m_step_problem(n, n_features)
        for alpha in (1e-6, 1e-2):
            row = m_step_errors(*problem, alpha, reference(*problem, alpha))
            print(
                f"| {n_features} | {alpha:g} | {row['primal float64']:.1e} "
                f"| {row['dual float64']:.1e} | {row['primal float32']:.1e} "
                f"| {row['dual float32']:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
