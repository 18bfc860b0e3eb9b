# Fit a mixture of Gaussian linear experts with a multinomial gate in flexmix.
# Usage: Rscript flexmix_fit.R data.csv K iter_max tolerance seed
# data.csv has columns y, x1..xD. Prints one line: key=value pairs.
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
iter_max <- as.integer(args[3])
tolerance <- as.numeric(args[4])
set.seed(as.integer(args[5]))
xs <- setdiff(names(data), "y")
rhs <- paste(xs, collapse = " + ")
control <- list(iter.max = iter_max, minprior = 0, tolerance = tolerance)
seconds <- system.time(
  fit <- flexmix(as.formula(paste("y ~", rhs)), data = data, k = k,
                 model = FLXMRglm(family = "gaussian"),
                 concomitant = FLXPmultinom(as.formula(paste("~", rhs))),
                 control = control)
)[["elapsed"]]
cat(sprintf("seconds=%.6f iterations=%d converged=%s loglik=%.6f k=%d\n",
            seconds, fit@iter, fit@converged, as.numeric(logLik(fit)),
            length(fit@size)))
