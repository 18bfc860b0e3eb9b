# One negative binomial regression as R users fit it: MASS's glm.nb (log
# link), its theta by maximum likelihood. Prints the log-likelihood, the
# coefficients (intercept, x1, x2), theta and the seconds.
# Usage: Rscript negative_binomial_fit.R data.csv  (columns y, x1, x2)
suppressPackageStartupMessages(library(MASS))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
start <- proc.time()[["elapsed"]]
fit <- glm.nb(y ~ x1 + x2, data = data,
              control = glm.control(epsilon = 1e-14, maxit = 200))
seconds <- proc.time()[["elapsed"]] - start
loglik <- sum(dnbinom(data$y, size = fit$theta, mu = fitted(fit), log = TRUE))
numbers <- function(values) paste(sprintf("%.10g", values), collapse = ",")
cat(sprintf("loglik=%.8f coef=%s theta=%.10g seconds=%.3f\n",
            loglik, numbers(coef(fit)), fit$theta, seconds))
