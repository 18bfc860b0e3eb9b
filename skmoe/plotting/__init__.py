"""Plots of fitted mixtures of experts, in scikit-learn's Display style.

Each display is built with ``Display.from_estimator(estimator, ...)`` (which
computes what to draw and calls :meth:`plot`) or from precomputed arrays with its
constructor, and ``plot(ax=None, ...)`` returns the display with the drawn
artists, ``ax_`` and ``figure_`` set. The estimator may be a fitted
:class:`~skmoe.MoERegressor`, :class:`~skmoe.MoEPoissonRegressor`,
:class:`~skmoe.MoENegativeBinomialRegressor`, :class:`~skmoe.MoEGammaRegressor`
or :class:`~skmoe.MoEClassifier`
(:class:`PredictionBandsDisplay`: a regressor), a fitted
:class:`~sklearn.pipeline.Pipeline` ending in one (the preceding steps transform
``X`` first), or a fitted :class:`~sklearn.model_selection.GridSearchCV` or
:class:`~sklearn.model_selection.RandomizedSearchCV` (``refit=True``) whose
``best_estimator_`` is one of these. A
:class:`~sklearn.frozen.FrozenEstimator` (scikit-learn's replacement for
``cv="prefit"``) of any of these (a fitted search included), or as a
pipeline's step, is drawn as the estimator it holds.
:class:`~sklearn.compose.TransformedTargetRegressor` is refused, as it changes
the target's units: pass its fitted ``regressor_``.

``X`` and ``y`` may be NumPy arrays or arrays of another Array API namespace,
whichever namespace the model was fitted in (under scikit-learn's
``array_api_dispatch``): the displays call the model in the namespace and on the
device of its fitted attributes and draw NumPy copies of the results.

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
