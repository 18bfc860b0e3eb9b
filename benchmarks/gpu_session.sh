#!/usr/bin/env bash
# Issue 3's GPU checks in one device call: the GPU tests, then the two targets.
#
# Prepared for the device tool (one NVIDIA H200; its image has CuPy, NumPy, SciPy,
# scikit-learn and pytest, but not array-api-compat, and no network). Before the
# call, on the development machine, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl \
#       "array-api-compat>=1.9" threadpoolctl
#
# then run ``bash benchmarks/gpu_session.sh`` there with ``.whl`` carried and a
# timeout of about 540 s (the tests take about a minute, the benchmark a few).
# Everything lands in $OUT (./gpu_out elsewhere): versions.txt, gpu_tests.log,
# bench_targets.md.
set -o pipefail
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 SCIPY_ARRAY_API=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    nproc
    python3 -c "import sys, numpy, scipy, sklearn, array_api_compat, cupy; \
print(sys.version.split()[0], 'numpy', numpy.__version__, 'scipy', scipy.__version__, \
'scikit-learn', sklearn.__version__, 'array-api-compat', array_api_compat.__version__, \
'cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
    git rev-parse --short HEAD 2>/dev/null || true
} 2>&1 | tee "$OUT/versions.txt"
timeout 180 python3 -m pytest -p no:cacheprovider -o addopts="" -m gpu -v \
    tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
timeout 330 python3 benchmarks/bench_gpu.py --targets 2>&1 | tee "$OUT/bench_targets.md"
