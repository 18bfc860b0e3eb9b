"""The main job: ``python -m skmoe demo``.

Fits skmoe beside scikit-learn's linear models on two problems it makes or that
scikit-learn bundles, and prints a table of test scores and fit times.
"""

from __future__ import annotations

import textwrap
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


def _timed_fit(model, X, y):
    """Fit ``model``; return the seconds taken and the number of
    ConvergenceWarnings raised (skmoe raises one per fit whose kept restart
    stopped at max_iter, so a grid search raises one per such fit, in its
    cross-validation or its refit). The table's notes say what those meant;
    every other warning is given again, at the line it named (the record
    caught them all, and the demo printed none)."""
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    seconds = time.perf_counter() - start
    unconverged = 0
    for caught_warning in caught:
        if issubclass(caught_warning.category, ConvergenceWarning):
            unconverged += 1
            continue
        warnings.warn_explicit(
            caught_warning.message,
            caught_warning.category,
            caught_warning.filename,
            caught_warning.lineno,
            source=caught_warning.source,
        )
    return seconds, unconverged


def _not_converged(name):
    return f"{name} stopped at max_iter before meeting tol; its score is as shown."


def run_demo(random_state=0, out=print):
    """Run both comparisons and print the table and its notes; return its rows.

    On the digits, LogisticRegression is fitted on all 64 standardized pixels
    and, like MoEClassifier, on their first 32 principal components.
    MoEClassifier's fit time is that of its whole grid search.
    """
    rows, notes = [], []
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
        seconds, unconverged = _timed_fit(model, X_train, y_train)
        rows.append(("regimes (R^2)", name, model.score(X_test, y_test), seconds))
        if unconverged:
            notes.append(_not_converged(name))

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=random_state
    )

    def pca():
        return PCA(n_components=32, random_state=random_state)

    experts = [1, 2, 4]
    moe = GridSearchCV(
        make_pipeline(
            StandardScaler(),
            pca(),
            MoEClassifier(random_state=random_state, n_init=2),
        ),
        {"moeclassifier__n_experts": experts},
        cv=3,
    )
    for name, model in [
        (
            "LogisticRegression",
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        ),
        (
            "LogisticRegression on PCA(32)",
            make_pipeline(StandardScaler(), pca(), LogisticRegression(max_iter=1000)),
        ),
        ("MoEClassifier on PCA(32)", moe),
    ]:
        seconds, unconverged = _timed_fit(model, X_train, y_train)
        if model is not moe:
            rows.append(
                ("digits (accuracy)", name, model.score(X_test, y_test), seconds)
            )
            if unconverged:
                notes.append(_not_converged(name))
            continue
        best = model.best_params_["moeclassifier__n_experts"]
        name = f"{name}, n_experts={best} *"
        rows.append(("digits (accuracy)", name, model.score(X_test, y_test), seconds))
        n_cv = len(model.cv_results_["params"]) * model.n_splits_
        note = (
            f"* n_experts chosen from {experts} by {model.n_splits_}-fold "
            "cross-validation; the row's fit (s) is the whole grid search: "
            f"{n_cv} cross-validation fits and the refit of the best on all the "
            "training rows."
        )
        refit_unconverged = not model.best_estimator_[-1].converged_
        cv_unconverged = unconverged - refit_unconverged
        if cv_unconverged:
            note += (
                f" {cv_unconverged} of the {n_cv} cross-validation fits stopped at "
                "max_iter before meeting tol"
            )
            note += (
                "."
                if refit_unconverged
                else "; the refit, whose score is shown, converged."
            )
        if refit_unconverged:
            note += " " + _not_converged("The refit")
        notes.append(note)

    width = 87
    out(f"{'problem':<20} {'model':<46} {'test score':>10} {'fit (s)':>8}")
    out("-" * width)
    for problem, name, score, seconds in rows:
        out(f"{problem:<20} {name:<46} {score:>10.3f} {seconds:>8.2f}")
    for note in notes:
        for line in textwrap.wrap(note, width, subsequent_indent="  "):
            out(line)
    return rows
