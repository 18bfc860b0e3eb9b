"""shared_features: coefficients that every expert shares (flexmix's fixed effects).

The fitted models are checked against the constrained log-likelihood written
out here with scipy (its maximum, its curvature), not against skmoe's own
numerics.
"""

import warnings

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.linear_model import LinearRegression

from skmoe import MoEClassifier, MoEGammaRegressor, MoEPoissonRegressor, MoERegressor
from skmoe.exceptions import SkmoeWarning


def _regimes(n=400, seed=0):
    """Two regimes in x0 (intercept and slope), common effects of x1 and x2."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    first = rng.rand(n) < 0.4
    y = np.where(first, 1 + 2 * X[:, 0], -1 - 2 * X[:, 0])
    y = y + 1.5 * X[:, 1] - 0.5 * X[:, 2] + np.where(first, 0.3, 0.6) * rng.randn(n)
    return X, y


def _counts(n=500, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    first = rng.rand(n) < 0.5
    eta = np.where(first, 1.5 + 0.8 * X[:, 0], 0.2 - 0.8 * X[:, 0]) + 0.5 * X[:, 1]
    return X, rng.poisson(np.exp(eta))


def _shared_rows_equal(model, columns):
    coef = model.expert_coef_[:, columns]
    np.testing.assert_array_equal(coef, np.broadcast_to(coef[:1], coef.shape))


# -- the constrained likelihood, written out independently -------------------------
#
# theta = [log-odds of experts 1.. against expert 0 (constant gate),
#          per expert: intercept and the free features' slopes,
#          the shared slopes, (Gaussian) per expert log variance]


def _unpack(theta, n_experts, free, shared, gaussian):
    theta = np.asarray(theta, dtype=float)
    logits = np.concatenate([[0.0], theta[: n_experts - 1]])
    at = n_experts - 1
    size = 1 + len(free)
    own = theta[at : at + n_experts * size].reshape(n_experts, size)
    at += n_experts * size
    common = theta[at : at + len(shared)]
    at += len(shared)
    n_features = len(free) + len(shared)
    coef = np.zeros((n_experts, n_features))
    coef[:, free] = own[:, 1:]
    coef[:, shared] = common
    variance = np.exp(theta[at:]) if gaussian else None
    return logits, own[:, 0], coef, variance


def _pack(model, free, shared, gaussian):
    log_pi = model.gate_intercept_  # the log proportions, up to a constant
    parts = [log_pi[1:] - log_pi[0]]
    own = np.column_stack([model.expert_intercept_, model.expert_coef_[:, free]])
    parts += [own.ravel(), model.expert_coef_[0, shared]]
    if gaussian:
        parts.append(np.log(model.expert_variance_))
    return np.concatenate(parts)


def _maximum(log_likelihood, theta):
    """scipy's BFGS on ``log_likelihood`` from ``theta``."""
    return optimize.minimize(
        lambda t: -log_likelihood(t), theta, method="BFGS", options={"gtol": 1e-8}
    )


def _log_likelihood(theta, X, y, n_experts, free, shared, gaussian):
    logits, intercept, coef, variance = _unpack(
        theta, n_experts, free, shared, gaussian
    )
    eta = intercept[None, :] + X @ coef.T
    if gaussian:
        expert = stats.norm.logpdf(y[:, None], eta, np.sqrt(variance)[None, :])
    else:
        expert = stats.poisson.logpmf(y[:, None], np.exp(eta))
    log_gate = logits - special.logsumexp(logits)
    return float(np.sum(special.logsumexp(log_gate[None, :] + expert, axis=1)))


@pytest.mark.parametrize("variance_type", ["per_expert", "tied"])
def test_em_reaches_the_constrained_maximum(variance_type):
    # scipy, from the EM fit, finds no higher constrained likelihood
    X, y = _regimes()
    model = MoERegressor(
        2,
        gate="constant",
        shared_features=[1, 2],
        variance_type=variance_type,
        alpha=0,
        tol=1e-10,
        random_state=0,
    ).fit(X, y)
    _shared_rows_equal(model, [1, 2])
    free, shared = [0], [1, 2]
    theta = _pack(model, free, shared, True)
    args = (X, y, 2, free, shared, True)
    ours = _log_likelihood(theta, *args)
    assert ours == pytest.approx(model.log_likelihood_, rel=1e-10)
    if variance_type == "tied":
        # the tied variance as one parameter: optimize over the others
        log_var = theta[-1]

        def objective(t):
            return -_log_likelihood(np.concatenate([t, [log_var, log_var]]), *args)

        start = theta[:-2]
    else:

        def objective(t):
            return -_log_likelihood(t, *args)

        start = theta
    best = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-8})
    assert -best.fun - ours < 1e-6
    np.testing.assert_allclose(best.x, start, atol=1e-3)
    # the shared slopes are near the truth, each estimated once
    np.testing.assert_allclose(model.expert_coef_[0, 1:], [1.5, -0.5], atol=0.05)


def test_poisson_em_reaches_the_constrained_maximum():
    X, y = _counts()
    model = MoEPoissonRegressor(
        2, gate="constant", shared_features=[1], alpha=0, tol=1e-10, random_state=0
    ).fit(X, y)
    _shared_rows_equal(model, [1])
    free, shared = [0], [1]
    theta = _pack(model, free, shared, False)
    args = (X, y, 2, free, shared, False)
    ours = _log_likelihood(theta, *args)
    assert ours == pytest.approx(model.log_likelihood_, rel=1e-10)
    best = _maximum(lambda t: _log_likelihood(t, *args), theta)
    assert -best.fun - ours < 1e-6
    np.testing.assert_allclose(best.x, theta, atol=1e-3)


def _observed_information(theta, args, step=1e-4, log_likelihood=None):
    """Minus the central-difference Hessian of the log-likelihood (of
    ``_log_likelihood(theta, *args)``, or ``log_likelihood(theta)``)."""
    if log_likelihood is None:
        return _observed_information(
            theta, (), step, lambda point: _log_likelihood(point, *args)
        )
    size = len(theta)
    hessian = np.empty((size, size))
    for i in range(size):
        for j in range(i, size):
            total = 0.0
            for si, sj, sign in [(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)]:
                point = theta.copy()
                point[i] += si * step
                point[j] += sj * step
                total += sign * log_likelihood(point)
            hessian[i, j] = hessian[j, i] = total / (4 * step**2)
    return -hessian


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEPoissonRegressor])
def test_std_errors_count_a_shared_coefficient_once(Estimator):
    gaussian = Estimator is MoERegressor
    X, y = _regimes(300) if gaussian else _counts(400)
    if not gaussian:
        X = X[:, :2]
    free, shared = [0], list(range(1, X.shape[1]))
    model = Estimator(
        2, gate="constant", shared_features=shared, alpha=0, tol=1e-10, random_state=0
    ).fit(X, y)
    theta = _pack(model, free, shared, gaussian)
    information = _observed_information(theta, (X, y, 2, free, shared, gaussian))
    expected = np.sqrt(np.diag(np.linalg.inv(information)))
    se = model.std_errors(X, y)
    # theta's layout: gate (1), per expert [intercept, x0] (4), shared slopes
    start = 1 + 2 * (1 + len(free))
    for position, column in enumerate(shared):
        np.testing.assert_allclose(
            se.expert_coef_[:, column], expected[start + position], rtol=1e-3
        )
    np.testing.assert_allclose(se.expert_coef_[:, 0], expected[[2, 4]], rtol=1e-3)
    np.testing.assert_allclose(se.expert_intercept_, expected[[1, 3]], rtol=1e-3)


def test_gamma_std_errors_of_a_shared_coefficient_between_unequal_dispersions():
    # Gamma experts of shapes 50 and 2: the packed coordinates take each
    # expert's coefficients in units of its sqrt(phi_k), a shared row one unit
    rng = np.random.default_rng(0)
    n = 600
    X = rng.normal(size=(n, 2))
    first = rng.random(n) < 0.4
    phi = np.where(first, 0.02, 0.5)
    eta = np.where(first, 1.0 + 0.5 * X[:, 1], -0.5 - 0.8 * X[:, 1]) + 0.3 * X[:, 0]
    y = rng.gamma(1 / phi, np.exp(eta) * phi)
    model = MoEGammaRegressor(
        2, gate="constant", shared_features=[0], alpha=0, tol=1e-10, random_state=0
    ).fit(X, y)
    _shared_rows_equal(model, [0])

    def log_likelihood(theta):
        # [gate log-odds / 2, intercepts (2), shared slope, own slopes (2),
        # dispersions (2)]
        half, b0, b1, shared, c0, c1, phi0, phi1 = theta
        gate = np.array([-half, half]) - special.logsumexp([-half, half])
        parts = [
            gate[k]
            + stats.gamma.logpdf(
                y, 1 / p, scale=np.exp(b + shared * X[:, 0] + c * X[:, 1]) * p
            )
            for k, (b, c, p) in enumerate([(b0, c0, phi0), (b1, c1, phi1)])
        ]
        return special.logsumexp(parts, axis=0).sum()

    theta = np.array(
        [
            model.gate_intercept_[1],
            *model.expert_intercept_,
            model.expert_coef_[0, 0],
            *model.expert_coef_[:, 1],
            *model.expert_dispersion_,
        ]
    )
    assert log_likelihood(theta) == pytest.approx(model.log_likelihood_, rel=1e-10)
    expected = np.sqrt(
        np.diag(np.linalg.inv(_observed_information(theta, (), 1e-5, log_likelihood)))
    )
    se = model.std_errors(X, y)
    np.testing.assert_allclose(se.gate_intercept_, expected[0], rtol=1e-3)
    np.testing.assert_allclose(se.expert_intercept_, expected[1:3], rtol=1e-3)
    np.testing.assert_allclose(se.expert_coef_[:, 0], expected[3], rtol=1e-3)
    np.testing.assert_allclose(se.expert_coef_[:, 1], expected[4:6], rtol=1e-3)
    np.testing.assert_allclose(se.expert_dispersion_, expected[6:], rtol=1e-3)


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(variance_type="tied"),
        dict(alpha=0.05),
        dict(gate="gaussian"),
        dict(n_experts=3),
        dict(expert_features=[0, 2], shared_features=[2]),
    ],
)
def test_em_never_lowers_its_objective(params):
    X, y = _regimes(300, seed=1)
    options = dict(n_experts=2, shared_features=[1, 2], n_init=2, random_state=0)
    options.update(params)
    model = MoERegressor(**options).fit(X, y)
    history = np.asarray(model.objective_history_)
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))
    _shared_rows_equal(model, options["shared_features"])


def test_poisson_em_never_lowers_its_objective():
    X, y = _counts(seed=2)
    model = MoEPoissonRegressor(
        3, shared_features=[1], alpha=1e-3, n_init=2, random_state=0
    ).fit(X, y)
    history = np.asarray(model.objective_history_)
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))
    _shared_rows_equal(model, [1])


def _check_constrained(model, X, y, shared, gaussian):
    """The stored coefficients are tied, and log_likelihood_ is theirs: the
    fit ties them at the end, so a solver that let them drift apart would
    have reported the log-likelihood of other parameters."""
    _shared_rows_equal(model, shared)
    free = [j for j in range(X.shape[1]) if j not in shared]
    theta = _pack(model, free, shared, gaussian)
    ours = _log_likelihood(theta, X, y, model.n_experts_, free, shared, gaussian)
    assert model.log_likelihood_ == pytest.approx(ours, rel=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEPoissonRegressor])
@pytest.mark.parametrize("solver", ["em", "gradient", "sgd", "partial_fit"])
def test_every_solver_keeps_the_shared_coefficients_equal(Estimator, solver):
    gaussian = Estimator is MoERegressor
    X, y = _regimes(300) if gaussian else _counts(300)
    shared = [1, 2] if gaussian else [1]
    options = dict(gate="constant", shared_features=shared, random_state=0)
    if solver == "partial_fit":
        model = Estimator(2, solver="sgd", **options)
        for batch in np.array_split(np.arange(len(y)), 5):
            model.partial_fit(X[batch], y[batch])
        X, y = X[batch], y[batch]  # log_likelihood_ is the last batch's
    else:
        max_iter = 200 if solver != "sgd" else 30
        model = Estimator(2, solver=solver, max_iter=max_iter, n_init=1, **options)
        model.fit(X, y)
    _check_constrained(model, X, y, shared, gaussian)
    if gaussian and solver != "partial_fit":
        np.testing.assert_allclose(model.expert_coef_[0, 1:], [1.5, -0.5], atol=0.1)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEPoissonRegressor])
def test_every_feature_shared(Estimator):
    # experts that differ in their intercepts alone (one feature, shared):
    # the constrained maximum, and BIC counting one slope
    gaussian = Estimator is MoERegressor
    X, y = _regimes() if gaussian else _counts()
    X = X[:, 1:2]
    model = Estimator(
        2, gate="constant", shared_features=[0], alpha=0, tol=1e-10, random_state=0
    ).fit(X, y)
    _check_constrained(model, X, y, [0], gaussian)
    theta = _pack(model, [], [0], gaussian)
    args = (X, y, 2, [], [0], gaussian)
    best = _maximum(lambda t: _log_likelihood(t, *args), theta)
    # EM creeps along the ridge of intercepts and slope: 1.5e-6 left here
    assert -best.fun - _log_likelihood(theta, *args) < 1e-5
    n_parameters = 1 + 2 + 1 + (2 if gaussian else 0)
    expected = -2 * model.log_likelihood_ + n_parameters * np.log(len(y))
    assert model.bic(X, y) == pytest.approx(expected, rel=1e-12)
    from sklearn.tree import DecisionTreeRegressor

    with pytest.raises(ValueError, match="expert_estimator"):
        Estimator(
            2, expert_estimator=DecisionTreeRegressor(), shared_features=[True]
        ).fit(X, y)


def test_sparse_routing_and_pruning_keep_the_shared_coefficients_equal():
    # top-k EM is not monotone (its E-step is truncated): only the constraint
    X, y = _regimes(300)
    model = MoERegressor(
        4, top_k=1, prune_threshold=0.2, shared_features=[1, 2], random_state=0
    ).fit(X, y)
    assert model.n_experts_ < 4
    _shared_rows_equal(model, [1, 2])


def test_gradient_solvers_reach_em_optimum():
    X, y = _regimes(300)
    options = dict(gate="constant", shared_features=[1, 2], alpha=0, random_state=0)
    em = MoERegressor(2, tol=1e-10, **options).fit(X, y)
    lbfgs = MoERegressor(2, solver="gradient", tol=1e-10, **options).fit(X, y)
    assert lbfgs.log_likelihood_ == pytest.approx(em.log_likelihood_, abs=1e-4)
    order = np.argsort(lbfgs.expert_intercept_), np.argsort(em.expert_intercept_)
    np.testing.assert_allclose(
        lbfgs.expert_coef_[order[0]], em.expert_coef_[order[1]], atol=1e-3
    )


def test_bic_counts_each_shared_coefficient_once():
    X, y = _regimes()
    model = MoERegressor(3, shared_features=[1, 2], random_state=0).fit(X, y)
    n, d = X.shape
    n_experts, n_shared = 3, 2
    n_parameters = (
        (n_experts - 1) * (d + 1)  # softmax gate
        + n_experts * (1 + d - n_shared)  # each expert's own coefficients
        + n_shared  # the shared ones
        + n_experts  # variances
    )
    expected = -2 * model.log_likelihood_ + n_parameters * np.log(n)
    assert model.bic(X, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEPoissonRegressor])
def test_auto_counts_only_an_experts_own_parameters(Estimator):
    """n_experts="auto" needs 2 samples per parameter an expert fits from its own
    samples: 40 samples, 9 of 10 features shared, leave 2 candidate experts
    3 (Gaussian: 4) own parameters each. Counting the 9 shared ones against
    every expert would pass over every candidate of several experts."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 10))
    common = X[:, 1:] @ rng.normal(size=9)
    if Estimator is MoERegressor:
        y = np.where(X[:, 0] > 0, 3.0, -3.0) + 0.5 * X[:, 0] + common
        y = y + 0.1 * rng.normal(size=40)
    else:
        y = rng.poisson(np.exp(np.where(X[:, 0] > 0, 2.0, 0.0) + 0.2 * common))
    options = dict(n_experts="auto", gate_features=[0], random_state=0)
    free = Estimator(**options).fit(X, y)
    assert free.n_experts_ == 1
    assert np.all(np.isinf(free.n_experts_bic_[1:]))  # 40 < 2 * 2 * 12 (or 11)
    shared = Estimator(shared_features=list(range(1, 10)), **options).fit(X, y)
    assert np.isfinite(shared.n_experts_bic_[1])
    assert shared.n_experts_ >= 2
    assert shared.n_experts_bic_[shared.n_experts_ - 1] < shared.n_experts_bic_[0]


def test_one_expert_is_a_linear_regression():
    X, y = _regimes()
    model = MoERegressor(1, shared_features=[1], alpha=0).fit(X, y)
    reference = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.expert_coef_[0], reference.coef_, rtol=1e-8)


def test_features_by_name_mask_and_subset():
    pd = pytest.importorskip("pandas")
    X, y = _regimes(300)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    by_index = MoERegressor(
        2, expert_features=[0, 2], shared_features=[2], n_init=1, random_state=0
    ).fit(X, y)
    by_name = MoERegressor(
        2,
        expert_features=["a", "c"],
        shared_features=["c"],
        n_init=1,
        random_state=0,
    ).fit(frame, y)
    by_mask = MoERegressor(
        2,
        expert_features=[0, 2],
        shared_features=[False, False, True],
        n_init=1,
        random_state=0,
    ).fit(X, y)
    for model in (by_name, by_mask):
        np.testing.assert_allclose(model.expert_coef_, by_index.expert_coef_)
    _shared_rows_equal(by_index, [2])
    np.testing.assert_array_equal(by_index.expert_coef_[:, 1], 0)
    assert by_index.expert_coef_[0, 0] != by_index.expert_coef_[1, 0]


def test_no_shared_features_is_the_plain_model():
    X, y = _regimes(300)
    plain = MoERegressor(2, n_init=2, random_state=0).fit(X, y)
    empty = MoERegressor(2, shared_features=[], n_init=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(empty.predict(X), plain.predict(X))


@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_warm_start_ties_the_coefficients(solver):
    X, y = _regimes(300)
    model = MoERegressor(2, solver=solver, random_state=0).fit(X, y)
    assert not np.allclose(model.expert_coef_[0, 1], model.expert_coef_[1, 1])
    before = model.log_likelihood_
    model.set_params(shared_features=[1, 2], warm_start=True).fit(X, y)
    _shared_rows_equal(model, [1, 2])
    assert model.log_likelihood_ <= before + 1e-6  # a constrained model
    cold = MoERegressor(2, solver=solver, shared_features=[1, 2], random_state=0)
    cold.fit(X, y)
    assert model.log_likelihood_ == pytest.approx(cold.log_likelihood_, abs=1e-3)


def test_refused_combinations():
    X, y = _regimes(100)
    with pytest.raises(ValueError, match="among the expert features"):
        MoERegressor(2, expert_features=[0], shared_features=[1]).fit(X, y)
    from sklearn.tree import DecisionTreeRegressor

    with pytest.raises(ValueError, match="expert_estimator"):
        MoERegressor(
            2, expert_estimator=DecisionTreeRegressor(), shared_features=[1]
        ).fit(X, y)
    with pytest.raises(ValueError, match="shared_features"):
        MoERegressor(2, shared_features=[5]).fit(X, y)
    model = MoERegressor(2, solver="sgd", random_state=0).partial_fit(X, y)
    model.set_params(shared_features=[1])
    with pytest.raises(ValueError, match="call fit"):
        model.partial_fit(X, y)
    # the features, not their rows in the experts' design: shared feature 2's
    # row is 2 both times, but feature 1 was the shared one
    model = MoERegressor(2, shared_features=[1], solver="sgd", random_state=0)
    model.partial_fit(X, y)
    model.set_params(expert_features=[1, 2], shared_features=[2])
    with pytest.raises(ValueError, match=r"shared features \[1\] differ"):
        model.partial_fit(X, y)
    # other expert features, the same shared one: refused too (Adam's units
    # are the fitted features'); the fitted ones again: continues, tied
    model.set_params(expert_features=[0, 1], shared_features=[1])
    with pytest.raises(ValueError, match="expert_features changed"):
        model.partial_fit(X, y)
    model.set_params(expert_features=None)
    model.partial_fit(X, y)
    _shared_rows_equal(model, [1])
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(ValueError, match="expert_estimator"):
        MoEClassifier(
            2, expert_estimator=DecisionTreeClassifier(), shared_features=[1]
        ).fit(X, y > 0)


# -- multinomial logistic experts (MoEClassifier) ----------------------------------
#
# theta = [log-odds of experts 1.. against expert 0 (constant gate),
#          per expert and class: intercept and the free features' slopes,
#          per class: the shared slopes]; the classes' softmax is invariant to a
# common shift, which the maximum does not mind and the standard errors avoid by
# taking two classes (beta: class 1 against class 0).


def _classes(n=600, seed=0, n_classes=3):
    """Two regimes in x0, common class effects of x1 and x2."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    first = rng.rand(n) < 0.5
    own = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]])[:, :n_classes]
    common = np.array([[1.0, -0.5, -0.5], [0.0, 0.8, -0.8]])[:, :n_classes]
    sign = np.where(first, 1.0, -1.0)[:, None]
    logits = sign * (own[0] + X[:, :1] * own[1]) + X[:, 1:] @ common
    prob = special.softmax(logits, axis=1)
    y = (rng.rand(n, 1) > np.cumsum(prob, axis=1)).sum(axis=1)
    return X, y


def _classifier_log_likelihood(theta, X, y, n_experts, n_classes, free, shared):
    logits = np.concatenate([[0.0], theta[: n_experts - 1]])
    at = n_experts - 1
    size = n_classes * (1 + len(free))
    own = theta[at : at + n_experts * size].reshape(n_experts, n_classes, -1)
    common = theta[at + n_experts * size :].reshape(n_classes, len(shared))
    coef = np.zeros((n_experts, n_classes, X.shape[1]))
    coef[:, :, free] = own[:, :, 1:]
    coef[:, :, shared] = common[None, :, :]
    eta = own[None, :, :, 0] + np.einsum("nj,kcj->nkc", X, coef)
    expert = special.log_softmax(eta, axis=2)[np.arange(len(y)), :, y]  # (n, K)
    log_gate = logits - special.logsumexp(logits)
    return float(np.sum(special.logsumexp(log_gate[None, :] + expert, axis=1)))


def _classifier_pack(model, free, shared):
    log_pi = model.gate_intercept_
    own = np.concatenate(
        [model.expert_intercept_[:, :, None], model.expert_coef_[:, :, free]], axis=2
    )
    parts = [log_pi[1:] - log_pi[0], own.ravel(), model.expert_coef_[0][:, shared]]
    return np.concatenate([part.ravel() for part in parts])


def _check_classifier(model, X, y, shared):
    coef = model.expert_coef_[:, :, shared]
    np.testing.assert_array_equal(coef, np.broadcast_to(coef[:1], coef.shape))
    free = [j for j in range(X.shape[1]) if j not in shared]
    theta = _classifier_pack(model, free, shared)
    args = (X, y, model.n_experts_, len(model.classes_), free, shared)
    ours = _classifier_log_likelihood(theta, *args)
    assert model.log_likelihood_ == pytest.approx(ours, rel=1e-9)
    return theta, args


@pytest.mark.parametrize("path", ["newton", "conjugate gradients"])
def test_classifier_em_reaches_the_constrained_maximum(path, monkeypatch):
    from skmoe.experts import logistic

    if path != "newton":
        monkeypatch.setattr(logistic, "NEWTON_MAX_COEF", 0)
    X, y = _classes()
    model = MoEClassifier(
        2,
        gate="constant",
        shared_features=[1, 2],
        alpha=0,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    ).fit(X, y)
    theta, args = _check_classifier(model, X, y, [1, 2])
    ours = _classifier_log_likelihood(theta, *args)
    best = _maximum(lambda t: _classifier_log_likelihood(t, *args), theta)
    assert -best.fun - ours < 1e-6
    history = np.asarray(model.objective_history_)
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[1:]))
    # the shared class effects (centred over the classes) near the truth
    truth = np.array([[1.0, -0.5, -0.5], [0.0, 0.8, -0.8]]).T
    np.testing.assert_allclose(model.expert_coef_[0][:, 1:], truth, atol=0.2)


def test_classifier_std_errors_count_a_shared_coefficient_once():
    X, y = _classes(500, seed=1, n_classes=2)
    free, shared = [0], [1, 2]
    model = MoEClassifier(
        2, gate="constant", shared_features=shared, alpha=0, tol=1e-10, random_state=0
    ).fit(X, y)
    # two classes: per expert [intercept, x0] and the shared slopes of class 1
    # against class 0 (the centred coefficients are -beta / 2 and beta / 2)
    coef, intercept = model.expert_coef_, model.expert_intercept_
    own = np.column_stack([np.diff(intercept, axis=1), np.diff(coef[:, :, 0], axis=1)])
    beta = np.concatenate(
        [
            model.gate_intercept_[1:] - model.gate_intercept_[0],
            own.ravel(),
            np.diff(coef[0][:, shared], axis=0).ravel(),
        ]
    )

    def log_likelihood(t):
        zeros = np.zeros(2)
        own = t[1:5].reshape(2, 2)
        theta = np.concatenate(
            [t[:1], np.column_stack([zeros, zeros, own]).reshape(2, 2, 2).ravel()]
        )
        theta = np.concatenate([theta, np.zeros(2), t[5:]])
        return _classifier_log_likelihood(theta, X, y, 2, 2, free, shared)

    theta_args = _check_classifier(model, X, y, shared)
    assert log_likelihood(beta) == pytest.approx(
        _classifier_log_likelihood(theta_args[0], *theta_args[1]), rel=1e-10
    )
    information = _observed_information(beta, (), log_likelihood=log_likelihood)
    expected = np.sqrt(np.diag(np.linalg.inv(information))) / 2
    se = model.std_errors(X, y)
    for position, column in enumerate(shared):
        np.testing.assert_allclose(
            se.expert_coef_[:, :, column], expected[5 + position], rtol=1e-3
        )
    np.testing.assert_allclose(
        se.expert_coef_[:, :, 0], expected[[2, 2, 4, 4]].reshape(2, 2), rtol=1e-3
    )
    np.testing.assert_allclose(
        se.expert_intercept_, expected[[1, 1, 3, 3]].reshape(2, 2), rtol=1e-3
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["em", "gradient", "sgd", "partial_fit"])
def test_classifier_solvers_keep_the_shared_coefficients_equal(solver):
    X, y = _classes(400)
    options = dict(gate="constant", shared_features=[1, 2], random_state=0)
    if solver == "partial_fit":
        model = MoEClassifier(2, solver="sgd", **options)
        for batch in np.array_split(np.arange(len(y)), 4):
            model.partial_fit(X[batch], y[batch], classes=[0, 1, 2])
        X, y = X[batch], y[batch]
    else:
        max_iter = 200 if solver != "sgd" else 30
        model = MoEClassifier(2, solver=solver, max_iter=max_iter, **options)
        model.fit(X, y)
    _check_classifier(model, X, y, [1, 2])


def test_classifier_gradient_reaches_the_em_optimum_and_bic_counts_once():
    X, y = _classes(400, seed=3)
    # the first k-means start leads EM to a local maximum 25 lower here, with or
    # without shared features: three starts find the global one
    options = dict(
        gate="constant", shared_features=[1, 2], alpha=0, n_init=3, random_state=0
    )
    em = MoEClassifier(2, tol=1e-10, max_iter=2000, **options).fit(X, y)
    lbfgs = MoEClassifier(2, solver="gradient", tol=1e-10, **options).fit(X, y)
    assert lbfgs.log_likelihood_ == pytest.approx(em.log_likelihood_, abs=1e-4)
    n, d = X.shape
    n_parameters = 1 + 2 * 2 * (1 + 1) + 2 * 2  # gate, own (C-1 per row), shared
    expected = -2 * em.log_likelihood_ + n_parameters * np.log(n)
    assert em.bic(X, y) == pytest.approx(expected, rel=1e-12)


def test_log_exposure_shared_by_the_experts_is_the_exposure_model():
    # the documented recipe for counts over different exposures: log(exposure)
    # as a feature all experts share, which the gate does not see. Its
    # likelihood is that of the mixture of Poisson(exposure * mu_k) (the
    # exposure's coefficient free), at least the offset model's maximum, and
    # the same in any unit of exposure (the rates recipe's is not)
    rng = np.random.RandomState(0)
    n = 1500
    x = rng.normal(size=n)
    exposure = rng.choice([0.3, 3.0], size=n)
    regime = rng.rand(n) < 0.4
    y = rng.poisson(exposure * np.exp(np.where(regime, 1.5 + 0.5 * x, 0.2 - 0.7 * x)))
    options = dict(gate="constant", shared_features=[1], alpha=0, tol=1e-10)
    fits = [
        MoEPoissonRegressor(2, random_state=0, **options).fit(
            np.column_stack([x, np.log(exposure * unit)]), y
        )
        for unit in (1.0, 100.0)
    ]
    np.testing.assert_allclose(
        fits[1].log_likelihood_, fits[0].log_likelihood_, rtol=1e-8
    )
    np.testing.assert_allclose(fits[1].expert_coef_, fits[0].expert_coef_, atol=1e-5)
    model = fits[0]
    np.testing.assert_allclose(model.expert_coef_[:, 1], 1.0, atol=0.05)

    def offset_log_likelihood(theta):  # the exposure's coefficient fixed at 1
        log_gate = np.log([special.expit(-theta[0]), special.expit(theta[0])])
        eta = theta[1:3] + np.outer(x, theta[3:5]) + np.log(exposure)[:, None]
        terms = stats.poisson.logpmf(y[:, None], np.exp(eta)) + log_gate
        return np.sum(special.logsumexp(terms, axis=1))

    log_pi = model.gate_intercept_
    start = np.r_[
        log_pi[1] - log_pi[0], model.expert_intercept_, model.expert_coef_[:, 0]
    ]
    best = optimize.minimize(lambda t: -offset_log_likelihood(t), start, method="BFGS")
    assert model.log_likelihood_ >= -best.fun - 1e-6
    np.testing.assert_allclose(
        np.sort(best.x[3:5]), np.sort(model.expert_coef_[:, 0]), atol=0.02
    )
    # the rates recipe with the exposure in other units: another fit (and
    # fit says so)
    with pytest.warns(SkmoeWarning, match="non-integer values"):
        rates = [
            MoEPoissonRegressor(2, gate="constant", alpha=0, random_state=0).fit(
                x[:, None], y / (exposure * unit), sample_weight=exposure * unit
            )
            for unit in (1.0, 100.0)
        ]
    assert (
        np.max(
            np.abs(
                np.sort(rates[0].expert_coef_[:, 0])
                - np.sort(rates[1].expert_coef_[:, 0])
            )
        )
        > 0.1
    )


def test_shared_slopes_of_near_limit_y_match_those_of_y_scaled_down():
    # float64 y near 2**505: the ECM's weights 1 / s2_k near 1e-303 made the
    # joint solve's absolute jitter (the smallest normal) move the shared
    # slope by 4e-8 of the coefficients; y / 2**505 (exact), scaled back
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0, 3 * X[:, 0] + 1, -X[:, 0] - 2)
    y = y + 0.3 * rng.normal(size=300)
    unit = 2.0**505
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = MoERegressor(2, shared_features=[1], random_state=0)
        model.fit(X, y * unit)
    reference = MoERegressor(2, shared_features=[1], random_state=0).fit(X, y)
    expected = reference.expert_coef_ * unit
    atol = 1e-12 * np.max(np.abs(expected))
    np.testing.assert_allclose(model.expert_coef_, expected, rtol=1e-12, atol=atol)
    np.testing.assert_allclose(
        model.expert_variance_, reference.expert_variance_ * unit**2, rtol=1e-12
    )


def test_solve_shared_with_noise_against_the_dense_system():
    # noise (K, d) goes on each expert's free diagonal and, weighted and
    # summed, on the shared block's: the minimizer of
    # sum_k w_k (x_k^T (A_k + diag(noise_k)) x_k / 2 - b_k^T x_k) with the
    # entries `shared` tied, solved here as one dense system
    from skmoe._math import solve_shared

    rng = np.random.default_rng(0)
    K, d, shared = 3, 4, [1, 3]
    free = [0, 2]
    M = rng.standard_normal((K, d, d))
    A = M @ np.transpose(M, (0, 2, 1)) + 0.5 * np.eye(d)
    b = rng.standard_normal((K, d))
    weights = np.array([0.5, 2.0, 3.0])
    noise = rng.uniform(0.5, 5.0, size=(K, d))
    got = solve_shared(np, A, b, shared, weights, noise)
    # unknowns: each expert's free entries, then the shared ones
    n_free, n_shared = len(free), len(shared)
    size = K * n_free + n_shared
    # x_k = P_k z: z's block k at the free entries, its last block at the shared
    P = np.zeros((K, d, size))
    for k in range(K):
        P[k, free, k * n_free + np.arange(n_free)] = 1.0
        P[k, shared, K * n_free + np.arange(n_shared)] = 1.0
    H = sum(
        w * P[k].T @ (A[k] + np.diag(n)) @ P[k]
        for k, (w, n) in enumerate(zip(weights, noise, strict=True))
    )
    g = sum(w * P[k].T @ b[k] for k, w in enumerate(weights))
    z = np.linalg.solve(H, g)
    expected = np.stack([P[k] @ z for k in range(K)])
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(
        got[:, shared], np.broadcast_to(got[0, shared], (K, 2))
    )


def test_shared_features_outside_the_expert_features_are_named():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 3))
    y = X[:, 0] + 0.1 * rng.normal(size=50)
    model = MoERegressor(n_experts=2, expert_features=[0], shared_features=[0, 2])
    with pytest.raises(ValueError, match=r"expert_features=\[0\]\): \[2\]\. Shared"):
        model.fit(X, y)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model.set_params(expert_features=["a"], shared_features=["b", "c"])
    with pytest.raises(
        ValueError, match=r"expert_features=\['a'\]\): \['b', 'c'\]\. Shared"
    ):
        model.fit(frame, y)
