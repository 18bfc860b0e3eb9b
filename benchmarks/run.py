"""Run the skmoe benchmarks without asv and write a markdown table.

    python benchmarks/run.py --quick                 # a few minutes on 2 cores
    python benchmarks/run.py --only IterationVsFloor # full parameter grid of one class
    python benchmarks/run.py --out results/today.md --seeds 5

Benchmarks follow asv's conventions (classes with ``params``, ``setup``,
``time_*``, ``peakmem_*`` and ``track_*`` methods; ``NotImplementedError`` in
``setup`` skips a case), so ``asv run`` from this folder runs the same code. Here
``time_*`` report the best of ``repeat`` wall times, ``peakmem_*`` the peak memory
traced by ``tracemalloc`` during one call (NumPy reports its buffers to it; BLAS
scratch space is not counted), and ``track_*`` the returned value.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ["bench_speed", "bench_accuracy", "bench_flexmix"]
PREFIXES = ("time_", "peakmem_", "track_")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small parameter subsets")
    parser.add_argument(
        "--out",
        default=os.path.join(HERE, "results"),
        help="markdown file, or a folder for a dated file "
        "(default: benchmarks/results/)",
    )
    parser.add_argument(
        "--only", default=None, help="regex on 'Class.method' selecting benchmarks"
    )
    parser.add_argument(
        "--params", default=None, help="regex on the parameter string, e.g. '100000'"
    )
    parser.add_argument("--seeds", type=int, default=None, help="accuracy seeds")
    return parser.parse_args(argv)


def param_grid(cls):
    params = getattr(cls, "params", [])
    names = getattr(cls, "param_names", [])
    if not params:
        return [()]
    if len(names) == 1 or not isinstance(params[0], (list, tuple)):
        return [(p,) for p in params]
    return list(itertools.product(*params))


def methods_of(cls, only):
    found = []
    for name, _ in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith(PREFIXES) and (
            only is None or re.search(only, f"{cls.__name__}.{name}")
        ):
            found.append(name)
    return found


def measure(instance, name, args):
    method = getattr(instance, name)
    if name.startswith("time_"):
        times = []
        for _ in range(getattr(instance, "repeat", 3)):
            start = time.perf_counter()
            method(*args)
            times.append(time.perf_counter() - start)
        return min(times)
    if name.startswith("peakmem_"):
        tracemalloc.start()
        try:
            method(*args)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return method(*args)


def run_class(cls, only, param_filter, log):
    names = methods_of(cls, only)
    rows = []
    if not names:
        return rows
    for args in param_grid(cls):
        label = " ".join(str(a) for a in args)
        if param_filter and not re.search(param_filter, label):
            continue
        row = {"params": list(args), "values": {}, "skipped": None}
        instance = cls()
        started = time.perf_counter()
        try:
            if hasattr(instance, "setup"):
                instance.setup(*args)
        except NotImplementedError as exc:
            row["skipped"] = str(exc) or "skipped"
            log(f"  {cls.__name__}({label}): skipped ({row['skipped']})")
            rows.append(row)
            continue
        for name in names:
            try:
                row["values"][name] = measure(instance, name, args)
            except Exception as exc:  # report and continue with the others
                traceback.print_exc()
                row["values"][name] = f"error: {type(exc).__name__}"
        if hasattr(instance, "teardown"):
            instance.teardown(*args)
        log(
            f"  {cls.__name__}({label}): {time.perf_counter() - started:.1f}s "
            + ", ".join(f"{k}={fmt(k, v, None)}" for k, v in row["values"].items())
        )
        rows.append(row)
    return rows


def fmt(name, value, unit):
    if isinstance(value, str):
        return value
    if name.startswith("time_") or (unit or "").startswith("second"):
        if value < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    if name.startswith("peakmem_"):
        return f"{value / 2**20:.1f} MiB"
    if unit in ("accuracy", "R^2"):
        return f"{value:.4f}"
    if unit == "ratio":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def git_state():
    try:
        head = subprocess.run(
            ["git", "-C", HERE, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def machine_lines():
    import numpy
    import scipy
    import sklearn
    from benchmarks.common import cpu_model
    from threadpoolctl import threadpool_info

    import skmoe

    blas = ", ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    )
    return [
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs visible, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, NumPy {numpy.__version__}, "
        f"SciPy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"skmoe {skmoe.__version__} (git {git_state()}); BLAS: {blas or 'unknown'}",
    ]


def markdown(results, args, started, finished, load_before, load_after):
    from benchmarks.common import N_SEEDS, QUICK

    lines = [
        "# skmoe benchmark results",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC, run took "
        f"{(finished - started).total_seconds() / 60:.1f} min",
        f"- mode: {'quick (small parameter subsets)' if QUICK else 'full'}; "
        f"accuracy seeds: {N_SEEDS}"
        + (" (the protocol uses 5)" if N_SEEDS < 5 else ""),
        *(
            [
                "- quick mode runs: speed n in {1e4, 1e5}, D=5, K in {4, 16}; "
                "floor cases 2e4x5x4 and 1e5x5x4; no digits; flexmix at 2e4 only"
            ]
            if QUICK
            else []
        ),
        *machine_lines(),
        f"- load average (1 min) before / after: {load_before:.2f} / {load_after:.2f}",
        f"- command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`",
        "",
    ]
    for cls, rows in results:
        if not rows:
            continue
        doc = (inspect.getdoc(cls) or "").splitlines()
        lines += [f"## {cls.__name__}", ""]
        if doc:
            lines += [" ".join(doc[: doc.index("") if "" in doc else len(doc)]), ""]
        names = [
            m for m in methods_of(cls, None) if any(m in r["values"] for r in rows)
        ]
        header = list(getattr(cls, "param_names", [])) + names
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in rows:
            cells = [str(p) for p in row["params"]]
            if row["skipped"]:
                cells += [f"skipped: {row['skipped']}"] + [""] * (len(names) - 1)
            else:
                for name in names:
                    unit = getattr(getattr(cls, name), "unit", None)
                    value = row["values"].get(name, "")
                    cells.append(fmt(name, value, unit) if value != "" else "")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.quick:
        os.environ["SKMOE_BENCH_QUICK"] = "1"
    if args.seeds is not None:
        os.environ["SKMOE_BENCH_SEEDS"] = str(args.seeds)
    sys.path.insert(0, HERE)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()[0]
    results = []
    for module_name in MODULES:
        module = importlib.import_module(f"benchmarks.{module_name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                name.startswith("_")
                or cls.__module__ != module.__name__
                or not methods_of(cls, args.only)
            ):
                continue
            log(f"{module_name}.{cls.__name__}")
            results.append((cls, run_class(cls, args.only, args.params, log)))
    finished = datetime.datetime.now(datetime.UTC)
    text = markdown(results, args, started, finished, load_before, os.getloadavg()[0])

    out = args.out
    if os.path.isdir(out) or not out.endswith(".md"):
        os.makedirs(out, exist_ok=True)
        stamp = f"{started:%Y%m%d-%H%M%S}"
        out = os.path.join(out, f"{'quick' if args.quick else 'full'}-{stamp}.md")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text + "\n")
    raw = {
        f"{cls.__name__}": [
            {"params": r["params"], "values": r["values"], "skipped": r["skipped"]}
            for r in rows
        ]
        for cls, rows in results
    }
    with open(out[:-3] + ".json", "w") as f:
        json.dump(raw, f, indent=1, default=str)
    print(text)
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
