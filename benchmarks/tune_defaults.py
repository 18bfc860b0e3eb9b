"""Candidate default parameters of MoEClassifier / MoERegressor on the accuracy sets.

    python benchmarks/tune_defaults.py --task classification --sets iris wine \\
        --grid "n_experts=2,3 alpha=1e-4,1e-2" --seeds 1

Same protocol as ``bench_accuracy`` (StandardScaler + model, 5-fold (stratified)
CV, mean over seeds); prints accuracy or R^2, fit seconds for all fits, the mean
number of EM iterations of the kept run and the share of fits that converged.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.bench_accuracy import CLASSIFICATION_SETS, REGRESSION_SETS  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skmoe import MoEClassifier, MoERegressor  # noqa: E402


def _number(text):
    """A grid value: int, float, or a string such as ``auto``."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_grid(text):
    names, values = [], []
    for item in text.split():
        name, vals = item.split("=")
        names.append(name)
        values.append([_number(v) for v in vals.split(",")])
    return [
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)
    ]


def evaluate(task, dataset, params, n_seeds):
    sets = CLASSIFICATION_SETS if task == "classification" else REGRESSION_SETS
    X, y = sets[dataset](return_X_y=True)
    estimator = MoEClassifier if task == "classification" else MoERegressor
    splitter = StratifiedKFold if task == "classification" else KFold
    scores, iters, converged, seconds = [], [], [], 0.0
    for seed in range(n_seeds):
        cv = splitter(n_splits=5, shuffle=True, random_state=seed)
        fold_scores = []
        for train, test in cv.split(X, y):
            pipe = make_pipeline(
                StandardScaler(), estimator(random_state=seed, **params)
            )
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipe.fit(X[train], y[train])
            seconds += time.perf_counter() - start
            fold_scores.append(pipe.score(X[test], y[test]))
            iters.append(pipe[-1].n_iter_)
            converged.append(pipe[-1].converged_)
        scores.append(np.mean(fold_scores))
    return np.mean(scores), seconds, np.mean(iters), np.mean(converged)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--task", choices=["classification", "regression"], default="classification"
    )
    parser.add_argument("--sets", nargs="+", default=None)
    parser.add_argument("--grid", default="n_experts=3")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    sets = args.sets or list(
        CLASSIFICATION_SETS if args.task == "classification" else REGRESSION_SETS
    )
    print(
        f"| data set | parameters | score | fit s (all {5 * args.seeds} fits) "
        "| mean EM iterations | converged |"
    )
    print("|---|---|---|---|---|---|")
    for dataset in sets:
        for params in parse_grid(args.grid):
            score, seconds, iters, conv = evaluate(
                args.task, dataset, params, args.seeds
            )
            text = ", ".join(f"{k}={v}" for k, v in params.items())
            print(
                f"| {dataset} | {text} | {score:.4f} | {seconds:.1f} | "
                f"{iters:.0f} | {100 * conv:.0f}% |",
                flush=True,
            )


if __name__ == "__main__":
    main()
