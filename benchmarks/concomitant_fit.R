# Mixture of two Gaussian regressions y ~ x with a multinomial gate on z only
# (flexmix's concomitant variables), best of 5 random starts.
# Usage: Rscript concomitant_fit.R data.csv  (columns y, z, x, ...)
suppressPackageStartupMessages(library(flexmix))
data <- read.csv(commandArgs(trailingOnly = TRUE)[1])
set.seed(1)
fit <- stepFlexmix(y ~ x, data = data, k = 2, nrep = 5, verbose = FALSE,
                   model = FLXMRglm(family = "gaussian"),
                   concomitant = FLXPmultinom(~ z),
                   control = list(iter.max = 1000, minprior = 0, tolerance = 1e-10))
coefs <- parameters(fit)
gate <- parameters(fit, which = "concomitant")
cat(sprintf("loglik=%.6f df=%d gate_slope=%.3f slopes=%s sigmas=%s\n", as.numeric(logLik(fit)),
            attr(logLik(fit), "df"), abs(gate["z", 2]), paste(sprintf("%.5f", sort(coefs["coef.x", ])), collapse = ","),
            paste(sprintf("%.5f", sort(coefs["sigma", ])), collapse = ",")))
