"""A row's moments, distribution function and log density do not depend on
the other rows nor on the memory layout of the parameters: every family of
predictive mixture sums its components in one order (``_component_sums``;
the moments in :func:`skmoe._math.expert_sums`' own), and so does
:func:`skmoe._math.mixture_std` over the experts, and the regressors'
``predict_distribution`` where it scales the gate to sum to one.

``predict_distribution`` hands over Fortran-ordered parameters (transposes of
the (K, n) arrays the estimators compute); np.sum and logsumexp add a row of 8
or more terms pairwise where it is contiguous and in turn where it is
strided, so that a row's mean, variance and std (every family), and the Gamma
and count families' cdf, sf and log density, moved by a float between C- and
Fortran-ordered parameters."""

import math
import warnings

import mpmath
import numpy as np
import pytest
from scipy import stats

import skmoe
import skmoe._base
from skmoe import PredictiveMixture, PredictiveStudentTMixture
from skmoe._count_distribution import (
    PredictiveNegativeBinomialMixture,
    PredictivePoissonMixture,
)
from skmoe._gamma_distribution import PredictiveGammaMixture
from skmoe._math import expert_sums, expert_sums_in_place, mixture_std

FAMILIES = ["gaussian", "student t", "gamma", "gamma with zeros", "poisson", "nb"]


def _parameters(family, n_rows, n_experts, seed):
    """The family's distribution class, its parameter arrays (C-ordered) and
    one value per row where to evaluate it."""
    rng = np.random.default_rng(seed)
    shape = (n_rows, n_experts)
    weights = rng.dirichlet(np.full(n_experts, 0.7), n_rows)
    if family in ("gaussian", "student t"):
        means = rng.normal(0.0, 2.0, shape)
        scales = np.exp(rng.normal(0.0, 0.5, shape))
        y = rng.normal(0.0, 2.0, n_rows)
        if family == "gaussian":
            return PredictiveMixture, (weights, means, scales), y
        df = np.exp(rng.uniform(np.log(2.5), np.log(200.0), shape))
        return PredictiveStudentTMixture, (weights, means, scales, df), y
    if family.startswith("gamma"):
        means = np.exp(rng.normal(0.0, 1.0, shape))
        if family == "gamma with zeros":  # point masses at 0 (a hurdle)
            means[:, 0] = 0.0
            # (and more in some rows: sums of several point masses' weights)
            means[:, 1:][rng.random((n_rows, n_experts - 1)) < 0.3] = 0.0
        shapes = np.exp(rng.normal(0.5, 1.0, shape))
        y = np.exp(rng.normal(0.0, 1.0, n_rows))
        return PredictiveGammaMixture, (weights, means, shapes), y
    rates = np.exp(rng.normal(1.0, 1.0, shape))
    y = np.floor(np.exp(rng.normal(1.0, 1.0, n_rows)))
    if family == "poisson":
        return PredictivePoissonMixture, (weights, rates), y
    dispersions = np.exp(rng.normal(-1.0, 1.0, shape))
    return PredictiveNegativeBinomialMixture, (weights, rates, dispersions), y


def _layouts(cls, parameters):
    """The C-ordered distribution and the same one from Fortran-ordered,
    strided and transposed-(K, n) parameters."""
    return cls(*parameters), [
        cls(*(np.asfortranarray(a) for a in parameters)),
        cls(*(np.repeat(a, 2, axis=1)[:, ::2] for a in parameters)),
        cls(*(np.ascontiguousarray(a.T).T for a in parameters)),
    ]


def _variances(family, parameters):
    """The components' variances, by their closed forms."""
    if family in ("gaussian", "student t"):
        variances = parameters[2] ** 2
        if family == "student t":
            df = parameters[3]
            variances = variances * df / (df - 2)
        return variances
    if family.startswith("gamma"):
        return parameters[1] ** 2 / parameters[2]
    rates = parameters[1]
    return rates if family == "poisson" else rates * (1 + parameters[2] * rates)


@pytest.mark.parametrize("n_experts", [8, 16, 24, 32, 128])
@pytest.mark.parametrize("family", FAMILIES)
def test_moments_of_a_row_do_not_depend_on_the_layout_or_batch(family, n_experts):
    # of 300 rows at K = 8, 121 to 162 rows' means, 123 to 139 variances and
    # 62 to 73 stds differed between C- and Fortran-ordered parameters
    cls, parameters, _ = _parameters(family, 300, n_experts, seed=n_experts)
    dist, others = _layouts(cls, parameters)
    fortran = others[0]
    for method in ("mean", "var", "std"):
        whole = getattr(dist, method)()
        for other in others:
            np.testing.assert_array_equal(getattr(other, method)(), whole)
        # rows alone, from the Fortran-ordered batch (predict_distribution's)
        alone = [getattr(fortran[i], method)()[0] for i in range(len(dist))]
        np.testing.assert_array_equal(alone, whole)
        np.testing.assert_array_equal(getattr(dist[::-1], method)()[::-1], whole)
    # and they are the moments (math.fsum of the closed forms) to their
    # rounding: the order of the sums changed, not the sums
    weights, means = parameters[:2]
    mean = np.array([math.fsum(r) for r in (weights * means).tolist()])
    terms = weights * (_variances(family, parameters) + (means - mean[:, None]) ** 2)
    var = np.array([math.fsum(r) for r in terms.tolist()])
    np.testing.assert_allclose(dist.mean(), mean, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dist.var(), var, rtol=1e-13)
    np.testing.assert_allclose(dist.std(), np.sqrt(var), rtol=1e-13)


def _component_cdfs(family, parameters, y):
    """scipy.stats' distribution functions of each row's components at y."""
    if family.startswith("gamma"):
        _, means, shapes = parameters
        positive = np.where(means > 0, means, 1.0)
        cdf = stats.gamma.cdf(y[:, None], shapes, scale=positive / shapes)
        return np.where(means > 0, cdf, 1.0)
    rates = parameters[1]
    if family == "poisson":
        return stats.poisson.cdf(y[:, None], rates)
    theta = 1 / parameters[2]
    return stats.nbinom.cdf(y[:, None], theta, theta / (theta + rates))


@pytest.mark.parametrize("n_experts", [8, 16])
@pytest.mark.parametrize("family", ["gamma", "gamma with zeros", "poisson", "nb"])
def test_gamma_and_count_functions_of_a_row_do_not_depend_on_the_layout(
    family, n_experts
):
    # cdf and sf summed by np.sum, the log density by logsumexp's: of 300
    # Fortran-ordered rows at K = 8, 69 to 141 rows' cdf or sf and 24 to 94
    # rows' log density differed by a float from the C-ordered rows'
    cls, parameters, y = _parameters(family, 300, n_experts, seed=20 + n_experts)
    dist, others = _layouts(cls, parameters)
    fortran = others[0]
    log_density = "logpdf" if family.startswith("gamma") else "logpmf"
    density = log_density[3:]
    values = np.stack([y, y + 1.0, 0.5 * y])
    values = np.stack([values, values + 2.0])  # (2, 3, n_rows)
    for method in ("cdf", "sf", log_density, density):
        whole = getattr(dist, method)(y)
        for other in others:
            np.testing.assert_array_equal(getattr(other, method)(y), whole)
        alone = [getattr(fortran[i], method)(y[i])[0] for i in range(y.size)]
        np.testing.assert_array_equal(alone, whole)
        np.testing.assert_array_equal(getattr(dist[::-1], method)(y[::-1])[::-1], whole)
        # several values per row, Fortran-ordered, with Fortran-ordered parameters
        several = getattr(dist, method)(values)
        np.testing.assert_array_equal(several[0, 0], whole)
        np.testing.assert_array_equal(
            getattr(fortran, method)(np.asfortranarray(values)), several
        )
    # the mixtures' cdf (math.fsum of scipy's components) to their rounding
    terms = parameters[0] * _component_cdfs(family, parameters, y)
    exact = [math.fsum(row) for row in terms.tolist()]
    np.testing.assert_allclose(dist.cdf(y), exact, rtol=1e-12)


@pytest.mark.parametrize("n_experts", [2, 4, 8])
def test_gamma_rows_do_not_depend_on_point_masses_in_other_rows(n_experts):
    # a row without a point mass at 0, in a batch where other rows have one,
    # was solved with its weights over their sum (a float off 1): of these
    # 150 rows, 4 to 7 rows' quantiles moved by 1 to 6 floats from the row
    # alone, 6 to 8 rows' cdf by a float and 6 to 10 log densities by 1 to 16
    rng = np.random.default_rng(n_experts)
    n_rows = 150
    weights = rng.dirichlet(np.full(n_experts, 0.7), n_rows)
    means = np.exp(rng.normal(0.0, 1.0, (n_rows, n_experts)))
    means[rng.random(means.shape) < 0.2] = 0.0
    shapes = np.exp(rng.normal(0.5, 1.0, means.shape))
    q = rng.uniform(0.0, 1.0, n_rows)
    q[:20] = 10.0 ** rng.uniform(-300, -3, 20)
    q[20:40] = 1 - 10.0 ** rng.uniform(-15, -3, 20)
    y = np.exp(rng.normal(0.0, 1.5, n_rows))
    y[:10] = 0.0
    has = np.any(means == 0, axis=1)
    assert 0 < np.count_nonzero(has) < n_rows
    dist = PredictiveGammaMixture(weights, means, shapes)
    plain = np.flatnonzero(~has)
    # the rows without point masses together (where no row has one)
    apart = PredictiveGammaMixture(weights[plain], means[plain], shapes[plain])
    for method, values in [("ppf", q), ("cdf", y), ("sf", y), ("logpdf", y)]:
        whole = getattr(dist, method)(values)
        alone = [getattr(dist[i], method)(values[i : i + 1])[0] for i in range(n_rows)]
        np.testing.assert_array_equal(alone, whole)
        np.testing.assert_array_equal(
            getattr(apart, method)(values[plain]), whole[plain]
        )
    # and the quantiles are the roots: the cdf there (math.fsum of scipy's
    # components, point masses as 1) is q, or 1 - q in the upper tail, where
    # q is above the point masses' weight (0 below it)
    found = dist.ppf(q)
    terms = weights * _component_cdfs("gamma", (weights, means, shapes), found)
    cdf = np.array([math.fsum(row) for row in terms.tolist()])
    zero = np.array(
        [math.fsum(row) for row in np.where(means == 0, weights, 0).tolist()]
    )
    assert np.all(found[q <= zero] == 0)
    # (0 above them: the quantile below the least float, where the cdf, by
    # mpmath, is past q)
    least = mpmath.mpf(5e-324)
    for i in np.flatnonzero((found == 0) & (q > zero)):
        cdf_least = math.fsum(
            w * float(mpmath.gammainc(nu, 0, nu * least / mu, regularized=True))
            for w, mu, nu in zip(weights[i], means[i], shapes[i], strict=True)
            if mu > 0
        )
        assert cdf_least > q[i]
    lower = (q <= 0.5) & (found > 0)
    np.testing.assert_allclose(cdf[lower], q[lower], rtol=1e-12)
    upper = (q > 0.5) & (found > 0)
    positive = np.where(means > 0, means, 1.0)
    tails = stats.gamma.sf(found[:, None], shapes, scale=positive / shapes)
    terms = np.where(means > 0, weights * tails, 0.0)[upper]
    sf = [math.fsum(row) for row in terms.tolist()]
    np.testing.assert_allclose(sf, 1 - q[upper], rtol=1e-12)


@pytest.mark.parametrize("n_experts", [8, 16])
def test_weights_are_normalized_whatever_their_layout(n_experts):
    # each row's total was np.sum's: of 300 Fortran-ordered rows off one by
    # up to 1e-8 at K = 8, 110 were divided into other floats than the
    # C-ordered rows
    rng = np.random.default_rng(n_experts)
    weights = rng.dirichlet(np.ones(n_experts), 300)
    weights *= 1 + rng.uniform(-1e-8, 1e-8, (300, 1))
    means, scales = rng.normal(size=weights.shape), np.ones(weights.shape)
    normalized = PredictiveMixture(weights, means, scales).weights
    fortran = PredictiveMixture(np.asfortranarray(weights), means, scales).weights
    np.testing.assert_array_equal(fortran, normalized)
    alone = [
        PredictiveMixture(w[None], m[None], s[None]).weights[0]
        for w, m, s in zip(weights, means, scales, strict=True)
    ]
    np.testing.assert_array_equal(alone, normalized)
    totals = np.array([math.fsum(row) for row in weights.tolist()])
    np.testing.assert_allclose(normalized, weights / totals[:, None], rtol=1e-15)


@pytest.mark.parametrize("n_experts", [3, 5, 6, 8, 16])
def test_mixture_std_does_not_depend_on_the_layout(n_experts):
    # predict(return_std=True)'s sum over the experts: np.sum added a
    # C-ordered (K, n) array an expert at a time and a Fortran-ordered one
    # (a distribution's transposed parameters) or a single column pairwise
    # from K = 8. (K of 3, 5, 6: halves of ceil(K / 2) in place and apart,
    # which powers of two do not tell from floor(K / 2))
    rng = np.random.default_rng(n_experts)
    shape = (n_experts, 400)
    weights = rng.dirichlet(np.ones(n_experts), 400).T.copy()
    means = rng.normal(0.0, 2.0, shape)
    variances = np.exp(rng.normal(0.0, 1.0, shape))
    mean = np.sum(weights * means, axis=0)
    std = mixture_std(np, weights, means, variances, mean)
    fortran = [np.asfortranarray(a) for a in (weights, means, variances)]
    np.testing.assert_array_equal(mixture_std(np, *fortran, mean), std)
    alone = [
        mixture_std(np, weights[:, [i]], means[:, [i]], variances[:, [i]], mean[[i]])[0]
        for i in range(mean.size)
    ]
    np.testing.assert_array_equal(alone, std)
    # scales in place of the variances (the in-place path squares them itself)
    scaled = mixture_std(np, weights, means, None, mean, scales=np.sqrt(variances))
    np.testing.assert_array_equal(
        mixture_std(np, *fortran[:2], None, mean, scales=np.sqrt(fortran[2])), scaled
    )
    scales = 1e200 * np.sqrt(variances)
    deviation = means - mean
    terms = weights * (variances + deviation**2)
    exact = np.sqrt([math.fsum(column) for column in terms.T.tolist()])
    np.testing.assert_allclose(std, exact, rtol=1e-15)
    # the scaled sum (where the plain one's squares overflow) in the same order
    far = mixture_std(np, weights, 1e200 * means, None, 1e200 * mean, scales=scales)
    np.testing.assert_allclose(far, 1e200 * exact, rtol=1e-14)
    fortran_far = [np.asfortranarray(a) for a in (weights, 1e200 * means, scales)]
    np.testing.assert_array_equal(
        mixture_std(np, *fortran_far[:2], None, 1e200 * mean, scales=fortran_far[2]),
        far,
    )


def test_mixture_std_in_array_api_strict_is_numpy_s():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(3)
    shape = (16, 300)
    weights = rng.dirichlet(np.ones(16), 300).T.copy()
    means = rng.normal(0.0, 2.0, shape)
    variances = np.exp(rng.normal(0.0, 1.0, shape))
    mean = np.sum(weights * means, axis=0)
    std = mixture_std(np, weights, means, variances, mean)
    strict = mixture_std(
        xps, *(xps.asarray(a) for a in (weights, means, variances, mean))
    )
    np.testing.assert_array_equal(np.asarray(strict), std)


def _levels_reference(column):
    """The sum of ``column`` (a list of floats) in :func:`expert_sums`'s
    documented order: the first 2**j terms (the largest power of two below
    their number) plus the rest, each likewise; plain Python floats."""
    if len(column) == 1:
        return column[0]
    half = 1 << ((len(column) - 1).bit_length() - 1)
    return _levels_reference(column[:half]) + _levels_reference(column[half:])


@pytest.mark.parametrize("n_experts", [*range(1, 18), 24, 31, 33, 100, 128])
def test_expert_sums_add_in_their_documented_order_in_any_layout(n_experts):
    # the moments' sums: level by level in place (log2 K NumPy calls, not
    # one per pair), the same floats as expert_sums and as the order written
    # out; terms of mixed signs and sizes, so that another order rounds
    # otherwise (session 70's ceil(K / 2) split differs from K = 5)
    rng = np.random.default_rng(n_experts)
    terms = rng.normal(size=(n_experts, 60)) * 10.0 ** rng.integers(-6, 7, (1, 60))
    expected = [_levels_reference(c) for c in terms.T.tolist()]
    np.testing.assert_array_equal(expert_sums(terms), expected)
    for layout in (terms.copy(), np.asfortranarray(terms), terms.T.copy().T):
        np.testing.assert_array_equal(expert_sums_in_place(layout), expected)
    # (a strided view, written in place, and one column alone)
    wide = np.repeat(terms, 2, axis=1)
    np.testing.assert_array_equal(expert_sums_in_place(wide[:, ::2]), expected)
    np.testing.assert_array_equal(
        expert_sums_in_place(terms[:, :1].copy()), expected[:1]
    )
    # the moments of a row are its sums in that order
    weights = rng.dirichlet(np.ones(n_experts), 60)
    means = rng.normal(0.0, 3.0, (60, n_experts))
    dist = PredictiveMixture(np.asfortranarray(weights), means, np.ones_like(means))
    mean = [_levels_reference(r) for r in (dist.weights * means).tolist()]
    np.testing.assert_array_equal(dist.mean(), mean)


def _fitted(family):
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (400, 2))
    signal = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    kwargs = {"n_experts": 8, "random_state": 0, "max_iter": 10}
    if family in ("gaussian", "student t"):
        y = 3 * signal + 0.3 * rng.standard_normal(400)
        noise = "student_t" if family == "student t" else "gaussian"
        model = skmoe.MoERegressor(noise=noise, **kwargs)
    elif family == "poisson":
        y = rng.poisson(np.exp(signal))
        model = skmoe.MoEPoissonRegressor(**kwargs)
    else:
        y = rng.gamma(2.0, np.exp(signal) / 2.0)
        model = skmoe.MoEGammaRegressor(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y), rng.uniform(-2, 2, (1000, 2))


@pytest.mark.parametrize("family", ["gaussian", "student t", "poisson", "gamma"])
def test_predict_distribution_weights_do_not_depend_on_the_chunks(monkeypatch, family):
    # one chunk hands the gate over Fortran-ordered, several C-ordered; np.sum
    # summed the two in other orders and divided 197 (Student t) to 342
    # (Gamma) of 1,000 rows (K = 8) into other floats, where the gate and the
    # means were the same
    model, X = _fitted(family)
    one = model.predict_distribution(X)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 8 * 64)
    several = model.predict_distribution(X)
    parameter = "rates" if family == "poisson" else "means"
    np.testing.assert_array_equal(getattr(several, parameter), getattr(one, parameter))
    np.testing.assert_array_equal(several.weights, one.weights)


def _far_model(family, n_experts):
    """A count or Gamma model of ``n_experts`` whose last expert, at x_0 = 1,
    has the gate weight ~e^-720 (below the smallest normal float) beside a
    mean of e^340, its share w mu^2 ~e^-40 of the variance, so that
    ``predict(return_std=True)`` takes those rows' stds from ``_far_std``; the
    other experts' weights and means vary with x_1. At x_0 = 0 no weight is
    small."""
    Estimator = {
        "poisson": skmoe.MoEPoissonRegressor,
        "nb": skmoe.MoENegativeBinomialRegressor,
        "gamma": skmoe.MoEGammaRegressor,
    }[family]
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])) + (family == "gamma")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Estimator(n_experts=n_experts, random_state=0, max_iter=2).fit(X, y)
    gate_coef, expert_coef = np.zeros((n_experts, 2)), np.zeros((n_experts, 2))
    gate_coef[:, 1] = rng.normal(0, 1, n_experts)
    expert_coef[:, 1] = rng.normal(0, 0.3, n_experts)
    gate_intercept = rng.normal(0, 1, n_experts)
    expert_intercept = rng.normal(0.5, 0.3, n_experts)
    gate_coef[-1], expert_coef[-1] = (-720.0, 0.0), (340.0, 0.0)
    gate_intercept[-1] = expert_intercept[-1] = 0.0
    model.gate_intercept_, model.gate_coef_ = gate_intercept, gate_coef
    model.expert_intercept_, model.expert_coef_ = expert_intercept, expert_coef
    return model


def _far_std_reference(model, row):
    """mpmath's std of the predictive mixture at ``row`` (x_0, x_1), from the
    model's parameters."""
    mpmath.mp.dps = 40
    x = [mpmath.mpf(float(v)) for v in row]

    def linear(intercept, coef, k):
        return intercept[k] + coef[k, 0] * x[0] + coef[k, 1] * x[1]

    n_experts = model.n_experts_
    logits = [
        linear(model.gate_intercept_, model.gate_coef_, k) for k in range(n_experts)
    ]
    total = mpmath.fsum(mpmath.exp(a) for a in logits)
    weights = [mpmath.exp(a) / total for a in logits]
    means = [
        mpmath.exp(linear(model.expert_intercept_, model.expert_coef_, k))
        for k in range(n_experts)
    ]
    if isinstance(model, skmoe.MoEGammaRegressor):
        dispersion = [mpmath.mpf(float(d)) for d in model.expert_dispersion_]
        variances = [d * m**2 for d, m in zip(dispersion, means, strict=True)]
    elif isinstance(model, skmoe.MoENegativeBinomialRegressor):
        dispersion = [mpmath.mpf(float(d)) for d in model.expert_dispersion_]
        variances = [m * (1 + d * m) for d, m in zip(dispersion, means, strict=True)]
    else:
        variances = means
    mean = mpmath.fsum(w * m for w, m in zip(weights, means, strict=True))
    var = mpmath.fsum(
        w * (v + (m - mean) ** 2)
        for w, m, v in zip(weights, means, variances, strict=True)
    )
    return float(mpmath.sqrt(var))


@pytest.mark.parametrize("n_experts", [8, 32])
@pytest.mark.parametrize("family", ["poisson", "nb", "gamma"])
def test_far_rows_std_does_not_depend_on_the_other_far_rows(
    monkeypatch, family, n_experts
):
    # _far_std scaled the gate rows by np.sum, which adds the (n_far, K) rows
    # (Fortran-ordered) in turn, and a chunk's only far row pairwise: 44 to
    # 63 (K = 8) and 94 to 117 (K = 32) of these 300 far rows' stds moved by
    # a float when each shared its chunk with a row near the data instead of
    # the other far rows; predict_distribution's std, whose weights are
    # scaled by _component_sums, differed from predict's in as many rows
    model = _far_model(family, n_experts)
    rng = np.random.default_rng(1)
    x1 = rng.uniform(-1, 1, 300)
    far = np.column_stack([np.ones_like(x1), x1])
    near = np.column_stack([np.zeros_like(x1), x1])
    mixed = np.empty((2 * x1.size, 2))
    mixed[0::2], mixed[1::2] = far, near
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean, std = model.predict(far, return_std=True)
        dist = model.predict_distribution(far)
        # (chunks of 2 rows: each far row the only one of its chunk)
        monkeypatch.setattr(
            skmoe._base, "HOST_CHUNK_BYTES", 8 * 2 * (3 + 4 * n_experts)
        )
        assert model._chunk_rows(mixed) == 2
        alone_mean, alone_std = model.predict(mixed, return_std=True)
    np.testing.assert_array_equal(alone_mean[0::2], mean)
    np.testing.assert_array_equal(alone_std[0::2], std)
    np.testing.assert_array_equal(dist.std(), std)
    # (the case: a gate weight below the normal floats, held by its mean)
    log_weight = np.log(dist.weights[:, -1])
    assert np.all(log_weight < np.log(np.finfo(float).smallest_normal))
    expected = [_far_std_reference(model, row) for row in far[:5]]
    np.testing.assert_allclose(std[:5], expected, rtol=1e-12)


@pytest.mark.parametrize("scales", [False, True])
@pytest.mark.parametrize("n_experts", [3, 8])
def test_mixture_std_of_a_row_does_not_depend_on_a_far_row_beside_it(scales, n_experts):
    # the plain sum where it holds, the scaled one (in units of the largest
    # deviation or scale) at the rows where it overflowed or fell below the
    # square root of the smallest normal float alone: the scaled sums of a
    # whole batch with such a row in it moved 138 to 150 of its 400 rows by
    # a float or two (up to 4.4e-16) from their stds alone
    rng = np.random.default_rng(n_experts)
    shape = (n_experts, 400)
    weights = rng.dirichlet(np.ones(n_experts), 400).T.copy()
    means = rng.normal(0.0, 2.0, shape)
    variances = np.exp(rng.normal(0.0, 1.0, shape))
    means[:, 7] *= 1e200  # (squares beyond the floats)
    variances[:, 7] *= 1e300
    means[:, 300] *= 1e-170  # (a std of about 1e-170)
    variances[:, 300] *= 1e-340
    mean = expert_sums(weights * means)
    spread = np.sqrt(variances) if scales else variances

    def std(columns):
        parts = (weights[:, columns], means[:, columns], spread[:, columns])
        if scales:
            return mixture_std(np, *parts[:2], None, mean[columns], scales=parts[2])
        return mixture_std(np, *parts, mean[columns])

    batch = std(slice(None))
    alone = [std([i])[0] for i in range(400)]
    np.testing.assert_array_equal(batch, alone)
    ordinary = np.setdiff1d(np.arange(400), [7, 300])
    np.testing.assert_array_equal(batch[ordinary], std(ordinary))
    # the numbers: the sums written out in mpmath (the far rows' beyond the
    # floats' squares)
    for i in [*range(0, 400, 37), 7, 300]:
        w, m, v = (list(map(mpmath.mpf, a[:, i])) for a in (weights, means, spread))
        if scales:
            v = [s**2 for s in v]
        center = mpmath.mpf(mean[i])
        terms = [w[k] * (v[k] + (m[k] - center) ** 2) for k in range(n_experts)]
        exact = float(mpmath.sqrt(mpmath.fsum(terms)))
        np.testing.assert_allclose(batch[i], exact, rtol=1e-14)


def _dyadic(values, bits):
    """``values`` rounded to multiples of 2^-bits (infinities kept)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), np.round(values * 2**bits) / 2**bits, values)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("family", "n_experts", "gate"),
    [
        *((f, 3, "softmax") for f in ("poisson", "nb", "zip", "zinb")),
        *((f, 8, "softmax") for f in ("poisson", "nb", "zip", "zinb")),
        *((f, 8, "constant") for f in ("poisson", "nb", "zip", "zinb", "gamma")),
    ],
)
def test_predict_std_of_a_row_alone_is_its_std_in_a_chunk(
    family, n_experts, gate, dtype
):
    # predict(return_std=True) of each row alone and in a chunk of 24 rows
    # with far rows in it (the largest log rate 400, or 48 in float32: their
    # squared deviations beyond the floats), bit for bit, with and without
    # exposures. The chunk's std took the scaled sums at every row where one
    # row's plain sum overflowed: 5 to 13 of these 24 rows' stds a float
    # apart (count models; Gamma's plain sums, in units of each row's largest
    # mean, held at every row here). The parameters, X and the exposures are
    # multiples of powers of two whose products and sums are exact: BLAS
    # computed a row's log rates alone and in a chunk in other orders (35 of
    # 60 random rows apart, K = 3). The numbers: the predictive
    # distribution's
    Estimator = {
        "poisson": skmoe.MoEPoissonRegressor,
        "zip": skmoe.MoEPoissonRegressor,
        "nb": skmoe.MoENegativeBinomialRegressor,
        "zinb": skmoe.MoENegativeBinomialRegressor,
        "gamma": skmoe.MoEGammaRegressor,
    }[family]
    options = {"zero_inflated": True} if family in ("zip", "zinb") else {}
    rng = np.random.default_rng(n_experts)
    X = rng.uniform(-2, 2, (200, 2))
    y = rng.poisson(np.exp(0.5 + 0.4 * X[:, 0])) + (family == "gamma")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a short fit)
        model = Estimator(
            n_experts, gate=gate, max_iter=2, random_state=0, **options
        ).fit(X.astype(dtype), y)
    intercept = _dyadic(model.expert_intercept_, 8)
    slopes = _dyadic(rng.uniform(-1, 1, (n_experts, 2)), 8)
    steep = np.flatnonzero(np.isfinite(intercept))[0]
    slopes[steep, 0] = 1.0  # (the steepest)
    slopes[np.isneginf(intercept)] = 0.0  # (a point mass: its rate is 0)
    model.expert_intercept_ = intercept.astype(dtype)
    model.expert_coef_ = slopes.astype(dtype)
    if gate == "softmax":
        model.gate_intercept_ = _dyadic(rng.uniform(-1, 1, n_experts), 8).astype(dtype)
        gate_coef = _dyadic(rng.uniform(-0.5, 0.5, (n_experts, 2)), 8)
        gate_coef[steep, 0] = 1.0  # (the far rows go to its expert)
        model.gate_coef_ = gate_coef.astype(dtype)
    X_test = _dyadic(rng.uniform(-2, 2, (24, 2)), 3)
    top = 400.0 if dtype == np.float64 else 48.0
    X_test[[1, 10, 23]] = [[top - intercept[steep], 0.0], [top, 0.5], [top - 8, -1.0]]
    X_test = X_test.astype(dtype)
    exposures = [None]
    if family != "gamma":
        exposures.append(_dyadic(2.0 ** rng.uniform(-3, 3, 24), 4))
    for exposure in exposures:

        def at(rows, exposure=exposure):
            return {} if exposure is None else {"exposure": exposure[rows]}

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (far rows)
            mean, std = model.predict(X_test, return_std=True, **at(slice(None)))
            alone = np.array(
                [
                    np.ravel(model.predict(X_test[[i]], return_std=True, **at([i])))
                    for i in range(24)
                ]
            )
            dist = model.predict_distribution(X_test, **at(slice(None)))
        np.testing.assert_array_equal(alone[:, 0], mean)
        np.testing.assert_array_equal(alone[:, 1], std)
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(mean, dist.mean(), rtol=rtol)
        np.testing.assert_allclose(std, dist.std(), rtol=rtol)
        # (the case: the far rows' means, whose squared deviations from the
        # other experts' rates overflow the plain sums)
        assert np.max(mean) > np.sqrt(np.finfo(dtype).max)
