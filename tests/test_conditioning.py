"""Fits that do not depend on where the features sit or on their scale."""

import re
import types
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.tree import DecisionTreeRegressor

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._base import PENALTY_SHARE, RIDGE_PENALTY_SHARE
from skmoe._math import center_intercepts, design_matrix
from skmoe.exceptions import FeatureScaleWarning


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
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=5"):
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


def test_features_the_penalty_shrinks_warn():
    X, y = piecewise()
    # standard deviation 0.017: the penalty shrinks the gate's coefficients
    with pytest.warns(
        UserWarning, match=r"Features \[0\] have a standard deviation below 0.1.*"
    ):
        MoERegressor(2, random_state=0).fit(X * np.array([1e-2, 1e4]), y)
    # one expert, a ridge regression of penalty alpha / std**2 per standardized
    # feature: 0.33 at std 0.0017 warns; 0.0033 at std 0.017 does not
    with pytest.warns(UserWarning, match=r"Features \[0\] have a standard deviation"):
        MoERegressor(1).fit(X * np.array([1e-3, 1e4]), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MoERegressor(1).fit(X * np.array([1e-2, 1e4]), y)
        MoERegressor(1).fit(X * np.array([0.2, 1e4]), y)  # std 0.35: no warning
        MoERegressor(1).fit(np.c_[X, np.zeros(len(X))], y)  # constant: no warning
        # without a penalty, scales 1e16 apart fit exactly: no warning either
        MoERegressor(1, alpha=0.0).fit(X * np.array([1e-8, 1e8]), y)
        MoERegressor(1, alpha=1e-12).fit(X * np.array([1e-2, 1.0]), y)


def test_partial_fit_judges_feature_scales_on_batches_of_50_rows():
    # standardized features streamed 2 rows at a time warned of a standard
    # deviation below 0.1 (the spread of 2 rows); a batch of 50 still warns
    X, y = piecewise()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = MoERegressor(2, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        for start in range(0, 100, 2):
            model.partial_fit(X[start : start + 2], y[start : start + 2])
    small = MoERegressor(2, solver="sgd", random_state=0)
    with pytest.warns(UserWarning, match=r"Features \[0\] have a standard deviation"):
        small.partial_fit(X[:50] * np.array([1e-2, 1.0]), y[:50])


def _scale_warnings(method, *args):
    """How many FeatureScaleWarnings ``method(*args)`` gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        method(*args)
    return sum(issubclass(w.category, FeatureScaleWarning) for w in caught)


def test_a_column_constant_over_a_batch_does_not_warn_of_its_scale():
    # standardized digits (StandardScaler fitted on all rows) streamed in 5
    # batches: a pixel nonzero in 6 of 1347 rows is 0 throughout the fourth
    # batch, 0.07 from the stream's offset (the first batch's mean), which
    # the warning took for a standard deviation below 0.1 and told the user
    # to standardize the standardized features
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:1347])
    y = y[:1347]
    spread = X.std(axis=0)
    assert np.all((np.abs(spread - 1) < 1e-12) | (spread == 0))
    batches = np.array_split(np.arange(1347), 5)
    constant = [j for j in range(64) if np.ptp(X[batches[3], j]) == 0]
    varying = np.ptp(X, axis=0) > 0
    offset = X[batches[0]].mean(axis=0)
    shifted = [
        j
        for j in constant
        if varying[j] and 0 < abs(X[batches[3][0], j] - offset[j]) < 0.1
    ]
    assert shifted  # the case: a standardized column constant in a batch
    model = MoEClassifier(n_experts=2, solver="sgd", random_state=0)
    for batch in batches:
        assert (
            _scale_warnings(model.partial_fit, X[batch], y[batch], np.arange(10)) == 0
        )
    # a column that does vary on a small scale still warns
    small = MoEClassifier(n_experts=2, solver="sgd", random_state=0)
    assert _scale_warnings(small.partial_fit, X * 0.01, y, np.arange(10)) == 1


def test_one_linear_expert_warns_where_its_ridge_penalty_costs():
    # 5-fold CV R^2, 3 seeds, raw against StandardScaler'd: diabetes as loaded
    # (sd 0.048) 0.4813 vs 0.4812 with n_experts=1 and with the default "auto",
    # which keeps one expert; times 0.01, 0.2795 vs 0.4812
    X, y = load_diabetes(return_X_y=True)
    model = MoERegressor(random_state=0)
    assert _scale_warnings(model.fit, X, y) == 0
    assert model.n_experts_ == 1
    # one expert is scikit-learn's Ridge of alpha * n_samples, here as good
    # as least squares (training R^2 0.51774 against 0.51775)
    ridge = Ridge(alpha=1e-6 * len(X)).fit(X, y)
    np.testing.assert_allclose(model.predict(X), ridge.predict(X), rtol=1e-6)
    plain = LinearRegression().fit(X, y).score(X, y)
    assert abs(model.score(X, y) - plain) < 1e-4
    small = MoERegressor(n_experts=1)
    assert _scale_warnings(small.fit, X * 0.01, y) == 1
    assert small.score(X * 0.01, y) < plain - 0.2  # 0.295

    def stream(scale):  # a partial_fit stream of one expert: given once
        model = MoERegressor(n_experts=1, solver="sgd", random_state=0)
        for start in range(0, len(X), 100):
            rows = slice(start, start + 100)
            model.partial_fit(X[rows] * scale, y[rows])

    assert _scale_warnings(stream, 1.0) == 0
    assert _scale_warnings(stream, 0.01) == 1


def test_a_penalized_gate_keeps_the_warning():
    # its coefficients, sharp at regime changes, are held back sooner: the
    # README's regime data times 0.03 (sd 0.052), 5-fold CV R^2 0.9732 vs
    # 0.9869 standardized (n_experts="auto", which keeps 3 experts)
    rng = np.random.RandomState(0)
    x = rng.uniform(-3, 3, size=(1000, 1))
    slope = np.array([-2.0, 0.2, 3.0])[np.digitize(x[:, 0], [-1.0, 1.0])]
    y = slope * x[:, 0] + 0.3 * rng.standard_normal(1000)
    assert _scale_warnings(MoERegressor(3, random_state=0).fit, x * 0.03, y) == 1
    assert _scale_warnings(MoERegressor(1).fit, x * 0.03, y) == 0
    # diabetes as loaded with 2 experts still warns (there it cost nothing:
    # 0.4685 vs 0.4608), as logistic experts do with one (iris / 30: accuracy
    # 0.862 vs 0.962)
    X, y = load_diabetes(return_X_y=True)
    assert _scale_warnings(MoERegressor(2, random_state=0).fit, X, y) == 1
    X, y = load_iris(return_X_y=True)
    assert _scale_warnings(MoEClassifier(1).fit, X / 30, y) == 1


def test_no_warning_where_alpha_penalizes_no_coefficient():
    # trees as experts have no coefficients; one expert or a constant gate
    # leaves nothing for alpha to shrink
    X, y = load_diabetes(return_X_y=True)
    X = X * 0.01
    tree = DecisionTreeRegressor(max_depth=3)
    for gate, n_experts in (("softmax", 1), ("constant", 2), ("gaussian", 2)):
        model = MoERegressor(
            n_experts, gate=gate, expert_estimator=tree, random_state=0
        )
        assert _scale_warnings(model.fit, X, y) == 0, gate
    # a softmax gate over them does have coefficients
    model = MoERegressor(2, expert_estimator=tree, random_state=0)
    assert _scale_warnings(model.fit, X, y) == 1


def test_rare_indicator_columns_do_not_warn_and_others_are_named():
    # a one-hot column of a category in 1% of the rows (std 0.1): its natural unit
    # is the indicator, and warning on it made every fit of a grid search warn
    pd = pytest.importorskip("pandas")
    X, y = piecewise()
    rare = (np.arange(len(X)) % 100 == 0).astype(float)
    frame = pd.DataFrame({"x": X[:, 0], "z": X[:, 1], "rare": rare})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MoERegressor(1).fit(frame, y)
    # the same column scaled to 0 / 0.5 is not an indicator: named in the warning
    # (under a gate's penalty: one expert's ridge penalty, alpha / 0.05**2 per
    # standardized unit, is too small to warn)
    frame["rare"] = rare / 2
    with pytest.warns(UserWarning, match=r"Features \['rare'\] have"):
        MoERegressor(2, random_state=0).fit(frame, y)


@pytest.mark.parametrize(
    "dtype, scale", [(np.float32, 1e6), (np.float32, 1e12), (np.float64, 1e12)]
)
def test_mixture_on_a_large_scale_feature_fits_as_at_unit_scale(dtype, scale):
    # a jitter floored at eps times the largest diagonal (the feature's) shrank
    # the intercept: R^2 0.82 instead of 0.998 in float32 at 1e6, and EM's
    # objective fell on 87 iterations
    rng = np.random.RandomState(1)
    x = rng.uniform(-3, 3, (500, 1))
    y = np.where(x[:, 0] < 0, -2 * x[:, 0], 3 * x[:, 0]) + 0.1 * rng.randn(500)
    y = y.astype(dtype)
    plain = MoERegressor(2, random_state=0).fit(x.astype(dtype), y)
    scaled = MoERegressor(2, random_state=0).fit((x * scale).astype(dtype), y)
    # the same fit up to the gate's penalty (in the feature's units), which
    # lets the gate be sharper at scale 1e6: log-likelihood 444.2 against 443.9
    assert plain.score(x.astype(dtype), y) > 0.998
    assert scaled.score((x * scale).astype(dtype), y) > 0.998
    assert scaled.log_likelihood_ > plain.log_likelihood_ - 1.0
    history = np.asarray(scaled.objective_history_)
    assert np.all(np.diff(history) >= -1e-6 * np.abs(history[1:]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiny_scale_feature_without_penalty_is_least_squares(dtype):
    # the solve's floor, sqrt of the smallest normal number, swamped the Gram
    # entry of a feature of scale 1e-13 (slope 0.76 or 1.18 instead of 2)
    rng = np.random.RandomState(0)
    x = rng.uniform(-3, 3, (500, 1))
    y = 2 * x[:, 0] + 1 + 0.01 * rng.randn(500)
    model = MoERegressor(1, alpha=0.0).fit((x * 1e-13).astype(dtype), y.astype(dtype))
    reference = LinearRegression().fit(x, y)
    np.testing.assert_allclose(
        model.expert_coef_[0, 0] * 1e-13, reference.coef_[0], rtol=1e-5
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_solve_symmetric_is_exact_on_a_diagonal_system_of_any_spread(dtype):
    from skmoe._math import solve_symmetric

    for big in (1e6, 1e12, 1e30):
        A = np.array([[0.5, 0.0], [0.0, big]], dtype=dtype)
        B = np.array([[1.0], [big]], dtype=dtype)
        np.testing.assert_allclose(
            solve_symmetric(np, A, B)[:, 0], [2.0, 1.0], rtol=1e-5
        )


@pytest.mark.parametrize("solver", ["sgd", "gradient"])
@pytest.mark.parametrize("x_scale, y_scale", [(1e3, 1.0), (1e-2, 1.0), (1.0, 1e3)])
def test_gradient_solvers_do_not_depend_on_the_units(solver, x_scale, y_scale):
    # Adam and L-BFGS stepped in the coefficients' own units: R^2 0.60 (SGD) at
    # features or targets 1000 times larger, 0.96 at unit scale
    X, y = piecewise(n=600)
    y = y + 0.4 * np.random.RandomState(1).randn(600)
    kwargs = dict(solver=solver, alpha=0.0, random_state=0)
    plain = MoERegressor(2, **kwargs).fit(X, y)
    scaled = MoERegressor(2, **kwargs).fit(X * x_scale, y * y_scale)
    assert plain.score(X, y) > 0.95
    if solver == "sgd":  # Adam's steps are the same, to its epsilon
        assert scaled.n_iter_ == plain.n_iter_
        np.testing.assert_allclose(
            scaled.predict(X * x_scale) / y_scale, plain.predict(X), atol=1e-4
        )
    else:  # L-BFGS's stopping rule is relative to the objective's size
        assert scaled.score(X * x_scale, y * y_scale) > plain.score(X, y) - 0.005


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


@pytest.mark.parametrize("scale", [1e7, 3e7])
def test_large_scale_feature_keeps_the_intercept(scale):
    # a jitter of 1e-15 times the mean diagonal shrank the intercept (6.9, not 9.9,
    # at scale 3e7: a Unix time stamp over a year has a scale of 1e7)
    rng = np.random.RandomState(0)
    X = rng.randn(300, 1) * scale
    y = 2 * X[:, 0] / scale + 10 + 0.1 * rng.randn(300)
    model = MoERegressor(1, alpha=0.0).fit(X, y)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.expert_intercept_, reference.intercept_, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-7)


@pytest.mark.parametrize("offset", [1e6, 1e9, 1e10])
def test_target_far_from_zero_is_least_squares(offset):
    # the solve's relative jitter acted on the intercept ~ mean(y): a bias of
    # -1e-10 * mean(y), -1.0 at 1e10, and a noise variance 109 times too large
    rng = np.random.RandomState(0)
    X = rng.randn(500, 2)
    y = X @ [1.0, -2.0] + 0.1 * rng.randn(500) + offset
    model = MoERegressor(1, alpha=0.0).fit(X, y)
    reference = LinearRegression().fit(X, y)
    residual = np.mean((y - reference.predict(X)) ** 2)
    assert abs(model.expert_intercept_[0] - reference.intercept_) < 1e-12 * offset
    np.testing.assert_allclose(model.expert_variance_[0], residual, rtol=1e-5)


def test_predictive_std_does_not_depend_on_a_target_offset():
    # sum g (s2 + mu^2) - mean^2 cancelled: std 0 on most rows at y + 1e8
    X, y = piecewise()
    plain = MoERegressor(2, n_init=1, random_state=0).fit(X, y)
    moved = MoERegressor(2, n_init=1, random_state=0).fit(X, y + 1e8)
    _, std = plain.predict(X, return_std=True)
    _, moved_std = moved.predict(X, return_std=True)
    np.testing.assert_allclose(moved_std, std, rtol=1e-4)
    np.testing.assert_allclose(moved.predict_distribution(X).std(), std, rtol=1e-4)


@pytest.mark.parametrize("factor", [1e-8, 1e8])
def test_stopping_rule_does_not_depend_on_the_units_of_y(factor):
    # a tolerance relative to |objective| stopped 19 times earlier at y * 1e8
    X, y = piecewise()
    kwargs = dict(n_init=1, init_params="kmeans", random_state=0, alpha=0.0)
    plain = MoERegressor(3, **kwargs).fit(X, y)
    scaled = MoERegressor(3, **kwargs).fit(X, y * factor)
    assert scaled.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(scaled.predict(X), plain.predict(X) * factor, rtol=1e-6)


def test_constant_feature_gets_a_zero_coefficient():
    # a constant feature centred at its rounded mean left a column of +-1 ulp and,
    # unpenalized, an arbitrary coefficient
    X, y = piecewise()
    X = np.column_stack([X, np.full(X.shape[0], 1234567.891)])
    model = MoERegressor(1, alpha=0.0).fit(X, y)
    reference = LinearRegression().fit(X, y)
    assert model.expert_coef_[0, 2] == 0.0
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-8)


@pytest.mark.parametrize("scale", [1e-6, 1e7, 1e8])
def test_classifier_with_a_feature_scale_far_from_one_converges(scale):
    # one scale for every row of the centred Newton step's added term (or of its
    # rounding-noise term) cost the intercepts' solve 13 digits: 1000 EM
    # iterations at 1e-6 and at 1e7; a Newton step converges at once
    rng = np.random.RandomState(0)
    X = rng.randn(500, 2)
    labels = (X @ [1.0, -2.0] + 0.5 * rng.randn(500) > 0).astype(int)
    model = MoEClassifier(1, alpha=0.0, tol=1e-12).fit(X * scale, labels)
    plain = MoEClassifier(1, alpha=0.0, tol=1e-12).fit(X, labels)
    assert model.n_iter_ <= 3
    np.testing.assert_allclose(
        model.predict_proba(X * scale), plain.predict_proba(X), atol=1e-7
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_expert_without_weight_does_not_make_the_newton_step_singular(dtype):
    # saturated probabilities and zero weights made the Newton Hessian indefinite
    # by rounding: LinAlgError("Singular matrix") in float32 and float64
    rng = np.random.RandomState(23)
    X = rng.randn(100, 1)
    logits = X @ rng.randn(1, 3) * 2 + np.where(X > 0, 1, -1) * rng.randn(1, 3) * 2
    labels = np.argmax(logits + rng.gumbel(size=(100, 3)), axis=1)
    weight = np.random.RandomState(9).exponential(size=100)
    weight[np.random.RandomState(109).rand(100) < 0.2] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEClassifier(5, alpha=0.0, n_init=2, random_state=23, tol=1e-9)
        model.fit(X.astype(dtype), labels, sample_weight=weight)
    assert np.all(np.isfinite(model.predict_proba(X.astype(dtype))))
    assert np.isfinite(model.log_likelihood_)


@pytest.mark.filterwarnings("ignore::UserWarning")  # the small feature's
@pytest.mark.parametrize("solver", ["gradient", "sgd"])
@pytest.mark.parametrize("scale", [1e-6, 1e-8, "ulp"])
def test_gradient_solvers_with_a_tiny_penalized_feature(solver, scale):
    # units of 1 / std made the penalty's curvature alpha / std^2 (1e10 at
    # 1e-8): L-BFGS stopped at its start (R^2 0.72, "converged") and Adam
    # overshot; so did a column constant to an ulp (0.3 against 0.1 + 0.2)
    X, y = piecewise(n=600)
    rng = np.random.RandomState(1)
    if scale == "ulp":
        extra = np.where(rng.rand(600) < 0.5, 0.3, 0.1 + 0.2)
    else:
        extra = scale * rng.randn(600)
    plain = MoERegressor(2, solver=solver, random_state=0).fit(X, y)
    padded = MoERegressor(2, solver=solver, random_state=0)
    padded.fit(np.c_[X, extra], y)
    assert padded.score(np.c_[X, extra], y) > plain.score(X, y) - 0.01


@pytest.mark.parametrize("x_scale", [1e4, 1e-2])
def test_noisy_gating_does_not_depend_on_the_features_units(x_scale):
    # the noise coefficients took plain gradient steps in the features' units:
    # R^2 0.77 at 1e4 against 0.99
    X, y = piecewise(n=1000)
    kwargs = dict(solver="sgd", top_k=2, noisy_gating=True, random_state=0)
    plain = MoERegressor(4, **kwargs).fit(X, y)
    scaled = MoERegressor(4, alpha=0.0, **kwargs).fit(X * x_scale, y)
    reference = MoERegressor(4, alpha=0.0, **kwargs).fit(X, y)
    assert plain.score(X, y) > 0.95
    assert scaled.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(
        scaled.predict(X * x_scale), reference.predict(X), atol=1e-4
    )


def test_one_student_t_expert_keeps_the_gates_threshold():
    # the ridge threshold rests on Gaussian experts (one is scikit-learn's
    # Ridge); a Student-t expert weighs its rows anew at each iteration and
    # was not measured, so it warns as before on diabetes as loaded
    X, y = load_diabetes(return_X_y=True)
    assert _scale_warnings(MoERegressor(1).fit, X, y) == 0
    assert _scale_warnings(MoERegressor(1, noise="student_t").fit, X, y) == 1


def test_solve_symmetric_gives_the_minimum_norm_answer_when_singular_after_jitter():
    # a float32 Gram matrix of duplicated rows rounds to indefinite by more than
    # the jitter: here the jittered, scaled system is exactly c * ones((2, 2))
    from skmoe._math import solve_symmetric

    c = 1.0 + 4 * float(np.finfo(np.float32).eps)
    A = np.array([[1.0, c], [c, 1.0]], dtype=np.float32)
    B = np.array([[1.0], [1.0]], dtype=np.float32)
    solution = solve_symmetric(np, A, B)[:, 0]
    np.testing.assert_allclose(solution, [0.5 / c, 0.5 / c], rtol=1e-5)


class _FailingSolveNamespace:
    """NumPy's namespace whose ``linalg.solve`` raises ``error``; ``linalg``
    has ``LinAlgError`` where given (torch's is a RuntimeError)."""

    def __init__(self, error, linalg_error=None):
        import array_api_compat.numpy as xp

        def solve(A, B):
            raise error

        self._xp = xp
        self.linalg = types.SimpleNamespace(solve=solve, pinv=xp.linalg.pinv)
        if linalg_error is not None:
            self.linalg.LinAlgError = linalg_error

    def __getattr__(self, name):
        return getattr(self._xp, name)


def test_solve_symmetric_gives_nan_for_an_overflowed_singular_system():
    # a Poisson Newton Hessian of rates of 1e12 at features of 1e150 (a fuzz
    # case, solver='gradient' start): inf and NaN entries beside finite ones,
    # for which LAPACK's solve reported a singular matrix and the fallback
    # pseudo-inverse raised LinAlgError("SVD did not converge") from fit. NaN
    # instead, a direction the Newton steps' halving refuses
    from skmoe._math import solve_symmetric

    xp = _FailingSolveNamespace(np.linalg.LinAlgError("Singular matrix"))
    A = np.array([[[1.0, 0.0, 2.0], [0.0, np.inf, np.inf], [2.0, np.inf, 5.0]]])
    B = np.ones((1, 3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(over="ignore", invalid="ignore"):  # (as Newton's)
            solution = solve_symmetric(xp, A, B)
    assert solution.shape == B.shape
    assert np.all(np.isnan(solution))
    # a finite singular system still takes the minimum-norm answer
    A = np.array([[[1.0, 1.0], [1.0, 1.0]]])
    solution = solve_symmetric(xp, A, np.ones((1, 2, 1)))
    np.testing.assert_allclose(solution[0, :, 0], [0.5, 0.5], rtol=1e-6)


def test_solve_symmetric_gives_nan_for_the_overflowed_system_of_a_stack_alone():
    # one solve for all experts: one expert's overflowed Newton Hessian beside
    # another's finite, singular one; NaN for the first only (its step is
    # refused), the minimum-norm answer for the second (NaN for both refused
    # the finite expert's step too)
    from skmoe._math import solve_symmetric

    xp = _FailingSolveNamespace(np.linalg.LinAlgError("Singular matrix"))
    A = np.array(
        [
            [[1.0, 0.0, 2.0], [0.0, np.inf, np.inf], [2.0, np.inf, 5.0]],
            [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 4.0]],
        ]
    )
    B = np.ones((2, 3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(over="ignore", invalid="ignore"):  # (as Newton's)
            solution = solve_symmetric(xp, A, B)
    assert solution.shape == B.shape
    assert np.all(np.isnan(solution[0]))
    # x1 + x2 = 1 (minimum norm: 0.5 each), 4 x3 = 1
    np.testing.assert_allclose(solution[1, :, 0], [0.5, 0.5, 0.25], rtol=1e-6)


def test_solve_symmetric_takes_pinv_for_a_namespaces_own_linalg_error_only():
    # torch's LinAlgError is a RuntimeError; its other RuntimeErrors (shapes,
    # dtypes, devices, memory) are no singular system and must not turn into
    # a pseudo-inverse's answer
    from skmoe._math import solve_symmetric

    class TorchLikeLinAlgError(RuntimeError):
        pass

    A = np.array([[2.0, 1.0], [1.0, 2.0]])
    B = np.array([[1.0], [0.0]])
    xp = _FailingSolveNamespace(TorchLikeLinAlgError("singular"), TorchLikeLinAlgError)
    expected = np.linalg.solve(A, B)  # jitter 1e-10 relative: within rtol
    np.testing.assert_allclose(solve_symmetric(xp, A, B), expected, rtol=1e-8)
    xp = _FailingSolveNamespace(RuntimeError("Expected all tensors on one device"))
    with pytest.raises(RuntimeError, match="one device"):
        solve_symmetric(xp, A, B)
    xp = _FailingSolveNamespace(ValueError("solve: operand 1 has a mismatch"))
    with pytest.raises(ValueError, match="mismatch"):
        solve_symmetric(xp, A, B)


def _warned_columns(method, *args, **kwargs):
    """The columns that the FeatureScaleWarning of ``method(*args, **kwargs)``
    names (an empty set: none given)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        method(*args, **kwargs)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, FeatureScaleWarning)
    ]
    assert len(messages) <= 1
    if not messages:
        return set()
    named = re.search(r"Features \[([^\]]*)\]", messages[0]).group(1)
    return {int(j) for j in named.split(",")}


def _lone_expert_case(name):
    """Two small features (sd 0.04 and 0.015), weights that favour x0 > 0, the
    estimator, its fit keywords, and the Fisher information per row of its
    fitted lone expert in the penalty's units (computed here)."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 2)) * [0.04, 0.015]
    weight = rng.randint(0, 4, 600) * (1.0 + (X[:, 0] > 0))
    mean = np.exp(1.0 + 30 * X[:, 0] - 20 * X[:, 1])
    kw = {"sample_weight": weight}
    if name == "poisson":  # the mean count, exposure included
        exposure = np.exp(rng.uniform(-1, 4, 600))
        kw["exposure"] = exposure
        y = rng.poisson(exposure * mean)
        return MoEPoissonRegressor, X, y, kw, lambda m: m.predict(X, exposure=exposure)
    if name == "negative_binomial":  # mu / (1 + phi mu)
        y = rng.negative_binomial(2, 2 / (2 + mean))

        def information(model):
            mu = model.predict(X)
            return mu / (1 + model.expert_dispersion_[0] * mu)

        return MoENegativeBinomialRegressor, X, y, kw, information
    # Gamma: the curvature in a log mean is 1 / phi, the penalty divided by phi
    y = rng.gamma(2.0, mean / 2)
    return MoEGammaRegressor, X, y, kw, lambda model: np.ones(600)


@pytest.mark.parametrize("name", ["poisson", "negative_binomial", "gamma"])
def test_one_expert_warns_where_alpha_exceeds_its_information_share(name):
    # a lone count or amount expert's penalty shrinks a slope as a ridge
    # regression's on rows weighted by its Fisher information I_i: the
    # warning names column j where alpha > RIDGE_PENALTY_SHARE times
    # sum_i w_i I_i (x_ij - c_j)^2 / sum_i w_i, c_j the (w I)-weighted mean
    # and I_i the model's fitted with that alpha (exposures, dispersion)
    Estimator, X, y, kw, information = _lone_expert_case(name)

    def threshold(model):
        weight = kw["sample_weight"] * information(model)
        centre = weight @ X / weight.sum()
        curvature = weight @ (X - centre) ** 2 / kw["sample_weight"].sum()
        return RIDGE_PENALTY_SHARE * curvature

    free = threshold(Estimator(n_experts=1, alpha=0.0).fit(X, y, **kw))
    assert free[0] > 2 * free[1]  # (alphas between them name column 1 alone)
    named = []
    for alpha in np.outer(free, [0.8, 1.25]).ravel():
        model = Estimator(n_experts=1, alpha=alpha)
        warned = _warned_columns(model.fit, X, y, **kw)
        ratio = alpha / threshold(model)
        assert np.all(np.abs(np.log(ratio)) > np.log(1.2))  # (far from it)
        assert warned == set(np.flatnonzero(ratio > 1))
        named.append(len(warned))
    assert sorted(set(named)) == [0, 1, 2]


def test_several_count_experts_keep_the_fixed_share():
    # the information share is a lone expert's: with two Poisson experts
    # (a penalized gate, experts that split the rows) the warning names the
    # columns where alpha > PENALTY_SHARE (1e-4) times their variance, though
    # alpha is far below 1e-2 of the mean count (152) times it
    X, y = load_diabetes(return_X_y=True)
    variance = np.var(X, axis=0)
    np.testing.assert_allclose(variance, 1 / 442, rtol=1e-12)
    for factor, expected in [(0.8, set()), (1.25, set(range(10)))]:
        alpha = factor * PENALTY_SHARE / 442
        assert alpha < RIDGE_PENALTY_SHARE * np.mean(y) * variance[0] / 1e3
        model = MoEPoissonRegressor(n_experts=2, alpha=alpha, random_state=0)
        assert _warned_columns(model.fit, X, y) == expected


def test_a_stream_pruned_to_one_expert_is_judged_by_its_information():
    # a stream of two count experts pruned to one continues as one expert
    # (n_experts=2, n_experts_=1): its batches are judged as a lone expert's,
    # alpha against 1e-2 of the mean-count-weighted variance, not 1e-4 of
    # the variance (which the diabetes features as loaded, sd 0.048, fail)
    X, y = load_diabetes(return_X_y=True)
    model = MoEPoissonRegressor(n_experts=2, alpha=0.0, solver="sgd", random_state=0)
    for start in range(0, 300, 100):
        model.partial_fit(X[start : start + 100], y[start : start + 100])
    pruned = model.prune_experts(np.max(model.expert_usage_) - 1e-9)
    assert (pruned.n_experts, pruned.n_experts_) == (1, 1)  # (the copy's own)
    # n_experts set back to the stream's 2, which partial_fit ignores (and
    # warns so): the batches are still judged by the fitted n_experts_
    pruned.set_params(alpha=1e-6, n_experts=2)
    batch, offset = X[300:400], X[:100].mean(axis=0)  # (the stream's offset)
    variance = np.mean((batch - offset) ** 2, axis=0)
    mean = pruned.predict(batch)  # the information where the step starts
    centre = mean @ batch / mean.sum()
    curvature = mean @ (batch - centre) ** 2 / 100
    assert np.all(pruned.alpha > PENALTY_SHARE * variance)
    assert np.all(pruned.alpha < RIDGE_PENALTY_SHARE * curvature / 100)
    assert _warned_columns(pruned.partial_fit, batch, y[300:400]) == set()
    assert pruned.n_experts_ == 1


@pytest.mark.parametrize(
    "Estimator", [MoERegressor, MoEPoissonRegressor, MoEGammaRegressor]
)
def test_a_lone_experts_first_batch_too_large_to_fit_is_refused_first(Estimator):
    # a one-expert stream's batches are judged after the step's start is
    # computed (by its information there); a first batch whose squares
    # overflow is refused before that start, as fit refuses it, without
    # NumPy's overflow warnings from computing it
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 2))
    X[0, 1] = 1e200
    y = rng.poisson(2, 100) + 1.0
    model = Estimator(n_experts=1, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="values too large to fit"):
            model.partial_fit(X, y)
    assert not hasattr(model, "n_features_in_")


def test_a_lone_experts_batch_of_few_rows_is_not_judged_by_its_scales():
    # as for several experts, a batch of fewer than UNIT_ROWS (effective)
    # rows says little of the features' scales: a one-expert stream's is
    # not judged either, though its features (the diabetes ones times 1e-4)
    # are so small that alpha is 3e4 times 1e-2 of their mean-count-weighted
    # variance, and a batch of 100 such rows warns
    from skmoe._sgd import UNIT_ROWS

    X, y = load_diabetes(return_X_y=True)
    X = X * 1e-4
    few = 10
    assert few < UNIT_ROWS <= 100
    information = RIDGE_PENALTY_SHARE * np.mean(y) * np.var(X[:100], axis=0)
    assert np.all(1e-6 > 1e4 * information)
    model = MoEPoissonRegressor(n_experts=1, solver="sgd", random_state=0)
    for start in range(0, 4 * few, few):
        rows = slice(start, start + few)
        assert _warned_columns(model.partial_fit, X[rows], y[rows]) == set()
    model = MoEPoissonRegressor(n_experts=1, solver="sgd", random_state=0)
    assert _warned_columns(model.partial_fit, X[:100], y[:100]) == set(range(10))


def test_design_matrix_subtracts_the_offset_in_the_wider_dtype():
    # float32 features and offset widened to a float64 design: the centred
    # columns are float64's differences, exactly as NumPy's astype then subtract
    # (float32's difference rounds 1 + 2**-23 - 2**-30 back to 1 + 2**-23)
    X = np.array([[1 + 2.0**-23, 3.0], [2.0, -1.0]], dtype=np.float32)
    offset = np.array([2.0**-30, 0.5], dtype=np.float32)
    design = design_matrix(np, X, offset, dtype=np.float64)
    assert design.dtype == np.float64
    expected = X.astype(np.float64) - offset.astype(np.float64)
    np.testing.assert_array_equal(design[1:].T, expected)
    np.testing.assert_array_equal(design[0], 1.0)
    assert expected[0, 0] != np.float32(X[0, 0] - offset[0])
