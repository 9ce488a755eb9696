# Pinned R bayesmeta values for vfsynth.fits.exact (tests/test_exact.py::test_bayesmeta_rubin1981).
#
# Produces bayesmeta_rubin1981.json: the eight-schools analysis of the bayesmeta vignette
# (Rubin 1981 data as shipped with bayesmeta, unrounded: effects 28.39, 7.94, ...; mu ~ N(0, 50^2),
# tau ~ half-Cauchy(25)).
#
# Provenance of the committed JSON: bayesmeta is not packaged for Debian and CRAN is not reachable
# from the build machines, so this script could not be run here. The numbers in the JSON were
# transcribed from the output printed in bayesmeta's own rendered vignette
# (inst/doc/bayesmeta.html, "An introduction to meta-analysis using the bayesmeta package",
# C. Roever), which runs exactly the calls below. Run this script where bayesmeta is installed
# to regenerate / extend the file:   Rscript make_bayesmeta_reference.R
suppressPackageStartupMessages({
  library(bayesmeta)
  library(jsonlite)
})
data("Rubin1981")
bm <- bayesmeta(y = Rubin1981[, "effect"], sigma = Rubin1981[, "stderr"],
                label = Rubin1981[, "school"], mu.prior.mean = 0, mu.prior.sd = 50,
                tau.prior = function(t) dhalfcauchy(t, scale = 25))
th <- bm$theta
out <- list(
  source = paste("R bayesmeta", as.character(packageVersion("bayesmeta")),
                 "- vignette example schools.example.1"),
  data = list(y = Rubin1981[, "effect"], se = Rubin1981[, "stderr"],
              labels = as.character(Rubin1981[, "school"])),
  priors = list(tau = "half-cauchy:25", mu = "normal:0,50"),
  tau = list(median = bm$summary["median", "tau"], mean = bm$summary["mean", "tau"],
             sd = bm$summary["sd", "tau"], q95 = bm$qposterior(tau.p = 0.95),
             q025 = bm$qposterior(tau.p = 0.025), q975 = bm$qposterior(tau.p = 0.975)),
  mu = list(median = bm$summary["median", "mu"], mean = bm$summary["mean", "mu"],
            sd = bm$summary["sd", "mu"], q95 = bm$qposterior(mu.p = 0.95),
            p_gt_0 = 1 - bm$pposterior(mu = 0),
            shortest95 = as.numeric(bm$post.interval(mu.level = 0.95))),
  theta = lapply(c(A = "A", G = "G", H = "H"), function(s)
    list(median = th["median", s], mean = th["mean", s], sd = th["sd", s]))
)
write_json(out, "bayesmeta_rubin1981.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
