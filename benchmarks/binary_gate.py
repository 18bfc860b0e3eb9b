"""Two-column Newton steps (a gate of two experts, binary logistic experts) by
the d x d system against the 2d x 2d one, whole fits paired in one process.

    python benchmarks/binary_gate.py [--repeats 2]

Fits each case with ``skmoe._multinomial.BINARY_STEP`` True (new: the d x d
binary-logistic step) and False (old: the centred 2d x 2d step), alternating
which goes first, and prints for each: experts and EM iterations of both, the
relative difference of the final objectives and of the scores, process CPU
seconds (best of ``--repeats``) and their ratio new/old; then the geometric
mean of the ratios. Cases: digits (10 classes: only the gate's step changes),
breast cancer and two moons (binary: the experts' steps too), each
standardized, MoEClassifier's defaults (two experts); switching regressions
(``benchmarks.common.make_switching``, two regimes, 5 features) at 2000 and
40000 rows (above ``HESSIAN_ROWS``: the Hessian from a subsample) with two
experts. BLAS is held to one thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_moons
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.common import make_switching  # noqa: E402

import skmoe._multinomial as multinomial  # noqa: E402
from skmoe import MoEClassifier, MoERegressor  # noqa: E402


def cases():
    for name, loader in (
        ("digits", load_digits),
        ("breast cancer", load_breast_cancer),
    ):
        X, y = loader(return_X_y=True)
        yield name, StandardScaler().fit_transform(X), y, MoEClassifier
    X, y = make_moons(2000, noise=0.2, random_state=0)
    yield "moons 2000", X, y, MoEClassifier
    for n in (2000, 40000):
        X, y = make_switching(n, 5, 2, seed=0)
        yield f"switching {n}", X, y, MoERegressor


def fit(estimator, X, y, binary):
    multinomial.BINARY_STEP = binary
    model = estimator(n_experts=2, random_state=0)
    start = time.process_time()
    model.fit(X, y)
    return time.process_time() - start, model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    saved = multinomial.BINARY_STEP
    ratios = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (name, X, y, estimator) in enumerate(cases()):
            seconds, models = {True: np.inf, False: np.inf}, {}
            for repeat in range(args.repeats):
                order = (True, False) if (i + repeat) % 2 else (False, True)
                for binary in order:
                    taken, models[binary] = fit(estimator, X, y, binary)
                    seconds[binary] = min(seconds[binary], taken)
            new, old = models[True], models[False]
            objective = [m.objective_history_[-1] for m in (old, new)]
            score = [m.score(X, y) for m in (old, new)]
            ratios.append(seconds[True] / seconds[False])
            print(
                f"{name:15s} K {old.n_experts_} {new.n_experts_}  "
                f"iterations {old.n_iter_} {new.n_iter_}  objective rel. diff "
                f"{(objective[1] - objective[0]) / abs(objective[0]):+.1e}  "
                f"score diff {score[1] - score[0]:+.1e}  CPU s old "
                f"{seconds[False]:.2f} new {seconds[True]:.2f}  "
                f"new/old {ratios[-1]:.3f}",
                flush=True,
            )
    multinomial.BINARY_STEP = saved
    print(f"geometric mean new/old {np.exp(np.mean(np.log(ratios))):.3f}")


if __name__ == "__main__":
    main()
