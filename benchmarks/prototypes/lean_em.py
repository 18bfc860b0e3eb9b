"""A lean NumPy EM iteration for MoERegressor's model, as evidence for issue 6.

Not part of skmoe and not imported by it: the same model and per-sample penalized
objective (softmax gate, Gaussian linear experts, L2 ``alpha`` on non-intercept
coefficients, the expert penalty scaled by 1/s2_k as in skmoe) written with the
habits of design.md section 2, to measure how close to the floor an iteration can
get in plain NumPy and how many iterations each gate update needs:

- one GEMM ``[V | B]^T @ X~`` gives gate logits and expert means together;
- the E-step takes two exponentials of the (K, n) array (gate softmax and
  responsibilities) and no logarithm of a (K, n) array;
- the expert M-step forms the K weighted Gram matrices with BLAS and gets each
  expert's residual sum of squares from the sufficient statistics
  (``sum r y^2 - 2 b.h + b^T G b``) instead of another pass over the samples;
- (K, n) work arrays are allocated once per fit and reused with ``out=``.

Gate updates compared (one per EM iteration, each a generalized-EM ascent step):

``bohning``
    skmoe's Böhning (MM) direction with the step doubled while the gate objective
    rises, but each trial costs one exp over (K, n) and a reduction: the linear
    part of ``sum r log softmax(a + t m)`` is computed once, so a trial only needs
    ``logsumexp_k(a + t m)``.
``newton``
    block-diagonal Newton: for each expert the d x d Hessian block
    ``X~^T diag(w g_k (1 - g_k)) X~ + alpha P`` (K Gram matrices, the cost of the
    expert M-step), the direction re-centered over experts, then the same cheap
    step-length search (halving when the full step does not rise, doubling while
    it does). The curvature shrinks where the gate saturates, so steps grow where
    the Böhning bound (fixed curvature 1/2) stalls.

    python benchmarks/prototypes/lean_em.py --n 100000 --D 5 --K 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from scipy.linalg import cho_factor, cho_solve

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    floor_seconds,
    make_switching,
    quiet_fit,
    timed,
)

from skmoe import MoERegressor  # noqa: E402

LOG_2PI = np.log(2 * np.pi)
MAX_DOUBLINGS = 6


def _lse(T, col):
    """logsumexp over axis 0 of T (K, n), destroying T; result in ``col``."""
    np.max(T, axis=0, out=col)
    np.subtract(T, col, out=T)
    np.exp(T, out=T)
    out = np.log(np.sum(T, axis=0))
    return out + col


def _line_search(logits, moved, WR, s, V, step, alpha, T, col):
    """t maximizing (roughly) the gate objective along ``step`` (cheap trials)."""
    base_lin = float(np.vdot(WR, logits))
    slope_lin = float(np.vdot(WR, moved))

    def gain(t):
        np.multiply(moved, t, out=T)
        np.add(T, logits, out=T)
        lse = _lse(T, col)
        pen = 0.5 * alpha * float(((V[1:] + t * step[1:]) ** 2).sum())
        return base_lin + t * slope_lin - float(s @ lse) - pen

    g0 = gain(0.0)
    t, best = 1.0, gain(1.0)
    while not best > g0 and t > 1e-4:  # halve (only needed for Newton steps)
        t *= 0.5
        best = gain(t)
    if not best > g0:
        return 0.0
    for _ in range(MAX_DOUBLINGS):
        trial = gain(2 * t)
        if not trial > best:
            break
        t, best = 2 * t, trial
    return t


def lean_fit(
    X,
    y,
    n_experts,
    max_iter,
    *,
    gate_update="bohning",
    alpha=1e-4,
    tol=0.0,
    seed=0,
    variance_floor_rel=1e-6,
):
    n, D = X.shape
    K, d = n_experts, D + 1
    design = np.empty((d, n))
    design[0] = 1.0
    design[1:] = X.T
    w = np.full(n, 1.0 / n)  # normalized sample weights
    mask = np.ones(d)
    mask[0] = 0.0
    penalty = alpha * np.diag(mask)
    bound_chol = cho_factor(0.5 * (design * w) @ design.T + penalty)
    variance_floor = variance_floor_rel * float(np.var(y))
    y2 = y * y

    Z = np.empty((2 * K, n))  # gate logits and expert means
    A = np.empty((K, n))
    G = np.empty((K, n))
    R = np.empty((K, n))
    WR = np.empty((K, n))
    T = np.empty((K, n))
    col = np.empty(n)
    tmp = np.empty((d, n))

    rng = np.random.RandomState(seed)
    R.fill(0.1 / (K - 1))
    R[rng.randint(K, size=n), np.arange(n)] = 0.9
    V = np.zeros((d, K))
    B = np.zeros((d, K))
    s2 = np.ones(K)

    def weighted_grams(weights):
        gram = np.empty((K, d, d))
        for k in range(K):
            np.multiply(design, weights[k], out=tmp)
            gram[k] = tmp @ design.T
        return gram

    def experts_m_step():
        gram = weighted_grams(WR)
        h = (WR * y) @ design.T  # (K, d)
        syy = WR @ y2
        mass = WR.sum(axis=1)
        coef = np.linalg.solve(gram + penalty, h[:, :, None])[:, :, 0]
        ssr = (
            syy
            - 2 * np.einsum("kd,kd->k", coef, h)
            + np.einsum("kd,kde,ke->k", coef, gram, coef)
        )
        ssr = np.maximum(ssr, 0) + alpha * (coef[:, 1:] ** 2).sum(axis=1)
        return coef.T, np.maximum(ssr / np.maximum(mass, 1e-300), variance_floor)

    def gate_m_step(logits, n_steps=1):
        nonlocal V
        s = WR.sum(axis=0)
        for step_index in range(n_steps):
            if step_index > 0:
                logits = V.T @ design
                np.subtract(logits, logits.max(axis=0), out=G)
                np.exp(G, out=G)
                np.divide(G, G.sum(axis=0), out=G)
            np.multiply(G, s, out=T)
            np.subtract(WR, T, out=T)
            grad = design @ T.T - alpha * mask[:, None] * V
            if gate_update == "newton":
                np.multiply(G, 1 - G, out=T)
                np.multiply(T, s, out=T)
                hess = weighted_grams(T) + penalty
                hess += 1e-10 * np.trace(hess, axis1=1, axis2=2)[:, None, None] / d
                step = np.linalg.solve(hess, grad.T[:, :, None])[:, :, 0].T
            else:
                step = cho_solve(bound_chol, grad)
            step -= step.mean(axis=1, keepdims=True)
            moved = step.T @ design
            t = _line_search(logits, moved, WR, s, V, step, alpha, T, col)
            V = V + t * step

    def e_step():
        np.matmul(np.hstack([V, B]).T, design, out=Z)
        logits, means = Z[:K], Z[K:]
        np.max(logits, axis=0, out=col)
        np.subtract(logits, col, out=G)
        np.exp(G, out=G)
        gsum = np.sum(G, axis=0)
        np.divide(G, gsum, out=G)
        log_gate_norm = float(np.log(gsum).sum() + col.sum())
        np.subtract(y, means, out=A)
        np.multiply(A, A, out=A)
        np.multiply(A, (-0.5 / s2)[:, None], out=A)
        np.add(A, (-0.5 * (LOG_2PI + np.log(s2)))[:, None], out=A)
        np.add(A, logits, out=A)
        np.max(A, axis=0, out=col)
        np.subtract(A, col, out=R)
        np.exp(R, out=R)
        rsum = np.sum(R, axis=0)
        np.divide(R, rsum, out=R)
        np.multiply(R, w, out=WR)
        return float(np.log(rsum).sum() + col.sum()) - log_gate_norm

    def objective(total):
        return (
            total / n
            - 0.5 * alpha * (V[1:] ** 2).sum()
            - 0.5 * alpha * ((B[1:] ** 2) / s2).sum()
        )

    # initial M-step from R, the gate starting uniform (as skmoe: 5 gate steps)
    np.multiply(R, w, out=WR)
    B, s2 = experts_m_step()
    G.fill(1.0 / K)
    gate_m_step(np.zeros((K, n)), n_steps=5)
    total = e_step()
    history = [objective(total)]
    for _ in range(max_iter):
        gate_m_step(Z[:K].copy())
        B, s2 = experts_m_step()
        total = e_step()
        history.append(objective(total))
        if abs(history[-1] - history[-2]) <= tol * max(1.0, abs(history[-1])):
            break
    return total, history


def skmoe_model(K, max_iter, tol=0.0, seed=0):
    return MoERegressor(
        n_experts=K,
        n_init=1,
        init_params="random",
        tol=tol,
        max_iter=max_iter,
        random_state=seed,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--D", type=int, default=5)
    parser.add_argument("--K", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-convergence", action="store_true")
    args = parser.parse_args()
    X, y = make_switching(args.n, args.D, args.K)
    K = args.K
    extra = 20 if args.n * K <= 500_000 else 8
    rows = []
    for _ in range(args.repeats):
        floor = min(floor_seconds(X, K, 3), floor_seconds(X, K, 3, threads=1))
        row = [floor]
        for update in ("bohning", "newton"):
            row.append(
                (
                    timed(lean_fit, X, y, K, 2 + extra, gate_update=update)
                    - timed(lean_fit, X, y, K, 2, gate_update=update)
                )
                / extra
            )
        a, b = skmoe_model(K, 2), skmoe_model(K, 2 + extra)
        row.append((timed(quiet_fit, b, X, y) - timed(quiet_fit, a, X, y)) / extra)
        rows.append(row)
    print(
        f"n={args.n} D={args.D} K={K}; per iteration, medians of {args.repeats} "
        "repeats (ratios taken per repeat)"
    )
    print("| implementation | ms / iteration | x best floor |")
    print("|---|---|---|")
    floor = statistics.median(r[0] for r in rows)
    print(f"| floor (best of default / 1 BLAS thread) | {1e3 * floor:.2f} | 1.00 |")
    names = [
        "lean, Böhning + cheap doubling",
        "lean, block Newton + line search",
        "skmoe (this working tree)",
    ]
    for i, name in enumerate(names, start=1):
        value = statistics.median(r[i] for r in rows)
        ratio = statistics.median(r[i] / r[0] for r in rows)
        print(f"| {name} | {1e3 * value:.2f} | {ratio:.2f} |")
    if args.no_convergence:
        return
    print(
        "\nTo convergence (tol=1e-5 relative on the per-sample objective, same "
        "random-partition start rule, seeds 0 and 1)"
    )
    print("| implementation | seconds | iterations | log-likelihood | decreases |")
    print("|---|---|---|---|---|")
    for seed in (0, 1):
        for update in ("bohning", "newton"):
            start = time.perf_counter()
            total, history = lean_fit(
                X, y, K, 500, gate_update=update, tol=1e-5, seed=seed
            )
            seconds = time.perf_counter() - start
            drops = sum(
                b < a - 1e-12 for a, b in zip(history, history[1:], strict=False)
            )
            print(
                f"| lean {update} (seed {seed}) | {seconds:.2f} | "
                f"{len(history) - 1} | {total:.1f} | {drops} |"
            )
        model = skmoe_model(K, 500, tol=1e-5, seed=seed)
        seconds = timed(quiet_fit, model, X, y)
        drops = sum(
            b < a - 1e-12
            for a, b in zip(
                model.objective_history_, model.objective_history_[1:], strict=False
            )
        )
        print(
            f"| skmoe (seed {seed}) | {seconds:.2f} | {model.n_iter_} | "
            f"{model.log_likelihood_:.1f} | {drops} |"
        )


if __name__ == "__main__":
    main()
