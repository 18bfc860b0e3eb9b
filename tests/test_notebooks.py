"""Execute every examples/*.ipynb from a clean kernel: a notebook that errors fails.

Deselect with ``-m "not notebooks"``. The examples promise under a minute each on 2
cores (they take 2 to 35 s); the test fails a notebook only past twice that, so that a
busy CI machine does not make it flaky while a notebook that grew slow still fails.
"""

import re
import time
from pathlib import Path

import nbclient
import nbformat
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT = 120
NOTEBOOK_TIMEOUT = 120

pytestmark = pytest.mark.notebooks

#: Figures the notebooks' prose states, each against the output that prints it:
#: a pattern of the markdown and one of the outputs (what a cell prints, or its
#: result), each around one number; the prose may write a count as a word. The
#: printed number, rounded to the digits the prose shows, must be the stated one
#: (09 said 0.9829 for a search that printed 0.9830, an R^2 of 0.982954: 5e-6
#: above the rounding point of four digits, so the prose now gives three). A
#: figure within about a tenth of its last digit of a rounding point is stated
#: with fewer digits (07's -8400.0, 11's 0.88) or in words (08's shares of rows,
#: 67.44% and 23.44%, each a row or two from the next percent); every entry held
#: under NumPy's default and its NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"
#: dispatch, with 1 and 2 threads.
STATED = {
    "01_quick_start": [
        (r"penalty is about ([0-9.]+) nats", r"penalty ([0-9.]+) nats"),
        (r"The\s+penalty, about ([0-9.]+) nats", r"penalty ([0-9.]+) nats"),
    ],
    "04_choosing_n_experts": [
        (r"rises\s+clearly after \$K=(\d+)\$", r"\{'BIC': (?:np\.int64\()?(\d+)"),
        (r"it chooses the (\w+) regimes", r"\((\d+),\s+\{1: "),
        (
            r"statistic is near 0 and (\w+) experts are kept",
            r"p-value\n[^)]*,\s+(\d+)\)",
        ),
    ],
    "07_counts": [
        (r"simulated \(([0-9.]+) and", r"slopes on x: \[([0-9.]+) "),
        (
            r"simulated \([0-9.]+ and ([0-9.]+)\)",
            r"slopes on x: \[[0-9.]+ +([0-9.]+)\]",
        ),
        (r"\(here ([0-9]+)%", r"inside their 90% interval: ([0-9.]+)%"),
        (
            r"BIC keeps the (\w+)\s+regimes",
            r"negative binomial experts chosen by BIC: (\d+)",
        ),
        (r"BIC still falling at (\w+),", r"Poisson experts chosen by BIC: (\d+)"),
        (r"EM stops after (\d+) steps", r"=None, tol=1e-05: n_iter_ (\d+)"),
        (r"steps ([0-9.]+) nats below", r"ends ([0-9.]+) nats below SQUAREM"),
        (
            r"maximum \(about (-[0-9.]+),",
            r"=squarem, tol=1e-05: .* log-likelihood (\S+)",
        ),
        (r"maximum \(about (-[0-9.]+),", r"=None, tol=1e-10: .* log-likelihood (\S+)"),
        (r"SQUAREM reaches it in (\d+) cycles", r"=squarem, tol=1e-05: n_iter_ (\d+)"),
    ],
    "08_localized_gate": [
        (
            r"weight between ([0-9.]+) and",
            r"softmax, 2 experts +the disc's line: gate weight (\S+) to",
        ),
        (
            r"weight between [0-9.]+ and ([0-9.]+)",
            r"softmax, 2 experts +the disc's .* to (\S+),",
        ),
        (r"\(R² ([0-9.]+) against", r"softmax, 4 experts +held-out .* R\^2 (\S+)"),
        (
            r"\(R² [0-9.]+ against ([0-9.]+)\)",
            r"gaussian, 2 experts +held-out .* R\^2 (\S+)",
        ),
        (
            r"is above 0\.5 on (\d+)% of the disc's rows",
            r"gaussian, .* on (\d+)% of the disc",
        ),
        (r"disc\) and on (\d+)% of the ring's", r"gaussian, .* and (\d+)% of the ring"),
    ],
    "09_estimator_experts": [
        (
            r"local optimum, of test R² ([0-9]+\.[0-9]+)",
            r"'n_experts': [0-9]+\} test R\^2 ([0-9]+\.[0-9]+)",
        ),
        (
            r"against ([0-9]+\.[0-9]+) above",
            r"2 tree experts of depth 2 +test R\^2 ([0-9]+\.[0-9]+)",
        ),
    ],
    "10_repeated_measurements": [
        (r"Both choose (\w+)\.", r"chosen: (\d+)"),
        (r"Both choose (\w+)\.", r"bootstrap p-values \[[^\]]*\]: (\d+) experts"),
    ],
    "11_outlying_targets": [
        (r"Student-t experts need (\w+)\.", r"student_t: (\d+) experts"),
        (r"new targets: ([0-9.]+) for either", r"student_t: .* intervals hold (\S+)"),
        (r"new targets: ([0-9.]+) for either", r" gaussian: .* intervals hold (\S+)"),
        (r"where\s+df = (\d+) was chosen", r"df chosen: (\S+)"),
        (r"Here `df=\"auto\"`\s+chooses (\d+);", r"df chosen for the t experts: (\S+)"),
        (r"here df = (\d+), and the mean", r"df chosen for the t experts: (\S+)"),
    ],
    "13_trees_hard_assignments_trials": [
        (r"of about\s+(-[0-9.]+) per row", r"hierarchical: held-out .* per row (\S+)"),
        (r"the flat gate's (-[0-9.]+)", r"softmax: held-out .* per row (\S+)"),
        (r"noise sds\s+of about ([0-9.]+) and", r"hard: slopes .*, noise sds \[(\S+) "),
        (
            r"noise sds\s+of about [0-9.]+ and ([0-9.]+)",
            r"hard: slopes .* sds \[\S+ +(\S+)\]",
        ),
        (r"where EM finds ([0-9.]+)", r"soft: slopes .*, noise sds \[(\S+) "),
        (r"where EM finds ([0-9.]+)", r"soft: slopes .* sds \[\S+ +(\S+)\]"),
        (r"logit near (-\d+) and", r"soft: slopes of the logit \[(\S+) "),
        (r"logit near (-\d+) and", r"hard: slopes of the logit \[(\S+) "),
        (r"logit near -\d+ and (\d+)", r"soft: slopes of the logit \[\S+ +(\S+)\]"),
        (r"logit near -\d+ and (\d+)", r"hard: slopes of the logit \[\S+ +(\S+)\]"),
    ],
}

#: Counts the prose writes as words.
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def test_examples_exist():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.1f} s")
    assert seconds < NOTEBOOK_TIMEOUT, f"{path.name} took {seconds:.0f} s"
    check_stated_figures(notebook, STATED.get(path.stem, []))


def check_stated_figures(notebook, claims):
    """Each figure of the executed notebook's prose in ``claims`` against the
    number its outputs print, rounded to the digits the prose shows."""
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    printed = printed_text(notebook)
    for prose_pattern, output_pattern in claims:
        stated = re.search(prose_pattern, prose)
        assert stated, ("not in the prose", prose_pattern)
        stated, digits = stated_figure(stated.group(1))
        match = re.search(output_pattern, printed)
        assert match, ("not printed", output_pattern)
        value = float(match.group(1))
        assert round(value, digits) == stated, (prose_pattern, value)


def stated_figure(text):
    """The value of a figure of the prose and its number of decimals: ``"0.983"``
    is (0.983, 3), ``"94"`` (94.0, 0), ``"three"`` (3.0, 0)."""
    if text in NUMBER_WORDS:
        return float(NUMBER_WORDS[text]), 0
    return float(text), len(text.split(".")[1]) if "." in text else 0


def printed_text(notebook):
    """What the executed code cells print: each cell's standard output as one text
    (a print's pieces may come in several outputs) and each cell's result."""
    texts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts.append(
            "".join(
                output.text
                for output in cell.outputs
                if output.output_type == "stream" and output.name == "stdout"
            )
        )
        texts.extend(
            output.data.get("text/plain", "")
            for output in cell.outputs
            if output.output_type == "execute_result"
        )
    return "\n".join(texts)


def test_stated_figures_are_in_the_notebooks_prose():
    # each pattern finds its figure in the stored prose (the outputs come at run
    # time), so that a reworded sentence does not silently drop its check
    for stem, claims in STATED.items():
        notebook = nbformat.read(EXAMPLES / f"{stem}.ipynb", as_version=4)
        prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        for prose_pattern, _ in claims:
            match = re.search(prose_pattern, prose)
            assert match, (stem, prose_pattern)
            stated_figure(match.group(1))  # a number, or a number's word
