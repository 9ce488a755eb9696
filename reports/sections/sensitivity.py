"""Prior-grid, influence and power-scaling parts of the comparison section (one analysis)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vfsynth.data.source_scale import source_scale
from vfsynth.reports import figures as F
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import num, safe_fig
from vfsynth.reports.sections.runner import run_part

if TYPE_CHECKING:
    from vfsynth.reports.analyses import AnalysisResult


def sensitivity_block(d: Doc, sens_mod, r: AnalysisResult, seed: int, say) -> dict:
    """Prior grid, leave-one-study-out influence and power-scaling for one analysis
    (:func:`vfsynth.fits.sensitivity.prior_grid`, ``influence``, ``power_scaling``).

    Returns the robustness facts shown in the key findings: the range of P(benefit) over the
    prior grid and over leave-one-study-out fits, and whether any crosses 0.5 / 0.95.
    """
    rob: dict = {}
    say(f"sensitivity analyses: {r.label}")
    src = source_scale(r.table.measure, r.table.meta.get("direction"))
    if src.events:
        # these tables stay on the model's benefit scale; say so beside the source's reading
        flip = "minus the log " if src.flip and src.ratio else ("minus the " if src.flip else "the log " if src.ratio else "the ")
        d.para(f"Scale of this section: mu is {flip}{src.display} on the benefit scale (positive favours the "
               f"intervention); on the source's scale {src.favours_side} favours intervention. P(benefit) = "
               f"P({src.favours_side}).")
    run_part(d, "Prior sensitivity failed", lambda fn=_prior_grid_part: fn(d, sens_mod, r, seed, rob))
    run_part(d, "Influence analysis failed", lambda fn=_influence_part: fn(d, sens_mod, r, seed, rob))
    run_part(d, "Power-scaling check failed", lambda fn=_power_scaling_part: fn(d, sens_mod, r, seed, rob))
    return rob


def _prior_grid_part(d: Doc, sens_mod, r: AnalysisResult, seed: int, rob: dict) -> None:
    """Prior grid (:func:`vfsynth.fits.sensitivity.prior_grid`): table, flags, figure; sets ``rob['prior']``."""
    g = sens_mod.prior_grid(r.table, seed=seed)
    d.para(f"Prior sensitivity ({g['engine'].iloc[0]} posterior under each prior of the registry):")
    d.table(
        ["Prior", "Varies", "tau prior", "mu prior", "mu median (95% CrI)", "tau median", "P(benefit)"],
        [[row.prior, row.varies, row.tau_prior, row.mu_prior,
          f"{row.mu_median:.3f} ({row.mu_low:.3f} to {row.mu_high:.3f})", f"{row.tau_median:.3f}", f"{row.p_benefit:.3f}"]
         for row in g.itertuples(index=False)],
    )
    flags = g.attrs.get("flags") or []
    rob["prior"] = (float(g["p_benefit"].min()), float(g["p_benefit"].max()), len(g), bool(flags))
    if flags:
        d.callout("warn", "The conclusion depends on the prior", items=[str(f) for f in flags])
    else:
        d.callout("ok", "No prior in the grid moves P(benefit) across 0.5 or 0.95.")
    safe_fig(d, lambda: F.prior_grid_plot(g, r.table.measure, title=f"Prior sensitivity — {r.label}"), f"prior_grid_{r.slug}",
              f"Pooled effect (median, 95% CrI) under each prior of the grid; red: P(benefit) on the other side of "
              f"0.5 or 0.95 than under the default prior — {r.label}")


def _influence_part(d: Doc, sens_mod, r: AnalysisResult, seed: int, rob: dict) -> None:
    """Leave-one-study-out influence (:func:`vfsynth.fits.sensitivity.influence`); sets ``rob['loso']``."""
    inf = sens_mod.influence(r.table, seed=seed)
    d.para("Leave-one-study-out influence (default priors):")
    d.table(
        ["Omitted", "mu mean (95% CrI)", "change in mu", "P(benefit)"],
        [[row.omitted, f"{row.mu_mean:.3f} ({row.mu_low:.3f} to {row.mu_high:.3f})", f"{row.delta_mu:+.3f}", f"{row.p_benefit:.3f}"]
         for row in inf.itertuples(index=False)],
    )
    flags = inf.attrs.get("flags") or []
    rob["loso"] = (float(inf["p_benefit"].min()), float(inf["p_benefit"].max()), len(inf) - 1, bool(flags))
    if flags:
        d.callout("warn", "A single study changes the conclusion", items=[str(f).replace("prior", "omission") for f in flags])
    safe_fig(d, lambda: F.influence_plot(inf, r.table.measure, title=f"Influence — {r.label}: leave one study out"),
              f"influence_{r.slug}", f"Pooled effect (mean, 95% CrI) with each study left out; dotted line: all "
                                     f"studies — {r.label}")


def _power_scaling_part(d: Doc, sens_mod, r: AnalysisResult, seed: int, rob: dict) -> None:
    """Power-scaling diagnostics (:func:`vfsynth.fits.sensitivity.power_scaling`)."""
    ps = sens_mod.power_scaling(r.table, seed=seed)
    d.para("Power-scaling sensitivity (Kallioinen et al. 2023; > 0.05 flags prior-data conflict or weak likelihood):")
    ps = ps.reset_index()
    d.table([str(c) for c in ps.columns], [[num(v) for v in row] for row in ps.itertuples(index=False)])
