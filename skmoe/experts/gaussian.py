"""Gaussian linear experts: y | x, k ~ N(x~ . b_k, s2_k), for regression."""

from __future__ import annotations

import math

import numpy as np

from .._backend import to_numpy, widest_float
from .._math import (
    by_columns,
    device,
    diag,
    penalty_mask,
    solve_shared,
    solve_symmetric,
    tie_rows,
    weighted_grams,
    weighted_lower_quantiles,
    writable_over,
)
from ._base import Array, ExpertFamily, Params

#: The largest noise variance is this many times the floor (the estimator's floor
#: is 1e-10 times the variance of y, so the ceiling is 1e6 times it). The penalty
#: ``alpha ||b_k||^2 / s2_k`` falls as s2_k grows, and an unused expert has no
#: data to hold it: L-BFGS raised such variances to 1e141 (predictive standard
#: deviations of 1e65 on data of unit scale, 8 of 18 gradient fits).
VARIANCE_RANGE = 1e16
#: An expert has collapsed when the variance of its residuals is at most this
#: many times the floor (1e-6 times the variance of y for the estimator's) and
#: its samples hold fewer than ``COLLAPSE_ROWS`` distinct values of y per
#: parameter of its own: it then fits a few points, copies of them or one value
#: of y (a spike, as censored or zero-inflated data have) (nearly) exactly, and
#: its likelihood is bounded by the floor alone. Values closer than its
#: residuals' standard deviation over its effective number of rows count as
#: one (see :func:`few_distinct`). Many distinct values fitted that closely are
#: a regime with little or no noise, which a linear expert cannot fit by chance.
COLLAPSE_RANGE = 1e4
COLLAPSE_ROWS = 2


def _once(labels) -> np.ndarray:
    """(n,) the share of each of the n ``labels`` (values, or finite rows of
    floats) in its label's samples, 1 / its number of copies: summed under an
    expert's shares, the distinct labels among its samples, each label's
    samples counted once.

    Rows are sorted as one opaque item each, their bytes (with -0.0 made 0.0:
    equal floats, equal bytes), as ``np.unique`` sorts values, not as records,
    as ``np.unique(axis=0)`` sorts them: the same counts of finite rows in 0.09
    to 0.3 of the time (40 ms against 137 to 466 ms at 1e5 x 21,
    ``benchmarks/distinct_rows.py --collapse``)."""
    if labels.ndim == 2:
        rows = np.add(labels, 0.0, order="C")
        item = np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))
        labels = rows.view(item).ravel()
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def few_distinct(
    y, weighted_resp, close, noise, own, design=None, floor=0.0, precision=None
) -> np.ndarray:
    """Which experts, of those ``close`` to their floor (K,) bool, hold fewer
    than ``COLLAPSE_ROWS * own`` distinct values of ``y`` (host arrays): among
    the samples of positive weight, each value's samples counted once in the
    expert's responsibilities over them, at a resolution that depends on the
    expert's distinct rows of the ``design`` (p + 1, n).

    On at least ``own`` distinct design rows, values of y closer than
    ``noise[k]`` (the sd of expert k's residuals) over its effective number of
    rows N (Kish's, ``(sum_i w_i r_ik)^2 / sum_i (w_i r_ik)^2``) count as
    one. A linear expert cannot pass that close to many rows by chance, and N
    values of a continuous regime of noise sd s span several s, so they lie
    about s / N apart: at that resolution nearly all of them count, however
    small s, while a spike of one value counts once. (At the resolution s
    alone, N normal values fill about ``2 sqrt(2 log N)`` bins whatever N, 6
    at 100 rows, under the 8 of an expert on 2 features: every regime within
    the collapse range counted as collapsed, and ``n_experts="auto"`` chose 2
    of 3 regimes of means 1, 10 and 1000.)

    On fewer distinct design rows (copies in X, a binary or one-hot feature)
    the expert can pass through their means exactly, and values closer than
    ``noise[k]`` itself count as one: copies of three points with y jittered
    by 1e-4 of its sd are a collapse, a precise regime on a binary feature
    (150 values, noise 1e-3, an sd 45 times the floor's) is not. (Counting
    the design rows alone called that regime collapsed, and "auto" chose 1
    expert of 2.) Values within ``sqrt(floor)`` (the floor's sd) of each
    other count as one always: they are one value to an expert whose variance
    sits at the floor.

    ``precision`` (K, n), where given, weighs each sample in each expert
    beside its responsibility, as the M-step's least squares do (Student's
    t: ``(df + 1) / (df + d2)``, near 0 far from the expert's line): a t
    expert through a spike of equal values, its other samples far out in
    its tails, holds the spike alone. Weights above 1 (up to ``(df + 1) /
    df`` on the line) count as 1: a sample is never more than its
    responsibility. (Unclipped, at df=0.5 each value on the line counted
    3 times, and an expert through 4 points copied 15 times each, 12 of 8
    allowed, was not a collapse.)"""
    distinct = np.full(close.shape, np.inf)
    mass = weighted_resp.sum(axis=0)
    kept = mass > 0
    if precision is not None:  # (the shares' sums over the experts unchanged)
        weighted_resp = weighted_resp * np.minimum(precision, 1.0)
    share = weighted_resp[:, kept] / mass[kept]
    y = y[kept]
    once = None if design is None else _once(design[:, kept].T)
    for k in np.flatnonzero(close):
        step = noise[k]
        if once is None or float(np.sum(share[k] * once)) >= own:
            squares = float(np.sum(np.square(weighted_resp[k])))
            total = float(np.sum(weighted_resp[k]))
            step = step / max(total**2 / squares if squares > 0 else 1.0, 1.0)
        step = max(step, float(np.sqrt(floor)))
        distinct[k] = float(np.sum(share[k] * _once(np.floor(y / step))))
    return distinct < COLLAPSE_ROWS * own


def _times(a, b):
    """``a * b``, written over ``a`` where NumPy may (a temporary of the
    caller's, :func:`~skmoe._math.writable_over`): the M-step's (K, n)
    temporaries one at a time."""
    return np.multiply(a, b, out=a) if writable_over(a, b) else a * b


def _square(a):
    """``a**2``, written over ``a`` where NumPy may (as :func:`_times`)."""
    return np.square(a, out=a) if writable_over(a) else a**2


def residual_scale(dtype, y_range: float) -> float:
    """The power of two that the experts scale residuals and coefficients by
    before squaring them: 1, or for y whose range (max y - min y) exceeds
    ``2**(maxexp // 4)`` of its float ``dtype`` (4.3e9 in float32, 1.2e77 in
    float64), ``2**-(maxexp // 2 + 1)``, whose products with any finite
    number square below ``2**(maxexp - 2)``.

    An expert's slope, fitted on the rows it weighs, can predict far beyond
    y's range on rows it weighs (nearly) not at all; on y near the square root
    of the largest float their squared residuals overflowed, and an inf times a
    weight of 0 is NaN (NumPy warned; 2 of 150 float32 fits broke down).
    Powers of two scale exactly; only residuals beyond ``1 / (8 scale)`` are
    scaled (smaller ones' scaled squares were subnormal), slopes are squared
    as they are or in noise sds, and ordinary y keep 1: the same numbers, bit
    for bit, at no cost."""
    info = np.finfo(dtype)
    if not y_range > 2.0 ** (info.maxexp // 4):
        return 1.0
    return 2.0 ** -(info.maxexp // 2 + 1)


#: The median of a Gaussian's squared deviation in its variances (chi^2 with 1
#: df), ``scipy.stats.chi2(1).median()``.
CHI2_MEDIAN = 0.454936423119572


class GaussianLinearExperts(ExpertFamily):
    """K linear-Gaussian experts, each with its own noise variance or one shared.

    The M-step is exact and closed form. With the penalty
    ``(alpha / 2) * sum_k ||b_k||^2 / s2_k`` (intercepts unpenalized; a conjugate
    normal prior on the coefficients, which makes ``alpha`` independent of the scale
    of ``y``), the coefficients solve the weighted ridge normal equations

        (X~^T R_k X~ + alpha P) b_k = X~^T R_k y,

    and the variance is ``s2_k = (SSR_k + alpha ||P b_k||^2) / N_k``, the MLE when
    ``alpha = 0``, floored at ``variance_floor`` so that an expert that collapses
    onto a few points keeps a finite likelihood. With ``tied=True`` all experts
    share one variance, ``sum_k (SSR_k + alpha ||P b_k||^2) / sum_k N_k`` (the
    coefficients' equations do not involve it, so the M-step stays exact): R
    flexmix's ``varFix = TRUE``, mixtools' ``arbvar = FALSE``. Its likelihood
    stays bounded while one expert fits its samples exactly, as long as the
    others do not.

    With ``shared`` rows (R flexmix's ``FLXMRglmfix(fixed=)``), those
    coefficients are the same in every expert. The coefficients then solve the
    K weighted ridge problems jointly, at the previous iteration's variances
    (each expert's equations weighted by ``1 / s2_k``; see
    :func:`skmoe._math.solve_shared`), and the variances follow from them as
    above: two conditional maximizations (ECM), so that EM still never lowers
    its objective. The shared coefficients' penalty is counted in every
    expert's term, as if they were its own.

    Parameters: ``coef`` (n_features + 1, K), intercepts in row 0, and
    ``variance`` (K,), K equal entries when tied (so that every solver, the
    E-step and the predictions see the same layout). The target ``Y`` is
    (n_samples,).

    Parameters
    ----------
    variance_floor : float
        Smallest noise variance an expert may take; the largest is
        ``VARIANCE_RANGE`` times larger.
    tied : bool, default=False
        Whether the experts share one noise variance.
    shared : tuple of int, default=()
        Rows of the coefficients (of the design ``[1, X]^T``, so 1 or more)
        that all experts share.
    scale : float, default=1.0
        Power of two that residuals far beyond y's range are multiplied by
        before they are squared (:func:`residual_scale`).
    """

    def __init__(self, variance_floor: float, tied: bool = False, shared=(), scale=1.0):
        self.variance_floor = variance_floor
        # (a Python float: inf, not NumPy's overflow warning, for a floor of
        # y near the limit)
        self.variance_ceiling = float(variance_floor) * VARIANCE_RANGE
        self.tied = tied
        self.shared = tuple(shared)
        self.scale = scale

    def _weighted_squares(self, xp, resid, weight):
        """``sum(weight * resid**2, axis=1)`` (K,) of the (K, n) residuals (a
        temporary, written over), scaled by :func:`residual_scale`."""
        c = self.scale
        if c == 1.0:
            return xp.sum(_times(_square(resid), weight), axis=1)
        # only the residuals beyond 1 / (8 c) (2**62 in float32) scaled: the
        # squares of small ones, scaled, were subnormal (a regime of noise
        # 1e-3 beside a row of weight 1e-30 at 5e9 took a fifth of its
        # variance in float32)
        far = xp.abs(resid) > 0.125 / c
        zero = xp.zeros_like(resid)
        beyond = xp.where(far, resid * c, zero)
        near = xp.where(far, zero, resid)
        del far, zero, resid
        with np.errstate(over="ignore"):  # (a sum beyond the largest float: inf)
            beyond = xp.sum(_times(_square(beyond), weight), axis=1) / c / c
            return xp.sum(_times(_square(near), weight), axis=1) + beyond

    def _penalized_squares(self, xp, coef, mask):
        """``sum(mask * coef**2, axis=0)`` (K,) of the (d, K) coefficients (at
        scale 1; at others, see :meth:`_penalty_share`)."""
        return xp.sum(mask * coef**2, axis=0)

    def _penalty_share(self, xp, coef, alpha, mass):
        """``alpha ||b_k||^2 / mass_k`` (K,) over the slopes, as ``sum_j
        (sqrt(alpha / mass_k) b_jk)**2``: at a scale other than 1, the
        penalty's term of the variances. The slopes' squares overflowed where
        this does not (float64 y near 2**505 on a feature of sd 0.01: slopes
        of 3e154, and every variance at the ceiling; so did the intercepts'
        squares, masked out: inf times 0); scaled by the scale, the squares
        of small slopes were subnormal or 0."""
        # (mass: positive, a scalar or one per expert; alpha / mass overflowed
        # float32 at mass near its smallest normal)
        root = math.sqrt(alpha) / xp.sqrt(mass)
        with np.errstate(over="ignore"):
            return xp.sum(_square(coef[1:, ...] * root), axis=0)

    def _penalty_in_noise(self, xp, coef, variance):
        """``sum_j (b_jk / s_k)**2`` (K,) over the slopes: the penalty's
        squares in noise sds (``b**2`` overflowed where ``b**2 / s2`` does
        not); at a scale other than 1 only."""
        with np.errstate(over="ignore"):
            return xp.sum(_square(coef[1:, ...] / xp.sqrt(variance)), axis=0)

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        return {
            "coef": xp.zeros(
                (design.shape[0], n_experts), dtype=design.dtype, device=device(design)
            ),
            "variance": xp.ones(
                (n_experts,), dtype=design.dtype, device=device(design)
            ),
        }

    def means(self, xp, design: Array, params: Params) -> Array:
        """Expert means x~ . b_k as an (n_experts, n_samples) array."""
        return by_columns(xp, params["coef"].T, design)

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        variance = params["variance"][:, None]
        resid = Y[None, :] - self.means(xp, design, params)
        if self.scale == 1.0:
            # (a variance at a floor of 1e-33, where one row holds the weight,
            # puts ordinary residuals beyond float32's largest: inf, -inf below)
            with np.errstate(over="ignore"):
                squares = resid**2 / variance
        else:  # in noise sds (an overflow of their squares: inf, -inf below)
            with np.errstate(over="ignore"):
                squares = _square(resid / xp.sqrt(variance))
        return -0.5 * (math.log(2 * math.pi) + xp.log(variance) + squares)

    def m_step(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        mass = xp.sum(weighted_resp, axis=1)
        weights, params = self._precision_weights(xp, design, Y, params)
        # the least squares weigh each sample by its responsibility times its
        # precision weight (one here); the variances divide by the
        # responsibilities' sums
        fit_weight = weighted_resp if weights is None else weighted_resp * weights
        fit_mass = mass if weights is None else xp.sum(fit_weight, axis=1)
        # solve for y - ybar_k (ybar_k: the expert's weighted mean of y; the
        # intercept is free): the solve's relative jitter then acts on a small
        # intercept, not on mean(y), which it shrank by 1e-10 (0.1 at y ~ 1e9),
        # and the slopes keep their digits when |y| is large
        tiny = float(xp.finfo(design.dtype).smallest_normal)
        # (xp.maximum and xp.minimum clip here, the same numbers: array-api-compat's
        # clip took 8 to 11 us a call on NumPy, 3 per EM iteration)
        ybar = (fit_weight @ Y[:, None])[:, 0] / xp.maximum(fit_mass, tiny)
        if self._use_dual(xp, design, alpha):
            coef = self._dual_coefficients(xp, design, Y, fit_weight, ybar, alpha)
        else:
            mask = penalty_mask(xp, design)
            gram = weighted_grams(xp, design, fit_weight) + alpha * diag(xp, mask)
            centred = _times(Y[None, :] - ybar[:, None], fit_weight)
            rhs = centred @ design.T  # (K, d)
            del centred
            coef = self._coefficients(xp, gram, rhs, ybar, params)
        ssr = self._weighted_squares(xp, Y[None, :] - coef.T @ design, fit_weight)
        return {"coef": coef, "variance": self._variances(xp, ssr, mass, coef, alpha)}

    def _use_dual(self, xp, design, alpha) -> bool:
        """Whether the M-step solves for the coefficients in the kernel (dual)
        form: more features than ``DUAL_RATIO`` times the samples, a positive
        ``alpha`` (at 0 the kernel system is singular), no shared rows (their
        joint solve is the primal's), this class's ``_coefficients``, and
        no feature far larger than the others: the largest sum of squares of
        a (centred) feature at most ``DUAL_SPREAD`` times the mean of the
        other nonzero ones (or of ``n_samples * alpha``, where larger: the
        M-step's normal equations, whose weights sum to one, hold the
        features' mean squares, and a feature whose mean square is below
        ``alpha`` is held near 0 by the penalty).

        The kernel sums all the features' products, so its rounding and the
        solve's jitter (relative to its diagonal) are the largest feature's:
        one feature 1e3 times the others' scale (a Unix time stamp beside
        standardized features) drowned them, fitted values 5e-6 (float64) and
        7e-2 (float32) of their standard deviation off the exact ridge's, and
        1.2 at 1e6, where the primal's, scaled to a unit diagonal, are 6e-10
        and 4e-6 at any scale. Small features do not hurt it: the dual fitted
        within 3e-10 (float64) and 2e-6 (float32) beside a feature at 1e-4
        times the others' scale and with rare one-hot columns, where the
        primal was 4 to 49 times slower."""
        d, n_samples = design.shape
        if not (
            alpha > 0
            and d - 1 > self.DUAL_RATIO * n_samples
            and not self.shared
            and type(self)._coefficients is GaussianLinearExperts._coefficients
        ):
            return False
        features = design[1:, :]
        squares = xp.sum(features * features, axis=1)  # (d - 1,): O(n d)
        largest = float(xp.max(squares))
        n_others = int(xp.sum(xp.astype(squares > 0, xp.int64))) - 1
        others = (float(xp.sum(squares)) - largest) / max(n_others, 1)
        # (against the others' mean, not the smallest: a one-hot column of a
        # rare category or a feature of mean square 1e-4 beside standardized
        # ones sent the M-step to the primal solve, 4 to 49 times slower, and
        # no closer to the exact ridge; against n * alpha, not alpha, as the
        # normal equations hold mean squares)
        return largest <= self.DUAL_SPREAD * max(others, n_samples * alpha)

    #: The dual M-step is used above this many features per sample. Its cost
    #: is ``n^2 d + K n^3 / 3`` against the primal's ``K (n d^2 + d^3 / 3)``;
    #: one M-step with K=2 (NumPy, one thread) broke even near ``d = n``: the
    #: primal's time over the dual's 0.49, 1.05, 3.9 at d = 150, 200, 300 for
    #: n = 200, and 0.78, 1.47, 3.2 at d = 750, 1000, 1500 for n = 1000.
    DUAL_RATIO = 1.0
    #: The dual M-step is used where no feature's sum of squares is more than
    #: this many times the others' mean (its scale 10 times): one feature 10
    #: times the others' scale left the dual's fitted values within 1.2 and 3
    #: times the primal's distance to the exact ridge's (float64 and float32),
    #: 30 times 8 and 14 times off it. Standardized features keep the dual.
    DUAL_SPREAD = 100.0

    def _dual_coefficients(self, xp, design, Y, fit_weight, ybar, alpha):
        """The coefficients (d, K) of the weighted ridge problems, through the
        kernel (dual) form: for more features than samples.

        With the intercept free, expert k's slopes are those of the features
        and ``y`` centred at its weighted means, ``Zt = Z - zbar_k`` and
        ``yt = y - ybar_k``, and (the push-through identity)

            b_k = Zt^T S (S Zt Zt^T S + alpha I)^-1 S yt,  S = diag(sqrt(w_k)),

        an n x n system per expert in place of a d x d one. ``Zt Zt^T`` comes
        from the one kernel ``G = Z Z^T`` of all experts, centred algebraically,
        ``G - 1 u^T - u 1^T + c 1 1^T`` with ``u = Z zbar_k`` and ``c =
        |zbar_k|^2``. A sample of weight 0 has a zero row and column there and
        ``alpha`` on the diagonal, and a zero right-hand side, so it drops
        out. :func:`~skmoe._math.solve_symmetric`'s jitter is relative to the
        diagonal of this system (``w_i |zt_i|^2 + alpha``), so it differs from
        the primal's at the level of that jitter (1e-10 of the diagonal in
        float64). The intercept is ``ybar_k - zbar_k . b_k``.
        """
        features = design[1:, :]  # (d - 1, n): the design's row 0 is 1
        n_samples = features.shape[1]
        kernel = features.T @ features  # (n, n), once for all experts
        tiny = float(xp.finfo(design.dtype).smallest_normal)
        share = fit_weight / xp.maximum(xp.sum(fit_weight, axis=1), tiny)[:, None]
        u = share @ kernel  # (K, n): Z zbar_k (the kernel is symmetric)
        c = xp.sum(u * share, axis=1)  # (K,): |zbar_k|^2
        centred = kernel[None, ...] - u[:, :, None] - u[:, None, :]
        centred = centred + c[:, None, None]
        root = xp.sqrt(fit_weight)
        eye = xp.eye(n_samples, dtype=design.dtype, device=device(design))
        system = root[:, :, None] * centred * root[:, None, :] + alpha * eye
        del centred
        rhs = root * (Y[None, :] - ybar[:, None])
        dual = root * solve_symmetric(xp, system, rhs[:, :, None])[:, :, 0]  # (K, n)
        means = features @ share.T  # (d - 1, K): zbar_k
        # Zt^T v = Z^T v - zbar_k sum(v) (sum(v) is 0 up to rounding)
        slopes = features @ dual.T - means * xp.sum(dual, axis=1)[None, :]
        intercept = ybar - xp.sum(means * slopes, axis=0)
        return xp.concat([intercept[None, :], slopes], axis=0)

    def _precision_weights(self, xp, design, Y, params, resid=None):
        """Each sample's weight in each expert's least squares beside its
        responsibility (the expected precision of its noise in units of
        ``1 / s2_k``), (n_experts, n_samples), or None where all are one
        (Gaussian noise, here); and the parameters the M-step starts from.
        ``resid``: the residuals at ``params``, where already computed."""
        return None, params

    online = True

    def statistics(self, xp, design, Y, weighted_resp) -> Params:
        wide = widest_float(xp, design)  # float64 where the device has it
        design = xp.astype(design, wide)
        weighted_resp = xp.astype(weighted_resp, wide)
        Y = xp.astype(Y, wide)
        return {
            "weight": xp.sum(weighted_resp, axis=1),
            "gram": weighted_grams(xp, design, weighted_resp),  # (K, d, d)
            "cross": (weighted_resp * Y[None, :]) @ design.T,  # (K, d)
            "square": weighted_resp @ Y**2,
        }

    def m_step_statistics(self, xp, statistics, params, alpha, centre) -> Params:
        mass, gram = statistics["weight"], statistics["gram"]
        cross, square = statistics["cross"], statistics["square"]
        mask = penalty_mask(xp, gram[0, ...])
        tiny = float(xp.finfo(gram.dtype).smallest_normal)
        ybar = cross[:, 0] / xp.clip(mass, tiny, None)  # the design's row 0 is 1
        rhs = cross - ybar[:, None] * gram[:, :, 0]
        variance = xp.astype(params["variance"], gram.dtype)
        coef = self._coefficients(
            xp, gram + alpha * diag(xp, mask), rhs, ybar, {"variance": variance}
        )  # (d, K)
        # sum_i r_i (y_i - x_i . b)^2 from the sums: y'y - 2 b'X'y + b'X'X b
        if self.scale == 1.0:
            products = coef.T[:, None, :] * coef.T[:, :, None]
            fitted = xp.sum(gram * products, axis=(1, 2))
        else:  # b'(G b): the products of slopes overflowed (float64 y near
            # 1e153 on a feature of sd 1e-100), the fitted values' squares do not
            fitted = xp.sum(coef.T * (gram @ coef.T[:, :, None])[:, :, 0], axis=1)
        ssr = square - 2 * xp.sum(cross * coef.T, axis=1) + fitted
        variance = self._variances(xp, xp.clip(ssr, 0.0, None), mass, coef, alpha)
        coef = xp.concat([coef[:1, :] + centre, coef[1:, :]], axis=0)
        dtype = params["coef"].dtype
        return {"coef": xp.astype(coef, dtype), "variance": xp.astype(variance, dtype)}

    def _coefficients(self, xp, gram, rhs, ybar, params):
        """The coefficients (d, K) from the penalized grams, the right-hand
        sides of ``y - ybar_k`` (K, d) and the experts' weighted means of y."""
        if self.shared:  # at the variances the step starts from (ECM)
            precision = 1.0 / params["variance"]
            if self.scale != 1.0:  # relative to the largest: 1 / s2 near 1e-303
                # (y near 2**505) made the solve's absolute jitter, the
                # smallest normal, move the shared slopes by 4e-8
                precision = precision / xp.max(precision)
            coef = solve_shared(xp, gram, rhs, self.shared, precision)
        else:
            coef = solve_symmetric(xp, gram, rhs[:, :, None])[:, :, 0]
        return xp.concat([coef[:, :1] + ybar[:, None], coef[:, 1:]], axis=1).T

    def _variances(self, xp, ssr, mass, coef, alpha):
        """The noise variances from the experts' weighted squared residuals."""
        tiny = float(xp.finfo(coef.dtype).smallest_normal)
        if self.tied:  # one variance over all the experts' residuals
            total = xp.maximum(xp.sum(mass), tiny)
        if alpha > 0 and self.scale != 1.0:  # the penalty's term apart
            if self.tied:
                share = xp.sum(self._penalty_share(xp, coef, alpha, total))
                variance = (xp.sum(ssr) / total + share) * xp.ones_like(ssr)
            else:
                mass = xp.maximum(mass, tiny)
                variance = ssr / mass + self._penalty_share(xp, coef, alpha, mass)
        else:
            if alpha > 0:  # (slopes whose squares overflow are fine unpenalized)
                mask = penalty_mask(xp, coef)[:, None]
                ssr = ssr + alpha * self._penalized_squares(xp, coef, mask)
            if self.tied:
                variance = xp.sum(ssr) / total * xp.ones_like(ssr)
            else:
                variance = ssr / xp.maximum(mass, tiny)
        floored = xp.maximum(variance, float(self.variance_floor))
        # (a ceiling beyond float32's largest, of y near 1e19, overflowed its
        # cast with NumPy's warning; the finite variances lie below it anyway)
        top = float(xp.finfo(coef.dtype).max)
        return xp.minimum(floored, min(float(self.variance_ceiling), top))

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        coef, variance = params["coef"], params["variance"]
        mask = penalty_mask(xp, coef)[:, None]
        resid = Y[None, :] - coef.T @ design
        scaled = weighted_resp * resid / variance[:, None]
        weights, _ = self._precision_weights(xp, design, Y, params, resid)
        if weights is not None:  # d log p / d mu = weight * resid / s2
            scaled = scaled * weights
        grad_coef = design @ scaled.T - alpha * mask * coef / variance
        # shared rows: each of the K equal entries gets the mean of their
        # derivatives (as a tied variance's, below)
        grad_coef = tie_rows(xp, grad_coef, self.shared)
        grad_variance = 0.5 * (
            xp.sum(scaled * resid, axis=1) / variance
            - xp.sum(weighted_resp, axis=1) / variance
        )
        if alpha > 0:
            if self.scale == 1.0:
                penalized = self._penalized_squares(xp, coef, mask)
                # (divided twice where the variance's square overflows, above
                # 1e154, 1.8e19 in float32: the term was 0; NumPy warned)
                term = 0.5 * alpha * penalized
                with np.errstate(over="ignore"):
                    square = variance**2
                term = xp.where(
                    xp.isinf(square), term / variance / variance, term / square
                )
            else:  # (b / s)**2 / s2: b**2 and s2**2 overflowed
                term = 0.5 * alpha * self._penalty_in_noise(xp, coef, variance)
                term = term / variance
            grad_variance = grad_variance + term
        if self.tied:
            # each of the K equal entries gets the shared variance's derivative
            # over K: moving them together changes the objective by that
            # derivative, and equal gradients keep L-BFGS's and Adam's steps
            # (per-coordinate) equal, so the entries stay tied
            grad_variance = xp.mean(grad_variance) * xp.ones_like(grad_variance)
        return {"coef": grad_coef, "variance": grad_variance}

    def collapsed(self, xp, design, Y, weighted_resp, params: Params) -> Array:
        # the variance the residuals alone give, without the penalty's term: an
        # expert that fits its samples exactly keeps alpha ||b_k||^2 / N_k,
        # which held its variance several times above the floor (no warning
        # at the default alpha for duplicated rows that one at alpha=0 gave)
        resid = Y[None, :] - self.means(xp, design, params)
        # the residuals weighed as the M-step weighs them (Student's t: times
        # the samples' precision weights): a t expert through a spike of
        # zeros, 56% of y, its other rows far out in its df=1 tails, had a
        # scale at the floor and a likelihood without a maximum, and no
        # word (its plain residuals' mean square, 4.8, is 2e10 floors)
        precision, _ = self._precision_weights(xp, design, Y, params, resid)
        fit_weight = weighted_resp if precision is None else weighted_resp * precision
        ssr = self._weighted_squares(xp, resid, fit_weight)
        del resid, fit_weight  # (written over with its squares)
        mass = xp.sum(weighted_resp, axis=1)
        if self.tied:
            ssr, mass = xp.sum(ssr) + 0 * ssr, xp.sum(mass) + 0 * mass
        tiny = float(xp.finfo(design.dtype).smallest_normal)
        fit = ssr / xp.clip(mass, tiny, None)
        close = to_numpy(fit <= float(self.variance_floor) * COLLAPSE_RANGE)
        if not np.any(close):  # (no copy of the responsibilities to the host)
            return xp.asarray(close, device=device(design))
        noise = np.sqrt(np.maximum(to_numpy(fit), float(self.variance_floor)))
        own = self.n_own_parameters(design.shape[0] - 1)
        few = few_distinct(
            to_numpy(Y),
            to_numpy(weighted_resp),
            close,
            noise,
            own,
            to_numpy(design),
            float(self.variance_floor),
            None if precision is None else to_numpy(precision),
        )
        return xp.asarray(close & few, device=device(design))

    def target_scale(self, xp, params: Params) -> float:
        # the log-likelihood's curvature in a mean is 1 / s2_k: steps in units
        # of the noise, as on a target standardized by it (the target's own
        # standard deviation made Adam's steps too long for sharp regimes)
        c = self.scale  # (the mean of variances near the largest float: their sum)
        with np.errstate(over="ignore"):
            scale = float(xp.sqrt(xp.mean(params["variance"] * c) / c))
        return scale if math.isfinite(scale) and scale > 0 else 1.0

    def batch_noise(self, xp, design, Y, resp, weight, params, alpha, above, mean):
        # the M-step's variances at these means, where the pooled one (all
        # the experts' weighted squared residuals over their weight) exceeds
        # above^2: an expert of little weight does not judge alone. First,
        # from the log-likelihood alone: its mean is that of
        # sum_k r_k (log g_k - log r_k - (log(2 pi s2_k) + e2 / s2_k) / 2),
        # and the gate's part is at most 0, so that the mean of e2 / s2_k is
        # at most -2 mean - log(2 pi) - log(min s2), and the pooled squares
        # at most max s2 times that
        variance = params["variance"]
        low, high = float(xp.min(variance)), float(xp.max(variance))
        bound = -2.0 * mean - math.log(2 * math.pi) - math.log(low)
        if not high * bound > above**2:  # (a NaN mean: the check below)
            if math.isfinite(high * bound):
                return None
        weighted_resp = resp * weight[None, :]
        resid = Y[None, :] - self.means(xp, design, params)
        ssr = self._weighted_squares(xp, resid, weighted_resp)
        mass = xp.sum(weighted_resp, axis=1)
        if not float(xp.sum(ssr)) / float(xp.sum(mass)) > above**2:
            return None
        # and by the rows' weighted median, that of a Gaussian's squares at
        # noise `above` at least: a far row or two of a heavy tail (t with 3
        # df, in 50 rows) took a unit 8.4 where the noise was near 1.7
        resid = Y[None, :] - self.means(xp, design, params)
        with np.errstate(over="ignore"):
            rows = to_numpy(xp.sum(resp * _square(resid), axis=0))
        weights = to_numpy(weight)
        kept = weights > 0
        if not np.any(kept):
            return None
        # the lower weighted median (the rows repeated by integer weights),
        # whatever the weights' scale: a cumulative weight within rounding of
        # half the total reaches it. The rounded cumsum compared with half
        # its end took the row above the lower median for 77 of 1200 batches
        # of 50 to 249 rows of all-equal weights c (c from 1e-3 to 1e3; 180
        # of 1200 in float32), where weight 1 took the lower median
        middle = weighted_lower_quantiles(rows[kept], (0.5,), weights[kept])[0]
        if not middle > CHI2_MEDIAN * above**2:
            return None
        # their mean squared residuals, without the penalty's term of the
        # M-step's (alpha ||b_k||^2 / mass_k): the M-step solves b_k with
        # it, these means are not, and an expert without this batch's rows
        # (mass 1e-70 where the regimes came a batch each) took a variance
        # of 1.3e7 from alpha=1e-6, the unit 2090 from it, and steps that
        # took the slopes to -124 in one call (test MSE 8.7e4 for 11)
        variance = self._variances(xp, ssr, mass, params["coef"], 0.0)
        variance = xp.where(mass > 0, variance, params["variance"])
        if not bool(xp.all(xp.isfinite(variance))):
            return None
        return dict(params, variance=variance)

    def curvature_scales(self, xp, params: Params, Y: Array, weight: Array):
        # each expert's noise: one unit for all, an unused expert's noise
        # (0.31) hid the sharp ones' (7e-4), and L-BFGS stopped at R^2 0.92
        scale = np.sqrt(np.asarray(to_numpy(params["variance"]), dtype=np.float64))
        return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)

    def lower_bounds(self) -> dict[str, float]:
        return {"variance": float(self.variance_floor)}

    def upper_bounds(self) -> dict[str, float]:
        return {"variance": float(self.variance_ceiling)}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        coef = params["coef"]
        if alpha == 0:  # (0 * inf where a slope's square overflows)
            return xp.zeros((), dtype=coef.dtype, device=device(coef))
        if self.scale == 1.0:
            mask = penalty_mask(xp, coef)[:, None]
            return 0.5 * alpha * xp.sum(mask * coef**2 / params["variance"])
        squares = self._penalty_in_noise(xp, coef, params["variance"])
        return 0.5 * alpha * xp.sum(squares)

    def tie(self, xp, params: Params) -> Params:
        return dict(params, coef=tie_rows(xp, params["coef"], self.shared))

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        coef = n_experts * (n_features + 1) - (n_experts - 1) * len(self.shared)
        return coef + (1 if self.tied else n_experts)
