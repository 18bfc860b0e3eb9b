"""Array namespaces and devices.

This is the only module that imports CuPy (lazily, in ``_import_cupy``); everything
else receives the namespace ``xp`` from here.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext

import numpy as np
from array_api_compat import array_namespace as _array_namespace
from array_api_compat import device as device_of
from array_api_compat import is_array_api_obj, is_cupy_array
from array_api_compat import is_numpy_array as _is_numpy_array
from sklearn.utils._array_api import _max_precision_float_dtype, get_namespace
from threadpoolctl import ThreadpoolController


def is_numpy_array(x) -> bool:
    """``array_api_compat.is_numpy_array``: a NumPy array (subclasses too) or
    NumPy scalar, not a JAX zero-gradient array (a structured dtype of kind
    "V"). A plain ndarray of another kind answers here at once: the check
    runs several times a small EM iteration (16 000 calls a fit of 2000 x 5),
    where array_api_compat's took a few percent of it."""
    if type(x) is np.ndarray and x.dtype.kind != "V":
        return True
    return _is_numpy_array(x)


#: array_api_compat's namespace of NumPy arrays
_NUMPY_NAMESPACE = _array_namespace(np.empty(0))


def array_namespace(*arrays, **options):
    """``array_api_compat.array_namespace``; a single plain ndarray's (not a
    JAX zero-gradient array, of kind "V") at once, without its per-argument
    checks (0.9 us a call, several an EM iteration)."""
    if (
        not options
        and len(arrays) == 1
        and type(arrays[0]) is np.ndarray
        and arrays[0].dtype.kind != "V"
    ):
        return _NUMPY_NAMESPACE
    return _array_namespace(*arrays, **options)


__all__ = [
    "Backend",
    "array_namespace",
    "as_compute",
    "blas_threads",
    "device_of",
    "float_dtypes",
    "host",
    "host_scalars",
    "select_backend",
    "to_numpy",
]

#: NumPy fits run BLAS single-threaded. EM's matrix products are many small
#: blocks (of samples, of experts), whose size does not grow with n, and
#: OpenBLAS's thread hand-offs cost more than they save; on a shared machine a
#: second thread waits for a busy core. Measured on 2 shared cores: digits,
#: 1797 x 33, K=4, 8.7x faster with one thread; a 1e6 x 16 regressor, K=4 (4 EM
#: iterations), 2.9 s against 3.0 s with default threads on an idle machine and
#: 3.1 s against 11.0 s with one core busy (stalls of up to 45 s per iteration at
#: 3e5 x 64); the fits are bit-identical. (Designs of 1e7 entries or more used
#: to keep the default threads.)


def to_numpy(x) -> np.ndarray:
    """An array of any supported namespace as a NumPy array on the host: NumPy's
    as it is, CuPy's copied, others' by DLPack (a view of host memory), copied
    where that view is read-only (with NumPy 2.1, array-api-strict's were, and
    predict_distribution's weights, normalized in place, raised). A PyTorch
    tensor that requires gradients exports no DLPack (BufferError): its values
    are taken detached, as a host copy has no gradient (fit, score and
    predict_distribution raised on such input, which scikit-learn's Ridge
    takes)."""
    if is_numpy_array(x):
        return np.asarray(x)
    if is_cupy_array(x):
        return x.get()
    try:
        out = np.from_dlpack(x)
    except BufferError:
        if not hasattr(x, "detach"):
            raise
        out = np.from_dlpack(x.detach())
    return out if out.flags.writeable else out.copy()


#: Fits in progress under the BLAS limit, and the limit, shared by all threads:
#: BLAS's limits are process-wide, so with fits in several threads (joblib's
#: threading backend) each restoring what it found on entry left BLAS at one
#: thread for good; the first fit sets the limit, the last one lifts it.
_BLAS_LIMIT = {"lock": threading.Lock(), "fits": 0, "limiter": None}
#: One ThreadpoolController for the process, made at the first fit: a fresh
#: one per limit rescanned the loaded libraries (0.90 ms against 0.012 ms, a
#: third of a small partial_fit's time). It knows the libraries loaded when it
#: was made (NumPy's BLAS is, by the first fit).
_CONTROLLER = []
_CONTROLLER_LOCK = threading.Lock()


def _libraries(user_api):
    """The process's ThreadpoolController (made once) restricted to one API:
    a limiter restores every library it knows, and an OpenMP limit taken
    inside a fit's BLAS limit restored BLAS to that fit's one thread for good."""
    with _CONTROLLER_LOCK:
        if not _CONTROLLER:
            _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].select(user_api=user_api)


@contextmanager
def _single_blas_thread():
    state = _BLAS_LIMIT
    with state["lock"]:
        if state["fits"] == 0:
            state["limiter"] = _libraries("blas").limit(limits=1)
        state["fits"] += 1
    try:
        yield
    finally:
        with state["lock"]:
            state["fits"] -= 1
            if state["fits"] == 0:
                state["limiter"].restore_original_limits()
                state["limiter"] = None


def blas_threads(design):
    """Context that runs NumPy fits with single-threaded BLAS (see the note
    above); other namespaces keep their own threading."""
    if is_numpy_array(design):
        return _single_blas_thread()
    return nullcontext()


@contextmanager
def openmp_threads():
    """Context that runs scikit-learn's k-means (the starts' clustering) with
    one OpenMP thread, as NumPy fits run BLAS: on this project's shared 2-core
    machine its default threads waited for busy cores (at a load average of
    1.5, k-means on 20000 x 10 took 6.6 times as long, on the digits 60 times,
    and default fits 1.1 to 2.0 times: ``python
    benchmarks/kmeans_threads.py``), with the same labels. OpenMP's limit
    holds for the calling thread alone (``omp_set_num_threads``), so each call
    sets and restores its own: a count shared by threads, as BLAS's, left the
    second of two overlapping fits unlimited and the first at one thread for
    good. Fits on another namespace (a GPU's) leave k-means, which runs on the
    host, its default threads (``initial_responsibilities(one_thread=False)``)."""
    limiter = _libraries("openmp").limit(limits=1)
    try:
        yield
    finally:
        limiter.restore_original_limits()


#: Experimental, off by default (issue 3): CuPy E-steps of a softmax gate and
#: Gaussian linear experts as two cuBLAS products and one fused kernel
#: (``skmoe._fused``) instead of some 17 elementwise and reduction kernels.
#: Not yet run on a GPU; a benchmark or a test sets it, or the environment
#: variable ``SKMOE_FUSED_E_STEP=1`` (read at each E-step).
FUSED_E_STEP = False


def fused_e_step_on() -> bool:
    """Whether the experimental fused E-step is switched on (:data:`FUSED_E_STEP`
    or ``SKMOE_FUSED_E_STEP=1``)."""
    return FUSED_E_STEP or os.environ.get("SKMOE_FUSED_E_STEP") == "1"


GPU_MISSING = (
    'device="cuda" needs CuPy and a usable CUDA device; install the GPU extra with '
    '`pip install ".[gpu]"` in the skmoe source checkout (a CuPy wheel matching '
    "your CUDA), or use "
    'device="auto" to fall back to the CPU.'
)


def _import_cupy():
    """CuPy with a usable device, or None (the only place CuPy is imported)."""
    cupy, _ = _cupy_and_problem()
    return cupy


def _cupy_and_problem():
    """CuPy with a usable device and None, or None and why not: None where
    CuPy is not installed, else the error of its device count (no driver, a
    driver older than the wheel's CUDA, no device), in words."""
    try:
        import cupy
    except ImportError:
        return None, None
    except Exception as exc:  # a broken installation (a missing CUDA library)
        return None, f"importing CuPy failed: {type(exc).__name__}: {exc}"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CUDA finds no device"
    except Exception as exc:  # no driver, no device, or a broken installation
        return None, f"{type(exc).__name__}: {exc}"
    return cupy, None


def _gpu_missing():
    """:data:`GPU_MISSING`, or, where CuPy is installed, what keeps it from
    a device: the install hint misled a user whose driver was too old for
    the CuPy wheel (cudaErrorInsufficientDriver)."""
    _, problem = _cupy_and_problem()
    if problem is None:
        return GPU_MISSING
    return (
        f'device="cuda" needs a usable CUDA device; CuPy is installed, but it '
        f"cannot reach one ({problem}). Check the NVIDIA driver and that the "
        "CuPy wheel matches its CUDA version (e.g. cupy-cuda12x for CUDA 12), "
        'or use device="auto" to fall back to the CPU.'
    )


class Backend:
    """Where a fit or a prediction computes, and how arrays get there and back.

    ``xp`` is the namespace the numerics run in; ``to_compute`` moves a host NumPy
    array there (once per fit); ``to_output`` turns a result into what the caller
    gets back: NumPy for NumPy input, the input's own namespace under
    scikit-learn's Array API dispatch.
    """

    def __init__(self, xp, to_compute, to_output, name):
        self.xp = xp
        self.to_compute = to_compute
        self.to_output = to_output
        self.name = name

    def __repr__(self):
        return f"Backend({self.name})"


def _identity(x):
    return x


def select_backend(X, device: str, *, fitting: bool) -> Backend:
    """The backend for validated input ``X`` and the estimator's ``device``.

    Non-NumPy input (scikit-learn's Array API dispatch) computes in its own
    namespace and device, whatever ``device`` says. NumPy input computes on the GPU
    for ``device="cuda"`` or ``"auto"`` when CuPy and a device are usable. Fitting
    with ``device="cuda"`` and no usable GPU raises; predicting falls back to the
    CPU, so that a model fitted on a GPU predicts on any machine.
    """
    if not is_numpy_array(X):
        if not hasattr(X, "__dlpack__"):
            # a lazy array such as Dask's: the fit needs host copies (DLPack)
            # and batched linear algebra that such namespaces do not offer
            kind = f"{type(X).__module__}.{type(X).__qualname__}"
            raise TypeError(
                f"skmoe cannot compute on {kind} input under scikit-learn's "
                "array_api_dispatch: it needs an array library that exports "
                "DLPack (NumPy, CuPy, PyTorch, array-api-strict). Convert the "
                "input first (for a Dask array, X.compute()) or turn "
                "array_api_dispatch off."
            )
        xp = array_namespace(X)
        dev = device_of(X)
        return Backend(
            xp, lambda a: xp.asarray(a, device=dev), _identity, f"{xp.__name__}"
        )
    numpy_xp = array_namespace(X)
    if device != "cpu":
        cupy = _import_cupy()
        if cupy is not None:
            cupy_xp = array_namespace(cupy.empty(0))
            return Backend(cupy_xp, cupy.asarray, to_numpy, "cupy")
        if device == "cuda" and fitting:
            raise ImportError(_gpu_missing())
    return Backend(numpy_xp, _identity, _identity, "numpy")


def as_compute(xp, a, like):
    """Host array ``a`` in the namespace, dtype and device of ``like``."""
    return xp.asarray(a, dtype=like.dtype, device=device_of(like))


def float_dtypes(X):
    """The floating dtypes scikit-learn's validation may convert X to.

    Spelled in X's namespace, as scikit-learn's Array API support requires (its
    ``get_namespace`` gives NumPy unless ``array_api_dispatch`` is on).
    """
    xp, _ = get_namespace(X)
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize == 4:
        # float32 in the other byte order ('>f4'), which validation finds in
        # neither dtype and converts to the first: float32 first, so that it
        # fits as float32, not float64 (as its native copy does)
        return [xp.float32, xp.float64]
    return [xp.float64, xp.float32]


def host_scalars(xp, *values) -> list:
    """0-d arrays as Python numbers, read in one transfer: on a GPU each
    ``float(x)`` or ``bool(x)`` waits for the device, and an EM iteration read
    several. The values are stacked in the widest float dtype of their device
    (booleans as 0 or 1, read back as bools; floats of that dtype exactly);
    NumPy's are converted one by one (no transfer, the same numbers)."""
    if all(isinstance(value, (np.ndarray, np.generic)) for value in values):
        # (NumPy's arrays and scalars as they are: asarray's wrapper took
        # more than the conversions, twice an EM iteration on the CPU)
        return [bool(v) if v.dtype == np.bool_ else float(v) for v in values]
    values = [xp.asarray(value) for value in values]
    if all(is_numpy_array(value) for value in values):
        return [bool(v) if v.dtype == np.bool_ else float(v) for v in values]
    wide = widest_float(xp, values[0])
    stacked = to_numpy(xp.stack([xp.astype(value, wide) for value in values]))
    return [
        bool(number) if value.dtype == xp.bool else float(number)
        for value, number in zip(values, stacked.tolist(), strict=True)
    ]


def widest_float(xp, like):
    """The widest float dtype of ``like``'s device: float64, or float32 on a
    device without it (PyTorch's "mps"), where the sums that are taken in
    float64 for their digits (the objective, online EM's statistics) raised
    that the device does not support float64 for a float32 fit."""
    return _max_precision_float_dtype(xp, device_of(like))


def dtype_name(dtype) -> str:
    """A dtype's name for messages, ``float32``, in any namespace (where
    array_api_strict prints ``array_api_strict.float32``, torch
    ``torch.float32``)."""
    return str(dtype).rsplit(".", 1)[-1]


def host(a):
    """A NumPy copy of an Array API array; other input is returned as it is.

    Only Array API arrays: a PyArrow ``Array`` exports DLPack too, but not with
    nulls, strings or booleans (``groups=pa.array(["a", ...])`` and
    ``sample_weight=pa.array([1.0, None, ...])`` raised ArrowTypeError here),
    and scikit-learn's validation reads it, as any array-like.
    """
    if (
        a is None
        or isinstance(a, np.ndarray)
        or not hasattr(a, "__dlpack__")
        or not is_array_api_obj(a)
    ):
        return a
    return to_numpy(a)
