"""predict_distribution's logpdf / logpmf where a gate weight underflows to 0.

Far from the training data (X times 10 or 100) a gate weight underflows to 0
while its expert still carries the likelihood; the distributions' log densities
came from log(weights) and left that expert out (MoERegressor: -6834.0 for the
-4714.1 of log_likelihood_samples; a zero-inflated Gamma: -inf).
"""

import copy
import warnings

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import special, stats

from skmoe import (
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
    _base,
    _distribution,
)

rng = np.random.RandomState(0)
X = rng.standard_normal((240, 3))
LINEAR = X @ np.array([1.0, -0.5, 0.3])
Y_REG = np.where(X[:, 0] > 0, 2 * LINEAR, -LINEAR) + 0.3 * rng.standard_normal(240)
MU = np.exp(0.5 * LINEAR)
Y_COUNT = rng.poisson(MU).astype(float)
Y_GAMMA = rng.gamma(2.0, MU / 2.0)
Y_ZERO_GAMMA = np.where(rng.rand(240) < 0.2, 0.0, Y_GAMMA)
FIT = dict(n_init=1, max_iter=40, random_state=0)


def _log_gate(model, Xt):
    """log g_k(x) from the fitted gate's attributes, (n, K)."""
    if model.gate == "softmax":
        return special.log_softmax(Xt @ model.gate_coef_.T + model.gate_intercept_, 1)
    joint = np.column_stack(
        [
            np.log(a) + stats.multivariate_normal(m, S).logpdf(Xt)
            for a, m, S in zip(
                model.gate_weights_,
                model.gate_means_,
                model.gate_covariances_,
                strict=True,
            )
        ]
    )
    return joint - special.logsumexp(joint, axis=1, keepdims=True)


def _log_components(model, Xt, y):
    """log p_k(y | x) of each expert by scipy.stats, (n, K)."""
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    yk = y[:, None]
    if isinstance(model, MoERegressor):
        return stats.norm.logpdf(yk, eta, np.sqrt(model.expert_variance_))
    if isinstance(model, MoENegativeBinomialRegressor):
        # the closed form, exact at n = 1 / phi = 1e8 (scipy's nbinom gave -inf
        # at these means)
        return _count_components(model, Xt, y)
    if isinstance(model, MoEPoissonRegressor):
        return stats.poisson.logpmf(yk, np.exp(eta))
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = 1 / model.expert_dispersion_
        gamma = stats.gamma.logpdf(yk, shape, scale=np.exp(eta) / shape)
    point = np.where(yk == 0, 0.0, -np.inf)  # the point mass (intercept -inf)
    return np.where(np.isneginf(model.expert_intercept_), point, gamma)


CASES = [
    ("gaussian x10", lambda: MoERegressor(2, **FIT), Y_REG, 10.0),
    ("gaussian x100", lambda: MoERegressor(2, **FIT), Y_REG, 100.0),
    ("poisson", lambda: MoEPoissonRegressor(2, gate="gaussian", **FIT), Y_COUNT, 100),
    (
        "negative binomial",
        lambda: MoENegativeBinomialRegressor(2, gate="gaussian", **FIT),
        Y_COUNT,
        100.0,
    ),
    ("gamma", lambda: MoEGammaRegressor(2, gate="gaussian", **FIT), Y_GAMMA, 100.0),
    (
        "zero-inflated gamma",
        lambda: MoEGammaRegressor(2, gate="gaussian", zero_inflated=True, **FIT),
        Y_ZERO_GAMMA,
        100.0,
    ),
]


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize(
    "make, y, scale", [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_log_density_where_a_gate_weight_underflows(make, y, scale):
    model = make().fit(X, y)
    Xt, yt = X[:40] * scale, y[:40]
    dist = model.predict_distribution(Xt)
    assert np.any(dist.weights == 0)  # what the test is about
    log_density = dist.logpmf if hasattr(dist, "logpmf") else dist.logpdf
    got = log_density(yt)
    # log sum_k g_k p_k by hand, from the gate's logs and scipy's densities
    terms = _log_gate(model, Xt) + _log_components(model, Xt, yt)
    by_hand = special.logsumexp(terms, axis=1)
    assert np.all(np.isfinite(by_hand))
    # (a log probability near 0 has its digits absolute: atol)
    assert_allclose(got, by_hand, rtol=1e-10, atol=1e-14)
    # log_likelihood_samples is right there too, and agrees
    assert_allclose(model.log_likelihood_samples(Xt, yt), by_hand, rtol=1e-10)
    assert_allclose(got, model.log_likelihood_samples(Xt, yt), rtol=1e-10, atol=1e-14)
    # kept by row selection
    assert_allclose(
        dist[5::3].logpdf(yt[5::3])
        if hasattr(dist, "logpdf")
        else dist[5::3].logpmf(yt[5::3]),
        got[5::3],
        rtol=0,
        atol=0,
    )


def test_log_density_kept_in_row_chunks(monkeypatch):
    model = MoERegressor(2, **FIT).fit(X, Y_REG)
    Xt, yt = X[:40] * 100, Y_REG[:40]
    dist = model.predict_distribution(Xt)
    whole = dist.logpdf(yt)
    monkeypatch.setattr(_distribution, "PPF_ROWS", 7)
    assert_array_equal(dist.logpdf(yt), whole)
    assert_allclose(whole, model.log_likelihood_samples(Xt, yt), rtol=1e-10)
    assert_array_equal(dist.pdf(yt), np.exp(whole))


def test_log_density_where_a_gate_weight_is_subnormal():
    # a weight of 1.5e-322 holds 5 bits: the row's log density from
    # log(weights) was -740.68604 for -740.67995
    model = MoERegressor(2, **FIT).fit(X, Y_REG)
    x = X[:1]
    slope = (x @ (model.gate_coef_[1] - model.gate_coef_[0]).T)[0]
    shift = model.gate_intercept_[1] - model.gate_intercept_[0]
    scale = (np.sign(slope) * 741.0 - shift) / slope  # a logit gap of 741
    Xt = x * scale
    small = np.argmin(_log_gate(model, Xt)[0])
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    yt = eta[:, small]  # where the expert of the small weight carries the row
    dist = model.predict_distribution(Xt)
    assert 0 < dist.weights[0, small] < np.finfo(float).smallest_normal
    by_hand = special.logsumexp(
        _log_gate(model, Xt) + _log_components(model, Xt, yt), axis=1
    )
    assert_allclose(dist.logpdf(yt), by_hand, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_log_density_kept_across_predict_chunks(monkeypatch):
    # _map_rows's chunks of 7 rows: each chunk's kept rows at their offset
    model = MoEPoissonRegressor(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt, yt = X[:40] * 100, Y_COUNT[:40]
    whole = model.predict_distribution(Xt)
    row_bytes = 8 * (Xt.shape[1] + 1 + 4 * model.n_experts_)  # (_chunk_rows)
    monkeypatch.setattr(_base, "HOST_CHUNK_BYTES", 7 * row_bytes)
    assert model._chunk_rows(Xt) == 7
    chunked = model.predict_distribution(Xt)
    expected = model.log_likelihood_samples(Xt, yt)
    assert_allclose(chunked.logpmf(yt), expected, rtol=1e-10, atol=1e-14)
    assert_array_equal(chunked.logpmf(yt), whole.logpmf(yt))


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_rows_selected_without_kept_ones():
    # a selection of rows none of which kept log weights (and no rows at all)
    # raised UnboundLocalError in the negative binomial's logpmf
    model = MoENegativeBinomialRegressor(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt, yt = X[:40] * 20, Y_COUNT[:40]
    dist = model.predict_distribution(Xt)
    weights = model.predict_gate(Xt)
    low = np.any(weights < np.finfo(float).smallest_normal, axis=1)
    assert low.any() and not low.all()  # what the test is about
    whole = dist.logpmf(yt)
    assert_allclose(whole, model.log_likelihood_samples(Xt, yt), rtol=1e-10)
    normal = np.flatnonzero(~low)
    assert_array_equal(dist[normal].logpmf(yt[normal]), whole[normal])
    assert_array_equal(dist[int(normal[0])].logpmf(yt[normal[0]]), whole[normal[:1]])
    for empty in ([], slice(3, 3), np.zeros(40, dtype=bool)):
        assert dist[empty].logpmf(np.array([])).shape == (0,)


# where a gate weight underflows, with exposures, top_k, a scalar y, after chunks
# that kept none, and an expert whose rate overflowed: against hand sums


def _by_hand(model, Xt, yt, log_gate=None, log_exposure=0.0):
    """log sum_k g_k p_k from the gate's logs (or ``log_gate``) and scipy's
    densities, with the rates times the exposures."""
    log_gate = _log_gate(model, Xt) if log_gate is None else log_gate
    shift = np.broadcast_to(np.asarray(log_exposure, float), (len(Xt),))
    components = _log_components_shifted(model, Xt, yt, shift)
    return special.logsumexp(log_gate + components, axis=1)


def _log_components_shifted(model, Xt, y, shift):
    """:func:`_log_components` with ``shift`` (n,) added to each row's
    linear predictors (the log exposures)."""
    model = copy.deepcopy(model)
    intercept = model.expert_intercept_
    out = []
    for i in range(len(Xt)):
        model.expert_intercept_ = intercept + shift[i]
        out.append(_log_components(model, Xt[i : i + 1], y[i : i + 1])[0])
    return np.array(out)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("make", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_log_density_with_exposures_where_a_gate_weight_underflows(make):
    # the kept rows' rates are each expert's times the row's exposure
    model = make(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt, yt = X[:40] * 100, Y_COUNT[:40]
    exposure = np.random.RandomState(1).uniform(0.2, 5.0, 40)
    dist = model.predict_distribution(Xt, exposure=exposure)
    assert np.any(dist.weights == 0)  # what the test is about
    by_hand = _by_hand(model, Xt, yt, log_exposure=np.log(exposure))
    assert np.all(np.isfinite(by_hand))
    assert_allclose(dist.logpmf(yt), by_hand, rtol=1e-10, atol=1e-14)
    # rows in an order other than the chunks'
    rows = np.arange(39, -1, -3)
    assert_allclose(dist[rows].logpmf(yt[rows]), by_hand[rows], rtol=1e-10)


SCALE_TOP_K = {"MoERegressor": 100.0, "MoEPoissonRegressor": 20.0}


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("make", [MoERegressor, MoEPoissonRegressor])
def test_log_density_with_top_k_where_a_gate_weight_underflows(make):
    y = Y_REG if make is MoERegressor else Y_COUNT
    model = make(3, top_k=2, **FIT).fit(X, y)
    Xt, yt = X[:40] * SCALE_TOP_K[make.__name__], y[:40]
    dist = model.predict_distribution(Xt)
    assert np.any(dist.weights == 0)  # what the test is about
    # the top 2 of the dense gate's logits, renormalized (their log_softmax)
    log_gate = _log_gate(model, Xt)
    top = np.argsort(-log_gate, axis=1, kind="stable")[:, :2]
    sparse = np.full_like(log_gate, -np.inf)
    rows = np.arange(len(Xt))[:, None]
    sparse[rows, top] = special.log_softmax(log_gate[rows, top], axis=1)
    by_hand = _by_hand(model, Xt, yt, log_gate=sparse)
    assert np.all(np.isfinite(by_hand))
    log_density = dist.logpmf if hasattr(dist, "logpmf") else dist.logpdf
    assert_allclose(log_density(yt), by_hand, rtol=1e-10, atol=1e-14)


def test_log_density_of_a_scalar_where_a_gate_weight_underflows():
    # one y for every row, broadcast over the rows that kept log weights
    model = MoERegressor(2, **FIT).fit(X, Y_REG)
    Xt = X[:40] * 100
    dist = model.predict_distribution(Xt)
    assert np.any(dist.weights == 0)  # what the test is about
    by_hand = _by_hand(model, Xt, np.full(40, 0.5))
    assert_allclose(dist.logpdf(0.5), by_hand, rtol=1e-10)
    # two values per row, (2, n)
    both = dist.logpdf(np.array([[0.5], [-1.0]]))
    assert_allclose(both[1], _by_hand(model, Xt, np.full(40, -1.0)), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_log_density_kept_after_chunks_where_none_underflows(monkeypatch):
    # chunks of 7 rows, the first two without an underflowed weight: the rows
    # of the later ones are counted from those too
    model = MoEPoissonRegressor(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt = np.vstack([X[:14], X[:40] * 100])
    yt = np.concatenate([Y_COUNT[:14], Y_COUNT[:40]])
    assert np.all(model.predict_gate(Xt[:14]) >= np.finfo(float).smallest_normal)
    row_bytes = 8 * (Xt.shape[1] + 1 + 4 * model.n_experts_)  # (_chunk_rows)
    monkeypatch.setattr(_base, "HOST_CHUNK_BYTES", 7 * row_bytes)
    assert model._chunk_rows(Xt) == 7
    dist = model.predict_distribution(Xt)
    assert np.any(dist.weights[14:] == 0)  # what the test is about
    assert_allclose(dist.logpmf(yt), _by_hand(model, Xt, yt), rtol=1e-10, atol=1e-14)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("exposure", [None, 2.0])
def test_log_density_leaves_out_an_expert_whose_rate_overflowed(exposure):
    # X times 600: in row 8 the first expert's rate overflows (log rate 720)
    # where its gate weight underflows (log -110110); the other's rate is
    # e^633, log P = -1.3e275. The lost expert adds nothing (its log
    # probability is -inf), while a rate of 1 standing for it added -110112
    model = MoEPoissonRegressor(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt, yt = X[:40] * 600, Y_COUNT[:40]
    exposures = None if exposure is None else np.full(40, exposure)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    eta = eta if exposure is None else eta + np.log(exposure)
    lost = (eta > np.log(np.finfo(float).max)) & (model.predict_gate(Xt) == 0)
    assert lost.any()  # what the test is about
    dist = model.predict_distribution(Xt, exposure=exposures)
    with np.errstate(over="ignore"):  # log P = y log mu - mu - log y!
        components = yt[:, None] * eta - np.exp(eta) - special.gammaln(yt + 1)[:, None]
    by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
    got = dist.logpmf(yt)
    assert_allclose(got, by_hand, rtol=1e-10)
    assert np.all(got[np.any(lost, axis=1)] < -1e200)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_zero_inflated_log_density_where_a_gate_weight_underflows_warns_nothing():
    # the point mass's mean of 0 took no part in the Gamma terms' sums: 1
    # stands for it there, so no division by 0 warned (four RuntimeWarnings)
    model = MoEGammaRegressor(2, gate="gaussian", zero_inflated=True, **FIT)
    model.fit(X, Y_ZERO_GAMMA)
    Xt, yt = X[:40] * 100, Y_ZERO_GAMMA[:40]
    dist = model.predict_distribution(Xt)
    assert np.any(dist.weights == 0) and np.any(yt == 0)  # what the test is about
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = dist.logpdf(yt)
    by_hand = special.logsumexp(
        _log_gate(model, Xt) + _log_components(model, Xt, yt), axis=1
    )
    assert_allclose(got, by_hand, rtol=1e-10, atol=1e-14)


# where an expert's rate or mean under- or overflows in a row (its log rate of
# -857, or a log mean of 886) while the gate weights may all be normal: that
# expert's log density from its log rate or mean, as log_likelihood_samples


def _served(model, Xt):
    """The rows of ``Xt`` that predict serves: no expert of positive gate
    weight whose mean overflows."""
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    return Xt[~np.any((eta > 709.7) & (model.predict_gate(Xt) > 0), axis=1)]


def _count_components(model, Xt, y, log_exposure=0.0):
    """log P(y | x, k) (n, K) of the Poisson or negative binomial experts in
    closed form from the log rates, exact where a rate under- or overflows."""
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_ + log_exposure
    yk = y[:, None]
    if isinstance(model, MoENegativeBinomialRegressor):
        # log C(y + n - 1, y) - n log(1 + mu / n) + y log(mu / (n + mu))
        n = 1 / model.expert_dispersion_
        log1p_ratio = np.logaddexp(0.0, eta - np.log(n))  # log(1 + mu / n)
        choose = [np.sum(np.log(n + np.arange(k)[:, None]), 0) for k in y.astype(int)]
        return (
            np.array(choose)
            - special.gammaln(yk + 1)
            - n * log1p_ratio
            + yk * (eta - np.log(n) - log1p_ratio)
        )
    with np.errstate(over="ignore"):  # y log mu - mu - log y!
        return yk * eta - np.exp(eta) - special.gammaln(yk + 1)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("exposure", [None, 2.0])
@pytest.mark.parametrize("make", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_log_density_where_an_experts_rate_under_or_overflows(make, exposure):
    # X times 1000, y = 3: the Poisson's logpmf took an expert whose rate
    # underflowed to 0 (log rate -857) as -inf where no gate weight did: -inf
    # and -9735.06 for -2999.10 and -2573.05; the negative binomial left out
    # one whose mean overflowed (log mean 991, log P = -5360 with its weight's
    # log -264716): -5.5e10 for -270069
    model = make(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt = _served(model, X[:40] * 1000)
    yt = np.full(len(Xt), 3.0)
    log_exposure = 0.0 if exposure is None else np.log(exposure)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_ + log_exposure
    assert np.any(eta < -745.2)  # what the test is about: rates of 0
    exposures = None if exposure is None else np.full(len(Xt), exposure)
    dist = model.predict_distribution(Xt, exposure=exposures)
    got = dist.logpmf(yt)
    components = _count_components(model, Xt, yt, log_exposure)
    by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
    assert np.all(np.isfinite(by_hand))
    assert_allclose(got, by_hand, rtol=1e-10)
    lls = model.log_likelihood_samples(Xt, yt, exposure=exposures)
    assert_allclose(got, lls, rtol=1e-10)
    # kept by row selection, and at y = 0 (log P = -mu = -0.0 for a rate of 0)
    assert_array_equal(dist[::-2].logpmf(yt[::-2]), got[::-2])
    zero = _count_components(model, Xt, np.zeros(len(Xt)), log_exposure)
    by_hand = special.logsumexp(_log_gate(model, Xt) + zero, axis=1)
    assert_allclose(dist.logpmf(0.0), by_hand, rtol=1e-10, atol=1e-14)


def _gamma_by_hand(model, X, eta, y):
    """The Gamma mixture's log densities at ``y`` from the experts' log means
    ``eta`` (n, K): k log(k / mu) + (k - 1) log y - k y / mu - log Gamma(k)."""
    k = 1 / model.expert_dispersion_
    log_y = np.log(y)[:, None]
    with np.errstate(over="ignore"):  # y / mu beyond the floats: log p = -inf
        components = (
            k * (np.log(k) - eta)
            + (k - 1) * log_y
            - k * np.exp(log_y - eta)
            - special.gammaln(k)
        )
    return special.logsumexp(_log_gate(model, X) + components, axis=1)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_gamma_log_density_where_an_experts_mean_overflows():
    # X times 800, y = 1e300: an expert whose mean overflowed (log mean 886)
    # where its gate weight underflowed carries y, but was left out: -1.96e100
    # for the -140478 of log_likelihood_samples
    model = MoEGammaRegressor(2, gate="gaussian", **FIT).fit(X, Y_GAMMA)
    Xt = _served(model, X[:40] * 800)
    yt = np.full(len(Xt), 1e300)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    assert np.any(eta > np.log(np.finfo(float).max))  # what the test is about
    got = model.predict_distribution(Xt).logpdf(yt)
    by_hand = _gamma_by_hand(model, Xt, eta, yt)
    assert_allclose(got, by_hand, rtol=1e-10)
    # (where y / mu overflows, -inf; log_likelihood_samples refuses those
    # rows: test_log_likelihood_samples_beyond_the_solvers_guard)
    finite = np.isfinite(by_hand)
    assert finite.sum() >= 20
    lls = model.log_likelihood_samples(Xt[finite], yt[finite])
    assert_allclose(got[finite], lls, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_gamma_cdf_where_a_huge_experts_shape_carries_it():
    # an expert of mean e^720 at gate weight e^-460 (below HELD_WEIGHT, so
    # served; its mean held as the largest float, its log mean beside it) and
    # shape 0.01, beside one of mean e^100 and shape 1: at y = 1e-300 the
    # first carries the cdf, where x = nu y / mu is below the normal floats;
    # x from the largest float instead of the log mean made it 10.8% too high
    model = MoEGammaRegressor(2, **FIT).fit(X, Y_GAMMA)
    model.gate_coef_ = np.zeros_like(model.gate_coef_)
    model.gate_intercept_ = np.array([-460.0, 0.0])
    model.expert_coef_ = np.zeros_like(model.expert_coef_)
    model.expert_intercept_ = np.array([720.0, 100.0])
    model.expert_dispersion_ = np.array([100.0, 1.0])
    y = np.array([1e-300, 1e-290, 1e-280, 1.0])
    got = model.predict_distribution(X[:4]).cdf(y)
    gate = special.softmax(np.array([-460.0, 0.0]))
    with mpmath.workdps(40):
        mus = [mpmath.exp(720), mpmath.exp(100)]
        expected = [
            float(
                mpmath.fsum(
                    mpmath.mpf(w)
                    * mpmath.gammainc(nu, 0, nu * mpmath.mpf(v) / mu, regularized=True)
                    for w, mu, nu in zip(gate, mus, [0.01, 1.0], strict=True)
                )
            )
            for v in y
        ]
    assert_allclose(got, expected, rtol=1e-13)


def _first_mean_below_normal(model):
    """Shift the first expert's intercept of a Gamma ``model`` (fitted to X)
    so that its log means top out at -709; the rows of X where they stay
    above -712 (near the smallest normal float) and their log means."""
    eta = X @ model.expert_coef_.T + model.expert_intercept_
    shift = 709.0 + eta[:, 0].max()
    model.expert_intercept_ = model.expert_intercept_ - np.array([shift, 0.0])
    eta[:, 0] -= shift
    rows = eta[:, 0] > -712.0
    Xt, eta = X[rows], eta[rows]
    return Xt, eta


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_gamma_log_density_where_an_experts_mean_underflows():
    # the first expert's log means lowered to -709 and below (its intercept
    # by some 710): subnormal means where the gate weights are normal, which
    # the distribution held as the smallest normal float; at y = exp(log
    # mean + 4), where that expert carries y, log densities up to 134 too
    # high (703.4 for 569.0)
    model = MoEGammaRegressor(2, gate="gaussian", **FIT).fit(X, Y_GAMMA)
    Xt, eta = _first_mean_below_normal(model)
    yt = np.exp(eta[:, 0] + 4.0)
    assert len(Xt) >= 5 and np.all(yt >= np.finfo(float).smallest_normal)
    assert np.all(model.predict_gate(Xt) >= np.finfo(float).smallest_normal)
    assert np.all(np.exp(eta[:, 0]) < np.finfo(float).smallest_normal)
    got = model.predict_distribution(Xt).logpdf(yt)
    by_hand = _gamma_by_hand(model, Xt, eta, yt)
    assert_allclose(got, by_hand, rtol=1e-10)
    assert_allclose(got, model.log_likelihood_samples(Xt, yt), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("exposure", [None, 2.0])
@pytest.mark.parametrize("make", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_count_log_density_where_a_rate_underflows_and_no_gate_weight(make, exposure):
    # the first expert's log rates lowered to -750 and below (its intercept
    # by some 750): rates of 0 where the gate weights are normal; at y = 3
    # that expert (log P near -2253) carries the row beside the other's,
    # raised by 600 (Poisson -1e260, negative binomial near -3240), and was
    # taken as -inf
    model = make(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    eta = X @ model.expert_coef_.T + model.expert_intercept_
    shift = np.array([750.0 + eta[:, 0].max(), -600.0])
    model.expert_intercept_ = model.expert_intercept_ - shift
    Xt = X[:40]
    yt = np.full(40, 3.0)
    log_exposure = 0.0 if exposure is None else np.log(exposure)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_ + log_exposure
    assert np.all(model.predict_gate(Xt) >= np.finfo(float).smallest_normal)
    assert np.all(eta[:, 0] < -745.2)  # rates of 0
    exposures = None if exposure is None else np.full(40, exposure)
    dist = model.predict_distribution(Xt, exposure=exposures)
    got = dist.logpmf(yt)
    components = _count_components(model, Xt, yt, log_exposure)
    by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
    assert np.all(by_hand > -1e4)
    assert_allclose(got, by_hand, rtol=1e-10)
    lls = model.log_likelihood_samples(Xt, yt, exposure=exposures)
    assert_allclose(got, lls, rtol=1e-10)
    # the other outputs as before: the rate of 0 in the distribution
    assert np.all(dist.rates[:, 0] == 0)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("top_k", [None, 2])
@pytest.mark.parametrize("make", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_count_log_density_where_an_exposure_takes_a_rate_below_the_floats(make, top_k):
    # normal gate weights and rates (the experts' log rates lowered by 400
    # and 500, near -400 and -500), at an exposure of 1e-300: rates of 0
    # after the exposure, which no chunk saw, and logpmf(1) was -inf for
    # -1090 (it lost digits at rates of 1e-320: -735.80826 for -735.80827)
    model = make(3 if top_k else 2, gate="gaussian", top_k=top_k, **FIT)
    model.fit(X, Y_COUNT)
    shift = np.full(model.n_experts_, 500.0)
    shift[0] = 400.0
    model.expert_intercept_ = model.expert_intercept_ - shift
    Xt, yt = X[:40], np.ones(40)
    exposure = np.full(40, 1e-300)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    assert np.all(np.exp(eta) >= np.finfo(float).smallest_normal)
    assert np.all(np.exp(eta[:, 0] - 690.7) < np.finfo(float).smallest_normal)
    got = model.predict_distribution(Xt, exposure=exposure).logpmf(yt)
    components = _count_components(model, Xt, yt, np.log(1e-300))
    log_gate = np.log(model.predict_gate(Xt))
    if top_k:  # the gate's weights renormalized over each row's top 2
        top = np.argsort(-log_gate, axis=1)[:, :2]
        log_gate = np.take_along_axis(log_gate, top, 1)
        components = np.take_along_axis(components, top, 1)
        log_gate -= special.logsumexp(log_gate, axis=1, keepdims=True)
    by_hand = special.logsumexp(log_gate + components, axis=1)
    assert np.all(np.isfinite(by_hand))
    assert_allclose(got, by_hand, rtol=1e-10)
    lls = model.log_likelihood_samples(Xt, yt, exposure=exposure)
    assert_allclose(got, lls, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_count_log_density_where_a_gate_weight_underflows_beside_a_small_exposure():
    # X times 100 (gate weights of 0, rates normal) at an exposure of 1e-300:
    # rates subnormal or 0 after the exposure in the rows kept for their gate
    # weights, taken from the logs of the rates before it, and in the others
    model = MoEPoissonRegressor(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt = _served(model, X[:40] * 100)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    normal = np.all(np.abs(eta) < 600, axis=1)  # rates normal before exposure
    Xt, eta = Xt[normal], eta[normal]
    log_gate = _log_gate(model, Xt)
    assert np.any(np.exp(log_gate) == 0)  # what the test is about
    eta = eta + np.log(1e-300)
    assert np.any(np.exp(eta) < np.finfo(float).smallest_normal)
    exposure = np.full(len(Xt), 1e-300)
    got = model.predict_distribution(Xt, exposure=exposure).logpmf(np.ones(len(Xt)))
    by_hand = special.logsumexp(log_gate + eta - np.exp(eta), axis=1)  # log mu - mu
    assert_allclose(got, by_hand, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("make", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_count_distribution_where_an_exposure_lifts_a_rate_that_underflowed(make):
    # log rates near -800 and -760 (rates of 0 before the exposure) at an
    # exposure of 1e300: rates near 1e-47 and 1e-30, which logpmf had from
    # their logs while rates, mean, var and sf held 0 (pmf(1) > sf(0))
    model = make(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    model.expert_intercept_ = model.expert_intercept_ - np.array([800.0, 760.0])
    Xt = X[:20]
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_ + np.log(1e300)
    mu, w = np.exp(eta), model.predict_gate(Xt)
    assert np.all((mu > 1e-60) & (mu < 1e-20))  # what the test is about
    dist = model.predict_distribution(Xt, exposure=np.full(20, 1e300))
    assert_allclose(dist.rates, mu, rtol=1e-12)
    assert_allclose(dist.mean(), np.sum(w * mu, axis=1), rtol=1e-12)
    phi = getattr(model, "expert_dispersion_", np.zeros(2))
    var = np.sum(w * (mu + phi * mu**2), axis=1)  # (mu - mean)^2 is below it
    assert_allclose(dist.var(), var, rtol=1e-12)
    # P(Y > 0) = sum_k w_k (1 - P_k(0)), about the mean at these rates
    with np.errstate(divide="ignore", invalid="ignore"):  # (phi = 0: Poisson)
        log_p0 = np.where(phi > 0, -np.log1p(phi * mu) / phi, -mu)
    assert_allclose(dist.sf(0), np.sum(w * -np.expm1(log_p0), axis=1), rtol=1e-9)
    assert np.all(dist.sf(0) >= dist.pmf(1) * (1 - 1e-12))  # (equal to mu^2)
    assert_allclose(dist.pmf(1), np.sum(w * mu, axis=1), rtol=1e-9)  # mu e^-mu


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_float32_count_distribution_keeps_a_rate_below_float32s_floats():
    # a float32 model's rate of 5e-48 (log rate near -108: 0 in float32) is a
    # float64 rate of the distribution: it was 0 in rates and mean
    model = MoEPoissonRegressor(1, **FIT).fit(X.astype(np.float32), Y_COUNT)
    model.expert_intercept_ = model.expert_intercept_ - np.float32(110.0)
    Xt = X[:20].astype(np.float32)
    eta = Xt.astype(float) @ model.expert_coef_.T.astype(float)
    mu = np.exp(eta + float(model.expert_intercept_[0]))
    assert np.all((mu > 0) & (mu < np.finfo(np.float32).smallest_normal))
    dist = model.predict_distribution(Xt)
    # (float32's log rates: 1e-5 at -108)
    assert_allclose(dist.rates, mu, rtol=3e-5)
    assert_allclose(dist.mean(), mu[:, 0], rtol=3e-5)
    assert_allclose(dist.sf(0), mu[:, 0], rtol=3e-5)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize(
    "make, y",
    [
        (MoEPoissonRegressor, Y_COUNT),
        (MoENegativeBinomialRegressor, Y_COUNT),
        (MoEGammaRegressor, Y_GAMMA),
    ],
)
def test_log_density_of_ordinary_rows_is_unchanged(make, y):
    # nothing under- or overflows: nothing kept, and the log densities those
    # of the distribution's own parameters (bit for bit); beside rows that
    # kept their logs, the same floats in the other rows
    model = make(2, gate="gaussian", **FIT).fit(X, y)
    dist = model.predict_distribution(X)
    assert dist._log_parts is None
    plain = type(dist)(*dist._arrays())
    log_density = "logpdf" if hasattr(dist, "logpdf") else "logpmf"
    whole = getattr(plain, log_density)(y)
    assert_array_equal(getattr(dist, log_density)(y), whole)
    far = model.predict_distribution(np.vstack([X[:40], X[:40] * 100]))
    assert far._log_parts is not None
    both = getattr(far, log_density)(np.concatenate([y[:40], y[:40]]))
    assert_array_equal(both[:40], whole[:40])


# a zero-inflated model's point mass at zero has the log rate ZERO_LOG_RATE
# (-1e5) in predict, a rate of 0 that is exact: no underflow


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("make", [MoEPoissonRegressor, MoENegativeBinomialRegressor])
def test_zero_inflated_log_density_where_a_rate_underflows(make):
    # X times 1000, y = 3: the point mass was taken for a Poisson (negative
    # binomial) component of log rate -1e5, log P(3) = -3e5, and carried
    # the row: -100020 for the -5.5e26 of log_likelihood_samples
    model = make(3, gate="gaussian", zero_inflated=True, **FIT).fit(X, Y_COUNT)
    mass = np.isneginf(model.expert_intercept_)
    assert mass.sum() == 1
    Xt = _served(model, X[:40] * 1000)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    assert np.any(eta[:, ~mass] < -745.2)  # what the test is about
    dist = model.predict_distribution(Xt)
    for y in (3.0, 0.0):
        yt = np.full(len(Xt), y)
        # (0 * -inf, and a dispersion of 0, at the point mass)
        with np.errstate(divide="ignore", invalid="ignore"):
            components = _count_components(model, Xt, yt)
        components[:, mass] = 0.0 if y == 0 else -np.inf
        by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
        got = dist.logpmf(yt)
        assert_allclose(got, by_hand, rtol=1e-10, atol=1e-14)
        assert_allclose(got, model.log_likelihood_samples(Xt, yt), rtol=1e-10)
        assert_array_equal(dist[::-3].logpmf(yt[::-3]), got[::-3])


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize(
    "make, y",
    [
        (MoEPoissonRegressor, Y_COUNT),
        (MoENegativeBinomialRegressor, Y_COUNT),
        (MoEGammaRegressor, Y_ZERO_GAMMA),
    ],
)
def test_zero_inflated_ordinary_rows_keep_nothing(make, y):
    # the point mass's log rate of -1e5 kept every row's logs (three arrays
    # of n by K) and took the log density from them, on ordinary data
    model = make(3, zero_inflated=True, **FIT).fit(X, y)
    dist = model.predict_distribution(X)
    assert dist._log_parts is None
    plain = type(dist)(*dist._arrays())
    log_density = "logpdf" if hasattr(dist, "logpdf") else "logpmf"
    assert_array_equal(getattr(dist, log_density)(y), getattr(plain, log_density)(y))


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize(
    "make, scale", [(MoEPoissonRegressor, 300), (MoEGammaRegressor, 150)]
)
def test_float32_log_density_where_a_rate_is_subnormal(make, scale):
    # X times 300 (150) in float32: a rate (mean) below float32's smallest
    # normal (log -87.3) is a normal float64 one of fewer digits, and was
    # taken as it was: 7.1e-5 (2.4e-4) from the log density of the float32
    # parameters, for 3.3e-6 (float32's digits) from its log
    y = Y_COUNT if make is MoEPoissonRegressor else Y_GAMMA
    model = make(2, gate="gaussian", **FIT).fit(X.astype(np.float32), y)
    far = X[:60].astype(np.float32) * scale

    def served(row):  # (no float32 overflow of positive weight)
        try:
            model.predict_distribution(far[row : row + 1])
        except ValueError:
            return False
        return True

    Xt = far[[served(row) for row in range(len(far))]].astype(np.float64)
    eta = Xt @ model.expert_coef_.T.astype(float) + model.expert_intercept_
    assert np.any((eta < -87.4) & (eta > -103))  # what the test is about
    yt = np.full(len(Xt), 3.0)
    if make is MoEPoissonRegressor:
        components = _count_components(model, Xt, yt)
        got = model.predict_distribution(Xt.astype(np.float32)).logpmf(yt)
    else:
        shape = 1 / model.expert_dispersion_.astype(float)
        log_y = np.log(yt)[:, None]
        components = (
            shape * (np.log(shape) + log_y - eta - np.exp(log_y - eta))
            - special.gammaln(shape)
            - log_y
        )
        got = model.predict_distribution(Xt.astype(np.float32)).logpdf(yt)
    by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
    # and the float32 gate's rounding: its log densities, -7e4 at X * 150,
    # are rounded to 8e-3 (a row with a log gate of -375 was 1.4 ulps of
    # them off by_hand, on one machine's float32 kernels and not another's)
    joint = [
        np.log(a) + stats.multivariate_normal(m, S).logpdf(Xt)
        for a, m, S in zip(
            model.gate_weights_,
            model.gate_means_,
            model.gate_covariances_,
            strict=True,
        )
    ]
    gate_ulp = np.finfo(np.float32).eps * np.max(np.abs(joint), axis=0)
    assert np.all(np.abs(got - by_hand) <= 2e-5 * np.abs(by_hand) + 8 * gate_ulp)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize(
    "make, dtype, scale",
    [
        (MoEPoissonRegressor, np.float32, 150),
        (MoEGammaRegressor, np.float32, 150),
        (MoEPoissonRegressor, np.float64, 2000),
        (MoEGammaRegressor, np.float64, 2000),
    ],
)
def test_log_likelihood_samples_beyond_the_solvers_guard(make, dtype, scale):
    # X times 150 in float32 (2000 in float64): every expert's rate (ratio
    # y / mu) above exp(log(largest float) - 10), where the solvers' guard
    # continues it linearly; log_likelihood_samples took the guarded one
    # (0.868 off in float32 at X x 150), predict_distribution the model's
    poisson = make is MoEPoissonRegressor
    model = make(2, **FIT).fit(X.astype(dtype), Y_COUNT if poisson else Y_GAMMA)
    Xt = (X * scale).astype(dtype).astype(np.float64)
    eta = Xt @ model.expert_coef_.T.astype(float) + model.expert_intercept_
    yt = np.full(len(Xt), 3.0)
    log_y = np.log(yt)[:, None]
    if poisson:
        components = _count_components(model, Xt, yt)
    else:
        shape = 1 / model.expert_dispersion_.astype(float)
        with np.errstate(over="ignore"):
            components = (
                shape * (np.log(shape) + log_y - eta - np.exp(log_y - eta))
                - special.gammaln(shape)
                - log_y
            )
    by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
    held = np.abs(by_hand) <= np.finfo(dtype).max
    top = np.log(np.finfo(dtype).max) - 10.0
    guarded = np.min(eta if poisson else log_y - eta, axis=1) > top
    assert np.any(held & guarded) and not np.all(held)  # what the test is about
    got = model.log_likelihood_samples(Xt[held].astype(dtype), yt[held])
    assert_allclose(got, by_hand[held], rtol=2e-5 if dtype is np.float32 else 1e-10)
    # a log-likelihood beyond the floats: refused, as predict_distribution's
    with pytest.raises(ValueError, match="log-likelihood overflows"):
        model.log_likelihood_samples(Xt.astype(dtype), yt)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
@pytest.mark.parametrize("poisson", [True, False])
def test_estimator_experts_log_likelihood_beyond_the_solvers_guard(poisson):
    # expert_estimator's CountExperts and AmountExperts took the solvers'
    # guarded rate (ratio y / mu) in log_likelihood_samples where every
    # expert's is above exp(log(largest float) - 10): 0.9995 (Poisson) and
    # 0.9989 (Gamma) relative off. Rows placed there by the exposure (by y)
    from sklearn.linear_model import GammaRegressor, PoissonRegressor

    make, estimator = (
        (MoEPoissonRegressor, PoissonRegressor(alpha=0))
        if poisson
        else (MoEGammaRegressor, GammaRegressor(alpha=0))
    )
    y = Y_COUNT if poisson else Y_GAMMA
    model = make(2, expert_estimator=estimator, **FIT).fit(X, y)
    # the clones' log means (log links; none near the floors on these rows)
    eta = np.column_stack([X @ e.coef_ + e.intercept_ for e in model.experts_])
    top = np.log(np.finfo(float).max) - 10.0
    # the least log rate (ratio): top + 1 to top + 12, rising with the least
    # log mean (falling with the largest): the exposures (y) that take it
    # there stay finite
    rank = eta.min(axis=1) if poisson else -eta.max(axis=1)
    rank = np.argsort(np.argsort(rank)) / (len(X) - 1)
    shift = top + 1.0 + 11.0 * rank
    if poisson:
        log_exposure = shift - eta.min(axis=1)
        kept = log_exposure < 709.7  # exposures finite
        X_, eta, log_exposure = X[kept], eta[kept], log_exposure[kept]
        eta = eta + log_exposure[:, None]
        yt = np.full(len(X_), 3.0)
        with np.errstate(over="ignore"):
            components = yt[:, None] * eta - np.exp(eta) - special.gammaln(4.0)
        target = {"exposure": np.exp(log_exposure)}
    else:
        log_y = shift + eta.max(axis=1)
        kept = log_y < 709.7  # y finite
        X_, eta, log_y = X[kept], eta[kept], log_y[kept]
        yt = np.exp(log_y)
        d = log_y[:, None] - eta  # log(y / mu), at least top + 1
        shape = 1 / model.expert_dispersion_
        with np.errstate(over="ignore"):
            components = (
                shape * (np.log(shape) - d - np.expm1(d))
                - special.gammaln(shape)
                - log_y[:, None]
            )
        target = {}
    by_hand = special.logsumexp(_log_gate(model, X_) + components, axis=1)
    held = np.isfinite(by_hand)
    assert held.sum() >= 50 and not np.all(held)
    rows = {key: value[held] for key, value in target.items()}
    got = model.log_likelihood_samples(X_[held], yt[held], **rows)
    assert_allclose(got, by_hand[held], rtol=1e-10)
    with pytest.raises(ValueError, match="log-likelihood overflows"):
        model.log_likelihood_samples(X_, yt, **target)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_zero_inflated_gamma_log_density_where_an_experts_mean_underflows():
    # a zero-inflated Gamma's expert whose log means are lowered to -709 and
    # below (subnormal means), at y = exp(log mean + 4) where it carries the
    # row: its log density from its log mean beside the point mass, as the
    # closed form (the point mass has no density at y > 0)
    model = MoEGammaRegressor(3, gate="gaussian", zero_inflated=True, **FIT)
    model.fit(X, Y_ZERO_GAMMA)
    mass = np.isneginf(model.expert_intercept_)
    assert mass.sum() == 1
    first = int(np.flatnonzero(~mass)[0])
    eta = X @ model.expert_coef_.T + model.expert_intercept_
    shift = np.where(np.arange(3) == first, 709.0 + eta[:, first].max(), 0.0)
    model.expert_intercept_ = model.expert_intercept_ - shift
    eta -= shift
    rows = eta[:, first] > -712.0
    Xt, eta = X[rows], eta[rows]
    yt = np.exp(eta[:, first] + 4.0)
    assert len(Xt) >= 5
    assert np.all(np.exp(eta[:, first]) < np.finfo(float).smallest_normal)
    got = model.predict_distribution(Xt).logpdf(yt)
    gamma = _gamma_by_hand_components(model, eta[:, ~mass], yt, ~mass)
    by_hand = special.logsumexp(_log_gate(model, Xt)[:, ~mass] + gamma, axis=1)
    assert_allclose(got, by_hand, rtol=1e-10)


def _gamma_by_hand_components(model, eta, y, experts):
    """log p_k(y) (n, k) of the Gamma ``experts`` (a mask) of log means
    ``eta``: k log(k / mu) + (k - 1) log y - k y / mu - log Gamma(k)."""
    k = 1 / model.expert_dispersion_[experts]
    log_y = np.log(y)[:, None]
    return (
        k * (np.log(k) - eta)
        + (k - 1) * log_y
        - k * np.exp(log_y - eta)
        - special.gammaln(k)
    )


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_gamma_log_density_at_zero_of_shape_one_where_a_mean_underflows():
    # exponential experts (dispersion 1): the density at 0 is 1 / mu, whose
    # log -log(mu) comes from the log mean where the mean is subnormal
    model = MoEGammaRegressor(2, gate="gaussian", **FIT).fit(X, Y_GAMMA)
    model.expert_dispersion_ = np.ones(2)
    Xt, eta = _first_mean_below_normal(model)
    assert len(Xt) >= 5
    assert np.all(np.exp(eta[:, 0]) < np.finfo(float).smallest_normal)
    got = model.predict_distribution(Xt).logpdf(np.zeros(len(Xt)))
    # scipy's exponential log density at 0 is -log(scale)
    assert_allclose(stats.expon.logpdf(0.0, scale=np.exp(eta[:, 1])), -eta[:, 1])
    by_hand = special.logsumexp(_log_gate(model, Xt) - eta, axis=1)
    assert_allclose(got, by_hand, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_count_log_density_where_an_exposure_shrinks_one_experts_rate_only():
    # at an exposure of 1e-300, expert 0's rate is 1e3 (normal) and expert 1's
    # 1e-320 (subnormal: 11 significant bits): the row is flagged for expert 1
    # alone, whose log rate stands for its rate; log P(1) = log mu - mu is
    # -736.8 there beside -993.1, so the subnormal rate's lost digits showed
    model = MoEPoissonRegressor(2, **FIT).fit(X, Y_COUNT)
    model.expert_coef_ = np.zeros_like(model.expert_coef_)
    model.expert_intercept_ = np.log([1e303, 1e-20])
    Xt, yt = X[:40], np.ones(40)
    exposure = np.full(40, 1e-300)
    eta = model.expert_intercept_ + np.log(1e-300)  # (log rates after it)
    assert np.exp(eta[0]) >= np.finfo(float).smallest_normal
    assert 0 < np.exp(eta[1]) < np.finfo(float).smallest_normal
    got = model.predict_distribution(Xt, exposure=exposure).logpmf(yt)
    components = eta - np.exp(eta)  # log P(1 | mu), closed form
    by_hand = special.logsumexp(_log_gate(model, Xt) + components, axis=1)
    assert_allclose(got, by_hand, rtol=1e-12)
    lls = model.log_likelihood_samples(Xt, yt, exposure=exposure)
    assert_allclose(got, lls, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_zero_inflated_counts_at_ordinary_exposures_keep_the_plain_path():
    # the point mass's rate 0 is no rate the exposure shrank: at exposures of
    # 2 no row takes the log parts (every row did, 2.1 times the time of
    # logpmf at 96000 rows), and logpmf is scipy's mixture of the rates
    y = np.where(np.random.RandomState(1).rand(240) < 0.3, 0.0, Y_COUNT)
    model = MoEPoissonRegressor(3, zero_inflated=True, **FIT).fit(X, y)
    Xt, yt = X[:40], np.arange(40) % 3.0
    dist = model.predict_distribution(Xt, exposure=np.full(40, 2.0))
    assert getattr(dist, "_log_parts", None) is None
    with np.errstate(divide="ignore"):
        rates = 2.0 * np.exp(Xt @ model.expert_coef_.T + model.expert_intercept_)
        components = stats.poisson.logpmf(yt[:, None], rates)
        by_hand = special.logsumexp(np.log(model.predict_gate(Xt)) + components, 1)
    assert np.any(rates == 0)  # the point mass
    assert_allclose(dist.logpmf(yt), by_hand, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_count_log_density_where_the_expert_of_an_underflowed_gate_weight_leads():
    # as above, counts of 1000: at rows whose rates the exposure of 1e-300
    # took below the normal floats, an expert of gate weight 0 (log weight
    # -3944, -4253) has log rates 7.0 and 11.6 above the other's, so a log
    # P(1000) larger by more than its log weight lowers it; its kept log
    # weight, not log(0), makes the log density
    model = MoEPoissonRegressor(2, gate="gaussian", **FIT).fit(X, Y_COUNT)
    Xt = _served(model, X[:40] * 100)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    normal = np.all(np.abs(eta) < 600, axis=1)  # rates normal before exposure
    Xt, eta = Xt[normal], eta[normal] + np.log(1e-300)
    log_gate = _log_gate(model, Xt)
    yt = np.full(len(Xt), 1000.0)
    terms = log_gate + 1000 * eta - np.exp(eta) - special.gammaln(1001)  # closed form
    by_hand = special.logsumexp(terms, axis=1)
    leader = np.argmax(terms, axis=1)
    led = np.exp(log_gate[np.arange(len(Xt)), leader]) == 0
    shrunk = np.any(np.exp(eta) < np.finfo(float).smallest_normal, axis=1)
    assert np.any(led & shrunk)  # what the test is about
    exposure = np.full(len(Xt), 1e-300)
    got = model.predict_distribution(Xt, exposure=exposure).logpmf(yt)
    assert_allclose(got, by_hand, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:solver='em' did not converge")
def test_zero_inflated_gamma_rows_with_log_weights_do_not_depend_on_the_batch():
    # the hurdle's log density from the gate's logs (the point mass's log
    # weight at 0, the Gamma experts' beside it), in the rows whose gate
    # weights underflowed, and their cdf and sf: each row's alone, reversed,
    # as several values per row (Fortran-ordered) and from predict_distribution
    # of part of the rows are the batch's floats; and mpmath's (30 digits) on
    # a few rows, at 0 where the point mass's weight underflowed to 0
    model = MoEGammaRegressor(3, gate="gaussian", zero_inflated=True, **FIT)
    model.fit(X, Y_ZERO_GAMMA)
    mass = np.isneginf(model.expert_intercept_)
    assert mass.sum() == 1
    Xt = X[:60] * 100
    yt = np.where(np.arange(60) % 3 == 0, 0.0, Y_GAMMA[:60])
    dist = model.predict_distribution(Xt)
    underflowed = dist.weights[:, mass][:, 0] == 0
    assert np.any(underflowed & (yt == 0)) and np.any(~underflowed)
    values = np.asfortranarray(np.stack([yt, yt + 1.0]))
    part = model.predict_distribution(Xt[20:40])
    for method in ("logpdf", "cdf", "sf"):
        whole = getattr(dist, method)(yt)
        alone = [getattr(dist[i], method)(yt[i])[0] for i in range(len(yt))]
        assert_array_equal(alone, whole)
        assert_array_equal(getattr(dist[::-1], method)(yt[::-1])[::-1], whole)
        assert_array_equal(getattr(dist, method)(values)[0], whole)
        assert_array_equal(getattr(part, method)(yt[20:40]), whole[20:40])
    log_gate = _log_gate(model, Xt)
    eta = Xt @ model.expert_coef_.T + model.expert_intercept_
    with np.errstate(divide="ignore"):  # (the point mass's dispersion of 0)
        shape = 1 / model.expert_dispersion_
    rows = np.flatnonzero(underflowed & (yt == 0))[:3].tolist()
    rows += np.flatnonzero(yt > 0)[:4].tolist()
    with mpmath.workdps(30):
        for i in rows:
            y = mpmath.mpf(float(yt[i]))
            gate = [mpmath.mpf(float(v)) for v in log_gate[i]]
            gamma = [k for k in range(3) if not mass[k]]
            if y == 0:  # the point mass alone (shapes above 1: density 0)
                assert np.all(shape[gamma] > 1)
                log_density = gate[int(np.flatnonzero(mass)[0])]
                below = mpmath.exp(log_density)
            else:
                terms, below = [], mpmath.exp(gate[int(np.flatnonzero(mass)[0])])
                for k in gamma:
                    nu, log_mu = mpmath.mpf(float(shape[k])), mpmath.mpf(eta[i, k])
                    x = nu * y / mpmath.exp(log_mu)
                    terms.append(
                        gate[k]
                        + nu * mpmath.log(nu)
                        - nu * log_mu
                        + (nu - 1) * mpmath.log(y)
                        - x
                        - mpmath.loggamma(nu)
                    )
                    below += mpmath.exp(gate[k]) * mpmath.gammainc(
                        nu, 0, x, regularized=True
                    )
                log_density = mpmath.log(mpmath.fsum(mpmath.exp(t) for t in terms))
            assert_allclose(dist.logpdf(yt)[i], float(log_density), rtol=1e-12)
            assert_allclose(dist.cdf(yt)[i], float(below), rtol=1e-12, atol=1e-300)
            assert_allclose(dist.sf(yt)[i], float(1 - below), rtol=1e-12, atol=1e-300)
