"""SQUAREM acceleration of EM (``acceleration="squarem"``)."""

import re
import warnings
from functools import partial

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

import skmoe._em as em_module
from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._auto import AUTO_EXPERTS
from skmoe._squarem import extrapolate


def _counts(seed=0, n=1000):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3))
    mean = np.exp(1 + np.where(X[:, 0] > 0, X[:, 1], -0.5 * X[:, 2]))
    return X, mean, rng


def _regression(seed=0, n=400):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + 0.5 * rng.normal(size=n)
    return X, y


def _contraction(p, rate, fixed):
    """A linear map of one contraction rate towards ``fixed``: EM's iteration
    near a maximum along its slowest direction."""
    return fixed + rate * (p - fixed)


def test_extrapolation_lands_on_the_fixed_point_of_a_linear_contraction():
    # r = (a - 1) e, v = (a - 1)^2 e for e = p0 - p*: the step |r| / |v| =
    # 1 / (1 - a) takes p0 + 2 s r + s^2 v to p* exactly
    rate, fixed = 0.97, np.array([[1.0, -2.0], [0.5, 3.0]])
    p0 = np.array([[4.0, 1.0], [-1.0, 0.0]])
    p1 = _contraction(p0, rate, fixed)
    p2 = _contraction(p1, rate, fixed)
    point, step = extrapolate(
        np, ({"coef": p0}, {}), ({"coef": p1}, {}), ({"coef": p2}, {}), {}, {}, 1e6
    )
    assert step == pytest.approx(1 / (1 - rate))
    np.testing.assert_allclose(point[0]["coef"], fixed, rtol=1e-10)


def test_positive_parameters_are_extrapolated_in_logs_and_kept_in_bounds():
    # a variance whose log contracts linearly lands on its fixed point; one
    # whose extrapolation runs past its floor or ceiling is clipped there
    rate, fixed = 0.9, np.log(np.array([2.0, 1e-3]))
    logs = [np.log(np.array([8.0, 1e-1]))]
    for _ in range(2):
        logs.append(_contraction(logs[-1], rate, fixed))
    coef = np.zeros((3, 2))
    pairs = [({"coef": coef}, {"variance": np.exp(v), "coef": coef}) for v in logs]
    point, step = extrapolate(np, *pairs, {"variance": 1e-6}, {}, 1e6)
    np.testing.assert_allclose(point[1]["variance"], [2.0, 1e-3], rtol=1e-10)
    point, _ = extrapolate(np, *pairs, {"variance": 0.5}, {"variance": 1.5}, 1e6)
    np.testing.assert_allclose(point[1]["variance"], [1.5, 0.5])


def test_the_step_is_capped_and_a_still_point_is_not_extrapolated():
    rate = 0.99
    p0 = np.ones(3)
    pairs = [({"coef": p}, {}) for p in (p0, rate * p0, rate**2 * p0)]
    point, step = extrapolate(np, *pairs, {}, {}, 4.0)
    assert step == 4.0  # of 1 / (1 - 0.99) = 100
    np.testing.assert_allclose(point[0]["coef"], p0 - 2 * 4 * 0.01 + 16 * 1e-4)
    still = ({"coef": p0}, {})
    assert extrapolate(np, still, still, still, {}, {}, 4.0) == (None, 1.0)


@pytest.mark.parametrize(
    "Estimator, make_target, options",
    [
        (MoEPoissonRegressor, lambda m, rng: rng.poisson(m), {}),
        (
            MoENegativeBinomialRegressor,
            lambda m, rng: rng.negative_binomial(2, 2 / (2 + m)),
            {},
        ),
        (MoEGammaRegressor, lambda m, rng: rng.gamma(2, m / 2), {}),
        (MoEPoissonRegressor, lambda m, rng: rng.poisson(m), {"gate": "constant"}),
    ],
)
def test_accelerated_em_reaches_em_s_maximum_in_fewer_passes(
    Estimator, make_target, options
):
    X, mean, rng = _counts()
    y = make_target(mean, rng)
    common = dict(n_init=1, random_state=0, tol=1e-10, max_iter=5000, **options)
    plain = Estimator(2, **common).fit(X, y)
    fast = Estimator(2, acceleration="squarem", **common).fit(X, y)
    assert plain.converged_ and fast.converged_
    # the same maximum: the objective in total nats, and the coefficients
    total = len(y)
    assert fast.objective_history_[-1] * total == pytest.approx(
        plain.objective_history_[-1] * total, abs=1e-5
    )
    np.testing.assert_allclose(fast.expert_coef_, plain.expert_coef_, atol=1e-3)
    # a cycle is at most three EM steps (its M-steps)
    assert 3 * fast.n_iter_ < plain.n_iter_


def test_accelerated_classifier_reaches_em_s_maximum():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    common = dict(n_init=1, random_state=0, tol=1e-10, max_iter=5000)
    plain = MoEClassifier(2, **common).fit(X, y)
    fast = MoEClassifier(2, acceleration="squarem", **common).fit(X, y)
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-4)
    np.testing.assert_allclose(fast.predict_proba(X), plain.predict_proba(X), atol=1e-4)
    assert 3 * fast.n_iter_ < plain.n_iter_


def test_at_the_default_tol_accelerated_em_stops_nearer_the_maximum():
    # a negative binomial mixture, whose likelihood is flat along the
    # dispersions: EM's changes fall below tol short of the maximum
    X, mean, rng = _counts(seed=1)
    y = rng.negative_binomial(2, 2 / (2 + mean))
    common = dict(n_init=1, random_state=0)
    top = MoENegativeBinomialRegressor(2, tol=1e-10, max_iter=5000, **common)
    top = top.fit(X, y).objective_history_[-1]
    plain = MoENegativeBinomialRegressor(2, **common).fit(X, y)
    fast = MoENegativeBinomialRegressor(2, acceleration="squarem", **common)
    fast = fast.fit(X, y)
    plain_gap = (top - plain.objective_history_[-1]) * len(y)
    fast_gap = (top - fast.objective_history_[-1]) * len(y)
    assert plain_gap > 0.1  # nats (0.23): what the acceleration is for
    assert 0 <= fast_gap < plain_gap / 100


@pytest.mark.parametrize(
    "options",
    [
        {"gate": "softmax"},
        {"gate": "constant"},
        {"gate": "gaussian"},
        {"gate": "hierarchical", "n_experts": 4},
        {"noise": "student_t"},
        {"variance_type": "tied"},
        {"shared_features": [1]},
        {"gate_features": [0], "expert_features": [1]},
    ],
)
def test_accelerated_objective_never_falls(options, monkeypatch):
    X, y = _regression()
    weight = np.random.RandomState(1).uniform(0.2, 3, size=len(y))
    options = {"n_experts": 3, **options}
    model = MoERegressor(
        acceleration="squarem", n_init=1, random_state=0, tol=1e-9, **options
    )
    # the cycle's guard turns an error into a plain EM step: the extrapolation
    # itself (the units' shapes) must never raise
    raised, extrapolate = [], em_module.extrapolate

    def recorded(*args, **kwargs):
        try:
            return extrapolate(*args, **kwargs)
        except Exception as error:
            raised.append(error)
            raise

    monkeypatch.setattr(em_module, "extrapolate", recorded)
    filters = list(warnings.filters)
    model.fit(X, y, sample_weight=weight)
    assert not raised
    assert warnings.filters == filters  # none left behind
    history = np.asarray(model.objective_history_)
    assert np.all(np.diff(history) >= -1e-12)
    assert model.converged_ and np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize(
    "options", [{}, {"gate": "gaussian"}, {"noise": "student_t"}, {"alpha": 0.0}]
)
def test_accelerated_fits_do_not_depend_on_the_units_of_y(options):
    # as EM's: the step's norms are in the coefficients' units (the noise's,
    # per unit of each feature); in y's units, the diabetes data's fit took
    # 26, 15 and 27 cycles for y, y / 100 and 100 y, to other optima
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    common = dict(acceleration="squarem", n_init=1, random_state=0, **options)
    fits = [MoERegressor(2, **common).fit(X, c * y) for c in (1.0, 0.01, 100.0)]
    assert len({fit.n_iter_ for fit in fits}) == 1
    for fit, c in zip(fits[1:], (0.01, 100.0), strict=True):
        np.testing.assert_allclose(fit.predict(X), c * fits[0].predict(X), rtol=1e-7)


def test_a_gaussian_gate_s_steps_do_not_depend_on_its_features_units():
    # alpha does not penalize the gaussian gate, and plain EM does not depend
    # on its features' units: SQUAREM's were taken with alpha (15, 22 and 17
    # cycles for the gate's features times 1, 1e-2 and 1e-4)
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    fits = []
    for c in (1.0, 1e-2, 1e-4):
        scaled = X.copy()
        scaled[:, [0, 2]] *= c
        model = MoERegressor(
            3,
            gate="gaussian",
            gate_features=[0, 2],
            expert_features=[3, 4, 5, 8],
            acceleration="squarem",
            n_init=1,
            random_state=0,
        )
        fits.append((model.fit(scaled, y), scaled))
    assert len({model.n_iter_ for model, _ in fits}) == 1
    for model, scaled in fits[1:]:
        np.testing.assert_allclose(
            model.predict(scaled), fits[0][0].predict(fits[0][1]), rtol=1e-6
        )


def test_accelerated_fits_with_groups_zero_inflation_and_pruning():
    X, mean, rng = _counts(n=600)
    y = rng.poisson(mean) * (rng.rand(600) > 0.3)
    groups = np.arange(600) // 3
    common = dict(n_init=1, random_state=0)
    for options, fit_params in [
        (dict(zero_inflated=True), {}),
        (dict(gate="constant"), dict(groups=groups)),
    ]:
        # the objective never falls (the cycle's guard), and the accelerated
        # fit stops far closer to the optimum than EM at the same tol (plain
        # EM 2e-3 and 6e-3 nats below it, SQUAREM 2e-7 and 9e-7)
        fit = partial(MoEPoissonRegressor, 2, **options, **common)
        top = fit(tol=1e-10, max_iter=5000).fit(X, y, **fit_params)
        plain = fit().fit(X, y, **fit_params)
        fast = fit(acceleration="squarem").fit(X, y, **fit_params)
        assert np.all(np.diff(fast.objective_history_) >= -1e-12)
        top = top.objective_history_[-1]
        plain_gap = (top - plain.objective_history_[-1]) * len(y)
        fast_gap = (top - fast.objective_history_[-1]) * len(y)
        assert plain_gap > 1e-3
        assert -1e-6 <= fast_gap < plain_gap / 100
    Xr, yr = _regression()
    pruned = MoERegressor(
        6, prune_threshold=0.1, acceleration="squarem", n_init=1, random_state=0
    ).fit(Xr, yr)
    assert pruned.n_experts_ < 6
    assert np.isfinite(pruned.predict(Xr)).all()


def test_a_rejected_extrapolation_falls_back_to_two_em_steps(monkeypatch):
    # where every extrapolated point fails (NaN), each cycle is two EM steps:
    # the accelerated history is EM's at every other iteration
    X, y = _regression()

    def broken(xp, p0, p1, p2, floors, ceilings, step_max, units=None):
        gate, experts = p2
        return (
            {name: value * np.nan for name, value in gate.items()},
            dict(experts),
        ), 2.0

    monkeypatch.setattr(em_module, "extrapolate", broken)
    common = dict(n_init=1, random_state=0, tol=0, max_iter=20)
    plain = MoERegressor(2, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        plain.fit(X, y)
        fast = MoERegressor(2, acceleration="squarem", **common)
        fast.fit(X, y)
    np.testing.assert_allclose(
        fast.objective_history_[:10], plain.objective_history_[1::2], rtol=1e-12
    )
    assert np.isfinite(fast.expert_coef_).all()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"solver": "gradient"}, "accelerates EM; got solver='gradient'"),
        ({"solver": "sgd"}, "accelerates EM; got solver='sgd'"),
        ({"top_k": 1}, "top_k=1 < n_experts=3: "),
        ({"assignment": "hard"}, "assignment='hard'"),
        ({"expert_estimator": Ridge()}, "does not expose"),
    ],
)
def test_acceleration_refuses_what_it_cannot_accelerate(options, match):
    X, y = _regression(n=100)
    model = MoERegressor(3, acceleration="squarem", **options)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_acceleration_refusing_top_k_names_the_number_of_experts():
    # the refusal said "top_k=2 < n_experts" without a number, also where
    # n_experts="auto" and the number was one of its candidates, the least
    # of them above top_k (those at or below it keep every expert)
    X, y = _regression(n=100)
    least = min(k for k in AUTO_EXPERTS if k > 2)
    model = MoERegressor("auto", acceleration="squarem", top_k=2)
    expected = f"top_k=2 < {least} experts (a candidate of n_experts='auto'): "
    with pytest.raises(ValueError, match=re.escape(expected)):
        model.fit(X, y)
    with pytest.raises(ValueError, match=re.escape("top_k=2 < n_experts=5: ")):
        MoERegressor(5, acceleration="squarem", top_k=2).fit(X, y)
    MoERegressor(2, acceleration="squarem", top_k=2, max_iter=2).fit(X, y)  # dense


def test_acceleration_is_validated():
    X, y = _regression(n=100)
    with pytest.raises(ValueError, match="'acceleration' parameter"):
        MoERegressor(2, acceleration="anderson").fit(X, y)
