"""Helpers shared by the displays: lazy matplotlib, pipelines, grids."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array, check_is_fitted

from .._base import BaseMixtureOfExperts


def import_pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skmoe.plotting needs matplotlib: pip install 'skmoe[plot]' "
            "(or pip install matplotlib)."
        ) from exc
    return plt


def get_ax(ax):
    """``(ax, figure)``: the given axes, or new ones on a new figure."""
    plt = import_pyplot()
    if ax is None:
        _, ax = plt.subplots()
    return ax, ax.figure


def split_estimator(estimator):
    """``(transform, moe)``: how to turn X into the mixture's input, and the mixture.

    ``estimator`` is a fitted mixture of experts or a fitted Pipeline ending in one.
    """
    if isinstance(estimator, Pipeline):
        moe = estimator[-1]
        preprocessing = estimator[:-1]

        def transform(X):
            return preprocessing.transform(X)

    else:
        moe = estimator

        def transform(X):
            return X

    if not isinstance(moe, BaseMixtureOfExperts):
        raise TypeError(
            "Expected a fitted MoERegressor or MoEClassifier, or a Pipeline ending "
            f"in one; got {type(moe).__name__}."
        )
    check_is_fitted(moe)
    return transform, moe


def feature_names(estimator, n_features):
    """Input feature names, from the estimator (pipeline) if it saw any."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(n_features)]
    return [str(name) for name in names]


def input_grid(X, n_features, grid_resolution, eps):
    """A regular grid over the range of X's columns (1 or 2 of them).

    Returns the grid as rows of shape (n_points, n_features) and the axes values.
    """
    X = check_array(X, dtype=np.float64)
    if X.shape[1] != n_features or n_features not in (1, 2):
        raise ValueError(
            f"X has {X.shape[1]} features; this display draws inputs with 1 or 2 "
            f"features (the estimator expects {n_features})."
        )
    axes = [
        np.linspace(column.min() - eps, column.max() + eps, grid_resolution)
        for column in X.T
    ]
    if n_features == 1:
        return axes[0][:, None], axes
    xx0, xx1 = np.meshgrid(*axes)
    return np.column_stack([xx0.ravel(), xx1.ravel()]), axes


def as_frame_if_named(estimator, grid):
    """The grid as a DataFrame when the estimator was fitted on named features."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return grid
    import pandas as pd

    return pd.DataFrame(grid, columns=names)
