"""PredictiveStudentTMixture against scipy.stats.t, term by term."""

import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy
from scipy import stats

from skmoe import PredictiveMixture, PredictiveStudentTMixture
from skmoe._distribution import _shared_t_ppf

DFS = [1.0, 2.5, 4.0, 30.0]
#: How close scipy's t.ppf, the reference, is to the quantiles: SciPy 1.15 and
#: 1.16's stdtrit are off by up to 2e-11 (skmoe's, root-found on the cdf, were
#: within 2e-15 of mpmath's there).
T_PPF_RTOL = (
    1e-12 if tuple(map(int, scipy.__version__.split(".")[:2])) >= (1, 17) else 5e-11
)


def _rows(df):
    """Three one-component rows of different centres and scales."""
    means = np.array([[0.0], [-3.0], [250.0]])
    scales = np.array([[1.0], [0.25], [40.0]])
    return PredictiveStudentTMixture(np.ones((3, 1)), means, scales, df), means, scales


def _frozen(df, loc, scale):
    """scipy.stats.t, or for df 1 scipy.stats.cauchy: scipy.special.stdtr(1, z)
    is off by up to 2.3e-9 near z = 0 (0.5 at z = -3e-10)."""
    if np.all(df == 1):
        return stats.cauchy(loc=loc, scale=scale)
    return stats.t(df, loc=loc, scale=scale)


def _scipy_mixture(dist):
    """Each row's components as frozen scipy.stats distributions."""
    return [
        [(w, _frozen(df, mu, s)) for w, mu, s, df in zip(*row, strict=True) if w > 0]
        for row in zip(dist.weights, dist.means, dist.scales, dist.df, strict=True)
    ]


def _scipy_cdf(dist, y):
    return np.array([sum(w * c.cdf(y) for w, c in row) for row in _scipy_mixture(dist)])


def _scipy_pdf(dist, y):
    return np.array([sum(w * c.pdf(y) for w, c in row) for row in _scipy_mixture(dist)])


@pytest.mark.parametrize("df", DFS)
def test_one_component_is_scipys_t(df):
    dist, means, scales = _rows(df)
    frozen = _frozen(df, means[:, 0], scales[:, 0])
    y = np.array([[-5.0], [0.3], [260.0], [1e4]])
    np.testing.assert_allclose(dist.logpdf(y), frozen.logpdf(y), rtol=1e-12)
    np.testing.assert_allclose(dist.pdf(y), frozen.pdf(y), rtol=1e-12)
    np.testing.assert_allclose(dist.cdf(y), frozen.cdf(y), rtol=1e-12, atol=1e-300)
    q = np.array([[1e-12], [0.01], [0.3], [0.5], [0.9], [1 - 1e-12]])
    # (the median of the row at 0: SciPy 1.15's is 7e-17, skmoe's 0)
    np.testing.assert_allclose(dist.ppf(q), frozen.ppf(q), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(dist.median(), frozen.median(), rtol=1e-12, atol=1e-15)
    for ours, theirs in zip(dist.interval(0.9), frozen.interval(0.9), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    # the mean as scipy's where it exists; the centre (not NaN) where it does not
    np.testing.assert_allclose(dist.mean(), means[:, 0], rtol=0)
    if df > 1:
        np.testing.assert_allclose(dist.mean(), frozen.mean(), rtol=1e-12)
    # inf where scipy's is inf (1 < df <= 2) or NaN (df <= 1)
    variance = stats.t(df, scale=scales[:, 0]).var() if df > 2 else np.inf
    np.testing.assert_allclose(dist.var(), variance, rtol=1e-12)
    np.testing.assert_allclose(dist.std(), np.sqrt(variance), rtol=1e-12)


def test_rows_with_their_own_df():
    dist = PredictiveStudentTMixture(
        np.ones((4, 1)),
        [[0.0], [1.0], [2.0], [3.0]],
        np.ones((4, 1)),
        [[1], [3], [7], [np.inf]],
    )
    np.testing.assert_array_equal(dist.df[:, 0], [1, 3, 7, np.inf])
    np.testing.assert_allclose(dist.var(), [np.inf, 3.0, 1.4, 1.0], rtol=1e-14)
    ppf = stats.t.ppf(0.2, [1, 3, 7, 1e300], loc=[0, 1, 2, 3])
    np.testing.assert_allclose(dist.ppf(0.2), ppf, rtol=T_PPF_RTOL)


@pytest.fixture
def mixture():
    """Two and three components; weights with a zero; heavy and light tails."""
    weights = [[0.3, 0.7, 0.0], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]]
    means = [[-2.0, 1.0, 50.0], [0.0, 3.0, -4.0], [-1e3, 0.0, 1e3]]
    scales = [[1.0, 0.5, 2.0], [2.0, 0.1, 1.0], [10.0, 1.0, 5.0]]
    df = [[1.0, 4.0, 2.5], [30.0, 2.5, 1.0], [1.5, np.inf, 4.0]]
    return PredictiveStudentTMixture(weights, means, scales, df)


def test_mixture_density_and_cdf_are_the_weighted_sums(mixture):
    y = np.array([-1e4, -3.0, -0.5, 0.0, 0.7, 2.0, 80.0, 1e5])
    np.testing.assert_allclose(
        mixture.pdf(y[:, None]),
        np.array([_scipy_pdf(mixture, v) for v in y]),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        mixture.logpdf(y[:, None]),
        np.log([_scipy_pdf(mixture, v) for v in y]),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        mixture.cdf(y[:, None]),
        np.array([_scipy_cdf(mixture, v) for v in y]),
        rtol=1e-12,
    )
    # one value per row, and a scalar
    np.testing.assert_allclose(
        mixture.cdf(y[:3]),
        [_scipy_cdf(mixture, v)[i] for i, v in enumerate(y[:3])],
        rtol=1e-12,
    )
    assert mixture.cdf(0.5).shape == (3,)


@pytest.mark.parametrize("q", [1e-12, 1e-6, 0.05, 0.3, 0.5, 0.77, 0.99, 1 - 1e-12])
def test_ppf_is_the_root_of_the_cdf(mixture, q):
    y = mixture.ppf(q)
    if q < 0.5:
        np.testing.assert_allclose(
            _scipy_cdf(mixture, y)[[0, 1, 2], [0, 1, 2]], q, rtol=1e-10
        )
    else:  # the upper tail's digits are in the survival function
        sf = [
            sum(w * c.sf(y[i]) for w, c in row)
            for i, row in enumerate(_scipy_mixture(mixture))
        ]
        np.testing.assert_allclose(sf, 1 - q, rtol=1e-10)


@pytest.mark.parametrize("q", [1e-12, 0.1, 0.3, 0.5, 0.7, 1 - 1e-12])
def test_ppf_of_cauchy_components_far_apart(q):
    dist = PredictiveStudentTMixture(
        [[0.5, 0.5], [0.5, 0.5]],
        [[-1e6, 1e6], [0.0, 0.0]],
        [[1.0, 1.0], [1.0, 1e10]],
        1.0,
    )
    y = dist.ppf(q)
    cauchy = [
        (stats.cauchy(-1e6, 1), stats.cauchy(1e6, 1)),
        (stats.cauchy(0, 1), stats.cauchy(0, 1e10)),
    ]
    if q <= 0.5:
        got = [0.5 * (a.cdf(v) + b.cdf(v)) for (a, b), v in zip(cauchy, y, strict=True)]
        np.testing.assert_allclose(got, q, rtol=1e-10)
    else:
        got = [0.5 * (a.sf(v) + b.sf(v)) for (a, b), v in zip(cauchy, y, strict=True)]
        np.testing.assert_allclose(got, 1 - q, rtol=1e-10)


@pytest.mark.parametrize(
    "df", [3.0, [[3.0, 3.0], [3.0, 3.0], [1.5, 1.5]]], ids=["shared", "per row"]
)
@pytest.mark.parametrize("q", [0.2, 0.9])
def test_ppf_of_one_q_for_every_row(df, q):
    # the same q in every row (an array of it, not a scalar), as a fitted
    # model's one df gives: its t quantile is computed once where the rows
    # share their df too, per row otherwise; each row's quantile is the root
    # of SciPy's mixture cdf (sf above the median)
    dist = PredictiveStudentTMixture(
        [[0.3, 0.7], [0.5, 0.5], [0.9, 0.1]],
        [[-2.0, 1.0], [0.0, 4.0], [10.0, -3.0]],
        [[1.0, 0.5], [2.0, 1.0], [0.3, 3.0]],
        df,
    )
    frozen = _scipy_mixture(dist)
    for shape in [(3,), (2, 3)]:
        # the components' t quantiles that bracket the root, SciPy's
        np.testing.assert_allclose(
            _shared_t_ppf(dist.df, np.full(shape, q)),
            stats.t.ppf(q, np.broadcast_to(dist.df, shape + (2,))),
            rtol=1e-12,
        )
        y = dist.ppf(np.full(shape, q))
        assert y.shape == shape
        for row in np.reshape(y, (-1, 3)):
            pairs = zip(frozen, row, strict=True)
            if q < 0.5:
                got = [sum(w * c.cdf(v) for w, c in mix) for mix, v in pairs]
                np.testing.assert_allclose(got, q, rtol=1e-10)
            else:
                got = [sum(w * c.sf(v) for w, c in mix) for mix, v in pairs]
                np.testing.assert_allclose(got, 1 - q, rtol=1e-10)


def test_ppf_ends_and_nan(mixture):
    out = mixture.ppf(np.array([[0.0], [1.0], [np.nan]]))
    assert np.all(out[0] == -np.inf) and np.all(out[1] == np.inf)
    assert np.all(np.isnan(out[2]))
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
        mixture.ppf(1.5)


def _log_far_tail(df, y, scale=1.0):
    """log P(scale T <= y) for y far below 0, where scipy's t.cdf squares y to
    inf: the tail's leading term, exact to df / z^2 of itself, 0.5 x^a /
    (a B(a, 1/2)) with a = df / 2, x = df / z^2, z = y / scale in logarithms
    (1e307 / 0.01 overflows)."""
    a = df / 2
    log_beta = math.lgamma(a) + math.lgamma(0.5) - math.lgamma(a + 0.5)
    log_x = math.log(df) - 2 * (math.log(-y) - math.log(scale))
    return math.log(0.5) + a * log_x - math.log(a) - log_beta


def _log_far_quantile(df, q, scale=1.0):
    """log |y| of the quantile q < 0.5 of scale T, from the tail's leading term
    (:func:`_log_far_tail` = log q solved for y): good to df / z^2 of itself."""
    a = df / 2
    log_beta = math.lgamma(a) + math.lgamma(0.5) - math.lgamma(a + 0.5)
    log_x = (math.log(2 * q) + math.log(a) + log_beta) / a
    return math.log(scale) + 0.5 * (math.log(df) - log_x)


def test_ppf_of_a_quantile_past_a_components_floats():
    # the df 0.5 component's quantile 1e-155 overflows (-2.5e309); at weight
    # 0.1 the mixture's is -1e307, 0.1 of it reaching 1e-155 there
    dist = PredictiveStudentTMixture(
        [[0.9, 0.1]], [[0.0, 0.0]], [[1.0, 1.0]], [[30.0, 0.5]]
    )
    y = dist.ppf(1e-155)
    assert np.isfinite(y[0]) and y[0] < -1e306
    tail = 0.1 * math.exp(_log_far_tail(0.5, y[0]))
    np.testing.assert_allclose(tail, 1e-155, rtol=1e-10)
    # a quantile past the floats is -inf (scipy's stdtrit says -4.7e153)
    assert dist.ppf(1e-200)[0] == -np.inf
    # far tails of a single component, where scipy.special.stdtrit fails
    # (+inf for df 2.5 at 1e-300, -4.7e153 for df 0.5 below 1e-78)
    for df, q, log_cdf in [
        (2.5, 1e-300, lambda y: stats.t.logcdf(y, 2.5)),
        (1.0, 1e-300, stats.cauchy.logcdf),
        (0.5, 1e-100, lambda y: _log_far_tail(0.5, y)),
    ]:
        y = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df).ppf(q)[0]
        assert np.isfinite(y)
        np.testing.assert_allclose(log_cdf(y), np.log(q), rtol=1e-12)


def test_logpdf_far_in_a_heavy_tail():
    # a Cauchy at 1e200 scales: -log(pi) - 2 log(1e200), where z**2 overflows
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], 1.0)
    np.testing.assert_allclose(
        dist.logpdf(1e200), -np.log(np.pi) - 400 * np.log(10), rtol=1e-14
    )
    np.testing.assert_allclose(dist.cdf(-1e200), 1 / (np.pi * 1e200), rtol=1e-12)
    np.testing.assert_allclose(dist.cdf(-1e300), 1 / (np.pi * 1e300), rtol=1e-12)
    # large df: the Gaussian's constant, not gammaln's cancellation (4e-10 at 1e6)
    for df in [1e6, 1e15, 1e300]:
        t = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df)
        expected = -0.5 * np.log(2 * np.pi) - 1 / (4 * df)
        np.testing.assert_allclose(t.logpdf(0.0), expected, rtol=1e-15)


def test_infinite_df_is_the_gaussian_mixture():
    rng = np.random.RandomState(0)
    weights = rng.dirichlet([1.0, 2.0, 3.0], size=6)
    means = rng.normal(0, 3, size=(6, 3))
    scales = rng.uniform(0.2, 2.0, size=(6, 3))
    t = PredictiveStudentTMixture(weights, means, scales, np.inf)
    gaussian = PredictiveMixture(weights, means, scales)
    y = np.linspace(-6, 6, 9)[:, None]
    q = np.array([[1e-12], [0.2], [0.5], [0.9], [1 - 1e-12]])
    for method, arg in [("logpdf", y), ("cdf", y), ("ppf", q), ("median", None)]:
        args = () if arg is None else (arg,)
        np.testing.assert_allclose(
            getattr(t, method)(*args), getattr(gaussian, method)(*args), rtol=1e-13
        )
    np.testing.assert_array_equal(t.mean(), gaussian.mean())
    np.testing.assert_array_equal(t.var(), gaussian.var())
    np.testing.assert_array_equal(t.std(), gaussian.std())
    # the same draws: normal ones first, and no gamma draws for infinite df
    np.testing.assert_array_equal(
        t.sample(5, random_state=3), gaussian.sample(5, random_state=3)
    )


def test_variance_infinite_for_df_at_most_two_but_finite_std_where_it_overflows():
    dist = PredictiveStudentTMixture(
        [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0], [0.5, 0.5]],
        [[0.0, 1.0]] * 4,
        [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1e200, 1e200]],
        [[2.0, 30.0], [1.0, 30.0], [30.0, 1.5], [4.0, 4.0]],
    )
    np.testing.assert_array_equal(dist.var()[:2], np.inf)
    np.testing.assert_array_equal(dist.std()[:2], np.inf)
    # a component of weight 0 with df 1.5 adds nothing
    np.testing.assert_allclose(dist.var()[2], 30 / 28, rtol=1e-14)
    # variance 2e400 overflows; the std, sqrt(2) 1e200, does not
    assert dist.var()[3] == np.inf
    np.testing.assert_allclose(dist.std()[3], np.sqrt(2) * 1e200, rtol=1e-14)


def test_std_finite_where_a_components_std_overflows():
    # scale 1e306 and df 2.000001: the component's std, 1.4e309, overflows;
    # at weight 1e-10 the mixture's, sqrt(1e-10 1e612 df / (df - 2) + ...) =
    # 1.4e304, does not (inf before); exact arithmetic on the floats given
    from fractions import Fraction

    df, weight = 2.000001, 1e-10
    dist = PredictiveStudentTMixture(
        [[weight, 1 - weight], [weight, 1 - weight], [0.5, 0.5]],
        [[0.0, 0.0], [3e303, -5.0], [0.0, 0.0]],
        [[1e306, 1.0], [1e306, 1.0], [1e306, 1.0]],
        [df, 30.0],
    )
    expected = []
    for w, m0, m1 in ((weight, 0.0, 0.0), (weight, 3e303, -5.0)):
        w, m0, m1 = Fraction(w), Fraction(m0), Fraction(m1)
        mean = w * m0 + (1 - w) * m1
        var = w * (Fraction(1e306) ** 2 * Fraction(df) / (Fraction(df) - 2)) + (
            1 - w
        ) * Fraction(30, 28)
        var += w * (m0 - mean) ** 2 + (1 - w) * (m1 - mean) ** 2
        # sqrt in units of 10**300, where the square root's float is exact enough
        expected.append(math.sqrt(float(var / 10**600)) * 1e300)
    np.testing.assert_allclose(dist.std()[:2], expected, rtol=1e-14)
    assert np.all(dist.var()[:2] == np.inf)  # 2e608 overflows
    # at weight 0.5 the mixture's std overflows too
    assert dist.std()[2] == np.inf


def test_sample_follows_the_mixture():
    dist = PredictiveStudentTMixture(
        [[0.3, 0.7], [0.6, 0.4]],
        [[-2.0, 1.0], [0.0, 5.0]],
        [[1.0, 0.5], [2.0, 1.0]],
        [[1.0, 4.0], [2.5, np.inf]],
    )
    draws = dist.sample(20000, random_state=0)
    assert draws.shape == (20000, 2)
    for row in range(2):
        result = stats.kstest(
            draws[:, row], lambda v, row=row: dist[row].cdf(v[:, None])[:, 0]
        )
        assert result.pvalue > 1e-3
    np.testing.assert_array_equal(draws, dist.sample(20000, random_state=0))
    assert not np.array_equal(draws[:10], dist.sample(10, random_state=1))
    with pytest.raises(ValueError, match="n_samples"):
        dist.sample(0)


def test_indexing_keeps_df(mixture):
    selected = mixture[[2, 0]]
    assert isinstance(selected, PredictiveStudentTMixture)
    np.testing.assert_array_equal(selected.df, mixture.df[[2, 0]])
    np.testing.assert_array_equal(mixture[1].df, mixture.df[1:2])
    np.testing.assert_array_equal(mixture[1:].df, mixture.df[1:])
    np.testing.assert_array_equal(mixture[[True, False, True]].df, mixture.df[[0, 2]])
    np.testing.assert_allclose(selected.ppf(0.3), mixture.ppf(0.3)[[2, 0]], rtol=1e-14)
    assert repr(selected) == "PredictiveStudentTMixture(n_rows=2, n_components=3)"


def test_df_broadcasts():
    weights, means, scales = np.full((2, 3), 1 / 3), np.zeros((2, 3)), np.ones((2, 3))
    per_component = PredictiveStudentTMixture(weights, means, scales, [1, 2, np.inf])
    np.testing.assert_array_equal(per_component.df, [[1, 2, np.inf]] * 2)
    per_row = PredictiveStudentTMixture(weights, means, scales, [[3], [5]])
    np.testing.assert_array_equal(per_row.df, [[3] * 3, [5] * 3])
    assert PredictiveStudentTMixture(weights, means, scales, 7).df.dtype == float


@pytest.mark.parametrize(
    "df, error, match",
    [
        (0.0, ValueError, "df must be positive.*got 0.0"),
        (-1, ValueError, "df must be positive.*got -1.0"),
        (np.nan, ValueError, "df must be positive.*got nan"),
        ([[1.0, np.nan]], ValueError, "df must be positive"),
        ([1.0, 2.0, 3.0], ValueError, r"df of shape \(3,\) does not broadcast"),
        (np.ones((3, 2)), ValueError, r"against the weights' shape \(2, 2\)"),
        ("3", TypeError, "df must be numeric"),
        (None, TypeError, "df must be numeric.*got NoneType"),
        ([True, False], TypeError, "df must be numeric"),
    ],
)
def test_bad_df(df, error, match):
    with pytest.raises(error, match=match):
        PredictiveStudentTMixture(
            np.full((2, 2), 0.5), np.zeros((2, 2)), np.ones((2, 2)), df
        )


def test_bad_weights_and_scales():
    with pytest.raises(ValueError, match="same shape"):
        PredictiveStudentTMixture([[1.0]], [[0.0, 1.0]], [[1.0]], 3)
    with pytest.raises(ValueError, match="scales must be positive"):
        PredictiveStudentTMixture([[1.0]], [[0.0]], [[0.0]], 3)
    with pytest.raises(ValueError, match="sum to one"):
        PredictiveStudentTMixture([[0.5]], [[0.0]], [[1.0]], 3)


def test_chunks_give_the_same_numbers(monkeypatch, mixture):
    from skmoe import _distribution

    q = np.array([[0.1], [0.6]])
    whole = mixture.ppf(q), mixture.logpdf(0.4), mixture.cdf(0.4), mixture.std()
    monkeypatch.setattr(_distribution, "PPF_ROWS", 2)
    chunked = mixture.ppf(q), mixture.logpdf(0.4), mixture.cdf(0.4), mixture.std()
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a, b)


def test_ppf_finite_where_a_small_scale_overflows_z():
    # the quantile 1e-155 of scale 0.01 and df 0.5 is -1.03e307, z = -1.03e309:
    # z overflowed to -inf in the cdf, which made the tail 0 at -1.8e308, and
    # the root was searched for above it and came out +inf
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[0.01]], df=0.5)
    y = dist.ppf(1e-155)[0]
    assert np.isfinite(y) and y < -1e307
    expected = -math.exp(_log_far_quantile(0.5, 1e-155, 0.01))
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    np.testing.assert_allclose(
        math.exp(_log_far_tail(0.5, y, 0.01)), 1e-155, rtol=1e-10
    )
    np.testing.assert_allclose(dist.cdf(y), 1e-155, rtol=1e-10)
    # the cdf itself past the overflow of z, against the series
    for v in [-1e307, -1e300, -np.finfo(float).max]:
        np.testing.assert_allclose(
            dist.cdf(v), math.exp(_log_far_tail(0.5, v, 0.01)), rtol=1e-12
        )
    assert dist.cdf(-np.inf)[0] == 0 and dist.cdf(np.inf)[0] == 1


def test_ppf_beyond_the_floats_is_the_infinity_of_its_tail():
    # df 1e-3, scale 0.5: the quantiles 0.1 and 0.9 are beyond 1.8e308 (the
    # tail at -1.8e308 is 0.24); they came out +inf and -inf, an inverted interval
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[0.5]], df=1e-3)
    largest = np.finfo(float).max
    tail = math.exp(_log_far_tail(1e-3, -largest, 0.5))
    assert tail > 0.1
    np.testing.assert_allclose(dist.cdf(-largest), tail, rtol=1e-12)
    np.testing.assert_allclose(1 - dist.cdf(largest), tail, rtol=1e-12)
    assert dist.ppf(0.1)[0] == -np.inf and dist.ppf(0.9)[0] == np.inf
    low, high = dist.interval(0.8)
    assert low[0] == -np.inf and high[0] == np.inf
    # as with scale 1
    unit = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df=1e-3)
    np.testing.assert_array_equal(unit.ppf([[0.1], [0.9]])[:, 0], [-np.inf, np.inf])


@pytest.mark.parametrize(
    "scale, df", [(0.01, 0.5), (0.5, 1e-3), (1e-10, 0.5), (0.01, 1.0), (1e10, 0.5)]
)
def test_ppf_monotone_across_the_overflow(scale, df):
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[scale]], df)
    q = np.logspace(-300, np.log10(0.5), 200)
    lower = dist.ppf(q[:, None])[:, 0]
    upper = dist.ppf(1 - q[:, None])[:, 0]
    assert not np.any(np.isnan(lower)) and not np.any(np.isnan(upper))
    assert np.all(lower[1:] >= lower[:-1]) and np.all(upper[1:] <= upper[:-1])
    assert np.all(lower <= 0) and np.all(upper >= 0)
    # a quantile is -inf just where the tail at the lowest float exceeds q
    beyond = math.exp(_log_far_tail(df, -np.finfo(float).max, scale)) > q
    np.testing.assert_array_equal(lower == -np.inf, beyond)
    finite = np.isfinite(lower) & (q < 0.4)
    np.testing.assert_allclose(
        dist.cdf(lower[finite, None])[:, 0], q[finite], rtol=1e-10
    )
    for confidence in [0.0, 0.2, 0.8, 1 - 1e-12, 1.0]:
        low, high = dist.interval(confidence)
        assert low[0] <= high[0]


@pytest.mark.parametrize("q", [1e-300, 1e-155, 0.1, 0.9])
@pytest.mark.parametrize("df", [1e-3, 0.5, 1.0])
@pytest.mark.parametrize("scale", [1e-10, 0.01, 1.0, 1e10])
def test_ppf_over_scales_and_heavy_tails(scale, df, q):
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[scale]], df)
    y = dist.ppf(q)[0]
    tail = min(q, 1 - q)
    sign = -1.0 if q < 0.5 else 1.0
    if df == 1:  # the Cauchy's own: scale tan(pi (q - 1/2)), in logarithms
        log_abs = math.log(scale) - math.log(math.tan(math.pi * tail))
    else:
        log_abs = _log_far_quantile(df, tail, scale)
        if log_abs - math.log(scale) < math.log(1e6 * math.sqrt(df)):
            # not far out: the series is off by df / z^2; scipy is good here
            log_abs = math.log(abs(stats.t.ppf(q, df, scale=scale)))
    if log_abs > math.log(np.finfo(float).max):
        assert y == sign * np.inf
    else:
        assert np.isfinite(y)
        np.testing.assert_allclose(y, sign * math.exp(log_abs), rtol=1e-10)
        cdf = dist.cdf(y)[0]
        np.testing.assert_allclose(cdf if q < 0.5 else 1 - cdf, tail, rtol=1e-10)


def test_quantiles_of_the_smallest_probabilities():
    # the root finder's tolerance on an absolute difference of probabilities
    # (the smallest normal float) stopped q = 1e-307 at its bracket's end:
    # 1e-3 scales off (cdf(ppf(q)) / q - 1 = -3.7e-2)
    q = np.array([1e-300, 1e-305, 1e-307, 1e-310])
    normal = PredictiveMixture(np.ones((4, 1)), np.zeros((4, 1)), np.ones((4, 1)))
    np.testing.assert_allclose(normal.ppf(q), stats.norm.ppf(q), rtol=1e-13)
    t = PredictiveStudentTMixture(
        np.ones((4, 1)), np.zeros((4, 1)), np.ones((4, 1)), 1e3
    )
    # mpmath's (50 digits; SciPy 1.15's t.ppf is 3e-4 off there)
    exact = [-54.291388553051743, -55.13142709402279, -55.469260012554409]
    exact.append(-55.977986263897101)
    np.testing.assert_allclose(t.ppf(q), exact, rtol=1e-12)
    two = PredictiveMixture([[0.5, 0.5]], [[0.0, 3.0]], [[1.0, 2.0]])
    for level in q[:3]:
        np.testing.assert_allclose(two.cdf(two.ppf(level)), level, rtol=1e-10)
    # a subnormal q: its bracket's middle, within the bracket's 2e-3 scales
    np.testing.assert_allclose(normal.ppf(5e-324), stats.norm.ppf(5e-324), rtol=1e-4)
    # at df <= 0.01 the quantile lies beyond the largest float: -inf, without
    # the root finder's NaN warning (it leaked)
    heavy = PredictiveStudentTMixture([[0.5, 0.5]], [[0.0, 1.0]], [[1.0, 2.0]], 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low = heavy.ppf(np.array([5e-324, 1e-300]))
    assert np.all(np.isneginf(low))
    # (its cdf at the most negative float is still above q: no finite quantile)
    assert heavy.cdf(-np.finfo(np.float64).max) > 1e-300


def test_log_density_where_z_overflows():
    # mean -1e300, scale 1e-300, y = 1e300: z = 2e600 overflowed, and the log
    # density, -log(pi) - log(1 + z^2) - log(scale) = -2074.8576 for a Cauchy
    # (the cdf took |z| from the halved offset already), came out -inf
    dist = PredictiveStudentTMixture([[1.0]], [[-1e300]], [[1e-300]], 1.0)
    log_z = math.log(2e300) - math.log(1e-300)
    expected = -math.log(math.pi) - 2 * log_z + math.log(1e300)
    np.testing.assert_allclose(dist.logpdf(1e300), expected, rtol=1e-14)
    df = 5.0  # the kernel -(df + 1) / 2 log(1 + z^2 / df) and its norm
    dist = PredictiveStudentTMixture([[1.0]], [[-1e300]], [[1e-300]], df)
    log_norm = stats.t.logpdf(0.0, df)
    expected = log_norm - (df + 1) * (log_z - 0.5 * math.log(df)) + math.log(1e300)
    np.testing.assert_allclose(dist.logpdf(1e300), expected, rtol=1e-14)


@pytest.mark.parametrize("df", [0.01, 0.05])
def test_samples_of_tiny_degrees_of_freedom_follow_the_cdf(df):
    # Gamma(0.005) draws underflowed to 0 in 2.8% of cases: t = inf where
    # P(|t| > 1.8e308) is about 0.08% at df = 0.01
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws = dist.sample(20000, random_state=1)[:, 0]
    assert np.mean(np.isinf(draws)) < 0.003
    levels = dist.cdf(draws[:, None])[:, 0]
    assert stats.kstest(levels, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("df", [None, 3.0])
def test_sf_keeps_the_upper_tail(df):
    # P(Y > y) from the components' upper tails, against scipy's sf: 1 - cdf
    # rounds to 0 at 9 standard deviations (1.1e-19)
    weights, means, scales = [[0.3, 0.7]], [[0.0, 1.0]], [[1.0, 2.0]]
    if df is None:
        dist = PredictiveMixture(weights, means, scales)
        parts = [stats.norm(0.0, 1.0), stats.norm(1.0, 2.0)]
    else:
        dist = PredictiveStudentTMixture(weights, means, scales, [[df, 1.0]])
        parts = [stats.t(df, 0.0, 1.0), stats.t(1.0, 1.0, 2.0)]
    y = np.array([-50.0, -3.0, 0.0, 0.5, 3.0, 9.0, 40.0, 1e6])[:, None]
    expected = 0.3 * parts[0].sf(y) + 0.7 * parts[1].sf(y)
    np.testing.assert_allclose(dist.sf(y), expected, rtol=1e-12)
    np.testing.assert_allclose(dist.sf(y) + dist.cdf(y), 1.0, rtol=1e-15)
    assert np.isnan(dist.sf(np.nan)).all()


def test_quantiles_beyond_the_largest_float_are_quiet():
    # df=1e-3: the tails hold about a quarter of the mass beyond 1e308 each
    # side (0.5 x^-df), so a 90% interval is infinite; NumPy's overflow
    # warnings leaked from the bracket's middle and the float neighbours
    dist = PredictiveStudentTMixture([[0.5, 0.5]], [[0.0, 1.0]], [[1.0, 1.0]], 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = dist.interval(0.9)
        quantiles = dist.ppf(np.array([0.45, 0.5, 0.55]))
    assert low[0] == -np.inf and high[0] == np.inf
    # within 1e44 of the centres, one component's quantile is the mixture's
    expected = stats.t.ppf([0.45, 0.55], 1e-3)
    np.testing.assert_allclose(quantiles[[0, 2]], expected, rtol=1e-6)
    assert quantiles[1] == pytest.approx(0.5, rel=1e-12)  # symmetric about 0.5


def test_t_log_beta_is_mpmaths_on_each_side_of_its_thresholds():
    # log B(df / 2, 1 / 2) from T_RATIO_DF to 100 by Stirling's ratio (the
    # difference of gammaln's was 1.3e-15 off at df 7 to 8 and 5e-14 at df
    # 20 to 100), else by _t_log_norm: mpmath's within 8e-16 from df 7 to 100
    # (4.7e-16 at most on this grid; a margin for other libms), to 1.2e-15
    # below and above
    from skmoe._distribution import _t_log_beta

    df = np.concatenate(
        [
            np.linspace(0.1, 7.0, 70, endpoint=False),
            np.linspace(7.0, 9.0, 201),
            np.linspace(9.0, 100.0, 365, endpoint=False),
            [99.9999999, 100.0, 100.0000001, 150.0, 1e3, 8e5, 1e9],
        ]
    )
    with mpmath.workdps(40):
        exact = np.array(
            [float(mpmath.log(mpmath.beta(mpmath.mpf(v) / 2, 0.5))) for v in df]
        )
    error = np.abs(_t_log_beta(df) - exact)
    middle = (df >= 7.0) & (df < 100.0)
    assert error[middle].max() <= 8e-16
    assert error[~middle].max() <= 1.2e-15
    # an infinite df beside one of the middle: the limit, -inf, as the
    # series gives it, without the ratio's inf / inf (an "invalid value")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        limit = _t_log_beta(np.array([10.0, np.inf]))
    assert limit[1] == -np.inf


def test_t_log_norm_is_mpmaths_within_a_few_floats_below_df_100():
    # log t_df(0) = log Gamma((df + 1) / 2) - log Gamma(df / 2) - log(pi df)
    # / 2: from T_RATIO_DF to 100 by Stirling's ratio (the difference of
    # gammaln's was up to 518 floats off at df 30 to 100, 93 at 7 to 30);
    # within 6 floats of mpmath's on this grid, 8 allowed (other libms)
    from skmoe._distribution import _t_log_norm

    df = np.concatenate(
        [
            np.geomspace(0.1, 7.0, 60, endpoint=False),
            np.linspace(7.0, 100.0, 600, endpoint=False),
            [99.9999999, 100.0, 150.0, 1e4, 1e9],
        ]
    )
    with mpmath.workdps(40):
        exact = np.array(
            [
                float(
                    mpmath.loggamma((mpmath.mpf(v) + 1) / 2)
                    - mpmath.loggamma(mpmath.mpf(v) / 2)
                    - mpmath.log(mpmath.pi * mpmath.mpf(v)) / 2
                )
                for v in df
            ]
        )
    floats = np.abs(_t_log_norm(df) - exact) / np.spacing(np.abs(exact))
    assert floats.max() <= 8
    # a scalar df (the Student t expert's log-likelihood): the same float
    assert float(_t_log_norm(np.float64(df[300]))) == _t_log_norm(df)[300]


def test_logpdf_below_df_100_is_mpmaths_within_a_few_floats():
    # one component of scale ~1 at |z| up to 30: the log density's error is
    # its normaliser's (177 floats of its largest term at df 30 to 100 with
    # the difference of gammaln's; 3 now), with df shared by the rows (one
    # normaliser for all) and one per row
    rng = np.random.default_rng(2)
    n = 240
    df = np.exp(rng.uniform(np.log(7.0), np.log(100.0), n))
    z = np.geomspace(1e-3, 30.0, n) * rng.choice([-1.0, 1.0], n)
    scales = np.exp(rng.uniform(-2.0, 2.0, n))
    means = rng.normal(0.0, 1.0, n)
    y = means + z * scales

    def exact(d, mu, s, at):
        d, s, t = mpmath.mpf(d), mpmath.mpf(s), (mpmath.mpf(at) - mpmath.mpf(mu))
        t = t / s
        return float(
            mpmath.loggamma((d + 1) / 2)
            - mpmath.loggamma(d / 2)
            - mpmath.log(mpmath.pi * d) / 2
            - (d + 1) / 2 * mpmath.log1p(t * t / d)
            - mpmath.log(s)
        )

    with mpmath.workdps(40):
        expected = np.array([exact(*a) for a in zip(df, means, scales, y, strict=True)])
        shared = np.array(
            [exact(df[0], *a) for a in zip(means, scales, y, strict=True)]
        )
    terms = np.maximum(np.abs(expected), np.maximum(np.abs(np.log(scales)), 1.0))
    dist = PredictiveStudentTMixture(
        np.ones((n, 1)), means[:, None], scales[:, None], df[:, None]
    )
    floats = np.abs(dist.logpdf(y) - expected) / np.spacing(terms)
    assert floats.max() <= 8
    one = PredictiveStudentTMixture(
        np.ones((n, 1)), means[:, None], scales[:, None], df[0]
    )
    terms = np.maximum(np.abs(shared), np.maximum(np.abs(np.log(scales)), 1.0))
    assert np.max(np.abs(one.logpdf(y) - shared) / np.spacing(terms)) <= 8


def test_logpdf_with_df_shared_by_all_rows_but_one_is_each_rows_alone():
    # the normaliser taken once where every row has the same df: a row of
    # another df (here the last) keeps its own
    rng = np.random.default_rng(5)
    n, k = 30, 3
    df = np.tile([3.0, 40.0, 250.0], (n, 1))
    df[-1] = [40.0, 3.0, 9.0]
    weights = rng.dirichlet(np.ones(k), n)
    means, scales = rng.normal(0.0, 2.0, (n, k)), np.exp(rng.normal(0.0, 0.5, (n, k)))
    y = rng.normal(0.0, 2.0, n)
    dist = PredictiveStudentTMixture(weights, means, scales, df)
    alone = [
        PredictiveStudentTMixture(
            weights[i : i + 1], means[i : i + 1], scales[i : i + 1], df[i : i + 1]
        ).logpdf(y[i : i + 1])[0]
        for i in range(n)
    ]
    np.testing.assert_array_equal(dist.logpdf(y), alone)
    last = stats.t.pdf(y[-1], df[-1], loc=means[-1], scale=scales[-1]) @ weights[-1]
    np.testing.assert_allclose(dist.logpdf(y)[-1], np.log(last), rtol=1e-13)


def test_logpdf_with_rows_that_share_only_their_first_df_is_each_rows_alone():
    # the normaliser is shared only where every component's df is the rows'
    # (not their first component's alone): the last row's second df differs
    rng = np.random.default_rng(6)
    n, k = 20, 3
    df = np.tile([3.0, 40.0, 250.0], (n, 1))
    df[-1, 1] = 9.0
    weights = rng.dirichlet(np.ones(k), n)
    means, scales = rng.normal(0.0, 2.0, (n, k)), np.exp(rng.normal(0.0, 0.5, (n, k)))
    y = rng.normal(0.0, 2.0, n)
    got = PredictiveStudentTMixture(weights, means, scales, df).logpdf(y)
    pdf = stats.t.pdf(y[:, None], df, loc=means, scale=scales)
    expected = np.log(np.sum(pdf * weights, axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-13)
