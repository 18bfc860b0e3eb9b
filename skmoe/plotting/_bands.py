"""PredictionBandsDisplay: a regression's predictive mean with a band."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import is_regressor
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
)
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    column_or_1d,
)

from .._fitting import _refuse_lazy_frames
from ._utils import (
    FittedMixture,
    as_frame_if_named,
    as_numpy,
    check_grid_resolution,
    check_parameters,
    exposure_arguments,
    get_ax,
    input_grid,
    styled,
)


class PredictionBandsDisplay:
    """Predictive mean of a 1-D regression with a band around it.

    The band is either a central interval of the predictive mixture
    (``band="quantile"``: its ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``
    quantiles, which follow a multimodal or skewed distribution) or the mean plus
    or minus ``n_std`` predictive standard deviations (``band="std"``). Build it
    with :meth:`from_estimator`.

    Parameters
    ----------
    x : ndarray of shape (n_points,)
        Input values, increasing.
    mean, lower, upper : ndarray of shape (n_points,)
        Predictive mean and the band's edges at ``x``.
    X, y : ndarray of shape (n_samples,), default=None
        Data to draw as points under the curve.
    band_label : str, default="band"
        Legend label of the band.
    xlabel : str, default="x"
        Label of the horizontal axis.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D
        The predictive mean.
    band_ : matplotlib.collections.PolyCollection
        The band.
    scatter_ : matplotlib.collections.PathCollection or None
        The data points, if given.
    ax_ : matplotlib.axes.Axes
        Axes the plot is drawn on.
    figure_ : matplotlib.figure.Figure
        Figure containing the axes.

    See Also
    --------
    skmoe.MoERegressor.predict_distribution : The predictive mixture.
    skmoe.MoEPoissonRegressor.predict_distribution : The same for counts, whose
        quantile band steps from count to count (as
        :meth:`skmoe.MoENegativeBinomialRegressor.predict_distribution`'s).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> from skmoe.plotting import PredictionBandsDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.abs(X[:, 0]) + 0.1 * rng.randn(300)
    >>> reg = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = PredictionBandsDisplay.from_estimator(reg, X, y, band="std")
    >>> np.allclose(display.line_.get_ydata(), reg.predict(display.x[:, None]))
    True
    """

    def __init__(
        self,
        x,
        mean,
        lower,
        upper,
        *,
        X=None,
        y=None,
        band_label="band",
        xlabel="x",
    ):
        self.x = as_numpy(x)
        self.mean = as_numpy(mean)
        self.lower = as_numpy(lower)
        self.upper = as_numpy(upper)
        self.X = as_numpy(X)
        self.y = as_numpy(y)
        self.band_label = band_label
        self.xlabel = xlabel

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        band="quantile",
        coverage=0.9,
        n_std=2.0,
        grid_resolution=200,
        exposure=None,
        ax=None,
        **kwargs,
    ):
        """Predict on a grid over the range of X and draw mean and band.

        Parameters
        ----------
        estimator : regressor, Pipeline or search
            Fitted MoERegressor, MoEPoissonRegressor,
            MoENegativeBinomialRegressor or MoEGammaRegressor with one input
            feature, a fitted pipeline ending in one, or a fitted
            GridSearchCV or RandomizedSearchCV whose ``best_estimator_`` is
            one of these.
        X : array-like of shape (n_samples, 1)
            Input data; sets the grid's range (NaN left out, as a pipeline
            that imputes them takes them; such rows' points are not drawn).
        y : array-like of shape (n_samples,), default=None
            Targets; when given, the data are drawn as points.
        band : {"quantile", "std"}, default="quantile"
            Central interval of the predictive mixture, or mean +- ``n_std``
            standard deviations (cut at 0 for MoEPoissonRegressor,
            MoENegativeBinomialRegressor and MoEGammaRegressor, whose targets
            are not negative).
        coverage : float, default=0.9
            Probability inside the quantile band, in (0, 1).
        n_std : float, default=2.0
            Half-width of the std band in standard deviations, positive.
        grid_resolution : int, default=200
            Number of grid points, at least 2.
        exposure : float, default=None
            :class:`~skmoe.MoEPoissonRegressor` and
            :class:`~skmoe.MoENegativeBinomialRegressor` only: one exposure,
            positive, at which the counts' mean and band are drawn over the
            grid. None draws the rates per unit exposure (a model fitted with
            exposures then warns where y is drawn: its counts are at their
            own).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to :meth:`plot`, and on to ``ax.plot`` for the mean line.

        Returns
        -------
        display : PredictionBandsDisplay
        """
        # before any work, in scikit-learn's words
        caller = "PredictionBandsDisplay.from_estimator"
        check_grid_resolution(grid_resolution, caller)
        check_parameters(
            {
                "band": [StrOptions({"quantile", "std"})],
                "coverage": [Interval(Real, 0, 1, closed="neither")],
                "n_std": [Interval(Real, 0, None, closed="neither")],
                "exposure": [Interval(Real, 0, None, closed="neither"), None],
            },
            {"band": band, "coverage": coverage, "n_std": n_std, "exposure": exposure},
            caller,
        )
        _refuse_lazy_frames(X=X, y=y)
        model = FittedMixture(estimator)
        if not is_regressor(model.moe) or not hasattr(
            model.moe, "predict_distribution"
        ):
            raise TypeError(
                "PredictionBandsDisplay needs a fitted MoERegressor, "
                "MoEPoissonRegressor, MoENegativeBinomialRegressor or "
                "MoEGammaRegressor (a model with predict_distribution); got "
                f"{type(model.moe).__name__}."
            )
        model.check_names(X)  # (as predict: before the number of features)
        n_features = model.n_features(X)
        if n_features != 1:
            raise ValueError(
                f"PredictionBandsDisplay draws one input feature; the estimator "
                f"expects {n_features}."
            )
        points, grid = input_grid(X, 1, grid_resolution, 0.0)
        X_points = None
        if y is not None:
            # drawn as points under the curve: one number per row of X (a NaN
            # is left out by matplotlib), checked here rather than by
            # matplotlib's "x and y must be the same size" when drawing
            X_points = as_numpy(X).astype(float).reshape(-1)
            y = check_array(
                as_numpy(y),
                ensure_2d=False,
                dtype="numeric",
                ensure_all_finite=False,
                input_name="y",
            )
            y = column_or_1d(y)
            check_consistent_length(X_points, y)
        points = as_frame_if_named(model.first, points)
        target = exposure_arguments(model.moe, exposure, caller, counts=y is not None)
        if band == "quantile":
            distribution = model.call("predict_distribution", points, **target)
            mean = distribution.mean()
            lower = distribution.ppf((1 - coverage) / 2)
            upper = distribution.ppf((1 + coverage) / 2)
            label = f"{_percent(coverage)} predictive interval"
        else:
            # a count model's predict without the exposure it requests (metadata
            # routing) warns of a caller that dropped it: the display draws
            # per unit exposure by design, and exposure_arguments warns where
            # counts are drawn (once, as band="quantile")
            if hasattr(model.moe, "_predict_counts"):
                exposure = target.get("exposure")
                mean, std = model.call(
                    "_predict_counts", points, return_std=True, exposure=exposure
                )
            else:
                mean, std = model.call("predict", points, return_std=True, **target)
            if not np.all(np.isfinite(std)):
                raise ValueError(
                    "band='std' needs a finite predictive standard deviation; "
                    "the model's is infinite (Student-t noise with df <= 2 has "
                    "no variance). Use band='quantile', whose interval is finite."
                )
            lower, upper = mean - n_std * std, mean + n_std * std
            if model.moe.__sklearn_tags__().target_tags.positive_only:
                lower = np.maximum(lower, 0.0)  # counts and amounts stop at 0
            label = f"mean $\\pm$ {n_std:g} std"
        names = getattr(model.first, "feature_names_in_", None)
        xlabel = "x" if names is None else str(names[0])
        return cls(
            grid[0],
            mean,
            lower,
            upper,
            X=X_points,
            y=y,
            band_label=label,
            xlabel=xlabel,
        ).plot(ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw the data (if any), the band and the mean.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to ``ax.plot`` for the mean line, over the display's own
            (``c`` or ``color`` over its colour).

        Returns
        -------
        display : PredictionBandsDisplay
            This object, with ``ax_``, ``figure_`` and the artists set.
        """
        _check_curves(self)  # before a figure
        ax, figure = get_ax(ax)
        self.scatter_ = None
        if self.y is not None:
            self.scatter_ = ax.scatter(
                self.X, self.y, s=6, color="0.6", alpha=0.6, label="data"
            )
        self.band_ = ax.fill_between(
            self.x,
            self.lower,
            self.upper,
            color="C0",
            alpha=0.25,
            label=self.band_label,
        )
        from matplotlib.lines import Line2D

        (self.line_,) = ax.plot(
            self.x,
            self.mean,
            **styled({"color": "C0", "label": "predictive mean"}, kwargs, Line2D),
        )
        ax.set(xlabel=self.xlabel, ylabel="y")
        ax.legend()
        self.ax_, self.figure_ = ax, figure
        return self


def _check_curves(display):
    """Raise a ValueError unless ``x``, ``mean``, ``lower`` and ``upper`` are
    1-D arrays of one length (scalars raised NumPy's "too many indices for
    array" from within matplotlib, after making a figure), and ``X`` holds
    one value per value of ``y`` where ``y`` is given."""
    if np.ndim(display.x) != 1:
        raise ValueError(
            f"x should be a 1d array of points; got shape {np.shape(display.x)}."
        )
    points = len(display.x)
    for name in ("mean", "lower", "upper"):
        shape = np.shape(getattr(display, name))
        if shape != (points,):
            raise ValueError(
                f"{name} should hold one value per point of x, shape ({points},); "
                f"got shape {shape}."
            )
    X, y = display.X, display.y
    if y is not None and (X is None or np.size(X) != np.size(y)):
        raise ValueError(
            "X should hold one value per value of y, the data drawn as points; "
            f"got {None if X is None else np.size(X)} for {np.size(y)}."
        )


def _percent(share):
    """``share`` (in (0, 1)) as a percentage of 6 significant digits, or more
    where fewer read 0% or 100% (0.995 read "100%" at whole percents, and
    0.9999999 at 6 digits)."""
    for digits in range(6, 18):
        text = f"{100 * share:.{digits}g}"
        if 0 < float(text) < 100:
            break
    return f"{text}%"
