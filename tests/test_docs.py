"""The documentation: docstrings of public names, and the Sphinx build with -W."""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import skmoe
import skmoe.plotting

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [getattr(skmoe, name) for name in skmoe.__all__ if name != "__version__"] + [
    getattr(skmoe.plotting, name) for name in skmoe.plotting.__all__
]


def _sections(doc):
    """Names of the numpydoc sections (a title underlined with dashes)."""
    return re.findall(r"^(\w[\w ]*)\n-+$", doc, flags=re.M)


@pytest.mark.parametrize("obj", PUBLIC, ids=[obj.__name__ for obj in PUBLIC])
def test_public_name_has_numpydoc_docstring_with_examples(obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{obj.__name__} has no docstring"
    sections = _sections(doc)
    assert "Parameters" in sections, f"{obj.__name__}: no Parameters section"
    assert "Examples" in sections, f"{obj.__name__}: no Examples section"
    examples = doc.split("Examples\n--------", 1)[1]
    assert ">>>" in examples, f"{obj.__name__}: the Examples section has no doctest"


def test_docs_build_without_warnings(tmp_path):
    for module in ["sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme"]:
        pytest.importorskip(module)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    html = tmp_path / "html"
    for page in [
        "index.html",
        "api.html",
        "user_guide/fitting.html",
        "generated/skmoe.MoERegressor.html",
        "generated/skmoe.plotting.GateDisplay.html",
    ]:
        assert (html / page).is_file(), page
    notebooks = sorted(p.stem for p in (ROOT / "examples").glob("*.ipynb"))
    rendered = sorted(p.stem for p in (html / "examples").glob("*.html"))
    assert rendered == notebooks
    # the API pages come from the docstrings
    regressor = (html / "generated/skmoe.MoERegressor.html").read_text()
    assert 'id="skmoe.MoERegressor.predict_distribution"' in regressor
