"""``partial_fit``: online fitting of a mixture of experts by online EM or
stochastic gradients, as a mixin of :class:`~skmoe._base.BaseMixtureOfExperts`
(the numerics are in :mod:`skmoe._online` and :mod:`skmoe._sgd`)."""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
from sklearn import get_config
from sklearn.base import _fit_context, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _check_sample_weight, validate_data

from ._backend import (
    _identity,
    array_namespace,
    as_compute,
    blas_threads,
    float_dtypes,
    host,
    select_backend,
    to_numpy,
)
from ._em import EMProblem, FitResult, initial_params
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    CLASS_WEIGHTED,
    _check_float_range,
    _check_missing,
    _check_weight_scale,
    _column_target,
    _feature_offset,
    _labels_present,
    _object_target_as_float,
    _refuse_lazy_frames,
    _refused_times_X,
    _take_columns,
    _unchanged_on_failure,
    _Validated,
)
from ._init import initial_responsibilities
from ._math import device
from ._online import FIRST_FIT_ROWS, KEPT_ROWS_FACTOR, OnlineState, online_em_step
from ._sgd import (
    UNIT_ROWS,
    SGDState,
    effective_rows,
    partial_fit_epoch,
    spread_units,
)
from ._warm_start import (
    _batch_moments,
    _combined_moments,
    _exposure_floor,
    _feature_ranges,
    _judged_rates,
    _raise_if_features_changed,
    _stored_moments_weights,
    _stream_scale_message,
    _target_moments,
)
from ._warnings import _held_warnings, _warn_user
from .exceptions import SkmoeWarning
from .gates import GATES

#: Largest spread of the gate's logits at the start of a first ``partial_fit``
#: batch too small for the gate's coefficients (see :func:`_few_rows_gate`).
FEW_ROWS_LOGIT_SPREAD = 0.1
#: Scalings of the gate's coefficients towards that spread, at most.
FEW_ROWS_SCALINGS = 10
#: The key, in a stream's warnings given (``_warn_once_in_stream``), that says
#: its parameters were taken, and with a message, those it warned ignored.
_IGNORED = "ignored parameters"


def _few_rows_gate(problem, params, sample_weight):
    """``params`` with the gate's coefficients scaled down until its logits
    spread over at most ``FEW_ROWS_LOGIT_SPREAD`` on the rows of
    ``sample_weight``, where these (a first ``partial_fit`` batch) are fewer
    than ``AUTO_MIN_SAMPLES_PER_PARAMETER`` per free parameter of the gate
    (``GateFamily.n_parameters``): the gate's
    M-step at the batch's random responsibilities separated its few rows
    (coefficients of 4 from 3 rows), and Adam took epochs to undo it (after 5
    epochs of 100-row batches, R^2 0.64 against 0.92 from a first batch of
    100 rows; Poisson D^2 0.54 against 0.70). The scaled gate still tells the
    experts apart where their start is the same (a Poisson regressor's, see
    ``_few_rows_start``). A gate that models x (``"gaussian"``) is left."""
    xp = problem.xp
    gate_params, expert_params = params
    n_experts = gate_params["coef"].shape[1]
    size = problem.gate.n_parameters(problem.gate_design.shape[0] - 1, n_experts)
    if (
        problem.gate.models_inputs
        or effective_rows(sample_weight) >= AUTO_MIN_SAMPLES_PER_PARAMETER * size
    ):
        return params
    rows = xp.asarray(
        np.flatnonzero(sample_weight > 0), device=device(gate_params["coef"])
    )
    # a hierarchical gate's logits (the log of its products) are not linear in
    # its coefficients: scaled again until they spread over at most the limit
    for _ in range(FEW_ROWS_SCALINGS):
        logits = problem.gate.logits(xp, problem.gate_design, gate_params)
        logits = xp.take(logits, rows, axis=1)
        spread = float(xp.max(logits) - xp.min(logits)) if logits.shape[1] else 0.0
        if not spread > FEW_ROWS_LOGIT_SPREAD:
            break
        scale = FEW_ROWS_LOGIT_SPREAD / spread
        gate_params = {name: value * scale for name, value in gate_params.items()}
    return gate_params, expert_params


def _joined(kept, new):
    """The rows ``kept`` (online EM's, too few to fit) then those of ``new``,
    in ``new``'s namespace and device: NumPy rows before an array-api-strict
    batch (or its y, which validation leaves NumPy) raised a TypeError, as
    did integer y beside float y in one namespace (no Array API promotion:
    the integers are cast to the float dtype)."""
    xp, where = array_namespace(new), device(new)
    if array_namespace(kept) is not xp or device(kept) != where:
        kept = xp.asarray(to_numpy(kept), device=where)
    if kept.dtype != new.dtype:
        # integer targets beside float ones, which NumPy promotes but the
        # Array API does not (array-api-strict raised a TypeError)
        floating = [xp.isdtype(a.dtype, "real floating") for a in (kept, new)]
        if floating[0] != floating[1]:
            dtype = kept.dtype if floating[0] else new.dtype
            kept, new = xp.astype(kept, dtype), xp.astype(new, dtype)
    return xp.concat([kept, new], axis=0)


def _pending_rows(sample_weight) -> float:
    """The rows still to be seen (by ``_sgd.effective_rows``), after a first
    ``partial_fit`` batch of ``sample_weight``, before the experts' start
    (noise variances, rates) set from all the targets seen is final."""
    return UNIT_ROWS - effective_rows(sample_weight)


def _reset_pending(estimator, name, sample_weight, ready) -> bool:
    """Whether this ``partial_fit`` batch sets the experts' start again from all
    the targets seen: while ``estimator.<name>`` is pending and they allow it
    (``ready``: y has a spread, the counts a positive mean). It stays pending
    until ``UNIT_ROWS`` rows have been seen (each batch's counted by
    ``_sgd.effective_rows``), as Adam's units."""
    remaining = vars(estimator).get(name)
    if remaining is None:
        return False
    remaining -= effective_rows(sample_weight)
    if ready and remaining <= 0:
        del vars(estimator)[name]
    else:
        setattr(estimator, name, remaining)
    return ready


#: Largest share of a partial_fit batch's weight at positive targets whose
#: predicted mean may be 0 (see ``BaseMixtureOfExperts._predicts_batch``).
ZERO_MEAN_SHARE = 0.01
#: Ranges of the targets seen by which a regressor's predicted mean for a row
#: of its ``partial_fit`` batch may lie outside them (below their least or
#: above their largest) before the stream warns that ``learning_rate`` is too
#: large (the step is kept), once ``UNIT_ROWS`` rows have been seen: a
#: mixture's likelihood hardly notices an expert whose mean runs away where the
#: others hold the rows (it loses at most the log of its gate share), its
#: mean does. Ten Poisson and negative binomial streams at 1 ended at D^2 0.13
#: to -6e5 with no drop of their batch's objective above 2 nats, their means 19
#: to 1e9 ranges out; over 9 data sets (heavy-tailed y too) at 0.01 and 0.1,
#: batches of 1 to 200, at most 1.75.
RUNAWAY_RANGES = 10.0


def _streaming_solver(estimator):
    """``partial_fit`` exists with ``solver="sgd"``, or ``solver="em"`` where
    online EM applies (:meth:`BaseMixtureOfExperts._online_em`), and a number
    of experts (an integer ``n_experts``, or a fitted model); the
    AttributeError says why not (scikit-learn chains it to its own "has no
    attribute"), and ``hasattr`` tells meta-estimators the truth."""
    if estimator.assignment == "hard":
        raise AttributeError(
            "partial_fit is not available with assignment='hard': classification "
            "EM is a variant of fit's EM, and online EM (like Adam) averages "
            "soft responsibilities over the batches. Set assignment='soft' to "
            "stream, or call fit."
        )
    if estimator.solver == "em" and not estimator._online_em():
        raise AttributeError(
            "partial_fit needs solver='sgd' (mini-batch Adam), or solver='em' "
            "(online EM) with linear-Gaussian experts (MoERegressor, no "
            "expert_estimator) and gate='constant' or 'gaussian', whose M-step "
            "takes running sums of the data; this estimator has solver='em' "
            f"with {_online_em_settings(estimator)}. {_streaming_remedy(estimator)}"
        )
    if estimator.solver not in ("sgd", "em"):
        raise AttributeError(
            "partial_fit needs solver='sgd' (mini-batch Adam), or solver='em' "
            "(online EM, MoERegressor with gate='constant' or 'gaussian'), and "
            f"an integer n_experts; this estimator has solver={estimator.solver!r}."
        )
    # rows online EM keeps until it can fit them: started again at each call,
    # as unfitted
    kept = estimator.solver == "em" and hasattr(estimator, "_online_rows")
    unfitted = not hasattr(estimator, "n_experts_") or kept
    if estimator.n_experts == "auto" and unfitted:
        raise AttributeError(
            "partial_fit needs an integer n_experts: n_experts='auto' chooses the "
            "number of experts in fit, by the BIC of complete fits, which one "
            "mini-batch cannot do. Set n_experts to an integer (e.g. "
            f"{type(estimator).__name__}(n_experts=3, solver={estimator.solver!r})), "
            "or call fit first, after which partial_fit continues the fitted model."
        )
    return True


def _online_gate(estimator) -> bool:
    """Whether ``estimator.gate`` names a gate family that online EM fits."""
    gate = GATES.get(estimator.gate) if isinstance(estimator.gate, str) else None
    return gate is not None and gate.online


def _online_em_settings(estimator) -> str:
    """The settings that keep ``estimator`` from online EM, in words."""
    settings = [] if _online_gate(estimator) else [f"gate={estimator.gate!r}"]
    if getattr(estimator, "expert_estimator", None) is not None:
        settings.append("expert_estimator")
    noise = getattr(estimator, "_noise", None)  # MoERegressor's, as fitted
    if noise is not None and noise() != "gaussian":
        settings.append(f"noise={noise()!r}")
    if not settings:  # the experts' family
        settings.append(f"the experts of {type(estimator).__name__}")
    return " and ".join(settings)


def _streaming_remedy(estimator) -> str:
    """What streams ``estimator``'s model, in words: Adam needs a softmax or
    constant gate and the built-in experts."""
    if getattr(estimator, "expert_estimator", None) is not None:
        return (
            "expert_estimator is fitted by EM on all the rows only: no solver "
            "streams it; call fit."
        )
    # (with n_experts="auto", the remedy names the integer it then needs too)
    auto = " and an integer n_experts" if estimator.n_experts == "auto" else ""
    if estimator.gate == "gaussian":
        return (
            f"Use gate='softmax' with solver='sgd'{auto} (the gaussian gate is EM's)."
        )
    return f"Use solver='sgd'{auto}."


def _validating_partial_fit(method):
    """``method``, a ``partial_fit`` wrapped by ``_fit_context``, that validates
    the parameters on every call first: scikit-learn validates them only while
    the estimator is unfitted, and set_params between calls can change them.
    Checked here, outside ``_fit_context``, whose skip of nested validation
    hides the caller's ``skip_parameter_validation`` inside."""

    @functools.wraps(method)
    def partial_fit(self, *args, **kwargs):
        self._validate_partial_fit_params()
        return method(self, *args, **kwargs)

    return partial_fit


class PartialFitMixin:
    """``partial_fit`` and its checks, for :class:`BaseMixtureOfExperts`."""

    @available_if(_streaming_solver)
    @_validating_partial_fit
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one batch (X, y).

        One epoch of mini-batch Adam on the batch (``solver="sgd"``), or one
        step of online EM (``solver="em"``: :class:`MoERegressor` only, with a
        ``"constant"`` or ``"gaussian"`` gate and no ``expert_estimator``).

        Adam: the first call starts from a random partition of its samples
        (one M-step); later calls continue from the current parameters and
        Adam state. ``n_init``, ``init_params``, ``max_iter``, ``tol``,
        early stopping and ``prune_threshold`` do not apply (a warning says
        so, below). Either way later calls continue the fitted experts: a
        ``n_experts`` (or :class:`MoERegressor`'s ``noise``) set since does
        not change them (:meth:`fit` does; a warning says so), and
        ``gate_features``, ``expert_features`` or ``shared_features`` set since
        raise a ValueError.

        Online EM (Cappé & Moulines 2009): each call takes an E-step on the
        batch, averages the batch's sufficient statistics into the running
        ones with the step ``(n_batch / n_seen) ** 0.6`` and takes the M-step
        from them. The first call fits its batch by EM, as :meth:`fit` (with
        ``n_init``, ``max_iter`` and ``tol``); a first batch of fewer than 5
        rows per parameter (by Kish's effective number, ``(sum w)^2 / sum
        w^2``, where the weights differ) is kept, and each call starts the
        model again on all the rows kept (one step from a random partition)
        until they are enough to fit (or number 100 times as many rows of
        positive weight, as where one row carries most of the weight). After
        a :meth:`fit` with ``solver="em"``, the fit's statistics are the
        start. Sample weights count within a batch: the step counts rows of
        positive weight. See the user guide's "Online EM".

        Either way ``log_likelihood_`` and ``expert_usage_`` refer to the last
        batch, and the model stays in the units of the rows it was first
        fitted on: a batch of at least 50 rows in which a feature spreads more
        than 100 times as wide, or as narrow, as there (by the range of its 10%
        to 90% quantiles and by its standard deviation) warns, once per stream
        for each feature and direction, as the penalty's warning of features
        of a small standard deviation does once per stream for each set of
        features (:meth:`fit` starts a new stream). Transform every batch
        alike. It takes no ``groups`` (:meth:`fit`'s rows that share an
        expert), and continues no model fitted with them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; None gives every sample weight 1. Past the first
            rows they count within the batch only: its rows' weights relative
            to each other, not to other batches' (a batch of rows weighing
            100 moves the model as one of rows weighing 1), unlike
            scikit-learn's ``SGDRegressor.partial_fit``, whose step they
            scale. The first rows are pooled with their weights as given: the
            rows online EM keeps until it fits them, and Adam's first 50 or
            so (by Kish's effective number), whose spreads fix its units and
            the experts' starting noise variances, rates or dispersions (see
            the user guide). For weights that count across batches, call
            :meth:`fit` on all the rows.

        Returns
        -------
        self : object
            The updated estimator.

        Raises
        ------
        ValueError
            "partial_fit diverged" where the step leaves non-finite parameters
            or log-likelihood, or predictions for its own batch that overflow
            (too large a ``learning_rate``, or features and y of extreme
            scale); the estimator is unchanged. A step that only makes the
            model worse is kept: one that lowers its own batch's likelihood
            by much warns (below), a smaller harm goes unnoticed (as with
            scikit-learn's ``SGDRegressor`` and ``MLPRegressor``): score a
            held-out batch to watch the stream.
        AttributeError
            On access (``hasattr(estimator, "partial_fit")`` is False) unless
            ``solver="sgd"`` or online EM applies (above), with
            ``assignment="hard"`` (classification EM is fit's), and while
            ``n_experts="auto"`` is unfitted (or online EM still keeps the rows
            of too small first batches): it
            chooses the number of experts by BIC in :meth:`fit`, which one
            mini-batch cannot do. The exception's cause says which and what to
            do (an integer ``n_experts``, or :meth:`fit` first, which
            ``partial_fit`` then continues); the estimator is unchanged.

        Warns
        -----
        ConvergenceWarning
            Adam only: where the epoch lowers its own batch's penalized
            log-likelihood by more than 2 nats per sample (unit of weight),
            which a sound ``learning_rate`` does not (at most 0.7 at 0.1, 5
            and more at 100): the message says by how much and to lower
            ``learning_rate``, as does one where, after 50 rows, the model
            predicts a mean for a row of the batch more than 10 ranges of the
            targets seen outside them (where the batch's features changed
            scale, it says so instead). The step is kept; once per stream
            (:meth:`fit` starts a new one).
        FeatureScaleWarning
            Where a batch's feature spreads more than 100 times as wide, or
            as narrow, as in the first rows, or has a standard deviation too
            small for the penalty (above).
        SkmoeWarning
            On the call that starts a model (not after :meth:`fit`, which
            warns itself), and on a later call, after :meth:`fit` too, where
            ``set_params`` changed them since (once per setting), where
            parameters set away from their defaults are ignored, as
            :meth:`fit` warns: ``batch_size``
            and ``learning_rate`` by online EM, ``n_init`` (but 1), ``init_params``,
            ``max_iter``, ``tol`` and ``prune_threshold`` by Adam (online EM
            fits its first batch with them; its later calls, which prune no
            expert, say so of a ``prune_threshold`` above 0), ``n_iter_no_change`` and
            ``validation_fraction`` (:meth:`fit`'s early stopping) by both
            solvers, ``gate_covariance_type`` without ``gate="gaussian"``
            and :class:`MoERegressor`'s ``df`` without
            ``noise="student_t"``; and where ``set_params`` changed a setting
            of the fitted model that a call continues as fitted:
            ``n_experts``, a Gaussian gate's ``gate_covariance_type``, and
            :class:`MoERegressor`'s ``noise``, ``variance_type`` and ``df``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(200, 1))
        >>> y = np.where(X[:, 0] < 0, -2.0, 2.0) * X[:, 0]
        >>> y += 0.3 * rng.standard_normal(200)
        >>> stream = MoERegressor(n_experts=2, gate="constant", random_state=0)
        >>> for batch in np.split(np.arange(200), 4):  # online EM, batch by batch
        ...     stream = stream.partial_fit(X[batch], y[batch])
        >>> np.round(np.sort(stream.expert_coef_[:, 0]), 1)
        array([-2.,  2.])
        """
        return self._partial_fit_with(X, y, sample_weight)

    def _validate_partial_fit_params(self):
        """Validate the parameters, unless ``sklearn.set_config(
        skip_parameter_validation=True)``, which scikit-learn's ``partial_fit``
        honours (this check, 0.65 ms of a 15 ms batch, ran regardless)."""
        if not get_config()["skip_parameter_validation"]:
            self._validate_params()

    def _partial_fit_with(self, X, y, sample_weight, **target):
        """:meth:`partial_fit` after its parameter validation, with the target's
        other data (see :meth:`_encode_target`)."""
        _refuse_lazy_frames(X=X, y=y, sample_weight=sample_weight)
        # (a list of numbers converted once, as predict's)
        X = _refused_times_X(X, self)
        self._refuse_times(None, y, sample_weight)
        # parameters the call that starts a model ignores, as fit warns of
        # them: once, not at every batch (later calls continue that model, a
        # fit's or this one's; online EM's kept rows start it again, unwarned),
        # and again where set_params changed them since (once per setting)
        first = not hasattr(self, "n_experts_")
        ignored = self._ignored_parameters_message("partial_fit")
        given = vars(self).get("_stream_warnings", frozenset())
        # after fit, those it ignores that set_params changed since fit (whose
        # parameters fit records: it warned of those it ignores, and read the
        # others)
        warn = (
            ignored
            and (first or _IGNORED in given)
            and (_IGNORED, ignored) not in given
        )
        with _unchanged_on_failure(self):
            messages = self._partial_fit(X, y, sample_weight, **target)
        self._stream_warnings = vars(self).get("_stream_warnings", frozenset()) | {
            _IGNORED,
            (_IGNORED, ignored),
        }
        if warn:
            messages = [(ignored, SkmoeWarning), *messages]
        for message, category in messages:  # a first batch fitted by EM's
            _warn_user(message, category)
        return self

    def _partial_fit(self, X, y, sample_weight, **target):
        """:meth:`partial_fit`; returns the warnings to give, as :meth:`_fit`."""
        given_weight = sample_weight
        first = not hasattr(self, "n_experts_")
        online = self.solver == "em"  # else "sgd" (see _streaming_solver)
        if not online:  # rows online EM kept to fit, from before set_params
            vars(self).pop("_online_rows", None)
        pending = vars(self).get("_online_rows")  # started again with this batch
        if not first and pending is None:
            self._check_warm_gate("partial_fit")
            self._check_warm_experts("partial_fit")
        if not first and getattr(self, "_fitted_groups", False):
            raise ValueError(
                "partial_fit takes rows without groups, and this model was "
                "fitted with groups, whose rows share one expert; continuing it "
                "would change the model. Call fit with all the data and groups."
            )
        # parameter combinations fail before the data touch any fitted state
        restart = first or pending is not None
        if not restart:
            # once per stream: they came at every batch (scikit-learn's input
            # checks reset Python's record of the warnings shown)
            with _held_warnings() as ignored:
                self._warn_ignored_n_experts("partial_fit", "call fit")
                self._warn_ignored_gate_settings()
                self._warn_ignored_settings("partial_fit")
            for message, category in ignored:
                self._warn_once_in_stream(message, message, category)
            if online and self.prune_threshold > 0:
                # online EM's step drops no expert: only EM on a first batch
                # (or fit) prunes (6 experts stayed at shares 0 to 0.36 through
                # three calls with prune_threshold=0.3, without a word)
                self._warn_once_in_stream(
                    ("prune_threshold", self.prune_threshold),
                    f"prune_threshold={self.prune_threshold!r} is applied by "
                    "fit and by partial_fit's first call (EM on its batch) "
                    "only: later calls with solver='em' update all "
                    f"{self.n_experts_} experts and drop none. Call "
                    f"prune_experts({self.prune_threshold!r}) on the model to "
                    "drop the rarely used ones (without a refit), or fit it "
                    "with all the data.",
                    SkmoeWarning,
                )
        # (Adam's epochs do not prune: prune_threshold warned ignored, as fit
        # with solver='em' warns of batch_size, not refused where fit prunes)
        options = self._solver_options(
            self.n_experts if restart else self.n_experts_, prunes=online
        )
        y = _column_target(y, self)
        if is_regressor(self):
            y = _object_target_as_float(y)
        else:
            _labels_present(y)
        try:
            X, y = validate_data(
                self,
                X,
                y,
                dtype=float_dtypes(X),
                order="C",  # as fit's: fitted values that do not follow X's layout
                y_numeric=is_regressor(self),
                reset=first,
            )
        except ValueError as error:
            if not first:
                _raise_if_features_changed(self, error, "partial_fit", "call fit")
            raise
        if not restart and self._promotes(X):
            # a float32 batch for a float64 model: computed in float64, as
            # predict does (the model stayed float64 only until this batch)
            X = array_namespace(X).astype(X, array_namespace(X).float64)
        backend = select_backend(X, self.device, fitting=True)
        self._choose_features(X.shape[1])
        fitted_shared = getattr(self, "_fitted_shared_columns", ())
        if not restart and tuple(self._shared_columns) != tuple(fitted_shared):
            raise ValueError(
                "partial_fit continues the fitted experts, whose shared "
                f"features {list(fitted_shared)} differ from shared_features="
                f"{self.shared_features!r}; call fit to fit the new ones."
            )
        columns = (self._gate_columns, self._expert_columns)
        if not restart and columns != (
            self._fitted_gate_columns,
            self._fitted_expert_columns,
        ):
            # Adam went on in the units of the former features (R^2 -1.19 after
            # expert_features moved to a feature of scale 1e3, against 0.994
            # from the start), or failed in NumPy before it had fixed them
            raise ValueError(
                "partial_fit continues the gate and the experts over the features "
                "the model was fitted on, and gate_features or expert_features "
                "changed since; call fit to fit the new ones."
            )
        self._check_top_k_gate(self.n_experts if restart else self.n_experts_)
        X_host = to_numpy(X)
        _check_float_range(
            host(sample_weight),
            X_host.dtype,
            "sample_weight",
            "divide the weights by a constant (only their ratios matter to the fit)",
            weights=True,
        )
        sample_weight = _check_sample_weight(
            host(sample_weight), X_host, dtype=X_host.dtype, ensure_non_negative=True
        )
        # NaN, which sklearn.set_config(assume_finite=True) lets through, is no
        # positive weight: its rows were left out below without a word (fit
        # raises)
        _check_missing(np, sample_weight, "sample_weight")
        rows = np.flatnonzero(sample_weight > 0)
        if 0 < rows.shape[0] < sample_weight.shape[0]:
            # the whole batch's targets (and exposures) checked as fit checks
            # them, in the caller's numbers
            self._encode_target(host(y), X_host, fitting=False, **target)
            # left out, as fit leaves them: a far row of weight 0 made a
            # Poisson stream diverge (0 * inf), or its prediction overflow
            X, y = (_safe_indexing(a, rows) for a in (X, y))
            X_host, sample_weight = X_host[rows], sample_weight[rows]
            given_weight = sample_weight
            target = {  # a count's exposure: one per row, or one for all
                name: value
                if value is None or np.ndim(value) == 0
                else _safe_indexing(value, rows)
                for name, value in target.items()
            }
        batch = (X, y, sample_weight)  # what the model must still predict
        if pending is not None:  # the rows so far, too few to fit: start again
            X, y = _joined(pending[0], X), _joined(pending[1], y)
            X_host = to_numpy(X)
            sample_weight = np.concatenate([pending[2], sample_weight])
            given_weight, first = sample_weight, True
        if online and not first:
            self._check_online_state()
        _check_weight_scale(sample_weight)
        Y = self._encode_target(host(y), X_host, fitting=False, **target)
        weighted = self._weigh_targets(Y, sample_weight, streaming=True)
        if weighted is not sample_weight:  # class weights
            sample_weight = weighted
            _check_weight_scale(sample_weight, CLASS_WEIGHTED)
        xp = backend.xp
        if not hasattr(self, "_sgd_random_state") and (first or not online):
            # first call, or after fit; online EM's steps draw nothing (its
            # start on kept rows does): a RandomState it never used was 5.4 kB
            # of a stream's 8.9 kB pickle
            self._sgd_random_state = check_random_state(self.random_state)
        if first:
            experts = self._make_experts(Y, sample_weight, streaming=True)
        else:
            self._update_experts(Y, sample_weight)
            experts, expert_params = self._experts_from_attributes()
            if hasattr(experts, "shared"):  # rows of the current expert features
                experts.shared = self._shared_rows
        if first and online and self._first_batch_fits(X_host, experts, sample_weight):
            # online EM from a random partition of one batch often kept a
            # poor optimum (the two regimes of a constant gate in one of two
            # starts); fit's restarts and k-means starts found the best
            names = getattr(self, "feature_names_in_", None)
            self._streaming_fit = True  # (its warnings' remedies: no "auto")
            try:
                messages = self._fit(
                    X, y, given_weight, False, feature_names=names, **target
                )
            finally:
                del self._streaming_fit
            for name in ("n_experts_bic_", "n_experts_scores_", "df_bic_"):
                vars(self).pop(name, None)  # as any partial_fit's (documented)
            return messages
        if first and online:  # kept until they are enough to fit
            # copies: a stream may refill one buffer, which then held the next
            # batch in place of this one (fitted twice, this one never)
            xp_input = array_namespace(X)
            self._online_rows = (
                xp_input.asarray(X, copy=True),
                xp_input.asarray(y, copy=True),
                np.array(sample_weight, copy=True),
            )
        X_compute = X if backend.to_output is _identity else backend.to_compute(X)
        # the features centered as in fit, at one offset for all calls (the first
        # fit's or batch's), so that the Adam state stays in one coordinate system
        if first or not hasattr(self, "_feature_offset"):
            self._feature_offset = _feature_offset(X_host, sample_weight)
        offset = np.asarray(self._feature_offset, dtype=X_host.dtype)
        # as fit's; a spread of a few rows says little of the features'
        # scales (standardized features streamed 2 rows at a time warned
        # of a standard deviation below 0.1, and so did batches of 50 rows
        # of which 2 or 3 carried the weight)
        judge_scales = effective_rows(sample_weight) >= UNIT_ROWS
        # one expert: judged below, at the step's start, by its information
        # (_lone_expert_information), as fit judges it
        n_experts = self.n_experts if restart else self.n_experts_
        lone = judge_scales and n_experts == 1 and not self._estimator_experts()
        offset_host = offset
        if judge_scales and not lone:
            self._check_feature_scales(X_host, offset, sample_weight, stream=True)
        moved = None  # this batch's features spread otherwise than the first's
        if judge_scales:
            ranges = _feature_ranges(X_host, sample_weight)
            if first or not hasattr(self, "_feature_range"):
                self._feature_range = tuple(map(tuple, ranges.tolist()))
            else:
                moved = _stream_scale_message(
                    self._feature_range,
                    ranges,
                    self._used_columns(),
                    getattr(self, "feature_names_in_", None),
                )
                if moved is not None:
                    self._warn_once_in_stream(*moved)
        if not judge_scales or (lone and restart):
            # values whose squares overflow are refused as fit refuses them,
            # before the step (where the rows are too few to judge the
            # spreads too: a far row in a batch of 6 left Adam's second
            # moment inf, and the classifier's coefficients on that feature
            # never moved again) or a first batch's start is computed from
            # them
            self._check_feature_scales(X_host, offset, sample_weight, spread=False)
        offset = as_compute(xp, offset, X_compute)
        design, own_gate_design = self._designs(xp, X_compute, offset, experts)
        problem = EMProblem(
            design,
            backend.to_compute(Y),
            backend.to_compute(sample_weight),
            self._make_gate() if first else self._streaming_gate(),
            experts,
            float(self.alpha),
            self.top_k,
            own_gate_design,
        )
        if first:
            weight = experts.start_weights(Y, sample_weight)
            resp = initial_responsibilities(
                _take_columns(np, X_host, self._used_columns(), 1),
                None,  # a random start reads no target
                weight,
                self.n_experts - experts.n_point_masses,
                "random",
                self._sgd_random_state,
            )
            resp = experts.start_responsibilities(resp, Y)
            resp = backend.to_compute(np.ascontiguousarray(resp.T))
            params = initial_params(problem, resp)
            params = _few_rows_gate(problem, params, sample_weight)
            params = self._streaming_start(xp, params, Y, sample_weight)
            previous, earlier = None, 0
        else:
            gate_params, expert_params = self._fitted_start(xp, problem.design, offset)
            params = gate_params, experts.tie(xp, expert_params)
            previous = self._previous_result()
            earlier = len(previous.log_likelihood_history)  # (see _history_parts)
            if not online and not isinstance(previous.solver_state, SGDState):
                # fitted by another solver (online EM's sums are not Adam's)
                previous = dataclasses.replace(previous, solver_state=None)
            if previous.solver_state is None and hasattr(self, "_feature_spread"):
                # fitted by EM or L-BFGS: Adam steps in the units of the rows
                # fit saw, not of this batch's (one row: no spread, and a
                # feature of scale 1e3 took steps 1e3 too long, R^2 0.97 to
                # -0.44)
                units = self._fitted_units(problem, expert_params)
                state = SGDState(units=units)
                previous = dataclasses.replace(previous, solver_state=state)
        if lone:
            # a lone Poisson, negative binomial or Gamma expert judged by its
            # information at the model this step starts from, as fit judges
            # it at the fitted one (the fixed share warned of a batch whose
            # fit, on the same rows, did not)
            def information():
                with np.errstate(all="ignore"):
                    return self._lone_expert_information(problem, *params)

            self._check_feature_scales(
                X_host, offset_host, sample_weight, stream=True, information=information
            )
        start = time.perf_counter()
        with blas_threads(problem.design), np.errstate(all="ignore"):
            if online:
                result = online_em_step(problem, params, previous)
            else:
                result = partial_fit_epoch(
                    problem, params, options, self._sgd_random_state, previous
                )
        finite = [
            bool(xp.all(xp.isfinite(value)))
            for group in (result.gate_params, result.expert_params)
            for value in group.values()
        ]
        # a gate of other constraints than the fitted one's (gate="constant"
        # after "softmax"): Adam's momentum moved the slopes it does not have
        gate_params = problem.gate.conform(xp, result.gate_params)
        result = dataclasses.replace(result, gate_params=gate_params)
        cause = "" if online else f" at learning_rate={self.learning_rate}"
        remedy = "Rescale" if online else "Lower learning_rate, or rescale"
        if not all(finite) or not np.isfinite(result.log_likelihood):
            raise ValueError(
                "partial_fit diverged: the parameters or the log-likelihood became "
                f"non-finite{cause}; the model is unchanged. {remedy} the features "
                "and y."
            )
        # the earlier points' steps where this call's differ (SQUAREM cycles
        # then online EM steps were all labelled EM iterations by
        # ConvergenceDisplay): (steps, last point) pairs
        parts = []
        if previous is not None and earlier:
            fitted = getattr(self, "_fitted_solver", self.solver)
            if getattr(self, "_fitted_acceleration", None) == "squarem":
                fitted = "squarem"
            parts = list(vars(self).get("_history_parts") or [(fitted, earlier)])
        steps = "em" if online else "sgd"
        if parts and parts[-1][0] == steps:
            parts.pop()
        parts.append((steps, len(result.log_likelihood_history)))
        self._set_fitted(problem, result, offset)
        self._history_parts = parts if len(parts) > 1 else None
        self._fitted_solver = self.solver
        self._fitted_balance_coef = self.balance_coef  # (std_errors' advice)
        self._streamed = True  # stochastic steps (see std_errors); fit resets
        self._fitted_acceleration = None  # online EM's and Adam's steps
        if restart:  # see _warn_ignored_n_experts
            self._fitted_n_experts_param = self.n_experts
        self._attributes_to(X)
        self._add_fit_moments(X_host, y, sample_weight, target, first)
        for name in ("n_experts_bic_", "n_experts_scores_", "df_bic_"):
            vars(self).pop(name, None)  # it chose no number of experts
        predicted = []  # the batch's predictions, for the runaway check below
        if not self._predicts_batch(*batch, predicted):  # (_unchanged_on_failure)
            raise ValueError(
                "partial_fit diverged: floating-point under-/overflow in the "
                f"model's predictions for its own batch{cause} (outputs that "
                "overflow, or means of 0 for positive targets); the model is "
                f"unchanged. {remedy} the features and y."
            )
        if not online and result.message:
            # the epoch lowered its batch's likelihood (partial_fit_epoch): the
            # step is kept, and warned once per stream (a ruined stream's later
            # steps change little, so the first batch must warn by itself)
            self._warn_once_in_stream(
                "partial_fit overshoot", result.message, ConvergenceWarning
            )
        if not online and is_regressor(self):
            runaway = self._runaway_message(
                predicted, *batch[1:], target.get("exposure"), moved=moved
            )
            if runaway is not None:
                # a batch in other units is not the learning rate's doing: its
                # own key, so that a later overshoot still warns
                key = "partial_fit overshoot" if moved is None else (*moved[0], "mean")
                self._warn_once_in_stream(key, runaway, ConvergenceWarning)
        if self.verbose >= 1:
            print(
                f"partial_fit {'step' if online else 'epoch'} {result.n_iter}: "
                f"log-likelihood "
                f"{result.log_likelihood:.6g} on {problem.design.shape[1]} samples, "
                f"{time.perf_counter() - start:.2f}s"
            )
        return []

    def _add_fit_moments(self, X, y, sample_weight, target, first):
        """Add the batch's rows (of positive weight) to the features' and the
        targets' moments that a later warm ``fit`` compares its own with (see
        ``_warm_start._moved_features``), which are then those of the
        stream's rows since ``partial_fit`` started the model (``first``:
        this one), up to ``POOLED_ROWS`` of them; later batches leave them
        as they are (a few rows of another scale, pooled with all of the
        stream's, moved their spread within the check's). Without them, a
        warm fit after a stream continued the stream's parameters on
        features or targets of any scale (X * 200: R^2 -3e4 where a fresh
        fit had 0.93). A model that :meth:`fit` started keeps the fit's
        moments (it stores no weights to add to, nor did one pickled before
        them): its parameters are the fit's (see ``_fit``)."""
        totals = vars(self).get("_fit_moments_weights")
        if not first and totals is None:
            return
        rows = int(np.count_nonzero(np.asarray(sample_weight) > 0))
        if not first:  # (a model pickled without the count: from here)
            rows += vars(self).get("_fit_moments_rows", 0)
        batch = [(float(np.sum(sample_weight)), *_batch_moments(X, sample_weight))]
        if is_regressor(self):
            y = host(y)
            values, weights, low, high, _ = self._target_scale_values(
                y, sample_weight, None, sample_weight, target
            )
            moments = _target_moments(values, weights, low, high, _batch_moments)
            batch.append((float(np.sum(weights)), *moments))
        names = ("_fit_moments", "_fit_target_moments")
        if not first:  # added to the former (a classifier's: the features')
            references = [vars(self).get(name) for name in names[: len(batch)]]
            if len(totals) != len(batch) or None in references:
                return
            pairs = zip(totals, references, batch, strict=True)
            batch = [_combined_moments((w, *r), b) for w, r, b in pairs]
        for name, (_, *moments) in zip(names, batch, strict=False):
            setattr(self, name, tuple(tuple(np.asarray(m).tolist()) for m in moments))
        _stored_moments_weights(self, [total for total, *_ in batch], rows)

    def _runaway_message(self, predicted, y, sample_weight, exposure, moved=None):
        """The overshoot warning's text where a predicted mean of the batch's
        rows of positive weight (``predicted``: a list holding them, or empty)
        lies more than ``RUNAWAY_RANGES`` ranges of the targets seen in the
        stream outside them, once ``UNIT_ROWS`` rows (by ``_sgd.effective_rows``)
        have been seen; else None. The targets are taken per unit exposure, as
        ``predict`` without one predicts them. Updates the stream's range
        (``_stream_y_range``), which :meth:`fit` starts from its own targets: a
        stream continuing a fit whose targets' level had moved by 15 (their
        spread 1.3) warned at the default rate of a mean 20 ranges below the
        stream's, the fitted level, where a stream from the start through the
        same rows did not. ``moved``: the batch's feature-scale warning
        (``_stream_scale_message``), or None; where given, the message blames
        the batch's units, not ``learning_rate`` (a batch with one feature
        in mm, not m, was told to lower it)."""
        rows = np.asarray(sample_weight) > 0
        if not predicted or not np.any(rows):
            return None
        y = np.asarray(host(y), dtype=np.float64)
        seen = vars(self).get("_stream_y_range")
        # the exposure floor of the rates: the fit's, or the stream's first
        # batch's (see RATE_EXPOSURE_SHARE; a range stored without one: None)
        floor = seen[3] if seen is not None and len(seen) > 3 else None
        if exposure is not None:  # (one per row, or one for all)
            exposure = host(exposure)  # (a device's array: NumPy's refused it)
            if floor is None:
                floor = _exposure_floor(exposure, sample_weight)
            y = _judged_rates(y, exposure, floor)
        y = y.reshape(y.shape[0], -1)[rows]
        low, high = np.min(y, axis=0), np.max(y, axis=0)
        if not np.all(np.isfinite(high)):
            # a rate that overflows (a count over an exposure of 1e-310) is
            # no target to judge by: its inf range silenced the stream's check
            finite = np.isfinite(y)
            low = np.min(np.where(finite, y, np.inf), axis=0)
            high = np.max(np.where(finite, y, -np.inf), axis=0)
        count = effective_rows(sample_weight)
        if seen is not None:
            low, high = np.minimum(low, seen[0]), np.maximum(high, seen[1])
            count += seen[2]
        self._stream_y_range = (low, high, count, floor)
        spread = high - low
        if count < UNIT_ROWS or not np.all(spread > 0):
            return None
        mean = np.asarray(predicted[0], dtype=np.float64)
        mean = mean.reshape(mean.shape[0], -1)[rows]
        outside = np.maximum(mean - high, low - mean) / spread
        worst = np.unravel_index(np.argmax(outside), outside.shape)
        if not outside[worst] > RUNAWAY_RANGES:
            return None
        column = worst[1]
        far = (
            f"partial_fit: the model predicts a mean of {mean[worst]:.3g} for a "
            f"row of its batch, {outside[worst]:.3g} times the range of the "
            f"targets seen ({low[column]:.3g} to {high[column]:.3g}) outside it "
            f"(more than {RUNAWAY_RANGES:g})"
        )
        if moved is not None:
            column = moved[0][1]  # ("spread", column, way)
            names = getattr(self, "feature_names_in_", None)
            feature = column if names is None else repr(str(names[column]))
            return (
                f"{far}, in a batch whose X's feature {feature} changed scale "
                "from the rows the model was first fitted on (see the "
                "FeatureScaleWarning): the model meets inputs in other units, "
                "which no learning_rate mends. Transform every batch alike (one "
                "scaler, fitted once); the step is kept."
            )
        return (
            f"{far}: an expert's mean runs away where "
            "the gate gives it little weight, which the likelihood hardly "
            f"notices; learning_rate="
            f"{self.learning_rate} is likely too large for these data: lower it "
            "(the step is kept; score a held-out batch to watch the stream)"
        )

    def _predicts_batch(self, X, y, sample_weight, keep=None) -> bool:
        """Whether the model just updated by :meth:`partial_fit` predicts its
        batch (X, y and the weights as validated) finitely at the rows
        of positive weight: :meth:`predict` does not overflow (it raises), and
        a positive target's mean (Poisson, Gamma) has not underflowed to 0
        where y > 0 for more than ``ZERO_MEAN_SHARE`` of the batch's weight
        (one row far from the others may have a mean of 0, as after fit: a
        refusal of every step would stop the stream). Its log-likelihood,
        summed in log space, stays finite where the means do not: a Gamma
        stream at ``learning_rate=100`` accepted a batch that ``predict``
        then refused, a Poisson one predicted 7.8e149 and 0 for counts of mean
        2.45 (D^2 -inf). ``keep``: a list, where given, to which a regressor's
        predictions are appended."""
        with np.errstate(all="ignore"):
            try:  # (X as validated: predict's checks warned again)
                predicted = self.predict(_Validated(X))
            except ValueError:  # _check_finite: the outputs overflowed
                return False
        if not is_regressor(self):  # labels (predict_proba was finite)
            return True
        predicted = to_numpy(predicted)
        if keep is not None:
            keep.append(predicted)
        rows = np.asarray(sample_weight) > 0
        if not np.all(np.isfinite(predicted[rows])):
            return False
        if not self.__sklearn_tags__().target_tags.positive_only:
            return True
        positive = rows & (np.asarray(to_numpy(y), dtype=np.float64) > 0)
        weight = np.asarray(to_numpy(sample_weight), dtype=np.float64)
        lost = np.sum(weight[positive & ~(predicted > 0)])
        return bool(lost <= ZERO_MEAN_SHARE * np.sum(weight[rows]))

    def _check_online_state(self):
        """Raise unless online EM can continue the fitted model: its statistics
        (of a fit with ``solver="em"`` or of online EM; ``_partial_fit`` has
        checked that the features are the fitted ones)."""
        if not isinstance(self._solver_state, OnlineState):
            solver = getattr(self, "_fitted_solver", None)
            raise ValueError(
                "partial_fit with solver='em' continues the sufficient statistics "
                "of a fit with solver='em' (or of earlier online EM calls), and "
                f"this model was fitted by solver={solver!r} or with another "
                "gate: one batch would replace it. Call fit with "
                "solver='em' first, or use solver='sgd'."
            )

    def _first_batch_fits(self, X, experts, sample_weight) -> bool:
        """Whether online EM's first batch has ``FIRST_FIT_ROWS`` rows (by
        :func:`_sgd.effective_rows`) per parameter, which :meth:`fit` then
        fits: counted by rows of positive weight, 50-row batches whose weight
        sat on 2 or 3 rows (5% at 1e4, the others 1e-3) were fitted from the
        first, and 6 streams of 10 (two lines, a constant gate) ended with a
        slope 1.3 to 2.5 off (the same streams without their light rows, and
        all 10 counted so: within 0.03 of the lines). Or ``KEPT_ROWS_FACTOR``
        times as many rows of positive weight, whatever their effective
        number, which one row of most of the weight keeps near 1."""

        def count(columns):
            return X.shape[1] if columns is None else len(columns)

        gate = self._make_gate().n_parameters(count(self._gate_columns), self.n_experts)
        n_parameters = gate + experts.n_parameters(
            count(self._expert_columns), self.n_experts
        )
        needed = FIRST_FIT_ROWS * n_parameters
        # (or rows enough that the few carrying the weight are the data's
        # own: else kept without bound, see KEPT_ROWS_FACTOR)
        rows = int(np.count_nonzero(np.asarray(sample_weight) > 0))
        return (
            effective_rows(sample_weight) >= needed or rows >= KEPT_ROWS_FACTOR * needed
        )

    def _fitted_units(self, problem, expert_params):
        """Adam's parameter units (``_gradient.parameter_units``) from the
        spreads of the features ``fit`` saw."""
        spread = np.asarray(self._feature_spread, dtype=np.float64)

        def rows(columns):  # the intercept's, then each feature's
            part = _take_columns(np, spread, columns, axis=0)
            return spread_units(np.r_[0.0, part], problem.alpha)

        expert_rows = rows(self._expert_columns)
        own = problem.own_gate_design is not None
        gate_rows = rows(self._gate_columns) if own else expert_rows
        target = problem.experts.target_scale(problem.xp, expert_params)
        return gate_rows, expert_rows, target

    def _previous_result(self) -> FitResult:
        """The fitted state ``partial_fit`` continues from, as a FitResult."""
        objective = self.objective_history_
        if getattr(self, "_fitted_assignment", "soft") != self.assignment:
            # a hard fit's history holds the classification objective, which
            # partial_fit (soft assignments only) does not: a new history
            objective = []
        return FitResult(
            {},
            {},
            self.log_likelihood_,
            objective[-1] if objective else 0.0,
            self.log_likelihood_history_,  # extended in place (see continued)
            objective,
            self.n_iter_,
            False,
            solver_state=self._solver_state,
        )
