"""Repeated measurements: rows that share one latent expert.

R flexmix's ``y ~ x | g``: every row of a group comes from the same expert, so
the E-step's joint log-probability of expert k and group g is the gate's log
value at the group plus the sum of the rows' expert log-likelihoods,

    log pi_k(z_g) + sum_{i in g} log p_k(y_i | x_i),

and every row of the group gets the group's responsibilities. The gate sees each
group once: its features must be the same on every row of a group (flexmix's
concomitant variables), and its M-step weighs each row by 1 / n_g. The
estimators check both; the functions here only compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from ._backend import device_of, host, is_numpy_array
from ._math import LOGSUMEXP_BLOCK, exp, sums_in_turn

Array = Any


@dataclass(frozen=True, eq=False)
class Groups:
    """The grouping of the rows (all on the host; results follow the input).

    Attributes
    ----------
    codes : ndarray of shape (n_samples,)
        Each row's group, numbered 0 .. n_groups - 1 in the order of the
        groups' first rows (so that the fit depends on the partition and the
        order of the rows, not on how the labels are written).
    first : ndarray of shape (n_groups,)
        The first row of each group.
    sizes : ndarray of shape (n_groups,)
        The number of rows of each group.
    labels : list of length n_groups
        Each group's label, for messages.
    """

    codes: np.ndarray
    first: np.ndarray
    sizes: np.ndarray
    labels: list
    _indicators: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_labels(cls, labels) -> Groups:
        """The grouping given by one label per row (numbers or strings)."""
        labels = np.asarray(host(labels))
        if labels.ndim == 2 and labels.shape[1] == 1:
            from sklearn.exceptions import DataConversionWarning

            from ._warnings import _warn_user

            # as y of that shape: scikit-learn's column_or_1d's warning
            _warn_user(
                "A column-vector groups was passed when a 1d array was expected. "
                "Please change the shape of groups to (n_samples,), for example "
                "using ravel().",
                DataConversionWarning,
            )
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise ValueError(
                f"groups should hold one label per row, a 1d array; got shape "
                f"{labels.shape}."
            )
        if _missing(labels):
            raise ValueError(
                "groups contains missing labels (NaN, NaT, None or infinity); "
                "give every row a label."
            )
        try:
            unique, first, inverse, sizes = np.unique(
                labels, return_index=True, return_inverse=True, return_counts=True
            )
        except TypeError as error:  # None, or numbers mixed with strings
            raise ValueError(
                "groups holds labels that cannot be compared with each other "
                "(None, or numbers mixed with strings); use labels of one type."
            ) from error
        order = np.argsort(first, kind="stable")  # groups by their first row
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0])
        codes = rank[np.asarray(inverse).ravel()].astype(np.intp)
        return cls(codes, first[order], sizes[order], unique[order].tolist())

    def take(self, rows) -> Groups:
        """The grouping of the rows ``rows`` (indices, in order), with the
        labels of their groups."""
        part = Groups.from_labels(self.codes[rows])
        labels = [self.labels[code] for code in part.labels]
        return Groups(part.codes, part.first, part.sizes, labels)

    @property
    def n_groups(self) -> int:
        return self.first.shape[0]

    def _indicator(self, dtype):
        """The (n_samples, n_groups) 0/1 matrix, in ``dtype`` (kept per dtype)."""
        dtype = np.dtype(dtype)
        if dtype not in self._indicators:
            n = self.codes.shape[0]
            self._indicators[dtype] = sparse.csr_array(
                (np.ones(n, dtype=dtype), (np.arange(n), self.codes)),
                shape=(n, self.n_groups),
            )
        return self._indicators[dtype]

    def _buckets(self):
        """The groups in buckets of sizes up to a power of two: for each, the
        rows of its groups padded to that width with ``n_samples`` (the index
        of a column of zeros), flat, with the number of groups and the width;
        and the permutation that puts the buckets' groups back in order."""
        if "buckets" not in self._indicators:
            n = self.codes.shape[0]
            by_group = np.argsort(self.codes, kind="stable")  # rows, group by group
            starts = np.cumsum(self.sizes) - self.sizes
            widths = 1 << np.ceil(np.log2(self.sizes)).astype(np.intp)
            buckets, members = [], []
            for width in np.unique(widths):
                groups = np.flatnonzero(widths == width)
                position = starts[groups][:, None] + np.arange(width)[None, :]
                padded = np.arange(width)[None, :] >= self.sizes[groups][:, None]
                rows = np.where(padded, n, by_group[np.minimum(position, n - 1)])
                buckets.append((rows.ravel(), groups.shape[0], int(width)))
                members.append(groups)
            back = np.argsort(np.concatenate(members))
            self._indicators["buckets"] = (buckets, back)
        return self._indicators["buckets"]

    def sum(self, xp, values: Array) -> Array:
        """Sums of ``values`` (K, n_samples) over each group's rows: (K, n_groups).

        A sparse product in NumPy; in other namespaces (a GPU's), on their
        device: the rows gathered into groups padded to the next power of two
        in size (at most twice the data), summed, and put back in order.
        """
        if is_numpy_array(values):
            out = values @ self._indicator(values.dtype)
            return np.asarray(out, dtype=values.dtype)
        buckets, order = self._buckets()
        n_rows = values.shape[0]
        zeros = xp.zeros((n_rows, 1), dtype=values.dtype, device=device_of(values))
        extended = xp.concat([values, zeros], axis=1)
        parts = []
        for index, (flat, n_groups, width) in enumerate(buckets):
            rows = self._on(xp, ("bucket", index), lambda flat=flat: flat, values)
            taken = xp.take(extended, rows, axis=1)
            parts.append(xp.sum(xp.reshape(taken, (n_rows, n_groups, width)), axis=2))
        back = self._on(xp, "back", lambda: order, values)
        return xp.take(xp.concat(parts, axis=1), back, axis=1)

    def _on(self, xp, key, make, like, dtype=None):
        """The host array ``make()`` in ``like``'s namespace and on its device
        (as ``dtype``, where given), kept per device: a fit's E-steps then do
        not copy the indices to a GPU each time."""
        if is_numpy_array(like):
            return make()
        name = (key, repr(device_of(like)), repr(dtype))
        if name not in self._indicators:
            self._indicators[name] = xp.asarray(
                make(), dtype=dtype, device=device_of(like)
            )
        return self._indicators[name]

    def at_rows(self, xp, values: Array) -> Array:
        """Each row's entry of the per-group ``values`` (..., n_groups)."""
        index = self._on(xp, "codes", lambda: self.codes, values)
        return xp.take(values, index, axis=values.ndim - 1)

    def at_first(self, xp, values: Array) -> Array:
        """Each group's first row of the per-row ``values`` (..., n_samples)."""
        index = self._on(xp, "first", lambda: self.first.astype(np.intp), values)
        return xp.take(values, index, axis=values.ndim - 1)

    def share(self, xp, like: Array) -> Array:
        """``1 / n_g`` for each row: the weight of a row in its group's total."""
        if is_numpy_array(like):
            share = (1.0 / self.sizes)[self.codes]
            return share.astype(like.dtype) if share.dtype != like.dtype else share
        # made in like's dtype on the way to its device: a float64 copy raised
        # on a device without float64 (PyTorch's "mps") for a float32 fit
        return self._on(
            xp, "share", lambda: (1.0 / self.sizes)[self.codes], like, like.dtype
        )

    def varies(self, values: np.ndarray) -> np.ndarray:
        """Indices of the groups in which the rows of the host ``values``
        (n_samples, ...) are not all equal."""
        values = np.asarray(values)
        differs = values != values[self.first[self.codes]]
        differs = differs.reshape(values.shape[0], -1).any(axis=1)
        return np.unique(self.codes[differs])


def _missing(labels: np.ndarray) -> bool:
    """Whether a label is missing: NaN or infinite, NaT, None, or (in an
    object array) a value unequal to itself (NaN, pandas' NA)."""
    if labels.dtype.kind in "fc":
        return not np.all(np.isfinite(labels))
    if labels.dtype.kind in "mM":
        return bool(np.any(np.isnat(labels)))
    if labels.dtype.kind != "O":
        return False
    for label in labels:
        try:
            if label is None or bool(label != label):
                return True
        except TypeError:  # pandas' NA, whose truth value is ambiguous
            return True
    return False


def check_groups(groups, n_samples) -> Groups:
    """:class:`Groups` from the user's ``groups``, checked against the rows."""
    grouping = Groups.from_labels(groups)
    if grouping.codes.shape[0] != n_samples:
        raise ValueError(
            f"groups has {grouping.codes.shape[0]} labels but X has {n_samples} "
            "samples; pass one group label per row."
        )
    return grouping


def mix(xp, log_mix: Array, log_p: Array, groups: Groups | None):
    """Per-row log-likelihood and responsibilities (K, n) from the log gate values
    that mix (``log_mix``) and the experts' log-likelihoods (``log_p``).

    With ``groups``, a group's log-likelihood is split evenly over its rows
    (``log p(y_g | x_g) / n_g`` each), so that weighted sums over rows stay
    the total over groups for weights constant within each group.
    """
    if groups is None:
        return _normalized(xp, log_mix + log_p)
    log_norm, resp = _normalized(
        xp, groups.at_first(xp, log_mix) + groups.sum(xp, log_p)
    )
    resp = groups.at_rows(xp, resp)
    return groups.at_rows(xp, log_norm) * groups.share(xp, log_norm), resp


def _normalized(xp, joint: Array):
    """``logsumexp(joint, axis=0)`` and ``exp(joint - that)``, the
    responsibilities, from the joint log-probabilities (K, n) (consumed).

    On NumPy from one exp: the responsibilities are the log-sum-exp's own
    ``exp(joint - max)`` divided by their sum, in place, where a second exp,
    of ``joint - log_norm``, took as long again (NumPy's float64 exp took 13
    ns an entry on the AVX2 development machine; the E-step's mixing took
    half the time, 0.87 against 1.76 ms at K=4, n=1e4). The log-sum-exp is
    the same number; the responsibilities lose one rounding at ``joint``'s
    scale (the subtraction of ``log_norm``): with the best expert's joint at
    0 and the others' down to -705, 4.2e-14 off mpmath's (relative) before,
    within 3.6e-15 now. Entries below the smallest normal float are 0 before
    the division, as :func:`skmoe._math.exp` gives them; the division can
    leave a few subnormal. Other namespaces take the same arithmetic (their
    own exp, unflushed, not in place): with their two exps kept, EM in
    array-api-strict no longer matched NumPy's (a history 3 iterations
    longer at tol=0; a float32 Poisson fit 1.8e-4 off).
    """
    if not is_numpy_array(joint):
        a_max = xp.max(joint, axis=0, keepdims=True)
        a_max = xp.where(xp.isfinite(a_max), a_max, xp.zeros_like(a_max))
        shifted = xp.exp(joint - a_max)
        total = xp.sum(shifted, axis=0, keepdims=True)
        log_norm = xp.squeeze(xp.log(total) + a_max, axis=0)
        return log_norm, shifted / total
    last = joint.shape[-1]
    # in blocks of samples, as logsumexp's (cache-sized passes)
    block = max(1024, LOGSUMEXP_BLOCK * last // max(joint.size, 1))
    log_norm = np.empty(last, dtype=joint.dtype)
    for start in range(0, max(last, 1), block):
        part = joint[:, start : start + block]
        # (logsumexp's arithmetic: the same log_norm)
        a_max = np.max(part, axis=0, keepdims=True)
        a_max[~np.isfinite(a_max)] = 0
        np.subtract(part, a_max, out=part)
        exp(np, part, out=part)
        total = sums_in_turn(np, part, axis=0, keepdims=True)
        log_norm[start : start + block] = np.log(total)[0] + a_max[0]
        np.divide(part, total, out=part)  # (0 / 0 where all -inf: NaN, as before)
    return log_norm, joint
