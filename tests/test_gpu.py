"""CuPy against NumPy on a real GPU; skipped cleanly where there is none."""

import numpy as np
import pytest

from skmoe import (
    MoEClassifier,
    MoEGammaRegressor,
    MoENegativeBinomialRegressor,
    MoEPoissonRegressor,
    MoERegressor,
)
from skmoe._backend import _import_cupy

cupy = _import_cupy()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cupy is None, reason="needs CuPy and a usable CUDA device"),
]
#: Whether ``cupy`` is tests/_fake_cupy's emulation (array-api-strict arrays on
#: a non-default device; tests/test_gpu_emulated.py runs this file with it):
#: what compiles or runs CUDA code of its own is skipped there
EMULATED = getattr(cupy, "EMULATED", False)
needs_cuda = pytest.mark.skipif(
    EMULATED, reason="needs real CUDA (the fused E-step's RawKernel); CuPy emulated"
)


def _data(dtype, n=5000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 8).astype(dtype)
    y = (np.where(X[:, 0] > 0, X @ np.arange(8), -X[:, 1]) + rng.randn(n)).astype(dtype)
    return X, y


@pytest.mark.parametrize("gate", ["softmax", "gaussian"])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-6), (np.float32, 1e-3)])
def test_regressor_on_gpu_matches_cpu(dtype, rtol, gate):
    X, y = _data(dtype)
    params = dict(n_experts=4, gate=gate, n_init=1, random_state=0, max_iter=30, tol=0)
    cpu = MoERegressor(**params).fit(X, y)
    gpu = MoERegressor(**params, device="cuda").fit(X, y)
    assert isinstance(gpu.expert_coef_, np.ndarray)
    assert gpu.expert_coef_.dtype == dtype
    np.testing.assert_allclose(gpu.log_likelihood_, cpu.log_likelihood_, rtol=rtol)
    prediction = gpu.predict(X)
    assert isinstance(prediction, np.ndarray) and prediction.dtype == dtype
    np.testing.assert_allclose(prediction, cpu.predict(X), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-6), (np.float32, 1e-3)])
def test_classifier_on_gpu_matches_cpu(dtype, rtol):
    X, y = _data(dtype)
    labels = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    params = dict(n_experts=3, n_init=1, random_state=0, max_iter=20, tol=0)
    cpu = MoEClassifier(**params).fit(X, labels)
    gpu = MoEClassifier(**params, device="cuda").fit(X, labels)
    np.testing.assert_allclose(
        gpu.predict_proba(X), cpu.predict_proba(X), rtol=rtol, atol=rtol
    )


def test_array_api_dispatch_with_cupy_input_returns_cupy():
    import sklearn

    X, y = _data(np.float64)
    cpu = MoERegressor(3, n_init=1, random_state=0).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xg, yg = cupy.asarray(X), cupy.asarray(y)
        model = MoERegressor(3, n_init=1, random_state=0).fit(Xg, yg)
        prediction = model.predict(Xg)
        assert isinstance(prediction, cupy.ndarray)
        assert prediction.device == Xg.device
        np.testing.assert_allclose(prediction.get(), cpu.predict(X), rtol=1e-6)


# The experimental fused E-step (skmoe._fused), switched on for these tests only


def _device_problem(n, d, k, dtype, seed=0):
    import array_api_compat.cupy as cxp

    from skmoe._em import EMProblem
    from skmoe._math import design_matrix
    from skmoe.experts import GaussianLinearExperts
    from skmoe.gates import SoftmaxGate

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] + rng.standard_normal(n)).astype(dtype)
    problem = EMProblem(
        design_matrix(cxp, cupy.asarray(X)),
        cupy.asarray(y),
        cupy.ones(n, dtype=dtype),
        SoftmaxGate(),
        GaussianLinearExperts(1e-6),
        1e-4,
    )
    gate = {"coef": (0.1 * rng.standard_normal((d + 1, k))).astype(dtype)}
    offset = {"coef": gate["coef"] * 10}
    offset["coef"][0] += dtype(1e4)  # logits 1e4 + O(1)
    experts = {
        "coef": cupy.asarray(rng.standard_normal((d + 1, k)).astype(dtype)),
        "variance": cupy.asarray(np.geomspace(1e-2, 1e2, k).astype(dtype)),
    }
    gates = [{"coef": cupy.asarray(g["coef"])} for g in (gate, offset)]
    return problem, gates, experts


@needs_cuda
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-6), (np.float32, 1e-4)])
@pytest.mark.parametrize("n, k, d", [(1000, 5, 4), (100_001, 16, 8)])
def test_fused_e_step_matches_generic_on_device(dtype, rtol, n, k, d, monkeypatch):
    from skmoe import _backend, _fused
    from skmoe._em import e_step

    monkeypatch.delenv("SKMOE_FUSED_E_STEP", raising=False)
    problem, gates, experts = _device_problem(n, d, k, dtype)
    for gate in gates:
        monkeypatch.setattr(_backend, "FUSED_E_STEP", False)
        assert not _fused.applies(problem, gate, experts)
        want = [a.get() for a in e_step(problem, gate, experts)]
        monkeypatch.setattr(_backend, "FUSED_E_STEP", True)
        assert _fused.applies(problem, gate, experts)
        got = e_step(problem, gate, experts)
        assert all(isinstance(a, cupy.ndarray) and a.dtype == dtype for a in got)
        got = [a.get() for a in got]
        np.testing.assert_allclose(got[0], want[0], rtol=rtol, atol=rtol)  # log_norm
        np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=rtol)  # resp
        np.testing.assert_allclose(got[2], want[2], rtol=rtol, atol=rtol)  # log_gate


@needs_cuda
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_fused_kernel_with_infinite_logits_matches_its_emulation(dtype, rtol):
    from skmoe import _fused

    rng = np.random.default_rng(1)
    G = rng.normal(scale=3.0, size=(5, 300)).astype(dtype)
    M = rng.normal(size=(5, 300)).astype(dtype)
    y = rng.normal(size=300).astype(dtype)
    variance = rng.uniform(0.01, 2.0, size=5).astype(dtype)
    G[1, :20] = -np.inf  # an expert off
    G[:, 30] = -np.inf  # every expert off (NaN)
    G[:4, 31] = -np.inf  # one left
    y[40] = np.finfo(dtype).max  # log-likelihoods of -inf
    want = _fused.emulate_from_products(G, M, y, variance)
    got = _fused.from_products(
        cupy, cupy.asarray(G), cupy.asarray(M), cupy.asarray(y), cupy.asarray(variance)
    )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.get(), b, rtol=rtol, atol=rtol, equal_nan=True)


@needs_cuda
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-6), (np.float32, 1e-3)])
def test_fit_with_fused_e_step_matches_cpu(dtype, rtol, monkeypatch):
    from skmoe import _backend, _fused

    calls = []
    fused = _fused.e_step
    monkeypatch.setattr(_fused, "e_step", lambda *a: calls.append(1) or fused(*a))
    monkeypatch.setattr(_backend, "FUSED_E_STEP", True)
    X, y = _data(dtype)
    params = dict(n_experts=4, n_init=1, random_state=0, max_iter=30, tol=0)
    cpu = MoERegressor(**params).fit(X, y)
    gpu = MoERegressor(**params, device="cuda").fit(X, y)
    assert len(calls) >= 10  # the fit's E-steps were the fused ones
    np.testing.assert_allclose(gpu.log_likelihood_, cpu.log_likelihood_, rtol=rtol)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=rtol, atol=rtol)


# Linear algebra that does not raise: CuPy's linalg reads cuSOLVER's status
# only under cupyx.errstate(linalg="raise"); skmoe checks its results instead


def _device_namespace():
    from array_api_compat import array_namespace

    return array_namespace(cupy.empty(0))


def _raw_cholesky(a):
    """What CuPy's own cholesky did with ``a``: raised, or its diagonals."""
    try:
        factor = cupy.asnumpy(cupy.linalg.cholesky(cupy.asarray(a)))
    except Exception as error:
        return f"cupy.linalg.cholesky raised {type(error).__name__}"
    diagonals = np.diagonal(factor, axis1=-2, axis2=-1).tolist()
    return f"cupy.linalg.cholesky did not raise; its diagonals {diagonals}"


def test_whitening_on_gpu_retries_a_cholesky_that_fails_silently():
    # tests/test_gaussian_gate.py's covariance of eigenvalue -1e-13 of its
    # diagonal: the jitter's first two tries leave it indefinite, the third
    # factors it. Taking the first try's partial factor (CuPy's, not
    # raising) whitened with a wrong covariance
    import array_api_compat.numpy as xnp

    from skmoe.gates.gaussian import _whitening

    delta = 1e-13
    covariances = np.array(
        [[[2.0, 0.3], [0.3, 1.0]], [[1.0, 1.0 + delta], [1.0 + delta, 1.0]]]
    )
    loading = np.zeros(2)
    first_try = covariances + 4 * np.finfo(float).eps * np.eye(2)
    raw = _raw_cholesky(first_try)
    print(raw)  # in the log with -rP; also in any failure's message below
    want = _whitening(xnp, covariances, loading)
    got = _whitening(
        _device_namespace(), cupy.asarray(covariances), cupy.asarray(loading)
    )
    got = cupy.asnumpy(got)
    # a condition number of 2e11 after the third try's jitter: cuSOLVER's
    # rounding (FMA) may move the second factor's last pivot by ~1e-5
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-10, err_msg=raw)
    jitter = 4e4 * np.finfo(float).eps * np.eye(2)
    for W, S in zip(got, covariances, strict=True):
        np.testing.assert_allclose(
            W @ (S + jitter) @ W.T, np.eye(2), atol=1e-4, err_msg=raw
        )


def _singular_after_jitter():
    """tests/test_conditioning.py's float32 Gram of duplicated rows, whose
    jittered, scaled system is exactly ``c * ones((2, 2))`` (``c = 1 + 4
    eps``), stacked with a regular system; and ``c``."""
    c = 1.0 + 4 * float(np.finfo(np.float32).eps)
    A = np.array([[[1.0, c], [c, 1.0]], [[2.0, 1.0], [1.0, 2.0]]], dtype=np.float32)
    B = np.array([[[1.0], [1.0]], [[1.0], [0.0]]], dtype=np.float32)
    return A, B, c


def test_solve_symmetric_on_gpu_takes_the_minimum_norm_answer_where_singular():
    # NumPy raises LinAlgError there and solve_symmetric takes the
    # minimum-norm answer; CuPy's solve returns inf or NaN instead, which
    # came back as the Gaussian experts' coefficients
    from skmoe._math import solve_symmetric

    A, B, c = _singular_after_jitter()
    singular = cupy.asarray(c * np.ones((2, 2), np.float32))
    raw = cupy.linalg.solve(singular, cupy.asarray(B[0]))
    print(f"cupy.linalg.solve of c * ones: {cupy.asnumpy(raw).ravel()}")
    got = solve_symmetric(_device_namespace(), cupy.asarray(A), cupy.asarray(B))
    got = cupy.asnumpy(got)[:, :, 0]
    # x1 + x2 = 1 / c at the least norm; the regular system's own answer (at
    # its jitter, 4 eps of the diagonal)
    want = np.linalg.lstsq(c * np.ones((2, 2)), np.ones(2), rcond=None)[0]
    np.testing.assert_allclose(got[0], want, rtol=1e-6)
    regular = A[1].astype(float) + (c - 1) * np.diag([2.0, 2.0])
    regular = np.linalg.solve(regular, B[1, :, 0].astype(float))
    np.testing.assert_allclose(got[1], regular, rtol=1e-6)
    np.testing.assert_allclose(got, solve_symmetric(np, A, B)[:, :, 0], rtol=1e-6)
    # unchecked for a caller that refuses inf or NaN itself (Newton's halving)
    quick = solve_symmetric(
        _device_namespace(), cupy.asarray(A), cupy.asarray(B), nan_ok=True
    )
    assert not np.all(np.isfinite(cupy.asnumpy(quick)[0]))


def test_solve_shared_on_gpu_takes_the_minimum_norm_answer_where_singular():
    # the free block of each expert singular after the jitter, the shared
    # entry decoupled from it: 4 s = 4 in both experts
    from skmoe._math import solve_shared

    A2, _, c = _singular_after_jitter()
    A = np.zeros((2, 3, 3), dtype=np.float32)
    A[:, :2, :2] = A2[0]
    A[:, 2, 2] = 4.0
    b = np.array([[1.0, 1.0, 4.0], [2.0, 2.0, 4.0]], dtype=np.float32)
    weights = np.array([1.0, 3.0], dtype=np.float32)
    arguments = [cupy.asarray(a) for a in (A, b)]
    got = solve_shared(_device_namespace(), *arguments, (2,), cupy.asarray(weights))
    got = cupy.asnumpy(got)
    want = np.array([[0.5, 0.5, 1.0], [1.0, 1.0, 1.0]]) / c  # (jittered: 4 c s = 4)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got, solve_shared(np, A, b, (2,), weights), rtol=1e-6)


def _wide_gate_step_arguments(seed=0):
    """The softmax gate's centred Newton step at 40 samples and 100 features
    (more coefficient rows than samples: the kernel form), three experts."""
    from scipy.special import softmax

    from skmoe._math import design_matrix

    rng = np.random.RandomState(seed)
    X = rng.randn(40, 100) * rng.uniform(0.5, 2, 100)
    design = design_matrix(np, X, X.mean(axis=0))
    resp = rng.dirichlet(np.ones(3) * 0.5, size=40).T
    weight = rng.uniform(0.2, 2, size=40)
    weighted = resp * (weight / weight.sum())[None, :]
    coef = 0.1 * rng.randn(101, 3)
    coef -= coef.mean(axis=1, keepdims=True)
    g = softmax(coef.T @ design, axis=0)
    s = weighted.sum(axis=0)
    return design, s[None], g[None], (weighted - s * g)[None], coef[None]


@pytest.mark.parametrize("alpha", [1e-4, 1e-1])
def test_kernel_newton_step_on_gpu_matches_cpu(alpha):
    from skmoe._multinomial import newton_direction_kernel

    arguments = _wide_gate_step_arguments()
    want = newton_direction_kernel(np, *arguments, alpha)
    got = newton_direction_kernel(
        _device_namespace(), *[cupy.asarray(a) for a in arguments], alpha
    )
    assert want is not None and got is not None  # None: the primal step instead
    scale = np.max(np.abs(want))
    assert scale > 1e-2  # a step that does move
    np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=0, atol=1e-8 * scale)


def _positive_data(n=1000, seed=0):
    """X (n, 3), counts and positive targets of two log-linear regimes."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3)
    log_mean = np.where(X[:, 0] > 0, 1 + 0.5 * X[:, 1], 0.5 - 0.5 * X[:, 2])
    counts = rng.poisson(np.exp(log_mean)).astype(float)
    positive = rng.gamma(5.0, np.exp(log_mean) / 5.0)
    return X, counts, positive


# estimator, parameters and target of each configuration that the GPU tests
# above do not fit; a few iterations with tol=0 (the paths cannot part)
FITS = {
    "poisson": (MoEPoissonRegressor, {}, "counts"),
    "gamma": (MoEGammaRegressor, {}, "positive"),
    "negative_binomial": (MoENegativeBinomialRegressor, {}, "counts"),
    "student_t": (MoERegressor, {"noise": "student_t"}, "real"),
    "shared_features": (MoERegressor, {"shared_features": [2]}, "real"),
    "hierarchical": (MoERegressor, {"gate": "hierarchical", "n_experts": 4}, "real"),
    **{
        f"gaussian_{form}": (
            MoERegressor,
            {"gate": "gaussian", "gate_covariance_type": form},
            "real",
        )
        for form in ("diag", "tied", "spherical")
    },
}


def _fit_pair(name, max_iter=5, **extra):
    Estimator, options, target = FITS[name]
    X, counts, positive = _positive_data()
    y = {"counts": counts, "positive": positive, "real": np.log(positive)}[target]
    params = dict(n_experts=3, n_init=1, random_state=0, max_iter=max_iter, tol=0)
    params.update(options, **extra)
    cpu = Estimator(**params).fit(X, y)
    gpu = Estimator(**params, device="cuda").fit(X, y)
    return X, cpu, gpu


@pytest.mark.parametrize("name", list(FITS))
def test_other_models_on_gpu_match_cpu(name):
    X, cpu, gpu = _fit_pair(name)
    assert isinstance(gpu.expert_coef_, np.ndarray)
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(gpu.log_likelihood_, cpu.log_likelihood_, rtol=1e-6)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6, atol=1e-6)


def _collinear_float32_data(n=1000, seed=0):
    """Eight rescaled copies of one feature (scales 1 to 100) and another,
    all near 10, in float32: nearly singular gate covariances."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n)
    X = np.column_stack([x * s for s in np.geomspace(1, 100, 8)] + [rng.randn(n)])
    y = np.where(x > 0, 2 * x, -X[:, -1]) + 0.1 * rng.randn(n)
    return (X + 10).astype(np.float32), y.astype(np.float32)


def test_float32_gaussian_gate_on_collinear_features_on_gpu(monkeypatch):
    # nearly singular covariances in float32, where the jitter retries a
    # factorization that fails (cuSOLVER's without raising). The fit itself
    # is chaotic here: X moved by one float32 ulp moved NumPy's
    # log-likelihood after 5 iterations by up to 7%, its predictions by 0.5
    # (after one iteration, by 6 times), so the GPU's gate is checked against
    # its own parameters evaluated in float64 on the host, and its fit only
    # loosely against NumPy's
    from scipy.special import log_softmax

    import skmoe.gates.gaussian as gaussian

    failed = []
    factored = gaussian._factored
    monkeypatch.setattr(
        gaussian,
        "_factored",
        lambda *a: factored(*a) or failed.append(type(a[1]).__module__) or False,
    )
    X, y = _collinear_float32_data()
    params = dict(n_experts=3, gate="gaussian", n_init=1, random_state=0)
    params.update(max_iter=5, tol=0)
    cpu = MoERegressor(**params).fit(X, y)
    gpu = MoERegressor(**params, device="cuda").fit(X, y)
    note = f"failed factorizations (CPU's, then the GPU's): {failed}"
    print(note)
    assert gpu.gate_covariances_.dtype == np.float32
    assert np.all(np.isfinite(gpu.gate_precisions_cholesky_)), note
    U = np.asarray(gpu.gate_precisions_cholesky_, dtype=float)
    # the gate of the GPU model's own float32 parameters, in float64 (as
    # tests/test_gaussian_gate.py's; 7e-7 off on NumPy)
    means, weights = gpu.gate_means_.astype(float), gpu.gate_weights_.astype(float)
    logits = np.stack(
        [
            np.log(weights[k])
            + np.log(np.diag(U[k])).sum()
            - 0.5 * (((X.astype(float) - means[k]) @ U[k]) ** 2).sum(axis=1)
            for k in range(3)
        ],
        axis=1,
    )
    expected = np.exp(log_softmax(logits, axis=1))
    np.testing.assert_allclose(gpu.predict_gate(X), expected, atol=1e-4, err_msg=note)
    np.testing.assert_allclose(
        gpu.log_likelihood_samples(X, y).sum(), gpu.log_likelihood_, rtol=1e-5
    )
    # no worse than NumPy's by more than twice the 7% that one ulp moved it
    assert gpu.log_likelihood_ > cpu.log_likelihood_ - 0.15 * abs(
        cpu.log_likelihood_
    ), note


@pytest.mark.parametrize("name", ["gaussian_tied", "hierarchical"])
def test_fits_under_raising_linalg_match_cpu(name):
    # under cupyx.errstate(linalg="raise") a cuSOLVER failure raises
    # LinAlgError: where skmoe does not catch it (no jitter, no fallback), this
    # fit fails, and outside errstate the same failure passed silently
    import cupyx

    with cupyx.errstate(linalg="raise"):
        X, cpu, gpu = _fit_pair(name)
    np.testing.assert_allclose(gpu.log_likelihood_, cpu.log_likelihood_, rtol=1e-6)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6, atol=1e-6)


def test_float32_collinear_gaussian_gate_under_raising_linalg():
    # the jitter's retries after a LinAlgError (raised here, not silent); a
    # chaotic fit (see above): the same iterations, if the device rounds alike
    import cupyx

    X, y = _collinear_float32_data()
    params = dict(n_experts=3, gate="gaussian", n_init=1, random_state=0)
    params.update(max_iter=5, tol=0, device="cuda")
    quiet = MoERegressor(**params).fit(X, y)
    with cupyx.errstate(linalg="raise"):
        raising = MoERegressor(**params).fit(X, y)
    note = f"log-likelihoods {raising.log_likelihood_} and {quiet.log_likelihood_}"
    print(note)
    assert np.all(np.isfinite(raising.gate_precisions_cholesky_))
    assert raising.log_likelihood_ > quiet.log_likelihood_ - 0.15 * abs(
        quiet.log_likelihood_
    ), note


def test_std_errors_and_predict_distribution_of_cupy_input():
    import sklearn

    X, counts, positive = _positive_data(n=500)
    y = np.log(positive)
    params = dict(n_experts=2, n_init=1, random_state=0, max_iter=200)
    cpu = MoERegressor(**params).fit(X, y)
    want = cpu.std_errors(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        Xg, yg = cupy.asarray(X), cupy.asarray(y)
        model = MoERegressor(**params).fit(Xg, yg)
        got = model.std_errors(Xg, yg)
        distribution = model.predict_distribution(Xg)
    assert set(got) == set(want)
    for name, value in got.items():
        assert isinstance(value, type(Xg)), name
        np.testing.assert_allclose(
            cupy.asnumpy(value), want[name], rtol=1e-4, err_msg=name
        )
    expected = cpu.predict_distribution(X)
    for name in ("weights", "means", "scales"):
        value = getattr(distribution, name)
        assert isinstance(value, np.ndarray), name  # held on the host
        np.testing.assert_allclose(value, getattr(expected, name), rtol=1e-6)
    np.testing.assert_allclose(
        distribution.cdf(y), expected.cdf(y), rtol=1e-6, atol=1e-12
    )


@pytest.mark.parametrize("kept_on", ["cupy", "numpy"])
def test_rows_kept_by_online_em_join_a_batch_of_the_other_kind(kept_on):
    # online EM keeps a first batch too small to fit and joins it to the next
    # batch: CuPy rows before a NumPy batch (NumPy's concat cannot read them),
    # or NumPy rows before a CuPy batch, raised a TypeError
    import sklearn

    X, y = _data(np.float64, n=200)
    cuts = [(0, 3), (3, 6), (6, 100), (100, 200)]
    reference = MoERegressor(2, gate="gaussian", random_state=0)
    for start, stop in cuts:
        reference.partial_fit(X[start:stop], y[start:stop])
    with sklearn.config_context(array_api_dispatch=True):
        model = MoERegressor(2, gate="gaussian", random_state=0)
        for i, (start, stop) in enumerate(cuts):
            Xb, yb = X[start:stop], y[start:stop]
            if (i == 0) == (kept_on == "cupy"):
                Xb, yb = cupy.asarray(Xb), cupy.asarray(yb)
            model.partial_fit(Xb, yb)
        # (in the last batch's namespace, as scikit-learn asks)
        got = model.predict(X if kept_on == "cupy" else cupy.asarray(X))
    got = got if kept_on == "cupy" else cupy.asnumpy(got)
    np.testing.assert_allclose(got, reference.predict(X), rtol=1e-10)
