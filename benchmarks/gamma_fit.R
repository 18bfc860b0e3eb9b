# Mixture of two Gamma distributions (latent classes, y ~ 1) by flexmix's
# FLXMRglm(family = "Gamma"): best of 5 random starts ("random"), or started from
# the partition in column c ("partition"). Prints the log-likelihood, its
# parameter count and BIC, and the components' means (1 / intercept: the inverse
# link), shapes and priors, sorted by mean.
# Usage: Rscript gamma_fit.R data.csv random|partition   (columns y, c)
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
control <- list(iter.max = 1000, minprior = 0, tolerance = 1e-10)
set.seed(1)
start <- proc.time()[["elapsed"]]
if (args[2] == "random") {
  fit <- stepFlexmix(y ~ 1, data = data, k = 2, nrep = 5, verbose = FALSE,
                     model = FLXMRglm(family = "Gamma"), control = control)
} else {
  fit <- flexmix(y ~ 1, data = data, cluster = data$c,
                 model = FLXMRglm(family = "Gamma"), control = control)
}
seconds <- proc.time()[["elapsed"]] - start
p <- parameters(fit)
means <- 1 / p["coef.(Intercept)", ]
o <- order(means)
ll <- logLik(fit)
cat(sprintf("loglik=%.6f df=%d bic=%.4f means=%s shapes=%s priors=%s seconds=%.3f\n",
            as.numeric(ll), attr(ll, "df"), BIC(fit),
            paste(sprintf("%.6f", means[o]), collapse = ","),
            paste(sprintf("%.6f", p["shape", o]), collapse = ","),
            paste(sprintf("%.6f", prior(fit)[o]), collapse = ","), seconds))
