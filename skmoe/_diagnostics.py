"""Diagnostics of a fitted run: collapsed experts, experts with too few
samples for their parameters, a gate's collapse, and broken-down numerics;
``fit`` warns of them, and ``n_experts="auto"`` passes over such runs."""

from __future__ import annotations

import math

import numpy as np

from ._backend import to_numpy, widest_float
from ._em import _e_step_block, e_step
from ._fitting import AUTO_MIN_SAMPLES_PER_PARAMETER
from ._math import device
from ._sparse import is_sparse, top_k_mask

#: :func:`_on_copies` ranks an expert's design over its rows less the lightest
#: ones that together carry less than this share of its mass: a feature that
#: varies on those rows alone determines no coefficient of it (at NumPy's
#: tolerance, 6e-28 of an expert's mass leaked onto other rows counted as one).
RANK_NEGLIGIBLE_SHARE = 1e-9


def _at_lower_bound(problem, result) -> np.ndarray:
    """Indices of the experts of ``result`` that collapsed
    (``ExpertFamily.collapsed``: a parameter at its lower bound, or a Gaussian
    expert whose residuals alone would put its variance there)."""
    # (the E-step's log gate values, and resp once weighted, freed: (K, n)
    # arrays that these checks after a fit held at its peak memory)
    resp = e_step(problem, result.gate_params, result.expert_params)[1]
    weighted_resp = problem.normalized_weight[None, :] * resp
    del resp
    hits = problem.experts.collapsed(
        problem.xp, problem.design, problem.Y, weighted_resp, result.expert_params
    )
    return np.flatnonzero(to_numpy(hits))


def _own_rows(problem, result, experts):
    """The rows each of ``experts`` (indices) of ``result`` takes (a
    responsibility above one half, of positive weight), and the distinct
    values of the target among them: two (len(experts),) int arrays. Where
    the two are near, the expert's samples are distinct points; where the
    second is much smaller, copies of a few. One value alone is a spike,
    which a constant fits, however many coefficients the expert has (40 rows
    of 60 features, 25 of them y = 0, collapsed onto the zeros with slopes of
    1e-8 at alpha=1e6)."""
    resp = to_numpy(e_step(problem, result.gate_params, result.expert_params)[1])
    Y = to_numpy(problem.Y)
    Y = Y.reshape(-1, Y.shape[-1])
    positive = to_numpy(problem.sample_weight) > 0
    rows = np.zeros(len(experts), dtype=int)
    distinct = np.zeros(len(experts), dtype=int)
    for i, k in enumerate(experts):
        own = (resp[k] > 0.5) & positive
        rows[i] = np.count_nonzero(own)
        distinct[i] = np.unique(Y[:, own], axis=1).shape[1]
    return rows, distinct


def _few_samples(problem, result):
    """Indices of the experts of ``result`` that handle fewer than
    ``AUTO_MIN_SAMPLES_PER_PARAMETER`` samples per parameter of their own,
    and that number of samples. An expert's samples are Kish's effective
    number of its rows, each counted ``r_ik`` times (its responsibility),
    ``(sum_i w_i r_ik)^2 / sum_i w_i^2 r_ik``: the rows' weights' scale does
    not matter, nor the weights of rows it does not take. Where the weights
    are equal it is the expert's share of the rows, ``sum_i r_ik`` (24 rows of
    weight 1, of which an expert took 8.5, warned of, and 300 rows weighing
    1e-8 each beside them do not raise it: 8.5); it is at most Kish's number of
    its own samples, ``(sum_i w_i r_ik)^2 / sum_i (w_i r_ik)^2`` (``r <= 1``:
    10 rows of weight 1 beside 290 of weight 1e-8 counted as 300 samples, and
    "auto" chose four Gamma experts fitting 2 or 3 rows each). Its share of
    Kish's number of all rows was counted: 12 rows of weight 1 on their own
    line beside 100 of weight 3 on another were 4.1 samples (6 needed), a
    warning, and "auto" chose one expert, where 3 copies of each of the 100
    rows (the same fit) counted 12. An estimator's parameters are not
    counted: its features and intercept stand for them."""
    resp = e_step(problem, result.gate_params, result.expert_params)[1]
    xp = problem.xp
    # the weights over the largest (equal ones are 1, exactly: m rows of
    # responsibility 1 count m, whatever their number in all), in the widest
    # float: in float32, 6 rows of weight 1 beside rows of weight 3 counted
    # 5.9999995 (6 needed; 32 of 88 such problems warned), and rows lighter
    # than 1e-19 of the heaviest lost their squares
    weight = problem.sample_weight
    wide = widest_float(xp, weight)
    if weight.dtype != wide:
        weight = xp.astype(weight, wide)
    unit = weight / xp.max(weight)
    mass = unit[None, :] * resp  # (in the wider dtype)
    del resp  # (see _at_lower_bound)
    # each expert's mass and weights over a power of two near its largest
    # mass, at least 1 (exactly: the same count; the scaled products at most
    # twice the factor): where an expert's rows weighed under 1e-154 of the
    # heaviest, their squares underflowed, and 30 rows counted 4e-10
    finfo = xp.finfo(mass.dtype)
    largest = xp.max(mass, axis=1)
    largest = xp.where(largest > 0, largest, xp.ones_like(largest))
    lowest = 24.0 - math.floor(math.log2(float(finfo.max)))  # (-999 in float64)
    exponent = xp.clip(xp.floor(xp.log2(largest)), lowest, 0.0)
    factor = (2.0 ** (-exponent))[:, None]
    mass = mass * factor
    total = xp.sum(mass, axis=1)
    squares = xp.sum(mass * (unit[None, :] * factor), axis=1)
    tiny = float(finfo.smallest_normal)
    samples = to_numpy(total * (total / xp.clip(squares, tiny, None)))
    n_features = problem.design.shape[0] - 1
    own = problem.experts.n_own_parameters(n_features)
    needed = AUTO_MIN_SAMPLES_PER_PARAMETER * (n_features + 1 if own is None else own)
    # up to rounding, as _sgd._enough (6 rows of weight 1 beside rows of 1e6
    # counted 5.999999999999999)
    few = samples < needed * (1 - 1e-9)
    fixed = problem.experts.point_masses(problem.xp, result.expert_params)
    if fixed is not None:  # a point mass has no parameters to determine
        few &= ~fixed
    return np.flatnonzero(few), needed


def _on_copies(problem, result) -> np.ndarray:
    """Indices of the experts of ``result`` whose responsibility mass sits on
    fewer distinct rows (x, y) than the coefficients it determines plus one,
    leaving their noise no residual degree of freedom: Kish's effective
    number of distinct rows, ``(sum_g m_g)^2 / sum_g m_g^2`` over the
    expert's weighted responsibilities ``m_g`` summed over each group of
    identical rows (copies count once, as one row of their summed weight,
    so that copies and ``sample_weight`` agree), against the rank of the
    design weighted by the square roots of that mass (a feature constant
    where the expert's mass is adds no coefficient), less its lightest rows
    that together carry under ``RANK_NEGLIGIBLE_SHARE`` of it (rows of equal
    mass go or stay together, whatever their order). Such an expert
    fits a few points (nearly) exactly, whatever its variance's distance to the
    floor: two Gamma regimes plus 8 copies of one row, where an expert
    passed a plane through the copies and 4 other rows within 1% (1.8 to
    2.5 effective rows for 3 coefficients) at a dispersion of 1.4e4 to
    1.6e5 times its floor, beyond ``COLLAPSE_RANGE``, and "auto" kept it at
    25 of 30 seeds and n_init. Replicates of a designed experiment at 4 or
    more levels of x keep at least 4 effective rows (y to one decimal: one
    or two values per level) for a line's 2 or 3 coefficients. Point masses
    have no coefficients to judge."""
    if problem.experts.n_own_parameters(problem.design.shape[0] - 1) is None:
        return np.zeros(0, dtype=int)  # estimator experts: no count
    resp = to_numpy(e_step(problem, result.gate_params, result.expert_params)[1])
    weight = to_numpy(problem.normalized_weight)
    positive = to_numpy(problem.sample_weight) > 0
    design = to_numpy(problem.design)[:, positive]
    Y = to_numpy(problem.Y)
    Y = Y.reshape(-1, Y.shape[-1])[:, positive]
    _, group = np.unique(np.r_[design, Y].T, axis=0, return_inverse=True)
    group = group.ravel()
    mass = resp[:, positive] * weight[positive][None, :]
    fixed = problem.experts.point_masses(problem.xp, result.expert_params)
    fixed = np.zeros(len(mass), bool) if fixed is None else to_numpy(fixed)
    hits = []
    for k in np.flatnonzero(~fixed):
        per_row = np.bincount(group, weights=mass[k])
        squares = float(np.sum(per_row**2))
        if not (np.isfinite(squares) and squares > 0):
            continue  # (no mass: _few_samples's case; NaN: a broken-down run)
        effective = float(np.sum(per_row)) ** 2 / squares
        lightest = np.sort(mass[k])
        light = np.cumsum(lightest) < RANK_NEGLIGIBLE_SHARE * np.sum(mass[k])
        # rows as heavy as the lightest one kept are kept too: which of rows
        # of equal mass fell under the share was their order's doing
        rows = mass[k] >= lightest[np.count_nonzero(light)]
        rank = np.linalg.matrix_rank(
            design[:, rows].T * np.sqrt(mass[k][rows])[:, None]
        )
        if effective < rank + 1:
            hits.append(k)
    return np.asarray(hits, dtype=int)


def _gate_collapsed(problem, result) -> np.ndarray:
    """Indices of the experts of ``result`` whose gate parameters collapsed
    (``GateFamily.collapsed``: a gaussian gate's covariance at its floor).
    The data's variances are under the gate's weights, as its floor's: with
    groups each group once (by rows, an expert on one large group at its
    floor went unflagged where the groups' variance was 17x the rows')."""
    return problem.gate.collapsed(
        problem.xp, problem.gate_design, problem.gate_weight, result.gate_params
    )


def _nan_parameters(problem, result) -> bool:
    """Whether a parameter of ``result`` is NaN: a run whose numerics broke
    down, which is neither kept beside a sound one nor stored (estimator
    experts' parameters are the fitted estimators: not looked at)."""
    xp = problem.xp
    return any(
        bool(xp.any(xp.isnan(value)))
        for group in (result.gate_params, result.expert_params)
        for value in group.values()
        if xp.isdtype(value.dtype, "real floating")
    )


#: :func:`_spurious_experts` looks at experts whose share of the (weighted)
#: data is under this: R flexmix's default ``minprior``.
SPURIOUS_SHARE = 0.05


def _spurious_experts(problem, result):
    """The entries of :func:`_small_experts` whose ``drop`` is under their
    ``price``."""
    return [hit for hit in _small_experts(problem, result) if hit[2] < hit[3]]


def _small_experts(problem, result):
    """The experts of ``result`` whose share of the (weighted) data is under
    ``SPURIOUS_SHARE``, but point masses: a list of ``(k, share, drop,
    price)``. ``drop`` is what removing expert ``k``, the others' parameters
    unchanged and the gate renormalized over them (as ``prune_experts``
    leaves it), takes from the log-likelihood, in nats, the weights rescaled
    to sum to the rows they keep (as ``n_experts="auto"``'s BIC: the usual
    log-likelihood for unit weights); ``price = p_k log(n) / 2``, with
    ``p_k`` the parameters the expert and its share of the gate add to
    ``bic``'s count and n the rows of positive weight (``bic``'s, groups or
    not). Where ``drop < price`` BIC prefers the model without the expert
    even before a refit, which can only raise its likelihood: no threshold
    to tune but the share (RT5, session 75: given in 0 of 600 fits of data
    without small components, and for 52 of the 55 three-expert fits of two
    lines that kept an expert under 0.05).

    The smaller model's log-likelihood is, for a dense gate without groups
    (each row's gate renormalized over the others), ``log p + log(1 - r_k) -
    log(1 - g_k)`` from the fit's own E-step (O(n) an expert); with
    ``top_k``, one E-step of the smaller model over the rows whose top k hold
    expert k (the others route as before); with groups, one E-step of it.
    All exact: equal to the log-likelihood of ``prune_experts``' copy.
    Empty for a single expert (beside a point mass), estimator experts
    (``bic`` has no count for them) and gate="hierarchical", whose groups
    are fixed by the number of experts: it has no model without one
    expert."""
    xp = problem.xp
    n_experts = result.gate_params["coef"].shape[1]
    n_features = problem.design.shape[0] - 1
    n_gate_features = problem.gate_design.shape[0] - 1
    if n_experts - problem.experts.n_point_masses < 2:
        return []
    expert_counts = [
        problem.experts.n_parameters(n_features, n) for n in (n_experts, n_experts - 1)
    ]
    if None in expert_counts:  # estimator experts: bic has no count either
        return []
    price_parameters = (
        expert_counts[0]
        - expert_counts[1]
        + problem.gate.n_parameters(n_gate_features, n_experts)
        - problem.gate.n_parameters(n_gate_features, n_experts - 1)
    )
    log_norm, resp, log_gate = e_step(
        problem, result.gate_params, result.expert_params
    )[:3]
    weight = problem.normalized_weight
    share = to_numpy(xp.sum(weight[None, :] * resp, axis=1))
    fixed = problem.experts.point_masses(xp, result.expert_params)
    fixed = np.zeros(n_experts, bool) if fixed is None else to_numpy(fixed)
    small = np.flatnonzero((share < SPURIOUS_SHARE) & ~fixed)
    if len(small) == 0:
        return []

    def keep(k):
        return xp.asarray(
            [j for j in range(n_experts) if j != k],
            device=device(result.gate_params["coef"]),
        )

    try:
        problem.gate.select(xp, result.gate_params, keep(small[0]))
    except ValueError:  # gate='hierarchical': no model without one expert
        return []
    n_rows = int(np.count_nonzero(to_numpy(problem.sample_weight) > 0))
    price = 0.5 * price_parameters * math.log(n_rows)
    wide = widest_float(xp, log_norm)
    sparse = is_sparse(problem.top_k, n_experts)
    if problem.groups is None and not sparse:
        # each row's gate renormalized over the others: the smaller model's
        # log-likelihood is log_norm + log(1 - r_k) - log(1 - g_k) (RT5's
        # closed form), O(n) an expert from this E-step's arrays; one E-step
        # of the smaller model for each of them made a fit of 32 experts
        # (31 under 0.05, top_k=2) 1.35 times as long
        others_resp = _others(xp, resp)
        others_gate = _others(xp, xp.exp(log_gate))
    elif not sparse:
        others_resp = None
    else:  # only the rows whose top k hold expert k route anew
        routed = top_k_mask(xp, log_gate, problem.top_k)
    del resp
    hits = []
    for k in small:
        if problem.groups is None and not sparse:
            change = xp.log(others_resp(k)) - xp.log(others_gate(k))
            drop = -n_rows * float(xp.sum(weight * change, dtype=wide))
            hits.append((int(k), float(share[k]), drop, price))
            continue
        gate_params = problem.gate.select(xp, result.gate_params, keep(k))
        expert_params = problem.experts.select(xp, result.expert_params, keep(k))
        if problem.groups is None:  # top_k
            rows = xp.nonzero(routed[int(k), :])[0]
            if rows.shape[0] == 0:
                drop = 0.0
            else:
                dropped = _e_step_block(
                    problem,
                    xp.take(problem.gate_design, rows, axis=1),
                    xp.take(problem.design, rows, axis=1),
                    xp.take(problem.Y, rows, axis=problem.Y.ndim - 1),
                    gate_params,
                    expert_params,
                    False,
                )[0]
                lost = xp.take(log_norm, rows) - dropped
                part = xp.take(weight, rows) * lost
                drop = n_rows * float(xp.sum(part, dtype=wide))
        else:
            dropped = e_step(problem, gate_params, expert_params)[0]
            # the likelihood as n_experts='auto''s BIC weighs it (weights
            # summing to the rows they keep: the usual one for unit weights)
            full = float(xp.sum(weight * log_norm, dtype=wide))
            drop = n_rows * (full - float(xp.sum(weight * dropped, dtype=wide)))
        hits.append((int(k), float(share[k]), drop, price))
    return hits


def _others(xp, values):
    """A function of k giving sum_{j != k} values[j] (values: (K, n), of
    columns summing to about 1), accurate where values[k] is near 1 (the
    others' sum taken apart for each column's largest, 1 - values[k] else,
    where values[k] <= 1/2)."""
    n_experts = values.shape[0]
    rows = xp.reshape(xp.arange(n_experts, device=device(values)), (n_experts, 1))
    top = xp.argmax(values, axis=0)
    zero = xp.zeros((), dtype=values.dtype, device=device(values))
    rest = xp.sum(xp.where(rows == top[None, :], zero, values), axis=0)

    def others(k):
        return xp.where(top == int(k), rest, 1 - values[int(k), :])

    return others
