"""Milliseconds per EM iteration spent in each part of MoERegressor's loop.

    python benchmarks/iteration_parts.py --n 100000 --D 5 --K 4 --iters 30

Runs the pure EM pieces of skmoe (gate M-step, expert M-step, E-step, objective) on
switching-regression data from one random start, with one BLAS thread (as skmoe
runs below 1e7 design entries), and prints the mean time of each per iteration.
Quick to rerun around a change; compare within one process or run both trees
back to back, the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.common import make_switching  # noqa: E402

from skmoe._em import EMProblem, e_step, initial_params, objective  # noqa: E402
from skmoe._init import initial_responsibilities  # noqa: E402
from skmoe._math import design_matrix  # noqa: E402
from skmoe.experts import GaussianLinearExperts  # noqa: E402
from skmoe.gates import SoftmaxGate  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=float, default=1e5)
    parser.add_argument("--D", type=int, default=5)
    parser.add_argument("--K", type=int, default=4)
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    n, K = int(args.n), args.K
    X, y = make_switching(n, args.D, K, seed=0)
    weight = np.ones(n)
    problem = EMProblem(
        design_matrix(np, X),
        y,
        weight,
        SoftmaxGate(),
        GaussianLinearExperts(1e-6 * y.var()),
        1e-6,
    )
    resp = initial_responsibilities(X, y, weight, K, "random", np.random.RandomState(0))
    totals = dict.fromkeys(["gate M-step", "expert M-step", "E-step", "objective"], 0.0)
    with threadpool_limits(1):
        gate_params, expert_params = initial_params(
            problem, np.ascontiguousarray(resp.T)
        )
        _, resp, log_gate = e_step(problem, gate_params, expert_params)
        for _ in range(args.iters):
            weighted = problem.normalized_weight[None, :] * resp
            t0 = time.perf_counter()
            gate_params = problem.gate.m_step(
                np, problem.design, weighted, log_gate, gate_params, problem.alpha, None
            )
            t1 = time.perf_counter()
            expert_params = problem.experts.m_step(
                np, problem.design, problem.Y, weighted, expert_params, problem.alpha
            )
            t2 = time.perf_counter()
            log_norm, resp, log_gate = e_step(problem, gate_params, expert_params)
            t3 = time.perf_counter()
            objective(problem, log_norm, gate_params, expert_params)
            t4 = time.perf_counter()
            for key, seconds in zip(
                totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True
            ):
                totals[key] += seconds
    print(f"n={n}, D={args.D}, K={K}, {args.iters} iterations, ms per iteration:")
    for key, seconds in totals.items():
        print(f"  {key:14s} {1e3 * seconds / args.iters:8.2f}")
    print(f"  {'total':14s} {1e3 * sum(totals.values()) / args.iters:8.2f}")


if __name__ == "__main__":
    main()
