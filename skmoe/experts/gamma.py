"""Gamma log-linear experts: y | x, k ~ Gamma(mean exp(x~ . b_k), dispersion
phi_k), for positive amounts."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._backend import as_compute, to_numpy
from .._math import (
    by_columns,
    device,
    diag,
    penalty_mask,
    ridge_squares,
    solve_experts,
    tie_rows,
    weighted_grams,
    weighted_ridge,
)
from .._special import STIRLING_FROM, gamma_gap, stirling_remainder
from ._base import Array, ExpertFamily, Params, better_on_own_rows
from ._newton import halving, restart
from ._point_mass import PointMassMixin, point_mass_columns
from .gaussian import COLLAPSE_RANGE, few_distinct

#: Newton steps per M-step, warm-started from the previous EM iteration.
NEWTON_STEPS = 1
#: Newton steps of the first M-step, after its closed-form intercepts (the
#: optimum with all slopes at zero).
COLD_NEWTON_STEPS = 10
#: Largest dispersion (smallest shape, 1e-4): a Gamma of shape below that puts
#: nearly all its mass next to 0; it bounds an expert no sample supports.
DISPERSION_CEILING = 1e4
#: Largest mean excess :func:`fit_shape` solves for.
MAX_EXCESS = 1e6
#: Steps of the shape's Newton iteration (from Minka's approximation, within
#: 1.5%; each step about squares the relative error).
SHAPE_STEPS = 6
#: Above ``log(largest float) - LINK_MARGIN`` the ratio ``y / mu`` continues as
#: its tangent in ``log(y / mu)`` (see :func:`excess`).
LINK_MARGIN = 10.0


def excess(
    xp, d: Array, ratio: bool = True, exact: bool = False
) -> tuple[Array, Array | None]:
    """``expm1(d) - d`` (at least 0) and the ratio ``exp(d)``, with ``d =
    log(y / mu)``, guarded against overflow.

    A Gamma expert's log-likelihood is ``-(expm1(d) - d) / phi`` plus terms of
    the dispersion ``phi`` and of y alone: ``expm1(d) - d`` keeps its relative
    precision where ``d - exp(d)`` would subtract terms near 1. Above ``m =
    log(largest float) - LINK_MARGIN`` the ratio continues linearly, ``exp(m)
    (1 + d - m)``, which keeps the objective finite and concave where a line
    search probes a mean far below y.

    Returns
    -------
    excess : array
        ``expm1(d) - d``, guarded.
    ratio : array or None
        ``exp(min(d, m))``: ``y / mu``, the derivative of ``excess`` plus 1,
        and the Newton weight of the coefficients; None unless ``ratio``
        (the E-step needs none: one pass of ``exp`` fewer).

    ``exact``: ``expm1(d) - d`` unguarded (inf where it overflows), without
    ``ratio``.
    """
    if exact:
        return xp.expm1(d) - d, None
    top = math.log(float(xp.finfo(d.dtype).max)) - LINK_MARGIN
    below = xp.minimum(d, top)
    beyond = xp.maximum(d - top, 0.0)  # 0 but above m, where it is linear
    value = xp.expm1(below) - below + (math.exp(top) - 1.0) * beyond
    return value, (xp.exp(below) if ratio else None)


def shape_terms(shape) -> np.ndarray:
    """``nu log(nu) - nu - log(Gamma(nu))`` of the shapes ``nu`` (a NumPy array),
    in float64: the part of a Gamma log-density that depends on the shape
    alone. From ``STIRLING_FROM`` on, by Stirling's series, ``log(nu / (2
    pi)) / 2 - 1 / (12 nu) + 1 / (360 nu^3) - ...``: the direct form subtracts
    terms of ``nu log(nu)`` (1.6e8 at 1e7, with an error of 2e-8 where the
    result is 7.1)."""
    shape = np.asarray(shape, dtype=np.float64)
    large = np.maximum(shape, STIRLING_FROM)
    stirling = 0.5 * np.log(large / (2 * math.pi)) - stirling_remainder(large)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = special.xlogy(shape, shape) - shape - special.gammaln(shape)
    return np.where(shape >= STIRLING_FROM, stirling, direct)


def _shape_gaps(shape, slope=True):
    """``log(nu) - digamma(nu)`` and its derivative ``1 / nu - trigamma(nu)``
    (None without ``slope``) of a few shapes (NumPy, float64): scipy's below
    ``STIRLING_FROM``, where they do not cancel, and the series of
    :func:`~skmoe._special.gamma_gap` from there, where the direct forms cancel
    to about ``1 / (2 nu)`` (the gradient at a shape of 1e12 was 1% off).
    (``gamma_gap``'s recurrence below, made for many counts, took 1.6 ms
    where scipy takes 0.2: a Gamma EM fit 1.9 times as long.)"""
    small = shape < STIRLING_FROM
    series = not np.all(small)  # (the series' cost only where a shape needs it)
    large = np.maximum(shape, STIRLING_FROM)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gap = np.log(shape) - special.digamma(shape)
        if series:
            gap = np.where(small, gap, -gamma_gap(np, large, 1))
        if not slope:
            return gap, None
        # trigamma: the zeta(2, nu) that polygamma(1, nu) returns (times 1.0 *
        # 1.0), without its wrapper's digamma and where (6 us against 1 a
        # call, about 3000 calls a fit of 1500 x 4, 2 experts)
        direct = 1.0 / shape - special.zeta(2, shape)
    return gap, np.where(small, direct, -gamma_gap(np, large, 2)) if series else direct


def fit_shape(mean_excess) -> np.ndarray:
    """The shapes ``nu`` that solve ``log(nu) - digamma(nu) = D`` for the mean
    excesses ``D > 0`` (a NumPy array): the maximum over the shape of a Gamma
    log-likelihood whose mean excess per unit weight is ``D`` (as for the
    shape of a Gamma sample, ``log(mean(y)) - mean(log(y))``). Minka's
    approximation (within 1.5%), then his generalized Newton steps on ``1 /
    nu``. ``D`` is taken at most ``MAX_EXCESS`` (a shape of about 1e-6, below
    the smallest an expert takes)."""
    D = np.minimum(np.asarray(mean_excess, dtype=np.float64), MAX_EXCESS)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shape = (3.0 - D + np.sqrt((D - 3.0) ** 2 + 24.0 * D)) / (12.0 * D)
        for _ in range(SHAPE_STEPS):
            gap, slope = _shape_gaps(shape)
            inverse = 1.0 / shape + (gap - D) / (shape**2 * slope)
            shape = np.where(np.isfinite(inverse) & (inverse > 0), 1.0 / inverse, shape)
    return shape


def best_dispersion(mass, total, former, floor) -> np.ndarray:
    """The dispersions (K,) that maximize each expert's part of the M-step's
    objective, ``mass c(1 / phi) - total / phi`` (``c``: :func:`shape_terms`),
    for its weight ``mass`` and its weighted sum of excesses (and penalty)
    ``total`` (NumPy arrays): ``1 / fit_shape(total / mass)``, within
    ``[floor, DISPERSION_CEILING]``; the ``former`` one where the expert has
    no weight, the floor where it fits its amounts exactly."""
    tiny = np.finfo(np.float64).tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_excess = np.maximum(total, 0.0) / mass
        dispersion = 1.0 / fit_shape(mean_excess)
    dispersion = np.where(mean_excess > 0, dispersion, 0.0)  # y = mu: the floor
    dispersion = np.where(np.isnan(dispersion), DISPERSION_CEILING, dispersion)
    dispersion = np.clip(dispersion, floor, DISPERSION_CEILING)
    return np.where(mass > tiny, dispersion, former)


class GammaExperts(PointMassMixin, ExpertFamily):
    """K Gamma regressions with the log link, ``E[y | x, k] = exp(x~ . b_k)``.

    Expert k's density is that of a Gamma distribution of mean ``mu =
    exp(x~ . b_k)`` and shape ``nu_k = 1 / phi_k`` (dispersion ``phi_k``;
    variance ``phi_k mu^2``), R's ``Gamma(link = "log")`` family:

        log p_k(y | x) = -nu_k (y / mu - log(y / mu) - 1) + nu_k log(nu_k)
                         - nu_k - log(Gamma(nu_k)) - log(y).

    The penalty is ``(alpha / 2) sum_k nu_k ||b_k||^2`` (intercepts free): per
    unit of the shape, as the Gaussian experts' is per unit of the noise
    precision, so that the coefficients' M-step does not depend on the shape
    and one expert's fit is scikit-learn's ``GammaRegressor(alpha=alpha)``.
    The M-step is two conditional maximizations (ECM): the coefficients, by
    a Newton step (iteratively reweighted least squares, with step halving,
    so that it never lowers any expert's objective; ``COLD_NEWTON_STEPS``
    from the closed-form intercepts on a first M-step), then each shape,
    exactly, from ``log(nu) - digamma(nu) = D_k`` (:func:`fit_shape`), with
    ``D_k`` the expert's weighted mean of ``y / mu - log(y / mu) - 1`` plus
    its penalty: the equation of a Gamma sample's shape. The dispersion is
    kept within ``[dispersion_floor, DISPERSION_CEILING]``: an expert that
    fits its samples exactly would have an unbounded likelihood.

    Parameters: ``coef`` (n_features + 1, K), intercepts in row 0, and
    ``dispersion`` (K,). The target ``Y`` is (2, n_samples): ``y`` (positive,
    or 0 with ``zero_inflated``) and ``log(y)`` (0 where y is 0).

    With ``shared`` rows (R flexmix's ``FLXMRglmfix(fixed=)``), those
    coefficients are the same in every expert: each Newton step then solves
    the experts' equations jointly, each weighted by its shape (see
    :func:`skmoe._math.solve_shared`), and is halved as one.

    With ``zero_inflated``, the first expert of :meth:`initial_params` is a
    point mass at zero (a hurdle model's zeros): its log-likelihood is 0 at
    y = 0 and -inf elsewhere, where every Gamma expert's is -inf at y = 0, so
    that the zeros are its samples and the positive amounts the Gamma
    experts'. It is the expert of intercept ``ZERO_LOG_RATE`` with zero
    slopes (its dispersion, 1, takes no part), as the Poisson experts' point
    mass, wherever restarts or a hierarchical gate's start move it; M-steps
    and gradients leave it as it is.

    Parameters
    ----------
    dispersion_floor : float
        Smallest dispersion (largest shape ``1 / dispersion_floor``) an
        expert may take.
    shared : tuple of int, default=()
        Rows of the coefficients (of the design ``[1, X]^T``, so 1 or more)
        that all experts share.
    zero_inflated : bool, default=False
        Whether the first expert is a point mass at zero.
    """

    #: The zeros are the point mass's alone.
    zero_start_share = 1.0
    zeros_need_point_mass = True

    def __init__(self, dispersion_floor, shared=(), zero_inflated=False):
        self.dispersion_floor = float(dispersion_floor)
        self.shared = tuple(shared)
        self._set_zero_inflated(zero_inflated)

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        shape = (design.shape[0], n_experts)
        dev = device(design)
        coef = xp.zeros(shape, dtype=design.dtype, device=dev)
        return {
            "coef": self._marked(xp, coef),
            "dispersion": xp.ones(n_experts, dtype=design.dtype, device=dev),
        }

    def start_weights(self, Y, sample_weight):
        if not self.zero_inflated:
            return sample_weight
        return np.where(Y[0] > 0, sample_weight, 0.0)  # k-means on the amounts

    def _stand_in(self, xp, params: Params):
        """``params`` with the point mass's column as a Gamma expert of mean 1
        and dispersion 1, whose terms stay finite where its own mean, 0, would
        give ``y / mu = inf``; and the point mass's columns, (K,) bool on the
        parameters' device, or None without ``zero_inflated``."""
        if not self.zero_inflated:
            return params, None
        coef, dispersion = params["coef"], params["dispersion"]
        mass = point_mass_columns(xp, coef)
        coef = xp.where(mass[None, :], xp.zeros_like(coef), coef)
        dispersion = xp.where(mass, xp.ones_like(dispersion), dispersion)
        return dict(params, coef=coef, dispersion=dispersion), mass

    def log_means(self, xp, design: Array, params: Params) -> Array:
        """The linear predictors ``x~ . b_k`` as an (n_experts, n_samples) array."""
        return by_columns(xp, params["coef"].T, design)

    def _shape_terms(self, xp, dispersion):
        """The shapes and their :func:`shape_terms` in ``dispersion``'s namespace."""
        host = 1.0 / np.asarray(to_numpy(dispersion), dtype=np.float64)
        return 1.0 / dispersion, as_compute(xp, shape_terms(host), dispersion)

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        params, mass = self._stand_in(xp, params)
        d = Y[1, ...][None, :] - self.log_means(xp, design, params)
        value, _ = excess(xp, d, ratio=False, exact=self.exact_tails)
        shape, terms = self._shape_terms(xp, params["dispersion"])
        with np.errstate(over="ignore"):  # a mean far below y: density 0
            out = terms[:, None] - shape[:, None] * value - Y[1, ...][None, :]
        if mass is None:
            return out
        # the point mass: 0 at y = 0, -inf elsewhere; a Gamma: -inf at y = 0
        mass = mass[:, None]
        zero = (Y[0, ...] == 0)[None, :]
        never = xp.asarray(-xp.inf, dtype=out.dtype, device=device(out))
        return xp.where(mass == zero, xp.where(mass, xp.zeros_like(out), out), never)

    def _objectives(self, xp, design, log_y, weighted_resp, coef, mask, alpha):
        """Each expert's coefficient objective at ``coef`` (K,), per unit of its
        shape (``-sum r (expm1(d) - d) - alpha ||b||^2 / 2``), and the ratios
        ``y / mu`` there."""
        d = log_y[None, :] - coef.T @ design
        value, ratio = excess(xp, d)
        fit = -xp.sum(weighted_resp * value, axis=1)
        return fit - 0.5 * alpha * ridge_squares(xp, coef, mask), ratio

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
            return self._fit(xp, design, Y, resp, part, alpha)

        return self._fit_others(xp, params, weighted_resp, fit)

    def start_m_step(self, xp, design, Y, weighted_resp, params, alpha):
        # the M-step's experts, or regressions of log(y) where those fit
        # their own rows better (see better_on_own_rows)
        mask = penalty_mask(xp, design)

        def fit(part, resp):
            log_y = Y[1, ...]
            coef = weighted_ridge(xp, design, log_y, resp, mask, alpha, self.shared)
            value, _ = self._objectives(xp, design, log_y, resp, coef, mask, alpha)
            return {
                "coef": coef,
                "dispersion": self._dispersion(xp, resp, value, part),
            }

        def other(own):  # on the log scale, at all rows' weights (not own's)
            return self._fit_others(xp, params, weighted_resp, fit)

        def fit_of(candidate, own):  # the objective per unit shape, no penalty
            candidate, _ = self._stand_in(xp, candidate)
            coef = candidate["coef"]
            return self._objectives(xp, design, Y[1, ...], own, coef, mask, 0.0)[0]

        exact = self.m_step(xp, design, Y, weighted_resp, params, alpha)
        return better_on_own_rows(xp, fit_of, Y[0, ...], weighted_resp, exact, other)

    def _fit(self, xp, design, Y, weighted_resp, params, alpha):
        """The M-step's parameters of Gamma experts (no point mass)."""
        log_y = Y[1, ...]
        mask = penalty_mask(xp, design)
        coef = params["coef"]
        n_steps = NEWTON_STEPS
        if not bool(xp.any(coef != 0)):
            coef = self._intercepts(xp, design, Y[0, ...], weighted_resp)
            n_steps = COLD_NEWTON_STEPS
        penalty = alpha * diag(xp, mask)
        problem = (design, log_y, weighted_resp)

        def objectives(trial):
            return self._objectives(xp, *problem, trial, mask, alpha)

        value, ratio = objectives(coef)
        # the shared rows weigh each expert's equations by its shape
        weights = 1.0 / params["dispersion"] if self.shared else None
        for _ in range(n_steps):
            grad = design @ (weighted_resp * (ratio - 1.0)).T
            grad = grad - alpha * mask[:, None] * coef  # (d, K)
            hessian = weighted_grams(xp, design, weighted_resp * ratio) + penalty
            # (a NaN direction: refused by the halving)
            direction = solve_experts(
                xp, hessian, grad, self.shared, weights, nan_ok=True
            )
            coef, value, ratio, refused = halving(
                xp, objectives, coef, direction, value, ratio, weights
            )
            if bool(xp.any(refused)):
                # means far above the y (a warm start from amounts 1e9 times
                # larger: D^2 -76 where a cold fit had 0.63)
                start = self._intercepts(xp, design, Y[0, ...], weighted_resp)
                coef, value, ratio = restart(
                    xp, objectives, start, coef, value, ratio, refused, weights
                )
        return {
            "coef": coef,
            "dispersion": self._dispersion(xp, weighted_resp, value, params),
        }

    def _dispersion(self, xp, weighted_resp, value, params):
        """Each expert's best dispersion given its coefficients' objective
        ``value`` (:meth:`_objectives`); the former one where the expert has
        no weight."""
        mass = np.asarray(to_numpy(xp.sum(weighted_resp, axis=1)), dtype=np.float64)
        total = -np.asarray(to_numpy(value), dtype=np.float64)  # >= 0
        former = np.asarray(to_numpy(params["dispersion"]), dtype=np.float64)
        dispersion = best_dispersion(mass, total, former, self.dispersion_floor)
        return as_compute(xp, dispersion, params["dispersion"])

    def _intercepts(self, xp, design, y, weighted_resp):
        """Coefficients with zero slopes and each expert's best intercept: the
        log of its weighted mean of y."""
        mass = xp.sum(weighted_resp, axis=1)
        tiny = float(xp.finfo(design.dtype).smallest_normal)
        mean = (weighted_resp @ y[:, None])[:, 0] / xp.clip(mass, tiny, None)
        overall = xp.sum(weighted_resp @ y[:, None])
        intercept = xp.log(xp.where(mean > 0, mean, overall))
        slopes = xp.zeros(
            (design.shape[0] - 1, mass.shape[0]),
            dtype=design.dtype,
            device=device(design),
        )
        return xp.concat([intercept[None, :], slopes], axis=0)

    def gradient(self, xp, design, Y, weighted_resp, params, alpha) -> Params:
        params, mass = self._stand_in(xp, params)
        coef, dispersion = params["coef"], params["dispersion"]
        mask = penalty_mask(xp, coef)
        d = Y[1, ...][None, :] - self.log_means(xp, design, params)
        value, ratio = excess(xp, d)
        shape = 1.0 / dispersion
        grad = design @ (weighted_resp * (ratio - 1.0)).T
        grad = (grad - alpha * mask[:, None] * coef) * shape[None, :]
        # d/d nu of sum r (terms(nu) - nu excess) - nu alpha ||b||^2 / 2, with
        # terms'(nu) = log(nu) - digamma(nu); then d nu / d phi = -nu^2
        host = 1.0 / np.asarray(to_numpy(dispersion), dtype=np.float64)
        slope = as_compute(xp, _shape_gaps(host, slope=False)[0], dispersion)
        penalty = 0.5 * alpha * ridge_squares(xp, coef, mask)
        weight = xp.sum(weighted_resp, axis=1)
        by_shape = weight * slope - xp.sum(weighted_resp * value, axis=1) - penalty
        grad_dispersion = -(shape**2) * by_shape
        if mass is not None:  # the point mass has nothing to move
            grad = xp.where(mass[None, :], xp.zeros_like(grad), grad)
            grad_dispersion = xp.where(
                mass, xp.zeros_like(grad_dispersion), grad_dispersion
            )
        return {
            "coef": tie_rows(xp, grad, self.shared),
            "dispersion": grad_dispersion,
        }

    def curvature_scales(self, xp, params: Params, Y: Array, weight: Array):
        # the curvature in a log mean is about the shape 1 / phi: L-BFGS
        # steps in units of sqrt(phi) where the shapes exceed 1, as in units
        # of the noise for Gaussian experts (unit steps stopped at D^2 0.976
        # for shapes of 1e6, where EM reached 0.998); 1 below
        dispersion = np.asarray(to_numpy(params["dispersion"]), dtype=np.float64)
        scale = np.sqrt(np.clip(dispersion, 0.0, 1.0))
        fixed = self.point_masses(xp, params)
        if fixed is not None:
            scale = np.where(fixed, 1.0, scale)
        return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)

    def information_weights(self, xp, design: Array, Y: Array, params: Params):
        # the curvature in a log mean is the shape 1 / phi, and the penalty is
        # divided by phi too: one unit per row, as a Gaussian expert's (a ridge)
        if self.zero_inflated:
            return None
        return np.ones(design.shape[1], dtype=np.float64)

    def start_target(self, Y, sample_weight=None):
        # the amounts on the scale of the log link: k-means on y itself would
        # be drawn to the largest
        return Y[1]

    def lower_bounds(self) -> dict[str, float]:
        return {"dispersion": self.dispersion_floor}

    def collapsed(self, xp, design, Y, weighted_resp, params: Params) -> Array:
        # as GaussianLinearExperts': the dispersion the excesses alone give,
        # without the penalty's share (one expert on 3 amounts and 2 features
        # fitted them exactly and kept a dispersion of 3.4e-6, the penalty's,
        # 6e5 times its floor: no warning), near the floor, and few distinct
        # values of log y at the resolution of its noise (sqrt(phi) on log y)
        params, fixed = self._stand_in(xp, params)
        d = Y[1, ...][None, :] - self.log_means(xp, design, params)
        value, _ = excess(xp, d, ratio=False)
        total = np.asarray(to_numpy(xp.sum(weighted_resp * value, axis=1)), float)
        mass = np.asarray(to_numpy(xp.sum(weighted_resp, axis=1)), dtype=float)
        fit = best_dispersion(mass, total, np.ones_like(mass), 0.0)
        close = fit <= self.dispersion_floor * COLLAPSE_RANGE
        if fixed is not None:  # the point mass fits its zeros, as it should
            close &= ~np.asarray(to_numpy(fixed), dtype=bool)
        if not np.any(close):
            return xp.asarray(close, device=device(design))
        noise = np.sqrt(np.maximum(fit, self.dispersion_floor))
        own = self.n_own_parameters(design.shape[0] - 1)
        log_y = np.asarray(to_numpy(Y[1, ...]), dtype=float)
        few = few_distinct(
            log_y,
            to_numpy(weighted_resp),
            close,
            noise,
            own,
            to_numpy(design),
            float(self.dispersion_floor),
        )
        return xp.asarray(close & few, device=device(design))

    def upper_bounds(self) -> dict[str, float]:
        return {"dispersion": DISPERSION_CEILING}

    def penalty(self, xp, params: Params, alpha: float) -> Array:
        coef = params["coef"]
        if alpha == 0:  # (0 * inf where a square over a tiny dispersion overflows)
            return xp.zeros((), dtype=coef.dtype, device=device(coef))
        squares = ridge_squares(xp, coef)
        return 0.5 * alpha * xp.sum(squares / params["dispersion"])

    def tie(self, xp, params: Params) -> Params:
        return dict(params, coef=tie_rows(xp, params["coef"], self.shared))

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        n_gamma = n_experts - self.n_point_masses
        coefs = n_gamma * (n_features + 1) - (n_experts - 1) * len(self.shared)
        return coefs + n_gamma
