"""Per-sample quantities: log_likelihood_samples, responsibilities, icl."""

import numpy as np
import pytest
from scipy import special, stats
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from skmoe import MoEClassifier, MoERegressor


@pytest.fixture(scope="module")
def regression():
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 10, 300)
    y = np.where(rng.rand(300) < 0.5, 5 * x, 15 + 10 * x - x**2) + rng.normal(0, 3, 300)
    X = np.c_[x, x**2]
    return X, y, MoERegressor(2, n_init=2, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def classification():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, MoEClassifier(3, random_state=0).fit(X, y)


def _log_joint(model, X, y):
    """log g_k(x_i) + log p_k(y_i | x_i) from the public attributes, (n, K)."""
    log_gate = np.log(model.predict_gate(X))
    if isinstance(model, MoERegressor):
        means = X @ model.expert_coef_.T + model.expert_intercept_
        scales = np.sqrt(model.expert_variance_)
        return log_gate + stats.norm.logpdf(y[:, None], means, scales)
    logits = np.einsum("nd,kcd->nkc", X, model.expert_coef_)
    logits += model.expert_intercept_[None]
    log_proba = logits - special.logsumexp(logits, axis=2, keepdims=True)
    index = np.searchsorted(model.classes_, y)
    return log_gate + log_proba[np.arange(len(y)), :, index]


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_log_likelihood_samples_is_the_predictive_log_density(kind, request):
    X, y, model = request.getfixturevalue(kind)
    scores = model.log_likelihood_samples(X, y)
    if kind == "regression":
        expected = model.predict_distribution(X).logpdf(y)
    else:
        index = np.searchsorted(model.classes_, y)
        expected = np.log(model.predict_proba(X)[np.arange(len(y)), index])
    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores.sum(), model.log_likelihood_, rtol=1e-10)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_responsibilities_are_bayes_rule_over_the_experts(kind, request):
    X, y, model = request.getfixturevalue(kind)
    joint = _log_joint(model, X, y)
    expected = np.exp(joint - special.logsumexp(joint, axis=1, keepdims=True))
    resp = model.responsibilities(X, y)
    assert resp.shape == (len(y), model.n_experts_)
    np.testing.assert_allclose(resp, expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    # usage on the training data is the mean responsibility
    np.testing.assert_allclose(resp.mean(axis=0), model.expert_usage_, rtol=1e-8)


def test_responsibilities_with_top_k_keep_k_experts(regression):
    X, y, _ = regression
    model = MoERegressor(4, top_k=2, n_init=1, random_state=0).fit(X, y)
    resp = model.responsibilities(X, y)
    # written out: each row's two largest gate values of the fitted softmax,
    # renormalized, times the experts' normal densities
    log_gate = special.log_softmax(X @ model.gate_coef_.T + model.gate_intercept_, 1)
    top = np.argsort(-log_gate, axis=1)[:, :2]
    kept = np.full_like(log_gate, -np.inf)
    rows = np.arange(len(X))[:, None]
    kept[rows, top] = log_gate[rows, top]
    kept -= special.logsumexp(kept, axis=1, keepdims=True)
    means = X @ model.expert_coef_.T + model.expert_intercept_
    joint = kept + stats.norm.logpdf(y[:, None], means, np.sqrt(model.expert_variance_))
    log_likelihood = special.logsumexp(joint, axis=1)
    np.testing.assert_allclose(
        resp, np.exp(joint - log_likelihood[:, None]), rtol=1e-8, atol=1e-12
    )
    assert np.all(np.count_nonzero(resp, axis=1) <= 2)
    np.testing.assert_allclose(
        model.log_likelihood_samples(X, y), log_likelihood, rtol=1e-10
    )
    np.testing.assert_allclose(log_likelihood.sum(), model.log_likelihood_, rtol=1e-10)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_icl_is_bic_of_the_completed_data(kind, request):
    X, y, model = request.getfixturevalue(kind)
    joint = _log_joint(model, X, y)
    log_likelihood = special.logsumexp(joint, axis=1)
    assigned = np.max(joint, axis=1) - log_likelihood  # log r_i at its arg max
    n_features, n_experts = X.shape[1], model.n_experts_
    n_parameters = (n_experts - 1) * (n_features + 1)
    if kind == "regression":
        n_parameters += n_experts * (n_features + 2)
    else:
        n_parameters += n_experts * (len(model.classes_) - 1) * (n_features + 1)
    bic = -2 * log_likelihood.sum() + n_parameters * np.log(len(y))
    np.testing.assert_allclose(model.bic(X, y), bic, rtol=1e-10)
    np.testing.assert_allclose(model.icl(X, y), bic - 2 * assigned.sum(), rtol=1e-10)
    assert model.icl(X, y) >= model.bic(X, y)


def test_icl_prefers_separated_experts():
    # two regimes far apart in y: ICL and BIC choose 2 experts; on one noisy line
    # a second expert overlaps the first and ICL's entropy term penalizes it more
    rng = np.random.RandomState(1)
    X = rng.uniform(-1, 1, (400, 1))
    y = np.where(rng.rand(400) < 0.5, 10.0, -10.0) + X[:, 0] + rng.normal(0, 1, 400)
    fits = {k: MoERegressor(k, n_init=2, random_state=0).fit(X, y) for k in (1, 2)}
    assert fits[2].icl(X, y) < fits[1].icl(X, y)
    line = X[:, 0] + rng.normal(0, 1, 400)
    two = MoERegressor(2, n_init=2, random_state=0).fit(X, line)
    gap_icl = two.icl(X, line) - MoERegressor(1).fit(X, line).icl(X, line)
    gap_bic = two.bic(X, line) - MoERegressor(1).fit(X, line).bic(X, line)
    assert gap_icl > gap_bic > 0


@pytest.mark.parametrize(
    "method", ["log_likelihood_samples", "responsibilities", "icl"]
)
def test_per_sample_methods_check_their_input(method, regression, classification):
    X, y, model = regression
    with pytest.raises(NotFittedError):
        getattr(MoERegressor(), method)(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        getattr(model, method)(X, y[:10])
    with pytest.raises(ValueError, match="features"):
        getattr(model, method)(X[:, :1], y)
    X, y, clf = classification
    with pytest.raises(ValueError, match="unseen labels"):
        getattr(clf, method)(X, np.full(len(y), 7))
