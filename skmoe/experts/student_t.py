"""Student-t linear experts: y | x, k ~ t_df(x~ . b_k, s2_k), robust regression."""

from __future__ import annotations

import math

import numpy as np

from .._distribution import _t_log_norm
from .._math import device, weighted_lower_quantiles
from ._base import Array, Params
from .gaussian import GaussianLinearExperts, _square


class StudentTLinearExperts(GaussianLinearExperts):
    """K linear experts with Student-t noise of ``df`` degrees of freedom.

    ``p_k(y | x) = t_df((y - x~ . b_k) / s_k) / s_k``: heavier tails than the
    Gaussian's, so that a few outlying targets move an expert's line little
    (Lange, Little & Taylor 1989; for mixtures of regressions, Yao, Wei & Yu
    2014). ``s2_k`` is the squared scale, not the variance, which is
    ``s2_k df / (df - 2)`` for ``df > 2`` and infinite otherwise.

    The t is a scale mixture of Gaussians, ``y ~ N(mu_k, s2_k / u)`` with
    ``u ~ Gamma(df / 2, rate=df / 2)``, and EM over both the experts and the
    scales u (an ECM step) makes the M-step the Gaussian one with each sample
    weighted by its responsibility times its expected scale at the current
    parameters,

        u_ik = (df + 1) / (df + (y_i - x~_i . b_k)^2 / s2_k),

    which is small for a sample far from the expert's line: the weighted ridge
    normal equations give ``b_k``, and ``s2_k = (sum_i w_i r_ik u_ik
    (y_i - x~_i . b_k)^2 + alpha ||P b_k||^2) / sum_i w_i r_ik``. Each step
    maximizes the complete-data objective, so EM never lowers the observed
    (penalized) log-likelihood, as for Gaussian experts. ``df`` is fixed; the
    log-likelihoods of fits at several values compare them (a profile
    likelihood). Everything else (penalty, tied scales, shared coefficients,
    floors, the gradient's layout) is :class:`GaussianLinearExperts`', with
    ``variance`` holding the squared scales.

    Parameters
    ----------
    variance_floor : float
        Smallest squared scale an expert may take.
    df : float
        Degrees of freedom, positive (1: Cauchy noise; large: nearly Gaussian).
    tied : bool, default=False
        Whether the experts share one scale.
    shared : tuple of int, default=()
        Rows of the coefficients that all experts share.
    chosen : bool, default=False
        Whether ``df`` was chosen from the data (``df="auto"``), which
        :meth:`n_parameters` then counts.
    variance_ceiling : float, default=None
        Largest squared scale; None: ``VARIANCE_RANGE`` times the floor (the
        estimator's floor is robust to outliers, its ceiling is not).
    scale : float, default=1.0
        As :class:`GaussianLinearExperts`'s.
    """

    #: the M-step's weights change with the lines: no running sums
    online = False
    #: The first M-step weighs every sample by one (its lines are the least
    #: squares'); the next ones reweigh. From one target of 1e8 among 1000,
    #: the first step's intercept of 1e5 and squared scale of 1e13 were where
    #: Adam started, and stayed (R^2 -1.5e5 on the others, against 0.993 by
    #: EM): steps at the start's responsibilities bring the lines to the
    #: inliers first, about one decade of the outlier's pull per step. A
    #: fixed 20 steps did for a target of 1e12 but not of 1e24 among 300
    #: (Adam's slopes 49, -774, 867 for 1, -2, 0.5, "converged"); the steps
    #: now go on until the squared scales settle (``start_settled``), up to
    #: 200 (a target of 1e100 needs about 100).
    start_steps = 200
    #: Relative change of every squared scale at which the start's steps stop.
    START_RTOL = 1e-6

    #: k-means starts EM on y clipped to these (weighted) quantiles of y:
    #: heavy tails' outliers set the standard deviation by which k-means
    #: scales y, and k-means split them off (999 rows against 1). Two lines
    #: of t(1.5) noise, 1000 rows: from k-means of y the fit
    #: ended 220 to 271 nats below the one from the true labels in 3 seeds of
    #: 150 (t(1): 4 of 100), from y clipped in none. A regime of 3% of the
    #: rows 10 noise sds above the rest (t(4), k-means start only): missed in
    #: 26 seeds of 120 from y, 8 from y clipped, 16 and 20 from y winsorized
    #: at its median +- 3 and 5 MADs.
    START_QUANTILES = (0.1, 0.9)

    def start_target(self, Y, sample_weight=None):
        y = np.asarray(super().start_target(Y), dtype=np.float64)
        if y.ndim != 1 or y.shape[0] == 0:
            return y
        weight = (
            np.ones(y.shape[0])
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)
        )
        kept = weight > 0
        if not np.any(kept):
            return y
        # (the rows repeated by integer weights, whatever the weights' scale)
        low, high = weighted_lower_quantiles(
            y[kept], self.START_QUANTILES, weight[kept]
        )
        if not low < high:
            return y  # (most rows tied: nothing to clip by)
        return np.clip(y, low, high)

    def start_settled(self, xp, former: Params, params: Params) -> bool:
        before, after = former["variance"], params["variance"]
        if not bool(xp.all(xp.isfinite(before))):  # the first step's
            return False
        change = xp.abs(after - before) / xp.maximum(before, after)
        return bool(xp.all(change <= self.START_RTOL))

    def __init__(
        self,
        variance_floor: float,
        df: float,
        tied=False,
        shared=(),
        chosen=False,
        variance_ceiling=None,
        scale=1.0,
    ):
        super().__init__(variance_floor, tied=tied, shared=shared, scale=scale)
        self.df = float(df)
        self.chosen = chosen
        if variance_ceiling is not None:
            self.variance_ceiling = variance_ceiling

    def n_parameters(self, n_features: int, n_experts: int) -> int:
        # a df chosen from the data is one more (the same at every df tried)
        return super().n_parameters(n_features, n_experts) + int(self.chosen)

    def initial_params(self, xp, design: Array, Y: Array, n_experts: int) -> Params:
        # infinite scales: the first M-step weighs every sample by one (it has
        # no line yet to measure a sample's distance from)
        params = super().initial_params(xp, design, Y, n_experts)
        start = xp.full(
            (n_experts,), math.inf, dtype=design.dtype, device=device(design)
        )
        return dict(params, variance=start)

    def batch_noise(self, xp, design, Y, resp, weight, params, alpha, above, mean):
        # the squared scales are no mean of squared residuals (a heavy tail's
        # few far rows would move such a mean): the unit stays
        return None

    def log_likelihood(self, xp, design: Array, Y: Array, params: Params) -> Array:
        df = self.df
        variance = params["variance"][:, None]
        resid = Y[None, :] - self.means(xp, design, params)
        # log t_df(0), by the series from df = 100 (see _t_log_norm)
        constant = float(_t_log_norm(np.float64(df)))
        # (df times a variance beyond the largest float, df=1e300 on y of sd
        # 1e5, was inf: u 0 dropped the residuals from the likelihood, both
        # experts of two lines took one slope, log_likelihood_ 200 nats high;
        # the variances lie below the ceiling, so df alone tells)
        top = float(xp.finfo(variance.dtype).max)
        if self.scale == 1.0 and df * min(float(self.variance_ceiling), top) <= top:
            u = xp.abs(resid) / xp.sqrt(df * variance)
        else:  # (df times a variance near the largest float overflowed)
            u = xp.abs(resid) / xp.sqrt(variance) / math.sqrt(df)
        # log(1 + u^2) as 2 log u from 1e-4 of the square root of the
        # largest float (1.3e150 in float64), where u^2 overflows (a target
        # 1e155 from a line has a finite t density, of log -1786) and 1 is
        # below the rounding of u^2
        far = u > 1e-4 * math.sqrt(float(xp.finfo(u.dtype).max))
        with np.errstate(over="ignore", divide="ignore"):  # the branch not kept
            log1p_u2 = xp.where(far, 2 * xp.log(u), xp.log1p(u * u))
        return constant - 0.5 * xp.log(variance) - 0.5 * (df + 1) * log1p_u2

    def _precision_weights(self, xp, design, Y, params, resid=None):
        variance = params["variance"]
        start = ~xp.isfinite(variance)  # initial_params': all weights one
        variance = xp.where(start, xp.ones_like(variance), variance)
        params = dict(params, variance=variance)
        if resid is None:
            resid = Y[None, :] - self.means(xp, design, params)
        with np.errstate(over="ignore"):  # far samples: a weight of 0
            if self.scale == 1.0:
                weights = (self.df + 1) / (self.df + resid**2 / variance[:, None])
            else:  # in noise sds (residuals beyond the square root of the limit)
                u2 = _square(resid / xp.sqrt(variance)[:, None])
                weights = (self.df + 1) / (self.df + u2)
        weights = xp.where(start[:, None], xp.ones_like(weights), weights)
        return weights, params
