"""The experimental fused CuPy E-step (``skmoe._fused``) on the CPU: its
algorithm (NumPy, step for step), its CUDA source compiled as C++ where a
compiler is and by NVRTC where libnvrtc is, and when ``e_step`` takes it.
``tests/test_gpu.py`` runs the kernel itself where a GPU is."""

import ctypes
import dataclasses
import re
import shutil
import subprocess

import numpy as np
import pytest

from skmoe import _backend, _em, _fused
from skmoe._em import EMProblem, e_step
from skmoe._groups import Groups, mix
from skmoe._math import design_matrix, log_softmax
from skmoe.experts import GaussianLinearExperts, PoissonExperts, StudentTLinearExperts
from skmoe.gates import GaussianGate, SoftmaxGate

# the algorithm, not rounding, is wrong beyond these
BOUNDS = {np.float32: 1e-4, np.float64: 1e-12}


def _problem(n, d, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] + rng.standard_normal(n)).astype(dtype)
    problem = EMProblem(
        design_matrix(np, X),
        y,
        np.ones(n, dtype=dtype),
        SoftmaxGate(),
        GaussianLinearExperts(1e-6),
        1e-4,
    )
    gate = {"coef": (0.1 * rng.standard_normal((d + 1, k))).astype(dtype)}
    experts = {
        "coef": rng.standard_normal((d + 1, k)).astype(dtype),
        "variance": np.ones(k, dtype=dtype),
    }
    return problem, gate, experts


def _cases(dtype):
    """(label, problem, gate, experts): a plain problem, logits of +-1e4 with
    variances 1e-6 to 1e2, and logits of 1e4 + O(1) (a mixing gate, where
    ``G + logp`` would round at 1e-3 in float32)."""
    problem, gate, experts = _problem(2000, 4, 5, dtype)
    big = {"coef": (1e4 * gate["coef"] / 0.1).astype(dtype)}
    tiny = dict(experts, variance=np.asarray([1e-6, 1e-4, 1e-2, 1, 1e2], dtype))
    offset = {"coef": gate["coef"] * 10}
    offset["coef"][0] += dtype(1e4)
    spread = dict(experts, variance=np.asarray([0.01, 0.1, 1, 10, 100], dtype))
    return [
        ("plain", problem, gate, experts),
        ("logits +-1e4, variances 1e-6..1e2", problem, big, tiny),
        ("logits 1e4 + O(1)", problem, offset, experts),
        ("logits 1e4 + O(1), variances 0.01..100", problem, offset, spread),
    ]


def _crafted(dtype, seed=1):
    """Logits with -inf entries (an expert off in 20 samples, a sample with
    every expert off, one with one left) and a target at the float maximum
    (its log-likelihoods -inf): G, M, y, variance."""
    rng = np.random.default_rng(seed)
    k, n = 5, 50
    G = rng.normal(scale=3.0, size=(k, n)).astype(dtype)
    M = rng.normal(size=(k, n)).astype(dtype)
    y = rng.normal(size=n).astype(dtype)
    variance = rng.uniform(0.01, 2.0, size=k).astype(dtype)
    G[1, :20] = -np.inf
    G[:, 30] = -np.inf
    G[:4, 31] = -np.inf
    y[40] = np.finfo(dtype).max
    return G, M, y, variance


def _generic_from_products(G, M, y, variance):
    """skmoe's generic E-step (log_softmax, mix) from the logits and means."""
    with np.errstate(all="ignore"):
        log_p = -0.5 * (
            np.log(2 * np.pi)
            + np.log(variance)[:, None]
            + (y - M) ** 2 / variance[:, None]
        )
        log_gate = log_softmax(np, G, axis=0)
        log_norm, resp = mix(np, log_gate, log_p, None)
    return log_norm, resp, log_gate


def _assert_close(got, want, bound):
    """log_norm relatively (|want| floored at 1), resp and log_gate absolutely,
    over entries finite in both; the non-finite entries (NaN, +-inf) alike."""
    for j, (a, b) in enumerate(zip(got, want, strict=True)):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        assert a.shape == b.shape
        both = np.isfinite(a) & np.isfinite(b)
        same = (np.isnan(a) & np.isnan(b)) | (a == b)
        assert np.all(both | same), j
        with np.errstate(invalid="ignore"):
            gap = np.abs(np.where(both, a - b, 0.0))
        if j == 0:
            gap /= np.maximum(np.abs(np.where(both, b, 0.0)), 1.0)
        assert gap.max() < bound, (j, gap.max())


def _products(problem, gate, experts):
    return gate["coef"].T @ problem.design, experts["coef"].T @ problem.design


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_emulated_kernel_matches_e_step(dtype):
    for label, problem, gate, experts in _cases(dtype):
        G, M = _products(problem, gate, experts)
        got = _fused.emulate_from_products(G, M, problem.Y, experts["variance"])
        assert all(a.dtype == dtype for a in got), label
        _assert_close(got, e_step(problem, gate, experts), BOUNDS[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_emulated_kernel_with_infinite_logits(dtype):
    G, M, y, variance = _crafted(dtype)
    got = _fused.emulate_from_products(G, M, y, variance)
    want = _generic_from_products(G, M, y, variance)
    _assert_close(got, want, BOUNDS[dtype])
    # an expert off has gate and responsibility exactly 0
    assert np.all(got[1][1, :20] == 0) and np.all(np.isneginf(got[2][1, :20]))
    assert np.isnan(got[0][30])  # no expert on: NaN, as the generic E-step


_HOST_STUB = """#include <cmath>
#include <cstring>
#define __global__
#define __restrict__
struct D3 { unsigned x; };
static D3 blockIdx, blockDim, threadIdx;
static float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
static double __longlong_as_double(long long v)
{ double f; std::memcpy(&f, &v, 8); return f; }
using std::exp; using std::log; using std::fabs;
"""
_HOST_DRIVER = """
extern "C" void launch(unsigned grid, unsigned block, const REAL* G,
    const REAL* M, const REAL* y, const REAL* c, const REAL* h, int K,
    long long n, REAL* lg, REAL* resp, REAL* ln) {
  blockDim.x = block;
  for (unsigned b = 0; b < grid; ++b) for (unsigned t = 0; t < block; ++t) {
    blockIdx.x = b; threadIdx.x = t; fused_estep(G, M, y, c, h, K, n, lg, resp, ln);
  }
}
"""


def _signature_check(source):
    """A check that a launch's arguments are what the kernel's signature
    declares, as CuPy passes them (an array as a pointer to its dtype, a NumPy
    scalar by its own size): the host's C++ call would convert a scalar of
    another size (``int n`` passed ``np.int64``), where the device would read
    the parameters from the wrong offsets."""
    real = re.search(r"#define REAL (\w+)", source).group(1)
    dtypes = {"float": np.float32, "double": np.float64}
    scalars = {"int": np.int32, "long long": np.int64}
    signature = re.search(r"fused_estep\((.*?)\)", source, re.S).group(1)
    declared = []
    for parameter in signature.split(","):
        words = parameter.replace("const", " ").replace("__restrict__", " ").split()
        kind = " ".join(words[:-1])
        declared.append(kind.replace(" ", "") if "*" in kind else kind)

    def check(args):
        assert len(args) == len(declared)
        for kind, a in zip(declared, args, strict=True):
            if kind.endswith("*"):
                assert isinstance(a, np.ndarray), kind
                assert a.dtype == dtypes[kind.replace("REAL", real)[:-1]], kind
            else:
                assert type(a) is scalars[kind], (kind, type(a))

    return check


class _HostCupy:
    """The few CuPy functions ``_fused.from_products`` calls, on NumPy, with a
    ``RawKernel`` that compiles the CUDA source as C++ (``__global__`` and
    ``__restrict__`` dropped, the block and thread indices looped over)."""

    float64 = np.float64
    asarray = staticmethod(np.asarray)
    ascontiguousarray = staticmethod(np.ascontiguousarray)
    empty = staticmethod(np.empty)
    log = staticmethod(np.log)

    def __init__(self, directory):
        self.directory = directory
        self.compiled = []

    def RawKernel(self, source, name):  # noqa: N802 (CuPy's name)
        assert name == "fused_estep"
        path = self.directory / f"kernel{len(self.compiled)}.cpp"
        path.write_text(_HOST_STUB + source + _HOST_DRIVER)
        library = path.with_suffix(".so")
        subprocess.run(
            [
                "g++",
                "-O1",
                "-ffp-contract=off",
                "-Werror=double-promotion",  # no double arithmetic in float's
                "-shared",
                "-fPIC",
                "-o",
                library,
                path,
            ],
            check=True,
        )
        self.compiled.append(source)
        launch = ctypes.CDLL(str(library)).launch

        check_arguments = _signature_check(source)

        def run(grid, block, args):
            check_arguments(args)

            def c_arg(a):
                if isinstance(a, np.ndarray):
                    assert a.flags.c_contiguous
                    return a.ctypes.data_as(ctypes.c_void_p)
                return {np.int32: ctypes.c_int, np.int64: ctypes.c_longlong}[type(a)](
                    int(a)
                )

            launch(ctypes.c_uint(*grid), ctypes.c_uint(*block), *map(c_arg, args))

        return run


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_source_run_as_cpp(dtype, tmp_path, monkeypatch):
    """``_fused.from_products`` with the shipped CUDA source run on the host
    against the generic E-step (and a tail block: n not a multiple of 256)."""
    monkeypatch.setattr(_fused, "_KERNELS", {})
    host = _HostCupy(tmp_path)
    for _, problem, gate, experts in _cases(dtype):
        for n in (2000, 1000):
            part = dataclasses.replace(
                problem,
                design=problem.design[:, :n],
                Y=problem.Y[:n],
                sample_weight=problem.sample_weight[:n],
            )
            G, M = _products(part, gate, experts)
            got = _fused.from_products(host, G, M, part.Y, experts["variance"])
            assert all(a.dtype == dtype for a in got)
            _assert_close(got, e_step(part, gate, experts), BOUNDS[dtype])
    crafted = _crafted(dtype)
    got = _fused.from_products(host, *crafted)
    _assert_close(got, _generic_from_products(*crafted), BOUNDS[dtype])
    assert host.compiled == [_fused.kernel_source(np.dtype(dtype).name)]  # once


@pytest.fixture
def fake_cupy(monkeypatch):
    """NumPy arrays taken for CuPy's by ``_fused.applies``, the switch on."""
    monkeypatch.setattr(_fused, "is_cupy_array", lambda a: isinstance(a, np.ndarray))
    monkeypatch.setattr(_backend, "FUSED_E_STEP", True)
    monkeypatch.delenv("SKMOE_FUSED_E_STEP", raising=False)


def test_fused_applies_to_its_configuration_only(fake_cupy, monkeypatch):
    problem, gate, experts = _problem(300, 3, 4, np.float32)
    assert _fused.applies(problem, gate, experts)
    assert _fused.applies(dataclasses.replace(problem, top_k=4), gate, experts)
    tied = dataclasses.replace(problem, experts=GaussianLinearExperts(1e-6, tied=True))
    assert _fused.applies(tied, gate, experts)
    as64 = {key: v.astype(np.float64) for key, v in experts.items()}
    wide = dataclasses.replace(
        problem, design=problem.design.astype(np.float64), Y=problem.Y.astype(float)
    )
    assert _fused.applies(wide, {"coef": gate["coef"].astype(float)}, as64)
    unsupported = {
        "top-k routing": (dataclasses.replace(problem, top_k=2), gate, experts),
        "groups": (
            dataclasses.replace(
                problem, groups=Groups.from_labels(np.arange(300) // 3)
            ),
            gate,
            experts,
        ),
        "own gate design": (
            dataclasses.replace(problem, own_gate_design=problem.design),
            gate,
            experts,
        ),
        "Gaussian gate": (
            dataclasses.replace(problem, gate=GaussianGate()),
            gate,
            experts,
        ),
        "Student t experts": (
            dataclasses.replace(problem, experts=StudentTLinearExperts(1e-6, 4.0)),
            gate,
            experts,
        ),
        "Poisson experts": (
            dataclasses.replace(problem, experts=PoissonExperts()),
            gate,
            experts,
        ),
        "float16": (
            dataclasses.replace(problem, design=problem.design.astype(np.float16)),
            gate,
            experts,
        ),
        "mixed dtypes": (problem, gate, as64),
        "target of two columns": (
            dataclasses.replace(problem, Y=np.stack([problem.Y, problem.Y])),
            gate,
            experts,
        ),
        "no samples": (
            dataclasses.replace(problem, design=problem.design[:, :0], Y=problem.Y[:0]),
            gate,
            experts,
        ),
        "no variance": (problem, gate, {"coef": experts["coef"]}),
    }
    for label, (p, g, e) in unsupported.items():
        assert not _fused.applies(p, g, e), label
    assert not _fused.applies(problem, gate, experts, with_marginal=True)
    monkeypatch.setattr(_fused, "is_cupy_array", lambda a: False)  # NumPy
    assert not _fused.applies(problem, gate, experts)


def test_fused_refuses_parameters_of_other_shapes(fake_cupy):
    # the kernel reads c[k], h[k] (from the variances) and both products'
    # rows k < K, K the gate's columns: parameters of another number of
    # experts (a read past their end on a GPU) take the generic E-step
    problem, gate, experts = _problem(300, 3, 4, np.float64)
    assert _fused.applies(problem, gate, experts)
    for label, g, e in [
        ("one variance", gate, dict(experts, variance=experts["variance"][:1])),
        (
            "variances (K, 1)",
            gate,
            dict(experts, variance=experts["variance"][:, None]),
        ),
        ("experts' coef of 3", gate, dict(experts, coef=experts["coef"][:, :3])),
        ("gate's coef of 3", {"coef": gate["coef"][:, :3]}, experts),
        ("gate's coef of 2 rows", {"coef": gate["coef"][:2]}, experts),
    ]:
        assert not _fused.applies(problem, g, e), label
    stacked = dataclasses.replace(problem, design=problem.design[None])
    assert not _fused.applies(stacked, gate, experts)  # (not an error)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_kernel_takes_products_of_any_layout(tmp_path, monkeypatch):
    # the kernel indexes G and M as C-contiguous (K, n) and y as contiguous:
    # F-ordered products and a strided target are copied first (the host's
    # launch refuses others, as the device would read the wrong entries)
    monkeypatch.setattr(_fused, "_KERNELS", {})
    G, M, y, variance = _crafted(np.float64)
    want = _generic_from_products(G, M, y, variance)
    strided = np.repeat(y, 2)[::2]
    assert not strided.flags.c_contiguous
    got = _fused.from_products(
        _HostCupy(tmp_path),
        np.asfortranarray(G),
        np.asfortranarray(M),
        strided,
        variance,
    )
    _assert_close(got, want, BOUNDS[np.float64])


def test_fused_switch_and_environment(fake_cupy, monkeypatch):
    problem, gate, experts = _problem(300, 3, 4, np.float64)
    monkeypatch.setattr(_backend, "FUSED_E_STEP", False)
    assert not _fused.applies(problem, gate, experts)  # off by default
    monkeypatch.setenv("SKMOE_FUSED_E_STEP", "0")
    assert not _fused.applies(problem, gate, experts)
    monkeypatch.setenv("SKMOE_FUSED_E_STEP", "1")  # read at each call
    assert _fused.applies(problem, gate, experts)


def test_e_step_dispatches_to_fused_only_where_it_applies(fake_cupy, monkeypatch):
    problem, gate, experts = _problem(300, 3, 4, np.float64)
    calls = []

    def fused(*args):
        calls.append(args)
        return "fused"

    monkeypatch.setattr(_fused, "e_step", fused)
    assert _em.e_step(problem, gate, experts) == "fused"
    assert len(calls) == 1
    grouped = dataclasses.replace(problem, groups=Groups.from_labels(np.arange(300)))
    assert _em.e_step(grouped, gate, experts)[0].shape == (300,)
    assert len(calls) == 1


def test_switch_leaves_numpy_e_step_unchanged(monkeypatch):
    problem, gate, experts = _problem(300, 3, 4, np.float32)
    before = e_step(problem, gate, experts)
    monkeypatch.setattr(_backend, "FUSED_E_STEP", True)
    after = e_step(problem, gate, experts)
    for a, b in zip(after, before, strict=True):
        np.testing.assert_array_equal(a, b)


def _bench_gpu(monkeypatch):
    """``benchmarks/bench_gpu.py`` as a module, its "gpu" backend NumPy."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("_bench_gpu_under_test", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gpu = ("gpu", np, lambda a: a, lambda: None)
    monkeypatch.setattr(bench, "_backends", lambda which: [gpu])
    return bench


def test_bench_gpu_fused_row_failure_spares_the_other_rows(
    fake_cupy, monkeypatch, capsys
):
    """A fused E-step that fails on the device (NVRTC's compile, its launch)
    costs its own row only: ``--session`` goes on to the fits and the grid."""
    bench = _bench_gpu(monkeypatch)
    monkeypatch.setattr(_backend, "FUSED_E_STEP", False)

    def broken(*args):
        raise RuntimeError("NVRTC_ERROR_COMPILATION")

    monkeypatch.setattr(_fused, "e_step", broken)
    sizes = [(3000, 4, 3, np.float32), (2000, 3, 2, np.float64)]
    assert bench.estep_rows(sizes, 4800.0, "gpu", fused=True) == []
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all("gpu fused" in line and "NVRTC_ERROR" in line for line in lines)
    assert _backend.FUSED_E_STEP is False  # the switch restored
    # the generic rows still run, and their own failures are not hidden
    rows = bench.estep_rows(sizes[:1], 4800.0, "gpu")
    assert [row[0] for row in rows] == ["gpu"]
    monkeypatch.setattr(bench, "e_step", broken)
    with pytest.raises(RuntimeError):
        bench.estep_rows(sizes[:1], 4800.0, "gpu")


def test_bench_gpu_fused_row_and_its_gaps(fake_cupy, monkeypatch, capsys):
    """A fused row (the kernel's emulation standing in for it) with its gaps
    to the generic E-step on the same arrays."""
    bench = _bench_gpu(monkeypatch)
    monkeypatch.setattr(_backend, "FUSED_E_STEP", False)

    def emulated(problem, gate, experts):
        G, M = _products(problem, gate, experts)
        return _fused.emulate_from_products(G, M, problem.Y, experts["variance"])

    monkeypatch.setattr(_fused, "e_step", emulated)
    rows = bench.estep_rows([(3000, 4, 3, np.float64)], 4800.0, "gpu", fused=True)
    assert [row[0] for row in rows] == ["gpu fused"]
    gaps = capsys.readouterr().out.splitlines()[-1]
    assert gaps.startswith("fused against generic") and gaps.endswith("mismatches 0")
    values = [float(v) for v in re.findall(r"\d\.\d+e[-+]\d+", gaps)]
    assert len(values) == 3 and max(values) < 1e-12


def _nvrtc_check():
    """``benchmarks/prototypes/nvrtc_check.py`` as a module."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks/prototypes/nvrtc_check.py"
    spec = importlib.util.spec_from_file_location("_nvrtc_check_under_test", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    return check


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_kernel_source_compiles_with_nvrtc(dtype_name):
    """The CUDA source through NVRTC with ``RawKernel``'s options, for sm_90
    (the H200), on the CPU: no warning, no spill, registers that let a block
    of ``_fused.BLOCK`` threads launch, and PTX parameters as wide as what
    ``from_products`` passes (a Python int would be 8 bytes for ``int K``)."""
    check = _nvrtc_check()
    nvrtc = check.find_nvrtc()
    if nvrtc is None:
        pytest.skip("needs libnvrtc (pip install nvidia-cuda-nvrtc-cu12)")
    lines, failures = check.check_variant(nvrtc, _fused, dtype_name, check.find_ptxas())
    assert failures == [], "\n".join(lines + failures)
    registers = check.resource_stats(
        check.compile_source(
            nvrtc,
            _fused.kernel_source(dtype_name),
            check.OPTIONS + ("-arch=sm_90", "-Xptxas=-v"),
        )[0]
    )["registers"]
    assert 0 < registers * _fused.BLOCK <= 65536
    # 5 pointers, int K, long long n, 3 pointers
    ptx = check.compile_source(
        nvrtc, _fused.kernel_source(dtype_name), check.OPTIONS + ("-arch=compute_90",)
    )[1]
    assert check.ptx_parameter_bytes(ptx) == [8] * 5 + [4, 8] + [8] * 3


def test_nvrtc_check_catches_a_plain_int_argument(monkeypatch):
    """The width check of the NVRTC script (no compiler needed): a Python
    ``int`` is 8 bytes to CuPy, a NumPy scalar its own size."""
    check = _nvrtc_check()
    assert check.argument_bytes((np.zeros(2), np.int32(1), np.int64(2), 3, 1.0)) == [
        ctypes.sizeof(ctypes.c_void_p),
        4,
        8,
        8,
        8,
    ]
    args = check.launched_arguments(_fused, np.dtype("float32"))
    assert check.argument_bytes(args) == [8] * 5 + [4, 8] + [8] * 3
    ptx = ".visible .entry fused_estep(\n\t.param .u64 a,\n\t.param .u32 b\n)\n{"
    assert check.ptx_parameter_bytes(ptx) == [8, 4]
    assert check.occupancy(32, 256) == 2048 and check.occupancy(62, 256) == 1024


def test_kernel_arrays_all_take_the_logits_dtype():
    """The kernel reads every array as ``G``'s type: means ``M`` or targets of
    another dtype are cast before the launch, not reinterpreted."""
    args = _nvrtc_check().launched_arguments(_fused, np.float32, np.float64)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    assert len(arrays) == 8
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
    np.testing.assert_array_equal(arrays[1], 1.0)
