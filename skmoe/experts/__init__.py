"""Expert families: one module per family, registered here by name."""

from ._base import ExpertFamily
from .gaussian import GaussianLinearExperts
from .logistic import LogisticExperts
from .poisson import PoissonExperts

EXPERTS: dict[str, type[ExpertFamily]] = {
    "gaussian": GaussianLinearExperts,
    "logistic": LogisticExperts,
    "poisson": PoissonExperts,
}

__all__ = [
    "EXPERTS",
    "ExpertFamily",
    "GaussianLinearExperts",
    "LogisticExperts",
    "PoissonExperts",
]
