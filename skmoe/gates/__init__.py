"""Gate families: one module per family, registered here by name."""

from ._base import GateFamily
from .constant import ConstantGate
from .gaussian import GaussianGate
from .hierarchical import HierarchicalGate
from .softmax import SoftmaxGate

GATES: dict[str, type[GateFamily]] = {
    "softmax": SoftmaxGate,
    "constant": ConstantGate,
    "gaussian": GaussianGate,
    "hierarchical": HierarchicalGate,
}

__all__ = [
    "GATES",
    "ConstantGate",
    "GateFamily",
    "GaussianGate",
    "HierarchicalGate",
    "SoftmaxGate",
]
