# Mixture of two regressions y ~ x whose coefficient on z is the same in both
# components (FLXMRglmfix(fixed = ~ z)), latent classes (fixed priors), best of 5
# random starts: Gaussian components, each with its own noise variance
# ("gaussian"), Poisson ones with the log link ("poisson") or binomial ones with
# the logit link on a 0/1 y ("binomial": flexmix's binomial family takes the
# response as the two columns successes, failures, so cbind(y, 1 - y) ~ x).
# Then refit() maximizes the likelihood by optim from that fit and inverts its
# Hessian.
# Prints the components sorted by slope on x, the shared coefficient, the number
# of R warnings raised while fitting, and refit's estimates in its order (z, each
# component's intercept and slope on x, [each log(sigma)], the prior log-odds of
# component 2 against 1) with the standard error of z.
# Usage: Rscript shared_fit.R data.csv gaussian|poisson|binomial  (columns y, x, z)
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
family <- args[2]
stopifnot(family %in% c("gaussian", "poisson", "binomial"))
gaussian <- family == "gaussian"
formula <- if (family == "binomial") cbind(y, 1 - y) ~ x else y ~ x
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
              model = FLXMRglmfix(family = family, fixed = ~ z),
              control = list(iter.max = 1000, minprior = 0, tolerance = 1e-10)),
  warning = counting("fit"))
seconds <- proc.time()[["elapsed"]] - start
start <- proc.time()[["elapsed"]]
refitted <- withCallingHandlers(refit(fit), warning = counting("refit"))
refit_seconds <- proc.time()[["elapsed"]] - start
stopifnot(names(refitted@coef)[1] == "model.1_z")
coefs <- parameters(fit)
by_slope <- order(coefs["coef.x", ])
numbers <- function(values) paste(sprintf("%.8g", values), collapse = ",")
sds <- if (gaussian) numbers(coefs["sigma", by_slope]) else "nan,nan"
ll <- logLik(fit)
cat(sprintf(paste("loglik=%.9f df=%d bic=%.4f intercepts=%s slopes=%s shared=%.8g sds=%s",
                  "priors=%s converged=%d iter=%d warnings=%d seconds=%.3f refit=%s",
                  "refit_se=%.8g refit_warnings=%d refit_seconds=%.3f\n"),
            as.numeric(ll), attr(ll, "df"), BIC(fit),
            numbers(coefs["coef.(Intercept)", by_slope]), numbers(coefs["coef.x", by_slope]),
            coefs["coef.z", 1], sds, numbers(prior(fit)[by_slope]),
            as.integer(fit@converged), fit@iter, n_warnings[["fit"]], seconds,
            numbers(refitted@coef), sqrt(refitted@vcov[1, 1]), n_warnings[["refit"]],
            refit_seconds))
