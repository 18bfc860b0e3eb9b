# Mixture of K binomial regressions cbind(s, n - s) ~ x with fixed priors
# (flexmix's FLXMRglm(family = "binomial")): by EM, best of 5 random starts, or,
# with "cem", by classification EM (classify = "CEM") from the partition in the
# data's column "start" (labels 1..K), writing each observation's cluster to
# the file named last. Prints the log-likelihood, its degrees of freedom, and
# the components (intercept, slope, prior) sorted by slope.
# Usage: Rscript binomial_fit.R data.csv k [cem clusters.txt]  (columns s, n, x)
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
cem <- length(args) > 2 && args[3] == "cem"
control <- list(iter.max = 1000, minprior = 0, tolerance = 1e-10)
set.seed(1)
start <- proc.time()[["elapsed"]]
fit <- if (cem) {
  flexmix(cbind(s, n - s) ~ x, data = data, cluster = data$start,
          model = FLXMRglm(family = "binomial"),
          control = c(control, list(classify = "CEM")))
} else {
  stepFlexmix(cbind(s, n - s) ~ x, data = data, k = k, nrep = 5, verbose = FALSE,
              model = FLXMRglm(family = "binomial"), control = control)
}
seconds <- proc.time()[["elapsed"]] - start
coefs <- parameters(fit)
by_slope <- order(coefs["coef.x", ])
numbers <- function(values) paste(sprintf("%.10g", values), collapse = ",")
ll <- logLik(fit)
cat(sprintf("loglik=%.8f df=%d intercepts=%s slopes=%s priors=%s seconds=%.3f iter=%d\n",
            as.numeric(ll), attr(ll, "df"), numbers(coefs["coef.(Intercept)", by_slope]),
            numbers(coefs["coef.x", by_slope]), numbers(prior(fit)[by_slope]), seconds,
            fit@iter))
if (cem) writeLines(as.character(match(clusters(fit), by_slope) - 1), args[4])
