"""Accuracy against peers.

Classification follows the neural-trees protocol: 5-fold StratifiedKFold
(shuffled, one split per seed) of a ``StandardScaler`` + model pipeline, accuracy
averaged over folds and then over ``N_SEEDS`` seeds. Regression: 5-fold KFold
R^2, same averaging. Every model runs with its defaults except where a default
does not converge (iteration caps raised) or is degenerate (the GP's fixed
noise-free kernel); skmoe runs with its own defaults.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.ensemble import HistGradientBoostingClassifier as HGBC
from sklearn.ensemble import HistGradientBoostingRegressor as HGBR
from sklearn.ensemble import RandomForestClassifier
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skmoe import MoEClassifier, MoERegressor
from skmoe._demo import make_regimes

from .common import N_SEEDS, QUICK

CLASSIFICATION_SETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}
REGRESSION_SETS = {
    "diabetes": load_diabetes,
    "regimes": lambda return_X_y: make_regimes(n_samples=1000, random_state=0),
}


def classifiers(seed):
    return {
        "MoEClassifier()": MoEClassifier(random_state=seed),
        "LogisticRegression": LogisticRegression(max_iter=5000),
        "SVC": SVC(),
        "RandomForest": RandomForestClassifier(random_state=seed),
        "HistGradientBoosting": HGBC(random_state=seed),
        "MLP": MLPClassifier(max_iter=2000, random_state=seed),
    }


def regressors(seed):
    kernel = ConstantKernel() * RBF() + WhiteKernel()
    return {
        "MoERegressor()": MoERegressor(random_state=seed),
        "LinearRegression": LinearRegression(),
        "HistGradientBoosting": HGBR(random_state=seed),
        "GaussianProcess": GaussianProcessRegressor(
            kernel, normalize_y=True, random_state=seed
        ),
        "MLP": MLPRegressor(max_iter=2000, random_state=seed),
    }


@functools.cache
def cv_protocol(task: str, dataset: str, model: str, n_seeds: int = N_SEEDS):
    """Mean CV score over seeds, and fit seconds (total and per fit)."""
    sets, factory, splitter, scoring = {
        "classification": (CLASSIFICATION_SETS, classifiers, StratifiedKFold, None),
        "regression": (REGRESSION_SETS, regressors, KFold, "r2"),
    }[task]
    X, y = sets[dataset](return_X_y=True)
    scores, fit_seconds, n_fits = [], 0.0, 0
    start = time.perf_counter()
    for seed in range(n_seeds):
        pipe = make_pipeline(StandardScaler(), factory(seed)[model])
        cv = splitter(n_splits=5, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = cross_validate(pipe, X, y, cv=cv, scoring=scoring)
        scores.append(np.mean(out["test_score"]))
        fit_seconds += float(np.sum(out["fit_time"]))
        n_fits += len(out["fit_time"])
    return {
        "score": float(np.mean(scores)),
        "score_std_over_seeds": float(np.std(scores)),
        "fit_seconds": fit_seconds,
        "seconds_per_fit": fit_seconds / n_fits,
        "wall_seconds": time.perf_counter() - start,
        "n_seeds": n_seeds,
    }


class ClassifierAccuracy:
    """neural-trees protocol: mean 5-fold stratified CV accuracy over seeds."""

    params = (list(CLASSIFICATION_SETS), list(classifiers(0)))
    param_names = ["dataset", "model"]
    timeout = 1800

    def track_accuracy(self, dataset, model):
        return cv_protocol("classification", dataset, model)["score"]

    def track_fit_seconds(self, dataset, model):
        return cv_protocol("classification", dataset, model)["fit_seconds"]

    track_accuracy.unit = "accuracy"
    track_fit_seconds.unit = "seconds (all fits)"


if QUICK:  # digits takes minutes per seed for some models: full mode only
    ClassifierAccuracy.params = (
        ["iris", "wine", "breast_cancer"],
        ClassifierAccuracy.params[1],
    )


class RegressorAccuracy:
    """Mean 5-fold CV R^2 over seeds."""

    params = (list(REGRESSION_SETS), list(regressors(0)))
    param_names = ["dataset", "model"]
    timeout = 1800

    def track_r2(self, dataset, model):
        return cv_protocol("regression", dataset, model)["score"]

    def track_fit_seconds(self, dataset, model):
        return cv_protocol("regression", dataset, model)["fit_seconds"]

    track_r2.unit = "R^2"
    track_fit_seconds.unit = "seconds (all fits)"
