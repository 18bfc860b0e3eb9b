"""Sphinx configuration of skmoe's documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (``pip install -e ".[docs]"``).
The example notebooks (``docs/examples`` links to ``../examples``) are stored without
outputs and rendered as they are; set ``SKMOE_DOCS_EXECUTE=1`` to execute them during
the build so that the pages show their figures (about two minutes more on 2 cores:
2 min 15 s against 15 to 18 s with Sphinx 9.0.4).
``tests/test_notebooks.py`` executes them in any case.
"""

import os
import re

from numpydoc.xref import DEFAULT_LINKS

import skmoe

project = "skmoe"
author = "skmoe developers"
copyright = "skmoe developers"
release = skmoe.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md", "examples/README.md", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# API reference: one page per public name, generated from the docstrings
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"
# numpydoc links "array-like", "bool", ... into Python's and NumPy's docs through
# intersphinx; the build runs offline, so those words stay plain references
numpydoc_xref_aliases = {name: name for name in DEFAULT_LINKS}

# notebooks
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_execution_mode = "force" if os.environ.get("SKMOE_DOCS_EXECUTE") else "off"
nb_execution_timeout = 120
nb_execution_raise_on_error = True

html_theme = "pydata_sphinx_theme"
html_title = f"skmoe {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


def skip_scikit_learn_members(app, what, name, obj, skip, options):
    """Leave out methods inherited from scikit-learn (score, get_params, metadata
    routing): their docstrings point into scikit-learn's own documentation."""
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn."):
        return True
    return None


_SHAPE = re.compile(r"shape \(([^)]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b(\w+)_(?=[,)\s]|$)")


def escape_shape_attributes(app, what, name, obj, options, lines):
    """In ``shape (n_experts_, n_features_in_)``, a word ending in ``_`` is an rST
    reference; escape the underscore so that it reads as the attribute's name."""
    for i, line in enumerate(lines):
        lines[i] = _SHAPE.sub(
            lambda m: "shape (" + _TRAILING_UNDERSCORE.sub(r"\1\\_", m[1]) + ")",
            line,
        )


def setup(app):
    app.connect("autodoc-skip-member", skip_scikit_learn_members)
    app.connect("autodoc-process-docstring", escape_shape_attributes, priority=400)
