"""PredictiveGammaMixture against scipy.stats.gamma, numerical integration and
values computed with mpmath."""

import warnings

import mpmath
import numpy as np
import pytest
from scipy import integrate, stats

import skmoe._distribution
from skmoe._gamma_distribution import PredictiveGammaMixture

EPS = np.finfo(float).eps
MEANS = np.array([0.2, 1.0, 3.0, 45.0, 1.0, 7.5])
SHAPES = np.array([0.4, 1.0, 2.5, 12.0, 300.0, 0.9])
QUANTILES = np.array([1e-9, 0.01, 0.2, 0.5, 0.77, 0.99, 1 - 1e-9])


def _mixture(seed=0, n_rows=6, n_experts=3):
    rng = np.random.RandomState(seed)
    weights = rng.dirichlet(np.ones(n_experts), size=n_rows)
    means = np.exp(rng.uniform(-2, 3, size=(n_rows, n_experts)))
    shapes = np.exp(rng.uniform(-1, 4, size=(n_rows, n_experts)))
    return PredictiveGammaMixture(weights, means, shapes)


def _scipy(dist, method, y):
    """``sum_k w_k gamma(nu_k, scale=mu_k / nu_k).method(y)`` per row, y (m, 1)."""
    components = getattr(stats.gamma, method)(
        np.asarray(y, dtype=float)[..., None],
        dist.shapes,
        scale=dist.means / dist.shapes,
    )
    return np.sum(dist.weights * components, axis=-1)


def test_one_component_is_scipys_gamma():
    dist = PredictiveGammaMixture(
        np.ones((MEANS.size, 1)), MEANS[:, None], SHAPES[:, None]
    )
    law = stats.gamma(SHAPES, scale=MEANS / SHAPES)
    y = np.array([[1e-3], [0.1], [0.7], [1.0], [2.9], [40.0], [80.0]])
    np.testing.assert_allclose(dist.logpdf(y), law.logpdf(y), rtol=1e-12)
    np.testing.assert_allclose(dist.pdf(y), law.pdf(y), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dist.cdf(y), law.cdf(y), rtol=1e-12, atol=1e-300)
    q = QUANTILES[:, None]
    np.testing.assert_allclose(dist.ppf(q), law.ppf(q), rtol=1e-12)
    np.testing.assert_allclose(dist.median(), law.median(), rtol=1e-12)
    for got, expected in zip(dist.interval(0.9), law.interval(0.9), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(dist.mean(), law.mean(), rtol=1e-14)
    np.testing.assert_allclose(dist.var(), law.var(), rtol=1e-14)
    np.testing.assert_allclose(dist.std(), law.std(), rtol=1e-14)
    # the ends, as scipy's
    np.testing.assert_array_equal(dist.ppf(0.0), law.ppf(0.0))
    np.testing.assert_array_equal(dist.ppf(1.0), law.ppf(1.0))


def test_mixture_is_the_weighted_sum_of_scipys_laws():
    dist = _mixture()
    y = np.geomspace(1e-4, 400, 60)[:, None]
    pdf = _scipy(dist, "pdf", y)
    np.testing.assert_allclose(dist.pdf(y), pdf, rtol=1e-12, atol=1e-300)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(dist.logpdf(y), np.log(pdf), rtol=1e-12)
    np.testing.assert_allclose(dist.cdf(y), _scipy(dist, "cdf", y), rtol=1e-12)
    # one value per row, and a scalar
    np.testing.assert_allclose(dist.cdf(y[:6, 0]), np.diag(dist.cdf(y[:6])))
    np.testing.assert_allclose(dist.logpdf(2.0), dist.logpdf([[2.0]])[0])


def test_mean_and_variance_against_numerical_integration():
    dist = PredictiveGammaMixture(
        [[0.3, 0.7], [0.5, 0.5], [1.0, 0.0]],
        [[1.0, 6.0], [0.5, 20.0], [3.0, 1.0]],
        [[2.0, 5.0], [1.5, 1.0], [4.0, 0.5]],
    )
    for row in range(len(dist)):

        def moment(y, power, row=row):
            return y**power * dist.pdf(y)[row]

        def integral(power, row=row):
            high = 200 * dist.means[row].max()
            return integrate.quad(moment, 0, high, args=(power,), limit=400)[0]

        np.testing.assert_allclose(integral(0), 1.0, rtol=1e-8)
        mean = integral(1)
        np.testing.assert_allclose(dist.mean()[row], mean, rtol=1e-8)
        variance = integral(2) - mean**2
        np.testing.assert_allclose(dist.var()[row], variance, rtol=1e-7)
        np.testing.assert_allclose(dist.std()[row], np.sqrt(variance), rtol=1e-7)
    # and by hand: sum_k w_k (mu_k^2 / nu_k + (mu_k - mean)^2)
    mean = 0.3 * 1 + 0.7 * 6
    variance = 0.3 * (1 / 2 + (1 - mean) ** 2) + 0.7 * (36 / 5 + (6 - mean) ** 2)
    np.testing.assert_allclose(dist.var()[0], variance, rtol=1e-14)


@pytest.mark.parametrize("q", [1e-300, 1e-100, 1e-10, 0.3, 0.5, 0.9, 1 - 1e-12])
def test_ppf_inverts_scipys_cdf(q):
    # shapes from 1 up, where every component's quantile 1e-300 is positive
    dist = PredictiveGammaMixture(
        [[0.2, 0.8], [0.5, 0.5], [0.6, 0.4], [1.0, 0.0]],
        [[1.0, 4.0], [0.01, 300.0], [2.0, 2.5], [5.0, 1.0]],
        [[1.0, 3.0], [1.5, 40.0], [2.0, 20.0], [7.0, 1.0]],
    )
    y = dist.ppf(q)
    assert np.all((y > 0) & np.isfinite(y))
    if q <= 0.5:
        np.testing.assert_allclose(_scipy(dist, "cdf", y[None])[0], q, rtol=1e-12)
    else:  # the upper tail, through the survival function
        sf = _scipy(dist, "sf", y[None])[0]
        np.testing.assert_allclose(sf, 1 - q, rtol=1e-12)
        np.testing.assert_allclose(dist.cdf(y), q, rtol=1e-15)
    # the float nearest the root of its own cdf (more accurate than scipy's
    # in the lower tail, by 2e-14 at 1e-300): q between its neighbours'
    if q <= 0.5:
        assert np.all(dist.cdf(np.nextafter(y, 0)) <= q)
        assert np.all(dist.cdf(np.nextafter(y, np.inf)) >= q)


def test_ppf_is_monotone_and_matches_scipy_at_many_quantiles():
    dist = _mixture(seed=1, n_rows=5, n_experts=4)
    q = np.concatenate(
        [np.geomspace(1e-12, 0.5, 40), 1 - np.geomspace(0.49, 1e-12, 40)]
    )
    y = dist.ppf(q[:, None])
    assert y.shape == (80, 5)
    assert np.all(np.diff(y, axis=0) > 0)
    lower = q <= 0.5
    np.testing.assert_allclose(
        _scipy(dist, "cdf", y[lower]),
        np.broadcast_to(q[lower, None], (40, 5)),
        rtol=1e-11,
    )
    np.testing.assert_allclose(
        _scipy(dist, "sf", y[~lower]),
        np.broadcast_to(1 - q[~lower, None], (40, 5)),
        rtol=1e-11,
    )
    # median and interval are ppf's
    np.testing.assert_array_equal(dist.median(), dist.ppf(0.5))
    low, high = dist.interval(0.8)
    np.testing.assert_array_equal(low, dist.ppf((1 - 0.8) / 2))
    np.testing.assert_array_equal(high, dist.ppf((1 + 0.8) / 2))
    np.testing.assert_allclose(dist.cdf(high) - dist.cdf(low), 0.8, rtol=1e-13)
    lows, highs = dist.interval(np.array([[0.5], [0.9]]))
    assert lows.shape == highs.shape == (2, 5)
    np.testing.assert_array_equal(lows[1], dist.ppf((1 - 0.9) / 2))


def test_ppf_of_shape_one_is_the_exponential_quantile():
    dist = PredictiveGammaMixture([[1.0], [1.0]], [[1.0], [1e-5]], [[1.0], [1.0]])
    q = np.array([1e-300, 1e-20, 1e-5, 0.25, 0.5, 0.75, 1 - 1e-10])[:, None]
    expected = -np.log1p(-q) * dist.means[:, 0]
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=4 * EPS)


def test_sample_follows_the_mixture():
    dist = PredictiveGammaMixture(
        [[0.3, 0.7], [0.5, 0.5], [1.0, 0.0]],
        [[1.0, 6.0], [0.5, 20.0], [3.0, 1.0]],
        [[2.0, 5.0], [0.3, 1.0], [4.0, 0.5]],
    )
    draws = dist.sample(4000, random_state=0)
    assert draws.shape == (4000, 3)
    assert np.all(draws >= 0)
    for row in range(3):
        mixture = dist[row]

        def cdf(y, mixture=mixture):
            return _scipy(mixture, "cdf", y[:, None])[:, 0]

        assert stats.kstest(draws[:, row], cdf).pvalue > 0.01
    # the test has power: the first row's draws are not the second row's law
    assert (
        stats.kstest(draws[:, 0], lambda y: dist[1].cdf(y[:, None])[:, 0]).pvalue < 1e-6
    )
    np.testing.assert_array_equal(draws, dist.sample(4000, random_state=0))
    rng = np.random.RandomState(3)
    first = dist.sample(5, random_state=rng)
    assert not np.array_equal(first, dist.sample(5, random_state=rng))
    assert dist.sample(random_state=1).shape == (1, 3)
    with pytest.raises(ValueError, match="n_samples"):
        dist.sample(0)


def test_zero_weight_components_are_ignored():
    # an unused component with a density of inf at 0 and a huge mean
    full = PredictiveGammaMixture(
        [[0.4, 0.0, 0.6], [0.0, 1.0, 0.0]],
        [[1.0, 1e300, 2.0], [1e-300, 3.0, 1e300]],
        [[2.0, 1e-3, 3.0], [1e-3, 2.0, 1e6]],
    )
    rows = [
        PredictiveGammaMixture([[0.4, 0.6]], [[1.0, 2.0]], [[2.0, 3.0]]),
        PredictiveGammaMixture([[1.0]], [[3.0]], [[2.0]]),
    ]
    y = np.array([[0.0], [1e-3], [1.0], [4.0], [50.0]])
    q = np.array([[1e-10], [0.3], [0.5], [0.97]])
    for i, row in enumerate(rows):
        for method, at in [("logpdf", y), ("pdf", y), ("cdf", y), ("ppf", q)]:
            got = getattr(full, method)(at)[:, i]
            expected = getattr(row, method)(at)[:, 0]
            np.testing.assert_allclose(got, expected, rtol=1e-14, err_msg=method)
        for method in ("mean", "var", "std", "median"):
            np.testing.assert_allclose(
                getattr(full, method)()[i], getattr(row, method)()[0], rtol=1e-14
            )
    assert full.logpdf(0.0)[0] == -np.inf  # the unused component's inf is not
    draws = full.sample(500, random_state=0)
    assert np.all(np.isfinite(draws)) and np.all(draws < 1e3)


def test_broadcasting_rows_last():
    dist = _mixture(n_rows=4)
    y = np.array([0.5, 1.0, 2.0, 8.0])
    singles = [dist[i] for i in range(4)]
    expected = np.array([d.cdf(v)[0] for d, v in zip(singles, y, strict=True)])
    np.testing.assert_allclose(dist.cdf(y), expected, rtol=1e-15)
    assert dist.cdf(1.0).shape == (4,)
    assert dist.logpdf(y[:, None]).shape == (4, 4)
    np.testing.assert_allclose(dist.logpdf(y[:, None])[2], dist.logpdf(2.0))
    q = np.array([[0.1], [0.5], [0.9]])
    assert dist.ppf(q).shape == (3, 4)
    np.testing.assert_allclose(dist.ppf(q)[1], dist.ppf(0.5), rtol=1e-15)
    np.testing.assert_allclose(
        dist.ppf(np.array([0.1, 0.2, 0.3, 0.4])),
        [singles[i].ppf(0.1 * (i + 1))[0] for i in range(4)],
        rtol=1e-15,
    )
    # a 3-D y: (2, 3, 1) against 4 rows
    assert dist.pdf(np.ones((2, 3, 1))).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="does not broadcast"):
        dist.cdf(np.zeros(3))
    with pytest.raises(ValueError, match="does not broadcast"):
        dist.ppf(np.full((2, 3), 0.5))


def test_indexing_and_repr():
    dist = _mixture(n_rows=7)
    assert repr(dist) == "PredictiveGammaMixture(n_rows=7, n_components=3)"
    assert len(dist) == 7
    part = dist[[4, 1]]
    assert isinstance(part, PredictiveGammaMixture)
    np.testing.assert_array_equal(part.shapes, dist.shapes[[4, 1]])
    np.testing.assert_array_equal(part.mean(), dist.mean()[[4, 1]])
    np.testing.assert_array_equal(dist[2].ppf(0.3), dist.ppf(0.3)[[2]])
    np.testing.assert_array_equal(dist[2:5].cdf(1.0), dist.cdf(1.0)[2:5])
    mask = np.arange(7) % 2 == 0
    np.testing.assert_array_equal(dist[mask].var(), dist.var()[mask])
    assert len(dist[[]]) == 0
    with pytest.raises(TypeError, match="PredictiveGammaMixture selects rows"):
        dist[1, 2]


@pytest.mark.parametrize(
    "weights, means, shapes, match",
    [
        ([[0.5, 0.5]], [[1.0]], [[1.0, 1.0]], "same shape"),
        ([[0.5, 0.5]], [[1.0, 1.0]], [[1.0]], "same shape"),
        ([0.5, 0.5], [1.0, 1.0], [1.0, 1.0], "same shape"),
        ([[0.5, 0.6]], [[1.0, 2.0]], [[1.0, 1.0]], "sum to one"),
        ([[1.5, -0.5]], [[1.0, 2.0]], [[1.0, 1.0]], "non-negative"),
        (
            [[0.5, 0.5]],
            [[1.0, -2.0]],
            [[1.0, 1.0]],
            "means must be finite and positive",
        ),
        # (a mean of 0 is a point mass at zero: test_zero_inflated_gamma.py)
        ([[0.5, 0.5]], [[1.0, np.inf]], [[1.0, 1.0]], "means .* got inf"),
        ([[0.5, 0.5]], [[1.0, 2.0]], [[-1.0, 1.0]], "shapes .* got -1.0"),
        (
            [[0.5, 0.5]],
            [[1.0, 2.0]],
            [[1.0, 0.0]],
            "shapes must be finite and positive",
        ),
        ([[0.5, 0.5]], [[1.0, 2.0]], [[1.0, np.nan]], "shapes .* got nan"),
        # a weight of 0 does not excuse a bad parameter
        ([[1.0, 0.0]], [[1.0, 2.0]], [[1.0, np.inf]], "shapes must be finite"),
    ],
)
def test_bad_parameters(weights, means, shapes, match):
    with pytest.raises(ValueError, match=match):
        PredictiveGammaMixture(weights, means, shapes)


def test_bad_arguments():
    dist = _mixture()
    for q in (1.5, -0.1, [0.5, 2.0, 0.5, 0.5, 0.5, 0.5]):
        with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
            dist.ppf(q)
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\]"):
        dist.interval(1.5)
    for method in ("pdf", "logpdf", "cdf"):
        with pytest.raises(TypeError, match="y must be numeric"):
            getattr(dist, method)("3")
    with pytest.raises(TypeError, match="y must be numeric"):
        dist.cdf([None, 1.0])
    with pytest.raises(TypeError, match="q must be numeric"):
        dist.ppf("0.5")


def test_nan_stays_nan_as_in_scipy():
    dist = _mixture(n_rows=2)
    y = np.array([[1.0], [np.nan], [3.0]])
    for method in ("logpdf", "pdf", "cdf"):
        out = getattr(dist, method)(y)
        assert np.all(np.isnan(out[1]))
        np.testing.assert_array_equal(out[[0, 2]], getattr(dist, method)(y[[0, 2]]))
        assert np.isnan(getattr(stats.gamma, method)(np.nan, 2.0))
    q = np.array([[0.2], [np.nan], [0.95]])
    out = dist.ppf(q)
    assert np.all(np.isnan(out[1]))
    np.testing.assert_array_equal(out[[0, 2]], dist.ppf(q[[0, 2]]))
    assert np.isnan(dist.ppf([np.nan, 0.5])[0]) and not np.isnan(
        dist.ppf([np.nan, 0.5])[1]
    )


def test_at_zero_and_below():
    shapes = np.array([0.5, 1.0, 3.0])
    means = np.array([2.0, 4.0, 1.0])
    dist = PredictiveGammaMixture(np.ones((3, 1)), means[:, None], shapes[:, None])
    # each component's density at 0 is scipy's: inf, 1 / mu, 0
    expected = stats.gamma.logpdf(0.0, shapes, scale=means / shapes)
    np.testing.assert_array_equal(expected, [np.inf, -np.log(4.0), -np.inf])
    np.testing.assert_array_equal(dist.logpdf(0.0), expected)
    np.testing.assert_array_equal(dist.pdf(0.0), [np.inf, 0.25, 0.0])
    # mixed: the exponential's 1 / mu by its weight, or the inf of a shape < 1
    mixed = PredictiveGammaMixture(
        [[0.3, 0.7], [0.1, 0.9]], [[2.0, 1.0], [5.0, 1.0]], [[1.0, 3.0], [0.2, 3.0]]
    )
    np.testing.assert_allclose(mixed.pdf(0.0), [0.3 / 2, np.inf])
    for d in (dist, mixed):
        for y in (-1e-300, -1.0, -np.inf):
            assert np.all(d.logpdf(y) == -np.inf)
            assert np.all(d.pdf(y) == 0)
            assert np.all(d.cdf(y) == 0)
        assert np.all(d.cdf(0.0) == 0)
        assert np.all(d.cdf(np.inf) == 1)
        assert np.all(d.logpdf(np.inf) == -np.inf)


# logpdf and cdf at (mean, shape, y), computed with mpmath at 60 digits
MPMATH_LOGPDF = [
    (7.5, 1e6, 7.4925, 3.474580558701912),
    (1e200, 1e6, 1.001e200, -455.028868353165),
    (1e-200, 1e6, 9.99e-201, 466.00650217805344),
    (1.0, 30.0, 1.3, -0.6125538477461075),
]
MPMATH_CDF = [
    (1e200, 1e-3, 1e-300, 0.314231938476791),  # x = 1e-503 underflows
    (1e-200, 1e-3, 1e-300, 0.7893149426068043),
    (1e200, 1e6, 9.99e199, 0.15865521357431756),
]
# quantiles (mean, shape, q, y), solved with mpmath to 60 digits
MPMATH_PPF = [
    (1e200, 1e-3, 0.3, 7.43e-321),  # subnormal: scipy's is 0
    (1e200, 1e-3, 0.9, 9.821659644066881e156),
    (1e-200, 1e-3, 1 - 1e-12, 1.7795747396040136e-196),
    (1.0, 1e-3, 1 - 1e-15, 24402.23745447778),
    (1e-200, 1e6, 1e-300, 9.634086539398656e-201),
    (1e200, 1e6, 0.3, 9.994753579172359e199),
    (1e200, 1e6, 1 - 1e-15, 1.0079621456870557e200),
    (1e-200, 2.5, 1e-300, 6.467e-321),
    (1e200, 30.0, 1e-300, 4.01483234619987e189),
]


@pytest.mark.parametrize("mean, shape, y, expected", MPMATH_LOGPDF)
def test_logpdf_keeps_its_digits_for_large_shapes(mean, shape, y, expected):
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[shape]])
    np.testing.assert_allclose(dist.logpdf(y), expected, rtol=1e-14)
    # scipy's agrees to its own rounding (2e-10 of the value at shape 1e6)
    scipy = stats.gamma.logpdf(y, shape, scale=mean / shape)
    np.testing.assert_allclose(dist.logpdf(y), scipy, rtol=1e-9)


@pytest.mark.parametrize("mean, shape, y, expected", MPMATH_CDF)
def test_cdf_where_x_underflows(mean, shape, y, expected):
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[shape]])
    np.testing.assert_allclose(dist.cdf(y), expected, rtol=1e-13)


@pytest.mark.parametrize("mean, shape, q, expected", MPMATH_PPF)
def test_ppf_at_extreme_parameters(mean, shape, q, expected):
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[shape]])
    # to the quantile's conditioning: 1e-3 of a cdf's rounding at shape 1e-3
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-12)
    scipy = stats.gamma.ppf(q, shape, scale=mean / shape)
    if scipy > 1e-300:
        np.testing.assert_allclose(dist.ppf(q), scipy, rtol=1e-12)


@pytest.mark.filterwarnings("error")
def test_draws_past_the_largest_float_are_inf_without_warnings():
    # an exponential (shape 1) of mean 1e308 passes the largest float with
    # probability exp(-1.797693); NumPy warned of the overflow
    dist = PredictiveGammaMixture([[1.0]], [[1e308]], [[1.0]])
    draws = dist.sample(20000, random_state=0)[:, 0]
    assert np.all(draws > 0)
    expected = np.exp(-np.finfo(float).max / 1e308)
    sd = np.sqrt(expected * (1 - expected) / draws.size)
    assert abs(np.mean(np.isinf(draws)) - expected) < 5 * sd


def test_quantiles_past_the_largest_float_are_inf():
    # a shape of 1 is the exponential: ppf(q) = -mu log(1 - q), past the
    # largest float from q = 1 - exp(-1.7977) = 0.8343 on at mu = 1e308;
    # there ppf gave the largest float, nearer in probability, up to q = 0.92
    # (the second row: half a point mass at zero, so -mu log(2 (1 - q)))
    mean = 1e308
    dist = PredictiveGammaMixture(
        [[1.0, 0.0], [0.5, 0.5]], [[mean, 1.0], [mean, 0.0]], np.ones((2, 2))
    )
    q = np.array([0.6, 0.8, 0.834, 0.8344, 0.84, 0.9, 0.92, 0.99])[:, None]
    with np.errstate(over="ignore"):
        expected = -mean * np.log1p(-np.hstack([q, 2 * q - 1]))
    got = dist.ppf(q)
    beyond = np.isinf(expected)
    assert beyond[:, 0].sum() == 5 and beyond[:, 1].sum() == 2
    np.testing.assert_array_equal(got[beyond], np.inf)
    np.testing.assert_allclose(got[~beyond], expected[~beyond], rtol=1e-14)
    # scipy's likewise
    with np.errstate(over="ignore"):
        scipy = stats.expon.ppf(q[:, 0], scale=mean)
    np.testing.assert_array_equal(np.isinf(scipy), beyond[:, 0])


@pytest.mark.parametrize("mean", [1e-200, 1.0, 1e200])
@pytest.mark.parametrize("shape", [1e-3, 0.5, 40.0, 1e6])
def test_extreme_parameters_stay_finite_and_match_scipy(mean, shape):
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[shape]])
    law = stats.gamma(shape, scale=mean / shape)
    y = mean * np.array([[0.5], [0.999], [1.0], [1.5]])
    logpdf = dist.logpdf(y)
    assert np.all(np.isfinite(logpdf))
    np.testing.assert_allclose(logpdf, law.logpdf(y), rtol=1e-9)
    cdf = dist.cdf(y)
    assert np.all(np.isfinite(cdf))
    np.testing.assert_allclose(cdf, law.cdf(y), rtol=1e-12, atol=1e-300)
    q = np.array([[1e-10], [0.25], [0.5], [0.9], [1 - 1e-12]])
    expected = law.ppf(q)
    positive = expected > 1e-300  # scipy underflows below (shape 1e-3)
    got = dist.ppf(q)
    assert np.all(np.isfinite(got))
    # at a shape of 1e6 the quantile 1e-10 of both is 5e-11 off the true one
    # (gammainc's lower tail), but they agree
    np.testing.assert_allclose(got[positive], expected[positive], rtol=1e-12)
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-15)
    std = dist.std()
    assert np.isfinite(std)  # also where the variance over- or underflows
    np.testing.assert_allclose(std, mean / np.sqrt(shape), rtol=1e-14)
    with np.errstate(over="ignore", under="ignore"):
        variance = mean * (mean / shape)
    np.testing.assert_allclose(dist.var(), variance, rtol=1e-14)
    draws = dist.sample(200, random_state=0)
    assert np.all(np.isfinite(draws)) and np.all(draws >= 0)
    if shape >= 40:  # draws within 8 standard deviations of the mean
        assert np.all(np.abs(draws / mean - 1) < 8 / np.sqrt(shape))


def test_weights_summing_to_one_only_roughly_are_normalized():
    short = PredictiveGammaMixture([[0.3333333, 0.6666666]], [[2.0, 5.0]], [[2.0, 3.0]])
    exact = PredictiveGammaMixture([[1 / 3, 2 / 3]], [[2.0, 5.0]], [[2.0, 3.0]])
    np.testing.assert_allclose(short.weights.sum(axis=1), 1.0, rtol=1e-15)
    q = np.array([[0.5], [0.99999995], [1 - 1e-12]])
    np.testing.assert_allclose(short.ppf(q), exact.ppf(q), rtol=1e-14)
    assert np.all(np.isfinite(short.ppf(q)))


def test_chunks_of_rows_give_the_same_values(monkeypatch):
    dist = _mixture(seed=4, n_rows=10, n_experts=3)
    y = np.array([[0.3], [2.0], [9.0]])
    q = np.array([[1e-6], [0.4], [0.9]])
    whole = [dist.logpdf(y), dist.cdf(y), dist.ppf(q), dist.std(), dist.ppf(0.7)]
    monkeypatch.setattr(skmoe._distribution, "PPF_ROWS", 3)
    chunked = [dist.logpdf(y), dist.cdf(y), dist.ppf(q), dist.std(), dist.ppf(0.7)]
    for got, expected in zip(chunked, whole, strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-15)
    # and against scipy, chunked
    np.testing.assert_allclose(
        _scipy(dist, "cdf", chunked[2][:2]), np.broadcast_to(q[:2], (2, 10)), rtol=1e-12
    )


@pytest.mark.filterwarnings("error")
def test_extremes_raise_no_floating_point_warnings():
    # means and shapes across the floats, alone and in pairs: results are
    # finite or the right infinity, and monotone, without NumPy's warnings
    # (overflow in the set-aside branches of np.where)
    means, shapes = np.meshgrid([1e-300, 1e-5, 1.0, 1e300], [1e-10, 0.5, 1e3, 1e15])
    means, shapes = means.ravel(), shapes.ravel()
    partner = np.roll(np.arange(means.size), 5)
    for weights in ([1.0, 0.0], [0.3, 0.7]):
        dist = PredictiveGammaMixture(
            np.tile(weights, (means.size, 1)),
            np.c_[means, means[partner]],
            np.c_[shapes, shapes[partner]],
        )
        y = np.array([0, 5e-324, 1e-300, 1e-5, 1, 1e300, 1.7e308, np.inf])[:, None]
        cdf = dist.cdf(y)
        assert np.all(np.diff(cdf, axis=0) >= 0)
        assert not np.any(np.isnan(dist.logpdf(y)) | np.isnan(dist.pdf(y)))
        q = np.array([0, 1e-300, 1e-10, 0.3, 0.5, 0.7, 1 - 1e-10, 1])[:, None]
        quantiles = dist.ppf(q)
        assert not np.any(np.isnan(quantiles))
        assert np.all(quantiles[1:] >= quantiles[:-1])
        assert not np.any(np.isnan(dist.std()) | np.isnan(dist.var()))
        assert not np.any(np.isnan(dist.sample(3, random_state=0)))


@pytest.mark.filterwarnings("error")
def test_probabilities_stay_in_the_unit_interval():
    # scipy's gammainc(1e-300, 1) is 1 + 2.4e-14; the cdf is 1 - 2.2e-301, and the
    # survival function Gamma(1e-300, 1) / Gamma(1e-300) (mpmath)
    dist = PredictiveGammaMixture([[1.0]], [[1e-300]], [[1e-300]])
    assert dist.cdf(1.0)[0] == 1.0
    np.testing.assert_allclose(dist.sf(1.0), 2.193839343955203e-301, rtol=1e-12)


@pytest.mark.filterwarnings("error")
def test_a_row_of_point_masses_alone_warns_nothing():
    # all the row's weight on the point mass at zero: log 1 at zero, and no
    # density elsewhere (NumPy warned of log(0) + inf before the choice)
    dist = PredictiveGammaMixture([[1.0, 0.0]], [[0.0, 1e-12]], [[1e-8, 2.0]])
    np.testing.assert_array_equal(dist.logpdf(np.array([0.0, 1.0])), [0.0, -np.inf])


def test_moments_of_components_at_the_floats_edges():
    # a component of weight 1e-300 at 1e200 squared its deviation to inf, for
    # a variance of 1e100 (all five classes); a weight of 0 at an infinite
    # scale gave NaN; an infinite component scale gave std NaN for inf
    from skmoe import (
        PredictiveMixture,
        PredictiveNegativeBinomialMixture,
        PredictivePoissonMixture,
        PredictiveStudentTMixture,
    )

    w = [[1 - 1e-300, 1e-300]]
    cases = [
        (PredictiveMixture(w, [[0.0, 1e200]], [[1.0, 1.0]]), 1.0 + 1e100),
        (PredictiveStudentTMixture(w, [[0.0, 1e200]], [[1.0, 1.0]], 4.0), 2 + 1e100),
        (PredictivePoissonMixture(w, [[1.0, 1e200]]), 1.0 + 1e100),
        (PredictiveGammaMixture(w, [[1.0, 1e200]], [[1.0, 1.0]]), 1.0 + 2e100),
        # (1e-100 (1e200)^2, where the product of the squares overflowed)
        (PredictiveNegativeBinomialMixture([[1.0]], [[1e200]], [[1e-100]]), 1e300),
        (PredictiveMixture([[1.0, 0.0]], [[0.0, 0.0]], [[1.0, np.inf]]), 1.0),
        (
            PredictiveNegativeBinomialMixture([[1.0, 0]], [[1, 1e200]], [[0.5, 0.5]]),
            1.5,
        ),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dist, variance in cases:
            np.testing.assert_allclose(dist.var(), variance, rtol=1e-12)
            np.testing.assert_allclose(dist.std(), np.sqrt(variance), rtol=1e-12)
        for dist in (
            PredictiveGammaMixture([[0.5, 0.5]], [[1e300, 1.0]], [[1e-300, 1.0]]),
            PredictiveNegativeBinomialMixture([[1.0]], [[1e300]], [[1e300]]),
        ):
            assert dist.std()[0] == np.inf and dist.var()[0] == np.inf


def test_sf_keeps_the_upper_tail():
    # P(Y > y) from the Gamma components' upper tails, against scipy's sf,
    # beside a point mass at zero (a mean of 0)
    y = np.array([-1.0, 0.0, 0.5, 2.0, 10.0, 60.0, 300.0])[:, None]
    mixture = PredictiveGammaMixture([[0.3, 0.7]], [[1.0, 3.0]], [[2.0, 0.5]])
    parts = [stats.gamma(2.0, scale=0.5), stats.gamma(0.5, scale=6.0)]
    expected = 0.3 * parts[0].sf(y) + 0.7 * parts[1].sf(y)
    np.testing.assert_allclose(mixture.sf(y), expected, rtol=1e-12)
    assert 1.0 - mixture.cdf(300.0)[0] == 0.0 and mixture.sf(300.0)[0] > 1e-23
    hurdle = PredictiveGammaMixture([[0.3, 0.7]], [[0.0, 3.0]], [[1.0, 0.5]])
    expected = 0.3 * (y < 0) + 0.7 * parts[1].sf(y)
    np.testing.assert_allclose(hurdle.sf(y), expected, rtol=1e-12)
    np.testing.assert_allclose(hurdle.sf(y) + hurdle.cdf(y), 1.0, rtol=1e-15)


@pytest.mark.parametrize("zero", [False, True])
@pytest.mark.parametrize("q", [1e-9, 0.05, 0.5, 0.9, 0.999])
def test_ppf_with_a_dominant_component_is_brentqs_root(q, zero):
    # the bracket from the dominant component's quantiles of q / w and
    # 1 - (1 - q) / w (weights up to 0.999), beside a point mass at zero of
    # weight 0.01 or none: each row's root as scipy's brentq finds it on the
    # mixture's own distribution function, summed here from scipy.stats
    from scipy.optimize import brentq

    rng = np.random.RandomState(0)
    n, K = 40, 4
    weights = rng.dirichlet([0.2] * K, size=n)
    weights[:10] = [0.999, 5e-4, 3e-4, 2e-4]
    weights[10:15] = [2e-4, 3e-4, 0.999, 5e-4]
    means = np.exp(rng.uniform(-2, 3, size=(n, K)))
    shapes = np.exp(rng.uniform(-1, 4, size=(n, K)))
    if zero:  # a hurdle: the first component a point mass at 0
        means[:, 0] = 0.0
        weights[:, 0] = 0.01
        weights /= weights.sum(axis=1, keepdims=True)
    dist = PredictiveGammaMixture(weights, means, shapes)
    laws = stats.gamma(shapes, scale=np.where(means > 0, means, 1.0) / shapes)
    positive = means > 0

    def excess(y, i):
        w = weights[i] * positive[i]
        if q > 0.5:  # the upper tail, as ppf solves it
            return (1 - q) - w @ laws.sf(np.full(K, y))[i]
        return np.sum(weights[i] * ~positive[i]) + w @ laws.cdf(np.full(K, y))[i] - q

    expected = [
        0.0
        if excess(0.0, i) >= 0
        else brentq(excess, 0.0, 1e4, args=(i,), xtol=1e-300, rtol=1e-15, maxiter=500)
        for i in range(n)
    ]
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-11, atol=0)
    if not zero:
        # the bracket itself holds the root (to 1e-9 of log y; ppf widens it by
        # 1e-6), with both ends for the rows of a weight of 0.999 where q / w
        # and (1 - q) / w are at most 1 - 1e-3: else ppf finds the root by a
        # slower path outside it
        from skmoe._gamma_distribution import _weighted_bracket

        low, high = _weighted_bracket(
            np.full(n, q), np.full(n, 1 - q), weights, means, shapes
        )
        both = np.isfinite(low[:15]) & np.isfinite(high[:15])
        assert np.all(both) if 0.002 <= q <= 0.998 else not np.any(both)
        root = np.log(expected)
        slack = 1e-9 * (1 + np.abs(root))
        assert np.all((low <= root + slack) & (root - slack <= high))


@pytest.mark.parametrize("q", [1e-300, 1e-9, 0.3, 0.5, 0.9, 1 - 1e-12])
def test_ppf_of_one_component_is_scipys(q):
    # K = 1: the weighted bracket is the component's own quantile
    rng = np.random.RandomState(1)
    means = np.exp(rng.uniform(-5, 5, size=(30, 1)))
    shapes = np.exp(rng.uniform(0, 5, size=(30, 1)))  # 1 to 150
    dist = PredictiveGammaMixture(np.ones((30, 1)), means, shapes)
    expected = stats.gamma.ppf(q, shapes[:, 0], scale=(means / shapes)[:, 0])
    np.testing.assert_allclose(dist.ppf(q), expected, rtol=1e-12)


def test_upper_tails_skip_gammainc_only_where_it_exceeds_one_half():
    # a survival function where x - nu >= sqrt(nu) / 10 is taken from
    # gammaincc alone: there P(nu, x) is above 0.539 at every shape (the Gamma
    # median lies below nu), as gammainc's P > 0.5 would choose it; and sf is
    # scipy's on both sides of that line
    from scipy import special

    from skmoe._gamma_distribution import SURE_UPPER

    nu = np.geomspace(1e-300, 1e300, 6001)
    x = nu + SURE_UPPER * np.sqrt(nu)
    on_line = x - nu >= SURE_UPPER * np.sqrt(nu)
    x = np.where(on_line, x, np.nextafter(x, np.inf))
    assert np.all(special.gammainc(nu, x) > 0.539)
    shapes = np.array([1e-3, 0.3, 1.0, 7.0, 1e4])
    mu = np.array([2.0, 0.5, 1.0, 3.0, 1e-3])
    offsets = np.array([-0.2, -0.05, 0.0, 0.09, 0.1, 0.11, 0.5, 3.0])[:, None]
    y = mu / shapes * (shapes + offsets * np.sqrt(shapes))  # (8, 5) positive
    dist = PredictiveGammaMixture(np.ones((5, 1)), mu[:, None], shapes[:, None])
    law = stats.gamma(shapes, scale=mu / shapes)
    np.testing.assert_allclose(dist.sf(y), law.sf(y), rtol=1e-12)


@pytest.mark.parametrize("shapes", [[100.0, 300.0], [1000.0, 400.0], [1e4, 1e5]])
@pytest.mark.parametrize("q", [1e-312, 1e-315, 1e-320])
def test_quantiles_and_cdf_where_gammainc_underflows(shapes, q):
    # scipy's gammainc gives 0 once x^nu e^-x / Gamma(nu) is below e^-709.78,
    # though P is a subnormal float: quantiles of q below 1e-310 stopped there
    # (shapes 100 and 300 at q = 1e-315: 6.0e-4, where mpmath's cdf is 16693 q;
    # shapes 1000 and 400: 0.33158 for 0.32347), and the cdf was 0
    weights, means = [0.3, 0.7], [2.0, 5.0]
    dist = PredictiveGammaMixture([weights], [means], [shapes])

    def cdf(y):
        return mpmath.fsum(
            mpmath.mpf(w) * mpmath.gammainc(a, 0, y * a / m, regularized=True)
            for w, m, a in zip(weights, means, shapes, strict=True)
        )

    got = dist.ppf(q)[0]
    with mpmath.workdps(40):
        at_got = cdf(mpmath.mpf(got))
        # the exact cdf at the quantile is q, to the resolution of the
        # subnormal floats the cdf is summed in (4.9e-324)
        assert abs(at_got - q) <= 4 * 5e-324 + 1e-11 * q
    # a subnormal cdf keeps fewer digits: within two of its spacings
    assert dist.cdf(got)[0] == pytest.approx(float(at_got), rel=1e-9, abs=1e-323)
