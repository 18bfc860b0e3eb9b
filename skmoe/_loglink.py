"""What the estimators of log-link GLM experts share: MoEPoissonRegressor and
MoEGammaRegressor."""

from __future__ import annotations

import math

import numpy as np

from ._backend import dtype_name, to_numpy
from ._base import _in_words
from ._math import logsumexp
from ._sparse import is_sparse

#: Ratio of the fitted mixture's mean targets on the training data to the
#: targets above which ``fit`` warns (:meth:`LogLinkMixin._excess_message`).
EXCESS_RATIO = 2.0
#: Standard deviations from its mean beyond which a training value of a feature
#: the experts see marks heavy tails, which that warning then names: 500 rows of
#: Cauchy features (one 1769 from 0) gave two Poisson experts means up to 1e149
#: at training rows, and none of the remedies named the features.
HEAVY_TAIL_SDS = 10.0


def _unweighted_zero(xp, weight, mean):
    """``mean`` with 0 for the experts of gate weight 0 at a sample: they take
    no part in its mixture, and far from the training data an unused expert's
    mean can overflow, where 0 * inf would make the mixture's mean NaN."""
    return xp.where(weight > 0, mean, xp.zeros_like(mean))


def _left_out(xp, weight, terms):
    """The experts that take no part in a sample's mixture mean: those whose
    gate ``weight`` is 0 and whose term ``g_k mu_k`` (``terms``, from the
    logs, or a function of no arguments that gives them, called only where a
    weight is 0) is beyond the floats (an sgd fit's dead expert, of weight
    e^-1253 beside means of e^2024 at its training rows, or NaN). The term of
    a weight that underflowed to 0 is the mixture's where it is a float (a
    weight of e^-807.4 beside a mean of e^1163.2: 3.42e154). With exposures,
    the terms are ``g_k min(e, 1) mu_k``: those of the counts at exposures
    below 1, else per unit exposure (counts beyond the floats at a rate that
    is a float raise, as before). Only a mask of the zero weights where none
    is 0."""
    unused = weight == 0
    if not bool(xp.any(unused)):
        return unused
    if callable(terms):
        terms = terms()
    return unused & ~(terms < xp.inf)


def _heavy_tail(problem, columns):
    """A remedy naming the feature the experts see (``columns``: their columns
    of X, None for all) with a training value (of positive weight) furthest
    beyond ``HEAVY_TAIL_SDS`` weighted standard deviations from its mean (or
    three times a Gaussian sample's largest, ``sqrt(2 log n)``, where that is
    more: an exponential feature's grows as log n), or None. Features of two
    values (indicators: a rare one lies far out) are not named."""
    design = to_numpy(problem.design)[1:]  # (features, rows)
    if design.shape[0] == 0:
        return None
    weight = to_numpy(problem.sample_weight).astype(np.float64)
    rows = weight > 0
    weight = weight[rows] / np.sum(weight[rows])
    values = design[:, rows].astype(np.float64)
    # each feature by a power of two near its largest magnitude (exactly: the
    # same ratios), whose squares then neither overflow nor underflow: a
    # Cauchy feature times 1e200 or 1e-200 had an infinite or zero standard
    # deviation, and was not named
    exponent = np.frexp(np.max(np.abs(values), axis=1, initial=0.0))[1]
    values = np.ldexp(values, -exponent[:, None])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        spread = values - (values @ weight)[:, None]
        std = np.sqrt(spread**2 @ weight)
        far = np.max(np.abs(spread), axis=1) / std
    far = np.where(np.isfinite(far), far, 0.0)
    limit = max(HEAVY_TAIL_SDS, 3 * math.sqrt(2 * math.log(max(values.shape[1], 2))))
    for j in np.flatnonzero(far > limit):
        if np.unique(values[j]).shape[0] <= 2:
            far[j] = 0.0
    if not np.any(far > limit):
        return None
    j = int(np.argmax(far))
    column = j if columns is None else int(list(columns)[j])
    return (
        f"features with lighter tails (feature {column} of X has a training "
        f"value {far[j]:.3g} standard deviations from its mean), e.g. by "
        "sklearn.preprocessing.QuantileTransformer or the log of a skewed feature"
    )


class LogLinkMixin:
    """The warning of extreme means hidden by small gate weights, for experts
    whose mean is ``exp(x~ . b_k)``. Subclasses give the experts' log means on
    the training data (:meth:`_training_log_means`) and the words of the
    warning (``_excess_words``: the targets, an expert's mean, what few
    targets determine it)."""

    _excess_words = ("counts", "rate", "a few nonzero counts")

    def _training_log_means(self, problem, expert_params):
        """The experts' log means (K, n) on the training data of ``problem``."""
        raise NotImplementedError

    def _collapse_message(self, problem, best):
        # beside the experts' bounds and few samples per coefficient, extreme
        # means (below) say that experts collapsed
        message = super()._collapse_message(problem, best)
        several = best.gate_params["coef"].shape[1] > 1
        if several and not self._degenerate_target():
            # also beside the few samples' warning, whose "extreme away from
            # those samples" hid means of 1e11 at training rows (a count of 1)
            excess = self._excess_message(problem, best, remedies=message is None)
            if excess is not None:
                message = excess if message is None else f"{message} {excess}"
        overflow = self._overflow_message(problem, best)
        if overflow is None:
            return message
        return overflow if message is None else f"{overflow} {message}"

    def _warm_failure(self, problem, best):
        # the negative binomial's log-likelihood, in the log means, stays finite
        # (-2.5e15) where its means overflow at X * 1e8; predict then refused
        # the training data
        failure = super()._warm_failure(problem, best)
        if failure is None and self._overflow_message(problem, best) is not None:
            targets = self._excess_words[0]
            return f"the continued fit's mean {targets} overflow at training rows"
        return failure

    def _log_mixture_terms(self, problem, best):
        """``log g_k + log mu_k`` (K, n) of the fitted mixture on the training
        data (the gate truncated to the routed experts with ``top_k``), -inf
        where predict leaves the expert out (:func:`_left_out`: its gate weight
        is 0 and its term beyond the floats): an underflowed weight (e-1253)
        times an overflowed mean (e2024) was reported as an overflow where
        predict raises, and predict did not."""
        xp = problem.xp
        log_gate = problem.gate.log_gate(xp, problem.gate_design, best.gate_params)
        if is_sparse(problem.top_k, log_gate.shape[0]):
            log_gate = problem.gate.truncate(xp, log_gate, problem.top_k)
        with np.errstate(over="ignore", invalid="ignore"):
            terms = log_gate + self._training_log_means(problem, best.expert_params)
            weight = xp.exp(log_gate)
            left_out = weight == 0
            if bool(xp.any(left_out)):  # (no exp where no weight is 0)
                left_out = _left_out(xp, weight, xp.exp(terms))
            return xp.where(left_out, xp.full_like(terms, -xp.inf), terms)

    def _overflow_message(self, problem, best):
        """A warning when the fitted mixture's mean overflows the data's dtype
        at training rows of positive weight, where :meth:`predict` raises, or
        None. Fit chased one target of 1e300 with an expert whose means
        overflowed elsewhere; it only warned of the expert's few samples, or
        that :meth:`predict` would give its extreme means."""
        xp = problem.xp
        terms = self._log_mixture_terms(problem, best)
        top = math.log(float(xp.finfo(terms.dtype).max))
        with np.errstate(over="ignore", invalid="ignore"):
            log_mean = logsumexp(xp, terms, axis=0)
        over = (problem.sample_weight > 0) & ~(log_mean <= top)  # NaN too
        n_over = int(xp.sum(xp.astype(over, xp.int64)))
        if n_over == 0:
            return None
        targets, mean_word, few = self._excess_words
        largest = float(xp.max(problem.Y[0, ...]))
        if largest > 0:
            cause = (
                f"as when {few} (the largest {largest:.3g}) determine it. "
                "Rescale y, or try"
            )
        else:  # no targets to rescale: the means, driven to 0 at an expert's
            # own rows, grow without bound away from them (alpha=0), or as far
            # as a small alpha lets them (1e-8 at features of 1e10)
            cause = (
                f"as when y is all zero and alpha={problem.alpha:.3g} is too weak "
                f"to hold the slopes that drive the expert's {mean_word} to zero "
                "at its own rows. Try"
            )
        return (
            f"The fitted mixture's mean {targets} overflow "
            f"{dtype_name(terms.dtype)} at {n_over} of the training rows, "
            f"where predict raises: an expert's {mean_word} there is extreme, "
            f"{cause} "
            f"{_in_words(self._remedies(terms.shape[0], ['a larger alpha']))}."
        )

    def _collapsed(self, problem, result) -> bool:
        # n_experts="auto" also passes over fits whose means are extreme
        return (
            super()._collapsed(problem, result)
            or self._excess_message(problem, result, remedies=None) is not None
        )

    def _excess_message(self, problem, best, remedies=True):
        """A warning when the mixture's mean targets on the training data add up
        to more than ``EXCESS_RATIO`` times the targets, or None.

        With a log link and an intercept, each expert's means add up to its
        responsibilities' targets at the optimum (exactly for Poisson experts,
        nearly for Gamma ones), and so do the mixture's means where the gate
        follows the responsibilities. Where few targets determine an expert (a
        single nonzero count), its mean can instead be extreme (1e50) where its
        gate is small (1e-46) but not zero: the likelihood barely sees it, but
        the predicted means do. Without the remedies where they follow
        another warning's (``remedies=False``), and without any (``None``)
        where only whether it warns matters.
        """
        xp = problem.xp
        terms = self._log_mixture_terms(problem, best)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = xp.sum(xp.exp(terms), axis=0)
            # summed in float64 on the host: float32 amounts of 1e36 overflowed
            # the sum, leaked NumPy's warning and turned the check off
            weight = to_numpy(problem.sample_weight).astype(np.float64)
            predicted = float(weight @ to_numpy(mean).astype(np.float64))
            observed = float(weight @ to_numpy(problem.Y[0, ...]).astype(np.float64))
        if not (observed > 0 and predicted > EXCESS_RATIO * observed):  # NaN too
            return None  # no counts: fit has warned that y is all zero
        targets, mean_word, few = self._excess_words
        message = (
            f"The fitted mixture's mean {targets} on the training data add up "
            f"to {predicted / observed:.3g} times the observed {targets}: an "
            f"expert's {mean_word} is extreme where its gate is small but not "
            f"zero, as when {few} determine it, and predict gives such means."
        )
        if remedies is None:  # (whether it warns, not what it says)
            return message
        tails = _heavy_tail(problem, self._expert_columns)
        if not remedies:
            lighter = "" if tails is None else f" So may {tails}."
            return f"{message} A larger alpha may help too.{lighter}"
        extra = ["a larger alpha"] + ([] if tails is None else [tails])
        options = _in_words(self._remedies(terms.shape[0], extra))
        return f"{message} Try {options}."
