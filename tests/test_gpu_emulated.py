"""tests/test_gpu.py under an emulated CuPy (tests/_fake_cupy), in a subprocess.

Without a GPU, test_gpu.py skips whole, so its tests' logic and skmoe's
CuPy-facing code (``device="cuda"``, CuPy input under Array API dispatch,
CuPy's ``linalg`` that does not raise, ``cupyx.errstate``) would never run.
Here a subprocess runs it with ``tests/_fake_cupy`` first on the path: CuPy's
arrays are array-api-strict's on a non-default device, which refuse any
conversion to NumPy but ``.get()`` (see ``tests/_fake_cupy/cupy/__init__.py``).
The emulated CuPy stays in that subprocess; where CuPy reaches a real device,
test_gpu.py runs for real and this test skips.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

import skmoe
from skmoe._backend import _import_cupy

TESTS = Path(__file__).parent
BENCH_GPU = TESTS.parent / "benchmarks" / "bench_gpu.py"
FAKE = TESTS / "_fake_cupy"
#: test_gpu.py's tests that need real CUDA (its ``needs_cuda`` marker: the
#: fused E-step's RawKernel), skipped under the emulation
NEEDS_CUDA = {
    "test_fused_e_step_matches_generic_on_device": 4,
    "test_fused_kernel_with_infinite_logits_matches_its_emulation": 2,
    "test_fit_with_fused_e_step_matches_cpu": 2,
}
#: test_gpu.py's other tests, all run under the emulation (update with the file)
N_PASSED = 28


def test_emulated_cupy_stays_out_of_this_process():
    # (collected with --doctest-modules, tests/_fake_cupy was imported here:
    # tests/conftest.py ignores it, and it imports only where asked to)
    cupy = _import_cupy()
    assert cupy is None or not getattr(cupy, "EMULATED", False)
    spec = importlib.util.find_spec("cupy")
    assert spec is None or FAKE.resolve() not in Path(spec.origin).resolve().parents
    assert "SKMOE_EMULATED_CUPY" not in os.environ


def _emulated(arguments, source=None):
    """Python run with ``arguments`` under the emulated CuPy: the emulation
    first on the path, then the skmoe of ``source`` (a folder holding it; this
    process's by default). ``-P``: not the working directory (the repository
    root, whose skmoe ``-m`` and ``-c`` put first on the path otherwise, where
    this process imports an installed one)."""
    env = dict(os.environ, SCIPY_ARRAY_API="1", SKMOE_EMULATED_CUPY="1")
    env.pop("SKMOE_FUSED_E_STEP", None)  # (its kernel needs real CUDA)
    if source is None:
        source = Path(skmoe.__file__).parent.parent
    path = [str(FAKE), str(source), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    return subprocess.run(
        [sys.executable, "-P", *arguments],
        env=env,
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
    )


def test_emulation_runs_the_skmoe_this_process_imports(tmp_path):
    # an installed skmoe (a copy here) is the one the emulated run tests,
    # not the repository's, from whose root it runs
    shutil.copytree(Path(skmoe.__file__).parent, tmp_path / "skmoe")
    run = _emulated(["-c", "import skmoe; print(skmoe.__file__)"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()).parent == tmp_path / "skmoe"


@pytest.mark.skipif(
    _import_cupy() is not None, reason="CuPy has a device: test_gpu.py runs for real"
)
def test_gpu_tests_pass_on_emulated_cupy(tmp_path):
    report = tmp_path / "gpu.xml"
    command = [
        "-m", "pytest", str(TESTS / "test_gpu.py"), "-m", "gpu", "-q",
        "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={report}",
    ]  # fmt: skip
    run = _emulated(command)
    log = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, log
    passed, skipped = [], {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name").split("[")[0]
        if case.find("skipped") is not None:
            assert "needs real CUDA" in case.find("skipped").get("message"), log
            skipped[name] = skipped.get(name, 0) + 1
        else:
            passed.append(name)
    assert skipped == NEEDS_CUDA, log
    assert len(passed) == N_PASSED, log


@pytest.mark.skipif(
    _import_cupy() is not None, reason="CuPy has a device: the benchmark runs for real"
)
def test_gpu_benchmark_session_runs_on_emulated_cupy():
    # gpu_session.sh's benchmark, bench_gpu.py --session, at n / 1000 and 2
    # EM iterations: a script gone stale against the library fails here, not
    # in a device call. (The "gpu fused" row computes the generic E-step
    # here: the emulation's dtypes have no .name, so _fused.applies declines.)
    run = _emulated([str(BENCH_GPU), "--session", "--dry-run"])
    log = run.stdout[-3000:] + run.stderr[-3000:]
    assert run.returncode == 0, log
    assert "failed" not in run.stdout, log
    backends = Counter(
        line.split("|")[1].strip()
        for line in run.stdout.splitlines()
        if line.startswith("| ") and not line.startswith(("| ---", "| backend"))
    )
    # the target E-step (generic, fused), 2 + 2 fits of the target size with
    # k-means on one thread and on all, the grid's 36 E-steps on the GPU and
    # its 24 up to n = 1e6 on the CPU, 2 + 2 more fits
    assert backends == {"gpu": 1 + 2 + 36 + 2, "gpu fused": 1, "cpu": 2 + 24 + 2}, log
    assert "fused against generic" in run.stdout, log
