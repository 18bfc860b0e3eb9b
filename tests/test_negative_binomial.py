"""MoENegativeBinomialRegressor: mixtures of negative binomial regressions,
checked against the likelihood written out with scipy.stats.nbinom and
maximized by scipy.optimize, scikit-learn's PoissonRegressor at the Poisson
limit, and scipy's distributions."""

import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest
from _exact import nb_logpmf
from _references import central_differences, fit_penalized
from scipy import optimize, special, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor

from skmoe import (
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    PredictiveNegativeBinomialMixture,
    PredictivePoissonMixture,
)
from skmoe.exceptions import DegenerateFitWarning
from skmoe.experts.negative_binomial import DISPERSION_FLOOR


def _nb_logpmf(y, mean, dispersion):
    """log NB(y; mean, dispersion) by scipy: n = 1 / phi, p = 1 / (1 + phi mu)."""
    theta = 1.0 / dispersion
    return stats.nbinom.logpmf(y, theta, theta / (theta + mean))


def _regimes(n=1500, theta=2.0, seed=0):
    """Two regimes of log mean, negative binomial counts of this theta."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    mean = np.exp(np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2))
    return X, rng.negative_binomial(theta, theta / (theta + mean)).astype(float)


@pytest.mark.parametrize("with_exposure", [False, True])
def test_one_expert_is_the_negative_binomial_glm(with_exposure):
    rng = np.random.RandomState(1)
    X = rng.randn(600, 2)
    exposure = rng.uniform(0.2, 5, 600) if with_exposure else np.ones(600)
    mean = exposure * np.exp(0.5 + X @ [0.4, -0.3])
    y = rng.negative_binomial(1.5, 1.5 / (1.5 + mean)).astype(float)
    model = MoENegativeBinomialRegressor(n_experts=1, alpha=0.0, tol=1e-12)
    kw = {"exposure": exposure} if with_exposure else {}
    model.fit(X, y, **kw)

    def loss(t):  # glm.nb's likelihood, in (intercept, coef, log theta)
        mu = exposure * np.exp(t[0] + X @ t[1:3])
        return -np.sum(_nb_logpmf(y, mu, np.exp(-t[3])))

    best = optimize.minimize(loss, np.zeros(4), method="BFGS", options={"gtol": 1e-9})
    np.testing.assert_allclose(model.expert_intercept_, best.x[:1], atol=1e-5)
    np.testing.assert_allclose(model.expert_coef_[0], best.x[1:3], atol=1e-5)
    np.testing.assert_allclose(model.expert_dispersion_, np.exp(-best.x[3:]), rtol=1e-4)
    np.testing.assert_allclose(model.log_likelihood_, -best.fun, rtol=1e-9)


@pytest.mark.parametrize("warm", [False, True])
def test_penalized_fit_is_the_penalized_optimum(warm):
    # alpha > 0: the mean weighted log-likelihood less (alpha / 2) ||b||^2
    # (the Poisson experts' penalty, intercept and dispersion free), written
    # out with scipy.stats and maximized by BFGS in (intercept, slopes, log
    # theta). A warm start from the alpha=0 fit, as along a path of alphas,
    # shrinks the slopes: each Newton step loses likelihood and is accepted
    # only for what it gains in the penalty
    rng = np.random.RandomState(1)
    X = rng.randn(600, 2)
    exposure = rng.uniform(0.2, 5, 600)
    weight = rng.uniform(0.5, 2, 600)
    mean = exposure * np.exp(0.5 + X @ [0.4, -0.3])
    y = rng.negative_binomial(1.5, 1.5 / (1.5 + mean)).astype(float)
    alpha = 1.0
    kw = {"sample_weight": weight, "exposure": exposure}
    model = MoENegativeBinomialRegressor(n_experts=1, alpha=alpha, tol=1e-12)
    fit_penalized(model, X, y, warm, **kw)

    def objective(t):  # (intercept, slopes, log theta)
        mu = exposure * np.exp(t[0] + X @ t[1:3])
        fit = weight @ _nb_logpmf(y, mu, np.exp(-t[3])) / np.sum(weight)
        return fit - alpha / 2 * np.sum(t[1:3] ** 2)

    best = optimize.minimize(
        lambda t: -objective(t), np.zeros(4), method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(model.expert_intercept_, best.x[:1], atol=1e-6)
    np.testing.assert_allclose(model.expert_coef_[0], best.x[1:3], atol=1e-6)
    np.testing.assert_allclose(model.expert_dispersion_, np.exp(-best.x[3:]), rtol=1e-5)
    fitted = np.r_[
        model.expert_intercept_,
        model.expert_coef_[0],
        -np.log(model.expert_dispersion_),
    ]
    np.testing.assert_allclose(
        model.objective_history_[-1], objective(fitted), rtol=1e-12
    )
    np.testing.assert_allclose(model.objective_history_[-1], -best.fun, rtol=1e-10)
    # the penalty matters here: 0.026 at the optimum
    assert alpha / 2 * np.sum(best.x[1:3] ** 2) > 0.02


def test_log_likelihoods_are_the_mixture_of_scipy_nbinom():
    X, y = _regimes(n=800)
    weights = np.random.RandomState(2).uniform(0.5, 2, len(y))
    model = MoENegativeBinomialRegressor(n_experts=2, random_state=0)
    model.fit(X, y, sample_weight=weights)
    gate = model.predict_gate(X)
    mean = np.exp(X @ model.expert_coef_.T + model.expert_intercept_)
    log_p = np.column_stack(
        [_nb_logpmf(y, mean[:, k], model.expert_dispersion_[k]) for k in range(2)]
    )
    expected = special.logsumexp(log_p + np.log(gate), axis=1)
    np.testing.assert_allclose(model.log_likelihood_samples(X, y), expected, rtol=1e-9)
    np.testing.assert_allclose(model.log_likelihood_, weights @ expected, rtol=1e-9)


def test_em_reaches_a_maximum_of_the_mixture_likelihood():
    # a constant gate: the likelihood in (logit, intercepts, slopes, log
    # theta) written out; scipy finds nothing better from EM's optimum
    X, y = _regimes(n=1000, theta=4.0, seed=3)
    model = MoENegativeBinomialRegressor(
        n_experts=2, gate="constant", alpha=0.0, tol=1e-12, random_state=0
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's trial steps

        def loss(t):
            log_gate = special.log_softmax([0.0, t[0]])
            mu = np.exp(t[1:3] + X[:, :1] * t[3:5])
            log_p = _nb_logpmf(y[:, None], mu, np.exp(-t[5:7])) + log_gate
            return -np.sum(special.logsumexp(log_p, axis=1))

        gate = np.log(model.predict_gate(X[:1])[0])
        start = np.r_[
            gate[1] - gate[0],
            model.expert_intercept_,
            model.expert_coef_[:, 0],
            -np.log(model.expert_dispersion_),
        ]
        best = optimize.minimize(loss, start, method="BFGS", options={"gtol": 1e-8})
    assert -best.fun <= model.log_likelihood_ + 1e-6
    np.testing.assert_allclose(model.log_likelihood_, -loss(start), rtol=1e-10)
    np.testing.assert_allclose(best.x, start, atol=1e-3)
    # EM never lowers its objective
    assert np.all(np.diff(model.objective_history_) >= -1e-12)


def test_underdispersed_counts_take_the_poisson_limit():
    # binomial counts are less spread than Poisson ones: the likelihood grows
    # with theta, the dispersion ends at its floor and the expert is the
    # Poisson regression
    rng = np.random.RandomState(4)
    X = rng.randn(500, 2)
    y = rng.binomial(12, 1 / (1 + np.exp(-(X @ [0.5, -0.4])))).astype(float)
    model = MoENegativeBinomialRegressor(n_experts=1, alpha=0.0, tol=1e-12).fit(X, y)
    poisson = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(model.expert_dispersion_, [DISPERSION_FLOOR], rtol=1e-9)
    np.testing.assert_allclose(model.expert_coef_[0], poisson.coef_, atol=1e-6)
    np.testing.assert_allclose(
        model.expert_intercept_[0], poisson.intercept_, atol=1e-6
    )
    expected = stats.poisson.logpmf(y, poisson.predict(X)).sum()
    np.testing.assert_allclose(model.log_likelihood_, expected, atol=1e-4)


def test_floor_far_from_the_poisson_limit_at_large_counts_warns():
    # Poisson counts of mean 1e9: the dispersion ends at its floor, whose
    # variance mu + 1e-8 mu^2 is 11 times the Poisson one, so the expert falls
    # 234 nats below the Poisson regression on these 300 rows (scipy's logpmf
    # at PoissonRegressor's fit of the rates y / 1e9 with weights 1e9, the
    # same likelihood). It used to do so without a word.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1))
    y = rng.poisson(1e9 * np.exp(0.2 * X[:, 0])).astype(float)
    with pytest.warns(DegenerateFitWarning, match="not the Poisson limit"):
        model = MoENegativeBinomialRegressor(n_experts=1, alpha=0.0).fit(X, y)
    assert model.expert_dispersion_[0] == pytest.approx(DISPERSION_FLOOR, rel=1e-9)
    poisson = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000)
    poisson.fit(X, y / 1e9, sample_weight=np.full(300, 1e9))
    best = stats.poisson.logpmf(y, 1e9 * poisson.predict(X)).sum()
    assert model.log_likelihood_ < best - 100
    # small counts reach the limit at the floor: no such warning
    y = rng.poisson(10 * np.exp(0.2 * X[:, 0])).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        model = MoENegativeBinomialRegressor(n_experts=1, alpha=0.0).fit(X, y)
    assert model.expert_dispersion_[0] < 1e-3


def test_overdispersion_beats_a_poisson_mixture_held_out():
    X, y = _regimes(n=3000, theta=1.5, seed=5)
    train, test = slice(0, 2000), slice(2000, None)
    nb = MoENegativeBinomialRegressor(n_experts=2, random_state=0)
    poisson = MoEPoissonRegressor(n_experts=2, random_state=0)
    nb.fit(X[train], y[train])
    poisson.fit(X[train], y[train])
    assert nb.bic(X[train], y[train]) < poisson.bic(X[train], y[train])
    held_nb = nb.log_likelihood_samples(X[test], y[test]).mean()
    held_poisson = poisson.log_likelihood_samples(X[test], y[test]).mean()
    assert held_nb > held_poisson + 0.1
    # the regimes' laws (x < 0: 1 - x, else 1 + x / 2) and theta = 1.5
    order = np.argsort(nb.expert_coef_[:, 0])
    np.testing.assert_allclose(nb.expert_coef_[order, 0], [-1, 0.5], atol=0.15)
    np.testing.assert_allclose(nb.expert_dispersion_, [1 / 1.5] * 2, atol=0.15)
    # the parameters BIC counts: K (2 + 1) coefficients and dispersions, 2 gate
    n_parameters = 2 * 3 + 2
    expected = -2 * nb.log_likelihood_ + n_parameters * np.log(2000)
    np.testing.assert_allclose(nb.bic(X[train], y[train]), expected, rtol=1e-12)


def test_a_poisson_auto_fit_of_overdispersed_counts_names_this_estimator():
    # "auto" chose 4 Poisson experts for two negative binomial regimes and
    # advised more experts alone; the negative binomial's 2 do better held out
    X, y = _regimes(n=1500, theta=1.5, seed=5)
    train, test = slice(0, 1000), slice(1000, None)
    with pytest.warns(UserWarning, match="the most it tries") as caught:
        poisson = MoEPoissonRegressor(random_state=0).fit(X[train], y[train])
    (message,) = [str(w.message) for w in caught if "most it tries" in str(w.message)]
    assert message.endswith(
        "MoENegativeBinomialRegressor models it within each expert."
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nb = MoENegativeBinomialRegressor(random_state=0).fit(X[train], y[train])
    assert not [w for w in caught if "most it tries" in str(w.message)]
    assert nb.n_experts_ == 2
    held_nb = nb.log_likelihood_samples(X[test], y[test]).mean()
    held_poisson = poisson.log_likelihood_samples(X[test], y[test]).mean()
    assert held_nb > held_poisson + 0.1


def test_predictions_are_the_mixture_moments():
    X, y = _regimes(n=800)
    model = MoENegativeBinomialRegressor(n_experts=2, random_state=0).fit(X, y)
    X_new = np.array([[-1.5], [0.0], [1.5]])
    gate = model.predict_gate(X_new)
    mean = np.exp(X_new @ model.expert_coef_.T + model.expert_intercept_)
    phi = model.expert_dispersion_
    expected_mean = np.sum(gate * mean, axis=1)
    variance = mean + phi * mean**2 + (mean - expected_mean[:, None]) ** 2
    expected_std = np.sqrt(np.sum(gate * variance, axis=1))
    got_mean, got_std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(got_mean, expected_mean, rtol=1e-10)
    np.testing.assert_allclose(got_std, expected_std, rtol=1e-10)
    exposure = np.array([0.5, 2.0, 3.0])  # means scale, variances mix degrees
    mean_e = exposure[:, None] * mean
    variance = (
        mean_e + phi * mean_e**2 + (mean_e - (gate * mean_e).sum(1)[:, None]) ** 2
    )
    got_mean, got_std = model.predict(X_new, return_std=True, exposure=exposure)
    np.testing.assert_allclose(got_mean, exposure * expected_mean, rtol=1e-10)
    np.testing.assert_allclose(got_std, np.sqrt(np.sum(gate * variance, 1)), rtol=1e-10)
    dist = model.predict_distribution(X_new, exposure=exposure)
    np.testing.assert_allclose(dist.rates, mean_e, rtol=1e-10)
    np.testing.assert_allclose(dist.dispersions, np.broadcast_to(phi, (3, 2)))


def test_predictive_distribution_is_scipys_nbinom_mixture():
    weights = np.array([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])
    means = np.array([[2.0, 30.0], [5.0, 1.0], [0.0, 4.0]])  # a point mass at 0
    phi = np.array([[0.5, 0.1], [2.0, 1.0], [0.3, 0.0]])  # and a Poisson one
    dist = PredictiveNegativeBinomialMixture(weights, means, phi)

    def component(k, i):
        if means[i, k] == 0:
            return stats.poisson(0.0)
        if phi[i, k] == 0:
            return stats.poisson(means[i, k])
        theta = 1 / phi[i, k]
        return stats.nbinom(theta, theta / (theta + means[i, k]))

    counts = np.arange(0, 200)
    for i in range(3):
        pmf = sum(weights[i, k] * component(k, i).pmf(counts) for k in range(2))
        cdf = np.cumsum(pmf)
        np.testing.assert_allclose(dist[i].pmf(counts[:, None])[:, 0], pmf, atol=1e-14)
        np.testing.assert_allclose(dist[i].cdf(counts[:, None])[:, 0], cdf, atol=1e-12)
        q = np.array([0.01, 0.3, 0.5, 0.9, 0.99])
        expected = np.searchsorted(cdf, q - 1e-12)
        np.testing.assert_array_equal(dist[i].ppf(q[:, None])[:, 0], expected)
        mean = sum(weights[i, k] * component(k, i).mean() for k in range(2))
        second = sum(
            weights[i, k] * (component(k, i).var() + component(k, i).mean() ** 2)
            for k in range(2)
        )
        np.testing.assert_allclose(dist.mean()[i], mean, rtol=1e-12)
        np.testing.assert_allclose(dist.var()[i], second - mean**2, rtol=1e-12)
    draws = dist.sample(200_000, random_state=0)
    np.testing.assert_allclose(draws.mean(0), dist.mean(), rtol=0.02)
    np.testing.assert_allclose(draws.std(0), dist.std(), rtol=0.02)
    assert np.all(draws[:, 1] >= 0) and np.all(draws == np.round(draws))


def test_top_k_distributions_take_the_routed_experts_dispersions():
    # with top_k=1 each row holds its routed expert: a distribution that gave
    # every row the first expert's dispersion passed every test (the std of a
    # row routed to the overdispersed expert 2.31 for 4.90)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (600, 1))
    left = X[:, 0] < 0
    mu = np.where(left, np.exp(1.0 + 0.5 * X[:, 0]), np.exp(2.0 - 0.3 * X[:, 0]))
    theta = np.where(left, 20.0, 1.0)
    y = rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    model = MoENegativeBinomialRegressor(2, top_k=1, random_state=0).fit(X, y)
    X_new = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    routed = np.argmax(model.predict_gate(X_new), axis=1)
    assert set(routed) == {0, 1}
    phi = model.expert_dispersion_[routed]
    assert abs(np.log(phi[0] / phi[-1])) > 2  # far apart
    means = np.exp(
        model.expert_intercept_[routed]
        + np.sum(model.expert_coef_[routed] * X_new, axis=1)
    )
    counts = np.arange(60)[:, None]
    expected = stats.nbinom(1 / phi, 1 / (1 + phi * means))
    dist = model.predict_distribution(X_new)
    np.testing.assert_allclose(dist.cdf(counts), expected.cdf(counts), rtol=1e-10)
    np.testing.assert_allclose(dist.std(), expected.std(), rtol=1e-10)
    _, std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(std, expected.std(), rtol=1e-10)


def test_quantiles_of_widely_spread_components_are_scipys():
    # the bracket's guess mu + z sd is below 0 for a low q where phi mu is
    # large: ppf gave -7 and -inf (after 2100 widenings) where scipy gives 0, 5
    means = np.array([[10.0], [100.0], [7.0], [3.0]])
    phi = np.array([[2.0], [1.0], [1e4], [0.5]])
    dist = PredictiveNegativeBinomialMixture(np.ones((4, 1)), means, phi)
    q = np.array([1e-12, 1e-6, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999])[:, None]
    theta = 1 / phi[:, 0]
    expected = stats.nbinom.ppf(q, theta, theta / (theta + means[:, 0]))
    np.testing.assert_array_equal(dist.ppf(q), expected)
    low, high = dist.interval(0.9)
    np.testing.assert_array_equal(low, expected[3])
    assert np.all(low >= 0)


def test_quantiles_just_below_the_largest_float_are_finite():
    # a geometric count (phi = 1) of mean mu has sf(k) = (mu / (1 + mu))^(k +
    # 1), so ppf(q) is the smallest k >= log(1 - q) / log(mu / (1 + mu)) - 1.
    # The bracket's doubling overflowed past the quantile: ppf gave inf for
    # 1.47e308 at mu = 4e306, q = 1 - 2^-53
    means = np.array([1e306, 4e306, 4.5e306, 1e307])
    dist = PredictiveNegativeBinomialMixture(
        np.ones((4, 1)), means[:, None], np.ones((4, 1))
    )
    q = np.array([0.5, 1 - 2.0**-40, 1 - 2.0**-53])[:, None]
    with np.errstate(over="ignore"):
        expected = np.log1p(-q) / np.log1p(-1 / (1 + means)) - 1
    got = dist.ppf(q)
    finite = expected < np.finfo(float).max
    assert np.sum(finite & (expected > 1.4e308)) == 2  # the two that were inf
    np.testing.assert_allclose(got[finite], np.ceil(expected[finite]), rtol=1e-12)
    # beyond the largest float (sf(largest) = 1.6e-8 at mu = 1e307): inf
    assert np.all(np.isinf(got[~finite]))
    np.testing.assert_array_equal(np.isinf(got), ~finite)


@pytest.mark.filterwarnings("error")
def test_draws_past_the_largest_float_are_inf_not_nan():
    # a draw is a Poisson count of rate mu G, G ~ Gamma(theta, 1 / theta):
    # at mu = 1e308 and phi = 1 (G exponential) mu G passes the largest float
    # with probability exp(-1.797693), and inf - inf in the normal
    # approximation gave NaN for half of those draws (8%), with NumPy's
    # warnings
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e308]], [[1.0]])
    draws = dist.sample(20000, random_state=0)[:, 0]
    assert not np.any(np.isnan(draws)) and np.all(draws >= 0)
    expected = np.exp(-np.finfo(float).max / 1e308)
    sd = np.sqrt(expected * (1 - expected) / draws.size)
    assert abs(np.mean(np.isinf(draws)) - expected) < 5 * sd


def test_components_of_weight_zero_do_not_widen_the_quantile_search(
    count_cdf_calls,
):
    # a component of weight 0 takes no part in the cdf; its rate of 1e300
    # set the bracket, and the bisection ran over 1e300 counts (some 1000
    # cdf evaluations for about 10)
    calls = count_cdf_calls
    means = np.array([2.0, 7.5, 40.0])
    q = np.array([0.01, 0.5, 0.99])[:, None]
    expected = stats.poisson.ppf(q, means)
    steps = []
    for far, phi in ((None, 0.0), (1e300, 0.0), (1e300, 1e3)):
        if far is None:
            dist = PredictivePoissonMixture(np.ones((3, 1)), means[:, None])
        else:
            dist = PredictiveNegativeBinomialMixture(
                np.tile([1.0, 0.0], (3, 1)),
                np.stack([means, np.full(3, far)], axis=1),
                np.tile([0.0, phi], (3, 1)),
            )
        calls.clear()
        np.testing.assert_array_equal(dist.ppf(q), expected)
        steps.append(len(calls))
    assert steps[1] == steps[0] and steps[2] == steps[0] and steps[0] < 40


@pytest.mark.parametrize("theta", [1e-4, 1.0, 30.0, 1e8])
def test_log_probabilities_keep_their_digits_at_large_means(theta):
    # for a small count, sum_{j < y} log(theta + j) - log(y!) - theta
    # log1p(mu / theta) - y log1p(theta / mu): every term small; adding and
    # subtracting mu (the Poisson form) lost 2.5 at mu = 1e15, and gave
    # P(Y = 0) = 1 at mu = 1e18
    from skmoe.experts import NegativeBinomialExperts
    from skmoe.experts.poisson import encode_counts

    counts = np.array([0.0, 1.0, 3.0, 8.0])
    means = np.array([1e6, 1e12, 1e15, 1e18])
    y, mu = np.meshgrid(counts, means)
    y, mu = y.ravel(), mu.ravel()
    rising = np.array([np.sum(np.log(theta + np.arange(int(v)))) for v in y])
    expected = (
        rising
        - special.gammaln(y + 1)
        - theta * np.log1p(mu / theta)
        - y * np.log1p(theta / mu)
    )
    params = {"coef": np.log(mu)[None, :], "dispersion": np.full(len(mu), 1 / theta)}
    family = NegativeBinomialExperts()
    for i in range(len(y)):  # each count at each mean: the diagonal
        got = family.log_likelihood(
            np,
            np.ones((1, 1)),
            encode_counts(y[i : i + 1]),
            {
                "coef": params["coef"][:, i : i + 1],
                "dispersion": params["dispersion"][i : i + 1],
            },
        )
        np.testing.assert_allclose(got[0, 0], expected[i], rtol=1e-13, atol=1e-12)
    dist = PredictiveNegativeBinomialMixture(
        np.ones((len(y), 1)), mu[:, None], np.full((len(y), 1), 1 / theta)
    )
    np.testing.assert_allclose(dist.logpmf(y), expected, rtol=1e-13, atol=1e-12)


def test_log_probabilities_keep_their_digits_near_the_poisson_limit():
    # at phi = 1e-9 the negative binomial is the Poisson distribution but for
    # about phi ((y - mu)^2 - y) / 2 (its second cumulant's change), where
    # scipy's nbinom loses 1e-6 to log-gammas of 2e10
    counts = np.array([0.0, 1.0, 7.0, 40.0])
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[6.0]], [[1e-9]])
    poisson = stats.poisson.logpmf(counts, 6.0)
    correction = 1e-9 * ((counts - 6.0) ** 2 - counts) / 2
    np.testing.assert_allclose(
        dist.logpmf(counts[:, None])[:, 0], poisson + correction, atol=1e-14
    )


def _exact_logpmf(y, eta, theta):
    """At the mean exp(eta) of the float eta, exactly: eta's rounding moves a
    log-probability by 1e-5 at theta = 1e8 and counts of 1e300."""
    with localcontext() as context:
        context.prec = 400
        return float(nb_logpmf(y, Decimal(eta).exp(), theta))


# counts from 0 to 1e300, means about them, theta from 1e-2 to the Poisson limit
COUNTS = [0.0, 3.0, 1e3, 1e9, 1e16, 1e100, 1e300]
THETAS = [0.01, 1.5, 9.9, 10.0, 1e3, 1e8]


def test_log_probabilities_against_exact_log_gammas():
    # the float64 terms of the direct form are of y log(y) (4e17 at counts
    # of 1e16, where it lost 1.8e4 over 300 counts) and theta log(theta)
    from skmoe.experts.negative_binomial import log_probability
    from skmoe.experts.poisson import encode_counts

    for y in COUNTS:
        means = [0.5, 2.0] if y == 0 else [y / 3, y, 2.5 * y]
        Y = encode_counts(np.array([y]))
        eta = np.log(means)[:, None]
        theta = np.array(THETAS)[:, None, None]
        got = np.stack([log_probability(np, *Y[:3, None, :], eta, t) for t in theta])[
            ..., 0
        ]
        expected = np.array(
            [[_exact_logpmf(y, e, t) for e in eta[:, 0]] for t in THETAS]
        )
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_log_gamma_steps_on_numpy_as_on_other_namespaces(order):
    # NumPy's steps up to Stirling's series work in place on the entries
    # that step: the generic path's numbers bit for bit (array_api_strict
    # wraps NumPy's arithmetic), and scipy's log-gamma and polygammas
    from skmoe._special import log_gamma

    xp = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(order)
    x = 10.0 ** rng.uniform(-12, 12, size=(3, 400))
    x[0, :60] = np.arange(60) / 4 + 0.25  # 0.25 to 15: 0 to 10 steps
    x[1, 0], x[1, 1], x[1, 2] = 1e-30, 10.0, 9.999999999999998
    for dtype in (np.float64, np.float32):
        values = x.astype(dtype)
        with np.errstate(over="ignore", divide="ignore"):  # (1 / x^2 in float32)
            got = log_gamma(np, values, order)
            generic = np.asarray(log_gamma(xp, xp.asarray(values), order))
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, generic)
    # integers step as floats (an in-place product of ints refused the cast)
    counts = np.arange(12)
    np.testing.assert_array_equal(
        log_gamma(np, counts + 1, order), log_gamma(np, counts + 1.0, order)
    )
    reference = [special.gammaln, special.digamma, lambda v: special.polygamma(1, v)]
    fine = x > 1e-8  # (the polygammas of 1e-12 are of 1e12 and 1e24)
    np.testing.assert_allclose(
        log_gamma(np, x, order)[fine],
        reference[order](x[fine]),
        rtol=1e-13,
        atol=1e-14,  # (log Gamma is 0 at 1 and 2)
    )


def test_theta_derivatives_against_exact_differences():
    # the derivatives in theta, whose direct forms cancel terms of y / theta
    from skmoe.experts.negative_binomial import _theta_derivatives

    for y in [0.0, 3.0, 1e3, 1e9, 1e16, 1e100]:
        eta = np.log([2.0] if y == 0 else [y / 3, y, 2.5 * y])
        for theta in THETAS:
            first, second = _theta_derivatives(
                np, np.array([[y]]), eta[None, :], np.array([[theta]])
            )
            d1, d2 = _exact_theta_derivatives(y, eta, theta)
            # (relative, and against terms of 1 / theta: the log-gammas')
            scale = 1 / theta
            np.testing.assert_allclose(first[0], d1, rtol=1e-12, atol=1e-13 * scale)
            np.testing.assert_allclose(
                second[0], d2, rtol=1e-10, atol=1e-13 * scale / theta
            )


def _exact_theta_derivatives(y, eta, theta):
    """The first and second derivatives in theta of the log-probability of
    ``y`` at log means ``eta``, by central differences at 400 digits."""
    with localcontext() as context:
        context.prec = 400
        t, h = Decimal(theta), Decimal(theta) * Decimal("1e-30")
        d1, d2 = [], []
        for e in eta:
            mean = Decimal(e).exp()
            a, c, b = (nb_logpmf(y, mean, t + k * h) for k in (-1, 0, 1))
            d1.append(float((b - a) / (2 * h)))
            d2.append(float((b - 2 * c + a) / (h * h)))
    return d1, d2


def test_theta_derivatives_where_the_means_overflow():
    # log means of 1e5 and 1e6 (an expert's, at rows it has no weight on,
    # far out on a feature of scale 1e8): the guarded rates overflow, and
    # NumPy warned of the overflow and of inf / inf; the derivatives are their
    # limits, against exact differences
    from skmoe.experts.negative_binomial import _theta_derivatives

    eta = np.array([1e5, 1e6])
    for y in [0.0, 3.0, 1e9]:
        for theta in THETAS:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                first, second = _theta_derivatives(
                    np, np.array([[y]]), eta[None, :], np.array([[theta]])
                )
            d1, d2 = _exact_theta_derivatives(y, eta, theta)
            scale = 1 / theta
            np.testing.assert_allclose(first[0], d1, rtol=1e-12, atol=1e-13 * scale)
            np.testing.assert_allclose(
                second[0], d2, rtol=1e-10, atol=1e-13 * scale / theta
            )


def test_outlier_count_beside_a_large_feature_fits_without_numpy_warnings():
    # a fuzz case: a count of 1e12 beside a feature of scale 1e8, one expert
    # per row (top_k=1): experts' log means ran past 1e5 at rows they have no
    # weight on, and NumPy warned of overflows in the rates, the dispersion's
    # derivatives and the Newton solve (a step that is refused)
    X = np.array(
        [
            [4876000.552609203, 0.044512770956665774, 0.24834447889048109],
            [-158048936.9740904, 1.4528161993948048, -0.5909439060000864],
            [9487515.272879196, 0.9067024723967665, 0.10502410585136192],
            [-161881924.1239873, 0.7327134735900932, 0.2808355753484067],
            [-19773420.408889677, 0.6245518131008119, 1.0952220768028165],
        ]
    )
    y = np.array([1e12, 2.0, 2.0, 3.0, 4.0])
    model = MoENegativeBinomialRegressor(
        5,
        gate="hierarchical",
        alpha=1.0,
        top_k=1,
        max_iter=5,
        tol=0.0,
        n_init=2,
        random_state=507,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateFitWarning)
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, y)
        prediction = model.predict(X)
    assert np.isfinite(model.log_likelihood_)
    assert np.all(np.isfinite(prediction))
    # each row's log-likelihood, finite, summing to the fitted one
    rows = model.log_likelihood_samples(X, y)
    np.testing.assert_allclose(np.sum(rows), model.log_likelihood_, rtol=1e-9)


def test_a_warm_dispersion_step_is_newtons_in_log_theta():
    # one M-step's dispersion step (DISPERSION_STEPS = 1) from 0.3 off the
    # maximum in log(theta) at fixed means, against scipy's nbinom maximized
    # in theta: Newton's error, about 0.5 * 0.3^2; a wrong curvature in log
    # theta (the chain rule's slope term of the wrong sign) left 0.26 and 0.12
    from skmoe.experts.negative_binomial import NegativeBinomialExperts
    from skmoe.experts.poisson import encode_counts

    rng = np.random.default_rng(0)
    n = 500
    mu = np.exp(1.0 + 0.5 * rng.normal(size=n))
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    w = rng.uniform(0.5, 1.5, n)

    def minus_log_likelihood(log_theta):
        t = np.exp(log_theta)
        return -np.sum(w * stats.nbinom.logpmf(y, t, t / (t + mu)))

    best = optimize.minimize_scalar(
        minus_log_likelihood,
        bounds=(-5, 5),
        method="bounded",
        options={"xatol": 1e-10},
    ).x
    experts = NegativeBinomialExperts()
    for delta in [0.3, -0.3]:
        params = {"coef": np.ones((1, 1)), "dispersion": np.exp([-(best + delta)])}
        dispersion = experts._dispersion(
            np, np.log(mu)[None, :], encode_counts(y), w[None, :], params, cold=False
        )
        assert abs(-np.log(dispersion[0]) - best) < 0.06, delta


@pytest.mark.parametrize("scale", [1e16, 1e160])
def test_huge_counts_fit_the_gamma_limit(scale):
    # counts of scale s: the negative binomial likelihood is the Gamma one of
    # the same mean and shape theta but for terms of 1 / s. At 1e16 the fit
    # kept slopes of 0 (its objective's terms of 4e17 hid the steps' gains);
    # at 1e160 the moments' squares overflowed
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 2))
    y = np.round(scale * np.exp(0.3 * X[:, 0] + 0.3 * rng.normal(size=300)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MoENegativeBinomialRegressor(1, alpha=0, tol=1e-10).fit(X, y)

    def gamma_loss(params):
        mean = np.exp(params[0] + X @ params[1:3])
        shape = np.exp(params[3])
        return -np.sum(stats.gamma.logpdf(y / scale, shape, scale=mean / shape))

    start = np.r_[np.log(y.mean() / scale), 0, 0, 0]
    best = optimize.minimize(gamma_loss, start, method="BFGS", options={"gtol": 1e-9})
    intercept = model.expert_intercept_[0] - np.log(scale)
    np.testing.assert_allclose(intercept, best.x[0], atol=1e-5)
    np.testing.assert_allclose(model.expert_coef_[0], best.x[1:3], atol=1e-5)
    np.testing.assert_allclose(
        model.expert_dispersion_[0], np.exp(-best.x[3]), rtol=1e-5
    )


def test_exposures_of_any_size_are_one_unit():
    # at exposures of 1e200 the start's rate floor (1e-10 per unit) was a
    # mean of 1e190, where the negative binomial's Newton steps are all
    # refused: the fit kept it
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 2))
    y = rng.poisson(2.0 * np.exp(0.3 * X[:, 0])).astype(float)
    plain = MoENegativeBinomialRegressor(1, tol=1e-10).fit(X, y)
    for exposure in (1e-200, 1e25, 1e200):
        model = MoENegativeBinomialRegressor(1, tol=1e-10).fit(
            X, y, exposure=np.full(300, exposure)
        )
        np.testing.assert_allclose(
            model.expert_intercept_ + np.log(exposure),
            plain.expert_intercept_,
            atol=1e-7,
        )
        np.testing.assert_allclose(model.expert_coef_, plain.expert_coef_, atol=1e-7)
        # the same counts' moments at the same exposure (below about 1e-155
        # the unit rates' squares overflowed: predict raised)
        mean, std = model.predict(X[:5], return_std=True, exposure=exposure)
        want_mean, want_std = plain.predict(X[:5], return_std=True)
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
        np.testing.assert_allclose(std, want_std, rtol=1e-6)


def test_distribution_of_huge_means_is_the_gamma_limit():
    # scipy's betainc is NaN from about 1e155, and mu^2 overflowed: the
    # median was NaN and ppf inf
    for mean in (1e160, 1e300):
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[mean]], [[0.5]])
        limit = stats.gamma(2.0, scale=mean / 2.0)
        q = np.array([0.01, 0.5, 0.9])[:, None]
        np.testing.assert_allclose(dist.ppf(q)[:, 0], limit.ppf(q[:, 0]), rtol=1e-9)
        np.testing.assert_allclose(dist.cdf([[mean]]), limit.cdf(mean), rtol=1e-12)
        np.testing.assert_allclose(
            dist.logpmf(np.array([[mean]])), limit.logpdf(mean), rtol=1e-12
        )
    # at the top of float64 (log(2 pi y) overflowed at 2.9e307)
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e308]], [[0.02]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = dist.logpmf(np.array([[1e308]]))
    limit = stats.gamma(50.0, scale=1e308 / 50.0)
    np.testing.assert_allclose(got, limit.logpdf(1e308), rtol=1e-12)


def test_std_errors_are_the_observed_information_of_glm_nb():
    rng = np.random.RandomState(6)
    X = rng.randn(800, 1)
    mean = np.exp(1.0 + 0.5 * X[:, 0])
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mean)).astype(float)
    model = MoENegativeBinomialRegressor(n_experts=1, alpha=0.0, tol=1e-12).fit(X, y)
    se = model.std_errors(X, y)

    def log_likelihood(t):  # in (intercept, slope, dispersion)
        mu = np.exp(t[0] + X[:, 0] * t[1])
        return np.sum(_nb_logpmf(y, mu, t[2]))

    t0 = np.r_[
        model.expert_intercept_, model.expert_coef_[:, 0], model.expert_dispersion_
    ]
    steps = 1e-4 * np.maximum(np.abs(t0), 0.1)
    hessian = np.empty((3, 3))
    for a in range(3):
        for b in range(3):
            ea, eb = np.eye(3)[a] * steps[a], np.eye(3)[b] * steps[b]
            hessian[a, b] = (
                log_likelihood(t0 + ea + eb)
                - log_likelihood(t0 + ea - eb)
                - log_likelihood(t0 - ea + eb)
                + log_likelihood(t0 - ea - eb)
            ) / (4 * steps[a] * steps[b])
    expected = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    np.testing.assert_allclose(se.expert_intercept_, expected[:1], rtol=1e-4)
    np.testing.assert_allclose(se.expert_coef_[:, 0], expected[1:2], rtol=1e-4)
    np.testing.assert_allclose(se.expert_dispersion_, expected[2:], rtol=1e-4)


@pytest.mark.parametrize("trials", [2, 10, 50])
def test_std_errors_of_a_dispersion_at_its_floor_are_inf(trials):
    # binomial counts, less spread than Poisson ones: the dispersion ends on its
    # floor, a bound where the likelihood still rises towards the Poisson limit,
    # so the data do not determine it; at 10 trials its standard error was a
    # finite 3e-6 without a warning (at 2 and 50, inf with one). The
    # coefficients' are the Poisson regression's, sqrt(diag((X~' W X~)^-1))
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1000, 1))
    y = rng.binomial(trials, 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    model = MoENegativeBinomialRegressor(n_experts=1, alpha=0.0, tol=1e-10).fit(X, y)
    assert model.expert_dispersion_[0] == pytest.approx(DISPERSION_FLOOR, rel=1e-9)
    with pytest.warns(UserWarning, match="dispersion at its floor"):
        se = model.std_errors(X, y)
    assert np.isinf(se.expert_dispersion_[0])
    poisson = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    design = np.column_stack([np.ones(len(y)), X])
    weights = poisson.predict(X)
    expected = np.sqrt(np.diag(np.linalg.inv(design.T @ (weights[:, None] * design))))
    np.testing.assert_allclose(se.expert_intercept_, expected[:1], rtol=1e-5)
    np.testing.assert_allclose(se.expert_coef_[:, 0], expected[1:], rtol=1e-5)


def _zinb_data():
    """1500 zero-inflated negative binomial counts: logit P(zero) = -0.5 + x,
    log mean 1.5 - 0.4 x, dispersion 1/3."""
    rng = np.random.RandomState(7)
    X = rng.uniform(-2, 2, size=(1500, 1))
    zero = rng.rand(1500) < 1 / (1 + np.exp(-(-0.5 + X[:, 0])))
    mean = np.exp(1.5 - 0.4 * X[:, 0])
    y = np.where(zero, 0.0, rng.negative_binomial(3.0, 3.0 / (3.0 + mean)))
    return X, y


def _zinb_loss(X, y):
    """The ZINB model's negative log-likelihood of (a, b, c, d, log n):
    logit P(zero) = a + b x, log mean c + d x, dispersion 1 / n."""

    def loss(t):
        p_zero = special.expit(t[0] + t[1] * X[:, 0])
        mu = np.exp(t[2] + t[3] * X[:, 0])
        log_nb = _nb_logpmf(y, mu, np.exp(-t[4]))
        with np.errstate(divide="ignore"):
            at_zero = np.logaddexp(np.log(p_zero), np.log1p(-p_zero) + log_nb)
        return -np.sum(np.where(y == 0, at_zero, np.log1p(-p_zero) + log_nb))

    return loss


def _zinb_parameters(model):
    """A zero-inflated model's (a, b, c, d, log n) of :func:`_zinb_loss`."""
    log_odds = np.log(model.predict_gate(np.array([[0.0], [1.0]])))
    log_odds = log_odds[:, 0] - log_odds[:, 1]
    return np.r_[
        log_odds[0],
        log_odds[1] - log_odds[0],
        model.expert_intercept_[1],
        model.expert_coef_[1, 0],
        -np.log(model.expert_dispersion_[1]),
    ]


def test_zero_inflated_two_experts_is_the_zinb_model():
    # R pscl's zeroinfl(y ~ x | x, dist = "negbin"): logit P(zero) = a + b x,
    # the rest a negative binomial regression
    X, y = _zinb_data()
    model = MoENegativeBinomialRegressor(
        n_experts=2, zero_inflated=True, alpha=0.0, tol=1e-12, random_state=0
    ).fit(X, y)
    assert model.expert_intercept_[0] == -np.inf
    assert model.expert_dispersion_[0] == 0.0

    loss = _zinb_loss(X, y)
    start = _zinb_parameters(model)
    best = optimize.minimize(loss, start, method="BFGS", options={"gtol": 1e-8})
    assert -best.fun <= model.log_likelihood_ + 1e-6
    np.testing.assert_allclose(model.log_likelihood_, -loss(start), rtol=1e-10)
    np.testing.assert_allclose(best.x, start, atol=1e-3)
    np.testing.assert_allclose(start, [-0.5, 1.0, 1.5, -0.4, np.log(3.0)], atol=0.3)
    # BIC and AIC count the gate (2), the negative binomial's coefficients (2)
    # and its dispersion: none for the point mass, whose dispersion is 0
    g = model.predict_gate(X)
    mu = np.exp(model.expert_intercept_[1] + X @ model.expert_coef_[1])
    phi = model.expert_dispersion_[1]
    pmf = stats.nbinom.pmf(y, 1 / phi, 1 / (1 + phi * mu))
    log_likelihood = np.sum(np.log(g[:, 0] * (y == 0) + g[:, 1] * pmf))
    np.testing.assert_allclose(
        model.bic(X, y), -2 * log_likelihood + 5 * np.log(len(y)), rtol=1e-10
    )
    np.testing.assert_allclose(model.aic(X, y), -2 * log_likelihood + 10, rtol=1e-10)


def test_zero_inflated_gradient_solver_reaches_the_zinb_maximum():
    # solver="gradient" moves neither the point mass's coefficients nor its
    # dispersion: it reaches the ZINB maximum written out with scipy
    X, y = _zinb_data()
    model = MoENegativeBinomialRegressor(
        n_experts=2,
        zero_inflated=True,
        solver="gradient",
        alpha=0.0,
        tol=1e-12,
        random_state=0,
    ).fit(X, y)
    assert model.expert_intercept_[0] == -np.inf
    assert model.expert_dispersion_[0] == 0.0

    loss = _zinb_loss(X, y)
    best = optimize.minimize(
        loss, [-0.5, 1.0, 1.5, -0.4, np.log(3.0)], method="BFGS", options={"gtol": 1e-8}
    )
    fitted = _zinb_parameters(model)
    np.testing.assert_allclose(model.log_likelihood_, -best.fun, rtol=1e-9)
    np.testing.assert_allclose(fitted, best.x, atol=1e-4)


def test_gradient_is_the_finite_differences_of_the_objective():
    # what the gradient solvers climb: sum r log p_k(y | x) - alpha ||b||^2 / 2
    from skmoe._math import design_matrix
    from skmoe.experts import NegativeBinomialExperts
    from skmoe.experts.poisson import encode_counts

    X, y = _regimes(n=300, seed=8)
    X = np.hstack([X, np.random.RandomState(9).randn(300, 1)])
    design, Y = design_matrix(np, X), encode_counts(y, np.full(300, 1.5))
    resp = np.random.RandomState(10).dirichlet([1, 1, 1], size=300).T / 300
    family = NegativeBinomialExperts()
    params = {
        "coef": np.array([[0.5, 1.0, 2.0], [0.3, -0.2, 0.0], [0.1, 0.0, -0.4]]),
        "dispersion": np.array([0.4, 2.0, 20.0]),  # theta of 2.5, 0.5, 0.05
    }
    alpha = 0.01

    def objective(p):
        fit = np.sum(resp * family.log_likelihood(np, design, Y, p))
        return fit - family.penalty(np, p, alpha)

    grad = family.gradient(np, design, Y, resp, params, alpha)
    numerics = central_differences(objective, params, relative=True)
    for name, numeric in numerics.items():
        np.testing.assert_allclose(grad[name], numeric, rtol=1e-6, atol=1e-9)


def test_each_solver_stays_at_the_others_optimum():
    # EM and L-BFGS climb the same objective: from either's optimum, the
    # other finds nothing better (here they reach different local optima)
    X, y = _regimes(n=1000, seed=8)
    params = dict(n_experts=2, random_state=0, tol=1e-12, max_iter=3000)
    for first, second in (("em", "gradient"), ("gradient", "em")):
        model = MoENegativeBinomialRegressor(solver=first, **params).fit(X, y)
        reached = model.objective_history_[-1]
        model.set_params(solver=second, warm_start=True).fit(X, y)
        np.testing.assert_allclose(model.objective_history_[-1], reached, atol=1e-8)


def test_expert_estimator_is_not_a_parameter():
    # its fit would be a Poisson one, not the negative binomial likelihood's
    assert "expert_estimator" not in MoENegativeBinomialRegressor().get_params()
    with pytest.raises(TypeError, match="expert_estimator"):
        MoENegativeBinomialRegressor(expert_estimator=PoissonRegressor())


def test_float32_fits_of_large_counts_keep_their_digits():
    # the float32 log-likelihood's terms were of y log(y): at counts of 1e6
    # fits lost hundreds of nats
    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 2))
    mean = 1e6 * np.exp(0.5 * X[:, 0])
    y = rng.negative_binomial(2, 2 / (2 + mean)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m64 = MoENegativeBinomialRegressor(2, random_state=0).fit(X, y)
        m32 = MoENegativeBinomialRegressor(2, random_state=0).fit(
            X.astype(np.float32), y.astype(np.float32)
        )
    assert m32.expert_dispersion_.dtype == np.float32
    exact = m64.log_likelihood_samples(X, y).sum()
    assert abs(m32.log_likelihood_samples(X, y).sum() - exact) < 0.5
    assert abs(float(m32.log_likelihood_) - exact) < 0.5


def test_tiny_means_and_huge_ratios_keep_their_digits():
    # a zero count's log-probability at a mean of 1e-17 was 0 (the mean as
    # expm1(eta) + 1); the second derivative in theta squared
    # u = (y - mu) / (theta + mu), which overflowed from 1e154 (a NaN Newton
    # step for an expert whose mean is small at large counts)
    from skmoe.experts.negative_binomial import _theta_derivatives, log_probability
    from skmoe.experts.poisson import encode_counts

    means = np.array([[1e-17, 1e-10, 1e-3]])
    Y = encode_counts(np.zeros(3))
    got = log_probability(np, *Y[:3, None, :], np.log(means), np.array([[2.0]]))
    np.testing.assert_allclose(got, -2.0 * np.log1p(means / 2.0), rtol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, second = _theta_derivatives(
            np, np.array([[1e300]]), np.zeros((1, 1)), np.ones((1, 1))
        )
    # u^2 / (theta + y) with u = (1e300 - 1) / 2, and trigamma(1) - 1 less
    # (trigamma - 1 / x at 1e300 + 1, 5e-601)
    u = (1e300 - 1.0) / 2.0
    expected = u * (u / (1e300 + 1.0)) - (np.pi**2 / 6 - 1.0)
    np.testing.assert_allclose(second[0, 0], expected, rtol=1e-14)


def test_a_diverging_adam_step_is_caught_as_for_the_other_families():
    # a NaN dispersion made the log-probabilities' Stirling branches both
    # empty: a TypeError (or NumPy's AxisError) from deep in the experts,
    # where the Poisson and Gamma estimators keep their start or refuse
    rng = np.random.RandomState(0)
    X = rng.randn(100, 2)
    y = rng.poisson(np.exp(0.5 * X[:, 0])).astype(float)
    with pytest.warns(ConvergenceWarning, match="learning_rate"):
        model = MoENegativeBinomialRegressor(
            2, solver="sgd", learning_rate=1e4, random_state=0
        ).fit(X, y)
    assert np.isfinite(model.score(X, y))
    model = MoENegativeBinomialRegressor(2, solver="sgd", random_state=0)
    model.partial_fit(X, y)
    before = model.predict(X)
    with pytest.raises(ValueError, match="partial_fit diverged"):
        model.partial_fit(X * 1e8, y)
    np.testing.assert_array_equal(model.predict(X), before)


def test_counts_too_large_for_the_dtype_get_negative_binomial_advice():
    # the advice was Poisson's, y / c with sample_weight=c: "the same Poisson
    # model of the rates", which a negative binomial of y / c is not
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2).astype(np.float32)
    y = np.r_[np.ones(199), 1e38]
    with pytest.raises(ValueError, match="counts too large for float32") as error:
        MoENegativeBinomialRegressor(2).fit(X, y)
    assert "Poisson" not in str(error.value)
    assert "MoEGammaRegressor or use float64 X" in str(error.value)
    with pytest.raises(ValueError, match="the same Poisson model of the rates"):
        MoEPoissonRegressor(2).fit(X, y)


def test_regimes_on_far_apart_scales_are_not_merged_by_the_start():
    # means 1, 30 and 1000 (theta 4): from the start's M-step at shares
    # 0.9 / 0.05 the counts of 1000 outweighed the small experts' own and EM
    # ended at -1674.7 with means 16 and 18 for the two small regimes, where
    # the true parameters score -1638.1; the start's M-step at the
    # outweighed experts' own rows (NegativeBinomialExperts.start_m_step)
    # keeps them apart
    rng = np.random.default_rng(3)
    X = np.zeros((300, 1))
    means = np.array([1.0, 30.0, 1000.0])
    y = np.concatenate([rng.negative_binomial(4, 4 / (4 + m), 100) for m in means])
    components = [stats.nbinom.logpmf(y, 4, 4 / (4 + m)) for m in means]
    true = np.sum(special.logsumexp(components, axis=0) - np.log(3))
    model = MoENegativeBinomialRegressor(3, gate="constant", random_state=0)
    model.fit(X, y)
    assert model.log_likelihood_ > true - 3.0
    np.testing.assert_allclose(
        np.sort(np.exp(model.expert_intercept_)), means, rtol=0.2
    )


def test_far_apart_regimes_with_covariates_keep_their_start():
    # means 1, 100 and 1e4 times exp(0.5 k x), theta 4: k-means rows mixed
    # the regimes, and the start on the log scale (regressions of
    # log(y + 0.5)) of one outweighed expert, the M-step's start kept for the
    # other, led EM to merge two regimes at -2031.9 (the M-step's start alone:
    # -1954.8, the true parameters: -1966.1); the M-step at the expert's own
    # rows is the start that its own rows' fit chooses instead
    rng = np.random.default_rng(6)
    X = rng.normal(size=(300, 2))
    labels = rng.integers(3, size=300)
    log_means = (
        np.log([1.0, 100.0, 1e4])[:, None] + 0.5 * X[:, 0] * np.arange(1, 4)[:, None]
    )
    y = rng.negative_binomial(4, 4 / (4 + np.exp(log_means[labels, np.arange(300)])))
    components = [stats.nbinom.logpmf(y, 4, 4 / (4 + np.exp(m))) for m in log_means]
    true = np.sum(special.logsumexp(components, axis=0) - np.log(3))
    model = MoENegativeBinomialRegressor(3, n_init=1, random_state=6).fit(X, y)
    assert model.log_likelihood_ > true - 3.0
    np.testing.assert_allclose(
        np.sort(model.expert_intercept_), np.log([1.0, 100.0, 1e4]), atol=0.2
    )


def _floor_warnings(X, y, sample_weight=None, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MoENegativeBinomialRegressor(alpha=0.0, **params)
        model.fit(X, y, sample_weight=sample_weight)
    said = [str(w.message) for w in caught if "not the Poisson limit" in str(w.message)]
    return model, said


def test_the_floor_warning_starts_at_a_tenth_of_the_poisson_variance():
    # Poisson counts at the floor 1e-8: the floor's variance mu + 1e-8 mu^2 is
    # 1.05 times the Poisson one at a mean of 5e6 (no warning), 1.2 times at 2e7
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1))
    for mean, warned in ((5e6, False), (2e7, True)):
        y = rng.poisson(mean, size=300).astype(float)
        model, said = _floor_warnings(X, y, n_experts=1)
        assert model.expert_dispersion_[0] == pytest.approx(DISPERSION_FLOOR, rel=1e-6)
        assert len(said) == warned
    assert f"up to {1.0 + DISPERSION_FLOOR * y.mean():.3g} times" in said[0]


def test_the_floor_warning_weighs_the_mean_count_by_the_sample_weights():
    # a saturated fit of two groups of Poisson counts, means 1e3 and 3e7, at
    # the floor: weighted 9 to 0.1 their mean count is about 3.3e5 (the
    # floor's excess 0.0033, no warning); unweighted it would be 1.5e7 (0.15)
    rng = np.random.RandomState(0)
    group = np.repeat([0.0, 1.0], 150)
    y = np.where(group == 0, rng.poisson(1e3, 300), rng.poisson(3e7, 300))
    y = y.astype(float)
    weight = np.where(group == 0, 9.0, 0.1)
    assert DISPERSION_FLOOR * np.average(y, weights=weight) < 0.01
    assert DISPERSION_FLOOR * np.mean(y) > 0.1
    model, said = _floor_warnings(group[:, None], y, weight, n_experts=1)
    assert model.expert_dispersion_[0] == pytest.approx(DISPERSION_FLOOR, rel=1e-6)
    assert said == []


def test_the_floor_warning_leaves_out_experts_above_the_floor():
    # an overdispersed expert of mean 1e8 (phi 0.5, well above the floor)
    # beside Poisson counts of mean 10 at the floor: the floor's excess is
    # 1e-7 there, and the large mean's expert is not floored: no warning
    rng = np.random.RandomState(0)
    x = np.linspace(-1, 1, 400)
    big = rng.negative_binomial(2, 2 / (2 + 1e8), size=400)
    y = np.where(x < 0, big, rng.poisson(10, 400)).astype(float)
    model, said = _floor_warnings(x[:, None], y, n_experts=2, random_state=0)
    order = np.argsort(model.expert_dispersion_)
    assert model.expert_dispersion_[order[0]] == pytest.approx(DISPERSION_FLOOR)
    assert model.expert_dispersion_[order[1]] == pytest.approx(0.5, abs=0.15)
    assert np.exp(model.expert_intercept_[order[1]]) > 1e7
    assert said == []


@pytest.mark.parametrize("order", [0, 1, 2])
def test_log_gamma_is_within_its_documented_error_of_mpmath(order):
    # log_gamma's docstring: in float64 to 1e-14 of max(1, |value|), absolute
    # near the zeros of log Gamma (1, 2) and digamma (1.46), relative beyond;
    # it said 1e-14 relative, which fails there (log Gamma(1.0000001) is
    # -5.8e-8)
    mpmath = pytest.importorskip("mpmath")
    from skmoe._special import log_gamma

    rng = np.random.default_rng(order)
    x = np.r_[
        rng.uniform(1e-3, 12, 600),
        10.0 ** rng.uniform(-150, 150, 300),
        [1.0, 2.0, 1.0000001, 1.9999999, 1.4616321449683622, 10.0],
    ]
    function = [mpmath.loggamma, mpmath.digamma, lambda v: mpmath.polygamma(1, v)]
    with mpmath.workdps(30):
        expected = np.array([float(function[order](mpmath.mpf(v))) for v in x])
    error = np.abs(log_gamma(np, x, order) - expected)
    assert np.all(error <= 1e-14 * np.maximum(1.0, np.abs(expected)))
