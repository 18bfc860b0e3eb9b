"""ConvergenceDisplay: the log-likelihood after each iteration of the fit."""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import validate_parameter_constraints

from ._utils import FittedMixture, fitted_solver, get_ax, styled

#: What the points of a history are, by the solver (or acceleration) whose
#: steps they follow: one and several of them (the latter names each part
#: where ``partial_fit`` continued another's).
_STEPS = {
    "em": ("EM iteration", "EM iterations"),
    "squarem": ("SQUAREM cycle (three EM steps)", "SQUAREM cycles (three EM steps)"),
    "gradient": ("L-BFGS iteration", "L-BFGS iterations"),
    "sgd": ("epoch", "epochs"),
}


class ConvergenceDisplay:
    """The training log-likelihood after each iteration of the kept run.

    By default the curve is ``log_likelihood_history_``, the total unpenalized
    log-likelihood; ``objective=True`` draws ``objective_history_``, the
    per-sample penalized objective. EM with a dense gate and no pruning never
    decreases the latter (in float64; float32 rounds it at about 1e-7), so
    with a small ``alpha`` both curves typically rise and flatten, and a curve
    still rising at the end means ``max_iter`` stopped the fit. With
    ``top_k``, pruning (``prune_threshold``) or the ``"gradient"`` and
    ``"sgd"`` solvers either curve may also fall. The iterations are the
    solver's: EM iterations (after the estimator's ``partial_fit`` with
    ``solver="em"``, one more point per online EM step, of its batch), L-BFGS
    iterations for ``solver="gradient"``, epochs for ``solver="sgd"`` and its
    ``partial_fit``, named after the solver of the fit (not the ``solver``
    parameter, which ``set_params`` may have changed since); where
    ``partial_fit`` continued a fit of other steps, each part is named with
    its points (``"SQUAREM cycles (three EM steps) 1-4, then EM iterations
    5-6"``). Build it with
    :meth:`from_estimator`.

    Parameters
    ----------
    history : array-like of shape (n_iter,)
        Value after each iteration.
    ylabel : str, default="log-likelihood"
        What the values are.
    xlabel : str, default="EM iteration"
        What the iterations are.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D
        The drawn curve.
    ax_ : matplotlib.axes.Axes
        Axes the curve is drawn on.
    figure_ : matplotlib.figure.Figure
        Figure containing the axes.

    See Also
    --------
    skmoe.MoERegressor : Its ``log_likelihood_history_`` is drawn here.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> from skmoe.plotting import ConvergenceDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.abs(X[:, 0]) + 0.1 * rng.randn(300)
    >>> reg = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = ConvergenceDisplay.from_estimator(reg)
    >>> len(display.line_.get_ydata()) == reg.n_iter_
    True
    """

    def __init__(self, history, *, ylabel="log-likelihood", xlabel="EM iteration"):
        self.history = np.asarray(history, dtype=float)
        self.ylabel = ylabel
        self.xlabel = xlabel

    @classmethod
    def from_estimator(cls, estimator, *, objective=False, ax=None, **kwargs):
        """Draw the history stored on a fitted estimator.

        Parameters
        ----------
        estimator : skmoe estimator, Pipeline or search
            Fitted mixture of experts, a fitted pipeline ending in one, or a
            fitted GridSearchCV or RandomizedSearchCV whose ``best_estimator_``
            is one of these.
        objective : bool, default=False
            Draw ``objective_history_`` (the per-sample penalized log-likelihood,
            or classification log-likelihood with ``assignment="hard"``, which
            EM with a dense gate and no pruning never decreases, up to
            float32's rounding) instead
            of ``log_likelihood_history_`` (the total unpenalized
            log-likelihood).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to :meth:`plot`, and on to ``ax.plot``.

        Returns
        -------
        display : ConvergenceDisplay
        """
        validate_parameter_constraints(
            {"objective": ["boolean"]},
            {"objective": objective},
            caller_name="ConvergenceDisplay.from_estimator",
        )
        moe = FittedMixture(estimator).moe
        if objective:
            history = moe.objective_history_
            kind = (  # what the fit maximized (see assignment)
                "classification log-likelihood"
                if getattr(moe, "_fitted_assignment", "soft") == "hard"
                else "log-likelihood"
            )
            ylabel = f"penalized {kind} per sample"
        else:
            history, ylabel = moe.log_likelihood_history_, "log-likelihood"
        # the solver of the fit, which set_params may have changed since
        fitted = fitted_solver(moe)
        if getattr(moe, "_fitted_acceleration", None) == "squarem":
            fitted = "squarem"
        xlabel = _STEPS.get(fitted, ("iteration",))[0]
        parts = getattr(moe, "_history_parts", None)
        if parts and parts[-1][1] == len(history):
            # partial_fit's steps after another solver's (SQUAREM cycles
            # then online EM steps were labelled EM iterations)
            starts = [0] + [end for _, end in parts[:-1]]
            xlabel = ", then ".join(
                f"{_STEPS[steps][1]} {start + 1}"
                + ("" if end == start + 1 else f"-{end}")
                for start, (steps, end) in zip(starts, parts, strict=True)
            )
        return cls(history, ylabel=ylabel, xlabel=xlabel).plot(ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw the curve against the iteration number (from 1).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to ``ax.plot``, over the display's own ``marker``.

        Returns
        -------
        display : ConvergenceDisplay
            This object, with ``ax_``, ``figure_`` and ``line_`` set.
        """
        # before a figure: a 2-D history drew one line per column, then failed
        # on unpacking them (a scalar: len() of an unsized object)
        shape = np.shape(self.history)
        if len(shape) != 1:
            raise ValueError(
                "history should hold one value per iteration, a 1d array; got "
                f"shape {shape}."
            )
        ax, figure = get_ax(ax)
        iterations = np.arange(1, len(self.history) + 1)
        from matplotlib.lines import Line2D

        (self.line_,) = ax.plot(
            iterations, self.history, **styled({"marker": "."}, kwargs, Line2D)
        )
        ax.set(xlabel=self.xlabel, ylabel=self.ylabel)
        self.ax_, self.figure_ = ax, figure
        return self
