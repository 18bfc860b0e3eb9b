"""MoERegressor: recovery, predictive distribution, information criteria."""

import itertools
import math
import pickle
import re
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from scipy.optimize import brentq
from sklearn.linear_model import LinearRegression

from skmoe import MoERegressor, PredictiveMixture, PredictiveStudentTMixture
from skmoe.exceptions import SkmoeWarning


def test_recovers_a_known_three_expert_model(gated_regression):
    X, y, coef, intercept, scale = gated_regression
    model = MoERegressor(3, random_state=0).fit(X, y)
    # match experts to the truth up to permutation
    best = min(
        itertools.permutations(range(3)),
        key=lambda p: np.abs(model.expert_coef_[list(p)] - coef).sum(),
    )
    order = list(best)
    np.testing.assert_allclose(model.expert_coef_[order], coef, atol=0.1)
    np.testing.assert_allclose(model.expert_intercept_[order], intercept, atol=0.15)
    np.testing.assert_allclose(np.sqrt(model.expert_variance_[order]), scale, rtol=0.2)
    # the gate routes x0 << 0 to the first true expert and x0 >> 0 to the third
    gate = model.predict_gate(np.array([[-2.5, 0.0], [0.0, 0.0], [2.5, 0.0]]))
    # fitted expert order[j] is true expert j, which dominates the j-th point
    np.testing.assert_array_equal(np.argmax(gate, axis=1), order)


def test_constant_gate_recovers_crossing_lines(crossing_lines):
    X, y = crossing_lines
    model = MoERegressor(2, gate="constant", random_state=0).fit(X, y)
    slopes = np.sort(model.expert_coef_[:, 0])
    np.testing.assert_allclose(slopes, [-1.5, 2.0], atol=0.1)
    np.testing.assert_allclose(
        np.sort(model.predict_gate(X[:1])[0]), [0.5, 0.5], atol=0.1
    )
    np.testing.assert_allclose(model.gate_coef_, 0.0)
    # the intercepts are the centred log proportions, as a softmax gate's
    proportions = model.predict_gate(X[:1])[0]
    centred = np.log(proportions) - np.mean(np.log(proportions))
    np.testing.assert_allclose(model.gate_intercept_, centred, atol=1e-12)


def test_predict_return_std_matches_distribution(gated_regression):
    X, y, *_ = gated_regression
    model = MoERegressor(3, random_state=0).fit(X, y)
    mean, std = model.predict(X[:50], return_std=True)
    dist = model.predict_distribution(X[:50])
    np.testing.assert_allclose(mean, dist.mean())
    np.testing.assert_allclose(std, dist.std())
    np.testing.assert_allclose(mean, model.predict(X[:50]))
    # independently: mean and variance by brute force from weights, means, scales
    w, mu, s = dist.weights, dist.means, dist.scales
    np.testing.assert_allclose(mean, (w * mu).sum(1))
    np.testing.assert_allclose(std**2, (w * (s**2 + (mu - mean[:, None]) ** 2)).sum(1))
    assert dist.weights.shape == (50, 3) and len(dist) == 50


def test_predictive_mixture_against_quadrature():
    dist = PredictiveMixture([[0.3, 0.7]], [[-2.0, 1.5]], [[0.5, 1.2]])
    density = lambda t: float(dist.pdf(np.array([t]))[0])  # noqa: E731
    for y in [-3.0, -1.0, 0.5, 2.0]:
        integral, _ = quad(density, -np.inf, y)
        np.testing.assert_allclose(dist.cdf(np.array([y]))[0], integral, rtol=1e-7)
    total, _ = quad(density, -np.inf, np.inf)
    np.testing.assert_allclose(total, 1.0, rtol=1e-8)
    # the moments: the spread between the components counts too
    mean, _ = quad(lambda t: t * density(t), -np.inf, np.inf)
    variance, _ = quad(lambda t: (t - mean) ** 2 * density(t), -np.inf, np.inf)
    np.testing.assert_allclose(dist.mean()[0], mean, rtol=1e-8)
    np.testing.assert_allclose(dist.var()[0], variance, rtol=1e-8)
    np.testing.assert_allclose(dist.std()[0], np.sqrt(variance), rtol=1e-8)
    q = np.array([0.001, 0.1, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(dist.cdf(dist.ppf(q[:, None])[:, 0]), q, rtol=1e-9)


def test_ppf_vectorized_over_rows_and_quantiles(gated_regression):
    X, y, *_ = gated_regression
    dist = MoERegressor(3, random_state=0).fit(X, y).predict_distribution(X[:20])
    q = np.array([[0.05], [0.5], [0.95]])
    quantiles = dist.ppf(q)
    assert quantiles.shape == (3, 20)
    np.testing.assert_allclose(
        dist.cdf(quantiles), np.broadcast_to(q, (3, 20)), atol=1e-9
    )
    assert np.all(np.diff(quantiles, axis=0) > 0)
    with pytest.raises(ValueError, match="q must be in"):
        dist.ppf(1.5)


@pytest.mark.parametrize("q", [1e-12, 0.975, 1 - 1e-12, 1 - 1e-15])
def test_ppf_is_accurate_in_both_tails(q):
    # upper quantiles solved on the cdf kept only 1e-16 of the tail: a relative
    # error of 5e-5 in the tail mass at 1 - 1e-12, 3e-2 at 1 - 1e-15
    dist = PredictiveMixture([[0.3, 0.7]], [[0.0, 5.0]], [[1.0, 2.0]])
    y = dist.ppf(q)[0]
    if q > 0.5:
        tail, mass = 1 - q, 0.3 * stats.norm.sf(y) + 0.7 * stats.norm.sf(y, 5, 2)
    else:
        tail, mass = q, 0.3 * stats.norm.cdf(y) + 0.7 * stats.norm.cdf(y, 5, 2)
    np.testing.assert_allclose(mass, tail, rtol=1e-12)


def test_ppf_finite_when_a_component_has_negligible_weight():
    # rounding used to erase the sign change at the end of the bracket (NaN)
    dist = PredictiveMixture([[3.1e-17, 1.0]], [[-2.994, 2.993]], [[0.096, 0.102]])
    expected = 2.993 + 0.102 * 1.6448536269514722  # the heavy component's quantile
    np.testing.assert_allclose(dist.ppf(0.95), [expected], rtol=1e-9)
    rng = np.random.RandomState(0)
    weights = rng.dirichlet([0.05] * 3, size=500)
    weights[:, 0] *= 1e-16
    weights /= weights.sum(1, keepdims=True)
    dist = PredictiveMixture(
        weights, 3 * rng.randn(500, 3), rng.uniform(0.05, 2, (500, 3))
    )
    q = rng.uniform(size=500)
    np.testing.assert_allclose(dist.cdf(dist.ppf(q)), q, atol=1e-10)
    np.testing.assert_array_equal(
        dist.ppf(np.array([0.0, 1.0])[:, None])[:, 0], [-np.inf, np.inf]
    )


def test_sample_matches_mean_and_std():
    dist = PredictiveMixture(
        [[0.3, 0.7], [1.0, 0.0]], [[-2.0, 1.5], [0.0, 9.0]], [[0.5, 1.2], [2.0, 1.0]]
    )
    draws = dist.sample(200_000, random_state=0)
    assert draws.shape == (200_000, 2)
    np.testing.assert_allclose(draws.mean(0), dist.mean(), atol=0.02)
    np.testing.assert_allclose(draws.std(0), dist.std(), rtol=0.01)
    np.testing.assert_array_equal(draws, dist.sample(200_000, random_state=0))


def test_bic_aic_closed_form(gated_regression):
    X, y, *_ = gated_regression
    model = MoERegressor(2, random_state=0).fit(X, y)
    n, d = X.shape
    # softmax gate (K-1)(D+1) + Gaussian experts K(D+1) + K variances
    p = (2 - 1) * (d + 1) + 2 * (d + 1) + 2
    log_likelihood = model.predict_distribution(X).logpdf(y).sum()
    np.testing.assert_allclose(model.bic(X, y), -2 * log_likelihood + p * np.log(n))
    np.testing.assert_allclose(model.aic(X, y), -2 * log_likelihood + 2 * p)
    constant = MoERegressor(2, gate="constant", random_state=0).fit(X, y)
    p_constant = (2 - 1) + 2 * (d + 1) + 2
    ll_constant = constant.predict_distribution(X).logpdf(y).sum()
    np.testing.assert_allclose(constant.aic(X, y), -2 * ll_constant + 2 * p_constant)


def test_bic_prefers_the_true_number_of_experts(gated_regression):
    X, y, *_ = gated_regression
    bics = {
        k: MoERegressor(k, random_state=0).fit(X, y).bic(X, y) for k in (1, 2, 3, 5)
    }
    assert min(bics, key=bics.get) == 3


def test_float32_is_computed_in_float32(gated_regression):
    X, y, *_ = gated_regression
    m32 = MoERegressor(3, random_state=0).fit(
        X.astype(np.float32), y.astype(np.float32)
    )
    m64 = MoERegressor(3, random_state=0).fit(X, y)
    assert m32.expert_coef_.dtype == np.float32
    assert m32.gate_coef_.dtype == np.float32
    assert m32.expert_usage_.dtype == np.float32
    assert m32.predict(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(m32.predict(X), m64.predict(X), atol=0.05)
    np.testing.assert_allclose(m32.log_likelihood_, m64.log_likelihood_, rtol=1e-3)


def test_auto_tries_as_many_experts_as_rows_of_positive_weight():
    # "auto" tries K = 1 to 4, fewer where fewer rows weigh: 3 rows of
    # positive weight try 1, 2 and 3 (the two larger not fitted: too few
    # samples), and one expert's BIC is least squares' with its MLE variance,
    # 3 parameters; one row of positive weight fits one expert
    rng = np.random.RandomState(0)
    X = rng.randn(8, 1)
    y = X[:, 0] + rng.randn(8)
    weight = np.r_[np.ones(3), np.zeros(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor("auto", random_state=0).fit(X, y, sample_weight=weight)
    residual = y[:3] - LinearRegression().fit(X[:3], y[:3]).predict(X[:3])
    scale = np.sqrt(np.mean(residual**2))
    bic = -2 * np.sum(stats.norm.logpdf(residual, scale=scale)) + 3 * np.log(3)
    assert model.n_experts_bic_.shape == (3,)
    assert model.n_experts_bic_[0] == pytest.approx(bic, rel=1e-6)
    assert np.all(np.isinf(model.n_experts_bic_[1:]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = MoERegressor("auto", random_state=0)
        one.fit(X, y, sample_weight=np.r_[1.0, np.zeros(7)])
    assert one.n_experts_ == 1
    assert one.n_experts_bic_.shape == (1,)


def test_auto_n_experts_picks_the_true_number_by_bic(gated_regression):
    X, y = gated_regression[:2]
    model = MoERegressor(random_state=0).fit(X, y)  # n_experts="auto"
    assert model.n_experts_ == 3
    assert model.n_experts_bic_.shape == (4,)
    assert np.argmin(model.n_experts_bic_) == 2
    # the recorded criterion is the model's own BIC on the training data
    np.testing.assert_allclose(model.n_experts_bic_[2], model.bic(X, y), rtol=1e-9)
    # and each candidate's is the BIC of that fit with the same restarts
    two = MoERegressor(2, random_state=0).fit(X, y)
    assert two.bic(X, y) > model.bic(X, y)


def test_auto_n_experts_is_linear_regression_without_regimes():
    from sklearn.linear_model import LinearRegression

    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.randn(300)
    model = MoERegressor(alpha=0, random_state=0).fit(X, y)
    assert model.n_experts_ == 1
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-6)


def test_auto_n_experts_warm_start_keeps_the_chosen_number(gated_regression):
    X, y = gated_regression[:2]
    model = MoERegressor(random_state=0, warm_start=True, max_iter=5).fit(X, y)
    chosen = model.n_experts_
    model.set_params(max_iter=50).fit(X, y)
    assert model.n_experts_ == chosen


def test_warm_refit_does_not_check_the_n_experts_it_ignores():
    # set_params(n_experts=200) and a warm refit on 160 rows raised that 160
    # rows were too few for 200 experts, which the warm fit ignores (it
    # continues the 2 fitted ones): it now fits as with n_experts=2
    rng = np.random.RandomState(0)
    X = rng.randn(160, 2)
    y = np.where(X[:, 1] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.randn(160)
    first = MoERegressor(n_experts=2, warm_start=True, random_state=0, max_iter=5)
    first.fit(X, y)
    reference = pickle.loads(pickle.dumps(first)).set_params(max_iter=100).fit(X, y)
    with pytest.warns(SkmoeWarning, match="ignores n_experts=200"):
        first.set_params(n_experts=200, max_iter=100).fit(X, y)
    assert first.n_experts_ == 2
    np.testing.assert_array_equal(first.expert_coef_, reference.expert_coef_)
    np.testing.assert_array_equal(first.log_likelihood_, reference.log_likelihood_)
    # the fitted number is still checked, and a fresh fit checks n_experts
    with pytest.raises(ValueError, match="n_samples=1 should be >= the 2 fitted"):
        first.fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="n_samples=160 should be >= n_experts=200"):
        first.set_params(warm_start=False).fit(X, y)


def test_warm_refit_errors_of_the_fitted_number_name_a_remedy_that_works():
    # the checks of a warm refit against the fitted number of experts told to
    # "pass fewer experts", which the warm fit ignores (n_experts=1 raised as
    # n_experts=2 did), and the Gamma one read "the 2 Gamma experts of fitted":
    # they name warm_start=False, with which the same data fit
    from skmoe import MoEGammaRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(160, 2)
    groups = np.repeat(np.arange(40), 4)
    X[:, 1] = X[4 * groups, 1]  # the gate's feature, one value per group
    y = np.where(X[:, 1] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.randn(160)
    model = MoERegressor(n_experts=2, warm_start=True, gate_features=[1], max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, groups=groups)
    one_group = (groups == 0).astype(float)  # 1 group of positive weight
    message = (
        "groups has 1 groups of positive weight, fewer than the 2 fitted experts "
        "that warm_start=True continues; set warm_start=False, or pass more groups."
    )
    for n_experts in (1, "auto"):  # ("auto" too: mutation testing)
        with pytest.raises(ValueError, match=re.escape(message)):
            model.set_params(n_experts=n_experts).fit(
                X, y, sample_weight=one_group, groups=groups
            )
    model.set_params(n_experts=1, warm_start=False)
    model.fit(X, y, sample_weight=one_group, groups=groups)
    assert model.n_experts_ == 1

    amounts = np.zeros(160)
    amounts[[3, 7]] = [1.5, 2.5]
    lone = amounts.copy()
    lone[7] = 0  # 1 positive amount, for the fitted 2 Gamma experts
    model = MoEGammaRegressor(n_experts=3, zero_inflated=True, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.set_params(max_iter=5).fit(X, amounts)
    message = (
        "y has 1 positive amount(s) of positive weight for the 2 Gamma experts of "
        "the 3 fitted experts that warm_start=True continues (the first is the "
        "point mass at zero); set warm_start=False, or pass more positive amounts."
    )
    for n_experts in (2, "auto"):  # ("auto" fitted 3 experts to 1 amount)
        with pytest.raises(ValueError, match=re.escape(message)):
            model.set_params(n_experts=n_experts).fit(X, lone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.set_params(n_experts=2, warm_start=False).fit(X, lone)
    assert model.n_experts_ == 2


def test_auto_n_experts_warns_when_it_stops_at_its_largest_candidate():
    # six regimes: "auto" chose 4 experts (R^2 0.31; 0.99 with six) while BIC
    # still fell steeply, without a word
    rng = np.random.RandomState(0)
    X = rng.uniform(-6, 6, (3000, 1))
    regime = np.digitize(X[:, 0], [-4, -2, 0, 2, 4])
    slopes, intercepts = np.tile([3.0, -3.0], 3), np.array([10, -10, 5, -5, 8, -8.0])
    y = slopes[regime] * X[:, 0] + intercepts[regime] + 0.3 * rng.randn(3000)
    with pytest.warns(UserWarning, match="chose 4 experts, the most it tries"):
        model = MoERegressor(random_state=0, n_init=2).fit(X, y)
    assert model.n_experts_bic_[-1] < model.n_experts_bic_[-2]
    assert MoERegressor(6, random_state=0).fit(X, y).bic(X, y) < np.min(
        model.n_experts_bic_
    )
    # three regimes: chosen below the largest candidate, no such word
    X, y = X[regime < 3], y[regime < 3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fewer = MoERegressor(random_state=0, n_init=2).fit(X, y)
    assert fewer.n_experts_ == 3
    assert not [w for w in caught if "the most it tries" in str(w.message)]


def test_auto_n_experts_does_not_ask_for_more_experts_it_pruned():
    # two regimes: the fits of 3 and 4 experts were pruned back to 2, their
    # BIC 0.001 apart, and "auto" warned that the data may need more (QA)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (500, 1))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.3 * rng.randn(500)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MoERegressor(prune_threshold=0.3, n_init=4, random_state=0)
        model.fit(X, y)
    assert model.n_experts_ == 2
    assert model.n_experts_bic_[-1] < np.min(model.n_experts_bic_[:-1])
    assert not [w for w in caught if "the most it tries" in str(w.message)]


def test_auto_n_experts_passes_over_collapsed_fits():
    # noise without regimes, and few points repeated: mixtures with several experts
    # can only win BIC by collapsing experts onto a few points
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 2), rng.randn(30)
    model = MoERegressor(random_state=0).fit(X, y)
    assert model.n_experts_ == 1
    assert np.isinf(model.n_experts_bic_[3])  # 4 experts: under 8 samples each
    X_dup = np.repeat(rng.randn(5, 2), 20, axis=0)
    y_dup = np.repeat(rng.randn(5), 20)
    model = MoERegressor(random_state=0).fit(X_dup, y_dup)
    assert model.n_experts_ == 1
    assert np.all(np.isinf(model.n_experts_bic_[1:]))


def test_auto_n_experts_reporting(capsys):
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 2), rng.randn(30)
    model = MoERegressor(n_init=3, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    # one expert has one optimum: a single restart; 4 experts cannot each get 2
    # samples per parameter (4) out of 30: not fitted at all
    assert out.count("Restart") == 1 + 2 * 3
    assert "n_experts=4: not fitted (30 samples give each expert at most 7" in out
    assert np.isinf(model.n_experts_bic_[3])
    # a warm refit chooses no number of experts: the old BICs do not stay
    model.set_params(warm_start=True, verbose=0).fit(X, y)
    assert not hasattr(model, "n_experts_bic_")


def test_auto_n_experts_does_not_depend_on_the_scale_of_sample_weights(
    gated_regression,
):
    X, y = gated_regression[:2]
    weights = np.random.RandomState(1).uniform(0.5, 1.5, size=len(y))
    a = MoERegressor(random_state=0).fit(X, y, sample_weight=weights)
    b = MoERegressor(random_state=0).fit(X, y, sample_weight=weights / weights.sum())
    assert a.n_experts_ == b.n_experts_ == 3
    np.testing.assert_allclose(a.n_experts_bic_, b.n_experts_bic_, rtol=1e-6)


@pytest.mark.parametrize(
    "weights, means, scales, match",
    [
        ([0.5, 0.5], [0.0, 1.0], [1.0, 1.0], "same shape"),
        ([[0.5, 0.5]], [[0.0, 1.0, 2.0]], [[1.0, 1.0]], "same shape"),
        ([[0.7, 0.7]], [[0.0, 1.0]], [[1.0, 1.0]], "sum to one"),
        ([[1.5, -0.5]], [[0.0, 1.0]], [[1.0, 1.0]], "non-negative"),
        # the message names the first offending row and its value
        (
            [[0.5, 0.5], [0.25, 0.5]],
            [[0.0, 1.0]] * 2,
            [[1.0, 1.0]] * 2,
            r"got a sum of 0\.75 in row 1\.",
        ),
        (
            [[0.5, 0.5], [1.25, -0.25]],
            [[0.0, 1.0]] * 2,
            [[1.0, 1.0]] * 2,
            r"got -0\.25 in row 1\.",
        ),
        ([[0.5, np.nan]], [[0.0, 1.0]], [[1.0, 1.0]], r"got a sum of nan in row 0\."),
        # a negative weight of any size, where the row sums to one
        (
            [[0.5, 0.5], [1.0, -1e-300]],
            [[0.0, 1.0]] * 2,
            [[1.0, 1.0]] * 2,
            r"got -1e-300 in row 1\.",
        ),
        # sums 1e-5 from one, past the 1e-6 allowed
        (
            [[0.5, 0.5], [0.5, 0.5], [0.5, 0.50001]],
            [[0.0, 1.0]] * 3,
            [[1.0, 1.0]] * 3,
            r"got a sum of 1\.0000\d* in row 2\.",
        ),
        (
            [[0.5, 0.5], [0.5, 0.49999]],
            [[0.0, 1.0]] * 2,
            [[1.0, 1.0]] * 2,
            r"got a sum of 0\.9999\d* in row 1\.",
        ),
        ([[0.5, 0.5]], [[0.0, 1.0]], [[1.0, -1.0]], "scales must be positive"),
        ([[1.0]], [[0.0]], [[np.inf]], "finite where weighted"),  # ppf was NaN
        ([[0.5, 0.5]], [[np.nan, 1.0]], [[1.0, 1.0]], "means must be finite"),
        # weight 0: its cdf, pdf and logpdf were NaN (an inf mean works)
        ([[1.0, 0.0]], [[0.0, np.nan]], [[1.0, 1.0]], "not NaN"),
    ],
)
def test_predictive_mixture_checks_its_parameters(weights, means, scales, match):
    with pytest.raises(ValueError, match=match):
        PredictiveMixture(weights, means, scales)


def test_predictive_mixture_edges_as_scipy():
    from scipy import stats

    # weights within 1e-6 of summing to one are divided by their sum: the cdf
    # passed 1 (1.0000004)
    dist = PredictiveMixture([[0.5, 0.5000004]], [[0.0, 1.0]], [[1.0, 1.0]])
    assert dist.cdf(np.inf)[0] == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(dist.weights, np.array([[0.5, 0.5000004]]) / 1.0000004)
    # a NaN probability gives NaN, as scipy.stats' ppf, not an error
    one = PredictiveMixture([[1.0]], [[2.0]], [[3.0]])
    q = np.array([[0.1], [np.nan], [0.9]])
    np.testing.assert_allclose(one.ppf(q)[:, 0], stats.norm(2, 3).ppf(q[:, 0]))
    low, high = one.interval(np.nan)
    assert np.isnan(low[0]) and np.isnan(high[0])
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]; got 1.5\."):
        one.ppf(1.5)
    # the first value outside, of any shape (the message named none)
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]; got -0.25\."):
        one.ppf([[0.5], [-0.25], [2.0]])
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\]; got inf"):
        one.interval([0.9, np.inf])
    # far arguments: -inf and 1 without NumPy's overflow warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert one.logpdf(1e200)[0] == -np.inf
        assert one.cdf(1e308)[0] == 1.0


def test_auto_n_experts_skips_candidates_too_large_for_the_data():
    # 200 features, 300 rows: no expert of a 2-expert mixture can have 2 samples
    # per parameter, so "auto" fits one expert only (it once fitted 12 restarts)
    rng = np.random.RandomState(0)
    X = rng.randn(300, 200)
    y = X @ rng.randn(200) + 0.1 * rng.randn(300)
    model = MoERegressor(random_state=0).fit(X, y)
    assert model.n_experts_ == 1
    assert np.all(np.isinf(model.n_experts_bic_[1:]))
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-3)


def test_interval_and_median_of_one_normal_are_scipy_s():
    dist = PredictiveMixture([[1.0], [1.0]], [[-2.0], [3.0]], [[0.5], [1.5]])
    low, high = dist.interval(0.9)
    np.testing.assert_allclose(low, stats.norm.interval(0.9, [-2, 3], [0.5, 1.5])[0])
    np.testing.assert_allclose(high, stats.norm.interval(0.9, [-2, 3], [0.5, 1.5])[1])
    np.testing.assert_allclose(dist.median(), [-2.0, 3.0], atol=1e-12)


@pytest.mark.parametrize("method", ["logpdf", "cdf", "ppf", "interval"])
def test_predictive_mixture_rejects_values_that_do_not_fit_its_rows(method):
    dist = PredictiveMixture([[0.3, 0.7]] * 5, [[0.0, 1.0]] * 5, [[1.0, 1.0]] * 5)
    with pytest.raises(ValueError, match="does not broadcast against the 5 rows"):
        getattr(dist, method)(np.array([0.1, 0.5, 0.9]))
    assert np.shape(getattr(dist, method)(np.full((3, 5), 0.5)))[-2:] == (3, 5)


def test_predictive_std_far_out_is_the_active_experts_noise():
    # the spread of a zero-weight expert overflowed: 0 * inf gave a NaN std
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.3 * rng.randn(300)
    model = MoERegressor(2, random_state=0).fit(X, y)
    far = np.array([[1e200], [-1e200]])
    _, std = model.predict(far, return_std=True)
    active = np.argmax(model.predict_gate(far), axis=1)
    np.testing.assert_allclose(std, np.sqrt(model.expert_variance_[active]))
    np.testing.assert_allclose(model.predict_distribution(far).std(), std)


def test_ppf_in_row_chunks_equals_one_pass(monkeypatch):
    import skmoe._distribution

    rng = np.random.RandomState(0)
    weights = rng.dirichlet(np.ones(3), size=50)
    dist = PredictiveMixture(weights, rng.randn(50, 3), rng.uniform(0.5, 1, (50, 3)))
    q = np.array([[0.1], [0.5], [0.9]])
    whole, single = dist.ppf(q), dist.ppf(0.3)
    y = rng.randn(50)
    others = [dist.logpdf(y), dist.logpdf(q), dist.cdf(q), dist.pdf(0.2), dist.std()]
    monkeypatch.setattr(skmoe._distribution, "PPF_ROWS", 7)
    np.testing.assert_array_equal(dist.ppf(q), whole)
    np.testing.assert_array_equal(dist.ppf(0.3), single)
    # logpdf, pdf, cdf and std run in the same row chunks (they were one pass)
    chunked = [dist.logpdf(y), dist.logpdf(q), dist.cdf(q), dist.pdf(0.2), dist.std()]
    for got, expected in zip(chunked, others, strict=True):
        np.testing.assert_array_equal(got, expected)


def _families(rng, n_rows, n_experts):
    """Each predictive family on the same weights and centres, with each
    component's variance: (distribution, variances)."""
    from skmoe import (
        PredictiveGammaMixture,
        PredictiveNegativeBinomialMixture,
        PredictivePoissonMixture,
        PredictiveStudentTMixture,
    )

    shape = (n_rows, n_experts)
    weights = rng.dirichlet(np.ones(n_experts), size=n_rows)
    means = rng.uniform(0.5, 5.0, shape)
    spreads = rng.uniform(0.2, 2.0, shape)
    df = np.broadcast_to(np.linspace(3.0, 12.0, n_experts), shape)
    return {
        "gaussian": (PredictiveMixture(weights, means, spreads), spreads**2),
        "student_t": (
            PredictiveStudentTMixture(weights, means, spreads, df),
            spreads**2 * df / (df - 2),
        ),
        "poisson": (PredictivePoissonMixture(weights, means), means),
        "negative_binomial": (
            PredictiveNegativeBinomialMixture(weights, means, spreads),
            means + spreads * means**2,
        ),
        "gamma": (PredictiveGammaMixture(weights, means, spreads), means**2 / spreads),
    }


@pytest.mark.parametrize(
    "family", ["gaussian", "student_t", "poisson", "negative_binomial", "gamma"]
)
def test_mean_and_var_in_row_chunks_hold_no_full_temporaries(monkeypatch, family):
    # mean and var were one pass over all rows: (n_rows, K) temporaries of
    # 1.1 and 5.3 times the weights' size (320 MiB for the variance of 1e6
    # rows and 8 experts); in chunks of PPF_ROWS rows, the same numbers
    import tracemalloc

    import skmoe._distribution

    n_rows, n_experts = 20_000, 16
    dist, variances = _families(np.random.RandomState(0), n_rows, n_experts)[family]
    weights, means = dist.weights, dist._arrays()[1]
    expected_mean = np.sum(weights * means, axis=1)
    deviations = (means - expected_mean[:, None]) ** 2
    expected_var = np.sum(weights * (variances + deviations), axis=1)
    one_pass = dist.mean(), dist.var()
    np.testing.assert_allclose(one_pass[0], expected_mean, rtol=1e-13)
    np.testing.assert_allclose(one_pass[1], expected_var, rtol=1e-12)
    monkeypatch.setattr(skmoe._distribution, "PPF_ROWS", 500)
    for method, expected in zip(("mean", "var"), one_pass, strict=True):
        tracemalloc.start()
        try:
            got = getattr(dist, method)()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_array_equal(got, expected)
        assert peak < 0.5 * weights.nbytes, (method, peak / weights.nbytes)


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1.0])
def test_mixture_std_at_extreme_scales_is_exact_and_quiet(scale):
    # the plain sum is tried first: its overflow (1e200) or underflow (1e-200)
    # must fall back to the scaled form, without NumPy warnings
    import warnings

    from skmoe._math import mixture_std

    weights = np.array([[0.5, 0.25], [0.5, 0.75]])
    relative = np.array([[-1.0, 2.0], [1.0, 0.0]])  # means in units of scale
    means = relative * scale
    # unit noise, or none where its square would underflow (scale 1e-200)
    variances = np.array([[1.0], [4.0]]) * (scale >= 1.0)
    relative_variances = variances * (1.0 / scale) ** 2 if scale >= 1.0 else variances
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        std = mixture_std(np, weights, means, variances, np.sum(weights * means, 0))
    deviation = relative - np.sum(weights * relative, axis=0)
    expected = np.sqrt(np.sum(weights * (relative_variances + deviation**2), axis=0))
    np.testing.assert_allclose(std / scale, expected, rtol=1e-12)


def test_predictive_mixture_at_tiny_scales_and_with_an_unused_infinite_mean():
    # scales below 1e-154 squared to 0 (std 0); an expert of weight 0 with an
    # infinite mean made the mean NaN (0 * inf)
    tiny = PredictiveMixture([[0.5, 0.5]], [[-1e-160, 1e-160]], [[1e-160, 1e-160]])
    np.testing.assert_allclose(tiny.std(), [np.sqrt(2) * 1e-160], rtol=1e-12)
    unused = PredictiveMixture([[1.0, 0.0]], [[2.0, np.inf]], [[1.0, 3.0]])
    np.testing.assert_array_equal(unused.mean(), [2.0])
    np.testing.assert_allclose(unused.std(), [1.0])
    # and its quantiles are the used component's (they were off by 1e-3, or
    # -inf or NaN, with an unused infinite mean or scale)
    q = np.array([[0.01], [0.5], [0.99]])
    expected = stats.norm.ppf(q, 2.0, 1.0)
    np.testing.assert_allclose(unused.ppf(q), expected, rtol=1e-9, atol=1e-12)
    for means, scales in (
        ([[2.0, -np.inf]], [[1.0, 1.0]]),
        ([[2.0, 0.0]], [[1.0, np.inf]]),
    ):
        other = PredictiveMixture([[1.0, 0.0]], means, scales)
        np.testing.assert_allclose(other.ppf(q), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("df", [None, 3.0])
def test_an_unused_component_of_infinite_mean_and_scale_takes_no_part(df):
    # inf / inf made its z NaN, and the cdf and log density NaN with it
    from skmoe import PredictiveStudentTMixture

    weights, means, scales = [[1.0, 0.0]], [[2.0, np.inf]], [[1.5, np.inf]]
    if df is None:
        dist, alone = PredictiveMixture(weights, means, scales), stats.norm(2.0, 1.5)
    else:
        dist = PredictiveStudentTMixture(weights, means, scales, df)
        alone = stats.t(df, 2.0, 1.5)
    y = np.array([-1.0, 2.0, 4.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(dist.cdf(y[:, None])[:, 0], alone.cdf(y), rtol=1e-12)
        np.testing.assert_allclose(
            dist.logpdf(y[:, None])[:, 0], alone.logpdf(y), rtol=1e-12
        )
        np.testing.assert_allclose(dist.ppf([0.9]), alone.ppf(0.9), rtol=1e-9)


def test_sample_refuses_a_bool_count():
    # True is an Integral to scikit-learn's constraint: NumPy's TypeError came
    # from deep in the draw
    dist = PredictiveMixture([[1.0]], [[0.0]], [[1.0]])
    with pytest.raises(ValueError, match="'n_samples' parameter .* Got True"):
        dist.sample(True, random_state=0)


def test_predictive_std_far_out_does_not_overflow_with_mixed_weights():
    # squares of deviations ~1e200 overflowed where the std itself is finite
    dist = PredictiveMixture([[0.5, 0.5]], [[-1e200, 1e200]], [[1.0, 1.0]])
    np.testing.assert_allclose(dist.std(), [1e200])
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (300, 1))
    y = np.where(rng.rand(300) < 0.5, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.randn(300)
    model = MoERegressor(2, gate="constant", random_state=0).fit(X, y)
    far = np.array([[1e200]])
    mean, std = model.predict(far, return_std=True)
    weights = model.predict_gate(far)[0]
    means = model.expert_intercept_ + far[0, 0] * model.expert_coef_[:, 0]
    expected = np.sqrt(np.sum(weights * ((means - mean[0]) / 1e200) ** 2)) * 1e200
    np.testing.assert_allclose(std, [expected], rtol=1e-10)
    np.testing.assert_allclose(model.predict_distribution(far).std(), std, rtol=1e-12)


def test_float32_predictive_distribution(gated_regression):
    # float32 gate rows sum to one only to ~4e-6: PredictiveMixture refused them
    X, y = gated_regression[:2]
    model = MoERegressor(4, random_state=0).fit(X.astype(np.float32), y)
    dist = model.predict_distribution(X.astype(np.float32))
    _, std = model.predict(X.astype(np.float32), return_std=True)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("top_k", [None, 2])
def test_float32_predictive_distribution_holds_no_float32_copy(
    monkeypatch, gated_regression, top_k
):
    # a float32 model's gate and means were joined over all rows in float32,
    # then cast whole to the distribution's float64, both copies held (206
    # against 145 MiB for a float64 model at 1e6 rows, K=8): each chunk is
    # cast as it comes, and the float32 model holds what a float64 one does
    import tracemalloc

    import skmoe._base

    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 2**15)  # ~100 rows
    peaks = {}
    for dtype in (np.float64, np.float32):
        X, y = (a.astype(dtype) for a in gated_regression[:2])
        model = MoERegressor(8, n_init=1, max_iter=5, top_k=top_k, random_state=0)
        model.fit(X, y)
        rows = np.tile(X, (20, 1))  # 30000 rows
        tracemalloc.start()
        try:
            dist = model.predict_distribution(rows)
            peaks[dtype] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert dist.weights.dtype == dist.means.dtype == np.float64
        np.testing.assert_allclose(dist.weights.sum(axis=1), 1.0, rtol=1e-12)
        if top_k is None:  # the experts' lines
            coef = model.expert_coef_.astype(np.float64)
            means = rows @ coef.T + model.expert_intercept_
            np.testing.assert_allclose(dist.means, means, rtol=1e-5, atol=1e-5)
    assert peaks[np.float32] < 1.1 * peaks[np.float64], peaks


def test_a_regime_with_little_noise_is_not_a_collapse():
    # the noise floor was 1e-6 times var(y): a regime of noise sd 0.01 beside
    # one of slope 10 (var(y) 106, floor 1.06e-4 above its variance 1e-4) sat
    # at it, n_experts="auto" passed over every fit of several experts and
    # kept one line (R^2 0.83), and the explicit K=2 fit warned of a collapse
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(2000, 1))
    low = X[:, 0] < 0
    y = np.where(
        low, 0.5 * X[:, 0] + 0.01 * rng.randn(2000), 10 * X[:, 0] + rng.randn(2000)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MoERegressor(random_state=0).fit(X, y)
    assert model.n_experts_ >= 2
    assert model.score(X, y) > 0.99
    # each regime's noise variance is its own least squares' (not the floor's)
    order = np.argsort(model.expert_variance_)[:2]
    for regime, k in zip([low, ~low], order, strict=True):
        fit = LinearRegression().fit(X[regime], y[regime])
        mse = np.mean((y[regime] - fit.predict(X[regime])) ** 2)
        assert model.expert_variance_[k] == pytest.approx(mse, rel=0.05)


def test_an_outlier_does_not_raise_the_noise_floor_over_the_inliers():
    # one y of 1e6 made var(y) 1e9 and the floor 999: both experts sat at it,
    # the one fitting the 999 inliers (variance 1.06) included
    rng = np.random.RandomState(1)
    X = rng.normal(size=(1000, 1))
    y = 2 * X[:, 0] + rng.randn(1000)
    y[0] = 1e6
    with pytest.warns(UserWarning, match=r"Experts \[\d\] of the kept run collapsed"):
        model = MoERegressor(2, random_state=0).fit(X, y)
    inliers = LinearRegression().fit(X[1:], y[1:])
    mse = np.mean((y[1:] - inliers.predict(X[1:])) ** 2)
    assert np.max(model.expert_variance_) == pytest.approx(mse, rel=1e-3)


def _collapse_warned(model, X, y, **fit_params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, **fit_params)
    return any("collapsed" in str(w.message) for w in caught)


def test_a_spike_of_equal_targets_is_a_collapse():
    # censored data: an intercept-only expert on the zeros fits them exactly
    # (its variance at the floor, the likelihood up by 1.6 nats per sample):
    # rows that differ in X alone are not distinct
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 2))
    y = np.maximum(0, 1 + 2 * X[:, 0] + rng.normal(size=1000))
    assert _collapse_warned(MoERegressor(2, random_state=0), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = MoERegressor(random_state=0).fit(X, y)
    assert auto.n_experts_ == 1
    assert np.all(np.isinf(auto.n_experts_bic_[1:]))


@pytest.mark.parametrize("jitter", [1e-7, 1e-6])
def test_a_spike_of_targets_equal_within_the_floor_is_a_collapse(jitter):
    # a saturated reading, its 120 values equal to 7 digits: their spread is
    # under the floor's sd (1e-5 of std(y)), so the expert on them sits at
    # its floor; at the resolution floor sd / N alone they counted as ~100
    # distinct values and it was not flagged
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 1))
    y = 500 + 300 * X[:, 0] + 100 * rng.normal(size=400)
    spike = rng.random(400) < 0.3
    y[spike] = 1000 * (1 + jitter * rng.normal(size=spike.sum()))
    assert np.var(y[spike]) < 1e-10 * np.var(y)
    model = MoERegressor(2, random_state=0)
    assert _collapse_warned(model, X, y)
    low = np.argmin(model.expert_variance_)
    assert model.expert_variance_[low] == pytest.approx(1e-10 * np.var(y), rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("data, noise", [("normal", "gaussian"), ("t", "student_t")])
def test_a_narrow_regime_beside_far_wider_ones_is_not_a_collapse(seed, data, noise):
    # the narrow regime's variance (0.04) is within 1e-6 of var(y): its 100
    # rows, binned at its own sd, filled about 6 bins, under the 8 of an
    # expert on 2 features, so it was said to have collapsed and "auto" chose
    # 2 experts; they are 100 distinct values, which no line fits by chance
    rng = np.random.RandomState(seed)
    m = np.repeat([1.0, 10.0, 1000.0], 100)
    draw = rng.normal if data == "normal" else lambda size: rng.standard_t(4, size)
    y = m + 0.2 * m * draw(size=300)
    X = rng.normal(size=(300, 2))
    model = MoERegressor(3, noise=noise, random_state=0)
    assert not _collapse_warned(model, X, y)
    order = np.argsort(model.expert_intercept_)
    np.testing.assert_allclose(model.expert_intercept_[order], [1, 10, 1000], rtol=0.05)
    if noise == "gaussian":  # the narrow expert is its regime's least squares
        fit = LinearRegression().fit(X[:100], y[:100])
        mse = np.mean((y[:100] - fit.predict(X[:100])) ** 2)
        assert model.expert_variance_[order[0]] == pytest.approx(mse, rel=1e-3)
        np.testing.assert_allclose(
            model.expert_coef_[order[0]], fit.coef_, rtol=1e-3, atol=1e-5
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = MoERegressor(noise=noise, random_state=0).fit(X, y)
    assert auto.n_experts_ == 3
    assert np.isfinite(auto.n_experts_bic_[2])


@pytest.mark.parametrize("seed", [0, 1])
def test_a_precise_regime_on_a_binary_feature_is_not_a_collapse(seed):
    # half the rows 5 + 3 b + noise of sd 1e-3, b binary, the others noise of
    # sd 20: the precise expert has 2 distinct design rows, fewer than its
    # coefficients and variance, and 150 values; counting its design rows
    # alone called it collapsed, and "auto" chose 1 expert
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 2, 300).astype(float)
    regime = rng.permutation(300) < 150
    noise = rng.normal(size=300)
    y = np.where(regime, 5 + 3 * b + 1e-3 * noise, 20 * noise)
    X = b[:, None]
    model = MoERegressor(2, random_state=0)
    assert not _collapse_warned(model, X, y)
    precise = np.argmin(model.expert_variance_)
    # its line through the regime's two means (least squares on its rows)
    line = LinearRegression().fit(X[regime], y[regime])
    np.testing.assert_allclose(
        model.expert_intercept_[precise], line.intercept_, atol=1e-3
    )
    np.testing.assert_allclose(model.expert_coef_[precise], line.coef_, atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert MoERegressor(random_state=0).fit(X, y).n_experts_ == 2


@pytest.mark.parametrize("jitter", [0.0, 1e-9, 1e-6])
def test_copies_with_jittered_features_are_a_collapse(jitter):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 1))
    y = 2 * X[:, 0] + rng.normal(size=300)
    copies = np.repeat([[3.0], [3.5], [4.0]], 40, axis=0)
    X = np.vstack([X, copies + jitter * rng.normal(size=copies.shape)])
    y = np.concatenate([y, np.repeat([-10.0, -12.0, -11.0], 40)])
    assert _collapse_warned(MoERegressor(3, alpha=0, random_state=0), X, y)


def test_rows_of_zero_weight_do_not_change_the_collapse_verdict():
    # zero-weight copies of a noise-free regime's rows made its rows look
    # repeated: a warning, and "auto" went from 2 experts to 1
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(400, 1))
    low = X[:, 0] < 0
    y = np.where(low, 0.5 * X[:, 0], 10 * X[:, 0] + rng.normal(size=400))
    X = np.vstack([X] + [X[low]] * 40)
    y = np.concatenate([y] + [y[low]] * 40)
    weight = np.r_[np.ones(400), np.zeros(len(y) - 400)]
    model = MoERegressor(2, random_state=0)
    assert not _collapse_warned(model, X, y, sample_weight=weight)
    auto = MoERegressor(random_state=0).fit(X, y, sample_weight=weight)
    assert auto.n_experts_ >= 2


def test_few_distinct_counts_at_the_resolution_its_design_rows_allow():
    # few_distinct (K,): fewer than COLLAPSE_ROWS * own distinct values of y,
    # counted by hand here
    from skmoe.experts.gaussian import COLLAPSE_ROWS, few_distinct

    assert COLLAPSE_ROWS == 2
    close, noise, one = np.array([True]), np.array([1.0]), np.ones((1, 32))
    # 2 distinct design rows, 16 copies each, y 0.03 apart within each: on
    # own = 2 design rows (at least own) values count at noise / 32 (32
    # values); on fewer than own = 3 at noise itself (2 values)
    x = np.repeat([0.0, 1.0], 16)
    y = 10 * x + 0.03 * np.tile(np.arange(16), 2)
    design = np.vstack([np.ones(32), x])
    assert not few_distinct(y, one, close, noise, 2, design)[0]
    assert few_distinct(y, one, close, noise, 3, design)[0]
    # exactly COLLAPSE_ROWS * own = 4 distinct values is enough, 3 are few
    y = np.repeat([0.0, 5.0, 10.0, 15.0], 8)
    design = np.ones((2, 32))
    assert not few_distinct(y, one, close, noise, 2, design)[0]
    assert few_distinct(y[8:], one[:, 8:], close, noise, 2, design[:, 8:])[0]
    # 16 rows on 16 design rows, y 0.1 noise apart: 16 distinct at noise / 16
    # (Kish's number of rows, whatever the weights' scale)
    x = np.arange(16.0)
    design = np.vstack([np.ones(16), x])
    for scale in (1e-3, 1.0, 1e3):
        resp = np.vstack([np.full(16, scale), np.zeros(16)])
        got = few_distinct(
            0.1 * x, resp, np.array([True, False]), np.ones(2), 5, design
        )
        assert not got.any()


@pytest.mark.parametrize(
    "dtype, x_scale, y_scale", [(np.float32, 1e-10, 1e10), (np.float64, 1e-140, 1e20)]
)
@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_unpenalized_slopes_whose_squares_overflow(dtype, x_scale, y_scale, solver):
    # a slope of 1e20 in float32 (1e160 in float64) is in range, its square is
    # not: alpha=0 used to multiply that inf by 0 and keep an all-NaN model
    rng = np.random.default_rng(0)
    x = rng.standard_normal(300)
    X = (x[:, None] * x_scale).astype(dtype)
    y = ((x + 0.1 * rng.standard_normal(300)) * y_scale).astype(dtype)
    expected = LinearRegression().fit(X.astype(np.float64), y.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning, no ConvergenceWarning
        model = MoERegressor(1, alpha=0.0, solver=solver).fit(X, y)
        pred = model.predict(X)
    np.testing.assert_allclose(model.expert_coef_[0], expected.coef_, rtol=1e-4)
    np.testing.assert_allclose(
        pred, expected.predict(X), rtol=1e-3, atol=1e-3 * y_scale
    )


def test_fit_refuses_a_model_whose_parameters_broke_down(monkeypatch):
    # every restart's M-step giving NaN (as a slope's overflowing square times
    # alpha=0 did): a clear error, and an earlier fit left as it was
    from skmoe.experts.gaussian import GaussianLinearExperts

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    y = X @ np.array([1.0, -2.0]) + 0.1 * rng.standard_normal(200)
    model = MoERegressor(2, random_state=0).fit(X, y)
    coef = model.expert_coef_.copy()
    m_step = GaussianLinearExperts.m_step

    def broken(self, *args, **kwargs):
        params = m_step(self, *args, **kwargs)
        return dict(params, coef=params["coef"] * np.nan)

    monkeypatch.setattr(GaussianLinearExperts, "m_step", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="parameters became NaN"):
            model.fit(X, 2 * y)
    np.testing.assert_array_equal(model.expert_coef_, coef)
    assert np.all(np.isfinite(model.predict(X)))


def _messages_of_a_collapsed_fit(X, y):
    """The warnings' texts of ``MoERegressor(2).fit(X, y)``, one of which says
    that experts collapsed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MoERegressor(2, random_state=0).fit(X, y)
    messages = [str(w.message) for w in caught]
    assert any("collapsed" in m for m in messages)
    return messages


def test_a_collapse_on_class_labels_names_the_classifier():
    # 0/1 labels fitted as a target: each expert collapses onto a label, and
    # the advice was fewer experts or a tied variance only
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    labels = (X[:, 0] + rng.randn(300) > 0).astype(int)
    with pytest.warns(UserWarning, match="2 distinct values: if they are class"):
        MoERegressor(2, random_state=0).fit(X, labels)
    # a collapse on an outlier of continuous data says nothing of labels
    y = 2 * X[:, 0] + rng.randn(300)
    y[0] = 1e6
    messages = _messages_of_a_collapsed_fit(X, y)
    assert not any("class labels" in m for m in messages)


@pytest.mark.parametrize("n", [3, 5, 8])
def test_a_collapse_on_few_distinct_rows_says_nothing_of_labels(n):
    # n rows of n distinct values of y, too few for two experts of 3
    # coefficients: the collapse is of the rows, not of labels (every such fit
    # said "y takes only n distinct values: if they are class labels")
    rng = np.random.RandomState(0)
    X = rng.randn(n, 2)
    y = X[:, 0] + 0.1 * rng.randn(n)
    assert np.unique(y).size == n
    messages = _messages_of_a_collapsed_fit(X, y)
    assert not any("class labels" in m for m in messages)


def test_auto_passes_over_a_candidate_that_broke_down(monkeypatch):
    # a candidate whose restarts all give NaN parameters has a BIC of NaN,
    # which argmin chose, and fit then refused the whole model
    from skmoe.experts.gaussian import GaussianLinearExperts

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 1))
    y = np.where(X[:, 0] > 0, 2, -2) * X[:, 0] + 0.1 * rng.standard_normal(400)
    m_step = GaussianLinearExperts.m_step

    def broken_at_three(self, *args, **kwargs):
        params = m_step(self, *args, **kwargs)
        if params["coef"].shape[1] == 3:
            return dict(params, coef=params["coef"] * np.nan)
        return params

    monkeypatch.setattr(GaussianLinearExperts, "m_step", broken_at_three)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(random_state=0).fit(X, y)
    assert model.n_experts_ == 2
    assert model.n_experts_bic_[2] == np.inf
    assert np.all(np.isfinite(model.n_experts_bic_[:2]))


def test_auto_passes_over_a_candidate_whose_log_likelihood_is_nan(monkeypatch):
    # a log-likelihood of NaN beside parameters that are not NaN (inf ones:
    # inf - inf) gave a BIC of NaN, which argmin chose, and the largest
    # candidate's warning had a guard of its own for it. No fit is known to
    # end so (an M-step of inf coefficients ends NaN, as in the test above):
    # the kept run's log-likelihood is set to NaN
    import dataclasses

    rng = np.random.default_rng(0)
    X = rng.standard_normal((800, 1))
    slope = np.array([3.0, -2.0, 1.0, -4.0])[rng.integers(0, 4, 800)]
    y = slope * X[:, 0] + 0.1 * rng.standard_normal(800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sound = MoERegressor(random_state=0).fit(X, y)
    best_restart = MoERegressor._best_restart

    def nan_at_four(self, problem, X_host, Y, sample_weight, n_experts, *args):
        fit = best_restart(self, problem, X_host, Y, sample_weight, n_experts, *args)
        if n_experts == 4:
            return dataclasses.replace(fit, log_likelihood=np.nan)
        return fit

    monkeypatch.setattr(MoERegressor, "_best_restart", nan_at_four)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(random_state=0).fit(X, y)
    # (four lines: the sound fit chose 4, and the NaN fit was chosen)
    assert sound.n_experts_ == 4 and model.n_experts_bic_[3] == np.inf
    # the candidates 1 to 3 drew the same restarts as the sound fit's
    np.testing.assert_array_equal(model.n_experts_bic_[:3], sound.n_experts_bic_[:3])
    assert model.n_experts_ == 1 + np.argmin(sound.n_experts_bic_[:3]) == 3
    assert np.isfinite(model.log_likelihood_)


def test_predictive_mixture_normalizes_weights_without_touching_the_callers():
    # rows more than 1e-12 from summing to one are divided by their sum (only
    # those rows, on a copy: the caller's array stays as it was)
    weights = np.array([[0.5, 0.5 - 1e-9], [0.25, 0.75]])
    given = weights.copy()
    dist = PredictiveMixture(weights, np.zeros((2, 2)), np.ones((2, 2)))
    np.testing.assert_array_equal(weights, given)
    np.testing.assert_allclose(dist.weights.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(dist.weights[1], given[1])


def test_a_noise_variance_held_up_by_alpha_or_the_floor_warns():
    # y = 1 + 2x + 1e-5 e at the default alpha: a predictive standard
    # deviation 200 times the noise, 50% intervals covering every new point,
    # and no word
    import re

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (400, 1))
    y = 1 + 2 * X[:, 0] + 1e-5 * rng.randn(400)
    with pytest.warns(UserWarning, match="held up by alpha's term") as caught:
        model = MoERegressor(n_experts=1).fit(X, y)
    (message,) = [str(w.message) for w in caught if "held up" in str(w.message)]
    # the fit's residuals (its slope shrunk by alpha) and least squares'
    residuals = y - model.predict(X)
    ratio = np.sqrt(model.expert_variance_[0] / np.mean(residuals**2))
    quoted = float(re.search(r"up to ([0-9.e+]+) times", message).group(1))
    np.testing.assert_allclose(quoted, ratio, rtol=1e-2)
    least_squares = y - LinearRegression().fit(X, y).predict(X)
    assert np.sqrt(model.expert_variance_[0] / np.mean(least_squares**2)) > 150
    # noise the residuals set (sd 0.1): quiet
    y = 1 + 2 * X[:, 0] + 0.1 * rng.randn(400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MoERegressor(n_experts=1).fit(X, y)
    # a regime of noise 1e-3 beside one 1000 away: its variance sits at the
    # floor, 1e-10 times that of y, 25 times the residuals'
    X = rng.uniform(-1, 1, (400, 1))
    low = X[:, 0] < 0
    y = np.where(low, 1 + 2 * X[:, 0] + 1e-3 * rng.randn(400), 1000 - X[:, 0])
    y[~low] += 0.5 * rng.randn(np.count_nonzero(~low))
    with pytest.warns(UserWarning, match="held up by the variance floor"):
        model = MoERegressor(n_experts=2, alpha=0, random_state=0).fit(X, y)
    np.testing.assert_allclose(np.min(model.expert_variance_), 1e-10 * np.var(y))


def test_a_student_t_scale_held_up_by_alpha_or_the_floor_warns():
    # the same noise-free line with Student-t experts: a scale 167 times the
    # residuals' and no word. The residuals are weighed as the M-step weighs
    # them, by (df + 1) / (df + r^2 / s2)
    import re

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (400, 1))
    y = 1 + 2 * X[:, 0] + 1e-5 * rng.randn(400)
    with pytest.warns(UserWarning, match="held up by alpha's term") as caught:
        model = MoERegressor(n_experts=1, noise="student_t", df=3.0).fit(X, y)
    (message,) = [str(w.message) for w in caught if "held up" in str(w.message)]
    assert message.startswith("The noise scale of experts [0]")
    residuals = y - model.predict(X)
    scale2 = model.expert_variance_[0]
    precision = 4.0 / (3.0 + residuals**2 / scale2)
    ratio = np.sqrt(scale2 / np.mean(precision * residuals**2))
    quoted = float(re.search(r"up to ([0-9.e+]+) times", message).group(1))
    np.testing.assert_allclose(quoted, ratio, rtol=1e-2)
    assert ratio > 100
    # t noise the residuals set: quiet
    y = 1 + 2 * X[:, 0] + 0.1 * rng.standard_t(3, 400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MoERegressor(n_experts=1, noise="student_t", df=3.0).fit(X, y)
    # one expert at the floor: no regimes to fit apart
    y = 1 + 2 * X[:, 0] + 1e-7 * rng.randn(400)
    with pytest.warns(UserWarning, match="held up by the variance floor") as caught:
        MoERegressor(n_experts=1, alpha=0.0).fit(X, y)
    (message,) = [str(w.message) for w in caught if "held up" in str(w.message)]
    assert message.endswith("LinearRegression fits the line.")


def test_a_student_t_scale_held_up_by_the_floor_names_the_robust_floor():
    # a noise-free line beside a noisy one, alpha=0: the t expert's scale sits
    # at the floor of t noise, 1e-10 times the smaller of y's variance and
    # the one its 10% and 90% quantiles imply, and the warning said "1e-10
    # times the variance of y" (1.06e-9 here, the floor 9.69e-10)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    right = X[:, 0] > 0
    y = np.where(right, 3 + 2 * X[:, 0], 10 - X[:, 0] + rng.normal(size=400))
    with pytest.warns(UserWarning, match="held up by the variance floor") as caught:
        model = MoERegressor(2, noise="student_t", alpha=0.0, random_state=0)
        model.fit(X, y)
    (message,) = [str(w.message) for w in caught if "held up" in str(w.message)]
    q10, q90 = np.quantile(y, (0.1, 0.9), method="inverted_cdf")
    robust = ((q90 - q10) / (2 * stats.norm.ppf(0.9))) ** 2
    assert robust < np.var(y)
    np.testing.assert_allclose(model.expert_variance_.min(), 1e-10 * robust, rtol=1e-6)
    assert (
        "the variance floor (1e-10 times the smaller of y's variance and the "
        "one its 10% and 90% quantiles imply)" in message
    )


@pytest.mark.parametrize("noise", ["gaussian", "student_t"])
def test_regimes_far_apart_at_the_variance_floor_name_the_floor(noise):
    # two regimes 1e6 apart with noise variance 0.75: each expert's variance
    # sits at the floor (25, 15.2 for Student-t noise), and the warning said
    # each fitted "a few distinct values of y (copies, a spike) almost
    # exactly", though each has some 200 distinct samples of its own
    import re

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    low = rng.random(400) < 0.5
    y = np.where(low, 0.0, 1e6) + X[:, 0] * np.where(low, 1.0, -2.0)
    y += rng.normal(scale=np.sqrt(0.75), size=400)
    model = MoERegressor(2, noise=noise, random_state=0)
    (message,) = _degenerate_messages(model, X, y)
    assert "copies, a spike" not in message
    assert "collapsed onto the variance floor" in message
    # the floor by hand: 1e-10 times y's variance, or for t noise times the
    # normal variance y's 10% and 90% quantiles imply where that is smaller
    floor = 1e-10 * np.var(y)
    if noise == "student_t":
        q10, q90 = np.quantile(y, (0.1, 0.9), method="inverted_cdf")
        floor = min(floor, 1e-10 * ((q90 - q10) / (2 * stats.norm.ppf(0.9))) ** 2)
    np.testing.assert_allclose(model.expert_variance_, floor, rtol=1e-6)
    quoted = float(re.search(r"variance floor \([^)]*: ([0-9.e+]+)\)", message)[1])
    np.testing.assert_allclose(quoted, floor, rtol=5e-3)
    # each expert's rows counted, and (Gaussian noise) the residual variance
    # of least squares on each regime by hand, far below the floor
    taken = np.sort(np.sum(model.responsibilities(X, y) > 0.5, axis=0))
    np.testing.assert_array_equal(taken, np.sort([low.sum(), (~low).sum()]))
    assert f"their {taken[0]} to {taken[1]} samples of their own" in message
    if noise == "gaussian":
        residual = []
        for rows in (low, ~low):
            design = np.c_[np.ones(rows.sum()), X[rows]]
            fit = np.linalg.lstsq(design, y[rows], rcond=None)[0]
            residual.append(np.mean((y[rows] - design @ fit) ** 2))
        quoted = re.search(r"residual variance ([0-9.e+]+) to ([0-9.e+]+)", message)
        np.testing.assert_allclose(
            [float(quoted[1]), float(quoted[2])], sorted(residual), rtol=5e-3
        )
        assert max(residual) < floor / 30


def test_float32_regimes_far_apart_at_the_floor_name_it_for_every_expert():
    # float32 rounds y near 1e6 to steps of 0.0625: that regime's ~200 rows
    # hold ~100 distinct values, not "mostly distinct", and its expert was
    # said to fit "a few distinct values of y (copies, a spike)" while the
    # other regime's, at the same floor, was said to sit at the floor
    import re

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    low = rng.random(400) < 0.5
    y = np.where(low, 0.0, 1e6) + X[:, 0] * np.where(low, 1.0, -2.0)
    y = (y + rng.normal(scale=np.sqrt(0.75), size=400)).astype(np.float32)
    model = MoERegressor(2, random_state=0)
    (message,) = _degenerate_messages(model, X.astype(np.float32), y)
    assert "copies, a spike" not in message
    assert message.startswith("Experts [0, 1] of the kept run collapsed onto the")
    np.testing.assert_allclose(
        model.expert_variance_, 1e-10 * np.var(y.astype(np.float64)), rtol=1e-6
    )
    # the distinct values of y each regime holds, counted by hand
    values = sorted(np.unique(y[rows]).size for rows in (low, ~low))
    assert values[0] < (~low).sum() / 2  # the rounded regime
    assert f"({values[0]} to {values[1]} distinct values of y)" in message
    taken = np.sort(np.sum(model.responsibilities(X, y) > 0.5, axis=0))
    assert f"their {taken[0]} to {taken[1]} samples of their own" in message
    assert re.search(r"residual variance 0\.6[0-9]* to 0\.6", message)


def test_a_noise_variance_the_fit_left_unsettled_is_not_blamed_on_alpha():
    # alpha=0 and one EM iteration on two near-noiseless regimes: the warning
    # said "held up by alpha's term ... Lower alpha"
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (600, 2))
    y = np.where(X[:, 1] < 0, 1 + 2 * X[:, 0], -1 - X[:, 0]) + 1e-4 * rng.randn(600)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MoERegressor(2, alpha=0.0, max_iter=1, random_state=0).fit(X, y)
    (message,) = [str(w.message) for w in caught if "held up" in str(w.message)]
    assert "the fit stopping before its variance settled" in message
    assert "alpha" not in message.split("held up by")[1].split(":")[0]


@pytest.mark.parametrize("noise", [1e-4, 3e-4])
def test_copies_fitted_within_the_collapse_range_above_the_floor_warn(noise):
    # the documented threshold: an expert has collapsed where its residual
    # variance is at most 1e-6 times the variance of y (COLLAPSE_RANGE times
    # the floor), not only where it sits at the floor (1e-10 of it); targets
    # of three copied points jittered by 1e-4 of std(y) leave two experts
    # near 1e-8 of var(y), above the floor and within the range
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 1))
    y = 2 * X[:, 0] + rng.normal(size=300)
    copies = np.repeat([[3.0], [3.5], [4.0]], 40, axis=0)
    X = np.vstack([X, copies])
    y = np.concatenate([y, np.repeat([-10.0, -12.0, -11.0], 40)])
    y[300:] += noise * np.std(y) * rng.normal(size=120)
    model = MoERegressor(3, alpha=0, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    relative = np.sort(model.expert_variance_) / np.var(y)
    assert np.all((relative[:2] > 1e-9) & (relative[:2] < 1e-6)), relative
    assert any("collapsed" in str(w.message) for w in caught)


@pytest.mark.parametrize("df", [None, 3.0])
@pytest.mark.parametrize("q", [1e-9, 0.05, 0.5, 0.9, 0.999])
def test_ppf_with_a_dominant_component_is_brentqs_root(df, q):
    # the bracket from the dominant component's quantiles of q / w and
    # 1 - (1 - q) / w (weights up to 0.999): each row's root as scipy's brentq
    # finds it on the mixture's own cdf, summed here from scipy.stats
    from scipy.optimize import brentq

    from skmoe import PredictiveStudentTMixture

    rng = np.random.RandomState(0)
    n, K = 40, 4
    weights = rng.dirichlet([0.2] * K, size=n)
    weights[:10] = [0.999, 5e-4, 3e-4, 2e-4]
    means, scales = 3 * rng.randn(n, K), rng.uniform(0.1, 2, (n, K))
    family = stats.norm if df is None else stats.t(df)
    if df is None:
        dist = PredictiveMixture(weights, means, scales)
    else:
        dist = PredictiveStudentTMixture(weights, means, scales, df)

    def excess(y, i):
        if q > 0.5:  # the upper tail, as ppf solves it
            return (1 - q) - weights[i] @ family.sf((y - means[i]) / scales[i])
        return weights[i] @ family.cdf((y - means[i]) / scales[i]) - q

    expected = [
        brentq(excess, -1e4, 1e4, args=(i,), xtol=1e-300, rtol=1e-15, maxiter=500)
        for i in range(n)
    ]
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("q", [1e-300, 1e-9, 0.3, 0.5, 0.9, 1 - 1e-12])
def test_ppf_of_one_component_is_scipys(q):
    # K = 1: the weighted bracket is the component's own quantile
    rng = np.random.RandomState(1)
    means, scales = 5 * rng.randn(30, 1), rng.uniform(0.01, 3, (30, 1))
    dist = PredictiveMixture(np.ones((30, 1)), means, scales)
    expected = stats.norm.ppf(q, means[:, 0], scales[:, 0])
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_ppf_where_a_components_quantile_overflows(sign):
    # a component at 1.7e308 of scale 1e307 and weight 0.5: its quantile 0.8
    # overflows, the mixture's 0.9 is 1.7e308 + 1e307 Phi^-1(0.8) = 1.784e308
    # (the other component's cdf is 1 there); the bracket's upper end was inf
    # and its lower one, 1e-3 scales below the root, came back (cdf 0.89986)
    dist = PredictiveMixture([[0.5, 0.5]], [[0.0, sign * 1.7e308]], [[1.0, 1e307]])
    q = np.array([0.9, 0.99]) if sign > 0 else np.array([0.1, 0.01])
    inner = 1.7e308 + 1e307 * stats.norm.ppf(0.8)
    np.testing.assert_allclose(dist.ppf(q[0]), [sign * inner], rtol=1e-14)
    # the mixture's quantile 0.99 (0.01) lies past the largest float
    assert 1e307 * stats.norm.ppf(0.98) > np.finfo(float).max - 1.7e308
    np.testing.assert_array_equal(dist.ppf(q[1]), [sign * np.inf])


@pytest.mark.parametrize("df", [None, np.inf, 4.0, 1e12])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_logpdf_where_the_offset_overflows_but_z_does_not(df, sign):
    # y = 1e308 and a mean of -1e308: y - mean overflows, z = 2e308 / 1e300 =
    # 2e8 does not; the Gaussian log density was -inf for -2e16, a t one of
    # df 1e12 took log(1 + u^2) as 2 log u (-5.298317e12 for -5.298330e12)
    args = [[1.0, 0.0]], [[-sign * 1e308, 0.0]], [[1e300, 1.0]]
    if df is None:
        dist, frozen = PredictiveMixture(*args), stats.norm()
    else:
        dist = PredictiveStudentTMixture(*args, df)
        frozen = stats.norm() if np.isinf(df) else stats.t(df)
    expected = frozen.logpdf(2e8) - np.log(1e300)
    np.testing.assert_allclose(dist.logpdf(sign * 1e308), [expected], rtol=1e-13)
    # where z itself overflows (a scale of 1e150: 2e158), the density is 0
    args = [[1.0]], [[-sign * 1e308]], [[1e150]]
    dist = (
        PredictiveMixture(*args) if df is None else PredictiveStudentTMixture(*args, df)
    )
    if df is None or np.isinf(df):
        np.testing.assert_array_equal(dist.logpdf(sign * 1e308), [-np.inf])


@pytest.mark.parametrize("df", [None, np.inf, 5.0, 1.0])
def test_cdf_and_ppf_where_the_offset_overflows_but_z_does_not(df):
    # means of -+1.7e308 and scales of 1e308: at y = -1.45e308, y - 1.7e308
    # overflows, z = -3.15 does not; z = -inf made the Gaussian cdf 0.29959
    # for 0.3 (and its quantile 0.3 1.5e-3 of itself off), a t one of df 5,
    # from the far tail's series, 1.3e-4 of itself off
    args = [[0.5, 0.5]], [[-1.7e308, 1.7e308]], [[1e308, 1e308]]
    if df is None:
        dist, frozen = PredictiveMixture(*args), stats.norm()
    else:
        dist = PredictiveStudentTMixture(*args, df)
        frozen = stats.norm() if np.isinf(df) else stats.t(df)

    def cdf(u):  # of the mixture at y = u * 1e308
        return 0.5 * frozen.cdf(u + 1.7) + 0.5 * frozen.cdf(u - 1.7)

    u = np.array([-1.45, -0.4, 1.5])
    np.testing.assert_allclose(dist.cdf(u[:, None] * 1e308)[:, 0], cdf(u), rtol=1e-14)
    np.testing.assert_allclose(
        dist.sf(u[:, None] * 1e308)[:, 0], 1 - cdf(u), rtol=1e-14
    )
    for q in (0.3, 0.45, 0.7):
        root = brentq(lambda u, q: cdf(u) - q, -3.0, 3.0, (q,), 1e-16, 1e-15)
        np.testing.assert_allclose(dist.ppf(q), [root * 1e308], rtol=1e-13)


def test_experts_with_more_coefficients_than_samples_are_told_why():
    # 50 rows of 200 features: every expert interpolates its samples (its
    # variance at the floor), whatever the number of experts; the warning
    # said "copies, a spike" and advised fewer experts or a tied variance,
    # which do not help, where more samples, fewer features or alpha do
    from skmoe.exceptions import DegenerateFitWarning

    rng = np.random.RandomState(0)
    X = rng.randn(50, 200)
    y = X[:, 0] + 0.1 * rng.randn(50)
    model = MoERegressor(2, alpha=1e-12, random_state=0)
    with pytest.warns(DegenerateFitWarning, match="201 coefficients for 50 samples"):
        model.fit(X, y)
    # the floor, far below the noise's 0.01 (the experts interpolate)
    assert np.all(model.expert_variance_ < 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a remedy: fewer features
        MoERegressor(2, alpha=1e-12, random_state=0).fit(X[:, :5], y)


def test_a_spike_among_more_coefficients_than_samples_is_told_as_a_spike():
    # 40 rows of 60 features, 25 of them y = 0, alpha = 1e6: the collapsed
    # expert takes the zeros with slopes near 0 (it does not interpolate, a
    # constant fits its rows), so "fits its samples exactly ... a larger
    # alpha" was wrong advice: the spike's message stands
    from skmoe.exceptions import DegenerateFitWarning

    rng = np.random.RandomState(0)
    X = rng.randn(40, 60)
    y = np.where(np.arange(40) < 25, 0.0, 3 + rng.randn(40))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MoERegressor(2, alpha=1e6, random_state=0).fit(X, y)
    messages = [
        str(w.message) for w in caught if issubclass(w.category, DegenerateFitWarning)
    ]
    assert len(messages) == 1
    assert "copies, a spike" in messages[0]
    assert "coefficients for" not in messages[0]
    # the collapsed expert: the floor of its variance, predicting 0 on the
    # zeros with slopes far below the data's (of order 1)
    k = int(np.argmin(model.expert_variance_))
    assert model.expert_variance_[k] < 1e-6
    assert np.max(np.abs(model.expert_coef_[k])) < 1e-5
    assert abs(model.expert_intercept_[k]) < 1e-6


def _degenerate_messages(model, X, y):
    from skmoe.exceptions import DegenerateFitWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    return [
        str(w.message) for w in caught if issubclass(w.category, DegenerateFitWarning)
    ]


def test_experts_with_more_coefficients_than_their_own_rows_are_told_why():
    # 300 rows of 60 features in five experts: fewer than all rows' 300
    # coefficients, but each expert takes about 60 rows for its 61 and fits
    # them exactly. The warning said "copies, a spike" and advised a tied
    # variance, which does not help; it counts each expert's own rows
    rng = np.random.RandomState(0)
    X = rng.randn(300, 60)
    y = X[:, 0] + 0.1 * rng.randn(300)
    model = MoERegressor(5, alpha=1e-12, random_state=0)
    messages = _degenerate_messages(model, X, y)
    # the rows each expert takes (a responsibility above one half), by hand
    taken = np.sum(model.responsibilities(X, y) > 0.5, axis=0)
    assert np.all(taken <= 61) and taken.sum() == 300
    assert len(messages) == 1
    assert (
        f"Experts [0, 1, 2, 3, 4] of the kept run collapsed: each has 61 "
        f"coefficients for {taken.min()} to {taken.max()} samples of its own "
        "(those it takes, of the 300)"
    ) in messages[0]
    assert "copies, a spike" not in messages[0]
    assert "variance_type='tied'" not in messages[0]
    # the interpolation: every expert at the floor, far below the noise's 0.01
    assert np.all(model.expert_variance_ < 1e-6)
    # the remedies it gives work: fewer features, or fewer experts (more rows
    # each, here no collapse, only few samples per parameter)
    assert "fewer features (expert_features)" in messages[0]
    assert "fewer experts" in messages[0]
    assert (
        _degenerate_messages(MoERegressor(5, alpha=1e-12, random_state=0), X[:, :5], y)
        == []
    )
    fewer = _degenerate_messages(MoERegressor(3, alpha=1e-12, random_state=0), X, y)
    assert not any("collapsed" in m for m in fewer)


def test_copies_of_a_few_points_are_told_as_copies():
    # 60 copies of two points off a noisy line: the expert that takes them
    # fits two values of y exactly with its two coefficients (not a spike,
    # and fewer than two distinct values per coefficient), but its rows are
    # copies: "copies, a spike" and a tied variance stay the advice
    rng = np.random.RandomState(0)
    x = rng.randn(200, 1)
    X = np.vstack([x, np.repeat([[0.5], [-1.0]], 30, axis=0)])
    y = np.concatenate([2 * x[:, 0] + rng.randn(200), np.repeat([8.0, 6.0], 30)])
    model = MoERegressor(2, random_state=0)
    messages = _degenerate_messages(model, X, y)
    k = int(np.argmin(model.expert_variance_))
    taken = model.responsibilities(X, y)[:, k] > 0.5
    assert np.array_equal(np.flatnonzero(taken), np.arange(200, 260))
    assert len(messages) == 1
    assert messages[0].startswith(f"Experts [{k}] of the kept run collapsed: each ")
    assert "copies, a spike" in messages[0]
    assert "variance_type='tied'" in messages[0]
    assert "samples of its own" not in messages[0]


def _far_regimes(seed, feature=False):
    """Regimes of means 0, 10 and 1000 (sds 1, 3 and 100), with a feature
    of pure noise or none, and SciPy's log-likelihood at the true parameters."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(300, 1)) if feature else np.zeros((300, 1))
    means, sds = np.array([0, 10, 1000]), np.array([1, 3, 100])
    regime = np.repeat([0, 1, 2], 100)
    y = means[regime] + sds[regime] * rng.normal(size=300)
    true = np.log(
        np.mean(
            [stats.norm.pdf(y, m, s) for m, s in zip(means, sds, strict=True)], axis=0
        )
    ).sum()
    return X, y, true


@pytest.mark.parametrize("seed, feature", [(0, False), (1, False), (1, True)])
def test_far_apart_regimes_are_found_by_the_default_restarts(seed, feature):
    # k-means of y splits the wide regime and merges the narrow ones, and the
    # random starts did no better: 72 to 114 nats below the true parameters
    # on 10 seeds of 10 (and 80 with a feature of noise, seed 1); the restart
    # from k-means of y's ranks, added where the spreads differ so, finds them
    X, y, true = _far_regimes(seed, feature)
    model = MoERegressor(3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert model.log_likelihood_ > true - 3
    order = np.argsort(model.expert_intercept_)
    assert np.allclose(model.expert_intercept_[order], [0, 10, 1000], atol=[1, 2, 40])


@pytest.mark.parametrize("seed", [0, 6])
def test_far_apart_regimes_of_student_t_experts_are_found(seed):
    # the same regimes with t noise of 4 degrees of freedom (the default df):
    # every built-in start ended 82 to 98 nats below the true parameters on 5
    # seeds of 10 (seeds 0 and 6 among them); the ranks restart finds them
    rng = np.random.RandomState(seed)
    means, scales = np.array([0, 10, 1000]), np.array([1, 3, 100])
    regime = np.repeat([0, 1, 2], 100)
    y = means[regime] + scales[regime] * rng.standard_t(4, size=300)
    true = np.log(
        np.mean(
            [stats.t.pdf(y, 4, m, s) for m, s in zip(means, scales, strict=True)],
            axis=0,
        )
    ).sum()
    model = MoERegressor(3, noise="student_t", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(np.zeros((300, 1)), y)
    assert model.log_likelihood_ > true - 3
    order = np.argsort(model.expert_intercept_)
    assert np.allclose(model.expert_intercept_[order], [0, 10, 1000], atol=[1, 2, 40])


def test_the_ranks_restart_is_added_only_where_spreads_differ(capsys):
    from sklearn.datasets import load_diabetes

    X, y, _ = _far_regimes(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MoERegressor(3, n_init=2, random_state=0, verbose=1).fit(X, y)
    lines = [s for s in capsys.readouterr().out.splitlines() if "Restart" in s]
    assert [s.split(":")[0] for s in lines] == [
        "Restart 0 (kmeans)",
        "Restart 1 (random)",
        "Restart 2 (ranks)",
    ]
    # ordinary data: n_init restarts, as before (diabetes' bins differ in
    # spread by at most 1.8 times a normal distribution's)
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    for n_experts in (2, 3, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MoERegressor(n_experts, n_init=2, max_iter=3, verbose=1).fit(X, y)
        out = capsys.readouterr().out
        assert "ranks" not in out and out.count("Restart") == 2
    # nor with init_params="kmeans" (the user's choice of start)
    X, y, _ = _far_regimes(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MoERegressor(3, n_init=1, init_params="kmeans", verbose=1).fit(X, y)
    assert "ranks" not in capsys.readouterr().out


@pytest.mark.parametrize("n_bins", [2, 3, 8])
def test_spread_ratio_is_relative_to_normal_bins(n_bins):
    from skmoe._init import SPREAD_RATIO, _normal_spread_ratio, spread_ratio

    edges = stats.norm.ppf(np.linspace(0, 1, n_bins + 1))
    sds = [
        stats.truncnorm(a, b).std() for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    np.testing.assert_allclose(_normal_spread_ratio(n_bins), max(sds) / min(sds))
    y = np.random.RandomState(0).normal(size=100_000)
    assert abs(spread_ratio(y, np.ones_like(y), n_bins) - 1) < 0.05
    _, far, _ = _far_regimes(0)
    assert spread_ratio(far, np.ones_like(far), 3) > 2 * SPREAD_RATIO
    # rows of weight 0 take no part
    weight = np.ones_like(far)
    weight[::3] = 0
    assert spread_ratio(far, weight, n_bins) == spread_ratio(
        far[weight > 0], np.ones(200), n_bins
    )
    # a ratio of spreads: the same for y at any scale, without NumPy's
    # warnings (Gamma amounts of 1e200 overflowed its squares)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale in (2.0**900, 2.0**-900):
            assert spread_ratio(far * scale, weight, n_bins) == spread_ratio(
                far, weight, n_bins
            )


@pytest.mark.parametrize("seed", [0, 1])
def test_spread_ratio_of_tiny_spreads_beside_huge_ones(seed):
    # squares of differences below 1e-154 underflow: y of 1e-300 scored 0
    # (no restart) without a warning, and so did a bulk of 1e-10 beside an
    # outlier of 1e154 once y was scaled to [-1, 1] (1.3e163 before)
    from skmoe._init import SPREAD_RATIO, _normal_spread_ratio, spread_ratio

    rng = np.random.RandomState(seed)
    regime = np.repeat([0, 1, 2], 100)
    far = np.array([0, 10, 1000])[regime] + np.array([1, 3, 100])[regime] * (
        rng.normal(size=300)
    )
    ones = np.ones(300)
    sds = [np.std(part) for part in np.split(np.sort(far), 3)]
    expected = max(sds) / min(sds) / _normal_spread_ratio(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale in (1e-300, 1e-200, 1e300):
            np.testing.assert_allclose(
                spread_ratio(far * scale, ones, 3), expected, rtol=1e-12
            )
        y = np.sort(np.append(1e-10 * rng.normal(size=299), 1e154))
        low, high = np.std(y[:150] * 1e10) / 1e10, np.std(y[150:] / 1e154) * 1e154
        # (two halves of a normal distribution have equal spreads)
        np.testing.assert_allclose(
            spread_ratio(y, ones, 2), high / low / _normal_spread_ratio(2), rtol=1e-9
        )
        # spreads of 1e300 and 1e-300: the largest float, not inf
        y = np.append(1e-300 * rng.gamma(2, size=150), 1e300 * rng.gamma(2, size=150))
        assert spread_ratio(y, ones, 2) == np.finfo(np.float64).max > SPREAD_RATIO


@pytest.mark.parametrize("seed", [46, 47])
def test_spread_ratio_takes_integer_weights_as_repeated_rows(seed):
    # a row of weight w fills [c - w, c] of the cumulative weight and gives
    # each bin its part: given wholly to the bin of its midpoint, a weighted
    # row moved across an edge that its repeats straddle (272.5 with weights
    # against 244.9 with repeats at seed 46, 136.7 against 83.6 at seed 47)
    from skmoe._init import _normal_spread_ratio, spread_ratio

    rng = np.random.RandomState(seed)
    regime = rng.randint(3, size=40)
    y = np.array([0, 10, 1000])[regime] + np.array([1, 3, 100])[regime] * rng.normal(
        size=40
    )
    weight = rng.randint(1, 4, size=40)
    weight[-1] += -weight.sum() % 3  # 3 bins of whole rows once repeated
    repeated = np.sort(np.repeat(y, weight))
    sds = [np.std(part) for part in np.split(repeated, 3)]
    expected = max(sds) / min(sds) / _normal_spread_ratio(3)
    np.testing.assert_allclose(spread_ratio(y, weight * 1.0, 3), expected, rtol=1e-12)
    np.testing.assert_allclose(
        spread_ratio(repeated, np.ones_like(repeated), 3), expected, rtol=1e-12
    )
    # bins that end inside a row: its weight is split, a repeat's too, and
    # rows of weight 0 take no part
    weight[-1] += 1
    y, weight = np.append(y, 500.0), np.append(weight, 0)
    np.testing.assert_allclose(
        spread_ratio(y, weight * 1.0, 3),
        spread_ratio(np.repeat(y, weight), np.ones(weight.sum()), 3),
        rtol=1e-12,
    )


def test_spread_ratio_of_a_bin_of_one_value_is_zero():
    # a bin that one heavy row (or a run of ties) fills has no spread: its
    # weighted mean rounded off -0.74 and the ratio was 4.6e15, not 0
    from skmoe._init import spread_ratio

    y = np.array([0.29, 0.03, 0.55, -0.74, -0.16, -0.48, 0.6, 0.04])
    weight = np.ones(8, dtype=np.intp)
    weight[3] = 17
    repeated = np.sort(np.repeat(y, weight))
    assert np.all(repeated[:12] == -0.74)  # the lower of 2 bins: one value
    assert spread_ratio(y, weight * 1.0, 2) == 0.0
    assert spread_ratio(repeated, np.ones(24), 2) == 0.0


def test_ranks_are_weighted_mid_ranks():
    # the "ranks" start's ranks: the weight below a value and half the weight
    # at it, ties sharing one; integer weights as repeated rows, whose
    # mid-ranks are SciPy's average ranks less 1/2
    from skmoe._init import _ranks

    rng = np.random.RandomState(0)
    y = rng.randint(5, size=30).astype(float)  # ties
    weight = rng.randint(1, 4, size=30)
    expected = stats.rankdata(np.repeat(y, weight), method="average") - 0.5
    first = np.cumsum(weight) - weight  # each row's first copy
    np.testing.assert_array_equal(_ranks(y, weight * 1.0)[:, 0], expected[first])


def test_spread_ratio_needs_twice_as_many_distinct_values_as_bins():
    # 3 distinct values in 2 bins: 0 (no restart), though the bins' spreads
    # (0.47 and 470.9, the middle row half in each) differ 1000-fold; 4
    # distinct values do score
    from skmoe._init import spread_ratio

    assert spread_ratio(np.array([0.0, 1.0, 1000.0]), np.ones(3), 2) == 0.0
    assert spread_ratio(np.array([0.0, 1.0, 2.0, 1000.0]), np.ones(4), 2) > 100


def test_spread_ratio_of_ties_in_a_bin_whose_edge_ends_a_row_is_zero():
    # the edge between 2 bins of 6 rows falls on the third row's end: that row
    # has a piece of length 0 in the upper bin, which holds 3 copies of one
    # value alone (their mean rounds off it: 3 v / 3 != v) and has no spread
    from skmoe._init import spread_ratio

    v = 1.8675579901499675
    assert np.sum(np.full(3, v)) / 3 != v
    y = np.array([0.0, 0.5, 1.0, v, v, v])
    assert spread_ratio(y, np.ones(6), 2) == 0.0


def test_the_ranks_restart_is_for_built_in_experts_and_full_batch_solvers(capsys):
    # not with solver="sgd" nor expert_estimator (_ranks_start's conditions)
    from sklearn.tree import DecisionTreeRegressor

    X, y, _ = _far_regimes(0)

    def restarts(**params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MoERegressor(3, n_init=2, max_iter=3, random_state=0, verbose=1)
            model.set_params(**params).fit(X, y)
        out = capsys.readouterr().out
        return [s.split(":")[0] for s in out.splitlines() if s.startswith("Restart")]

    two = ["Restart 0 (kmeans)", "Restart 1 (random)"]
    assert restarts(solver="gradient") == [*two, "Restart 2 (ranks)"]
    assert restarts(solver="sgd") == two
    assert restarts(expert_estimator=DecisionTreeRegressor(max_depth=2)) == two


@pytest.mark.parametrize("variance_type", ["per_expert", "tied"])
def test_float32_variance_ceiling_beyond_float32_does_not_overflow(variance_type):
    # y near 1e19 (squares below float32's largest) put the variance ceiling,
    # the floor times VARIANCE_RANGE, beyond float32's largest: its cast in
    # the M-step overflowed with NumPy's RuntimeWarning
    rng = np.random.RandomState(0)
    X = rng.normal(size=(10, 1)).astype(np.float32)
    y = rng.normal(size=10)
    y[3] = 1e19
    model = MoERegressor(2, variance_type=variance_type, n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, y)
        prediction = model.predict(X)
    assert np.all(np.isfinite(model.expert_variance_))
    assert np.all(model.expert_variance_ <= np.finfo(np.float32).max)
    np.testing.assert_allclose(prediction[3], 1e19, rtol=1e-3)


def test_float32_y_whose_sum_overflows_gets_the_squares_error():
    # each y below float32's largest, their weighted sum beyond it: y's mean
    # overflowed with NumPy's RuntimeWarning before the check of y's squares
    X = np.arange(5, dtype=np.float32).reshape(-1, 1)
    y = np.array([0.0, 1.0, 2.0, 3e38, 3e38])
    assert np.isinf(np.sum(y.astype(np.float32)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="their squares overflow float32"):
            MoERegressor(2, n_init=1, random_state=0).fit(X, y)


# float64 y at float32's scale times this sit as close to float64's limits
FLOAT64_SCALE = math.sqrt(np.finfo(np.float64).max / np.finfo(np.float32).max)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_y_whose_range_squared_overflows_gets_the_squares_error(dtype, solver):
    # each y's square, and the sum of squared deviations from the mean, below
    # the dtype's largest, but (max y - min y)**2 beyond it: residuals of a
    # mean at one end overflowed their squares (gradient: NumPy's warning; EM
    # fitted 2 rows by luck), now the check of y's squares refuses them
    scale = 1.0 if dtype == np.float32 else FLOAT64_SCALE
    top = float(np.finfo(dtype).max)
    y = np.array([1.2e19, -1.2e19]) * scale
    assert 2 * y[0] ** 2 < top and y[0] - y[1] > math.sqrt(top)
    X = np.array([[0.0], [1.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="their squares overflow"):
            MoERegressor(1, solver=solver, random_state=0).fit(X, y.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_y_near_its_square_root_limit_with_a_small_range_fits(dtype):
    # large y whose range's square fits are not refused: y near 1.5e19 in
    # float32 (squares 2.3e38) with a spread of 1e17; a line's fit matches
    # LinearRegression's
    scale = 1.0 if dtype == np.float32 else FLOAT64_SCALE
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (200, 1))
    unit = 1.5 + 0.01 * X[:, 0] + 0.001 * rng.normal(size=200)
    y = (unit * 1e19 * scale).astype(dtype)
    model = MoERegressor(1, alpha=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X.astype(dtype), y)
        prediction = model.predict(X.astype(dtype))
    expected = LinearRegression().fit(X, unit).predict(X) * 1e19 * scale
    np.testing.assert_allclose(prediction, expected, rtol=1e-5)
    assert np.all(np.isfinite(model.expert_variance_))


def test_float32_gradient_fit_of_large_y_does_not_warn():
    # the line search's long steps took every expert's likelihood of a row
    # to 0 (log(0) in the mixture; and can cast coefficients beyond float32's
    # largest): NumPy warned, though the search backs off from the non-finite
    # values by itself
    rng = np.random.RandomState(1)
    X = rng.normal(size=(300, 2)).astype(np.float32)
    y = rng.uniform(-1e18, 1e18, 300).astype(np.float32)
    model = MoERegressor(2, solver="gradient", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, y)
        prediction = model.predict(X)
    assert np.all(np.isfinite(model.expert_variance_))
    # no signal in X: the fit is that of y / 1e18, scaled
    unit = MoERegressor(2, solver="gradient", random_state=0)
    unit.fit(X, y / np.float32(1e18))
    np.testing.assert_allclose(prediction, unit.predict(X) * 1e18, rtol=1e-3, atol=1e15)


# y near the square root of the largest float, whose experts' slopes, fitted
# on the rows they weigh, predicted far beyond y's range on rows they weighed
# at 0: the squared residuals overflowed, inf times a weight of 0 was NaN
# (NumPy warned, and with its warnings ignored every restart broke down).
# The reference: the same fit of y scaled down by a power of two (exact),
# whose range is ordinary, scaled back
NEAR_LIMIT_CASES = {
    "float32": (
        [[1.1392385], [0.6155995], [-1.1914408], [0.546767]],
        [-7.6606944e18, 7.6606944e18, -7.6606944e18, 7.6606944e18],
        np.float32,
        62,
    ),
    "float64": (
        [
            [2.40802308, -0.93857143],
            [1.03801658, 0.52702206],
            [-0.92410705, -1.45972242],
            [-1.68883385, 0.09900785],
            [0.99099381, -0.11013713],
        ],
        [
            -6.71905809e153,
            4.98306451e153,
            9.72625957e151,
            1.41543090e153,
            5.82494590e153,
        ],
        np.float64,
        510,
    ),
}


@pytest.mark.parametrize("case", sorted(NEAR_LIMIT_CASES))
def test_em_fit_whose_experts_extrapolate_beyond_near_limit_y_is_finite(case):
    X, y, dtype, power = NEAR_LIMIT_CASES[case]
    X, y = np.array(X, dtype), np.array(y, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", SkmoeWarning)  # (4 or 5 rows, K=3)
        model = MoERegressor(3, random_state=0).fit(X, y)
        prediction = model.predict(X)
        unit = MoERegressor(3, random_state=0).fit(X, y / dtype(2.0**power))
    assert np.all(np.isfinite(model.expert_coef_))
    assert np.all(np.isfinite(model.expert_variance_))
    np.testing.assert_allclose(prediction, unit.predict(X) * 2.0**power, rtol=1e-4)
    np.testing.assert_allclose(
        model.expert_coef_,
        unit.expert_coef_ * 2.0**power,
        rtol=1e-3,
        atol=1e-3 * 2.0**power,
    )


def test_gaussian_m_step_residuals_beyond_square_root_limit():
    # float32: a steep line fitted on 4 rows of weight 1 reaches 1e21 at a
    # fifth row of weight 0, whose squared residual overflowed (NaN times 0,
    # with NumPy's warning): the variance is that of the 4 rows' residuals
    # (closed form below)
    from skmoe.experts.gaussian import GaussianLinearExperts, residual_scale

    x = np.array([0.0, 0.25, 0.5, 1.0, 100.0])
    y = np.array([0.0, 3.0, 4.0, 10.0, 0.0]) * 1e18
    weight = np.array([[1.0, 1.0, 1.0, 1.0, 0.0]], np.float32)
    design = np.vstack([np.ones(5), x]).astype(np.float32)
    scale = residual_scale(np.float32, np.ptp(y))
    assert scale == 2.0**-65 and residual_scale(np.float32, 4e9) == 1.0
    experts = GaussianLinearExperts(1e22, scale=scale)  # ceiling 1e38
    params = experts.initial_params(np, design, y.astype(np.float32), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fitted = experts.m_step(np, design, y.astype(np.float32), weight, params, 0.1)
        penalty = float(experts.penalty(np, fitted, 0.1))
    # ridge normal equations of the 4 rows in float64 (intercept unpenalized)
    rows = np.vstack([np.ones(4), x[:4]])
    coef = np.linalg.solve(rows @ rows.T + np.diag([0.0, 0.1]), rows @ y[:4])
    ssr = np.sum((y[:4] - coef @ rows) ** 2)
    variance = (ssr + 0.1 * coef[1] ** 2) / 4
    np.testing.assert_allclose(fitted["coef"][:, 0], coef, rtol=1e-4)
    np.testing.assert_allclose(fitted["variance"], [variance], rtol=1e-4)
    np.testing.assert_allclose(penalty, 0.05 * coef[1] ** 2 / variance, rtol=1e-4)


def _rows_once(rows):
    # each row's share in its copies, as np.unique(axis=0) counts them
    _, inverse, counts = np.unique(
        rows, axis=0, return_inverse=True, return_counts=True
    )
    return 1.0 / counts[inverse.ravel()]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_collapse_rule_counts_distinct_rows_as_np_unique_does(dtype, monkeypatch):
    # copies of one-hot rows with signed zeros (one value), rows 1 ulp apart
    # (two values) and infinities, in three memory layouts: each row's share
    # in its copies as np.unique(axis=0) counts them, without its sort of
    # rows as records (0.14 to 0.47 s at 1e5 x 21)
    from skmoe.experts.gaussian import _once

    rng = np.random.default_rng(0)
    base = np.column_stack([np.eye(4), rng.normal(size=(4, 2))])
    Z = base[rng.integers(0, 4, 500)]
    signed = (Z[:, :4] == 0) & (rng.random((500, 4)) < 0.5)
    Z[:, :4][signed] = -0.0
    Z[:40, 4] = np.nextafter(Z[:40, 4], np.inf)
    Z[40:60, 5] = np.inf
    Z = Z.astype(dtype)
    expected = _rows_once(Z)
    assert len(np.unique(expected)) > 2  # copies of several counts
    unique = np.unique

    def by_items(*args, **kwargs):
        assert kwargs.get("axis") is None
        return unique(*args, **kwargs)

    monkeypatch.setattr(np, "unique", by_items)
    for rows in (Z, np.asfortranarray(Z), Z[::-1][::-1]):
        np.testing.assert_array_equal(_once(rows), expected)


# a line fitted on 8 rows of float32 y near the square root of the largest
# float (scaled: residual_scale), and rows where it predicts 1e21, beyond y's
# range: their squared residuals overflow float32
FAR_ROW_X = np.array([0.0, 0.25, 0.5, 1.0, 0.1, 0.6, 0.3, 0.8], np.float32)
FAR_ROW_Y = np.array([0.0, 3.0, 4.0, 10.0, 1, 6, 2.5, 7.5], np.float32) * 2e17


def test_log_likelihood_samples_of_a_near_limit_fit_square_as_the_fit():
    # log_likelihood_samples and responsibilities took the experts at scale
    # 1: the squared residual at x = 100 (1e21) overflowed, and they raised
    # "values so far from the model's predictions" for a finite density
    model = MoERegressor(1, random_state=0).fit(FAR_ROW_X[:, None], FAR_ROW_Y)
    X_new = np.array([[100.0], [0.5]], np.float32)
    y_new = np.array([0.0, 8e17], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        log_p = model.log_likelihood_samples(X_new, y_new)
        resp = model.responsibilities(X_new, y_new)
    # the normal log-density of one expert, from its attributes (float64)
    mean = float(model.expert_intercept_[0]) + X_new[:, 0].astype(float) * float(
        model.expert_coef_[0, 0]
    )
    variance = float(model.expert_variance_[0])
    expected = stats.norm.logpdf(y_new.astype(float), mean, math.sqrt(variance))
    assert expected[0] < -1e6  # (a residual of 1e21 in sds of 1.5e17)
    np.testing.assert_allclose(log_p, expected, rtol=1e-5)
    np.testing.assert_array_equal(resp, 1.0)


def test_fit_with_a_near_limit_row_of_tiny_weight_is_quiet():
    # the noise check after the fit squared residuals at scale 1: a row of
    # weight 1e-30 at x = 100 (residual 1e21) overflowed with NumPy's warning.
    # The fit is the weighted least squares line (closed form, float64)
    x = np.r_[FAR_ROW_X, 100.0]
    y = np.r_[FAR_ROW_Y, 0.0].astype(np.float32)
    weight = np.r_[np.ones(8), 1e-30]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MoERegressor(1, random_state=0).fit(
            x[:, None].astype(np.float32), y, sample_weight=weight
        )
    rows = np.vstack([np.ones(9), x.astype(float)])
    coef = np.linalg.solve((rows * weight) @ rows.T, (rows * weight) @ y)
    variance = np.sum(weight * (y - coef @ rows) ** 2) / np.sum(weight)
    fitted = [model.expert_intercept_[0], model.expert_coef_[0, 0]]
    np.testing.assert_allclose(fitted, coef, rtol=1e-4, atol=1e-4 * 2e18)
    np.testing.assert_allclose(model.expert_variance_, [variance], rtol=1e-3)


@pytest.mark.parametrize("first", ["fit", "partial_fit"])
def test_partial_fit_batch_of_near_limit_y_squares_as_the_fit(first):
    # later batches took the experts at scale 1 (from the attributes): a row
    # of weight 1e-30 at x = 100 (residual 1e21) made the gate's covariance
    # NaN after a fit, and an ordinary first batch's model "diverged" on a
    # near-limit one. The reference: the same calls on y / 2**40 (exact)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 40).astype(np.float32)
    y = ((10 * x + rng.normal(size=40)) * 2e17).astype(np.float32)
    X_batch = np.r_[x[:20], 100.0][:, None].astype(np.float32)
    y_batch = np.r_[y[:20], 0.0].astype(np.float32)
    weight = np.r_[np.ones(20), 1e-30]
    unit = np.float32(2.0**40)
    models = []
    for divisor in (np.float32(1.0), unit):
        model = MoERegressor(1, gate="gaussian", random_state=0)
        if first == "fit":
            model.fit(x[:, None], y / divisor)
        else:  # an ordinary first batch (y / 2**40), then y near the limit
            model.partial_fit(x[:20, None], y[:20] / unit)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            model.partial_fit(X_batch, y_batch / divisor, sample_weight=weight)
        models.append(model)
    scaled, reference = models
    if first == "partial_fit":  # (the reference's batches are both ordinary)
        reference = MoERegressor(1, gate="gaussian", random_state=0)
        reference.partial_fit(x[:20, None], y[:20] / unit / unit)
        reference.partial_fit(X_batch, y_batch / unit, sample_weight=weight)
    np.testing.assert_allclose(
        scaled.expert_coef_, reference.expert_coef_ * unit, rtol=1e-5
    )
    np.testing.assert_allclose(
        scaled.expert_variance_, reference.expert_variance_ * unit**2, rtol=1e-5
    )


def test_partial_fit_scale_from_the_range_of_all_the_y_seen():
    # the residual scale came from each batch's own range: a stream of single
    # rows of float32 y spanning 2e18 kept scale 1, and a later batch of one
    # row of weight 1e-30 at x = 100 (residual 1e21) "diverged". The
    # reference: the same stream of y / 2**40 (exact), scaled back
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 40).astype(np.float32)
    y = ((10 * x + rng.normal(size=40)) * 2e17).astype(np.float32)
    far_x = np.array([[100.0], [0.5]], np.float32)
    far_y = np.array([0.0, 1e18], np.float32)
    unit = np.float32(2.0**40)
    models = []
    for divisor in (np.float32(1.0), unit):
        model = MoERegressor(1, solver="sgd", random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            for row in range(40):
                model.partial_fit(x[row : row + 1, None], y[row : row + 1] / divisor)
            model.partial_fit(far_x[:1], far_y[:1], sample_weight=[1e-30])
            model.partial_fit(far_x, far_y / divisor, sample_weight=[1e-30, 1.0])
        models.append(model)
    scaled, reference = models
    assert scaled._residual_scale == 2.0**-65
    np.testing.assert_allclose(
        scaled.expert_coef_, reference.expert_coef_ * unit, rtol=1e-5
    )
    np.testing.assert_allclose(
        scaled.expert_variance_, reference.expert_variance_ * unit**2, rtol=1e-5
    )


def test_partial_fit_refuses_batches_whose_range_together_overflows():
    # each batch's y fit float64, both together do not (range 2e154, whose
    # square overflows), as fit refuses them; a Python OverflowError was raised
    X = np.arange(6.0)[:, None]
    model = MoERegressor(1, solver="sgd", random_state=0)
    model.partial_fit(X[:3], 1e154 + X[:3, 0] * 1e150)
    with pytest.raises(ValueError, match="too large to fit: with the y of the"):
        model.partial_fit(X[3:], -1e154 + X[3:, 0] * 1e150)
    with pytest.raises(ValueError, match="too large to fit"):
        MoERegressor(1).fit(X, np.r_[np.full(3, 1e154), np.full(3, -1e154)])


@pytest.mark.parametrize(
    ("dtype", "power"), [(np.float64, 505), (np.float32, 56)], ids=["f64", "f32"]
)
@pytest.mark.parametrize("variance_type", ["per_expert", "tied"])
def test_near_limit_variance_takes_the_penalty_of_steep_slopes(
    dtype, power, variance_type
):
    # y near the limit on a feature of sd 0.01: slopes of 300 * 2**power,
    # whose squares overflow (3e154 in float64, 2e19 in float32) though
    # alpha b^2 does not; the variance took the ceiling. Closed form
    # (float64, on y / 2**power, scaled back exactly): the ridge line of the
    # normalized weights, variance SSR + alpha b^2
    from skmoe.exceptions import FeatureScaleWarning

    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    unit_y = 3 * x + 0.5 * rng.normal(size=200)
    X = (0.01 * x[:, None]).astype(dtype)
    y = (unit_y * 2.0**power).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", FeatureScaleWarning)  # (sd 0.01)
        model = MoERegressor(1, alpha=1e-6, variance_type=variance_type).fit(X, y)
    rows = np.vstack([np.ones(200), X[:, 0].astype(float)])
    target = y.astype(float) / 2.0**power
    gram = rows @ rows.T / 200 + np.diag([0.0, 1e-6])
    coef = np.linalg.solve(gram, rows @ target / 200)
    variance = np.mean((target - coef @ rows) ** 2) + 1e-6 * coef[1] ** 2
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(model.expert_coef_[0] / 2.0**power, coef[1:], rtol=rtol)
    np.testing.assert_allclose(
        model.expert_variance_ / 4.0**power, [variance], rtol=rtol
    )


def test_near_limit_scale_keeps_the_variance_of_small_residuals():
    # float32: a row of weight 1e-30 at y = 5e9 scales the residuals
    # (residual_scale); a line's residuals of 1e-3, scaled by 2**-65 and
    # squared, were subnormal, and its variance a fifth of the weighted least
    # squares' (closed form, float64; alpha=0: no penalty's term)
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=200), 0.0]
    y = np.r_[0.5 * x[:200] + 1e-3 * rng.normal(size=200), 5e9].astype(np.float32)
    weight = np.r_[np.ones(200), 1e-30]
    X = x[:, None].astype(np.float32)
    model = MoERegressor(1, alpha=0.0).fit(X, y, sample_weight=weight)
    rows = np.vstack([np.ones(201), X[:, 0].astype(float)])
    coef = np.linalg.solve((rows * weight) @ rows.T, (rows * weight) @ y)
    variance = np.sum(weight * (y - coef @ rows) ** 2) / np.sum(weight)
    np.testing.assert_allclose(model.expert_variance_, [variance], rtol=1e-3)


@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_near_limit_scale_keeps_the_penalty_of_small_slopes(solver):
    # float32, scaled as above (a row of weight 1e-30 at y = 5e9): a slope
    # of 1e-3 times 2**-65, squared, was 0, and the penalty's term alpha b^2
    # (the variance's half here) was lost. Closed form (float64): the ridge
    # line of the normalized weights, variance (SSR + alpha b^2) / 1
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=200), 0.0]
    y = np.r_[1e-3 * (x[:200] + rng.normal(size=200)), 5e9].astype(np.float32)
    weight = np.r_[np.ones(200), 1e-30]
    X = x[:, None].astype(np.float32)
    model = MoERegressor(1, alpha=1.0, solver=solver, tol=1e-10, max_iter=2000)
    model.fit(X, y, sample_weight=weight)
    share = weight / weight.sum()
    rows = np.vstack([np.ones(201), X[:, 0].astype(float)])
    gram = (rows * share) @ rows.T + np.diag([0.0, 1.0])
    coef = np.linalg.solve(gram, (rows * share) @ y)
    variance = np.sum(share * (y - coef @ rows) ** 2) + coef[1] ** 2
    np.testing.assert_allclose(model.expert_coef_[0], coef[1:], rtol=1e-3)
    np.testing.assert_allclose(model.expert_variance_, [variance], rtol=1e-3)


def test_float32_fit_where_one_row_holds_the_weight_is_quiet():
    # one row of weight 1 beside two of 1e-30: the variance floor, from the
    # weighted moments, is about 1e-33, and the other rows' residuals of 1e3,
    # squared over it, are beyond float32's largest (NumPy's overflow warning
    # at every E-step); their log-densities are -inf, and every expert
    # predicts the one row's y
    X = np.array([[-0.125, -2.64], [0.163, -1.45], [0.111, -0.0224]], np.float32)
    y = np.array([3437.3143, 3501.8299, -1727.8799], np.float32)
    weight = np.array([1.0, 1e-30, 1e-30])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = MoERegressor(3, random_state=0).fit(X, y, sample_weight=weight)
        prediction = model.predict(X)
    np.testing.assert_allclose(prediction, np.full(3, y[0]), rtol=1e-6)


def test_partial_fit_refuses_a_later_batch_above_an_earlier_one_too():
    # as test_partial_fit_refuses_batches_whose_range_together_overflows, the
    # low batch first: the range of all the y seen runs from the earlier
    # batch's minimum to the later one's maximum (2e154, whose square
    # overflows float64)
    X = np.arange(6.0)[:, None]
    model = MoERegressor(1, solver="sgd", random_state=0)
    model.partial_fit(X[:3], -1e154 + X[:3, 0] * 1e150)
    with pytest.raises(ValueError, match="too large to fit: with the y of the"):
        model.partial_fit(X[3:], 1e154 + X[3:, 0] * 1e150)


def test_a_spike_beside_a_noisy_regime_with_a_tied_variance_is_not_a_collapse():
    # one expert fits a spike of one value (y = 5 for x < 0) exactly, the other
    # a line with noise sd 1: with a variance per expert the spike's sits at
    # the floor (a collapse, which warns); with one variance for both, the
    # collapse check pools their residuals as the fit does, and the variance
    # is held up by the noisy regime's (about 1 / 2 of the rows' sd 1 noise)
    from skmoe.exceptions import DegenerateFitWarning

    rng = np.random.RandomState(0)
    x = rng.uniform(-3, 3, 300)
    y = np.where(x < 0, 5.0, 2 * x + rng.randn(300))
    X = x[:, None]
    with pytest.warns(DegenerateFitWarning, match="collapsed"):
        MoERegressor(2, variance_type="per_expert", random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        model = MoERegressor(2, variance_type="tied", random_state=0).fit(X, y)
    line = x >= 0
    pooled = np.sum(
        (y[line] - np.polyval(np.polyfit(x[line], y[line], 1), x[line])) ** 2
    )
    np.testing.assert_allclose(model.expert_variance_, pooled / 300, rtol=0.05)


def test_constant_target_score_as_r2_score():
    # y constant: 1 for predictions equal to it (to 1e-9 of it), else 0, as
    # scikit-learn's r2_score (which wants them exact)
    from sklearn.metrics import r2_score

    from skmoe._math import constant_target_score

    y = np.full(5, 3.0)
    for relative in (1e-7, 1e-8, -1e-7, 1e-3):
        y_pred = y * (1 + relative)
        assert r2_score(y, y_pred) == 0.0
        assert constant_target_score(y, y_pred) == 0.0
    assert r2_score(y, y.copy()) == 1.0
    assert constant_target_score(y, y.copy()) == 1.0
    assert constant_target_score(y, np.exp(np.log(y))) == 1.0  # an ulp off


def test_float32_fits_of_a_constant_y_score_1():
    # float32 predictions of a constant y are off by their rounding (2.5e-7
    # of 123 from two Poisson experts): they scored 0, as predictions 1e-7
    # off in float64 do
    from skmoe import MoEPoissonRegressor
    from skmoe._math import constant_target_score

    y = np.full(5, 0.1)
    assert constant_target_score(y, y.astype(np.float32), np.float32) == 1.0
    assert constant_target_score(y, y * (1 + 1e-3), np.float32) == 0.0
    assert constant_target_score(y, y.astype(np.float32)) == 0.0  # float64's
    # float16's 1024 ulps are 1.0 (2 for a constant 3.3 scored 1): float32's
    three = np.full(5, 3.3)
    assert constant_target_score(three, np.full(5, 2.0), np.float16) == 0.0
    assert constant_target_score(three, three * (1 + 1e-5), np.float16) == 1.0
    # float32's tolerance is 1024 of its ulps, 1.22e-4 (the docstrings' 1.2e-4)
    assert constant_target_score(three, three * (1 + 1.2e-4), np.float32) == 1.0
    assert constant_target_score(three, three * (1 - 1.2e-4), np.float32) == 1.0
    assert constant_target_score(three, three * (1 + 1.25e-4), np.float32) == 0.0
    # float64 predictions (and any other dtype's) to 1e-9 of y, not 1024 ulps
    for dtype in (np.float64, np.int64):
        assert constant_target_score(three, three * (1 + 9e-10), dtype) == 1.0
        assert constant_target_score(three, three * (1 + 1.1e-9), dtype) == 0.0
    X = np.random.RandomState(3).normal(size=(200, 1)).astype(np.float32)
    for Estimator, value in [(MoERegressor, 0.1), (MoEPoissonRegressor, 123.0)]:
        y = np.full(200, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = Estimator(n_experts=2, random_state=0).fit(X, y)
        assert model.predict(X).dtype == np.float32
        assert not np.all(model.predict(X) == y)
        assert model.score(X, y) == 1.0
        assert model.score(X, y * (1 + 1e-3)) == 0.0


def test_mixture_std_of_tiny_and_zero_spreads():
    # scales of 1e-160: their squares (1e-320) are subnormal, 5 digits lost
    # in the plain sum; sqrt(w1 s1^2 + w2 s2^2) by hand in units of 1e-160
    from skmoe._math import mixture_std

    weights = np.array([[0.5], [0.5]])
    means = np.zeros((2, 1))
    scales = np.array([[3e-160], [4e-160]])
    expected = math.sqrt(0.5 * 9 + 0.5 * 16) * 1e-160
    got = mixture_std(np, weights, means, None, np.zeros(1), scales=scales)
    np.testing.assert_allclose(got, [expected], rtol=1e-14)
    got = mixture_std(np, weights, means, scales**2, np.zeros(1))
    assert got[0] > 0
    # every expert of positive weight at the mean with no spread: 0, not NaN
    weights = np.array([[1.0], [0.0]])
    means = np.array([[2.0], [5.0]])
    got = mixture_std(np, weights, means, np.array([[0.0], [1.0]]), np.array([2.0]))
    np.testing.assert_array_equal(got, [0.0])


@pytest.mark.parametrize(
    "form, scale, dtype",
    [
        ("variances", 1.0, np.float64),
        ("variances", 1.0, np.float32),
        ("per row", 1.0, np.float64),
        ("scales", 1.0, np.float64),
        ("scales", 1.0, np.float32),
        ("scales", 1e200, np.float64),
    ],
)
def test_mixture_std_in_place_is_the_plain_sum_and_holds_one_array(form, scale, dtype):
    # the NumPy path writes the plain sum's terms into one (K, n) array (the
    # expression's peaked at 3.1 to 4.1 times the means' bytes here, now
    # under 1.75). The numbers: the sum written out over
    # the experts of positive weight (one of weight 0 at every 5th row, where
    # its mean, and its scale per row, is infinite: it must add nothing), and
    # at 1e200, where the squares overflow, the scaled form's
    import tracemalloc

    from skmoe._math import mixture_std

    rng = np.random.RandomState(0)
    n_experts, n_rows = 8, 20_000
    weights = rng.dirichlet(np.ones(n_experts), n_rows).T
    weights[2, ::5] = 0.0
    relative = rng.normal(size=(n_experts, n_rows))
    columns = 1 if form == "variances" else n_rows
    relative_scales = rng.uniform(0.5, 2.0, (n_experts, columns))
    positive = weights > 0
    relative_mean = np.sum(weights * relative, axis=0)
    terms = relative_scales**2 + (relative - relative_mean) ** 2
    expected = scale * np.sqrt(np.sum(weights * terms, axis=0))
    means, spread = relative * scale, relative_scales * scale
    means[~positive] = np.inf
    if columns > 1:
        spread[~positive] = np.inf
    weights, means, spread = (
        np.ascontiguousarray(a, dtype=dtype) for a in (weights, means, spread)
    )
    mean = np.asarray(relative_mean * scale, dtype=dtype)
    if form == "scales":
        arguments, options = (None, mean), {"scales": spread}
    else:
        arguments, options = (spread**2, mean), {}
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = mixture_std(np, weights, means, *arguments, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, expected, rtol=rtol)
    if scale == 1:  # (the scaled form takes its own temporaries)
        assert peak < 1.75 * means.nbytes, peak / means.nbytes


def test_mixture_std_of_fortran_ordered_variances_holds_one_array():
    # (mutation testing) mixture_std's plain sum in place takes any NumPy
    # layout where variances (no scales) are given: a distribution's
    # transposed C-ordered (n, K) parameters are Fortran-ordered (K, n), and
    # their std held the expressions' temporaries (3.1 to 4.1 times the means'
    # bytes in the test above) where it needs one array. The same floats as
    # the C-ordered parameters', and the sum written out
    import tracemalloc

    from skmoe._math import mixture_std

    rng = np.random.RandomState(1)
    n_rows, n_experts = 20_000, 8
    weights = rng.dirichlet(np.ones(n_experts), n_rows)  # (n, K), C-ordered
    means = rng.normal(size=(n_rows, n_experts))
    variances = rng.uniform(0.25, 4.0, (n_rows, n_experts))
    mean = np.sum(weights * means, axis=1)
    parts = (weights.T, means.T, variances.T)
    assert all(a.flags.f_contiguous and not a.flags.c_contiguous for a in parts)
    tracemalloc.start()
    try:
        got = mixture_std(np, *parts, mean)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.75 * means.nbytes, peak / means.nbytes
    expected = mixture_std(np, *(np.ascontiguousarray(a) for a in parts), mean)
    np.testing.assert_array_equal(got, expected)
    terms = weights * (variances + (means - mean[:, None]) ** 2)
    exact = np.sqrt([math.fsum(row) for row in terms.tolist()])
    np.testing.assert_allclose(got, exact, rtol=1e-14)


def test_predict_std_in_row_chunks_is_the_mixture_std(monkeypatch):
    # predict(return_std=True) in chunks of 9 rows: the mixture's standard
    # deviation written out from the fitted gate, experts and noise
    from scipy.special import softmax

    import skmoe._base

    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 2))
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 1]) + 0.1 * rng.standard_normal(300)
    model = MoERegressor(3, random_state=0).fit(X, y)
    gate = softmax(model.gate_intercept_ + X @ model.gate_coef_.T, axis=1)
    means = model.expert_intercept_ + X @ model.expert_coef_.T
    mean = np.sum(gate * means, axis=1)
    deviations = (means - mean[:, None]) ** 2
    std = np.sqrt(np.sum(gate * (model.expert_variance_ + deviations), axis=1))
    whole = model.predict(X, return_std=True)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 8 * 9)
    assert model._chunk_rows(X) < 300
    chunked = model.predict(X, return_std=True)
    for got in (whole, chunked):
        np.testing.assert_allclose(got[0], mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got[1], std, rtol=1e-12)


def test_a_tied_noise_variance_held_up_by_alpha_names_alpha():
    # a tied variance takes alpha's term summed over the experts: a flat
    # regime's own slopes (0.01) hold up nothing, but the shared variance is
    # held by the steep one's (3); per expert, the cause was "the fit stopping"
    import re

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (600, 2))
    low = X[:, 1] < 0
    y = np.where(low, 5.0 + 0.01 * X[:, 0], -5 + 3 * X[:, 0]) + 1e-5 * rng.randn(600)
    with pytest.warns(UserWarning, match="held up by alpha's term") as caught:
        model = MoERegressor(n_experts=2, variance_type="tied", random_state=0)
        model.fit(X, y)
    (message,) = [str(w.message) for w in caught if "held up" in str(w.message)]
    assert message.startswith("The noise standard deviation of experts [0, 1]")
    # the M-step's closed form: the mean square of each row's own regime's
    # residual plus alpha times every expert's squared slopes
    own = np.where(
        low,
        model.expert_intercept_[0] + X @ model.expert_coef_[0],
        model.expert_intercept_[1] + X @ model.expert_coef_[1],
    )
    squares = np.mean((y - own) ** 2)
    expected = squares + model.alpha * np.sum(model.expert_coef_**2)
    np.testing.assert_allclose(model.expert_variance_, expected, rtol=1e-6)
    quoted = float(re.search(r"up to ([0-9.e+]+) times", message).group(1))
    np.testing.assert_allclose(quoted, np.sqrt(expected / squares), rtol=1e-2)


def _regimes_of_200_rows():
    """Two regimes of 200 rows each, 1e6 apart, of noise variance 0.75."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 1))
    low = np.arange(400) % 2 == 0
    y = np.where(low, 0.0, 1e6) + X[:, 0] * np.where(low, 1.0, -2.0)
    return X, y + rng.normal(scale=np.sqrt(0.75), size=400), low, rng


def test_regimes_at_the_variance_floor_quote_counts_and_the_ratio_of_deviations():
    # equal regimes: one count ("200 samples", not "200 to 200"), and the
    # noise standard deviation's ratio to the residuals', sqrt(floor / the
    # least residual variance), the residuals of least squares by hand
    import re

    X, y, low, _ = _regimes_of_200_rows()
    (message,) = _degenerate_messages(MoERegressor(2, random_state=0), X, y)
    assert len(np.unique(y[low])) == len(np.unique(y[~low])) == 200
    assert "their 200 samples of their own (200 distinct values of y)" in message
    residual = []
    for rows in (low, ~low):
        design = np.c_[np.ones(rows.sum()), X[rows]]
        fit = np.linalg.lstsq(design, y[rows], rcond=None)[0]
        residual.append(np.mean((y[rows] - design @ fit) ** 2))
    ratio = np.sqrt(1e-10 * np.var(y) / min(residual))
    quoted = re.search(r"noise standard deviation is up to ([0-9.e+]+) times", message)
    np.testing.assert_allclose(float(quoted[1]), ratio, rtol=5e-3)


def test_a_spike_beside_regimes_at_the_variance_floor_is_named_apart():
    # 40 copies of 5e5 beside the two regimes: the regimes' experts named at
    # the floor, the spike's among the copies, each expert once
    X, y, _, rng = _regimes_of_200_rows()
    X = np.vstack([X, rng.normal(size=(40, 1))])
    y = np.concatenate([y, np.full(40, 5e5)])
    model = MoERegressor(3, random_state=0)
    (message,) = _degenerate_messages(model, X, y)
    taken = np.argmax(model.responsibilities(X, y), axis=1)
    spike, regimes = np.unique(taken[400:]), np.unique(taken[:400])
    assert spike.shape == (1,) and regimes.shape == (2,)
    floor = f"Experts {regimes.tolist()} of the kept run collapsed onto the variance"
    assert floor in message
    copies = f"Experts {spike.tolist()} of the kept run collapsed: each fits a few"
    assert copies in message
