"""Fits that do not depend on where the features sit or on their scale."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from skmoe import MoEClassifier, MoERegressor
from skmoe._math import center_intercepts, design_matrix


def piecewise(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.1 * rng.randn(n)
    return X, y


@pytest.mark.parametrize("offset", [1e3, 1e6])
def test_one_expert_with_offset_feature_is_least_squares(offset):
    # a feature far from 0 (a calendar year, say) once shrank the slope to ~0
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(400, 1)) + offset
    y = 2 * X[:, 0] + 1 + 0.1 * rng.randn(400)
    model = MoERegressor(1, alpha=0.0).fit(X, y)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.expert_coef_[0], reference.coef_, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-6)


def test_mixture_does_not_depend_on_feature_offsets():
    X, y = piecewise()
    labels = (y > 1).astype(int)
    shift = np.array([1e4, -3e3])
    for Estimator, target in ((MoERegressor, y), (MoEClassifier, labels)):
        plain = Estimator(2, n_init=1, random_state=0).fit(X, target)
        moved = Estimator(2, n_init=1, random_state=0).fit(X + shift, target)
        assert moved.n_iter_ == plain.n_iter_
        np.testing.assert_allclose(
            moved.log_likelihood_, plain.log_likelihood_, rtol=1e-8
        )
        np.testing.assert_allclose(moved.expert_coef_, plain.expert_coef_, rtol=1e-5)
        np.testing.assert_allclose(
            moved.predict_gate(X + shift), plain.predict_gate(X), atol=1e-7
        )


def test_small_scale_feature_keeps_its_coefficient():
    # a jitter relative to the mean diagonal shrank this coefficient by 30%
    X, y = piecewise()
    y = y + 0.5 * X[:, 1]
    scale = np.array([1.0, 1e-5])
    plain = MoERegressor(1, alpha=0.0).fit(X, y)
    scaled = MoERegressor(1, alpha=0.0).fit(X * scale, y)
    np.testing.assert_allclose(
        scaled.expert_coef_ * scale, plain.expert_coef_, rtol=1e-3
    )


def test_warm_start_on_offset_features_continues_the_fit():
    X, y = piecewise()
    X = X + 500.0
    model = MoERegressor(2, n_init=1, max_iter=5, warm_start=True, random_state=0)
    with pytest.warns(Warning):  # stopped at max_iter
        model.fit(X, y)
    first = model.log_likelihood_
    model.set_params(max_iter=200).fit(X, y)
    full = MoERegressor(2, n_init=1, max_iter=205, random_state=0).fit(X, y)
    assert model.log_likelihood_ >= first
    np.testing.assert_allclose(model.log_likelihood_, full.log_likelihood_, rtol=1e-4)


def test_center_intercepts_round_trip_keeps_predictions():
    rng = np.random.RandomState(0)
    X, coef, offset = rng.randn(20, 3), rng.randn(4, 5), rng.randn(3)
    centered = center_intercepts(np, coef, offset)
    np.testing.assert_allclose(
        design_matrix(np, X, offset).T @ centered, design_matrix(np, X).T @ coef
    )
    np.testing.assert_allclose(center_intercepts(np, centered, offset, -1.0), coef)


def test_features_of_very_different_scales_warn():
    X, y = piecewise()
    with pytest.warns(UserWarning, match="StandardScaler"):
        MoERegressor(1).fit(X * np.array([1e-4, 1e4]), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MoERegressor(1).fit(X * np.array([1e-2, 1e2]), y)  # 1e4 apart: no warning
        MoERegressor(1).fit(np.c_[X, np.zeros(len(X))], y)  # constant: no warning


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_does_not_depend_on_feature_offsets():
    # partial_fit centers at the first fit's (or batch's) offset, so the Adam
    # state it continues stays in one coordinate system
    X, y = piecewise()
    shift = np.array([50.0, -20.0])
    results = []
    for offset in (np.zeros(2), shift):
        model = MoERegressor(3, solver="sgd", n_init=1, random_state=0)
        model.fit(X + offset, y)
        fitted = model.log_likelihood_
        model.partial_fit(X + offset, y)
        batches = MoERegressor(3, solver="sgd", random_state=0)
        for _ in range(5):
            batches.partial_fit(X + offset, y)
        results.append((fitted, model.log_likelihood_, batches.log_likelihood_))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    fitted, continued, _ = results[1]
    assert continued > fitted - 0.01 * abs(fitted)  # one more epoch: no collapse
