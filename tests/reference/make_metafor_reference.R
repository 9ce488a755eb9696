# Pinned metafor reference values for vfsynth's effect sizes and frequentist pooling.
# Run from the repository root:   Rscript tests/reference/make_metafor_reference.R
# Writes tests/reference/metafor_escalc.json and tests/reference/metafor_rma.json.
# Tests compare to these at 1e-6 and never need R.
#
# Values are on metafor's own (raw) scale: treatment minus control, group 1 = video feedback /
# treatment. vfsynth reports on the *benefit* scale, so the tests negate where higher_is_better=false.
suppressMessages(library(metafor))
suppressMessages(library(jsonlite))

ver <- as.character(packageVersion("metafor"))
fixtures <- "tests/fixtures"
bundled <- "data/cd012348/study_outcomes.csv"

rd <- function(p) read.csv(p, stringsAsFactors = FALSE, na.strings = c("", "NA"))
num <- function(x) as.numeric(x)

escalc_cases <- list()
add_escalc <- function(name, call, es, study, extra = list()) {
  extra <- lapply(extra, I)  # keep length-1 vectors as JSON arrays
  escalc_cases[[name]] <<- c(list(call = call, study = I(study), yi = I(as.numeric(es$yi)), vi = I(as.numeric(es$vi))), extra)
}

# ---- normand1999: SMD and MD from continuous arms (metafor defaults) ----
nd <- rd(file.path(fixtures, "normand1999.csv"))
es <- escalc(measure = "SMD", n1i = n_t, m1i = mean_t, sd1i = sd_t, n2i = n_c, m2i = mean_c, sd2i = sd_c, data = nd)
add_escalc("normand1999_SMD", "escalc(measure='SMD', n1i=n_t, m1i=mean_t, sd1i=sd_t, n2i=n_c, m2i=mean_c, sd2i=sd_c, data=tests/fixtures/normand1999.csv)", es, nd$study)
es <- escalc(measure = "MD", n1i = n_t, m1i = mean_t, sd1i = sd_t, n2i = n_c, m2i = mean_c, sd2i = sd_c, data = nd)
add_escalc("normand1999_MD", "escalc(measure='MD', ... same arms ...)", es, nd$study)

# ---- bcg: log OR from 2x2 counts (events = TB cases; metafor default add=1/2, to='only0') ----
bcg <- rd(file.path(fixtures, "bcg.csv"))
es <- escalc(measure = "OR", ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = bcg)
add_escalc("bcg_OR", "escalc(measure='OR', ai=events_t, n1i=n_t, ci=events_c, n2i=n_c, data=tests/fixtures/bcg.csv)", es, bcg$study)

# ---- zero cells: a small made-up table exercising add=1/2 to='only0' (not a dataset) ----
zc <- data.frame(study = c("zero_t", "zero_c", "none", "all_t"), ai = c(0, 3, 4, 10), n1i = c(10, 12, 15, 10),
                 ci = c(2, 0, 5, 4), n2i = c(11, 12, 14, 10))
es <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = zc)
add_escalc("zero_cells_OR", "escalc(measure='OR', ai=c(0,3,4,10), n1i=c(10,12,15,10), ci=c(2,0,5,4), n2i=c(11,12,14,10))", es, zc$study,
           list(ai = zc$ai, n1i = zc$n1i, ci = zc$ci, n2i = zc$n2i))

# ---- the review's rows with arm data ----
rv <- rd(bundled)
cont <- rv[!is.na(rv$mean_t), ]
es <- escalc(measure = "SMD", n1i = n_t, m1i = mean_t, sd1i = sd_t, n2i = n_c, m2i = mean_c, sd2i = sd_c, data = cont)
add_escalc("cd012348_continuous_SMD", "escalc(measure='SMD', ...) on rows of data/cd012348/study_outcomes.csv with mean_t", es,
           cont$study, list(outcome = cont$outcome, timepoint = cont$timepoint))
bin <- rv[!is.na(rv$events_t), ]
es <- escalc(measure = "OR", ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = bin)
add_escalc("cd012348_binary_OR", "escalc(measure='OR', ...) on rows of data/cd012348/study_outcomes.csv with events_t (raw events)", es,
           bin$study, list(outcome = bin$outcome, timepoint = bin$timepoint))

# ---- rma: FE, DL, REML (default control and a tight REML threshold) ----
rma_cases <- list()
fit_all <- function(name, yi, vi, study, call) {
  out <- list(call = call, study = I(study), yi = I(yi), vi = I(vi), k = length(yi))
  for (m in c("FE", "DL", "REML")) {
    fit <- rma(yi = yi, vi = vi, method = m)
    pr <- predict(fit)
    res <- list(estimate = as.numeric(fit$beta), se = fit$se, ci_low = fit$ci.lb, ci_high = fit$ci.ub,
                tau2 = fit$tau2, i2 = fit$I2, h2 = fit$H2, q = fit$QE, q_p = fit$QEp,
                pi_low = if (is.null(pr$pi.lb)) fit$ci.lb else pr$pi.lb,
                pi_high = if (is.null(pr$pi.ub)) fit$ci.ub else pr$pi.ub,
                rcall = sprintf("rma(yi, vi, method='%s'); predict(fit)", m))
    out[[m]] <- res
  }
  fit <- rma(yi = yi, vi = vi, method = "REML", control = list(threshold = 1e-12, maxiter = 10000))
  pr <- predict(fit)
  out[["REML_tight"]] <- list(estimate = as.numeric(fit$beta), se = fit$se, ci_low = fit$ci.lb, ci_high = fit$ci.ub,
                              tau2 = fit$tau2, i2 = fit$I2, h2 = fit$H2, q = fit$QE, q_p = fit$QEp,
                              pi_low = pr$pi.lb, pi_high = pr$pi.ub,
                              rcall = "rma(yi, vi, method='REML', control=list(threshold=1e-12, maxiter=10000)); predict(fit)")
  rma_cases[[name]] <<- out
}

es8 <- rd(file.path(fixtures, "eight_schools.csv"))
fit_all("eight_schools", es8$estimate, es8$se^2, es8$study, "yi = estimate, vi = se^2 from tests/fixtures/eight_schools.csv")
es <- escalc(measure = "SMD", n1i = n_t, m1i = mean_t, sd1i = sd_t, n2i = n_c, m2i = mean_c, sd2i = sd_c, data = nd)
fit_all("normand1999_SMD", as.numeric(es$yi), as.numeric(es$vi), nd$study, "escalc(measure='SMD') on normand1999 (raw scale: specialist minus routine care)")
es <- escalc(measure = "OR", ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = bcg)
fit_all("bcg_logOR", as.numeric(es$yi), as.numeric(es$vi), bcg$study, "escalc(measure='OR') on bcg (raw scale: events = TB cases)")

# The review's sensitivity rows: precomputed SMDs; se given or from the 95% CI as (hi - lo)/(2 qnorm(.975)).
for (tp in c("post", "followup")) {
  s <- rv[rv$outcome == "sensitivity" & rv$timepoint == tp, ]
  sei <- ifelse(is.na(s$se), (s$ci_high - s$ci_low) / (2 * qnorm(0.975)), s$se)
  fit_all(paste0("cd012348_sensitivity_", tp), s$estimate, sei^2, s$study,
          sprintf("sensitivity/%s rows of data/cd012348/study_outcomes.csv: yi = estimate, sei = se or (ci_high - ci_low)/(2*qnorm(0.975))", tp))
}

# Edge cases: one study (tau2 = 0 by definition) and two studies (made-up numbers, not a dataset).
fit_all("single_study", c(0.5), c(0.04), c("only"), "yi = 0.5, vi = 0.04 (k = 1)")
fit_all("two_studies", c(0.5, 0.1), c(0.04, 0.09), c("one", "two"), "yi = c(0.5, 0.1), vi = c(0.04, 0.09)")

# A non-default confidence level (90%) on normand1999 SMD, DL.
es <- escalc(measure = "SMD", n1i = n_t, m1i = mean_t, sd1i = sd_t, n2i = n_c, m2i = mean_c, sd2i = sd_c, data = nd)
fit90 <- rma(yi = es$yi, vi = es$vi, method = "DL", level = 90)
pr90 <- predict(fit90)
level90 <- list(call = "rma(escalc(SMD, normand1999), method='DL', level=90); predict(fit)", yi = as.numeric(es$yi), vi = as.numeric(es$vi),
                estimate = as.numeric(fit90$beta), se = fit90$se, ci_low = fit90$ci.lb, ci_high = fit90$ci.ub,
                tau2 = fit90$tau2, pi_low = pr90$pi.lb, pi_high = pr90$pi.ub)
rma_cases[["normand1999_SMD_DL_level90"]] <- level90

meta <- list(metafor_version = ver, R_version = R.version.string, script = "tests/reference/make_metafor_reference.R",
             generated = format(Sys.time(), tz = "UTC", usetz = TRUE))
write(toJSON(c(meta, list(cases = escalc_cases)), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/metafor_escalc.json")
write(toJSON(c(meta, list(cases = rma_cases)), auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/metafor_rma.json")
cat("wrote tests/reference/metafor_escalc.json and metafor_rma.json (metafor", ver, ")\n")
