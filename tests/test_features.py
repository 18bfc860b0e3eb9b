"""``gate_features`` and ``expert_features``: the gate and the experts on chosen
features (R flexmix's concomitant variables)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris

from skmoe import MoEClassifier, MoERegressor


def concomitant_regimes(n=1500, seed=0):
    """z decides the regime, y is linear in x with the regime's slope, and three
    columns are noise: X = [z, x, noise, noise, noise]."""
    rng = np.random.RandomState(seed)
    z = rng.uniform(-2, 2, n)
    x = rng.normal(size=n)
    y = np.where(z > 0, 2 * x + 1, -1.5 * x - 1) + 0.2 * rng.normal(size=n)
    return np.column_stack([z, x, rng.normal(size=(n, 3))]), y


def test_concomitant_model_recovers_the_regimes_and_bic_prefers_it():
    X, y = concomitant_regimes()
    full = MoERegressor(2, random_state=0).fit(X, y)
    chosen = MoERegressor(
        2, gate_features=[0], expert_features=[1], random_state=0
    ).fit(X, y)
    # the coefficients on the features a part does not see are exactly zero
    np.testing.assert_array_equal(chosen.gate_coef_[:, 1:], 0)
    np.testing.assert_array_equal(chosen.expert_coef_[:, [0, 2, 3, 4]], 0)
    order = np.argsort(chosen.expert_coef_[:, 1])
    np.testing.assert_allclose(chosen.expert_coef_[order, 1], [-1.5, 2], atol=0.03)
    np.testing.assert_allclose(chosen.expert_intercept_[order], [-1, 1], atol=0.03)
    np.testing.assert_allclose(np.sqrt(chosen.expert_variance_), 0.2, rtol=0.1)
    # the expert of slope 2 takes z > 0
    assert chosen.gate_coef_[order[1], 0] > chosen.gate_coef_[order[0], 0] + 10
    # nearly the full model's likelihood with 4 + 8 parameters fewer
    assert chosen.log_likelihood_ > full.log_likelihood_ - 10
    assert chosen.bic(X, y) < full.bic(X, y) - 50
    # BIC counts the free parameters only: gate (K-1)(1+1), experts K(1+1) + K
    n_parameters = 1 * 2 + 2 * 2 + 2
    expected = -2 * chosen.log_likelihood_samples(X, y).sum() + n_parameters * np.log(
        len(y)
    )
    np.testing.assert_allclose(chosen.bic(X, y), expected, rtol=1e-12)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_the_same_features_for_both_is_a_fit_on_those_columns(Estimator):
    if Estimator is MoERegressor:
        X, y = concomitant_regimes(n=400)
    else:
        X, y = load_iris(return_X_y=True)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    columns = [1, 3]
    subset = Estimator(2, n_init=2, random_state=0).fit(X[:, columns], y)
    chosen = Estimator(
        2, gate_features=columns, expert_features=columns, n_init=2, random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(
        chosen.predict_gate(X), subset.predict_gate(X[:, columns])
    )
    np.testing.assert_allclose(chosen.gate_coef_[:, columns], subset.gate_coef_)
    np.testing.assert_allclose(
        chosen.expert_coef_[..., columns], subset.expert_coef_, atol=1e-12
    )
    np.testing.assert_allclose(chosen.bic(X, y), subset.bic(X[:, columns], y))
    assert chosen.n_iter_ == subset.n_iter_


def test_a_gate_without_features_is_the_constant_gate():
    """softmax over intercepts alone is a mixture of regressions."""
    rng = np.random.RandomState(1)
    X = rng.uniform(-3, 3, size=(600, 2))
    line = rng.rand(600) < 0.3
    y = np.where(line, 3 * X[:, 0] + 2, -X[:, 1]) + 0.3 * rng.normal(size=600)
    options = dict(n_init=1, init_params="kmeans", tol=1e-10, random_state=0)
    constant = MoERegressor(2, gate="constant", **options).fit(X, y)
    intercepts = MoERegressor(2, gate_features=[], **options).fit(X, y)
    np.testing.assert_array_equal(intercepts.gate_coef_, 0)
    np.testing.assert_allclose(
        intercepts.log_likelihood_, constant.log_likelihood_, rtol=1e-7
    )
    np.testing.assert_allclose(
        intercepts.predict_gate(X[:1]), constant.predict_gate(X[:1]), atol=1e-5
    )
    np.testing.assert_allclose(
        intercepts.expert_coef_, constant.expert_coef_, atol=1e-4
    )
    np.testing.assert_allclose(
        sorted(constant.predict_gate(X[:1])[0]), [0.3, 0.7], atol=0.04
    )
    assert intercepts.bic(X, y) == pytest.approx(constant.bic(X, y), rel=1e-7)


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_gradient_solvers_keep_the_unseen_coefficients_at_zero(solver):
    X, y = concomitant_regimes(n=800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(
            2, gate_features=[0], expert_features=[1], solver=solver, random_state=0
        ).fit(X, y)
    np.testing.assert_array_equal(model.gate_coef_[:, 1:], 0)
    np.testing.assert_array_equal(model.expert_coef_[:, [0, 2, 3, 4]], 0)
    em = MoERegressor(2, gate_features=[0], expert_features=[1], random_state=0).fit(
        X, y
    )
    # the same model: L-BFGS reaches EM's objective, Adam comes close
    gap = em.objective_history_[-1] - model.objective_history_[-1]
    assert gap < (1e-4 if solver == "gradient" else 0.1)


def test_warm_start_and_partial_fit_keep_the_features():
    X, y = concomitant_regimes(n=800)
    X = X + 3  # features off 0: the fit centers them, a warm start must too
    options = dict(gate_features=[0], expert_features=[1], random_state=0)
    model = MoERegressor(2, **options).fit(X, y)
    again = MoERegressor(2, warm_start=True, **options).fit(X, y)
    objective = again.objective_history_[-1]
    again.fit(X, y)  # continues from the converged fit, not from a moved one
    assert again.n_iter_ <= 2
    assert again.objective_history_[0] >= objective - 1e-9
    np.testing.assert_allclose(again.predict(X), model.predict(X), atol=0.01)
    np.testing.assert_array_equal(again.gate_coef_[:, 1:], 0)
    streaming = MoERegressor(2, solver="sgd", **options)
    for _ in range(3):
        streaming.partial_fit(X[:400], y[:400])
        streaming.partial_fit(X[400:], y[400:])
    np.testing.assert_array_equal(streaming.gate_coef_[:, 1:], 0)
    np.testing.assert_array_equal(streaming.expert_coef_[:, [0, 2, 3, 4]], 0)


def test_features_by_name_mask_or_negative_index():
    pd = pytest.importorskip("pandas")
    X, y = concomitant_regimes(n=400)
    frame = pd.DataFrame(X, columns=["z", "x", "a", "b", "c"])
    reference = MoERegressor(
        2, gate_features=[0], expert_features=[1], random_state=0
    ).fit(X, y)
    for gate, expert in [
        (["z"], ["x"]),
        ([True, False, False, False, False], np.array([-4])),
    ]:
        model = MoERegressor(
            2, gate_features=gate, expert_features=expert, random_state=0
        ).fit(frame, y)
        np.testing.assert_allclose(model.predict(frame), reference.predict(X))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"gate_features": [5]}, "outside the range of X's 5 features"),
        ({"expert_features": [True, False]}, "boolean mask of 2 entries"),
        ({"gate_features": ["z"]}, "X has no feature names"),
        ({"gate_features": [[0, 1]]}, "1-d list"),
        ({"expert_features": [0.5]}, "column indices \\(int\\)"),
        ({"gate": "constant", "gate_features": [0]}, "gate='constant' sees no"),
        ({"gate_features": "z"}, "gate_features"),
        # NumPy would read ["z", 1] as the names "z" and "1"
        ({"gate_features": ["z", 1]}, "mixes feature names with other entries"),
        # True was read as the index 1; repeats were dropped silently
        ({"gate_features": [True, 1]}, "mixes booleans with other entries"),
        ({"expert_features": [0, 0]}, "names a column more than once"),
        ({"gate_features": [0, -5]}, "names a column more than once"),
    ],
)
def test_bad_feature_choices_are_refused(params, message):
    X, y = concomitant_regimes(n=100)
    with pytest.raises(ValueError, match=message):
        MoERegressor(2, **params).fit(X, y)


def test_unknown_feature_names_are_listed():
    pd = pytest.importorskip("pandas")
    X, y = concomitant_regimes(n=100)
    frame = pd.DataFrame(X, columns=["z", "x", "a", "b", "c"])
    with pytest.raises(ValueError, match=r"\['q'\] that are not among"):
        MoERegressor(2, expert_features=["x", "q"]).fit(frame, y)
    with pytest.raises(ValueError, match="names a feature more than once"):
        MoERegressor(2, expert_features=["x", "x"]).fit(frame, y)


@pytest.mark.parametrize("gate, expert", [([0, 2, 3, 4], [1]), ([0], None)])
def test_auto_counts_each_parts_own_parameters(gate, expert):
    # n_experts="auto" counted the gate's parameters with the experts' features:
    # its BIC disagreed with bic() by 8 log(n) and by -9 log(n) in these cases
    X, y = concomitant_regimes(n=600)
    model = MoERegressor(
        "auto", gate_features=gate, expert_features=expert, random_state=0
    ).fit(X, y)
    chosen = model.n_experts_bic_[model.n_experts_ - 1]
    np.testing.assert_allclose(chosen, model.bic(X, y), rtol=1e-9)


def test_unused_features_are_neither_checked_nor_named_by_position():
    X, y = concomitant_regimes(n=400)
    X = np.column_stack([X, X[:, 1] * 1e-3, np.full(400, 1e200)])
    X[::2, 6] = -1e200  # squares overflow: fit refuses such a feature it uses
    options = dict(gate_features=[0], expert_features=[5], random_state=0)
    # the warning names the column of X, not its place among the used ones
    with pytest.warns(UserWarning, match=r"Features \[5\] have a standard dev"):
        MoERegressor(2, **options).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        MoERegressor(2, solver="sgd", **options).partial_fit(X, y)
        MoERegressor(2, gate="constant", expert_features=[5], random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="too large"):
        MoERegressor(2, gate_features=[6], random_state=0).fit(X, y)


def test_feature_choices_of_another_form_continue_warm_and_partial_fits():
    # gate_features, expert_features and shared_features are compared as the
    # columns they choose: names, a pandas Index, a boolean mask or indices of
    # the same columns continue a warm fit or partial_fit exactly as the
    # identical objects do; other columns make partial_fit raise
    import copy

    pd = pytest.importorskip("pandas")
    X, y = concomitant_regimes(n=400)
    frame = pd.DataFrame(X, columns=["z", "x", "a", "b", "c"])
    mask = [False, True, False, False, False]
    forms = {
        "gate_features": (
            pd.Index(["z"]),
            np.array(["z"]),
            [True, False, False, False, False],
            np.array([0]),
            [-5],
        ),
        "expert_features": (pd.Index(["x", "a"]), np.array([1, 2]), ["a", "x"]),
        "shared_features": (pd.Index(["x"]), np.array(mask), [1], np.array([-4])),
    }
    params = dict(
        gate_features=["z"],
        expert_features=["x", "a"],
        shared_features=["x"],
        n_init=1,
        random_state=0,
    )
    model = MoERegressor(2, warm_start=True, max_iter=3, **params)
    streaming = MoERegressor(2, solver="sgd", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (not converged)
        model.fit(frame, y)
        streaming.partial_fit(frame[:200], y[:200])
        same, stream = copy.deepcopy(model).fit(frame, y), copy.deepcopy(streaming)
        stream.partial_fit(frame[200:], y[200:])
        assert same.n_iter_ == 3 and not np.array_equal(
            same.gate_coef_, model.gate_coef_
        )
        for name, values in forms.items():
            for value in values:
                again = copy.deepcopy(model).set_params(**{name: value})
                again.fit(frame, y)
                for attribute in ("gate_coef_", "expert_coef_", "expert_intercept_"):
                    np.testing.assert_array_equal(
                        getattr(again, attribute), getattr(same, attribute)
                    )
                again = copy.deepcopy(streaming).set_params(**{name: value})
                again.partial_fit(frame[200:], y[200:])
                for attribute in ("gate_coef_", "expert_coef_", "expert_intercept_"):
                    np.testing.assert_array_equal(
                        getattr(again, attribute), getattr(stream, attribute)
                    )
    changed = {
        "gate_features": (["z", "b"], pd.Index(["x"]), [0, 1]),
        "expert_features": (["x"], [True, True, True, False, False]),
    }
    for name, values in changed.items():
        for value in values:
            again = copy.deepcopy(streaming).set_params(**{name: value})
            with pytest.raises(ValueError, match="gate_features or expert_features"):
                again.partial_fit(frame[200:], y[200:])
    for value in (pd.Index(["a"]), [1, 2], None):
        again = copy.deepcopy(streaming).set_params(shared_features=value)
        with pytest.raises(ValueError, match="whose shared features \\[1\\] differ"):
            again.partial_fit(frame[200:], y[200:])


def test_float32_features_whose_sum_of_squares_overflows_still_fit():
    # 20000 float32 features of scale 3e17: each square (9e34) and their mean
    # fit float32, their sum did not, and the fit refused X as "too large";
    # the fit (normalized weights) matches the one at unit scale
    rng = np.random.RandomState(0)
    X = rng.randn(20000, 2)
    y = X[:, 0] + 0.1 * rng.randn(20000)
    unit = MoERegressor(2, n_init=1, random_state=0).fit(X.astype(np.float32), y)
    large = (X * 3e17).astype(np.float32)
    model = MoERegressor(2, n_init=1, random_state=0).fit(large, y)
    assert model.score(large, y) == pytest.approx(
        unit.score(X.astype(np.float32), y), abs=1e-4
    )
