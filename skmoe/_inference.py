"""Standard errors of a fitted mixture of experts from its observed information.

The observed information is minus the Hessian of the total objective the fit
maximizes, ``sum(w) * (sum_i w_i log p(y_i | x_i) / sum(w) - penalty)``, at the
fitted parameters (with ``alpha=0``: minus the Hessian of the weighted
log-likelihood, R flexmix's ``refit()``). Its inverse, within the parameters the
model identifies, is the covariance of the estimates; the standard errors are the
square roots of its diagonal.

The Hessian is built from the analytic gradient (:func:`skmoe._gradient.evaluate`,
Fisher's identity) by central differences, in the coordinates of
:class:`skmoe._gradient.Packer`: coefficients in units of standardized features
(and, for Gaussian experts, of each expert's own noise: :func:`_units`), positive
parameters (the variance) as logs. In those units every curvature is of order one
per sample of the parameter's expert, so one step,
``STEP``, suits every parameter: the error of a central difference is about
``STEP**2`` times the third derivative (1e-8) plus the gradient's rounding over
``STEP`` (about 1e-12: the regressor is differentiated at its target less the
target's mean, so that y far from 0 in noise units keeps its digits). This
reuses every family's gradient and needs no second derivatives of its
own, at the cost of ``2 P`` gradient evaluations (one E-step each) for ``P``
packed parameters.

Identifiability. The softmax gate's coefficients (and the constant gate's log
proportions) are invariant to adding the same number to every expert's column,
and each logistic expert's coefficients to adding the same number to every
class: the Hessian is singular along those directions. The covariance is
computed within the subspace the stored (centred) coefficients live in, on an
orthonormal basis of it (:func:`free_basis`), and mapped back. The constant
gate's slope rows, a tied variance's K copies and the K copies of a coefficient
``shared_features`` shares are handled the same way (fixed at zero; one free
direction).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._backend import to_numpy
from ._gradient import Packer, evaluate, parameter_units
from .experts import (
    GammaExperts,
    GaussianLinearExperts,
    LogisticExperts,
    NegativeBinomialExperts,
    PoissonExperts,
)
from .gates import ConstantGate, SoftmaxGate

#: Central-difference step in the packed (unit-scaled) coordinates.
STEP = 1e-4
#: A coordinate of the observed information (in the packed coordinates, within
#: the identified subspace) with at most ``DEGENERATE_TOL`` information per
#: unit weight, or an eigenvalue at most ``DEGENERATE_TOL`` times the largest
#: once every coordinate is scaled to unit information (see
#: :func:`_equilibrated_eigh`), counts as zero: the information is not positive
#: definite along it. In the packed coordinates a parameter fitted to a share s
#: of the samples has an information of about s per unit weight, so this flags
#: directions the data determine a hundred million times worse than that (an
#: expert or a class no sample supports), directions that other parameters
#: determine to within that (a constant or duplicated feature with alpha=0),
#: and negative eigenvalues (not a maximum).
DEGENERATE_TOL = 1e-8
#: A standard error is infinite where the parameter's row of the map from the
#: free coordinates has a component along the degenerate directions larger than
#: this share of its norm.
LOADING_TOL = 1e-3
#: The fit counts as short of a maximum where a Newton step from it, within the
#: directions the information determines, is longer than ``STATIONARY_TOL`` in
#: the metric of the information: it would move the estimates by more than
#: that many standard errors (jointly) and raise the total objective by half
#: its square. EM stopped by its default ``tol`` (1e-5 per sample) left
#: steps of 0.1 to 0.42 on 300 to 442 rows (two or three experts on the
#: diabetes and Friedman data), whose standard errors were then off by factors
#: of 0.2 to 3.7, or inf. The step grows as the square root of the total
#: weight at a given ``tol``.
STATIONARY_TOL = 0.1
#: An eigenvalue of the equilibrated information below ``-CURVING_UP_TOL``
#: times the largest says the likelihood curves up there: not a maximum (a
#: finite difference's error is about 1e-8 of the largest, the zero eigenvalue
#: of a duplicated feature's included). EM at its default ``tol`` left -0.019
#: on 300 rows of Friedman 1 data (two experts), whose 44 standard errors were
#: inf, where the Newton step over the other directions was below
#: ``STATIONARY_TOL``; all were finite at ``tol=1e-10``.
CURVING_UP_TOL = 1e-6


def sum_to_zero_basis(n: int) -> np.ndarray:
    """An orthonormal basis, (n, n - 1), of the vectors of length n summing to 0."""
    if n <= 1:
        return np.zeros((n, 0))
    return scipy.linalg.null_space(np.ones((1, n)))


def free_basis(gate, experts, layout, point_masses=None) -> np.ndarray:
    """Orthonormal basis (P, Q) of the identified subspace of the packed vector.

    ``layout`` is :attr:`Packer.layout`. Packed entries are the parameters divided
    by per-row units (and logs for the variance), which maps each of the subspaces
    below onto itself, so the same basis serves the packed coordinates.
    ``point_masses`` ((K,) bool, from ``ExpertFamily.point_masses``): experts
    whose parameters (the last axis of each expert parameter: a column of
    ``coef``, an entry of ``dispersion``) are fixed, not estimated.
    """
    blocks = []
    for group, name, shape in layout:
        family = gate if group == "gate" else experts
        block = _block(family, name, shape)
        if group == "expert" and point_masses is not None:
            fixed = np.zeros(shape, dtype=bool)
            fixed[..., point_masses] = True
            block = block[:, ~np.any(block[fixed.ravel()] != 0, axis=0)]
        blocks.append(block)
    return scipy.linalg.block_diag(*blocks)


def _block(family, name, shape):
    size = int(np.prod(shape))
    if isinstance(family, SoftmaxGate) and name == "coef":
        rows, n_experts = shape  # each row sums to zero over the experts
        return np.kron(np.eye(rows), sum_to_zero_basis(n_experts))
    if isinstance(family, ConstantGate) and name == "coef":
        rows, n_experts = shape  # centred log proportions in row 0, zeros below
        out = np.zeros((size, n_experts - 1))
        out[:n_experts] = sum_to_zero_basis(n_experts)
        return out
    if isinstance(family, LogisticExperts) and name == "coef":
        rows, columns = shape  # per row, each expert's C classes sum to zero
        n_experts = columns // family.n_classes
        classes = sum_to_zero_basis(family.n_classes)
        # a shared row's K equal blocks: one block of directions
        copies = np.full((n_experts, 1), 1 / np.sqrt(n_experts))
        return scipy.linalg.block_diag(
            *(
                np.kron(copies if row in family.shared else np.eye(n_experts), classes)
                for row in range(rows)
            )
        )
    if isinstance(family, GaussianLinearExperts) and name == "variance":
        if family.tied:  # K equal entries: one direction
            return np.full((size, 1), 1 / np.sqrt(size))
        return np.eye(size)
    if isinstance(family, (GammaExperts, NegativeBinomialExperts)) and (
        name == "dispersion"
    ):
        return np.eye(size)
    if (
        isinstance(family, (GaussianLinearExperts, PoissonExperts, GammaExperts))
        and name == "coef"
    ):
        rows, n_experts = shape  # a shared row's K equal entries: one direction
        return scipy.linalg.block_diag(
            *(
                np.full((n_experts, 1), 1 / np.sqrt(n_experts))
                if row in family.shared
                else np.eye(n_experts)
                for row in range(rows)
            )
        )
    raise NotImplementedError(
        f"std_errors does not know the constraints of {type(family).__name__}'s "
        f"parameter {name!r}."
    )


def _units(problem, expert_params):
    """The packed coordinates' units (:func:`skmoe._gradient.parameter_units`),
    with each Gaussian expert's coefficients in units of its own noise standard
    deviation (a Gamma expert's in units of its coefficient of variation,
    ``sqrt(phi_k)``, the standard deviation of its log(y) for a small
    ``phi_k``): in one unit for all (the root mean variance), a regime of noise
    1e-4 beside one of noise 10 took steps of 7 of its standard deviations, and
    its standard errors came out inf (at 1e-3: 15% off). The rows
    ``shared`` ties keep one unit, so that their K copies stay one direction
    (:func:`_block`)."""
    gate_rows, expert_rows, target = parameter_units(problem, expert_params)
    experts = problem.experts
    if isinstance(experts, GammaExperts):  # a coefficient of variation's units
        spread = np.sqrt(to_numpy(expert_params["dispersion"]).astype(np.float64))
        rows = np.outer(expert_rows, spread)
        for row in experts.shared:
            rows[row] = expert_rows[row] * np.exp(np.mean(np.log(spread)))
        return gate_rows, rows, 1.0
    if not isinstance(experts, GaussianLinearExperts):
        return gate_rows, expert_rows, target
    noise = np.sqrt(np.asarray(to_numpy(expert_params["variance"]), dtype=np.float64))
    rows = np.outer(expert_rows, noise)
    for row in experts.shared:
        rows[row] = expert_rows[row] * target
    return gate_rows, rows, 1.0


def hessian(problem, packer: Packer, theta: np.ndarray, fixed=None) -> np.ndarray:
    """Symmetrized central-difference Hessian of the per-sample penalized
    objective in the packed coordinates, from its analytic gradient; 0 in
    the columns of the ``fixed`` coordinates ((P,) bool), which are not
    moved (a point mass at zero moved off its zero slopes is no point mass:
    a Gamma expert of mean 0 instead, under which a zero has no
    likelihood)."""

    def gradient(point):
        return _packed_gradient(problem, packer, point)

    out = np.empty((theta.shape[0], theta.shape[0]))
    for j in range(theta.shape[0]):
        if fixed is not None and fixed[j]:
            out[:, j] = 0.0
            continue
        up, down = theta.copy(), theta.copy()
        up[j] += STEP
        down[j] -= STEP
        # the steps as represented, where theta[j] is large
        width = (up[j] - theta[j]) + (theta[j] - down[j])
        if width == 0:  # lost to rounding (an intercept of -5e15 units, set
            # by an outlier of 1e15): no curvature measured, and NumPy's 0/0
            # warning said nothing more
            out[:, j] = np.nan
            continue
        out[:, j] = (gradient(up) - gradient(down)) / width
    return 0.5 * (out + out.T)


def _packed_gradient(problem, packer: Packer, point: np.ndarray) -> np.ndarray:
    """The per-sample penalized objective's gradient at the packed ``point``."""
    gate_params, expert_params = packer.unpack(point)
    with np.errstate(over="ignore", invalid="ignore"):
        ev = evaluate(problem, gate_params, expert_params)
    return packer.pack_gradient(ev, expert_params)


def coefficient_map(shape, offset) -> np.ndarray:
    """The linear map of the C-order raveled coefficients (d, m), intercepts in
    row 0, from features centred at ``offset`` (d - 1,) to the features' origin:
    ``b_0 - offset . b``, slopes unchanged."""
    rows, columns = shape
    T = np.eye(rows)
    T[0, 1:] = -np.asarray(offset, dtype=np.float64)
    return np.kron(T, np.eye(columns))


def _row_norms(a):
    """The Euclidean norms of the rows of ``a``, scaled by each row's largest
    entry first: a variance's row holds entries of its size, whose squares
    overflow from 1e154 (targets of 1e77)."""
    scale = np.max(np.abs(a), axis=1, initial=0.0)
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    return scale * np.sqrt(np.sum((a / scale[:, None]) ** 2, axis=1))


def standard_errors(problem, gate_params, expert_params, offsets, covariance=False):
    """Standard errors of the parameters at ``(gate_params, expert_params)``.

    Parameters
    ----------
    problem : EMProblem
        NumPy, float64, dense (``top_k=None``), on features centred at
        ``offsets``.
    gate_params, expert_params : dict
        The fitted parameters for the centred features.
    offsets : dict
        ``{"gate": offset, "expert": offset}``: the centres of the features each
        part sees.
    covariance : bool, default=False
        Whether to return the covariance too (else None).

    Returns
    -------
    layout : list of (group, name, shape)
        The parameters, in the order of ``se``.
    se : ndarray of shape (P,)
        The square roots of the diagonal of the covariance of the raveled
        parameters with intercepts at the features' origin (the stored
        attributes), the variance itself (not its log).
    degenerate : ndarray of shape (P,) of bool
        The parameters along which the information is not positive definite
        (``se`` leaves those directions out).
    n_degenerate : int
        The number of such directions.
    newton_step : float
        The length of a Newton step from the parameters in the metric of the
        information (within the directions it determines): about 0 at a
        maximum (see ``STATIONARY_TOL``).
    n_curving_up : int
        The number of directions along which the likelihood curves up (see
        ``CURVING_UP_TOL``): 0 at a maximum.
    cov : (ndarray of shape (P, P), ndarray of shape (P,) of bool) or None
        The covariance whose diagonal's square roots are ``se`` (the
        directions the information does not determine left out, as for
        ``se``) and which parameters the model estimates, where
        ``covariance``.
    """
    packer = Packer(problem, gate_params, expert_params, _units(problem, expert_params))
    theta = packer.pack(gate_params, expert_params)
    total = float(np.sum(problem.sample_weight))
    point_masses = problem.experts.point_masses(np, expert_params)
    basis = free_basis(problem.gate, problem.experts, packer.layout, point_masses)
    fixed = ~np.any(basis != 0, axis=1)  # (the point masses')
    information = -total * hessian(problem, packer, theta, fixed)
    # the logs' curvature is v^2 f''(v) + v f'(v): the gradient's term, 0 at a
    # stationary point, is not information (a negative binomial dispersion
    # stopped at 1.3e-4 on its way to the Poisson limit, gradient -4.5, took
    # 6e-4 from it: a standard error of 0.005 where the curvature gives 0.1)
    logs = _positive(packer) & ~fixed
    gradient = total * _packed_gradient(problem, packer, theta)
    information[logs, logs] += gradient[logs]
    # a positive parameter at its floor sits on a bound, not at a stationary
    # point (a negative binomial dispersion at the Poisson limit): the data do
    # not determine it, whatever the curvature there (whose log-coordinate
    # information, about the floor times the gradient, fell on either side of
    # DEGENERATE_TOL with the counts' spread)
    at_floor = _at_floor(packer, expert_params)
    information[at_floor, :] = 0.0
    information[:, at_floor] = 0.0
    reduced = basis.T @ information @ basis
    reduced = 0.5 * (reduced + reduced.T)
    directions, eigenvalues, positive, informed = _equilibrated_eigh(reduced, total)
    # packed coordinates -> parameters: units, the log of the variance, offsets
    groups = {"gate": gate_params, "expert": expert_params}
    jacobian = packer.scale.copy()
    start = 0
    maps = []
    for group, name, shape in packer.layout:
        n = int(np.prod(shape))
        if group == "expert" and name in packer.floors:
            jacobian[start : start + n] *= np.ravel(groups[group][name])
        if name == "coef":
            maps.append(coefficient_map(shape, offsets[group]))
        else:
            maps.append(np.eye(n))
        start += n
    to_stored = (scipy.linalg.block_diag(*maps) * jacobian[None, :]) @ basis
    kept = to_stored @ directions[:, positive]
    # sqrt(diag(kept diag(1 / eigenvalues) kept^T)), without the squares
    se = _row_norms(kept / np.sqrt(eigenvalues[positive]))
    cov = None
    if covariance:
        scaled = kept / np.sqrt(eigenvalues[positive])
        # (and the entries the model estimates: the others, a constant gate's
        # slopes, a point mass's, no free coordinate moves)
        # (inf where a variance overflows, the square of a standard error above
        # 1.3e154, as of a coefficient of a feature in units of 1e-150)
        with np.errstate(over="ignore"):
            cov = scaled @ scaled.T, np.any(to_stored != 0, axis=1)
    # the directions the information does not determine, orthonormal: those of
    # the eigenvalues refused, and the coordinates without information
    null = np.hstack([directions[:, ~positive], np.eye(reduced.shape[0])[:, ~informed]])
    loading = np.zeros(to_stored.shape[0])
    if null.shape[1]:
        loading = _row_norms(to_stored @ np.linalg.qr(null)[0])
    degenerate = loading > LOADING_TOL * _row_norms(to_stored)
    n_degenerate = int(np.count_nonzero(~positive) + np.count_nonzero(~informed))
    # the total objective's gradient along the identified directions, and the
    # Newton step's length sqrt(g^T I^-1 g) within those the information determines
    along = directions[:, positive].T @ (basis.T @ gradient)
    newton_step = float(np.sqrt(np.sum(along**2 / eigenvalues[positive])))
    largest = max(float(np.max(eigenvalues, initial=0.0)), 1.0)
    n_curving_up = int(np.count_nonzero(eigenvalues < -CURVING_UP_TOL * largest))
    return packer.layout, se, degenerate, n_degenerate, newton_step, n_curving_up, cov


def _positive(packer) -> np.ndarray:
    """Which packed entries are positive parameters, packed as logs, (P,) bool."""
    return np.concatenate(
        [
            np.full(int(np.prod(shape)), group == "expert" and name in packer.floors)
            for group, name, shape in packer.layout
        ]
    )


def _at_floor(packer, expert_params) -> np.ndarray:
    """Which packed entries are positive parameters at their floor (within a
    relative 1e-6, as :meth:`Experts.collapsed`), (P,) bool."""
    parts = []
    for group, name, shape in packer.layout:
        size = int(np.prod(shape))
        if group == "expert" and name in packer.floors:
            value = np.asarray(to_numpy(expert_params[name]), dtype=np.float64)
            floor = packer.floors[name]
            parts.append(np.ravel((value > 0) & (value <= floor * (1 + 1e-6))))
        else:
            parts.append(np.zeros(size, dtype=bool))
    return np.concatenate(parts)


def _equilibrated_eigh(information, total):
    """The eigen-decomposition of the information with each coordinate scaled to
    unit information (Jacobi equilibration).

    A coordinate with at most ``DEGENERATE_TOL`` information per unit weight
    (``total``) is left out: the data do not determine it. The others are
    scaled by ``1 / sqrt(information[j, j])``, so that experts whose
    curvatures differ by orders of magnitude (a noiseless regime beside a
    noisy one, rates of 0.01 beside 1e6) compare as equals, and an
    eigenvalue at most ``DEGENERATE_TOL`` times the largest one there (or
    negative) is a direction along which the information is singular or not
    positive definite.

    Returns
    -------
    directions : ndarray of shape (P, m)
        The eigenvectors, in the unscaled coordinates (zero on the coordinates
        left out); ``information @ directions[:, j]`` is about
        ``eigenvalues[j] * directions[:, j] / scale``.
    eigenvalues : ndarray of shape (m,)
        The equilibrated information's, so that the inverse of the information
        on the informed coordinates is ``(directions / eigenvalues) @
        directions.T``.
    positive : ndarray of shape (m,) of bool
        The eigenvalues kept.
    informed : ndarray of shape (P,) of bool
        The coordinates not left out.
    """
    diagonal = np.diag(information)
    informed = diagonal > DEGENERATE_TOL * total
    scale = 1.0 / np.sqrt(diagonal[informed])
    inner = information[np.ix_(informed, informed)] * np.outer(scale, scale)
    eigenvalues, vectors = np.linalg.eigh(inner)
    size = max(float(np.max(eigenvalues, initial=0.0)), 1.0)
    positive = eigenvalues > DEGENERATE_TOL * size
    directions = np.zeros((information.shape[0], vectors.shape[1]))
    directions[informed] = vectors * scale[:, None]
    return directions, eigenvalues, positive, informed
