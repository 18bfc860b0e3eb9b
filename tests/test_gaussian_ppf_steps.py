"""Quantiles of Gaussian mixtures by Halley's method: their accuracy against
mpmath (at 40 digits) and the number of cdf evaluations they take; and of
Gaussian and Student t ones alike, that a row's quantile does not depend on
the rows solved with it."""

import math
import warnings

import mpmath
import numpy as np
import pytest
from scipy import special

import skmoe._distribution as distribution_module
from skmoe import PredictiveMixture, PredictiveStudentTMixture


def _rows(n_rows, n_experts, seed):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_experts), n_rows)
    means = rng.normal(0.0, 2.0, (n_rows, n_experts))
    scales = np.exp(rng.normal(0.0, 0.5, (n_rows, n_experts)))
    return rng, weights, means, scales


def _reference(q, weights, means, scales, start):
    """mpmath's root of log F(y) = log q (of log S(y) = log(1 - q) above 0.5)."""
    with mpmath.workdps(40):
        q = mpmath.mpf(q)
        upper = q > 0.5
        sign = -1 if upper else 1
        log_tail = mpmath.log(1 - q if upper else q)
        terms = [
            (mpmath.mpf(w), mpmath.mpf(m), mpmath.mpf(s))
            for w, m, s in zip(weights, means, scales, strict=True)
        ]

        def excess(y):
            mass = mpmath.fsum(w * mpmath.ncdf(sign * (y - m) / s) for w, m, s in terms)
            return mpmath.log(mass) - log_tail

        return float(mpmath.findroot(excess, mpmath.mpf(start)))


@pytest.mark.parametrize("n_experts", [1, 2, 5])
@pytest.mark.parametrize("kind", ["middle", "lower tail", "upper tail"])
def test_quantiles_match_mpmath(n_experts, kind):
    rng, weights, means, scales = _rows(40, n_experts, seed=n_experts)
    if kind == "middle":
        q = rng.uniform(0.01, 0.99, 40)
    elif kind == "lower tail":
        q = 10.0 ** -rng.uniform(2, 300, 40)
    else:
        q = 1 - 10.0 ** -rng.uniform(2, 15.9, 40)
    got = PredictiveMixture(weights, means, scales).ppf(q)
    rows = zip(q, weights, means, scales, got, strict=True)
    expected = np.array([_reference(*row) for row in rows])
    # the cdf's rounding: a few floats of the quantile, or of the scale near 0
    tolerance = 8 * np.spacing(np.abs(expected)) + 4e-15 * scales.max(axis=1)
    np.testing.assert_array_less(np.abs(got - expected), tolerance)


def test_quantiles_take_few_cdf_evaluations(normal_cdf_rows):
    # the bracketing root finder took 7.6 evaluations of the components' cdf
    # per row here (K = 2) and 9.4 at K = 8, each dearer than Halley's
    for n_experts in (2, 8):
        rng, weights, means, scales = _rows(2000, n_experts, seed=0)
        q = rng.uniform(0.05, 0.95, 2000)
        normal_cdf_rows.clear()
        PredictiveMixture(weights, means, scales).ppf(q)
        assert sum(normal_cdf_rows) / 2000 < 6


@pytest.mark.parametrize("factor", [2.0**-664, 2.0**664])
def test_quantiles_of_tiny_and_huge_scales_take_few_evaluations(
    normal_cdf_rows, factor
):
    # scales of 1e-200 or 1e200: the density's square under- or overflowed in
    # units of y, every Halley step was a bisection and the 40 of them left
    # the rows to the root finder (47 evaluations per row for 8, and NumPy's
    # overflow and invalid warnings leaked)
    rng, weights, means, scales = _rows(20, 2, seed=7)
    q = rng.uniform(0.05, 0.95, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = PredictiveMixture(weights, factor * means, factor * scales).ppf(q)
    assert sum(normal_cdf_rows) / 20 < 8
    # the quantile scales with the means and scales (by a power of two, exactly)
    rows = zip(q, weights, means, scales, got / factor, strict=True)
    expected = factor * np.array([_reference(*row) for row in rows])
    tolerance = 8 * np.spacing(np.abs(expected)) + 4e-15 * factor * scales.max(axis=1)
    np.testing.assert_array_less(np.abs(got - expected), tolerance)


def test_separated_components_are_solved_by_steps(halley_solved, normal_cdf_rows):
    # eight components far apart (means N(0, 50), scales near 0.14): from a
    # start in the flat stretch between two of them, where F rises only by a
    # component's far tail, Halley's steps crept by about 2 s^2 / |y - mu| and
    # 40% of the rows were left to the root finder after 40 of them (29
    # evaluations of the components' cdf per row); Newton's step there leaves
    # the bracket and bisects
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(8), 500)
    means = rng.normal(0.0, 50.0, (500, 8))
    scales = np.exp(rng.normal(-2.0, 0.5, (500, 8)))
    q = rng.uniform(0.05, 0.95, 500)
    got = PredictiveMixture(weights, means, scales).ppf(q)
    assert np.all(halley_solved[0])
    assert sum(normal_cdf_rows) / 500 < 12
    rows = list(zip(q, weights, means, scales, got, strict=True))[:25]
    expected = np.array([_reference(*row) for row in rows])
    tolerance = 8 * np.spacing(np.abs(expected)) + 4e-15 * scales[:25].max(axis=1)
    np.testing.assert_array_less(np.abs(got[:25] - expected), tolerance)


def _nearer_neighbours(distribution, q, quantiles, slack=4):
    """The rows where a float next to one of ``quantiles`` (``ppf(q)``) has a
    distribution function nearer ``q`` (a survival function nearer ``1 - q``
    above 0.5, as ppf solves there) than the quantile's own by more than the
    cdf's rounding: ``|F(y) / q - 1|`` smaller by ``slack`` times float64's
    eps; and the number of rows where both neighbours' are larger by that
    (where a quantile one float off fails)."""
    eps = np.finfo(float).eps
    floats = np.stack(
        [np.nextafter(quantiles, -np.inf), quantiles, np.nextafter(quantiles, np.inf)]
    )
    upper = q > 0.5
    tail = np.where(upper, 1.0 - q, q)
    mass = np.where(upper, distribution.sf(floats), distribution.cdf(floats))
    below, at, above = np.abs(mass / tail - 1.0) / eps
    nearest = np.minimum(below, above)
    return np.flatnonzero(nearest < at - slack), np.sum(nearest > at + slack)


@pytest.mark.parametrize("n_experts", [1, 2, 5])
@pytest.mark.parametrize("family", ["gaussian", "student t"])
def test_quantiles_are_the_floats_whose_cdf_is_nearest(
    halley_solved, family, n_experts
):
    # Halley's steps end by walking to the two floats either side of the root
    # and taking the one of smaller |F(y) / q - 1|, as the root finder does:
    # ppf inverts the distribution's own cdf to the float. In the tails one
    # float of y moves F by a median of 24 eps of itself (1 - q of 1e-2 to
    # 1e-16) to 500 (q down to 1e-300) for Gaussian components, by about df
    # eps for t ones, past the 4 eps left to the cdf's rounding: a quantile
    # one float off fails in 225 to 258 Gaussian rows of the 600, 144 to 205
    # t rows (mutant GH3, which the 8 floats of the mpmath tests let pass).
    # The steps' z by the scales' inverse, where the cdf divides by them, left
    # 8 to 30 rows here a float off
    rng, weights, means, _ = _rows(600, n_experts, seed=n_experts)
    scales = np.exp(rng.normal(0.0, 1.0, weights.shape))
    # (t tails of df 10 or more: steep enough to decide between two floats)
    df = np.exp(rng.uniform(np.log(10.0), np.log(300.0), weights.shape))
    gaussian = family == "gaussian"
    q = np.concatenate(
        [
            rng.uniform(0.01, 0.99, 200),
            10.0 ** -rng.uniform(2, 300 if gaussian else 100, 200),
            1 - 10.0 ** -rng.uniform(2, 15.9, 200),
        ]
    )
    if gaussian:
        distribution = PredictiveMixture(weights, means, scales)
    else:
        distribution = PredictiveStudentTMixture(weights, means, scales, df)
    got = distribution.ppf(q)
    # (the root finder, which takes a row here and there, inverts it too)
    assert np.mean(halley_solved[0]) > 0.99
    nearer, decisive = _nearer_neighbours(distribution, q, got)
    np.testing.assert_array_equal(nearer, [])
    assert decisive > (200 if gaussian else 100)


@pytest.mark.parametrize("n_experts", range(1, 9))
@pytest.mark.parametrize("family", ["gaussian", "student t"])
def test_quantiles_of_a_row_do_not_depend_on_the_other_rows(
    halley_solved, monkeypatch, family, n_experts
):
    # the steps summed over the components by products with ones (BLAS),
    # which rounded a row's sum by its place in the batch: from K = 4, 17 to
    # 46 of 300 rows moved by up to 355 floats from the same rows solved one
    # at a time; the root finder's quantiles never did
    rng, weights, means, _ = _rows(120, n_experts, seed=20 + n_experts)
    scales = np.exp(rng.normal(0.0, 1.0, weights.shape))
    df = np.exp(rng.uniform(np.log(0.7), np.log(200.0), weights.shape))
    deepest = 300 if family == "gaussian" else 30
    q = np.concatenate(
        [
            rng.uniform(0.01, 0.99, 40),
            10.0 ** -rng.uniform(2, deepest, 40),
            1 - 10.0 ** -rng.uniform(2, 15.9, 40),
        ]
    )

    def quantiles(rows, q):
        if family == "gaussian":
            return PredictiveMixture(weights[rows], means[rows], scales[rows]).ppf(q)
        parameters = (weights[rows], means[rows], scales[rows], df[rows])
        return PredictiveStudentTMixture(*parameters).ppf(q)

    together = quantiles(slice(None), q)
    # (the steps solved most rows here; the root finder, some t tails of df
    # near 1: a quarter at K = 8)
    assert np.mean(halley_solved[0]) > 0.7
    alone = [quantiles([i], q[i])[0] for i in range(q.size)]
    np.testing.assert_array_equal(together, alone)
    # and in chunks of 7 rows (ppf solves at most PPF_ROWS rows at once)
    monkeypatch.setattr(distribution_module, "PPF_ROWS", 7)
    monkeypatch.setattr(distribution_module, "PPF_ELEMENTS", 7)
    np.testing.assert_array_equal(quantiles(slice(None), q), together)


def _terms(n_terms, seed):
    rng = np.random.default_rng(seed)
    terms = rng.normal(size=(500, n_terms)) * 10.0 ** rng.integers(-8, 9, (500, 1))
    return terms * 10.0 ** rng.integers(-3, 4, terms.shape)


def test_component_sums_add_pairwise():
    # the order, written out in Python's floats: the first ceil(K / 2) terms'
    # sum plus the rest's (in turn, the walk took 5.63 cdf evaluations per
    # row at K = 8 for 5.35)
    sums = distribution_module._component_sums
    terms = _terms(8, seed=0)
    expected = {
        1: lambda a: a,
        2: lambda a, b: a + b,
        3: lambda a, b, c: (a + b) + c,
        5: lambda a, b, c, d, e: ((a + b) + c) + (d + e),
        8: lambda a, b, c, d, e, f, g, h: ((a + b) + (c + d)) + ((e + f) + (g + h)),
    }
    for n_terms, sum_of in expected.items():
        rows = terms[:, :n_terms]
        in_python = [sum_of(*row) for row in rows.tolist()]
        np.testing.assert_array_equal(sums(rows), in_python)


@pytest.mark.parametrize("n_terms", [1, 2, 3, 4, 7, 8, 9, 16, 20])
def test_component_sums_of_a_row_do_not_depend_on_the_batch(n_terms):
    # a row's sum alone, among others, with the rows reversed, and of a
    # Fortran-ordered array is one float (np.sum adds a contiguous row of 8
    # or more pairwise and a strided one in turn; BLAS's product with ones
    # rounds a row by its place in the batch); and the terms are left alone
    terms = _terms(n_terms, seed=n_terms)
    kept = terms.copy()
    sums = distribution_module._component_sums
    together = sums(terms)
    np.testing.assert_array_equal([sums(row[None])[0] for row in terms], together)
    np.testing.assert_array_equal(sums(terms[::-1])[::-1], together)
    np.testing.assert_array_equal(sums(np.asfortranarray(terms)), together)
    np.testing.assert_array_equal(terms, kept)
    # and the sums are the rows' (math.fsum) to their rounding: pairwise,
    # ceil(log2 K) roundings of at most eps / 2 of the terms' absolute sum
    # (here twice that)
    exact = np.array([math.fsum(row) for row in terms])
    depth = max(1, math.ceil(math.log2(n_terms)))
    bound = depth * np.finfo(float).eps * np.abs(terms).sum(axis=-1)
    assert np.all(np.abs(together - exact) <= bound)


def _mixture(family, weights, means, scales, df):
    if family == "gaussian":
        return PredictiveMixture(weights, means, scales)
    return PredictiveStudentTMixture(weights, means, scales, df)


@pytest.mark.parametrize("n_experts", [8, 9, 16])
@pytest.mark.parametrize("family", ["gaussian", "student t"])
def test_cdf_and_density_of_a_row_do_not_depend_on_the_batch_or_layout(
    family, n_experts
):
    # cdf and sf summed the components by np.sum, logpdf by logsumexp's,
    # whose order followed the arrays' layout: of 400 rows of Fortran-ordered
    # parameters at K = 8 and 16, 169 to 241 rows' cdf or sf and 28 to 70
    # rows' logpdf came out a float or so from the same rows' in C order
    rng, weights, means, _ = _rows(300, n_experts, seed=40 + n_experts)
    scales = np.exp(rng.normal(0.0, 1.0, weights.shape))
    df = np.exp(rng.uniform(np.log(0.7), np.log(200.0), weights.shape))
    y = np.sum(weights * means, axis=1) + rng.normal(0.0, 2.0, 300)
    parameters = (weights, means, scales, df)
    dist = _mixture(family, *parameters)
    fortran = _mixture(family, *(np.asfortranarray(a) for a in parameters))
    # (every other column of a wider array: strided rows)
    strided = _mixture(family, *(np.repeat(a, 2, axis=1)[:, ::2] for a in parameters))
    # (the transpose of a (K, n) array, as from a gate computed by experts)
    transposed = _mixture(family, *(np.ascontiguousarray(a.T).T for a in parameters))
    values = np.stack([y, y - 1.0, y + 1.0])
    for method in ("cdf", "sf", "logpdf", "pdf"):
        whole = getattr(dist, method)(y)
        alone = [getattr(dist[i], method)(y[i])[0] for i in range(y.size)]
        np.testing.assert_array_equal(alone, whole)
        np.testing.assert_array_equal(getattr(dist[::-1], method)(y[::-1])[::-1], whole)
        for other in (fortran, strided, transposed):
            np.testing.assert_array_equal(getattr(other, method)(y), whole)
        # several values per row, and a Fortran-ordered y
        several = getattr(dist, method)(values)
        np.testing.assert_array_equal(several[0], whole)
        np.testing.assert_array_equal(
            getattr(fortran, method)(np.asfortranarray(values)), several
        )
    # the quantiles likewise (they agreed on main too: a guard, no defect seen)
    q = rng.uniform(0.01, 0.99, y.size)
    quantiles = dist.ppf(q)
    for other in (fortran, strided, transposed):
        np.testing.assert_array_equal(other.ppf(q), quantiles)
    # and they are the mixtures' (math.fsum of scipy's components) to a few
    # floats: the order changed, not the sums
    components = (
        special.ndtr((y[:, None] - means) / scales)
        if family == "gaussian"
        else special.stdtr(df, (y[:, None] - means) / scales)
    )
    exact = [math.fsum(row) for row in (weights * components).tolist()]
    np.testing.assert_allclose(dist.cdf(y), exact, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("n_experts", [4, 5, 6, 7])
@pytest.mark.parametrize("family", ["gaussian", "student t"])
def test_quantiles_are_next_to_the_sign_change_of_the_public_cdf(
    halley_solved, family, n_experts
):
    # ppf walks to the two adjacent floats between which F(y) / q - 1
    # (S(y) / (1 - q) - 1 above 0.5) changes sign and takes the one of the
    # smaller |excess|; the public cdf and sf must sum the components in the
    # walk's order for its answer to be that float by them too. They summed
    # by np.sum, in turn below 8 terms, where the walk sums pairwise: of 1500
    # rows at K = 4 to 7, 50 to 102 ppf values were not so by the public
    # cdf or sf (a neighbour's excess by up to 3 eps smaller)
    rng, weights, means, _ = _rows(900, n_experts, seed=60 + n_experts)
    scales = np.exp(rng.normal(0.0, 1.0, weights.shape))
    df = np.exp(rng.uniform(np.log(10.0), np.log(300.0), weights.shape))
    q = np.concatenate(
        [
            rng.uniform(0.01, 0.99, 300),
            10.0 ** -rng.uniform(2, 250 if family == "gaussian" else 100, 300),
            1 - 10.0 ** -rng.uniform(2, 15.9, 300),
        ]
    )
    dist = _mixture(family, weights, means, scales, df)
    got = dist.ppf(q)
    # (the walk's rows; the root finder takes the others' nearest float by
    # other means, from its own bracket)
    solved = halley_solved[0]
    assert np.mean(solved) > 0.99
    floats = np.stack([np.nextafter(got, -np.inf), got, np.nextafter(got, np.inf)])
    upper = q > 0.5
    tail = np.where(upper, 1.0 - q, q)
    sign = np.where(upper, -1.0, 1.0)
    below, at, above = sign * (
        np.where(upper, dist.sf(floats), dist.cdf(floats)) / tail - 1.0
    )
    nearer_end = (
        (at == 0)
        | ((below * at <= 0) & (np.abs(at) <= np.abs(below)))
        | ((at * above <= 0) & (np.abs(at) <= np.abs(above)))
    )
    np.testing.assert_array_equal(np.flatnonzero(~nearer_end & solved), [])


def test_log_component_sums_are_logsumexp():
    # scipy's logsumexp where it is defined: rows of -inf, a NaN, ties of the
    # largest term, +inf, one term, and ordinary rows to their rounding
    log_sums = distribution_module._log_component_sums
    inf, nan = np.inf, np.nan
    edges = np.array(
        [
            [-inf, -inf, -inf],
            [0.0, nan, 1.0],
            [2.0, 2.0, -inf],
            [inf, 0.0, 1.0],
            [-inf, -745.0, -inf],
            [1e300, -1e300, 0.0],
        ]
    )
    with np.errstate(invalid="ignore"):
        expected = special.logsumexp(edges, axis=-1)
    np.testing.assert_array_equal(log_sums(edges), expected)
    rng = np.random.default_rng(0)
    terms = rng.normal(0.0, 30.0, (200, 7))
    np.testing.assert_allclose(
        log_sums(terms), special.logsumexp(terms, axis=-1), rtol=4e-16, atol=4e-16
    )


def _mpmath_log_sum(row):
    """log(sum(exp(row))) by mpmath at 50 digits, rounded to a float."""
    with mpmath.workdps(50):
        return float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(t)) for t in row)))


def test_log_component_sums_of_ties_beside_other_terms_and_small_shares():
    # ties of the largest term beside smaller ones (each tie one of the
    # count held out: their share is the others' sum over the count), and
    # shares below eps, which log1p keeps and log(1 + share) loses: mpmath's
    # sums, to a float or two (the test above's atol of 4e-16 passes both)
    log_sums = distribution_module._log_component_sums
    rows = [
        [0.0, 0.0, -1.0],
        [2.0, -3.0, 2.0, 2.0],
        [-5.0, -5.0, -5.5, -7.0],
        [0.0, -40.0, -np.inf],
        [-60.0, 0.0, -45.0],
        [0.0, -20.0, -30.0],
    ]
    for row in rows:
        expected = _mpmath_log_sum([t for t in row if t > -np.inf])
        np.testing.assert_allclose(log_sums(np.array([row]))[0], expected, rtol=5e-16)
    # (and a Gaussian mixture of two identical experts, whose log densities
    # tie, beside a third: mpmath's densities, summed by mpmath)
    weights, means = [0.25, 0.25, 0.5], [0.0, 0.0, 1.0]
    y = np.array([-2.0, -1.0, 0.0, 0.25])
    log_terms = [
        [
            math.log(w) + float(mpmath.log(mpmath.npdf(v, m, 1)))
            for w, m in zip(weights, means, strict=True)
        ]
        for v in y
    ]
    expected = [_mpmath_log_sum(row) for row in log_terms]
    rows = (np.tile(a, (y.size, 1)) for a in (weights, means, np.ones(3)))
    logpdf = PredictiveMixture(*rows).logpdf(y)
    np.testing.assert_allclose(logpdf, expected, rtol=1e-15)
