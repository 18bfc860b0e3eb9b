"""Student-t experts (``MoERegressor(noise="student_t")``): robust mixtures of
regressions, checked against optima and derivatives computed independently."""

import warnings

import mpmath
import numpy as np
import pytest
import scipy
from scipy import optimize, special, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from skmoe import MoERegressor, PredictiveStudentTMixture
from skmoe.exceptions import SkmoeWarning
from skmoe.experts import GaussianLinearExperts, StudentTLinearExperts

#: SciPy's (major, minor) version
_SCIPY = tuple(int(part) for part in scipy.__version__.split(".")[:2])


def _regimes(n=600, outliers=0.0, seed=0):
    """Two crossing lines, y = 2x + 1 and y = -x, noise 0.3, and a share of
    ``outliers`` whose y is moved up by 20 to 40."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    label = rng.rand(n) < 0.5
    y = np.where(label, 2 * X[:, 0] + 1, -X[:, 0]) + 0.3 * rng.standard_normal(n)
    bad = rng.rand(n) < outliers
    y[bad] += rng.uniform(20, 40, size=bad.sum())
    return X, y, label, bad


def _t_loglik(theta, X, y, df):
    """The log-likelihood of one linear Student-t regression, theta = (a, b,
    log s2), written with scipy.stats."""
    a, b, log_s2 = theta
    scale = np.exp(0.5 * log_s2)
    return stats.t.logpdf(y, df, loc=a + X[:, 0] * b, scale=scale).sum()


@pytest.mark.parametrize("df", [1.0, 3.0, 10.0])
def test_one_expert_is_the_t_regression_mle(df):
    # K=1: EM's fixed point is the maximum likelihood Student-t regression,
    # found here by Nelder-Mead on scipy.stats' log density (one line, 5% of
    # outliers)
    X, y, label, _ = _regimes(n=300, outliers=0.05, seed=1)
    X, y = X[label], y[label]
    reg = MoERegressor(
        n_experts=1, noise="student_t", df=df, alpha=0.0, tol=1e-14, max_iter=5000
    ).fit(X, y)
    start = [np.median(y), 0.0, 0.0]
    res = optimize.minimize(
        lambda t: -_t_loglik(t, X, y, df),
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
    )
    a, b, log_s2 = res.x
    np.testing.assert_allclose(reg.expert_intercept_[0], a, atol=1e-5)
    np.testing.assert_allclose(reg.expert_coef_[0, 0], b, atol=1e-5)
    np.testing.assert_allclose(np.log(reg.expert_variance_[0]), log_s2, atol=1e-5)
    np.testing.assert_allclose(reg.log_likelihood_, -res.fun, rtol=1e-9)


def test_log_likelihood_never_falls():
    X, y, _, _ = _regimes(outliers=0.05)
    for alpha in (0.0, 1e-2):
        reg = MoERegressor(
            n_experts=2,
            noise="student_t",
            df=2.5,
            alpha=alpha,
            n_init=1,
            tol=0,
            max_iter=200,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tol=0: no convergence
            reg.fit(X, y)
        history = np.array(reg.objective_history_)
        assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))
        if alpha == 0:
            ll = np.array(reg.log_likelihood_history_)
            assert np.all(np.diff(ll) >= -1e-9)


def _mixture_negloglik(theta, X, y, df):
    """Minus the log-likelihood of a two-expert Student-t mixture under a
    softmax gate: theta = (gate intercept, gate slope, a1, b1, a2, b2,
    log s2_1, log s2_2)."""
    v0, v1, a1, b1, a2, b2, l1, l2 = theta
    logit = v0 + v1 * X[:, 0]
    log_g = np.stack([-np.logaddexp(0, logit), -np.logaddexp(0, -logit)])
    dens = np.stack(
        [
            stats.t.logpdf(y, df, loc=a1 + b1 * X[:, 0], scale=np.exp(0.5 * l1)),
            stats.t.logpdf(y, df, loc=a2 + b2 * X[:, 0], scale=np.exp(0.5 * l2)),
        ]
    )
    return -special.logsumexp(log_g + dens, axis=0).sum()


def test_two_experts_reach_a_maximum_scipy_cannot_improve():
    X, y, _, _ = _regimes(n=400, outliers=0.05, seed=2)
    df = 4.0
    reg = MoERegressor(
        n_experts=2,
        noise="student_t",
        df=df,
        alpha=0.0,
        tol=1e-12,
        max_iter=5000,
        random_state=0,
    ).fit(X, y)
    # the fitted parameters in theta's layout: gate column 1 minus column 0
    v = reg.gate_coef_[1] - reg.gate_coef_[0]
    v0 = reg.gate_intercept_[1] - reg.gate_intercept_[0]
    theta = np.array(
        [
            v0,
            v[0],
            reg.expert_intercept_[0],
            reg.expert_coef_[0, 0],
            reg.expert_intercept_[1],
            reg.expert_coef_[1, 0],
            *np.log(reg.expert_variance_),
        ]
    )
    fitted = _mixture_negloglik(theta, X, y, df)
    np.testing.assert_allclose(-fitted, reg.log_likelihood_, rtol=1e-10)
    res = optimize.minimize(
        _mixture_negloglik,
        theta,
        args=(X, y, df),
        method="BFGS",
        options={"gtol": 1e-8},
    )
    assert res.fun >= fitted - 1e-6
    np.testing.assert_allclose(res.x, theta, atol=2e-3)


def test_outliers_move_t_experts_little_and_gaussian_ones_much():
    # 5% of the targets moved up by 20 to 40: the Gaussian mixture gives them
    # an expert of its own (or bends a line to them); the t experts keep the
    # two lines of the inliers (their least squares fits, from the labels)
    X, y, label, bad = _regimes(n=1000, outliers=0.05, seed=3)
    truth = []
    for side in (True, False):
        rows = (label == side) & ~bad
        truth.append(LinearRegression().fit(X[rows], y[rows]))
    slopes = sorted(m.coef_[0] for m in truth)
    t_reg = MoERegressor(n_experts=2, noise="student_t", random_state=0).fit(X, y)
    np.testing.assert_allclose(sorted(t_reg.expert_coef_[:, 0]), slopes, atol=0.05)
    gauss = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    errors = np.abs(np.sort(gauss.expert_coef_[:, 0]) - slopes)
    assert errors.max() > 0.5
    # the inliers' median absolute error against the true lines
    inliers = ~bad
    assert np.median(np.abs(t_reg.predict(X) - y)[inliers]) < np.median(
        np.abs(gauss.predict(X) - y)[inliers]
    )


def _objective(experts, design, Y, weighted_resp, params, alpha):
    log_p = experts.log_likelihood(np, design, Y, params)
    return np.sum(weighted_resp * log_p) - experts.penalty(np, params, alpha)


@pytest.mark.parametrize("tied", [False, True])
def test_gradient_matches_finite_differences(tied):
    rng = np.random.RandomState(0)
    n, d, k = 50, 3, 2
    design = np.vstack([np.ones(n), rng.standard_normal((d - 1, n))])
    Y = rng.standard_t(3, size=n)
    weighted_resp = rng.dirichlet(np.ones(k), size=n).T / n
    variance = np.array([0.7, 0.7]) if tied else np.array([0.7, 1.9])
    params = {"coef": rng.standard_normal((d, k)), "variance": variance}
    experts = StudentTLinearExperts(1e-8, df=3.0, tied=tied)
    grad = experts.gradient(np, design, Y, weighted_resp, params, alpha=0.1)
    step = 1e-6
    for name in ("coef", "variance"):
        numeric = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            up = {key: value.copy() for key, value in params.items()}
            down = {key: value.copy() for key, value in params.items()}
            up[name][index] += step
            down[name][index] -= step
            numeric[index] = (
                _objective(experts, design, Y, weighted_resp, up, 0.1)
                - _objective(experts, design, Y, weighted_resp, down, 0.1)
            ) / (2 * step)
        if name == "variance" and tied:  # the solvers move the K copies together
            numeric = np.full_like(numeric, numeric.mean())
        np.testing.assert_allclose(grad[name], numeric, rtol=1e-6, atol=1e-9)


def test_the_first_m_step_weighs_every_sample_by_one():
    # initial_params' scales are infinite: the first M-step has no line to
    # measure a sample's distance from, and is least squares
    rng = np.random.RandomState(0)
    design = np.vstack([np.ones(50), rng.standard_normal(50)])
    Y = 3 * design[1] + rng.standard_t(2, size=50)
    experts = StudentTLinearExperts(1e-8, df=3.0)
    params = experts.initial_params(np, design, Y, 2)
    weights, _ = experts._precision_weights(np, design, Y, params)
    np.testing.assert_array_equal(weights, 1.0)
    resp = np.full((2, 50), 1 / 100)
    first = experts.m_step(np, design, Y, resp, params, 0.0)
    least_squares = np.linalg.lstsq(design.T, Y, rcond=None)[0]
    np.testing.assert_allclose(first["coef"][:, 0], least_squares, rtol=1e-8)


def test_m_step_raises_the_expected_objective():
    # the ECM step: at fixed responsibilities, the experts' part of the
    # objective does not fall (here from parameters far from the optimum)
    rng = np.random.RandomState(1)
    n = 200
    design = np.vstack([np.ones(n), rng.standard_normal(n)])
    Y = 3 * design[1] + rng.standard_t(2, size=n)
    weighted_resp = rng.dirichlet(np.ones(2), size=n).T / n
    experts = StudentTLinearExperts(1e-8, df=2.0)
    params = {"coef": np.array([[5.0, -1.0], [0.0, 1.0]]), "variance": np.ones(2)}
    values = [_objective(experts, design, Y, weighted_resp, params, 0.01)]
    for _ in range(30):
        params = experts.m_step(np, design, Y, weighted_resp, params, 0.01)
        values.append(_objective(experts, design, Y, weighted_resp, params, 0.01))
    assert np.all(np.diff(values) >= -1e-13)
    assert values[-1] > values[0] + 1


def test_large_df_is_the_gaussian_fit():
    X, y, _, _ = _regimes(n=400, seed=4)
    t_reg = MoERegressor(n_experts=2, noise="student_t", df=1e8, random_state=0)
    gauss = MoERegressor(n_experts=2, random_state=0)
    t_reg.fit(X, y)
    gauss.fit(X, y)
    order_t = np.argsort(t_reg.expert_coef_[:, 0])
    order_g = np.argsort(gauss.expert_coef_[:, 0])
    np.testing.assert_allclose(
        t_reg.expert_coef_[order_t], gauss.expert_coef_[order_g], atol=1e-5
    )
    np.testing.assert_allclose(t_reg.log_likelihood_, gauss.log_likelihood_, rtol=1e-6)


def test_predictive_distribution_and_std():
    X, y, _, _ = _regimes(n=400, outliers=0.05, seed=5)
    reg = MoERegressor(n_experts=2, noise="student_t", df=3.0, random_state=0)
    reg.fit(X, y)
    dist = reg.predict_distribution(X)
    assert isinstance(dist, PredictiveStudentTMixture)
    # the per-row log-likelihoods are the distribution's log densities at y
    np.testing.assert_allclose(dist.logpdf(y), reg.log_likelihood_samples(X, y))
    np.testing.assert_allclose(dist.logpdf(y).sum(), reg.log_likelihood_, rtol=1e-9)
    mean, std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, dist.mean())
    # each expert's variance is s2 df / (df - 2) = 3 s2, by scipy.stats.t
    var = stats.t(3.0, scale=np.sqrt(reg.expert_variance_)).var()
    means = dist.means
    expected = np.sqrt(
        np.sum(dist.weights * (var + (means - mean[:, None]) ** 2), axis=1)
    )
    np.testing.assert_allclose(std, expected, rtol=1e-10)
    np.testing.assert_allclose(dist.std(), expected, rtol=1e-10)


@pytest.mark.parametrize("df", [1.5, 2.0])  # (the variance is infinite at df <= 2)
@pytest.mark.parametrize("top_k", [None, 1])
def test_heavy_tails_have_an_infinite_std_not_nan(top_k, df):
    X, y, _, _ = _regimes(n=300, outliers=0.05, seed=6)
    reg = MoERegressor(
        n_experts=2, noise="student_t", df=df, top_k=top_k, random_state=0
    ).fit(X, y)
    mean, std = reg.predict(X, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std == np.inf)
    assert np.all(reg.predict_distribution(X).std() == np.inf)
    dist = reg.predict_distribution(X[:5])
    np.testing.assert_array_equal(dist.df, df)
    low, high = dist.interval(0.9)
    assert np.all(np.isfinite(low) & np.isfinite(high) & (low < mean[:5]))


def test_df_and_noise_fixed_at_fit():
    # set_params after fit does not change the fitted model's predictions
    X, y, _, _ = _regimes(n=300, outliers=0.05, seed=7)
    reg = MoERegressor(n_experts=2, noise="student_t", df=3.0, random_state=0)
    reg.fit(X, y)
    before = reg.predict_distribution(X).logpdf(y)
    reg.set_params(df=50.0)
    np.testing.assert_array_equal(reg.predict_distribution(X).logpdf(y), before)
    reg.set_params(noise="gaussian")
    np.testing.assert_allclose(reg.log_likelihood_samples(X, y), before, rtol=1e-12)


def test_refused_settings():
    X, y, _, _ = _regimes(n=100)
    with pytest.raises(ValueError, match="noise='student_t' needs linear experts"):
        MoERegressor(
            n_experts=2, noise="student_t", expert_estimator=LinearRegression()
        ).fit(X, y)
    reg = MoERegressor(n_experts=2, noise="student_t", gate="constant")
    assert not hasattr(reg, "partial_fit")
    with pytest.raises(ValueError, match="df"):
        MoERegressor(noise="student_t", df=0).fit(X, y)
    with pytest.raises(ValueError, match="noise"):
        MoERegressor(noise="laplace").fit(X, y)


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_gradient_solvers_reach_the_em_optimum(solver):
    # Adam, on 3000 rows without outliers (on 400 with them it stops in a
    # poorer optimum, as it does for Gaussian experts)
    n, outliers = (400, 0.05) if solver == "gradient" else (3000, 0.0)
    X, y, _, _ = _regimes(n=n, outliers=outliers, seed=8)
    em = MoERegressor(n_experts=2, noise="student_t", random_state=0).fit(X, y)
    other = MoERegressor(
        n_experts=2, noise="student_t", solver=solver, random_state=0
    ).fit(X, y)
    per_sample = (em.log_likelihood_ - other.log_likelihood_) / n
    assert abs(per_sample) < (1e-4 if solver == "gradient" else 2e-3)


def test_std_errors_match_a_finite_difference_hessian():
    # K=1, alpha=0: the inverse of minus the Hessian of scipy.stats' log
    # likelihood at the fit, in (a, b, log s2), by central differences
    X, y, _, _ = _regimes(n=300, outliers=0.05, seed=9)
    df = 3.0
    reg = MoERegressor(
        n_experts=1, noise="student_t", df=df, alpha=0.0, tol=1e-12, max_iter=5000
    ).fit(X, y)
    theta = np.array(
        [
            reg.expert_intercept_[0],
            reg.expert_coef_[0, 0],
            np.log(reg.expert_variance_[0]),
        ]
    )
    step = 1e-4

    def f(i, j, di, dj):
        t = theta.copy()
        t[i] += di
        t[j] += dj
        return _t_loglik(t, X, y, df)

    hess = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            hess[i, j] = (
                f(i, j, step, step)
                - f(i, j, step, -step)
                - f(i, j, -step, step)
                + f(i, j, -step, -step)
            ) / (4 * step**2)
    cov = np.linalg.inv(-hess)
    se = reg.std_errors(X, y)
    np.testing.assert_allclose(se.expert_intercept_[0], np.sqrt(cov[0, 0]), rtol=1e-3)
    np.testing.assert_allclose(se.expert_coef_[0, 0], np.sqrt(cov[1, 1]), rtol=1e-3)
    # the variance's standard error: s2 times that of log s2 (the delta method)
    np.testing.assert_allclose(
        se.expert_variance_[0], reg.expert_variance_[0] * np.sqrt(cov[2, 2]), rtol=1e-3
    )


def test_bic_counts_the_gaussian_parameters():
    X, y, _, _ = _regimes(n=300, seed=10)
    reg = MoERegressor(n_experts=2, noise="student_t", random_state=0).fit(X, y)
    # softmax gate (K-1)(D+1) = 2, experts K(D+1) + K = 6: df is fixed
    np.testing.assert_allclose(
        reg.bic(X, y), -2 * reg.log_likelihood_ + 8 * np.log(len(y)), rtol=1e-10
    )
    assert StudentTLinearExperts(1e-8, 4.0).n_parameters(1, 2) == GaussianLinearExperts(
        1e-8
    ).n_parameters(1, 2)


def test_constant_target_warns_and_stays_finite():
    X = np.random.RandomState(0).standard_normal((50, 2))
    y = np.full(50, 3.0)
    reg = MoERegressor(n_experts=2, noise="student_t", random_state=0)
    with pytest.warns(UserWarning, match="y is constant"):
        reg.fit(X, y)
    mean, std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(mean, 3.0)
    assert np.all(np.isfinite(std))


def test_one_row_groups_equal_the_fit_without_groups():
    X, y, _, _ = _regimes(n=300, outliers=0.05, seed=11)
    params = dict(n_experts=2, noise="student_t", random_state=0)
    plain = MoERegressor(**params).fit(X, y)
    grouped = MoERegressor(**params).fit(X, y, groups=np.arange(len(y)))
    np.testing.assert_allclose(grouped.log_likelihood_, plain.log_likelihood_)
    np.testing.assert_allclose(grouped.expert_coef_, plain.expert_coef_)


def test_warm_start_from_gaussian_experts_climbs_from_them():
    # a warm fit after set_params(noise="student_t") starts at the Gaussian
    # fit's parameters (its variances as squared scales) and EM climbs from
    # there: above the t mixture's log-likelihood at those parameters,
    # written with scipy.stats
    X, y, _, _ = _regimes(n=600, outliers=0.05, seed=12)
    warm = MoERegressor(n_experts=2, warm_start=True, random_state=0).fit(X, y)
    start = warm.predict_distribution(X)
    at_start = special.logsumexp(
        np.log(start.weights)
        + stats.t.logpdf(y[:, None], 4.0, loc=start.means, scale=start.scales),
        axis=1,
    ).sum()
    warm.set_params(noise="student_t").fit(X, y)
    assert warm.log_likelihood_history_[0] >= at_start - 1e-8 * abs(at_start)
    assert warm.log_likelihood_ > at_start + 1
    assert isinstance(warm.predict_distribution(X), PredictiveStudentTMixture)


def test_bootstrap_draws_have_the_fitted_t_noise():
    # bootstrap_lrt's targets, drawn from a fitted one-expert model: their
    # residuals in scales follow the t of df 2.5 (a KS test; a Gaussian draw
    # fails it), and the test itself runs on t experts
    from skmoe import bootstrap_lrt
    from skmoe._selection import _sample

    rng = np.random.RandomState(13)
    X = rng.uniform(-2, 2, size=(4000, 1))
    y = 1 + 2 * X[:, 0] + 0.5 * rng.standard_t(2.5, size=4000)
    reg = MoERegressor(n_experts=1, noise="student_t", df=2.5).fit(X, y)
    drawn = _sample(reg, X, {}, random_state=0)
    scaled = (drawn - reg.predict(X)) / np.sqrt(reg.expert_variance_[0])
    assert stats.kstest(scaled, stats.t(2.5).cdf).pvalue > 1e-3
    assert stats.kstest(scaled, stats.norm(0, scaled.std()).cdf).pvalue < 1e-6
    result = bootstrap_lrt(
        MoERegressor(noise="student_t", df=2.5, n_init=1, random_state=0),
        X[:300],
        y[:300],
        max_experts=2,
        n_bootstrap=19,
        significance=0.1,
        random_state=0,
    )
    assert result.n_experts == 1


def test_auto_df_is_the_profile_likelihood_choice():
    # df="auto" keeps, of the fits at df 1, 2, 4, 8, 16 and 32, the one of
    # lowest BIC: each is the fit MoERegressor(df=df) gives alone, and BIC
    # counts the chosen df as one more parameter
    X, y, _, _ = _regimes(n=500, outliers=0.1, seed=14)
    params = dict(n_experts=2, noise="student_t", n_init=2, random_state=0)
    auto = MoERegressor(df="auto", **params).fit(X, y)
    grid = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    fits = [MoERegressor(df=df, **params).fit(X, y) for df in grid]
    extra = np.log(len(y))
    np.testing.assert_allclose(
        auto.df_bic_, [f.bic(X, y) + extra for f in fits], rtol=1e-10
    )
    np.testing.assert_allclose(auto.bic(X, y), min(auto.df_bic_), rtol=1e-10)
    best = fits[int(np.argmax([f.log_likelihood_ for f in fits]))]
    assert auto.df_ == best.df_ == 1.0
    np.testing.assert_allclose(auto.log_likelihood_, best.log_likelihood_)
    np.testing.assert_allclose(auto.predict(X), best.predict(X))
    np.testing.assert_array_equal(auto.predict_distribution(X[:3]).df, 1.0)
    # a warm fit keeps the chosen df and chose none
    auto.set_params(warm_start=True).fit(X, y)
    assert auto.df_ == 1.0 and not hasattr(auto, "df_bic_")
    # numbers: no df_bic_; Gaussian noise: no df_ either
    assert not hasattr(fits[0], "df_bic_")
    assert not hasattr(MoERegressor(n_experts=1).fit(X, y), "df_")


def test_auto_df_passes_over_collapsed_fits():
    # one target of 1e12 among 60 on a line: at df 16 and 32 it takes an expert
    # of its own (a spike of likelihood, the lowest BIC), whose mean leaked into
    # every row's prediction (1e10 where y was near 1)
    rng = np.random.RandomState(0)
    X = rng.randn(60, 2)
    y = X[:, 0] + 0.1 * rng.randn(60)
    y[0] = 1e12
    params = dict(n_experts=2, noise="student_t", n_init=1, random_state=0)
    grid = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the collapse warnings of df 16, 32
        fits = [MoERegressor(df=df, **params).fit(X, y) for df in grid]
    alone = [bool(np.any(np.isclose(f.expert_usage_, 1 / 60))) for f in fits]
    assert alone == [False] * 4 + [True] * 2
    bics = np.array([f.bic(X, y) + np.log(60) for f in fits])
    assert np.argmin(bics) == 5  # the spike's BIC is the lowest
    auto = MoERegressor(df="auto", **params).fit(X, y)
    expected = np.where(alone, np.inf, bics)
    np.testing.assert_allclose(auto.df_bic_, expected, rtol=1e-10)
    assert auto.df_ == grid[int(np.argmin(expected))] == 1.0
    np.testing.assert_allclose(auto.predict(X[1:]), X[1:, 0], atol=0.5)


def test_auto_df_partial_fit_needs_a_number_or_a_fit():
    X, y, _, _ = _regimes(n=200, seed=15)
    reg = MoERegressor(n_experts=2, noise="student_t", df="auto", solver="sgd")
    with pytest.raises(ValueError, match="df='auto' chooses"):
        reg.partial_fit(X, y)
    reg.set_params(max_iter=5).fit(X, y)
    reg.partial_fit(X, y)  # continues the fitted model, at its df
    assert reg.df_ in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@pytest.mark.parametrize("big", [1e6, 1e8, 1e12])
def test_one_gross_outlier_leaves_the_scale_alone(big):
    # the floor of the squared scales comes from a robust spread of y: from
    # y's variance, one target of 1e8 among 200 set it at 5e3 (the fit's
    # squared scale, 0.056 without it, sat there)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (200, 1))
    y = 2 * X[:, 0] + 1 + 0.3 * rng.standard_normal(200)
    clean = MoERegressor(n_experts=1, noise="student_t").fit(X, y)
    y[0] = big
    fitted = MoERegressor(n_experts=1, noise="student_t").fit(X, y)
    np.testing.assert_allclose(
        fitted.expert_variance_, clean.expert_variance_, rtol=0.05
    )
    low, high = fitted.predict_distribution([[0.0]]).interval(0.9)
    assert high[0] - low[0] < 1.1


def test_far_targets_have_a_finite_log_likelihood():
    X, y, _, _ = _regimes(n=200, seed=16)
    reg = MoERegressor(n_experts=2, noise="student_t", random_state=0).fit(X, y)
    far = y[:3] + np.array([1e155, -1e200, 1e300])
    got = reg.log_likelihood_samples(X[:3], far)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, reg.predict_distribution(X[:3]).logpdf(far))


def test_partial_fit_follows_the_fitted_noise():
    # online EM's running sums are Gaussian experts': refused for a fitted
    # Student-t model whatever noise is set to since, and allowed for a
    # fitted Gaussian one (which it continues)
    X, y, _, _ = _regimes(n=200, seed=17)
    params = dict(n_experts=2, gate="constant", random_state=0)
    t_model = MoERegressor(noise="student_t", **params).fit(X, y)
    t_model.set_params(noise="gaussian")
    assert not hasattr(t_model, "partial_fit")
    gaussian = MoERegressor(**params).fit(X, y).set_params(noise="student_t")
    # (it said nothing of the noise it ignored; a changed n_experts is told)
    with pytest.warns(SkmoeWarning, match="ignores noise='student_t', set after"):
        gaussian.partial_fit(X, y)
    assert not hasattr(gaussian, "df_")
    # Adam continues a Student-t model as it is, with the same word
    t_stream = MoERegressor(noise="student_t", solver="sgd", **params)
    t_stream.partial_fit(X, y).set_params(noise="gaussian")
    with pytest.warns(SkmoeWarning, match="fitted experts of noise='student_t'"):
        t_stream.partial_fit(X, y)
    assert isinstance(t_stream.predict_distribution(X), PredictiveStudentTMixture)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t_stream.set_params(noise="student_t").partial_fit(X, y)  # unchanged
    with pytest.raises(AttributeError) as caught:
        MoERegressor(noise="student_t", **params).partial_fit(X, y)
    assert "noise='student_t'" in str(caught.value.__cause__)


@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_mostly_equal_targets_keep_a_floor_near_the_gaussian_one(solver):
    # more than half the targets equal (a median absolute deviation of 0,
    # which set the floor at 2e-308: log-likelihoods of 80 per sample, and
    # 1e-164 made the gradient's square underflow): the floor from the 10%
    # and 90% quantiles is of the Gaussian experts' order
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 2))
    y = np.where(rng.rand(300) < 0.6, 0.0, X[:, 0] + rng.standard_normal(300))
    params = dict(n_experts=2, solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the spike collapses an expert
        t_model = MoERegressor(noise="student_t", **params).fit(X, y)
        gaussian = MoERegressor(**params).fit(X, y)
    floor = gaussian.expert_variance_.min()
    assert floor == pytest.approx(1e-10 * np.var(y), rel=1e-6)
    assert t_model.expert_variance_.min() >= 0.1 * floor
    assert t_model.log_likelihood_ / len(y) < 15


def test_partial_fit_of_student_t_experts_keeps_the_unit():
    # the docs (recipes): Student-t experts keep the unit where a batch's
    # residuals pass both of the Gaussian experts' checks (mean square above
    # (4 units)^2, median square above a Gaussian's at 4 units, 0.455 (4
    # units)^2): their squared scales are no mean of squared residuals.
    # Gaussian experts' rule, inherited, took a unit of 15.8 for 0.087 here
    rng = np.random.default_rng(0)

    def batch(scale):
        X = rng.normal(size=(100, 1))
        return X, 2.0 * X[:, 0] + scale * rng.standard_t(3, size=100)

    model = MoERegressor(1, noise="student_t", df=3, solver="sgd", random_state=0)
    model.partial_fit(*batch(0.1))
    unit = model._solver_state.units[2]
    X, y = batch(10.0)
    model.partial_fit(X, y)
    squares = (y - X @ model.expert_coef_[0] - model.expert_intercept_[0]) ** 2
    growth = 4.0
    # (the case: both checks pass, by far)
    assert np.mean(squares) > 100 * growth**2 * unit**2
    assert np.median(squares) > 100 * stats.chi2(1).median() * growth**2 * unit**2
    assert model._solver_state.units[2] == unit


def test_partial_fit_from_one_row_and_a_growing_scale():
    # a first batch of one row (no spread) fits as Gaussian experts' does;
    # the ceiling follows the y seen (it kept the first batch's: squared
    # scales stuck at 0.77 under y of sd 1000)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((2000, 1))
    y = 1000 * rng.standard_normal(2000)
    reg = MoERegressor(n_experts=2, noise="student_t", solver="sgd", random_state=0)
    reg.partial_fit(X[:1], y[:1])
    small = MoERegressor(n_experts=2, noise="student_t", solver="sgd", random_state=0)
    small.partial_fit(X[:5], 1e-3 * y[:5])
    for start in range(5, 2000, 200):
        reg.partial_fit(X[start : start + 200], y[start : start + 200])
        small.partial_fit(X[start : start + 200], y[start : start + 200])
    for model in (reg, small):
        assert np.all(np.isfinite(model.predict(X)))
        assert model.expert_variance_.max() > 1e5


def test_warm_auto_df_counts_the_df_only_where_it_was_chosen():
    X, y, _, _ = _regimes(n=200, seed=18)
    fixed = MoERegressor(n_experts=2, noise="student_t", random_state=0).fit(X, y)
    bic = fixed.bic(X, y)
    # df="auto" set after the fit is ignored, and says so (QA: no word)
    with pytest.warns(SkmoeWarning, match="ignores df='auto'"):
        fixed.set_params(df="auto", warm_start=True).fit(X, y)
    assert fixed.df_ == 4.0
    np.testing.assert_allclose(fixed.bic(X, y), bic, rtol=1e-6)
    # a df that df="auto" chose is kept without a word, as documented
    chosen = MoERegressor(2, noise="student_t", df="auto", random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chosen.set_params(warm_start=True).fit(X, y)


@pytest.mark.parametrize("big", [1e8, 1e24])
@pytest.mark.parametrize("solver", ["em", "gradient", "sgd"])
def test_every_solver_passes_over_one_gross_outlier(solver, big):
    # the start reweighs before the solver runs: from the least squares'
    # lines alone (intercept 1e5, squared scale 1e13) Adam stayed there; a
    # fixed 20 reweighings left it at slopes of hundreds beside 1e24
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (1000, 1))
    clean = 2 * X[:, 0] + 1 + 0.3 * rng.standard_normal(1000)
    y = clean.copy()
    y[0] = big
    line = LinearRegression().fit(X[1:], clean[1:])
    for n_experts in (1, 2):
        reg = MoERegressor(
            n_experts=n_experts, noise="student_t", solver=solver, random_state=0
        ).fit(X, y)
        assert reg.score(X, clean) > line.score(X, clean) - 1e-3


def test_nearly_equal_targets_keep_a_sensible_floor():
    # 60% of the targets at 0 within 1e-12: their median absolute deviation
    # (4.6e-34 as a floor) let an expert fit the spike at 15 nats a sample
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 2))
    spike = rng.rand(300) < 0.6
    y = np.where(spike, 1e-12 * rng.standard_normal(300), X[:, 0] + rng.randn(300))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the spike collapses an expert
        reg = MoERegressor(n_experts=2, noise="student_t", random_state=0).fit(X, y)
    assert reg.expert_variance_.min() > 1e-13
    assert reg.log_likelihood_ / len(y) < 8


def test_std_errors_are_of_the_fitted_parameters_only():
    X, y, _, _ = _regimes(n=300, seed=19)
    reg = MoERegressor(n_experts=2, noise="student_t", df="auto", random_state=0)
    se = reg.fit(X, y).std_errors(X, y)
    assert set(se) == {
        "gate_intercept_",
        "gate_coef_",
        "expert_intercept_",
        "expert_coef_",
        "expert_variance_",
    }


def test_df_refuses_a_bool():
    from sklearn.utils._param_validation import InvalidParameterError

    X, y, _, _ = _regimes(n=50)
    with pytest.raises(InvalidParameterError, match="'df' parameter .* not a bool"):
        MoERegressor(noise="student_t", df=True).fit(X, y)


def test_verbose_names_each_df_and_the_choice(capsys):
    X, y, _, _ = _regimes(n=200, outliers=0.1, seed=20)
    reg = MoERegressor(
        n_experts=2, noise="student_t", df="auto", n_init=1, verbose=1, random_state=0
    ).fit(X, y)
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.endswith(":")] == [
        "df=1:",
        "df=2:",
        "df=4:",
        "df=8:",
        "df=16:",
        "df=32:",
    ]
    assert out.endswith(f"chose df={reg.df_:g} (lowest training BIC)\n")


def test_student_t_fit_of_y_near_the_square_root_limit_is_quiet():
    # float32 y of +-6.3e18 (range 0.68 of the square root of the largest
    # float): coefficients and residuals whose squares overflowed (times a
    # mask or weight of 0: NaN) and df times a variance near the largest
    # float, with NumPy's warnings; the reference is the fit of y / 2**62
    # (exact), scaled back
    X = np.array(
        [
            [-0.9447516, -0.09826997],
            [0.09548303, 0.035586238],
            [-0.5062917, 0.5937481],
            [0.8911669, 0.32084832],
            [-0.8182302, 0.73165226],
        ],
        np.float32,
    )
    y = np.array([1, 1, -1, -1, -1], np.float32) * np.float32(6.3007904e18)
    kw = dict(noise="student_t", df=4.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", SkmoeWarning)  # (5 rows, K=2)
        model = MoERegressor(2, **kw).fit(X, y)
        unit = MoERegressor(2, **kw).fit(X, y / np.float32(2.0**62))
    assert np.all(np.isfinite(model.expert_variance_))
    np.testing.assert_allclose(
        model.predict(X), unit.predict(X) * 2.0**62, rtol=1e-4, atol=1e-4 * 2.0**62
    )


def test_student_t_precision_weights_beyond_the_square_root_limit():
    # at residual_scale's scale, a residual of 2e19 (its square overflows
    # float32) from a line of noise sd 1e19 has the weight (df + 1) / (df +
    # u^2), u = 2: it was 0 (inf / s2)
    from skmoe.experts.gaussian import residual_scale

    scale = residual_scale(np.float32, 1e19)
    experts = StudentTLinearExperts(1e20, 4.0, scale=scale)
    design = np.array([[1.0, 1.0], [0.0, 1.0]], np.float32)
    Y = np.array([0.0, 2e19], np.float32)
    params = {
        "coef": np.zeros((2, 1), np.float32),
        "variance": np.array([1e38], np.float32),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        weights, _ = experts._precision_weights(np, design, Y, params)
    u2 = np.array([0.0, 2e19]) ** 2 / 1e38
    np.testing.assert_allclose(weights[0], 5.0 / (4.0 + u2), rtol=1e-6)


def test_student_t_fit_of_float64_y_near_the_limit_is_quiet():
    # y of +-1e153 (float64): the robust floor, a NumPy float, times
    # VARIANCE_RANGE overflowed with NumPy's warning in the experts'
    # constructor; the fit is that of y / 2**507 (exact), scaled back
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 1))
    y = np.where(X[:, 0] > 0, 3 * X[:, 0], -X[:, 0]) + 0.5 * rng.normal(size=60)
    kw = dict(noise="student_t", df=5.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MoERegressor(2, **kw).fit(X, y * 2.0**507)
    unit = MoERegressor(2, **kw).fit(X, y)
    np.testing.assert_allclose(
        model.expert_coef_, unit.expert_coef_ * 2.0**507, rtol=1e-12
    )
    np.testing.assert_allclose(
        model.expert_variance_, unit.expert_variance_ * 4.0**507, rtol=1e-12
    )


def test_heavy_tails_leave_the_k_means_start_to_the_regimes():
    # two lines with t(1.5) noise: a few far targets set y's standard
    # deviation, and k-means of [X, y] split them off (999 rows against 1);
    # every start ended 265 nats below the fit from the true labels. k-means
    # of y clipped to its 10% and 90% quantiles reaches that fit's optimum.
    rng = np.random.RandomState(74)
    x = rng.uniform(-2, 2, 1000)
    z = (rng.rand(1000) < special.expit(0.4 + 2.5 * x)).astype(int)
    noise = np.where(z == 1, 0.7, 0.5) * rng.standard_t(1.5, 1000)
    y = np.where(z == 1, -2 - x, 2 + x) + noise
    X = x[:, None]
    kw = dict(n_experts=2, noise="student_t", df=1.5, tol=1e-10, random_state=0)
    truth = MoERegressor(n_init=1, **kw).fit(X, y, init_responsibilities=z)
    reg = MoERegressor(**kw).fit(X, y)
    assert abs(reg.log_likelihood_ - truth.log_likelihood_) < 1e-6


def test_start_target_is_y_clipped_to_its_weighted_quantiles():
    # against NumPy's quantiles of the rows repeated by their integer weights
    # (rows of weight 0 left out): weights are repeated rows to the start
    rng = np.random.RandomState(0)
    y = rng.standard_t(1, 301)
    y[:3] = [1e6, -1e6, 1e9]
    weight = rng.randint(0, 4, 301).astype(float)
    experts = StudentTLinearExperts(1e-10, df=1.0)
    for w, rows in [(weight, np.repeat(y, weight.astype(int))), (None, y)]:
        low, high = np.quantile(rows, [0.1, 0.9], method="inverted_cdf")
        np.testing.assert_array_equal(experts.start_target(y, w), np.clip(y, low, high))
    # most rows tied: nothing to clip by, y itself
    tied = np.r_[np.zeros(10), 50.0]
    np.testing.assert_array_equal(experts.start_target(tied), tied)


def test_k_means_start_of_a_weighted_fit_clips_y_to_its_weighted_quantiles(
    monkeypatch,
):
    # fit's k-means start sees y clipped to the quantiles of the rows
    # repeated by their integer weights (rows of weight 0 left out), not to
    # the unweighted quantiles
    import skmoe._restarts as restarts

    targets = []
    original = restarts.initial_responsibilities

    def spy(X, target, *args, **kwargs):
        targets.append(np.array(target, copy=True))
        return original(X, target, *args, **kwargs)

    monkeypatch.setattr(restarts, "initial_responsibilities", spy)
    rng = np.random.RandomState(3)
    X = rng.uniform(-2, 2, (300, 1))
    y = X[:, 0] + rng.standard_t(1.5, 300)
    weight = rng.randint(0, 4, 300) * np.where(y > np.median(y), 3, 1)
    model = MoERegressor(2, noise="student_t", df=1.5, n_init=1, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, sample_weight=weight)
    low, high = np.quantile(np.repeat(y, weight), [0.1, 0.9], method="inverted_cdf")
    unweighted = np.quantile(y, [0.1, 0.9], method="inverted_cdf")
    assert not np.allclose([low, high], unweighted)  # (the case)
    kept = weight > 0  # (fit leaves the rows of weight 0 out)
    assert len(targets) == 1
    np.testing.assert_array_equal(targets[0], np.clip(y[kept], low, high))


def test_random_starts_do_not_compute_the_clipped_target(monkeypatch):
    # a random start draws labels alone, but each one (and a stream's first
    # batch) computed the target's weighted 10% and 90% quantiles first
    X, y, _, _ = _regimes(n=200, seed=17)
    calls = []
    target = StudentTLinearExperts.start_target
    monkeypatch.setattr(
        StudentTLinearExperts,
        "start_target",
        lambda *a, **k: calls.append(1) or target(*a, **k),
    )
    params = dict(n_experts=2, noise="student_t", max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MoERegressor(init_params="random", n_init=2, **params).fit(X, y)
        assert calls == []
        MoERegressor(init_params="mixed", n_init=3, **params).fit(X, y)
        assert calls == [1]  # the k-means start's
    calls.clear()
    MoERegressor(solver="sgd", n_experts=2, noise="student_t").partial_fit(X, y)
    assert calls == []


def test_huge_df_on_a_wide_target_keeps_the_residuals():
    # df=1e300 on y of sd 1e5: df times the squared scale overflowed, the
    # residuals dropped out of the likelihood (both experts took one line's
    # slope, log_likelihood_ 200 nats above the model's own). A t of df 1e300
    # is the normal to within 1e-290: the fit is the Gaussian one, and its
    # log-likelihood is the normal mixture's, written with scipy.stats
    X, y, _, _ = _regimes(n=400, seed=4)
    y = y * 1e5
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        t_reg = MoERegressor(n_experts=2, noise="student_t", df=1e300, random_state=0)
        t_reg.fit(X, y)
    gauss = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    order_t = np.argsort(t_reg.expert_coef_[:, 0])
    order_g = np.argsort(gauss.expert_coef_[:, 0])
    np.testing.assert_allclose(
        t_reg.expert_coef_[order_t], gauss.expert_coef_[order_g], rtol=1e-5
    )
    means = t_reg.expert_intercept_ + X @ t_reg.expert_coef_.T  # (n, K)
    log_density = stats.norm.logpdf(
        y[:, None], loc=means, scale=np.sqrt(t_reg.expert_variance_)
    )
    log_gate = np.log(t_reg.predict_gate(X))
    expected = special.logsumexp(log_density + log_gate, axis=1).sum()
    np.testing.assert_allclose(t_reg.log_likelihood_, expected, rtol=1e-9)


def test_log_norm_of_a_df_beyond_pi_times_the_largest_float_is_quiet():
    # the exact branch, not kept from df = 100, overflowed at df = 1e308
    # (pi df) and NumPy warned; the series gives -log(2 pi) / 2
    from skmoe._distribution import _t_log_norm

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = _t_log_norm(np.float64(1e308))
    np.testing.assert_allclose(got, -0.5 * np.log(2 * np.pi), rtol=1e-15)


@pytest.mark.parametrize("df", [1.0, 2.0])
def test_a_spike_that_outweighs_df_times_the_rest_is_a_collapse(df):
    # 180 zeros among 300 rows beside a line: along the line y = 0 the t
    # log-likelihood is 180 (-log s) + 120 df log s + O(1) as s -> 0 (scipy,
    # below), unbounded at df = 1 (180 > 120) and not at df = 2 (180 < 240).
    # At df = 1 the expert sat at the floor without a word: its plain
    # residuals' mean square, the others' far out in its tails, hid it
    from skmoe.exceptions import DegenerateFitWarning

    rng = np.random.RandomState(1)
    n, n_zero = 300, 180
    X = rng.randn(n, 2)
    y = 3 + X @ [1.0, -1.0] + rng.randn(n)
    y[rng.permutation(n)[:n_zero]] = 0.0
    scales = np.array([1e-2, 1e-4, 1e-6])
    on_zero_line = [stats.t.logpdf(y, df, scale=s).sum() for s in scales]
    unbounded = bool(np.all(np.diff(on_zero_line) > 0))
    assert unbounded == (n_zero > df * (n - n_zero))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = MoERegressor(n_experts=1, noise="student_t", df=df, random_state=0)
        reg.fit(X, y)
    degenerate = [w for w in caught if issubclass(w.category, DegenerateFitWarning)]
    assert bool(degenerate) == unbounded
    if unbounded:
        assert "no maximum" in str(degenerate[0].message)
        assert reg.expert_variance_[0] < 1e-8
    else:
        assert reg.expert_variance_[0] > 0.1


def test_auto_df_passes_over_a_single_expert_on_a_spike():
    # one expert, 180 zeros among 300 rows: at df 1 the t likelihood along
    # y = 0 has no maximum (180 > 120, as above), and its fit at the floor had
    # the lowest BIC by 900; df="auto" chose it (R^2 -0.47) without a word
    rng = np.random.RandomState(1)
    n, n_zero = 300, 180
    X = rng.randn(n, 2)
    y = 3 + X @ [1.0, -1.0] + rng.randn(n)
    y[rng.permutation(n)[:n_zero]] = 0.0
    grid = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    bounded = np.array([n_zero <= df * (n - n_zero) for df in grid])
    assert bounded.tolist() == [False] + [True] * 5
    params = dict(n_experts=1, noise="student_t", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # df 1's collapse warning
        fits = [MoERegressor(df=df, **params).fit(X, y) for df in grid]
    bics = np.array([f.bic(X, y) + np.log(n) for f in fits])  # df counted
    assert np.argmin(bics) == 0  # the spike's
    auto = MoERegressor(df="auto", **params).fit(X, y)
    expected = np.where(bounded, bics, np.inf)
    np.testing.assert_allclose(auto.df_bic_, expected, rtol=1e-10)
    assert auto.df_ == grid[int(np.argmin(expected))]
    assert auto.expert_variance_[0] > 0.1


@pytest.mark.parametrize("df", [0.5, 1.0])
def test_an_expert_on_copies_of_a_few_points_is_a_collapse_at_any_df(df):
    # 4 points copied 15 times beside a noisy regime: one expert's plane runs
    # exactly through 3 of them (45 rows); along it the t log-likelihood of
    # the 60 copies is 45 (-log s) + 15 df log s + O(1) (scipy, below), with
    # no maximum. The collapse check weighed each value on the plane by its
    # precision weight, (df + 1) / df: 3 at df = 0.5, 4 values counted 12 of
    # 8 allowed (2 x 3 coefficients and a scale), and only "held up by the
    # floor" was said, where df = 1 said "collapsed"
    from skmoe.exceptions import DegenerateFitWarning

    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    y = 1 + X @ [1.0, -1.0] + rng.randn(200)
    points, values = 3 * rng.randn(4, 2), 10 + rng.randn(4)
    X = np.vstack([X, np.repeat(points, 15, axis=0)])
    y = np.concatenate([y, np.repeat(values, 15)])
    # the plane through the first three points, in closed form
    design = np.column_stack([np.ones(4), points])
    plane = np.linalg.solve(design[:3], values[:3])
    resid = np.repeat(values - design @ plane, 15)
    scales = np.array([1e-2, 1e-4, 1e-6])
    along = [stats.t.logpdf(resid, df, scale=s).sum() for s in scales]
    assert np.all(np.diff(along) > 0)  # unbounded: 45 > 15 df
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = MoERegressor(n_experts=2, noise="student_t", df=df, random_state=0)
        reg.fit(X, y)
    k = int(np.argmin(reg.expert_variance_))
    means = reg.expert_intercept_[k] + points @ reg.expert_coef_[k]
    # the collapsed expert passes through three of the four points
    assert np.sum(np.abs(means - values) < 1e-3) >= 3
    degenerate = [w for w in caught if issubclass(w.category, DegenerateFitWarning)]
    assert any(
        f"Experts [{k}] of the kept run collapsed" in str(w.message) for w in degenerate
    )


@pytest.mark.parametrize("precision", [1.5, 3.0])
def test_few_distinct_counts_a_value_at_most_once_whatever_its_precision(precision):
    # one expert close to its floor takes all of 60 rows, 15 copies of each
    # of 4 values: 4 distinct values, fewer than the 2 x 3 allowed for 3
    # parameters, however far above 1 the rows' precision weights are (up to
    # (df + 1) / df: 3 at df = 0.5): a row counts its responsibility at most
    from skmoe.experts.gaussian import few_distinct

    y = np.repeat([0.0, 1.0, 2.5, 7.0], 15)
    resp = np.ones((1, 60))
    for scale in (1.0, precision):
        weights = np.full((1, 60), scale)
        few = few_distinct(y, resp, np.array([True]), [1e-3], 3, precision=weights)
        assert few.tolist() == [True]
    # 3 values per parameter's pair are not few
    assert not few_distinct(y, resp, np.array([True]), [1e-3], 2, precision=weights)[0]


def _incomplete_beta(a, x):
    """``I_x(a, 1/2)`` in mpmath, from its series (DLMF 8.17.8): ``x^a (1 -
    x)^(1/2) / (a B(a, 1/2)) sum_n (a + 1/2)_n / (a + 1)_n x^n``, to the
    working precision (mpmath's betainc took 10 s at a = 15000, x = 0.86)."""
    a, b = mpmath.mpf(a), mpmath.mpf(1) / 2
    term = total = mpmath.mpf(1)
    n = 0
    while term > mpmath.eps * total:
        term *= (a + b + n) / (a + 1 + n) * x
        total += term
        n += 1
    return x**a * (1 - x) ** b / (a * mpmath.beta(a, b)) * total


@pytest.mark.parametrize("df", [300.0, 1e3, 1e4, 3e4])
@pytest.mark.parametrize("q", [1e-312, 1e-315, 1e-320])
def test_quantiles_and_cdf_where_stdtr_underflows(df, q):
    # scipy's stdtr gives 0 where the t tail is still a subnormal float (df
    # 300: below 5.2e-311, z = -184): quantiles of q below that stopped there
    # (-179.06 for 0.3 t(2, 0.5) + 0.7 t(5, 1) at q = 1e-315 and 1e-320,
    # whose cdf is 5.2e-311), and cdf gave 0. Expected: the incomplete beta,
    # P(T <= z) = I_x(df / 2, 1 / 2) / 2 at x = df / (df + z^2), in mpmath
    weights, means, scales = [0.3, 0.7], [2.0, 5.0], [0.5, 1.0]
    dist = PredictiveStudentTMixture([weights], [means], [scales], df=df)

    def cdf(y):
        with mpmath.workdps(40):
            total = mpmath.mpf(0)
            for w, m, s in zip(weights, means, scales, strict=True):
                z = (mpmath.mpf(y) - m) / s
                total += w * _incomplete_beta(df / 2, df / (df + z**2)) / 2
            return float(total)

    y = dist.ppf(q)[0]
    # (subnormal q keep fewer digits: within 4 of their spacings)
    assert cdf(y) == pytest.approx(q, rel=1e-11, abs=4 * 5e-324)
    assert dist.cdf(y)[0] == pytest.approx(cdf(y), rel=1e-11, abs=4 * 5e-324)
    # (the case: stdtr's 0 at the quantile; SciPy 1.15 and 1.16 keep the
    # subnormal tail at df 300 and 1000, 1.43e-312 at q = 1e-312, and lose it
    # from df 1e4; the quantile and cdf are held to mpmath's above either way)
    tail = special.stdtr(df, (y - 5.0) / 1.0)
    assert tail == 0 or (df < 1e4 and _SCIPY < (1, 17))


@pytest.mark.parametrize("df", [1e5, 3e5])
@pytest.mark.parametrize("q", [1e-308, 1e-309, 1e-310])
def test_quantiles_keep_stdtr_where_its_subnormal_tail_is_not_lost(df, q):
    # below the normal floats but above stdtr's underflow (1.6e-311 for a large
    # df), stdtr's tails keep their digits; the hypergeometric series of the
    # tails it loses is less exact for a large df (3.5e-11 of q at df 1e5,
    # 2.8e-10 at 3e5), so it must not replace them. Expected: mpmath's
    # incomplete beta, P(T <= z) = I_x(df / 2, 1 / 2) / 2 at x = df / (df + z^2)
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df=df)
    z = dist.ppf(q)[0]
    with mpmath.workdps(40):
        x = df / (df + mpmath.mpf(z) ** 2)
        half = mpmath.mpf(1) / 2
        cdf = float(half * mpmath.betainc(df / 2, half, 0, x, regularized=True))
    assert cdf == pytest.approx(q, rel=2e-12, abs=0)
