"""MoERegressor(variance_type="tied"): one noise variance shared by the experts."""

import warnings

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from skmoe import MoERegressor
from skmoe._math import design_matrix
from skmoe.exceptions import SkmoeWarning
from skmoe.experts import GaussianLinearExperts


def _crossing_lines(n=1000, seed=0):
    """Two populations, y = 2 x and y = 1 - x, with the same noise sd 0.5."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, (n, 1))
    first = rng.rand(n) < 0.5
    y = np.where(first, 2 * X[:, 0], 1 - X[:, 0]) + 0.5 * rng.randn(n)
    return X, y


def test_tied_variance_is_the_pooled_residual_variance_at_the_optimum():
    X, y = _crossing_lines()
    model = MoERegressor(
        2, gate="constant", variance_type="tied", alpha=0.0, tol=1e-12, random_state=0
    ).fit(X, y)
    variance = model.expert_variance_
    assert variance[0] == variance[1]
    # the EM fixed point: sum_ik r_ik (y_i - mu_ik)^2 / n with the responsibilities
    # of the fitted model, computed here from its parameters with scipy
    means = model.expert_intercept_ + X @ model.expert_coef_.T
    proportions = np.exp(model.gate_intercept_) / np.exp(model.gate_intercept_).sum()
    joint = proportions * norm.pdf(y[:, None], means, np.sqrt(variance))
    resp = joint / joint.sum(axis=1, keepdims=True)
    pooled = np.sum(resp * (y[:, None] - means) ** 2) / len(y)
    np.testing.assert_allclose(variance[0], pooled, rtol=1e-6)
    np.testing.assert_allclose(model.log_likelihood_, np.log(joint.sum(axis=1)).sum())
    np.testing.assert_allclose(np.sqrt(variance[0]), 0.5, atol=0.02)
    # BIC counts one variance: K - 1 + K (D + 1) + 1 = 6
    np.testing.assert_allclose(
        model.bic(X, y), -2 * model.log_likelihood_ + 6 * np.log(len(y))
    )


def test_tied_and_per_expert_agree_where_the_noise_is_equal():
    X, y = _crossing_lines()
    fits = [
        MoERegressor(2, gate="constant", variance_type=kind, random_state=0).fit(X, y)
        for kind in ("per_expert", "tied")
    ]
    for attribute in ("expert_coef_", "expert_intercept_"):
        values = [np.sort(getattr(fit, attribute), axis=0) for fit in fits]
        np.testing.assert_allclose(values[0], values[1], atol=0.01)
    # one parameter fewer, barely less likely: BIC prefers the tied model
    assert fits[1].bic(X, y) < fits[0].bic(X, y)


@pytest.mark.parametrize("gate", ["softmax", "constant"])
def test_em_never_decreases_the_objective(gate):
    X, y = _crossing_lines(n=500)
    model = MoERegressor(
        3, gate=gate, variance_type="tied", n_init=1, tol=0, max_iter=80, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter, on purpose
        model.fit(X, y)
    assert np.all(np.diff(model.objective_history_) >= -1e-12)


def test_gradient_along_the_shared_variance_matches_finite_differences():
    rng = np.random.RandomState(1)
    n, K, alpha = 60, 3, 0.1
    X = rng.randn(n, 2)
    y = rng.randn(n)
    design = design_matrix(np, X)
    weighted = rng.dirichlet(np.ones(K), size=n).T / n
    coef = rng.randn(3, K)
    experts = GaussianLinearExperts(1e-6, tied=True)

    def objective(shared):
        params = {"coef": coef, "variance": np.full(K, shared[0])}
        fit = np.sum(weighted * experts.log_likelihood(np, design, y, params))
        return fit - experts.penalty(np, params, alpha)

    params = {"coef": coef, "variance": np.full(K, 0.7)}
    grad = experts.gradient(np, design, y, weighted, params, alpha)["variance"]
    assert np.all(grad == grad[0])
    # moving all K entries together changes the objective by the sum of theirs
    numeric = approx_fprime(np.array([0.7]), objective, 1e-7)[0]
    np.testing.assert_allclose(grad.sum(), numeric, rtol=1e-5)


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_other_solvers_keep_the_variance_tied(solver):
    X, y = _crossing_lines()
    em = MoERegressor(2, variance_type="tied", random_state=0).fit(X, y)
    other = MoERegressor(2, variance_type="tied", solver=solver, random_state=0)
    other.fit(X, y)
    variance = other.expert_variance_
    np.testing.assert_allclose(variance, variance[0], rtol=1e-12)
    per_sample = (other.log_likelihood_ - em.log_likelihood_) / len(y)
    assert per_sample > (-1e-4 if solver == "gradient" else -0.01)


def test_partial_fit_keeps_the_variance_tied():
    X, y = _crossing_lines()
    model = MoERegressor(2, variance_type="tied", solver="sgd", random_state=0)
    for start in range(0, len(y), 100):
        model.partial_fit(X[start : start + 100], y[start : start + 100])
    np.testing.assert_allclose(model.expert_variance_, model.expert_variance_[0])


def test_tied_variance_does_not_shrink_onto_duplicated_points():
    # two noisy lines and 4 copies of one point off them: a per-expert variance
    # shrinks an expert onto the copies (its noise sd 0.04 against 0.5); a tied
    # one cannot, as the other experts need the noise
    X, y = _crossing_lines(n=200)
    X = np.vstack([X, np.full((4, 1), 1.5)])
    y = np.concatenate([y, np.full(4, 9.0)])
    per_expert = MoERegressor(3, variance_type="per_expert", random_state=0)
    assert np.min(per_expert.fit(X, y).expert_variance_) < 0.01
    tied = MoERegressor(3, variance_type="tied", random_state=0).fit(X, y)
    np.testing.assert_allclose(np.sqrt(tied.expert_variance_), 0.47, atol=0.03)


def test_one_expert_is_the_same_model_either_way():
    X, y = _crossing_lines(n=300)
    per_expert = MoERegressor(1).fit(X, y)
    tied = MoERegressor(1, variance_type="tied").fit(X, y)
    np.testing.assert_allclose(tied.expert_coef_, per_expert.expert_coef_)
    np.testing.assert_allclose(tied.expert_variance_, per_expert.expert_variance_)
    assert tied.bic(X, y) == pytest.approx(per_expert.bic(X, y))


def test_set_params_after_fit_does_not_change_the_fitted_model():
    X, y = _crossing_lines(n=300)
    model = MoERegressor(2, variance_type="tied", random_state=0).fit(X, y)
    bic = model.bic(X, y)
    model.set_params(variance_type="per_expert")
    assert model.bic(X, y) == bic


def test_invalid_variance_type_is_refused():
    X, y = _crossing_lines(n=50)
    with pytest.raises(ValueError, match="'variance_type' parameter"):
        MoERegressor(2, variance_type="shared").fit(X, y)


@pytest.mark.parametrize("solver", ["em", "gradient", "sgd"])
def test_warm_start_into_a_tied_variance_ties_it(solver):
    # the gradient solvers keep equal entries equal, but also unequal ones
    # unequal: the warm start pools the fitted variances first
    X, y = _crossing_lines(n=400)
    y[X[:, 0] > 0] *= 3  # unequal noise, so the per-expert fit differs
    model = MoERegressor(2, solver=solver, warm_start=True, random_state=0)
    model.fit(X, y)
    assert not np.allclose(model.expert_variance_, model.expert_variance_[0])
    model.set_params(variance_type="tied").fit(X, y)
    np.testing.assert_allclose(model.expert_variance_, model.expert_variance_[0])
    # a softmax gate (K - 1)(D + 1), the experts K (D + 1), one variance
    bic = -2 * model.log_likelihood_ + (2 + 2 * 2 + 1) * np.log(len(y))
    np.testing.assert_allclose(model.bic(X, y), bic)


@pytest.mark.parametrize("solver", ["em", "sgd"])
@pytest.mark.parametrize(
    "fitted, changed",
    [
        ({"variance_type": "per_expert"}, {"variance_type": "tied"}),
        ({"variance_type": "tied"}, {"variance_type": "per_expert"}),
        ({"noise": "student_t", "df": 3.0}, {"df": 30.0}),
        ({"noise": "student_t", "df": 3.0}, {"df": "auto"}),
    ],
)
def test_partial_fit_warns_of_expert_settings_it_ignores(solver, fitted, changed):
    # partial_fit continues the fitted experts; a changed variance_type or df
    # was ignored without a word (a changed n_experts or noise warns)
    if solver == "em" and "df" in fitted:
        pytest.skip("online EM takes Gaussian experts only")
    X, y = _crossing_lines(n=400)
    gate = "constant" if solver == "em" else "softmax"  # online EM needs one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(2, gate=gate, solver=solver, random_state=0, **fitted)
        model.fit(X, y)
    variances = model.expert_variance_.copy()
    model.set_params(**changed)
    name, value = next(iter(changed.items()))
    with pytest.warns(SkmoeWarning, match=f"ignores {name}={value!r}, set after"):
        model.partial_fit(X[:100], y[:100])
    # as fitted: the variances stay (un)tied, df stays
    assert (variances[0] == variances[1]) == (
        model.expert_variance_[0] == model.expert_variance_[1]
    )
    if "df" in fitted:
        assert model.df_ == fitted["df"]
    with warnings.catch_warnings():  # unchanged settings: no warning
        warnings.simplefilter("error", UserWarning)
        model.set_params(**fitted).partial_fit(X[:100], y[:100])
