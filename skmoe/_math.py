"""Namespace-generic numerical helpers shared by gates and experts.

Every function takes the array namespace ``xp`` first and uses only the Array API
standard (plus its ``linalg`` extension), so the same code runs on NumPy, CuPy and
array-api-strict. scipy.special.logsumexp is not used here because its Array API
support depends on the ``SCIPY_ARRAY_API`` environment variable at import time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import device, is_cupy_array

from ._backend import is_numpy_array

Array = Any

#: Design entries per block when weighted Gram matrices are accumulated on NumPy:
#: a block of ``GRAM_BLOCK // d`` samples stays in cache while each expert's weighted
#: copy is formed and multiplied, which measured 2x faster than full-length
#: temporaries (``benchmarks/RESULTS.md``, section 10).
GRAM_BLOCK = 65536
#: Bytes of the stacked (experts, d, n) temporaries of weighted Gram matrices
#: on other namespaces (a GPU, where each product is a kernel launch of 5 to
#: 10 us of host time), all of them together (two with ``means``: the centred
#: columns and their weighted copy): as many experts' products at once as fit,
#: or one expert's where that alone is larger (the size the per-expert loop it
#: replaced allocated). Not counted: CuPy's stacked ``matmul`` makes both
#: operands C-contiguous first (its source), so each product also copies the
#: F-ordered ``design.T``, (n, d), or with ``means`` the centred columns'
#: transpose, a third (group, d, n) array; groups of one expert (at the
#: largest sizes) take 2-D products, which copy neither. Not measured on a GPU.
DEVICE_GRAM_BYTES = 2**28


#: Elements per block of the last axis when NumPy's logsumexp reduces another axis:
#: the temporaries then stay in cache (measured 54 -> 32 ms on a (16, 1e6) array).
LOGSUMEXP_BLOCK = 2**17

#: Arguments below which :func:`exp` gives 0: those whose exp is below the
#: dtype's smallest normal number (the log of it: -708.396 in float64, -87.337
#: in float32; just above it, exp can still round to a subnormal). NumPy's exp
#: is slow for them in float64 (8 to 26 times its time per element, -inf
#: included, on an AVX-512 machine, where it is SVML's), and subnormal results
#: slow the products and matrix products that use them in both dtypes (a
#: float32 fit to 5000 x 10 with 8 experts took 1.7 times its time with them;
#: a Gram matrix of gate weights down to 1e-45, 23 times). Responsibilities
#: and gate values sum to 1 in each row, far above the values flushed; fits
#: compared with the unflushed exp were the same bit for bit (RESULTS.md 51).
EXP_ZERO = {
    np.dtype(dtype): float(np.log(np.finfo(dtype).tiny))
    for dtype in (np.float64, np.float32)
}
#: Fewest elements for which :func:`exp` looks for such arguments (a pass over
#: the array: a tenth of an exp's time at 4e4 elements).
EXP_CHECK_SIZE = 8192


def writable_over(a: Array, *others: Array) -> bool:
    """Whether NumPy may write an elementwise result of ``a`` and ``others``
    over ``a``: all are NumPy arrays, and ``a`` is a writeable array that owns
    its data (a temporary of the caller's, not a view into another array) of
    the result's shape and dtype. The result's numbers are those of a new
    array; callers fall back to one where this is False (other namespaces)."""
    if not (is_numpy_array(a) and a.flags.writeable and a.flags.owndata):
        return False
    shape = a.shape
    for other in others:
        if not is_numpy_array(other):
            return False
        # ``shape == np.broadcast_shapes(shape, other.shape)`` without its
        # 4.5 us a call (five calls an EM iteration)
        theirs = other.shape
        if theirs != shape and (
            len(theirs) > len(shape)
            or any(
                n != 1 and n != m
                for n, m in zip(theirs[::-1], shape[::-1], strict=False)
            )
        ):
            return False
    return a.dtype == np.result_type(a, *others)


def logsumexp(xp, a: Array, axis: int = -1, overwrite: bool = False) -> Array:
    """log(sum(exp(a))) along ``axis`` without overflow; rows of all -inf give -inf.

    With ``overwrite``, NumPy's path works in ``a`` itself (a temporary of the
    caller's), which it leaves changed.
    """
    if is_numpy_array(a):
        axis = axis % a.ndim
        last = a.shape[-1]
        block = max(1024, LOGSUMEXP_BLOCK * last // max(a.size, 1))
        if axis == a.ndim - 1 or last <= block:
            return _numpy_logsumexp(a, axis, overwrite)
        parts = [
            _numpy_logsumexp(a[..., start : start + block], axis, overwrite)
            for start in range(0, last, block)
        ]
        return np.concatenate(parts, axis=-1)
    a_max = xp.max(a, axis=axis, keepdims=True)
    a_max = xp.where(xp.isfinite(a_max), a_max, xp.zeros_like(a_max))
    out = xp.log(xp.sum(xp.exp(a - a_max), axis=axis, keepdims=True)) + a_max
    return xp.squeeze(out, axis=axis)


def by_columns(xp, a: Array, b: Array, layout: str = "F", out=None) -> Array:
    """``a @ b`` for ``b`` of shape (..., m, n), each column of the product as
    the same column among others: a lone column (n = 1: a row predicted alone,
    or alone in the last chunk or block) is taken as the first of ``a @ [b,
    b]``. NumPy hands a product with one column to BLAS's matrix-vector kernel
    (gemv), which adds the m terms in another order than the matrix-matrix one
    (gemm) of two columns or more: with OpenBLAS 0.3.31's SkylakeX kernels,
    2909 of 3375 float64 columns alone (``a`` of 1 to 200 rows, 1 to 300
    terms) differed in the last bits from the same column among 1030; on two
    copies, none where ``a`` has two rows or more, but for the columns past
    the 1024th of the large products (12 rows and 32 terms or more), which
    another kernel takes. The two copies are laid out as the batch's ``b``
    is (``layout``: "F", column-major, as :func:`design_matrix`'s columns
    are; "C", row-major, as a product's): OpenBLAS's SkylakeX kernels for
    small products sum a column by another order where one operand is
    transposed (4 experts, 16 features: 37 of 40 rows' gates alone differed
    from the batch on row-major copies of a design column, none on
    column-major ones). ``a`` goes to BLAS column-major too (the transpose
    of row-major coefficients, copied so where it is not: a fitted model's,
    rebuilt by ``np.vstack``, were row-major): from 32 terms on, OpenBLAS
    0.3.31's SkylakeX kernels sum a column of a row-major ``a``'s product by
    an order that depends on the batch (2, 3 or 8 rows, 32 to 301 terms: 34
    to 40 of 40 columns of a batch of 40 differed from the same among 70000;
    none column-major). One row of ``a`` (one expert) is a matrix-vector
    product whatever ``b``, whose column's bits can depend on its batch
    (one expert, 16 features: 15 to 24 of 40 rows alone differed from the
    same rows in a batch of 40, SkylakeX and Haswell kernels).
    Where BLAS's gemm gives a column other bits beside other columns, so does
    this (docs/user_guide/pipelines.rst). ``out``: a NumPy array to write
    the product into (a work array kept across row chunks), where ``b`` is a
    NumPy array; it is returned."""
    if is_numpy_array(a) and not a.mT.flags.c_contiguous:
        a = np.ascontiguousarray(a.mT).mT  # column-major, as coef.T of C coef
    if out is not None and is_numpy_array(b):
        if b.shape[-1] != 1:
            return np.matmul(a, b, out=out)
        out[...] = by_columns(xp, a, b, layout)
        return out
    if b.shape[-1] != 1:
        return a @ b
    if layout == "C":
        pair = xp.concat([b, b], axis=-1)
    else:
        pair = xp.concat([b.mT, b.mT], axis=-2).mT  # (xp.stack: 2x slower)
    return (a @ pair)[..., :1]


def sums_in_turn(xp, a: Array, axis: int = 0, keepdims: bool = False) -> Array:
    """``xp.sum(a, axis=axis)`` for ``a`` whose last axis holds the samples
    (experts-major, (K, ..., n), ``axis`` not the last): on NumPy, each
    sample's terms added in turn, whatever the number of samples.

    NumPy adds a C-ordered array's rows in turn, one elementwise addition of
    the samples' axis at a time, as long as that axis holds two samples or
    more; a lone column (one sample: a single row predicted, or the last block
    of :func:`log_softmax_and_norm`) it sums pairwise, another order from 8
    terms on, so that a row's gate moved in its last bits with the number of
    rows predicted beside it. Such a column is summed as two copies of it.
    """
    if is_numpy_array(a) and _lone_column(a, axis):
        return np.sum(_twin_columns(a), axis=axis, keepdims=keepdims)[..., :1]
    return xp.sum(a, axis=axis, keepdims=keepdims)


def _lone_column(a, axis) -> bool:
    """Whether ``a`` is one column (its last axis of length 1) summed over
    another axis, which NumPy would add pairwise (:func:`sums_in_turn`)."""
    return a.ndim > 1 and a.shape[-1] == 1 and axis % a.ndim != a.ndim - 1


def _twin_columns(a):
    """``a`` (..., 1) as a C-ordered (..., 2) array of two copies of it."""
    twin = np.empty(a.shape[:-1] + (2,), dtype=a.dtype)
    twin[...] = a
    return twin


def exp(xp, a: Array, out: Array | None = None) -> Array:
    """``xp.exp(a)``; on NumPy (into ``out``, ignored elsewhere) with
    results below the smallest normal number flushed to 0 (``EXP_ZERO``),
    as a CPU's flush-to-zero mode would, and without exp's slow path for them.

    Log responsibilities of sharply separated experts are often below
    ``EXP_ZERO`` (6% of those of a float64 fit to 5000 x 10 with 8 experts;
    13% of the fit's time was exp's, a third with the gradient solver at 4).
    Such arguments are multiplied by 0 before the exp and their results
    after it, the others by 1: each element's exp is computed on its own, so
    the others are NumPy's, and the products are branch-free (a masked
    assignment took as long as the exp it spared). Other namespaces keep
    their exp (a GPU flushes subnormals itself where it is set to).
    """
    if type(a) is np.ndarray and a.size < EXP_CHECK_SIZE:
        return np.exp(a, out=out)  # (the small arrays of an EM iteration at once)
    if not is_numpy_array(a):
        return xp.exp(a)
    low = EXP_ZERO.get(a.dtype)
    if low is None or a.size < EXP_CHECK_SIZE:
        return np.exp(a, out=out)
    least = np.fmin.reduce(a, axis=None)  # (NaN: none but NaN)
    if not least < low:  # none below
        return np.exp(a, out=out)
    keep = np.greater_equal(a, low, out=np.empty_like(a), casting="unsafe")
    if out is None:
        out = np.empty_like(a)  # exp's own layout (order "K")
    if least == -np.inf:  # (-inf * 0 is NaN)
        np.maximum(a, low, out=out)
        np.multiply(out, keep, out=out)
    else:
        np.multiply(a, keep, out=out)
    np.exp(out, out=out)
    return np.multiply(out, keep, out=out)


def _numpy_logsumexp(a, axis, overwrite=False):
    """The same arithmetic as the generic path, with one temporary instead of
    three (none with ``overwrite``); summed by :func:`sums_in_turn`."""
    a_max = np.max(a, axis=axis, keepdims=True)
    a_max[~np.isfinite(a_max)] = 0
    shifted = np.subtract(a, a_max, out=a if overwrite else None)
    exp(np, shifted, out=shifted)
    out = np.log(sums_in_turn(np, shifted, axis=axis, keepdims=True))
    out += a_max
    return np.squeeze(out, axis=axis)


def weighted_grams(xp, design: Array, weights: Array, means=None) -> Array:
    """``X~^T diag(w_k) X~`` for each row ``w_k`` of ``weights``: (K, d, d);
    with ``means`` (d, K), of the columns less ``means[:, k]``.

    ``design`` is (d, n), ``weights`` (K, n). On NumPy the sum runs over blocks of
    samples (see ``GRAM_BLOCK``); elsewhere (a GPU) as stacked products over
    groups of rows (see ``DEVICE_GRAM_BYTES``).
    """
    d, n_samples = design.shape

    def centred(part, k):
        return part if means is None else part - means[:, k][:, None]

    if not is_numpy_array(design):
        return _device_grams(xp, design, weights, means)
    block = max(256, GRAM_BLOCK // max(d, 1))
    grams = np.zeros((weights.shape[0], d, d), dtype=design.dtype)
    for start in range(0, n_samples, block):
        part = design[:, start : start + block]
        for k in range(weights.shape[0]):
            z = centred(part, k)
            grams[k] += (z * weights[k, start : start + block]) @ z.T
    return grams


def _device_grams(xp, design, weights, means=None):
    """:func:`weighted_grams` off NumPy: one stacked product per group of
    rows of ``weights``, whose (group, d, n) temporaries (one, or two with
    ``means``) take at most ``DEVICE_GRAM_BYTES`` together, or one row's
    where that alone is more (the loop over rows it replaces made those per
    row, a kernel launch or three each). Groups of one row take that loop's 2-D
    products, which copy no operand."""
    d, n_samples = design.shape
    n_weights = weights.shape[0]
    if n_weights == 0:
        return xp.zeros((0, d, d), dtype=design.dtype, device=device(design))
    live = 1 if means is None else 2  # (group, d, n) arrays alive at once
    full = live * d * n_samples * (xp.finfo(design.dtype).bits // 8)
    group = max(1, max(DEVICE_GRAM_BYTES, full) // max(full, 1))
    grams = []
    for first in range(0, n_weights, group):
        last = min(first + group, n_weights)
        if group == 1:  # 2-D products, which copy nothing (see DEVICE_GRAM_BYTES)
            z = design if means is None else design - means[:, first][:, None]
            grams.append(((z * weights[first, None, :]) @ z.T)[None, :, :])
            continue
        weight = weights[first:last, None, :]  # (g, 1, n)
        if means is None:
            grams.append((design[None, :, :] * weight) @ design.T)
            continue
        shift = xp.matrix_transpose(means[:, first:last])[:, :, None]  # (g, d, 1)
        z = design[None, :, :] - shift
        grams.append((z * weight) @ xp.matrix_transpose(z))
    return grams[0] if len(grams) == 1 else xp.concat(grams, axis=0)


def take_last(xp, a: Array, index: Array) -> Array:
    """``a[..., index]``: the entries ``index`` (integers) of the last axis.

    On NumPy by indexing: ``np.take`` along the last axis of an F-ordered array
    (the design matrix, built by a concat of ``X.T``) first copies all of it, a
    design-sized temporary per call (186 against 36 ms at 1e6 x 20).
    """
    if is_numpy_array(a):
        # C order, as np.take gives: the products that follow round (and run)
        # as before
        return np.ascontiguousarray(a[..., index])
    return xp.take(a, index, axis=a.ndim - 1)


def log_softmax(xp, a: Array, axis: int = -1, out: Array | None = None) -> Array:
    """Logarithm of the softmax of ``a`` along ``axis``, as ``(a - max) -
    log(sum(exp(a - max)))``: ``a - logsumexp(a)`` gave logits beyond
    ``log(K) / eps`` (1e16) a log-softmax of 0 each, weights that summed to K.
    ``out``: as :func:`log_softmax_and_norm`'s."""
    return log_softmax_and_norm(xp, a, axis, out=out)[0]


def log_softmax_and_norm(xp, a: Array, axis: int = -1, out: Array | None = None):
    """:func:`log_softmax` and :func:`logsumexp` of ``a`` from one pass.

    On NumPy in blocks of the last axis, each block's sums taken by
    :func:`sums_in_turn`: a column's results are the same whatever the other
    columns, their number and the blocks (the last block of 16385 columns at
    K=8, a lone column, was summed pairwise, in another order than the
    others: 9 of 40 rows' gates moved, by up to 52 units in the last place).
    ``out``: on NumPy, the array of ``a``'s shape and dtype the log-softmax
    is written into (``a`` itself: in place), not a new one; elsewhere
    ignored.
    """
    if is_numpy_array(a):  # in place, in blocks of the last axis (as logsumexp)
        axis = axis % a.ndim
        last = a.shape[-1]
        if last == 0:  # no samples
            shape = a.shape[:axis] + a.shape[axis + 1 :]
            return np.empty_like(a), np.full(shape, -np.inf, dtype=a.dtype)
        block = max(1024, LOGSUMEXP_BLOCK * last // max(a.size, 1))
        if axis == a.ndim - 1:
            block = max(last, 1)
        if out is None:
            out = np.empty_like(a)
        norms = []
        for start in range(0, last, block):
            part = a[..., start : start + block]
            a_max = np.max(part, axis=axis, keepdims=True)
            a_max[~np.isfinite(a_max)] = 0
            shifted = np.subtract(part, a_max, out=out[..., start : start + block])
            total = sums_in_turn(np, exp(np, shifted), axis=axis, keepdims=True)
            log_total = np.log(total)
            shifted -= log_total
            norms.append(np.squeeze(log_total + a_max, axis=axis))
        norm = norms[0] if len(norms) == 1 else np.concatenate(norms, axis=-1)
        return out, norm
    a_max = xp.max(a, axis=axis, keepdims=True)
    a_max = xp.where(xp.isfinite(a_max), a_max, xp.zeros_like(a_max))
    shifted = a - a_max
    log_total = xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
    return shifted - log_total, xp.squeeze(log_total + a_max, axis=axis)


def design_matrix(xp, X: Array, offset: Array | None = None, dtype=None) -> Array:
    """Return ``[1, X - offset]^T``, of shape (n_features + 1, n_samples).

    Every per-sample, per-expert array in skmoe is laid out experts-major, (K, n):
    reductions over the experts then run over contiguous rows, which is 10 to 50
    times faster in NumPy than reducing a short last axis. The transposed design
    matrix makes ``coef.T @ design`` produce that layout directly.

    Fitting centers the features (``offset``: their weighted means), which leaves
    the model unchanged, as the intercepts are not penalized, and keeps the
    normal equations well conditioned when a feature sits far from 0 (a
    calendar year, say); see :func:`center_intercepts`.

    ``dtype``, a float dtype at least as wide as X's (None: X's), is the
    design's: float32 X predicted by a float64 model is widened in the same
    copy (exactly, as ``astype`` would), not copied once more before it.
    """
    if dtype is not None and (offset is not None or not is_numpy_array(X)):
        X = xp.astype(X, dtype)  # (the subtraction in the design's dtype)
    if is_numpy_array(X):  # written in place: one copy of X, not two
        out = np.empty(
            (X.shape[0], X.shape[1] + 1), dtype=X.dtype if dtype is None else dtype
        )
        out[:, 0] = 1
        if offset is None:
            out[:, 1:] = X
        else:
            np.subtract(X, offset[None, :], out=out[:, 1:])
        return out.T
    ones = xp.ones((1, X.shape[0]), dtype=X.dtype, device=device(X))
    features = X.T if offset is None else (X - offset[None, :]).T
    return xp.concat([ones, features], axis=0)


def design_rows(columns):
    """The design-matrix rows of ``columns``: the intercept's row 0 first."""
    return np.concatenate([[0], np.asarray(columns, dtype=np.intp) + 1]).astype(np.intp)


def restrict_rows(coef, columns):
    """Host coefficients (n_features + 1, m) for the features ``columns``."""
    return coef if columns is None else coef[design_rows(columns)]


def expand_rows(coef, columns, n_features):
    """Host coefficients of ``columns``' features widened to all ``n_features``,
    with zeros for the features the part does not see."""
    if columns is None:
        return coef
    out = np.zeros((n_features + 1,) + coef.shape[1:], dtype=coef.dtype)
    out[design_rows(columns)] = coef
    return out


def center_intercepts(xp, coef: Array, offset: Array, sign: float = 1.0) -> Array:
    """Coefficients (d, m), intercepts in row 0, moved between feature origins.

    ``sign=1``: from features ``x`` to centered features ``x - offset``, whose
    intercepts are ``b_0 + offset . b``; ``sign=-1`` goes back. The slopes do not
    change, so neither do the predictions.
    """
    shift = offset[None, :] @ coef[1:, ...]
    return xp.concat([coef[:1, ...] + sign * shift, coef[1:, ...]], axis=0)


class WorkArrays:
    """NumPy work arrays kept across the row chunks of one call: ``work(name,
    like)`` is a C-ordered array of ``like``'s shape and dtype, a view of one
    array per name made at the first chunk (new (K, n) arrays at every chunk
    were given back by glibc and faulted in again: 77k minor page faults a
    call of 1e6 rows, K=8); ``clear()`` lets them go."""

    def __init__(self):
        self._arrays = {}

    def __call__(self, name, like):
        return self.shaped(name, like.shape, like.dtype)

    def shaped(self, name, shape, dtype):
        """The work array ``name`` of ``shape`` and ``dtype``."""
        size = math.prod(shape)
        flat = self._arrays.get(name)
        if flat is None or flat.dtype != dtype or flat.size < size:
            flat = self._arrays[name] = np.empty(size, dtype)
        return flat[:size].reshape(shape)

    def clear(self):
        self._arrays.clear()


def mixture_std(xp, weights, means, variances, mean, scales=None, work=None):
    """Standard deviation of Gaussian mixtures along axis 0, given their mean:
    ``sqrt(sum_k w_k (s2_k + (mu_k - mean)^2))``.

    ``scales``, the components' standard deviations, stand in for
    ``variances`` (pass None there) where their squares may overflow.

    The central form: ``sum_k w_k (s2_k + mu_k^2) - mean^2`` cancels, and lost
    all digits once |y| exceeded the noise by about 1e8 (1e3 in float32). Summed
    in units of the largest deviation or scale, so that squares do not overflow
    where the answer does not (far out, x ~ 1e200); experts of weight 0 add
    nothing (0 * inf would be NaN). That form takes about 15 passes over the
    (K, n) arrays, so the plain sum is tried first and kept at each row where
    its result is finite and above the square root of the smallest normal
    number; the scaled sum is taken at the other rows alone, so that a row's
    standard deviation does not depend on the other rows of its chunk.
    """
    # the plain sum first (2.6 times cheaper at 1e6 rows, K=16); the scaled
    # one only where it overflowed or may have underflowed
    deviation = None
    plain = _plain_std_in_place(weights, means, variances, mean, scales, work)
    if plain is None:
        plain, deviation, variances, scales = _plain_std(
            xp, weights, means, variances, mean, scales
        )
    tiny = float(xp.finfo(plain.dtype).smallest_normal) ** 0.5
    kept = xp.isfinite(plain) & (plain > tiny)
    if bool(xp.all(kept)):
        return plain
    if deviation is None:  # (the in-place sum keeps none of its parts)
        _, deviation, variances, scales = _plain_std(
            xp, weights, means, variances, mean, scales
        )
    if scales is None:
        scales = xp.sqrt(variances)
    size = xp.maximum(xp.abs(deviation), scales + xp.zeros_like(means))
    unit = xp.max(size, axis=0)
    unit = xp.where(unit > 0, unit, xp.ones_like(unit))
    spread = (scales / unit) ** 2 + (deviation / unit) ** 2
    # (the plain sums where they held: the scaled ones of a whole batch with
    # a far row in it moved 138 to 150 of 400 rows' standard deviations by a
    # float or two from those of the rows alone, K = 3 and 8)
    return xp.where(kept, plain, unit * xp.sqrt(expert_sums(weights * spread)))


def expert_sums(terms):
    """Sums of ``terms`` (experts, ...) over the experts (axis 0), pairwise:
    the sum of the first ``2**j`` experts' terms (the largest power of two
    below K) plus that of the rest, each likewise, one expert's array at a
    time; so each sample's sum is added in one order whatever the other
    samples, their number, the array's layout and its backend (where K = 1,
    a view of the one expert's terms). It is the order of adding neighbours
    level by level (experts 0 + 1, 2 + 3, ..., then those sums in pairs, an
    odd one carried up), which :func:`expert_sums_in_place` takes in
    ``log2 K`` NumPy calls.

    Not ``xp.sum(axis=0)``, whose order is the backend's: NumPy adds a
    C-ordered (K, n) array an expert at a time, and a Fortran-ordered one (a
    distribution's transposed (n, K) parameters) or a single column
    pairwise from K = 8, so that of 300 rows of a ``PredictiveMixture`` of
    K = 8, 73 had a std that differed in the last bit between C- and
    Fortran-ordered parameters.
    """
    n_terms = terms.shape[0]
    if n_terms == 1:
        return terms[0, ...]
    half = 1 << ((n_terms - 1).bit_length() - 1)
    return expert_sums(terms[:half, ...]) + expert_sums(terms[half:, ...])


def expert_sums_in_place(terms):
    """:func:`expert_sums` of a NumPy array (K, ...) of any layout, the same
    floats, added into its first row, which it returns (a view: copy it to
    let the rest go); no temporaries. Level by level: at step ``s`` = 1, 2,
    4, ... the rows ``s, 3s, 5s, ...`` are added into the rows ``0, 2s, 4s,
    ...`` before them, one NumPy call a level, not one per pair (K - 1):
    the moments of a ``PredictiveMixture`` at K = 128 took 0.26 to 0.46 of
    the per-pair tree's time with C-ordered parameters, 0.74 to 0.91 with
    Fortran-ordered ones; at K = 32, 0.59 to 0.97
    (``benchmarks/mixture_sums.py --old tree``)."""
    n_terms = terms.shape[0]
    step = 1
    while step < n_terms:
        into = terms[: n_terms - step : 2 * step]
        np.add(into, terms[step :: 2 * step], out=into)
        step *= 2
    return terms[0]


def _plain_std(xp, weights, means, variances, mean, scales=None):
    """:func:`mixture_std`'s plain sum ``sqrt(sum_k w_k (s2_k + (mu_k -
    mean)^2))``, with the deviations, variances and scales it took (0 where
    a weight is not positive)."""
    deviation = xp.where(weights > 0, means - mean, xp.zeros_like(means))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # NumPy's
        if scales is None:
            variances = xp.where(weights > 0, variances, xp.zeros_like(variances))
        else:
            scales = xp.where(weights > 0, scales, xp.zeros_like(scales))
            variances = scales * scales
        plain = xp.sqrt(expert_sums(weights * (variances + deviation**2)))
    return plain, deviation, variances, scales


def _plain_std_in_place(weights, means, variances, mean, scales=None, work=None):
    """:func:`_plain_std`'s standard deviations, the same numbers, from one
    (K, n) array written in place, where the inputs are NumPy arrays of one
    dtype (C-ordered where ``scales`` are given, squared an expert at a
    time); else None. The expressions' own temporaries held up to 6
    (K, n) arrays at once beside the weights and means: predict(return_std=
    True) of MoERegressor, K=8, took 36.0 MiB at 1e6 rows where predict took
    21.3."""
    spread = variances if scales is None else scales
    parts = (weights, means, mean, spread)
    if not all(is_numpy_array(a) for a in parts):
        return None
    if scales is not None and not all(a.flags.c_contiguous for a in parts):
        return None
    if len({a.dtype for a in parts}) > 1 or means.ndim != 2:
        return None
    if weights.shape != means.shape or mean.shape != means.shape[1:]:
        return None
    if spread.ndim != 2 or spread.shape[0] != means.shape[0]:
        return None
    if spread.shape[1] not in (1, means.shape[1]):
        return None
    positive = weights > 0
    if work is None:
        total = np.zeros_like(means)  # the deviations, then the terms
    else:
        total = work
        total.fill(0)
    np.subtract(means, mean, out=total, where=positive)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        np.square(total, out=total)
        if scales is None:
            np.add(variances, total, out=total, where=positive)
        else:  # (the squares an expert at a time)
            for k in range(total.shape[0]):
                square = np.multiply(scales[k], scales[k])
                np.add(square, total[k], out=total[k], where=positive[k])
        np.multiply(weights, total, out=total)
        # (a new array: a view of total's first row held all of it)
        return np.sqrt(expert_sums_in_place(total))


def weighted_ridge(xp, design, target, weighted_resp, mask, alpha, shared=()):
    """Each expert's ridge regression of ``target`` (n,) on ``design`` (d, n),
    weighted by its row of ``weighted_resp`` (K, n), with the penalty
    ``alpha * mask`` on the diagonal (``penalty_mask``'s, the intercept
    free) and the rows ``shared`` the same for every expert: (d, K)."""
    grams = weighted_grams(xp, design, weighted_resp) + alpha * diag(xp, mask)
    rhs = design @ (weighted_resp * target[None, :]).T  # (d, K)
    weights = None
    if shared:
        shape = (weighted_resp.shape[0],)
        weights = xp.ones(shape, dtype=design.dtype, device=device(design))
    return solve_experts(xp, grams, rhs, shared, weights)


def solve_experts(xp, A, b, shared, weights, *, nan_ok=False):
    """Each expert's solution of ``A[k] x_k = b[:, k]``, ``A`` (K, d, d), ``b``
    (d, K): (d, K). By :func:`solve_shared` where rows ``shared`` are the same
    for every expert (``weights`` (K,) weigh each expert's equations), else by
    :func:`solve_symmetric`; ``nan_ok`` as there."""
    if shared:
        return solve_shared(xp, A, b.T, shared, weights, nan_ok=nan_ok).T
    return solve_symmetric(xp, A, b.T[:, :, None], nan_ok=nan_ok)[:, :, 0].T


def penalty_mask(xp, like: Array) -> Array:
    """Diagonal of the L2 penalty on a coefficient matrix ``like`` of shape (d, m).

    0 for the intercept row, 1 for the feature rows; dtype and device follow ``like``.
    """
    if is_numpy_array(like):  # 0.8 us against 4 (5 calls per EM iteration)
        mask = np.ones(like.shape[0], dtype=like.dtype)
        mask[0] = 0
        return mask
    mask = xp.ones((like.shape[0],), dtype=like.dtype, device=device(like))
    return xp.concat([mask[:1] * 0, mask[1:]])


def ridge_squares(xp, coef: Array, mask: Array | None = None) -> Array:
    """``sum_j mask_j coef_jk**2`` (m,): each column's squares under the ridge
    penalty, of the (d, m) coefficients ``coef`` (intercepts free: ``mask``,
    their :func:`penalty_mask`, computed where None)."""
    if mask is None:
        mask = penalty_mask(xp, coef)
    return xp.sum(mask[:, None] * coef**2, axis=0)


def ridge_penalty(xp, coef: Array, alpha: float) -> Array:
    """``(alpha / 2) sum_jk mask_j coef_jk**2``, the ridge penalty on the
    (d, m) coefficients ``coef`` (intercepts free), as a 0-d array of their
    dtype; 0 at ``alpha=0`` (``0 * inf`` where a slope's square overflows)."""
    if alpha == 0:
        return xp.zeros((), dtype=coef.dtype, device=device(coef))
    return 0.5 * alpha * xp.sum(penalty_mask(xp, coef)[:, None] * coef**2)


def diag(xp, v: Array) -> Array:
    """The square matrix with ``v`` on its diagonal."""
    if is_numpy_array(v):
        return v[:, None] * np.eye(v.shape[0], dtype=v.dtype)
    return v[:, None] * xp.eye(v.shape[0], dtype=v.dtype, device=device(v))


def solve_symmetric(
    xp, A: Array, B: Array, noise: Array | float = 0.0, *, nan_ok: bool = False
) -> Array:
    """Solve ``A @ X = B`` for symmetric positive semi-definite (stacks of) ``A``.

    Shapes: ``A`` (..., d, d), ``B`` (..., d, k). A jitter is added to the
    diagonal, so that a rank-deficient system, e.g. the normal equations of an
    expert that no sample is responsible for, or of two identical features, gives
    a finite minimum-norm-like answer instead of NaN or a singular-matrix error.
    It is relative to each diagonal entry, ``rel * A_ii``, plus the dtype's
    smallest normal number, with ``rel = max(1e-10, 4 eps)`` (``eps`` the
    dtype's machine epsilon, so that the jitter survives rounding in float32),
    and the system is solved after a symmetric scaling to a unit diagonal. The
    answer then does not depend on the variables' scales, however far apart
    (the rounding errors of a Gram matrix, scaled so, are a few eps times the
    number of samples whatever the scales). Earlier versions' jitter, relative
    to the mean diagonal, shrank the intercept beside a feature of scale 1e7 (a
    Unix time stamp) by 30%; relative to ``max(A_ii, eps * max_j A_jj)``, it
    shrank the intercept beside a feature of scale 1e6 in float32 (a fit at R^2
    0.82 instead of 0.998, EM no longer monotone) and a feature of scale 1e-13
    to nearly 0 in float64. A feature that is constant in the training data is
    centred to exact zeros by the fit (see ``skmoe._fitting._feature_offset``), so
    its coefficient is 0.

    ``noise`` (a scalar, or an array that broadcasts against the diagonal,
    (..., d)) is added to the diagonal as well: the size of the rounding errors
    in ``A``, where ``A`` is a difference that cancels (a Newton Hessian at
    saturated probabilities) and may have lost its definiteness.

    A system singular even after the jitter gets the minimum-norm answer (NaN
    where the system is not finite). NumPy's solve raises there; CuPy's returns
    inf or NaN, so a float32 answer on CuPy is checked for finite entries, at
    one scalar read from the device. ``nan_ok``: the caller refuses an answer
    of inf or NaN itself (the Newton steps' halving), so it is not checked.
    """
    d = A.shape[-1]
    on_numpy = is_numpy_array(A)
    if on_numpy:  # a copy, as A * eye's sum, without the (..., d, d) product
        diagonal = np.diagonal(A, axis1=-2, axis2=-1).copy()
    else:
        eye = xp.eye(d, dtype=A.dtype, device=device(A))
        diagonal = xp.sum(A * eye, axis=-1)
    info = xp.finfo(A.dtype)
    eps, floor = float(info.eps), float(info.smallest_normal)
    positive = xp.maximum(diagonal, 0.0)
    size = positive + floor
    if isinstance(noise, (int, float)):
        noise = float(noise)
    # the floor in full, a normal number: rel * floor would be subnormal, which
    # flush-to-zero modes (-ffast-math builds) turn into an exact zero jitter
    jitter = max(1e-10, 4 * eps) * positive + floor + noise
    # symmetric (Jacobi) scaling to a unit diagonal: the LU solve is then the
    # same at any scale of the features (entries 1e12 apart lost digits)
    scale = 1.0 / xp.sqrt(size + noise)
    fast = on_numpy and d > 0 and jitter.shape == diagonal.shape
    if fast and jitter.dtype == A.dtype and scale.dtype == A.dtype:
        # in one copy of A, the jitter on its diagonal alone: the same numbers
        # for a finite A as the dense form's three (..., d, d) temporaries
        scaled = np.array(A, dtype=A.dtype, order="C")
        flat = scaled.reshape(-1, d * d)
        flat[:, :: d + 1] += jitter.reshape(-1, d)
        scaled *= scale[..., :, None]
        scaled *= scale[..., None, :]
    else:
        if on_numpy:
            eye = np.eye(d, dtype=A.dtype)
        scaled = (A + jitter[..., None] * eye) * scale[..., :, None]
        scaled = scaled * scale[..., None, :]
    rhs = B * scale[..., None]
    # NumPy's (array-api-strict's too) and torch's, a RuntimeError: not every
    # RuntimeError or ValueError, which would retry shape, dtype, device and
    # memory errors with pinv and report its failure instead
    linalg_error = getattr(xp.linalg, "LinAlgError", np.linalg.LinAlgError)
    singular = (np.linalg.LinAlgError, linalg_error)
    try:
        solution = xp.linalg.solve(scaled, rhs)
    except singular:
        return scale[..., None] * _minimum_norm(xp, scaled, rhs)
    # CuPy's solve does not raise (cuSOLVER's status is read only under
    # cupyx.errstate(linalg="raise")): a singular system's solution is inf or
    # NaN. Checked in float32 alone, whose jitter (4 eps) rounding can beat,
    # at one scalar from the device per solve; float64's (1e-10, 4.5e5 eps)
    # is left unchecked, as every solve would pay for that scalar
    if (
        not (on_numpy or nan_ok)
        and is_cupy_array(solution)
        and solution.dtype == xp.float32
        and not bool(xp.all(xp.isfinite(solution)))
    ):
        solution = _minimum_norm(xp, scaled, rhs)
    return scale[..., None] * solution


def _minimum_norm(xp, scaled: Array, rhs: Array) -> Array:
    """:func:`solve_symmetric`'s answer where its jittered, scaled system
    ``scaled`` is singular even so: a float32 Gram matrix of duplicated rows can
    round to indefinite by more than the jitter; the minimum-norm answer then.
    A system that overflowed (a Newton Hessian of rates of 1e12 at features of
    1e150), whose SVD fails as well, gets NaN, which the Newton steps' halving
    refuses: that system alone, not the stack's other (finite) ones, one solve
    for all experts (NaN for all of them refused the steps of experts whose
    systems were finite)."""
    finite = xp.all(xp.isfinite(scaled), axis=(-2, -1))[..., None, None]
    scaled = xp.where(finite, scaled, xp.zeros_like(scaled))
    solution = xp.linalg.pinv(scaled) @ rhs
    return xp.where(finite, solution, xp.full_like(solution, xp.nan))


def tie_rows(xp, values: Array, shared) -> Array:
    """``values`` (d, K) with the rows ``shared`` replaced by their means over
    the K columns: one value per shared row, the same in every column."""
    if not shared:
        return values
    mask = np.zeros(values.shape[0], dtype=np.float64)
    mask[list(shared)] = 1.0
    mask = xp.asarray(mask, dtype=values.dtype, device=device(values))[:, None]
    mean = xp.mean(values, axis=1, keepdims=True)
    return (1.0 - mask) * values + mask * mean


def solve_shared(
    xp,
    A: Array,
    b: Array,
    shared,
    weights: Array,
    noise: Array | None = None,
    *,
    nan_ok: bool = False,
) -> Array:
    """Minimize ``sum_k weights[k] (x_k^T A_k x_k / 2 - b_k^T x_k)`` over
    ``x`` (K, d) whose entries ``shared`` are the same for every k.

    ``A`` is (K, d, d), symmetric positive semi-definite; ``b`` is (K, d);
    ``weights`` (K,) are positive. The free entries ``f`` of each ``x_k`` and
    the shared ones ``c`` solve the arrow-shaped normal equations

        A_ff x_kf + A_fs c = b_kf                          for each k,
        sum_k weights[k] (A_sf x_kf + A_ss c - b_ks) = 0,

    solved by eliminating the free entries (one batched solve of the K blocks
    ``A_ff``, then the Schur complement's, of the size of ``shared``), so the
    cost stays that of the K separate solves. Each solve is
    :func:`solve_symmetric`'s, with its jitter, and ``noise`` (K, d), where
    given, the size of the rounding errors in the diagonal of each ``A_k``
    (added to the free blocks, and weighted and summed for the shared block);
    ``nan_ok`` as there.
    """
    d = A.shape[-1]
    free_rows = [j for j in range(d) if j not in shared]
    order = free_rows + list(shared)
    free = xp.asarray(free_rows, device=device(A))
    tied = xp.asarray(list(shared), device=device(A))
    rows_free = xp.take(A, free, axis=1)
    A_ff = xp.take(rows_free, free, axis=2)
    A_fs = xp.take(rows_free, tied, axis=2)
    A_ss = xp.take(xp.take(A, tied, axis=1), tied, axis=2)
    b_f, b_s = xp.take(b, free, axis=1), xp.take(b, tied, axis=1)
    noise_f, noise_s = 0.0, 0.0
    if noise is not None:
        noise_f = xp.take(noise, free, axis=1)
        noise_s = xp.sum(weights[:, None] * xp.take(noise, tied, axis=1), axis=0)
        noise_s = noise_s[None, :]
    solved = solve_symmetric(
        xp, A_ff, xp.concat([b_f[:, :, None], A_fs], axis=2), noise_f, nan_ok=nan_ok
    )
    x_f, coupling = solved[:, :, 0], solved[:, :, 1:]  # A_ff^-1 b_f, A_ff^-1 A_fs
    A_sf = xp.permute_dims(A_fs, (0, 2, 1))
    schur = xp.sum(weights[:, None, None] * (A_ss - A_sf @ coupling), axis=0)
    schur = 0.5 * (schur + schur.T)
    rhs = xp.sum(weights[:, None] * (b_s - (A_sf @ x_f[:, :, None])[:, :, 0]), axis=0)
    c = solve_symmetric(
        xp, schur[None, ...], rhs[None, :, None], noise_s, nan_ok=nan_ok
    )[0, :, 0]
    x_f = x_f - (coupling @ c[:, None])[:, :, 0]
    c = xp.broadcast_to(c[None, :], (x_f.shape[0], c.shape[0]))
    # back to the rows' order
    inverse = xp.asarray(np.argsort(order), device=device(A))
    return xp.take(xp.concat([x_f, c], axis=1), inverse, axis=1)


def constant_tolerance(dtype=np.float64) -> float:
    """How close to a constant y its predictions, of ``dtype``, must be to
    score 1 (relatively): 1e-9, or 1024 units in the last place where those
    are coarser (1.2e-4 in float32, where the best fits of constant amounts
    predicted them 1.5e-8 to 2.9e-6 off, and scored 0), at most float32's (a
    float16's, 1.0, scored predictions of 2 for a constant 3.3 as 1)."""
    if not np.issubdtype(dtype, np.floating):
        return 1e-9
    ulps = 1024 * float(np.finfo(dtype).eps)
    return max(1e-9, min(ulps, 1024 * float(np.finfo(np.float32).eps)))


def constant_target_score(y, y_pred, dtype=np.float64) -> float:
    """R^2 or D^2 where y is constant (no null deviance), as ``r2_score``: 1
    for predictions equal to y to :func:`constant_tolerance` of itself
    (``exp(log(3))`` is 3 less one unit in the last place), 0 otherwise (host
    arrays of the rows that count; ``dtype``: the predictions' own)."""
    tolerance = constant_tolerance(dtype)
    return 1.0 if np.all(np.abs(y_pred - y) <= tolerance * np.abs(y)) else 0.0


def _least_reaching(q, total):
    """The least integer of at least ``q'`` times ``total`` (an integer), for
    ``q'`` the least real that rounds to the float ``q`` (half a unit in the
    last place below it), in exact integer arithmetic."""
    a, b = float(q).as_integer_ratio()
    c, d = math.nextafter(float(q), 0.0).as_integer_ratio()
    # q' = (a / b + c / d) / 2: its ceiling times total by floor division
    return -(-(a * d + c * b) * total // (2 * b * d))


def weighted_lower_quantiles(values, quantiles, weights):
    """The weighted quantiles of ``values`` by NumPy's ``"inverted_cdf"``
    (the smallest value whose cumulative weight reaches ``q`` of the total:
    the rows repeated by integer weights), where a cumulative weight within
    rounding of ``q`` of the total reaches it.

    NumPy's compares the rounded ``cumsum(w) / sum(w)`` with ``q``, which
    depends on the weights' scale at a tie: 90 rows of weight 1e-3 took the
    10th smallest value as the 10% quantile, of weight 1 the 9th. Within
    rounding: 4 n eps of the total for n rows (their sums' rounding); for
    integer weights summing to at most 2**53, whose sums are exact, only
    ``q``'s own: a cumulative weight of at least ``q'`` of the total for a
    ``q'`` that rounds to ``q`` (a decimal such as 0.1, half a unit in the
    last place below its float), compared exactly. There the quantile is
    exact fractions' wherever ``q`` times the total is an integer (a slack
    of n eps of the total took the row before the quantile of 1e6 rows of
    weight 1000 and one of 1001; 4 eps of it, 4 at a total of 2**52, the
    first of weights 2**51 -+ 4 as the median; 2 eps of ``q`` times it the
    first of 2**51 -+ 1, and at ``q = 1`` the first of 2**51 - 1 and 1).

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        Finite values, n_samples >= 1.
    quantiles : sequence of float
        In [0, 1].
    weights : ndarray of shape (n_samples,)
        Positive and finite, with a finite sum.

    Returns
    -------
    quantiles : ndarray of shape (len(quantiles),)
    """
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    total = cumulative[-1]
    quantiles = np.asarray(quantiles, dtype=np.float64)
    if total <= 2.0**53 and bool(np.all(weights == np.floor(weights))):
        # integer weights add exactly: compared with q's least reals, exactly
        # (an integer of at most the total, a float)
        reach = np.array(
            [_least_reaching(q, int(total)) for q in quantiles.flat], dtype=np.float64
        ).reshape(quantiles.shape)
    else:
        # a few units in the last place of the sum per row added
        eps = float(np.finfo(np.float64).eps)
        reach = quantiles * total - 4.0 * cumulative.shape[0] * eps * total
    index = np.minimum(
        np.searchsorted(cumulative, reach, side="left"), cumulative.shape[0] - 1
    )
    return values[order[index]]
