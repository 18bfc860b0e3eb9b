"""Parameter and attribute text shared by the estimators' docstrings."""

import inspect

#: The gate entry, placed after ``n_experts`` as in the signature.
GATE_PARAMETER = (
    'gate : {"softmax", "constant", "gaussian", "hierarchical"}, default="softmax"\n'
    """        How the experts' weights depend on the input. ``"softmax"`` is the
        multinomial logistic gate of Jordan & Jacobs (1994); ``"constant"`` uses
        the same mixing proportions for every input (a mixture of regressions or
        latent-class model, as in R's flexmix and mixtools); ``"gaussian"`` is
        the localized gate of Xu, Jordan & Hinton (1995), ``g_k(x)``
        proportional to ``a_k N(x; m_k, S_k)``: each expert owns a Gaussian
        region of the input space with its own mean and full covariance, so an
        expert can take a bounded region (the middle of a range, a ball) that
        no linear boundary isolates. Its M-step is closed form, and EM then
        maximizes the joint likelihood of X and y (``objective_history_``); it
        is fitted by ``solver="em"`` only and has no :meth:`std_errors`.
        ``"hierarchical"`` is the two-level gate of Jordan & Jacobs'
        hierarchical mixture of experts (1994): the experts form
        ``ceil(sqrt(n_experts))`` groups of consecutive experts, a softmax gate
        chooses a group and a softmax gate per group an expert in it (``g_k =
        p_h(x) q_k(x)``), so that the input space is split as a tree; EM fits
        the top gate to the groups' summed responsibilities and each group's
        gate to its experts' (``gate_group_coef_`` and ``gate_coef_``). Each
        restart starts from a flat softmax fit whose experts are grouped as the
        top gate best separates them (EM cannot regroup them). With two experts
        (two groups of one) it is the softmax gate. Not with
        ``prune_threshold`` (the groups depend on the number of experts); no
        :meth:`std_errors`.

    gate_covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        ``gate="gaussian"`` only (other gates ignore it, and ``fit`` warns
        where it is set): the form of the
        experts' covariances, as scikit-learn's GaussianMixture's
        ``covariance_type``. ``"full"``: each expert its own; ``"tied"``: one
        for all (the boundaries are then linear: the softmax gate's family,
        fitted generatively, as linear discriminant analysis); ``"diag"``:
        diagonal, ``D`` variances per expert instead of ``D(D+1)/2``, for many
        features; ``"spherical"``: one variance per expert. A warm-start
        ``fit`` follows a changed ``gate_covariance_type`` (from the fitted
        covariances); :meth:`partial_fit` continues the fitted model's (and
        warns).

    gate_features : array-like of int, str or bool, default=None
        The features the gate sees (R flexmix's *concomitant variables*):
        column indices, feature names (for input with ``feature_names_in_``) or
        a boolean mask over the features; None: all of them. An empty list
        leaves the gate its intercepts, one mixing proportion per expert as
        ``gate="constant"`` has. The gate's coefficients on the other features
        are fixed at zero (``gate_coef_`` keeps all ``n_features_in_``
        columns), and :meth:`bic` counts only the free ones. Not with
        ``gate="constant"``, which sees no features. With ``gate="gaussian"``
        the densities are over these features (``gate_means_`` has one column
        per feature chosen).

    expert_features : array-like of int, str or bool, default=None
        The features the experts see, as ``gate_features``: for example the
        regressors of the experts' linear models, while the gate sees other
        variables that decide which regime a sample is in. An empty list leaves
        the experts their intercepts. The experts' coefficients on the other
        features are fixed at zero."""
)

#: ``shared_features``, of the estimators with linear (GLM) experts.
SHARED_FEATURES_PARAMETER = (
    "shared_features : array-like of int, str or bool, default=None\n"
    """        Expert features whose coefficients are the same in every expert
        (R flexmix's ``FLXMRglmfix(fixed=)``): column indices, feature names
        or a boolean mask, among ``expert_features``; None: none. The experts
        then differ in their intercepts and the other features' coefficients
        only, for example a common effect of a covariate across regimes.
        Their coefficients in ``expert_coef_`` are the same for every expert,
        and :meth:`bic` counts each shared coefficient once. Not with
        ``expert_estimator``. See :ref:`shared-coefficients`."""
)

#: The entries after ``n_init``.
SHARED_PARAMETERS = """init_params : {"mixed", "kmeans", "random"}, default="mixed"
        How each restart's responsibilities start. ``"kmeans"``: k-means on the
        standardized ``[X, y]`` (for Student's t experts, ``y`` clipped to its
        weighted 10% and 90% quantiles, so that outliers do not form a
        cluster); ``"random"``: a random expert per sample, with
        responsibility 0.9 (R flexmix's start); ``"mixed"``: k-means for the first
        restart and random for the others. k-means alone lands in the same poor
        optimum when regression lines cross, random starts alone are noisier on
        well-clustered data; mixing them works on both. With ``"mixed"``,
        :class:`~skmoe.MoERegressor` (Gaussian or Student's t experts) and
        :class:`~skmoe.MoEGammaRegressor` add one restart, from
        k-means of the ranks of ``y``, where the spreads of ``y``'s quantiles
        differ by orders of magnitude (see the user guide's Restarts).

    max_iter : int, default=500
        Maximum number of iterations per restart: EM iterations (SQUAREM
        cycles of up to three EM steps with ``acceleration="squarem"``),
        L-BFGS iterations for ``solver="gradient"``, epochs for
        ``solver="sgd"``.

    tol : float, default=1e-5
        Convergence threshold on the change of the per-sample penalized
        log-likelihood between iterations (an absolute change, in nats per unit
        of sample weight, as ``GaussianMixture``'s ``tol``: for EM it does not
        depend on the units of ``y``; for Poisson and negative binomial experts
        EM multiplies it by the mean count where that is below 1, as their
        log-likelihood's changes shrink with it). EM stops at a change at most
        ``tol`` once three iterations in a row did not increase their change (a
        growing change is EM leaving a saddle point, as random starts over many
        samples do), and not while the responsibilities of a run from initial
        ones are still nearly uniform (for up to 100 iterations; not where
        the experts' log-likelihoods tie on every sample, as on a constant
        ``y``, where they cannot part), so a fresh run
        takes at least three iterations; one that would stop within six (soft
        EM, no ``top_k``) first takes six SQUAREM cycles from there and goes on
        where they gain more than ``100 * tol`` (EM crawling from its start, as
        on two moons: see :doc:`/user_guide/fitting`); a warm start stops at its
        first change at most ``tol``. ``solver="gradient"`` passes ``tol *
        1e-3`` to L-BFGS-B as its ``ftol``; ``solver="sgd"`` uses it with
        ``n_iter_no_change``.

    top_k : int or None, default=None
        Sparse gating: each sample is routed to its ``top_k`` experts of largest
        gate value, whose gate values are renormalized to sum to one; the others
        get exactly zero weight. ``None`` (or ``top_k >= n_experts``) mixes all
        experts: ``top_k >= n_experts`` fits and predicts as ``top_k=None``,
        without a warning (unlike scikit-learn's ``SelectKBest`` for ``k >
        n_features``), as a grid over ``n_experts`` with ``top_k`` fixed,
        ``n_experts="auto"`` (whose candidates start at 1) and pruning reach
        it as a matter of course, in every fold. With fewer, EM runs a
        truncated E-step (responsibilities outside each sample's top k are
        exactly 0; the dense gate is fitted to these sparse targets, so the
        log-likelihood is no longer guaranteed to rise at every iteration),
        and predictions evaluate only the selected experts of each
        sample, so their cost beyond the gate grows with ``top_k``, not with
        ``n_experts``. At few experts the routing costs more than it saves
        (200000 rows of 2 or 32 features, :class:`MoERegressor` and a 3-class
        :class:`MoEClassifier`, two runs: ``top_k=2`` predicted at 0.5 to 0.75
        times the dense model's speed with 4 experts, 0.75 to 1.4 times with
        16, 1.1 to 2.4 with 32 and 2.4 to 6.2 with 128;
        ``benchmarks/topk_few_experts.py``).
        Not with ``gate="constant"`` (nor a softmax gate on no features): a
        gate that sees no features would select the same experts for every
        sample. ``top_k=1`` routes each
        sample by the gate alone (the truncated E-step then cannot use y to
        move samples between experts: y enters through the start only, and
        ``gate="gaussian"`` moves its boundaries toward a clustering of X);
        prefer ``top_k >= 2`` for fitting, or fit with ``top_k=None`` and
        refit with ``top_k=1`` and ``warm_start=True`` (three regimes: test
        R^2 0.60 to 0.87 from cold fits, 0.93 to 0.98 refitted so; see
        :doc:`/user_guide/gates_and_experts`).
        ``top_k=1`` of several experts is refused with ``solver="gradient"``
        or ``"sgd"``: the likelihood's gradient in the gate is then 0, so they
        cannot train it.

    prune_threshold : float, default=0.0
        During fitting, remove the least used expert whenever its share of the
        training data (its mean responsibility, see ``expert_usage_``) is below
        this value, one expert at a time (flexmix's ``minprior``, similar, removes
        all such components at once; its default is 0.05). With ``groups`` the
        share is of the groups, each counted once, as flexmix's prior.
        ``0.0``, the default, disables pruning, so that ``n_experts`` means
        what it says (model selection over ``n_experts`` and BIC stay
        meaningful) and a softmax gate
        may keep an expert for a small genuine regime; set about
        ``1 / (2 * n_regimes)`` to let a generous ``n_experts`` shrink to the
        regimes the data support. A threshold above ``1 / m`` leaves fewer
        than m experts whatever the data (m shares that sum to one cannot all
        exceed ``1 / m``): at 0.5, three regimes of a third each were fitted
        by one expert (training R^2 0.08). See also :meth:`prune_experts` for
        pruning a fitted model. Not with ``gate="hierarchical"``, whose groups
        depend on the number of experts. Online EM's ``partial_fit`` prunes
        in its first call only (EM on the first batch); its later calls
        update all the experts and drop none (they warn so, once; see
        :meth:`prune_experts`). Mini-batch Adam's (``solver="sgd"``) does not
        prune. A fit without pruning warns
        (:class:`~skmoe.exceptions.SpuriousExpertWarning`) where an expert of
        a share under 0.05 adds less to the log-likelihood than BIC charges
        for it.

    solver : {"em", "gradient", "sgd"}, default="em"
        How the penalized log-likelihood is maximized. ``"em"``: EM (no step size;
        monotone with a dense gate and no pruning). ``"gradient"``: full-batch
        L-BFGS on the same objective with its analytic gradient (Fisher's
        identity: one E-step per evaluation), from the same start as EM. EM is
        the reference: where L-BFGS-B stops at its ``ftol`` (``tol * 1e-3``),
        one EM step decides (without ``balance_coef``), and
        L-BFGS runs again from it where it gains more than ``tol``; where
        L-BFGS cannot climb at all (without ``balance_coef``), EM's steps
        finish the fit within ``max_iter`` (with ``top_k``, whose EM steps may
        lower the objective, only while each gains more than ``tol``, and
        L-BFGS runs again from the last); with ``balance_coef``, such a stop
        is converged where no step its line search tried gains more than
        ``tol``, and L-BFGS runs again from a stop by its test on f, which
        stands where that run gains at most ``tol``. It can
        still report ``converged_=True`` a little below EM's optimum (three
        regimes, 400 rows, default ``alpha``: up to 0.002 nats in total,
        ``benchmarks/solver_gap.py``) or at another local optimum (standardized
        wine, ``n_experts=2``: 0.31 below at the default ``tol``, 0.53 at
        ``tol=1e-12``); a lower ``tol`` with a larger ``max_iter`` narrows the
        gap. Elsewhere it gets as high or higher (iris and wine, 3 experts: a
        total log-likelihood 0.10 and 0.23 above EM's at the default ``tol``,
        which EM reaches at ``tol=1e-10``). With spare experts, whose gradients
        vanish, or with ``top_k`` (the objective jumps where the selected
        experts change) it may stop lower than EM. It accepts
        ``balance_coef``. ``"sgd"``: mini-batch Adam with ``batch_size`` and
        ``learning_rate``, ``max_iter`` epochs and early stopping on
        ``validation_fraction`` of the data; it accepts ``balance_coef`` and
        ``noisy_gating`` and provides :meth:`partial_fit`. The other solvers
        ignore ``batch_size``, ``learning_rate``, ``n_iter_no_change`` and
        (but for ``n_experts="auto"`` with ``expert_estimator``)
        ``validation_fraction``; ``fit`` warns where they are set, as
        scikit-learn's ``LogisticRegression`` warns of an ``l1_ratio`` it
        ignores, and so does the :meth:`partial_fit` call that starts a model
        (not its later calls), which never reads ``n_iter_no_change`` and
        ``validation_fraction`` (it has no early stopping).

    assignment : {"soft", "hard"}, default="soft"
        How ``solver="em"`` shares each sample among the experts. ``"soft"``:
        by its responsibilities (EM). ``"hard"``: classification EM (CEM,
        flexmix's ``classify = "CEM"``): each M-step fits the experts and the
        gate to the samples assigned wholly to their most probable expert.
        It maximizes the classification likelihood of the data and these
        assignments, which ``objective_history_`` then holds, by which the
        restarts are ranked, and on which EM's stop test runs
        (``log_likelihood_``, :meth:`bic` and so ``n_experts="auto"`` stay
        the mixture's, at the CEM estimates). Its estimates are biased where
        the experts overlap: each row goes to the nearer expert, which cuts
        off the tails (two crossing lines of slopes -1 and 2, 2e4 rows,
        constant gate: noise sds of 1 estimated 0.92 and 0.89, by EM 1.00 and
        1.00; of 1.5, one expert was left with no rows, which a warning
        says). From the
        partition it ends at, flexmix's CEM moves no row and its coefficients
        agree to 2e-10. It was not faster than EM either: on the demo's
        separable regimes it took 72 iterations to EM's 16 at 1e4 rows (the
        gate keeps sharpening on separable assignments), 19 to 16 at 1e5.
        Not with the gradient solvers; no :meth:`partial_fit` (online EM
        averages soft responsibilities) and no :meth:`std_errors` (the
        estimates do not maximize the mixture's likelihood).
        :class:`MoEClassifier` takes it with ``groups`` only (binomial
        responses: one group per observation of several trials): on rows of
        one label each, its experts each take the samples of one class and
        the gate classifies alone (on iris and wine, 3 experts, every expert
        held one class; on two classes of the demo's regimes, accuracy 0.52
        against EM's 0.78).

    acceleration : {None, "squarem"}, default=None
        ``"squarem"``: accelerate EM by SQUAREM (Varadhan & Roland 2008).
        Each iteration takes two EM steps, extrapolates along them, and takes
        one EM step from the extrapolated point, which it keeps only where
        its objective is at least that of the two EM steps: the objective
        still never falls. ``max_iter``, ``n_iter_`` and the histories count
        these cycles of three EM steps. EM crawls where the likelihood is
        flat along some direction (overlapping experts, count and Gamma
        mixtures), and its stop test at ``tol`` then ends short of the
        maximum; accelerated, the same ``tol`` ends nearer to it, mostly in
        fewer passes over the data (``benchmarks/squarem.py``; fits that EM
        settles in a few steps take longer). From the same start it may end
        at another local maximum, higher or lower. With ``solver="em"``
        only, and not with ``top_k`` or ``assignment="hard"`` (nor with
        ``expert_estimator``); :meth:`partial_fit` uses it only in the
        ``fit`` that online EM runs on a first batch large enough.

    balance_coef : float, default=0.0
        Weight c of the Switch Transformer load-balancing loss
        ``c * K * sum_k f_k P_k`` (f_k: share of samples whose top expert is k;
        P_k: mean gate probability of k), subtracted from the objective by the
        ``"gradient"`` and ``"sgd"`` solvers; it equals c when routing and
        gate probabilities are uniform, and its gradient pulls the gate
        towards even use (it can dip below c where the two are uneven in
        opposite ways). With ``solver="sgd"``, whose small steps follow it,
        raising it evens ``expert_usage_`` at some cost in likelihood. The
        loss jumps where a sample's top expert changes, and L-BFGS
        (``"gradient"``) steps across those jumps: it can stop where usage is
        uneven and report ``converged_=True`` (regimes of 25% and 75%, 3
        experts: at c=3 usage stayed 0.07/0.25/0.68, and the fit at c=10
        scored 0.6 nats per sample higher on c=3's own objective), so
        balance with ``"sgd"``. The ``n_init`` restarts are compared by the
        objective less this loss, the one the solvers maximize
        (``objective_history_`` records the objective without it). ``0``
        disables it; EM does not accept it.

    noisy_gating : bool, default=False
        With ``solver="sgd"``: add learned Gaussian noise
        ``eps * softplus(x~ . u_k)`` to the gate logits during training
        (noisy top-k gating, Shazeer et al. 2017), which spreads samples over
        experts early in training; prediction uses the noise-free gate.

    batch_size : int or "auto", default="auto"
        Mini-batch size of ``solver="sgd"`` and :meth:`partial_fit`. ``"auto"``:
        ``min(256, max(16, n // 10))`` for an epoch over n rows (the training
        rows, or a ``partial_fit`` batch), so that data of 160 rows or more get
        at least ten Adam steps per epoch (256 rows gave a test R^2 of 0.42 to
        0.81 on 300 samples of regime data, ``"auto"`` 0.88).

    learning_rate : float, default=0.01
        Adam step size of ``solver="sgd"`` and :meth:`partial_fit`, in
        standardized units: a coefficient's step is measured in units of
        ``1 / sqrt(std**2 + alpha)`` of its feature (for Gaussian experts,
        times the starting noise standard deviation), so the fit depends on
        the scales of the features and of ``y`` only through the penalty
        ``alpha``.

    validation_fraction : float, default=0.1
        Share of the training data (of its rows of positive weight)
        ``solver="sgd"`` holds out to decide early stopping (the best
        parameters on it are kept); ``0`` watches the training objective
        instead. The rows are drawn once per number of experts fitted (the
        restarts share them; for :class:`MoEClassifier`, per class, and never
        a class's last row), before the start, which
        leaves them out as the epochs do: the k-means or random start and its
        M-step see the other rows only, as ``MLPClassifier(early_stopping=True)``
        splits before fitting (on PCA-16 digits, a start fitted on all the rows
        scored best on them in 1 of 4 folds, one without them in none). Where
        no epoch beats the start on the held-out rows, the start is kept, and
        the run counts as converged if Adam improved the training objective:
        a ConvergenceWarning means that no epoch did. A warm start
        (``warm_start=True``) starts from the fitted model, which has seen the
        rows it then holds out. Also the share that ``n_experts="auto"`` holds
        out to choose the number of experts when they are
        ``expert_estimator``'s.

    n_iter_no_change : int, default=5
        ``solver="sgd"`` stops after this many epochs without an improvement of
        the watched objective by more than ``tol``.

    random_state : int, RandomState instance or None, default=None
        Controls the randomness of fitting: the restarts' initializations,
        ``solver="sgd"``'s mini-batches, gate noise and early-stopping split,
        the held-out split with which ``n_experts="auto"`` scores
        ``expert_estimator`` experts, the seeds of those experts' clones,
        and ``partial_fit``'s first partition and mini-batches. Pass an int for
        reproducible results, identical for any ``n_jobs`` and from one ``fit``
        to the next; a RandomState instance is drawn from (as by scikit-learn's
        estimators), so two fits with the same instance differ.

    warm_start : bool, default=False
        If True and the estimator is fitted, the next ``fit`` starts one run of
        the chosen ``solver`` from the current parameters (``n_init`` and
        ``init_params`` are ignored, and so is a changed ``n_experts``, with a
        warning: the fitted experts continue). The data must have the same
        features (and, for a classifier, the same classes). Where they cannot
        be continued, ``fit`` says so and fits as with ``warm_start=False``: a
        feature the gate or the experts use on another scale (a standard
        deviation 10 times larger or smaller than in the last fit) or moved (a
        mean moved by more than one of the last fit's standard deviations:
        the fitted regimes then lie away from the data, and a warm EM fit of two regimes
        moved by two ended at R^2 0.14 where a fresh one had 0.99; the means
        and deviations are weighted, so new ``sample_weight`` on the same rows
        can move them too, as can a growing window of a time feature), a
        regressor's ``y`` (a count model's rates, ``y / exposure``, weighted
        by the exposure, one below a tenth of the median taken as that tenth)
        on another scale (10 times, or a mean moved by 10 of its standard
        deviations: EM's warm fit of y times 300 ended at R^2 0.14 where a
        fresh one from the same seeds had 0.64), another
        ``expert_estimator`` than the fitted experts are clones of (its
        parameters changed), a non-finite log-likelihood, or a log-link
        model's means that overflow at training rows. A change of ``gate``
        (but between ``"softmax"`` and ``"constant"``, which continue the
        fitted intercepts: the constant gate drops the slopes, the softmax
        gate starts them at zero),
        or between ``expert_estimator`` and the built-in experts, raises
        a ValueError instead: there are no fitted parameters of that kind to
        continue; so do other ``gate_features`` for ``gate="gaussian"``
        (and other ``expert_features`` for ``expert_estimator``
        experts). Within those bounds the warm run continues from the fitted
        parameters and, like any run from one start, can end at a poorer
        optimum than a fresh fit where the data changed; a warm
        ``solver="sgd"`` fit of a ``y`` moved by a few of its standard
        deviations can end far from a cold fit's (Adam's steps are in units
        of the fitted noise). Fit such data with ``warm_start=False``.

    verbose : int, default=0
        0 prints nothing; 1 prints a line per restart and, with
        ``n_experts="auto"``, a line ``n_experts=K: training BIC ...`` per
        candidate (noting a collapsed fit, or a candidate not fitted for lack of
        samples); 2 also prints every iteration (log-likelihood, change, time).

    n_jobs : int, default=None
        Number of restarts run in parallel through joblib. ``None`` means 1 unless
        in a :obj:`joblib.parallel_backend` context; ``-1`` uses all processors.
        Restarts on a GPU or another Array API namespace run one after another.

    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where NumPy input is computed. ``"cuda"`` moves X, y and the weights to
        the GPU once per fit (through CuPy: ``pip install ".[gpu]"`` in the source
        checkout), runs every iteration there and stores the fitted attributes as
        NumPy arrays, so that the model pickles and predicts anywhere; it raises
        if no GPU is usable. ``"auto"`` uses the GPU when one is usable and the
        CPU otherwise. With either, predictions use the GPU when one is usable
        (in chunks of rows whose per-expert temporaries take about 256 MiB) and
        the CPU otherwise. Input from another Array
        API namespace (with ``sklearn.set_config(array_api_dispatch=True)``) is
        computed in its own namespace and device, and outputs and fitted
        attributes are returned in it."""

SHARED_ATTRIBUTES = """gate_coef_ : ndarray of shape (n_experts_, n_features_in_)
        Gate coefficients v_k. All zeros for ``gate="constant"``; not set for
        ``gate="gaussian"``; for ``gate="hierarchical"``, those of the gates
        within the groups (expert k's logit among its group's experts; zeros
        for an expert alone in its group, as both of two experts are).

    gate_intercept_ : ndarray of shape (n_experts_,)
        Gate intercepts; for ``gate="constant"``, ``softmax(gate_intercept_)`` are
        the mixing proportions. Not set for ``gate="gaussian"``; within the
        groups for ``gate="hierarchical"``.

    gate_group_coef_ : ndarray of shape (n_groups, n_features_in_)
        ``gate="hierarchical"`` only: the top gate's coefficients u_h, one row
        per group of experts (``n_groups = ceil(sqrt(n_experts_))``, group h
        holding experts ``h * n_experts_ // n_groups`` to ``(h + 1) *
        n_experts_ // n_groups - 1``).

    gate_group_intercept_ : ndarray of shape (n_groups,)
        ``gate="hierarchical"`` only: the top gate's intercepts.

    gate_weights_ : ndarray of shape (n_experts_,)
        ``gate="gaussian"`` only: the mixing proportions a_k (they sum to one).

    gate_means_ : ndarray of shape (n_experts_, n_gate_features)
        ``gate="gaussian"`` only: the means m_k of the experts' regions, over
        the gate's features (``gate_features``, all features by default) in
        the order of X's columns, whatever the order ``gate_features`` lists
        them in.

    gate_covariances_ : ndarray
        ``gate="gaussian"`` only: the covariances S_k of the experts' regions,
        with ``1e-6`` of each feature's variance added to their diagonals (and,
        where rounding in float32 leaves one not positive definite, at most
        ``4.8e-3`` of its own diagonal), in GaussianMixture's shapes by
        ``gate_covariance_type``: ``(n_experts_,
        n_gate_features, n_gate_features)`` if ``"full"``, ``(n_gate_features,
        n_gate_features)`` if ``"tied"``, ``(n_experts_, n_gate_features)`` if
        ``"diag"`` (the variances) and ``(n_experts_,)`` if ``"spherical"``.

    gate_precisions_cholesky_ : ndarray
        ``gate="gaussian"`` only: Cholesky factors of the inverses of
        ``gate_covariances_`` (upper triangular, ``S_k^-1 = U_k U_k^T``), of
        its shapes, as GaussianMixture's ``precisions_cholesky_``; what
        predictions read.

    log_likelihood_ : float
        Total (sample-weighted) conditional log-likelihood ``sum_i w_i log p(y_i |
        x_i)`` of the training data under the fitted model; fitted with
        ``groups``, the groups' ``sum_g w_g log p(y_g | x_g)``, each group's
        rows from one expert.

    log_likelihood_history_ : list of float
        The total (unpenalized) log-likelihood, as ``log_likelihood_``, after
        each iteration (epoch, for ``solver="sgd"``) of the kept run, up to
        its last. ``solver="sgd"`` returns the parameters of its best epoch on
        the watched data (early stopping's held-out rows), up to
        ``n_iter_no_change`` epochs before the last, and EM with ``top_k``
        (from a fresh start, not a warm one) those of its iteration of the
        highest objective since the last pruning, or its start where no
        iteration beat it: the last entry then describes the last
        iteration, not the returned model, whose log-likelihood is
        ``log_likelihood_`` (``converged_`` is the stop test's at the last
        one). For ``solver="sgd"`` the returned epoch's
        entry is ``log_likelihood_history_.index(log_likelihood_)``; none where
        no epoch beat the start, which is then returned.

    objective_history_ : list of float
        Per-sample penalized log-likelihood after each iteration of the kept run
        (equal to ``log_likelihood_history_`` divided by the weight sum when
        ``alpha=0`` and ``assignment="soft"``). As there, the last entry is
        the last iteration's, not the returned model's where ``solver="sgd"``
        stopped early (or EM with ``top_k`` kept an earlier iteration):
        compare solvers by the returned model's, for ``solver="sgd"``
        ``objective_history_[log_likelihood_history_.index(log_likelihood_)]``
        (no entry holds it where no epoch beat the start, which is then
        returned: ``index`` raises a ValueError).
        It never includes the load-balancing loss: with ``balance_coef`` the
        ``"gradient"`` and ``"sgd"`` solvers maximize the objective less that
        loss (by which the restarts are compared), but record the objective
        without it. EM with a dense gate and
        no pruning never decreases it; otherwise (``top_k``, a pruning step,
        the ``"gradient"`` and ``"sgd"`` solvers, and
        :meth:`partial_fit`, whose entries each score another batch) nothing
        guarantees that. In float32 it may fall by rounding, about 1e-7 of its
        size near convergence, so a ``tol`` below that can run to
        ``max_iter``. With ``gate="gaussian"`` it adds ``log p(x)``, the
        gate's density of the inputs: EM maximizes the joint likelihood of X
        and y, and ``log_likelihood_history_`` (of y given X) may fall at an
        iteration. With ``assignment="hard"`` it is the penalized
        classification log-likelihood per sample, ``log(g_z(x) p_z(y | x))``
        at each sample's assigned expert z, which EM with a dense gate and no
        pruning never decreases either.

    n_iter_ : int
        Number of iterations of the kept run: EM iterations; for
        ``solver="gradient"``, L-BFGS iterations and the EM steps that check
        its stops (each with its entry in the histories); epochs for
        ``solver="sgd"``. Each :meth:`partial_fit` call adds one (to the
        count of a :meth:`fit` it continues); online EM's first batch, fitted
        by EM, counts that fit's iterations, and a call that starts the model
        again on the rows kept from too small first batches counts 1. The
        steps a restart takes before its run are not counted (nor in the
        histories): ``gate="hierarchical"``'s flat softmax start, and the 20
        steps of ``noise="student_t"`` experts at the initial
        responsibilities (one Student-t expert can converge in them, and
        report 3 iterations). Nor are the SQUAREM cycles that check an early
        stop of EM (see ``tol``: up to six cycles of three EM steps each, with
        no entry in the histories); where EM goes on from their end, the next
        entry's change is from there. So ``n_iter_`` never exceeds
        ``max_iter`` and counts the histories' entries, not the M-steps run:
        on two moons (5000 rows, noise 0.1, standardized, seed 0)
        ``MoEClassifier(2, random_state=0)`` reported 39 iterations after 57
        M-steps.

    converged_ : bool
        Whether the kept run converged before ``max_iter``. With
        ``solver="gradient"`` and ``top_k``: L-BFGS stopped where one EM
        step, and a run of L-BFGS again, gain at most ``tol`` (the EM step may
        lower the objective, which jumps where the routing changes, and EM
        run on may still end higher; the user guide's Fitting page). False after a
        :meth:`partial_fit` step, which tests no convergence (as
        scikit-learn's ``partial_fit``), also on a batch of a few rows; online
        EM's first batch, fitted by EM, gives that fit's.

    n_experts_ : int
        Number of experts kept (``n_experts``, or the number ``"auto"`` chose,
        less those pruned).

    n_experts_bic_ : ndarray of shape (n_candidates,)
        BIC on the training data, ``-2 l + p log(n)``, of the best run for each
        candidate number of experts (with sample weights, ``l`` is computed with
        the weights rescaled to sum to n, the number of samples with a positive
        weight, so that the weights' scale does not matter; ``bic(X, y,
        sample_weight=...)`` with the fit's weights gives the fitted
        candidate's entry). With
        ``n_experts="auto"``, entry ``K - 1`` for ``K`` experts, ``K`` = 1 to 4
        (fewer where fewer samples have a positive weight); with an integer
        ``n_experts``, a single entry (shape ``(1,)``) for that number. With
        ``"auto"``, ``inf`` for a candidate with more than one expert whose fit
        collapsed, so that it is never chosen: a Gaussian expert fitting
        samples with fewer than 2 distinct values of y per parameter of its
        own almost exactly (the variance of its residuals under 1e-6 times that
        of y; values closer than their standard deviation over its effective
        number of rows count as one, closer than that standard deviation
        itself where it has no more distinct rows of X than coefficients:
        copies, a spike of equal values), or an expert
        handling fewer than 2 samples per parameter of its own (not counting
        coefficients of ``shared_features``; where a few rows carry most of
        its sample weight, the effective number ``(sum w r)^2 / sum (w
        r)^2``; it can then fit its few points almost exactly, and the
        likelihood rewards that); ``inf`` too for any candidate whose every
        restart broke down (NaN parameters) or whose log-likelihood is not
        finite.
        With ``"auto"``, the candidates draw their restarts one after another
        from one shared random state, so the entry for ``K >= 2`` can differ
        from the BIC of a separate fit with ``n_experts=K`` and the same
        ``random_state``, which draws its restarts first; one
        ``np.random.RandomState`` instance passed to the fits of ``K`` = 1, 2,
        ... in turn makes the same draws.
        Removed by a ``warm_start`` refit, by ``partial_fit`` and from
        :meth:`prune_experts`' copy, which choose no number of experts.

    n_experts_scores_ : ndarray of shape (n_candidates,)
        Only for ``n_experts="auto"`` with ``expert_estimator`` (whose experts
        have no parameter count for BIC; ``n_experts_bic_`` is then NaN): the
        mean log-likelihood (weighted by ``sample_weight``), on a random
        ``validation_fraction`` of the samples of positive weight, of each
        candidate K fitted on the others alone (as a fit without the
        held-out samples; :class:`MoEClassifier`'s keep them with weight 0,
        so that its clones know every class); ``-inf`` for a K above the
        number of samples left to fit. Collapsed fits are not passed over:
        held-out samples score them.
        ``n_experts_`` is the fewest experts within one standard error of the
        best (of the per-sample differences) plus ``tol``, Breiman's
        one-standard-error rule. Held-out samples that a candidate
        scores ``-inf``, or that every candidate scores more than 50 nats
        below its median held-out sample's (times the narrowest
        interquartile range of the candidates' held-out scores over a
        Gaussian's, 0.61 nats, where wider: counts' spread with the
        counts) (far outliers: one y 1000 off,
        at a noise of 0.3, scored finitely, outweighed the other 19 and
        chose one expert for two regimes), say nothing of which is better
        and would decide alone: they are left out of the comparison and of
        these scores, with a warning;
        where that is all of them, there is nothing to compare: a warning
        says so, the scores are ``-inf``, and the fewest experts are kept. Fitted
        with ``groups``, whole groups are held out (``validation_fraction`` of
        the groups) and the differences are the groups'. Removed, as
        ``n_experts_bic_`` is, by a ``warm_start`` refit and from
        :meth:`prune_experts`' copy.

    expert_usage_ : ndarray of shape (n_experts_,)
        Share of the (weighted) training data each kept expert handles: its
        mean responsibility ``sum_i w_i r_ik / sum_i w_i`` under the fitted
        model (with the sparse gate if ``top_k``). Sums to one; at an EM
        optimum with a softmax gate it equals the mean gate value. With
        ``groups``, each row carries its group's responsibilities, and the
        gate's mean is over the groups instead (one-row subjects beside
        subjects of 20 rows: 0.045 of the rows, 0.48 of the groups), which
        ``prune_threshold`` compares; :meth:`prune_experts` compares this.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit. Defined only when ``X`` has feature
        names that are all strings."""


#: The penalty's meaning, for each estimator's own ``alpha`` entry.
ALPHA_MEANING = """L2 penalty per sample on the gate and expert coefficients
        (intercepts are not penalized): the objective is the mean weighted
        log-likelihood minus ``alpha / 2`` times the penalty, the squared norm
        of the gate coefficients plus that of the experts' coefficients (for
        Gaussian experts, each expert's divided by its noise variance:
        ``||b_k||^2 / s2_k``), so ``alpha`` means the same at any number of
        samples. ``0.0`` gives maximum likelihood. It does not penalize
        ``gate="gaussian"``, whose covariances are regularized instead."""


#: What the shared text says of ``expert_estimator``, left out of the
#: docstring of an estimator without it (MoENegativeBinomialRegressor's
#: described a parameter and an attribute it does not have).
ESTIMATOR_EXPERTS_TEXT = (
    """ Not with
        ``expert_estimator``.""",
    """
        (but for ``n_experts="auto"`` with ``expert_estimator``)""",
    """ (nor with
        ``expert_estimator``)""",
    """
        the held-out split with which ``n_experts="auto"`` scores
        ``expert_estimator`` experts, the seeds of those experts' clones,""",
    """ another
        ``expert_estimator`` than the fitted experts are clones of (its
        parameters changed),""",
    """,
        or between ``expert_estimator`` and the built-in experts,""",
    """
        (and other ``expert_features`` for ``expert_estimator``
        experts)""",
    """ Also the share that ``n_experts="auto"`` holds
        out to choose the number of experts when they are
        ``expert_estimator``'s.""",
    SHARED_ATTRIBUTES[
        SHARED_ATTRIBUTES.index("    n_experts_scores_ :") : SHARED_ATTRIBUTES.index(
            "    expert_usage_ :"
        )
    ],
)


#: The Raises section of the count models' ``predict`` (a method's indent).
COUNT_PREDICT_RAISES = """ValueError
            "the model's outputs overflow" where the gate's or the experts'
            outputs at some rows of X are beyond the floats of the dtype they
            are computed in (X far from the training data, or an expert's
            extreme predictions); "the predictive standard deviation
            overflows" where the standard deviation does and the means do not
            (``return_std``); "the predicted counts at these exposures
            overflow" where the means at the exposures are beyond that dtype
            and the means per unit exposure are not; "exposure has values
            outside float32's range" where float32 X given to a float32 model
            has exposures below float32's smallest normal number or above its
            largest."""

#: The Raises section of the count models' ``predict_distribution``.
COUNT_DISTRIBUTION_RAISES = """ValueError
            "the model's outputs overflow" where the gate's or the experts'
            outputs at some rows of X are beyond the floats (X far from the
            training data, or an expert's extreme predictions), and "exposure
            has values outside float32's range", as :meth:`predict` raises
            them. "the predicted counts at these exposures overflow" where a
            row's mean count at its exposure is beyond float64, as
            :meth:`predict` raises where it is beyond the model's dtype (a
            float32 model's distribution, computed in float64, serves counts
            beyond float32). An expert whose gate weight underflowed to 0
            takes part in the mean where :meth:`predict` keeps it: where its
            share per unit exposure, times ``min(exposure, 1)``, is a float of
            the model's dtype (a weight of e^-800 beside a mean per unit
            exposure of e^1500: at an exposure of e^20 its counts' share,
            e^720, raises rather than leave the mean to the other experts'
            count)."""

#: The placeholders of class docstrings and their text.
CLASS_TEXT = {
    "{{gate_parameter}}": GATE_PARAMETER,
    "{{shared_parameters}}": SHARED_PARAMETERS,
    "{{alpha_meaning}}": ALPHA_MEANING,
    "{{shared_features_parameter}}": SHARED_FEATURES_PARAMETER,
    "{{shared_attributes}}": SHARED_ATTRIBUTES,
}

#: The placeholders of method docstrings (indented as a method's) and their text.
METHOD_TEXT = {
    "{{count_predict_raises}}": COUNT_PREDICT_RAISES,
    "{{count_distribution_raises}}": COUNT_DISTRIBUTION_RAISES,
}


def _filled(doc, texts):
    """``doc`` with each placeholder of ``texts`` replaced by its text."""
    for placeholder, text in texts.items():
        doc = doc.replace(placeholder, text)
    assert "{{" not in doc, doc  # (a placeholder misspelled or unknown)
    return doc


def fill_doc(cls):
    """Substitute the shared text into a class docstring and into those of the
    methods the class defines (each method's help stands alone)."""
    cls.__doc__ = _filled(cls.__doc__, CLASS_TEXT)
    for method in vars(cls).values():
        doc = getattr(method, "__doc__", None)
        if inspect.isfunction(method) and doc is not None and "{{" in doc:
            method.__doc__ = _filled(doc, METHOD_TEXT)
    if "expert_estimator" not in inspect.signature(cls).parameters:
        for text in ESTIMATOR_EXPERTS_TEXT:
            assert text in cls.__doc__, text
            cls.__doc__ = cls.__doc__.replace(text, "")
    return cls
