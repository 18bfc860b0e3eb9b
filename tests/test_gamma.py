"""MoEGammaRegressor: mixtures of Gamma regressions (log link)."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from _exact import mixture_logs
from _references import (
    assert_lone_expert_stream_judges_scales_as_fit,
    central_hessian,
    counted_work_arrays,
    fit_penalized,
    traced_peak,
)
from scipy import integrate, optimize, special, stats
from sklearn.linear_model import GammaRegressor, Ridge
from sklearn.metrics import d2_tweedie_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import (
    MoEGammaRegressor,
    MoEPoissonRegressor,
    PredictiveGammaMixture,
    bootstrap_lrt,
)
from skmoe._gamma import (
    _amount_moments,
    _centred,
    _combine,
    _dispersion_floor,
    _gamma_d2,
)
from skmoe.exceptions import FeatureScaleWarning
from skmoe.experts.gamma import GammaExperts, excess, fit_shape, shape_terms


def _mpmath_gamma_quantile(parts, q, low, high, steps):
    """The q-quantile of the Gamma mixture ``parts`` ((log weight, log mean,
    shape) triples) by ``steps`` bisections in log y of mpmath's cdf, from
    ``low`` to ``high``, as a float."""
    import mpmath

    def cdf(log_y):
        return mpmath.fsum(
            mpmath.exp(g)
            * mpmath.gammainc(k, 0, k * mpmath.exp(log_y - v), regularized=True)
            for g, v, k in parts
        )

    low, high = mpmath.mpf(low), mpmath.mpf(high)
    for _ in range(steps):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < q else (low, middle)
    return float(mpmath.exp((low + high) / 2))


def two_regimes(n=600, shape=20.0, seed=0):
    """Two log-linear regimes split at x0 = 0, plus a common slope on x1."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    log_mean = np.where(X[:, 0] < 0, 1 - X[:, 0], 1 + X[:, 0] / 2) + 0.3 * X[:, 1]
    y = rng.gamma(shape=shape, scale=np.exp(log_mean) / shape)
    return X, y


def gamma_logpdf(y, mean, shape):
    """scipy's Gamma log-density at a mean and a shape."""
    return stats.gamma.logpdf(y, shape, scale=mean / shape)


def mixture_loglik(X, y, gate_logits, coef, intercept, dispersion, weight=None):
    """The mixture's total log-likelihood, written with scipy.stats."""
    log_gate = gate_logits - special.logsumexp(gate_logits, axis=1, keepdims=True)
    means = np.exp(X @ coef.T + intercept)
    dens = gamma_logpdf(y[:, None], means, 1 / dispersion)
    per_sample = special.logsumexp(log_gate + dens, axis=1)
    return np.sum(per_sample if weight is None else weight * per_sample)


# -- one expert: scikit-learn's and scipy's fits ----------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_one_expert_is_sklearn_gamma_regressor(alpha):
    X, y = two_regimes()
    rng = np.random.RandomState(1)
    weight = rng.uniform(0.5, 2, size=y.shape)
    ours = MoEGammaRegressor(n_experts=1, alpha=alpha, tol=1e-12).fit(
        X, y, sample_weight=weight
    )
    theirs = GammaRegressor(alpha=alpha, tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=weight
    )
    np.testing.assert_allclose(ours.expert_coef_[0], theirs.coef_, rtol=1e-7)
    np.testing.assert_allclose(ours.expert_intercept_[0], theirs.intercept_, rtol=1e-8)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)
    np.testing.assert_allclose(ours.score(X, y), theirs.score(X, y), rtol=1e-7)


@pytest.mark.parametrize("warm", [False, True])
def test_penalized_fit_is_the_penalized_optimum(warm):
    # alpha > 0: the mean weighted log-likelihood less (alpha / 2) ||b||^2 /
    # phi (docs: the penalty is per unit of the shape; intercept free),
    # written out with scipy.stats and maximized by BFGS in (intercept,
    # slopes, log phi), the dispersion with the penalty's share. A warm start
    # from the alpha=0 fit, as along a path of alphas, shrinks the slopes
    rng = np.random.RandomState(3)
    X = rng.randn(500, 2)
    weight = rng.uniform(0.5, 2, 500)
    y = rng.gamma(2.5, np.exp(0.7 + X @ [0.5, -0.4]) / 2.5)
    alpha = 0.3
    model = MoEGammaRegressor(n_experts=1, alpha=alpha, tol=1e-12)
    fit_penalized(model, X, y, warm, sample_weight=weight)

    def objective(t):  # (intercept, slopes, log phi)
        phi = np.exp(t[3])
        fit = weight @ gamma_logpdf(y, np.exp(t[0] + X @ t[1:3]), 1 / phi)
        return fit / np.sum(weight) - alpha / 2 * np.sum(t[1:3] ** 2) / phi

    best = optimize.minimize(
        lambda t: -objective(t), np.zeros(4), method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(model.expert_intercept_, best.x[:1], atol=1e-6)
    np.testing.assert_allclose(model.expert_coef_[0], best.x[1:3], atol=1e-6)
    np.testing.assert_allclose(model.expert_dispersion_, np.exp(best.x[3:]), rtol=1e-6)
    fitted = np.r_[
        model.expert_intercept_, model.expert_coef_[0], np.log(model.expert_dispersion_)
    ]
    np.testing.assert_allclose(
        model.objective_history_[-1], objective(fitted), rtol=1e-12
    )
    np.testing.assert_allclose(model.objective_history_[-1], -best.fun, rtol=1e-10)
    # the penalty matters here, and its division by phi
    penalty = alpha / 2 * np.sum(best.x[1:3] ** 2)
    assert penalty / np.exp(best.x[3]) - penalty > 0.02


def test_one_expert_shape_is_scipy_maximum_likelihood():
    rng = np.random.RandomState(0)
    y = rng.gamma(3.0, 2.0, size=2000)
    X = np.zeros((y.size, 1))
    reg = MoEGammaRegressor(n_experts=1, alpha=0.0, tol=1e-12).fit(X, y)
    a, _, scale = stats.gamma.fit(y, floc=0)
    np.testing.assert_allclose(1 / reg.expert_dispersion_[0], a, rtol=1e-7)
    np.testing.assert_allclose(np.exp(reg.expert_intercept_[0]), a * scale, rtol=1e-7)
    np.testing.assert_allclose(
        reg.log_likelihood_samples(X, y),
        stats.gamma.logpdf(y, a, scale=scale),
        rtol=1e-7,
    )


def test_log_likelihood_is_scipys_gamma_density():
    X, y = two_regimes(n=300)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    gate = reg.predict_gate(X)
    expected = special.logsumexp(
        np.log(gate)
        + gamma_logpdf(
            y[:, None],
            np.exp(X @ reg.expert_coef_.T + reg.expert_intercept_),
            1 / reg.expert_dispersion_,
        ),
        axis=1,
    )
    np.testing.assert_allclose(reg.log_likelihood_samples(X, y), expected, rtol=1e-10)


# -- the mixture ------------------------------------------------------------------


def test_recovers_two_regimes():
    X, y = two_regimes(n=2000)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    order = np.argsort(reg.expert_coef_[:, 0])
    np.testing.assert_allclose(reg.expert_coef_[order, 0], [-1.0, 0.5], atol=0.06)
    np.testing.assert_allclose(reg.expert_coef_[:, 1], 0.3, atol=0.03)
    np.testing.assert_allclose(reg.expert_intercept_, 1.0, atol=0.06)
    np.testing.assert_allclose(1 / reg.expert_dispersion_, 20.0, rtol=0.15)
    # the gate splits at x0 = 0
    gate = reg.predict_gate(np.array([[-1.0, 0.0], [1.0, 0.0]]))[:, order]
    assert gate[0, 0] > 0.95 and gate[1, 1] > 0.95


def test_auto_chooses_two_regimes_and_one_for_a_single_law():
    X, y = two_regimes(n=800)
    assert MoEGammaRegressor(n_init=2, random_state=0).fit(X, y).n_experts_ == 2
    rng = np.random.RandomState(0)
    single = rng.gamma(5.0, np.exp(0.5 * X[:, 0]) / 5.0)
    reg = MoEGammaRegressor(n_init=2, random_state=0).fit(X, single)
    assert reg.n_experts_ == 1


@pytest.mark.parametrize("gate", ["softmax", "constant"])
def test_em_optimum_is_a_maximum_of_scipys_likelihood(gate):
    # BFGS on the likelihood written with scipy.stats, started at EM's
    # optimum, finds nothing better
    X, y = two_regimes(n=300, shape=8.0)
    reg = MoEGammaRegressor(
        n_experts=2, gate=gate, alpha=0.0, tol=1e-12, max_iter=5000, random_state=0
    ).fit(X, y)
    K, d = reg.expert_coef_.shape

    def unpack(theta):
        coef = theta[: K * d].reshape(K, d)
        intercept = theta[K * d : K * d + K]
        dispersion = np.exp(theta[K * d + K : K * d + 2 * K])
        g = theta[K * d + 2 * K :]
        if gate == "constant":
            logits = np.broadcast_to(np.r_[0.0, g], (len(y), K))
        else:
            gc = g.reshape(d + 1, K - 1)
            logits = np.c_[np.zeros(len(y)), X @ gc[1:] + gc[0]]
        return logits, coef, intercept, dispersion

    def negative(theta):
        return -mixture_loglik(X, y, *unpack(theta))

    if gate == "constant":
        g0 = [reg.gate_intercept_[1] - reg.gate_intercept_[0]]
    else:
        g0 = np.r_[
            reg.gate_intercept_[1] - reg.gate_intercept_[0],
            reg.gate_coef_[1] - reg.gate_coef_[0],
        ]
    theta0 = np.r_[
        reg.expert_coef_.ravel(),
        reg.expert_intercept_,
        np.log(reg.expert_dispersion_),
        g0,
    ]
    start = negative(theta0)
    np.testing.assert_allclose(-start, reg.log_likelihood_samples(X, y).sum())
    best = optimize.minimize(negative, theta0, method="BFGS", options={"gtol": 1e-8})
    assert best.fun > start - 1e-6


def test_em_never_lowers_the_objective():
    X, y = two_regimes(n=400, shape=4.0)
    for seed in range(3):
        reg = MoEGammaRegressor(n_experts=3, n_init=1, random_state=seed).fit(X, y)
        steps = np.diff(reg.objective_history_)
        assert np.all(steps > -1e-10)


def test_family_gradient_matches_finite_differences():
    X, y = two_regimes(n=200, shape=3.0)
    design = np.vstack([np.ones(len(y)), X.T])
    Y = np.stack([y, np.log(y)])
    rng = np.random.RandomState(0)
    resp = rng.dirichlet(np.ones(2), size=len(y)).T / len(y)
    family = GammaExperts(1e-10)
    params = {
        "coef": rng.normal(scale=0.3, size=(3, 2)),
        "dispersion": np.array([0.4, 1.7]),
    }
    alpha = 0.2

    def objective(p):
        ll = family.log_likelihood(np, design, Y, p)
        return np.sum(resp * ll) - family.penalty(np, p, alpha)

    grad = family.gradient(np, design, Y, resp, params, alpha)
    for name in ("coef", "dispersion"):
        numeric = np.zeros_like(params[name])
        for index in np.ndindex(params[name].shape):
            step = 1e-6
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][index] += step
            down[name][index] -= step
            numeric[index] = (objective(up) - objective(down)) / (2 * step)
        np.testing.assert_allclose(grad[name], numeric, rtol=1e-6, atol=1e-9)


def test_dispersion_gradient_of_a_huge_shape():
    # log(nu) - digamma(nu), about 1 / (2 nu), written out loses its digits
    # to the logs of size 28 at nu = 1e12 (1% off): by its series here. With
    # every mean equal to its amount the excesses are 0, and the dispersion's
    # gradient is -nu^2 (weight) (log(nu) - digamma(nu)).
    y = np.full(50, 3.0)
    design = np.ones((1, 50))
    Y = np.stack([y, np.log(y)])
    resp = np.full((2, 50), 0.5 / 50)
    nu = np.array([1e12, 1e9])
    params = {"coef": np.full((1, 2), np.log(3.0)), "dispersion": 1 / nu}
    grad = GammaExperts(1e-13).gradient(np, design, Y, resp, params, 0.1)
    gap = 1 / (2 * nu) + 1 / (12 * nu**2)
    np.testing.assert_allclose(grad["dispersion"], -(nu**2) * 0.5 * gap, rtol=1e-10)


def test_the_start_clusters_the_log_amounts():
    # k-means sees log(y), the scale of the log link: on y itself the largest
    # amounts would draw every cluster (amounts over four decades here)
    rng = np.random.default_rng(0)
    y = np.exp(rng.uniform(-2.0, 7.0, 50))
    Y = np.stack([y, np.log(y)])
    start = GammaExperts(1e-10).start_target(Y)
    np.testing.assert_allclose(start, np.log(y), rtol=1e-12, atol=1e-12)


def test_shape_equation_and_terms():
    # fit_shape solves log(nu) - digamma(nu) = D; shape_terms is the density's
    nu = np.array([1e-4, 1e-3, 0.1, 1.0, 7.5, 300.0])
    D = np.log(nu) - special.digamma(nu)
    np.testing.assert_allclose(fit_shape(D), nu, rtol=1e-12)
    # for large shapes D from its asymptotic series, 1 / (2 nu) + 1 / (12 nu^2)
    # - ...: log(nu) - digamma(nu) written out cancels (4% off at D = 1e-14)
    big = np.array([1e4, 1e7, 1e10, 1e14, 1e15])
    D = 1 / (2 * big) + 1 / (12 * big**2) - 1 / (120 * big**4)
    np.testing.assert_allclose(fit_shape(D), big, rtol=1e-12)
    # beyond the range an expert's shape may take: finite, or inf at D = 0
    assert np.all(np.isfinite(fit_shape(np.array([1e300, np.inf]))))
    assert fit_shape(np.array([0.0]))[0] == np.inf
    # at y = mu = 1 the log-density is the shape's terms alone
    small = nu[:5]
    expected = stats.gamma.logpdf(1.0, small, scale=1 / small)
    np.testing.assert_allclose(shape_terms(small), expected, rtol=1e-12)
    # and about log(nu / (2 pi)) / 2 - 1 / (12 nu) for a large one
    large = np.array([1e4, 1e7, 1e12])
    stirling = 0.5 * np.log(large / (2 * np.pi)) - 1 / (12 * large)
    np.testing.assert_allclose(shape_terms(large), stirling, rtol=1e-13)
    # both forms agree where they meet
    np.testing.assert_allclose(
        shape_terms(np.nextafter(10.0, 0)), shape_terms(10.0), rtol=1e-11
    )
    d = np.array([-800.0, -3.0, -1e-9, 0.0, 1e-9, 2.0, 690.0, 800.0])
    value, ratio = excess(np, d)
    assert np.all(np.isfinite(value)) and np.all(value >= 0)
    np.testing.assert_allclose(value[:7], np.expm1(d[:7]) - d[:7], rtol=1e-12)


def test_solvers_reach_em_likelihood():
    X, y = two_regimes(n=600)
    em = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    target = em.log_likelihood_samples(X, y).mean()
    lbfgs = MoEGammaRegressor(n_experts=2, solver="gradient", random_state=0)
    assert lbfgs.fit(X, y).log_likelihood_samples(X, y).mean() > target - 1e-3
    sgd = MoEGammaRegressor(
        n_experts=2, solver="sgd", learning_rate=0.05, max_iter=300, random_state=0
    )
    assert sgd.fit(X, y).log_likelihood_samples(X, y).mean() > target - 0.05


def test_partial_fit_learns_the_regimes():
    X, y = two_regimes(n=3000)
    reg = MoEGammaRegressor(
        n_experts=2, solver="sgd", learning_rate=0.05, random_state=0
    )
    for _ in range(30):
        for rows in np.array_split(np.arange(len(y)), 10):
            reg.partial_fit(X[rows], y[rows])
    em = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    assert reg.score(X, y) > em.score(X, y) - 0.02


def test_fit_after_a_few_row_partial_fit_forgets_its_pending_start():
    # the pending reset of the dispersions outlived fit: the next partial_fit
    # pooled the fitted shapes (2 and 29) into one (0.77 and 0.75)
    X, y = two_regimes(n=1000)
    rng = np.random.RandomState(1)
    y = np.where(X[:, 0] < 0, rng.gamma(2.0, y / 2.0), rng.gamma(30.0, y / 30.0))
    reg = MoEGammaRegressor(n_experts=2, solver="sgd", random_state=0)
    reg.partial_fit(X[:2], y[:2])
    reg.fit(X, y)
    fitted = np.sort(1 / reg.expert_dispersion_)
    reg.partial_fit(X[:100], y[:100])
    np.testing.assert_allclose(np.sort(1 / reg.expert_dispersion_), fitted, rtol=0.2)
    assert fitted[1] > 5 * fitted[0]


def test_a_start_after_a_first_batch_of_few_rows_is_the_gamma_fit_of_all_seen():
    # the moments of the batches combine (their log sums by logaddexp): the
    # dispersions are those of scipy's one-Gamma fit of every amount seen
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(203, 1))
    y = rng.gamma(5.0, np.exp(0.5 * X[:, 0]) / 5.0)
    model = MoEGammaRegressor(
        n_experts=2, solver="sgd", learning_rate=1e-12, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.partial_fit(X[:3], y[:3])
        model.partial_fit(X[3:], y[3:])
    shape, _, _ = stats.gamma.fit(y, floc=0)
    np.testing.assert_allclose(model.expert_dispersion_, 1 / shape, rtol=1e-4)


def test_the_dispersion_floor_is_relative_to_the_spread_of_log_y():
    # an expert that fits 6 amounts on an exact curve sits at the floor,
    # 1e-10 times the variance of log(y) (not of its mean square, which
    # depends on y's unit)
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 1))
    y = rng.gamma(5.0, np.exp(0.3 * X[:, 0]) / 5.0)
    X_curve = np.linspace(-1, 1, 6)[:, None]
    X = np.r_[X, X_curve]
    y = np.r_[y, np.exp(3.0 + 0.5 * X_curve[:, 0])]
    for unit in (1.0, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = MoEGammaRegressor(n_experts=2, alpha=0.0, random_state=0)
            model.fit(X, unit * y)
        np.testing.assert_allclose(
            np.min(model.expert_dispersion_), 1e-10 * np.var(np.log(y)), rtol=1e-6
        )


def test_float32_fits_of_a_constant_y_score_1():
    # the best float32 fits of a constant y predict it to float32's rounding
    # (1.5e-8 to 2.9e-6 of it): D^2 1 (it was 0, as for predictions 1e-7 off
    # in float64); predictions 1e-3 off still score 0
    X = np.random.RandomState(3).normal(size=(200, 1)).astype(np.float32)
    for value in (0.1, 7.3, 1e-20):
        y = np.full(200, value)
        for n_experts in (1, 2):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model = MoEGammaRegressor(n_experts=n_experts, random_state=0)
                model.fit(X, y)
            assert model.predict(X).dtype == np.float32
            assert model.score(X, y) == 1.0
            assert model.score(X, y * (1 + 1e-3)) == 0.0


def test_the_dispersion_floor_of_precise_amounts_does_not_depend_on_their_unit():
    # amounts of shape 1e12 (a coefficient of variation of 1e-6): log(y) has a
    # variance of 1e-12, whose raw moments at y near 1e5 or 1e300 cancelled
    # (called constant: a floor of 1e-10, 100 times their dispersion, which
    # held the fitted shape at 1e10)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 1))
    y = rng.gamma(1e12, 1e-12, size=500)
    spread = np.var(np.log(y))  # (two-pass, at the unit 1)
    # the sample's shape, log(nu) - digamma(nu) = 1 / (2 nu) to 1e-24 here
    shape = 0.5 / (np.log(np.mean(y)) - np.mean(np.log(y)))
    for unit in (1.0, 1e5, 1e300):
        model = MoEGammaRegressor(n_experts=1, alpha=0.0, random_state=0)
        model.fit(X, unit * y)
        np.testing.assert_allclose(model._dispersion_floor, 1e-10 * spread, rtol=1e-6)
        # (a little above the sample's: the slope takes a share)
        np.testing.assert_allclose(1 / model.expert_dispersion_, shape, rtol=1e-2)
        # partial_fit's batches combine to the same floor
        Y = np.stack([unit * y, np.log(unit * y)])
        a = _amount_moments(Y[:, :200], np.ones(200))
        b = _amount_moments(Y[:, 200:], np.ones(300))
        floor = _dispersion_floor(_combine(a, b))
        np.testing.assert_allclose(floor, 1e-10 * spread, rtol=1e-6)


def test_a_stream_pickled_with_raw_squares_continues_with_the_datas_floor():
    # streams pickled before the squares of log(y) were centred kept their raw
    # sum; added to centred ones, the floor became 1e-10 mean(log(y)^2)
    # (4.8e-6 at amounts near 1e300), not 1e-10 var(log(y))
    rng = np.random.RandomState(0)
    X = rng.normal(size=(800, 1))
    y = 1e300 * np.exp(0.5 * X[:, 0]) * rng.gamma(5.0, 0.2, size=800)
    batches = np.array_split(np.arange(800), 4)
    fresh = MoEGammaRegressor(n_experts=2, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for rows in batches[:2]:
            fresh.partial_fit(X[rows], y[rows])
    old = copy.deepcopy(fresh)  # as the earlier code kept it
    total, log_y_sum, log_sum, squares = old._amount_moments
    old._amount_moments = (
        total,
        log_y_sum,
        log_sum,
        squares + log_sum**2 / total,
    )
    vars(old).pop("_centred_squares", None)
    old = pickle.loads(pickle.dumps(old))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for rows in batches[2:]:
            fresh.partial_fit(X[rows], y[rows])
            old.partial_fit(X[rows], y[rows])
    spread = np.var(np.log(y))
    np.testing.assert_allclose(fresh._dispersion_floor, 1e-10 * spread, rtol=1e-9)
    np.testing.assert_allclose(old._dispersion_floor, 1e-10 * spread, rtol=1e-9)


def test_amounts_constant_to_1e_12_of_their_log_are_constant_in_any_unit():
    # constant where the spread of log(y) is within 1e-12 (1 + |mean log(y)|):
    # the floor is DISPERSION_FLOOR, 1e-10, whether log(y) is near 1 or -1
    noise = 1e-13 * np.random.RandomState(0).normal(size=50)
    for log_unit in (1.0, -1.0, 12.0, -12.0):
        log_y = log_unit + noise
        moments = _amount_moments(np.stack([np.exp(log_y), log_y]), np.ones(50))
        assert _dispersion_floor(moments) == 1e-10


def test_raw_squares_of_a_constant_batch_convert_to_no_spread():
    # raw moments of 7 amounts of 1e300 leave a sum of squares about the mean
    # of -9.3e-10 by rounding (it is 0); kept, a next batch of log-spread 1e-5
    # had its floor 86% low
    log_y = np.full(7, np.log(1e300))
    raw = (7.0, 0.0, float(np.sum(log_y)), float(np.sum(log_y**2)))
    assert raw[3] - raw[2] ** 2 / raw[0] < 0  # (what the rounding leaves)
    assert _centred(raw)[3] == 0.0
    amounts = 1e300 * np.exp(1e-5 * np.random.RandomState(0).normal(size=7))
    batch = _amount_moments(np.stack([amounts, np.log(amounts)]), np.ones(7))
    spread = np.var(np.concatenate([log_y, np.log(amounts)]))
    floor = _dispersion_floor(_combine(_centred(raw), batch))
    np.testing.assert_allclose(floor, 1e-10 * spread, rtol=1e-6)


@pytest.mark.parametrize("first", [1, 2])
def test_partial_fit_from_a_first_batch_of_few_rows(first):
    # the few rows' exact fit (shapes of 1e7) would hold the experts: they
    # start at the Gamma fit of all the amounts seen instead
    X, y = two_regimes(n=3000, shape=5.0)
    em = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    reg = MoEGammaRegressor(
        n_experts=2, solver="sgd", learning_rate=0.05, random_state=0
    )
    reg.partial_fit(X[:first], y[:first])
    for _ in range(8):
        for rows in np.array_split(np.arange(first, len(y)), 20):
            reg.partial_fit(X[rows], y[rows])
    # Adam's noise: 0.65 to 0.67 from a first batch of 150 rows (0.19 from
    # the few rows' exact fit), EM's 0.68
    assert reg.score(X, y) > em.score(X, y) - 0.04
    np.testing.assert_allclose(1 / reg.expert_dispersion_, 5.0, rtol=0.4)


def test_shared_features_share_a_coefficient_and_beat_no_sharing_in_bic():
    X, y = two_regimes(n=800)
    shared = MoEGammaRegressor(n_experts=2, shared_features=[1], random_state=0).fit(
        X, y
    )
    assert shared.expert_coef_[0, 1] == shared.expert_coef_[1, 1]
    np.testing.assert_allclose(shared.expert_coef_[:, 1], 0.3, atol=0.03)
    free = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    # one parameter fewer, nearly the same likelihood
    assert shared._n_parameters() == free._n_parameters() - 1
    assert shared.bic(X, y) < free.bic(X, y)


def test_shared_coefficient_is_the_mle_when_the_shapes_differ():
    # with shapes 2 and 50 each expert's equation for the shared coefficient
    # must be weighed by its shape (1 / dispersion); the derivative of the
    # likelihood written with scipy.stats along that coefficient is then 0
    rng = np.random.RandomState(0)
    n = 400
    X = rng.uniform(-2, 2, size=(n, 2))
    regime = rng.rand(n) < 0.5
    shape = np.where(regime, 2.0, 50.0)
    log_mean = np.where(regime, 1 - X[:, 0], 1 + 0.5 * X[:, 0]) + 0.3 * X[:, 1]
    y = rng.gamma(shape, np.exp(log_mean) / shape)
    reg = MoEGammaRegressor(
        n_experts=2,
        gate="constant",
        shared_features=[1],
        alpha=0.0,
        tol=1e-12,
        max_iter=5000,
        random_state=0,
    ).fit(X, y)
    assert reg.expert_coef_[0, 1] == reg.expert_coef_[1, 1]
    # the fit found the two shapes, so the weights differ
    assert np.ptp(1 / reg.expert_dispersion_) > 10

    def loglik(shared):
        coef = reg.expert_coef_.copy()
        coef[:, 1] = shared
        logits = np.log(reg.predict_gate(X))
        return mixture_loglik(
            X, y, logits, coef, reg.expert_intercept_, reg.expert_dispersion_
        )

    c, h = reg.expert_coef_[0, 1], 1e-5
    slope = (loglik(c + h) - loglik(c - h)) / (2 * h)
    assert abs(slope) < 1e-2


def test_bic_counts_shapes_and_uses_gamma_likelihood():
    X, y = two_regimes(n=400)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    n_params = 2 * 3 + 2 + 3  # coefficients, shapes, gate (one free column)
    loglik = mixture_loglik(
        X,
        y,
        np.log(reg.predict_gate(X)),
        reg.expert_coef_,
        reg.expert_intercept_,
        reg.expert_dispersion_,
    )
    np.testing.assert_allclose(
        reg.bic(X, y), -2 * loglik + n_params * np.log(len(y)), rtol=1e-9
    )
    np.testing.assert_allclose(reg.aic(X, y), -2 * loglik + 2 * n_params, rtol=1e-9)


def _assert_one_expert_std_errors(se, reg, cov):
    """One Gamma expert's standard errors ``se`` against the covariance ``cov``
    of (intercept, two slopes, log dispersion)."""
    np.testing.assert_allclose(se.expert_intercept_[0], np.sqrt(cov[0, 0]), rtol=1e-3)
    np.testing.assert_allclose(
        se.expert_coef_[0], np.sqrt(np.diag(cov)[1:3]), rtol=1e-3
    )
    # the dispersion's, by the delta method from its log
    np.testing.assert_allclose(
        se.expert_dispersion_[0],
        reg.expert_dispersion_[0] * np.sqrt(cov[3, 3]),
        rtol=1e-3,
    )


def test_std_errors_one_expert_match_a_finite_difference_hessian():
    X, y = two_regimes(n=500, shape=6.0)
    reg = MoEGammaRegressor(n_experts=1, alpha=0.0, tol=1e-12).fit(X, y)
    theta0 = np.r_[
        reg.expert_intercept_, reg.expert_coef_[0], np.log(reg.expert_dispersion_)
    ]

    def loglik(theta):
        mean = np.exp(theta[0] + X @ theta[1:3])
        return np.sum(gamma_logpdf(y, mean, np.exp(-theta[3])))

    cov = np.linalg.inv(-central_hessian(loglik, theta0))
    se = reg.std_errors(X, y)
    _assert_one_expert_std_errors(se, reg, cov)


@pytest.mark.parametrize("weighted", [False, True])
def test_penalized_std_errors_take_the_penalty_over_the_dispersion(weighted):
    # the objective is sum(w) (loglik / sum(w) - alpha ||b||^2 / (2 phi)): the
    # penalty's curvature is alpha sum(w) / phi per slope, not alpha sum(w)
    # (the standard errors 6% off at alpha=0.3 with the latter)
    X, y = two_regimes(n=300, shape=6.0)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if weighted else None
    weight = np.ones(len(y)) if w is None else w
    alpha = 0.3
    reg = MoEGammaRegressor(n_experts=1, alpha=alpha, tol=1e-12).fit(X, y, w)
    theta0 = np.r_[
        reg.expert_intercept_, reg.expert_coef_[0], np.log(reg.expert_dispersion_)
    ]

    def objective(theta):
        mean = np.exp(theta[0] + X @ theta[1:3])
        loglik = np.sum(weight * gamma_logpdf(y, mean, np.exp(-theta[3])))
        penalty = alpha * np.sum(weight) * np.sum(theta[1:3] ** 2) / 2
        return loglik - penalty / np.exp(theta[3])

    cov = np.linalg.inv(-central_hessian(objective, theta0))
    se = reg.std_errors(X, y, sample_weight=w)
    _assert_one_expert_std_errors(se, reg, cov)


# -- experts given by expert_estimator --------------------------------------------


def test_gamma_regressor_experts_are_the_built_in_ones():
    # one clone of GammaRegressor(alpha=0) is the built-in expert at alpha=0:
    # the same coefficients, dispersion and log-likelihood
    X, y = two_regimes(n=400)
    built_in = MoEGammaRegressor(n_experts=1, alpha=0.0, tol=1e-10).fit(X, y)
    clone = GammaRegressor(alpha=0.0, tol=1e-12, max_iter=1000)
    given = MoEGammaRegressor(n_experts=1, expert_estimator=clone, tol=1e-10)
    given.fit(X, y)
    assert not hasattr(given, "expert_coef_")
    np.testing.assert_allclose(given.experts_[0].coef_, built_in.expert_coef_[0])
    np.testing.assert_allclose(given.expert_dispersion_, built_in.expert_dispersion_)
    np.testing.assert_allclose(given.log_likelihood_, built_in.log_likelihood_)
    np.testing.assert_allclose(
        given.log_likelihood_samples(X, y),
        gamma_logpdf(y, given.experts_[0].predict(X), 1 / given.expert_dispersion_),
        rtol=1e-10,
    )


def test_estimator_experts_on_amounts_over_fifteen_decades():
    # a mean floor of 1e-10 times the mean amount clipped 18% of these
    # predictions (shape 1.25 where the built-in expert's is 5)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, 1))
    y = rng.gamma(5.0, np.exp(8 * X[:, 0]) / 5.0)
    built_in = MoEGammaRegressor(n_experts=1, alpha=0.0, tol=1e-10).fit(X, y)
    clone = GammaRegressor(alpha=0.0, tol=1e-12, max_iter=1000)
    given = MoEGammaRegressor(n_experts=1, expert_estimator=clone, tol=1e-10)
    given.fit(X, y)
    np.testing.assert_allclose(given.expert_dispersion_, built_in.expert_dispersion_)
    np.testing.assert_allclose(given.log_likelihood_, built_in.log_likelihood_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_estimator_experts_that_predict_zero_or_less_warn(dtype):
    # a Ridge's predictions below 0 sit at the floor: the fit warns (float32
    # with amounts of 1e-36 had a floor of 0 there, and failed)
    rng = np.random.RandomState(0)
    X = rng.uniform(0, 3, size=(500, 1))
    y = rng.gamma(4.0, np.exp(1.5 * X[:, 0] - 2) / 4.0) * 1e-36
    model = MoEGammaRegressor(
        2, expert_estimator=Ridge(alpha=1e-80), n_init=1, random_state=0
    )
    with pytest.warns(UserWarning, match="predict means at or below"):
        model.fit(X.astype(dtype), y)
    assert np.all(np.isfinite(model.log_likelihood_samples(X.astype(dtype), y)))


def test_tree_experts_fit_steps_that_linear_experts_cannot():
    rng = np.random.RandomState(0)

    def steps(n):
        X = rng.uniform(-2, 2, size=(n, 1))
        regime = rng.rand(n) < 0.5
        level = np.where(X[:, 0] < 0, 2.0, 20.0) * np.where(regime, 1.0, 4.0)
        return X, rng.gamma(10.0, level / 10.0)

    X, y = steps(600)
    X_test, y_test = steps(2000)
    trees = MoEGammaRegressor(
        n_experts=2,
        gate="constant",
        expert_estimator=DecisionTreeRegressor(max_depth=1),
        n_init=2,
        random_state=0,
    ).fit(X, y)
    linear = MoEGammaRegressor(
        n_experts=2, gate="constant", n_init=2, random_state=0
    ).fit(X, y)
    gain = np.mean(
        trees.log_likelihood_samples(X_test, y_test)
        - linear.log_likelihood_samples(X_test, y_test)
    )
    assert gain > 0.2  # 0.35 nats a row
    # the dispersions are the shapes' 10 where the trees find the steps
    np.testing.assert_allclose(1 / trees.expert_dispersion_, 10.0, rtol=0.25)


def test_expert_estimator_refusals():
    X, y = two_regimes(n=100)
    with pytest.raises(ValueError, match="is a classifier"):
        MoEGammaRegressor(2, expert_estimator=DecisionTreeClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="shared_features"):
        MoEGammaRegressor(
            2, expert_estimator=DecisionTreeRegressor(), shared_features=[0]
        ).fit(X, y)
    fitted = MoEGammaRegressor(
        2, expert_estimator=DecisionTreeRegressor(max_depth=2), random_state=0
    ).fit(X, y)
    with pytest.raises(ValueError, match="std_errors is not available"):
        fitted.std_errors(X, y)
    assert not hasattr(
        MoEGammaRegressor(2, expert_estimator=GammaRegressor()), "partial_fit"
    )


# -- predictions ------------------------------------------------------------------


def test_predict_and_distribution_agree_with_scipy_mixture():
    X, y = two_regimes(n=400, shape=5.0)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    dist = reg.predict_distribution(X[:20])
    assert isinstance(dist, PredictiveGammaMixture)
    gate = reg.predict_gate(X[:20])
    means = np.exp(X[:20] @ reg.expert_coef_.T + reg.expert_intercept_)
    shape = 1 / reg.expert_dispersion_
    mean = np.sum(gate * means, axis=1)
    second = np.sum(gate * means**2 * (1 + 1 / shape), axis=1)
    y_mean, y_std = reg.predict(X[:20], return_std=True)
    np.testing.assert_allclose(y_mean, mean, rtol=1e-10)
    np.testing.assert_allclose(y_std, np.sqrt(second - mean**2), rtol=1e-8)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-10)
    np.testing.assert_allclose(dist.std(), y_std, rtol=1e-8)
    cdf = np.sum(gate * stats.gamma.cdf(y[:20, None], shape, scale=means / shape), 1)
    np.testing.assert_allclose(dist.cdf(y[:20]), cdf, rtol=1e-10)


def test_predict_std_holds_one_vector_of_a_chunk_beyond_predict(monkeypatch):
    # predict(return_std=True) of 8 experts at 40000 rows (chunks of 14979):
    # its tracemalloc peak is predict's plus the standard deviations (n
    # floats) and at most 18 vectors of a chunk (17.0 measured: the chunk's
    # standard deviations and the work arrays of the means and the
    # variances, kept across the chunks as new ones cost page faults; the
    # means scaled in place); it held the means beside the scaled means
    # (13.0 when predict's peak was 63.7 vectors), and the dispersions as a
    # (K, n) array too: 21.0 vectors of a chunk. predict's own peak is at
    # most 50 vectors (48.7 measured): the mean alone made the gate weights
    # and the means, unused, as new arrays, 63.7 (and its terms twice).
    # The numbers: the mixture's moments written out
    import skmoe._base

    rng = np.random.RandomState(0)
    X = rng.standard_normal((1000, 2))
    eta = 0.5 * X[:, 0] + np.where(X[:, 1] > 0, 0.4, -0.4) * X[:, 1]
    y = rng.gamma(2.0, np.exp(eta) / 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a short fit of many experts)
        model = MoEGammaRegressor(n_experts=8, max_iter=10, random_state=0)
        model.fit(X, y)
    X_test = rng.standard_normal((40000, 2))
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 2**22)
    rows = model._chunk_rows(X_test)
    assert rows == 14979
    peaks, outputs = [], []
    for return_std in (False, True):
        model.predict(X_test[:10], return_std=return_std)  # (caches)
        output, peak = traced_peak(
            lambda r=return_std: model.predict(X_test, return_std=r)
        )
        outputs.append(output)
        peaks.append(peak)
    assert peaks[0] <= 50 * 8 * rows, peaks[0] / (8 * rows)
    excess = peaks[1] - peaks[0] - X_test.shape[0] * 8
    assert excess <= 18 * 8 * rows, excess / (8 * rows)
    gate = model.predict_gate(X_test)
    mu = np.exp(model.expert_intercept_ + X_test @ model.expert_coef_.T)
    mean = np.sum(gate * mu, axis=1)
    phi = model.expert_dispersion_
    variance = np.sum(gate * (phi * mu**2 + (mu - mean[:, None]) ** 2), axis=1)
    np.testing.assert_allclose(outputs[1][0], mean, rtol=1e-10)
    np.testing.assert_allclose(outputs[1][1], np.sqrt(variance), rtol=1e-10)
    np.testing.assert_array_equal(outputs[1][0], outputs[0])


@pytest.mark.parametrize("top_k", [None, 2])
@pytest.mark.parametrize("return_std", [False, True])
def test_predict_makes_its_work_arrays_once_in_all_chunks(
    monkeypatch, top_k, return_std
):
    # predict in 5 chunks makes each work array at the first chunk only (new
    # (K, n) arrays at every chunk were given back by glibc and faulted in
    # again: 17k-64k minor faults a call of 3e5-1e6 rows, K=8; the mean alone
    # made eight at every chunk, and used no work array); the gate weights
    # and the means are work arrays of all experts, and so are their logs
    # (new at every chunk, they were given back and faulted in again where
    # the std's work arrays held the heap below them: 39k minor faults a
    # call of predict(return_std=True), 3e5 rows, K=32, 7.6k as work
    # arrays); top_k's (as before) its parts' own; the numbers: the moments
    # written out
    import skmoe._base
    import skmoe._gamma

    made = counted_work_arrays(monkeypatch, skmoe._gamma)
    model, X = _short_fit_in_chunks(monkeypatch, top_k=top_k)
    assert model._chunk_rows(X) == (65 if top_k else 100)  # (5 chunks or 8)
    logs = ["log_mean", "log_weight"]
    if not return_std:
        mean = model.predict(X)
        assert sorted(made) == ([] if top_k else [*logs, "terms", "weight"])
    else:
        mean, std = model.predict(X, return_std=True)
        names = [*logs, "mean", "terms", "variance", "weight"]
        assert sorted(made) == (["terms", "variance"] if top_k else names)
    _assert_moments_written_out(model, X, mean, std if return_std else None)


@pytest.mark.parametrize("gate", ["gaussian", "hierarchical", "constant"])
@pytest.mark.parametrize("return_std", [False, True])
def test_predict_makes_no_log_gate_work_array_beside_other_gates(
    monkeypatch, gate, return_std
):
    # beside a gate other than the softmax one (which makes its own log gate)
    # predict in 5 chunks makes no work array for the log gate (it made one
    # and left it unused: a (K, n) array held for nothing), only the log
    # means' and the others'; the numbers: the moments written out from
    # predict_gate and the experts' coefficients
    import skmoe._base
    import skmoe._gamma

    made = counted_work_arrays(monkeypatch, skmoe._gamma)
    model, X = _short_fit_in_chunks(monkeypatch, gate=gate)
    assert model._chunk_rows(X) == 100  # (5 chunks)
    if not return_std:
        mean = model.predict(X)
        assert sorted(made) == ["log_mean", "terms", "weight"]
    else:
        mean, std = model.predict(X, return_std=True)
        names = ["log_mean", "mean", "terms", "variance", "weight"]
        assert sorted(made) == names
    _assert_moments_written_out(model, X, mean, std if return_std else None)


def _short_fit_in_chunks(monkeypatch, **params):
    # a short fit of 3 experts to 500 rows, predicting in chunks of 100 rows
    # (8 with top_k, whose chunks are smaller)
    import skmoe._base

    rng = np.random.RandomState(0)
    X = rng.standard_normal((500, 2))
    y = rng.gamma(2.0, np.exp(0.5 * X[:, 0]) / 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a short fit)
        model = MoEGammaRegressor(n_experts=3, max_iter=10, **params)
        model.set_params(random_state=0).fit(X, y)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 15 * 100)
    return model, X


def _assert_moments_written_out(model, X, mean, std=None):
    # the mean (and std) of predict against predict_gate and the experts'
    # means exp(b_k + x w_k), dispersions phi_k: sum_k g_k mu_k and
    # sum_k g_k (phi_k mu_k^2 + (mu_k - mean)^2)
    mu = np.exp(model.expert_intercept_ + X @ model.expert_coef_.T)
    weights = model.predict_gate(X)
    expected = np.sum(weights * mu, axis=1)
    np.testing.assert_allclose(mean, expected, rtol=1e-12)
    if std is not None:
        phi = model.expert_dispersion_
        spread = phi * mu**2 + (mu - expected[:, None]) ** 2
        expected_std = np.sqrt(np.sum(weights * spread, 1))
        np.testing.assert_allclose(std, expected_std, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_log_gate_writes_into_the_work_array_given(dtype):
    # SoftmaxGate.log_gate(out=...) writes the logits and then the log gate
    # into ``out`` (predict's work array), the same floats as a new array
    # (bit for bit), which are scipy's log_softmax of the logits; a chunk of
    # 5000 rows (blocks of 16384 logits) at K=5 and a lone row
    from skmoe.gates import SoftmaxGate

    rng = np.random.RandomState(0)
    coef = (3.0 * rng.standard_normal((4, 5))).astype(dtype)
    for n in (5000, 1):
        design = np.vstack([np.ones(n), rng.standard_normal((3, n))]).astype(dtype)
        out = np.empty((5, n), dtype)
        got = SoftmaxGate().log_gate(np, design, {"coef": coef}, out=out)
        assert got is out
        fresh = SoftmaxGate().log_gate(np, design, {"coef": coef})
        np.testing.assert_array_equal(got, fresh)
        logits = coef.astype(np.float64).T @ design.astype(np.float64)
        expected = special.log_softmax(logits, axis=0)
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


def test_predict_inside_another_predicts_chunk_keeps_both_numbers(monkeypatch):
    # the work arrays are one predict call's own: a predict of other rows run
    # in the middle of another's chunk (here from mixture_std, with the
    # outer chunk's gate weights, means and variances in work arrays) gives
    # its own numbers and leaves the outer's as they were (a WorkArrays kept
    # on the model, shared by the calls, gave the outer call the inner one's
    # chunk's numbers: 200 of the outer call's 400 standard deviations wrong,
    # by up to 93%); the numbers: the moments written out
    import skmoe._base
    import skmoe._gamma

    rng = np.random.RandomState(0)
    X = rng.standard_normal((400, 2))
    y = rng.gamma(2.0, np.exp(0.5 * X[:, 0]) / 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a short fit)
        model = MoEGammaRegressor(n_experts=3, max_iter=10, random_state=0).fit(X, y)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 15 * 100)
    assert model._chunk_rows(X) == 100  # (4 chunks)
    other = 3.0 * rng.standard_normal((400, 2))
    inner, busy = [], []
    std_of = skmoe._gamma.mixture_std

    def nested(*args, **kwargs):
        if len(inner) < 2 and not busy:  # (in the outer call's first two chunks)
            busy.append(True)
            inner.append(model.predict(other, return_std=True))
            busy.clear()
        return std_of(*args, **kwargs)

    monkeypatch.setattr(skmoe._gamma, "mixture_std", nested)
    outputs = [model.predict(X, return_std=True), *inner]
    phi = model.expert_dispersion_
    for (mean, std), rows in zip(outputs, (X, other, other), strict=True):
        mu = np.exp(model.expert_intercept_ + rows @ model.expert_coef_.T)
        gate = model.predict_gate(rows)
        expected = np.sum(gate * mu, axis=1)
        np.testing.assert_allclose(mean, expected, rtol=1e-12)
        spread = phi * mu**2 + (mu - expected[:, None]) ** 2
        np.testing.assert_allclose(std, np.sqrt(np.sum(gate * spread, 1)), rtol=1e-12)


def test_top_k_routes_to_the_selected_experts():
    # top_k=2 of 3 experts of unlike shapes: the mean, the std and the
    # log-likelihood are those of the mixture of the selected experts by hand,
    # weighted by the renormalized top-2 gate (predict_gate). The std takes
    # each selected expert's own dispersion: paired with the selected experts
    # in index order rather than the gate's, it would be up to 1.39 (2.2 times
    # its value) off, where the mean would not move
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(600, 2))
    regime = np.digitize(X[:, 0], [-1, 1])
    mean = np.exp(np.array([1.0, 2.0, 0.5])[regime])
    shape = np.array([20.0, 2.0, 5.0])[regime]
    y = rng.gamma(shape, mean / shape)
    reg = MoEGammaRegressor(n_experts=3, top_k=2, n_init=1, random_state=0).fit(X, y)
    gate = reg.predict_gate(X)
    assert np.all(np.sum(gate > 0, axis=1) == 2)
    means = np.exp(reg.expert_intercept_ + X @ reg.expert_coef_.T)
    phi = reg.expert_dispersion_
    assert np.ptp(phi) > 0.1  # (unlike dispersions, or their pairing is moot)
    m = np.sum(gate * means, axis=1)
    std = np.sqrt(np.sum(gate * (phi * means**2 + (means - m[:, None]) ** 2), axis=1))
    y_mean, y_std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(y_mean, m, rtol=1e-10)
    np.testing.assert_allclose(y_std, std, rtol=1e-10)
    dist = reg.predict_distribution(X)
    assert dist.weights.shape == (len(y), 2)
    np.testing.assert_allclose(dist.mean(), m, rtol=1e-10)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)
    pdf = stats.gamma.pdf(y[:, None], 1 / phi, scale=means * phi)
    expected = np.log(np.sum(gate * pdf, axis=1))
    np.testing.assert_allclose(reg.log_likelihood_samples(X, y), expected, rtol=1e-10)


def test_score_is_gamma_d2():
    X, y = two_regimes(n=400)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    w = np.random.RandomState(0).uniform(0, 2, size=y.shape)
    expected = d2_tweedie_score(y, reg.predict(X), sample_weight=w, power=2)
    np.testing.assert_allclose(reg.score(X, y, sample_weight=w), expected)


def test_score_in_row_chunks_is_gamma_d2(monkeypatch):
    # score sums the deviances in row chunks (here of 7 rows, 58 of them):
    # scikit-learn's D^2 on all the rows at once, and 1 or 0 for a constant y
    import skmoe._base

    X, y = two_regimes(n=400)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    w = np.random.RandomState(0).uniform(0, 2, size=y.shape)
    w[::9] = 0.0
    expected = d2_tweedie_score(y, reg.predict(X), sample_weight=w, power=2)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 8 * 7)
    assert len(skmoe._base._row_slices(len(y))) == 58
    np.testing.assert_allclose(reg.score(X, y, sample_weight=w), expected, rtol=1e-12)
    constant = np.full(len(y), 2.5)
    assert _gamma_d2(constant, constant * (1 + 1e-13), w) == 1.0
    # one row off: the first chunk's, the last of a chunk, the first of the
    # next, the last full chunk's and the last chunk's (row 399, alone)
    for row in (1, 6, 7, 398, 399):
        off = constant * (1 + 1e-3 * (np.arange(len(y)) == row))
        assert _gamma_d2(constant, off, w) == 0.0
        zero = w.copy()
        zero[row] = 0.0  # of weight 0: left out
        assert _gamma_d2(constant, off, zero) == 1.0


def test_pipeline_grid_search_and_pickle():
    X, y = two_regimes(n=400)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MoEGammaRegressor(n_init=1, random_state=0)),
        {"moegammaregressor__n_experts": [1, 2]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_ == {"moegammaregressor__n_experts": 2}
    again = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(again.predict(X), search.predict(X))


def test_bootstrap_lrt_finds_two_regimes():
    X, y = two_regimes(n=300)
    result = bootstrap_lrt(
        MoEGammaRegressor(n_init=1, random_state=0),
        X,
        y,
        max_experts=2,
        n_bootstrap=9,
        significance=0.15,
        random_state=0,
    )
    assert result.p_values[0] == pytest.approx(0.1)  # (1 + 0) / (9 + 1)
    assert result.n_experts == 2


# -- bad and degenerate input -----------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_y_is_refused(bad):
    X, y = two_regimes(n=50)
    y[3] = bad
    with pytest.raises(ValueError, match="not positive: MoEGammaRegressor"):
        MoEGammaRegressor(n_experts=2).fit(X, y)
    reg = MoEGammaRegressor(n_experts=1).fit(X[4:], y[4:])
    with pytest.raises(ValueError, match="not positive"):
        reg.score(X, y)


def test_nan_y_is_refused():
    X, y = two_regimes(n=50)
    y[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MoEGammaRegressor(n_experts=2).fit(X, y)


def test_constant_y_warns_and_predicts_it():
    X, _ = two_regimes(n=100)
    y = np.full(100, 3.5)
    with pytest.warns(UserWarning, match="y is constant"):
        reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(reg.predict(X), 3.5, rtol=1e-6)
    assert np.all(np.isfinite(reg.log_likelihood_samples(X, y)))


def test_duplicated_points_collapse_with_a_warning_and_finite_results():
    # eight copies of one far amount: an expert fits them exactly, its
    # dispersion at the floor (with alpha > 0 the penalty's share holds it
    # above, as for Gaussian experts)
    X, y = two_regimes(n=200)
    X = np.r_[X, np.tile([[3.0, 0.0]], (8, 1))]
    y = np.r_[y, np.full(8, 400.0)]
    reg = MoEGammaRegressor(
        n_experts=3, gate="constant", alpha=0.0, n_init=2, random_state=0
    )
    with pytest.warns(UserWarning, match="collapsed"):
        reg.fit(X, y)
    assert np.min(reg.expert_dispersion_) == pytest.approx(reg._dispersion_floor)
    assert np.all(np.isfinite(reg.predict(X, return_std=True)))
    assert np.all(np.isfinite(reg.log_likelihood_samples(X, y)))
    # n_experts="auto" passes over that fit
    auto = MoEGammaRegressor(gate="constant", alpha=0.0, n_init=2, random_state=0)
    assert np.min(auto.fit(X, y).expert_dispersion_) > 1e3 * reg._dispersion_floor


def test_duplicated_points_collapse_at_the_default_alpha_too():
    # the penalty's share held the dispersion 1e5 times above its floor: no
    # warning, and n_experts="auto" kept that fit (as Gaussian experts did
    # before they judged the residuals alone)
    X, y = two_regimes(n=200)
    X = np.r_[X, np.tile([[3.0, 0.0]], (8, 1))]
    y = np.r_[y, np.full(8, 400.0)]
    reg = MoEGammaRegressor(n_experts=3, gate="constant", n_init=2, random_state=0)
    with pytest.warns(UserWarning, match="collapsed"):
        reg.fit(X, y)
    auto = MoEGammaRegressor(gate="constant", n_init=2, random_state=0).fit(X, y)
    assert np.min(auto.expert_dispersion_) > 1e3 * np.min(reg.expert_dispersion_)


def test_warm_start_from_far_larger_amounts_moves_the_means():
    # from means 1e9 times the amounts the Newton weights y / mu vanish and
    # every halving of the 1e13-long step was refused: the experts restart
    # from their intercepts
    X, y = two_regimes(n=400)
    cold = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    warm = MoEGammaRegressor(n_experts=2, warm_start=True, random_state=0)
    warm.fit(X, y * 1e9)
    warm.fit(X, y)
    assert warm.score(X, y) == pytest.approx(cold.score(X, y), abs=1e-3)


def test_predicted_std_where_the_means_square_overflows():
    X, y = two_regimes(n=300)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y * 1e160)
    mean, std = reg.predict(X[:5], return_std=True)
    np.testing.assert_allclose(std, reg.predict_distribution(X[:5]).std(), rtol=1e-9)
    small = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        std / 1e160, small.predict(X[:5], return_std=True)[1], rtol=1e-4
    )


@pytest.mark.parametrize("Estimator", [MoEGammaRegressor, MoEPoissonRegressor])
def test_a_constant_y_fitted_exactly_scores_one(Estimator):
    # as r2_score: exp(log(3.7)) is 3.7 less one unit in the last place, which
    # scored 0
    X, _ = two_regimes(n=100)
    for value in (3.0, 3.7, 7.0):
        y = np.full(100, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # y is constant
            reg = Estimator(n_experts=1).fit(X, y)
        assert reg.score(X, y) == 1.0
        assert reg.score(X, y * 1.01) == 0.0


def test_score_of_amounts_over_six_hundred_decades():
    # d2_tweedie_score overflowed (NaN): D^2 does not change with y's unit
    rng = np.random.RandomState(2)
    X = rng.normal(size=(300, 2))
    y = np.exp(rng.uniform(np.log(1e-300), np.log(1e300), 300))
    reg = MoEGammaRegressor(n_experts=1).fit(X, y)
    score = reg.score(X, y)
    # scikit-learn's own GammaRegressor scores these from logs (0.0074)
    expected = GammaRegressor(alpha=1e-6).fit(X, y).score(X, y)
    np.testing.assert_allclose(score, expected, rtol=1e-4)
    scaled = MoEGammaRegressor(n_experts=1).fit(X, y * 1e-8)
    np.testing.assert_allclose(scaled.score(X, y * 1e-8), score, rtol=1e-6)
    # and equals scikit-learn's on amounts it can score
    X, y = two_regimes(n=200)
    reg = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    expected = d2_tweedie_score(y, reg.predict(X), power=2)
    np.testing.assert_allclose(reg.score(X, y), expected, rtol=1e-10)


def test_amounts_near_the_largest_float():
    # their sum overflowed: RuntimeWarnings from fit, and partial_fit's
    # experts started at an infinite mean
    X, y = two_regimes(n=300)
    y = y / y.max() * 1e307
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        reg = MoEGammaRegressor(n_experts=1).fit(X, y)
    assert np.all(np.isfinite(reg.predict(X)))
    stream = MoEGammaRegressor(n_experts=2, solver="sgd", random_state=0)
    stream.partial_fit(X[:2], y[:2])
    stream.partial_fit(X[2:], y[2:])
    assert np.all(np.isfinite(stream.expert_intercept_))


def test_a_constant_first_partial_fit_batch_warns_and_does_not_hold_the_fit():
    X, y = two_regimes(n=3000, shape=5.0)
    y[:150] = 4.2  # a flat fee in the first batch
    batches = np.array_split(np.arange(len(y)), 20)
    reg = MoEGammaRegressor(
        n_experts=2, solver="sgd", learning_rate=0.05, random_state=0
    )
    with pytest.warns(UserWarning, match="first partial_fit batch has a constant y"):
        reg.partial_fit(X[batches[0]], y[batches[0]])
    for _ in range(8):
        for rows in batches[1:]:
            reg.partial_fit(X[rows], y[rows])
    # shapes of 2.5e6 and 3.3e9 held the fit at D^2 0.27
    assert np.all(1 / reg.expert_dispersion_ < 20)
    assert reg.score(X[150:], y[150:]) > 0.6


def test_amounts_outside_the_dtype_are_refused():
    X, y = two_regimes(n=50)
    X32 = X.astype(np.float32)
    for bad in (1e39, 1e-40):
        amounts = y.copy()
        amounts[0] = bad
        with pytest.raises(ValueError, match="outside float32's range.*float64 X"):
            MoEGammaRegressor(n_experts=1).fit(X32, amounts)


def test_widely_scaled_amounts():
    # amounts in units of 1e-6 or 1e6: the same fit, shifted intercepts
    X, y = two_regimes(n=400)
    base = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y)
    for scale in (1e-6, 1e6):
        scaled = MoEGammaRegressor(n_experts=2, random_state=0).fit(X, y * scale)
        np.testing.assert_allclose(
            np.sort(scaled.expert_intercept_),
            np.sort(base.expert_intercept_) + np.log(scale),
            rtol=1e-5,
        )
        np.testing.assert_allclose(
            np.sort(scaled.expert_dispersion_),
            np.sort(base.expert_dispersion_),
            rtol=1e-4,
        )


@pytest.mark.parametrize("outlier", [1e10, 1e20, 1e30])
def test_one_expert_reaches_gamma_regressor_beside_a_huge_outlier(outlier):
    # from the intercept start every row's Newton weight y / mu was about 1e-8
    # but the outlier's: the step was some 1e7 long and 20 halvings refused
    # it all, so EM stopped at the intercept-only model (D^2 0) as converged
    rng = np.random.RandomState(0)
    X = rng.randn(200, 1)
    y = rng.gamma(2.0, np.exp(0.5 * X[:, 0]))
    y[0] = outlier
    model = MoEGammaRegressor(n_experts=1, alpha=0.0, random_state=0).fit(X, y)
    reference = GammaRegressor(alpha=0.0, max_iter=10_000, tol=1e-14).fit(X, y)
    np.testing.assert_allclose(model.expert_coef_[0], reference.coef_, rtol=1e-6)
    np.testing.assert_allclose(
        model.expert_intercept_[0], reference.intercept_, rtol=1e-6
    )


@pytest.mark.parametrize(
    "Estimator, outlier",
    [(MoEPoissonRegressor, 1e300), (MoEGammaRegressor, 1e200)],
)
def test_a_fit_whose_means_overflow_on_its_training_rows_says_so(Estimator, outlier):
    # one target of 1e300 (1e200): an expert chased it, and its means
    # overflowed at other training rows, where predict raises; fit warned only
    # of the expert's few samples (or said predict would give such means)
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    mean = np.exp(0.5 * X[:, 0])
    y = (
        rng.poisson(mean)
        if Estimator is MoEPoissonRegressor
        else rng.gamma(2, mean / 2)
    )
    y = np.r_[y[:-1], outlier]
    with pytest.warns(UserWarning, match="overflow float64 at") as caught:
        model = Estimator(2, n_init=1, random_state=0).fit(X, y)
    (message,) = [str(w.message) for w in caught if "overflow" in str(w.message)]
    raising = 0
    for row in X:
        try:
            model.predict(row[None, :])
        except ValueError:
            raising += 1
    assert raising > 0
    assert f"at {raising} of the training rows, where predict raises" in message
    # a model that predicts all its training rows says nothing of it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Estimator(2, n_init=1, random_state=0).fit(X[:-1], y[:-1])
    assert not [w for w in caught if "overflow" in str(w.message)]


def test_far_feature_value_gives_no_numpy_warnings():
    """A feature value of 6e5: an expert's mean there underflows beside the
    amount, and its log-density, -inf, overflowed in NumPy (500 raw
    RuntimeWarnings from one fit)."""
    rng = np.random.RandomState(1)
    X = rng.randn(100, 1)
    X[0] *= 1e6
    eta = np.where(np.abs(X[:, 0]) < 10, np.where(X[:, 0] > 0, 1.0, -0.5) * X[:, 0], 0)
    y = rng.gamma(2, np.exp(eta) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)  # the library's own
        MoEGammaRegressor(4, gate="hierarchical", random_state=0).fit(X, y)


def test_predict_distribution_serves_rows_where_an_unused_expert_overflows():
    # with the gaussian gate, far out one expert has weight exactly 0 and a
    # mean of exp(750): predict served the row, predict_distribution said the
    # outputs overflow (the Poisson and negative binomial estimators serve it)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    mu = np.exp(0.5 + np.where(X[:, 0] > 0, 1.0, -1.0) * X[:, 0])
    y = rng.gamma(2.0, mu / 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=2, gate="gaussian", random_state=0)
        model.fit(X, y)
    slope = model.expert_coef_[:, 0]
    k = np.argmax(np.abs(slope))
    far = np.array([[(750.0 - model.expert_intercept_[k]) / slope[k]]])
    dist = model.predict_distribution(far)
    assert dist.weights[0, k] == 0
    np.testing.assert_allclose(dist.mean(), model.predict(far), rtol=1e-12)
    assert np.all(np.isfinite(dist.logpdf(dist.median())))


def test_float32_amounts_whose_sum_overflows_fit_without_numpy_warnings():
    # amounts of 1e36 in float32: their weighted sum overflowed in the check of
    # the fitted means' total, leaked NumPy's RuntimeWarning and turned the
    # check off; the fit itself is float64's (D^2 to 1e-3)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    eta = np.where(X[:, 1] > 0, 0.5, -0.5) * X[:, 0]
    y = rng.gamma(3, np.exp(eta)) * 1e36
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        single = MoEGammaRegressor(2, n_init=1, random_state=0)
        single.fit(X.astype(np.float32), y.astype(np.float32))
    double = MoEGammaRegressor(2, n_init=1, random_state=0).fit(X, y)
    assert single.score(X, y) == pytest.approx(double.score(X, y), abs=1e-3)


def test_penalty_is_zero_without_alpha_even_where_the_squares_overflow():
    # a tiny dispersion (features scaled 1e-150) once gave 0 * inf = nan in the
    # EM objective, with RuntimeWarnings from the division
    params = {"coef": np.array([[0.0], [1e200]]), "dispersion": np.array([1e-300])}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert GammaExperts(1e-10).penalty(np, params, 0.0) == 0.0


def test_regimes_on_far_apart_scales_are_not_merged_by_the_start():
    # means 1, 100 and 1e4: k-means on log(y) splits them, but the start's
    # M-step at shares 0.9 / 0.05 put each small expert's mean near 500 (5%
    # of the 1e4 amounts outweighed its own) and EM merged the 1 and 100
    # regimes at -2047, where the true parameters score -1886; the start's
    # regressions of log(y) for experts so outweighed (GammaExperts.start_m_step)
    # keep them apart
    rng = np.random.default_rng(0)
    X = np.zeros((300, 1))
    means = np.array([1.0, 100.0, 1e4])
    y = rng.gamma(4.0, np.repeat(means, 100) / 4.0)
    components = [stats.gamma.logpdf(y, 4.0, scale=m / 4.0) for m in means]
    true = np.sum(special.logsumexp(components, axis=0) - np.log(3))
    model = MoEGammaRegressor(3, gate="constant", random_state=0).fit(X, y)
    assert model.log_likelihood_ > true - 3.0
    np.testing.assert_allclose(
        np.sort(np.exp(model.expert_intercept_)), means, rtol=0.1
    )


@pytest.mark.parametrize("seed", [0, 5])
def test_far_apart_gamma_regimes_are_found_by_the_default_restarts(seed):
    # Gamma regimes of shape 25 and means 1, 10 and 1000: every built-in
    # start ended 201 to 223 nats below the true parameters on 10 seeds of
    # 10; the restart from k-means of y's ranks (as MoERegressor's) finds them
    rng = np.random.RandomState(seed)
    means = np.array([1.0, 10.0, 1000.0])
    y = rng.gamma(25.0, means[np.repeat([0, 1, 2], 100)] / 25.0)
    true = np.log(
        np.mean([stats.gamma.pdf(y, 25.0, scale=m / 25.0) for m in means], axis=0)
    ).sum()
    model = MoEGammaRegressor(3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(np.zeros((300, 1)), y)
    assert model.log_likelihood_ > true - 5
    fitted = np.sort(np.exp(model.expert_intercept_))
    assert np.allclose(fitted, means, rtol=0.1)


def test_the_gamma_ranks_restart_needs_separate_regimes_of_log_y(capsys):
    # a single Gamma regime of shape 0.5 (a GLM on two features): its y's
    # quantile bins differ in spread (spread_ratio 28 to 196), but log(y) is
    # one cluster, and the default starts fit it: n_init restarts only
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 2))
    y = rng.gamma(0.5, np.exp(0.5 + 0.8 * X[:, 0] - 0.5 * X[:, 1]) / 0.5)
    for n_experts in (2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MoEGammaRegressor(n_experts, n_init=2, max_iter=3, verbose=1).fit(X, y)
        out = capsys.readouterr().out
        assert "ranks" not in out and out.count("Restart") == 2
    # regimes at means 1, 10 and 1000: log(y) falls apart, the restart is added
    y = rng.gamma(25.0, np.repeat([1.0, 10.0, 1000.0], 100) / 25.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MoEGammaRegressor(3, n_init=2, max_iter=3, verbose=1).fit(np.zeros((300, 1)), y)
    lines = [s for s in capsys.readouterr().out.splitlines() if "Restart" in s]
    assert [s.split(":")[0] for s in lines] == [
        "Restart 0 (kmeans)",
        "Restart 1 (random)",
        "Restart 2 (ranks)",
    ]


@pytest.mark.parametrize("n_bins", [2, 3, 5])
def test_log_separation_is_relative_to_normal_bins(n_bins):
    from skmoe._init import _normal_within_share, log_separation

    # the share within n_bins equal-probability bins of a normal distribution,
    # by quadrature
    edges = stats.norm.ppf(np.linspace(0, 1, n_bins + 1))
    means = [
        integrate.quad(lambda t: t * stats.norm.pdf(t), a, b)[0] * n_bins
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    share = 1 - np.mean(np.square(means))
    assert np.isclose(_normal_within_share(n_bins), share, rtol=1e-9)
    # two points per cluster, clusters far apart: the share within is exact
    z = np.repeat(np.arange(n_bins) * 100.0, 2) + np.tile([-1.0, 1.0], n_bins)
    within = 1.0 / np.var(z)
    separation = log_separation(np.exp(z / 10), np.ones(z.size), n_bins)
    assert np.isclose(separation, share / within)
    # integer weights are repeated rows; not positive y or one value: 0
    rng = np.random.RandomState(0)
    y, w = rng.gamma(2.0, size=50), rng.randint(1, 4, size=50)
    assert np.isclose(
        log_separation(y, w.astype(float), n_bins),
        log_separation(np.repeat(y, w), np.ones(w.sum()), n_bins),
    )
    assert log_separation(np.ones(5), np.ones(5), n_bins) == 0.0
    assert log_separation(np.array([0.0, 1.0, 2.0]), np.ones(3), n_bins) == 0.0


def test_log_separation_ties_and_extreme_weights():
    from sklearn.exceptions import ConvergenceWarning

    from skmoe._init import _normal_within_share, log_separation

    rng = np.random.RandomState(5)
    y, w = rng.gamma(2.0, size=20), rng.randint(1, 5, size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # one value under uneven weights: no spread, though its weighted mean
        # of log(3) rounds off log(3) (was inf, with sklearn's warning)
        assert log_separation(np.full(10, 3.0), np.arange(10.0), 2) == 0.0
        # fewer distinct values than clusters: k-means leaves nothing within
        ties = np.array([1.0, 5.0, 100.0])[rng.randint(0, 3, size=40)]
        assert log_separation(ties, np.ones(40), 4) == np.inf
        assert log_separation(ties, np.ones(40), 3) == np.inf
        # 4 distinct values, 3 clusters: the two closest on the log scale
        # share one, by hand
        z = np.log(ties)
        four = np.r_[ties, np.full(10, 200.0)]
        z4 = np.r_[z, np.full(10, np.log(200.0))]
        pair = z4 >= np.log(100.0)
        within = np.sum((z4[pair] - z4[pair].mean()) ** 2) / np.sum(
            (z4 - z4.mean()) ** 2
        )
        assert np.isclose(
            log_separation(four, np.ones(50), 3), _normal_within_share(3) / within
        )
        # integer weights are repeated rows, to rounding (a row of weight 3
        # started in one bin, its repeats in two: 1.85 vs 1.06 at 4 bins)
        for n_bins in (2, 3, 4):
            assert np.isclose(
                log_separation(y, w.astype(float), n_bins),
                log_separation(np.repeat(y, w), np.ones(w.sum()), n_bins),
                rtol=1e-12,
            )
        # weights whose sum overflows: scale-free (was overflow's warning)
        assert np.isclose(
            log_separation(y, np.full(20, 1e308), 3),
            log_separation(y, np.ones(20), 3),
            rtol=1e-12,
        )
        # weights of 1 beside 1e308 count for nothing (their products
        # underflowed in sklearn's k-means, which lost clusters)
        big = rng.rand(20) < 0.5
        assert np.isclose(
            log_separation(y, np.where(big, 1e308, 1.0), 3),
            log_separation(y[big], np.ones(big.sum()), 3),
            rtol=1e-12,
        )
        # a fit on 3 values with 4 experts: no warning from this k-means
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", "Number of distinct", ConvergenceWarning)
        MoEGammaRegressor(4, n_init=1, max_iter=3, random_state=0).fit(
            rng.normal(size=(40, 1)), ties
        )


def test_log_separation_of_as_many_values_as_clusters_under_uneven_weights():
    # 3 values of log(y), 3 clusters: nothing left within, inf, though the
    # bins of equal weight put two of the values in one bin (weights 0.45,
    # 0.45, 0.1: midpoints at 0.225, 0.675 and 0.95 of the weight)
    from skmoe._init import log_separation

    y = np.repeat([1.0, 10.0, 100.0], 3)
    weight = np.repeat([0.45, 0.45, 0.1], 3)
    assert log_separation(y, weight, 3) == np.inf


def test_the_gamma_ranks_restart_is_not_added_with_zero_inflated(capsys):
    # (MoEGammaRegressor._far_apart_regimes): far-apart regimes, all positive
    rng = np.random.RandomState(0)
    y = np.concatenate([rng.gamma(25, m / 25, 100) for m in (1, 10, 1000)])
    for zero_inflated, ranks in ((False, True), (True, False)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MoEGammaRegressor(
                3, zero_inflated=zero_inflated, n_init=2, max_iter=3, verbose=1
            ).fit(np.zeros((300, 1)), y)
        assert ("(ranks)" in capsys.readouterr().out) == ranks


def test_one_expert_on_small_features_warns_where_the_penalty_shrinks():
    # one Gamma expert's penalty is divided by its dispersion, as its
    # curvature in a slope is the variance over the dispersion: a ridge. On
    # the diabetes features as loaded (sd 0.048, alpha / variance 4.4e-4) it
    # warned though its fit was scikit-learn's unpenalized GammaRegressor's
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MoEGammaRegressor(n_experts=1).fit(X, y)
    reference = GammaRegressor(
        alpha=0.0, solver="newton-cholesky", tol=1e-10, max_iter=1000
    ).fit(X, y)
    assert model.score(X, y) == pytest.approx(reference.score(X, y), abs=1e-4)
    # at a hundredth of that scale the penalty shrinks the fit: it warns
    with pytest.warns(FeatureScaleWarning, match="StandardScaler"):
        shrunk = MoEGammaRegressor(n_experts=1).fit(X * 1e-2, y)
    assert shrunk.score(X * 1e-2, y) < reference.score(X, y) - 0.1


def test_one_expert_stream_judges_small_features_as_fit_does():
    # partial_fit judged a lone Gamma expert's batches by the fixed share
    # (alpha above 1e-4 of the variance: 1e-6 against 2.3e-7 on the diabetes
    # features as loaded); fit, a ridge's rule, by 1e-2 of it: 2.3e-5
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    variance = np.var(X, axis=0)
    assert np.all(1e-4 * variance < 1e-6) and np.all(1e-6 < 1e-2 * variance / 10)
    # at a hundredth of that scale alpha is 440 times 1e-2 of the variance
    assert_lone_expert_stream_judges_scales_as_fit(MoEGammaRegressor, X, y, 1e-2)


def _exact_moments(model, rows):
    """mpmath at 50 digits of each row's mixture mean ``sum_k w_k mu_k`` and
    standard deviation ``sqrt(sum_k w_k (phi_k mu_k^2 + (mu_k - mean)^2))``,
    from ``model``'s parameters (softmax gate)."""
    import mpmath

    mpmath.mp.dps = 50
    n_experts = len(model.expert_intercept_)
    phis = np.broadcast_to(model.expert_dispersion_, (n_experts,))
    means, stds = [], []
    for x in rows:
        log_weights, log_means = mixture_logs(model, x)
        weights = [mpmath.exp(g) for g in log_weights]
        mus = [mpmath.exp(v) for v in log_means]
        mean = sum(w * mu for w, mu in zip(weights, mus, strict=True))
        variance = sum(
            w * (mpmath.mpf(float(phi)) * mu**2 + (mu - mean) ** 2)
            for w, mu, phi in zip(weights, mus, phis, strict=True)
        )
        means.append(float(mean))
        stds.append(float(mpmath.sqrt(variance)))
    return np.array(means), np.array(stds)


def _two_regime_amounts(seed):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(400, 2))
    low = rng.uniform(size=400) < 0.5
    mu = np.exp(np.where(low, 0.5 + 0.8 * X[:, 0], 1.5 + 0.3 * X[:, 1]))
    return X, rng.gamma(5.0, mu / 5.0)


def _two_experts_of(gate_coef, expert_intercept, expert_coef, dtype=np.float64):
    """A 2-expert model fitted (in ``dtype``) to the first feature of
    :func:`_two_regime_amounts`, then given the gate slopes ``gate_coef``
    (intercepts 0) and the experts' ``expert_intercept`` and ``expert_coef``."""
    X, y = _two_regime_amounts(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=2, random_state=0)
        model.fit(X[:, :1].astype(dtype, copy=False), y)
    model.gate_intercept_ = np.zeros(2, dtype=dtype)
    model.gate_coef_ = np.array(gate_coef, dtype=dtype)
    model.expert_intercept_ = np.array(expert_intercept, dtype=dtype)
    model.expert_coef_ = np.array(expert_coef, dtype=dtype)
    return model


def _assert_moments(model, rows, mean, std, rtol=(1e-12, 1e-10), var=True):
    """``predict(rows, return_std=True)`` and ``predict_distribution(rows)``'s
    ``mean()`` and ``std()`` (and ``var()``: ``std**2``) are ``mean`` and
    ``std`` to ``rtol`` (the mean's, the std's and var's)."""
    rtol_mean, rtol_std = rtol
    predicted, predicted_std = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, mean, rtol=rtol_mean)
    np.testing.assert_allclose(predicted_std, std, rtol=rtol_std)
    dist = model.predict_distribution(rows)
    np.testing.assert_allclose(dist.mean(), mean, rtol=rtol_mean)
    np.testing.assert_allclose(dist.std(), std, rtol=rtol_std)
    if var:
        np.testing.assert_allclose(dist.var(), std**2, rtol=rtol_std)


@pytest.mark.parametrize(
    "seed, row",
    [(5, [676.8, 5.9]), (0, [-1423.6, 394.8]), (1, [-764.5, 764.5])],
)
def test_std_where_an_underflowed_gate_weight_holds_a_large_mean(seed, row):
    # far rows of fitted 3-expert models where a gate weight below the
    # floats (e^-949.5 at seed 5) holds a large mean (e^507.8): its share of
    # the variance was lost, and predict and the distribution gave a std of
    # 3.0e-64 for 2.456e14 (seed 0: 3.2e-74 for 1.74e-46; seed 1: 2.7e-171
    # for 5.07e-113). Expected: mpmath, from the fitted parameters
    X, y = _two_regime_amounts(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=3, random_state=seed).fit(X, y)
    rows = np.array([row])
    mean, std = _exact_moments(model, rows)
    logits = model.gate_intercept_ + rows @ model.gate_coef_.T
    log_weights = logits - special.logsumexp(logits, axis=1, keepdims=True)
    assert np.min(log_weights) < -745  # (the case: a weight of 0 as a float)
    _assert_moments(model, rows, mean, std)


def test_mean_where_an_underflowed_gate_weight_holds_a_large_mean():
    # a gate weight of e^-750 (0 as a float) beside a mean of e^600, the
    # other expert's mean e^-800: the std is e^150 (mpmath), which predict
    # and the distribution gave as 0; the expert's share of the mean, e^-150
    # (7.2e-66), is a float and the mixture's mean (it was left out, for 0).
    # At x = -36 a subnormal weight e^-720 beside e^576 gives a mean of
    # 2.9e-63. Expected: mpmath, from the parameters
    model = _two_experts_of([[10.0], [-10.0]], [0.0, -800.0], [[-16.0], [0.0]])
    rows = np.array([[-37.5], [-36.0], [-30.0], [0.3]])
    mean, std = _exact_moments(model, rows)
    assert mean[0] > 1e-70 and mean[1] > 1e-64  # (means of their own, not 0)
    np.testing.assert_allclose(model.predict(rows), mean, rtol=1e-12)
    _assert_moments(model, rows, mean, std)


def test_distribution_moments_where_every_mean_underflows():
    # experts' means of e^-720 and e^-700 - x: the distribution held them as
    # the smallest normal float, 2.2e-308, and gave a mean of 2.2e-308 for
    # 2.0e-313 (and a std of 1.2e-308 for 2.4e-313); predict's were right.
    # Expected: mpmath, from the parameters (subnormal floats keep ~11 digits)
    model = _two_experts_of([[1.0], [-1.0]], [-720.0, -700.0], [[0.0], [-1.0]])
    rows = np.array([[0.0], [10.0], [2.0], [30.0]])
    mean, std = _exact_moments(model, rows)
    _assert_moments(model, rows, mean, std, rtol=(1e-9, 1e-9), var=False)


@pytest.mark.parametrize(
    "dtype, log_mean", [(np.float64, -800.0), (np.float32, -200.0)]
)
def test_distribution_of_a_mean_that_underflows_to_zero_has_no_mass_at_zero(
    dtype, log_mean
):
    # an expert's mean of e^-800 (e^-200 in float32) is 0 as a float, but no
    # point mass: a Gamma mixture without zero inflation has P(Y <= 0) = 0 and,
    # of shapes above 1, density 0 at 0 (a mean of 0 left in ``means`` is the
    # zero-inflated point mass: cdf(0) was the expert's weight, 0.5)
    model = _two_experts_of([[1.0], [-1.0]], [log_mean, 0.0], [[0.0], [0.0]], dtype)
    dist = model.predict_distribution(np.array([[0.0], [3.0]], dtype=dtype))
    assert np.all(dist.shapes > 1)
    np.testing.assert_array_equal(dist.cdf(0.0), 0.0)
    np.testing.assert_allclose(dist.sf(0.0), 1.0, rtol=1e-15)  # (weights sum to 1)
    np.testing.assert_array_equal(dist.logpdf(0.0), -np.inf)
    assert np.all(dist.means > 0)


@pytest.mark.parametrize(
    "dtype, intercepts, ys, rtol",
    [
        (np.float64, [-720.0, -700.0], [1e-313, 1e-311, 1e-309], 1e-9),
        (np.float32, [-200.0, -100.0], [1e-88, 1e-60], 1e-3),
    ],
)
def test_distribution_tails_where_means_underflow(dtype, intercepts, ys, rtol):
    # experts' means of e^-720 and e^-700 - x (float32: e^-200 and e^-100 - x)
    # below the normal floats: cdf and sf took the smallest normal float that
    # ``means`` holds for them (a cdf of 1.2e-19 for 0.076 at y = 1e-313,
    # 0.5 for 2.2e-4 at 1e-88 in float32), where logpdf and the moments take
    # their logs. Expected: mpmath, from the parameters (float32's logs: 1e-4)
    import mpmath

    model = _two_experts_of([[1.0], [-1.0]], intercepts, [[0.0], [-1.0]], dtype)
    shapes = 1 / np.broadcast_to(model.expert_dispersion_, (2,)).astype(float)
    rows = np.array([[0.0], [10.0]], dtype=dtype)
    dist = model.predict_distribution(rows)
    for y in ys:
        expected = []
        for x in rows:
            log_weights, log_means = mixture_logs(model, x)
            parts = zip(log_weights, log_means, shapes, strict=True)
            expected.append(
                mpmath.fsum(
                    mpmath.exp(g)
                    * mpmath.gammainc(
                        k, 0, k * mpmath.mpf(y) / mpmath.exp(v), regularized=True
                    )
                    for g, v, k in parts
                )
            )
        cdf = np.array([float(e) for e in expected])
        sf = np.array([float(1 - e) for e in expected])
        np.testing.assert_allclose(dist.cdf(y), cdf, rtol=rtol)
        np.testing.assert_allclose(dist.sf(y), sf, rtol=rtol)


@pytest.mark.parametrize(
    "dtype, intercepts, xs, rtol",
    [
        (np.float64, [-720.0, -700.0], [10.0, 30.0], 1e-9),
        (np.float64, [-720.0, 0.0], [3.0], 1e-9),
        (np.float32, [-200.0, -100.0], [0.0, 10.0], 1e-3),
    ],
)
def test_distribution_quantiles_where_means_underflow(dtype, intercepts, xs, rtol):
    # experts' means of e^-720 and e^-700 - x (float32: e^-200 and e^-100 - x,
    # 0 or a subnormal float32 of 2 digits) below the normal floats: ppf took
    # the smallest normal float that ``means`` holds for them (ppf(0.25) of
    # 1.37e-308 for 1.25e-313 at x = 10; float32: 2.0e-308 for 1.26e-87 at
    # x = 0, and ppf(0.75) 1.7% off there, from the subnormal float32 mean),
    # where cdf and sf take their logs. Expected: the root of mpmath's cdf,
    # from the parameters (float32's logs: 1e-3)
    import mpmath

    model = _two_experts_of([[1.0], [-1.0]], intercepts, [[0.0], [-1.0]], dtype)
    shapes = [mpmath.mpf(float(v)) for v in 1 / model.expert_dispersion_]
    rows = np.array([[x] for x in xs], dtype=dtype)
    dist = model.predict_distribution(rows)
    for q in [1e-10, 0.25, 0.75]:
        expected = []
        for x in rows:
            log_weights, log_means = mixture_logs(model, x)
            parts = list(zip(log_weights, log_means, shapes, strict=True))

            def cdf(log_y, parts=parts):
                return mpmath.fsum(
                    mpmath.exp(g)
                    * mpmath.gammainc(k, 0, k * mpmath.exp(log_y - v), regularized=True)
                    for g, v, k in parts
                )

            low, high = min(log_means) - 60, max(log_means) + 10
            for _ in range(80):  # bisection in log y, to 2^-80 of 70
                middle = (low + high) / 2
                low, high = (middle, high) if cdf(middle) < q else (low, middle)
            expected.append(float(mpmath.exp((low + high) / 2)))
        # (subnormal quantiles: to their spacing, 5e-324)
        np.testing.assert_allclose(dist.ppf(q), expected, rtol=rtol, atol=5e-324)


def test_float32_distribution_moments_where_means_underflow_float32():
    # a float32 model's means of e^-200 and e^-100 - x underflow float32 (to
    # subnormal floats of two digits, or 0), not float64: the
    # distribution held them as the smallest normal float64 and gave a mean
    # of 2.2e-308 for 3.5e-57 and a std of 1.2e-308 for 8.3e-53 (x = 10),
    # a mean of 2.7e-109 for 1.4e-87 (x = 50), and 1.89e-44 for 1.86e-44
    # from float32's subnormal mean (x = 0). Expected: mpmath, from the float32
    # parameters (their logs are float32's: 1e-4)
    model = _two_experts_of(
        [[1.0], [-1.0]], [-200.0, -100.0], [[0.0], [-1.0]], dtype=np.float32
    )
    rows = np.array([[0.0], [10.0], [30.0], [50.0], [-5.0]], dtype=np.float32)
    mean, std = _exact_moments(model, rows)
    assert np.all(mean < 1e-40) and np.all(mean > 1e-300)  # (the case)
    dist = model.predict_distribution(rows)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-4)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-4)
    np.testing.assert_allclose(dist.var(), std**2, rtol=2e-4)


def test_distribution_moments_of_a_light_component_below_the_mean_warn_nothing():
    # a gate weight of e^-800 (0 as a float) or e^-720 (subnormal) beside a
    # mean of e^-5, below the other expert's 1: std() and var() gave
    # NumPy's "invalid value encountered in log1p" (the log of its
    # deviation taken for a mean beyond the floats, unused there).
    # Expected: mpmath, from the parameters
    model = _two_experts_of([[10.0], [-10.0]], [-5.0, 0.0], [[0.0], [0.0]])
    rows = np.array([[-40.0], [-36.0]])
    mean, std = _exact_moments(model, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = model.predict_distribution(rows)
        np.testing.assert_allclose(dist.mean(), mean, rtol=1e-12)
        np.testing.assert_allclose(dist.std(), std, rtol=1e-12)
        np.testing.assert_allclose(dist.var(), std**2, rtol=1e-12)


def test_predict_std_where_a_subnormal_weights_share_is_near_the_others(monkeypatch):
    # a gate weight of e^-740 (subnormal) beside a mean of e^(370 + x): its
    # share of the variance, about (1 + phi) e^(2x), is near the other
    # expert's (phi) at x in [-3, 3], and predict's float sums lose it; at
    # x = -300 (e^-600 of it) they lose nothing, and the rows keep the
    # plain path (no _far_std). Expected: mpmath, from the parameters
    import skmoe._gamma

    X, y = _two_regime_amounts(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=2, random_state=0).fit(X[:, :1], y)
    model.gate_intercept_ = np.array([0.0, -740.0])
    model.gate_coef_ = np.zeros((2, 1))
    model.expert_intercept_ = np.array([0.0, 370.0])
    model.expert_coef_ = np.array([[0.0], [1.0]])
    rows = np.array([[-3.0], [0.0], [3.0]])
    mean, std = _exact_moments(model, rows)
    assert np.all(std > 1.001 * np.sqrt(model.expert_dispersion_[0]))  # (the case)
    predicted, predicted_std = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, mean, rtol=1e-12)
    np.testing.assert_allclose(predicted_std, std, rtol=1e-10)
    far = np.array([[-300.0]])
    mean, std = _exact_moments(model, far)

    def refuse(*args):
        raise AssertionError("_far_std called")

    monkeypatch.setattr(skmoe._gamma, "_far_std", refuse)
    predicted, predicted_std = model.predict(far, return_std=True)
    np.testing.assert_allclose(predicted, mean, rtol=1e-12)
    np.testing.assert_allclose(predicted_std, std, rtol=1e-12)


def test_zero_inflated_predict_std_where_a_subnormal_weight_holds_a_large_mean():
    # a zero-inflated model whose point mass has half the gate's weight,
    # beside a weight of e^-740 (subnormal) holding a mean of e^(370 + x):
    # predict's std from the logs (_far_std) left the point mass out (its
    # dispersion, 0, taken for one that is not finite): 0.857 for 0.937 at
    # x = 0. Expected: mpmath, from the parameters (the point mass: mean 0,
    # variance 0)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 1))
    y = rng.gamma(5.0, np.exp(X[:, 0]) / 5.0)
    y[rng.uniform(size=300) < 0.3] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=3, zero_inflated=True, random_state=0)
        model.fit(X, y)
    mass = np.isneginf(model.expert_intercept_)
    assert mass.tolist() == [True, False, False]
    assert model.expert_dispersion_[0] == 0
    model.gate_intercept_ = np.array([0.0, 0.0, -740.0])
    model.gate_coef_ = np.zeros((3, 1))
    model.expert_intercept_ = np.array([-np.inf, 0.0, 370.0])
    model.expert_coef_ = np.array([[0.0], [0.0], [1.0]])
    rows = np.array([[-2.0], [0.0], [2.0]])
    mean, std = _exact_moments(model, rows)
    predicted, predicted_std = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, mean, rtol=1e-12)
    np.testing.assert_allclose(predicted_std, std, rtol=1e-10)
    np.testing.assert_allclose(model.predict_distribution(rows).std(), std, rtol=1e-10)


@pytest.mark.parametrize("float32", [False, True])
def test_std_where_a_light_weight_holds_a_mean_beyond_the_floats(float32):
    # an expert's mean beyond the floats (e^720; a float32 model's e^92)
    # beside a gate weight of e^-40 to e^-600 that holds it: the mixture's
    # mean is finite and predict served it, but predict(return_std=True)
    # raised that the outputs overflow (its units, the largest mean, were
    # inf) and predict_distribution refused the row, for a std of e^700 or
    # less (a fitted 3-expert model, seed 0: a weight of e^-609.7 beside a
    # mean of e^718.9, a std of 6.93e179). Expected: mpmath, from the
    # parameters (a float32 model's to float32's digits)
    X, y = _two_regime_amounts(0)
    dtype = np.float32 if float32 else np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=2, random_state=0)
        model.fit(X[:, :1].astype(dtype), y)
    model.gate_intercept_ = np.array([0.0, 0.0], dtype=dtype)
    model.gate_coef_ = np.array([[1.0], [-1.0]], dtype=dtype)
    top = 92.0 if float32 else 720.0
    model.expert_intercept_ = np.array([top, 0.0], dtype=dtype)
    model.expert_coef_ = np.array([[0.0], [0.0]], dtype=dtype)
    model.expert_dispersion_ = np.array([0.5, 0.2], dtype=dtype)
    rows = np.array([[-20.0], [-100.0], [-300.0]], dtype=dtype)
    if float32:
        rows = np.array([[-20.0], [-30.0]], dtype=dtype)  # (std e^72, e^62)
    mean, std = _exact_moments(model, rows)
    # (the case: the mean and std finite, the expert's mean beyond the floats)
    assert np.all(std < np.finfo(dtype).max) and top > np.log(np.finfo(dtype).max)
    rtol = 1e-5 if float32 else 1e-12
    _assert_moments(model, rows, mean, std, rtol=(rtol, rtol), var=False)


def test_mean_where_a_gate_weight_of_zero_holds_a_share_in_the_floats():
    # a gate weight that underflows to 0 (e^-800 at x = -400) beside a mean
    # of e^600: its share w mu, e^-200, is the mixture's mean (the other
    # expert's is e^-600), but predict and the distribution's mean() left the
    # expert out (1.94e-205 for 3.42e154 at a fitted 3-expert model's far
    # row, seed 0). Expected: mpmath, from the parameters. Where the share is
    # beyond the floats (e^800 at x = -800, slope -3) the expert takes no
    # part, as before: the other's mean; the std overflows there, and
    # predict(return_std=True) says so
    model = _two_experts_of([[1.0], [-1.0]], [0.0, -600.0], [[-1.5], [0.0]])
    model.expert_dispersion_ = np.array([0.5, 0.2])
    rows = np.array([[-400.0], [-380.0], [-420.0]])
    mean, std = _exact_moments(model, rows)
    weight, _ = mixture_logs(model, rows[0])
    assert float(weight[0]) < -800 + 1e-9  # (a weight of 0 as a float)
    assert np.all(mean > 1e3 * np.exp(-600.0))  # (the share matters)
    _assert_moments(model, rows, mean, std)
    assert model.score(rows, mean) == pytest.approx(1.0, abs=1e-12)
    model.expert_coef_ = np.array([[-3.0], [0.0]])
    rows = np.array([[-800.0]])
    predicted = model.predict(rows)
    np.testing.assert_allclose(predicted, np.exp(-600.0), rtol=1e-12)
    np.testing.assert_allclose(model.predict_distribution(rows).mean(), predicted)
    assert model.predict_distribution(rows).std()[0] == np.inf
    with pytest.raises(ValueError, match="standard deviation overflows float64"):
        model.predict(rows, return_std=True)


@pytest.mark.parametrize("weight", [1e-13, 1e-11, 1e-9, 1e-6])
def test_distribution_where_a_heavier_weight_holds_a_mean_beyond_the_floats(weight):
    # a mean of e^710 (beyond the floats) beside a gate weight above or below
    # HELD_WEIGHT (1e-12): the distribution takes it from its logs only below
    # (mpmath's moments), and refuses the row above, as predict does; with no
    # bound on the weight it gave a mean and std of inf for those rows.
    # Expected: mpmath, from the parameters
    X, y = _two_regime_amounts(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=2, random_state=0).fit(X[:, :1], y)
    model.gate_intercept_ = np.array([0.0, np.log(weight)])
    model.gate_coef_ = np.zeros((2, 1))
    model.expert_intercept_ = np.array([0.0, 710.0])
    model.expert_coef_ = np.zeros((2, 1))
    model.expert_dispersion_ = np.array([0.5, 0.2])
    rows = np.array([[0.0], [1.0]])
    assert 710.0 > np.log(np.finfo(float).max)
    mean, std = _exact_moments(model, rows)
    try:
        dist = model.predict_distribution(rows)
    except ValueError as error:
        assert weight > 1e-12 and "outputs overflow" in str(error)
    else:
        np.testing.assert_allclose(dist.mean(), mean, rtol=1e-12)
        np.testing.assert_allclose(dist.std(), std, rtol=1e-12)
        # (its tail: the weight, as the largest float stands for its mean)
        np.testing.assert_allclose(dist.sf(1e300), weight / (1 + weight), rtol=1e-9)


@pytest.mark.parametrize("x", [15.0, 20.0])
def test_distribution_refuses_a_light_weights_share_beyond_the_floats(x):
    # a gate weight of e^-30 or e^-40 (below HELD_WEIGHT) beside a mean of
    # e^750: the mixture mean, e^720 or e^710, is beyond the floats, and
    # predict_distribution refuses the row as predict does (taking the largest
    # float for the mean there, it gave a distribution of mean inf)
    model = _two_experts_of([[1.0], [-1.0]], [0.0, 750.0], [[0.0], [0.0]])
    log_weights, log_means = mixture_logs(model, np.array([x]))
    terms = [float(g + v) for g, v in zip(log_weights, log_means, strict=True)]
    log_mean = np.logaddexp(*terms)
    assert float(log_weights[1]) < np.log(1e-12)
    assert log_mean > np.log(np.finfo(float).max)
    with pytest.raises(ValueError, match="outputs overflow"):
        model.predict(np.array([[x]]))
    with pytest.raises(ValueError, match="outputs overflow"):
        model.predict_distribution(np.array([[x]]))


def test_mean_where_a_weight_of_0_holds_a_share_near_the_largest_float():
    # gate weights e^-750 and e^-760 (0 as floats) beside a mean of e^1450:
    # shares of e^700 (1.0e304) and e^690, floats, which the mean takes (an
    # expert of weight 0 is left out only where its share is beyond them; a
    # bound of 1e300 left out the first, mean 1.0). Expected: mpmath
    import mpmath

    model = _two_experts_of([[1.0], [-1.0]], [0.0, 1450.0], [[0.0], [0.0]])
    rows = np.array([[375.0], [380.0]])
    expected = []
    for x in rows:
        log_weights, log_means = mixture_logs(model, x)
        assert float(np.exp(float(log_weights[1]))) == 0.0
        terms = zip(log_weights, log_means, strict=True)
        expected.append(float(mpmath.fsum(mpmath.exp(g + v) for g, v in terms)))
    assert expected[0] > 1e304
    np.testing.assert_allclose(model.predict(rows), expected, rtol=1e-12)
    np.testing.assert_allclose(
        model.predict_distribution(rows).mean(), expected, rtol=1e-12
    )


def test_share_beyond_the_floats_raises_at_a_positive_weight_and_not_at_0():
    # as docs/user_guide/model.rst says: a mean of e^(4 |x|) beside a gate
    # weight of e^(2 x), whose share e^(2 |x|) is beyond the floats from
    # x = -354.9: at x = -370 the weight e^-740 is a subnormal float and
    # predict raises; at x = -380 it is 0, the expert takes no part, and the
    # mean served is the other's, 1 (its weight 1 / (1 + e^-760) times e^0),
    # where the mixture's, e^760, is beyond the floats
    model = _two_experts_of([[1.0], [-1.0]], [0.0, 0.0], [[-4.0], [0.0]])
    assert np.exp(-740.0) > 0.0 and np.exp(-760.0) == 0.0
    with pytest.raises(ValueError, match="outputs overflow float64"):
        model.predict(np.array([[-370.0]]))
    np.testing.assert_allclose(model.predict(np.array([[-380.0]])), [1.0])
    np.testing.assert_allclose(model.predict(np.array([[-350.0]])), np.exp(700.0))


def test_std_overflow_message_claims_nothing_of_other_chunks(monkeypatch):
    # a std beyond the floats beside a finite mean, 1, at x = -380 (a share
    # of e^760 at a gate weight of 0), and a mean beyond the floats at x =
    # -370 (e^740 at a weight of e^-740): in chunks of one row the first
    # chunk's message said "predict(X) without return_std gives" the means,
    # where predict(X) raises at the second row
    model = _two_experts_of([[1.0], [-1.0]], [0.0, 0.0], [[-4.0], [0.0]])
    rows = np.array([[-380.0], [-370.0]])
    # (rows of 8 bytes times 1 + 1 + 4 * 2 values: one row per chunk)
    monkeypatch.setattr("skmoe._base.HOST_CHUNK_BYTES", 80)
    with pytest.raises(ValueError, match="outputs overflow float64"):
        model.predict(rows)
    with pytest.raises(ValueError, match="deviation overflows float64") as info:
        model.predict(rows, return_std=True)
    assert "predict(X)" not in str(info.value)


def test_float32_mean_leaves_out_a_share_beyond_float32_as_predict():
    # a float32 model whose gate weight underflows to 0 in float32 (e^-120
    # at x = -60, e^-400 at x = -200) beside a mean of e^(2.5 |x|): its share
    # e^30 is a float32 and the mixture's mean (mpmath); e^100 is beyond
    # float32, and predict leaves the expert out (the other's mean, 1 = its
    # weight 1 / (1 + e^-400) times e^0), but the float64 distribution's
    # mean() took it (2.7e43 beside predict's 1)
    model = _two_experts_of(
        [[1.0], [-1.0]], [0.0, 0.0], [[-2.5], [0.0]], dtype=np.float32
    )
    rows = np.array([[-60.0], [-200.0]], dtype=np.float32)
    exact, _ = _exact_moments(model, rows[:1])
    assert exact[0] > 1e13  # (the share, e^30, is the mean)
    predicted = model.predict(rows)
    np.testing.assert_allclose(predicted, [exact[0], 1.0], rtol=1e-4)
    np.testing.assert_allclose(model.predict_distribution(rows).mean(), predicted)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_inflated_predict_std_of_far_rows_keeps_the_point_mass(dtype):
    # predict's std from the logs (_far_std), rows where a gate weight is
    # below the dtype's smallest normal float, of a zero-inflated model
    # whose point mass has most of the gate's weight (its dispersion, 0,
    # once left it out: 0.794 for mpmath's 0.271 at x = 0, 1.036 for 0.184
    # at x = 1, in float32 and float64 alike), and equal to
    # predict_distribution's std. Expected: mpmath, from the parameters
    # (the point mass: mean 0, variance 0)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 1)).astype(dtype)
    y = rng.gamma(5.0, np.exp(X[:, 0]) / 5.0).astype(dtype)
    y[rng.uniform(size=300) < 0.3] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=3, zero_inflated=True, random_state=0)
        model.fit(X, y)
    assert np.isneginf(model.expert_intercept_).tolist() == [True, False, False]
    # (a weight below float32's smallest normal, 1.2e-38, or float64's)
    low = -95.0 if dtype == np.float32 else -740.0
    model.gate_intercept_ = np.array([3.0, -2.0, low], dtype=dtype)
    model.gate_coef_ = np.array([[1.0], [0.0], [-2.0]], dtype=dtype)
    model.expert_intercept_ = np.array([-np.inf, 0.5, -low / 2], dtype=dtype)
    model.expert_coef_ = np.array([[0.0], [0.3], [1.0]], dtype=dtype)
    rows = np.array([[-2.0], [0.0], [1.0]], dtype=dtype)
    mean, std = _exact_moments(model, rows)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predicted, predicted_std = model.predict(rows, return_std=True)
        distribution_std = model.predict_distribution(rows).std()
    assert predicted_std.dtype == dtype
    np.testing.assert_allclose(predicted, mean, rtol=rtol)
    np.testing.assert_allclose(predicted_std, std, rtol=rtol)
    np.testing.assert_allclose(distribution_std, std, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_std_of_a_genuine_mean_below_half_the_point_masss_log_mean(
    dtype, monkeypatch
):
    # a model without a point mass whose first expert's log mean, -6e4 +
    # 100 x, is below half ZERO_LOG_RATE on rows whose third gate weight is
    # subnormal: _far_std takes it for the point mass (mean 0, shape 1)
    # where its mean is e^-6e4 and its dispersion 1e30, whose share of the
    # variance, below e^-1e5, no float holds. Expected: mpmath
    import skmoe._gamma
    from skmoe.experts._point_mass import ZERO_LOG_RATE

    X, y = _two_regime_amounts(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=3, random_state=0)
        model.fit(X[:, :1].astype(dtype), y.astype(dtype))
    low = -95.0 if dtype == np.float32 else -740.0
    dispersion = model.expert_dispersion_.copy()
    dispersion[0] = 1e30
    model.expert_dispersion_ = dispersion
    model.gate_intercept_ = np.array([0.0, 0.0, low], dtype=dtype)
    model.gate_coef_ = np.zeros((3, 1), dtype=dtype)
    model.expert_intercept_ = np.array([-6e4, 0.0, -low / 2], dtype=dtype)
    model.expert_coef_ = np.array([[100.0], [0.0], [1.0]], dtype=dtype)
    rows = np.array([[-2.0], [0.0], [2.0]], dtype=dtype)
    assert np.all(-6e4 + 100 * rows < 0.5 * ZERO_LOG_RATE)  # (the case)
    mean, std = _exact_moments(model, rows)
    called = []
    far_std = skmoe._gamma._far_std
    monkeypatch.setattr(
        skmoe._gamma, "_far_std", lambda *parts: called.append(1) or far_std(*parts)
    )
    predicted, predicted_std = model.predict(rows, return_std=True)
    assert called  # (the far rows' path)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(predicted, mean, rtol=rtol)
    np.testing.assert_allclose(predicted_std, std, rtol=rtol)
    np.testing.assert_allclose(model.predict_distribution(rows).std(), std, rtol=rtol)


def test_distribution_tail_where_a_light_weight_holds_a_mean_beyond_the_floats():
    # a mean of e^720, beyond the floats, beside a gate weight of e^-40 that
    # holds it: the distribution served the row with 1 standing for that
    # mean, so its tail went missing (sf 1.2e-102 at 100 for 4.2e-18, 5.45e-17
    # at 10 for 5.87e-17). Expected: mpmath's regularized incomplete gamma
    # functions of the set parameters
    mpmath = pytest.importorskip("mpmath")
    X, y = _two_regime_amounts(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEGammaRegressor(n_experts=2, random_state=0).fit(X[:, :1], y)
    model.gate_intercept_ = np.array([0.0, 0.0])
    model.gate_coef_ = np.array([[1.0], [-1.0]])
    model.expert_intercept_ = np.array([720.0, 0.0])
    model.expert_coef_ = np.zeros((2, 1))
    model.expert_dispersion_ = np.array([0.5, 0.2])
    with mpmath.workdps(40):
        log_weight = -40 - mpmath.log1p(mpmath.exp(-40))
        weights = [mpmath.exp(log_weight), 1 - mpmath.exp(log_weight)]
        means = [mpmath.exp(720), mpmath.mpf(1)]
        dist = model.predict_distribution(np.array([[-20.0]]))
        for value in (10.0, 100.0, 1e10):
            # (shape 1 / phi, scale mu phi)
            expected = sum(
                w
                * mpmath.gammainc(1 / mpmath.mpf(phi), value / (mu * phi), mpmath.inf)
                / mpmath.gamma(1 / mpmath.mpf(phi))
                for w, mu, phi in zip(weights, means, (0.5, 0.2), strict=True)
            )
            np.testing.assert_allclose(dist.sf(value), float(expected), rtol=1e-10)


def test_distribution_quantiles_beside_a_weight_0_mean_beyond_the_floats():
    # row x = 400: expert 0's mean e^-720 (below the normal floats) carries
    # the row; expert 1's gate weight is e^-800 (0 as a float) and its mean
    # e^800 (beyond them: the largest float stands in). ppf solves the row
    # with the means scaled by 2^s from their logs; the expert of weight 0
    # takes no part in s (counting it, its log mean 800 put the scaled means
    # past the floats, and ppf fell back on the smallest normal float that
    # ``means`` holds: 1.37e-308 for 1.25e-313). Expected: the root of
    # mpmath's cdf of both components, from the parameters
    import mpmath

    model = _two_experts_of([[1.0], [-1.0]], [-720.0, 0.0], [[0.0], [2.0]])
    shapes = [mpmath.mpf(float(v)) for v in 1 / model.expert_dispersion_]
    x = np.array([400.0])
    dist = model.predict_distribution(x[None, :])
    assert dist.weights[0, 1] == 0 and dist.means[0, 1] == np.finfo(float).max
    log_weights, log_means = mixture_logs(model, x)
    parts = list(zip(log_weights, log_means, shapes, strict=True))

    for q in [1e-10, 0.25, 0.75]:
        low, high = min(log_means) - 60, max(log_means) + 10
        expected = _mpmath_gamma_quantile(parts, q, low, high, 90)
        np.testing.assert_allclose(dist.ppf(q), [expected], rtol=1e-9, atol=5e-324)


def test_distribution_cdf_of_a_light_expert_whose_mean_overflows():
    # row x = 50: expert 1's gate weight e^-100 holds a mean of e^800 (beyond
    # the floats: the largest float stands in; its share e^700 is a float) of
    # shape 0.01, whose cdf P(0.01, 0.01 y / mu) is about e^-8 at y = 1e-3;
    # expert 0's (mean e^50, shape 4) is 1e-88 there, so the mixture's cdf is
    # the light expert's share. Its x = nu y / mu underflows, and its log is
    # taken from the log mean: from the stand-in's log (709.8 for 800) the
    # cdf was 2.76e-47 for 1.12e-47. Expected: mpmath, from the parameters
    import mpmath

    model = _two_experts_of([[1.0], [-1.0]], [50.0, 0.0], [[0.0], [16.0]])
    model.expert_dispersion_ = np.array([0.25, 100.0])
    x = np.array([50.0])
    dist = model.predict_distribution(x[None, :])
    assert dist.means[0, 1] == np.finfo(float).max  # (the case)
    log_weights, log_means = mixture_logs(model, x)
    shapes = [mpmath.mpf(v) for v in (4, 0.01)]
    for y in [1e-3, 1.0, 1e10]:
        expected = mpmath.fsum(
            mpmath.exp(g)
            * mpmath.gammainc(k, 0, k * mpmath.mpf(y) / mpmath.exp(v), regularized=True)
            for g, v, k in zip(log_weights, log_means, shapes, strict=True)
        )
        np.testing.assert_allclose(dist.cdf(y), [float(expected)], rtol=1e-12)
        np.testing.assert_allclose(dist.sf(y), [float(1 - expected)], rtol=1e-15)


@pytest.mark.parametrize(
    "dtype, intercepts, slope, dispersion, x, q, rtol",
    [
        (np.float64, [50.0, 0.0], 16.0, 100.0, 50.0, 3e-48, 1e-9),
        (np.float64, [50.0, 0.0], 16.0, 100.0, 50.0, 1.15e-47, 1e-9),
        (np.float64, [50.0, 0.0], 16.0, 100.0, 50.0, 1.5e-47, 1e-9),
        (np.float32, [10.0, 0.0], 5.0, 20.0, 20.0, 1e-25, 1e-5),
        (np.float32, [10.0, 0.0], 5.0, 20.0, 20.0, 1e-20, 1e-5),
    ],
)
def test_distribution_quantiles_of_a_light_expert_whose_mean_overflows(
    dtype, intercepts, slope, dispersion, x, q, rtol
):
    # float64: the row of the test above; below 1.1e-47 (expert 1's gate
    # weight e^-100 times its cdf) the mixture's quantiles are expert 1's, of
    # mean e^800 beyond the floats and shape 0.01. ppf solved them with the
    # largest float standing in for its mean, where cdf and sf take y / mu
    # from its log mean: ppf(1.15e-47) was 1.05e-41 for 0.016 (cdf(ppf(q))
    # 4.7e-48), ppf(3e-48) 4.6e-100 for 7.0e-61. float32: a gate weight e^-40
    # holds a mean of e^100 (beyond float32, a float64; shape 0.05), whose
    # float32 stand-in gave ppf(1e-20) 1.08e-13 for 8.57e-9 (a fitted float32
    # model's row, seed 2: ppf(1e-47) 6.3e28 for 1.41e34). Expected: the
    # root of mpmath's cdf, from the parameters (float32's logs: 1e-5)
    import mpmath

    model = _two_experts_of([[1.0], [-1.0]], intercepts, [[0.0], [slope]], dtype)
    model.expert_dispersion_ = np.array([0.25, dispersion], dtype=dtype)
    rows = np.array([[x]], dtype=dtype)
    dist = model.predict_distribution(rows)
    assert dist.means[0, 1] == np.finfo(dtype).max  # (the case)
    log_weights, log_means = mixture_logs(model, rows[0])
    shapes = [mpmath.mpf(float(v)) for v in 1 / model.expert_dispersion_]
    parts = list(zip(log_weights, log_means, shapes, strict=True))

    expected = _mpmath_gamma_quantile(parts, q, -745, 710, 100)
    np.testing.assert_allclose(dist.ppf(q), [expected], rtol=rtol)
    # (the cdf rises as y^0.01 or y^0.05 there: 1e-11 of q is 1e-9 of y)
    np.testing.assert_allclose(dist.cdf(dist.ppf(q)), [q], rtol=1e-11)


@pytest.mark.parametrize("dispersion", [5.0, 10.0])
def test_distribution_quantiles_of_a_light_expert_whose_mean_overflows_by_steps(
    monkeypatch, dispersion
):
    # x = 50: expert 1 of gate weight e^-100 and mean e^800 (beyond the
    # floats), of shape 0.2 or 0.1, beside expert 0 of mean e^700 and shape 50,
    # whose cdf is negligible below e^690: there the quantiles are expert 1's
    # (1.2e265 at q = 1e-60). Its row, scaled by 2^s (s < 0) into the floats,
    # is solved by Halley's steps (the test above's rows, of shape 0.01, by the
    # root finder), then brought back; the largest float standing in for its
    # mean gave 8.2e225 (2.2e143 for 3.3e182 at shape 0.1). Expected: the
    # root of mpmath's cdf, from the parameters
    import mpmath

    import skmoe._gamma_distribution as gamma_module

    solved = []
    steps = gamma_module._halley_quantiles

    def recorded(*args):
        found = steps(*args)
        solved.append(found[0].copy())
        return found

    monkeypatch.setattr(gamma_module, "_halley_quantiles", recorded)
    model = _two_experts_of([[1.0], [-1.0]], [700.0, 0.0], [[0.0], [16.0]])
    model.expert_dispersion_ = np.array([0.02, dispersion])
    dist = model.predict_distribution(np.array([[50.0]]))
    assert dist.means[0, 1] == np.finfo(float).max  # (the case)
    log_weights, log_means = mixture_logs(model, [50.0])
    shapes = [mpmath.mpf(float(v)) for v in 1 / model.expert_dispersion_]
    parts = list(zip(log_weights, log_means, shapes, strict=True))

    for q in [1e-60, 1e-57, 1e-50]:
        solved.clear()
        got = dist.ppf(q)
        assert solved[-1].tolist() == [True]  # (the scaled row's steps)
        with mpmath.workdps(30):
            expected = _mpmath_gamma_quantile(parts, q, -745, 710, 120)
        # (y as q^5 or q^10 there: the cdf's rounding, 1e-14 of y)
        np.testing.assert_allclose(got, [expected], rtol=1e-12)


def test_distribution_quantiles_where_means_span_more_than_the_floats():
    # row x = 100: expert 0's mean e^-720 (weight 1) and expert 1's e^800
    # (weight e^-200): no power of two brings both within the normal floats,
    # and ppf keeps the stand-ins' mixture (still inexact: 1.37e-308 for
    # mpmath's 1.25e-313 at q = 0.25). Scaling such a row anyway (e^800 into
    # the floats) took e^-720 to 0, the zero-inflated point mass, and gave
    # quantiles of 0 for a mixture without mass at zero
    model = _two_experts_of([[1.0], [-1.0]], [-720.0, 0.0], [[0.0], [8.0]])
    dist = model.predict_distribution(np.array([[100.0]]))
    assert dist.means[0, 1] == np.finfo(float).max  # (the case)
    np.testing.assert_array_equal(dist.cdf(0.0), 0.0)
    quantiles = dist.ppf(np.array([[1e-10], [0.25], [0.75]]))[:, 0]
    assert np.all(quantiles > 0) and np.all(np.isfinite(quantiles))
    assert np.all(np.diff(quantiles) > 0)
