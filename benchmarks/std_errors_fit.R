# flexmix's standard errors, summary(refit(fit)), for a mixture of two regressions
# y ~ x started from a given posterior (skmoe's responsibilities): Gaussian experts
# with fixed priors ("constant") or a multinomial gate on z ("gated"), or Poisson
# experts with fixed priors ("poisson"). EM runs to tolerance 1e-10 from that
# posterior, then refit() maximizes the likelihood by optim and inverts its Hessian.
# Prints one line per parameter: name estimate std_error.
# Usage: Rscript std_errors_fit.R data.csv posterior.csv constant|gated|poisson
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
posterior <- as.matrix(read.csv(args[2], header = FALSE))
kind <- args[3]
model <- if (kind == "poisson") FLXMRglm(family = "poisson") else FLXMRglm()
concomitant <- if (kind == "gated") FLXPmultinom(~ z) else FLXPconstant()
start <- proc.time()[["elapsed"]]
fit <- flexmix(y ~ x, data = data, k = ncol(posterior), cluster = posterior,
               model = model, concomitant = concomitant,
               control = list(iter.max = 5000, minprior = 0, tolerance = 1e-10))
refitted <- refit(fit)
seconds <- proc.time()[["elapsed"]] - start
se <- sqrt(diag(refitted@vcov))
cat(sprintf("loglik %.6f %.3f\n", as.numeric(logLik(fit)), seconds))
for (i in seq_along(refitted@coef)) {
  cat(sprintf("%s %.10g %.10g\n", names(refitted@coef)[i], refitted@coef[[i]], se[[i]]))
}
