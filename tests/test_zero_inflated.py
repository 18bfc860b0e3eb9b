"""MoEPoissonRegressor(zero_inflated=True): the first expert a point mass at
zero, checked against the zero-inflated Poisson likelihood written out here
(maximized by scipy, its Hessian by finite differences) and its closed-form
predictive distribution."""

import pickle
import warnings

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.base import clone
from sklearn.tree import DecisionTreeRegressor

from skmoe import MoENegativeBinomialRegressor, MoEPoissonRegressor, bootstrap_lrt

TIGHT = dict(alpha=0.0, tol=1e-12, max_iter=5000)


def zip_data(n=2000, seed=0, exposure=False):
    """Structural zeros with probability expit(x1 - 0.5), else Poisson counts of
    log rate 1 + 0.5 x2 (per unit exposure)."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    e = rng.uniform(0.3, 3.0, n) if exposure else np.ones(n)
    never = rng.rand(n) < special.expit(X[:, 0] - 0.5)
    y = np.where(never, 0, rng.poisson(e * np.exp(1 + 0.5 * X[:, 1])))
    return X, y, e


def zip_log_likelihood(theta, X, y, e):
    """Per-row log-likelihoods and their gradients in theta = (a, b): logit of
    a structural zero a0 + a . x, log rate b0 + b . x + log(e)."""
    Xt = np.column_stack([np.ones(len(X)), X])
    a, b = theta[:3], theta[3:]
    p = special.expit(Xt @ a)
    mu = e * np.exp(Xt @ b)
    zero = y == 0
    l0 = p + (1 - p) * np.exp(-mu)  # the probability of a zero
    ll = np.where(
        zero,
        np.log(l0),
        np.log1p(-p) + stats.poisson.logpmf(y, mu),
    )
    d_logit = np.where(zero, p * (1 - p) * (1 - np.exp(-mu)) / l0, -p)
    d_eta = np.where(zero, -(1 - p) * np.exp(-mu) * mu / l0, y - mu)
    grad = np.concatenate([Xt.T @ d_logit, Xt.T @ d_eta])
    return ll, grad


def direct_fit(X, y, e):
    def negative(theta):
        ll, grad = zip_log_likelihood(theta, X, y, e)
        return -ll.sum(), -grad

    result = optimize.minimize(
        negative, np.zeros(6), jac=True, method="BFGS", options={"gtol": 1e-10}
    )
    return result.x, -result.fun


def as_theta(model):
    """skmoe's fit as (a, b): the gate's logit of the point mass (expert 0)
    against the Poisson expert, and the expert's coefficients."""
    assert np.isneginf(model.expert_intercept_[0])
    gate = np.r_[model.gate_intercept_[0], model.gate_coef_[0]]
    gate = gate - np.r_[model.gate_intercept_[1], model.gate_coef_[1]]
    return np.r_[gate, model.expert_intercept_[1], model.expert_coef_[1]]


@pytest.mark.parametrize("exposure", [False, True])
@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_two_experts_are_the_zero_inflated_poisson_maximum(solver, exposure):
    X, y, e = zip_data(exposure=exposure)
    theta, best = direct_fit(X, y, e)
    model = MoEPoissonRegressor(
        2, zero_inflated=True, solver=solver, random_state=0, **TIGHT
    )
    model.fit(X, y, exposure=e if exposure else None)
    np.testing.assert_allclose(model.log_likelihood_, best, rtol=1e-9)
    np.testing.assert_allclose(as_theta(model), theta, atol=2e-5)
    # the point mass has no slopes, and its rate is 0 wherever x is
    assert np.all(model.expert_coef_[0] == 0)


def test_predictions_are_the_zero_inflated_formulas():
    X, y, e = zip_data()
    model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    a, b = np.split(as_theta(model), 2)
    X_new = np.random.RandomState(5).normal(size=(50, 2)) * 2
    Xt = np.column_stack([np.ones(len(X_new)), X_new])
    p, mu = special.expit(Xt @ a), np.exp(Xt @ b)
    mean, std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(mean, (1 - p) * mu, rtol=1e-10)
    # zero-inflated Poisson variance: (1 - p) mu (1 + p mu)
    np.testing.assert_allclose(std**2, (1 - p) * mu * (1 + p * mu), rtol=1e-9)
    dist = model.predict_distribution(X_new)
    np.testing.assert_allclose(dist.pmf(0), p + (1 - p) * np.exp(-mu), rtol=1e-10)
    np.testing.assert_allclose(
        dist.pmf(3), (1 - p) * stats.poisson.pmf(3, mu), rtol=1e-10
    )
    y_new = np.random.RandomState(6).poisson(mu) * (np.arange(50) % 3 > 0)
    ll, _ = zip_log_likelihood(np.r_[a, b], X_new, y_new, np.ones(50))
    np.testing.assert_allclose(model.log_likelihood_samples(X_new, y_new), ll)
    resp = model.responsibilities(X_new, y_new)
    zero = y_new == 0
    assert np.all(resp[~zero, 0] == 0)
    np.testing.assert_allclose(
        resp[zero, 0], p[zero] / (p[zero] + (1 - p[zero]) * np.exp(-mu[zero]))
    )


def test_std_errors_are_the_inverse_information_of_the_likelihood():
    X, y, e = zip_data()
    model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0, **TIGHT)
    model.fit(X, y)
    theta = as_theta(model)
    # the Hessian by central differences of the analytic gradient
    step = 1e-5
    hessian = np.array(
        [
            (
                zip_log_likelihood(theta + step * unit, X, y, e)[1]
                - zip_log_likelihood(theta - step * unit, X, y, e)[1]
            )
            / (2 * step)
            for unit in np.eye(6)
        ]
    )
    expected = np.sqrt(np.diag(np.linalg.inv(-0.5 * (hessian + hessian.T))))
    se = model.std_errors(X, y)
    # the gate's centred columns are +-(logit) / 2
    np.testing.assert_allclose(se.gate_intercept_, expected[0] / 2, rtol=1e-4)
    np.testing.assert_allclose(se.gate_coef_[0], expected[1:3] / 2, rtol=1e-4)
    np.testing.assert_allclose(se.expert_intercept_[1], expected[3], rtol=1e-4)
    np.testing.assert_allclose(se.expert_coef_[1], expected[4:], rtol=1e-4)
    # the point mass is fixed, not estimated
    assert se.expert_intercept_[0] == 0 and np.all(se.expert_coef_[0] == 0)


def test_bic_counts_no_parameters_for_the_point_mass():
    X, y, _ = zip_data()
    model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    total = model.log_likelihood_samples(X, y).sum()
    # the gate's logit (3) and one Poisson expert (3)
    np.testing.assert_allclose(model.bic(X, y), -2 * total + 6 * np.log(len(y)))
    np.testing.assert_allclose(model.aic(X, y), -2 * total + 12)
    auto = MoEPoissonRegressor(zero_inflated=True, random_state=0).fit(X, y)
    assert auto.n_experts_bic_.shape == (3,)  # K = 2, 3 and 4
    assert auto.n_experts_ == 2  # the model that made the data
    np.testing.assert_allclose(auto.n_experts_bic_[0], auto.bic(X, y), rtol=1e-8)


def test_point_mass_is_kept_where_the_fit_moves_the_experts():
    X, y, _ = zip_data(n=3000)
    # a hierarchical gate's start reorders the experts: it gave the point
    # mass's responsibilities to a Poisson expert on 5 of 16 seeds, which then
    # imitated it (an intercept of -32, the point mass's share 0.1, not 0.31)
    for seed in range(4):
        tree = MoEPoissonRegressor(
            4, zero_inflated=True, gate="hierarchical", n_init=1, random_state=seed
        ).fit(X, y)
        zero = np.isneginf(tree.expert_intercept_)
        assert zero.sum() == 1 and np.all(tree.expert_coef_[zero] == 0)
        assert np.all(tree.expert_intercept_[~zero] > -5)
        assert tree.expert_usage_[zero][0] > 0.25
    # classification EM gives the point mass zero counts only
    hard = MoEPoissonRegressor(2, zero_inflated=True, assignment="hard")
    hard.fit(X, y)
    assigned = np.argmax(hard.responsibilities(X, y), axis=1)
    assert np.any(assigned == 0) and np.all(y[assigned == 0] == 0)
    # Adam from a first batch of 3 rows, which resets the other experts' rates
    # until 1000 rows have been seen
    stream = MoEPoissonRegressor(2, zero_inflated=True, solver="sgd", random_state=0)
    for start in [0, 3, *range(103, 3000, 100)]:
        stop = 3 if start == 0 else start + 100
        stream.partial_fit(X[start:stop], y[start:stop])
        assert np.isneginf(stream.expert_intercept_[0])
        assert np.isfinite(stream.expert_intercept_[1])
    # Adam over batches of 100 rows
    stream = MoEPoissonRegressor(2, zero_inflated=True, solver="sgd", random_state=0)
    for _ in range(2):
        for start in range(0, 3000, 100):
            stream.partial_fit(X[start : start + 100], y[start : start + 100])
    theta, _ = direct_fit(X, y, np.ones(len(y)))
    np.testing.assert_allclose(as_theta(stream), theta, atol=0.15)


def test_float32_matches_float64():
    X, y, _ = zip_data()
    models = [
        MoEPoissonRegressor(2, zero_inflated=True, random_state=0).fit(X.astype(t), y)
        for t in (np.float64, np.float32)
    ]
    assert models[1].expert_intercept_.dtype == np.float32
    np.testing.assert_allclose(
        as_theta(models[1]), as_theta(models[0]), rtol=1e-3, atol=1e-4
    )
    # a fitted model pickles and predicts the same
    again = pickle.loads(pickle.dumps(models[0]))
    np.testing.assert_array_equal(again.predict(X), models[0].predict(X))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_experts=1), "needs n_experts >= 2"),
        (dict(top_k=1), "top_k"),
        (dict(prune_threshold=0.05), "prune_threshold"),
        (dict(shared_features=[0]), "shared_features"),
        (dict(expert_estimator=DecisionTreeRegressor()), "expert_estimator"),
    ],
)
def test_options_it_does_not_take_are_refused(params, match):
    X, y, _ = zip_data(n=200)
    model = MoEPoissonRegressor(**{"n_experts": 2, "zero_inflated": True, **params})
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_warm_start_refuses_a_change_of_zero_inflated():
    X, y, _ = zip_data(n=500)
    model = MoEPoissonRegressor(2, random_state=0).fit(X, y)
    model.set_params(zero_inflated=True, warm_start=True)
    with pytest.raises(ValueError, match="no point mass at zero"):
        model.fit(X, y)
    model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    model.set_params(zero_inflated=False, warm_start=True)
    with pytest.raises(ValueError, match="have a point mass at zero"):
        model.fit(X, y)
    clone(model).fit(X, y)  # a fresh fit takes it


def test_counts_without_zeros_warn_and_prune_experts_drops_the_point_mass():
    X, y, _ = zip_data(n=1000)
    y = y + 1
    with pytest.warns(UserWarning, match="no zero counts"):
        model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    assert model.expert_usage_[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = model.prune_experts(0.01)
    assert plain.n_experts_ == 1 and np.all(np.isfinite(plain.expert_intercept_))
    # a Poisson regression: its three coefficients are all bic counts
    total = plain.log_likelihood_samples(X, y).sum()
    np.testing.assert_allclose(plain.bic(X, y), -2 * total + 3 * np.log(len(y)))
    # without its point mass the copy is no zero-inflated model: it continues
    # (with zero_inflated=True, partial_fit and a warm fit refused it)
    assert plain.zero_inflated is False and model.zero_inflated is True
    before = plain.predict(X)
    plain.set_params(warm_start=True, max_iter=1).fit(X, y)
    assert plain.n_experts_ == 1
    np.testing.assert_allclose(plain.predict(X), before, rtol=1e-6)


def test_bootstrap_lrt_starts_at_the_zero_inflated_regression():
    X, y, _ = zip_data(n=300)
    model = MoEPoissonRegressor(zero_inflated=True, n_init=1, random_state=0)
    with pytest.raises(ValueError, match="max_experts >= 3"):
        bootstrap_lrt(model, X, y, max_experts=2, n_bootstrap=19)
    result = bootstrap_lrt(model, X, y, max_experts=3, n_bootstrap=19, random_state=0)
    # one test, 2 against 3 experts, of the fits' log-likelihoods
    two, three = (clone(model).set_params(n_experts=k).fit(X, y) for k in (2, 3))
    np.testing.assert_allclose(
        result.statistics, [2 * (three.log_likelihood_ - two.log_likelihood_)]
    )
    assert result.n_experts == 2 and result.p_values[0] > 0.05


def test_a_feature_far_from_zero_keeps_the_poisson_expert():
    # the count model's intercept in the features' units was -1e5 (x2 near
    # 2e5), which marked it a second point mass: intercepts [-inf, -inf], and
    # predict raised an overflow (QA)
    X, y, _ = zip_data()
    shifted = X + [0.0, 2e5]
    model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0)
    reference = clone(model).fit(X, y)
    model.fit(shifted, y)
    assert np.isneginf(model.expert_intercept_[0])
    assert model.expert_intercept_[1] < -5e4  # 1 - 0.5 * 2e5, about
    np.testing.assert_allclose(model.log_likelihood_, reference.log_likelihood_)
    np.testing.assert_allclose(model.predict(shifted), reference.predict(X), rtol=1e-5)
    np.testing.assert_allclose(
        model.log_likelihood_samples(shifted, y).sum(), reference.log_likelihood_
    )


def test_auto_on_few_rows_keeps_the_zero_inflated_regression():
    # every candidate of 2, 3 and 4 experts was passed over for its few rows
    # per coefficient, and fit raised an AttributeError (QA); the smallest is
    # now kept, as one expert is without zero_inflated
    X, y, _ = zip_data(n=400)
    with pytest.warns(UserWarning, match="fewer than 6 samples") as caught:
        model = MoEPoissonRegressor(zero_inflated=True, random_state=0)
        model.fit(X[:10], y[:10])
    assert model.n_experts_ == 2 and np.isfinite(model.n_experts_bic_[0])
    # a model of 2 experts cannot have fewer, and "auto" is on already
    message = next(str(w.message) for w in caught if "fewer than 6" in str(w.message))
    assert message.endswith("Try more samples.")


def test_a_point_mass_of_few_samples_is_not_said_to_have_too_few():
    # counts of rate about 4.5 without structural zeros: the point mass takes
    # less than one sample of 400, under the 4 (2 per parameter) a Poisson
    # expert of one feature asks for; it has no parameters, so nothing is
    # barely determined and no expert would be named
    rng = np.random.RandomState(1)
    X = rng.uniform(-2, 2, (400, 1))
    y = rng.poisson(np.exp(1.5 + 0.3 * X[:, 0])).astype(float)
    model = MoEPoissonRegressor(2, zero_inflated=True, n_init=1, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert np.isneginf(model.expert_intercept_[0])
    assert model.expert_usage_[0] * len(y) < 2 * 2  # (the case)
    assert not [w for w in caught if "handle fewer than" in str(w.message)]


def test_prune_experts_keeps_a_poisson_expert_beside_the_point_mass():
    # two positive counts in 2000: the point mass handles half the data,
    # prune_experts(0.9) kept it alone, and every positive count then had
    # probability 0 (QA)
    X, _, _ = zip_data()
    y = np.zeros(len(X))
    y[:2] = 1
    model = MoEPoissonRegressor(2, zero_inflated=True, random_state=0).fit(X, y)
    pruned = model.prune_experts(0.9)
    assert pruned.n_experts_ == 2
    assert np.all(np.isfinite(pruned.log_likelihood_samples(X, y)))


def test_prune_experts_keeps_the_most_used_poisson_expert_beside_the_point_mass():
    # the docs: the most used other expert stays beside the point mass. Of two
    # Poisson experts the second is used 3 times as much as the first; a
    # threshold that keeps only the point mass keeps the second with it (the
    # first of them would be the one used least)
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (600, 2))
    zero = rng.rand(600) < 0.6
    log_rate = np.where(X[:, 0] < -1, 2.5 + 0.3 * X[:, 1], 0.8 - 0.3 * X[:, 1])
    y = np.where(zero, 0, rng.poisson(np.exp(log_rate))).astype(float)
    model = MoEPoissonRegressor(3, zero_inflated=True, n_init=1, random_state=0)
    model.fit(X, y)
    usage = model.expert_usage_
    fixed = np.isneginf(model.expert_intercept_)
    np.testing.assert_array_equal(fixed, [True, False, False])
    assert usage[0] > usage[2] > 2 * usage[1]  # (the case)
    pruned = model.prune_experts(usage[0])
    np.testing.assert_array_equal(
        pruned.expert_intercept_, model.expert_intercept_[[0, 2]]
    )
    np.testing.assert_array_equal(pruned.expert_coef_, model.expert_coef_[[0, 2]])
    np.testing.assert_allclose(
        pruned.expert_usage_, usage[[0, 2]] / usage[[0, 2]].sum()
    )


def test_an_unused_point_mass_says_to_fit_without_it():
    X, y, _ = zip_data(n=1000)
    with pytest.warns(UserWarning, match="Fit without zero_inflated=True"):
        MoEPoissonRegressor(2, zero_inflated=True, assignment="hard").fit(X, y + 1)


def test_auto_refuses_fewer_samples_or_groups_than_its_smallest_model():
    # one row: the candidates 2, 3 and 4 all dropped, and fit raised an
    # IndexError (review)
    X, y, _ = zip_data(n=50)
    model = MoEPoissonRegressor(zero_inflated=True, gate="constant")
    with pytest.raises(ValueError, match="n_samples=1 should be >= 2"):
        model.fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="groups has 1 groups"):
        model.fit(X[:6], y[:6], groups=np.zeros(6))


@pytest.mark.parametrize(
    "estimator, expert",
    [
        (MoEPoissonRegressor, "Poisson"),
        (MoENegativeBinomialRegressor, "negative binomial"),
    ],
)
def test_auto_refusal_names_the_other_expert(estimator, expert):
    # the expert's name was cut to its first word: "one negative expert"
    X, y, _ = zip_data(n=50)
    with pytest.raises(ValueError, match=f"and one {expert} expert\\)"):
        estimator(zero_inflated=True).fit(X[:1], y[:1])


def test_warm_start_of_estimator_experts_is_not_checked_for_a_point_mass():
    # the check read expert_intercept_, which estimator experts do not have:
    # a warm refit raised an AttributeError (review)
    X, y, _ = zip_data(n=300)
    model = MoEPoissonRegressor(
        2, expert_estimator=DecisionTreeRegressor(max_depth=2), random_state=0
    ).fit(X, y)
    model.set_params(warm_start=True).fit(X, y)
    assert len(model.experts_) == 2


@pytest.mark.parametrize("family", ["poisson", "gamma"])
def test_marked_makes_the_first_expert_the_point_mass_and_keeps_the_others(family):
    # _marked's coefficients: the first expert's column the point mass
    # (intercept ZERO_LOG_RATE, slopes 0), the others' columns unchanged; the
    # intercepts' row was replaced, the first expert's slopes kept (and it no
    # point mass by point_mass_columns) and the others' intercepts zeroed
    from skmoe.experts._point_mass import ZERO_LOG_RATE, point_mass_columns
    from skmoe.experts.gamma import GammaExperts
    from skmoe.experts.poisson import PoissonExperts

    experts = (
        PoissonExperts(zero_inflated=True)
        if family == "poisson"
        else GammaExperts(1e-6, zero_inflated=True)
    )
    coef = np.random.RandomState(0).normal(size=(4, 3))
    marked = experts._marked(np, coef.copy())
    expected = coef.copy()
    expected[:, 0] = [ZERO_LOG_RATE, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(marked, expected)
    np.testing.assert_array_equal(point_mass_columns(np, marked), [True, False, False])
