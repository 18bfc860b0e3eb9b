"""``std_errors``: the standard errors of a fitted mixture of experts, as a
mixin of :class:`~skmoe._base.BaseMixtureOfExperts` (the numerics are in
:mod:`skmoe._inference`)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from ._backend import (
    array_namespace,
    blas_threads,
    device_of,
    host,
    is_numpy_array,
    to_numpy,
    widest_float,
)
from ._em import EMProblem
from ._fitting import (
    _check_infinite,
    _check_weight_scale,
    _feature_offset,
    _refuse_lazy_frames,
    _take_columns,
)
from ._inference import DEGENERATE_TOL, STATIONARY_TOL, standard_errors
from ._math import expand_rows
from ._warnings import _warn_user
from .gates import GaussianGate, HierarchicalGate


class StdErrorsMixin:
    """``std_errors`` and its checks, for :class:`BaseMixtureOfExperts`."""

    def std_errors(self, X, y, sample_weight=None, *, groups=None, return_cov=False):
        """Standard errors of the fitted coefficients, from the observed information.

        The square roots of the diagonal of the inverse of minus the Hessian of
        the total weighted log-likelihood ``sum_i w_i log p(y_i | x_i)`` on
        (X, y) at the fitted parameters (R flexmix's ``refit()``, glum's
        ``std_errors``). With ``alpha > 0`` the Hessian is that of the penalized
        objective the fit maximizes, scaled to the total: ``sum(w)`` times
        (the per-sample log-likelihood minus the penalty), the penalty's
        curvature ``alpha * sum(w)`` per coefficient (over the noise variance
        for Gaussian experts, over the dispersion for Gamma experts; intercepts
        are not penalized). With ``alpha=0``
        these are the classical maximum-likelihood standard errors, as
        flexmix's; with ``alpha > 0``, those of the ridge estimate's Laplace
        approximation: the penalty's curvature makes them smaller, but for
        Gaussian experts the fitted noise variances grow with ``alpha``, and
        their standard errors with them. Pass the training data (and weights)
        for the standard errors of the fit. They assume the model is right;
        where it may be wrong (a constant gate for regimes that depend on x),
        refits on rows drawn with replacement (the user guide's recipes) do
        not.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input samples, normally the training data.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights, as in :meth:`fit`; None gives every sample weight 1.
            They count rows: their scale sets the standard errors' (see Notes).
        groups : array-like of shape (n_samples,), default=None
            The rows' groups, as in :meth:`fit`: the Hessian is then that of
            the groups' log-likelihood. Required for a model fitted with
            groups; a model fitted without them warns (its fit is not the
            groups' maximum).
        return_cov : bool, default=False
            Whether to add the parameters' covariance (``covariance``) and
            their names (``parameters``) to the result: the standard errors of
            contrasts, as the gate's log-odds of expert k against expert 0
            with three experts or more (R flexmix's ``summary(refit(fit))``),
            need it (see Notes).

        Returns
        -------
        std_errors : :class:`~sklearn.utils.Bunch`
            One NumPy array (in X's namespace under Array API dispatch) per
            fitted coefficient attribute, of its shape: ``gate_intercept_``,
            ``gate_coef_``, ``expert_intercept_``, ``expert_coef_`` and, for
            :class:`MoERegressor`, ``expert_variance_`` (the variance's, by the
            delta method from its log; for :class:`MoEGammaRegressor` and
            :class:`MoENegativeBinomialRegressor`, ``expert_dispersion_``, the
            same way). Entries the model fixes rather than estimates are 0:
            ``gate_coef_`` with ``gate="constant"``, and the coefficients of
            features a part does not see (``gate_features``,
            ``expert_features``). ``inf`` where the information does not
            determine the parameter (see Notes). With ``return_cov=True``, also
            ``covariance``, of shape (P, P), over the P entries of those
            attributes that the model estimates (not those it fixes at 0),
            raveled and concatenated in the Bunch's order, in float64 (or the
            device's widest float), and ``parameters``, their P names
            (``"gate_coef_[1, 0]"``); the rows and columns of parameters the
            information does not determine are NaN, as R's ``vcov`` gives NA
            for aliased coefficients, with an ``inf`` variance on the diagonal,
            the square of their ``inf`` standard error (and so are the
            contrasts that involve them, even those the data determine).

        Raises
        ------
        ValueError
            With sparse routing (``top_k < n_experts_``), whose log-likelihood
            is not differentiable where the selected experts change; for
            ``gate="gaussian"`` (whose EM maximizes the joint likelihood of X
            and y) and ``gate="hierarchical"``; after ``assignment="hard"``;
            for ``expert_estimator`` experts, which have no parameters to
            differentiate; and where the sample weights sum to 0.

        Notes
        -----
        Softmax gates are invariant to adding one number to every expert's
        coefficients, and logistic experts to adding one to every class's: the
        coefficients are stored centred (each column of ``gate_coef_``, and
        ``gate_intercept_``, sums to zero over the experts, each expert's
        ``expert_coef_`` and ``expert_intercept_`` over the classes) and the
        standard errors are those of these centred coefficients, from the
        information within that subspace. For two classes, the centred
        coefficients are ``+-beta / 2`` for ``LogisticRegression``'s ``beta``,
        so their standard errors are half of ``beta``'s; for two experts, the
        gate's log-odds of expert 1 against expert 0 is ``2 * gate_coef_[1]``.
        A tied variance (``variance_type="tied"``) is one parameter. The
        variance of a contrast ``c @ theta`` of the raveled parameters is
        ``c @ covariance @ c``: with three experts, the gate intercept's
        log-odds of expert 2 against expert 0 is ``gate_intercept_[2] -
        gate_intercept_[0]``, and its variance ``cov[2, 2] + cov[0, 0] - 2 *
        cov[0, 2]`` (adding the two variances alone understated its standard
        error by 21%).

        The Hessian is computed by central differences of the analytic
        gradient, ``2 P`` passes over the data for P parameters, each of a
        cost that grows with P (the time grows about as the rows times P
        squared: on 2 cores, 0.29 s for a regressor of 4 experts on 2e4 rows
        of 8 features, 3.6 s for a classifier of 4 experts and 10 classes on
        1e4 rows, ``benchmarks/inference_costs.py``), in units of
        the standardized features (and of each Gaussian expert's noise;
        relative error about 1e-8), in float64 on
        the CPU whatever the fit's device. Where the information, within the
        identified subspace and in those units, is at most 1e-8 per unit
        weight along a coordinate, or, with every coordinate scaled to unit
        information, has an eigenvalue at most 1e-8 times its largest
        (singular or not positive definite: a constant or duplicated feature
        with ``alpha=0``, an expert no sample supports, separated classes, or
        a fit that did not reach a maximum), or where a variance or
        dispersion sits on its floor (a bound, not a maximum: a negative
        binomial expert at the Poisson limit), a warning names the affected
        parameters and their standard errors are ``inf``; the others are
        computed on the remaining directions. The standard errors condition
        on the fitted labelling of the experts and do not account for
        ``balance_coef``: a fit with ``balance_coef > 0`` maximizes the
        likelihood less its load-balancing loss, and where that moved it off
        the likelihood's maximum, the warning described below says so.

        They are those of a maximum: where a Newton step from the fitted
        parameters (within the directions the information determines) would
        move them more than 0.1 standard errors, jointly, or the likelihood
        curves up along a direction, a warning says so.
        EM's default ``tol`` can stop it that far short, along directions where
        the likelihood is flat: fit with ``tol=1e-8`` before taking standard
        errors (smaller for large data: the step grows as the square root of
        the total weight), by EM (Adam's epochs stop short at any ``tol``),
        or with ``acceleration="squarem"``, which often gets nearer at the
        default ``tol`` (on scikit-learn's standardized diabetes data with two
        experts, five seeds: after SQUAREM one fit warned, after EM all five;
        with ``n_init=1``, all five either way).
        The sample weights count rows (frequency weights, as
        flexmix's): multiplying them by c divides the standard errors by
        ``sqrt(c)``, while the fit is unchanged.

        Examples
        --------
        Two crossing lines, mixed in equal shares (a mixture of regressions):

        >>> import numpy as np
        >>> from skmoe import MoERegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(0, 10, size=(300, 1))
        >>> line = rng.rand(300) < 0.5
        >>> y = np.where(line, 5 * X[:, 0], 40 - 3 * X[:, 0])
        >>> y = y + 3 * rng.standard_normal(300)
        >>> reg = MoERegressor(n_experts=2, gate="constant", alpha=0, random_state=0)
        >>> reg = reg.fit(X, y)
        >>> np.round(reg.expert_coef_[:, 0], 2)
        array([-3.17,  4.93])
        >>> se = reg.std_errors(X, y)
        >>> np.round(se.expert_coef_[:, 0], 3)
        array([0.09 , 0.083])
        >>> se.expert_variance_.shape == reg.expert_variance_.shape
        True
        """
        self._refuse_std_errors()
        return self._std_errors(X, y, sample_weight, groups, return_cov=return_cov)

    def _refuse_std_errors(self):
        """Raise where std_errors is not available for the fitted model, before
        the data are checked or warned about."""
        check_is_fitted(self)
        if hasattr(self, "experts_"):
            raise ValueError(
                "std_errors is not available for experts given by "
                "expert_estimator: they are scikit-learn estimators, not "
                "parameters with a likelihood to differentiate."
            )
        if isinstance(self._fitted_gate(), GaussianGate):
            raise ValueError(
                "std_errors is not available for gate='gaussian': it differentiates "
                "the conditional log-likelihood, which this gate's EM does not "
                "maximize (it maximizes the joint one of X and y). Refit with "
                "gate='softmax' or gate='constant' for standard errors."
            )
        if isinstance(self._fitted_gate(), HierarchicalGate):
            raise ValueError(
                "std_errors is not available for gate='hierarchical', whose "
                "top and within-group gates are each determined only up to a "
                "shift of their columns, which std_errors does not account for. "
                "Refit with gate='softmax', or take bootstrap standard errors "
                "(see the user guide's recipes)."
            )
        if getattr(self, "_fitted_assignment", "soft") == "hard":
            raise ValueError(
                "std_errors is not available for a fit with assignment='hard': it "
                "differentiates the mixture's log-likelihood, whose maximum "
                "classification EM does not reach (its estimates maximize the "
                "classification likelihood). Refit with assignment='soft', or "
                "take bootstrap standard errors (see the user guide's recipes)."
            )
        if self._top_k() is not None:
            raise ValueError(
                f"std_errors needs a dense gate; this model routes each sample to "
                f"its top_k={self._fitted_top_k} of n_experts_={self.n_experts_} "
                "experts, whose log-likelihood is not differentiable where the "
                "selected experts change. Refit with top_k=None for standard "
                "errors."
            )

    def _std_errors(self, X, y, sample_weight, groups=None, return_cov=False, **target):
        # (the callers have run _refuse_std_errors, which checks the fit)
        _refuse_lazy_frames(X=X, y=y, sample_weight=sample_weight, groups=groups)
        self._refuse_times(None, y, sample_weight)  # (X: as predict's, below)
        X, _ = self._validate_X_predict(X, "std_errors")
        # C order: the features' offset below sums in memory order (as fit's)
        X_host = to_numpy(X).astype(np.float64, order="C")
        Y = self._encode_target(host(y), X_host, fitting=False, **target)
        unweighted = sample_weight is None
        sample_weight = _check_sample_weight(
            host(sample_weight), X_host, dtype=np.float64, ensure_non_negative=True
        )
        _check_weight_scale(sample_weight)
        if unweighted and getattr(self, "class_weight", None) is not None:
            # the Hessian of the unweighted likelihood at the class-weighted
            # optimum matched no usual standard error (0.069 where the weighted
            # one is 0.073 and the sandwich 0.078)
            _warn_user(
                "This model was fitted with class_weight, and std_errors weighs "
                "the rows by its own sample_weight alone (none here): its "
                "standard errors are not the fit's. Pass the weights the fit used "
                "as sample_weight: sklearn.utils.class_weight.compute_sample_weight("
                "class_weight, y) for a fit without sample weights; for one with "
                "them, the sample weights times each row's class weight, from "
                "compute_class_weight(class_weight, classes=model.classes_, y=y, "
                'sample_weight=...) ("balanced" counts the classes by the sample '
                "weights)."
            )
        grouping = self._predict_groups(groups, X_host, "std_errors", sample_weight)
        if grouping is not None:
            self._check_group_weights(grouping, sample_weight)
            if not getattr(self, "_fitted_groups", False):
                _warn_user(
                    "std_errors: groups given for a model fitted without them; "
                    "the Hessian of the groups' log-likelihood is taken at the "
                    "rows' fit, which is not its maximum. Fit with groups for "
                    "their standard errors."
                )
        rows = np.flatnonzero(sample_weight > 0)
        if rows.shape[0] < sample_weight.shape[0]:
            # left out, as fit leaves them: their 0 * inf (a row far off) made
            # the Hessian NaN, and every standard error inf
            X_host, Y, sample_weight = X_host[rows], Y[..., rows], sample_weight[rows]
            if grouping is not None:
                grouping = grouping.take(rows)
        # NaN or inf that sklearn.set_config(assume_finite=True) let through
        # made the information NaN: every standard error inf, and a warning
        # that blamed the data's design
        _check_infinite(np, X_host, "X")
        _check_infinite(np, Y, "y")
        offset = np.asarray(_feature_offset(X_host, sample_weight))
        experts, _ = self._experts_from_attributes()
        design, own_gate_design = self._designs(np, X_host, offset, experts)
        # the fitted gate's, whatever set_params has made of ``gate`` since
        gate_params, expert_params = self._fitted_start(
            np, design, offset, conform=False
        )
        Y, expert_params = self._inference_target(Y, expert_params, sample_weight)
        problem = EMProblem(
            design,
            Y,
            sample_weight,
            self._fitted_gate(),
            experts,
            getattr(self, "_fitted_alpha", float(self.alpha)),
            None,
            own_gate_design,
            grouping,
        )
        columns = {"gate": self._gate_columns, "expert": self._expert_columns}
        offsets = {
            group: _take_columns(np, offset, part, axis=0)
            for group, part in columns.items()
        }
        with blas_threads(problem.design):  # its 2P gradients, as fit's E-steps
            layout, se, degenerate, n_degenerate, newton_step, n_curving_up, cov = (
                standard_errors(
                    problem, gate_params, expert_params, offsets, covariance=return_cov
                )
            )
        se[degenerate] = np.inf
        unidentified = degenerate  # (the name is the warning's text below)

        def attributes(packed):
            """The fitted attributes' shapes of a vector in ``layout``."""
            parts: dict = {"gate": {}, "expert": {}}
            start = 0
            for group, name, shape in layout:
                size = int(np.prod(shape))
                value = packed[start : start + size].reshape(shape)
                if name == "coef":
                    value = expand_rows(value, columns[group], self.n_features_in_)
                parts[group][name] = value
                start += size
            gate_coef = parts["gate"]["coef"]
            out = {
                "gate_intercept_": gate_coef[0].copy(),
                "gate_coef_": gate_coef[1:].T,
            }
            scratch = Bunch()
            type(self)._set_expert_attributes(scratch, experts, parts["expert"])
            experts_part = {k: v for k, v in scratch.items() if k.endswith("_")}
            # coefficients first, as documented (the Gamma experts set their
            # dispersion first)
            for name in ("expert_intercept_", "expert_coef_"):
                if name in experts_part:
                    out[name] = experts_part.pop(name)
            out.update(experts_part)
            return out

        out = attributes(se)
        # one warning: its parameters' inf standard errors, where the fit is
        # short of a maximum, have that cause (two warnings for one cause)
        stationary = newton_step <= STATIONARY_TOL and not n_curving_up
        message = (
            None
            if stationary
            else self._not_stationary_message(newton_step, n_curving_up)
        )
        if n_degenerate:
            degenerate = self._degenerate_message(out, n_degenerate, stationary)
            message = degenerate if message is None else f"{message} {degenerate}"
        if message is not None:
            _warn_user(message)
        result = Bunch(**{name: self._like(X, value) for name, value in out.items()})
        if return_cov:
            # each attribute entry's position in the packed vector, 1-based (0
            # where the attribute has no parameter, a feature a part does not
            # see): the estimated entries only (a model of 2 of 1500 features
            # gave a 6006 x 6006 matrix of 10 nonzero rows)
            cov, estimated = cov
            index = attributes(np.arange(1.0, se.shape[0] + 1.0))
            position = np.concatenate([np.ravel(index[name]) for name in out])
            names = [
                f"{name}[{', '.join(map(str, at))}]"
                for name in out
                for at in np.ndindex(*np.shape(out[name]))
            ]
            free = np.flatnonzero(np.isfinite(position) & (position > 0))
            free = free[estimated[position[free].astype(np.intp) - 1]]
            taken = position[free].astype(np.intp) - 1
            full = cov[np.ix_(taken, taken)]
            undetermined = unidentified[taken]
            full[undetermined, :] = np.nan
            full[:, undetermined] = np.nan
            full[undetermined, undetermined] = np.inf
            # in float64 where the device has it: float32 rounding of the
            # covariances of intercepts far from the data made a contrast's
            # variance -12 times float64's
            if not is_numpy_array(X):
                xp = array_namespace(X)
                full = xp.asarray(full, dtype=widest_float(xp, X), device=device_of(X))
            result["covariance"] = full
            result["parameters"] = [names[i] for i in free]
        return result

    def _inference_target(self, Y, expert_params, sample_weight):
        """The encoded target and the experts' parameters :meth:`std_errors`
        differentiates at: an equivalent form of the fitted model that keeps
        its finite differences precise (unchanged by default)."""
        return Y, expert_params

    def _squarem_advice(self) -> str:
        """Where EM could be accelerated and was not: the words that say so."""
        if (
            getattr(self, "_fitted_solver", self.solver) != "em"
            or getattr(self, "_fitted_acceleration", self.acceleration) is not None
            or self.top_k is not None
            or self._estimator_experts()
        ):
            return ""
        # (breast cancer, two experts, tol=1e-8: plain EM stopped at
        # max_iter=500 and at 2000, SQUAREM converged in 220 iterations)
        return (
            ", best with acceleration='squarem', which gets nearer it in "
            "far fewer steps"
        )

    def _not_stationary_message(self, newton_step, n_curving_up):
        """The warning that the parameters are not at a maximum of the
        objective ``std_errors`` differentiates (EM stopped short of it)."""
        solver = getattr(self, "_fitted_solver", self.solver)
        tol = getattr(self, "_fitted_tol", self.tol)
        # (the fit's max_iter: an EM fit stopped at max_iter=5, then
        # set_params(max_iter=1000), was advised as if L-BFGS's line search
        # had stopped it: "refit with solver='em' and a smaller tol")
        max_iter = getattr(self, "_fitted_max_iter", self.max_iter)
        balance = getattr(self, "_fitted_balance_coef", self.balance_coef)
        by_design = (
            f"by design: balance_coef={balance:g} adds a load-balancing loss to "
            "what it maximizes, whose maximum is not the likelihood's"
        )
        smaller = min(1e-8, tol / 1000) if tol > 0 else 1e-8
        streamed = vars(self).get("_streamed") or hasattr(self, "_sgd_random_state")
        if solver == "sgd" or streamed:
            # Adam's epochs, or partial_fit's steps: no tol reaches the maximum
            how = "by stochastic steps (solver='sgd' or partial_fit)"
            advice = f"refit with fit and solver='em' (tol={smaller:g})"
            if balance > 0:  # (which EM refuses: "refit with solver='em'" was)
                how = (
                    f"by stochastic steps (solver='sgd' or partial_fit) and {by_design}"
                )
                advice = (
                    f"refit with fit, solver='em' and balance_coef=0 (tol={smaller:g})"
                )
        elif not getattr(self, "converged_", True) and not math.isfinite(
            (getattr(self, "objective_history_", None) or [0.0])[-1]
        ):
            # its objective became NaN or inf (EM, whose sparse run returned
            # its best iterate before it, then pruned to top_k experts; an EM
            # finish of L-BFGS): the advice was "refit with solver='em'", to
            # an EM fit
            how = (
                f"where its objective became {self.objective_history_[-1]} at "
                f"iteration {self.n_iter_}, before tol={tol:g} held"
            )
            # (fit's own advice, _em.py, float32 fits' with "fit in float64")
            coef = getattr(self, "gate_coef_", None)
            narrow = coef is not None and to_numpy(coef).dtype != np.float64
            wider = ", fit in float64" if narrow else ""
            advice = (
                "rescale the features and y (e.g. with sklearn.preprocessing."
                f"StandardScaler){wider} or raise alpha, and refit"
            )
        elif balance > 0:
            # the fit maximized the likelihood less the load-balancing loss:
            # a converged one (balance_coef=2, two regimes, 600 rows: a Newton
            # step of 14 standard errors) was told to refit with a smaller
            # tol, an unconverged one with solver='em', which refuses it
            how = by_design
            advice = "refit with balance_coef=0"
        elif not getattr(self, "converged_", True) and self.n_iter_ >= max_iter:
            how = f"at max_iter={self.n_iter_}, before tol={tol:g} held"
            advice = "refit with a larger max_iter" + self._squarem_advice()
        elif not getattr(self, "converged_", True):  # (L-BFGS's line search)
            how = f"where the solver stopped, before tol={tol:g} held"
            advice = "refit with solver='em' and a smaller tol"
        else:
            how = f"on tol={tol:g}"
            advice = (
                f"refit with a smaller tol (tol={smaller:g}, and a larger "
                "max_iter if it then stops at max_iter)" + self._squarem_advice()
            )
        curving = (
            f"; along {n_curving_up} direction(s) the likelihood curves up"
            if n_curving_up
            else ""
        )
        return (
            f"std_errors: the fitted parameters are not at a maximum of the "
            f"likelihood on these data. Along the directions where the "
            f"likelihood curves down, a Newton step from them would move them "
            f"{newton_step:.2g} standard errors (jointly; the maximum can be "
            f"farther){curving}. Standard errors taken away from the maximum "
            f"can be off (by factors of 0.2 to 3.7 at 0.1 to 0.4 on a few "
            f"hundred rows), or inf. If these are the data and weights of the "
            f"fit, it stopped short of the maximum {how}: {advice} before "
            f"taking standard errors (the tol needed falls as the total weight "
            f"grows). A pruned model, or other data, are not at their maximum "
            f"either."
        )

    @staticmethod
    def _degenerate_message(out, n_degenerate, stationary=True):
        """The warning that the information is not positive definite, naming
        the parameters whose standard errors are therefore infinite; its
        causes where the fit is at a maximum (``stationary``), else what
        follows :meth:`_not_stationary_message`."""
        names = [
            f"{name}[{', '.join(map(str, index))}]"
            for name, value in out.items()
            for index in np.argwhere(np.isinf(value))
        ]
        shown = ", ".join(names[:8]) + (
            f" and {len(names) - 8} more" if len(names) > 8 else ""
        )
        consequence = (
            f"the data do not determine {shown}, whose standard errors are inf"
            if names
            else "no parameter's standard error is inf, but those near these "
            "directions are large and imprecise"
        )
        if not stationary:
            return (
                f"There, the observed information is singular or not positive "
                f"definite along {n_degenerate} direction(s): {consequence} "
                f"(the refit at the maximum may determine them; if not, a "
                f"constant or duplicated feature with alpha=0, an expert that "
                f"no sample supports, or separated or absent classes are the "
                f"usual causes)."
            )
        dispersion = any(name.startswith("expert_dispersion_") for name in names)
        variance = any(name.startswith("expert_variance_") for name in names)
        return (
            f"std_errors: the observed information is singular or not positive "
            f"definite along {n_degenerate} direction(s) (an information of at "
            f"most {DEGENERATE_TOL:g} per unit weight, or an eigenvalue at most "
            f"{DEGENERATE_TOL:g} times the largest with every parameter scaled "
            f"to unit information): {consequence}. Causes: a constant or "
            "duplicated feature with alpha=0, an expert that no sample supports, "
            "separated classes, a class absent from an expert's samples (whose "
            "intercept alpha does not bound: fewer experts)"
            + (
                ", a dispersion at its floor (for counts, no more spread than "
                "a Poisson's, which a Poisson expert fits)"
                if dispersion
                else ""
            )
            + (
                ", a variance at its floor (an expert that fits its samples "
                "exactly, a collapse, which fit warns of)"
                if variance
                else ""
            )
            + ", or a fit that did not reach a maximum; a larger alpha, fewer "
            "experts, a refit with a smaller tol (tol=1e-8) or another start "
            "may help."
        )
