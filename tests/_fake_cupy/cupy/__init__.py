"""An emulated CuPy, for running tests/test_gpu.py on a machine without a GPU.

Only ``tests/test_gpu_emulated.py`` puts ``tests/_fake_cupy`` on the path, in a
subprocess of its own; ``tests/conftest.py`` keeps pytest from collecting (and
so importing) it, and the wheel holds no ``tests`` folder.

Arrays are array-api-strict's on its non-default device ``"device1"`` (the
"GPU"): as CuPy's device arrays, they refuse ``np.asarray`` and NumPy's
functions (TypeError, CuPy's message), arithmetic with NumPy arrays
(TypeError) and DLPack export to the host (BufferError), so the only way back
to NumPy is ``.get()`` / :func:`asnumpy`.
It imports only with ``SKMOE_EMULATED_CUPY=1``. ``ndarray`` is
array-api-strict's array class itself, which ``array_api_compat.is_cupy_array``
finds (it tests ``issubclass(type(x), sys.modules["cupy"].ndarray)``): in this
process every array-api-strict array counts as CuPy's. ``array_namespace`` of
such an array imports ``<...>array_api_compat.cupy`` (the package's, or
scikit-learn's and SciPy's vendored copies), which a finder installed here
answers with this namespace under that name (``is_cupy_namespace`` holds).

What it emulates beyond the Array API: ``asarray``/creation functions on the
device by default and with NumPy dtypes, ``asnumpy``, ``ndarray.get``,
``cuda.runtime.getDeviceCount``, ``cuda.Device().synchronize`` and
``get_default_memory_pool().free_all_blocks`` (for the benchmarks' dry runs;
both do nothing), and ``linalg.cholesky``/``solve``/``inv``
that do not raise on a failed factorization (cuSOLVER's status is read only
under ``cupyx.errstate(linalg="raise")``, which raises LinAlgError): a failed
Cholesky returns LAPACK's partial factor (its failing pivot non-positive, the
rest of the lower triangle as it was), a singular inverse NaN, a solve NaN
for the singular matrices of a stack alone (cuBLAS's batched LU).
Nothing compiles: ``RawKernel`` and other CUDA-only features are absent, and
the tests that need them skip where :data:`EMULATED` is set.
"""

import importlib.abc
import importlib.util
import os
import sys
import types

if os.environ.get("SKMOE_EMULATED_CUPY") != "1":
    raise ImportError(
        "tests/_fake_cupy is the GPU tests' emulated CuPy: only the subprocess "
        "of tests/test_gpu_emulated.py (SKMOE_EMULATED_CUPY=1) imports it"
    )

import array_api_strict as _xs
import numpy as _np
from array_api_strict._array_object import Array as ndarray

# the Array API namespace (linalg: CuPy's, below)
globals().update({name: getattr(_xs, name) for name in _xs.__all__ if name != "linalg"})

#: Marks this package as the emulation (tests/test_gpu.py skips what needs CUDA)
EMULATED = True
#: The emulated GPU, and the host
DEVICE = _xs.Device("device1")
HOST = _xs.Device("CPU_DEVICE")


class _CudaDevice:
    """``cupy.cuda.Device``: a context manager whose ``synchronize`` has
    nothing to wait for (the benchmarks synchronize before each clock read)."""

    def __init__(self, device=None):
        self.id = 0

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1), Device=_CudaDevice
)


def get_default_memory_pool():
    """CuPy's memory pool; ``free_all_blocks`` frees nothing here."""
    return types.SimpleNamespace(free_all_blocks=lambda: None)


def _dtype(dtype):
    if dtype is None or not isinstance(dtype, type | _np.dtype | str):
        return dtype
    return getattr(_xs, _np.dtype(dtype).name)


def asarray(obj, dtype=None, device=None, copy=None):
    if device is None:
        device = obj.device if isinstance(obj, ndarray) else DEVICE
    if isinstance(obj, _np.ndarray | _np.generic):
        obj = _np.array(obj, copy=True)  # an upload copies
    return _xs.asarray(obj, dtype=_dtype(dtype), device=device, copy=copy)


def _on_device(function):
    def create(*args, dtype=None, device=None, **kwargs):
        return function(
            *args,
            dtype=_dtype(dtype),
            device=DEVICE if device is None else device,
            **kwargs,
        )

    create.__name__ = function.__name__
    return create


empty = _on_device(_xs.empty)
zeros = _on_device(_xs.zeros)
ones = _on_device(_xs.ones)
full = _on_device(_xs.full)
eye = _on_device(_xs.eye)
arange = _on_device(_xs.arange)
linspace = _on_device(_xs.linspace)


def _get(self):
    """A NumPy copy on the host (``cupy.ndarray.get``)."""
    return _np.array(self.to_device(HOST)._array, copy=True)


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else _np.asarray(a)


_strict_dlpack = ndarray.__dlpack__
_strict_dlpack_device = ndarray.__dlpack_device__
_strict_array = ndarray.__array__


def _dlpack(self, /, **kwargs):
    if self.device != HOST:
        raise BufferError("an emulated CuPy array lives on the device: use .get()")
    return _strict_dlpack(self, **kwargs)


def _array(self, *args, **kwargs):
    if self.device != HOST:  # (array-api-strict's raises RuntimeError)
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use "
            "`.get()` to construct a NumPy array explicitly."
        )
    return _strict_array(self, *args, **kwargs)


def _dlpack_device(self):
    return (2, 0) if self.device != HOST else _strict_dlpack_device(self)  # kDLCUDA


ndarray.get = _get
ndarray.__dlpack__ = _dlpack
ndarray.__dlpack_device__ = _dlpack_device
ndarray.__array__ = _array

from . import linalg  # noqa: E402

#: The Array API namespace that array_api_compat gives for these arrays
_NAMESPACE = {name: getattr(_xs, name) for name in _xs.__all__}
_NAMESPACE.update(
    asarray=asarray,
    empty=empty,
    zeros=zeros,
    ones=ones,
    full=full,
    eye=eye,
    arange=arange,
    linspace=linspace,
    linalg=linalg,
    __array_api_version__=_xs.__array_api_version__,
)


class _CompatFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``array_api_compat.cupy`` (and vendored copies' ``.cupy``)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.rpartition(".")[::2] in {
            ("array_api_compat", "cupy"),
            ("sklearn.externals.array_api_compat", "cupy"),
            ("scipy._lib.array_api_compat", "cupy"),
        }:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name, "array-api-strict as emulated CuPy")
        module.__dict__.update(_NAMESPACE)
        module.__all__ = sorted(_NAMESPACE)
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _CompatFinder())
# array_api_compat caches "is this class cupy.ndarray?" per class: forget the
# answers given before this module existed
for _name, _module in list(sys.modules.items()):
    if _name.endswith("array_api_compat.common._helpers"):
        for _cached in ("_issubclass_fast", "_cls_to_namespace"):
            if hasattr(getattr(_module, _cached, None), "cache_clear"):
                getattr(_module, _cached).cache_clear()
