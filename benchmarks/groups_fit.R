# Mixture of two regressions y ~ x | g with repeated measurements: every row of a
# group g comes from the same component. Gaussian components, each with its own
# noise variance, with fixed priors ("gaussian") or a multinomial gate on the
# group-level z (FLXPmultinom(~ z), "gated"); Poisson components with the log
# link ("poisson"); binomial ones with the logit link on a 0/1 y ("binomial":
# flexmix's binomial family takes the response as the two columns successes,
# failures, so cbind(y, 1 - y) ~ x | g). Best of 5 random starts. Then refit()
# maximizes the likelihood by optim from that fit and inverts its Hessian (the
# standard errors of summary(refit(fit))).
# Prints, in flexmix's component order: the intercepts, slopes on x, noise sds,
# priors, the gate's log-odds of component 2 against 1 (alpha for fixed priors;
# (Intercept), z for the gated data) with refit's standard errors, refit's
# standard errors of the slopes, logLik's df and nobs, BIC, and the number of R
# warnings raised while fitting and refitting.
# Usage: Rscript groups_fit.R data.csv gaussian|gated|poisson|binomial
#        (columns y, x, g, and z for "gated")
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
kind <- args[2]
stopifnot(kind %in% c("gaussian", "gated", "poisson", "binomial"))
family <- if (kind == "gated") "gaussian" else kind
formula <- if (family == "binomial") cbind(y, 1 - y) ~ x | g else y ~ x | g
concomitant <- if (kind == "gated") FLXPmultinom(~ z) else FLXPconstant()
n_warnings <- c(fit = 0, refit = 0)
counting <- function(step) {
  function(w) {
    n_warnings[[step]] <<- n_warnings[[step]] + 1
    invokeRestart("muffleWarning")
  }
}
set.seed(1)
start <- proc.time()[["elapsed"]]
fit <- withCallingHandlers(
  stepFlexmix(formula, data = data, k = 2, nrep = 5, verbose = FALSE,
              model = FLXMRglm(family = family), concomitant = concomitant,
              control = list(iter.max = 1000, minprior = 0, tolerance = 1e-10)),
  warning = counting("fit"))
seconds <- proc.time()[["elapsed"]] - start
start <- proc.time()[["elapsed"]]
refitted <- withCallingHandlers(refit(fit), warning = counting("refit"))
refit_seconds <- proc.time()[["elapsed"]] - start
coefs <- parameters(fit)
se <- sqrt(diag(refitted@vcov))
slope_se <- se[paste0("model.1_Comp.", 1:2, "_coef.x")]
gate_names <- grep("^concomitant_Comp.2", names(se), value = TRUE)
gate <- if (kind == "gated") {
  parameters(fit, which = "concomitant")[, 2]
} else {
  log(prior(fit)[2] / prior(fit)[1])
}
numbers <- function(values) paste(sprintf("%.10g", values), collapse = ",")
sds <- if (family == "gaussian") numbers(coefs["sigma", ]) else "nan,nan"
ll <- logLik(fit)
cat(sprintf(paste("loglik=%.9f df=%d nobs=%d bic=%.6f intercepts=%s slopes=%s sds=%s",
                  "priors=%s gate=%s slope_se=%s gate_se=%s converged=%d iter=%d",
                  "warnings=%d seconds=%.3f refit_warnings=%d refit_seconds=%.3f\n"),
            as.numeric(ll), attr(ll, "df"), attr(ll, "nobs"), BIC(fit),
            numbers(coefs["coef.(Intercept)", ]), numbers(coefs["coef.x", ]), sds,
            numbers(prior(fit)), numbers(gate), numbers(slope_se),
            numbers(se[gate_names]), as.integer(fit@converged), fit@iter,
            n_warnings[["fit"]], seconds, n_warnings[["refit"]], refit_seconds))
