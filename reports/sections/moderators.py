"""Moderator (meta-regression / subgroup) and small-study-effect parts of the comparison section."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vfsynth.reports import figures as F
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import and_list, interval_text, safe_fig
from vfsynth.reports.sections.runner import run_part

if TYPE_CHECKING:
    from vfsynth.reports.analyses import AnalysisResult


def moderator_columns(review) -> list[str]:
    """The moderators analysed: as ``vfsynth sensitivity`` (the bundled review's documented
    set where present, else every column of the user's moderators table except identifiers
    and free-text references)."""
    from vfsynth.reports.commands.sensitivity_cmd import _moderator_columns as cols

    return cols(review)


def moderator_block(d: Doc, mod_mod, review, r: AnalysisResult, seed: int, say) -> str:
    """Meta-regression / subgroup analysis for each moderator
    (:func:`vfsynth.fits.moderators.moderator_analysis`, exact engine): the table of
    coefficients and subgroup differences, every excluded study with its reason, and
    :func:`vfsynth.reports.sensitivity_plots.moderator_plot`. Returns "ok" or "fail"."""
    d.heading(f"Moderators — {r.label}", level=4)
    mods = getattr(review, "moderators", None)
    if mods is None or len(mods) == 0:
        d.para("This review has no moderators table (load it with a moderators CSV), so no moderator analysis was run.")
        return "ok"
    say(f"moderators: {r.label}")
    columns = moderator_columns(review)
    if not columns:
        d.para("The moderators table has no column to analyse.")
        return "ok"
    ok, md = run_part(d, "Moderator analysis failed", lambda: mod_mod.moderator_analysis(
        review, r.outcome, r.timepoint, moderators=columns, engine="exact", seed=seed))
    if not ok:
        return "fail"
    scale = "log odds ratio" if r.table.measure == "logOR" else r.table.measure
    d.para(f"Bayesian meta-regression (continuous moderators, per SD) and subgroup analysis (categorical moderators) "
           f"of the pooled effect, exact posterior by numerical integration over tau, default priors; one moderator at "
           f"a time. Effects on the {scale} scale; P(> 0) is the posterior probability that the coefficient or "
           f"subgroup difference is positive. Subgroup analyses are observational comparisons between trials.")
    est = md[md["term"] != "not estimable"]
    if len(est):
        med = est["median"] if "median" in est.columns else np.full(len(est), np.nan)
        d.table(
            ["Moderator", "Term", "Mean (95% CrI)", "P(> 0)", "Studies used"],
            [[row.moderator, row.term, interval_text(row.mean, row.low, row.high, m),
              "" if not np.isfinite(row.p_positive) else f"{row.p_positive:.3f}", f"{row.k_used:.0f}"]
             for row, m in zip(est.itertuples(index=False), med, strict=True)],
            numeric={3, 4},
        )
    # Excluded studies and unusable moderators are always listed (never dropped silently).
    items = []
    for mod, sub in md.groupby("moderator", sort=False):
        ex = sub["excluded"].iloc[0]
        if sub["term"].iloc[0] == "not estimable":
            items.append(f"{mod}: not estimable — {ex}")
        elif isinstance(ex, str) and ex:
            items.append(f"{mod}: excluded {ex}")
    if items:
        d.callout("warn", "Studies excluded from moderator analyses, and moderators that could not be estimated", items=items)
    else:
        d.para("Every study had a usable value of every moderator; none was excluded.")
    if len(est):
        safe_fig(d, lambda: F.moderator_plot(md, title=f"Moderators — {r.label}"), f"moderators_{r.slug}",
                  f"Meta-regression coefficients and subgroup differences (mean, 95% CrI; {scale} scale) — {r.label}")
    return "ok"


def small_study_block(d: Doc, mod_mod, r: AnalysisResult, seed: int, say, rob: dict | None = None) -> str:
    """Small-study effects (:func:`vfsynth.fits.moderators.small_study_effects`): unadjusted,
    PET, PEESE, PET-PEESE (exact) and the step-function selection model (NUTS), as a table,
    :func:`vfsynth.reports.sensitivity_plots.small_study_plot` and one sentence on how the
    adjustments move P(benefit). If the selection model fails, the exact rows are still shown
    and the failure is shown in red. The range of P(benefit) over the adjustments (and whether
    one crosses 0.5 / 0.95) is stored in ``rob["small_study"]`` for the key findings.
    Returns "ok" or "fail"."""
    d.heading(f"Small-study effects — {r.label}", level=4)
    say(f"small-study effects: {r.label}")
    status = "ok"
    ok, ss = run_part(d, "Selection model for small-study effects failed",
                      lambda: mod_mod.small_study_effects(r.table, seed=seed))
    if not ok:
        # the exact rows (PET, PEESE, PET-PEESE) do not need the selection model's sampler
        status = "fail"
        ok, ss = run_part(d, "Small-study-effect analysis failed",
                          lambda: mod_mod.small_study_effects(r.table, seed=seed, selection=False))
        if not ok:
            return status
    scale = "log odds ratio" if r.table.measure == "logOR" else r.table.measure
    d.para(f"Pooled effect without adjustment and adjusted for small-study effects ({scale} scale): PET and PEESE "
           "(meta-regression on the standard error / variance; the intercept is the effect of an infinitely large "
           "study; Stanley & Doucouliagos 2014), PET-PEESE (PEESE if PET's 95% interval excludes 0) and a "
           "step-function selection model on one-sided p-values (Vevea & Hedges 1995; NUTS).")
    d.table(
        ["Model", "Effect mean (95% CrI)", "P(benefit)", "Small-study slope mean; P(> 0)", "Detail"],
        [[row.model, interval_text(row.mean, row.low, row.high), f"{row.p_benefit:.3f}",
          "" if not np.isfinite(row.slope_mean) else f"{row.slope_mean:.3f}; {row.slope_p_positive:.3f}", row.detail]
         for row in ss.itertuples(index=False)],
        numeric={2},
    )
    d.para(small_study_sentence(ss, r.table.k))
    divergent = [str(row.model) for row in ss.itertuples(index=False) if "divergen" in str(row.detail).lower()]
    if divergent:
        d.callout("warn", "Sampler warnings in the small-study models",
                  items=[f"{m}: {row_detail}" for m, row_detail in
                         ((str(row.model), str(row.detail)) for row in ss.itertuples(index=False)) if m in divergent])
    if rob is not None and len(ss) > 1:
        p = ss["p_benefit"].to_numpy(float)
        crossed = any(((v > t) != (p[0] > t)) for v in p[1:] for t in (0.5, 0.95))
        rob["small_study"] = (float(p[1:].min()), float(p[1:].max()), len(p) - 1, crossed)
    safe_fig(d, lambda: F.small_study_plot(ss, r.table.measure, title=f"Small-study effects — {r.label}"),
              f"small_study_{r.slug}", f"Pooled effect unadjusted and under each small-study adjustment (mean, 95% CrI) — {r.label}")
    return status


def small_study_sentence(ss, k: int) -> str:
    """One sentence: how the small-study adjustments move P(benefit) from the unadjusted value
    (first row of :func:`vfsynth.fits.moderators.small_study_effects`), and under which
    adjustments it crosses 0.95 or 0.5."""
    p = ss["p_benefit"].to_numpy(float)
    names = [str(m).split(" (")[0] for m in ss["model"]]
    p0, adj = p[0], p[1:]
    if not len(adj):
        return f"P(benefit) without adjustment is {p0:.3f}; no adjustment could be fitted."
    text = (f"Adjusting for small-study effects moves P(benefit) from {p0:.3f} (unadjusted) to between "
            f"{adj.min():.3f} and {adj.max():.3f} ({', '.join(f'{n} {v:.3f}' for n, v in zip(names[1:], adj, strict=True))})")
    crossings = []
    for t in (0.95, 0.5):
        which = [n for n, v in zip(names[1:], adj, strict=True) if (v > t) != (p0 > t)]
        if which:
            crossings.append(f"{'below' if p0 > t else 'above'} {t:g} under {and_list(which)}")
    if crossings:
        text += "; it moves " + " and ".join(crossings) + ", so the conclusion depends on whether small-study effects are adjusted for"
    else:
        text += "; no adjustment moves it across 0.5 or 0.95"
    if k < 10:
        text += (f" — with only {k} studies these adjustments are very imprecise (Sterne et al. 2011, BMJ 343:d4002, "
                 "advise against tests for funnel-plot asymmetry with fewer than 10 studies)")
    return text + "."
