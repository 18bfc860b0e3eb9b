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
    """A singular matrix of a stack gives NaN for its own solution alone: CuPy
    solves a stack by cuBLAS's batched LU (``getrfBatched``, ``getrsBatched``),
    each matrix on its own, and a zero pivot divides by zero (inf or NaN) in
    its solution only."""
    from . import asarray

    try:
        return _solve(x1, x2)
    except _np.linalg.LinAlgError:
        _failed("Singular matrix")
    a, b = x1.get(), x2.get()
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    batch = _np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = _np.broadcast_to(a, batch + a.shape[-2:])
    b = _np.broadcast_to(b, batch + b.shape[-2:])
    out = _np.empty(b.shape, dtype=_np.result_type(a, b))
    for index in _np.ndindex(*batch):
        try:
            out[index] = _np.linalg.solve(a[index], b[index])
        except _np.linalg.LinAlgError:
            out[index] = _np.nan
    return asarray(out[..., 0] if vector else out, device=x1.device)


def inv(x, /):
    try:
        return _inv(x)
    except _np.linalg.LinAlgError:
        _failed("Singular matrix")
    return _nan(x.shape, x)


def _nan(shape, like):
    from . import full

    return full(shape, _np.nan, dtype=like.dtype, device=like.device)
