"""Safeguarded Newton steps shared by the log-link GLM experts (Poisson, Gamma).

Each expert's M-step objective is concave in its coefficients; a Newton step is
halved until it does not lower that objective (generalized EM), and an expert
whose every halving is refused is started again from its best intercepts where
they do better.
"""

from __future__ import annotations

import numpy as np

#: Step-length search limit: down to 2**-60 of the Newton step. Beside one
#: amount 1e10 times the others, every other row's Newton weight (y / mu) was
#: about 1e-8 at the intercept start: the step was some 1e7 long, 20 halvings
#: (1e-6) refused it all, and one Gamma expert at alpha=0 stopped at the
#: intercepts, "converged" (D^2 0, GammaRegressor's 0.498). Normal fits take
#: as many trials as with 20 (the same 204 for 52 Gamma iterations, 227 for 24
#: Poisson ones, 5000 rows): only refused steps go on halving.
MAX_HALVINGS = 60


def halving(xp, objectives, coef, direction, value, aux, weights=None):
    """Each expert's step ``t_k direction_k``, halved until its objective does
    not decrease (``t_k = 0`` if it still does after ``MAX_HALVINGS``).

    ``objectives(coef)`` gives each expert's objective (K,) and the
    per-sample quantities (K, n) the next step needs (``value`` and ``aux``:
    at ``coef``). ``weights`` (K,), for experts that share coefficient rows:
    one step for all, halved until the weighted sum of the objectives does
    not decrease.

    Returns
    -------
    coef, value, aux
        The coefficients after the step, their objectives and quantities.
    refused : array of bool (K,)
        The experts whose every trial was refused.
    """
    step = xp.ones_like(value)
    for _ in range(MAX_HALVINGS + 1):
        trial = coef + step[None, :] * direction
        # a long step may overflow: it is refused below, so NumPy need not warn
        with np.errstate(over="ignore", invalid="ignore"):
            trial_value, trial_aux = objectives(trial)
        accepted = trial_value >= value  # False where NaN
        if weights is not None:  # one step for all: the shared rows move as one
            joint = xp.sum(weights * trial_value) >= xp.sum(weights * value)
            accepted = xp.broadcast_to(joint, accepted.shape)
        if bool(xp.all(accepted)):
            return trial, trial_value, trial_aux, ~accepted
        step = xp.where(accepted, step, 0.5 * step)
    # the experts whose last trial was refused keep their coefficients (their
    # step is 0), those of an accepted one take it
    return (
        xp.where(accepted[None, :], trial, coef),  # (d, K)
        xp.where(accepted, trial_value, value),
        xp.where(accepted[:, None], trial_aux, aux),  # (K, n)
        ~accepted,
    )


def restart(xp, objectives, start, coef, value, aux, refused, weights=None):
    """The experts of ``refused`` started again from the coefficients ``start``
    (their best intercepts) where those do better (with ``weights``: all of
    them, where all were refused and the weighted sum does better); the
    coefficients, objectives and quantities of :func:`halving`. Where a
    Newton step's weights vanish (a mean far from every y), the step is some
    1e13 long and every halving is refused: without this, EM stopped there."""
    with np.errstate(over="ignore", invalid="ignore"):
        start_value, start_aux = objectives(start)
    better = refused & (start_value > value)  # False where NaN
    if weights is not None:  # the experts move as one
        joint = xp.all(refused) & (
            xp.sum(weights * start_value) > xp.sum(weights * value)
        )
        better = xp.broadcast_to(joint, better.shape)
    return (
        xp.where(better[None, :], start, coef),
        xp.where(better, start_value, value),
        xp.where(better[:, None], start_aux, aux),
    )
