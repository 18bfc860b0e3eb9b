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
