"""Fits with experts that are scikit-learn estimators, with and without the
remembered predictions (``skmoe.experts.estimator.REMEMBERED_SETS``).

EM asks for the same fitted estimator's predictions on the same design several
times: the M-step's variances (or dispersions), the E-step, ``keep_better``
and a restart's checks. Each call of an estimator's ``predict`` pays its
input validation, which on small data costs more than the prediction. This
script fits the models of ``examples/09_estimator_experts.ipynb`` (and a
classifier, Poisson and Gamma model) with ``REMEMBERED_SETS`` 0 (every
prediction computed) and 2 (the default), alternated in one process; it
prints the median over ``--repeats`` of the ratio of the two fits' times, the
number of ``predict``/``predict_proba`` calls of each, and checks that the
fitted attributes and predictions are the same bit for bit.

    OMP_NUM_THREADS=1 python benchmarks/estimator_predictions.py [--repeats 5]
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import skmoe.experts.estimator as estimator_module
from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor


def steps(n=1500, seed=0):
    """The step data of examples/09 (its training rows)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    left = np.select([X[:, 0] < -1, X[:, 0] < 1], [2.0, -1.0], 4.0)
    right = np.where(X[:, 0] < 0, 6.0, 0.0)
    return X, np.where(X[:, 1] < 0, left, right) + 0.1 * rng.normal(size=n)


def workloads():
    X, y = steps()
    X_wine, y_wine = load_wine(return_X_y=True)
    X_wine = (X_wine - X_wine.mean(axis=0)) / X_wine.std(axis=0)
    rng = np.random.RandomState(1)
    X_count = rng.standard_normal((800, 3))
    y_count = rng.poisson(np.exp(0.5 + 0.6 * (X_count[:, 0] > 0)))

    def tree(depth):
        return DecisionTreeRegressor(max_depth=depth)

    return {
        "K=2 depth-2 trees, n_init=8": lambda: MoERegressor(
            2, expert_estimator=tree(2), n_init=8, random_state=0
        ).fit(X, y),
        'n_experts="auto", n_init=2': lambda: MoERegressor(
            expert_estimator=tree(2), n_init=2, random_state=0
        ).fit(X, y),
        "GridSearchCV (K, depth), cv=3": lambda: (
            GridSearchCV(
                MoERegressor(2, expert_estimator=tree(None), n_init=2, random_state=0),
                {"n_experts": [1, 2, 3], "expert_estimator__max_depth": [1, 2]},
                cv=3,
            )
            .fit(X, y)
            .best_estimator_
        ),
        "classifier, wine, K=3 trees": lambda: MoEClassifier(
            3,
            expert_estimator=DecisionTreeClassifier(max_depth=2),
            random_state=0,
        ).fit(X_wine, y_wine),
        "Poisson, K=2 Poisson trees": lambda: MoEPoissonRegressor(
            2,
            expert_estimator=DecisionTreeRegressor(max_depth=2, criterion="poisson"),
            random_state=0,
        ).fit(X_count, y_count),
    }


def fitted(model):
    """The model's numeric fitted attributes."""
    return {
        name: np.asarray(value)
        for name, value in vars(model).items()
        if name.endswith("_")
        and isinstance(value, np.ndarray | float | int)
        and np.asarray(value).dtype != object
    }


def counted_fit(make):
    """Seconds of ``make()``, its model and its number of estimator predictions
    (``predict`` or ``predict_proba`` calls)."""
    calls = [0]
    family = estimator_module.EstimatorExperts
    outputs = family._outputs

    def counting(self, design, estimators, output):
        def counted(estimator, X):
            calls[0] += 1
            return output(estimator, X)

        return outputs(self, design, estimators, counted)

    family._outputs = counting
    try:
        start = time.perf_counter()
        model = make()
        seconds = time.perf_counter() - start
    finally:
        family._outputs = outputs
    return seconds, model, calls[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    default = estimator_module.REMEMBERED_SETS
    print(
        "| workload | fit s (all) | fit s (remembered) | all / remembered | predicts |"
    )
    print("| --- | ---: | ---: | ---: | --- |")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, make in workloads().items():
            times = {0: [], default: []}
            calls, models = {}, {}
            for _ in range(args.repeats):
                for sets in (0, default):
                    estimator_module.REMEMBERED_SETS = sets
                    try:
                        seconds, model, n_calls = counted_fit(make)
                    finally:
                        estimator_module.REMEMBERED_SETS = default
                    times[sets].append(seconds)
                    calls[sets], models[sets] = n_calls, model
            old, new = fitted(models[0]), fitted(models[default])
            assert old.keys() == new.keys(), name
            for key in old:
                assert np.array_equal(old[key], new[key], equal_nan=True), (name, key)
            ratio = statistics.median(
                a / b for a, b in zip(times[0], times[default], strict=True)
            )
            print(
                f"| {name} | {statistics.median(times[0]):.2f} | "
                f"{statistics.median(times[default]):.2f} | {ratio:.2f} | "
                f"{calls[0]} -> {calls[default]} |"
            )


if __name__ == "__main__":
    main()
