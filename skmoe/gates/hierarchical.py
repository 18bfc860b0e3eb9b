"""The two-level gate of a hierarchical mixture of experts (Jordan & Jacobs 1994).

The K experts are split into G = ceil(sqrt(K)) groups of consecutive experts; a
top softmax gate chooses a group and a softmax gate per group chooses an expert
within it:

    g_k(x) = p_h(x) q_k(x),  p = softmax(x~ . u_h) over the groups,
                             q = softmax(x~ . v_k) over the experts of group h.
"""

from __future__ import annotations

import math

import numpy as np

from .._backend import is_numpy_array
from .._math import (
    by_columns,
    center_intercepts,
    device,
    expand_rows,
    log_softmax,
    logsumexp,
    penalty_mask,
    restrict_rows,
)
from ._base import Array, GateFamily, Params
from .softmax import SoftmaxGate, truncated


def n_groups(n_experts: int) -> int:
    """Number of groups for K experts: ceil(sqrt(K)), so that the top gate and
    each group's gate choose among about as many."""
    return math.ceil(math.sqrt(n_experts))


def group_bounds(n_experts: int) -> list[int]:
    """Expert index bounds of the groups: group h holds experts
    ``bounds[h]:bounds[h + 1]``, consecutive, of sizes differing by at most one."""
    groups = n_groups(n_experts)
    return [h * n_experts // groups for h in range(groups + 1)]


def expert_groups(n_experts: int) -> list[int]:
    """The group of each expert."""
    bounds = group_bounds(n_experts)
    return [h for h in range(len(bounds) - 1) for _ in range(bounds[h + 1] - bounds[h])]


class HierarchicalGate(GateFamily):
    """Two-level softmax gate (hierarchical mixture of experts), fitted by EM.

    Parameters are ``{"coef": (d, K), "group_coef": (d, G)}``: the
    within-group gates' coefficients, expert by expert, and the top gate's,
    group by group (intercepts in row 0), with ``G = ceil(sqrt(K))`` groups of
    consecutive experts (:func:`group_bounds`). Both are penalized by
    ``alpha/2 ||P .||^2`` (P drops the intercept row). With K = 2 or 3 each
    group holds one or two experts; with two experts (two groups of one) it is
    the softmax gate.

    The M-step splits exactly: with ``r_k`` the weighted responsibilities and
    ``s_h = sum_{k in h} r_k``, ``sum_k r_k log g_k = sum_h s_h log p_h +
    sum_h sum_{k in h} r_k log q_k``: a multinomial logistic regression of the
    group targets ``s`` and one per group on its experts' targets, each
    fitted by the softmax gate's safeguarded Newton step (Jordan & Jacobs'
    EM for the HME). None lowers its part, so the M-step does not lower the
    objective.

    Sparse gating (``top_k``) keeps each sample's k largest ``g_k`` over all
    experts, as the softmax gate does: :meth:`logits` are ``log g`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe.gates.hierarchical import HierarchicalGate
    >>> gate = HierarchicalGate()
    >>> design = np.vstack([np.ones(3), np.arange(3.0)])  # (d, n): [1, x]
    >>> params = gate.initial_params(np, design, 5)  # 3 groups: 1, 2 and 2 experts
    >>> np.exp(gate.log_gate(np, design, params))[:, 0].round(3)
    array([0.333, 0.167, 0.167, 0.167, 0.167])
    """

    def initial_params(self, xp, design: Array, n_experts: int) -> Params:
        """Uniform top gate and within-group gates."""
        dtype, dev = design.dtype, device(design)
        d = design.shape[0]
        return {
            "coef": xp.zeros((d, n_experts), dtype=dtype, device=dev),
            "group_coef": xp.zeros((d, n_groups(n_experts)), dtype=dtype, device=dev),
        }

    def _parts(self, xp, design: Array, params: Params):
        """log p (G, n) and log q (K, n). On NumPy, log q is written over the
        within-group logits, each group in place (not into new arrays joined
        after)."""
        coef = params["coef"]
        bounds = group_bounds(coef.shape[1])
        top = by_columns(xp, params["group_coef"].T, design)
        log_top = log_softmax(xp, top, axis=0)
        if is_numpy_array(design):
            within = by_columns(xp, coef.T, design)  # (its own array)
            for h in range(len(bounds) - 1):
                rows = within[bounds[h] : bounds[h + 1], :]
                log_softmax(xp, rows, axis=0, out=rows)
            return log_top, within
        within = by_columns(xp, coef.T, design)
        log_within = xp.concat(
            [
                log_softmax(xp, within[bounds[h] : bounds[h + 1], :], axis=0)
                for h in range(len(bounds) - 1)
            ],
            axis=0,
        )
        return log_top, log_within

    def _expand(self, xp, by_group: Array, n_experts: int) -> Array:
        """A (G, n) array repeated for each group's experts: (K, n)."""
        index = xp.asarray(expert_groups(n_experts), device=device(by_group))
        return xp.take(by_group, index, axis=0)

    def _by_group(self, xp, by_expert: Array, reduce) -> Array:
        """``reduce(rows, axis=0)`` over each group's rows of (K, n): (G, n)."""
        bounds = group_bounds(by_expert.shape[0])
        return xp.stack(
            [
                reduce(by_expert[bounds[h] : bounds[h + 1], :])
                for h in range(len(bounds) - 1)
            ]
        )

    def log_gate(self, xp, design: Array, params: Params) -> Array:
        """``log p_h(k) + log q_k``, (K, n); on NumPy written over the
        within-group logits (:meth:`_parts`), a new array each call."""
        log_top, log_within = self._parts(xp, design, params)
        if is_numpy_array(log_within):  # in place, group by group
            bounds = group_bounds(log_within.shape[0])
            for h in range(len(bounds) - 1):
                log_within[bounds[h] : bounds[h + 1], :] += log_top[h : h + 1, :]
            return log_within
        return log_within + self._expand(xp, log_top, log_within.shape[0])

    def logits(self, xp, design: Array, params: Params) -> Array:
        """log g itself: normalized logits, ``log_softmax(log g) = log g``."""
        return self.log_gate(xp, design, params)

    def logits_gradient(self, xp, design: Array, dlogits: Array, params: Params):
        """Chain rule through ``log g_k = log p_h(k) + log q_k``.

        For ``u = d f / d log g``: the top logits get ``sum_{k in h} u_k - p_h
        sum_k u_k``, expert k's within-group logit ``u_k - q_k sum_{j in h(k)}
        u_j``.
        """
        log_top, log_within = self._parts(xp, design, params)
        n_experts = log_within.shape[0]
        by_group = self._by_group(xp, dlogits, lambda a: xp.sum(a, axis=0))
        total = xp.sum(dlogits, axis=0)
        dtop = by_group - xp.exp(log_top) * total[None, :]
        dwithin = dlogits - xp.exp(log_within) * self._expand(xp, by_group, n_experts)
        return {"coef": design @ dwithin.T, "group_coef": design @ dtop.T}

    def penalty_gradient(self, xp, params: Params, alpha: float) -> Params:
        return {
            name: alpha * penalty_mask(xp, value)[:, None] * value
            for name, value in params.items()
        }

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        if alpha == 0:  # (0 * inf where a slope's square overflows)
            coef = params["coef"]
            return xp.zeros((), dtype=coef.dtype, device=device(coef))
        return sum(
            0.5 * alpha * xp.sum(penalty_mask(xp, value)[:, None] * value**2)
            for value in params.values()
        )

    def m_step(
        self,
        xp,
        design,
        weighted_resp,
        log_gate,
        params,
        alpha,
        prepared,
        n_steps=None,
        tight=False,
    ) -> Params:
        softmax = SoftmaxGate()
        coef = params["coef"]
        bounds = group_bounds(coef.shape[1])
        targets = self._by_group(xp, weighted_resp, lambda a: xp.sum(a, axis=0))
        log_top = self._by_group(xp, log_gate, lambda a: logsumexp(xp, a, axis=0))
        group_coef = softmax.m_step(
            xp,
            design,
            targets,
            log_top,
            {"coef": params["group_coef"]},
            alpha,
            None,
            n_steps,
            tight,
        )["coef"]
        parts = []
        for h in range(len(bounds) - 1):
            rows = slice(bounds[h], bounds[h + 1])
            part = softmax.m_step(
                xp,
                design,
                weighted_resp[rows, :],
                log_gate[rows, :] - log_top[h : h + 1, :],  # log q
                {"coef": coef[:, rows]},
                alpha,
                None,
                n_steps,
                tight,
            )
            parts.append(part["coef"])
        return {"coef": xp.concat(parts, axis=1), "group_coef": group_coef}

    def truncated(self, design, params) -> bool:
        # the top gate's and each group's softmax M-steps (see m_step)
        bounds = group_bounds(params["coef"].shape[1])
        sizes = [len(bounds) - 1, *np.diff(bounds).tolist()]
        return any(truncated(size, design.shape[0]) for size in sizes)

    def nesting(self, n_experts: int) -> list[int]:
        return group_bounds(n_experts)

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        # (G - 1) top columns and sum_h (m_h - 1) within: K - 1, as a flat gate
        return (n_experts - 1) * (n_features + 1)

    def select(self, xp, params: Params, keep: Array) -> Params:
        n_experts = params["coef"].shape[1]
        if keep.shape[0] == n_experts:  # sorted distinct indices: all of them
            return params
        raise ValueError(
            "gate='hierarchical' cannot drop experts: its groups are fixed by "
            "the number of experts. Refit with fewer experts, or use "
            "gate='softmax' to prune."
        )

    # -- between fitted attributes and parameters (host NumPy) ------------------

    attribute_names = (
        "gate_intercept_",
        "gate_coef_",
        "gate_group_intercept_",
        "gate_group_coef_",
    )

    def centred(self, params: Params) -> Params:
        # within each group over its experts, and the top gate over the groups
        coef = np.array(params["coef"], copy=True)
        bounds = group_bounds(coef.shape[1])
        for low, high in zip(bounds[:-1], bounds[1:], strict=True):
            block = coef[:, low:high]
            coef[:, low:high] = block - np.mean(block, axis=1, keepdims=True)
        group_coef = params["group_coef"]
        group_coef = group_coef - np.mean(group_coef, axis=1, keepdims=True)
        return dict(params, coef=coef, group_coef=group_coef)

    def shift(self, xp, params: Params, offset: Array, sign: float = 1.0) -> Params:
        return {
            name: center_intercepts(xp, value, offset, sign)
            for name, value in params.items()
        }

    def expand(self, params: Params, columns, n_features: int) -> Params:
        return {
            name: expand_rows(value, columns, n_features)
            for name, value in params.items()
        }

    def to_attributes(self, params: Params, columns, n_features: int) -> dict:
        """The within-group gates' intercepts and coefficients, expert by
        expert, as the softmax gate's, and the top gate's, group by group."""
        wide = self.expand(params, columns, n_features)
        coef, group_coef = wide["coef"], wide["group_coef"]
        return {
            "gate_intercept_": coef[0].copy(),
            "gate_coef_": coef[1:].T.copy(),
            "gate_group_intercept_": group_coef[0].copy(),
            "gate_group_coef_": group_coef[1:].T.copy(),
        }

    def from_attributes(self, attributes: dict, columns) -> Params:
        def stacked(intercept, coef):
            intercept = np.asarray(attributes[intercept])
            coef = np.vstack([intercept[None, :], np.asarray(attributes[coef]).T])
            return restrict_rows(coef, columns)

        return {
            "coef": stacked("gate_intercept_", "gate_coef_"),
            "group_coef": stacked("gate_group_intercept_", "gate_group_coef_"),
        }
