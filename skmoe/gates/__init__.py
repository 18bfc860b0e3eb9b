"""Gate families: one module per family, registered here by name."""

from ._base import GateFamily
from .constant import ConstantGate
from .gaussian import GaussianGate
from .softmax import SoftmaxGate

GATES: dict[str, type[GateFamily]] = {
    "softmax": SoftmaxGate,
    "constant": ConstantGate,
    "gaussian": GaussianGate,
}

__all__ = ["GATES", "ConstantGate", "GateFamily", "GaussianGate", "SoftmaxGate"]
