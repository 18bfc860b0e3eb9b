"""Separation of zero counts from positive ones, where a log-link likelihood has
no maximum (host NumPy and SciPy only: a check run once after an unpenalized
fit)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import eigh
from scipy.optimize import linprog

from ._math import GRAM_BLOCK

#: A direction ``b`` separates where ``design.T @ b`` is within this share of
#: its most negative value on the zero counts (its depth) of 0 on the positive
#: counts (or within the rounding of its terms) and of at most 0 on the zero
#: counts; entries of ``b`` below this share of its largest are taken as 0.
SEPARATION_TOL = 1e-6

#: Rows of the zero counts (along the directions 0 on the positive counts) on
#: which a first linear program tries to show that no direction separates
#: (the full program over 30000 rows of 100 features took 21 s).
SUBSET_ROWS = 2000


def separating_direction(design, y, rows):
    """A direction ``b`` with ``design.T @ b`` 0 where ``y > 0``, at most 0
    where ``y == 0`` and below 0 somewhere, on the ``rows`` (a mask), or None.

    Along such a ``b`` the Poisson and negative binomial log-likelihoods rise
    without a limit (the means of the zero counts tend to 0, the others stay),
    whatever the weights: the maximum likelihood estimate does not exist.
    Of the directions, one of least L1 norm in the features (the intercept
    free), in units of each column's largest magnitude, less every column
    of it that its others do without (making the same zero counts
    negative): each column it names is needed beside the others named
    (fewer columns may separate by another combination), and none of
    combinations that are 0 on every row (a one-hot encoding's columns with
    the intercept).

    Parameters
    ----------
    design : ndarray of shape (n_columns, n_samples)
        The design matrix, transposed, its first row the intercept's.
    y : ndarray of shape (n_samples,)
        Counts.
    rows : ndarray of bool of shape (n_samples,)
        The rows that count (those of positive weight).

    Returns
    -------
    direction : ndarray of shape (n_columns,) or None
        The separating direction in the design's units, with exact zeros
        where it does not involve a column; None where there is none.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe._separation import separating_direction
    >>> x = np.array([0.0, 1.0, 2.0, 3.0])
    >>> design = np.stack([np.ones(4), x, x >= 2])
    >>> separating_direction(design, np.array([1, 2, 0, 0]), np.ones(4, bool))
    array([ 0.,  0., -1.])
    >>> separating_direction(design, np.array([1, 0, 2, 3]), np.ones(4, bool))
    """
    positive = rows & (y > 0)
    zero = rows & (y == 0)
    if not np.any(positive) or not np.any(zero):
        return None
    # the columns in units of their largest magnitude on the positive counts
    # (on the zero counts where they are 0 there): a zero count's value 1e7
    # times those did not make a column look 0 on the positive counts
    gram, largest, elsewhere = _gram_and_scale(design, positive, zero)
    scale = np.where(largest > 0, largest, np.where(elsewhere > 0, elsewhere, 1.0))
    gram /= scale[:, None] * scale[None, :]
    values, vectors = eigh(gram)
    # rounding errors of a sum over the rows (7 epsilons on two rows of four
    # columns)
    size = max(int(np.count_nonzero(positive)), gram.shape[0])
    null = vectors[:, values <= values[-1] * 10 * size * np.finfo(np.float64).eps]
    if null.shape[1] == 0:
        return None
    # the zero counts along the directions that are 0 on the positive ones:
    # rows 0 along all of them constrain nothing, and copies one another
    Z = _rows_times(design, zero, null / scale[:, None])
    # the rank of Z: combinations 0 on every row too (a full one-hot coding's
    # columns with the intercept) separate nothing, and the subset's test
    # compares ranks (a test of full rank took 8.6 s on 30000 rows, not 0.1;
    # rotating them out of Z instead left rounding noise that hid separations)
    rank = np.linalg.matrix_rank(Z)
    if rank == 0:
        return None
    extent = np.max(np.abs(Z), axis=1)
    Z = Z[extent > SEPARATION_TOL * np.max(extent, initial=0.0)]
    Z = np.unique(Z, axis=0)

    def verified(c):
        """The direction of coordinates ``c`` in the design's units, where it
        separates on all the rows, else None."""
        if c is None:
            return None
        b = null @ c  # in units of the columns' largest magnitudes
        b[np.abs(b) <= SEPARATION_TOL * np.max(np.abs(b))] = 0.0
        b = b / scale
        along_zero = _rows_times(design, zero, b[:, None])
        depth = -float(np.min(along_zero))
        along_positive = _rows_times(design, positive, b[:, None])
        # 0 on the positive counts: within the depth's share, or the
        # rounding of the terms (a feature beside its float32 copy was taken
        # to separate with values of 2.4 on them against a depth of 0.98)
        magnitude = float(np.sum(np.abs(b) * largest))
        rounding = 1e3 * np.finfo(np.float64).eps * magnitude
        if (
            depth > 0
            and float(np.max(along_zero)) <= SEPARATION_TOL * depth
            and float(np.max(np.abs(along_positive)))
            <= max(SEPARATION_TOL * depth, rounding)
        ):
            return b
        return None

    if Z.shape[0] > SUBSET_ROWS:
        # first on a subset of the rows: none separates there (30 positive
        # counts among 30000 rows of 100 features, not separated: 21 s over
        # all rows, 0.3 s), or its direction separates all
        subset = Z[np.linspace(0, Z.shape[0] - 1, SUBSET_ROWS).astype(np.intp)]
        if _only_zero_direction(subset, rank):
            return None  # no direction of the subset's rows, nor of all rows
        b = verified(_least_l1_direction(null, subset, verified))
        if b is not None:
            return b
    return verified(_least_l1_direction(null, Z))


def _only_zero_direction(Z, rank):
    """Whether every ``c`` with ``Z @ c`` at most 0 is 0 on all the rows of
    which ``Z`` is a subset, of rank ``rank``: ``Z`` of that rank and some
    ``w >= 1`` with ``Z.T @ w = 0`` (then ``w @ Z @ c = 0`` forces ``Z @ c =
    0``, and the rank puts ``c`` in the null space of all the rows)."""
    if np.linalg.matrix_rank(Z) < rank:
        return False
    found = linprog(
        np.zeros(Z.shape[0]),
        A_eq=Z.T,
        b_eq=np.zeros(Z.shape[1]),
        bounds=[(1.0, None)] * Z.shape[0],
        method="highs",
        options={"presolve": False},  # (its presolve took 23 s on 36810 rows)
    )
    if found.status != 0:
        return False
    # the certificate checked (HiGHS said optimal with |Z^T w| of 2e-3)
    w = found.x
    return bool(np.all(np.abs(Z.T @ w) <= 1e-9 * (np.abs(Z).T @ w)))


def _least_l1_direction(null, Z, accept=None):
    """Coordinates ``c`` in ``null`` (columns: directions) of a direction
    ``null @ c`` with ``Z @ c`` at most 0, and below 0 on every row of ``Z``
    that some such direction makes negative, of least L1 norm beside the
    intercept (its first entry); None where no row can be negative.

    Two linear programs: the rows that can be negative (at most 1 each, the
    most of them: a sum of directions makes them all negative), then the
    least L1 norm with each of them at most -1 (one program of least norm
    with their sum at most -1 named 1 of 40 separated categories); then the
    second again with columns of its direction held at 0 (and those it does
    not involve), while the others make those rows negative (see
    :func:`separating_direction`) and ``accept`` (where given) takes the
    direction: ``Z`` a subset of the rows, and ``accept`` its check on all
    of them (a column left out on the subset, whose direction failed on
    all rows, cost the programs over all rows).
    """
    m, (d, q) = Z.shape[0], null.shape
    rows = sparse.csr_matrix(Z)
    # the rows that can be negative: max sum(s), Z c + s <= 0, 0 <= s <= 1
    found = linprog(
        np.r_[np.zeros(q), -np.ones(m)],
        A_ub=sparse.hstack([rows, sparse.identity(m)], format="csr"),
        b_ub=np.zeros(m),
        # c in a box (null's columns orthonormal: |b| at most 1e4 sqrt(q) in
        # the columns' units): rows that only directions of huge coefficients
        # make negative (the rounding noise of a column beside its float32
        # copy, magnified 1e8) are not counted; counted, they made the next
        # program's direction fail its check, and a clean separation was
        # missed (21 of 6000 random designs)
        bounds=[(-1e4, 1e4)] * q + [(0.0, 1.0)] * m,
        method="highs",
        options={"presolve": False},  # (its presolve took 23 s on 36810 rows)
    )
    if found.status != 0:
        return None
    negative = found.x[q:] > 0.5
    if not np.any(negative):
        return None
    # the least norm: min sum(t), -t <= (null @ c)[1:] <= t, Z c <= 0 (<= -1
    # on the rows that can be negative)
    part = sparse.csr_matrix(null[1:])
    identity = sparse.identity(d - 1, format="csr")
    A_ub = sparse.vstack(
        [
            sparse.hstack([rows, sparse.csr_matrix((m, d - 1))]),
            sparse.hstack([part, -identity]),
            sparse.hstack([-part, -identity]),
        ],
        format="csr",
    )
    b_ub = np.r_[np.where(negative, -1.0, 0.0), np.zeros(2 * (d - 1))]

    def least(dropped):
        """The coordinates of least norm with the ``dropped`` columns 0, or
        None where none makes the rows negative so."""
        A_eq = b_eq = None
        if dropped:
            A_eq = np.c_[null[dropped], np.zeros((len(dropped), d - 1))]
            b_eq = np.zeros(len(dropped))
        found = linprog(
            np.r_[np.zeros(q), np.ones(d - 1)],
            A_ub=A_ub,
            b_ub=b_ub,
            A_eq=A_eq,
            b_eq=b_eq,
            bounds=[(None, None)] * q + [(0.0, None)] * (d - 1),
            method="highs",
            options={"presolve": False},  # (its presolve took 23 s on 36810 rows)
        )
        return found.x[:q] if found.status == 0 else None

    c = least([])
    # then the columns it involves left out where the others make the same
    # rows negative: halves of them at once (the least first), then halves
    # of a half that cannot be, down to single columns, each column tried
    # alone once (one that cannot be left out cannot beside more left out):
    # no column named that the others do without. A feature 0 on the
    # positive counts and negative on the zero ones was named with 2 others
    # (23 of 230 random separations), and three such features among 100 of
    # 30 positive counts and 29970 zero ones with 80 others (27 s; 1 named
    # in 40 s, one by one 100 s). The columns it does not involve are held
    # at 0 throughout: free, they stood in for the ones left out (a
    # category of zero counts only, in a full one-hot coding with the
    # intercept, was left out for the other 9 categories, which were named),
    # and a lone column is needed (the intercept alone is 0 on no row)
    dropped, kept = None, set()
    # (with accept: a direction that passes is not given up for one that
    # fails; one that fails is, as a sparser one may pass: 30 positive
    # counts among 30000 rows of 100 features, whose direction over the
    # subset failed, took 2 minutes over all rows where none was left out)
    passes = c is not None and accept is not None and accept(c) is not None
    while c is not None:
        b = np.abs(null[1:] @ c)
        involved = np.flatnonzero(b > SEPARATION_TOL * np.max(b, initial=0.0)) + 1
        if dropped is None:
            dropped = sorted(set(range(1, d)) - set(involved.tolist()))
        untried = sorted(
            (int(j) for j in involved if j not in kept), key=lambda j: b[j - 1]
        )
        if len(involved) <= 1 or not untried:
            break
        # (a zero count of only one of them among the columns not held at 0,
        # beside the intercept: needed, without a program; 40 categories of
        # zero counts took 79 programs, 2.5 times the time of the first two)
        kept |= _needed(null, Z[negative], dropped, untried)
        untried = [j for j in untried if j not in kept]
        groups = [untried] if untried else []
        while groups:
            group = groups.pop()
            fewer = least(dropped + group)
            ok = fewer is not None and (accept is None or accept(fewer) is not None)
            if fewer is not None and (ok or not passes):
                dropped.extend(group)
                c, passes = fewer, ok
            elif len(group) == 1:
                kept.add(group[0])
            else:
                half = len(group) // 2
                groups += [group[half:], group[:half]]  # (the least first)
    return c


def _needed(null, Z, dropped, columns):
    """The ``columns`` that a row of ``Z`` (to be negative) shows needed
    where the ``dropped`` columns are held at 0: a row in the span of
    ``null``'s rows of the dropped columns and the column is 0 along every
    direction 0 on them, and cannot be negative without the column."""
    # (null's columns orthonormal: its rows' magnitudes at most 1, those of
    # columns 0 along every direction rounding noise, which spans nothing)
    basis = null[:0]
    if dropped:
        _, values, vectors = np.linalg.svd(null[dropped], full_matrices=False)
        basis = vectors[values > 1e-10]
    rest = Z - (Z @ basis.T) @ basis
    along = null[columns] - (null[columns] @ basis.T) @ basis
    norms = np.linalg.norm(along, axis=1)
    along /= np.where(norms > 0, norms, 1.0)[:, None]
    size = np.linalg.norm(rest, axis=1)[:, None]
    # parallel to within 1.4e-6 radians (a row of two columns with one of
    # them 1e-6 of the other: a direction of coefficients 1e6 makes it
    # negative, which the first program's box leaves out)
    parallel = (np.abs(rest @ along.T) >= (1.0 - 1e-12) * size) & (
        size > 1e-8 * np.linalg.norm(Z, axis=1)[:, None]
    )
    parallel &= (norms > 1e-10)[None, :]
    return {columns[i] for i in np.flatnonzero(np.any(parallel, axis=0))}


def _gram_and_scale(design, rows, others):
    """The Gram matrix of ``design``'s columns over ``rows`` in float64, and
    each column's largest magnitude there and on ``others``, in blocks of
    samples (no copy of the design, nor a float64 one of a float32 design)."""
    d = design.shape[0]
    block = max(256, GRAM_BLOCK // max(d, 1))
    gram = np.zeros((d, d))
    largest, elsewhere = np.zeros(d), np.zeros(d)
    for start in range(0, design.shape[1], block):
        part = design[:, start : start + block]
        mine = part[:, rows[start : start + block]].astype(np.float64, copy=False)
        gram += mine @ mine.T
        largest = np.maximum(largest, np.max(np.abs(mine), axis=1, initial=0.0))
        other = part[:, others[start : start + block]]
        elsewhere = np.maximum(elsewhere, np.max(np.abs(other), axis=1, initial=0.0))
    return gram, largest, elsewhere


def _rows_times(design, rows, matrix):
    """``design[:, rows].T @ matrix`` in float64, in blocks of samples (no copy
    of the design's selected rows)."""
    block = max(256, GRAM_BLOCK // max(design.shape[0], 1))
    parts = []
    for start in range(0, design.shape[1], block):
        part = design[:, start : start + block][:, rows[start : start + block]]
        parts.append(part.astype(np.float64, copy=False).T @ matrix)
    return np.concatenate(parts, axis=0)
