"""Classification EM (``assignment="hard"``): each M-step on hard assignments.

At its fixed point every expert is the least-squares fit of the samples
assigned to it, which scikit-learn's LinearRegression computes independently;
the objective it records is the classification log-likelihood of that
partition, computed here from the partition alone.
"""

import warnings

import numpy as np
import pytest
from _references import group_joint_log_density, grouped_two_lines
from scipy.special import logsumexp
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
)

from skmoe import MoEClassifier, MoEGammaRegressor, MoEPoissonRegressor, MoERegressor
from skmoe._demo import make_regimes


def crossing(n=600, seed=0, noise=0.5):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-2, 2, n)
    first = rng.uniform(size=n) < 0.5
    y = np.where(first, 2.0 * x, 1.0 - x) + noise * rng.normal(size=n)
    return x[:, None], y


def least_squares_by_cluster(X, y, labels, n_experts):
    """Per cluster: coefficients, intercept, ML noise variance, share of rows;
    and the partition's classification log-likelihood per row."""
    fits, total = [], 0.0
    for k in range(n_experts):
        rows = labels == k
        fit = LinearRegression().fit(X[rows], y[rows])
        residual = y[rows] - fit.predict(X[rows])
        variance = np.mean(residual**2)
        share = np.mean(rows)
        total += rows.sum() * np.log(share)
        total -= 0.5 * np.sum(np.log(2 * np.pi * variance) + residual**2 / variance)
        fits.append((fit.coef_, fit.intercept_, variance, share))
    return fits, total / len(y)


@pytest.mark.parametrize("gate", ["constant", "softmax", "gaussian"])
def test_fixed_point_is_least_squares_on_the_partition(gate):
    X, y = make_regimes(600, random_state=1)
    model = MoERegressor(
        3, gate=gate, assignment="hard", alpha=0.0, random_state=0
    ).fit(X, y)
    assert model.converged_
    labels = np.argmax(model.responsibilities(X, y), axis=1)
    fits, _ = least_squares_by_cluster(X, y, labels, 3)
    for k, (coef, intercept, variance, _) in enumerate(fits):
        np.testing.assert_allclose(model.expert_coef_[k], coef, atol=1e-6)
        np.testing.assert_allclose(model.expert_intercept_[k], intercept, atol=1e-6)
        np.testing.assert_allclose(model.expert_variance_[k], variance, rtol=1e-6)


def test_objective_is_the_classification_log_likelihood():
    X, y = crossing()
    model = MoERegressor(
        2, gate="constant", assignment="hard", alpha=0.0, random_state=0
    ).fit(X, y)
    labels = np.argmax(model.responsibilities(X, y), axis=1)
    fits, classification = least_squares_by_cluster(X, y, labels, 2)
    # the constant gate's proportions are the clusters' shares
    gate = np.exp(model.gate_intercept_ - np.logaddexp.reduce(model.gate_intercept_))
    np.testing.assert_allclose(gate, [share for *_, share in fits], atol=1e-9)
    np.testing.assert_allclose(model.objective_history_[-1], classification, rtol=1e-9)
    # it never falls, and it is below the mixture log-likelihood per row
    assert np.all(np.diff(model.objective_history_) >= -1e-12)
    assert model.objective_history_[-1] < model.log_likelihood_ / len(y)


def test_hard_assignment_shrinks_the_noise_where_experts_overlap():
    # crossing lines with noise sd 1: EM recovers the sds; classification EM
    # gives each row to the nearer line, which cuts off the tails (the known
    # bias of CEM)
    X, y = crossing(20_000, noise=1.0)
    sds = {}
    for assignment in ("soft", "hard"):
        model = MoERegressor(
            2, gate="constant", assignment=assignment, n_init=2, random_state=0
        ).fit(X, y)
        sds[assignment] = np.sqrt(model.expert_variance_)
    np.testing.assert_allclose(sds["soft"], 1.0, atol=0.03)
    assert np.all(sds["hard"] < 0.95)


def test_an_emptied_expert_is_named_unused():
    # noise sd 1.5: classification EM gives every row to one line
    X, y = crossing(20_000, noise=1.5)
    model = MoERegressor(2, gate="constant", assignment="hard", random_state=0)
    with pytest.warns(UserWarning, match="less than one sample.*uses 1 of its 2"):
        model.fit(X, y)
    assert np.min(model.expert_usage_) * len(y) < 1
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("seed, start", [(0, 1), (4, 0)])
def test_an_empty_expert_moves_with_the_data(seed, start):
    """An expert to which no row is assigned fitted no rows and kept its start
    (intercept 0 where y was near 1e6): its gate weight of 1e-6 moved the
    predictions by 8 when y moved by 1e6. Predictions shift with y now."""
    rng = np.random.RandomState(seed)
    X = rng.randn(150, 2)
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 1]) + 0.3 * rng.randn(150)
    options = dict(
        assignment="hard", init_params="random", n_init=1, random_state=start
    )
    fits = []
    for shift in (0.0, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the empty expert's warning
            fits.append(MoERegressor(5, **options).fit(X, y + shift))
    assert np.min(fits[1].expert_usage_) * len(y) < 1  # an expert is empty
    np.testing.assert_allclose(fits[1].predict(X) - 1e6, fits[0].predict(X), atol=1e-4)


def test_classifier_refuses_hard_assignment_without_groups():
    # each expert would take the samples of one class (a fixed point of
    # classification EM where the gate alone classifies)
    X, y = make_regimes(100, random_state=2)
    labels = (y > np.median(y)).astype(int)
    with pytest.raises(ValueError, match="assignment='hard' needs groups"):
        MoEClassifier(2, assignment="hard").fit(X, labels)


def test_classifier_with_trials_is_logistic_regression_on_each_partition():
    # binomial responses: one group per observation of several trials; at
    # the fixed point each expert is the unpenalized logistic regression of
    # the trials of its observations
    rng = np.random.RandomState(0)
    x = rng.uniform(-2, 2, 120)
    trials = rng.randint(5, 30, 120)
    first = rng.uniform(size=120) < 0.4
    p = 1 / (1 + np.exp(-np.where(first, 1 + 2 * x, -0.5 - x)))
    successes = rng.binomial(trials, p)
    groups = np.repeat(np.arange(120), trials)
    within = np.arange(len(groups)) - np.repeat(np.cumsum(trials) - trials, trials)
    X, y = x[groups, None], (within < successes[groups]).astype(int)
    model = MoEClassifier(
        2, gate="constant", assignment="hard", alpha=0.0, tol=1e-10, random_state=0
    ).fit(X, y, groups=groups)
    labels = np.argmax(model.responsibilities(X, y, groups=groups), axis=1)
    for k in range(2):
        rows = labels == k
        assert len(np.unique(y[rows])) == 2  # both classes in each expert
        # C=np.inf, not penalty=None (deprecated in scikit-learn 1.8, gone in 1.10)
        reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000)
        reference.fit(X[rows], y[rows])
        logit = model.expert_coef_[k, 1] - model.expert_coef_[k, 0]
        intercept = model.expert_intercept_[k, 1] - model.expert_intercept_[k, 0]
        np.testing.assert_allclose(logit, reference.coef_[0], rtol=1e-5)
        np.testing.assert_allclose(intercept, reference.intercept_[0], atol=1e-5)


@pytest.mark.parametrize("Estimator", [MoEPoissonRegressor, MoEGammaRegressor])
def test_count_and_amount_experts(Estimator):
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (500, 1))
    mean = np.exp(np.where(X[:, 0] > 0, 1 + X[:, 0], 2 - X[:, 0]))
    y = (
        rng.poisson(mean)
        if Estimator is MoEPoissonRegressor
        else rng.gamma(5, mean / 5)
    )
    hard = Estimator(2, assignment="hard", alpha=0.0, random_state=0).fit(X, y)
    soft = Estimator(2, random_state=0).fit(X, y)
    assert hard.converged_
    assert np.all(np.diff(hard.objective_history_) >= -1e-12)
    # the fixed point: each expert is scikit-learn's GLM on its own rows
    labels = np.argmax(hard.responsibilities(X, y), axis=1)
    Reference = PoissonRegressor if Estimator is MoEPoissonRegressor else GammaRegressor
    for k in range(2):
        part = labels == k
        reference = Reference(alpha=0.0, tol=1e-12, max_iter=10000)
        reference.fit(X[part], y[part])
        np.testing.assert_allclose(hard.expert_coef_[k], reference.coef_, atol=1e-6)
        np.testing.assert_allclose(
            hard.expert_intercept_[k], reference.intercept_, atol=1e-6
        )
    # separated regimes: both recover them
    assert hard.score(X, y) == pytest.approx(soft.score(X, y), abs=0.05)


def test_groups_take_one_expert_each():
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(60), 5)
    slope = np.where(np.arange(60) % 2 == 0, 2.0, -1.0)[groups]
    X = rng.uniform(-2, 2, (300, 1))
    y = slope * X[:, 0] + 0.3 * rng.randn(300)
    model = MoERegressor(2, gate="constant", assignment="hard", random_state=0)
    model.fit(X, y, groups=groups)
    np.testing.assert_allclose(np.sort(model.expert_coef_[:, 0]), [-1, 2], atol=0.05)


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_gradient_solvers_refuse_hard_assignment(solver):
    X, y = crossing(100)
    model = MoERegressor(2, solver=solver, assignment="hard")
    with pytest.raises(ValueError, match="assignment='hard'.*solver='em'"):
        model.fit(X, y)


def test_no_partial_fit_and_no_std_errors():
    X, y = crossing(200)
    model = MoERegressor(2, gate="constant", assignment="hard", random_state=0)
    assert not hasattr(model, "partial_fit")  # online EM averages soft ones
    model.fit(X, y)
    with pytest.raises(ValueError, match="std_errors is not available"):
        model.std_errors(X, y)
    before = model.expert_coef_.copy()
    assert not hasattr(model.set_params(solver="sgd"), "partial_fit")
    np.testing.assert_array_equal(model.expert_coef_, before)
    model.set_params(solver="em", assignment="soft").partial_fit(X, y)
    assert np.all(np.isfinite(model.predict(X)))


def test_convergence_display_names_the_classification_objective():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skmoe.plotting import ConvergenceDisplay

    X, y = crossing(200)
    model = MoERegressor(2, gate="constant", assignment="hard", random_state=0)
    display = ConvergenceDisplay.from_estimator(model.fit(X, y), objective=True)
    assert "classification" in display.ax_.get_ylabel()


@pytest.mark.parametrize("solver", ["em", "sgd"])
def test_partial_fit_after_a_hard_fit_starts_a_new_objective_history(solver):
    # objective_history_ went on from the classification objective with the
    # mixture's, one curve of two functions (and ConvergenceDisplay named it
    # the classification objective)
    X, y = crossing(400)
    model = MoERegressor(2, gate="constant", assignment="hard", random_state=0)
    model.fit(X, y)
    model.set_params(solver=solver, assignment="soft").partial_fit(X, y)
    assert len(model.objective_history_) == 1
    # the mixture's per-sample objective, above the classification one
    soft = MoERegressor(2, gate="constant", random_state=0, alpha=model.alpha)
    ceiling = soft.fit(X, y).objective_history_[-1]
    assert model.objective_history_[0] <= ceiling + 1e-9
    assert model.objective_history_[0] > ceiling - 0.01
    model.partial_fit(X, y)  # the new history goes on
    assert len(model.objective_history_) == 2


def test_hard_assignment_with_groups_maximizes_the_groups_classification_likelihood():
    # classification EM with groups: each group goes to one expert, and the
    # objective is sum_g w_g max_k (log g_k + sum_{i in g} log p_k(y_i | x_i))
    # over the total row weight (a group's gate term counted once, not once
    # per row), written out with SciPy from the fitted attributes
    X, y, groups, first, rng = grouped_two_lines(noise=0.5)
    n_groups = len(first)
    group_weight = rng.randint(1, 4, n_groups).astype(float)
    weight = group_weight[groups]
    model = MoERegressor(
        2, gate="constant", assignment="hard", alpha=0.0, n_init=1, random_state=0
    ).fit(X, y, sample_weight=weight, groups=groups)
    joint = group_joint_log_density(model, X, y, first)  # (n_groups, K)
    assert model.converged_
    np.testing.assert_allclose(
        model.log_likelihood_, np.sum(group_weight * logsumexp(joint, axis=1))
    )
    expected = np.sum(group_weight * np.max(joint, axis=1)) / np.sum(weight)
    np.testing.assert_allclose(model.objective_history_[-1], expected, rtol=1e-10)
