"""``n_experts="auto"``: the number of experts chosen by training BIC, or by
held-out log-likelihood for experts without a parameter count, as a mixin of
:class:`~skmoe._base.BaseMixtureOfExperts`."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.utils import check_random_state

from ._backend import to_numpy
from ._diagnostics import (
    _at_lower_bound,
    _few_samples,
    _nan_parameters,
    _on_copies,
)
from ._em import e_step
from ._fitting import (
    AUTO_MIN_SAMPLES_PER_PARAMETER,
    _feature_offset,
    _reweighted,
    _sub_problem,
)
from ._math import design_matrix
from ._warnings import _warn_user

#: The numbers of experts ``n_experts="auto"`` chooses from, by BIC.
AUTO_EXPERTS = (1, 2, 3, 4)

#: How far (in nats) below its median held-out log-likelihood every fitted
#: candidate must score a held-out sample (or group) for ``n_experts="auto"``
#: with ``expert_estimator`` to leave it out of its comparison as a far
#: outlier: a Gaussian residual of 10 standard deviations. One y 1000 off
#: (noise 0.3, two regimes, 20 held out) scored -28700 under one expert and
#: -4.7e6 under two, and alone chose one expert, where the other 19 chose two.
AUTO_FAR_NATS = 50.0
#: The interquartile range of a Gaussian's log-density at its own samples
#: (half that of a chi-square of one degree of freedom). Where every
#: candidate's held-out scores spread more widely, ``AUTO_FAR_NATS`` is scaled
#: by the narrowest one's ratio: counts' log-likelihoods spread with the
#: counts (overdispersed counts near 1e4 fitted by Poisson experts:
#: interquartile ranges of hundreds of nats), and 50 nats left out 1 to 3 of
#: 15 ordinary held-out counts at 13 of 20 seeds (choices 4 -> 3, 3 -> 2 at
#: 4 of them). The narrowest: one expert fitted to two regimes spreads wider
#: than a Gaussian, two experts do not.
GAUSSIAN_SCORE_IQR = 0.6108863263319224


def _centered_on(problem, X, columns, sample_weight):
    """``problem`` (NumPy) with the gate's design centered at the features'
    mean over ``sample_weight`` (the candidates' training rows), not over
    every sample: centered at a mean that a held-out x of 1e10 moved, the
    training rows' gate features lost their digits (x - 1e9), and the other
    held-out rows' scores moved by 1.15 nats (1e154: x - 1e152, every
    training row alike). The gate's features are rebuilt from ``X``'s
    ``columns`` (None: all), raw, as fit took them."""
    if problem.own_gate_design is None or problem.experts.centered:
        return problem
    dtype = problem.own_gate_design.dtype
    raw = np.asarray(X if columns is None else X[:, columns], dtype=dtype)
    offset = np.asarray(_feature_offset(raw, sample_weight), dtype=dtype)
    return dataclasses.replace(problem, own_gate_design=design_matrix(np, raw, offset))


def _one_standard_error(per_sample, weight, tol=0.0) -> int:
    """The index of the first candidate (the fewest experts) whose held-out
    log-likelihood is within one standard error of the best's: the weighted
    mean of its per-sample shortfall against the best (rows of
    ``per_sample``, (n_candidates, n_valid)) at most the standard error of
    that mean plus ``tol`` (EM's tolerance, in the same nats per sample, so
    that differences such as a probability floor's 1e-7 do not count).
    Breiman's one-standard-error rule, on paired differences: on 40 held-out
    counts, 3 Poisson experts scored -2.060 against 2 experts' -2.089 (two
    regimes), a difference well within its noise. The variance divides by
    the effective number of samples less one; with one sample held out no
    difference can be told from noise, and the fewest experts are kept."""
    with np.errstate(invalid="ignore"):
        means = per_sample @ weight
    best = int(np.argmax(np.where(np.isnan(means), -np.inf, means)))
    n_effective = 1.0 / float(np.sum(weight**2))
    for index, values in enumerate(per_sample):
        if not np.all(np.isfinite(values)):
            continue
        shortfall = per_sample[best] - values
        mean = float(weight @ shortfall)
        spread = float(weight @ (shortfall - mean) ** 2) * n_effective
        error = (
            np.sqrt(spread / (n_effective - 1) / n_effective)
            if n_effective > 1
            else np.inf
        )
        if mean <= error + tol:
            return index
    return best


class ExpertCountMixin:
    """The choice among candidate numbers of experts, for
    :class:`BaseMixtureOfExperts`."""

    def _largest_candidate_message(self, candidates, best, grouped=False):
        """The text of a warning where ``n_experts="auto"`` chose the largest
        number it tries while the criterion still improved there, or None: six
        regimes fitted with four experts at R^2 0.31 (0.99 with six), BIC
        falling by 3400 from three experts to four, without a word."""
        if candidates[-1] != AUTO_EXPERTS[-1]:
            return None
        if best.gate_params["coef"].shape[1] != candidates[-1]:
            # the chosen fit kept fewer: pruned (BIC 244.04, 244.034 and
            # 244.033 at 2, 3 and 4 experts, all pruned to 2, warned that more
            # experts might help), or chosen by held-out log-likelihood within
            # one standard error
            return None
        if getattr(self, "n_experts_scores_", None) is not None:
            # estimator experts, by held-out log-likelihood (one standard error)
            criterion = "held-out log-likelihood was still rising"
            # (their bic raises: it counts free parameters)
            compare = "log_likelihood_samples on held-out rows"
        else:
            compare = "bic(X, y, groups=groups)" if grouped else "bic(X, y)"
            # (chosen, the largest candidate's BIC is finite and below the
            # others': see _fit_candidates)
            bics = self.n_experts_bic_
            criterion = (
                f"training BIC was still falling ({bics[-2]:.1f} with "
                f"{candidates[-2]} experts, {bics[-1]:.1f} with {candidates[-1]})"
            )
        return (
            f"n_experts='auto' chose {candidates[-1]} experts, the most it tries, "
            f"and the {criterion}: the data may need more experts. Compare fits "
            f"with larger n_experts, e.g. by {compare} or with GridSearchCV over "
            f"n_experts.{self._more_experts_hint}"
        )

    def _candidates(self, n_active, warm=False):
        """The numbers of experts ``fit`` tries, given ``n_active`` samples with a
        positive weight (None: before the data are known). ``warm``: a warm
        fit's, the fitted number, which it continues whatever ``n_experts``
        says now (set_params(n_experts=200) and a warm refit on 160 rows raised
        that 160 rows were too few for 200 experts, which the fit ignores)."""
        if warm:
            n_experts = self.n_experts_
            if n_active is not None and n_active < n_experts:
                raise ValueError(
                    f"n_samples={n_active} should be >= the {n_experts} fitted "
                    "experts that warm_start=True continues; pass more samples "
                    "with a positive weight, or set warm_start=False."
                )
            return [n_experts]
        if self.n_experts == "auto":
            return [k for k in AUTO_EXPERTS if n_active is None or k <= n_active]
        if n_active is not None and n_active < self.n_experts:
            raise ValueError(
                f"n_samples={n_active} should be >= n_experts={self.n_experts}; "
                "pass fewer experts or more samples with a positive weight."
            )
        return [self.n_experts]

    def _target_candidates(self, candidates, Y, sample_weight, warm=False):
        """The candidate numbers of experts that the encoded target ``Y``
        allows (all of them by default); raises where it allows none.
        ``warm``: a warm fit's candidates, the fitted number alone."""
        return candidates

    def _fit_candidates(self, problem, X_host, Y, sample_weight, candidates):
        """The best run for each candidate number of experts, and the one of lowest
        training BIC among them (passing over collapsed fits when choosing)."""
        # one random state for all candidates: each draws its own restarts
        random_state = check_random_state(self.random_state)
        options = [self._solver_options(k) for k in candidates]  # fail early
        n_features = problem.design.shape[0] - 1
        vars(self).pop("n_experts_scores_", None)
        if len(candidates) > 1 and problem.experts.n_parameters(n_features, 1) is None:
            return self._held_out_candidates(
                problem, X_host, Y, sample_weight, candidates, options, random_state
            )
        # weights rescaled to sum to the number of samples they keep, so that BIC
        # does not depend on their scale (unit weights: the usual BIC)
        n_samples = int(np.count_nonzero(sample_weight))
        scale = n_samples / float(np.sum(sample_weight))
        per_expert = problem.experts.n_own_parameters(n_features)
        # the rows the experts beside point masses can take (a zero-inflated
        # Gamma model's positive amounts)
        n_rows = int(np.count_nonzero(problem.experts.start_weights(Y, sample_weight)))
        # the smallest candidate is always fitted and never passed over (one
        # expert, or a zero-inflated model's point mass and one expert)
        smallest = candidates[0]
        fits, bics = [], []
        for n_experts, option in zip(candidates, options, strict=True):
            # (a point mass has no parameters)
            n_fitted = n_experts - problem.experts.n_point_masses
            if (
                len(candidates) > 1
                and n_experts > smallest
                and n_rows < n_fitted * AUTO_MIN_SAMPLES_PER_PARAMETER * per_expert
            ):
                # its least used expert would get at most n / K samples: too few
                # for its parameters, so the fit would count as collapsed anyway
                if self.verbose:
                    # the rows and experts of the test above (a zero-inflated
                    # Gamma model's: its positive amounts, its Gamma experts)
                    beside = "" if n_fitted == n_experts else " beside the point mass"
                    print(
                        f"n_experts={n_experts}: not fitted ({n_rows} samples "
                        f"give each expert{beside} at most {n_rows // n_fitted}, "
                        f"under {AUTO_MIN_SAMPLES_PER_PARAMETER} per parameter "
                        f"of its {per_expert})"
                    )
                fits.append(None)
                bics.append(np.inf)
                continue
            fit = self._best_restart(
                problem, X_host, Y, sample_weight, n_experts, option, random_state
            )
            n_kept = fit.gate_params["coef"].shape[1]
            n_gate_features = problem.gate_design.shape[0] - 1
            n_parameters = problem.gate.n_parameters(n_gate_features, n_kept)
            n_expert_parameters = problem.experts.n_parameters(n_features, n_kept)
            if n_expert_parameters is None:  # estimator experts: no count
                n_parameters = np.nan
            else:
                n_parameters += n_expert_parameters
            bic = -2 * scale * fit.log_likelihood + n_parameters * np.log(n_samples)
            collapsed = n_experts > smallest and self._collapsed(problem, fit)
            # a candidate whose every restart broke down (NaN parameters, a
            # BIC of NaN, which argmin took) is not chosen either, nor one of
            # a log-likelihood that is not finite (a BIC of NaN, which argmin
            # took, or -inf: an unbounded likelihood)
            if len(candidates) > 1 and (
                collapsed or _nan_parameters(problem, fit) or not np.isfinite(bic)
            ):
                bic = np.inf
            if self.verbose and len(candidates) > 1:
                note = " (a collapsed or broken-down fit: not chosen)"
                note = note if np.isinf(bic) else ""
                print(f"n_experts={n_experts}: training BIC {bic:.6g}{note}")
            fits.append(fit)
            bics.append(bic)
        chosen = int(np.argmin(bics))
        if self.verbose and len(candidates) > 1:
            print(f"chose n_experts={candidates[chosen]} (lowest training BIC)")
        return fits[chosen], np.asarray(bics, dtype=np.float64)

    def _held_out_candidates(
        self, problem, X_host, Y, sample_weight, candidates, options, random_state
    ):
        """``n_experts="auto"`` for experts without a parameter count (estimator
        experts), for which BIC is not defined: each candidate is fitted on the
        samples but a random ``validation_fraction`` of them, scored by its mean
        log-likelihood on those (``n_experts_scores_``), and the best number of
        experts is fitted again on all the samples. BIC entries are NaN. With
        groups, whole groups are held out, and the standard errors of the
        one-standard-error rule are over groups."""
        if self.validation_fraction <= 0:
            raise ValueError(
                "n_experts='auto' with expert_estimator chooses the number of "
                "experts by held-out log-likelihood, on validation_fraction of the "
                "samples; validation_fraction=0 leaves none. Set it above 0, or "
                "pass an integer n_experts."
            )
        grouping = problem.groups
        if grouping is None:  # rows are held out
            units, unit = np.flatnonzero(sample_weight > 0), "samples"
        else:  # whole groups
            units, unit = np.flatnonzero(sample_weight[grouping.first] > 0), "groups"
        n_valid = int(np.ceil(self.validation_fraction * units.shape[0]))
        if not 1 <= n_valid < units.shape[0]:
            raise ValueError(
                f"n_experts='auto' with expert_estimator holds out "
                f"validation_fraction={self.validation_fraction} of the "
                f"{units.shape[0]} {unit} of positive weight, {n_valid}, which "
                "leaves none for validation or none to fit; pass an integer "
                "n_experts."
            )
        if grouping is not None and n_valid < 2:
            raise ValueError(
                f"n_experts='auto' with expert_estimator holds out "
                f"validation_fraction={self.validation_fraction} of the "
                f"{units.shape[0]} groups of positive weight, {n_valid}: one "
                "group's score has no standard error, and the fewest experts "
                "would always be chosen. Raise validation_fraction, or pass an "
                "integer n_experts and compare them by GroupKFold "
                "cross-validation."
            )
        shuffled = random_state.permutation(units)
        n_train = units.shape[0] - n_valid  # samples or groups to fit
        valid = np.sort(shuffled[:n_valid])
        if grouping is not None:
            valid = np.flatnonzero(np.isin(grouping.codes, valid))
        # the candidates are fitted without the held-out rows, which are scored:
        # kept at weight 0, a far held-out x (1e154) made a squared residual
        # inf, and 0 * inf every expert's variance NaN (all rows scored -inf).
        # A classifier's keep them at weight 0, so that its clones still see
        # every class (its log-likelihood is floored: no 0 * inf there)
        fit_weight = sample_weight.copy()
        fit_weight[valid] = 0
        # (the candidates' problem: the final refit below is on ``problem``,
        # centered on every sample as fit's offset, with which the fitted gate
        # is given back; centered on the training rows, its gate_intercept_
        # was off by the two means' difference times gate_coef_)
        candidate = problem
        if self.gate != "constant":  # (whose prior sees no feature)
            columns, used = self._gate_columns, self._used_columns()
            if used is not None:  # (X_host: the columns used, in their order)
                columns = np.searchsorted(used, columns)
            candidate = _centered_on(problem, X_host, columns, fit_weight)
        experts = self._held_out_experts(problem.experts, Y, fit_weight)
        if experts is not problem.experts:
            candidate = dataclasses.replace(candidate, experts=experts)
        fitting, X_fit, Y_fit = _reweighted(candidate, fit_weight), X_host, Y
        if not getattr(problem.experts, "clones_see_every_class", False):
            train = np.flatnonzero(fit_weight > 0)
            fit_weight = fit_weight[train]
            fitting = _sub_problem(candidate, train, sample_weight)
            X_fit, Y_fit = X_host[train], Y[..., train]
        scoring = _sub_problem(candidate, valid, sample_weight)
        weight = sample_weight[valid] / np.sum(sample_weight[valid])
        first = np.arange(valid.shape[0])  # the rows that stand for the units
        if grouping is not None:  # a group's rows share its log-likelihood / n_g
            first = scoring.groups.first
            weight = np.bincount(scoring.groups.codes, weights=weight)
        per_sample = []  # held-out log-likelihoods of each candidate
        zero = []  # where a fitted candidate's density is 0 (-inf, not NaN)
        for n_experts, option in zip(candidates, options, strict=True):
            if n_experts > n_train:
                per_sample.append(np.full(n_valid, -np.inf))
                continue
            fit = self._best_restart(
                fitting, X_fit, Y_fit, fit_weight, n_experts, option, random_state
            )
            with np.errstate(all="ignore"):
                log_norm, *_ = e_step(scoring, fit.gate_params, fit.expert_params)
            log_norm = to_numpy(log_norm).astype(np.float64)[first]
            per_sample.append(np.where(np.isnan(log_norm), -np.inf, log_norm))
            if np.any(np.isfinite(log_norm)):  # (not a fit that broke down)
                zero.append(log_norm == -np.inf)
        per_sample = np.array(per_sample)
        # held-out samples (or groups) that a fitted candidate scores -inf
        # (density 0: far outliers) say nothing of which is better: one x of
        # 1e154 among 10 made every mean -inf and kept the fewest experts
        # without a word (2 experts on the other 9, as with it ordinary); one
        # that scored -1.6e306 under one expert and -inf under 2 to 4 (passed
        # over) kept one where the other 9 chose 3. A NaN (a fit that broke
        # down there) passes its candidate over instead
        void = ~np.any(np.isfinite(per_sample), axis=0)
        if zero:
            void |= np.any(zero, axis=0)
        # so are those that every fitted candidate scores finitely but far
        # below its typical held-out sample (AUTO_FAR_NATS under its median):
        # their paired differences, thousands of nats, made both the mean and
        # its standard error, and one such sample decided the choice alone
        # (AUTO_FAR_NATS times the narrowest spread of the candidates' scores
        # against a Gaussian's, where wider: so many nats may be an ordinary
        # count's shortfall)
        fitted = np.any(np.isfinite(per_sample), axis=1)
        far = AUTO_FAR_NATS
        if np.any(fitted) and not np.all(void):
            scored = per_sample[fitted]
            with np.errstate(invalid="ignore"):
                low, typical, high = np.percentile(
                    scored[:, ~void], [25, 50, 75], axis=1, keepdims=True
                )
                # (the narrowest candidate's: the one-expert fit of two
                # regimes spreads wider than a Gaussian, and the fits of
                # both do not)
                spread = (high - low).ravel()
                spread = spread[np.isfinite(spread)]
                spread = float(np.min(spread)) if spread.size else 0.0
                far = AUTO_FAR_NATS * max(1.0, spread / GAUSSIAN_SCORE_IQR)
                void |= np.all(scored < typical - far, axis=0)
        if np.all(void):
            index = 0
            _warn_user(
                f"n_experts='auto' could not compare its candidates: a "
                f"candidate scored a held-out log-likelihood of -inf at each of "
                f"the {len(weight)} held-out {unit} (far outliers in X or y, as "
                f"a rule), so it kept the fewest experts, {candidates[0]}. Look "
                f"for such samples, or pass an integer n_experts and compare "
                f"fits by cross-validation."
            )
        else:
            if np.any(void):
                _warn_user(
                    f"n_experts='auto' left {int(np.sum(void))} of its "
                    f"{len(weight)} held-out {unit} out of its comparison: "
                    f"a candidate scored them a log-likelihood of -inf, or "
                    f"every candidate more than {far:.3g} nats below "
                    f"its median held-out {unit[:-1]}'s (far outliers in X or "
                    f"y, as a rule), which says nothing of which is better "
                    f"and would decide the choice alone. Look for such "
                    f"{unit}."
                )
                per_sample, weight = per_sample[:, ~void], weight[~void]
                weight = weight / np.sum(weight)
            index = _one_standard_error(per_sample, weight, float(self.tol))
        with np.errstate(invalid="ignore"):
            scores = [float(np.sum(weight * values)) for values in per_sample]
        if np.all(void):  # (nothing compared: some were finite at some)
            scores = [-np.inf] * len(candidates)
        # (the scores compared, n_experts_scores_: without the rows left out)
        verbose = zip(candidates, scores, strict=True) if self.verbose else ()
        for n_experts, score in verbose:
            if n_experts > n_train:
                print(f"n_experts={n_experts}: not fitted (too few samples)")
            else:
                print(f"n_experts={n_experts}: held-out log-likelihood {score:.6g}")
        chosen = candidates[index]
        if self.verbose:
            print(f"chose n_experts={chosen} (one standard error, tol={self.tol})")
        option = options[candidates.index(chosen)]
        best = self._best_restart(
            problem, X_host, Y, sample_weight, chosen, option, random_state
        )
        self.n_experts_scores_ = np.asarray(scores, dtype=np.float64)
        return best, np.full(len(candidates), np.nan)

    def _held_out_experts(self, experts, Y, fit_weight):
        """The candidates' experts, given the weights of their training rows
        ``fit_weight`` (0 where held out): ``experts`` by default. A
        regressor's take their variance floor from the training rows' y
        alone (:class:`MoERegressor`)."""
        return experts

    def _collapsed(self, problem, result) -> bool:
        """Whether a fit with several experts has collapsed: an expert parameter
        at its lower bound (a Gaussian expert's variance at its floor), or an
        expert handling fewer than ``AUTO_MIN_SAMPLES_PER_PARAMETER`` samples
        per parameter of its own (its share of the rows; with sample weights,
        Kish's effective number of its rows, fewer where a few rows carry
        most of its weight, whatever the others weigh: see
        :func:`_few_samples`; coefficients all experts share are not its
        own), or an expert whose mass sits on copies of a few rows, fewer
        effective distinct rows than its coefficients plus one (see
        :func:`_on_copies`: 8 copies beside two Gamma regimes, at a dispersion
        1e5 times the floor; continuous targets only, see
        :attr:`_copies_collapse`). Its likelihood is then (nearly) unbounded
        and BIC meaningless."""
        if len(_at_lower_bound(problem, result)) > 0:
            return True
        if len(_few_samples(problem, result)[0]) > 0:
            return True
        return self._copies_collapse and len(_on_copies(problem, result)) > 0

    #: Whether identical rows (x, y) are copies, so that an expert on a few
    #: of them is a collapse (:func:`_on_copies`): a continuous target's
    #: (Gaussian, Student's t, Gamma). Counts and classes tie legitimately:
    #: a zero-inflated Poisson's expert of the zeros, at binary x, sits on 2
    #: distinct rows, and "auto" chose 1 expert at a log-likelihood 280 to
    #: 380 nats below 2 experts'.
    _copies_collapse = False
