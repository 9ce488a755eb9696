# Pinned Mantel-Haenszel results (metafor rma.mh) for tests/test_revman.py.
# Fixed-effect MH pooled log RR / log OR / RD with Greenland-Robins / Robins-Breslow-Greenland
# standard errors and Cochran's Q around the MH estimate, on metafor's dat.bcg (no zero cells).
# Run from the repository root:  Rscript tests/reference/revman_mh.R
suppressMessages(library(metafor))
library(jsonlite)
out <- list(metafor = as.character(packageVersion("metafor")), data = "dat.bcg (tpos, tneg, cpos, cneg)")
for (m in c("RR", "OR", "RD")) {
  r <- rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg, measure = m)
  out[[m]] <- list(estimate = as.numeric(r$beta), se = r$se, ci_lb = r$ci.lb, ci_ub = r$ci.ub,
                   QE = r$QE, I2 = r$I2, k = r$k)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/revman_mh.json")
