"""Sparse (top-k) gating: select, renormalize and gather the k experts per sample.

Keeping, for each sample, the k largest gate values and renormalizing them gives the
sparse gate ``g~_k(x) = g_k(x) / sum_{j in S(x)} g_j(x)`` for k in the selected set
S(x), 0 elsewhere. Since ``g = softmax(a)``, ``g~`` is the softmax of the selected
logits alone, so the selection and the renormalization never need the softmax over
all K experts. All functions take the array namespace ``xp`` first; per-sample,
per-expert arrays are (n_experts, n_samples) and selections (k, n_samples).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import is_numpy_array
from ._math import by_columns, device, log_softmax

Array = Any

#: Above this k, the selection sorts each column instead of k rounds of argmax.
ARGMAX_ROUNDS = 8

#: Samples per block when routing at prediction, so that the (n, K) logits are
#: never allocated at once. Measured on 2 cores (K=128, D=32, 200k rows): the
#: gate product in blocks of 16k samples takes 50-65 ms, 80-95 ms in one piece
#: and 320 ms in blocks of 4k (OpenBLAS's threading overhead).
ROUTE_BLOCK = 16_384

#: Samples per block when gathering per-sample expert coefficients at prediction,
#: which bounds the (k, block, d, ...) gathered array.
GATHER_BLOCK = 16_384

#: With NumPy, :func:`selected_linear` multiplies all K experts' coefficients
#: (one BLAS product) and picks each sample's k where ``K <= k * max(4, d // 2)``
#: (d: coefficient rows): gathering the k chosen experts' coefficients copies
#: k d m numbers a sample, slower than the product's K d m multiplications at
#: few experts (65536 samples, k=2; gather / product time: d=33, m=3: 20 at
#: K=4, 2.2 at K=32; d=101, m=1: 8.0 at K=4, 2.1 at K=64; d=3, m=1: 1.4 at
#: K=4, 0.4 at K=16).
PRODUCT_PER_FEATURE = 2
PRODUCT_MIN_RATIO = 4


def is_sparse(top_k: int | None, n_experts: int) -> bool:
    """Whether ``top_k`` actually drops experts (``None`` or ``k >= K`` is dense)."""
    return top_k is not None and top_k < n_experts


def top_k_indices(xp, scores: Array, k: int) -> Array:
    """Indices (k, n_samples) of the k largest scores of each column, best first.

    Exactly k distinct experts per sample, ties broken towards the lower index,
    where a column has k scores above -inf. Otherwise (k <= ``ARGMAX_ROUNDS``)
    each round that finds only -inf scores left takes index 0, taken or not
    (a column ``[-inf, -inf, 0, -inf]`` gives ``[2, 0, 0]`` for k = 3): the
    same mask for :func:`top_k_mask` and :func:`truncate_log_gate`, whose
    experts left out are -inf either way. :func:`route` takes distinct ones.
    """
    n_experts = scores.shape[0]
    if k > ARGMAX_ROUNDS:
        return xp.argsort(-scores, axis=0, stable=True)[:k, :]
    rows = xp.reshape(xp.arange(n_experts, device=device(scores)), (n_experts, 1))
    minus_inf = xp.asarray(-xp.inf, dtype=scores.dtype, device=device(scores))
    picked = []
    for round_ in range(k):
        index = xp.argmax(scores, axis=0)
        picked.append(index)
        if round_ < k - 1:
            scores = xp.where(rows == index[None, :], minus_inf, scores)
    return xp.stack(picked)


def top_k_mask(xp, scores: Array, k: int) -> Array:
    """Boolean (n_experts, n_samples): True at each column's top k."""
    rows = xp.reshape(
        xp.arange(scores.shape[0], device=device(scores)), (scores.shape[0], 1)
    )
    index = top_k_indices(xp, scores, k)
    mask = rows == index[0:1, :]
    for j in range(1, k):
        mask = mask | (rows == index[j : j + 1, :])
    return mask


def truncate_log_gate(xp, log_gate: Array, k: int) -> Array:
    """log of the renormalized top-k gate: -inf outside each column's top k."""
    minus_inf = xp.asarray(-xp.inf, dtype=log_gate.dtype, device=device(log_gate))
    kept = xp.where(top_k_mask(xp, log_gate, k), log_gate, minus_inf)
    return log_softmax(xp, kept, axis=0)


def route(xp, logits_by_sample: Array, k: int, overwrite: bool = False):
    """The selected experts and their log sparse-gate weights, both (k, n_samples).

    ``logits_by_sample`` is (n_samples, K): samples-major, the one exception to
    the experts-major layout, as the gates other than the softmax one produce
    it (``GateFamily.logits_by_sample``: a transposed view of their
    experts-major logits). The softmax gate routes by :func:`route_by_expert`
    from its experts-major product, whose columns keep their bits in any
    batch: the samples-major product it took before, one BLAS call, gave a
    row other bits in another batch with OpenBLAS 0.3.31's SkylakeX kernels
    from 32 terms on (docs/user_guide/pipelines.rst), and routing a
    C-ordered copy of its transpose here made ``predict`` of 1e5 rows with
    ``top_k=2`` up to 1.24 times as long (32 experts; 0.94 to 1.24, median
    1.05, where :func:`route_by_expert` took 0.84 to 1.05, median 0.97).
    Costs k argmax passes and k - 1 masking passes over the logits, and no
    exponential over all K experts.
    With ``overwrite`` (NumPy only), the masking writes -inf into
    ``logits_by_sample`` in place instead of copying it. Exactly k distinct
    experts per sample, also where fewer than k logits exceed -inf (see
    :func:`_distinct`).
    """
    n_samples, n_experts = logits_by_sample.shape
    like = logits_by_sample
    columns = xp.reshape(xp.arange(n_experts, device=device(like)), (1, n_experts))
    minus_inf = xp.asarray(-xp.inf, dtype=like.dtype, device=device(like))
    in_place = overwrite and is_numpy_array(like)
    scores, picked, values = like, [], []
    for round_ in range(k):
        index = xp.argmax(scores, axis=1)
        picked.append(index)
        values.append(xp.take_along_axis(scores, index[:, None], axis=1)[:, 0])
        if round_ == k - 1:
            break
        if in_place:
            np.put_along_axis(scores, index[:, None], -np.inf, axis=1)
        else:
            scores = xp.where(columns == index[:, None], minus_inf, scores)
    index, values = xp.stack(picked), xp.stack(values)
    if k > 1 and bool(xp.any(values[1:, :] == minus_inf)):
        index = _distinct(xp, index, values, columns)
    return index, log_softmax(xp, values, axis=0)


def route_by_expert(xp, logits: Array, k: int, overwrite: bool = False):
    """:func:`route` of the experts-major (K, n_samples) ``logits``: the same
    selection and log weights as ``route(logits.T)``, reducing over the first
    axis instead of copying the logits samples-major.

    With ``overwrite`` (NumPy only), the masking writes -inf into ``logits``
    in place, and from ``ROWWISE_MIN`` samples on each round takes the
    columns' maximum (NumPy's max over the first axis runs along the rows, n
    samples at a time) and then, going through the K rows, the first row
    that holds it: the top 2 of 16384 samples took 1.2 to 1.6 times as long
    by argmax rounds over the first axis (4 to 32 experts), and 1.02 to 1.2
    times by :func:`route` of a C-ordered copy of the transpose. Measured
    (16384-sample blocks, top 2, with the gate product, one process): 0.82
    to 1.12 times the route of the samples-major product (above 1 at 32
    experts, whose experts-major product took 1.14 to 1.3 times the
    samples-major one), where a C-ordered copy of the transpose for
    :func:`route` took 0.94 to 1.42 times.
    """
    n_experts, n_samples = logits.shape
    rows = xp.reshape(xp.arange(n_experts, device=device(logits)), (n_experts, 1))
    minus_inf = xp.asarray(-xp.inf, dtype=logits.dtype, device=device(logits))
    in_place = overwrite and is_numpy_array(logits)
    picked = None
    if in_place and n_samples >= ROWWISE_MIN:
        picked = _route_rowwise(logits, k)
    if picked is None:
        scores, index, values = logits, [], []
        for round_ in range(k):
            index.append(xp.argmax(scores, axis=0))
            values.append(xp.take_along_axis(scores, index[-1][None, :], axis=0)[0, :])
            if round_ == k - 1:
                break
            if in_place:
                np.put_along_axis(scores, index[-1][None, :], -np.inf, axis=0)
            else:
                scores = xp.where(rows == index[-1][None, :], minus_inf, scores)
        picked = xp.stack(index), xp.stack(values)
    index, values = picked
    if k > 1 and bool(xp.any(values[1:, :] == minus_inf)):
        index = _distinct(xp, index, values, xp.reshape(rows, (1, n_experts)))
    return index, log_softmax(xp, values, axis=0)


#: From this many samples, :func:`route_by_expert` finds each round's experts
#: row by row (K NumPy calls of n samples) rather than by argmax.
ROWWISE_MIN = 1024


def _route_rowwise(logits, k: int):
    """:func:`route_by_expert`'s rounds on a NumPy (K, n) ``logits``, masked
    in place: each sample's largest logit (``np.max`` over the experts) and
    the first expert that holds it, as argmax takes; None, ``logits`` left
    untouched, where a sample's logits hold a NaN (which argmax takes first,
    and max returns without an index)."""
    n_experts, n_samples = logits.shape
    samples = np.arange(n_samples)
    equal = np.empty(logits.shape, dtype=bool)
    index, values = [], []
    for round_ in range(k):
        largest = np.max(logits, axis=0)
        if round_ == 0 and np.isnan(largest).any():
            return None
        first = np.empty(n_samples, dtype=np.intp)
        np.equal(logits, largest, out=equal)
        for row in range(n_experts - 1, -1, -1):
            np.copyto(first, row, where=equal[row])
        index.append(first)
        values.append(largest)
        if round_ < k - 1:
            logits[first, samples] = -np.inf
    return np.stack(index), np.stack(values)


def _distinct(xp, index, values, columns):
    """:func:`route`'s ``index`` (k, n), each column's experts made distinct.

    A round that finds only -inf logits left takes the lowest such index,
    which an earlier round may have taken and masked to -inf itself: a
    sample with one finite logit, that of expert 0, was routed to expert 0
    twice, and :func:`scatter_log_weights` wrote the repeat's -inf over its
    weight (``predict_gate`` gave a row of zeros at X far from the data,
    where the other logits overflowed). From such a round on, each round
    takes the lowest index not yet taken (its logit is -inf too), as a
    stable sort of the negated logits does.
    """
    minus_inf = xp.asarray(-xp.inf, dtype=values.dtype, device=device(values))
    fixed = [index[0, :]]
    taken = columns == index[0, :, None]  # (n, K)
    for j in range(1, index.shape[0]):
        free = xp.argmax(xp.astype(~taken, xp.int8), axis=1)  # the first untaken
        chosen = xp.where(values[j, :] == minus_inf, free, index[j, :])
        fixed.append(chosen)
        taken = taken | (columns == chosen[:, None])
    return xp.stack(fixed)


def scatter_log_weights(xp, index: Array, log_weight: Array, n_experts: int):
    """The (n_experts, n_samples) log sparse gate of :func:`route`'s selection:
    each column's ``log_weight`` at its experts ``index`` (both (k, n)), -inf
    elsewhere."""
    rows = xp.reshape(xp.arange(n_experts, device=device(index)), (n_experts, 1))
    out = xp.full(
        (n_experts, index.shape[1]),
        -xp.inf,
        dtype=log_weight.dtype,
        device=device(log_weight),
    )
    for j in range(index.shape[0]):
        out = xp.where(rows == index[j : j + 1, :], log_weight[j : j + 1, :], out)
    return out


def route_in_blocks(xp, design: Array, route_block, block_size: int | None = None):
    """Routing over blocks of ``block_size`` samples (columns of ``design``;
    default ``ROUTE_BLOCK``).

    ``route_block(design_block)`` gives a block's selected experts and log
    weights, both (k, block); the result is the same as routing all samples at
    once, without the (n, K) arrays of all samples. NumPy blocks are views of
    ``design``, not copies (a copy of 33 rows took as long as the product).
    """
    indices, log_weights = [], []
    n_samples = design.shape[1]
    block_size = ROUTE_BLOCK if block_size is None else block_size
    for start in range(0, n_samples, block_size):
        stop = min(start + block_size, n_samples)  # the standard has no clipping
        block = design[:, start:stop]
        if not is_numpy_array(block):  # (NumPy's products take the strided view)
            block = xp.asarray(block, copy=True)
        index, log_weight = route_block(block)
        indices.append(index)
        log_weights.append(log_weight)
    return xp.concat(indices, axis=1), xp.concat(log_weights, axis=1)


def gather(xp, table: Array, index: Array) -> Array:
    """``table[index]`` for a (K, m) table and (k, n) indices: (k, n, m)."""
    flat = xp.take(table, xp.reshape(index, (-1,)), axis=0)
    return xp.reshape(flat, (index.shape[0], index.shape[1], table.shape[1]))


def selected_linear(xp, coef: Array, design: Array, index: Array, m: int) -> Array:
    """``coef[:, block of expert index_ji]^T x~_i`` per slot j and sample i: (k, m, n).

    ``coef`` is (d, K * m): expert e owns columns ``e * m : (e + 1) * m`` (m = 1
    for a Gaussian expert's mean, m = n_classes for a logistic expert's logits).
    Only the selected experts' coefficients are gathered and multiplied, in blocks
    of ``GATHER_BLOCK`` samples: O(n k d m) work, whatever K is. Samples last,
    so that reductions over the m outputs run along a leading axis. NumPy
    contracts with ``einsum`` (30% faster than the product and sum, which make
    a (k, block, m, d) temporary); at few experts (``PRODUCT_MIN_RATIO``), it
    computes all K experts' outputs by one product instead and takes each
    sample's k, which is faster than gathering: O(n K d m) work, K at most
    ``k * max(4, d // 2)``, and a (K, m, block) block.
    """
    d, k = coef.shape[0], index.shape[0]
    n_experts = coef.shape[1] // m
    ratio = max(PRODUCT_MIN_RATIO, d // PRODUCT_PER_FEATURE)
    if is_numpy_array(coef) and n_experts <= k * ratio:
        # all experts' outputs by one product, then each sample's k of them
        blocks = []
        for start in range(0, design.shape[1], GATHER_BLOCK):
            stop = min(start + GATHER_BLOCK, design.shape[1])
            every = by_columns(xp, coef.T, design[:, start:stop])
            every = every.reshape(n_experts, m, -1)
            blocks.append(np.take_along_axis(every, index[:, None, start:stop], 0))
        return np.concatenate(blocks, axis=2)
    table = xp.reshape(xp.permute_dims(coef, (1, 0)), (-1, m * d))  # (K, m * d)
    blocks, out = [], None
    for start in range(0, design.shape[1], GATHER_BLOCK):
        stop = min(start + GATHER_BLOCK, design.shape[1])
        chosen = xp.reshape(gather(xp, table, index[:, start:stop]), (k, -1, m, d))
        x = xp.permute_dims(design[:, start:stop], (1, 0))
        if is_numpy_array(chosen):
            # into a C-ordered (k, m, n) array: einsum's own has the m outputs
            # innermost, whose sums (over the classes: their softmax) NumPy
            # takes pairwise for two samples or more but, from sums_in_turn,
            # in turn for one, so that a row alone moved in its last bits
            product = np.einsum("kbmd,bd->kmb", chosen, x)
            if out is None:
                shape = (k, m, design.shape[1])
                out = np.empty(shape, dtype=product.dtype)
            out[..., start:stop] = product
        else:
            product = xp.sum(chosen * x[None, :, None, :], axis=3)
            blocks.append(xp.permute_dims(product, (0, 2, 1)))
    return out if out is not None else xp.concat(blocks, axis=2)
