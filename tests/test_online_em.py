"""Online EM: ``partial_fit`` with ``solver="em"`` (see ``skmoe/_online.py``)."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from skmoe import MoEClassifier, MoEPoissonRegressor, MoERegressor
from skmoe._online import STEP_DECAY, OnlineState
from skmoe.exceptions import DegenerateFitWarning, FeatureScaleWarning, SkmoeWarning
from skmoe.experts import GaussianLinearExperts
from skmoe.gates import ConstantGate, GaussianGate


def _regimes(n, seed, shift=0.0):
    """y = -2 x0 or 3 x0 (x0 < 0 or not) + 0.5 x1 + noise 0.3 (+ ``shift``)."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    slope = np.where(X[:, 0] < 0, -2.0, 3.0)
    return X, slope * X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n) + shift


def _problem(seed=0, n=400, d=3, K=3):
    rng = np.random.RandomState(seed)
    design = np.vstack([np.ones(n), rng.standard_normal((d, n))])
    Y = 2.0 * rng.standard_normal(n) + 3.0 * design[1] + 100.0
    resp = rng.dirichlet(np.ones(K), size=n).T
    weight = rng.uniform(0.1, 1.0, n)
    return design, Y, resp * (weight / weight.sum())[None, :], weight / weight.sum()


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("shared", [(), (1,)])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_experts_m_step_from_statistics_is_the_m_step(tied, shared, alpha):
    # the sums of x x', x y and y^2 (of y less a centre) give the weighted
    # ridge solution and the noise variances of the M-step on the data
    design, Y, weighted_resp, _ = _problem()
    experts = GaussianLinearExperts(1e-8, tied=tied, shared=shared)
    start = {"coef": np.zeros((4, 3)), "variance": np.array([1.0, 2.0, 3.0])}
    expected = experts.m_step(np, design, Y, weighted_resp, start, alpha)
    statistics = experts.statistics(np, design, Y - 100.0, weighted_resp)
    got = experts.m_step_statistics(np, statistics, start, alpha, 100.0)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_gate_m_step_from_statistics_is_the_m_step(covariance_type):
    design, _, weighted_resp, weight = _problem(1)
    gate = GaussianGate(covariance_type)
    start = gate.initial_params(np, design, 3)
    prepared = gate.prepare(np, design, weight, 0.0)
    expected = gate.m_step(np, design, weighted_resp, None, start, 0.0, prepared)
    got = gate.m_step_statistics(np, gate.statistics(np, design, weighted_resp), start)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12)


def test_constant_gate_m_step_from_statistics_is_the_m_step():
    design, _, weighted_resp, _ = _problem(2)
    gate = ConstantGate()
    start = gate.initial_params(np, design, 3)
    expected = gate.m_step(np, design, weighted_resp, None, start, 0.0, None)
    got = gate.m_step_statistics(np, gate.statistics(np, design, weighted_resp), start)
    np.testing.assert_allclose(got["coef"], expected["coef"], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "settings",
    [
        {"gate": "gaussian"},
        {"gate": "constant"},
        {"gate": "gaussian", "variance_type": "tied", "alpha": 0.1},
        {"gate": "gaussian", "gate_covariance_type": "diag", "shared_features": [1]},
        {"gate": "gaussian", "n_experts": 3, "top_k": 2},
    ],
)
def test_a_step_after_fit_is_an_em_step_on_the_weighted_data(settings):
    # fit keeps the statistics of its data; a batch of m rows after n then
    # averages them in with the step g = (m / (n + m)) ** STEP_DECAY: one EM
    # iteration (warm_start, max_iter=1) on both sets of rows, those of the
    # fit weighted 1 - g in all and the batch's g, gives the same model
    settings = {"n_experts": 2, **settings}
    X, y = _regimes(3000, 0)
    X_new, y_new = _regimes(300, 1, shift=1.0)
    fitted = MoERegressor(random_state=0, tol=1e-12, max_iter=5000, **settings)
    fitted.fit(X, y)
    online = copy.deepcopy(fitted).partial_fit(X_new, y_new)
    step = (300 / 3300) ** STEP_DECAY
    weight = np.r_[np.full(3000, (1 - step) / 3000), np.full(300, step / 300)]
    batch = copy.deepcopy(fitted).set_params(warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=1 does not converge
        batch.fit(np.r_[X, X_new], np.r_[y, y_new], sample_weight=1e3 * weight)
    names = ["expert_coef_", "expert_intercept_", "expert_variance_"]
    names += ["gate_weights_", "gate_means_", "gate_covariances_"]
    for name in names if settings["gate"] == "gaussian" else names[:3]:
        np.testing.assert_allclose(
            getattr(online, name), getattr(batch, name), rtol=1e-9, atol=1e-12
        )
    # the batch moved the model (y shifted by 1): not the fit's parameters
    assert np.abs(online.expert_intercept_ - fitted.expert_intercept_).max() > 0.05
    # a converged fit is a fixed point of online EM on its own data
    again = copy.deepcopy(fitted).partial_fit(X, y)
    np.testing.assert_allclose(again.expert_coef_, fitted.expert_coef_, atol=1e-5)
    assert again.n_iter_ == fitted.n_iter_ + 1


def test_statistics_summed_over_blocks_are_the_whole_data_s(monkeypatch):
    # fit keeps its data's statistics summed over blocks of STATISTICS_BLOCK
    # rows; with blocks of 50 the model is the same (keeping the last block's
    # alone moved the coefficients by 0.04)
    from skmoe import _online

    X, y = _regimes(400, 0)
    X_new, y_new = _regimes(200, 1)
    models = []
    for block in (_online.STATISTICS_BLOCK, 50):
        monkeypatch.setattr(_online, "STATISTICS_BLOCK", block)
        model = MoERegressor(2, gate="constant", n_init=1, random_state=0).fit(X, y)
        models.append(model.partial_fit(X_new, y_new))
    whole, blocked = models
    np.testing.assert_allclose(blocked.expert_coef_, whole.expert_coef_, rtol=1e-9)
    np.testing.assert_allclose(
        blocked.expert_variance_, whole.expert_variance_, rtol=1e-9
    )


@pytest.mark.parametrize("gate", ["gaussian", "constant"])
def test_a_weighted_fit_is_a_fixed_point_of_online_em_on_its_weighted_data(gate):
    # the statistics weigh each row by its sample_weight, in fit's kept
    # statistics and in every batch (without: coefficients moved by 0.01)
    X, y = _regimes(2000, 0)
    weight = np.where(X[:, 0] > 0, 5.0, 0.2)
    fitted = MoERegressor(2, gate=gate, random_state=0, tol=1e-12, max_iter=5000)
    fitted.fit(X, y, sample_weight=weight)
    again = copy.deepcopy(fitted).partial_fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(again.expert_coef_, fitted.expert_coef_, atol=1e-6)
    np.testing.assert_allclose(
        again.expert_variance_, fitted.expert_variance_, rtol=1e-5
    )


@pytest.mark.parametrize("gate", ["gaussian", "constant"])
def test_a_stream_of_batches_reaches_the_em_fit(gate):
    # three passes over 20000 rows in batches of 200 (no learning rate to tune)
    # land on what EM fits to all of them at once, and on the true slopes
    X, y = _regimes(20000, 0)
    X_test, y_test = _regimes(5000, 1)
    batch = MoERegressor(2, gate=gate, random_state=0).fit(X, y)
    online = MoERegressor(2, gate=gate, random_state=0)
    assert hasattr(online, "partial_fit")
    online.partial_fit(X[:200], y[:200])  # fitted by EM, as fit would
    first = MoERegressor(2, gate=gate, random_state=0).fit(X[:200], y[:200])
    np.testing.assert_array_equal(online.predict(X_test), first.predict(X_test))
    n_iter = online.n_iter_
    for _ in range(3):
        for start in range(0, 20000, 200):
            if start or _:
                online.partial_fit(X[start : start + 200], y[start : start + 200])
    assert online.n_iter_ == n_iter + 299
    assert online.log_likelihood_history_[-1] == online.log_likelihood_
    order = np.argsort(online.expert_coef_[:, 0])
    expected = np.argsort(batch.expert_coef_[:, 0])
    np.testing.assert_allclose(
        online.expert_coef_[order], batch.expert_coef_[expected], atol=0.02
    )
    np.testing.assert_allclose(
        online.expert_coef_[order], [[-2.0, 0.5], [3.0, 0.5]], atol=0.05
    )
    np.testing.assert_allclose(
        online.expert_variance_[order], batch.expert_variance_[expected], rtol=0.05
    )
    held_out = online.log_likelihood_samples(X_test, y_test).mean()
    assert held_out == pytest.approx(
        batch.log_likelihood_samples(X_test, y_test).mean(), abs=0.005
    )


@pytest.mark.parametrize(
    "model, named, remedy",
    [
        (MoERegressor(2), "gate='softmax'", "Use solver='sgd'."),
        # the default n_experts="auto": the remedy names the integer too (it
        # said "Use solver='sgd'.", which then asked for one: QA)
        (
            MoERegressor(),
            "gate='softmax'",
            "Use solver='sgd' and an integer n_experts.",
        ),
        (
            MoERegressor(2, gate="gaussian", expert_estimator=DecisionTreeRegressor()),
            "expert_estimator",
            "no solver streams it; call fit.",
        ),
        (
            MoEClassifier(2, gate="constant"),
            "the experts of MoEClassifier",
            "Use solver='sgd'.",
        ),
        (
            MoEPoissonRegressor(2, gate="gaussian"),
            "the experts of MoEPoissonRegressor",
            "Use gate='softmax' with solver='sgd'",
        ),
    ],
)
def test_partial_fit_with_em_needs_sums_and_says_so(model, named, remedy):
    # and says what streams instead (solver='sgd' alone refuses a gaussian
    # gate and expert_estimator: the advice went round in a circle)
    X, y = _regimes(200, 0)
    y = np.abs(np.round(y)) if isinstance(model, MoEPoissonRegressor) else y
    y = (y > 0).astype(int) if isinstance(model, MoEClassifier) else y
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError) as raised:
        model.partial_fit(X, y)
    cause = str(raised.value.__cause__)
    assert "solver='em' (online EM) with linear-Gaussian experts" in cause
    assert f"this estimator has solver='em' with {named}" in cause
    assert cause.endswith(remedy) or remedy in cause
    if "gate='softmax'" in remedy:
        model.set_params(gate="softmax")
    model.set_params(solver="sgd")
    if "integer n_experts" in remedy:
        model.set_params(n_experts=2)
    if "call fit" in remedy:
        with pytest.raises(ValueError, match="fitted by EM only"):
            model.partial_fit(X, y)
        model.set_params(solver="em").fit(X, y)
    else:  # what the message says works
        first = {"classes": [0, 1]} if isinstance(model, MoEClassifier) else {}
        model.partial_fit(X, y, **first)


def test_switching_between_online_em_and_adam():
    # each solver continues the other's model, with its own state
    X, y = _regimes(600, 0)
    model = MoERegressor(2, gate="constant", random_state=0).fit(X, y)
    assert isinstance(model._solver_state, OnlineState)
    score = model.score(X, y)
    model.set_params(solver="sgd", learning_rate=1e-3).partial_fit(X, y)
    assert model.score(X, y) > score - 0.01
    with pytest.raises(ValueError, match="fitted by solver='sgd'"):
        model.set_params(solver="em").partial_fit(X, y)  # Adam moved it
    model.fit(X, y).partial_fit(X, y)
    assert isinstance(model._solver_state, OnlineState)
    assert model.score(X, y) > score - 0.01
    # a model without statistics (fitted by Adam) would be replaced by one
    # batch: refused, and unchanged
    sgd = MoERegressor(2, gate="constant", solver="sgd", random_state=0).fit(X, y)
    before = sgd.predict(X)
    with pytest.raises(ValueError, match="Call fit with solver='em' first"):
        sgd.set_params(solver="em").partial_fit(X[:12], y[:12])
    np.testing.assert_array_equal(sgd.predict(X), before)


def test_online_em_refuses_other_features_than_its_statistics():
    X, y = _regimes(600, 0)
    X = np.c_[X, X[:, ::-1]]
    model = MoERegressor(2, gate="constant", expert_features=[0, 1], random_state=0)
    model.fit(X, y)
    for features in ([2, 3], [0]):
        with pytest.raises(ValueError, match="expert_features changed"):
            model.set_params(expert_features=features).partial_fit(X[:20], y[:20])
    model.set_params(expert_features=[0, 1]).partial_fit(X[:20], y[:20])


@pytest.mark.parametrize("rows", [10, 200])
@pytest.mark.parametrize("change", ["expert_features", "gate_features"])
def test_adam_refuses_other_features_than_the_fitted_ones(rows, change):
    # Adam went on in the units of the former features (R^2 -1.19 after
    # expert_features moved to a feature of scale 1e3, 0.994 from the start),
    # or, before it had seen 50 rows, failed inside NumPy
    X, y = _regimes(400, 0)
    X = np.c_[X, 1e3 * X[:, 1]]
    model = MoERegressor(2, solver="sgd", random_state=0, **{change: [0, 1]})
    model.partial_fit(X[:rows], y[:rows])
    before = model.predict(X)
    with pytest.raises(ValueError, match="gate_features or expert_features changed"):
        model.set_params(**{change: [0, 2]}).partial_fit(X[:20], y[:20])
    np.testing.assert_array_equal(model.predict(X), before)
    model.set_params(**{change: [0, 1]}).partial_fit(X[:20], y[:20])
    # fit starts again with the new features
    model.set_params(**{change: [0, 2]}).fit(X, y)
    model.partial_fit(X[:20], y[:20])


def test_small_batches_kept_for_the_first_fit_do_not_outlive_pruning():
    X, y = _regimes(200, 0)
    model = MoERegressor(4, gate="constant", random_state=0)
    model.partial_fit(X[:10], y[:10])  # too few rows to fit: kept
    assert model._online_rows[0].shape == (10, 2)
    model.partial_fit(X[10:20], y[10:20])
    assert model._online_rows[0].shape == (20, 2)  # started again on both
    pruned = model.prune_experts(0.3)
    n_experts = pruned.n_experts_
    assert n_experts < 4 and not hasattr(pruned, "_online_rows")
    assert pruned.partial_fit(X[20:30], y[20:30]).n_experts_ == n_experts
    model.partial_fit(X[20:], y[20:])  # enough: fitted, and no longer kept
    assert not hasattr(model, "_online_rows")
    assert isinstance(model._solver_state.experts["gram"], np.ndarray)


def test_pruning_keeps_the_statistics_of_the_kept_experts():
    X, y = _regimes(2000, 0)
    model = MoERegressor(4, gate="gaussian", random_state=0).fit(X, y)
    usage = model.expert_usage_
    threshold = np.sort(usage)[1] + 1e-9  # drops the two least used
    pruned = model.prune_experts(threshold)
    keep = np.flatnonzero(usage >= threshold)
    kept = pruned._solver_state.experts["weight"]
    full = model._solver_state.experts["weight"]
    np.testing.assert_allclose(kept, full[keep] / full[keep].sum())
    np.testing.assert_allclose(
        pruned._solver_state.gate["first"],
        model._solver_state.gate["first"][keep] / full[keep].sum(),
    )
    score = pruned.score(X, y)
    assert pruned.partial_fit(X[:100], y[:100]).score(X, y) > score - 0.01


@pytest.mark.parametrize("first", [1, 5, 20])
def test_a_small_first_batch_starts_online_em_and_the_stream_recovers(first):
    # too few rows to fit (FIRST_FIT_ROWS per parameter): one online step from
    # a random partition, then batches of 40 rows
    X, y = _regimes(4000, 0)
    X_test, y_test = _regimes(2000, 1)
    model = MoERegressor(2, gate="gaussian", random_state=0)
    model.partial_fit(X[:first], y[:first])
    assert model.n_iter_ == 1
    for _ in range(2):
        for start in range(first, 4000, 40):
            model.partial_fit(X[start : start + 40], y[start : start + 40])
    assert model.score(X_test, y_test) > 0.95


def test_a_first_batch_of_five_rows_per_parameter_is_fitted():
    # "a first batch of fewer than 5 rows per parameter is kept" (partial_fit):
    # 2 Gaussian experts on 2 features (3 coefficients and a variance each)
    # and a constant gate (1 free proportion) have 9 parameters, so 44 rows
    # are kept (one online step, n_iter_ 1) and 45 are fitted as fit fits
    # them
    X, y = _regimes(100, 0)
    kept = MoERegressor(2, gate="constant", random_state=0).partial_fit(X[:44], y[:44])
    assert kept.n_iter_ == 1 and hasattr(kept, "_online_rows")
    online = MoERegressor(2, gate="constant", random_state=0)
    online.partial_fit(X[:45], y[:45])
    first = MoERegressor(2, gate="constant", random_state=0).fit(X[:45], y[:45])
    assert first.n_iter_ > 1 and online.n_iter_ == first.n_iter_
    assert not hasattr(online, "_online_rows")
    np.testing.assert_array_equal(online.predict(X), first.predict(X))


def test_a_small_first_batch_is_kept_as_a_copy():
    # a stream that refills one buffer: the rows kept from a first batch too
    # small to fit were the buffer itself, which then held the second batch
    # (fitted twice, the first never)
    X, y = _regimes(60, 0)  # batches of 30 rows: too few to fit, then enough
    buffer_X, buffer_y = np.empty((30, 2)), np.empty(30)
    reused = MoERegressor(2, gate="constant", random_state=0)
    fresh = MoERegressor(2, gate="constant", random_state=0)
    for start in (0, 30):
        buffer_X[:], buffer_y[:] = X[start : start + 30], y[start : start + 30]
        reused.partial_fit(buffer_X, buffer_y)
        fresh.partial_fit(X[start : start + 30].copy(), y[start : start + 30].copy())
    np.testing.assert_array_equal(reused.expert_coef_, fresh.expert_coef_)


def test_online_em_pickles_mid_stream():
    X, y = _regimes(900, 0)
    model = MoERegressor(2, gate="gaussian", random_state=0)
    model.partial_fit(X[:300], y[:300]).partial_fit(X[300:600], y[300:600])
    restored = pickle.loads(pickle.dumps(model))
    model.partial_fit(X[600:], y[600:])
    restored.partial_fit(X[600:], y[600:])
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_online_em_keeps_float32():
    X, y = _regimes(600, 0)
    model = MoERegressor(2, gate="gaussian", random_state=0)
    model.partial_fit(X.astype(np.float32), y.astype(np.float32))
    model.partial_fit(X.astype(np.float32), y.astype(np.float32))
    assert model.expert_coef_.dtype == np.float32
    assert model.predict(X.astype(np.float32)).dtype == np.float32
    assert model.score(X, y) > 0.9


def test_rows_kept_for_the_first_fit_start_again_with_the_new_settings():
    # the model is started again at each call while rows are kept, so the
    # gate may change; n_experts="auto" hides partial_fit, as before any call
    X, y = _regimes(400, 0)
    model = MoERegressor(2, gate="constant", random_state=0)
    model.partial_fit(X[:10], y[:10])
    model.set_params(gate="gaussian").partial_fit(X[10:20], y[10:20])
    assert hasattr(model, "gate_means_") and model._online_rows[0].shape[0] == 20
    model.set_params(n_experts="auto")
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError) as raised:
        model.partial_fit(X[20:], y[20:])
    assert "n_experts='auto'" in str(raised.value.__cause__)
    model.set_params(n_experts=3).partial_fit(X[20:], y[20:])  # 400 rows: fitted
    assert model.n_experts_ == 3 and not hasattr(model, "_online_rows")
    # the checks that a continued model needs do not apply, those of a start do
    model = MoERegressor(2, gate="gaussian", top_k=2, random_state=0)
    model.partial_fit(np.c_[X[:10], X[:10, :1]], y[:10])
    model.set_params(shared_features=[2]).partial_fit(
        np.c_[X, X[:, :1]][10:20], y[10:20]
    )
    assert model._online_rows[0].shape[0] == 20
    with pytest.raises(ValueError, match="top_k=2 has no meaning"):
        model.set_params(n_experts=3, gate_features=()).partial_fit(
            np.c_[X, X[:, :1]][20:30], y[20:30]
        )


@pytest.mark.parametrize("first", [10, 400])
def test_online_em_keeps_the_feature_names_of_a_dataframe(first):
    # the first batch's fit (400 rows) or the restart on kept rows (10, then
    # 390) ran on arrays, which dropped the names: gate_features by name failed
    pd = pytest.importorskip("pandas")
    X, y = _regimes(400, 0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    model = MoERegressor(2, gate="gaussian", gate_features=["a"], random_state=0)
    model.partial_fit(frame[:first], y[:first])
    if first < 400:
        model.partial_fit(frame[first:], y[first:])
    assert not hasattr(model, "_online_rows")
    assert list(model.feature_names_in_) == ["a", "b"]
    fitted = MoERegressor(2, gate="gaussian", gate_features=["a"], random_state=0)
    fitted.fit(frame, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted without feature names"
        np.testing.assert_allclose(model.predict(frame), fitted.predict(frame))


def test_the_gradient_solver_is_told_of_both_streaming_solvers():
    with pytest.raises(AttributeError) as raised:
        MoERegressor(2, solver="gradient").partial_fit(np.zeros((4, 1)), np.zeros(4))
    cause = str(raised.value.__cause__)
    assert "solver='sgd'" in cause and "solver='em' (online EM" in cause


@pytest.mark.parametrize("gate", ["constant", "gaussian"])
def test_sklearn_dataframe_names_check_with_online_em(gate):
    # scikit-learn's own check, which partial_fit's first-batch fit failed
    pytest.importorskip("pandas")
    from sklearn.utils.estimator_checks import (
        check_dataframe_column_names_consistency,
    )

    model = MoERegressor(n_experts=2, gate=gate, n_init=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_dataframe_column_names_consistency("MoERegressor", model)


@pytest.mark.parametrize("solver", ["em", "sgd"])
def test_a_float32_batch_keeps_a_float64_model(solver):
    """A float64 model given a float32 batch computes in float64, as predict
    does: it stays float64, and the step is the float64 batch's (up to the
    batch's own rounding)."""
    rng = np.random.RandomState(0)
    X = rng.randn(400, 2)
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 1]) + 0.1 * rng.randn(400)
    options = dict(n_experts=2, solver=solver, gate="constant", random_state=0)
    single, double = (MoERegressor(**options).fit(X, y) for _ in range(2))
    batch = X[:50].astype(np.float32), y[:50].astype(np.float32)
    single.partial_fit(*batch)
    double.partial_fit(*(part.astype(np.float64) for part in batch))
    assert single.expert_coef_.dtype == np.float64
    assert single.gate_intercept_.dtype == np.float64
    np.testing.assert_allclose(single.expert_coef_, double.expert_coef_, rtol=1e-12)


def test_a_first_batch_fitted_by_em_keeps_no_bic():
    # n_experts_bic_ is removed by partial_fit (documented): the first batch,
    # which fit's restarts fit, kept the BIC of that batch's fit
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (300, 3))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + 0.3 * rng.randn(300)
    model = MoERegressor(n_experts=2, gate="gaussian", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X[:150], y[:150])
    assert model.n_iter_ > 1  # (fit's EM fitted the batch)
    assert not hasattr(model, "n_experts_bic_")
    assert not hasattr(model, "n_experts_scores_")


def _quantile_range(column):
    low, high = np.quantile(column, [0.1, 0.9])
    return high - low


def test_the_first_fit_of_a_stream_advises_what_partial_fit_can_do():
    # the fit of the first rows warned of experts with few samples and advised
    # n_experts='auto', which partial_fit refuses; fit's own warning keeps it
    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 10))
    y = X @ rng.standard_normal(10) + rng.standard_normal(200)
    params = dict(n_experts=3, gate="constant", solver="em", random_state=0)
    with pytest.warns(DegenerateFitWarning, match="handle fewer than") as fitted:
        MoERegressor(**params).fit(X, y)
    assert "n_experts='auto'" in str(fitted[0].message)
    stream = MoERegressor(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rows in np.array_split(np.arange(200), 4):
            stream.partial_fit(X[rows], y[rows])
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(str(fitted[0].message).split(" Try ")[0])
    assert "Try fewer experts or prune_threshold > 0." in message
    assert not hasattr(stream, "_streaming_fit")


@pytest.mark.parametrize("solver, gate", [("sgd", "softmax"), ("em", "gaussian")])
def test_partial_fit_warns_of_a_batch_in_other_units(solver, gate):
    # X * 1e6 midway through a stream: R^2 of -4e11 with Adam, and online EM
    # kept an expert in the former units, without a word. A Cauchy feature's
    # batches (a standard deviation of 1e4 in some) are no change of units.
    rng = np.random.RandomState(0)
    X = np.c_[rng.standard_normal(1200), rng.standard_cauchy(1200)]
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.standard_normal(1200)
    scaled = X[1000:] * [1e3, 1.0]
    stream = MoERegressor(2, solver=solver, gate=gate, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rows in np.array_split(np.arange(1000), 10):
            stream.partial_fit(X[rows], y[rows])
        few = X[1000:1040] * [1e3, 1.0]  # too few rows to judge
        stream.partial_fit(few, y[1000:1040])
    assert not [w for w in caught if "spreads" in str(w.message)]
    # against the first batch's rows, and after fit, against fit's rows
    fitted = MoERegressor(2, solver=solver, gate=gate, random_state=0)
    fitted.fit(X[:1000], y[:1000])
    for model, first in [(stream, X[:100, 0]), (fitted, X[:1000, 0])]:
        with pytest.warns(FeatureScaleWarning, match="X's feature 0 spreads") as got:
            model.partial_fit(scaled, y[1000:])
        (message,) = [str(w.message) for w in got if "spreads" in str(w.message)]
        ratio = float(message.split(" spreads ")[1].split(" ")[0])
        expected = _quantile_range(scaled[:, 0]) / _quantile_range(first)
        np.testing.assert_allclose(ratio, expected, rtol=5e-3)


def test_the_stream_scale_warning_names_a_named_feature():
    # a DataFrame's column by its name, as the feature-scale warnings name it
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"age": rng.uniform(20, 60, 300), "income": rng.randn(300)})
    y = X["income"].to_numpy() + 0.1 * rng.randn(300)
    model = MoERegressor(2, solver="sgd", random_state=0)
    model.partial_fit(X[:100], y[:100])
    moved = X[100:200].assign(age=X["age"][100:200] * 1e3)
    with pytest.warns(UserWarning, match="X's feature 'age' spreads"):
        model.partial_fit(moved, y[100:200])


def test_partial_fit_keeps_quiet_on_a_zero_inflated_feature():
    # a feature 88% zero, lognormal elsewhere: the 90% quantile of a batch of 50
    # sits on the zeros' edge, and its quantile range alone moved over 100 times
    # between batches from one distribution (two warnings in 100 batches)
    rng = np.random.RandomState(0)
    n = 5000
    zero = rng.rand(n) < 0.88
    X = np.c_[rng.randn(n), np.where(zero, 0.0, rng.lognormal(0, 2, n))]
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(n)
    model = MoERegressor(2, solver="em", gate="gaussian", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for start in range(0, n, 50):
            model.partial_fit(X[start : start + 50], y[start : start + 50])
    assert not [w for w in caught if "spreads" in str(w.message)]


def test_converged_and_n_iter_on_tiny_first_batches():
    # documented: rows kept from too small first batches start the model again
    # at each call (n_iter_ 1, converged_ False); a batch that makes them
    # enough is fitted as fit fits those rows (its n_iter_ and converged_);
    # each later step adds one iteration and tests no convergence
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(200, 1))
    y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0] + 0.3 * rng.standard_normal(200)
    model = MoERegressor(n_experts=2, gate="constant", random_state=0)
    for stop in (5, 10):
        model.partial_fit(X[stop - 5 : stop], y[stop - 5 : stop])
        assert (model.n_iter_, model.converged_) == (1, False)
    model.partial_fit(X[10:100], y[10:100])
    fitted = MoERegressor(n_experts=2, gate="constant", random_state=0)
    fitted.fit(X[:100], y[:100])
    assert fitted.converged_ and fitted.n_iter_ > 1
    assert (model.n_iter_, model.converged_) == (fitted.n_iter_, True)
    model.partial_fit(X[100:105], y[100:105])
    assert (model.n_iter_, model.converged_) == (fitted.n_iter_ + 1, False)


SMALL_FEATURES = (
    "Features {} have a standard deviation below 0.1: the penalty alpha, in "
    "the features' units (its defaults are meant for standardized features), "
    "shrinks their coefficients. Standardize the features, e.g. with "
    "sklearn.preprocessing.StandardScaler in a pipeline, or lower alpha."
)


@pytest.mark.parametrize("solver, gate", [("sgd", "softmax"), ("em", "constant")])
def test_partial_fit_warns_of_small_features_once_per_stream(solver, gate):
    # features of standard deviation 0.01 warned at every batch of a stream
    # (20 batches, 20 identical warnings); now once, again where the features
    # it names change, and afresh after fit, which warns at every fit
    rng = np.random.RandomState(0)
    X = 0.01 * rng.standard_normal((2000, 2))
    y = 100 * X[:, 0] + 0.1 * rng.standard_normal(2000)
    stream = MoERegressor(2, solver=solver, gate=gate, random_state=0)

    def scale_warnings(call):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        return [
            str(w.message)
            for w in caught
            if issubclass(w.category, FeatureScaleWarning)
        ]

    def stream_over(rows, X=X):
        for batch in np.array_split(rows, 10):
            stream.partial_fit(X[batch], y[batch])

    assert scale_warnings(lambda: stream_over(np.arange(1000))) == [
        SMALL_FEATURES.format([0, 1])
    ]
    wide = X * [1.0, 50.0]  # feature 1 of standard deviation 0.5: [0] alone
    assert scale_warnings(lambda: stream_over(np.arange(1000, 1500), wide)) == [
        SMALL_FEATURES.format([0])
    ]
    assert scale_warnings(lambda: stream_over(np.arange(1500, 2000))) == []
    for _ in range(2):  # each fit warns, and starts a new stream
        assert scale_warnings(lambda: stream.fit(X[:1000], y[:1000])) == [
            SMALL_FEATURES.format([0, 1])
        ]
    assert scale_warnings(lambda: stream_over(np.arange(1000, 2000))) == [
        SMALL_FEATURES.format([0, 1])
    ]


@pytest.mark.parametrize("solver", ["sgd", "em"])
def test_partial_fit_says_once_per_stream_that_it_ignores_changed_settings(solver):
    # set_params(n_experts=3) then 10 batches: 10 identical warnings (Python's
    # record of those shown is reset by scikit-learn's input checks); now one
    # per setting and value, and again in the stream that follows a fit
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1500, 2))
    y = X @ [1.0, -2.0] + 0.1 * rng.standard_normal(1500)
    stream = MoERegressor(2, solver=solver, gate="constant", random_state=0)
    stream.fit(X[:500], y[:500])

    def ignored(rows):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            for batch in np.array_split(rows, 10):
                stream.partial_fit(X[batch], y[batch])
        return [str(w.message).split(", set after")[0] for w in caught]

    stream.set_params(n_experts=3, noise="student_t")
    assert ignored(np.arange(500, 1000)) == [
        "partial_fit continues the 2 fitted experts and ignores n_experts=3",
        "partial_fit continues the fitted experts of noise='gaussian' and "
        "ignores noise='student_t'",
    ]
    stream.set_params(n_experts=4)
    assert ignored(np.arange(1000, 1500)) == [
        "partial_fit continues the 2 fitted experts and ignores n_experts=4"
    ]
    assert stream.n_experts_ == 2
    stream.set_params(n_experts=2, noise="gaussian").fit(X[:500], y[:500])
    stream.set_params(n_experts=3)
    assert ignored(np.arange(500, 1000)) == [
        "partial_fit continues the 2 fitted experts and ignores n_experts=3"
    ]


def test_the_stream_scale_warning_is_given_once_per_feature_and_direction():
    # batches in other units warned at every batch (with ratios that differ a
    # little); once for each feature and the way its spread moved
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1600, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.standard_normal(1600)
    stream = MoERegressor(2, solver="sgd", random_state=0)
    stream.partial_fit(X[:400], y[:400])
    scaled = [(X * [1e3, 1.0], 4), (X * [1e-3, 1.0], 4), (X * [1.0, 1e3], 4)]
    given = []
    start = 400
    for X_batch, n_batches in scaled:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(n_batches):
                rows = slice(start, start + 100)
                stream.partial_fit(X_batch[rows], y[rows])
                start += 100
        messages = [str(w.message) for w in caught]
        given.append([m.split(" spreads ")[0] for m in messages if " spreads " in m])
    assert given == [
        ["partial_fit: X's feature 0"],
        ["partial_fit: X's feature 0"],  # narrower now
        ["partial_fit: X's feature 1"],
    ]


def test_online_em_first_batch_counts_the_rows_that_carry_the_weight():
    # two regimes under a constant gate (7 parameters: 35 rows to fit a first
    # batch), in 50-row batches of which 5% weigh 1e4 and the others 1e-3.
    # Counted by rows of positive weight, the first batch (2 to 5 rows that
    # carry the weight) was fitted as fit fits it: a slope 1.3 to 2.5 off in 6
    # seeds of 10 (this one: -2.97 and 1.14 for -1 and 2). Counted by Kish's effective
    # number, the rows are kept until they are enough, as in the same stream
    # without its light rows, and the slopes are within 0.03 of weighted EM's
    # on all the rows.
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (3000, 1))
    regime = rng.rand(3000) < 0.5
    y = np.where(regime, 2 * X[:, 0] + 1, -X[:, 0] - 2) + 0.1 * rng.randn(3000)
    weight = np.where(rng.rand(3000) < 0.05, 1e4, 1e-3)
    streams = [
        MoERegressor(2, gate="constant", solver="em", random_state=0) for _ in range(2)
    ]
    for start in range(0, 3000, 50):
        rows = np.arange(start, start + 50)
        streams[0].partial_fit(X[rows], y[rows], sample_weight=weight[rows])
        heavy = rows[weight[rows] > 1]
        if heavy.size:
            streams[1].partial_fit(X[heavy], y[heavy], sample_weight=weight[heavy])
    em = MoERegressor(2, gate="constant", random_state=0)
    em.fit(X, y, sample_weight=weight)
    expected = np.sort(em.expert_coef_.ravel())
    np.testing.assert_allclose(expected, [-1, 2], atol=0.03)
    for model in streams:
        np.testing.assert_allclose(
            np.sort(model.expert_coef_.ravel()), expected, atol=0.03
        )


def test_online_em_first_batch_of_weights_equal_but_for_rounding():
    # 35 rows (7 parameters: enough to fit a first batch) weighing 0.1, one
    # of them 0.1 * (1 + 1e-9): Kish's effective number rounded to
    # 34.999999999999986, and the batch was kept (slopes 0.52 and 0.63 after
    # it) where 35 rows of 0.1 are fitted (-0.97 and 2.01 for -1 and 2)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (35, 1))
    regime = rng.rand(35) < 0.5
    y = np.where(regime, 2 * X[:, 0] + 1, -X[:, 0] - 2) + 0.1 * rng.randn(35)
    weight = np.full(35, 0.1)
    models = []
    for last in (0.1, 0.1 * (1 + 1e-9)):
        weight[-1] = last
        model = MoERegressor(2, gate="constant", solver="em", random_state=0)
        models.append(model.partial_fit(X, y, sample_weight=weight))
    equal, near = models
    assert equal.n_iter_ > 1  # fitted by EM
    np.testing.assert_allclose(np.sort(equal.expert_coef_.ravel()), [-1, 2], atol=0.05)
    assert near.n_iter_ == equal.n_iter_
    np.testing.assert_allclose(near.expert_coef_, equal.expert_coef_, atol=1e-6)


@pytest.mark.parametrize("n_experts", [1, 2])
def test_online_m_step_of_near_limit_y_on_a_small_feature(n_experts):
    # float64 y near 2**505 on a feature of sd 1e-100: slopes near 1e252,
    # whose products b_i b_j in the statistics' b'Gb overflowed (inf - inf:
    # "partial_fit diverged"); the fitted values' squares do not. The
    # reference: the same calls on y / 2**505 (exact), scaled back
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    y = np.where(x > 0, 3 * x + 1, -x - 2) + 0.3 * rng.normal(size=400)
    X = x[:, None] * 1e-100
    models = []
    for unit in (1.0, 2.0**-505):
        target = y * 2.0**505 * unit
        model = MoERegressor(n_experts, gate="constant", alpha=0.0, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            model.fit(X[:200], target[:200])
            for start in range(200, 400, 50):
                rows = slice(start, start + 50)
                model.partial_fit(X[rows], target[rows])
        models.append(model)
    scaled, reference = models
    assert scaled._residual_scale < 1.0
    np.testing.assert_allclose(
        scaled.expert_coef_, reference.expert_coef_ * 2.0**505, rtol=1e-9
    )
    np.testing.assert_allclose(
        scaled.expert_variance_, reference.expert_variance_ * 4.0**505, rtol=1e-9
    )


@pytest.mark.parametrize("fitted, changed", [("diag", "full"), ("full", "tied")])
def test_partial_fit_warns_of_a_gate_covariance_type_it_ignores(fitted, changed):
    # set_params(gate_covariance_type=...) turned a fitted Gaussian gate's
    # covariances into the new form at the next batch without a word, while a
    # changed variance_type warns and is ignored: now the same, the fitted
    # form kept, as a stream that never changed the setting
    rng = np.random.RandomState(0)
    X = rng.randn(600, 2)
    y = np.where(X[:, 1] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.randn(600)
    model = MoERegressor(
        2, gate="gaussian", gate_covariance_type=fitted, random_state=0
    ).fit(X[:400], y[:400])
    reference = pickle.loads(pickle.dumps(model))
    reference.partial_fit(X[400:], y[400:])
    model.set_params(gate_covariance_type=changed)
    message = f"ignores gate_covariance_type={changed!r}, set after the fit"
    with pytest.warns(SkmoeWarning, match=message):
        model.partial_fit(X[400:], y[400:])
    shape = {"diag": (2, 2), "full": (2, 2, 2)}[fitted]
    assert model.gate_covariances_.shape == shape
    np.testing.assert_array_equal(model.gate_covariances_, reference.gate_covariances_)
    np.testing.assert_array_equal(model.expert_coef_, reference.expert_coef_)
    with warnings.catch_warnings():  # once per stream
        warnings.simplefilter("error", UserWarning)
        model.partial_fit(X[400:], y[400:])


def test_online_em_fits_the_rows_kept_where_one_row_carries_the_weight():
    # one row weighing 1e12 keeps Kish's effective number near 1 however many
    # rows come: the rows were kept without bound (200001 after 200 calls of
    # 1000), each call starting the model again on all of them. From 100 times
    # the 35 rows that 7 parameters ask (3500 rows of positive weight) they are
    # fitted, as fit fits the same rows
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (5000, 1))
    regime = rng.rand(5000) < 0.5
    y = np.where(regime, 2 * X[:, 0] + 1, -X[:, 0] - 2) + 0.1 * rng.randn(5000)
    weight = np.ones(5000)
    weight[0] = 1e12
    model = MoERegressor(2, gate="constant", solver="em", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a collapsed expert: the data's)
        for stop in range(500, 3500, 500):
            rows = slice(stop - 500, stop)
            model.partial_fit(X[rows], y[rows], sample_weight=weight[rows])
            assert model._online_rows[0].shape[0] == stop
        model.partial_fit(X[3000:3500], y[3000:3500], sample_weight=weight[3000:3500])
        assert not hasattr(model, "_online_rows")
        fitted = MoERegressor(2, gate="constant", random_state=0)
        fitted.fit(X[:3500], y[:3500], sample_weight=weight[:3500])
        np.testing.assert_array_equal(model.predict(X), fitted.predict(X))
        model.partial_fit(X[3500:], y[3500:], sample_weight=weight[3500:])
    assert not hasattr(model, "_online_rows")


def test_online_em_steps_keep_no_random_state():
    # online EM's steps draw no random numbers (its start on kept rows does):
    # the stream kept a RandomState it never used, 5.4 kB of an 8.9 kB pickle.
    # Its standard errors still say that stochastic steps left the maximum
    X, y = _regimes(600, 0)
    model = MoERegressor(2, gate="constant", random_state=0)
    model.partial_fit(X[:20], y[:20])  # too few rows: kept, a random start
    assert isinstance(model._sgd_random_state, np.random.RandomState)
    model.partial_fit(X[20:300], y[20:300])  # fitted, then stepped
    model.partial_fit(X[300:], y[300:])
    restored = pickle.loads(pickle.dumps(model))
    kept = [v for v in vars(restored).values() if isinstance(v, np.random.RandomState)]
    assert kept == []
    with pytest.warns(Warning, match="by stochastic steps"):
        model.std_errors(X[300:], y[300:])
    model.fit(X, y)  # a fit is no stream
    assert not hasattr(model, "_streamed")
