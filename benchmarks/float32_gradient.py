"""How often float32 fits by ``solver="gradient"`` end unconverged.

``MoERegressor(n_experts=3, solver="gradient", n_init=1)`` on two linear regimes
of 200 rows (X in float32), one fit per seed: which fits end with a
ConvergenceWarning, after how many iterations, and the penalized objective per
sample beside EM's from the same seed. In float32 the objective's rounding can
stop L-BFGS's line search where EM's steps still gain.

    python benchmarks/float32_gradient.py [--seeds 20]
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skmoe import MoERegressor


def fit(solver, X, y, seed):
    model = MoERegressor(n_experts=3, solver=solver, n_init=1, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, warned


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    unconverged = []
    print("seed  gradient: n_iter  converged  warned  objective   EM objective")
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(200, 2))
        y = np.where(X[:, 0] > 0, 2 * X[:, 1] + 1, -X[:, 1]) + 0.3 * rng.normal(
            size=200
        )
        X = X.astype(np.float32)
        gradient, warned = fit("gradient", X, y, seed)
        em, _ = fit("em", X, y, seed)
        print(
            f"{seed:4d}  {gradient.n_iter_:16d}  {gradient.converged_!s:9}  "
            f"{warned!s:6}  {gradient.objective_history_[-1]:.6f}  "
            f"{em.objective_history_[-1]:.6f}"
        )
        if warned:
            unconverged.append((seed, gradient.n_iter_))
    print(f"ConvergenceWarning in {len(unconverged)} of {args.seeds}: {unconverged}")


if __name__ == "__main__":
    main()
