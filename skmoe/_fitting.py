"""What every fitting path shares (``fit``, ``partial_fit``, ``std_errors``):
the checks of targets and weights, the features' offset, the check of finite
outputs, the fewest samples per parameter, and an estimator left as it was
where a fit fails."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.util
import math
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from itertools import chain

import numpy as np
from array_api_compat import is_array_api_obj
from sklearn import get_config
from sklearn.base import is_regressor
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import _assert_all_finite, check_array, column_or_1d

from ._backend import device_of, dtype_name
from ._groups import Groups
from ._warnings import _warn_user


@dataclasses.dataclass(frozen=True)
class _Validated:
    """Features that :meth:`partial_fit` has validated (its own batch, which the
    updated model must predict): the predict methods take ``X`` as it is. Their
    checks warned again of what the batch's had (feature names), and only
    ``warnings.catch_warnings``, which is not thread-safe, had hidden that."""

    X: object


def _target_column(y):
    """``column_or_1d(y)``, its DataConversionWarning for a column vector given
    at the user's call (scikit-learn's own points into the estimator)."""
    if len(np.shape(y)) == 2 and np.shape(y)[1] == 1:
        _warn_user(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
        )
    return column_or_1d(y)


def _column_target(y, estimator):
    """A column-vector ``y`` as 1-D, warned at the user's call (``fit``'s
    validation warns inside scikit-learn); any other ``y`` unchanged. A ``y``
    of several columns is refused, with scikit-learn's wrapper for several
    targets named (validation's own message named only the shape)."""
    shape = np.shape(y) if isinstance(y, list) else getattr(y, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] > 1:
        wrapper = "Regressor" if is_regressor(estimator) else "Classifier"
        raise ValueError(
            f"y should be a 1d array, got an array of shape {tuple(shape)} "
            f"instead. {type(estimator).__name__} fits one target; for several, "
            f"wrap it in sklearn.multioutput.MultiOutput{wrapper}, which fits one "
            "mixture per column of y."
        )
    if shape is None or len(shape) != 2 or shape[1] != 1:
        return y
    return _target_column(y)


def _object_target_as_float(y):
    """An object-dtype y (or a list of mixed values) as floats, refused if it
    holds None or NaN: validate_data's ``y_numeric`` converts it only after its
    NaN check, so a None reached k-means as "Input X contains NaN"."""
    dtype = getattr(y, "dtype", None)  # None: a list
    if y is None or (dtype is not None and getattr(dtype, "kind", None) != "O"):
        return y
    try:
        array = np.asarray(y)
    except ValueError:  # ragged: validate_data says so
        return y
    if array.dtype.kind != "O":
        return y
    try:
        return check_array(array, ensure_2d=False, dtype="numeric", input_name="y")
    except TypeError:  # float(pd.NA) in NumPy's conversion
        if _missing(array):
            raise _missing_value_error("y") from None
        raise


def _missing(values):
    """Whether an object array holds None, NaN or pandas' NA."""
    try:
        return bool(np.any((values != values) | np.equal(values, None)))
    except TypeError:  # pandas' NA, whose truth value is ambiguous
        return True


def _labels_present(y, name="y", nan=True):
    """Raise where class labels ``y`` (an object array, a list, a Series or a
    PyArrow array of them) hold a missing label, None, NaN or pandas' NA, as
    scikit-learn's validation refuses a NaN: a None was said to mix label
    types (to be given as strings, which makes a class "None"), a pandas NA
    raised pandas' "boolean value of NA is ambiguous" deep in validation, and
    a score compared them with the other labels ("'<' not supported"). With
    ``nan``, a NaN among float labels too (a score's validation cast it
    first, with NumPy's "invalid value encountered in cast")."""
    _refuse_lazy_frames(**{name: y})
    dtype = getattr(y, "dtype", None)
    if y is None or (isinstance(dtype, np.dtype) and dtype.kind not in "Ofc"):
        return
    if is_array_api_obj(y) and not isinstance(y, np.ndarray):
        return  # (no object dtype; a GPU array is not read to the host here)
    try:
        labels = np.asarray(y)
    except (ValueError, TypeError):  # ragged, or unreadable: validation says so
        return
    if labels.dtype.kind in "fc":
        if nan and np.isnan(labels).any():
            raise _missing_label_error(name)
        return
    if labels.dtype.kind != "O":
        return
    if _missing(labels):
        raise _missing_label_error(name)


def _missing_label_error(name):
    """The error for a missing class label in ``name``: scikit-learn's words
    for a NaN in y (LogisticRegression's, which a nullable Float64, Int64 or
    boolean Series's pandas' NA gets there too), then what is missing. A float
    NaN and a nullable Float64's NA got those words alone, and None, NaN or
    pandas' NA among object, string or categorical labels others ("contains
    missing labels"), for the same missing label."""
    what = (
        "classes lists only the class labels"
        if name == "classes"
        else "give every sample a class label"
    )
    return ValueError(
        f"Input {name} contains NaN. A class label is missing (NaN, None or "
        f"pandas' NA): {what}."
    )


def _refuse_lazy_frames(**arrays):
    """Raise a TypeError for a polars LazyFrame among ``arrays`` (by name):
    NumPy read one as a scalar object and scikit-learn's validation failed
    with "setting an array element with a sequence"."""
    for name, value in arrays.items():
        if (
            type(value).__name__ == "LazyFrame"
            and type(value).__module__.split(".")[0] == "polars"
        ):
            raise TypeError(
                f"{name} is a polars LazyFrame, which is not accepted: call its "
                ".collect() method first and pass the DataFrame."
            )


def _refuse_times(*, estimator=None, unnamed=(), **arrays):
    """Raise a TypeError where one of ``arrays`` (by name: X, a numeric y,
    sample_weight) holds datetimes or timedeltas, which scikit-learn's
    validation reads as counts of their unit without a word (NumPy's
    ``datetime64[D]`` as days since 1970, pandas' as micro- or nanoseconds,
    a time zone's too; as sample weights even where X and y refuse them):
    NumPy's and pandas' dtypes of them (a DataFrame's columns, a categorical's
    categories), pyarrow's, polars', and NumPy's ``datetime64`` and ``timedelta64``
    objects in an object array or among a list's items (any row's), and
    Python's ``datetime``, ``date``, ``time`` and ``timedelta`` objects
    (pandas' Timestamp and Timedelta among them), which the conversion refused
    with NumPy's "float() argument must be a string or a real number". Only the
    dtypes are read, and the values of object arrays and the types of a list's
    items alone: an array of floats costs a look at its dtype.
    A TypeError, as exposure's times raise and as the inputs of times that
    scikit-learn's validation refused did (NumPy's DTypePromotionError, a
    TypeError, for a DataFrame's datetime column beside numbers; float()'s
    TypeError for a categorical's timestamps, pyarrow's and Python's times).
    The same look refuses, in scikit-learn's words, two more values of such a
    list or object array that NumPy's conversion to floats failed on with its
    own TypeError: complex numbers ("Complex data not supported", the
    ValueError scikit-learn gives a complex array) and pandas' NA (a NaN's
    ValueError, :func:`_missing_value_error`, whose words for X name
    ``estimator``; for the inputs named in ``unnamed``, those that name no
    input, "Input contains NaN.", as a score's metric says them of y)."""
    for name, value in arrays.items():
        found = _time_values(value)
        if found is None:
            continue
        what, kind = found
        if kind == "c":  # (scikit-learn's message for a complex array)
            raise ValueError(f"Complex data not supported\n{_printable(value)}\n")
        if kind == "na":  # (scikit-learn's error for a NaN, in its words)
            raise _missing_value_error(name, estimator, named=name not in unnamed)
        if kind == "t":
            advice = (
                "which are times of day, not numbers: convert them to numbers "
                "explicitly instead, such as the hours since midnight."
            )
        elif kind == "M":
            advice = (
                "which are points in time, not numbers: convert them to numbers "
                "explicitly instead, such as the days since a start, (values - "
                "start) / np.timedelta64(1, 'D')."
            )
        else:
            advice = (
                "which are durations whose unit would be a guess: convert them to "
                "numbers explicitly instead, such as values / np.timedelta64(1, "
                "'D') for days (a pandas Series: values / pd.Timedelta(days=1))."
            )
        raise TypeError(f"{name} has {what}, {advice}")


def _refused_times_X(X, estimator=None):
    """``X`` after :func:`_refuse_times` (whose errors name ``estimator``), as
    fit, partial_fit and predict validate it: a list or tuple that NumPy
    converts to booleans, integers or floats as that array in float64, the
    dtype validation converts such a list to (converted once: NumPy promotes
    no times to these, so it holds none; reading every row's items took as
    long as the conversion, a 1e5-row list's predict 1.5 times as long, and a
    1e5 x 8 list of ints', converted to int64, read and converted again, 2.5
    times as long as 938c359's), other X as it is."""
    if isinstance(X, (list, tuple)):
        try:
            array = np.asarray(X)
        except Exception:  # (ragged: NumPy's error in the validation)
            array = None
        if array is not None and array.dtype.kind in "biuf":
            return array.astype(np.float64, copy=False)
    _refuse_times(X=X, estimator=estimator)
    return X


def _printable(value):
    """``value`` as NumPy prints it (a list's or an object array's complex
    numbers), for scikit-learn's "Complex data not supported" message."""
    try:
        return np.asarray(value)
    except Exception:  # (ragged)
        return value


def _time_values(value):
    """``(what, kind)`` for :func:`_refuse_times`: a description of the time
    values in ``value`` and ``"M"`` (points in time), ``"m"`` (durations) or
    ``"t"`` (times of day: pyarrow's, polars' and Python's); ``"c"`` for
    complex numbers and ``"na"`` for pandas' NA among a list's items or an
    object array's; None where it holds none of them."""
    if value is None or (
        isinstance(value, np.ndarray) and value.dtype.kind in "biufc"
    ):  # (NumPy's numbers: one look)
        return None
    pandas = sys.modules.get("pandas")  # (not imported: no pandas DataFrame)
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return _frame_times(value, _frame_dtypes(value))
    dtypes = getattr(value, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):  # another pandas-like one
        return _frame_times(value, dtypes.to_numpy())
    module = type(value).__module__.split(".")[0]
    if module in ("pyarrow", "polars"):
        schema = getattr(value, "schema", None)  # a Table's or a DataFrame's
        if schema is None:  # an array's type, a Series' dtype
            columns = [(None, value.type if module == "pyarrow" else value.dtype)]
        elif module == "pyarrow":
            columns = zip(schema.names, schema.types, strict=True)
        else:
            columns = schema.items()
        for column, dtype in columns:
            kind = _time_kind(dtype)
            if kind is not None:
                where = "" if column is None else f" in column {column!r}"
                return f"{_values_of(dtype)}{where}", kind
        return None
    dtype = getattr(value, "dtype", None)
    if dtype is None and isinstance(value, (list, tuple)):
        return _listed_times(value)
    if dtype is None and hasattr(value, "__array__"):
        # (an array-like without a dtype, which NumPy's conversion calls: its
        # array's values were fitted as numbers)
        try:
            return _time_values(np.asarray(value))
        except Exception:  # (left to validation's error)
            return None
    if (
        dtype is None
        and isinstance(value, Sequence)
        and not isinstance(value, (str, bytes, bytearray, memoryview))
    ):  # (a deque, read by NumPy as a list: its times were fitted as numbers;
        # not a buffer, which holds no times, NumPy exporting none, and whose
        # list() a 2-D memoryview refuses: NotImplementedError)
        return _listed_times(list(value))
    kind = _time_kind(dtype)
    if kind is None and getattr(dtype, "kind", None) == "O":
        return _time_objects(value)
    return None if kind is None else (_values_of(dtype), kind)


def _frame_dtypes(frame):
    """The dtypes of a pandas DataFrame's columns, in a NumPy object array:
    its block manager's, which ``DataFrame.dtypes`` puts in a Series (that
    Series took 31 us of the time check's 39 us on a float DataFrame of 10
    rows and 8 columns), else (a pandas without them) that Series'."""
    try:
        dtypes = frame._mgr.get_dtypes()
    except AttributeError:
        dtypes = None
    if not isinstance(dtypes, np.ndarray) or dtypes.shape != (frame.shape[1],):
        dtypes = frame.dtypes.to_numpy()
    return dtypes


def _frame_times(frame, dtypes):
    """:func:`_time_values` for a pandas DataFrame ``frame`` of column dtypes
    ``dtypes`` (a NumPy array of them; the columns of NumPy's numbers passed
    over in one look each: ``items()`` took 50 us at 8 columns)."""
    for j in range(dtypes.shape[0]):
        dtype = dtypes[j]
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            continue
        kind = _time_kind(dtype)
        what = _values_of(dtype)
        if kind is None and dtype == np.dtype(object):  # (not categories)
            found = _time_objects(frame.iloc[:, j].to_numpy())
            what, kind = (None, None) if found is None else found
        elif kind is None and _na_strings(dtype) and frame.iloc[:, j].hasnans:
            # pandas' "string" dtype, whose missing value is pandas' NA: NumPy's
            # conversion raised float()'s TypeError ('NAType'), where the same
            # NA in an object column gets a NaN's error ("str", whose missing
            # value is NaN, got it already)
            what, kind = "pandas' NA", "na"
        if kind is not None:
            return f"{what} in column {frame.columns[j]!r}", kind
    return None


def _na_strings(dtype):
    """Whether ``dtype`` is a pandas dtype of strings whose missing value is
    pandas' NA: ``StringDtype`` ("string", "string[pyarrow]"; not "str", whose
    is NaN) and ``ArrowDtype`` of pyarrow's strings."""
    pandas = sys.modules.get("pandas")
    return (
        pandas is not None
        and not isinstance(dtype, np.dtype)
        and getattr(dtype, "na_value", None) is pandas.NA
        and str(dtype).startswith(("string", "large_string"))
    )


def _values_of(dtype):
    """The words for values of ``dtype`` in :func:`_refuse_times`' message:
    a pandas categorical's name their categories' dtype ("category values"
    did not say which)."""
    categories = getattr(getattr(dtype, "categories", None), "dtype", None)
    if categories is not None:
        return f"categories of {categories} values"
    return f"{dtype} values"


def _listed_times(values):
    """:func:`_time_values` for a list or tuple ``values``: NumPy's
    ``datetime64`` and ``timedelta64`` objects among its items or its rows'
    (lists or tuples, ragged too; rows with a dtype, such as arrays, as
    :func:`_time_values` reads them), which NumPy's conversion to floats
    reads as counts of their unit wherever they are (a later row's slipped
    through when the first row alone was read). One pass over the items'
    types, as long as NumPy's conversion of a list of floats."""
    types = set(map(type, values))
    if types <= _ROWS:  # (rows alone: the common case)
        rows = values
    else:
        found = _typed_times(values, types)
        if found is not None or types.isdisjoint(_ROWS):
            return found
        rows = [v for v in values if isinstance(v, (list, tuple))]
    items = _Chained(rows)
    return _typed_times(items, set(map(type, items)))


#: The types of a list's rows that :func:`_listed_times` reads the items of.
_ROWS = frozenset({list, tuple})

#: Types of a list's items that hold no times (numbers, strings, None), one
#: look at them passing a list of them over.
_NO_TIMES = frozenset(
    {float, int, bool, str, type(None), np.float64, np.float32, np.int64, np.bool_}
)


class _Chained:
    """The items of ``rows`` (lists or tuples), one after another, as often as
    they are iterated (not copied into one list)."""

    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        return chain.from_iterable(self.rows)


def _typed_times(items, types):
    """:func:`_listed_times` for ``items`` (an iterable) of ``types``: the
    first of NumPy's time scalars among them, else the first of their arrays
    (or other values with a dtype) that holds times; None where none."""
    if types <= _NO_TIMES:
        return None
    scalars = (np.datetime64, np.timedelta64)
    if any(issubclass(t, scalars) for t in types):
        item = next(v for v in items if isinstance(v, scalars))
        return f"{item.dtype} values", item.dtype.kind
    found = _python_objects(types)
    if found is not None:
        return found
    typed = tuple(t for t in types if _read_alone(t))
    if typed:
        for item in items:
            if isinstance(item, typed):
                found = _time_values(item)
                if found is not None:
                    return found
    return None


def _read_alone(kind):
    """Whether :func:`_typed_times` reads the items of type ``kind`` by
    :func:`_time_values`: values with a dtype (arrays, pandas' and polars'
    Series), array-likes NumPy converts (pyarrow's arrays) and sequences it
    reads as rows (a deque; not lists and tuples, read as rows already, nor
    strings), not NumPy's scalars."""
    if issubclass(kind, (np.generic, str, bytes)) or kind in _ROWS:
        return False
    return (
        hasattr(kind, "dtype")
        or hasattr(kind, "__array__")
        or issubclass(kind, Sequence)
    )


def _time_kind(dtype):
    """``"M"`` for a dtype of points in time, ``"m"`` for one of durations
    (NumPy's, pandas' with a time zone or of a categorical's categories,
    pyarrow's, a dictionary's values too, polars'), ``"t"`` for pyarrow's and
    polars' times of day (whose advice is not days since a start), None for
    others."""
    categories = getattr(dtype, "categories", None)  # pandas' CategoricalDtype
    if categories is not None:
        # (polars' Categorical has categories without a dtype: strings)
        dtype = getattr(categories, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if isinstance(kind, str):
        return kind if kind in ("m", "M") else None
    module = type(dtype).__module__.split(".")[0]
    if module == "pyarrow":
        import pyarrow.types

        if pyarrow.types.is_dictionary(dtype):  # (pyarrow's categorical)
            dtype = dtype.value_type
        if pyarrow.types.is_duration(dtype):
            return "m"
        if pyarrow.types.is_time(dtype):
            return "t"
        return "M" if pyarrow.types.is_temporal(dtype) else None
    if module == "polars" and dtype.is_temporal():  # Datetime, Date, Time
        if str(dtype) == "Time":
            return "t"
        return "m" if str(dtype).startswith("Duration") else "M"
    return None


def _time_objects(values):
    """:func:`_time_values` for the object array ``values``: ``"M"`` or
    ``"m"`` where it holds NumPy's ``datetime64`` or ``timedelta64`` objects,
    which its conversion to floats reads as counts of their unit, else what
    :func:`_python_objects` finds among its objects; None otherwise (one pass
    over the objects' types)."""
    types = set(map(type, np.asarray(values, dtype=object).ravel()))
    what = "NumPy's datetime64 or timedelta64 objects"
    if any(issubclass(t, np.datetime64) for t in types):
        return what, "M"
    if any(issubclass(t, np.timedelta64) for t in types):
        return what, "m"
    return _python_objects(types)


#: Python's time types (pandas' Timestamp and Timedelta are subclasses) and
#: :func:`_time_values`' kinds of them: a datetime is a date.
_PYTHON_TIMES = (
    (datetime.timedelta, "m"),
    (datetime.time, "t"),
    (datetime.date, "M"),
)


def _python_objects(types):
    """``(what, kind)`` of :func:`_time_values` for the first (by name) of
    ``types``, the types of a list's items or of an object array's objects,
    that NumPy's conversion to floats fails on with its own TypeError ("float()
    argument must be a string or a real number") where scikit-learn has words
    for them: complex numbers (``"c"``), pandas' NA (``"na"``) and Python's
    time objects (``"M"``, ``"m"``, ``"t"``); None where none is among them.
    pandas' NaT (a datetime's subclass) beside numbers alone is pandas' NA's
    missing value (``"na"``: a numeric y's NaT got scikit-learn's "Input y
    contains NaN.", float(NaT) being NaN to its conversion), not a time."""
    nat = False
    for kind in sorted(types, key=lambda t: (t.__module__, t.__qualname__)):
        if issubclass(kind, (complex, np.complexfloating)):
            return "complex values", "c"
        pandas = kind.__module__.startswith("pandas")
        if kind.__name__ == "NAType" and pandas:
            return "pandas' NA", "na"
        if kind.__name__ == "NaTType" and pandas:
            nat = True
            continue
        for base, time in _PYTHON_TIMES:
            if issubclass(kind, base):
                module = kind.__module__.split(".")[0]
                return f"{module}.{kind.__name__} objects", time
    return ("pandas' NaT", "na") if nat else None


def _categorical_columns(X):
    """The pandas ``CategoricalDtype`` of each categorical column of a
    DataFrame ``X``, by name (estimator experts see them as categorical
    again; see :class:`~skmoe.experts.estimator.EstimatorExperts`); an empty
    dict for other X. A polars DataFrame's Categorical and Enum columns
    (those scikit-learn's ``categorical_features="from_dtype"`` reads as
    categorical) get the dtype of their values, where pandas is installed."""
    if type(X).__module__.split(".")[0] == "polars" and hasattr(X, "schema"):
        categories = _polars_categorical_columns(X)
    else:
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None or not hasattr(dtypes, "items"):
            return {}
        categories = {
            str(name): dtype
            for name, dtype in dtypes.items()
            if getattr(dtype, "name", None) == "category"
        }
    return {name: _categories_as_read(dtype) for name, dtype in categories.items()}


def _categories_as_read(dtype):
    """``dtype`` with string categories as the floats NumPy reads them as
    (the values the experts are given; those that are no number cannot be
    among them). Kept as strings, every value was a category the fit's dtype
    lacked, appended after them in the order of the rows at hand: the codes
    changed between fit and predict."""
    if dtype.categories.dtype.kind in "biufcmM":
        return dtype
    import pandas as pd

    numbers = {}
    for value in dtype.categories:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isnan(number):
            numbers[number] = None  # ("5" and "05": one value)
    return pd.CategoricalDtype(list(numbers), ordered=dtype.ordered)


def _polars_categorical_columns(X):
    """:func:`_categorical_columns` of a polars DataFrame: NumPy reads a
    Categorical of numeric strings as numbers, and without these dtypes an
    estimator expert saw a numeric column where the bare estimator, given the
    same frame, sees a categorical one."""
    import polars as pl

    found = {
        str(name): dtype
        for name, dtype in X.schema.items()
        if isinstance(dtype, (pl.Categorical, pl.Enum))
    }
    if not found or importlib.util.find_spec("pandas") is None:
        return {}
    import pandas as pd

    categories = {}
    for name, dtype in found.items():
        if isinstance(dtype, pl.Enum):
            values = dtype.categories.to_list()
        else:  # (a Categorical's categories can be shared by other columns)
            column = X.get_column(name).drop_nulls()
            values = column.cast(pl.String).unique(maintain_order=True).to_list()
        categories[name] = pd.CategoricalDtype(values)
    return categories


def _feature_offset(X, sample_weight):
    """The features' weighted means, where fitting centers them: a tuple of
    floats, stored on the estimator (an array there would have to follow the
    fitted attributes' namespace under Array API dispatch).

    A feature that is constant over the weighted samples gets its own value, so
    that it centers to exact zeros and its coefficients to 0: a weighted mean
    rounds, which left a column of +-1 ulp and, unpenalized, an arbitrarily large
    coefficient."""
    # (np.average raises where the weights sum to 0: some row has a positive one)
    offset = np.average(X, axis=0, weights=sample_weight)
    rows = X if np.all(sample_weight > 0) else X[sample_weight > 0]
    constant = np.max(rows, axis=0) == np.min(rows, axis=0)
    offset[constant] = rows[0, constant]
    return tuple(offset.tolist())


def _take_columns(xp, array, columns, axis):
    """``array`` restricted to ``columns`` along ``axis`` (None: unchanged)."""
    if columns is None:
        return array
    index = xp.asarray(list(columns), dtype=xp.int64, device=device_of(array))
    return xp.take(array, index, axis=axis)


#: What :func:`_check_weight_scale` calls a classifier's weights: the
#: class weights times the sample weights.
CLASS_WEIGHTED = "sample_weight times class_weight"


def _check_weight_scale(sample_weight, name="sample_weight"):
    """Raise where the weights' sum cannot normalize them, or is so large that
    weighted sums of squares overflow (only their ratios matter to the model,
    so rescaling them is always possible). Weights summing to 9.9e307, finite,
    failed with an error that blamed y (the weighted squares of y's deviations
    overflowed) or, in a gaussian gate's k-means start, gave another fit.
    ``name``: the weights' in the message (a classifier's class weights
    times ``sample_weight``: ``class_weight={0: 1e-300, 1: 1e-300}`` without
    sample weights blamed ``sample_weight``)."""
    info = np.finfo(sample_weight.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(sample_weight))
    if math.isnan(total):  # (a scalar NaN, which scikit-learn's check passes)
        if get_config()["assume_finite"] and name == "sample_weight":
            # (or NaN that assume_finite=True let through: the words that NaN
            # gets in X and y then, and pandas' NA among the weights)
            raise ValueError(_unchecked_nan(name))
        raise ValueError(f"{name} contains NaN.")
    if not np.isfinite(total):
        raise ValueError(
            f"{name} sums to infinity in {sample_weight.dtype}; divide the "
            "weights by a constant (only their ratios matter to the fit)."
        )
    if total > math.sqrt(float(info.max)):
        raise ValueError(
            f"{name} sums to {total:.3g}, too large to fit accurately in "
            f"{sample_weight.dtype} (weighted sums of squares overflow); divide the "
            "weights by a constant (only their ratios matter to the fit)."
        )
    if 0 < total < info.tiny / info.eps:
        raise ValueError(
            f"{name} sums to {total:.3g}, too small to normalize accurately "
            f"in {sample_weight.dtype}; multiply the weights by a constant (only "
            "their ratios matter to the fit)."
        )


def _check_float_range(values, dtype, name, remedy, weights=False):
    """Raise where finite ``values`` (NumPy or array-like on the host) are too
    large for the float ``dtype`` they are to be cast to, X's: scikit-learn's
    cast overflowed with NumPy's RuntimeWarning and then said they "contain
    infinity". ``remedy`` ends the message. Values that are not numbers, and
    casts that widen, are left to the caller's checks. ``weights``: also
    where positive values all round to 0 in ``dtype`` (sample weights of
    1e-50 for float32 X, which scikit-learn's check then said "must contain
    at least one non-zero number")."""
    if values is None or np.dtype(dtype).kind != "f":
        return
    values = np.asarray(values)
    if values.dtype.kind not in "fiu" or (
        values.dtype.kind == "f" and values.dtype.itemsize <= np.dtype(dtype).itemsize
    ):
        return
    top = float(np.finfo(dtype).max)
    # those the cast itself overflows: values up to half a unit in the last
    # place above the largest (3.4028235e38, as NumPy prints float32's) round
    # to it without NumPy's warning
    finite = np.isfinite(values)
    every, values = bool(np.all(finite)), values[finite]
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        cast = values.astype(dtype)
    if np.any(np.isinf(cast)):
        raise ValueError(
            f"{name} has values too large for {dtype_name(np.dtype(dtype))}, X's "
            f"dtype (its largest is {top:.3g}): {remedy}, or use float64 X."
        )
    # (NaN, inf and negative weights: scikit-learn's check names them; -1
    # beside weights of 1e-50 was called a weight too small for float32)
    positive = weights and every and np.all(values >= 0) and np.any(values > 0)
    if positive and not np.any(cast > 0):
        smallest = float(np.finfo(dtype).smallest_subnormal)
        raise ValueError(
            f"{name} has positive values, all too small for "
            f"{dtype_name(np.dtype(dtype))}, X's dtype (its smallest is "
            f"{smallest:.3g}), which rounds them to 0: multiply the weights by a "
            "constant (only their ratios matter to the fit), or use float64 X."
        )


def _missing_value_error(name, estimator=None, named=True):
    """The error for pandas' NA (or NaT beside numbers) in the input ``name``:
    the one a NaN there gets, which NumPy's conversion makes of None.
    scikit-learn's "Input X contains NaN." (naming ``estimator`` for X, as its
    check does); under ``sklearn.set_config(assume_finite=True)``, which lets
    a NaN through its check, :func:`_check_missing`'s words, as that NaN then
    gets (scikit-learn's own conversion cannot read pandas' NA at all: NumPy's
    "float() argument must be a string or a real number, not 'NAType'", with
    or without ``assume_finite``). The NA was refused with the checked words
    under ``assume_finite=True`` too, where a None beside it was not.
    ``named=False``: the checked words that name no input, "Input contains
    NaN.", those of r2_score's check of y, which a None or NaN in
    ``MoERegressor.score``'s y gets (pandas' NA there said "Input y contains
    NaN.")."""
    if get_config()["assume_finite"]:
        return ValueError(_unchecked_nan(name))
    name_of = None if estimator is None else type(estimator).__name__
    checked = name if named else ""
    try:
        _assert_all_finite(
            np.array([np.nan]), estimator_name=name_of, input_name=checked
        )
    except ValueError as error:
        return error
    return ValueError(f"Input {name} contains NaN.")  # (not reached)


def _unchecked_nan(name):
    """:func:`_check_missing`'s message for NaN in the input ``name``."""
    return (
        f"Input {name} contains NaN (unchecked: sklearn.set_config("
        "assume_finite=True) skips scikit-learn's check of the input)."
    )


def _check_missing(xp, array, name):
    """Raise scikit-learn's error for NaN in ``array`` (the input ``name``),
    which its validation lets through under
    ``sklearn.set_config(assume_finite=True)``: called where a result came out
    NaN or inf, whose error would otherwise blame an overflow."""
    if bool(xp.any(xp.isnan(array))):
        raise ValueError(_unchecked_nan(name))


def _check_infinite(xp, array, name):
    """:func:`_check_missing`, and scikit-learn's error for inf in ``array``
    (the input ``name``), which ``assume_finite=True`` lets through too
    (one pass over ``array`` where it is finite)."""
    if not bool(xp.all(xp.isfinite(array))):
        _check_missing(xp, array, name)
        raise ValueError(
            f"Input {name} contains infinity (unchecked: sklearn.set_config("
            "assume_finite=True) skips scikit-learn's check of the input)."
        )


def _check_finite(xp, result, method, design=None):
    """Raise where outputs came out inf or NaN: inputs so large (|x| ~ 1e308)
    that the gate's or the experts' logits or means overflow (inf - inf in the
    softmax is NaN), or an expert whose means are extreme (one fitted to a few
    samples, which fit warned of) in a narrow dtype; or NaN in X's ``design``
    matrix (:func:`_check_missing`)."""
    for part in result if isinstance(result, tuple) else (result,):
        if not bool(xp.all(xp.isfinite(part))):
            if design is not None:
                _check_missing(xp, design, "X")
            # the dtype they were computed in, X's: predict_distribution's
            # float64 outputs of a float32 model said float64 had overflowed
            dtype = part.dtype if design is None else design.dtype
            wider = " (or use float64 X)" if dtype != xp.float64 else ""
            outputs, where = "the model's outputs overflow", ""
            if _spread_only(xp, result, method):
                # predict(return_std=True) where the chunk's means are
                # finite: the spread is what overflows (not "predict(X)
                # gives them": another chunk's means can overflow)
                outputs = "the predictive standard deviation overflows"
                where = " whose means are finite"
            raise ValueError(
                f"{method}: {outputs} {dtype_name(dtype)} at some rows of "
                f"X{where}: X is too large there, or an expert's predictions "
                "are extreme (as fit warns for experts fitted to too few "
                "samples). Rescale the features, e.g. with "
                "sklearn.preprocessing.StandardScaler, or refit with fewer "
                f"experts{wider}."
            )


def _spread_only(xp, result, method):
    """Whether ``result``, ``predict``'s means and standard deviations, has
    finite means where a standard deviation is not finite."""
    if method != "predict" or not isinstance(result, tuple) or len(result) != 2:
        return False
    return bool(xp.all(xp.isfinite(result[0])))


#: ``n_experts="auto"`` passes over a candidate where an expert handles fewer than
#: this many samples per parameter of its own: such an expert can fit its few
#: points almost exactly, and the likelihood, hence BIC, rewards the collapse.
AUTO_MIN_SAMPLES_PER_PARAMETER = 2


@contextmanager
def _unchanged_on_failure(estimator):
    """A fit that fails (an error, Ctrl-C) leaves ``estimator`` as it was, not
    half-updated (new ``classes_`` beside the former coefficients). Attributes
    are rebound, except what partial_fit changes in place: the solver state is
    copied, the histories are cut back to their lengths, and the random state
    is restored into its own object, which may be the user's ``random_state``
    (a copy in its place left the user's RandomState behind: later calls no
    longer advanced it)."""
    before = dict(vars(estimator))
    # the histories partial_fit extends in place: their lengths on entry
    histories = {
        name: len(before[name])
        for name in ("log_likelihood_history_", "objective_history_")
        if isinstance(before.get(name), list)
    }
    stream = before.get("_sgd_random_state")
    saved = None if stream is None else stream.get_state()
    if "_solver_state" in before:  # changed in place
        before["_solver_state"] = copy.deepcopy(before["_solver_state"])
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(before)
        for name, length in histories.items():
            del before[name][length:]
        if stream is not None:
            stream.set_state(saved)
        raise


def _reweighted(problem, sample_weight):
    """``problem`` (NumPy) with other sample weights; an expert family that
    refits with weights in the user's units (``weight_total``) gets theirs."""
    experts = problem.experts
    if hasattr(experts, "weight_total"):
        experts = copy.copy(experts)
        experts.weight_total = float(np.sum(sample_weight))
    weights = np.asarray(sample_weight, dtype=problem.sample_weight.dtype)
    return dataclasses.replace(problem, sample_weight=weights, experts=experts)


def _sub_problem(problem, rows, sample_weight):
    """``problem`` (NumPy) on the samples ``rows`` (for scoring them)."""
    own, groups = problem.own_gate_design, problem.groups
    return dataclasses.replace(
        _reweighted(problem, sample_weight[rows]),
        design=problem.design[:, rows],
        Y=problem.Y[..., rows],
        own_gate_design=None if own is None else own[:, rows],
        groups=None if groups is None else Groups.from_labels(groups.codes[rows]),
    )
