# The hurdle model of zeros and Gamma amounts fitted in two parts, as R users
# fit it: a binomial glm of y == 0, a Gamma glm (log link) of the positive
# amounts, and MASS's maximum-likelihood shape given that glm's means. Prints
# the total log-likelihood, the logit's and the log mean's coefficients
# (intercept, x1, x2), the shape and the seconds, comma-separated.
# Usage: Rscript zero_inflated_gamma_fit.R data.csv  (columns y, x1, x2)
suppressPackageStartupMessages(library(MASS))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
start <- proc.time()[["elapsed"]]
zero <- glm(I(y == 0) ~ x1 + x2, family = binomial, data = data,
            control = glm.control(epsilon = 1e-14, maxit = 100))
positive <- subset(data, y > 0)
amount <- glm(y ~ x1 + x2, family = Gamma(link = "log"), data = positive,
              control = glm.control(epsilon = 1e-14, maxit = 100))
shape <- gamma.shape(amount, it.lim = 100, eps.max = 1e-12)$alpha
seconds <- proc.time()[["elapsed"]] - start
mu <- fitted(amount)
loglik <- as.numeric(logLik(zero)) +
  sum(dgamma(positive$y, shape = shape, scale = mu / shape, log = TRUE))
numbers <- function(values) paste(sprintf("%.10g", values), collapse = ",")
cat(sprintf("loglik=%.8f logit=%s amount=%s shape=%.10g seconds=%.3f\n",
            loglik, numbers(coef(zero)), numbers(coef(amount)), shape, seconds))
