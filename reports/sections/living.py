"""Living-review section: cumulative analysis by publication year, then updating from an
exported prior (:mod:`.export_update`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from vfsynth.data.source_scale import source_scale
from vfsynth.data.text_safety import csv_safe_frame
from vfsynth.reports import figures as F
from vfsynth.reports import sof as SOF
from vfsynth.reports import summaries as S
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import fmt_p, safe_fig
from vfsynth.reports.sections.export_update import export_update_part
from vfsynth.reports.sections.runner import run_part

if TYPE_CHECKING:
    from vfsynth.reports.analyses import AnalysisResult


def _living_priors(r: AnalysisResult):
    """(tau prior, mu prior, note) for the cumulative table of ``r``: the fit's own priors, so
    that the table's last row is the all-studies posterior of the same model.

    A common-effect fit gives ``tau = 0`` (the exact engine's fixed-tau case); models other than
    the normal–normal one (binomial-normal, t) are approximated by the NNHM with the same priors
    and the note says so; a failed fit (no priors recorded) falls back to the defaults."""
    from vfsynth.models import priors as PR

    t = r.table
    tp, mp = r.info.get("tau_prior"), r.info.get("mu_prior")
    if isinstance(tp, str):
        tp = PR.parse_prior(tp, target="tau", table=t)
    if isinstance(mp, str):
        mp = PR.parse_prior(mp, target="mu", table=t)
    note = ""
    if r.model == "common-effect":
        tp = 0.0
        note = "common-effect model (tau fixed at 0), as the fit above."
    elif tp is None or mp is None:
        tp, mp = PR.resolve_priors(t, "random-effects", tp, mp)
        note = "the fit recorded no priors; default priors used."
    elif r.model and r.model != "random-effects":
        note = (f"the fit above is the {r.model} model; this table is the normal–normal random-effects "
                "model with the same priors, so its last row differs slightly from the fit.")
    return tp, mp, note


def _year_text(y: float) -> str:
    return f"{y:.0f}" if math.isfinite(y) else "no year"


def _missing_year_note(df) -> str | None:
    """Which studies had no year and where they were placed (never silent)."""
    yrs = df["year"].to_numpy(dtype=float)
    miss = [str(s) for s, y in zip(df["study"], yrs, strict=True) if not math.isfinite(y)]
    if not miss:
        return None
    if len(miss) == len(df):
        return ("No study in this analysis has a publication year, so the order in which the studies arrived is "
                "unknown: the rows follow the alphabetical order of study labels (" + ", ".join(miss) + "). "
                "Only the last row (all studies) does not depend on that order.")
    first = len(df) - len(miss) + 1
    return (f"No publication year for {', '.join(miss)}: placed after the dated studies (steps {first}–{len(df)}), "
            "in alphabetical order of label; their position in the sequence is arbitrary.")


def _living_table_rows(df, measure: str, source=None) -> list[list]:
    """Display rows of the cumulative table (odds ratios for log-OR outcomes; event measures on the
    source's own measure and direction, the posterior median rather than the mean)."""
    events = source is not None and source.events

    def eff(m, lo, hi):
        if events:
            med, a, b = source.interval(m, lo, hi)
            return f"{med:.2f} ({a:.2f} to {b:.2f})"
        return SOF.fmt_effect(measure, m, lo, hi, label=False)

    rows = []
    for row in df.itertuples(index=False):
        dl = eff(row.dl_estimate, row.dl_low, row.dl_high) + (" (FE)" if row.k == 1 else "")
        centre = row.mu_median if events else row.mu_mean
        rows.append([_year_text(row.year), row.study, row.k, eff(centre, row.mu_low, row.mu_high),
                     fmt_p(row.p_benefit), f"{row.tau_median:.2f}", dl, row.crossed or ""])
    return rows


def _crossing_text(df) -> str:
    """'P(benefit) crossed 0.95 upwards with Study (1950, k = 2)...' or that it never did."""
    parts = []
    prev = None
    for row in df.itertuples(index=False):
        if row.crossed and prev is not None:
            way = "upwards" if row.p_benefit > prev else "downwards"
            yr = _year_text(row.year)
            when = f"{row.study} (k = {row.k})" if yr in str(row.study) else f"{row.study} ({yr}, k = {row.k})"
            parts.append(f"{row.crossed} {way} when {when} arrived")
        prev = row.p_benefit
    if not parts:
        return f"P(benefit) crossed neither 0.5 nor 0.95 after the first study (first: {fmt_p(df['p_benefit'].iloc[0])})."
    return "P(benefit) crossed " + "; ".join(parts) + " (descriptive, not a sequential test)."


def _cumulative(r: AnalysisResult):
    """(tau prior, mu prior, note, cumulative table) of one analysis."""
    from vfsynth.fits import living as L

    tp, mp, note = _living_priors(r)
    df = L.cumulative(r.table, tau_prior=tp, mu_prior=mp, level=0.95, missing_year="last", thresholds=(0.5, 0.95))
    return tp, mp, note, df


def cumulative_block(d: Doc, r: AnalysisResult, say, out_dir: Path | None = None) -> str:
    """One analysis's cumulative table and figure (:func:`vfsynth.fits.living.cumulative`);
    stores the table on ``r.living``; returns "ok" or "warn"."""
    t = r.table
    d.heading(f"{r.label}: {t.k} studies")
    ok, got = run_part(d, f"Cumulative analysis of {r.label} failed", lambda: _cumulative(r), kind="warn")
    if not ok:
        return "warn"
    tp, mp, note, df = got
    r.living = df
    status = "ok"
    missing = _missing_year_note(df)
    if missing:
        d.callout("warn" if len(df) > 1 else "info", "Studies without a publication year", text=missing)
    tau_text = "fixed at 0" if isinstance(tp, (int, float)) else df.attrs["tau_prior"]
    d.para(f"Priors: tau {tau_text}, mu {df.attrs['mu_prior']}" + (f" — {note}" if note else ".")
           + " " + _crossing_text(df))
    src = source_scale(t.measure, t.meta.get("direction"))
    scale = "OR" if t.measure == "logOR" else S.display_scale(t.measure)
    pooled = ("Pooled OR at the posterior mean log OR (95% CrI)" if t.measure == "logOR"
              else f"Pooled mean {scale} (95% CrI)")
    if src.events:
        pooled = f"Pooled {src.display}: posterior median (95% CrI); {src.favours_side} favours intervention"
        d.para(f"Scale: {src.display}, {src.note}.")
    d.table(["Year", "Study added", "k", pooled, "P(benefit)", "tau median", f"DerSimonian–Laird {scale} (95% CI)",
             "P(benefit) crossed"], _living_table_rows(df, t.measure, src), numeric={2, 4, 5})
    safe_fig(d, lambda: F.plot_living(df, title=f"Cumulative meta-analysis — {r.label}", source=src), f"living_{r.slug}",
              f"Cumulative pooled effect and P(benefit) as each study arrived — {r.label}")
    if out_dir is not None:
        try:
            folder = Path(out_dir) / "living"
            folder.mkdir(parents=True, exist_ok=True)
            csv_safe_frame(df).to_csv(folder / f"{r.slug}.csv", index=False, float_format="%.10g")
            d.para(f"Full table (posterior SD, median, tau interval, DL tau²): living/{r.slug}.csv")
        except OSError as exc:
            status = "warn"
            d.callout("warn", "Could not write the cumulative table", text=str(exc))
    return status


def living_section(review, results, seed: int, say, out_dir: Path | None = None) -> tuple[Doc, str]:
    """Living review, in two parts.

    1. Cumulative analysis by publication year (Lau et al. 1992) for every analysis with
       k >= 2: :func:`vfsynth.fits.living.cumulative` (exact NNHM posterior of each prefix,
       under the fit's priors, with the DerSimonian–Laird estimate beside it), as a table and
       a figure (:func:`vfsynth.reports.living_plot.plot_living`). Studies without a year are
       placed last and named.
    2. Updating from an exported prior: each posterior exported as a ``vfsynth-priors/1`` file
       for the next update (:mod:`vfsynth.fits.prior_export`), and a look-back check — the
       studies up to the median year analysed, exported, updated with the later ones only
       (:mod:`vfsynth.fits.update`) and compared with all studies at once.
    """
    d = Doc()
    status = "ok"
    say("living review: cumulative analysis by publication year")
    d.heading("Cumulative analysis by publication year")
    d.para("For each analysis the studies are added one at a time in order of publication (ties by label); after "
           "each, the exact normal–normal posterior (numerical integration, the fit's priors) gives the pooled mean "
           "with its 95% credible interval, P(benefit) and the median heterogeneity tau; the DerSimonian–Laird "
           "random-effects estimate (common-effect for the first study) is shown beside it. The last row is the "
           "analysis of all studies. Bayesian posteriors do not depend on how often the evidence was looked at, "
           "but threshold crossings over time are descriptive, not sequential tests.")
    ran = False
    for r in results:
        if r.table is None or r.table.k < 2:
            continue
        ran = True
        if cumulative_block(d, r, say, out_dir) != "ok":
            status = "warn"
    if not ran:
        d.para("No analysis has two or more studies.")
    d.heading("Updating from an exported prior")
    status2 = export_update_part(d, review, results, say, out_dir)
    return d, ("warn" if "warn" in (status, status2) else status2)
