"""Helpers shared by the displays: lazy matplotlib, unwrapping, namespaces, grids."""

from __future__ import annotations

from contextlib import nullcontext
from numbers import Integral

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection._search import BaseSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)
from sklearn.utils.validation import (
    _check_feature_names,
    _num_features,
    check_array,
    check_is_fitted,
)

from .._backend import array_namespace, device_of, host, is_numpy_array, to_numpy
from .._base import BaseMixtureOfExperts, _through_steps


def import_pyplot():
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skmoe.plotting needs matplotlib: pip install '.[plot]' in the skmoe "
            "source checkout (or pip install matplotlib)."
        ) from exc
    return plt


def get_ax(ax):
    """``(ax, figure)``: the given axes, or new ones on a new figure; a
    TypeError for anything else (``ax="abc"`` raised "'str' object has no
    attribute 'figure'")."""
    plt = import_pyplot()
    if ax is None:
        _, ax = plt.subplots()
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(
            f"ax must be a matplotlib Axes or None; got {ax!r} of type "
            f"{type(ax).__name__}."
        )
    return ax, ax.figure


def styled(defaults, kwargs, artist):
    """The keywords of a matplotlib call: ``defaults`` (the display's own), then
    the user's ``kwargs`` over them, their aliases (``c``, ``ls``, ``lw``, ...)
    first spelled as ``artist``'s full names (``c="k"`` with a default
    ``color`` raised matplotlib's 'Got both 'color' and 'c'')."""
    from matplotlib import cbook

    return {**defaults, **cbook.normalize_kwargs(kwargs, artist)}


def as_numpy(a):
    """``a`` as a NumPy array on the host (None stays None): what gets drawn."""
    return None if a is None else np.asarray(host(a))


def _unwrap_search(estimator):
    """The refitted best estimator of a fitted hyperparameter search."""
    if not isinstance(estimator, BaseSearchCV):
        return estimator
    check_is_fitted(estimator)
    if not hasattr(estimator, "best_estimator_"):
        raise ValueError(
            f"This {type(estimator).__name__} was fitted with refit=False, so it "
            "has no best_estimator_ to draw; fit it with refit=True, or pass a "
            "fitted estimator."
        )
    return estimator.best_estimator_


def _unfrozen(estimator):
    """The fitted model a FrozenEstimator holds (scikit-learn's replacement
    for ``cv="prefit"``); other estimators unchanged."""
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return estimator


def _unwrapped(estimator):
    """The model that FrozenEstimators and fitted searches hold, in any nesting
    (a FrozenEstimator of a fitted GridSearchCV was refused, 'got
    GridSearchCV')."""
    inner = _unfrozen(_unwrap_search(estimator))
    while inner is not estimator:
        estimator, inner = inner, _unfrozen(_unwrap_search(inner))
    return estimator


class FittedMixture:
    """A fitted mixture of experts as a display sees it, and how to call it.

    ``estimator`` is a fitted skmoe estimator, a fitted Pipeline
    ending in one, or a fitted GridSearchCV or RandomizedSearchCV (refit=True)
    whose ``best_estimator_`` is one of these; a
    :class:`~sklearn.frozen.FrozenEstimator` of any of these, or as a
    pipeline's step, is drawn as the model it holds.

    Attributes
    ----------
    estimator : estimator
        The mixture or the pipeline (a search's best estimator); its
        ``n_features_in_`` and ``feature_names_in_`` describe the raw input.
    moe : BaseMixtureOfExperts
        The mixture of experts itself.
    """

    def __init__(self, estimator):
        estimator = _unwrapped(estimator)
        if isinstance(estimator, type):  # its message said "got ABCMeta"
            raise TypeError(
                f"Expected a fitted estimator; got the class {estimator.__name__}, "
                "not an instance: fit one, e.g. "
                f"{estimator.__name__}().fit(X, y), and pass it."
            )
        moe = _unwrapped(
            estimator[-1] if isinstance(estimator, Pipeline) else estimator
        )
        if isinstance(moe, TransformedTargetRegressor):
            raise TypeError(
                "TransformedTargetRegressor predicts through a target transform "
                "that the displays do not apply. Pass its fitted inner regressor, "
                "`.regressor_`, to draw the model on the transformed target scale."
            )
        if not isinstance(moe, BaseMixtureOfExperts):
            raise TypeError(
                "Expected a fitted mixture of experts "
                "(MoENegativeBinomialRegressor, MoERegressor, MoEPoissonRegressor, "
                "MoEGammaRegressor or MoEClassifier), a Pipeline ending "
                "in one, or a fitted GridSearchCV or RandomizedSearchCV whose "
                f"best_estimator_ is one of these; got {type(moe).__name__}."
            )
        check_is_fitted(moe)
        self.estimator = estimator
        self.moe = moe

    @property
    def first(self):
        """The estimator that first sees the raw input in ``predict``: the
        mixture, or a pipeline's first step that is not ``"passthrough"`` (or
        None); the mixture where all its steps before it are."""
        if not isinstance(self.estimator, Pipeline):
            return self.moe
        for _, step in self.estimator.steps:
            if step is not None and step != "passthrough":
                return step
        return self.moe  # pragma: no cover - the last step is the mixture

    def check_names(self, X):
        """Check X's column names as ``predict`` checks them, with
        scikit-learn's own check on the estimator that first sees X
        (:attr:`first`): its TypeError for names of mixed types, its
        UserWarnings for names given to a model fitted without them and for
        none (or not strings: integers, a MultiIndex) given to one fitted with
        them, and its ValueError for other names, or the same in another
        order. The grid is built over X's columns by position and then named
        as in the fit, so columns in another order (which a ColumnTransformer
        would take by name) drew b's range and values as a's, silently.

        A first step that recorded nothing of its input at fit (a stateless
        transformer, without ``n_features_in_``) checks no names, and X's are
        not checked here. A FunctionTransformer with ``validate=False`` (its
        default) records X's names at fit but checks none in ``transform``:
        X goes through it, and the next step checks its output, as in
        ``predict`` (its names were checked against the transformer's: a
        transformer's output without names drew other names, or mixed types,
        with a ValueError or TypeError where predict drew them silently)."""
        steps = [self.moe]
        if isinstance(self.estimator, Pipeline):
            steps = [
                step
                for _, step in self.estimator.steps
                if step is not None and step != "passthrough"
            ]
        for step in steps:
            # a FrozenEstimator transforms and checks names as the model it
            # holds (a frozen FunctionTransformer was checked as validated)
            step = _unfrozen(step)
            if not hasattr(step, "n_features_in_"):
                return
            if not isinstance(step, FunctionTransformer) or step.validate:
                _check_feature_names(step, X, reset=False)
                return
            X = step.transform(X)

    def n_features(self, X):
        """Number of raw input features: the estimator's; for a pipeline whose
        first step records none (a stateless transformer), X's, which its
        predictions check (the last step's count, of transformed features,
        refused drawable inputs)."""
        if hasattr(self.estimator, "n_features_in_"):
            return self.estimator.n_features_in_
        if isinstance(self.estimator, Pipeline):
            return _num_features(X)
        return self.moe.n_features_in_

    def fitted_context(self):
        """Context under which the model's methods accept :meth:`inputs`.

        A model fitted under scikit-learn's Array API dispatch keeps its fitted
        attributes in the namespace of its training data and predicts on input
        of that namespace only, with the dispatch on.
        """
        if is_numpy_array(self.moe.expert_usage_):
            return nullcontext()
        return sklearn.config_context(array_api_dispatch=True)

    def inputs(self, X):
        """``X`` as the mixture's input: in the namespace and on the device the
        model was fitted in, and through the pipeline's preceding steps.

        Call within :meth:`fitted_context`.
        """
        like = self.moe.expert_usage_
        if is_numpy_array(like):
            X = host(X)  # an Array API array, for a model fitted on NumPy
        else:
            # X's names checked before they are dropped here (predict checks
            # them first; ExpertUsageDisplay drew mixed-type names, or names for
            # a model fitted without them, silently where predict raised or
            # warned)
            self.check_names(X)
            xp = array_namespace(like)
            X = xp.asarray(np.asarray(host(X)), device=device_of(like))
        if isinstance(self.estimator, Pipeline):
            X = _through_steps(self.estimator, X)
        return X

    def call(self, method, X, **kwargs):
        """``moe.method(X, **kwargs)`` on raw input X, its outputs on the host.

        Array outputs (or tuples of them) come back as NumPy arrays; others (a
        PredictiveMixture) as the method returns them.
        """
        with self.fitted_context():
            out = getattr(self.moe, method)(self.inputs(X), **kwargs)
        if isinstance(out, tuple):
            return tuple(to_numpy(a) for a in out)
        return to_numpy(out) if hasattr(out, "__dlpack__") else out


def fitted_solver(moe):
    """The solver ``moe`` was fitted with (the ``solver`` parameter may have
    changed since, by ``set_params``)."""
    return getattr(moe, "_fitted_solver", moe.solver)


def feature_names(estimator, n_features):
    """Input feature names, from the estimator that first sees the raw input
    (:attr:`FittedMixture.first`) if it saw any."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(n_features)]
    return [str(name) for name in names]


def input_grid(X, n_features, grid_resolution, eps, features=None):
    """A regular grid over the range of X's columns (1 or 2 of them), NaN
    left out (as scikit-learn's ``partial_dependence`` does): X may be the
    input of a pipeline that imputes them, which refused it ('Input contains
    NaN'), and only its range is used. ``features``: the indices the messages
    give X's columns, where X holds some columns of the input (GateDisplay's
    gate features: gate_features=[3] with a constant column 3 said "X's
    feature 0 is constant").

    Returns the grid as rows of shape (n_points, n_features) and the axes values.
    """
    with sklearn.config_context(array_api_dispatch=False):  # NumPy from here on
        try:
            X = check_array(
                host(X), dtype=np.float64, ensure_all_finite="allow-nan", input_name="X"
            )
        except ValueError as error:
            if "could not convert" not in str(error):
                raise
            raise ValueError(
                "This display draws over the raw input's features on a regular "
                "grid, so they must be numeric; X has a non-numeric column "
                f"({error}). ExpertUsageDisplay and ConvergenceDisplay draw any "
                "input."
            ) from error
    if n_features not in (1, 2):
        raise ValueError(
            f"This display draws inputs with 1 or 2 features; the estimator "
            f"expects {n_features}."
        )
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the estimator expects {n_features}."
        )
    features = range(n_features) if features is None else features
    columns = [column[~np.isnan(column)] for column in X.T]
    for j, column in zip(features, columns, strict=True):
        if column.size == 0:
            raise ValueError(
                f"X's feature {j} holds NaN only, so it sets no range for the "
                "grid; pass an X with values of each feature drawn."
            )
    # (min == max: np.ptp overflows for a range of -1e308 to 1e308)
    constant = [
        j
        for j, column in zip(features, columns, strict=True)
        if column.min() == column.max()
    ]
    if constant and eps == 0:  # a map or curve of width 0: a blank plot
        raise ValueError(
            f"X's feature {constant[0]} is constant, so the grid over its range "
            "has no width; pass eps > 0 to draw around it (GateDisplay), or an X "
            "that spans the inputs to draw."
        )
    with np.errstate(over="ignore"):
        ends = [(column.min() - eps, column.max() + eps) for column in columns]
    if not np.all(np.isfinite(ends)):
        raise ValueError(
            f"The range of X extended by eps={eps} on each side overflows "
            "float64; pass a smaller eps."
        )
    axes = [_linspace(low, high, grid_resolution) for low, high in ends]
    if n_features == 1:
        return axes[0][:, None], axes
    xx0, xx1 = np.meshgrid(*axes)
    return np.column_stack([xx0.ravel(), xx1.ravel()]), axes


def _linspace(low, high, num):
    """``np.linspace(low, high, num)``, also where ``high - low`` overflows."""
    with np.errstate(over="ignore"):
        if np.isfinite(high - low):
            return np.linspace(low, high, num)
    # a range beyond the largest float (-1e308 to 1e308): its step is inf, and
    # the points NaN; halving is exact at these magnitudes
    return np.clip(2 * np.linspace(low / 2, high / 2, num), low, high)


def check_parameters(constraints, params, caller_name):
    """scikit-learn's ``validate_parameter_constraints``, refusing bools too: an
    ``Interval`` takes True for the number 1 (``expert=True`` added an axis to the
    gate, and ``grid_resolution=True`` drew a one-point grid)."""
    for name, value in params.items():
        if isinstance(value, (bool, np.bool_)):
            raise InvalidParameterError(
                f"The {name!r} parameter of {caller_name} must be a number, not a "
                f"bool. Got {value!r} instead."
            )
    validate_parameter_constraints(constraints, params, caller_name=caller_name)


def check_grid_resolution(grid_resolution, caller_name):
    """Raise scikit-learn's error for a ``grid_resolution`` that is not an int >= 2
    (one point drew an empty map, and an invisible curve)."""
    check_parameters(
        {"grid_resolution": [Interval(Integral, 2, None, closed="left")]},
        {"grid_resolution": grid_resolution},
        caller_name,
    )


def as_frame_if_named(estimator, grid):
    """The grid as a DataFrame when the estimator (:attr:`FittedMixture.first`)
    was fitted on named features."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return grid
    import pandas as pd

    return pd.DataFrame(grid, columns=names)


def exposure_arguments(moe, exposure, caller_name, *, counts=True):
    """``{"exposure": exposure}`` for ``moe``'s methods, or ``{}``.

    ``exposure`` is :class:`~skmoe.MoEPoissonRegressor`'s (and so its subclass
    :class:`~skmoe.MoENegativeBinomialRegressor`'s) only. Without it, a
    model fitted with exposures is drawn per unit exposure, which the caller is
    warned of where ``counts`` (y) are drawn too (they were drawn against the
    rates, without a word)."""
    from .._poisson import MoEPoissonRegressor
    from .._warnings import _warn_user

    if exposure is not None:
        if not isinstance(moe, MoEPoissonRegressor):
            raise ValueError(
                f"{caller_name} takes exposure for a "
                "MoENegativeBinomialRegressor or MoEPoissonRegressor only; "
                f"the model is a {type(moe).__name__}."
            )
        return {"exposure": exposure}
    if counts and getattr(moe, "_exposure_given", False):
        _warn_user(
            f"The {type(moe).__name__} was fitted with exposure, and "
            f"{caller_name} was called without it: it draws the model per unit "
            "exposure. Pass exposure= to draw it at the data's exposures."
        )
    return {}
