# Zero-inflated Poisson mixture (flexmix's FLXMRziglm: component 1 is the point
# mass at zero) with a multinomial logit concomitant model on x1 and x2, k
# components, best of 5 random starts. Prints the log-likelihood, its degrees of
# freedom, the components' coefficients (intercept, x1, x2; the point mass's
# intercept -Inf) and the concomitant coefficients of components 2..k against
# component 1, each comma-separated and component by component.
# Usage: Rscript zero_inflated_fit.R data.csv k  (columns y, x1, x2)
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
control <- list(iter.max = 2000, minprior = 0, tolerance = 1e-10)
set.seed(1)
start <- proc.time()[["elapsed"]]
fit <- stepFlexmix(y ~ x1 + x2, data = data, k = k, nrep = 5, verbose = FALSE,
                   model = FLXMRziglm(family = "poisson"),
                   concomitant = FLXPmultinom(~ x1 + x2), control = control)
seconds <- proc.time()[["elapsed"]] - start
numbers <- function(values) paste(sprintf("%.10g", values), collapse = ",")
ll <- logLik(fit)
cat(sprintf("loglik=%.8f df=%d experts=%s gate=%s seconds=%.3f iter=%d\n",
            as.numeric(ll), attr(ll, "df"), numbers(parameters(fit)),
            numbers(parameters(fit, which = "concomitant")[, -1]), seconds, fit@iter))
