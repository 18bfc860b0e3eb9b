"""The numerics use only the Array API standard; devices and dispatch plumbing.

array-api-strict stands in for a GPU namespace on this CPU-only machine: if the
numerics ran a NumPy-only function, they would fail here.
"""

import dataclasses
import os
import pickle
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import StratifiedKFold, cross_val_predict

import skmoe._backend as backend_module
from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
    bootstrap_lrt,
)
from skmoe._em import EMProblem, run_em
from skmoe._groups import Groups
from skmoe._math import design_matrix
from skmoe.exceptions import DegenerateFitWarning, SkmoeWarning
from skmoe.experts import (
    GammaExperts,
    GaussianLinearExperts,
    LogisticExperts,
    NegativeBinomialExperts,
    PoissonExperts,
    StudentTLinearExperts,
    logistic,
)
from skmoe.experts.poisson import encode_counts
from skmoe.gates import ConstantGate, GaussianGate, HierarchicalGate, SoftmaxGate

xps = pytest.importorskip("array_api_strict")

dispatch = pytest.mark.skipif(
    os.environ.get("SCIPY_ARRAY_API") != "1",
    reason="scikit-learn's Array API dispatch needs SCIPY_ARRAY_API=1 at import",
)


def _regression(n=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 2)
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1]) + 0.1 * rng.randn(n)
    return X, y


@pytest.mark.parametrize(
    "gate", [SoftmaxGate(), ConstantGate(), GaussianGate(), HierarchicalGate()]
)
@pytest.mark.parametrize(
    "family",
    [
        "gaussian",
        "logistic",
        "poisson",
        "gaussian_shared",
        "student_t",
        "student_t_shared",
        "poisson_shared",
        "poisson_exposure",
        "poisson_zero",
        "logistic_shared",
        "logistic_shared_cg",
        "gamma",
        "gamma_shared",
        "gamma_zero",
        "negative_binomial",
        "negative_binomial_zero",
        "negative_binomial_no_unique",
    ],
)
def test_run_em_in_array_api_strict_matches_numpy(gate, family, monkeypatch):
    _check_run_em_matches_numpy(gate, family, monkeypatch, max_iter=20)


@pytest.mark.parametrize(
    "gate", [SoftmaxGate(), ConstantGate(), GaussianGate(), HierarchicalGate()]
)
@pytest.mark.parametrize(
    "family",
    ["gaussian", "student_t", "logistic", "poisson_zero", "gamma", "negative_binomial"],
)
def test_squarem_in_array_api_strict_matches_numpy(gate, family, monkeypatch):
    # the extrapolation (in logs for variances and dispersions) and its
    # fallback use only the standard
    _check_run_em_matches_numpy(
        gate, family, monkeypatch, max_iter=6, acceleration="squarem"
    )


def test_softmax_gate_kernel_newton_step_in_array_api_strict_matches_numpy(
    monkeypatch,
):
    # more coefficient rows (D + 1 = 61) than samples (30): the gate's exact
    # Newton step in kernel form (checked to be taken in both namespaces)
    import skmoe._multinomial as multinomial

    calls = []
    original = multinomial.newton_direction_kernel

    def record(xp, *args, **kwargs):
        calls.append(xp)
        return original(xp, *args, **kwargs)

    monkeypatch.setattr(multinomial, "newton_direction_kernel", record)
    rng = np.random.RandomState(0)
    X = rng.randn(30, 60)
    weighted = rng.dirichlet(np.ones(3), size=30).T / 30
    results = []
    for xp, convert in [(np, np.asarray), (xps, xps.asarray)]:
        design = design_matrix(xp, convert(X))
        gate = SoftmaxGate()
        params = gate.initial_params(xp, design, 3)
        log_gate = gate.log_gate(xp, design, params)
        prepared = gate.prepare(xp, design, convert(weighted.sum(axis=0)), 1e-2)
        params = gate.m_step(
            xp, design, convert(weighted), log_gate, params, 1e-2, prepared, 3
        )
        results.append(np.asarray(params["coef"]))
    assert calls == [np] * 3 + [xps] * 3
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9, atol=1e-12)
    assert np.max(np.abs(results[0])) > 1e-2


def _count_matmuls(monkeypatch):
    """A list that gains an entry per matrix product of array-api-strict arrays."""
    calls = []
    Array = type(xps.asarray(1.0))
    for owner, names in [
        (Array, ("__matmul__", "__rmatmul__", "__imatmul__")),
        (xps, ("matmul", "tensordot", "vecdot")),
        (xps.linalg, ("matmul", "tensordot", "vecdot")),
    ]:
        for name in names:
            original = getattr(owner, name, None)
            if original is None:
                continue

            def counted(*args, _original=original, **kwargs):
                calls.append(1)
                return _original(*args, **kwargs)

            monkeypatch.setattr(owner, name, counted)
    return calls


def test_device_newton_step_and_grams_batch_over_experts(monkeypatch):
    # on a GPU each product is a kernel launch: the softmax gate's Newton step
    # (B = 1 problem, m = K columns) and the experts' weighted Gram matrices
    # take as many matrix products for 8 experts as for 3 (the per-expert
    # loops made K + 1 and K), with NumPy's numbers; 2 experts' d x d step
    # (_multinomial.BINARY_STEP) no more
    import skmoe._multinomial as multinomial
    from skmoe._math import weighted_grams

    calls = _count_matmuls(monkeypatch)
    rng = np.random.RandomState(0)
    n, d = 600, 4
    design = np.vstack([np.ones(n), rng.randn(d - 1, n) * [[1.0], [3.0], [0.1]]])
    mask = np.ones((d, 1))
    mask[0] = 0
    counts = {}
    for K in (2, 3, 8):
        sample_weight = rng.rand(1, n) / n
        prob = rng.dirichlet(np.ones(K), size=n).T[None]  # (1, K, n)
        grad = rng.randn(1, d, K)
        grad -= grad.mean(axis=2, keepdims=True)
        weights = rng.rand(K, n)
        means = rng.randn(d, K)
        args = (design, sample_weight, prob, grad)
        step = multinomial.newton_direction(np, *args, 0.1, mask, centred=True)
        grams = weighted_grams(np, design, weights)
        centred = weighted_grams(np, design, weights, means)
        # independently of both namespaces' code: the Gram matrices by einsum
        z = design[None] - means.T[:, :, None]
        np.testing.assert_allclose(
            grams, np.einsum("kn,an,bn->kab", weights, design, design), rtol=1e-12
        )
        np.testing.assert_allclose(
            centred, np.einsum("kn,kan,kbn->kab", weights, z, z), rtol=1e-12
        )
        on = [xps.asarray(a) for a in (*args, mask, weights, means)]
        calls.clear()
        device_step = multinomial.newton_direction(
            xps, *on[:4], 0.1, on[4], centred=True
        )
        counts[K, "newton"] = len(calls)
        calls.clear()
        device_grams = weighted_grams(xps, on[0], on[5])
        device_centred = weighted_grams(xps, on[0], on[5], on[6])
        counts[K, "grams"] = len(calls)
        assert np.max(np.abs(step)) > 1e-2
        for found, expected in [
            (device_step, step),
            (device_grams, grams),
            (device_centred, centred),
        ]:
            found = np.asarray(found)
            scale = np.max(np.abs(expected))
            assert np.max(np.abs(found - expected)) <= 1e-10 * scale
    assert counts[3, "newton"] == counts[8, "newton"] > 0
    assert 0 < counts[2, "newton"] <= counts[3, "newton"]
    assert counts[2, "grams"] == counts[8, "grams"] > 0


@pytest.mark.parametrize("n_problems, centred, d", [(1, True, 3), (3, False, 1)])
def test_device_hessian_over_sample_blocks_matches_einsum(
    monkeypatch, n_problems, centred, d
):
    # the stacked Hessian off NumPy over three blocks of samples (the last one
    # short), for a stack of problems and for m < the columns: its blocks,
    # ridge and largest block diagonals against einsum, and the step NumPy's
    import skmoe._multinomial as multinomial

    monkeypatch.setattr(multinomial, "DEVICE_NEWTON_BYTES", 1)  # 256 samples
    rng = np.random.RandomState(1)
    n, columns, alpha = 700, 4, 0.3
    design = rng.randn(d, n) * np.linspace(1.0, 5.0, d)[:, None]
    sample_weight = rng.rand(n_problems, n) / n
    prob = rng.dirichlet(np.ones(columns), size=(n_problems, n)).transpose(0, 2, 1)
    grad = rng.randn(n_problems, d, columns)
    grad -= grad.mean(axis=2, keepdims=True)
    mask = np.ones((d, 1))
    mask[0] = 0 if d > 1 else 1
    m = columns if centred else columns - 1
    ridge = alpha * np.diag(mask[:, 0])
    hessian, gross = multinomial._device_hessian(
        xps,
        *(xps.asarray(a) for a in (design, sample_weight, prob, ridge)),
        m,
        256,
    )
    p = prob[:, :m]
    outer = np.einsum("bn,bjn,bkn,an,cn->bjakc", sample_weight, p, p, design, design)
    blocks = np.einsum("bn,bjn,an,cn->bjac", sample_weight, p, design, design) + ridge
    expected = -outer
    for j in range(m):
        expected[:, j, :, j, :] += blocks[:, j]
    expected = expected.reshape(n_problems, m * d, m * d)
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(np.asarray(hessian) - expected)) <= 1e-12 * scale
    diagonals = np.max(np.diagonal(blocks, axis1=2, axis2=3), axis=1)
    np.testing.assert_allclose(np.asarray(gross), diagonals, rtol=1e-12)
    args = (design, sample_weight, prob, grad, alpha, mask)
    step = multinomial.newton_direction(np, *args, centred=centred)
    found = multinomial.newton_direction(
        xps,
        *(xps.asarray(a) if isinstance(a, np.ndarray) else a for a in args),
        centred=centred,
    )
    assert np.max(np.abs(step)) > 1e-2
    assert np.max(np.abs(np.asarray(found) - step)) <= 1e-10 * np.max(np.abs(step))


def test_device_grams_in_groups_match_einsum_within_their_bytes(monkeypatch):
    # groups of rows that do not divide the 7 rows, and all of a group's
    # (group, d, n) temporaries within DEVICE_GRAM_BYTES: two with means (the
    # centred columns and their weighted copy), which took twice the budget
    # when the groups were sized by one
    import tracemalloc

    import skmoe._math as math_module

    rng = np.random.RandomState(2)
    d, n, K = 5, 20000, 7
    budget = 4 * d * n * 8  # four (d, n) float64 arrays
    monkeypatch.setattr(math_module, "DEVICE_GRAM_BYTES", budget)
    design = rng.randn(d, n)
    weights = rng.rand(K, n)
    means = rng.randn(d, K)
    z = design[None] - means.T[:, :, None]
    on = [xps.asarray(a) for a in (design, weights, means)]
    for args, expected in [
        (on[:2], np.einsum("kn,an,bn->kab", weights, design, design)),
        (on, np.einsum("kn,kan,kbn->kab", weights, z, z)),
    ]:
        tracemalloc.start()
        try:
            grams = math_module.weighted_grams(xps, *args)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_allclose(np.asarray(grams), expected, rtol=1e-12)
        assert budget * 0.9 <= peak <= budget * 1.1


def test_device_grams_one_row_at_a_time_take_2d_products(monkeypatch):
    # where one row's temporaries fill DEVICE_GRAM_BYTES (a GPU's largest
    # fits), 2-D products as the loop over rows made: CuPy's stacked matmul
    # copies its operands C-contiguous first, design.T among them, per group
    import skmoe._math as math_module

    monkeypatch.setattr(math_module, "DEVICE_GRAM_BYTES", 1)
    shapes = []
    Array = type(xps.asarray(1.0))
    matmul = Array.__matmul__

    def recorded(a, b):
        shapes.append((a.ndim, b.ndim))
        return matmul(a, b)

    monkeypatch.setattr(Array, "__matmul__", recorded)
    rng = np.random.RandomState(3)
    d, n, K = 4, 300, 3
    design, weights, means = rng.randn(d, n), rng.rand(K, n), rng.randn(d, K)
    z = design[None] - means.T[:, :, None]
    on = [xps.asarray(a) for a in (design, weights, means)]
    for args, expected in [
        (on[:2], np.einsum("kn,an,bn->kab", weights, design, design)),
        (on, np.einsum("kn,kan,kbn->kab", weights, z, z)),
    ]:
        shapes.clear()
        grams = math_module.weighted_grams(xps, *args)
        np.testing.assert_allclose(np.asarray(grams), expected, rtol=1e-12)
        assert shapes == [(2, 2)] * K


def test_device_grams_of_no_rows():
    # no weights rows (no experts): (0, d, d), as NumPy's
    import skmoe._math as math_module

    rng = np.random.RandomState(4)
    design, weights, means = rng.randn(3, 50), rng.rand(0, 50), rng.randn(3, 0)
    for args in [(design, weights), (design, weights, means)]:
        expected = math_module.weighted_grams(np, *args)
        assert expected.shape == (0, 3, 3)
        on = [xps.asarray(a) for a in args]
        grams = math_module.weighted_grams(xps, *on)
        assert tuple(grams.shape) == (0, 3, 3)
        assert grams.dtype == xps.float64


def test_host_scalars_reads_float64_numbers_exactly():
    # the objective is read through host_scalars at each EM iteration: float64
    # values come back exactly (not rounded through float32), float32 ones as
    # their exact values, booleans as bools, in the order given
    values = [1 / 3, 1e300, -2.5e-310, 0.1]
    arrays = [xps.asarray(v, dtype=xps.float64) for v in values]
    small = xps.asarray(0.1, dtype=xps.float32)
    read = backend_module.host_scalars(
        xps, *arrays, xps.asarray(False), small, xps.asarray(True)
    )
    assert read == [*values, False, float(np.float32(0.1)), True]
    assert [type(v) for v in read] == [float] * 4 + [bool, float, bool]
    assert backend_module.host_scalars(np, *map(np.asarray, values)) == values


def test_cold_logistic_m_step_at_its_optimum_stops_after_one_step(monkeypatch):
    # zero coefficients are the optimum (x symmetric about 0 in each class,
    # classes balanced: the gradient at 0 is exactly 0): NumPy stops before a
    # line search; off NumPy, whether the start was cold is read with the
    # first line search's first test, after which the M-step stops too (not
    # after another Newton step)
    import skmoe._multinomial as multinomial

    calls = []
    halving, newton = multinomial.Line.halving, multinomial.newton_direction

    def counted(self, *args, **kwargs):
        calls.append("line search")
        return halving(self, *args, **kwargs)

    def direction(*args, **kwargs):
        calls.append("Newton step")
        return newton(*args, **kwargs)

    monkeypatch.setattr(multinomial.Line, "halving", counted)
    monkeypatch.setattr(multinomial, "newton_direction", direction)
    X = np.tile([[-1.0], [1.0], [-1.0], [1.0]], (5, 1))
    Y = np.eye(2)[np.tile([0, 0, 1, 1], 5)].T
    resp = np.full((2, 20), 0.05)
    experts = LogisticExperts(n_classes=2)
    found = {}
    for xp, convert in [(np, np.asarray), (xps, xps.asarray)]:
        calls.clear()
        design = design_matrix(xp, convert(X))
        params = experts.initial_params(xp, design, convert(Y), 2)
        params = experts.m_step(xp, design, convert(Y), convert(resp), params, 1e-3)
        found[xp.__name__] = list(calls), np.asarray(params["coef"])
    assert found["numpy"][0] == ["Newton step"]
    assert found[xps.__name__][0] == ["Newton step", "line search"]
    for _, coef in found.values():
        np.testing.assert_array_equal(coef, 0.0)


def _check_run_em_matches_numpy(gate, family, monkeypatch, **options):
    X, y = _regression()
    shared = (2,) if "_shared" in family else ()  # x1's coefficient
    if family.endswith("_cg"):  # the truncated Newton (conjugate-gradient) steps
        monkeypatch.setattr(logistic, "NEWTON_MAX_COEF", 0)
    if family.startswith("gaussian"):
        experts, Y = GaussianLinearExperts(variance_floor=1e-6, shared=shared), y
    elif family.startswith("student_t"):
        experts, Y = StudentTLinearExperts(1e-6, df=3.0, shared=shared), y
    elif family.startswith("poisson"):
        counts = np.round(np.exp(y / 2))
        exposure = None
        if family.endswith("exposure"):  # the offset log(exposure)
            exposure = np.random.RandomState(3).uniform(0.2, 5, size=len(y))
        if family.endswith("zero"):  # a point mass at zero, expert 0
            counts[::3] = 0
        experts = PoissonExperts(shared, zero_inflated=family.endswith("zero"))
        Y = encode_counts(counts, exposure)
    elif family.startswith("negative_binomial"):
        rng = np.random.RandomState(5)
        mean = np.exp(y / 2)
        counts = rng.negative_binomial(3.0, 3.0 / (3.0 + mean)).astype(float)
        zero = family.endswith("zero")
        if zero:  # a point mass at zero, expert 0
            counts[::3] = 0
        experts = NegativeBinomialExperts(zero_inflated=zero)
        Y = encode_counts(counts)
        if family.endswith("no_unique"):  # as torch's: per sample, not per count

            def unique_all(x):
                raise NotImplementedError("unique_all() not yet implemented")

            monkeypatch.setattr(xps, "unique_all", unique_all)
    elif family.startswith("gamma"):
        amounts = np.exp(y / 2)
        log_amounts = y / 2
        zero = family.endswith("zero")
        if zero:  # a point mass at zero, expert 0
            amounts[::3], log_amounts[::3] = 0.0, 0.0
        experts = GammaExperts(1e-10, shared, zero_inflated=zero)
        Y = np.stack([amounts, log_amounts])
    else:
        experts = LogisticExperts(n_classes=2, shared=shared)
        Y = np.eye(2)[(y > 0).astype(int)].T
    resp = np.random.RandomState(1).dirichlet([1, 1, 1], size=len(y)).T
    weights = np.random.RandomState(2).uniform(0.5, 2, size=len(y))
    results = []
    for xp, convert in [(np, np.asarray), (xps, xps.asarray)]:
        problem = EMProblem(
            design_matrix(xp, convert(X)),
            convert(Y),
            convert(weights),
            gate,
            experts,
            1e-3,
        )
        results.append(run_em(problem, resp=convert(resp), tol=0, **options))
    reference, strict = results
    _assert_same_history(strict, reference)
    for name in reference.expert_params:
        np.testing.assert_allclose(
            np.asarray(strict.expert_params[name]),
            reference.expert_params[name],
            rtol=1e-6,
            atol=1e-9,
        )


@dispatch
@pytest.mark.parametrize("df", [3.0, 1.5])
def test_student_t_regressor_under_dispatch_matches_numpy(df):
    X, y = _regression()
    params = dict(n_experts=2, noise="student_t", df=df, n_init=2, random_state=0)
    reference = MoERegressor(**params).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        model = MoERegressor(**params).fit(Xs, ys)
        mean, std = model.predict(Xs, return_std=True)
        for out in (mean, std):
            assert isinstance(out, type(Xs))
        expected_mean, expected_std = reference.predict(X, return_std=True)
        np.testing.assert_allclose(np.asarray(mean), expected_mean, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(std), expected_std, rtol=1e-6)
        assert np.all(np.isinf(expected_std)) == (df <= 2)
        np.testing.assert_allclose(
            model.log_likelihood_, reference.log_likelihood_, rtol=1e-8
        )


@dispatch
def test_k_means_keeps_the_hosts_threads_for_fits_on_another_namespace(monkeypatch):
    # NumPy fits run the start's k-means on one OpenMP thread (as BLAS); a fit
    # on another namespace (a GPU's) leaves the host's cores to it: on an H200
    # machine, 9.3 s against 3.7 s for a 1e6 x 8, K=16 fit's first iteration
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_info, threadpool_limits

    def openmp_threads():
        return {
            p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"
        }

    seen = []
    fit = KMeans.fit
    monkeypatch.setattr(
        KMeans,
        "fit",
        lambda self, *a, **k: seen.append(openmp_threads()) or fit(self, *a, **k),
    )
    X, y = _regression()
    with threadpool_limits(limits=2, user_api="openmp"):
        if openmp_threads() != {2}:
            pytest.skip("no OpenMP library loaded")
        MoERegressor(2, n_init=1, random_state=0).fit(X, y)
        assert seen == [{1}]
        with sklearn.config_context(array_api_dispatch=True):
            MoERegressor(2, n_init=1, random_state=0).fit(
                xps.asarray(X), xps.asarray(y)
            )
        assert seen == [{1}, {2}]


def _host_reads(monkeypatch, fit, *args):
    """How many times ``fit(*args)`` read an array-api-strict array on the
    host (float, bool, int, index, or an export): on a GPU each read waits
    for it."""
    reads = []
    array = type(xps.asarray(1.0))
    names = ("__float__", "__bool__", "__int__", "__index__", "__array__")
    with monkeypatch.context() as patch:
        for name in (*names, "__dlpack__", "tolist", "item"):
            method = getattr(array, name, None)
            if method is not None:

                def counted(self, *a, _method=method, **kw):
                    reads.append(1)
                    return _method(self, *a, **kw)

                patch.setattr(array, name, counted)
        fit(*args)
    return len(reads)


@dispatch
@pytest.mark.parametrize(
    "Estimator, per_iteration",
    [
        # the objective and the gate's line search (its first trial's test)
        (MoERegressor, 2),
        # and the logistic experts' line search, whose first test also reads
        # whether the M-step is warm
        (MoEClassifier, 3),
    ],
)
def test_an_em_iteration_reads_few_numbers_from_the_device(
    Estimator, per_iteration, monkeypatch
):
    # an EM iteration whose line searches accept their first trials (full
    # steps, as here) reads the objective and the two scalars in one transfer
    # each; it read 5 (regressor) and 7 (classifier), each a GPU wait: the
    # objective's sum of weights (the same at every iteration) and its two
    # numbers apart, the gate's step length, whether the experts were warm
    X, y = _regression(n=300)
    if Estimator is MoEClassifier:
        y = y > 0
    reads = {}
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        for max_iter in (1, 6):
            model = Estimator(2, n_init=1, max_iter=max_iter, tol=0, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (short fits' warnings)
                reads[max_iter] = _host_reads(monkeypatch, model.fit, Xs, ys)
            assert model.n_iter_ == max_iter
    assert reads[1] > 0  # the counting sees the fit's reads
    assert reads[6] - reads[1] <= 5 * per_iteration


@dispatch
def test_regressor_under_dispatch_matches_numpy():
    X, y = _regression()
    reference = MoERegressor(2, n_init=2, random_state=0).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        model = MoERegressor(2, n_init=2, random_state=0).fit(Xs, ys)
        mean, std = model.predict(Xs, return_std=True)
        gate = model.predict_gate(Xs)
        for out in (mean, std, gate):
            assert isinstance(out, type(Xs))
        np.testing.assert_allclose(np.asarray(mean), reference.predict(X), rtol=1e-6)
        np.testing.assert_allclose(
            np.asarray(std), reference.predict(X, return_std=True)[1], rtol=1e-6
        )
        np.testing.assert_allclose(
            np.asarray(gate), reference.predict_gate(X), rtol=1e-6, atol=1e-12
        )
        np.testing.assert_allclose(model.bic(Xs, ys), reference.bic(X, y), rtol=1e-6)
        np.testing.assert_allclose(model.icl(Xs, ys), reference.icl(X, y), rtol=1e-6)
        # weighted, with rows of weight 0 left out (taken from Xs on its device)
        weight = np.random.RandomState(1).uniform(0, 2, len(y))
        weight[::7] = 0.0
        ws = xps.asarray(weight)
        for method in ("bic", "aic", "icl"):
            np.testing.assert_allclose(
                getattr(model, method)(Xs, ys, ws),
                getattr(reference, method)(X, y, weight),
                rtol=1e-6,
            )
        for method in ("log_likelihood_samples", "responsibilities"):
            got = getattr(model, method)(Xs, ys)
            assert isinstance(got, type(Xs))
            np.testing.assert_allclose(
                np.asarray(got), getattr(reference, method)(X, y), rtol=1e-6, atol=1e-9
            )
        # messages name the dtype, not array_api_strict's repr of it
        far = xps.asarray(np.full((1, 2), 1e308))
        with (
            np.errstate(all="ignore"),
            pytest.raises(ValueError, match="outputs overflow float64 at some"),
        ):
            model.predict(far)
        model32 = MoERegressor(2, n_init=1, random_state=0)
        model32.fit(
            xps.asarray(X, dtype=xps.float32), xps.asarray(y, dtype=xps.float32)
        )
        with (
            np.errstate(all="ignore"),
            pytest.raises(ValueError, match="outputs overflow float32 at some"),
        ):
            model32.predict(xps.asarray(np.full((1, 2), 3e38), dtype=xps.float32))


@dispatch
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gaussian_gate_under_dispatch_matches_numpy(covariance_type, monkeypatch):
    import skmoe.gates.gaussian as gaussian

    X, y = _regression()
    X = np.column_stack([X, np.random.RandomState(3).randn(len(y))])
    params = dict(gate="gaussian", gate_covariance_type=covariance_type)
    params.update(gate_features=[0, 2], n_init=2, random_state=0)
    reference = MoERegressor(2, **params).fit(X, y)
    monkeypatch.setattr(gaussian, "LOGIT_BLOCK", 7)  # logits in blocks of samples
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        model = MoERegressor(2, **params).fit(Xs, ys)
        for method in ("predict", "predict_gate", "gate_log_density"):
            got = getattr(model, method)(Xs)
            assert isinstance(got, type(Xs)), method
            np.testing.assert_allclose(
                np.asarray(got),
                getattr(reference, method)(X),
                rtol=1e-6,
                atol=1e-12,
                err_msg=method,
            )


@dispatch
@pytest.mark.parametrize(
    "Estimator", [MoERegressor, MoEClassifier, MoEPoissonRegressor, MoEGammaRegressor]
)
def test_std_errors_under_dispatch_match_numpy(Estimator):
    X, y = _regression()
    if Estimator is MoEClassifier:
        y = (y > 0).astype(int)
    elif Estimator is MoEPoissonRegressor:
        y = np.round(np.exp(y / 2))
    elif Estimator is MoEGammaRegressor:
        y = np.exp(y / 2)
    reference = Estimator(2, n_init=2, random_state=0).fit(X, y)
    expected = reference.std_errors(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        model = Estimator(2, n_init=2, random_state=0).fit(Xs, ys)
        got = model.std_errors(Xs, ys)
    assert set(got) == set(expected)
    for name, value in got.items():
        assert isinstance(value, type(Xs)), name
        np.testing.assert_allclose(np.asarray(value), expected[name], rtol=1e-4)


@dispatch
def test_covariance_under_dispatch_is_float64_for_float32_input():
    # cast to float32, the covariance of intercepts of a feature of mean 5000
    # gave a contrast's variance -12 times float64's
    X, y = _regression()
    X = X + 5000.0
    reference = MoERegressor(2, n_init=1, random_state=0).fit(X, y)
    expected = reference.std_errors(X, y, return_cov=True)
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xps.asarray(X.astype(np.float32))
        model = MoERegressor(2, n_init=1, random_state=0)
        model.fit(Xs, xps.asarray(y.astype(np.float32)))
        got = model.std_errors(Xs, xps.asarray(y.astype(np.float32)), return_cov=True)
    assert got.covariance.dtype == xps.float64
    assert got.expert_coef_.dtype == xps.float32  # the standard errors, as X
    assert got.parameters == expected.parameters
    # expert 0's mean at the data's centre: a contrast of intercept and slopes
    c = np.zeros(len(got.parameters))
    c[got.parameters.index("expert_intercept_[0]")] = 1.0
    for j in range(X.shape[1]):
        c[got.parameters.index(f"expert_coef_[0, {j}]")] = X[:, j].mean()
    variance = c @ np.asarray(got.covariance) @ c
    assert variance == pytest.approx(c @ expected.covariance @ c, rel=0.05)


def _check_log_link_outputs(model, reference, Xs, ys, X, y):
    """predict (with std), score and log_likelihood_samples of a model fitted
    under dispatch against its NumPy reference; outputs in the input's
    namespace."""
    mean, std = model.predict(Xs, return_std=True)
    assert isinstance(mean, type(Xs)) and isinstance(std, type(Xs))
    for got, expected in zip(
        (mean, std), reference.predict(X, return_std=True), strict=True
    ):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)
    np.testing.assert_allclose(model.score(Xs, ys), reference.score(X, y), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(model.log_likelihood_samples(Xs, ys)),
        reference.log_likelihood_samples(X, y),
        rtol=1e-6,
    )


@dispatch
def test_poisson_regressor_under_dispatch_matches_numpy():
    X, y = _regression()
    counts = np.round(np.exp(y / 2))
    reference = MoEPoissonRegressor(2, n_init=2, random_state=0).fit(X, counts)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(counts)
        model = MoEPoissonRegressor(2, n_init=2, random_state=0).fit(Xs, ys)
        _check_log_link_outputs(model, reference, Xs, ys, X, counts)
        # the predictive distribution is held on the host, in NumPy
        dist, expected = (
            model.predict_distribution(Xs),
            reference.predict_distribution(X),
        )
        assert isinstance(dist.rates, np.ndarray)
        np.testing.assert_allclose(dist.rates, expected.rates, rtol=1e-6)
        np.testing.assert_allclose(dist.weights, expected.weights, rtol=1e-6)


@dispatch
@pytest.mark.parametrize(
    "Estimator", [MoEPoissonRegressor, MoENegativeBinomialRegressor]
)
def test_separated_zero_counts_under_dispatch_warn_as_on_numpy(Estimator):
    # with alpha=0 the check for zero counts that the features separate
    # indexed the (4, n) targets with one index, which array-api-strict (and
    # the standard) refuses: every such fit off NumPy raised an IndexError
    rng = np.random.RandomState(1)
    dummy = (rng.rand(200) < 0.2).astype(np.float64)  # 1 on zero counts only
    X = np.column_stack([rng.randn(200), dummy])
    counts = np.where(dummy == 1, 0.0, 1.0 + rng.poisson(np.exp(X[:, 0] / 2)))
    kwargs = dict(alpha=0.0, n_init=1, max_iter=30, random_state=0)
    with pytest.warns(DegenerateFitWarning, match="separate zero counts") as caught:
        reference = Estimator(2, **kwargs).fit(X, counts)
    expected = [str(w.message) for w in caught if w.category is DegenerateFitWarning]
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xps.asarray(X)
        with pytest.warns(DegenerateFitWarning, match="separate zero counts") as got:
            model = Estimator(2, **kwargs).fit(Xs, xps.asarray(counts))
        prediction = model.predict(Xs)
    assert [
        str(w.message) for w in got if w.category is DegenerateFitWarning
    ] == expected
    assert model.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(
        np.asarray(prediction), reference.predict(X), rtol=1e-6, atol=1e-9
    )


@dispatch
@pytest.mark.parametrize(
    "Estimator", [MoERegressor, MoEPoissonRegressor, MoEGammaRegressor]
)
def test_predictive_distribution_from_read_only_dlpack_views(Estimator, monkeypatch):
    # with NumPy 2.1, np.from_dlpack gave array-api-strict's arrays as
    # read-only views, and the weights normalized in place raised ("output
    # array is read-only") in the Poisson and Gamma predict_distribution
    X, y = _regression()
    target = y if Estimator is MoERegressor else np.exp(y / 2)
    if Estimator is MoEPoissonRegressor:
        target = np.round(target)
    reference = Estimator(2, n_init=1, random_state=0).fit(X, target)
    from_dlpack = np.from_dlpack

    def read_only(x, **kwargs):
        out = from_dlpack(x, **kwargs)
        out.flags.writeable = False
        return out

    monkeypatch.setattr(backend_module.np, "from_dlpack", read_only)
    with sklearn.config_context(array_api_dispatch=True):
        model = Estimator(2, n_init=1, random_state=0).fit(xps.asarray(X), target)
        dist = model.predict_distribution(xps.asarray(X))
    expected = reference.predict_distribution(X)
    np.testing.assert_allclose(dist.weights, expected.weights, rtol=1e-6)
    np.testing.assert_allclose(dist.mean(), expected.mean(), rtol=1e-6)


@dispatch
@pytest.mark.parametrize("Estimator", [MoEPoissonRegressor, MoEGammaRegressor])
def test_zero_inflated_under_dispatch_matches_numpy(Estimator):
    X, y = _regression()
    if Estimator is MoEPoissonRegressor:
        target = np.round(np.exp(y / 2))
    else:
        target = np.exp(y / 2) * np.random.RandomState(4).gamma(20.0, 0.05, len(y))
    target[::3] = 0
    params = dict(n_experts=2, zero_inflated=True, n_init=2, random_state=0)
    reference = Estimator(**params).fit(X, target)
    expected = reference.std_errors(X, target)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(target)
        model = Estimator(**params).fit(Xs, ys)
        _check_log_link_outputs(model, reference, Xs, ys, X, target)
        assert isinstance(model.expert_intercept_, type(Xs))
        # the point mass: intercept -inf (and a Gamma dispersion of 0)
        for name in ("expert_intercept_", "expert_dispersion_"):
            if hasattr(reference, name):
                np.testing.assert_array_equal(
                    np.asarray(getattr(model, name))[0], getattr(reference, name)[0]
                )
        # the probability of a zero: a jump of the cdf at 0 for amounts
        np.testing.assert_allclose(
            model.predict_distribution(Xs).cdf(0.0),
            reference.predict_distribution(X).cdf(0.0),
            rtol=1e-6,
        )
        got = model.std_errors(Xs, ys)
    for name, value in got.items():
        np.testing.assert_allclose(np.asarray(value), expected[name], rtol=1e-4)


@dispatch
@pytest.mark.parametrize("top_k", [None, 1])
def test_negative_binomial_regressor_under_dispatch_matches_numpy(top_k):
    X, y = _regression()
    rng = np.random.RandomState(5)
    counts = rng.negative_binomial(3.0, 3.0 / (3.0 + np.exp(y / 2))).astype(float)
    params = dict(n_experts=2, n_init=2, top_k=top_k, random_state=0)
    reference = MoENegativeBinomialRegressor(**params).fit(X, counts)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(counts)
        model = MoENegativeBinomialRegressor(**params).fit(Xs, ys)
        assert isinstance(model.expert_dispersion_, type(Xs))
        np.testing.assert_allclose(
            np.asarray(model.expert_dispersion_),
            reference.expert_dispersion_,
            rtol=1e-6,
        )
        _check_log_link_outputs(model, reference, Xs, ys, X, counts)
        dist, expected = (
            model.predict_distribution(Xs),
            reference.predict_distribution(X),
        )
        assert isinstance(dist.dispersions, np.ndarray)
        np.testing.assert_allclose(dist.rates, expected.rates, rtol=1e-6)
        np.testing.assert_allclose(dist.dispersions, expected.dispersions, rtol=1e-6)
        if top_k is None:
            got = model.std_errors(Xs, ys)
    if top_k is None:
        expected = reference.std_errors(X, counts)
        for name, value in got.items():
            np.testing.assert_allclose(np.asarray(value), expected[name], rtol=1e-4)


@dispatch
@pytest.mark.parametrize("top_k", [None, 1])
def test_gamma_regressor_under_dispatch_matches_numpy(top_k):
    X, y = _regression()
    amounts = np.exp(y / 2) * np.random.RandomState(4).gamma(20.0, 1 / 20.0, len(y))
    params = dict(n_experts=2, n_init=2, top_k=top_k, random_state=0)
    reference = MoEGammaRegressor(**params).fit(X, amounts)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(amounts)
        model = MoEGammaRegressor(**params).fit(Xs, ys)
        assert isinstance(model.expert_dispersion_, type(Xs))
        _check_log_link_outputs(model, reference, Xs, ys, X, amounts)
        dist, expected = (
            model.predict_distribution(Xs),
            reference.predict_distribution(X),
        )
        assert isinstance(dist.means, np.ndarray)
        np.testing.assert_allclose(dist.means, expected.means, rtol=1e-6)
        np.testing.assert_allclose(dist.shapes, expected.shapes, rtol=1e-6)


@dispatch
@pytest.mark.parametrize("return_std", [False, True])
def test_gamma_predict_under_dispatch_takes_the_dispersions_once_a_chunk(
    monkeypatch, return_std
):
    # Gamma predict of all experts on array_api_strict input (4 chunks of
    # 100 rows) takes the experts' dispersions once a chunk: compute took
    # them for the NumPy work arrays (which refuse other arrays) and _parts
    # took them again; the numbers: the mixture's moments written out from
    # the model's attributes
    import skmoe._base

    X, y = _regression(n=400)
    amounts = np.exp(y / 2) * np.random.RandomState(4).gamma(20.0, 1 / 20.0, len(y))
    calls = []
    dispersions = MoEGammaRegressor._dispersions

    def counted(self, *args, **kwargs):
        calls.append(True)
        return dispersions(self, *args, **kwargs)

    with sklearn.config_context(array_api_dispatch=True):
        Xs = xps.asarray(X)
        model = MoEGammaRegressor(n_experts=3, n_init=1, random_state=0)
        model.fit(Xs, xps.asarray(amounts))
        monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 15 * 100)
        assert model._chunk_rows(Xs) == 100
        monkeypatch.setattr(MoEGammaRegressor, "_dispersions", counted)
        got = model.predict(Xs, return_std=return_std)
    assert len(calls) == 4
    mean, std = (got, None) if not return_std else got
    gate = np.asarray(model.predict_gate(X))
    coef, intercept = (
        np.asarray(a) for a in (model.expert_coef_, model.expert_intercept_)
    )
    mu = np.exp(intercept + X @ coef.T)
    expected = np.sum(gate * mu, axis=1)
    np.testing.assert_allclose(np.asarray(mean), expected, rtol=1e-12)
    if return_std:
        phi = np.asarray(model.expert_dispersion_)
        spread = phi * mu**2 + (mu - expected[:, None]) ** 2
        variance = np.sum(gate * spread, axis=1)
        np.testing.assert_allclose(np.asarray(std), np.sqrt(variance), rtol=1e-12)


@dispatch
@pytest.mark.parametrize("Estimator", [MoEPoissonRegressor, MoEGammaRegressor])
def test_a_first_partial_fit_batch_of_few_rows_stays_on_the_device(Estimator):
    # the start from the batch's mean (few rows per parameter) was made on
    # the default device and could not join the fitted coefficients
    X, y = _regression()
    target = np.exp(y / 2)
    if Estimator is MoEPoissonRegressor:
        target = np.round(target)
    device = xps.Device("device1")
    with sklearn.config_context(array_api_dispatch=True):
        model = Estimator(2, solver="sgd", random_state=0)
        for rows in (slice(0, 2), slice(2, None)):
            model.partial_fit(
                xps.asarray(X[rows], device=device),
                xps.asarray(target[rows], device=device),
            )
        Xs = xps.asarray(X, device=device)
        assert model.expert_intercept_.device == device
        assert model.predict(Xs).device == device


@dispatch
def test_partial_fit_with_exposure_on_another_device_matches_numpy():
    # the runaway check's exposure floor took the batch's exposure to NumPy
    # without host(): a device's array raised there (CuPy: TypeError)
    X, y = _regression()
    exposure = np.random.RandomState(3).uniform(0.2, 5, size=len(y))
    counts = np.round(exposure * np.exp(y / 2))
    batches = [slice(s, s + 50) for s in range(0, len(y), 50)]
    params = dict(n_experts=2, solver="sgd", learning_rate=0.1, random_state=0)
    reference = MoEPoissonRegressor(**params)
    for rows in batches:
        reference.partial_fit(X[rows], counts[rows], exposure=exposure[rows])
    device = xps.Device("device1")
    with sklearn.config_context(array_api_dispatch=True):
        model = MoEPoissonRegressor(**params)
        for rows in batches:
            Xs, ys, es = (
                xps.asarray(a[rows], device=device) for a in (X, counts, exposure)
            )
            model.partial_fit(Xs, ys, exposure=es)
        got = model.predict(xps.asarray(X, device=device))
        assert got.device == device
    np.testing.assert_allclose(
        np.asarray(got.to_device(xps.Device("CPU_DEVICE"))),
        reference.predict(X),
        rtol=1e-6,
    )
    # the floor kept: a tenth of the first batch's (lower) median exposure
    assert model._stream_y_range[3] == 0.1 * np.sort(exposure[:50])[24]


@dispatch
def test_poisson_exposure_under_dispatch_matches_numpy():
    X, y = _regression()
    exposure = np.random.RandomState(3).uniform(0.2, 5, size=len(y))
    counts = np.round(exposure * np.exp(y / 2))
    reference = MoEPoissonRegressor(2, n_init=2, random_state=0)
    reference.fit(X, counts, exposure=exposure)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys, es = (xps.asarray(a) for a in (X, counts, exposure))
        model = MoEPoissonRegressor(2, n_init=2, random_state=0)
        model.fit(Xs, ys, exposure=es)
        mean, std = model.predict(Xs, return_std=True, exposure=es)
        assert isinstance(mean, type(Xs)) and isinstance(std, type(Xs))
        expected = reference.predict(X, return_std=True, exposure=exposure)
        for got, want in zip((mean, std), expected, strict=True):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
        np.testing.assert_allclose(
            model.score(Xs, ys, exposure=es),
            reference.score(X, counts, exposure=exposure),
            rtol=1e-6,
        )


@dispatch
@pytest.mark.parametrize("solver", ["em", "sgd"])
def test_chosen_features_under_dispatch_match_numpy(solver):
    X, y = _regression()
    X = np.column_stack([X, X[:, :1] ** 2])
    options = dict(
        gate_features=[0],
        expert_features=[1, 2],
        shared_features=[2],
        solver=solver,
        random_state=0,
    )
    reference = MoERegressor(2, n_init=2, **options).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        model = MoERegressor(2, n_init=2, **options).fit(Xs, ys)
        prediction = model.predict(Xs)
        assert isinstance(prediction, type(Xs))
        np.testing.assert_allclose(
            np.asarray(prediction), reference.predict(X), rtol=1e-6, atol=1e-9
        )
        np.testing.assert_allclose(model.bic(Xs, ys), reference.bic(X, y), rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(model.gate_coef_)[:, 1:], 0)
        shared = np.asarray(model.expert_coef_)[:, 2]
        np.testing.assert_array_equal(shared, shared[0])


@dispatch
def test_partial_fit_under_dispatch_matches_numpy():
    X, y = _regression()
    reference = MoERegressor(2, solver="sgd", random_state=0)
    for _ in range(3):
        reference.partial_fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X), xps.asarray(y)
        model = MoERegressor(2, solver="sgd", random_state=0)
        for _ in range(3):
            model.partial_fit(Xs, ys)
        prediction = model.predict(Xs)
        assert isinstance(prediction, type(Xs))
        np.testing.assert_allclose(
            np.asarray(prediction), reference.predict(X), rtol=1e-6, atol=1e-9
        )


@dispatch
def test_classifier_under_dispatch_matches_numpy():
    X, y = _regression()
    labels = (y > 0).astype(np.int64) + (X[:, 1] > 1)
    reference = MoEClassifier(2, n_init=2, random_state=0).fit(X, labels)
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xps.asarray(X)
        model = MoEClassifier(2, n_init=2, random_state=0).fit(Xs, xps.asarray(labels))
        proba = model.predict_proba(Xs)
        assert isinstance(proba, type(Xs))
        np.testing.assert_allclose(
            np.asarray(proba), reference.predict_proba(X), rtol=1e-6, atol=1e-12
        )
        predicted = model.predict(Xs)
        assert isinstance(predicted, type(Xs))
        np.testing.assert_array_equal(np.asarray(predicted), reference.predict(X))
        np.testing.assert_allclose(
            np.asarray(model.predict_gate(Xs)), reference.predict_gate(X), atol=1e-10
        )
        # numeric labels live in the input's namespace, as LogisticRegression's
        # do, which cross_val_predict's ordering of the probabilities relies on
        assert isinstance(model.classes_, type(Xs))
        np.testing.assert_array_equal(np.asarray(model.classes_), reference.classes_)
        cv = StratifiedKFold(2)
        proba = cross_val_predict(
            model, Xs, xps.asarray(labels), cv=cv, method="predict_proba"
        )
        expected = cross_val_predict(
            reference, X, labels, cv=cv, method="predict_proba"
        )
        np.testing.assert_allclose(np.asarray(proba), expected, rtol=1e-6, atol=1e-10)


@dispatch
@pytest.mark.parametrize("solver", ["em", "gradient", "sgd"])
def test_torch_input_under_dispatch_matches_numpy(solver):
    # a second real array library besides array-api-strict, where installed
    # (not a test dependency: run by hand with torch's CPU wheel)
    torch = pytest.importorskip("torch")
    X, y = _regression()
    labels = (y > 0).astype(np.int64) + (X[:, 1] > 1)
    for Estimator, target in ((MoERegressor, y), (MoEClassifier, labels)):
        kwargs = dict(solver=solver, n_init=1, max_iter=30, random_state=0)
        reference = Estimator(2, **kwargs).fit(X, target)
        with sklearn.config_context(array_api_dispatch=True):
            Xt = torch.asarray(X)
            model = Estimator(2, **kwargs).fit(Xt, torch.asarray(target))
            outputs = [(model.predict_gate(Xt), reference.predict_gate(X))]
            if Estimator is MoEClassifier:
                outputs.append((model.predict_proba(Xt), reference.predict_proba(X)))
            else:
                outputs.append((model.predict(Xt), reference.predict(X)))
        for got, expected in outputs:
            assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-7)


@dispatch
@pytest.mark.parametrize(
    "Estimator", [MoERegressor, MoEClassifier, MoEPoissonRegressor, MoEGammaRegressor]
)
def test_torch_input_that_requires_grad_fits_as_numpy(Estimator):
    # fit, score and predict_distribution copy arrays to the host by DLPack,
    # which PyTorch refuses for a tensor that requires gradients (BufferError:
    # "Can't export tensors that require gradient"); scikit-learn's Ridge
    # takes such input. Not a test dependency: run by hand with torch's wheel
    torch = pytest.importorskip("torch")
    X, y = _regression()
    target = {
        MoERegressor: y,
        MoEClassifier: (y > 0).astype(np.int64),
        MoEPoissonRegressor: np.floor(np.exp(y)),
        MoEGammaRegressor: np.exp(y),
    }[Estimator]
    kwargs = dict(n_init=1, max_iter=20, random_state=0)
    reference = Estimator(2, **kwargs).fit(X, target)
    with sklearn.config_context(array_api_dispatch=True):
        Xt = torch.asarray(X).requires_grad_(True)
        yt = torch.asarray(target)
        model = Estimator(2, **kwargs).fit(Xt, yt)
        score = model.score(Xt, yt)
        gate = model.predict_gate(Xt)
        if Estimator is not MoEClassifier:
            mean = model.predict_distribution(Xt).mean()
            np.testing.assert_allclose(
                mean, reference.predict_distribution(X).mean(), rtol=1e-6
            )
    np.testing.assert_allclose(
        gate.detach().numpy(), reference.predict_gate(X), rtol=1e-6, atol=1e-9
    )
    # (accuracy_score's mean is float32 under dispatch, as LogisticRegression's)
    assert score == pytest.approx(reference.score(X, target), rel=1e-6)


class _NoExport:
    """An array whose DLPack export raises BufferError."""

    def __init__(self, values):
        self.values = values

    def __dlpack__(self, **kwargs):
        raise BufferError("Can't export tensors that require gradient")

    def __dlpack_device__(self):
        return self.values.__dlpack_device__()


class _GradTensor(_NoExport):
    """Stands for a PyTorch tensor that requires gradients: no DLPack export
    until detached."""

    def detach(self):
        return self.values


def test_host_copy_of_an_array_that_requires_grad_is_detached():
    # the fallback of the test above, without torch (not a CI dependency);
    # other arrays that refuse DLPack still raise
    values = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(backend_module.to_numpy(_GradTensor(values)), values)
    with pytest.raises(BufferError, match="require gradient"):
        backend_module.to_numpy(_NoExport(values))


class _LazyArray:
    """Stands for a namespace without DLPack (Dask's arrays)."""

    shape = (3, 2)


def test_input_without_dlpack_gets_a_clear_error():
    with pytest.raises(TypeError, match=r"_LazyArray input .* X\.compute\(\)"):
        backend_module.select_backend(_LazyArray(), "cpu", fitting=True)


@dispatch
def test_dask_input_under_dispatch_says_to_compute():
    # where Dask is installed (not a test dependency): a TypeError that says what
    # to do, not an AttributeError from the host copy; without dispatch scikit-
    # learn's validation converts the array to NumPy and the fit works
    da = pytest.importorskip("dask.array")
    X, y = _regression()
    Xd, yd = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    kwargs = dict(n_init=1, random_state=0)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(TypeError, match="Dask array, X.compute"):
            MoERegressor(2, **kwargs).fit(Xd, yd)
    reference = MoERegressor(2, **kwargs).fit(X, y)
    converted = MoERegressor(2, **kwargs).fit(Xd, yd)
    np.testing.assert_allclose(converted.predict(X), reference.predict(X))


@pytest.fixture
def fake_gpu(monkeypatch):
    """A stand-in for CuPy that computes in array-api-strict."""
    fake = types.SimpleNamespace(empty=xps.empty, asarray=xps.asarray)
    monkeypatch.setattr(backend_module, "_import_cupy", lambda: fake)
    return fake


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_device_fit_moves_data_once_and_stores_numpy(
    Estimator, gate, fake_gpu, monkeypatch
):
    X, y = _regression()
    if Estimator is MoEClassifier:
        y = (y > 0).astype(int)
    reference = Estimator(2, gate=gate, n_init=2, random_state=0).fit(X, y)
    moved = []
    monkeypatch.setattr(
        fake_gpu, "asarray", lambda a: moved.append(a.shape) or xps.asarray(a)
    )
    model = Estimator(2, gate=gate, n_init=2, random_state=0, device="cuda")
    model.fit(X, y)
    # X, the target and the weights go to the device once per fit, no more
    target_shape = (len(y),) if Estimator is MoERegressor else (2, len(y))
    assert sorted(moved) == sorted([X.shape, target_shape, (len(y),)])
    names = model._fitted_gate().attribute_names + ("expert_coef_", "expert_intercept_")
    for name in names:
        assert isinstance(getattr(model, name), np.ndarray), name
    np.testing.assert_allclose(
        model.log_likelihood_, reference.log_likelihood_, rtol=1e-8
    )
    # a model fitted on the device pickles and predicts where no GPU exists
    monkeypatch.setattr(backend_module, "_import_cupy", lambda: None)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(
        restored.predict_gate(X), reference.predict_gate(X), atol=1e-8
    )


def test_device_prediction_in_chunks(fake_gpu, monkeypatch):
    X, y = _regression(n=500)
    model = MoERegressor(3, n_init=1, random_state=0, device="cuda").fit(X, y)
    whole = model.predict(X, return_std=True)
    import skmoe._base

    monkeypatch.setattr(skmoe._base, "PREDICT_CHUNK_BYTES", 8 * 7 * 64)  # ~64 rows
    calls = []
    original = fake_gpu.asarray
    monkeypatch.setattr(
        fake_gpu, "asarray", lambda a: calls.append(a.shape) or original(a)
    )
    chunked = model.predict(X, return_std=True)
    assert len(calls) >= 500 // 64
    for a, b in zip(chunked, whole, strict=True):
        assert isinstance(a, np.ndarray)
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_device_criteria_leave_out_rows_of_weight_zero(Estimator, fake_gpu):
    # device="cuda" with NumPy input: the rows of positive weight are taken on
    # the host, whose chunks go to the device (they were taken with the
    # device's namespace from host X: "Unsupported device 'cpu'")
    X, y = _regression()
    if Estimator is MoEClassifier:
        y = (y > 0).astype(int)
    model = Estimator(2, n_init=1, random_state=0, device="cuda").fit(X, y)
    weight = np.random.RandomState(3).uniform(0.5, 2.0, len(y))
    weight[::5] = 0.0
    kept = weight > 0
    for method in ("bic", "aic", "icl"):
        criterion = getattr(model, method)
        np.testing.assert_allclose(
            criterion(X, y, weight),
            criterion(X[kept], y[kept], weight[kept]),
            rtol=1e-12,
        )


@pytest.mark.parametrize("top_k", [None, 2])
def test_host_prediction_in_chunks_equals_one_pass(top_k, monkeypatch):
    import skmoe._base

    X, y = _regression(n=500)
    labels = (y > 0).astype(np.int64) + (X[:, 1] > 1)
    regressor = MoERegressor(4, top_k=top_k, n_init=1, random_state=0).fit(X, y)
    classifier = MoEClassifier(4, top_k=top_k, n_init=1, random_state=0)
    classifier.fit(X, labels)
    outputs = {
        "mean_std": lambda: regressor.predict(X, return_std=True),
        "gate": lambda: regressor.predict_gate(X),
        "proba": lambda: classifier.predict_proba(X),
    }
    whole = {name: output() for name, output in outputs.items()}
    monkeypatch.setattr(skmoe._base, "HOST_CHUNK_BYTES", 8 * 100)  # a few rows
    calls = []
    original = skmoe._base.design_matrix
    monkeypatch.setattr(
        skmoe._base,
        "design_matrix",
        lambda xp, X, *args, **kwargs: (
            calls.append(X.shape[0]) or original(xp, X, *args, **kwargs)
        ),
    )
    bic = regressor.bic(X, y), classifier.bic(X, labels)
    for name, output in outputs.items():
        chunked = output()
        np.testing.assert_allclose(chunked, whole[name], rtol=1e-12, atol=1e-15)
    assert len(calls) >= 3 * 20 and max(calls) < 50
    chunked_bic = regressor.bic(X, y), classifier.bic(X, labels)  # also in chunks
    np.testing.assert_allclose(chunked_bic, bic, rtol=1e-12)
    assert max(calls[-20:]) < 50
    if os.environ.get("SCIPY_ARRAY_API") == "1":  # the same under dispatch
        with sklearn.config_context(array_api_dispatch=True):
            Xs = xps.asarray(X)
            model = MoEClassifier(4, top_k=top_k, n_init=1, random_state=0)
            proba = model.fit(Xs, xps.asarray(labels)).predict_proba(Xs)
            assert isinstance(proba, type(Xs))
            # as the other parity tests: relative 1e-6, and absolute 1e-12 for
            # probabilities near 0 (NumPy's fit takes one 2-D product where
            # the generic one stacks B of them: they round differently)
            np.testing.assert_allclose(
                np.asarray(proba), whole["proba"], rtol=1e-6, atol=1e-12
            )


def _assert_auto_is_the_cpu(X, y):
    """device="auto" without a usable GPU fits as device="cpu" does."""
    auto = MoERegressor(2, n_init=1, random_state=0, device="auto").fit(X, y)
    cpu = MoERegressor(2, n_init=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(auto.predict(X), cpu.predict(X))


def test_cuda_without_cupy_says_what_to_install(monkeypatch):
    monkeypatch.setattr(backend_module, "_import_cupy", lambda: None)
    X, y = _regression()
    message = r'pip install "\.\[gpu\]"` in the skmoe source checkout'
    with pytest.raises(ImportError, match=message):
        MoERegressor(2, device="cuda").fit(X, y)
    _assert_auto_is_the_cpu(X, y)


def test_cuda_without_a_device_says_why(monkeypatch):
    # CuPy installed but no usable device (a driver older than the wheel's
    # CUDA): the message gave the install hint and hid CUDA's own error
    class Runtime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver is too old")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=Runtime)
    # (array-api-compat before 1.12 imports cupy to test for its arrays)
    fake.ndarray = type("ndarray", (), {})
    monkeypatch.setitem(sys.modules, "cupy", fake)
    X, y = _regression()
    message = (
        r"CuPy is installed, but it cannot reach one \(RuntimeError: "
        r"cudaErrorInsufficientDriver: CUDA driver is too old\)"
    )
    with pytest.raises(ImportError, match=message):
        MoERegressor(2, device="cuda").fit(X, y)
    _assert_auto_is_the_cpu(X, y)


def test_a_cupy_that_fails_to_import_falls_back_on_auto(monkeypatch):
    # an installation whose import raises other than ImportError (a missing
    # CUDA library: OSError) crashed device="auto", documented to fall back
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "cupy":
            raise OSError("libcudart.so.12: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    X, y = _regression()
    _assert_auto_is_the_cpu(X, y)
    with pytest.raises(ImportError, match="importing CuPy failed: OSError"):
        MoERegressor(2, device="cuda").fit(X, y)


def test_import_does_not_import_cupy():
    code = "import sys, skmoe; print('cupy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "False", result.stderr


@dispatch
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_bootstrap_lrt_under_dispatch_matches_numpy(Estimator):
    X, y = _regression()
    if Estimator is MoEClassifier:
        y = (y > 0).astype(np.int64)
    options = dict(max_experts=2, n_bootstrap=4, significance=0.2, random_state=0)
    model = Estimator(n_init=1, random_state=0)
    reference = bootstrap_lrt(model, X, y, **options)
    with sklearn.config_context(array_api_dispatch=True):
        result = bootstrap_lrt(model, xps.asarray(X), xps.asarray(y), **options)
    np.testing.assert_allclose(result.statistics, reference.statistics, rtol=1e-6)
    np.testing.assert_allclose(
        result.bootstrap_statistics, reference.bootstrap_statistics, rtol=1e-6
    )
    assert result.n_experts == reference.n_experts


@dispatch
def test_bootstrap_lrt_zero_weight_rows_on_another_device():
    # the rows of weight 0 are found in weights on a device NumPy cannot read
    X, y = _regression()
    y = (y > 0).astype(np.int64)
    weight = np.ones(len(y))
    weight[:5] = 0
    options = dict(max_experts=2, n_bootstrap=4, significance=0.2, random_state=0)
    model = MoEClassifier(n_init=1, random_state=0)
    reference = bootstrap_lrt(model, X, y, sample_weight=weight, **options)
    device = xps.Device("device1")
    with sklearn.config_context(array_api_dispatch=True):
        Xd, yd, wd = (xps.asarray(a, device=device) for a in (X, y, weight))
        result = bootstrap_lrt(model, Xd, yd, sample_weight=wd, **options)
    np.testing.assert_allclose(
        result.bootstrap_statistics, reference.bootstrap_statistics, rtol=1e-6
    )


def _assert_same_history(strict, reference):
    """tol=0 runs until the objective stops rising, which rounding decides: the
    two may stop an iteration or two apart at the same value (gamma_zero on
    NumPy 2.1), so the common iterations and both last values are compared."""
    histories = [r.log_likelihood_history for r in (strict, reference)]
    common = min(len(h) for h in histories)
    assert abs(len(histories[0]) - len(histories[1])) <= 2
    np.testing.assert_allclose(histories[0][:common], histories[1][:common], rtol=1e-6)
    np.testing.assert_allclose(histories[0][-1], histories[1][-1], rtol=1e-6)


@pytest.mark.parametrize("gate", [SoftmaxGate(), ConstantGate(), GaussianGate()])
def test_grouped_em_in_array_api_strict_matches_numpy(gate):
    """Groups (repeated measurements): the group sums and the per-row
    responsibilities in the standard's namespace."""
    X, y = _regression()
    groups = Groups.from_labels(np.arange(len(y)) % 37)
    gate_feature = np.random.RandomState(4).randn(37)[groups.codes][:, None]
    resp = np.random.RandomState(1).dirichlet([1, 1], size=len(y)).T
    weights = np.random.RandomState(2).uniform(0.5, 2, size=37)[groups.codes]
    results = []
    for xp, convert in [(np, np.asarray), (xps, xps.asarray)]:
        problem = EMProblem(
            design_matrix(xp, convert(X)),
            convert(y),
            convert(weights),
            gate,
            GaussianLinearExperts(variance_floor=1e-6),
            1e-3,
            own_gate_design=design_matrix(xp, convert(gate_feature)),
            groups=groups,
        )
        results.append(run_em(problem, resp=convert(resp), max_iter=20, tol=0))
    reference, strict = results
    _assert_same_history(strict, reference)
    np.testing.assert_allclose(
        np.asarray(strict.expert_params["coef"]),
        reference.expert_params["coef"],
        rtol=1e-6,
    )


@dispatch
def test_grouped_regressor_under_dispatch_matches_numpy():
    X, y = _regression()
    groups = np.arange(len(y)) % 37
    X = np.column_stack([np.random.RandomState(4).randn(37)[groups], X])
    options = dict(gate_features=[0], expert_features=[1, 2], random_state=0)
    reference = MoERegressor(2, n_init=2, **options).fit(X, y, groups=groups)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys, gs = xps.asarray(X), xps.asarray(y), xps.asarray(groups)
        model = MoERegressor(2, n_init=2, **options).fit(Xs, ys, groups=gs)
        assert model.log_likelihood_ == pytest.approx(reference.log_likelihood_)
        np.testing.assert_allclose(
            model.bic(Xs, ys, groups=gs), reference.bic(X, y, groups=groups), rtol=1e-6
        )
        weight = np.random.RandomState(2).uniform(0, 2, 37)[groups]
        weight[groups == 3] = 0.0
        np.testing.assert_allclose(
            model.icl(Xs, ys, xps.asarray(weight), groups=gs),
            reference.icl(X, y, weight, groups=groups),
            rtol=1e-6,
        )
        got = model.responsibilities(Xs, ys, groups=gs)
        assert isinstance(got, type(Xs))
        np.testing.assert_allclose(
            np.asarray(got),
            reference.responsibilities(X, y, groups=groups),
            rtol=1e-6,
            atol=1e-9,
        )


def _no_host_copies(monkeypatch):
    """Make copying an array of another namespace to NumPy fail, as a
    (K, n) copy from a GPU each E-step would be slow; the few numbers that
    ``host_scalars`` reads at once (an EM iteration's objective) pass, and
    only those: a (K,) copy at each iteration is a GPU wait too."""
    from_dlpack = np.from_dlpack
    reader = backend_module.host_scalars.__code__

    def refuse(x, *args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not reader:
            frame = frame.f_back
        if frame is None:
            raise AssertionError("an array was copied to the host")
        return from_dlpack(x, *args, **kwargs)

    monkeypatch.setattr(np, "from_dlpack", refuse)


def test_no_host_copies_passes_host_scalars_reads_alone(monkeypatch):
    # a few numbers copied outside host_scalars (a (K,) array at each EM
    # iteration, or a 0-d one) are refused; host_scalars' read passes
    small, number = xps.asarray([1.0, 2.0]), xps.asarray(3.0)
    with monkeypatch.context() as patch:
        _no_host_copies(patch)
        for array in (small, number):
            with pytest.raises(AssertionError, match="copied to the host"):
                backend_module.to_numpy(array)
        read = backend_module.host_scalars(xps, number, xps.asarray(True))
    assert read == [3.0, True]
    assert isinstance(read[1], bool)


def test_group_sums_stay_on_the_device(monkeypatch):
    """Groups (uneven sizes, one large group) summed in the namespace and on
    the device of the input, without a copy to NumPy, and equal to NumPy's
    sparse product."""
    rng = np.random.RandomState(0)
    sizes = np.concatenate([rng.randint(1, 9, 50), [300]])
    labels = np.repeat(np.arange(51), sizes)
    rng.shuffle(labels)
    groups = Groups.from_labels(labels)
    values = rng.randn(3, len(labels))
    device = xps.Device("device1")
    on_device = xps.asarray(values, device=device)
    with monkeypatch.context() as patch:
        _no_host_copies(patch)
        summed = groups.sum(xps, on_device)
        share = groups.share(xps, on_device[0, :])
    assert summed.device == share.device == device
    reference = groups.sum(np, values)
    back = np.asarray(xps.asarray(summed, device=xps.Device("CPU_DEVICE")))
    np.testing.assert_allclose(back, reference, rtol=1e-12, atol=1e-12)


def test_grouped_em_on_another_device(monkeypatch):
    X, y = _regression()
    groups = Groups.from_labels(np.arange(len(y)) % 37)
    device = xps.Device("device1")
    problem = EMProblem(
        design_matrix(xps, xps.asarray(X, device=device)),
        xps.asarray(y, device=device),
        xps.ones(len(y), dtype=xps.float64, device=device),
        ConstantGate(),
        GaussianLinearExperts(variance_floor=1e-6),
        1e-3,
        groups=groups,
    )
    resp = np.random.RandomState(1).dirichlet([1, 1], size=len(y)).T
    with monkeypatch.context() as patch:
        _no_host_copies(patch)
        strict = run_em(problem, resp=xps.asarray(resp, device=device), max_iter=5)
    reference = run_em(
        dataclasses.replace(
            problem,
            design=design_matrix(np, X),
            Y=y,
            sample_weight=np.ones(len(y)),
        ),
        resp=resp,
        max_iter=5,
    )
    np.testing.assert_allclose(
        strict.log_likelihood_history, reference.log_likelihood_history, rtol=1e-10
    )


@dispatch
def test_predictive_distributions_take_values_on_the_device():
    # a distribution (on the host) given y on the model's device: NumPy's
    # "Can't convert array on the device1 device" from deep inside
    X, y = _regression()
    device = xps.Device("device1")
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xps.asarray(X, device=device)
        model = MoERegressor(2, n_init=1, random_state=0)
        model.fit(Xs, xps.asarray(y, device=device))
        dist = model.predict_distribution(Xs)
        ys = xps.asarray(y, device=device)
        np.testing.assert_array_equal(dist.cdf(ys), dist.cdf(y))
        np.testing.assert_array_equal(dist.logpdf(ys), dist.logpdf(y))
        q = xps.asarray(np.full(len(y), 0.3), device=device)
        np.testing.assert_array_equal(dist.ppf(q), dist.ppf(0.3))


def _no_float64():
    try:
        return xps.Device("no_float64")
    except ValueError:  # an array_api_strict without that device
        pytest.skip("array_api_strict has no device without float64")


@dispatch
@pytest.mark.parametrize(
    "Estimator, params",
    [
        (MoERegressor, {}),
        (MoERegressor, {"gate": "gaussian"}),
        (MoERegressor, {"solver": "gradient"}),
        (MoEClassifier, {}),
        (MoEPoissonRegressor, {}),
    ],
)
def test_float32_fit_on_a_device_without_float64(Estimator, params):
    # (PyTorch's "mps"): the objective's and statistics' float64 sums raised
    # that the device does not support float64 for a float32 fit; they are
    # float32 there, and the fitted arrays too
    from skmoe._backend import to_numpy

    X, y = _regression()
    X = X.astype(np.float32)
    if Estimator is MoEClassifier:
        y = (y > 0).astype(np.int32)
    elif Estimator is MoEPoissonRegressor:
        y = np.round(np.exp(y / 2))
    y = y.astype(np.float32) if y.dtype.kind == "f" else y
    device = _no_float64()
    reference = Estimator(2, n_init=1, random_state=0, **params).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X, device=device), xps.asarray(y, device=device)
        model = Estimator(2, n_init=1, random_state=0, **params).fit(Xs, ys)
        arrays = [
            value
            for name, value in vars(model).items()
            if name.endswith("_") and isinstance(value, type(Xs))
        ]
        assert len(arrays) >= 5  # n_experts_bic_ was float64
        for value in arrays:
            assert value.device == device and value.dtype != xps.float64
        predicted = to_numpy(model.predict(Xs))
    if params.get("solver") == "gradient":  # L-BFGS's float32 sums stop it
        # elsewhere on the same plateau: compare the fits' log-likelihoods
        assert abs(model.log_likelihood_ - reference.log_likelihood_) < 1e-3 * len(y)
    else:
        np.testing.assert_allclose(
            predicted, reference.predict(X), rtol=1e-4, atol=1e-5
        )


@dispatch
def test_classifier_score_on_a_device_without_float64():
    # accuracy_score averaged the hits (booleans) in the namespace's default
    # float, array-api-strict's float64 whatever the device, which a device
    # without float64 refused (ValueError in array_api_strict); the regressors'
    # scores, taken on the host, scored
    from skmoe._backend import to_numpy

    X, y = _regression()
    X = X.astype(np.float32)
    y = (X[:, 0] + 0.5 * np.random.RandomState(2).randn(len(y)) > 0).astype(np.int32)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, len(y)).astype(np.float32)
    device = _no_float64()
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys = xps.asarray(X, device=device), xps.asarray(y, device=device)
        model = MoEClassifier(2, n_init=1, random_state=0).fit(Xs, ys)
        hits = to_numpy(model.predict(Xs)) == y
        assert 0 < hits.mean() < 1  # the weights below change the score
        assert model.score(Xs, ys) == pytest.approx(hits.mean(), rel=1e-12)
        weighted = model.score(Xs, ys, sample_weight=xps.asarray(weight, device=device))
    expected = np.sum(weight * hits, dtype=np.float64) / np.sum(
        weight, dtype=np.float64
    )
    assert weighted == pytest.approx(expected, rel=1e-6)


@dispatch
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEPoissonRegressor])
def test_grouped_float32_fit_on_a_device_without_float64(Estimator):
    # each row's share of its group (1 / n_g) went to the device as a float64
    # copy, which a device without float64 (PyTorch's "mps") refused
    X, y = _regression()
    X = X.astype(np.float32)
    y = np.round(np.exp(y / 2)) if Estimator is MoEPoissonRegressor else y
    y = y.astype(np.float32)
    groups = np.arange(len(y)) % 37
    params = dict(n_experts=2, gate="constant", n_init=1, random_state=0)
    reference = Estimator(**params).fit(X, y, groups=groups)
    device = _no_float64()
    with sklearn.config_context(array_api_dispatch=True):
        Xs, ys, gs = (xps.asarray(a, device=device) for a in (X, y, groups))
        model = Estimator(**params).fit(Xs, ys, groups=gs)
        got = model.responsibilities(Xs, ys, groups=gs)
        assert got.device == device and got.dtype == xps.float32
    np.testing.assert_allclose(
        backend_module.to_numpy(got),
        reference.responsibilities(X, y, groups=groups),
        atol=1e-4,
    )


@dispatch
def test_partial_fit_on_numpy_after_another_namespace_moves_every_attribute():
    # classes_, which partial_fit does not set again, stayed an
    # array_api_strict array beside NumPy coefficients: indexing it with a
    # NumPy argmax raised
    X, y = _regression()
    labels = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)
    with sklearn.config_context(array_api_dispatch=True):
        model = MoEClassifier(2, solver="sgd", random_state=0)
        model.partial_fit(xps.asarray(X), xps.asarray(labels), classes=[0, 1, 2])
        model.partial_fit(X, labels)
        assert isinstance(model.classes_, np.ndarray)
        assert isinstance(model.expert_coef_, np.ndarray)
        proba = model.predict_proba(X)
        np.testing.assert_array_equal(
            model.classes_[np.argmax(proba, axis=1)], model.predict(X)
        )


@dispatch
@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_float32_input_to_a_float64_model_gives_float64_posteriors(Estimator):
    # under dispatch, log_likelihood_samples, responsibilities and the standard
    # errors came back in float32, as X, where NumPy's are float64 (and the
    # predictions were float64 already): the float64 input rounded to float32
    X, y = _regression()
    if Estimator is MoEClassifier:
        y = (y > np.median(y)).astype(int)
    X32 = X.astype(np.float32)
    rounded = X32.astype(np.float64)
    reference = Estimator(2, n_init=1, random_state=0).fit(X, y)
    expected = {
        "log_likelihood_samples": reference.log_likelihood_samples(rounded, y),
        "responsibilities": reference.responsibilities(rounded, y),
    }
    errors = reference.std_errors(rounded, y)
    with sklearn.config_context(array_api_dispatch=True):
        model = Estimator(2, n_init=1, random_state=0).fit(xps.asarray(X), y)
        Xs = xps.asarray(X32)
        got = {name: getattr(model, name)(Xs, y) for name in expected}
        got_errors = model.std_errors(Xs, y)
    for name, value in got.items():
        assert value.dtype == xps.float64, name
        np.testing.assert_allclose(np.asarray(value), expected[name], rtol=1e-10)
    for name, value in got_errors.items():
        assert value.dtype == xps.float64, name
        np.testing.assert_allclose(np.asarray(value), errors[name], rtol=1e-6)


def test_gaussian_dual_m_step_in_array_api_strict_matches_numpy():
    # more features than samples: the kernel (dual) solve, in the Array API
    # standard alone
    rng = np.random.RandomState(0)
    X = rng.randn(30, 80)
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.randn(30)
    weighted = rng.dirichlet(np.ones(2), size=30).T
    weighted[0, :3] = 0.0
    experts = GaussianLinearExperts(variance_floor=1e-10)
    results = []
    for xp, convert in [(np, np.asarray), (xps, xps.asarray)]:
        design = design_matrix(xp, convert(X), convert(X.mean(axis=0)))
        assert experts._use_dual(xp, design, 1e-2)
        params = experts.initial_params(xp, design, convert(y), 2)
        results.append(
            experts.m_step(xp, design, convert(y), convert(weighted), params, 1e-2)
        )
    for name in ("coef", "variance"):
        np.testing.assert_allclose(
            np.asarray(results[1][name]), results[0][name], rtol=1e-10
        )


@dispatch
def test_near_limit_y_fits_without_warnings_or_device_reads_per_iteration(
    monkeypatch,
):
    # y of 1e153 to 7e153 (float64; range near the square root of the largest
    # float), K=3: an expert extrapolated beyond y's range on rows it weighed
    # at 0, whose squared residuals overflowed (NumPy warned, inf * 0 = NaN).
    # Residuals are scaled by a power of two chosen once before the loop: an
    # iteration reads what an ordinary fit's does, and the fit is NumPy's
    X = np.array(
        [
            [2.40802308, -0.93857143],
            [1.03801658, 0.52702206],
            [-0.92410705, -1.45972242],
            [-1.68883385, 0.09900785],
            [0.99099381, -0.11013713],
        ]
    )
    y = np.array(
        [-6.719058e153, 4.983064e153, 9.726259e151, 1.415430e153, 5.824945e153]
    )
    reads = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", SkmoeWarning)  # (5 rows, K=3)
        reference = MoERegressor(3, n_init=1, random_state=0).fit(X, y)
        with sklearn.config_context(array_api_dispatch=True):
            Xs, ys = xps.asarray(X), xps.asarray(y)
            for target in ("near", "unit"):
                for max_iter in (2, 7):
                    model = MoERegressor(
                        3, n_init=1, max_iter=max_iter, tol=0, random_state=0
                    )
                    fitted = ys if target == "near" else ys / 2.0**510
                    reads[target, max_iter] = _host_reads(
                        monkeypatch, model.fit, Xs, fitted
                    )
            model = MoERegressor(3, n_init=1, random_state=0).fit(Xs, ys)
            prediction = np.asarray(model.predict(Xs))
    # (the same reads as y / 2**510's: 3 an iteration on these 5 rows, whose
    # experts the collapse check reads too; from 2 iterations on, as after 1
    # the post-fit checks took another path, of 7 reads fewer, and the 5
    # iterations from 1 to 6 differed by 17 reads when _few_samples read 1
    # where it had read 3)
    per_iteration = {t: reads[t, 7] - reads[t, 2] for t in ("near", "unit")}
    assert per_iteration["near"] == per_iteration["unit"] <= 5 * 3
    np.testing.assert_allclose(prediction, reference.predict(X), rtol=1e-6)


@dispatch
@pytest.mark.parametrize("kept_on", ["numpy", "device1", "numpy y"])
def test_rows_kept_by_online_em_join_a_batch_of_another_namespace(kept_on):
    # the rows of a first batch too small to fit joined the next batch by
    # its namespace's concat: NumPy rows before an array-api-strict batch
    # (rows on another device, or a NumPy y beside an array-api-strict X)
    # raised a TypeError, where a stream past its first fit goes on
    X, y = _regression()
    cuts = [(0, 3), (3, 6), (6, 100), (100, 200)]
    reference = MoERegressor(2, gate="gaussian", random_state=0)
    for start, stop in cuts:
        reference.partial_fit(X[start:stop], y[start:stop])
    device1, cpu = xps.Device("device1"), xps.Device("CPU_DEVICE")
    with sklearn.config_context(array_api_dispatch=True):
        model = MoERegressor(2, gate="gaussian", random_state=0)
        for i, (start, stop) in enumerate(cuts):
            Xb, yb = X[start:stop], y[start:stop]
            if kept_on == "device1" and i == 0:
                Xb, yb = (xps.asarray(a, device=device1) for a in (Xb, yb))
            elif kept_on == "numpy y":
                Xb = xps.asarray(Xb, device=cpu)
            elif i > 0:
                Xb, yb = (xps.asarray(a, device=cpu) for a in (Xb, yb))
            model.partial_fit(Xb, yb)
        got = model.predict(xps.asarray(X, device=cpu))
    np.testing.assert_allclose(np.asarray(got), reference.predict(X), rtol=1e-12)


@dispatch
@pytest.mark.parametrize("first", ["int64", "float64"])
def test_rows_kept_by_online_em_join_a_batch_of_another_dtype_kind(first):
    # integer y in the kept rows beside float y in the next batch (or the
    # reverse): NumPy promotes them, array-api-strict's concat raised a
    # TypeError (int64 and float64 cannot be type promoted together); joined
    # in the float dtype, so that the float y keep their fractions
    X, y = _regression()
    second = "float64" if first == "int64" else "int64"
    y = 3 * y
    for i, (start, stop) in enumerate([(0, 3), (3, 200)]):
        if (first if i == 0 else second) == "int64":
            y[start:stop] = np.round(y[start:stop])
    cuts = [(0, 3), (3, 6), (6, 100), (100, 200)]
    reference = MoERegressor(2, gate="gaussian", random_state=0)
    for start, stop in cuts:
        reference.partial_fit(X[start:stop], y[start:stop])
    cpu = xps.Device("CPU_DEVICE")
    with sklearn.config_context(array_api_dispatch=True):
        model = MoERegressor(2, gate="gaussian", random_state=0)
        for i, (start, stop) in enumerate(cuts):
            yb = y[start:stop].astype(first if i == 0 else second)
            model.partial_fit(
                xps.asarray(X[start:stop], device=cpu), xps.asarray(yb, device=cpu)
            )
        got = model.predict(xps.asarray(X, device=cpu))
    np.testing.assert_allclose(np.asarray(got), reference.predict(X), rtol=1e-12)
