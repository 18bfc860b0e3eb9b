"""Expert families: one module per family, registered here by name."""

from ._base import ExpertFamily
from .gaussian import GaussianLinearExperts
from .logistic import LogisticExperts

EXPERTS: dict[str, type[ExpertFamily]] = {
    "gaussian": GaussianLinearExperts,
    "logistic": LogisticExperts,
}

__all__ = ["EXPERTS", "ExpertFamily", "GaussianLinearExperts", "LogisticExperts"]
