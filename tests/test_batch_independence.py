"""A row's predictions do not depend on the rows predicted with it: the sums
over experts (and classes) that skmoe takes itself add each row's terms in
one order, whatever the number of rows, their chunks and the blocks of
:func:`skmoe._math.log_softmax_and_norm`. NumPy adds a C-ordered (K, n)
array's rows in turn for n >= 2, but a lone column (n = 1, or the last block
of n = block + 1 columns) pairwise. The matrix products are BLAS's: a
single row's product would be a matrix-vector one, another kernel, so skmoe
takes it on two copies of the row (:func:`skmoe._math.by_columns`); the
tests of the sums place each row among others, or make every product exact."""

import warnings

import numpy as np
import pytest
from _references import ESTIMATORS
from numpy.testing import assert_array_equal

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._classifier import _mixture_proba
from skmoe._groups import Groups, mix
from skmoe._math import (
    LOGSUMEXP_BLOCK,
    design_matrix,
    log_softmax_and_norm,
    logsumexp,
    sums_in_turn,
)
from skmoe._sparse import selected_linear
from skmoe.gates import SoftmaxGate


def _in_turn(terms, axis):
    """The sum over ``axis`` of ``terms`` added one term after another."""
    terms = np.moveaxis(terms, axis, 0)
    total = terms[0].copy()
    for term in terms[1:]:
        total = total + term
    return total


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_experts", [2, 3, 7, 8, 9, 16, 31, 32, 33])
def test_sums_in_turn_add_each_column_in_turn(n_experts, dtype):
    rng = np.random.default_rng(n_experts)
    # terms of magnitudes 1e-8 to 1e8, whose sums round differently in
    # another order
    for shape, axis in [
        ((n_experts, 1), 0),
        ((n_experts, 3, 1), 0),
        ((3, n_experts, 1), 1),
    ]:
        for n in (1, 2, 3):
            size = shape[:-1] + (n,)
            terms = rng.standard_normal(size) * 10.0 ** rng.integers(-8, 9, size)
            terms = terms.astype(dtype)
            assert_array_equal(sums_in_turn(np, terms, axis), _in_turn(terms, axis))
            # a strided view (a block of a wider array) too
            wide = np.repeat(terms, 2, axis=-1)[..., ::2]
            assert_array_equal(sums_in_turn(np, wide, axis), _in_turn(terms, axis))


def _rounding_column(n_experts, dtype):
    """Logits (K,) whose exps, 1 and K - 1 terms of 0.6 of half a unit in
    the last place of 1, add to exactly 1 in turn (each term rounds away)
    but above 1 pairwise (pairs of them do not): their log-sum-exp in turn
    is exactly 0, and their log-softmax the logits themselves."""
    half_ulp = float(np.finfo(dtype).eps) / 2
    column = np.full(n_experts, np.log(0.6 * half_ulp), dtype=dtype)
    column[0] = 0
    return column


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_experts", [8, 9, 16, 32, 33])
def test_log_softmax_of_a_lone_column_is_its_value_in_a_batch(n_experts, dtype):
    block = max(1024, LOGSUMEXP_BLOCK // n_experts)
    rng = np.random.default_rng(0)
    column = _rounding_column(n_experts, dtype)
    # alone (a single row), and last in a batch of block + 1 columns (the
    # last block holds it alone), and in a batch of block + 2
    other = rng.uniform(-3, 3, (n_experts, block + 1)).astype(dtype)
    for n in (1, block + 1, block + 2):
        logits = np.concatenate([other[:, : n - 1], column[:, None]], axis=1)
        log_gate, norm = log_softmax_and_norm(np, logits, axis=0)
        assert norm.dtype == dtype
        assert norm[-1] == 0, n  # 1 in turn: the closed form
        assert_array_equal(log_gate[:, -1], column, err_msg=str(n))
        assert logsumexp(np, logits, axis=0)[-1] == 0, n
        assert logsumexp(np, logits.copy(), axis=0, overwrite=True)[-1] == 0, n
    # the other columns are those of the columns alone (as two)
    log_gate, norm = log_softmax_and_norm(np, other, axis=0)
    for i in (0, block - 1, block):
        alone, alone_norm = log_softmax_and_norm(np, other[:, i : i + 1], axis=0)
        assert_array_equal(log_gate[:, i : i + 1], alone)
        assert_array_equal(norm[i : i + 1], alone_norm)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_experts", [8, 16, 33])
def test_responsibilities_of_a_lone_column_are_its_values_in_a_batch(n_experts, dtype):
    # the E-step's mixing (_groups.mix): a sample alone (log_likelihood_samples
    # of one row), last alone in its block of samples, or one group's column
    block = max(1024, LOGSUMEXP_BLOCK // n_experts)
    rng = np.random.default_rng(1)
    column = _rounding_column(n_experts, dtype)
    other = rng.uniform(-3, 3, (n_experts, block + 1)).astype(dtype)
    # the column beside one other: its sum in turn, the batch's
    _, in_batch = mix(
        np,
        np.stack([other[:, 0], column], axis=1),
        np.zeros((n_experts, 2), dtype),
        None,
    )
    for n in (1, block + 1, block + 2):
        log_mix = np.concatenate([other[:, : n - 1], column[:, None]], axis=1)
        log_norm, resp = mix(np, log_mix, np.zeros_like(log_mix), None)
        assert log_norm.dtype == dtype
        assert log_norm[-1] == 0, n  # exps adding to 1 in turn: the closed form
        assert_array_equal(resp[:, -1], in_batch[:, 1], err_msg=str(n))
    # one group of two rows: its column (K, 1) of the joint
    log_mix = np.stack([column, other[:, 0]], axis=1)
    log_norm, resp = mix(
        np, log_mix, np.zeros_like(log_mix), Groups.from_labels(np.array([5, 5]))
    )
    assert_array_equal(log_norm, np.zeros(2, dtype))  # half of 0 each
    assert_array_equal(resp, np.stack([in_batch[:, 1]] * 2, axis=1))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied"])
def test_gaussian_gate_of_a_lone_column_is_its_value_in_a_batch(covariance_type):
    # the sum of the squared whitened deviations over d = 9 features of a row
    # alone, or alone in the last block of the logits, is its sum in a batch.
    # The row's halved deviations from expert 0's mean (0) are 1 and eight
    # of h = 5 * 2^-29, whose square s = 25 * 2^-58 is below half a unit in
    # the last place of 1 and 2 s above it: 1 in turn, above 1 pairwise (a
    # pair of s first). Identity whitening: every product exact, whatever
    # BLAS's kernel. Expert 1 sits at the row (deviations 0); tied, both at
    # 0 (the quadratic is the shared one of gate_log_density)
    from skmoe.gates.gaussian import LOGIT_BLOCK, GaussianGate

    d, n_experts = 9, 2
    gate = GaussianGate(covariance_type)
    column = np.full(d, 2 * 5 * 2.0**-29)
    column[0] = 2.0
    coef = np.zeros((d + 1, n_experts))
    if covariance_type == "tied":
        expected = np.array([-2.0, -2.0])  # b_k - 2 (1 + 8 s in turn: 1)
    else:
        coef[1:, 1] = column
        expected = np.array([-2.0, 0.0])
    params = {"coef": coef, "whiten": np.stack([np.eye(d)] * n_experts)}
    rng = np.random.default_rng(0)
    step = LOGIT_BLOCK // (n_experts * d)
    others = rng.uniform(-3, 3, (d, step + 1))

    def at_last(n):
        X = np.concatenate([others[:, : n - 1], column[:, None]], axis=1)
        design = np.concatenate([np.ones((1, n)), X])
        log_gate, log_marginal = gate.log_gate_and_marginal(np, design, params)
        return gate.logits(np, design, params)[:, -1], log_gate[:, -1], log_marginal[-1]

    batch = at_last(3)
    assert_array_equal(batch[0], expected)
    sizes = (1, 3) if covariance_type == "tied" else (1, 3, step + 1)
    for n in sizes:
        logits, log_gate, log_marginal = at_last(n)
        assert_array_equal(logits, expected, err_msg=str(n))
        assert_array_equal(log_gate, batch[1], err_msg=str(n))
        assert log_marginal == batch[2], n


def _model(kind, n_experts, dtype):
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, (300, 2))
    signal = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    params = {"n_experts": n_experts, "random_state": 0, "max_iter": 5}
    if kind == "regressor":
        model, y = MoERegressor(**params), 3 * signal + 0.3 * rng.normal(size=300)
    elif kind == "classifier":
        model, y = MoEClassifier(**params), (signal > 0).astype(int) + (signal > 1)
    else:
        model, y = MoEPoissonRegressor(**params), rng.poisson(np.exp(signal))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X.astype(dtype), y)


def _outputs(model, X):
    outputs = {"predict_gate": model.predict_gate(X)}
    if isinstance(model, MoEClassifier):
        outputs["predict_proba"] = model.predict_proba(X)
        outputs["predict_log_proba"] = model.predict_log_proba(X)
        return outputs
    outputs["predict"], outputs["std"] = model.predict(X, return_std=True)
    distribution = model.predict_distribution(X)
    outputs["distribution_mean"] = distribution.mean()
    outputs["distribution_std"] = distribution.std()
    return outputs


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["regressor", "classifier", "poisson"])
def test_a_row_alone_in_the_last_block_predicts_as_in_a_batch(kind, dtype):
    # K=32: blocks of 4096 rows; 24 rows, each last in a batch of 4097 (its
    # block of one) and of 4098 rows. On main 12 to 24 of them differed in
    # predict_gate (up to 22 units in the last place)
    n_experts = 32
    block = LOGSUMEXP_BLOCK // n_experts
    model = _model(kind, n_experts, dtype)
    rng = np.random.default_rng(1)
    X = rng.uniform(-2.5, 2.5, (block + 24, 2)).astype(dtype)
    assert model._chunk_rows(X) > block + 1  # one chunk: the blocks' doing
    for i in range(block, block + 24):
        lone = _outputs(model, np.concatenate([X[:block], X[i : i + 1]]))
        pair = _outputs(model, np.concatenate([X[: block - 1], X[i : i + 1], X[:1]]))
        for name, value in lone.items():
            assert_array_equal(value[block], pair[name][block - 1], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_experts", [3, 40])  # all experts' product; gathered
def test_top_k_class_probabilities_of_a_row_alone_are_its_values_in_a_batch(
    n_experts, dtype
):
    # a top_k classifier's scores (k, n_classes, n) of the selected experts:
    # summed over the 12 classes in one order whatever the number of rows
    # (gathered, they had the classes innermost, which NumPy summed pairwise
    # for two rows or more, but sums_in_turn in turn for one: 87 and 85 of
    # these 200 rows' probabilities differed alone, by up to 3 ulps)
    rng = np.random.default_rng(n_experts)
    n_classes, top_k, n = 12, 2, 200
    coef = rng.uniform(-2, 2, (3, n_experts * n_classes)).astype(dtype)
    design = np.vstack([np.ones(n), rng.uniform(-2, 2, (2, n))]).astype(dtype)
    index = np.argsort(rng.random((n_experts, n)), axis=0)[:top_k]
    log_weight = np.log(rng.dirichlet(np.ones(top_k), n).T).astype(dtype)
    scores = selected_linear(np, coef, design, index, n_classes)
    batch = _mixture_proba(np, log_weight, scores.copy(order="K"))  # (in place)
    for i in range(n):
        # the batch's column; and (gathered: einsum, not a BLAS product) the
        # row's own scores
        columns = [scores[..., i : i + 1]]
        if n_experts > top_k * 4:
            one = (design[:, i : i + 1], index[:, i : i + 1])
            columns.append(selected_linear(np, coef, *one, n_classes))
            assert_array_equal(columns[1][..., 0], scores[..., i])  # same logits
        for column in columns:
            proba = _mixture_proba(np, log_weight[:, i : i + 1], column.copy(order="K"))
            assert_array_equal(proba[0], batch[i], err_msg=str(i))
        # as the sums over the classes, then the experts, in turn give them
        column = scores[..., i]
        shifted = np.exp(column - np.max(column, axis=1, keepdims=True))
        weight = np.exp(log_weight[:, i]) / _in_turn(shifted, 1)
        in_turn = _in_turn(shifted * weight[:, None], 0)
        assert_array_equal(batch[i], np.minimum(in_turn, 1), err_msg=str(i))


def _dyadic(a):
    """``a`` rounded to eighths: their products and sums in a matrix product
    of a few terms are exact, whichever BLAS kernel takes them."""
    return np.round(np.asarray(a) * 8) / 8


@pytest.mark.parametrize(
    "kind, top_k",
    [("regressor", None), ("regressor", 8), ("poisson", None), ("poisson", 8)]
    + [("gamma", None)],
)
def test_a_row_predicted_alone_sums_its_experts_as_in_a_batch(kind, top_k):
    # a single row's mean (and std) sums 16 experts' (or its top 8's) terms,
    # a lone column: NumPy's np.sum adds it pairwise, but a batch's columns in
    # turn (with np.sum there, 87 to 118 of these 200 rows' means differed
    # alone). The coefficients and X in eighths make every matrix product
    # exact, so a row alone meets no other kernel's rounding
    rng = np.random.default_rng(3)
    X = _dyadic(rng.uniform(-2, 2, (300, 2)))
    signal = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    params = {"n_experts": 16, "top_k": top_k, "random_state": 0, "max_iter": 3}
    if kind == "regressor":
        model, y = MoERegressor(**params), 3 * signal + 0.3 * rng.normal(size=300)
    elif kind == "poisson":
        model, y = MoEPoissonRegressor(**params), rng.poisson(np.exp(signal))
    else:
        model = MoEGammaRegressor(**params)
        y = np.exp(signal) * rng.gamma(2.0, 0.5, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    for name in ("gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_"):
        setattr(model, name, _dyadic(getattr(model, name)))
    X = _dyadic(np.random.default_rng(1).uniform(-2.5, 2.5, (200, 2)))
    batch, (batch_mean, batch_std) = model.predict(X), model.predict(X, return_std=True)
    for i in range(len(X)):
        row = X[i : i + 1]
        assert model.predict(row)[0] == batch[i], i
        mean, std = model.predict(row, return_std=True)
        assert (mean[0], std[0]) == (batch_mean[i], batch_std[i]), i
    if kind == "regressor" and top_k is None:
        # the gate's weights times the experts' (exact) means, added in turn
        means = X @ model.expert_coef_.T + model.expert_intercept_
        in_turn = _in_turn(model.predict_gate(X).T * means.T, 0)
        assert_array_equal(batch, in_turn)


def _fitted(kind, gate, top_k, dtype, d=5, n_experts=4):
    rng = np.random.default_rng(5)
    X = rng.uniform(-2, 2, (200, d))
    signal = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    if kind is MoERegressor:
        y = 3 * signal + 0.3 * rng.normal(size=200)
    elif kind is MoEClassifier:
        y = (signal > 0).astype(int) + (signal > 1)
    elif kind is MoEGammaRegressor:
        y = np.exp(signal) * rng.gamma(2.0, 0.5, 200)
    else:
        y = rng.poisson(np.exp(signal))
    model = kind(
        n_experts=n_experts, gate=gate, top_k=top_k, random_state=0, max_iter=5
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X.astype(dtype), y)


def _every_output(model, X, y):
    """Every per-row output of the model's public methods, rows first."""
    outputs = {
        "predict": model.predict(X),
        "predict_gate": model.predict_gate(X),
        "log_likelihood_samples": model.log_likelihood_samples(X, y),
        "responsibilities": model.responsibilities(X, y),
    }
    if model.gate == "gaussian":
        outputs["gate_log_density"] = model.gate_log_density(X)
    if isinstance(model, MoEClassifier):
        outputs["predict_proba"] = model.predict_proba(X)
        outputs["predict_log_proba"] = model.predict_log_proba(X)
        outputs["decision_function"] = model.decision_function(X)
    else:
        outputs["std"] = model.predict(X, return_std=True)[1]
        distribution = model.predict_distribution(X)
        outputs["distribution_mean"] = distribution.mean()
        outputs["distribution_std"] = distribution.std()
    return outputs


def _gemm_columns_stable(X, shapes=None):
    """Whether BLAS's matrix-matrix product gives each column of products of
    the test's shapes (rows, terms: by default the gates' and experts'
    coefficients, a Gaussian gate's stacked whitening) the bits it has beside
    a copy of itself, the coefficients column-major as
    :func:`skmoe._math.by_columns` lays them out: true of OpenBLAS's SkylakeX
    kernels at these sizes (of row-major ones, from 32 terms on, not); its
    Haswell kernels give a column of 3 rows other bits in batches of other
    sizes."""
    rng = np.random.default_rng(0)
    d = X.shape[1]
    if shapes is None:
        shapes = [(2, d + 1), (3, d), (4, d + 1), (12, d + 1), (4 * d, d)]
    for m, inner in shapes:
        coef = rng.standard_normal((inner, m)).astype(X.dtype).T
        design = np.ascontiguousarray(rng.standard_normal((len(X), inner)), X.dtype).T
        batch = coef @ design
        for i in range(len(X)):  # two copies, column-major as a design's
            pair = coef @ np.stack([design[:, i], design[:, i]]).T
            if not np.array_equal(pair[:, 0], batch[:, i]):
                return False
    return True


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "gate, top_k",
    [("softmax", None), ("softmax", 2), ("constant", None)]
    + [("gaussian", None), ("hierarchical", None)],
)
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_a_row_predicted_alone_is_the_row_in_a_batch(kind, gate, top_k, dtype):
    # A single row's gate and expert products have one column, which NumPy
    # hands to BLAS's matrix-vector kernel (gemv), of another order of
    # addition than the matrix-matrix one (gemm): on main 1 to 19 of these
    # 20 rows' outputs differed alone (up to every output of every method).
    # First, whatever BLAS: a row alone is the row beside a copy of itself
    # (two rows: gemm); then, where BLAS's gemm gives a column the same bits
    # whatever its neighbours, the row in a batch of 20 rows
    model = _fitted(kind, gate, top_k, dtype)
    rng = np.random.default_rng(7)
    X = rng.uniform(-2.5, 2.5, (20, 5)).astype(dtype)
    _assert_alone_is_batch_row(model, X, rng)


def _assert_alone_is_batch_row(model, X, rng, shapes=None):
    # every per-row output of each row of X predicted alone: first, whatever
    # BLAS, the row beside a copy of itself (two rows: gemm); then, where
    # BLAS's gemm gives a column the same bits whatever its neighbours (of
    # products of ``shapes``: _gemm_columns_stable), the row in the batch X
    if isinstance(model, MoEClassifier):
        y = rng.integers(0, 3, len(X))
    elif isinstance(model, MoERegressor):
        y = rng.normal(size=len(X))
    else:
        y = rng.poisson(2.0, len(X)) + (isinstance(model, MoEGammaRegressor) * 0.5)
    batch = _every_output(model, X, y)
    stable = _gemm_columns_stable(X, shapes)
    for i in range(len(X)):
        alone = _every_output(model, X[i : i + 1], y[i : i + 1])
        twice = _every_output(model, X[[i, i]], y[[i, i]])
        for name, value in alone.items():
            assert_array_equal(value[0], twice[name][0], err_msg=f"{name} {i}")
            if stable:
                assert_array_equal(value[0], batch[name][i], err_msg=f"{name} {i}")


@pytest.mark.parametrize(
    "gate, top_k", [("softmax", None), ("softmax", 2), ("hierarchical", None)]
)
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_a_row_alone_is_its_batch_row_at_16_features(kind, gate, top_k):
    # The design is column-major, and OpenBLAS's SkylakeX small-product
    # kernels sum a column of (4, 17) @ (17, n) by another order when the
    # right operand is row-major: two row-major copies of a row (np.concat)
    # gave 36 of 40 rows' gates other bits than the batch's (MoERegressor);
    # column-major copies give the batch's
    model = _fitted(kind, gate, top_k, np.float64, d=16)
    rng = np.random.default_rng(7)
    X = rng.uniform(-2.5, 2.5, (20, 16))
    _assert_alone_is_batch_row(model, X, rng)


@pytest.mark.parametrize("top_k", [None, 2])
@pytest.mark.parametrize("kind", ESTIMATORS)
def test_a_row_alone_is_its_batch_row_at_40_features(kind, top_k):
    # 41 terms: the fitted coefficients, rebuilt by np.vstack at predict,
    # were column-major (coef.T row-major), for which OpenBLAS's SkylakeX
    # kernels from 32 terms on sum a column by an order that depends on the
    # batch (on main 97 to 100 of 100 rows in a batch of 100 differed from
    # the same rows among 70000); by_columns now hands BLAS the coefficients
    # row-major (coef.T column-major), whose columns keep their bits there.
    # top_k=2 routes from the logits of the same experts-major product (the
    # samples-major design.T @ coef it took before gave 21 to 28 of these 40
    # rows alone other bits than in the batch under those kernels)
    model = _fitted(kind, "softmax", top_k, np.float64, d=40, n_experts=3)
    rng = np.random.default_rng(7)
    X = rng.uniform(-2.5, 2.5, (40, 40))
    _assert_alone_is_batch_row(model, X, rng, [(2, 41), (3, 41), (9, 41)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_experts", [3, 8])
def test_top_k_routing_of_rows_in_a_batch_of_100_is_theirs_among_3000(n_experts, dtype):
    # the softmax gate's top-k routing at 41 terms, its coefficients
    # column-major as a fitted model's are at predict: it selected from the
    # samples-major product design.T @ coef, of which OpenBLAS's SkylakeX
    # kernels give a row other bits in another batch from 32 terms on; now
    # from the experts-major product, whose columns keep their bits there
    # (_gemm_columns_stable). 3000 rows: past the 1024th column, which
    # another kernel takes, and routed row by row (route_by_expert's
    # ROWWISE_MIN), the batches of 100 by argmax
    rng = np.random.default_rng(0)
    X = rng.uniform(-2.5, 2.5, (3000, 40)).astype(dtype)
    coef = np.asfortranarray(rng.standard_normal((41, n_experts)), dtype)
    gate, params = SoftmaxGate(), {"coef": coef}
    if not _gemm_columns_stable(X[:100], [(n_experts, 41)]):
        pytest.skip("BLAS's gemm gives a column other bits among others")
    index, log_weight = gate.route(np, design_matrix(np, X), params, 2)
    for rows in (slice(0, 100), slice(2900, 3000)):
        part = gate.route(np, design_matrix(np, X[rows]), params, 2)
        assert_array_equal(part[0], index[:, rows])
        assert_array_equal(part[1], log_weight[:, rows])
