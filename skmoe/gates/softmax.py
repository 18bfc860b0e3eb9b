"""The softmax gate of Jordan & Jacobs (1994): g(x) = softmax(x~ . v_k)."""

from __future__ import annotations

import numpy as np

from .. import _multinomial
from .._backend import is_numpy_array
from .._math import (
    by_columns,
    exp,
    log_softmax,
    penalty_mask,
    ridge_penalty,
    writable_over,
)
from .._sparse import route_by_expert, route_in_blocks
from ._base import Array, GateFamily, Params

#: How many times a Newton step may be halved before the gate is left unchanged.
MAX_HALVINGS = 20
#: Largest number of gate coefficients, K (D + 1), for which the M-step takes
#: Newton steps with the Hessian built explicitly (from at most
#: ``_multinomial.HESSIAN_ROWS`` samples, so its cost does not grow with n); above
#: it, truncated Newton steps by conjugate gradients, which never form the Hessian.
#: The Hessian of the centred step has a row and a column per coefficient, all K
#: columns' (a limit on the (K - 1)(D + 1) free ones built four times as many
#: entries with two experts: at 300 x 1000, 26 s a fit against 1.8 s with four
#: experts, whose gate took conjugate-gradient steps). With two experts the
#: Newton step solves a (D + 1) x (D + 1) system (``_multinomial.BINARY_STEP``).
NEWTON_MAX_COEF = 1024
#: The exact Newton step is taken in kernel form (an n K x n K system,
#: ``_multinomial.newton_direction_kernel``) when ``KERNEL_RATIO * n < D + 1``
#: and ``alpha > 0``, in place of building the K (D + 1) x K (D + 1) Hessian
#: (K^2 (D + 1)^2 n to build, K^3 (D + 1)^3 to solve): the same step to
#: rounding (nearer the exact one than the primal solve, whose relative 1e-10
#: jitter moved a step by 2e-7 of its size at alpha=1e-4). Fits at n=200, two
#: experts: MoERegressor D=300 0.82 -> 0.21 s, D=500 2.12 -> 0.21 s;
#: MoEClassifier D=500 8.4 -> 0.83 s, the same iterations, log-likelihoods
#: within 1e-12 per sample (``python benchmarks/wide_features.py --gate``).
#: Where alpha is below the rounding of that system's largest diagonal entry
#: (alpha=1e-10 in float32, 1e-30 in float64: it was singular where a gate
#: saturates or rows repeat) or its solve fails, the primal step is taken.
KERNEL_RATIO = 1.0
#: Conjugate-gradient iterations per truncated Newton step.
CG_ITER = 10
#: Conjugate-gradient iterations and relative residual of the tight M-step
#: (``m_step(..., tight=True)``) with which EM checks its convergence where
#: the steps are truncated (see ``_em.run_em``). 32 experts, n=2000, D=100:
#: 100 iterations to 1e-4 and 30 to 1e-3 reached the same stop (1.95e-3 per
#: sample above the unchecked one's), 30 at a lower worst-case cost.
TIGHT_CG_ITER = 30
TIGHT_CG_RTOL = 1e-3
#: Gate steps per EM iteration when the EM loop does not say: one (warm-started,
#: a Newton step nearly solves the M-step).
NEWTON_STEPS = 1


class SoftmaxGate(GateFamily):
    """Multinomial logistic gate fitted by safeguarded Newton steps.

    The M-step maximizes ``sum_ik w_i r_ik log g_ik - (alpha/2) ||P V||^2`` (P drops
    the intercept row) over the gate coefficients V: a multinomial logistic
    regression on soft targets, solved by :mod:`skmoe._multinomial`.

    While ``K (D + 1) <= NEWTON_MAX_COEF`` it takes exact Newton (IRLS)
    steps within coefficients whose columns sum to zero, with an explicit
    Hessian (in kernel form, an n K x n K system, with more coefficient rows
    than samples and ``alpha > 0``; see ``KERNEL_RATIO``); above, truncated
    Newton steps (``CG_ITER`` conjugate-gradient iterations with
    Hessian-vector products) within the same coefficients; there EM checks
    its stop with one tight M-step (``m_step(..., tight=True)``,
    ``TIGHT_CG_ITER`` iterations to a relative residual of ``TIGHT_CG_RTOL``),
    as a truncated step can gain less than ``tol`` where EM is not done. Both
    treat the experts alike, so EM's path does not depend on their order (steps
    on the first K - 1 columns, the last one's held at zero, made a relabelled
    model's predictions differ by 1e-2 after one iteration with alpha=1e-3). Either
    step is halved until the objective does not decrease, so the M-step never
    lowers it (generalized EM), and steps stay finite when the regimes are
    perfectly separable. Warm-started, one such step nearly completes the
    M-step, which is what makes EM converge in tens of iterations on sharply
    separated regimes, where partial gate steps (three Böhning-bound steps, the
    gate of earlier versions) crept for hundreds (measured on 20000 x 5 switching
    data, K=4, alpha=0: 38 EM iterations to tol=1e-6 against 500+, and a higher
    likelihood).
    """

    def log_gate(self, xp, design: Array, params: Params, out=None) -> Array:
        """log g_k(x_i), (n_experts, n_samples); ``out``: a NumPy array of
        that shape and the design's dtype to write the logits and then the
        log gate into (a work array kept across row chunks), not new ones."""
        if out is None or not is_numpy_array(design):
            return log_softmax(xp, by_columns(xp, params["coef"].T, design), axis=0)
        logits = by_columns(xp, params["coef"].T, design, out=out)
        return log_softmax(xp, logits, axis=0, out=logits)

    def logits(self, xp, design: Array, params: Params) -> Array:
        return by_columns(xp, params["coef"].T, design)

    def route(self, xp, design: Array, params: Params, k: int):
        # from the experts-major product (by_columns, as log_gate's), selected
        # over its first axis: OpenBLAS 0.3.31's SkylakeX kernels gave a row
        # of the samples-major product (design.T @ coef), and so its
        # routing, other bits in another batch from 32 terms on
        def route_block(block):
            logits = by_columns(xp, params["coef"].T, block)
            return route_by_expert(xp, logits, k, overwrite=True)

        return route_in_blocks(xp, design, route_block)

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
        n_steps=None,
        tight=False,
    ) -> Params:
        coef = params["coef"]
        n_experts = coef.shape[1]
        if n_experts == 1:
            return params  # a single expert's gate is 1 whatever its coefficients
        newton = not truncated(n_experts, design.shape[0])
        # more coefficient rows than samples: the same Newton step in kernel form
        kernel = alpha > 0 and design.shape[1] * KERNEL_RATIO < design.shape[0]
        if n_steps is None:
            n_steps = NEWTON_STEPS
        mask = penalty_mask(xp, coef)[:, None]
        sample_weight = xp.sum(weighted_resp, axis=0)
        # centred columns (the gate is the same; the penalty only falls), where
        # the centred Newton step works
        coef = coef - xp.mean(coef, axis=1, keepdims=True)
        for step in range(n_steps):
            if step > 0:
                log_gate = self.log_gate(xp, design, {"coef": coef})
            gate = exp(xp, log_gate)
            residual = _residual(xp, weighted_resp, sample_weight, gate)
            args = (xp, design, sample_weight[None, ...], gate[None, ...])
            direction = None
            if newton and kernel:  # from the residual, not the gradient
                direction = _multinomial.newton_direction_kernel(
                    *args, residual[None, ...], coef[None, ...], alpha
                )
            if direction is None:  # (kernel form: alpha below its rounding)
                grad = design @ residual.T - alpha * mask * coef
                residual = None  # not kept through the step
                if newton:
                    direction = _multinomial.newton_direction(
                        *args, grad[None, ...], alpha, mask, centred=True
                    )
                else:
                    direction = _multinomial.newton_cg_direction(
                        *args,
                        grad[None, ...],
                        alpha,
                        mask,
                        TIGHT_CG_ITER if tight else CG_ITER,
                        rtol=TIGHT_CG_RTOL if tight else 0.1,
                    )
                del grad
            # the (K, n) arrays of this step freed as soon as done with (the
            # residual, the gate, and the line search's hold on log_gate):
            # kept to the next step, they sat at the fit's peak memory
            del args, gate, residual
            line = _multinomial.Line(
                xp,
                design,
                weighted_resp[None, ...],
                log_gate[None, ...],
                coef[None, ...],
                alpha,
                mask,
            )
            t = line.halving(direction, MAX_HALVINGS)
            del line
            # t stays on the device (a GPU fit read it at each step); NumPy's
            # product by the 0-d t is the one by float(t[0]) (t is 1 or a power
            # of 1/2, exact in the coefficients' dtype)
            # where t is 0 the coefficients as they were: coef + 0 * NaN is NaN
            # (a solve that does not raise, CuPy's, gives NaN from a singular
            # system; no transfer, where checking the direction took one)
            coef = xp.where(t[0] > 0, coef + t[0] * direction[0, ...], coef)
            coef = coef - xp.mean(coef, axis=1, keepdims=True)
        return {"coef": coef}

    def truncated(self, design, params) -> bool:
        return truncated(params["coef"].shape[1], design.shape[0])

    def centred(self, params: Params) -> Params:
        coef = params["coef"]
        return dict(params, coef=coef - np.mean(coef, axis=1, keepdims=True))

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return ridge_penalty(xp, params["coef"], alpha)

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        return (n_experts - 1) * (n_features + 1)


def truncated(n_experts: int, n_rows: int) -> bool:
    """Whether the M-step of a gate of ``n_experts`` over ``n_rows``
    coefficient rows takes truncated (conjugate-gradient) steps."""
    return n_experts > 1 and n_experts * n_rows > NEWTON_MAX_COEF


def _residual(xp, weighted_resp, sample_weight, gate):
    """``weighted_resp - sample_weight * gate`` (K, n): the gradient's
    residual; on NumPy written over the product, one (K, n) array where the
    plain expression held two (the same numbers)."""
    product = sample_weight[None, :] * gate
    if writable_over(product, weighted_resp):
        return np.subtract(weighted_resp, product, out=product)
    return weighted_resp - product
