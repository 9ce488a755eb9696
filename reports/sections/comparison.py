"""Sensitivity and model comparison section: per pooled analysis, model comparison, prior grid,
influence and power-scaling, then moderators and small-study effects (:mod:`.moderators`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vfsynth.reports import figures as F
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections import moderators as MOD
from vfsynth.reports.sections import sensitivity as SENS
from vfsynth.reports.sections._common import num, optional_module, safe_fig
from vfsynth.reports.sections.runner import run_part

if TYPE_CHECKING:
    from vfsynth.reports.analyses import AnalysisResult


def comparison_section(review, results, seed: int, say) -> tuple[Doc, str, dict]:
    """Model comparison (:func:`vfsynth.fits.compare.compare_models`), sensitivity analyses
    (:mod:`vfsynth.fits.sensitivity`), moderators and small-study effects
    (:mod:`vfsynth.fits.moderators`) for each pooled analysis, each with its table and plot
    (:mod:`vfsynth.reports.figures`). Model comparison, moderators and small-study
    effects need k >= 3. Each part runs on its own: a part that fails is shown as a red
    callout with the error and the rest of the section is still built."""
    d = Doc()
    status = "ok"
    robustness: dict = {}
    cmp_mod = optional_module("vfsynth.fits.compare")
    sens_mod = optional_module("vfsynth.fits.sensitivity")
    mod_mod = optional_module("vfsynth.fits.moderators")
    if cmp_mod is None and sens_mod is None and mod_mod is None:
        d.callout("warn", "Not available in this build",
                  text="vfsynth.fits.compare / sensitivity / moderators are not installed; this section is a hook.")
        return d, "hook", robustness
    for r in results:
        if r.summary is None:
            continue
        d.heading(r.label, level=3)
        if cmp_mod is not None and r.table.k < 3:
            d.para(f"Model comparison needs at least 3 studies (k = {r.table.k}).")
        elif cmp_mod is not None:
            say(f"model comparison: {r.label}")
            ok, _ = run_part(d, "Model comparison failed",
                             lambda r=r: comparison_block(d, cmp_mod, review, r, seed))
            if not ok:
                status = "fail"
        if sens_mod is not None:
            robustness[(r.outcome, r.timepoint)] = SENS.sensitivity_block(d, sens_mod, r, seed, say)
        else:
            d.para("Sensitivity analyses (priors, leave-one-out): vfsynth.fits.sensitivity not available.")
        if mod_mod is not None and r.table.k >= 3:
            if MOD.moderator_block(d, mod_mod, review, r, seed, say) != "ok":
                status = "fail"
            rob = robustness.setdefault((r.outcome, r.timepoint), {})
            if MOD.small_study_block(d, mod_mod, r, seed, say, rob) != "ok":
                status = "fail"
        elif mod_mod is not None:
            d.para(f"Moderator and small-study-effect analyses need at least 3 studies (k = {r.table.k}).")
    if not d.html:
        d.para("No pooled analysis to compare.")
    return d, status, robustness


def comparison_block(d: Doc, cmp_mod, review, r: AnalysisResult, seed: int) -> None:
    """Model comparison of one analysis (:func:`vfsynth.fits.compare.compare_models`): table,
    notes, Pareto-k and elpd figures."""
    c = cmp_mod.compare_models(r.table, seed=seed, review=review)
    tab = c.table.reset_index()
    cols = [x for x in ("model", "rank", "elpd", "se", "elpd_diff", "dse", "weight", "max_pareto_k", "n_refit") if x in tab.columns]
    d.para("Leave-one-study-out expected log predictive density (exact for the common- and random-effects models; PSIS-LOO with exact refits where Pareto k > 0.7 for the others; PSIS beside exact in the Pareto-k plot) and stacking weights.")
    d.table(cols, [[num(v) for v in row] for row in tab[cols].itertuples(index=False)])
    if c.notes:
        d.bullets([str(n) for n in c.notes])
    safe_fig(d, lambda c=c, r=r: F.pareto_k_plot(c.pointwise, title=f"Pareto k per study — {r.label}"),
              f"pareto_k_{r.slug}",
              f"Pareto k of each study's leave-one-out PSIS estimate under each model (open markers: replaced by an "
              f"exact refit; k > 0.7 is unreliable) — {r.label}")
    safe_fig(d, lambda c=c, r=r: F.comparison_plot(c.table, title=f"Model comparison — {r.label}"),
              f"comparison_{r.slug}", f"Leave-one-study-out elpd (± 2 se of the difference to the best model) "
                                      f"and stacking weights — {r.label}")
