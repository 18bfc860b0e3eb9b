"""Expert families: one module per family, registered here by name."""

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
