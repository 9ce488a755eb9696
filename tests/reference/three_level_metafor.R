# Pinned metafor rma.mv three-level references for tests/test_three_level.py.
# Run: Rscript tests/reference/three_level_metafor.R > tests/reference/three_level_metafor.json
# Data: metadat::dat.konstantopoulos2011 (56 schools in 11 districts; Konstantopoulos 2011,
# Res Synth Methods 2:61) and metadat::dat.assink2016 (100 effects in 17 studies; Assink &
# Wibbelink 2016, Quant Methods Psychol 12:154). Model: random = ~ 1 | study/estimate, REML.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
fit_one <- function(d, cluster, mods = NULL, label) {
  d$cluster <- d[[cluster]]
  d$estimate <- seq_len(nrow(d))
  f <- if (is.null(mods)) rma.mv(yi, vi, random = ~ 1 | cluster/estimate, data = d, method = "REML",
                                 control = list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000))
       else rma.mv(yi, vi, mods = mods, random = ~ 1 | cluster/estimate, data = d, method = "REML",
                   control = list(rel.tol = 1e-10, iter.max = 10000, eval.max = 10000))
  ml <- update(f, method = "ML")
  list(label = label, yi = d$yi, vi = d$vi, cluster = as.character(d$cluster),
       moderators = if (is.null(mods)) NULL else lapply(all.vars(mods), function(v) d[[v]]),
       moderator_names = if (is.null(mods)) NULL else all.vars(mods),
       beta = as.numeric(f$beta), se = as.numeric(f$se), sigma2 = as.numeric(f$sigma2),
       logLik_reml = as.numeric(logLik(f)), sigma2_ml = as.numeric(ml$sigma2), beta_ml = as.numeric(ml$beta),
       logLik_ml = as.numeric(logLik(ml)), metafor = as.character(packageVersion("metafor")))
}
k <- metadat::dat.konstantopoulos2011
a <- metadat::dat.assink2016
out <- list(
  fit_one(k, "district", NULL, "konstantopoulos2011"),
  fit_one(k, "district", ~ year, "konstantopoulos2011_year"),
  fit_one(a, "study", NULL, "assink2016"),
  fit_one(a, "study", ~ year, "assink2016_year")
)
cat(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", pretty = TRUE))
