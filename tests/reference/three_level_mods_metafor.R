# Pinned metafor rma.mv three-level meta-regression references (tests/test_three_level_mods.py).
# Run: Rscript tests/reference/three_level_mods_metafor.R > tests/reference/three_level_mods_metafor.json
# Data: metadat::dat.bornmann2007 (gender differences in grant and fellowship awards: 66 log odds
# ratios in 21 studies; Bornmann, Mutz & Daniel 2007, J Informetr 1:226), log OR of an award for
# women vs men by escalc(measure = "OR"). Model: rma.mv(yi, vi, mods, random = ~ 1 | study/obs),
# REML (and ML), with the moderators year (study level, as years from 2000), type (Grant vs Fellowship, study level)
# and both; the design matrix columns after the intercept are exported as they enter the fit.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
ctl <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000)
d <- escalc(measure = "OR", ai = waward, n1i = wtotal, ci = maward, n2i = mtotal, data = metadat::dat.bornmann2007)
# years from 2000: with raw years the intercept (year 0) moves by ~1e-5 within nlminb's tolerance
# (a flat REML surface), so it could not be pinned to 1e-6; the slope and the fit are the same
d$year2000 <- d$year - 2000
fit_one <- function(mods, label) {
  f <- if (is.null(mods)) rma.mv(yi, vi, random = ~ 1 | study/obs, data = d, method = "REML", control = ctl)
       else rma.mv(yi, vi, mods = mods, random = ~ 1 | study/obs, data = d, method = "REML", control = ctl)
  ml <- update(f, method = "ML")
  X <- if (is.null(mods)) NULL else model.matrix(mods, data = d)[, -1, drop = FALSE]
  list(label = label, yi = as.numeric(d$yi), vi = as.numeric(d$vi), cluster = d$study, es_id = as.character(d$obs),
       moderator_names = if (is.null(X)) list() else colnames(X),
       moderators = if (is.null(X)) list() else lapply(seq_len(ncol(X)), function(j) as.numeric(X[, j])),
       beta = as.numeric(f$beta), se = as.numeric(f$se), sigma2 = as.numeric(f$sigma2),
       logLik_reml = as.numeric(logLik(f)), beta_ml = as.numeric(ml$beta), se_ml = as.numeric(ml$se),
       sigma2_ml = as.numeric(ml$sigma2), logLik_ml = as.numeric(logLik(ml)),
       call = paste0("rma.mv(yi, vi, mods = ", if (is.null(mods)) "NULL" else deparse(mods),
                     ", random = ~ 1 | study/obs, method = 'REML')"),
       metafor = as.character(packageVersion("metafor")))
}
out <- list(fit_one(NULL, "bornmann2007"), fit_one(~ year2000, "bornmann2007_year"),
            fit_one(~ type, "bornmann2007_type"), fit_one(~ year2000 + type, "bornmann2007_year_type"))
cat(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = TRUE))
