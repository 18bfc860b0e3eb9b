"""Initial responsibilities for EM restarts."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from ._backend import openmp_threads

#: Responsibility given to a sample's initial expert; the rest is spread evenly
#: over the others (R flexmix's start: random labels, posteriors 0.9 / 0.1).
HARD_SHARE = 0.9


def initial_responsibilities(
    X, target, sample_weight, n_experts, method, random_state, groups=None
) -> np.ndarray:
    """Soft responsibilities (n_samples, n_experts) for one EM restart.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The target as numbers (one-hot for classes); k-means clusters ``[X, target]``.
    sample_weight : ndarray of shape (n_samples,)
        Samples with zero weight take no part in the initialization, so that a zero
        weight is the same as leaving the sample out.
    n_experts : int
    method : {"kmeans", "random"}
        ``"kmeans"`` labels by k-means on the standardized ``[X, target]``;
        ``"random"`` draws a random label for each sample.
    random_state : numpy.random.RandomState
    groups : Groups or None
        Rows that share one expert: ``"random"`` draws a label per group,
        ``"kmeans"`` gives a group the label most of its rows get.
    """
    n_samples = X.shape[0]
    labels = np.zeros(n_samples, dtype=np.intp)
    active = sample_weight > 0
    if n_experts > 1:
        if method == "kmeans":
            every = bool(np.all(active))  # no copy of X where all rows take part
            labels[active] = _kmeans_labels(
                X if every else X[active],
                target if every else target[active],
                sample_weight if every else sample_weight[active],
                n_experts,
                random_state,
            )
            if groups is not None:  # each group its rows' most common label
                counts = np.zeros((groups.n_groups, n_experts))
                np.add.at(counts, (groups.codes[active], labels[active]), 1)
                labels = np.argmax(counts, axis=1)[groups.codes]
        elif groups is not None:  # a label for each group of positive weight
            drawn = np.zeros(groups.n_groups, dtype=np.intp)
            kept = active[groups.first]
            drawn[kept] = random_state.randint(n_experts, size=int(kept.sum()))
            labels = drawn[groups.codes]
        else:
            labels[active] = random_state.randint(n_experts, size=int(active.sum()))
    resp = np.full(
        (n_samples, n_experts), (1 - HARD_SHARE) / max(n_experts - 1, 1), dtype=X.dtype
    )
    resp[np.arange(n_samples), labels] = HARD_SHARE if n_experts > 1 else 1.0
    return resp


def _kmeans_labels(X, target, sample_weight, n_experts, random_state):
    # one float64 copy of [X, target], standardized in place (the former chain
    # of column_stack, astype and arithmetic held about 4 copies of X at once)
    target = np.reshape(target, (X.shape[0], -1))
    Z = np.empty((X.shape[0], X.shape[1] + target.shape[1]), dtype=np.float64)
    Z[:, : X.shape[1]] = X
    Z[:, X.shape[1] :] = target
    # each column in units of its largest value first: squares of targets of
    # 1e155 overflowed, and k-means saw no target
    scale = np.max(np.abs(Z), axis=0, initial=0.0)
    Z /= np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    Z -= np.average(Z, axis=0, weights=sample_weight)
    std = np.sqrt(np.average(Z**2, axis=0, weights=sample_weight))
    Z /= np.where(std > 0, std, 1.0)
    # duplicated points can leave fewer distinct points than experts: as many
    # clusters as points (KMeans warns of fewer clusters than asked for, and
    # warnings.catch_warnings, which hid that, is not thread-safe); EM copes,
    # the random part of the responsibilities separates the experts
    n_clusters = _distinct_rows(Z, n_experts)
    kmeans = KMeans(
        n_clusters=n_clusters, n_init=1, random_state=random_state, copy_x=False
    )
    with openmp_threads():
        return kmeans.fit(Z, sample_weight=sample_weight).labels_


def _distinct_rows(Z, at_most) -> int:
    """The number of distinct rows of ``Z``, up to ``at_most``: first among
    rows spread over Z (sorted data repeats its first rows), then, where
    those are fewer, among all."""
    step = max(1, Z.shape[0] // (8 * at_most))
    for rows in (Z[::step], Z) if step > 1 else (Z,):
        distinct = np.unique(rows, axis=0).shape[0]
        if distinct >= at_most:
            return at_most
    return distinct
