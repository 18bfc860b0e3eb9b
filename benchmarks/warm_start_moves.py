"""How a warm start fares on features that moved, without the fallback.

Two regimes (y = -2x or 3x on either side of x = 0, 400 rows, 2 features
uniform on [-3, 3]), a classifier's labels and Poisson counts from them; each
model (2 experts, EM and L-BFGS) is fitted, then refitted with
``warm_start=True`` on X times a factor or X moved by some of its standard
deviations, with the check that falls back to a fresh fit switched off. Each
entry is the warm fit's score minus a fresh fit's on the same data (R^2,
accuracy or D^2; about 0 where continuing works). The limits of
``skmoe._warm_start`` (``WARM_SCALE_RATIO``, ``WARM_SHIFT_LIMIT``) come from
this table.

    python benchmarks/warm_start_moves.py [--seeds 3]
"""

import argparse
import copy
import warnings

import numpy as np

import skmoe._base
from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor

SCALES = (3, 10, 30, 100, 200)
SHIFTS = (0.5, 1, 1.5, 2, 3)


def data(seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(400, 2))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.3 * rng.randn(400)
    labels = (y > 2).astype(int) + (X[:, 1] > 1)
    rate = np.exp(np.where(X[:, 0] < 0, 0.5 * X[:, 0], 0.4 * X[:, 0]))
    return X, {
        MoERegressor: y,
        MoEClassifier: labels,
        MoEPoissonRegressor: rng.poisson(rate),
    }


def gap(base, Estimator, solver, X_new, target):
    """The warm refit's score on ``X_new`` minus a fresh fit's."""
    warm = copy.deepcopy(base).set_params(warm_start=True).fit(X_new, target)
    fresh = Estimator(n_experts=2, solver=solver, random_state=0).fit(X_new, target)
    return warm.score(X_new, target) - fresh.score(X_new, target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    skmoe._base._moved_features = lambda *args, **kwargs: None  # no fallback
    warnings.simplefilter("ignore")  # the scores tell
    header = [f"x{s:g}" for s in SCALES] + [f"+{s:g}sd" for s in SHIFTS]
    print(f"{'seed model solver':32s}" + "".join(f"{h:>10s}" for h in header))
    for seed in range(args.seeds):
        X, targets = data(seed)
        for Estimator, target in targets.items():
            for solver in ("em", "gradient"):
                base = Estimator(n_experts=2, solver=solver, random_state=0)
                base.fit(X, target)
                moved = [X * s for s in SCALES]
                moved += [X + s * X.std(axis=0) for s in SHIFTS]
                gaps = [gap(base, Estimator, solver, Xn, target) for Xn in moved]
                name = f"{seed} {Estimator.__name__} {solver}"
                print(f"{name:32s}" + "".join(f"{g:10.3g}" for g in gaps), flush=True)


if __name__ == "__main__":
    main()
