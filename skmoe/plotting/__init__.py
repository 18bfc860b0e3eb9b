"""Plots of fitted mixtures of experts, in scikit-learn's Display style.

Each display is built with ``Display.from_estimator(estimator, ...)`` (which
computes what to draw and calls :meth:`plot`) or from precomputed arrays with its
constructor, and ``plot(ax=None, ...)`` returns the display with the drawn
artists, ``ax_`` and ``figure_`` set. The estimator may be a fitted
:class:`~skmoe.MoERegressor` or :class:`~skmoe.MoEClassifier`, or a fitted
:class:`~sklearn.pipeline.Pipeline` ending in one (the preceding steps transform
``X`` first).

matplotlib is an optional dependency (``pip install ".[plot]"`` in the source
checkout), imported only when something is drawn.
"""

from ._bands import PredictionBandsDisplay
from ._convergence import ConvergenceDisplay
from ._gate import GateDisplay
from ._usage import ExpertUsageDisplay

__all__ = [
    "ConvergenceDisplay",
    "ExpertUsageDisplay",
    "GateDisplay",
    "PredictionBandsDisplay",
]
