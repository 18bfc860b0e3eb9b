"""Stepwise online EM: ``partial_fit`` with ``solver="em"`` (Cappé & Moulines 2009).

Where the M-step depends on the data only through sums over the samples --
linear-Gaussian experts under a constant gate (a mixture of regressions) or a
gaussian gate (the localized mixture of experts of Xu, Jordan & Hinton 1995,
which Sato & Ishii 2000 fit online as the normalized Gaussian network) -- online
EM keeps a running average of those sums (per unit weight, the families'
``statistics``) instead of the data. Each batch takes an E-step at the current
parameters, averages its statistics ``s_b`` in,

    s <- (1 - gamma) s + gamma s_b,

and takes the M-step from ``s``. The step is ``gamma = (n_b / n) ** STEP_DECAY``
for a batch of ``n_b`` rows among ``n`` seen in all (counting a fit's): ``t **
-STEP_DECAY`` for the t-th of equal batches (Cappé & Moulines ask for an exponent
in (1/2, 1]; Liang & Klein 2009 found 0.5 to 0.7 best for mini-batches), 1 for a
first batch, which then makes an EM step on its own, and small for a small batch
after a fit of many rows: ``fit`` keeps the statistics of its data at the fitted
parameters (:func:`statistics_of`), of which a converged fit is a fixed point.

No learning rate: every step is an M-step, so the noise variances, proportions
and gate densities stay valid whatever the batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import as_compute, to_numpy, widest_float
from ._em import EMProblem, FitResult, continued, e_step, objective

Array = Any

#: The step's exponent (see the module's docstring).
STEP_DECAY = 0.6
#: :func:`statistics_of` sums its statistics over blocks of this many samples:
#: each part widens its block to float64 (a float32 fit of a gaussian gate
#: copied the whole design, 0.76 of float64's peak memory where the other
#: options take 0.5).
STATISTICS_BLOCK = 2**16
#: Rows per parameter of the model from which the first batch is fitted by EM
#: (``fit``, with its restarts), not started from a random partition: from one
#: random partition of 200 rows, streams of regimes under a constant gate kept
#: a poor optimum in 2 of 4 runs (coefficients 0.3 to 1 off EM's), from a fit
#: of them in none of 8 (0.001 to 0.005 off).
FIRST_FIT_ROWS = 5
#: Rows of positive weight, as a multiple of the effective number that
#: ``FIRST_FIT_ROWS`` asks, from which the rows kept until then are fitted
#: whatever their effective number: where one row carries the weight (1e12
#: against 1 for the others), that number stays near 1 however many rows come,
#: and the rows were kept without bound (200001 rows after 200 calls of 1000,
#: each call starting the model again on all of them). Rows that carry the
#: weight in ever more rows reach ``FIRST_FIT_ROWS`` first (batches of 50 rows,
#: 5% of them weighing 1e4 and the others 1e-3: after 14 batches, 700 rows).
KEPT_ROWS_FACTOR = 100


@dataclass(frozen=True)
class OnlineState:
    """What online EM carries between ``partial_fit`` calls (on the host, so
    that a model fitted on a GPU pickles without it)."""

    #: the gate's and the experts' statistics (float64 NumPy arrays, experts on
    #: axis 0)
    gate: dict
    experts: dict
    #: the constant subtracted from y in the experts' sums of y and y^2 (the first
    #: batch's mean), which then hold the variances' digits when |y| is large
    centre: float
    #: rows of positive weight seen (a fit's, then the batches')
    rows_seen: int

    def select(self, keep) -> OnlineState:
        """The statistics of the experts ``keep``, rescaled to a unit weight."""
        total = float(np.sum(self.experts["weight"][keep])) or 1.0

        def kept(statistics):
            return {name: value[keep] / total for name, value in statistics.items()}

        return OnlineState(
            kept(self.gate), kept(self.experts), self.centre, self.rows_seen
        )


def supports(gate, experts) -> bool:
    """Whether online EM can fit these gate and expert families."""
    return bool(gate.online and experts.online)


def statistics_of(problem: EMProblem, gate_params, expert_params, centre=None):
    """The statistics of ``problem``'s data at the parameters: an OnlineState
    (``centre``: y's weighted mean if None)."""
    xp = problem.xp
    # (the E-step's log gate values, and resp once weighted, freed: the
    # (K, n) arrays held beside the blocks' statistics were a float32 fit's
    # peak memory)
    resp = e_step(problem, gate_params, expert_params)[1]
    weight = problem.normalized_weight
    weighted_resp = weight[None, :] * resp
    del resp
    Y = xp.astype(problem.Y, widest_float(xp, problem.Y))
    if centre is None:
        centre = float(xp.sum(xp.astype(weight, Y.dtype) * Y))
    gate, experts = {}, {}
    n_samples = Y.shape[-1]
    for start in range(0, n_samples, STATISTICS_BLOCK):
        # (a stop past the end is not in the Array API standard)
        rows = slice(start, min(start + STATISTICS_BLOCK, n_samples))
        block = weighted_resp[:, rows]
        parts = (
            problem.gate.statistics(xp, problem.gate_design[:, rows], block),
            problem.experts.statistics(
                xp, problem.design[:, rows], Y[..., rows] - centre, block
            ),
        )
        for total, part in zip((gate, experts), parts, strict=True):
            for name, value in part.items():
                total[name] = value if name not in total else total[name] + value
    return OnlineState(
        {name: to_numpy(value) for name, value in gate.items()},
        {name: to_numpy(value) for name, value in experts.items()},
        centre,
        int(xp.sum(xp.astype(problem.sample_weight > 0, xp.int64))),
    )


def online_em_step(problem: EMProblem, params, previous: FitResult | None = None):
    """One online EM step on the batch ``problem`` from ``params``.

    ``previous`` (a FitResult, or None on the first call) carries the
    statistics in ``solver_state`` (an OnlineState; None on the first call:
    this batch's alone) and the histories. Returns a FitResult for the new
    parameters, scored on this batch.
    """
    xp = problem.xp
    gate_params, expert_params = params
    state = None if previous is None else previous.solver_state
    batch = statistics_of(
        problem, gate_params, expert_params, None if state is None else state.centre
    )
    if state is None:
        new = batch
    else:
        step = (batch.rows_seen / (state.rows_seen + batch.rows_seen)) ** STEP_DECAY

        def blend(old, fresh):
            return {name: (1.0 - step) * old[name] + step * fresh[name] for name in old}

        new = OnlineState(
            blend(state.gate, batch.gate),
            blend(state.experts, batch.experts),
            state.centre,
            state.rows_seen + batch.rows_seen,
        )
    like = xp.astype(problem.design[:1, :1], widest_float(xp, problem.design))

    def compute(statistics):  # in the batch's namespace and device
        return {name: as_compute(xp, value, like) for name, value in statistics.items()}

    gate_params = problem.gate.m_step_statistics(xp, compute(new.gate), gate_params)
    expert_params = problem.experts.m_step_statistics(
        xp, compute(new.experts), expert_params, problem.alpha, new.centre
    )
    log_norm, _, _ = e_step(problem, gate_params, expert_params)
    scores = objective(problem, log_norm, gate_params, expert_params)
    return continued(previous, gate_params, expert_params, scores, new)
