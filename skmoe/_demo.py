"""The main job: ``python -m skmoe demo``.

Fits skmoe beside scikit-learn's linear models on two problems it makes or that
scikit-learn bundles, and prints a table of test scores and fit times.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._classifier import MoEClassifier
from ._regressor import MoERegressor


def make_regimes(n_samples=3000, random_state=0):
    """Three linear regimes chosen by the input: no single line fits them.

    ``x`` is uniform on [-3, 3]^2; the regime is set by ``x0`` (below -1, between
    -1 and 1, above 1) and each regime has its own slope, intercept and noise.
    """
    rng = np.random.RandomState(random_state)
    X = rng.uniform(-3, 3, size=(n_samples, 2))
    regime = np.digitize(X[:, 0], [-1.0, 1.0])
    coef = np.array([[-3.0, 1.0], [0.5, -2.0], [2.5, 0.5]])
    intercept = np.array([-4.0, 1.0, -3.0])
    noise = np.array([0.3, 0.5, 0.2])
    y = (
        np.sum(X * coef[regime], axis=1)
        + intercept[regime]
        + noise[regime] * rng.standard_normal(n_samples)
    )
    return X, y


def _timed_fit(model, X, y, unconverged):
    """Fit and time ``model``; count EM runs that stopped at max_iter."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    unconverged.append(sum(issubclass(w.category, ConvergenceWarning) for w in caught))
    return time.perf_counter() - start


def run_demo(random_state=0, out=print):
    """Run both comparisons and print the table; return its rows."""
    rows, unconverged = [], []
    X, y = make_regimes(random_state=random_state)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=random_state
    )
    for name, model in [
        ("LinearRegression", make_pipeline(StandardScaler(), LinearRegression())),
        (
            "MoERegressor(n_experts=3)",
            make_pipeline(
                StandardScaler(), MoERegressor(n_experts=3, random_state=random_state)
            ),
        ),
    ]:
        seconds = _timed_fit(model, X_train, y_train, unconverged)
        rows.append(("regimes (R^2)", name, model.score(X_test, y_test), seconds))

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=random_state
    )
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    moe = GridSearchCV(
        make_pipeline(
            StandardScaler(),
            PCA(n_components=32, random_state=random_state),
            MoEClassifier(random_state=random_state, n_init=2),
        ),
        {"moeclassifier__n_experts": [1, 2, 4]},
        cv=3,
    )
    for name, model in [("LogisticRegression", logistic), ("MoEClassifier", moe)]:
        seconds = _timed_fit(model, X_train, y_train, unconverged)
        if model is moe:
            best = model.best_params_["moeclassifier__n_experts"]
            name = f"MoEClassifier (grid search: n_experts={best})"
        rows.append(("digits (accuracy)", name, model.score(X_test, y_test), seconds))

    out(f"{'problem':<20} {'model':<46} {'test score':>10} {'fit (s)':>8}")
    out("-" * 87)
    for problem, name, score, seconds in rows:
        out(f"{problem:<20} {name:<46} {score:>10.3f} {seconds:>8.2f}")
    if sum(unconverged):
        out(
            f"({sum(unconverged)} of the EM runs above stopped at max_iter before "
            "meeting tol; their scores are as shown)"
        )
    return rows
