"""gate="gaussian": the localized gate of Xu, Jordan & Hinton (1995).

Checked against densities from scipy.stats, weighted moments from NumPy, and the
joint likelihood that its EM must never lower.
"""

import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm, poisson
from sklearn.base import clone
from sklearn.mixture import GaussianMixture

from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor
from skmoe.exceptions import DegenerateFitWarning
from skmoe.gates.gaussian import REG_COVAR


def _inner_outer(n=1500, seed=0):
    """y is 0 for |x| < 1 and 3 outside: a middle regime no linear gate isolates."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    y = np.where(np.abs(X[:, 0]) < 1, 0.0, 3.0) + 0.1 * rng.randn(n)
    return X, y


def _blobs(n=600, seed=1):
    """Two correlated 2-D clusters with a different line in each."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(2, size=n)
    centers = np.array([[-2.0, 1.0], [2.0, -1.0]])
    mixing = np.array([[[1.0, 0.0], [0.6, 0.5]], [[0.7, 0.0], [-0.3, 1.2]]])
    X = centers[labels] + np.einsum("nij,nj->ni", mixing[labels], rng.randn(n, 2))
    slopes = np.array([[1.0, -2.0], [-1.5, 0.5]])
    y = np.sum(slopes[labels] * X, axis=1) + 0.2 * rng.randn(n)
    return X, y


def _full_covariances(model):
    """The gate's covariances as (K, d, d), from GaussianMixture's shapes."""
    covariances, (n_experts, d) = model.gate_covariances_, model.gate_means_.shape
    return {
        "full": lambda: covariances,
        "tied": lambda: np.broadcast_to(covariances, (n_experts, d, d)),
        "diag": lambda: covariances[:, :, None] * np.eye(d),
        "spherical": lambda: covariances[:, None, None] * np.eye(d),
    }[model.gate_covariance_type]()


def _gate_densities(model, X):
    """a_k N(x; m_k, S_k) from the fitted attributes, by scipy.stats."""
    return np.column_stack(
        [
            w * multivariate_normal(m, S).pdf(X)
            for w, m, S in zip(
                model.gate_weights_,
                model.gate_means_,
                _full_covariances(model),
                strict=True,
            )
        ]
    )


COVARIANCE_SHAPES = {
    "full": (2, 2, 2),
    "tied": (2, 2),
    "diag": (2, 2),
    "spherical": (2,),
}


@pytest.mark.parametrize("covariance_type", COVARIANCE_SHAPES)
def test_predict_gate_is_the_normalized_gaussian_densities(covariance_type):
    X, y = _blobs()
    model = MoERegressor(2, gate="gaussian", gate_covariance_type=covariance_type)
    model.set_params(random_state=0).fit(X, y)
    assert model.gate_weights_.shape == (2,)
    assert model.gate_means_.shape == (2, 2)
    assert model.gate_covariances_.shape == COVARIANCE_SHAPES[covariance_type]
    assert not hasattr(model, "gate_coef_")
    densities = _gate_densities(model, X)
    expected = densities / densities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_gate(X), expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.gate_weights_.sum(), 1.0)


def test_em_never_lowers_the_joint_likelihood_which_it_records():
    X, y = _blobs()
    model = MoERegressor(2, gate="gaussian", alpha=0.0, n_init=1, tol=0)
    model.set_params(max_iter=60, random_state=3, init_params="random").fit(X, y)
    objective = np.array(model.objective_history_)
    assert len(objective) > 10  # tol=0: until the objective stops changing
    assert np.all(np.diff(objective) >= -1e-10 * np.abs(objective[1:]))
    # the recorded objective is the joint log-likelihood of (x, y) per sample,
    # and log_likelihood_ the conditional one, both computed here by scipy
    means = model.expert_intercept_[None, :] + X @ model.expert_coef_.T
    log_expert = norm(means, np.sqrt(model.expert_variance_)).logpdf(y[:, None])
    log_joint = np.log(_gate_densities(model, X)) + log_expert
    np.testing.assert_allclose(
        objective[-1], np.mean(logsumexp(log_joint, axis=1)), rtol=1e-9
    )
    log_gate = np.log(model.predict_gate(X))
    conditional = np.sum(logsumexp(log_gate + log_expert, axis=1))
    np.testing.assert_allclose(model.log_likelihood_, conditional, rtol=1e-9)


def test_linear_gaussian_experts_reach_gaussian_mixture_on_x_and_y():
    # a joint Gaussian N([x, y]) factors into N(x; m, S) N(y; a + b.x, s2): with
    # linear-Gaussian experts the model is a full-covariance Gaussian mixture
    # of [x, y], whose maximum likelihood scikit-learn finds independently
    X, y = _blobs(n=2000)
    XY = np.column_stack([X, y])
    gmm = GaussianMixture(2, reg_covar=1e-12, tol=1e-12, max_iter=1000, n_init=3)
    gmm.set_params(random_state=0).fit(XY)
    model = MoERegressor(2, gate="gaussian", alpha=0.0, tol=1e-12, max_iter=1000)
    model.set_params(random_state=0).fit(X, y)
    ours, theirs = np.argsort(model.gate_means_[:, 0]), np.argsort(gmm.means_[:, 0])
    weights, means, covariances = (
        gmm.weights_[theirs],
        gmm.means_[theirs],
        gmm.covariances_[theirs],
    )
    np.testing.assert_allclose(model.gate_weights_[ours], weights, rtol=1e-6)
    np.testing.assert_allclose(model.gate_means_[ours], means[:, :2], atol=1e-6)
    variance = np.var(X, axis=0)
    np.testing.assert_allclose(
        model.gate_covariances_[ours] - np.diag(REG_COVAR * variance),
        covariances[:, :2, :2],
        rtol=1e-6,
    )
    for k, j in zip(ours, range(2), strict=True):
        S = covariances[j]
        slope = np.linalg.solve(S[:2, :2], S[:2, 2])
        np.testing.assert_allclose(model.expert_coef_[k], slope, rtol=1e-5)
        intercept = means[j, 2] - slope @ means[j, :2]
        np.testing.assert_allclose(model.expert_intercept_[k], intercept, atol=1e-6)
        variance_y = S[2, 2] - slope @ S[:2, 2]
        np.testing.assert_allclose(model.expert_variance_[k], variance_y, rtol=1e-5)
    np.testing.assert_allclose(model.objective_history_[-1], gmm.score(XY), rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_SHAPES)
def test_converged_gate_is_the_weighted_moments_of_x(covariance_type):
    # EM's fixed point: each expert's proportion, mean and covariance are the
    # responsibility-weighted moments of x (plus the diagonal loading), in the
    # covariance's form
    X, y = _blobs()
    weights = np.random.RandomState(5).uniform(0.5, 2.0, size=len(y))
    model = MoERegressor(2, gate="gaussian", alpha=0.0, tol=0, max_iter=300)
    model.set_params(gate_covariance_type=covariance_type, random_state=0)
    model.fit(X, y, sample_weight=weights)
    resp = model.responsibilities(X, y) * weights[:, None]
    shares = resp.sum(axis=0) / weights.sum()
    np.testing.assert_allclose(model.gate_weights_, shares, rtol=1e-7)
    mean = np.average(X, axis=0, weights=weights)
    loading = np.diag(REG_COVAR * np.average((X - mean) ** 2, axis=0, weights=weights))
    covariances = []
    for k in range(2):
        m = np.average(X, axis=0, weights=resp[:, k])
        np.testing.assert_allclose(model.gate_means_[k], m, rtol=1e-7, atol=1e-9)
        covariances.append(np.cov(X.T, aweights=resp[:, k], bias=True) + loading)
    covariances = np.array(covariances)
    expected = {
        "full": covariances,
        "tied": np.einsum("k,kij->ij", shares, covariances),
        "diag": np.diagonal(covariances, axis1=1, axis2=2),
        "spherical": np.diagonal(covariances, axis1=1, axis2=2).mean(axis=1),
    }[covariance_type]
    np.testing.assert_allclose(model.gate_covariances_, expected, rtol=1e-7)
    # bic, of y given x, counts the gate's identifiable parameters: with K = 2,
    # the differences of the two logits b_k + h_k.x - x'P_k x / 2, an intercept,
    # d = 2 slopes and the free entries of P_1 - P_0 (3 if full, 0 if tied, 2
    # if diagonal, 1 if spherical); and the experts' K (d + 1) coefficients and
    # K variances
    n_quadratic = {"full": 3, "tied": 0, "diag": 2, "spherical": 1}[covariance_type]
    n_parameters = 1 + 2 + n_quadratic + 6 + 2
    log_likelihood = model.log_likelihood_samples(X, y).sum()
    np.testing.assert_allclose(
        model.bic(X, y), -2 * log_likelihood + n_parameters * np.log(len(y))
    )


def test_diagonal_gate_and_constant_experts_reach_diagonal_gaussian_mixture():
    # with experts of constant means (expert_features=[]) and diagonal gate
    # covariances, the model is a diagonal Gaussian mixture of [x, y]
    X, y = _blobs(n=2000)
    XY = np.column_stack([X, y])
    gmm = GaussianMixture(2, covariance_type="diag", reg_covar=1e-12, tol=1e-12)
    gmm.set_params(max_iter=1000, n_init=3, random_state=0).fit(XY)
    model = MoERegressor(2, gate="gaussian", gate_covariance_type="diag")
    model.set_params(expert_features=[], alpha=0.0, tol=1e-12, max_iter=1000)
    model.set_params(random_state=0).fit(X, y)
    ours, theirs = np.argsort(model.gate_means_[:, 0]), np.argsort(gmm.means_[:, 0])
    np.testing.assert_allclose(
        model.gate_weights_[ours], gmm.weights_[theirs], rtol=1e-6
    )
    np.testing.assert_allclose(
        model.gate_means_[ours], gmm.means_[theirs, :2], atol=1e-6
    )
    variance = np.var(X, axis=0)
    np.testing.assert_allclose(
        model.gate_covariances_[ours] - REG_COVAR * variance,
        gmm.covariances_[theirs, :2],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        model.expert_intercept_[ours], gmm.means_[theirs, 2], atol=1e-6
    )
    np.testing.assert_allclose(
        model.expert_variance_[ours], gmm.covariances_[theirs, 2], rtol=1e-5
    )
    np.testing.assert_allclose(model.objective_history_[-1], gmm.score(XY), rtol=1e-8)


def test_localized_gate_isolates_a_middle_regime_a_softmax_gate_cannot():
    X, y = _inner_outer()
    X_test, y_test = _inner_outer(seed=1)
    scores = {}
    for gate in ("softmax", "gaussian"):
        model = MoERegressor(2, gate=gate, random_state=0).fit(X, y)
        scores[gate] = model.log_likelihood_samples(X_test, y_test).mean()
    # the gaussian gate puts one expert's narrow density on |x| < 1
    assert scores["gaussian"] > scores["softmax"] + 0.3
    model = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    inner = int(np.argmin(model.gate_covariances_[:, 0, 0]))
    np.testing.assert_allclose(model.expert_intercept_[inner], 0.0, atol=0.05)
    np.testing.assert_allclose(model.gate_means_[inner, 0], 0.0, atol=0.1)
    # a uniform on (-1, 1) has variance 1/3
    np.testing.assert_allclose(model.gate_covariances_[inner, 0, 0], 1 / 3, rtol=0.1)


def test_moving_the_features_moves_the_means_only():
    X, y = _blobs()
    shift = np.array([1e4, -3e3])
    model = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    moved = MoERegressor(2, gate="gaussian", random_state=0).fit(X + shift, y)
    np.testing.assert_allclose(moved.gate_means_, model.gate_means_ + shift, rtol=1e-9)
    np.testing.assert_allclose(
        moved.gate_covariances_, model.gate_covariances_, rtol=1e-6
    )
    np.testing.assert_allclose(
        moved.predict_gate(X + shift), model.predict_gate(X), rtol=1e-6, atol=1e-10
    )
    np.testing.assert_allclose(moved.predict(X + shift), model.predict(X), rtol=1e-6)


def test_gate_features_give_a_density_over_those_features_only():
    X, y = _blobs()
    noise = np.random.RandomState(2).randn(len(y), 1)
    X3 = np.hstack([noise, X])
    model = MoERegressor(2, gate="gaussian", gate_features=[1, 2], random_state=0)
    model.fit(X3, y)
    assert model.gate_means_.shape == (2, 2)
    assert model.gate_covariances_.shape == (2, 2, 2)
    densities = _gate_densities(model, X)
    expected = densities / densities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_gate(X3), expected, rtol=1e-8, atol=1e-12)
    # n_parameters: the gate's (K - 1)(1 + d + d(d + 1)/2) with d = 2 (the
    # differences of quadratic logits), and the experts' K (D + 1) coefficients
    # and K variances with D = 3
    n_parameters = 1 * (1 + 2 + 3) + 2 * 4 + 2
    expected_bic = -2 * model.log_likelihood_samples(X3, y).sum() + n_parameters * (
        np.log(len(y))
    )
    np.testing.assert_allclose(model.bic(X3, y), expected_bic, rtol=1e-10)


def test_no_gate_features_is_the_constant_gate():
    X, y = _blobs(n=300)
    gaussian = MoERegressor(2, gate="gaussian", gate_features=[], random_state=0)
    constant = MoERegressor(2, gate="constant", random_state=0)
    gaussian.fit(X, y)
    constant.fit(X, y)
    assert gaussian.gate_means_.shape == (2, 0)
    proportions = np.exp(constant.gate_intercept_)
    proportions /= proportions.sum()
    np.testing.assert_allclose(gaussian.gate_weights_, proportions, rtol=1e-8)
    np.testing.assert_allclose(gaussian.predict(X), constant.predict(X), rtol=1e-8)
    np.testing.assert_allclose(gaussian.bic(X, y), constant.bic(X, y), rtol=1e-10)


def test_pruning_and_pickling_keep_the_gate():
    X, y = _blobs()
    model = MoERegressor(3, gate="gaussian", random_state=0).fit(X, y)
    keep = np.argsort(model.expert_usage_)[1:]
    pruned = model.prune_experts(np.sort(model.expert_usage_)[1])
    gate = model.predict_gate(X)[:, np.sort(keep)]
    np.testing.assert_allclose(
        pruned.predict_gate(X), gate / gate.sum(axis=1, keepdims=True), rtol=1e-7
    )
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_warm_start_continues_and_a_changed_gate_is_refused():
    X, y = _blobs()
    model = MoERegressor(2, gate="gaussian", warm_start=True, random_state=0)
    model.set_params(max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
        first = model.objective_history_[-1]
        model.fit(X, y)
    # the second fit starts where the first stopped: its first iteration is no
    # lower than the first fit's last
    assert model.objective_history_[0] >= first - 1e-12
    model.set_params(gate="softmax")
    with pytest.raises(ValueError, match="warm_start=True continues the fitted"):
        model.fit(X, y)
    assert hasattr(model, "gate_means_")  # unchanged by the refused fit
    refit = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    refit.set_params(gate="softmax").fit(X, y)
    assert hasattr(refit, "gate_coef_") and not hasattr(refit, "gate_means_")


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_gradient_solvers_are_refused(solver):
    X, y = _blobs(n=100)
    model = MoERegressor(2, gate="gaussian", solver=solver)
    with pytest.raises(ValueError, match="gate='gaussian' is fitted by EM only"):
        model.fit(X, y)


def test_std_errors_are_refused():
    X, y = _blobs(n=200)
    model = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not available for gate='gaussian'"):
        model.std_errors(X, y)


def test_classifier_with_a_gaussian_gate():
    X, labels = _blobs(n=600)
    classes = (labels > np.median(labels)).astype(int)
    model = MoEClassifier(2, gate="gaussian", alpha=0.0, tol=0, max_iter=40)
    model.set_params(random_state=0).fit(X, classes)
    assert np.all(np.diff(model.objective_history_) >= -1e-10)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # predict_proba is the gate-weighted experts' probabilities, computed here
    logits = model.expert_intercept_[None] + np.einsum(
        "nd,kcd->nkc", X, model.expert_coef_
    )
    expert_proba = np.exp(logits - logsumexp(logits, axis=2, keepdims=True))
    expected = np.einsum("nk,nkc->nc", model.predict_gate(X), expert_proba)
    np.testing.assert_allclose(proba, expected, rtol=1e-8, atol=1e-12)


def test_poisson_regressor_with_a_gaussian_gate():
    X, _ = _inner_outer(n=1000)
    rng = np.random.RandomState(4)
    y = rng.poisson(np.where(np.abs(X[:, 0]) < 1, 20.0, 2.0))
    model = MoEPoissonRegressor(2, gate="gaussian", random_state=0).fit(X, y)
    rates = np.exp(model.expert_intercept_[None] + X @ model.expert_coef_.T)
    gate = model.predict_gate(X)
    np.testing.assert_allclose(model.predict(X), np.sum(gate * rates, axis=1))
    expected = np.sum(logsumexp(np.log(gate) + poisson(rates).logpmf(y[:, None]), 1))
    np.testing.assert_allclose(model.log_likelihood_, expected, rtol=1e-9)
    inner = int(np.argmin(model.gate_covariances_[:, 0, 0]))
    np.testing.assert_allclose(rates[np.abs(X[:, 0]) < 0.5, inner], 20.0, rtol=0.2)


def test_sparse_routing_with_a_gaussian_gate():
    X, y = _blobs()
    model = MoERegressor(2, gate="gaussian", top_k=1, random_state=0).fit(X, y)
    gate = model.predict_gate(X)
    assert np.all(np.count_nonzero(gate, axis=1) == 1)
    chosen = np.argmax(_gate_densities(model, X), axis=1)
    np.testing.assert_array_equal(np.argmax(gate, axis=1), chosen)


def test_float32_fit_agrees_with_float64():
    X, y = _blobs()
    model = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    single = MoERegressor(2, gate="gaussian", random_state=0)
    single.fit(X.astype(np.float32), y.astype(np.float32))
    assert single.predict(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(single.gate_means_, model.gate_means_, atol=1e-3)
    np.testing.assert_allclose(
        single.predict(X.astype(np.float32)), model.predict(X), rtol=1e-3, atol=1e-3
    )


def test_degenerate_inputs_give_finite_fits():
    rng = np.random.RandomState(0)
    # a constant feature, duplicated rows and more experts than clusters
    X = np.column_stack([np.repeat(rng.randn(30), 4), np.full(120, 7.0)])
    y = np.repeat(rng.randn(30), 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(4, gate="gaussian", random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.gate_covariances_))
    assert np.all(np.isfinite(model.predict(X)))
    # the constant feature's loading is the same for every expert, so moving
    # off its value changes no gate value
    np.testing.assert_allclose(
        model.predict_gate(X + np.array([0.0, 1e-3])), model.predict_gate(X), rtol=1e-6
    )


def test_a_discrete_gate_feature_does_not_take_over_the_fit():
    # a binary feature unrelated to y: splitting an expert on it makes its
    # density of x collapse (unbounded joint likelihood); restarts that did not
    # collapse are kept first. Before, held-out R^2 was -0.72 to 0.42 here.
    rng = np.random.RandomState(0)

    def data(n):
        x, b = rng.uniform(-3, 3, n), rng.randint(2, size=n).astype(float)
        y = np.where(np.abs(x) < 1, 0.0, 3.0) + 0.1 * rng.randn(n)
        return np.column_stack([x, b]), y

    X, y = data(1500)
    X_test, y_test = data(2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no collapse is kept, so no warning
        model = MoERegressor(3, gate="gaussian", random_state=0).fit(X, y)
    assert model.score(X_test, y_test) > 0.85
    assert np.min(model.gate_covariances_[:, 1, 1]) > 0.2  # b's variance is 1/4


def test_a_collapse_no_restart_avoids_warns():
    # y = 3 b x: the experts must split on the binary b, and their densities
    # of b collapse onto its two values
    rng = np.random.RandomState(0)
    b, x = rng.randint(2, size=600).astype(float), rng.randn(600)
    y = 3 * b * x + 0.1 * rng.randn(600)
    X = np.column_stack([x, b])
    model = MoERegressor(2, gate="gaussian", random_state=0)
    with pytest.warns(UserWarning, match=r"Experts \[0, 1\] of the kept run collapsed"):
        model.fit(X, y)
    variance_b = np.var(b)
    np.testing.assert_allclose(
        model.gate_covariances_[:, 1, 1], REG_COVAR * variance_b, rtol=1e-3
    )
    assert model.score(X, y) > 0.99  # the fit of y given X is sound


def test_rows_of_zero_weight_do_not_make_a_feature_vary_for_the_collapse_check():
    # a feature constant but for 5 rows of weight 0: the fit equals the fit
    # without those rows, but only the weighted one warned of a collapse
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (200, 2))
    y = np.where(np.abs(X[:, 0]) < 1, 0.0, 3.0) + 0.1 * rng.randn(200)
    X[:, 1] = 1.0
    X[:5, 1] = rng.randn(5)
    weight = np.ones(200)
    weight[:5] = 0.0
    model = MoERegressor(2, gate="gaussian", n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        weighted = clone(model).fit(X, y, sample_weight=weight)
        dropped = clone(model).fit(X[5:], y[5:])
    np.testing.assert_allclose(weighted.predict(X[5:]), dropped.predict(X[5:]))


def test_collinear_gate_features_are_not_a_collapse():
    # x and 2x: every expert has only its loading along (2, -1), where all the
    # data lie flat; each was flagged as collapsed although the fit equals the
    # one on x alone (R^2 0.868855 and 0.868854)
    rng = np.random.RandomState(0)
    x = rng.uniform(-3, 3, 200)
    y = np.where(np.abs(x) < 1, 0.0, 3.0) + 0.1 * rng.randn(200)
    model = MoERegressor(3, gate="gaussian", gate_covariance_type="tied", n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        one = clone(model).set_params(random_state=0).fit(x[:, None], y)
        two = clone(model).set_params(random_state=0).fit(np.c_[x, 2 * x], y)
    assert two.score(np.c_[x, 2 * x], y) == pytest.approx(
        one.score(x[:, None], y), abs=1e-4
    )


def test_float32_fit_predicts_what_it_fitted():
    # the gate is stored as the precisions' Cholesky factors: factorizing
    # stored float32 covariances again failed (LinAlgError in predict)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:1200].astype(np.float32)
    model = MoEClassifier(8, gate="gaussian", n_init=1, max_iter=20, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y[:1200])
    np.testing.assert_allclose(
        model.log_likelihood_samples(X, y[:1200]).sum(),
        model.log_likelihood_,
        rtol=1e-5,
    )
    assert model.predict(X).shape == (1200,)


def test_refits_that_cannot_continue_the_gate_are_refused():
    X, y = _blobs(n=300)
    model = MoERegressor(2, gate="gaussian", gate_features=[0], warm_start=True)
    model.set_params(random_state=0).fit(X, y)
    means = model.gate_means_.copy()
    model.set_params(gate_features=[0, 1])
    with pytest.raises(ValueError, match="densities are over the gate features"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.gate_means_, means)
    fitted = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    fitted.set_params(gate="softmax", solver="sgd")
    with pytest.raises(ValueError, match="partial_fit continues the fitted"):
        fitted.partial_fit(X, y)
    assert hasattr(fitted, "gate_means_") and not hasattr(fitted, "gate_coef_")


def test_float32_covariances_of_nearly_collinear_features_factorize():
    # the digits' pixels: in float32, rounding left an expert's covariance
    # numerically indefinite (Cholesky failed) before the growing jitter
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    model = MoEClassifier(4, gate="gaussian", n_init=1, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:1200].astype(np.float32), y[:1200])
    assert np.all(np.isfinite(model.gate_covariances_))
    assert model.score(X[1200:].astype(np.float32), y[1200:]) > 0.85


def test_features_too_small_for_their_squares_are_refused():
    # a variance below 1e6 times float64's smallest normal number: squares of
    # small deviations are subnormal (the softmax gate fitted X * 1e-154 at R^2
    # 0.72 instead of 0.996), and so would be the gaussian gate's covariance
    # loading (1e-6 of the variance)
    X, y = _blobs(n=200)
    for gate in ("softmax", "gaussian"):
        model = MoERegressor(2, gate=gate, alpha=0.0, random_state=0)
        with pytest.raises(ValueError, match=r"squares underflow float64 \(their"):
            model.fit(X * 1e-154, y)
        scaled = model.fit(X, y).score(X, y)
        assert abs(model.fit(X * 1e-140, y).score(X * 1e-140, y) - scaled) < 1e-3


@pytest.mark.parametrize("covariance_type", COVARIANCE_SHAPES)
def test_gate_log_density_is_the_input_mixture_density(covariance_type):
    X, y = _blobs()
    noise = np.random.RandomState(2).randn(len(y), 1)
    X3 = np.hstack([X, noise])
    model = MoERegressor(2, gate="gaussian", gate_features=[0, 1], alpha=0.0)
    model.set_params(gate_covariance_type=covariance_type, random_state=0)
    model.fit(X3, y)
    expected = np.log(_gate_densities(model, X).sum(axis=1))
    np.testing.assert_allclose(model.gate_log_density(X3), expected, rtol=1e-10)
    # EM's objective is the joint log-likelihood: the conditional one plus this
    joint = (model.log_likelihood_ + expected.sum()) / len(y)
    np.testing.assert_allclose(model.objective_history_[-1], joint, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_SHAPES)
def test_gate_log_density_far_out_where_only_its_square_overflowed(covariance_type):
    # an input whose whitened distance z from every mean is 1.4e154 to 1.9e154:
    # z * z overflowed, and gate_log_density refused "log p(x)" of -1e308 to
    # -1.8e308 (a float); where z^2 / 2 is not a float it still refuses
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=300)
    model = MoERegressor(2, gate="gaussian", gate_covariance_type=covariance_type)
    model.set_params(random_state=0).fit(X, y)
    weights, means = model.gate_weights_, model.gate_means_[:, 0]
    variances = np.broadcast_to(np.ravel(model.gate_covariances_), weights.shape)

    def exact(x):
        # log sum_k w_k N(x; m_k, v_k), from the fitted parameters
        with mpmath.workdps(40):
            return _log_sum(x)

    def _log_sum(x):
        terms = [
            mpmath.log(w) - mpmath.log(2 * mpmath.pi * v) / 2 - (x - m) ** 2 / (2 * v)
            for w, m, v in zip(
                *(map(mpmath.mpf, a) for a in (weights, means, variances)), strict=True
            )
        ]
        return mpmath.log(mpmath.fsum(mpmath.exp(t - max(terms)) for t in terms)) + max(
            terms
        )

    widest = float(np.sqrt(variances.max()))  # (the other's logit is -inf)
    largest = np.finfo(np.float64).max
    for z in (1.4e154, 1.6e154, 1.85e154):
        x = z * widest
        reference = exact(mpmath.mpf(x))
        assert -largest < reference < -0.9e308  # a float
        got = model.gate_log_density([[x]])[0]
        assert abs(got - float(reference)) <= 1e-13 * abs(float(reference))
    x = 1.95e154 * widest  # z^2 / 2 beyond the largest float
    assert exact(mpmath.mpf(x)) < -largest
    with pytest.raises(ValueError, match="overflow float64"):
        model.gate_log_density([[x]])


def test_gate_log_density_needs_the_gaussian_gate():
    X, y = _blobs(n=200)
    assert hasattr(MoERegressor(2, gate="gaussian"), "gate_log_density")
    softmax = MoERegressor(2, random_state=0)
    assert not hasattr(softmax, "gate_log_density")
    with pytest.raises(AttributeError, match="gate_log_density") as caught:
        softmax.fit(X, y).gate_log_density(X)
    assert "needs gate='gaussian'" in str(caught.value.__cause__)
    fitted = MoERegressor(2, gate="gaussian", random_state=0).fit(X, y)
    fitted.set_params(gate="softmax")  # the fitted gate still models x
    assert fitted.gate_log_density(X).shape == (200,)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_logits_in_blocks_of_samples_equal_one_pass(covariance_type, monkeypatch):
    import skmoe.gates.gaussian as gaussian

    X, y = _blobs(n=300)
    model = MoERegressor(3, gate="gaussian", gate_covariance_type=covariance_type)
    model.set_params(random_state=0).fit(X, y)
    whole = model.predict_gate(X)
    monkeypatch.setattr(gaussian, "LOGIT_BLOCK", 7)  # blocks of 1 or 2 samples
    np.testing.assert_allclose(model.predict_gate(X), whole, rtol=1e-12, atol=1e-15)
    densities = _gate_densities(model, X)
    np.testing.assert_allclose(
        whole, densities / densities.sum(axis=1, keepdims=True), rtol=1e-8, atol=1e-300
    )


def test_e_step_gives_log_p_x_from_the_same_logits(monkeypatch):
    # EM's objective takes log p(x) from the E-step's logits (evaluating them
    # again took a quarter of an iteration): in one pass or in blocks, it is
    # the density gate_log_density computes
    import skmoe._em as em
    from skmoe._em import EMProblem, e_step
    from skmoe._math import design_matrix

    X, y = _blobs(n=3000)
    model = MoERegressor(3, gate="gaussian", random_state=0).fit(X, y)
    experts, expert_params = model._experts_from_attributes()
    problem = EMProblem(
        design_matrix(np, X), y, np.ones(len(y)), model._fitted_gate(), experts, 0.0
    )
    gate_params = model._gate_params(np, problem.design)
    whole = e_step(problem, gate_params, expert_params, with_marginal=True)
    np.testing.assert_allclose(whole[3], model.gate_log_density(X), rtol=1e-12)
    plain = e_step(problem, gate_params, expert_params)
    for a, b in zip(plain, whole[:3], strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(em, "E_STEP_BLOCK", 3 * 1000)  # blocks of 1024 samples
    blocked = e_step(problem, gate_params, expert_params, with_marginal=True)
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_a_gate_on_no_features_is_constant_without_numpy_warnings(covariance_type):
    # spherical's mean over zero features warned "Mean of empty slice"
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(40)
    model = MoERegressor(
        2,
        gate="gaussian",
        gate_covariance_type=covariance_type,
        gate_features=[],
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, y)
    gate = model.predict_gate(X)
    np.testing.assert_allclose(gate, np.broadcast_to(gate[:1], gate.shape))


@pytest.mark.parametrize("top_k", [None, 2])
def test_a_tied_gate_far_from_the_data_is_its_linear_softmax(top_k):
    # with one covariance S the logits' quadratic |x|^2_S / 2 is the same for
    # every expert, so the gate is the softmax of log a_k + m_k' S^-1 x -
    # m_k' S^-1 m_k / 2; computed with the quadratic, its differences were
    # rounded away at x = 1e20: every expert's gate was 1, predict the sum
    X, y = _blobs(n=400)
    model = MoERegressor(3, gate="gaussian", gate_covariance_type="tied")
    model.set_params(random_state=0, top_k=top_k).fit(X, y)
    precision = np.linalg.inv(model.gate_covariances_)
    means = model.gate_means_
    linear = means @ precision  # (K, d)
    bias = np.log(model.gate_weights_) - 0.5 * np.sum(linear * means, axis=1)
    directions = np.array([[1.0, 0.3], [-1.0, 0.2], [0.1, -1.0], [-0.4, 1.0]])
    for scale in (3.0, 30.0, 1e10, 1e20, 1e100):
        X_far = scale * directions
        logits = bias + X_far @ linear.T
        if top_k is not None:  # the sparse gate: the 2 largest, renormalized
            smallest = np.argsort(logits, axis=1)[:, :1]
            np.put_along_axis(logits, smallest, -np.inf, axis=1)
        expected = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        gate = model.predict_gate(X_far)
        np.testing.assert_allclose(gate.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(gate, expected, rtol=1e-6, atol=1e-12)
        experts = X_far @ model.expert_coef_.T + model.expert_intercept_
        np.testing.assert_allclose(
            model.predict(X_far), np.sum(expected * experts, axis=1), rtol=1e-6
        )


def test_log_softmax_of_equal_huge_logits_sums_to_one():
    # a - logsumexp(a) rounds log(K) away beyond 1e16: each log weight was 0
    from skmoe._math import log_softmax

    for logits in ([-1e40, -1e40, -1e40], [1e300, 1e300], [-3.0, 7.0, 2.0]):
        a = np.array(logits)
        for axis, shaped in ((0, a[:, None]), (1, a[None, :])):
            out = np.exp(log_softmax(np, shaped, axis=axis)).ravel()
            expected = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
            np.testing.assert_allclose(out, expected, rtol=1e-14)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_float32_gate_of_features_far_from_the_origin(covariance_type):
    # W_k x - W_k m_k cancelled features near 2000 in float32 (fitting centres
    # them, predict did not): gates 1.8e-4 off, 5.7e-3 near 1e5
    from scipy.special import log_softmax

    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(400, 2))
    y = np.where(np.hypot(*X.T) < 1.5, 0.0, 3.0) + X[:, 0] + 0.3 * rng.randn(400)
    for offset in (2000.0, 1e5):
        X32 = (X + offset).astype(np.float32)
        model = MoERegressor(
            3, gate="gaussian", gate_covariance_type=covariance_type, random_state=0
        ).fit(X32, y.astype(np.float32))
        # the gate of the model's own float32 parameters, in float64
        U = np.asarray(model.gate_precisions_cholesky_, dtype=float)
        if covariance_type == "diag":
            U = np.stack([np.diag(u) for u in U])
        means = model.gate_means_.astype(float)
        weights = model.gate_weights_.astype(float)
        x = X32.astype(float)
        logits = np.stack(
            [
                np.log(weights[k])
                + np.log(np.diag(U[k])).sum()
                - 0.5 * (((x - means[k]) @ U[k]) ** 2).sum(axis=1)
                for k in range(3)
            ],
            axis=1,
        )
        expected = np.exp(log_softmax(logits, axis=1))
        np.testing.assert_allclose(model.predict_gate(X32), expected, atol=1e-6)


def _unchecked_cholesky(a):
    """LAPACK's unblocked ``potf2`` (lower) without its error: where a pivot
    is not positive the factorization stops and leaves it on the diagonal, the
    rest of the lower triangle as it was (what CuPy returns for a matrix that
    is not positive definite, outside ``cupyx.errstate(linalg="raise")``)."""
    out = np.tril(np.array(a, dtype=np.float64))
    for L in out.reshape(-1, *out.shape[-2:]):
        for j in range(L.shape[0]):
            pivot = L[j, j] - L[j, :j] @ L[j, :j]
            if not pivot > 0:
                L[j, j] = pivot
                break
            L[j, j] = np.sqrt(pivot)
            L[j + 1 :, j] = (L[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return out


def _untouched_pivot_cholesky(a):
    """As :func:`_unchecked_cholesky`, but the failed pivot's entry left as it
    was (positive): an implementation whose output after a failure is not
    documented (cuSOLVER's) may leave any of these."""
    out = np.tril(np.array(a, dtype=np.float64))
    done = _unchecked_cholesky(a)
    for L, D, A in zip(
        done.reshape(-1, *a.shape[-2:]),
        out.reshape(-1, *a.shape[-2:]),
        np.reshape(a, (-1, *a.shape[-2:])),
        strict=True,
    ):
        D[...] = L
        for j in range(L.shape[0]):
            if not L[j, j] > 0:
                D[j, j] = A[j, j]
                break
    return out


class _SilentLinalg:
    """A NumPy namespace whose ``linalg.cholesky`` does not raise (CuPy's)."""

    def __init__(self, cholesky=_unchecked_cholesky):
        import array_api_compat.numpy as xnp

        self._xp = xnp
        self.linalg = SimpleNamespace(cholesky=cholesky, inv=xnp.linalg.inv)

    def __getattr__(self, name):
        return getattr(self._xp, name)


def test_whitening_detects_a_failed_cholesky_that_does_not_raise():
    # the second covariance's smallest eigenvalue is -1e-13 of its diagonal:
    # the jitter's first two tries (4 eps, 400 eps) leave it indefinite, the
    # third (4e4 eps) factors it. A namespace whose cholesky returns the
    # partial factor (a negative pivot on its diagonal, every entry finite)
    # took the first try's, whose inverse is no whitening of the covariance
    import array_api_compat.numpy as xnp

    from skmoe.gates.gaussian import _whitening

    delta = 1e-13
    covariances = np.array(
        [[[2.0, 0.3], [0.3, 1.0]], [[1.0, 1.0 + delta], [1.0 + delta, 1.0]]]
    )
    loading = np.zeros(2)
    with pytest.raises(np.linalg.LinAlgError):  # the first try's, on NumPy
        np.linalg.cholesky(covariances + 4 * np.finfo(float).eps * np.eye(2))
    assert np.all(np.isfinite(_unchecked_cholesky(covariances)))
    want = _whitening(xnp, covariances, loading)
    # (a failed pivot left positive: only rebuilding the matrix shows it)
    untouched = _untouched_pivot_cholesky(covariances)
    assert np.all(np.diagonal(untouched, axis1=1, axis2=2) > 0)
    for cholesky in (_unchecked_cholesky, _untouched_pivot_cholesky):
        got = _whitening(_SilentLinalg(cholesky), covariances, loading)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # the third try's jitter, 4e4 eps of each diagonal entry, whitened (to
    # the rounding of a condition number of 2e11)
    jitter = 4e4 * np.finfo(float).eps * np.eye(2)
    for W, S in zip(got, covariances, strict=True):
        np.testing.assert_allclose(W @ (S + jitter) @ W.T, np.eye(2), atol=1e-4)


def test_whitening_of_features_on_scales_far_apart():
    # an expert's covariance from a fit on features of scales 1e-9 to 1e75
    # (two of them anti-correlated within the expert, their loading far above
    # its own variance): inv(L) gave W S W^T 3e59 off I (in the fit, with the
    # loading's full digits, a negative diagonal and a FloatingPointError)
    from skmoe.gates.gaussian import _whitening

    covariance = np.array(
        [
            [8.7108596421874687e0, 3.431013033025451e-10],
            [1.8091653710453195e59, -3.1384016410766066e41],
            [3.431013033025451e-10, 7.3432370807569096e-19],
            [-1.2706657892994189e49, 2.2042537748183011e31],
            [1.8091653710453195e59, -1.2706657892994189e49],
            [8.1834765197403529e149, -1.4196068833898569e132],
            [-3.1384016410766066e41, 2.2042537748183011e31],
            [-1.4196068833898569e132, 2.4626253872746544e114],
        ]
    ).reshape(4, 4)
    loading = np.array([9.28e-06, 6.36e-25, 2.08e177, 2.09e141])
    whiten = _whitening(np, covariance[None], loading)[0]
    jitter = loading + 4 * np.finfo(np.float64).eps * np.diagonal(covariance)
    matrix = covariance + np.diag(jitter)
    # the inverse Cholesky factor, by a triangular solve in units of the
    # matrix's own diagonal
    scale = np.sqrt(np.diagonal(matrix))
    factor = np.linalg.cholesky(matrix / np.outer(scale, scale)) * scale[:, None]
    expected = solve_triangular(factor, np.eye(4), lower=True)
    assert np.all(np.diagonal(whiten) > 0)
    np.testing.assert_allclose(whiten @ matrix @ whiten.T, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(
        whiten / np.diagonal(expected), expected / np.diagonal(expected), atol=1e-12
    )


@pytest.mark.parametrize("init", [True, False])
def test_a_huge_outlier_feature_leaves_the_gate_invariant_to_its_scale(init):
    # one value of 1e90 in a column of N(0, 1): the collapse check inverted a
    # precision 1e31 apart on its diagonal (LinAlgError: Singular matrix), and
    # from given responsibilities EM went elsewhere than on the column scaled by
    # 1e-80 (the gate 0.95 apart); the model of x, loading included, does not
    # depend on the features' scales
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    X[0, 1] = 1e90
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.standard_normal(40)
    start = np.eye(2)[(X[:, 0] > 0).astype(int)] * 0.8 + 0.1 if init else None
    scales = np.array([1.0, 1e-80])
    fits = []
    for data in (X, X * scales):
        model = MoERegressor(
            2, gate="gaussian", n_init=1, alpha=0.0, tol=1e-10, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateFitWarning)
            model.fit(data, y, init_responsibilities=start)
        fits.append((model, data))
    (big, X_big), (small, X_small) = fits
    np.testing.assert_allclose(
        big.predict_gate(X_big), small.predict_gate(X_small), atol=1e-8
    )
    np.testing.assert_allclose(big.predict(X_big), small.predict(X_small), atol=1e-8)
    # covariances in the features' units: S_big = diag(1/scales) S_small diag(1/scales)
    expected = small.gate_covariances_ / np.outer(scales, scales)
    sd = np.sqrt(np.diagonal(expected, axis1=1, axis2=2))
    np.testing.assert_allclose(
        big.gate_covariances_ / (sd[:, :, None] * sd[:, None, :]),
        expected / (sd[:, :, None] * sd[:, None, :]),
        atol=1e-8,
    )
    assert np.all(np.isfinite(big.gate_covariances_))


def test_float32_features_whose_squares_sum_past_its_range():
    # two columns near 1.7e19 in float32: each square fits, their sum does not;
    # the start's placeholder gate (unit whitening) took every logit to -inf
    # and gave RuntimeWarnings (overflow, divide by zero, invalid value)
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((100, 2))
    y = np.where(Z[:, 0] > 0, 2 * Z[:, 0], -Z[:, 0]) + 0.1 * rng.standard_normal(100)
    scales = np.array([7e18, 7e18, 1.0])
    X = (np.column_stack([Z[:, 0], Z[:, 0], Z[:, 1]]) * scales).astype(np.float32)
    model = MoERegressor(2, gate="gaussian", n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model.fit(X, y)
        gate = model.predict_gate(X)
    # the same model on the columns in unit scale, in float64 (the gate's model
    # of x does not depend on the features' scales; a float32 fit of the unit
    # columns, duplicated, is itself 8e-3 from it)
    unit = X.astype(np.float64) / scales
    reference = MoERegressor(2, gate="gaussian", n_init=1, random_state=0).fit(unit, y)
    np.testing.assert_allclose(gate, reference.predict_gate(unit), atol=2e-2)


def test_collapse_check_of_a_spherical_gate_on_features_far_apart():
    # a spherical covariance over features of scales 1, 1e-150 and 1e150 is,
    # in units of the 1e-150 feature's variance, 1e600: eigvalsh of it raised
    # LinAlgError in the collapse check (and so in fit). Independent features
    # span every direction, so the smallest eigenvalue of S~_k is the variance
    # over the largest feature variance: 1e-6 (collapsed) and 1 (not)
    from skmoe.gates.gaussian import GaussianGate

    rng = np.random.default_rng(0)
    n = 400
    X = rng.standard_normal((3, n)) * np.array([1.0, 1e-150, 1e150])[:, None]
    design = np.vstack([np.ones(n), X])
    largest = np.var(X[2])
    variances = np.array([1e-6, 1.0]) * largest
    whiten = np.eye(3)[None] / np.sqrt(variances)[:, None, None]
    params = {"coef": np.zeros((4, 2)), "whiten": whiten}
    weight = np.ones(n)
    got = GaussianGate("spherical").collapsed(np, design, weight, params)
    np.testing.assert_array_equal(got, [0])
    # a fourth feature twice the third: the data are flat along one direction
    # of the pair, and within the span the smallest eigenvalue is at most the
    # variance over the largest feature variance (along the pair's span, (1, 1)
    # in units of theirs: 5/8 of it), 1e-6 or 1; eigvalsh of S~_k within the
    # span flagged both experts (features 1e50 apart) or raised LinAlgError
    for scales in ([1.0, 1e-50, 1e50], [1e150, 1e-150, 1.0]):
        Z = rng.standard_normal((3, n)) * np.array(scales)[:, None]
        Z = np.vstack([Z, 2 * Z[2]])
        design = np.vstack([np.ones(n), Z])
        largest = max(np.var(Z[0]), np.var(Z[1]), np.var(Z[2]))
        variances = np.array([1e-6, 1.0]) * largest
        whiten = np.eye(4)[None] / np.sqrt(variances)[:, None, None]
        params = {"coef": np.zeros((5, 2)), "whiten": whiten}
        got = GaussianGate("spherical").collapsed(np, design, weight, params)
        np.testing.assert_array_equal(got, [0])
    # the same fit as an estimator: no LinAlgError, finite covariances
    y = np.where(X[0] > 0, 2 * X[0], -X[0]) + 0.1 * rng.standard_normal(n)
    model = MoERegressor(
        2, gate="gaussian", gate_covariance_type="spherical", n_init=1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X.T, y)
    assert np.all(np.isfinite(model.gate_covariances_))
    assert np.all(np.isfinite(model.predict_gate(X.T)))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("n_samples", [1, 2, 3001])
def test_route_picks_the_top_k_densities_over_blocks(
    covariance_type, n_samples, monkeypatch
):
    # the gate's logits in blocks of 7 samples (work arrays reused across
    # blocks, routing in blocks of 1000): each sample's k experts are those of
    # largest a_k N(x; m_k, S_k) (scipy's density), their log weights the
    # log-softmax of those alone
    import skmoe._sparse
    import skmoe.gates.gaussian as gaussian

    monkeypatch.setattr(gaussian, "LOGIT_BLOCK", 7 * 6 * 3)
    monkeypatch.setattr(skmoe._sparse, "ROUTE_BLOCK", 1000)
    rng = np.random.RandomState(0)
    n_experts, k, d = 6, 3, 3
    X = rng.standard_normal((n_samples, d))
    gate = gaussian.GaussianGate(covariance_type)
    train = rng.standard_normal((300, d))
    resp = rng.dirichlet(np.ones(n_experts), size=300).T
    design = np.vstack([np.ones(300), train.T])
    params = gate.m_step(
        np,
        design,
        resp / 300,
        None,
        None,
        0.0,
        gate.prepare(np, design, np.full(300, 1 / 300), 0.0),
    )
    index, log_weight = gate.route(np, np.vstack([np.ones(n_samples), X.T]), params, k)
    factor = gaussian._cholesky_factor(params["whiten"])
    log_dens = np.stack(
        [
            multivariate_normal(params["coef"][1:, j], factor[j] @ factor[j].T).logpdf(
                X
            )
            for j in range(n_experts)
        ]
    ).reshape(n_experts, n_samples)
    weights = np.exp(
        params["coef"][0]
        - np.log(np.diagonal(params["whiten"], axis1=1, axis2=2)).sum(axis=1)
    )
    scores = log_dens + np.log(weights / weights.sum())[:, None]
    expected = np.argsort(-scores, axis=0, kind="stable")[:k]
    np.testing.assert_array_equal(index, expected)
    chosen = np.take_along_axis(scores, expected, axis=0)
    np.testing.assert_allclose(
        log_weight, chosen - logsumexp(chosen, axis=0), rtol=1e-9, atol=1e-9
    )
