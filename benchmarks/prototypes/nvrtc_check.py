"""Compiles the fused E-step's CUDA source with NVRTC, on the CPU.

The source (``skmoe._fused``) is compiled as CuPy's ``RawKernel`` compiles it
at its first launch, with no GPU needed. The g++ build in
``tests/test_fused.py`` checks the source as C++; this checks it with NVIDIA's
own compilers, for both variants (float32, float64):

- NVRTC compiles it to PTX (``-arch=compute_90``) and to an sm_90 cubin
  (``-arch=sm_90``, what CuPy 13+ with NVRTC 12.x builds on an H100/H200),
  with ``RawKernel``'s options (:data:`OPTIONS`); its log must hold no
  warning or error;
- the cubin's resource use (NVRTC's ``-Xptxas=-v``, and ``ptxas -arch=sm_90
  -v`` on the PTX where a ``ptxas`` is found): registers, stack, spills,
  shared memory; the registers must let ``_fused.BLOCK`` threads a block
  launch (65536 registers a block and an SM, 255 a thread), with no spills;
- the PTX entry's parameter widths (bytes) against what
  ``_fused.from_products`` passes (a pointer for an array, a NumPy scalar by
  its own size): CuPy packs a Python ``int`` as 8 bytes and a ``float`` as a
  double, so an ``int`` parameter passed a plain int would be read wrong.

It needs ``libnvrtc`` (and ``ptxas`` for the second resource count), which
NVIDIA's wheels provide without a GPU or a driver::

    python -m venv /tmp/nvv
    /tmp/nvv/bin/pip install nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12 -e .
    /tmp/nvv/bin/python benchmarks/prototypes/nvrtc_check.py

(``nvidia-cuda-nvrtc``/``nvidia-cuda-nvcc`` 13.x serve too; a CUDA toolkit's
``lib64`` under ``$CUDA_PATH`` or ``/usr/local/cuda`` is also looked in.)
Without libnvrtc it prints one line and exits 0; it exits 1 when a check
fails. ``tests/test_fused.py`` runs the same checks where libnvrtc is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

#: The options CuPy 14's ``RawKernel`` passes NVRTC besides ``-arch`` (from
#: ``cupy._core.core.assemble_cupy_compiler_options`` and
#: ``cupy.cuda.compiler``; its ``-I`` folders are left out, as the source
#: includes nothing): C++17, float32 denormals flushed, ``__device__`` default.
OPTIONS = ("--std=c++17", "-ftz=true", "--device-as-default-execution-space")
#: H200 (and H100): compute capability 9.0.
ARCH = "90"
REGISTERS_PER_SM = 65536
REGISTERS_PER_THREAD = 255
THREADS_PER_SM = 2048


def _cuda_roots():
    roots = [os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME")]
    return [r for r in roots + ["/usr/local/cuda"] if r]


def _wheel_dirs():
    """The folders of NVIDIA's ``nvidia`` namespace package, if installed."""
    try:
        import nvidia
    except ImportError:
        return []
    return list(getattr(nvidia, "__path__", []))


def find_nvrtc():
    """libnvrtc as a ``ctypes.CDLL``, or None: from NVIDIA's wheels, the
    loader's path, or a CUDA toolkit."""
    candidates = []
    for base in _wheel_dirs():
        for pattern in ("*/lib/libnvrtc.so*", "*/*/lib/libnvrtc.so*"):
            candidates += sorted(glob.glob(os.path.join(base, pattern)))
    found = ctypes.util.find_library("nvrtc")
    if found:
        candidates.append(found)
    for root in _cuda_roots():
        candidates += sorted(glob.glob(os.path.join(root, "lib64", "libnvrtc.so*")))
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def find_ptxas():
    """The path of a ``ptxas``, or None: NVIDIA's wheel first, as it matches
    the wheel's NVRTC, then ``PATH``, then a CUDA toolkit."""
    for base in _wheel_dirs():
        for path in sorted(glob.glob(os.path.join(base, "*", "bin", "ptxas"))):
            if os.access(path, os.X_OK):
                return path
    found = shutil.which("ptxas")
    if found:
        return found
    for root in _cuda_roots():
        path = os.path.join(root, "bin", "ptxas")
        if os.access(path, os.X_OK):
            return path
    return None


def nvrtc_version(nvrtc):
    major, minor = ctypes.c_int(), ctypes.c_int()
    _call(nvrtc, "nvrtcVersion", ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def _call(nvrtc, name, *args):
    result = getattr(nvrtc, name)(*args)
    if result != 0:
        nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
        raise RuntimeError(f"{name}: {nvrtc.nvrtcGetErrorString(result).decode()}")


def compile_source(nvrtc, source, options):
    """NVRTC's (log, output) for ``source``: PTX text for a ``compute_``
    arch, cubin bytes for an ``sm_`` one; RuntimeError with the log when it
    fails."""
    program = ctypes.c_void_p()
    _call(
        nvrtc,
        "nvrtcCreateProgram",
        ctypes.byref(program),
        source.encode(),
        b"fused_estep.cu",
        0,
        None,
        None,
    )
    try:
        encoded = [o.encode() for o in options]
        argv = (ctypes.c_char_p * len(encoded))(*encoded)
        status = nvrtc.nvrtcCompileProgram(program, len(encoded), argv)
        size = ctypes.c_size_t()
        _call(nvrtc, "nvrtcGetProgramLogSize", program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        _call(nvrtc, "nvrtcGetProgramLog", program, log)
        log = log.value.decode()
        if status != 0:
            raise RuntimeError(f"NVRTC failed ({' '.join(options)}):\n{log}")
        kind = (
            "PTX" if any(o.startswith("-arch=compute_") for o in options) else "CUBIN"
        )
        _call(nvrtc, f"nvrtcGet{kind}Size", program, ctypes.byref(size))
        out = ctypes.create_string_buffer(size.value)
        _call(nvrtc, f"nvrtcGet{kind}", program, out)
        return log, out.value.decode() if kind == "PTX" else out.raw
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


def resource_stats(log):
    """Registers, stack, spill stores and loads, shared memory (bytes) from a
    ``ptxas -v`` log (a count it does not print is 0)."""

    def number(pattern):
        match = re.search(pattern, log)
        return int(match.group(1)) if match else 0

    stats = {
        "registers": number(r"Used (\d+) registers"),
        "stack": number(r"(\d+) bytes stack frame"),
        "spill_stores": number(r"(\d+) bytes spill stores"),
        "spill_loads": number(r"(\d+) bytes spill loads"),
        "smem": number(r"(\d+) bytes smem"),
    }
    if not re.search(r"Used \d+ registers", log):
        raise RuntimeError(f"no register count in the ptxas log:\n{log}")
    return stats


def ptx_parameter_bytes(ptx, name="fused_estep"):
    """The byte widths of the PTX entry's parameters, in order."""
    entry = re.search(rf"\.entry {name}\((.*?)\)", ptx, re.S).group(1)
    widths = {"8": 1, "16": 2, "32": 4, "64": 8}
    return [widths[w] for w in re.findall(r"\.param \.[usbf](\d+)", entry)]


def argument_bytes(args):
    """The byte widths CuPy gives a launch's arguments: a pointer for an
    array, a NumPy scalar's own size, 8 for a Python int or float."""
    widths = []
    for a in args:
        if isinstance(a, np.generic):
            widths.append(a.dtype.itemsize)
        elif isinstance(a, (bool, int, float)):
            widths.append(8)
        else:
            widths.append(ctypes.sizeof(ctypes.c_void_p))
    return widths


def launched_arguments(fused, dtype, means_dtype=None):
    """The arguments ``fused.from_products`` passes its kernel (NumPy
    arrays for CuPy's), for a small problem (means of ``means_dtype``, by
    default ``dtype``)."""

    class Recorder:
        float64 = np.float64
        asarray = staticmethod(np.asarray)
        ascontiguousarray = staticmethod(np.ascontiguousarray)
        empty = staticmethod(np.empty)
        log = staticmethod(np.log)

        def __init__(self):
            self.launches = []

        def RawKernel(self, source, name):  # noqa: N802 (CuPy's name)
            return lambda grid, block, args: self.launches.append(args)

    cupy = Recorder()
    k, n = 3, 5
    G = np.zeros((k, n), dtype)
    saved = dict(fused._KERNELS)
    fused._KERNELS.clear()
    try:
        M = np.ones((k, n), means_dtype or dtype)
        fused.from_products(cupy, G, M, np.zeros(n), np.ones(k, dtype))
    finally:
        fused._KERNELS.clear()
        fused._KERNELS.update(saved)
    (args,) = cupy.launches
    return args


def occupancy(registers, block):
    """Threads an SM runs at once, by registers (256-register units a warp),
    with ``block`` threads a block."""
    per_warp = -(-registers * 32 // 256) * 256
    warps = -(-block // 32)
    blocks = min(REGISTERS_PER_SM // (per_warp * warps), THREADS_PER_SM // block, 32)
    return blocks * block


def check_variant(nvrtc, fused, dtype_name, ptxas=None):
    """Compiles one variant; returns (lines to print, failures)."""
    source = fused.kernel_source(dtype_name)
    lines, failures = [], []
    ptx_log, ptx = compile_source(nvrtc, source, OPTIONS + (f"-arch=compute_{ARCH}",))
    cubin_log, cubin = compile_source(
        nvrtc, source, OPTIONS + (f"-arch=sm_{ARCH}", "-Xptxas=-v")
    )
    for what, log in (("PTX", ptx_log), ("cubin", cubin_log)):
        if re.search(r"warning|error", log, re.I):
            failures.append(f"{dtype_name}: NVRTC's {what} log: {log.strip()}")
    runs = [("NVRTC -arch=sm_90 -Xptxas=-v", resource_stats(cubin_log))]
    if ptxas is not None:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "fused_estep.ptx")
            with open(path, "w") as f:
                f.write(ptx)
            done = subprocess.run(
                [ptxas, f"-arch=sm_{ARCH}", "-v", path, "-o", path + ".cubin"],
                capture_output=True,
                text=True,
            )
        if done.returncode != 0 or re.search("warning", done.stderr, re.I):
            failures.append(f"{dtype_name}: ptxas: {done.stderr.strip()}")
        else:
            runs.append(
                (f"ptxas -arch=sm_{ARCH} -v on the PTX", resource_stats(done.stderr))
            )
    for label, stats in runs:
        threads = occupancy(stats["registers"], fused.BLOCK)
        lines.append(
            f"{dtype_name:8} {label:32} registers {stats['registers']:3d}  "
            f"stack {stats['stack']} B  spills {stats['spill_stores']}/"
            f"{stats['spill_loads']} B  smem {stats['smem']} B  "
            f"occupancy {threads}/{THREADS_PER_SM} threads at block {fused.BLOCK}"
        )
        if stats["registers"] * fused.BLOCK > REGISTERS_PER_SM or (
            stats["registers"] > REGISTERS_PER_THREAD
        ):
            failures.append(f"{dtype_name}: {label}: too many registers for the block")
        if stats["spill_stores"] or stats["spill_loads"] or stats["stack"]:
            failures.append(f"{dtype_name}: {label}: spills or a stack frame")
    declared = ptx_parameter_bytes(ptx)
    passed = argument_bytes(launched_arguments(fused, np.dtype(dtype_name)))
    lines.append(f"{dtype_name:8} PTX parameter bytes {declared}, passed {passed}")
    if declared != passed:
        failures.append(f"{dtype_name}: parameters {declared} passed {passed}")
    lines.append(f"{dtype_name:8} cubin {len(cubin)} bytes, PTX {len(ptx)} chars")
    return lines, failures


def main():
    nvrtc = find_nvrtc()
    if nvrtc is None:
        print(
            "no libnvrtc found: pip install nvidia-cuda-nvrtc-cu12 "
            "nvidia-cuda-nvcc-cu12 (see this script's docstring)"
        )
        return 0
    from skmoe import _fused

    ptxas = find_ptxas()
    major, minor = nvrtc_version(nvrtc)
    print(f"NVRTC {major}.{minor}, ptxas {ptxas or '(none found)'}")
    print(f"options {' '.join(OPTIONS)} -arch=compute_{ARCH} | -arch=sm_{ARCH}")
    try:
        from cupy._core.core import assemble_cupy_compiler_options

        print("CuPy assembles", assemble_cupy_compiler_options(()))
    except Exception:  # noqa: BLE001 (informative only)
        pass
    failures = []
    for name in ("float32", "float64"):
        lines, failed = check_variant(nvrtc, _fused, name, ptxas)
        print("\n".join(lines))
        failures += failed
    for failure in failures:
        print("FAILED", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
