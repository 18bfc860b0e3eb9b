"""Multinomial logistic experts: y | x, k ~ softmax(W_k x~), for classification."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from .._backend import to_numpy
from .._math import device, log_softmax, penalty_mask
from ._base import Array, ExpertFamily, Params

#: L-BFGS iterations per M-step. Warm-started from the previous EM iteration, a few
#: are enough for generalized EM; more only slow the early iterations down.
LBFGS_MAX_ITER = 15


class LogisticExperts(ExpertFamily):
    """K multinomial logistic regressions over the same ``n_classes`` classes.

    Coefficients are one (n_features + 1, K * C) matrix, expert k owning columns
    ``k * C : (k + 1) * C``, so that all experts' logits are one matrix product.
    The target ``Y`` is one-hot, (C, n_samples). The M-step runs a bounded number
    of warm-started L-BFGS iterations on the weighted, L2-penalized multinomial
    log-likelihood of all experts at once (the experts' objectives are separable,
    so this is K independent fits sharing the matrix products). L-BFGS's line
    search never accepts an increase, and a run that ends worse than its start is
    discarded, so the step never decreases the objective (generalized EM).

    Parameters
    ----------
    n_classes : int
        Number of classes C (2 for a binary problem: both logits are kept).
    """

    task = "classification"

    def __init__(self, n_classes: int):
        self.n_classes = n_classes

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        shape = (design.shape[0], n_experts * self.n_classes)
        return {"coef": xp.zeros(shape, dtype=design.dtype, device=device(design))}

    def log_proba(self, xp, design: Array, params: Params) -> Array:
        """log softmax(W_k x~) as an (n_experts, n_classes, n_samples) array."""
        logits = params["coef"].T @ design
        shape = (-1, self.n_classes, design.shape[1])
        return log_softmax(xp, xp.reshape(logits, shape), axis=1)

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        return xp.sum(self.log_proba(xp, design, params) * Y[None, :, :], axis=1)

    def m_step(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        coef0 = params["coef"]
        shape, dtype, dev = coef0.shape, coef0.dtype, device(coef0)
        mask = penalty_mask(xp, coef0)[:, None]
        weighted = weighted_resp[:, None, :]
        n_samples = design.shape[1]

        def loss_and_grad(theta):
            coef = xp.asarray(np.reshape(theta, shape), dtype=dtype, device=dev)
            log_p = self.log_proba(xp, design, {"coef": coef})
            loss = -xp.sum(weighted * Y[None, :, :] * log_p)
            loss = loss + 0.5 * alpha * xp.sum(mask * coef**2)
            dlogits = weighted * (xp.exp(log_p) - Y[None, :, :])
            grad = design @ xp.reshape(dlogits, (-1, n_samples)).T
            grad = grad + alpha * mask * coef
            return float(loss), to_numpy(grad).astype(np.float64).ravel()

        theta0 = to_numpy(coef0).astype(np.float64).ravel()
        f0, _ = loss_and_grad(theta0)
        result = minimize(
            loss_and_grad,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": LBFGS_MAX_ITER, "gtol": 1e-10, "ftol": 1e-15},
        )
        if not np.all(np.isfinite(result.x)) or result.fun > f0:
            return params
        coef = xp.asarray(np.reshape(result.x, shape), dtype=dtype, device=dev)
        return {"coef": coef}

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        coef = params["coef"]
        log_p = self.log_proba(xp, design, params)
        dlogits = weighted_resp[:, None, :] * (Y[None, :, :] - xp.exp(log_p))
        grad = design @ xp.reshape(dlogits, (-1, design.shape[1])).T
        return {"coef": grad - alpha * penalty_mask(xp, coef)[:, None] * coef}

    def select(self, xp, params: Params, keep: Array) -> Params:
        coef = params["coef"]
        blocks = xp.reshape(coef, (coef.shape[0], -1, self.n_classes))
        kept = xp.take(blocks, keep, axis=1)
        return {"coef": xp.reshape(kept, (coef.shape[0], -1))}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        coef = params["coef"]
        return 0.5 * alpha * xp.sum(penalty_mask(xp, coef)[:, None] * coef**2)

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        return n_experts * (self.n_classes - 1) * (n_features + 1)
