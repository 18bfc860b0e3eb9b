"""Warnings that point at the user's call, wherever skmoe warns from."""

import contextlib
import os
import sys
import sysconfig
import threading
import warnings

from .exceptions import SkmoeWarning

#: The warnings :func:`_held_warnings` holds, per thread.
_HELD = threading.local()


def _listed(indices, shown=12) -> str:
    """``indices`` (experts, an array or a list of integers) as a list for a
    warning, its first ``shown`` and a count of the rest past that (64
    experts made a line of 1190 characters)."""
    values = [int(value) for value in indices]
    if len(values) <= shown:
        return str(values)
    return f"[{', '.join(map(str, values[:shown]))} and {len(values) - shown} more]"


@contextlib.contextmanager
def _held_warnings():
    """Hold the warnings that :func:`_warn_user` gives in this thread, as a list
    of (message, category) pairs, for the caller to give or drop. Not
    ``warnings.catch_warnings``, which is not thread-safe (in Python's default
    builds, without ``sys.flags.context_aware_warnings``): fits in two
    threads at once left one fit's filters or its record of warnings in
    place of the process's (every later warning swallowed). Warnings given
    by other code (scikit-learn's estimators as experts) pass."""
    outer = getattr(_HELD, "messages", None)
    _HELD.messages = held = []
    try:
        yield held
    finally:
        _HELD.messages = outer


def _warn_user(message, category=SkmoeWarning):
    """Warn at the first frame outside skmoe, scikit-learn and joblib: the user's
    call, whatever the depth of the wrappers in between (fit, partial_fit, a
    grid search or cross-validation, which call fit through joblib). In a
    joblib worker process, whose stack has no user frame (the next one is the
    standard library's process machinery), at the first frame outside skmoe:
    scikit-learn's call of fit. Inside :func:`_held_warnings`, held instead."""
    held = getattr(_HELD, "messages", None)
    if held is not None:
        held.append((message, category))
        return
    import joblib
    import sklearn

    own = os.path.dirname(os.path.abspath(__file__)) + os.sep
    roots = tuple(
        os.path.dirname(os.path.abspath(path)) + os.sep
        for path in (__file__, sklearn.__file__, joblib.__file__)
    )
    fit_wrapper = os.path.join(os.path.dirname(sklearn.__file__), "base.py")
    frame, level = sys._getframe(1), 2  # 1 is this function
    outside_own = None
    while frame is not None and frame.f_code.co_filename.startswith(roots):
        name = frame.f_code.co_filename
        if outside_own is None and not name.startswith(own) and name != fit_wrapper:
            outside_own = level
        frame, level = frame.f_back, level + 1
    if frame is None or _worker_machinery(frame.f_code.co_filename):
        level = outside_own or level
    warnings.warn(message, category, stacklevel=level)


#: The standard library's modules that run a joblib worker's tasks.
_WORKER_MODULES = ("multiprocessing", "concurrent", "threading.py")


def _worker_machinery(filename) -> bool:
    """Whether ``filename`` is in the standard library's process or thread
    machinery (not in site-packages, which sits inside the standard library's
    directory in many layouts)."""
    paths = sysconfig.get_paths()
    if not filename.startswith(paths["stdlib"] + os.sep):
        return False
    if filename.startswith((paths["purelib"] + os.sep, paths["platlib"] + os.sep)):
        return False
    relative = filename[len(paths["stdlib"]) + 1 :]
    return relative.startswith(_WORKER_MODULES)
