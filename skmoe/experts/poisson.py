"""Poisson log-linear experts: y | x, k ~ Poisson(exp(x~ . b_k)), for counts."""

from __future__ import annotations

import math

import numpy as np

from .._backend import is_numpy_array, to_numpy
from .._math import (
    by_columns,
    device,
    diag,
    penalty_mask,
    ridge_penalty,
    ridge_squares,
    solve_experts,
    tie_rows,
    weighted_grams,
)
from ._base import Array, ExpertFamily, Params
from ._newton import halving, restart
from ._point_mass import ZERO_LOG_RATE, PointMassMixin, point_mass_columns
from .gamma import shape_terms

#: Newton steps per M-step, warm-started from the previous EM iteration.
NEWTON_STEPS = 1
#: Newton steps of the first M-step, after its closed-form intercepts (the
#: optimum with all slopes at zero): there the experts' fits are nearly solved.
COLD_NEWTON_STEPS = 10
#: Smallest starting rate of an expert, relative to the weighted mean of y (an
#: expert whose samples all have y = 0 has the rate 0, at the log link's -inf).
RATE_FLOOR = 1e-10
#: Above ``log(largest float) - LINK_MARGIN`` the rate continues as its tangent
#: (see :func:`rates`), so that it stays finite where a line search probes long
#: steps.
LINK_MARGIN = 10.0


def rates(xp, eta: Array) -> tuple[Array, Array]:
    """The rates ``exp(eta)`` and their derivatives, guarded against overflow.

    Above ``m = log(largest float) - LINK_MARGIN`` (699 in float64, 78 in
    float32) the rate continues linearly, ``exp(m) (1 + eta - m)``, which keeps
    the log-likelihood finite and concave (with the slope ``exp(m)`` that pulls
    such a predictor back down) where ``exp`` would overflow. Rates that large
    never fit data: this only guards the solvers' trial steps (the posterior
    methods take ``exp(eta)``: ``ExpertFamily.exact_tails``).

    Returns
    -------
    rate : array
        The guarded rate.
    slope : array
        Its derivative in ``eta``, ``exp(min(eta, m))``; also the Newton weight.
        The same array as ``rate`` where no ``eta`` exceeds ``m`` (NumPy): not
        to be modified in place.
    """
    top = math.log(float(xp.finfo(eta.dtype).max)) - LINK_MARGIN
    if is_numpy_array(eta) and eta.size and float(np.max(eta)) <= top:
        # no rate beyond m (NaN fails the test): both are exp(eta), without
        # the continuation's three passes (a Poisson EM iteration 1.1-1.26x
        # faster; on NumPy only, where reading the largest eta costs no
        # device synchronization)
        slope = np.exp(eta)
        return slope, slope
    slope = xp.exp(xp.minimum(eta, top))
    return slope * (1.0 + xp.maximum(eta - top, 0.0)), slope


def log_likelihood(xp, eta: Array, Y: Array, exact: bool = False) -> Array:
    """Poisson log-likelihoods (K, n) of the log rates ``eta`` (K, n) for the
    counts ``Y`` of :func:`encode_counts`, each term at its own relative
    precision (see :class:`PoissonExperts`). ``exact``: the rates ``exp(eta)``
    (-inf where they overflow), not :func:`rates`' guarded ones."""
    rate = xp.exp(eta) if exact else rates(xp, eta)[0]
    y, log_y, base = (Y[i, ...][None, :] for i in range(3))
    d = eta - log_y  # log(rate / y); eta where y = 0
    top = math.log(float(xp.finfo(eta.dtype).max)) - LINK_MARGIN
    # rate - y as y expm1(d) where exp does not overflow, else as it is
    precise = (y > 0) & (d <= top) & (eta <= top)
    excess = xp.where(precise, y * xp.expm1(xp.where(precise, d, 0.0)), rate - y)
    return y * d - excess + base


def encode_counts(y, exposure=None) -> np.ndarray:
    """The target as :class:`PoissonExperts` takes it, (4, n_samples) in float64:
    ``y``, ``log(y)`` (0 where y = 0), ``y log(y) - y - log(y!)`` (by
    Stirling's formula about ``-log(2 pi y) / 2``, small where its terms are
    large) and the offset ``log(exposure)`` (0 without ``exposure``), which
    every expert's log rate adds: ``E[y | x, k] = exposure exp(x~ . b_k)``."""
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_y = np.where(y > 0, np.log(y), 0.0)
    offset = np.zeros_like(y) if exposure is None else np.log(exposure)
    # y log(y) - y - log(Gamma(y)) - log(y), the first three by Stirling's
    # series from y = 10: directly, the form lost 2.2 at y = 1e15 (and gave 0
    # at 1e16) to terms of y log(y)
    base = np.where(y > 0, shape_terms(np.where(y > 0, y, 1.0)) - log_y, 0.0)
    return np.stack([y, log_y, base, offset])


class PoissonExperts(PointMassMixin, ExpertFamily):
    """K Poisson regressions with the log link, ``E[y | x, k] = exp(x~ . b_k)``.

    Expert k's M-step is a weighted Poisson regression (sample weights
    ``weighted_resp[k]``), solved for all experts at once by Newton's method
    (iteratively reweighted least squares) with step halving, so that each step
    never decreases any expert's objective (generalized EM): one step per M-step,
    warm-started from the previous EM iteration. The first M-step, from the
    all-zero coefficients of :meth:`initial_params`, sets each intercept to the
    log of its expert's weighted mean of y (the optimum with zero slopes) and
    takes ``COLD_NEWTON_STEPS`` steps from there. The penalty is
    ``(alpha / 2) sum_k ||b_k||^2`` (intercepts free), as in scikit-learn's
    ``PoissonRegressor``.

    Parameters: ``coef`` (n_features + 1, K), intercepts in row 0. The target
    ``Y`` is (4, n_samples), from :func:`encode_counts`: the counts ``y`` (any
    non-negative numbers), ``log(y)``, ``y log(y) - y - log(y!)`` and the
    offset ``log(exposure)``, which each expert's log rate adds (R's
    ``offset()``, glum's ``offset``), so that
    log-likelihoods are those of the Poisson distribution (the log-gamma is
    computed once on the host: the Array API has none), written as
    ``y (d - expm1(d)) + y log(y) - y - log(y!)`` with ``d = log(rate / y)``:
    every term keeps its own relative precision, where ``y log(rate) - rate -
    log(y!)`` subtracts terms of 5e6 to leave about -7 at y = 4e5 (half a unit
    lost in float32, which stopped L-BFGS on rounding noise at D^2 0.90 where
    the optimum is 0.99999).

    With ``shared`` rows (R flexmix's ``FLXMRglmfix(fixed=)``), those
    coefficients are the same in every expert: each Newton step then solves
    the experts' Newton equations jointly (see
    :func:`skmoe._math.solve_shared`) and is halved as one, until the sum of
    the experts' objectives does not decrease.

    With ``zero_inflated``, the first expert of :meth:`initial_params` is a
    point mass at zero, a Poisson expert of rate 0 (R flexmix's
    ``FLXMRziglm``): its log-likelihood is 0 at a zero count and -inf
    elsewhere, and it has nothing to fit. It is the expert whose intercept is
    ``ZERO_LOG_RATE`` (with zero slopes), wherever restarts, pruning or a
    hierarchical gate's start move it; M-steps and gradients leave it as it is.

    Parameters
    ----------
    shared : tuple of int, default=()
        Rows of the coefficients (of the design ``[1, X]^T``, so 1 or more)
        that all experts share.
    zero_inflated : bool, default=False
        Whether the first expert is a point mass at zero.
    """

    #: Initial responsibility of the point mass at zero for a zero count.
    zero_start_share = 0.5

    def __init__(self, shared=(), zero_inflated=False):
        self.shared = tuple(shared)
        self._set_zero_inflated(zero_inflated)

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        shape = (design.shape[0], n_experts)
        coef = xp.zeros(shape, dtype=design.dtype, device=device(design))
        return {"coef": self._marked(xp, coef)}

    def log_rates(self, xp, design: Array, params: Params) -> Array:
        """The linear predictors ``x~ . b_k`` as an (n_experts, n_samples) array."""
        return by_columns(xp, params["coef"].T, design)

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        eta = self.log_rates(xp, design, params) + Y[3, ...][None, :]
        out = log_likelihood(xp, eta, Y, self.exact_tails)
        return self._point_mass(xp, out, Y, params)

    def _point_mass(self, xp, out, Y, params):
        """The log-likelihoods ``out`` (K, n) with the point mass's at zero
        (with ``zero_inflated``): 0 at y = 0 (computed), else -inf."""
        if not self.zero_inflated:
            return out
        zero = point_mass_columns(xp, params["coef"])[:, None]
        zero = zero & (Y[0, ...] > 0)[None, :]
        never = xp.asarray(-xp.inf, dtype=out.dtype, device=device(out))
        return xp.where(zero, never, out)

    def _objectives(self, xp, design, y, offset, weighted_resp, coef, mask, alpha):
        """Each expert's M-step objective at ``coef`` (K,), and the rates'
        derivatives there (``offset``: the samples' log exposures)."""
        eta = coef.T @ design + offset[None, :]
        rate, slope = rates(xp, eta)
        fit = xp.sum(weighted_resp * (y[None, :] * eta - rate), axis=1)
        return fit - 0.5 * alpha * ridge_squares(xp, coef, mask), slope

    def m_step(
        self,
        xp,
        design: Array,
        Y: Array,
        weighted_resp: Array,
        params: Params,
        alpha: float,
    ) -> Params:
        def fit(part, resp):
            return {"coef": self._newton(xp, design, Y, resp, part, alpha)}

        return self._fit_others(xp, params, weighted_resp, fit)

    def _newton(self, xp, design, Y, weighted_resp, params, alpha):
        """The M-step's coefficients of the experts (no point mass), by
        Newton's method on :meth:`_coefficient_objectives` with the
        derivatives of :meth:`_coefficient_derivatives`."""
        y, offset = Y[0, ...], Y[3, ...]
        mask = penalty_mask(xp, design)
        coef = params["coef"]
        n_steps = NEWTON_STEPS
        if not bool(xp.any(coef != 0)):
            coef = self._intercepts(xp, design, y, xp.exp(offset), weighted_resp)
            n_steps = COLD_NEWTON_STEPS
        penalty = alpha * diag(xp, mask)
        # one product of coefficients and design per step and per trial: the
        # accepted trial's rates give the next step's gradient and Hessian
        problem = (design, y, offset, weighted_resp)
        objectives = self._coefficient_objectives(xp, problem, params, mask, alpha)
        value, slope = objectives(coef)
        weights = xp.ones_like(value) if self.shared else None
        for _ in range(n_steps):
            # weights times squares of features beyond the floats (rates of
            # 1e12 at features of 1e150: the fit warns of their scale) give an
            # inf or NaN direction, whose trials halving refuses (and restart
            # replaces): NumPy need not warn
            with np.errstate(over="ignore", invalid="ignore"):
                score, curve = self._coefficient_derivatives(xp, y, slope, params)
                grad = design @ (weighted_resp * score).T
                grad = grad - alpha * mask[:, None] * coef  # (d, K)
                hessian = weighted_grams(xp, design, weighted_resp * curve) + penalty
                # (a NaN direction: refused by the halving)
                direction = solve_experts(
                    xp, hessian, grad, self.shared, weights, nan_ok=True
                )
            coef, value, slope, refused = halving(
                xp, objectives, coef, direction, value, slope, weights
            )
            if bool(xp.any(refused)):
                # from rates near 0 (a warm start after counts that were all
                # zero: intercepts of -36) EM stopped at D^2 -56 where a cold
                # fit had 0.20
                start = self._intercepts(xp, design, y, xp.exp(offset), weighted_resp)
                coef, value, slope = restart(
                    xp, objectives, start, coef, value, slope, refused, weights
                )
        return coef

    def _coefficient_objectives(self, xp, problem, params, mask, alpha):
        """``objectives(coef)``: each expert's M-step objective (K,) at the
        coefficients and what :meth:`_coefficient_derivatives` takes, (K, n);
        ``problem``: (design, y, offset, weighted_resp)."""

        def objectives(trial):
            return self._objectives(xp, *problem, trial, mask, alpha)

        return objectives

    def _coefficient_derivatives(self, xp, y, slope, params):
        """The objective's first and (minus) second derivatives in the log
        means (K, n), per unit weight: ``y - mu`` and ``mu`` for Poisson
        experts (``slope``: the guarded rates' derivative)."""
        return y[None, :] - slope, slope

    def _intercepts(self, xp, design, y, exposure, weighted_resp):
        """Coefficients with zero slopes and each expert's best intercept: the
        log of its counts over its exposure."""
        mass = (weighted_resp @ exposure[:, None])[:, 0]
        tiny = float(xp.finfo(design.dtype).smallest_normal)
        mean = (weighted_resp @ y[:, None])[:, 0] / xp.clip(mass, tiny, None)
        total = xp.clip(xp.sum(mass), tiny, None)
        overall = xp.sum(weighted_resp @ y[:, None]) / total
        # a count of 1 per row, in rates: at exposures of 1e200, a floor of
        # 1e-10 per unit kept negative binomial experts at means of 1e190
        unit = xp.sum(weighted_resp) / total
        floor = RATE_FLOOR * xp.maximum(overall, unit) + tiny
        intercept = xp.log(xp.maximum(mean, floor))
        slopes = xp.zeros(
            (design.shape[0] - 1, mass.shape[0]),
            dtype=design.dtype,
            device=device(design),
        )
        return xp.concat([intercept[None, :], slopes], axis=0)

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        coef = params["coef"]
        eta = self.log_rates(xp, design, params) + Y[3, ...][None, :]
        _, slope = rates(xp, eta)
        grad = design @ (weighted_resp * (Y[0, ...][None, :] - slope)).T
        grad = grad - alpha * penalty_mask(xp, coef)[:, None] * coef
        if self.zero_inflated:  # the point mass has nothing to move (0 already)
            fixed = point_mass_columns(xp, coef)[None, :]
            grad = xp.where(fixed, xp.zeros_like(grad), grad)
        # shared rows: each of the K equal entries gets the mean of their
        # derivatives, so that the solvers' steps keep them equal
        return {"coef": tie_rows(xp, grad, self.shared)}

    def curvature_scales(self, xp, params: Params, Y: Array, weight: Array):
        # a Poisson log-likelihood's curvature in a log rate is the mean
        # count, the rate (at the centred features: the intercept) times the
        # mean exposure: steps in units of 1 / sqrt(count) where the counts
        # exceed 1 (in unit steps, L-BFGS stopped at D^2 0.20 on counts near
        # 1e7, where EM reached 0.997), 1 below (the curvature only lessens)
        intercept = np.asarray(to_numpy(params["coef"][0, ...]), dtype=np.float64)
        exposure = float(xp.sum(weight * xp.exp(Y[3, ...])))
        with np.errstate(over="ignore"):
            count = np.exp(np.minimum(intercept, 700.0)) * exposure
        scale = 1.0 / np.sqrt(np.maximum(count, 1.0))
        # (a point mass: 1)
        return np.where(intercept > 0.5 * ZERO_LOG_RATE, scale, 1.0)

    def information_weights(self, xp, design: Array, Y: Array, params: Params):
        # a count's information in its log rate is its mean count
        if self.zero_inflated:
            return None
        eta = self.log_rates(xp, design, params)[0, ...] + Y[3, ...]
        with np.errstate(over="ignore"):
            return np.asarray(to_numpy(xp.exp(eta)), dtype=np.float64)

    def start_target(self, Y, sample_weight=None):
        # the rates on the scale of the log link: k-means on y itself would be
        # drawn to the largest counts. The counts at the (geometric) mean
        # exposure, so that the start does not depend on the exposures' unit
        # (per unit exposure, log1p clustered other rows in days than in
        # years: log-likelihoods of -655.2 and -696.9 from the same data)
        offset = Y[3] - np.mean(Y[3]) if Y.shape[1] else Y[3]
        with np.errstate(over="ignore", invalid="ignore"):
            target = np.log1p(Y[0] * np.exp(-offset))
        # an exposure e^-709 below their mean overflowed exp (a count of 0
        # made NaN, and k-means failed): from the logs there (Y[1] = log y)
        far = ~np.isfinite(target)
        if np.any(far):
            far_target = np.where(Y[0] > 0, np.logaddexp(0.0, Y[1] - offset), 0.0)
            target = np.where(far, far_target, target)
        return target

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        return ridge_penalty(xp, params["coef"], alpha)

    def tol_scale(self, xp, Y: Array, weight: Array) -> float:
        # a Poisson log-likelihood's curvature in the log rate is the rate: with
        # a mean count m < 1 its changes are m times smaller, and an absolute
        # tol stopped EM after 3 iterations at D^2 0.31 instead of 0.36 (m =
        # 0.005; 6 iterations instead of 211 at m = 0.21)
        mean = float(xp.sum(weight * Y[0, ...]))
        return min(1.0, mean) if mean > 0 else 1.0

    def tie(self, xp, params: Params) -> Params:
        return dict(params, coef=tie_rows(xp, params["coef"], self.shared))

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        n_poisson = n_experts - self.n_point_masses
        return n_poisson * (n_features + 1) - (n_experts - 1) * len(self.shared)
