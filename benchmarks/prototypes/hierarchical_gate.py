"""A two-level softmax gate (hierarchical mixture of experts), as evidence for issue 4.

The gate itself is now skmoe's ``gate="hierarchical"``
(:class:`skmoe.gates.hierarchical.HierarchicalGate`), which routes ``top_k`` as the
flat gate does, from all K values of the gate; this module adds to it only the
beam router measured here. The question: can a router cheaper
than the flat softmax gate's K logits per sample give ``top_k=2`` prediction
with 128 experts the 10x speed-up issue 4 asks for? Jordan & Jacobs (1994) nest
softmax gates in a tree; with two levels, the K experts are split into G groups,
a top gate picks a group and a gate per group picks an expert in it:

    g_k(x) = p_h(x) q_k(x),  p = softmax(x~ . u_h) over groups,
                             q = softmax(x~ . v_k) over the experts of group h.

Routing a sample to k experts then needs G + k K / G logits instead of K (34
instead of 128 for K = 128, k = 2, G = 12), as in the hierarchical mixture of
experts of Shazeer et al. (2017, appendix B). :class:`BeamHierarchicalGate`
below keeps each sample's k best experts among those of its k best groups (a
beam search down the tree) and routes them from those logits alone.

Measured (``python benchmarks/prototypes/hierarchical_gate.py``, 200000 rows,
D=32, top_k=2, 2-core machine, NumPy 2.4, 2026-11-30), routing alone:

    K      hierarchical route   flat softmax route
    128    192 ms               67 ms
    512    320 ms               188 ms
    2048   617 ms               800 ms

On a CPU the flat gate's one BLAS product is cheaper than the hierarchical
route's per-slot work: sorting the samples by selected group, gathering their
rows (about 17 ms per slot for 200000 x 33 float64 rows alone), one small
product per group, and putting the results back in order. So it does not close
issue 4's target on this machine, and the beam router was left out of the library.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import is_numpy_array

from skmoe._math import device, log_softmax, logsumexp
from skmoe._sparse import route, route_in_blocks, top_k_mask, truncate_log_gate
from skmoe.gates._base import Array, Params
from skmoe.gates.hierarchical import HierarchicalGate, group_bounds, n_groups
from skmoe.gates.softmax import SoftmaxGate

#: Samples per block when routing: the per-group products want long blocks.
ROUTE_BLOCK = 65_536


class BeamHierarchicalGate(HierarchicalGate):
    """The hierarchical gate with beam routing: each sample's ``k`` largest
    ``g_k`` among the experts of its ``k`` most probable groups, so that
    prediction evaluates ``G`` top logits and the within-group logits of
    ``k`` groups only. For samples whose top-k experts lie in their top-k
    groups, which is usual, it is the flat top-k."""

    def truncate(self, xp, log_gate: Array, k: int) -> Array:
        """Renormalized k largest ``g_k`` among the experts of the k best groups."""
        n_experts = log_gate.shape[0]
        if k >= n_groups(n_experts):
            return truncate_log_gate(xp, log_gate, k)
        log_top = self._by_group(xp, log_gate, lambda a: logsumexp(xp, a, axis=0))
        in_top = self._expand(xp, top_k_mask(xp, log_top, k), n_experts)
        minus_inf = xp.asarray(-xp.inf, dtype=log_gate.dtype, device=device(log_gate))
        return truncate_log_gate(xp, xp.where(in_top, log_gate, minus_inf), k)

    def route(self, xp, design: Array, params: Params, k: int):
        """:meth:`truncate`'s selection from ``G + k K / G`` logits per sample."""
        n_experts = params["coef"].shape[1]
        if k >= n_groups(n_experts):
            return super().route(xp, design, params, k)
        return route_in_blocks(
            xp,
            design,
            lambda block: self._route_block(xp, block, params, k),
            ROUTE_BLOCK,
        )

    def _route_block(self, xp, design: Array, params: Params, k: int):
        """Route one block: top gate, then each selected group's gate on the
        samples that selected it (sorted by group, so that each group's logits
        are one matrix product), then the k best of the k * max(m_h) candidates."""
        coef = params["coef"]
        bounds = group_bounds(coef.shape[1])
        sizes = [bounds[h + 1] - bounds[h] for h in range(len(bounds) - 1)]
        width = max(sizes)
        dev, dtype = device(design), design.dtype
        samples = xp.asarray(xp.permute_dims(design, (1, 0)), copy=True)  # (n, d)
        log_top = log_softmax(xp, samples @ params["group_coef"], axis=1)  # (n, G)
        group_index, _ = route(xp, log_top, k)  # (k, n), best group first
        candidates, experts = [], []
        for j in range(k):
            group = group_index[j, :]
            order = xp.argsort(xp.astype(group, xp.int16), stable=True)
            chosen = xp.take(samples, order, axis=0)  # samples grouped by group
            pieces, start = [], 0
            for h, count in enumerate(_counts(xp, group, len(sizes))):
                if count == 0:
                    continue
                rows = chosen[start : start + count, :]
                within = coef[:, bounds[h] : bounds[h + 1]].T @ rows.T  # (m_h, c)
                within = log_softmax(xp, within, axis=0)
                pad = xp.full(
                    (width - sizes[h], count), -xp.inf, dtype=dtype, device=dev
                )
                pieces.append(xp.concat([within, pad], axis=0))
                start += count
            log_within = xp.take(xp.concat(pieces, axis=1), _inverse(xp, order), axis=1)
            top = xp.take_along_axis(log_top, group[:, None], axis=1)[:, 0]
            candidates.append(log_within + top[None, :])  # (width, n): log g
            experts.append(xp.take(xp.asarray(bounds[:-1], device=dev), group))
        # samples-major for the selection (argmax over a contiguous last axis)
        scores = xp.asarray(xp.permute_dims(xp.concat(candidates), (1, 0)), copy=True)
        picked, log_weight = route(xp, scores, k, overwrite=True)  # (k, n) in 0..k*w
        slot = picked // width
        first = xp.take_along_axis(
            xp.stack(experts, axis=1), xp.permute_dims(slot, (1, 0)), axis=1
        )
        return xp.permute_dims(first, (1, 0)) + picked % width, log_weight


def _inverse(xp, order: Array) -> Array:
    """The inverse permutation of ``order``."""
    if is_numpy_array(order):  # a scatter, which the standard lacks
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.shape[0], dtype=order.dtype)
        return inverse
    return xp.argsort(order)


def _counts(xp, index: Array, n_bins: int) -> list[int]:
    """How many entries of an integer array fall in each of 0..n_bins-1."""
    if is_numpy_array(index):
        return np.bincount(index, minlength=n_bins).tolist()
    bins = xp.arange(n_bins, device=device(index))
    counts = xp.sum(xp.astype(index[None, :] == bins[:, None], xp.int64), axis=1)
    return [int(c) for c in counts]


def main():
    import time

    from skmoe._math import design_matrix

    def best_time(function, repeat=3):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return min(times)

    rng = np.random.RandomState(0)
    n_rows, n_features, k = 200_000, 32, 2
    design = design_matrix(np, rng.randn(n_rows, n_features))
    gate, flat = BeamHierarchicalGate(), SoftmaxGate()
    for n_experts in (128, 512, 2048):
        params = {
            "coef": rng.randn(n_features + 1, n_experts),
            "group_coef": rng.randn(n_features + 1, n_groups(n_experts)),
        }
        sample = design[:, :5000]
        index, log_weight = gate.route(np, sample, params, k)
        sparse = gate.truncate(np, gate.log_gate(np, sample, params), k)
        agree = np.allclose(np.take_along_axis(sparse, index, axis=0), log_weight)
        hierarchical = best_time(lambda p=params: gate.route(np, design, p, k))
        flat_route = best_time(
            lambda p=params: flat.route(np, design, {"coef": p["coef"]}, k)
        )
        print(
            f"K={n_experts}: hierarchical route {hierarchical * 1e3:.0f} ms, flat "
            f"softmax route {flat_route * 1e3:.0f} ms (route agrees with the "
            f"truncated dense gate: {agree})"
        )


if __name__ == "__main__":
    main()
