"""A zero-inflated model's point mass at zero: the first expert of a log-link
family (Poisson or Gamma experts) with a log mean of ``ZERO_LOG_RATE`` and
nothing to fit."""

from __future__ import annotations

import numpy as np

from .._backend import to_numpy
from .._math import device
from ._base import Array, Params

#: The log rate (log mean) of a zero-inflated model's point mass at zero while
#: it is fitted (its intercept; its slopes are 0): its rate ``exp`` is 0 in
#: every dtype, whatever an exposure's offset, and it stays finite, as the
#: solvers' arithmetic (penalties, packed vectors) needs. The fitted
#: attributes show -inf. An expert whose intercept is below half of it, with
#: no slopes, is that point mass (see :func:`point_mass_columns`).
ZERO_LOG_RATE = -1e5


def point_mass_columns(xp, coef: Array) -> Array:
    """Which experts (columns) of the coefficients ``coef`` (n_features + 1,
    K) are a zero-inflated model's point mass at zero, (K,) bool on
    ``coef``'s device: an intercept at most half ``ZERO_LOG_RATE`` and no
    slopes. (An expert's intercept in the features' own units can be as low,
    where a feature's values are far from 0: -1e5 at values near 2e5.)"""
    flat = xp.all(coef[1:, :] == 0, axis=0)
    return (coef[0, :] <= 0.5 * ZERO_LOG_RATE) & flat


class PointMassMixin:
    """The point mass at zero of an expert family with ``zero_inflated``: the
    first expert of :meth:`_marked` coefficients, found again by
    :func:`point_mass_columns` wherever restarts, pruning or a hierarchical
    gate's start move it. Families set ``zero_start_share``, the point mass's
    initial responsibility for a zero, and ``zeros_need_point_mass``."""

    zero_inflated = False
    zero_start_share = 1.0
    #: Whether the other experts give a zero no probability (Gamma experts),
    #: so that a model cannot do without its point mass.
    zeros_need_point_mass = False

    def _set_zero_inflated(self, zero_inflated):
        self.zero_inflated = bool(zero_inflated)
        if self.zero_inflated and self.shared:
            raise ValueError("A zero-inflated model's experts share no coefficients.")

    @property
    def n_point_masses(self) -> int:
        return int(self.zero_inflated)

    def _marked(self, xp, coef: Array) -> Array:
        """``coef`` (n_features + 1, K) with the first expert the point mass
        (intercept ``ZERO_LOG_RATE``, slopes 0) where the model is
        zero-inflated, the other experts as they are. (The intercepts' row was
        replaced: the others' intercepts set to 0, the first expert's slopes
        kept, which ``point_mass_columns`` then did not find.)"""
        if not self.zero_inflated or coef.shape[1] == 0:
            return coef
        mark = [ZERO_LOG_RATE] + [0.0] * (coef.shape[0] - 1)
        mark = xp.asarray(mark, dtype=coef.dtype, device=device(coef))
        return xp.concat([mark[:, None], coef[:, 1:]], axis=1)

    def _fit_others(self, xp, params: Params, weighted_resp: Array, fit) -> Params:
        """The M-step ``fit(params, weighted_resp)`` of the experts other than
        the point mass (on the other entries of the last axis of each
        parameter), the point mass's parameters kept as they are."""
        fixed = self.point_masses(xp, params)
        if fixed is None or not fixed.any():
            return fit(params, weighted_resp)
        on = device(weighted_resp)
        free = xp.asarray(np.flatnonzero(~fixed), device=on)
        kept = xp.asarray(np.flatnonzero(fixed), device=on)
        part = {name: xp.take(v, free, axis=v.ndim - 1) for name, v in params.items()}
        part = fit(part, xp.take(weighted_resp, free, axis=0))
        order = np.argsort(np.r_[np.flatnonzero(~fixed), np.flatnonzero(fixed)])
        order = xp.asarray(order, device=on)
        out = {}
        for name, value in params.items():
            axis = value.ndim - 1
            joined = xp.concat([part[name], xp.take(value, kept, axis=axis)], axis=axis)
            out[name] = xp.take(joined, order, axis=axis)
        return out

    def point_masses(self, xp, params: Params):
        if not self.zero_inflated:
            return None
        return np.asarray(to_numpy(point_mass_columns(xp, params["coef"])), dtype=bool)

    def start_responsibilities(self, resp, Y):
        if not self.zero_inflated:
            return resp
        zero = np.where(Y[0] == 0, self.zero_start_share, 0.0).astype(resp.dtype)
        return np.concatenate([zero[:, None], (1 - zero)[:, None] * resp], axis=1)
