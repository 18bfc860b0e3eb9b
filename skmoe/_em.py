"""Pure EM for mixtures of experts: E-step, M-step and the iteration loop.

Nothing here knows about estimators: the inputs are arrays of any Array API
namespace plus a gate and an expert family; the output is a :class:`FitResult`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np

from . import _fused
from ._backend import (
    array_namespace,
    host_scalars,
    is_numpy_array,
    to_numpy,
    widest_float,
)
from ._groups import Groups, mix
from ._math import device, writable_over
from ._sparse import is_sparse, top_k_mask
from ._squarem import MAX_STEP, STEP_FACTOR, extrapolate
from .experts import ExpertFamily
from .gates import GateFamily

Array = Any
Params = dict[str, Array]

#: (K, n) elements per block of samples in a NumPy E-step: the E-step's several
#: passes then run over cache-sized temporaries instead of full-length ones.
E_STEP_BLOCK = 2**17
#: Gate steps in the first M-step, which starts from a uniform gate (later M-steps
#: take the gate family's own default, warm-started).
INITIAL_GATE_STEPS = 5


@dataclass(frozen=True)
class EMProblem:
    """Immutable solver inputs.

    Attributes
    ----------
    design : array of shape (n_features + 1, n_samples)
        The transposed design matrix ``[1, X]^T`` (see ``_math.design_matrix``).
    Y : array
        The target as the expert family expects it (samples on the last axis).
    sample_weight : array of shape (n_samples,)
        Non-negative weights with a positive sum (not normalized).
    gate, experts : GateFamily, ExpertFamily
    alpha : float
        L2 penalty per sample.
    top_k : int or None
        Sparse gating: each sample mixes only its ``top_k`` largest gate values,
        renormalized (``None``: all experts).
    own_gate_design : array of shape (n_gate_features + 1, n_samples) or None
        The gate's own design matrix, where the gate sees other features than
        the experts (``gate_features``); None: the gate uses ``design`` too.
    groups : Groups or None
        Repeated measurements: the rows of a group share one expert (see
        ``_groups``); the weights must then be constant within each group.
    """

    design: Array
    Y: Array
    sample_weight: Array
    gate: GateFamily
    experts: ExpertFamily
    alpha: float
    top_k: int | None = None
    own_gate_design: Array | None = None
    groups: Groups | None = None

    @property
    def xp(self):
        return array_namespace(self.design)

    @property
    def gate_design(self) -> Array:
        """The design matrix the gate sees (``design`` unless it has its own)."""
        return self.design if self.own_gate_design is None else self.own_gate_design

    # the weights are computed once per problem (its arrays are not modified
    # in place): an EM iteration read them several times, a sum and a
    # division each

    @cached_property
    def normalized_weight(self) -> Array:
        return self.sample_weight / self.xp.sum(self.sample_weight)

    @cached_property
    def total_weight(self) -> float:
        """The sum of ``sample_weight`` (read once per problem)."""
        return float(self.xp.sum(self.sample_weight))

    @cached_property
    def gate_weight(self) -> Array:
        """The weights of the gate's terms: ``normalized_weight``, divided by
        the size of each row's group with ``groups`` (the gate sees a group
        once)."""
        weight = self.normalized_weight
        if self.groups is None:
            return weight
        return weight * self.groups.share(self.xp, weight)

    @cached_property
    def gate_fit_weight(self) -> Array:
        """The weights the gate's ``prepare`` and M-step see: ``gate_weight``,
        divided by its sum with ``groups`` for a gate that models x (its
        proportions, a density's weights, must sum to one; a sum off one by
        less than its rounding allows, 20000 groups over 20001 rows in
        float32, left them summing to 1 - 5e-5). A penalized gate's M-step
        weighs its data against ``alpha`` per row, and keeps ``gate_weight``."""
        weight = self.gate_weight
        if self.groups is None or not self.gate.models_inputs:
            return weight
        return weight / self.xp.sum(weight)

    def row_spreads(self, design: Array) -> np.ndarray:
        """The weighted variance of each row of ``design`` (host float64)."""
        xp, weight = self.xp, self.normalized_weight
        mean = xp.sum(weight[None, :] * design, axis=1)
        spread = xp.sum(weight[None, :] * (design - mean[:, None]) ** 2, axis=1)
        return to_numpy(spread).astype(np.float64)

    def row_units(self, design: Array, alpha: float | None = None) -> np.ndarray:
        """``1 / sqrt(std_j^2 + alpha)`` for each row j of ``design``, 1 for
        the intercept and for a row without spread: the unit of a coefficient
        of the row, in which the solvers step (see
        ``_gradient.parameter_units``) and SQUAREM measures its steps
        (``alpha``: the problem's by default)."""
        alpha = self.alpha if alpha is None else alpha
        spread = self.row_spreads(design)
        units = np.ones_like(spread)
        usable = np.isfinite(spread) & (spread > 0)
        units[usable] = 1.0 / np.sqrt(spread[usable] + alpha)
        units[0] = 1.0  # the intercept
        return units


@dataclass
class FitResult:
    """The outcome of one EM run."""

    gate_params: Params
    expert_params: Params
    log_likelihood: float
    objective: float
    log_likelihood_history: list[float] = field(default_factory=list)
    objective_history: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    #: What a solver needs to continue (the SGD solver's Adam state), or None.
    solver_state: Any = None
    #: Why the run stopped without converging, when the solver knows better than
    #: "max_iter reached" (the estimator's ConvergenceWarning quotes it).
    message: str = ""


def continued(previous, gate_params, expert_params, scores, solver_state):
    """The FitResult of one more ``partial_fit`` call after ``previous`` (None
    on the first): its histories extended by ``scores``, (log-likelihood,
    objective), in place, and one more iteration. In place: copies of the
    histories at every call made a stream of many calls quadratic (30 ms a
    call after 1e6 calls, 2.4 ms at the start); the estimator takes them back
    to their length if the call fails."""
    total, penalized = scores
    history = (
        ([], [])
        if previous is None
        else (
            previous.log_likelihood_history,
            previous.objective_history,
        )
    )
    history[0].append(total)
    history[1].append(penalized)
    return FitResult(
        gate_params,
        expert_params,
        total,
        penalized,
        history[0],
        history[1],
        (0 if previous is None else previous.n_iter) + 1,
        False,
        solver_state=solver_state,
    )


def e_step(
    problem: EMProblem,
    gate_params: Params,
    expert_params: Params,
    with_marginal: bool = False,
    out: tuple | None = None,
):
    """Responsibilities in log space.

    Returns
    -------
    log_norm : array of shape (n_samples,)
        log p(y_i | x_i), the per-sample log-likelihood.
    resp : array of shape (n_experts, n_samples)
        Responsibilities r_ki; each column sums to one.
    log_gate : array of shape (n_experts, n_samples)
        log g_k(x_i), reused by the gate M-step.
    log_marginal : array of shape (n_samples,)
        Only with ``with_marginal`` (for a gate that models x, whose
        ``GateFamily.models_inputs`` is true): log p(x_i), for :func:`objective`.

    With ``problem.top_k`` the E-step is truncated: the mixture uses the
    renormalized top-k gate, so responsibilities outside each sample's top k gate
    values are exactly 0; ``log_gate`` stays the dense gate, which the gate
    M-step fits to these sparse targets.

    ``out``: arrays that ``resp`` and ``log_gate`` may be written into (an
    earlier E-step's, no longer needed), as NumPy's E-step in blocks of
    samples does where their shape and dtype fit: EM's iterations then
    reuse two (K, n) arrays instead of allocating them anew (the same
    numbers). Other paths leave them alone.

    On CuPy, with the experimental switch ``_backend.FUSED_E_STEP`` (or
    ``SKMOE_FUSED_E_STEP=1``) on, a softmax gate's and Gaussian linear
    experts' E-step runs as two products and one fused kernel
    (``_fused.applies`` says when); other E-steps are unchanged.
    """
    if _fused.applies(problem, gate_params, expert_params, with_marginal):
        return _fused.e_step(problem, gate_params, expert_params)
    design, gate_design, Y = problem.design, problem.gate_design, problem.Y
    n_samples = design.shape[1]
    n_experts = gate_params["coef"].shape[-1]
    block = max(1024, E_STEP_BLOCK // max(n_experts, 1))
    if not is_numpy_array(design) or n_samples <= block or problem.groups is not None:
        # (a group's rows may fall in different blocks: one block for groups)
        return _e_step_block(
            problem, gate_design, design, Y, gate_params, expert_params, with_marginal
        )
    # each block written into the outputs: a list of blocks joined at the end
    # held the outputs twice (4.1 against 2.1 (K, n) arrays at 1e6 x 8, K=16)
    whole_parts = None
    for start in range(0, n_samples, block):
        parts = _e_step_block(
            problem,
            gate_design[:, start : start + block],
            design[:, start : start + block],
            Y[..., start : start + block],
            gate_params,
            expert_params,
            with_marginal,
        )
        if whole_parts is None:  # (log_norm, resp, log_gate[, log_marginal])
            spares = (None, *(out or (None, None)), None)
            whole_parts = tuple(
                _output(part, n_samples, spare)
                for part, spare in zip(parts, spares[: len(parts)], strict=True)
            )
        for whole, part in zip(whole_parts, parts, strict=True):
            whole[..., start : start + part.shape[-1]] = part
    return whole_parts


def _output(part, n_samples, reuse=None):
    """The array of all samples that :func:`e_step`'s blocks of ``part``
    fill: ``reuse`` where it has that shape and dtype (a NumPy array that
    owns its C-ordered data), else a new one."""
    shape = part.shape[:-1] + (n_samples,)
    if (
        isinstance(reuse, np.ndarray)
        and reuse.shape == shape
        and reuse.dtype == part.dtype
        and reuse.flags.c_contiguous
        and reuse.flags.owndata
        and reuse.flags.writeable
    ):
        return reuse
    return np.empty(shape, dtype=part.dtype)


def _e_step_block(
    problem, gate_design, design, Y, gate_params, expert_params, with_marginal=False
):
    """:func:`e_step` on the samples (columns) of the designs and ``Y``."""
    xp = problem.xp
    if with_marginal:
        log_gate, log_marginal = problem.gate.log_gate_and_marginal(
            xp, gate_design, gate_params
        )
    else:
        log_gate = problem.gate.log_gate(xp, gate_design, gate_params)
    log_mix = log_gate
    if is_sparse(problem.top_k, log_gate.shape[0]):
        log_mix = problem.gate.truncate(xp, log_gate, problem.top_k)
    log_p = problem.experts.log_likelihood(xp, design, Y, expert_params)
    log_norm, resp = mix(xp, log_mix, log_p, problem.groups)
    if with_marginal:
        return log_norm, resp, log_gate, log_marginal
    return log_norm, resp, log_gate


def m_step(
    problem: EMProblem,
    resp: Array,
    log_gate: Array | None,
    gate_params: Params,
    expert_params: Params,
    prepared: Any,
    gate_steps: int | None = None,
    overwrite: bool = False,
    tight: bool = False,
    start: bool = False,
):
    """One generalized M-step for the gate and the experts.

    ``log_gate``: the gate at ``gate_params``, or None to evaluate it here,
    as the gate's M-step's argument alone (CPython 3.11+ moves a call's
    arguments into the callee's frame): a gate M-step of several steps then
    frees it at its second, where the caller's array stayed to the end (the
    start's five steps held one (K, n) array more).
    With ``overwrite`` (NumPy, without ``groups``), the weighted
    responsibilities are written over ``resp``, which the caller must not
    read again: one (K, n) array fewer at the M-step (the same numbers).
    With ``tight``, a gate whose steps are truncated (``GateFamily.truncated``)
    takes a tight M-step (see ``run_em``).
    With ``start``, the experts take their start's M-step
    (``ExpertFamily.start_m_step``; see ``initial_params``).
    """
    xp = problem.xp
    weight = problem.normalized_weight[None, :]
    if overwrite and problem.groups is None and writable_over(resp, weight):
        weighted_resp = np.multiply(weight, resp, out=resp)
    else:
        weighted_resp = weight * resp
    gate_resp = weighted_resp  # the gate sees a group once (1 / n_g a row)
    if problem.groups is not None:
        gate_resp = problem.gate_fit_weight[None, :] * resp
    gate_params = problem.gate.m_step(
        xp,
        problem.gate_design,
        gate_resp,
        (
            problem.gate.log_gate(xp, problem.gate_design, gate_params)
            if log_gate is None
            else log_gate
        ),
        gate_params,
        problem.alpha,
        prepared,
        n_steps=gate_steps,
        tight=tight,
    )
    experts_m_step = problem.experts.start_m_step if start else problem.experts.m_step
    expert_params = experts_m_step(
        xp, problem.design, problem.Y, weighted_resp, expert_params, problem.alpha
    )
    return gate_params, expert_params


def objective(
    problem: EMProblem, log_norm: Array, gate_params, expert_params, log_marginal=None
):
    """Total weighted log-likelihood and per-sample penalized objective (floats).

    The log-likelihood is the conditional one, of y given x; the objective adds
    ``log p(x)`` for a gate that models x (``GateFamily.log_marginal``), as EM
    then maximizes the joint likelihood (``log_marginal``: the E-step's, or
    None to evaluate it here).
    """
    xp = problem.xp
    # summed in float64: a float32 mean of -8e3 (Poisson counts of 1e5) moves
    # in steps of 6e-8 of itself, and L-BFGS, which stops at a relative gain of
    # 1e-8, took a step that it could not see for convergence (D^2 0.90, not
    # 0.99999, on 5 of 8 seeds; 2 now); a gaussian gate's log p(x) too
    wide = widest_float(xp, log_norm)
    per_sample = xp.sum(problem.normalized_weight * log_norm, dtype=wide)
    penalized = (
        per_sample
        - problem.gate.penalty(xp, gate_params, problem.alpha)
        - problem.experts.penalty(xp, expert_params, problem.alpha)
    )
    if log_marginal is None:  # E-step's, where it computed it
        log_marginal = problem.gate.log_marginal(xp, problem.gate_design, gate_params)
    if log_marginal is not None:  # a gate that models x: the joint likelihood
        weighted = problem.gate_weight * log_marginal
        penalized = penalized + xp.sum(weighted, dtype=wide)
    # one transfer (a GPU fit reads one set of numbers per EM iteration)
    per_sample, penalized = host_scalars(xp, per_sample, penalized)
    return per_sample * problem.total_weight, penalized


def expert_usage(problem: EMProblem, gate_params: Params, expert_params: Params):
    """Share of the (weighted) data each expert handles: mean responsibility (K,)."""
    _, resp, _ = e_step(problem, gate_params, expert_params)
    return problem.xp.sum(problem.normalized_weight[None, :] * resp, axis=1)


def drop_expert(problem: EMProblem, gate_params, expert_params, index: int):
    """Gate and expert parameters without expert ``index``.

    Dropping a softmax (or constant) gate's column renormalizes the others:
    ``g_j / (1 - g_index)``, the gate conditioned on "not expert ``index``".
    """
    xp = problem.xp
    n_experts = gate_params["coef"].shape[1]
    keep = [k for k in range(n_experts) if k != index]
    keep = xp.asarray(keep, device=device(gate_params["coef"]))
    return (
        problem.gate.select(xp, gate_params, keep),
        problem.experts.select(xp, expert_params, keep),
    )


def prune_smallest(problem, gate_params, expert_params, resp, threshold: float):
    """Drop the least used expert if its share is below ``threshold`` (else None).

    One expert at a time (flexmix's ``minprior`` drops all at once, which with
    many experts of similar small shares removes too many): the others absorb its
    share before the next check. The last expert is never dropped. With groups
    the share is of the groups, each counted once (the constant gate's mixing
    proportion, flexmix's ``prior``): by rows, a class of single-row subjects
    beside subjects of 20 rows held 0.045 of the rows and 0.48 of the groups.
    """
    if threshold <= 0 or resp.shape[0] <= 1:
        return None
    xp = problem.xp
    weight = problem.gate_weight  # normalized_weight without groups
    usage = xp.sum(weight[None, :] * resp, axis=1) / xp.sum(weight)
    index = int(xp.argmax(-usage))
    if not float(usage[index]) < threshold:
        return None
    return drop_expert(problem, gate_params, expert_params, index)


def initial_params(
    problem: EMProblem, resp: Array, prepared: Any = None, overwrite: bool = False
):
    """Gate and expert parameters from initial responsibilities: one M-step
    (``overwrite``: as :func:`m_step`'s, where the experts take no further
    start steps)."""
    xp = problem.xp
    design, gate_design = problem.design, problem.gate_design
    if prepared is None:
        prepared = problem.gate.prepare(
            xp, gate_design, problem.gate_fit_weight, problem.alpha
        )
    n_experts = resp.shape[0]
    gate_params = problem.gate.initial_params(xp, gate_design, n_experts)
    expert_params = problem.experts.initial_params(xp, design, problem.Y, n_experts)
    gate_params, expert_params = m_step(
        problem,
        resp,
        None,  # the gate at its start, evaluated where its M-step can free it
        gate_params,
        expert_params,
        prepared,
        gate_steps=INITIAL_GATE_STEPS,
        overwrite=overwrite and problem.experts.start_steps <= 1,
        start=True,
    )
    if problem.experts.start_steps <= 1:
        return gate_params, expert_params
    weighted_resp = problem.normalized_weight[None, :] * resp
    for _ in range(problem.experts.start_steps - 1):  # see ExpertFamily
        former = expert_params
        expert_params = problem.experts.m_step(
            xp, design, problem.Y, weighted_resp, expert_params, problem.alpha
        )
        if problem.experts.start_settled(xp, former, expert_params):
            break
    return gate_params, expert_params


#: EM stops only once the changes of SETTLE iterations in a row did not grow. A
#: change that grows is EM leaving a saddle point, not converging: from a nearly
#: symmetric start (random responsibilities over many samples) the first changes
#: can be below ``tol`` and then grow about 3.5 times per iteration. Two Gaussian
#: regimes, 1e5 samples, 12 single random starts: stopping at the first change
#: at most ``tol`` left 7 of them after 1 iteration, 0.54 nats per sample below
#: the optimum; stopping also on a change no larger than the one before left 3
#: after 2 iterations (the first iteration's change includes the quick moves of
#: the other parameters); three changes that do not grow, none. The rule is for
#: runs from initial responsibilities; a warm start (from fitted parameters)
#: stops at its first change at most ``tol``, so that a model fitted one
#: iteration per call (``max_iter=1``) still converges.
SETTLE = 3
#: A change of at most SETTLE_ULPS float spacings of the objective (in the
#: problem's dtype, and at most ``tol``) counts as 0 in the SETTLE rule: it is
#: rounding, and its growth is not EM leaving a saddle point. ``MoEClassifier(1)``
#: on standardized iris is at its optimum after one iteration, objective
#: -0.1024 (spacing 1.4e-17); its further changes, in units of that spacing,
#: were [1, 0] natively (``n_iter_`` 3), [1, 1, 0] with numpy's baseline SIMD
#: and OpenBLAS's Nehalem kernels (4), and [0, 1, 1, 2, 2] with OpenBLAS's
#: Sandybridge kernels (6), which the rule read as growth.
#: (A float32 fit's objective is summed in float64, of float32 terms: its
#: rounding is float32's.)
SETTLE_ULPS = 4
#: In a float64 run whose objective cannot fall (soft EM or SQUAREM, monotone
#: experts, no ``top_k``), a fall is rounding: where ``SETTLE`` of the last ``2 SETTLE``
#: changes fell, a change above ``tol`` but at most
#: NOISE_FALLS times the largest fall among them,
#: while the objective is no more than that above where it was ``2 SETTLE``
#: iterations before, counts as 0 in the SETTLE rule too. Each row's
#: log-likelihood rounds in units of its own terms, which can be far larger
#: than the objective: zero-inflated Poisson, 60 rows of counts near 3e15
#: (objective -3.2e14 per sample, spacing 0.0625) settled after 20 iterations
#: into changes of 4 to 15 spacings of alternating sign, and ran to
#: ``max_iter`` (3000 iterations did not converge; predictions within 7e-15
#: of the 20-iteration fit's). A climb has few falls, and a climb below the
#: rounding is held by the objective's net gain: float32, ``tol=1e-10`` (below
#: float32's rounding), two lines, 300 rows: gains of 0.4 to 2.9 float32
#: spacings, then one fall of 6.6, where EM's parameters still moved (one fall
#: sufficing, it stopped 2.4e-4 from a float64 fit's predictions, against
#: 4.3e-6 for the rule before; SETTLE falls, 9.2e-5). At the objective's
#: rounding EM's parameters can still be about the square root of the
#: dtype's epsilon from their fixed point: 1.5e-8 of themselves in float64, but
#: 3.5e-4 in float32, which keeps the rule before. Only falls of at most
#: NOISE_ULPS spacings of the objective count (15 there; 2 to 3 spacings came
#: from the sum over the rows, in any order of 60 to 6000 of them): in float64
#: the rule can act only on an objective beyond 2.2e7 per sample at ``tol=1e-5``.
#: Nor does it act on a change where a parameter still moved (see
#: ``_params_still``), or on one to or from an infinite objective.
NOISE_FALLS = 2.0
NOISE_ULPS = 1024
#: A run that ends at ``max_iter`` where its last ``2 SETTLE`` changes are
#: rounding says so in its ``message``, which the ConvergenceWarning quotes:
#: where one of them fell, each is at most ROUNDING_ULPS float spacings of the
#: objective (in the problem's dtype) and NOISE_FALLS times the largest fall,
#: their sum is at most that, some one is above ``tol``, and the last
#: iteration moved no parameter beyond ``_params_still``'s bound. More
#: iterations stop such a run only where a change happens to be 0, and the
#: warning had advised them. float32 Poisson, 60 rows of counts near 1e12 to
#: 1e15: 13 of 30 fits ran all ``max_iter=100``, 11 of them with changes of up
#: to 18 spacings that the test reads as rounding; float64 ``top_k=2`` of 3
#: experts at 1e15: 100 iterations, changes up to 9.3 spacings (a change of 0
#: stopped it after 123, the same predictions). Fits still climbing when they
#: ran out rose by 87 to 98 spacings at each of their last iterations
#: (float32, ``top_k``), or 676 and more, without a fall. A looser ``tol``
#: stops such a run sooner, not at its rounding: ``tol=1e-6`` stopped the
#: float32 fit of ``NOISE_FALLS``'s two lines after 23 iterations, 8.7e-3 from
#: a float64 fit's predictions (after 40, unconverged: 4.3e-5), and ``tol=1``
#: the ``top_k`` fit after 15, 1.1e-3 from its predictions after 123.
#: float32 parameters still move there (``_params_still``'s bound is loose in
#: float32), and the warning says that more iterations may help: those two
#: lines converged after 57, 4.3e-6 from the float64 fit's predictions.
ROUNDING_ULPS = 64
#: A run from initial responsibilities does not stop while they are still
#: nearly uniform (a weighted mean of each sample's largest below ``1 / K +
#: SYMMETRIC_SHARE``), for at most ``SYMMETRIC_ITER`` iterations: near the
#: symmetric point a random start begins at, every expert alike, EM's changes
#: first fall (the common fit settles) and only then grow as the experts part.
#: Four tree-split regimes, 1e4 rows, a random start: the changes fell to
#: 3.9e-6 at iteration 6 and grew from iteration 7, and the SETTLE rule had
#: stopped at iteration 3 (held-out -1.32 per row, against -0.24 once
#: parted; at 1e5 rows they grew from iteration 10). A genuine fit of
#: duplicated experts (one regime, 4 experts) ended at 0.32 after 58.
#: Experts whose log-likelihoods tie on every sample (see :func:`_experts_tied`)
#: cannot part, and do not hold the stop: a constant y, which every expert fits
#: exactly, ran all 100 iterations from a random start (the same predictions).
SYMMETRIC_SHARE = 0.05
SYMMETRIC_ITER = 100
#: Experts tie where their log-likelihoods differ by at most TIED_ULPS units of
#: rounding (of the largest in size, or of 1) on every sample: 0, or 1e-30
#: (all-zero counts), where they fit y exactly; 0.26 to 0.92 on the experts
#: of random starts still held near the symmetric point. The tie is checked at
#: the 1st, 2nd, 4th, 8th ... held stop of a run (one evaluation of the experts'
#: log-likelihoods each): at every held stop it took 12% of a fit held for all
#: 100 iterations (y on a grid of 1e-13 steps, 1e5 rows, 97 checks).
TIED_ULPS = 16
#: A fresh soft run that would stop within its first PROBE_ITER iterations (and
#: before max_iter) first runs PROBE_CYCLES SQUAREM cycles from there, and goes
#: on from their end where they gain more than PROBE_GAIN times ``tol`` per
#: sample (once per run). EM can
#: crawl from a k-means start, its changes below ``tol`` and not yet growing:
#: two moons, 2000 and 5000 rows, noise 0.1, ``MoEClassifier(2)`` stopped after 3
#: iterations in 4 of 8 fits, 0.21 nats per sample below the optimum, which six
#: cycles from there neared by 0.13 to 0.17 per sample; six cycles from the
#: stops of 30 fits on iris, wine, breast cancer, digits, moons and circles
#: (2 and 3 experts) gained at most 8.1e-4.
PROBE_ITER = 2 * SETTLE
PROBE_CYCLES = 6
PROBE_GAIN = 100.0
#: The probe gives up at a cycle that gains at most PROBE_STILL times ``tol``,
#: or whose gains have only shrunk and their geometric series cannot reach
#: PROBE_GAIN times ``tol`` (a crawl's gains grow, and may dip once: 0.85,
#: 2.7, 3.9, 0.66, 12, 282 times ``tol`` on two moons): Gaussian-gate
#: regressors and zero-inflated Poisson stopping within 5 iterations gained 0,
#: or 4.8e-6 then 1.3e-6 per sample (six cycles made those fits 1.2 to 1.4 and
#: 2.3 to 3.5 times as long); the crawling moons' cycles gained 8e-6 to 2.4e-5
#: at first, growing to 2.7e-2 to 1e-1 by the fourth or fifth.
PROBE_STILL = 0.01
#: Share of every sample that classification EM gives an expert to which it
#: assigns none (see :func:`harden`).
EMPTY_SHARE = 1e-8


def harden(xp, resp: Array, weight: Array) -> Array:
    """Hard assignments: each sample's responsibilities replaced by 1 for its
    most probable expert (the first of ties) and 0 for the others (the
    classification EM's C-step): the top-1 mask of sparse routing.

    An expert that no sample of positive ``weight`` goes to takes
    ``EMPTY_SHARE`` of every sample it could take (of positive
    responsibility; not a zero, for a Gamma expert beside a point mass),
    from the sample's own expert: its M-step then fits those samples, with
    that tiny weight, where one of no samples kept its start (intercept 0
    while y was near 1e6, so that its gate weight of 1e-6 moved the
    predictions by 8 where y moved by 1e6). The classification objective
    does not see it: no sample is assigned to it.
    """
    assigned = xp.astype(top_k_mask(xp, resp, 1), resp.dtype)
    empty = xp.sum(assigned * weight[None, :], axis=1) <= 0
    if not bool(xp.any(empty)):
        return assigned
    possible = xp.astype(resp > 0, assigned.dtype)
    share = EMPTY_SHARE * possible * xp.astype(empty, assigned.dtype)[:, None]
    return assigned * (1.0 - xp.sum(share, axis=0))[None, :] + share


def classification_gain(problem: EMProblem, resp: Array) -> float:
    """What the classification objective adds to :func:`objective`'s penalized
    one: ``sum_i w_i log max_k r_ki`` (per unit weight; a group counted once).

    ``log p(y_i, z_i | x_i)`` at the most probable expert ``z_i`` is the
    E-step's ``log p(y_i | x_i) + log r_{z_i i}``.
    """
    xp = problem.xp
    most = xp.max(resp, axis=0)
    wide = widest_float(xp, most)
    return float(xp.sum(problem.gate_weight * xp.log(most), dtype=wide))


def _near_uniform(problem: EMProblem, resp: Array) -> bool:
    """Whether the responsibilities are nearly uniform over several experts
    (see ``SYMMETRIC_SHARE``)."""
    n_experts = resp.shape[0]
    if n_experts < 2:
        return False
    xp = problem.xp
    largest = xp.sum(problem.normalized_weight * xp.max(resp, axis=0))
    return float(largest) < 1.0 / n_experts + SYMMETRIC_SHARE


def _experts_tied(problem: EMProblem, expert_params: Params) -> bool:
    """Whether the experts' log-likelihoods tie on every sample, to
    ``TIED_ULPS`` units of rounding: the responsibilities are then the gate's,
    whatever it is, and EM cannot part the experts (a constant y, which each
    fits exactly). Read only where nearly uniform responsibilities hold a stop
    (see ``SYMMETRIC_ITER``), at a run's 1st, 2nd, 4th ... such stop (see
    ``TIED_ULPS``): one evaluation of the experts' densities."""
    xp = problem.xp
    log_p = problem.experts.log_likelihood(xp, problem.design, problem.Y, expert_params)
    if log_p.shape[0] < 2:
        return False
    spread = xp.max(xp.max(log_p, axis=0) - xp.min(log_p, axis=0))
    size = xp.max(xp.abs(log_p))
    spread, size = host_scalars(xp, spread, size)
    eps = float(xp.finfo(log_p.dtype).eps)
    # (NaN or an infinite log-likelihood, a point mass's: not tied)
    return math.isfinite(size) and spread <= TIED_ULPS * eps * max(1.0, size)


def _params_still(problem: EMProblem, params, before) -> bool:
    """Whether an iteration moved no parameter (of the gate's and the
    experts') by more than the square root of the dtype's epsilon times 1
    plus its size: read where changes of the objective's
    rounding would stop EM (see ``NOISE_FALLS``), as a part of the objective
    far below its rounding can still be climbing. Zero-inflated Poisson on 60
    rows of counts near 1e15 (objective -2.1e14 per sample, spacing 0.03)
    whose zeros a feature separates: changes of rounding (up to 11 spacings)
    from the 4th iteration, and EM stopped after 11, a gate coefficient at
    52.07 where its fixed point (reached by 50) is 52.34, predictions 7.6e-4
    from its."""
    xp = problem.xp
    for new, old in zip(params, before, strict=True):
        if new.keys() != old.keys():
            return False
        for key, a in new.items():
            b = old[key]
            if getattr(a, "shape", None) != getattr(b, "shape", None):
                return False
            if a is b:
                continue
            eps = (
                float(xp.finfo(a.dtype).eps)
                if xp.isdtype(a.dtype, "real floating")
                else 0.0
            )
            near = (a == b) | (xp.abs(a - b) <= math.sqrt(eps) * (xp.abs(b) + 1.0))
            if not bool(xp.all(near)):
                return False
    return True


def _stopped_by_rounding(signed, tol, noise) -> bool:
    """Whether a stop of the SETTLE rule came from the objective's rounding:
    ``signed``, the changes it read, all at most ``noise`` (``NOISE_ULPS``
    spacings of the objective) where one is above ``tol``. Zero-inflated
    Poisson on 60 rows of counts near 1e15 (spacing 0.03 per sample) whose
    zeros a feature separates: changes of 9, 10, 18, 9 and 2 spacings, then
    one of exactly 0 (with OpenBLAS's AVX-512 kernels), and EM stopped after 10
    iterations, a gate coefficient at 48.9 where its fixed point is 52.34.
    Read in every float64 run, whether or not its objective can fall (where it
    can, still responsibilities stand for still parameters: see
    :func:`_resp_still`)."""
    return any(abs(c) > tol for c in signed) and all(abs(c) <= noise for c in signed)


def _resp_still(problem: EMProblem, resp, before) -> bool:
    """Whether no responsibility moved by more than the square root of the dtype's
    epsilon from ``before`` (the E-step's at the former parameters) to
    ``resp``: read, in a run whose objective can fall (``top_k``,
    ``assignment="hard"``, experts that are not monotone), at a stop of
    rounding (see :func:`_stopped_by_rounding`) where a parameter still moved
    (see :func:`_params_still`). Where they are still, the next M-step fits
    what the last one did, and a parameter that still moves drifts on its own:
    Poisson, 3 experts, ``top_k`` 1 or 2 or hard, 60 rows of counts near 1e12
    and 1e15, seeds 0-4 (30 fits): needing still parameters alone, 7 of them
    ran all 1000 iterations (9 with NumPy's AVX-512 dispatch disabled) where
    they had stopped after 4 to 853, an expert's intercept on all-zero counts
    going from -50.75 to -713 (hard, 1e15, seed 0: predictions within 6.1e-15
    of 1500 iterations' either way); the responsibilities were still at each of
    the 15 (16) stops where this was read, and no fit changed. Where they
    moved, the change of 0 was chance: scripted changes of 9, 2 and 0 spacings
    stopped such runs after 9 iterations where a further one moved the experts'
    coefficients by up to 7.7e-2 of 1 plus their size."""
    xp = problem.xp
    root = math.sqrt(float(xp.finfo(resp.dtype).eps))
    return bool(xp.max(xp.abs(resp - before)) <= root)


def _rounding_stall(problem: EMProblem, history, tol, params, before) -> bool:
    """Whether the last ``2 SETTLE`` changes of ``history`` (the objective
    after each iteration) are rounding above ``tol`` (see ``ROUNDING_ULPS``),
    the last iteration's parameters ``params`` from ``before``. Read once, at
    the end of a run that ``max_iter`` stopped."""
    recent = history[-2 * SETTLE - 1 :]
    if len(recent) <= 2 * SETTLE or not all(math.isfinite(h) for h in recent):
        return False
    changes = [b - a for a, b in pairwise(recent)]
    fall = -min(changes)
    largest = max(abs(change) for change in changes)
    eps = float(problem.xp.finfo(problem.design.dtype).eps)
    noise = NOISE_FALLS * fall
    rounded = (
        0 < fall
        and tol < largest <= min(noise, ROUNDING_ULPS * eps * abs(recent[-1]))
        and math.fsum(changes) <= noise
    )
    return rounded and _params_still(problem, params, before)


def _rounding_message(problem: EMProblem, history, tol, scale=1.0):
    """The ``message`` of a run that ``max_iter`` stopped where its changes
    were rounding above ``tol`` (in the user's units; see ``ROUNDING_ULPS``)
    times ``scale`` (``ExpertFamily.tol_scale``), the bound they were compared
    with."""
    dtype = problem.design.dtype
    name = "float64" if dtype == problem.xp.float64 else "float32"
    changes = [b - a for a, b in pairwise(history[-2 * SETTLE - 1 :])]
    eps = float(problem.xp.finfo(dtype).eps)
    step = f"{math.sqrt(eps):.1e} times 1 plus its size"
    return (
        f"it ran to max_iter with its objective ({history[-1]:.6g} per sample) "
        f"changing by {min(changes):.2g} to {max(changes):.2g} over the last "
        f"{2 * SETTLE} iterations, up and down: "
        # (float32: changes of its rounding's size where the objective still
        # had 726 spacings to climb, 3220 iterations on: not only rounding)
        + ("rounding" if name == "float64" else "of the size of rounding")
        + f" ({name} resolves it to about {eps * abs(history[-1]):.1g}), above "
        # (only counts of mean below 1 scale tol: changes of 0.31 to 0.75 at
        # tol=1 and a mean count 0.25 were said to be "above tol=1")
        + (
            f"tol={tol:g}"
            if scale == 1.0
            else f"{tol * scale:.2g} (tol={tol:g} times the mean count, {scale:.3g})"
        )
        + (
            ", so that more iterations stop only where a change happens to be "
            f"0. The last one moved no parameter by more than {step}"
            if name == "float64"
            # (they moved on: two lines at tol=1e-10, stopped after 30 to 50
            # iterations, converged 5 to 19 later, predictions 1.6 to 21 times
            # closer to the float64 optimum's)
            else f". float32 parameters can still move there (by up to {step} "
            "an iteration): fit float64 data for this tol, or increase "
            "max_iter, which may still bring them closer to the optimum"
        )
        + "; a tol above these changes"
        + ("" if scale == 1.0 else " over the mean count")
        + " stops EM sooner, before its parameters settle"
    )


def _settled(changes, tol, settle=SETTLE) -> bool:
    """Whether EM has converged, given the |changes| of its iterations: the last
    is at most ``tol`` and the last ``settle`` did not grow, or the last
    ``2 settle`` are all at most ``tol`` without growing at each of the last
    ``settle`` (changes that alternate below ``tol``, as ``top_k`` can give)."""
    recent = changes[-settle:]
    if len(recent) < settle or not recent[-1] <= tol:  # (NaN: not settled)
        return False
    if all(a >= b for a, b in pairwise(recent)):
        return True
    longer = changes[-2 * settle :]
    growing = all(a < b for a, b in pairwise(recent))
    return len(longer) == 2 * settle and max(longer) <= tol and not growing


def _squarem_units(problem: EMProblem, gate_params: Params, expert_params: Params):
    """The units in which SQUAREM measures its steps (see
    ``_squarem.extrapolate``), from the families at the run's start, on the
    parameters' device and in their dtype."""
    xp, like = problem.xp, gate_params["coef"]
    # (a gate that alpha does not penalize: the features' own units)
    gate_alpha = None if problem.gate.penalized else 0.0
    units = (
        problem.gate.extrapolation_units(
            gate_params, problem.row_units(problem.gate_design, gate_alpha)
        ),
        problem.experts.extrapolation_units(
            xp, expert_params, problem.row_units(problem.design)
        ),
    )
    return tuple(
        {
            name: xp.asarray(value, dtype=like.dtype, device=device(like))
            for name, value in named.items()
        }
        for named in units
    )


def _squarem_cycle(
    problem, params, resp, log_gate, prepared, step_max: float, units=None
):
    """One SQUAREM cycle (see ``_squarem``) from ``params``, whose E-step gave
    ``resp`` and ``log_gate``: two EM steps to ``p2``, the extrapolated point,
    and one EM step from it, kept where its penalized objective is at least
    ``p2``'s (else ``p2``, and a smaller ``step_max``). ``units``: those of
    :func:`_squarem_units`.

    Returns the parameters, their E-step's outputs and the next ``step_max``.
    The extrapolated point may be far off (a softmax gate's logits of 1e3):
    its E- and M-steps run without NumPy's floating-point warnings, and one
    that fails or gives a NaN objective is not kept.
    """
    marginal = problem.gate.models_inputs
    experts = problem.experts

    def advance(params, resp, log_gate):
        params = m_step(problem, resp, log_gate, *params, prepared)
        return params, e_step(problem, *params, marginal)

    def penalized(params, parts):
        return objective(problem, parts[0], *params, *parts[3:])[1]

    p1, parts1 = advance(params, resp, log_gate)
    p2, parts2 = advance(p1, parts1[1], parts1[2])
    del parts1  # (K, n) arrays no longer needed (peak memory)
    try:
        # NumPy's floating-point warnings only: warnings.catch_warnings is not
        # thread-safe (two threads' fits left a filter that hid every warning)
        with np.errstate(all="ignore"):
            point, step = extrapolate(
                problem.xp,
                params,
                p1,
                p2,
                experts.lower_bounds(),
                experts.upper_bounds(),
                step_max,
                units,
            )
            grown = step_max * STEP_FACTOR if step >= step_max else step_max
            grown = min(grown, MAX_STEP)
            if point is None:
                return p2, parts2, grown
            parts = e_step(problem, *point, marginal)
            p3, parts3 = advance(point, parts[1], parts[2])
            del parts
            kept = penalized(p3, parts3) >= penalized(p2, parts2)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):
        kept = False
    if kept:
        return p3, parts3, grown
    return p2, parts2, max(1.0, step_max / STEP_FACTOR)


def _stall_probe(problem, params, resp, log_gate, prepared, penalized, tol):
    """The end of ``PROBE_CYCLES`` SQUAREM cycles from ``params`` (whose
    E-step gave ``resp`` and ``log_gate``), as the parameters and their E-step's
    outputs, where its penalized objective exceeds ``penalized`` by more than
    ``PROBE_GAIN * tol``; else None (see ``PROBE_ITER``)."""
    units = _squarem_units(problem, *params)
    step_max, reached, gain, grew = 1.0, penalized, np.inf, False
    for cycle in range(PROBE_CYCLES):
        params, parts, step_max = _squarem_cycle(
            problem, params, resp, log_gate, prepared, step_max, units
        )
        resp, log_gate = parts[1], parts[2]
        former, reached = reached, objective(problem, parts[0], *params, *parts[3:])[1]
        gain, last = reached - former, gain
        if gain <= PROBE_STILL * tol:
            break  # at a fixed point (see PROBE_STILL), kept if it gained
        grew = grew or gain >= last
        if not grew and cycle > 0:  # converging: its geometric remainder
            rest = gain * gain / (last - gain)
            if reached - penalized + rest <= PROBE_GAIN * tol:
                return None
    return (params, parts) if reached - penalized > PROBE_GAIN * tol else None


def run_em(
    problem: EMProblem,
    *,
    resp: Array | None = None,
    params: tuple[Params, Params] | None = None,
    max_iter: int = 100,
    tol: float = 1e-5,
    verbose: int = 0,
    prune_threshold: float = 0.0,
    assignment: str = "soft",
    acceleration: str | None = None,
    overwrite_resp: bool = False,
) -> FitResult:
    """Run EM from initial responsibilities ``resp`` (K, n) or from ``params``.

    With ``overwrite_resp``, ``resp`` is the run's to overwrite (on NumPy
    its memory holds the weighted responsibilities of the first M-step, then
    the first E-step's responsibilities, one (K, n) array fewer for the
    whole run): the caller must not read it again.

    Each iteration is an M-step followed by an E-step, so the reported
    log-likelihood always belongs to the returned parameters. Iteration stops when
    the per-sample penalized objective changes by at most ``tol`` (an absolute
    change, as a relative one depended on the units of y, which shift a Gaussian
    log-likelihood by log c per sample; scaled by ``ExpertFamily.tol_scale``),
    after ``SETTLE`` iterations whose changes did not grow when the run starts
    from ``resp`` (see ``SETTLE``). Where the gate's M-steps are truncated
    (``GateFamily.truncated``: conjugate-gradient steps), a stop is checked
    by one more iteration with a tight gate M-step, which must change the
    objective by at most ``tol`` too (else the run goes on); a stop at
    ``max_iter`` stands unchecked. A change of NaN (an objective of NaN, or
    the same infinite one twice) ends the run unconverged, with ``message``.
    For experts whose M-step may lower their objective (``ExpertFamily.monotone``
    false), an M-step after which the objective fell by more than ``tol`` is
    mended by ``ExpertFamily.keep_better`` before the run goes on.
    With ``prune_threshold > 0``, after each E-step the least used expert is
    dropped when its share of the data is below the threshold (see
    :func:`prune_smallest`); the objective may fall at that iteration, and the
    run does not stop there.
    With ``problem.top_k``, whose truncated E-step does not make EM monotone,
    a run from ``resp`` returns the iterate of the highest objective since the
    last pruning (the histories still record every iteration, and
    ``converged`` is the stop test's at the last one): on contaminated data
    the last one was up to 0.5 nats per sample below the best visited. A run
    from ``params`` (a warm start) returns its last iterate.

    With ``assignment="hard"`` the run is classification EM (Celeux & Govaert
    1992; flexmix's ``classify="CEM"``): each M-step fits the experts and the
    gate to hard assignments of the samples, each to its most probable expert
    (:func:`harden`; initial responsibilities too). It maximizes the
    classification log-likelihood ``sum_i w_i log(g_z(x_i) p_z(y_i | x_i))`` at
    those assignments (penalized), which the objective history, the stop test
    and the result's ``objective`` then hold (its log-likelihood is still the
    mixture's); it rises at each iteration (the M-step does not lower it at
    fixed assignments, and re-assigning each sample to its best expert does
    not either), and stops after finitely many changes of the assignments.

    With ``acceleration="squarem"`` each iteration is a SQUAREM cycle (see
    :func:`_squarem_cycle`) of three EM steps, which the histories, ``n_iter``
    and ``max_iter`` count as one; not with ``top_k``, ``assignment="hard"``
    or experts that are not ``monotone``, whose EM steps need not raise the
    objective that the cycle compares.
    """
    xp = problem.xp
    # in the units of the experts' log-likelihood changes (Poisson: of the counts)
    scale = problem.experts.tol_scale(xp, problem.Y, problem.normalized_weight)
    tol = tol * scale
    prepared = problem.gate.prepare(
        xp, problem.gate_design, problem.gate_fit_weight, problem.alpha
    )
    hard = assignment == "hard"

    def assign(resp):
        return harden(xp, resp, problem.normalized_weight) if hard else resp

    def score(log_norm, resp, gate_params, expert_params, log_marginal):
        total, penalized = objective(
            problem, log_norm, gate_params, expert_params, *log_marginal
        )
        if hard:  # the classification objective (see above)
            penalized = penalized + classification_gain(problem, resp)
        return total, penalized

    if params is None:
        gate_params, expert_params = initial_params(
            problem, assign(resp), prepared, overwrite=overwrite_resp
        )
    else:
        gate_params, expert_params = params

    marginal = problem.gate.models_inputs  # log p(x) from the E-step's logits
    # the E-steps write over the (K, n) arrays that the last M-step was done
    # with: the start's responsibilities (with overwrite_resp), then each
    # E-step's (see e_step's out); the M-steps write the weighted
    # responsibilities over theirs, except where the run reads them again
    # (experts that are not monotone, SQUAREM's cycles)
    reuse = problem.experts.monotone and acceleration != "squarem"
    spare = (resp if overwrite_resp else None, None)
    log_norm, resp, log_gate, *log_marginal = e_step(
        problem, gate_params, expert_params, marginal, out=spare
    )
    del spare
    total, penalized = score(log_norm, resp, gate_params, expert_params, log_marginal)
    assigned = assign(resp)  # what the next M-step fits
    result = FitResult(gate_params, expert_params, total, penalized)
    start = time.perf_counter()
    changes = []  # |change| of each iteration since the start or the last pruning
    settle = SETTLE if params is None else 1  # see SETTLE
    rounding = SETTLE_ULPS * float(xp.finfo(problem.design.dtype).eps)
    measured = NOISE_ULPS / SETTLE_ULPS * rounding  # see NOISE_FALLS
    held = 0  # stops held near uniform responsibilities (see TIED_ULPS)
    # top-k EM can fall (its E-step is truncated): a cold run keeps its best
    # iterate (a warm one, from fitted parameters, keeps its last: its start is
    # often its best, and warm refits would stay there)
    sparse = problem.top_k is not None and params is None
    best = (penalized, total, gate_params, expert_params)
    # the signed changes since the start or the last pruning, in float64: a
    # stop on changes of rounding needs still parameters (see
    # _stopped_by_rounding), whether or not the objective can fall; where it
    # cannot, its falls are rounding (see NOISE_FALLS)
    falls = hard or problem.top_k is not None or not problem.experts.monotone
    signed = [] if problem.design.dtype == xp.float64 else None
    noisy_falls = signed is not None and not falls
    step_max = 1.0  # SQUAREM's, where accelerated
    if acceleration == "squarem":
        units = _squarem_units(problem, gate_params, expert_params)
    # a gate whose M-steps are truncated (conjugate gradients) can gain less
    # than tol an iteration while EM is still far from done: where the stop
    # test passes, the next iteration takes a tight M-step (many more CG
    # iterations), and EM stops only if it too changes the objective by at
    # most tol (else it goes on). Softmax gate, n=2000, D=100, K=32: the
    # stop's objective 1.95e-3 per sample higher, 1.2 to 1.4 times the time, where
    # exact (Newton) M-steps from the old stop gained 2.17e-3
    tight = False  # whether this iteration's M-step is the tight one
    # a fresh soft run may check an early stop by SQUAREM cycles (see PROBE_ITER)
    probe = (
        params is None
        and not hard
        and not sparse
        and acceleration is None
        and problem.experts.monotone
    )
    n_iter = 0  # (max_iter=0: the start)
    for n_iter in range(1, max_iter + 1):
        previous, former, weighted_resp = penalized, expert_params, assigned
        former_gate = gate_params
        if acceleration == "squarem":
            (gate_params, expert_params), parts, step_max = _squarem_cycle(
                problem,
                (gate_params, expert_params),
                resp,
                log_gate,
                prepared,
                step_max,
                units,
            )
            log_norm, resp, log_gate, *log_marginal = parts
        else:
            gate_params, expert_params = m_step(
                problem,
                assigned,
                log_gate,
                gate_params,
                expert_params,
                prepared,
                overwrite=reuse,
                tight=tight,
            )
            log_norm, resp, log_gate, *log_marginal = e_step(
                problem,
                gate_params,
                expert_params,
                marginal,
                out=(resp, log_gate) if reuse else None,
            )
        scored = None  # this iteration's (total, penalized), where known
        if not problem.experts.monotone:
            scored = score(log_norm, resp, gate_params, expert_params, log_marginal)
            if scored[1] < previous - tol:  # see ExpertFamily.keep_better
                scored = None
                weighted_resp = problem.normalized_weight[None, :] * weighted_resp
                expert_params = problem.experts.keep_better(
                    xp, problem.design, problem.Y, weighted_resp, expert_params, former
                )
                log_norm, resp, log_gate, *log_marginal = e_step(
                    problem, gate_params, expert_params, marginal
                )
        assigned = assign(resp)
        pruned = prune_smallest(
            problem, gate_params, expert_params, assigned, prune_threshold
        )
        if pruned is not None:
            gate_params, expert_params = pruned
            log_norm, resp, log_gate, *log_marginal = e_step(
                problem, gate_params, expert_params, marginal
            )
            assigned = assign(resp)
            scored = None
        if scored is None:
            scored = score(log_norm, resp, gate_params, expert_params, log_marginal)
        total, penalized = scored
        result.log_likelihood_history.append(total)
        result.objective_history.append(penalized)
        change = penalized - previous
        if verbose >= 2:
            print(
                f"  Iteration {n_iter}\t log-likelihood {total:.6g}\t "
                f"change {change:.3e}\t time {time.perf_counter() - start:.3f}s"
            )
        if math.isnan(change):
            # an objective of NaN, or infinite twice: no later iteration
            # can pass the stop test, and none recovers (NaN parameters)
            result.message = (
                f"its objective became {penalized} at iteration {n_iter} (values "
                "that overflow the dtype, as a rule)"
            )
            break
        if signed is not None:
            signed = [] if pruned is not None else signed[1 - 2 * SETTLE :] + [change]
        if abs(change) <= min(rounding * abs(penalized), tol):  # see SETTLE_ULPS
            change = 0.0
        elif (
            noisy_falls
            and tol < abs(change) < math.inf
            and sum(c < 0 for c in signed) >= SETTLE
        ):
            # (not a change to or from an infinite objective: a fall to -inf
            # counted as none, and converged there; -inf + inf in math.fsum)
            fall = -min(signed)  # see NOISE_FALLS (beyond NOISE_ULPS, not rounding)
            noise = NOISE_FALLS * fall if fall <= measured * abs(penalized) else 0.0
            if (
                abs(change) <= noise
                and math.fsum(signed) <= noise
                and _params_still(
                    problem, (gate_params, expert_params), (former_gate, former)
                )
            ):
                change = 0.0
        changes = (
            [] if pruned is not None else changes[1 - 2 * SETTLE :] + [abs(change)]
        )
        if sparse and (pruned is not None or penalized >= best[0]):
            best = (penalized, total, gate_params, expert_params)
        if tight:  # the check of a stop (see the tight M-step above)
            stop = pruned is None and abs(change) <= tol
            if not stop:  # EM was not done: SETTLE more changes to the next
                changes = []
            tight = False
        else:
            stop = _settled(changes, tol, settle)
            if (
                stop
                and signed
                and _stopped_by_rounding(
                    signed[-settle:], tol, measured * abs(penalized)
                )
            ):
                # (see NOISE_FALLS: a change of 0 by chance while a parameter
                # still moves does not stop EM either)
                stop = _params_still(
                    problem, (gate_params, expert_params), (former_gate, former)
                )
                if not stop and falls:  # (see _resp_still)
                    stop = _resp_still(
                        problem, resp, e_step(problem, former_gate, former, marginal)[1]
                    )
            if (
                stop
                and params is None
                and n_iter < SYMMETRIC_ITER
                and _near_uniform(problem, resp)
            ):  # held, unless the experts tie (checked at held stops 1, 2, 4, 8 ...)
                held += 1
                stop = (held & (held - 1)) == 0 and _experts_tied(
                    problem, expert_params
                )
            # (not at max_iter, where no iteration is left to confirm it: a
            # one-iteration run, the gradient solver's check of its stop by
            # EM's test, never converged, and L-BFGS ran on to max_iter=500,
            # converged_=False, where it had stopped at 352)
            if (
                stop
                and n_iter < max_iter
                and acceleration != "squarem"
                and problem.gate.truncated(problem.gate_design, gate_params)
            ):
                tight = True  # the next iteration confirms it
                continue
        # (not at max_iter, where no iteration is left to go on from the
        # probe's end: max_iter=3 ran 6 cycles past it and returned their end,
        # 310 nats above the history's last log-likelihood)
        if (
            stop
            and probe
            and n_iter <= PROBE_ITER
            and n_iter < max_iter
            and resp.shape[0] > 1
        ):
            probe = False  # once per run
            probed = _stall_probe(
                problem,
                (gate_params, expert_params),
                resp,
                log_gate,
                prepared,
                penalized,
                tol,
            )
            if probed is not None:  # EM was crawling: go on from the probe's end
                (gate_params, expert_params), parts = probed
                log_norm, resp, log_gate, *log_marginal = parts
                stopped = penalized
                total, penalized = score(
                    log_norm, resp, gate_params, expert_params, log_marginal
                )
                if verbose >= 2:  # (the next iteration's change is from here)
                    print(
                        f"  Probe\t {PROBE_CYCLES} SQUAREM cycles gained "
                        f"{penalized - stopped:.3e}: EM goes on from their end"
                    )
                assigned = assign(resp)
                changes = []
                continue
        if stop:
            result.converged = True
            break
    # (read once, after the last iteration: see ROUNDING_ULPS)
    stall = (
        _rounding_stall(
            problem,
            result.objective_history,
            tol,
            (gate_params, expert_params),
            (former_gate, former),
        )
        if not result.converged and not result.message and n_iter == max_iter > 0
        else False
    )
    if sparse and not best[0] <= penalized + tol:  # (or a NaN objective)
        # an iterate of the same experts (pruning resets it) that was better
        penalized, total, gate_params, expert_params = best
        if result.message:
            result.message += "; the run returned its best iterate before it"
    if result.message:
        wider = "" if problem.design.dtype == xp.float64 else ", fit in float64"
        result.message += (
            ". Rescale the features and y (e.g. with "
            f"sklearn.preprocessing.StandardScaler){wider} or raise alpha"
        )
    elif stall:
        result.message = _rounding_message(
            problem, result.objective_history, tol / scale, scale
        )
    result.gate_params = gate_params
    result.expert_params = expert_params
    result.log_likelihood = total
    result.objective = penalized
    result.n_iter = n_iter
    return result
