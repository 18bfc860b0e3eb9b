"""predict_distribution's logpdf / logpmf where a gate weight underflows to 0.

Far from the training data (X times 10 or 100) a gate weight underflows to 0
while its expert still carries the likelihood; the distributions' log densities
came from log(weights) and left that expert out (MoERegressor: -6834.0 for the
-4714.1 of log_likelihood_samples; a zero-inflated Gamma: -inf).
"""

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
        # at these means): log C(y + n - 1, y) as a sum of log(n + j), j < y
        n = 1 / model.expert_dispersion_
        with np.errstate(over="ignore"):  # a mean of inf: log p = -inf
            log1p_ratio = np.log1p(np.exp(eta) / n)
        choose = [np.sum(np.log(n + np.arange(k)[:, None]), 0) for k in y.astype(int)]
        return (
            np.array(choose)
            - special.gammaln(yk + 1)
            - n * log1p_ratio
            + yk * (eta - np.log(n) - log1p_ratio)
        )
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
