"""Where an EM iteration of MoERegressor spends its time, and what-if variants.

    python benchmarks/profile_em.py --n 100000 --D 5 --K 4

1. cProfile of one fit (1 random restart, tol=0, fixed iterations): the
   cumulative time of the E-step, the gate M-step (and its step-doubling line
   search), the expert M-step and the objective, per EM iteration.
2. Variants that only change module constants of skmoe at run time (nothing in
   skmoe/ is edited): the gate's Newton step with its Hessian from every sample
   (``skmoe._multinomial.HESSIAN_ROWS`` unbounded), from at most 16384 uncertain
   samples (the default), and truncated Newton-CG
   (``skmoe.gates.softmax.NEWTON_MAX_COEF = 0``), each measured per iteration
   (difference of two fixed-iteration fits) and to convergence at the default tol,
   beside the floor measured in the same process.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.bench_speed import fixed_work_model  # noqa: E402
from benchmarks.common import floor_seconds, make_switching, quiet_fit, timed  # noqa: E402

import skmoe._multinomial as multinomial  # noqa: E402
import skmoe.gates.softmax as softmax  # noqa: E402
from skmoe import MoERegressor  # noqa: E402

PARTS = [
    ("E-step (e_step)", "_em.py", "e_step"),
    ("  gate log-softmax (log_gate, all callers)", "softmax.py", "log_gate"),
    ("  expert log-likelihood", "gaussian.py", "log_likelihood"),
    ("  logsumexp (all callers)", "_math.py", "logsumexp"),
    ("gate M-step (SoftmaxGate.m_step)", "softmax.py", "m_step"),
    ("  Newton direction", "_multinomial.py", "newton_direction"),
    ("  Newton-CG direction", "_multinomial.py", "newton_cg_direction"),
    ("  step halving", "_multinomial.py", "halving"),
    ("  solve_symmetric (all callers)", "_math.py", "solve_symmetric"),
    ("expert M-step (GaussianLinearExperts.m_step)", "gaussian.py", "m_step"),
    ("objective", "_em.py", "objective"),
    ("M-step wrapper (m_step, incl. both M-steps)", "_em.py", "m_step"),
    ("EM loop total (run_em, incl. first M-step)", "_em.py", "run_em"),
    ("initial responsibilities", "_init.py", "initial_responsibilities"),
]


def profile_split(X, y, K, iters):
    model = fixed_work_model(K, iters)
    profiler = cProfile.Profile()
    profiler.enable()
    quiet_fit(model, X, y)
    profiler.disable()
    stats = pstats.Stats(profiler)
    cum = {}
    for (filename, _, func), (_, ncalls, _, ct, _) in stats.stats.items():
        for label, file_suffix, name in PARTS:
            if func == name and filename.endswith(file_suffix):
                cum[label] = (cum.get(label, (0, 0.0))[0] + ncalls, ct)
    lines = [
        f"cProfile, n={X.shape[0]}, D={X.shape[1]}, K={K}, {iters} EM iterations "
        "(+1 initial M-step), 1 restart",
        "",
        "| part | calls | cumulative s | ms per iteration | share of loop |",
        "|---|---|---|---|---|",
    ]
    loop = cum.get("EM loop total (run_em, incl. first M-step)", (1, 1.0))[1]
    for label, _, _ in PARTS:
        if label in cum:
            calls, ct = cum[label]
            lines.append(
                f"| {label} | {calls} | {ct:.3f} | {1e3 * ct / iters:.2f} | "
                f"{100 * ct / loop:.0f}% |"
            )
    top = pstats.Stats(profiler)
    top.sort_stats("tottime")
    return "\n".join(lines), top


def per_iteration(X, y, K, extra=10, repeats=3):
    values = []
    for _ in range(repeats):
        a, b = fixed_work_model(K, 2), fixed_work_model(K, 2 + extra)
        values.append((timed(quiet_fit, b, X, y) - timed(quiet_fit, a, X, y)) / extra)
    return statistics.median(values)


def to_convergence(X, y, K, seeds=(0, 1)):
    out = []
    for seed in seeds:
        model = MoERegressor(
            n_experts=K, n_init=1, init_params="random", random_state=seed
        )
        seconds = timed(quiet_fit, model, X, y)
        out.append((seconds, model.n_iter_, model.log_likelihood_, model.converged_))
    return out


VARIANTS = [
    ("Newton, Hessian from every sample", 10**15, softmax.NEWTON_MAX_COEF),
    ("Newton, Hessian from <= HESSIAN_ROWS uncertain samples", None, None),
    ("truncated Newton-CG", None, 0),
]


def variants(X, y, K):
    floor = min(floor_seconds(X, K, 3), floor_seconds(X, K, 3, threads=1))
    lines = [
        "Variants (module constants patched at run time); "
        f"best floor {1e3 * floor:.2f} ms",
        "",
        "| gate step | ms / iteration | x floor | to convergence "
        "(seed 0; seed 1): seconds, iterations, log-likelihood |",
        "|---|---|---|---|",
    ]
    saved = multinomial.HESSIAN_ROWS, softmax.NEWTON_MAX_COEF
    try:
        for label, rows, max_coef in VARIANTS:
            multinomial.HESSIAN_ROWS = saved[0] if rows is None else rows
            softmax.NEWTON_MAX_COEF = saved[1] if max_coef is None else max_coef
            it = per_iteration(X, y, K)
            conv = to_convergence(X, y, K)
            conv_text = "; ".join(
                f"{s:.2f} s, {n} it, {ll:.1f}{'' if c else ' (not converged)'}"
                for s, n, ll, c in conv
            )
            lines.append(
                f"| {label} | {1e3 * it:.2f} | {it / floor:.2f} | {conv_text} |"
            )
    finally:
        multinomial.HESSIAN_ROWS, softmax.NEWTON_MAX_COEF = saved
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--D", type=int, default=5)
    parser.add_argument("--K", type=int, default=4)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--no-variants", action="store_true")
    args = parser.parse_args()
    X, y = make_switching(args.n, args.D, args.K)
    table, top = profile_split(X, y, args.K, args.iters)
    print(table + "\n")
    top.print_stats(15)
    if not args.no_variants:
        print(variants(X, y, args.K))


if __name__ == "__main__":
    main()
