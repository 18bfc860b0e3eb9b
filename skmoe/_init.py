"""Initial responsibilities for EM restarts."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

#: Responsibility given to a sample's initial expert; the rest is spread evenly
#: over the others (R flexmix's start: random labels, posteriors 0.9 / 0.1).
HARD_SHARE = 0.9


def initial_responsibilities(
    X, target, sample_weight, n_experts, method, random_state
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
    """
    n_samples = X.shape[0]
    labels = np.zeros(n_samples, dtype=np.intp)
    active = sample_weight > 0
    if n_experts > 1:
        if method == "kmeans":
            labels[active] = _kmeans_labels(
                X[active],
                target[active],
                sample_weight[active],
                n_experts,
                random_state,
            )
        else:
            labels[active] = random_state.randint(n_experts, size=int(active.sum()))
    resp = np.full(
        (n_samples, n_experts), (1 - HARD_SHARE) / max(n_experts - 1, 1), dtype=X.dtype
    )
    resp[np.arange(n_samples), labels] = HARD_SHARE if n_experts > 1 else 1.0
    return resp


def _kmeans_labels(X, target, sample_weight, n_experts, random_state):
    Z = np.column_stack([X, np.reshape(target, (X.shape[0], -1))]).astype(np.float64)
    mean = np.average(Z, axis=0, weights=sample_weight)
    std = np.sqrt(np.average((Z - mean) ** 2, axis=0, weights=sample_weight))
    Z = (Z - mean) / np.where(std > 0, std, 1.0)
    kmeans = KMeans(n_clusters=n_experts, n_init=1, random_state=random_state)
    with warnings.catch_warnings():
        # duplicated points can leave fewer distinct clusters than experts; EM
        # copes, the random part of the responsibilities separates them
        warnings.simplefilter("ignore", ConvergenceWarning)
        return kmeans.fit(Z, sample_weight=sample_weight).labels_
