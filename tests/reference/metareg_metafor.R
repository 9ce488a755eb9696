# Pinned metafor reference values for tests/test_regression.py.
# Run from the repository root:  Rscript tests/reference/metareg_metafor.R
# Data: metafor dat.bcg (the same numbers as tests/fixtures/bcg.csv). vfsynth puts estimates on
# the BENEFIT scale: TB cases are unfavourable, so yi here is the NEGATED log odds ratio of TB.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
dat <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
dat$yi <- -dat$yi
out <- list(metafor_version = as.character(packageVersion("metafor")),
            study = paste(dat$author, dat$year), yi = as.numeric(dat$yi), vi = as.numeric(dat$vi),
            ablat = dat$ablat, alloc = dat$alloc)
fit_list <- function(f) list(beta = as.numeric(coef(f)), se = as.numeric(f$se), tau2 = f$tau2,
                             names = names(coef(f)))
# REML and ML meta-regression on absolute latitude (raw, uncentred)
reml <- rma(yi, vi, mods = ~ ablat, data = dat, method = "REML")
ml <- rma(yi, vi, mods = ~ ablat, data = dat, method = "ML")
out$ablat_reml <- fit_list(reml)
out$ablat_ml <- fit_list(ml)
# tau^2 fixed at the REML value: weighted least squares, the exact conjugate limit
out$ablat_fixed_tau2 <- fit_list(rma(yi, vi, mods = ~ ablat, data = dat, tau2 = reml$tau2))
out$ablat_fixed_tau2$tau2_fixed <- reml$tau2
# common-effect meta-regression
out$ablat_fe <- fit_list(rma(yi, vi, mods = ~ ablat, data = dat, method = "FE"))
# subgroup: allocation (reference level = "random", the most common)
dat$alloc <- relevel(factor(dat$alloc), ref = "random")
reml_a <- rma(yi, vi, mods = ~ alloc, data = dat, method = "REML")
out$alloc_reml <- fit_list(reml_a)
out$alloc_fixed_tau2 <- fit_list(rma(yi, vi, mods = ~ alloc, data = dat, tau2 = reml_a$tau2))
out$alloc_fixed_tau2$tau2_fixed <- reml_a$tau2
write_json(out, "tests/reference/metareg_metafor.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
