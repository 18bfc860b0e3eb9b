"""GateDisplay: the gate g_k(x) over a 1-D or 2-D input."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_features, check_array

from .._backend import host
from .._fitting import _refuse_lazy_frames
from ..gates import ConstantGate
from ._utils import (
    FittedMixture,
    _unwrapped,
    as_frame_if_named,
    check_grid_resolution,
    check_parameters,
    feature_names,
    get_ax,
    input_grid,
    styled,
)


class GateDisplay:
    """The gate of a fitted mixture of experts over a 1-D or 2-D input.

    With one input feature, draws one curve ``g_k(x)`` per expert. With two, draws
    the map of the dominant expert ``argmax_k g_k(x)`` (or, with ``expert=k``, the
    map of ``g_k(x)``). Build it with :meth:`from_estimator`; the constructor takes
    precomputed values.

    Parameters
    ----------
    grid : list of ndarray
        The grid's values along each of the 1 or 2 input features.
    gate : ndarray
        Gate probabilities on the grid: shape (n_points, n_experts) for one
        feature, (len(grid[1]), len(grid[0]), n_experts) for two (as
        :func:`numpy.meshgrid` lays them out).
    feature_names : list of str, default=None
        Axis labels; ``x0``, ``x1`` when None.

    Attributes
    ----------
    lines_ : list of matplotlib.lines.Line2D
        One curve per drawn expert (one feature only).
    surface_ : matplotlib.collections.QuadMesh
        The drawn map (two features only).
    ax_ : matplotlib.axes.Axes
        Axes the gate is drawn on.
    figure_ : matplotlib.figure.Figure
        Figure containing the axes.

    See Also
    --------
    ExpertUsageDisplay : How much each expert is used.
    skmoe.MoERegressor.predict_gate : The values drawn here.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> from skmoe.plotting import GateDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.abs(X[:, 0]) + 0.1 * rng.randn(300)
    >>> reg = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = GateDisplay.from_estimator(reg, X)
    >>> len(display.lines_)
    2
    """

    def __init__(self, grid, gate, *, feature_names=None):
        self.grid = [np.asarray(values) for values in grid]
        self.gate = np.asarray(gate)
        self.feature_names = feature_names

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        grid_resolution=200,
        eps=0.0,
        expert=None,
        ax=None,
        **kwargs,
    ):
        """Compute the gate on a grid over the range of X and draw it.

        Parameters
        ----------
        estimator : skmoe estimator, Pipeline or search
            Fitted mixture of experts, a fitted pipeline ending in one (the
            grid is then drawn in the pipeline's input space), or a fitted
            GridSearchCV or RandomizedSearchCV whose ``best_estimator_`` is one
            of these.
        X : array-like of shape (n_samples, n_features)
            Input data, of the estimator's features; only the range of each
            drawn feature is used (NaN left out, as a pipeline that imputes
            them takes them). The gate is drawn over X's 1 or 2 features, or,
            for a mixture with more whose ``gate_features`` are 1 or 2 of
            them, over those (the gate depends on no others; on the grid, each
            other column holds its first value in X that is not NaN).
        grid_resolution : int, default=200
            Number of grid points along each feature, at least 2.
        eps : float, default=0.0
            Extends the grid this far beyond the range of X on each side; finite
            and non-negative.
        expert : int, default=None
            Draw only this expert's gate (two features: the map of ``g_k``
            rather than of the dominant expert); in ``[0, n_experts)``.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to :meth:`plot`, and on to ``ax.plot`` (one feature) or
            ``ax.pcolormesh`` (two).

        Returns
        -------
        display : GateDisplay
        """
        # before any work, in scikit-learn's words; expert once the number of
        # experts is known (a check without it said [0, inf) for expert=-1)
        check_grid_resolution(grid_resolution, "GateDisplay.from_estimator")
        check_parameters(
            {"eps": [Interval(Real, 0, None, closed="left")]},
            {"eps": eps},
            "GateDisplay.from_estimator",
        )
        _refuse_lazy_frames(X=X)
        model = FittedMixture(estimator)
        _check_expert(expert, model.moe.n_experts_, "GateDisplay.from_estimator")
        model.check_names(X)  # (as predict: before the number of features)
        n_features = model.n_features(X)
        names = feature_names(model.first, n_features)
        drawn = _drawn_gate_columns(model, n_features)
        if drawn is None:
            points, grid = input_grid(X, n_features, grid_resolution, eps)
            points = as_frame_if_named(model.first, points)
        else:
            points, grid = _gate_grid(model, X, drawn, grid_resolution, eps)
            names = [names[j] for j in drawn]
        gate = model.call("predict_gate", points)
        if len(grid) == 2:
            gate = gate.reshape(len(grid[1]), len(grid[0]), -1)
        _check_expert(expert, gate.shape[-1], "GateDisplay.from_estimator")
        return cls(grid, gate, feature_names=names).plot(ax=ax, expert=expert, **kwargs)

    def plot(self, ax=None, *, expert=None, **kwargs):
        """Draw the gate.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        expert : int, default=None
            Draw only this expert's gate; in ``[0, n_experts)``.
        **kwargs : dict
            Passed to ``ax.plot`` (one feature) or ``ax.pcolormesh`` (two),
            over the display's own (a ``norm`` replaces its ``vmin``/``vmax``).

        Returns
        -------
        display : GateDisplay
            This object, with ``ax_``, ``figure_`` and the artists set.
        """
        _check_layout(self.grid, self.gate)  # before a figure
        n_experts = self.gate.shape[-1]
        _check_expert(expert, n_experts, "GateDisplay.plot")
        ax, figure = get_ax(ax)
        names = self.feature_names
        if names is None:  # (an array of names has no truth value)
            names = [f"x{j}" for j in range(len(self.grid))]
        if len(self.grid) == 1:
            from matplotlib.lines import Line2D

            experts = range(n_experts) if expert is None else [expert]
            colors = expert_colors(n_experts)
            self.lines_ = [
                ax.plot(
                    self.grid[0],
                    self.gate[:, k],
                    **styled(
                        {"color": colors[k], "label": f"expert {k}"}, kwargs, Line2D
                    ),
                )[0]
                for k in experts
            ]
            ax.set(xlabel=names[0], ylabel="gate $g_k(x)$", ylim=(-0.02, 1.02))
            ax.legend()
        else:
            self._plot_surface(ax, names, expert, kwargs)
        self.ax_, self.figure_ = ax, figure
        return self

    def _plot_surface(self, ax, names, expert, kwargs):
        from matplotlib.collections import QuadMesh
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        n_experts = self.gate.shape[-1]
        if expert is None:
            colors = expert_colors(n_experts)
            values = np.argmax(self.gate, axis=-1)
            style = {
                "cmap": ListedColormap(colors),
                "vmin": -0.5,
                "vmax": n_experts - 0.5,
            }
            title = "dominant expert"
        else:
            values = self.gate[..., expert]
            style = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
            title = f"gate of expert {expert}"
        if kwargs.get("norm") is not None:  # (it sets the range: not with vmin/vmax)
            del style["vmin"], style["vmax"]
        self.surface_ = ax.pcolormesh(
            self.grid[0],
            self.grid[1],
            values,
            **styled({"shading": "auto", **style}, kwargs, QuadMesh),
        )
        if expert is None:  # the colours drawn (a cmap= of kwargs's too)
            cmap, norm = self.surface_.get_cmap(), self.surface_.norm
            handles = [
                Patch(color=cmap(norm(k)), label=f"expert {k}")
                for k in range(n_experts)
            ]
            ax.legend(handles=handles)
        else:
            ax.figure.colorbar(self.surface_, ax=ax, label="$g_k(x)$")
        ax.set(xlabel=names[0], ylabel=names[1], title=title)


def _drawn_gate_columns(model, n_features):
    """The columns of X to draw the gate over where X has more than 2
    features: the mixture's ``gate_features`` where they are 1 or 2 of its own
    input's columns; None for X of 1 or 2 features. A ValueError saying why
    for a gate that sees more, or a pipeline's transformed features."""
    if n_features <= 2:
        return None
    moe = model.moe
    # (as the model reads them: _gate_columns where a fit did not record them)
    columns = getattr(moe, "_fitted_gate_columns", moe._gate_columns)
    if isinstance(moe._fitted_gate(), ConstantGate):
        columns = ()
    # (the mixture first sees the raw input, a pipeline's step or not, frozen
    # or a search's or not: a frozen mixture after "passthrough" steps was
    # refused as if steps transformed its input)
    first = _unwrapped(model.first)
    if columns is not None and len(columns) in (1, 2) and first is moe:
        return tuple(int(j) for j in columns)
    if columns is not None and len(columns) in (1, 2):
        raise ValueError(
            f"The gate sees {len(columns)} of the {moe.n_features_in_} features "
            "that the pipeline's steps before the mixture give it (gate_features="
            f"{moe.gate_features!r}), not of the pipeline's {n_features} input "
            "features, which this display draws over. Draw the fitted mixture, "
            "pipeline[-1], over the transformed input, pipeline[:-1].transform(X)."
        )
    sees = "all of them" if columns is None else f"{len(columns)} of them"
    if columns == ():
        sees = "none of them"
    raise ValueError(
        "This display draws the gate over 1 or 2 features; the estimator "
        f"expects {n_features}, and its gate sees {sees} (gate={moe.gate!r}, "
        f"gate_features={moe.gate_features!r}). A mixture fitted with "
        "gate_features naming 1 or 2 columns is drawn over those."
    )


def _gate_grid(model, X, drawn, grid_resolution, eps):
    """The grid over X's columns ``drawn`` (the gate's), as full rows of X's
    features (a DataFrame where the mixture was fitted on names): each other
    column holds its first value that is not NaN (None or pandas' NA), which
    the gate does not see. Returns the rows and the axes' values."""
    n_features = _num_features(X)
    if n_features != model.moe.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but the estimator expects "
            f"{model.moe.n_features_in_}."
        )
    frame = hasattr(X, "iloc")
    if not frame:  # numbers, as predict reads them (a None is NaN)
        X = check_array(
            host(X), dtype=np.float64, ensure_all_finite="allow-nan", input_name="X"
        )
    columns = X.iloc[:, list(drawn)] if frame else X[:, list(drawn)]
    points, grid = input_grid(columns, len(drawn), grid_resolution, eps, drawn)
    present = ~(X.isna().to_numpy() if frame else np.isnan(X))
    others = [j for j in range(n_features) if j not in drawn]
    empty = [j for j in others if not present[:, j].any()]
    if empty:
        raise ValueError(
            f"X's feature {empty[0]} holds NaN only, so it gives the grid no "
            "value to hold (the gate does not see it, but predict_gate reads "
            "it); pass an X with values of each feature."
        )
    first = np.argmax(present, axis=0)  # each column's first value not NaN
    if frame:
        rows = X.iloc[np.zeros(len(points), dtype=int)].reset_index(drop=True)
        for j in others:
            if first[j]:  # (a value of the column's own dtype)
                rows.iloc[:, j] = X.iloc[first[j], j]
        for j, column in enumerate(drawn):  # (as float, whatever the dtype)
            rows[rows.columns[column]] = points[:, j]
        if getattr(model.first, "feature_names_in_", None) is None:
            rows = rows.to_numpy()
    else:
        rows = np.repeat(X[first, np.arange(n_features)][None], len(points), axis=0)
        rows[:, list(drawn)] = points
        rows = as_frame_if_named(model.first, rows)
    return rows, grid


def expert_colors(n_experts):
    """One colour per expert: matplotlib's cycle up to 10 (``"C10"`` is
    ``"C0"``: experts 0 and 10 were drawn alike), then tab20's, then evenly
    spaced ones of turbo."""
    if n_experts <= 10:
        return [f"C{k}" for k in range(n_experts)]
    from matplotlib import colormaps

    if n_experts <= 20:
        return [colormaps["tab20"](k) for k in range(n_experts)]
    return list(colormaps["turbo"](np.linspace(0.0, 1.0, n_experts)))


def _check_layout(grid, gate):
    """Raise a ValueError unless ``grid`` holds the values along 1 or 2
    features, each 1-D, and ``gate`` is laid out on them as the class says: a
    1-D gate raised NumPy's "too many indices for array", a 3-D one over one
    feature drew a curve per column of each expert's, unnoticed."""
    if len(grid) not in (1, 2) or any(np.ndim(values) != 1 for values in grid):
        shapes = [np.shape(values) for values in grid]
        raise ValueError(
            "grid should hold the values along 1 or 2 features, each a 1d "
            f"array; got {len(grid)} of shapes {shapes}."
        )
    points = tuple(len(values) for values in reversed(grid))
    if gate.ndim != len(grid) + 1 or gate.shape[:-1] != points:
        names = ("n_points",) if len(grid) == 1 else ("len(grid[1])", "len(grid[0])")
        expected = ", ".join(str(n) for n in points)
        raise ValueError(
            f"gate should have shape ({', '.join(names)}, n_experts), here "
            f"({expected}, n_experts); got shape {gate.shape}."
        )


def _check_expert(expert, n_experts, caller):
    """Raise, in scikit-learn's words naming ``caller``, unless ``expert`` is
    None or in ``[0, n_experts)``."""
    check_parameters(
        {"expert": [Interval(Integral, 0, n_experts, closed="left"), None]},
        {"expert": expert},
        caller,
    )
