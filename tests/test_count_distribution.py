"""PredictivePoissonMixture and MoEPoissonRegressor.predict_distribution, against
scipy.stats.poisson and sums over the counts."""

import warnings

import numpy as np
import pytest
from _exact import mixture_logs
from scipy.stats import poisson

from skmoe import (
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    PredictiveNegativeBinomialMixture,
    PredictivePoissonMixture,
)

RATES = np.array([0.0, 1e-3, 0.5, 3.0, 40.0, 1e5])
QUANTILES = np.array([1e-9, 0.01, 0.2, 0.5, 0.77, 0.99, 1 - 1e-9])


def _regimes(n=1500, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    log_rate = np.where(X[:, 0] < 0, 0.5 - X[:, 0], 2 + 0.5 * X[:, 0])
    return X, rng.poisson(np.exp(log_rate)).astype(float)


@pytest.fixture(scope="module")
def fitted():
    X, y = _regimes()
    return X, y, MoEPoissonRegressor(n_experts=2, random_state=0).fit(X, y)


def _mixture(seed=0, n_rows=7, n_experts=3):
    rng = np.random.RandomState(seed)
    weights = rng.dirichlet(np.ones(n_experts), size=n_rows)
    rates = np.exp(rng.uniform(-2, 4, size=(n_rows, n_experts)))
    return PredictivePoissonMixture(weights, rates)


def test_one_component_is_scipys_poisson():
    dist = PredictivePoissonMixture(np.ones((RATES.size, 1)), RATES[:, None])
    y = np.array([[-2.0], [0.0], [1.0], [2.5], [3.0], [41.0]])
    np.testing.assert_allclose(dist.pmf(y), poisson.pmf(y, RATES), rtol=1e-12)
    np.testing.assert_allclose(dist.logpmf(y), poisson.logpmf(y, RATES), rtol=1e-12)
    np.testing.assert_allclose(dist.cdf(y), poisson.cdf(y, RATES), rtol=1e-12)
    q = QUANTILES[:, None]
    np.testing.assert_array_equal(dist.ppf(q), poisson.ppf(q, RATES))
    np.testing.assert_array_equal(dist.median(), poisson.median(RATES))
    expected_ends = poisson.interval(0.9, RATES)
    for got, expected in zip(dist.interval(0.9), expected_ends, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(dist.mean(), RATES)
    np.testing.assert_allclose(dist.var(), RATES)
    np.testing.assert_allclose(dist.std(), np.sqrt(RATES))
    # the ends, as scipy's
    np.testing.assert_array_equal(dist.ppf(0.0), poisson.ppf(0.0, RATES))
    np.testing.assert_array_equal(dist.ppf(1.0), poisson.ppf(1.0, RATES))


def test_nan_stays_nan_as_in_scipy():
    dist = _mixture(n_rows=2)
    for method in ("cdf", "logpmf", "pmf"):
        assert np.all(np.isnan(getattr(dist, method)(np.nan)))
    assert np.isnan(poisson.cdf(np.nan, 3.0))


def test_mixture_against_sums_of_poisson_laws():
    dist = _mixture()
    counts = np.arange(400.0)[:, None]
    pmf = np.sum(dist.weights * poisson.pmf(counts[..., None], dist.rates), axis=-1)
    np.testing.assert_allclose(dist.pmf(counts), pmf, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dist.cdf(counts + 0.5), np.cumsum(pmf, axis=0))
    np.testing.assert_allclose(dist.mean(), np.sum(counts * pmf, axis=0), rtol=1e-10)
    variance = np.sum((counts - dist.mean()) ** 2 * pmf, axis=0)
    np.testing.assert_allclose(dist.var(), variance, rtol=1e-10)
    np.testing.assert_allclose(dist.std(), np.sqrt(variance), rtol=1e-10)
    # ppf: the smallest count whose cdf reaches q, found in the table; the upper
    # tail by the survival function, as computing 1 - cdf loses its digits
    cdf = np.cumsum(pmf, axis=0)
    sf = np.sum(dist.weights * poisson.sf(counts[..., None], dist.rates), axis=-1)
    for q in QUANTILES:
        reached = sf <= 1 - q if q > 0.5 else cdf >= q
        expected = np.argmax(reached, axis=0).astype(float)
        np.testing.assert_array_equal(dist.ppf(q), expected)


def test_the_last_float_below_one_is_a_quantile_of_the_tail():
    # weights that sum to one only up to rounding: 1 - cdf cannot tell the
    # tail's last digits, the survival function can
    weights = np.array([[0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]])
    rates = np.array([[1.0, 2.0, 3.0], [0.5, 5.0, 1.0]])
    dist = PredictivePoissonMixture(weights, rates)
    q = np.nextafter(1.0, 0)
    counts = np.arange(80.0)[:, None, None]
    sf = np.sum(weights * poisson.sf(counts, rates), axis=-1)
    np.testing.assert_array_equal(dist.ppf(q), np.argmax(sf <= 1 - q, axis=0))


def test_ppf_inverts_cdf_at_many_quantiles_per_row():
    dist = _mixture(seed=1, n_rows=5, n_experts=4)
    q = np.linspace(0.01, 0.99, 37)[:, None]
    k = dist.ppf(q)
    assert k.shape == (37, 5)
    assert np.all(dist.cdf(k) >= q - 1e-12)
    assert np.all(dist.cdf(k - 1) < q)
    assert np.all(np.diff(k, axis=0) >= 0)


def test_ppf_of_cdf_gives_the_count_back():
    # q = cdf(k) is reached at k: upper quantiles tested through the survival
    # function alone were one count too high for 1 in 4 pairs (1 - q rounded)
    rates = np.array([0.3, 1.0, 4.0, 9.5, 30.0, 250.0])
    for rate in rates:
        k = np.arange(poisson.ppf(1e-6, rate), poisson.ppf(1 - 1e-10, rate))
        dist = PredictivePoissonMixture([[1.0]], [[rate]])
        q = dist.cdf(k[:, None])
        assert np.all(q < 1 - 1e-10)  # beyond, the survival function decides
        np.testing.assert_array_equal(dist.ppf(q)[:, 0], k)
        np.testing.assert_array_equal(poisson.ppf(q[:, 0], rate), k)

    def first_reaching(q):
        # the smallest count whose cdf (a column of q, over the counts 0, 1,
        # ...) reaches each of its values: k itself, or before k where the cdf
        # is flat
        return np.argmax(q[None, :, :] >= q[:, None, :], axis=1).astype(float)

    mixture = _mixture(seed=2, n_rows=4, n_experts=3)
    q = mixture.cdf(np.arange(0.0, 60.0)[:, None])
    inside = q < 1 - 1e-10  # the survival function's tail below
    np.testing.assert_array_equal(mixture.ppf(q)[inside], first_reaching(q)[inside])
    # weights that do not sum to 1 exactly, where cdf + sf is not 1, and a flat
    # cdf from 20 on, between the first component's counts and the others' (QA)
    dist = PredictivePoissonMixture(
        [[0.6591243202036083, 0.028492317351778214, 0.31238336244461334]],
        [[1.4074536480040467, 1280.1542822616602, 4058.2841885540784]],
    )
    q = dist.cdf(np.arange(0.0, 30.0)[:, None])
    np.testing.assert_array_equal(dist.ppf(q), first_reaching(q))
    assert dist.ppf(q)[25, 0] == 20
    # weights summing to 1 - 1e-7 (accepted) are normalized: the cdf reaches
    # every q < 1 (the bracket widened to inf before), as scipy's quantiles
    short = PredictivePoissonMixture([[0.3333333, 0.6666666]], [[2.0, 5.0]])
    exact = PredictivePoissonMixture([[1 / 3, 2 / 3]], [[2.0, 5.0]])
    q = np.array([[0.5], [0.99999995], [1 - 1e-9]])
    np.testing.assert_array_equal(short.ppf(q), exact.ppf(q))
    assert np.all(np.isfinite(short.ppf(q)))
    np.testing.assert_allclose(short.weights.sum(axis=1), 1.0, rtol=1e-15)


@pytest.mark.parametrize("n_experts", [4, 5, 6, 7])
def test_ppf_of_cdf_is_the_first_count_reaching_it_whatever_the_order_of_sums(
    n_experts,
):
    # the quantiles' test of a count (mass >= q) sums the components as the
    # cdf does (np.sum adds 4 to 7 terms in turn, the cdf pairwise): so q =
    # cdf(k) is reached at k, the first count whose cdf (over 0, 1, ...)
    # reaches it; below the upper tail, which the survival function decides
    mixture = _mixture(seed=n_experts, n_rows=60, n_experts=n_experts)
    q = mixture.cdf(np.arange(0.0, 80.0)[:, None])
    first = np.argmax(q[None, :, :] >= q[:, None, :], axis=1).astype(float)
    inside = q < 1 - 1e-10
    np.testing.assert_array_equal(mixture.ppf(q)[inside], first[inside])


def test_ppf_where_the_spread_is_below_the_floats_spacing(count_cdf_calls):
    # at a mean of 1e40 the counts within 1e24 of it are one float: the
    # normal limit puts cdf(mu) at 1/2 and cdf(the float above) at 1, so
    # ppf(0.01) is mu and ppf(0.99) the float above. The bracket, narrower
    # than the spacing, stood still for 2100 widenings, and ppf(0.99) was
    # mu, whose cdf is below 0.99
    means = np.array([1e40, 1e100])
    dist = PredictivePoissonMixture(np.ones((2, 1)), means[:, None])
    got = dist.ppf(np.array([[0.01], [0.99]]))
    np.testing.assert_array_equal(got, [means, np.nextafter(means, np.inf)])
    assert len(count_cdf_calls) < 40


def test_ppf_of_nan_is_nan_as_scipys():
    dist = PredictivePoissonMixture([[0.3, 0.7]], [[1.0, 8.0]])
    q = np.array([[0.2], [np.nan], [0.95]])
    out = dist.ppf(q)[:, 0]
    assert np.isnan(out[1])
    np.testing.assert_array_equal(out[[0, 2]], dist.ppf(q[[0, 2]])[:, 0])
    assert np.isnan(poisson.ppf(np.nan, 1.0))


def test_huge_rates_stay_finite():
    # scipy's poisson.ppf gives NaN at a rate of 1e18; the mixture's quantiles
    # follow the normal approximation there
    rates = np.array([[1e18, 4.0], [1e12, 1e12]])
    dist = PredictivePoissonMixture(np.array([[1.0, 0.0], [0.5, 0.5]]), rates)
    q = np.array([[0.01], [0.5], [0.99]])
    z = np.array([[-2.3263478740408408], [0.0], [2.3263478740408408]])
    expected = rates[:, 0] + z * np.sqrt(rates[:, 0])
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-15, atol=3.0)
    draws = dist.sample(2000, random_state=0)
    assert np.all(np.isfinite(draws))
    np.testing.assert_allclose(draws.mean(axis=0), rates[:, 0], rtol=1e-6)


def test_sample_frequencies_follow_the_pmf():
    dist = PredictivePoissonMixture([[0.3, 0.7]], [[1.0, 8.0]])
    draws = dist.sample(40000, random_state=0)[:, 0]
    assert np.all(draws == np.round(draws))
    counts = np.arange(30.0)
    freq = np.array([np.mean(draws == c) for c in counts])
    expected = dist.pmf(counts[:, None])[:, 0]
    # three binomial standard errors
    np.testing.assert_array_less(
        np.abs(freq - expected), 3 * np.sqrt(expected * (1 - expected) / 40000) + 1e-4
    )
    again = dist.sample(40000, random_state=0)[:, 0]
    np.testing.assert_array_equal(draws, again)


def test_indexing_and_repr():
    dist = _mixture()
    assert repr(dist) == "PredictivePoissonMixture(n_rows=7, n_components=3)"
    part = dist[[4, 1]]
    assert isinstance(part, PredictivePoissonMixture)
    np.testing.assert_array_equal(part.mean(), dist.mean()[[4, 1]])
    np.testing.assert_array_equal(dist[2].ppf(0.3), dist.ppf(0.3)[[2]])
    with pytest.raises(TypeError, match="PredictivePoissonMixture selects rows"):
        dist[1, 2]


@pytest.mark.parametrize(
    "weights, rates, match",
    [
        ([[0.5, 0.5]], [[1.0]], "same shape"),
        ([[0.5, 0.6]], [[1.0, 2.0]], "sum to one"),
        ([[0.5, 0.5]], [[1.0, -2.0]], "finite and non-negative"),
        ([[0.5, 0.5]], [[1.0, np.inf]], "finite and non-negative"),
    ],
)
def test_bad_parameters(weights, rates, match):
    with pytest.raises(ValueError, match=match):
        PredictivePoissonMixture(weights, rates)


def test_bad_arguments():
    dist = _mixture()
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
        dist.ppf(1.5)
    with pytest.raises(TypeError, match="y must be numeric"):
        dist.pmf("3")
    with pytest.raises(ValueError, match="does not broadcast"):
        dist.cdf(np.zeros(3))
    with pytest.raises(ValueError, match="n_samples"):
        dist.sample(0)


def test_predict_distribution_matches_the_estimator(fitted):
    X, y, reg = fitted
    dist = reg.predict_distribution(X)
    assert isinstance(dist, PredictivePoissonMixture)
    mean, std = reg.predict(X, return_std=True)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-10)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)
    np.testing.assert_allclose(dist.weights, reg.predict_gate(X), rtol=1e-10)
    rates = np.exp(reg.expert_intercept_ + X @ reg.expert_coef_.T)
    np.testing.assert_allclose(dist.rates, rates, rtol=1e-10)
    np.testing.assert_allclose(
        dist.logpmf(y), reg.log_likelihood_samples(X, y), rtol=1e-10
    )
    # the 90% interval holds about 90% of the training counts (or more: the
    # ends are counts, whose mass the interval keeps whole)
    low, high = dist.interval(0.9)
    inside = np.mean((y >= low) & (y <= high))
    assert 0.88 < inside < 0.97


def test_predict_distribution_with_sparse_routing():
    X, y = _regimes()
    reg = MoEPoissonRegressor(n_experts=2, top_k=1, random_state=0).fit(X, y)
    dist = reg.predict_distribution(X[:50])
    assert dist.weights.shape == (50, 1)
    np.testing.assert_allclose(dist.weights, 1.0)
    np.testing.assert_allclose(dist.mean(), reg.predict(X[:50]), rtol=1e-10)
    np.testing.assert_allclose(
        dist.logpmf(y[:50]), reg.log_likelihood_samples(X[:50], y[:50]), rtol=1e-10
    )


def test_predict_distribution_in_float32():
    X, y = _regimes(n=600)
    reg = MoEPoissonRegressor(n_experts=2, random_state=0)
    reg.fit(X.astype(np.float32), y.astype(np.float32))
    dist = reg.predict_distribution(X.astype(np.float32))
    np.testing.assert_allclose(dist.weights.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(dist.mean(), reg.predict(X), rtol=1e-5)


def test_predict_distribution_unfitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MoEPoissonRegressor().predict_distribution(np.zeros((2, 1)))


def test_prediction_bands_draw_count_quantiles(fitted):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from skmoe.plotting import PredictionBandsDisplay

    X, y, reg = fitted
    display = PredictionBandsDisplay.from_estimator(
        reg, X, y, coverage=0.8, grid_resolution=25
    )
    dist = reg.predict_distribution(display.x[:, None])
    np.testing.assert_array_equal(display.lower, dist.ppf(0.1))
    np.testing.assert_array_equal(display.upper, dist.ppf(0.9))
    np.testing.assert_allclose(display.mean, reg.predict(display.x[:, None]))
    import matplotlib.pyplot as plt

    plt.close("all")


def test_std_with_an_unused_component_of_extreme_scale():
    # a component of weight 0 set no unit, but its (scale / unit)^2 overflowed
    # and 0 * inf made the std NaN (var was right)
    from skmoe import PredictiveMixture

    gaussian = PredictiveMixture([[1.0, 0.0]], [[0.0, 0.0]], [[1e-160, 1.0]])
    np.testing.assert_allclose(gaussian.std(), [1e-160], rtol=1e-12)
    np.testing.assert_allclose(gaussian.std() ** 2, gaussian.var(), rtol=1e-12)
    counts = PredictivePoissonMixture([[1.0, 0.0]], [[1e-300, 1e10]])
    np.testing.assert_allclose(counts.std(), [1e-150], rtol=1e-12)


def test_an_infinite_count_has_probability_zero():
    dist = PredictivePoissonMixture([[0.5, 0.5]], [[1.0, 9.0]])
    np.testing.assert_array_equal(dist.logpmf([np.inf, -np.inf, 2.5]), -np.inf)
    np.testing.assert_array_equal(dist.pmf(np.inf), 0.0)
    assert np.isnan(dist.logpmf(np.nan))
    assert dist.logpmf(3) == pytest.approx(
        np.log(0.5 * poisson.pmf(3, 1.0) + 0.5 * poisson.pmf(3, 9.0))
    )


def test_a_certain_count_has_log_probability_zero():
    # weights within 1e-12 of summing to one are kept as they are: at rates 0
    # (a tiny exposure) log P(0) was log(sum of weights) = 1e-13 > 0
    from skmoe import PredictiveNegativeBinomialMixture

    weights = [[0.6, 0.3, 0.1 + 1e-13]]
    poisson_mix = PredictivePoissonMixture(weights, [[0.0, 0.0, 0.0]])
    nb_mix = PredictiveNegativeBinomialMixture(weights, [[1e-300] * 3], [[1.0] * 3])
    for dist in (poisson_mix, nb_mix):
        np.testing.assert_array_equal(dist.logpmf(0), [0.0])
        np.testing.assert_array_equal(dist.pmf(0), [1.0])
        assert np.isnan(dist.logpmf(np.nan))


def test_logpmf_of_huge_counts_against_exact_log_gammas():
    # scipy's poisson.logpmf, which the distribution called, gives 0 at y = mu
    # = 1e16 (terms of y log(y)); a negative binomial mixture's Poisson
    # component (dispersion 0) carried it
    from decimal import Decimal, localcontext

    from _exact import poisson_logpmf

    from skmoe import PredictiveNegativeBinomialMixture

    # (to 1e16: beyond, exp(eta)'s rounding moves a count at its mean)
    counts = np.array([0.0, 7.0, 1e9, 1e15, 1e16])
    rates = np.array([2.0, 7.0, 1e9, 1e15, 1e16])
    with localcontext() as context:
        context.prec = 400
        # (at the mean exp(log(rate)), which log_likelihood sees)
        expected = [
            float(poisson_logpmf(y, Decimal(np.log(r)).exp()))
            for y, r in zip(counts, rates, strict=True)
        ]
    poisson = PredictivePoissonMixture(np.ones((5, 1)), rates[:, None])
    np.testing.assert_allclose(poisson.logpmf(counts), expected, rtol=1e-13, atol=1e-12)
    mixed = PredictiveNegativeBinomialMixture(
        np.ones((5, 1)), rates[:, None], np.zeros((5, 1))
    )
    np.testing.assert_allclose(mixed.logpmf(counts), expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("rate", [1e6, 1e7, 1e9])
def test_upper_tail_of_large_rates_against_the_summed_pmf(rate):
    # scipy's pdtrc (a Gamma's lower tail of large shape) gave P(Y > mu + 5
    # sd) 3% low at 1e7 and 72% low at 1e9, and ppf(1 - 1e-6) 0.25 sd low
    from decimal import localcontext

    from _exact import poisson_logpmf

    k = np.floor(rate + 5 * np.sqrt(rate))
    with localcontext() as context:
        context.prec = 60
        first = float(poisson_logpmf(k + 1, rate, digits=60))
    # the tail's terms by the ratio mu / (j + 1), to 40 standard deviations
    j = k + 1 + np.arange(int(35 * np.sqrt(rate)))
    log_terms = first + np.concatenate([[0.0], np.cumsum(np.log(rate / (j[1:])))])
    tail = np.sum(np.exp(log_terms))
    dist = PredictivePoissonMixture([[1.0]], [[rate]])
    np.testing.assert_allclose(1 - dist.cdf(k), tail, rtol=1e-7)
    # the count whose cdf step holds q: halfway up its own probability
    step = np.exp(float(poisson_logpmf(k, rate, digits=60)))
    assert dist.ppf(1 - tail - step / 2)[0] == k
    assert dist.ppf(1 - tail + step / 2)[0] == k + 1


def test_negative_binomial_cdf_near_the_poisson_limit():
    # at phi mu = 1e-8, betainc(theta, y + 1, p) with p = 1 - 1e-8 lost eight
    # digits to p's rounding (cdf(0) 0.36787944565 for 0.36787944301), and
    # quantiles within 1e-8 of a step came out a count off
    from decimal import localcontext

    from _exact import nb_logpmf

    from skmoe import PredictiveNegativeBinomialMixture

    for mean, phi in [(1.0, 1e-8), (30.0, 1e-8), (1e-6, 1e-8), (3.0, 1e-3)]:
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[mean]], [[phi]])
        counts = np.arange(int(mean + 10 * np.sqrt(mean) + 5))
        with localcontext() as context:
            context.prec = 60
            pmf = [
                float(nb_logpmf(int(y), mean, 1 / phi, digits=60).exp()) for y in counts
            ]
        pmf = np.asarray(pmf)
        np.testing.assert_allclose(dist.cdf(counts), np.cumsum(pmf), rtol=1e-11)
        middle = np.cumsum(pmf) - pmf / 2
        np.testing.assert_array_equal(
            dist.ppf(middle[pmf > 1e-12]), counts[pmf > 1e-12]
        )


def test_quantiles_beside_a_component_near_the_largest_float():
    # scipy's pdtr is NaN at counts of 1e306 for a mean of 1e300: the median
    # bracket, whose end sat at the 2.7e307 component, then widened past the
    # largest float (inf, with NumPy's overflow warning)
    dist = PredictivePoissonMixture([[5.3e-77, 1.0 - 5.3e-77]], [[2.7e307, 1.1e300]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        median, upper = dist.median(), dist.ppf(0.9)
    np.testing.assert_allclose(median, 1.1e300, rtol=1e-12)
    # 1.28 sd (sqrt(1.1e300) = 1e150) above the mean: the mean's rounding
    np.testing.assert_allclose(upper, 1.1e300, rtol=1e-12)
    assert np.all(np.isfinite(dist.cdf([1e306, 1e307])))


def test_logpmf_from_the_rates_themselves():
    # through the log rates, rounding cost 1.2e-3 at mu = 1e20 (y log(mu)'s
    # terms) and the experts' overflow guard, linear in the log rate above
    # 8e303, gave log P(Y = 1e304) = +1.8e302 at mu = 1e304
    from decimal import localcontext

    from _exact import poisson_logpmf

    pairs = [
        (1e304, 1e304),
        (0.0, 1e304),
        (3.0, 1e304),
        (99999999940000006000.0, 1e20),
        (1e12 + 12345.0, 1e12),
        (7.0, 2.5),
        (1e15, 1e-300),
    ]
    counts, rates = (np.array(a) for a in zip(*pairs, strict=True))
    with localcontext() as context:
        context.prec = 400  # (terms of 7e306 at 1e304)
        expected = [float(poisson_logpmf(y, r)) for y, r in pairs]
    dist = PredictivePoissonMixture(np.ones((len(pairs), 1)), rates[:, None])
    np.testing.assert_allclose(dist.logpmf(counts), expected, rtol=1e-13, atol=1e-12)


def test_negative_binomial_whose_phi_mu_overflows():
    # phi mu beyond the floats: p = 1 / (1 + phi mu) rounded to 0, the cdf was
    # 0 everywhere (for P(Y = 0) = 0.9999993) and the median NaN. R's
    # pnbinom(0, size = 1e-9, mu = 1e300) = 0.999999288501459,
    # pnbinom(1e300, ...) = 0.99999997985395
    from skmoe import PredictiveNegativeBinomialMixture

    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e300]], [[1e9]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(
            dist.cdf([0.0, 1e300]).ravel(),
            [0.999999288501459, 0.99999997985395],
            rtol=1e-12,
        )
        np.testing.assert_allclose(dist.cdf(0.0), dist.pmf(0.0), rtol=1e-14)
        assert dist.median()[0] == 0
        # beside a Poisson component: 0.5 P(0) + 0.5 ppois(0, 5)
        mixed = PredictiveNegativeBinomialMixture(
            [[0.5, 0.5]], [[1e300, 5.0]], [[1e12, 0.0]]
        )
        np.testing.assert_allclose(mixed.cdf(0.0), 0.503368973140339, rtol=1e-12)
        assert mixed.median()[0] == 0 and mixed.ppf(0.9)[0] == 7


def test_negative_binomial_whose_phi_mu_overflows_at_large_counts():
    # the series I_p(theta, k) = p^theta Gamma(theta + k) / (Gamma(theta + 1)
    # Gamma(k)) took gammaln's difference, whose rounding (k log k) swamped
    # theta log k: the cdf was 30% low at 1e15, 1.0 at 1e100 and NaN from
    # 2.6e305, and a guess that overflowed set both ends of the quantile's
    # bracket to the largest float. Expected: mpmath at 700 digits of that
    # series (its next term is k p smaller: below 1e-200 here)
    from skmoe import PredictiveNegativeBinomialMixture

    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e308]], [[10.0]])
    np.testing.assert_allclose(
        dist.cdf([1e15, 1e100]),
        [4.18465179367234e-30, 1.323303088271358e-21],
        rtol=1e-11,
    )
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e308]], [[3.0]])
    np.testing.assert_allclose(dist.cdf(1e200), 7.764582113784204e-37, rtol=1e-11)
    # P(Y = 0) = (1 + 1e600)^(-1e-300), 1 - 1.4e-297: every quantile is 0
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e300]], [[1e300]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dist.cdf(1e306)[0] == 1.0 and dist.cdf(1.8e307)[0] == 1.0
        np.testing.assert_array_equal(
            dist.ppf([[0.5], [0.9], [0.9999], [1 - 1e-12]]).ravel(), [0.0] * 4
        )
        # as a component of weight 1e-300 beside NB(mu=1, phi=0.5): the
        # other's quantiles, scipy's nbinom(2, 2/3).ppf
        mixed = PredictiveNegativeBinomialMixture(
            [[1.0 - 1e-300, 1e-300]], [[1.0, 1e300]], [[0.5, 1e300]]
        )
        np.testing.assert_array_equal(
            mixed.ppf([[0.5], [0.9], [0.999]]).ravel(), [1.0, 3.0, 7.0]
        )


def test_negative_binomial_sf_keeps_its_digits_where_phi_mu_overflows():
    # where phi mu overflows and k p is below 1e-15, the upper tail was 1 minus
    # the series p^theta Gamma(theta + k) / (Gamma(theta + 1) Gamma(k)): 0 where
    # it is about theta log(1 / (k p)) (7.4e-18 at mu = 1e300, phi = 1e20), 3e-4
    # off at theta = 1e-15 (poch rounded to 1 + a few eps). Expected: mpmath at
    # 700 digits of 1 - p^theta (1 - p)^k 2F1(theta + k, 1; theta + 1; p) /
    # (theta B(theta, k)), p = theta / (theta + mu), k = y + 1
    from skmoe import PredictiveNegativeBinomialMixture

    cases = [  # (y, mu, phi, P(Y > y))
        (0.0, 1e300, 1e20, 7.368272297580946e-18),
        (5.0, 1e10, 1e300, 7.115180454948208e-298),
        (1e200, 1e308, 1e15, 2.826407507733261e-13),
        (1e5, 1e308, 2000.0, 0.2969685758162511),  # theta 5e-4
    ]
    for y, mu, phi, expected in cases:
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[mu]], [[phi]])
        np.testing.assert_allclose(dist.sf(y), expected, rtol=1e-13)
        np.testing.assert_allclose(dist.cdf(y), 1.0 - expected, rtol=1e-15)
    # as a component of weight 1/2 beside a Poisson of mean 1 (whose sf at 40
    # is 1.1e-50), the same mpmath series at k = 41
    mixed = PredictiveNegativeBinomialMixture(
        [[0.5, 0.5]], [[1e300, 1.0]], [[1e20, 0.0]]
    )
    np.testing.assert_allclose(mixed.sf(40.0), 3.662743433595791e-18, rtol=1e-13)


def test_negative_binomial_cdf_where_phi_mu_overflows_past_the_series():
    # past the series (k p above 1e-15) the cdf is the Gamma limit P(theta, k
    # p): scipy's gammainc was 4e-15 off near 1 at small theta (1 - 3.8e-15,
    # where P is 1 - 3.3e-19: the cdf fell as y rose past the switch), and
    # k p from exp(log k + log p) cost 5e-14 of it. Expected: mpmath at 700
    # digits of p^theta (1 - p)^k 2F1(theta + k, 1; theta + 1; p) / (theta
    # B(theta, k)), p = 1 / (1 + phi mu), k = y + 1
    from skmoe import PredictiveNegativeBinomialMixture

    cases = [  # (y, mu, phi, P(Y <= y))
        (4e305, 1e300, 1e20, 1.0),  # 1 - 3.3e-19
        (7.2e301, 1.6179238213760842e308, 1 / 0.9, 1.8167108769227853e-6),
        (1e296, 1.6179238213760842e308, 1 / 0.9, 9.7204562961565906e-12),
        (1e300, 1.7e308, 2.0, 6.119495226777082e-5),
    ]
    for y, mu, phi, expected in cases:
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[mu]], [[phi]])
        np.testing.assert_allclose(dist.cdf(y), expected, rtol=2e-15)
    # nondecreasing in y across the switch from the series (k p = 1e-15 at y
    # = 1e305) and where gammainc was above 1 (1 + 2e-15 at k p = 1e-14)
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e300]], [[1e20]])
    cdf = dist.cdf(np.geomspace(1e303, 1e308, 2000)[:, None])[:, 0]
    assert np.all(np.diff(cdf) >= 0)


@pytest.mark.parametrize(
    "k, expected",
    [
        (2.0, 0.00099850133158553044),
        (7.5, 0.0025206999143220661),
        (1e3, 0.0074761664652333734),
        (1e8, 0.018978078083748697),
    ],
)
def test_log_rising_factorial_series_at_the_switch(k, expected):
    # log(Gamma(k + theta) / (Gamma(k) Gamma(1 + theta))) just below the
    # switch to the series, theta = 9.99e-4: to the fourth power it was 2e-13
    # (k = 2) to 1e-14 (k = 1e8) off. Expected: mpmath at 50 digits
    from skmoe._count_distribution import SMALL_THETA, _log_rising_series

    theta = 9.99e-4
    assert theta < SMALL_THETA
    got = _log_rising_series(np.float64(k), np.float64(theta))
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_negative_binomial_logpmf_where_count_over_theta_overflows():
    # theta log1p(y / theta) was theta * inf where y / theta overflows: a
    # log-probability of -inf. Expected: mpmath at 700 digits of log Gamma(y +
    # theta) - log Gamma(theta) - log y! - theta log1p(phi mu) + y log(phi mu /
    # (1 + phi mu))
    from skmoe import PredictiveNegativeBinomialMixture

    cases = [  # (y, mu, phi, log P(Y = y))
        (1e300, 1.7e308, 1e15, -725.31430429312444),
        (1e15, 1.0, 1e300, -725.31430429312439),
        (1e250, 1e100, 1e300, -1266.4218011467251),
        (1e299, 1e300, 1e20, -734.52464466510057),
    ]
    for y, mu, phi, expected in cases:
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[mu]], [[phi]])
        np.testing.assert_allclose(dist.logpmf(y), expected, rtol=1e-15)


def test_quantile_beyond_the_floats_is_inf_without_a_warning():
    # sf at the largest float is 6.3e-3 (theta = 1e-3, mu = 1.8e308), so no
    # finite count reaches q = 1 - 1e-12: inf, where the bracket's widening
    # had warned of its overflow
    from skmoe import PredictiveNegativeBinomialMixture

    dist = PredictiveNegativeBinomialMixture(
        [[1.0]], [[np.finfo(float).max]], [[999.0]]
    )
    assert dist.sf(np.finfo(float).max)[0] > 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dist.ppf(1 - 1e-12)[0] == np.inf


def test_cdf_stays_at_most_one():
    # scipy's betainc gave 1 + 3.4e-14 at a dispersion of 1e300; the cdf is
    # 1.0 to the floats (mpmath's betainc)
    from skmoe import PredictiveNegativeBinomialMixture

    dist = PredictiveNegativeBinomialMixture([[1.0]], [[1e9]], [[1e300]])
    assert dist.cdf(1e300)[0] == 1.0
    assert 0.0 <= dist.sf(1e300)[0] < 1e-290


def test_sf_keeps_the_upper_tail():
    # P(Y > y) from the components' upper tails, against scipy's sf, with a
    # point mass at zero (rate 0) and negative binomial components; 1 - cdf
    # rounds to 0 above 30 at a mean of 1 (4.6e-35)
    from scipy.stats import nbinom

    from skmoe import PredictiveNegativeBinomialMixture

    y = np.array([-1.0, 0.0, 1.0, 2.5, 10.0, 30.0, 60.0])[:, None]
    mixture = PredictivePoissonMixture([[0.3, 0.7]], [[1.0, 4.0]])
    expected = 0.3 * poisson(1.0).sf(y) + 0.7 * poisson(4.0).sf(y)
    np.testing.assert_allclose(mixture.sf(y), expected, rtol=1e-12)
    assert 1.0 - mixture.cdf(30.0)[0] == 0.0 and mixture.sf(30.0)[0] > 1e-36
    inflated = PredictivePoissonMixture([[0.3, 0.7]], [[0.0, 4.0]])
    expected = 0.3 * (y < 0) + 0.7 * poisson(4.0).sf(y)
    np.testing.assert_allclose(inflated.sf(y), expected, rtol=1e-12)
    dispersions = np.array([[0.5, 2.0]])
    nb = PredictiveNegativeBinomialMixture([[0.3, 0.7]], [[1.0, 4.0]], dispersions)
    size = 1.0 / dispersions[0]
    parts = [nbinom(n, n / (n + mu)) for n, mu in zip(size, [1.0, 4.0], strict=True)]
    expected = 0.3 * parts[0].sf(y) + 0.7 * parts[1].sf(y)
    np.testing.assert_allclose(nb.sf(y), expected, rtol=1e-12)
    np.testing.assert_allclose(nb.sf(y) + nb.cdf(y), 1.0, rtol=1e-15)


def test_negative_binomial_log_probability_of_a_huge_count_is_not_nan():
    # a count of 1e306 beside a dispersion of 1e-8: inf - inf in the terms gave
    # NaN; the log probability is below -1e305 (-1.77e301 at 1e300): -inf, as a
    # Poisson's there
    from _exact import nb_logpmf

    from skmoe import PredictiveNegativeBinomialMixture

    dist = PredictiveNegativeBinomialMixture([[1.0]], [[2.0]], [[1e-8]])
    expected = float(nb_logpmf(10**300, 2, 10**8))  # exact log-gammas
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dist.logpmf(1e300)[0] == pytest.approx(expected, rel=1e-13)
        assert dist.logpmf(1e306)[0] == -np.inf
        assert dist.logpmf(1e308)[0] == -np.inf
        assert np.isnan(dist.logpmf(np.nan)[0])


@pytest.mark.parametrize("phi", [1e-150, 1e-160, 1e-200, 1e-300])
def test_negative_binomial_of_a_tiny_dispersion_is_the_poisson(phi):
    # scipy's betainc is NaN for theta = 1 / phi above about 1e155, where the
    # Gamma fallback, meant for p near 0, took P(Y <= y) as 0 and P(Y > y) as
    # 1 at a mean of 0.3 (cdf + sf = 2 once the tails were taken apart, and
    # ppf(1 - 1e-12) 144): the Poisson limit, as scipy's
    from skmoe import PredictiveNegativeBinomialMixture

    y = np.array([0.0, 1.0, 3.0, 10.0, 9900.0, 1e4, 1.1e4])
    q = np.array([0.05, 0.5, 1 - 1e-12])
    for rate in (0.3, 5.0, 1e4):
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[rate]], [[phi]])
        cdf, sf = dist.cdf(y[:, None])[:, 0], dist.sf(y[:, None])[:, 0]
        np.testing.assert_allclose(cdf, poisson.cdf(y, rate), rtol=1e-12)
        np.testing.assert_allclose(sf, poisson.sf(y, rate), rtol=1e-9, atol=1e-300)
        ppf = dist.ppf(q[:, None])[:, 0]
        np.testing.assert_array_equal(ppf, poisson.ppf(q, rate))


@pytest.mark.parametrize(
    "dispersions, match",
    [
        ([[0.5]], r"the shape of the weights \(1, 2\); got \(1, 1\)"),
        ([[0.5, -0.1]], "dispersions must be finite and non-negative"),
        ([[0.5, np.inf]], "dispersions must be finite and non-negative"),
    ],
)
def test_negative_binomial_mixture_refuses_bad_dispersions(dispersions, match):
    from skmoe import PredictiveNegativeBinomialMixture

    with pytest.raises(ValueError, match=match):
        PredictiveNegativeBinomialMixture([[0.5, 0.5]], [[2.0, 10.0]], dispersions)
    # dispersions of 0 are the Poisson limit: accepted, the Poisson mixture's
    # variance and tails
    dist = PredictiveNegativeBinomialMixture([[0.3, 0.7]], [[2.0, 10.0]], [[0, 0]])
    np.testing.assert_allclose(dist.var(), [0.3 * 2 + 0.7 * 10 + 0.21 * 8**2])
    counts = np.array([0, 1, 5, 20])
    cdf = 0.3 * poisson.cdf(counts, 2.0) + 0.7 * poisson.cdf(counts, 10.0)
    np.testing.assert_allclose(dist.cdf(counts), cdf, rtol=1e-12)
    np.testing.assert_allclose(dist.sf(counts), 1 - cdf, rtol=1e-12)


def test_negative_binomial_rows_selected_to_none_give_empty_results():
    # dist[mask] of a mask that keeps no row: cdf and sf raised
    # UnboundLocalError (np.all of no dispersions is True, np.any False)
    from scipy.stats import nbinom

    from skmoe import PredictiveNegativeBinomialMixture

    dist = PredictiveNegativeBinomialMixture(
        [[0.3, 0.7], [0.6, 0.4]], [[2.0, 10.0], [1.0, 4.0]], [[0.5, 0.2], [0.1, 0]]
    )
    for empty in ([], slice(2, 2), np.zeros(2, dtype=bool)):
        none = dist[empty]
        for method in (none.cdf, none.sf, none.pmf, none.logpmf, none.ppf):
            assert method(0.5).shape == (0,)
            assert method(np.full((3, 1), 0.5)).shape == (3, 0)
    # the rows kept still agree with scipy
    n, p = 1 / 0.5, 1 / (1 + 0.5 * 2.0)
    n2, p2 = 1 / 0.2, 1 / (1 + 0.2 * 10.0)
    expected = 0.3 * nbinom.cdf(3, n, p) + 0.7 * nbinom.cdf(3, n2, p2)
    np.testing.assert_allclose(dist[[0]].cdf(3.0), [expected], rtol=1e-12)
    np.testing.assert_allclose(dist[[0]].sf(3.0), [1 - expected], rtol=1e-12)


def test_sf_at_zero_where_the_mean_is_below_the_normal_floats():
    # P(Y > 0) where mu (or phi mu) is below the normal floats: scipy's pdtrc
    # gave 0 from mu = 2e-308 down, and betaincc at q = phi mu / (1 + phi
    # mu) of few digits was 1.2% off (mu = 1e-320, phi = 1e-3) or 0 (mu =
    # 3e-315, phi = 1e-10). Expected: mpmath's 1 - (1 + phi mu)^(-1 / phi)
    # (1 - exp(-mu) for Poisson) at 50 digits, whose floats are mu itself
    # for subnormal means
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rates = np.array([1e-300, 2e-308, 1e-310, 3e-315, 1e-320, 5e-322, 5e-324])
    ones = np.ones((rates.shape[0], 1))
    zeros = np.zeros(rates.shape[0])

    def exact(mu, phi):
        mu = mpmath.mpf(float(mu))
        if phi == 0:
            return float(-mpmath.expm1(-mu))
        phi = mpmath.mpf(phi)
        return float(-mpmath.expm1(-mpmath.log1p(phi * mu) / phi))

    poisson = PredictivePoissonMixture(ones, rates[:, None])
    expected = [exact(mu, 0) for mu in rates]
    np.testing.assert_allclose(poisson.sf(zeros), expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(poisson.cdf(zeros), 1.0 - np.array(expected))
    for phi in (1e-10, 1e-3, 0.5, 1e8):
        dist = PredictiveNegativeBinomialMixture(
            ones, rates[:, None], np.full_like(ones, phi)
        )
        expected = [exact(mu, phi) for mu in rates]
        np.testing.assert_allclose(dist.sf(zeros), expected, rtol=1e-13, atol=0)
        assert np.all(dist.sf(zeros + 1.0) == 0.0)  # (mu^2 underflows)


def test_negative_binomial_of_a_dispersion_below_the_normal_floats():
    # phi = 1e-310 (1 / phi overflows to inf) at mu = 1e10 (phi mu = 1e-300,
    # a normal number): betainc of theta = inf gave P(Y > y) = 1 and P(Y <=
    # y) = 0 at every count, and ppf inf. Expected: the Poisson limit, from
    # which this negative binomial differs by about phi (y - mu)^2 / 2 =
    # 1e-300 relative; scipy's Poisson distribution as the reference
    rates = np.array([[10.0], [1e10], [3e15]])
    ones = np.ones_like(rates)
    counts = rates[:, 0] + np.array([[-2.0], [0.0], [2.0]]) * np.sqrt(rates[:, 0])
    counts = np.floor(counts)
    for phi in (1e-310, 5e-324):
        dist = PredictiveNegativeBinomialMixture(ones, rates, np.full_like(ones, phi))
        sf, cdf = dist.sf(counts), dist.cdf(counts)
        np.testing.assert_allclose(sf, poisson.sf(counts, rates[:, 0]), rtol=1e-9)
        np.testing.assert_allclose(cdf, poisson.cdf(counts, rates[:, 0]), rtol=1e-9)
        assert 0.01 < np.min(sf) and np.max(sf) < 0.995  # (not the 1 of before)
        median = dist.ppf(0.5)  # (the least count of cdf >= 0.5, by scipy's cdf)
        assert np.all(poisson.cdf(median, rates[:, 0]) >= 0.5)
        assert np.all(poisson.cdf(median - 1.0, rates[:, 0]) < 0.5)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_std_and_var_where_the_mean_counts_underflow(negative_binomial):
    # a row whose rates underflow below the normal floats (X far out, or an
    # exposure of 1e-320) had a std of 0 (log rate -886: true std 3.5e-193),
    # or one from the subnormal rate's few digits. Expected: mpmath at 50
    # digits of sum_k w_k (mu_k (1 + phi_k mu_k) + (mu_k - mean)^2), from
    # the fitted parameters (:func:`_exact_variances`)
    X, y = _far_rows_data(n_features=1)
    model = _count_model(negative_binomial, X, y, n_experts=2, gate="constant")
    # (log rates near -870 and -2300; -1120 and -1840; near -735 twice)
    rows = np.array([[-2400.0], [-1200.0], [0.0], [1.0], [-700.0]])
    exposure = np.array([1.0, 1e-300, 1e-320, 1e-320, 1.0])
    dist = model.predict_distribution(rows, exposure=exposure)
    var, std, _ = _exact_variances(model, rows, exposure)
    assert np.all((std[:4] > 0) & (std[:4] < 1e-150))  # (the rows of tiny means)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)
    # (where the variance is subnormal, to 2 of its spacings of 4.9e-324)
    np.testing.assert_allclose(dist.var(), var, rtol=1e-10, atol=1e-323)


@pytest.mark.parametrize("mu, phi", [(1e294, 1e-309), (1e300, 1e-309), (1e306, 1e-310)])
def test_negative_binomial_of_a_subnormal_dispersion_at_a_huge_mean(mu, phi):
    # phi below the normal floats with phi mu past POISSON_LIMIT (1e-15 to
    # 1e-4): betainc of theta = inf gave P(Y <= y) = 0 and P(Y > y) = 1 at
    # every count, 2 mu included. Expected, by Chebyshev with the variance
    # mu (1 + phi mu): P(Y <= mu / 2) and P(Y > 2 mu) at most 4 (1 + phi mu)
    # / mu, below 1e-290
    rates = np.array([[mu]])
    ones = np.ones_like(rates)
    dist = PredictiveNegativeBinomialMixture(ones, rates, np.full_like(ones, phi))
    bound = 4 * (1 + phi * mu) / mu
    assert dist.cdf(np.array([mu / 2]))[0] <= bound
    assert dist.sf(np.array([mu / 2]))[0] >= 1 - bound
    assert dist.cdf(np.array([2 * mu]))[0] >= 1 - bound
    assert dist.sf(np.array([2 * mu]))[0] <= bound


def _exact_variances(model, rows, exposure=None):
    """mpmath at 50 digits of each row's sum_k w_k (mu_k (1 + phi_k mu_k) +
    (mu_k - mean)^2), from ``model``'s fitted parameters (softmax gate; a
    constant gate's ``gate_coef_`` is 0) and the rows' ``exposure`` (None:
    1), and the log of its least gate weight."""
    import mpmath

    mpmath.mp.dps = 50
    phis = getattr(model, "expert_dispersion_", np.zeros(len(model.gate_intercept_)))
    exposure = np.broadcast_to(1.0 if exposure is None else exposure, len(rows))
    variances, lightest = [], []
    for x, e in zip(rows, exposure, strict=True):
        log_weights, log_means = mixture_logs(model, x)
        weights = [mpmath.exp(g) for g in log_weights]
        means = [mpmath.exp(v) * mpmath.mpf(float(e)) for v in log_means]
        mean = sum(w * mu for w, mu in zip(weights, means, strict=True))
        variances.append(
            sum(
                w * (mu * (1 + mpmath.mpf(float(phi)) * mu) + (mu - mean) ** 2)
                for w, mu, phi in zip(weights, means, phis, strict=True)
            )
        )
        lightest.append(float(mpmath.log(min(weights))))
    std = np.array([float(mpmath.sqrt(v)) for v in variances])
    return np.array([float(v) for v in variances]), std, np.array(lightest)


def _count_model(negative_binomial, X, y, **params):
    """A MoENegativeBinomialRegressor (``negative_binomial``) or a
    MoEPoissonRegressor of ``params`` and ``random_state=0``, fitted to
    ``X, y``."""
    Estimator = (
        MoENegativeBinomialRegressor if negative_binomial else MoEPoissonRegressor
    )
    return Estimator(random_state=0, **params).fit(X, y)


def _far_rows_data(n_features=2):
    """Counts of two regimes in ``n_features`` features (400 rows), of log
    rates ``0.5 + 0.8 x_0`` and ``1.5 + 0.3 x_last``."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(400, n_features))
    low = rng.uniform(size=400) < 0.5
    y = rng.poisson(np.exp(np.where(low, 0.5 + 0.8 * X[:, 0], 1.5 + 0.3 * X[:, -1])))
    return X, y


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_std_and_var_where_a_gate_weight_underflows(negative_binomial):
    # X far out: a component whose gate weight underflowed below the normal
    # floats (log weight -942 beside log rate 192, a share w mu^2 of 4.4e-243)
    # took no part, for a variance of 3.3e-293 from the others; a weight of
    # e^-726 kept few digits. Expected: mpmath, from the fitted parameters
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X, y, n_experts=3)
    rows = np.array([[-2000.0, 5.0], [-1500.0, 0.0], [-1000.0, 0.0], [0.5, 0.5]])
    dist = model.predict_distribution(rows)
    var, std, lightest = _exact_variances(model, rows)
    # (the case: a weight below the smallest normal float in a far row)
    assert min(lightest) < np.log(np.finfo(float).smallest_normal)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)
    # (where the variance is subnormal, to 2 of its spacings of 4.9e-324)
    np.testing.assert_allclose(dist.var(), var, rtol=1e-10, atol=1e-323)


def test_std_and_var_where_a_float32_gate_weight_underflows():
    # a float32 model's gate weights underflow below float32's normal floats
    # (1.2e-38), where the float64 distribution took them as they were: the
    # variance of a row at X = -300 was 2% off (1.1967e-40 for 1.1724e-40),
    # and one at -2000 was 0 for 1.18e-273. Expected: mpmath, from the fitted
    # parameters, to float32's digits
    X, y = _far_rows_data()
    model = MoEPoissonRegressor(n_experts=2, random_state=0)
    model.fit(X.astype(np.float32), y)
    rows = np.array([[-300.0, 0.0], [-2000.0, 5.0], [0.5, 0.5]], dtype=np.float32)
    dist = model.predict_distribution(rows)
    var, std, lightest = _exact_variances(model, rows)
    assert np.all(lightest[:2] < np.log(np.finfo(np.float32).smallest_normal))
    np.testing.assert_allclose(dist.std(), std, rtol=2e-5)
    np.testing.assert_allclose(dist.var(), var, rtol=2e-5)


@pytest.mark.parametrize("negative_binomial", [False, True])
@pytest.mark.parametrize("exposure", [None, 1e-300])
def test_predict_std_where_a_gate_weight_or_rate_underflows(
    negative_binomial, exposure
):
    # predict(return_std=True) summed the float weights and rates, which lose
    # the components of weights or (exposed) rates below the normal floats:
    # 5.7e-147 for 6.6e-122 at X = (-2000, 5) (log weight -942 beside log
    # rate 192), and 0 for 5.7e-297 there at an exposure of 1e-300. Expected:
    # mpmath, from the fitted parameters; the same as the distribution's std
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X, y, n_experts=3)
    rows = np.array(
        [[-2000.0, 5.0], [-1500.0, 0.0], [-1000.0, 0.0], [0.5, 0.5], [-300.0, 0.0]]
    )
    _, std, lightest = _exact_variances(model, rows, exposure)
    assert min(lightest) < np.log(np.finfo(float).smallest_normal)
    _, predicted = model.predict(rows, return_std=True, exposure=exposure)
    np.testing.assert_allclose(predicted, std, rtol=1e-10)
    dist = model.predict_distribution(rows, exposure=exposure)
    np.testing.assert_allclose(predicted, dist.std(), rtol=1e-10)


def _exact_means(model, rows, exposure=None):
    """mpmath at 50 digits of each row's sum_k w_k mu_k, from ``model``'s
    parameters (softmax gate) and the rows' ``exposure`` (None: 1)."""
    import mpmath

    mpmath.mp.dps = 50
    exposure = np.broadcast_to(1.0 if exposure is None else exposure, len(rows))
    means = []
    for x, e in zip(rows, exposure, strict=True):
        log_weights, log_means = mixture_logs(model, x)
        means.append(
            sum(
                mpmath.exp(g + v) * mpmath.mpf(float(e))
                for g, v in zip(log_weights, log_means, strict=True)
            )
        )
    return np.array([float(m) for m in means])


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_mean_where_an_underflowed_gate_weight_holds_a_large_rate(negative_binomial):
    # a subnormal gate weight of e^-720 beside a rate of e^576, the other
    # component's rate e^-800: the mixture's mean is e^-144, 2.9e-63, which
    # the distribution's mean() gave 1e-11 off (the weight's few bits);
    # expected: mpmath, from the parameters. At x = -37.5 the weight, e^-750,
    # is 0 as a float, but its term e^-150 (7.2e-66) is one: the mixture's
    # mean there, which predict and mean() gave as 0 (they left the expert
    # out, as for a term beyond the floats)
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1], y, n_experts=2)
    model.gate_intercept_ = np.array([0.0, 0.0])
    model.gate_coef_ = np.array([[10.0], [-10.0]])
    model.expert_intercept_ = np.array([0.0, -800.0])
    model.expert_coef_ = np.array([[-16.0], [0.0]])
    rows = np.array([[-37.5], [-36.0], [-30.0], [0.3]])
    expected = _exact_means(model, rows)
    assert expected[0] > 1e-70 and expected[1] > 1e-64  # (means of their own)
    np.testing.assert_allclose(model.predict(rows), expected, rtol=1e-12)
    dist = model.predict_distribution(rows)
    np.testing.assert_allclose(dist.mean(), expected, rtol=1e-12)
    _, std, _ = _exact_variances(model, rows)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_float32_mean_leaves_out_a_share_beyond_float32_as_predict(negative_binomial):
    # a float32 model's gate weight of 0 in float32 (e^-120 at x = -60,
    # e^-400 at x = -200) beside a rate of e^(2.5 |x|): its share e^30 is a
    # float32 and the mixture's mean (mpmath); e^100 is beyond float32, where
    # predict leaves the expert out (the other's rate 1 at weight 1 / (1 +
    # e^-400)), but the float64 distribution's mean() took it (2.7e43)
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1].astype(np.float32), y, n_experts=2)
    model.gate_intercept_ = np.zeros(2, dtype=np.float32)
    model.gate_coef_ = np.array([[1.0], [-1.0]], dtype=np.float32)
    model.expert_intercept_ = np.zeros(2, dtype=np.float32)
    model.expert_coef_ = np.array([[-2.5], [0.0]], dtype=np.float32)
    rows = np.array([[-60.0], [-200.0]], dtype=np.float32)
    exact = _exact_means(model, rows[:1])
    assert exact[0] > 1e13  # (the share, e^30, is the mean)
    predicted = model.predict(rows)
    np.testing.assert_allclose(predicted, [exact[0], 1.0], rtol=1e-4)
    np.testing.assert_allclose(model.predict_distribution(rows).mean(), predicted)


@pytest.mark.parametrize("zero_inflated", [False, True])
@pytest.mark.parametrize("negative_binomial", [False, True])
@pytest.mark.parametrize(
    "dtype, x, slopes",
    [(np.float64, -400.0, (-3.8, -3.75)), (np.float32, -60.0, (-3.5, -10 / 3))],
)
def test_weight_0_share_is_decided_at_the_exposure(
    negative_binomial, zero_inflated, dtype, x, slopes
):
    # a gate weight of 0 (e^(2x): e^-800, or e^-120 in float32) beside a
    # rate of e^(s x): its share per unit exposure e^720 or e^700 (float32:
    # e^90 or e^80) is beyond the floats or not, and at exposures of e^-20,
    # 1 and e^20 its share of the counts may be the other (with
    # zero_inflated, a point mass at zero of weight e^x beside them). The
    # expert takes part where its share at min(e, 1) times the unit share is
    # a float of the model's dtype, in predict and the distribution alike.
    # Where its counts' share is beyond the floats and the share per unit is
    # not (e^700 at e^20), predict raised that the counts overflow and the
    # distribution's mean() served the other expert's count alone (4.9e8)
    # for the 1.65e308 that predict served at e^9.7. Expected: mpmath's mean
    # where the expert takes part and its counts' share is a float (e^-20:
    # 1.01e304, where predict once gave the other's 2.1e-9), the other
    # experts' (mpmath) where it is left out, and where the counts' share
    # is beyond the model's floats, predict raises and so does
    # predict_distribution in float64; a float32 model's distribution,
    # computed in float64, serves the counts' mean there (e^100), as it does
    # an expert's of positive weight whose counts are beyond float32
    import mpmath

    mpmath.mp.dps = 50
    X, y = _far_rows_data()
    n_experts = 3 if zero_inflated else 2
    model = _count_model(
        negative_binomial,
        X[:, :1].astype(dtype),
        y,
        n_experts=n_experts,
        zero_inflated=zero_inflated,
    )
    model.gate_intercept_ = np.zeros(n_experts, dtype=dtype)
    # (the point mass at zero first: weight e^x, mean 0)
    gate_coef = [[0.0], [1.0], [-1.0]] if zero_inflated else [[1.0], [-1.0]]
    model.gate_coef_ = np.array(gate_coef, dtype=dtype)
    intercepts = [-np.inf, 0.0, 0.0] if zero_inflated else [0.0, 0.0]
    model.expert_intercept_ = np.array(intercepts, dtype=dtype)
    k = 1 if zero_inflated else 0  # the expert of weight 0
    rows = np.array([[x]], dtype=dtype)
    largest = mpmath.log(mpmath.mpf(float(np.finfo(dtype).max)))
    rtol = 1e-13 if dtype == np.float64 else 1e-4
    kept, finite = [], []
    for slope in slopes:
        coef = np.zeros((n_experts, 1))
        coef[k] = slope
        model.expert_coef_ = coef.astype(dtype)
        log_weights, log_rates = mixture_logs(model, rows[0])
        assert np.exp(dtype(log_weights[k])) == 0  # (the case: a weight of 0)
        unit = log_weights[k] + log_rates[k]
        for log_exposure in (-20, 0, 20):
            exposure = np.exp(float(log_exposure))
            share = unit + mpmath.log(exposure)
            takes_part = unit + min(log_exposure, 0) < largest  # (10 from it)
            kept.append(takes_part)
            finite.append(share < largest)
            if not takes_part:  # the others' counts
                others = [j for j in range(n_experts) if j != k]
                expected = float(
                    sum(mpmath.exp(log_weights[j] + log_rates[j]) for j in others)
                    * exposure
                )
            else:
                expected = _exact_means(model, rows, exposure)[0]
            if takes_part and not share < largest:
                # (1.65e308 at e^9.7 must not drop to the others' 4.9e8 at
                # e^20)
                with pytest.raises(ValueError, match="counts at these exposures"):
                    model.predict(rows, exposure=exposure)
                if dtype == np.float64:
                    with pytest.raises(
                        ValueError,
                        match="predict_distribution: the predicted counts at "
                        "these exposures overflow float64",
                    ):
                        model.predict_distribution(rows, exposure=exposure)
                    continue
            else:
                predicted = model.predict(rows, exposure=exposure)
                np.testing.assert_allclose(predicted, [expected], rtol=rtol)
            dist = model.predict_distribution(rows, exposure=exposure)
            np.testing.assert_allclose(dist.mean(), [expected], rtol=rtol)
            # (the standard deviation takes every share, as predict's)
            _, std, _ = _exact_variances(model, rows, exposure)
            np.testing.assert_allclose(dist.std(), std, rtol=rtol)
    # (both sides of the bound, each crossed by an exposure: at e^-20 the
    # counts' share decides, at e^20 the share per unit)
    assert kept == [True, False, False, True, True, True]
    assert finite == [True, False, False, True, True, False]


def test_log_pmf_of_a_row_whose_log_exposure_is_kept():
    # predict_distribution keeps the rows' log exposures among the log parts
    # for the moments alone (_moment_parts): logpmf, which takes the other
    # log parts as keywords, is not given them. At x = -400 expert 0's weight
    # is e^-800 beside a rate of e^1500, at e^-20: counts of mean e^1480,
    # whose pmf at 3 is 0; expert 1's weight is 1 - e^-800, its counts' mean
    # e^-20: log pmf(3) = 3 (-20) - e^-20 - log 3!
    X, y = _far_rows_data()
    model = _count_model(False, X[:, :1], y, n_experts=2)
    model.gate_intercept_ = np.zeros(2)
    model.gate_coef_ = np.array([[1.0], [-1.0]])
    model.expert_intercept_ = np.zeros(2)
    model.expert_coef_ = np.array([[-3.75], [0.0]])
    dist = model.predict_distribution(np.array([[-400.0]]), exposure=np.exp(-20.0))
    expected = -60.0 - np.exp(-20.0) - np.log(6.0)
    np.testing.assert_allclose(dist.logpmf(np.array([[3.0]])), [[expected]], rtol=1e-14)


@pytest.mark.parametrize("negative_binomial", [False, True])
@pytest.mark.parametrize("top_k", [None, 2])
def test_weight_0_share_is_decided_at_each_rows_exposure(negative_binomial, top_k):
    # the rows' own exposures, given as a pandas Series of another index,
    # decide for each row which experts of gate weight 0 take part: at x =
    # -400 expert 0's weight is e^-800 (0) beside a rate of e^1520, a share
    # of e^720 per unit exposure; expert 2's weight e^-1600 (with top_k=2 not
    # routed to; at x = 0.5 it is expert 1 that is not). At e^-20 the
    # expert takes part (its counts' share e^700), at 1 and e^20 not (the
    # others' count), and a row in the data between them keeps its own.
    # Expected: mpmath, from the parameters (top_k: the gate's softmax over
    # the routed experts), the same in predict and the distribution's
    # mean(); at a row's exposure of e^20 with a share per unit of e^700 (a
    # slope of -3.75), both refuse
    import mpmath
    import pandas as pd

    mpmath.mp.dps = 50
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1], y, n_experts=3, top_k=top_k)
    model.gate_intercept_ = np.zeros(3)
    model.gate_coef_ = np.array([[1.0], [-1.0], [3.0]])
    model.expert_intercept_ = np.zeros(3)
    model.expert_coef_ = np.array([[-3.8], [0.0], [0.0]])
    rows = np.array([[-400.0], [0.5], [-400.0], [-400.0]])
    log_exposures = [-20.0, 0.7, 0.0, 20.0]
    exposure = pd.Series(np.exp(log_exposures), index=[13, 12, 11, 10])
    expected = []
    for row, log_exposure in zip(rows, log_exposures, strict=True):
        log_weights, log_rates = mixture_logs(model, row)
        # (top_k: the gate's softmax over the experts of the largest weights)
        routed = sorted(range(3), key=lambda k: -log_weights[k])[: top_k or 3]
        total = mpmath.log(sum(mpmath.exp(log_weights[k]) for k in routed))
        unit = log_weights[0] - total + log_rates[0]
        taking = unit + min(log_exposure, 0.0) < 709  # (10 or more from it)
        terms = [
            mpmath.exp(log_weights[k] - total + log_rates[k] + log_exposure)
            for k in routed
            if k > 0 or taking
        ]
        expected.append(float(sum(terms)))
    assert expected[0] > 1e303 and expected[2] < 10  # (both sides of the bound)
    np.testing.assert_allclose(
        model.predict(rows, exposure=exposure), expected, rtol=1e-12
    )
    dist = model.predict_distribution(rows, exposure=exposure)
    np.testing.assert_allclose(dist.mean(), expected, rtol=1e-12)
    # (the rows the logs kept, selected: their exposures go with them)
    np.testing.assert_allclose(
        dist[[3, 0]].mean(), [expected[3], expected[0]], rtol=1e-12
    )
    model.expert_coef_ = np.array([[-3.75], [0.0], [0.0]])
    for method in (model.predict, model.predict_distribution):
        with pytest.raises(ValueError, match="counts at these exposures overflow"):
            method(rows, exposure=exposure)


@pytest.mark.parametrize("negative_binomial", [False, True])
@pytest.mark.parametrize("weight_0", [False, True])
def test_float32_distribution_serves_counts_beyond_float32_whatever_the_weight(
    negative_binomial, weight_0
):
    # a float32 model at x = -60 whose expert 0 has a rate of e^200 and a gate
    # weight of e^-120 (0 in float32; share e^80 per unit exposure), or with
    # weight_0 False a rate of e^80 and a weight of 1/2: at an exposure of
    # e^20 its counts' share, e^100, is beyond float32, where predict raises
    # and the distribution, computed in float64, serves the mixture's mean
    # (mpmath's) alike for both weights, not the other expert's count
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1].astype(np.float32), y, n_experts=2)
    model.gate_intercept_ = np.zeros(2, dtype=np.float32)
    slope = -10.0 / 3.0 if weight_0 else -80.0 / 60.0
    gate = [[1.0], [-1.0]] if weight_0 else [[0.0], [0.0]]
    model.gate_coef_ = np.array(gate, dtype=np.float32)
    model.expert_intercept_ = np.zeros(2, dtype=np.float32)
    model.expert_coef_ = np.array([[slope], [0.0]], dtype=np.float32)
    rows = np.array([[-60.0]], dtype=np.float32)
    exposure = np.exp(20.0)
    expected = _exact_means(model, rows, exposure)
    assert expected[0] > 1e40  # (beyond float32's 3.4e38)
    with pytest.raises(ValueError, match="counts at these exposures overflow float32"):
        model.predict(rows, exposure=exposure)
    mean = model.predict_distribution(rows, exposure=exposure).mean()
    np.testing.assert_allclose(mean, expected, rtol=1e-4)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_score_keeps_a_weight_0_share_that_is_a_float_at_the_exposure(
    negative_binomial,
):
    # row x = -400: a gate weight of 0 (e^-800) beside a rate of e^1520,
    # whose share e^720 is beyond the floats per unit exposure and e^700 at
    # the row's exposure e^-20: score's deviance from the log means left it
    # out (the other expert's count, e^(-1000 - 20): D^2 -57 for -5.7e302).
    # Expected: the Poisson D^2 of the counts' log means 700 and 0 (the row
    # x = 0: weights 1/2, rates 1), against the null e sum(y) / sum(e). At
    # e^20 a share of e^700 per unit is e^720 of the counts: score raises
    # that the counts overflow, as predict
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1], y, n_experts=2)
    model.gate_intercept_ = np.array([0.0, 0.0])
    model.gate_coef_ = np.array([[1.0], [-1.0]])
    model.expert_intercept_ = np.array([0.0, 0.0])
    model.expert_coef_ = np.array([[-3.75], [2.5]])
    rows = np.array([[-400.0], [0.0]])
    counts = np.array([1.0, 3.0])
    with pytest.raises(ValueError, match="counts at these exposures overflow"):
        model.score(rows, counts, exposure=np.array([np.exp(20.0), 1.0]))
    model.expert_coef_ = np.array([[-3.8], [2.5]])
    exposure = np.array([np.exp(-20.0), 1.0])
    # (e^(-800 + 1520 - 20); the other's e^-1020 and log w_1 = -log(1 +
    # e^-800) are 0 beside it, to the floats)
    log_mean = np.array([700.0, 0.0])

    def deviance(log_mu):
        return np.sum(counts * (np.log(counts) - log_mu) - counts + np.exp(log_mu))

    null = np.log(np.sum(counts) / np.sum(exposure)) + np.log(exposure)
    expected = 1.0 - deviance(log_mean) / deviance(null)
    assert np.isfinite(expected)
    score = model.score(rows, counts, exposure=exposure)
    np.testing.assert_allclose(score, expected, rtol=1e-12)


def test_distribution_where_an_exposure_takes_a_light_rate_beyond_the_floats():
    # at an exposure of 1e300 an expert's rate of e^31 becomes e^722, beyond
    # the floats, where its gate weight (e^-153) holds it: predict served the
    # row (mean 4.7e256, std 1.7e280) and predict_distribution raised that
    # the counts overflow. Expected: mpmath, from the fitted parameters; the
    # survival function at 1e280 is the weight of the components whose rates
    # are far above it (the others' is 0 to the floats)
    X, y = _far_rows_data()
    model = MoEPoissonRegressor(n_experts=3, random_state=0).fit(X, y)
    rows = np.array([[-300.0, 0.0], [0.5, 0.5]])
    log_rates = model.expert_intercept_ + rows @ model.expert_coef_.T
    assert log_rates[0].max() + np.log(1e300) > np.log(np.finfo(float).max)
    dist = model.predict_distribution(rows, exposure=1e300)
    mean = _exact_means(model, rows, 1e300)
    _, std, _ = _exact_variances(model, rows, 1e300)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-12)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)
    np.testing.assert_allclose(
        model.predict(rows, return_std=True, exposure=1e300), (mean, std), rtol=1e-10
    )
    log_weights = model.gate_intercept_ + rows[0] @ model.gate_coef_.T
    log_weights -= np.logaddexp.reduce(log_weights)
    above = log_rates[0] + np.log(1e300) > np.log(1e290)
    sf = np.exp(np.logaddexp.reduce(log_weights[above]))
    np.testing.assert_allclose(dist[0].sf(1e280), sf, rtol=1e-12)
    # a row whose mean overflows at its exposure still raises
    with pytest.raises(ValueError, match="counts at these exposures overflow"):
        model.predict_distribution(rows, exposure=1e308)


def test_negative_binomial_std_where_phi_mu_overflows_but_the_std_does_not():
    # a dispersion of 1e4 (the fitted ceiling) at a rate of 2.2e304 (e^10 at
    # an exposure of 1e300): phi mu overflows, and the component's scale
    # sqrt(mu) sqrt(1 + phi mu) was inf, so that the distribution's std was
    # inf where predict served 2.2e304. Expected: mpmath, from the parameters
    X, y = _far_rows_data()
    model = MoENegativeBinomialRegressor(n_experts=2, random_state=0)
    model.fit(X[:, :1], y)
    model.gate_intercept_ = np.array([-9.2, 0.0])
    model.gate_coef_ = np.zeros((2, 1))
    model.expert_intercept_ = np.array([10.0, 0.0])
    model.expert_coef_ = np.zeros((2, 1))
    model.expert_dispersion_ = np.array([1e4, 0.5])
    rows = np.array([[0.0]])
    _, std, _ = _exact_variances(model, rows, 1e300)
    assert np.isfinite(std[0]) and np.log(1e4) + 10.0 + np.log(1e300) > 709.8
    dist = model.predict_distribution(rows, exposure=1e300)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-12)
    _, predicted = model.predict(rows, return_std=True, exposure=1e300)
    np.testing.assert_allclose(predicted, std, rtol=1e-12)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_std_where_a_rate_beyond_the_floats_is_near_the_mean(negative_binomial):
    # a gate weight of 1e-13 beside a rate of e^20 at an exposure of 1e300
    # (4.9e308, beyond the floats), the other rate 1e300: the component's
    # deviation from the mean, 4.9e308 - 1e300, was taken as its rate, and
    # the distribution's std was 2.1e-9 (1e300 / 4.9e308) off mpmath's,
    # where predict's was within 3e-16. Expected: mpmath, from the parameters
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1], y, n_experts=2)
    model.gate_intercept_ = np.array([0.0, np.log(1e-13)])
    model.gate_coef_ = np.zeros((2, 1))
    model.expert_intercept_ = np.array([0.0, 20.0])
    model.expert_coef_ = np.zeros((2, 1))
    if negative_binomial:
        model.expert_dispersion_ = np.array([0.5, 0.5])
    rows = np.array([[0.0], [0.0]])
    exposure = np.array([1e300, 1.0])
    # (the case: a rate beyond the floats at its exposure, held by its weight)
    assert 20.0 + np.log(1e300) > np.log(np.finfo(float).max)
    _, std, _ = _exact_variances(model, rows, exposure)
    dist = model.predict_distribution(rows, exposure=exposure)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-12)
    _, predicted = model.predict(rows, return_std=True, exposure=exposure)
    np.testing.assert_allclose(predicted, std, rtol=1e-12)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_predict_std_of_a_sharp_float32_gate_keeps_the_plain_path(
    negative_binomial, monkeypatch
):
    # a gate fitted to two regimes split at X0 = 0 (logits +-40 X0): its float32
    # weights of e^-100 beside rates near 1 lose nothing a float32 std shows,
    # yet sent every row with one through the host's _far_std (at 1e5 rows,
    # predict(return_std=True) took 0.082 s for 0.015 s). Expected: mpmath,
    # from the fitted parameters, without _far_std
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(2000, 2))
    y = rng.poisson(np.where(X[:, 0] > 0, 20.0, 0.5))
    model = _count_model(negative_binomial, X.astype(np.float32), y, n_experts=2)
    rows = np.array([[-2.5, 0.0], [-2.2, 1.0], [2.2, -1.0], [2.5, 0.0]], np.float32)
    _, std, lightest = _exact_variances(model, rows)
    assert np.all(lightest < np.log(np.finfo(np.float32).smallest_normal))

    def refuse(*args):
        raise AssertionError("_far_std called")

    monkeypatch.setattr(type(model), "_far_std", refuse)
    _, predicted = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, std, rtol=2e-6)


@pytest.mark.parametrize("exposure", [None, 1e-30])
def test_predict_std_where_a_float32_gate_weight_underflows(exposure):
    # a float32 model's gate weight below float32's normal floats (1.2e-38)
    # kept few digits in predict's float32 sums: a std 0.5% off at X = -300
    # (1.0883e-20 for 1.0828e-20), 1% at an exposure of 1e-30. Expected:
    # mpmath, from the fitted parameters, to float32's digits
    X, y = _far_rows_data()
    model = MoEPoissonRegressor(n_experts=2, random_state=0)
    model.fit(X.astype(np.float32), y)
    rows = np.array([[-300.0, 0.0], [-60.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    _, std, lightest = _exact_variances(model, rows, exposure)
    assert lightest[0] < np.log(np.finfo(np.float32).smallest_normal)
    _, predicted = model.predict(rows, return_std=True, exposure=exposure)
    assert predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, std, rtol=2e-5)


def test_predict_std_where_only_a_gate_weight_underflows():
    # rows of X far out where a gate weight is below the normal floats and no
    # rate is: predict(return_std=True) takes that component's share w (mu +
    # mu^2 - ...) from its logs, which the float sums lose. Its share
    # dominates the variance (log weight -795 beside a log rate of 348: e^-98,
    # the others' e^-526), or is a sixth or a twelfth of it (weights of e^-782
    # and e^-805, 0 as floats). Expected: mpmath, from the fitted parameters
    X, y = _far_rows_data()
    model = MoEPoissonRegressor(n_experts=3, random_state=0).fit(X, y)
    rows = np.array([[540.0, -1990.0], [450.0, -2310.0], [275.0, -2215.0], [400, 115]])
    _, std, lightest = _exact_variances(model, rows)
    log_rates = model.expert_intercept_ + rows @ model.expert_coef_.T
    tiny = np.log(np.finfo(float).smallest_normal)
    assert np.all(lightest < tiny) and np.all(np.abs(log_rates) < -tiny)
    _, predicted = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, std, rtol=1e-10)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_std_where_one_of_two_small_rates_underflows(negative_binomial):
    # exposures that take one expert's rate to e^-700 and the other's to
    # e^-715, below the normal floats: the variance is the sum of the normal
    # component's w mu (1 + phi mu) and the tiny one's share from its log
    # (their deviations from the mean, e^-1400, are below the floats), and
    # the std its square root, not the sum of the two parts' square roots
    # (5e-4 apart); and an exposure of 1e-318 at X = 0, below them both (a
    # gate of normal weights: predict's std finds them by the exposures).
    # Expected: mpmath, from the fitted parameters
    import mpmath

    X, y = _far_rows_data(n_features=1)
    model = _count_model(negative_binomial, X, y, n_experts=2, gate="constant")
    slope = model.expert_coef_[:, 0]
    intercept = model.expert_intercept_
    # the rows where the log rates are 15 apart, either way
    x = (np.array([15.0, -15.0]) - (intercept[0] - intercept[1])) / (
        slope[0] - slope[1]
    )
    log_rates = intercept[None, :] + x[:, None] * slope[None, :]
    exposure = np.append(np.exp(-700.0 - log_rates.max(axis=1)), 1e-318)
    x = np.append(x, 0.0)
    dist = model.predict_distribution(x[:, None], exposure=exposure)
    mpmath.mp.dps = 50
    gate = [mpmath.mpf(float(v)) for v in model.gate_intercept_]
    weights = [mpmath.exp(g) / sum(mpmath.exp(h) for h in gate) for g in gate]
    phis = model.expert_dispersion_ if negative_binomial else np.zeros(2)
    variances = []
    for row, e in zip(x, exposure, strict=True):
        means = [
            mpmath.exp(mpmath.mpf(float(b)) + mpmath.mpf(float(a)) * mpmath.mpf(row))
            * mpmath.mpf(float(e))
            for a, b in zip(slope, intercept, strict=True)
        ]
        mean = sum(w * mu for w, mu in zip(weights, means, strict=True))
        variances.append(
            sum(
                w * (mu * (1 + mpmath.mpf(float(phi)) * mu) + (mu - mean) ** 2)
                for w, mu, phi in zip(weights, means, phis, strict=True)
            )
        )
        # (the case: one rate a normal float, the other below them)
        assert min(means) < np.finfo(float).smallest_normal
        assert (max(means) > np.finfo(float).smallest_normal) == (e > 1e-318)
    std = np.array([float(mpmath.sqrt(v)) for v in variances])
    np.testing.assert_allclose(dist.std(), std, rtol=1e-10)
    np.testing.assert_allclose(dist.var(), [float(v) for v in variances], rtol=1e-10)
    _, predicted = model.predict(x[:, None], return_std=True, exposure=exposure)
    np.testing.assert_allclose(predicted, std, rtol=1e-10)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_std_where_a_light_components_rate_overflows(negative_binomial):
    # a component of gate weight below the normal floats whose rate overflows
    # (log rate past 709.8) holds a finite share w mu (1 + phi mu) + w (mu -
    # mean)^2 of the variance: from the logs, as the rate and the deviation
    # |mu - mean| are inf in floats. Its weight is 0 in the float weights (a
    # log weight of -1005 or -895), or a subnormal float (one of -738: in
    # predict's std). Expected: mpmath, from the fitted parameters
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X, y, n_experts=2)
    subnormal = [-2500.0, 2580.0] if negative_binomial else [-2210.0, 2570.0]
    rows = np.array([[-3000.0, 2580.0], [0.5, 0.5], subnormal])
    var, std, lightest = _exact_variances(model, rows)
    # (the case: a rate beyond the floats under a weight of 0, then one of a
    # subnormal float)
    log_rates = model.expert_intercept_ + rows @ model.expert_coef_.T
    assert np.all(log_rates[[0, 2]].max(axis=1) > np.log(np.finfo(float).max))
    assert np.exp(lightest[0]) == 0.0
    assert 0.0 < np.exp(lightest[2]) < np.finfo(float).smallest_normal
    assert np.all(np.isfinite(var))
    dist = model.predict_distribution(rows[:2])
    np.testing.assert_allclose(dist.std(), std[:2], rtol=1e-10)
    np.testing.assert_allclose(dist.var(), var[:2], rtol=1e-10)
    _, predicted = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, std, rtol=1e-10)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_moments_of_a_light_component_below_the_mean_warn_nothing(negative_binomial):
    # a gate weight of e^-800 (0 as a float) or e^-720 (subnormal) beside a
    # rate of e^-5, below the other expert's 1: std() and var() gave NumPy's
    # "invalid value encountered in log1p" (the log of its deviation taken
    # for a rate beyond the floats, unused there). Expected: mpmath, from
    # the parameters: sum_k w_k (mu_k + phi_k mu_k^2 + (mu_k - mean)^2)
    import mpmath

    X, y = _far_rows_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _count_model(negative_binomial, X[:, :1], y, n_experts=2)
    model.gate_intercept_ = np.array([0.0, 0.0])
    model.gate_coef_ = np.array([[10.0], [-10.0]])
    model.expert_intercept_ = np.array([-5.0, 0.0])
    model.expert_coef_ = np.array([[0.0], [0.0]])
    phis = np.broadcast_to(getattr(model, "expert_dispersion_", 0.0), (2,))
    mpmath.mp.dps = 50
    variances = []
    for x in (-40, -36):
        logits = [mpmath.mpf(10 * x), mpmath.mpf(-10 * x)]
        total = mpmath.log(sum(mpmath.exp(g) for g in logits))
        weights = [mpmath.exp(g - total) for g in logits]
        rates = [mpmath.exp(-5), mpmath.mpf(1)]
        mean = sum(w * mu for w, mu in zip(weights, rates, strict=True))
        variances.append(
            float(
                sum(
                    w * (mu + mpmath.mpf(float(phi)) * mu**2 + (mu - mean) ** 2)
                    for w, mu, phi in zip(weights, rates, phis, strict=True)
                )
            )
        )
    variances = np.array(variances)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = model.predict_distribution(np.array([[-40.0], [-36.0]]))
        np.testing.assert_allclose(dist.var(), variances, rtol=1e-12)
        np.testing.assert_allclose(dist.std(), np.sqrt(variances), rtol=1e-12)


@pytest.mark.parametrize("weight", [1e-11, 1e-9, 1e-6])
def test_distribution_where_a_heavier_weight_holds_a_rate_beyond_the_floats(weight):
    # a rate of e^20 at an exposure of 1e300 (4.9e308, beyond the floats)
    # beside a gate weight above 1e-12: the largest float stands for it only
    # where its weight is too small for the others' (not rescaled) to show
    # it; here the distribution refuses the row, or gives mpmath's moments
    # (a bound of 1e-3 in place of 1e-12 gave means 1e-11 to 2e-9 off, std
    # 5e-12 to 5e-7). predict serves the row. Expected: mpmath
    X, y = _far_rows_data()
    model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X[:, :1], y)
    model.gate_intercept_ = np.array([0.0, np.log(weight)])
    model.gate_coef_ = np.zeros((2, 1))
    model.expert_intercept_ = np.array([0.0, 20.0])
    model.expert_coef_ = np.zeros((2, 1))
    rows = np.array([[0.0], [0.0]])
    exposure = np.array([1e300, 1.0])
    assert 20.0 + np.log(1e300) > np.log(np.finfo(float).max)
    mean = _exact_means(model, rows, exposure)
    _, std, _ = _exact_variances(model, rows, exposure)
    np.testing.assert_allclose(
        model.predict(rows, return_std=True, exposure=exposure),
        (mean, std),
        rtol=1e-12,
    )
    try:
        dist = model.predict_distribution(rows, exposure=exposure)
    except ValueError as error:
        assert "counts at these exposures overflow" in str(error)
    else:
        np.testing.assert_allclose(dist.mean(), mean, rtol=1e-12)
        np.testing.assert_allclose(dist.std(), std, rtol=1e-12)


def test_distribution_where_a_held_rate_beyond_the_floats_overflows_the_mean():
    # a gate weight of 1e-13 beside a rate of e^60 at an exposure of 1e300:
    # the weight is below HELD_WEIGHT, but the row's mean (e^720) overflows
    # too; predict raises, and so does predict_distribution (without the
    # check of the mean: a distribution whose rate stood at the largest float)
    X, y = _far_rows_data()
    model = MoEPoissonRegressor(n_experts=2, random_state=0).fit(X[:, :1], y)
    model.gate_intercept_ = np.array([0.0, np.log(1e-13)])
    model.gate_coef_ = np.zeros((2, 1))
    model.expert_intercept_ = np.array([0.0, 60.0])
    model.expert_coef_ = np.zeros((2, 1))
    rows = np.array([[0.0]])
    log_mean = np.log(1e-13) + 60.0 + np.log(1e300)
    assert log_mean > np.log(np.finfo(float).max)  # (the case)
    with pytest.raises(ValueError, match="counts at these exposures overflow"):
        model.predict(rows, exposure=1e300)
    with pytest.raises(ValueError, match="counts at these exposures overflow"):
        model.predict_distribution(rows, exposure=1e300)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_std_where_a_light_weight_holds_a_rate_beyond_the_floats(negative_binomial):
    # an expert's rate of e^720, beyond the floats, beside a gate weight of
    # e^-40 to e^-600 that holds it (no exposure): predict served the mean
    # but predict(return_std=True) raised that the outputs overflow (the
    # scaled sums were inf) and predict_distribution refused the row, for a
    # std of e^700 or less (a fitted 3-expert Poisson model, seed 0: a weight
    # of e^-86.7 beside a log rate of 712.2, a std of 2.97e290). Expected:
    # mpmath, from the parameters
    from skmoe import MoENegativeBinomialRegressor

    X, y = _far_rows_data()
    Estimator = (
        MoENegativeBinomialRegressor if negative_binomial else MoEPoissonRegressor
    )
    model = Estimator(n_experts=2, random_state=0).fit(X[:, :1], y)
    model.gate_intercept_ = np.array([0.0, 0.0])
    model.gate_coef_ = np.array([[1.0], [-1.0]])
    model.expert_intercept_ = np.array([720.0, 0.0])
    model.expert_coef_ = np.zeros((2, 1))
    if negative_binomial:
        model.expert_dispersion_ = np.array([0.5, 0.2])
    rows = np.array([[-20.0], [-100.0], [-300.0]])
    mean = _exact_means(model, rows)
    _, std, _ = _exact_variances(model, rows)
    # (the case: the std finite where a rate is beyond the floats)
    assert np.all(std < np.finfo(float).max) and 720.0 > np.log(np.finfo(float).max)
    predicted, predicted_std = model.predict(rows, return_std=True)
    np.testing.assert_allclose(predicted, mean, rtol=1e-12)
    np.testing.assert_allclose(predicted_std, std, rtol=1e-12)
    dist = model.predict_distribution(rows)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-12)
    np.testing.assert_allclose(dist.std(), std, rtol=1e-12)


@pytest.mark.parametrize("negative_binomial", [False, True])
def test_tail_where_a_light_weight_holds_a_rate_beyond_the_floats(negative_binomial):
    # a rate of e^720 (beyond the floats) beside a gate weight of e^-40 or
    # e^-200 that holds it, without an exposure: the largest float stands for
    # it, so that sf at 1000 is its weight (the other expert's rate is 1, its
    # sf there below 1e-2000); 1 left in its place (as with an exposure only,
    # before) gave an sf of 0. Expected: the gate's softmax weight
    X, y = _far_rows_data()
    model = _count_model(negative_binomial, X[:, :1], y, n_experts=2)
    model.gate_intercept_ = np.array([0.0, 0.0])
    model.gate_coef_ = np.array([[1.0], [-1.0]])
    model.expert_intercept_ = np.array([720.0, 0.0])
    model.expert_coef_ = np.zeros((2, 1))
    if negative_binomial:
        model.expert_dispersion_ = np.array([0.5, 0.2])
    x = np.array([-20.0, -100.0])
    weight = np.exp(2 * x) / (1 + np.exp(2 * x))
    dist = model.predict_distribution(x[:, None])
    np.testing.assert_allclose(dist.sf(1000), weight, rtol=1e-12)
    np.testing.assert_allclose(dist.cdf(1000), 1 - weight, rtol=1e-12)


@pytest.mark.parametrize("family", ["poisson", "negative binomial"])
def test_count_methods_in_chunks_of_bounded_elements(monkeypatch, family):
    # The rows per chunk are bounded by PPF_ELEMENTS / (K m) (m values per
    # row), and the counts' terms of logpmf are taken once per row, not per
    # component: with 7 rows per chunk (m = 1) or 2 (m = 3), the same numbers
    # as in one chunk, and scipy.stats' mixtures.
    from scipy.special import logsumexp
    from scipy.stats import nbinom

    import skmoe._distribution

    rng = np.random.default_rng(7)
    n, k = 40, 3
    weights = rng.dirichlet(np.ones(k), n)
    rates = np.exp(rng.uniform(-2.0, 4.0, (n, k)))
    y = rng.poisson(rates[:, 0]).astype(float)
    if family == "poisson":
        dist = PredictivePoissonMixture(weights, rates)
        logpmf = poisson.logpmf(y[:, None], rates)
    else:
        dispersions = rng.uniform(0.05, 2.0, (n, k))
        dist = PredictiveNegativeBinomialMixture(weights, rates, dispersions)
        logpmf = nbinom.logpmf(
            y[:, None], 1 / dispersions, 1 / (1 + dispersions * rates)
        )
    many = np.array([[0.0], [2.0], [5.0]])
    methods = {
        "logpmf": lambda: dist.logpmf(y),
        "logpmf many": lambda: dist.logpmf(many),
        "cdf": lambda: dist.cdf(y),
        "sf many": lambda: dist.sf(many),
        "ppf": lambda: dist.ppf(0.7),
        "std": dist.std,
    }
    whole = {name: method() for name, method in methods.items()}
    monkeypatch.setattr(skmoe._distribution, "PPF_ELEMENTS", 7 * k)
    for name, method in methods.items():
        np.testing.assert_array_equal(method(), whole[name], err_msg=name)
    expected = logsumexp(np.log(weights) + logpmf, axis=1)
    np.testing.assert_allclose(dist.logpmf(y), expected, rtol=1e-13)


def test_distribution_chunks_hold_at_most_ppf_elements(monkeypatch):
    # _by_rows' documented bound: a chunk of r rows, m values per row and K
    # components holds m r K <= PPF_ELEMENTS elements (and r <= PPF_ROWS), so
    # that its temporaries bound bytes, not rows. Taking PPF_ROWS rows (the
    # bound's min as max) or leaving K out of the bound gave the same values
    # in chunks of 7 times K too many elements, and passed the value tests
    import skmoe._distribution
    from skmoe import PredictiveMixture
    from skmoe._distribution import _RowMixture

    rng = np.random.default_rng(3)
    n, k = 40, 3
    weights = rng.dirichlet(np.ones(k), n)
    rates = np.exp(rng.uniform(-2.0, 4.0, (n, k)))
    means, scales = rng.normal(size=(n, k)), np.exp(rng.normal(size=(n, k)))
    poisson_dist = PredictivePoissonMixture(weights, rates)
    gaussian = PredictiveMixture(weights, means, scales)
    many = np.array([[0.0], [2.0], [5.0]])
    calls = {
        "logpmf": (lambda: poisson_dist.logpmf(rates[:, 0].round()), 1),
        "logpmf many": (lambda: poisson_dist.logpmf(many), 3),
        "cdf many": (lambda: poisson_dist.cdf(many), 3),
        "logpdf many": (lambda: gaussian.logpdf(many), 3),
        "sf": (lambda: gaussian.sf(means[:, 0]), 1),
    }
    whole = {name: call() for name, (call, _) in calls.items()}
    seen = []
    by_rows = _RowMixture._by_rows

    def recorded(self, values, function, parts=None):
        def chunk(values, *parameters, **chunk_parts):
            rows, components = parameters[0].shape
            seen.append((np.prod(values.shape[:-1], dtype=int), rows, components))
            return function(values, *parameters, **chunk_parts)

        return by_rows(self, values, chunk, parts)

    monkeypatch.setattr(_RowMixture, "_by_rows", recorded)
    monkeypatch.setattr(skmoe._distribution, "PPF_ELEMENTS", 7 * k)
    for name, (call, m) in calls.items():
        seen.clear()
        np.testing.assert_array_equal(call(), whole[name], err_msg=name)
        # (one value per row: 7 rows a chunk; three: 2)
        assert [r for _, r, _ in seen] == [
            min(7 // m, n - start) for start in range(0, n, 7 // m)
        ], name
        assert all(v * r * c <= 7 * k for v, r, c in seen), name


def test_negative_binomial_tails_match_mpmath_at_small_parameters():
    # cdf and sf take a complement of 1/2 or more as 1 - betainc (double)
    # where counts + 1 and 1 / phi are at most 30, not betaincc (long
    # double, 10 to 20 times slower). Expected:
    # mpmath's I_p(1 / phi, y + 1) and I_q(y + 1, 1 / phi) at 50 digits from
    # the floats phi and mu
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rng = np.random.RandomState(3)
    n = 300
    phi = 1.0 / 10 ** rng.uniform(-3, np.log10(30), n)
    mu = 10 ** rng.uniform(-3, 3, n)
    single = rng.rand(n) < 0.5  # float32 parameters
    phi = np.where(single, phi.astype(np.float32), phi)
    mu = np.where(single, mu.astype(np.float32), mu)
    y = rng.randint(0, 29, n).astype(float)

    def exact(y, phi, mu):
        # each tail by its own integral: 1 - lower kept 8 of 50 digits of a
        # tail of 1e-42
        phi, mu = mpmath.mpf(phi), mpmath.mpf(mu)
        p, q = 1 / (1 + phi * mu), phi * mu / (1 + phi * mu)
        lower = mpmath.betainc(1 / phi, y + 1, 0, p, regularized=True)
        upper = mpmath.betainc(y + 1, 1 / phi, 0, q, regularized=True)
        return float(lower), float(upper)

    expected = np.array([exact(*case) for case in zip(y, phi, mu, strict=True)])
    ones = np.ones((n, 1))
    dist = PredictiveNegativeBinomialMixture(ones, mu[:, None], phi[:, None])
    # rtol: 1 - betainc was up to 4.5e-14 off at theta = 8.94, y = 8, p =
    # 0.4946 (betainc's own error, which the other tail shares); 1 - v where v
    # is above 1/2 is some 1e-10 off at tails of 1e-6
    for got, want in ((dist.cdf(y), expected[:, 0]), (dist.sf(y), expected[:, 1])):
        used = want > 1e-290
        np.testing.assert_allclose(got[used], want[used], rtol=5e-14, atol=0)


def test_negative_binomial_sf_below_one_half_where_phi_mu_is_above_one():
    # P(Y > y) below 1/2 at phi mu above 1: betainc(y + 1, 1 / phi, q) at q
    # = phi mu / (1 + phi mu), a fast route, takes 1 - q for p = 1 / (1 + phi
    # mu) and was 8.4e-15 off at phi = 300, mu = 1.39, y = 27. Expected:
    # mpmath's I_q(y + 1, 1 / phi) at 50 digits
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    mu, phi = 1.3894954943731375, 300.0
    y = np.array([15.0, 18.0, 21.0, 24.0, 27.0])
    scaled = mpmath.mpf(phi) * mpmath.mpf(mu)
    q = scaled / (1 + scaled)
    expected = [
        float(mpmath.betainc(k + 1, 1 / mpmath.mpf(phi), 0, q, regularized=True))
        for k in y
    ]
    ones = np.ones((y.size, 1))
    dist = PredictiveNegativeBinomialMixture(ones, ones * mu, ones * phi)
    np.testing.assert_allclose(dist.sf(y), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "log2_theta, phi_mu, sds", [(27, 7.0, 0.2), (27, 1.0, 1.0), (30, 3.0, 1.0)]
)
def test_negative_binomial_sf_at_large_theta_and_counts(log2_theta, phi_mu, sds):
    # P(Y > y) of 1/2 or more where 1 / phi and y + 1 are both large: 1 -
    # betainc was 1491 to 6625 eps off at these three, betaincc within 2, so
    # cdf and sf take betaincc there (FAST_BETA_LIMIT). phi and phi mu are
    # powers of two and 1, 3 or 7, so that p = 1 / (1 + phi mu) is exact.
    # Expected: mpmath's integral of the Beta(theta, y + 1) density from p to
    # 1 at 40 digits
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    phi = 2.0**-log2_theta
    mu = phi_mu / phi
    y = np.floor(mu - sds * np.sqrt(mu * (1 + phi_mu)))
    a, b, p = mpmath.mpf(1 / phi), mpmath.mpf(y + 1), 1 / (1 + mpmath.mpf(phi_mu))
    log_beta = mpmath.loggamma(a) + mpmath.loggamma(b) - mpmath.loggamma(a + b)

    def density(t):
        return mpmath.exp(
            (a - 1) * mpmath.log(t) + (b - 1) * mpmath.log1p(-t) - log_beta
        )

    mode, sd = (a - 1) / (a + b - 2), mpmath.sqrt(a * b / (a + b) ** 3)
    inner = [mode + j * sd for j in (-8, -4, -2, 0, 2, 4, 8) if p < mode + j * sd < 1]
    expected = float(mpmath.quad(density, [p, *inner, 1]))
    assert expected > 0.5
    dist = PredictiveNegativeBinomialMixture([[1.0]], [[mu]], [[phi]])
    np.testing.assert_allclose(dist.sf(y), [expected], rtol=1e-14, atol=0)


def test_negative_binomial_cdf_at_small_counts_and_large_theta():
    # cdf of 1/2 or more at phi mu below 1 and counts below 30 with theta = 1
    # / phi from 31 to 1e12 (a gate's near-Poisson experts): 1 - betainc,
    # not betaincc, there (FAST_BETA_LIMIT bounds the smaller of y + 1 and
    # theta); within 9 eps of mpmath over 60 such components. Expected: the
    # sum of mpmath's probabilities, p^theta prod (theta + j) q / (j + 1), at
    # 60 digits from the floats phi and mu
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    rng = np.random.RandomState(7)
    y = np.arange(30.0)
    for phi, mu in zip(
        10 ** rng.uniform(-12, -1.5, 8), rng.uniform(0.5, 25, 8), strict=True
    ):
        theta = 1 / mpmath.mpf(phi)
        q = mpmath.mpf(phi) * mpmath.mpf(mu) / (1 + mpmath.mpf(phi) * mpmath.mpf(mu))
        term, total, expected = mpmath.exp(theta * mpmath.log1p(-q)), 0, []
        for j in range(y.size):
            total += term
            expected.append(float(total))
            term *= (theta + j) / (j + 1) * q
        expected = np.array(expected)
        dist = PredictiveNegativeBinomialMixture([[1.0]], [[mu]], [[phi]])
        used = expected >= 0.5
        np.testing.assert_allclose(
            dist.cdf(y)[used], expected[used], rtol=1e-14, atol=0
        )
