"""Multinomial logistic experts: y | x, k ~ softmax(W_k x~), for classification."""

from __future__ import annotations

import numpy as np

from .. import _multinomial
from .._backend import is_numpy_array
from .._math import by_columns, device, log_softmax, penalty_mask, ridge_penalty
from ._base import Array, ExpertFamily, Params

#: Largest number of free coefficients per expert, (C - 1)(D + 1), for which the
#: M-step takes Newton steps with an explicit Hessian (from at most
#: ``_multinomial.HESSIAN_ROWS`` samples); truncated Newton (conjugate-gradient)
#: steps above. Counting the centred step's C (D + 1) Hessian rows instead
#: (session 43) gave two classes with 128 to 255 features (three with 85 to
#: 127) conjugate-gradient steps, 1.5 to 4.6 times faster, but ``CG_ITER``
#: steps fall short of the M-step's optimum, and EM stopped at ``tol`` up to
#: 3.9% lower in objective (5000 x 200, two classes, two experts: -0.2243 per
#: sample against -0.2158, training accuracy 0.914 against 0.920); 30 iterations to
#: a relative residual of 1e-3 followed Newton's path, but doubled the demo's
#: digits grid search (PCA(32), ten classes: conjugate gradients either way).
NEWTON_MAX_COEF = 256
#: Conjugate-gradient iterations per truncated Newton step.
CG_ITER = 10
#: Steps per M-step: one Newton step (warm-started, it nearly solves the M-step).
NEWTON_STEPS = 1
#: Steps of the first M-step, from the all-zero coefficients of ``initial_params``
#: (a cold start, like the EM loop's ``INITIAL_GATE_STEPS`` for the gate): there the
#: experts' fits are nearly solved, as the former 15 L-BFGS iterations did, which
#: gives the later iterations (and the gradient solver) the same starting point.
#: They stop early once every expert's next step would gain (by its quadratic
#: model, half the gradient times the step) at most the data type's epsilon per
#: unit of its weight, below the objective's rounding: Newton's steps converge
#: quadratically, and past that point the line search only halved through
#: rounding noise (1e6 x 8 float32, 3 classes, 16 experts: steps 1 to 5 gained
#: 0.85, 0.056, 0.012, 1.4e-3 and 4.9e-5, all at full length; steps 7 to 10
#: gained 1e-9 or less, with up to 10 halvings per expert, most of the first
#: M-step's time).
COLD_NEWTON_STEPS = 10
#: Step-length search limit (as the softmax gate's).
MAX_HALVINGS = 20
#: Largest change of any logit by the line search's second trial, once the
#: full Newton step is refused (``_multinomial.Line.halving``'s ``bound``).
#: Binary experts certain and wrong about every sample (a warm start whose
#: intercepts favour one class by 40 to 600 logits) made steps 1e16 to 1e20
#: logits long, which 20 halvings did not bring back: the experts never moved,
#: and EM stopped converged at objective -17 to -292 per sample (score 0.51)
#: where a fresh fit reaches -0.31 (0.863). A change of 1000 already moves a
#: probability across float64's whole range (e^-745), and the 19 halvings left
#: reach 2e-3 logits. Shifts of 20 to 5000 on three data sets (float32 and
#: float64, 30 cases) all reached the fresh fit's objective (to 6e-6) with
#: 1000, in 5 to 24 EM iterations; with 100 and 20, 5 and 6 of them ended in
#: other local optima, 3e-3 to 0.25 away (20 after up to 272 iterations).
#: Refused full steps of ordinary fits changed logits by 90 or less (20 fits
#: instrumented), and the bound left 38 of 40 of them bit for bit (float32 and
#: float64, binary and multiclass, shared features, hierarchical gate); 8
#: experts at ``alpha=0`` on moons, separated and diverging, stopped 4.7e-10
#: (float64) and 1e-5 (float32) lower. The reach is read only after a refused
#: full step: none in default fits to digits, breast cancer and moons (no
#: cost).
STEP_BOUND = 1000.0


def _settled(xp, grad, direction, weighted_resp, shared) -> Array:
    """Whether (a 0-d boolean array) the steps ``direction`` (K, d, C) would
    gain every expert (with ``shared`` rows, the experts together) at most the
    data type's epsilon per unit of its weight by the quadratic model,
    ``grad . direction / 2`` (exact for a Newton step and a conjugate-gradient
    iterate from 0)."""
    gain = 0.5 * xp.sum(xp.sum(grad * direction, axis=2), axis=1)
    weight = xp.sum(weighted_resp, axis=1)
    if shared:
        gain, weight = xp.sum(gain), xp.sum(weight)
    floor = float(xp.finfo(grad.dtype).eps) * weight
    return xp.all(gain <= floor)  # 0-d, on the device


class LogisticExperts(ExpertFamily):
    """K multinomial logistic regressions over the same ``n_classes`` classes.

    Coefficients are one (n_features + 1, K * C) matrix, expert k owning columns
    ``k * C : (k + 1) * C``, so that all experts' logits are one matrix product.
    The target ``Y`` is one-hot, (C, n_samples). Expert k's M-step is a weighted
    multinomial logistic regression (sample weights ``weighted_resp[k]``), the same
    problem as the softmax gate's M-step, solved by the same safeguarded steps
    (:mod:`skmoe._multinomial`), all experts at once: one Newton step within
    centred coefficients while ``(C - 1)(D + 1) <= NEWTON_MAX_COEF`` (each expert's
    Hessian is ``(C (D + 1))^2``), else one truncated Newton step (``CG_ITER``
    conjugate-gradient iterations, no Hessian formed), halved until the objective
    does not decrease (once the full step is refused, from a length that moves
    no logit by more than ``STEP_BOUND``). Each step never decreases any
    expert's objective (generalized EM); warm-started from the previous EM
    iteration. The first M-step, from zero coefficients, takes up to
    ``COLD_NEWTON_STEPS`` steps, stopping once no expert's next step would gain
    more than rounding.

    With ``shared`` rows (R flexmix's ``FLXMRglmfix(fixed=)`` for multinomial
    experts), those rows' C class coefficients are the same in every expert.
    The K problems are then one, of the sum of their objectives: each step is
    its joint Newton step (the experts' own rows eliminated, see
    :func:`skmoe._math.solve_shared`) or joint truncated Newton step (conjugate
    gradients within the tied coefficients), halved as one until the sum does
    not decrease, so EM still never lowers its objective. The shared
    coefficients' penalty is counted in every expert's term, as if they were
    its own.

    Parameters
    ----------
    n_classes : int
        Number of classes C (2 for a binary problem: both logits are kept).
    shared : tuple of int, default=()
        Rows of the coefficients (of the design ``[1, X]^T``, so 1 or more)
        that all experts share.
    """

    def __init__(self, n_classes: int, shared=()):
        self.n_classes = n_classes
        self.shared = tuple(shared)

    def _tie_stack(self, xp, stack: Array) -> Array:
        """``stack`` (K, d, C) with the shared rows replaced by their means over
        the K experts."""
        if not self.shared:
            return stack
        mask = np.zeros(stack.shape[1], dtype=np.float64)
        mask[list(self.shared)] = 1.0
        mask = xp.asarray(mask, dtype=stack.dtype, device=device(stack))[:, None]
        return (1.0 - mask) * stack + mask * xp.mean(stack, axis=0, keepdims=True)

    def _tie_coef(self, xp, coef: Array) -> Array:
        """The (d, K * C) layout of :meth:`_tie_stack`."""
        if not self.shared:
            return coef
        d = coef.shape[0]
        stack = xp.reshape(coef, (d, -1, self.n_classes))
        stack = self._tie_stack(xp, xp.permute_dims(stack, (1, 0, 2)))
        return xp.reshape(xp.permute_dims(stack, (1, 0, 2)), (d, -1))

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        shape = (design.shape[0], n_experts * self.n_classes)
        return {"coef": xp.zeros(shape, dtype=design.dtype, device=device(design))}

    def log_proba(self, xp, design: Array, params: Params) -> Array:
        """log softmax(W_k x~) as an (n_experts, n_classes, n_samples) array."""
        logits = by_columns(xp, params["coef"].T, design)
        shape = (-1, self.n_classes, design.shape[1])
        return log_softmax(xp, xp.reshape(logits, shape), axis=1)

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        """``sum_c Y_c log softmax_c`` as ``sum_c Y_c (l_c - m) - sum_c Y_c log
        sum_c exp(l_c - m)``, m the largest logit ``l_c``: without the
        log-softmax array (1.2x to 1.7x faster, the most with 10 classes), the
        same numbers for one-hot Y, within rounding for other Y."""
        logits = by_columns(xp, params["coef"].T, design)
        logits = xp.reshape(logits, (-1, self.n_classes, design.shape[1]))
        if is_numpy_array(logits):  # in place: the product is a temporary
            logits -= np.max(logits, axis=1, keepdims=True)
            fit = np.einsum("kcn,cn->kn", logits, Y)
            log_total = np.log(np.sum(np.exp(logits, out=logits), axis=1))
        else:
            shifted = logits - xp.max(logits, axis=1, keepdims=True)
            fit = xp.sum(shifted * Y[None, :, :], axis=1)
            log_total = xp.log(xp.sum(xp.exp(shifted), axis=1))
        return fit - xp.sum(Y, axis=0)[None, :] * log_total

    def m_step(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        d, n_samples = design.shape
        n_experts, n_classes = weighted_resp.shape[0], self.n_classes
        newton = (n_classes - 1) * d <= NEWTON_MAX_COEF
        mask = penalty_mask(xp, design)[:, None]
        # (d, K * C) -> (K, d, C): one multinomial problem per expert, centred
        coef = xp.permute_dims(
            xp.reshape(params["coef"], (d, n_experts, n_classes)), (1, 0, 2)
        )
        coef = coef - xp.mean(coef, axis=2, keepdims=True)
        targets = weighted_resp[:, None, :] * Y[None, :, :]
        nonzero = xp.any(params["coef"] != 0)
        # whether the M-step is warm (else cold, from zero coefficients): on
        # NumPy read now; elsewhere with the first line search's first test,
        # one transfer fewer per EM iteration (a GPU waits for each). A cold
        # start then tests its first step for the stop after that search,
        # which it ran in vain only where zero coefficients are the optimum
        warm = bool(nonzero) if is_numpy_array(nonzero) else None
        for step in range(COLD_NEWTON_STEPS):
            if warm and step >= NEWTON_STEPS:
                break
            # (K, C, n) arrays: the logits go once log_p is formed, prob once
            # the direction is (the line search needs neither)
            logits = _multinomial.coef_times_design(xp, coef, design)
            log_p = log_softmax(xp, logits, axis=1)
            del logits
            prob = xp.exp(log_p)
            grad = _multinomial.gradient(
                xp, design, targets, weighted_resp, prob, coef, alpha, mask
            )
            if newton:
                direction = _multinomial.newton_direction(
                    xp,
                    design,
                    weighted_resp,
                    prob,
                    grad,
                    alpha,
                    mask,
                    centred=True,
                    shared=self.shared,
                )
            else:
                tie = (lambda a: self._tie_stack(xp, a)) if self.shared else None
                direction = _multinomial.newton_cg_direction(
                    xp, design, weighted_resp, prob, grad, alpha, mask, CG_ITER, tie=tie
                )
            del prob
            if not warm:
                settled = _settled(xp, grad, direction, weighted_resp, self.shared)
                if warm is False and bool(settled):
                    break
            line = _multinomial.Line(xp, design, targets, log_p, coef, alpha, mask)
            t = line.halving(
                direction,
                MAX_HALVINGS,
                joint=bool(self.shared),
                also=(nonzero, settled) if warm is None else (),
                bound=STEP_BOUND,
            )
            if warm is None:
                warm = line.also[0]
                if not warm and line.also[1]:
                    break  # (the step is not taken, as above)
            del line, log_p  # not alive beside the next step's
            # where t is 0 the coefficients as they were, as the other
            # families' halving keeps them: coef + 0 * NaN is NaN (a solve that
            # does not raise, CuPy's, gives NaN from a singular system)
            t = t[:, None, None]
            coef = xp.where(t > 0, coef + t * direction, coef)
            coef = coef - xp.mean(coef, axis=2, keepdims=True)
        coef = xp.reshape(xp.permute_dims(coef, (1, 0, 2)), (d, n_experts * n_classes))
        return {"coef": coef}

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        coef = params["coef"]
        log_p = self.log_proba(xp, design, params)
        dlogits = weighted_resp[:, None, :] * (Y[None, :, :] - xp.exp(log_p))
        grad = design @ xp.reshape(dlogits, (-1, design.shape[1])).T
        grad = grad - alpha * penalty_mask(xp, coef)[:, None] * coef
        # shared rows: each of the K equal entries gets the mean of their
        # derivatives, so that the solvers' steps keep them equal
        return {"coef": self._tie_coef(xp, grad)}

    def select(self, xp, params: Params, keep: Array) -> Params:
        coef = params["coef"]
        blocks = xp.reshape(coef, (coef.shape[0], -1, self.n_classes))
        kept = xp.take(blocks, keep, axis=1)
        return {"coef": xp.reshape(kept, (coef.shape[0], -1))}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return ridge_penalty(xp, params["coef"], alpha)

    def tie(self, xp, params: Params) -> Params:
        # also centred over the classes (the softmax does not see a shift
        # common to them): EM's and L-BFGS's steps keep them so, Adam's drift
        coef = params["coef"]
        blocks = xp.reshape(coef, (coef.shape[0], -1, self.n_classes))
        blocks = blocks - xp.mean(blocks, axis=2, keepdims=True)
        coef = xp.reshape(blocks, coef.shape)
        return dict(params, coef=self._tie_coef(xp, coef))

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        rows = n_experts * (n_features + 1) - (n_experts - 1) * len(self.shared)
        return rows * (self.n_classes - 1)
