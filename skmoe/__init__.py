"""skmoe: classical mixture-of-experts estimators for scikit-learn."""

from ._classifier import MoEClassifier
from ._count_distribution import (
    PredictiveNegativeBinomialMixture,
    PredictivePoissonMixture,
)
from ._distribution import PredictiveMixture, PredictiveStudentTMixture
from ._gamma import MoEGammaRegressor
from ._gamma_distribution import PredictiveGammaMixture
from ._negative_binomial import MoENegativeBinomialRegressor
from ._poisson import MoEPoissonRegressor
from ._regressor import MoERegressor
from ._selection import bootstrap_lrt

__version__ = "0.1.0.dev0"

__all__ = [
    "MoEClassifier",
    "MoEGammaRegressor",
    "MoENegativeBinomialRegressor",
    "MoEPoissonRegressor",
    "MoERegressor",
    "PredictiveGammaMixture",
    "PredictiveMixture",
    "PredictiveNegativeBinomialMixture",
    "PredictivePoissonMixture",
    "PredictiveStudentTMixture",
    "__version__",
    "bootstrap_lrt",
]
