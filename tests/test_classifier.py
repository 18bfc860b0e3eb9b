"""MoEClassifier: labels, probabilities, separable data."""

import warnings

import numpy as np
import pytest
from _references import assert_stationary
from scipy.special import log_softmax, logsumexp
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import scale

from skmoe import MoEClassifier
from skmoe.exceptions import DegenerateFitWarning


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["ant", "bee"]),
        np.array([3, 7]),
        np.array([True, False]),
        np.array([-1.0, 2.0]),
        np.array(["a", "b", "c"]),
    ],
)
def test_any_label_type(labels, xor_classes):
    X, y = xor_classes
    codes = (X[:, 0] > 0).astype(int) + (len(labels) == 3) * (X[:, 1] > 0.5)
    target = labels[codes]
    model = MoEClassifier(2, n_init=1, random_state=0).fit(X, target)
    np.testing.assert_array_equal(model.classes_, np.unique(target))
    assert set(np.unique(model.predict(X))) <= set(labels)
    assert model.score(X, target) > 0.9
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(labels))
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(
        model.predict_log_proba(X), mixture_log_proba(model, X), rtol=1e-10, atol=1e-12
    )


def mixture_log_proba(model, X):
    """The mixture's log-probabilities written out from the fitted softmax gate
    and experts with SciPy: the log-sum-exp over k of log g_k + log-softmax_k."""
    log_gate = log_softmax(X @ model.gate_coef_.T + model.gate_intercept_, axis=1)
    logits = np.einsum("kcd,nd->nkc", model.expert_coef_, X) + model.expert_intercept_
    return logsumexp(log_gate[:, :, None] + log_softmax(logits, axis=2), axis=1)


def test_mixture_beats_a_single_logistic_regression_on_xor(xor_classes):
    X, y = xor_classes
    single = LogisticRegression().fit(X, y).score(X, y)
    mixture = MoEClassifier(4, random_state=0).fit(X, y).score(X, y)
    assert single < 0.7 and mixture > 0.95


def test_probabilities_are_the_gated_mixture_of_expert_softmaxes(xor_classes):
    X, y = xor_classes
    model = MoEClassifier(3, n_init=1, random_state=0).fit(X, y)
    gate = model.predict_gate(X)
    logits = np.einsum("kcd,nd->nkc", model.expert_coef_, X) + model.expert_intercept_
    expert_proba = np.exp(logits - logits.max(-1, keepdims=True))
    expert_proba /= expert_proba.sum(-1, keepdims=True)
    np.testing.assert_allclose(
        model.predict_proba(X), np.einsum("nk,nkc->nc", gate, expert_proba), rtol=1e-10
    )


@pytest.mark.parametrize("newton_max_coef", [256, 0], ids=["newton", "newton-cg"])
def test_separable_classes_without_penalty_stay_finite(monkeypatch, newton_max_coef):
    from skmoe.experts import logistic

    # the logistic experts' explicit Newton step, and the truncated Newton-CG step
    monkeypatch.setattr(logistic, "NEWTON_MAX_COEF", newton_max_coef)
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(50, 2) - 3, rng.randn(50, 2) + 3])
    y = np.repeat([0, 1], 50)
    model = MoEClassifier(2, alpha=0.0, random_state=0, max_iter=200)
    model.fit(X, y)  # may warn that EM did not converge: the optimum is at infinity
    for name in ["gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"]:
        assert np.all(np.isfinite(getattr(model, name))), name
    assert model.score(X, y) == 1.0
    assert np.all(np.isfinite(model.predict_log_proba(X)))


def test_bic_counts_classifier_parameters(xor_classes):
    X, y = xor_classes
    model = MoEClassifier(3, n_init=1, random_state=0).fit(X, y)
    n, d = X.shape
    p = (3 - 1) * (d + 1) + 3 * (2 - 1) * (d + 1)
    log_likelihood = np.sum(
        np.log(model.predict_proba(X)[np.arange(n), (y == "same").astype(int)])
    )
    np.testing.assert_allclose(model.bic(X, y), -2 * log_likelihood + p * np.log(n))


def test_bic_rejects_unseen_labels(xor_classes):
    X, y = xor_classes
    model = MoEClassifier(2, n_init=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="unseen labels"):
        model.bic(X, np.where(y == "same", "other", y))


def test_partial_fit_first_batch_without_some_classes():
    # its M-step drove the missing classes' logits far down (intercepts are not
    # penalized): accuracy 0.33 for six epochs on iris after a one-row first batch
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    still = MoEClassifier(2, solver="sgd", learning_rate=1e-300, random_state=0)
    still.partial_fit(X[:1], y[:1], classes=[0, 1, 2])  # one row of class 0
    # the start: class frequencies with one pseudo-count each, no slopes
    frequency = np.log(np.array([2, 1, 1]) / 4)
    np.testing.assert_allclose(
        still.expert_intercept_, np.tile(frequency - frequency.mean(), (2, 1))
    )
    np.testing.assert_array_equal(still.expert_coef_, 0)
    model = MoEClassifier(solver="sgd", random_state=0)
    model.partial_fit(X[:1], y[:1], classes=[0, 1, 2])
    order = np.random.RandomState(0).permutation(len(y))
    scores = [model.partial_fit(X[order], y[order]).score(X, y) for _ in range(3)]
    assert min(scores) > 0.6


def test_partial_fit_keeps_the_experts_of_a_first_batch_that_determines_one():
    # the experts started from the class frequencies wherever the first batch
    # had fewer than 2 rows per coefficient of all the experts (60 rows on
    # iris with 3 experts): 30 rows, then 5 epochs of 30, reached 0.893 where
    # the batch's own fit reaches 0.973 (review); now under 2 rows per
    # coefficient of one expert (20)
    X, y = load_iris(return_X_y=True)
    X = scale(X)
    rng = np.random.RandomState(0)
    order = rng.permutation(150)
    still = MoEClassifier(3, solver="sgd", learning_rate=1e-300, random_state=0)
    still.partial_fit(X[order[:30]], y[order[:30]], classes=[0, 1, 2])
    # the batch's M-step, not a reset (Adam's step of 1e-300 moves nothing)
    assert np.abs(still.expert_coef_).max() > 0.1
    tiny = MoEClassifier(3, solver="sgd", learning_rate=1e-300, random_state=0)
    tiny.partial_fit(X[order[:19]], y[order[:19]], classes=[0, 1, 2])
    np.testing.assert_allclose(tiny.expert_coef_, 0, atol=1e-250)
    # the boundary: 20 rows, 2 per coefficient of one expert ((C - 1)(D + 1))
    enough = MoEClassifier(3, solver="sgd", learning_rate=1e-300, random_state=0)
    enough.partial_fit(X[order[:20]], y[order[:20]], classes=[0, 1, 2])
    assert np.abs(enough.expert_coef_).max() > 0.1
    model = MoEClassifier(3, solver="sgd", random_state=0)
    model.partial_fit(X[order[:30]], y[order[:30]], classes=[0, 1, 2])
    for _ in range(5):
        order = rng.permutation(150)
        for start in range(0, 150, 30):
            rows = order[start : start + 30]
            model.partial_fit(X[rows], y[rows])
    assert model.score(X, y) > 0.95


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_sgd_stores_coefficients_centred_over_the_classes(how):
    # Adam's steps let the classes' common shift drift (class sums of the
    # intercepts up to 3.7 on iris), where the docs (std_errors' Notes) say the
    # stored coefficients sum to zero over the classes
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    w = np.random.RandomState(0).uniform(0.5, 2, size=len(y))
    model = MoEClassifier(2, solver="sgd", alpha=0.01, random_state=0)
    if how == "fit":
        model.fit(X, y, sample_weight=w)
    else:
        for _ in range(3):
            model.partial_fit(X, y, classes=[0, 1, 2], sample_weight=w)
    np.testing.assert_allclose(model.expert_intercept_.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(model.expert_coef_.sum(axis=1), 0, atol=1e-12)
    # the mixture's probabilities, recomputed from the stored coefficients
    logits = model.expert_intercept_[None] + np.einsum(
        "nj,kcj->nkc", X, model.expert_coef_
    )
    expert = np.exp(logits - logits.max(axis=2, keepdims=True))
    expert /= expert.sum(axis=2, keepdims=True)
    expected = np.einsum("nk,nkc->nc", model.predict_gate(X), expert)
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-10)


def test_experts_left_without_data_are_warned_of():
    # iris at K=4: two experts handled 7e-5 and 9e-5 samples, without a word
    # (QA); the regressors' rule of 2 samples per parameter is not the
    # classifier's (it fires where logistic experts predict well)
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with pytest.warns(UserWarning, match="handle less than one sample") as caught:
        model = MoEClassifier(4, random_state=0).fit(X, y)
    unused = np.flatnonzero(model.expert_usage_ * len(y) < 1)
    assert len(unused) > 0
    assert f"Experts {unused.tolist()} " in str(caught[0].message)
    pruned = model.prune_experts(1 / len(y))
    assert pruned.n_experts_ == 4 - len(unused)
    np.testing.assert_allclose(
        pruned.predict_proba(X), model.predict_proba(X), atol=1e-5
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MoEClassifier(2, random_state=0).fit(X, y)  # both experts used
    # two samples, one per expert: shares of 0.5 - 6e-17 were said to leave
    # both experts unused ("the model uses 0 of its 2 experts")
    pair = np.array(
        [
            [-0.10321885179355784, 0.41059850193837233],
            [0.144043571160878, 1.454273506962975],
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MoEClassifier(2, random_state=0).fit(pair, [0, 1])
    np.testing.assert_allclose(model.expert_usage_, 0.5)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_decision_function_is_logistic_regressions_for_one_expert(n_classes):
    # one expert is a logistic regression (C from the class's Notes): its
    # decision_function is scikit-learn's, log-odds for two classes and
    # logits for more (here centred, as skmoe's are), argmax = predict
    X, y = load_iris(return_X_y=True)
    keep = y < n_classes
    X, y = scale(X[keep]), y[keep]
    alpha = 1e-2
    C = (2 if n_classes == 2 else 1) / (alpha * len(y))
    moe = MoEClassifier(n_experts=1, alpha=alpha, tol=1e-10, max_iter=1000).fit(X, y)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X, y)
    expected = reference.decision_function(X)
    if n_classes > 2:
        expected = expected - expected.mean(axis=1, keepdims=True)
    got = moe.decision_function(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    if n_classes == 2:
        np.testing.assert_array_equal(
            moe.classes_[(got > 0).astype(int)], moe.predict(X)
        )
    else:
        np.testing.assert_array_equal(moe.classes_[got.argmax(axis=1)], moe.predict(X))


def test_separated_classes_at_alpha_zero_warn():
    """With alpha=0 on separable classes the likelihood has no maximum: the
    coefficients grew to 316 without a word. Labels with noise do not warn."""
    rng = np.random.RandomState(5)
    X = rng.randn(200, 3)
    y = (X[:, 0] > 0).astype(int)
    with pytest.warns(UserWarning, match="classes are separated"):
        MoEClassifier(1, alpha=0.0, random_state=0).fit(X, y)
    noisy = np.where(rng.rand(200) < 0.1, 1 - y, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MoEClassifier(1, alpha=0.0, random_state=0).fit(X, noisy)
        MoEClassifier(1, random_state=0).fit(X, y)  # alpha > 0 keeps them finite


def test_separated_classes_at_alpha_zero_on_tiny_features_converge():
    # features of scale 2e-151 (their squares do not underflow): the
    # slopes grow to 1e154, whose squares' sum overflows, and the penalty
    # 0 * inf made the objective NaN; EM stopped there, unconverged. The
    # Newton line search's penalty was 0 * inf = NaN too: 378 overflow and 378
    # invalid-value RuntimeWarnings escaped, and the NaN start refused every
    # step of 18 line searches
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    X[:, 0] += np.where(X[:, 0] > 0, 1e-4, -1e-4)
    X[:2, 0] = [1e-4, -1e-4]
    X *= 2e-151
    y = (X[:, 0] > 0).astype(int)
    model = MoEClassifier(
        2,
        alpha=0.0,
        n_init=1,
        init_params="random",
        acceleration="squarem",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateFitWarning)
        model.fit(X, y)
    assert model.converged_ and np.isfinite(model.objective_history_).all()
    with np.errstate(over="ignore"):  # (past the largest float)
        assert np.isinf(np.sum(model.expert_coef_**2))
    # without a penalty the objective is the mean log-probability of the labels
    proba = model.predict_proba(X)[np.arange(len(y)), y]
    np.testing.assert_allclose(
        model.objective_history_[-1], np.mean(np.log(proba)), rtol=1e-8
    )


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_separated_classes_warning_names_no_other_solver(solver):
    # the warning said the coefficients "grow until EM stops" for fits by
    # L-BFGS and Adam too
    rng = np.random.RandomState(5)
    X = rng.randn(200, 3)
    y = (X[:, 0] > 0).astype(int)
    with pytest.warns(UserWarning, match="classes are separated") as caught:
        MoEClassifier(1, alpha=0.0, solver=solver, random_state=0).fit(X, y)
    (message,) = [str(w.message) for w in caught if "separated" in str(w.message)]
    assert "until the fit stops" in message
    assert "EM" not in message


def _two_regimes_of_three_classes(n=600):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 2)
    region = rng.rand(n) < 1 / (1 + np.exp(-1.5 * X[:, 0]))
    zero = np.zeros(n)
    first = np.stack([zero, 2 * X[:, 1], 0.5 - 1.5 * X[:, 1]], axis=1)
    second = np.stack([zero, X[:, 0] - 2 * X[:, 1], X[:, 0]], axis=1)
    logits = np.where(region[:, None], second, first)
    proba = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    return X, np.array([rng.choice(3, p=p) for p in proba])


@pytest.mark.parametrize("gate", ["constant", "softmax"])
def test_classes_separated_within_an_expert_at_alpha_zero_warn(gate):
    # the classes overlap over all rows, but three experts at alpha=0 can each
    # separate theirs: coefficients of 691 (constant gate) and 4217 (softmax)
    # without a word
    X, y = _two_regimes_of_three_classes()
    with pytest.warns(UserWarning, match="separated within an expert") as caught:
        model = MoEClassifier(3, gate=gate, alpha=0.0, random_state=0).fit(X, y)
    message = next(
        str(w.message) for w in caught if "within an expert" in str(w.message)
    )
    named = [int(k) for k in message.split("experts [")[1].split("]")[0].split(",")]
    # each named expert gives a class, on the rows it is responsible for,
    # probabilities numerically 0 there and makes no confident mistake about
    # it (from its coefficients here)
    resp = model.responsibilities(X, y)
    member = y[:, None] == model.classes_[None, :]
    for k in named:
        rows = resp[:, k] > 0.5
        log_p = log_softmax(
            X[rows] @ model.expert_coef_[k].T + model.expert_intercept_[k], axis=1
        )
        mistake = np.where(member[rows], log_p < np.log(0.05), log_p > np.log(0.95))
        extreme = log_p < np.log(10 * np.finfo(float).eps)
        assert np.any(~np.any(mistake, axis=0) & np.any(extreme, axis=0))
    assert np.abs(model.expert_coef_).max() > 100
    with warnings.catch_warnings():  # the default alpha: no separation
        warnings.simplefilter("error")
        MoEClassifier(3, gate=gate, random_state=0).fit(X, y)


def test_quasi_separated_classes_at_alpha_zero_warn():
    # x < 0 one class, x > 0 the other, 20 rows at x = 0 of both: R's glm warns
    # "fitted probabilities numerically 0 or 1 occurred" (slope 153.6), and the
    # coefficients grow with tol (41, then 71 at tol=1e-8); the tied rows, at a
    # probability of 1/2, had hidden the separation
    rng = np.random.RandomState(0)
    x = np.concatenate([-rng.rand(100) - 0.1, rng.rand(100) + 0.1, np.zeros(20)])
    y = np.repeat([0, 1, 0, 1], [100, 100, 10, 10])
    with pytest.warns(UserWarning, match="separated within an expert"):
        model = MoEClassifier(1, alpha=0.0).fit(x[:, None], y)
    assert np.abs(model.expert_coef_).max() > 30


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_probabilities_at_a_finite_optimum_do_not_warn(dtype):
    # 92 of 2000 rows on the wrong side of a steep boundary: the maximum
    # likelihood is finite (slope 11.06, LogisticRegression's), though it gives
    # rows far out probabilities within 1e-15 of 1 (1e-7 in float32); it was
    # called a separation
    rng = np.random.RandomState(0)
    x = rng.randn(2000)
    y = (rng.rand(2000) < 1 / (1 + np.exp(-10 * x))).astype(int)
    X = x[:, None].astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MoEClassifier(1, alpha=0.0, tol=1e-10).fit(X, y)
    expected = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x[:, None], y)
    slope = model.expert_coef_[0, 1, 0] - model.expert_coef_[0, 0, 0]
    rtol = 1e-6 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(slope, expected.coef_[0, 0], rtol=rtol)


@pytest.mark.parametrize("params", [{}, {"top_k": 1}])
def test_log_proba_is_the_log_of_proba_in_float32(params):
    # predict_proba is taken in probability space, predict_log_proba in log
    # space: where a probability is a normal number the second is the log of
    # the first, to the bit (they differed by up to 7.6e-6 in float32)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    model = MoEClassifier(3, random_state=0, **params).fit(X, y)
    proba, log_proba = model.predict_proba(X), model.predict_log_proba(X)
    normal = proba >= np.finfo(np.float32).smallest_normal
    np.testing.assert_array_equal(np.log(proba[normal]), log_proba[normal])


@pytest.mark.parametrize("params", [{}, {"top_k": 1}])
def test_predict_in_row_chunks_is_the_argmax_of_predict_proba(monkeypatch, params):
    # predict takes each chunk's argmax (no (n, n_classes) array over all rows):
    # the same labels as predict_proba's argmax, ties to the first class
    import skmoe._base

    X, y = load_iris(return_X_y=True)
    model = MoEClassifier(2, random_state=0, **params).fit(scale(X), y)
    expected = model.classes_[np.argmax(model.predict_proba(scale(X)), axis=1)]
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 200)  # a few rows
    assert model._chunk_rows(scale(X)) < 20
    np.testing.assert_array_equal(model.predict(scale(X)), expected)


@pytest.mark.parametrize("experts", ["logistic", "tree"])
def test_top_k_predictions_keep_to_the_chunk_budget(monkeypatch, experts):
    # with top_k, the chunks counted one output per expert, not one per class:
    # each row's top_k x n_classes scores (all experts' for estimator experts,
    # and for the E-step) went in chunks 15 to 40 times too large (at 100
    # classes and 8 experts, predict peaked at 255 MiB where the dense
    # model's took 7; 941 MiB with trees)
    import tracemalloc

    from sklearn.tree import DecisionTreeClassifier

    import skmoe._base

    rng = np.random.RandomState(0)
    n_classes, budget = 50, 2**20
    X_fit = rng.normal(size=(1000, 3))
    y_fit = rng.randint(0, n_classes, 1000)
    options = {}
    if experts == "tree":
        options["expert_estimator"] = DecisionTreeClassifier(max_depth=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoEClassifier(
            6, top_k=2, max_iter=2, n_init=1, random_state=0, **options
        ).fit(X_fit, y_fit)
    X = rng.normal(size=(20_000, 3))
    y = rng.randint(0, n_classes, 20_000)
    expected = model.predict_proba(X)
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", budget)
    # float64 rows of the 3 features, a 1, and 4 temporaries per output: all
    # 6 experts' 50 scores (the E-step's; estimator experts all predict), or
    # the gate's 6 logits and the 2 routed experts' 50 scores
    every = budget // (8 * (3 + 1 + 4 * 6 * n_classes))
    routed = (
        every if experts == "tree" else budget // (8 * (4 + 4 * (6 + 2 * n_classes)))
    )
    assert model._chunk_rows(X, every_expert=True) == every
    assert model._chunk_rows(X) == routed
    # what each holds whatever the chunks: its output and y's class indices
    # (y one-hot over all rows, 7.6 MiB, held by the E-step before)
    expected_log_likelihood = model.log_likelihood_samples(X, y)
    expected_responsibilities = model.responsibilities(X, y)
    n = X.shape[0]
    calls = {
        "predict": (lambda: model.predict(X), n * 8),
        "log_likelihood_samples": (
            lambda: model.log_likelihood_samples(X, y),
            2 * n * 8,
        ),
        "responsibilities": (lambda: model.responsibilities(X, y), n * (6 + 1) * 8),
    }
    for name, (call, held) in calls.items():
        tracemalloc.start()
        try:
            call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < held + 4 * budget, (name, peak / 2**20)
    np.testing.assert_allclose(
        model.log_likelihood_samples(X, y), expected_log_likelihood, rtol=1e-12
    )
    np.testing.assert_allclose(
        model.responsibilities(X, y), expected_responsibilities, atol=1e-12
    )
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-12)


def test_predict_log_proba_where_the_probability_underflows():
    # documented: computed in log space, finite where a probability underflows
    # to 0; against the mixture's log-probabilities written out from the
    # fitted gate and experts (log-sum-exp of log g_k + log-softmax_k)
    X, y = load_iris(return_X_y=True)
    X = scale(X)
    far = X[[0, 60, 120]] * 200.0
    model = MoEClassifier(2, random_state=0).fit(X, y)
    assert np.any(model.predict_proba(far) == 0)  # the log-space branch
    np.testing.assert_allclose(
        model.predict_log_proba(far),
        mixture_log_proba(model, far),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("kind", ["str", "category", "object"])
def test_partial_fit_classes_of_pandas_labels_are_fit_s(kind):
    # classes_ is np.unique of the labels that define it, in their dtype:
    # pandas labels give object classes, from fit's y as from partial_fit's
    # classes (scikit-learn's LogisticRegression gives object too)
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 2))
    words = np.where(X[:, 0] > 0, "b", "a")
    labels = pd.Series(words, dtype=kind)
    fitted = MoEClassifier(n_experts=2, random_state=0).fit(X, labels)
    streamed = MoEClassifier(n_experts=2, solver="sgd", random_state=0)
    streamed.partial_fit(X, labels, classes=labels)
    expected = np.array(["a", "b"], dtype=object)
    for model in (fitted, streamed):
        assert model.classes_.dtype == expected.dtype
        np.testing.assert_array_equal(model.classes_, expected)
        assert model.predict(X).dtype == expected.dtype
    # categories, and labels of NumPy's str dtype in a later call, are the
    # same classes
    categorical = pd.Categorical(words)
    again = MoEClassifier(n_experts=2, solver="sgd", random_state=0)
    again.partial_fit(X, words, classes=categorical).partial_fit(X, words)
    np.testing.assert_array_equal(again.classes_, expected)
    assert again.classes_.dtype == expected.dtype
    assert again.n_iter_ == 2


def _two_regime_classes(n=400, seed=0):
    """Three classes whose dependence on x1 flips with the sign of x0."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    left = X[:, 0] < 0
    logits = np.where(
        left[:, None],
        X[:, 1:2] * np.array([2.0, 0.0, -2.0]),
        X[:, 1:2] * np.array([-2.0, 1.0, 2.0]) + np.array([0.0, 0.5, 0.0]),
    )
    proba = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    y = np.array([rng.choice(3, p=row) for row in proba])
    return X, y


@pytest.mark.parametrize("solver", ["em", "gradient"])
def test_classifier_objective_is_the_documented_penalized_likelihood(solver):
    # alpha's meaning for a classifier: the mean log-likelihood less alpha / 2
    # times the squared norm of the gate's and the experts' slopes (centred
    # over the experts and the classes, as stored; intercepts free). Written
    # out with SciPy from the fitted attributes; the fit must be its maximum.
    X, y = _two_regime_classes()
    n, alpha = len(y), 0.3
    model = MoEClassifier(
        2,
        alpha=alpha,
        n_init=1,
        random_state=0,
        tol=1e-12,
        max_iter=2000,
        solver=solver,
    ).fit(X, y)
    Y = (y[:, None] == model.classes_[None, :]).astype(float)
    names = ["gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"]
    fitted = [getattr(model, name) for name in names]

    def log_likelihood(gate_coef, gate_intercept, coef, intercept):
        log_gate = log_softmax(X @ gate_coef.T + gate_intercept, axis=1)
        logits = np.einsum("nd,kcd->nkc", X, coef) + intercept[None]
        log_expert = np.einsum("nkc,nc->nk", log_softmax(logits, axis=2), Y)
        return np.sum(logsumexp(log_gate + log_expert, axis=1))

    def objective(gate_coef, gate_intercept, coef, intercept):
        penalty = np.sum(gate_coef**2) + np.sum(coef**2)
        mean = log_likelihood(gate_coef, gate_intercept, coef, intercept) / n
        return mean - alpha / 2 * penalty

    assert model.converged_
    np.testing.assert_allclose(
        model.log_likelihood_, log_likelihood(*fitted), rtol=1e-10
    )
    expected = objective(*fitted)
    np.testing.assert_allclose(model.objective_history_[-1], expected, rtol=1e-10)
    # the experts' penalty is large enough here to matter
    expert_penalty = alpha / 2 * np.sum(model.expert_coef_**2)
    assert expert_penalty > 1e-3
    # and the fit is the documented objective's maximum: central differences
    assert_stationary(objective, fitted, names)


def _mpmath_log_proba(model, X):
    """The mixture's log-probabilities written out from the fitted gate and
    experts in mpmath at 30 digits, whose exponent range holds logits of
    1e308 and their differences."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30

    def linear(intercept, coef, x):
        return mpmath.mpf(float(intercept)) + mpmath.fsum(
            mpmath.mpf(float(c)) * float(v) for c, v in zip(coef, x, strict=True)
        )

    def logsumexp_mp(values):
        top = max(values)
        return top + mpmath.log(mpmath.fsum(mpmath.exp(v - top) for v in values))

    def log_softmax_mp(values):
        norm = logsumexp_mp(values)
        return [v - norm for v in values]

    rows = []
    for x in X:
        log_gate = log_softmax_mp(
            [
                linear(b, w, x)
                for b, w in zip(model.gate_intercept_, model.gate_coef_, strict=True)
            ]
        )
        joint = [
            [
                g + lp
                for lp in log_softmax_mp(
                    [linear(b, w, x) for b, w in zip(bs, ws, strict=True)]
                )
            ]
            for g, bs, ws in zip(
                log_gate, model.expert_intercept_, model.expert_coef_, strict=True
            )
        ]
        rows.append([logsumexp_mp(column) for column in zip(*joint, strict=True)])
    return rows


@pytest.mark.parametrize("n_experts", [1, 2])
def test_predict_log_proba_where_a_log_probability_is_below_the_floats(n_experts):
    # at |x| near 1e307 the logits of classes differ by more than the largest
    # float: predict_proba gave 0 and 1, predict_log_proba and
    # decision_function raised an overflow. Expected: mpmath's log
    # probabilities, those below -1.8e308 at the most negative float
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    model = MoEClassifier(n_experts, random_state=0).fit(X, y)
    # along (1, 1), as far as the largest logit of the gate and experts is 1.5e308
    slopes = np.concatenate(
        [model.gate_coef_.sum(1), model.expert_coef_.sum(2).ravel()]
    )
    reach = 1.5e308 / np.max(np.abs(slopes))
    far = np.array(
        [[reach, reach], [-reach, -reach], [reach / 10, reach / 10], [0.5, 1]]
    )
    exact = _mpmath_log_proba(model, far)
    lowest = np.finfo(np.float64).min
    below = np.array([[value < lowest for value in row] for row in exact])
    assert np.any(below)
    expected = np.array([[max(float(v), lowest) for v in row] for row in exact])
    proba = model.predict_proba(far)
    np.testing.assert_allclose(proba, np.exp(expected), rtol=1e-9, atol=1e-300)
    log_proba = model.predict_log_proba(far)
    assert np.all(log_proba[below] == lowest)
    np.testing.assert_allclose(log_proba, expected, rtol=1e-9, atol=1e-12)
    scores = model.decision_function(far)
    fractions = expected / 3  # (their mean, without its sum's overflow)
    np.testing.assert_allclose(
        scores, expected - fractions.sum(axis=1, keepdims=True), rtol=1e-9
    )
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shift", [20, 50, 300])
def test_warm_start_from_experts_certain_and_wrong_everywhere_reaches_fresh_fit(
    dtype, shift
):
    # both binary experts' intercepts favour class 0 by 2 * shift logits, so
    # every sample of class 1 is wrong by 40 to 600: the Newton step's Hessian
    # weights were e^-40 or less (float32: its eps**3 floor), the step 1e16 to
    # 1e20 logits long, and 20 halvings refused it at every EM iteration; EM
    # stopped there, converged, at the shifted objective (-17.35, -46.75,
    # -291.75 per sample, score 0.51). From there EM must reach the fresh
    # fit's optimum, and say it converged only there
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = (X[:, 0] * X[:, 1] + 0.2 * rng.normal(size=300) > 0).astype(int)
    X = X.astype(dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-7
    fresh = MoEClassifier(2, random_state=0, tol=tol).fit(X, y)
    assert fresh.converged_
    model = MoEClassifier(2, warm_start=True, random_state=0, tol=tol).fit(X, y)
    model.expert_intercept_ = model.expert_intercept_ + np.array(
        [shift, -shift], dtype=dtype
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the fit is sound
        model.fit(X, y)
    assert model.objective_history_[0] < fresh.objective_history_[-1] - 9
    assert model.converged_
    assert model.objective_history_[-1] == pytest.approx(
        fresh.objective_history_[-1], abs=1e-6
    )
    # (a flat optimum: an objective 1e-6 apart leaves probabilities 1e-3 apart)
    np.testing.assert_allclose(
        model.predict_proba(X), fresh.predict_proba(X), atol=2e-3
    )
