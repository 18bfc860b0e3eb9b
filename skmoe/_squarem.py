"""SQUAREM: squared extrapolation of EM's parameters (Varadhan & Roland 2008).

EM converges linearly, and slowly where the likelihood is flat along some
direction (overlapping experts, count mixtures). From three consecutive EM
iterates ``p0, p1 = M(p0), p2 = M(p1)``, SQUAREM steps to

    p0 + 2 s r + s^2 v,    r = p1 - p0,    v = p2 - 2 p1 + p0,

with ``s = |r| / |v|`` (its scheme S3), clipped to ``[1, step_max]``; ``s = 1``
gives ``p2`` itself. The norms are taken in units of the parameters
(:func:`coefficient_units`), so that the step, as EM, does not depend on the units of
the features or of y. The caller takes one more EM step from there and keeps it
only if its objective is at least ``p2``'s, so the accelerated iteration stays
monotone. Nothing here knows about EM: parameters are dicts of arrays of any
Array API namespace.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Params = dict[str, Any]

#: ``step_max`` grows by this factor each time the step reaches it, and shrinks
#: by it after an extrapolation that did not pay (SQUAREM's ``mstep``).
STEP_FACTOR = 4.0
#: ``step_max`` grows no further (R's SQUAREM has no bound; its square is in
#: the extrapolation, which must not overflow). The fits of
#: ``benchmarks/squarem.py`` reached 256.
MAX_STEP = 4.0**10


def coefficient_units(params: Params, rows: np.ndarray, scale: float = 1.0, skip=()):
    """The units of ``params`` (host arrays, by name, that broadcast against
    them) whose first axis holds the rows of a design matrix, of units
    ``rows`` (``EMProblem.row_units``), times ``scale``; other parameters, and
    those named in ``skip``, have unit 1 (none given)."""
    return {
        name: rows.reshape((-1,) + (1,) * (len(value.shape) - 1)) * scale
        for name, value in params.items()
        if name not in skip
        and len(value.shape) >= 1
        and value.shape[0] == rows.shape[0]
    }


def _coordinates(xp, params: tuple[Params, Params], floors) -> dict:
    """The (gate, expert) parameters as one dict, the positive ones (those of
    ``floors``, the expert family's ``lower_bounds``) as logs: an
    extrapolation in them stays positive."""
    gate_params, expert_params = params
    out = {("gate", name): value for name, value in gate_params.items()}
    for name, value in expert_params.items():
        out["expert", name] = xp.log(value) if name in floors else value
    return out


def extrapolate(xp, p0, p1, p2, floors, ceilings, step_max: float, units=None):
    """SQUAREM's point from the EM iterates ``p0``, ``p1``, ``p2`` (each a
    (gate_params, expert_params) pair), and its step ``s``.

    Returns ``(None, 1.0)`` where the step is 1 (the point is ``p2``) or the
    iterates do not move. Positive parameters (``floors``) are extrapolated in
    logs and clipped to their floors and ``ceilings``. ``units``: a (gate,
    expert) pair of dicts of arrays by name (see :func:`coefficient_units`), in which
    the step's norms are taken (absent: 1).
    """
    c0, c1, c2 = (_coordinates(xp, p, floors) for p in (p0, p1, p2))
    r = {key: c1[key] - c0[key] for key in c0}
    v = {key: c2[key] - 2 * c1[key] + c0[key] for key in c0}
    scale = {}
    for group, named in zip(("gate", "expert"), units or ({}, {}), strict=True):
        scale.update({(group, name): unit for name, unit in named.items()})

    def norm(differences):
        return math.sqrt(
            sum(
                float(xp.sum((d / scale[key]) ** 2 if key in scale else d * d))
                for key, d in differences.items()
            )
        )

    r_norm, v_norm = norm(r), norm(v)
    if not (r_norm > 0 and math.isfinite(r_norm) and math.isfinite(v_norm)):
        return None, 1.0
    step = step_max if v_norm == 0 else min(max(1.0, r_norm / v_norm), step_max)
    if step == 1.0:
        return None, 1.0
    point = {key: c0[key] + 2 * step * r[key] + step**2 * v[key] for key in c0}
    gate_params: Params = {}
    expert_params: Params = {}
    for (group, name), value in point.items():
        if group == "expert" and name in floors:
            value = xp.clip(
                xp.exp(value), min=floors[name], max=ceilings.get(name, None)
            )
        (gate_params if group == "gate" else expert_params)[name] = value
    return (gate_params, expert_params), step
