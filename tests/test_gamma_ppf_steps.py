"""Quantiles of Gamma mixtures by Halley's steps in log y: their accuracy against
mpmath (at 40 digits), the number of cdf evaluations they take, the rows they
leave to the root finder, and their order in q."""

import warnings

import mpmath
import numpy as np
import pytest
from scipy import stats

import skmoe._gamma_distribution as gamma_module
from skmoe import PredictiveGammaMixture

EPS = np.finfo(float).eps


def _rows(n_rows, n_experts, seed, spread=2.0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_experts), n_rows)
    means = np.exp(rng.normal(0.0, spread, (n_rows, n_experts)))
    shapes = np.exp(rng.normal(1.0, 1.0, (n_rows, n_experts)))
    return rng, weights, means, shapes


def _reference(q, weights, means, shapes, start):
    """mpmath's root of log F(y) = log q (of log S(y) = log(1 - q) above 0.5),
    in log y."""
    with mpmath.workdps(40):
        q = mpmath.mpf(q)
        upper = q > 0.5
        log_tail = mpmath.log(1 - q if upper else q)
        terms = [
            (mpmath.mpf(w), mpmath.mpf(m), mpmath.mpf(nu))
            for w, m, nu in zip(weights, means, shapes, strict=True)
            if w > 0
        ]

        def excess(s):
            y = mpmath.exp(s)
            ends = (lambda x: (x, mpmath.inf)) if upper else (lambda x: (0, x))
            mass = mpmath.fsum(
                w * mpmath.gammainc(nu, *ends(nu * y / m), regularized=True)
                for w, m, nu in terms
            )
            return mpmath.log(mass) - log_tail

        return float(mpmath.exp(mpmath.findroot(excess, mpmath.log(start))))


def _solved_rows(monkeypatch):
    """The masks of the rows that each call of the steps solved."""
    masks = []
    steps = gamma_module._halley_quantiles

    def recorded(*args):
        solved, found = steps(*args)
        masks.append(solved.copy())
        return solved, found

    monkeypatch.setattr(gamma_module, "_halley_quantiles", recorded)
    return masks


def _counted_evaluations(monkeypatch):
    """A list that collects the rows of each evaluation of the components'
    distribution functions."""
    evaluated = []
    tails = gamma_module._gamma_tails

    def counted(y, means, *args, **kwargs):
        evaluated.append(np.broadcast_shapes(np.shape(y), np.shape(means))[0])
        return tails(y, means, *args, **kwargs)

    monkeypatch.setattr(gamma_module, "_gamma_tails", counted)
    return evaluated


@pytest.mark.parametrize("n_experts", [1, 2, 5])
@pytest.mark.parametrize("kind", ["middle", "lower tail", "upper tail"])
def test_quantiles_match_mpmath(monkeypatch, n_experts, kind):
    # shapes 0.05 to 1000, means spread over 1e-150 to 1e150 (a factor per row)
    masks = _solved_rows(monkeypatch)
    rng = np.random.default_rng(n_experts)
    n_rows = 20
    weights = rng.dirichlet(np.ones(n_experts), n_rows)
    shapes = 10.0 ** rng.uniform(np.log10(0.05), 3, (n_rows, n_experts))
    means = 10.0 ** rng.uniform(-1, 1, (n_rows, n_experts))
    means = means * 10.0 ** rng.uniform(-150, 150, (n_rows, 1))
    if kind == "middle":
        q = rng.uniform(0.01, 0.99, n_rows)
    elif kind == "lower tail":
        q = 10.0 ** -rng.uniform(2, 300, n_rows)
    else:
        q = 1 - 10.0 ** -rng.uniform(2, 16, n_rows)
    dist = PredictiveGammaMixture(weights, means, shapes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = dist.ppf(q)
    # all by the steps, but where a component's quantile (the bracket's end)
    # lies below the floats: those rows go to the root finder
    solved = masks[0]
    assert np.any(solved) if kind == "lower tail" else np.all(solved)
    # quantiles below the smallest positive float are 0 (the lower tail's)
    zero = got == 0
    smallest = np.full(n_rows, np.nextafter(0.0, 1.0))
    assert np.all(dist.cdf(smallest)[zero] > q[zero])
    rows = zip(q, dist.weights, dist.means, dist.shapes, got, strict=True)
    expected = np.array([_reference(*row) for row in rows if row[-1] > 0])
    # the probabilities' rounding over the slope of log F in log y (about
    # the least shape in the lower tail): a few floats, 20 times more at a
    # shape of 0.05; where x = nu y / mu underflows, P is exp(log P), of
    # |log P| roundings (as the root finder's: both take the cdf's)
    slope = np.minimum(shapes.min(axis=1), 1.0)[~zero]
    rounding = np.maximum(1.0, -np.log(np.minimum(q, 1 - q)))[~zero]
    tolerance = 16 * EPS * rounding / slope * expected
    np.testing.assert_array_less(np.abs(got[~zero] - expected), tolerance)


@pytest.mark.parametrize("n_experts", [2, 8])
def test_quantiles_take_few_cdf_evaluations(monkeypatch, n_experts):
    # the bracketing root finder and the bisection over the floats took 9.8
    # evaluations of the components' cdf per row here (K = 2) and 11.7 at
    # K = 8; the steps take 6.1 and 6.5, and solve every row
    masks = _solved_rows(monkeypatch)
    evaluated = _counted_evaluations(monkeypatch)
    rng, weights, means, shapes = _rows(2000, n_experts, seed=0)
    q = rng.uniform(0.05, 0.95, 2000)
    PredictiveGammaMixture(weights, means, shapes).ppf(q)
    assert np.all(masks[0])
    assert sum(evaluated) / 2000 < 8


def test_rows_left_to_the_root_finder_keep_its_quantiles(monkeypatch):
    # q down to 1e-300: rows whose bracket (a component's quantile) reaches
    # below the positive floats are left to the root finder, whose answers
    # they keep to the bit; the others are solved by the steps
    masks = _solved_rows(monkeypatch)
    rng, weights, means, shapes = _rows(400, 4, seed=3)
    q = 10.0 ** -rng.uniform(2, 300, 400)
    dist = PredictiveGammaMixture(weights, means, shapes)
    got = dist.ppf(q)
    solved = masks[0]
    assert 0.3 < np.mean(solved) < 1
    monkeypatch.setattr(
        gamma_module,
        "_halley_quantiles",
        lambda upper, *_: (np.zeros(upper.shape, dtype=bool), np.zeros(0)),
    )
    root_finder = dist.ppf(q)
    np.testing.assert_array_equal(got[~solved], root_finder[~solved])
    # and the steps' rows agree with the root finder's within its tolerance
    np.testing.assert_allclose(got[solved], root_finder[solved], rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_quantiles_are_monotone_in_q_without_warnings(dtype):
    # both tails and both methods (the lower tail's hard rows go to the root
    # finder), in parameters of float32 or float64
    _, weights, means, shapes = _rows(12, 3, seed=5, spread=4.0)
    shapes[0] = [0.05, 0.3, 2.0]
    shapes[1] = [1e4, 3e3, 50.0]
    weights, means, shapes = (a.astype(dtype) for a in (weights, means, shapes))
    q = np.concatenate(
        [
            np.logspace(-300, -1, 200),
            np.linspace(0.1, 0.9, 201),
            1 - np.logspace(-1, -16, 200),
        ]
    )
    dist = PredictiveGammaMixture(weights, means, shapes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = dist.ppf(q[:, None])
    assert np.all(np.isfinite(y)) and np.all(y >= 0)
    assert np.all(np.diff(y, axis=0) >= 0)
    # the median of each row holds half the mass
    np.testing.assert_allclose(dist.cdf(dist.median()), 0.5, rtol=1e-12)


@pytest.mark.parametrize("n_experts", [5, 8])
def test_quantiles_of_a_row_do_not_depend_on_the_other_rows(n_experts):
    # the steps' sums over the components went through BLAS (products with
    # ones), which rounded a row's sum differently in batches of other sizes:
    # 50 of 300 rows of K = 5 moved by up to 25 floats; the root finder's
    # quantiles never did
    rng, weights, means, shapes = _rows(150, n_experts, seed=11)
    q = np.concatenate([rng.uniform(0.01, 0.99, 100), 10.0 ** -rng.uniform(2, 30, 50)])
    together = PredictiveGammaMixture(weights, means, shapes).ppf(q)
    alone = [
        PredictiveGammaMixture(weights[[i]], means[[i]], shapes[[i]]).ppf(q[i])[0]
        for i in range(q.size)
    ]
    np.testing.assert_array_equal(together, alone)


@pytest.mark.parametrize("n_experts", [4, 5, 6, 7])
def test_quantiles_are_the_walks_floats_by_the_public_cdf_and_sf(n_experts):
    # the steps end by walking the floats to a sign change of the excess, F(y)
    # / q - 1 (1 - S(y) / (1 - q) above q = 0.5), taking the end of smaller
    # |excess|; their sums are the public cdf's and sf's (_component_sums), so
    # that judged by those the quantile is such an end. np.sum in the sf (a
    # row of 4 to 7 in turn, ((t_0 + t_1) + t_2) + t_3, for (t_0 + t_1) + (t_2
    # + t_3); at 3 and 8 the same order) left 5 to 15 of some 210 plain rows
    # not such an end, np.sum in the walk's excess 11 to 32; the layout tests
    # see neither (the sf's products are always C-ordered, each row's np.sum
    # in one order). Rows with a point mass in the batch take the hurdle's
    # path (a scale of 1 for the others); their own quantiles solve (q - w_0)
    # / (1 - w_0), whose rounding the public cdf does not share (not checked)
    rng = np.random.default_rng(100 + n_experts)
    n_rows = 300
    shape = (n_rows, n_experts)
    weights = rng.dirichlet(np.full(n_experts, 0.7), n_rows)
    means = np.exp(rng.normal(0.0, 1.0, shape))
    shapes = np.exp(rng.normal(0.5, 1.0, shape))
    hurdle = rng.random(n_rows) < 0.3
    means[hurdle, 0] = 0.0
    dist = PredictiveGammaMixture(weights, means, shapes)
    q = rng.uniform(0.01, 0.99, n_rows)
    y = dist.ppf(q)
    upper = q > 0.5
    plain = ~hurdle
    assert min(np.count_nonzero(upper & plain), np.count_nonzero(~upper & plain)) > 50
    tail = np.where(upper, 1.0 - q, q)  # (1 - q exact above 0.5)
    sign = np.where(upper, -1.0, 1.0)

    def excess(at):
        return sign * (np.where(upper, dist.sf(at), dist.cdf(at)) / tail - 1.0)

    at_y = excess(y)
    ends = at_y == 0
    for neighbour in (np.nextafter(y, 0.0), np.nextafter(y, np.inf)):
        at_neighbour = excess(neighbour)
        crossed = (at_neighbour == 0) | (np.sign(at_neighbour) != np.sign(at_y))
        ends |= crossed & (np.abs(at_y) <= np.abs(at_neighbour))
    np.testing.assert_array_equal(np.flatnonzero(~ends & plain), [])


def test_one_component_rows_take_one_inverse(monkeypatch):
    # a row of one component: its bracket (and the steps' start) is its own
    # quantile, from the inverse of the tail solved for; the components'
    # weighted ends took both gammaincinv and gammainccinv there (two
    # inverses a row, the same point), and K = 1 rows took 1.25 times as long
    inverses = []
    for name in ("gammaincinv", "gammainccinv"):
        original = getattr(gamma_module.special, name)

        def counted(a, p, original=original):
            inverses.append(np.size(p))
            return original(a, p)

        monkeypatch.setattr(gamma_module.special, name, counted)
    rng, weights, means, shapes = _rows(500, 1, seed=2)
    q = np.concatenate([rng.uniform(0.05, 0.95, 400), 10.0 ** -rng.uniform(2, 12, 100)])
    got = PredictiveGammaMixture(weights, means, shapes).ppf(q)
    assert sum(inverses) == q.size
    # scipy's gamma.ppf (its own inverse): within the cdf's rounding over the
    # slope of log F in log y (the shape, at most 1 here)
    expected = stats.gamma.ppf(q, shapes[:, 0], scale=means[:, 0] / shapes[:, 0])
    slope = np.minimum(shapes[:, 0], 1.0)
    np.testing.assert_array_less(np.abs(got - expected), 64 * EPS / slope * expected)


def _float_nearest_in_probability(q, nu, mu):
    """mpmath's root of P(nu, nu y / mu) = q over the floats: of the two
    floats around it (0 and the smallest positive float below that), the one
    whose probability is nearer q, as the docstring of ppf states."""
    with mpmath.workdps(60):
        q, nu, mu = mpmath.mpf(q), mpmath.mpf(nu), mpmath.mpf(mu)

        def cdf(y):
            return mpmath.gammainc(nu, 0, nu * mpmath.mpf(y) / mu, regularized=True)

        # x^nu / Gamma(nu + 1) to 60 digits at these x (below 1e-300)
        log_x = (mpmath.log(q) + mpmath.loggamma(nu + 1)) / nu
        root = mpmath.findroot(
            lambda s: mpmath.log(cdf(mpmath.exp(s))) - mpmath.log(q),
            log_x - mpmath.log(nu / mu),
        )
        y = mpmath.exp(root)
        tiny = mpmath.mpf(2) ** -1074
        below = 0.0 if y < tiny else float(y)
        if mpmath.mpf(below) > y:
            below = float(np.nextafter(below, 0.0))
        above = float(np.nextafter(below, 1.0))
        return below if abs(cdf(below) - q) <= abs(cdf(above) - q) else above


@pytest.mark.parametrize("shape", [1e-3, 0.01, 0.1, 0.5, 2.0])
def test_quantiles_below_the_normal_floats_match_mpmath(shape):
    # quantiles of 1e-330 to 1e-318 (subnormal floats, and below the least):
    # the float nearest the root in probability, 0 below the smallest
    # positive float, without NaN or warnings; scipy's gamma.ppf takes 0 for
    # most of these (gammaincinv's x times a scale of subnormal digits)
    mean = 1.0 if shape < 1 else 1e-300
    targets = 10.0 ** np.linspace(-318, -323.2, 9)
    q = np.array(
        [
            float(
                mpmath.gammainc(
                    shape, 0, shape * mpmath.mpf(t) / mean, regularized=True
                )
            )
            for t in [*targets, mpmath.mpf("1e-330"), mpmath.mpf("2e-324")]
        ]
    )
    q = q[q > 0]
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[shape]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = dist.ppf(q[:, None])[:, 0]
    expected = [_float_nearest_in_probability(p, shape, mean) for p in q]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "weights, means, shapes, q",
    [
        ([1.0], [0.01166], [4336.0], 1.53e-322),
        ([1.0], [3.0], [1e5], 2e-323),
        ([1.0], [1.0], [200.0], 3e-320),
        ([1.0], [1.0], [20.0], 7e-321),
        ([1.0], [1.0], [2.0], 1e-321),
        ([0.3, 0.7], [1.0, 0.02], [2.0, 4336.0], 1e-321),
        ([0.0, 1.0], [1.0, 0.5], [3.0, 700.0], 4e-322),
    ],
)
def test_quantiles_of_subnormal_probabilities_match_mpmath(weights, means, shapes, q):
    # q below the normal floats (a few of the least floats' digits), the
    # quantile a normal float: compared with q from the logs of the cdfs, not
    # as subnormal floats (there 1.2e-2 of q off at shape 4336, 7.4e-4 at
    # shape 2); to 1e-9 of q, a bound from when the quantiles came from the
    # logs of F (their rounding, about 745 eps); the floats of today's are
    # checked against mpmath's root in the next test
    dist = PredictiveGammaMixture([weights], [means], [shapes])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = dist.ppf(q)[0]
    with mpmath.workdps(40):
        cdf = mpmath.fsum(
            mpmath.mpf(w)
            * mpmath.gammainc(
                nu, 0, nu * mpmath.mpf(got) / mpmath.mpf(mu), regularized=True
            )
            for w, mu, nu in zip(weights, means, shapes, strict=True)
            if w > 0
        )
        assert abs(float(cdf / mpmath.mpf(q) - 1)) <= 1e-9


@pytest.mark.parametrize(
    "weights, means, shapes",
    [
        ([1.0], [1.0], [2.0]),
        ([1.0], [1.0], [10.0]),
        ([1.0], [3.0], [60.0]),
        # SERIES_SHAPE itself: x^nu from x's mantissa (from the logs, as above
        # it, up to 6 floats off)
        ([1.0], [1.0], [100.0]),
        ([1.0], [1e-150], [2.0]),  # quantiles below the normal floats
        ([0.2, 0.5, 0.3], [0.5, 7.0, 0.03], [1.7, 4.0, 2.5]),
    ],
)
def test_quantiles_of_subnormal_probabilities_are_mpmaths_floats(
    weights, means, shapes
):
    # q below the normal floats: F / q - 1 from F and q scaled by a power of
    # two, within 2 floats of mpmath's root (from the logs of F, rounded to
    # 1e-13 near -710, the quantiles of shape 2 were up to 413 floats off,
    # of the mixture 546)
    q = np.array([2e-308, 1e-310, 3e-313, 1e-315, 4e-318, 1e-320, 1.5e-322])
    dist = PredictiveGammaMixture([weights], [means], [shapes])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = dist.ppf(q[:, None])[:, 0]

    def root(p, start):
        # Newton's steps in log y on log F - log q, from the quantile
        terms = [
            (mpmath.mpf(w), mpmath.mpf(mu), mpmath.mpf(nu))
            for w, mu, nu in zip(weights, means, shapes, strict=True)
        ]
        log_y, p = mpmath.log(mpmath.mpf(start)), mpmath.mpf(p)
        for _ in range(100):
            y = mpmath.exp(log_y)
            cdf = mpmath.fsum(
                w * mpmath.gammainc(nu, 0, nu * y / mu, regularized=True)
                for w, mu, nu in terms
            )
            density = mpmath.fsum(
                w
                * mpmath.exp(
                    nu * mpmath.log(nu * y / mu) - nu * y / mu - mpmath.loggamma(nu)
                )
                for w, mu, nu in terms
            )
            step = (mpmath.log(cdf) - mpmath.log(p)) * cdf / density
            log_y -= step
            if abs(step) < mpmath.mpf(10) ** -35:
                return float(mpmath.exp(log_y))
        raise AssertionError("no root")

    with mpmath.workdps(50):
        expected = np.array([root(p, y) for p, y in zip(q, got, strict=True)])
    floats = np.abs(got.view(np.int64) - expected.view(np.int64))
    assert np.all(got > 0)
    assert floats.max() <= 2


@pytest.mark.parametrize("shape", [1e-3, 0.01])
def test_quantiles_of_subnormal_probabilities_below_the_least_float_warn_nothing(
    shape,
):
    # q below the normal floats at shapes where the quantile is below the
    # least float: 0, without warnings (F / q - 1 kept finite far above the
    # root: an infinite excess gave find_root's "invalid value encountered in
    # multiply")
    q = np.array([5e-324, 1.5e-322, 1e-320, 1e-315, 3e-313])
    with mpmath.workdps(30):
        # x^nu / Gamma(nu + 1) = q, so log y = (log q + log Gamma(nu + 1)) / nu
        # - log nu (mean 1), thousands below log(5e-324) = -744.4
        log_y = [
            (mpmath.log(p) + mpmath.loggamma(1 + shape)) / shape - mpmath.log(shape)
            for p in q
        ]
    assert max(log_y) < -744.5 * 10
    dist = PredictiveGammaMixture([[1.0]], [[1.0]], [[shape]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = dist.ppf(q[:, None])[:, 0]
    np.testing.assert_array_equal(got, np.zeros(q.size))


def test_walk_to_root_leaves_rows_below_least_or_past_the_floats():
    # _walk_to_root's contract: a row whose walk would pass the floats, or go
    # below ``least`` (the Gamma steps' 0: their distribution function is NaN
    # at y < 0), is left to the root finder (not bracketed), its excess never
    # read there; the others are walked to the float of least |excess|
    from skmoe._distribution import _walk_to_root

    big = np.finfo(float).max
    root = 1.0 + 2**-40  # (an exact float)
    seen = []

    def excess_at(y, part):
        seen.append(np.array(y))
        # row 0: a root at -1, below least = 0, 2024 floats of 5e-324 down;
        # row 1: none in the floats (the excess negative up to the largest,
        # 2**9 floats up); row 2: a root at `root`, the float walked to
        return np.select([part == 0, part == 1], [y + 1.0, -np.ones_like(y)], y - root)

    x = np.array([1e-320, big - 2.0**980, 1.0])
    at_x = np.array([1.0 + 1e-320, -1.0, 1.0 - root])
    found, bracketed = _walk_to_root(excess_at, x, at_x, 0.0)
    np.testing.assert_array_equal(bracketed, [False, False, True])
    np.testing.assert_array_equal(found, [root])
    assert all(np.all(y >= 0) and np.all(np.isfinite(y)) for y in seen)


@pytest.mark.parametrize(
    "shape, mean", [(1.0, 1.0), (1.0, 1e100), (0.5, 1.0), (0.5, 1e200), (0.01, 1.0)]
)
def test_cdf_where_x_is_below_the_normal_floats_is_mpmaths(shape, mean):
    # x = nu y / mu below 2.2e-308: P = x^nu / Gamma(nu + 1) from x's mantissa
    # and power of two (from exp(nu log x), log x near -710, it was up to 5e-14
    # of itself off at shapes 0.5 and 1)
    x = np.array([2e-308, 1.5e-308, 1e-309, 3e-312, 1e-315, 1e-320])
    y = x * mean / shape
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[shape]])
    got = dist.cdf(y[:, None])[:, 0]
    with mpmath.workdps(40):
        expected = np.array(
            [
                float(
                    mpmath.gammainc(
                        shape, 0, shape * mpmath.mpf(v) / mean, regularized=True
                    )
                )
                for v in y
            ]
        )
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("mean", [1.0, 1e100, 1e300])
def test_quantiles_of_shape_one_near_the_least_normal_float_are_exact(mean):
    # shape 1: P(1, x) = -expm1(-x), so the quantile of q near 2.2e-308 is q
    # mu (to 1e-308 of itself); the cdf from the logs of x made it up to 370
    # floats off, below and above the least normal float
    tiny = np.finfo(float).tiny
    q = np.array([np.nextafter(tiny, 0), tiny, np.nextafter(tiny, 1), 3e-308])
    dist = PredictiveGammaMixture([[1.0]], [[mean]], [[1.0]])
    got = dist.ppf(q[:, None])[:, 0]
    expected = np.array([float(mpmath.mpf(v) * mean) for v in q])
    floats = np.abs(got.view(np.int64) - expected.view(np.int64))
    assert floats.max() <= 1
