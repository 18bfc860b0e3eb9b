# Mixture of two Poisson regressions y ~ x (log link), best of 5 random starts:
# latent classes ("constant": fixed priors) or a multinomial gate on z (any other
# kind: flexmix's concomitant variables); "exposure" adds the offset log(e) to
# every component's log rate. Prints the experts sorted by slope, the gate's
# intercept and slope on z of the second of them against the first, and (but for
# "separable", which has no finite optimum) the standard errors of summary(refit())
# in that order, expert intercepts, slopes, then the gate's.
# Usage: Rscript poisson_fit.R data.csv constant|gated|separable|exposure
#        (columns y, x; y, z, x; or y, z, x, e)
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
gated <- args[2] != "constant"
concomitant <- if (gated) FLXPmultinom(~ z) else FLXPconstant()
# FLXMRglm's own offset: it drops an offset() term of the formula without a word
offset <- if (args[2] == "exposure") log(data$e) else NULL
set.seed(1)
start <- proc.time()[["elapsed"]]
fit <- stepFlexmix(y ~ x, data = data, k = 2, nrep = 5, verbose = FALSE,
                   model = FLXMRglm(family = "poisson", offset = offset),
                   concomitant = concomitant,
                   control = list(iter.max = 1000, minprior = 0, tolerance = 1e-10))
seconds <- proc.time()[["elapsed"]] - start
coefs <- parameters(fit)
by_slope <- order(coefs["coef.x", ])
gate <- "nan,nan"
if (gated) {
  g <- parameters(fit, which = "concomitant")  # logits against component 1
  gate <- sprintf("%.5f,%.5f", g["(Intercept)", by_slope[2]] - g["(Intercept)", by_slope[1]],
                  g["z", by_slope[2]] - g["z", by_slope[1]])
}
se <- "nan"
if (args[2] != "separable") {
  s <- sqrt(diag(refit(fit)@vcov))
  comp <- function(k, name) s[[sprintf("model.1_Comp.%d_coef.%s", k, name)]]
  se <- paste(sprintf("%.6g", c(sapply(by_slope, comp, "(Intercept)"),
                                sapply(by_slope, comp, "x"),
                                s[grep("^concomitant_", names(s))])), collapse = ",")
}
ll <- logLik(fit)
cat(sprintf("loglik=%.6f df=%d bic=%.4f intercepts=%s slopes=%s gate=%s se=%s seconds=%.3f\n",
            as.numeric(ll), attr(ll, "df"), BIC(fit),
            paste(sprintf("%.5f", coefs["coef.(Intercept)", by_slope]), collapse = ","),
            paste(sprintf("%.5f", coefs["coef.x", by_slope]), collapse = ","),
            gate, se, seconds))
