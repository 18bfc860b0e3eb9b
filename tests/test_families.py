"""Gate and expert M-steps against independently computed optima."""

import importlib
import inspect
import pkgutil
import warnings
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
from _references import central_differences
from scipy.optimize import minimize
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression, Ridge

from skmoe import _multinomial
from skmoe import experts as experts_package
from skmoe._math import design_matrix, ridge_penalty, ridge_squares
from skmoe.experts import (
    EXPERTS,
    ExpertFamily,
    GammaExperts,
    GaussianLinearExperts,
    LogisticExperts,
    NegativeBinomialExperts,
    PoissonExperts,
    StudentTLinearExperts,
)
from skmoe.experts.estimator import EstimatorExperts
from skmoe.experts.poisson import encode_counts
from skmoe.gates import ConstantGate, HierarchicalGate, SoftmaxGate, softmax


@pytest.fixture
def soft_problem():
    rng = np.random.RandomState(0)
    n, d, K = 300, 3, 4
    X = rng.randn(n, d)
    resp = rng.dirichlet(np.ones(K) * 0.5, size=n).T  # (K, n)
    weight = rng.uniform(0.2, 2, size=n)
    weight /= weight.sum()
    return X, design_matrix(np, X), resp, weight


def _gate_objective(coef_flat, design, weighted_resp, alpha, K):
    coef = coef_flat.reshape(design.shape[0], K)
    log_g = log_softmax(coef.T @ design, axis=0)
    return -(np.sum(weighted_resp * log_g) - 0.5 * alpha * np.sum(coef[1:] ** 2))


@pytest.mark.parametrize(
    "newton_max_coef, hessian_rows",
    [(10**9, 10**9), (10**9, 64), (0, 10**9)],
    ids=["newton", "subsampled-hessian", "newton-cg"],
)
@pytest.mark.parametrize("alpha", [0.0, 1e-2])
def test_softmax_gate_steps_rise_monotonically_to_the_optimum(
    monkeypatch, soft_problem, alpha, newton_max_coef, hessian_rows
):
    # every kind of step the gate takes: Newton with the Hessian from all samples
    # or from a subsample (HESSIAN_ROWS < n), and truncated Newton-CG
    monkeypatch.setattr(softmax, "NEWTON_MAX_COEF", newton_max_coef)
    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", hessian_rows)
    X, design, resp, weight = soft_problem
    K = resp.shape[0]
    weighted = weight[None, :] * resp
    gate = SoftmaxGate()
    prepared = gate.prepare(np, design, weight, alpha)
    params = gate.initial_params(np, design, K)
    values = []
    for _ in range(200):
        log_g = gate.log_gate(np, design, params)
        values.append(
            -_gate_objective(params["coef"].ravel(), design, weighted, alpha, K)
        )
        params = gate.m_step(np, design, weighted, log_g, params, alpha, prepared)
    assert np.all(np.diff(values) >= -1e-13)
    reference = minimize(
        _gate_objective,
        np.zeros(design.shape[0] * K),
        args=(design, weighted, alpha, K),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    np.testing.assert_allclose(values[-1], -reference.fun, rtol=1e-8)
    # the same gate probabilities (the coefficients are identified up to a shift)
    ref_coef = reference.x.reshape(design.shape[0], K)
    np.testing.assert_allclose(
        gate.log_gate(np, design, params),
        log_softmax(ref_coef.T @ design, axis=0),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "n_experts, n_features, explicit",
    [(2, 511, True), (2, 512, False), (4, 255, True), (4, 256, False)],
)
def test_softmax_gate_builds_a_hessian_of_at_most_newton_max_coef_rows(
    monkeypatch, n_experts, n_features, explicit
):
    # the centred Newton step's Hessian has a row per coefficient of all K
    # experts, K (D + 1); the limit counted the (K - 1)(D + 1) free ones, so
    # two experts on 300 x 1000 built a 2002 x 2002 Hessian per EM iteration
    # (26 s a fit against 1.8 s with four experts, which took CG steps)
    calls = []
    names = ("newton_direction", "newton_direction_kernel", "newton_cg_direction")
    for name in names:
        original = getattr(_multinomial, name)

        def record(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(_multinomial, name, record)
    rng = np.random.RandomState(0)
    X = rng.randn(50, n_features)
    design = design_matrix(np, X)
    resp = rng.dirichlet(np.ones(n_experts), size=50).T
    weight = np.full(50, 1 / 50)
    gate = SoftmaxGate()
    params = gate.initial_params(np, design, n_experts)
    gate.m_step(
        np,
        design,
        weight * resp,
        gate.log_gate(np, design, params),
        params,
        1e-3,
        gate.prepare(np, design, weight, 1e-3),
    )
    assert (n_experts * (n_features + 1) <= softmax.NEWTON_MAX_COEF) == explicit
    assert (n_experts - 1) * (n_features + 1) <= softmax.NEWTON_MAX_COEF
    # (with more coefficient rows than samples, the exact step in kernel form)
    assert calls == ["newton_direction_kernel" if explicit else "newton_cg_direction"]


def _wide_gate_problem(n=40, n_features=100, n_experts=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features) * rng.uniform(0.5, 2, n_features)
    design = design_matrix(np, X, X.mean(axis=0))
    resp = rng.dirichlet(np.ones(n_experts) * 0.5, size=n).T
    weight = rng.uniform(0.2, 2, size=n)
    return design, resp * (weight / weight.sum())[None, :]


def _exact_newton_step(design, weighted, coef, alpha):
    """The Newton step of the gate's objective over centred coefficients, from
    the dense Hessian (a Kronecker sum over the samples) in a basis of them."""
    d, n = design.shape
    K = coef.shape[1]
    log_g = log_softmax(coef.T @ design, axis=0)
    g = np.exp(log_g)
    s = weighted.sum(axis=0)
    mask = np.r_[0.0, np.ones(d - 1)]
    grad = design @ (weighted - s * g).T - alpha * mask[:, None] * coef  # (d, K)
    hessian = alpha * np.kron(np.eye(K), np.diag(mask))
    for i in range(n):
        w = s[i] * (np.diag(g[:, i]) - np.outer(g[:, i], g[:, i]))
        hessian += np.kron(w, np.outer(design[:, i], design[:, i]))
    # K x (K - 1) orthonormal basis of the vectors summing to 0, kron the rows
    basis = np.kron(scipy.linalg.null_space(np.ones((1, K))), np.eye(d))
    reduced = basis.T @ hessian @ basis
    step = basis @ scipy.linalg.solve(reduced, basis.T @ grad.T.ravel())
    return step.reshape(K, d).T, grad, g


@pytest.mark.parametrize("alpha", [1e-4, 1e-1])
def test_softmax_gate_kernel_newton_step_is_the_exact_newton_step(alpha):
    # more coefficient rows (D + 1 = 101) than samples (40): the step from an
    # n K x n K system, against the dense Hessian's, K (D + 1) = 303 rows
    design, weighted = _wide_gate_problem()
    rng = np.random.RandomState(1)
    coef = 0.1 * rng.randn(design.shape[0], 3)
    coef -= coef.mean(axis=1, keepdims=True)
    expected, grad, g = _exact_newton_step(design, weighted, coef, alpha)
    s = weighted.sum(axis=0)
    step = _multinomial.newton_direction_kernel(
        np, design, s[None], g[None], (weighted - s * g)[None], coef[None], alpha
    )[0]
    scale = np.max(np.abs(expected))
    assert scale > 1e-2  # a step that does move (not a trivially small one)
    np.testing.assert_allclose(step, expected, rtol=0, atol=1e-9 * scale)


@pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning")
@pytest.mark.parametrize("dtype, alpha", [(np.float32, 1e-10), (np.float64, 1e-30)])
def test_softmax_gate_kernel_newton_step_with_alpha_below_rounding(
    monkeypatch, dtype, alpha
):
    # 30 x 60, two experts: the kernel form's n K x n K system, alpha lost in
    # its entries' rounding, was singular (LinAlgError); the fit is the primal
    # step's (the same log-likelihood) and finite
    from skmoe import MoERegressor

    rng = np.random.RandomState(0)
    X = rng.randn(30, 60)
    y = np.where(X[:, 0] > 0, 2 * X[:, 1] + 1, -X[:, 2]) + 0.1 * rng.randn(30)
    X, y = X.astype(dtype), y.astype(dtype)
    params = dict(n_experts=2, alpha=alpha, n_init=1, random_state=0, max_iter=20)
    fitted = MoERegressor(**params).fit(X, y)
    monkeypatch.setattr(softmax, "KERNEL_RATIO", float("inf"))  # the primal step
    primal = MoERegressor(**params).fit(X, y)
    assert np.all(np.isfinite(fitted.gate_coef_))
    np.testing.assert_allclose(
        fitted.log_likelihood_, primal.log_likelihood_, rtol=1e-5
    )


def _gate_objective_and_gradient(coef_flat, design, weighted, alpha, K):
    coef = coef_flat.reshape(design.shape[0], K)
    log_g = log_softmax(coef.T @ design, axis=0)
    value = -(np.sum(weighted * log_g) - 0.5 * alpha * np.sum(coef[1:] ** 2))
    residual = weighted - weighted.sum(axis=0) * np.exp(log_g)
    grad = design @ residual.T
    grad[1:] -= alpha * coef[1:]
    return value, -grad.ravel()


def test_softmax_gate_m_step_with_more_features_than_samples_reaches_the_optimum(
    monkeypatch,
):
    # the gate's M-step by kernel-form Newton steps (checked to be the path
    # taken, and the only one), against L-BFGS on the penalized objective
    calls = []
    original = _multinomial.newton_direction_kernel

    def record(*args, **kwargs):
        calls.append("kernel")
        return original(*args, **kwargs)

    def primal(*args, **kwargs):
        raise AssertionError("the primal Newton step in the wide regime")

    monkeypatch.setattr(_multinomial, "newton_direction_kernel", record)
    monkeypatch.setattr(_multinomial, "newton_direction", primal)
    design, weighted = _wide_gate_problem(seed=2)
    alpha, K = 1e-2, weighted.shape[0]
    gate = SoftmaxGate()
    params = gate.initial_params(np, design, K)
    prepared = gate.prepare(np, design, weighted.sum(axis=0), alpha)
    log_g = gate.log_gate(np, design, params)
    params = gate.m_step(np, design, weighted, log_g, params, alpha, prepared, 30)
    assert len(calls) == 30
    reference = minimize(
        _gate_objective_and_gradient,
        np.zeros(design.shape[0] * K),
        args=(design, weighted, alpha, K),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 20000},
    )
    value = _gate_objective_and_gradient(
        params["coef"].ravel(), design, weighted, alpha, K
    )[0]
    np.testing.assert_allclose(value, reference.fun, rtol=1e-10)
    # the optimum is centred (the penalty is symmetric in the experts)
    ref_coef = reference.x.reshape(design.shape[0], K)
    ref_coef -= ref_coef.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(
        params["coef"], ref_coef, rtol=0, atol=1e-5 * np.max(np.abs(ref_coef))
    )


def test_constant_gate_m_step_is_weighted_mean_responsibility(soft_problem):
    X, design, resp, weight = soft_problem
    gate = ConstantGate()
    params = gate.m_step(
        np, design, weight * resp, None, gate.initial_params(np, design, 4), 0.0, None
    )
    expected = (resp * weight).sum(axis=1)
    np.testing.assert_allclose(
        np.exp(gate.log_gate(np, design, params))[:, 0], expected
    )


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_gaussian_m_step_is_weighted_ridge(soft_problem, alpha):
    X, design, resp, weight = soft_problem
    rng = np.random.RandomState(1)
    y = X @ rng.randn(3) + rng.randn(len(X))
    experts = GaussianLinearExperts(variance_floor=1e-8)
    weighted = weight * resp
    params = experts.m_step(
        np, design, y, weighted, experts.initial_params(np, design, y, 4), alpha
    )
    for k in range(4):
        ridge = Ridge(alpha=alpha, solver="svd").fit(X, y, sample_weight=weighted[k])
        np.testing.assert_allclose(params["coef"][1:, k], ridge.coef_, rtol=1e-7)
        np.testing.assert_allclose(params["coef"][0, k], ridge.intercept_, atol=1e-9)
        ssr = np.sum(weighted[k] * (y - ridge.predict(X)) ** 2)
        expected = (ssr + alpha * np.sum(ridge.coef_**2)) / weighted[k].sum()
        np.testing.assert_allclose(params["variance"][k], expected, rtol=1e-7)


@pytest.mark.parametrize("alpha", [1e-6, 1e-2, 1.0])
def test_gaussian_m_step_with_more_features_than_samples_is_weighted_ridge(alpha):
    # d > n: the kernel (dual) solve. Expert k minimizes sum_i w_i (y_i -
    # x~_i . b)^2 + alpha ||b_1:||^2 (the penalty's 1 / s2_k scales the whole
    # objective), the least squares of the augmented system [S X~; sqrt(alpha)
    # P] (S = diag(sqrt(w))), solved by SVD, where the normal equations'
    # condition number is squared. The primal solve's jitter, 1e-10 of the
    # Gram matrix's diagonal (2e-8 here), was a ridge beside alpha: 4e-4 off
    # at alpha=1e-6, 4e-8 at 1e-2.
    rng = np.random.RandomState(0)
    n, n_features = 40, 120
    X = rng.randn(n, n_features) * rng.uniform(0.5, 3, n_features) + 1.0
    y = X[:, :4] @ rng.randn(4) + 3.0 + rng.randn(n)
    weighted = rng.dirichlet(np.ones(3), size=n).T
    weighted[0, :4] = 0.0  # samples an expert is not responsible for
    weighted[1, 4:8] = 1e-12
    design = design_matrix(np, X, X.mean(axis=0))
    experts = GaussianLinearExperts(variance_floor=1e-10)
    params = experts.m_step(
        np, design, y, weighted, experts.initial_params(np, design, y, 3), alpha
    )
    penalty = np.sqrt(alpha) * np.eye(n_features + 1)[1:]
    for k in range(3):
        root = np.sqrt(weighted[k])
        system = np.vstack([design.T * root[:, None], penalty])
        target = np.concatenate([root * y, np.zeros(n_features)])
        coef = scipy.linalg.lstsq(system, target)[0]
        np.testing.assert_allclose(
            params["coef"][:, k], coef, rtol=0, atol=1e-8 * np.max(np.abs(coef))
        )
        ssr = np.sum(weighted[k] * (y - coef @ design) ** 2)
        expected = (ssr + alpha * np.sum(coef[1:] ** 2)) / weighted[k].sum()
        np.testing.assert_allclose(params["variance"][k], expected, rtol=1e-8)


def _exact_ridge_fit(design, weight, y, alpha):
    """The fitted values of the weighted ridge problem (intercept row 0 of
    ``design`` unpenalized): the SVD least squares of the augmented system,
    its columns scaled to unit norm (a large column's scale would otherwise
    set the SVD's cutoff)."""
    n_features = design.shape[0] - 1
    root = np.sqrt(weight)
    penalty = np.sqrt(alpha) * np.eye(n_features + 1)[1:]
    system = np.vstack([design.T * root[:, None], penalty])
    norms = np.linalg.norm(system, axis=0)
    target = np.concatenate([root * y, np.zeros(n_features)])
    return (scipy.linalg.lstsq(system / norms, target)[0] / norms) @ design


def _assert_m_step_fits_exact_ridge(X, y, weighted, alpha, dtype, atol):
    """Fit two Gaussian experts' M-step at ``X`` in ``dtype`` and compare each
    expert's fitted values with the exact ridge's (``_exact_ridge_fit``, in
    float64); return the number of kernel (dual) solves the M-step made."""
    design = design_matrix(np, X, X.mean(axis=0))
    experts = GaussianLinearExperts(variance_floor=1e-10)
    calls = []
    dual = experts._dual_coefficients

    def spy(*args):
        calls.append(None)
        return dual(*args)

    experts._dual_coefficients = spy
    low = design_matrix(np, X.astype(dtype), X.astype(dtype).mean(axis=0))
    params = experts.m_step(
        np,
        low,
        y.astype(dtype),
        weighted.astype(dtype),
        experts.initial_params(np, low, y.astype(dtype), 2),
        alpha,
    )
    for k in range(2):
        expected = _exact_ridge_fit(design, weighted[k], y, alpha)
        fitted = params["coef"][:, k].astype(np.float64) @ design
        np.testing.assert_allclose(
            fitted, expected, rtol=0, atol=atol * np.std(expected)
        )
    return len(calls)


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-8), (np.float32, 1e-4)])
def test_gaussian_m_step_with_more_features_than_samples_and_one_large_feature(
    dtype, atol
):
    # d > n with one feature 1e4 times the others' scale (a time stamp beside
    # standardized features): the kernel (dual) solve's rounding and jitter
    # follow the kernel's diagonal, the large feature's, and drowned the
    # others (fitted values 5e-4 of their standard deviation off in float64,
    # 10 in float32); the M-step solves in the primal form then. The exact
    # ridge solution: the SVD least squares of the augmented system, its
    # columns scaled to unit norm (the large column's scale would otherwise
    # set the SVD's cutoff).
    rng = np.random.RandomState(0)
    n, n_features, alpha = 40, 120, 1e-2
    X = rng.randn(n, n_features)
    X[:, 0] *= 1e4
    y = X[:, 1:5] @ rng.randn(4) + 3.0 + 0.3 * rng.randn(n)
    weighted = rng.dirichlet(np.ones(2), size=n).T
    assert _assert_m_step_fits_exact_ridge(X, y, weighted, alpha, dtype, atol) == 0


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-8), (np.float32, 1e-4)])
@pytest.mark.parametrize("small", ["scale", "one_hot"])
def test_gaussian_m_step_with_more_features_than_samples_and_one_small_feature(
    small, dtype, atol
):
    # d > n with one small feature beside standardized ones: a feature of mean
    # square 1e-4 at alpha=0.1 (the penalty holds it near 0), or the one-hot
    # column of a category seen once (as OneHotEncoder makes). The kernel
    # (dual) solve loses nothing by either, but the spread rule compared the
    # largest sum of squares with the smallest (and with alpha, not n *
    # alpha), and sent these M-steps to the primal solve (10 times slower at
    # n=100, d=300; 4 to 49 times with one-hot columns); the dual fits the
    # exact ridge (the SVD least squares of the augmented system, as above).
    rng = np.random.RandomState(0)
    n, n_features, alpha = (40, 120, 0.1) if small == "scale" else (200, 400, 1e-2)
    X = rng.randn(n, n_features)
    if small == "scale":
        X[:, 0] *= 1e-2
    else:
        X[:, 0] = np.arange(n) == 7
    y = X[:, 1:5] @ rng.randn(4) + 3.0 + 0.3 * rng.randn(n)
    weighted = rng.dirichlet(np.ones(2), size=n).T / n
    design = design_matrix(np, X, X.mean(axis=0))
    squares = np.sum(design[1:] ** 2, axis=1)
    # the case: the sums of squares over 100 times apart, and over alpha
    assert squares.max() > 100 * max(squares.min(), alpha)
    # one kernel (dual) solve
    assert _assert_m_step_fits_exact_ridge(X, y, weighted, alpha, dtype, atol) == 1


def test_gaussian_m_step_floors_variance_and_survives_an_empty_expert(soft_problem):
    X, design, resp, weight = soft_problem
    y = X[:, 0] * 2.0  # noise-free: the MLE variance would be 0
    resp = resp.copy()
    resp[3] = 0.0  # an expert no sample is responsible for
    experts = GaussianLinearExperts(variance_floor=1e-6)
    params = experts.m_step(
        np, design, y, weight * resp, experts.initial_params(np, design, y, 4), 0.0
    )
    assert np.all(np.isfinite(params["coef"])) and np.all(
        np.isfinite(params["variance"])
    )
    # the MLE variance is 0: every expert's is the floor; the line is the
    # weighted least-squares fit for any weights
    np.testing.assert_array_equal(params["variance"], 1e-6)
    np.testing.assert_allclose(
        params["coef"][:, :3], np.tile([[0.0], [2.0], [0.0], [0.0]], 3), atol=1e-9
    )
    np.testing.assert_allclose(params["coef"][:, 3], 0.0)
    assert np.all(np.isfinite(experts.log_likelihood(np, design, y, params)))


def test_logistic_m_step_converges_to_weighted_logistic_regression(soft_problem):
    X, design, resp, weight = soft_problem
    rng = np.random.RandomState(2)
    labels = rng.randint(3, size=len(X))
    Y = np.eye(3)[labels].T  # (C, n)
    alpha = 0.05
    experts = LogisticExperts(n_classes=3)
    weighted = weight * resp
    params = experts.initial_params(np, design, Y, 4)
    for _ in range(30):
        params = experts.m_step(np, design, Y, weighted, params, alpha)
    for k in range(4):
        # expert k maximizes sum_i weighted[k, i] log p - alpha/2 ||W||^2, i.e.
        # scikit-learn's C * sum_i s_i loss_i + 1/2 ||W||^2 with s = weighted[k]
        reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000)
        reference.fit(X, labels, sample_weight=weighted[k])
        mine = experts.log_proba(np, design, params)[k].T
        np.testing.assert_allclose(np.exp(mine), reference.predict_proba(X), atol=1e-6)


# -- every registered expert family: the contract the solvers rely on ------------


def _family_case(name, rng, n=60, d=3, k=2):
    """An expert family of the registry, a target it models and parameters
    away from its optimum: (family, Y, params)."""
    x = rng.randn(n)
    counts = rng.poisson(np.exp(0.5 + 0.4 * x)).astype(float)
    amounts = rng.gamma(2.0, np.exp(0.3 * x) / 2.0)
    coef = rng.normal(scale=0.3, size=(d, k))
    cases = {
        "gaussian": lambda: (
            GaussianLinearExperts(1e-8),
            rng.randn(n),
            {"coef": coef, "variance": np.array([0.7, 1.9])},
        ),
        "student_t": lambda: (
            StudentTLinearExperts(1e-8, df=3.0),
            rng.standard_t(3, size=n),
            {"coef": coef, "variance": np.array([0.7, 1.9])},
        ),
        "logistic": lambda: (
            LogisticExperts(n_classes=3),
            np.eye(3)[rng.randint(3, size=n)].T,
            {"coef": rng.normal(size=(d, 3 * k))},
        ),
        "poisson": lambda: (PoissonExperts(), encode_counts(counts), {"coef": coef}),
        "negative_binomial": lambda: (
            NegativeBinomialExperts(),
            encode_counts(counts),
            {"coef": coef, "dispersion": np.array([0.4, 1.5])},
        ),
        "gamma": lambda: (
            GammaExperts(1e-10),
            np.stack([amounts, np.log(amounts)]),
            {"coef": coef, "dispersion": np.array([0.4, 1.7])},
        ),
    }
    assert set(cases) == set(EXPERTS), "a registered family without a case here"
    family, Y, params = cases[name]()
    assert type(family) is EXPERTS[name]
    return family, Y, params


def _expert_objective(family, design, Y, weighted_resp, params, alpha):
    """The M-step objective: sum_ki weighted_resp log p_k(y_i | x_i) - penalty."""
    log_likelihood = family.log_likelihood(np, design, Y, params)
    return np.sum(weighted_resp * log_likelihood) - family.penalty(np, params, alpha)


def test_every_expert_family_is_registered():
    # adding a family means a file and a registry line; the tests below then
    # check it (those that wrap a scikit-learn estimator have no gradient)
    modules = [
        importlib.import_module(f"skmoe.experts.{info.name}")
        for info in pkgutil.iter_modules(experts_package.__path__)
    ]  # (every module, imported by the package or not)
    found = {
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ExpertFamily)
        and not inspect.isabstract(cls)
        and not issubclass(cls, EstimatorExperts)
    }
    assert found == set(EXPERTS.values())


@pytest.mark.parametrize("name", sorted(EXPERTS))
def test_expert_family_gradient_matches_finite_differences(name):
    rng = np.random.RandomState(0)
    family, Y, params = _family_case(name, rng)
    n = Y.shape[-1]
    design = np.vstack([np.ones(n), rng.randn(2, n)])
    weighted_resp = rng.dirichlet(np.ones(2), size=n).T / n
    alpha = 0.1
    gradient = family.gradient(np, design, Y, weighted_resp, params, alpha)
    assert set(gradient) == set(params)
    numerics = central_differences(
        lambda p: _expert_objective(family, design, Y, weighted_resp, p, alpha), params
    )
    for key, numeric in numerics.items():
        np.testing.assert_allclose(gradient[key], numeric, rtol=1e-6, atol=1e-9)
        assert np.abs(numeric).max() > 1e-3  # a gradient that can fail


@pytest.mark.parametrize("name", sorted(EXPERTS))
def test_expert_family_m_steps_climb_to_a_stationary_point(name):
    # generalized EM: at fixed responsibilities no M-step lowers the
    # objective (mended by keep_better where a family's step may), and the
    # steps end where the gradient vanishes
    rng = np.random.RandomState(1)
    family, Y, params = _family_case(name, rng, n=200)
    n = Y.shape[-1]
    design = np.vstack([np.ones(n), rng.randn(2, n)])
    weighted_resp = rng.dirichlet(np.ones(2), size=n).T / n
    alpha = 0.01
    values = [_expert_objective(family, design, Y, weighted_resp, params, alpha)]
    for _ in range(100):
        former = params
        params = family.m_step(np, design, Y, weighted_resp, params, alpha)
        if not family.monotone:
            params = family.keep_better(np, design, Y, weighted_resp, params, former)
        values.append(
            _expert_objective(family, design, Y, weighted_resp, params, alpha)
        )
    assert np.all(np.diff(values) >= -1e-12 * np.abs(values[:-1]))
    assert values[-1] > values[0]
    gradient = family.gradient(np, design, Y, weighted_resp, params, alpha)
    for key, value in params.items():
        # in units of the parameter (positive ones move on a log scale)
        scale = value if key in family.lower_bounds() else 1.0
        np.testing.assert_allclose(gradient[key] * scale, 0.0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(EXPERTS))
def test_expert_penalty_is_zero_without_alpha_even_where_a_square_overflows(name):
    # 0 * inf = nan where a slope's square overflows (a classifier's separated
    # classes at alpha=0 on features of scale 2e-151): the objective turned
    # NaN and EM stopped there, unconverged
    family, _, params = _family_case(name, np.random.RandomState(0))
    coef = params["coef"].copy()
    coef[1, 0] = 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert family.penalty(np, dict(params, coef=coef), 0.0) == 0.0


@pytest.mark.parametrize("gate", [SoftmaxGate(), HierarchicalGate()])
def test_gate_penalty_is_zero_without_alpha_even_where_a_square_overflows(gate):
    rng = np.random.RandomState(0)
    params = {
        name: rng.normal(size=value.shape)
        for name, value in gate.initial_params(np, np.ones((3, 10)), 4).items()
    }
    # (alpha / 2) times the sum of the slopes' squares (not the intercepts')
    squares = sum(np.sum(value[1:] ** 2) for value in params.values())
    np.testing.assert_allclose(gate.penalty(np, params, 0.5), 0.25 * squares)
    params["coef"][1, 0] = 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert gate.penalty(np, params, 0.0) == 0.0


def test_ridge_helpers_sum_the_slopes_squares_exactly():
    # the penalty that the Poisson, negative binomial, Gamma and logistic
    # experts and the softmax gate share: (alpha / 2) sum of the slopes'
    # squares, intercepts (row 0) free; in quarters, exact in float64
    coef = np.array([[7.0, -3.5], [0.25, -1.5], [2.0, 0.75], [-0.5, 1.25]])
    slopes = [[Fraction(v) for v in row] for row in coef[1:]]
    squares = [sum(row[k] ** 2 for row in slopes) for k in range(2)]
    assert ridge_squares(np, coef).tolist() == [float(v) for v in squares]
    mask = np.array([0.0, 1.0, 0.0, 1.0])  # (a given mask is used as it is)
    assert ridge_squares(np, coef, mask).tolist() == [
        float(slopes[0][k] ** 2 + slopes[2][k] ** 2) for k in range(2)
    ]
    assert float(ridge_penalty(np, coef, 0.5)) == float(sum(squares) / 4)
    coef[1, 0] = 1e200  # its square overflows: 0 at alpha=0, not 0 * inf
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        zero = ridge_penalty(np, coef, 0.0)
    assert zero.shape == () and zero.dtype == coef.dtype and float(zero) == 0.0


def test_softmax_gate_kernel_newton_step_gives_way_where_a_solve_is_nan(monkeypatch):
    # a solve that does not raise on a singular system (CuPy's, outside
    # cupyx.errstate(linalg="raise")) gives inf or NaN; one in the intercepts'
    # m x m solve gave a NaN step, which the line search cannot refuse (its
    # step length 0 times NaN): None, as for the n m x n m system, so that the
    # caller takes the primal step
    design, weighted = _wide_gate_problem()
    rng = np.random.RandomState(1)
    coef = 0.1 * rng.randn(design.shape[0], 3)
    coef -= coef.mean(axis=1, keepdims=True)
    _, _, g = _exact_newton_step(design, weighted, coef, 1e-4)
    s = weighted.sum(axis=0)
    args = (np, design, s[None], g[None], (weighted - s * g)[None], coef[None], 1e-4)
    assert np.all(np.isfinite(_multinomial.newton_direction_kernel(*args)))
    solve = np.linalg.solve

    def silent(a, b):  # the m x m system (m = 3 experts) as singular
        out = solve(a, b)
        return np.full_like(out, np.nan) if a.shape[-1] == 3 else out

    monkeypatch.setattr(np.linalg, "solve", silent)
    assert _multinomial.newton_direction_kernel(*args) is None


def test_softmax_gate_keeps_its_coefficients_where_the_newton_step_is_nan(
    monkeypatch, soft_problem
):
    # a solve that does not raise on a singular system (CuPy's, outside
    # cupyx.errstate(linalg="raise")) gives NaN; the line search then refuses
    # every trial (t = 0), but coef + 0 * NaN made the gate's coefficients NaN
    X, design, resp, weight = soft_problem
    weighted = weight[None, :] * resp
    gate = SoftmaxGate()
    prepared = gate.prepare(np, design, weight, 1e-3)
    rng = np.random.RandomState(2)
    coef = rng.randn(design.shape[0], resp.shape[0])
    log_g = gate.log_gate(np, design, {"coef": coef})
    solve = np.linalg.solve
    monkeypatch.setattr(
        np.linalg, "solve", lambda a, b: np.full_like(solve(a, b), np.nan)
    )
    params = gate.m_step(np, design, weighted, log_g, {"coef": coef}, 1e-3, prepared)
    # the same gate: the coefficients centred over the experts, as the steps
    # keep them (each step centres them again: to rounding)
    np.testing.assert_allclose(
        params["coef"], coef - coef.mean(axis=1, keepdims=True), rtol=0, atol=1e-15
    )


def test_gaussian_variance_gradient_where_the_variance_squared_overflows_float32():
    # float32 variances of 1e20 (squares beyond float32's largest, 3.4e38):
    # the penalty's term of the variance's gradient, alpha ||b||^2 / (2 s2^2),
    # divides by s2 twice there; against the closed form in float64
    rng = np.random.RandomState(0)
    n, alpha = 50, 1.0
    x = rng.randn(n)
    coef = np.array([[0.5, -1.0], [1e12, 3e11]])
    y = 1e12 * x + rng.randn(n)
    weighted = rng.dirichlet(np.ones(2), size=n).T
    variance = np.array([1e20, 4e19])
    design = design_matrix(np, x[:, None])
    experts = GaussianLinearExperts(variance_floor=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (NumPy's overflow warning of s2**2)
        grad = experts.gradient(
            np,
            design.astype(np.float32),
            y.astype(np.float32),
            weighted.astype(np.float32),
            {"coef": coef.astype(np.float32), "variance": variance.astype(np.float32)},
            alpha,
        )["variance"]
    # closed form, float64, at the float32 inputs
    d32, y32, w32 = (a.astype(np.float32).astype(float) for a in (design, y, weighted))
    c32 = coef.astype(np.float32).astype(float)
    v32 = variance.astype(np.float32).astype(float)
    resid = y32[None, :] - c32.T @ d32
    expected = (
        0.5 * (np.sum(w32 * resid**2, axis=1) / v32**2 - np.sum(w32, axis=1) / v32)
        + 0.5 * alpha * c32[1] ** 2 / v32**2
    )
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, expected, rtol=1e-4)


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-8), (np.float32, 1e-4)])
def test_gaussian_dual_m_step_with_features_held_by_the_penalty(dtype, atol):
    # d > n, one standardized feature beside 119 of mean square 1e-4 at
    # alpha=0.1: the sums of squares are 1e4 apart, but the small features'
    # are below n * alpha (the penalty holds them near 0), so the spread rule
    # keeps the kernel (dual) solve, which fits the exact ridge (the SVD least
    # squares of the augmented system, its columns scaled to unit norm)
    rng = np.random.RandomState(0)
    n, n_features, alpha = 40, 120, 0.1
    X = rng.randn(n, n_features) * 1e-2
    X[:, 0] *= 100.0
    y = 2.0 * X[:, 0] + X[:, 1:5] @ rng.randn(4) + 3.0 + 0.3 * rng.randn(n)
    weighted = rng.dirichlet(np.ones(2), size=n).T
    design = design_matrix(np, X, X.mean(axis=0))
    squares = np.sum(design[1:] ** 2, axis=1)
    others = (squares.sum() - squares.max()) / (n_features - 1)
    assert squares.max() > 100 * max(others, alpha)  # beyond the spread at alpha
    assert squares.max() <= 100 * n * alpha  # within it at n * alpha
    # the kernel (dual) solve
    assert _assert_m_step_fits_exact_ridge(X, y, weighted, alpha, dtype, atol) == 1


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("scale", [1.0, 2.0**-65, 2.0**-513])
def test_gaussian_objective_and_gradient_at_a_residual_scale(scale, tied):
    # at a residual scale (y near the square root of the largest float) the
    # log-likelihood and the penalty are computed in noise sds, and the
    # variances' gradient's penalty term as (b / s)^2 / s2: on ordinary
    # numbers, the same objective as scipy's normal log-density less
    # alpha ||b_1:||^2 / (2 s2), and a gradient that matches its finite
    # differences
    from scipy import stats

    rng = np.random.RandomState(3)
    n, alpha = 60, 0.3
    design = np.vstack([np.ones(n), rng.randn(2, n)])
    Y = rng.randn(n)
    weighted = rng.dirichlet(np.ones(2), size=n).T / n
    coef = rng.normal(scale=0.8, size=(3, 2))
    variance = np.array([0.7, 0.7] if tied else [0.7, 1.9])
    family = GaussianLinearExperts(1e-8, tied=tied, scale=scale)
    params = {"coef": coef, "variance": variance}

    def objective(p):
        log_likelihood = family.log_likelihood(np, design, Y, p)
        return np.sum(weighted * log_likelihood) - family.penalty(np, p, alpha)

    means = coef.T @ design
    expected = np.sum(
        weighted * stats.norm.logpdf(Y, means, np.sqrt(variance)[:, None])
    ) - 0.5 * alpha * np.sum(coef[1:] ** 2 / variance)
    np.testing.assert_allclose(objective(params), expected, rtol=1e-12)
    gradient = family.gradient(np, design, Y, weighted, params, alpha)
    for key, numeric in central_differences(objective, params).items():
        if tied and key == "variance":  # the shared variance's derivative over K
            numeric = np.full_like(numeric, numeric.mean())
        np.testing.assert_allclose(gradient[key], numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("tied", [False, True])
def test_gaussian_m_step_holds_variances_at_the_ceiling(tied):
    # the M-step's variances lie in [floor, floor * VARIANCE_RANGE]: residuals
    # of sd 1e6 about the weighted least-squares line (variance 1e12) under a
    # floor of 1e-8 (ceiling 1e8) give the ceiling; a small-noise expert
    # beside them keeps its own weighted residual variance (numpy's lstsq)
    from skmoe.experts.gaussian import VARIANCE_RANGE

    rng = np.random.RandomState(0)
    n = 200
    x = rng.randn(n)
    y = 2.0 * x + 1.0 + np.where(np.arange(n) < n // 2, 1e6, 1e-2) * rng.randn(n)
    weighted = np.vstack([np.arange(n) < n // 2, np.arange(n) >= n // 2]) + 0.0
    design = design_matrix(np, x[:, None])
    floor = 1e-8
    experts = GaussianLinearExperts(variance_floor=floor, tied=tied)
    params = experts.m_step(
        np, design, y, weighted, experts.initial_params(np, design, y, 2), 0.0
    )
    ssr = []
    for k in range(2):
        rows = weighted[k] > 0
        A = np.column_stack([np.ones(rows.sum()), x[rows]])
        ssr.append(np.linalg.lstsq(A, y[rows], rcond=None)[1][0])
    ssr = np.array(ssr)
    unclipped = np.full(2, ssr.sum() / n) if tied else ssr / (n // 2)
    assert unclipped[0] > 1e3 * floor * VARIANCE_RANGE
    expected = np.minimum(unclipped, floor * VARIANCE_RANGE)
    np.testing.assert_allclose(params["variance"], expected, rtol=1e-9)


@pytest.mark.parametrize("scale", [1.0, 2.0**-65, 2.0**-513])
def test_gaussian_target_scale_is_the_root_mean_variance_at_any_scale(scale):
    # the steps' scale, sqrt(mean s2_k), at a residual scale too; at 2**-513,
    # also for variances whose sum overflows (their mean does not)
    import math

    experts = GaussianLinearExperts(1e-8, scale=scale)
    got = experts.target_scale(np, {"variance": np.array([4.0, 16.0, 1.0])})
    assert got == pytest.approx(math.sqrt(7.0), rel=1e-15)
    if scale == 2.0**-513:
        big = np.array([1.5e308, 1.2e308])
        got = experts.target_scale(np, {"variance": big})
        assert got == pytest.approx(math.sqrt(1.5e308 / 2 + 1.2e308 / 2), rel=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_weighted_ridge_is_scikit_learns_ridge(alpha):
    # _math.weighted_ridge (the Gamma start's regression of log y): each
    # expert's ridge of the target, weighted by its row, intercept free
    from skmoe._math import penalty_mask, weighted_ridge

    rng = np.random.RandomState(0)
    n = 80
    X = rng.randn(n, 3) * [1.0, 3.0, 0.2]
    target = X @ [0.5, -1.0, 2.0] + 1.5 + 0.3 * rng.randn(n)
    weighted = rng.dirichlet(np.ones(3), size=n).T
    design = design_matrix(np, X)
    coef = weighted_ridge(np, design, target, weighted, penalty_mask(np, design), alpha)
    for k in range(3):
        ridge = Ridge(alpha=alpha, solver="svd").fit(
            X, target, sample_weight=weighted[k]
        )
        np.testing.assert_allclose(coef[1:, k], ridge.coef_, rtol=1e-8)
        np.testing.assert_allclose(coef[0, k], ridge.intercept_, rtol=1e-8)


@pytest.mark.parametrize("alpha", [1e-4, 1e-1])
def test_softmax_gate_kernel_newton_step_from_uncentred_coefficients(alpha):
    # the kernel form's step from coefficients whose rows do not sum to 0 over
    # the experts (the softmax is blind to such shifts): the centred step of
    # the dense Hessian (test_families' _exact_newton_step), not one that also
    # centres the coefficients
    design, weighted = _wide_gate_problem()
    rng = np.random.RandomState(1)
    coef = 0.1 * rng.randn(design.shape[0], 3) + 0.3
    expected, grad, g = _exact_newton_step(design, weighted, coef, alpha)
    s = weighted.sum(axis=0)
    step = _multinomial.newton_direction_kernel(
        np, design, s[None], g[None], (weighted - s * g)[None], coef[None], alpha
    )[0]
    scale = np.max(np.abs(expected))
    assert scale > 1e-2
    np.testing.assert_allclose(step, expected, rtol=0, atol=1e-9 * scale)


def test_softmax_gate_tight_truncated_step_is_near_the_exact_newton_step(
    monkeypatch,
):
    # the tight M-step that checks EM's stop (TIGHT_CG_ITER conjugate-gradient
    # iterations to a relative residual of TIGHT_CG_RTOL) lands within 5% of
    # the exact Newton (IRLS) step from the same coefficients, where the
    # ordinary truncated step (CG_ITER iterations to 0.1) is 39% off it
    from skmoe._math import design_matrix as make_design

    rng = np.random.default_rng(0)
    n, n_features, n_experts = 400, 10, 8
    X = rng.standard_normal((n, n_features)) * np.linspace(0.3, 3, n_features)
    design = make_design(np, X)
    truth = rng.standard_normal((n_features + 1, n_experts))
    weighted = np.exp(log_softmax(1.5 * truth.T @ design, axis=0)) / n
    coef = 0.1 * rng.standard_normal((n_features + 1, n_experts))
    coef -= coef.mean(axis=1, keepdims=True)
    log_gate = log_softmax(coef.T @ design, axis=0)
    gate, alpha = SoftmaxGate(), 1e-3
    args = (np, design, weighted, log_gate, {"coef": coef}, alpha, None)
    exact = gate.m_step(*args)["coef"]
    monkeypatch.setattr(softmax, "NEWTON_MAX_COEF", 16)  # truncated steps
    tight = gate.m_step(*args, tight=True)["coef"]
    loose = gate.m_step(*args)["coef"]
    size = np.linalg.norm(exact - coef)
    assert np.linalg.norm(loose - exact) > 0.2 * size  # a test that can fail
    assert np.linalg.norm(tight - exact) < 0.05 * size
