"""One EM (or gradient) restart, module-level so that joblib can run it anywhere."""

from __future__ import annotations

import time

import numpy as np

from ._backend import as_compute, blas_threads, is_numpy_array
from ._em import FitResult
from ._init import initial_responsibilities
from ._nesting import FLAT_ITER, nested_start
from ._solvers import SolverOptions, solve


def _fit_restart(
    problem,
    X,
    Y,
    sample_weight,
    n_experts,
    method,
    seed,
    index,
    options: SolverOptions,
    given=None,
) -> FitResult:
    """One restart (module-level so that joblib can run it in another process).

    ``options`` carries the solver settings (``max_iter``, ``tol`` and
    ``verbose`` among them). ``given``: the restart's initial
    responsibilities (n_samples, n_experts), ``fit``'s
    ``init_responsibilities``, in place of ``method``'s.
    """
    start = time.perf_counter()
    with blas_threads(problem.design):
        result = _run_restart(
            problem,
            X,
            Y,
            sample_weight,
            n_experts,
            method,
            seed,
            options,
            given,
        )
    if options.verbose >= 1:
        print(f"Restart {index} ({method}): {summary(result, start, n_experts)}")
    return result


def summary(result: FitResult, start: float, n_experts: int | None = None) -> str:
    """A run's line for ``verbose=1``: convergence, iterations, log-likelihood
    and the time since ``start`` (a ``time.perf_counter()`` reading); where
    the run started with ``n_experts`` and ``prune_threshold`` removed some,
    how many are left (R flexmix's fits report the components left after
    ``minprior``; the restarts' numbers were otherwise seen only in the kept
    run's ``n_experts_``)."""
    status = "converged" if result.converged else "did not converge"
    line = (
        f"{status} after {result.n_iter} iterations, log-likelihood "
        f"{result.log_likelihood:.6g}, {time.perf_counter() - start:.2f}s"
    )
    left = int(result.gate_params["coef"].shape[1])
    if n_experts is not None and left < n_experts:
        line += f", {left} of {n_experts} experts left (prune_threshold)"
    return line


def _run_restart(
    problem, X, Y, sample_weight, n_experts, method, seed, options, given=None
):
    experts = problem.experts
    if given is not None:  # every expert's, the point masses' too
        resp = given
    else:
        weight = experts.start_weights(Y, sample_weight)
        resp = initial_responsibilities(
            X,
            # a random start reads no target (Student's t: a weighted sort)
            None if method == "random" else experts.start_target(Y, weight),
            weight,
            n_experts - experts.n_point_masses,  # k-means for the others
            method,
            np.random.RandomState(seed),
            problem.groups,
            one_thread=is_numpy_array(problem.design),
        )
        resp = experts.start_responsibilities(resp, Y)
    resp = as_compute(problem.xp, np.ascontiguousarray(resp.T), problem.design)
    nest = problem.gate.nesting(n_experts)
    if nest is not None and len(nest) > 2 and max(np.diff(nest)) > 1:
        # a hierarchical gate: which experts share a group (see _nesting)
        start = time.perf_counter()
        resp, flat = nested_start(
            problem,
            resp,
            nest,
            options.tol,
            np.random.RandomState(seed),
            options.max_iter,
        )
        if options.verbose >= 1:
            cap = min(FLAT_ITER, options.max_iter)
            print(
                f"  flat softmax start ({method}, at most {cap} iterations): "
                f"{summary(flat, start)}"
            )
    # (resp is not read again: EM's first E-step writes over it)
    return solve(
        problem,
        options,
        resp=resp,
        random_state=np.random.RandomState(seed),
        overwrite_resp=True,
    )
