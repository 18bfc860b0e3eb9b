"""Session-wide test settings, loaded before any test module imports SciPy."""

import os

# scikit-learn's Array API dispatch (and its Array API estimator checks) need
# SciPy's Array API mode, which SciPy reads once, at import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
