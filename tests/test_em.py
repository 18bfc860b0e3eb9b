"""EM invariants: monotone objective, restarts, responsibilities, fit/predict agree."""

import contextlib
import dataclasses
import math
import sys
import warnings

import numpy as np
import pytest
from _references import assert_stationary, nan_m_steps_after, untied_objective
from scipy.special import log_softmax, logsumexp
from scipy.stats import norm
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression

from skmoe import MoEClassifier, MoERegressor
from skmoe._em import EMProblem, e_step
from skmoe._math import design_matrix
from skmoe._restarts import _fit_restart
from skmoe._solvers import SolverOptions
from skmoe.gates import GATES, SoftmaxGate


@pytest.mark.parametrize("gate", ["softmax", "constant"])
def test_regressor_log_likelihood_never_decreases(crossing_lines, gate):
    X, y = crossing_lines
    model = MoERegressor(2, gate=gate, alpha=0.0, n_init=1, random_state=0, tol=0)
    model.set_params(max_iter=60).fit(X, y)
    history = np.array(model.log_likelihood_history_)
    assert len(history) > 10  # tol=0: runs until the objective stops changing
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))


@pytest.mark.parametrize("gate", ["softmax", "constant"])
def test_classifier_penalized_objective_never_decreases(xor_classes, gate):
    X, y = xor_classes
    model = MoEClassifier(4, gate=gate, alpha=1e-3, n_init=1, random_state=0, tol=0)
    model.set_params(max_iter=40).fit(X, y)
    objective = np.array(model.objective_history_)
    assert np.all(np.diff(objective) >= -1e-10)


def test_objective_history_is_penalized_log_likelihood(crossing_lines):
    X, y = crossing_lines
    model = MoERegressor(2, alpha=0.0, n_init=1, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        np.array(model.log_likelihood_history_) / len(y), model.objective_history_
    )


def test_penalized_objective_is_the_documented_one(crossing_lines):
    # alpha's meaning: the mean log-likelihood less alpha / 2 times the squared
    # norm of the gate coefficients plus each expert's ||b_k||^2 / s2_k (no
    # intercepts); the log-likelihood written out with SciPy from the fitted
    # attributes
    X, y = crossing_lines
    alpha = 1.0
    model = MoERegressor(2, alpha=alpha, n_init=1, random_state=0, tol=1e-12)
    model.fit(X, y)
    names = ["gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"]
    fitted = [getattr(model, name) for name in names]
    variance = model.expert_variance_

    def log_likelihood(gate_coef, gate_intercept, coef, intercept):
        log_gate = log_softmax(X @ gate_coef.T + gate_intercept, axis=1)
        log_density = norm.logpdf(y[:, None], X @ coef.T + intercept, np.sqrt(variance))
        return np.sum(logsumexp(log_gate + log_density, axis=1))

    def objective(gate_coef, gate_intercept, coef, intercept):
        penalty = np.sum(gate_coef**2) + np.sum(np.sum(coef**2, axis=1) / variance)
        mean = log_likelihood(gate_coef, gate_intercept, coef, intercept) / len(y)
        return mean - alpha / 2 * penalty

    np.testing.assert_allclose(
        model.log_likelihood_, log_likelihood(*fitted), rtol=1e-10
    )
    assert model.log_likelihood_ == model.log_likelihood_history_[-1]
    expected = objective(*fitted)
    np.testing.assert_allclose(model.objective_history_[-1], expected, rtol=1e-10)
    # the penalty is large enough here to matter
    assert abs(expected - model.log_likelihood_ / len(y)) > 1e-3
    # and the fit is its maximum: central differences in every coefficient
    assert_stationary(objective, fitted, names)


def _restart_results(model, X, y, sample_weight=None):
    """Run each restart of ``model`` on its own, with the seeds fit would draw."""
    X = np.asarray(X, dtype=float)
    sample_weight = np.ones(len(X)) if sample_weight is None else sample_weight
    Y = model._encode_target(y, X, fitting=True)
    experts = model._make_experts(Y, sample_weight)
    problem = EMProblem(
        design_matrix(np, X),
        Y,
        sample_weight,
        GATES[model.gate](),
        experts,
        model.alpha,
    )
    plan = model._restart_plan(np.random.RandomState(model.random_state))
    return [
        _fit_restart(
            problem,
            X,
            Y,
            sample_weight,
            model.n_experts,
            method,
            seed,
            index,
            SolverOptions(max_iter=model.max_iter, tol=model.tol),
        )
        for index, (method, seed) in enumerate(plan)
    ]


def test_best_of_n_init_at_least_as_good_as_each_run(crossing_lines):
    X, y = crossing_lines
    model = MoERegressor(3, n_init=5, init_params="random", random_state=3).fit(X, y)
    runs = _restart_results(model, X, y)
    assert len(runs) == 5
    assert model.objective_history_[-1] >= max(r.objective for r in runs) - 1e-12
    # the runs really differ, so the selection is doing something
    assert np.ptp([r.objective for r in runs]) > 0


def test_responsibilities_sum_to_one_and_fit_predict_agree(gated_regression):
    X, y, *_ = gated_regression
    model = MoERegressor(3, random_state=0).fit(X, y)
    experts, params = model._experts_from_attributes()
    problem = EMProblem(
        design_matrix(np, X), y, np.ones(len(y)), SoftmaxGate(), experts, model.alpha
    )
    log_norm, resp, log_gate = e_step(
        problem, model._gate_params(np, problem.design), params
    )
    np.testing.assert_allclose(resp.sum(axis=0), 1.0, rtol=1e-12)
    # the final E-step: the reported log-likelihood belongs to the fitted parameters
    np.testing.assert_allclose(log_norm.sum(), model.log_likelihood_, rtol=1e-10)
    np.testing.assert_allclose(
        model.predict_distribution(X).logpdf(y).sum(), model.log_likelihood_, rtol=1e-10
    )
    np.testing.assert_allclose(np.exp(log_gate).T, model.predict_gate(X), rtol=1e-12)


@pytest.mark.parametrize("n_samples", [300, 70000])  # (70000: in blocks)
def test_mix_responsibilities_of_far_experts_to_rounding(n_samples):
    # the E-step's responsibilities exp(joint - logsumexp(joint)) against
    # mpmath's, where the best expert's joint log-probability is 0 and the
    # others' reach -705: within a few units of rounding of each, also near
    # exp(-700) (the log-sum-exp less its max, subtracted again at -700's
    # scale, left them 4e-14 off, relative); the log-sum-exp itself within
    # rounding of mpmath's
    mpmath = pytest.importorskip("mpmath")
    from skmoe._groups import mix

    rng = np.random.RandomState(0)
    joint = np.vstack(
        [
            np.zeros(n_samples),
            -rng.uniform(600, 705, n_samples),
            -rng.uniform(0, 5, n_samples),
            np.full(n_samples, -np.inf),  # an expert of density 0
        ]
    )
    log_mix = np.log(rng.dirichlet(np.ones(4), n_samples).T)
    log_p = joint - log_mix
    log_p[0] = -log_mix[0]  # (the best's joint exactly 0)
    log_norm, resp = mix(np, log_mix, log_p, None)
    joint = log_mix + log_p  # the joint mix sees
    assert np.all(joint[0] == 0)
    eps = np.finfo(np.float64).eps
    for i in rng.choice(n_samples, 60, replace=False):
        with mpmath.workdps(40):
            terms = [mpmath.mpf(float(v)) for v in joint[:3, i]]
            norm = mpmath.log(mpmath.fsum([mpmath.exp(v) for v in terms]))
            expected = [float(mpmath.exp(v - norm)) for v in terms] + [0.0]
        assert abs(log_norm[i] - float(norm)) <= 4 * eps * max(1.0, abs(float(norm)))
        np.testing.assert_allclose(resp[:, i], expected, rtol=16 * eps, atol=0)
    assert np.all(np.isfinite(resp)) and np.all(resp[3] == 0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("top_k", [None, 2])
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_e_step_in_sample_blocks_equals_one_pass(monkeypatch, Estimator, top_k):
    import skmoe._em as em

    rng = np.random.RandomState(0)
    X = rng.randn(5000, 3)
    y = X[:, 0] + (X[:, 1] > 0) if Estimator is MoERegressor else X[:, 0] > X[:, 1]
    model = Estimator(3, top_k=top_k, n_init=1, max_iter=5, random_state=0)
    model.fit(X, y)
    experts, params = model._experts_from_attributes()
    Y = y if Estimator is MoERegressor else np.eye(2)[y.astype(int)].T
    problem = EMProblem(
        design_matrix(np, X), Y, np.ones(len(y)), SoftmaxGate(), experts, 0.0, top_k
    )
    gate_params = model._gate_params(np, problem.design)
    whole = e_step(problem, gate_params, params)
    monkeypatch.setattr(em, "E_STEP_BLOCK", 3 * 1000)  # blocks of 1024 samples
    blocked = e_step(problem, gate_params, params)
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("gate", ["softmax", "constant"])
def test_one_expert_equals_linear_regression(gated_regression, gate):
    X, y, *_ = gated_regression
    weights = np.random.RandomState(0).uniform(0.1, 3, size=len(y))
    model = MoERegressor(1, gate=gate, alpha=0.0).fit(X, y, sample_weight=weights)
    reference = LinearRegression().fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(model.expert_coef_[0], reference.coef_, atol=1e-6)
    np.testing.assert_allclose(
        model.expert_intercept_[0], reference.intercept_, atol=1e-6
    )
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-6)
    resid = y - reference.predict(X)
    variance = np.average(resid**2, weights=weights)  # the MLE
    np.testing.assert_allclose(model.expert_variance_[0], variance, rtol=1e-6)


def test_one_expert_equals_logistic_regression():
    X, y = load_iris(return_X_y=True)
    alpha = 1e-2
    model = MoEClassifier(1, alpha=alpha, tol=1e-12, max_iter=1000).fit(X, y)
    # our objective: mean log-loss + alpha/2 ||W||^2; scikit-learn's:
    # C * sum log-loss + 1/2 ||W||^2, the same optimum for C = 1 / (alpha * n).
    # Newton's steps reach it (lbfgs stopped 2.2e-7 from it in probabilities
    # with AVX2 kernels, 2.5e-6 with SSE ones: more than this test allowed)
    reference = LogisticRegression(
        C=1 / (alpha * len(y)), solver="newton-cholesky", tol=1e-12, max_iter=1000
    )
    reference.fit(X, y)
    np.testing.assert_allclose(
        model.predict_proba(X), reference.predict_proba(X), atol=1e-9
    )
    # both logit sets are centred per feature: coefficients agree as well
    coef = model.expert_coef_[0]
    np.testing.assert_allclose(coef - coef.mean(0), reference.coef_, atol=1e-8)


def test_convergence_warning_once_when_max_iter_reached(crossing_lines):
    X, y = crossing_lines
    model = MoERegressor(2, n_init=3, max_iter=2, tol=0, random_state=0)
    with pytest.warns(Warning) as record:
        model.fit(X, y)
    messages = [str(w.message) for w in record if "did not converge" in str(w.message)]
    assert len(messages) == 1 and "max_iter=2" in messages[0]
    assert not model.converged_ and model.n_iter_ == 2


def test_warm_start_continues_from_fitted_parameters(crossing_lines):
    X, y = crossing_lines
    model = MoERegressor(2, random_state=0, max_iter=5, tol=0)
    with pytest.warns(Warning):
        model.fit(X, y)
    first = model.log_likelihood_
    model.set_params(warm_start=True, max_iter=500, tol=1e-8)
    model.fit(X, y)
    assert model.log_likelihood_ >= first
    assert model.log_likelihood_history_[0] >= first - 1e-9  # no re-initialization
    # and a cold fit from scratch with the same settings gets no better optimum
    cold = MoERegressor(2, random_state=0, max_iter=500, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(model.log_likelihood_, cold.log_likelihood_, rtol=1e-3)


def test_verbose_prints_restarts_and_iterations(crossing_lines, capsys):
    X, y = crossing_lines
    MoERegressor(2, n_init=2, max_iter=3, tol=0, verbose=2, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Restart") == 2
    assert out.count("Iteration") == 6


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_verbose_covers_every_solver_warm_starts_and_partial_fit(
    crossing_lines, capsys
):
    # the gradient solver printed one summary line, a warm start and partial_fit
    # nothing
    X, y = crossing_lines
    kwargs = dict(n_init=1, max_iter=4, tol=0, random_state=0)
    model = MoERegressor(2, solver="gradient", verbose=2, **kwargs).fit(X, y)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "Iteration" in line]
    assert len(lines) == model.n_iter_ == 4
    # each line's change is the objective history's
    changes = [float(line.split("change ")[1].split()[0]) for line in lines]
    np.testing.assert_allclose(
        changes[1:], np.diff(model.objective_history_), rtol=1e-3
    )
    model.set_params(warm_start=True, verbose=1).fit(X, y)
    assert capsys.readouterr().out.startswith("Warm start: ")
    sgd = MoERegressor(2, solver="sgd", verbose=1, random_state=0)
    sgd.partial_fit(X, y).partial_fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "partial_fit epoch 1",
        "partial_fit epoch 2",
    ]
    assert f"{sgd.log_likelihood_:.6g}" in out[1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_em_path_does_not_depend_on_the_order_of_the_experts():
    # the gate's Newton step held the last column at zero: a relabelled model's
    # predictions differed by 1e-2 after one EM iteration (alpha=1e-3)
    import copy

    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(300, 3))
    y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + 0.3 * rng.randn(300)
    base = MoERegressor(3, alpha=1e-3, n_init=1, random_state=0, max_iter=5)
    base.fit(X, y)
    relabelled = copy.deepcopy(base)
    order = np.array([2, 0, 1])
    for name in (
        "gate_intercept_",
        "gate_coef_",
        "expert_intercept_",
        "expert_coef_",
        "expert_variance_",
    ):
        setattr(relabelled, name, getattr(base, name)[order].copy())
    for model in (base, relabelled):
        model.set_params(warm_start=True, max_iter=1, tol=0).fit(X, y)
    np.testing.assert_allclose(relabelled.predict(X), base.predict(X), atol=1e-10)
    np.testing.assert_allclose(
        relabelled.predict_gate(X), base.predict_gate(X)[:, order], atol=1e-10
    )


def _threads(user_api):
    """The thread counts of the loaded libraries of ``user_api`` ("blas",
    "openmp"), in the calling thread."""
    from threadpoolctl import threadpool_info

    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == user_api}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fits_in_threads_leave_the_blas_threads_as_they_were():
    # each fit restored the BLAS limit it found on entry: with fits in two
    # threads the last to leave could restore another fit's limit of 1; the
    # same for OpenMP, which k-means (the starts) runs with one thread: its
    # limiter restored BLAS too, to another fit's 1
    from joblib import Parallel, delayed

    rng = np.random.RandomState(0)
    X = rng.randn(2000, 4)
    y = np.sin(X[:, 0]) + 0.1 * rng.randn(2000)

    def fit(seed):
        model = MoERegressor(3, n_init=2, max_iter=30, random_state=seed)
        return model.fit(X, y).n_iter_

    def blas_threads():
        return _threads("blas"), _threads("openmp")

    before = blas_threads()  # (on one core, 1: the test cannot tell)
    for _ in range(3):
        Parallel(n_jobs=2, backend="threading")(delayed(fit)(s) for s in range(6))
        assert blas_threads() == before


def test_the_blas_limit_scans_the_libraries_once():
    # a ThreadpoolController per limit rescanned the loaded libraries at every
    # fit and partial_fit (0.90 ms against 0.012 ms; a third of a small
    # partial_fit): one controller serves every limit, which still holds
    from skmoe import _backend

    def blas_threads():
        return _threads("blas")

    before = blas_threads()
    for _ in range(2):
        with _backend.blas_threads(np.zeros((2, 2))):
            assert blas_threads() <= {1}
            controller = _backend._CONTROLLER[0]
        assert blas_threads() == before
    assert _backend._CONTROLLER == [controller]


def test_em_does_not_stop_while_leaving_a_saddle():
    # random responsibilities over many samples start every expert near the
    # pooled fit, a saddle point: the first changes are below tol and then grow
    # (about 3.5 times per iteration), which is not convergence; stopping at the
    # first small change left this run after 1 iteration, 0.54 nats per sample
    # below the optimum that the k-means start reaches
    rng = np.random.RandomState(1802)
    x = rng.uniform(0, 10, 100_000)
    regime = np.arange(100_000) >= 50_000
    y = np.where(regime, 15 + 10 * x - x**2, 5 * x) + rng.normal(0, 3, 100_000)
    X = np.c_[x, x**2]
    kwargs = dict(gate="constant", alpha=0.0, n_init=1)
    reference = MoERegressor(2, init_params="kmeans", tol=1e-8, **kwargs).fit(X, y)
    model = MoERegressor(2, init_params="random", random_state=2, **kwargs).fit(X, y)
    assert model.n_iter_ > 10
    per_sample = (model.log_likelihood_ - reference.log_likelihood_) / len(y)
    assert abs(per_sample) < 1e-4


def test_settled_needs_changes_that_do_not_grow():
    from skmoe._em import SETTLE, _settled

    assert SETTLE == 3
    assert _settled([3e-6, 2e-6, 1e-6], tol=1e-5)
    assert not _settled([2e-6, 1e-6], tol=1e-5)  # too few iterations
    assert not _settled([1e-6, 2e-6, 3e-6], tol=1e-5)  # growing: a saddle
    assert not _settled([3e-6, 1e-6, 2e-6], tol=1e-5)
    assert not _settled([3e-4, 2e-4, 1e-4], tol=1e-5)  # not below tol
    assert _settled([0.0, 0.0, 0.0], tol=0.0)
    # changes that alternate below tol settle once 2 SETTLE of them are below it
    assert not _settled([1e-7, 2e-7, 1e-7, 2e-7], tol=1e-5)
    assert _settled([1e-7, 2e-7, 1e-7, 2e-7, 1e-7, 2e-7], tol=1e-5)
    # (all 2 SETTLE of them: one above tol among them holds it back)
    assert not _settled([1e-3, 1e-7, 1e-7, 2e-7, 1e-7, 2e-7], tol=1e-5)
    assert not _settled([1e-7, 2e-7, 1e-7, 1e-7, 2e-7, 3e-7], tol=1e-5)  # growing
    assert _settled([2e-6], tol=1e-5, settle=1)  # a warm start's rule


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_settle_reads_changes_of_rounding_as_none(monkeypatch, dtype):
    # a fit at its optimum after one iteration changes its objective by its
    # rounding: [1, 0] ulps natively, [0, 1, 1, 2, 2] with other BLAS kernels
    # (MoEClassifier(1), standardized iris), where n_iter_ was 3 and 6, as the
    # SETTLE rule read 1 -> 2 ulps as growth
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=1)
    if dtype is np.float32:
        problem = EMProblem(
            *(np.asarray(a, np.float32) for a in (problem.design, problem.Y)),
            np.ones(len(problem.Y), np.float32),
            problem.gate,
            problem.experts,
            0.0,
        )
    optimum = -0.10236807843007842
    ulp = float(np.spacing(dtype(optimum)))  # the objective's rounding in the dtype
    objective = _em.objective

    def stop_with(ulps):
        # the objective at the start, after one iteration, then rising by ulps
        script = [optimum - 1e-3] + list(optimum + ulp * np.cumsum([0, *ulps]))

        def scripted(*args):
            total, _ = objective(*args)
            return total, script.pop(0) if len(script) > 1 else script[0]

        monkeypatch.setattr(_em, "objective", scripted)
        result = _em.run_em(problem, resp=resp.astype(dtype), max_iter=50)
        assert result.converged
        return result.n_iter

    flat = stop_with([0, 0, 0, 0, 0])
    assert flat == _em.SETTLE  # the first change is above tol, the rest 0
    assert stop_with([0, 1, 1, 2, 2]) == flat
    assert stop_with([1, 0]) == flat
    # changes that grow beyond the rounding still hold the stop (below tol)
    wide = 2 * _em.SETTLE_ULPS
    assert stop_with([0, wide, 2 * wide, 3 * wide, 4 * wide]) > flat


@pytest.mark.parametrize("noise_falls", [None, 0.0])
def test_settle_reads_changes_of_measured_rounding_as_none(monkeypatch, noise_falls):
    # an objective of -3.25e14 per sample (spacing 0.0625, far above tol) whose
    # rows round in units of their larger terms: zero-inflated Poisson on counts
    # near 3e15 settled into changes of 4 to 15 spacings of alternating sign and
    # ran to max_iter; a fall is rounding where EM cannot fall
    from skmoe import _em

    if noise_falls is not None:  # the rule before: only SETTLE_ULPS's rounding
        monkeypatch.setattr(_em, "NOISE_FALLS", noise_falls)
    problem, resp = _constant_gate_problem(n_experts=1)
    level = -3.2496391234675244e14
    ulp = float(np.spacing(abs(level)))
    assert ulp > 1e-5  # one spacing is above tol
    objective = _em.objective

    def run(ulps, max_iter=40):
        script = [level - 1e3] + list(level + ulp * np.cumsum([0, *ulps]))

        def scripted(*args):
            total, _ = objective(*args)
            return total, script.pop(0) if len(script) > 1 else script[-1]

        monkeypatch.setattr(_em, "objective", scripted)
        return _em.run_em(problem, resp=resp.copy(), max_iter=max_iter)

    noise = run([15, -15, 14, -12, 15, -15] * 8)
    # a steady climb of 15 spacings (no falls), and one of 9 up, 5 down (each
    # change within twice the falls, but 12 spacings gained every 6 iterations)
    climbs = [run([15] * 48), run([9, -5] * 24)]
    assert not any(result.converged for result in climbs)
    assert [result.n_iter for result in climbs] == [40, 40]
    if noise_falls is None:
        assert noise.converged
        # once the first (large) change has left the last 2 SETTLE
        assert noise.n_iter <= 3 * _em.SETTLE + 1
    else:
        assert not noise.converged and noise.n_iter == 40


def test_measured_rounding_rule_keeps_its_documented_bounds(monkeypatch):
    # fitting.rst: where 3 of the last 6 changes fell, by at most 1024 eps
    # times the objective, a change of at most twice the largest fall, with no
    # more net gain over the 6, counts as none. Each bound on its own, at an
    # objective of -3.25e14 (spacing 0.0625, 1024 eps of it 1182 spacings)
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=1)
    level = -3.2496391234675244e14
    ulp = float(np.spacing(abs(level)))
    assert 1100 < 1024 * np.finfo(float).eps * abs(level) / ulp < 1300
    objective = _em.objective

    def converged(ulps):
        script = [level - 1e3] + list(level + ulp * np.cumsum([0, *ulps]))

        def scripted(*args):
            total, _ = objective(*args)
            return total, script.pop(0) if len(script) > 1 else script[-1]

        monkeypatch.setattr(_em, "objective", scripted)
        return _em.run_em(problem, resp=resp.copy(), max_iter=40).converged

    # twice the largest fall: changes of 12 beside falls of 8, not of 17
    assert converged([12, -8] * 24)
    assert not converged([17, -8] * 24)
    # falls of at most 1024 eps of the objective: 1100 spacings, not 1300
    assert converged([1100, -1100] * 24)
    assert not converged([1300, -1300] * 24)
    # 3 falls among the last 6: one in 3 (2 in any 6, 3 in some 7) is a climb
    assert not converged([-8, 6, 6] * 16)
    assert converged([-8, 6] * 24)


def _script_objective(monkeypatch, ulps):
    """Script the objective that run_em reads after each iteration: from
    -3.25e14 (spacing 0.0625) by ``ulps`` spacings an iteration (after a
    first climb of 1e3), then constant. Returns the true ``_em.objective``."""
    from skmoe import _em

    level = -3.2496391234675244e14
    ulp = float(np.spacing(abs(level)))
    script = [level - 1e3] + list(level + ulp * np.cumsum([0, *ulps]))
    objective = _em.objective

    def scripted(*args):
        total, _ = objective(*args)
        return total, script.pop(0) if len(script) > 1 else script[-1]

    monkeypatch.setattr(_em, "objective", scripted)
    return objective


def _scripted_run(monkeypatch, ulps, prune_at=None, **kwargs):
    """run_em on a one-expert problem whose objective after each iteration is
    scripted (:func:`_script_objective`), with a pruning (of nothing) at
    iteration ``prune_at``."""
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=1)
    _script_objective(monkeypatch, ulps)
    if prune_at is not None:
        calls = []

        def prune(problem, gate_params, expert_params, assigned, threshold):
            calls.append(None)
            return (gate_params, expert_params) if len(calls) == prune_at else None

        monkeypatch.setattr(_em, "prune_smallest", prune)
    kwargs.setdefault("max_iter", 40)
    return _em.run_em(problem, resp=resp.copy(), **kwargs)


def test_measured_rounding_rule_takes_the_largest_fall_of_the_last_six(monkeypatch):
    # fitting.rst: twice the largest fall among the last 6 changes. Falls of 2
    # and 5 spacings in turn, climbs of 5 and 9: each window of 6 holds a fall
    # of 5 (noise 10), but the last 3 changes may hold only the fall of 2
    # (noise 4), which would keep the climbs of 5 and 9 above it
    run = _scripted_run(monkeypatch, [100, 100] + [-2, 5, -5, 9] * 12)
    assert run.converged and run.n_iter < 12


def test_measured_rounding_rule_restarts_at_a_pruning(monkeypatch):
    # (run_em) the signed changes count from the start or the last pruning: falls of 8
    # before a pruning at iteration 6 do not make the climbs of 12 after it
    # rounding, which they do without the pruning (twice 8 is above 12, and
    # the window of 6 sums to at most 12)
    ulps = [10, 10, -8, -8, -8] + [12] * 40
    unpruned = _scripted_run(monkeypatch, ulps)
    assert unpruned.converged and unpruned.n_iter < 10
    pruned = _scripted_run(monkeypatch, ulps, prune_at=6)
    assert not pruned.converged and pruned.n_iter == 40


def test_measured_rounding_rule_is_off_for_classification_em(monkeypatch):
    # fitting.rst: the rule is for soft EM and SQUAREM, not assignment="hard",
    # whose (classification) objective can fall: its falls are not rounding
    ulps = [12, -8] * 24
    assert _scripted_run(monkeypatch, ulps).converged
    hard = _scripted_run(monkeypatch, ulps, assignment="hard")
    assert not hard.converged and hard.n_iter == 40


def test_rounding_message_keeps_its_documented_bounds(monkeypatch):
    # fitting.rst: a run that max_iter stops says its last 6 changes were
    # rounding where one fell, each is within 64 spacings of the objective
    # and twice the largest fall, their sum at most that, and one is above
    # tol. Each bound on its own, after climbs of 100 and 200 spacings (hard
    # EM, whose run the rule of falls does not stop first; tol=1e-5 is 0.00016
    # spacings, 4.0 is 64)
    def rounding(ulps, tol=1e-5):
        run = _scripted_run(
            monkeypatch, [100, 200, *ulps], max_iter=9, tol=tol, assignment="hard"
        )
        assert not run.converged and run.n_iter == 9
        return "rounding" in run.message

    assert rounding([-8, 12] * 3)
    assert not rounding([-50, 80] * 3)  # beyond 64 spacings
    assert not rounding([-8, -8, -8, 17, -8, 17])  # beyond twice the largest fall
    assert not rounding([12, -8, 14, -8, 15, -8])  # a net gain of 17, above 16
    assert not rounding([-10, -12, -14, 16, 20, 24], tol=4.0)  # none above tol


def test_rounding_message_needs_parameters_that_no_longer_move(monkeypatch):
    # fitting.rst: the message also needs that the last iteration moved no
    # parameter by more than sqrt(eps) times 1 plus its size. Changes of
    # rounding scripted over the first 9 iterations of two lines from a
    # random start, whose parameters still move (a further iteration moves
    # a coefficient by more than that): no rounding message
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=2)
    objective = _script_objective(monkeypatch, [100, 200, -8, 12, -8, 12, -8, 12])
    run = _em.run_em(problem, resp=resp.copy(), max_iter=9)
    assert not run.converged and run.n_iter == 9
    assert "rounding" not in (run.message or "")
    monkeypatch.setattr(_em, "objective", objective)
    params = (run.gate_params, run.expert_params)
    after = _em.run_em(problem, params=params, max_iter=1).expert_params["coef"]
    before = run.expert_params["coef"]
    root = np.sqrt(np.finfo(float).eps)
    assert np.any(np.abs(after - before) > root * (1 + np.abs(before)))


def test_a_change_of_zero_amid_rounding_needs_parameters_that_no_longer_move(
    monkeypatch,
):
    # changes of rounding above tol (9, 10, 18, 9 and 2 spacings), then one of
    # exactly 0 by chance: the SETTLE rule read 9, 2, 0 as settled and EM
    # stopped there (iteration 9), where two lines from a random start still
    # moved (zero-inflated Poisson at 1e15 with AVX-512 kernels: a gate
    # coefficient at 48.9 for its fixed point's 52.34). It stops once the
    # scripted objective has kept still for SETTLE iterations (11)
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=2)
    ulps = [100, 200, 9, 10, 18, 9, 2, 0]
    objective = _script_objective(monkeypatch, ulps)
    assert _em.run_em(problem, resp=resp.copy(), max_iter=40).n_iter == 11
    monkeypatch.setattr(_em, "objective", objective)
    _script_objective(monkeypatch, ulps)
    run = _em.run_em(problem, resp=resp.copy(), max_iter=9)
    assert not run.converged and run.n_iter == 9
    monkeypatch.setattr(_em, "objective", objective)
    params = (run.gate_params, run.expert_params)
    after = _em.run_em(problem, params=params, max_iter=1).expert_params["coef"]
    before = run.expert_params["coef"]
    root = np.sqrt(np.finfo(float).eps)
    assert np.any(np.abs(after - before) > root * (1 + np.abs(before)))


def _falling_problem(sparse):
    """:func:`_constant_gate_problem` for runs whose objective can fall: of
    three experts with ``top_k=2`` (``sparse="top_k"``) or of two with hard
    assignments, and run_em's keywords for it."""
    import dataclasses

    problem, resp = _constant_gate_problem(n_experts=3 if sparse == "top_k" else 2)
    if sparse == "top_k":
        return dataclasses.replace(problem, top_k=2), resp, {}
    return problem, resp, {"assignment": "hard"}


@pytest.mark.parametrize("sparse", ["hard", "top_k"])
def test_a_change_of_zero_amid_rounding_needs_still_parameters_where_em_can_fall(
    monkeypatch, sparse
):
    # the rule above, for runs whose objective can fall (classification EM,
    # top_k), which the rule of falls leaves alone: they read the same
    # scripted changes 9, 2, 0 as settled and stopped after 9 iterations
    # (converged) where a further iteration still moved the experts'
    # coefficients by 2.4e-3 (hard) and 7.7e-2 (top_k=2 of 3) of 1 plus
    # their size. As soft EM, they stop once the scripted objective has kept
    # still for SETTLE iterations (11)
    from skmoe import _em

    problem, resp, kwargs = _falling_problem(sparse)
    ulps = [100, 200, 9, 10, 18, 9, 2, 0]
    objective = _script_objective(monkeypatch, ulps)
    assert _em.run_em(problem, resp=resp.copy(), max_iter=40, **kwargs).n_iter == 11
    monkeypatch.setattr(_em, "objective", objective)
    _script_objective(monkeypatch, ulps)
    run = _em.run_em(problem, resp=resp.copy(), max_iter=9, **kwargs)
    assert not run.converged and run.n_iter == 9
    monkeypatch.setattr(_em, "objective", objective)
    params = (run.gate_params, run.expert_params)
    after = _em.run_em(problem, params=params, max_iter=1, **kwargs)
    before = run.expert_params["coef"]
    root = np.sqrt(np.finfo(float).eps)
    moved = np.abs(after.expert_params["coef"] - before) / (1 + np.abs(before))
    assert moved.max() > 100 * root


@pytest.mark.parametrize("sparse", ["hard", "top_k"])
def test_a_change_of_zero_amid_rounding_stops_where_em_can_fall_if_resp_are_still(
    monkeypatch, sparse
):
    # the rule above, where a parameter moves on its own while the
    # responsibilities are still (Poisson, top_k or hard, on counts near 1e12
    # and 1e15: an intercept on all-zero counts drifting toward -700): the
    # change of 0 (iteration 48, long after EM on the two lines settled) still
    # stops EM there. Needing still parameters alone, it ran on to a third 0
    # (iteration 50); such real fits ran all 1000 iterations
    from skmoe import _em

    problem, resp, kwargs = _falling_problem(sparse)
    _script_objective(monkeypatch, [100, 200, *[9, 10, 18] * 14, 9, 2, 0])
    checked = []

    def moved(*args):  # a parameter that still moves (by more than the bound)
        checked.append(args)
        return False

    monkeypatch.setattr(_em, "_params_still", moved)
    run = _em.run_em(problem, resp=resp.copy(), max_iter=100, **kwargs)
    assert run.converged and run.n_iter == 48
    assert len(checked) == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_params_still_moves_by_the_square_root_of_eps(dtype):
    # fitting.rst: the rounding-noise stop needs that the iteration moved no
    # parameter by more than the square root of eps times 1 plus its size
    # (1.5e-8 in float64): a coefficient of 0 moving by half that is still,
    # one of 100 by twice that times 101 is not
    from skmoe._em import _params_still

    problem, _ = _constant_gate_problem(n_experts=1)
    root = float(np.sqrt(np.finfo(dtype).eps))
    before = np.array([0.0, 100.0, -3.0], dtype=dtype)

    def still(step):
        after = before + np.asarray(step, dtype=np.float64) * root * (
            1 + np.abs(before)
        )
        params = ({}, {"coef": after.astype(dtype)})
        return _params_still(problem, params, ({}, {"coef": before}))

    assert still([0.0, 0.0, 0.0])
    assert still([0.5, 0.0, 0.0])  # (0 + 1: a parameter of 0 may move)
    assert still([0.5, -0.5, 0.5])
    assert not still([0.0, 2.0, 0.0])
    assert not still([2.0, 0.0, 0.0])
    assert not still([0.0, 0.0, -2.0])


def test_resp_still_moves_by_the_square_root_of_eps():
    # (mutation testing) fitting.rst: with top_k, hard assignment or an
    # expert_estimator a stop of rounding where a parameter moved needs
    # responsibilities that moved by no more than 1.5e-8 (the square root of
    # float64's eps) from those at the former parameters: each one's change,
    # the largest (not their mean), up to the bound itself
    from skmoe._em import _resp_still

    problem, _ = _constant_gate_problem(n_experts=2)
    root = float(np.sqrt(np.finfo(np.float64).eps))
    assert 1.4e-8 < root < 1.5e-8
    before = np.zeros((2, 10))

    def still(change, at=(1, 7)):
        resp = before.copy()
        resp[at] = change
        return _resp_still(problem, resp, before)

    assert still(0.0)
    assert still(0.5 * root) and still(-0.5 * root)
    assert still(root) and still(-root)  # (the bound itself)
    assert not still(np.nextafter(root, 1.0))
    assert not still(-2.0 * root, at=(0, 0))  # (one of 20: its mean 1e-9)
    assert not still(1e-6)


def test_zero_inflated_poisson_of_huge_counts_converges_at_its_rounding(monkeypatch):
    # counts near 1e15, overdispersed: the objective's changes settle into
    # 4 to 15 spacings of alternating sign, above tol=1e-5 (spacing 0.0625), and
    # EM ran to max_iter with a ConvergenceWarning to raise it. Where rounding
    # repeats an objective exactly is the BLAS kernels' (OpenBLAS's SkylakeX
    # ones: iteration 3, a change of 0 that stopped both fits): a tie is
    # broken by one spacing, so that the changes are rounding whatever the
    # kernels
    from skmoe import MoEPoissonRegressor, _em

    monkeypatch.setattr(_em, "objective", untied_objective(_em))
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 2))
    y = rng.poisson(3, 60) * (rng.rand(60) < 0.6) * 1e15
    kwargs = dict(zero_inflated=True, random_state=0, n_init=1, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MoEPoissonRegressor(2, **kwargs).fit(X, y)
    assert model.converged_ and model.n_iter_ < 30
    history = np.array(model.objective_history_)
    assert np.any(np.diff(history) < -1e-5)  # a fall: EM's rounding
    monkeypatch.setattr(_em, "NOISE_FALLS", 0.0)  # the rule before
    with pytest.warns(ConvergenceWarning):
        long = MoEPoissonRegressor(2, **kwargs).fit(X, y)
    assert not long.converged_ and long.n_iter_ == 60
    # the 60 iterations moved the predictions by rounding only
    np.testing.assert_allclose(model.predict(X), long.predict(X), rtol=1e-12)
    np.testing.assert_allclose(
        model.objective_history_[-1], long.objective_history_[-1], rtol=1e-14
    )


def test_measured_rounding_rule_leaves_an_infinite_objective_alone(monkeypatch):
    # an objective that overflows to -inf after changes of rounding: the rule
    # read the fall to -inf as rounding (noise twice an infinite fall) and EM
    # converged there; from a start at -inf (a first change of +inf) it raised
    # "-inf + inf in fsum"
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=1)
    level = -3.2496391234675244e14
    ulp = float(np.spacing(abs(level)))
    objective = _em.objective

    def run(script):
        def scripted(*args):
            total, _ = objective(*args)
            return total, script.pop(0) if len(script) > 1 else script[-1]

        monkeypatch.setattr(_em, "objective", scripted)
        return _em.run_em(problem, resp=resp.copy(), max_iter=40)

    noise = list(level + ulp * np.cumsum([0, 15, 15, 15, 15, -15, -15]))
    for start in (level - 1e3, -np.inf):
        result = run([start, *noise[: 7 if start > -np.inf else 4], -np.inf])
        assert not result.converged
        assert result.objective_history[-1] == -np.inf
        assert "-inf" in result.message


def test_run_at_max_iter_names_changes_of_rounding(monkeypatch):
    # an objective of -3.25e14 per sample (spacing 0.0625, far above tol)
    # whose changes stay within 12 spacings, 2 falls in every 6 (too few for
    # NOISE_FALLS's rule): max_iter stopped it, and the ConvergenceWarning
    # advised more iterations, which stop it only where a change is 0
    from skmoe import _em

    problem, resp = _constant_gate_problem(n_experts=1)
    level = -3.2496391234675244e14
    ulp = float(np.spacing(abs(level)))
    objective = _em.objective

    def run(ulps):
        script = [level - 1e3] + list(level + ulp * np.cumsum([0, *ulps]))

        def scripted(*args):
            total, _ = objective(*args)
            return total, script.pop(0) if len(script) > 1 else script[-1]

        monkeypatch.setattr(_em, "objective", scripted)
        return _em.run_em(problem, resp=resp.copy(), max_iter=40)

    noise = run([10, -12, 4, 4, 6, -12] * 8)
    assert not noise.converged and noise.n_iter == 40
    # its last 6 changes: -12 to 10 spacings
    assert f"changing by {-12 * ulp:.2g} to {10 * ulp:.2g}" in noise.message
    assert "rounding" in noise.message and "tol=1e-05" in noise.message
    # a steady climb of 15 spacings (no falls), one of 9 up, 5 down (12
    # gained every 6), and changes of twice the falls and more: not rounding
    for ulps in ([15] * 48, [9, -5] * 24, [13, -6, 1, 1, 1, 6] * 8):
        climb = run(ulps)
        assert not climb.converged and climb.n_iter == 40
        assert climb.message == ""


def test_run_at_max_iter_names_the_tol_its_changes_were_compared_with(monkeypatch):
    # counts of mean 0.25 compare the changes with tol times 0.25: changes of
    # 0.31 to 0.75 (5 to 12 spacings of -3.25e14) were said to be "above
    # tol=1", which they are not, where they are above 0.25
    from skmoe import _em
    from skmoe.experts.poisson import PoissonExperts, encode_counts
    from skmoe.gates.constant import ConstantGate

    y = np.tile([1.0, 0.0, 0.0, 0.0], 50)
    X = np.random.default_rng(0).normal(size=(len(y), 1))
    problem = EMProblem(
        design_matrix(np, X),
        encode_counts(y),
        np.ones(len(y)),
        ConstantGate(),
        PoissonExperts(),
        0.0,
    )
    _script_objective(monkeypatch, [10, -12, 5, 5, 6, -12] * 8)
    ulp = float(np.spacing(3.2496391234675244e14))  # the script's spacing
    resp = np.ones((1, len(y)))
    result = _em.run_em(problem, resp=resp, max_iter=40, tol=1.0)
    assert not result.converged and result.n_iter == 40
    compared = 1.0 * np.mean(y)  # tol times the mean count
    assert compared == 0.25 and 5 * ulp > compared and 12 * ulp < 1.0
    assert f"changing by {-12 * ulp:.2g} to {10 * ulp:.2g}" in result.message
    assert "rounding" in result.message
    assert "above 0.25 (tol=1 times the mean count, 0.25)" in result.message
    assert "above tol=1" not in result.message


def test_a_stop_on_changes_not_all_rounding_needs_no_still_parameters(monkeypatch):
    # fitting.rst: only a stop of the three iterations' rule whose changes are
    # all rounding (at most NOISE_ULPS = 1024 spacings of the objective), one
    # above tol, waits for still parameters. Changes of 2000, 9 and 0
    # spacings (the first no rounding) stop where the 0 is read, iteration 6
    # (the scripted objective: a first climb, then 100, 200, 2000, 9 and 0
    # spacings), though the two lines' parameters still move there: with
    # 1000 spacings in place of 2000, all rounding, EM goes on
    from skmoe import _em

    assert _em.NOISE_ULPS == 1024
    problem, resp = _constant_gate_problem(n_experts=2)
    for ulps, stops in (
        ([100, 200, 2000, 9, 0], True),
        ([100, 200, 1000, 9, 0], False),
    ):
        _script_objective(monkeypatch, ulps)
        run = _em.run_em(problem, resp=resp.copy(), max_iter=40)
        assert run.converged
        assert (run.n_iter == len(ulps) + 1) == stops


def test_measured_rounding_rule_waits_for_a_gate_still_moving(monkeypatch):
    # counts near 1e15 whose zeros a feature separates: the objective's changes
    # are rounding from the 4th iteration, while the gate's coefficients still
    # climb towards their fixed point (its part of the objective far below the
    # rounding); the rule stopped after 11 iterations, the gate's coefficient
    # 52.07 for 52.34, predictions 7.6e-4 from the fixed point's
    from skmoe import MoEPoissonRegressor, _em

    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 2))
    y = (rng.poisson(3, 60) + 1) * (X[:, 0] >= 0) * 1e15
    kwargs = dict(zero_inflated=True, random_state=0, n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MoEPoissonRegressor(2, **kwargs).fit(X, y)
    assert model.converged_
    # the fixed point: 200 iterations that no stop rule ends
    monkeypatch.setattr(_em, "_settled", lambda *args, **kwargs: False)
    with pytest.warns(ConvergenceWarning):
        fixed = MoEPoissonRegressor(2, tol=0.0, max_iter=200, **kwargs).fit(X, y)
    np.testing.assert_allclose(model.gate_coef_, fixed.gate_coef_, rtol=1e-10)
    # (the gate's logits, up to 133 a column, carry its coefficients' last
    # digits into the predictions: with the two-column d x d Newton step,
    # undamped by the 2d x 2d one's noise term, the coefficients' last steps
    # at iteration 15 are 2e-11 of their size, the predictions' 5.5e-9; the
    # 2d x 2d step's fixed point and this one's are 1.1e-9 apart)
    np.testing.assert_allclose(model.predict(X), fixed.predict(X), rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ordinary_fits_do_not_meet_the_measured_rounding_rule(monkeypatch, dtype):
    # the rule acts only on falls above tol of at most NOISE_ULPS spacings of
    # the objective: an ordinary fit's iterations and coefficients are those
    # of the rule before (NOISE_FALLS 0), down to tol=1e-10
    from skmoe import _em

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2)).astype(dtype)
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + 0.3 * rng.normal(size=300)
    fits = []
    for noise_falls in (_em.NOISE_FALLS, 0.0):
        monkeypatch.setattr(_em, "NOISE_FALLS", noise_falls)
        model = MoERegressor(2, tol=1e-10, random_state=0, n_init=1)
        fits.append(model.fit(X, y.astype(dtype)))
    assert fits[0].converged_ and fits[1].converged_
    assert fits[0].n_iter_ == fits[1].n_iter_
    np.testing.assert_array_equal(
        fits[0].objective_history_, fits[1].objective_history_
    )
    np.testing.assert_array_equal(fits[0].predict(X), fits[1].predict(X))


def _constant_gate_problem(n_experts=2, seed=0, n=200, experts=None):
    """A small mixture of two lines: (problem, initial responsibilities)."""
    from skmoe.experts.gaussian import GaussianLinearExperts
    from skmoe.gates.constant import ConstantGate

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.2 * rng.normal(size=n)
    experts = GaussianLinearExperts(1e-8) if experts is None else experts
    problem = EMProblem(
        design_matrix(np, X), y, np.ones(n), ConstantGate(), experts, 0.0
    )
    resp = rng.dirichlet(np.ones(n_experts), n).T.copy()
    return problem, resp


def test_em_never_reports_a_nan_objective_as_converged():
    # |NaN| > tol is false: the stop test took a NaN change for a settled
    # one, and a warm run from parameters of NaN ended converged=True

    from skmoe._em import _settled, initial_params, run_em

    assert not _settled([math.nan], tol=1e-5, settle=1)
    assert not _settled([1e-7, 2e-7, 1e-7, 2e-7, 1e-7, math.nan], tol=1e-5)
    problem, resp = _constant_gate_problem()
    gate_params, expert_params = initial_params(problem, resp)
    coef = expert_params["coef"].copy()
    coef[0, 0] = np.nan
    with np.errstate(all="ignore"):
        warm = run_em(
            problem, params=(gate_params, dict(expert_params, coef=coef)), max_iter=50
        )
        # a cold run whose start is NaN stops at once too (it ran to max_iter)
        resp[0, 0] = np.nan
        cold = run_em(problem, resp=resp, max_iter=50)
    for result in (warm, cold):
        assert not result.converged
        assert result.n_iter == 1 and len(result.objective_history) == 1
        assert math.isnan(result.objective)
        assert result.message.startswith("its objective became nan at iteration 1 ")
        assert "StandardScaler" in result.message  # what to do
        assert "float64" not in result.message  # (the fit is in float64)
    f32 = [np.asarray(a, dtype=np.float32) for a in (problem.design, problem.Y)]
    problem32 = EMProblem(
        *f32, np.ones(200, np.float32), problem.gate, problem.experts, 0.0
    )
    with np.errstate(all="ignore"):
        cold32 = run_em(problem32, resp=resp.astype(np.float32), max_iter=50)
    assert "fit in float64" in cold32.message


def test_top_k_em_keeps_its_best_iterate_where_the_objective_turns_nan():
    # a sparse run returns its best iterate; a NaN objective compared false,
    # and the run returned the NaN parameters it ended at

    from skmoe._em import run_em
    from skmoe.experts.gaussian import GaussianLinearExperts

    class Failing(GaussianLinearExperts):
        calls = 0

        def m_step(self, xp, design, Y, weighted_resp, params, alpha):
            Failing.calls += 1
            params = super().m_step(xp, design, Y, weighted_resp, params, alpha)
            if Failing.calls > 4:  # the start's M-step and 3 iterations
                params = dict(params, coef=params["coef"] * np.nan)
            return params

    problem, resp = _constant_gate_problem(3, experts=Failing(1e-8))
    problem = dataclasses.replace(problem, top_k=2)
    with np.errstate(all="ignore"):
        result = run_em(problem, resp=resp, max_iter=50, tol=0.0)
    history = np.array(result.objective_history)
    assert result.n_iter == 4 and np.isfinite(history[:3]).all()
    assert math.isnan(history[3]) and not result.converged
    assert result.objective == history[:3].max()
    assert np.isfinite(result.expert_params["coef"]).all()
    assert "returned its best iterate before it" in result.message


def test_top_k_fit_whose_objective_turns_nan_warns_what_was_kept(monkeypatch):
    # the estimator keeps the best iterate of a sparse run that broke down:
    # the ConvergenceWarning said only "its objective became nan at iteration
    # 6", not that an earlier iterate was kept, nor what to do
    nan_m_steps_after(monkeypatch)  # (the start's M-step and 5 iterations)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], 1 - X[:, 1]) + 0.3 * rng.normal(size=300)
    model = MoERegressor(3, top_k=2, n_init=1, random_state=0)
    with np.errstate(all="ignore"):
        with pytest.warns(ConvergenceWarning) as caught:
            model.fit(X, y)
    (message,) = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert "objective became nan at iteration 6" in message
    assert "best iterate before it" in message and "StandardScaler" in message
    assert "float64" not in message  # (the fit is in float64 already)
    assert model.n_iter_ == 6 and not model.converged_
    history = np.array(model.objective_history_)
    assert np.isnan(history[-1]) and np.isfinite(history[:-1]).all()
    # the kept model is the iterate of the highest objective before the NaN
    best = np.argmax(history[:-1])
    assert model.log_likelihood_ == model.log_likelihood_history_[best]
    assert np.isfinite(model.expert_coef_).all()
    assert np.isfinite(model.predict(X)).all()


def test_em_of_no_iterations_returns_its_start():
    # max_iter=0 raised UnboundLocalError (n_iter)
    from skmoe._em import initial_params, objective, run_em

    problem, resp = _constant_gate_problem()
    result = run_em(problem, resp=resp.copy(), max_iter=0)
    gate_params, expert_params = initial_params(problem, resp)
    log_norm = e_step(problem, gate_params, expert_params)[0]
    total, penalized = objective(problem, log_norm, gate_params, expert_params)
    assert result.n_iter == 0 and not result.converged
    assert result.objective_history == [] and result.log_likelihood_history == []
    assert result.objective == penalized and result.log_likelihood == total
    np.testing.assert_array_equal(result.expert_params["coef"], expert_params["coef"])


def test_warm_start_one_iteration_per_call_converges(crossing_lines):
    # the scikit-learn idiom: fit one iteration per call until converged_; a warm
    # start stops at its first change at most tol (three would never fit in one)
    X, y = crossing_lines
    model = MoERegressor(2, n_init=1, random_state=0, tol=1e-3).fit(X, y)
    model.set_params(warm_start=True, max_iter=1)
    calls = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        while calls < 50 and (calls == 0 or not model.converged_):
            model.fit(X, y)
            calls += 1
    assert model.converged_ and calls == 1


def test_a_random_start_does_not_stop_at_the_symmetric_point():
    # 1e4 rows of four tree-split regimes from a random partition: EM's changes
    # fell below tol for three iterations (the experts' common fit settling)
    # before they grew as the experts parted; it stopped there, every expert
    # alike (held-out -1.32 per row, -0.25 once parted)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (10_000, 2))
    right = X[:, 0] > 0
    region = 2 * right + np.where(right, X[:, 1] > -1, X[:, 1] > 1)
    y = np.array([0.0, 3.0, -2.0, 1.0])[region] + X[:, 0] + 0.3 * rng.randn(10_000)
    model = MoERegressor(4, init_params="random", n_init=1, random_state=0).fit(X, y)
    assert model.n_iter_ > 10
    assert model.responsibilities(X, y).max(axis=1).mean() > 0.5


@pytest.mark.parametrize("n_experts", [2, 3])
@pytest.mark.parametrize("family", ["gaussian", "poisson", "gamma"])
def test_a_random_start_on_a_constant_y_stops_without_the_symmetric_hold(
    family, n_experts
):
    # every expert fits a constant y exactly: their log-likelihoods tie on
    # every sample, the responsibilities stay the gate's, nearly uniform from
    # a random start, and the symmetric hold (SYMMETRIC_ITER) ran all 100
    # iterations where nothing could part (0.3 s against 0.03 s at 2000 rows);
    # the prediction is y's value (a Poisson rate's MLE: the mean count); two
    # experts tie as three do (mutation testing: a tie of 3 or more alone
    # held two for all 100 iterations)
    from skmoe import MoEGammaRegressor, MoEPoissonRegressor

    rng = np.random.RandomState(0)
    X = rng.normal(size=(2000, 3))
    value = {"gaussian": 2.5, "poisson": 3.0, "gamma": 2.0}[family]
    y = np.full(2000, value)
    model = {
        "gaussian": MoERegressor,
        "poisson": MoEPoissonRegressor,
        "gamma": MoEGammaRegressor,
    }[family](n_experts, init_params="random", n_init=1, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    constant = [w for w in caught if "constant" in str(w.message)]
    assert len(constant) == (0 if family == "poisson" else 1)
    assert model.converged_ and model.n_iter_ <= 10
    X_test = 3 * rng.normal(size=(50, 3))
    np.testing.assert_allclose(model.predict(X_test), value, rtol=1e-12)


def test_the_tie_of_held_experts_is_checked_at_held_stops_1_2_4_8(monkeypatch):
    # y on a grid of three values 1e-13 apart: the experts do not tie (their
    # log-likelihoods differ by 1e10 units of rounding), and the hold keeps the
    # stop for every iteration to SYMMETRIC_ITER; checking the tie at each
    # held stop took 12% of such a fit at 1e5 rows (97 checks), now at held
    # stops 1, 2, 4, ..., 64 (7 checks, 0.8%)
    import skmoe._em as em

    held, checks = [], []
    near_uniform, experts_tied = em._near_uniform, em._experts_tied

    def counted_near_uniform(problem, resp):
        out = near_uniform(problem, resp)
        held.append(out)
        return out

    def counted_experts_tied(problem, expert_params):
        out = experts_tied(problem, expert_params)
        checks.append(out)
        return out

    monkeypatch.setattr(em, "_near_uniform", counted_near_uniform)
    monkeypatch.setattr(em, "_experts_tied", counted_experts_tied)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (4000, 2))
    y = 1e3 + 1.2e-13 * rng.randint(0, 3, 4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(4, init_params="random", n_init=1, random_state=0)
        model.fit(X, y)
    n_held = sum(held)
    assert n_held > 30 and not any(checks)
    # at held stops 1, 2, 4, ... up to n_held (91 checks before: every one)
    assert len(checks) == n_held.bit_length()


def test_experts_with_an_infinite_log_likelihood_do_not_tie():
    # a point mass's log-likelihood is -inf off its point: against a finite
    # expert the spread is inf, and inf <= 16 eps inf read as a tie (mutation
    # testing); equal finite log-likelihoods tie, ones 1e-6 apart do not
    from types import SimpleNamespace

    import skmoe._em as em

    def problem(log_p):
        experts = SimpleNamespace(log_likelihood=lambda xp, design, Y, params: log_p)
        return SimpleNamespace(xp=np, experts=experts, design=None, Y=None)

    finite = np.array([[-1.5, -0.25, -3.0], [-1.5, -0.25, -3.0]])
    assert em._experts_tied(problem(finite), None)
    apart = finite + np.array([[0.0], [1e-6]])
    assert not em._experts_tied(problem(apart), None)
    point_mass = finite.copy()
    point_mass[0, 1] = -np.inf  # (the point mass off its point, on one row)
    assert not em._experts_tied(problem(point_mass), None)
    point_mass[1, 1] = -np.inf  # (both -inf there: a NaN spread)
    assert not em._experts_tied(problem(point_mass), None)


def _moons_against_logistic(n_samples, noise, seed):
    """Two standardized moons (held-out draws of 5000 rows), a MoEClassifier(2)
    fitted from its k-means start and logistic regression, whose held-out
    accuracies must be above 0.99 and below 0.9."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples, noise=noise, random_state=seed)
    X_test, y_test = make_moons(5000, noise=noise, random_state=seed + 100)
    center, scale = X.mean(axis=0), X.std(axis=0)
    X, X_test = (X - center) / scale, (X_test - center) / scale
    model = MoEClassifier(2, random_state=seed).fit(X, y)
    linear = LogisticRegression().fit(X, y)
    assert linear.score(X_test, y_test) < 0.9
    assert model.score(X_test, y_test) > 0.99
    return X, y, X_test, y_test, model, linear


def test_a_kmeans_start_crawling_on_two_moons_is_not_stopped_early():
    # from the k-means start EM's changes were below tol, and fell, for three
    # iterations, two parallel experts of opposite intercepts, before they grew
    # as the experts parted: it stopped after 3 at logistic regression's fit
    # (held-out accuracy 0.885, log loss 0.25 per row, against 0.995 and 0.02)
    from sklearn.metrics import log_loss

    _, _, X_test, y_test, model, linear = _moons_against_logistic(5000, 0.1, 0)
    moe_loss = log_loss(y_test, model.predict_proba(X_test))
    assert moe_loss < 0.2 * log_loss(y_test, linear.predict_proba(X_test))


def test_stall_probe_leaves_converged_and_one_expert_fits_alone(monkeypatch):
    # the probe runs only where a fresh run stops within PROBE_ITER iterations,
    # and is kept only where it gains: one expert (LogisticRegression's fit in 3
    # iterations) and a fit converging after many iterations never call it
    from skmoe import _em

    calls = []
    probe = _em._stall_probe
    monkeypatch.setattr(_em, "_stall_probe", lambda *a: calls.append(1) or probe(*a))
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    single = MoEClassifier(1).fit(X, y)
    # it stops within PROBE_ITER: 3 iterations with AVX2 kernels, 4 or 6 with
    # SSE ones, where its changes, 1 or 2 ulps of the objective, grew
    assert single.n_iter_ <= _em.PROBE_ITER and calls == []
    MoEClassifier(2, random_state=0).fit(X, y)
    assert calls == []


def _two_regimes_and_probe_calls(monkeypatch):
    """Two Gaussian regimes (200 rows) and the list that each call of
    ``_em._stall_probe`` appends to."""
    from skmoe import _em

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1))
    y = np.where(X[:, 0] > 0, 3 + 2 * X[:, 0], -3 - X[:, 0])
    y = y + rng.normal(0, 0.5, 200)
    calls = []
    probe = _em._stall_probe
    monkeypatch.setattr(_em, "_stall_probe", lambda *a: calls.append(1) or probe(*a))
    return X, y, calls


def test_stall_probe_checks_stops_within_six_iterations(monkeypatch):
    # PROBE_ITER = 2 * SETTLE: two Gaussian regimes stop at the 6th iteration
    # at tol=0.013, probed once, and at the 7th at tol=0.008, not probed
    X, y, calls = _two_regimes_and_probe_calls(monkeypatch)
    for tol, n_iter, n_calls in ((0.013, 6, 1), (0.008, 7, 0)):
        calls.clear()
        model = MoERegressor(2, n_init=1, tol=tol, random_state=0).fit(X, y)
        assert (model.n_iter_, len(calls)) == (n_iter, n_calls)
        assert model.converged_


@pytest.mark.parametrize(
    "options",
    [
        {"assignment": "hard"},
        {"top_k": 1},
        {"acceleration": "squarem"},
        {"expert_estimator": "linear"},
        {"warm_start": True},
    ],
)
def test_stall_probe_is_only_for_fresh_soft_dense_em(monkeypatch, options):
    # classification EM, a sparse gate, SQUAREM's own cycles, experts that
    # are not monotone and a warm start's refit stop at their 3rd (1st)
    # iteration without a probe, where the plain fit is probed
    from sklearn.linear_model import LinearRegression

    X, y, calls = _two_regimes_and_probe_calls(monkeypatch)
    plain = MoERegressor(2, n_init=1, tol=0.05, random_state=0).fit(X, y)
    assert (plain.n_iter_, len(calls)) == (3, 1)
    if options.get("expert_estimator") == "linear":
        options = {"expert_estimator": LinearRegression()}
    calls.clear()
    model = MoERegressor(2, n_init=1, tol=0.05, random_state=0, **options)
    model.fit(X, y)
    if "warm_start" in options:
        assert len(calls) == 1
        calls.clear()
        model.fit(X, y)
        assert model.n_iter_ == 1
    assert model.n_iter_ <= 3 and calls == []


def test_stall_probe_runs_once_per_run(monkeypatch):
    # two moons crawl from the k-means start: the probe at the 3rd iteration
    # goes on, and EM's later stop is not probed again, however early
    from sklearn.datasets import make_moons

    from skmoe import _em

    X, y = make_moons(2000, noise=0.1, random_state=2)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    probes = []
    probe = _em._stall_probe
    monkeypatch.setattr(
        _em, "_stall_probe", lambda *a: probes.append(probe(*a)) or probes[-1]
    )
    monkeypatch.setattr(_em, "PROBE_ITER", 10_000)  # any stop is early
    model = MoEClassifier(2, n_init=1, random_state=0).fit(X, y)
    assert len(probes) == 1 and probes[0] is not None
    assert model.converged_ and model.n_iter_ > 3


def test_em_settles_afresh_after_the_stall_probe(monkeypatch):
    # a probe of 200 cycles ends at the optimum (its log-likelihood from
    # -512.5 to -85.84): EM's three changes below tol before the probe do not
    # count, and it stops after SETTLE = 3 changes of its own, at the 6th
    from sklearn.datasets import make_moons

    from skmoe import _em

    X, y = make_moons(2000, noise=0.1, random_state=2)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    monkeypatch.setattr(_em, "PROBE_CYCLES", 200)
    model = MoEClassifier(2, n_init=1, random_state=0).fit(X, y)
    history = np.asarray(model.log_likelihood_history_)
    assert model.converged_ and model.n_iter_ == 3 + _em.SETTLE == 6
    assert history[3] - history[2] > 400  # the probe's gain
    assert np.all(np.abs(np.diff(history[3:])) < 1e-2)  # at the optimum


def test_stall_probe_keeps_max_iter_and_the_last_record():
    # a run whose stop at max_iter the probe would reject ran its SQUAREM
    # cycles past max_iter=3 and returned their end, which no history held
    from sklearn.datasets import make_moons

    X, y = make_moons(2000, noise=0.1, random_state=2)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    for max_iter in (3, 4):
        model = MoEClassifier(2, n_init=1, max_iter=max_iter, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        proba = model.predict_proba(X)
        log_likelihood = np.log(proba[np.arange(y.size), y]).sum()
        assert model.n_iter_ <= max_iter
        assert len(model.log_likelihood_history_) == model.n_iter_
        np.testing.assert_allclose(model.log_likelihood_, log_likelihood, rtol=1e-9)
        np.testing.assert_allclose(
            model.log_likelihood_history_[-1], log_likelihood, rtol=1e-9
        )


def test_stall_probe_gives_up_at_a_fixed_point(monkeypatch):
    # zero-inflated Poisson experts stop within 5 iterations from every start;
    # six cycles of the probe then gained 8e-8 per sample and tripled the fit's
    # time: it declines after the first, which gains nothing, and the fit is
    # EM's alone
    from skmoe import MoEPoissonRegressor, _em

    rng = np.random.RandomState(0)
    X = rng.normal(size=(800, 2))
    log_rate = np.where(X[:, 0] > 0, 1.5 + 0.5 * X[:, 1], 0.2 - 0.5 * X[:, 1])
    y = rng.poisson(np.exp(log_rate)).astype(float)
    cycles, probes = [], []
    cycle, probe = _em._squarem_cycle, _em._stall_probe
    monkeypatch.setattr(_em, "_squarem_cycle", lambda *a: cycles.append(1) or cycle(*a))
    monkeypatch.setattr(_em, "_stall_probe", lambda *a: probes.append(probe(*a)))
    model = MoEPoissonRegressor(2, zero_inflated=True, n_init=1, random_state=0)
    model.fit(X, y)
    assert probes == [None] and len(cycles) == 1
    monkeypatch.setattr(_em, "PROBE_ITER", 0)  # no probe
    alone = clone(model).fit(X, y)
    assert alone.n_iter_ == model.n_iter_
    np.testing.assert_array_equal(alone.expert_coef_, model.expert_coef_)
    np.testing.assert_array_equal(alone.gate_coef_, model.gate_coef_)


def test_stall_probe_gives_up_where_its_gains_shrink(monkeypatch):
    # a zero-inflated fit whose probe gained 4.8e-6, then 1.3e-6 per sample
    # (then 2e-9): gains shrinking as a geometric series of sum 6.6e-6, far
    # from the 100 tol = 1e-3 that would go on, so the second cycle gives up
    from skmoe import MoEPoissonRegressor, _em

    rng = np.random.default_rng(0)
    for _ in range(4):  # the fourth of four draws
        X = rng.normal(size=(800, 2))
        rate = np.exp(0.5 + X[:, 0] * (X[:, 1] > 0))
        y = np.where(rng.random(800) < 0.3, 0, rng.poisson(rate))
    gains, probes, tols = [], [], []
    objective, probe = _em.objective, _em._stall_probe

    def recorded(*args):
        value = objective(*args)
        if sys._getframe(1).f_code.co_name == "_stall_probe":  # not the cycles'
            gains.append(value[1])
        return value

    def probed(*args):
        gains.clear()
        gains.append(args[-2])  # the objective where EM would stop
        tols.append(args[-1])  # tol in the objective's units
        monkeypatch.setattr(_em, "objective", recorded)
        try:
            probes.append(probe(*args))
        finally:
            monkeypatch.setattr(_em, "objective", objective)

    monkeypatch.setattr(_em, "_stall_probe", probed)
    model = MoEPoissonRegressor(2, zero_inflated=True, n_init=1, random_state=3)
    model.fit(X, y)
    steps = np.diff(gains)
    assert probes == [None] and steps.shape == (2,)
    tol = tols[0]
    assert steps[0] > steps[1] > _em.PROBE_STILL * tol  # neither is still
    remainder = steps[1] * steps[1] / (steps[0] - steps[1])
    assert steps.sum() + remainder < _em.PROBE_GAIN * tol
    monkeypatch.setattr(_em, "PROBE_ITER", 0)  # no probe
    alone = clone(model).fit(X, y)
    np.testing.assert_array_equal(alone.expert_coef_, model.expert_coef_)


def test_verbose_reports_the_stall_probes_gain(capsys):
    # the iteration after the probe printed a change from the probe's end, its
    # log-likelihood 325 nats above the one before, with no word of the probe
    from sklearn.datasets import make_moons

    X, y = make_moons(2000, noise=0.1, random_state=2)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = MoEClassifier(2, n_init=1, max_iter=4, verbose=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    probe = [line for line in lines if line.strip().startswith("Probe")]
    assert len(probe) == 1
    fourth = next(line for line in lines if "Iteration 4\t" in line)
    gained = float(probe[0].split("gained ")[1].split(":")[0])
    change = float(fourth.split("change ")[1].split()[0])
    history = model.objective_history_
    np.testing.assert_allclose(gained + change, history[3] - history[2], rtol=1e-3)


def test_the_kmeans_start_weighs_the_rows_as_repeated_rows():
    # k-means takes the sample weights: a third cluster of weight 30 draws a
    # centre, as its 30 copies would (without them, 70% of the labels agreed)
    from skmoe._init import initial_responsibilities

    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(40, 1) - 3, rng.randn(40, 1) + 3, rng.randn(40, 1)]
    y = X[:, 0] ** 2 + rng.randn(120)
    weight = np.r_[np.full(80, 1.0), np.full(40, 30.0)]
    weighted = initial_responsibilities(
        X, y, weight, 2, "kmeans", np.random.RandomState(0)
    )
    rows = np.repeat(np.arange(120), weight.astype(int))
    repeated = initial_responsibilities(
        X[rows], y[rows], np.ones(len(rows)), 2, "kmeans", np.random.RandomState(0)
    )
    labels = np.argmax(weighted, axis=1)
    labels_repeated = np.argmax(repeated[np.searchsorted(rows, np.arange(120))], axis=1)
    assert np.all(labels == labels_repeated) or np.all(labels != labels_repeated)


def test_kmeans_start_sees_targets_of_any_scale():
    # the start standardized [X, y] through y^2, which overflowed from 1e155:
    # k-means saw no target, and both experts took the larger regime
    from skmoe._init import initial_responsibilities

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 1))
    regime = np.arange(200) % 2
    y = np.where(regime == 1, 5.0, 0.0) + 0.1 * rng.normal(size=200)
    for scale in (1.0, 1e200):
        resp = initial_responsibilities(
            X, scale * y, np.ones(200), 2, "kmeans", np.random.RandomState(0)
        )
        labels = np.argmax(resp, axis=1)
        # the two regimes, whichever expert takes which
        assert np.all(labels == regime) or np.all(labels != regime)


@pytest.mark.parametrize("n_columns", [1, 2, 7])
@pytest.mark.parametrize("weight_dtype", [np.float64, np.float32, None])
def test_the_starts_column_averages_in_blocks_equal_numpys(weight_dtype, n_columns):
    # the k-means start standardizes [X, y] in blocks of rows (np.average held
    # three copies of it at once); the averages are np.average's to the bit,
    # whatever the block (one row, a few, all), weights and columns' scales
    from skmoe._init import _column_average

    rng = np.random.RandomState(0)
    Z = rng.standard_normal((1001, n_columns))
    Z *= 10.0 ** rng.randint(-8, 8, size=n_columns)
    weight = np.ones(1001) if weight_dtype is None else rng.rand(1001)
    weight = weight.astype(weight_dtype or np.float64)
    mean = np.average(Z, axis=0, weights=weight)
    square = np.average(Z**2, axis=0, weights=weight)
    for rows in (1, 3, 250, 1000, 1001, 5000):
        assert np.array_equal(_column_average(Z, weight, rows), mean)
        assert np.array_equal(_column_average(Z, weight, rows, square=True), square)


def test_the_starts_standardization_holds_one_copy_of_the_data(monkeypatch):
    # the standardized [X, y] (float64) and blocks of it, not the copies that
    # np.average's weighted products and Z**2 held beside it: tracemalloc peaks
    # of 3.09 and 2.09 times the copy's size, before and after (the second copy
    # is scikit-learn's KMeans's own, np.var's temporary for its tolerance)
    import tracemalloc

    from skmoe import _init

    monkeypatch.setattr(_init, "STANDARDIZE_BLOCK", 16 * 1000)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 15)).astype(np.float32)
    y = X[:, 0] + rng.standard_normal(20_000).astype(np.float32)
    weight = np.ones(20_000)
    tracemalloc.start()
    try:
        _init._kmeans_labels(X, y, weight, 2, np.random.RandomState(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * 20_000 * 16 * 8


def test_a_float32_start_copies_the_data_in_float32(monkeypatch):
    # float32 halves the memory (docs/user_guide/fitting.rst), but a float32
    # X's start standardized a float64 copy of [X, y]: tracemalloc peaks of
    # 0.97 times a float64 X's before, 0.48 after; the labels of
    # well-separated clusters are those of a float64 X
    import tracemalloc

    from skmoe import _init

    monkeypatch.setattr(_init, "STANDARDIZE_BLOCK", 16 * 1000)
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 15))
    X[:, 0] += 8.0 * (np.arange(20_000) % 2)
    y = X[:, 0] + rng.standard_normal(20_000)
    weight = np.ones(20_000)
    labels, peaks = {}, {}
    for dtype in (np.float64, np.float32):
        X_, y_ = X.astype(dtype), y.astype(dtype)
        tracemalloc.start()
        try:
            labels[dtype] = _init._kmeans_labels(
                X_, y_, weight, 2, np.random.RandomState(0)
            )
            peaks[dtype] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[np.float32] < 0.6 * peaks[np.float64]
    truth = np.arange(20_000) % 2
    for found in labels.values():
        agree = np.mean(found == truth)
        assert max(agree, 1 - agree) > 0.999
    assert np.array_equal(labels[np.float64], labels[np.float32])


def test_a_float32_starts_column_averages_are_summed_in_float64():
    # a float32 start's copy of [X, y] was averaged in float32: row after row
    # the sums of 2e4 rows of a column 1000 + 0.01 noise (unit weights) put its
    # mean 2.1 standard deviations off, and k-means' labels agreed with the
    # column's two clusters on 50.0% of the rows (99.9% with float64 sums)

    from skmoe import _init

    n = 20_000
    rng = np.random.RandomState(0)
    truth = np.arange(n) % 2
    X = rng.standard_normal((n, 2)).astype(np.float32)
    X[:, 0] = 1000 + 0.01 * (3 * truth + 0.5 * rng.standard_normal(n))
    y = rng.standard_normal(n).astype(np.float32)
    weight = np.ones(n, dtype=np.float32)  # (the default: the sums' roundings add up)
    Z = np.ascontiguousarray(X / np.abs(X).max(axis=0))
    w = weight.astype(np.float64)
    mean = _init._column_average(Z, weight, 4096)
    square = _init._column_average(Z, weight, 4096, square=True)
    for column in range(2):
        z = Z[:, column].astype(np.float64)
        exact = math.fsum(w * z) / math.fsum(w)  # w * z is exact in float64
        spread = math.sqrt(math.fsum(w * (z - exact) ** 2) / math.fsum(w))
        assert abs(mean[column] - exact) < 1e-6 * spread
        # (the squares themselves are float32's, rounded to 6e-8)
        exact = math.fsum(w * z**2) / math.fsum(w)
        assert abs(square[column] - exact) < 1e-6 * exact
    labels = _init._kmeans_labels(X, y, weight, 2, np.random.RandomState(0))
    agree = np.mean(labels == truth)
    assert max(agree, 1 - agree) > 0.99


def test_a_ranks_start_does_not_depend_on_xs_dtype():
    # "ranks" clusters y's ranks alone, so X's dtype cannot matter; a float32
    # X made the ranks' copy float32 (108bfb6), and k-means broke the ties of
    # evenly spaced ranks otherwise: 21 of 50 seeds' labels changed
    from skmoe import _init

    n = 1500
    for seed in range(10):
        rng = np.random.RandomState(seed)
        X = rng.standard_normal((n, 5))
        y = (2 * X[:, 0] + rng.standard_normal(n)).astype(np.float32)
        weight = np.ones(n, dtype=np.float32)
        resp = [
            _init.initial_responsibilities(
                X.astype(dtype), y, weight, 3, "ranks", np.random.RandomState(seed)
            )
            for dtype in (np.float64, np.float32)
        ]
        assert np.array_equal(np.argmax(resp[0], 1), np.argmax(resp[1], 1))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_regressors_em_holds_few_arrays_of_n_by_k(dtype):
    # the weighted responsibilities written over the responsibilities, the
    # E-steps over the last M-step's arrays, the softmax gate's residual,
    # gate values and line search freed once used, the start's gate freed
    # at its second step: tracemalloc peaks of 10.6 arrays of n x K before
    # and 4.8 after (float64; 10.8 and 5.0 in float32), where design.md
    # counts 4 to 5 (n x K dominates: 3 columns of X~ against 16)
    import tracemalloc

    rng = np.random.RandomState(0)
    n_samples, n_experts = 60_000, 16
    X = rng.uniform(-3, 3, size=(n_samples, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1])
    y = y + 0.1 * rng.standard_normal(n_samples)
    X, y = X.astype(dtype), y.astype(dtype)
    model = MoERegressor(
        n_experts, n_init=1, init_params="random", max_iter=3, random_state=0
    )
    tracemalloc.start()
    try:
        model.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5.5 * n_samples * n_experts * np.dtype(dtype).itemsize


def test_blocked_em_from_weights_is_em_on_repeated_rows(monkeypatch):
    # blocks of 1024 samples: the E-steps write into the arrays of the last
    # M-step (the start's responsibilities with overwrite_resp); weight 2 is
    # a row repeated twice, and the caller's responsibilities, not given to
    # overwrite, are left as they were
    import skmoe._em as em
    from skmoe.experts import GaussianLinearExperts

    monkeypatch.setattr(em, "E_STEP_BLOCK", 3 * 1000)
    rng = np.random.RandomState(0)
    X = rng.randn(1500, 2)
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + 0.3 * rng.randn(1500)
    counts = rng.randint(1, 3, size=1500)
    resp = rng.dirichlet([1, 1, 1], size=1500).T
    experts = GaussianLinearExperts(1e-8)
    weighted = EMProblem(
        design_matrix(np, X), y, counts.astype(float), SoftmaxGate(), experts, 1e-3
    )
    repeated = EMProblem(
        design_matrix(np, np.repeat(X, counts, axis=0)),
        np.repeat(y, counts),
        np.ones(counts.sum()),
        SoftmaxGate(),
        experts,
        1e-3,
    )
    b = em.run_em(repeated, resp=np.repeat(resp, counts, axis=1), max_iter=8, tol=0)
    for overwrite in (False, True):
        given = resp.copy()
        a = em.run_em(weighted, resp=given, max_iter=8, tol=0, overwrite_resp=overwrite)
        if not overwrite:
            np.testing.assert_array_equal(given, resp)
        np.testing.assert_allclose(
            a.log_likelihood_history, b.log_likelihood_history, rtol=1e-9
        )
        for name in a.expert_params:
            np.testing.assert_allclose(
                a.expert_params[name], b.expert_params[name], rtol=1e-7
            )
        np.testing.assert_allclose(
            a.gate_params["coef"], b.gate_params["coef"], rtol=1e-7, atol=1e-10
        )


def test_results_are_written_only_over_temporaries_of_the_right_kind():
    # the in-place steps of the M-steps (writable_over) write over an array
    # that owns its data, of the result's shape and dtype; never over a view
    # (it would change the array it views), a read-only array, an array that
    # the result outgrows or a narrower dtype's
    from skmoe._math import writable_over

    a = np.ones((3, 4))
    assert writable_over(a, np.ones(4)) and writable_over(a)
    assert not writable_over(a[:2], np.ones(4))  # a view
    assert not writable_over(a.T, np.ones(3))  # a view
    frozen = np.ones((3, 4))
    frozen.flags.writeable = False
    assert not writable_over(frozen, np.ones(4))
    assert not writable_over(np.ones((1, 4)), a)  # the result is (3, 4)
    assert not writable_over(a.astype(np.float32), a)  # the result is float64
    assert writable_over(a, a.astype(np.float32))
    assert not writable_over(a, [1.0, 2.0, 3.0, 4.0])  # not a NumPy array


def test_the_starts_k_means_runs_one_openmp_thread(monkeypatch):
    # scikit-learn's KMeans ran its default OpenMP threads, which on a busy
    # machine wait for cores: 6.6 times the time on 20000 x 10 at a load of
    # 1.5 (benchmarks/kmeans_threads.py); one thread gives the same labels
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    from skmoe import _init

    def openmp_threads():
        return _threads("openmp")

    seen = []
    fit = KMeans.fit

    def record():
        monkeypatch.setattr(
            KMeans,
            "fit",
            lambda self, *a, **k: seen.append(openmp_threads()) or fit(self, *a, **k),
        )

    record()
    rng = np.random.RandomState(0)
    X = rng.randn(500, 3)
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(500)
    # two threads whatever OMP_NUM_THREADS says: at one, a limited k-means and
    # one left alone read the same and the checks passed vacuously
    with threadpool_limits(limits=2, user_api="openmp"):
        before = openmp_threads()
        if before != {2}:
            pytest.skip("no OpenMP library loaded")
        labels = _init._kmeans_labels(X, y, np.ones(500), 3, 0)
        assert seen == [{1}]
        assert openmp_threads() == before
        monkeypatch.setattr(_init, "openmp_threads", contextlib.nullcontext)
        np.testing.assert_array_equal(
            _init._kmeans_labels(X, y, np.ones(500), 3, 0), labels
        )
        assert seen[-1] == before
        # a GPU fit's start (one_thread=False) keeps the host's threads
        monkeypatch.undo()
        record()
        np.testing.assert_array_equal(
            _init._kmeans_labels(X, y, np.ones(500), 3, 0, one_thread=False), labels
        )
        assert seen[-1] == before


def test_logsumexp_of_rows_of_minus_infinity_is_minus_infinity():
    # documented: rows of all -inf give -inf (without the guard: NaN), on
    # either axis, in NumPy's blocked path and in the generic one
    from scipy.special import logsumexp as scipy_logsumexp

    from skmoe._math import logsumexp

    a = np.full((3, 5000), -np.inf)
    a[1] = np.linspace(-3, 2, 5000)
    a[2, :2500] = 0.5
    a[1, 4000:] = -np.inf  # columns of all -inf too
    for axis in (0, 1, -1):
        expected = scipy_logsumexp(a, axis=axis)
        assert np.isneginf(expected).any()
        with np.errstate(divide="ignore"):  # log(0), which the callers silence
            got = logsumexp(np, a, axis=axis)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-14)
    xp = pytest.importorskip("array_api_strict")
    for axis in (0, 1):
        got = np.asarray(logsumexp(xp, xp.asarray(a), axis=axis))
        np.testing.assert_allclose(got, scipy_logsumexp(a, axis=axis), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_is_numpys_exp_element_for_element(dtype):
    # _math.exp gives NumPy's exp but for results below the smallest normal
    # number, which are 0 (and spares exp its slow path for them): element for
    # element, in exp's layout, with out= and in place, beside -inf, inf, NaN
    from skmoe._math import EXP_CHECK_SIZE, EXP_ZERO, exp

    rng = np.random.default_rng(0)
    n = 4 * EXP_CHECK_SIZE
    a = rng.uniform(-3000.0, 10.0, size=n).astype(dtype)
    band = rng.random(n) < 0.2  # about the float64 and float32 underflows
    a[band] = rng.choice([-760.0, -740.0, -710.0, -105.0, -95.0], band.sum())
    a[:6] = [-745.2, -745.1, -708.5, -103.99, -103.9, -87.4]
    cut = EXP_ZERO[np.dtype(dtype)]  # and about it, to an ulp of the argument
    a[6:26] = dtype(cut) + np.arange(-10, 10) * np.spacing(dtype(cut))
    # exp moves by a relative spacing of the argument per step of it
    within = 2 * abs(float(np.spacing(dtype(cut))))
    cases = {"finite": a.copy()}
    a[rng.random(n) < 0.01] = -np.inf
    cases["-inf"] = a.copy()
    a[rng.random(n) < 0.01] = np.inf
    a[rng.random(n) < 0.01] = np.nan
    cases["inf and nan"] = a
    assert np.min(cases["finite"]) < EXP_ZERO[np.dtype(np.float64)]
    for name, values in cases.items():
        for order in "CF":
            b = np.asarray(values.reshape(8, -1), order=order)
            with np.errstate(over="ignore", under="ignore"):
                numpys = np.exp(b)
                expected = np.where(b < EXP_ZERO[np.dtype(dtype)], 0, numpys)
                assert np.sum(expected != numpys) > n / 100  # subnormals there
                # what is kept is normal, to a step of the argument at the cut
                kept = numpys[(expected == numpys) & (numpys > 0)]
                assert np.all(kept >= np.finfo(dtype).tiny * (1 - within))
                got = exp(np, b)
                into = np.empty_like(b)
                exp(np, b, out=into)
                in_place = b.copy(order="K")
                exp(np, in_place, out=in_place)
                strided = exp(np, b[:, ::3])
            for result in (got, into, in_place):
                np.testing.assert_array_equal(result, expected, err_msg=name)
                assert result.strides == expected.strides
                assert not np.signbit(result[expected == 0]).any()
            np.testing.assert_array_equal(strided, expected[:, ::3], err_msg=name)
            assert strided.strides == np.exp(b[:, ::3]).strides


def test_overlapping_k_means_limits_are_each_threads_own():
    # OpenMP's limit holds for the calling thread alone: with one count for
    # all threads (as BLAS's, which is process-wide) the second of two
    # overlapping limits left its thread unlimited, and the first thread's
    # restore never came, leaving it at one thread for good (review)
    import threading

    from skmoe import _backend

    def openmp_threads():
        return _threads("openmp")

    if not openmp_threads():
        pytest.skip("no OpenMP runtime loaded")
    seen = {}
    both_inside, first_out = threading.Barrier(2), threading.Event()

    def run(name, leave_first):
        before = openmp_threads()
        with _backend.openmp_threads():
            both_inside.wait(timeout=30)
            inside = openmp_threads()
            if not leave_first:
                first_out.wait(timeout=30)
        if leave_first:
            first_out.set()
        seen[name] = (before, inside, openmp_threads())

    threads = [
        threading.Thread(target=run, args=("first", True)),
        threading.Thread(target=run, args=("second", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for before, inside, after in seen.values():
        assert inside <= {1}
        assert after == before
    assert len(seen) == 2


def _switching_regressions():
    """500 x 10: four linear regimes switched by a softmax of x."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((500, 10))
    V, W = rng.standard_normal((10, 4)), rng.standard_normal((10, 4))
    z = np.argmax(X @ V, axis=1)
    y = np.einsum("nd,dn->n", X, W[:, z]) + 0.5 * rng.standard_normal(500)
    return X, y


@pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning")
@pytest.mark.parametrize("gate", ["softmax", "hierarchical"])
def test_truncated_gate_steps_do_not_stop_em_early(monkeypatch, gate):
    # the softmax gate's conjugate-gradient (truncated Newton) steps, forced on
    # a small problem by a lower budget: a truncated M-step can gain less
    # than tol where EM is not done. At the stop, exact (Newton) M-steps from
    # the fitted model (a warm start at the same tol) must gain about tol at
    # most; without the tight M-step that checks the stop they gained 1.3e-4
    import skmoe.gates.softmax as softmax

    X, y = _switching_regressions()
    monkeypatch.setattr(softmax, "NEWTON_MAX_COEF", 16)  # 8 x 11 coefficients
    model = MoERegressor(8, gate=gate, n_init=1, random_state=0).fit(X, y)
    assert model.converged_
    fitted = model.objective_history_[-1]
    monkeypatch.setattr(softmax, "NEWTON_MAX_COEF", 10**9)
    model.set_params(warm_start=True, max_iter=1000).fit(X, y)
    assert model.converged_
    assert model.objective_history_[-1] - fitted <= 2 * model.tol


@pytest.mark.filterwarnings("ignore::skmoe.exceptions.DegenerateFitWarning")
def test_a_truncated_gate_stop_at_max_iter_stands(monkeypatch):
    # no iteration is left at max_iter to check a stop with a tight M-step:
    # a fit capped where EM's stop test first passed warned that it did not
    # converge, and the gradient solver, whose stop one EM iteration checks
    # (run_em with max_iter=1), never converged: L-BFGS ran on to max_iter
    import skmoe.gates.softmax as softmax

    X, y = _switching_regressions()
    monkeypatch.setattr(softmax, "NEWTON_MAX_COEF", 16)  # 8 x 11 coefficients
    model = MoERegressor(8, n_init=1, random_state=0).fit(X, y)
    assert model.converged_
    history = model.objective_history_
    # the stop's check gained at most tol: the stop test passed the iteration
    # before, where a fit capped there stops on the same path, converged
    assert abs(history[-1] - history[-2]) <= model.tol
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        capped = clone(model).set_params(max_iter=model.n_iter_ - 1).fit(X, y)
    assert capped.converged_ and capped.n_iter_ == model.n_iter_ - 1
    np.testing.assert_array_equal(capped.objective_history_, history[:-1])
    # 16 experts over 70 features: truncated steps at NEWTON_MAX_COEF itself
    monkeypatch.undo()
    rng = np.random.RandomState(0)
    X = rng.randn(400, 70)
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 2]) + 0.3 * rng.randn(400)
    gradient = MoERegressor(16, solver="gradient", alpha=1.0, n_init=1)
    assert gradient._make_gate().truncated(np.empty((71, 1)), {"coef": X[:16].T})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gradient.set_params(random_state=0).fit(X, y)
    assert gradient.converged_ and gradient.n_iter_ < gradient.max_iter


def _standardized(X, y, weight):
    # the start's [X, y] in units of each column's largest value, centered and
    # scaled by the weighted mean and standard deviation
    Z = np.column_stack([X, y]).astype(np.float64)
    Z /= np.max(np.abs(Z), axis=0)
    Z -= np.average(Z, axis=0, weights=weight)
    return Z / np.sqrt(np.average(Z**2, axis=0, weights=weight))


def _recording_kmeans_fit(monkeypatch):
    from sklearn.cluster import KMeans

    seen = []
    fit = KMeans.fit

    def recorded(self, X, y=None, sample_weight=None):
        seen.append((np.array(X), np.array(sample_weight)))
        return fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(KMeans, "fit", recorded)
    return seen


def test_the_starts_k_means_of_many_rows_fits_a_sample_and_labels_every_row(
    monkeypatch,
):
    # above KMEANS_ROWS rows k-means fitted all of them: 4.4 s of a 7.6 s
    # one-iteration fit at 1e6 x 8, K=16 (cProfile), more than 10 EM iterations
    from sklearn.cluster import KMeans

    from skmoe import _init

    monkeypatch.setattr(_init, "KMEANS_ROWS", 300, raising=False)
    seen = _recording_kmeans_fit(monkeypatch)
    fitted = []
    predict = KMeans.predict
    monkeypatch.setattr(
        KMeans, "predict", lambda self, Z: fitted.append(self) or predict(self, Z)
    )
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 2)
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(2000)
    weight = np.where(np.arange(2000) % 2 == 1, np.arange(2000) + 1.0, 0.0)
    labels = _init._kmeans_labels(X, y, weight, 3, np.random.RandomState(0))
    (rows, drawn_weight) = seen[-1]
    assert rows.shape == (300, 3) and fitted[-1].max_iter == 30
    # rows of positive weight, each with its own weight, no row twice
    Z = _standardized(X, y, weight)
    index = np.array([np.argmin(np.sum((Z - row) ** 2, axis=1)) for row in rows])
    np.testing.assert_allclose(rows, Z[index], rtol=0, atol=1e-12)
    assert np.all(index % 2 == 1) and len(set(index)) == 300
    np.testing.assert_array_equal(drawn_weight, weight[index])
    # every row (zero weights too) labelled by its nearest center
    centers = fitted[-1].cluster_centers_
    nearest = np.argmin(((Z[:, None, :] - centers) ** 2).sum(axis=2), axis=1)
    assert labels.shape == (2000,)
    np.testing.assert_array_equal(labels, nearest)
    assert set(labels) == {0, 1, 2}
    # another restart's seed draws another sample
    _init._kmeans_labels(X, y, weight, 3, np.random.RandomState(1))
    assert not np.array_equal(seen[-1][0], rows)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_restarts_k_means_samples_differ(monkeypatch):
    from skmoe import _init

    monkeypatch.setattr(_init, "KMEANS_ROWS", 200, raising=False)
    seen = _recording_kmeans_fit(monkeypatch)
    rng = np.random.RandomState(0)
    X = rng.randn(1000, 2)
    y = X[:, 0] + 0.1 * rng.randn(1000)
    MoERegressor(2, n_init=3, init_params="kmeans", max_iter=2, random_state=0).fit(
        X, y
    )
    assert [rows.shape[0] for rows, _ in seen] == [200] * 3
    assert not np.array_equal(seen[0][0], seen[1][0])
    assert not np.array_equal(seen[1][0], seen[2][0])


@pytest.mark.parametrize("n_rows", [999, 1000])
def test_the_starts_k_means_of_few_rows_is_unchanged(monkeypatch, n_rows):
    # up to KMEANS_ROWS rows: k-means of every row, labels_ as before
    from sklearn.cluster import KMeans

    from skmoe import _init

    monkeypatch.setattr(_init, "KMEANS_ROWS", 1000, raising=False)
    rng = np.random.RandomState(0)
    X = rng.randn(n_rows, 2)
    y = np.abs(X[:, 0]) + 0.1 * rng.randn(n_rows)
    weight = rng.rand(n_rows)
    labels = _init._kmeans_labels(X, y, weight, 3, np.random.RandomState(5))
    expected = KMeans(3, n_init=1, random_state=np.random.RandomState(5))
    expected = expected.fit(_standardized(X, y, weight), sample_weight=weight)
    np.testing.assert_array_equal(labels, expected.labels_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_keeps_every_normal_result(dtype):
    # _math.exp flushes to 0 only results below the smallest normal number:
    # arguments from just above its log (math's, of float_info.min or
    # float32's 2**-126) up give NumPy's exp, normal and nonzero
    import sys

    from skmoe._math import EXP_CHECK_SIZE, exp

    tiny = sys.float_info.min if dtype == np.float64 else 2.0**-126
    cut = math.log(tiny)
    n = 2 * EXP_CHECK_SIZE
    a = np.linspace(cut + 1e-3, cut + 3.0, n).astype(dtype)
    a[:10] = -1e4  # beside arguments far below the cut (flushed)
    got = exp(np, a)
    np.testing.assert_array_equal(got[:10], 0.0)
    np.testing.assert_array_equal(got[10:], np.exp(a[10:]))
    assert np.all(got[10:] >= tiny)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_flushes_when_the_least_argument_is_just_below_the_cut(dtype):
    # every argument within 1 below log(tiny), none further: their exps are
    # subnormal (NumPy's), and _math.exp gives 0 for them as for any below
    import sys

    from skmoe._math import EXP_CHECK_SIZE, exp

    tiny = sys.float_info.min if dtype == np.float64 else 2.0**-126
    cut = math.log(tiny)
    n = 2 * EXP_CHECK_SIZE
    a = np.linspace(cut + 0.5, cut + 3.0, n).astype(dtype)
    a[:10] = np.linspace(cut - 0.9, cut - 0.1, 10).astype(dtype)
    with np.errstate(under="ignore"):
        numpys = np.exp(a[:10])
    assert np.all((numpys > 0) & (numpys < tiny))  # subnormal in NumPy
    got = exp(np, a)
    np.testing.assert_array_equal(got[:10], 0.0)
    np.testing.assert_array_equal(got[10:], np.exp(a[10:]))


def test_stall_probe_keeps_its_gain_where_it_reaches_a_fixed_point(monkeypatch):
    # cycles gaining 5e-4, then 2e-3 (SQUAREM leaving a crawl), then nothing:
    # the probe's end is 2.5e-3 = 250 tol above where EM stopped, a fixed point
    # EM goes on from; giving up there returned None and lost the gain
    from skmoe import _em

    tol, reached = 1e-5, iter([5e-4, 2.5e-3, 2.5e-3, 2.5e-3])
    ends = []

    def cycle(problem, params, resp, log_gate, prepared, step_max, units):
        ends.append(object())
        return (ends[-1], None), (None, None, None), step_max

    monkeypatch.setattr(_em, "_squarem_units", lambda *a: None)
    monkeypatch.setattr(_em, "_squarem_cycle", cycle)
    monkeypatch.setattr(_em, "objective", lambda *a: (0.0, next(reached)))
    probed = _em._stall_probe(None, (None, None), None, None, None, 0.0, tol)
    assert len(ends) == 3  # the third cycle gained at most PROBE_STILL * tol
    assert probed is not None and probed[0][0] is ends[-1]


@pytest.mark.parametrize(
    "gains, n_cycles, kept",
    [
        # (each cycle's gain in units of tol; at tol = 100 the sums are exact)
        ([200, 0.01, 0], 2, True),  # a gain of at most 0.01 tol is still
        ([0.05, 30, 40, 50, 0], 5, True),  # 0.05 tol is not
        ([5, 6, 7, 8, 9, 10], 6, False),  # 45 tol: not above 100
        ([50, 50, 0], 3, False),  # 100 tol, not above it; equal gains grew
        ([4, 2, 1, 0.5, 0.25, 0.125], 2, False),  # 6 + 2 (geometric) tol
        ([40, 30, 25, 20, 15, 10], 6, True),  # 70 + 90 tol at the second
        ([1, 3, 2, 50, 60, 10], 6, True),  # one dip after growing
    ],
)
def test_stall_probe_by_its_gains(monkeypatch, gains, n_cycles, kept):
    # the probe ends at a gain of at most PROBE_STILL = 0.01 tol, gives up
    # where its gains have only shrunk and their geometric series
    # gain^2 / (last - gain) cannot take it above PROBE_GAIN = 100 tol, and
    # keeps its end only above that; each cycle starts from the last one's
    # E-step
    from skmoe import _em

    tol, start = 100.0, -5e4
    reached = iter(start + np.cumsum([tol * gain for gain in gains + [0] * 6]))
    ends, seen = [], []

    def cycle(problem, params, resp, log_gate, prepared, step_max, units):
        seen.append((resp, log_gate))
        ends.append(object())
        parts = (None, ("resp", len(ends)), ("log_gate", len(ends)))
        return (ends[-1], None), parts, step_max

    monkeypatch.setattr(_em, "_squarem_units", lambda *a: None)
    monkeypatch.setattr(_em, "_squarem_cycle", cycle)
    monkeypatch.setattr(_em, "objective", lambda *a: (0.0, float(next(reached))))
    probed = _em._stall_probe(None, (None, None), "resp", "log_gate", None, start, tol)
    assert len(ends) == n_cycles
    assert seen[0] == ("resp", "log_gate")
    assert seen[1:] == [(("resp", i), ("log_gate", i)) for i in range(1, n_cycles)]
    if kept:
        assert probed[0][0] is ends[-1] and probed[1][1] == ("resp", n_cycles)
    else:
        assert probed is None


def test_stall_probe_goes_on_where_a_crawls_gains_dip_once():
    # two moons (noise 0.05): from the k-means start the probe's cycles gained
    # 0.85, 2.7, 3.9, 0.66, 12 and 282 tol; a geometric series from the dip
    # (sum 8.1 tol) gave up there, and the fit stopped after 3 iterations at
    # logistic regression's boundary (held-out accuracy 0.89, 407 nats lower)
    from sklearn.metrics import log_loss

    X, y, _, _, model, linear = _moons_against_logistic(2000, 0.05, 9)
    # (logistic regression's is -477.4, the stalled fit's -466.3, EM's -59.7)
    linear_ll = -log_loss(y, linear.predict_proba(X), normalize=False)
    assert model.log_likelihood_ > linear_ll + 300


@pytest.mark.parametrize("tiny", [1e-30, 1e-310])
def test_the_starts_k_means_places_rows_of_weight_1_beside_rows_of_negligible_weight(
    tiny,
):
    # three rows of weight 1e-30, the only ones of a class, stood 5e15
    # standard deviations out in its column: k-means' distances lost the
    # other rows' digits and put all of them in one cluster, on every seed,
    # with scikit-learn's ConvergenceWarning; rows of weight 1e-310 (a
    # product with a squared distance underflowed) lost clusters as well
    from sklearn.metrics import adjusted_rand_score

    from skmoe import _init

    for seed in range(3):
        rng = np.random.RandomState(seed)
        blobs = np.repeat([0, 1, 2], 30)
        X = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])[blobs]
        X = np.vstack([X + 0.5 * rng.randn(90, 2), rng.randn(3, 2)])
        Y = np.zeros((93, 3))
        Y[np.arange(90), blobs % 2] = 1.0
        Y[90:, 2] = 1.0
        weight = np.ones(93)
        weight[90:] = tiny
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            resp = _init.initial_responsibilities(
                X, Y, weight, 3, "kmeans", np.random.RandomState(seed)
            )
        # the blobs, 6 standard deviations apart, each an expert's
        labels = np.argmax(resp, axis=1)
        assert adjusted_rand_score(blobs, labels[:90]) == 1.0
        assert np.all((labels >= 0) & (labels < 3))


@pytest.mark.parametrize("seed", [0, 9])
def test_a_class_of_negligible_weight_fits_as_without_its_rows(seed):
    # four blobs in an XOR pattern, and three rows of weight 1e-30 of a
    # third class: the k-means start put the blobs in one cluster, and the
    # fit ended 10 nats below the fit without those rows (on 10 of 10 seeds)
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [4.0, 4.0], [0.0, 4.0], [4.0, 0.0]])
    blobs = np.repeat([0, 1, 2, 3], 40)
    X = centers[blobs] + 1.2 * rng.normal(size=(160, 2))
    y = (blobs >= 2).astype(int)
    y = np.where(rng.random(160) < 0.05, 1 - y, y)
    X = np.vstack([X, rng.normal(size=(3, 2)) + 2.0])
    y = np.concatenate([y, [2, 2, 2]])
    fits = []
    for tiny in (1e-30, 0.0):
        weight = np.ones(163)
        weight[160:] = tiny
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            model = MoEClassifier(4, init_params="kmeans", n_init=1, random_state=seed)
            fits.append(model.fit(X, y, sample_weight=weight).log_likelihood_)
    np.testing.assert_allclose(fits[0], fits[1], rtol=1e-6)


def test_the_far_out_check_reads_only_blocks_of_rows_light_enough_to_be_far(
    monkeypatch,
):
    # columns of values far from 0 beside their spread (1e3 + 1e-3 noise)
    # pass the bound (1 + |mean|) / std on how far out their rows reach, and
    # every row of each was read (16 ms a column at 1e6 x 9, 0.54 s for 32
    # of 33); by Chebyshev's inequality only rows of weight under 1e-8 of the
    # sum can be 1e4 standard deviations out, and only their blocks are read
    from skmoe import _init

    seen, found = [], []

    class Spy(np.ndarray):
        def __getitem__(self, key):
            seen.append(key)
            return np.asarray(super().__getitem__(key))

    check = _init._unplaceable

    def spying(Z, sample_weight, reach):
        far = np.any(np.abs(Z) > _init.FAR_OUT, axis=1)  # every row, read here
        found.append((np.flatnonzero(far), np.flatnonzero(reach > _init.FAR_OUT)))
        return check(Z.view(Spy), sample_weight, reach)

    monkeypatch.setattr(_init, "_unplaceable", spying)
    monkeypatch.setattr(_init, "STANDARDIZE_BLOCK", 300)  # blocks of 100 rows
    rng = np.random.RandomState(0)
    X = 1e3 + 1e-3 * rng.randn(1000, 2)
    y = rng.randn(1000)
    weight = np.ones(1000)
    _init._kmeans_labels(X, y, weight, 3, np.random.RandomState(0))
    far, columns = found.pop()
    assert far.size == 0 and list(columns) == [0, 1]  # both read before
    assert seen == []
    # three rows of weight 1e-30 1e8 out in y: only their blocks are read
    y[[150, 151, 700]] = 1e8
    weight[[150, 151, 700]] = 1e-30
    labels = _init._kmeans_labels(X, y, weight, 3, np.random.RandomState(0))
    far, columns = found.pop()
    assert list(far) == [150, 151, 700] and list(columns) == [0, 1, 2]
    assert {(key.start, key.stop) for key in seen} == {(100, 200), (700, 800)}
    assert np.all((labels >= 0) & (labels < 3))


@pytest.mark.parametrize("case", ["off_centre", "share_1e-9"])
def test_the_far_out_check_finds_every_row_beyond_far_out(monkeypatch, case):
    # _unplaceable reads only the columns whose bound (1 + |mean|) / std
    # passes FAR_OUT, and in them only rows of a weight share under 2e-8
    # (Chebyshev: share * distance^2 <= 1); the rows it finds are those of
    # any column beyond FAR_OUT standard deviations, counted here over every
    # row and column: a column of values near 1000 (sd 0.15) with a light row
    # at -1000, 1.3e4 sds out, whose bound without |mean| is 6.7e3; a row of
    # weight share 1e-9, 1.7e4 sds out in y
    from skmoe import _init

    found = []
    check = _init._unplaceable

    def spying(Z, sample_weight, reach):
        brute = np.flatnonzero(np.any(np.abs(Z) > _init.FAR_OUT, axis=1))
        left_out = check(Z, sample_weight, reach)
        found.append((brute, None if left_out is None else np.flatnonzero(left_out)))
        return left_out

    monkeypatch.setattr(_init, "_unplaceable", spying)
    rng = np.random.RandomState(0)
    X = rng.randn(1000, 2)
    y = rng.randn(1000)
    weight = np.ones(1000)
    if case == "off_centre":
        X[:, 0] = 1000 + 0.15 * rng.randn(1000)
        X[7, 0] = -1000.0
        weight[7] = 1e-12
    else:
        y[7] = 2e4
        weight[7] = 1e-6
    labels = _init._kmeans_labels(X, y, weight, 3, np.random.RandomState(0))
    brute, left_out = found.pop()
    assert list(brute) == [7]
    assert left_out is not None and list(left_out) == [7]
    assert np.all((labels >= 0) & (labels < 3))


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_mix_of_a_sample_of_density_zero_under_every_expert(namespace):
    # a sample whose joint log-probability is -inf under every expert: its
    # log-sum-exp is -inf (scipy's), not NaN (the max, -inf, is taken as 0
    # before the shift: -inf - -inf is NaN); the other samples' as scipy's
    from skmoe._groups import mix

    xp = np if namespace == "numpy" else pytest.importorskip(namespace)
    rng = np.random.RandomState(0)
    log_mix = np.log(rng.dirichlet(np.ones(3), 5).T)
    log_p = rng.normal(size=(3, 5))
    log_p[:, 2] = -np.inf
    log_norm, resp = mix(xp, xp.asarray(log_mix), xp.asarray(log_p), None)
    log_norm, resp = np.asarray(log_norm), np.asarray(resp)
    expected = logsumexp(log_mix + log_p, axis=0)
    assert expected[2] == -np.inf and log_norm[2] == -np.inf
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(log_norm[keep], expected[keep], rtol=1e-14)
    joint = (log_mix + log_p)[:, keep]
    np.testing.assert_allclose(
        resp[:, keep], np.exp(joint - expected[keep]), rtol=1e-13
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rounding_message_of_float32_says_only_the_size_of_rounding(monkeypatch, dtype):
    # the same scripted changes, -8 and 12 spacings of -3.25e14 in float64
    # (0.5 and 0.75), after climbs of 100 and 200: float64 calls them
    # rounding; float32, which resolves the objective only to about 4e7,
    # calls them "of the size of rounding" (a float32 plateau with such
    # changes still had 726 spacings to climb), and says that its parameters
    # can still move. Swapping the two wordings passed the tests
    from skmoe._em import run_em
    from skmoe.experts.gaussian import GaussianLinearExperts
    from skmoe.gates.constant import ConstantGate

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 1)).astype(dtype)
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.2 * rng.normal(size=200)
    problem = EMProblem(
        design_matrix(np, X),
        y.astype(dtype),
        np.ones(200, dtype=dtype),
        ConstantGate(),
        GaussianLinearExperts(1e-8),
        0.0,
    )
    _script_objective(monkeypatch, [100, 200, -8, 12, -8, 12, -8, 12])
    run = run_em(
        problem,
        resp=np.ones((1, 200), dtype=dtype),
        max_iter=9,
        tol=1e-5,
        assignment="hard",
    )
    assert not run.converged and run.n_iter == 9
    ulp = float(np.spacing(3.2496391234675244e14))  # the script's spacing
    assert f"changing by {-8 * ulp:.2g} to {12 * ulp:.2g}" in run.message
    name = np.dtype(dtype).name
    if dtype == np.float64:
        assert f"up and down: rounding ({name} resolves it" in run.message
    else:
        assert f"up and down: of the size of rounding ({name} resolves" in run.message
        assert "float32 parameters can still move there" in run.message
