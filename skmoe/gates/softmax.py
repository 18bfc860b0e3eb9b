"""The softmax gate of Jordan & Jacobs (1994): g(x) = softmax(x~ . v_k)."""

from __future__ import annotations

from .._math import diag, log_softmax, logsumexp, penalty_mask, solve_symmetric
from ._base import Array, GateFamily, Params

#: How many times a gate step may be doubled while the objective keeps rising.
MAX_DOUBLINGS = 6


class SoftmaxGate(GateFamily):
    """Multinomial logistic gate fitted by Böhning's bound (MM steps).

    The M-step maximizes ``sum_ik w_i r_ik log g_ik - (alpha/2) ||P V||^2`` (P drops
    the intercept row) over the gate coefficients V. The Hessian of the multinomial
    log-likelihood is bounded below by ``-1/2 (I - 11^T/K) kron X~^T W X~``
    (Böhning 1992). On coefficients whose columns sum to zero (the gate keeps that
    centering; it is invariant to it) that gives the step

        (X~^T W X~ / 2 + alpha P) dV = X~^T (W (R - G)) - alpha P V,

    with a fixed matrix computed once per fit: each step is one matrix product for
    the gradient and a (d x d) solve, and the objective is guaranteed not to
    decrease, which is what generalized EM needs. The step is then doubled while
    the objective keeps rising (at most ``MAX_DOUBLINGS`` times), which matters
    where the bound is loose, as for nearly separable regimes. Steps are bounded,
    so the coefficients stay finite even when the regimes are perfectly separable.
    """

    def prepare(self, xp, design: Array, sample_weight: Array, alpha: float) -> Array:
        bound = 0.5 * ((design * sample_weight[None, :]) @ design.T)
        return bound + alpha * diag(xp, penalty_mask(xp, design))

    def log_gate(self, xp, design: Array, params: Params) -> Array:
        return log_softmax(xp, params["coef"].T @ design, axis=0)

    def logits(self, xp, design: Array, params: Params) -> Array:
        return params["coef"].T @ design

    def logits_by_sample(self, xp, design: Array, params: Params) -> Array:
        return design.T @ params["coef"]  # one product, samples-major, no copy

    def logits_gradient(self, xp, design: Array, dlogits: Array, params: Params):
        return {"coef": design @ dlogits.T}

    def penalty_gradient(self, xp, params: Params, alpha: float) -> Params:
        coef = params["coef"]
        return {"coef": alpha * penalty_mask(xp, coef)[:, None] * coef}

    def m_step(
        self,
        xp,
        design,
        weighted_resp,
        log_gate,
        params,
        alpha,
        prepared,
        n_steps=1,
    ) -> Params:
        coef = params["coef"]
        mask = penalty_mask(xp, coef)[:, None]
        sample_weight = xp.sum(weighted_resp, axis=0)
        for step in range(n_steps):
            if step > 0:
                log_gate = self.log_gate(xp, design, {"coef": coef})
            residual = weighted_resp - sample_weight[None, :] * xp.exp(log_gate)
            grad = design @ residual.T - alpha * mask * coef
            direction = solve_symmetric(xp, prepared, grad)
            direction = direction - xp.mean(direction, axis=1, keepdims=True)
            length = _step_length(
                xp, design, weighted_resp, log_gate, coef, direction, alpha, mask
            )
            coef = coef + length * direction
        return {"coef": coef}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        coef = params["coef"]
        return 0.5 * alpha * xp.sum(penalty_mask(xp, coef)[:, None] * coef**2)

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        return (n_experts - 1) * (n_features + 1)


def _step_length(xp, design, weighted_resp, log_gate, coef, direction, alpha, mask):
    """The largest of 1, 2, 4, ... (while the objective keeps rising) along a step.

    Step 1 is the MM step (never worse than 0). Along ``coef + t * direction`` the
    logits move by ``t * moved`` with ``moved = direction.T @ design``, so the
    objective is ``t * slope - sum_i w_i logsumexp_k(log_gate + t * moved)`` minus
    the penalty (``log_gate`` is normalized): each trial costs one (K, n)
    log-sum-exp and no matrix product.
    """
    moved = direction.T @ design
    sample_weight = xp.sum(weighted_resp, axis=0)
    slope = float(xp.sum(weighted_resp * moved))

    def gain(t):
        log_norm = logsumexp(xp, log_gate + t * moved, axis=0)
        penalty = 0.5 * alpha * xp.sum(mask * (coef + t * direction) ** 2)
        return t * slope - float(xp.sum(sample_weight * log_norm) + penalty)

    best_t, best = 1.0, gain(1.0)
    for _ in range(MAX_DOUBLINGS):
        trial = gain(2 * best_t)
        if not trial > best:
            break
        best_t, best = 2 * best_t, trial
    return best_t
