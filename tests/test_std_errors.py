"""std_errors: the observed information's standard errors, against numbers computed
here independently (closed forms for one expert, a finite-difference Hessian of a
log-likelihood written with scipy.stats for mixtures)."""

import copy
import warnings

import numpy as np
import pytest
from _references import central_hessian, nan_m_steps_after
from scipy import special, stats
from scipy.special import expit, logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)

TIGHT = dict(tol=1e-12, max_iter=5000)


def design(X):
    return np.column_stack([np.ones(len(X)), X])


def linear_data(n=300, seed=0, shift=5.0):
    """Two features away from the origin (the intercepts then depend on the
    offset the fit centres the features at), positive weights."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2)) * [1.0, 2.0] + shift
    w = rng.uniform(0.5, 2.0, n)
    return rng, X, w


# -- one expert: closed forms ----------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_one_gaussian_expert_is_ols_with_the_mle_variance(weighted):
    rng, X, w = linear_data()
    if not weighted:
        w = np.ones(len(X))
    y = 3.0 + X @ [1.0, -0.5] + rng.normal(size=len(X))
    reg = MoERegressor(n_experts=1, alpha=0, **TIGHT).fit(X, y, sample_weight=w)
    se = reg.std_errors(X, y, sample_weight=None if not weighted else w)

    Xt = design(X)
    beta = np.linalg.solve(Xt.T @ (w[:, None] * Xt), Xt.T @ (w * y))
    s2 = np.sum(w * (y - Xt @ beta) ** 2) / np.sum(w)
    ols = np.sqrt(np.diag(s2 * np.linalg.inv(Xt.T @ (w[:, None] * Xt))))
    np.testing.assert_allclose(se.expert_intercept_, ols[:1], rtol=1e-4)
    np.testing.assert_allclose(se.expert_coef_, ols[None, 1:], rtol=1e-4)
    np.testing.assert_allclose(
        se.expert_variance_, s2 * np.sqrt(2 / np.sum(w)), rtol=1e-4
    )
    # one expert: the gate is 1 whatever its coefficients, which are not estimated
    assert np.all(se.gate_intercept_ == 0) and np.all(se.gate_coef_ == 0)


def test_a_variance_beyond_float64_is_inf_in_the_covariance_without_warnings():
    # a feature in units of 1e-150: its coefficient's standard error, 2e155, is
    # finite, its square not; the covariance's product leaked NumPy's overflow
    rng = np.random.RandomState(0)
    x = rng.normal(size=30)
    y = 1e6 * rng.normal(size=30)
    X = x[:, None] * 1e-150
    reg = MoERegressor(n_experts=1, alpha=0, **TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        se = reg.std_errors(X, y, return_cov=True)
    Xt = design(x[:, None])  # (in units of 1, rescaled after)
    beta = np.linalg.lstsq(Xt, y, rcond=None)[0]
    s2 = np.mean((y - Xt @ beta) ** 2)
    ols = np.sqrt(np.diag(s2 * np.linalg.inv(Xt.T @ Xt)))
    np.testing.assert_allclose(se.expert_coef_, [[ols[1] * 1e150]], rtol=1e-4)
    np.testing.assert_allclose(se.expert_intercept_, ols[:1], rtol=1e-4)
    assert se.parameters[1] == "expert_coef_[0, 0]"
    assert se.covariance[1, 1] == np.inf
    np.testing.assert_allclose(se.covariance[0, 0], ols[0] ** 2, rtol=1e-4)


def test_one_poisson_expert_is_the_glm_inverse_information():
    rng, X, w = linear_data(shift=1.0)
    y = rng.poisson(np.exp(0.3 + X @ [0.2, -0.1])).astype(float)
    model = MoEPoissonRegressor(n_experts=1, alpha=0, **TIGHT).fit(X, y, w)
    se = model.std_errors(X, y, sample_weight=w)

    Xt = design(X)
    beta = np.r_[model.expert_intercept_, model.expert_coef_[0]]
    mu = np.exp(Xt @ beta)
    glm = np.sqrt(np.diag(np.linalg.inv(Xt.T @ ((w * mu)[:, None] * Xt))))
    np.testing.assert_allclose(se.expert_intercept_, glm[:1], rtol=1e-4)
    np.testing.assert_allclose(se.expert_coef_, glm[None, 1:], rtol=1e-4)


def binary_logistic_se(X, y, w, beta, alpha=0.0):
    """Standard errors of the logistic regression coefficients beta (intercept
    first) from the inverse Fisher information, with an unpenalized intercept."""
    Xt = design(X)
    p = expit(Xt @ beta)
    information = Xt.T @ ((w * p * (1 - p))[:, None] * Xt)
    information += alpha * np.diag(np.r_[0.0, np.ones(X.shape[1])])
    return np.sqrt(np.diag(np.linalg.inv(information)))


def test_one_logistic_expert_is_half_the_logistic_regression_se():
    rng, X, w = linear_data(shift=1.0)
    y = (rng.uniform(size=len(X)) < expit(-1.5 + X @ [1.0, 0.4])).astype(int)
    clf = MoEClassifier(n_experts=1, alpha=0, **TIGHT).fit(X, y, sample_weight=w)
    se = clf.std_errors(X, y, sample_weight=w)

    # the centred coefficients of the two classes are -beta / 2 and beta / 2
    beta = np.r_[
        np.diff(clf.expert_intercept_[0]),
        clf.expert_coef_[0, 1] - clf.expert_coef_[0, 0],
    ]
    half = binary_logistic_se(X, y, w, beta) / 2
    np.testing.assert_allclose(se.expert_intercept_, [[half[0]] * 2], rtol=1e-4)
    np.testing.assert_allclose(se.expert_coef_, [[half[1:]] * 2], rtol=1e-4)


# -- alpha > 0: the penalized objective's curvature -----------------------------------


def test_penalty_adds_its_curvature_and_shrinks_the_standard_errors():
    rng, X, w = linear_data()
    y = 3.0 + X @ [0.1, -0.05] + rng.normal(size=len(X))
    Xt, total = design(X), np.sum(w)
    gram = Xt.T @ (w[:, None] * Xt)
    P = np.diag([0.0, 1.0, 1.0])
    slopes = {}
    for alpha in [0.0, 0.5]:
        reg = MoERegressor(n_experts=1, alpha=alpha, **TIGHT).fit(X, y, w)
        se = reg.std_errors(X, y, sample_weight=w)
        # the objective is sum(w) (loglik / sum(w) - alpha ||b||^2 / (2 s2)):
        # cov(b) = s2 (X'WX + alpha sum(w) P)^-1 at the fitted s2
        s2 = reg.expert_variance_[0]
        expected = np.sqrt(np.diag(s2 * np.linalg.inv(gram + alpha * total * P)))
        np.testing.assert_allclose(se.expert_intercept_, expected[:1], rtol=1e-4)
        np.testing.assert_allclose(se.expert_coef_[0], expected[1:], rtol=1e-4)
        np.testing.assert_allclose(se.expert_variance_, s2 * np.sqrt(2 / total), 1e-4)
        slopes[alpha] = se.expert_coef_[0]
    assert np.all(slopes[0.5] < 0.97 * slopes[0.0])


def test_penalized_poisson_and_logistic_experts():
    rng, X, w = linear_data(shift=1.0)
    total, alpha = np.sum(w), 0.05
    counts = rng.poisson(np.exp(0.3 + X @ [0.2, -0.1])).astype(float)
    model = MoEPoissonRegressor(n_experts=1, alpha=alpha, **TIGHT).fit(X, counts, w)
    se = model.std_errors(X, counts, sample_weight=w)
    Xt = design(X)
    mu = np.exp(Xt @ np.r_[model.expert_intercept_, model.expert_coef_[0]])
    information = Xt.T @ ((w * mu)[:, None] * Xt) + alpha * total * np.diag([0, 1, 1])
    expected = np.sqrt(np.diag(np.linalg.inv(information)))
    np.testing.assert_allclose(se.expert_coef_[0], expected[1:], rtol=1e-4)

    labels = (rng.uniform(size=len(X)) < expit(-1.5 + X @ [1.0, 0.4])).astype(int)
    clf = MoEClassifier(n_experts=1, alpha=alpha, **TIGHT).fit(X, labels, w)
    se = clf.std_errors(X, labels, sample_weight=w)
    beta = np.r_[
        np.diff(clf.expert_intercept_[0]),
        clf.expert_coef_[0, 1] - clf.expert_coef_[0, 0],
    ]
    # both centred logits, +-beta / 2, are penalized: alpha ||beta||^2 / 4
    half = binary_logistic_se(X, labels, w, beta, alpha * total / 2) / 2
    np.testing.assert_allclose(se.expert_coef_[0], [half[1:]] * 2, rtol=1e-4)


# -- mixtures: a finite-difference Hessian of an independent log-likelihood ------------


def numeric_hessian(f, theta, steps):
    """Central second differences of f at theta."""
    size = len(theta)
    H = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):

            def at(a, b, i=i, j=j):
                t = np.array(theta, dtype=float)
                t[i] += a * steps[i]
                t[j] += b * steps[j]
                return f(t)

            value = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (
                4 * steps[i] * steps[j]
            )
            H[i, j] = H[j, i] = value
    return H


def independent_se(loglik, theta):
    steps = 1e-3 * np.maximum(np.abs(theta), 1.0)
    H = numeric_hessian(loglik, np.asarray(theta, dtype=float), steps)
    return np.sqrt(np.diag(np.linalg.inv(-H)))


def test_constant_gate_gaussian_mixture_matches_numeric_hessian():
    rng = np.random.RandomState(0)
    n = 400
    x = rng.uniform(2, 8, n)
    first = rng.uniform(size=n) < 0.4
    y = np.where(first, 1 + 2 * x, 20 - x) + rng.normal(size=n) * np.where(first, 1, 2)
    w = rng.uniform(0.5, 2.0, n)
    X = x[:, None]
    reg = MoERegressor(n_experts=2, gate="constant", alpha=0, random_state=0, **TIGHT)
    reg.fit(X, y, sample_weight=w)
    se = reg.std_errors(X, y, sample_weight=w)

    # gate_intercept_ = (-t, t), the centred log proportions
    def loglik(theta):
        t, a0, b0, s0, a1, b1, s1 = theta
        log_pi = np.array([-t, t]) - logsumexp([-t, t])
        parts = [
            log_pi[0] + stats.norm.logpdf(y, a0 + b0 * x, np.sqrt(s0)),
            log_pi[1] + stats.norm.logpdf(y, a1 + b1 * x, np.sqrt(s1)),
        ]
        return np.sum(w * logsumexp(parts, axis=0))

    theta = [reg.gate_intercept_[1]]
    for k in range(2):
        theta += [reg.expert_intercept_[k], reg.expert_coef_[k, 0]]
        theta += [reg.expert_variance_[k]]
    assert np.isclose(reg.gate_intercept_[0], -reg.gate_intercept_[1])
    expected = independent_se(loglik, theta)
    got = [se.gate_intercept_[1]]
    for k in range(2):
        got += [se.expert_intercept_[k], se.expert_coef_[k, 0]]
        got += [se.expert_variance_[k]]
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    np.testing.assert_allclose(se.gate_intercept_[0], se.gate_intercept_[1])
    assert np.all(se.gate_coef_ == 0)  # a constant gate has no slopes


@pytest.mark.parametrize("sharp", [1e-3, 1e-4])
def test_experts_of_very_different_noise_match_numeric_hessian(sharp):
    # a regime of noise 0.001 beside one of noise 10: curvatures 1e9 apart,
    # which compared as one scale once made the noisy expert's standard errors
    # inf ("the data do not determine"); steps in one noise unit for both
    # (the root mean variance) were 7 of the sharp expert's standard
    # deviations at 1e-4: all inf (review)
    rng = np.random.RandomState(0)
    n = 600
    x = rng.uniform(-3, 3, n)
    first = x + 0.8 * rng.normal(size=n) > 0  # a soft gate
    y = np.where(
        first, 1 + 2 * x + sharp * rng.normal(size=n), -1 - x + 10 * rng.normal(size=n)
    )
    X = x[:, None]
    reg = MoERegressor(n_experts=2, alpha=0, random_state=0, **TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = reg.std_errors(X, y)

    def loglik(theta):  # log-odds u0 + u1 x of expert 1; log variances
        u0, u1, a0, b0, v0, a1, b1, v1 = theta
        log_odds = u0 + u1 * x
        parts = [
            -np.logaddexp(0, log_odds)
            + stats.norm.logpdf(y, a0 + b0 * x, np.exp(v0 / 2)),
            -np.logaddexp(0, -log_odds)
            + stats.norm.logpdf(y, a1 + b1 * x, np.exp(v1 / 2)),
        ]
        return np.sum(logsumexp(parts, axis=0))

    u = 2 * reg.gate_intercept_[1], 2 * reg.gate_coef_[1, 0]
    theta = list(u)
    for k in range(2):
        theta += [reg.expert_intercept_[k], reg.expert_coef_[k, 0]]
        theta += [np.log(reg.expert_variance_[k])]
    sd = np.sqrt(reg.expert_variance_)
    steps = 1e-4 * np.array([1, 1, sd[0], sd[0], 1, sd[1], sd[1], 1])
    H = numeric_hessian(loglik, np.array(theta), steps)
    expected = np.sqrt(np.diag(np.linalg.inv(-H)))
    got = [2 * se.gate_intercept_[1], 2 * se.gate_coef_[1, 0]]
    for k in range(2):
        got += [se.expert_intercept_[k], se.expert_coef_[k, 0]]
    order = [0, 1, 2, 3, 5, 6]  # the variances' are on another scale (log)
    np.testing.assert_allclose(got, expected[order], rtol=1e-4)


@pytest.mark.parametrize("level, noise", [(1e12, 1.0), (1e6, 1e-6)])
def test_target_far_from_zero_in_noise_units(level, noise):
    # y about 1e12 noise units from 0: the finite differences once stepped the
    # intercept below its float spacing (a NaN Hessian, LinAlgError for two
    # experts) or kept 4 digits of the residuals (3% off for one)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 2))
    y = level + noise * (X @ [0.5, -1.0] + rng.normal(size=150))
    reg = MoERegressor(n_experts=1, alpha=0).fit(X, y)
    se = reg.std_errors(X, y)
    Xt = design(X)
    ols = np.sqrt(np.diag(reg.expert_variance_[0] * np.linalg.inv(Xt.T @ Xt)))
    np.testing.assert_allclose(se.expert_intercept_, ols[:1], rtol=1e-5)
    np.testing.assert_allclose(se.expert_coef_[0], ols[1:], rtol=1e-5)
    two = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    se = two.std_errors(X, y)
    assert all(np.all(np.isfinite(value)) for value in se.values())


def test_tied_variance_mixture_matches_numeric_hessian():
    rng = np.random.RandomState(4)
    n = 400
    x = rng.uniform(2, 8, n)
    first = rng.uniform(size=n) < 0.5
    y = np.where(first, 1 + 2 * x, 20 - x) + 1.5 * rng.normal(size=n)
    X = x[:, None]
    reg = MoERegressor(
        n_experts=2, gate="constant", variance_type="tied", alpha=0, random_state=0
    )
    se = reg.set_params(**TIGHT).fit(X, y).std_errors(X, y)

    def loglik(theta):  # one variance s2 for both experts
        t, a0, b0, a1, b1, s2 = theta
        log_pi = np.array([-t, t]) - logsumexp([-t, t])
        parts = [
            log_pi[0] + stats.norm.logpdf(y, a0 + b0 * x, np.sqrt(s2)),
            log_pi[1] + stats.norm.logpdf(y, a1 + b1 * x, np.sqrt(s2)),
        ]
        return np.sum(logsumexp(parts, axis=0))

    theta = [reg.gate_intercept_[1]]
    got = [se.gate_intercept_[1]]
    for k in range(2):
        theta += [reg.expert_intercept_[k], reg.expert_coef_[k, 0]]
        got += [se.expert_intercept_[k], se.expert_coef_[k, 0]]
    theta.append(reg.expert_variance_[0])
    got.append(se.expert_variance_[0])
    np.testing.assert_allclose(got, independent_se(loglik, theta), rtol=1e-3)
    np.testing.assert_allclose(se.expert_variance_[1], se.expert_variance_[0])


def test_softmax_gate_gaussian_mixture_matches_numeric_hessian():
    rng = np.random.RandomState(1)
    n = 500
    x = rng.uniform(2, 8, n)
    first = rng.uniform(size=n) < expit(1.5 * (x - 5))
    y = np.where(first, 1 + 2 * x, 20 - x) + rng.normal(size=n)
    X = x[:, None]
    reg = MoERegressor(n_experts=2, alpha=0, random_state=0, **TIGHT).fit(X, y)
    se = reg.std_errors(X, y)

    # the gate's log-odds of expert 1 against 0 is u0 + u1 x, and the stored
    # centred coefficients are -u / 2 and u / 2
    def loglik(theta):
        u0, u1, a0, b0, s0, a1, b1, s1 = theta
        log_odds = u0 + u1 * x
        parts = [
            -np.logaddexp(0, log_odds) + stats.norm.logpdf(y, a0 + b0 * x, np.sqrt(s0)),
            -np.logaddexp(0, -log_odds)
            + stats.norm.logpdf(y, a1 + b1 * x, np.sqrt(s1)),
        ]
        return np.sum(logsumexp(parts, axis=0))

    u = 2 * np.array([reg.gate_intercept_[1], reg.gate_coef_[1, 0]])
    theta = list(u)
    for k in range(2):
        theta += [reg.expert_intercept_[k], reg.expert_coef_[k, 0]]
        theta += [reg.expert_variance_[k]]
    expected = independent_se(loglik, theta)
    got = [2 * se.gate_intercept_[1], 2 * se.gate_coef_[1, 0]]
    for k in range(2):
        got += [se.expert_intercept_[k], se.expert_coef_[k, 0]]
        got += [se.expert_variance_[k]]
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    np.testing.assert_allclose(se.gate_coef_[0], se.gate_coef_[1])


def test_constant_gate_poisson_mixture_matches_numeric_hessian():
    rng = np.random.RandomState(2)
    n = 600
    x = rng.uniform(-1.5, 1.5, n)
    first = rng.uniform(size=n) < 0.6
    y = rng.poisson(np.exp(np.where(first, 0.5 + x, 2 - 0.5 * x))).astype(float)
    X = x[:, None]
    model = MoEPoissonRegressor(
        n_experts=2, gate="constant", alpha=0, random_state=0, **TIGHT
    ).fit(X, y)
    se = model.std_errors(X, y)

    def loglik(theta):
        t, a0, b0, a1, b1 = theta
        log_pi = np.array([-t, t]) - logsumexp([-t, t])
        parts = [
            log_pi[0] + stats.poisson.logpmf(y, np.exp(a0 + b0 * x)),
            log_pi[1] + stats.poisson.logpmf(y, np.exp(a1 + b1 * x)),
        ]
        return np.sum(logsumexp(parts, axis=0))

    theta = [model.gate_intercept_[1]]
    for k in range(2):
        theta += [model.expert_intercept_[k], model.expert_coef_[k, 0]]
    expected = independent_se(loglik, theta)
    got = [se.gate_intercept_[1]]
    for k in range(2):
        got += [se.expert_intercept_[k], se.expert_coef_[k, 0]]
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_softmax_gate_logistic_mixture_matches_numeric_hessian():
    # two logistic experts on z behind a gate on x: the observed information
    # of the classifier's mixture, against a finite-difference Hessian of the
    # likelihood written with scipy's Bernoulli; the stored coefficients are
    # centred, -beta / 2 and beta / 2 for the two classes (and the gate's)
    rng = np.random.RandomState(3)
    n = 1500
    x, z = rng.uniform(-3, 3, n), rng.normal(size=n)
    first = rng.uniform(size=n) < expit(2 * x)
    y = (rng.uniform(size=n) < expit(np.where(first, 1, -1) * (1 + 2.5 * z))).astype(
        int
    )
    X = np.c_[x, z]
    clf = MoEClassifier(
        2, gate_features=[0], expert_features=[1], alpha=0, random_state=0, **TIGHT
    ).fit(X, y)
    se = clf.std_errors(X, y)

    def loglik(theta):
        u0, u1, a0, b0, a1, b1 = theta
        log_odds = u0 + u1 * x
        parts = [
            -np.logaddexp(0, log_odds) + stats.bernoulli.logpmf(y, expit(a0 + b0 * z)),
            -np.logaddexp(0, -log_odds) + stats.bernoulli.logpmf(y, expit(a1 + b1 * z)),
        ]
        return np.sum(logsumexp(parts, axis=0))

    theta = [2 * clf.gate_intercept_[1], 2 * clf.gate_coef_[1, 0]]
    got = [2 * se.gate_intercept_[1], 2 * se.gate_coef_[1, 0]]
    for k in range(2):
        theta += [2 * clf.expert_intercept_[k, 1], 2 * clf.expert_coef_[k, 1, 1]]
        got += [2 * se.expert_intercept_[k, 1], 2 * se.expert_coef_[k, 1, 1]]
    np.testing.assert_allclose(got, independent_se(loglik, theta), rtol=1e-4)


# -- offsets -----------------------------------------------------------------------


def shifted_model(model, shift):
    """The same model for features shifted by ``shift`` (intercepts moved)."""
    out = copy.deepcopy(model)
    out.expert_intercept_ = model.expert_intercept_ - model.expert_coef_ @ shift
    out.gate_intercept_ = model.gate_intercept_ - model.gate_coef_ @ shift
    return out


def test_shifting_x_keeps_the_slopes_and_moves_the_intercepts():
    rng, X, w = linear_data(shift=0.0)
    shift = np.array([1e3, -2e3])
    y = 3.0 + X @ [1.0, -0.5] + rng.normal(size=len(X))
    reg = MoERegressor(n_experts=1, alpha=0, **TIGHT).fit(X, y, w)
    moved = shifted_model(reg, shift)
    se, se_moved = reg.std_errors(X, y, w), moved.std_errors(X + shift, y, w)
    np.testing.assert_allclose(se_moved.expert_coef_, se.expert_coef_, rtol=1e-6)
    # the intercept at the shifted origin: OLS with the shifted design
    Xt = design(X + shift)
    s2 = reg.expert_variance_[0]
    cov = s2 * np.linalg.inv(Xt.T @ (w[:, None] * Xt))
    np.testing.assert_allclose(se_moved.expert_intercept_, np.sqrt(cov[0, 0]), 1e-4)
    assert se_moved.expert_intercept_[0] > 100 * se.expert_intercept_[0]

    # a mixture with a softmax gate: every slope's standard error unchanged
    rng = np.random.RandomState(3)
    x = rng.uniform(-3, 3, (400, 1))
    y = np.where(x[:, 0] > 0, 2 * x[:, 0], -x[:, 0]) + rng.normal(size=400)
    mix = MoERegressor(n_experts=2, alpha=0, random_state=0, **TIGHT).fit(x, y)
    se = mix.std_errors(x, y)
    se_moved = shifted_model(mix, np.array([500.0])).std_errors(x + 500.0, y)
    for name in ["gate_coef_", "expert_coef_", "expert_variance_"]:
        np.testing.assert_allclose(se_moved[name], se[name], rtol=1e-6)
    assert np.all(se_moved.expert_intercept_ > 50 * se.expert_intercept_)
    assert np.all(se_moved.gate_intercept_ > 50 * se.gate_intercept_)


# -- what the Bunch holds ---------------------------------------------------------


def attribute_names(model):
    names = ["gate_intercept_", "gate_coef_", "expert_intercept_", "expert_coef_"]
    return names + (["expert_variance_"] if isinstance(model, MoERegressor) else [])


@pytest.mark.parametrize(
    "model, target",
    [
        (MoERegressor(n_experts=2, random_state=0), "real"),
        (MoERegressor(n_experts=2, variance_type="tied", random_state=0), "real"),
        (MoERegressor(n_experts=2, gate="constant", random_state=0), "real"),
        (MoERegressor(2, gate_features=[0], expert_features=[1, 2]), "real"),
        (MoEClassifier(n_experts=2, random_state=0), "classes"),
        (MoEPoissonRegressor(n_experts=2, random_state=0), "counts"),
    ],
    ids=["regressor", "tied", "constant", "features", "classifier", "poisson"],
)
def test_bunch_has_the_attributes_shapes(model, target):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = {
        "real": X @ [1.0, -1.0, 0.5] + np.abs(X[:, 0]) + rng.normal(size=300),
        "classes": rng.randint(0, 3, 300),
        "counts": rng.poisson(np.exp(0.5 + 0.3 * X[:, 0] * (X[:, 1] > 0))),
    }[target]
    model.set_params(random_state=0).fit(X, y)
    se = model.std_errors(X, y)
    assert list(se) == attribute_names(model)
    for name in se:
        assert se[name].shape == np.shape(getattr(model, name)), name
        assert np.all(np.isfinite(se[name])) and np.all(se[name] >= 0), name
    # centred over the experts: each row's standard errors equal for two experts
    np.testing.assert_allclose(se.gate_intercept_[0], se.gate_intercept_[1])
    if model.get_params().get("variance_type") == "tied":
        assert np.ptp(se.expert_variance_) < 1e-8 * se.expert_variance_[0]
    if model.get_params().get("gate") == "constant":
        assert np.all(se.gate_coef_ == 0)
    if model.get_params().get("expert_features") is not None:
        assert np.all(se.expert_coef_[:, 0] == 0) and np.all(se.expert_coef_[:, 1:] > 0)
        assert np.all(se.gate_coef_[:, 1:] == 0) and np.all(se.gate_coef_[:, 0] > 0)


def test_integer_weights_are_repeated_rows():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 1]) + 0.5 * rng.normal(size=200)
    w = rng.randint(1, 4, 200)
    reg = MoERegressor(n_experts=2, random_state=0).fit(X, y, sample_weight=w)
    rows = np.repeat(np.arange(200), w)
    weighted, repeated = reg.std_errors(X, y, w), reg.std_errors(X[rows], y[rows])
    for name in weighted:
        np.testing.assert_allclose(weighted[name], repeated[name], rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-12, 1e6])
def test_weights_times_c_divide_the_standard_errors_by_sqrt_c(scale):
    # the weights count rows (see Notes): c times the weights is c times the
    # information. The test of a degenerate direction is per unit weight:
    # an absolute one called every parameter degenerate (inf) at c = 1e-12
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = 1.5 * X[:, 0] + 0.3 * rng.randn(200)
    weight = np.full(200, scale)
    model = MoERegressor(1, alpha=0, tol=1e-12).fit(X, y, sample_weight=weight)
    plain = MoERegressor(1, alpha=0, tol=1e-12).fit(X, y)
    weighted, unweighted = model.std_errors(X, y, weight), plain.std_errors(X, y)
    for name in unweighted:
        np.testing.assert_allclose(
            weighted[name], unweighted[name] / np.sqrt(scale), rtol=1e-6
        )


def test_feature_names_are_checked_as_predict_does():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(100, 2)), columns=["a", "b"])
    y = X["a"] + rng.normal(size=100)
    reg = MoERegressor(n_experts=1).fit(X, y)
    assert reg.std_errors(X, y).expert_coef_.shape == (1, 2)
    with pytest.raises(ValueError, match="feature names"):
        reg.std_errors(X.rename(columns={"a": "c"}), y)


# -- errors, and where the information is singular ------------------------------------


def test_errors():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 2))
    y = X[:, 0] + rng.normal(size=100)
    with pytest.raises(NotFittedError):
        MoERegressor().std_errors(X, y)
    sparse = MoERegressor(n_experts=3, top_k=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="top_k=1 of n_experts_=3"):
        sparse.std_errors(X, y)
    dense = MoERegressor(n_experts=2, top_k=2, random_state=0).fit(X, y)
    assert np.all(np.isfinite(dense.std_errors(X, y).expert_coef_))
    reg = MoERegressor(n_experts=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        reg.std_errors(np.hstack([X, X[:, :1]]), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        reg.std_errors(X, y[:-1])
    with pytest.raises(ValueError, match="non-zero"):
        reg.std_errors(X, y, sample_weight=np.zeros(100))
    clf = MoEClassifier(n_experts=1).fit(X, y > 0)
    with pytest.raises(ValueError, match="previously unseen labels"):
        clf.std_errors(X, np.where(y > 0, "a", "b"))


def test_constant_feature_without_penalty_warns_and_gives_inf():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=200), np.full(200, 3.0)])
    y = 1.0 + 2.0 * X[:, 0] + rng.normal(size=200)
    reg = MoERegressor(n_experts=1, alpha=0, **TIGHT).fit(X, y)
    with pytest.warns(UserWarning, match=r"expert_coef_\[0, 1\]") as record:
        se = reg.std_errors(X, y)
    assert "expert_intercept_[0]" in str(record[0].message)
    # the constant's coefficient and the intercept are confounded (offset 3)
    assert np.isinf(se.expert_coef_[0, 1]) and np.isinf(se.expert_intercept_[0])
    # the rest: as without the constant feature (OLS on x alone, the slope)
    Xt = design(X[:, :1])
    s2 = reg.expert_variance_[0]
    ols = np.sqrt(np.diag(s2 * np.linalg.inv(Xt.T @ Xt)))
    np.testing.assert_allclose(se.expert_coef_[0, 0], ols[1], rtol=1e-4)
    np.testing.assert_allclose(se.expert_variance_, s2 * np.sqrt(2 / 200), 1e-4)

    # the penalty's curvature identifies it: no warning, finite
    ridge = MoERegressor(n_experts=1, alpha=1e-2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = ridge.std_errors(X, y)
    assert all(np.all(np.isfinite(value)) for value in se.values())


def duplicated_feature_data(n=200, seed=0):
    """A feature x given twice (its two coefficients are not determined, only
    their sum) beside a feature z."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, n)
    z = rng.normal(size=n)
    return rng, x, z


@pytest.mark.parametrize("family", ["gamma", "gaussian"])
def test_duplicated_feature_gives_inf_on_any_scale(family):
    # the test for undetermined parameters is relative to each parameter's
    # scale: a duplicated feature of scale 1e4 (coefficients of 1e-4), or a
    # target of 1e-6, must still give inf, not small finite numbers
    rng, x, z = duplicated_feature_data()
    if family == "gamma":
        y = rng.gamma(10.0, np.exp(1 + 0.5 * x + 0.2 * z) / 10.0)
        X = np.column_stack([1e4 * x, 1e4 * x, z])
        model = MoEGammaRegressor(n_experts=1, alpha=0.0, **TIGHT).fit(X, y)
    else:
        y = 1e-6 * (1 + 2 * x + 0.5 * z + 0.3 * rng.normal(size=len(x)))
        X = np.column_stack([x, x, z])
        model = MoERegressor(n_experts=1, alpha=0.0, **TIGHT).fit(X, y)
    with pytest.warns(UserWarning, match="singular") as record:
        se = model.std_errors(X, y)
    assert np.all(np.isinf(se.expert_coef_[0, :2]))
    assert np.isfinite(se.expert_coef_[0, 2]) and np.isfinite(se.expert_intercept_[0])
    assert "expert_coef_[0, 0], expert_coef_[0, 1]" in str(record[0].message)
    if family == "gaussian":
        # the determined ones: OLS on x (once) and z, sigma^2 (X'X)^-1
        Xt = design(np.column_stack([x, z]))
        ols = np.sqrt(np.diag(model.expert_variance_[0] * np.linalg.inv(Xt.T @ Xt)))
        np.testing.assert_allclose(se.expert_intercept_[0], ols[0], rtol=1e-4)
        np.testing.assert_allclose(se.expert_coef_[0, 2], ols[2], rtol=1e-4)


def test_covariance_rows_of_undetermined_parameters_are_nan():
    # the documented covariance: inf on the diagonal of a parameter the data do
    # not determine, NaN elsewhere in its row and column; the determined
    # entries are OLS's sigma^2 (X'X)^-1 on x (once) and z, and 2 sigma^4 / n
    # for the variance (uncorrelated with the coefficients)
    rng, x, z = duplicated_feature_data()
    y = 1 + 2 * x + 0.5 * z + 0.3 * rng.normal(size=len(x))
    X = np.column_stack([x, x, z])
    model = MoERegressor(n_experts=1, alpha=0.0, **TIGHT).fit(X, y)
    with pytest.warns(UserWarning, match="do not determine"):
        errors = model.std_errors(X, y, return_cov=True)
    assert errors.parameters == [
        "expert_intercept_[0]",
        "expert_coef_[0, 0]",
        "expert_coef_[0, 1]",
        "expert_coef_[0, 2]",
        "expert_variance_[0]",
    ]
    cov = errors.covariance
    undetermined = [1, 2]
    for i in undetermined:
        assert cov[i, i] == np.inf
        others = np.arange(5) != i
        assert np.all(np.isnan(cov[i, others])) and np.all(np.isnan(cov[others, i]))
    determined = [0, 3, 4]
    s2 = model.expert_variance_[0]
    Xt = design(np.column_stack([x, z]))
    expected = np.zeros((3, 3))
    expected[:2, :2] = (s2 * np.linalg.inv(Xt.T @ Xt))[np.ix_([0, 2], [0, 2])]
    expected[2, 2] = 2 * s2**2 / len(y)
    np.testing.assert_allclose(
        cov[np.ix_(determined, determined)], expected, rtol=1e-4, atol=1e-12
    )


def test_unused_expert_warns_and_gives_inf():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1))
    first = rng.uniform(size=300) < expit(2 * X[:, 0])
    y = np.where(first, 2 * X[:, 0], 1 - X[:, 0]) + 0.3 * rng.normal(size=300)
    reg = MoERegressor(n_experts=2, alpha=0, random_state=0, **TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = reg.std_errors(X, y)
    # the same model with a third expert that the gate never chooses
    three = copy.deepcopy(reg)
    three.n_experts_ = 3
    intercept = np.r_[reg.gate_intercept_, -800.0]
    coef = np.r_[reg.gate_coef_, [[0.0]]]
    three.gate_intercept_ = intercept - intercept.mean()
    three.gate_coef_ = coef - coef.mean(axis=0)
    three.expert_intercept_ = np.r_[reg.expert_intercept_, 0.0]
    three.expert_coef_ = np.r_[reg.expert_coef_, [[1.0]]]
    three.expert_variance_ = np.r_[reg.expert_variance_, 1.0]
    with pytest.warns(UserWarning, match=r"expert_intercept_\[2\]"):
        se_three = three.std_errors(X, y)
    assert np.isinf(se_three.expert_intercept_[2])
    assert np.isinf(se_three.expert_coef_[2, 0])
    assert np.isinf(se_three.expert_variance_[2])
    # the centred gate coefficients all involve the unused expert's
    assert np.all(np.isinf(se_three.gate_intercept_))
    assert np.all(np.isinf(se_three.gate_coef_))
    for name in ["expert_intercept_", "expert_coef_", "expert_variance_"]:
        np.testing.assert_allclose(se_three[name][:2], se[name], rtol=1e-6)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_set_params_after_fit_does_not_change_the_std_errors(Estimator):
    """The Hessian is at the fitted parameters: a gate parameter changed since
    the fit (a softmax gate refitted as constant only on the next fit) does not
    zero the fitted gate's slopes first."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 1)
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.3 * rng.randn(300)
    if Estimator is MoEClassifier:
        y = (y > 0.5).astype(int)
    model = Estimator(2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the classifier's information)
        before = model.std_errors(X, y)
        model.set_params(gate="constant")
        after = model.std_errors(X, y)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


def test_standard_errors_scale_with_huge_targets():
    # a variance's standard error, 1e159 for targets of 1e80, is finite: its
    # covariance (its square) overflowed, and it came back inf without a
    # warning
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=300)
    plain = MoERegressor(1).fit(X, y).std_errors(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = MoERegressor(1).fit(X, 1e80 * y).std_errors(X, 1e80 * y)
    np.testing.assert_allclose(huge.expert_coef_, 1e80 * plain.expert_coef_, rtol=1e-6)
    # (5e-5 apart where the penalty's term of the variance's gradient,
    # alpha ||b||^2 / s2^2, overflowed to 0: s2^2 is above 1e308)
    np.testing.assert_allclose(
        huge.expert_variance_, 1e160 * plain.expert_variance_, rtol=1e-8
    )


def test_warns_where_the_fit_is_short_of_a_maximum():
    """One Gaussian expert moved off its least-squares fit by delta: a Newton
    step back has the length sqrt(q + q**2 / (2 n)) in the information's
    metric, q = delta' X~'X~ delta / sigma^2 (the coefficients' part, and the
    log variance's, whose gradient is q / 2 with information n / 2)."""
    rng, X, _ = linear_data(n=400)
    y = 3.0 + X @ [1.0, -0.5] + rng.normal(size=len(X))
    model = MoERegressor(n_experts=1, alpha=0.0, **TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.std_errors(X, y)  # at the maximum: no warning
    delta = np.array([0.02, -0.015])
    q = np.sum((X @ delta) ** 2) / model.expert_variance_[0]
    moved = copy.deepcopy(model).set_params(tol=0.5)  # (the fit's tol is quoted)
    moved.expert_coef_ = moved.expert_coef_ + delta
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        moved.std_errors(X, y)
    (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
    step = float(message.split("move them ")[1].split(" ")[0])
    assert step == pytest.approx(np.sqrt(q + q**2 / (2 * len(X))), rel=0.01)
    assert "on tol=1e-12" in message and "smaller tol (tol=1e-15" in message
    # Adam's epochs stop short at any tol: the advice is EM
    sgd = MoERegressor(n_experts=1, alpha=0.0, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd.fit(X, y)
    with pytest.warns(UserWarning, match="not at a maximum.*solver='em'"):
        sgd.std_errors(X, y)
    # stopped by max_iter: the advice is a larger max_iter
    two = MoERegressor(n_experts=2, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        two.fit(X, y)
    with pytest.warns(UserWarning, match="at max_iter=3.*a larger max_iter"):
        two.std_errors(X, y)
    # the fit's max_iter, not one set after it: the same advice (it was "where
    # the solver stopped ... refit with solver='em' and a smaller tol", the
    # words for L-BFGS's line search, to an EM fit that ran out of iterations)
    two.set_params(max_iter=1000)
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        two.std_errors(X, y)
    (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
    assert "at max_iter=3, before tol=1e-05 held: refit with a larger max_iter" in (
        message
    )
    assert "where the solver stopped" not in message


def test_advice_where_the_gradient_solver_stopped_before_tol_held(monkeypatch):
    """L-BFGS's line search can stop (ABNORMAL) before tol holds and before
    max_iter, ``converged_=False``: no natural fit reaches that stop any
    more (EM finishes such a fit), so the private solver is wrapped to report
    its run unconverged. The warning then names the stop and advises EM with a
    smaller tol, not a larger max_iter (it has iterations left) nor a smaller
    tol alone (it did not stop on tol); the Newton step is the closed form of
    test_warns_where_the_fit_is_short_of_a_maximum."""
    import skmoe._solvers

    real = skmoe._solvers.run_gradient

    def stopped(*args, **kwargs):
        result = real(*args, **kwargs)
        result.converged = False  # (as a line search that found no decrease)
        return result

    monkeypatch.setattr(skmoe._solvers, "run_gradient", stopped)
    rng, X, _ = linear_data(n=400)
    y = 3.0 + X @ [1.0, -0.5] + rng.normal(size=len(X))
    model = MoERegressor(1, alpha=0.0, solver="gradient", tol=1e-6, max_iter=500)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert not model.converged_ and model.n_iter_ < 500
    exact = MoERegressor(1, alpha=0.0, **TIGHT).fit(X, y)
    model.expert_coef_ = exact.expert_coef_ + [0.02, -0.015]
    model.expert_intercept_ = exact.expert_intercept_
    model.expert_variance_ = exact.expert_variance_
    q = np.sum((X @ [0.02, -0.015]) ** 2) / exact.expert_variance_[0]
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        model.std_errors(X, y)
    (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
    step = float(message.split("move them ")[1].split(" ")[0])
    assert step == pytest.approx(np.sqrt(q + q**2 / (2 * len(X))), rel=0.01)
    assert (
        "it stopped short of the maximum where the solver stopped, before "
        "tol=1e-06 held: refit with solver='em' and a smaller tol before taking "
        "standard errors"
    ) in message
    # with balance_coef, which EM refuses, the stop is by design: the fit
    # maximizes the likelihood less the load-balancing loss
    balanced = MoERegressor(1, alpha=0.0, solver="gradient", tol=1e-6, max_iter=500)
    with pytest.warns(ConvergenceWarning):
        balanced.set_params(balance_coef=0.1).fit(X, y)
    with pytest.raises(ValueError, match="adds a loss that EM does not optimize"):
        clone(balanced).set_params(solver="em").fit(X, y)
    for name in ("expert_coef_", "expert_intercept_", "expert_variance_"):
        setattr(balanced, name, getattr(model, name))
    _assert_advises_balance_coef_0(balanced, X, y, "0.1")


def test_advice_where_balance_coef_moved_a_converged_fit_off_the_maximum():
    # a converged fit with balance_coef maximizes the likelihood less the
    # load-balancing loss: it was told to refit with a smaller tol, which
    # converges to the same point; the same fit with balance_coef=0 is at the
    # likelihood's maximum (no warning)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = np.where(X[:, 0] > 1, 3 * X[:, 1], -X[:, 1]) + 0.1 * rng.normal(size=600)
    params = dict(solver="gradient", random_state=0, tol=1e-10, max_iter=3000)
    plain = MoERegressor(2, **params).fit(X, y)
    assert plain.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.std_errors(X, y)
    balanced = MoERegressor(2, balance_coef=2.0, **params).fit(X, y)
    assert balanced.converged_
    balanced.set_params(balance_coef=0.0)  # (the fit's balance_coef is quoted)
    _assert_advises_balance_coef_0(balanced, X, y, "2")


def _assert_advises_balance_coef_0(model, X, y, balance):
    # std_errors' warning names the fit's balance_coef as why it is off the
    # likelihood's maximum, and advises balance_coef=0
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        model.std_errors(X, y)
    (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
    assert (
        f"it stopped short of the maximum by design: balance_coef={balance} adds "
        "a load-balancing loss to what it maximizes, whose maximum is not the "
        "likelihood's: refit with balance_coef=0 before taking standard errors"
    ) in message


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_advice_where_the_objective_of_an_em_fit_became_nan(monkeypatch, dtype):
    """An EM fit stops before max_iter, unconverged, where its objective
    becomes NaN: with top_k its sparse run keeps its best iterate before it,
    and pruned to top_k experts the model is dense, so std_errors runs. The
    advice was L-BFGS's, "refit with solver='em' and a smaller tol", to an
    EM fit; it is now the fit's own (rescale, or raise alpha). The NaN is
    forced by an M-step of NaN coefficients after the fifth (no natural fit
    reaches it: the inputs' checks refuse values whose squares overflow).
    The advice is the fit's own ConvergenceWarning's, "fit in float64"
    included for a float32 fit."""
    nan_m_steps_after(monkeypatch)  # (the start's M-step and 5 iterations)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], 1 - X[:, 1]) + 0.3 * rng.normal(size=300)
    X, y = X.astype(dtype), y.astype(dtype)
    model = MoERegressor(3, top_k=2, prune_threshold=0.3, n_init=1, random_state=0)
    with (
        np.errstate(all="ignore"),
        pytest.warns(ConvergenceWarning, match="nan") as fit,
    ):
        model.fit(X, y)
    (fitted,) = [str(w.message) for w in fit if "objective became" in str(w.message)]
    # stopped early by the NaN, with the best iterate's finite parameters,
    # pruned to the top_k experts (a dense model, whose std_errors run)
    assert not model.converged_ and model.n_iter_ == 6 < model.max_iter
    assert np.isnan(model.objective_history_[-1]) and model.n_experts_ == 2
    assert np.isfinite(model.log_likelihood_)
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        model.std_errors(X, y)
    (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
    wider = ", fit in float64" if dtype == np.float32 else ""
    advice = (
        "escale the features and y (e.g. with sklearn.preprocessing."
        f"StandardScaler){wider} or raise alpha"
    )
    assert advice in fitted  # the fit's own words ("Rescale ...")
    assert (
        "it stopped short of the maximum where its objective became nan at "
        f"iteration 6, before tol=1e-05 held: r{advice}, and refit before "
        "taking standard errors"
    ) in message
    assert "solver='em'" not in message and "max_iter" not in message


def test_newton_step_with_correlated_features():
    """As above, with x2 = x1 + 0.05 noise: the equilibrated information is far
    from the identity (x1 and x2 nearly collinear), so the step's metric, the
    inverse information, matters. A move along x1 - x2 is 0.33 standard
    errors (above the documented 0.1) and must be reported."""
    rng = np.random.RandomState(0)
    n = 400
    x1 = rng.normal(size=n)
    X = np.column_stack([x1, x1 + 0.05 * rng.normal(size=n)]) + 5.0
    y = 3.0 + X @ [1.0, -0.5] + rng.normal(size=n)
    model = MoERegressor(n_experts=1, alpha=0.0, **TIGHT).fit(X, y)
    for delta in ([0.3, -0.3], [1.0, -1.0]):
        q = np.sum((X @ delta) ** 2) / model.expert_variance_[0]
        moved = copy.deepcopy(model)
        moved.expert_coef_ = moved.expert_coef_ + delta
        with pytest.warns(UserWarning, match="not at a maximum") as record:
            moved.std_errors(X, y)
        (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
        step = float(message.split("move them ")[1].split(" ")[0])
        # (the message gives two significant digits)
        expected = np.sqrt(q + q**2 / (2 * n))
        assert step == pytest.approx(expected, rel=0.05)


def test_default_tol_can_stop_short_of_the_maximum_and_says_so():
    # two experts on scikit-learn's diabetes data: at the default tol, 18 of
    # the gate's 22 standard errors were inf (negative curvature), without a
    # word on the cause; at tol=1e-8 all are finite, and so they are after
    # SQUAREM at the default tol, which the warning names
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="not at a maximum.*acceleration='squarem'"):
        model.std_errors(X, y)
    model.set_params(acceleration="squarem").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = model.std_errors(X, y)
    assert all(np.all(np.isfinite(value)) for value in se.values())
    # a SQUAREM fit short of its maximum is not told to use SQUAREM, even
    # after set_params takes it off
    model.set_params(acceleration=None)
    model.expert_coef_ = model.expert_coef_ * 1.01
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        model.std_errors(X, y)
    assert not any("acceleration" in str(w.message) for w in record)
    model.set_params(tol=1e-8, acceleration=None).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = model.std_errors(X, y)
    assert all(np.all(np.isfinite(value)) for value in se.values())


def test_negative_curvature_says_the_fit_is_short_of_a_maximum():
    # two experts on Friedman 1 data at the default tol: an eigenvalue of the
    # equilibrated information of -0.019 times the largest and 44 standard
    # errors inf, where the Newton step over the other directions was 0.081
    # (below the threshold); at tol=1e-10 all are finite
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(300, random_state=0)
    model = MoERegressor(n_experts=2, random_state=2).fit(X, y)
    with pytest.warns(
        UserWarning, match=r"along 1 direction\(s\) the likelihood curves up"
    ):
        model.std_errors(X, y)
    model.set_params(tol=1e-10, max_iter=5000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = model.std_errors(X, y)
    assert all(np.all(np.isfinite(value)) for value in se.values())


def _three_expert_concomitant(seed=4, n=900):
    """Three lines mixed by a softmax of z (log-odds against expert 0)."""
    rng = np.random.default_rng(seed)
    x, z = rng.uniform(0, 10, n), rng.normal(size=n)
    eta = np.column_stack([np.zeros(n), 0.3 + z, -0.2 - z])
    prior = special.softmax(eta, axis=1)
    c = (rng.random(n)[:, None] > np.cumsum(prior, axis=1)).sum(axis=1)
    y = np.array([1.0, 12.0, 5.0])[c] + np.array([2.0, -1.0, 0.0])[c] * x
    return np.column_stack([x, z]), y + rng.normal(size=n)


def test_covariance_gives_the_gate_log_odds_standard_errors():
    # flexmix reports each component's log-odds against the first; with three
    # experts their standard errors need the centred coefficients' covariance
    # (the two variances alone understated them by 21%). Checked against the
    # inverse of a finite-difference Hessian of the log-likelihood written in
    # the log-odds parameters.
    X, y = _three_expert_concomitant()
    model = MoERegressor(
        3,
        gate_features=[1],
        expert_features=[0],
        alpha=0,
        tol=1e-10,
        max_iter=5000,
        random_state=0,
    ).fit(X, y)
    x, z = X[:, 0], X[:, 1]

    def log_likelihood(theta):
        intercepts, slopes, log_var = theta[0:3], theta[3:6], theta[6:9]
        a, s = theta[9:11], theta[11:13]
        eta = np.column_stack([np.zeros(len(z)), a[0] + s[0] * z, a[1] + s[1] * z])
        log_gate = special.log_softmax(eta, axis=1)
        mean = intercepts + x[:, None] * slopes
        log_p = stats.norm.logpdf(y[:, None], mean, np.sqrt(np.exp(log_var)))
        return special.logsumexp(log_gate + log_p, axis=1).sum()

    odds_a = model.gate_intercept_ - model.gate_intercept_[0]
    odds_s = model.gate_coef_[:, 1] - model.gate_coef_[0, 1]
    theta = np.r_[
        model.expert_intercept_,
        model.expert_coef_[:, 0],
        np.log(model.expert_variance_),
        odds_a[1:],
        odds_s[1:],
    ]
    hessian = central_hessian(log_likelihood, theta)
    expected = np.sqrt(np.diag(np.linalg.inv(-hessian)))[9:13]

    errors = model.std_errors(X, y, return_cov=True)
    cov, names = errors.covariance, errors.parameters
    # the diagonal is the standard errors', entry by entry, in the Bunch's
    # order, of the entries the model estimates
    flat = np.concatenate(
        [np.ravel(errors[k]) for k in errors if k not in ("covariance", "parameters")]
    )
    assert cov.shape == (flat.size - 6, flat.size - 6) and len(names) == cov.shape[0]
    every = [
        f"{k}[{', '.join(map(str, i))}]"
        for k in errors
        if k.endswith("_")
        for i in np.ndindex(*errors[k].shape)
    ]
    kept = [every.index(name) for name in names]
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), flat[kept], rtol=1e-10)
    np.testing.assert_allclose(cov, cov.T, atol=1e-14)
    # the log-odds of experts 1 and 2 against expert 0: contrasts of entries
    found = []
    for k in (1, 2):
        for base in ("gate_intercept_[{}]", "gate_coef_[{}, 1]"):
            c = np.zeros(len(names))
            c[names.index(base.format(k))] += 1
            c[names.index(base.format(0))] -= 1
            found.append(np.sqrt(c @ cov @ c))
    np.testing.assert_allclose(np.array(found)[[0, 2, 1, 3]], expected, rtol=2e-3)
    # x is not the gate's, z not the experts': fixed, left out
    assert not any(
        name.startswith("gate_coef_") and name.endswith(", 0]") for name in names
    )
    assert not any(
        name.startswith("expert_coef_") and name.endswith(", 1]") for name in names
    )
    assert {every[i] for i in set(range(flat.size)) - set(kept)} == {
        f"gate_coef_[{k}, 0]" for k in range(3)
    } | {f"expert_coef_[{k}, 1]" for k in range(3)}


def test_covariance_of_a_tied_variance_and_of_logistic_experts():
    X, y = _three_expert_concomitant(seed=5, n=400)
    tied = MoERegressor(2, variance_type="tied", alpha=0, random_state=0).fit(X, y)
    errors = tied.std_errors(X, y, return_cov=True)
    flat = np.concatenate([np.ravel(errors[k]) for k in errors if k.endswith("_")])
    np.testing.assert_allclose(np.sqrt(np.diag(errors.covariance)), flat, rtol=1e-10)
    rng = np.random.RandomState(0)
    Xc = rng.randn(300, 2)
    yc = rng.randint(0, 3, 300)
    clf = MoEClassifier(2, random_state=0).fit(Xc, yc)
    errors = clf.std_errors(Xc, yc, return_cov=True)
    flat = np.concatenate([np.ravel(errors[k]) for k in errors if k.endswith("_")])
    assert errors.covariance.shape == (flat.size, flat.size)
    assert errors.parameters[-1] == "expert_coef_[1, 2, 1]"
    np.testing.assert_allclose(np.sqrt(np.diag(errors.covariance)), flat, rtol=1e-10)


def test_bunch_order_is_the_documented_one_for_gamma_experts():
    # the Gamma experts' dispersion came first, before their coefficients, in
    # the Bunch, the parameters' names and the covariance
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2)
    y = rng.gamma(2.0, np.exp(0.5 * X[:, 0]))
    model = MoEGammaRegressor(2, random_state=0).fit(X, y)
    errors = model.std_errors(X, y, return_cov=True)
    attributes = [k for k in errors if k.endswith("_")]
    assert attributes == [
        "gate_intercept_",
        "gate_coef_",
        "expert_intercept_",
        "expert_coef_",
        "expert_dispersion_",
    ]
    assert errors.parameters[-2:] == ["expert_dispersion_[0]", "expert_dispersion_[1]"]


def test_covariance_leaves_out_what_the_model_fixes():
    # a constant gate's slopes and a point mass's coefficients were in the
    # matrix with zero rows (singular for anyone inverting it)
    rng = np.random.RandomState(0)
    X = rng.randn(500, 2)
    y = rng.poisson(np.exp(0.3 + 0.5 * X[:, 0])) * (rng.rand(500) > 0.3)
    model = MoEPoissonRegressor(
        2, gate="constant", zero_inflated=True, random_state=0
    ).fit(X, y)
    errors = model.std_errors(X, y, return_cov=True)
    mass = int(np.flatnonzero(np.isneginf(model.expert_intercept_))[0])
    names = errors.parameters
    assert not any(name.startswith("gate_coef_") for name in names)
    assert f"expert_intercept_[{mass}]" not in names
    assert not any(name.startswith(f"expert_coef_[{mass},") for name in names)
    # no zero rows left (the centred gate intercepts' matrix is singular by
    # design: they sum to 0)
    assert np.all(np.any(errors.covariance != 0, axis=1))


def test_student_t_standard_errors_do_not_follow_a_gross_outlier():
    # one outlier of 1e15 moved the centre of y (its mean), and with it a
    # Student-t expert's intercept, to -5e15 of its units, where the
    # Hessian's step of 1e-4 was lost: every standard error inf, and NumPy's
    # 0/0 warning. The fit does not depend on the outlier's size (df=3 gives
    # it a weight of about 0), and its standard errors must not either
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1))
    y = 1 + 2 * X[:, 0] + 0.5 * rng.standard_t(3, 200)
    results = []
    for outlier in (1e3, 1e15):
        y[-1] = outlier
        model = MoERegressor(n_experts=1, noise="student_t", df=3.0, random_state=0)
        model.fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results.append(model.std_errors(X, y))
    for name in ("expert_intercept_", "expert_coef_", "expert_variance_"):
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_a_flat_direction_is_not_reported_as_curving_up(seed):
    # one Gaussian expert with a duplicated feature and alpha=0: the
    # log-likelihood is exactly flat along (coef of x0) - (coef of its copy)
    # and concave elsewhere, so std_errors may call that direction singular
    # but never say the likelihood curves up (the finite differences leave
    # eigenvalues of +-1e-16 there); the other slope's standard error is
    # OLS's on the design without the copy, at the MLE variance
    rng = np.random.RandomState(seed)
    x = rng.randn(200, 2)
    X = np.column_stack([x, x[:, 0]])
    y = 1 + x @ [1.0, -2.0] + 0.3 * rng.randn(200)
    model = MoERegressor(1, alpha=0.0, tol=1e-10).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        se = model.std_errors(X, y)
    messages = [str(w.message) for w in caught]
    assert any("singular" in message for message in messages), messages
    assert not any("curves up" in message for message in messages), messages
    design = np.column_stack([np.ones(len(y)), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    variance = np.mean((y - design @ coef) ** 2)
    expected = np.sqrt(variance * np.diag(np.linalg.inv(design.T @ design)))
    assert np.all(np.isinf(se.expert_coef_[0, [0, 2]]))
    np.testing.assert_allclose(se.expert_coef_[0, 1], expected[2], rtol=1e-5)


def test_a_variance_off_its_maximum_has_its_own_curvature():
    # the logs' curvature v^2 f''(v) + v f'(v) took the gradient's term for
    # information: at 1.2 times its maximum-likelihood value a variance's
    # standard error was 0.0865, where the curvature gives 0.0967
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    y = 1 + 2 * X[:, 0] + rng.normal(size=400)
    model = MoERegressor(1).fit(X, y)
    model.expert_variance_ = 1.2 * model.expert_variance_
    s2 = model.expert_variance_[0]
    ssr = np.sum((y - model.predict(X)) ** 2)
    # -d2/ds2^2 of the Gaussian log-likelihood; the coefficients' cross terms
    # are 0 (the residuals of least squares are orthogonal to X)
    information = -(400 / (2 * s2**2) - ssr / s2**3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (not at a maximum, as it says)
        se = model.std_errors(X, y, return_cov=True)
    np.testing.assert_allclose(se["expert_variance_"][0], information**-0.5, rtol=1e-4)
    np.testing.assert_allclose(se["covariance"][-1, -1], 1 / information, rtol=1e-4)


def test_a_dispersion_short_of_the_poisson_limit_is_not_determined():
    # underdispersed counts: the likelihood rises towards the floor of the
    # dispersion and curves up there, so the observed information gives no
    # standard error; at 1e-5 (as EM stops short of the floor) the gradient's
    # term in the logs' curvature gave 1.5e-4, with no warning
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 1))
    y = rng.binomial(10, 1 / (1 + np.exp(-(0.2 + 0.5 * X[:, 0])))).astype(float)
    model = MoENegativeBinomialRegressor(1).fit(X, y)
    a = 1e-5
    model.expert_dispersion_ = np.array([a])

    def loglik(value):
        model.expert_dispersion_ = np.array([value])
        return np.sum(model.log_likelihood_samples(X, y))

    h = 1e-6
    assert loglik(a + h) - 2 * loglik(a) + loglik(a - h) > 0  # curving up
    model.expert_dispersion_ = np.array([a])
    with pytest.warns(UserWarning, match=r"do not determine expert_dispersion_\[0\]"):
        se = model.std_errors(X, y)
    assert se["expert_dispersion_"][0] == np.inf
    # the coefficients', at that dispersion: minus the Hessian in b is
    # sum x x' mu (1 + a y) / (1 + a mu)^2
    rows = design(X)
    mu = np.exp(rows @ np.r_[model.expert_intercept_, model.expert_coef_[0]])
    weight = mu * (1 + a * y) / (1 + a * mu) ** 2
    expected = np.sqrt(np.diag(np.linalg.inv((rows * weight[:, None]).T @ rows)))
    np.testing.assert_allclose(
        np.r_[se["expert_intercept_"], se["expert_coef_"][0]], expected, rtol=1e-5
    )


def test_a_variance_at_its_floor_is_named_in_the_warning():
    # y exactly linear in X: the one expert's variance sits on its floor, a
    # bound, so its standard error is inf and the warning names that cause;
    # the coefficients' are least squares' at that variance,
    # sqrt(v diag((X~'X~)^-1))
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = 1.0 + X @ np.array([2.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the collapse, at fit
        model = MoERegressor(n_experts=1, alpha=0.0).fit(X, y)
    with pytest.warns(UserWarning, match="a variance at its floor"):
        se = model.std_errors(X, y)
    assert np.isinf(se.expert_variance_[0])
    design = np.column_stack([np.ones(len(y)), X])
    expected = np.sqrt(
        model.expert_variance_[0] * np.diag(np.linalg.inv(design.T @ design))
    )
    np.testing.assert_allclose(se.expert_intercept_, expected[:1], rtol=1e-5)
    np.testing.assert_allclose(se.expert_coef_[0], expected[1:], rtol=1e-5)


def test_std_errors_and_the_criteria_check_the_fit_once(monkeypatch):
    # std_errors checked the fit twice (and a Poisson model's three times), and
    # a Poisson model's bic, aic and icl counted its parameters twice
    from skmoe import _std_errors

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1))
    log_rate = np.where(X[:, 0] > 0, 1.5 + 0.5 * X[:, 0], 0.2 - 0.5 * X[:, 0])
    y = rng.poisson(np.exp(log_rate)).astype(float)
    model = MoEPoissonRegressor(2, random_state=0).fit(X, y)
    checks, counts = [], []
    check = _std_errors.check_is_fitted
    monkeypatch.setattr(
        _std_errors, "check_is_fitted", lambda *a: checks.append(1) or check(*a)
    )
    regressor = MoERegressor(1).fit(X, y)
    regressor.std_errors(X, y)
    assert len(checks) == 1
    count = type(model)._n_parameters
    monkeypatch.setattr(
        type(model), "_n_parameters", lambda self: counts.append(1) or count(self)
    )
    n_parameters = count(model)
    log_likelihood = model.log_likelihood_samples(X, y).sum()
    for method, penalty in (("bic", np.log(300)), ("aic", 2.0)):
        counts.clear()
        value = getattr(model, method)(X, y)
        assert len(counts) == 1
        np.testing.assert_allclose(
            value, -2 * log_likelihood + n_parameters * penalty, rtol=1e-12
        )
    counts.clear()
    model.icl(X, y)
    assert len(counts) == 1


def test_advice_to_a_stochastic_fit_with_balance_coef():
    # solver='sgd' (and partial_fit) with balance_coef > 0 was advised "refit
    # with fit and solver='em'", which EM refuses (balance_coef); it now
    # names balance_coef=0 too, which EM accepts. partial_fit quotes its own
    # balance_coef, not the earlier fit's
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = np.where(X[:, 0] > 1, 3 * X[:, 1], -X[:, 1]) + 0.1 * rng.normal(size=600)
    sgd = MoERegressor(2, solver="sgd", balance_coef=2.0, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd.fit(X, y)
    streamed = MoERegressor(2, solver="sgd", random_state=0).fit(X, y)
    streamed.set_params(balance_coef=0.5).partial_fit(X, y)
    for model, balance in ((sgd, "2"), (streamed, "0.5")):
        with pytest.warns(UserWarning, match="not at a maximum") as record:
            model.std_errors(X, y)
        (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
        assert (
            "by stochastic steps (solver='sgd' or partial_fit) and by design: "
            f"balance_coef={balance} adds a load-balancing loss to what it "
            "maximizes, whose maximum is not the likelihood's: refit with fit, "
            "solver='em' and balance_coef=0 (tol=1e-08) before taking"
        ) in message
    with pytest.raises(ValueError, match="adds a loss that EM does not optimize"):
        clone(sgd).set_params(solver="em").fit(X, y)
    clone(sgd).set_params(solver="em", balance_coef=0.0, tol=1e-8).fit(X, y)


def _two_count_regimes(family, zero_inflated=False):
    # 400 rows of two log-linear regimes (split at x0 = 0) and a target of
    # the family; a third of them zeros where zero_inflated
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    mu = np.exp(np.where(X[:, 0] > 0, 1 + 0.5 * X[:, 1], 0.2 - 0.7 * X[:, 1]))
    if family == "poisson":
        y = rng.poisson(mu).astype(float)
    elif family == "negative_binomial":
        y = rng.negative_binomial(3, 3 / (3 + mu)).astype(float)
    else:
        y = rng.gamma(2.0, mu / 2)
    if zero_inflated:
        y[rng.random(400) < 0.3] = 0.0
    return X, y


COUNT_MODELS = [
    (MoEPoissonRegressor, "poisson", {}),
    (MoENegativeBinomialRegressor, "negative_binomial", {}),
    (MoEGammaRegressor, "gamma", {}),
    (MoEPoissonRegressor, "poisson", {"zero_inflated": True}),
    (MoEGammaRegressor, "gamma", {"zero_inflated": True}),
]


@pytest.mark.parametrize("Estimator, family, options", COUNT_MODELS)
def test_count_and_gamma_models_with_balance_coef_are_advised_balance_coef_0(
    Estimator, family, options
):
    # balance_coef was exercised with Gaussian and logistic experts only: a
    # gradient fit of Poisson, negative binomial, Gamma and
    # zero-inflated experts with balance_coef=0.5 is off the likelihood's
    # maximum by design; std_errors says so, advises balance_coef=0, and its
    # values are finite. Following the advice (the same fit continued with
    # balance_coef=0) reaches the maximum: no warning
    X, y = _two_count_regimes(family, options.get("zero_inflated", False))
    params = dict(solver="gradient", random_state=0, tol=1e-10, max_iter=5000)
    with warnings.catch_warnings():
        # (the Gamma experts' L-BFGS stops short, "ABNORMAL", where
        # balance_coef switches experts: the advice is the same)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Estimator(2, balance_coef=0.5, **options, **params).fit(X, y)
    with pytest.warns(UserWarning, match="not at a maximum") as record:
        se = model.std_errors(X, y)
    (message,) = [str(w.message) for w in record if "maximum" in str(w.message)]
    assert (
        "it stopped short of the maximum by design: balance_coef=0.5 adds a "
        "load-balancing loss to what it maximizes, whose maximum is not the "
        "likelihood's: refit with balance_coef=0 before taking standard errors"
    ) in message
    assert all(np.all(np.isfinite(values)) for values in se.values())
    model.set_params(balance_coef=0.0, warm_start=True).fit(X, y)
    assert model.converged_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        advised = model.std_errors(X, y)
    assert all(np.all(np.isfinite(values)) for values in advised.values())


def test_one_poisson_expert_with_balance_coef_is_the_glm_inverse_information():
    # with one expert the load-balancing loss is constant: a fit with
    # balance_coef=0.5 is the GLM's maximum, and its standard errors are the
    # closed form (X^T W X)^-1 at its coefficients, without a warning (not
    # the "by design" advice, which holds for several experts only)
    rng, X, w = linear_data(shift=1.0)
    y = rng.poisson(np.exp(0.3 + X @ [0.2, -0.1])).astype(float)
    model = MoEPoissonRegressor(
        n_experts=1, alpha=0, solver="gradient", balance_coef=0.5, **TIGHT
    ).fit(X, y, w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        se = model.std_errors(X, y, sample_weight=w)
    Xt = design(X)
    beta = np.r_[model.expert_intercept_, model.expert_coef_[0]]
    # (the score equations of the GLM: its maximum, independently of skmoe)
    mu = np.exp(Xt @ beta)
    np.testing.assert_allclose(Xt.T @ (w * (y - mu)), 0, atol=1e-6 * np.sum(w * y))
    glm = np.sqrt(np.diag(np.linalg.inv(Xt.T @ ((w * mu)[:, None] * Xt))))
    np.testing.assert_allclose(se.expert_intercept_, glm[:1], rtol=1e-4)
    np.testing.assert_allclose(se.expert_coef_, glm[None, 1:], rtol=1e-4)
