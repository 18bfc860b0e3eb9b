"""Mini-batch Adam on the joint likelihood (``solver="sgd"``) and ``partial_fit``.

Each step evaluates :func:`skmoe._gradient.evaluate` on a mini-batch (weights
normalized within the batch, so ``alpha`` keeps its per-sample meaning; with
unequal weights, the data's part rescaled so that the step is unbiased, see
:func:`batch_weight_scales`) and takes an Adam step (Kingma & Ba 2015) in the
packed, unconstrained parametrization of :class:`~skmoe._gradient.Packer`
(floored parameters in log space, clipped at their floor). Optional noisy top-k
gating (Shazeer et al. 2017) adds ``eps * softplus(x~ . u_k)``, eps ~ N(0, 1), to
the gate logits during training; the noise coefficients ``u`` are learned too and
prediction uses the clean gate.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import to_numpy
from ._em import (
    EMProblem,
    FitResult,
    continued,
    e_step,
    objective,
    prune_smallest,
)
from ._gradient import Packer, evaluate, parameter_units
from ._math import device, take_last
from .experts import LogisticExperts

Array = Any

BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8
#: Fewest rows whose spreads fix the parameter units of ``partial_fit``,
#: counted as Kish's effective number (:func:`effective_rows`; the rows of
#: positive weight where all weigh the same); smaller batches add their rows to
#: the spreads of the rows seen so far (one row has no spread) until as many
#: have been seen.
UNIT_ROWS = 50
#: Rows after which the units are fixed even where a feature has shown no
#: spread yet (a constant column): until then such a feature keeps them open.
UNIT_ROWS_CAP = 100 * UNIT_ROWS
#: Rows seen (Kish's effective number) from which Adam's units are their
#: spreads' (two rows whose weights differ by up to 2 + sqrt(3) times); 1 for
#: one row, and geometrically between (see :func:`_units`).
ONE_ROW_SPAN = 1.5
#: Nats per unit weight by which a ``partial_fit`` epoch may lower its own
#: batch's penalized objective before the stream warns that ``learning_rate``
#: is too large (the step is kept). Across 7 data sets (regressors, classifiers,
#: counts) and batches of 1 to 200 rows, the largest drop of one epoch was
#: 0.094 at the default ``learning_rate`` and 0.73 at 0.1, and at least 5.1 at
#: 100 and above (a regressor at 1e3 ended at R^2 -1.8e5 without a word); a
#: Gamma stream of single rows at 0.1 lost 22 in one step (D^2 -0.14, 0.27 at
#: the default): warned, rightly.
OVERSHOOT_NATS = 2.0
#: Ratio of the noise a ``partial_fit`` batch shows (its residuals' at the
#: model's means) to the experts' fixed target unit above which the unit is
#: taken again (see :func:`follow_noise`; its rows' median squared residual
#: must also exceed a Gaussian's at this many units). A batch of ``UNIT_ROWS``
#: rows whose mean squared residual is 16 times the noise is no chance of the
#: model's.
NOISE_GROWTH = 4.0
#: The smallest factor :func:`batch_weight_scales` gives a batch with a row of
#: positive weight: float64's machine epsilon, so that ``alpha / scale`` and
#: ``balance_coef / scale`` stay finite; the batch's log-likelihood then counts
#: at most that much more than its share of the weight.
SCALE_FLOOR = float(np.finfo(np.float64).eps)


@dataclass
class SGDState:
    """What ``partial_fit`` carries between calls: Adam moments and noise weights."""

    first: np.ndarray | None = None
    second: np.ndarray | None = None
    n_steps: int = 0
    noise_coef: np.ndarray | None = None
    #: the packer's parameter units (``_gradient.parameter_units``), fixed once
    #: ``UNIT_ROWS`` rows have been seen so that the Adam moments keep one
    #: coordinate system (None: recomputed from the next batch)
    units: tuple | None = None
    #: the weighted moments (weight, mean, sum of squared deviations) of the
    #: gate's and the experts' design rows over the batches seen until then,
    #: the sum of their squared weights, and their effective number
    #: (:func:`effective_rows`): a stream of small batches once took the
    #: units of each batch's own spread, and two rows close together gave
    #: steps so long that the rates reached 1e25 (D^2 -1e8)
    moments: tuple | None = None
    square_weight: float = 0.0
    rows_seen: float = 0.0


def held_out_rows(problem, validation_fraction: float, random_state):
    """The sorted rows early stopping holds out: ``validation_fraction`` of those
    of positive weight (zero-weight rows would score nothing), rounded, drawn by
    one permutation from ``random_state`` (drawn even where none are held out).
    Raises where they would be all of them.

    For logistic experts (a classifier), per class, as scikit-learn's
    ``MLPClassifier`` splits (``train_test_split(stratify=y)``), and never a
    class's last row: held out at random, a rare class's rows all went to
    validation in 3 of 40 draws, and the model never saw it (a probability of
    1e-5 at its own rows, where EM gives 0.12). A class too small for its
    share keeps its last row, and the total can then fall short of
    ``validation_fraction`` (callers take the count held out)."""
    positive = np.flatnonzero(to_numpy(problem.sample_weight) > 0)
    n_valid = held_out_count(positive.shape[0], validation_fraction)
    order = random_state.permutation(positive)
    if n_valid == 0 or not isinstance(problem.experts, LogisticExperts):
        return np.sort(order[:n_valid])
    classes = np.argmax(to_numpy(problem.Y), axis=0)[order]
    labels, first, sizes = np.unique(classes, return_index=True, return_counts=True)
    # n_valid in all, in proportion to the classes' sizes: the floors, then one
    # more for the largest remainders (scikit-learn's stratified splits' rule),
    # in integers; equal remainders by the class drawn first in `order`, not by
    # the labels' order: 150 rows of classes 66/38/46 with 15 held out (0.6
    # over twice) held out another row when the labels were permuted, and
    # sgd's fit stopped after 6 epochs instead of 20 (probabilities 0.55 apart)
    counts, remainders = np.divmod(n_valid * sizes, positive.shape[0])
    extra = np.lexsort((first, -remainders))[: n_valid - counts.sum()]
    counts[extra] += 1
    counts = np.minimum(counts, sizes - 1)  # each class keeps a row to train on
    held = [
        order[classes == label][:count]
        for label, count in zip(labels, counts, strict=True)
    ]
    return np.sort(np.concatenate(held))


def held_out_count(n_positive: int, validation_fraction: float) -> int:
    """How many of ``n_positive`` rows of positive weight early stopping holds
    out; raises where that leaves none to train on."""
    n_valid = int(round(validation_fraction * n_positive))
    if n_valid >= n_positive:
        raise ValueError(
            f"validation_fraction={validation_fraction} holds out all "
            f"{n_positive} samples of positive weight, leaving none to "
            "train on; lower it (0 watches the training objective)."
        )
    return n_valid


@dataclass(frozen=True)
class TrainingRows(EMProblem):
    """An :class:`EMProblem` whose rows held out for early stopping weigh 0, so
    that the start of ``solver="sgd"`` is computed without them, as
    ``MLPClassifier(early_stopping=True)`` splits before fitting: whatever
    takes the start from it (k-means, the hierarchical gate's flat fit, the
    first M-step) sees the training rows only. :func:`~skmoe._solvers.solve`
    gives :func:`run_sgd` the problem of all rows back (:func:`all_rows`), whose
    held-out rows score the start and the epochs. Made by :func:`without_rows`.
    """

    #: the weights of all rows (the held-out ones' too)
    full_weight: Array = None
    #: the held-out rows, sorted
    held_out: np.ndarray | None = None


def _fields(problem: EMProblem) -> dict:
    return {f.name: getattr(problem, f.name) for f in dataclasses.fields(EMProblem)}


def without_rows(problem: EMProblem, rows: np.ndarray) -> TrainingRows:
    """``problem`` with the weights of ``rows`` (held out) set to 0, as removed."""
    xp, weight = problem.xp, problem.sample_weight
    keep = np.ones(weight.shape[0], dtype=bool)
    keep[rows] = False
    keep = xp.asarray(keep, device=device(weight))
    fields = _fields(problem)
    fields["sample_weight"] = xp.where(keep, weight, xp.zeros_like(weight))
    return TrainingRows(**fields, full_weight=weight, held_out=rows)


def all_rows(problem: EMProblem) -> tuple[EMProblem, np.ndarray | None]:
    """The problem of all rows and the held-out ones, for a
    :class:`TrainingRows` problem; ``problem`` and None for another."""
    if not isinstance(problem, TrainingRows):
        return problem, None
    fields = _fields(problem)
    fields["sample_weight"] = problem.full_weight
    return EMProblem(**fields), problem.held_out


def _subproblem(problem: EMProblem, index: np.ndarray) -> EMProblem:
    xp = problem.xp
    index = xp.asarray(index, device=device(problem.design))
    own_gate_design = problem.own_gate_design
    return EMProblem(
        take_last(xp, problem.design, index),
        take_last(xp, problem.Y, index),
        take_last(xp, problem.sample_weight, index),
        problem.gate,
        problem.experts,
        problem.alpha,
        problem.top_k,
        None if own_gate_design is None else take_last(xp, own_gate_design, index),
    )


def noisy_logit_offset(noise_coef, design, eps):
    """``eps * softplus(u_k . x~)``, (K, n), and the pre-activation ``u_k . x~``."""
    pre = noise_coef.T @ design
    return eps * np.logaddexp(0.0, pre), pre


def noise_coef_gradient(design, dlogits, eps, pre):
    """Chain rule from the gradient on the logits to the noise coefficients u."""
    return design @ (dlogits * eps * (0.5 + 0.5 * np.tanh(0.5 * pre))).T


#: ``batch_size="auto"``: at least ``AUTO_STEPS`` Adam steps per epoch (from
#: ``AUTO_STEPS * AUTO_BATCH_MIN`` rows up), batches of
#: ``AUTO_BATCH_MIN`` to ``AUTO_BATCH_MAX`` rows. On regime data (3 experts, test
#: R^2, 2 seeds) 256 rows gave 0.81 and 0.42 at 300 samples (one or two steps an
#: epoch), "auto" 0.88 and 0.89; the same at 3000 samples.
AUTO_BATCH_MAX, AUTO_BATCH_MIN, AUTO_STEPS = 256, 16, 10


def resolve_batch_size(batch_size: int | str, n_rows: int) -> int:
    """The mini-batch size for an epoch over ``n_rows`` rows."""
    if batch_size == "auto":
        return int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, n_rows // AUTO_STEPS)))
    return int(batch_size)


def sgd_epoch(
    problem: EMProblem,
    gate_params,
    expert_params,
    state: SGDState,
    rng: np.random.RandomState,
    *,
    batch_size: int | str,
    learning_rate: float,
    balance_coef: float,
    noisy_gating: bool,
    index: np.ndarray | None = None,
    before: list | None = None,
):
    """One pass of Adam over ``index`` (default: all samples) in random batches.

    ``before``: a list to which each step appends its batch's penalized
    objective (per unit weight, without the balance loss) before the step.
    """
    xp = problem.xp
    packer = Packer(
        problem, gate_params, expert_params, units=_units(problem, expert_params, state)
    )
    theta = packer.pack(gate_params, expert_params)
    if state.first is None or state.first.shape != theta.shape:
        state.first, state.second, state.n_steps = (
            np.zeros_like(theta),
            np.zeros_like(theta),
            0,
        )
    if noisy_gating and state.noise_coef is None:
        state.noise_coef = np.zeros(tuple(gate_params["coef"].shape))
    bounds = packer.bounds()
    lower = np.array([-np.inf if low is None else low for low, _ in bounds])
    upper = np.array([np.inf if high is None else high for _, high in bounds])
    index = np.arange(problem.design.shape[1]) if index is None else index
    order = rng.permutation(index)
    batch_size = resolve_batch_size(batch_size, order.shape[0])
    batches = [
        np.sort(order[start : start + batch_size])
        for start in range(0, order.shape[0], batch_size)
    ]
    weight = to_numpy(problem.sample_weight).astype(np.float64)
    scales = batch_weight_scales(weight, batches)
    for rows, scale in zip(batches, scales, strict=True):
        if scale == 0:  # no row of positive weight
            continue
        # the batch's log-likelihood per unit weight, times ``scale``, less the
        # penalty (and balance loss): as ``evaluate``'s objective at
        # alpha / scale, times scale
        batch = _subproblem(problem, rows)
        if scale != 1.0:
            batch = dataclasses.replace(batch, alpha=problem.alpha / scale)
        gate, experts = packer.unpack(theta)
        noise = None
        if noisy_gating:
            design = to_numpy(batch.gate_design).astype(np.float64)
            eps = rng.standard_normal((state.noise_coef.shape[1], design.shape[1]))
            offset, pre = noisy_logit_offset(state.noise_coef, design, eps)
            noise = xp.asarray(offset, dtype=packer.dtype, device=packer.device)
        ev = evaluate(
            batch, gate, experts, balance_coef=balance_coef / scale, logit_noise=noise
        )
        if before is not None:
            before.append(_batch_objective(batch, ev, scale))
        grad = packer.pack_gradient(ev, experts) * scale
        theta = _adam(theta, grad, state, learning_rate)
        theta = np.clip(theta, lower, upper)
        if noisy_gating:
            dlogits = to_numpy(ev.dlogits).astype(np.float64) * scale
            noise_grad = noise_coef_gradient(design, dlogits, eps, pre)
            # a gradient step in the packer's units (as the gate coefficients'),
            # so that the noise too does not depend on the features' scales
            rows = packer.units[0][:, None]
            state.noise_coef = state.noise_coef + learning_rate * rows**2 * noise_grad
    return packer.unpack(theta)


def batch_weight_scales(weight: np.ndarray, batches: list) -> list[float]:
    """Each mini-batch's mean positive weight over that of all its rows, 0 for
    a batch without one: the factor on its log-likelihood per unit weight.

    Given how many rows of positive weight a batch holds, they are a random
    draw of the epoch's, so its weighted mean of the log-likelihood's
    gradient, times its mean weight over theirs, has the mean of the
    gradient on all the rows: the step is unbiased. The weighted mean alone
    is not where the weights differ: on 400 rows of lognormal weights (sigma
    1.5) Adam settled 5.3e-3 nats per sample below EM's optimum at learning
    rate 0.001 (6e-3 at 0.01), 3e-6 with the factor. Equal weights (and 0),
    and a batch of all the rows, give 1. A positive factor is at least
    ``SCALE_FLOOR``: the step evaluates the penalty at ``alpha / scale``, and
    rows of weight 1e-300 beside rows of 1e10 gave a factor of 5e-309, an
    infinite ``alpha / scale`` and NaN parameters after the first epoch.
    """
    sizes = np.array([rows.shape[0] for rows in batches], dtype=np.intp)
    part = weight[np.concatenate(batches)] if batches else weight[:0]
    positive = part > 0
    if not np.any(positive):
        return [0.0] * len(batches)
    batch_of_row = np.repeat(np.arange(len(batches)), sizes)
    counts = np.bincount(batch_of_row, weights=positive, minlength=len(batches))
    values = part[positive]
    if np.all(values == values[0]) or len(batches) == 1:
        return [1.0 if count else 0.0 for count in counts]
    top = float(np.max(values))  # (no overflow in the sums)
    sums = np.bincount(
        batch_of_row,
        weights=np.where(positive, part / top, 0.0),
        minlength=len(batches),
    )
    mean = float(np.mean(values / top))
    scales = np.zeros(len(batches))
    held = counts > 0
    scales[held] = np.maximum(sums[held] / counts[held] / mean, SCALE_FLOOR)
    return scales.tolist()


def _batch_objective(batch, ev, scale: float) -> float:
    """The batch's penalized objective per unit weight (without the balance
    loss) from ``evaluate`` at ``batch.alpha``, which is ``alpha / scale``."""
    if scale == 1.0:
        return float(ev.objective)
    per_weight = ev.log_likelihood / batch.total_weight
    return per_weight - scale * (per_weight - float(ev.objective))


def _units(problem, expert_params, state: SGDState):
    """The parameter units of an epoch: ``state.units`` once fixed; else, for a
    first batch of ``UNIT_ROWS`` rows or more (by :func:`effective_rows`),
    None (the packer takes this batch's, and they are kept); else those of
    the rows seen so far (see ``SGDState.moments``), kept once they number
    ``UNIT_ROWS`` and every feature has varied among them (or
    ``UNIT_ROWS_CAP`` rows have been seen), 1 where they number 1, going over
    to the spreads' up to ``ONE_ROW_SPAN``: a
    feature of scale 1e3 that was 0 in a first batch of 100 rows kept unit 1,
    and its steps were 1e3 times too long for good (test R^2 -0.08 against
    0.97)."""
    if state.units is not None:
        return state.units
    weight = to_numpy(problem.sample_weight).astype(np.float64)
    own = problem.own_gate_design
    designs = [problem.design] + ([] if own is None else [own])
    if (
        state.moments is None
        and _enough(effective_rows(weight))
        and all(np.all(problem.row_spreads(d)[1:] > 0) for d in designs)
    ):
        state.units = parameter_units(problem, expert_params)
        return state.units
    moments = [
        _moments(to_numpy(design).astype(np.float64), weight) for design in designs
    ]
    if state.moments is not None:
        moments = [_combine(a, b) for a, b in zip(state.moments, moments, strict=True)]
    state.moments = moments
    state.square_weight += float(np.sum(weight**2))
    total = moments[0][0]
    if np.isfinite(total**2) and np.isfinite(state.square_weight):
        state.rows_seen = total**2 / state.square_weight if total > 0 else 0.0
    else:  # weights above 1e154: the batches' own numbers, summed
        state.rows_seen += effective_rows(weight)
    expert_rows = _spread_units(moments[0], problem.alpha)
    gate_rows = expert_rows if own is None else _spread_units(moments[1], problem.alpha)
    if state.rows_seen < ONE_ROW_SPAN:
        # about one row by the effective number: no spread, as of one row. A
        # first batch of 50 rows whose weight sat on one (1e4 against 1e-3)
        # had the spreads of the light rows scaled by 1e-5: units 250 times
        # too long, and Adam's first epoch set the gate's coefficients to 8
        # from one row (R^2 -0.92, still -0.39 after 3 epochs). From 1 to
        # ONE_ROW_SPAN rows, the units go over to the spreads' geometrically
        # (continuous in the weights): a cut at 2 gave two rows weighing 1 and
        # 1.01 units 1, those weighing 1 and 1 their spreads (a stream's R^2
        # 0.26 against -0.80), and two rows weighing 2 and 1 other units than
        # the same rows with the first repeated.
        share = max(state.rows_seen - 1.0, 0.0) / (ONE_ROW_SPAN - 1.0)
        expert_rows, gate_rows = expert_rows**share, gate_rows**share
    target = problem.experts.target_scale(problem.xp, expert_params)
    units = (gate_rows, expert_rows, target)
    varied = all(np.all(m[2][1:] > 0) for m in moments)
    if _enough(state.rows_seen) and (varied or _enough(state.rows_seen, UNIT_ROWS_CAP)):
        # the moments stay: after a reset of the units (the noise or the rates
        # set again, ``units=None``), they go on from all the rows seen, where
        # starting again from one row blew a Poisson stream up (means of 3e12)
        state.units = units
    return units


def effective_rows(weight) -> float:
    """Kish's effective number of rows of ``weight``, ``(sum w)^2 / sum w^2``:
    the number of rows of positive weight where all weigh the same, fewer where
    a few weigh most. Adam's units (:func:`_units`) are the spreads of the
    rows seen, weighted, and a ``partial_fit`` start is fitted where its
    batch has rows enough: counted by rows of positive weight, a stream of
    50-row batches whose rows weighed 1e4 (5%) or 1e-3 took both from 2 or 3
    rows (feature units 7 times too long, the target's 300 times too short,
    drops of 100 nats in a step) and ended at R^2 0.05, where EM on the same
    weights scores 0.95; 0.94 counted by this number."""
    weight = np.asarray(weight, dtype=np.float64)
    weight = weight[weight > 0]
    if weight.size == 0 or np.all(weight == weight[0]):
        return float(weight.size)  # (exactly, as the count of rows)
    weight = weight / np.max(weight)  # (no overflow in the squares)
    rows = float(np.sum(weight)) ** 2 / float(np.sum(weight**2))
    # weights equal but for rounding count their rows, as equal ones: 35 rows
    # weighing 0.1, one of them 0.1 * (1 + 1e-9), gave 34.999999999999986,
    # and online EM kept a first batch that 35 rows of 0.1 fitted (7
    # parameters: 35 rows needed), ending with slopes 0.52 and 0.63 for -1, 2
    return float(weight.size) if rows > weight.size * (1 - 1e-9) else rows


def _enough(rows: float, needed: int = UNIT_ROWS) -> bool:
    """Whether an effective number of rows reaches ``needed``, up to rounding
    (equal weights: exactly where their count does)."""
    return rows >= needed * (1 - 1e-9)


def _moments(design, weight):
    """(weight, mean, sum of squared deviations) of each row of ``design``."""
    total = float(np.sum(weight))
    mean = design @ weight / total if total > 0 else np.zeros(design.shape[0])
    return total, mean, (design - mean[:, None]) ** 2 @ weight


def _combine(a, b):
    """The moments of two sets of rows from theirs (Chan et al.)."""
    total = a[0] + b[0]
    if total <= 0:
        return a
    delta = b[1] - a[1]
    mean = a[1] + delta * b[0] / total
    return total, mean, a[2] + b[2] + delta**2 * a[0] * b[0] / total


def _spread_units(moments, alpha):
    """:func:`spread_units` of the design rows' moments."""
    total, _, squares = moments
    return spread_units(squares / total if total > 0 else np.zeros_like(squares), alpha)


def spread_units(spread, alpha):
    """``1 / sqrt(spread_j + alpha)`` per design row from its variance, 1 for the
    intercept (row 0) and rows without spread (as ``_gradient.parameter_units``)."""
    units = np.ones_like(spread)
    usable = np.isfinite(spread) & (spread > 0)
    units[usable] = 1.0 / np.sqrt(spread[usable] + alpha)
    units[0] = 1.0
    return units


def _adam(theta, grad, state: SGDState, learning_rate: float):
    """One Adam ascent step on the objective (``grad`` is its gradient)."""
    state.n_steps += 1
    state.first = BETA1 * state.first + (1 - BETA1) * grad
    state.second = BETA2 * state.second + (1 - BETA2) * grad**2
    first = state.first / (1 - BETA1**state.n_steps)
    second = state.second / (1 - BETA2**state.n_steps)
    return theta + learning_rate * first / (np.sqrt(second) + EPSILON)


def _score(problem, gate_params, expert_params, with_resp=False):
    """:func:`objective` at the parameters, and with ``with_resp`` the
    E-step's responsibilities too."""
    log_norm, resp = e_step(problem, gate_params, expert_params)[:2]
    scores = objective(problem, log_norm, gate_params, expert_params)
    return (scores, resp) if with_resp else scores


def follow_noise(
    problem, gate_params, expert_params, resp, log_likelihood, state: SGDState
):
    """The expert parameters with the noise that a ``partial_fit`` batch
    shows, where it is more than ``NOISE_GROWTH`` times the experts' fixed
    target unit (``state.units``, which then becomes the new noise's
    :meth:`~skmoe.experts.ExpertFamily.target_scale`); else None.

    The batch's noise is ``ExpertFamily.batch_noise`` at the epoch's
    parameters, its responsibilities ``resp`` and its log-likelihood
    ``log_likelihood`` there (for Gaussian experts, their weighted mean
    squared residuals at the current means, the M-step's variances without
    the penalty's term, judged by their pooled one and by the rows' weighted
    median square, which must exceed a Gaussian's at ``NOISE_GROWTH`` times
    the unit),
    on a batch of ``UNIT_ROWS`` rows or more (by :func:`effective_rows`). The
    experts' Adam moments start again (0): their gradients' scale changed
    with the unit and the noise. Adam alone does not follow a noise that
    grows: a coefficient moves by about ``learning_rate`` units a step at
    most, and a log-variance's gradient, ``(r^2 / s^2 - 1) / 2`` a row,
    falls by e for each unit the log climbs while Adam's second moment keeps
    the squares of the earlier, larger ones. One Gaussian expert whose first
    100 rows had noise 0.01 (slope 2), then batches of 100 rows of noise 1
    (slope -1), still had slope 1.92 and noise 0.43 after 1000 batches, its
    log-variance's steps 0.05 of the rate's after 5000 Adam steps; with the
    unit taken again (the coefficients' moments rescaled, the
    log-variance's reset) but the variance left to Adam, slope -1.00 and
    noise 0.20.
    """
    target = None if state.units is None else state.units[2]
    if target is None or state.first is None:
        return None
    weight = problem.sample_weight
    if weight.shape[0] < UNIT_ROWS:
        return None
    experts = problem.experts
    shown = experts.batch_noise(
        problem.xp,
        problem.design,
        problem.Y,
        resp,
        weight,
        expert_params,
        problem.alpha,
        NOISE_GROWTH * target,
        log_likelihood / problem.total_weight,
    )
    if shown is None or not _enough(effective_rows(to_numpy(weight))):
        return None
    scale = experts.target_scale(problem.xp, shown)
    state.units = (*state.units[:2], scale)
    offset = 0
    for group, _, shape in Packer(problem, gate_params, shown, state.units).layout:
        size = int(np.prod(shape))
        if group == "expert":
            state.first[offset : offset + size] = 0.0
            state.second[offset : offset + size] = 0.0
        offset += size
    return shown


def partial_fit_epoch(problem, params, options, random_state, previous=None):
    """One :func:`sgd_epoch` over all of ``problem``, continuing ``previous``.

    ``previous`` (a FitResult, or None on the first call) carries the Adam state
    in ``solver_state`` and the histories; ``options`` the solver settings.
    Returns a FitResult for the new parameters, scored on this batch, whose
    ``message`` says so where the epoch lowered the batch's penalized
    objective per unit weight by more than ``OVERSHOOT_NATS`` (the step is
    kept; the estimator warns).
    """
    state = SGDState() if previous is None else previous.solver_state or SGDState()
    state = copy.deepcopy(state)  # the estimator's, untouched if this epoch fails
    n_rows = problem.design.shape[1]
    # one step on all the rows, without noise, scores the start itself (the
    # batch's rows in order, its weights normalized alike); else an E-step
    whole = resolve_batch_size(options.batch_size, n_rows) >= n_rows
    first = [] if whole and not options.noisy_gating else None
    start = None if first is not None else _score(problem, *params)[1]
    gate_params, expert_params = sgd_epoch(
        problem,
        *params,
        state,
        random_state,
        batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        balance_coef=options.balance_coef,
        noisy_gating=options.noisy_gating,
        before=first,
    )
    if first:
        start = first[0]
    scores, resp = _score(problem, gate_params, expert_params, with_resp=True)
    followed = follow_noise(problem, gate_params, expert_params, resp, scores[0], state)
    if followed is not None:  # the noise the batch shows, in a new unit
        expert_params = followed
        scores = _score(problem, gate_params, expert_params)
    result = continued(previous, gate_params, expert_params, scores, state)
    drop = start - scores[1] if start is not None else 0.0
    if drop > OVERSHOOT_NATS:  # (NaN or inf: the estimator refuses the step)
        result.message = (
            f"partial_fit: the step lowered its batch's penalized log-likelihood "
            f"by {drop:.3g} nats per sample (more than {OVERSHOOT_NATS}); "
            f"learning_rate={options.learning_rate} is likely too large for "
            "these data: lower it (the step is kept; score a held-out batch to "
            "watch the stream)"
        )
    return result


def run_sgd(
    problem: EMProblem,
    gate_params,
    expert_params,
    *,
    random_state: np.random.RandomState,
    max_iter: int = 200,
    tol: float = 1e-5,
    batch_size: int | str = "auto",
    learning_rate: float = 0.01,
    n_iter_no_change: int = 5,
    balance_coef: float = 0.0,
    noisy_gating: bool = False,
    prune_threshold: float = 0.0,
    verbose: int = 0,
    held_out: np.ndarray,
) -> FitResult:
    """Adam epochs with early stopping on a held-out fraction (``solver="sgd"``).

    ``held_out``: the rows held out (sorted; :func:`~skmoe._solvers.solve`
    draws them with :func:`held_out_rows`, among the rows of positive weight,
    before it computes the start without them, see :class:`TrainingRows`).
    Where fewer than one is held out, the training objective is watched
    instead, as with ``validation_fraction=0``. Stops when
    the watched objective has not improved by more than ``tol`` (per sample) on
    its best value, starting with the initial parameters' own, for
    ``n_iter_no_change`` epochs, and returns the best parameters seen. The run
    counts as converged if some epoch improved the watched objective on the
    start by more than ``tol``, or the objective on all rows (Adam made
    progress, and the held-out rows chose the start: early stopping, which
    scikit-learn's MLP does not warn about either), or if it has one expert,
    whose start is its M-step's optimum; a diverging epoch (a non-finite
    objective) never counts as an improvement. After each epoch the least used
    expert is dropped if its share of the training data is
    below ``prune_threshold``.
    """
    n_samples = problem.design.shape[1]
    valid, n_valid = held_out, held_out.shape[0]
    train = np.setdiff1d(np.arange(n_samples), valid)  # sorted
    watched = _subproblem(problem, valid) if n_valid > 0 else problem
    state = SGDState()
    best = _finite(_score(watched, gate_params, expert_params)[1])
    best_params, stall, improved = (gate_params, expert_params), 0, False
    baseline = best  # improved: an epoch's score above it by more than tol
    # the objective on all rows at the start (the watched one where none is
    # held out)
    start = best if n_valid == 0 else _score(problem, gate_params, expert_params)[1]
    progressed = False  # whether an epoch improved the objective on all rows
    log_likelihoods, objectives, converged = [], [], False
    # a diverging epoch overflows; it is caught below (a non-finite watched score
    # never counts as an improvement) and reported in the ConvergenceWarning
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, max_iter + 1):
            gate_params, expert_params = sgd_epoch(
                problem,
                gate_params,
                expert_params,
                state,
                random_state,
                batch_size=batch_size,
                learning_rate=learning_rate,
                balance_coef=balance_coef,
                noisy_gating=noisy_gating,
                index=train,
            )
            pruned = None
            if prune_threshold > 0:  # a full E-step, about 4% of an epoch
                resp = e_step(problem, gate_params, expert_params)[1]
                pruned = prune_smallest(
                    problem, gate_params, expert_params, resp, prune_threshold
                )
            if pruned is not None:
                gate_params, expert_params = pruned
                state.first, state.noise_coef = None, None
                best, stall = -np.inf, 0  # a smaller model: its own scores from here
            total, penalized = _score(problem, gate_params, expert_params)
            log_likelihoods.append(total)
            objectives.append(penalized)
            progressed = progressed or (pruned is None and penalized > start + tol)
            score = _finite(_score(watched, gate_params, expert_params)[1])
            if verbose >= 2:
                print(
                    f"  Epoch {epoch}\t log-likelihood {total:.6g}\t "
                    f"watched {score:.6g}"
                )
            margin = tol if np.isfinite(best) else 0.0
            if score > best + margin or pruned is not None:
                stall = 0
            else:
                stall += 1
            if score > best:
                # after pruning, best restarts at -inf: the pruned model's first
                # score is its baseline, not an improvement on the start
                if not np.isfinite(best):
                    baseline = score
                best, best_params = score, (gate_params, expert_params)
            # by more than tol: a learning rate of 1e-9 gained 1e-12 and was
            # said to converge at its start, without a warning
            improved = improved or bool(score > baseline + tol)
            if stall >= n_iter_no_change:
                # one expert starts at its own M-step, its optimum (exact for
                # Gaussian experts): no epoch can improve on it
                converged = bool(
                    improved or progressed or gate_params["coef"].shape[1] == 1
                )
                break
    gate_params, expert_params = best_params
    total, penalized = _score(problem, gate_params, expert_params)
    message = ""
    if not (converged or improved or progressed):  # else max_iter, said by fit
        steps = -(-train.shape[0] // resolve_batch_size(batch_size, train.shape[0]))
        message = (
            f"no epoch improved the watched objective on the starting point (at "
            f"{steps} Adam step(s) per epoch of {train.shape[0]} samples, "
            f"learning_rate={learning_rate}); the starting parameters are kept. "
            "Lower batch_size or raise n_iter_no_change for more steps, lower "
            "learning_rate if the objective diverged, or use solver='em'"
        )
    return FitResult(
        gate_params,
        expert_params,
        total,
        penalized,
        log_likelihoods,
        objectives,
        epoch,
        converged,
        solver_state=state,
        message=message,
    )


def _finite(score: float) -> float:
    """A watched score, with a diverged (NaN or infinite) one as the worst."""
    return score if np.isfinite(score) else -np.inf
