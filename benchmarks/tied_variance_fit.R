# Mixture of K Gaussian regressions y ~ x with latent classes (fixed priors), best
# of 5 random starts: one noise variance shared by the components ("tied":
# FLXMRglmfix(varFix = TRUE)) or one each ("per_expert": FLXMRglm(family =
# "gaussian")). Prints the components sorted by slope, and the number of R
# warnings raised while fitting.
# Usage: Rscript tied_variance_fit.R data.csv k tied|per_expert  (columns y, x)
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
model <- if (args[3] == "tied") FLXMRglmfix(varFix = TRUE) else FLXMRglm(family = "gaussian")
n_warnings <- 0
set.seed(1)
start <- proc.time()[["elapsed"]]
fit <- withCallingHandlers(
  stepFlexmix(y ~ x, data = data, k = k, nrep = 5, verbose = FALSE, model = model,
              control = list(iter.max = 1000, minprior = 0, tolerance = 1e-10)),
  warning = function(w) {
    n_warnings <<- n_warnings + 1
    invokeRestart("muffleWarning")
  })
seconds <- proc.time()[["elapsed"]] - start
coefs <- parameters(fit)
by_slope <- order(coefs["coef.x", ])
numbers <- function(values) paste(sprintf("%.6g", values), collapse = ",")
ll <- logLik(fit)
cat(sprintf(paste("loglik=%.6f df=%d bic=%.4f intercepts=%s slopes=%s sds=%s priors=%s",
                  "converged=%d warnings=%d seconds=%.3f\n"),
            as.numeric(ll), attr(ll, "df"), BIC(fit),
            numbers(coefs["coef.(Intercept)", by_slope]), numbers(coefs["coef.x", by_slope]),
            numbers(coefs["sigma", by_slope]), numbers(prior(fit)[by_slope]),
            as.integer(fit@converged), n_warnings, seconds))
