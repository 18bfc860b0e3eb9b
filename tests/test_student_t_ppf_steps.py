"""Quantiles of Student t mixtures by Halley's method: their accuracy against
mpmath (at 40 digits), the number of cdf evaluations they take, and the rows
left to the root finder."""

import warnings

import mpmath
import numpy as np
import pytest

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
