"""ExpertUsageDisplay: how much each expert is used."""

from __future__ import annotations

import numpy as np

from .._backend import to_numpy
from .._base import _scored_rows
from .._warnings import _warn_user
from ._utils import FittedMixture, as_numpy, exposure_arguments, get_ax, styled


class ExpertUsageDisplay:
    """How much each expert of a fitted mixture is used, as bars.

    For each expert k, the mean gate ``(1/n) sum_i g_k(x_i)`` (its importance), the
    share of samples whose largest gate is ``g_k`` (its top-1 load) and, when the
    targets are given, its share of the posterior responsibilities
    ``(1/n) sum_i r_ik`` (the share of the data it explains; the measure that
    flexmix prunes on). With sample weights, each is the weighted mean. Build it
    with :meth:`from_estimator`.

    Parameters
    ----------
    mean_gate : ndarray of shape (n_experts,)
        Mean gate probability of each expert.
    top1_share : ndarray of shape (n_experts,)
        Share of samples routed first to each expert.
    responsibility_share : ndarray of shape (n_experts,), default=None
        Mean posterior responsibility of each expert.

    Attributes
    ----------
    bars_ : dict of str to matplotlib.container.BarContainer
        The drawn bars by measure: ``"mean gate"``, ``"top-1 share"`` and, when
        given, ``"responsibility share"``; one bar per expert in each.
    ax_ : matplotlib.axes.Axes
        Axes the bars are drawn on.
    figure_ : matplotlib.figure.Figure
        Figure containing the axes.

    See Also
    --------
    GateDisplay : The gate over the input space.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmoe import MoERegressor
    >>> from skmoe.plotting import ExpertUsageDisplay
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.abs(X[:, 0]) + 0.1 * rng.randn(300)
    >>> reg = MoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> display = ExpertUsageDisplay.from_estimator(reg, X, y)
    >>> [len(bars) for bars in display.bars_.values()]
    [2, 2, 2]
    >>> round(float(display.mean_gate.sum()), 6)
    1.0
    """

    def __init__(self, mean_gate, top1_share, *, responsibility_share=None):
        self.mean_gate = as_numpy(mean_gate)
        self.top1_share = as_numpy(top1_share)
        self.responsibility_share = as_numpy(responsibility_share)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        sample_weight=None,
        exposure=None,
        groups=None,
        ax=None,
        **kwargs,
    ):
        """Measure each expert's usage on X (and y) and draw it.

        Parameters
        ----------
        estimator : skmoe estimator, Pipeline or search
            Fitted mixture of experts, a fitted pipeline ending in one, or a
            fitted GridSearchCV or RandomizedSearchCV whose ``best_estimator_``
            is one of these.
        X : array-like of shape (n_samples, n_features)
            Input data, usually the training data.
        y : array-like of shape (n_samples,), default=None
            Targets; when given, the responsibility share is drawn too.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights: the three measures are then weighted
            means (rows of weight 0 are left out). With the training data and
            the weights the model was fitted with (for a model fitted with
            ``class_weight``, those times each row's class weight, from
            ``sklearn.utils.class_weight.compute_class_weight(class_weight,
            classes=model.classes_, y=y, sample_weight=sample_weight)``:
            "balanced" counts the classes by the sample weights, and
            ``compute_sample_weight(class_weight, y)`` is this only without
            them), the responsibility share is its ``expert_usage_`` (the
            share that ``prune_threshold`` and ``prune_experts`` act on).
        exposure : float or array-like of shape (n_samples,), default=None
            :class:`~skmoe.MoEPoissonRegressor` and
            :class:`~skmoe.MoENegativeBinomialRegressor` only: the samples'
            exposures, for the responsibilities (as its ``responsibilities``
            takes them). A model fitted with exposures and drawn with y but
            without them warns.
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, for the responsibilities (as ``responsibilities``
            takes them: each row of a group gets the group's). A model fitted
            with groups and drawn with y but without them warns: each row is
            then its own group.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to :meth:`plot`, and on to every ``ax.bar`` call.

        Returns
        -------
        display : ExpertUsageDisplay
        """
        model = FittedMixture(estimator)
        # the rows of weight 0 left out, as fit leaves them, and checked as
        # predict and score check them (NaN there drew silently)
        with model.fitted_context():
            X, y, weight, exposure, groups = _scored_rows(
                X,
                y,
                sample_weight,
                exposure,
                groups,
                estimator=model.moe,
                inputs=model.inputs,
            )
        with model.fitted_context():
            inputs = model.inputs(X)  # through a pipeline's steps once, not twice
            gate = to_numpy(model.moe.predict_gate(inputs))
            share = None
            caller = "ExpertUsageDisplay.from_estimator"
            target = exposure_arguments(
                model.moe, exposure, caller, counts=y is not None
            )
            if y is not None:
                # exposure_arguments warned already where it was left out
                if groups is None and getattr(model.moe, "_fitted_groups", False):
                    _warn_user(
                        f"{caller}: the model was fitted with groups, and y was "
                        "given without them: each row is its own group in the "
                        "responsibility share (it differs from expert_usage_). "
                        "Pass groups=."
                    )
                    groups = np.arange(inputs.shape[0])  # (one warning, not two)
                share = model.moe._responsibilities(inputs, y, groups, **target)
                share = np.average(to_numpy(share), axis=0, weights=weight)
        n_experts = gate.shape[1]
        top1 = np.bincount(np.argmax(gate, axis=1), weights=weight, minlength=n_experts)
        total = gate.shape[0] if weight is None else np.sum(weight)
        return cls(
            np.average(gate, axis=0, weights=weight),
            top1 / total,
            responsibility_share=share,
        ).plot(ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw grouped bars, one group per expert.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs : dict
            Passed to every ``ax.bar`` call, over the display's own
            (``width`` also spaces the bars of a group).

        Returns
        -------
        display : ExpertUsageDisplay
            This object, with ``ax_``, ``figure_`` and ``bars_`` set.
        """
        measures = {"mean gate": self.mean_gate, "top-1 share": self.top1_share}
        if self.responsibility_share is not None:
            measures["responsibility share"] = self.responsibility_share
        _check_one_per_expert(measures)
        ax, figure = get_ax(ax)
        experts = np.arange(len(self.mean_gate))
        from matplotlib.patches import Rectangle

        # (a width of kwargs's spaces the bars of a group too)
        width = kwargs.pop("width", 0.8 / len(measures))
        self.bars_ = {}
        for j, (label, values) in enumerate(measures.items()):
            offset = (j - (len(measures) - 1) / 2) * width
            self.bars_[label] = ax.bar(
                experts + offset,
                values,
                **styled({"width": width, "label": label}, kwargs, Rectangle),
            )
        ax.set(
            xticks=experts,
            xticklabels=[f"expert {k}" for k in experts],
            ylabel="share",
            ylim=(0, 1),
        )
        ax.legend()
        self.ax_, self.figure_ = ax, figure
        return self


def _check_one_per_expert(measures):
    """Raise a ValueError unless each measure holds one value per expert, as
    the mean gate: matplotlib's bar broadcast a top-1 share of one value over
    every expert, and drew a bar of that height for each."""
    names = {
        "mean gate": "mean_gate",
        "top-1 share": "top1_share",
        "responsibility share": "responsibility_share",
    }
    for label, values in measures.items():
        shape = np.shape(values)
        if len(shape) != 1:
            raise ValueError(
                f"{names[label]} should hold one value per expert, a 1d array; "
                f"got shape {shape}."
            )
        if shape != np.shape(measures["mean gate"]):
            raise ValueError(
                f"{names[label]} should hold one value per expert, as mean_gate "
                f"does ({len(measures['mean gate'])} experts); got length {shape[0]}."
            )
