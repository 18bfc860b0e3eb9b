"""cuSOLVER's linear algebra as CuPy gives it: failures pass silently unless
``cupyx.errstate(linalg="raise")``."""

import array_api_strict as _xs
import numpy as _np

globals().update({name: getattr(_xs.linalg, name) for name in _xs.linalg.__all__})
_inv, _solve = _xs.linalg.inv, _xs.linalg.solve

#: "ignore" (CuPy's default) or "raise", set by cupyx.errstate
state = {"linalg": "ignore"}


def _failed(what):
    if state["linalg"] == "raise":
        raise _np.linalg.LinAlgError(what)


def _potf2(a):
    """LAPACK's unblocked lower Cholesky in place; False where a pivot is not
    positive (left in the diagonal, the rest of the matrix as it was)."""
    n = a.shape[0]
    for j in range(n):
        ajj = a[j, j] - a[j, :j] @ a[j, :j]
        if not ajj > 0:
            a[j, j] = ajj
            return False
        a[j, j] = ajj = _np.sqrt(ajj)
        a[j + 1 :, j] = (a[j + 1 :, j] - a[j + 1 :, :j] @ a[j, :j]) / ajj
    return True


def cholesky(x, /, *, upper=False):
    from . import asarray

    a = x.get().copy()
    batch = a.reshape(-1, *a.shape[-2:])
    ok = [_potf2(matrix) for matrix in batch]
    if not all(ok):
        _failed("Matrix is not positive definite")
    factor = _np.tril(batch).reshape(a.shape)
    if upper:
        factor = _np.swapaxes(factor, -1, -2)
    return asarray(factor, device=x.device)


def solve(x1, x2, /):
    try:
        return _solve(x1, x2)
    except _np.linalg.LinAlgError:
        _failed("Singular matrix")
    if x2.ndim == 1:
        shape = x1.shape[:-1]
    else:
        shape = _np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]) + x2.shape[-2:]
    return _nan(shape, x1)


def inv(x, /):
    try:
        return _inv(x)
    except _np.linalg.LinAlgError:
        _failed("Singular matrix")
    return _nan(x.shape, x)


def _nan(shape, like):
    from . import full

    return full(shape, _np.nan, dtype=like.dtype, device=like.device)
