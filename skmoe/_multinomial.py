"""Safeguarded steps for (stacks of) weighted multinomial logistic regressions.

Shared by the softmax gate and the logistic experts, which solve the same problem:
for each of B independent problems b, maximize over coefficients W_b (d, m)

    sum_i sum_c T[b, c, i] log softmax(W_b^T x~_i)[c] - (alpha / 2) ||P W_b||^2,

with soft targets T (B, m, n) whose columns sum to the sample weights
s[b, i] = sum_c T[b, c, i], and P the penalty mask (no penalty on the intercept).
The gate is one such problem (B = 1, m = K, T = weighted responsibilities); the
logistic experts are B = K problems over m = C classes with
T[k] = weighted_resp[k] * Y.

Stacks are laid out problems-first: coefficients (B, d, m), probabilities and
targets (B, m, n), sample weights (B, n). Everything uses only the Array API
standard, so it runs on any namespace and device.
"""

from __future__ import annotations

from ._math import device, diag, logsumexp, solve_symmetric

#: Samples per block when the Newton Hessian is accumulated (bounds its memory).
NEWTON_BLOCK = 65536


def gradient(xp, design, targets, sample_weight, prob, coef, alpha, mask):
    """Gradient of the objective, (B, d, m): ``X~ (T - s p)^T - alpha P W``."""
    residual = targets - sample_weight[:, None, :] * prob
    return design @ xp.matrix_transpose(residual) - alpha * mask * coef


def newton_direction(xp, design, sample_weight, prob, grad, alpha, mask, centred=False):
    """Newton steps for each problem: (B, d, m).

    The negative Hessian of problem b in columns j, k is
    ``X~^T diag(s (delta_jk p_j - p_j p_k)) X~ + alpha P delta_jk``: a block
    diagonal of weighted Gram matrices minus ``Z^T Z`` with
    ``Z = [sqrt(s) p_j x~]_j``, one (stacked) matrix product per block of samples.

    With ``centred=False`` (the gate's step) only the first m - 1 columns move, the
    last one's step is 0. With ``centred=True`` the step is the exact Newton step
    within coefficients whose columns sum to zero (where the optimum lies, the
    penalty being symmetric in the columns); ``coef`` must be centred so that
    ``grad`` is. The Hessian maps centred matrices to centred ones and is singular
    only across them (the softmax is invariant to adding a vector to every
    column), so adding ``(scale / m) 11^T kron I`` there makes it invertible
    without changing the centred solution: the step then converges quadratically,
    where moving m - 1 columns and re-centring converges only linearly when the
    penalty is large.

    Shapes: design (d, n), sample_weight (B, n), prob (B, m, n), grad (B, d, m),
    mask (d, 1).
    """
    d, n_samples = design.shape
    n_problems, n_columns = prob.shape[0], prob.shape[1]
    m = n_columns if centred else n_columns - 1
    size = m * d
    dev = device(design)
    hessian = xp.zeros((n_problems, size, size), dtype=design.dtype, device=dev)
    ridge = alpha * diag(xp, mask[:, 0])
    for j in range(m):
        scaled = design[None, :, :] * (sample_weight * prob[:, j, :])[:, None, :]
        block = scaled @ design.T + ridge
        hessian[:, j * d : (j + 1) * d, j * d : (j + 1) * d] = block
    root_weight = xp.sqrt(sample_weight)
    for start in range(0, n_samples, NEWTON_BLOCK):
        stop = min(start + NEWTON_BLOCK, n_samples)
        scaled = design[None, :, start:stop] * root_weight[:, None, start:stop]
        Z = prob[:, :m, None, start:stop] * scaled[:, None, :, :]
        Z = xp.reshape(Z, (n_problems, size, stop - start))
        hessian = hessian - Z @ xp.matrix_transpose(Z)
    if centred:
        eye = xp.eye(size, dtype=design.dtype, device=dev)
        scale = xp.sum(xp.sum(hessian * eye, axis=2), axis=1) / size
        ones = xp.ones((m, 1, m, 1), dtype=design.dtype, device=dev)
        across = xp.reshape(
            ones * xp.eye(d, dtype=design.dtype, device=dev)[:, None, :], (size, size)
        )
        hessian = hessian + (scale / m)[:, None, None] * across
    rhs = xp.reshape(xp.permute_dims(grad[:, :, :m], (0, 2, 1)), (n_problems, size, 1))
    step = solve_symmetric(xp, hessian, rhs)
    step = xp.permute_dims(xp.reshape(step, (n_problems, m, d)), (0, 2, 1))
    if centred:
        return step
    zeros = xp.zeros((n_problems, d, 1), dtype=design.dtype, device=dev)
    return xp.concat([step, zeros], axis=2)


def bohning_matrix(xp, design, sample_weight, alpha, mask):
    """Böhning's bound, ``X~^T diag(s_b) X~ / 2 + alpha P`` per problem: (B, d, d).

    The Hessian of the multinomial log-likelihood is bounded below by
    ``-1/2 (I - 11^T/m) kron X~^T diag(s) X~`` (Böhning 1992); on coefficients whose
    columns sum to zero this matrix, applied column by column, majorizes the
    negative Hessian, so solving with it gives a step that never decreases the
    objective.
    """
    scaled = design[None, :, :] * sample_weight[:, None, :]
    return 0.5 * (scaled @ design.T) + alpha * diag(xp, mask[:, 0])


def bohning_direction(xp, matrix, grad):
    """The Böhning step ``matrix^-1 grad``, its columns re-centred: (B, d, m)."""
    direction = solve_symmetric(xp, matrix, grad)
    return direction - xp.mean(direction, axis=2, keepdims=True)


class Line:
    """The objectives along ``coef + t_b * direction_b``, for step-length searches.

    The logits move by ``t * moved`` with ``moved = direction^T @ design``, so the
    objective is ``t * slope - sum_i s_i logsumexp_c(log_prob + t * moved)`` minus
    the penalty (``log_prob`` is normalized): each trial costs one (B, m, n)
    log-sum-exp and no matrix product. Step lengths are per problem, (B,).
    """

    def __init__(self, xp, design, targets, log_prob, coef, alpha, mask):
        self.xp, self.design, self.targets = xp, design, targets
        self.log_prob, self.coef, self.alpha, self.mask = log_prob, coef, alpha, mask
        self.sample_weight = xp.sum(targets, axis=1)

    def _along(self, direction):
        xp = self.xp
        moved = xp.matrix_transpose(direction) @ self.design
        slope = xp.sum(xp.sum(self.targets * moved, axis=2), axis=1)

        def gain(t):
            log_norm = logsumexp(xp, self.log_prob + t[:, None, None] * moved, axis=1)
            moved_coef = self.coef + t[:, None, None] * direction
            penalty = xp.sum(xp.sum(self.mask * moved_coef**2, axis=2), axis=1)
            loss = xp.sum(self.sample_weight * log_norm, axis=1)
            return t * slope - (loss + 0.5 * self.alpha * penalty)

        return gain

    def _full(self, value):
        coef = self.coef
        shape = (coef.shape[0],)
        return self.xp.full(shape, value, dtype=coef.dtype, device=device(coef))

    def doubling(self, direction, max_doublings):
        """Per problem, the largest of 1, 2, 4, ... while the objective keeps rising.

        Step 1 is the MM step of a Böhning direction (never worse than 0); doubling
        it pays where the bound is loose, as for nearly separable problems.
        """
        xp = self.xp
        gain = self._along(direction)
        best_t = self._full(1.0)
        best = gain(best_t)
        active = xp.ones(best_t.shape, dtype=xp.bool, device=device(best_t))
        for _ in range(max_doublings):
            trial = gain(2 * best_t)
            active = active & (trial > best)
            if not bool(xp.any(active)):
                break
            best_t = xp.where(active, 2 * best_t, best_t)
            best = xp.where(active, trial, best)
        return best_t

    def halving(self, direction, max_halvings):
        """Per problem, the first of 1, 1/2, 1/4, ... that does not decrease the
        objective; 0 where none does (that problem keeps its coefficients).
        """
        xp = self.xp
        gain = self._along(direction)
        start = gain(self._full(0.0))
        t = self._full(1.0)
        done = xp.zeros(t.shape, dtype=xp.bool, device=device(t))
        for _ in range(max_halvings):
            done = done | (gain(t) >= start)
            if bool(xp.all(done)):
                return t
            t = xp.where(done, t, t / 2)
        return xp.where(done, t, xp.zeros_like(t))
