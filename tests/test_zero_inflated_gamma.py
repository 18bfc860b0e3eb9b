"""MoEGammaRegressor(zero_inflated=True): a point mass at zero beside Gamma
experts (a hurdle model), checked against the logistic regression of the zeros
and the Gamma regression of the positive amounts it separates into (with two
experts), a likelihood written out here and maximized by scipy (three), the
closed-form observed information, and the closed-form predictive
distribution."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.base import clone
from sklearn.linear_model import GammaRegressor
from sklearn.metrics import r2_score

from skmoe import MoEGammaRegressor, PredictiveGammaMixture

TIGHT = dict(alpha=0.0, tol=1e-12, max_iter=5000)


def hurdle_data(n=1500, seed=0, regimes=False):
    """Zeros with probability expit(0.5 - x1), else Gamma amounts of shape 4
    and log mean 1 + 0.5 x2 (with ``regimes``: 3 - x2 where x1 > 0)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    log_mean = 1 + 0.5 * X[:, 1]
    if regimes:
        log_mean = np.where(X[:, 0] > 0, 3 - X[:, 1], log_mean)
    zero = rng.rand(n) < special.expit(0.5 - X[:, 0])
    y = np.where(zero, 0.0, rng.gamma(4.0, np.exp(log_mean) / 4.0))
    return X, y


def logistic_fit(Xt, z, w):
    """The weighted maximum-likelihood logistic regression of z on Xt, and
    its inverse observed information."""

    def negative(a):
        eta = Xt @ a
        value = np.sum(w * (np.logaddexp(0, eta) - z * eta))
        return value, Xt.T @ (w * (special.expit(eta) - z))

    a = optimize.minimize(
        negative,
        np.zeros(Xt.shape[1]),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-11},
    ).x
    p = special.expit(Xt @ a)
    information = Xt.T @ (Xt * (w * p * (1 - p))[:, None])
    return a, -negative(a)[0], np.linalg.inv(information)


def gamma_log_likelihood(y, mu, shape, w):
    return np.sum(w * stats.gamma.logpdf(y, shape, scale=mu / shape))


def test_two_experts_are_a_logistic_and_a_gamma_regression():
    """With one Gamma expert the likelihood separates: the gate is the
    logistic regression of y == 0, the expert scikit-learn's GammaRegressor on
    the positive amounts, its shape their maximum-likelihood one."""
    X, y = hurdle_data()
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0, **TIGHT)
    model.fit(X, y, sample_weight=w)
    Xt = np.column_stack([np.ones(len(X)), X])
    a, logistic_ll, _ = logistic_fit(Xt, (y == 0).astype(float), w)
    positive = y > 0
    reference = GammaRegressor(alpha=0.0, tol=1e-12, max_iter=10000)
    reference.fit(X[positive], y[positive], sample_weight=w[positive])
    mu = reference.predict(X[positive])

    def negative(log_shape):
        return -gamma_log_likelihood(y[positive], mu, np.exp(log_shape), w[positive])

    log_shape = optimize.minimize_scalar(
        negative, bounds=(-5, 8), method="bounded", options={"xatol": 1e-12}
    ).x

    assert model.expert_intercept_[0] == -np.inf
    np.testing.assert_array_equal(model.expert_coef_[0], 0.0)
    assert model.expert_dispersion_[0] == 0.0
    np.testing.assert_allclose(model.expert_coef_[1], reference.coef_, atol=2e-6)
    np.testing.assert_allclose(
        model.expert_intercept_[1], reference.intercept_, atol=2e-6
    )
    np.testing.assert_allclose(
        1 / model.expert_dispersion_[1], np.exp(log_shape), rtol=1e-5
    )
    # the gate's log-odds of a zero (its coefficients are centred)
    log_odds_coef = model.gate_coef_[0] - model.gate_coef_[1]
    log_odds = model.gate_intercept_[0] - model.gate_intercept_[1]
    np.testing.assert_allclose(np.r_[log_odds, log_odds_coef], a, atol=2e-6)
    expected = logistic_ll - negative(log_shape)
    np.testing.assert_allclose(model.log_likelihood_, expected, rtol=1e-9)
    # the mean: no zero times the Gamma's mean
    p_zero = special.expit(Xt @ a)
    np.testing.assert_allclose(
        model.predict(X), (1 - p_zero) * reference.predict(X), rtol=1e-5
    )


def hurdle_log_likelihood(theta, X, y):
    """The log-likelihood of a point mass at zero and two Gamma experts under a
    softmax gate, theta = (gate logits of experts 1 and 2 against the point
    mass, 3 each; log means, 3 each; log shapes, 1 each)."""
    Xt = np.column_stack([np.ones(len(X)), X])
    logits = np.column_stack([np.zeros(len(X)), Xt @ theta[0:3], Xt @ theta[3:6]])
    log_gate = logits - special.logsumexp(logits, axis=1, keepdims=True)
    positive = y > 0
    ll = np.where(positive, -np.inf, log_gate[:, 0])
    parts = []
    for k, (coef, log_shape) in enumerate(
        [(theta[6:9], theta[12]), (theta[9:12], theta[13])]
    ):
        shape = np.exp(log_shape)
        mu = np.exp(Xt[positive] @ coef)
        parts.append(
            log_gate[positive, k + 1]
            + stats.gamma.logpdf(y[positive], shape, scale=mu / shape)
        )
    ll[positive] = np.logaddexp(*parts)
    return ll.sum()


def test_the_penalty_is_per_unit_of_all_rows_weight():
    # with alpha > 0 the Gamma expert of two is GammaRegressor on the positive
    # amounts at alpha times the total weight over theirs (as documented)
    X, y = hurdle_data(n=600)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0, **TIGHT)
    model.set_params(alpha=0.3).fit(X, y, sample_weight=w)
    positive = y > 0
    alpha = 0.3 * np.sum(w) / np.sum(w[positive])  # 0.72 here
    reference = GammaRegressor(alpha=alpha, tol=1e-12, max_iter=10000)
    reference.fit(X[positive], y[positive], sample_weight=w[positive])
    np.testing.assert_allclose(model.expert_coef_[1], reference.coef_, atol=1e-7)
    np.testing.assert_allclose(
        model.expert_intercept_[1], reference.intercept_, atol=1e-7
    )


def test_three_experts_maximize_the_hurdle_likelihood():
    X, y = hurdle_data(n=1200, regimes=True)
    model = MoEGammaRegressor(3, zero_inflated=True, n_init=3, random_state=0, **TIGHT)
    model.fit(X, y)
    assert model.expert_intercept_[0] == -np.inf
    gate_coef = np.column_stack([model.gate_intercept_, model.gate_coef_])
    relative = gate_coef[1:] - gate_coef[0]
    theta = np.r_[
        relative[0],
        relative[1],
        model.expert_intercept_[1],
        model.expert_coef_[1],
        model.expert_intercept_[2],
        model.expert_coef_[2],
        -np.log(model.expert_dispersion_[1:]),
    ]
    at_fit = hurdle_log_likelihood(theta, X, y)
    np.testing.assert_allclose(model.log_likelihood_, at_fit, rtol=1e-10)
    result = optimize.minimize(
        lambda t: -hurdle_log_likelihood(t, X, y),
        theta,
        method="BFGS",
        options={"gtol": 1e-6},
    )
    # scipy finds nothing better from skmoe's optimum, and stays there
    assert -result.fun <= at_fit + 1e-6
    np.testing.assert_allclose(result.x, theta, atol=2e-4)


def test_standard_errors_are_the_closed_form_observed_information():
    """The gate's log-odds: the logistic regression's inverse information
    (the centred coefficients carry half of each log-odds); the Gamma
    expert's coefficients: nu X' diag(y / mu) X; its shape: n (trigamma(nu) -
    1 / nu), at an optimum where the cross terms vanish."""
    X, y = hurdle_data(n=1000, seed=2)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0, **TIGHT).fit(X, y)
    errors = model.std_errors(X, y)
    Xt = np.column_stack([np.ones(len(X)), X])
    _, _, logistic_cov = logistic_fit(Xt, (y == 0).astype(float), np.ones(len(y)))
    half = np.sqrt(np.diag(logistic_cov)) / 2
    np.testing.assert_allclose(errors["gate_intercept_"], half[0], rtol=1e-4)
    np.testing.assert_allclose(errors["gate_coef_"][0], half[1:], rtol=1e-4)
    positive = y > 0
    Xp = Xt[positive]
    mu = np.exp(model.expert_intercept_[1] + X[positive] @ model.expert_coef_[1])
    shape = 1 / model.expert_dispersion_[1]
    coef_cov = np.linalg.inv(shape * Xp.T @ (Xp * (y[positive] / mu)[:, None]))
    np.testing.assert_allclose(
        errors["expert_intercept_"][1], np.sqrt(coef_cov[0, 0]), rtol=1e-4
    )
    np.testing.assert_allclose(
        errors["expert_coef_"][1], np.sqrt(np.diag(coef_cov)[1:]), rtol=1e-4
    )
    shape_information = positive.sum() * (special.polygamma(1, shape) - 1 / shape)
    # the dispersion 1 / nu by the delta method
    expected = np.sqrt(1 / shape_information) / shape**2
    np.testing.assert_allclose(errors["expert_dispersion_"][1], expected, rtol=1e-4)
    for name in ("expert_intercept_", "expert_dispersion_"):
        assert errors[name][0] == 0.0
    np.testing.assert_array_equal(errors["expert_coef_"][0], 0.0)


def test_predictive_distribution_has_the_zeros_mass():
    X, y = hurdle_data(n=800)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    rows = X[:5]
    dist = model.predict_distribution(rows)
    p_zero = model.predict_gate(rows)[:, 0]
    mu = np.exp(model.expert_intercept_[1] + rows @ model.expert_coef_[1])
    shape = 1 / model.expert_dispersion_[1]
    gamma = stats.gamma(shape, scale=mu / shape)
    np.testing.assert_allclose(dist.mean(), model.predict(rows), rtol=1e-12)
    np.testing.assert_allclose(dist.mean(), (1 - p_zero) * mu, rtol=1e-12)
    # variance: (1 - p) (var + mu^2) - mean^2
    expected_var = (1 - p_zero) * (mu**2 / shape + mu**2) - ((1 - p_zero) * mu) ** 2
    np.testing.assert_allclose(dist.var(), expected_var, rtol=1e-10)
    np.testing.assert_allclose(
        model.predict(rows, return_std=True)[1], np.sqrt(expected_var), rtol=1e-10
    )
    np.testing.assert_allclose(dist.cdf(0.0), p_zero, rtol=1e-12)
    np.testing.assert_array_equal(dist.cdf(-1.0), 0.0)
    np.testing.assert_allclose(dist.logpdf(0.0), np.log(p_zero), rtol=1e-12)
    np.testing.assert_allclose(
        dist.logpdf(2.0), np.log1p(-p_zero) + gamma.logpdf(2.0), rtol=1e-10
    )
    np.testing.assert_allclose(
        dist.cdf(2.0), p_zero + (1 - p_zero) * gamma.cdf(2.0), rtol=1e-10
    )
    for q in (0.05, 0.3, 0.6, 0.95, 0.999):
        expected = np.where(
            q <= p_zero, 0.0, gamma.ppf(np.clip((q - p_zero) / (1 - p_zero), 0, 1))
        )
        np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-9)
    np.testing.assert_array_equal(dist.ppf(1.0), np.inf)
    draws = dist.sample(20000, random_state=0)
    np.testing.assert_allclose(np.mean(draws == 0, axis=0), p_zero, atol=0.015)
    # the hurdle log-likelihood of the training data is the sum of logpdf
    full = model.predict_distribution(X)
    np.testing.assert_allclose(full.logpdf(y).sum(), model.log_likelihood_, rtol=1e-9)
    np.testing.assert_allclose(
        full.logpdf(y), model.log_likelihood_samples(X, y), rtol=1e-9
    )


def test_distribution_of_point_masses_alone_and_validation():
    dist = PredictiveGammaMixture(
        [[1.0, 0.0], [0.25, 0.75]], [[0.0, 2.0], [0.0, 2.0]], [[1.0, 3.0], [1.0, 3.0]]
    )
    np.testing.assert_allclose(
        dist.ppf(0.9),
        [0.0, stats.gamma(3.0, scale=2 / 3).ppf((0.9 - 0.25) / 0.75)],
        rtol=1e-12,
    )
    np.testing.assert_allclose(dist.mean(), [0.0, 1.5], rtol=1e-15)
    np.testing.assert_allclose(dist.std(), [0.0, np.sqrt(0.75 * (4 / 3 + 4) - 2.25)])
    np.testing.assert_array_equal(dist.cdf(0.0), [1.0, 0.25])
    assert dist.logpdf(1.0)[0] == -np.inf
    with pytest.raises(ValueError, match="means must be finite and positive or 0"):
        PredictiveGammaMixture([[1.0]], [[-1.0]], [[1.0]])


def test_score_is_r2():
    X, y = hurdle_data(n=600)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    assert model.score(X, y, sample_weight=w) == pytest.approx(
        r2_score(y, model.predict(X), sample_weight=w), rel=1e-12
    )


def test_auto_finds_two_gamma_regimes():
    X, y = hurdle_data(n=1500, regimes=True)
    model = MoEGammaRegressor("auto", zero_inflated=True, random_state=0).fit(X, y)
    assert model.n_experts_ == 3
    assert len(model.n_experts_bic_) == 3  # 2, 3 and 4
    # BIC: 2 gate logits of 3, 2 Gamma experts of 3 coefficients and a dispersion
    n_parameters = 2 * 3 + 2 * 4
    expected = -2 * model.log_likelihood_ + n_parameters * np.log(len(y))
    np.testing.assert_allclose(model.bic(X, y), expected, rtol=1e-9)


def _two_regimes_beside_zeros():
    """16 positive amounts of two regimes (8 at mean 1, 8 at mean e^4)
    beside 20 zeros: (X, y)."""
    rng = np.random.RandomState(2)
    x = np.r_[np.linspace(-2, -0.2, 8), np.linspace(0.2, 2, 8)]
    amounts = rng.gamma(50.0, np.exp(np.where(x < 0, 0.0, 4.0)) / 50.0)
    X = np.r_[x, rng.uniform(-2, 2, 20)][:, None]
    y = np.r_[amounts, np.zeros(20)]
    return X, y


def test_auto_counts_no_samples_for_the_point_mass_before_fitting():
    # 16 positive amounts of two regimes (8 at mean 1, 8 at mean e^4): the
    # point mass and 2 Gamma experts need 2 * 2 * 3 = 12 positive rows (2
    # samples per parameter, 3 parameters per Gamma expert) and are fitted;
    # counted as 3 experts they would need 18, and "auto" would skip them
    X, y = _two_regimes_beside_zeros()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor("auto", zero_inflated=True, random_state=0)
        model.fit(X, y)
    assert model.n_experts_ == 3
    assert np.isfinite(model.n_experts_bic_[1])
    assert model.n_experts_bic_[1] < model.n_experts_bic_[0]


def test_auto_reports_the_rows_and_experts_it_counted(capsys):
    # the data above: 4 experts are 3 Gamma experts of 3 parameters on the 16
    # positive amounts (at most 5 each, under 2 * 3); the report said "36
    # samples give each expert at most 9", which passes the test it reported
    X, y = _two_regimes_beside_zeros()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor("auto", zero_inflated=True, random_state=0)
        model.set_params(verbose=1, n_init=1).fit(X, y)
    out = capsys.readouterr().out
    n_amounts = int(np.count_nonzero(y > 0))
    assert (
        f"n_experts=4: not fitted ({n_amounts} samples give each expert beside "
        f"the point mass at most {n_amounts // 3}, under 2 per parameter of its 3)"
    ) in out
    assert np.isinf(model.n_experts_bic_[2])


@pytest.mark.parametrize(
    "options", [dict(solver="gradient"), dict(assignment="hard"), dict(gate="constant")]
)
def test_solvers_agree(options):
    X, y = hurdle_data(n=800)
    em = MoEGammaRegressor(2, zero_inflated=True, random_state=0, **TIGHT).fit(X, y)
    if options.get("gate") == "constant":
        # a constant gate: the share of zeros, and the same Gamma regression
        model = MoEGammaRegressor(
            2, zero_inflated=True, random_state=0, **TIGHT, **options
        )
        model.fit(X, y)
        np.testing.assert_allclose(
            model.predict_gate(X[:1])[0, 0], np.mean(y == 0), rtol=1e-8
        )
        np.testing.assert_allclose(model.expert_coef_, em.expert_coef_, atol=1e-6)
        return
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0, **TIGHT, **options)
    model.fit(X, y)
    # hard assignments change nothing here: each row's expert is certain
    np.testing.assert_allclose(model.log_likelihood_, em.log_likelihood_, rtol=1e-7)
    np.testing.assert_allclose(model.expert_coef_, em.expert_coef_, atol=1e-4)


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(top_k=1), "top_k"),
        (dict(prune_threshold=0.1), "prune_threshold"),
        (dict(shared_features=[0]), "shared_features"),
        (dict(expert_estimator=GammaRegressor()), "expert_estimator"),
        (dict(solver="sgd"), "solver='sgd'"),
        (dict(n_experts=1), "n_experts >= 2"),
    ],
)
def test_refused_combinations(options, match):
    X, y = hurdle_data(n=200)
    params = dict(n_experts=2, zero_inflated=True) | options
    with pytest.raises(ValueError, match=match):
        MoEGammaRegressor(**params).fit(X, y)


def test_targets_checked():
    X, y = hurdle_data(n=300)
    with pytest.raises(ValueError, match="use zero_inflated=True"):
        MoEGammaRegressor(2).fit(X, y)
    with pytest.raises(ValueError, match="are negative"):
        MoEGammaRegressor(2, zero_inflated=True).fit(X, np.r_[-1.0, y[1:]])
    with pytest.raises(ValueError, match="no positive amount"):
        MoEGammaRegressor(2, zero_inflated=True).fit(X, np.zeros(len(y)))
    with pytest.warns(UserWarning, match="y has no zeros"):
        MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(X, y + 1.0)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="are negative"):
        model.score(X, np.r_[-1.0, y[1:]])


def test_groups_all_zero_or_all_positive():
    X, y = hurdle_data(n=300)
    groups = np.arange(len(y)) // 3
    X = X[groups * 3]  # the gate sees a group's features
    with pytest.raises(ValueError, match="all zero or all positive"):
        MoEGammaRegressor(2, zero_inflated=True).fit(X, y, groups=groups)
    # every row of a group zero where its first is, else positive: allowed
    amounts = np.random.RandomState(3).gamma(4.0, 1.0, len(y))
    y_groups = np.where(y[groups * 3] == 0, 0.0, amounts)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(
        X, y_groups, groups=groups
    )
    assert np.isfinite(model.log_likelihood_)
    # the probability of a zero is per group: the logistic regression of the groups
    Xt = np.column_stack([np.ones(100), X[::3]])
    a, _, _ = logistic_fit(Xt, (y_groups[::3] == 0).astype(float), np.ones(100))
    log_odds = model.gate_intercept_[0] - model.gate_intercept_[1]
    assert log_odds == pytest.approx(a[0], abs=1e-3)


def test_groups_check_leaves_out_rows_of_weight_zero():
    # a zero of weight 0 in a positive group: the row is left out, so the
    # group is all positive and the fit is allowed. With one Gamma expert the
    # grouped fit separates: the gate is the logistic regression of the
    # groups' zeros, the expert GammaRegressor on the amounts of weight 1
    X, y = hurdle_data(n=300)
    groups = np.arange(len(y)) // 3
    X = X[groups * 3]
    amounts = np.random.RandomState(3).gamma(4.0, 1.0, len(y))
    y = np.where(y[groups * 3] == 0, 0.0, amounts)
    w = np.ones(len(y))
    row = 3 * np.flatnonzero(y[::3] > 0)[0] + 1  # a positive group's second row
    y[row], w[row] = 0.0, 0.0
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0, **TIGHT)
    model.fit(X, y, sample_weight=w, groups=groups)
    Xt = np.column_stack([np.ones(100), X[::3]])
    a, _, _ = logistic_fit(Xt, (y[::3] == 0).astype(float), np.ones(100))
    log_odds = model.gate_intercept_[0] - model.gate_intercept_[1]
    log_odds_coef = model.gate_coef_[0] - model.gate_coef_[1]
    np.testing.assert_allclose(np.r_[log_odds, log_odds_coef], a, atol=1e-5)
    positive = y > 0
    reference = GammaRegressor(alpha=0.0, tol=1e-12, max_iter=10000)
    reference.fit(X[positive], y[positive])
    np.testing.assert_allclose(model.expert_coef_[1], reference.coef_, atol=2e-6)
    np.testing.assert_allclose(
        model.expert_intercept_[1], reference.intercept_, atol=2e-6
    )


def test_constant_positive_amounts_beside_zeros_warn_as_constant():
    # zeros beside amounts all 3.5: the amounts are constant (the zeros,
    # the point mass's, do not make y vary), so the warning names that cause,
    # not a collapse of the Gamma expert; the prediction is the probability
    # of an amount, the logistic regression's, times 3.5
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1))
    y = np.where(rng.rand(200) < 0.3, 0.0, 3.5)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0, n_init=1)
    with pytest.warns(UserWarning, match="y's positive amounts are constant"):
        model.fit(X, y)
    Xt = np.column_stack([np.ones(len(X)), X])
    a, _, _ = logistic_fit(Xt, (y == 0).astype(float), np.ones(len(y)))
    np.testing.assert_allclose(
        model.predict(X), (1 - special.expit(Xt @ a)) * 3.5, rtol=1e-5
    )


def test_pickle_warm_start_and_clone():
    X, y = hurdle_data(n=500)
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert clone(model).get_params()["zero_inflated"] is True
    model.set_params(warm_start=True, zero_inflated=False)
    with pytest.raises(ValueError, match="have a point mass at zero"):
        model.fit(X, y + 1.0)
    model.set_params(zero_inflated=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y)
    assert model.expert_intercept_[0] == -np.inf


def test_distribution_edges():
    """logpdf(0) is log(w_0) also where w_0 is 0 (it gave the Gamma's density
    at 0, inf for a shape below 1); the upper tail's quantiles keep their
    digits (3.5e-7 lost at 1 - q = 1e-12); ppf(1) is inf where the Gamma
    components keep any weight."""
    dist = PredictiveGammaMixture([[0.0, 1.0]], [[0.0, 2.0]], [[1.0, 0.5]])
    assert dist.logpdf(0.0)[0] == -np.inf
    assert dist.cdf(0.0)[0] == 0.0
    dist = PredictiveGammaMixture([[0.3, 0.7]], [[0.0, 2.0]], [[1.0, 3.0]])
    for tail in (1e-8, 1e-12, 1e-15):
        q = 1.0 - tail
        expected = stats.gamma(3.0, scale=2 / 3).isf((1.0 - q) / 0.7)
        np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-13)
    dist = PredictiveGammaMixture([[1.0, 1e-17]], [[0.0, 2.0]], [[1.0, 3.0]])
    assert dist.ppf(1.0)[0] == np.inf
    assert PredictiveGammaMixture([[1.0]], [[0.0]], [[1.0]]).ppf(1.0)[0] == 0.0


def test_few_positive_amounts():
    """'auto' fits no more Gamma experts than positive amounts (k-means raised
    on 2 amounts for 3 clusters); a fixed n_experts says what is missing."""
    X = np.random.RandomState(0).randn(300, 2)
    y = np.zeros(300)
    y[:2] = [2.0, 5.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the few amounts' warnings
        model = MoEGammaRegressor("auto", zero_inflated=True, random_state=0)
        model.fit(X, y)
    assert model.n_experts_ == 2
    assert len(model.n_experts_bic_) == 2  # 2 and 3
    with pytest.raises(ValueError, match="2 positive amount.*3 Gamma experts"):
        MoEGammaRegressor(4, zero_inflated=True).fit(X, y)


def test_hard_assignment_empty_gamma_expert_leaves_the_zeros_alone():
    """Classification EM's empty Gamma expert took a share of the zeros too,
    read as amounts of 1: its intercept moved by 1.7 against log(c) when y
    was scaled by c."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 1)
    y = np.where(rng.rand(300) < 0.85, 0.0, rng.gamma(30, np.exp(0.3 * X[:, 0]) / 30))
    options = dict(assignment="hard", init_params="random", n_init=1, random_state=1)
    intercepts = []
    for scale in (1.0, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the empty expert's warning
            model = MoEGammaRegressor(5, zero_inflated=True, **options)
            model.fit(X, scale * y)
        intercepts.append(model.expert_intercept_[1:] - np.log(scale))
    assert np.min(model.expert_usage_) * len(y) < 1  # an empty expert
    np.testing.assert_allclose(intercepts[1], intercepts[0], atol=1e-6)


def test_prune_keeps_the_point_mass():
    """Pruned below its usage, the point mass went, and the model could not
    score its own zeros (its error then advised zero_inflated=True)."""
    rng = np.random.RandomState(0)
    X = rng.randn(600, 2)
    zero = rng.rand(600) < special.expit(X[:, 0] - 0.3)
    y = np.where(zero, 0.0, rng.gamma(3.0, np.exp(1 + 0.5 * X[:, 1]) / 3.0))
    model = MoEGammaRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    assert model.expert_usage_[0] < model.expert_usage_[1]
    threshold = np.max(model.expert_usage_)  # drops the point mass
    pruned = model.prune_experts(threshold)
    assert pruned.n_experts_ == 2
    assert pruned.expert_intercept_[0] == -np.inf
    # nothing was dropped: the same model
    np.testing.assert_array_equal(pruned.predict(X), model.predict(X))
    np.testing.assert_allclose(
        pruned.log_likelihood_samples(X, y).sum(), model.log_likelihood_, rtol=1e-12
    )


def test_float32_amounts_that_round_to_zero_are_refused():
    X, y = hurdle_data(n=200)
    y[np.flatnonzero(y > 0)[0]] = 1e-60  # 0 in float32
    with pytest.raises(ValueError, match="outside float32's range"):
        MoEGammaRegressor(2, zero_inflated=True).fit(X.astype(np.float32), y)
    with pytest.raises(ValueError, match="hurdle model"):
        MoEGammaRegressor(1, zero_inflated=True).fit(X, y)


def test_float32_predictions_of_a_constant_amount_score_1():
    # R^2 of a zero-inflated model (its score) judges a constant y to the
    # float32 predictions' own resolution, as MoERegressor.score: 3.3, not a
    # float32 number, is predicted 7e-8 off (more than float64's 1e-9: it
    # scored 0) and 1e-3 off still scores 0
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 3.3, 0.0)
    model = MoEGammaRegressor(2, zero_inflated=True, n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X, y)
    far = X[:, 0] > 0.5
    pred = model.predict(X[far])
    assert pred.dtype == np.float32
    off = np.max(np.abs(pred.astype(np.float64) / 3.3 - 1))
    assert 1e-9 < off < 1024 * np.finfo(np.float32).eps
    assert model.score(X[far], y[far]) == 1.0
    assert model.score(X[far], y[far] * (1 + 1e-3)) == 0.0
