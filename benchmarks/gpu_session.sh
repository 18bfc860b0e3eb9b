#!/usr/bin/env bash
# Issue 3's GPU checks in one device call: a smoke fit, the GPU tests, then the
# benchmark (the two targets first, then the rest of the grid by priority).
#
# Prepared for the device tool (one NVIDIA H200; its image has CuPy (cupy-cuda13x),
# NumPy, SciPy, scikit-learn, threadpoolctl and pytest, but not array-api-compat,
# and no network; /work/.library/device/KINDS.md lists it). Before the call, on the
# development machine, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl \
#       "array-api-compat>=1.10" threadpoolctl
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_27_x86_64 \
#       --platform manylinux_2_17_x86_64 -d .whl/sklearn "scikit-learn>=1.9"
#
# then run ``bash benchmarks/gpu_session.sh`` there with ``.whl`` carried and a
# timeout a little over BUDGET (seconds, default 470): the script ends by then,
# cutting the benchmark's last rows if need be. A failed smoke fit ends it at
# once, so that a fix and a second call fit the 15-minute device budget. The
# image's scikit-learn is used unless it is older than skmoe's 1.9, when the
# carried wheel replaces it. Everything lands in $OUT (./gpu_out elsewhere):
# versions.txt, gpu_tests.log, fused.md (benchmarks/prototypes/fused_estep.py, at
# most 150 s, before the benchmark: no call has measured it yet; its TF32 rows
# time and check the float32 products on tensor cores),
# gpu_tests_fused.log (the Array API dispatch GPU test again with the
# experimental fused E-step switched on, SKMOE_FUSED_E_STEP=1, at most 60 s and
# only while the benchmark keeps 150 s), bench.md (its target rows include the
# fused E-step's; a fused row that fails prints its error and the rest runs).
# DRY_RUN=1 passes --dry-run to the two scripts (n / 1000: their code paths,
# no figure); see benchmarks/README.md for a dry run without a GPU.
set -o pipefail
OUT=${OUT:-gpu_out}
BUDGET=${BUDGET:-470}
DRY=${DRY_RUN:+--dry-run}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
    if ! python3 -c "import sklearn, sys; \
sys.exit(tuple(map(int, sklearn.__version__.split('.')[:2])) < (1, 9))" \
        && [ -d .whl/sklearn ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target /tmp/sklearn-site .whl/sklearn/*.whl || exit 1
        export PYTHONPATH="/tmp/sklearn-site:$PYTHONPATH"
    fi
fi
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem \
        --format=csv,noheader
    nproc
    lscpu | grep -m1 "Model name"
    python3 -c "import sys, numpy, scipy, sklearn, array_api_compat, cupy; \
print(sys.version.split()[0], 'numpy', numpy.__version__, 'scipy', scipy.__version__, \
'scikit-learn', sklearn.__version__, 'array-api-compat', array_api_compat.__version__, \
'cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
    python3 -c "import numpy; numpy.show_config()" 2>&1 | grep -A3 -i "blas" | head -8
    git rev-parse --short HEAD 2>/dev/null || true
    python3 -c "import skmoe; print('skmoe', skmoe.__version__, 'imports')"
} 2>&1 | tee "$OUT/versions.txt"
# smoke: one small fit on the device against NumPy (float64, 50 iterations);
# a failure ends the call
timeout 120 python3 - <<'PY' 2>&1 | tee -a "$OUT/versions.txt" || exit 1
import time
import warnings
import numpy as np
import cupy
from skmoe import MoERegressor
warnings.simplefilter("ignore")  # 50 iterations, no convergence asked
rng = np.random.default_rng(0)
X = rng.standard_normal((2000, 4))
y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 2]) + 0.1 * rng.standard_normal(2000)
start = time.perf_counter()
params = dict(n_init=1, random_state=0, max_iter=50, tol=0)
gpu = MoERegressor(3, **params, device="cuda").fit(X, y)
print(f"smoke: first device fit {time.perf_counter() - start:.1f} s (compiling)")
cpu = MoERegressor(3, **params).fit(X, y)
gap = np.max(np.abs(gpu.predict(X) - cpu.predict(X)))
print("smoke:", type(gpu.expert_coef_).__name__, gpu.n_iter_, cpu.n_iter_,
      "largest prediction gap", gap)
assert gap < 1e-4, gap  # a broken device path, not rounding, ends the call
PY
# -rP: the passed tests' prints too (what CuPy's cholesky did with an
# indefinite matrix, the jitter's failed factorizations on collinear float32)
timeout 150 python3 -m pytest -p no:cacheprovider -o addopts="" -m gpu -v -rP \
    tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
timeout 150 python3 benchmarks/prototypes/fused_estep.py $DRY 2>&1 | tee "$OUT/fused.md"
# the GPU test that the fused kernel can take and its own tests do not run,
# once more with every E-step it handles fused: Array API dispatch of CuPy
# input (the regressor's softmax test is test_fit_with_fused_e_step_matches_cpu
# again, and a Gaussian gate's or the classifier's E-step never takes the
# kernel: running them would only take the benchmark's time)
spare=$((BUDGET - SECONDS - 150))
if [ "$spare" -ge 30 ]; then
    SKMOE_FUSED_E_STEP=1 timeout $((spare < 60 ? spare : 60)) python3 -m pytest \
        -p no:cacheprovider -o addopts="" -m gpu -v -k "dispatch" \
        tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests_fused.log"
else
    echo "fused GPU tests: only $spare s to spare, skipped"
fi
left=$((BUDGET - SECONDS))
# timeout 0 would mean no limit at all, a negative one an error
[ "$left" -ge 30 ] || { echo "benchmark: only $left s left, skipped"; exit 1; }
echo "benchmark: $left s left"
timeout "$left" python3 benchmarks/bench_gpu.py --session $DRY 2>&1 | tee "$OUT/bench.md"
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw \
    --format=csv,noheader | tee -a "$OUT/versions.txt"
echo "session: $SECONDS s"
