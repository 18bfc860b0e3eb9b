"""SQUAREM: squared extrapolation of EM's parameters (Varadhan & Roland 2008).

EM converges linearly, and slowly where the likelihood is flat along some
direction (overlapping experts, count mixtures). From three consecutive EM
iterates ``p0, p1 = M(p0), p2 = M(p1)``, SQUAREM steps to

    p0 + 2 s r + s^2 v,    r = p1 - p0,    v = p2 - 2 p1 + p0,

with ``s = |r| / |v|`` (its scheme S3), clipped to ``[1, step_max]``; ``s = 1``
gives ``p2`` itself. The caller takes one more EM step from there and keeps it
only if its objective is at least ``p2``'s, so the accelerated iteration stays
monotone. Nothing here knows about EM: parameters are dicts of arrays of any
Array API namespace.
"""

from __future__ import annotations

import math
from typing import Any

Params = dict[str, Any]

#: ``step_max`` grows by this factor each time the step reaches it, and shrinks
#: by it after an extrapolation that did not pay (SQUAREM's ``mstep``).
STEP_FACTOR = 4.0


def _coordinates(xp, params: tuple[Params, Params], floors) -> dict:
    """The (gate, expert) parameters as one dict, the positive ones (those of
    ``floors``, the expert family's ``lower_bounds``) as logs: an
    extrapolation in them stays positive."""
    gate_params, expert_params = params
    out = {("gate", name): value for name, value in gate_params.items()}
    for name, value in expert_params.items():
        out["expert", name] = xp.log(value) if name in floors else value
    return out


def extrapolate(xp, p0, p1, p2, floors, ceilings, step_max: float):
    """SQUAREM's point from the EM iterates ``p0``, ``p1``, ``p2`` (each a
    (gate_params, expert_params) pair), and its step ``s``.

    Returns ``(None, 1.0)`` where the step is 1 (the point is ``p2``) or the
    iterates do not move. Positive parameters (``floors``) are extrapolated in
    logs and clipped to their floors and ``ceilings``.
    """
    c0, c1, c2 = (_coordinates(xp, p, floors) for p in (p0, p1, p2))
    r = {key: c1[key] - c0[key] for key in c0}
    v = {key: c2[key] - 2 * c1[key] + c0[key] for key in c0}
    r_norm = math.sqrt(sum(float(xp.sum(d * d)) for d in r.values()))
    v_norm = math.sqrt(sum(float(xp.sum(d * d)) for d in v.values()))
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
