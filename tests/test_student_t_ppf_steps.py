"""Quantiles of Student t mixtures by Halley's method: their accuracy against
mpmath (at 40 digits), the number of cdf evaluations they take, and the rows
left to the root finder."""

import warnings

import mpmath
import numpy as np
import pytest
from scipy import stats

from skmoe import PredictiveStudentTMixture


def _rows(n_rows, n_experts, seed):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_experts), n_rows)
    means = rng.normal(0.0, 2.0, (n_rows, n_experts))
    scales = np.exp(rng.normal(0.0, 0.5, (n_rows, n_experts)))
    df = np.exp(rng.uniform(np.log(0.7), np.log(200.0), (n_rows, n_experts)))
    return rng, weights, means, scales, df


def _t_cdf(df, z):
    """The standard t's distribution function: half the regularized incomplete
    beta I_x(df / 2, 1 / 2) at x = df / (df + z^2) below 0 (the normal's for
    an infinite df)."""
    if mpmath.isinf(df):
        return mpmath.ncdf(z)
    lower = mpmath.betainc(df / 2, 0.5, 0, df / (df + z * z), regularized=True) / 2
    return lower if z < 0 else 1 - lower


def _reference(q, weights, means, scales, df, start):
    """mpmath's root of log F(y) = log q (of log S(y) = log(1 - q) above 0.5)."""
    with mpmath.workdps(40):
        q = mpmath.mpf(q)
        upper = q > 0.5
        sign = -1 if upper else 1
        log_tail = mpmath.log(1 - q if upper else q)
        terms = [
            tuple(mpmath.mpf(v) for v in term)
            for term in zip(weights, means, scales, df, strict=True)
        ]

        def excess(y):
            mass = mpmath.fsum(
                w * _t_cdf(nu, sign * (y - m) / s) for w, m, s, nu in terms
            )
            return mpmath.log(mass) - log_tail

        start = mpmath.mpf(start)
        step = 1e-6 * (abs(start) + max(scales))
        return float(mpmath.findroot(excess, (start, start + step), "secant"))


@pytest.mark.parametrize("n_experts", [1, 2, 5])
@pytest.mark.parametrize("kind", ["middle", "lower tail", "upper tail"])
def test_quantiles_match_mpmath(n_experts, kind):
    rng, weights, means, scales, df = _rows(30, n_experts, seed=n_experts)
    if kind == "middle":
        q = rng.uniform(0.01, 0.99, 30)
    elif kind == "lower tail":
        q = 10.0 ** -rng.uniform(2, 30, 30)
    else:
        q = 1 - 10.0 ** -rng.uniform(2, 15.9, 30)
    got = PredictiveStudentTMixture(weights, means, scales, df).ppf(q)
    rows = zip(q, weights, means, scales, df, got, strict=True)
    expected = np.array([_reference(*row) for row in rows])
    # the cdf's rounding: a few floats of the quantile (stdtr's own rounding
    # in the tails: 14 to 80 floats before Halley's steps, as after), or of
    # the scale near 0
    tolerance = 96 * np.spacing(np.abs(expected)) + 4e-15 * scales.max(axis=1)
    np.testing.assert_array_less(np.abs(got - expected), tolerance)


def test_quantiles_take_few_cdf_evaluations(t_cdf_rows):
    # the bracketing root finder took 19 to 21 evaluations of the components'
    # cdf per row of df 3 (K = 2 and 8), each dearer than Halley's
    for n_experts in (2, 8):
        rng, weights, means, scales, _ = _rows(2000, n_experts, seed=0)
        q = rng.uniform(0.05, 0.95, 2000)
        t_cdf_rows.clear()
        PredictiveStudentTMixture(weights, means, scales, 3.0).ppf(q)
        assert sum(t_cdf_rows) / 2000 < 7


def test_hard_rows_keep_the_root_finder(halley_solved):
    # subnormal tails, q = 0 or 1 and rows with a Gaussian component (df inf)
    # are left to the root finder; the others are solved by Halley's steps
    weights = np.array([[0.3, 0.7]] * 6)
    means = np.array([[2.0, 5.0]] * 6)
    scales = np.array([[0.5, 1.0]] * 6)
    df = np.array([[300.0, 4.0]] * 5 + [[np.inf, 4.0]])
    q = np.array([0.3, 1e-20, 1e-315, 0.0, 1.0, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = PredictiveStudentTMixture(weights, means, scales, df).ppf(q)
    np.testing.assert_array_equal(
        halley_solved[0], [True, True, False, False, False, False]
    )
    assert got[3] == -np.inf and got[4] == np.inf
    for i in (0, 1, 2, 5):
        expected = _reference(q[i], weights[i], means[i], scales[i], df[i], got[i])
        # (q = 1e-315: the root finder's cdf there is a subnormal float, of 8
        # or so digits)
        tolerance = 1e-8 * abs(expected) if i == 2 else 8 * np.spacing(abs(expected))
        assert abs(got[i] - expected) <= tolerance


def test_heavy_upper_tail_rows_do_not_bounce(halley_solved):
    # df 3, 1 - q of 1e-12 to 1e-10: the tail's series rounds by several
    # floats of y there, and Halley's steps bounced between the two ends of a
    # bracket of about 9 floats for all 40 steps (a third of the rows left to
    # the root finder, 15 cdf evaluations per row in the steps alone at K = 1)
    tails = np.array([3e-12, 1e-11, 5e-12, 2e-10, 7e-13])
    q = 1 - tails
    ones = np.ones((5, 1))
    got = PredictiveStudentTMixture(ones, 0 * ones, ones, 3 * ones).ppf(q)
    assert np.all(halley_solved[0])

    # the t quantile of df 3, from mpmath's root of its upper tail
    def excess(t, tail):
        x = 3 / (3 + t * t)
        return mpmath.betainc(1.5, 0.5, 0, x, regularized=True) / 2 - tail

    for qi, gi in zip(q, got, strict=True):
        with mpmath.workdps(40):
            tail = 1 - mpmath.mpf(qi)
            root = mpmath.findroot(lambda t, tail=tail: excess(t, tail), gi)
        assert abs(gi - float(root)) <= 32 * np.spacing(float(root))


@pytest.mark.parametrize("df", [3.0, 30.0])
def test_separated_components_are_solved_by_steps(t_cdf_rows, halley_solved, df):
    # eight components far apart (means N(0, 50), scales near 0.14), as the
    # Gaussian test: every row solved by the steps, in about 9 evaluations of
    # the components' cdf per row. Bisecting every step that lands on a
    # bracket end (also one that stays where it is, converged) left 3% of the
    # rows to the root finder after 23 evaluations per row
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(8), 500)
    means = rng.normal(0.0, 50.0, (500, 8))
    scales = np.exp(rng.normal(-2.0, 0.5, (500, 8)))
    q = rng.uniform(0.05, 0.95, 500)
    got = PredictiveStudentTMixture(weights, means, scales, df).ppf(q)
    assert np.all(halley_solved[0])
    assert sum(t_cdf_rows) / 500 < 12
    nu = np.full(8, df)
    rows = list(zip(q, weights, means, scales, got, strict=True))[:10]
    expected = np.array([_reference(qi, w, m, s, nu, g) for qi, w, m, s, g in rows])
    tolerance = 96 * np.spacing(np.abs(expected)) + 4e-15 * scales[:10].max(axis=1)
    np.testing.assert_array_less(np.abs(got[:10] - expected), tolerance)


def test_quantiles_of_cauchy_components_take_few_cdf_evaluations(t_cdf_rows):
    # df 1 (K = 8): Halley's steps take the t density's log-derivative
    # (df + 1) z / (df + z^2) (5.4 evaluations per row); df z / (df + z^2),
    # half of it at df 1, still converged but took 6.6
    rng, weights, means, scales, _ = _rows(2000, 8, seed=0)
    q = rng.uniform(0.05, 0.95, 2000)
    got = PredictiveStudentTMixture(weights, means, scales, 1.0).ppf(q)
    assert sum(t_cdf_rows) / 2000 < 6
    nu = np.ones(8)
    rows = list(zip(q, weights, means, scales, got, strict=True))[:10]
    expected = np.array([_reference(qi, w, m, s, nu, g) for qi, w, m, s, g in rows])
    tolerance = 96 * np.spacing(np.abs(expected)) + 4e-15 * scales[:10].max(axis=1)
    np.testing.assert_array_less(np.abs(got[:10] - expected), tolerance)


def _lower_tail_quantile(q, weights, means, scales, df, start):
    """mpmath's (50 digits) root of log F(y) = log q for a lower tail q, in
    units of the largest of |start| and the scales (quantiles of 1e-150
    scales are 1e-148)."""
    with mpmath.workdps(50):
        unit = max(abs(mpmath.mpf(start)), max(mpmath.mpf(s) for s in scales))
        log_q = mpmath.log(mpmath.mpf(q))
        terms = [
            tuple(mpmath.mpf(v) for v in term)
            for term in zip(weights, means, scales, df, strict=True)
        ]

        def excess(t):
            mass = mpmath.fsum(
                w * _t_cdf(nu, (t * unit - m) / s) for w, m, s, nu in terms
            )
            return mpmath.log(mass) - log_q

        t = mpmath.mpf(start) / unit
        root = mpmath.findroot(excess, (t, t + mpmath.mpf("1e-8")), "secant")
        return float(root * unit)


@pytest.mark.parametrize("df", [1.5, 3.0, 30.0, 300.0, 1e4, 1e6])
@pytest.mark.parametrize("q", [1e-320, 1e-315, 1e-310])
def test_subnormal_quantiles_match_mpmath(df, q):
    # below the normal floats the components' cdfs were subnormal floats of
    # few digits (their logs taken): df 3 at q = 1e-320 was 4e-5 of itself
    # off; and stdtr's underflow past df 2e5 was left 0: df 1e6 at 1e-315 gave
    # -37.726 for -37.981. Now scaled by 2**600: a few floats
    rows = [([1.0], [0.0], [1.0]), ([0.3, 0.7], [2.0, 5.0], [0.5, 1.0])]
    if df < 100:  # (quantiles past the floats at scale 1)
        rows = [
            ([*w], [1e-150 * v for v in m], [1e-150 * v for v in s]) for w, m, s in rows
        ]
    for weights, means, scales in rows:
        nu = [df] * len(weights)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dist = PredictiveStudentTMixture([weights], [means], [scales], [nu])
            got = dist.ppf(np.array([q]))[0]
        expected = _lower_tail_quantile(q, weights, means, scales, nu, got)
        assert abs(got - expected) <= 4 * np.spacing(abs(expected))


@pytest.mark.parametrize("df", [1.5, 3.0, 10.0, 1.1, 2.7])
def test_far_tail_quantiles_match_mpmath(df):
    # |z| > 316 sqrt(df): the tail's series took x^a as exp(a log x), of
    # a log x times 1e-16 of itself off: df 1.5 at q = 1e-300 was 781 floats
    # off (Halley's steps, scales 1e-150), df 3 at 1e-100 42
    weights, means, scales = [0.3, 0.7], [2e-150, 5e-150], [0.5e-150, 1e-150]
    nu = [df, df]
    dist = PredictiveStudentTMixture([weights], [means], [scales], [nu])
    for q in (1e-300, 1e-200, 1e-100, 1e-30):
        got = dist.ppf(np.array([q]))[0]
        expected = _lower_tail_quantile(q, weights, means, scales, nu, got)
        assert abs(got - expected) <= 8 * np.spacing(abs(expected))


def test_cdf_where_stdtr_underflows_at_a_large_df():
    # stdtr(1e6, z) is 0 below z = -37.7, where the tail is a subnormal float
    # down to z = -38.5: cdf gave 0 there (the series that replaced it stopped
    # at df 2e5, where scipy's hyp2f1 fails); within 4 subnormal spacings
    z = np.array([-37.8, -38.0, -38.3])
    got = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], 1e6).cdf(z[:, None])
    for zi, gi in zip(z, got[:, 0], strict=True):
        expected = float(_t_cdf(mpmath.mpf(1e6), mpmath.mpf(zi)))
        assert expected > 0 and abs(gi - expected) <= 4 * 5e-324


@pytest.mark.parametrize("df", [1e8, 1e12, 1e20, 1e100, 1e300])
@pytest.mark.parametrize("q", [1e-310, 1e-320, 5e-324])
def test_subnormal_quantiles_at_a_very_large_df(df, q):
    # the incomplete beta's continued fraction lost 1 - x = z^2 / (df + z^2)
    # to rounding: 63 floats off at df 1e8, -47.28 for -37.66 at df 1e20 and
    # q = 1e-310, NaN terms from df 1e154. Beyond df 1e12 the t tail is the
    # normal's Phi(-sqrt((df - 1/2) log(1 + z^2 / df))) to 1e-20 of itself
    # (the large-a expansion of the incomplete beta: 4e-12 (1e8 / df)^2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df).ppf([q])[0]
    if df <= 1e12:
        expected = _lower_tail_quantile(q, [1.0], [0.0], [1.0], [df], got)
    else:
        with mpmath.workdps(50):
            nu = mpmath.mpf(df)

            def excess(z):
                w = mpmath.sqrt((nu - 0.5) * mpmath.log1p(z * z / nu))
                return mpmath.log(mpmath.ncdf(-w)) - mpmath.log(mpmath.mpf(q))

            start = mpmath.mpf(got)
            root = mpmath.findroot(excess, (start, start + mpmath.mpf("1e-8")))
            expected = float(root)
    assert abs(got - expected) <= 4 * np.spacing(abs(expected))


@pytest.mark.parametrize(
    "df, rtol",
    [(90.5, 1.6e-14), (94.75, 1.6e-14), (95.0, 1.6e-14), (99.0, 1.6e-14)]
    + [(1.95, 4.5e-16), (3.25, 4.5e-16), (3.8, 4.5e-16)],
)
def test_far_tails_below_df_100_match_mpmath(df, rtol):
    # |z| > 316 sqrt(df): the tail's series divides by B(df / 2, 1 / 2), whose
    # log came from a difference of gammaln's below df 100 (5.9e-14 off at df
    # 95): these tails were 1.7e-14 to 4.6e-14 of themselves off. Now, from df
    # 7, the rounding of |z| / sqrt(df), raised to the power df, is what is
    # left (about df eps: up to 1.1e-14 here). Below df 7 the difference of
    # gammaln's is the nearer log B (Stirling's ratio, 9 or 10 steps up from
    # df / 2, left these tails 6.8e-16 to 7.1e-16 of themselves off; the
    # difference 2.7e-16 at most)
    z = -np.round(400.0 * np.sqrt(df) * np.array([1.0, 3.0]))
    dist = PredictiveStudentTMixture([[1.0]], [[0.0]], [[1.0]], df)
    lower, upper = dist.cdf(z[:, None])[:, 0], dist.sf(-z[:, None])[:, 0]
    for zi, low, up in zip(z, lower, upper, strict=True):
        with mpmath.workdps(40):
            expected = _t_cdf(mpmath.mpf(df), mpmath.mpf(zi))
            for got in (low, up):
                assert abs(got - expected) <= rtol * expected


def test_continued_fraction_tails_do_not_depend_on_the_batch():
    # _beta_fraction holds an element once converged: further steps of
    # 1 +- 1e-16, taken while other elements of the batch converge, moved 189
    # of 213 tails (df 123 to 1e5, times 2**600) by up to 1.3e-14 of
    # themselves with the batch. Each tail alone and in the batch, the same
    # float; and within 3e-13 of mpmath's (tails of 1e-323 to 1e-308)
    from skmoe._distribution import _t_lower_fraction

    df = np.repeat([150.0, 300.0, 1e3, 1e4, 1e5], 8)
    z = np.concatenate(
        [
            -np.linspace(*ends, 8)
            for ends in [
                (1348, 1700),
                (181, 203),
                (55.6, 58.1),
                (38.9, 39.9),
                (37.7, 38.5),
            ]
        ]
    )
    batch = _t_lower_fraction(df, z, 600)
    alone = [_t_lower_fraction(df[i : i + 1], z[i : i + 1], 600)[0] for i in range(40)]
    np.testing.assert_array_equal(batch, alone)
    with mpmath.workdps(40):
        for nu, zi, got in zip(df[::3], z[::3], batch[::3], strict=True):
            nu, zi = mpmath.mpf(nu), mpmath.mpf(zi)
            x = nu / (nu + zi * zi)
            tail = mpmath.betainc(nu / 2, 0.5, 0, x, regularized=True) / 2
            assert 1e-324 < tail < 1e-307
            assert abs(got / (tail * mpmath.mpf(2) ** 600) - 1) <= 3e-13


def test_shared_component_quantiles_keep_each_rows_df():
    # _shared_t_ppf computes the components' quantiles once per shared df and
    # once for rows sharing their df and q: rows of one q but other dfs keep
    # their own (scipy's t.ppf), a row whose components share a df too
    from skmoe._distribution import _shared_t_ppf

    df = np.array([[2.0, 2.0], [30.0, 30.0], [5.0, 7.0]])
    for q in (np.full(3, 0.01), np.array([0.01, 0.3, 0.9])):
        np.testing.assert_allclose(
            _shared_t_ppf(df, q), stats.t.ppf(q[:, None], df), rtol=1e-12
        )
