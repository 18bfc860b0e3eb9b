"""Separation of zero counts from positive ones, where a log-link likelihood has
no maximum (host NumPy and SciPy only: a check run once after an unpenalized
fit)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from scipy.optimize import linprog

from ._math import GRAM_BLOCK, weighted_grams

#: A direction ``b`` separates where ``design @ b`` on the positive counts, and
#: its largest value on the zero counts, are within this share of its most
#: negative value on the zero counts (after the columns are put in units of
#: their largest magnitude).
SEPARATION_TOL = 1e-6


def separating_direction(design, y, rows):
    """A direction ``b`` with ``design.T @ b`` 0 where ``y > 0``, at most 0
    where ``y == 0`` and below 0 somewhere, on the ``rows`` (a mask), or None.

    Along such a ``b`` the Poisson and negative binomial log-likelihoods rise
    without a limit (the means of the zero counts tend to 0, the others stay),
    whatever the weights: the maximum likelihood estimate does not exist.

    Parameters
    ----------
    design : ndarray of shape (n_columns, n_samples)
        The design matrix, transposed (the intercept's row among its rows).
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
    design = np.asarray(design, dtype=np.float64)  # float32's Gram lost the ranks
    scale = np.max(np.abs(design[:, rows]), axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    # the directions that are 0 on the positive counts: the null space of
    # their Gram matrix, in the columns' units of their largest magnitude
    gram = weighted_grams(np, design, positive[None, :].astype(design.dtype))[0]
    gram /= scale[:, None] * scale[None, :]
    values, vectors = eigh(gram)
    # rounding errors of a sum over the rows (7 epsilons on two rows of four
    # columns)
    size = max(int(np.count_nonzero(positive)), gram.shape[0])
    rank_tol = values[-1] * 10 * size * np.finfo(gram.dtype).eps
    null = vectors[:, values <= rank_tol]
    if null.shape[1] == 0:
        return None
    # the zero counts along them: one direction is a sign; more, a linear
    # program (the most negative sum with every zero count's value at most 0)
    Z = _rows_times(design, zero, null / scale[:, None])
    if null.shape[1] == 1:
        candidates = [np.array([1.0]), np.array([-1.0])]
    else:
        found = linprog(
            np.sum(Z, axis=0),
            A_ub=Z,
            b_ub=np.zeros(Z.shape[0]),
            bounds=[(-1.0, 1.0)] * null.shape[1],
            method="highs",
        )
        candidates = [found.x] if found.status == 0 else []
    for c in candidates:
        b = null @ c  # in the columns' units of their largest magnitude
        b[np.abs(b) <= SEPARATION_TOL * np.max(np.abs(b))] = 0.0
        b = b / scale
        along_zero = _rows_times(design, zero, b[:, None])
        depth = -float(np.min(along_zero))
        if depth <= 0:
            continue
        along_positive = _rows_times(design, positive, b[:, None])
        if (
            float(np.max(along_zero)) <= SEPARATION_TOL * depth
            and float(np.max(np.abs(along_positive))) <= SEPARATION_TOL * depth
        ):
            return b
    return None


def _rows_times(design, rows, matrix):
    """``design[:, rows].T @ matrix`` in blocks of samples (no copy of the
    design's selected rows)."""
    block = max(256, GRAM_BLOCK // max(design.shape[0], 1))
    parts = []
    for start in range(0, design.shape[1], block):
        part = design[:, start : start + block][:, rows[start : start + block]]
        parts.append(part.T @ matrix)
    return np.concatenate(parts, axis=0)
