"""The softmax gate of Jordan & Jacobs (1994): g(x) = softmax(x~ . v_k)."""

from __future__ import annotations

from .._math import diag, log_softmax, penalty_mask, solve_symmetric
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
    decrease, which is what generalized EM needs. The steps are bounded, so the
    coefficients stay finite even when the regimes are perfectly separable.
    """

    def prepare(self, xp, Xt: Array, sample_weight: Array, alpha: float) -> Array:
        bound = 0.5 * ((Xt * sample_weight[:, None]).T @ Xt)
        return bound + alpha * diag(xp, penalty_mask(xp, Xt.T))

    def log_gate(self, xp, Xt: Array, params: Params) -> Array:
        return log_softmax(xp, Xt @ params["coef"], axis=1)

    def m_step(
        self,
        xp,
        Xt,
        weighted_resp,
        log_gate,
        params,
        alpha,
        prepared,
        n_steps=1,
    ) -> Params:
        coef = params["coef"]
        mask = penalty_mask(xp, coef)[:, None]
        sample_weight = xp.sum(weighted_resp, axis=1, keepdims=True)
        for step in range(n_steps):
            if step > 0:
                log_gate = self.log_gate(xp, Xt, {"coef": coef})
            grad = Xt.T @ (weighted_resp - sample_weight * xp.exp(log_gate))
            grad = grad - alpha * mask * coef
            direction = solve_symmetric(xp, prepared, grad)
            direction = direction - xp.mean(direction, axis=1, keepdims=True)
            coef = (
                coef
                + self._step_length(
                    xp, Xt, weighted_resp, log_gate, coef, direction, alpha, mask
                )
                * direction
            )
        return {"coef": coef}

    @staticmethod
    def _step_length(xp, Xt, weighted_resp, log_gate, coef, direction, alpha, mask):
        """Extrapolate the Böhning step while the objective keeps rising.

        Step 1 is the MM step (never worse than 0). Where the bound is loose, as for
        nearly separable regimes, doubling it is much faster; each trial costs only
        an (n, K) log-sum-exp, since the logits move along ``X~ @ direction``.
        """

        def gain(t):
            log_g = log_softmax(xp, log_gate + t * moved, axis=1)
            new = coef + t * direction
            return float(
                xp.sum(weighted_resp * log_g) - 0.5 * alpha * xp.sum(mask * new**2)
            )

        moved = Xt @ direction
        best_t, best = 1.0, gain(1.0)
        for _ in range(MAX_DOUBLINGS):
            trial = gain(2 * best_t)
            if not trial > best:
                break
            best_t, best = 2 * best_t, trial
        return best_t

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        coef = params["coef"]
        return 0.5 * alpha * xp.sum(penalty_mask(xp, coef)[:, None] * coef**2)

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        return (n_experts - 1) * (n_features + 1)
