#!/usr/bin/env bash
# Issue 3's GPU checks in one device call: the GPU tests, then the two targets.
#
# Prepared for the device tool (one NVIDIA H200; its image has CuPy (cupy-cuda13x),
# NumPy, SciPy, scikit-learn, threadpoolctl and pytest, but not array-api-compat,
# and no network; /work/.library/device/KINDS.md lists it). Before the call, on the
# development machine, in the repository root:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux2014_x86_64 -d .whl \
#       "array-api-compat>=1.9" threadpoolctl
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_27_x86_64 \
#       --platform manylinux_2_17_x86_64 -d .whl/sklearn "scikit-learn>=1.9"
#
# then run ``bash benchmarks/gpu_session.sh`` there with ``.whl`` carried and a
# timeout of about 480 s (the tests take about a minute, the benchmark at most
# 300 s, printing each row as it ends), which leaves the 15-minute budget room for
# the machine's start and a shorter second call. The image's scikit-learn is used
# unless it is older than skmoe's 1.9, when the carried wheel replaces it.
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
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    nproc
    python3 -c "import sys, numpy, scipy, sklearn, array_api_compat, cupy; \
print(sys.version.split()[0], 'numpy', numpy.__version__, 'scipy', scipy.__version__, \
'scikit-learn', sklearn.__version__, 'array-api-compat', array_api_compat.__version__, \
'cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"
    git rev-parse --short HEAD 2>/dev/null || true
    python3 -c "import skmoe; print('skmoe', skmoe.__version__, 'imports')"
} 2>&1 | tee "$OUT/versions.txt"
timeout 150 python3 -m pytest -p no:cacheprovider -o addopts="" -m gpu -v \
    tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
timeout 300 python3 benchmarks/bench_gpu.py --targets 2>&1 | tee "$OUT/bench_targets.md"
