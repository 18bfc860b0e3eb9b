"""CuPy against NumPy on a real GPU; skipped cleanly where there is none."""

import numpy as np
import pytest

from skmoe import MoEClassifier, MoERegressor
from skmoe._backend import _import_cupy

cupy = _import_cupy()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(cupy is None, reason="needs CuPy and a usable CUDA device"),
]


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
