# Classification EM (classify = "CEM") for a mixture of K Gaussian regressions
# y ~ x with fixed priors, either best of 5 random starts or from a given
# partition (column "start" of the data, labels 1..K). Prints the log-likelihood,
# the components sorted by slope, the number of iterations, and writes each
# row's cluster to the file named by the last argument.
# Usage: Rscript hard_assignment_fit.R data.csv k random|given clusters.txt
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
control <- list(iter.max = 1000, minprior = 0, tolerance = 1e-10, classify = "CEM")
set.seed(1)
start <- proc.time()[["elapsed"]]
fit <- if (args[3] == "given") {
  flexmix(y ~ x, data = data, cluster = data$start, control = control)
} else {
  stepFlexmix(y ~ x, data = data, k = k, nrep = 5, verbose = FALSE, control = control)
}
seconds <- proc.time()[["elapsed"]] - start
coefs <- parameters(fit)
by_slope <- order(coefs["coef.x", ])
numbers <- function(values) paste(sprintf("%.12g", values), collapse = ",")
cat(sprintf("loglik=%.8f intercepts=%s slopes=%s sds=%s iter=%d converged=%d seconds=%.3f\n",
            as.numeric(logLik(fit)), numbers(coefs["coef.(Intercept)", by_slope]),
            numbers(coefs["coef.x", by_slope]), numbers(coefs["sigma", by_slope]),
            fit@iter, as.integer(fit@converged), seconds))
writeLines(as.character(match(clusters(fit), by_slope) - 1), args[4])
