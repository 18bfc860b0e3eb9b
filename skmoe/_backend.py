"""Array namespaces and devices.

This is the only module that may import CuPy (lazily, in later work); everything
else receives the namespace ``xp`` from here.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, is_cupy_array, is_numpy_array

__all__ = ["array_namespace", "to_numpy"]


def to_numpy(x) -> np.ndarray:
    """Copy an array of any supported namespace to a NumPy array on the host."""
    if is_numpy_array(x):
        return np.asarray(x)
    if is_cupy_array(x):
        return x.get()
    return np.from_dlpack(x)
