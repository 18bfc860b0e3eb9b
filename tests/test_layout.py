"""The memory layout and byte order of the input do not change a fit: a
Fortran-ordered X (a DataFrame's values, a joblib memmap of one) fits bit for
bit as its C-ordered copy, a big-endian X as its native copy."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from skmoe import MoEClassifier, MoEGammaRegressor, MoEPoissonRegressor, MoERegressor

ESTIMATORS = [MoERegressor, MoEClassifier, MoEPoissonRegressor, MoEGammaRegressor]


def _data(Estimator, dtype=np.float64, n=120):
    rng = np.random.RandomState(0)
    # off-centre features: fitting centers them at their weighted means, a
    # sum whose order followed X's layout (an ulp apart, 5e-12 after EM)
    X = (rng.randn(n, 3) + [3.0, -2.0, 1.0]).astype(dtype)
    signal = np.where(X[:, 0] > 3, 2.0, -1.0) * X[:, 1]
    if Estimator is MoEClassifier:
        y = (signal + 0.5 * rng.randn(n) > 0).astype(int)
    elif Estimator is MoEPoissonRegressor:
        y = rng.poisson(np.exp(0.2 * signal))
    elif Estimator is MoEGammaRegressor:
        y = rng.gamma(2.0, np.exp(0.2 * signal) / 2.0)
    else:
        y = signal + 0.1 * rng.randn(n)
    return X, y, rng.uniform(0.5, 2.0, n)


def _model(Estimator, **params):
    return Estimator(n_experts=2, n_init=1, random_state=0, **params)


def _fitted(estimator):
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _assert_same_fit(reference, other, X):
    fitted, expected = _fitted(other), _fitted(reference)
    assert fitted.keys() == expected.keys()
    for name, value in expected.items():
        if isinstance(value, np.ndarray) or isinstance(value, float):
            assert_array_equal(fitted[name], value, err_msg=name, strict=True)
    assert_array_equal(other.predict(X), reference.predict(X), strict=True)


def _memmap(array, path):
    """``array`` as joblib hands it to a worker: a read-only np.memmap."""
    order = "F" if array.flags.f_contiguous else "C"
    out = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape, order=order)
    out[...] = array
    out.flush()
    del out
    return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape, order=order)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fortran_X_fits_as_c_ordered(Estimator, dtype):
    X, y, weight = _data(Estimator, dtype)
    reference = _model(Estimator).fit(X, y, sample_weight=weight)
    fortran = np.asfortranarray(X)
    fitted = _model(Estimator).fit(fortran, y, sample_weight=weight)
    _assert_same_fit(reference, fitted, X)
    assert fortran.flags.f_contiguous  # the caller's array as it was


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_dataframe_and_memmap_fit_as_c_ordered(Estimator, tmp_path):
    # a DataFrame's values are Fortran-ordered; GridSearchCV(n_jobs>1) hands
    # the workers read-only memmaps of them
    X, y, weight = _data(Estimator)
    reference = _model(Estimator).fit(X, y, sample_weight=weight)
    # (built from columns: pandas 2 keeps a C-ordered array's layout)
    frame = pd.DataFrame({name: X[:, j] for j, name in enumerate("abc")})
    assert frame.to_numpy().flags.f_contiguous  # (what made the difference)
    by_frame = _model(Estimator).fit(frame, y, sample_weight=weight)
    del by_frame.feature_names_in_  # (the one attribute a frame adds)
    _assert_same_fit(reference, by_frame, X)
    mapped = _memmap(np.asfortranarray(X), tmp_path / "X.dat")
    by_memmap = _model(Estimator).fit(mapped, y, sample_weight=weight)
    _assert_same_fit(reference, by_memmap, X)


def test_partial_fit_fortran_X_as_c_ordered():
    X, y, weight = _data(MoERegressor)
    reference = _model(MoERegressor, solver="sgd")
    fitted = _model(MoERegressor, solver="sgd")
    for batch in np.array_split(np.arange(X.shape[0]), 3):
        reference.partial_fit(X[batch], y[batch], sample_weight=weight[batch])
        chunk = np.asfortranarray(X[batch])
        fitted.partial_fit(chunk, y[batch], sample_weight=weight[batch])
    _assert_same_fit(reference, fitted, X)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
def test_std_errors_of_fortran_X_as_c_ordered(Estimator):
    X, y, weight = _data(Estimator)
    model = _model(Estimator, tol=1e-8, max_iter=2000, acceleration="squarem")
    model.fit(X, y, sample_weight=weight)  # (at the maximum: no warning)
    expected = model.std_errors(X, y, sample_weight=weight)
    result = model.std_errors(np.asfortranarray(X), y, sample_weight=weight)
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(result[name], value, err_msg=name, strict=True)


@pytest.mark.parametrize("Estimator", [MoERegressor, MoEClassifier])
@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_big_endian_X_fits_as_native(Estimator, dtype):
    # '>f4' was fitted (and predicted) in float64, as no dtype validation
    # names; its native copy in float32
    X, y, weight = _data(Estimator, np.dtype(dtype).newbyteorder("="))
    reference = _model(Estimator).fit(X, y, sample_weight=weight)
    swapped = X.astype(dtype)
    fitted = _model(Estimator).fit(swapped, y, sample_weight=weight)
    _assert_same_fit(reference, fitted, X)
    assert_array_equal(reference.predict(swapped), reference.predict(X), strict=True)
