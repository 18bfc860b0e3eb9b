"""EM to convergence with the gate's Newton Hessian built from different samples.

    python benchmarks/bench_hessian_rows.py --n 100000 --D 20 --K 16 --init kmeans

Fits ``MoERegressor(n_experts=K, alpha=0, n_init=1, tol=1e-6)`` on switching-regression
data three times from the same start, patching skmoe's module constants at run time:
the Hessian from every sample, skmoe's rule (samples every problem is certain of left
out, then at most ``HESSIAN_ROWS`` evenly spaced ones), and truncated Newton-CG
(``NEWTON_MAX_COEF = 0``). Prints seconds, EM iterations and the final log-likelihood
(benchmarks/RESULTS.md, section 10).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.common import make_switching  # noqa: E402

import skmoe._multinomial as multinomial  # noqa: E402
import skmoe.gates.softmax as softmax  # noqa: E402
from skmoe import MoERegressor  # noqa: E402

VARIANTS = {
    "every sample": {"HESSIAN_ROWS": 10**15},
    "skmoe's rule": {},
    "Newton-CG": {"NEWTON_MAX_COEF": 0},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=float, default=1e5)
    parser.add_argument("--D", type=int, default=5)
    parser.add_argument("--K", type=int, default=4)
    parser.add_argument("--init", default="random", choices=["random", "kmeans"])
    parser.add_argument("--regimes", type=int, default=None, help="default: K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=500)
    args = parser.parse_args()
    regimes = args.regimes or args.K
    X, y = make_switching(int(args.n), args.D, regimes, seed=args.seed)
    saved = multinomial.HESSIAN_ROWS, softmax.NEWTON_MAX_COEF
    for label, patch in VARIANTS.items():
        multinomial.HESSIAN_ROWS = patch.get("HESSIAN_ROWS", saved[0])
        softmax.NEWTON_MAX_COEF = patch.get("NEWTON_MAX_COEF", saved[1])
        model = MoERegressor(
            n_experts=args.K,
            alpha=0.0,
            n_init=1,
            init_params=args.init,
            tol=1e-6,
            max_iter=args.max_iter,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.fit(X, y)
            seconds = time.perf_counter() - start
        print(
            f"{label:14s} {seconds:7.2f} s  {model.n_iter_:4d} iterations  "
            f"converged={model.converged_}  log-likelihood {model.log_likelihood_:.2f}",
            flush=True,
        )
    multinomial.HESSIAN_ROWS, softmax.NEWTON_MAX_COEF = saved


if __name__ == "__main__":
    main()
