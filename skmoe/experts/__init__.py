"""Expert families: one module per family, registered here by name."""

from ._base import ExpertFamily
from .gamma import GammaExperts
from .gaussian import GaussianLinearExperts
from .logistic import LogisticExperts
from .poisson import PoissonExperts
from .student_t import StudentTLinearExperts

EXPERTS: dict[str, type[ExpertFamily]] = {
    "gamma": GammaExperts,
    "gaussian": GaussianLinearExperts,
    "logistic": LogisticExperts,
    "poisson": PoissonExperts,
    "student_t": StudentTLinearExperts,
}

__all__ = [
    "EXPERTS",
    "ExpertFamily",
    "GammaExperts",
    "GaussianLinearExperts",
    "LogisticExperts",
    "PoissonExperts",
    "StudentTLinearExperts",
]
