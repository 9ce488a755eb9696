# Pinned metafor references for the measures of issue 14 (ROM, RR, RD, IRR, PLO, PR, ZCOR, COR, GIV).
# Run from the repository root:   Rscript tests/reference/make_measures_reference.R
# Writes tests/fixtures/measures/<dataset>.csv (metadat data in the vfsynth input schema) and
# tests/reference/metafor_measures.json (escalc yi/vi and rma FE/DL/REML of each CSV's rows).
# The datasets are ones no other test uses. For OR/RR/IRR a table with no events in either arm is
# "not estimable" in vfsynth as in RevMan (yi set to NA here, left out of pooling); a table with
# only events in both arms stays estimable, 0.5-corrected, as in RevMan and metafor's escalc.
suppressMessages(library(metafor))
suppressMessages(library(metadat))
suppressMessages(library(jsonlite))

out_dir <- "tests/fixtures/measures"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
cols <- c("study", "outcome", "measure", "n_t", "mean_t", "sd_t", "events_t", "time_t", "n_c",
          "mean_c", "sd_c", "events_c", "time_c", "estimate", "se", "n_total", "scale", "source")
blank <- function(n) rep(NA, n)
frame <- function(study, outcome, measure, source, ...) {
  k <- length(study)
  d <- as.data.frame(setNames(replicate(length(cols), blank(k), simplify = FALSE), cols))
  d$study <- study; d$outcome <- outcome; d$measure <- measure; d$source <- source
  extra <- list(...)
  for (nm in names(extra)) d[[nm]] <- extra[[nm]]
  d
}
write_fixture <- function(name, d) {
  d <- d[, vapply(d, function(x) !all(is.na(x)), logical(1)) | names(d) %in% c("study", "outcome")]
  write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE, na = "")
}

cases <- list()
add_case <- function(name, file, outcome, measure, es, study, call) {
  keep <- !is.na(es$yi)
  res <- list(file = file, outcome = outcome, measure = measure, call = call,
              study = I(study), yi = I(as.numeric(es$yi)), vi = I(as.numeric(es$vi)),
              not_estimable = I(study[!keep]))
  for (m in c("FE", "DL", "REML")) {
    fit <- rma(yi = es$yi[keep], vi = es$vi[keep], method = m)
    res[[m]] <- list(estimate = as.numeric(fit$beta), se = fit$se, ci_low = fit$ci.lb,
                     ci_high = fit$ci.ub, tau2 = fit$tau2, i2 = fit$I2, q = fit$QE,
                     rcall = sprintf("rma(yi, vi, method='%s')", m))
  }
  cases[[name]] <<- res
}

# ---- ROM: Curtis et al. (1998) CO2 and plant biomass (metadat dat.curtis1998) ----
d <- dat.curtis1998
f <- frame(paste0("obs", d$id), "biomass", "ROM", "metadat dat.curtis1998",
           n_t = d$n1i, mean_t = d$m1i, sd_t = d$sd1i, n_c = d$n2i, mean_c = d$m2i, sd_c = d$sd2i)
write_fixture("curtis1998", f)
es <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = d)
add_case("curtis1998_ROM", "curtis1998.csv", "biomass", "ROM", es, f$study, "escalc('ROM', m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.curtis1998)")
f$measure <- "MD"; f$outcome <- "biomass_md"
write_fixture("curtis1998_md", f)
es <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = d)
add_case("curtis1998_MD", "curtis1998_md.csv", "biomass_md", "MD", es, f$study, "escalc('MD', ..., data=dat.curtis1998)")

# ---- RR and RD: Lee & Done (2004) acupoint stimulation vs PONV (dat.lee2004), Collins et al. (1985) diuretics vs pre-eclampsia (dat.collins1985b) ----
for (nm in c("lee2004", "collins1985b")) {
  d <- get(paste0("dat.", nm))
  if (nm == "collins1985b") {
    d <- data.frame(study = d$author, ai = d$pre.xti, n1i = d$pre.nti, ci = d$pre.xci, n2i = d$pre.nci)
  } else {
    d <- data.frame(study = paste0(d$study, " ", d$year, " (id ", d$id, ")"), ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
  }
  d <- d[!is.na(d$ai) & !is.na(d$ci), ]
  for (m in c("RR", "RD", "OR")) {
    meas <- c(RR = "logRR", RD = "RD", OR = "logOR")[[m]]
    f <- frame(d$study, paste0("events_", tolower(m)), meas, paste0("metadat dat.", nm),
               n_t = d$n1i, events_t = d$ai, n_c = d$n2i, events_c = d$ci)
    write_fixture(paste0(nm, "_", tolower(m)), f)
    es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
    if (m != "RD") es$yi[d$ai == 0 & d$ci == 0] <- NA
    add_case(paste0(nm, "_", m), paste0(nm, "_", tolower(m), ".csv"), f$outcome[1], meas, es, f$study,
             sprintf("escalc('%s', ai, n1i, ci, n2i, data=dat.%s)%s", m, nm, if (m != "RD") "; yi <- NA where ai = ci = 0" else ""))
  }
}

# ---- IRR: Hart et al. (1999) warfarin vs stroke, Nielweise et al. (2008) catheter infections ----
for (nm in c("hart1999", "nielweise2008")) {
  d <- get(paste0("dat.", nm))
  lab <- if (nm == "hart1999") paste(d$study, d$trial) else paste(d$authors, d$year)
  f <- frame(lab, "events_rate", "logIRR", paste0("metadat dat.", nm),
             events_t = d$x1i, time_t = d$t1i, events_c = d$x2i, time_c = d$t2i)
  write_fixture(nm, f)
  es <- escalc(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = d)
  es$yi[d$x1i == 0 & d$x2i == 0] <- NA
  add_case(paste0(nm, "_IRR"), paste0(nm, ".csv"), "events_rate", "logIRR", es, lab,
           sprintf("escalc('IRR', x1i, t1i, x2i, t2i, data=dat.%s); yi <- NA where x1i = x2i = 0", nm))
}

# ---- PLO and PR: Pritz (1997) Bell's palsy recovery proportions (dat.pritz1997) ----
d <- dat.pritz1997
for (m in c("PLO", "PR")) {
  f <- frame(paste(d$authors, d$study), paste0("recovery_", tolower(m)), m, "metadat dat.pritz1997",
             n_t = d$ni, events_t = d$xi)
  write_fixture(paste0("pritz1997_", tolower(m)), f)
  es <- escalc(measure = m, xi = xi, ni = ni, data = d)
  add_case(paste0("pritz1997_", m), paste0("pritz1997_", tolower(m), ".csv"), f$outcome[1], m, es, f$study,
           sprintf("escalc('%s', xi, ni, data=dat.pritz1997)", m))
}

# ---- ZCOR and COR: Molloy et al. (2014) conscientiousness and adherence (dat.molloy2014) ----
d <- dat.molloy2014
for (m in c("ZCOR", "COR")) {
  f <- frame(paste(d$authors, d$year), paste0("adherence_", tolower(m)), m, "metadat dat.molloy2014",
             estimate = d$ri, n_total = d$ni)
  write_fixture(paste0("molloy2014_", tolower(m)), f)
  es <- escalc(measure = m, ri = ri, ni = ni, data = d)
  add_case(paste0("molloy2014_", m), paste0("molloy2014_", tolower(m), ".csv"), f$outcome[1], m, es, f$study,
           sprintf("escalc('%s', ri, ni, data=dat.molloy2014)", m))
}

# ---- GIV: Raudenbush (1985) teacher expectancy, yi/vi as published (dat.raudenbush1985) ----
d <- dat.raudenbush1985
lab <- paste(d$author, d$year, d$study)
f <- frame(lab, "iq", "GIV", "metadat dat.raudenbush1985", estimate = d$yi, se = sqrt(d$vi), scale = "SMD")
write_fixture("raudenbush1985", f)
es <- data.frame(yi = d$yi, vi = d$vi)
add_case("raudenbush1985_GIV", "raudenbush1985.csv", "iq", "GIV", es, lab, "yi, vi of dat.raudenbush1985 as given")

# ---- zero cells (made up, not a dataset): add = 1/2 to = "only0"; no events in either arm -> not estimable ----
zc <- data.frame(study = c("zero_t", "zero_c", "double_zero", "all_events", "none"), ai = c(0, 3, 0, 10, 4),
                 n1i = c(10, 12, 9, 10, 15), ci = c(2, 0, 0, 11, 5), n2i = c(11, 12, 8, 11, 14))
for (m in c("RR", "RD", "OR")) {
  meas <- c(RR = "logRR", RD = "RD", OR = "logOR")[[m]]
  f <- frame(zc$study, paste0("zero_", tolower(m)), meas, "made up", n_t = zc$n1i, events_t = zc$ai, n_c = zc$n2i, events_c = zc$ci)
  write_fixture(paste0("zero_cells_", tolower(m)), f)
  es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = zc)
  if (m != "RD") es$yi[zc$ai == 0 & zc$ci == 0] <- NA
  add_case(paste0("zero_cells_", m), paste0("zero_cells_", tolower(m), ".csv"), f$outcome[1], meas, es, f$study,
           sprintf("escalc('%s', ai=c(0,3,0,10,4), n1i=c(10,12,9,10,15), ci=c(2,0,0,11,5), n2i=c(11,12,8,11,14))%s", m, if (m != "RD") "; yi <- NA where ai = ci = 0" else ""))
}
zr <- data.frame(study = c("zero_t", "double_zero", "none"), x1i = c(0, 0, 7), t1i = c(120, 80, 300.5), x2i = c(4, 0, 12), t2i = c(110, 95, 280))
f <- frame(zr$study, "zero_rate", "logIRR", "made up", events_t = zr$x1i, time_t = zr$t1i, events_c = zr$x2i, time_c = zr$t2i)
write_fixture("zero_cells_irr", f)
es <- escalc(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = zr)
es$yi[zr$x1i == 0 & zr$x2i == 0] <- NA
add_case("zero_cells_IRR", "zero_cells_irr.csv", "zero_rate", "logIRR", es, f$study, "escalc('IRR', x1i=c(0,0,7), t1i=c(120,80,300.5), x2i=c(4,0,12), t2i=c(110,95,280)); yi <- NA where x1i = x2i = 0")
zp <- data.frame(study = c("none_recovered", "all_recovered", "some"), xi = c(0, 12, 5), ni = c(10, 12, 20))
for (m in c("PLO", "PR")) {
  f <- frame(zp$study, paste0("zero_", tolower(m)), m, "made up", n_t = zp$ni, events_t = zp$xi)
  write_fixture(paste0("zero_cells_", tolower(m)), f)
  es <- escalc(measure = m, xi = xi, ni = ni, data = zp)
  add_case(paste0("zero_cells_", m), paste0("zero_cells_", tolower(m), ".csv"), f$outcome[1], m, es, f$study,
           sprintf("escalc('%s', xi=c(0,12,5), ni=c(10,12,20))", m))
}

out <- list(metafor_version = as.character(packageVersion("metafor")),
            metadat_version = as.character(packageVersion("metadat")),
            R_version = R.version.string, script = "tests/reference/make_measures_reference.R",
            generated = format(Sys.time(), tz = "UTC", usetz = TRUE), cases = cases)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "tests/reference/metafor_measures.json")
cat("wrote", length(cases), "cases\n")
