"""Fits on small data, as a grid search over ``n_experts`` makes them.

A typical search fits ``make_pipeline(StandardScaler(), MoERegressor())`` (or
``MoEClassifier``) at ``n_experts`` 1 to 5 on 500 to 5000 rows of 2 to 20
features, where a fit's fixed costs (validation, the start, the checks after
the fit) and EM's first iterations weigh more than its arithmetic. This
script times the fits such a search makes, without the search and the
scaler: each estimator alone at each ``--experts``, on standard normal
features (as a scaler leaves them) of 1000 x 5 and 5000 x 10. Each
fit's time is given as a ratio to ``Ridge`` (``LogisticRegression`` for the
classifier) on the same data, with the defaults otherwise
(``random_state=0``): medians of ``--repeats`` interleaved repeats (each
repeat fits the baseline and every skmoe model once), in one process. Run
with ``PYTHONPATH`` at another checkout to compare its ratios.

    OMP_NUM_THREADS=1 python benchmarks/small_fits.py [--repeats 7] [--experts 1 2 3]
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from skmoe import MoEClassifier, MoERegressor

SIZES = [(1000, 5), (5000, 10)]


def data(n, d, classify, seed=0):
    """Two regimes split on the first feature (y linear in X in each), or
    labels of a logistic model with an interaction."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    if classify:
        logit = X[:, 0] + 0.5 * X[:, 0] * X[:, 1]
        return X, (logit + rng.randn(n) > 0).astype(int)
    y = X @ rng.randn(d) + np.where(X[:, 0] > 0, 2.0, -1.0) + 0.5 * rng.randn(n)
    return X, y


def seconds(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--experts", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    # the fits' warnings (held noise, an unconverged restart) are not measured
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(
        f"{'model':>14} {'n':>6} {'D':>3} {'K':>3} {'base ms':>8} {'skmoe ms':>9} "
        f"{'ratio':>7} {'n_iter_':>7}"
    )
    for n, d in SIZES:
        for classify in (False, True):
            X, y = data(n, d, classify)
            base = LogisticRegression() if classify else Ridge()
            model = MoEClassifier if classify else MoERegressor
            fitted = {k: model(n_experts=k, random_state=0) for k in args.experts}
            times = {key: [] for key in ["base", *args.experts]}
            for estimator in [base, *fitted.values()]:  # (first calls' costs)
                estimator.fit(X, y)
            for _ in range(args.repeats):
                times["base"].append(seconds(base, X, y))
                for k, estimator in fitted.items():
                    times[k].append(seconds(estimator, X, y))
            floor = statistics.median(times["base"])
            for k, estimator in fitted.items():
                took = statistics.median(times[k])
                print(
                    f"{model.__name__:>14} {n:>6} {d:>3} {k:>3} {1e3 * floor:>8.2f} "
                    f"{1e3 * took:>9.2f} {took / floor:>7.2f} "
                    f"{estimator.n_iter_:>7}"
                )


if __name__ == "__main__":
    main()
