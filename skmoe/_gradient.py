"""Joint-likelihood solvers: the penalized objective, its gradient, and L-BFGS.

The objective is the one EM increases (``_em.objective``): the per-sample weighted
log-likelihood of the mixture minus the L2 penalties, optionally minus a load
balancing loss. Its gradient reuses the E-step (Fisher's identity): with ``r`` the
responsibilities and ``g`` the (sparse, if ``top_k``) gate at the current point,

    d l / d a_ki      = w_i (r_ki - g_ki)                  (gate logits)
    d l / d theta_k   = sum_i w_i r_ki d log p_ki / d theta_k   (experts)

so the gradient is one E-step plus the families' M-step gradients. Positive
parameters (a Gaussian expert's variance) are moved in log space with their floor
as a bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from ._backend import to_numpy
from ._em import EMProblem, FitResult, e_step, objective, prune_smallest, run_em
from ._groups import mix
from ._math import device, exp, log_softmax
from ._sparse import is_sparse

Array = Any
Params = dict[str, Array]

#: With pruning, L-BFGS runs in rounds of at most this many iterations, and the
#: least used expert is checked for removal between rounds.
PRUNE_EVERY = 25


@dataclass
class Evaluation:
    """The objective and its gradients at one point."""

    value: float
    log_likelihood: float
    gate_grad: Params
    expert_grad: Params
    dlogits: Array
    #: the penalized objective without the balance loss: what the histories
    #: report, as for the other solvers (the choice between restarts
    #: subtracts the loss: ``_base._balanced_objective``)
    objective: float = 0.0


def switch_balance_loss(xp, logits, log_gate, weight, coef: float):
    """Switch Transformer loss ``c K sum_k f_k P_k`` and its gradient on the logits.

    ``f_k``: weighted share of the samples whose top-1 expert is k (piecewise
    constant, no gradient); ``P_k``: weighted mean gate probability of expert k.
    Minimal (= c) when both are uniform. ``weight`` sums to one.
    """
    n_experts = logits.shape[0]
    rows = xp.reshape(xp.arange(n_experts, device=device(logits)), (n_experts, 1))
    top1 = xp.astype(rows == xp.argmax(logits, axis=0)[None, :], logits.dtype)
    share = xp.sum(top1 * weight[None, :], axis=1)
    gate = exp(xp, log_gate)
    loss = coef * n_experts * xp.sum(share * xp.sum(gate * weight[None, :], axis=1))
    expected = xp.sum(share[:, None] * gate, axis=0)
    grad = coef * n_experts * weight[None, :] * gate * (share[:, None] - expected)
    return float(loss), grad


def evaluate(
    problem: EMProblem,
    gate_params: Params,
    expert_params: Params,
    *,
    balance_coef: float = 0.0,
    logit_noise: Array | None = None,
) -> Evaluation:
    """Penalized per-sample objective (minus the balance loss) and its gradient.

    ``logit_noise`` (K, n) is added to the gate logits (noisy top-k gating); its
    gradient is ``dlogits``, which the caller chains into the noise parameters.
    """
    xp = problem.xp
    design, weight = problem.design, problem.normalized_weight
    logits = problem.gate.logits(xp, problem.gate_design, gate_params)
    if logit_noise is not None:
        logits = logits + logit_noise
    log_gate = log_softmax(xp, logits, axis=0)
    log_mix = log_gate
    if is_sparse(problem.top_k, logits.shape[0]):
        log_mix = problem.gate.truncate(xp, log_gate, problem.top_k)
    log_p = problem.experts.log_likelihood(xp, design, problem.Y, expert_params)
    log_norm, resp = mix(xp, log_mix, log_p, problem.groups)
    # (without groups the gate's weights are ``weight``: not computed twice)
    gate_weight = weight if problem.groups is None else problem.gate_weight
    dlogits = gate_weight[None, :] * (resp - exp(xp, log_mix))
    total, value = objective(problem, log_norm, gate_params, expert_params)
    penalized = value
    if balance_coef > 0:
        # the shares of the weight (of the groups' with groups) each expert
        # has; without groups the weights sum to 1 already (a division that
        # moved their last bit changed L-BFGS's path)
        shares = gate_weight
        if problem.groups is not None:
            shares = gate_weight / xp.sum(gate_weight)
        loss, grad = switch_balance_loss(xp, logits, log_gate, shares, balance_coef)
        value -= loss
        dlogits = dlogits - grad
    gate_grad = problem.gate.logits_gradient(
        xp, problem.gate_design, dlogits, gate_params
    )
    penalty = problem.gate.penalty_gradient(xp, gate_params, problem.alpha)
    gate_grad = {name: gate_grad[name] - penalty[name] for name in gate_grad}
    expert_grad = problem.experts.gradient(
        xp, design, problem.Y, weight[None, :] * resp, expert_params, problem.alpha
    )
    return Evaluation(value, total, gate_grad, expert_grad, dlogits, penalized)


# -- packing parameters into one unconstrained vector -------------------------------


def parameter_units(problem: EMProblem, expert_params: Params):
    """The units of the gate's and the experts' design rows, and the experts'
    target scale: ``(gate_rows, expert_rows, target)``.

    A coefficient of design row j moves the logits or means by one unit per
    ``units[j] = 1 / sqrt(std_j^2 + alpha)`` (1 for the intercept), times
    ``ExpertFamily.target_scale`` for the experts (for Gaussian experts, the
    noise standard deviation at ``expert_params``). With ``alpha`` in the
    root, the penalty's curvature in these units is at most 1: ``1 / std_j``
    alone gave a feature of scale 1e-8 a curvature of 1e10, which stopped
    L-BFGS at its start and made Adam overshoot. A row without spread (a
    constant feature, or any feature in a ``partial_fit`` batch of one row)
    keeps unit 1: it shows no scale, and ``1 / sqrt(alpha)`` made a stream of
    single rows take steps 1000 times too long (R^2 -14 after three passes).
    """
    expert_rows = problem.row_units(problem.design)
    gate_rows = (
        expert_rows
        if problem.own_gate_design is None
        else problem.row_units(problem.own_gate_design)
    )
    target = problem.experts.target_scale(problem.xp, expert_params)
    return gate_rows, expert_rows, target


def curvature_scales(problem: EMProblem, expert_params: Params):
    """Each expert's curvature scale (``ExpertFamily.curvature_scales``), or
    None where the family has one unit for all."""
    return problem.experts.curvature_scales(
        problem.xp, expert_params, problem.Y, problem.normalized_weight
    )


def curvature_units(problem: EMProblem, expert_params: Params):
    """L-BFGS's units: :func:`parameter_units`' rows, each expert's
    coefficients in units of its own curvature scale (a row that all experts
    share in their mean, so that its copies stay one direction)."""
    units = parameter_units(problem, expert_params)
    scales = curvature_scales(problem, expert_params)
    if scales is None:
        return units
    gate_rows, expert_rows, _ = units
    rows = np.outer(expert_rows, scales)
    for row in getattr(problem.experts, "shared", ()):
        rows[row, :] = expert_rows[row] * float(np.mean(scales))
    return gate_rows, rows, 1.0


class Packer:
    """Maps (gate_params, expert_params) to a flat float64 vector and back.

    Parameters with a floor (``ExpertFamily.lower_bounds``) are stored as logs.
    Coefficients are stored in units of :func:`parameter_units` (divided by
    them): the solvers then step as on standardized features and, for Gaussian
    experts, a target in units of the starting noise, so that L-BFGS and Adam
    behave the same whatever the scales of X and y (a feature or target in units
    1e3 apart once left Adam at R^2 0.6 where unit scales gave 0.96). ``units``
    (from :func:`parameter_units`) keeps one such scaling across ``partial_fit``
    calls.
    """

    def __init__(
        self,
        problem: EMProblem,
        gate_params: Params,
        expert_params: Params,
        units: tuple[np.ndarray, float] | None = None,
    ):
        self.xp = problem.xp
        self.floors = problem.experts.lower_bounds()
        self.ceilings = problem.experts.upper_bounds()
        self.layout = [("gate", k, v.shape) for k, v in sorted(gate_params.items())]
        self.layout += [
            ("expert", k, v.shape) for k, v in sorted(expert_params.items())
        ]
        first = next(iter(gate_params.values()))
        self.dtype, self.device = first.dtype, device(first)
        if units is None:
            units = parameter_units(problem, expert_params)
        self.units = units
        gate_rows, expert_rows, target = self.units
        rows = {"gate": gate_rows, "expert": expert_rows * target}
        # the unit of each packed entry, in the layout's order (a row's, or
        # per row and expert where ``units`` gives a matrix)
        self.scale = np.concatenate(
            [
                np.broadcast_to(
                    rows[group] if rows[group].ndim == 2 else rows[group][:, None],
                    shape,
                ).ravel()
                if name in ("coef", "group_coef")  # (a hierarchical gate's top)
                and len(shape) == 2
                and shape[0] == rows[group].shape[0]
                else np.ones(int(np.prod(shape)))
                for group, name, shape in self.layout
            ]
        )

    def pack(self, gate_params: Params, expert_params: Params) -> np.ndarray:
        groups = {"gate": gate_params, "expert": expert_params}
        parts = []
        for group, name, _ in self.layout:
            value = to_numpy(groups[group][name]).astype(np.float64)
            if group == "expert" and name in self.floors:
                value = np.log(value)
            parts.append(value.ravel())
        return np.concatenate(parts) / self.scale

    def unpack(self, theta: np.ndarray):
        groups: dict[str, Params] = {"gate": {}, "expert": {}}
        theta = theta * self.scale
        offset = 0
        for group, name, shape in self.layout:
            size = int(np.prod(shape))
            value = np.reshape(theta[offset : offset + size], shape)
            if group == "expert" and name in self.floors:
                value = np.exp(value)
            groups[group][name] = self.xp.asarray(
                value, dtype=self.dtype, device=self.device
            )
            offset += size
        return groups["gate"], groups["expert"]

    def pack_gradient(self, evaluation: Evaluation, expert_params: Params):
        """Gradient w.r.t. the packed vector (chain rule for the logs)."""
        grads = {"gate": evaluation.gate_grad, "expert": evaluation.expert_grad}
        parts = []
        for group, name, _ in self.layout:
            grad = grads[group][name]
            if group == "expert" and name in self.floors:
                grad = grad * expert_params[name]
            parts.append(to_numpy(grad).astype(np.float64).ravel())
        return np.concatenate(parts) * self.scale

    def bounds(self):
        out = []
        for group, name, shape in self.layout:
            low = high = None
            if group == "expert" and name in self.floors:
                low = float(np.log(self.floors[name]))
            if group == "expert" and name in self.ceilings:
                high = float(np.log(self.ceilings[name]))
            out += [(low, high)] * int(np.prod(shape))
        # floored parameters are logs, of unit 1: their bounds need no scaling
        return out


def lbfgs(
    problem, gate_params, expert_params, *, max_iter, tol, balance_coef, verbose=0
):
    """Minimize the negative objective by L-BFGS-B from the given parameters
    (``verbose >= 2``: one line per iteration, as EM's)."""
    packer = Packer(
        problem, gate_params, expert_params, curvature_units(problem, expert_params)
    )
    history: list[tuple[float, float]] = []
    start = time.perf_counter()

    def fun(theta):
        # the line search probes long steps, where variances overflow (and
        # coefficients X's dtype in their cast, with float32 y near 1e19; and
        # every expert's likelihood underflows, log(0) in the mixture): it
        # backs off from a non-finite value by itself, so NumPy need not warn
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            gate, experts = packer.unpack(theta)
            ev = evaluate(problem, gate, experts, balance_coef=balance_coef)
            grad = packer.pack_gradient(ev, experts)
        fun.last = (ev.log_likelihood, ev.objective)
        if not hasattr(fun, "first"):
            fun.first, fun.start = fun.last, ev.value
        fun.value = ev.value
        if ev.value > fun.tried:  # (a NaN gains nothing)
            fun.tried = ev.value
        return -ev.value, -grad

    # the value L-BFGS maximizes (the objective less the balance loss) at the
    # last iterate, and the highest evaluated since: where the line search
    # fails, their difference is the most any of its steps gains (SciPy's
    # ``fun`` is then the last step's, at the last iterate's ``x``)
    fun.tried = -math.inf

    def callback(intermediate_result):
        previous = history[-1][1] if history else fun.first[1]
        history.append(fun.last)
        fun.start, fun.tried = fun.value, -math.inf
        if verbose >= 2:
            print(
                f"  Iteration {len(history)}\t log-likelihood {fun.last[0]:.6g}\t "
                f"change {fun.last[1] - previous:.3e}\t "
                f"time {time.perf_counter() - start:.3f}s"
            )

    result = minimize(
        fun,
        packer.pack(gate_params, expert_params),
        jac=True,
        method="L-BFGS-B",
        bounds=packer.bounds(),
        callback=callback,
        options={"maxiter": max_iter, "ftol": tol * 1e-3, "gtol": 1e-9},
    )
    gate_params, expert_params = packer.unpack(result.x)
    # how much the best step L-BFGS tried after its last iterate gains on it
    # (-inf where it tried none, NaN from a NaN iterate)
    result.tried_gain = fun.tried - fun.start
    return gate_params, expert_params, history, result


def em_confirms(problem, gate_params, expert_params, tol) -> bool:
    """Whether one EM iteration from these parameters changes the objective by
    at most ``tol`` (EM's own stop test for a warm start): the verdict on a
    start where L-BFGS's line search failed at once. Large objectives (an
    outlying count with alpha=1, Gamma amounts near 1e8 at their dispersion
    floor) make the objective's rounding exceed L-BFGS's absolute ``gtol`` at
    the start's exact M-step optimum (EM's to 1e-9), where a
    ConvergenceWarning said that EM may fit better. (Counts times 1e150 still
    warn: EM's own first steps move that objective by its rounding.)
    A step to a NaN objective (EM's arithmetic overflowed) gains nothing, and
    the point stands, as where :func:`run_gradient` checks an L-BFGS stop by
    one EM step: EM's own test ends such a step unconverged, and this verdict
    differed from that one (``converged_`` alone)."""
    return _em_check(problem, gate_params, expert_params, tol)[0]


def _em_check(problem, gate_params, expert_params, tol) -> tuple[bool, float]:
    """:func:`em_confirms`' verdict, and the objective after its EM step."""
    check = run_em(problem, params=(gate_params, expert_params), max_iter=1, tol=tol)
    return check.converged or math.isnan(check.objective), check.objective


def _em_step_says(change: float, tol: float) -> str:
    """What an EM step that EM's test rejects does to the objective: its
    ``change`` per sample, a gain or a fall (a sparse gate's EM steps may
    lower the objective)."""
    if change > 0:
        return f"where an EM step gains {change:.2g} a sample, more than tol={tol:g}"
    if change < 0:
        return f"where an EM step lowers the objective by {-change:.2g} a sample"
    return f"where an EM step does not pass EM's test at tol={tol:g}"


#: Ratio of an expert's curvature scale (``ExpertFamily.curvature_scales``)
#: at the end of an L-BFGS run to its start beyond which L-BFGS runs again in
#: the new units, at most ``MAX_RESCALES`` times.
RESCALE_RATIO = 4.0
MAX_RESCALES = 5
#: An EM step that gains at most this many float spacings of the objective
#: confirms an L-BFGS stop (its change is rounding).
ROUNDING_STEPS = 16


def _rounding(problem, objective) -> float:
    """``ROUNDING_STEPS`` float spacings of ``objective`` in the problem's
    dtype: changes of the objective within them are rounding."""
    eps = float(problem.xp.finfo(problem.design.dtype).eps)
    return ROUNDING_STEPS * eps * abs(objective)


def _em_climb(problem, gate_params, expert_params, objective, max_steps, tol):
    """EM steps from ``objective``'s parameters (an L-BFGS stop of a sparse
    gate, where EM's steps may lower the objective), each taken while it gains
    more than ``tol`` (EM's stop test) and the objective's rounding: the last
    parameters, the steps' (log-likelihood, objective) records, and whether
    the climb ended at a step not taken (True: the solver's stop test, as
    where an EM step checks an L-BFGS stop; also where that step lowers the
    objective, which no step of either solver then raises) rather than at
    ``max_steps`` (False)."""
    climbed = []
    while len(climbed) < max_steps:
        step = run_em(problem, params=(gate_params, expert_params), max_iter=1, tol=tol)
        gain = step.objective - objective
        if step.converged or not gain > _rounding(problem, objective):
            return gate_params, expert_params, climbed, True
        gate_params, expert_params = step.gate_params, step.expert_params
        objective = step.objective
        climbed.append((step.log_likelihood, step.objective))
    return gate_params, expert_params, climbed, False


def run_gradient(
    problem: EMProblem,
    gate_params: Params,
    expert_params: Params,
    *,
    max_iter: int = 500,
    tol: float = 1e-5,
    balance_coef: float = 0.0,
    prune_threshold: float = 0.0,
    verbose: int = 0,
) -> FitResult:
    """Full-batch L-BFGS on the penalized log-likelihood (``solver="gradient"``).

    With ``prune_threshold``, L-BFGS runs in rounds of ``PRUNE_EVERY``
    iterations; after each round the least used expert is dropped if its share is
    below the threshold (L-BFGS then restarts, as its curvature pairs no longer
    fit the smaller parameter vector); a round that drops nothing doubles the
    next round's length. L-BFGS steps in units fixed at its start
    (:func:`curvature_units`); where it converged at an expert's curvature
    scale more than ``RESCALE_RATIO`` from the one it started at, it runs
    again from there in the new units.
    """
    log_likelihoods, objectives, n_iter, converged = [], [], 0, False
    round_length = PRUNE_EVERY if prune_threshold > 0 else max_iter
    rescaled, rerun_from = 0, None
    restart_from = None  # the objective of a top_k stop L-BFGS runs again from
    rejected_from = None  # the objective where EM rejected an ABNORMAL stop
    finished = ""  # why EM's finish (see below) ran to max_iter, where it knows
    # why EM's test holds the fit unconverged: a rerun from there gained
    # nothing, and EM rejected it too
    stuck = ""
    n_active = int(np.count_nonzero(to_numpy(problem.sample_weight)))
    while True:
        start_scales = curvature_scales(problem, expert_params)
        gate_params, expert_params, history, result = lbfgs(
            problem,
            gate_params,
            expert_params,
            max_iter=max(min(max_iter - n_iter, round_length), 1),
            tol=tol,
            balance_coef=balance_coef,
            verbose=verbose,
        )
        log_likelihoods += [h[0] for h in history]
        objectives += [h[1] for h in history]
        n_iter += result.nit
        converged = bool(result.success)
        if verbose >= 2:
            print(
                f"  L-BFGS: {result.nit} iterations, {_scipy_message(result.message)}"
            )
        with np.errstate(over="ignore", invalid="ignore"):  # as in lbfgs's fun
            # (its value: the objective L-BFGS maximizes, less the balance loss)
            ev = evaluate(
                problem, gate_params, expert_params, balance_coef=balance_coef
            )
        resp = e_step(problem, gate_params, expert_params)[1]
        # a run from a stop (fresh curvature pairs and units) that gained no
        # more than tol: with top_k or balance_coef, that stop stands,
        # converged, however this run ended
        fresh = (rerun_from is not None and ev.objective - rerun_from <= tol) or (
            restart_from is not None and ev.value - restart_from <= tol
        )
        if restart_from is not None and fresh:
            converged = True
        restart_from = None
        if rerun_from is not None and not converged:
            # a rerun that stalls at its start or runs out of iterations
            # without gaining: the run before it had converged (in float32 the
            # rerun's line search found no decrease at once, and
            # ConvergenceWarning advised more iterations)
            converged = result.nit == 0 or abs(ev.objective - rerun_from) <= tol
        rerun_from = None
        stuck = ""
        if rejected_from is not None and converged:
            # a run after an ABNORMAL stop that EM rejected, said to converge:
            # where it gained no more than tol, it is EM's verdict again (a
            # classifier with top_k=2 ended 290 nats below EM, converged_=True)
            if ev.objective - rejected_from <= tol:
                converged, checked = _em_check(problem, gate_params, expert_params, tol)
                if not converged:
                    stuck = "it stopped again, without gain, " + _em_step_says(
                        checked - ev.objective, tol
                    )
        rejected_from = None
        pruned = prune_smallest(
            problem, gate_params, expert_params, resp, prune_threshold
        )
        stalled = result.nit == 0 and pruned is None  # line search failed at once
        single = gate_params["coef"].shape[-1] == 1
        if stalled and not converged and n_iter == 0 and single:
            # one expert: its start is the M-step's optimum, not a saddle that
            # one EM step would leave too slowly to tell
            converged = em_confirms(problem, gate_params, expert_params, tol)
        elif (
            result.status == 2  # ABNORMAL: the line search found no decrease
            and result.nit > 0
            and not converged
            and pruned is None
            and balance_coef == 0  # (a loss EM does not see)
        ):
            # after some steps: in float32 the objective's rounding stopped
            # the line search at the optimum (float64 EM's to 3e-8 per
            # sample), and a ConvergenceWarning blamed top_k and unused experts
            converged = em_confirms(problem, gate_params, expert_params, tol)
            if not converged:
                rejected_from = ev.objective
        elif stalled and not converged and balance_coef:
            # a line search that failed at its start, with balance_coef, whose
            # loss no EM step checks: where none of the steps it tried gains
            # more than tol, the start is converged (EM's test, on the
            # objective L-BFGS maximizes). A warm start of a converged top_k=2
            # classifier at balance_coef=0.1 stalled at once, 1e-6 (L-BFGS's
            # units) from a jump of the routing that lowers it by 1.7e-3 a
            # sample; its 20 steps gained at most 1e-13, and it reported
            # converged_=False, n_iter_=0, empty histories. (An ABNORMAL stop
            # after some iterations runs L-BFGS again, whose line search is
            # the one judged: judged at the first, a classifier stopped 4
            # iterations short, where a warm start gained 1.8e-4 a sample.)
            converged = result.tried_gain <= tol
        elif converged and result.nit > 0 and pruned is None and balance_coef == 0:
            # L-BFGS's relative test on f stopped it where its steps had
            # shrunk, not at a maximum: a warm start on counts times 10 ended
            # 846 nats below the optimum (a saturated gate), converged_=True,
            # where one EM step gained 4.3. EM's own test decides; where the
            # step gains more than it allows, L-BFGS runs again from there
            # (fresh curvature pairs), within max_iter. A change within the
            # objective's rounding is no reason to go on (in float32, the
            # objectives near 150 to 400 of large counts moved by 2e-5 either
            # way, and a rerun ended ABNORMAL, converged_=False). With top_k
            # too: L-BFGS stopped at the edge of a jump of the routing (a
            # classifier's top_k=2 of 3: one sample's 2nd and 3rd logits 5e-9
            # apart, the gradient 0.05 in L-BFGS's units, 1e-8 along it 1.8e-3
            # a sample lower), converged_=True 290 nats below EM, where one EM
            # step gained 0.021 a sample. Its EM step may lower the objective
            # there: only a gain above tol moves the fit
            step = run_em(
                problem, params=(gate_params, expert_params), max_iter=1, tol=tol
            )
            rounding = _rounding(problem, ev.objective)
            # (a step to a NaN objective gains nothing: this point stands)
            gain = step.objective - ev.objective
            converged = step.converged or not gain > rounding
            if not converged:
                gate_params, expert_params = step.gate_params, step.expert_params
                with np.errstate(over="ignore", invalid="ignore"):
                    ev = evaluate(problem, gate_params, expert_params)
                log_likelihoods.append(ev.log_likelihood)
                objectives.append(ev.objective)
                n_iter += 1
        if pruned is not None and n_iter >= max_iter:
            # the last round's verdict stands: max_iter kept an unused expert
            # (usage 0.000 beside prune_threshold=0.2), as EM would not
            gate_params, expert_params = pruned
            with np.errstate(over="ignore", invalid="ignore"):
                ev = evaluate(problem, gate_params, expert_params)
            if objectives:  # the last iteration's record is the pruned model's,
                # as EM's record of an iteration that prunes
                log_likelihoods[-1], objectives[-1] = ev.log_likelihood, ev.objective
            converged = False  # the pruned model was not optimized
            break
        moved = False
        if start_scales is not None:
            ratio = curvature_scales(problem, expert_params) / start_scales
            # (an unused expert's drifts freely, and tells nothing)
            usage = problem.xp.sum(problem.normalized_weight[None, :] * resp, axis=1)
            used = np.asarray(to_numpy(usage), dtype=np.float64) * n_active >= 1.0
            moved = ~((1 / RESCALE_RATIO < ratio) & (ratio < RESCALE_RATIO)) & used
        if (
            converged
            and pruned is None
            and not stalled
            and rescaled < MAX_RESCALES
            and np.any(moved)
        ):
            # the experts' curvature moved far from the units L-BFGS stepped
            # in (the noise of sharp regimes fell from 0.5 to 1e-3: it
            # stopped at R^2 0.915 where EM reached 0.998): again, in new ones
            rescaled += 1
            converged = False
            rerun_from = ev.objective
        if (
            converged
            and not fresh
            and pruned is None
            and not stalled
            and n_iter < max_iter
            and (
                balance_coef or is_sparse(problem.top_k, gate_params["coef"].shape[-1])
            )
        ):
            # with top_k, L-BFGS stopped (by its test on f, and one EM step
            # gains no more than tol) where a run from there, in units and
            # curvature pairs of its own, may still climb: a classifier's
            # top_k=2 of 3 (3 of seeds 0 to 15) reported converged_=True where
            # a warm start of the same solver gained 0.38 nats (2.5e-4 a
            # sample) in 10 iterations. It runs again; the stop stands where
            # that run gains no more than tol. With balance_coef too (dense
            # gates included), on the value L-BFGS maximizes: its loss jumps
            # where a row's top-1 expert changes, and no EM step checks these
            # stops (7 of 78 converged fits, one dense, were climbed by a warm
            # refit by 5.8e-5 to 0.042 a sample)
            restart_from = ev.value
            converged = False
        if (
            (stalled or stuck)
            and not converged
            and pruned is None
            and n_iter < max_iter
            and not balance_coef
            and is_sparse(problem.top_k, gate_params["coef"].shape[-1])
        ):
            # L-BFGS cannot climb from here, and EM's finish (after the loop)
            # is for dense gates: with top_k, EM steps are taken while each
            # gains more than tol, then L-BFGS runs again from their end (a
            # classifier's top_k=2 of 3 ended 289 to 291 nats below EM from
            # the same start, converged_=False, for 7 of 16 seeds; now 1.6 to 5.9
            # above). Where the first step gains no more, the stop stands,
            # converged, as where an EM step checks a CONVERGENCE stop (which
            # said so where the step fell, and a failed line search there
            # said converged_=False; seed 2 of those 16 ended converged_=True
            # 7.5 nats below EM, its step 1.6e-3 a sample lower): no step of
            # L-BFGS or EM raises the objective by more than tol there
            gate_params, expert_params, climbed, converged = _em_climb(
                problem,
                gate_params,
                expert_params,
                ev.objective,
                max_iter - n_iter,
                tol,
            )
            if climbed:
                with np.errstate(over="ignore", invalid="ignore"):
                    ev = evaluate(problem, gate_params, expert_params)
                log_likelihoods += [c[0] for c in climbed]
                objectives += [c[1] for c in climbed]
                n_iter += len(climbed)
                stalled, stuck = False, ""
                if n_iter < max_iter:
                    continue
            else:  # (the solver's verdict: no message)
                stuck = ""
        if n_iter >= max_iter or stalled or stuck or (pruned is None and converged):
            break
        if pruned is not None:
            gate_params, expert_params = pruned
            round_length = PRUNE_EVERY
        else:  # nothing left to prune: let L-BFGS keep its memory longer
            round_length *= 2
    n_experts = gate_params["coef"].shape[-1]
    if (
        (stalled or stuck)
        and not converged
        and n_iter < max_iter
        and not balance_coef
        and not is_sparse(problem.top_k, n_experts)
    ):
        # L-BFGS cannot climb from here, where EM's steps gain (in float32
        # its line search lost to the objective's rounding: 9 of 20 fits of
        # 3 experts stopped before max_iter, up to 0.03 nats a sample below
        # EM's optimum, converged_=False; benchmarks/float32_gradient.py): EM
        # finishes the fit, within max_iter. (Not with a sparse gate, whose EM
        # steps may lower the objective: finishes from the stops of a top_k=2
        # classifier ended 0.005 to 0.007 nats a sample below them,
        # converged_=True.)
        finish = run_em(
            problem,
            params=(gate_params, expert_params),
            max_iter=max_iter - n_iter,
            tol=tol,
            verbose=verbose,
            prune_threshold=prune_threshold,
        )
        pruned_in_em = finish.gate_params["coef"].shape[-1] < n_experts
        rounding = _rounding(problem, ev.objective)
        if pruned_in_em or finish.objective >= ev.objective - rounding:
            gate_params, expert_params = finish.gate_params, finish.expert_params
            with np.errstate(over="ignore", invalid="ignore"):
                ev = evaluate(problem, gate_params, expert_params)
            log_likelihoods += finish.log_likelihood_history
            objectives += finish.objective_history
            n_iter += finish.n_iter
            converged, stuck = finish.converged, ""
            # (its objective's changes were rounding: see _em.ROUNDING_ULPS)
            finished = finish.message
    if objectives and objectives[-1] != ev.objective:
        # the last record is the returned model's: EM's own value of a
        # finish differed from evaluate's in the last digit (a hierarchical
        # gate's), and a stall right after a pruning round returns the pruned
        # model, recorded before it was pruned
        log_likelihoods[-1], objectives[-1] = ev.log_likelihood, ev.objective
    if n_iter == 0 and converged:
        # L-BFGS stopped at its start, where the gradient vanished (one expert
        # starts at its M-step's optimum): that evaluation is the one iteration,
        # as EM's first iteration confirms its start
        n_iter = 1
        log_likelihoods, objectives = [ev.log_likelihood], [ev.objective]
    message = "" if converged else finished
    # (SciPy's CONVERGENCE of a rerun that EM rejected is not the verdict)
    reason = stuck or _scipy_message(result.message)
    if not converged and n_iter < max_iter:
        message = (
            f"L-BFGS stopped after {n_iter} of max_iter={max_iter} iterations "
            "(the EM steps that check or continue its stops included) "
            f"({reason}); more iterations would not "
            "help. The objective "
            "is not smooth where top_k or balance_coef switch experts, and flat "
            "where an expert is unused: solver='em', a larger alpha or fewer "
            "experts may fit better"
        )
    return FitResult(
        gate_params,
        expert_params,
        ev.log_likelihood,
        ev.objective,
        log_likelihoods,
        objectives,
        n_iter,
        converged,
        message=message,
    )


def _scipy_message(message) -> str:
    """L-BFGS-B's stop message, whose "ABNORMAL: " comes without its reason."""
    text = str(message).strip().rstrip(":").strip()
    if text == "ABNORMAL":
        return "ABNORMAL: the line search found no decrease"
    return text
