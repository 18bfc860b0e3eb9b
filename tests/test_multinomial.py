"""The shared multinomial-logistic steps (skmoe._multinomial) and the logistic
experts' M-step built on them."""

import array_api_strict
import numpy as np
import pytest
from _references import central_hessian
from scipy.special import log_softmax

from skmoe._backend import to_numpy
from skmoe._math import design_matrix
from skmoe.experts import LogisticExperts, logistic


def expert_objectives(design, Y, weighted_resp, coef, n_classes, alpha):
    """Per expert k: sum_i w_ki sum_c Y_ci log softmax(W_k^T x_i)_c
    - alpha/2 ||P W_k||^2 (P: no penalty on the intercept row)."""
    d, n = design.shape
    blocks = coef.reshape(d, -1, n_classes)  # (d, K, C)
    values = []
    for k in range(blocks.shape[1]):
        W = blocks[:, k, :]
        log_p = log_softmax(W.T @ design, axis=0)  # (C, n)
        fit = np.sum(weighted_resp[k] * np.sum(Y * log_p, axis=0))
        values.append(fit - 0.5 * alpha * np.sum(W[1:] ** 2))
    return np.array(values)


def problem(n_samples=300, n_features=4, n_classes=3, n_experts=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    labels = rng.randint(n_classes, size=n_samples)
    X[:, 0] += 2.0 * labels  # partly separable, so that steps are large
    Y = np.eye(n_classes)[labels].T
    resp = rng.dirichlet(np.ones(n_experts), size=n_samples).T
    weighted = resp / n_samples
    return design_matrix(np, X), Y, weighted


@pytest.mark.parametrize("newton_max_coef", [10**9, 0], ids=["newton", "newton-cg"])
@pytest.mark.parametrize("alpha", [0.0, 1e-2])
def test_expert_m_step_never_decreases_the_objective(
    monkeypatch, newton_max_coef, alpha
):
    monkeypatch.setattr(logistic, "NEWTON_MAX_COEF", newton_max_coef)
    design, Y, weighted = problem()
    experts = LogisticExperts(n_classes=3)
    rng = np.random.RandomState(1)
    params = {"coef": 3.0 * rng.randn(design.shape[0], 3 * 3)}  # a poor warm start
    values = [expert_objectives(design, Y, weighted, params["coef"], 3, alpha)]
    for _ in range(60):
        params = experts.m_step(np, design, Y, weighted, params, alpha)
        assert np.all(np.isfinite(params["coef"]))
        values.append(expert_objectives(design, Y, weighted, params["coef"], 3, alpha))
    values = np.array(values)  # (steps + 1, K)
    scale = 1e-12 * np.maximum(1.0, np.abs(values[:-1]))
    assert np.all(np.diff(values, axis=0) >= -scale)
    assert np.all(values[-1] > values[0] + 0.1)  # and it does move


def test_newton_m_step_converges_quadratically():
    design, Y, weighted = problem(seed=2)
    experts = LogisticExperts(n_classes=3)
    alpha = 0.1  # a large penalty: re-centring after an m - 1 column step is slow
    params = experts.initial_params(np, design, Y, 3)
    for _ in range(8):
        params = experts.m_step(np, design, Y, weighted, params, alpha)
    grad = experts.gradient(np, design, Y, weighted, params, alpha)["coef"]
    assert np.abs(grad).max() < 1e-12


def test_expert_m_step_keeps_its_coefficients_where_the_newton_step_is_nan(
    monkeypatch,
):
    # a solve that does not raise on a singular system (CuPy's, outside
    # cupyx.errstate(linalg="raise")) gives NaN; the line search then refuses
    # every trial (t = 0), but coef + 0 * NaN made the experts' coefficients
    # NaN, where the other families' halving keeps them
    design, Y, weighted = problem(seed=5)
    experts = LogisticExperts(n_classes=3)
    rng = np.random.RandomState(6)
    blocks = rng.randn(design.shape[0], 3, 3)
    blocks -= blocks.mean(axis=2, keepdims=True)  # centred over the classes
    coef = blocks.reshape(design.shape[0], 9)
    solve = np.linalg.solve
    monkeypatch.setattr(
        np.linalg, "solve", lambda a, b: np.full_like(solve(a, b), np.nan)
    )
    params = experts.m_step(np, design, Y, weighted, {"coef": coef}, 1e-3)
    np.testing.assert_allclose(params["coef"], coef, rtol=0, atol=1e-15)


@pytest.mark.parametrize("newton_max_coef", [10**9, 0], ids=["newton", "newton-cg"])
def test_expert_m_step_in_array_api_strict_matches_numpy(monkeypatch, newton_max_coef):
    from skmoe import _multinomial

    monkeypatch.setattr(logistic, "NEWTON_MAX_COEF", newton_max_coef)
    # the generic code on both sides (NumPy's blocked Hessian-vector product
    # rounds differently; it is tested against the generic one below)
    monkeypatch.setattr(_multinomial, "is_numpy_array", lambda a: False)
    design, Y, weighted = problem(n_samples=120, seed=3)
    experts = LogisticExperts(n_classes=3)
    xp = array_api_strict
    dev = array_api_strict.Device("device1")
    to_xp = lambda a: xp.asarray(a, device=dev)  # noqa: E731
    p_np = experts.initial_params(np, design, Y, 3)
    p_xp = {"coef": to_xp(p_np["coef"])}
    for _ in range(3):
        p_np = experts.m_step(np, design, Y, weighted, p_np, 1e-3)
        p_xp = experts.m_step(xp, to_xp(design), to_xp(Y), to_xp(weighted), p_xp, 1e-3)
    assert p_xp["coef"].device == dev
    coef = to_numpy(p_xp["coef"])
    np.testing.assert_allclose(coef, p_np["coef"], atol=1e-10)


def test_newton_hessian_leaves_out_only_samples_every_problem_is_certain_of(
    monkeypatch,
):
    from skmoe import _multinomial

    rng = np.random.RandomState(4)
    d, m, n = 3, 3, 400
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    prob = rng.dirichlet(np.ones(m), size=(2, n)).transpose(0, 2, 1)  # (B, m, n)
    # problem 0 is certain on the first half, problem 1 only on the first quarter
    prob[0, :, : n // 2] = np.array([[1.0], [1e-12], [1e-12]])
    prob[1, :, : n // 4] = np.array([[1e-12], [1.0], [1e-12]])
    prob /= prob.sum(axis=1, keepdims=True)
    weight = rng.uniform(0.5, 1.5, size=(2, n))
    grad = rng.randn(2, d, m)
    mask = np.ones((d, 1))
    mask[0] = 0
    args = (np, design, weight, prob, grad, 1e-3, mask)
    exact = _multinomial.newton_direction(*args, centred=True)
    # more samples than HESSIAN_ROWS, but the uncertain ones (3n/4) fit: no stride
    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", n - n // 4)
    reduced = _multinomial.newton_direction(*args, centred=True)
    np.testing.assert_allclose(reduced, exact, rtol=1e-8, atol=1e-8)


def test_a_subsampled_hessian_is_reweighted_by_its_stride():
    # above HESSIAN_ROWS uncertain samples the Hessian takes every stride-th
    # one, each weighing stride: the step is about the exact Newton step's
    # (without the factor it was 3.96 times as long at 50000 rows)
    from skmoe import _multinomial
    from skmoe._math import log_softmax as xp_log_softmax

    rng = np.random.RandomState(0)
    n, d, m = 50000, 3, 3
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    coef = 0.3 * rng.randn(1, d, m)
    coef -= coef.mean(axis=2, keepdims=True)
    prob = np.exp(xp_log_softmax(np, coef[0].T @ design, axis=0))[None]
    targets = np.eye(m)[rng.randint(m, size=n)].T[None]
    weight = np.ones((1, n))
    mask = np.r_[0.0, np.ones(d - 1)][:, None]
    grad = _multinomial.gradient(np, design, targets, weight, prob, coef, 0.0, mask)
    args = (np, design, weight, prob, grad, 0.0, mask)
    assert n > _multinomial.HESSIAN_ROWS
    estimated = _multinomial.newton_direction(*args, centred=True)
    exact = brute_centred_newton_step(design, weight[0], prob[0], grad[0], 0.0, mask)
    ratio = np.linalg.norm(estimated) / np.linalg.norm(exact)
    assert abs(ratio - 1) < 0.05


def test_truncated_newton_with_enough_iterations_is_the_newton_step():
    # conjugate gradients reach the exact Newton step in as many iterations
    # as coefficients (m d); a steepest-descent direction (beta = 0) would not
    from skmoe import _multinomial

    rng = np.random.RandomState(0)
    d, m, n = 4, 3, 400
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    coef = 0.5 * rng.randn(2, d, m)
    coef -= coef.mean(axis=2, keepdims=True)
    prob = np.exp(log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1))
    weight = np.full((2, n), 1.0 / n)
    targets = weight[:, None, :] * np.eye(m)[rng.randint(m, size=n)].T[None]
    mask = np.r_[0.0, np.ones(d - 1)][:, None]
    grad = _multinomial.gradient(np, design, targets, weight, prob, coef, 1e-2, mask)
    cg = _multinomial.newton_cg_direction(
        np, design, weight, prob, grad, 1e-2, mask, m * d, rtol=1e-12
    )
    for b in range(2):
        exact = brute_centred_newton_step(
            design, weight[b], prob[b], grad[b], 1e-2, mask
        )
        np.testing.assert_allclose(cg[b], exact, atol=1e-8 * np.abs(exact).max())


def brute_centred_newton_step(design, weight, prob, grad, alpha, mask):
    """H^-1 g within the coefficients whose columns sum to zero, H the negative
    Hessian built entry by entry (columns j, k; coefficient rows i)."""
    d, m = grad.shape
    hessian = np.zeros((m * d, m * d))
    for j in range(m):
        for k in range(m):
            w = weight * prob[j] * ((j == k) - prob[k])
            block = (design * w) @ design.T
            if j == k:
                block += alpha * np.diag(mask[:, 0])
            hessian[j * d : (j + 1) * d, k * d : (k + 1) * d] = block
    basis = np.linalg.svd(np.eye(m) - 1.0 / m)[0][:, : m - 1]
    Q = np.kron(basis, np.eye(d))  # centred coefficient matrices, flattened
    reduced = Q.T @ hessian @ Q
    step = Q @ np.linalg.solve(reduced, Q.T @ grad.T.reshape(-1))
    return step.reshape(m, d).T


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("scale", [1.0, 1e7, 1e-6])
def test_centred_newton_step_is_exact_at_any_feature_scale(alpha, scale):
    # a rounding-noise term sized by the largest feature made the step 97% wrong
    # on the other rows beside a feature of scale 1e7
    from skmoe import _multinomial

    rng = np.random.RandomState(1)
    d, m, n = 3, 3, 60
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    design[1] *= scale
    coef = rng.randn(2, d, m)
    coef[:, 1] /= scale
    coef -= coef.mean(axis=2, keepdims=True)
    prob = np.exp(log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1))
    weight = rng.uniform(0.5, 2.0, size=(2, n))
    grad = rng.randn(2, d, m)
    grad[:, 1] /= scale
    grad -= grad.mean(axis=2, keepdims=True)
    mask = np.ones((d, 1))
    mask[0] = 0
    step = _multinomial.newton_direction(
        np, design, weight, prob, grad, alpha, mask, centred=True
    )
    for b in range(2):
        expected = brute_centred_newton_step(
            design, weight[b], prob[b], grad[b], alpha, mask
        )
        np.testing.assert_allclose(
            step[b] / np.abs(expected).max(axis=1, keepdims=True),
            expected / np.abs(expected).max(axis=1, keepdims=True),
            atol=1e-7,
        )


def test_blocked_hessian_vector_product_equals_the_plain_one(monkeypatch):
    from skmoe import _multinomial

    rng = np.random.RandomState(0)
    B, m, d, n = 3, 4, 5, 3000
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    prob = rng.dirichlet(np.ones(m), size=(B, n)).transpose(0, 2, 1).copy()
    weight, v = rng.rand(B, n), rng.randn(B, d, m)
    mask = np.ones((d, 1))
    mask[0] = 0
    moved = np.swapaxes(v, 1, 2) @ design
    curv = weight[:, None] * prob * (moved - np.sum(prob * moved, 1, keepdims=True))
    expected = design @ np.swapaxes(curv, 1, 2) + 0.1 * mask * v
    monkeypatch.setattr(_multinomial, "HV_BLOCK_BYTES", 8 * B * m * 300)  # 10 blocks
    blocked, flushed = _multinomial._hess_vec_blocks(design, weight, prob, v, 0.1, mask)
    np.testing.assert_allclose(blocked, expected, rtol=1e-12, atol=1e-12)
    assert not flushed  # no curvature below the smallest normal number


def test_hessian_vector_product_flushes_subnormal_curvatures():
    # float32 samples of weight 1.2e-38, float32's smallest normal number
    # (a responsibility near it over the samples), give curvatures
    # s p (a - sum_c p_c a_c) below it (|a| <= 0.4 here): set to 0, they
    # change an entry by at most n times that number times the largest
    # feature (against the plain sum in float64, which keeps them), and the
    # sums of normal terms not at all
    from skmoe import _multinomial

    rng = np.random.RandomState(1)
    B, m, d, n = 2, 3, 4, 2000
    tiny = float(np.finfo(np.float32).tiny)
    design = np.vstack([np.ones(n), rng.rand(d - 1, n)]).astype(np.float32)
    prob = rng.dirichlet(np.ones(m), size=(B, n)).transpose(0, 2, 1)
    prob = np.ascontiguousarray(prob, dtype=np.float32)
    weight = np.full((B, n), tiny, dtype=np.float32)
    weight[0, : n // 2] = 1e-3  # problem 0: half its samples normal
    v = rng.uniform(-0.1, 0.1, size=(B, d, m)).astype(np.float32)
    mask = np.ones((d, 1), dtype=np.float32)
    mask[0] = 0

    def plain(weight):  # float64, subnormal float32 terms kept exactly
        w, p, x, u = (a.astype(np.float64) for a in (weight, prob, design, v))
        moved = np.swapaxes(u, 1, 2) @ x
        curv = w[:, None] * p * (moved - np.sum(p * moved, 1, keepdims=True))
        return x @ np.swapaxes(curv, 1, 2) + 0.1 * mask * u

    assert np.any(np.abs(plain(weight)) < 1e-30)  # the subnormal terms' sums
    blocked, flushed = _multinomial._hess_vec_blocks(design, weight, prob, v, 0.1, mask)
    assert flushed
    assert blocked.dtype == np.float32
    # problem 1: every data term subnormal, only the penalty is left
    np.testing.assert_array_equal(blocked[1, 0], np.zeros(m, dtype=np.float32))
    np.testing.assert_allclose(blocked[1], 0.1 * mask * v[1], rtol=1e-6, atol=n * tiny)
    # problem 0: the normal samples' terms (float32 rounding)
    normal = weight.copy()
    normal[normal <= tiny] = 0
    np.testing.assert_allclose(blocked[0], plain(normal)[0], rtol=1e-4, atol=1e-6)
    unflushed, flushed = _multinomial._hess_vec_blocks(
        design, weight, prob, v, 0.1, mask, flush=False
    )
    assert not flushed
    assert np.all(unflushed[1, 0] != 0)  # the subnormal terms' sums, kept
    np.testing.assert_allclose(unflushed, plain(weight), rtol=1e-4, atol=1e-6)
    assert np.max(np.abs(blocked - unflushed)) <= n * tiny * 2


def test_hessian_vector_product_keeps_curvatures_at_the_smallest_normal():
    # the flush drops numbers below the smallest normal number alone: weight
    # 2 * tiny, p = (1/2, 1/2) and A = (1, -1) give curvatures s p (A - sum
    # p A) = (tiny, -tiny) exactly, normal numbers that the sums keep
    from skmoe import _multinomial

    tiny = np.finfo(np.float32).tiny
    n = 4
    design = np.ones((1, n), dtype=np.float32)
    prob = np.full((1, 2, n), 0.5, dtype=np.float32)
    weight = np.full((1, n), 2 * tiny, dtype=np.float32)
    v = np.array([[[1.0, -1.0]]], dtype=np.float32)
    mask = np.ones((1, 1), dtype=np.float32)
    hv, flushed = _multinomial._hess_vec_blocks(design, weight, prob, v, 0.0, mask)
    expected = np.array([[[n * tiny, -n * tiny]]], dtype=np.float32)
    np.testing.assert_array_equal(hv, expected)
    assert not flushed
    # half that weight: subnormal curvatures, flushed to 0
    hv, flushed = _multinomial._hess_vec_blocks(design, weight / 2, prob, v, 0.0, mask)
    np.testing.assert_array_equal(hv, np.zeros_like(expected))
    assert flushed


@pytest.mark.parametrize("subnormal", [False, True])
def test_newton_cg_stops_flushing_once_a_product_finds_no_subnormal(
    monkeypatch, subnormal
):
    # the check costs about a tenth of a product: the products of one
    # direction flush until one finds nothing to flush, then stop
    from skmoe import _multinomial

    rng = np.random.RandomState(0)
    B, m, d, n = 1, 3, 4, 500
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)]).astype(np.float32)
    prob = rng.dirichlet(np.ones(m), size=(B, n)).transpose(0, 2, 1)
    prob = np.ascontiguousarray(prob, dtype=np.float32)
    weight = np.full((B, n), 1.0 / n, dtype=np.float32)
    if subnormal:  # every curvature of these samples below the smallest normal
        weight[:, : n // 2] = np.finfo(np.float32).tiny
    grad = rng.randn(B, d, m).astype(np.float32)
    grad -= grad.mean(axis=2, keepdims=True)
    mask = np.ones((d, 1), dtype=np.float32)
    mask[0] = 0
    flags = []
    blocks = _multinomial._hess_vec_blocks

    def spy(*args):
        flags.append(args[-1])
        return blocks(*args)

    monkeypatch.setattr(_multinomial, "_hess_vec_blocks", spy)
    _multinomial.newton_cg_direction(
        np, design, weight, prob, grad, 1e-3, mask, 5, rtol=0.0
    )
    assert len(flags) == 5
    assert flags == ([True] * 5 if subnormal else [True] + [False] * 4)


def test_halving_of_a_stack_gives_each_problem_its_own_step_length():
    # once some problems are done, NumPy's trials run over the others alone;
    # a problem whose direction descends takes no step (t = 0) after every
    # trial, and must not change the others' step lengths
    from skmoe import _multinomial

    rng = np.random.RandomState(3)
    d, m, n, B = 4, 3, 200, 4
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    coef = rng.randn(B, d, m)
    coef -= coef.mean(axis=2, keepdims=True)
    labels = rng.randint(m, size=n)
    weight = rng.uniform(0.5, 2.0, size=(B, n)) / n
    targets = weight[:, None, :] * np.eye(m)[labels].T[None]
    mask = np.r_[0.0, np.ones(d - 1)][:, None]
    log_p = log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1)
    grad = _multinomial.gradient(
        np, design, targets, weight, np.exp(log_p), coef, 0.1, mask
    )
    direction = grad * np.array([1.0, 30.0, 300.0, -1.0])[:, None, None]
    line = _multinomial.Line(np, design, targets, log_p, coef, 0.1, mask)
    t = line.halving(direction, 20)

    def objective(b, step):
        W = coef[b] + step * direction[b]
        log_q = log_softmax(W.T @ design, axis=0)
        return np.sum(targets[b] * log_q) - 0.05 * np.sum(mask * W**2)

    assert t[3] == 0  # a descent direction
    for b in range(3):
        assert t[b] > 0
        assert objective(b, t[b]) >= objective(b, 0.0)
        if t[b] < 1:
            assert objective(b, 2 * t[b]) < objective(b, 0.0)
        alone = _multinomial.Line(
            np, design, targets[b : b + 1], log_p[b : b + 1], coef[b : b + 1], 0.1, mask
        )
        assert alone.halving(direction[b : b + 1], 20)[0] == t[b]
    assert t[2] < t[1] < t[0] == 1


def test_solve_symmetric_scales_and_jitters_as_documented():
    from skmoe._math import solve_symmetric

    rng = np.random.RandomState(0)
    G = rng.randn(3, 5, 40)
    A = G @ np.swapaxes(G, 1, 2)
    A[:, :, 0] *= 1e6  # rows and columns of very different scales
    A[:, 0, :] *= 1e6
    b = rng.randn(3, 5, 2)
    noise = rng.uniform(0, 1e-3, size=(3, 5))
    rel, floor = 1e-10, np.finfo(float).tiny
    expected = []
    for k in range(3):
        diagonal = np.diag(A[k])
        scale = 1 / np.sqrt(diagonal + floor + noise[k])
        jittered = A[k] + np.diag(rel * diagonal + floor + noise[k])
        scaled = scale[:, None] * jittered * scale[None, :]
        expected.append(scale[:, None] * np.linalg.solve(scaled, scale[:, None] * b[k]))
    got = solve_symmetric(np, A, b, noise)
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-10)
    strict = solve_symmetric(
        array_api_strict,
        array_api_strict.asarray(A),
        array_api_strict.asarray(b),
        array_api_strict.asarray(noise),
    )
    np.testing.assert_allclose(got, to_numpy(strict), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_halving_over_subsets_matches_trials_over_the_whole_stack(monkeypatch):
    # NumPy's trials over the problems not yet done must give the step lengths
    # that trials over all B give: the logistic experts' coefficients and
    # directions are strided as (d, B, C), and a C-ordered copy of a subset
    # summed its penalty in another order (float32 digits: 17 of 280 line
    # searches took other step lengths, expert intercepts 0.1 apart)
    from sklearn.datasets import load_digits

    from skmoe import MoEClassifier, _multinomial

    def dense_halving(self, direction, max_halvings, joint=False, also=(), bound=None):
        assert not also  # (read where the namespace is not NumPy)
        gain = self._along(direction)
        penalty = np.sum(np.sum(self.mask * self.coef**2, axis=2), axis=1)
        start = -0.5 * self.alpha * penalty
        t = np.ones(self.coef.shape[0], dtype=self.coef.dtype)
        done = np.zeros(t.shape, dtype=bool)
        for _ in range(max_halvings):
            trial = gain(t)
            better = trial >= start
            if joint:
                better = np.broadcast_to(np.sum(trial) >= np.sum(start), t.shape)
            done = done | better
            if np.all(done):
                return t
            if bound is not None and _ == 0:
                reach = self.reach()
                far = reach > bound
                shrunk = np.where(far, bound / np.where(far, reach, 1.0), 1.0)
                t = np.where(done, t, np.minimum(t / 2, shrunk))
            else:
                t = np.where(done, t, t / 2)
        return np.where(done, t, np.zeros_like(t))

    X, y = load_digits(return_X_y=True)
    X = (X[:600] / 16).astype(np.float32)
    params = dict(n_experts=5, n_init=1, max_iter=15, random_state=0)
    fitted = MoEClassifier(**params).fit(X, y[:600])
    monkeypatch.setattr(_multinomial.Line, "halving", dense_halving)
    expected = MoEClassifier(**params).fit(X, y[:600])
    np.testing.assert_array_equal(fitted.expert_coef_, expected.expert_coef_)
    np.testing.assert_array_equal(fitted.expert_intercept_, expected.expert_intercept_)
    np.testing.assert_array_equal(fitted.gate_coef_, expected.gate_coef_)


def test_float32_newton_step_with_tiny_probabilities_matches_float64():
    # probabilities below eps**2 are left out of the Hessian on NumPy (their
    # products are subnormal in float32); the step is still float64's to
    # float32 rounding (here 1.7e-3 of the largest entry, all of it the float32
    # Hessian's own: HEAD's step without the cut was the same bit for bit)
    from skmoe import _multinomial

    rng = np.random.RandomState(2)
    d, m, n = 3, 4, 300
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    coef = 10 * rng.randn(1, d, m)  # sharply separated: probabilities to 1e-25
    coef -= coef.mean(axis=2, keepdims=True)
    prob = np.exp(log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1))
    tiny = (prob > 0) & (prob < np.finfo(np.float32).eps ** 2)
    assert 0.1 < tiny.mean() < 0.5
    weight = np.full((1, n), 1.0 / n)
    grad = rng.randn(1, d, m)
    grad -= grad.mean(axis=2, keepdims=True)
    mask = np.ones((d, 1))
    mask[0] = 0
    expected = brute_centred_newton_step(design, weight[0], prob[0], grad[0], 1.0, mask)
    args = [a.astype(np.float32) for a in (design, weight, prob, grad)]
    step = _multinomial.newton_direction(
        np, *args, 1.0, mask.astype(np.float32), centred=True
    )
    assert step.dtype == np.float32
    scale = np.abs(expected).max()
    np.testing.assert_allclose(step[0] / scale, expected / scale, atol=5e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cold_m_step_stops_once_steps_gain_only_rounding(monkeypatch, dtype):
    from skmoe import _multinomial

    searches = []
    halving = _multinomial.Line.halving

    def counted(self, *args, **kwargs):
        searches.append(1)
        return halving(self, *args, **kwargs)

    monkeypatch.setattr(_multinomial.Line, "halving", counted)
    design, Y, weighted = problem(n_samples=2000, seed=5)
    # expert 1 on 40 rows: it settles steps before the others, which must
    # still take theirs (the stop waits for every expert)
    rows = np.random.RandomState(0).choice(2000, 40, replace=False)
    weighted[1] = 0.0
    weighted[1, rows] = 1 / 2000
    design, Y, weighted = (a.astype(dtype) for a in (design, Y, weighted))
    experts = LogisticExperts(n_classes=3)
    alpha = 1e-2
    params = experts.initial_params(np, design, Y, 3)
    params = experts.m_step(np, design, Y, weighted, params, alpha)
    # Newton's quadratic convergence: fewer than the cap of full-length steps
    assert len(searches) < logistic.COLD_NEWTON_STEPS
    # and the steps left out would gain no more than rounding (evaluated in
    # float64): against the optimum of float64 Newton steps from a warm start
    # (a path that never stops early; from the cold coefficients, a stop that
    # took no step would leave them all at 0)
    exact = [a.astype(np.float64) for a in (design, Y, weighted)]
    cold = expert_objectives(*exact, params["coef"].astype(np.float64), 3, alpha)
    start = np.random.RandomState(1).randn(*params["coef"].shape)
    optimum = {"coef": 1e-3 * start}
    for _ in range(30):
        optimum = experts.m_step(np, *exact, optimum, alpha)
    best = expert_objectives(*exact, optimum["coef"], 3, alpha)
    eps = np.finfo(dtype).eps
    np.testing.assert_array_less(best - cold, 10 * eps * weighted.sum(axis=1))


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_a_hessian_of_samples_all_certain_is_estimated_from_them(
    monkeypatch, namespace
):
    # above HESSIAN_ROWS samples the Hessian left out every certain sample;
    # where all were (separated classes, alpha=0) it was the jitter alone,
    # and the step 1e+298 times too long, which no halving brought back
    from skmoe import _multinomial

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 500)
    rng = np.random.RandomState(0)
    n, m = 3000, 2
    x = (3 + np.abs(rng.randn(n))) * np.where(rng.rand(n) < 0.5, 1.0, -1.0)
    design = np.vstack([np.ones(n), x])
    coef = np.array([[[0.0, 0.0], [-3.5, 3.5]]])  # margins of 21 and more
    prob = np.exp(log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1))
    assert np.all(1 - prob.max(axis=1) <= _multinomial.CERTAIN)
    weight = np.full((1, n), 1.0 / n)
    targets = weight[:, None, :] * np.eye(m)[(x > 0).astype(int)].T[None]
    mask = np.array([[0.0], [1.0]])
    grad = _multinomial.gradient(np, design, targets, weight, prob, coef, 0.0, mask)
    xp = array_api_strict if namespace == "array_api_strict" else np
    args = [xp.asarray(a) for a in (design, weight, prob, grad)]
    step = _multinomial.newton_direction(xp, *args, 0.0, xp.asarray(mask), centred=True)
    step = to_numpy(step)
    exact = brute_centred_newton_step(design, weight[0], prob[0], grad[0], 0.0, mask)
    # the slopes' step (the intercepts' is near 0): 0.1603 against 0.1591
    np.testing.assert_allclose(step[0, 1], exact[1], rtol=0.1)
    assert np.linalg.norm(step - exact) < 0.1 * np.linalg.norm(exact)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_hessian_rows_keep_each_parts_weight(monkeypatch, stride):
    # every stride-th sample of each part (uncertain, certain), weighing its
    # stride: the parts' total weight is kept, for a stride of 2 too
    from skmoe import _multinomial

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 100)
    monkeypatch.setattr(_multinomial, "CERTAIN_ROWS", 10)
    n_uncertain, n_certain = 100 * stride, 10 * stride
    n = n_uncertain + n_certain
    certain = np.zeros(n, dtype=bool)
    certain[np.random.RandomState(0).permutation(n)[:n_certain]] = True
    p = np.where(certain, 1e-12, 0.3)
    prob = np.stack([1 - p, p])[None]  # (1, 2, n)
    design = np.vstack([np.ones(n), np.arange(n, dtype=float)])
    weight = np.full((1, n), 0.5)
    uncertain_part, certain_part = _multinomial._hessian_rows(np, design, weight, prob)
    for part, rows, kept in (
        (uncertain_part, ~certain, 100),
        (certain_part, certain, 10),
    ):
        assert part[0].shape == (2, kept)
        np.testing.assert_array_equal(part[0][1], design[1, rows][::stride])
        assert np.sum(part[1]) == 0.5 * np.sum(rows)


def test_a_sample_is_certain_only_where_every_problem_is(monkeypatch):
    # two problems (experts): the first certain of every sample, the second of
    # none; every sample is uncertain (it was certain where either problem
    # was, and the second's Hessian came from CERTAIN_ROWS samples, not
    # HESSIAN_ROWS)
    from skmoe import _multinomial

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 100)
    monkeypatch.setattr(_multinomial, "CERTAIN_ROWS", 10)
    n = 300
    p = np.stack([np.full(n, 1e-12), np.full(n, 0.3)])  # (problems, n)
    prob = np.stack([1 - p, p], axis=1)  # (2, 2, n)
    design = np.vstack([np.ones(n), np.arange(n, dtype=float)])
    uncertain, certain = _multinomial._hessian_rows(
        np, design, np.full((2, n), 1.0 / n), prob
    )
    assert certain is None
    np.testing.assert_array_equal(uncertain[0][1], np.arange(0, n, 3))


def test_em_on_separated_classes_beyond_the_hessian_rows_keeps_stepping(monkeypatch):
    # every sample certain (alpha=0): each Newton step was refused, EM stopped
    # at iteration 18 as if converged, after 40 RuntimeWarnings (overflow in
    # the line search's penalty)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skmoe import MoEClassifier, _multinomial
    from skmoe.exceptions import DegenerateFitWarning

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 500)
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 2)
    X[:, 0] += np.where(X[:, 0] > 0, 3, -3)
    y = (X[:, 0] > 0).astype(int)
    model = MoEClassifier(n_experts=1, alpha=0, tol=1e-300, max_iter=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    kinds = {w.category for w in caught}
    assert kinds == {DegenerateFitWarning, ConvergenceWarning}, caught
    assert model.n_iter_ == 30


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [3.5, 5.0])
def test_certain_samples_hessian_is_their_curvature_in_float32_too(
    monkeypatch, namespace, dtype, slope
):
    # the certain samples' terms were built as diag(p) - p p^T, which cancels
    # to rounding noise (in float32 all of it, 1 - p being below its eps): the
    # step was then the diagonal jitter's, 1e3 to 1e6 times too short.
    # Reference: the binary Newton step in theta = coef[:, 1] - coef[:, 0],
    # its Hessian weights p0 p1 from the logits (no cancellation), all samples
    from skmoe import _multinomial

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 500)
    rng = np.random.RandomState(0)
    n = 3000
    x = (3 + np.abs(rng.randn(n))) * np.where(rng.rand(n) < 0.5, 1.0, -1.0)
    y = (x > 0).astype(int)
    design = np.vstack([np.ones(n), x])
    coef = np.array([[[0.0, 0.0], [-slope, slope]]])  # margins of 21 or 30 and more
    logits = np.einsum("bdm,dn->bmn", coef, design)
    prob = np.exp(log_softmax(logits, axis=1))
    weight = np.full((1, n), 1.0 / n)
    targets = weight[:, None, :] * np.eye(2)[y].T[None]
    mask = np.array([[0.0], [1.0]])
    grad = _multinomial.gradient(np, design, targets, weight, prob, coef, 0.0, mask)
    z = logits[0, 1] - logits[0, 0]
    p0p1 = np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))) ** 2
    hessian = (design * weight[0] * p0p1) @ design.T
    # (the gradient in theta: half that in coef[:, 1] minus that in coef[:, 0])
    theta = np.linalg.solve(hessian, (grad[0, :, 1] - grad[0, :, 0]) / 2)
    exact = np.stack([-theta / 2, theta / 2], axis=1)
    xp = array_api_strict if namespace == "array_api_strict" else np
    args = [xp.asarray(a.astype(dtype)) for a in (design, weight, prob, grad)]
    mask = xp.asarray(mask.astype(dtype))
    step = to_numpy(_multinomial.newton_direction(xp, *args, 0.0, mask, centred=True))
    assert np.all(1 - prob.max(axis=1) <= _multinomial.CERTAIN)
    np.testing.assert_allclose(step[0, 1], exact[1], rtol=0.05)
    assert np.linalg.norm(step[0] - exact) < 0.05 * np.linalg.norm(exact)


def test_certain_samples_hessian_adds_in_place(monkeypatch):
    # the certain samples' terms were a second (B, m d, m d) Hessian, added
    # with a third, beside a (B, m d, m d) cross + cross^T and its transpose:
    # they raised the step's peak by 2.5 Hessians (B=2, m=10, d=100)
    import tracemalloc

    from skmoe import _multinomial

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 500)
    rng = np.random.RandomState(0)
    n, n_problems, m, d = 1800, 2, 10, 100
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    logits = rng.randn(n_problems, m, n)
    logits[:, 0, 300:] += 40  # the first 300 samples uncertain, the rest certain
    prob = np.exp(log_softmax(logits, axis=1))
    weight = np.full((n_problems, n), 1.0 / n)
    grad = rng.randn(n_problems, d, m)
    grad -= grad.mean(axis=2, keepdims=True)
    mask = np.ones((d, 1))

    def peak(n_samples):
        args = (design[:, :n_samples], weight[:, :n_samples], prob[..., :n_samples])
        _multinomial.newton_direction(np, *args, grad, 1e-3, mask, centred=True)
        tracemalloc.start()
        try:
            step = _multinomial.newton_direction(
                np, *args, grad, 1e-3, mask, centred=True
            )
            return step, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    step, with_certain = peak(n)
    uncertain_step, without = peak(300)
    hessian = n_problems * (m * d) ** 2 * 8
    assert with_certain - without < hessian, (with_certain - without) / hessian
    # the certain samples add ~1e-17 to the Hessian here: the same step
    np.testing.assert_allclose(step, uncertain_step, rtol=1e-6, atol=1e-12)


def two_column_problem(seed, n_problems=2, d=4, n=200, scale=1.0, spread=1.0):
    """Design (d, n), sample weights (B, n), soft targets and probabilities
    (B, 2, n), and centred coefficients (B, d, 2) with their gradient, of B
    two-column problems (feature row 1 multiplied by ``scale``)."""
    rng = np.random.RandomState(seed)
    design = np.vstack([np.ones(n), rng.randn(d - 1, n)])
    design[1] *= scale
    coef = spread * rng.randn(n_problems, d, 2)
    coef[:, 1] /= scale
    coef -= coef.mean(axis=2, keepdims=True)
    prob = np.exp(log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1))
    weight = rng.uniform(0.5, 2.0, size=(n_problems, n)) / n
    share = rng.uniform(size=(n_problems, n))
    targets = weight[:, None, :] * np.stack([share, 1 - share], axis=1)
    return design, weight, targets, prob, coef


def two_column_gradient(design, weight, targets, prob, coef, alpha, mask):
    return np.einsum("dn,bmn->bdm", design, targets - weight[:, None, :] * prob) - (
        alpha * mask * coef
    )


@pytest.mark.parametrize("alpha", [0.0, 1e-2])
@pytest.mark.parametrize("scale", [1.0, 1e7, 1e-6])
def test_two_column_step_is_the_centred_step_of_the_full_system(
    monkeypatch, alpha, scale
):
    # two columns (a gate of two experts, binary experts) take a d x d step;
    # it is the 2d x 2d system's centred step, built here and in the library
    from skmoe import _multinomial

    design, weight, targets, prob, coef = two_column_problem(0, scale=scale)
    mask = np.ones((design.shape[0], 1))
    mask[0] = 0
    grad = two_column_gradient(design, weight, targets, prob, coef, alpha, mask)
    args = (np, design, weight, prob, grad, alpha, mask)
    step = _multinomial.newton_direction(*args, centred=True)
    monkeypatch.setattr(_multinomial, "BINARY_STEP", False)
    full = _multinomial.newton_direction(*args, centred=True)
    np.testing.assert_array_equal(step[..., 0], -step[..., 1])
    for b in range(2):
        expected = brute_centred_newton_step(
            design, weight[b], prob[b], grad[b], alpha, mask
        )
        size = np.abs(expected).max(axis=1, keepdims=True)  # per row: its scale
        np.testing.assert_allclose(step[b] / size, expected / size, atol=1e-8)
        np.testing.assert_allclose(step[b] / size, full[b] / size, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_two_column_step_solves_the_finite_difference_newton_equation(alpha):
    # in u, with coefficients [u, -u]: the step du of the library solves
    # -H du = g for the gradient g and Hessian H of the objective by central
    # differences, and the library's gradient columns give g = g_0 - g_1
    from skmoe import _multinomial

    design, weight, targets, prob, coef = two_column_problem(1, n_problems=1)
    mask = np.ones((design.shape[0], 1))
    mask[0] = 0

    def objective(u):
        W = np.column_stack([u, -u])
        log_p = log_softmax(W.T @ design, axis=0)
        return np.sum(targets[0] * log_p) - 0.5 * alpha * np.sum(mask * W**2)

    u = coef[0, :, 0]
    h = 1e-5
    eye = np.eye(len(u))
    fd_grad = np.array(
        [(objective(u + h * e) - objective(u - h * e)) / (2 * h) for e in eye]
    )
    fd_hessian = central_hessian(objective, u)
    grad = two_column_gradient(design, weight, targets, prob, coef, alpha, mask)
    np.testing.assert_allclose(grad[0, :, 0] - grad[0, :, 1], fd_grad, rtol=1e-7)
    step = _multinomial.newton_direction(
        np, design, weight, prob, grad, alpha, mask, centred=True
    )
    np.testing.assert_allclose(-fd_hessian @ step[0, :, 0], fd_grad, rtol=1e-5)


def test_two_column_step_from_subsampled_and_certain_rows(monkeypatch):
    # beyond HESSIAN_ROWS the d x d step is built from the same rows, weighted
    # by their strides, as the 2d x 2d one (whose certain rows take their own,
    # cancellation-free, sum)
    from skmoe import _multinomial

    monkeypatch.setattr(_multinomial, "HESSIAN_ROWS", 64)
    monkeypatch.setattr(_multinomial, "CERTAIN_ROWS", 16)
    design, weight, targets, prob, coef = two_column_problem(
        2, n_problems=2, n=600, spread=12.0
    )
    certain = 1 - prob.max(axis=1).min(axis=0) <= _multinomial.CERTAIN
    assert 50 < certain.sum() < 550
    mask = np.ones((design.shape[0], 1))
    mask[0] = 0
    grad = two_column_gradient(design, weight, targets, prob, coef, 1e-3, mask)
    args = (np, design, weight, prob, grad, 1e-3, mask)
    step = _multinomial.newton_direction(*args, centred=True)
    monkeypatch.setattr(_multinomial, "BINARY_STEP", False)
    full = _multinomial.newton_direction(*args, centred=True)
    size = np.abs(full).max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(step / size, full / size, atol=1e-8)


def test_two_column_step_in_float32_is_float64s_to_float32_rounding():
    # the d x d Hessian's weights s p_0 p_1 do not cancel; the 2d x 2d one's
    # blocks minus Z Z^T do, and its rounding-noise term (16 (2 d) eps of the
    # largest block diagonal) took the float32 step 1.2e-4 of its size away
    # here (this one: 8.7e-7), 1.7e-3 on the digits' shapes
    from skmoe import _multinomial

    design, weight, targets, prob, coef = two_column_problem(
        3, n_problems=1, d=12, n=2000, spread=0.3
    )
    mask = np.ones((design.shape[0], 1))
    mask[0] = 0
    grad = two_column_gradient(design, weight, targets, prob, coef, 1e-3, mask)
    expected = brute_centred_newton_step(
        design, weight[0], prob[0], grad[0], 1e-3, mask
    )
    args = [a.astype(np.float32) for a in (design, weight, prob, grad)]
    step = _multinomial.newton_direction(
        np, *args, 1e-3, mask.astype(np.float32), centred=True
    )
    assert step.dtype == np.float32
    scale = np.abs(expected).max()
    np.testing.assert_allclose(step[0] / scale, expected / scale, atol=1e-5)


def test_two_column_step_in_array_api_strict_matches_numpy():
    from skmoe import _multinomial

    design, weight, targets, prob, coef = two_column_problem(4, n=700)
    mask = np.ones((design.shape[0], 1))
    mask[0] = 0
    grad = two_column_gradient(design, weight, targets, prob, coef, 1e-2, mask)
    arrays = (design, weight, prob, grad)
    expected = _multinomial.newton_direction(np, *arrays, 1e-2, mask, centred=True)
    xp = array_api_strict
    step = _multinomial.newton_direction(
        xp, *[xp.asarray(a) for a in arrays], 1e-2, xp.asarray(mask), centred=True
    )
    np.testing.assert_allclose(to_numpy(step), expected, rtol=1e-10, atol=1e-14)


def test_two_column_step_of_a_gate_certain_about_every_sample_moves():
    # a warm start from a gate whose logits are 280 to 520 apart (intercepts
    # shifted by 200): every sample's p_0 p_1 is below eps**2, so the data term
    # is flat and the penalty's Newton step takes the feature row to its
    # minimum, 0. The d x d Hessian's intercept row was 0 there (no penalty),
    # a rounding-level gradient made a step of 1e198 that the line search
    # refused with the feature row's: the coefficient stayed at 58.7
    import copy
    import warnings

    from skmoe import MoERegressor

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(400, 1))
    sign = np.where(x[:, 0] > 0, 1.0, -1.0)
    y = sign * (3 * x[:, 0] + 2) + 0.3 * rng.normal(size=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = MoERegressor(2, random_state=0, warm_start=True).fit(x, y)
        slope = np.abs(fitted.gate_coef_).max()
        assert slope > 10  # the sharp gate between the two lines
        model = copy.deepcopy(fitted)
        model.gate_intercept_ = model.gate_intercept_ + np.array([200.0, -200.0])
        model.fit(x, y)
    logits = model.gate_intercept_ + x @ model.gate_coef_.T
    assert np.min(np.abs(logits[:, 0] - logits[:, 1])) > 100  # still certain
    assert np.max(np.abs(model.gate_coef_)) <= 1e-10 * slope


@pytest.mark.parametrize("joint", [False, True])
def test_halving_bound_brings_a_step_far_too_long_within_reach(joint):
    # problem 0: intercepts 60 logits for class 0 against labels half 1, a
    # step 1e17 logits long along the intercepts (as a Newton step of Hessian
    # weights e^-60 is): 20 halvings refused it all. With the bound, the
    # second trial moves no logit by more than the bound; problem 1's step of
    # one logit is taken whole, as before (alone; jointly it shares t)
    from skmoe import _multinomial

    rng = np.random.default_rng(0)
    n, d = 200, 3
    design = np.vstack([np.ones(n), rng.normal(size=(d - 1, n))])
    y = (rng.normal(size=n) > 0).astype(float)
    Y = np.stack([1 - y, y])
    coef = np.zeros((2, d, 2))
    coef[:, 0, 0], coef[:, 0, 1] = 30, -30
    targets = np.full((2, 1, n), 1 / n) * Y[None]
    mask = np.ones((d, 1))
    mask[0] = 0
    alpha = 1e-3
    direction = np.zeros((2, d, 2))
    direction[0, 0], direction[1, 0] = [-1e17, 1e17], [-0.5, 0.5]
    direction[:, 1:] = 0.1

    def objective(t):  # closed form, per problem
        new = coef + t[:, None, None] * direction
        log_p = log_softmax(np.einsum("bdm,dn->bmn", new, design), axis=1)
        return np.sum(targets * log_p, axis=(1, 2)) - 0.5 * alpha * np.sum(
            mask * new**2, axis=(1, 2)
        )

    def line():
        log_p = log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1)
        return _multinomial.Line(np, design, targets, log_p, coef, alpha, mask)

    old = line().halving(direction, 20, joint=joint)
    t = line().halving(direction, 20, joint=joint, bound=1000.0)
    reach = np.abs(np.einsum("bdm,dn->bmn", direction, design)).max(axis=(1, 2))
    assert old[0] == 0  # (the defect)
    assert 0 < t[0] and t[0] * reach[0] <= 1000
    # the longest of bound / 2**k that does not lower the objective
    assert objective(2 * t)[0] < objective(np.zeros(2))[0]
    gain = objective(t) - objective(np.zeros(2))
    if joint:
        assert t[0] == t[1] and np.sum(gain) > 0
    else:
        assert t[1] == old[1] == 1
        assert np.all(gain > 0)


def test_halving_bound_reads_the_reach_of_falling_logits():
    # reach() is the largest |change| of any logit, falling ones included: a
    # step that lowers class 0's logits by 1e17 (class 1's unchanged; not a
    # centred direction) moves no logit up, and a reach of the rises alone
    # (0) left it unbounded: 20 halvings refused it all, as before the bound.
    # Intercepts 60 logits for class 0 against labels half 1: lowering class
    # 0 gains, up to ~60 logits
    from skmoe import _multinomial

    rng = np.random.default_rng(1)
    n, d = 200, 3
    design = np.vstack([np.ones(n), rng.normal(size=(d - 1, n))])
    y = (rng.normal(size=n) > 0).astype(float)
    targets = np.full((1, 1, n), 1 / n) * np.stack([1 - y, y])[None]
    coef = np.zeros((1, d, 2))
    coef[0, 0] = [30.0, -30.0]
    mask = np.ones((d, 1))
    mask[0] = 0
    alpha = 1e-3
    direction = np.zeros((1, d, 2))
    direction[0, 0, 0] = -1e17

    def objective(t):  # closed form
        new = coef + t * direction
        log_p = log_softmax(np.einsum("bdm,dn->bmn", new, design), axis=1)
        return np.sum(targets * log_p) - 0.5 * alpha * np.sum(mask * new**2)

    log_p = log_softmax(np.einsum("bdm,dn->bmn", coef, design), axis=1)
    line = _multinomial.Line(np, design, targets, log_p, coef, alpha, mask)
    t = line.halving(direction, 20, bound=1000.0)
    moved = np.einsum("bdm,dn->bmn", direction, design)
    assert moved.max() == 0 and -moved.min() == 1e17
    assert 0 < t[0] and t[0] * 1e17 <= 1000
    assert objective(t[0]) > objective(0.0)
