"""What each lever of the recipe "Faster fits" saves.

    python benchmarks/faster_fits.py

Seconds of one fit (the median of three runs, one after another in this process)
of ``MoERegressor`` on 5000 rows of the demo's regimes and of
``MoENegativeBinomialRegressor`` on 3000 claim-like counts of two regimes, with
their defaults (``n_experts="auto"``, ``n_init=4``) and then: the number of
experts fixed (3 and 2), ``n_init=1`` too, and ``acceleration="squarem"`` too;
each with its final penalized objective in total nats. Then, before
``std_errors``: a cold refit at ``tol=1e-8`` against a warm one from the
default fit (``warm_start=True``). Takes about a minute on 2 cores.
"""

import copy
import time
import warnings

import numpy as np

from skmoe import MoENegativeBinomialRegressor, MoERegressor
from skmoe._demo import make_regimes


def counts(n=3000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3))
    mean = np.exp(1 + np.where(X[:, 0] > 0, X[:, 1], -0.5 * X[:, 2]))
    return X, rng.negative_binomial(2, 2 / (2 + mean))


def _median_seconds(make, X, y, repeats=3):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), model


def levers(Estimator, n_experts, X, y):
    variants = {
        "defaults (n_experts='auto', n_init=4)": {},
        f"n_experts={n_experts}": {"n_experts": n_experts},
        f"n_experts={n_experts}, n_init=1": {"n_experts": n_experts, "n_init": 1},
        f"n_experts={n_experts}, n_init=1, acceleration='squarem'": {
            "n_experts": n_experts,
            "n_init": 1,
            "acceleration": "squarem",
        },
    }
    base = None
    print(f"\n{Estimator.__name__}, {len(y)} rows")
    for name, options in variants.items():
        params = {"n_experts": "auto", "random_state": 0, **options}
        seconds, model = _median_seconds(lambda p=params: Estimator(**p), X, y)
        base = base or seconds
        objective = model.objective_history_[-1] * len(y)
        print(
            f"  {name}: {seconds:.3f} s ({base / seconds:.1f}x), "
            f"objective {objective:.3f}"
        )


def before_std_errors(X, y):
    fitted = MoERegressor(3, n_init=1, random_state=0).fit(X, y)
    print(f"\nbefore std_errors (MoERegressor(3), {len(y)} rows, tol=1e-8)")
    variants = {
        "cold refit": lambda: MoERegressor(3, n_init=1, random_state=0, tol=1e-8),
        "warm refit": lambda: copy.deepcopy(fitted).set_params(
            warm_start=True, tol=1e-8
        ),
    }
    for name, make in variants.items():
        seconds, model = _median_seconds(make, X, y)
        print(
            f"  {name}: {seconds:.3f} s, objective "
            f"{model.objective_history_[-1] * len(y):.4f}, n_iter_ {model.n_iter_}"
        )


def main():
    warnings.simplefilter("ignore")
    X, y = make_regimes(5000, random_state=0)
    levers(MoERegressor, 3, X, y)
    Xc, yc = counts()
    levers(MoENegativeBinomialRegressor, 2, Xc, yc)
    before_std_errors(X, y)


if __name__ == "__main__":
    main()
