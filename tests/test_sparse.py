"""Sparse top-k gating: selection, truncated E-step, sparse predictions."""

import copy
import warnings

import array_api_compat.numpy as xnp
import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MoEClassifier, MoERegressor, _sparse
from skmoe._math import design_matrix
from skmoe._sparse import (
    route,
    route_by_expert,
    top_k_indices,
    top_k_mask,
    truncate_log_gate,
)
from skmoe.gates import SoftmaxGate


def regimes(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    regime = (X[:, 0] > -1).astype(int) + (X[:, 0] > 1)
    y = np.choose(regime, [2 * X[:, 0], -X[:, 1], 0.5 * X[:, 0] + 3])
    return X, y + 0.1 * rng.randn(n), regime


def dense_copy(model):
    dense = copy.deepcopy(model)
    dense._fitted_top_k = None  # the same parameters, predicting densely
    return dense


def reference_sparse_gate(model, X):
    """Top-k of the dense gate, renormalized, with NumPy's argsort."""
    gate = dense_copy(model).predict_gate(X)
    top = np.argsort(-gate, axis=1, kind="stable")[:, : model.top_k]
    sparse = np.zeros_like(gate)
    rows = np.arange(gate.shape[0])[:, None]
    sparse[rows, top] = gate[rows, top]
    return sparse / sparse.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_top_k_selection_matches_argsort(k):
    scores = np.random.RandomState(k).randn(12, 50)
    index = top_k_indices(xnp, scores, k)
    expected = np.argsort(-scores, axis=0)[:k]
    np.testing.assert_array_equal(index, expected)
    mask = top_k_mask(xnp, scores, k)
    assert np.all(mask.sum(axis=0) == k)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("overwrite", [False, True])
def test_route_matches_argsort(k, overwrite):
    logits = np.random.RandomState(k).randn(50, 12)  # (n_samples, n_experts)
    scores = logits.copy()
    index, log_weight = route(xnp, scores, k, overwrite=overwrite)
    expected = np.argsort(-logits, axis=1)[:, :k].T
    np.testing.assert_array_equal(index, expected)
    selected = np.take_along_axis(logits, expected.T, axis=1).T
    np.testing.assert_allclose(
        log_weight, selected - np.log(np.exp(selected).sum(axis=0)), atol=1e-12
    )
    if not overwrite:
        np.testing.assert_array_equal(scores, logits)


def test_gate_route_in_blocks_equals_one_pass(monkeypatch):
    rng = np.random.RandomState(0)
    design = design_matrix(np, rng.randn(103, 3))
    params = {"coef": rng.randn(4, 9)}
    gate = SoftmaxGate()
    whole = route(xnp, design.T @ params["coef"], 3)
    monkeypatch.setattr(_sparse, "ROUTE_BLOCK", 10)
    blocks = gate.route(xnp, design, params, 3)
    np.testing.assert_array_equal(blocks[0], whole[0])
    np.testing.assert_allclose(blocks[1], whole[1], atol=1e-14)
    # the same experts as the truncated dense gate
    sparse = gate.truncate(xnp, gate.log_gate(xnp, design, params), 3)
    np.testing.assert_array_equal(
        np.sort(blocks[0], axis=0), np.sort(np.argsort(-sparse, axis=0)[:3], axis=0)
    )


def test_top_k_breaks_ties_towards_the_lower_index():
    # as documented; NumPy's sort is stable anyway below about 16 experts,
    # so the check takes 40 of them and k = 12
    scores = np.random.RandomState(0).randint(0, 3, size=(40, 6)).astype(float)
    expected = np.argsort(-scores, axis=0, kind="stable")[:12]
    np.testing.assert_array_equal(top_k_indices(xnp, scores, 12), expected)


def test_ties_keep_exactly_k():
    mask = top_k_mask(xnp, np.zeros((5, 7)), 2)
    np.testing.assert_array_equal(mask.sum(axis=0), 2)
    gate = np.exp(truncate_log_gate(xnp, np.log(np.full((5, 7), 0.2)), 2))
    np.testing.assert_allclose(gate.sum(axis=0), 1.0)
    assert np.all((gate > 0).sum(axis=0) == 2)


def test_predict_gate_is_renormalized_top_k():
    X, y, _ = regimes()
    model = MoERegressor(n_experts=5, top_k=2, n_init=1, random_state=0).fit(X, y)
    gate = model.predict_gate(X)
    assert np.all((gate > 0).sum(axis=1) <= 2)
    np.testing.assert_allclose(gate, reference_sparse_gate(model, X), atol=1e-12)


def test_truncated_e_step_responsibilities():
    """Responsibilities are g~ p / sum(g~ p): exactly 0 outside the top k."""
    X, y, _ = regimes()
    model = MoERegressor(n_experts=5, top_k=2, n_init=1, random_state=0).fit(X, y)
    gate = reference_sparse_gate(model, X)
    means = model.expert_intercept_ + X @ model.expert_coef_.T
    dens = norm.pdf(y[:, None], means, np.sqrt(model.expert_variance_))
    resp = gate * dens / (gate * dens).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.expert_usage_, resp.mean(axis=0), atol=1e-10)
    # the reported log-likelihood is that of the sparse mixture
    log_lik = np.log((gate * dens).sum(axis=1)).sum()
    np.testing.assert_allclose(model.log_likelihood_, log_lik, rtol=1e-10)
    n_params = 4 * 3 + 5 * 3 + 5  # softmax gate, expert coefficients, variances
    bic = -2 * log_lik + n_params * np.log(len(y))
    np.testing.assert_allclose(model.bic(X, y), bic, rtol=1e-10)
    assert np.all(resp[gate == 0] == 0)


def test_sparse_regressor_predictions_match_masked_mixture(monkeypatch):
    X, y, _ = regimes()
    model = MoERegressor(n_experts=6, top_k=2, n_init=1, random_state=0).fit(X, y)
    X_new = np.random.RandomState(1).uniform(-4, 4, size=(200, 2))
    gate = reference_sparse_gate(model, X_new)
    means = model.expert_intercept_ + X_new @ model.expert_coef_.T
    mean = (gate * means).sum(axis=1)
    var = (gate * (model.expert_variance_ + means**2)).sum(axis=1) - mean**2
    # the sparse path never evaluates all experts
    monkeypatch.setattr(MoERegressor, "_expert_means", None)
    got_mean, got_std = model.predict(X_new, return_std=True)
    np.testing.assert_allclose(got_mean, mean, atol=1e-10)
    np.testing.assert_allclose(got_std, np.sqrt(var), atol=1e-8)


def test_sparse_classifier_proba_matches_masked_mixture():
    X, y, regime = regimes()
    labels = np.where(y > 1, "high", "low")
    model = MoEClassifier(n_experts=5, top_k=2, n_init=1, random_state=0)
    model.fit(X, labels)
    gate = reference_sparse_gate(model, X)
    logits = model.expert_intercept_[None] + np.einsum(
        "ekd,nd->nek", model.expert_coef_, X
    )
    expected = (gate[:, :, None] * softmax(logits, axis=2)).sum(axis=1)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-12)
    assert model.score(X, labels) > 0.9


def test_top_k_at_least_n_experts_is_dense():
    X, y, _ = regimes()
    dense = MoERegressor(n_experts=3, n_init=1, random_state=0).fit(X, y)
    full = MoERegressor(n_experts=3, top_k=3, n_init=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(dense.predict(X), full.predict(X))
    # and silently, as a grid over n_experts with top_k fixed reaches it in
    # every fold (a decision: SelectKBest warns for k > n_features)
    search = GridSearchCV(
        MoERegressor(top_k=2, n_init=1, random_state=0), {"n_experts": [1, 2, 3]}, cv=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.fit(X, y)
        fewer = MoERegressor(n_experts=2, top_k=2, n_init=1, random_state=0)
        fewer.fit(X, y)
    two = MoERegressor(n_experts=2, n_init=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(fewer.predict(X), two.predict(X))


def test_predict_and_predict_gate_select_the_same_experts_on_gate_boundaries():
    # predict routes on the logits, predict_gate selected on the log gate,
    # where subtracting the log-sum-exp ties logits 1 ulp apart: on points
    # bisected to a boundary, predict_gate named one expert and predict used
    # the other (3 of 416 points)
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (400, 2))
    regime = np.digitize(X[:, 0], [-1, 1])
    y = np.array([-4, 0, 4.0])[regime] + np.array([-2, 0.2, 3])[regime] * X[:, 0]
    y = y + 0.3 * rng.randn(400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MoERegressor(n_experts=3, top_k=1, random_state=0, max_iter=50)
        model.fit(X, y)
    low, high = rng.uniform(-3, 3, (2, 3000, 2))
    first = model.predict_gate(low).argmax(axis=1)
    crossing = first != model.predict_gate(high).argmax(axis=1)
    low, high, first = low[crossing], high[crossing], first[crossing]
    for _ in range(60):  # bisect every segment to its boundary at once
        middle = (low + high) / 2
        same = model.predict_gate(middle).argmax(axis=1) == first
        low = np.where(same[:, None], middle, low)
        high = np.where(same[:, None], high, middle)
    points = np.concatenate([low, high])
    means = points @ model.expert_coef_.T + model.expert_intercept_
    chosen = model.predict_gate(points).argmax(axis=1)
    np.testing.assert_allclose(
        model.predict(points), means[np.arange(len(points)), chosen], atol=1e-9
    )


def test_top_k_with_constant_gate_raises():
    X, y, _ = regimes()
    with pytest.raises(ValueError, match="gate='constant'"):
        MoERegressor(n_experts=3, top_k=2, gate="constant").fit(X, y)
    # "auto" tries K = 1..4, and K = 3 cannot take top_k=2 with a constant gate
    with pytest.raises(ValueError, match="n_experts='auto', whose candidates"):
        MoERegressor(top_k=2, gate="constant").fit(X, y)
    MoERegressor(n_experts=2, top_k=2, gate="constant", n_init=1).fit(X, y)


@pytest.mark.parametrize("solver", ["gradient", "sgd"])
def test_top_1_with_a_gradient_solver_raises(solver):
    # the selected expert's renormalized weight is 1 whatever the gate: the
    # likelihood's gradient in the gate is 0, and the gate stayed at its start
    # (Adam: the penalty drove it to 0; XOR accuracy 0.63 against 0.985)
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (400, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = MoEClassifier(2, top_k=1, solver=solver, n_init=1, random_state=0)
    with pytest.raises(ValueError, match="top_k=1 with solver=.* never train"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="a candidate of n_experts='auto'"):
        MoERegressor(top_k=1, solver=solver).fit(X, X[:, 0])
    # the gate's gradient under top_k=1 is indeed 0: finite differences of the
    # log-likelihood in the gate's intercepts, at a fitted dense model
    dense = MoEClassifier(2, n_init=1, random_state=0).fit(X, y)
    sparse = copy.deepcopy(dense)
    sparse._fitted_top_k = 1
    base = sparse.log_likelihood_samples(X, y).sum()
    sparse.gate_intercept_ = sparse.gate_intercept_ + [1e-3, -1e-3]
    assert sparse.log_likelihood_samples(X, y).sum() == pytest.approx(base, abs=1e-9)
    # EM fits the gate with top_k=1, and 2 of 2 experts is dense for any solver
    em = MoEClassifier(2, top_k=1, n_init=2, random_state=0).fit(X, y)
    assert em.score(X, y) > 0.8  # (Adam had 0.63 at top_k=1)
    MoEClassifier(2, top_k=2, solver=solver, n_init=1, max_iter=5).fit(X, y)


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
def test_top_k_with_a_gate_on_no_features_raises(gate):
    # gate_features=[] is the constant gate's model: every sample kept the same
    # top_k experts (predict_gate [0, 0, 1] in every row, the others unused)
    X, y, _ = regimes()
    model = MoERegressor(n_experts=3, top_k=1, gate=gate, gate_features=[])
    with pytest.raises(ValueError, match=r"top_k=1 has no meaning with gate_features"):
        model.fit(X, y)
    assert not hasattr(model, "n_experts_")
    mask = np.zeros(X.shape[1], dtype=bool)
    with pytest.raises(ValueError, match="a gate that sees no features"):
        MoERegressor(top_k=2, gate=gate, gate_features=mask).fit(X, y)
    dense = MoERegressor(n_experts=3, top_k=3, gate=gate, gate_features=[], n_init=1)
    assert dense.fit(X, y).predict_gate(X).shape == (len(X), 3)
    # a cold refit with fewer experts is judged by its own number of experts
    dense.set_params(n_experts=2, top_k=2).fit(X, y)
    assert dense.n_experts_ == 2
    dense.set_params(warm_start=True, top_k=1)  # a warm fit keeps its 2 experts
    with pytest.raises(ValueError, match="top_k=1 has no meaning"):
        dense.fit(X, y)


@pytest.mark.parametrize("solver", ["em"])
def test_zero_weight_is_removal_with_top_k(solver):
    X, y, _ = regimes(200)
    weight = np.ones(200)
    weight[::3] = 0
    params = dict(n_experts=4, top_k=2, n_init=1, random_state=0, solver=solver)
    a = MoERegressor(**params).fit(X, y, sample_weight=weight)
    b = MoERegressor(**params).fit(X[weight > 0], y[weight > 0])
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-8, atol=1e-8)


def test_top_k_in_pipeline_and_grid_search():
    X, y, regime = regimes(240)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MoERegressor(n_experts=4, n_init=1)),
        {"moeregressor__top_k": [1, 2, None]},
        cv=2,
    ).fit(X, y)
    assert search.best_score_ > 0.9
    clf = make_pipeline(
        StandardScaler(), MoEClassifier(n_experts=4, top_k=2, n_init=1, random_state=0)
    ).fit(X, regime)
    assert clf.score(X, regime) > 0.9


def test_sparse_predictive_distribution(recwarn):
    X, y, _ = regimes()
    model = MoERegressor(n_experts=5, top_k=2, n_init=1, random_state=0).fit(X, y)
    dist = model.predict_distribution(X)
    assert dist.weights.shape == (len(y), 2)
    gate = reference_sparse_gate(model, X)
    means = model.expert_intercept_ + X @ model.expert_coef_.T
    dens = norm.pdf(y[:, None], means, np.sqrt(model.expert_variance_))
    np.testing.assert_allclose(
        dist.logpdf(y), np.log((gate * dens).sum(axis=1)), rtol=1e-10
    )
    np.testing.assert_allclose(dist.cdf(dist.ppf(0.9)), 0.9, atol=1e-6)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_top_k_em_keeps_its_best_iterate():
    # the truncated E-step does not make EM monotone: on data with heavy-tailed
    # contamination the last iterate was 0.32 to 0.45 nats per sample below the
    # best one the same run visited, and restarts were compared at those
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 3))
    y = np.where(X[:, 0] < 0, 1 + 2 * X[:, 0] - X[:, 2], -1 - X[:, 0] + X[:, 1])
    y = (
        y
        + 0.5 * rng.randn(500)
        + 0.5 * (rng.rand(500) < 0.1) * rng.standard_cauchy(500)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MoERegressor(
            4, top_k=2, n_init=2, max_iter=300, tol=1e-8, random_state=0
        ).fit(X, y)
    objective = np.asarray(model.objective_history_)
    assert objective[-1] < objective.max() - 0.1  # it did fall
    best = int(np.argmax(objective))
    assert model.log_likelihood_ == model.log_likelihood_history_[best]
    # the stored parameters are that iterate's: their log-likelihood, recomputed
    total = model.log_likelihood_samples(X, y).sum()
    assert total == pytest.approx(model.log_likelihood_history_[best], rel=1e-10)


def test_experts_top_k_leaves_without_data_are_said_unused():
    # top_k=1 left four of six experts with no samples (usage exactly 0), and
    # fit said they had collapsed onto a few values of y, inflating the score
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (400, 1))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.randn(400)
    with pytest.warns(UserWarning, match="handle less than one sample") as caught:
        model = MoERegressor(n_experts=6, top_k=1, random_state=0).fit(X, y)
    unused = np.flatnonzero(model.expert_usage_ * len(y) < 1)
    assert len(unused) > 0
    (message,) = [str(w.message) for w in caught if "Experts" in str(w.message)]
    assert message.startswith(f"Experts {unused.tolist()} ")
    assert "collapsed" not in message


@pytest.mark.parametrize(
    "n_experts, n_rows, n_outputs",
    [(4, 101, 3), (8, 33, 1), (16, 33, 3), (256, 3, 2), (4, 3, 10)],
)
def test_selected_linear_matches_each_experts_own_product(n_experts, n_rows, n_outputs):
    # the selected experts' outputs, whichever way they are computed (one
    # product at few experts, gathered coefficients at many), are each
    # expert's own coefficients times the sample, expert by expert
    rng = np.random.RandomState(0)
    n_samples, k = 40_000, 2  # more than one block of samples
    coef = rng.normal(size=(n_rows, n_experts * n_outputs))
    design = rng.normal(size=(n_rows, n_samples))
    index = np.stack([rng.randint(0, n_experts, n_samples) for _ in range(k)])
    out = _sparse.selected_linear(xnp, coef, design, index, n_outputs)
    expected = np.empty((k, n_outputs, n_samples))
    for expert in range(n_experts):
        own = coef[:, expert * n_outputs : (expert + 1) * n_outputs].T @ design
        for slot in range(k):
            rows = index[slot] == expert
            expected[slot][:, rows] = own[:, rows]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_selected_linear_at_few_experts_does_not_gather_coefficients():
    # top_k=2 of 4 experts with 100 features: gathering each sample's two
    # experts' coefficients made a (2, 16384, 3, 101) block (79 MB), and a
    # 3-class classifier predicted 3 to 5 times slower than its dense model;
    # one product of all 4 experts' outputs takes a (4, 3, 16384) block
    import tracemalloc

    rng = np.random.RandomState(0)
    n_samples, n_rows, n_outputs = 40_000, 101, 3
    coef = rng.normal(size=(n_rows, 4 * n_outputs))
    design = rng.normal(size=(n_rows, n_samples))
    index = np.stack([rng.randint(0, 4, n_samples), rng.randint(0, 4, n_samples)])
    tracemalloc.start()
    try:
        out = _sparse.selected_linear(xnp, coef, design, index, n_outputs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    gathered = 2 * _sparse.GATHER_BLOCK * n_outputs * n_rows * 8
    assert peak < gathered / 4
    assert peak < 4 * out.nbytes


@pytest.mark.parametrize(
    "n_experts, n_rows, k, product",
    [
        (8, 3, 2, True),  # K = k * 4: at the bound, 4 for d // 2 = 1
        (9, 3, 2, False),
        (10, 20, 1, True),  # K = k * d // 2 = 10
        (11, 20, 1, False),
        (10, 21, 1, True),  # 21 // 2 = 10
        (5, 10, 1, True),
        (6, 10, 1, False),
    ],
)
def test_selected_linear_takes_the_product_up_to_the_documented_bound(
    monkeypatch, n_experts, n_rows, k, product
):
    # NumPy multiplies all K experts' coefficients where K <= k * max(4, d // 2)
    # and gathers the k chosen experts' above; both give each expert's own
    # product, which the bound only decides the speed of
    gathered = []
    gather = _sparse.gather
    monkeypatch.setattr(_sparse, "gather", lambda *a: gathered.append(1) or gather(*a))
    rng = np.random.RandomState(0)
    n_samples, n_outputs = 50, 2
    coef = rng.normal(size=(n_rows, n_experts * n_outputs))
    design = rng.normal(size=(n_rows, n_samples))
    index = np.stack([rng.randint(0, n_experts, n_samples) for _ in range(k)])
    out = _sparse.selected_linear(xnp, coef, design, index, n_outputs)
    assert (gathered == []) is product
    own = (coef.T @ design).reshape(n_experts, n_outputs, n_samples)
    expected = own[index, :, np.arange(n_samples)].transpose(0, 2, 1)  # (k, m, n)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_experts", [2, 3, 4, 8, 16, 17])
def test_selection_is_the_stable_descending_order(n_experts):
    # route, top_k_indices and top_k_mask choose each sample's k largest, ties
    # towards the lower index, as a stable sort of the negated scores does:
    # many ties (integer scores), k = 1 to K - 1, float32, a block with -inf
    # and blocks of 7 samples
    rng = np.random.RandomState(n_experts)
    scores = rng.randint(0, 3, size=(n_experts, 500)).astype(float)
    scores[:, :40] = 1.0  # all tied
    scores[:, 40:80] = rng.normal(size=(n_experts, 40))  # no ties
    scores[-1, 80:90] = -np.inf
    rows = np.arange(n_experts)[:, None]
    for k in sorted({1, min(2, n_experts - 1), n_experts - 1}):
        for dtype in (np.float64, np.float32):
            s = scores.astype(dtype)
            expected = np.argsort(-s, axis=0, kind="stable")[:k]
            chosen = np.take_along_axis(s, expected, axis=0).astype(float)
            log_weight = chosen - np.log(np.exp(chosen - chosen[0]).sum(axis=0))
            log_weight -= chosen[0]
            np.testing.assert_array_equal(top_k_indices(xnp, s, k), expected)
            mask = top_k_mask(xnp, s, k)
            np.testing.assert_array_equal(mask, (rows == expected[:, None]).any(0))
            for logits in (s.T.copy(), s.copy().T):  # (n, K): C-contiguous, a view
                index, weight = route(xnp, logits, k, overwrite=True)
                np.testing.assert_array_equal(index, expected)
                assert index.dtype == np.intp and weight.dtype == dtype
                np.testing.assert_allclose(weight, log_weight, rtol=1e-6)

            def route_block(block, k=k):
                return route(xnp, block.T.copy(), k)

            blocks = _sparse.route_in_blocks(xnp, s[:, 3:], route_block, 7)
            np.testing.assert_array_equal(blocks[0], expected[:, 3:])


def test_gate_route_takes_views_of_the_design():
    # a block of 16384 samples of 33 design rows is 4.3 MB: routing in blocks
    # copied each one before its product (peak 9.2 MB); now the logits (16384,
    # 4) of a block and the (2, 40000) results and their blocks (2.6 MB)
    import tracemalloc

    rng = np.random.RandomState(0)
    design = design_matrix(np, rng.normal(size=(40_000, 32)))
    params = {"coef": rng.normal(size=(33, 4))}
    gate = SoftmaxGate()
    tracemalloc.start()
    try:
        index, log_weight = gate.route(xnp, design, params, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 33 * _sparse.ROUTE_BLOCK * 8
    logits = design.T @ params["coef"]
    np.testing.assert_array_equal(
        index, np.argsort(-logits, axis=1, kind="stable")[:, :2].T
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_route_takes_k_distinct_experts_where_logits_are_minus_inf(dtype, namespace):
    # samples with 0 to K logits of -inf (expert 0 finite in some, -inf in
    # others): route chose the lowest index again once only -inf logits were
    # left, and the repeat's -inf overwrote expert 0's weight in
    # scatter_log_weights (a gate of all zeros); the reference is a stable
    # sort of the negated logits and the softmax of the chosen ones
    n_experts = 5
    rng = np.random.RandomState(0)
    logits = rng.normal(size=(400, n_experts)).astype(dtype)
    logits[rng.uniform(size=logits.shape) < 0.6] = -np.inf
    logits[:5] = -np.inf
    logits[:5, 0] = 1.0  # expert 0 alone finite
    if namespace == "numpy":
        xp, to_xp, back = xnp, np.asarray, np.asarray
    else:
        xp = pytest.importorskip("array_api_strict")
        to_xp, back = xp.asarray, lambda a: np.asarray(a, copy=True)
    rows = np.arange(logits.shape[0])[:, None]
    for k in range(1, n_experts):
        expected = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        chosen = logits[rows, expected]
        with np.errstate(invalid="ignore"):
            weight = softmax(chosen.astype(float), axis=1)  # NaN: all -inf
        gate = np.zeros(logits.shape)
        gate[rows, expected] = weight
        with np.errstate(divide="ignore", invalid="ignore"):
            index, log_weight = route(xp, to_xp(logits.copy()), k, overwrite=True)
        np.testing.assert_array_equal(back(index), expected.T)
        scattered = _sparse.scatter_log_weights(xp, index, log_weight, n_experts)
        np.testing.assert_allclose(np.exp(back(scattered)).T, gate, rtol=1e-6)


@pytest.mark.parametrize("rowwise", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_route_by_expert_is_route_of_the_transpose(dtype, rowwise, monkeypatch):
    # the softmax gate's routing from its experts-major (K, n) logits: the
    # experts a stable sort of the negated logits takes (ties towards the
    # lower index, -inf kept distinct), the softmax of their logits, and the
    # same selection and weights as route's of the samples-major transpose,
    # also where a logit is +inf or NaN (argmax takes the first NaN), by
    # argmax rounds or (rowwise) by each round's maximum found row by row
    monkeypatch.setattr(_sparse, "ROWWISE_MIN", 1 if rowwise else 10**9)
    rng = np.random.RandomState(1)
    n_experts = 9
    logits = rng.randint(-3, 3, size=(n_experts, 600)).astype(dtype)  # ties
    logits[rng.uniform(size=logits.shape) < 0.4] = -np.inf
    logits[:, :4] = -np.inf
    cols = np.arange(logits.shape[1])
    for k in range(1, 5):
        expected = np.argsort(-logits, axis=0, kind="stable")[:k]
        chosen = logits[expected, cols]
        with np.errstate(invalid="ignore"):
            weight = softmax(chosen.astype(float), axis=0)  # NaN: all -inf
        with np.errstate(divide="ignore", invalid="ignore"):
            index, log_weight = route_by_expert(xnp, logits.copy(), k, True)
        np.testing.assert_array_equal(index, expected)
        np.testing.assert_allclose(np.exp(log_weight), weight, rtol=1e-6)
    special = logits.copy()
    special[rng.uniform(size=logits.shape) < 0.03] = np.inf
    with_nan = special.copy()  # (a NaN anywhere: the rowwise rounds go to argmax)
    with_nan[rng.uniform(size=logits.shape) < 0.01] = np.nan
    lone = rng.choice(logits.shape[1], 30, replace=False)
    for case in (special, with_nan):
        for k in range(1, 5):
            with np.errstate(divide="ignore", invalid="ignore"):
                want = route(xnp, np.ascontiguousarray(case.T), k)
                # C- and F-ordered, every other column of a wider array, and
                # lone columns as by_columns gives a sample alone (a view of
                # the first of two columns), all masked in place
                views = [case.copy(), np.asfortranarray(case)]
                views.append(np.repeat(case, 2, axis=1)[:, ::2])
                got = [route_by_expert(xnp, v, k, overwrite=True) for v in views]
                for j in lone:
                    pair = np.repeat(case[:, j : j + 1], 2, axis=1)[:, :1]
                    alone = route_by_expert(xnp, pair, k, overwrite=True)
                    np.testing.assert_array_equal(alone[0], want[0][:, j : j + 1])
                    np.testing.assert_array_equal(alone[1], want[1][:, j : j + 1])
            for index, log_weight in got:
                np.testing.assert_array_equal(index, want[0])
                np.testing.assert_array_equal(log_weight, want[1])


def test_predict_gate_far_from_the_data_with_one_finite_gate_logit():
    # a Gaussian gate far from the data, where all but the widest expert's
    # squared deviation overflows: the widest one's gate is 1. With that
    # expert first and top_k=2, predict_gate gave a row of zeros
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 1))
    y = np.where(X[:, 0] > 0, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=300)
    model = MoERegressor(
        n_experts=3,
        top_k=2,
        gate="gaussian",
        gate_covariance_type="diag",
        n_init=1,
        random_state=0,
    ).fit(X, y)
    # relabel the experts, widest gate first: the same model
    order = np.argsort(model.gate_precisions_cholesky_[:, 0], kind="stable")
    for name in (
        "gate_weights_",
        "gate_means_",
        "gate_covariances_",
        "gate_precisions_cholesky_",
        "expert_intercept_",
        "expert_coef_",
        "expert_variance_",
    ):
        setattr(model, name, getattr(model, name)[order])
    precision = model.gate_precisions_cholesky_[:, 0]
    x = 1.3e154 / precision[0]  # (the square overflows past 1.34e154)
    z = precision * (x - model.gate_means_[:, 0])
    with np.errstate(over="ignore"):
        assert np.isfinite(z * z).tolist() == [True, False, False]
    np.testing.assert_array_equal(model.predict_gate([[x]]), [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(reference_sparse_gate(model, [[x]]), [[1, 0, 0]])
    expected = model.expert_intercept_[0] + model.expert_coef_[0, 0] * x
    np.testing.assert_allclose(model.predict([[x]]), [expected], rtol=1e-12)
