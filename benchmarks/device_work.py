"""An EM iteration's array operations and host reads off NumPy, counted on a CPU.

On a GPU each array operation is a kernel launch (some microseconds of host
time) and each read of a device number on the host (``float(x)``, ``bool(x)``,
a copy to NumPy) waits for the device. This counts both during fits under
scikit-learn's Array API dispatch with array-api-strict input, which runs the
same namespace-generic code as CuPy: operations are calls of array-api-strict's
functions and of its arrays' operators; reads are conversions of its arrays to
Python numbers and exports to NumPy. Per EM iteration is the difference of
fits with ``--iters`` EM iterations (``tol=0``), divided by their difference,
so the start (k-means, the first M-step) and the checks after a fit cancel.
Counts, not times: how much an operation costs on a GPU depends on its size.

    SCIPY_ARRAY_API=1 python benchmarks/device_work.py [--rows 20000] [--experts 16]
"""

import argparse
import collections
import warnings

import array_api_strict as xps
import numpy as np
import sklearn

from skmoe import MoEClassifier, MoERegressor

Array = type(xps.asarray(1.0))
READS = ("__float__", "__bool__", "__int__", "__index__", "__array__", "__dlpack__")
READS += ("tolist", "item")
NOT_OPERATIONS = {  # Python's object protocol, reads, and metadata
    "__init__", "__new__", "__class__", "__getattribute__", "__setattr__",
    "__delattr__", "__repr__", "__str__", "__hash__", "__dir__", "__format__",
    "__init_subclass__", "__subclasshook__", "__reduce__", "__reduce_ex__",
    "__sizeof__", "__getstate__", "__array_namespace__", "__dlpack_device__",
    "__len__", "__iter__", "__buffer__", "__eq__", "__ne__",
}  # fmt: skip
HELPERS = {  # array-api-strict's functions that make or describe no array
    "asarray", "isdtype", "result_type", "finfo", "iinfo", "can_cast",
}  # fmt: skip


def _counting(counts, kind, original):
    def counted(*args, **kwargs):
        if counts["on"]:
            counts[kind] += 1
        return original(*args, **kwargs)

    return counted


def instrument(counts):
    """Count operations and reads into ``counts`` while ``counts["on"]``."""
    for name in dir(Array):
        method = getattr(Array, name, None)
        if not callable(method):
            continue
        if name in READS:
            setattr(Array, name, _counting(counts, "reads", method))
        elif name.startswith("__") and name not in NOT_OPERATIONS:
            setattr(Array, name, _counting(counts, "operations", method))
    for module in (xps, xps.linalg):
        for name in module.__all__:
            function = getattr(module, name)
            if callable(function) and not isinstance(function, type):
                if name not in HELPERS and not name.startswith("get_array_api"):
                    setattr(module, name, _counting(counts, "operations", function))


def per_iteration(Estimator, X, y, iters, n_experts, counts):
    """(operations, reads) per EM iteration, and the fits' iteration counts."""
    found = []
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits' warnings
        Xs, ys = xps.asarray(X), xps.asarray(y)
        for max_iter in iters:
            model = Estimator(
                n_experts, n_init=1, max_iter=max_iter, tol=0, random_state=0
            )
            counts["operations"] = counts["reads"] = 0
            counts["on"] = True
            model.fit(Xs, ys)
            counts["on"] = False
            found.append((counts["operations"], counts["reads"], model.n_iter_))
    (ops0, reads0, n0), (ops1, reads1, n1) = found
    return (ops1 - ops0) / (n1 - n0), (reads1 - reads0) / (n1 - n0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--experts", type=int, default=16)
    parser.add_argument("--iters", type=int, nargs=2, default=(3, 8))
    args = parser.parse_args()
    counts = collections.Counter()
    instrument(counts)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features))
    y = X[:, 0] * np.sign(X[:, 1]) + 0.1 * rng.standard_normal(args.rows)
    print(f"n={args.rows}, D={args.features}, K={args.experts}, float64")
    print("| estimator | operations / iteration | host reads / iteration |")
    print("|---|---|---|")
    for Estimator, target in [(MoERegressor, y), (MoEClassifier, (y > 0).astype(int))]:
        ops, reads = per_iteration(
            Estimator, X, target, args.iters, args.experts, counts
        )
        print(f"| {Estimator.__name__} | {ops:.0f} | {reads:.0f} |")


if __name__ == "__main__":
    main()
