"""Expert families: one module per family, registered here by name.

Each estimator builds its own family (or families, as ``MoERegressor``'s
``noise``); the registry is what the common family tests in
``tests/test_families.py`` run over: the gradient against finite differences,
and M-steps that climb to a stationary point. A new family needs its module,
a line here and a case there (the estimators that wrap a scikit-learn
estimator, ``skmoe.experts.estimator``, have no gradient and are not
registered).
"""

from ._base import ExpertFamily
from .gamma import GammaExperts
from .gaussian import GaussianLinearExperts
from .logistic import LogisticExperts
from .negative_binomial import NegativeBinomialExperts
from .poisson import PoissonExperts
from .student_t import StudentTLinearExperts

EXPERTS: dict[str, type[ExpertFamily]] = {
    "gamma": GammaExperts,
    "gaussian": GaussianLinearExperts,
    "logistic": LogisticExperts,
    "negative_binomial": NegativeBinomialExperts,
    "poisson": PoissonExperts,
    "student_t": StudentTLinearExperts,
}

__all__ = [
    "EXPERTS",
    "ExpertFamily",
    "GammaExperts",
    "GaussianLinearExperts",
    "LogisticExperts",
    "NegativeBinomialExperts",
    "PoissonExperts",
    "StudentTLinearExperts",
]
