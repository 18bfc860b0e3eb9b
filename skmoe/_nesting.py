"""The start of a hierarchical gate: a flat fit, then the grouping of its experts.

A hierarchical gate (:class:`skmoe.gates.hierarchical.HierarchicalGate`) nests
the experts in fixed groups of consecutive experts, and EM cannot move an
expert to another group: which experts start in one group decides which tree
the fit can reach. The initial responsibilities (k-means labels or a random
partition) come in an arbitrary order, and from them four tree-split regions
ended at a held-out log-likelihood of -0.47 (six seeds) or -0.61 (one) against
-0.24 on 7 of 10 seeds (worse than the flat softmax gate's -0.26). So the
start first runs EM with a flat softmax gate, whose regions do not depend on
the experts' order, and then groups its experts as the tree gate best fits
the flat fit's responsibilities: of the groupings tried, the ten whose top
gate, fitted to the groups' summed responsibilities, gives them the highest
likelihood are scored again with each group's gate, fitted to its experts'
responsibilities, added (the tree gate's M-step objective), and the best is
kept. The top gate alone ranked the true grouping of a flat fit to a
two-level tree of nine experts third of 280 (the first swapped two experts
of two groups), and the fit lost the tree (held-out -0.178 per row against
-0.146).
"""

from __future__ import annotations

import dataclasses
import math
from itertools import pairwise

import numpy as np

from ._backend import as_compute, to_numpy
from ._em import EMProblem, e_step, run_em
from .gates.softmax import SoftmaxGate

#: EM iterations of the flat fit (at most; it stops earlier on ``tol``).
FLAT_ITER = 100
#: Groupings scored: all of them when there are at most ``ALL_GROUPINGS`` (280
#: at K=8 and 9, where trying all found a true tree of nine experts on 6 of 6
#: seeds, 200 of them on 4), else ``MAX_GROUPINGS`` random ones (from K=10 on,
#: 300 found no more trees than 200, at 1.5 times the start's time).
ALL_GROUPINGS = 300
MAX_GROUPINGS = 200
#: Rows the groupings are scored on at most (evenly spaced), and Newton steps
#: of each grouping's top gate: with 5000 rows and 10 steps the start took
#: 2.57 s of a 2.88 s fit at K=9 (1e4 rows; the softmax gate's fit 1.02 s),
#: with these 1.17 s, and every seed still found the benchmark's tree (scored
#: by the top gate alone: the shortlist and 300 groupings made best_grouping
#: 1.6 times as long at K=9 and 1.7 to 2.0 at K=16 and 25).
SCORE_ROWS = 2000
SCORE_STEPS = 5
#: Groupings of the best top gate scores whose groups' gates are scored too.
SHORTLIST = 10


def nested_start(problem: EMProblem, resp, nest, tol, random_state, max_iter):
    """Initial responsibilities (K, n) for a hierarchical gate with the group
    bounds ``nest``, from initial responsibilities ``resp`` (K, n): the
    responsibilities of a flat fit from ``resp`` (at most ``max_iter`` and
    ``FLAT_ITER`` iterations), their experts ordered by the best grouping
    (see the module); and the flat fit's result (for ``verbose``)."""
    xp = problem.xp
    flat = dataclasses.replace(problem, gate=SoftmaxGate(), top_k=None)
    result = run_em(flat, resp=resp, max_iter=min(FLAT_ITER, max_iter), tol=tol)
    _, fitted, _ = e_step(flat, result.gate_params, result.expert_params)
    # a point mass stays first: the experts' initial parameters put it there
    # (a Poisson expert started from its responsibilities imitated it)
    fixed = problem.experts.point_masses(xp, result.expert_params)
    first = None if fixed is None or not fixed.any() else int(np.argmax(fixed))
    order = best_grouping(problem, to_numpy(fitted), nest, random_state, first)
    return as_compute(xp, to_numpy(fitted)[order], problem.design), result


def best_grouping(problem: EMProblem, resp, nest, random_state, first=None):
    """The order of the experts (an index array) whose consecutive groups of
    sizes ``nest`` the tree gate fits best (see the module); with
    ``first``, among the orders that put expert ``first`` first."""
    n_experts, n_samples = resp.shape
    sizes = np.diff(nest)
    rows = np.linspace(0, n_samples - 1, min(n_samples, SCORE_ROWS)).astype(np.intp)
    design = np.asarray(to_numpy(problem.gate_design), dtype=np.float64)[:, rows]
    weight = np.asarray(to_numpy(problem.gate_weight), dtype=np.float64)[rows]
    weighted = weight[None, :] * resp[:, rows]
    scored = []  # (top gate score, order) of each grouping tried
    for order in _groupings(n_experts, sizes, random_state):
        if first is not None:
            order = _leading(order, sizes, first)
            if order is None:  # its group is not of the first group's size
                continue
        targets = np.add.reduceat(weighted[order], nest[:-1], axis=0)
        scored.append((_top_gate_fit(design, targets, problem.alpha), order))
    if not scored:
        return np.arange(n_experts)
    scored.sort(key=lambda item: -item[0])
    best, best_score = scored[0][1], -math.inf
    for top, order in scored[:SHORTLIST]:
        score = top + sum(
            _top_gate_fit(design, weighted[order[a:b]], problem.alpha)
            for a, b in pairwise(nest)
            if b - a > 1
        )
        if score > best_score:
            best, best_score = order, score
    return best


def _count(sizes):
    """The number of distinct groupings into groups of ``sizes``."""
    count = math.factorial(int(np.sum(sizes)))
    for size in sizes:
        count //= math.factorial(int(size))
    for size in set(sizes.tolist()):
        count //= math.factorial(int(np.sum(sizes == size)))
    return count


def _groupings(n_experts, sizes, random_state):
    """Orders of the experts giving distinct groupings (the order within a
    group, and among groups of one size, does not matter): every one when
    they number at most ``ALL_GROUPINGS``, else ``MAX_GROUPINGS`` drawn at
    random, the identity first."""
    count = _count(sizes)
    wanted = count if count <= ALL_GROUPINGS else MAX_GROUPINGS
    seen, draws = set(), 0
    order = np.arange(n_experts)
    while len(seen) < wanted and draws < 50 * ALL_GROUPINGS:
        key = _canonical(order, sizes)
        if key not in seen:
            seen.add(key)
            yield order
        order = random_state.permutation(n_experts)
        draws += 1


def _leading(order, sizes, expert):
    """``order``'s grouping as an order that puts ``expert`` first (its group
    swapped with the first, which must be of its size), or None."""
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    where = int(np.flatnonzero(order == expert)[0])
    group = int(np.searchsorted(bounds, where, side="right")) - 1
    if sizes[group] != sizes[0]:
        return None
    groups = [order[a:b].tolist() for a, b in pairwise(bounds)]
    groups[0], groups[group] = groups[group], groups[0]
    groups[0].remove(expert)
    return np.array([expert, *groups[0], *(e for g in groups[1:] for e in g)])


def _canonical(order, sizes):
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    groups = [tuple(sorted(order[a:b].tolist())) for a, b in pairwise(bounds)]
    return tuple(sorted(groups))


def _top_gate_fit(design, targets, alpha):
    """The penalized log-likelihood of a softmax gate fitted to ``targets``
    (G, n) by Newton steps: weighted responsibilities summed per group (the
    top gate), or one group's experts' (its gate)."""
    gate = SoftmaxGate()
    params = gate.initial_params(np, design, targets.shape[0])
    log_gate = gate.log_gate(np, design, params)
    for _ in range(SCORE_STEPS):
        params = gate.m_step(np, design, targets, log_gate, params, alpha, None, 1)
        log_gate = gate.log_gate(np, design, params)
    return float(np.sum(targets * log_gate) - gate.penalty(np, params, alpha))
