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

import numpy as np

from ._backend import host_scalars, is_numpy_array
from ._math import device, diag, logsumexp, solve_shared, solve_symmetric, take_last

#: Samples per block when the Newton Hessian is accumulated (bounds its memory):
#: at most NEWTON_BLOCK, fewer for stacks of problems, so that the block's
#: (B, m d, block) product matrix takes about NEWTON_BYTES (128 logistic experts
#: over 10 classes and 20 features made it 1.8 GB with 8192-sample blocks), a
#: size that stays in cache: 2**26 bytes made a classifier's fit (4 experts, 5
#: classes, 20 features, 20000 rows) 1.27 times as long, its peak memory 57.5
#: MiB for 28.1 (``python benchmarks/newton_blocks.py``). Other namespaces (a
#: GPU, where smaller blocks mean more kernel launches, not measured) keep
#: DEVICE_NEWTON_BYTES.
NEWTON_BLOCK = 8192
NEWTON_BYTES = 2**20
DEVICE_NEWTON_BYTES = 2**26
#: Most samples the Newton Hessian is built from. Above this, samples whose
#: probabilities are all within ``CERTAIN`` of 0 or 1 (they add at most ``CERTAIN``
#: times their Gram term to the Hessian) are set apart, and if more than
#: ``HESSIAN_ROWS`` remain, every ``ceil(remaining / HESSIAN_ROWS)``-th of them is
#: used, scaled up (a sub-sampled Newton method, Byrd et al. 2011); of those set
#: apart, at most ``CERTAIN_ROWS``, likewise. The gradient
#: and the line search still use every sample, so each step is still a safeguarded
#: ascent step on the exact objective, and the Hessian's cost stops growing with n.
HESSIAN_ROWS = 16384
CERTAIN = 1e-8
#: Most certain samples in the Hessian: without them a Hessian of samples all
#: certain (separated classes beyond ``HESSIAN_ROWS`` samples, ``alpha=0``) was
#: its jitter alone, its step 1e298 times too long, and EM stopped there (no
#: halving gave a step; the line searches' penalties overflowed, with NumPy's
#: RuntimeWarnings). Evenly spaced and scaled up, as the others: the largest
#: terms alone, unscaled, made the step 4 times too long (30000 samples).
CERTAIN_ROWS = HESSIAN_ROWS // 16
#: Bytes of the (B * m, block) arrays of a blocked Hessian-vector product on NumPy.
HV_BLOCK_BYTES = 2**20
#: Whether a centred step over two columns (a gate of two experts, binary
#: logistic experts) solves the d x d system of :func:`_binary_direction`; False:
#: the 2d x 2d one of the general case, the same step to rounding at 4 times the
#: build cost (kept to compare them: ``python benchmarks/binary_gate.py``).
BINARY_STEP = True


def coef_times_design(xp, coef, design):
    """``coef^T @ design`` for stacked coefficients (B, d, m): (B, m, n).

    On NumPy as one 2-D product of (B m, d) by (d, n): a broadcast stack of B
    thin products was 1.14 times slower per classifier EM iteration (2e5 x 20,
    K=8, C=10), with the same results."""
    if is_numpy_array(design):
        n_problems, d, m = coef.shape
        flat = np.ascontiguousarray(np.swapaxes(coef, 1, 2)).reshape(n_problems * m, d)
        return (flat @ design).reshape(n_problems, m, design.shape[1])
    return xp.matrix_transpose(coef) @ design


def design_times(xp, design, stacked):
    """``design @ stacked^T`` for stacked (B, m, n): (B, d, m), on NumPy as one
    2-D product (see :func:`coef_times_design`)."""
    if is_numpy_array(design):
        n_problems, m, n_samples = stacked.shape
        flat = design @ stacked.reshape(n_problems * m, n_samples).T  # (d, B m)
        return np.swapaxes(flat.reshape(design.shape[0], n_problems, m), 0, 1)
    return design @ xp.matrix_transpose(stacked)


def gradient(xp, design, targets, sample_weight, prob, coef, alpha, mask):
    """Gradient of the objective, (B, d, m): ``X~ (T - s p)^T - alpha P W``."""
    residual = sample_weight[:, None, :] * prob
    in_place = is_numpy_array(residual) and (
        residual.shape == targets.shape and residual.dtype == targets.dtype
    )
    if in_place:  # one (B, m, n) array, not two
        residual = np.subtract(targets, residual, out=residual)
    else:
        residual = targets - residual
    return design_times(xp, design, residual) - alpha * mask * coef


def newton_direction(
    xp, design, sample_weight, prob, grad, alpha, mask, centred=False, shared=()
):
    """Newton steps for each problem: (B, d, m).

    The negative Hessian of problem b in columns j, k is
    ``X~^T diag(s (delta_jk p_j - p_j p_k)) X~ + alpha P delta_jk``: a block
    diagonal of weighted Gram matrices minus ``Z^T Z`` with
    ``Z = [sqrt(s) p_j x~]_j``, one (stacked) matrix product per block of samples.

    With ``centred=False`` only the first m - 1 columns move, the last one's step
    is 0. With ``centred=True`` (the gate's and the experts' step) the step is the
    exact Newton step
    within coefficients whose columns sum to zero (where the optimum lies, the
    penalty being symmetric in the columns); ``coef`` must be centred so that
    ``grad`` is. The Hessian maps centred matrices to centred ones and is singular
    only across them (the softmax is invariant to adding a vector to every
    column), so adding ``(scale / m) 11^T kron I`` there makes it invertible
    without changing the centred solution: the step then converges quadratically,
    where moving m - 1 columns and re-centring converges only linearly when the
    penalty is large.

    With more than ``HESSIAN_ROWS`` samples the Hessian's data term leaves out
    samples it does not depend on and is estimated from evenly spaced samples of
    the rest (see ``HESSIAN_ROWS``).

    With ``shared`` rows of the coefficients, which every problem shares (the
    B problems then are one, of the sum of their objectives), the step is the
    joint Newton step (see :func:`skmoe._math.solve_shared`), the same in the
    shared rows of every problem.

    With ``centred=True``, two columns and no ``shared`` rows (a gate of two
    experts, binary logistic experts) the step is taken as the d x d
    binary-logistic one of :func:`_binary_direction`: the same step to
    rounding, from a Hessian of a quarter of the entries.

    Shapes: design (d, n), sample_weight (B, n), prob (B, m, n), grad (B, d, m),
    mask (d, 1).
    """
    certain = None
    if design.shape[1] > HESSIAN_ROWS:
        (design, sample_weight, prob), certain = _hessian_rows(
            xp, design, sample_weight, prob
        )
    if is_numpy_array(prob):
        # probabilities below eps**2 (1.4e-14 in float32) left out: their
        # products with the sample weights (which sum to 1) and the features
        # are often subnormal in float32, on which BLAS is many times slower
        # (a float32 step at 5000 x 10, 8 experts: 8.0 ms with them, 1.6 ms
        # without). They change an entry by at most eps**2 times its Gram
        # term sum_i s_i x_i x_i^T (with m columns centred: eps / 16 d of the
        # noise added below, a sample's probabilities summing to 1), as
        # CERTAIN's rows do by 1e-8; the gradient and the line search keep them.
        # Other namespaces keep them (a GPU flushes subnormals where set to).
        # (the copy only where some are: the same numbers)
        low = prob < np.finfo(prob.dtype).eps ** 2
        if low.any():
            prob = np.where(low, 0, prob)
    if BINARY_STEP and centred and prob.shape[1] == 2 and not shared:
        return _binary_direction(
            xp, design, sample_weight, prob, grad, alpha, mask, certain
        )
    d, n_samples = design.shape
    n_problems, n_columns = prob.shape[0], prob.shape[1]
    m = n_columns if centred else n_columns - 1
    size = m * d
    dev = device(design)
    ridge = alpha * diag(xp, mask[:, 0])
    # blocks of samples sized so that Z, (B, m d, block), stays near NEWTON_BYTES
    budget = NEWTON_BYTES if is_numpy_array(design) else DEVICE_NEWTON_BYTES
    rows = max(256, min(NEWTON_BLOCK, budget // (8 * n_problems * size)))
    if not is_numpy_array(design):
        hessian, gross = _device_hessian(
            xp, design, sample_weight, prob, ridge, m, rows
        )
    else:
        # (NumPy's own constructors: array-api-compat's, which take a device,
        # cost a few us a call, several a Newton step)
        blocks = [
            np.zeros((n_problems, d, d), dtype=design.dtype) + ridge for _ in range(m)
        ]
        hessian = np.zeros((n_problems, size, size), dtype=design.dtype)
        root_weight = xp.sqrt(sample_weight)
        for start in range(0, n_samples, rows):
            stop = min(start + rows, n_samples)
            part = design[:, start:stop]
            for j in range(m):
                weight = sample_weight[:, start:stop] * prob[:, j, start:stop]
                blocks[j] += (part[None, :, :] * weight[:, None, :]) @ part.T
            root = root_weight[:, None, start:stop]
            # both products written in C order: they took the layout of the
            # F-ordered design, which the reshape below then copied (the same
            # numbers; the copy took 3 to 10 times the products' time at
            # 5000 x 10)
            scaled = np.multiply(part[None, :, :], root, order="C")
            Z = np.multiply(prob[:, :m, None, start:stop], scaled[:, None], order="C")
            Z = xp.reshape(Z, (n_problems, size, stop - start))
            # in place: a new (B, m d, m d) difference per block of samples took a
            # fifth of this loop at 1797 x 65, 8 experts (the same numbers)
            if n_problems == 1:  # a 2-D Z @ Z.T is one symmetric rank-k update in BLAS
                hessian[0, ...] -= Z[0, ...] @ Z[0, ...].T
            else:
                hessian -= Z @ xp.matrix_transpose(Z)
        gross = np.zeros((n_problems, d), dtype=design.dtype)
        for j in range(m):
            hessian[:, j * d : (j + 1) * d, j * d : (j + 1) * d] += blocks[j]
            # (a view: blocks[j] * eye's sum, without its (B, d, d) temporary)
            diagonal = np.diagonal(blocks[j], axis1=1, axis2=2)
            gross = np.maximum(gross, diagonal)
    if certain is not None:
        hessian, extra_gross = _certain_hessian(xp, hessian, *certain, m, rows)
        gross = xp.maximum(gross, extra_gross)
    if centred:
        # (1/m) 11^T kron diag(D), D_i the mean Hessian diagonal of coefficient row
        # i over the columns: each row at its own scale (one scale for all rows
        # made the intercepts' solve lose 13 digits beside a feature of scale 1e7)
        hessian = _add_across(xp, hessian, m, d)
    rhs = xp.reshape(xp.permute_dims(grad[:, :, :m], (0, 2, 1)), (n_problems, size, 1))
    # the blocks minus Z^T Z cancel where probabilities saturate: rounding errors
    # of a few eps times the blocks' size, which can make the difference
    # indefinite; per coefficient row (its largest block diagonal over the
    # columns), so that a feature's scale does not swamp the other rows
    noise = (16 * size * float(xp.finfo(design.dtype).eps)) * gross
    if is_numpy_array(noise):
        ones = np.ones((1, m, 1), dtype=design.dtype)
    else:
        ones = xp.ones((1, m, 1), dtype=design.dtype, device=dev)
    noise = xp.reshape(ones * noise[:, None, :], (n_problems, size))
    if shared:  # entry j d + r of a problem's step: column j, row r
        tied = [j * d + row for j in range(m) for row in shared]
        ones = xp.ones((n_problems,), dtype=design.dtype, device=dev)
        step = solve_shared(xp, hessian, rhs[:, :, 0], tied, ones, noise, nan_ok=True)
    else:  # (a NaN step: refused by the line search)
        step = solve_symmetric(xp, hessian, rhs, noise, nan_ok=True)
    step = xp.permute_dims(xp.reshape(step, (n_problems, m, d)), (0, 2, 1))
    if centred:
        return step
    zeros = xp.zeros((n_problems, d, 1), dtype=design.dtype, device=dev)
    return xp.concat([step, zeros], axis=2)


def _binary_direction(xp, design, sample_weight, prob, grad, alpha, mask, certain):
    """The centred Newton step of :func:`newton_direction` for two columns,
    (B, d, 2), from a d x d system per problem in place of the 2d x 2d one.

    Centred, the coefficients are ``[u, -u]``: the problem is a binary
    logistic regression with logit ``2 u^T x~`` and penalty ``alpha ||P u||^2``,
    whose negative Hessian in u is ``2 X~^T diag(2 s p_0 p_1) X~ + 2 alpha P``
    and gradient ``g_0 - g_1`` (``grad``'s columns). The step ``[du, -du]``
    with ``(X~^T diag(2 s p_0 p_1) X~ + alpha P) du = (g_0 - g_1) / 2`` is the
    centred step of the 2d x 2d system (which maps ``[u, -u]`` to ``[(2 A +
    alpha P) u, -(2 A + alpha P) u]``, ``A = X~^T diag(s p_0 p_1) X~``), up to
    the solve's relative 1e-10 jitter. The weights ``s p_0 p_1`` are formed
    directly, so nothing cancels where probabilities saturate (no rounding
    ``noise`` term, no separate treatment of ``certain`` samples: their rows
    join the others'), and in float32 the step is float64's to 1e-6 (the
    2d x 2d one's noise term kept it 1e-4 to 1e-2 away). Digits (1797 x 65,
    two experts): 2.9 ms a step against 0.69 ms; MoEClassifier's default fit
    0.68 times as long on digits, 0.56 on breast cancer, whose binary experts
    take this step too, with the same EM iterations (``python
    benchmarks/binary_gate.py``).

    ``certain``: the certain samples' (design, sample_weight, prob) of
    :func:`_hessian_rows`, or None.
    """
    d, n_problems = design.shape[0], prob.shape[0]
    ridge = alpha * diag(xp, mask[:, 0])
    if is_numpy_array(design):
        hessian = np.zeros((n_problems, d, d), dtype=design.dtype) + ridge
        budget = NEWTON_BYTES
    else:
        dev = device(design)
        hessian = xp.zeros((n_problems, d, d), dtype=design.dtype, device=dev) + ridge
        budget = DEVICE_NEWTON_BYTES
    # blocks of samples whose (B, d, block) product stays near the budget
    rows = max(256, min(NEWTON_BLOCK, budget // (8 * n_problems * d)))
    # 2 s p_0 p_1 + eps**3 s: a floor at most eps of the weight of every
    # sample newton_direction keeps (both p at least eps**2, so p_0 p_1 at
    # least eps**2 / 2; on NumPy it leaves out the others). With 0, an
    # unpenalized row (the intercept) of a gate certain of every sample had
    # only the solve's jitter, the smallest normal number: a gradient of
    # 1e-110 made a step of 1e198, which the line search refused with the
    # penalized rows' (a warm start from a gate at logits 400 kept them)
    floor = float(xp.finfo(design.dtype).eps) ** 3
    for part_design, part_weight, part_prob in [(design, sample_weight, prob)] + (
        [certain] if certain is not None else []
    ):
        weight = 2 * part_weight * part_prob[:, 0, :] * part_prob[:, 1, :]  # (B, n)
        weight = weight + floor * part_weight
        for start in range(0, part_design.shape[1], rows):
            stop = min(start + rows, part_design.shape[1])
            part = part_design[:, start:stop]
            hessian += (part[None, :, :] * weight[:, None, start:stop]) @ part.T
    rhs = (grad[:, :, :1] - grad[:, :, 1:]) / 2  # (B, d, 1)
    step = solve_symmetric(xp, hessian, rhs, nan_ok=True)  # (a NaN step: refused)
    return xp.concat([step, -step], axis=2)


def _device_hessian(xp, design, sample_weight, prob, ridge, m, rows):
    """The negative Hessian's data and ridge terms of :func:`newton_direction`
    off NumPy, (B, m d, m d), and the largest block diagonal of each
    coefficient row over the m columns, (B, d).

    Without loops over the columns (a GPU launches a kernel per product):
    per block of ``rows`` samples, the m diagonal blocks ``X~^T diag(s p_j)
    X~`` are one stacked product, (B, m, d, d), of a (B, m, d, block)
    temporary of Z's size (freed before Z is made, so the peak stays near
    the budget ``rows`` was sized by); the blocks join the Hessian's diagonal
    in one broadcast sum at the end. The same numbers as the loop over the
    columns it replaced (on array-api-strict, bit for bit).
    """
    d, n_samples = design.shape
    n_problems, size = prob.shape[0], m * d
    dtype, dev = design.dtype, device(design)
    blocks = xp.zeros((n_problems, m, d, d), dtype=dtype, device=dev) + ridge
    hessian = xp.zeros((n_problems, size, size), dtype=dtype, device=dev)
    root_weight = xp.sqrt(sample_weight)
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        part = design[:, start:stop]
        weight = sample_weight[:, None, start:stop] * prob[:, :m, start:stop]
        blocks += (part[None, None, :, :] * weight[:, :, None, :]) @ part.T
        scaled = part[None, :, :] * root_weight[:, None, start:stop]
        Z = prob[:, :m, None, start:stop] * scaled[:, None, :, :]
        Z = xp.reshape(Z, (n_problems, size, stop - start))
        if n_problems == 1:  # a 2-D Z @ Z.T is one symmetric rank-k update in BLAS
            hessian[0, ...] -= Z[0, ...] @ Z[0, ...].T
        else:
            hessian -= Z @ xp.matrix_transpose(Z)
    eye = xp.eye(d, dtype=dtype, device=dev)
    gross = xp.max(xp.sum(blocks * eye, axis=3), axis=1)
    eye_m = xp.eye(m, dtype=dtype, device=dev)
    across = eye_m[:, None, :, None] * blocks[:, :, :, None, :]  # (B, m, d, m, d)
    hessian += xp.reshape(across, (n_problems, size, size))
    return hessian, gross


def newton_direction_kernel(xp, design, sample_weight, prob, residual, coef, alpha):
    """The centred Newton step of :func:`newton_direction` in kernel form, for
    more coefficient rows than samples: (B, d, m).

    The step ``v`` solves ``H v = grad``, H the negative Hessian ``X~^T W X~ +
    alpha P`` over centred coefficients (``W_i = s_i (diag(p_i) - p_i p_i^T)``
    per sample), ``grad = X~ R^T - alpha P V``. The new coefficients ``V + v``
    then solve ``H (V + v) = X~ T^T`` with ``t_i = W_i a_i + r_i`` (``a_i =
    V^T x~_i`` the logits, ``r_i`` the residual), an IRLS weighted ridge whose
    penalized rows are ``X Theta`` (representer theorem; X the feature rows of
    the design, row 0 the unpenalized intercept) and whose intercepts ``b``
    solve, with ``Theta`` (n, m) and the kernel ``G = X^T X`` (n, n),

        alpha theta_i + W_i (b + (G Theta)_i) = t_i,     sum_i theta_i = 0:

    an n m x n m system (one LU solve with m + 1 right-hand sides) and an
    m x m one for ``b`` in place of the m d x m d Hessian, whose build alone
    costs ``m^2 d^2 n``. ``b`` is fixed along ``1`` (where the softmax is
    invariant) by a rank-one term, as in :func:`newton_direction`;
    ``Theta``'s rows are centred as the targets are. The exact step of
    ``newton_direction(..., centred=True)`` up to rounding (that one's
    diagonal jitter, relative 1e-10, moved a step by 2e-7 of its size at
    n=40, D=100, alpha=1e-4; this one's error was 4e-12); needs ``alpha > 0``.
    None where alpha is below the rounding of the system's largest diagonal
    entry or its solve fails (the caller then takes the primal step).

    Shapes: design (d, n), sample_weight (B, n), prob and residual (B, m, n),
    coef (B, d, m), centred.
    """
    n_problems, m, n_samples = prob.shape
    dtype, dev = design.dtype, device(design)
    features, ones = design[1:, :], design[:1, :]  # (D, n), the intercept row (1, n)
    kernel = xp.matrix_transpose(features) @ features  # (n, n)
    eye_m = xp.eye(m, dtype=dtype, device=dev)
    p = xp.permute_dims(prob, (0, 2, 1))  # (B, n, m)
    weight = sample_weight[:, :, None, None] * (
        p[:, :, :, None] * eye_m - p[:, :, :, None] * p[:, :, None, :]
    )  # W_i, (B, n, m, m)
    logits = xp.permute_dims(coef_times_design(xp, coef, design), (0, 2, 1))
    target = (weight @ logits[..., None])[..., 0] + xp.permute_dims(
        residual, (0, 2, 1)
    )  # t_i, (B, n, m)
    size = n_samples * m
    system = kernel[None, :, None, :, None] * weight[:, :, :, None, :]
    system = xp.reshape(system, (n_problems, size, size))
    # alpha lost in the rounding of the largest diagonal entry: where a W_i is
    # rank-deficient (a saturated gate; each W_i 1 = 0) or G is (duplicated
    # rows), so is the system (alpha=1e-10 in float32, 1e-30 in float64
    # raised LinAlgError); the caller takes the primal step, whose jitter
    # holds it
    flat = xp.reshape(system, (n_problems, size * size))
    largest = float(xp.max(flat[:, :: size + 1]))
    if largest * float(xp.finfo(dtype).eps) >= alpha:
        return None
    if is_numpy_array(system):  # in place, on the diagonal alone (1 ms for 3.3)
        diagonal = np.arange(size)
        system[:, diagonal, diagonal] += alpha
    else:
        system = system + alpha * xp.eye(size, dtype=dtype, device=dev)
    # right-hand sides: the targets, and W_i x_0i e_c for each intercept c
    across = weight * xp.reshape(ones, (1, n_samples, 1, 1))
    rhs = xp.concat(
        [
            xp.reshape(target, (n_problems, size, 1)),
            xp.reshape(across, (n_problems, size, m)),
        ],
        axis=2,
    )
    try:
        solved = xp.linalg.solve(system, rhs)
        solved = xp.reshape(solved, (n_problems, n_samples, m, m + 1))
        # sum_i x_0i theta_i = 0, theta = theta_0 - Q b: (sum_i x_0i Q_i) b = ...
        row = xp.reshape(ones, (1, n_samples, 1, 1))
        summed = xp.sum(row * solved, axis=1)  # (B, m, m + 1)
        lhs, right = summed[:, :, 1:], summed[:, :, :1]
        scale = xp.sum(lhs * eye_m, axis=(1, 2)) / m
        ridge = (scale[:, None, None] / m) * xp.ones((1, m, m), dtype=dtype, device=dev)
        intercept = xp.linalg.solve(lhs + ridge, right)  # (B, m, 1)
    except MemoryError:
        raise
    except Exception:  # NumPy's LinAlgError, torch's RuntimeError, ...
        return None
    theta = solved[..., 0] - (solved[..., 1:] @ intercept[:, None, :, :])[..., 0]
    slopes = features[None, :, :] @ theta  # (B, D, m)
    new = xp.concat([xp.matrix_transpose(intercept), slopes], axis=1)
    # centred, as the exact step is (its rounding errors are not)
    step = new - coef
    step = step - xp.mean(step, axis=2, keepdims=True)
    # a singular system where solve does not raise (CuPy's, outside
    # cupyx.errstate(linalg="raise"), gives inf or NaN): of either solve, as
    # the line search keeps no coefficients from a NaN step (0 * NaN)
    if not bool(xp.all(xp.isfinite(step))):
        return None
    return step


def _add_across(xp, hessian, m, d):
    """``hessian`` (B, m d, m d) plus ``(1/m) 11^T kron diag(D)``, D_i the mean
    over the m columns of the diagonal entries of coefficient row i.

    On NumPy in place, on the m^2 blocks' diagonals alone: the dense form's
    (B, m d, m d) temporaries took about a twentieth of a Newton step at
    1797 x 65, 8 experts. The same numbers for a finite Hessian (an entry off
    those diagonals gains an exact zero there).
    """
    n_problems, size = hessian.shape[0], m * d
    if is_numpy_array(hessian):
        diagonal = np.diagonal(hessian, axis1=1, axis2=2)
        scale = np.mean(diagonal.reshape(n_problems, m, d), axis=1)
        rows = np.arange(d)
        blocks = hessian.reshape(n_problems, m, d, m, d)
        # advanced indices apart: their axis (the row i) comes first, (d, B, m, m)
        blocks[:, :, rows, :, rows] += (scale.T / m)[:, :, None, None]
        return hessian
    dev = device(hessian)
    eye = xp.eye(d, dtype=hessian.dtype, device=dev)
    full_eye = xp.eye(size, dtype=hessian.dtype, device=dev)
    diagonal = xp.sum(hessian * full_eye, axis=2)
    scale = xp.mean(xp.reshape(diagonal, (n_problems, m, d)), axis=1)
    ones = xp.ones((1, m, 1, m, 1), dtype=hessian.dtype, device=dev)
    across = ones * (eye[None, :, :] * scale[:, None, :])[:, None, :, None, :]
    return hessian + xp.reshape(across, (n_problems, size, size)) / m


def _hessian_rows(xp, design, sample_weight, prob):
    """The samples (and scaled weights) the Newton Hessian is built from: at
    most ``HESSIAN_ROWS`` of the uncertain ones and ``CERTAIN_ROWS`` of the
    certain ones, each evenly spaced and weighing its stride. Two triples
    (design, weight, prob); the certain one None where no sample is certain."""
    # a sample is certain only where every problem is certain about it
    uncertain = 1 - xp.min(xp.max(prob, axis=1), axis=0) > CERTAIN
    parts = []
    for rows, most in (
        (xp.nonzero(uncertain)[0], HESSIAN_ROWS),
        (xp.nonzero(~uncertain)[0], CERTAIN_ROWS),
    ):
        stride = -(-rows.shape[0] // most)
        if stride > 1:
            rows = rows[::stride]
        parts.append(
            (
                take_last(xp, design, rows),
                max(stride, 1) * take_last(xp, sample_weight, rows),
                take_last(xp, prob, rows),
            )
        )
    return parts[0], (parts[1] if parts[1][0].shape[1] > 0 else None)


def _certain_hessian(xp, hessian, design, sample_weight, prob, m, rows):
    """``hessian`` (B, m d, m d) plus the negative Hessian's data term of
    certain samples, in place, and that term's largest block diagonal per
    coefficient row, (B, d).

    ``diag(p) - p p^T`` with ``p = e + r``, e the one-hot of the largest
    probability and ``r`` the (small) rest, is ``diag(r) - u r^T - r u^T``,
    ``u = e + r / 2``: terms of r's size, where ``diag(p) - p p^T`` as computed
    for the others cancels to rounding noise (in float32 all of it: the step
    was then 1e3 to 1e6 times too short). ``r`` of the largest probability is
    minus the sum of the others, not ``p - 1``.
    """
    d, n_samples = design.shape
    n_problems, n_columns = prob.shape[0], prob.shape[1]
    size = m * d
    dtype, dev = design.dtype, device(design)
    columns = xp.arange(n_columns, device=dev)
    one_hot = xp.astype(
        xp.argmax(prob, axis=1)[:, None, :] == columns[None, :, None], dtype
    )
    rest = prob * (1 - one_hot)
    r = rest - one_hot * xp.sum(rest, axis=1, keepdims=True)
    u = one_hot + r / 2
    blocks = xp.zeros((n_problems, m, d, d), dtype=dtype, device=dev)
    gross = xp.zeros((n_problems, m, d), dtype=dtype, device=dev)
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        part = design[:, start:stop]
        weight = sample_weight[:, None, start:stop] * r[:, :m, start:stop]
        blocks += (part[None, None, :, :] * weight[:, :, None, :]) @ part.T
        gross += xp.abs(weight) @ (part.T * part.T)
        Zu = xp.reshape(
            u[:, :m, None, start:stop] * part[None, None, :, :],
            (n_problems, size, stop - start),
        )
        Zr = xp.reshape(
            weight[:, :, None, :] * part[None, None, :, :],
            (n_problems, size, stop - start),
        )
        # one (B, m d, m d) temporary, subtracted twice: a separate Hessian and
        # cross + cross^T made the step's peak 3 to 4 Hessians, not 2
        cross = Zu @ xp.matrix_transpose(Zr)
        hessian -= cross
        hessian -= xp.matrix_transpose(cross)
        del cross, Zu, Zr
    for j in range(m):
        hessian[:, j * d : (j + 1) * d, j * d : (j + 1) * d] += blocks[:, j, ...]
    return hessian, xp.max(gross, axis=1)


def newton_cg_direction(
    xp, design, sample_weight, prob, grad, alpha, mask, max_iter, rtol=0.1, tie=None
):
    """Truncated Newton steps by conjugate gradients, for large problems: (B, d, m).

    Solves ``H v = grad`` per problem, H the negative Hessian of the centred
    objective, with at most ``max_iter`` conjugate-gradient iterations (stopping
    a problem once its residual falls below ``rtol`` times the gradient's norm),
    never forming H: each iteration is one Hessian-vector product,
    ``X~ (s p (A - sum_c p_c A_c))^T + alpha P V`` with ``A = V^T X~``, two matrix
    products of the size of a gradient. H maps centred coefficients to centred
    ones and is positive definite there, so starting from 0 with a centred
    gradient the iterates stay centred (the step the exact ``centred=True``
    Newton step approaches, Nocedal & Wright 2006, section 7.1). Any number of
    iterations gives an ascent direction; the caller's line search keeps the
    objective from decreasing.

    With ``tie``, a function that replaces the rows the B problems share by
    their means over the problems (the orthogonal projection onto coefficients
    equal there), the problems are one, of the sum of their objectives: the
    iteration is conjugate gradients on the projected Hessian over the whole
    stack, which starts in and keeps to the tied coefficients.

    Shapes as in :func:`newton_direction`.
    """

    flush = True  # on NumPy, while the products find subnormals (see below)

    def hess_vec(v):
        nonlocal flush
        if is_numpy_array(design):
            out, flush = _hess_vec_blocks(
                design, sample_weight, prob, v, alpha, mask, flush
            )
        else:
            moved = xp.matrix_transpose(v) @ design  # (B, m, n)
            mean = xp.sum(prob * moved, axis=1, keepdims=True)
            curv = sample_weight[:, None, :] * prob * (moved - mean)
            out = design @ xp.matrix_transpose(curv) + alpha * mask * v
        return out if tie is None else tie(out)

    def dot(a, b):
        per_problem = xp.sum(xp.sum(a * b, axis=2), axis=1)
        if tie is None:
            return per_problem
        return xp.broadcast_to(xp.sum(per_problem), per_problem.shape)

    if tie is not None:
        grad = tie(grad)

    step = xp.zeros_like(grad)
    residual = grad
    direction = grad
    norm2 = dot(residual, residual)
    stop = (rtol**2) * norm2
    active = norm2 > 0
    for _ in range(max_iter):
        if not bool(xp.any(active)):
            break
        curved = hess_vec(direction)
        curvature = dot(direction, curved)
        # a problem leaves once converged or (numerically) without curvature
        active = active & (curvature > 0)
        length = xp.where(active, norm2 / xp.where(active, curvature, 1.0), 0.0)
        step = step + length[:, None, None] * direction
        residual = residual - length[:, None, None] * curved
        new_norm2 = dot(residual, residual)
        beta = xp.where(active, new_norm2 / xp.where(norm2 > 0, norm2, 1.0), 0.0)
        direction = residual + beta[:, None, None] * direction
        norm2 = new_norm2
        active = active & (norm2 > stop)
    return step


def _hess_vec_blocks(design, sample_weight, prob, v, alpha, mask, flush=True):
    """``hess_vec`` on NumPy over blocks of samples of about ``HV_BLOCK_BYTES``
    per (B * m, block) array, each one 2-D matrix product per direction and
    in-place elementwise work: the (B, m, n) temporaries of the plain form
    leave the cache (1.6 to 1.9 times slower per product on digits).

    With ``flush``, the weighted curvatures below the smallest normal number
    in magnitude are set to 0 before the product that sums them: small sample
    weights times small probabilities leave such numbers (a tenth of them in
    a float32 fit to digits / 16 with 8 experts), and the product took 50
    times its time with them (17 against 0.3 ms; a float32 Hessian-vector
    product 3.6 against 0.76 ms). An entry of the product then changes by at
    most the sum of the dropped terms' contributions, n times the smallest
    normal number times the largest feature, and by its rounding (one unit
    in the last place of entries below 1e-26 in float32 fits to digits);
    other numbers are multiplied by 1, the same, and NaN stays NaN. Fits to
    digits were the same bit for bit. Where there are none (float64 fits to
    digits had none) the check costs about a tenth of a product, so
    ``newton_cg_direction`` stops flushing once a product finds none.

    Returns
    -------
    hv : ndarray of shape (B, d, m)
        The Hessian-vector products.
    flushed : bool
        Whether any nonzero number was flushed (False without ``flush``).
    """
    n_problems, m, n_samples = prob.shape
    d = design.shape[0]
    flat_v = np.ascontiguousarray(np.swapaxes(v, 1, 2)).reshape(n_problems * m, d)
    rows = max(256, HV_BLOCK_BYTES // (design.itemsize * n_problems * m))
    out = np.zeros((d, n_problems * m), dtype=design.dtype)
    tiny = np.finfo(design.dtype).tiny
    flushed = False
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        part = design[:, start:stop]
        moved = flat_v @ part  # (B m, block)
        curv = moved.reshape(n_problems, m, stop - start)
        p = prob[:, :, start:stop]
        curv *= p
        mean = np.sum(curv, axis=1, keepdims=True)
        curv -= p * mean  # p (moved - sum_c p_c moved_c)
        curv *= sample_weight[:, None, start:stop]
        if flush:  # branch-free, as exp's: multiplied by 0 or 1
            nonzero = np.count_nonzero(moved)
            np.multiply(moved, np.abs(moved) >= tiny, out=moved)
            flushed = flushed or np.count_nonzero(moved) != nonzero
        out += part @ moved.T
    hv = np.swapaxes(out.reshape(d, n_problems, m), 0, 1)
    return hv + alpha * mask * v, flushed


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
        moved = coef_times_design(xp, direction, self.design)
        self._moved = moved  # (for reach(): the gain below holds it anyway)
        slope = xp.sum(xp.sum(self.targets * moved, axis=2), axis=1)
        log_prob, coef, sample_weight = self.log_prob, self.coef, self.sample_weight
        # on NumPy every trial's logits in one (B, m, n) buffer, in which the
        # log-sum-exp works (the same numbers)
        in_place = (
            is_numpy_array(moved)
            and is_numpy_array(log_prob)
            and log_prob.shape == moved.shape
            and log_prob.dtype == moved.dtype == coef.dtype
        )
        buffer = np.empty_like(moved) if in_place else None

        def gain(t, rows=None):
            """The objectives at step lengths ``t`` (B,); with ``rows`` (a
            boolean mask, NumPy only), of those problems alone: each problem's
            arithmetic is the same either way."""
            # the penalty of every problem, on the coefficients' own layout: a
            # subset's copy is C-ordered, and its sums over the rows rounded
            # otherwise than the strided ones (other step lengths in float32)
            if self.alpha == 0:  # (0 * inf where a square overflows)
                penalty = xp.zeros_like(t)
            else:
                moved_coef = coef + t[:, None, None] * direction
                penalty = xp.sum(xp.sum(self.mask * moved_coef**2, axis=2), axis=1)
            parts = (sample_weight, slope, t, penalty)
            if rows is not None:
                parts = tuple(part[rows] for part in parts)
            weight, rise, t, penalty = parts
            if in_place and rows is None:
                logits = np.multiply(moved, t[:, None, None], out=buffer)
                logits = np.add(log_prob, logits, out=logits)
            elif in_place:
                # one problem at a time, from views: moved[rows] and
                # log_prob[rows] were copies, at the classifier fit's peak
                logits = buffer[: t.shape[0]]
                for j, b in enumerate(np.flatnonzero(rows)):
                    np.multiply(moved[b], t[j], out=logits[j])
                    np.add(log_prob[b], logits[j], out=logits[j])
            else:
                along, log_p = moved, log_prob
                if rows is not None:
                    along, log_p = along[rows], log_p[rows]
                logits = log_p + t[:, None, None] * along
            log_norm = logsumexp(xp, logits, axis=1, overwrite=in_place)
            loss = xp.sum(weight * log_norm, axis=1)
            return t * rise - (loss + 0.5 * self.alpha * penalty)

        return gain

    def _full(self, value):
        coef = self.coef
        shape = (coef.shape[0],)
        if is_numpy_array(coef):
            return np.full(shape, value, dtype=coef.dtype)
        return self.xp.full(shape, value, dtype=coef.dtype, device=device(coef))

    def reach(self):
        """The largest change of any logit of each problem at ``t = 1``, (B,):
        ``max |direction^T x~_i|`` over the samples and columns."""
        xp, moved = self.xp, self._moved
        return xp.maximum(
            xp.max(xp.max(moved, axis=2), axis=1),
            -xp.min(xp.min(moved, axis=2), axis=1),
        )

    def halving(self, direction, max_halvings, joint=False, also=(), bound=None):
        """Per problem, the first of 1, 1/2, 1/4, ... that does not decrease the
        objective; 0 where none does (that problem keeps its coefficients).
        With ``joint``, one step length for all problems, the first that does
        not decrease the sum of their objectives (for coefficients they share).
        ``also``: the caller's 0-d arrays, read on the host with the first
        trial's test (one transfer, see ``host_scalars``) into ``self.also``.

        With ``bound``, a problem whose full step is refused tries next the
        shorter of ``t = 1/2`` and the length that changes none of its logits
        by more than ``bound`` (see :meth:`reach`), then halves that: a Newton
        step far beyond any length that gains (an expert certain and wrong
        about all its samples, whose Hessian weights are 1e-17 or less, makes
        one 1e16 to 1e20 logits long) otherwise ran out of halvings and kept
        the coefficients at every EM iteration. Where the full step is taken
        nothing changes.
        """
        xp = self.xp
        gain = self._along(direction)
        # at t = 0 the log-sum-exp of the normalized log_prob is 0 (to rounding,
        # about 1e-16 per unit of weight): only the penalty is left, so the start
        # costs no pass over the data
        if self.alpha == 0:  # (0 * inf where a square overflows)
            start = self._full(0.0)
        else:
            penalty = xp.sum(xp.sum(self.mask * self.coef**2, axis=2), axis=1)
            start = -0.5 * self.alpha * penalty
        t = self._full(1.0)
        if is_numpy_array(t):
            done = np.zeros(t.shape, dtype=bool)
        else:
            done = xp.zeros(t.shape, dtype=xp.bool, device=device(t))
        # on NumPy, once some problems are done, the trials of the others alone:
        # an expert that no step improves (one that holds no data) ran all
        # MAX_HALVINGS trials over all 8 experts in 102 of 158 line searches
        # of a fit to digits (the same numbers)
        subsets = is_numpy_array(t) and not joint
        first = True
        for _ in range(max_halvings):
            if subsets and bool(xp.any(done)):
                some = gain(t, ~done)
                trial = np.full(t.shape, -np.inf, dtype=some.dtype)
                trial[~done] = some
            else:
                trial = gain(t)
            better = trial >= start  # False where NaN
            if joint:
                better = xp.broadcast_to(xp.sum(trial) >= xp.sum(start), t.shape)
            done = done | better
            finished, *values = host_scalars(xp, xp.all(done), *also)
            if also:
                self.also, also = values, ()
            if finished:
                return t
            if bound is not None and first:
                # the full step refused: the next trial moves no logit by
                # more than bound (read only here, so a full step taken costs
                # nothing and keeps its numbers)
                reach = self.reach()
                far = reach > bound
                shrunk = xp.where(far, bound / xp.where(far, reach, 1.0), 1.0)
                if joint:
                    shrunk = xp.broadcast_to(xp.min(shrunk), shrunk.shape)
                t = xp.where(done, t, xp.minimum(t / 2, shrunk))
            else:
                t = xp.where(done, t, t / 2)
            first = False
        return xp.where(done, t, xp.zeros_like(t))
