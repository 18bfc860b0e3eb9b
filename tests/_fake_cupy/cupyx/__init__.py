"""``cupyx.errstate`` of the emulated CuPy (see ``cupy/__init__.py``)."""

from contextlib import contextmanager

from cupy import linalg as _linalg


@contextmanager
def errstate(*, linalg=None):
    """Under ``linalg="raise"`` a failed factorization raises LinAlgError."""
    before = dict(_linalg.state)
    if linalg is not None:
        _linalg.state["linalg"] = linalg
    try:
        yield
    finally:
        _linalg.state.update(before)
