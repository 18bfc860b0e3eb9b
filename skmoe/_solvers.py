"""The one place that knows the solvers: options, compatibility, dispatch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._em import EMProblem, FitResult, initial_params, run_em
from ._gradient import em_confirms, run_gradient
from ._sgd import all_rows, held_out_rows, run_sgd, without_rows
from ._sparse import is_sparse

SOLVERS = ("em", "gradient", "sgd")


@dataclass(frozen=True)
class SolverOptions:
    """Solver settings taken from the estimator's parameters (immutable)."""

    solver: str = "em"
    assignment: str = "soft"
    acceleration: str | None = None
    max_iter: int = 500
    tol: float = 1e-5
    verbose: int = 0
    prune_threshold: float = 0.0
    balance_coef: float = 0.0
    batch_size: int | str = "auto"
    learning_rate: float = 0.01
    validation_fraction: float = 0.1
    n_iter_no_change: int = 5
    noisy_gating: bool = False


def _check_acceleration(options: SolverOptions, top_k, n_experts: int, auto: bool):
    """Raise a ValueError where ``acceleration`` cannot run: SQUAREM
    extrapolates EM's iterates and keeps a point only where the objective did
    not fall, which EM with ``top_k`` and classification EM do not promise
    (``auto``: ``n_experts`` is a candidate of ``n_experts="auto"``)."""
    name = f"acceleration={options.acceleration!r}"
    if options.solver != "em":
        raise ValueError(
            f"{name} accelerates EM; got solver={options.solver!r}. Use "
            "solver='em', or acceleration=None for the gradient solvers."
        )
    if options.assignment == "hard":
        raise ValueError(
            f"{name} cannot be used with assignment='hard': classification EM "
            "changes its assignments in jumps, which extrapolation does not "
            "follow. Set acceleration=None."
        )
    if is_sparse(top_k, n_experts):
        experts = (
            f"{n_experts} experts (a candidate of n_experts='auto')"
            if auto
            else f"n_experts={n_experts}"
        )
        raise ValueError(
            f"{name} cannot be used with top_k={top_k} < {experts}: EM with "
            "a truncated E-step can lower the objective, by which SQUAREM keeps "
            "or rejects its steps. Set acceleration=None or top_k=None."
        )


def check_solver_options(
    options: SolverOptions, gate: str, top_k, n_experts: int, auto: bool = False
):
    """Raise a ValueError for combinations that have no meaning.

    ========================  ====  ========  ===
    option                    em    gradient  sgd
    ========================  ====  ========  ===
    top_k (softmax gate)      yes   yes       yes
    top_k=1 (of several)      yes   no        no
    top_k (constant gate)     no    no        no
    gate="gaussian"           yes   no        no
    prune_threshold (*)       yes   yes       yes
    balance_coef > 0          no    yes       yes
    noisy_gating              no    no        yes
    assignment="hard"         yes   no        no
    acceleration              yes   no        no
    ========================  ====  ========  ===

    ``acceleration`` not with ``top_k`` or ``assignment="hard"`` either.

    (*) not with ``gate="hierarchical"``, whose groups depend on the number
    of experts.

    A constant gate gives every sample the same top k experts, so top-k gating
    would silently turn a K-expert model into a k-expert one (``top_k >=
    n_experts``, which drops nothing, is accepted). With ``top_k=1`` the
    likelihood depends on which expert is on top, not on the gate's values (the
    selected one's weight, renormalized, is 1): its gradient in the gate is 0,
    and the gradient solvers never trained the gate (on XOR, accuracy 0.63
    with Adam against 0.985 with ``top_k=2``). ``auto``: ``n_experts`` is
    one of ``n_experts="auto"``'s candidates, which the message then names.
    """
    if gate == "constant" and is_sparse(top_k, n_experts) and auto:
        raise ValueError(
            f"top_k={top_k} has no meaning with gate='constant' and "
            f"n_experts='auto', whose candidates include {n_experts} experts: the "
            "gate is the same for every sample, so every sample would keep the same "
            "top_k experts. Use gate='softmax', or leave top_k=None."
        )
    if gate == "constant" and is_sparse(top_k, n_experts):
        raise ValueError(
            f"top_k={top_k} < n_experts={n_experts} has no meaning with "
            "gate='constant': the gate is the same for every sample, so every sample "
            "would keep the same top_k experts. Use gate='softmax', or set "
            "n_experts=top_k."
        )
    if top_k == 1 and is_sparse(top_k, n_experts) and options.solver != "em":
        candidates = " (a candidate of n_experts='auto')" if auto else ""
        raise ValueError(
            f"top_k=1 with solver={options.solver!r} and {n_experts} experts"
            f"{candidates} would never train the gate: each sample's one selected "
            "expert has weight 1, so the likelihood does not depend on the gate's "
            "values and its gradient in them is 0. Use solver='em' (whose "
            "truncated E-step fits the gate) or top_k >= 2."
        )
    if gate == "hierarchical" and options.prune_threshold > 0:
        raise ValueError(
            f"prune_threshold={options.prune_threshold:g} cannot be used with "
            "gate='hierarchical', whose groups of experts are fixed by their "
            "number. Set prune_threshold=0 "
            "and choose n_experts (n_experts='auto', GridSearchCV), or use "
            "gate='softmax' to prune."
        )
    if options.acceleration is not None:
        _check_acceleration(options, top_k, n_experts, auto)
    if gate == "gaussian" and options.solver != "em":
        raise ValueError(
            f"gate='gaussian' is fitted by EM only (its M-step is closed form); "
            f"got solver={options.solver!r}. Use solver='em', or gate='softmax' "
            "for the gradient solvers."
        )
    if options.assignment == "hard" and options.solver != "em":
        raise ValueError(
            "assignment='hard' (classification EM) is a variant of EM; got "
            f"solver={options.solver!r}. Use solver='em', or assignment='soft' "
            "for the gradient solvers."
        )
    # the gaussian gate is EM's alone: the remedy names a gate the others fit
    softmax = "gate='softmax' with " if gate == "gaussian" else ""
    if options.balance_coef > 0 and options.solver == "em":
        raise ValueError(
            f"balance_coef={options.balance_coef:g} adds a loss that EM does not "
            f"optimize; got solver='em'. Use {softmax}solver='gradient' or "
            "solver='sgd', or set balance_coef=0."
        )
    if options.noisy_gating and options.solver != "sgd":
        raise ValueError(
            f"noisy_gating=True needs {softmax}solver='sgd' (the noise is drawn "
            f"per mini-batch); got solver={options.solver!r}."
        )


def solve(
    problem: EMProblem,
    options: SolverOptions,
    *,
    resp=None,
    params=None,
    random_state: np.random.RandomState | None = None,
    overwrite_resp: bool = False,
) -> FitResult:
    """One run of ``options.solver`` from responsibilities ``resp`` or ``params``.

    Every solver starts from the same point: given responsibilities, the EM
    initial M-step; so EM, L-BFGS and Adam from one start are comparable.
    With ``overwrite_resp``, EM may overwrite ``resp`` (see ``run_em``).
    ``solver="sgd"`` takes that M-step without the rows early stopping holds
    out, as ``MLPClassifier(early_stopping=True)`` splits before it fits (their
    scores would favour a start fitted to them): those ``problem`` holds out
    already (a :class:`~skmoe._sgd.TrainingRows`, whose responsibilities came
    without them too), or else the first draw of ``random_state``.
    """
    if options.solver == "em":
        return run_em(
            problem,
            resp=resp,
            params=params,
            max_iter=options.max_iter,
            tol=options.tol,
            verbose=options.verbose,
            prune_threshold=options.prune_threshold,
            assignment=options.assignment,
            acceleration=options.acceleration,
            overwrite_resp=overwrite_resp,
        )
    start, held_out = problem, None
    if options.solver == "sgd":
        random_state = random_state or np.random.RandomState(0)
        problem, held_out = all_rows(problem)  # (start: the training rows')
        if held_out is None:
            held_out = held_out_rows(problem, options.validation_fraction, random_state)
            start = without_rows(problem, held_out) if held_out.shape[0] else problem
    gate_params, expert_params = (
        initial_params(start, resp) if params is None else params
    )
    if options.solver == "gradient":
        return run_gradient(
            problem,
            gate_params,
            expert_params,
            max_iter=options.max_iter,
            tol=options.tol,
            balance_coef=options.balance_coef,
            prune_threshold=options.prune_threshold,
            verbose=options.verbose,
        )
    result = run_sgd(
        problem,
        gate_params,
        expert_params,
        random_state=random_state,
        max_iter=options.max_iter,
        tol=options.tol,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        n_iter_no_change=options.n_iter_no_change,
        balance_coef=options.balance_coef,
        noisy_gating=options.noisy_gating,
        prune_threshold=options.prune_threshold,
        verbose=options.verbose,
        held_out=held_out,
    )
    if (
        params is not None
        and result.message  # no epoch improved on the start, which it kept
        and options.balance_coef == 0  # (a loss EM does not see)
        and not options.noisy_gating
        and em_confirms(problem, result.gate_params, result.expert_params, options.tol)
    ):
        # a warm start from an optimum (EM's) that Adam cannot improve on is
        # converged, as EM's and L-BFGS's warm starts say; it was reported
        # as not, with advice to use solver='em'
        result.converged, result.message = True, ""
    return result
