"""GateDisplay: the gate g_k(x) over a 1-D or 2-D input."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._fitting import _refuse_lazy_frames
from ._utils import (
    FittedMixture,
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
        X : array-like of shape (n_samples, 1) or (n_samples, 2)
            Input data; only the range of each feature is used (NaN left
            out, as a pipeline that imputes them takes them).
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
        points, grid = input_grid(X, n_features, grid_resolution, eps)
        points = as_frame_if_named(model.first, points)
        gate = model.call("predict_gate", points)
        if n_features == 2:
            gate = gate.reshape(len(grid[1]), len(grid[0]), -1)
        names = feature_names(model.first, n_features)
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
